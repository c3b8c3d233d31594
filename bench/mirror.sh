#!/usr/bin/env bash
# Benchmarks `seedforge mirror` from a loopback registry against skopeo and curl.
#
#   bench/mirror.sh                 # ~3 min on 2 cores; results in BENCHMARKS.md
#   RUNS=9 CONCURRENCY=4 bench/mirror.sh
#
# Data: bench/make-mirror-set.py writes 20 images sharing a 100 MiB base layer, each with its
# own 20 MiB layer (500 MiB of unique blobs, incompressible gzip layers). skopeo pushes them
# into a Debian docker-registry (distribution v2, plain HTTP) on 127.0.0.1; the manifest
# digests in the registry are checked against the generated layout.
#
# Commands, run alternately round by round in a rotating order (round 0 is a discarded
# warm-up), each into an empty output directory after a `sync`. Durable against durable:
# seedforge fsyncs every blob before naming it, so each peer is followed by `sync` (its
# bytes on disk when it ends), and curl without sync is shown for reference only:
#   seedforge   seedforge mirror of the 20-image list into one OCI layout (sha256 verified,
#               every blob fsynced)
#   skopeo      a loop of `skopeo copy docker://… oci:LAYOUT:TAG` into one layout (shares
#               blobs; the fastest way with skopeo), then sync
#   curl        one `curl --parallel` fetching each unique blob and manifest once to disk, no
#               verification, then sync: what the link and the disk give
#   curl-nosync the same curl, not synced (its last bytes still in the page cache)
# Wall time and peak RSS come from GNU time; medians are reported.
#
# Environment: RUNS (7), CONCURRENCY (4, for seedforge and curl), SEEDFORGE_B (another
# seedforge binary, an extra row), IMAGES (20), BASE_MIB
# (100), OWN_MIB (20), KEEP_SET=1 keeps the generated layout in $SEEDFORGE_BENCH_CACHE
# (default ${TMPDIR:-/tmp}/seedforge-bench-cache) for the next run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-7}
CONCURRENCY=${CONCURRENCY:-4}
IMAGES=${IMAGES:-20}
BASE_MIB=${BASE_MIB:-100}
OWN_MIB=${OWN_MIB:-20}
KEEP_SET=${KEEP_SET:-0}
TMP=${TMPDIR:-/tmp}
CACHE=${SEEDFORGE_BENCH_CACHE:-$TMP/seedforge-bench-cache}

die() { echo "mirror.sh: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }
for t in python3 skopeo curl docker-registry cargo; do
  command -v "$t" >/dev/null || die "$t is required"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required"

WORK=$(mktemp -d "$TMP/seedforge-mirror-bench.XXXXXX")
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "build (release)"
(cd "$ROOT" && cargo build --release --quiet)
SF=$ROOT/target/release/seedforge

SET=$CACHE/mirror-set-$IMAGES-$BASE_MIB-$OWN_MIB
if [ ! -f "$SET/index.json" ]; then
  log "generate $IMAGES images, base $BASE_MIB MiB + $OWN_MIB MiB each"
  rm -rf "$SET"
  python3 "$ROOT/bench/make-mirror-set.py" "$SET" --images "$IMAGES" --base "$BASE_MIB" --own "$OWN_MIB"
fi
[ "$KEEP_SET" = 1 ] || trap 'cleanup; rm -rf "$SET"' EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1:$PORT
cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $HOST
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -s "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done

log "fill $HOST with skopeo"
NAMES=$(python3 -c "import json,sys; print(' '.join(m['annotations']['org.opencontainers.image.ref.name'].split(':')[0] for m in json.load(open('$SET/index.json'))['manifests']))")
: >"$WORK/images.txt"
for n in $NAMES; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$SET:$n:1" "docker://$HOST/$n:1"
  echo "docker://$HOST/$n:1" >>"$WORK/images.txt"
done
first=${NAMES%% *}
want=$(python3 -c "import json; print(json.load(open('$SET/index.json'))['manifests'][0]['digest'])")
got=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$HOST/$first:1" | sha256sum | cut -d' ' -f1)
[ "$want" = "$got" ] || die "registry digest $got != layout digest $want"

# curl: every unique blob once (from the first repository that has it), manifests by digest.
python3 - "$SET" "$HOST" "$WORK/out" >"$WORK/curl.cfg" <<'PY'
import json, sys
set_dir, host, out = sys.argv[1:]
seen = set()
for m in json.load(open(f"{set_dir}/index.json"))["manifests"]:
    repo = m["annotations"]["org.opencontainers.image.ref.name"].split(":")[0]
    doc = json.load(open(f"{set_dir}/blobs/sha256/{m['digest'][7:]}"))
    print(f'url = "http://{host}/v2/{repo}/manifests/{m["digest"]}"\noutput = "{out}/{m["digest"][7:]}"')
    print('header = "Accept: application/vnd.oci.image.manifest.v1+json"')
    for b in [doc["config"]] + doc["layers"]:
        if b["digest"] in seen:
            continue
        seen.add(b["digest"])
        print(f'url = "http://{host}/v2/{repo}/blobs/{b["digest"]}"\noutput = "{out}/{b["digest"][7:]}"')
PY

declare -A CMD=(
  [seedforge]="'$SF' -q mirror --images '$WORK/images.txt' --layout '$WORK/out' --plain-http $HOST --concurrency $CONCURRENCY"
  [skopeo]="for n in $NAMES; do skopeo copy --quiet --src-tls-verify=false docker://$HOST/\$n:1 oci:'$WORK/out':\$n:1 || exit 1; done; sync"
  [curl]="mkdir -p '$WORK/out' && curl -sSf --parallel --parallel-max $CONCURRENCY -K '$WORK/curl.cfg' && sync"
  [curl-nosync]="mkdir -p '$WORK/out' && curl -sSf --parallel --parallel-max $CONCURRENCY -K '$WORK/curl.cfg'"
)
ORDER=(seedforge skopeo curl curl-nosync)
# SEEDFORGE_B=PATH adds a row for another seedforge binary (an A/B of two builds).
if [ -n "${SEEDFORGE_B:-}" ]; then
  CMD[seedforge-b]="'$SEEDFORGE_B' -q mirror --images '$WORK/images.txt' --layout '$WORK/out' --plain-http $HOST --concurrency $CONCURRENCY"
  ORDER+=(seedforge-b)
fi
echo -e "tool\tround\twall_s\tmax_rss_kib" >"$WORK/times.tsv"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 0 "$RUNS"); do
  log "round $round/$RUNS"
  for ((k = 0; k < ${#ORDER[@]}; k++)); do
    tool=${ORDER[$(((round + k) % ${#ORDER[@]}))]}
    rm -rf "$WORK/out"
    sync
    /usr/bin/time -f "$tool\t$round\t%e\t%M" -a -o "$WORK/times.tsv" bash -c "${CMD[$tool]}" \
      || die "$tool failed"
    if [ "$tool" = seedforge ] && [ "$round" = 0 ]; then
      got=$(python3 -c "import json; print([m['digest'] for m in json.load(open('$WORK/out/index.json'))['manifests'] if m['annotations']['org.opencontainers.image.ref.name'].endswith('/$first:1')][0])")
      [ "$got" = "$want" ] || die "seedforge stored $got for $first, registry has $want"
      "$SF" -q verify "$WORK/out" || die "seedforge verify failed"
    fi
  done
done

python3 - "$WORK/times.tsv" "$(du -sm "$SET/blobs" | cut -f1)" <<'PY'
import csv, statistics as st, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["round"] != "0"]
mib = int(sys.argv[2])
med = {}
for tool in ["seedforge", "skopeo", "curl", "curl-nosync", "seedforge-b"]:
    if not any(r["tool"] == tool for r in rows):
        continue
    walls = [float(r["wall_s"]) for r in rows if r["tool"] == tool]
    rss = [int(r["max_rss_kib"]) for r in rows if r["tool"] == tool]
    med[tool] = (st.median(walls), min(walls), max(walls), st.median(rss) / 1024, len(walls))
sf = med["seedforge"][0]
print(f"\n{mib} MiB of unique blobs; medians of {med['seedforge'][4]} runs\n")
print("| command | median wall [s] | min–max [s] | MiB/s | peak RSS [MiB] | this / seedforge |")
print("|---|---|---|---|---|---|")
for tool, (m, lo, hi, rss, _) in med.items():
    print(f"| {tool} | {m:.2f} | {lo:.2f}–{hi:.2f} | {mib / m:.0f} | {rss:.0f} | {m / sf:.2f}x |")
PY
echo "load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
