#!/usr/bin/env bash
# `seedforge build` end to end as the cluster grows: 3, 12 and 48 nodes (1 server, the
# rest agents), a 1 GiB payload (a `files:` entry, the stand-in k3s binary) plus the
# fixture images, cold (empty output folder, page cache dropped), on ext4 (TMPDIR's file
# system) and on XFS with reflink (a loop-mounted file), in both seed modes:
#
#   all-in-one  (the default) every node's seed ISO carries the payload
#   shared      (`seeds: {payload: shared}`) one OUT/iso/payload.iso, per-node seeds of a
#               few KiB; skipped, saying so, when this seedforge has no `seeds:` key
#
#   bench/scale.sh                              # RUNS=3; needs root (XFS, drop_caches)
#   FS=xfs MODES=all-in-one bench/scale.sh      # a subset
#   NODES="3 12" bench/scale.sh
#
# The node counts of one file system and mode alternate round by round (bench/durable.sh:
# outputs deleted, sync, page cache dropped before each build; seedforge fsyncs every file
# it writes). A case whose output would not fit the free disk space is skipped, saying so
# (all-in-one at 48 nodes writes 48 GiB of ISOs on ext4).
#
# Environment: FS ("ext4 xfs"), MODES ("all-in-one shared"), NODES ("3 12 48"),
# PAYLOAD_MIB (1024), RUNS (3), WARMUP (1), RESULTS, SEEDFORGE.
set -euo pipefail
# Cold builds stay cold: the .deb download cache (on by default) is off while measuring.
export SEEDFORGE_NO_CACHE=1

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/durable.sh
. "$ROOT/bench/durable.sh"
FS=${FS:-ext4 xfs}
MODES=${MODES:-all-in-one shared}
NODES=${NODES:-3 12 48}
PAYLOAD_MIB=${PAYLOAD_MIB:-1024}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
TMP=${TMPDIR:-/tmp}

bench_start scale

# make_inputs DIR: the fixture images, a token, the payload file and one config per node
# count and mode (DIR/seedforge-MODE-N.yaml).
make_inputs() {
  local in=$1 n m i
  mkdir -p "$in"
  cp -r "$ROOT/fixtures/images" "$in/images"
  sed 's|\.\./images/|images/|' "$ROOT/fixtures/lab/images.txt" >"$in/images.txt"
  echo "K10bench0scale0token0not0a0secret::server:0123456789abcdef" >"$in/token"
  head -c "$((PAYLOAD_MIB))M" /dev/urandom >"$in/k3s"
  local sha
  sha=$(sha256sum "$in/k3s" | cut -d' ' -f1)
  for m in $MODES; do
    for n in $NODES; do
      {
        cat <<YML
version: 1
cluster:
  name: scale
  k3s_version: v1.33.1+k3s1
  token: {file: token}
registry:
  host: 10.20.0.1
  port: 5000
images:
  lists: [images.txt]
  platforms: [linux/amd64]
files:
  - name: bin/k3s
    source: k3s
    sha256: "$sha"
    executable: true
network:
  gateway: 10.20.0.1
  nameservers: [10.20.0.1]
source_date_epoch: 1700000000
YML
        [ "$m" = shared ] && printf 'seeds:\n  payload: shared\n'
        echo "nodes:"
        for ((i = 1; i <= n; i++)); do
          if [ "$i" = 1 ]; then
            printf '  - {name: server1, role: server, address: 10.20.%d.%d/16}\n' $((i / 200)) $((10 + i % 200))
          else
            printf '  - {name: agent%d, role: agent, address: 10.20.%d.%d/16}\n' "$i" $((i / 200)) $((10 + i % 200))
          fi
        done
      } >"$in/seedforge-$m-$n.yaml"
    done
  done
}

: >"$RESULTS/cases.txt"
for fs in $FS; do
  case $fs in
    ext4) BASE=$WORK/ext4; mkdir -p "$BASE" ;;
    xfs) BASE=$(bench_xfs_mount "$WORK" $((PAYLOAD_MIB * 8 + 4096))) ;;
    *) bench_die "FS: unknown file system $fs (ext4 or xfs)" ;;
  esac
  IN=$BASE/in
  bench_log "$fs: inputs in $IN"
  make_inputs "$IN"
  for m in $MODES; do
    if ! "$SF" -q plan --config "$IN/seedforge-$m-3.yaml" --out "$BASE/probe" >/dev/null 2>"$RESULTS/probe.err"; then
      echo "scale.sh: skipping $m mode: this seedforge refuses its config: $(head -c 300 "$RESULTS/probe.err")" >&2
      continue
    fi
    args=()
    for n in $NODES; do
      # Bytes the build writes: the layout, archive and files (~payload), plus the ISOs.
      need=$((PAYLOAD_MIB * 2 + 512))
      if [ "$m" = all-in-one ] && [ "$fs" = ext4 ]; then need=$((need + n * PAYLOAD_MIB)); fi
      if [ "$m" = shared ] && [ "$fs" = ext4 ]; then need=$((need + PAYLOAD_MIB)); fi
      avail=$(df -Pm "$BASE" | awk 'NR == 2 { print $4 }')
      spare=256
      [ "$fs" = ext4 ] && spare=4096  # the disk is shared: leave room for others
      if [ "$avail" -lt $((need + spare)) ]; then
        echo "scale.sh: skipping $fs $m $n nodes: needs ~${need} MiB (+$spare MiB spare), $avail MiB free" >&2
        continue
      fi
      args+=("$n nodes" "$SF -q build --config $IN/seedforge-$m-$n.yaml --out $BASE/out-$n")
    done
    [ ${#args[@]} -gt 0 ] || continue
    bench_section "scale-$fs-$m" "rm -rf $BASE/out-*" -- "${args[@]}"
    echo "scale-$fs-$m" >>"$RESULTS/cases.txt"
  done
  rm -rf "$IN" "$BASE"/out-* "$BASE/probe"
  if [ "$fs" = xfs ]; then bench_xfs_umount "$WORK"; fi
done

{
  echo "# seedforge build at scale, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc) PAYLOAD_MIB=$PAYLOAD_MIB RUNS=$RUNS WARMUP=$WARMUP FS=\"$FS\" MODES=\"$MODES\" NODES=\"$NODES\""
  echo "(ratios are the first row's median over each row's: 0.5x = twice the first row's time)"
  echo
  while read -r c; do cat "$RESULTS/$c.md"; echo; done <"$RESULTS/cases.txt"
} >"$RESULTS/summary.md"
bench_log "done; raw results and summary.md in $RESULTS"
cat "$RESULTS/summary.md"
