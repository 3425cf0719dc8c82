#!/usr/bin/env bash
# Smoke run of every cargo-fuzz target (fuzz/fuzz_targets: every decoder of input from outside
# the device) on its committed corpus, for a short budget each; fails on any crash, hang
# (an input that runs longer than 10 s), leak or failed check.
#
# Runs on the pinned stable toolchain: cargo-fuzz passes nightly -Z flags, which
# RUSTC_BOOTSTRAP=1 lets stable accept; AddressSanitizer's runtime ships with rust-std for
# x86_64-unknown-linux-gnu. New inputs go to a scratch directory, so the committed corpus stays
# as it is; a crashing input is kept in fuzz/artifacts/<target>/ (git-ignored).
#
#   FUZZ_SECONDS=600 bash scripts/fuzz-smoke.sh [target…]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# 10 s a target in CI keeps the whole .ci/run under 20 minutes; longer runs: FUZZ_SECONDS.
seconds="${FUZZ_SECONDS:-10}"

# libfuzzer-sys compiles libFuzzer (C++) in its build script.
if ! command -v c++ >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then echo "need root to install: g++" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

# target:max_len (bytes):dictionary. mount: an 8-sector image of 4 KiB sectors and the geometry
# byte; import: the largest file `license smart import` takes (8 KiB) and more.
targets=(mount:33000: envelope:8192: armour:12288:armour import:10240:armour provision:8192:
  console:4096:console)
if [ $# -gt 0 ]; then
  chosen=()
  for spec in "${targets[@]}"; do
    for w in "$@"; do
      if [ "${spec%%:*}" = "$w" ]; then chosen+=("$spec"); fi
    done
  done
  targets=("${chosen[@]}")
fi

# Fail on a stale fuzz/Cargo.lock rather than resolve afresh (as CI builds --locked).
cargo fetch --locked -q
cargo fuzz build
# .ci/run builds the targets in the background while other steps run, and runs them later.
if [ -n "${FUZZ_BUILD_ONLY:-}" ]; then
  echo "fuzz: targets built"
  exit 0
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for spec in "${targets[@]}"; do
  IFS=: read -r target max_len dict <<<"$spec"
  options=(-max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1)
  if [ -n "$dict" ]; then options+=(-dict="dict/$dict.dict"); fi
  mkdir -p "$scratch/$target"
  printf '\n--- %s: %s s on %s corpus files\n' "$target" "$seconds" \
    "$(find "corpus/$target" -type f | wc -l)"
  if ! cargo fuzz run "$target" "$scratch/$target" "corpus/$target" -- "${options[@]}" \
    2>"$scratch/$target.log"; then
    grep -E -A1 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|^SUMMARY|Test unit written' \
      "$scratch/$target.log" | head -n 40 || tail -n 40 "$scratch/$target.log"
    failed+=("$target")
  else
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' \
      "$scratch/$target.log" || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds} s without a failure"
