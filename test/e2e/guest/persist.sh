# Guest part of test/e2e/persist.test.ts (busybox sh inside the Linux host). Prepended by the test:
#   TGT PORT NQN SIZE_MB
# A file-backed conv namespace: fio writes it (ending with a Flush), the daemon is killed with
# SIGKILL and started again while the host stays connected (it reconnects by itself), fio verifies;
# then a clean restart (SIGTERM) and a second verification; then controller resets under fio verify.

# The controller leaves "live" (target gone) and comes back to it (reconnected), within 120 s.
relive() {
  _s=/sys/class/nvme/$CTRLNAME/state
  _seen=0; _i=0
  while [ $_i -lt 240 ]; do
    _st=$(cat "$_s")
    [ "$_st" != live ] && _seen=1
    [ $_seen = 1 ] && [ "$_st" = live ] && { echo "reconnected after $((_i / 2)) s"; return 0; }
    sleep 0.5; _i=$((_i + 1))
  done
  echo "state: $(cat "$_s") (seen non-live: $_seen)"; return 1
}

FIO="fio --name=persist --ioengine=libaio --direct=1 --rw=write --bs=64k --iodepth=8 --size=${SIZE_MB}M --verify=crc32c --verify_fatal=1"

# Reconnect quickly and keep trying for a while: the target restarts under the host.
step connect nvme connect -t tcp -a "$TGT" -s "$PORT" -n "$NQN" --reconnect-delay=1 --ctrl-loss-tmo=300
DEV=$(dev_wait)
CTRLNAME=$(basename "$DEV" | sed 's/n1$//')

step write $FIO --filename="$DEV" --do_verify=0 --end_fsync=1
echo "===KILL-NOW==="
step reconnect-after-kill relive
step verify-after-kill $FIO --filename="$DEV" --verify_only
echo "===RESTART-NOW==="
step reconnect-after-restart relive
step verify-after-restart $FIO --filename="$DEV" --verify_only
# Controller resets (what `nvme reset` and the kernel's error recovery do) under verified I/O.
reset_under_io() {
  fio --name=reset --filename="$DEV" --ioengine=libaio --direct=1 --rw=randwrite --bs=16k --iodepth=16 \
    --size=8M --io_size=64M --verify=crc32c --do_verify=1 --verify_fatal=1 &
  _p=$!
  sleep 2; nvme reset "/dev/$CTRLNAME"; echo "reset 1: $?"
  sleep 2; nvme reset "/dev/$CTRLNAME"; echo "reset 2: $?"
  wait $_p
}
step reset-under-io reset_under_io
step disconnect nvme disconnect -n "$NQN"
echo "===E2E-PERSIST-END==="
