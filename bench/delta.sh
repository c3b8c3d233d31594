#!/usr/bin/env bash
# The second day: a k3s patch upgrade of the lab carried as a delta (`seedforge receipt`,
# `seedforge delta`, `seedforge apply`) against carrying the whole output, in one run.
#
#   bench/delta.sh                     # ~3 min on 2 cores (RUNS=3), ~9 GiB free in TMPDIR
#   RUNS=5 FACTOR=0.5 bench/delta.sh
#   SEEDFORGE=target/release/seedforge KEEP=1 bench/delta.sh
#
# Data: bench/make-upgrade-set.py writes the lab's images (fixtures/lab/images.txt, the k3s
# v1.33.1+k3s1 airgap set) at realistic sizes (~290 MB of gzip blobs at FACTOR 1: shared
# base and runtime layers, an own layer each, as bench/e2e-images.py makes them), and the
# same set after a patch release: klipper-helm, local-path-provisioner and traefik under new
# tags, each a new own layer and a new small layer over the same base layers, and one
# image added. skopeo pushes both into a Debian docker-registry (distribution 2.8, plain
# HTTP) on 127.0.0.1. The config is the lab's (fixtures/lab/seedforge.yaml: 1 server, 2
# agents) pulling from that registry, so the build pins every image in seedforge.lock:
#   v1  k3s_version v1.33.1+k3s1, the v1 list
#   v2  k3s_version v1.33.2+k3s1, the v2 list
# The near side builds v1 (online), the far side is a copy of that config folder and
# output; the near side then builds v2 into the same folder.
#
# Measured, each round on fresh copies made before the clock starts (`cp -a`, then `sync`):
#   receipt  seedforge receipt FAR/out -o receipt.json           (far side, v1)
#   delta    seedforge delta NEAR/out --since receipt.json -o D  (near side, v2)
#   apply    seedforge apply D --to FAR/out                      (far side: v1 -> v2)
#   offline  seedforge build --offline --force of the v2 output on the far side: its v1
#            output with v2's layout (oci/) and v2's config, list and seedforge.lock, as if
#            the whole new layout had been carried; the airgap archives, seeds, node files
#            and SBOMs are v1's and are written again. This is the build apply runs in its
#            staging copy (forced too: the copy keeps no build state): the goal's baseline
#   same     the same command on a copy of the v2 output itself (every derived file
#            already v2's): a rebuild with nothing to change, for comparison
# The three alternate which goes first, round by round; round 0 is a discarded warm-up. Wall time, CPU and peak RSS from GNU time; medians of RUNS rounds. Every apply's
# result must have the near side's v2 SHA256SUMS, and `seedforge verify` passes on it.
#
# Sizes: the delta's bytes (every file of it, delta.json and its SHA256SUMS included)
# against the floor, computed here without seedforge's accounting: the blobs v2's layout
# reaches and v1's does not (walked from each layout's index.json), every file of the v2
# output that is not byte-identical in v1's and that the far side cannot derive (anything
# but airgap/, iso/, nodes/, sbom/, registries.yaml, registry/, certs.d/, the layout's
# blobs and seedforge's own state; so the seal manifest.json and SHA256SUMS count), and the
# files of the config folder that changed (config, image list, seedforge.lock). And the
# delta against the whole v2 output (`du -sb`), what would be carried without a delta.
#
# Environment: RUNS (3), FACTOR (1.0: layer size factor), APPS (0: application images
# besides the lab's), BOUND (600 s per command), SETUP_BOUND (1800 s for generating,
# pushing and the two builds), SEEDFORGE (a binary to measure instead of building
# `--release`), KEEP=1 keeps the scratch folder (under TMPDIR).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
FACTOR=${FACTOR:-1.0}
APPS=${APPS:-0}
BOUND=${BOUND:-600}
SETUP_BOUND=${SETUP_BOUND:-1800}
KEEP=${KEEP:-0}
TMP=${TMPDIR:-/tmp}
V1=v1.33.1+k3s1
V2=v1.33.2+k3s1

die() { echo "delta.sh: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }
for t in python3 skopeo curl docker-registry timeout sync cmp du; do
  command -v "$t" >/dev/null || die "$t is required"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required"

mkdir -p "$TMP"
WORK=$(mktemp -d "$TMP/seedforge-delta-bench.XXXXXX")
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${SEEDFORGE:-}" ]; then
  SF=$SEEDFORGE
else
  log "build (release)"
  (cd "$ROOT" && timeout "$SETUP_BOUND" cargo build --release --quiet)
  SF=$ROOT/target/release/seedforge
fi
[ -x "$SF" ] || die "no seedforge binary at $SF"
SF=$(cd "$(dirname "$SF")" && pwd)/$(basename "$SF")

# ---------------------------------------------------------------- the images and the registry
log "generate the v1 and v2 image sets (factor $FACTOR, $APPS application images)"
timeout "$SETUP_BOUND" python3 "$ROOT/bench/make-upgrade-set.py" "$WORK/set" --factor "$FACTOR" --apps "$APPS"

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
for _ in $(seq 150); do curl -s "http://$HOST/v2/" >/dev/null && break; sleep 0.1; done
curl -sf "http://$HOST/v2/" >/dev/null || die "the registry did not start: $(cat "$WORK/registry.log")"

log "push both sets into $HOST with skopeo"
sort -u "$WORK/set/names-v1.txt" "$WORK/set/names-v2.txt" | while read -r ref; do
  timeout 300 skopeo copy --quiet --dest-tls-verify=false "oci:$WORK/set:$ref" "docker://$HOST/$ref" </dev/null ||
    die "skopeo copy $ref failed"
done
rm -rf "$WORK/set/blobs" # the registry holds them now

# ---------------------------------------------------------------- the lab, v1 then v2
NEAR=$WORK/near
FAR=$WORK/far
mkdir -p "$NEAR"
cp "$ROOT/fixtures/lab/token" "$NEAR/token"
# config VERSION LIST: the lab's config, pulling from the loopback registry.
config() {
  # The set's own list is the release's: its patch release is made up (new tags), so the
  # release table's images for it do not apply.
  sed -e "s/^  k3s_version: .*/  k3s_version: $1\n  release_images: images.txt/" "$ROOT/fixtures/lab/seedforge.yaml" |
    sed -e "s/^registry:$/registries:\n  - host: \"$HOST\"\n    insecure: true\n\nregistry:/" >"$NEAR/seedforge.yaml"
  awk -v h="$HOST" '{ print "docker://" h "/" $1 " docker.io/" $1 }' "$2" >"$NEAR/images.txt"
  grep -q "k3s_version: $1" "$NEAR/seedforge.yaml" && grep -q "$HOST" "$NEAR/seedforge.yaml" ||
    die "could not write the config"
}
config "$V1" "$WORK/set/names-v1.txt"
log "near side: build v1 ($V1)"
timeout "$SETUP_BOUND" "$SF" -q build --config "$NEAR/seedforge.yaml" || die "the v1 build failed"
log "far side: the v1 config folder and output, as carried the first time"
cp -a "$NEAR" "$FAR"
config "$V2" "$WORK/set/names-v2.txt"
log "near side: build v2 ($V2)"
timeout "$SETUP_BOUND" "$SF" -q build --config "$NEAR/seedforge.yaml" || die "the v2 build failed"
kill "$REG_PID" && wait "$REG_PID" 2>/dev/null || true # everything from here is offline
REG_PID=

# ---------------------------------------------------------------- the floor, independently
python3 - "$FAR" "$NEAR" >"$WORK/floor.tsv" <<'PY'
import hashlib, json, os, sys
far, near = sys.argv[1:]
DERIVED = ("airgap/", "iso/", "nodes/", "sbom/", "registries.yaml", "registry/", "certs.d/")

def blob(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])

def reach(layout):
    """digest -> size of every blob index.json reaches (manifests, indexes, configs, layers)."""
    seen, todo = {}, list(json.load(open(os.path.join(layout, "index.json")))["manifests"])
    while todo:
        d = todo.pop()
        if d["digest"] in seen:
            continue
        seen[d["digest"]] = d["size"]
        mt = d.get("mediaType", "")
        if "manifest" in mt or "index" in mt:
            doc = json.load(open(blob(layout, d["digest"])))
            todo += doc.get("manifests", []) + doc.get("layers", [])
            if "config" in doc:
                todo.append(doc["config"])
    return seen

def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()

def files(root, skip):
    out = {}
    for d, dirs, names in os.walk(root):
        rel_d = os.path.relpath(d, root)
        dirs[:] = [x for x in dirs if not x.startswith(".seedforge") and not skip(os.path.normpath(os.path.join(rel_d, x)) + "/")]
        for n in names:
            rel = os.path.normpath(os.path.join(rel_d, n))
            if n.startswith(".seedforge") or skip(rel):
                continue
            out[rel] = os.path.join(d, n)
    return out

old, new = reach(f"{far}/out/oci"), reach(f"{near}/out/oci")
added = {d: s for d, s in new.items() if d not in old}
print(f"blobs\t{len(added)}\t{sum(added.values())}")
skip_out = lambda rel: rel.startswith("oci/blobs/") or rel.startswith(DERIVED) or rel in DERIVED
a, b = files(f"{far}/out", skip_out), files(f"{near}/out", skip_out)
changed = [r for r, p in b.items() if r not in a or sha(a[r]) != sha(p)]
print(f"sealed\t{len(changed)}\t{sum(os.path.getsize(b[r]) for r in changed)}\t{' '.join(sorted(changed))}")
skip_cfg = lambda rel: rel == "out" or rel.startswith("out/")
a, b = files(far, skip_cfg), files(near, skip_cfg)
changed = [r for r, p in b.items() if r not in a or sha(a[r]) != sha(p)]
print(f"config\t{len(changed)}\t{sum(os.path.getsize(b[r]) for r in changed)}\t{' '.join(sorted(changed))}")
PY
FULL=$(du -sb "$NEAR/out" | cut -f1)

# ---------------------------------------------------------------- measure
echo -e "command\tround\twall_s\tuser_s\tsys_s\tmax_rss_kib" >"$WORK/times.tsv"
timed() { # command round argv...
  local cmd=$1 round=$2
  shift 2
  timeout "$BOUND" /usr/bin/time -f "%e\t%U\t%S\t%M" -o "$WORK/time.out" "$@" >"$WORK/$cmd.out" 2>&1 ||
    die "$cmd (round $round) failed: $(tail -n 5 "$WORK/$cmd.out")"
  printf '%s\t%s\t%s\n' "$cmd" "$round" "$(tail -n 1 "$WORK/time.out")" >>"$WORK/times.tsv"
}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for round in $(seq 0 "$RUNS"); do
  log "round $round/$RUNS"
  R=$WORK/r$round
  mkdir -p "$R"
  cp -a "$FAR" "$R/far"
  cp -a "$FAR" "$R/full"
  cp "$NEAR/seedforge.yaml" "$NEAR/images.txt" "$NEAR/seedforge.lock" "$R/full/"
  rm -rf "$R/full/out/oci" "$R/full/out/.seedforge/state.json"
  cp -a "$NEAR/out/oci" "$R/full/out/oci"
  cp -a "$NEAR" "$R/same"
  sync
  timed receipt "$round" "$SF" -q receipt "$R/far/out" -o "$R/receipt.json"
  timed delta "$round" "$SF" -q delta "$NEAR/out" --since "$R/receipt.json" -o "$R/delta"
  sync
  CMDS=(apply offline same)
  for ((k = 0; k < 3; k++)); do
    cmd=${CMDS[$(((round + k) % 3))]}
    case $cmd in
      apply) timed apply "$round" "$SF" -q apply "$R/delta" --to "$R/far/out" ;;
      offline) timed offline "$round" "$SF" -q build --offline --force --config "$R/full/seedforge.yaml" ;;
      same) timed same "$round" "$SF" -q build --offline --force --config "$R/same/seedforge.yaml" ;;
    esac
  done
  for d in far full same; do
    cmp "$R/$d/out/SHA256SUMS" "$NEAR/out/SHA256SUMS" || die "round $round: $d/out is not v2's output"
  done
  if [ "$round" = "$RUNS" ]; then
    "$SF" -q verify "$R/far/out" || die "seedforge verify failed on the applied output"
    find "$R/delta" -type f -printf '%s\n' | awk '{ s += $1 } END { print NR "\t" s }' >"$WORK/delta-size.tsv"
    cp "$R/delta/delta.json" "$WORK/delta.json"
  fi
  rm -rf "$R"
done
END=$(date -u +%H:%M:%SZ)

python3 - "$WORK" "$FULL" "$RUNS" <<'PY'
import csv, json, statistics as st, sys
work, full, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [r for r in csv.DictReader(open(f"{work}/times.tsv"), delimiter="\t") if r["round"] != "0"]
floor = {}
for line in open(f"{work}/floor.tsv"):
    kind, n, b, *names = line.rstrip("\n").split("\t")
    floor[kind] = (int(n), int(b), names[0] if names else "")
files, delta_bytes = map(int, open(f"{work}/delta-size.tsv").read().split())
doc = json.load(open(f"{work}/delta.json"))
floor_bytes = sum(b for _, b, _ in floor.values())
print("| | files | bytes |")
print("|---|---:|---:|")
print(f"| floor: blobs v2's layout reaches and v1's does not | {floor['blobs'][0]} | {floor['blobs'][1]:,} |")
print(f"| floor: sealed files not derived, changed ({floor['sealed'][2]}) | {floor['sealed'][0]} | {floor['sealed'][1]:,} |")
print(f"| floor: config folder files changed ({floor['config'][2]}) | {floor['config'][0]} | {floor['config'][1]:,} |")
print(f"| **floor** | {sum(n for n, _, _ in floor.values())} | **{floor_bytes:,}** |")
print(f"| **delta** (every file; seedforge says {doc['blobs']['count']} blobs, {doc['blobs']['bytes']:,} B) | {files} | **{delta_bytes:,}** |")
print(f"| whole v2 output (`du -sb`) | | {full:,} |")
print()
print(f"delta / floor: **{delta_bytes / floor_bytes:.3f}x** (goal at most 1.05x); delta / whole output: **{delta_bytes / full:.3f}x** ({full / delta_bytes:.1f}x less to carry)")
print()
med = {}
for cmd in ("receipt", "delta", "apply", "offline", "same"):
    rs = [r for r in rows if r["command"] == cmd]
    walls = [float(r["wall_s"]) for r in rs]
    med[cmd] = (st.median(walls), min(walls), max(walls),
                st.median(float(r["user_s"]) + float(r["sys_s"]) for r in rs),
                st.median(int(r["max_rss_kib"]) for r in rs) / 1024, len(rs))
print(f"medians of {runs}:")
print()
print("| command | wall [s] (min-max) | CPU [s] | peak RSS [MiB] | this / offline build |")
print("|---|---|---:|---:|---:|")
names = {"receipt": "`receipt` (far, v1)", "delta": "`delta` (near, v2)",
         "apply": "`apply` (far, v1 -> v2)",
         "offline": "`build --offline --force` of v2 (far: v1's output, v2's layout and config)",
         "same": "`build --offline --force` onto v2's own output (nothing to change)"}
for cmd, (m, lo, hi, cpu, rss, _) in med.items():
    print(f"| {names[cmd]} | {m:.2f} ({lo:.2f}-{hi:.2f}) | {cpu:.2f} | {rss:.0f} | {m / med['offline'][0]:.2f}x |")
per = []
for rnd in sorted({r["round"] for r in rows}, key=int):
    w = {r["command"]: float(r["wall_s"]) for r in rows if r["round"] == rnd}
    per.append(f"{w['apply'] / w['offline']:.2f}x")
print()
print(f"apply / offline build: **{med['apply'][0] / med['offline'][0]:.2f}x** wall (goal at most 1.2x), "
      f"{med['apply'][3] / med['offline'][3]:.2f}x CPU; per round (wall): {', '.join(per)}; "
      f"median of the rounds' ratios {st.median(float(p[:-1]) for p in per):.2f}x")
PY
echo
echo "$START-$END; load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $("$SF" --version)"
