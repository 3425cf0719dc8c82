#!/usr/bin/env python3
"""Where an image's flash goes, by part (docs/PERFORMANCE.md's parts table of `core_image`).

    python3 scripts/flash-parts.py target/thumbv7em-none-eabihf/release/core_image

Sums the sizes of the named code and data symbols (`llvm-nm -S`) in flash and classifies
them by their demangled names; what has no symbol (string literals, jump tables) is the
`.rodata` left over. After LTO a function's size includes what was inlined into it, so the
parts say where code ended up, not where it was written. A sizes report, not a test.
"""

import re
import subprocess
import sys

# First match wins; the order puts the specific before the general.
PARTS = [
    ("main", "the harness's `main` and the agent calls the optimiser inlined into it",
     r"^core_image::|__cortex_m_rt_main"),
    ("crypto", "crypto: ECDSA P-256 (portable or p256-cm4), SHA-256, RFC 6979, HMAC",
     r"(^|<|_\$LT\$|\$u20\$)(p256|p256_cm4|crypto_bigint|primeorder|primefield|"
     r"elliptic_curve|ecdsa|sha2|rfc6979|hmac|digest|wnaf|subtle|ctutils|ff|group)(::|\.\.)|"
     r"^P256_|tally_core(::|\.\.)crypto"),
    ("decoders", "decoders (`tally_core::decode`, the journal's replay)",
     r"tally_core(::|\.\.)decode|replay"),
    ("encoders", "encoders (`tally_core::encode` + the types' derived `Serialize`)",
     r"tally_core(::|\.\.)encode|Serialize|serde"),
    ("envelope", "envelope (seal, verify, armour and its base64)",
     r"tally_core(::|\.\.)envelope"),
    ("journal", "the journal's write path, CRC",
     r"tally_core(::|\.\.)journal"),
    ("agent", "agent: usage, reports, schedule, ACK / policy / trust / authorization "
     "handling, state `apply`, syslog lines", r"tally_core|tally_hal"),
    ("outlined", "the machine outliner's shared sequences (opt-level z)", r"^OUTLINED_FUNCTION"),
    ("heapless", "heapless", r"heapless"),
    ("harness", "the harness's HAL doubles (RAM flash and files, the key) and semihosting",
     r"tally_firmware|semihosting|cortex_m"),
    ("builtins", "compiler builtins (`memcpy`, `memset`, ...), core library, anonymous constants",
     r""),
]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    elf = sys.argv[1]
    out = subprocess.run(["llvm-nm", "-S", "--demangle", elf], capture_output=True, text=True,
                         check=True).stdout
    flash_end = 0x2000_0000  # everything below is flash on the Cortex-M images
    got = {name: 0 for name, _, _ in PARTS}
    seen = set()
    for line in out.splitlines():
        f = line.split(None, 3)
        if len(f) < 4 or f[2].lower() not in "trd":
            continue
        addr, size, sym = int(f[0], 16) & ~1, int(f[1], 16), f[3]
        if addr >= flash_end or size == 0 or addr in seen:
            continue  # RAM, markers, and aliases of one body (`__aeabi_memcpy4`/`8`)
        seen.add(addr)
        for name, _, pattern in PARTS:
            if re.search(pattern, sym):
                got[name] += size
                break
    named = sum(got.values())
    print(f"{named:8d}  named symbols in flash")
    for name, what, _ in sorted(PARTS, key=lambda p: -got[p[0]]):
        print(f"{got[name]:8d}  {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
