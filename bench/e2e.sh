#!/usr/bin/env bash
# End to end: `seedforge build` against the shell pipeline it replaces (bench/e2e-peer.sh:
# skopeo, openssl, docker-archive + zstd, dpkg-scanpackages + tar, envsubst, genisoimage),
# on the same inputs, for a cluster of 1 server and 2 agents.
#
#   bench/e2e.sh                         # full size; ~15 min on 2 cores, ~11 GiB free disk
#   SMALL=1 bench/e2e.sh                 # smoke run: 4 images, ~50 MiB, 1 round, <1 min
#   ROUNDS=5 KEEP_SET=1 bench/e2e.sh     # keep the generated inputs for the next run
#
# Inputs, made under WORK_DIR (default target/bench-e2e) and reused with KEEP_SET=1:
#   - IMAGES images (24; SMALL 4) made by bench/e2e-images.py: three shared bases, three
#     shared runtimes, an own layer each; the first ones carry the names k3s v1.33 needs.
#     ~560 MiB of unique gzip blobs at full size. They are pushed with skopeo into a
#     docker-registry (distribution v2, plain HTTP) on 127.0.0.1, which stays up (warm)
#     for the whole run.
#   - an ops bundle of real Debian .debs: conntrack, socat, ebtables, ipset, jq and their
#     dependency closure, fetched once with `apt-get download`, as a flat repository
#     (dpkg-scanpackages, apt-ftparchive release) served by `python3 -m http.server` on
#     127.0.0.1;
#   - a K3S_MIB (100; SMALL 10) MiB stand-in k3s binary of seeded random bytes, carried by
#     seedforge through the config's `files:` and by the peer in payload/bin/.
#
# Measured (wall time and peak RSS from GNU time; the two tools alternate, the first one
# changing every round; `sync` before every run; medians of ROUNDS rounds):
#   cold       build into an empty output folder (the registry's data stays warm)
#   unchanged  rebuild with nothing changed: seedforge `build` into the same folder, the
#              peer reruns its script in its folder
#   changed    rebuild after a new version of one image was pushed under the same tag
#   scale      seedforge only, cold, with 1x, 2x and 4x the images (SCALES)
# Prints a markdown table and writes it to WORK_DIR/results.md.
#
# Environment: ROUNDS (3; SMALL 1), WARMUP (1: a discarded first cold round; SMALL 0),
# SCALES (1,2,4; SMALL 1,2), IMAGES, FACTOR (layer size factor; SMALL 0.27), K3S_MIB,
# FILES (auto: carry the k3s binary with `files:` if this seedforge knows the key; 1; 0),
# KEEP_SET (0), KEEP_OUT (0: delete the build outputs at the end), STEP_TIMEOUT (1800 s per
# command), WORK_DIR.
set -euo pipefail
# Cold builds stay cold: the .deb download cache (on by default) is off while measuring.
export SEEDFORGE_NO_CACHE=1

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMALL=${SMALL:-0}
if [ "$SMALL" = 1 ]; then
  IMAGES=${IMAGES:-4} FACTOR=${FACTOR:-0.27} K3S_MIB=${K3S_MIB:-10}
  ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-0} SCALES=${SCALES:-1,2}
else
  IMAGES=${IMAGES:-24} FACTOR=${FACTOR:-1} K3S_MIB=${K3S_MIB:-100}
  ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-1} SCALES=${SCALES:-1,2,4}
fi
FILES=${FILES:-auto}
KEEP_SET=${KEEP_SET:-0}
KEEP_OUT=${KEEP_OUT:-0}
STEP_TIMEOUT=${STEP_TIMEOUT:-1800}
W=${WORK_DIR:-$ROOT/target/bench-e2e}
SEED=1
START=$SECONDS

log() { printf '\n== %s (t=%ss)\n' "$*" "$((SECONDS - START))" >&2; }
die() { echo "e2e.sh: $*" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------------
declare -A PKG=(
  [skopeo]=skopeo [docker-registry]=docker-registry [genisoimage]=genisoimage
  [isoinfo]=genisoimage [zstd]=zstd [dpkg-scanpackages]=dpkg-dev [apt-ftparchive]=apt-utils
  [openssl]=openssl [python3]=python3 [envsubst]=gettext-base [curl]=curl [jq]=jq
  [apt-get]=apt [apt-cache]=apt [timeout]=coreutils [sha256sum]=coreutils
)
missing=()
for t in "${!PKG[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("${PKG[$t]}"); done
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing tools; install them with: apt-get install -y $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
fi
command -v cargo >/dev/null 2>&1 || die "cargo is required (a Rust toolchain, see README)"

# --- sizes and names -----------------------------------------------------------------------
IFS=, read -r -a SCALE_LIST <<<"$SCALES"
MAX_SCALE=1
for s in "${SCALE_LIST[@]}"; do [ "$s" -gt "$MAX_SCALE" ] && MAX_SCALE=$s; done
IMAGES_MAX=$((IMAGES * MAX_SCALE))
K3S_NAMES=rancher/mirrored-pause:3.6,rancher/klipper-helm:v0.9.5-build20250306
DISABLE=""
if [ "$IMAGES" -ge 8 ]; then
  K3S_NAMES=$K3S_NAMES,rancher/mirrored-coredns-coredns:1.12.1,rancher/local-path-provisioner:v0.0.31
  K3S_NAMES=$K3S_NAMES,rancher/mirrored-library-busybox:1.36.1,rancher/mirrored-metrics-server:v0.7.2
  K3S_NAMES=$K3S_NAMES,rancher/klipper-lb:v0.4.13,rancher/mirrored-library-traefik:3.3.6
else
  # Too few images for every packaged component: switch them off (pause and klipper-helm
  # are always needed).
  DISABLE="[coredns, servicelb, traefik, local-storage, metrics-server]"
fi
# The image a new version is pushed of: the first app image, else the last k3s one.
n_k3s=$(tr ',' '\n' <<<"$K3S_NAMES" | wc -l)
CHANGED=bench/app-01:1
if [ "$IMAGES" -le "$n_k3s" ]; then CHANGED=$(tr ',' '\n' <<<"$K3S_NAMES" | sed -n "${IMAGES}p"); fi

mkdir -p "$W"
W=$(cd "$W" && pwd)
SET_ID="images=$IMAGES max=$IMAGES_MAX factor=$FACTOR seed=$SEED small8=$([ -n "$DISABLE" ] && echo 1 || echo 0) gen=$(sha256sum "$ROOT/bench/e2e-images.py" | cut -c1-16)"
REG_DIR=$W/registry
REPO=$W/repo
IN=$W/inputs
SF_OUT=$W/out-seedforge
PEER_OUT=$W/out-peer
SCALE_OUT=$W/out-scale
RES=$W/results
mkdir -p "$IN" "$RES"

REG_PID=''
HTTP_PID=''
cleanup() {
  local pid
  for pid in $REG_PID $HTTP_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP_OUT" != 1 ]; then rm -rf "$SF_OUT" "$PEER_OUT" "$SCALE_OUT"; fi
  if [ "$KEEP_SET" != 1 ]; then rm -rf "$W/set" "$REG_DIR" "$IN/k3s"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Disk: the registry (every scale's images) and, for the compared builds, both output
# trees (layout, archives, three ISOs; the peer's per-image docker-archives for a while).
need_mib=$(python3 -c "print(int(((${IMAGES_MAX} * 20 + 200) + (${IMAGES} * 20 + 200) * 12) * ${FACTOR} + ${K3S_MIB} * 8))")
avail_mib=$(df -Pm "$W" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -ge "$need_mib" ] || die "need ~${need_mib} MiB free in $W, have ${avail_mib}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_http URL PID: until URL answers (at most 15 s) while PID lives.
wait_http() {
  for _ in $(seq 150); do
    curl -fs -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

log "build seedforge (release)"
(cd "$ROOT" && cargo build --release --quiet)
SF=$ROOT/target/release/seedforge

# --- images and the registry ---------------------------------------------------------------
if [ "$(cat "$REG_DIR/.filled" 2>/dev/null)" != "$SET_ID" ]; then
  rm -rf "$REG_DIR" "$W/set"
fi
if [ ! -f "$REG_DIR/.filled" ] && [ ! -f "$W/set/.complete" ]; then
  log "generate $IMAGES_MAX images (factor $FACTOR)"
  timeout "$STEP_TIMEOUT" python3 "$ROOT/bench/e2e-images.py" "$W/set" --images "$IMAGES_MAX" \
    --names "$K3S_NAMES" --factor "$FACTOR" --seed "$SEED" --changed "$CHANGED"
  # Unique blob bytes (what the registry stores) of the first N images, for each scale.
  python3 - "$W/set" "$IMAGES" $(seq 1 "$MAX_SCALE") >"$W/set/sizes.tsv" <<'PY'
import json, sys
d, n, scales = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
entries = [m for m in json.load(open(f"{d}/index.json"))["manifests"]
           if not m["annotations"]["org.opencontainers.image.ref.name"].endswith(":changed")]
for s in scales:
    seen = {}
    for m in entries[: n * int(s)]:
        seen[m["digest"]] = m["size"]
        doc = json.load(open(f"{d}/blobs/sha256/{m['digest'][7:]}"))
        for b in [doc["config"]] + doc["layers"]:
            seen[b["digest"]] = b["size"]
    print(s, n * int(s), sum(seen.values()), sep="\t")
PY
  touch "$W/set/.complete"
fi

mkdir -p "$REG_DIR"
REG_PORT=$(free_port)
REG=127.0.0.1:$REG_PORT
cat >"$REG_DIR/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $REG_DIR/storage
http:
  addr: $REG
YML
docker-registry serve "$REG_DIR/config.yml" >"$REG_DIR/registry.log" 2>&1 &
REG_PID=$!
wait_http "http://$REG/v2/" "$REG_PID" || { cat "$REG_DIR/registry.log" >&2; die "docker-registry did not start"; }

CH_REPO=${CHANGED%:*}
if [ ! -f "$REG_DIR/.filled" ]; then
  log "push $IMAGES_MAX images into $REG with skopeo"
  while read -r ref; do
    timeout "$STEP_TIMEOUT" skopeo copy --quiet --dest-tls-verify=false "oci:$W/set:$ref" "docker://$REG/$ref"
  done <"$W/set/names.txt"
  skopeo copy --quiet --dest-tls-verify=false "oci:$W/set:$CHANGED" "docker://$REG/$CH_REPO:orig"
  skopeo copy --quiet --dest-tls-verify=false "oci:$W/set:$CH_REPO:changed" "docker://$REG/$CH_REPO:changed"
  want=$(jq -r --arg r "$CHANGED" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $r) | .digest' "$W/set/index.json")
  got=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$REG/$CHANGED" | sha256sum | cut -d' ' -f1)
  [ "$want" = "$got" ] || die "registry digest $got != generated $want for $CHANGED"
  cp "$W/set/names.txt" "$W/set/sizes.tsv" "$REG_DIR/"
  echo "$SET_ID" >"$REG_DIR/.filled"
  rm -rf "$W/set"   # the registry holds it now
fi
# set_tag orig|changed: which version of $CHANGED the registry serves.
set_tag() {
  skopeo copy --quiet --src-tls-verify=false --dest-tls-verify=false \
    "docker://$REG/$CH_REPO:$1" "docker://$REG/$CHANGED"
}
set_tag orig

# --- the package repository ----------------------------------------------------------------
DEB_PKGS="conntrack socat ebtables ipset jq"
DEB_ID="$DEB_PKGS"
if [ "$(cat "$W/debs/.complete" 2>/dev/null)" != "$DEB_ID" ]; then
  log "download .debs of $DEB_PKGS and their dependencies (apt-get download)"
  rm -rf "$W/debs"
  mkdir -p "$W/debs"
  # shellcheck disable=SC2086
  closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $DEB_PKGS | grep '^[a-z0-9]' | sort -u) \
    || die "apt-cache depends failed (run apt-get update?)"
  # shellcheck disable=SC2086
  (cd "$W/debs" && timeout "$STEP_TIMEOUT" apt-get download -q $closure >/dev/null) \
    || die "apt-get download failed (run apt-get update?)"
  echo "$DEB_ID" >"$W/debs/.complete"
fi
# apt-get download keeps the epoch URL-quoted in the name (conntrack_1%3a1.4.7...): give
# the files their pool names, without the epoch, as an archive has them.
for f in "$W/debs"/*%3a*.deb; do
  if [ -e "$f" ]; then mv "$f" "$(dirname "$f")/$(basename "$f" | sed 's/_[0-9][0-9]*%3a/_/')"; fi
done
rm -rf "$REPO"
mkdir -p "$REPO"
cp "$W/debs"/*.deb "$REPO/"
(cd "$REPO" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null && gzip -9nk Packages \
  && apt-ftparchive release . >Release.tmp && mv Release.tmp Release)
find "$REPO" -maxdepth 1 -name '*.deb' -printf '%f\n' | sort >"$IN/packages.txt"
HTTP_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$REPO" "$HTTP_PORT" >"$W/http.log" 2>&1 &
HTTP_PID=$!
REPO_URL=http://127.0.0.1:$HTTP_PORT
wait_http "$REPO_URL/Release" "$HTTP_PID" || die "python3 -m http.server did not start"

# --- the k3s stand-in, token, configs ------------------------------------------------------
if [ "$(stat -c %s "$IN/k3s" 2>/dev/null)" != "$((K3S_MIB << 20))" ]; then
  log "stand-in k3s binary: $K3S_MIB MiB"
  python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(int(sys.argv[2])).randbytes(int(sys.argv[1]) << 20))' \
    "$K3S_MIB" "$SEED" >"$IN/k3s"
  chmod 755 "$IN/k3s"
fi
K3S_SHA=$(sha256sum "$IN/k3s" | cut -d' ' -f1)
echo "K10bench0e2e0token0not0a0secret::server:0123456789abcdef" >"$IN/token"

# images-S.txt (seedforge) and peer-images-S.txt: the first IMAGES*S images.
for s in "${SCALE_LIST[@]}" 1; do
  head -n "$((IMAGES * s))" "$REG_DIR/names.txt" | awk -v r="$REG" '{ print "docker://" r "/" $1 " docker.io/" $1 }' >"$IN/images-$s.txt"
  head -n "$((IMAGES * s))" "$REG_DIR/names.txt" | awk '{ print $1 " docker.io/" $1 }' >"$IN/peer-images-$s.txt"
done

# write_config S FILES(0|1): inputs/seedforge-S.yaml
write_config() {
  {
    cat <<YML
version: 1
cluster:
  name: bench
  k3s_version: v1.33.1+k3s1
  token: {file: token}
YML
    [ -n "$DISABLE" ] && echo "  disable: $DISABLE"
    cat <<YML
registry:
  host: 192.168.6.1
  port: 5000
registries:
  - host: "$REG"
    insecure: true
images:
  lists:
    - images-$1.txt
  platforms:
    - linux/amd64
  concurrency: 4
packages:
  - name: ops
    sets: [kubeadm]
    packages: [jq]
    repo:
      url: $REPO_URL/
      suite: ./
nodes:
  - name: bench-server1
    role: server
    address: 192.168.6.10/24
  - name: bench-agent1
    role: agent
    address: 192.168.6.11/24
  - name: bench-agent2
    role: agent
    address: 192.168.6.12/24
network:
  gateway: 192.168.6.1
  nameservers:
    - 192.168.6.1
source_date_epoch: 1700000000
YML
    if [ "$2" = 1 ]; then
      cat <<YML
files:
  - name: bin/k3s
    source: k3s
    sha256: "$K3S_SHA"
    executable: true
YML
    fi
  } >"$IN/seedforge-$1.yaml"
}

if [ "$FILES" = auto ]; then
  write_config 1 1
  if "$SF" -q plan --config "$IN/seedforge-1.yaml" --out "$W/plan-probe" >/dev/null 2>"$RES/plan-probe.err"; then
    FILES=1
  elif grep -qF "unknown field \`files\`" "$RES/plan-probe.err"; then
    FILES=0
    echo "e2e.sh: this seedforge has no 'files:' key yet; neither tool carries the k3s binary" >&2
  else
    cat "$RES/plan-probe.err" >&2
    die "seedforge plan refused the benchmark config"
  fi
fi
for s in "${SCALE_LIST[@]}" 1; do write_config "$s" "$FILES"; done

PEER_K3S=""
if [ "$FILES" = 1 ]; then PEER_K3S=$IN/k3s; fi
cat >"$IN/peer.env" <<ENV
OUT=$PEER_OUT
SRC_REGISTRY=$REG
IMAGES_FILE=$IN/peer-images-1.txt
PKG_REPO_URL=$REPO_URL
PKG_LIST=$IN/packages.txt
K3S_BIN=$PEER_K3S
REGISTRY_HOST_IP=192.168.6.1
REGISTRY_PORT=5000
CLUSTER_NAME=bench
K3S_TOKEN_FILE=$IN/token
GATEWAY=192.168.6.1
NAMESERVER=192.168.6.1
NODES="bench-server1:server:192.168.6.10/24 bench-agent1:agent:192.168.6.11/24 bench-agent2:agent:192.168.6.12/24"
TEMPLATES=$ROOT/bench/e2e-peer-templates
ENV

# --- measuring -----------------------------------------------------------------------------
declare -A CMD=(
  [seedforge]="'$SF' -q build --config '$IN/seedforge-1.yaml' --out '$SF_OUT'"
  [peer]="bash '$ROOT/bench/e2e-peer.sh' '$IN/peer.env'"
)
declare -A OUTDIR=([seedforge]=$SF_OUT [peer]=$PEER_OUT)
TIMES=$RES/times.tsv
printf 'scenario\ttool\tround\twall_s\tmax_rss_kib\tuser_s\tsys_s\n' >"$TIMES"

# timed SCENARIO TOOL ROUND CMD: one run; ROUND "-" is not recorded.
timed() {
  local scenario=$1 tool=$2 round=$3 cmd=$4 out
  sync
  out=$RES/time.out
  if ! /usr/bin/time -f '%e\t%M\t%U\t%S' -o "$out" timeout "$STEP_TIMEOUT" bash -c "$cmd" \
    >"$RES/last-$tool.log" 2>&1; then
    cat "$RES/last-$tool.log" >&2
    die "$tool failed ($scenario, round $round)"
  fi
  [ "$round" = - ] || printf '%s\t%s\t%s\t%s\n' "$scenario" "$tool" "$round" "$(tail -n 1 "$out")" >>"$TIMES"
}

# alternate SCENARIO ROUND [BEFORE]: both tools once, the first one rotating.
TOOLS=(seedforge peer)
alternate() {
  local scenario=$1 round=$2 k tool
  for k in 0 1; do
    tool=${TOOLS[$(((round + k) % 2))]}
    [ "$scenario" = cold ] && rm -rf "${OUTDIR[$tool]}"
    timed "$scenario" "$tool" "$round" "${CMD[$tool]}"
  done
}

# check_outputs: both trees hold the same kind of seed: 3 ISOs labelled cidata with the
# NoCloud files and the payload, an airgap archive of every image, the same .debs.
check_outputs() {
  local tool iso n want_files f
  want_files="/user-data /meta-data /network-config /payload/SHA256SUMS /payload/registries.yaml /payload/pki/ca.crt /payload/packages/ops.tar.gz"
  [ "$FILES" = 1 ] && want_files="$want_files /payload/bin/k3s"
  "$SF" -q verify "$SF_OUT" || die "seedforge verify $SF_OUT failed"
  for tool in seedforge peer; do
    n=0
    for iso in "${OUTDIR[$tool]}"/iso/seed-*.iso; do
      n=$((n + 1))
      isoinfo -d -i "$iso" | grep -qi '^Volume id: cidata' || die "$iso: volume id is not cidata"
      isoinfo -R -f -i "$iso" >"$RES/list.txt"
      for f in $want_files; do grep -qx "$f" "$RES/list.txt" || die "$iso lacks $f"; done
      # seedforge's airgap.compression: auto names it .tar or .tar.zst by the layers, and
      # its payload adds 12 hex digits of the archive's sha256 (the peer's does not).
      grep -qE '^/payload/images/k3s-airgap-images-amd64(-[0-9a-f]{12})?\.tar(\.zst)?$' "$RES/list.txt" \
        || die "$iso lacks the airgap archive"
    done
    [ "$n" = 3 ] || die "$tool wrote $n seed ISOs, not 3"
  done
  SF_ARCHIVE=$(ls "$SF_OUT"/airgap/k3s-airgap-images-amd64.tar*)
  n=$(zstd -dcf "$SF_ARCHIVE" | tar -xOf - index.json | jq '.manifests | length')
  [ "$n" = "$IMAGES" ] || die "seedforge's airgap archive holds $n images, not $IMAGES"
  n=$(zstd -dc "$PEER_OUT/payload/images/k3s-airgap-images-amd64.tar.zst" | tar -xOf - manifest.json | jq 'length')
  [ "$n" = "$IMAGES" ] || die "the peer's airgap archive holds $n images, not $IMAGES"
  tar -tzf "$SF_OUT/packages/ops.tar.gz" | grep '\.deb$' | sed 's|.*/||' | sort >"$RES/debs-seedforge.txt"
  tar -tzf "$PEER_OUT/payload/packages/ops.tar.gz" | grep '\.deb$' | sed 's|.*/||' | sort >"$RES/debs-peer.txt"
  cmp -s "$RES/debs-seedforge.txt" "$RES/debs-peer.txt" \
    || echo "e2e.sh: note: the bundles differ: $(diff "$RES/debs-seedforge.txt" "$RES/debs-peer.txt" | grep '^[<>]' | tr '\n' ' ')" >&2
  printf 'seedforge\t%s\t%s\npeer\t%s\t%s\n' \
    "$(stat -c %s "$SF_OUT/iso/seed-bench-server1.iso")" \
    "$(stat -c %s "$SF_ARCHIVE")" \
    "$(stat -c %s "$PEER_OUT/iso/seed-bench-server1.iso")" \
    "$(stat -c %s "$PEER_OUT/payload/images/k3s-airgap-images-amd64.tar.zst")" >"$RES/sizes.tsv"
  log "outputs checked: 3 seed ISOs each, $IMAGES images in each airgap archive"
}

rounds() { seq 1 "$ROUNDS"; }

log "cold builds: $WARMUP warm-up + $ROUNDS rounds"
for r in $(seq $((1 - WARMUP)) "$ROUNDS"); do
  if [ "$r" -lt 1 ]; then
    for tool in seedforge peer; do rm -rf "${OUTDIR[$tool]}"; timed cold "$tool" - "${CMD[$tool]}"; done
  else
    alternate cold "$r"
  fi
  [ "$r" = $((1 - WARMUP)) ] && check_outputs
done

log "rebuilds with nothing changed: $ROUNDS rounds"
for r in $(rounds); do alternate unchanged "$r"; done

log "rebuilds with one image changed ($CHANGED pushed again): $ROUNDS rounds"
for r in $(rounds); do
  if [ $((r % 2)) = 1 ]; then set_tag changed; else set_tag orig; fi
  alternate changed "$r"
done
set_tag orig
if [ "$KEEP_OUT" != 1 ]; then rm -rf "$SF_OUT" "$PEER_OUT"; fi

for s in "${SCALE_LIST[@]}"; do
  need=$(awk -v s="$s" '$1 == s { print int($3 / 1048576 * 6 + 512) }' "$REG_DIR/sizes.tsv")
  avail=$(df -Pm "$W" | awk 'NR == 2 { print $4 }')
  if [ "$avail" -lt "${need:-0}" ]; then
    echo "e2e.sh: skipping scale ${s}x: needs ~${need} MiB free in $W, has ${avail}" >&2
    continue
  fi
  log "scale ${s}x: $((IMAGES * s)) images, seedforge only, $ROUNDS cold builds"
  for r in $(rounds); do
    rm -rf "$SCALE_OUT"
    timed "scale-$s" seedforge "$r" "'$SF' -q build --config '$IN/seedforge-$s.yaml' --out '$SCALE_OUT'"
  done
  rm -rf "$SCALE_OUT"
done

# --- report --------------------------------------------------------------------------------
{
  echo "nproc=$(nproc)"
  echo "mem_gib=$(free -g | awk '/^Mem:/ { print $2 }')"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "date=$(date -u +%Y-%m-%d)"
  echo "small=$SMALL"
  echo "rounds=$ROUNDS"
  echo "warmup=$WARMUP"
  echo "images=$IMAGES"
  echo "files=$FILES"
  echo "k3s_mib=$K3S_MIB"
  echo "debs=$(wc -l <"$IN/packages.txt")"
  echo "debs_mib=$(du -cm "$REPO"/*.deb | tail -n 1 | cut -f1)"
  echo "versions=seedforge $("$SF" --version | awk '{ print $2 }') ($(git -C "$ROOT" rev-parse --short HEAD)), $(skopeo --version), $(zstd -V | sed 's/^\*\*\* //; s/ 64-bits.*//; s/,.*//'), $(genisoimage -version 2>&1 | head -n 1), $(openssl version | cut -d' ' -f1-2)"
  if [ "$SMALL" = 1 ]; then echo "command=SMALL=1 bench/e2e.sh"; else echo "command=bench/e2e.sh"; fi
} >"$RES/meta.txt"
python3 - "$RES" "$REG_DIR/sizes.tsv" <<'PY' | tee "$W/results.md"
import csv, statistics as st, sys
res, sizes_path = sys.argv[1], sys.argv[2]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(f"{res}/meta.txt"))
rows = list(csv.DictReader(open(f"{res}/times.tsv"), delimiter="\t"))
sizes = {l.split("\t")[0]: (int(l.split("\t")[1]), int(l.split("\t")[2])) for l in open(sizes_path)}
out = {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(f"{res}/sizes.tsv")}
mib = lambda b: b / 2**20


def stats(scenario, tool):
    r = [x for x in rows if x["scenario"] == scenario and x["tool"] == tool]
    if not r:
        return None
    w = [float(x["wall_s"]) for x in r]
    m = [int(x["max_rss_kib"]) / 1024 for x in r]
    return st.median(w), min(w), max(w), max(m), len(w)


small = meta["small"] == "1"
title = "SMOKE RUN (SMALL=1, not the benchmark's figures)" if small else "results"
n, unique = sizes["1"]
print(f"### e2e {title}, {meta['date']}\n")
print(f"`{meta['command']}` ({meta['rounds']} round(s), {meta['warmup']} warm-up); "
      f"{meta['nproc']} cores ({meta['cpu']}), {meta['mem_gib']} GiB RAM; {meta['versions']}.\n")
k3s = f"a {meta['k3s_mib']} MiB stand-in k3s binary" if meta["files"] == "1" else \
      "no k3s binary (this seedforge has no `files:` key yet; the peer carries none either)"
print(f"Inputs: {n} images, {mib(unique):.0f} MiB of unique blobs in a docker-registry on 127.0.0.1; "
      f"{meta['debs']} real .debs ({meta['debs_mib']} MiB) in a flat repository over HTTP; {k3s}; "
      f"1 server and 2 agents. Seed ISO of the server: seedforge {mib(int(out['seedforge'][0])):.0f} MiB, "
      f"peer {mib(int(out['peer'][0])):.0f} MiB; airgap archive: seedforge {mib(int(out['seedforge'][1])):.0f} MiB, "
      f"peer {mib(int(out['peer'][1])):.0f} MiB.\n")
print("| scenario | seedforge median [s] (min–max) | peer median [s] (min–max) | seedforge / peer | "
      "speed-up | seedforge peak RSS [MiB] | peer peak RSS [MiB] |")
print("|---|---:|---:|---:|---:|---:|---:|")
names = {"cold": "cold build, empty output", "unchanged": "rebuild, nothing changed",
         "changed": "rebuild, one image changed"}
for sc, label in names.items():
    a, b = stats(sc, "seedforge"), stats(sc, "peer")
    if not a or not b:
        continue
    print(f"| {label} | {a[0]:.2f} ({a[1]:.2f}–{a[2]:.2f}) | {b[0]:.2f} ({b[1]:.2f}–{b[2]:.2f}) | "
          f"{a[0] / b[0]:.2f}x | {b[0] / a[0]:.1f}x | {a[3]:.0f} | {b[3]:.0f} |")
print("\nPeak RSS is that of the largest single process (GNU time); the peer's is skopeo, zstd "
      "or genisoimage, whichever peaks highest.\n")
scales = sorted((int(k.split("-")[1]) for k in {x["scenario"] for x in rows} if k.startswith("scale-")))
if scales:
    base = stats(f"scale-{scales[0]}", "seedforge")
    print(f"seedforge cold builds as the image set grows (medians of {base[4]}):\n")
    print("| images | unique blobs [MiB] | wall median [s] | x time | peak RSS [MiB] | x RSS |")
    print("|---:|---:|---:|---:|---:|---:|")
    for s in scales:
        a = stats(f"scale-{s}", "seedforge")
        n, u = sizes[str(s)]
        print(f"| {n} | {mib(u):.0f} | {a[0]:.2f} | {a[0] / base[0]:.2f} | {a[3]:.0f} | {a[3] / base[3]:.2f} |")
PY
log "done; raw times in $RES/times.tsv, table in $W/results.md"
