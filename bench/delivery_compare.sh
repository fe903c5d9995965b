#!/bin/sh
# bench/delivery_compare.sh: load_bench's A -> hub -> B delivery rate for two
# builds in one run, alternating (old, new, old, new, ...), so the spread
# between runs of one build is seen next to the difference between builds.
#
#   bench/delivery_compare.sh PKI NEW_LOAD_BENCH NEW_EDOCGW OLD_LOAD_BENCH OLD_EDOCGW \
#       [SECONDS] [ROUNDS]
#
# Each build is driven by its own load_bench (each writes its own build's
# configuration). SECONDS (default 5) is how long A accepts submissions
# before the hub and B start; ROUNDS (default 2) runs of each build. Prints
# every run, then the median accepted and delivered docs/s per build and
# the ratio new/old. Run it on an otherwise idle machine.
set -eu
if [ $# -lt 5 ]; then
  sed -n '4,6p' "$0" >&2
  exit 2
fi
pki=$1 new_bench=$2 new_bin=$3 old_bench=$4 old_bin=$5
seconds=${6:-5} rounds=${7:-2}
out=$(mktemp)
run_log=$(mktemp)
trap 'rm -f "$out" "$run_log"' EXIT

i=0
while [ "$i" -lt "$rounds" ]; do
  for build in old new; do
    # The new load_bench also measures 64 connections by default; one
    # phase of 16, as the old one runs, keeps the two runs alike.
    args=()
    if [ "$build" = old ]; then b=$old_bench e=$old_bin; else b=$new_bench e=$new_bin args=(--connections 16); fi
    # In a session of its own, so that gateways it leaves behind (a build
    # that drains slowly on SIGTERM) are killed before the next run starts.
    setsid "$b" "$pki" "$e" "$seconds" "${args[@]}" >"$run_log" 2>&1 &
    pid=$!
    wait "$pid" || true
    kill -KILL -- "-$pid" 2>/dev/null || true
    # load_bench starts its gateways in process groups of their own: one it
    # left behind (after a failed start, say) would hold the port and the CPU.
    pkill -KILL -f "^$e serve --config /tmp/edocgw-load-" 2>/dev/null || true
    log=$(cat "$run_log")
    accepted=$(printf '%s\n' "$log" | sed -n 's/^accepted.* = \([0-9.]*\) docs\/s.*/\1/p')
    delivered=$(printf '%s\n' "$log" | sed -n 's/.*: \([0-9.]*\) docs\/s delivered$/\1/p')
    summary=$(printf '%s\n' "$log" | grep -- '-> B:' || printf '%s\n' "$log" | tail -2)
    echo "run $((i + 1)) $build: accepted ${accepted:-?} docs/s; $summary"
    # A run that failed counts in neither median.
    if [ -n "$accepted" ] && [ -n "$delivered" ]; then echo "$build $accepted $delivered" >>"$out"; fi
  done
  i=$((i + 1))
done

median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for col in 2 3; do
  name=$([ "$col" = 2 ] && echo "accepted (A, 16 connections)" || echo "delivered A -> hub -> B")
  o=$(awk -v c="$col" '$1 == "old" {print $c}' "$out" | median)
  n=$(awk -v c="$col" '$1 == "new" {print $c}' "$out" | median)
  awk -v name="$name" -v o="$o" -v n="$n" \
    'BEGIN {printf "%-30s old %7.1f  new %7.1f docs/s (medians)  new/old %.2f\n", name, o, n, (o > 0 ? n / o : 0)}'
done
