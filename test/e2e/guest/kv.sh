# Guest part of test/e2e/kv.test.ts (busybox sh inside the Linux host). Prepended by the test:
#   TGT PORT NQN   target address/port as seen from the guest, subsystem
# nsid 1 is a kv namespace with NVMeVirt's vendor opcodes (identifies as NVM: /dev/nvme0n1);
# nsid 2 uses the NVMe KV command set (CSI 01h: only the generic device /dev/ng0n2).
#
# The seed's store_retrieve.sh runs as written, under bash, except for DEV. The guest lacks three things it
# assumes, provided as shims on PATH (the script itself is not touched): sudo (we are root),
# uuidgen (util-linux's is not in the initramfs: the kernel's random UUID), and nvme-cli 2.3's
# io-passthru has no -v flag (the seed's -svw / -svr come from another nvme-cli version), so an
# `nvme` wrapper drops the v from combined short flags.

mkdir -p /tmp/kvbin
cat > /tmp/kvbin/sudo <<'EOF'
#!/bin/sh
exec "$@"
EOF
cat > /tmp/kvbin/uuidgen <<'EOF'
#!/bin/sh
u=$(cat /proc/sys/kernel/random/uuid)
echo "$u" >> /tmp/uuids
echo "$u"
EOF
cat > /tmp/kvbin/nvme <<'EOF'
#!/bin/sh
n=$#
for a in "$@"; do
  case "$a" in
    --*) ;;
    -*v*) a=$(echo "$a" | tr -d v) ;;
  esac
  set -- "$@" "$a"
done
shift $n
exec /usr/sbin/nvme "$@"
EOF
chmod +x /tmp/kvbin/*

dev_wait() {
  _i=0
  while [ $_i -lt 40 ]; do
    for n in /sys/block/nvme*n1; do
      [ -e "$n" ] && [ -e "/dev/ng$(basename "$n" | sed 's/^nvme//' | sed 's/n1$//')n2" ] && { echo "/dev/$(basename "$n")"; return 0; }
    done
    sleep 0.5; _i=$((_i + 1))
  done
  return 1
}

connect() {
  nvme connect -t tcp -a "$TGT" -s "$PORT" -n "$NQN"
  dev_wait
}
step connect connect
DEV=$(dev_wait)
C=$(basename "$DEV" | sed 's/^nvme//; s/n1$//')
NG2=/dev/ng${C}n2

devices() {
  nvme list
  echo "--- /dev:"; ls /dev | grep -E '^(nvme|ng)' | sort
  echo "--- /sys/block:"; ls /sys/block | grep nvme || true
  echo "--- csi:"; nvme ns-descs "$DEV" | grep -i csi || true; nvme ns-descs "$NG2" | grep -i csi || true
  echo "--- dmesg:"; dmesg | grep -i -E 'nvme|csi' | tail -20
}
step devices devices

# ---- the seed's script, verbatim except DEV ----
cat > /tmp/store_retrieve.sh <<'EOF'
#!/bin/bash
set -e
DEV=/dev/nvme0n1
VAL="$(uuidgen)"
VAL_LEN=$(echo -n "${VAL}" | wc -c)
UUID=$(echo -n "${VAL}" | tr -d '-')
KEY0=$(echo -n "${UUID}" | sed -E 's|(.{4})(.{4})(.{4})(.{3})(.*)|\1|g')
KEY1=$(echo -n "${UUID}" | sed -E 's|(.{4})(.{4})(.{4})(.{3})(.*)|\2|g')
KEY2=$(echo -n "${UUID}" | sed -E 's|(.{4})(.{4})(.{4})(.{3})(.*)|\3|g')
KEY3=$(echo -n "${UUID}" | sed -E 's|(.{4})(.{4})(.{4})(.{3})(.*)|\4|g')
KEY="${KEY0}${KEY1}${KEY2}${KEY3}"
KEY_LEN=$(echo -n "${KEY}" | wc -c)
echo -n "${VAL}" | \
sudo nvme io-passthru ${DEV} \
--opcode="0x81" \
--cdw10="${VAL_LEN}" \
--cdw11="${KEY_LEN}" \
--cdw12="0x$(echo -n "${KEY0}" | rev | xxd -p)" \
--cdw13="0x$(echo -n "${KEY1}" | rev | xxd -p)" \
--cdw14="0x$(echo -n "${KEY2}" | rev | xxd -p)" \
--cdw15="0x$(echo -n "${KEY3}" | rev | xxd -p)" \
--namespace-id=1 \
--data-len="${VAL_LEN}" \
-svw
sudo nvme io-passthru ${DEV} \
--opcode="0x90" \
--cdw10="${VAL_LEN}" \
--cdw11="${KEY_LEN}" \
--cdw12="0x$(echo -n "${KEY0}" | rev | xxd -p)" \
--cdw13="0x$(echo -n "${KEY1}" | rev | xxd -p)" \
--cdw14="0x$(echo -n "${KEY2}" | rev | xxd -p)" \
--cdw15="0x$(echo -n "${KEY3}" | rev | xxd -p)" \
--namespace-id=1 \
--data-len="${VAL_LEN}" \
-svr
EOF
sed -i "s|^DEV=/dev/nvme0n1$|DEV=$DEV|" /tmp/store_retrieve.sh
# The 16-byte key variant: the last chunk takes 4 characters instead of 3.
sed 's/(\.{3})/(.{4})/g' /tmp/store_retrieve.sh > /tmp/store_retrieve16.sh

seed() {
  : > /tmp/uuids
  PATH=/tmp/kvbin:$PATH bash "$1"
  echo "VAL=$(tail -n 1 /tmp/uuids)"
}
step seed-15 seed /tmp/store_retrieve.sh
step seed-16 seed /tmp/store_retrieve16.sh

# ---- delete then exist (vendor opcodes A1h, B3h), with the key of the 16-byte run ----
kdw() { echo "0x$(echo -n "$1" | rev | xxd -p)"; }
vendor_del_exist() {
  V=$(tail -n 1 /tmp/uuids); U=$(echo -n "$V" | tr -d '-')
  K0=$(echo "$U" | cut -c1-4); K1=$(echo "$U" | cut -c5-8); K2=$(echo "$U" | cut -c9-12); K3=$(echo "$U" | cut -c13-16)
  KEYDW="--cdw12=$(kdw "$K0") --cdw13=$(kdw "$K1") --cdw14=$(kdw "$K2") --cdw15=$(kdw "$K3")"
  echo "exist-before:"; /usr/sbin/nvme io-passthru "$DEV" --opcode=0xb3 --cdw11=16 $KEYDW --namespace-id=1; echo "rc=$?"
  echo "delete:"; /usr/sbin/nvme io-passthru "$DEV" --opcode=0xa1 --cdw11=0x110 $KEYDW --namespace-id=1; echo "rc=$?"
  echo "exist-after:"; /usr/sbin/nvme io-passthru "$DEV" --opcode=0xb3 --cdw11=16 $KEYDW --namespace-id=1 || echo "rc=$?"
  echo "retrieve-after:"; /usr/sbin/nvme io-passthru "$DEV" --opcode=0x90 --cdw11=16 $KEYDW --namespace-id=1 --data-len=36 -r || echo "rc=$?"
}
step vendor-del-exist vendor_del_exist

# ---- a value of MDTS (1 MiB: the host sends it by R2T), and a retrieve into a 16-byte buffer ----
vendor_mdts() {
  dd if=/dev/urandom of=/tmp/big bs=1048576 count=1 2>/dev/null
  KEYDW="--cdw12=$(kdw big-) --cdw13=$(kdw valu) --cdw14=$(kdw e-ke) --cdw15=$(kdw y)"
  /usr/sbin/nvme io-passthru "$DEV" --opcode=0x81 --cdw11=13 $KEYDW --namespace-id=1 --data-len=1048576 -i /tmp/big -w
  /usr/sbin/nvme io-passthru "$DEV" --opcode=0x90 --cdw11=13 $KEYDW --namespace-id=1 --data-len=1048576 -i /tmp/big.out -r
  cmp /tmp/big /tmp/big.out && echo "MDTS-ROUNDTRIP-OK"
  echo "short:"
  /usr/sbin/nvme io-passthru "$DEV" --opcode=0x90 --cdw11=13 $KEYDW --namespace-id=1 --data-len=16 -r -b > /tmp/short
  head -c 16 /tmp/big > /tmp/big16
  cmp /tmp/big16 /tmp/short && echo "SHORT-OK"
  # and a 5-byte value into a 4 KiB buffer: the target sends 5 bytes, the host takes them
  printf small | /usr/sbin/nvme io-passthru "$DEV" --opcode=0x81 --cdw11=2 --cdw12="$(kdw sm)" --namespace-id=1 --data-len=5 -w
  echo "long:"
  /usr/sbin/nvme io-passthru "$DEV" --opcode=0x90 --cdw11=2 --cdw12="$(kdw sm)" --namespace-id=1 --data-len=4096 -r -b > /tmp/long
  echo "LONG=$(head -c 5 /tmp/long)"
}
step vendor-mdts vendor_mdts

# ---- the CSI 01h namespace: generic device only, NVMe KV Store 01h / Retrieve 02h / Exist 14h / Delete 10h ----
# Linux 6.1 keeps a hidden gendisk for it (it shows in /sys/block) but makes no /dev node.
generic_only() {
  test -c "$NG2"
  if [ -e "/dev/nvme${C}n2" ]; then echo "block device /dev/nvme${C}n2 exists"; exit 1; fi
  [ -e "/sys/block/nvme${C}n2/hidden" ] && echo "hidden=$(cat /sys/block/nvme${C}n2/hidden)"
  echo "only $NG2"
}
step kv-generic-only generic_only

nvme_kv() {
  VAL=$(cat /proc/sys/kernel/random/uuid)
  KEY=nvme-kv-16-byte
  KEY="${KEY}s"
  K0=$(echo "$KEY" | cut -c1-4); K1=$(echo "$KEY" | cut -c5-8); K2=$(echo "$KEY" | cut -c9-12); K3=$(echo "$KEY" | cut -c13-16)
  KEYDW="--cdw2=$(kdw "$K0") --cdw3=$(kdw "$K1") --cdw14=$(kdw "$K2") --cdw15=$(kdw "$K3")"
  echo "VAL=$VAL"
  echo -n "$VAL" | /usr/sbin/nvme io-passthru "$NG2" --opcode=0x01 --cdw10=36 --cdw11=16 $KEYDW --namespace-id=2 --data-len=36 -w
  echo "retrieve:"
  /usr/sbin/nvme io-passthru "$NG2" --opcode=0x02 --cdw10=36 --cdw11=16 $KEYDW --namespace-id=2 --data-len=36 -r -b > /tmp/kv-out
  echo "RAW=$(cat /tmp/kv-out)"
  echo "exist:"; /usr/sbin/nvme io-passthru "$NG2" --opcode=0x14 --cdw11=16 $KEYDW --namespace-id=2
  echo "list:"; /usr/sbin/nvme io-passthru "$NG2" --opcode=0x06 --cdw10=64 --cdw11=0 --namespace-id=2 --data-len=64 -r -b > /tmp/kv-list
  echo "LIST=$(xxd -p /tmp/kv-list | tr -d '\n')"
  echo "must-not-exist store:"; echo -n "$VAL" | /usr/sbin/nvme io-passthru "$NG2" --opcode=0x01 --cdw10=36 --cdw11=0x210 $KEYDW --namespace-id=2 --data-len=36 -w || echo "rc=$?"
  echo "delete:"; /usr/sbin/nvme io-passthru "$NG2" --opcode=0x10 --cdw11=16 $KEYDW --namespace-id=2
  echo "exist-after:"; /usr/sbin/nvme io-passthru "$NG2" --opcode=0x14 --cdw11=16 $KEYDW --namespace-id=2 || echo "rc=$?"
}
step nvme-kv nvme_kv

step disconnect nvme disconnect -n "$NQN"
echo "===E2E-KV-END==="
