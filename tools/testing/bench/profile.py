#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest instruction profiles for scripts/profile.sh.

  profile.py watch OUT_DIR MONITOR_SOCKET EXEC_FLAGS
      Waits for the guest's requests (OUT_DIR/profile-want) and switches
      QEMU's log to EXEC_FLAGS and back off through the monitor.
  profile.py analyze LOG KALLSYMS N_IOS OUT.json
      Guest instructions per I/O and per symbol between the two executions of
      iol's marker (pc 0x13370000). QEMU runs one instruction per translated
      block (one-insn-per-tb=on), so each logged block execution is one
      instruction. (Block lengths taken from the translation log instead were
      tried and undercount by a quarter: QEMU translates blocks again.)
  profile.py diff A.json B.json
      Per-symbol instructions per I/O, B - A, largest first.
  profile.py show PROFILE.json
      The 40 symbols with the most instructions per I/O.
  profile.py annotate PROFILE.json MODULE.ko SYMBOL
      The disassembly (objdump) of each module function whose short name
      contains SYMBOL, every instruction with its executions per I/O: where
      inside a function the instructions go.
"""
import bisect
import collections
import json
import os
import re
import socket
import subprocess
import sys
import time

MARKER = 0x13370000
TRACE = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")


def monitor(sock, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.settimeout(5)
    try:
        s.recv(4096)
    except OSError:
        pass
    s.sendall((cmd + "\n").encode())
    time.sleep(0.5)
    s.close()


def watch(out, sock, flags):
    want = os.path.join(out, "profile-want")

    def wait(value):
        while True:
            try:
                with open(want) as f:
                    if f.read().strip() == value:
                        return
            except OSError:
                pass
            time.sleep(0.2)

    wait("start")
    monitor(sock, "log " + flags)
    open(os.path.join(out, "profile-on"), "w").close()
    wait("stop")
    monitor(sock, "log none")
    open(os.path.join(out, "profile-off"), "w").close()


def symbols(kallsyms):
    syms = []
    with open(kallsyms) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and p[1] in "tTwW":
                syms.append((int(p[0], 16), p[2] + (" " + p[3] if len(p) > 3 else "")))
    syms.sort()
    return [a for a, _ in syms], [s for _, s in syms]


def analyze(log, kallsyms, nios, out_json):
    execs = collections.Counter()
    markers = 0
    with open(log, errors="replace") as f:
        for line in f:
            if line[:1] != "T":
                continue
            m = TRACE.match(line)
            if not m:
                continue
            pc = int(m.group(1), 16)
            if pc == MARKER:
                markers += 1
            elif markers == 1:
                execs[pc] += 1
    if markers < 2:
        sys.exit(f"profile: {markers} marker executions in the log, need 2")
    addrs, names = symbols(kallsyms)
    per = collections.Counter()
    # Module functions also per instruction (offset from the symbol), for
    # `annotate`; the kernel's own are many and not ours to change.
    offsets = collections.defaultdict(dict)
    for pc, n in execs.items():
        i = bisect.bisect_right(addrs, pc) - 1
        name = names[i] if i >= 0 else "?"
        per[name] += n
        if i >= 0 and name.endswith("]"):
            offsets[name][pc - addrs[i]] = n / nios
    total = sum(per.values())
    with open(out_json, "w") as f:
        json.dump({"ios": nios, "total": total / nios, "symbols": {k: v / nios for k, v in per.items()},
                   "offsets": offsets}, f)
    print(f"# {total / nios:.0f} guest instructions per I/O ({total} in {nios} I/Os)")
    for name, n in per.most_common(40):
        print(f"{n / nios:10.1f}  {short(name)}")


def idents(sym):
    """The identifiers of a Rust v0 symbol, each a decimal length and that
    many characters (back-references and crate hashes are skipped); close
    enough for a profile's labels."""
    out, i = [], 0
    while i < len(sym):
        # Digits after a tag's "s" (a disambiguator, as in "Xs3_") or after
        # "B" (a back-reference) are base-62 numbers, not lengths.
        tagged = sym[i - 1] == "B" or (sym[i - 1] == "s" and sym[i - 2].isupper())
        if sym[i].isdigit() and not sym[i - 1].isdigit() and not tagged:
            j = i
            while j < len(sym) and sym[j].isdigit():
                j += 1
            n = int(sym[i:j])
            k = j + (j < len(sym) and sym[j] == "_")
            name = sym[k:k + n]
            if n and len(name) == n and (name[0].isalpha() or name[0] == "_") and \
                    all(c.isalnum() or c == "_" for c in name):
                out.append(name)
                i = k + n
                continue
        i += 1
    return out


def short(name):
    """A Rust symbol as its first type and its last name (`WriteBatch::commit`,
    generic arguments left out); C names as they are."""
    sym, _, mod = name.partition(" ")
    if sym.startswith("_R"):
        ids = idents(sym)
        types = [i for i in ids if i[0].isupper()]
        sym = "::".join(([types[0]] if types and types[0] != ids[-1] else []) + ids[-1:])
    return sym + (" " + mod if mod else "")


def show(path, count=40):
    with open(path) as f:
        p = json.load(f)
    print(f"# {p['total']:.0f} guest instructions per I/O")
    for name, n in sorted(p["symbols"].items(), key=lambda kv: -kv[1])[:count]:
        print(f"{n:10.1f}  {short(name)}")


def diff(a_json, b_json):
    a, b = (json.load(open(p))["symbols"] for p in (a_json, b_json))
    print(f"# per I/O: A {sum(a.values()):.0f}, B {sum(b.values()):.0f}, B - A {sum(b.values()) - sum(a.values()):+.0f}")
    rows = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), key=lambda r: -abs(r[0]))
    for d, k in rows[:40]:
        print(f"{d:+9.1f} {a.get(k, 0):9.1f} {b.get(k, 0):9.1f}  {short(k)}")


def annotate(path, ko, want):
    with open(path) as f:
        offsets = json.load(f).get("offsets", {})
    # -r: a call's target is a relocation in a module, shown after it.
    dis = subprocess.run(["objdump", "-dr", "--no-show-raw-insn", ko], check=True,
                         capture_output=True, text=True).stdout
    funcs, cur = {}, None
    for line in dis.splitlines():
        m = re.match(r"^([0-9a-f]+) <(.+)>:$", line)
        reloc = re.match(r"^\s+[0-9a-f]+: (R_\S+)\s+(\S+)", line)
        if m:
            cur = funcs.setdefault(m.group(2), (int(m.group(1), 16), []))
        elif cur and reloc and cur[1]:
            target = re.sub(r"[-+]0x[0-9a-f]+$", "", reloc.group(2))
            cur[1][-1] = re.sub(r"\s*<.*>$", "", cur[1][-1]) + "  -> " + short(target)
        elif cur and re.match(r"^\s+[0-9a-f]+:", line):
            cur[1].append(line)
    for name, counts in sorted(offsets.items(), key=lambda kv: -sum(kv[1].values())):
        if (want not in short(name) and want not in name) or name.split()[0] not in funcs:
            continue
        start, lines = funcs[name.split()[0]]
        print(f"# {short(name)}: {sum(counts.values()):.1f} per I/O")
        for line in lines:
            off = int(line.split(":")[0], 16) - start
            n = counts.get(str(off), 0)
            print(f"{n:7.1f} {line.strip()}" if n else f"{'':7} {line.strip()}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "watch":
        watch(*args)
    elif cmd == "analyze":
        analyze(args[0], args[1], int(args[2]), args[3])
    elif cmd == "diff":
        diff(*args)
    elif cmd == "show":
        show(*args)
    elif cmd == "annotate":
        annotate(*args)
    else:
        sys.exit(__doc__)
