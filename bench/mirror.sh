#!/usr/bin/env bash
# Benchmarks `seedforge mirror` from a loopback registry against skopeo and curl.
#
#   bench/mirror.sh                 # ~3 min on 2 cores; results in BENCHMARKS.md
#   RUNS=9 CONCURRENCY=4 bench/mirror.sh
#
# Data: bench/make-mirror-set.py writes 20 images sharing a 100 MiB base layer, each with its
# own 20 MiB layer (500 MiB of unique blobs, incompressible gzip layers), and (PINNED=1, the
# default) bench/mirror-pinned:1, a multi-platform index (linux/amd64 and linux/arm64, each
# with an own 20 MiB layer, and their attestation manifests) listed pinned by its index
# digest, which seedforge keeps whole (the skopeo loop copies it with --all, curl fetches
# every manifest and blob of it): 540 MiB of unique blobs in all. skopeo pushes them
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
# seedforge binary, an extra row), IMAGES (20), PINNED (1; 0 leaves the index out), BASE_MIB
# (100), OWN_MIB (20), KEEP_SET=1 keeps the generated layout in $SEEDFORGE_BENCH_CACHE
# (default ${TMPDIR:-/tmp}/seedforge-bench-cache) for the next run, SEEDFORGE_BIN (a seedforge
# binary to run instead of building the release one: a quick check of the script itself).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-7}
CONCURRENCY=${CONCURRENCY:-4}
IMAGES=${IMAGES:-20}
BASE_MIB=${BASE_MIB:-100}
OWN_MIB=${OWN_MIB:-20}
PINNED=${PINNED:-1}
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

if [ -n "${SEEDFORGE_BIN:-}" ]; then
  SF=$SEEDFORGE_BIN
else
  log "build (release)"
  (cd "$ROOT" && cargo build --release --quiet)
  SF=$ROOT/target/release/seedforge
fi

SET=$CACHE/mirror-set-$IMAGES-$BASE_MIB-$OWN_MIB-$PINNED
if [ ! -f "$SET/index.json" ]; then
  log "generate $IMAGES images, base $BASE_MIB MiB + $OWN_MIB MiB each (pinned index: $PINNED)"
  rm -rf "$SET"
  python3 "$ROOT/bench/make-mirror-set.py" "$SET" --images "$IMAGES" --base "$BASE_MIB" --own "$OWN_MIB" --pinned "$PINNED"
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
PINNED_DIGEST=
for n in $NAMES; do
  case $n in
    */mirror-pinned)
      skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false "oci:$SET:$n:1" "docker://$HOST/$n:1"
      PINNED_DIGEST=$(python3 -c "import json; print([m['digest'] for m in json.load(open('$SET/index.json'))['manifests'] if m['annotations']['org.opencontainers.image.ref.name'] == '$n:1'][0])")
      echo "docker://$HOST/$n:1@$PINNED_DIGEST" >>"$WORK/images.txt" ;;
    *)
      skopeo copy --quiet --dest-tls-verify=false "oci:$SET:$n:1" "docker://$HOST/$n:1"
      echo "docker://$HOST/$n:1" >>"$WORK/images.txt" ;;
  esac
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


def fetch(repo, m):
    doc = json.load(open(f"{set_dir}/blobs/sha256/{m['digest'][7:]}"))
    print(f'url = "http://{host}/v2/{repo}/manifests/{m["digest"]}"\noutput = "{out}/{m["digest"][7:]}"')
    print(f'header = "Accept: {m["mediaType"]}"')
    for child in doc.get("manifests", []):
        fetch(repo, child)
    for b in ([doc["config"]] + doc["layers"]) if "layers" in doc else []:
        if b["digest"] in seen:
            continue
        seen.add(b["digest"])
        print(f'url = "http://{host}/v2/{repo}/blobs/{b["digest"]}"\noutput = "{out}/{b["digest"][7:]}"')


for m in json.load(open(f"{set_dir}/index.json"))["manifests"]:
    fetch(m["annotations"]["org.opencontainers.image.ref.name"].split(":")[0], m)
PY

declare -A CMD=(
  [seedforge]="'$SF' -q mirror --images '$WORK/images.txt' --layout '$WORK/out' --plain-http $HOST --concurrency $CONCURRENCY"
  [skopeo]="for n in $NAMES; do all=; case \$n in */mirror-pinned) all='--all --preserve-digests';; esac; skopeo copy --quiet \$all --src-tls-verify=false docker://$HOST/\$n:1 oci:'$WORK/out':\$n:1 || exit 1; done; sync"
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
      if [ -n "$PINNED_DIGEST" ]; then
        python3 -c "import json,sys; sys.exit(0 if any(m['digest'] == '$PINNED_DIGEST' for m in json.load(open('$WORK/out/index.json'))['manifests']) else 1)" \
          || die "seedforge did not keep the pinned index $PINNED_DIGEST whole"
      fi
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
