#!/usr/bin/env bash
# Runs the cargo-fuzz targets, each for a bounded time, starting from the committed seeds
# (fuzz/seeds/<target>/): reference, image_list, config, deb_version (Debian version
# parsing and ordering), packages (deb822 Packages/Release text and the resolver),
# iso_reader (ISO 9660 images; its seeds are real images without their 32 KiB system
# area, which the target puts back as zeros) and deb_reader (.deb control parts).
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS each (default 60)
#   FUZZ_SECONDS=600 scripts/fuzz.sh reference config
#
# Each target's body is a function in fuzz/entries.rs; `cargo test` (tests/fuzz_corpus.rs)
# runs every seed, every local crash (fuzz/artifacts/) and the local corpus (fuzz/corpus/)
# through the same functions without cargo-fuzz, so scripts/test.sh runs this script only
# when asked (FUZZ=1 or FUZZ_SECONDS=N).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The toolchain here is stable, so the
# sanitizer-free build is used with RUSTC_BOOTSTRAP for libFuzzer's instrumentation flags.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the run; `cargo test --test
# it fuzz_corpus::` replays it. Commit the input under fuzz/seeds/<target>/ with the fix, so
# every test run keeps replaying it, and add a unit test next to the parser it broke.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-60}
mapfile -t all < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^seedforge-fuzz$')
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  echo "== fuzz $t for ${SECONDS_EACH}s" >&2
  cargo fuzz run --sanitizer none "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
