#!/usr/bin/env bash
# Many files in one folder: `seedforge iso` on N small files in one folder against the
# same N files spread over 100 folders (the writer must be linear in files per folder),
# and xorriso on the one folder when it is installed. Results in BENCHMARKS.md
# (## iso: many files in one folder).
#
#   bench/iso-many-files.sh            # N=20000, 3 runs each, prints the median seconds
#   N=5000 RUNS=5 bench/iso-many-files.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-20000}
RUNS=${RUNS:-3}
BIN=${SEEDFORGE:-$ROOT/target/release/seedforge}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --locked --quiet)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/iso-many.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The same N small files twice: all in one folder, and hard-linked over 100 folders.
python3 - "$WORK" "$N" <<'PY'
import os, sys
work, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{work}/one")
for d in range(100):
    os.makedirs(f"{work}/spread/d{d}")
for i in range(1, n + 1):
    one = f"{work}/one/file{i:05}.txt"
    with open(one, "w") as f:
        f.write(f"file {i:05}\n")
    os.link(one, f"{work}/spread/d{i % 100}/file{i:05}.txt")
PY

# Median wall-clock seconds of RUNS runs of the command.
median() {
  local times=()
  for _ in $(seq "$RUNS"); do
    rm -f "$WORK/out.iso"
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p"
}

one=$(median "$BIN" iso --out "$WORK/out.iso" "$WORK/one")
spread=$(median "$BIN" iso --out "$WORK/out.iso" "$WORK/spread")
printf 'seedforge iso, %s files in one folder:      %ss\n' "$N" "$one"
printf 'seedforge iso, %s files over 100 folders:   %ss\n' "$N" "$spread"
printf 'ratio one folder / 100 folders:              %s\n' "$(echo "scale=2; $one / $spread" | bc)"
if command -v xorriso >/dev/null 2>&1; then
  x=$(median xorriso -as mkisofs -quiet -J -R -V cidata -o "$WORK/out.iso" "$WORK/one")
  printf 'xorriso -as mkisofs -J -R, one folder:       %ss\n' "$x"
fi
