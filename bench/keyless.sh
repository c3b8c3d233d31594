#!/usr/bin/env bash
# Benchmarks a keyless signature check per image against a key check (BENCHMARKS.md,
# "keyless"): IMAGES small images (bench/make-signed-set.py) in a local docker-registry
# under two names, one set signed with a cosign key pair (cosign 3 from target/sid), the
# other keyless by the tests' private Sigstore (tests/common/keyless.py: a Fulcio-like CA,
# an embedded SCT, a log entry with SET, inclusion proof and checkpoint), each half classic
# `.sig`, half Sigstore bundle; `seedforge mirror` carries both into layouts, and the
# library's re-check of every carried signature (what `seedforge verify OUT` and the
# build's check of each image run) is timed over each, ROUNDS rounds alternating, medians.
# Then, in the same run, `seedforge mirror` of each set unchecked, with the key and keyless,
# and cosign 3 `verify` of each set, CLI_ROUNDS rounds alternating, medians per image.
#
#   bench/keyless.sh                    # IMAGES=40 ROUNDS=15, release build
#   IMAGES=100 ROUNDS=25 CLI_ROUNDS=5 bench/keyless.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYLESS_BENCH_IMAGES=${IMAGES:-40}
export KEYLESS_BENCH_ROUNDS=${ROUNDS:-15}
export KEYLESS_BENCH_CLI_ROUNDS=${CLI_ROUNDS:-3}
cargo test --release --test it keyless::bench -- --ignored --nocapture 2>&1 \
  | grep -E '^keyless bench:|test result|panicked'
