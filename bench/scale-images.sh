#!/usr/bin/env bash
# How seedforge's image operations grow with the number of images: thousands of small
# synthetic images in a registry on 127.0.0.1 and in the three local source kinds.
#
#   bench/scale-images.sh                                  # full sizes: 30-60 min on 2 cores
#   REG_SIZES="20 60" DISK_SIZES="100 300" bench/scale-images.sh   # smoke run, ~2 minutes
#   PARTS=disk DISK_SIZES="1000 3000" SEEDFORGE=/path/to/seedforge bench/scale-images.sh
#
# Data: bench/make-scale-set.py (image i: one of ten shared 1 MiB gzip base layers and its
# own 4 KiB layer; odd images are linux/amd64 + linux/arm64 indexes, even ones single
# manifests). Registry part: max(REG_SIZES)+1 images, written once and loaded with
# `seedforge push` into a Debian docker-registry (distribution, plain HTTP) on 127.0.0.1.
# Disk part: for each of DISK_SIZES a layout of that many images, its oci-archive and its
# docker-archive (amd64 only), each named once per image in a list.
#
# Operations, per size (the list names the first N images; linux/amd64, the default):
#   registry  mirror cold (empty layout), mirror warm (the same again), verify, gc, airgap
#             (a plain .tar of the layout), +1 image (a warm mirror of N+1 entries), and in a
#             build folder (one server node, the packaged components disabled, the list as
#             `images.lists` with its first two images named as k3s's pause and helm
#             controller images, the registry as an `insecure` `registries:` entry): build
#             cold, plan, no-op build, no-op build --offline; at the smallest size also a
#             skopeo loop (one `skopeo copy` per image into one oci: layout, then sync)
#             against seedforge's cold mirror
#   disk      mirror cold and warm from oci:, oci-archive: and docker-archive:, then verify,
#             gc and airgap of the layout mirrored from oci:
# Each command runs after a `sync` under `timeout BOUND` and GNU time (peak RSS, user and
# system CPU); its wall time is taken to the microsecond around both (bash's EPOCHREALTIME),
# less what starting them costs alone (measured at the start with `true`), and shown to the
# millisecond: GNU time's hundredths made a 10 ms gc and a 40 ms one 4x apart or 2x.
# An operation over the bound is recorded so and not run at larger sizes.
# The page cache is warm: the files a command reads (its source, the layout, the output
# folder) are read once just before it (`cat`, not timed), as on a build machine that has
# just written them; without that, a cache trimmed while the machine idles makes a verify
# of 30,000 images read from disk in one run and from memory in the next.
#
# Runs: with RUNS above 1, the registry part repeats each size's commands RUNS times; the
# disk part generates every size first and then, in each run, takes every size in turn, so
# that the sizes whose ratio is checked meet the machine in the same state.
#
# File system: what a run wrote (outputs, archives) is moved aside and removed only at the
# end of the part. On an ext4 made without a journal (as on some VMs), the kernel skips
# inodes freed in the last minute one by one on every file it creates (`recently_deleted`
# in ext4's inode allocator): a cold mirror right after the `rm -rf` of the last run's
# 150,000 files spent seconds of system time growing with both counts and from run to run.
# SCRATCH=ext4 (as root) instead puts everything the benchmark writes on a new, journaled
# ext4 made for this run in a sparse file in TMPDIR and loop-mounted (SCRATCH_SIZE, 60G),
# to measure a journaled file system's fsync costs.
# Environment: REG_SIZES ("100 1000 3000"), DISK_SIZES ("1000 3000 10000 30000"; ratios are
# taken between the last two sizes, 3,000 is there for the peak RSS target), PARTS
# ("registry disk"), RUNS (1; medians when more), BOUND (600 s per command; SETUP_BOUND,
# 1800 s, for generating and pushing the images), CONCURRENCY (4), SKOPEO (1: the skopeo loop at the smallest registry size; 0: none), SEEDFORGE (the
# binary; default: this checkout's release build, built now), RESULTS (a folder for the raw
# times, error output and summary.md; default a new one in TMPDIR), SCRATCH (none: TMPDIR's
# file system; ext4: the scratch file system above, when root), SCRATCH_SIZE (60G), TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REG_SIZES=${REG_SIZES:-100 1000 3000}
DISK_SIZES=${DISK_SIZES:-1000 3000 10000 30000}
PARTS=${PARTS:-registry disk}
RUNS=${RUNS:-1}
BOUND=${BOUND:-600}
SETUP_BOUND=${SETUP_BOUND:-1800}
CONCURRENCY=${CONCURRENCY:-4}
SKOPEO=${SKOPEO:-1}
TMP=${TMPDIR:-/tmp}

die() { echo "scale-images.sh: $*" >&2; exit 1; }
log() { printf '\n== %s (t=%ss, load %s)\n' "$*" "$SECONDS" "$(cut -d' ' -f1 /proc/loadavg)" >&2; }
for t in python3 curl docker-registry timeout sync; do
  command -v "$t" >/dev/null || die "$t is required"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required"
[ "$SKOPEO" = 0 ] || command -v skopeo >/dev/null || die "skopeo is required (or SKOPEO=0)"

RESULTS=${RESULTS:-$(mktemp -d "$TMP/seedforge-scale-images-results.XXXXXX")}
mkdir -p "$RESULTS"
SCRATCH=${SCRATCH:-none}
SCRATCH_SIZE=${SCRATCH_SIZE:-60G}
SCRATCH_DIR=
FS_NOTE="the file system of TMPDIR ($TMP)"
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  if [ -n "$SCRATCH_DIR" ]; then
    # The whole file system goes: no need to remove its files one by one.
    umount "$SCRATCH_DIR/mnt" 2>/dev/null || true
    rm -rf "$SCRATCH_DIR"
  else
    rm -rf "${WORK:-}"
  fi
}
trap cleanup EXIT
if [ "$SCRATCH" = ext4 ] && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
  SCRATCH_DIR=$(mktemp -d "$TMP/seedforge-scale-images-fs.XXXXXX")
  truncate -s "$SCRATCH_SIZE" "$SCRATCH_DIR/fs.img"
  mkdir "$SCRATCH_DIR/mnt"
  if mkfs.ext4 -q -F "$SCRATCH_DIR/fs.img" && mount -o loop "$SCRATCH_DIR/fs.img" "$SCRATCH_DIR/mnt"; then
    FS_NOTE="a new journaled ext4 ($SCRATCH_SIZE, loop-mounted, made for this run)"
    WORK=$(mktemp -d "$SCRATCH_DIR/mnt/seedforge-scale-images.XXXXXX")
  else
    echo "scale-images.sh: could not make a scratch ext4; using TMPDIR" >&2
  fi
elif [ "$SCRATCH" != none ] && [ "$SCRATCH" != ext4 ]; then
  die "SCRATCH: ext4 or none, not $SCRATCH"
fi
WORK=${WORK:-$(mktemp -d "$TMP/seedforge-scale-images.XXXXXX")}
# Stopped (timeout, ^C): the EXIT trap still stops the registry and removes WORK.
trap 'exit 143' TERM
trap 'exit 130' INT

if [ -n "${SEEDFORGE:-}" ]; then
  SF=$SEEDFORGE
else
  log "build (release)"
  (cd "$ROOT" && cargo build --release --locked --quiet)
  SF=$ROOT/target/release/seedforge
fi
[ -x "$SF" ] || die "$SF: not an executable"
GEN=$ROOT/bench/make-scale-set.py

TSV=$RESULTS/times.tsv
printf 'group\tsize\top\trun\twall_s\tmax_rss_kib\tuser_s\tsys_s\tstatus\n' >"$TSV"
declare -A OVER=()
RUN=0
# LAST: the status of the last measure; measure NEEDS=STATUS runs only when STATUS is ok
# (a warm mirror after a cold one that did not finish would be another cold one).
LAST=ok

# measure GROUP SIZE OP CMD...: runs CMD once, bounded, and adds a row to times.tsv. Its
# stderr goes to RESULTS/GROUP-SIZE-OP.err.
measure() {
  local group=$1 size=$2 op=$3 rc=0 status=ok line
  shift 3
  local key="$group|$op" err limit=${LIMIT:-$BOUND}
  err=$RESULTS/$group-$size-${op//[^A-Za-z0-9+-]/_}.err
  if [ -n "${OVER[$key]:-}" ]; then
    printf '%s\t%s\t%s\t%s\t\t\t\t\tskipped\n' "$group" "$size" "$op" "$RUN" >>"$TSV"
    LAST=skipped
    return 0
  fi
  if [ "${NEEDS:-ok}" != ok ]; then
    printf '%s\t%s\t%s\t%s\t\t\t\t\tnot run (what it needs did not finish)\n' "$group" "$size" "$op" "$RUN" >>"$TSV"
    return 0
  fi
  # WARM: paths whose files are read first, so that the command finds them in the page
  # cache as the header says (this machine's cache is trimmed while it idles).
  if [ -n "${WARM:-}" ]; then
    # shellcheck disable=SC2086 # a list of paths
    find $WARM -type f -exec cat {} + >/dev/null 2>&1 || true
  fi
  sync
  local t0 t1
  t0=${EPOCHREALTIME/[.,]/}
  timeout -k 10 "$limit" /usr/bin/time -f '%e\t%M\t%U\t%S' -o "$WORK/time.out" "$@" \
    >/dev/null 2>"$err" || rc=$?
  t1=${EPOCHREALTIME/[.,]/}
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    status=over
    OVER[$key]=1
    line=$'\t\t\t'
  else
    [ "$rc" = 0 ] || status="failed (exit $rc)"
    line=$(tail -n 1 "$WORK/time.out")
    # Wall time to the millisecond (GNU time's %e counts hundredths, too coarse for a
    # 10 ms gc), less the cost of starting timeout and time themselves.
    line=$(wall "$((t1 - t0 - LAUNCH_US))")$'\t'${line#*$'\t'}
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$size" "$op" "$RUN" "$line" "$status" >>"$TSV"
  LAST=$status
  if [ "$status" = over ]; then
    printf '   %-34s %6s images: over the bound (%s s)\n' "$op" "$size" "$limit" >&2
  else
    printf '   %-34s %6s images: %s\n' "$op" "$size" "${line%%$'\t'*} s, $status" >&2
  fi
  [ "$status" = ok ] || [ "$status" = over ] || { echo "   stderr:" >&2; head -c 2000 "$err" >&2; }
}

# wall MICROSECONDS: seconds with three decimals (0 at least).
wall() {
  local us=$1
  [ "$us" -gt 0 ] || us=0
  printf '%d.%03d' "$((us / 1000000))" "$((us / 1000 % 1000))"
}

# LAUNCH_US: what starting `timeout` and GNU time around a command costs by itself (the
# median of five runs of `true`), taken off every wall time, as hyperfine takes off the
# shell's start.
LAUNCH_US=0
calibrate() {
  local t0 t1 runs=()
  for _ in 1 2 3 4 5; do
    t0=${EPOCHREALTIME/[.,]/}
    timeout -k 10 10 /usr/bin/time -f '%e' -o "$WORK/time.out" true
    t1=${EPOCHREALTIME/[.,]/}
    runs+=("$((t1 - t0))")
  done
  LAUNCH_US=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p)
}

# list FILE N KIND [PATH]: an image list naming images 1..N.
list() {
  awk -v n="$2" -v kind="$3" -v p="${4:-}" 'BEGIN {
    for (i = 1; i <= n; i++) {
      if (kind == "registry") printf "%s/scale/img-%05d:1\n", p, i
      else if (kind == "docker-archive") printf "docker-archive:%s:scale/img-%05d:1 docker.io/scale/img-%05d:1\n", p, i, i
      else printf "%s:%s:docker.io/scale/img-%05d:1\n", kind, p, i
    }
  }' >"$1"
}

# set_aside PATH...: moves what exists of PATH... into WORK/removed, removed at the end of
# the part: files removed just before a command would make it pay for their removal (see
# "File system" above).
ASIDE=0
set_aside() {
  local p
  mkdir -p "$WORK/removed"
  for p in "$@"; do
    if [ -e "$p" ]; then
      ASIDE=$((ASIDE + 1))
      mv "$p" "$WORK/removed/$ASIDE"
    fi
  done
}

largest() { printf '%s\n' "$@" | sort -n | tail -n 1; }
smallest() { printf '%s\n' "$@" | sort -n | head -n 1; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%Y-%m-%dT%H:%MZ)
calibrate

# ---------------------------------------------------------------- registry
registry_part() {
  local max n smallest_n set=$WORK/reg-set
  # shellcheck disable=SC2086
  max=$(largest $REG_SIZES)
  # shellcheck disable=SC2086
  smallest_n=$(smallest $REG_SIZES)
  log "generate $((max + 1)) images"
  timeout "$SETUP_BOUND" python3 "$GEN" "$set" --images $((max + 1))

  local port host
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  host=127.0.0.1:$port
  cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $host
YML
  docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 100); do curl -s "http://$host/v2/" >/dev/null && break; sleep 0.1; done
  curl -sf "http://$host/v2/" >/dev/null || die "the registry did not start: $(cat "$WORK/registry.log")"

  log "push $((max + 1)) images into $host"
  RUN=0
  LIMIT=$SETUP_BOUND measure setup "$((max + 1))" "push (load the registry)" \
    "$SF" -q push --layout "$set" --registry "$host" --plain-http "$host" --concurrency "$CONCURRENCY"
  grep -q $'\tok$' <(tail -n 1 "$TSV") || die "seedforge push failed; see $RESULTS"

  for n in $REG_SIZES; do
    log "registry: $n images"
    local d=$WORK/reg-$n
    mkdir -p "$d/build"
    list "$d/images.txt" "$n" registry "$host"
    list "$d/images+1.txt" "$((n + 1))" registry "$host"
    for ((RUN = 1; RUN <= RUNS; RUN++)); do
      set_aside "$d/out" "$d/airgap.tar"
      local mirror=("$SF" -q mirror --layout "$d/out" --plain-http "$host" --concurrency "$CONCURRENCY")
      WARM=$WORK/storage measure registry "$n" "mirror cold" "${mirror[@]}" --images "$d/images.txt"
      local cold=$LAST
      NEEDS=$cold measure registry "$n" "mirror warm" "${mirror[@]}" --images "$d/images.txt"
      NEEDS=$cold WARM=$d/out measure registry "$n" "verify" "$SF" -q verify "$d/out"
      NEEDS=$cold WARM=$d/out measure registry "$n" "gc" "$SF" -q gc "$d/out"
      NEEDS=$cold WARM=$d/out measure registry "$n" "airgap" "$SF" -q airgap --layout "$d/out" --out "$d/airgap.tar"
      NEEDS=$cold measure registry "$n" "+1 image (warm)" "${mirror[@]}" --images "$d/images+1.txt"
      if [ "$SKOPEO" != 0 ] && [ "$n" = "$smallest_n" ]; then
        set_aside "$d/skopeo"
        # shellcheck disable=SC2016 # expanded by the inner bash
        measure registry "$n" "skopeo loop, cold (peer)" bash -c '
          host=$1 n=$2 out=$3
          for ((i = 1; i <= n; i++)); do
            ref=$(printf "scale/img-%05d:1" "$i")
            skopeo copy --quiet --src-tls-verify=false "docker://$host/$ref" "oci:$out:$ref" || exit 1
          done
          sync' skopeo "$host" "$n" "$d/skopeo"
      fi

      # build: one server node, the list, the registry over plain HTTP.
      local b=$d/build
      set_aside "$b/out" "$b/seedforge.lock"
      # The first two images stand in for the two k3s images a node always needs (the
      # packaged components are disabled); the build's preflight asks for them.
      sed -e '1s|$| docker.io/rancher/klipper-helm:v0.9.5-build20250306|' \
        -e '2s|$| docker.io/rancher/mirrored-pause:3.6|' "$d/images.txt" >"$b/images.txt"
      echo "K10bench0scale0token0not0a0secret::server:0123456789abcdef" >"$b/token"
      cat >"$b/seedforge.yaml" <<YML
version: 1
cluster:
  name: scale
  k3s_version: v1.33.1+k3s1
  token: {file: token}
  disable: [coredns, servicelb, traefik, local-storage, metrics-server]
registry:
  host: 10.20.0.1
  port: 5000
registries:
  - host: "$host"
    insecure: true
images:
  lists: [images.txt]
  platforms: [linux/amd64]
  concurrency: $CONCURRENCY
nodes:
  - {name: server1, role: server, address: 10.20.0.10/16}
network:
  gateway: 10.20.0.1
  nameservers: [10.20.0.1]
output: out
source_date_epoch: 1700000000
YML
      WARM=$WORK/storage measure registry "$n" "build cold (reference)" "$SF" -q build --config "$b/seedforge.yaml"
      cold=$LAST
      NEEDS=$cold measure registry "$n" "plan" "$SF" -q plan --config "$b/seedforge.yaml"
      NEEDS=$cold WARM=$b/out measure registry "$n" "build no-op" "$SF" -q build --config "$b/seedforge.yaml"
      NEEDS=$cold WARM=$b/out measure registry "$n" "build no-op --offline" "$SF" -q build --offline --config "$b/seedforge.yaml"
    done
    set_aside "$d"
  done
  kill "$REG_PID" 2>/dev/null || true
  wait "$REG_PID" 2>/dev/null || true
  REG_PID=
  rm -rf "$set" "$WORK/storage" "$WORK/removed"
}

# ---------------------------------------------------------------- disk
disk_part() {
  local n kind d src
  declare -A oci_cold=()
  for n in $DISK_SIZES; do
    d=$WORK/disk-$n
    log "disk: generate $n images (layout, oci-archive, docker-archive)"
    RUN=0
    LIMIT=$SETUP_BOUND measure setup "$n" "generate (make-scale-set.py)" \
      python3 "$GEN" "$d/layout" --images "$n" --oci-archive "$d/oci.tar" --docker-archive "$d/docker.tar"
    grep -q $'\tok$' <(tail -n 1 "$TSV") || die "make-scale-set.py failed; see $RESULTS"
    list "$d/oci.txt" "$n" oci "$d/layout"
    list "$d/oci-archive.txt" "$n" oci-archive "$d/oci.tar"
    list "$d/docker-archive.txt" "$n" docker-archive "$d/docker.tar"
  done
  # Each run takes every size in turn, so that all sizes meet the machine in the same state
  # (page cache, memory, the file system's free space).
  for ((RUN = 1; RUN <= RUNS; RUN++)); do
    for n in $DISK_SIZES; do
      d=$WORK/disk-$n
      log "disk: $n images, run $RUN of $RUNS"
      for kind in oci oci-archive docker-archive; do
        set_aside "$d/out-$kind"
        case $kind in
          oci) src=$d/layout ;;
          oci-archive) src=$d/oci.tar ;;
          *) src=$d/docker.tar ;;
        esac
        WARM=$src measure disk "$n" "mirror cold ($kind:)" "$SF" -q mirror --images "$d/$kind.txt" --layout "$d/out-$kind"
        [ "$kind" = oci ] && oci_cold[$n]=$LAST
        NEEDS=$LAST WARM="$src $d/out-$kind" measure disk "$n" "mirror warm ($kind:)" "$SF" -q mirror --images "$d/$kind.txt" --layout "$d/out-$kind"
        [ "$kind" = oci ] || set_aside "$d/out-$kind"
      done
      set_aside "$d/airgap.tar"
      NEEDS=${oci_cold[$n]} WARM=$d/out-oci measure disk "$n" "verify" "$SF" -q verify "$d/out-oci"
      NEEDS=${oci_cold[$n]} WARM=$d/out-oci measure disk "$n" "gc" "$SF" -q gc "$d/out-oci"
      NEEDS=${oci_cold[$n]} WARM=$d/out-oci measure disk "$n" "airgap" "$SF" -q airgap --layout "$d/out-oci" --out "$d/airgap.tar"
    done
  done
  for n in $DISK_SIZES; do rm -rf "$WORK/disk-$n"; done
  rm -rf "$WORK/removed"
}

for part in $PARTS; do
  case $part in
    registry) registry_part ;;
    disk) disk_part ;;
    *) die "PARTS: unknown part $part (registry, disk)" ;;
  esac
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$TSV" "$BOUND" >"$RESULTS/summary.md" <<'PY'
import csv, statistics as st, sys
from collections import OrderedDict

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
bound = float(sys.argv[2])
MB = 1e6  # the targets speak of MB


def cell_data(rs):
    ok = [r for r in rs if r["status"] == "ok"]
    if ok:
        wall = st.median(float(r["wall_s"]) for r in ok)
        cpu = st.median(float(r["user_s"]) + float(r["sys_s"]) for r in ok)
        rss = st.median(int(r["max_rss_kib"]) for r in ok) * 1024
        return {"wall": wall, "cpu": cpu, "rss": rss, "status": "ok"}
    return {"status": rs[0]["status"] if rs else "not run"}


def fmt(c):
    if c["status"] == "ok":
        return f"{c['wall']:.3f} s ({c['cpu']:.2f} cpu, {c['rss'] / 1048576:.0f} MiB)"
    if c["status"] in ("over", "skipped"):
        return f"over the bound ({bound:.0f} s)" + (" at a smaller size" if c["status"] == "skipped" else "")
    return c["status"]


checks = []
out = []
for group, title in [("setup", "setup (not a target)"), ("registry", "registry on 127.0.0.1"), ("disk", "on-disk sources")]:
    g = [r for r in rows if r["group"] == group]
    if not g:
        continue
    sizes = sorted({int(r["size"]) for r in g})
    ops = list(OrderedDict.fromkeys(r["op"] for r in g))
    data = {(op, s): cell_data([r for r in g if r["op"] == op and int(r["size"]) == s]) for op in ops for s in sizes}
    out.append(f"### {title}\n")
    if group == "setup":
        out.append("| step | images | time |\n|---|---:|---|")
        for op in ops:
            for s in sizes:
                if any(r["op"] == op and int(r["size"]) == s for r in g):
                    out.append(f"| {op} | {s} | {fmt(data[(op, s)])} |")
        out.append("")
        continue
    hi, lo = (sizes[-1], sizes[-2]) if len(sizes) > 1 else (sizes[-1], None)
    limit = 1.2 * hi / lo if lo else None
    head = "| operation | " + " | ".join(f"{s:,} images" for s in sizes) + " |"
    if lo:
        head += f" {hi}/{lo} | CPU {hi}/{lo} | linear (≤{limit:.1f}x) |"
    out.append(head)
    out.append("|---" * (len(sizes) + 1 + (3 if lo else 0)) + "|")
    for op in ops:
        line = f"| {op} | " + " | ".join(fmt(data[(op, s)]) for s in sizes) + " |"
        info = "reference" in op or "peer" in op
        if lo:
            a, b = data[(op, hi)], data[(op, lo)]
            if a["status"] == "ok" and b["status"] == "ok":
                # Wall times are in milliseconds: a 0.000 s run counts as 0.001 s.
                ratio = max(a["wall"], 0.001) / max(b["wall"], 0.001)
                verdict = "—" if info else ("met" if ratio <= limit else "**not met**")
                cpu = f"{a['cpu'] / b['cpu']:.2f}x" if b["cpu"] > 0 else "—"
                line += f" {ratio:.2f}x | {cpu} | {verdict} |"
            elif info:
                verdict = "—"
            elif "over" in (a["status"], b["status"]) or "skipped" in (a["status"], b["status"]):
                verdict = "**not met** (over the bound)"
            else:
                verdict = "not measured"
            if not (a["status"] == "ok" and b["status"] == "ok"):
                line += f" — | — | {verdict} |"
            if not info:
                checks.append((f"{group} {op}: {hi}/{lo} at most {limit:.1f}x", verdict))
        out.append(line)
    out.append("")
    # RSS under 200 MB at sizes up to 3,000 images.
    for s in [s for s in sizes if s <= 3000]:
        big = [(data[(op, s)]["rss"], op) for op in ops if data[(op, s)]["status"] == "ok" and "peer" not in op]
        if big:
            rss, op = max(big)
            checks.append((f"{group}: peak RSS at {s:,} images under 200 MB (largest: {op}, {rss / MB:.0f} MB)",
                           "met" if rss < 200 * MB else "**not met**"))
    big = [(data[(op, hi)]["rss"], op) for op in ops if data[(op, hi)]["status"] == "ok" and "peer" not in op]
    if big and hi > 3000:
        rss, op = max(big)
        out.append(f"Largest peak RSS at {hi:,} images: {rss / MB:.0f} MB ({op}).\n")
    if group == "registry":
        cold, warm = data[("mirror cold", hi)], data[("mirror warm", hi)]
        if cold["status"] == "ok" and warm["status"] == "ok":
            pct = 100 * warm["wall"] / max(cold["wall"], 0.01)
            checks.append((f"registry: warm mirror of {hi:,} at most 25% of the cold one ({pct:.0f}%)",
                           "met" if pct <= 25 else "**not met**"))
        for op, lim in [("build no-op", 3.0), ("build no-op --offline", 0.5)]:
            c = data.get((op, hi), {"status": "not run"})
            checks.append((f"registry: {op} of {hi:,} images at most {lim} s"
                           + (f" ({c['wall']:.2f} s)" if c["status"] == "ok" else f" ({c['status']})"),
                           "met" if c["status"] == "ok" and c["wall"] <= lim else "**not met**"))
        sk = [s for s in sizes if data.get(("skopeo loop, cold (peer)", s), {}).get("status") == "ok"]
        for s in sk:
            p, m = data[("skopeo loop, cold (peer)", s)], data[("mirror cold", s)]
            if m["status"] == "ok":
                out.append(f"skopeo loop at {s} images: {1000 * p['wall'] / s:.1f} ms per image, seedforge "
                           f"{1000 * m['wall'] / s:.1f} ms per image ({p['wall'] / max(m['wall'], 0.01):.1f}x faster).\n")

print("\n".join(out))
print("Cells: wall time (user + system CPU, peak RSS). The checks use wall time; the CPU ratio"
      " is the steadier sign for operations of a fraction of a second.\n")
if checks:
    print("### Done when\n")
    print("| check | result |\n|---|---|")
    for c, v in checks:
        print(f"| {c} | {v} |")
PY
{
  echo
  echo "seedforge: $("$SF" --version 2>/dev/null || echo "$SF"); started $START; nproc $(nproc); RUNS=$RUNS BOUND=$BOUND"
  echo "load average: $LOAD_START at the start, $LOAD_END at the end"
  echo "wall times: to the millisecond, less $(wall "$LAUNCH_US") s for starting timeout and GNU time"
  echo "written to: $FS_NOTE"
} >>"$RESULTS/summary.md"
cat "$RESULTS/summary.md"
echo "raw times and error output: $RESULTS" >&2
