#!/usr/bin/env bash
# `seedforge iso` against the peers that make NoCloud seed ISOs, on a 1 GiB payload,
# durable against durable, on ext4 (TMPDIR's file system) and on XFS with reflink (a
# loop-mounted file), plus peak RSS on a 5 GiB payload.
#
#   bench/iso.sh                      # both file systems, RUNS=7; needs root for XFS and
#                                     # for dropping the page cache
#   FS=ext4 RUNS=9 bench/iso.sh       # one file system
#   RSS=0 bench/iso.sh                # skip the peak-RSS runs
#
# Commands (alternating round by round, the first one rotating; outputs deleted, `sync`
# and the page cache dropped before each run, see bench/durable.sh):
#   seedforge iso            writes the image to a temporary file, fsyncs it, renames it
#   cp -r + sync             the payload tree copied, then every file fsynced
#   xorriso -as mkisofs + sync, genisoimage + sync
# and five references, the floors every command stands on: reading the payload (cat to
# /dev/null), writing as many bytes durably (dd from /dev/zero with conv=fsync, through
# the page cache and with O_DIRECT as seedforge writes large images on ext4), both of
# those at once (the floor of any command that reads the payload and writes a copy: on
# a disk whose bandwidth reads and writes share, about the sum of the two), and
# seedforge's own start (`--version`, the binary paged in from the dropped cache).
#
# Environment: FS ("ext4 xfs"), SIZE_MIB (1024), BIG_MIB (5120, hard links to the 1 GiB
# payload's files), RUNS (7), WARMUP (1), RSS (1), RESULTS (a new temp dir, printed),
# SEEDFORGE (default: target/release/seedforge, built if missing).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/durable.sh
. "$ROOT/bench/durable.sh"
FS=${FS:-ext4 xfs}
SIZE_MIB=${SIZE_MIB:-1024}
BIG_MIB=${BIG_MIB:-5120}
RUNS=${RUNS:-7}
WARMUP=${WARMUP:-1}
RSS=${RSS:-1}
TMP=${TMPDIR:-/tmp}

for t in python3 xorriso genisoimage; do bench_have "$t" || bench_die "$t is required"; done
[ -x /usr/bin/time ] || bench_die "/usr/bin/time (GNU time) is required for peak RSS"

bench_start iso

# make_payload DIR: the NoCloud files plus 8 incompressible files totalling SIZE_MIB.
make_payload() {
  local p=$1 i
  mkdir -p "$p/payload"
  printf '#cloud-config\nhostname: bench\n' >"$p/user-data"
  printf 'instance-id: bench\n' >"$p/meta-data"
  printf 'version: 2\n' >"$p/network-config"
  for i in 1 2 3 4 5 6 7 8; do
    head -c "$((SIZE_MIB / 8))M" /dev/urandom >"$p/payload/part-$i.bin"
  done
}

for fs in $FS; do
  case $fs in
    ext4) BASE=$WORK/ext4; mkdir -p "$BASE" ;;
    xfs) BASE=$(bench_xfs_mount "$WORK" $((SIZE_MIB * 6 + 1024))) ;;
    *) bench_die "FS: unknown file system $fs (ext4 or xfs)" ;;
  esac
  P=$BASE/payload O=$BASE/out
  mkdir -p "$O"
  bench_log "$fs: payload of $SIZE_MIB MiB in $P ($(df -PT "$BASE" | awk 'NR == 2 { print $2 }'))"
  make_payload "$P"
  bench_section "iso-$fs" "rm -rf $O/out-*" -- \
    "seedforge iso" "$SF iso -q --source-date-epoch 0 --out $O/out-sf.iso $P" \
    "cp -r + sync" "cp -r $P $O/out-cp && find $O/out-cp -type f -exec sync {} + && sync $O/out-cp" \
    "xorriso -as mkisofs + sync" "xorriso -as mkisofs -quiet -J -r -V cidata -o $O/out-xorriso.iso $P && sync $O/out-xorriso.iso" \
    "genisoimage + sync" "genisoimage -quiet -J -r -V cidata -o $O/out-geniso.iso $P && sync $O/out-geniso.iso" \
    "ref: read the payload (cat)" "cat $P/payload/* >/dev/null" \
    "ref: write as many bytes (dd + fsync)" "dd if=/dev/zero of=$O/out-dd bs=16M count=$((SIZE_MIB / 16)) conv=fsync status=none" \
    "ref: the same, direct I/O (dd oflag=direct)" "dd if=/dev/zero of=$O/out-dd bs=8M count=$((SIZE_MIB / 8)) oflag=direct conv=fsync status=none" \
    "ref: both at once (cat & dd oflag=direct)" "cat $P/payload/* >/dev/null & dd if=/dev/zero of=$O/out-dd bs=8M count=$((SIZE_MIB / 8)) oflag=direct conv=fsync status=none; wait" \
    "ref: seedforge --version" "$SF --version >/dev/null"
  if [ "$fs" = xfs ]; then
    "$SF" iso -q --source-date-epoch 0 --out "$O/check.iso" "$P"
    echo "XFS: extents of the image shared with the payload: $(filefrag -v "$O/check.iso" | grep -c shared)" \
      | tee "$RESULTS/iso-xfs-shared.txt" >&2
    rm -f "$O/check.iso"
  fi
  if [ "$fs" = ext4 ] && [ "$RSS" = 1 ]; then
    # Peak RSS: the 1 GiB payload and a BIG_MIB payload of hard links to its files.
    B=$BASE/big
    copies=$(((BIG_MIB + SIZE_MIB - 1) / SIZE_MIB))
    mkdir -p "$B"
    cp "$P"/user-data "$P"/meta-data "$P"/network-config "$B"/
    for c in $(seq 1 "$copies"); do cp -rl "$P/payload" "$B/payload-$c"; done
    : >"$RESULTS/rss.tsv"
    for spec in "${SIZE_MIB} MiB:$P" "$((copies * SIZE_MIB)) MiB:$B"; do
      label=${spec%%:*} dir=${spec#*:}
      for r in 1 2 3; do
        rm -f "$O"/out-rss.iso
        /usr/bin/time -f "%M %e" -o "$O/rss" "$SF" iso -q --out "$O/out-rss.iso" "$dir"
        printf '%s\t%s\n' "$label" "$(cat "$O/rss")" >>"$RESULTS/rss.tsv"
      done
    done
    rm -f "$O"/out-rss.iso "$O/rss"
    python3 - "$RESULTS" <<'PY' | tee "$RESULTS/rss.md"
import sys
peak = {}
for line in open(f"{sys.argv[1]}/rss.tsv"):
    label, rest = line.rstrip("\n").split("\t")
    kib, wall = rest.split()
    peak.setdefault(label, []).append(int(kib))
print("### peak RSS of seedforge iso (3 runs each)\n")
print("| payload | max RSS [MiB] |\n|---|---:|")
for label, v in peak.items():
    print(f"| {label} | {max(v) / 1024:.1f} |")
PY
  fi
  rm -rf "$P" "$O" "$BASE/big"
  if [ "$fs" = xfs ]; then bench_xfs_umount "$WORK"; fi
done

{
  echo "# seedforge iso benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc) SIZE_MIB=$SIZE_MIB RUNS=$RUNS WARMUP=$WARMUP FS=\"$FS\""
  echo "$(xorriso -version 2>/dev/null | head -1); $(genisoimage -version 2>&1 | head -1); $(cp --version | head -1)"
  echo
  for fs in $FS; do cat "$RESULTS/iso-$fs.md"; echo; done
  cat "$RESULTS/iso-xfs-shared.txt" "$RESULTS/rss.md" 2>/dev/null || true
} >"$RESULTS/summary.md"
bench_log "done; raw results and summary.md in $RESULTS"
cat "$RESULTS/summary.md"
