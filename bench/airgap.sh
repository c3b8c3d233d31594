#!/usr/bin/env bash
# Benchmarks `seedforge airgap` against peer tools on a synthetic OCI layout (one image,
# ~1 GiB of uncompressed, partly compressible layers; see bench/make-big-layout.py).
#
#   bench/airgap.sh                  # everything, ~5-8 min on 2 cores; results in BENCHMARKS.md
#   RUNS=5 GZIP_RUNS=3 SIZE_MIB=512 bench/airgap.sh
#
# Comparisons (the commands of one comparison run alternately, round by round, in a rotating
# order, so drift on a noisy machine hits them all alike; round 0 is a discarded warm-up):
#   plain  seedforge .tar        vs cp of the same bytes, skopeo copy to a docker-archive
#   zstd   seedforge .tar.zst    vs zstd CLI on the plain tar, skopeo copy && zstd
#   gzip   seedforge .tar.gz     vs gzip -6 (and pigz if installed) on the plain tar;
#          run on the small layout (SMALL_MIB), gzip being ~30 MiB/s single-threaded
# plus peak RSS of seedforge (zstd) on the small and the big layout.
#
# Every command writes out-* files in the work dir; the per-run --prepare deletes them and
# runs `sync`, so each run starts with no dirty pages. No command syncs at its end (seedforge
# fsyncs its output itself; `cp+sync` is shown for reference).
#
# Environment: SIZE_MIB (1024), SMALL_MIB (256), RUNS (10), GZIP_RUNS (5), WARMUP (1), BUDGET_S (600: later
# sections are skipped past it), KEEP_LAYOUT=1 keeps the generated layouts in
# $SEEDFORGE_BENCH_CACHE (default ${TMPDIR:-/tmp}/seedforge-bench-cache) for the next run,
# NO_HYPERFINE=1 times with /usr/bin/time, RESULTS=DIR for the raw results (default: a new temp dir, kept and printed at the end).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
SMALL_MIB=${SMALL_MIB:-256}
RUNS=${RUNS:-10}
GZIP_RUNS=${GZIP_RUNS:-5}
WARMUP=${WARMUP:-1}
BUDGET_S=${BUDGET_S:-600}
KEEP_LAYOUT=${KEEP_LAYOUT:-0}
TMP=${TMPDIR:-/tmp}
CACHE=${SEEDFORGE_BENCH_CACHE:-$TMP/seedforge-bench-cache}
REF_NAME=docker.io/bench/big:1
START=$SECONDS

have() { command -v "$1" >/dev/null 2>&1; }
use_hyperfine() { [ "${NO_HYPERFINE:-0}" != 1 ] && have hyperfine; }
log() { printf '\n== %s (t=%ss)\n' "$*" "$((SECONDS - START))" >&2; }
die() { echo "airgap.sh: $*" >&2; exit 1; }

for t in python3 skopeo zstd gzip; do have "$t" || die "$t is required"; done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required for peak RSS"
if ! use_hyperfine; then
  echo "hyperfine not found: timing with /usr/bin/time instead (apt-get install -y hyperfine)" >&2
fi

# Disk: the big layout, its reference tar and one transient output (~3 x SIZE), plus slack.
mkdir -p "$CACHE"
need_mib=$((SIZE_MIB * 3 + SMALL_MIB * 2 + 512))
avail_mib=$(df -Pm "$CACHE" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -ge "$need_mib" ] || die "need ~${need_mib} MiB free in $CACHE, have ${avail_mib}"

WORK=$(mktemp -d "$TMP/seedforge-bench.XXXXXX")
RESULTS=${RESULTS:-$(mktemp -d "$TMP/seedforge-bench-results.XXXXXX")}
mkdir -p "$RESULTS/raw"
O=$WORK
cleanup() {
  rm -rf "$WORK"
  if [ "$KEEP_LAYOUT" != 1 ]; then
    rm -rf "$CACHE/layout-${SIZE_MIB}M" "$CACHE/layout-${SMALL_MIB}M"
    rmdir "$CACHE" 2>/dev/null || true
  fi
}
trap cleanup EXIT

log "building seedforge (release)"
(cd "$ROOT" && cargo build --release --quiet)
SF=$ROOT/target/release/seedforge

# make_layout MIB -> prints the layout dir (generated once; reused while the stamp exists).
make_layout() {
  local dir=$CACHE/layout-$1M
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    python3 "$ROOT/bench/make-big-layout.py" "$dir" --size "$1" >&2 2>/dev/null
    skopeo inspect "oci:$dir:$REF_NAME" >/dev/null || die "skopeo cannot read $dir"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# run_once FILE LABEL PREPARE CMD RAW: one timed run; appends "LABEL wall user sys" to FILE
# and keeps hyperfine's own JSON export as RAW.json.
run_once() {
  local tsv=$1 label=$2 prep=$3 cmd=$4 j=$5.json
  if use_hyperfine; then
    hyperfine --runs 1 --style none --output null --prepare "$prep" --export-json "$j" \
      "$cmd" >/dev/null
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(sys.argv[2], r["times"][0], r["user"], r["system"], sep="\t")' "$j" "$label" >>"$tsv"
  else
    bash -c "$prep"
    /usr/bin/time -f "$label"$'\t%e\t%U\t%S' -a -o "$tsv" bash -c "$cmd" >/dev/null 2>&1
  fi
}

# section NAME -- LABEL CMD [LABEL CMD ...]: WARMUP + RUNS alternating rounds.
section() {
  local name=$1; shift 2
  local labels=() cmds=() n r i k
  while [ $# -gt 0 ]; do labels+=("$1"); cmds+=("$2"); shift 2; done
  n=${#labels[@]}
  if [ $((SECONDS - START)) -gt "$BUDGET_S" ]; then
    log "skipping $name: over the ${BUDGET_S}s budget"
    return
  fi
  log "$name: ${WARMUP} warm-up + ${RUNS} alternating rounds of ${labels[*]}"
  : >"$RESULTS/$name.tsv"
  : >"$RESULTS/$name.sizes.tsv"
  for ((i = 0; i < n; i++)); do
    printf '%s\t%s\n' "${labels[$i]}" "${cmds[$i]}"
  done >"$RESULTS/$name.commands.tsv"
  local prep="rm -f $O/out-*; sync"
  for ((r = 0; r < WARMUP + RUNS; r++)); do
    for ((k = 0; k < n; k++)); do
      i=$(((k + r) % n))
      if [ "$r" -lt "$WARMUP" ]; then
        run_once /dev/null "${labels[$i]}" "$prep" "${cmds[$i]}" "$RESULTS/raw/$name-warmup-cmd$i"
      else
        run_once "$RESULTS/$name.tsv" "${labels[$i]}" "$prep" "${cmds[$i]}" "$RESULTS/raw/$name-round$r-cmd$i"
      fi
      # What this command wrote (the next run's --prepare deletes it).
      (cd "$O" && for f in out-*; do [ -e "$f" ] && printf '%s\t%s\n' "$f" "$(stat -c %s "$f")"; done) \
        >>"$RESULTS/$name.sizes.tsv"
    done
  done
  rm -f "$O"/out-*
  summarize "$name"
}

# summarize NAME: JSON + markdown table from NAME.tsv (first label is seedforge = the baseline).
summarize() {
  python3 - "$RESULTS" "$1" <<'PY'
import json, statistics as st, sys, os
res, name = sys.argv[1], sys.argv[2]
cmds = [l.rstrip("\n").split("\t", 1) for l in open(f"{res}/{name}.commands.tsv")]
runs = {}
for line in open(f"{res}/{name}.tsv"):
    label, wall, user, sys_ = line.split("\t")
    runs.setdefault(label, []).append((float(wall), float(user), float(sys_)))
out = []
for label, cmd in cmds:
    t = runs.get(label, [])
    if not t:
        continue
    walls = [w for w, _, _ in t]
    out.append({
        "label": label, "command": cmd, "times": walls,
        "mean": st.mean(walls), "stddev": st.stdev(walls) if len(walls) > 1 else 0.0,
        "median": st.median(walls), "min": min(walls), "max": max(walls),
        "user": st.mean(u for _, u, _ in t), "system": st.mean(s for _, _, s in t),
    })
json.dump({"results": out}, open(f"{res}/{name}.json", "w"), indent=2)
base = out[0]
lines = [f"### {name} ({len(base['times'])} runs each)", "",
         "| command | wall mean ± σ [s] | median [s] | user [s] | sys [s] | user+sys [s] | seedforge / this (mean wall) |",
         "|---|---:|---:|---:|---:|---:|---:|"]
for r in out:
    ratio = base["mean"] / r["mean"]
    lines.append(f"| {r['label']} | {r['mean']:.3f} ± {r['stddev']:.3f} | {r['median']:.3f} | {r['user']:.2f} | "
                 f"{r['system']:.2f} | {r['user'] + r['system']:.2f} | {ratio:.2f}x |")
sizes = f"{res}/{name}.sizes.tsv"
if os.path.exists(sizes) and os.path.getsize(sizes):
    last = dict(l.split() for l in open(sizes))
    lines += ["", "output sizes: " + ", ".join(
        f"{f} {int(s) / 2**20:.1f} MiB ({int(s)} B)" for f, s in sorted(last.items()))]
text = "\n".join(lines) + "\n"
open(f"{res}/{name}.md", "w").write(text)
print(text)
PY
}

# rss LABEL LAYOUT ARGS...: peak RSS (KiB) of 3 seedforge runs.
rss() {
  local label=$1 layout=$2; shift 2
  local r v
  for r in 1 2 3; do
    rm -f "$O"/out-*
    /usr/bin/time -f "%M" -o "$O/rss" "$SF" airgap --layout "$layout" "$@" >/dev/null 2>&1
    v=$(cat "$O/rss")
    printf '%s\t%s\n' "$label" "$v" >>"$RESULTS/rss.tsv"
  done
  rm -f "$O"/out-* "$O/rss"
}

log "layout: ${SIZE_MIB} MiB"
L=$(make_layout "$SIZE_MIB")
"$SF" airgap -q --layout "$L" --out "$O/ref.tar"   # the plain tar the peers start from
REF=$O/ref.tar
du -sh "$L" "$REF" >&2

section plain -- \
  "seedforge" "$SF airgap --layout $L --out $O/out-sf.tar" \
  "cp" "cp $REF $O/out-cp.tar" \
  "skopeo" "skopeo copy -q oci:$L:$REF_NAME docker-archive:$O/out-skopeo.tar" \
  "cp+sync" "cp $REF $O/out-cps.tar && sync $O/out-cps.tar" \
  "dd bs=1M" "dd if=$REF of=$O/out-dd.tar bs=1M status=none"

section zstd -- \
  "seedforge" "$SF airgap --layout $L --out $O/out-sf.tar.zst --level 3 --threads 2" \
  "zstd" "zstd -q -3 -T2 -f $REF -o $O/out-zstd.tar.zst" \
  "skopeo && zstd" "skopeo copy -q oci:$L:$REF_NAME docker-archive:$O/out-skopeo.tar && zstd -q -3 -T0 --rm -f $O/out-skopeo.tar -o $O/out-skopeo.tar.zst"

log "peak RSS, ${SIZE_MIB} MiB layout"
: >"$RESULTS/rss.tsv"
rss "zstd ${SIZE_MIB} MiB" "$L" --out "$O/out-r.tar.zst" --level 3 --threads 2
rss "plain ${SIZE_MIB} MiB" "$L" --out "$O/out-r.tar"

# The big reference tar is not needed any more: keep the disk footprint ~3 x SIZE.
rm -f "$REF"
if [ "$KEEP_LAYOUT" != 1 ] && [ "$SMALL_MIB" != "$SIZE_MIB" ]; then
  rm -rf "$L"
fi

log "layout: ${SMALL_MIB} MiB"
LS=$(make_layout "$SMALL_MIB")
"$SF" airgap -q --layout "$LS" --out "$O/ref-small.tar"
REFS=$O/ref-small.tar

log "peak RSS, ${SMALL_MIB} MiB layout"
rss "zstd ${SMALL_MIB} MiB" "$LS" --out "$O/out-r.tar.zst" --level 3 --threads 2
rss "plain ${SMALL_MIB} MiB" "$LS" --out "$O/out-r.tar"

gzip_cmds=(
  "seedforge" "$SF airgap --layout $LS --out $O/out-sf.tar.gz"
  "gzip -6" "gzip -6 -c $REFS > $O/out-gzip.tar.gz"
)
if have pigz; then
  gzip_cmds+=("pigz -6" "pigz -6 -p 2 -c $REFS > $O/out-pigz.tar.gz")
fi
RUNS=$GZIP_RUNS section gzip -- "${gzip_cmds[@]}"

python3 - "$RESULTS" <<'PY' | tee "$RESULTS/rss.md"
import sys
peak = {}
for line in open(f"{sys.argv[1]}/rss.tsv"):
    label, kib = line.rstrip("\n").split("\t")
    peak.setdefault(label, []).append(int(kib))
print("### peak RSS of seedforge airgap (3 runs each)\n")
print("| case | max RSS [MiB] | runs [KiB] |\n|---|---:|---|")
for label, v in peak.items():
    print(f"| {label} | {max(v) / 1024:.1f} | {', '.join(map(str, v))} |")
PY

{
  echo "# seedforge airgap benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc) SIZE_MIB=$SIZE_MIB SMALL_MIB=$SMALL_MIB RUNS=$RUNS GZIP_RUNS=$GZIP_RUNS WARMUP=$WARMUP"
  echo "$(use_hyperfine && hyperfine --version || echo /usr/bin/time); $(skopeo --version); $(zstd -V); $(gzip -V | head -1)"
  echo
  for s in plain zstd gzip; do [ -f "$RESULTS/$s.md" ] && cat "$RESULTS/$s.md"; done
  cat "$RESULTS/rss.md"
} >"$RESULTS/summary.md"

log "done; raw results and summary.md in $RESULTS"
cat "$RESULTS/summary.md"
