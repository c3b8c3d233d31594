#!/usr/bin/env bash
# The one test command: installs the external tools the tests use as judges, then runs
# formatting, lint, the fixture reproducibility check and every test.
#
#   scripts/test.sh            # locally: missing tools are installed if we are root, else skipped
#   CI=true scripts/test.sh    # CI: a missing tool is a failure
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A TOOLS=(
  [skopeo]=skopeo
  [oci-image-tool]=oci-image-tool
  [umoci]=umoci
  [containerd]=containerd
  [ctr]=containerd
  [podman]=podman
  [zstd]=zstd
  [docker-registry]=docker-registry
  [openssl]=openssl
  [cloud-init]=cloud-init
  [debootstrap]=debootstrap
  [dpkg-scanpackages]=dpkg-dev
  [apt-ftparchive]=apt-utils
  [shellcheck]=shellcheck
  [gpgv]=gpgv
  [gpg]=gpg
  [xz]=xz-utils
  [blkid]=util-linux
  [isoinfo]=genisoimage
  [genisoimage]=genisoimage
  [osirrox]=xorriso
  [xorriso]=xorriso
  [7z]=p7zip-full
  [strace]=strace
  [setpriv]=util-linux
  [prlimit]=util-linux
  [dpkg-deb]=dpkg
  [mkfs.ext4]=e2fsprogs
  [sha256sum]=coreutils
  [strace]=strace
  [touch]=coreutils
  [systemd-analyze]=systemd
  [debugfs]=e2fsprogs
  [mkfs.vfat]=dosfstools
  [fusefat]=fusefat
  [fusermount]=fuse3
  [script]=bsdutils
)

missing_tools() {
  local t
  for t in "${!TOOLS[@]}"; do
    command -v "$t" >/dev/null 2>&1 || echo "$t"
  done | sort
}

install_tools() {
  local pkgs=() t
  for t in "$@"; do pkgs+=("${TOOLS[$t]}"); done
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: cannot install ${pkgs[*]} (need root and apt-get)" >&2
    return 0
  fi
  echo "test.sh: installing ${pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  # The first multi-package install can fail with "cannot access archive"; once more works.
  apt-get install -y -qq "${pkgs[@]}" >/dev/null \
    || { sleep 2; apt-get install -y -qq "${pkgs[@]}" >/dev/null; } \
    || echo "test.sh: apt-get install ${pkgs[*]} failed" >&2
}

mapfile -t missing < <(missing_tools)
if [ "${#missing[@]}" -gt 0 ]; then
  install_tools "${missing[@]}"
  mapfile -t missing < <(missing_tools)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "test.sh: required test tools missing: ${missing[*]}" >&2
    exit 1
  fi
  echo "test.sh: warning: tests that need ${missing[*]} will be skipped" >&2
fi

# --- pycdlib (an independent ISO 9660/Joliet/Rock Ridge parser, a judge for the ISO tests) ---
# Installed from PyPI into a venv under target/ so the system python stays untouched; the
# tests find it at target/pyvenv/bin/python (or $SEEDFORGE_PYCDLIB_PYTHON). One retry;
# under CI=true a failed install fails the run, otherwise the pycdlib checks are skipped.
PYVENV=target/pyvenv
if ! "$PYVENV/bin/python" -c 'import pycdlib' >/dev/null 2>&1; then
  echo "test.sh: installing pycdlib into $PYVENV" >&2
  { python3 -m venv "$PYVENV" && "$PYVENV/bin/pip" install -q pycdlib; } >/dev/null 2>&1 \
    || { sleep 2; "$PYVENV/bin/pip" install -q pycdlib >/dev/null 2>&1; } \
    || true
  if ! "$PYVENV/bin/python" -c 'import pycdlib' >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
      echo "test.sh: pycdlib could not be installed into $PYVENV" >&2
      exit 1
    fi
    echo "test.sh: warning: pycdlib missing; the pycdlib parts of the ISO tests will be skipped" >&2
  fi
fi
# --- end pycdlib ---

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo check of the fuzz crate (clippy does not build it)"
cargo check --quiet --manifest-path fuzz/Cargo.toml

# --- cargo-deny: licenses, bans (wildcards, duplicates), sources (crates.io only); see
# deny.toml. Advisories are left out: they need the RustSec database from the internet.
# Installed with cargo when missing (one retry); under CI=true a failed install fails the
# run, otherwise the check is skipped with a warning.
if ! cargo deny --version >/dev/null 2>&1; then
  echo "test.sh: installing cargo-deny" >&2
  cargo install --locked --quiet cargo-deny \
    || { sleep 2; cargo install --locked --quiet cargo-deny; } \
    || true
fi
if cargo deny --version >/dev/null 2>&1; then
  echo "== cargo deny check licenses bans sources"
  cargo deny check --hide-inclusion-graph licenses bans sources
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: cargo-deny is missing and could not be installed" >&2
  exit 1
else
  echo "test.sh: warning: cargo-deny missing; license/bans/sources check skipped" >&2
fi
# --- end cargo-deny ---

echo "== fixtures regenerate byte-identically"
python3 scripts/make-fixtures.py >/dev/null
if [ -n "$(git status --porcelain -- fixtures/images 2>/dev/null)" ]; then
  git status --porcelain -- fixtures/images >&2
  echo "test.sh: scripts/make-fixtures.py no longer reproduces the committed fixtures" >&2
  exit 1
fi

echo "== cargo test"
cargo test --locked --all-targets
cargo test --locked --doc

echo "== fuzz smoke (each target briefly; long runs: FUZZ_SECONDS=600 scripts/fuzz.sh)"
if command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: cargo-fuzz is missing and could not be installed" >&2
  exit 1
else
  echo "test.sh: warning: cargo-fuzz missing; fuzz smoke skipped" >&2
fi

echo "== booted-node tests (tests/boot: qemu, a Debian node per seed; ~20 min)"
# The node image and qemu are made once under target/boot (tests/boot/image.sh) and reused
# while their inputs are unchanged.
if [ "$(id -u)" = 0 ]; then
  SEEDFORGE_BOOT_TESTS=1 cargo test --locked --test boot -- --nocapture
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: the booted-node tests need root" >&2
  exit 1
else
  echo "test.sh: warning: not root; booted-node tests skipped" >&2
fi
