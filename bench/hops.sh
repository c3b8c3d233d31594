#!/usr/bin/env bash
# An upgrade across three k3s minors in one medium: the delta of an output built with
# `cluster.upgrade_path` (v1.33.1+k3s1 -> v1.36.2+k3s1 through v1.34.2+k3s1 and
# v1.35.1+k3s1) against the three one-minor deltas an upgrade one medium per minor carries
# (v1.33 -> v1.34 -> v1.35 -> v1.36), and against the floor: the new bytes alone.
#
#   bench/hops.sh                          # ~2 min on 2 cores, ~4 GiB free in TMPDIR
#   FACTOR=0.25 BIN_MIB=16 bench/hops.sh
#   SEEDFORGE=target/release/seedforge KEEP=1 bench/hops.sh
#
# Data: bench/make-hops-set.py writes one OCI layout with the lab's eight images at
# v1.33.1+k3s1 (fixtures/lab/images.txt) and each later release's packaged components
# under the tags the release table gives them (Traefik, CoreDNS, metrics-server,
# local-path-provisioner: a new own layer over the same base layers each), at the sizes
# bench/e2e-images.py makes (FACTOR times). Each release's k3s binary is BIN_MIB MiB of
# random bytes naming its release (as a k3s binary does). The config is the lab's (one
# server, two agents, all-in-one seeds), its images local (`oci:` sources).
#
#   per minor  one folder built at v1.33.1, receipt; then at v1.34.2, delta since that
#              receipt, receipt; v1.35.1, delta, receipt; v1.36.2, delta. Each build lists
#              its release's images and carries its binary as bin/k3s.
#   hops       a copy of the v1.33.1 folder and output built at v1.36.2 with
#              upgrade_from: v1.33.1+k3s1, upgrade_path: [v1.34.2+k3s1, v1.35.1+k3s1],
#              every release's images listed, the hops' binaries as hops/<RELEASE>/k3s;
#              delta since the v1.33.1 receipt. Applied on another copy of the v1.33.1
#              folder: it must end at the hops output's SHA256SUMS, and verify.
#   floor      computed here, not from seedforge's accounting (as bench/delta.sh does):
#              the blobs the hops output's layout reaches and v1.33.1's does not, every
#              sealed file of the hops output not byte-identical in v1.33.1's that the far
#              side cannot derive (anything but airgap/, iso/, nodes/, sbom/, the registry
#              configs, the blobs, seedforge's state: so the binaries and the seal count),
#              and the changed files of the config folder (a `files:` source with the
#              content of a sealed file counted once).
# Sizes are `du -sb` of each delta folder (every file: delta.json, its SHA256SUMS).
#
# Environment: FACTOR (1.0), BIN_MIB (64), BOUND (600 s per command), SEEDFORGE (a binary
# to measure instead of building `--release`), KEEP=1 keeps the scratch folder (TMPDIR).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FACTOR=${FACTOR:-1.0}
BIN_MIB=${BIN_MIB:-64}
BOUND=${BOUND:-600}
KEEP=${KEEP:-0}
TMP=${TMPDIR:-/tmp}
FROM=v1.33.1+k3s1
RELEASES=(v1.34.2+k3s1 v1.35.1+k3s1 v1.36.2+k3s1)
TO=v1.36.2+k3s1

die() { echo "hops.sh: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }
for t in python3 timeout du cmp sha256sum; do
  command -v "$t" >/dev/null || die "$t is required"
done

mkdir -p "$TMP"
WORK=$(mktemp -d "$TMP/seedforge-hops-bench.XXXXXX")
cleanup() { if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${SEEDFORGE:-}" ]; then
  SF=$SEEDFORGE
else
  log "build (release)"
  (cd "$ROOT" && timeout 1800 cargo build --release --quiet)
  SF=$ROOT/target/release/seedforge
fi
[ -x "$SF" ] || die "no seedforge binary at $SF"
SF=$(cd "$(dirname "$SF")" && pwd)/$(basename "$SF")
sf() { timeout "$BOUND" "$SF" -q "$@" || die "seedforge $* failed"; }

log "generate the images (factor $FACTOR) and the k3s binaries ($BIN_MIB MiB each)"
python3 "$ROOT/bench/make-hops-set.py" "$WORK/set" --factor "$FACTOR"
mkdir -p "$WORK/bin"
for r in "$FROM" "${RELEASES[@]}"; do
  python3 - "$WORK/bin/k3s-$r" "$r" "$BIN_MIB" <<'PY'
import random, sys
path, release, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(release)
with open(path, "wb") as f:
    f.write(b"\x7fELF\x02\x01\x01")
    for _ in range(mib):
        f.write(rng.randbytes(1 << 20))
    f.write(b"\0go1.24.2" + release.encode() + b"github.com/k3s-io/k3s\0")
PY
done

# config DIR RELEASE [HOP...]: the lab's config at RELEASE; with hops, an upgrade from
# $FROM through them, every release's images listed.
config() {
  local dir=$1 release=$2
  shift 2
  local hops=("$@")
  mkdir -p "$dir"
  cp "$ROOT/fixtures/lab/token" "$dir/token"
  cp "$WORK/bin/k3s-$release" "$dir/k3s"
  local cluster="  k3s_version: $release"
  local lists=("$WORK/set/names-$release.txt")
  local files sum
  sum=$(sha256sum "$dir/k3s" | cut -d' ' -f1)
  files="files:\n  - name: bin/k3s\n    source: k3s\n    sha256: \"$sum\"\n    executable: true\n"
  if [ ${#hops[@]} -gt 0 ]; then
    local path
    path=$(IFS=,; echo "${hops[*]}")
    cluster="$cluster\n  upgrade_from: $FROM\n  upgrade_path: [${path//,/, }]"
    for h in "${hops[@]}"; do
      cp "$WORK/bin/k3s-$h" "$dir/k3s-$h"
      sum=$(sha256sum "$dir/k3s-$h" | cut -d' ' -f1)
      files="$files  - name: hops/$h/k3s\n    source: k3s-$h\n    sha256: \"$sum\"\n    executable: true\n"
      lists+=("$WORK/set/names-$h.txt")
    done
  fi
  sed -e "s/^  k3s_version: .*/$cluster/" "$ROOT/fixtures/lab/seedforge.yaml" >"$dir/seedforge.yaml"
  printf '%b' "$files" >>"$dir/seedforge.yaml"
  sort -u "${lists[@]}" | awk -v s="$WORK/set" '{ print "oci:" s ":" $1 " docker.io/" $1 }' >"$dir/images.txt"
}

# ---------------------------------------------------------------- one medium per minor
SEQ=$WORK/seq
config "$SEQ" "$FROM"
log "per minor: build $FROM"
sf build --config "$SEQ/seedforge.yaml"
sf receipt "$SEQ/out" -o "$WORK/receipt-$FROM.json"
cp -a "$SEQ" "$WORK/far"
prev=$FROM
for r in "${RELEASES[@]}"; do
  config "$SEQ" "$r"
  log "per minor: build $r, delta since $prev"
  sf build --config "$SEQ/seedforge.yaml"
  sf delta "$SEQ/out" --since "$WORK/receipt-$prev.json" -o "$WORK/delta-$r"
  sf receipt "$SEQ/out" -o "$WORK/receipt-$r.json"
  prev=$r
done

# ---------------------------------------------------------------- one medium through the hops
HOPS=$WORK/hops
cp -a "$WORK/far" "$HOPS"
config "$HOPS" "$TO" "${RELEASES[@]:0:2}"
log "hops: build $TO through ${RELEASES[*]:0:2}, delta since $FROM"
sf build --config "$HOPS/seedforge.yaml"
sf delta "$HOPS/out" --since "$WORK/receipt-$FROM.json" -o "$WORK/delta-hops"
log "hops: apply on a copy of the $FROM folder"
cp -a "$WORK/far" "$WORK/applied"
sf apply "$WORK/delta-hops" --to "$WORK/applied/out"
cmp "$WORK/applied/out/SHA256SUMS" "$HOPS/out/SHA256SUMS" || die "the applied output is not the hops output"
sf verify "$WORK/applied/out" >/dev/null

# ---------------------------------------------------------------- the floor
FLOOR=$(python3 - "$WORK/far" "$HOPS" <<'PY'
import hashlib, json, os, sys
far, near = sys.argv[1:]
DERIVED = ("airgap/", "iso/", "nodes/", "sbom/", "registries.yaml", "registry/", "certs.d/")

def blob(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])

def reach(layout):
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
total = sum(s for d, s in new.items() if d not in old)
skip_out = lambda rel: rel.startswith("oci/blobs/") or rel.startswith(DERIVED) or rel in DERIVED
a, b = files(f"{far}/out", skip_out), files(f"{near}/out", skip_out)
sealed = {sha(p): os.path.getsize(p) for r, p in b.items() if r not in a or sha(a[r]) != sha(p)}
total += sum(sealed.values())
# A config folder file with the content of a sealed one (a `files:` source: a k3s binary)
# is that file, carried once.
skip_cfg = lambda rel: rel == "out" or rel.startswith("out/")
a, b = files(far, skip_cfg), files(near, skip_cfg)
total += sum(os.path.getsize(p) for r, p in b.items()
             if (r not in a or sha(a[r]) != sha(p)) and sha(p) not in sealed)
print(total)
PY
)

# ---------------------------------------------------------------- the figures
size() { du -sb "$1" | cut -f1; }
SUM=0
printf '\n| medium | bytes | this / floor |\n|---|---:|---:|\n'
for r in "${RELEASES[@]}"; do
  s=$(size "$WORK/delta-$r")
  SUM=$((SUM + s))
  printf '| one minor: delta to %s | %s | %s |\n' "$r" "$s" "$(python3 -c "print(f'{$s/$FLOOR:.3f}x')")"
done
H=$(size "$WORK/delta-hops")
printf '| **three one-minor deltas** | **%s** | %s |\n' "$SUM" "$(python3 -c "print(f'{$SUM/$FLOOR:.3f}x')")"
printf '| **one medium through the hops** | **%s** | %s |\n' "$H" "$(python3 -c "print(f'{$H/$FLOOR:.3f}x')")"
printf '| floor: the new bytes | %s | 1.000x |\n' "$FLOOR"
printf '| whole hops output (du -sb) | %s | |\n' "$(size "$HOPS/out")"
printf '\nhops / three deltas: %s\n' "$(python3 -c "print(f'{$H/$SUM:.3f}x')")"
