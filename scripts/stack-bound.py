#!/usr/bin/env python3
"""Worst-case stack of the licensing core's entry points, from the call graph of a Thumb image.

Usage: stack-bound.py <elf> [<symbol prefix of the roots>]
       stack-bound.py --self-test

Reads `llvm-objdump -d` of the image. A function's frame is what its prologue reserves (push,
stmdb sp!, vpush, sub sp); its depth is its frame plus the deepest of its callees (bl, and b /
b.w to another function: tail calls). A `blx rN` whose rN was loaded from literal pools
(`ldr rN, [pc, #k]`) on every path to it calls the functions those literals hold: a dataflow
over the function's branches, loops and jump tables, machine-outlined sequences counted as
their caller's code (see `literal_calls`). Any other indirect call (blx rN: a `dyn` sink,
file system, key or closure) may reach any function whose address the image holds in its
sections (vtables, literal pools) but the vector table: those are the only functions it can
reach. The core has no recursion, so
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
    datum = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{2} ?)+)\s+\.(?:word|short|byte)\b")
    data = {}  # every byte objdump shows as data ($d), by address: jump tables, literal pools
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
        m = datum.match(line)
        if m:
            at = int(m.group(1), 16)
            for i, b in enumerate(m.group(2).split()):
                data[at + i] = int(b, 16)
        m = word.match(line)
        if m:
            words[int(m.group(1), 16)] = int(m.group(2), 16)
            if cur is not None:
                cur["pool"].add(int(m.group(1), 16))
            continue
        if cur is None or "\t" not in line or datum.match(line):
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
    outlined = {n: outlined_use(f) for n, f in funcs.items()
                if n.startswith("OUTLINED_FUNCTION")}
    for n, f in funcs.items():
        f["literals"] = literal_uses(f["lines"], data, outlined)
        lines = f.pop("lines")
        known, unknown = literal_calls(lines, words, set(by_addr), outlined, data)
        if n in outlined and outlined[n]["jumps"] is not None:
            unknown = False  # its register branches are its callers' (`literal_calls`)
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


ALIASES = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12"}
# Instructions that write their first two registers (the rest write the first only).
TWO_WRITTEN = re.compile(r"(?:ldrd|ldrexd|ldaexd|umull|smull|umlal|smlal|umaal|vmov)(?:\.\w+)?$")
LITERAL_LOAD = re.compile(r"(r\d+), \[pc, #-?\d+\]\s*")


def saves(op, args):
    """The registers a push / pop / stack ldm or stm saves or restores (none for others)."""
    brace = re.search(r"\{([^}]*)\}", args)
    if brace and (op.startswith(("push", "pop"))
                  or (op.startswith(("ldm", "stm")) and args.startswith("sp!"))):
        return {ALIASES.get(r, r) for r in registers(brace.group(1))}
    return set()


def written(op, args):
    """The core registers an instruction may write (a pop or `ldm` writes its list; a push
    or `stm` only its base, with writeback)."""
    regs = [ALIASES.get(r, r) for r in registers(args)]
    out = set()
    if "!" in args or "], " in args:  # writeback
        out |= {ALIASES.get(r, r) for r in re.findall(r"\[?\b(r\d+|sb|sl|fp|ip)\b(?:\]|!)", args)}
    brace = re.search(r"\{([^}]*)\}", args)
    if brace and op.startswith(("pop", "ldm")):
        return out | {ALIASES.get(r, r) for r in registers(brace.group(1))}
    if brace:  # push, stm: read only
        return out
    if READ_ONLY.match(op):
        return out
    return out | set(regs[:2] if TWO_WRITTEN.match(op) else regs[:1])


OUTLINED_CALL = re.compile(r"\tb\S*\s+(?:0x)?[0-9a-f]+ <(OUTLINED_FUNCTION_\d+)>")


def outlined_use(f):
    """What a machine-outlined sequence does with its caller's registers (it runs as part of
    its caller, without a frame of its own): {"writes", "reads" (but saves, restores and
    branch targets), "jumps": the registers it calls or tail-calls through, or None when its
    register branches cannot be its callers' (a frame, a write to the register first)}."""
    writes, reads, jumps = set(), set(), set()
    for op, args in operands(f["lines"]):
        regs = {ALIASES.get(r, r) for r in registers(args)}
        if re.fullmatch(r"blx|bx", op) and re.fullmatch(r"r\d+", args):
            if args in writes:
                jumps = None
            elif jumps is not None:
                jumps.add(args)
            continue
        w = written(op, args)
        writes |= w
        reads |= regs - saves(op, args) - (w if not READ_WRITE.match(op) else set())
    if f["frame"]:
        jumps = None
    return {"writes": writes, "reads": reads, "jumps": jumps}


def jump_targets(lines, data):
    """The addresses a function's `tbb [pc, rN]` / `tbh [pc, rN, lsl #1]` can jump to, read
    from the table that follows each (the data bytes from the instruction's address + 4 up
    to the next code: a padding byte can only add a target), or None if a table branch is
    not of that form or its table is not there."""
    found = set()
    for ln, (op, args) in zip(lines, operands(lines)):
        if not op.startswith(("tbb", "tbh")):
            continue
        at = int(ln.split(":", 1)[0], 16)
        half = op.startswith("tbh")
        if not re.fullmatch(r"\[pc, r\d+" + (r", lsl #1\]" if half else r"\]"), args):
            return None
        table, n = at + 4, 0
        if table not in data:
            return None
        while table + n in data and (not half or table + n + 1 in data):
            step = data[table + n] | (data[table + n + 1] << 8 if half else 0)
            found.add(at + 4 + 2 * step)
            n += 2 if half else 1
    return found


def computed_jump(ops, table_ok):
    """Whether a function jumps where the analysis cannot follow: a table branch without its
    table, a write to pc but `pop`, an `ldm` into pc but a stack pop."""
    return any((op.startswith(("tbb", "tbh")) and not table_ok)
               or (re.match(r"(?:mov|add|ldr)", op) and re.match(r"pc\b", args))
               or (op.startswith(("ldm", "pop")) and "pc" in args and not op.startswith("pop")
                   and "sp!" not in args)
               for op, args in ops)


def control_flow(lines, ops, tables):
    """(successors of each instruction by index, whether each is conditional: in an IT
    block). Past the last instruction is index len(lines): falling off the end."""
    index = {int(ln.split(":", 1)[0], 16): i for i, ln in enumerate(lines)}
    it_of, left = [], 0
    for op, _ in ops:
        it_of.append(left > 0)
        left = len(op) - 1 if re.fullmatch(r"it[te]{0,3}", op) else max(left - 1, 0)
    succ = []
    for i, (ln, (op, args)) in enumerate(zip(lines, ops)):
        nxt = [i + 1]
        m = BRANCH.search(ln)
        target = [index[int(m.group(1), 16)]] if m and int(m.group(1), 16) in index else []
        if op.startswith(("tbb", "tbh")):
            succ.append([index[t] for t in tables if t in index])
        elif it_of[i]:
            succ.append(nxt + target)
        elif re.fullmatch(r"b(?:\.w)?", op):  # unconditional: here, or a tail call
            succ.append(target)
        elif m:  # a conditional branch, cbz, cbnz
            succ.append(nxt + target)
        elif op == "bx" or (op.startswith(("pop", "ldm")) and "pc" in args):
            succ.append([])
        else:
            succ.append(nxt)
    return succ, it_of


def solve(n, succ, it_of, step, join):
    """The state before each reachable instruction (by index; index n is the end), from the
    empty state at the entry: `step(i, state)` is the state after instruction i, `join`
    merges two states where paths meet. A conditional instruction may not run: its after
    state is joined with its before state."""
    before = {0: {}} if n else {}
    work = list(before)
    while work:
        i = work.pop()
        if i >= n:
            continue
        after = step(i, before[i])
        if it_of[i]:
            after = join(after, before[i])
        for j in succ[i]:
            new = after if j not in before else join(before[j], after)
            if j not in before or new != before[j]:
                before[j] = new
                work.append(j)
    return before


def literal_load(op, args, ln):
    """The literal address an instruction loads (`ldr rN, [pc, #k]`) and rN, or None."""
    m = re.fullmatch(r"ldr(?:\.w)?", op) and LITERAL_LOAD.fullmatch(args)
    lit = re.search(r"@ 0x([0-9a-f]+)", ln)
    return (m.group(1), int(lit.group(1), 16)) if m and lit else None


def literal_calls(lines, words, entries, outlined=None, data=None):
    """(literal words called, any other indirect call?) of one function's instructions, by a
    forward dataflow over its control flow (`control_flow`, `solve`): what each register
    holds, as the set of literal pool addresses it may have been set from (`ldr rN, [pc,
    #k]`, copied by `mov`), or unknown. Paths join at branch targets, loop heads and jump
    table targets (`tbb`/`tbh`, read from their tables); an IT block's instructions may or
    may not run. Anything else that names a register as a destination, a restore from the
    stack, and a call (r0-r3, r12 and lr are the callee's to change: AAPCS) make it unknown;
    a call into a machine-outlined sequence loses what the sequence writes, and a register
    the sequence branches through is called from here. A `blx rN` whose rN holds known
    literals calls their functions; a `bx rN` (but lr) whose literals are all function
    entries (`entries`) tail-calls them (LLVM tail-calls a literal's function as
    `mov r1, r6; pop {...}; bx r1`). Any other register call may reach anything. A function
    with a jump the flow cannot follow (`computed_jump`) resolves nothing."""
    ops = operands(lines)
    calls_reg = any((op.startswith("blx") or (op.startswith("bx") and a != "lr"))
                    and re.fullmatch(r"r\d+|lr", a) for op, a in ops)
    tables = jump_targets(lines, data or {})
    if computed_jump(ops, tables is not None):
        return set(), calls_reg
    succ, it_of = control_flow(lines, ops, tables)
    known, unknown = set(), [False]

    def note(call, vals):
        if not vals or any(v not in words for v in vals):
            unknown[0] = True
        elif call or all(words[v] in entries for v in vals):
            known.update(words[v] for v in vals)
        else:
            unknown[0] = True

    def step(i, state, record=False):
        op, args = ops[i]
        out = dict(state)
        load = literal_load(op, args, lines[i])
        if load:
            out[load[0]] = frozenset([load[1]])
            return out
        mv = re.fullmatch(r"movs?(?:\.w)?", op) and re.fullmatch(r"(r\d+), (r\d+)", args)
        if mv:
            if mv.group(2) in out:
                out[mv.group(1)] = out[mv.group(2)]
            else:
                out.pop(mv.group(1), None)
            return out
        if record and op.split(".")[0] in ("blx", "bx") and re.fullmatch(r"r\d+", args):
            note(op.startswith("blx"), state.get(args))
        o = OUTLINED_CALL.search(lines[i])
        if o:
            use = (outlined or {}).get(o.group(1), {})
            jumps = use.get("jumps")
            for r in jumps if jumps is not None else ["?"]:
                if record:
                    note(True, state.get(r))
            for r in use.get("writes", list(out)):
                out.pop(r, None)
        if op.startswith(("bl", "blx", "svc", "bkpt")):  # a semihosting bkpt answers in r0
            for r in ("r0", "r1", "r2", "r3", "r12", "lr"):
                out.pop(r, None)
        if not READ_ONLY.match(op) or "!" in args or "], " in args:
            for r in registers(args):
                out.pop(ALIASES.get(r, r), None)
        return out

    def join(a, b):  # a register is known where every path knows it
        return {r: a[r] | b[r] for r in a.keys() & b.keys()}

    states = solve(len(lines), succ, it_of, step, join)
    for i in range(len(lines)):
        # Code the entry does not reach (only a branch from elsewhere could) knows nothing.
        step(i, states.get(i, {}), record=True)
    return known, unknown[0]


# Instructions whose first register is read as well as written.
READ_WRITE = re.compile(r"(?:umlal|smlal|umaal|smlalbb|bfi|bfc|movt)(?:\.\w+)?$")


def literal_uses(lines, data=None, outlined=None):
    """(literal words loaded, those of them whose value may be used other than as a call
    target) of one function: `ldr rN, [pc, #k]` loads, then rN (and its `mov` copies) may only
    be called (`blx`/`bx`) or overwritten. Anything else escapes the literal: rN read by any
    other instruction (a store into a vtable or a closure, an argument in r0-r3 of a call or
    of a tail call, a return value in r0-r1, a read by a machine-outlined sequence), rN
    still live at the end of the function, the literal read in any other way (`ldrd`,
    `vldr`, `adr`: the 64 bytes from there), a jump through an unknown register, or a
    computed jump anywhere in the function. What rN may hold at each instruction comes from
    the same dataflow as `literal_calls`, with paths joined by union. A literal that never
    escapes anywhere only names a function to call: it does not make that function
    address-taken (`taken_words`)."""
    ops = operands(lines)
    loaded, escaped = set(), set()
    for ln, (op, args) in zip(lines, ops):
        lit = re.search(r"@ 0x([0-9a-f]+)", ln)
        if not lit:
            continue
        at = int(lit.group(1), 16)
        if literal_load(op, args, ln):
            loaded.add(at)
        elif "[pc" in args or op.startswith("adr"):
            escaped |= set(range(at, at + 64, 2))
    everything = (loaded, set(loaded) | escaped)
    tables = jump_targets(lines, data or {})
    if computed_jump(ops, tables is not None):
        return everything
    succ, it_of = control_flow(lines, ops, tables)
    lost = [False]

    def step(i, held, record=False):
        held = dict(held)
        ln = lines[i]
        op, args = ops[i]

        def escape(*regs):
            for r in regs:
                if record:
                    escaped.update(held.get(r, ()))
                held.pop(r, None)

        regs = [ALIASES.get(r, r) for r in registers(args)]
        if it_of[i]:  # conditional: what it reads escapes, and a call sees r0-r3
            for r in regs:
                if record:
                    escaped.update(held.get(r, ()))
            if re.fullmatch(r"b(?:l|lx|x)?(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"
                            r"(?:\.w)?", op) or op.startswith("pop"):
                for r in ("r0", "r1", "r2", "r3"):
                    if record:
                        escaped.update(held.get(r, ()))
        load = literal_load(op, args, ln)
        if load:
            held[load[0]] = frozenset([load[1]])
            return held
        mv = re.fullmatch(r"movs?(?:\.w)?", op) and re.fullmatch(r"(r\d+), (r\d+)", args)
        if mv:
            if mv.group(2) in held:
                held[mv.group(1)] = held[mv.group(2)]
            else:
                held.pop(mv.group(1), None)
            return held
        if op.startswith(("tbb", "tbh")):  # the index is read; the rest goes to the targets
            escape(*[r for r in regs if r != "pc"])
            return held
        if op == "bx" and args != "lr" and args not in held:
            lost[0] = True  # a jump through an unknown register: no flow to follow
            return held
        o = OUTLINED_CALL.search(ln)
        if o:
            # A machine-outlined sequence is this function's code: what it reads escapes
            # (but the registers it calls through), what it writes is no longer held.
            use = (outlined or {}).get(o.group(1))
            if use is None:
                escape(*list(held))
            else:
                escape(*[r for r in use["reads"] if r in held])
                for r in use["writes"]:
                    held.pop(r, None)
        call = re.fullmatch(r"(blx|bx)", op) and re.fullmatch(r"r\d+|lr", args)
        if call or re.fullmatch(r"bl(?:x)?(?:\.w)?", op) or op in ("svc", "bkpt"):
            # The callee sees r0-r3 (but the register it is called through, which holds
            # itself); a return hands r0-r1 back.
            args_in = ("r0", "r1") if args == "lr" else ("r0", "r1", "r2", "r3")
            escape(*[r for r in args_in if not (call and r == args)])
            for r in ("r0", "r1", "r2", "r3", "r12", "lr"):
                held.pop(r, None)
            return held
        if op.startswith("pop") and "pc" in args:
            escape("r0", "r1")
            return held
        tail = re.fullmatch(r"b(?:\.w)?", op) or BRANCH.search("\t" + op + "\t" + args)
        if tail and "<" in ln and "+0x" not in ln.split("<", 1)[1]:
            # A branch to another function's entry: a tail call, which sees r0-r3.
            escape("r0", "r1", "r2", "r3")
            return held
        brace = re.search(r"\{([^}]*)\}", args)
        if brace and op.startswith(("ldm", "pop")):
            dest = {ALIASES.get(r, r) for r in re.findall(r"\b(r\d+|lr|sb|sl|fp|ip)\b",
                                                             brace.group(1))}
            read = set(regs) - dest
        elif READ_ONLY.match(op):
            dest, read = set(), set(regs)
        else:
            first = regs[:1]
            dest = set(regs[:2] if TWO_WRITTEN.match(op) else first)
            read = set(regs) - dest | (set(first) if READ_WRITE.match(op) else set())
            if "!" in args or "], " in args:  # writeback: the base is read and written
                read |= {ALIASES.get(r, r) for r in re.findall(r"\[(r\d+|sb|sl|fp|ip)", args)}
        escape(*[r for r in read if r in held])
        for r in dest:
            held.pop(r, None)
        return held

    def join(a, b):  # what any path may hold
        return {r: a.get(r, frozenset()) | b.get(r, frozenset()) for r in a.keys() | b.keys()}

    states = solve(len(lines), succ, it_of, step, join)
    for i, held in states.items():
        if i < len(lines):
            step(i, held, record=True)
        else:  # falls off the end: whatever is still held is live
            for v in held.values():
                escaped.update(v)
    for i, (ln, (op, args)) in enumerate(zip(lines, ops)):
        load = literal_load(op, args, ln)
        if i not in states and load:  # loaded where the entry does not reach: not followed
            escaped.add(load[1])
    if lost[0]:
        return everything
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
# to a call in r0 (taken); api_st stores its literal; api_sb stores one that only its
# branch carries past an overwrite; api_sr and api_sp return one in r0 (bx lr, pop pc); api_sj passes one in r1 to a
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
    1202:\tldr\tr3, [pc, #12]          @ 0x1210 <$d>
    1204:\tcbz\tr0, 0x1208 <api_sb+0x8>
    1206:\tmovs\tr3, #0
    1208:\tstr\tr3, [r1]
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


# Literal calls the dataflow of `literal_calls` follows across branches: api_l calls `small`
# through r9 on a loop's far side (LLVM hoists a callee out of a loop so); api_m sets r9 from
# two literals (it calls small or big); api_n's r9 is written by an outlined sequence
# (unknown); api_o passes its r9 (big) to a call, which makes big address-taken; api_p's r8
# has three definitions but only the literal reaches its `blx` (the `cbz` path), as in
# `to_slice`; api_q's literal reaches a jump-table target; api_r's table branch is not
# pc-relative (nothing resolves); api_s calls outlined code that calls through r8; api_z
# calls outlined code that stores its r8 (big: taken); api_y's literal call is in code its
# entry does not reach (only a branch from elsewhere could): unknown, and its literal taken;
# api_x2's r8 is restored from the stack by the outlined code it calls (unknown).
FLOW = """
00002000 <api_l>:
    2000:\tpush.w\t{r4, r9, lr}
    2004:\tldr.w\tr9, [pc, #20]       @ 0x201c <$d>
    2008:\tcbz\tr0, 0x2014 <api_l+0x14>
    200a:\tblx\tr9
    200c:\tsubs\tr0, #1
    200e:\tb\t0x2008 <api_l+0x8>
    2014:\tb.w\t0x2300 <OUTLINED_FUNCTION_2>
0000201c <$d>:
    201c:\t01 09 00 00\t.word\t0x00000901
00002100 <api_m>:
    2100:\tpush.w\t{r4, r9, lr}
    2104:\tldr.w\tr9, [pc, #20]       @ 0x211c <$d>
    2108:\tcbz\tr0, 0x2110 <api_m+0x10>
    210a:\tldr.w\tr9, [pc, #20]       @ 0x2120 <$d>
    2110:\tblx\tr9
    2112:\tpop.w\t{r4, r9, pc}
0000211c <$d>:
    211c:\t01 09 00 00\t.word\t0x00000901
    2120:\t01 0a 00 00\t.word\t0x00000a01
00002200 <api_n>:
    2200:\tpush.w\t{r4, r9, lr}
    2204:\tldr.w\tr9, [pc, #20]       @ 0x221c <$d>
    2208:\tcbz\tr0, 0x2210 <api_n+0x10>
    220a:\tbl\t0x2310 <OUTLINED_FUNCTION_3>
    2210:\tblx\tr9
    2212:\tpop.w\t{r4, r9, pc}
0000221c <$d>:
    221c:\t01 09 00 00\t.word\t0x00000901
00002300 <OUTLINED_FUNCTION_2>:
    2300:\tpop.w\t{r4, r9, pc}
00002310 <OUTLINED_FUNCTION_3>:
    2310:\tmov\tr9, r0
    2312:\tbx\tlr
00002400 <api_o>:
    2400:\tpush.w\t{r4, r9, lr}
    2404:\tldr.w\tr9, [pc, #20]       @ 0x241c <$d>
    2408:\tcbz\tr0, 0x2410 <api_o+0x10>
    240a:\tblx\tr9
    240c:\tmov\tr0, r9
    240e:\tbl\t0x200 <leaf>
    2410:\tpop.w\t{r4, r9, pc}
0000241c <$d>:
    241c:\t01 0a 00 00\t.word\t0x00000a01
00002500 <api_p>:
    2500:\tpush.w\t{r4, r8, lr}
    2504:\tldr.w\tr8, [pc, #20]       @ 0x251c <$d>
    2508:\tcbz\tr0, 0x2512 <api_p+0x12>
    250a:\tadd.w\tr8, r4, #8
    250e:\tmov\tr0, r8
    2510:\tb\t0x2514 <api_p+0x14>
    2512:\tblx\tr8
    2514:\tpop.w\t{r4, r8, pc}
0000251c <$d>:
    251c:\t01 09 00 00\t.word\t0x00000901
00002600 <api_q>:
    2600:\tpush\t{r4, lr}
    2602:\tldr\tr4, [pc, #24]          @ 0x261c <$d>
    2604:\ttbb\t[pc, r0]

00002608 <$d>:
    2608:\t02 03\t\t.short\t0x0302

0000260a <$t>:
    260a:\tnop
    260c:\tblx\tr4
    260e:\tpop\t{r4, pc}
0000261c <$d>:
    261c:\t01 09 00 00\t.word\t0x00000901
00002700 <api_r>:
    2700:\tpush\t{r4, lr}
    2702:\tldr\tr4, [pc, #24]          @ 0x271c <$d>
    2704:\ttbb\t[r1, r0]
    2708:\tblx\tr4
    270a:\tpop\t{r4, pc}
0000271c <$d>:
    271c:\t01 09 00 00\t.word\t0x00000901
00002800 <api_s>:
    2800:\tpush.w\t{r4, r8, lr}
    2804:\tldr.w\tr8, [pc, #20]       @ 0x281c <$d>
    2808:\tbl\t0x2900 <OUTLINED_FUNCTION_4>
    280c:\tpop.w\t{r4, r8, pc}
0000281c <$d>:
    281c:\t01 09 00 00\t.word\t0x00000901
00002900 <OUTLINED_FUNCTION_4>:
    2900:\tmov\tr0, r5
    2902:\tbx\tr8
00002a00 <api_z>:
    2a00:\tpush.w\t{r4, r8, lr}
    2a04:\tldr.w\tr8, [pc, #20]       @ 0x2a1c <$d>
    2a08:\tbl\t0x2b00 <OUTLINED_FUNCTION_5>
    2a0c:\tpop.w\t{r4, r8, pc}
00002a1c <$d>:
    2a1c:\t01 0a 00 00\t.word\t0x00000a01
00002b00 <OUTLINED_FUNCTION_5>:
    2b00:\tstr.w\tr8, [r0]
    2b04:\tbx\tlr
00002d00 <api_x2>:
    2d00:\tpush.w\t{r4, r8, lr}
    2d04:\tldr.w\tr8, [pc, #20]       @ 0x2d1c <$d>
    2d08:\tbl\t0x2e00 <OUTLINED_FUNCTION_6>
    2d0c:\tblx\tr8
    2d0e:\tpop.w\t{r4, r8, pc}
00002d1c <$d>:
    2d1c:\t01 09 00 00\t.word\t0x00000901
00002e00 <OUTLINED_FUNCTION_6>:
    2e00:\tpop.w\t{r8}
    2e04:\tbx\tlr
00002c00 <api_y>:
    2c00:\tpush\t{r4, lr}
    2c02:\tb\t0x2c0a <api_y+0xa>
    2c06:\tldr\tr3, [pc, #12]          @ 0x2c14 <$d>
    2c08:\tblx\tr3
    2c0a:\tpop\t{r4, pc}
00002c14 <$d>:
    2c14:\t01 09 00 00\t.word\t0x00000901
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
    # Flow: api_l, api_p, api_q and api_s reach `small` only (12 + 8, 12 + 8, 8 + 8, 12 + 8);
    # api_m, api_n, api_o and api_r reach `big`.
    roots, depth, err = analyse(SAMPLE + LITERALS + FLOW,
                                lambda funcs: {"callback", "small", "big"}, "api_")
    assert err is None, err
    got = {n: d for d, n in roots}
    for n, want in (("api_l", 20), ("api_p", 20), ("api_q", 16), ("api_s", 20)):
        assert got[n] == want, (n, depth(n))
    for n in ("api_m", "api_n", "api_o", "api_r", "api_y", "api_x2"):
        assert "big" in [m for m, _ in depth(n)[1]], (n, depth(n))
    # Taken: api_o's literal is passed on. api_p's r8 goes into r0 only after the `add`
    # overwrote it, api_s's is only called by the outlined code: neither is taken.
    funcs = parse(LITERALS + FLOW)
    one = lambda *lits: taken_words(funcs, [(a, struct.pack("<I", w), False) for a, w in lits])
    assert one((0x241C, 0xA01)) == {"big"}, one((0x241C, 0xA01))
    assert one((0x251C, 0x901)) == set(), one((0x251C, 0x901))
    assert one((0x281C, 0x901)) == set(), one((0x281C, 0x901))
    assert one((0x2A1C, 0xA01)) == {"big"}, one((0x2A1C, 0xA01))
    assert one((0x2C14, 0x901)) == {"small"}, one((0x2C14, 0x901))
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
        for name, frame in depth(n)[1][1:int(__import__("os").environ.get("SB_DEPTH", "8"))]:
            print(f"          {frame:6}  {short(name)}")
    print(f"(an indirect call may reach any of the {taken_count[0]} address-taken functions)")
    print(f"bound {roots[0][0]} {short(roots[0][1])}")


if __name__ == "__main__":
    main()
