#!/usr/bin/env python3
"""Panic paths left in a Cortex-M image (issue 5: no panics on target; DESIGN.md §2.2).

Clippy's lints keep `unwrap`, `expect`, `panic!` and indexing out of the core's source, but the
compiler still inserts checks it cannot prove away (a slice length, a divisor): each is a call
into `core`'s panic functions, and the linker keeps the panic handler only if one is left.
This lists every such call site with the function it is in after inlining (the innermost
source frame, by `llvm-addr2line -i`), and fails when a site's crate is not allowed.

    panic-paths.py ELF [--allow CRATE]...

The portable `core_image` must have none (no panic handler is linked at all); with `p256-cm4`
the crate's own table indexing is allowed (`--allow p256_cm4`): it is third-party code, in
bounds by its algorithm. The firmware images allow their board crates (semihosting, defmt's
transports, nrf-hal's NVMC) and `core`: a site whose every frame is in the standard library
is one of its own invariant checks in a function it did not inline (a `Chunks` size of
zero, a formatting width past `u16`), listed with the functions that call it.
"""
import re
import subprocess
import sys

# The functions through which every panic goes (their mangled names hold these paths).
PANIC_FN = re.compile(
    r"4core9panicking|panic_const|len_mismatch_fail|slice_index_fail|4core4cell\d+panic_|"
    r"expect_failed|unwrap_failed|rust_begin_unwind"
)
CALL = re.compile(r"^\s*([0-9a-f]+):\s+(?:bl|blx|b|b\.w|b\.n|beq\.w|bne\.w|b[a-z]{2}\.w)\s+0x[0-9a-f]+ <([^>+]+)")
FUNC = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")


def sites(elf):
    """(address, caller symbol) of every call or branch into a panic function from outside,
    and who calls each symbol (address of the call, symbol it is in)."""
    dis = subprocess.run(
        ["llvm-objdump", "-d", "--no-show-raw-insn", elf], check=True, capture_output=True, text=True
    ).stdout
    current, out, callers = None, [], {}
    for line in dis.splitlines():
        m = FUNC.match(line)
        if m:
            current = m.group(1)
            continue
        m = CALL.match(line)
        if not m:
            continue
        callers.setdefault(m.group(2), []).append(int(m.group(1), 16))
        if PANIC_FN.search(m.group(2)) and not (current and PANIC_FN.search(current)):
            out.append((int(m.group(1), 16), current))
    return out, callers


def innermost(elf, addr):
    """The function the call at `addr` is in after inlining, and its source line: the innermost
    frame outside the standard library (a bounds check inlined from `core` counts as the code
    that indexed)."""
    out = subprocess.run(
        ["llvm-addr2line", "-i", "-f", "-C", "-e", elf, hex(addr)],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    frames = list(zip(out[0::2], out[1::2]))
    for name, line in frames:
        if "/rustc/" not in line:
            return readable(name), line
    # Every frame is the standard library's: counted as `core`.
    name, line = frames[0] if frames else ("?", "?")
    return "core::" + readable(name), line


def readable(name):
    return name.replace("_$LT$", "<").replace("$GT$", ">").replace("$u20$", " ")


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    elf, allow = argv[0], []
    rest = argv[1:]
    while rest:
        if rest[0] == "--allow" and len(rest) > 1:
            allow.append(rest[1])
            rest = rest[2:]
        else:
            print(f"panic-paths: unknown argument {rest[0]}", file=sys.stderr)
            return 2
    bad = 0
    found, callers = sites(elf)
    for addr, caller in found:
        where, line = innermost(elf, addr)
        ok = any(where.lstrip("<").startswith(c + "::") for c in allow)
        bad += not ok
        print(f"{'allowed' if ok else 'PANIC  '} {addr:#x} in {where} at {line} (symbol {caller})")
        if where.startswith("core::"):
            for at in sorted(set(callers.get(caller, [])))[:4]:
                print(f"          called at {at:#x} from {innermost(elf, at)[0]}")
    # A cross-check by the linker: it drops the panic handler when nothing calls it, so a
    # handler in an image where no site was found means the scan missed one.
    syms = subprocess.run(["llvm-nm", elf], check=True, capture_output=True, text=True).stdout
    if not found and "rust_begin_unwind" in syms:
        print("panic-paths: the panic handler is linked but no call into it was found", file=sys.stderr)
        return 1
    print(f"panic sites {len(found)}, not allowed {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
