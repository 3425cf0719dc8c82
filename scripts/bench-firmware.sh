#!/usr/bin/env bash
# Code size and instruction counts of the Tally core on Cortex-M (docs/PERFORMANCE.md), with
# the portable p256 backend and with p256-cm4.
# Builds the firmware images for thumbv7em-none-eabihf (opt-level "s", LTO), prints the size of
# the core (image minus a baseline with the same runtime), then runs the benchmark under QEMU
# mps2-an386 with -icount shift=0, where SysTick ticks x 40 = instructions.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v qemu-system-arm >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm
fi

build() { cargo build --locked -q -p tally-firmware --release --target "$1" "${@:2}"; }
build thumbv7em-none-eabihf --bins
build thumbv6m-none-eabi --bin tally-firmware --bin baseline

# .text + .rodata of an ELF (the generic elf32-little reader of the host's binutils).
flash() { size -A "$1" | awk '$1==".text"||$1==".rodata"||$1==".vector_table"{s+=$2} END{print s}'; }
ram() { size -A "$1" | awk '$1==".data"||$1==".bss"||$1==".uninit"{s+=$2} END{print s+0}'; }

echo "== code size (bytes of flash: .vector_table + .text + .rodata)"
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  dir="target/$target/release"
  printf '%-24s tally-firmware %7d   baseline (runtime only) %5d   static RAM %d\n' \
    "$target" "$(flash "$dir/tally-firmware")" "$(flash "$dir/baseline")" "$(ram "$dir/tally-firmware")"
done
size -A target/thumbv7em-none-eabihf/release/tally-firmware | awk '$1 ~ /^\.(vector_table|text|rodata|data|bss)$/'
# Where the image's named code and data go, by symbol (after LTO: agent code inlined into the
# server's handlers counts as the server's, so the core's share is a lower bound).
echo "-- by part (nm symbols, thumbv7em-none-eabihf)"
nm -S --size-sort -C target/thumbv7em-none-eabihf/release/tally-firmware 2>/dev/null |
  awk 'function hex(h,  i,c,v){v=0;for(i=1;i<=length(h);i++){c=index("0123456789abcdef",substr(tolower(h),i,1))-1;v=v*16+c};return v}
       NF>=4 && $3 !~ /^[bBdD]$/ {
         n=$4; for(i=5;i<=NF;i++) n=n" "$i; z=hex($2)
         if (n ~ /tally_firmware|tally_link|semihosting|defmt|cortex_m|nrf52840_hal|UART|Reset|HardFault|DefaultHandler/) k="firmware: server, boards, link, runtime"
         else if (n ~ /p256|primeorder|elliptic_curve|crypto_bigint|ecdsa|rfc6979|hmac|sha2|digest|der::|sec1|const_oid|mul288|P256_/) k="crypto: ECDSA P-256, SHA-256"
         else if (n ~ /tally_core::journal|crc::/) k="core: flash journal (incl. CRC tables)"
         else if (n ~ /tally_core::(cli|render|time|messages)|core::fmt/) k="core: console, rendering, formatting"
         else if (n ~ /tally_core|tally_hal/) k="core: agent, state, policy, reports, trust"
         else if (n ~ /serde|postcard|heapless|base64|cobs/) k="serde, postcard, heapless, COBS"
         else k="compiler builtins, core library, anonymous constants"
         s[k]+=z; t+=z }
       END { for (k in s) printf "%8d  %s\n", s[k], k; printf "%8d  all named symbols\n", t }' | sort -rn

echo
echo "== instructions (QEMU mps2-an386, Cortex-M4F, -icount shift=0)"
timeout 300 qemu-system-arm -machine mps2-an386 -nographic -monitor none \
  -semihosting-config enable=on,target=native -icount shift=0 \
  -kernel target/thumbv7em-none-eabihf/release/bench

echo
echo "== instructions with the p256-cm4 backend (same benchmark; image patched for QEMU)"
source scripts/patch-cm4.sh
cargo build --locked -q -p tally-firmware --release --target thumbv7em-none-eabihf --bin bench \
  --features p256-cm4 --target-dir target/p256-cm4
cm4=target/p256-cm4/thumbv7em-none-eabihf/release/bench
cp "$cm4" "$cm4.qemu"
patch_cm4 "$cm4.qemu"
timeout 300 qemu-system-arm -machine mps2-an386 -nographic -monitor none \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$cm4.qemu"
