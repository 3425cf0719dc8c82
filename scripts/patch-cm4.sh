# Sourced by the benchmark scripts: patch_cm4 ELF patches a p256-cm4 image for QEMU.
#
# QEMU workaround for the p256-cm4 image. Its `mul288x288` has `ldm r4,{r6}`, which LLVM
# assembles as the 32-bit LDM encoding with one register (e8 94 0040): UNPREDICTABLE in ARMv7-M
# (T2 LDM needs two or more registers). QEMU makes it UNDEFINED, so the image would hard-fault;
# Cortex-M silicon loads the register (the crate is tested on hardware). The image run here has
# that one instruction replaced by `ldr.w r6,[r4]` (f8d4 6000): same size, same effect, one
# instruction for one, so the checks and the counts are those of the built code. The patch is
# applied only where expected, exactly once, or the script stops.
patch_cm4() {
  local elf=$1 start size hits
  read -r start size < <(nm -S "$elf" | awk '$4=="mul288x288"{print $1, $2}')
  [ -n "${start:-}" ] || { echo "patch-cm4: no mul288x288 in $elf" >&2; return 1; }
  local text_addr text_off
  read -r text_addr text_off < <(readelf -S -W "$elf" | sed 's/^ *\[ *[0-9]*\]//' |
    awk '$1==".text"{print $3, $4}')
  local lo=$(( 0x$start - 1 - 0x$text_addr + 0x$text_off )) hi=$(( 0x$start - 1 + 0x$size - 0x$text_addr + 0x$text_off ))
  hits=$(LC_ALL=C grep -obUaP '\x94\xe8\x40\x00' "$elf" | cut -d: -f1 |
    awk -v lo="$lo" -v hi="$hi" '$1>=lo && $1<hi')
  if [ "$(printf '%s\n' "$hits" | grep -c .)" != 1 ]; then
    echo "patch-cm4: expected one single-register LDM.W in mul288x288, found: ${hits:-none}" >&2
    return 1
  fi
  printf '\xd4\xf8\x00\x60' | dd of="$elf" bs=1 seek="$hits" conv=notrunc status=none
}
