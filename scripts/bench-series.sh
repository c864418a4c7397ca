#!/usr/bin/env bash
# Alternated end-to-end runs of several server builds (BENCHMARKS.md: on this shared VM only
# figures measured side by side in one series compare). Each round runs every variant once
# through scripts/bench-collector.sh, the order turning by one each round, with one load
# generator binary for all; then one line per run.
#
#   scripts/bench-series.sh ROUNDS TREES RATE NAME=BINARY[:VAR=VALUE...] ... [-- loadgen options]
#   e.g. scripts/bench-series.sh 3 10000000 300000 old=/tmp/ocelot-old new=target/release/ocelot \
#            -- --machines 8 --messages 5-30
#
# A variant may set environment variables for its server (`new=bin:MIMALLOC_ALLOW_THP=0`).
# Environment: LOADGEN (default: the first variant's binary), CONNECTIONS (default 4).
# Columns: dropped trees (all counters), CPU seconds of the analyzer threads, the store
# writer and the socket threads, VmRSS and VmHWM at the end in MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 4 ]]; then
    sed -n 5,14p "$0"
    exit 2
fi
rounds=$1 trees=$2 rate=$3
shift 3
names=() specs=()
while [[ $# -gt 0 && $1 != -- ]]; do
    names+=("${1%%=*}")
    specs+=("${1#*=}")
    shift
done
[[ ${1:-} == -- ]] && shift
first_bin=${specs[0]%%:*}
loadgen=${LOADGEN:-$first_bin}

printf '%-5s %-12s %-8s %10s %9s %7s %6s %8s %8s\n' \
    round variant utc dropped analyzer writer io rss_mib peak_mib
count=${#names[@]}
for round in $(seq "$rounds"); do
    for step in $(seq 0 $((count - 1))); do
        i=$(((step + round - 1) % count))
        IFS=: read -r -a parts <<<"${specs[$i]}"
        bin=${parts[0]}
        utc=$(date -u +%H:%M:%S)
        out=$(env "${parts[@]:1}" BIN="$bin" LOADGEN="$loadgen" \
            scripts/bench-collector.sh "$trees" "$rate" "${CONNECTIONS:-4}" "$@" 2>&1) || {
            echo "$out" >&2
            exit 1
        }
        dropped=$(echo "$out" | awk '/^ocelot_dropped_trees_total/ {s += $2} END {print s + 0}')
        cpu() { echo "$out" | awk -v t="$1" '$1 == t {print $2; f = 1} END {if (!f) print "-"}'; }
        mib() { echo "$out" | tr ' ' '\n' | grep -A1 "^$1:" | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }
        printf '%-5s %-12s %-8s %10s %9s %7s %6s %8s %8s\n' "$round" "${names[$i]}" "$utc" \
            "$dropped" "$(cpu ocelot-analyzer)" "$(cpu ocelot-store-wr)" "$(cpu ocelot-io)" \
            "$(mib VmRSS)" "$(mib VmHWM)"
    done
done
