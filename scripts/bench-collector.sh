#!/usr/bin/env bash
# The collector's end-to-end benchmark (BENCHMARKS.md, "Collector end to end"): a release
# `ocelot serve` on a fresh data directory, `ocelot loadgen` against it over loopback, then
# what the server says it dropped, its memory and its CPU seconds per thread.
#
#   scripts/bench-collector.sh TREES RATE CONNECTIONS [more loadgen options]
#   e.g. scripts/bench-collector.sh 3000000 225000 4 --machines 8 --full-data --gzip-baseline
#
# Environment: BIN (server binary, default target/release/ocelot; BENCHMARKS' figures since
# the tenth session are of `cargo build --release --features isal` unless they say so),
# LOADGEN (load generator binary, default BIN), DATAROOT (where the data directory goes,
# default /tmp), SERVE_EXTRA (more `serve` options). Linux only (reads /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 3 ]]; then
    sed -n 5,12p "$0"
    exit 2
fi
trees=$1 rate=$2 connections=$3
shift 3
bin=${BIN:-target/release/ocelot}
loadgen=${LOADGEN:-$bin}
data=$(mktemp -d "${DATAROOT:-/tmp}/ocelot-bench.XXXX")
port=$((20000 + RANDOM % 20000))
web=$((port + 1))
# shellcheck disable=SC2086 # SERVE_EXTRA is a list of options
"$bin" serve --data "$data" --collector-listen "127.0.0.1:$port" \
    --web-listen "127.0.0.1:$web" ${SERVE_EXTRA:-} >"$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 50); do
    curl -sf "127.0.0.1:$web/metrics" >/dev/null && break
    sleep 0.2
done
"$loadgen" loadgen --target "127.0.0.1:$port" --trees "$trees" --rate "$rate" \
    --connections "$connections" --domains ${DOMAINS:-50} --names ${NAMES:-400} --web "http://127.0.0.1:$web" "$@"
echo "dropped (nonzero counters):"
metrics=$(curl -s "127.0.0.1:$web/metrics")
echo "$metrics" | grep -E '^ocelot_dropped_trees_total' | grep -v ' 0$' || echo "  none"
# Each analyzer thread's share: its domains' trees, and its seconds busy with them.
echo "per analyzer thread (trees processed, seconds busy):"
echo "$metrics" | grep -E '^ocelot_worker_(trees_processed|busy_seconds)_total\{worker="analyzer' |
    sed -E 's/^ocelot_worker_([a-z_]+)_total\{worker="([^"]+)"\} /  \2 \1 /'
grep -E 'VmHWM|VmRSS|RssAnon' "/proc/$server/status" | tr -s ' \t' ' ' | tr '\n' ' '
echo
echo "CPU seconds by thread:"
for task in /proc/"$server"/task/*; do
    echo "$(cat "$task/comm") $(awk '{print $14 + $15}' "$task/stat")"
done | awk '{cpu[$1] += $2} END {for (t in cpu) if (cpu[t] > 50) printf "  %s %.1f\n", t, cpu[t] / 100}'
