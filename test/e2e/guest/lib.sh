# Helpers every guest script gets (test/e2e/lib/guest.ts guestScript() puts this file first).
#
# Output protocol, parsed by the tests:
#   ===BEGIN <step>===  ...command output...  ===STEP <step> rc=<n>===
# and, after a failed step, ===DMESG <step>=== ... ===END-DMESG=== with the guest kernel's view
# (lines matching $DMESG_PATTERN, default "nvme"). Each step runs in a subshell with `set -e`, so
# its rc is that of the first failing command.
step() {
  _n=$1; shift
  echo "===BEGIN $_n==="
  ( set -e; "$@" ) 2>&1
  _rc=$?
  echo "===STEP $_n rc=$_rc==="
  if [ $_rc -ne 0 ]; then
    echo "===DMESG $_n==="
    dmesg | grep -iE "${DMESG_PATTERN:-nvme}" | tail -40
    echo "===END-DMESG==="
  fi
  return 0
}

# Prints /dev/nvmeXn1 once a namespace 1 block device exists (up to 20 s).
dev_wait() {
  _i=0
  while [ $_i -lt 40 ]; do
    for n in /sys/block/nvme*n1; do
      [ -e "$n" ] && { echo "/dev/$(basename "$n")"; return 0; }
    done
    sleep 0.5; _i=$((_i + 1))
  done
  return 1
}
