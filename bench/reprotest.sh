#!/bin/sh
# Runs reprotest on the demo build (fixtures/lab): two builds of the same inputs, the second
# under every variation that runs on this machine, and compares SHA256SUMS, manifest.json
# and the seed ISOs (diffoscope shows any difference). The fileordering variation builds
# on disorderfs, a FUSE file system, as an output on NTFS or exFAT from WSL would be.
#
#   bench/reprotest.sh [SEEDFORGE] [REPORT]
#
# SEEDFORGE: the binary (default target/debug/seedforge; build it first).
# REPORT: the Markdown file written with the date, the command and reprotest's output
#         (default docs/reproducibility-check.md).
#
# Needs reprotest, disorderfs, faketime and diffoscope (Debian: reprotest disorderfs
# faketime diffoscope-minimal). user_group is a no-op unless reprotest is given users to
# sudo to (user_group.available, see reprotest(1)); domain_host needs root or
# domain_host.use_sudo. Exit status: reprotest's (0: no difference).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/seedforge}")
report=${2:-$repo/docs/reproducibility-check.md}
[ -x "$bin" ] || { echo "reprotest.sh: $bin is not executable (cargo build first)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The source tree reprotest copies (and moves, for build_path): the lab and its images,
# laid out as in the repository so the config's relative paths hold, and the output's kept
# pki/. The binary stays
# outside it, so the variations change the build, not the tool.
mkdir -p "$work/src/fixtures"
cp -a "$repo/fixtures/lab" "$repo/fixtures/images" "$work/src/fixtures/"
rm -rf "$work/src/fixtures/lab/out"
cp "$bin" "$work/seedforge"
# The registry CA and certificate are made once and kept (pki/ is state: a new CA would
# mean new seeds for every node), so both builds start from the same pki/ and nothing
# else: a first build, cleaned (clean keeps pki/).
(cd "$work/src" && "$work/seedforge" build --config fixtures/lab/seedforge.yaml \
  && "$work/seedforge" clean fixtures/lab/out) >"$work/prepare.log" 2>&1 \
  || { cat "$work/prepare.log" >&2; exit 1; }

variations=+all
build="$work/seedforge build --config fixtures/lab/seedforge.yaml"
artifacts="fixtures/lab/out/SHA256SUMS fixtures/lab/out/manifest.json fixtures/lab/out/iso/*.iso"

set +e
(cd "$work" && reprotest --verbosity 1 --variations="$variations" --store-dir "$work/store" \
  -s src "$build" "$artifacts") >"$work/log" 2>&1
status=$?
set -e

{
  echo "# Reproducibility check"
  echo
  echo "Part of the seedforge documentation ([README](../README.md))."
  echo
  echo "\`bench/reprotest.sh\` builds the demo (\`fixtures/lab\`, from the same kept \`pki/\`)"
  echo "twice with reprotest, the second build under every variation that runs here"
  echo "(fileordering: the build tree on disorderfs, a FUSE file system, with shuffled"
  echo "directory entries), and compares \`SHA256SUMS\`, \`manifest.json\` and the seed ISOs"
  echo "with diffoscope. user_group is not varied unless reprotest is given a second user"
  echo "(see the script). Its last run:"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- seedforge: $("$bin" --version 2>/dev/null || echo unknown)"
  echo "- reprotest: $(dpkg-query -W -f '${Version}' reprotest 2>/dev/null || echo unknown)"
  echo "- command: \`bench/reprotest.sh\`, which runs \`reprotest --verbosity 1 --variations=$variations -s src '$build' '$artifacts'\`"
  echo "  (\`$work/seedforge\` is a copy of the binary, outside the source tree)"
  echo "- exit status: $status ($( [ "$status" = 0 ] && echo 'no difference' || echo 'differences or a failed build'))"
  echo
  echo "reprotest's output (the variations each build ran under; the build's own progress"
  echo "lines left out, \`WORK\` is the script's temporary folder):"
  echo
  echo '```'
  grep -v -E '^(  docker\.io/|docker\.io/|fixtures/|ran [0-9]+ step|verify |sealed |built )' "$work/log" \
    | tail -n 150
  echo '```'
} | sed "s#$work#WORK#g" >"$report"
echo "reprotest.sh: exit $status; report in $report" >&2
exit "$status"
