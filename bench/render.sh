#!/usr/bin/env bash
# Measures `seedforge render` of the demo (fixtures/lab: three nodes), the cost of the node
# files' checks, cloud-init's schema among them. With BASELINE=PATH (a seedforge binary
# built from another commit) both run in one hyperfine call (all runs of one, then the
# other). Wall time is mostly the external checkers (bash -n, systemd-analyze verify) and
# moves with the machine's load; the user CPU time is the steadier figure.
#
#   bench/render.sh                          # results in BENCHMARKS.md (## render)
#   BASELINE=/tmp/seedforge-before RUNS=30 bench/render.sh
#
# Environment: RUNS (30), WARMUP (3), BASELINE (none).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
command -v hyperfine >/dev/null 2>&1 || { echo "render.sh: hyperfine is required" >&2; exit 1; }

(cd "$ROOT" && cargo build --release --locked --quiet)
BIN="$ROOT/target/release/seedforge"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/seedforge-render-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp -r "$ROOT/fixtures/lab" "$WORK/lab"
rm -rf "$WORK/lab/out"

cmds=("$BIN render --config $WORK/lab/seedforge.yaml --out $WORK/nodes-after")
names=(-n "seedforge render")
if [ -n "${BASELINE:-}" ]; then
  cmds+=("$BASELINE render --config $WORK/lab/seedforge.yaml --out $WORK/nodes-before")
  names+=(-n "baseline render")
fi
hyperfine --warmup "$WARMUP" --runs "$RUNS" -N "${names[@]}" "${cmds[@]}"
