#!/usr/bin/env bash
# Code size and instruction counts of the Tally core on Cortex-M (docs/PERFORMANCE.md).
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
  full=$(flash "$dir/tally-firmware"); base=$(flash "$dir/baseline")
  printf '%-24s image %7d   baseline %6d   tally-core (incl. p256, sha2) %7d   static RAM %d\n' \
    "$target" "$full" "$base" "$((full - base))" "$(ram "$dir/tally-firmware")"
done
size -A target/thumbv7em-none-eabihf/release/tally-firmware | awk '$1 ~ /^\.(vector_table|text|rodata|data|bss)$/'
# The flash journal's own code (its symbols, after inlining) and the CRC tables it uses.
nm -S --size-sort -C target/thumbv7em-none-eabihf/release/tally-firmware 2>/dev/null |
  awk 'function hex(h,  i,c,v){v=0;for(i=1;i<=length(h);i++){c=index("0123456789abcdef",substr(tolower(h),i,1))-1;v=v*16+c};return v}
       /journal::flash|crc::|CRC/ {s+=hex($2)} END{printf "flash journal symbols (incl. CRC tables): %d bytes\n", s}'


echo
echo "== instructions (QEMU mps2-an386, Cortex-M4F, -icount shift=0)"
timeout 300 qemu-system-arm -machine mps2-an386 -nographic -monitor none \
  -semihosting-config enable=on,target=native -icount shift=0 \
  -kernel target/thumbv7em-none-eabihf/release/bench
