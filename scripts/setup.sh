#!/usr/bin/env bash
# Installs what edocgw needs from Debian 12's packages (only what is missing)
# and builds it.
#
#   scripts/setup.sh              Release build in build/
#   scripts/setup.sh --sanitize   AddressSanitizer + UBSan build in build-asan/
#
# Needs root (or sudo) only when a package is missing. Warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ cmake make pkg-config curl
  openssl libssl-dev
  libxml2-dev libxmlsec1-dev xmlsec1
  libboost-dev libboost-test-dev libboost-system-dev
  libpugixml-dev libcurl4-openssl-dev libsqlite3-dev nlohmann-json3-dev libpq-dev postgresql-15
  # PDF signatures: libqpdf reads the structure; qpdf and poppler's pdfsig are used by tests
  libqpdf-dev qpdf poppler-utils
  # systemd: sd_notify (libsystemd-dev); systemd-analyze and groff check the unit and the
  # man page in the tests; dpkg-dev's dpkg-shlibdeps gives the Debian package its Depends
  libsystemd-dev systemd groff-base man-db dpkg-dev
  # scripts/fuzz.sh: clang with libFuzzer (only recommended by clang-14, so named)
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DEDOCGW_WERROR=ON)
if [ "${1:-}" = "--sanitize" ]; then
  build_dir=build-asan
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DEDOCGW_WERROR=ON -DEDOCGW_SANITIZE=ON)
fi
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j2
echo "setup: built $build_dir/gateway/edocgw"
