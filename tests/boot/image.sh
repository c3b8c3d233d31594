#!/usr/bin/env bash
# The booted-node tests' machine: a Debian 12 disk image with systemd, cloud-init, netplan
# and containerd (what a seedforge node runs), and qemu to boot it. Both are made once and
# kept under DIR (default target/boot) while their inputs are unchanged.
#
#   tests/boot/image.sh [DIR]     prints two lines: the image path, the qemu binary
#
# Needs root, debootstrap, apt-get, mkfs.ext4 (no mounts of the image: the kernel here may
# have no loop devices or isofs). About 5-8 minutes the first time.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-$HERE/../../target/boot}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

# Only the two result lines go to stdout (fd 3): every tool's chatter goes to stderr.
exec 3>&1 1>&2

log() { printf 'boot image: %s\n' "$*" >&2; }

# Retries a command once (the first apt run after an update can fail transiently).
twice() { "$@" || { sleep 3; "$@"; }; }

mirror() {
  local url
  url=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | head -n1 | awk '{print $2}')
  echo "${url:-http://deb.debian.org/debian}"
}

# --- qemu, from Debian's packages without installing them (qemu-system-x86 conflicts with
# the machine's qemu-utils), plus the libraries it links.
QEMU_DIR="$DIR/qemu"
QEMU="$QEMU_DIR/usr/bin/qemu-system-x86_64"
if ! "$QEMU" --version >/dev/null 2>&1; then
  log "extracting qemu into $QEMU_DIR"
  rm -rf "$QEMU_DIR" "$DIR/qemu-debs"
  mkdir -p "$QEMU_DIR" "$DIR/qemu-debs"
  (cd "$DIR/qemu-debs" && twice apt-get download -q qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu >/dev/null 2>&1)
  for deb in "$DIR"/qemu-debs/*.deb; do dpkg -x "$deb" "$QEMU_DIR"; done
  DEBIAN_FRONTEND=noninteractive twice apt-get install -y -qq libcapstone4 libfdt1 libpmem1 \
    librdmacm1 libibverbs1 libvdeplug2 libslirp0 >/dev/null
  "$QEMU" --version >/dev/null
fi

# --- the node image.
PACKAGES="systemd-sysv udev cloud-init netplan.io systemd-resolved containerd zstd openssl \
ca-certificates locales openssh-server linux-image-cloud-amd64 initramfs-tools python3 iproute2"
# The installed root is kept (its key: this script and the package list); the image adds
# the test's guest files to it (its key: the root's and the guest files').
ROOT_KEY=$( { cat "$0"; echo "$PACKAGES"; } | sha256sum | cut -c1-16)
KEY=$( { echo "$ROOT_KEY"; cat "$HERE"/guest/*; } | sha256sum | cut -c1-16)
IMAGE="$DIR/node-$KEY.img"
ROOT="$DIR/root-$ROOT_KEY"

# A kept root or image is used only when it holds what a node needs: an installed libc6 in
# dpkg's status, cloud-init and a kernel. A folder restored without some of its files
# (a cache that skipped some) is rebuilt, never booted.
root_sound() {
  [ -f "$ROOT/.complete" ] && grep -qx 'Package: libc6' "$ROOT/var/lib/dpkg/status" 2>/dev/null \
    && [ -x "$ROOT/usr/bin/cloud-init" ] && compgen -G "$ROOT/boot/vmlinuz-*" >/dev/null
}
image_sound() {
  [ -s "$IMAGE" ] && [ -s "$DIR/vmlinuz-$KEY" ] && [ -s "$DIR/initrd-$KEY" ] \
    && debugfs -R "cat /var/lib/dpkg/status" "$IMAGE" 2>/dev/null | grep -x 'Package: libc6' >/dev/null \
    && debugfs -R "stat /usr/bin/cloud-init" "$IMAGE" 2>&1 | grep 'Type: regular' >/dev/null
}
if [ -e "$IMAGE" ] && ! image_sound; then
  log "the kept image $IMAGE lacks what a node needs: making it again"
  rm -f "$IMAGE"
fi
if [ -e "$ROOT" ] && [ ! -s "$IMAGE" ] && ! root_sound; then
  log "the kept root $ROOT is incomplete: installing it again"
  rm -rf "$ROOT"
fi
if [ ! -s "$IMAGE" ] && [ ! -f "$ROOT/.complete" ]; then
  [ "$(id -u)" = 0 ] || { echo "image.sh: building the node image needs root" >&2; exit 3; }
  cleanup() {
    for m in proc sys dev/pts dev; do umount "$ROOT/$m" 2>/dev/null || true; done
  }
  trap cleanup EXIT
  cleanup
  rm -rf "$ROOT"
  log "debootstrap bookworm into $ROOT"
  twice debootstrap --variant=minbase bookworm "$ROOT" "$(mirror)" >"$DIR/debootstrap.log" 2>&1
  mount -t proc proc "$ROOT/proc"
  mount -t sysfs sys "$ROOT/sys"
  mount --bind /dev "$ROOT/dev"
  mount --bind /dev/pts "$ROOT/dev/pts"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  log "installing the node's packages"
  # shellcheck disable=SC2086 # PACKAGES is a word list
  DEBIAN_FRONTEND=noninteractive twice chroot "$ROOT" apt-get install -y -q \
    --no-install-recommends $PACKAGES >"$DIR/packages.log" 2>&1
  # cloud-init's locale module needs the locale it sets.
  sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/' "$ROOT/etc/locale.gen"
  chroot "$ROOT" locale-gen >/dev/null
  # A small certificate store: update-ca-certificates rehashes every certificate, which
  # under software emulation takes minutes for the full Mozilla set. The node trusts
  # only what it is given (the registry CA).
  : >"$ROOT/etc/ca-certificates.conf"
  chroot "$ROOT" update-ca-certificates --fresh >/dev/null 2>&1
  # NoCloud only: no probing for cloud metadata services on a network that has none.
  printf 'datasource_list: [ NoCloud, None ]\n' >"$ROOT/etc/cloud/cloud.cfg.d/90-boot-test.cfg"
  # Host keys of one type: RSA 3072 and DSA keys take most of cloud-init's init stage
  # under software emulation, and a node's identity is checked on whatever keys it has.
  printf 'ssh_genkeytypes: [ ed25519 ]\n' >>"$ROOT/etc/cloud/cloud.cfg.d/90-boot-test.cfg"
  # The system locale is the one generated above, as on a Debian cloud image: cloud-init's
  # locale module finds it set and does not generate it again at every first boot.
  chroot "$ROOT" update-locale LANG=en_US.UTF-8
  chroot "$ROOT" systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1 || true
  # Every boot is a new machine to systemd; the root is the first virtio disk.
  : >"$ROOT/etc/machine-id"
  rm -f "$ROOT/var/lib/dbus/machine-id"
  printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$ROOT/etc/fstab"
  echo "node" >"$ROOT/etc/hostname"
  rm -f "$ROOT/etc/resolv.conf"
  chroot "$ROOT" apt-get clean
  cleanup
  trap - EXIT
  touch "$ROOT/.complete"
fi
if [ ! -s "$IMAGE" ]; then
  install -m 0755 "$HERE/guest/boot-test-finish" "$ROOT/usr/local/sbin/boot-test-finish"
  install -m 0644 "$HERE/guest/boot-test-finish.service" "$ROOT/etc/systemd/system/"
  ln -sf /etc/systemd/system/boot-test-finish.service \
    "$ROOT/etc/systemd/system/multi-user.target.wants/boot-test-finish.service"
  cp "$ROOT"/boot/vmlinuz-* "$DIR/vmlinuz-$KEY"
  cp "$ROOT"/boot/initrd.img-* "$DIR/initrd-$KEY"
  log "making the ext4 image"
  rm -f "$IMAGE.partial"
  mkfs.ext4 -q -F -d "$ROOT" -L root "$IMAGE.partial" 3G
  mv "$IMAGE.partial" "$IMAGE"
  # Older images and roots of other inputs go.
  find "$DIR" -maxdepth 1 \( -name 'node-*.img' -o -name 'vmlinuz-*' -o -name 'initrd-*' \) \
    ! -name "*$KEY*" -delete
  find "$DIR" -maxdepth 1 -name 'root-*' ! -name "root-$ROOT_KEY" -exec rm -rf {} +
fi
image_sound || { echo "image.sh: the image just made ($IMAGE) fails its own check" >&2; exit 1; }
echo "$IMAGE" >&3
echo "$QEMU" >&3
