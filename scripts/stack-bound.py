#!/usr/bin/env python3
"""Worst-case stack of the licensing core's entry points, from the call graph of a Thumb image.

Usage: stack-bound.py <elf> [<symbol prefix of the roots>]
       stack-bound.py --self-test

Reads `llvm-objdump -d` of the image. A function's frame is what its prologue reserves (push,
stmdb sp!, vpush, sub sp); its depth is its frame plus the deepest of its callees (bl, and b /
b.w to another function: tail calls). An indirect call (blx rN: a `dyn` sink, file system,
key or closure) may reach any function whose address the image holds in its sections
(vtables, literal pools) but the vector table: those are the only functions it can reach. The
core has no recursion, so a path never goes through one function twice.

The roots are the functions whose names start with the prefix (default: the agent's methods,
`_ZN10tally_core5agent`): every call a platform makes into the core. Prints the deepest roots
with their paths, then a last line `bound <bytes> <root>`. Exits 1 on what it cannot bound: a
stack pointer moved by a register anywhere a root can reach, or recursion. `--self-test`
checks the analysis on a small disassembly with known answers (size-budget.sh runs it).
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


def reachable(funcs, taken, roots):
    """Every function a root can reach (direct calls, and indirect calls to any address-taken
    function)."""
    seen, todo = set(), list(roots)
    while todo:
        n = todo.pop()
        if n in seen or n not in funcs:
            continue
        seen.add(n)
        todo.extend(funcs[n]["calls"])
        if funcs[n]["indirect"]:
            todo.extend(taken)
    return seen


def analyse(dis, taken_of, prefix):
    """(roots sorted deepest first, depth function, error or None) of a disassembly."""
    funcs = parse(dis)
    for n, f in funcs.items():
        f["calls"].discard(n)
    taken = taken_of(funcs)
    try:
        depth = bound(funcs, taken)
        roots = sorted(((depth(n)[0], n) for n in funcs if n.startswith(prefix)), reverse=True)
    except RecursionError as e:
        return [], None, f"recursion through {short(str(e))}: no bound"
    if not roots:
        return [], None, f"no function starts with {prefix}"
    moved = [n for n in reachable(funcs, taken, [n for _, n in roots]) if funcs[n]["dynamic"]]
    if moved:
        return roots, depth, f"{short(moved[0])} moves sp by a register: {funcs[moved[0]]['dynamic'][0]}"
    return roots, depth, None


# A disassembly in llvm-objdump's form with known answers: frames from push, vpush and
# sub sp; a tail call; an indirect call that reaches the one address-taken function, which
# calls back into its caller's caller (cut: the program cannot recurse); a branch to itself.
SAMPLE = """
00000100 <api_a>:
     100:\tpush\t{r4, r5, r7, lr}
     102:\tsub\tsp, #16
     104:\tbl\t0x200 <leaf>
     108:\tb.w\t0x300 <tail>
00000200 <leaf>:
     200:\tpush\t{r7, lr}
     202:\tb\t0x200 <leaf>
00000300 <tail>:
     300:\tvpush\t{d8, d9}
     304:\tsub.w\tsp, sp, #1024
     308:\tblx\tr3
00000400 <callback>:
     400:\tpush\t{r7, lr}
     402:\tbl\t0x300 <tail>
00000500 <api_b>:
     500:\tpush\t{lr}
     502:\tbl\t0x200 <leaf>
"""


def self_test():
    taken = lambda funcs: {"callback"}
    roots, depth, err = analyse(SAMPLE, taken, "api_")
    assert err is None, err
    # api_a: 16 + 16, then tail: 16 + 1024, then callback (8), whose call back into tail is
    # cut: 1080. api_b: 4 + leaf 8 = 12.
    assert roots == [(1080, "api_a"), (12, "api_b")], roots
    assert [n for n, _ in depth("api_a")[1]] == ["api_a", "tail", "callback"], depth("api_a")
    # Direct recursion has no bound.
    rec = SAMPLE + "00000600 <api_r>:\n     600:\tpush\t{lr}\n     602:\tbl\t0x700 <r2>\n" \
        "00000700 <r2>:\n     700:\tpush\t{lr}\n     702:\tbl\t0x600 <api_r>\n"
    assert analyse(rec, taken, "api_")[2].startswith("recursion"), "recursion not refused"
    # A stack pointer moved by a register anywhere below a root is refused.
    dyn = SAMPLE.replace("\tpush\t{r7, lr}\n     202:", "\tsub\tsp, r4\n     202:")
    assert "moves sp" in (analyse(dyn, taken, "api_")[2] or ""), "dynamic sp not refused"
    print("stack-bound: self-test passed")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--self-test":
        self_test()
        return
    elf = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else "_ZN10tally_core5agent"
    dis = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", elf], check=True,
                         capture_output=True, text=True).stdout
    taken_count = [0]

    def taken_of(funcs):
        t = address_taken(funcs, elf)
        taken_count[0] = len(t)
        return t

    roots, depth, err = analyse(dis, taken_of, prefix)
    if err:
        sys.exit(f"stack-bound: {err}")
    for total, n in roots[:6]:
        print(f"{total:6}  {short(n)}")
        for name, frame in depth(n)[1][1:8]:
            print(f"          {frame:6}  {short(name)}")
    print(f"(an indirect call may reach any of the {taken_count[0]} address-taken functions)")
    print(f"bound {roots[0][0]} {short(roots[0][1])}")


if __name__ == "__main__":
    main()
