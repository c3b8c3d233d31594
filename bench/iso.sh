#!/usr/bin/env bash
# Benchmarks `seedforge iso` against the peers that make NoCloud seed ISOs, on a 1 GiB
# payload, plus peak RSS on a 5 GiB payload.
#
#   bench/iso.sh                     # ~3 min on 2 cores; results in BENCHMARKS.md (## iso)
#   RUNS=5 SIZE_MIB=1024 bench/iso.sh
#
# The commands run alternately, round by round, in a rotating order, so drift on a noisy
# machine hits them all alike; the warm-up round is discarded. Each run is a
# `hyperfine --runs 1` whose --prepare deletes the outputs and runs `sync`, so every run
# starts with no dirty pages. No command syncs at its end, except that seedforge fsyncs
# the image it writes (atomic write: temp file, fsync, rename); `cp -r + sync` shows what
# that durability costs a plain copy.
#
# Environment: SIZE_MIB (1024), BIG_MIB (5120, the RSS payload, made of hard links to the
# 1 GiB payload's files so it costs no extra disk), RUNS (5), WARMUP (1),
# RESULTS=DIR for the raw results (default: a new temp dir, kept and printed at the end).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MIB=${SIZE_MIB:-1024}
BIG_MIB=${BIG_MIB:-5120}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
TMP=${TMPDIR:-/tmp}
START=$SECONDS

have() { command -v "$1" >/dev/null 2>&1; }
log() { printf '\n== %s (t=%ss)\n' "$*" "$((SECONDS - START))" >&2; }
die() { echo "iso.sh: $*" >&2; exit 1; }

for t in python3 hyperfine xorriso genisoimage; do have "$t" || die "$t is required"; done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is required for peak RSS"

need_mib=$((SIZE_MIB * 3 + BIG_MIB + 512))
avail_mib=$(df -Pm "$TMP" | awk 'NR == 2 { print $4 }')
[ "$avail_mib" -ge "$need_mib" ] || die "need ~${need_mib} MiB free in $TMP, have ${avail_mib}"

WORK=$(mktemp -d "$TMP/seedforge-iso-bench.XXXXXX")
RESULTS=${RESULTS:-$(mktemp -d "$TMP/seedforge-iso-bench-results.XXXXXX")}
mkdir -p "$RESULTS/raw"
O=$WORK/out
mkdir -p "$O"
trap 'rm -rf "$WORK"' EXIT

log "building seedforge (release)"
(cd "$ROOT" && cargo build --release --quiet)
SF=$ROOT/target/release/seedforge

# The payload: the NoCloud files plus 8 incompressible files totalling SIZE_MIB.
log "payload: ${SIZE_MIB} MiB"
P=$WORK/payload
mkdir -p "$P/payload"
printf '#cloud-config\nhostname: bench\n' >"$P/user-data"
printf 'instance-id: bench\n' >"$P/meta-data"
printf 'version: 2\n' >"$P/network-config"
for i in 1 2 3 4 5 6 7 8; do
  head -c "$((SIZE_MIB / 8))M" /dev/urandom >"$P/payload/part-$i.bin"
done
du -sh "$P" >&2

# run_once FILE LABEL PREPARE CMD RAW: one timed run; appends "LABEL wall user sys" to FILE.
run_once() {
  local tsv=$1 label=$2 prep=$3 cmd=$4 j=$5.json
  hyperfine --runs 1 --style none --output null --prepare "$prep" --export-json "$j" \
    "$cmd" >/dev/null
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(sys.argv[2], r["times"][0], r["user"], r["system"], sep="\t")' "$j" "$label" >>"$tsv"
}

# section NAME -- LABEL CMD [LABEL CMD ...]: WARMUP + RUNS alternating rounds.
section() {
  local name=$1; shift 2
  local labels=() cmds=() n r i k
  while [ $# -gt 0 ]; do labels+=("$1"); cmds+=("$2"); shift 2; done
  n=${#labels[@]}
  log "$name: ${WARMUP} warm-up + ${RUNS} alternating rounds of ${labels[*]}"
  : >"$RESULTS/$name.tsv"
  for ((i = 0; i < n; i++)); do printf '%s\t%s\n' "${labels[$i]}" "${cmds[$i]}"; done \
    >"$RESULTS/$name.commands.tsv"
  local prep="rm -rf $O/out-*; sync"
  for ((r = 0; r < WARMUP + RUNS; r++)); do
    for ((k = 0; k < n; k++)); do
      i=$(((k + r) % n))
      if [ "$r" -lt "$WARMUP" ]; then
        run_once /dev/null "${labels[$i]}" "$prep" "${cmds[$i]}" "$RESULTS/raw/$name-warmup-cmd$i"
      else
        run_once "$RESULTS/$name.tsv" "${labels[$i]}" "$prep" "${cmds[$i]}" "$RESULTS/raw/$name-round$r-cmd$i"
      fi
    done
  done
  rm -rf "$O"/out-*
  summarize "$name"
}

# summarize NAME: markdown table; ratios are seedforge's median wall (or CPU) over each row's.
summarize() {
  python3 - "$RESULTS" "$1" <<'PY'
import statistics as st, sys
res, name = sys.argv[1], sys.argv[2]
cmds = [l.rstrip("\n").split("\t", 1) for l in open(f"{res}/{name}.commands.tsv")]
runs = {}
for line in open(f"{res}/{name}.tsv"):
    label, wall, user, sys_ = line.split("\t")
    runs.setdefault(label, []).append((float(wall), float(user), float(sys_)))
rows = []
for label, _ in cmds:
    t = runs[label]
    rows.append((label, st.median(w for w, _, _ in t), st.mean(w for w, _, _ in t),
                 st.stdev(w for w, _, _ in t) if len(t) > 1 else 0.0,
                 st.median(u for _, u, _ in t), st.median(s for _, _, s in t),
                 st.median(u + s for _, u, s in t), len(t)))
base = rows[0]
out = [f"### {name} ({base[7]} runs each)", "",
       "| command | wall median [s] | wall mean ± σ [s] | user [s] | sys [s] | CPU user+sys [s] | seedforge / this, wall | seedforge / this, CPU |",
       "|---|---:|---:|---:|---:|---:|---:|---:|"]
for label, med, mean, sd, u, s, cpu, _ in rows:
    out.append(f"| {label} | {med:.3f} | {mean:.3f} ± {sd:.3f} | {u:.2f} | {s:.2f} | {cpu:.2f} | "
               f"{base[1] / med:.2f}x | {base[6] / cpu:.2f}x |")
text = "\n".join(out) + "\n"
open(f"{res}/{name}.md", "w").write(text)
print(text)
PY
}

section iso-1g -- \
  "seedforge iso" "$SF iso -q --source-date-epoch 0 --out $O/out-sf.iso $P" \
  "xorriso -as mkisofs -J -r" "xorriso -as mkisofs -quiet -J -r -V cidata -o $O/out-xorriso.iso $P" \
  "genisoimage -J -r" "genisoimage -quiet -J -r -V cidata -o $O/out-geniso.iso $P" \
  "cp -r" "cp -r $P $O/out-cp" \
  "cp -r + sync" "cp -r $P $O/out-cps && find $O/out-cps -type f -exec sync {} +"

# Peak RSS: the 1 GiB payload and a BIG_MIB payload of hard links to its files.
log "peak RSS"
B=$WORK/big
copies=$(((BIG_MIB + SIZE_MIB - 1) / SIZE_MIB))
mkdir -p "$B"
cp "$P"/user-data "$P"/meta-data "$P"/network-config "$B"/
for c in $(seq 1 "$copies"); do cp -rl "$P/payload" "$B/payload-$c"; done
du -sh --apparent-size "$B" >&2
: >"$RESULTS/rss.tsv"
for spec in "${SIZE_MIB} MiB:$P" "$((copies * SIZE_MIB)) MiB:$B"; do
  label=${spec%%:*} dir=${spec#*:}
  for r in 1 2 3; do
    rm -rf "$O"/out-*; sync
    /usr/bin/time -f "%M %e" -o "$O/rss" "$SF" iso -q --out "$O/out-rss.iso" "$dir"
    printf '%s\t%s\n' "$label" "$(cat "$O/rss")" >>"$RESULTS/rss.tsv"
  done
  ls -l "$O/out-rss.iso" >&2
done
rm -rf "$O"/out-* "$O/rss"
python3 - "$RESULTS" <<'PY' | tee "$RESULTS/rss.md"
import sys
peak = {}
for line in open(f"{sys.argv[1]}/rss.tsv"):
    label, rest = line.rstrip("\n").split("\t")
    kib, wall = rest.split()
    peak.setdefault(label, []).append((int(kib), float(wall)))
print("### peak RSS of seedforge iso (3 runs each)\n")
print("| payload | max RSS [MiB] | runs [KiB] | wall [s] |\n|---|---:|---|---|")
for label, v in peak.items():
    print(f"| {label} | {max(k for k, _ in v) / 1024:.1f} | {', '.join(str(k) for k, _ in v)} | "
          f"{', '.join(f'{w:.2f}' for _, w in v)} |")
PY

{
  echo "# seedforge iso benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "nproc=$(nproc) SIZE_MIB=$SIZE_MIB BIG_MIB=$BIG_MIB RUNS=$RUNS WARMUP=$WARMUP"
  echo "$(hyperfine --version); $(xorriso -version 2>/dev/null | head -1); $(genisoimage -version 2>&1 | head -1); $(cp --version | head -1)"
  echo
  cat "$RESULTS/iso-1g.md" "$RESULTS/rss.md"
} >"$RESULTS/summary.md"
log "done; raw results and summary.md in $RESULTS"
cat "$RESULTS/summary.md"
