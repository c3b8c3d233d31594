#!/bin/sh
# Installs the packages of a seedforge bundle (NAME below) from this directory with apt,
# offline: the only source is a temporary file: source pointing here, the node's own
# sources are not read and its package lists are left untouched. Safe to run again; waits
# (at most 5 minutes) while another apt or dpkg holds the lock.
#
# Usage: sh install.sh     (as root, from anywhere; the bundle is this script's directory)
set -eu
# PACKAGES is split into words on purpose; no word is ever a glob.
set -f

# Each value below is one shell word, quoted by seedforge where it needs quoting.
NAME=@NAME@
BUNDLE_ID=@BUNDLE_ID@
PACKAGES=@PACKAGES@
LOG=/var/log/seedforge-packages.log
MARKER_DIR=/var/lib/seedforge
MARKER="$MARKER_DIR/packages-$NAME.installed"

log() {
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$NAME" "$*" >>"$LOG"
  printf 'seedforge-packages: %s\n' "$*" >&2
}

fail() {
  log "FAILED: $*"
  exit 1
}

# Each of PACKAGES is NAME or NAME=VERSION, as apt takes them; dpkg knows only names.
all_installed() {
  for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status} ${Version}' "${p%%=*}" 2>/dev/null) || return 1
    case "$p" in
      *=*) [ "$status" = "install ok installed ${p#*=}" ] || return 1 ;;
      *) [ "${status% *}" = "install ok installed" ] || return 1 ;;
    esac
  done
  return 0
}

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
mkdir -p "$(dirname "$LOG")" "$MARKER_DIR"
# CDPATH would make cd print the folder; `--` keeps a folder named -x a folder.
HERE=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$BUNDLE_ID" ] && all_installed; then
  log "already installed: $PACKAGES"
  exit 0
fi

log "checking $HERE/SHA256SUMS"
(cd "$HERE" && sha256sum --check --quiet --strict SHA256SUMS) >>"$LOG" 2>&1 \
  || fail "the bundle in $HERE is damaged (SHA256SUMS does not match)"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
mkdir -p "$TMP/lists/partial" "$TMP/archives/partial"
# A sources.list URI is one word: what would split it (a space, a tab) or be read as syntax
# (a quote, brackets, a comment sign) is percent-encoded, which apt decodes. A line break
# cannot be carried at all.
case "$HERE" in *'
'*) fail "the bundle's folder name holds a line break; move it to another folder" ;; esac
URI=$(printf '%s' "$HERE" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/	/%09/g' -e 's/"/%22/g' \
  -e 's/#/%23/g' -e 's/\[/%5B/g' -e 's/]/%5D/g')
printf 'deb [trusted=yes] file:%s ./\n' "$URI" >"$TMP/sources.list"

apt_offline() {
  DEBIAN_FRONTEND=noninteractive apt-get -q \
    -o Dir::Etc::SourceList="$TMP/sources.list" \
    -o Dir::Etc::SourceParts=- \
    -o Dir::State::Lists="$TMP/lists" \
    -o Dir::Cache::Archives="$TMP/archives" \
    -o Dir::Cache::pkgcache= \
    -o Dir::Cache::srcpkgcache= \
    -o APT::Sandbox::User=root \
    -o Acquire::Languages=none \
    -o Acquire::http::Proxy=DIRECT \
    -o DPkg::Lock::Timeout=300 \
    "$@" >>"$LOG" 2>&1
}

log "installing: $PACKAGES"
apt_offline update || fail "apt-get update from $HERE failed; see $LOG"
# shellcheck disable=SC2086 # PACKAGES is a space-separated list of package names
apt_offline install -y --no-install-recommends $PACKAGES \
  || fail "apt-get install failed; see $LOG"
all_installed || fail "apt-get finished but not every package is installed"

printf '%s\n' "$BUNDLE_ID" >"$MARKER.tmp"
mv -f "$MARKER.tmp" "$MARKER"
log "installed: $PACKAGES"
