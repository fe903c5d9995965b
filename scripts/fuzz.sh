#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in
# build-fuzz/ and runs each for SECONDS (default 30), starting from its seed
# corpus tests/fuzz/corpus/<target>/. Prints executions and coverage per
# target; exits 1 when a target crashed, leaked or timed out (the input is
# kept in build-fuzz/crashes/), 2 when it could not build or run.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 3600 auditor
#
# TARGET is a name of tests/fuzz/<name>_fuzz.cc, with or without the _fuzz
# (default: all). New inputs found are kept in build-fuzz/corpus/<target>/
# across runs (not in the repo: copy a small, interesting one into
# tests/fuzz/corpus/ by hand). Targets run
# EDOCGW_FUZZ_JOBS at a time (default: the number of cores).
# EDOCGW_BUILD_LOCK=FILE serialises the build with others through flock;
# EDOCGW_FUZZ_NO_BUILD=1 runs the targets as last built.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
root=$PWD
build=$root/build-fuzz

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (Debian: apt-get install clang)" >&2
  exit 2
fi
lock=()
[ -z "${EDOCGW_BUILD_LOCK:-}" ] || lock=(flock "$EDOCGW_BUILD_LOCK")
build_targets() {
  CC=clang CXX=clang++ "${lock[@]}" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEDOCGW_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
  "${lock[@]}" cmake --build "$build" --target edocgw_fuzz -j"$(nproc)" >"$build/build.log" 2>&1
}
if [ "${EDOCGW_FUZZ_NO_BUILD:-0}" != 1 ]; then
  started=$(date +%s)
  mkdir -p "$build"
  if ! build_targets; then
    tail -40 "$build/build.log" >&2
    echo "fuzz: the build failed (build-fuzz/build.log)" >&2
    exit 2
  fi
  echo "fuzz: built in $(($(date +%s) - started)) s"
fi

# The verifier, auditor, checkpoint and config targets judge against a sample PKI.
export EDOCGW_TEST_PKI=$build/pki
[ -f "$EDOCGW_TEST_PKI/root.pem" ] || certs-sample/make-sample-pki.sh "$EDOCGW_TEST_PKI" >/dev/null
# The auditor and log targets write a file or a data-dir per input: in
# memory when /dev/shm exists (3 times the executions), removed at the end.
tmp_root=$build/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp_root=/dev/shm
export EDOCGW_FUZZ_TMP=$tmp_root/edocgw-fuzz-$$
trap 'rm -rf "$EDOCGW_FUZZ_TMP"' EXIT
mkdir -p "$EDOCGW_FUZZ_TMP" "$build/crashes" "$build/logs"
rm -f "$build/logs/failed"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

targets=("${@%_fuzz}")  # "local_api" or "local_api_fuzz"
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cc; do
    n=$(basename "$f" _fuzz.cc)
    targets+=("$n")
  done
fi

run_one() {
  local t=$1 corpus=$build/corpus/$1
  mkdir -p "$corpus"
  "$build/tests/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" \
    "$corpus" "tests/fuzz/corpus/$t" >"$build/logs/$t.log" 2>&1
}
export -f run_one
export build seconds

jobs=${EDOCGW_FUZZ_JOBS:-$(nproc)}
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {} || echo "{}" >> "$build/logs/failed"' \
  || true

status=0
printf '%-18s %12s %8s %8s %8s  %s\n' target executions exec/s cov ft result
for t in "${targets[@]}"; do
  log=$build/logs/$t.log
  # A target that failed on its seeds has no cov: line (nor a log, if it
  # could not start): its row still prints, with "?".
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" 2>/dev/null | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" 2>/dev/null | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" 2>/dev/null | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -oE 'ft: [0-9]+' "$log" 2>/dev/null | tail -1 | cut -d' ' -f2 || true)
  result=ok
  if grep -qxF "$t" "$build/logs/failed" 2>/dev/null; then
    result="FAILED: $(grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" || tail -1 "$log" 2>/dev/null || true)"
    status=1
  fi
  printf '%-18s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
rm -f "$build/logs/failed"
[ $status -eq 0 ] || echo "fuzz: reproducers in build-fuzz/crashes/, logs in build-fuzz/logs/" >&2
exit $status
