#!/usr/bin/env python3
"""Where an image's flash goes, by part (docs/PERFORMANCE.md's parts table of `core_image`).

    python3 scripts/flash-parts.py target/thumbv7em-none-eabihf/release/core_image
    python3 scripts/flash-parts.py --by-file target/thumbv7em-none-eabihf/release/core_image

Sums the sizes of the named code and data symbols (`llvm-nm -S`) in flash and classifies
them by their demangled names; what has no symbol (string literals, jump tables) is the
`.rodata` left over. After LTO a function's size includes what was inlined into it, so the
parts say where code ended up, not where it was written. A sizes report, not a test.

`--by-file` charges each byte of code to the source file that wrote it instead, through the
image's line table and inline records (`llvm-symbolizer --inlining`): library code inlined
into a function of this repository (an `Option` match, a `heapless` push, a `?`) counts for
that function's file, so the files add up to what each part of the design costs. Code that
no file of the repository inlined counts for its crate (`p256`, the core library, ...).

`--by-line` charges each byte to the innermost source line instead (what was inlined counts
where it was written: a `?` counts for `core::result`) and prints the 60 largest lines and
files: where the code is thickest, whoever called it.

`--inlined` lists the functions LTO inlined, each with the bytes of all its inlined copies and
how many call sites it was inlined at (a repository function's copies first): the helpers a
pass could take out of line (one body, a call at each site), and the types with two bodies
(`<T as Decode>::decode` and `::decode_into` both inlined: the thirteenth pass).
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
     r"elliptic_curve|ecdsa|sha2|rfc6979|hmac|digest|wnaf|subtle|ctutils|ff|group|tally_p256)(::|\.\.)|"
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


OURS = ("core/src/", "hal/src/", "p256/src/", "firmware/src/", "link/src/")


def line_ranges(elf):
    """(address, size) of every run of code in the line table."""
    out = subprocess.run(["llvm-dwarfdump", "--debug-line", elf], capture_output=True,
                         text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"0x([0-9a-f]{16})\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s*(.*)", line)
        if m:
            rows.append((int(m.group(1), 16), "end_sequence" in m.group(2)))
    for (a, end), (b, _) in zip(rows, rows[1:]):
        if not end and 0 < b - a < 0x10000:
            yield a, b - a


def owner(frames):
    """The repository file that wrote this code, else the crate of its innermost frame."""
    for f in frames:
        if f.startswith(OURS):  # relative to the workspace; libraries' paths are absolute
            return f
    f = frames[0] if frames else "?"
    if f.startswith("??"):
        return "no line information (compiler-builtins, outlined sequences)"
    m = re.search(r"/index\.crates\.io-[^/]+/([^/]+)/", f)
    if m:
        return re.sub(r"-[0-9][0-9.]*$", "", m.group(1)) + " (crate)"
    if "/library/" in f:
        return "core library / compiler-builtins"
    return "no line information (compiler-builtins, outlined sequences)"


def located(elf, inlining):
    """(size, symbolizer block) of every run of code in flash: its source location, or with
    `inlining` the chain of inlined frames, innermost first."""
    ranges = [r for r in line_ranges(elf) if r[0] < 0x2000_0000]
    query = "".join(f"0x{a:x}\n" for a, _ in ranges)
    flags = ["--inlining"] if inlining else []
    out = subprocess.run(["llvm-symbolizer", f"--obj={elf}", *flags, "--functions=none",
                          "--relativenames"], input=query, capture_output=True, text=True,
                         check=True).stdout
    return [(size, block) for (_, size), block in zip(ranges, out.split("\n\n"))]


def by_file(elf) -> int:
    got = {}
    for size, block in located(elf, inlining=True):
        frames = [ln.rsplit(":", 2)[0] for ln in block.strip().splitlines()]
        who = owner(frames)
        got[who] = got.get(who, 0) + size
    total = sum(got.values())
    print(f"{total:8d}  bytes of code in the line table")
    for who, n in sorted(got.items(), key=lambda kv: -kv[1]):
        print(f"{n:8d}  {who}")
    return 0


def by_line(elf) -> int:
    lines, files = {}, {}
    for size, block in located(elf, inlining=False):
        loc = block.strip().splitlines()[0].rsplit(":", 1)[0] if block.strip() else "?"
        loc = re.sub(r".*/index\.crates\.io-[^/]+/", "", loc)
        loc = re.sub(r".*/library/", "library/", loc)
        lines[loc] = lines.get(loc, 0) + size
        f = loc.rsplit(":", 1)[0]
        files[f] = files.get(f, 0) + size
    for title, got in (("files", files), ("lines", lines)):
        print(f"{sum(got.values()):8d}  bytes of code in the line table, largest {title}:")
        for who, n in sorted(got.items(), key=lambda kv: -kv[1])[:60]:
            print(f"{n:8d}  {who}")
    return 0


def inlined(elf) -> int:
    ranges = [r for r in line_ranges(elf) if r[0] < 0x2000_0000]
    query = "".join(f"0x{a:x}\n" for a, _ in ranges)
    out = subprocess.run(["llvm-symbolizer", f"--obj={elf}", "--inlining", "--functions=linkage",
                          "--relativenames"], input=query, capture_output=True, text=True,
                         check=True).stdout
    size, sites = {}, {}
    for (_, n), block in zip(ranges, out.split("\n\n")):
        lines = block.strip().splitlines()
        names, locs = lines[0::2], lines[1::2]
        # Every frame but the outermost (the symbol) is an inlined copy; its call site is the
        # location of the frame that holds it.
        for k in range(len(names) - 1):
            f = re.sub(r"::h[0-9a-f]{16}$", "", names[k])
            size[f] = size.get(f, 0) + n
            sites.setdefault(f, set()).add((locs[k + 1], names[-1]))
    rows = [(size[f], len(sites[f]), f) for f in size if len(sites[f]) > 1]
    ours = [r for r in rows if "tally_" in r[2]]
    for title, got in (("of the repository's functions", ours), ("of all", rows)):
        print(f"largest inlined copies {title} (bytes of all copies, call sites, function):")
        for n, k, f in sorted(got, key=lambda r: -r[0])[:40]:
            print(f"{n:8d} {k:4d}  {f[:160]}")
    return 0


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--inlined"] and len(args) == 2:
        return inlined(args[1])
    if args[:1] == ["--by-line"] and len(args) == 2:
        return by_line(args[1])
    if args[:1] == ["--by-file"] and len(args) == 2:
        return by_file(args[1])
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    elf = args[0]
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
