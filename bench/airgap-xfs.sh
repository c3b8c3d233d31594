#!/usr/bin/env bash
# `seedforge airgap` to a plain .tar on a copy-on-write file system (XFS with reflink, on a
# loop-mounted file), against `cp` + sync of the same archive. Each blob's body starts on a
# 4 KiB boundary of the tar, so copy_file_range shares the layout's extents instead of
# copying bytes; blob stamps spare the re-hash of blobs unchanged since they last hashed
# right. Needs root (mount), mkfs.xfs (xfsprogs), hyperfine, python3, ~2.5 GiB in $TMPDIR.
#
#   bench/airgap-xfs.sh            # SIZE_MIB=1024 RUNS=5
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-5}
TMP=${TMPDIR:-/tmp}
SF=${SEEDFORGE:-$ROOT/target/release/seedforge}

for t in mkfs.xfs hyperfine python3 filefrag; do
  command -v "$t" >/dev/null || { echo "airgap-xfs.sh: $t is required" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "airgap-xfs.sh: needs root to mount the XFS file" >&2; exit 1; }
[ -x "$SF" ] || (cd "$ROOT" && cargo build --release --locked -q)

WORK=$(mktemp -d "$TMP/seedforge-xfs.XXXXXX")
MNT="$WORK/mnt"
cleanup() {
  cd /
  umount "$MNT" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$MNT"
truncate -s $((SIZE_MIB * 3 + 1024))M "$WORK/xfs.img"
mkfs.xfs -q -m reflink=1 "$WORK/xfs.img"
mount -o loop "$WORK/xfs.img" "$MNT"

python3 "$ROOT/bench/make-big-layout.py" "$MNT/layout" --size "$SIZE_MIB" >/dev/null
"$SF" airgap --layout "$MNT/layout" --out "$MNT/ref.tar" -q
cd "$MNT"
echo "== seedforge airgap .tar on XFS (reflink), ${SIZE_MIB} MiB layout, $RUNS runs"
hyperfine -N --runs "$RUNS" --prepare "sh -c 'rm -f $MNT/out-* $MNT/layout/.seedforge/blob-stamps.json; sync'" \
  -n "seedforge (no stamps: re-hashes every blob)" "$SF airgap --layout layout --out out-sf.tar -q"
"$SF" airgap --layout layout --out out-warm.tar -q
hyperfine -N --runs "$RUNS" --prepare "sh -c 'rm -f $MNT/out-*; sync'" \
  -n "seedforge (stamps)" "$SF airgap --layout layout --out out-sf.tar -q" \
  -n "cp + sync" "sh -c 'cp ref.tar out-cp.tar && sync out-cp.tar'"
"$SF" airgap --layout layout --out out-check.tar -q
cmp out-check.tar ref.tar
echo "shared extents in the archive: $(filefrag -v out-check.tar | grep -c shared)"
