/*
 * The native fast path of a VPC Flow Logs text scan (src/store/flow-scan.ts): the same roll-up as its DuckDB query
 * (the daily series per day, interface and packed key; the per-client totals per calendar month, interface, packed
 * key and client), fed the file's content chunk by chunk in the pass that hashes it, so the file is read once.
 *
 * It takes only records whose meaning is certain and gives up (vpcFeed returns false) at the first one that is
 * not: a field count other than the format's, an empty field, a byte outside printable ASCII, a CR, a blank line,
 * a number that is not 1-18 digits or '-', a log-status other than OK, NODATA or SKIPDATA, an action other than
 * ACCEPT, REJECT or '-', a traffic record without bytes, end or protocol, a record without end, a protocol above 255
 * or a port above 65535. The caller then runs the DuckDB scan, which reads, judges and names the record as before:
 * only unusual files pay for a second read. Every rule mirrors a line of flow-scan.ts and src/flows/attribution.ts.
 *
 * Rows are written as space-separated text: the per-client totals to the file named (month as days since 1970, code,
 * interface, client, bytes, packets, records), the daily series beside it, to NAME.days (day, code, interface,
 * account or empty, bytes, packets, records). When the tables outgrow their bound (a file of many clients) they are
 * written out and emptied, the memory bounded whatever the file: the daily rows as text (the store sums them again),
 * the per-client rows into PARTS partition files by key (fixed-size rows naming their strings by id), each then
 * summed on its own. The strings are kept for the whole file, up to ARENA_BOUND; a file with more is left to DuckDB.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpc.h"

/* Field roles: their indexes in the format, -1 when absent (the config Int32Array, after nfields and header). */
enum {
  F_ACCOUNT, F_INTERFACE, F_INSTANCE, F_SRC, F_DST, F_PKT_SRC, F_PKT_DST, F_SPORT, F_DPORT, F_PROTO, F_PACKETS,
  F_BYTES, F_START, F_END, F_ACTION, F_STATUS, F_DIRECTION, F_ROLES
};

#define NONE UINT32_MAX
#define MAX_FIELDS 256
#define MAX_LINE (1 << 20)
#define DAY_UNIT (1LL << 30)
#define BATCH 16
/* Partition files of a file with more client groups than the bound. */
#define PARTS 8
/*
 * The interned strings kept at most (interfaces, accounts, clients: ~6 million distinct addresses). They
 * live for the whole file, so a spilled row names them by id; a file with more is left to DuckDB's scan, which spills.
 */
#define ARENA_BOUND (128u << 20)

typedef struct {
  uint64_t hash;
  uint32_t offset, length;
} DictSlot;

typedef struct {
  uint64_t day_code;
  uint32_t iface, account;
  uint64_t bytes, packets, records;
} DaySlot;

typedef struct {
  uint32_t code, client;
  int32_t month;
  uint32_t iface;
  uint64_t bytes, packets, records;
} ClientSlot;

typedef struct {
  int32_t nfields, header;
  int32_t role[F_ROLES];
  /* Role of each field index, or -1. */
  int8_t role_of[MAX_FIELDS];
  int failed, line_one_done;
  FILE *out, *out_days;
  char *out_buffer;
  uint64_t records;
  /* Strings (interfaces, accounts, clients), interned: each after its length (4 bytes) and before a NUL. */
  char *arena;
  size_t arena_length, arena_capacity;
  DictSlot *dict;
  uint32_t dict_mask, dict_count;
  DaySlot *days;
  uint32_t day_mask, day_count;
  ClientSlot *clients;
  uint32_t client_mask, client_count;
  uint32_t client_bound;
  /* The part of a line a chunk ended in. */
  char *carry;
  size_t carry_length;
  /* One output row: three strings of a line at most, and numbers. */
  char *row;
  /* The last interface and account interned, and the month of the last day seen. */
  uint32_t iface_memo, account_memo;
  int64_t month_of_day;
  int32_t month;
  /* Whole lines of the chunk, waiting for their batch. */
  const char *lines[BATCH];
  size_t lengths[BATCH];
  int pending;
  /* Where the rows go (and its partitions, `out_path`.0 …), whether they were written out part way. */
  char out_path[4096];
  FILE *parts[PARTS];
  int partitioned, daily_parts;
} Rollup;

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = mix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  return mix64(h ^ w ^ ((uint64_t)n << 56));
}

/* The roll-up's tables and strings are its state: without them it cannot go on, or hand its work back. */
static void *or_abort(void *p) {
  if (!p) {
    fprintf(stderr, "billwatch: out of memory in the flow-log roll-up\n");
    abort();
  }
  return p;
}

static void *zeroed(size_t count, size_t size) { return or_abort(calloc(count, size)); }

static void dict_grow(Rollup *r) {
  uint32_t mask = r->dict_mask * 2 + 1;
  DictSlot *slots = zeroed((size_t)mask + 1, sizeof(DictSlot));
  for (uint32_t i = 0; i <= r->dict_mask; i++) {
    DictSlot *s = &r->dict[i];
    if (s->length == 0) continue;
    uint32_t j = (uint32_t)s->hash & mask;
    while (slots[j].length != 0) j = (j + 1) & mask;
    slots[j] = *s;
  }
  free(r->dict);
  r->dict = slots;
  r->dict_mask = mask;
}

/* The string's id: its offset in the arena (stable for the whole file). Strings are never empty. */
static uint32_t intern(Rollup *r, const char *p, size_t n) {
  uint64_t h = hash_bytes(p, n);
  uint32_t j = (uint32_t)h & r->dict_mask;
  for (;;) {
    DictSlot *s = &r->dict[j];
    if (s->length == 0) break;
    if (s->hash == h && s->length == n && memcmp(r->arena + s->offset, p, n) == 0) return s->offset;
    j = (j + 1) & r->dict_mask;
  }
  if (r->arena_length + n + 5 > r->arena_capacity) {
    r->arena_capacity = (r->arena_capacity + n + 5) * 2;
    r->arena = or_abort(realloc(r->arena, r->arena_capacity));
  }
  uint32_t length = (uint32_t)n;
  memcpy(r->arena + r->arena_length, &length, 4);
  uint32_t offset = (uint32_t)r->arena_length + 4;
  memcpy(r->arena + offset, p, n);
  r->arena[offset + n] = 0;
  r->arena_length += n + 5;
  r->dict[j].hash = h;
  r->dict[j].offset = offset;
  r->dict[j].length = (uint32_t)n;
  if (++r->dict_count * 4 > (r->dict_mask + 1) * 3) dict_grow(r);
  return offset;
}

static void days_grow(Rollup *r) {
  uint32_t mask = r->day_mask * 2 + 1;
  DaySlot *slots = zeroed((size_t)mask + 1, sizeof(DaySlot));
  for (uint32_t i = 0; i <= r->day_mask; i++) {
    DaySlot *s = &r->days[i];
    if (s->records == 0) continue;
    uint32_t j = (uint32_t)mix64(s->day_code ^ ((uint64_t)s->iface << 40)) & mask;
    while (slots[j].records != 0) j = (j + 1) & mask;
    slots[j] = *s;
  }
  free(r->days);
  r->days = slots;
  r->day_mask = mask;
}

static uint32_t client_slot_of(const ClientSlot *s) {
  uint64_t key = ((uint64_t)s->code << 32 | s->client) ^ mix64((uint64_t)(uint32_t)s->month << 32 | s->iface);
  return (uint32_t)mix64(key);
}

static void clients_grow(Rollup *r) {
  uint32_t mask = r->client_mask * 2 + 1;
  ClientSlot *slots = zeroed((size_t)mask + 1, sizeof(ClientSlot));
  for (uint32_t i = 0; i <= r->client_mask; i++) {
    ClientSlot *s = &r->clients[i];
    if (s->records == 0) continue;
    uint32_t j = client_slot_of(s) & mask;
    while (slots[j].records != 0) j = (j + 1) & mask;
    slots[j] = *s;
  }
  free(r->clients);
  r->clients = slots;
  r->client_mask = mask;
}

/* Days since 1970-01-01 → y, m, d (proleptic Gregorian; H. Hinnant's civil_from_days). */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t year = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = year + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static char *put_u64(char *p, uint64_t v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = digits[--n];
  return p;
}


static char *put_string(Rollup *r, char *p, uint32_t id) {
  if (id == NONE) return p;
  uint32_t n;
  memcpy(&n, r->arena + id - 4, 4);
  memcpy(p, r->arena + id, n);
  return p + n;
}

/*
 * One text row, as the store reads both the daily and the per-client rows: two numbers (the day or month, and the
 * packed key), two interned strings (interface, and account or client), then the sums.
 */
static void write_row(Rollup *r, FILE *out, char *line, uint64_t first, uint64_t second, uint32_t text1,
                      uint32_t text2, uint64_t bytes, uint64_t packets, uint64_t records) {
  char *p = line;
  p = put_u64(p, first);
  *p++ = ' ';
  p = put_u64(p, second);
  *p++ = ' ';
  p = put_string(r, p, text1);
  *p++ = ' ';
  p = put_string(r, p, text2);
  *p++ = ' ';
  p = put_u64(p, bytes);
  *p++ = ' ';
  p = put_u64(p, packets);
  *p++ = ' ';
  p = put_u64(p, records);
  *p++ = '\n';
  fwrite(line, 1, (size_t)(p - line), out);
}

/* The per-client rows as text. */
static void write_clients(Rollup *r) {
  char *line = r->row;
  for (uint32_t i = 0; i <= r->client_mask; i++) {
    ClientSlot *s = &r->clients[i];
    if (s->records == 0) continue;
    write_row(r, r->out, line, (uint64_t)s->month, s->code, s->iface, s->client, s->bytes, s->packets, s->records);
  }
}

/* A per-client row spilled to a partition: the group, its strings by id (the dictionary outlives the flushes). */
typedef struct {
  int32_t month;
  uint32_t code, iface, client;
  uint64_t bytes, packets, records;
} Spilled;

/* The per-client rows into the partition files by their key's hash: each partition's groups are summed apart. */
static int spill_clients(Rollup *r) {
  for (int k = 0; k < PARTS; k++) {
    if (r->parts[k]) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s.%d", r->out_path, k);
    r->parts[k] = fopen(path, "w+b");
    if (!r->parts[k]) return 0;
  }
  r->partitioned = 1;
  for (uint32_t i = 0; i <= r->client_mask; i++) {
    ClientSlot *s = &r->clients[i];
    if (s->records == 0) continue;
    Spilled row = {s->month, s->code, s->iface, s->client, s->bytes, s->packets, s->records};
    /* Mixed again: the partition must not be the slot's low bits, or each partition's table would use an eighth. */
    FILE *f = r->parts[mix64(client_slot_of(s) ^ 0x9e3779b97f4a7c15ULL) % PARTS];
    fwrite(&row, sizeof row, 1, f);
  }
  return 1;
}

/* Empties the groups; the dictionary stays, so ids in spilled rows keep their strings. */
static void empty_tables(Rollup *r) {
  memset(r->days, 0, ((size_t)r->day_mask + 1) * sizeof(DaySlot));
  memset(r->clients, 0, ((size_t)r->client_mask + 1) * sizeof(ClientSlot));
  r->day_count = r->client_count = 0;
}

static void empty_clients(Rollup *r) {
  memset(r->clients, 0, ((size_t)r->client_mask + 1) * sizeof(ClientSlot));
  r->client_count = 0;
}

/*
 * Writes the daily rows (as text: few, summed again by the store when written in parts) and the per-client rows
 * (as text when this is the end of a file never written out before, else into the partitions), and empties the
 * tables. 0 when a partition file cannot be written.
 */
static int flush(Rollup *r, int final) {
  char *line = r->row;
  for (uint32_t i = 0; i <= r->day_mask; i++) {
    DaySlot *s = &r->days[i];
    if (s->records == 0) continue;
    write_row(r, r->out_days, line, s->day_code / DAY_UNIT - 1, s->day_code % DAY_UNIT, s->iface, s->account, s->bytes,
              s->packets, s->records);
  }
  int written = 1;
  if (final && !r->partitioned) write_clients(r);
  else written = spill_clients(r);
  if (!final) r->daily_parts = 1;
  empty_tables(r);
  return written;
}

static void add_client(Rollup *r, int32_t month, uint32_t code, uint32_t iface, uint32_t client, uint64_t bytes,
                       uint64_t packets, uint64_t records);

/*
 * Each partition's rows summed per group and written as text. A partition with more groups than the bound is
 * written in parts (the store sums them again): returns 2 then, 1 when every group is one row, 0 on a read error.
 */
static int merge_partitions(Rollup *r) {
  int parts = 1;
  for (int k = 0; k < PARTS; k++) {
    FILE *f = r->parts[k];
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) return 0;
    Spilled row;
    while (fread(&row, sizeof row, 1, f) == 1) {
      if (row.iface >= r->arena_length || row.client >= r->arena_length) return 0;
      add_client(r, row.month, row.code, row.iface, row.client, row.bytes, row.packets, row.records);
      if (r->client_count >= r->client_bound) {
        write_clients(r);
        empty_clients(r);
        parts = 2;
      }
    }
    if (ferror(f)) return 0;
    write_clients(r);
    empty_clients(r);
    fclose(f);
    r->parts[k] = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s.%d", r->out_path, k);
    remove(path);
  }
  return parts;
}

/* A printable ASCII byte other than space. */
static uint8_t PRINTABLE[256];

/* The number of a field: -1 for '-' (NULL), -2 when it is not 1-18 digits. */
static int64_t number(const char *p, size_t n) {
  if (n == 1 && p[0] == '-') return -1;
  if (n == 0 || n > 18) return -2;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned c = (unsigned char)p[i] - '0';
    if (c > 9) return -2;
    v = v * 10 + c;
  }
  return v;
}

static int is_null(const char *p, size_t n) { return n == 1 && p[0] == '-'; }

static int two_digits_in(const char *p, size_t n, size_t at, int low, int high) {
  if (at + 2 > n) return 0;
  unsigned a = (unsigned char)p[at] - '0', b = (unsigned char)p[at + 1] - '0';
  if (a > 9 || b > 9) return 0;
  int v = (int)(a * 10 + b);
  return v >= low && v <= high;
}

/*
 * The private-address test of src/flows/attribution.ts, character for character:
 * ^(10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|[fF][cdCD]|[fF][eE]80:)
 */
static int is_private(const char *p, size_t n) {
  if (n >= 2 && (p[0] | 0x20) == 'f') {
    char c = (char)(p[1] | 0x20);
    if (c == 'c' || c == 'd') return 1;
    if (c == 'e' && n >= 4 && p[2] == '8' && p[3] == '0' && n >= 5 && p[4] == ':') return 1;
    return 0;
  }
  if (n >= 3 && memcmp(p, "10.", 3) == 0) return 1;
  if (n >= 8 && memcmp(p, "192.168.", 8) == 0) return 1;
  if (n >= 8 && memcmp(p, "169.254.", 8) == 0) return 1;
  if (n >= 7 && memcmp(p, "172.", 4) == 0) return two_digits_in(p, n, 4, 16, 31) && p[6] == '.';
  if (n >= 4 && memcmp(p, "100.", 4) == 0) {
    if (n >= 7 && p[6] == '.' && two_digits_in(p, n, 4, 64, 99)) return 1;
    if (n >= 8 && p[7] == '.' && p[4] == '1') {
      unsigned a = (unsigned char)p[5] - '0', b = (unsigned char)p[6] - '0';
      if (a > 9 || b > 9) return 0;
      unsigned v = a * 10 + b;
      return v <= 27;
    }
  }
  return 0;
}

/* One record parsed: its keys and sums; the client's text still in the chunk (interned a batch later). */
typedef struct {
  uint64_t day_code, bytes, packets, client_hash;
  const char *client_text;
  size_t client_length;
  uint32_t code, iface, account, client;
  int32_t month;
  uint32_t day_slot, client_slot;
} Parsed;

/* A one-entry memo of a string's id (the interface and account of a file rarely change from record to record). */
static uint32_t intern_memo(Rollup *r, const char *p, size_t n, uint32_t *memo) {
  if (*memo != NONE) {
    const char *known = r->arena + *memo;
    if (strncmp(known, p, n) == 0 && known[n] == 0) return *memo;
  }
  *memo = intern(r, p, n);
  return *memo;
}

/* One record (no line end) into `out`. Returns 0 when the record is one to leave to DuckDB. */
static int parse(Rollup *r, const char *line, size_t length, Parsed *out) {
  const char *start[F_ROLES];
  size_t size[F_ROLES];
  for (int i = 0; i < F_ROLES; i++) start[i] = NULL, size[i] = 0;
  int field = 0;
  size_t token = 0;
  for (size_t i = 0; i <= length; i++) {
    if (i == length || line[i] == ' ') {
      if (i == token || field >= r->nfields) return 0;
      int role = r->role_of[field];
      if (role >= 0) start[role] = line + token, size[role] = i - token;
      field++;
      token = i + 1;
    } else if (!PRINTABLE[(unsigned char)line[i]]) {
      return 0;
    }
  }
  if (field != r->nfields) return 0;
#define TEXT_NULL(role) (start[role] == NULL || is_null(start[role], size[role]))
  int status = 0;
  if (start[F_STATUS]) {
    const char *s = start[F_STATUS];
    size_t n = size[F_STATUS];
    if (n == 2 && s[0] == 'O' && s[1] == 'K') status = 0;
    else if (n == 6 && memcmp(s, "NODATA", 6) == 0) status = 1;
    else if (n == 8 && memcmp(s, "SKIPDATA", 8) == 0) status = 2;
    else return 0;
  }
  int reject = 0;
  if (start[F_ACTION] && !is_null(start[F_ACTION], size[F_ACTION])) {
    const char *s = start[F_ACTION];
    size_t n = size[F_ACTION];
    if (n == 6 && memcmp(s, "REJECT", 6) == 0) reject = 1;
    else if (!(n == 6 && memcmp(s, "ACCEPT", 6) == 0)) return 0;
  }
  int64_t value[F_ROLES];
  static const int NUMBERS[] = {F_SPORT, F_DPORT, F_PROTO, F_PACKETS, F_BYTES, F_START, F_END};
  for (size_t k = 0; k < sizeof NUMBERS / sizeof NUMBERS[0]; k++) {
    int role = NUMBERS[k];
    value[role] = start[role] ? number(start[role], size[role]) : -1;
    if (value[role] == -2) return 0;
  }
  int ok = status == 0;
  /* An end before 1970 or after 9999 is DuckDB's to judge. */
  if (value[F_END] < 0 || value[F_END] > 253402300799LL) return 0;
  if (ok && (value[F_BYTES] < 0 || value[F_PROTO] < 0)) return 0;
  if (value[F_PROTO] > 255 || value[F_SPORT] > 65535 || value[F_DPORT] > 65535) return 0;
  /* The direction: 0 egress, 1 ingress, 2 internal, 3 unknown (a NULL address makes every test NULL: 3). */
  int dir = 3;
  if (r->role[F_DIRECTION] >= 0) {
    const char *s = start[F_DIRECTION];
    size_t n = size[F_DIRECTION];
    if (n == 6 && memcmp(s, "egress", 6) == 0) dir = 0;
    else if (n == 7 && memcmp(s, "ingress", 7) == 0) dir = 1;
  } else if (!TEXT_NULL(F_SRC) && !TEXT_NULL(F_DST)) {
    int sp = is_private(start[F_SRC], size[F_SRC]), dp = is_private(start[F_DST], size[F_DST]);
    dir = sp && !dp ? 0 : dp && !sp ? 1 : sp && dp ? 2 : 3;
  }
  int64_t proto = value[F_PROTO], sport = value[F_SPORT], dport = value[F_DPORT];
  int64_t port = -1;
  if (ok && (proto == 6 || proto == 17 || proto == 132)) {
    if (dir == 0) port = sport;
    else if (dir == 1) port = dport;
    else if (sport < 0) port = dport;
    else if (dport < 0 || dport > sport) port = sport;
    else port = dport;
  }
  uint64_t code = (uint64_t)dir + 4 * (uint64_t)reject + 8 * (uint64_t)status + 32 * (uint64_t)(ok ? proto : 0) +
                  8192 * (uint64_t)(port + 1);
  int64_t day_number = value[F_END] / 86400;
  out->code = (uint32_t)code;
  out->day_code = code + (uint64_t)DAY_UNIT * (uint64_t)(day_number + 1);
  out->bytes = ok ? (uint64_t)value[F_BYTES] : 0;
  out->packets = ok && value[F_PACKETS] >= 0 ? (uint64_t)value[F_PACKETS] : 0;
  if (!TEXT_NULL(F_INTERFACE)) out->iface = intern_memo(r, start[F_INTERFACE], size[F_INTERFACE], &r->iface_memo);
  else if (!TEXT_NULL(F_INSTANCE)) out->iface = intern_memo(r, start[F_INSTANCE], size[F_INSTANCE], &r->iface_memo);
  else out->iface = intern_memo(r, "unknown-interface", 17, &r->iface_memo);
  out->account = TEXT_NULL(F_ACCOUNT) ? NONE : intern_memo(r, start[F_ACCOUNT], size[F_ACCOUNT], &r->account_memo);
  out->client_text = NULL;
  /* The client: the peer of the interface's accepted traffic. */
  if (ok && !reject && (dir == 0 || dir == 1)) {
    int role = dir == 0 ? (TEXT_NULL(F_PKT_DST) ? F_DST : F_PKT_DST) : (TEXT_NULL(F_PKT_SRC) ? F_SRC : F_PKT_SRC);
    if (!TEXT_NULL(role)) {
      out->client_text = start[role];
      out->client_length = size[role];
      out->client_hash = hash_bytes(start[role], size[role]);
      __builtin_prefetch(&r->dict[(uint32_t)out->client_hash & r->dict_mask]);
      if (day_number != r->month_of_day) {
        int64_t y;
        unsigned m, d;
        civil(day_number, &y, &m, &d);
        r->month_of_day = day_number;
        r->month = (int32_t)days_from_civil(y, m, 1);
      }
      out->month = r->month;
    }
  }
  out->day_slot = (uint32_t)mix64(out->day_code ^ ((uint64_t)out->iface << 40));
  __builtin_prefetch(&r->days[out->day_slot & r->day_mask]);
  return 1;
#undef TEXT_NULL
}


/* The client's id (its hash known) and the slot its group hashes to, prefetched. */
static void intern_client(Rollup *r, Parsed *p) {
  if (!p->client_text) return;
  uint64_t h = p->client_hash;
  const char *text = p->client_text;
  size_t n = p->client_length;
  uint32_t j = (uint32_t)h & r->dict_mask;
  uint32_t id = NONE;
  for (;;) {
    DictSlot *s = &r->dict[j];
    if (s->length == 0) break;
    if (s->hash == h && s->length == n && memcmp(r->arena + s->offset, text, n) == 0) {
      id = s->offset;
      break;
    }
    j = (j + 1) & r->dict_mask;
  }
  p->client = id != NONE ? id : intern(r, text, n);
  ClientSlot probe = {.code = p->code, .client = p->client, .month = p->month, .iface = p->iface};
  p->client_slot = client_slot_of(&probe);
  __builtin_prefetch(&r->clients[p->client_slot & r->client_mask]);
}

/* Adds to the per-client group (its slot's hash known), or starts it. */
static void add_client_at(Rollup *r, uint32_t slot, int32_t month, uint32_t code, uint32_t iface, uint32_t client,
                          uint64_t bytes, uint64_t packets, uint64_t records) {
  uint32_t k = slot & r->client_mask;
  for (;;) {
    ClientSlot *s = &r->clients[k];
    if (s->records == 0) {
      s->code = code;
      s->client = client;
      s->month = month;
      s->iface = iface;
      s->bytes = bytes;
      s->packets = packets;
      s->records = records;
      if (++r->client_count * 4 > (r->client_mask + 1) * 3) clients_grow(r);
      return;
    }
    if (s->code == code && s->client == client && s->month == month && s->iface == iface) {
      s->bytes += bytes;
      s->packets += packets;
      s->records += records;
      return;
    }
    k = (k + 1) & r->client_mask;
  }
}

static void add_client(Rollup *r, int32_t month, uint32_t code, uint32_t iface, uint32_t client, uint64_t bytes,
                       uint64_t packets, uint64_t records) {
  ClientSlot probe = {.code = code, .client = client, .month = month, .iface = iface};
  add_client_at(r, client_slot_of(&probe), month, code, iface, client, bytes, packets, records);
}

static void apply(Rollup *r, const Parsed *p) {
  /* The daily series. */
  uint32_t j = p->day_slot & r->day_mask;
  for (;;) {
    DaySlot *s = &r->days[j];
    if (s->records == 0) {
      s->day_code = p->day_code;
      s->iface = p->iface;
      s->account = p->account;
      s->bytes = p->bytes;
      s->packets = p->packets;
      s->records = 1;
      if (++r->day_count * 4 > (r->day_mask + 1) * 3) days_grow(r);
      break;
    }
    if (s->day_code == p->day_code && s->iface == p->iface) {
      if (s->account == NONE) s->account = p->account;
      s->bytes += p->bytes;
      s->packets += p->packets;
      s->records++;
      break;
    }
    j = (j + 1) & r->day_mask;
  }
  if (p->client_text) add_client_at(r, p->client_slot, p->month, p->code, p->iface, p->client, p->bytes, p->packets, 1);
  r->records++;
}

/*
 * The lines of one batch, in three steps a batch apart, so each step's cache misses (the client's dictionary slot,
 * then its group's slot) are loaded while the other records are worked on: parse, intern the client, add.
 */
static int batch(Rollup *r, const char *const *lines, const size_t *lengths, int count) {
  Parsed parsed[BATCH];
  for (int i = 0; i < count; i++)
    if (!parse(r, lines[i], lengths[i], &parsed[i])) return 0;
  for (int i = 0; i < count; i++) intern_client(r, &parsed[i]);
  for (int i = 0; i < count; i++) apply(r, &parsed[i]);
  /* Bounded: a file of many groups is written out in parts; one of more distinct strings than the bound is DuckDB's. */
  if (r->arena_length >= ARENA_BOUND) return 0;
  if (r->client_count >= r->client_bound || r->day_count >= r->client_bound) return flush(r, 0);
  return 1;
}

static int drain(Rollup *r) {
  int count = r->pending;
  r->pending = 0;
  return count == 0 || batch(r, r->lines, r->lengths, count);
}

/* A line of the chunk being fed (or the carried one), into the next batch. */
static int line_of(Rollup *r, const char *line, size_t length) {
  if (!r->line_one_done) {
    r->line_one_done = 1;
    if (r->header) return 1;
  }
  if (length == 0) return 0;
  r->lines[r->pending] = line;
  r->lengths[r->pending] = length;
  return ++r->pending < BATCH || drain(r);
}

static void rollup_free(Rollup *r) {
  if (r->out) fclose(r->out);
  if (r->out_days) fclose(r->out_days);
  for (int k = 0; k < PARTS; k++) {
    if (!r->parts[k]) continue;
    fclose(r->parts[k]);
    char path[4200];
    snprintf(path, sizeof path, "%s.%d", r->out_path, k);
    remove(path);
  }
  free(r->out_buffer);
  free(r->arena);
  free(r->dict);
  free(r->days);
  free(r->clients);
  free(r->carry);
  free(r->row);
  free(r);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  rollup_free(data);
}

static int args(napi_env env, napi_callback_info info, size_t count, napi_value *argv, const char *message) {
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == count) return 1;
  napi_throw_type_error(env, NULL, message);
  return 0;
}

static Rollup *handle(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "vpcRollup: not a roll-up");
    return NULL;
  }
  return data;
}

/* vpcCreate(config: Int32Array [nfields, header, ...roles], out: string, bound: number) → roll-up */
static napi_value vpc_create(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!args(env, info, 3, argv, "vpcCreate: expected 3 arguments")) return NULL;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array ||
      length != 2 + F_ROLES) {
    napi_throw_type_error(env, NULL, "vpcCreate: config has the wrong type or length");
    return NULL;
  }
  const int32_t *config = data;
  char path[4096];
  size_t path_length;
  if (napi_get_value_string_utf8(env, argv[1], path, sizeof path, &path_length) != napi_ok) return NULL;
  uint32_t bound;
  if (napi_get_value_uint32(env, argv[2], &bound) != napi_ok) return NULL;
  if (config[0] <= 0 || config[0] > MAX_FIELDS) {
    napi_throw_range_error(env, NULL, "vpcCreate: too many fields");
    return NULL;
  }
  for (int i = 0; i < 256; i++) PRINTABLE[i] = i > 32 && i < 127;
  Rollup *r = zeroed(1, sizeof(Rollup));
  r->nfields = config[0];
  r->header = config[1];
  memset(r->role_of, -1, sizeof r->role_of);
  for (int i = 0; i < F_ROLES; i++) {
    r->role[i] = config[2 + i];
    if (r->role[i] >= r->nfields) r->role[i] = -1;
    if (r->role[i] >= 0) r->role_of[r->role[i]] = (int8_t)i;
  }
  r->client_bound = bound < 1024 ? 1024 : bound;
  r->iface_memo = r->account_memo = NONE;
  r->month_of_day = INT64_MIN;
  r->dict_mask = (1u << 12) - 1;
  r->dict = zeroed((size_t)r->dict_mask + 1, sizeof(DictSlot));
  r->day_mask = (1u << 12) - 1;
  r->days = zeroed((size_t)r->day_mask + 1, sizeof(DaySlot));
  r->client_mask = (1u << 14) - 1;
  r->clients = zeroed((size_t)r->client_mask + 1, sizeof(ClientSlot));
  r->arena_capacity = 1 << 16;
  r->arena = malloc(r->arena_capacity);
  r->carry = malloc(MAX_LINE);
  r->row = malloc(3 * (size_t)MAX_LINE + 512);
  memcpy(r->out_path, path, path_length + 1);
  r->out = fopen(path, "w");
  char days_path[4200];
  snprintf(days_path, sizeof days_path, "%s.days", path);
  r->out_days = fopen(days_path, "w");
  if (!r->out || !r->out_days || !r->arena || !r->carry || !r->row) {
    rollup_free(r);
    napi_throw_error(env, NULL, "vpcCreate: cannot write the roll-up file");
    return NULL;
  }
  r->out_buffer = malloc(1 << 20);
  if (r->out_buffer) setvbuf(r->out, r->out_buffer, _IOFBF, 1 << 20);
  napi_value result;
  if (napi_create_external(env, r, finalize, NULL, &result) != napi_ok) {
    rollup_free(r);
    return NULL;
  }
  return result;
}

/* Every whole line of data (after what the last chunk left); 0 once a record is left to DuckDB. */
static int feed(Rollup *r, const char *data, size_t length) {
  size_t at = 0;
  if (r->carry_length > 0) {
    const char *end = memchr(data, '\n', length);
    size_t take = end ? (size_t)(end - data) : length;
    if (r->carry_length + take >= MAX_LINE) return 0;
    memcpy(r->carry + r->carry_length, data, take);
    r->carry_length += take;
    if (!end) return 1;
    size_t n = r->carry_length;
    r->carry_length = 0;
    if (!line_of(r, r->carry, n) || !drain(r)) return 0;
    at = take + 1;
  }
  while (at < length) {
    const char *end = memchr(data + at, '\n', length - at);
    if (!end) {
      size_t rest = length - at;
      if (rest >= MAX_LINE) return 0;
      if (!drain(r)) return 0;
      memcpy(r->carry, data + at, rest);
      r->carry_length = rest;
      return 1;
    }
    size_t n = (size_t)(end - (data + at));
    if (!line_of(r, data + at, n)) return 0;
    at += n + 1;
  }
  /* The batch's lines are in this chunk, which the caller may reuse. */
  return drain(r);
}

/* vpcFeed(rollup, chunk: Uint8Array) → false once a record is left to DuckDB (later chunks are ignored). */
static napi_value vpc_feed(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args(env, info, 2, argv, "vpcFeed: expected 2 arguments")) return NULL;
  Rollup *r = handle(env, argv[0]);
  if (!r) return NULL;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "vpcFeed: chunk must be a Uint8Array");
    return NULL;
  }
  if (!r->failed && !feed(r, data, length)) r->failed = 1;
  napi_value result;
  napi_get_boolean(env, !r->failed, &result);
  return result;
}

/*
 * vpcFinish(rollup) → [records, daily rows written in parts (0/1), per-client rows written in parts (0/1)] once the
 * last line is read and every row written, or null when a record was left to DuckDB. The roll-up's memory is
 * released either way.
 */
static napi_value vpc_finish(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!args(env, info, 1, argv, "vpcFinish: expected 1 argument")) return NULL;
  Rollup *r = handle(env, argv[0]);
  if (!r) return NULL;
  napi_value result;
  if (!r->failed && r->carry_length > 0) {
    size_t n = r->carry_length;
    r->carry_length = 0;
    if (!line_of(r, r->carry, n) || !drain(r)) r->failed = 1;
  }
  if (r->failed) {
    napi_get_null(env, &result);
  } else {
    int merged = flush(r, 1);
    if (merged && r->partitioned) merged = merge_partitions(r);
    int closed = fclose(r->out) | fclose(r->out_days);
    r->out = r->out_days = NULL;
    if (!merged || closed != 0) {
      napi_throw_error(env, NULL, "vpcFinish: cannot write the roll-up file");
      return NULL;
    }
    napi_value records, daily_parts, client_parts;
    napi_create_array_with_length(env, 3, &result);
    napi_create_double(env, (double)r->records, &records);
    napi_create_double(env, r->daily_parts, &daily_parts);
    napi_create_double(env, merged == 2, &client_parts);
    napi_set_element(env, result, 0, records);
    napi_set_element(env, result, 1, daily_parts);
    napi_set_element(env, result, 2, client_parts);
  }
  /* The tables go now, not when the garbage collector gets to the handle. */
  free(r->arena), r->arena = NULL;
  free(r->dict), r->dict = NULL;
  free(r->days), r->days = NULL;
  free(r->clients), r->clients = NULL;
  r->failed = 1;
  return result;
}

int register_vpc(napi_env env, napi_value exports) {
  napi_value function;
  if (napi_create_function(env, "vpcCreate", NAPI_AUTO_LENGTH, vpc_create, NULL, &function) != napi_ok ||
      napi_set_named_property(env, exports, "vpcCreate", function) != napi_ok)
    return 0;
  if (napi_create_function(env, "vpcFeed", NAPI_AUTO_LENGTH, vpc_feed, NULL, &function) != napi_ok ||
      napi_set_named_property(env, exports, "vpcFeed", function) != napi_ok)
    return 0;
  if (napi_create_function(env, "vpcFinish", NAPI_AUTO_LENGTH, vpc_finish, NULL, &function) != napi_ok ||
      napi_set_named_property(env, exports, "vpcFinish", function) != napi_ok)
    return 0;
  return 1;
}
