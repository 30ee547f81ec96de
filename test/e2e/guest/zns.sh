# Guest part of test/e2e/zns.test.ts (busybox sh inside the Linux host). Prepended by the test:
#   TGT PORT NQN HTTP   target address/port as seen from the guest, subsystem, admin HTTP port
#   ZONE_SECTORS        zone size in 512-byte sectors; LBA_SHIFT log2(LBA size / 512)
# A zoned namespace seen by the Linux block layer and nvme-cli: sysfs zone limits, zone reports,
# writes at and away from the write pointer, reset, zone append, finish, fio --zonemode=zbd with
# verification, and zones made read only / offline through the admin API while the host runs.
DMESG_PATTERN='nvme|zone|blk'

connect() {
  nvme connect -t tcp -a "$TGT" -s "$PORT" -n "$NQN"
  dev_wait
}
step connect connect
DEV=$(dev_wait)
B=$(basename "$DEV")
Q=/sys/block/$B/queue
LBA=$((512 << LBA_SHIFT))
ZONE_LBAS=$((ZONE_SECTORS >> LBA_SHIFT))

sysfs() {
  for f in zoned nr_zones chunk_sectors zone_append_max_bytes max_open_zones max_active_zones logical_block_size scheduler; do
    echo "$f=$(cat "$Q/$f")"
  done
}
step sysfs sysfs

step id-ns nvme zns id-ns "$DEV"
step id-ctrl nvme zns id-ctrl "$DEV"
step blkzone-report blkzone report "$DEV"
step report-zones nvme zns report-zones "$DEV"

# Zone 1 (start sector ZONE_SECTORS): writes at the write pointer succeed, elsewhere they fail.
wp_write() {
  dd if=/dev/urandom of=/tmp/blk bs=$LBA count=2 2>/dev/null
  dd if=/tmp/blk of="$DEV" bs=$LBA count=2 seek=$ZONE_LBAS oflag=direct conv=notrunc
  dd if=/tmp/blk of="$DEV" bs=$LBA count=2 seek=$((ZONE_LBAS + 2)) oflag=direct conv=notrunc
  blkzone report -o "$ZONE_SECTORS" -c 1 "$DEV"
}
step wp-write wp_write

bad_write() {
  # Not at the write pointer (4 blocks ahead of it): the device refuses it.
  if dd if=/tmp/blk of="$DEV" bs=$LBA count=1 seek=$((ZONE_LBAS + 8)) oflag=direct conv=notrunc; then
    echo "UNEXPECTED: write away from the write pointer succeeded"; return 1
  fi
  echo "write away from the write pointer refused"
  # The same through nvme-cli, which prints the NVMe status.
  if nvme write "$DEV" -s $((ZONE_LBAS + 8)) -c 0 -z $LBA -d /tmp/blk; then
    echo "UNEXPECTED: nvme write away from the write pointer succeeded"; return 1
  fi
  return 0
}
step bad-write bad_write

reset_zone() {
  blkzone reset -o "$ZONE_SECTORS" -c 1 "$DEV"
  blkzone report -o "$ZONE_SECTORS" -c 1 "$DEV"
  dd if=/tmp/blk of="$DEV" bs=$LBA count=1 seek=$ZONE_LBAS oflag=direct conv=notrunc
}
step reset reset_zone

append() {
  dd if=/dev/urandom of=/tmp/app bs=$((LBA * 2)) count=1 2>/dev/null
  for i in 1 2 3 4; do
    nvme zns zone-append "$DEV" -s $((ZONE_LBAS * 2)) -z $((LBA * 2)) -d /tmp/app
  done
  nvme zns report-zones "$DEV" -s $((ZONE_LBAS * 2)) -d 1
}
step append append

finish() {
  nvme zns finish-zone "$DEV" -s $((ZONE_LBAS * 3))
  nvme zns report-zones "$DEV" -s $((ZONE_LBAS * 3)) -d 1
  blkzone report -o $((ZONE_SECTORS * 3)) -c 1 "$DEV"
}
step finish finish

step reset-all blkzone reset "$DEV"

# fio on the first 12 zones: sequential write of every zone with verification, then random
# writes at the write pointers of up to the device's open zones, verified too.
FIO_SIZE=$((ZONE_SECTORS * 512 * 12))
step fio-seq timeout 600 fio --name=zns-seq --filename="$DEV" --direct=1 --zonemode=zbd --ioengine=psync \
  --rw=write --bs=64k --size=$FIO_SIZE --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting
step reset-before-rand blkzone reset "$DEV"
# Queue depth > 1 on a zoned disk needs mq-deadline (zone write locking); this host comes up with
# "none" (mq-deadline is a module loaded after the disk appeared), so select it as users must.
step scheduler sh -c "echo mq-deadline > $Q/scheduler && cat $Q/scheduler"
step fio-rand timeout 600 fio --name=zns-rand --filename="$DEV" --direct=1 --zonemode=zbd --ioengine=libaio --iodepth=4 \
  --rw=randwrite --bs=16k --size=$FIO_SIZE --io_size=$((FIO_SIZE / 2)) --verify=crc32c --do_verify=1 --verify_fatal=1 \
  --group_reporting
step fio-report blkzone report "$DEV"

# Zone faults injected through the daemon's admin API while the host is connected.
API="http://$TGT:$HTTP/api/v1/subsystems/$NQN/namespaces/1/zones"
inject() {
  wget -q -O - --header 'Content-Type: application/json' --post-data "{\"state\":\"$2\"}" "$API/$1/fault"
  echo
}
ZRO=$((ZONE_LBAS * 14))
ZOFF=$((ZONE_LBAS * 15))
fault_ro() {
  inject $ZRO read_only
  blkzone report -o $((ZONE_SECTORS * 14)) -c 1 "$DEV"
  nvme zns report-zones "$DEV" -s $ZRO -d 1
  if dd if=/tmp/blk of="$DEV" bs=$LBA count=1 seek=$ZRO oflag=direct conv=notrunc; then
    echo "UNEXPECTED: write to a read-only zone succeeded"; return 1
  fi
  dd if="$DEV" of=/dev/null bs=$LBA count=4 skip=$ZRO iflag=direct
}
step fault-ro fault_ro

fault_offline() {
  inject $ZOFF offline
  blkzone report -o $((ZONE_SECTORS * 15)) -c 1 "$DEV"
  nvme zns report-zones "$DEV" -s $ZOFF -d 1
  nvme zns report-zones "$DEV" -S 7
  if dd if="$DEV" of=/dev/null bs=$LBA count=1 skip=$ZOFF iflag=direct; then
    echo "UNEXPECTED: read of an offline zone succeeded"; return 1
  fi
  echo "read of the offline zone refused"
}
step fault-offline fault_offline

step disconnect nvme disconnect -n "$NQN"
echo "===E2E-ZNS-END==="
