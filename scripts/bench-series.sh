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
# writer and the socket threads, VmRSS and VmHWM at the end in MiB, and the share of the
# VM's CPU time left idle during the run and the share the hypervisor took for others
# (steal), both from /proc/stat: drops with idle time to spare are not for want of CPU.
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

# The VM's CPU ticks in all (user to steal; guest time is inside user), idle (with iowait)
# and stolen, from /proc/stat's first line.
ticks() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6, $9; exit}' /proc/stat; }
share() { awk -v t="$1" -v p="$2" 'BEGIN {if (t > 0) printf "%.1f%%", 100 * p / t; else print "-"}'; }

printf '%-5s %-12s %-8s %10s %9s %7s %6s %8s %8s %6s %6s\n' \
    round variant utc dropped analyzer writer io rss_mib peak_mib idle steal
count=${#names[@]}
for round in $(seq "$rounds"); do
    for step in $(seq 0 $((count - 1))); do
        i=$(((step + round - 1) % count))
        IFS=: read -r -a parts <<<"${specs[$i]}"
        bin=${parts[0]}
        utc=$(date -u +%H:%M:%S)
        read -r total0 idle0 steal0 < <(ticks)
        out=$(env "${parts[@]:1}" BIN="$bin" LOADGEN="$loadgen" \
            scripts/bench-collector.sh "$trees" "$rate" "${CONNECTIONS:-4}" "$@" 2>&1) || {
            echo "$out" >&2
            exit 1
        }
        read -r total1 idle1 steal1 < <(ticks)
        idle=$(share $((total1 - total0)) $((idle1 - idle0)))
        steal=$(share $((total1 - total0)) $((steal1 - steal0)))
        dropped=$(echo "$out" | awk '/^ocelot_dropped_trees_total/ {s += $2} END {print s + 0}')
        cpu() { echo "$out" | awk -v t="$1" '$1 == t {print $2; f = 1} END {if (!f) print "-"}'; }
        mib() { echo "$out" | tr ' ' '\n' | grep -A1 "^$1:" | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }
        printf '%-5s %-12s %-8s %10s %9s %7s %6s %8s %8s %6s %6s\n' "$round" "${names[$i]}" "$utc" \
            "$dropped" "$(cpu ocelot-analyzer)" "$(cpu ocelot-store-wr)" "$(cpu ocelot-io)" \
            "$(mib VmRSS)" "$(mib VmHWM)" "$idle" "$steal"
    done
done
