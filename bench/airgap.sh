#!/usr/bin/env bash
# `seedforge airgap` durable against durable, on ext4 (TMPDIR's file system) and on XFS with
# reflink (a loop-mounted file), for the two kinds of image sets `airgap.compression: auto`
# tells apart:
#
#   gzip layers   (bench/make-big-layout.py --gzip: 8 gzip layers, ~1 GiB, as registries
#                 serve them): auto writes a plain .tar; compared with `cp` + sync of the
#                 same bytes, and with what the old default (.tar.zst) and the zstd CLI
#                 cost and save on the same archive
#   plain layers  (8 uncompressed tar layers, 1 GiB, as docker-archive sources give):
#                 auto writes .tar.zst; compared with the zstd CLI + sync on the same tar
#
#   bench/airgap.sh                   # both file systems, RUNS=7; needs root for XFS and
#                                     # for dropping the page cache; ~2.5 GiB in $TMPDIR
#                                     # plus ~3 GiB of cached layouts
#   FS=ext4 RUNS=9 bench/airgap.sh
#
# Commands alternate round by round (the first one rotating); before each run the outputs
# are deleted, `sync` runs and the page cache is dropped (bench/durable.sh). seedforge
# fsyncs its archive; each peer is followed by `sync FILE`. seedforge runs with its blob
# stamps in place (the layout's blobs hashed right at this stat before), except the row
# "no stamps", which deletes them first and so re-hashes every blob.
#
# Environment: FS ("ext4 xfs"), SIZE_MIB (1024), RUNS (7), WARMUP (1), RESULTS (a new
# temp dir, printed), SEEDFORGE (default: target/release/seedforge, built if missing),
# SEEDFORGE_BENCH_CACHE (where generated layouts are kept between runs; default
# $TMPDIR/seedforge-bench-cache).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/durable.sh
. "$ROOT/bench/durable.sh"
FS=${FS:-ext4 xfs}
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-7}
WARMUP=${WARMUP:-1}
TMP=${TMPDIR:-/tmp}
CACHE=${SEEDFORGE_BENCH_CACHE:-$TMP/seedforge-bench-cache}
REF_NAME=docker.io/bench/big:1

for t in python3 zstd skopeo; do bench_have "$t" || bench_die "$t is required"; done

bench_start airgap

# cached_layout KIND (gz|tar): generated once into the cache, checked with skopeo.
cached_layout() {
  local dir=$CACHE/layout-$1-${SIZE_MIB}M flag=
  [ "$1" = gz ] && flag=--gzip
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    mkdir -p "$CACHE"
    bench_log "generating the $1 layout ($SIZE_MIB MiB) in $dir"
    python3 "$ROOT/bench/make-big-layout.py" "$dir" --size "$SIZE_MIB" $flag 2>/dev/null
    skopeo inspect "oci:$dir:$REF_NAME" >/dev/null || bench_die "skopeo cannot read $dir"
    touch "$dir/.complete"
  fi
  echo "$dir"
}
GZ_CACHE=$(cached_layout gz)
TAR_CACHE=$(cached_layout tar)

for fs in $FS; do
  case $fs in
    ext4) BASE=$WORK/ext4; mkdir -p "$BASE" ;;
    xfs) BASE=$(bench_xfs_mount "$WORK" $((SIZE_MIB * 8 + 1024))) ;;
    *) bench_die "FS: unknown file system $fs (ext4 or xfs)" ;;
  esac
  O=$BASE/out
  mkdir -p "$O"
  # The layouts on the file system measured (reflinks need source and archive on one).
  cp -r "$GZ_CACHE" "$BASE/gz"
  cp -r "$TAR_CACHE" "$BASE/tar"
  rm -rf "$BASE/gz/.seedforge" "$BASE/tar/.seedforge"
  # The reference archives the peers copy or compress (the same bytes seedforge writes);
  # writing them also records the blob stamps.
  "$SF" airgap -q --layout "$BASE/gz" --out "$BASE/gz.tar"
  "$SF" airgap -q --layout "$BASE/tar" --out "$BASE/tar.tar"
  sync

  bench_section "airgap-gzip-layers-$fs" "rm -f $O/out-*" -- \
    "seedforge airgap .tar (auto)" "$SF airgap -q --layout $BASE/gz --out $O/out-sf.tar" \
    "cp + sync" "cp $BASE/gz.tar $O/out-cp.tar && sync $O/out-cp.tar" \
    "seedforge airgap .tar, no stamps" "rm -f $BASE/gz/.seedforge/blob-stamps.json && $SF airgap -q --layout $BASE/gz --out $O/out-sf-nostamps.tar" \
    "seedforge airgap .tar.zst (old default)" "$SF airgap -q --layout $BASE/gz --out $O/out-sf.tar.zst" \
    "zstd -3 -T2 + sync" "zstd -q -3 -T2 $BASE/gz.tar -o $O/out-zstd.tar.zst && sync $O/out-zstd.tar.zst"

  bench_section "airgap-plain-layers-$fs" "rm -f $O/out-*" -- \
    "seedforge airgap .tar.zst (auto)" "$SF airgap -q --layout $BASE/tar --out $O/out-sf.tar.zst" \
    "zstd -3 -T2 + sync" "zstd -q -3 -T2 $BASE/tar.tar -o $O/out-zstd.tar.zst && sync $O/out-zstd.tar.zst" \
    "seedforge airgap .tar" "$SF airgap -q --layout $BASE/tar --out $O/out-sf.tar" \
    "cp + sync" "cp $BASE/tar.tar $O/out-cp.tar && sync $O/out-cp.tar"

  # Sizes: what compression buys on each set.
  {
    echo "### sizes ($fs)"
    echo
    echo "| image set | .tar [B] | seedforge .tar.zst [B] | zstd -3 CLI [B] | saved by zstd |"
    echo "|---|---:|---:|---:|---:|"
    for kind in gz tar; do
      "$SF" airgap -q --layout "$BASE/$kind" --out "$O/size.tar.zst"
      zstd -q -3 -T2 "$BASE/$kind.tar" -o "$O/size-cli.tar.zst"
      t=$(stat -c %s "$BASE/$kind.tar") z=$(stat -c %s "$O/size.tar.zst") c=$(stat -c %s "$O/size-cli.tar.zst")
      echo "| $([ $kind = gz ] && echo "gzip layers" || echo "plain layers") | $t | $z | $c | $(python3 -c "print(f'{(1 - $z / $t) * 100:.2f}%')") |"
      rm -f "$O"/size*.tar.zst
    done
  } | tee "$RESULTS/sizes-$fs.md"
  if [ "$fs" = xfs ]; then
    "$SF" airgap -q --layout "$BASE/gz" --out "$O/check.tar"
    cmp "$O/check.tar" "$BASE/gz.tar"
    echo "XFS: extents of the .tar shared with the layout: $(filefrag -v "$O/check.tar" | grep -c shared)" \
      | tee "$RESULTS/airgap-xfs-shared.txt" >&2
  fi
  rm -rf "$BASE/gz" "$BASE/tar" "$BASE"/*.tar "$O"
  if [ "$fs" = xfs ]; then bench_xfs_umount "$WORK"; fi
done

{
  echo "# seedforge airgap benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc) SIZE_MIB=$SIZE_MIB RUNS=$RUNS WARMUP=$WARMUP FS=\"$FS\""
  echo "$(zstd -V); $(cp --version | head -1)"
  echo
  for fs in $FS; do
    cat "$RESULTS/airgap-gzip-layers-$fs.md" "$RESULTS/airgap-plain-layers-$fs.md" "$RESULTS/sizes-$fs.md"
    echo
  done
  cat "$RESULTS/airgap-xfs-shared.txt" 2>/dev/null || true
} >"$RESULTS/summary.md"
bench_log "done; raw results and summary.md in $RESULTS"
cat "$RESULTS/summary.md"
