#!/usr/bin/env python3
"""Worst-case stack of the licensing core's entry points, from the call graph of a Thumb image.

Usage: stack-bound.py <elf> [<symbol prefix of the roots>]
       stack-bound.py --self-test

Reads `llvm-objdump -d` of the image. A function's frame is what its prologue reserves (push,
stmdb sp!, vpush, sub sp); its depth is its frame plus the deepest of its callees (bl, and b /
b.w to another function: tail calls). A `blx rN` whose rN was loaded from a literal pool
(`ldr rN, [pc, #k]`) on every path to it calls the function that literal holds (see
`literal_calls`). Any other indirect call (blx rN: a `dyn` sink, file system, key or closure)
may reach any function whose address the image holds in its sections (vtables, literal pools)
but the vector table: those are the only functions it can reach. The core has no recursion, so
a path never goes through one function twice.

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
    """(address, bytes, executable?) of every allocated section with contents but the vector
    table (its handlers are where the platform starts, not targets of the core's calls):
    ELF32, LE."""
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
            out.append((addr, data[off:off + size], bool(flags & 4)))  # SHF_EXECINSTR
    return out


def parse(dis):
    funcs = {}
    cur = None
    name = None
    words = {}
    label = re.compile(r"^([0-9a-f]+) <(.*)>:$")
    word = re.compile(r"^\s*([0-9a-f]+):\s+(?:[0-9a-f]{2} ){3}[0-9a-f]{2}\s+\.word\s+0x([0-9a-f]+)")
    for line in dis.splitlines():
        m = label.match(line)
        if m:
            name = m.group(2)
            if re.fullmatch(r"\$[td](\.\d+)?", name):  # mapping symbols, not functions
                continue
            cur = funcs.setdefault(name, {"addr": int(m.group(1), 16), "frame": 0,
                                          "calls": set(), "indirect": False, "dynamic": [],
                                          "lines": [], "pool": set()})
            continue
        m = word.match(line)
        if m:
            words[int(m.group(1), 16)] = int(m.group(2), 16)
            if cur is not None:
                cur["pool"].add(int(m.group(1), 16))
            continue
        if cur is None or "\t" not in line:
            continue
        f = cur
        f["lines"].append(line)
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
    by_addr = {f["addr"] | 1: n for n, f in funcs.items()}
    for f in funcs.values():
        f["literals"] = literal_uses(f["lines"])
        known, unknown = literal_calls(f.pop("lines"), words, set(by_addr))
        f["calls"] |= {by_addr[w] for w in known if w in by_addr}
        f["indirect"] = unknown or any(w not in by_addr for w in known)
    return funcs


# Instructions that write none of the registers they name (stores without writeback,
# compares, branches, hints): everything else may write any register it names.
READ_ONLY = re.compile(r"(?:str|stm|push|vstr|vstm|vpush|cmp|cmn|tst|teq|cbn?z|b|bl|blx|bx|nop"
                       r"|dmb|dsb|isb|pld|udf|it[te]{0,3})(?:\.\w+)?$")
BRANCH = re.compile(r"\t(?:b(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(?:\.w)?"
                    r"|cbn?z\s+r\d+,)\s+0x([0-9a-f]+)")


def operands(lines):
    """(mnemonic, operands without objdump's `@` comment) of each instruction line."""
    text = [ln.split("\t", 2) for ln in lines]
    return [(t[1].strip(), t[2].split("@")[0].strip() if len(t) > 2 else "") for t in text
            if len(t) > 1]


def registers(args):
    """The core registers an instruction's operands name, a range (`r4-r7`) as all of them."""
    regs = re.findall(r"\b(r\d+|sb|sl|fp|ip|lr)\b", args)
    for a, b in re.findall(r"\br(\d+)-r(\d+)\b", args):
        regs += [f"r{i}" for i in range(int(a), int(b) + 1)]
    return regs


def literal_calls(lines, words, entries):
    """(literal words called, any other indirect call?) of one function's instructions. A
    `blx rN` calls a known function when rN was set by `ldr rN, [pc, #k]` (or copied from such a register by `mov`) and nothing can
    have changed it since: no instruction naming rN but stores, compares and branches, no call
    (r0-r3, r12 and lr are the caller's to lose: AAPCS), no branch target in between (another
    path may arrive with another rN), no IT block around the load. A `bx rN` (but lr) known
    the same way to hold a function's entry (`entries`) is a tail call to it: LLVM tail-calls
    a literal's function as `mov r1, r6; pop {...}; bx r1`. A function with a computed jump
    (tbb, tbh, a write to pc but `pop`, any other bx of a register but lr) resolves nothing,
    and each of its register branches may reach anything."""
    ops = operands(lines)
    def nothing():
        return set(), any((op.startswith("blx") or (op.startswith("bx") and a != "lr"))
                          and re.fullmatch(r"r\d+|r1[0-2]|lr", a) for op, a in ops)

    if any(op.startswith(("tbb", "tbh"))
           or (re.match(r"(?:mov|add|ldr)", op) and re.match(r"pc\b", args))
           or (op.startswith(("ldm", "pop")) and "pc" in args and not op.startswith("pop")
               and "sp!" not in args)
           for op, args in ops):
        return nothing()
    targets = {int(m.group(1), 16) for ln in lines for m in [BRANCH.search(ln)] if m}
    known, unknown = set(), False
    consts, it_left = {}, 0
    for ln, (op, args) in zip(lines, ops):
        at = int(ln.split(":", 1)[0], 16)
        if at in targets:
            consts.clear()
        in_it, it_left = it_left > 0, max(it_left - 1, 0)
        regs = set(registers(args))
        m = re.fullmatch(r"ldr(?:\.w)?", op) and re.fullmatch(
            r"(r\d+), \[pc, #-?\d+\]\s*", args.split("@")[0])
        lit = re.search(r"@ 0x([0-9a-f]+)", ln)
        if m and lit and not in_it:
            consts[m.group(1)] = int(lit.group(1), 16)
            continue
        mv = re.fullmatch(r"movs?(?:\.w)?", op) and re.fullmatch(r"(r\d+), (r\d+)", args)
        if mv and not in_it:  # a copy keeps what the source held
            if mv.group(2) in consts:
                consts[mv.group(1)] = consts[mv.group(2)]
            else:
                consts.pop(mv.group(1), None)
            continue
        if op.startswith("blx") and re.fullmatch(r"r\d+", args):
            if not in_it and args in consts and consts[args] in words:
                known.add(words[consts[args]])
            else:
                unknown = True
        elif op.startswith("bx") and args != "lr":
            if args in consts and words.get(consts[args]) in entries:
                known.add(words[consts[args]])
                if not in_it:  # nothing falls through
                    consts.clear()
                continue
            return nothing()
        if re.fullmatch(r"it[te]{0,3}", op):
            it_left = len(op) - 1
        if op.startswith(("bl", "blx", "svc", "bkpt")):  # a semihosting bkpt answers in r0
            for r in ("r0", "r1", "r2", "r3", "r12", "ip", "lr"):
                consts.pop(r, None)
        if not READ_ONLY.match(op) or "!" in args or "], " in args:
            for r in regs:
                consts.pop(r, None)
    return known, unknown


# Instructions whose first register is read as well as written.
READ_WRITE = re.compile(r"(?:umlal|smlal|umaal|smlalbb|bfi|bfc|movt)(?:\.\w+)?$")


def literal_uses(lines):
    """(literal words loaded, those of them whose value may be used other than as a call
    target) of one function: `ldr rN, [pc, #k]` loads, then rN (and its `mov` copies) may only
    be called (`blx`/`bx`) or overwritten. Anything else escapes the literal: rN read by any
    other instruction (a store into a vtable or a closure, an argument in r0-r3 of a call, a
    return value in r0-r1), rN still live at a branch target, inside an IT block or at the
    end of the function, the literal read in any other way (`ldrd`, `vldr`, `adr`: the 64
    bytes from there), or a computed jump anywhere in the function. A literal that never
    escapes anywhere only names a function to call: it does not make that function
    address-taken (`taken_words`)."""
    ops = operands(lines)
    loaded, escaped = set(), set()
    anchored = [(ln, op, args) for ln, (op, args) in zip(lines, ops)]
    for ln, op, args in anchored:
        lit = re.search(r"@ 0x([0-9a-f]+)", ln)
        if not lit:
            continue
        at = int(lit.group(1), 16)
        if re.fullmatch(r"ldr(?:\.w)?", op) and re.fullmatch(r"r\d+, \[pc, #-?\d+\]\s*", args):
            loaded.add(at)
        elif "[pc" in args or op.startswith("adr"):
            escaped |= set(range(at, at + 64, 2))
    everything = (loaded, set(loaded) | escaped)
    if any(op.startswith(("tbb", "tbh"))
           or (re.match(r"(?:mov|add|ldr)", op) and re.match(r"pc\b", args))
           or (op.startswith(("ldm", "pop")) and "pc" in args and not op.startswith("pop")
               and "sp!" not in args)
           for op, args in ops):
        return everything
    targets = {int(m.group(1), 16) for ln in lines for m in [BRANCH.search(ln)] if m}
    held, it_left = {}, 0

    def escape(*regs):
        for r in regs:
            escaped.update(held.pop(r, ()))

    for ln, op, args in anchored:
        at = int(ln.split(":", 1)[0], 16)
        if at in targets:
            escape(*list(held))
        in_it, it_left = it_left > 0, max(it_left - 1, 0)
        if re.fullmatch(r"it[te]{0,3}", op):
            it_left = len(op) - 1
            continue
        regs = registers(args)
        if in_it:  # conditional: what it reads escapes, and a call sees r0-r3
            escape(*regs)
            if re.fullmatch(r"b(?:l|lx|x)?(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"
                            r"(?:\.w)?", op):
                escape("r0", "r1", "r2", "r3")
            continue
        lit = re.search(r"@ 0x([0-9a-f]+)", ln)
        m = re.fullmatch(r"ldr(?:\.w)?", op) and re.fullmatch(r"(r\d+), \[pc, #-?\d+\]\s*", args)
        if m and lit:
            held[m.group(1)] = {int(lit.group(1), 16)}
            continue
        mv = re.fullmatch(r"movs?(?:\.w)?", op) and re.fullmatch(r"(r\d+), (r\d+)", args)
        if mv:
            if mv.group(2) in held:
                held[mv.group(1)] = set(held[mv.group(2)])
            else:
                held.pop(mv.group(1), None)
            continue
        if op == "bx" and args != "lr" and args not in held:
            return everything  # a jump through an unknown register: no flow to follow
        call = re.fullmatch(r"(blx|bx)", op) and re.fullmatch(r"r\d+|lr", args)
        if call or re.fullmatch(r"bl(?:x)?(?:\.w)?", op) or op in ("svc", "bkpt"):
            # The callee sees r0-r3 (but the register it is called through, which holds
            # itself); a return hands r0-r1 back.
            args_in = ("r0", "r1") if args == "lr" else ("r0", "r1", "r2", "r3")
            escape(*[r for r in args_in if not (call and r == args)])
            for r in ("r0", "r1", "r2", "r3", "r12", "ip", "lr"):
                held.pop(r, None)
            if op == "bx":  # nothing falls through: what is held is dead
                held.clear()
            continue
        if op.startswith("pop") and "pc" in args:
            escape("r0", "r1")
            held.clear()
            continue
        tail = re.fullmatch(r"b(?:\.w)?", op) or BRANCH.search("\t" + op + "\t" + args)
        if tail and "<" in ln and "+0x" not in ln.split("<", 1)[1]:
            # A branch to another function's entry: a tail call, which sees r0-r3.
            escape("r0", "r1", "r2", "r3")
            if re.fullmatch(r"b(?:\.w)?", op):
                held.clear()
            continue
        if not held:
            continue
        brace = re.search(r"\{([^}]*)\}", args)
        if brace and op.startswith(("ldm", "pop")):
            written = set(re.findall(r"\b(r\d+|lr)\b", brace.group(1)))
            read = set(regs) - written
        elif READ_ONLY.match(op):
            written, read = set(), set(regs)
        else:
            first = regs[:1]
            written = set(first)
            read = set(regs[1:]) | (set(first) if READ_WRITE.match(op) else set())
            if "!" in args or "], " in args:  # writeback: the base is read and written
                read |= set(re.findall(r"\[(r\d+)", args))
        escape(*[r for r in read if r in held])
        for r in written:
            held.pop(r, None)
    escape(*list(held))
    return loaded, escaped


def taken_words(funcs, blobs):
    """Functions whose (Thumb) address is a word of `blobs` ((address, bytes, executable?)),
    but in a literal that only names a function to call (`literal_uses`). In code, only the
    literal pools count (the `.word`s the mapping symbols mark): an instruction that happens
    to encode as a function's address (`bic.w r0, r1, r0` is 0x0000ea21) is no pointer."""
    by_addr = {f["addr"] | 1: n for n, f in funcs.items()}
    loaded, escaped, pools = set(), set(), set()
    for f in funcs.values():
        a, b = f.get("literals", (set(), set()))
        loaded |= a
        escaped |= b
        pools |= f.get("pool", set())
    calls_only = loaded - escaped
    taken = set()
    for base, blob, code in blobs:
        for off in range(0, len(blob) - 3, 2):  # literal pools are word-aligned; vtables too
            at = base + off
            if at % 4 or at in calls_only or (code and at not in pools):
                continue
            w, = struct.unpack_from("<I", blob, off)
            if w in by_addr:
                taken.add(by_addr[w])
    return taken


def address_taken(funcs, path):
    """Functions whose (Thumb) address appears as a word in any allocated section, but as a
    literal only ever called (`taken_words`)."""
    return taken_words(funcs, sections(path))


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


# Calls through literal pools: api_k calls `small` through a literal loaded into r4 and copied
# to r6 (resolved: `big` is address-taken, but not reachable from here); api_u's literal in r3
# is lost to a call, api_v's to a branch past the load (r4 is r1 on that path), api_w's to an
# overwrite: those three may reach any address-taken function, `big` included. api_t
# tail-calls `small` through a copy of its literal (`bx r1`: resolved); api_x's `bx r1` holds
# an argument (reaches anything).
LITERALS = """
00000800 <api_k>:
     800:\tpush\t{r4, r6, r7, lr}
     802:\tldr\tr4, [pc, #12]          @ 0x810 <$d>
     804:\tblx\tr4
     806:\tmov\tr6, r4
     808:\tbl\t0x200 <leaf>
     80a:\tblx\tr6
     80c:\tpop\t{r4, r6, r7, pc}
     80e:\tnop
00000810 <$d>:
     810:\t01 09 00 00\t.word\t0x00000901
00000900 <small>:
     900:\tpush\t{r7, lr}
     902:\tbx\tlr
00000a00 <big>:
     a00:\tsub.w\tsp, sp, #4000
     a04:\tbx\tlr
00000b00 <api_u>:
     b00:\tpush\t{r7, lr}
     b02:\tldr\tr3, [pc, #12]          @ 0xb10 <$d>
     b04:\tbl\t0x200 <leaf>
     b08:\tblx\tr3
     b0a:\tpop\t{r7, pc}
00000b10 <$d>:
     b10:\t01 09 00 00\t.word\t0x00000901
00000c00 <api_v>:
     c00:\tpush\t{r4, lr}
     c02:\tmov\tr4, r1
     c04:\tcbz\tr0, 0xc08 <api_v+0x8>
     c06:\tldr\tr4, [pc, #8]           @ 0xc10 <$d>
     c08:\tblx\tr4
     c0a:\tpop\t{r4, pc}
00000c10 <$d>:
     c10:\t01 09 00 00\t.word\t0x00000901
00000e00 <api_t>:
     e00:\tpush\t{r4, r6, r7, lr}
     e02:\tldr\tr6, [pc, #12]          @ 0xe10 <$d>
     e04:\tblx\tr6
     e06:\tmov\tr1, r6
     e08:\tpop.w\t{r4, r6, r7, lr}
     e0c:\tbx\tr1
     e0e:\tnop
00000e10 <$d>:
     e10:\t01 09 00 00\t.word\t0x00000901
00000f00 <api_x>:
     f00:\tpush\t{r7, lr}
     f02:\tmov\tr1, r2
     f04:\tpop\t{r7, lr}
     f06:\tbx\tr1
00000d00 <api_w>:
     d00:\tpush\t{r4, lr}
     d02:\tldr\tr4, [pc, #12]          @ 0xd10 <$d>
     d04:\tldr\tr4, [r4]
     d06:\tblx\tr4
     d08:\tpop\t{r4, pc}
00000d10 <$d>:
     d10:\t01 09 00 00\t.word\t0x00000901
"""


# Literals that only name a function to call do not make it address-taken; every other use
# of one does (`literal_uses`). api_s calls `small` through r4 (not taken) and passes `big`
# to a call in r0 (taken); api_st stores its literal; api_sb holds one across a branch
# target; api_sr and api_sp return one in r0 (bx lr, pop pc); api_sj passes one in r1 to a
# tail call by `b.w`.
USES = """
00001000 <api_s>:
    1000:\tpush\t{r4, lr}
    1002:\tldr\tr4, [pc, #12]          @ 0x1010 <$d>
    1004:\tblx\tr4
    1006:\tldr\tr0, [pc, #12]          @ 0x1014 <$d>
    1008:\tbl\t0x900 <small>
    100c:\tpop\t{r4, pc}
00001010 <$d>:
    1010:\t01 09 00 00\t.word\t0x00000901
    1014:\t01 0b 00 00\t.word\t0x00000b01
00001100 <api_st>:
    1100:\tldr\tr1, [pc, #8]           @ 0x110c <$d>
    1102:\tstr\tr1, [r0]
    1104:\tmovs\tr1, #0
    1106:\tbx\tlr
0000110c <$d>:
    110c:\t01 0c 00 00\t.word\t0x00000c01
00001200 <api_sb>:
    1200:\tpush\t{r4, lr}
    1202:\tldr\tr4, [pc, #12]          @ 0x1210 <$d>
    1204:\tcbz\tr0, 0x1208 <api_sb+0x8>
    1206:\tnop
    1208:\tblx\tr4
    120a:\tpop\t{r4, pc}
00001210 <$d>:
    1210:\t01 0d 00 00\t.word\t0x00000d01
00001300 <api_sr>:
    1300:\tldr\tr0, [pc, #4]           @ 0x1308 <$d>
    1302:\tbx\tlr
00001308 <$d>:
    1308:\t01 0e 00 00\t.word\t0x00000e01
00001500 <api_sp>:
    1500:\tpush\t{r7, lr}
    1502:\tldr\tr0, [pc, #4]           @ 0x1508 <$d>
    1504:\tpop\t{r7, pc}
00001508 <$d>:
    1508:\t01 06 00 00\t.word\t0x00000601
00000600 <popped>:
     600:\tbx\tlr
00001400 <api_sj>:
    1400:\tldr\tr1, [pc, #4]           @ 0x1408 <$d>
    1402:\tb.w\t0x900 <small>
00001408 <$d>:
    1408:\t01 0f 00 00\t.word\t0x00000f01
00000900 <small>:
     900:\tpush\t{r7, lr}
     902:\tbx\tlr
00000b00 <big>:
     b00:\tbx\tlr
00000c00 <stored>:
     c00:\tbx\tlr
00000d00 <branched>:
     d00:\tbx\tlr
00000e00 <returned>:
     e00:\tbx\tlr
00000f00 <passed>:
     f00:\tbx\tlr
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
    # Literal-pool calls: api_k = 16 + small 8 (leaf's 8 is no deeper); the others reach big.
    roots, depth, err = analyse(SAMPLE + LITERALS, lambda funcs: {"callback", "small", "big"},
                                "api_")
    assert err is None, err
    got = {n: d for d, n in roots}
    assert got["api_k"] == 24, depth("api_k")
    # A tail call through a register holding a literal's function (`mov r1, r6; bx r1`)
    # reaches that function only: 16 + small 8; through an unknown register, anything.
    assert got["api_t"] == 24, depth("api_t")
    for n in ("api_u", "api_v", "api_w", "api_x"):
        assert "big" in [m for m, _ in depth(n)[1]], (n, depth(n))
    # Literal uses: only `small`, which is only called, stays out of the address-taken set.
    funcs = parse(USES)
    blobs = [(a, struct.pack("<I", w), False) for a, w in
             [(0x1010, 0x901), (0x1014, 0xB01), (0x110C, 0xC01), (0x1210, 0xD01),
              (0x1308, 0xE01), (0x1408, 0xF01), (0x1508, 0x601)]]
    got = taken_words(funcs, blobs)
    assert got == {"big", "stored", "branched", "returned", "passed", "popped"}, got
    # In code, only literal pools hold pointers: the same words as code are no pointers.
    code = [(a, b, True) for a, b, _ in blobs] + [(0x1700, struct.pack("<I", 0xB01), True)]
    assert taken_words(funcs, code) == got, taken_words(funcs, code)
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
