#!/usr/bin/env bash
# Rebuilds the public-file corpus (docs/corpus.md) from local git snapshots of its source repositories.
# Usage: bench/corpus/rebuild.sh MIRRORS [OUT]
#   MIRRORS holds one bare or working git directory per repository, named OWNER+NAME (a `repo` folder
#   inside is used when present); OUT defaults to ../shared/corpus. The Elastic files are not here: their
#   repositories are too large to snapshot; docs/corpus.md names them for copying by hand.
set -euo pipefail
mirrors=${1:?usage: rebuild.sh MIRRORS [OUT]}
out=${2:-../shared/corpus}

repo() {
  local dir="$mirrors/$1"
  [ -d "$dir/repo" ] && dir="$dir/repo"
  [ -d "$dir" ] || { echo "rebuild.sh: no snapshot of $1 in $mirrors" >&2; return 1; }
  echo "$dir"
}

# copy OWNER+NAME COMMIT FOLDER LICENCE PATH... : each path flat by basename, or by a name given as PATH=NAME
copy() {
  local name=$1 commit=$2 folder=$3 licence=$4 git_dir
  shift 4
  git_dir=$(repo "$name")
  mkdir -p "$out/$folder"
  for spec in "$@"; do
    local path=${spec%%=*} target
    target=$([ "$spec" = "$path" ] && basename "$path" || echo "${spec#*=}")
    git -C "$git_dir" show "$commit:$path" >"$out/$folder/$target"
    printf '| %s | %s | %s | %s | %s |\n' "$target" "${name/+//}" "$path" "$commit" "$licence" >>"$out/$folder/SOURCE.md"
  done
}

header() {
  mkdir -p "$out/$1"
  printf '# %s\n\n| file | repository | path | commit | licence |\n| --- | --- | --- | --- | --- |\n' "$1" >"$out/$1/SOURCE.md"
}

# Paths in a commit, with a size limit in bytes, matching an extended regular expression.
paths() {
  git -C "$(repo "$1")" ls-tree -r -l "$2" -- "$3" | awk -v max="$4" '$4 != "-" && $4 != "BAD" && $4 < max {print $5}' |
    grep -E "$5"
}

tcpdump=39b50f76672bca4af7d7eb52604c5b692c6b6b2c
header pcap/tcpdump
mapfile -t files < <(paths the-tcpdump-group+tcpdump $tcpdump tests 4194304 '\.(pcap|pcapng)$')
copy the-tcpdump-group+tcpdump $tcpdump pcap/tcpdump BSD-3-Clause "${files[@]}"

zeek=a13de64fbbdb01f90961c04719b308fbbb6d199e
header pcap/zeek
topics='ntp|tunnel|ipv4|ipv6|ip6|ip-|frag|trunc|vlan|mpls|pppoe|erspan|nflog|gre|vxlan|geneve|teredo|ayiya|udp|dns|dhcp'
topics+='|snmp|syslog|radius|quic|icmp|pcapng|link'
mapfile -t files < <(paths zeek+zeek $zeek testing/btest/Traces 2097152 '')
specs=()
for path in "${files[@]}"; do
  shopt -s nocasematch
  [[ $path =~ ($topics) && $path =~ \.(pcap|pcapng|trace|cap|dump)(\.gz)?$ ]] || continue
  shopt -u nocasematch
  rel=${path#testing/btest/Traces/}
  specs+=("$path=${rel//\//_}")
done
copy zeek+zeek $zeek pcap/zeek BSD-3-Clause "${specs[@]}"

header billing/focus-sample-data
copy maxjahn+FOCUS-Sample-Data 8ac5ea6cbc3a8af74f517052f4c2ff3ad33d91cd billing/focus-sample-data CC-BY-4.0 \
  FOCUS-1.0/focus_sample.csv

focus_spec=04f8bb3d6b440a8c1d40be106b29a574525d753d
header billing/focus-spec
mapfile -t files < <(paths FinOps-Open-Cost-and-Usage-Spec+FOCUS_Spec $focus_spec specification/data 4194304 '\.csv$')
copy FinOps-Open-Cost-and-Usage-Spec+FOCUS_Spec $focus_spec billing/focus-spec CC-BY-4.0 "${files[@]}"

header billing/focus-converters
base=focus_converter_base/tests/provider_config_tests
copy finopsfoundation+focus_converters c799bf96dea67c8dc8569eebbcd720e7562088fa billing/focus-converters MIT \
  $base/aws/sample-anonymous-aws-export-dataset.csv $base/azure/sample-anonymous-ea-export-dataset.csv \
  $base/oci/reports_cost-csv_0000000030000269.csv

header flows/nfdump-chrispassas
copy chrispassas+nfdump efe221595f206a2aff437f3d1a80b1fad590a05b flows/nfdump-chrispassas MIT \
  devtestdata/nfcapd.sample testdata/nfcapd-corrupt testdata/nfcapd-empty testdata/nfcapd-small-lzo \
  testdata/nfcapd-large-bz2

find "$out" -type f ! -name SOURCE.md | wc -l | xargs echo "rebuild.sh: files in $out:"
