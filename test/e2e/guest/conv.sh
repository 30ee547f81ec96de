# Guest part of test/e2e/conv.test.ts (busybox sh inside the Linux host). Prepended by the test:
#   TGT PORT NQN SIZE_MB   target address/port as seen from the guest, subsystem, namespace size
# A conventional-SSD namespace small enough that GC must run: churn it with random writes, then
# write and verify it completely, reading the SMART log before and after.

connect() {
  nvme connect -t tcp -a "$TGT" -s "$PORT" -n "$NQN"
  dev_wait
}
step connect connect
DEV=$(dev_wait)
CTRL=/dev/$(basename "$DEV" | sed 's/n1$//')

step smart-before nvme smart-log "$CTRL" -o json

# Churn: three capacities of random 16 KiB writes (no verify: blocks are overwritten).
step churn timeout 300 fio --name=churn --filename="$DEV" --ioengine=libaio --direct=1 \
  --rw=randwrite --bs=16k --size="${SIZE_MB}M" --io_size="$((SIZE_MB * 3))M" --iodepth=16 \
  --norandommap --randrepeat=0 --group_reporting

# Then every block written once more at random sizes and verified (GC keeps running meanwhile).
step verify timeout 300 fio --name=verify --filename="$DEV" --ioengine=libaio --direct=1 \
  --rw=randwrite --bsrange=4k-64k --size="${SIZE_MB}M" --iodepth=16 \
  --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting

step smart-after nvme smart-log "$CTRL" -o json
step disconnect nvme disconnect -n "$NQN"
echo "===E2E-CONV-END==="
