#!/usr/bin/env bash
# Benchmarks `seedforge serve` against Debian's docker-registry serving the same images.
#
#   bench/serve.sh                  # ~3 min on 2 cores; results in BENCHMARKS.md
#   RUNS=9 CLIENTS=4 bench/serve.sh
#   bench/serve.sh --fleet          # the fleet rounds: 4, 64 and 256 nodes at once over TLS,
#                                   # against nginx and docker-registry (bench/serve-fleet.sh)
#
# Data: bench/make-mirror-set.py's 20 images (a shared 100 MiB base layer and an own 20 MiB
# layer each: 501 MiB of unique blobs), the set bench/mirror.sh uses. seedforge serves the
# layout where it lies (OUT/oci, hard links to the generated set); docker-registry (plain
# HTTP, as seedforge here) serves the same images pushed into its storage by skopeo, which
# is the far side's second copy. Both listen on 127.0.0.1, on the same two cores as the
# clients.
#
# A pull: CLIENTS curl processes at once, the images dealt round-robin between them; each
# client asks for its images' manifests by tag (with the OCI Accept header) and every blob
# they name that no client fetched before (each unique blob once: 501 MiB in all), bodies
# to /dev/null, so the servers' work is measured, not the disk's. Rounds alternate the two
# servers (round 0 is a discarded warm-up); wall time of the whole pull by GNU time. Peak
# RSS of each server from its VmHWM after all rounds. Disk: the far side's bytes for the
# images, 1x the layout for seedforge serve, the layout and the registry's storage for the
# docker-registry path.
#
# Start and memory in the layout's size: seedforge serve over bench/make-scale-set.py's layout
# of START_IMAGES small images (30,000: the scale benchmark's largest), timed from its start
# to the first answered manifest of the last image (index.json read and its names indexed),
# and its peak RSS then and after a manifest of every 100th image, against the same over the
# 20-image set.
#
# Environment: RUNS (7), CLIENTS (4), IMAGES (20), BASE_MIB (100), OWN_MIB (20),
# START_IMAGES (30000; 0 skips the start measurement), KEEP_SET=1
# keeps the generated layout in $SEEDFORGE_BENCH_CACHE (default
# ${TMPDIR:-/tmp}/seedforge-bench-cache), SEEDFORGE (a built binary; default: a release
# build of this tree).
set -euo pipefail

if [ "${1:-}" = --fleet ]; then exec "$(dirname "$0")/serve-fleet.sh"; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-7}
CLIENTS=${CLIENTS:-4}
IMAGES=${IMAGES:-20}
BASE_MIB=${BASE_MIB:-100}
OWN_MIB=${OWN_MIB:-20}
KEEP_SET=${KEEP_SET:-0}
TMP=${TMPDIR:-/tmp}
CACHE=${SEEDFORGE_BENCH_CACHE:-$TMP/seedforge-bench-cache}

die() { echo "serve.sh: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }
for t in python3 skopeo curl docker-registry; do
  command -v "$t" >/dev/null || die "$t is required"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required"

WORK=$(mktemp -d "$TMP/seedforge-serve-bench.XXXXXX")
REG_PID=
SF_PID=
stop() { if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
cleanup() {
  stop "$REG_PID"
  stop "$SF_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${SEEDFORGE:-}" ]; then
  SF=$SEEDFORGE
else
  log "build (release)"
  (cd "$ROOT" && cargo build --release --quiet)
  SF=$ROOT/target/release/seedforge
fi

SET=$CACHE/mirror-set-$IMAGES-$BASE_MIB-$OWN_MIB
if [ ! -f "$SET/index.json" ]; then
  log "generate $IMAGES images, base $BASE_MIB MiB + $OWN_MIB MiB each"
  rm -rf "$SET"
  python3 "$ROOT/bench/make-mirror-set.py" "$SET" --images "$IMAGES" --base "$BASE_MIB" --own "$OWN_MIB"
fi
[ "$KEEP_SET" = 1 ] || trap 'cleanup; rm -rf "$SET"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 200); do curl -s "http://$1/v2/" >/dev/null && return 0; sleep 0.05; done; die "$1 did not answer"; }

# --- the far side's output: the layout, as the build leaves it under OUT/oci.
mkdir -p "$WORK/out"
cp -al "$SET" "$WORK/out/oci"

# --- docker-registry, filled by skopeo from the same layout.
REG=127.0.0.1:$(free_port)
cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $REG
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
wait_up "$REG"
log "fill $REG with skopeo"
NAMES=$(python3 -c "import json; print(' '.join(m['annotations']['org.opencontainers.image.ref.name'].split(':')[0] for m in json.load(open('$SET/index.json'))['manifests']))")
for n in $NAMES; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$SET:$n:1" "docker://$REG/$n:1"
done

# --- seedforge serve over the output.
SFH=127.0.0.1:$(free_port)
"$SF" -q serve "$WORK/out" --listen "$SFH" --plain-http >"$WORK/serve.log" 2>&1 &
SF_PID=$!
wait_up "$SFH"

# Both serve the same manifests: the digest of each by tag, from each server.
for n in $NAMES; do
  a=$(curl -sSf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/$n/manifests/1" | sha256sum | cut -d' ' -f1)
  b=$(curl -sSf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$SFH/v2/$n/manifests/1" | sha256sum | cut -d' ' -f1)
  [ "$a" = "$b" ] || die "$n: docker-registry serves sha256:$a, seedforge serve sha256:$b"
done

# One curl config per client: its images' manifests by tag, and the blobs no earlier
# client fetched (each unique blob once in all).
python3 - "$SET" "$WORK" "$CLIENTS" <<'PY'
import json, sys
set_dir, work, clients = sys.argv[1], sys.argv[2], int(sys.argv[3])
manifests = json.load(open(f"{set_dir}/index.json"))["manifests"]
seen = set()
configs = [[] for _ in range(clients)]
for i, m in enumerate(manifests):
    repo = m["annotations"]["org.opencontainers.image.ref.name"].split(":")[0]
    doc = json.load(open(f"{set_dir}/blobs/sha256/{m['digest'][7:]}"))
    lines = configs[i % clients]
    lines.append(f'url = "http://HOST/v2/{repo}/manifests/1"\noutput = "/dev/null"')
    lines.append('header = "Accept: application/vnd.oci.image.manifest.v1+json"')
    for b in [doc["config"]] + doc["layers"]:
        if b["digest"] in seen:
            continue
        seen.add(b["digest"])
        lines.append(f'url = "http://HOST/v2/{repo}/blobs/{b["digest"]}"\noutput = "/dev/null"')
for k, lines in enumerate(configs):
    open(f"{work}/client{k}.cfg", "w").write("\n".join(lines) + "\n")
PY

pull_cmd() {
  local host=$1 k cmd=""
  for ((k = 0; k < CLIENTS; k++)); do
    sed "s/HOST/$host/" "$WORK/client$k.cfg" >"$WORK/client$k-$host.cfg"
    cmd+="curl -sSf -K '$WORK/client$k-$host.cfg' & "
  done
  echo "${cmd}fail=0; for p in \$(jobs -p); do wait \$p || fail=1; done; exit \$fail"
}
declare -A CMD=(
  [seedforge-serve]=$(pull_cmd "$SFH")
  [docker-registry]=$(pull_cmd "$REG")
)
ORDER=(seedforge-serve docker-registry)
echo -e "server\tround\twall_s" >"$WORK/times.tsv"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 0 "$RUNS"); do
  log "round $round/$RUNS"
  for ((k = 0; k < ${#ORDER[@]}; k++)); do
    server=${ORDER[$(((round + k) % ${#ORDER[@]}))]}
    /usr/bin/time -f "$server\t$round\t%e" -a -o "$WORK/times.tsv" bash -c "${CMD[$server]}" \
      || die "the pull from $server failed"
  done
done

hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
layout_kib=$(du -sk "$WORK/out/oci" | cut -f1)
storage_kib=$(du -sk "$WORK/storage" | cut -f1)
python3 - "$WORK/times.tsv" "$(du -sm "$SET/blobs" | cut -f1)" "$(hwm "$SF_PID")" "$(hwm "$REG_PID")" \
  "$layout_kib" "$storage_kib" "$CLIENTS" <<'PY'
import csv, statistics as st, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["round"] != "0"]
mib, sf_rss, reg_rss = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
layout, storage, clients = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
rss = {"seedforge-serve": sf_rss, "docker-registry": reg_rss}
disk = {"seedforge-serve": layout, "docker-registry": layout + storage}
med = {}
for server in ["seedforge-serve", "docker-registry"]:
    walls = [float(r["wall_s"]) for r in rows if r["server"] == server]
    med[server] = (st.median(walls), min(walls), max(walls), len(walls))
ref = med["docker-registry"][0]
print(f"\n{mib} MiB of unique blobs, {clients} clients; medians of {med['seedforge-serve'][3]} pulls\n")
print("| server | median wall [s] | min–max [s] | MiB/s | server peak RSS [MiB] | far side's disk [MiB] | this / docker-registry |")
print("|---|---|---|---|---|---|---|")
for server, (m, lo, hi, _) in med.items():
    print(f"| {server} | {m:.2f} | {lo:.2f}–{hi:.2f} | {mib / m:.0f} | {rss[server] / 1024:.0f} "
          f"| {disk[server] / 1024:.0f} ({disk[server] / layout:.1f}x the layout) | {m / ref:.2f}x |")
PY
echo "load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"

# --- start and memory against the layout's size.
START_IMAGES=${START_IMAGES:-30000}
[ "$START_IMAGES" -gt 0 ] || exit 0
stop "$SF_PID"
SF_PID=
BIG=$CACHE/scale-set-$START_IMAGES
if [ ! -f "$BIG/index.json" ]; then
  log "generate $START_IMAGES small images (bench/make-scale-set.py)"
  rm -rf "$BIG"
  python3 "$ROOT/bench/make-scale-set.py" "$BIG" --images "$START_IMAGES" >/dev/null
fi
[ "$KEEP_SET" = 1 ] || trap 'cleanup; rm -rf "$SET" "$BIG"' EXIT
# repos LAYOUT: the repository of each image of LAYOUT as a registry serves it (the
# reference's registry left out: docker.io/scale/img-00001:1 is scale/img-00001), in order.
repos() {
  python3 - "$1/index.json" <<'PY'
import json, sys
for m in json.load(open(sys.argv[1]))["manifests"]:
    name = m["annotations"]["org.opencontainers.image.ref.name"].rsplit(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest
    print(name)
PY
}
# start_once DIR LAST_NAME IMAGES: adds to start.tsv the seconds from exec to LAST_NAME's
# manifest answered, the peak RSS [KiB] then, and after a manifest of every 100th image.
start_once() {
  local out=$1 last=$2 images=$3 host pid t0 t1 first names
  host=127.0.0.1:$(free_port)
  t0=$(date +%s.%N)
  "$SF" -q serve "$out" --listen "$host" --plain-http >/dev/null 2>&1 &
  pid=$!
  SF_PID=$pid
  until [ "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print (b - a > 60)}')" = 1 ] \
    || curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
    "http://$host/v2/$last/manifests/1"; do
    kill -0 "$pid" 2>/dev/null || die "seedforge serve $out exited"
    sleep 0.005
  done
  t1=$(date +%s.%N)
  curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
    "http://$host/v2/$last/manifests/1" || die "$last: no manifest from seedforge serve over $out within 60 s"
  first=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  names=$(repos "$out/oci" | awk 'NR % 100 == 1')
  for n in $names; do
    curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' \
      "http://$host/v2/$n/manifests/1" || die "$n: no manifest from seedforge serve"
  done
  printf '%s\t%s\t%s\t%s\n' "$images" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" \
    "$first" "$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" >>"$WORK/start.tsv"
  stop "$pid"
  SF_PID=
}
mkdir -p "$WORK/big"
cp -al "$BIG" "$WORK/big/oci"
BIG_LAST=$(repos "$BIG" | tail -1)
SMALL_LAST=$(repos "$SET" | tail -1)
log "start over $START_IMAGES images and over $IMAGES"
echo -e "images\tstart_s\trss_start_kib\trss_after_kib" >"$WORK/start.tsv"
for _ in 1 2 3 4 5; do
  start_once "$WORK/big" "$BIG_LAST" "$START_IMAGES"
  start_once "$WORK/out" "$SMALL_LAST" "$IMAGES"
done
python3 - "$WORK/start.tsv" "$(du -sk "$BIG/index.json" | cut -f1)" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"\nstart to the last image's manifest, medians of {len(rows) // 2} starts (index.json of the large layout: {int(sys.argv[2]) / 1024:.1f} MiB)\n")
print("| layout | start [s] (min–max) | peak RSS at start [MiB] | peak RSS after every 100th manifest [MiB] |")
print("|---|---|---|---|")
for n in sorted({r["images"] for r in rows}, key=int, reverse=True):
    rs = [r for r in rows if r["images"] == n]
    t = [float(r["start_s"]) for r in rs]
    a = st.median(int(r["rss_start_kib"]) for r in rs) / 1024
    b = st.median(int(r["rss_after_kib"]) for r in rs) / 1024
    print(f"| {int(n):,} images | {st.median(t):.3f} ({min(t):.3f}–{max(t):.3f}) | {a:.0f} | {b:.0f} |")
PY
