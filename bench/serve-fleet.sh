#!/usr/bin/env bash
# The far side's registry under a whole fleet: every node pulling the same images at once.
# `seedforge serve` over a build output's layout against nginx serving the same blob files
# (sendfile, 2 workers, the same certificate) and Debian's docker-registry over the same
# images pushed by skopeo, all over TLS on 127.0.0.1.
#
#   bench/serve.sh --fleet                       # this script; ~15 min on 2 cores
#   LOADS="4 64" RUNS=3 bench/serve-fleet.sh
#
# Data: bench/make-mirror-set.py's IMAGES images (8: a shared BASE_MIB 16 MiB base layer and
# an own OWN_MIB 4 MiB layer each). A client is one node: one curl process, one kept-alive
# TLS connection (as containerd keeps one per registry host), pulling every image: each
# manifest by tag (OCI Accept header), then the config and every layer it has not fetched
# yet (the base once), bodies to /dev/null. A round starts LOAD clients at once and ends
# when the last one has its images; every client's byte count is checked against the
# images' (a client served short fails the round). The servers alternate round by round
# (round 0, a warm-up, is not counted); wall time of the round by GNU time. Each server is
# started afresh for each load, so its peak RSS (VmHWM) is that load's.
#
# HTTP: HTTP/1.1 for every server, and nginx also over HTTP/2 (curl offers h2 by ALPN, as
# containerd's Go client does over TLS); `seedforge serve` answers HTTP/1.1 (its ALPN).
#
# Environment: LOADS ("4 64 256"), RUNS (5; the 256 load takes RUNS_256, 3), IMAGES (8),
# BASE_MIB (16), OWN_MIB (4), KEEP_SET=1 keeps the generated layout in
# $SEEDFORGE_BENCH_CACHE (default ${TMPDIR:-/tmp}/seedforge-bench-cache), SEEDFORGE (a built
# binary; default: a release build of this tree).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOADS=${LOADS:-4 64 256}
RUNS=${RUNS:-5}
RUNS_256=${RUNS_256:-3}
IMAGES=${IMAGES:-8}
BASE_MIB=${BASE_MIB:-16}
OWN_MIB=${OWN_MIB:-4}
KEEP_SET=${KEEP_SET:-0}
TMP=${TMPDIR:-/tmp}
CACHE=${SEEDFORGE_BENCH_CACHE:-$TMP/seedforge-bench-cache}

die() { echo "serve-fleet.sh: $*" >&2; exit 1; }
log() { printf '\n== %s\n' "$*" >&2; }
for t in python3 skopeo curl docker-registry nginx openssl; do
  command -v "$t" >/dev/null || die "$t is required (nginx: apt install nginx-light)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required"

WORK=$(mktemp -d "$TMP/seedforge-fleet-bench.XXXXXX")
chmod 755 "$WORK"
PIDS=()
stop() { if [ -n "${1:-}" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi; }
cleanup() {
  local p
  for p in "${PIDS[@]}"; do stop "$p"; done
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
CURL=(curl -sS --cacert "$WORK/out/pki/ca.crt")
wait_up() { for _ in $(seq 200); do "${CURL[@]}" -o /dev/null "https://$1/v2/" 2>/dev/null && return 0; sleep 0.05; done; die "$1 did not answer"; }

# --- the far side's output: the layout as the build leaves it, and a registry
# certificate for 127.0.0.1 from a CA of its own (the same files for every server).
mkdir -p "$WORK/out/pki"
cp -al "$SET" "$WORK/out/oci"
(
  cd "$WORK/out/pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=bench-ca -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout registry.key -out registry.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext
  openssl x509 -req -in registry.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext -out registry.crt 2>/dev/null
  chmod 644 registry.key
)

NAMES=$(python3 -c "import json; print(' '.join(m['annotations']['org.opencontainers.image.ref.name'].split(':')[0] for m in json.load(open('$SET/index.json'))['manifests']))")

# --- nginx's tree: each manifest under its tag, each blob a hard link to the layout's file.
python3 - "$SET" "$WORK/nginx/root" <<'PY'
import json, os, sys
set_dir, root = sys.argv[1], sys.argv[2]
for m in json.load(open(f"{set_dir}/index.json"))["manifests"]:
    repo, tag = m["annotations"]["org.opencontainers.image.ref.name"].split(":")
    path = f"{set_dir}/blobs/sha256/{m['digest'][7:]}"
    os.makedirs(f"{root}/v2/{repo}/manifests", exist_ok=True)
    os.makedirs(f"{root}/v2/{repo}/blobs", exist_ok=True)
    os.link(path, f"{root}/v2/{repo}/manifests/{tag}")
    doc = json.load(open(path))
    for b in [doc["config"]] + doc["layers"]:
        os.link(f"{set_dir}/blobs/sha256/{b['digest'][7:]}", f"{root}/v2/{repo}/blobs/{b['digest']}")
PY
mkdir -p "$WORK/nginx/logs"
NGX=127.0.0.1:$(free_port)
NGX2=127.0.0.1:$(free_port)
cat >"$WORK/nginx/nginx.conf" <<NGINX
user root;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log error;
events { worker_connections 2048; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 60;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  types { }
  default_type application/octet-stream;
  ssl_certificate $WORK/out/pki/registry.crt;
  ssl_certificate_key $WORK/out/pki/registry.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  server {
    listen $NGX ssl;
    listen $NGX2 ssl http2;
    root $WORK/nginx/root;
    location = /v2/ { return 200 '{}'; }
    location ~ /manifests/ { default_type application/vnd.oci.image.manifest.v1+json; }
  }
}
NGINX
mkdir -p "$WORK/nginx/tmp"

# --- docker-registry over TLS, filled by skopeo from the same layout.
REG=127.0.0.1:$(free_port)
cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $REG
  tls:
    certificate: $WORK/out/pki/registry.crt
    key: $WORK/out/pki/registry.key
YML

# start SERVER: starts it afresh, its PID in SERVER_PID.
SERVER_PID=
start() {
  case "$1" in
    seedforge-serve)
      "$SF" -q serve "$WORK/out" --listen "127.0.0.1:$SFP" >"$WORK/serve.log" 2>&1 &
      SERVER_PID=$!
      wait_up "127.0.0.1:$SFP" ;;
    nginx|nginx-h2)
      nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' 2>>"$WORK/nginx/logs/stderr" &
      SERVER_PID=$!
      wait_up "$NGX" ;;
    docker-registry)
      docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
      SERVER_PID=$!
      wait_up "$REG" ;;
  esac
  PIDS+=("$SERVER_PID")
}
SFP=$(free_port)
start docker-registry
log "fill $REG with skopeo"
mkdir -p "$WORK/ca-only"
cp "$WORK/out/pki/ca.crt" "$WORK/ca-only/"
for n in $NAMES; do
  skopeo copy --quiet --dest-cert-dir "$WORK/ca-only" "oci:$SET:$n:1" "docker://$REG/$n:1"
done
stop "$SERVER_PID"

# One client's pull: every image's manifest by tag, its config and the layers not fetched
# yet; and the bytes that makes.
python3 - "$SET" "$WORK" <<'PY'
import json, sys
set_dir, work = sys.argv[1], sys.argv[2]
seen, lines, total = set(), [], 0
for m in json.load(open(f"{set_dir}/index.json"))["manifests"]:
    repo = m["annotations"]["org.opencontainers.image.ref.name"].split(":")[0]
    lines.append(f'url = "https://HOST/v2/{repo}/manifests/1"\noutput = "/dev/null"')
    lines.append('header = "Accept: application/vnd.oci.image.manifest.v1+json"')
    total += m["size"]
    doc = json.load(open(f"{set_dir}/blobs/sha256/{m['digest'][7:]}"))
    for b in [doc["config"]] + doc["layers"]:
        if b["digest"] in seen:
            continue
        seen.add(b["digest"])
        total += b["size"]
        lines.append(f'url = "https://HOST/v2/{repo}/blobs/{b["digest"]}"\noutput = "/dev/null"')
open(f"{work}/client.cfg", "w").write("\n".join(lines) + "\n")
open(f"{work}/client.bytes", "w").write(f"{total}\n")
PY
CLIENT_BYTES=$(cat "$WORK/client.bytes")

# A round: LOAD curl processes at once against HOST (HTTP version flag VERSION); each
# writes the bytes it received; the round fails unless every client got all of them.
cat >"$WORK/round.sh" <<'ROUND'
#!/usr/bin/env bash
load=$1 host=$2 version=$3 work=$4 ca=$5 want=$6
sed "s/HOST/$host/" "$work/client.cfg" >"$work/client-$host.cfg"
rm -f "$work"/got.*
for ((k = 0; k < load; k++)); do
  curl -sS "$version" --cacert "$ca" -K "$work/client-$host.cfg" -w '%{size_download}\n' \
    >"$work/got.$k" 2>>"$work/curl-errors" &
done
fail=0
for p in $(jobs -p); do wait "$p" || fail=1; done
short=0
for ((k = 0; k < load; k++)); do
  got=$(awk '{s += $1} END {print s + 0}' "$work/got.$k")
  [ "$got" = "$want" ] || short=$((short + 1))
done
[ "$fail" = 0 ] && [ "$short" = 0 ] || { echo "round: $short of $load clients short, curl failed: $fail" >&2; exit 1; }
ROUND
chmod +x "$WORK/round.sh"

declare -A HOST=([seedforge-serve]="127.0.0.1:$SFP" [nginx]=$NGX [nginx-h2]=$NGX2 [docker-registry]=$REG)
declare -A VERSION=([seedforge-serve]=--http1.1 [nginx]=--http1.1 [nginx-h2]=--http2 [docker-registry]=--http1.1)
ORDER=(seedforge-serve nginx nginx-h2 docker-registry)
echo -e "load\tserver\tround\twall_s" >"$WORK/times.tsv"
echo -e "load\tserver\trss_kib" >"$WORK/rss.tsv"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for load in $LOADS; do
  runs=$RUNS
  [ "$load" -lt 256 ] || runs=$RUNS_256
  # Each server started afresh for this load, all up at once (nginx's two ports are one
  # server: started once).
  declare -A PID=()
  for server in seedforge-serve nginx docker-registry; do
    start "$server"
    PID[$server]=$SERVER_PID
  done
  PID[nginx-h2]=${PID[nginx]}
  for round in $(seq 0 "$runs"); do
    log "load $load: round $round/$runs"
    for ((k = 0; k < ${#ORDER[@]}; k++)); do
      server=${ORDER[$(((round + k) % ${#ORDER[@]}))]}
      /usr/bin/time -f "$load\t$server\t$round\t%e" -a -o "$WORK/times.tsv" \
        "$WORK/round.sh" "$load" "${HOST[$server]}" "${VERSION[$server]}" "$WORK" \
        "$WORK/out/pki/ca.crt" "$CLIENT_BYTES" || die "load $load: the pull from $server failed (see $WORK/curl-errors)"
    done
  done
  for server in seedforge-serve docker-registry; do
    printf '%s\t%s\t%s\n' "$load" "$server" "$(awk '/VmHWM/ {print $2}' "/proc/${PID[$server]}/status")" >>"$WORK/rss.tsv"
  done
  for server in seedforge-serve nginx docker-registry; do stop "${PID[$server]}"; done
done

python3 - "$WORK/times.tsv" "$WORK/rss.tsv" "$CLIENT_BYTES" <<'PY'
import csv, statistics as st, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["round"] != "0"]
rss = {(r["load"], r["server"]): int(r["rss_kib"]) for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")}
per_client = int(sys.argv[3]) / 2**20
print(f"\neach client pulls {per_client:.1f} MiB over one TLS connection; medians of the counted rounds\n")
print("| clients | server | median wall [s] | min–max [s] | MiB/s | peak RSS [MiB] | seedforge serve / this |")
print("|---|---|---|---|---|---|---|")
for load in sorted({r["load"] for r in rows}, key=int):
    med = {}
    for server in ["seedforge-serve", "nginx", "nginx-h2", "docker-registry"]:
        walls = [float(r["wall_s"]) for r in rows if r["load"] == load and r["server"] == server]
        med[server] = (st.median(walls), min(walls), max(walls))
    ours = med["seedforge-serve"][0]
    for server, (m, lo, hi) in med.items():
        r = rss.get((load, server))
        mem = f"{r / 1024:.0f}" if r else "–"
        print(f"| {load} | {server} | {m:.2f} | {lo:.2f}–{hi:.2f} | {int(load) * per_client / m:.0f} | {mem} | {ours / m:.2f}x |")
PY
echo "load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
