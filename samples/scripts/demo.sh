#!/usr/bin/env bash
# The whole forensic run on the bundled samples: ingest → anomalies → flows → correlate → pcap → explain → report.
# Uses the built CLI (npm run build). Everything it writes goes to one folder (default /tmp/billwatch-demo).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-${TMPDIR:-/tmp}/billwatch-demo}"
rm -rf "$out" && mkdir -p "$out"
export BILLWATCH_DB="$out/billwatch.duckdb"
bw() { node "$root/bin/run.js" "$@"; }
step() { printf '\n\033[1m$ billwatch %s\033[0m\n' "$*"; }

step ingest samples/billing/*
bw ingest "$root"/samples/billing/*
step status
bw status
step anomalies --log-scale --svg "$out/egress.svg"
bw anomalies --log-scale --svg "$out/egress.svg"
# Months later, the flow logs still say which port stepped (VPC Flow Logs of the server's interface, as S3 delivers them).
step ingest samples/flows/
bw ingest "$root/samples/flows"
step flows --port udp/123 --top 3 --price-per-gb 0.12
bw flows --port udp/123 --top 3 --price-per-gb 0.12
step anomalies --usage-type flow:udp/123
bw anomalies --usage-type flow:udp/123
bash "$root/samples/scripts/make-terraform-repo.sh" "$out/infra" >/dev/null
step correlate --repo "$out/infra" --cloudtrail samples/cloudtrail --aws-config samples/aws-config
bw correlate --repo "$out/infra" --cloudtrail "$root/samples/cloudtrail" --aws-config "$root/samples/aws-config"
bash "$root/samples/scripts/make-etc-repo.sh" "$out/etc" >/dev/null
step correlate --repo "$out/etc"
bw correlate --repo "$out/etc"
step pcap samples/captures/ntp-server.pcap --control samples/captures/ntp-control.pcap --price-per-gb 0.12
bw pcap "$root/samples/captures/ntp-server.pcap" --control "$root/samples/captures/ntp-control.pcap" --price-per-gb 0.12  # the 2014 price in the NTP pool server incident
step explain
bw explain
step report --out "$out/report.html"
bw report --out "$out/report.html"
printf '\nThe report is at %s (open it in a browser; it needs no network).\n' "$out/report.html"
