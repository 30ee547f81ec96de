#!/bin/bash
# Builds the Linux NVMe/TCP *host* used by the e2e tests: a Debian 6.1 kernel plus a busybox
# initramfs carrying nvme-cli, fio and util-linux block tools. The guest boots under QEMU (tcg)
# with run-guest.sh and reaches the QEMU host's 127.0.0.1 at 10.0.2.2.
#
# usage: build-host.sh [OUT_DIR]     (default: <repo>/.e2e-cache/linux-host)
# Output: OUT_DIR/vmlinuz, OUT_DIR/base.cpio.gz, OUT_DIR/stamp
# Idempotent: nothing is rebuilt when both outputs exist and the stamp (this script's hash,
# kernel version and the versions of the packages copied into the initramfs) matches.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT=${1:-$REPO/.e2e-cache/linux-host}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

PKGS=(qemu-system-x86 busybox-static cpio nvme-cli fio util-linux kmod)
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000beef
HOSTID=00000000-0000-0000-0000-00000000beef

log() { echo "[build-host] $*" >&2; }

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

need=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing missing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Serialise concurrent builds into the same OUT_DIR.
exec 9>"$OUT/.lock"
flock 9

KVER=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2}' | sed 's/linux-image-//' | head -1)
[ -n "$KVER" ] || { log "cannot resolve the linux-image-amd64 kernel version (apt-get update?)"; exit 1; }

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
STAMP=$( {
  sha256sum "$HERE/build-host.sh" | cut -d' ' -f1
  echo "kernel=$KVER"
  for p in busybox-static nvme-cli libnvme1 fio util-linux; do echo "$p=$(pkgver "$p")"; done
} | sha256sum | cut -d' ' -f1)

if [ -f "$OUT/base.cpio.gz" ] && [ -f "$OUT/vmlinuz" ] && [ "$(cat "$OUT/stamp" 2>/dev/null)" = "$STAMP" ]; then
  log "up to date: $OUT (kernel $KVER)"
  echo "$OUT"
  exit 0
fi

log "building kernel $KVER + initramfs into $OUT"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# The kernel package is downloaded (not installed) and unpacked; the .deb is kept in OUT_DIR/debs.
mkdir -p "$OUT/debs"
DEB=$(ls "$OUT/debs/linux-image-${KVER}_"*.deb 2>/dev/null | head -1 || true)
if [ -z "$DEB" ]; then
  ( cd "$OUT/debs" && apt-get download "linux-image-$KVER" >/dev/null 2>&1 ) || {
    log "apt-get download linux-image-$KVER failed; retrying after apt-get update"
    $SUDO apt-get update -qq
    ( cd "$OUT/debs" && apt-get download "linux-image-$KVER" >/dev/null )
  }
  DEB=$(ls "$OUT/debs/linux-image-${KVER}_"*.deb | head -1)
fi
K="$W/kroot"
dpkg -x "$DEB" "$K"
depmod -b "$K" "$KVER"

R="$W/rootfs"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,mnt,etc/nvme,lib/modules,run,var/run}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done

copy_bin() {
  local b=$1
  mkdir -p "$R$(dirname "$b")"
  rm -f "$R$b" # a busybox applet link of the same name: cp would write through it into busybox
  cp "$b" "$R$b"
  for l in $(ldd "$b" | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do
    mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l" 2>/dev/null || true
  done
}
# Real tools win over busybox applets: /usr/sbin and /usr/bin come first in the guest's PATH.
# bash: the seed KV script (test/e2e/guest/kv.sh) is a bash script and runs under bash, as written.
for b in /bin/bash /usr/sbin/nvme /usr/bin/fio /usr/sbin/blkzone /usr/sbin/blkdiscard /usr/bin/cmp /usr/sbin/blockdev; do
  [ -x "$b" ] || { log "missing $b"; exit 1; }
  copy_bin "$b"
done
mkdir -p "$R/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"

# Modules: the NVMe/TCP host and target (the guest's nvmet is the reference implementation),
# null_blk, virtio net/pci, crc32c. modprobe --show-depends lists them in load order.
mods=$(for m in nvme-tcp nvmet-tcp null_blk virtio_net virtio_pci crc32c_intel crc32c_generic; do
         modprobe -d "$K" -S "$KVER" --show-depends "$m"
       done | awk '/^insmod/{print $2}' | awk '!seen[$0]++')
: > "$R/modules.list"
for m in $mods; do
  rel=${m#"$K"/}; rel=${rel#./}
  mkdir -p "$R/$(dirname "$rel")"; cp "$m" "$R/$rel"; echo "/$rel" >> "$R/modules.list"
done

echo "$HOSTNQN" > "$R/etc/nvme/hostnqn"
echo "$HOSTID" > "$R/etc/nvme/hostid"

cat > "$R/init" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs -o size=512m tmpfs /tmp
# insmod (unlike modprobe) ignores the kernel command line: module parameters go here.
# multipath=N: one /dev/nvmeXnY per controller, with its blk-mq hardware queues in sysfs.
for m in $(cat /modules.list); do
  case $m in
    */nvme-core.ko*) insmod $m multipath=N ;;
    *) insmod $m 2>/dev/null ;;
  esac
done
mount -t configfs none /sys/kernel/config 2>/dev/null
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
echo "===LINUX-HOST-READY=== $(uname -r)"
if [ -x /test.sh ]; then cd /tmp; /test.sh; echo "===TEST-EXIT=$?==="; else sh; fi
echo "===LINUX-HOST-DONE==="
sync
poweroff -f
INIT
chmod +x "$R/init"

( cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "$W/base.cpio.gz" )
cp "$K/boot/vmlinuz-$KVER" "$W/vmlinuz"
mv -f "$W/vmlinuz" "$OUT/vmlinuz"
mv -f "$W/base.cpio.gz" "$OUT/base.cpio.gz"
echo "$STAMP" > "$OUT/stamp"
log "kernel $KVER -> $OUT/vmlinuz, $(du -h "$OUT/base.cpio.gz" | cut -f1) initramfs"
echo "$OUT"
