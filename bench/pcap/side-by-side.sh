#!/usr/bin/env bash
# Times two builds of billwatch on one capture, alternating with tcpdump's bare filter, best of RUNS each:
#   bench/pcap/side-by-side.sh OLD_CHECKOUT NEW_CHECKOUT CAPTURE [RUNS]
# Each checkout needs `npm run build && npm run build:native` (e.g. an older commit in `git worktree add`).
# Alternating runs put both builds in the same spell of the machine, whose speed swings by a third.
set -euo pipefail
old=$1 new=$2 capture=$3 runs=${4:-5}
stores=$(mktemp -d)
trap 'rm -rf "$stores"' EXIT
best() { sort -n | head -1; }
elapsed() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
declare -A times=([old]= [new]= [tcpdump]=)
for ((i = 0; i < runs; i++)); do
  times[old]+="$(elapsed node "$old/bin/run.js" pcap "$capture" --json --db "$stores/old.duckdb")"$'\n'
  times[new]+="$(elapsed node "$new/bin/run.js" pcap "$capture" --json --db "$stores/new.duckdb")"$'\n'
  times[tcpdump]+="$(elapsed sh -c "tcpdump -r '$capture' -w - 'src port 123' 2>/dev/null | wc -c")"$'\n'
done
t_old=$(printf %s "${times[old]}" | best) t_new=$(printf %s "${times[new]}" | best) t_tcp=$(printf %s "${times[tcpdump]}" | best)
printf 'best of %d: old %.2f s, new %.2f s, tcpdump filter %.2f s; old %.2fx, new %.2fx the filter; new/old %.3f\n' \
  "$runs" "$t_old" "$t_new" "$t_tcp" "$(echo "$t_old / $t_tcp" | bc -l)" "$(echo "$t_new / $t_tcp" | bc -l)" "$(echo "$t_new / $t_old" | bc -l)"
