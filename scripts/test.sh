#!/usr/bin/env bash
# Runs every test: installs and builds (scripts/setup.sh), runs the CTest
# suite on the Release build, then the same suite on an AddressSanitizer +
# UndefinedBehaviorSanitizer build, then every fuzz target for 30 s
# (scripts/fuzz.sh). Set EDOCGW_SKIP_SANITIZE=1 to skip the second pass and
# EDOCGW_FUZZ_SECONDS=0 to skip the fuzzing when iterating locally.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
(cd build && ctest -j2 --output-on-failure)

if [ "${EDOCGW_SKIP_SANITIZE:-0}" != 1 ]; then
  scripts/setup.sh --sanitize
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest -j2 --output-on-failure)
fi

# A short run of every fuzz target (scripts/fuzz.sh; clang comes with
# setup.sh). EDOCGW_FUZZ_SECONDS sets the time per target, 0 skips it.
if [ "${EDOCGW_FUZZ_SECONDS:-30}" != 0 ] && command -v clang++ >/dev/null; then
  scripts/fuzz.sh "${EDOCGW_FUZZ_SECONDS:-30}"
fi
