/*
 * The native fast path of CaptureScan's scan (src/pcap/analyse.ts): the same work for the packets
 * that make up nearly every capture of a busy server: pcap records and pcapng enhanced packet blocks
 * of IPv4 packets, not fragments, and IPv6 packets without extension headers, on the link types
 * billwatch decodes. It writes into the scan's own
 * typed arrays (the AddressTable's slots, the request-log columns, the port tables), so the
 * JavaScript scan carries on from where it stops and the result is the same, count for count.
 *
 * It stops before the first record it leaves to JavaScript, having changed nothing for it:
 *   - a record not wholly in the buffer, or longer than the capture allows (the reader refills, or
 *     reports the damage); any pcapng block but an enhanced packet block of a described interface;
 *   - a frame that is neither IPv4 nor IPv6, an IPv4 fragment, an IPv6 packet with an extension header
 *     (a fragment among them), or a tunnel (GRE, UDP to the VXLAN or Geneve port);
 *   - a packet from the host that is neither UDP nor TCP with ports (counted by protocol name);
 *   - a reply that is a KoD or unsynchronised (counted by kiss code or why), of mode 0, 5, 6 or 7
 *     (counted apart), or that matches no request in a later part of a split scan (kept for the merge);
 *   - a packet that would grow the address table, the client list or the request log.
 * Every rule below mirrors a line of analyse.ts or decode.ts; the tests compare both scans.
 */
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vpc.h"

/* The io Float64Array: inputs, cursors and counters. The module exports the layout as `io` (see IO_NAMES). */
enum {
  IO_START, IO_END, IO_RECORDS, IO_PCAPNG, IO_LITTLE_ENDIAN, IO_UNITS_PER_SECOND, IO_MAX_CAPLEN, IO_LINK_TYPE,
  IO_HAS_HOST, IO_HOST0, IO_HOST1, IO_HOST2, IO_HOST3, IO_HOST_INDEX, IO_NTP_PORT, IO_KEEP_ORPHANS,
  /* The --vxlan-port (4789 unless given). */
  IO_VXLAN_PORT,
  IO_TABLE_MASK, IO_TABLE_COUNT, IO_CLIENT_COUNT, IO_REQUEST_COUNT,
  IO_FIRST_SEC, IO_LAST_SEC, IO_LAST_TIME,
  /* Added to by the scan; JavaScript zeroes them before a call and adds them to its own totals. */
  IO_TOTALS, IO_OUTBOUND = IO_TOTALS + 4, IO_INBOUND = IO_OUTBOUND + 4, IO_NTP_OUTBOUND = IO_INBOUND + 4,
  IO_NTP_RESPONSES = IO_NTP_OUTBOUND + 4, IO_OTHER_PACKETS, IO_IPV4_PACKETS, IO_SNAPPED_PACKETS,
  /* Added to, like the counters above. */
  IO_IPV6_PACKETS,
  /* The AddressTable's other (non-IPv4) addresses: its mask and count (the count is written back). */
  IO_OTHER_MASK, IO_OTHER_COUNT,
  /*
   * 0 for a scan. N > 0 for the host probe (probeCapture): no host, at most N records, and a source's packets from a
   * port below the destination's counted in its slot's word R_PENDING (the probe's tie-break).
   */
  IO_PROBE_LIMIT,
  IO_SIZE
};
/* Each of the four traffic totals: packets, wire bytes, captured bytes, billable bytes. */
enum { T_PACKETS, T_BYTES, T_CAPTURED, T_BILLABLE };

/* AddressTable slot words (addresses.ts) and CaptureScan's fields in them (analyse.ts). */
enum { SLOT_WORDS = 8, KEY = 0, TAG = 1, R_PACKETS = 2, R_PENDING = 3, R_CLIENT = 4, R_RESPONSES = 5, R_BILLABLE_BYTES = 6 };
/* The other addresses' index (addresses.ts): 4 address words, then index + 1 (0 = empty), 8 words a slot. */
enum { OTHER_SLOT_WORDS = 8, OTHER_INDEX = 4 };
#define NO_SLOT 0xffffffffu
#define OTHER 0x80000000u
#define V4_MAPPED_WORD2 0xffffu

enum { UDP = 17, TCP = 6, GRE = 47 };
enum { VXLAN_PORT = 4789, GENEVE_PORT = 6081 };
enum { MODE_SYMMETRIC_ACTIVE = 1, MODE_SYMMETRIC_PASSIVE = 2, MODE_CLIENT = 3, MODE_SERVER = 4, MODE_BROADCAST = 5 };
enum { NTP_HEADER_BYTES = 48, STRATUM_AT = 1, ORIGIN_AT = 24, TRANSMIT_AT = 40 };
enum { MATCH_WINDOW = 16 };

typedef struct {
  double *io;
  const uint8_t *buffer;
  /* pcapng: per interface, its link type, timestamp units per second and offset in seconds. */
  const double *interfaces;
  size_t interface_count;
  uint32_t *slots;
  uint32_t *other_slots;
  uint32_t other_mask;
  uint32_t other_count;
  uint32_t *words;
  size_t words_length;
  uint32_t *slot_by_index;
  size_t slot_by_index_length;
  uint32_t *client_addresses;
  size_t client_capacity;
  double *time_sec;
  uint32_t *client;
  uint16_t *src_port;
  uint8_t *version;
  uint8_t *mode;
  uint8_t *reply;
  uint16_t *reply_ip_bytes;
  uint32_t *transmit_key;
  int32_t *prev_pending;
  size_t request_capacity;
  double *udp_ports;
  double *tcp_ports;
  uint32_t mask;
  uint32_t count;
  uint32_t client_count;
  uint32_t request_count;
} Scan;

/*
 * What decode.ts's PacketDecoder finds, for the frames this path takes. An IPv4 address is `src`/`dst`;
 * an IPv6 packet's are the four words each of src6/dst6 (`v6` set), `src`/`dst` then their last word.
 */
typedef struct {
  uint32_t ip_bytes, src, dst;
  int v6;
  uint32_t src6[4], dst6[4];
  int protocol, src_port, dst_port;
  size_t payload_offset, payload_length;
} Packet;

static inline uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline uint32_t le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }

static inline uint32_t hash32(uint32_t v) {
  uint32_t h = (v ^ 0x9e3779b9u) * 0x85ebca6bu;
  return h ^ (h >> 15);
}

/* AddressTable.locateV4: the slot holding the IPv4 address, or the empty slot where it belongs. */
static inline uint32_t locate_v4(const Scan *s, uint32_t address) {
  const uint32_t wrap = s->mask * SLOT_WORDS + SLOT_WORDS - 1;
  uint32_t at = (hash32(address) & s->mask) * SLOT_WORDS;
  for (uint32_t tag = s->slots[at + TAG]; tag != 0 && !(s->slots[at + KEY] == address && tag < OTHER); tag = s->slots[at + TAG]) at = (at + SLOT_WORDS) & wrap;
  return at;
}

/* AddressTable.intern for an IPv4 address, where room was checked (the table never grows here). */
static uint32_t intern_v4(Scan *s, uint32_t address) {
  const uint32_t at = locate_v4(s, address);
  if (s->slots[at + TAG] != 0) return at;
  const uint32_t index = s->count++;
  s->words[index * 4] = 0;
  s->words[index * 4 + 1] = 0;
  s->words[index * 4 + 2] = V4_MAPPED_WORD2;
  s->words[index * 4 + 3] = address;
  s->slots[at + KEY] = address;
  s->slots[at + TAG] = index + 1;
  s->slot_by_index[index] = at;
  return at;
}

static inline int is_known(const Scan *s, uint32_t address) { return s->slots[locate_v4(s, address) + TAG] != 0; }

/* addresses.ts hashWords. */
static inline uint32_t hash_words(const uint32_t *w) {
  uint32_t h = (w[3] ^ 0x9e3779b9u) * 0x85ebca6bu;
  h = (h ^ w[2] ^ (h >> 15)) * 0xc2b2ae35u;
  h = (h ^ w[1] ^ (h >> 13)) * 0x27d4eb2fu;
  h = (h ^ w[0] ^ (h >> 16)) * 0x165667b1u;
  return h ^ (h >> 15);
}

/* An IPv4 address as IPv6 words (::ffff:a.b.c.d): the table keeps it with the IPv4 addresses. */
static inline int is_v4_mapped(const uint32_t *w) { return w[0] == 0 && w[1] == 0 && w[2] == V4_MAPPED_WORD2; }

/* AddressTable.locateOther: the other-index slot holding the address, or the empty one where it belongs. */
static inline uint32_t locate_other(const Scan *s, const uint32_t *w) {
  const uint32_t wrap = s->other_mask * OTHER_SLOT_WORDS + OTHER_SLOT_WORDS - 1;
  uint32_t at = (hash_words(w) & s->other_mask) * OTHER_SLOT_WORDS;
  const uint32_t *o = s->other_slots;
  while (o[at + OTHER_INDEX] != 0 && !(o[at + 3] == w[3] && o[at + 2] == w[2] && o[at + 1] == w[1] && o[at] == w[0])) at = (at + OTHER_SLOT_WORDS) & wrap;
  return at;
}

/* The table slot of an address given as four words, or NO_SLOT when it is not interned. */
static inline uint32_t find_slot_words(const Scan *s, const uint32_t *w) {
  if (is_v4_mapped(w)) {
    const uint32_t at = locate_v4(s, w[3]);
    return s->slots[at + TAG] != 0 ? at : NO_SLOT;
  }
  const uint32_t stored = s->other_slots[locate_other(s, w) + OTHER_INDEX];
  return stored != 0 ? s->slot_by_index[stored - 1] : NO_SLOT;
}

/* AddressTable.intern for an address as four words, where room was checked in both tables. */
static uint32_t intern_words(Scan *s, const uint32_t *w) {
  if (is_v4_mapped(w)) return intern_v4(s, w[3]);
  const uint32_t other = locate_other(s, w);
  const uint32_t stored = s->other_slots[other + OTHER_INDEX];
  if (stored != 0) return s->slot_by_index[stored - 1];
  const uint32_t index = s->count++;
  for (int k = 0; k < 4; k++) {
    s->words[index * 4 + k] = w[k];
    s->other_slots[other + k] = w[k];
  }
  s->other_slots[other + OTHER_INDEX] = index + 1;
  s->other_count++;
  /* locateEmpty: the index is the key of its slot in the main table, with OTHER in the tag. */
  const uint32_t wrap = s->mask * SLOT_WORDS + SLOT_WORDS - 1;
  uint32_t at = (hash32(index) & s->mask) * SLOT_WORDS;
  while (s->slots[at + TAG] != 0) at = (at + SLOT_WORDS) & wrap;
  s->slots[at + KEY] = index;
  s->slots[at + TAG] = (index + 1) | OTHER;
  s->slot_by_index[index] = at;
  return at;
}

/* The packet's source (or destination) address: its slot, interned when new (room was checked). */
static inline uint32_t intern_address(Scan *s, const Packet *p, int destination) {
  if (!p->v6) return intern_v4(s, destination ? p->dst : p->src);
  return intern_words(s, destination ? p->dst6 : p->src6);
}

/* Whether the packet's source (or destination) address is interned already; *other is set when it would go in the other index. */
static inline int address_known(const Scan *s, const Packet *p, int destination, int *other) {
  *other = 0;
  if (!p->v6) return is_known(s, destination ? p->dst : p->src);
  const uint32_t *w = destination ? p->dst6 : p->src6;
  if (is_v4_mapped(w)) return is_known(s, w[3]);
  *other = 1;
  return s->other_slots[locate_other(s, w) + OTHER_INDEX] != 0;
}

/* The same address on both sides of the packet. */
static inline int same_address(const Packet *p) {
  if (!p->v6) return p->src == p->dst;
  return p->src6[0] == p->dst6[0] && p->src6[1] == p->dst6[1] && p->src6[2] == p->dst6[2] && p->src6[3] == p->dst6[3];
}

static inline uint32_t index_at(const Scan *s, uint32_t slot) { return (s->slots[slot + TAG] & ~OTHER) - 1; }

/*
 * PacketDecoder.decode, for IPv4 frames that are not fragments and carry no tunnel; 0 for every other
 * frame. Tunnels (GRE, and UDP to the VXLAN or Geneve ports) are left to JavaScript, which looks inside.
 */
static inline int decode_transport(const uint8_t *data, const uint8_t *transport, const uint8_t *transport_end, int vxlan_port, Packet *p);

/*
 * decodeIpv6, for a packet whose next header is no extension header: those (a fragment among them)
 * are left to JavaScript (0). `at` is the IPv6 header, `wire_ip_bytes` the wire length from there.
 */
static int decode_ipv6(const uint8_t *data, const uint8_t *at, const uint8_t *end, int64_t wire_ip_bytes, int vxlan_port, Packet *p) {
  if (at + 40 > end || at[0] >> 4 != 6) return 0;
  const int next = at[6];
  if (next == 0 || next == 43 || next == 44 || next == 50 || next == 51 || next == 60 || next == 135 || next == 139 || next == 140) return 0;
  const uint32_t payload_length = (uint32_t)at[4] << 8 | at[5];
  /* Payload length 0 means a jumbogram or offloaded segment: the frame length then. */
  p->ip_bytes = payload_length > 0 ? 40 + payload_length : (uint32_t)(wire_ip_bytes > 40 ? wire_ip_bytes : 40);
  p->v6 = 1;
  for (int k = 0; k < 4; k++) {
    p->src6[k] = be32(at + 8 + 4 * k);
    p->dst6[k] = be32(at + 24 + 4 * k);
  }
  p->src = p->src6[3];
  p->dst = p->dst6[3];
  p->protocol = next;
  const uint8_t *transport_end = (size_t)(end - at) < p->ip_bytes ? end : at + p->ip_bytes;
  return decode_transport(data, at + 40, transport_end, vxlan_port, p);
}

static int decode(const uint8_t *data, size_t caplen, uint32_t origlen, uint32_t link_type, int vxlan_port, Packet *p) {
  const uint8_t *end = data + caplen;
  const uint8_t *at = data;
  uint32_t ether_type = 0;
  switch (link_type) {
    case 1: /* Ethernet */
      if (caplen < 14) return 0;
      ether_type = (uint32_t)data[12] << 8 | data[13];
      at += 14;
      break;
    case 113: /* Linux cooked (SLL) */
      if (caplen < 16) return 0;
      ether_type = (uint32_t)data[14] << 8 | data[15];
      at += 16;
      break;
    case 276: /* Linux cooked v2 (SLL2) */
      if (caplen < 20) return 0;
      ether_type = (uint32_t)data[0] << 8 | data[1];
      at += 20;
      break;
    case 0: /* BSD loopback (NULL) */
    case 108: { /* OpenBSD loopback (LOOP): the family in either byte order */
      if (caplen < 5) return 0;
      const uint32_t le = le32(data);
      const uint32_t family = le < 0x100 ? le : be32(data);
      if (family == 2) ether_type = 0x0800;
      else if (family == 10 || family == 24 || family == 28 || family == 30) ether_type = 0x86dd;
      else return 0;
      at += 4;
      break;
    }
    case 101: /* raw IP */
    case 228: /* raw IPv4 */
    case 229: /* raw IPv6 */
      if (caplen < 1) return 0;
      /* 228 and 229 name the version: a packet of the other is not IP there (decode.ts). */
      if ((link_type == 228 && data[0] >> 4 != 4) || (link_type == 229 && data[0] >> 4 != 6)) return 0;
      ether_type = data[0] >> 4 == 4 ? 0x0800 : data[0] >> 4 == 6 ? 0x86dd : 0;
      break;
    default:
      return 0;
  }
  while ((ether_type == 0x8100 || ether_type == 0x88a8 || ether_type == 0x9100) && at + 4 <= end) {
    ether_type = (uint32_t)at[2] << 8 | at[3];
    at += 4;
  }
  if (ether_type == 0x86dd) return decode_ipv6(data, at, end, (int64_t)origlen - (at - data), vxlan_port, p);
  if (ether_type != 0x0800) return 0;
  const int64_t wire_ip_bytes = (int64_t)origlen - (at - data);
  if (at + 20 > end || at[0] >> 4 != 4) return 0;
  p->v6 = 0;
  const uint32_t header_bytes = (at[0] & 0x0f) * 4u;
  if (header_bytes < 20) return 0;
  const uint32_t total_length = (uint32_t)at[2] << 8 | at[3];
  const uint32_t flags_and_offset = (uint32_t)at[6] << 8 | at[7];
  if ((flags_and_offset & 0x1fff) != 0 || (flags_and_offset & 0x2000) != 0) return 0;
  p->ip_bytes = total_length >= header_bytes ? total_length : (uint32_t)(wire_ip_bytes > 0 ? wire_ip_bytes : 0);
  p->protocol = at[9];
  p->src = be32(at + 12);
  p->dst = be32(at + 16);
  p->src_port = -1;
  p->dst_port = -1;
  p->payload_offset = 0;
  p->payload_length = 0;
  /* decodeTransport, with the IP packet's end as decodeIpv4 computes it. */
  const uint32_t ip_span = p->ip_bytes > header_bytes ? p->ip_bytes : header_bytes;
  const uint8_t *transport = at + header_bytes;
  const uint8_t *transport_end = (size_t)(end - at) < ip_span ? end : at + ip_span;
  return decode_transport(data, transport, transport_end, vxlan_port, p);
}

/*
 * decodeTransport, and the tunnels decodeTunnel would look into (GRE, UDP to the VXLAN or Geneve
 * ports), which are left to JavaScript (0).
 */
static inline int decode_transport(const uint8_t *data, const uint8_t *transport, const uint8_t *transport_end, int vxlan_port, Packet *p) {
  p->src_port = -1;
  p->dst_port = -1;
  p->payload_offset = 0;
  p->payload_length = 0;
  if (p->protocol == GRE) return 0;
  if ((p->protocol != UDP && p->protocol != TCP) || transport + 4 > transport_end) return 1;
  p->src_port = (int)transport[0] << 8 | transport[1];
  p->dst_port = (int)transport[2] << 8 | transport[3];
  if (p->protocol == UDP && (p->dst_port == VXLAN_PORT || p->dst_port == GENEVE_PORT || p->dst_port == vxlan_port)) return 0;
  if (p->protocol == UDP) {
    if (transport + 8 > transport_end) return 1;
    p->payload_offset = (size_t)(transport + 8 - data);
    p->payload_length = (size_t)(transport_end - transport - 8);
  } else {
    if (transport + 13 > transport_end) return 1;
    const uint32_t tcp_header_bytes = (transport[12] >> 4) * 4u;
    if (tcp_header_bytes < 20 || transport + tcp_header_bytes > transport_end) return 1;
    p->payload_offset = (size_t)(transport + tcp_header_bytes - data);
    p->payload_length = (size_t)(transport_end - transport - tcp_header_bytes);
  }
  return 1;
}

/* timestampKey: a 64-bit NTP timestamp folded to 32 bits. */
static inline uint32_t timestamp_key(const uint8_t *p) { return be32(p) * 0x9e3779b1u ^ be32(p + 4); }

static inline void add_totals(double *totals, uint32_t caplen, uint32_t origlen, uint32_t ip_bytes) {
  totals[T_PACKETS] += 1;
  totals[T_BYTES] += origlen;
  totals[T_CAPTURED] += caplen;
  totals[T_BILLABLE] += ip_bytes;
}

/* CaptureScan.clientRecord: the address becomes an NTP client on first sight (room was checked). */
static inline void make_client(Scan *s, uint32_t slot) {
  if (s->slots[slot + R_CLIENT] != 0) return;
  s->client_addresses[s->client_count++] = index_at(s, slot);
  s->slots[slot + R_CLIENT] = s->client_count;
}

/*
 * CaptureScan.matchReply's search, without its changes: the matched row, and the row before it in
 * the waiting chain (-1: the match heads the chain). -1 when nothing matches.
 */
static int32_t find_request(const Scan *s, uint32_t slot, int port, uint32_t key, int32_t *match_previous) {
  int32_t previous = -1, match = -1;
  int32_t row = (int32_t)s->slots[slot + R_PENDING] - 1;
  *match_previous = -1;
  for (int steps = 0; row >= 0 && steps < MATCH_WINDOW; steps++) {
    if (s->src_port[row] == port) {
      if (key != 0 && s->transmit_key[row] == key) {
        *match_previous = previous;
        return row;
      }
      if (match < 0) {
        match = row;
        *match_previous = previous;
      }
    }
    previous = row;
    row = s->prev_pending[row];
  }
  return match;
}

/*
 * Whether this path may take the packet: it needs no growth and nothing left to JavaScript. Looks
 * only; the caller then changes everything in analyse.ts's order.
 */
static int may_take(const Scan *s, const Packet *p, const uint8_t *frame, int from_host, int to_host, int ntp_port, int keep_orphans) {
  if (from_host && !((p->protocol == UDP || p->protocol == TCP) && p->src_port >= 0)) return 0;
  uint32_t new_addresses = 0, new_others = 0;
  int other;
  /* The remote address: the destination of a packet from the host, the source of one to it. */
  const int has_remote = from_host != to_host;
  if (has_remote) {
    if (!address_known(s, p, from_host, &other)) new_addresses = 1, new_others = other;
  } else if (!from_host) {
    if (!address_known(s, p, 0, &other)) new_addresses++, new_others += other;
    if (!same_address(p) && !address_known(s, p, 1, &other)) new_addresses++, new_others += other;
  }
  if (new_addresses > 0) {
    const uint64_t count = (uint64_t)s->count + new_addresses;
    if (count * 2 > (uint64_t)s->mask + 1 || count * 4 > s->words_length || count > s->slot_by_index_length) return 0;
    if (new_others > 0 && ((uint64_t)s->other_count + new_others) * 2 > (uint64_t)s->other_mask + 1) return 0;
  }
  if (p->protocol != UDP || (!from_host && !to_host)) return 1;
  const int reply = from_host && p->src_port == ntp_port;
  const int request = !reply && to_host && p->dst_port == ntp_port;
  if (!reply && !request) return 1;
  /* The remote side of an NTP exchange: the host itself when it talks to itself. */
  const uint32_t remote_slot = from_host && to_host ? s->slot_by_index[(uint32_t)s->io[IO_HOST_INDEX]]
                               : !p->v6 ? locate_v4(s, from_host ? p->dst : p->src)
                                        : find_slot_words(s, from_host ? p->dst6 : p->src6);
  const int known_remote = remote_slot != NO_SLOT && s->slots[remote_slot + TAG] != 0;
  const int is_client = known_remote && s->slots[remote_slot + R_CLIENT] != 0;
  /* A client beyond --max-clients (CaptureScan's BEYOND_MAX_CLIENTS): counted apart, by JavaScript. */
  if (is_client && s->slots[remote_slot + R_CLIENT] == 0xFFFFFFFFu) return 0;
  const uint8_t *payload = frame + p->payload_offset;
  const int mode = p->payload_length > 0 ? payload[0] & 7 : 0;
  if (request) {
    if (mode == MODE_SYMMETRIC_PASSIVE || mode == MODE_SERVER || mode == MODE_BROADCAST) return 1;
    return (is_client || s->client_count < s->client_capacity) && s->request_count < s->request_capacity;
  }
  if (mode == MODE_CLIENT || mode == MODE_SYMMETRIC_ACTIVE) return 1;
  /* Modes 0, 5, 6 and 7 are counted apart, by mode. */
  if (mode != MODE_SERVER && mode != MODE_SYMMETRIC_PASSIVE) return 0;
  if (!is_client && s->client_count >= s->client_capacity) return 0;
  /* KoDs and unsynchronised replies (stratum 0 or 16+, LI 3) are counted by kiss code or why. */
  if (p->payload_length >= NTP_HEADER_BYTES && (payload[STRATUM_AT] == 0 || payload[STRATUM_AT] >= 16 || payload[0] >> 6 == 3)) return 0;
  if (keep_orphans) {
    if (!known_remote) return 0;
    int32_t match_previous;
    const uint32_t key = p->payload_length >= NTP_HEADER_BYTES ? timestamp_key(payload + ORIGIN_AT) : 0;
    if (find_request(s, remote_slot, p->dst_port, key, &match_previous) < 0) return 0;
  }
  return 1;
}

/* CaptureScan.ntpRequest. */
static void ntp_request(Scan *s, const Packet *p, const uint8_t *frame, uint32_t remote, double now) {
  const uint8_t *payload = frame + p->payload_offset;
  const uint8_t first = p->payload_length > 0 ? payload[0] : 0;
  const int mode = p->payload_length > 0 ? first & 7 : 0;
  if (mode == MODE_SYMMETRIC_PASSIVE || mode == MODE_SERVER || mode == MODE_BROADCAST) return;
  make_client(s, remote);
  const uint32_t row = s->request_count++;
  s->time_sec[row] = now;
  s->client[row] = s->slots[remote + R_CLIENT] - 1;
  s->src_port[row] = (uint16_t)p->src_port;
  s->version[row] = p->payload_length > 0 ? (first >> 3) & 7 : 0;
  s->mode[row] = (uint8_t)mode;
  s->reply[row] = 0;
  s->reply_ip_bytes[row] = p->ip_bytes < 0xffff ? (uint16_t)p->ip_bytes : 0xffff;
  s->transmit_key[row] = p->payload_length >= NTP_HEADER_BYTES ? timestamp_key(payload + TRANSMIT_AT) : 0;
  s->prev_pending[row] = (int32_t)s->slots[remote + R_PENDING] - 1;
  s->slots[remote + R_PENDING] = row + 1;
}

/* CaptureScan.ntpReply and matchReply, for a synchronised mode 4/2 reply that needs no orphan record. */
static void ntp_reply(Scan *s, const Packet *p, const uint8_t *frame, uint32_t remote, uint32_t caplen, uint32_t origlen) {
  const uint8_t *payload = frame + p->payload_offset;
  const int mode = p->payload_length > 0 ? payload[0] & 7 : 0;
  if (mode == MODE_CLIENT || mode == MODE_SYMMETRIC_ACTIVE) return;
  make_client(s, remote);
  s->io[IO_NTP_RESPONSES] += 1;
  s->slots[remote + R_RESPONSES]++;
  /* A double in slot words 6 and 7 (the Float64Array view's element); memcpy, as C forbids reading it through a cast. */
  double billable_bytes;
  memcpy(&billable_bytes, &s->slots[remote + R_BILLABLE_BYTES], sizeof billable_bytes);
  billable_bytes += p->ip_bytes;
  memcpy(&s->slots[remote + R_BILLABLE_BYTES], &billable_bytes, sizeof billable_bytes);
  add_totals(s->io + IO_NTP_OUTBOUND, caplen, origlen, p->ip_bytes);
  const uint32_t key = p->payload_length >= NTP_HEADER_BYTES ? timestamp_key(payload + ORIGIN_AT) : 0;
  int32_t match_previous;
  const int32_t match = find_request(s, remote, p->dst_port, key, &match_previous);
  if (match < 0) return;
  if (match_previous < 0) s->slots[remote + R_PENDING] = (uint32_t)(s->prev_pending[match] + 1);
  else s->prev_pending[match_previous] = s->prev_pending[match];
  s->reply[match] = 1;
  s->reply_ip_bytes[match] = p->ip_bytes < 0xffff ? (uint16_t)p->ip_bytes : 0xffff;
}

/* portRank and servicePort (analyse.ts): well-known < registered < ephemeral; a tie names the host's own port. */
static inline int port_rank(int port) { return port < 1024 ? 0 : port < 32768 ? 1 : 2; }

/* CaptureScan.countPort, for UDP and TCP with ports, not fragments (outbound: the host's port is the source). */
static inline void count_port(Scan *s, const Packet *p, uint32_t caplen, uint32_t origlen) {
  double *table = p->protocol == UDP ? s->udp_ports : s->tcp_ports;
  const int port = port_rank(p->dst_port) < port_rank(p->src_port) ? p->dst_port : p->src_port;
  double *at = table + (size_t)port * 4;
  at[0] += 1;
  at[1] += origlen;
  at[2] += caplen;
  at[3] += p->ip_bytes;
}

/*
 * The table lookup is the scan's cost: a busy server's clients' slots are far apart, so nearly every
 * packet's lookup misses the cache. Looking this many records ahead and asking for the slot there
 * lets several misses overlap instead of waiting for each in turn.
 */
enum { PREFETCH_DISTANCE = 16 };
/*
 * An IPv6 address takes two lookups, each a miss: its index in the other-address table, then its slot in the main
 * one. The first is asked for PREFETCH_DISTANCE records ahead; this many records ahead, the index is read (its line
 * has come by then) and the slot asked for.
 */
enum { PREFETCH_SLOT_DISTANCE = PREFETCH_DISTANCE / 2 };

/* Bytes before the IP header on a link type, when no VLAN tag intervenes (-1: unknown). */
static int link_header_bytes(uint32_t link_type) {
  switch (link_type) {
    case 1: return 14;
    case 113: return 16;
    case 276: return 20;
    case 0:
    case 108: return 4;
    case 101:
    case 228: return 0;
    default: return -1;
  }
}

/* A record of either format (CaptureReader.nextPcap, readTimedPacket). */
typedef struct {
  const uint8_t *frame;
  uint32_t caplen, origlen, link_type;
  /* Bytes from this record to the next. */
  size_t size;
} Record;

/* pcapng: a block this long is corrupt framing (the reader's MAX_RECORD_BYTES). */
#define MAX_BLOCK_BYTES (64u * 1024 * 1024)
enum { PCAPNG_EPB = 6, EPB_FRAMING_BYTES = 32 };

/* The record at `at` when it is wholly in [at, end) and of a kind this path reads; 0 otherwise. */
static inline int read_record(const Scan *s, size_t at, size_t end, int pcapng, int little_endian, double max_caplen, uint32_t pcap_link_type, Record *r) {
  const uint8_t *header = s->buffer + at;
  if (!pcapng) {
    if (at + 16 > end) return 0;
    r->caplen = little_endian ? le32(header + 8) : be32(header + 8);
    if (r->caplen > max_caplen || r->caplen > end - at - 16) return 0;
    r->origlen = little_endian ? le32(header + 12) : be32(header + 12);
    if (r->origlen < r->caplen) r->origlen = r->caplen; /* a damaged header: the frame was at least what was captured (reader.ts alike) */
    r->frame = header + 16;
    r->link_type = pcap_link_type;
    r->size = 16 + (size_t)r->caplen;
    return 1;
  }
  if (at + 12 > end) return 0;
  const uint32_t type = little_endian ? le32(header) : be32(header);
  const uint32_t length = little_endian ? le32(header + 4) : be32(header + 4);
  if (type != PCAPNG_EPB || length < EPB_FRAMING_BYTES || length % 4 != 0 || length > MAX_BLOCK_BYTES || length > end - at) return 0;
  const uint32_t interface_id = little_endian ? le32(header + 8) : be32(header + 8);
  if (interface_id >= s->interface_count) return 0;
  r->caplen = little_endian ? le32(header + 20) : be32(header + 20);
  if (r->caplen > length - EPB_FRAMING_BYTES) return 0;
  r->origlen = little_endian ? le32(header + 24) : be32(header + 24);
  if (r->origlen < r->caplen) r->origlen = r->caplen;
  r->frame = header + 28;
  r->link_type = (uint32_t)s->interfaces[interface_id * 3];
  r->size = length;
  return 1;
}

/* The record's time in Unix seconds, computed as the reader computes it. */
static inline double record_time(const Scan *s, const uint8_t *header, int pcapng, int little_endian, double units_per_second) {
  if (!pcapng) {
    const uint32_t seconds = little_endian ? le32(header) : be32(header);
    const uint32_t fraction = little_endian ? le32(header + 4) : be32(header + 4);
    return seconds + fraction / units_per_second;
  }
  const uint32_t interface_id = little_endian ? le32(header + 8) : be32(header + 8);
  const uint32_t high = little_endian ? le32(header + 12) : be32(header + 12);
  const uint32_t low = little_endian ? le32(header + 16) : be32(header + 16);
  const double *iface = s->interfaces + interface_id * 3;
  return (high * 4294967296.0 + low) / iface[1] + iface[2];
}

/* The remote address of an IPv6 frame's packet (the destination when the host sent it) as four words, from `ip`. */
static inline void remote_words(const uint8_t *ip, const uint32_t *host6, uint32_t *w) {
  const uint8_t *src = ip + 8;
  const int from_host = be32(src) == host6[0] && be32(src + 4) == host6[1] && be32(src + 8) == host6[2] && be32(src + 12) == host6[3];
  const uint8_t *remote = from_host ? ip + 24 : src;
  for (int k = 0; k < 4; k++) w[k] = be32(remote + 4 * k);
}

/*
 * Prefetches for the record at `at` (taking the frame as IPv4 unless its version says 6: for another one the hint is
 * merely wasted), and returns the next record's offset; `at` itself when the record is not one this path reads.
 * `slot_stage` 0, PREFETCH_DISTANCE ahead: the slot of an IPv4 remote address, the other-table line of an IPv6 one;
 * 1, PREFETCH_SLOT_DISTANCE ahead: an IPv6 address's slot, through its index when the first probe holds it.
 */
static inline size_t prefetch_record(const Scan *s, size_t at, size_t end, int pcapng, int little_endian, double max_caplen, uint32_t pcap_link_type, uint32_t host,
                                     const uint32_t *host6, int slot_stage) {
  Record r;
  if (!read_record(s, at, end, pcapng, little_endian, max_caplen, pcap_link_type, &r)) return at;
  const int link_bytes = link_header_bytes(r.link_type);
  if (link_bytes < 0 || r.caplen < (uint32_t)link_bytes + 20) return at + r.size;
  const uint8_t *ip = r.frame + link_bytes;
  if (ip[0] >> 4 == 6) {
    if (r.caplen < (uint32_t)link_bytes + 40) return at + r.size;
    uint32_t w[4];
    remote_words(ip, host6, w);
    /* The table keeps ::ffff:a.b.c.d with the IPv4 addresses (rare in IPv6 traffic: no hint for it). */
    if (is_v4_mapped(w)) return at + r.size;
    const uint32_t other = (hash_words(w) & s->other_mask) * OTHER_SLOT_WORDS;
    if (!slot_stage) {
      __builtin_prefetch(&s->other_slots[other]);
    } else {
      const uint32_t *o = s->other_slots + other;
      if (o[OTHER_INDEX] != 0 && o[0] == w[0] && o[1] == w[1] && o[2] == w[2] && o[3] == w[3]) __builtin_prefetch(&s->slots[s->slot_by_index[o[OTHER_INDEX] - 1]]);
    }
  } else if (!slot_stage) {
    const uint32_t src = be32(ip + 12);
    const uint32_t address = src == host ? be32(ip + 16) : src;
    __builtin_prefetch(&s->slots[(hash32(address) & s->mask) * SLOT_WORDS]);
  }
  return at + r.size;
}

/* The records from io[IO_START] on, up to the first one left to JavaScript (see the top). */
static void scan(Scan *s) {
  double *io = s->io;
  const int pcapng = io[IO_PCAPNG] != 0;
  const int little_endian = io[IO_LITTLE_ENDIAN] != 0;
  const double units_per_second = io[IO_UNITS_PER_SECOND];
  const double max_caplen = io[IO_MAX_CAPLEN];
  const uint32_t link_type = (uint32_t)io[IO_LINK_TYPE];
  /* The host matches IPv4 packets only when it is an IPv4 address. */
  const int host_v4 = io[IO_HAS_HOST] != 0 && io[IO_HOST0] == 0 && io[IO_HOST1] == 0 && io[IO_HOST2] == V4_MAPPED_WORD2;
  const uint32_t host = host_v4 ? (uint32_t)io[IO_HOST3] : 0;
  const uint32_t host_slot = io[IO_HAS_HOST] != 0 ? s->slot_by_index[(uint32_t)io[IO_HOST_INDEX]] : 0;
  /* An IPv6 packet matches the host by all four words (an IPv4 host too, as ::ffff:a.b.c.d). */
  const int has_host = io[IO_HAS_HOST] != 0;
  const uint32_t host6[4] = {(uint32_t)io[IO_HOST0], (uint32_t)io[IO_HOST1], (uint32_t)io[IO_HOST2], (uint32_t)io[IO_HOST3]};
  const int ntp_port = (int)io[IO_NTP_PORT];
  const int vxlan_port = (int)io[IO_VXLAN_PORT];
  const int keep_orphans = io[IO_KEEP_ORPHANS] != 0;
  double first_sec = io[IO_FIRST_SEC], last_sec = io[IO_LAST_SEC], time = io[IO_LAST_TIME];
  double *totals = io + IO_TOTALS;
  size_t at = (size_t)io[IO_START];
  const size_t end = (size_t)io[IO_END];
  double records = 0;
  const double probe_limit = io[IO_PROBE_LIMIT];
  Packet p;
  Record r;
  size_t ahead = at, slot_ahead = at;
  for (int k = 0; k < PREFETCH_DISTANCE; k++) {
    ahead = prefetch_record(s, ahead, end, pcapng, little_endian, max_caplen, link_type, host, host6, 0);
    if (k >= PREFETCH_DISTANCE - PREFETCH_SLOT_DISTANCE) slot_ahead = prefetch_record(s, slot_ahead, end, pcapng, little_endian, max_caplen, link_type, host, host6, 1);
  }
  while ((probe_limit == 0 || records < probe_limit) && read_record(s, at, end, pcapng, little_endian, max_caplen, link_type, &r)) {
    ahead = prefetch_record(s, ahead, end, pcapng, little_endian, max_caplen, link_type, host, host6, 0);
    slot_ahead = prefetch_record(s, slot_ahead, end, pcapng, little_endian, max_caplen, link_type, host, host6, 1);
    const uint32_t caplen = r.caplen, origlen = r.origlen;
    const uint8_t *frame = r.frame;
    if (!decode(frame, caplen, origlen, r.link_type, vxlan_port, &p)) break;
    const int from_host = !p.v6 ? host_v4 && p.src == host
                                : has_host && p.src6[3] == host6[3] && p.src6[2] == host6[2] && p.src6[1] == host6[1] && p.src6[0] == host6[0];
    const int to_host = !p.v6 ? host_v4 && p.dst == host
                              : has_host && p.dst6[3] == host6[3] && p.dst6[2] == host6[2] && p.dst6[1] == host6[1] && p.dst6[0] == host6[0];
    if (!may_take(s, &p, frame, from_host, to_host, ntp_port, keep_orphans)) break;

    time = record_time(s, s->buffer + at, pcapng, little_endian, units_per_second);
    if (time < first_sec) first_sec = time;
    if (time > last_sec) last_sec = time;
    totals[T_PACKETS] += 1;
    totals[T_CAPTURED] += caplen;
    totals[T_BYTES] += origlen;
    if (caplen < origlen) io[IO_SNAPPED_PACKETS] += 1;
    totals[T_BILLABLE] += p.ip_bytes;
    io[p.v6 ? IO_IPV6_PACKETS : IO_IPV4_PACKETS] += 1;
    if (from_host) {
      s->slots[host_slot + R_PACKETS]++;
      add_totals(io + IO_OUTBOUND, caplen, origlen, p.ip_bytes);
      count_port(s, &p, caplen, origlen);
      const uint32_t remote = to_host ? host_slot : intern_address(s, &p, 1);
      if (!to_host) s->slots[remote + R_PACKETS]++;
      if (p.protocol == UDP) {
        if (p.src_port == ntp_port) ntp_reply(s, &p, frame, remote, caplen, origlen);
        else if (to_host && p.dst_port == ntp_port) ntp_request(s, &p, frame, remote, time);
      }
    } else if (to_host) {
      s->slots[host_slot + R_PACKETS]++;
      const uint32_t remote = intern_address(s, &p, 0);
      s->slots[remote + R_PACKETS]++;
      add_totals(io + IO_INBOUND, caplen, origlen, p.ip_bytes);
      if (p.dst_port == ntp_port && p.protocol == UDP) ntp_request(s, &p, frame, remote, time);
    } else {
      io[IO_OTHER_PACKETS] += 1;
      const uint32_t source = intern_address(s, &p, 0);
      s->slots[source + R_PACKETS]++;
      s->slots[intern_address(s, &p, 1) + R_PACKETS]++;
      if (probe_limit > 0 && p.src_port >= 0 && p.src_port < p.dst_port) s->slots[source + R_PENDING]++;
    }
    at += r.size;
    records += 1;
  }
  /* Keeps the look-ahead: a compiler sees nothing else use it, a prefetch being no effect to it. */
  __asm__ volatile("" : : "r"(ahead), "r"(slot_ahead));
  io[IO_START] = (double)at;
  io[IO_RECORDS] = records;
  io[IO_FIRST_SEC] = first_sec;
  io[IO_LAST_SEC] = last_sec;
  io[IO_LAST_TIME] = time;
  io[IO_TABLE_COUNT] = s->count;
  io[IO_OTHER_COUNT] = s->other_count;
  io[IO_CLIENT_COUNT] = s->client_count;
  io[IO_REQUEST_COUNT] = s->request_count;
}

/* The typed array at argv[i], checked to be of `type`: its elements and their number. */
static int typed_array(napi_env env, napi_value value, napi_typedarray_type type, void **data, size_t *length, const char *name) {
  bool is_typed_array = false;
  napi_typedarray_type actual;
  if (napi_is_typedarray(env, value, &is_typed_array) != napi_ok || !is_typed_array ||
      napi_get_typedarray_info(env, value, &actual, length, data, NULL, NULL) != napi_ok || actual != type) {
    char message[96];
    snprintf(message, sizeof message, "%s has the wrong type", name);
    napi_throw_type_error(env, NULL, message);
    return 0;
  }
  return 1;
}

/* Fills argv with the call's arguments when there are exactly `count`; otherwise throws `message` and returns 0. */
static int exact_arguments(napi_env env, napi_callback_info info, size_t count, napi_value *argv, const char *message) {
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == count) return 1;
  napi_throw_type_error(env, NULL, message);
  return 0;
}

enum { ARGUMENTS = 19 };

/*
 * scanRecords(io, buffer, interfaces, slots, words, slotByIndex, clientAddresses, timeSec, client,
 * srcPort, version, mode, reply, replyIpBytes, transmitKey, prevPending, udpPorts, tcpPorts, otherSlots)
 */
static napi_value scan_records(napi_env env, napi_callback_info info) {
  napi_value argv[ARGUMENTS];
  if (!exact_arguments(env, info, ARGUMENTS, argv, "scanRecords: expected 19 arguments")) return NULL;
  Scan s;
  size_t io_length, buffer_length, interfaces_length, slots_length, other_slots_length, time_length, length;
  void *data;
#define ARRAY(i, type, field, length_out, name)                                 \
  if (!typed_array(env, argv[i], type, &data, &length_out, "scanRecords: " name)) return NULL; \
  s.field = data;
  ARRAY(0, napi_float64_array, io, io_length, "io")
  ARRAY(1, napi_uint8_array, buffer, buffer_length, "buffer")
  ARRAY(2, napi_float64_array, interfaces, interfaces_length, "interfaces")
  ARRAY(3, napi_uint32_array, slots, slots_length, "slots")
  ARRAY(4, napi_uint32_array, words, s.words_length, "words")
  ARRAY(5, napi_uint32_array, slot_by_index, s.slot_by_index_length, "slotByIndex")
  ARRAY(6, napi_uint32_array, client_addresses, s.client_capacity, "clientAddresses")
  ARRAY(7, napi_float64_array, time_sec, time_length, "timeSec")
  ARRAY(8, napi_uint32_array, client, length, "client")
  ARRAY(9, napi_uint16_array, src_port, length, "srcPort")
  ARRAY(10, napi_uint8_array, version, length, "version")
  ARRAY(11, napi_uint8_array, mode, length, "mode")
  ARRAY(12, napi_uint8_array, reply, length, "reply")
  ARRAY(13, napi_uint16_array, reply_ip_bytes, length, "replyIpBytes")
  ARRAY(14, napi_uint32_array, transmit_key, length, "transmitKey")
  ARRAY(15, napi_int32_array, prev_pending, length, "prevPending")
  ARRAY(16, napi_float64_array, udp_ports, length, "udpPorts")
  ARRAY(17, napi_float64_array, tcp_ports, length, "tcpPorts")
  ARRAY(18, napi_uint32_array, other_slots, other_slots_length, "otherSlots")
#undef ARRAY
  if (io_length != IO_SIZE) {
    napi_throw_range_error(env, NULL, "scanRecords: io has the wrong length");
    return NULL;
  }
  s.interface_count = interfaces_length / 3;
  s.request_capacity = time_length;
  s.mask = (uint32_t)s.io[IO_TABLE_MASK];
  s.count = (uint32_t)s.io[IO_TABLE_COUNT];
  s.client_count = (uint32_t)s.io[IO_CLIENT_COUNT];
  s.request_count = (uint32_t)s.io[IO_REQUEST_COUNT];
  s.other_mask = (uint32_t)s.io[IO_OTHER_MASK];
  s.other_count = (uint32_t)s.io[IO_OTHER_COUNT];
  if (((size_t)s.mask + 1) * SLOT_WORDS != slots_length || ((size_t)s.other_mask + 1) * OTHER_SLOT_WORDS != other_slots_length ||
      s.io[IO_END] > buffer_length || s.io[IO_START] > s.io[IO_END]) {
    napi_throw_range_error(env, NULL, "scanRecords: io disagrees with the arrays");
    return NULL;
  }
  scan(&s);
  return NULL;
}

/* Transparent huge pages come in 2 MiB pages, on 2 MiB boundaries. */
#define HUGE_PAGE_BYTES ((uintptr_t)2 << 20)

enum { GROUP_ARGUMENTS = 15 };

/* Below this many rows groupRows scatters on the calling thread alone. */
#define GROUP_THREAD_MIN_ROWS 65536

/* One scatter pass of groupRows over some of the columns: those whose pointers are set. */
typedef struct {
  size_t count;
  const uint32_t *client;
  const uint32_t *start;
  size_t groups;
  const double *time_sec;
  const uint16_t *src_port, *reply_ip_bytes;
  const uint8_t *reply, *version, *mode;
  double *out_time_sec;
  uint16_t *out_src_port, *out_reply_ip_bytes;
  uint8_t *out_reply, *out_version, *out_mode;
  int failed;
} GroupPass;

static void *group_pass(void *argument) {
  GroupPass *pass = argument;
  // Each client's next free row; start itself stays as the groups' bounds.
  uint32_t *cursor = malloc(pass->groups * sizeof *cursor + 1);
  if (!cursor) {
    pass->failed = 1;
    return NULL;
  }
  memcpy(cursor, pass->start, pass->groups * sizeof *cursor);
  const uint32_t *client = pass->client;
  if (pass->time_sec) {
    const double *time_sec = pass->time_sec;
    double *out_time_sec = pass->out_time_sec;
    for (size_t i = 0; i < pass->count; i++) out_time_sec[cursor[client[i]]++] = time_sec[i];
  } else {
    const uint16_t *src_port = pass->src_port, *reply_ip_bytes = pass->reply_ip_bytes;
    const uint8_t *reply = pass->reply, *version = pass->version, *mode = pass->mode;
    uint16_t *out_src_port = pass->out_src_port, *out_reply_ip_bytes = pass->out_reply_ip_bytes;
    uint8_t *out_reply = pass->out_reply, *out_version = pass->out_version, *out_mode = pass->out_mode;
    // The five narrow columns travel packed in one word per row: a scatter's write nearly always misses the cache
    // (each client's next row is elsewhere), so one write per row instead of five; the words are then unpacked in
    // order. Huge pages are asked for: a fresh 4 KiB page costs a fault (see adviseHugePages).
    uint64_t *packed = NULL;
    const size_t packed_bytes = (pass->count * sizeof *packed + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    if (pass->count > 0 && posix_memalign((void **)&packed, HUGE_PAGE_BYTES, packed_bytes) != 0) packed = NULL;
    if (packed) {
      madvise(packed, packed_bytes, MADV_HUGEPAGE);
      for (size_t i = 0; i < pass->count; i++)
        packed[cursor[client[i]]++] = (uint64_t)src_port[i] | (uint64_t)reply_ip_bytes[i] << 16 |
                                      (uint64_t)reply[i] << 32 | (uint64_t)version[i] << 40 | (uint64_t)mode[i] << 48;
      for (size_t row = 0; row < pass->count; row++) {
        const uint64_t word = packed[row];
        out_src_port[row] = (uint16_t)word;
        out_reply_ip_bytes[row] = (uint16_t)(word >> 16);
        out_reply[row] = (uint8_t)(word >> 32);
        out_version[row] = (uint8_t)(word >> 40);
        out_mode[row] = (uint8_t)(word >> 48);
      }
      free(packed);
    } else {
      for (size_t i = 0; i < pass->count; i++) {
        const uint32_t row = cursor[client[i]]++;
        out_src_port[row] = src_port[i];
        out_reply[row] = reply[i];
        out_version[row] = version[i];
        out_mode[row] = mode[i];
        out_reply_ip_bytes[row] = reply_ip_bytes[i];
      }
    }
  }
  free(cursor);
  return NULL;
}

/*
 * groupRows(count, client, timeSec, srcPort, reply, version, mode, replyIpBytes,
 *           start, groupedTimeSec, groupedSrcPort, groupedReply, groupedVersion, groupedMode, groupedReplyIpBytes)
 *
 * The request log grouped by client with a counting sort, as groupByClient (src/behaviour/group.ts) does it:
 * client c's rows land in [start[c], start[c + 1]) of the grouped columns, in capture order. `start` (one longer
 * than the clients) must be zero; every grouped column holds `count` rows.
 */
static napi_value group_rows(napi_env env, napi_callback_info info) {
  napi_value argv[GROUP_ARGUMENTS];
  if (!exact_arguments(env, info, GROUP_ARGUMENTS, argv, "groupRows: expected 15 arguments")) return NULL;
  double count_value;
  if (napi_get_value_double(env, argv[0], &count_value) != napi_ok || !(count_value >= 0)) {
    napi_throw_type_error(env, NULL, "groupRows: count must be a number");
    return NULL;
  }
  const size_t count = (size_t)count_value;
  static const napi_typedarray_type TYPES[GROUP_ARGUMENTS - 1] = {
      napi_uint32_array, napi_float64_array, napi_uint16_array, napi_uint8_array, napi_uint8_array, napi_uint8_array, napi_uint16_array,
      napi_uint32_array, napi_float64_array, napi_uint16_array, napi_uint8_array, napi_uint8_array, napi_uint8_array, napi_uint16_array,
  };
  static const char *NAMES[GROUP_ARGUMENTS - 1] = {
      "groupRows: client", "groupRows: timeSec", "groupRows: srcPort", "groupRows: reply", "groupRows: version",
      "groupRows: mode", "groupRows: replyIpBytes", "groupRows: start", "groupRows: groupedTimeSec",
      "groupRows: groupedSrcPort", "groupRows: groupedReply", "groupRows: groupedVersion", "groupRows: groupedMode",
      "groupRows: groupedReplyIpBytes",
  };
  void *data[GROUP_ARGUMENTS - 1];
  size_t lengths[GROUP_ARGUMENTS - 1];
  for (int i = 0; i < GROUP_ARGUMENTS - 1; i++) {
    if (!typed_array(env, argv[i + 1], TYPES[i], &data[i], &lengths[i], NAMES[i])) return NULL;
    // The log's columns hold at least `count` rows; the grouped ones exactly `count`.
    if ((i < 7 && lengths[i] < count) || (i > 7 && lengths[i] != count)) {
      napi_throw_range_error(env, NULL, "groupRows: a column is shorter than count");
      return NULL;
    }
  }
  const uint32_t *client = data[0];
  const double *time_sec = data[1];
  const uint16_t *src_port = data[2];
  const uint8_t *reply = data[3], *version = data[4], *mode = data[5];
  const uint16_t *reply_ip_bytes = data[6];
  uint32_t *start = data[7];
  const size_t groups = lengths[7] - 1;
  double *out_time_sec = data[8];
  uint16_t *out_src_port = data[9];
  uint8_t *out_reply = data[10], *out_version = data[11], *out_mode = data[12];
  uint16_t *out_reply_ip_bytes = data[13];
  if (lengths[7] == 0) {
    napi_throw_range_error(env, NULL, "groupRows: start is empty");
    return NULL;
  }
  for (size_t i = 0; i < count; i++) {
    if (client[i] >= groups) {
      napi_throw_range_error(env, NULL, "groupRows: a row's client is past start");
      return NULL;
    }
    start[client[i] + 1]++;
  }
  for (size_t g = 0; g < groups; g++) start[g + 1] += start[g];
  // The rows are scattered twice over, side by side: the time column on a thread of its own, the others here. Each
  // pass writes its own columns in the same order, so the result is one pass's, whichever finishes first.
  GroupPass passes[2] = {
      {.count = count, .client = client, .start = start, .groups = groups, .time_sec = time_sec,
       .out_time_sec = out_time_sec},
      {.count = count, .client = client, .start = start, .groups = groups, .src_port = src_port, .reply = reply,
       .version = version, .mode = mode, .reply_ip_bytes = reply_ip_bytes, .out_src_port = out_src_port,
       .out_reply = out_reply, .out_version = out_version, .out_mode = out_mode,
       .out_reply_ip_bytes = out_reply_ip_bytes},
  };
  pthread_t thread;
  // Too few rows to pay for a thread, or no thread to be had: both passes here.
  const int threaded = count >= GROUP_THREAD_MIN_ROWS && pthread_create(&thread, NULL, group_pass, &passes[0]) == 0;
  if (!threaded) group_pass(&passes[0]);
  group_pass(&passes[1]);
  if (threaded) pthread_join(thread, NULL);
  if (passes[0].failed || passes[1].failed) {
    napi_throw_error(env, NULL, "groupRows: out of memory");
    return NULL;
  }
  return NULL;
}

/*
 * adviseHugePages(...arrays): asks the kernel for transparent huge pages under each typed array (madvise
 * MADV_HUGEPAGE over the whole 2 MiB pages inside it), before its memory is first written. Where THP is "madvise"
 * (Debian's default), a large new array otherwise costs a page fault every 4 KiB as it fills: 25,000 faults for the
 * incident-size capture's request log alone. Advice only: an array too small, or a kernel that declines, changes
 * nothing but the speed.
 */
static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  napi_value argv[16];
  size_t argc = 16;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  for (size_t i = 0; i < argc && i < 16; i++) {
    bool is_typed_array = false;
    napi_typedarray_type type;
    size_t length;
    void *data;
    if (napi_is_typedarray(env, argv[i], &is_typed_array) != napi_ok || !is_typed_array) continue;
    if (napi_get_typedarray_info(env, argv[i], &type, &length, &data, NULL, NULL) != napi_ok || !data) continue;
    size_t element = type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8
                     : type == napi_uint32_array || type == napi_int32_array || type == napi_float32_array    ? 4
                     : type == napi_uint16_array || type == napi_int16_array                                  ? 2
                                                                                                              : 1;
    uintptr_t from = ((uintptr_t)data + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    uintptr_t to = ((uintptr_t)data + length * element) & ~(HUGE_PAGE_BYTES - 1);
    if (to > from) madvise((void *)from, to - from, MADV_HUGEPAGE);
  }
  return NULL;
}

/*
 * The limiter replays of src/ratelimit/limiters.ts (classic ntpd's, ntpsec's and chrony's), decision for decision and tallied as
 * tallyDecisions tallies them: the JavaScript limiters stay the oracle (test/ratelimit/native-replay.test.ts compares
 * both on random logs) and the fallback. Every line mirrors one of limiters.ts, in the same double arithmetic; chrony's
 * random streams are the same mulberry32 generators, their states read from and written back to JavaScript, so a
 * replay fed a client range at a time goes on where the last range stopped.
 */
enum { DECIDE_DROP = 0, DECIDE_ANSWER = 1, DECIDE_KOD = 2 };
enum { REPLAY_NTPD = 0, REPLAY_CHRONY = 1, REPLAY_NTPSEC = 2 };
/*
 * ntpsec's score decays by e^x, and the replay must take JavaScript's Math.exp, which is V8's own exp (an fdlibm port,
 * not the C library's, whose last bit can differ): Node exports it to addons. Weak, so that an addon loaded by a
 * Node.js without it still loads, and leaves ntpsec's replay to JavaScript (the module's replaysNtpsec is false).
 */
extern double _ZN2v84base7ieee7543expEd(double) __attribute__((weak));
#define V8_EXP _ZN2v84base7ieee7543expEd
/* The params array: ntpd's, then chrony's (chronyBucket's geometry and the masks, as limiters.ts derives them). */
enum { NTPD_HEAD, NTPD_LIMIT, NTPD_MINIMUM, NTPD_KOD };
enum { NTPSEC_AVERAGE, NTPSEC_BURST, NTPSEC_KOD_RATE, NTPSEC_KOD, NTPSEC_BUMP, NTPSEC_PARAMS };
enum { CHRONY_MAX_TOKENS, CHRONY_SHIFT, CHRONY_TOKENS_PER_HIT, CHRONY_LEAK_MASK, CHRONY_KOD_MASK, CHRONY_SHIFT_SCALE,
       CHRONY_TICK_OFFSET, CHRONY_PARAMS };
/* The sums array: added to, as a ReplayTally's totals. */
enum { SUM_ANSWERED, SUM_KODS, SUM_ANSWERED_BYTES, SUM_KOD_BYTES };
enum { CHRONY_INVALID_RATE = -128, CHRONY_MAX_HALVINGS = 18 };

/* seededRandom's mulberry32 step: the next 32-bit output (JavaScript's Math.floor(random() * 2 ** 32)). */
static inline uint32_t mulberry32(uint32_t *state) {
  uint32_t t = *state += 0x6d2b79f5u;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return t ^ (t >> 14);
}

/* JavaScript's Math.max(0, x) and Math.min(x, y), NaN included (a time the capture cannot have, but the oracle's). */
static inline double js_max0(double x) { return x != x ? x : x > 0 ? x : 0; }
static inline double js_min(double x, double y) { return x != x || y != y ? NAN : x < y ? x : y; }
/* An Int32Array's store of a double: ToInt32 (NaN and the infinities are 0, else modulo 2^32). */
static inline int32_t to_int32(double x) {
  if (x >= -2147483648.0 && x <= 2147483647.0) return (int32_t)x;
  if (!isfinite(x)) return 0;
  return (int32_t)(uint32_t)(int64_t)fmod(trunc(x), 4294967296.0);
}

typedef struct {
  const double *params;
  double *last, *leak;
  int32_t *tokens;
  int16_t *rate, *timeout_rate;
  uint8_t *dropped;
  uint32_t *random, *kod_random;
} Replay;

static inline int ntpd_decide(const Replay *r, size_t client, double time_sec) {
  const double head = r->params[NTPD_HEAD], limit = r->params[NTPD_LIMIT];
  const double previous = r->last[client];
  r->last[client] = time_sec;
  if (previous != previous) {
    r->leak[client] = 0;
    return DECIDE_ANSWER;
  }
  const double interval = floor(js_max0(time_sec - previous) + 0.5);
  const double drained = js_max0(r->leak[client] - interval);
  if (interval + 1 >= r->params[NTPD_MINIMUM] && drained + head < limit) {
    r->leak[client] = drained + head - 2;
    return DECIDE_ANSWER;
  }
  if (drained < limit) {
    r->leak[client] = limit + head;
    return r->params[NTPD_KOD] != 0 ? DECIDE_KOD : DECIDE_DROP;
  }
  r->leak[client] = drained;
  return DECIDE_DROP;
}

/* ntpsec: `leak` holds each client's score. */
static inline int ntpsec_decide(const Replay *r, size_t client, double time_sec) {
  const double previous = r->last[client];
  r->last[client] = time_sec;
  const double decayed =
      previous != previous ? 0 : r->leak[client] * V8_EXP(-js_max0(time_sec - previous) / r->params[NTPSEC_BURST]);
  const double current = decayed + r->params[NTPSEC_BUMP];
  r->leak[client] = current;
  const double average = r->params[NTPSEC_AVERAGE];
  if (current < average) return DECIDE_ANSWER;
  return r->params[NTPSEC_KOD] != 0 && current <= average + r->params[NTPSEC_KOD_RATE] ? DECIDE_KOD : DECIDE_DROP;
}

static inline void chrony_update(const Replay *r, size_t client, double now) {
  const double max_tokens = r->params[CHRONY_MAX_TOKENS], shift = r->params[CHRONY_SHIFT];
  const double previous = r->last[client];
  r->last[client] = now;
  if (previous != previous) {
    r->tokens[client] = to_int32(max_tokens);
    return;
  }
  const double interval = now - previous;
  if (interval < 0) return;
  double added;
  if (shift >= 0) {
    const double scale = r->params[CHRONY_SHIFT_SCALE];
    added = floor(now / scale) - floor(previous / scale);
  } else {
    added = interval > max_tokens ? max_tokens : interval * pow(2, -shift);
  }
  r->tokens[client] = to_int32(js_min(r->tokens[client] + added, max_tokens));
  int interval2;
  if (interval > 0) {
    const double scaled = interval + floor(interval / 2);
    int halvings = CHRONY_MAX_HALVINGS;
    // 31 - Math.clz32(scaled); scaled is at least 1 here (interval is a whole number of ticks).
    if (scaled < 2147483648.0) halvings = 31 - __builtin_clz((uint32_t)scaled);
    interval2 = -16 + 4 * (halvings < CHRONY_MAX_HALVINGS ? halvings : CHRONY_MAX_HALVINGS);
  } else {
    interval2 = -20;
  }
  int16_t *rates = r->dropped[client] ? r->timeout_rate : r->rate;
  const int current = rates[client], target = -interval2;
  if (current == CHRONY_INVALID_RATE) rates[client] = (int16_t)target;
  else if (current < target) rates[client] = (int16_t)(current + 1);
  else if (current > target) rates[client] = (int16_t)(current > 10 + target ? 10 + target : (current + target - 1) / 2);
}

static inline int chrony_decide(const Replay *r, size_t client, double time_sec) {
  chrony_update(r, client, floor((time_sec + r->params[CHRONY_TICK_OFFSET]) * 16));
  r->dropped[client] = 0;
  const double per_hit = r->params[CHRONY_TOKENS_PER_HIT];
  if (r->tokens[client] >= per_hit) {
    r->tokens[client] = to_int32(r->tokens[client] - per_hit);
    return DECIDE_ANSWER;
  }
  int drop = (mulberry32(r->random) & (uint32_t)to_int32(r->params[CHRONY_LEAK_MASK])) != 0;
  if (r->timeout_rate[client] != CHRONY_INVALID_RATE && r->timeout_rate[client] > r->rate[client] + 4) drop = !drop;
  if (!drop) {
    r->tokens[client] = 0;
    return DECIDE_ANSWER;
  }
  r->dropped[client] = 1;
  const double kod_mask = r->params[CHRONY_KOD_MASK];
  if (kod_mask >= 0 && (mulberry32(r->kod_random) & (uint32_t)to_int32(kod_mask)) == 0) return DECIDE_KOD;
  return DECIDE_DROP;
}

#define REPLAY_ARGUMENTS 18
/*
 * replayLimiter(algorithm, params, start, timeSec, served, bytes, firstClient, last, leak, tokens, rate, timeoutRate,
 * dropped, randomState, kodRandomState, answeredPerClient, kodsPerClient, sums): decides every request of the grouped
 * time requests (group c, rows [start[c], start[c + 1]), is client firstClient + c) through the limiter whose state the
 * arrays hold, and tallies what it would send for the requests the server answered (served != 0), per client and in
 * sums. ntpd uses last and leak; ntpsec last and leak (its score); chrony last (its ticks), tokens, rate, timeoutRate,
 * dropped and both random states.
 */
static napi_value replay_limiter(napi_env env, napi_callback_info info) {
  napi_value argv[REPLAY_ARGUMENTS];
  if (!exact_arguments(env, info, REPLAY_ARGUMENTS, argv, "replayLimiter: expected 18 arguments")) return NULL;
  double algorithm, first_value;
  if (napi_get_value_double(env, argv[0], &algorithm) != napi_ok || napi_get_value_double(env, argv[6], &first_value) != napi_ok ||
      !(algorithm == REPLAY_NTPD || algorithm == REPLAY_CHRONY || (algorithm == REPLAY_NTPSEC && V8_EXP)) ||
      !(first_value >= 0)) {
    napi_throw_type_error(env, NULL, "replayLimiter: algorithm and firstClient must be numbers");
    return NULL;
  }
  static const int INDEX[REPLAY_ARGUMENTS - 2] = {1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
  static const napi_typedarray_type TYPES[REPLAY_ARGUMENTS - 2] = {
      napi_float64_array, napi_uint32_array, napi_float64_array, napi_uint8_array, napi_uint16_array, napi_float64_array,
      napi_float64_array, napi_int32_array, napi_int16_array, napi_int16_array, napi_uint8_array, napi_uint32_array,
      napi_uint32_array, napi_uint32_array, napi_uint32_array, napi_float64_array,
  };
  static const char *NAMES[REPLAY_ARGUMENTS - 2] = {
      "replayLimiter: params", "replayLimiter: start", "replayLimiter: timeSec", "replayLimiter: served",
      "replayLimiter: bytes", "replayLimiter: last", "replayLimiter: leak", "replayLimiter: tokens",
      "replayLimiter: rate", "replayLimiter: timeoutRate", "replayLimiter: dropped", "replayLimiter: randomState",
      "replayLimiter: kodRandomState", "replayLimiter: answeredPerClient", "replayLimiter: kodsPerClient",
      "replayLimiter: sums",
  };
  void *data[REPLAY_ARGUMENTS - 2];
  size_t lengths[REPLAY_ARGUMENTS - 2];
  for (int i = 0; i < REPLAY_ARGUMENTS - 2; i++)
    if (!typed_array(env, argv[INDEX[i]], TYPES[i], &data[i], &lengths[i], NAMES[i])) return NULL;
  const int chrony = algorithm == REPLAY_CHRONY, ntpsec = algorithm == REPLAY_NTPSEC;
  const uint32_t *start = data[1];
  const double *time_sec = data[2];
  const uint8_t *served = data[3];
  const uint16_t *bytes = data[4];
  const size_t groups = lengths[1] == 0 ? 0 : lengths[1] - 1, rows = groups == 0 ? 0 : start[groups];
  const size_t first = (size_t)first_value, end = first + groups, clients = lengths[5];
  int fits = lengths[0] >= (chrony ? CHRONY_PARAMS : ntpsec ? NTPSEC_PARAMS : NTPD_KOD + 1) && lengths[2] >= rows && lengths[3] >= rows &&
             lengths[4] >= rows && lengths[15] >= 4 && end <= clients && lengths[13] >= clients && lengths[14] >= clients;
  if (chrony)
    fits = fits && lengths[7] >= clients && lengths[8] >= clients && lengths[9] >= clients && lengths[10] >= clients &&
           lengths[11] >= 1 && lengths[12] >= 1;
  else
    fits = fits && lengths[6] >= clients;
  for (size_t c = 0; fits && c < groups; c++) fits = start[c] <= start[c + 1];
  if (!fits) {
    napi_throw_range_error(env, NULL, "replayLimiter: an array is shorter than the groups or clients need");
    return NULL;
  }
  const Replay r = {data[0], data[5], data[6], data[7], data[8], data[9], data[10], data[11], data[12]};
  uint32_t *answered_per_client = data[13], *kods_per_client = data[14];
  double *sums = data[15];
  double answered_bytes = sums[SUM_ANSWERED_BYTES], kod_bytes = sums[SUM_KOD_BYTES];
  for (size_t c = 0; c < groups; c++) {
    const size_t client = first + c;
    uint32_t answered = 0, kods = 0;
    for (size_t row = start[c]; row < start[c + 1]; row++) {
      const int decision = chrony   ? chrony_decide(&r, client, time_sec[row])
                           : ntpsec ? ntpsec_decide(&r, client, time_sec[row])
                                    : ntpd_decide(&r, client, time_sec[row]);
      // The server sent nothing for this request (a drop, a loss, a pause): nor can a replay of it.
      if (served[row] == DECIDE_DROP) continue;
      if (decision == DECIDE_ANSWER) {
        answered++;
        answered_bytes += bytes[row];
      } else if (decision == DECIDE_KOD) {
        kods++;
        kod_bytes += bytes[row];
      }
    }
    answered_per_client[client] = answered;
    kods_per_client[client] = kods;
    sums[SUM_ANSWERED] += answered;
    sums[SUM_KODS] += kods;
  }
  sums[SUM_ANSWERED_BYTES] = answered_bytes;
  sums[SUM_KOD_BYTES] = kod_bytes;
  return NULL;
}

/* The io slots by name, for JavaScript (NativeIoLayout in src/pcap/native.ts). */
static const struct {
  const char *name;
  int index;
} IO_NAMES[] = {
  {"start", IO_START}, {"end", IO_END}, {"records", IO_RECORDS}, {"pcapng", IO_PCAPNG}, {"littleEndian", IO_LITTLE_ENDIAN},
  {"unitsPerSecond", IO_UNITS_PER_SECOND}, {"maxCaplen", IO_MAX_CAPLEN}, {"linkType", IO_LINK_TYPE}, {"hasHost", IO_HAS_HOST},
  {"host0", IO_HOST0}, {"hostIndex", IO_HOST_INDEX}, {"ntpPort", IO_NTP_PORT}, {"keepOrphans", IO_KEEP_ORPHANS},
  {"tableMask", IO_TABLE_MASK}, {"tableCount", IO_TABLE_COUNT}, {"clientCount", IO_CLIENT_COUNT}, {"requestCount", IO_REQUEST_COUNT},
  {"firstSec", IO_FIRST_SEC}, {"lastSec", IO_LAST_SEC}, {"lastTime", IO_LAST_TIME}, {"totals", IO_TOTALS},
  {"ntpResponses", IO_NTP_RESPONSES}, {"otherPackets", IO_OTHER_PACKETS}, {"ipv4Packets", IO_IPV4_PACKETS},
  {"snappedPackets", IO_SNAPPED_PACKETS}, {"vxlanPort", IO_VXLAN_PORT}, {"ipv6Packets", IO_IPV6_PACKETS},
  {"otherMask", IO_OTHER_MASK}, {"otherCount", IO_OTHER_COUNT}, {"probeLimit", IO_PROBE_LIMIT}, {"size", IO_SIZE},
};

NAPI_MODULE_INIT() {
  napi_value function, layout, index;
  if (napi_create_function(env, "scanRecords", NAPI_AUTO_LENGTH, scan_records, NULL, &function) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "scanRecords", function) != napi_ok) return NULL;
  if (napi_create_function(env, "groupRows", NAPI_AUTO_LENGTH, group_rows, NULL, &function) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "groupRows", function) != napi_ok) return NULL;
  if (napi_create_function(env, "replayLimiter", NAPI_AUTO_LENGTH, replay_limiter, NULL, &function) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "replayLimiter", function) != napi_ok) return NULL;
  if (napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, advise_huge_pages, NULL, &function) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "adviseHugePages", function) != napi_ok) return NULL;
  napi_value replays_ntpsec;
  if (napi_get_boolean(env, V8_EXP != NULL, &replays_ntpsec) != napi_ok ||
      napi_set_named_property(env, exports, "replaysNtpsec", replays_ntpsec) != napi_ok)
    return NULL;
  if (napi_create_object(env, &layout) != napi_ok) return NULL;
  for (size_t i = 0; i < sizeof IO_NAMES / sizeof IO_NAMES[0]; i++) {
    if (napi_create_int32(env, IO_NAMES[i].index, &index) != napi_ok || napi_set_named_property(env, layout, IO_NAMES[i].name, index) != napi_ok) return NULL;
  }
  if (napi_set_named_property(env, exports, "io", layout) != napi_ok) return NULL;
  if (!register_vpc(env, exports)) return NULL;
  return exports;
}
