#!/usr/bin/env bash
# Seeds for many nodes: all-in-one (every seed carries the payload) against
# `seeds: {payload: shared}` (one payload.iso, seeds of a few KiB), on the demo lab grown to
# NODES nodes with a SIZE_MIB payload file (a stand-in for a k3s binary and archives).
#
#   bench/shared-payload.sh                  # ~2 min on 2 cores; results in BENCHMARKS.md
#   NODES=50 SIZE_MIB=256 RUNS=3 bench/shared-payload.sh
#
# For each mode and run: a build into a fresh output (cold), then the ISO steps' seconds
# (from `build --json`), the whole build's wall time, and the bytes under OUT/iso; then a
# rebuild with one node's address changed (which ISO steps ran, and their seconds).
# Modes alternate run by run so drift on a noisy machine hits both alike.
set -euo pipefail
# Cold builds stay cold: the .deb download cache (on by default) is off while measuring.
export SEEDFORGE_NO_CACHE=1

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${NODES:-20}
SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
TMP=${TMPDIR:-/tmp}

die() { echo "shared-payload.sh: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 is required"
need_mib=$(( SIZE_MIB * (NODES + 4) + 512 ))
avail_mib=$(df -Pm "$TMP" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -ge "$need_mib" ] || die "need ~${need_mib} MiB free in $TMP, have ${avail_mib}"

(cd "$ROOT" && cargo build --release --locked --quiet)
BIN="$ROOT/target/release/seedforge"
WORK=$(mktemp -d "$TMP/seedforge-shared-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cp -r "$ROOT/fixtures" "$WORK/fixtures"
rm -rf "$WORK/fixtures/lab/out"
LAB="$WORK/fixtures/lab"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$LAB/big.bin"
SHA=$(sha256sum "$LAB/big.bin" | cut -d' ' -f1)

# The demo config with NODES nodes (one server) and the big file, in MODE.
config() {
  python3 - "$LAB/seedforge.yaml" "$NODES" "$SHA" "$1" <<'EOF'
import re, sys
path, nodes, sha, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
text = open(path).read()
head, rest = text.split("nodes:\n", 1)
tail = rest[rest.index("\nnetwork:"):]
lines = ["nodes:", "  - name: lab-server1", "    role: server", "    address: 192.168.6.10/24"]
for i in range(1, nodes):
    lines += [f"  - name: lab-agent{i}", "    role: agent", f"    address: 192.168.7.{i}/16"]
out = head + "\n".join(lines) + "\n" + tail
out = re.sub(r"address: 192\.168\.6\.10/24", "address: 192.168.6.10/16", out)
out += f"\nfiles:\n  - name: bin/big\n    source: big.bin\n    sha256: \"{sha}\"\n"
out += f"\nseeds:\n  payload: {mode}\n"
open(path + "." + mode, "w").write(out)
EOF
}
config all-in-one
config shared

# iso_seconds REPORT: the seconds of the payload and iso steps that ran, and how many ran.
iso_seconds() {
  python3 - "$1" <<'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
ran = [s for s in steps if s["step"] in ("iso", "payload") and s["status"] == "ran"]
print("%.2f %d" % (sum(s["seconds"] for s in ran), len(ran)))
EOF
}

printf '%-11s %-4s %10s %10s %12s %14s %12s\n' mode run build_s isos_s iso_MiB changed_isos_s changed_ran
for run in $(seq 1 "$RUNS"); do
  for mode in all-in-one shared; do
    cp "$LAB/seedforge.yaml.$mode" "$LAB/seedforge.yaml"
    out="$WORK/out-$mode"
    rm -rf "$out"
    sync
    start=$(date +%s.%N)
    "$BIN" --json build --config "$LAB/seedforge.yaml" --out "$out" >"$WORK/cold.json"
    end=$(date +%s.%N)
    read -r isos _ < <(iso_seconds "$WORK/cold.json")
    mib=$(du -sm --apparent-size "$out/iso" | cut -f1)
    sed -i 's#192.168.7.1/16#192.168.7.201/16#' "$LAB/seedforge.yaml"
    "$BIN" --json build --config "$LAB/seedforge.yaml" --out "$out" >"$WORK/changed.json"
    read -r csecs cran < <(iso_seconds "$WORK/changed.json")
    printf '%-11s %-4s %10.2f %10s %12s %14s %12s\n' "$mode" "$run" "$(awk "BEGIN { print $end - $start }")" \
      "$isos" "$mib" "$csecs" "$cran"
    rm -rf "$out"
  done
done
