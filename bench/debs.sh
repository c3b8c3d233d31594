#!/usr/bin/env bash
# Offline package bundles against apt: three package sets resolved and downloaded from a
# repository on 127.0.0.1 that serves the real bookworm main index (63k packages) and the
# .debs the sets need, by
#   - seedforge debs --repo (the base: the chroot's dpkg status file), with an empty
#     download cache (sf); then the same command again, with the cache that run left and
#     its bundle in place (sf-warm: the bundle is found unchanged and kept); then the same
#     bundle to a new file with that cache (sf-cache: the closure and the .debs' facts taken
#     from the cache, the bundle written again),
#   - apt in a debootstrap minbase chroot with the same base: `apt-get update` from empty
#     lists, then `apt-get install --download-only` (apt fetches its index as seedforge does;
#     apt), then again with the lists kept and only the archives emptied (apt-warm), then
#     again with the lists and the archives kept (apt-hot: nothing to download),
#   - the seeds' way: `apt-get update`, `apt-cache depends --recurse`, `apt-get download`,
#     `dpkg-scanpackages` (everything, no base).
# Runs are alternated, RUNS rounds; prints the median wall time and peak RSS of each and
# the ratios. Results in BENCHMARKS.md (## debs).
#
#   bench/debs.sh                  # RUNS=3
#   RUNS=5 SETS="ops" bench/debs.sh
#
# Needs root (chroot), debootstrap, apt-ftparchive, dpkg-scanpackages, python3 and the
# machine's Debian mirror once, to fetch the .debs (kept under target/bench-debs/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
SETS=${SETS:-"ops kubeadm deep"}
BIN=${SEEDFORGE:-$ROOT/target/release/seedforge}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --locked --quiet)
CACHE=$ROOT/target/bench-debs
REPO=$CACHE/repo
mkdir -p "$CACHE"

declare -A PKGS=(
  [ops]="jq htop ethtool iproute2 dnsutils telnet psmisc sysstat iftop iotop dstat yq"
  [kubeadm]="conntrack socat ebtables ipset"
  [deep]="python3-yaml curl open-iscsi nfs-common bsd-mailx libyaml-libyaml-perl"
)
declare -A SEEDFORGE_ARGS=(
  [ops]="--set k3s-ops"
  [kubeadm]="--set kubeadm"
  [deep]="--package python3-yaml --package curl --package open-iscsi --package nfs-common --package bsd-mailx --package libyaml-libyaml-perl"
)

log() { printf 'bench/debs: %s\n' "$*" >&2; }

# --- the repository: the real bookworm main amd64 index and the .debs the sets need.
if [ ! -f "$REPO/.complete" ]; then
  lists=$(ls /var/lib/apt/lists/*_debian_dists_bookworm_main_binary-amd64_Packages* 2>/dev/null | head -n1 || true)
  if [ -z "$lists" ]; then
    apt-get update -qq
    lists=$(ls /var/lib/apt/lists/*_debian_dists_bookworm_main_binary-amd64_Packages* | head -n1)
  fi
  rm -rf "$REPO"
  mkdir -p "$REPO/dists/bookworm/main/binary-amd64" "$CACHE/download"
  index=$REPO/dists/bookworm/main/binary-amd64/Packages
  /usr/lib/apt/apt-helper cat-file "$lists" >"$index"
  log "index: $(grep -c '^Package:' "$index") packages"
  # The closure of every set on this machine (bookworm), no base: what the seeds' way
  # downloads. Each at its bookworm main version, so it matches the index.
  # shellcheck disable=SC2046
  names=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances $(for s in "${!PKGS[@]}"; do echo "${PKGS[$s]}"; done) \
    | grep -v '^ ' | grep -v '^<' | sort -u)
  declare -A version=() filename=()
  while IFS=$'\t' read -r p v f; do
    version[$p]=$v
    filename[$p]=$f
  done < <(awk '/^Package:/{p=$2} /^Version:/{v=$2} /^Filename:/{f=$2} /^$/{if(p!="")print p"\t"v"\t"f; p=""}' "$index")
  wanted=()
  for n in $names; do
    [ -n "${version[$n]:-}" ] && wanted+=("$n=${version[$n]}")
  done
  log "downloading ${#wanted[@]} .debs from the machine's mirror"
  (cd "$CACHE/download" && apt-get download -q "${wanted[@]}" >/dev/null)
  for n in $names; do
    [ -n "${filename[$n]:-}" ] || continue
    base=$(basename "${filename[$n]}")
    # apt-get download writes an epoch as %3a in the name; the pool name has none.
    got=$(ls "$CACHE/download/${n}_"*"_"*.deb 2>/dev/null | head -n1)
    [ -n "$got" ] || { log "missing download for $n"; continue; }
    mkdir -p "$REPO/$(dirname "${filename[$n]}")"
    ln -f "$got" "$REPO/${filename[$n]}" 2>/dev/null || cp "$got" "$REPO/${filename[$n]}"
    : "$base"
  done
  # The archive's own Packages.xz when the mirror is reachable (as apt would fetch it),
  # else the same text compressed here.
  if /usr/lib/apt/apt-helper download-file \
      "$(sed -n 's#^URIs: *##p;s#^deb \(http[^ ]*\) .*#\1#p' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1)/dists/bookworm/main/binary-amd64/Packages.xz" \
      "$index.xz" >/dev/null 2>&1 \
    && [ "$(xz -dc "$index.xz" | sha256sum)" = "$(sha256sum <"$index")" ]; then
    log "index: the archive's Packages.xz"
  else
    rm -f "$index.xz"
    xz -T0 -k "$index"
  fi
  gzip -9nk "$index"
  (cd "$REPO" && apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm \
    -o APT::FTPArchive::Release::Architectures=amd64 \
    -o APT::FTPArchive::Release::Components=main release dists/bookworm >Release.tmp \
    && mv Release.tmp dists/bookworm/Release)
  touch "$REPO/.complete"
fi

# --- the chroot (the tests' cached minbase root, else a new one) and the base.
CHROOT=$CACHE/root
if [ ! -x "$CHROOT/usr/bin/apt-get" ]; then
  cached=$(ls -d "$ROOT"/target/tmp/debs-chroot-* 2>/dev/null | head -n1 || true)
  rm -rf "$CHROOT"
  if [ -n "$cached" ]; then
    cp -a "$cached" "$CHROOT"
  else
    debootstrap --variant=minbase bookworm "$CHROOT" http://deb.debian.org/debian >/dev/null
  fi
fi
BASE=$CACHE/base-status
cp "$CHROOT/var/lib/dpkg/status" "$BASE"

# --- a server on 127.0.0.1 for the repository, stopped by PID at the end.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$REPO" >/dev/null 2>&1 &
SERVER=$!
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-debs.XXXXXX")
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  umount "$CHROOT/proc" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$PORT/dists/bookworm/Release" >/dev/null 2>&1 && break
  sleep 0.1
done
URL=http://127.0.0.1:$PORT

# The chroot's apt reads only our repository; nothing is installed, only downloaded.
rm -f "$CHROOT/etc/apt/sources.list"
rm -rf "$CHROOT/etc/apt/sources.list.d"
mkdir -p "$CHROOT/etc/apt/sources.list.d"
echo "deb [trusted=yes] $URL bookworm main" >"$CHROOT/etc/apt/sources.list"
printf 'Acquire::Languages "none";\n' >"$CHROOT/etc/apt/apt.conf.d/99bench"
mountpoint -q "$CHROOT/proc" || mount -t proc proc "$CHROOT/proc"

fresh_apt() {
  rm -rf "$CHROOT/var/lib/apt/lists" "$CHROOT/var/cache/apt"
  mkdir -p "$CHROOT/var/lib/apt/lists/partial" "$CHROOT/var/cache/apt/archives/partial"
  rm -rf "$CHROOT/tmp/seeds" && mkdir -p "$CHROOT/tmp/seeds"
  sync
}

# "seconds KiB" of one run (wall time to the millisecond, from the shell's clock: time's
# %e has 10 ms steps, too coarse for a warm run; peak RSS: the largest process of the run);
# a failed run stops the benchmark.
timed() {
  local start end
  start=$EPOCHREALTIME
  if ! /usr/bin/time -o "$WORK/time" -f '%M' "$@" >/dev/null 2>"$WORK/err"; then
    log "failed: $*"
    tail -n 20 "$WORK/err" >&2
    exit 1
  fi
  end=$EPOCHREALTIME
  printf '%.3f %s\n' "$(echo "$end - $start" | bc)" "$(tail -n1 "$WORK/time")"
}

# seedforge's download cache for these runs only: emptied before each cold run.
CACHE_DIR=$WORK/cache
run_seedforge() {
  rm -rf "$WORK/out" "$CACHE_DIR" && mkdir -p "$WORK/out"
  sync
  seedforge_bundle "$1" "$WORK/out/$1.tar.gz"
}
# The same command again, with the cache the cold run left and its bundle in place (the
# Release file is fetched, the index read from the cache; the bundle is found unchanged).
# It must still be the cold run's bytes (a copy taken outside the timing).
run_seedforge_warm() {
  cp "$WORK/out/$1.tar.gz" "$WORK/out/$1-cold.tar.gz"
  seedforge_bundle "$1" "$WORK/out/$1.tar.gz"
  cmp -s "$WORK/out/$1-cold.tar.gz" "$WORK/out/$1.tar.gz" || { log "the warm bundle differs"; exit 1; }
}
# The same bundle to a new file, with that cache: the closure the cold run filed there is
# taken as it is (no index read, nothing resolved), every .deb linked from the cache and
# taken from the facts recorded at its stat (hashed once, by the bundle writer), the bundle
# written again (its compressed .debs stored, not deflated again).
run_seedforge_cache() {
  rm -f "$WORK/out/$1-cache.tar.gz"
  seedforge_bundle "$1" "$WORK/out/$1-cache.tar.gz"
  cmp -s "$WORK/out/$1-cold.tar.gz" "$WORK/out/$1-cache.tar.gz" || { log "the bundle from the cache differs"; exit 1; }
}
seedforge_bundle() {
  # shellcheck disable=SC2086
  SEEDFORGE_CACHE_DIR=$CACHE_DIR timed "$BIN" debs -q --repo "$URL" --suite bookworm \
    --base "$BASE" ${SEEDFORGE_ARGS[$1]} --name "$1" --out "$2"
}
run_apt() {
  fresh_apt
  timed chroot "$CHROOT" sh -c "apt-get update -qq && apt-get install --download-only -y -qq --no-install-recommends ${PKGS[$1]}"
  # What apt fetched, to compare with the bundle.
  find "$CHROOT/var/cache/apt/archives" -name '*.deb' -printf '%f\n' | cut -d_ -f1 | sort >"$WORK/apt-$1.list"
}
# apt with its lists (and its package cache) already there: only the archives emptied.
run_apt_warm() {
  find "$CHROOT/var/cache/apt/archives" -name '*.deb' -delete
  sync
  timed chroot "$CHROOT" sh -c "apt-get install --download-only -y -qq --no-install-recommends ${PKGS[$1]}"
}
# apt with its lists and the archives it has just fetched: nothing to download.
run_apt_hot() {
  timed chroot "$CHROOT" sh -c "apt-get install --download-only -y -qq --no-install-recommends ${PKGS[$1]}"
}
run_seeds() {
  fresh_apt
  timed sh -c "chroot '$CHROOT' sh -c \"apt-get update -qq && cd /tmp/seeds \
    && apt-get download -qq \\\$(apt-cache depends --recurse --no-recommends --no-suggests \
       --no-conflicts --no-breaks --no-replaces --no-enhances ${PKGS[$1]} | grep -v '^ ' | grep -v '^<' | sort -u)\" \
    && cd '$CHROOT/tmp/seeds' && dpkg-scanpackages -m . /dev/null 2>/dev/null | gzip -9 > Packages.gz"
}

median() { sort -n | sed -n "$(((RUNS + 1) / 2))p"; }

printf '%-8s %-10s %10s %12s\n' set tool seconds peak_MiB
for set in $SETS; do
  tools="sf sf-warm sf-cache apt apt-warm apt-hot seeds"
  for tool in $tools; do : >"$WORK/$tool"; done
  for _ in $(seq "$RUNS"); do
    run_seedforge "$set" >>"$WORK/sf"
    run_seedforge_warm "$set" >>"$WORK/sf-warm"
    run_seedforge_cache "$set" >>"$WORK/sf-cache"
    run_apt "$set" >>"$WORK/apt"
    run_apt_warm "$set" >>"$WORK/apt-warm"
    run_apt_hot "$set" >>"$WORK/apt-hot"
    run_seeds "$set" >>"$WORK/seeds"
  done
  declare -A T=() M=()
  for tool in $tools; do
    T[$tool]=$(awk '{print $1}' "$WORK/$tool" | median)
    M[$tool]=$(awk '{printf "%.0f\n", $2/1024}' "$WORK/$tool" | median)
    printf '%-8s %-10s %10s %12s\n' "$set" "$tool" "${T[$tool]}" "${M[$tool]}"
  done
  tar -tzf "$WORK/out/$set.tar.gz" | sed -n 's#^\./pool/##p;s#^pool/##p' | grep '\.deb$' \
    | cut -d_ -f1 | sort >"$WORK/sf-$set.list"
  if diff -q "$WORK/sf-$set.list" "$WORK/apt-$set.list" >/dev/null; then
    printf '%-8s the bundle holds the %s packages apt fetched\n' "$set" "$(wc -l <"$WORK/sf-$set.list")"
  else
    printf '%-8s the bundle and apt differ:\n' "$set"
    diff "$WORK/sf-$set.list" "$WORK/apt-$set.list" | sed 's/^/    /'
  fi
  printf '%-8s seedforge/apt %s, seedforge/seeds %s\n' "$set" \
    "$(echo "scale=2; ${T[sf]} / ${T[apt]}" | bc)" "$(echo "scale=2; ${T[sf]} / ${T[seeds]}" | bc)"
  printf '%-8s warm: seedforge cold/warm %s, seedforge-warm/apt-warm %s, seedforge-warm/apt-hot %s\n' "$set" \
    "$(echo "scale=2; ${T[sf]} / ${T[sf-warm]}" | bc)" "$(echo "scale=2; ${T[sf-warm]} / ${T[apt-warm]}" | bc)" \
    "$(echo "scale=2; ${T[sf-warm]} / ${T[apt-hot]}" | bc)"
  printf '%-8s cache: seedforge cold/cache %s, seedforge-cache/apt-warm %s\n' "$set" \
    "$(echo "scale=2; ${T[sf]} / ${T[sf-cache]}" | bc)" "$(echo "scale=2; ${T[sf-cache]} / ${T[apt-warm]}" | bc)"
done
