# shellcheck shell=bash
# Shared by bench/iso.sh, bench/airgap.sh and bench/scale.sh (sourced, not run): durable
# against durable timing, with the page cache dropped before every run.
#
# Every command measured must leave its output on disk when it exits: seedforge fsyncs
# what it writes; the peers are followed by `sync FILE...` (fsync of the files they wrote).
# Before each run the outputs are deleted, `sync` runs and the page cache is dropped
# (`echo 3 > /proc/sys/vm/drop_caches`, root only; without root the cache stays warm and
# the tables say so). The commands of one comparison alternate round by round, the first
# one rotating; warm-up rounds are discarded. Wall time is taken with bash's
# $EPOCHREALTIME around `bash -c CMD` (microseconds; the shell start, ~1-2 ms, is in every
# figure alike). The 1-minute load average is recorded before every run.

# Callers set ROOT (the checkout), TMP, RUNS and WARMUP (RESULTS, a directory, if they
# like), then call `bench_start NAME`.

bench_have() { command -v "$1" >/dev/null 2>&1; }
bench_log() { printf '\n== %s (t=%ss)\n' "$*" "$SECONDS" >&2; }
bench_die() { echo "${0##*/}: $*" >&2; exit 1; }

# bench_start NAME: $WORK, a work folder removed on exit (an XFS mount in it unmounted
# first); $RESULTS, unless given; the page cache set up (bench_setup); $SF, the seedforge
# measured ($SEEDFORGE, else this checkout's release build, built now).
bench_start() {
  WORK=$(mktemp -d "$TMP/seedforge-$1-bench.XXXXXX")
  RESULTS=${RESULTS:-$(mktemp -d "$TMP/seedforge-$1-bench-results.XXXXXX")}
  trap bench_cleanup EXIT
  bench_setup
  SF=${SEEDFORGE:-$ROOT/target/release/seedforge}
  if [ -z "${SEEDFORGE:-}" ]; then
    bench_log "building seedforge (release)"
    (cd "$ROOT" && cargo build --release --locked --quiet)
  fi
}

bench_cleanup() {
  cd /
  bench_xfs_umount "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}

DROP_CACHES=0
bench_setup() {
  mkdir -p "$RESULTS"
  if [ "$(id -u)" = 0 ] && sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
    DROP_CACHES=1
  else
    echo "${0##*/}: cannot drop the page cache (not root?): runs start with a warm cache" >&2
  fi
}

# bench_cold: what runs before every measured command.
bench_cold() {
  sync
  if [ "$DROP_CACHES" = 1 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# XFS with reflink on a loop-mounted file: bench_xfs_mount DIR SIZE_MIB -> mounts at DIR/mnt
# and prints the mount point. Unmounted and deleted by bench_xfs_umount DIR.
bench_xfs_mount() {
  local dir=$1 mib=$2
  [ "$(id -u)" = 0 ] || bench_die "XFS runs need root (mount)"
  bench_have mkfs.xfs || bench_die "mkfs.xfs is required (apt-get install xfsprogs)"
  mkdir -p "$dir/mnt"
  truncate -s "${mib}M" "$dir/xfs.img"
  mkfs.xfs -q -f -m reflink=1 "$dir/xfs.img"
  mount -o loop "$dir/xfs.img" "$dir/mnt"
  echo "$dir/mnt"
}
bench_xfs_umount() {
  local dir=$1
  if mountpoint -q "$dir/mnt"; then umount "$dir/mnt"; fi
  rm -f "$dir/xfs.img"
}

# bench_section NAME CLEAN -- LABEL CMD [LABEL CMD ...]: WARMUP + RUNS alternating rounds.
# CLEAN is a command that deletes every output (run before each command). The first label
# is the baseline of the ratios (seedforge). Appends "label wall load" rows to NAME.tsv.
bench_section() {
  local name=$1 clean=$2; shift 3
  local labels=() cmds=() n r i k t0 t1 load
  while [ $# -gt 0 ]; do labels+=("$1"); cmds+=("$2"); shift 2; done
  n=${#labels[@]}
  bench_log "$name: $WARMUP warm-up + $RUNS alternating rounds of: ${labels[*]}"
  : >"$RESULTS/$name.tsv"
  for ((i = 0; i < n; i++)); do printf '%s\t%s\n' "${labels[$i]}" "${cmds[$i]}"; done \
    >"$RESULTS/$name.commands.tsv"
  for ((r = 0; r < WARMUP + RUNS; r++)); do
    for ((k = 0; k < n; k++)); do
      i=$(((k + r) % n))
      bash -c "$clean"
      bench_cold
      load=$(cut -d' ' -f1 /proc/loadavg)
      t0=$EPOCHREALTIME
      bash -c "${cmds[$i]}" >"$RESULTS/last.out" 2>&1 || {
        cat "$RESULTS/last.out" >&2
        bench_die "$name: '${labels[$i]}' failed"
      }
      t1=$EPOCHREALTIME
      if [ "$r" -ge "$WARMUP" ]; then
        printf '%s\t%s\t%s\n' "${labels[$i]}" "$(python3 -c "print(f'{$t1 - $t0:.6f}')")" "$load" \
          >>"$RESULTS/$name.tsv"
      fi
    done
  done
  bash -c "$clean"
  bench_summarize "$name"
}

# bench_summarize NAME: markdown table (medians, min-max, ratio to the first row, load).
bench_summarize() {
  python3 - "$RESULTS" "$1" "$DROP_CACHES" <<'PY'
import statistics as st, sys
res, name, dropped = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
cmds = [l.rstrip("\n").split("\t", 1) for l in open(f"{res}/{name}.commands.tsv")]
runs = {}
for line in open(f"{res}/{name}.tsv"):
    label, wall, load = line.rstrip("\n").split("\t")
    runs.setdefault(label, []).append((float(wall), float(load)))
base = st.median(w for w, _ in runs[cmds[0][0]])
loads = [l for v in runs.values() for _, l in v]
out = [f"### {name} ({len(runs[cmds[0][0]])} rounds; page cache {'dropped' if dropped else 'NOT dropped'} "
       f"before each run; load average {min(loads):.2f}-{max(loads):.2f})", "",
       "| command | median [s] | min-max [s] | seedforge / this |", "|---|---:|---:|---:|"]
for label, _ in cmds:
    w = [x for x, _ in runs[label]]
    med = st.median(w)
    out.append(f"| {label} | {med:.3f} | {min(w):.3f}-{max(w):.3f} | {base / med:.3f}x |")
text = "\n".join(out) + "\n"
open(f"{res}/{name}.md", "w").write(text)
print(text)
PY
}
