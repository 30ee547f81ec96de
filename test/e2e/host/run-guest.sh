#!/bin/bash
# Boots the Linux host built by build-host.sh under QEMU (software emulation) and runs
# GUEST_SCRIPT inside it as /test.sh; the serial console (script output mixed with firmware
# noise) goes to stdout. The guest prints ===LINUX-HOST-READY=== when booted,
# ===TEST-EXIT=<rc>=== after the script and ===LINUX-HOST-DONE=== before powering off.
# The guest reaches the QEMU host's 127.0.0.1 at 10.0.2.2 (QEMU user-mode networking).
#
# usage: run-guest.sh GUEST_SCRIPT [TIMEOUT_S]      (default timeout 300 s)
# env:   E2E_HOST_DIR  directory with vmlinuz + base.cpio.gz (default <repo>/.e2e-cache/linux-host)
#        E2E_GUEST_MEM MiB (default 1024), E2E_GUEST_CPUS (default 2)
#        E2E_GUEST_APPEND kernel command line extras (default "quiet loglevel=1": kernel messages
#                         stay off the console so they cannot split script output; read them
#                         with dmesg inside the guest)
# exit:  QEMU's status (0 after a normal poweroff), 124 on timeout, 2 on usage errors.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 GUEST_SCRIPT [TIMEOUT_S]" >&2; exit 2; }
T=$1; TO=${2:-300}
D=${E2E_HOST_DIR:-$REPO/.e2e-cache/linux-host}
[ -f "$T" ] || { echo "no such guest script: $T" >&2; exit 2; }
[ -f "$D/base.cpio.gz" ] && [ -f "$D/vmlinuz" ] || {
  echo "no $D/base.cpio.gz: run test/e2e/host/build-host.sh $D first" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed" >&2; exit 2; }

W=$(mktemp -d)
QPID=
cleanup() { [ -n "$QPID" ] && kill "$QPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 143' TERM INT

mkdir -p "$W/r"; cp "$T" "$W/r/test.sh"; chmod +x "$W/r/test.sh"
( cd "$W/r" && echo test.sh | cpio -o -H newc 2>/dev/null | gzip -1 > "$W/test.cpio.gz" )
# Concatenated cpio archives: the kernel unpacks both, test.sh lands next to /init.
cat "$D/base.cpio.gz" "$W/test.cpio.gz" > "$W/initrd.gz"

# /dev/kvm may exist but a KVM guest hangs at boot (nested virtualisation): use tcg.
ACCEL="-accel tcg"; CPU="-cpu max"
if [ -n "${E2E_GUEST_KVM:-}" ] && [ -w /dev/kvm ]; then ACCEL="-accel kvm"; CPU="-cpu host,-arch-capabilities"; fi
timeout --foreground -k 5 "$TO" qemu-system-x86_64 $ACCEL $CPU -m "${E2E_GUEST_MEM:-1024}" -smp "${E2E_GUEST_CPUS:-2}" \
  -nographic -no-reboot -kernel "$D/vmlinuz" -initrd "$W/initrd.gz" \
  -append "console=ttyS0 ${E2E_GUEST_APPEND:-quiet loglevel=1} panic=-1 nvme_core.multipath=N" \
  -netdev user,id=n0 -device virtio-net-pci,netdev=n0 </dev/null &
QPID=$!
wait "$QPID"; rc=$?
QPID=
[ $rc -eq 124 ] && echo "===GUEST-TIMEOUT after ${TO}s==="
exit $rc
