#!/usr/bin/env bash
# ECDSA P-256 backends on Cortex-M4 (docs/PERFORMANCE.md, "Crypto backends").
# Builds firmware/src/bin/crypto_bench.rs for thumbv7em-none-eabihf (opt-level "s", LTO) twice,
# with RustCrypto `p256` and with `--features p256-cm4`, runs both under QEMU mps2-an386 with
# -icount shift=0 (SysTick ticks x 40 = instructions), and fails unless both images pass every
# check (RFC 6979 A.2.5, k*G, edge signatures, refusals, Wycheproof: core/tests/data/). Then
# prints a table: instructions per call, stack, and flash.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-system-arm >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm
fi

target=thumbv7em-none-eabihf
tdir=${CARGO_TARGET_DIR:-target}
out=$tdir/bench-crypto
mkdir -p "$out"
# The p256-cm4 build shares target/p256-cm4 with the size budget and the benchmark (no second
# build of the core with the feature).
for backend in p256 p256-cm4; do
  features=() dir=$tdir
  [ "$backend" = p256-cm4 ] && features=(--features p256-cm4) dir=$tdir/p256-cm4
  cargo build --locked -q -p tally-firmware --release --target "$target" --bin crypto_bench \
    "${features[@]}" --target-dir "$dir"
  cp "$dir/$target/release/crypto_bench" "$out/crypto_bench-$backend"
done

# QEMU needs one instruction of the p256-cm4 image patched: scripts/patch-cm4.sh says why.
source scripts/patch-cm4.sh
cp "$out/crypto_bench-p256-cm4" "$out/crypto_bench-p256-cm4.qemu"
patch_cm4 "$out/crypto_bench-p256-cm4.qemu"

run() {
  timeout 600 qemu-system-arm -machine mps2-an386 -nographic -monitor none \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel "$1"
}
status=0
for image in "$out/crypto_bench-p256" "$out/crypto_bench-p256-cm4.qemu"; do
  echo "== $(basename "$image")"
  if ! run "$image" | tee "$image.log"; then
    echo "bench-crypto: $(basename "$image") FAILED (exit ${PIPESTATUS[0]})" >&2
    status=1
  fi
  echo
done
[ "$status" = 0 ] || exit 1
for b in p256 p256-cm4; do
  log=$out/crypto_bench-$b.log
  [ "$b" = p256-cm4 ] && log=$out/crypto_bench-p256-cm4.qemu.log
  grep -q "^result backend=$b .* failed=0$" "$log" || { echo "bench-crypto: $b did not report success" >&2; exit 1; }
done

field() { grep '^result ' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k{print $2}'; }
# mawk has no strtonum.
hexfn='function hex(h,  i,v){v=0;for(i=1;i<=length(h);i++)v=v*16+index("0123456789abcdef",substr(tolower(h),i,1))-1;return v}'
# Flash: every allocated PROGBITS section (.vector_table, .text, .p256-cortex-m4, .rodata, .data).
flash() {
  readelf -S -W "$1" | sed 's/^ *\[ *[0-9]*\]//' |
    awk "$hexfn"' $2=="PROGBITS" && $7 ~ /A/ {s+=hex($5)} END{print s}'
}
# Named symbols of the ECDSA code (not SHA-256, which the core uses anyway; not anonymous
# constants, such as p256-cm4's second base-point table): a lower bound.
syms() {
  nm -S -C "$1" | awk -v re="$2" "$hexfn"' NF>=4 { name=$4; for(i=5;i<=NF;i++) name=name" "$i;
    if (name ~ re) s+=hex($2) } END{print s+0}'
}
ecdsa_re='P256_|p256|primeorder|elliptic_curve|crypto_bigint|ecdsa|rfc6979|hmac|tally_core::crypto|mul288x288|setzero|add_sub_helper'
sha_re='sha2::|digest::'

p=$out/crypto_bench-p256.log c=$out/crypto_bench-p256-cm4.qemu.log
fp=$(flash "$out/crypto_bench-p256") fc=$(flash "$out/crypto_bench-p256-cm4")
echo "== ECDSA P-256 on Cortex-M4F (QEMU mps2-an386, -icount shift=0; instructions, not cycles)"
printf '%-44s %14s %14s\n' "" "p256 0.14" "p256-cm4 0.4"
printf '%-44s %14s %14s\n' "verify (RFC 6979 key, \"sample\")" "$(field "$p" verify)" "$(field "$c" verify)"
printf '%-44s %14s %14s\n' "sign_prehash (RFC 6979 nonce)" "$(field "$p" sign)" "$(field "$c" sign)"
printf '%-44s %14s %14s\n' "LocalKey::sign_digest (signing key kept)" "$(field "$p" sign_key)" "$(field "$c" sign_key)"
printf '%-44s %14s %14s\n' "public key derivation" "$(field "$p" pubkey)" "$(field "$c" pubkey)"
printf '%-44s %14s %14s\n' "stack, verify / sign / public key (bytes)" \
  "$(field "$p" verify_stack)/$(field "$p" sign_stack)/$(field "$p" pubkey_stack)" \
  "$(field "$c" verify_stack)/$(field "$c" sign_stack)/$(field "$c" pubkey_stack)"
printf '%-44s %14s %14s\n' "checks passed" "$(field "$p" checks)" "$(field "$c" checks)"
printf '%-44s %14s %14s\n' "crypto_bench image flash (bytes)" "$fp" "$fc"
printf '%-44s %14s %14s\n' "  ECDSA symbols (nm, named only)" \
  "$(syms "$out/crypto_bench-p256" "$ecdsa_re")" "$(syms "$out/crypto_bench-p256-cm4" "$ecdsa_re")"
printf '%-44s %14s %14s\n' "  SHA-256 symbols (both; shared with the core)" \
  "$(syms "$out/crypto_bench-p256" "$sha_re")" "$(syms "$out/crypto_bench-p256-cm4" "$sha_re")"
printf '%-44s %14s\n' "flash saved by p256-cm4 (image difference)" "$((fp - fc))"
