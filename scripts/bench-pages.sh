#!/usr/bin/env bash
# Dashboards read while trees arrive (BENCHMARKS.md, "twentieth session"): a release `ocelot
# serve` on a fresh data directory, `ocelot loadgen` against it, and four loops requesting a
# board of a random domain back to back for as long as the load generator sends; then the
# requests' times, the trees the server dropped, and its CPU seconds per thread.
#
#   scripts/bench-pages.sh TREES RATE [NICE]
#   e.g. scripts/bench-pages.sh 6000000 150000 0
#
# NICE is `web.nice` (default: the server's default). Environment: BIN (server binary,
# default target/release/ocelot), LOADGEN_ARGS (default "--domains 50 --names 400 --machines 8
# --messages 5-30"), DOMAINS (domains the loops pick from, app-0 .. app-(N-1), default 50),
# PAGE (the board, default /t). Linux only (reads /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 2 ]]; then
    sed -n 7,13p "$0"
    exit 2
fi
trees=$1 rate=$2 nice=${3:-}
bin=${BIN:-target/release/ocelot}
data=$(mktemp -d /tmp/ocelot-pages.XXXX)
: >"$data.toml"
if [[ -n $nice ]]; then
    printf '[web]\nnice = %s\n' "$nice" >"$data.toml"
fi
port=$((20000 + RANDOM % 20000))
web=$((port + 1))
"$bin" serve --config "$data.toml" --data "$data" --collector-listen "127.0.0.1:$port" \
    --web-listen "127.0.0.1:$web" >"$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data" "$data".*' EXIT
for _ in $(seq 50); do
    curl -sf "127.0.0.1:$web/metrics" >/dev/null && break
    sleep 0.2
done
# shellcheck disable=SC2086 # LOADGEN_ARGS is a list of options
"$bin" loadgen --target "127.0.0.1:$port" --trees "$trees" --rate "$rate" --connections 4 \
    ${LOADGEN_ARGS:---domains 50 --names 400 --machines 8 --messages 5-30} >"$data.loadgen" 2>&1 &
loadgen=$!
sleep 3
loops=()
for i in 1 2 3 4; do
    (
        while kill -0 $loadgen 2>/dev/null; do
            curl -s -o /dev/null -w '%{time_total}\n' \
                "127.0.0.1:$web${PAGE:-/t}?domain=app-$((RANDOM % ${DOMAINS:-50}))"
        done >"$data.loop$i"
    ) &
    loops+=($!)
done
if ! wait $loadgen; then
    echo "the load generator failed:"
    tail -5 "$data.loadgen"
fi
wait "${loops[@]}"
sort -n "$data".loop* | awk '{t[NR] = $1} END {
    printf "requests %d, median %.3f s, p90 %.3f s, slowest %.3f s\n", NR, t[int(NR / 2)], t[int(NR * 0.9)], t[NR]
}'
metrics=$(curl -s "127.0.0.1:$web/metrics")
echo "dropped: $(echo "$metrics" | grep -E '^ocelot_dropped_trees_total' | awk '{n += $2} END {print n + 0}')"
echo "CPU seconds by thread:"
for task in /proc/"$server"/task/*; do
    echo "$(cat "$task/comm") $(awk '{print $14 + $15}' "$task/stat")"
done | awk '{cpu[$1] += $2} END {for (t in cpu) if (cpu[t] > 50) printf "  %s %.1f\n", t, cpu[t] / 100}'
