# Guest part of test/e2e/core.test.ts (runs inside the Linux host as /test.sh, busybox sh).
# The test prepends the variables:
#   TGT PORT OPEN CLOSED   target address as seen from the guest (10.0.2.2 = QEMU host loopback),
#                          its port and the two subsystem NQNs of the fixture
#   REF_PORT               port of the guest's own nvmet (reference implementation) on 127.0.0.1
#   SELFTEST               1: emulate the fixture with the guest's nvmet on 127.0.0.1:PORT instead
#                          of talking to nvmf-emu (proves the harness without the daemon)
#
# Output protocol, parsed by the test:
#   ===BEGIN <step>===  ...command output...  ===STEP <step> rc=<n>===
# and, after a failed step, ===DMESG <step>=== ... ===END-DMESG=== with the guest kernel's view.
# Each step runs in a subshell with `set -e`, so its rc is that of the first failing command.

CONN_OPTS="--ctrl-loss-tmo=15 --reconnect-delay=2"

# ---- sysfs helpers: find controllers/namespaces by subsystem NQN and NSID, not by guessing names
ctrl_of() {
  for c in /sys/class/nvme/nvme*; do
    [ -e "$c/subsysnqn" ] || continue
    if [ "$(cat "$c/subsysnqn")" = "$1" ]; then basename "$c"; return 0; fi
  done
  return 1
}
ns_of() { # CTRL NSID -> block device name (nvme_core multipath=N: the disk's parent is the controller)
  for n in /sys/block/nvme*n*; do
    [ -e "$n/nsid" ] || continue
    [ "$(basename "$(readlink -f "$n/device")")" = "$1" ] || continue
    if [ "$(cat "$n/nsid")" = "$2" ]; then basename "$n"; return 0; fi
  done
  return 1
}
ctrl_count() { ls -d /sys/class/nvme/nvme* 2>/dev/null | wc -l; }
wait_ns() { # NQN NSID... : waits up to 20 s for the controller and namespaces to appear
  _q=$1; shift
  _i=0
  while [ $_i -lt 40 ]; do
    _ok=1
    _c=$(ctrl_of "$_q") || _ok=0
    if [ $_ok = 1 ]; then for _s in "$@"; do ns_of "$_c" "$_s" >/dev/null || _ok=0; done; fi
    if [ $_ok = 1 ]; then
      for _s in "$@"; do [ -b "/dev/$(ns_of "$_c" "$_s")" ] || _ok=0; done
      [ $_ok = 1 ] && return 0
    fi
    sleep 0.5; _i=$((_i + 1))
  done
  echo "timeout waiting for namespaces $* of $_q"; ls /sys/class/nvme/ 2>&1
  return 1
}
wait_gone() { # NQN
  _i=0
  while ctrl_of "$1" >/dev/null; do
    [ $_i -ge 40 ] && { echo "controller of $1 still present"; return 1; }
    sleep 0.5; _i=$((_i + 1))
  done
}
dev_of() { echo "/dev/$(ns_of "$(ctrl_of "$OPEN")" "$1")"; }

connect_open() { # extra nvme connect options
  nvme connect -t tcp -a "$TGT" -s "$PORT" -n "$OPEN" $CONN_OPTS "$@"
  wait_ns "$OPEN" 1 2
}
ensure_disconnected() { # a failed earlier step may have left the controller connected
  if ctrl_of "$OPEN" >/dev/null; then nvme disconnect -n "$OPEN" >/dev/null; wait_gone "$OPEN"; fi
}
disconnect_open() {
  nvme disconnect -n "$OPEN"
  wait_gone "$OPEN"
}

fio_verify() { # NAME DEV RW BS SIZE [fio options...]
  _name=$1 _dev=$2 _rw=$3 _bs=$4 _size=$5; shift 5
  timeout 120 fio --name="$_name" --filename="$_dev" --ioengine=libaio --direct=1 \
    --rw="$_rw" --bs="$_bs" --size="$_size" --iodepth=16 \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_dump=1 \
    --group_reporting "$@"
}

# ---- self-test: the guest's nvmet pretends to be nvmf-emu with the fixture's topology
selftest_setup() {
  # null_blk devices created in configfs are named after the item (/dev/e2e1), memory-backed
  cd /sys/kernel/config/nullb
  mkdir e2e1 e2e2
  echo 512 > e2e1/blocksize; echo 256 > e2e1/size; echo 1 > e2e1/memory_backed; echo 1 > e2e1/discard; echo 1 > e2e1/power
  echo 4096 > e2e2/blocksize; echo 64 > e2e2/size; echo 1 > e2e2/memory_backed; echo 1 > e2e2/discard; echo 1 > e2e2/power
  truncate -s 16M /tmp/closed.img
  cd /sys/kernel/config/nvmet
  mkdir "subsystems/$OPEN" "subsystems/$CLOSED"
  echo 1 > "subsystems/$OPEN/attr_allow_any_host"
  echo E2EOPEN0001 > "subsystems/$OPEN/attr_serial"
  echo "nvmf-emu e2e" > "subsystems/$OPEN/attr_model"
  mkdir "subsystems/$OPEN/namespaces/1" "subsystems/$OPEN/namespaces/2" "subsystems/$CLOSED/namespaces/1"
  echo /dev/e2e1 > "subsystems/$OPEN/namespaces/1/device_path"
  echo /dev/e2e2 > "subsystems/$OPEN/namespaces/2/device_path"
  echo 1 > "subsystems/$OPEN/namespaces/1/enable"
  echo 1 > "subsystems/$OPEN/namespaces/2/enable"
  echo 0 > "subsystems/$CLOSED/attr_allow_any_host"
  echo /tmp/closed.img > "subsystems/$CLOSED/namespaces/1/device_path"
  echo 1 > "subsystems/$CLOSED/namespaces/1/buffered_io"
  echo 1 > "subsystems/$CLOSED/namespaces/1/enable"
  mkdir ports/9
  echo tcp > ports/9/addr_trtype; echo ipv4 > ports/9/addr_adrfam
  echo 127.0.0.1 > ports/9/addr_traddr; echo "$PORT" > ports/9/addr_trsvcid
  ln -s "/sys/kernel/config/nvmet/subsystems/$OPEN" ports/9/subsystems/
  ln -s "/sys/kernel/config/nvmet/subsystems/$CLOSED" ports/9/subsystems/
  ls -l /dev/e2e1 /dev/e2e2
}

# ---- steps
s_discover() {
  timeout 60 nvme discover -t tcp -a "$TGT" -s "$PORT"
}
s_connect() {
  connect_open
  c=$(ctrl_of "$OPEN")
  echo "CTRL=$c N1=$(ns_of "$c" 1) N2=$(ns_of "$c" 2)"
  echo "STATE=$(cat /sys/class/nvme/$c/state)"
  echo "TRANSPORT=$(cat /sys/class/nvme/$c/transport)"
  echo "ADDRESS=$(cat /sys/class/nvme/$c/address)"
  echo "CNTLID=$(cat /sys/class/nvme/$c/cntlid)"
  echo "QUEUE_COUNT=$(cat /sys/class/nvme/$c/queue_count)"
  echo "SQSIZE=$(cat /sys/class/nvme/$c/sqsize)"
  echo "MQ=$(ls /sys/block/$(ns_of "$c" 1)/mq | wc -l)"
  echo "N1_LBS=$(/usr/sbin/blockdev --getss "$(dev_of 1)") N1_BYTES=$(/usr/sbin/blockdev --getsize64 "$(dev_of 1)")"
  echo "N2_LBS=$(/usr/sbin/blockdev --getss "$(dev_of 2)") N2_BYTES=$(/usr/sbin/blockdev --getsize64 "$(dev_of 2)")"
}
s_list() { nvme list; }
s_id_ctrl() { nvme id-ctrl "/dev/$(ctrl_of "$OPEN")" -o json; }
s_id_ctrl_text() { nvme id-ctrl "/dev/$(ctrl_of "$OPEN")" -H; }
s_id_ns1() { nvme id-ns "$(dev_of 1)" -o json; }
s_id_ns2() { nvme id-ns "$(dev_of 2)" -o json; }
s_ns_descs() {
  nvme ns-descs "$(dev_of 1)" -o json
  echo "---- n2"
  nvme ns-descs "$(dev_of 2)" -o json
}
s_smart() { nvme smart-log "/dev/$(ctrl_of "$OPEN")" -o json; }
s_error_log() { nvme error-log "/dev/$(ctrl_of "$OPEN")" -e 4; }
s_feat() { nvme get-feature "/dev/$(ctrl_of "$OPEN")" -f "$1"; }

s_fio_4k() { fio_verify rw4k "$(dev_of 1)" randwrite 4k 16M; }
s_fio_512() { fio_verify rw512 "$(dev_of 1)" randwrite 512 2M --offset=32M; }
s_fio_64k() { fio_verify seq64k "$(dev_of 1)" write 64k 16M --offset=64M; }
s_fio_1m() { fio_verify seq1m "$(dev_of 1)" write 1M 16M --offset=96M --iodepth=4; }
s_fio_bsrange() { fio_verify bsrange "$(dev_of 1)" randwrite 512-128k 8M --bsrange=512-128k --offset=128M; }
s_fio_n2() { fio_verify n2 "$(dev_of 2)" randwrite 4k-256k 16M --bsrange=4k-256k; }

s_discard() {
  d=$(dev_of 1)
  # 1 MiB of random data at 8 MiB, check it reads back non-zero, discard it, it must read zero
  dd if=/dev/urandom of=/tmp/rnd bs=64k count=16 2>/dev/null
  dd if=/tmp/rnd of="$d" bs=64k seek=128 count=16 oflag=direct 2>/dev/null
  dd if="$d" of=/tmp/rb bs=64k skip=128 count=16 iflag=direct 2>/dev/null
  /usr/bin/cmp /tmp/rnd /tmp/rb
  if /usr/bin/cmp -s -n 1048576 /tmp/rb /dev/zero; then echo "pattern reads back as zeroes before discard"; exit 1; fi
  echo "DISCARD_MAX_BYTES=$(cat /sys/block/$(basename "$d")/queue/discard_max_bytes) GRANULARITY=$(cat /sys/block/$(basename "$d")/queue/discard_granularity)"
  /usr/sbin/blkdiscard -v -o 8388608 -l 1048576 "$d"
  dd if="$d" of=/tmp/rb bs=64k skip=128 count=16 iflag=direct 2>/dev/null
  od -A d -t x1 /tmp/rb | head -4
  /usr/bin/cmp -n 1048576 /tmp/rb /dev/zero
  echo "RANGE-ZERO-OK"
  # whole device: write first and last MiB, discard everything, both read zero
  dd if=/tmp/rnd of="$d" bs=64k count=16 oflag=direct 2>/dev/null
  last=$(( $(/usr/sbin/blockdev --getsize64 "$d") / 65536 - 16 ))
  dd if=/tmp/rnd of="$d" bs=64k seek=$last count=16 oflag=direct 2>/dev/null
  /usr/sbin/blkdiscard -v "$d"
  dd if="$d" of=/tmp/rb bs=64k count=16 iflag=direct 2>/dev/null
  /usr/bin/cmp -n 1048576 /tmp/rb /dev/zero
  dd if="$d" of=/tmp/rb bs=64k skip=$last count=16 iflag=direct 2>/dev/null
  /usr/bin/cmp -n 1048576 /tmp/rb /dev/zero
  echo "FULL-ZERO-OK"
}

s_persist() {
  dd if=/dev/urandom of=/tmp/pat bs=64k count=64 2>/dev/null
  echo "SHA-WRITTEN $(sha256sum /tmp/pat | cut -d' ' -f1)"
  dd if=/tmp/pat of="$(dev_of 1)" bs=64k seek=512 oflag=direct 2>/dev/null
  dd if=/tmp/pat of="$(dev_of 2)" bs=64k seek=256 oflag=direct 2>/dev/null
  echo "SHA-N1-BEFORE $(dd if="$(dev_of 1)" bs=64k skip=512 count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
  disconnect_open
  echo "disconnected; controllers now: $(ctrl_count)"
  connect_open
  echo "reconnected as $(ctrl_of "$OPEN")"
  echo "SHA-N1-READ $(dd if="$(dev_of 1)" bs=64k skip=512 count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
  echo "SHA-N2-READ $(dd if="$(dev_of 2)" bs=64k skip=256 count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
  w=$(sha256sum /tmp/pat | cut -d' ' -f1)
  [ "$(dd if="$(dev_of 1)" bs=64k skip=512 count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$w" ]
  [ "$(dd if="$(dev_of 2)" bs=64k skip=256 count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$w" ]
  echo "PERSIST-OK"
}
s_disconnect() { disconnect_open; }

s_digest() {
  ensure_disconnected
  connect_open --hdr-digest --data-digest
  echo "CTRL=$(ctrl_of "$OPEN")"
  fio_verify dg4k "$(dev_of 1)" randwrite 4k 4M --offset=160M
  fio_verify dg128k "$(dev_of 1)" write 128k 8M --offset=168M
  # Read back again: the target now sends these blocks' digests from the CRCs it kept when it
  # first summed them. The host checks every digest, and on a mismatch it resets the connection
  # and retries (the read could still pass): the log must show none.
  fio_verify dg4k "$(dev_of 1)" randwrite 4k 4M --offset=160M --verify_only
  if dmesg | grep -i "digest error"; then exit 1; fi
  disconnect_open
}

s_queues() { # N
  ensure_disconnected
  connect_open -i "$1"
  c=$(ctrl_of "$OPEN")
  qc=$(cat /sys/class/nvme/$c/queue_count)
  mq=$(ls "/sys/block/$(ns_of "$c" 1)/mq" | wc -l)
  echo "QUEUE_COUNT=$qc MQ=$mq"
  ok=1
  [ "$qc" = "$(($1 + 1))" ] || { echo "queue_count $qc != $(($1 + 1))"; ok=0; }
  [ "$mq" = "$1" ] || { echo "mq $mq != $1"; ok=0; }
  fio_verify q$1 "$(dev_of 1)" randwrite 4k 2M --offset=176M --numjobs=2 --offset_increment=2M
  disconnect_open
  [ $ok = 1 ]
}

s_closed() {
  before=$(ctrl_count)
  echo "CONTROLLERS-BEFORE=$before"
  set +e
  timeout 60 nvme connect -t tcp -a "$TGT" -s "$PORT" -n "$CLOSED" $CONN_OPTS
  rc=$?
  set -e
  sleep 1
  after=$(ctrl_count)
  echo "CONNECT-RC=$rc CONTROLLERS-AFTER=$after"
  if ctrl_of "$CLOSED" >/dev/null; then
    echo "UNEXPECTED: a controller of $CLOSED exists"; nvme disconnect -n "$CLOSED" || true; exit 1
  fi
  [ "$rc" != 0 ] && [ "$after" = "$before" ]
}

REF=nqn.2024-01.io.nvmf-emu:e2e-reference
s_ref_setup() {
  truncate -s 256M /tmp/ref.img
  cd /sys/kernel/config/nvmet
  mkdir "subsystems/$REF"
  echo 1 > "subsystems/$REF/attr_allow_any_host"
  mkdir "subsystems/$REF/namespaces/1"
  echo /tmp/ref.img > "subsystems/$REF/namespaces/1/device_path"
  echo 1 > "subsystems/$REF/namespaces/1/buffered_io"
  echo 1 > "subsystems/$REF/namespaces/1/enable"
  mkdir ports/2
  echo tcp > ports/2/addr_trtype; echo ipv4 > ports/2/addr_adrfam
  echo 127.0.0.1 > ports/2/addr_traddr; echo "$REF_PORT" > ports/2/addr_trsvcid
  ln -s "/sys/kernel/config/nvmet/subsystems/$REF" ports/2/subsystems/
  nvme connect -t tcp -a 127.0.0.1 -s "$REF_PORT" -n "$REF"
  wait_ns "$REF" 1
  echo "REF-CTRL=$(ctrl_of "$REF")"
}
s_ref_id_ctrl() { nvme id-ctrl "/dev/$(ctrl_of "$REF")" -o json; }
s_ref_id_ns() { nvme id-ns "/dev/$(ns_of "$(ctrl_of "$REF")" 1)" -o json; }
s_ref_feat() { nvme get-feature "/dev/$(ctrl_of "$REF")" -f "$1"; }
s_ref_teardown() { nvme disconnect -n "$REF"; }

# busybox-static's ash runs its own applets before PATH (blkdiscard, cmp, blockdev exist as applets
# with fewer options): util-linux/diffutils tools are called by absolute path.

# ---- main
echo "===E2E-CORE-START=== $(date +%s)"
if [ "$SELFTEST" = 1 ]; then
  step selftest-setup selftest_setup
fi
step discover s_discover
step connect s_connect
step list s_list
step id-ctrl s_id_ctrl
step id-ctrl-text s_id_ctrl_text
step id-ns1 s_id_ns1
step id-ns2 s_id_ns2
step ns-descs s_ns_descs
step smart-before s_smart
step error-log s_error_log
step feat-nq s_feat 7
step feat-vwc s_feat 6
step feat-kato s_feat 0xf
step fio-4k s_fio_4k
step fio-512 s_fio_512
step fio-64k s_fio_64k
step fio-1m s_fio_1m
step fio-bsrange s_fio_bsrange
step fio-n2 s_fio_n2
step smart-after s_smart
step discard s_discard
step persist s_persist
step disconnect s_disconnect
step digest s_digest
step queues-1 s_queues 1
step queues-2 s_queues 2
step closed s_closed
step ref-setup s_ref_setup
step ref-id-ctrl s_ref_id_ctrl
step ref-id-ns s_ref_id_ns
step ref-feat-nq s_ref_feat 7
step ref-feat-vwc s_ref_feat 6
step ref-feat-kato s_ref_feat 0xf
step ref-teardown s_ref_teardown
echo "===BEGIN dmesg==="
dmesg | grep -i nvme | tail -40
echo "===STEP dmesg rc=0==="
echo "===E2E-CORE-END=== $(date +%s)"
