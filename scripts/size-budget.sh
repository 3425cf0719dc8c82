#!/usr/bin/env bash
# Firmware size budget (issue 5, docs/PERFORMANCE.md): measures the firmware images' flash and
# static RAM, and the RAM the QEMU image really uses on a scenario (static + what the main
# loop's frame holds + the deepest stack of any request, as the firmware reports them), then
# fails when any figure is past its line in firmware/size-budget.toml. Sizes, not timings.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v llvm-objdump >/dev/null || need+=(llvm) # scripts/stack-bound.py disassembles with it
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

target=thumbv7em-none-eabihf

# Flash: every allocated section with contents (.vector_table, .text, .rodata, p256-cm4's
# .p256-cortex-m4, .data's initial values). Static RAM: every allocated writable section
# (.data, .bss, .uninit). mawk has no strtonum.
hexfn='function hex(h,  i,v){v=0;for(i=1;i<=length(h);i++)v=v*16+index("0123456789abcdef",substr(tolower(h),i,1))-1;return v}'
sections() { readelf -S -W "$1" | sed 's/^ *\[ *[0-9]*\]//'; }
flash() { sections "$1" | awk "$hexfn"' $2=="PROGBITS" && $7 ~ /A/ {s+=hex($5)} END{print s+0}'; }
sram() { sections "$1" | awk "$hexfn"' ($2=="PROGBITS" || $2=="NOBITS") && $7 ~ /W/ && $7 ~ /A/ {s+=hex($5)} END{print s+0}'; }
declare -A got

fw=(--locked -q -p tally-firmware --release --target "$target" --bin tally-firmware)
cargo build "${fw[@]}"
# The licensing core alone (firmware/src/bin/core_image.rs) and the empty runtime it is
# measured against.
cargo build --locked -q -p tally-firmware --release --target "$target" --bin core_image --bin baseline
cargo build --locked -q -p tally-firmware --release --target "$target" --bin core_image --bin baseline \
  --features p256-cm4 --target-dir target/p256-cm4
cargo build --locked -q --release -p tally-host-sim --bin tally-sim

qemu_elf=target/$target/release/tally-firmware
got[mps2-an386.flash]=$(flash "$qemu_elf")
got[mps2-an386.static-ram]=$(sram "$qemu_elf")
# Every p256-cm4 build shares target/p256-cm4 (the nRF52840 image uses p256-cm4 too: the same
# tally-core, built once); its tally-firmware is whichever was built last, so each is
# measured right after its build.
cm4=target/p256-cm4/$target/release
cargo build "${fw[@]}" --features p256-cm4 --target-dir target/p256-cm4
got[mps2-an386-p256-cm4.flash]=$(flash "$cm4/tally-firmware")
cp "$cm4/tally-firmware" "$cm4/tally-firmware.mps2" # for the panic-path check below
cargo build "${fw[@]}" --no-default-features --features board-nrf52840 --target-dir target/p256-cm4
got[nrf52840.flash]=$(flash "$cm4/tally-firmware")
got[nrf52840.static-ram]=$(sram "$cm4/tally-firmware")
cp "$cm4/tally-firmware" "$cm4/tally-firmware.nrf52840"

# The licensing core: its image minus the runtime's; its RAM: the agent + the deepest stack of
# its calls (core_image prints both; the caller's scratch is printed, not counted).
core_ram() {
  local report agent stack scratch
  report=$(timeout 300 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic \
    -semihosting-config enable=on,target=native -kernel "$1" | tail -1)
  agent=$(sed -n 's/.*agent \([0-9]*\) bytes.*/\1/p' <<<"$report")
  stack=$(sed -n 's/.*deepest stack \([0-9]*\) bytes.*/\1/p' <<<"$report")
  scratch=$(sed -n 's/.*scratch \([0-9]*\) bytes.*/\1/p' <<<"$report")
  if [ -z "$agent" ] || [ -z "$stack" ]; then
    echo "size-budget: no figures from $1: $report" >&2
    return 1
  fi
  echo "$((agent + stack)) $agent $stack ${scratch:-?}"
}
core_elf=target/$target/release/core_image
got[core.flash]=$(($(flash "$core_elf") - $(flash "target/$target/release/baseline")))
read -r total core_agent core_stack core_scratch < <(core_ram "$core_elf") || exit 1
got[core.ram]=$total
# The same with p256-cm4, on an image patched for QEMU (scripts/patch-cm4.sh says why).
source scripts/patch-cm4.sh
cm4_qemu=$(mktemp)
cp "$cm4/core_image" "$cm4_qemu"
patch_cm4 "$cm4_qemu"
read -r total cm4_agent cm4_stack _ < <(core_ram "$cm4_qemu") || exit 1
rm -f "$cm4_qemu"
got[core-p256-cm4.ram]=$total
got[core-p256-cm4.flash]=$(($(flash "$cm4/core_image") - $(flash "$cm4/baseline")))
# The same RAM as a worst case: the agent + the call-graph bound of the deepest entry point
# into the core (scripts/stack-bound.py), whatever path a run takes.
stack_bound() {
  local out
  out=$(python3 scripts/stack-bound.py "$1") || { echo "size-budget: stack-bound failed on $1" >&2; return 1; }
  sed -n 's/^bound \([0-9]*\) .*/\1/p' <<<"$out"
}
python3 scripts/stack-bound.py --self-test >/dev/null
core_bound=$(stack_bound "$core_elf") || exit 1
cm4_bound=$(stack_bound "$cm4/core_image") || exit 1
# A bound below a stack the run measured means the analysis missed a path: fail.
for pair in "$core_bound $core_stack portable" "$cm4_bound $cm4_stack p256-cm4"; do
  read -r b m what <<<"$pair"
  if [ "$b" -lt "$m" ]; then
    echo "size-budget: the $what call-graph bound ($b) is below the measured stack ($m)" >&2
    exit 1
  fi
done
# No panic path in the licensing core (DESIGN.md §2.2): the portable core_image links no call
# into core's panic functions at all, so no panic handler either; with p256-cm4, only the
# crate's own table indexing (third-party, in bounds by its algorithm) is allowed.
python3 scripts/panic-paths.py "$core_elf" >/dev/null ||
  { python3 scripts/panic-paths.py "$core_elf" >&2; echo "size-budget: a panic path in the core" >&2; exit 1; }
python3 scripts/panic-paths.py "$cm4/core_image" --allow p256_cm4 >/dev/null ||
  { python3 scripts/panic-paths.py "$cm4/core_image" --allow p256_cm4 >&2; echo "size-budget: a panic path in the core (p256-cm4)" >&2; exit 1; }
core_panics=$(python3 scripts/panic-paths.py "$cm4/core_image" --allow p256_cm4 | sed -n 's/^panic sites \([0-9]*\).*/\1/p')
# The firmware images: none in Tally's own code (the serial protocol, the boards' drivers, the
# console and rendering); their board crates' and the standard library's own checks allowed.
for fw in "$qemu_elf" "$cm4/tally-firmware.mps2" "$cm4/tally-firmware.nrf52840"; do
  allow=(--allow core --allow semihosting --allow defmt_semihosting --allow defmt_rtt --allow nrf_hal_common --allow p256_cm4)
  python3 scripts/panic-paths.py "$fw" "${allow[@]}" >/dev/null ||
    { python3 scripts/panic-paths.py "$fw" "${allow[@]}" >&2; echo "size-budget: a panic path in Tally's code in $fw" >&2; exit 1; }
done
got[core.ram-bound]=$((core_agent + core_bound))
got[core-p256-cm4.ram-bound]=$((cm4_agent + cm4_bound))

# RAM in use on the QEMU board: a scenario that boots, records usage, measures for 30 days,
# saves a usage file, imports the ACK and shows everything (the deepest requests there are).
report=$(printf '%s\n' 'license smart transport off' 'sim usage network-essentials 2' \
  'sim usage dna-essentials 1' 'sim clock advance 30d' \
  'license smart save usage unreported file bootflash:u.txt' \
  'sim authority upload bootflash:u.txt bootflash:ack.txt' 'license smart import bootflash:ack.txt' \
  'show license all' 'show license rum id all detail' 'sim flash' |
  timeout 600 target/release/tally-sim console --device "qemu:$qemu_elf" | tail -1)
peak=$(sed -n 's/.*deepest stack \([0-9]*\) bytes.*/\1/p' <<<"$report")
held=$(sed -n 's/.*, \([0-9]*\) bytes held by the main loop.*/\1/p' <<<"$report")
if [ -z "$peak" ] || [ -z "$held" ]; then
  echo "size-budget: no stack figures from the firmware: $report" >&2
  exit 1
fi
got[mps2-an386.ram]=$((got[mps2-an386.static-ram] + held + peak))

fail=0
printf '%-28s %10s %10s\n' figure bytes budget
for key in core.flash core-p256-cm4.flash core.ram core-p256-cm4.ram core.ram-bound core-p256-cm4.ram-bound mps2-an386.flash mps2-an386-p256-cm4.flash mps2-an386.static-ram mps2-an386.ram \
  nrf52840.flash nrf52840.static-ram; do
  budget=$(awk -F= -v k="$key" '{gsub(/[ \t]/,"",$1); gsub(/[ \t]|#.*/,"",$2)} $1==k{print $2}' firmware/size-budget.toml)
  if [ -z "$budget" ]; then
    echo "size-budget: no line for $key in firmware/size-budget.toml" >&2
    fail=1
    continue
  fi
  mark=""
  if [ "${got[$key]}" -gt "$budget" ]; then mark="  OVER BUDGET"; fail=1; fi
  printf '%-28s %10d %10d%s\n' "$key" "${got[$key]}" "$budget" "$mark"
done
echo "(core.ram = agent $core_agent + deepest stack $core_stack; core-p256-cm4.ram = agent $cm4_agent + deepest stack $cm4_stack; the caller's scratch for messages and files is not counted: $core_scratch bytes)"
echo "(panic paths: none in the portable core; $core_panics with p256-cm4, all in the p256-cm4 crate; none in Tally's code in the firmware images: scripts/panic-paths.py)"
echo "(*.ram-bound = the agent + the call-graph bound of the deepest entry point: $core_bound / $cm4_bound bytes)"
echo "(mps2-an386.ram = static $((got[mps2-an386.static-ram])) + held by the main loop $held + deepest stack $peak)"
exit $fail
