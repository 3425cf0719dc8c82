#!/usr/bin/env python3
"""Worst-case stack of the licensing core's entry points, from the call graph of a Thumb image.

Usage: stack-bound.py <elf> [<symbol prefix of the roots>]

Reads `llvm-objdump -d` of the image. A function's frame is what its prologue reserves (push,
stmdb sp!, vpush, sub sp); its depth is its frame plus the deepest of its callees (bl, and b /
b.w to another function: tail calls). An indirect call (blx rN: a `dyn` sink, file system,
key or closure) may reach any function whose address the image holds in its sections
(vtables, literal pools) but the vector table: those are the only functions it can reach. The
core has no recursion, so a path never goes through one function twice.

The roots are the functions whose names start with the prefix (default: the agent's methods,
`_ZN10tally_core5agent`): every call a platform makes into the core. Prints the deepest roots
with their paths, then a last line `bound <bytes> <root>`. Exits 1 on what it cannot bound: a
stack pointer moved by a register, or recursion.
"""

import re
import struct
import subprocess
import sys

sys.setrecursionlimit(100000)


def sections(path):
    """(address, bytes) of every allocated section with contents but the vector table (its
    handlers are where the platform starts, not targets of the core's calls): ELF32, LE."""
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        sys.exit(f"stack-bound: {path}: not a 32-bit little-endian ELF")
    shoff, = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<IIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    names_off = headers[shstrndx][4]
    out = []
    for name_at, kind, flags, addr, off, size in headers:
        end = data.index(b"\0", names_off + name_at)
        name = data[names_off + name_at:end].decode()
        if kind == 1 and flags & 2 and name != ".vector_table":  # PROGBITS, SHF_ALLOC
            out.append((addr, data[off:off + size]))
    return out


def parse(dis):
    funcs = {}
    cur = None
    name = None
    label = re.compile(r"^([0-9a-f]+) <(.*)>:$")
    for line in dis.splitlines():
        m = label.match(line)
        if m:
            name = m.group(2)
            if re.fullmatch(r"\$[td](\.\d+)?", name):  # mapping symbols, not functions
                continue
            cur = funcs.setdefault(name, {"addr": int(m.group(1), 16), "frame": 0,
                                          "calls": set(), "indirect": False, "dynamic": []})
            continue
        if cur is None or "\t" not in line:
            continue
        f = cur
        m = re.search(r"\t(?:push(?:\.w)?|stmdb(?:\.w)?\s+sp!,)\s*\{([^}]*)\}", line)
        if m:
            f["frame"] += 4 * len(m.group(1).split(","))
        m = re.search(r"\tvpush(?:\.\d+)?\s+\{([^}]*)\}", line)
        if m:
            n = 0
            for r in m.group(1).split(","):
                r = r.strip()
                if "-" in r:
                    a, b = r.split("-")
                    n += int(b[1:]) - int(a[1:]) + 1
                else:
                    n += 1
            f["frame"] += 8 * n
        m = re.search(r"\tsub(?:\.w|w)?\s+sp, (?:sp, )?#(?:0x)?([0-9a-f]+)\b", line)
        if m:
            text = m.group(0)
            f["frame"] += int(m.group(1), 16 if "#0x" in text else 10)
        elif re.search(r"\t(?:sub|mov)(?:\.w|s)?\s+sp, (?:sp, )?r\d+", line):
            f["dynamic"].append(line.strip())
        m = re.search(r"\tstr(?:\.w)?\s+\w+, \[sp, #-(\d+)\]!", line)
        if m:
            f["frame"] += int(m.group(1))
        m = re.search(r"\t(?:bl|b\.w|b|blx)\s+(?:0x)?[0-9a-f]+ <([^>+]*)(\+0x[0-9a-f]+)?>", line)
        if m and m.group(2) is None and m.group(1) != name:
            f["calls"].add(m.group(1))
        if re.search(r"\tblx\s+r\d+", line):
            f["indirect"] = True
    return funcs


def address_taken(funcs, path):
    """Functions whose (Thumb) address appears as a word in any allocated section."""
    by_addr = {f["addr"] | 1: n for n, f in funcs.items()}
    taken = set()
    for base, blob in sections(path):
        for off in range(0, len(blob) - 3, 2):  # literal pools are word-aligned; vtables too
            w, = struct.unpack_from("<I", blob, off)
            if w in by_addr and (base + off) % 4 == 0:
                taken.add(by_addr[w])
    return taken


def cyclic(funcs, taken):
    """Functions on a cycle of the call graph (direct calls, and indirect calls to every
    address-taken function): the only ones a path can meet twice (Tarjan's SCCs)."""
    edges = {n: set(f["calls"]) | (taken if f["indirect"] else set()) for n, f in funcs.items()}
    index, low, stack, on, out = {}, {}, [], set(), set()
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in funcs:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1 or v in edges.get(v, ()):
                out.update(scc)

    for v in funcs:
        if v not in index:
            visit(v)
    return out


def bound(funcs, taken):
    """depth(n): (bytes, path) of the deepest stack below `n`. An indirect call may reach any
    address-taken function. The core has no recursion: a path that meets a function twice
    through an indirect call cannot happen and is cut; one that does through direct calls
    only is recursion, and there is no bound. Results are memoized by the part of the path
    that can matter (the functions on cycles)."""
    cyc = cyclic(funcs, taken)
    # The memo is keyed by the path's cyclic functions: fine for the core alone (about 20),
    # exponential for a whole console firmware (180, with its formatting): refuse, not hang.
    if len(cyc) > 48:
        sys.exit(f"stack-bound: {len(cyc)} functions on call cycles through pointers: too many "
                 "to search (made for the core alone: firmware/src/bin/core_image.rs)")
    memo = {}

    def depth(n, path, pointer):
        key = (n, pointer, path & cyc) if n in cyc or path & cyc else (n, pointer, None)
        if key in memo:
            return memo[key]
        if n in path:
            if pointer:
                return (0, [])
            raise RecursionError(n)
        f = funcs.get(n)
        if f is None:
            return (0, [])
        inner = path | {n}
        best = (0, [])
        edges = [(c, pointer) for c in sorted(f["calls"])]
        if f["indirect"]:
            edges += [(c, True) for c in sorted(taken - inner)]
        for c, via in edges:
            d = depth(c, inner, via)
            if d[0] > best[0]:
                best = d
        r = (f["frame"] + best[0], [(n, f["frame"])] + best[1])
        memo[key] = r
        return r

    return lambda n: depth(n, frozenset(), False)


def short(name):
    name = re.sub(r"17h[0-9a-f]{16}E$", "", name)
    return name[-100:]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    elf = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else "_ZN10tally_core5agent"
    dis = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", elf], check=True,
                         capture_output=True, text=True).stdout
    funcs = parse(dis)
    for n, f in funcs.items():
        f["calls"].discard(n)
    dynamic = [(n, f["dynamic"]) for n, f in funcs.items() if f["dynamic"]]
    taken = address_taken(funcs, elf)
    try:
        depth = bound(funcs, taken)
        roots = [(depth(n)[0], n) for n in funcs if n.startswith(prefix)]
    except RecursionError as e:
        sys.exit(f"stack-bound: recursion through {short(str(e))}: no bound")
    if not roots:
        sys.exit(f"stack-bound: no function starts with {prefix}")
    roots.sort(reverse=True)
    on_paths = set()
    for total, n in roots[:6]:
        print(f"{total:6}  {short(n)}")
        for name, frame in depth(n)[1][1:8]:
            on_paths.add(name)
            print(f"          {frame:6}  {short(name)}")
    bad = [(n, d) for n, d in dynamic if n in on_paths or n.startswith(prefix)]
    if bad:
        for n, d in bad:
            print(f"stack-bound: {short(n)} moves sp by a register: {d[0]}", file=sys.stderr)
        sys.exit(1)
    print(f"(an indirect call may reach any of the {len(taken)} address-taken functions)")
    print(f"bound {roots[0][0]} {short(roots[0][1])}")


if __name__ == "__main__":
    main()
