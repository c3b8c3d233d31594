#!/usr/bin/env bash
# The shell pipeline seedforge replaces, written the way offline-k3s prep scripts usually
# are (00_prep_offline: mirror the images, make the registry CA and certificate, the airgap
# archive and the ops package bundle; 01_build_seed_isos: render each node's cloud-init
# files with envsubst and write one genisoimage seed ISO per node), with the usual tools:
# skopeo, openssl, tar + zstd, dpkg-scanpackages, envsubst, genisoimage, sha256sum.
# bench/e2e.sh runs it against seedforge on the same inputs.
#
#   bench/e2e-peer.sh peer.env
#
# peer.env (sourced) sets:
#   OUT               output folder (kept between runs, like the scripts' work folders)
#   SRC_REGISTRY      the registry the images come from (plain HTTP)
#   IMAGES_FILE       one "SOURCE DESTINATION" pair per line (registry path:tag, full name)
#   PKG_REPO_URL      the package repository (flat), PKG_LIST the .deb file names to bundle
#   K3S_BIN           the k3s binary to carry (empty: none)
#   REGISTRY_HOST_IP, REGISTRY_PORT   where the nodes reach the registry
#   CLUSTER_NAME, K3S_TOKEN_FILE, GATEWAY, NAMESERVER
#   NODES             "name:role:ip/prefix ..." (one server first)
#   TEMPLATES         folder of user-data-{server,agent}.tpl, meta-data.tpl, network-config.tpl
#   SOURCE_DATE_EPOCH optional, for tar mtimes
set -euo pipefail
# shellcheck disable=SC1090
. "$1"

REGISTRY_PORT=${REGISTRY_PORT:-5000}
ARCH=amd64
WORK=$OUT/work
PAYLOAD=$OUT/payload
mkdir -p "$WORK" "$PAYLOAD/images" "$PAYLOAD/packages" "$PAYLOAD/pki" "$OUT/iso" "$OUT/nodes"

log() { echo "[$(date '+%Y-%m-%d %H:%M:%S')] $*" >&2; }

############################################################################################
# 00_prep_offline
############################################################################################

# 1. Mirror every image into one local OCI layout (blobs shared between images; blobs
#    already there from an earlier run are not fetched again).
log "mirroring images from $SRC_REGISTRY"
while read -r src dst; do
  [ -n "$src" ] || continue
  skopeo copy --quiet --src-tls-verify=false "docker://$SRC_REGISTRY/$src" "oci:$WORK/oci:$dst"
done <"$IMAGES_FILE"

# 2. Registry CA and certificate (CN and SANs = the registry IP, 127.0.0.1, localhost).
#    The CA is kept once made: the nodes trust it.
PKI=$OUT/pki
mkdir -p "$PKI"
if [ ! -f "$PKI/ca.crt" ]; then
  log "creating registry CA"
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
    -subj "/CN=registry CA $CLUSTER_NAME" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
if [ ! -f "$PKI/registry.crt" ]; then
  log "creating registry certificate for $REGISTRY_HOST_IP"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$PKI/registry.key" -out "$PKI/registry.csr" -subj "/CN=$REGISTRY_HOST_IP" 2>/dev/null
  cat >"$PKI/registry.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:$REGISTRY_HOST_IP,IP:127.0.0.1,DNS:localhost
EXT
  openssl x509 -req -in "$PKI/registry.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -out "$PKI/registry.crt" -days 1825 -extfile "$PKI/registry.ext" 2>/dev/null
  chmod 600 "$PKI"/*.key
fi
openssl verify -CAfile "$PKI/ca.crt" -verify_ip "$REGISTRY_HOST_IP" "$PKI/registry.crt" >/dev/null
cp "$PKI/ca.crt" "$PAYLOAD/pki/ca.crt"

# registries.yaml: every upstream the images name, and the registry itself, go to it.
{
  echo "mirrors:"
  for upstream in $(awk '{ split($2, p, "/"); print p[1] }' "$IMAGES_FILE" | sort -u) \
    "$REGISTRY_HOST_IP:$REGISTRY_PORT"; do
    echo "  \"$upstream\":"
    echo "    endpoint:"
    echo "      - \"https://$REGISTRY_HOST_IP:$REGISTRY_PORT\""
  done
  echo "configs:"
  echo "  \"$REGISTRY_HOST_IP:$REGISTRY_PORT\":"
  echo "    tls:"
  echo "      ca_file: /etc/rancher/k3s/registry-ca.crt"
} >"$PAYLOAD/registries.yaml"
mkdir -p "$OUT/registry"
cat >"$OUT/registry/config.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: $REGISTRY_HOST_IP:$REGISTRY_PORT
  tls:
    certificate: $PKI/registry.crt
    key: $PKI/registry.key
YML

# 3. The airgap archive: skopeo writes one docker-archive per image; they are merged into
#    one archive (shared layers once, one manifest.json listing every image) and
#    compressed with zstd on every core.
log "writing the airgap archive"
rm -rf "$WORK/archives" "$WORK/airgap"
mkdir -p "$WORK/archives" "$WORK/airgap"
i=0
while read -r src dst; do
  [ -n "$src" ] || continue
  i=$((i + 1))
  skopeo copy --quiet "oci:$WORK/oci:$dst" "docker-archive:$WORK/archives/$i.tar:$dst"
done <"$IMAGES_FILE"
for t in "$WORK"/archives/*.tar; do
  tar -xf "$t" -C "$WORK/airgap" --skip-old-files --exclude=manifest.json --exclude=repositories
  tar -xOf "$t" manifest.json
done | jq -s 'add' >"$WORK/airgap/manifest.json"
rm -rf "$WORK/archives"
(cd "$WORK/airgap" && tar -cf - -- *) | zstd -q -3 -T0 -f -o "$PAYLOAD/images/k3s-airgap-images-$ARCH.tar.zst"
rm -rf "$WORK/airgap"

# 4. The ops package bundle: the .debs, a flat repository index, an installer.
log "bundling packages"
PKGS=$WORK/packages/ops
mkdir -p "$PKGS"
urls=()
while read -r deb; do
  [ -n "$deb" ] || continue
  [ -f "$PKGS/$deb" ] || urls+=("$PKG_REPO_URL/$deb")
done <"$PKG_LIST"
if [ "${#urls[@]}" -gt 0 ]; then
  (cd "$PKGS" && curl -fsS --remote-name-all "${urls[@]}")
fi
(
  cd "$PKGS"
  dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null
  gzip -9nkf Packages
  cat >install.sh <<'SH'
#!/bin/sh
set -e
cd "$(dirname "$0")"
echo "deb [trusted=yes] file:$(pwd) ./" >/etc/apt/sources.list.d/ops-offline.list
apt-get update -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/ops-offline.list \
  -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
apt-get install -y --no-install-recommends $(sed -n 's/^Package: //p' Packages)
rm -f /etc/apt/sources.list.d/ops-offline.list
SH
  chmod 755 install.sh
  sha256sum ./*.deb Packages Packages.gz install.sh >SHA256SUMS
)
tar -C "$PKGS" -czf "$PAYLOAD/packages/ops.tar.gz" .

# 5. The k3s binary.
mkdir -p "$PAYLOAD/bin"
if [ -n "${K3S_BIN:-}" ]; then
  install -m 0755 "$K3S_BIN" "$PAYLOAD/bin/k3s"
fi

(cd "$PAYLOAD" && find . -type f ! -name 'SHA256SUMS*' | sed 's|^\./||' | sort | xargs sha256sum >SHA256SUMS.new \
  && mv SHA256SUMS.new SHA256SUMS)

############################################################################################
# 01_build_seed_isos
############################################################################################

export DOLLAR='$' CLUSTER_NAME GATEWAY NAMESERVER
K3S_TOKEN=$(cat "$K3S_TOKEN_FILE")
export K3S_TOKEN
first=${NODES%% *}
first=${first#*:*:}
export SERVER_IP=${first%/*}
for spec in $NODES; do
  IFS=: read -r NODE_NAME role NODE_ADDRESS <<<"$spec"
  NODE_IP=${NODE_ADDRESS%/*}
  export NODE_NAME NODE_ADDRESS NODE_IP
  log "seed ISO for $NODE_NAME ($role)"
  d=$OUT/nodes/$NODE_NAME
  mkdir -p "$d"
  envsubst <"$TEMPLATES/user-data-$role.tpl" >"$d/user-data"
  envsubst <"$TEMPLATES/network-config.tpl" >"$d/network-config"
  INSTANCE_ID=$NODE_NAME-$(cat "$d/user-data" "$d/network-config" | sha256sum | cut -c1-16)
  export INSTANCE_ID
  envsubst <"$TEMPLATES/meta-data.tpl" >"$d/meta-data"
  chmod 600 "$d/user-data"
  genisoimage -quiet -V cidata -J -r -graft-points -o "$OUT/iso/seed-$NODE_NAME.iso" \
    "user-data=$d/user-data" "meta-data=$d/meta-data" "network-config=$d/network-config" \
    "payload/=$PAYLOAD"
  chmod 600 "$OUT/iso/seed-$NODE_NAME.iso"
done
log "done: $(ls "$OUT"/iso)"
