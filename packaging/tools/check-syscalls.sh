#!/usr/bin/env bash
# Checks the unit's SystemCallFilter= against what the daemon really calls:
# runs the given gateway test programs with EDOCGW_BIN pointing at a wrapper
# that starts every `edocgw` under strace (-D: the daemon keeps its pid, so
# the tests' signals reach it), then lists the system calls seen that
# @system-service less @privileged and @resources would refuse.
#
#   packaging/tools/check-syscalls.sh build service_notify_test trust_ops_test ...
#
# Needs strace and systemd-analyze. Run as root, the tests' gateways run as
# root, so SQLite's fchown of its journal files (done only when euid is 0,
# never under the unit's User=edocgw) shows up and is reported apart.
set -euo pipefail
build=$(cd "$1" && pwd)
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/edocgw" <<WRAP
#!/bin/sh
exec strace -D -f -qq -o "$work/trace.\$\$" "$build/gateway/edocgw" "\$@"
WRAP
chmod +x "$work/edocgw"
for t in "$@"; do
  bin=$(find "$build/tests" -name "$t" -type f | head -1)
  [ -n "$bin" ] || { echo "no test program $t under $build/tests" >&2; exit 2; }
  echo "== $t"
  (cd "$build" && EDOCGW_TEST_PKI="$build/test-pki" EDOCGW_TEST_TMP="$build/test-tmp" \
     EDOCGW_BIN="$work/edocgw" "$bin" | tail -1)
done

# A group's system calls, nested groups expanded.
expand() {
  systemd-analyze syscall-filter "$1" | tail -n +2 | while read -r word _; do
    case "$word" in
      ''|'#'*) ;;
      @*) expand "$word" ;;
      *) echo "$word" ;;
    esac
  done
}
expand @system-service | sort -u >"$work/service"
{ expand @privileged; expand @resources; } | sort -u >"$work/denied"
comm -23 "$work/service" "$work/denied" >"$work/allowed"
cat "$work"/trace.* | sed -nE 's/^[0-9]+ +(<\.\.\. )?([a-z0-9_]+)[( ].*/\2/p' | sort -u >"$work/used"
echo "system calls used: $(wc -l <"$work/used") in $(ls "$work"/trace.* | wc -l) processes"
outside=$(comm -23 "$work/used" "$work/allowed" | grep -vx -e exit -e resumed || true)
if [ "$(id -u)" = 0 ] && echo "$outside" | grep -qx fchown; then
  echo "as root only (SQLite's journal ownership; not under User=edocgw): fchown"
  outside=$(echo "$outside" | grep -vx fchown || true)
fi
if [ -n "$outside" ]; then
  echo "outside SystemCallFilter=@system-service ~@privileged @resources:" $outside
  exit 1
fi
echo "all within SystemCallFilter=@system-service ~@privileged @resources"
