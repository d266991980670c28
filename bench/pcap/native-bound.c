/*
 * bench/pcap/native-bound.c: how fast native code does the core of `billwatch pcap`'s scan on the
 * incident-size capture, to size the native-scanner option of issue 5. Not part of billwatch.
 *
 *   gcc -O2 -o bench/out/native-bound bench/pcap/native-bound.c && bench/out/native-bound bench/out/incident.pcap
 *
 * One thread, the work every NTP packet costs in src/pcap/analyse.ts's scan and no more: read the
 * records (little-endian microsecond pcap, Ethernet, IPv4, UDP only), one lookup of the client in an
 * open-addressing table of 32-byte slots hashed as AddressTable hashes, per-client counters, one
 * request-log column. No IPv6, VLANs, fragments, pcapng, port totals or reply matching: a lower
 * bound. Prints its counts (to check against `billwatch pcap --json`) and the best of 3 passes.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  uint32_t key, tag, packets, requests, responses, client;
  double billable_bytes;
} Slot;

static Slot *slots;
static uint32_t mask, count;

static inline uint32_t hash32(uint32_t v) {
  uint32_t h = (v ^ 0x9e3779b9u) * 0x85ebca6bu;
  return h ^ (h >> 15);
}

static Slot *intern(uint32_t address) {
  for (uint32_t i = hash32(address) & mask;; i = (i + 1) & mask) {
    Slot *slot = &slots[i];
    if (!slot->tag) {
      slot->key = address;
      slot->tag = ++count;
      return slot;
    }
    if (slot->key == address) return slot;
  }
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

int main(int argc, char **argv) {
  if (argc < 2) return fprintf(stderr, "usage: native-bound FILE.pcap [HOST=10.206.10.174]\n"), 2;
  const uint32_t host = argc > 2 ? strtoul(argv[2], 0, 0) : (10u << 24 | 206u << 16 | 10u << 8 | 174u);
  enum { CHUNK = 1 << 20, MAX_RECORD = 16 + 262144 };
  uint8_t *buffer = malloc(CHUNK + MAX_RECORD);
  uint32_t *request_time = malloc(sizeof(uint32_t) * (1u << 26));
  mask = (1u << 20) - 1;
  slots = malloc(sizeof(Slot) * (mask + 1));
  double best = 1e9;
  for (int pass = 0; pass < 3; pass++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(slots, 0, sizeof(Slot) * (mask + 1));
    count = 0;
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) return perror(argv[1]), 1;
    uint64_t packets = 0, requests = 0, responses = 0;
    double billable = 0;
    ssize_t header = read(fd, buffer, CHUNK);
    size_t have = header > 24 ? (size_t)header : 0, at = have ? 24 : 0;
    for (;;) {
      if (have - at < MAX_RECORD) {
        memmove(buffer, buffer + at, have - at);
        have -= at;
        at = 0;
        ssize_t got = read(fd, buffer + have, CHUNK);
        if (got > 0) have += got;
      }
      if (have - at < 16) break;
      uint32_t caplen;
      memcpy(&caplen, buffer + at + 8, 4);
      if (at + 16 + caplen > have) break;
      const uint8_t *frame = buffer + at + 16;
      uint32_t seconds;
      memcpy(&seconds, buffer + at, 4);
      at += 16 + caplen;
      packets++;
      if (caplen < 42 || frame[12] != 8 || frame[13] != 0) continue;
      const uint8_t *ip = frame + 14;
      if (ip[0] >> 4 != 4 || ip[9] != 17) continue;
      const uint8_t *udp = ip + (ip[0] & 15) * 4;
      uint32_t src = be32(ip + 12), dst = be32(ip + 16);
      uint16_t src_port = udp[0] << 8 | udp[1], dst_port = udp[2] << 8 | udp[3], ip_bytes = ip[2] << 8 | ip[3];
      if (src == host && src_port == 123) {
        Slot *client = intern(dst);
        client->packets++;
        client->responses++;
        client->billable_bytes += ip_bytes;
        responses++;
        billable += ip_bytes;
      } else if (dst == host && dst_port == 123) {
        Slot *client = intern(src);
        client->packets++;
        if (!client->client) client->client = count;
        client->requests++;
        request_time[requests++] = seconds;
      }
    }
    close(fd);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (seconds < best) best = seconds;
    if (pass == 2) printf("packets %llu, NTP requests %llu, replies %llu (billable %.0f bytes), addresses %u: best of 3 %.3f s\n", (unsigned long long)packets, (unsigned long long)requests, (unsigned long long)responses, billable, count, best);
  }
  return 0;
}
