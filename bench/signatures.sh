#!/usr/bin/env bash
# Benchmarks what carrying cosign signatures and OCI 1.1 referrers costs `seedforge mirror`:
# IMAGES signed images against as many unsigned ones, from one loopback registry, in one run.
#
#   bench/signatures.sh              # ~6 min on 2 cores (half of it pushing and signing)
#   IMAGES=100 SIZES=16777216 RUNS=3 WARM=1 bench/signatures.sh   # 100 images of 16 MiB
#
# Data: bench/make-signed-set.py writes IMAGES images per size in SIZES (bytes of content in
# each image's one layer: 512 B measures the per-image work, 1 MiB adds bytes to move), each
# a manifest, a config and one distinct gzip layer. skopeo pushes every image twice into a
# Debian docker-registry (distribution 2.8, plain HTTP, no referrers API) on 127.0.0.1, as
# bench/<size>/signed-N:1 and bench/<size>/plain-N:1 (the same bytes under two names). cosign 3
# (Debian sid, as scripts/test.sh unpacks it under target/sid) signs each signed-N by digest
# with a key pair it made, without a transparency log: odd N classic (`--new-bundle-format=false`,
# a `sha256-<hex>.sig` tag), even N in cosign 3's default Sigstore bundle form (an OCI 1.1
# referrer, which this registry keeps under the fallback tag `sha256-<hex>`).
#
# Commands, per size, alternating round by round in a rotating order (round 0 is a discarded
# warm-up), each into an empty layout after a `sync`:
#   plain     seedforge mirror of the IMAGES plain-N (each still looked up: 3 cosign tag HEADs,
#             the referrers API, the fallback tag's HEAD; nothing found)
#   signed    seedforge mirror of the IMAGES signed-N (the same lookups, finding one artifact
#             each, which is copied and stored with its image)
#   signed-no seedforge mirror --no-signatures of the signed-N (no lookups: the images alone)
# then each command WARM times again into the layout its last cold round left (everything
# already there). Wall time, CPU and peak RSS come from GNU time, the registry's CPU from
# /proc (it shares the two cores, and sets the pace here); medians are reported, and ratios
# against `plain` of the same size. Every request each run sends is counted from the
# registry's own access log (its lines for that run), by method, kind and status.
#
# Environment: IMAGES (300), SIZES ("512 1048576"), RUNS (3), WARM (3), CONCURRENCY (4),
# BOUND (300 s per command; SETUP_BOUND, 1200 s, for generating, pushing and signing;
# SIGN_BOUND, 600 s, for one cosign call of 25 images, its own --timeout too),
# SEEDFORGE (a binary to measure instead of building `--release`), COSIGN (the cosign 3 to
# sign with; default target/sid), KEEP=1 keeps the scratch folder (under TMPDIR).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGES=${IMAGES:-300}
SIZES=${SIZES:-512 1048576}
RUNS=${RUNS:-3}
WARM=${WARM:-3}
CONCURRENCY=${CONCURRENCY:-4}
BOUND=${BOUND:-300}
SETUP_BOUND=${SETUP_BOUND:-1200}
SIGN_BOUND=${SIGN_BOUND:-600}
KEEP=${KEEP:-0}
TMP=${TMPDIR:-/tmp}

die() { echo "signatures.sh: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }
for t in python3 skopeo curl docker-registry timeout xargs sync bc getconf; do
  command -v "$t" >/dev/null || die "$t is required"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required"
if [ -z "${COSIGN:-}" ]; then
  for c in "$ROOT/target/sid/root/usr/bin/cosign" "$ROOT/target/sid/cosign"; do
    [ -x "$c" ] && COSIGN=$c && break
  done
fi
{ [ -n "${COSIGN:-}" ] && [ -x "$COSIGN" ]; } || die "cosign 3 is required (COSIGN=PATH, or target/sid as scripts/test.sh unpacks it)"

mkdir -p "$TMP"
WORK=$(mktemp -d "$TMP/seedforge-signatures-bench.XXXXXX")
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${SEEDFORGE:-}" ]; then
  SF=$SEEDFORGE
else
  log "build (release)"
  (cd "$ROOT" && timeout "$SETUP_BOUND" cargo build --release --quiet)
  SF=$ROOT/target/release/seedforge
fi
[ -x "$SF" ] || die "no seedforge binary at $SF"

label() { if [ "$1" -ge 1048576 ] && [ $(($1 % 1048576)) = 0 ]; then echo "$(($1 / 1048576))mib"; else echo "${1}b"; fi; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HOST=127.0.0.1:$PORT
# log.level info: every request is logged ("response completed"); the access log (stdout,
# one line per request, combined format) is what the counts below read.
cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $HOST
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/access.log" 2>"$WORK/registry.log" &
REG_PID=$!
for _ in $(seq 100); do curl -s "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done
curl -sf "http://$HOST/v2/" >/dev/null || die "the registry did not start: $(cat "$WORK/registry.log")"

log "cosign key pair ($COSIGN)"
mkdir -p "$WORK/key"
export COSIGN_PASSWORD="bench key"
(cd "$WORK/key" && timeout 60 "$COSIGN" generate-key-pair >/dev/null 2>&1) || die "cosign generate-key-pair failed"

for size in $SIZES; do
  L=$(label "$size")
  set=$WORK/set-$L
  log "generate $IMAGES images of $size bytes ($L)"
  timeout "$SETUP_BOUND" python3 "$ROOT/bench/make-signed-set.py" "$set" --images "$IMAGES" --size "$size"
  # name N digest, from the generated layout (skopeo copies an OCI manifest as it is).
  python3 - "$set" >"$WORK/digests-$L.txt" <<'PY'
import json, sys
for m in json.load(open(f"{sys.argv[1]}/index.json"))["manifests"]:
    name = m["annotations"]["org.opencontainers.image.ref.name"].split(":")[0]
    print(int(name.split("-")[1]), m["digest"])
PY
  log "push $IMAGES x 2 images ($L) into $HOST with skopeo"
  : >"$WORK/push-$L.txt"
  : >"$WORK/plain-$L.txt"
  : >"$WORK/signed-$L.txt"
  while read -r n _; do
    for kind in plain signed; do
      printf 'oci:%s:img-%04d:1 docker://%s/bench/%s/%s-%d:1\n' "$set" "$n" "$HOST" "$L" "$kind" "$n" >>"$WORK/push-$L.txt"
      printf 'docker://%s/bench/%s/%s-%d:1\n' "$HOST" "$L" "$kind" "$n" >>"$WORK/$kind-$L.txt"
    done
  done <"$WORK/digests-$L.txt"
  timeout "$SETUP_BOUND" xargs -P 4 -n 2 timeout 120 skopeo copy --quiet --dest-tls-verify=false \
    <"$WORK/push-$L.txt" || die "skopeo push failed"
  read -r n1 d1 < <(head -n 1 "$WORK/digests-$L.txt")
  got=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$HOST/bench/$L/signed-$n1:1" | sha256sum | cut -d' ' -f1)
  [ "$got" = "$d1" ] || die "registry digest $got != layout digest $d1"

  log "sign $IMAGES images ($L): odd classic .sig, even the default bundle"
  awk -v h="$HOST" -v l="$L" '$1 % 2 == 1 { printf "%s/bench/%s/signed-%d@%s\n", h, l, $1, $2 }' \
    "$WORK/digests-$L.txt" >"$WORK/sign-classic-$L.txt"
  awk -v h="$HOST" -v l="$L" '$1 % 2 == 0 { printf "%s/bench/%s/signed-%d@%s\n", h, l, $1, $2 }' \
    "$WORK/digests-$L.txt" >"$WORK/sign-bundle-$L.txt"
  # cosign's own limit for one call (3 min unless --timeout says otherwise) is the batch's:
  # on a loaded machine a batch of 25 took longer and failed with "context deadline exceeded".
  sign=("$COSIGN" sign --key "$WORK/key/cosign.key" --tlog-upload=false --use-signing-config=false
    -y --allow-http-registry --allow-insecure-registry --timeout "${SIGN_BOUND}s")
  (cd "$WORK/key" &&
    timeout "$SETUP_BOUND" xargs -P 4 -n 25 timeout "$SIGN_BOUND" "${sign[@]}" --new-bundle-format=false \
      <"$WORK/sign-classic-$L.txt" >/dev/null 2>"$WORK/cosign-$L.log" &&
    timeout "$SETUP_BOUND" xargs -P 4 -n 25 timeout "$SIGN_BOUND" "${sign[@]}" \
      <"$WORK/sign-bundle-$L.txt" >/dev/null 2>>"$WORK/cosign-$L.log") ||
    die "cosign sign failed: $(tail -n 5 "$WORK/cosign-$L.log")"
  # Every signed-N has its artifact tag (a .sig, or the fallback tag), no plain-N has one.
  python3 - "$HOST" "$L" "$WORK/digests-$L.txt" <<'PY' || die "signatures missing in the registry"
import json, sys, urllib.request
host, label, digests = sys.argv[1:]
for line in open(digests):
    n, d = line.split()
    n = int(n)
    want = f"sha256-{d[7:]}" + (".sig" if n % 2 else "")
    for kind in ("signed", "plain"):
        tags = json.load(urllib.request.urlopen(f"http://{host}/v2/bench/{label}/{kind}-{n}/tags/list"))["tags"]
        if (want in tags) != (kind == "signed"):
            sys.exit(f"bench/{label}/{kind}-{n}: tags {tags}")
PY
done

# ---------------------------------------------------------------- measure
# One command: wall/CPU/RSS from GNU time; the access log's lines for the run kept aside.
echo -e "size\tcommand\tphase\tround\twall_s\tuser_s\tsys_s\tmax_rss_kib\trequests\tregistry_cpu_s" >"$WORK/times.tsv"
TICK=$(getconf CLK_TCK)
registry_cpu() { awk '{ print $14 + $15 }' "/proc/$REG_PID/stat"; } # user + system, in ticks
run() { # size label command phase round out list [args...]
  local size=$1 L=$2 cmd=$3 phase=$4 round=$5 out=$6 list=$7
  shift 7
  local before after reqs=$WORK/req-$L-$cmd-$phase-$round.log
  local cpu0 cpu1
  before=$(wc -l <"$WORK/access.log")
  cpu0=$(registry_cpu)
  timeout "$BOUND" /usr/bin/time -f "%e\t%U\t%S\t%M" -o "$WORK/time.out" \
    "$SF" -q mirror --images "$list" --layout "$out" --plain-http "$HOST" \
    --concurrency "$CONCURRENCY" "$@" || die "$cmd ($L, $phase $round) failed"
  sleep 0.3 # the registry writes a request's line after answering it
  after=$(wc -l <"$WORK/access.log")
  cpu1=$(registry_cpu)
  sed -n "$((before + 1)),${after}p" "$WORK/access.log" >"$reqs"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$L" "$cmd" "$phase" "$round" "$(tail -n 1 "$WORK/time.out")" \
    "$(wc -l <"$reqs")" "$(echo "scale=2; ($cpu1 - $cpu0) / $TICK" | bc)" >>"$WORK/times.tsv"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%H:%M:%S)
ORDER=(plain signed signed-no)
for size in $SIZES; do
  L=$(label "$size")
  declare -A LIST=([plain]="$WORK/plain-$L.txt" [signed]="$WORK/signed-$L.txt" [signed-no]="$WORK/signed-$L.txt")
  declare -A EXTRA=([plain]="" [signed]="" [signed-no]="--no-signatures")
  for round in $(seq 0 "$RUNS"); do
    log "$L: cold round $round/$RUNS"
    for ((k = 0; k < ${#ORDER[@]}; k++)); do
      cmd=${ORDER[$(((round + k) % ${#ORDER[@]}))]}
      out=$WORK/out-$L-$cmd
      rm -rf "$out"
      sync
      # shellcheck disable=SC2086
      run "$size" "$L" "$cmd" cold "$round" "$out" "${LIST[$cmd]}" ${EXTRA[$cmd]}
    done
  done
  # The signed layout holds every artifact, stored as what it is, and is whole.
  python3 - "$WORK/out-$L-signed/index.json" "$IMAGES" <<'PY' || die "the signed layout lacks artifacts"
import collections, json, sys
kinds = collections.Counter(
    m.get("annotations", {}).get("dev.seedforge.attached.kind", "image")
    for m in json.load(open(sys.argv[1]))["manifests"])
n = int(sys.argv[2])
want = {"image": n, "signature": (n + 1) // 2, "referrer": n // 2}
print(f"signed layout: {dict(kinds)}", file=sys.stderr)
sys.exit(0 if dict(kinds) == want else f"want {want}")
PY
  "$SF" -q verify "$WORK/out-$L-signed" || die "seedforge verify failed"
  for round in $(seq 1 "$WARM"); do
    log "$L: warm round $round/$WARM"
    for ((k = 0; k < ${#ORDER[@]}; k++)); do
      cmd=${ORDER[$(((round + k) % ${#ORDER[@]}))]}
      # shellcheck disable=SC2086
      run "$size" "$L" "$cmd" warm "$round" "$WORK/out-$L-$cmd" "${LIST[$cmd]}" ${EXTRA[$cmd]}
    done
  done
  unset LIST EXTRA
done

python3 - "$WORK" "$IMAGES" <<'PY'
import collections, csv, re, statistics as st, sys
work, images = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(f"{work}/times.tsv"), delimiter="\t"))
line = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d+)')

def kind(uri):
    path = uri.split("?")[0]
    if path in ("/v2/", "/v2"):
        return "ping"
    m = re.match(r"/v2/.+/(manifests|blobs|referrers|tags)/(.*)$", path)
    if not m:
        return "other"
    what, ref = m.groups()
    if what == "manifests":
        if ref.startswith("sha256:"):
            return "manifest by digest"
        if re.fullmatch(r"sha256-[0-9a-f]{64}\.(sig|att|sbom)", ref):
            return "cosign tag"
        if re.fullmatch(r"sha256-[0-9a-f]{64}", ref):
            return "fallback tag"
        return "image tag"
    return {"blobs": "blob", "referrers": "referrers API", "tags": "tag list"}[what]

def requests(L, cmd, phase, rnd):
    c = collections.Counter()
    for l in open(f"{work}/req-{L}-{cmd}-{phase}-{rnd}.log"):
        m = line.search(l)
        if m:
            method, uri, status = m.groups()
            c[(method, kind(uri), status)] += 1
    return c

def fmt(c):
    order = ["ping", "image tag", "manifest by digest", "blob", "cosign tag", "referrers API", "fallback tag", "tag list", "other"]
    keys = sorted(c, key=lambda k: (order.index(k[1]), k[0], k[2]))
    return ", ".join(f"{m} {k} {s}: {c[(m, k, s)]}" for m, k, s in keys)

for L in dict.fromkeys(r["size"] for r in rows):
    print(f"\n### {L} images ({images} per command)\n")
    for phase in ("cold", "warm"):
        sel = [r for r in rows if r["size"] == L and r["phase"] == phase and r["round"] != "0"]
        med = {}
        for cmd in ("plain", "signed", "signed-no"):
            rs = [r for r in sel if r["command"] == cmd]
            walls = [float(r["wall_s"]) for r in rs]
            cpu = [float(r["user_s"]) + float(r["sys_s"]) for r in rs]
            med[cmd] = (st.median(walls), min(walls), max(walls), st.median(cpu),
                        st.median(int(r["max_rss_kib"]) for r in rs) / 1024,
                        st.median(int(r["requests"]) for r in rs),
                        st.median(float(r["registry_cpu_s"]) for r in rs), len(rs))
        base = med["plain"][0]
        print(f"{phase}, medians of {med['plain'][7]}:\n")
        print("| command | wall [s] (min-max) | seedforge CPU [s] | registry CPU [s] | peak RSS [MiB] | requests | this / plain |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for cmd, (m, lo, hi, cpu, rss, req, rcpu, _) in med.items():
            print(f"| {cmd} | {m:.2f} ({lo:.2f}-{hi:.2f}) | {cpu:.2f} | {rcpu:.2f} | {rss:.0f} | {req:.0f} | {m / base:.2f}x |")
        # Per round: signed over plain of the same round.
        per = []
        for rnd in sorted({r["round"] for r in sel}, key=int):
            w = {r["command"]: float(r["wall_s"]) for r in sel if r["round"] == rnd}
            per.append(f"{w['signed'] / w['plain']:.2f}x")
        print(f"\nsigned / plain per round: {', '.join(per)}\n")
        rnd = max((r["round"] for r in sel), key=int)
        for cmd in ("plain", "signed", "signed-no"):
            print(f"- {phase} {cmd} (round {rnd}) requests: {fmt(requests(L, cmd, phase, rnd))}")
        if phase == "warm":
            bad = [(cmd, r) for cmd in ("plain", "signed", "signed-no") for r in range(1, med["plain"][7] + 1)
                   if any(m == "GET" and k not in ("ping", "referrers API") and n
                          for (m, k, s), n in requests(L, cmd, "warm", str(r)).items())]
            print(f"\nwarm GETs other than the ping and the referrers API: {'none' if not bad else bad}")
        print()
PY
echo "$START-$(date -u +%H:%M:%S) UTC; load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
