#!/usr/bin/env bash
# PAR 2.0 recovery files for an export in parts (`export_parity:`, `build --export-parity`)
# against par2cmdline, in one run: making the recovery data of 1 GiB of parts at 10%, and
# repairing one part lost.
#
#   bench/parity.sh                        # ~5 min on 2 cores (RUNS=3), ~6 GiB free in TMPDIR
#   RUNS=5 SIZE_MIB=2048 bench/parity.sh
#   SEEDFORGE=target/release/seedforge bench/parity.sh
#
# Data: the lab (fixtures/lab: 1 server, 2 agents) with a `files:` payload of SIZE_MIB of
# random bytes and `seeds: {payload: shared}`, so the payload goes once into
# iso/payload.iso; exported with `--export-split 64MiB`: the payload ISO in 64 MiB parts,
# the three seeds whole. seedforge's set covers every file the export's SHA256SUMS lists
# and SHA256SUMS.wholes and join.sh; its slice size (1 MiB here: the largest part in 64
# slices) and recovery count (10% of the slices, rounded up) are read back from the set it
# wrote, and par2 create is given the same (-s, -c) over the same files, its memory limit
# raised so that it makes one pass (-m 2048), its threads its default (every core), its
# recovery files two of uniform size (-n2 -u; seedforge's are at most a part each).
#
# Measured, each run after the page cache is dropped (root) and `sync`, durable against
# durable (bench/durable.sh: par2 is followed by sync of what it wrote):
#   plain    rm -rf EXPORT; seedforge build --export-split 64MiB   (the export step reruns:
#            the parts cut again, hashed, fsynced)
#   parity   rm -rf EXPORT; seedforge build --export-split 64MiB --export-parity 10
#   create   par2 create -s SLICE -c COUNT -n2 -u -m2048 set.par2 FILES...; sync
#   repair   one 64 MiB part deleted: seedforge verify --repair EXPORT (finds it lost,
#            rebuilds it, checks it against SHA256SUMS, renames it, then verifies the whole
#            folder: SHA256SUMS and every ISO joined from its parts)
#   p-repair the same loss: par2 repair -m2048 set.par2; sync
# The recovery data's cost is parity − plain (the same build, the same parts, with and
# without the set); its ratio to create is the target (at most 1.0x). Commands alternate
# round by round, the first rotating; round 0 is a warm-up, discarded. Medians of RUNS.
# A repaired part must have its sha256 again.
#
# Environment: RUNS (3), SIZE_MIB (1024), PERCENT (10), SEEDFORGE (a binary to measure
# instead of building --release), PAR2 (par2 by default; sid's 1.x through its loader is
# added when target/sid-par2 holds it), KEEP=1 keeps the scratch folder.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
WARMUP=1
SIZE_MIB=${SIZE_MIB:-1024}
PERCENT=${PERCENT:-10}
TMP=${TMPDIR:-/tmp}
# shellcheck source=bench/durable.sh
. "$ROOT/bench/durable.sh"
bench_have par2 || bench_die "par2 is not installed (apt-get install par2)"
bench_start parity
if [ "${KEEP:-0}" = 1 ]; then trap - EXIT; echo "keeping $WORK" >&2; fi

PAR2=(par2)
SID=$ROOT/target/sid-par2/root
SID_LIBS=$SID/usr/lib/x86_64-linux-gnu
SID_PAR2=()
if [ -x "$SID/usr/bin/par2" ] \
  && "$SID_LIBS/ld-linux-x86-64.so.2" --library-path "$SID_LIBS" "$SID/usr/bin/par2" --version >/dev/null 2>&1; then
  SID_PAR2=("$SID_LIBS/ld-linux-x86-64.so.2" --library-path "$SID_LIBS" "$SID/usr/bin/par2")
fi

bench_log "data: the lab with a ${SIZE_MIB} MiB payload"
cp -a "$ROOT/fixtures" "$WORK/fx"
LAB=$WORK/fx/lab
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$LAB/payload.bin"
SHA=$(sha256sum "$LAB/payload.bin" | cut -d ' ' -f 1)
cat >>"$LAB/seedforge.yaml" <<YAML

files:
  - name: payload.bin
    source: payload.bin
    sha256: "$SHA"
seeds:
  payload: shared
export_dir: export
YAML
EXPORT=$LAB/export
build() { "$SF" -q build --config "$LAB/seedforge.yaml" --export-split 64MiB "$@"; }
build --export-parity "$PERCENT"
cp -a "$EXPORT" "$WORK/pristine"
SLICE=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(int.from_bytes(d[64:72],"little"))' "$EXPORT/export.par2")
COUNT=0
for v in "$EXPORT"/export.vol*.par2; do
  n=${v##*+}; n=${n%.par2}; COUNT=$((COUNT + 10#$n))
done
mapfile -t FILES < <(cut -c 67- "$EXPORT/SHA256SUMS" | grep -v '^export\.' ; echo SHA256SUMS.wholes; echo join.sh)
PART=$(cd "$EXPORT" && printf '%s\n' payload.iso.part* | sed -n 3p)
PART_SHA=$(sha256sum "$EXPORT/$PART" | cut -d ' ' -f 1)
BYTES=$(cd "$EXPORT" && cat "${FILES[@]}" | wc -c)
bench_log "set: ${#FILES[@]} files, $BYTES bytes, slice $SLICE, $COUNT recovery slices; $PART lost for the repairs"

# The input files alone, for par2 create (no recovery files).
mkdir "$WORK/inputs"
(cd "$WORK/pristine" && cp -a "${FILES[@]}" "$WORK/inputs/")

declare -A T
record() { T[$1]="${T[$1]:-} $2"; }
timed() { # NAME CMD...: prints nothing, records the wall time
  local name=$1 t0 t1
  shift
  bench_cold
  t0=$EPOCHREALTIME
  "$@"
  t1=$EPOCHREALTIME
  [ "$round" -ge "$WARMUP" ] && record "$name" "$(python3 -c "print($t1-$t0)")"
  return 0
}
# in_dir DIR SYNC CMD...: CMD run in DIR, then `sync` of the files matching SYNC there.
in_dir() {
  local dir=$1 pattern=$2
  shift 2
  (cd "$dir" && "$@" >/dev/null && for f in $pattern; do sync -- "$f"; done)
}
run_plain() { rm -rf "$EXPORT"; timed plain build; }
run_parity() { rm -rf "$EXPORT"; timed parity build --export-parity "$PERCENT"; }
run_create() {
  local d=$WORK/c
  rm -rf "$d"; cp -a "$WORK/inputs" "$d"
  timed create in_dir "$d" '*.par2' \
    "${PAR2[@]}" create -q -q -s"$SLICE" -c"$COUNT" -n2 -u -m2048 set.par2 "${FILES[@]}"
}
run_create_sid() {
  [ "${#SID_PAR2[@]}" -gt 0 ] || return 0
  local d=$WORK/c
  rm -rf "$d"; cp -a "$WORK/inputs" "$d"
  timed create_sid in_dir "$d" '*.par2' \
    "${SID_PAR2[@]}" create -q -q -s"$SLICE" -c"$COUNT" -n2 -u -m2048 set.par2 "${FILES[@]}"
}
run_repair() {
  local d=$WORK/r
  rm -rf "$d"; cp -a "$WORK/pristine" "$d"; rm "$d/$PART"
  timed repair "$SF" -q verify --repair "$d"
  [ "$(sha256sum "$d/$PART" | cut -d ' ' -f 1)" = "$PART_SHA" ] || bench_die "seedforge: $PART not rebuilt"
}
run_p_repair() {
  local d=$WORK/r
  rm -rf "$d"; cp -a "$WORK/pristine" "$d"; rm "$d/$PART"
  timed p_repair in_dir "$d" "$PART" \
    "${PAR2[@]}" repair -q -m2048 export.par2
  [ "$(sha256sum "$d/$PART" | cut -d ' ' -f 1)" = "$PART_SHA" ] || bench_die "par2: $PART not rebuilt"
}
ORDER=(run_plain run_parity run_create run_create_sid run_repair run_p_repair)
for ((round = 0; round <= RUNS; round++)); do
  bench_log "round $round (load $(cut -d ' ' -f 1 /proc/loadavg))"
  n=${#ORDER[@]}
  for ((i = 0; i < n; i++)); do
    "${ORDER[$(((i + round) % n))]}"
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# shellcheck disable=SC2086
{
  plain=$(median ${T[plain]}); parity=$(median ${T[parity]}); create=$(median ${T[create]})
  repair=$(median ${T[repair]}); p_repair=$(median ${T[p_repair]})
  cost=$(python3 -c "print($parity-$plain)")
  echo
  echo "parity bench: $BYTES bytes in ${#FILES[@]} files, slice $SLICE, $COUNT recovery slices, medians of $RUNS (load $(cut -d ' ' -f 1-3 /proc/loadavg))"
  printf '%-44s %8.2f s  (%s)\n' "seedforge build, export in parts" "$plain" "${T[plain]}"
  printf '%-44s %8.2f s  (%s)\n' "seedforge build, export in parts + ${PERCENT}%" "$parity" "${T[parity]}"
  printf '%-44s %8.2f s\n' "  recovery data (difference)" "$cost"
  printf '%-44s %8.2f s  (%s)\n' "par2 create -s$SLICE -c$COUNT + sync ($(par2 --version | head -1 | awk '{print $NF}'))" "$create" "${T[create]}"
  if [ -n "${T[create_sid]:-}" ]; then
    create_sid=$(median ${T[create_sid]})
    printf '%-44s %8.2f s  (%s)\n' "par2 create, sid's 1.x + sync" "$create_sid" "${T[create_sid]}"
  fi
  printf '%-44s %8.2fx\n' "recovery data / par2 create" "$(python3 -c "print($cost/$create)")"
  printf '%-44s %8.2f s  (%s)\n' "seedforge verify --repair (one part lost)" "$repair" "${T[repair]}"
  printf '%-44s %8.2f s  (%s)\n' "par2 repair + sync" "$p_repair" "${T[p_repair]}"
  printf '%-44s %8.2fx\n' "verify --repair / par2 repair" "$(python3 -c "print($repair/$p_repair)")"
}
