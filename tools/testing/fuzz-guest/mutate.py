#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Seeded mutations of a BTT image for the guest fuzz suite (run.sh).

A mutation is a patch list against the pristine image: the mutator copies the
image, damages the copy one way (a class below), and keeps the byte runs that
differ as "PATCH FILE-OFFSET HEX" lines, with "# class:" and "# desc:" lines
in front. Patch files are what regressions/ holds and what the host applies to
the guest's live NVDIMM backing file before each image.

The image is a QEMU NVDIMM backing file whose label-less namespace starts at
offset 0 and holds a BTT 1.1 at 4096 (`btt create --offset 4096 --version 1.1`),
so libnvdimm's probe finds it. Info-block helpers come from the bad-image
suite's corrupt.py.

Classes (image i of seed S draws from random.Random(f"{S}:{i}")):
  field-valid   one info-block field of the primary changed, checksum recomputed
  field-badsum  one field of the primary changed, checksum left stale
  both-info     the same change to both info blocks, checksums recomputed
  flog          one flog entry field (lba, old_map, new_map, seq) or padding bytes
  map           map entries: postmap values, error/zero flag bits, duplicates
  random        1-16 random bytes (or bit flips) anywhere in the metadata

Usage: mutate.py gen PRISTINE --seed S --first I --count M --dir DIR
       mutate.py normalise PRISTINE   (fixed uuid: the same image every run)
       mutate.py sector LBA N SIZE    (the pristine image's N-th write to LBA)
       mutate.py apply IMAGE PATCHFILE [--pristine PRISTINE]
       mutate.py layout PRISTINE
"""
import argparse
import hashlib
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bad-images"))
import corrupt  # noqa: E402  (fletcher64, SB, FIELDS, LOG_ENT)

BTT = corrupt.BTT
# Field name -> (offset in the info block, struct format).
FIELD_AT = {}
_off = 0
for _name, _fmt in zip(corrupt.FIELDS, ("16s", "16s", "16s", "I", "H", "H", "I", "I", "I", "I", "I",
                                         "I", "Q", "Q", "Q", "Q", "Q")):
    FIELD_AT[_name] = (_off, _fmt)
    _off += struct.calcsize(_fmt)
CLASSES = ("field-valid", "field-badsum", "both-info", "flog", "map", "random")
MAP_ERROR, MAP_ZERO = 0x40000000, 0x80000000


def layout(img):
    """The pristine arena's metadata regions as (name, file offset, length)."""
    sb = dict(zip(corrupt.FIELDS, corrupt.SB.unpack_from(img, BTT)))
    a = BTT
    return sb, [
        ("info", a, 4096),
        ("map", a + sb["mapoff"], sb["external_nlba"] * 4),
        ("flog", a + sb["logoff"], sb["nfree"] * 64),
        ("info2", a + sb["info2off"], 4096),
    ]


def resum(img, off):
    img[off + 4088:off + 4096] = b"\0" * 8
    img[off + 4088:off + 4096] = struct.pack("<Q", corrupt.fletcher64(bytes(img[off:off + 4096])))


def interesting(rng, v, bits):
    top = (1 << bits) - 1
    choice = rng.randrange(12)
    return [0, 1, (v - 1) & top, (v + 1) & top, (v * 2) & top, v // 2, top, top >> 1,
            rng.getrandbits(bits), v ^ (1 << rng.randrange(bits)), (v + rng.randrange(1, 4096)) & top,
            rng.getrandbits(rng.randrange(1, bits + 1))][choice]


def field_edit(rng, img, off):
    """Changes one field of the info block at file offset OFF; returns a description."""
    name = rng.choice(corrupt.FIELDS + ("reserved",))
    if name == "reserved":
        at = rng.randrange(120, 4088)
        old = img[off + at]
        new = old ^ (1 << rng.randrange(8))
        img[off + at] = new
        return f"reserved byte {at} {old:#x} -> {new:#x}"
    at, fmt = FIELD_AT[name]
    if fmt == "16s":
        i = rng.randrange(16)
        old = img[off + at + i]
        img[off + at + i] = old ^ (1 << rng.randrange(8)) if rng.random() < 0.7 else rng.randrange(256)
        if rng.random() < 0.2:
            img[off + at:off + at + 16] = b"\0" * 16
            return f"{name} zeroed"
        return f"{name} byte {i} {old:#x} -> {img[off + at + i]:#x}"
    (old,) = struct.unpack_from("<" + fmt, img, off + at)
    bits = struct.calcsize(fmt) * 8
    new = old
    while new == old:
        new = interesting(rng, old, bits)
    struct.pack_into("<" + fmt, img, off + at, new)
    return f"{name} {old:#x} -> {new:#x}"


def m_field_valid(rng, img, sb, regions):
    d = field_edit(rng, img, BTT)
    resum(img, BTT)
    return f"primary {d}, checksum recomputed"


def m_field_badsum(rng, img, sb, regions):
    d = field_edit(rng, img, BTT)
    if rng.random() < 0.5:
        return f"primary {d}, checksum stale"
    # The primary's checksum stale and the backup damaged too.
    info2 = BTT + sb["info2off"]
    d2 = field_edit(rng, img, info2)
    if rng.random() < 0.5:
        resum(img, info2)
        return f"primary {d}, checksum stale; backup {d2}, checksum recomputed"
    return f"primary {d}, checksum stale; backup {d2}, checksum stale"


def m_both_info(rng, img, sb, regions):
    state = rng.getstate()
    d = field_edit(rng, img, BTT)
    after = rng.getstate()
    rng.setstate(state)
    field_edit(rng, img, BTT + sb["info2off"])
    rng.setstate(after)
    resum(img, BTT)
    resum(img, BTT + sb["info2off"])
    return f"both info blocks {d}, checksums recomputed"


def m_flog(rng, img, sb, regions):
    base = BTT + sb["logoff"]
    lane = rng.choice([0, 1, sb["nfree"] - 1, rng.randrange(sb["nfree"])])
    grp = base + lane * 64
    if rng.random() < 0.25:
        # Padding: the group's third and fourth 16-byte slots (live entries are
        # in slots 0 and 1 for a 4.15+ BTT).
        at = rng.randrange(32, 64)
        n = rng.randrange(1, 64 - at + 1)
        img[grp + at:grp + at + n] = bytes(rng.getrandbits(8) for _ in range(n))
        return f"flog lane {lane} padding bytes {at}..{at + n - 1} random"
    slot = rng.randrange(2)
    fld = rng.randrange(4)
    at = grp + slot * 16 + fld * 4
    (old,) = struct.unpack_from("<I", img, at)
    if fld in (1, 2) and rng.random() < 0.5:
        new = old ^ rng.choice([MAP_ERROR, MAP_ZERO, MAP_ERROR | MAP_ZERO, 1 << rng.randrange(30)])
    elif fld == 3 and rng.random() < 0.6:
        new = rng.choice([0, 1, 2, 3, 4, 0xFFFFFFFF])
    elif fld in (1, 2) and rng.random() < 0.5:
        new = rng.choice([sb["internal_nlba"], sb["internal_nlba"] - 1, sb["internal_nlba"] + 1,
                          rng.randrange(sb["internal_nlba"])])
    else:
        new = interesting(rng, old, 32)
    struct.pack_into("<I", img, at, new)
    if rng.random() < 0.2:
        # Both slots at once: the same field in the other slot.
        struct.pack_into("<I", img, grp + (1 - slot) * 16 + fld * 4, interesting(rng, old, 32))
        return f"flog lane {lane} {('lba', 'old_map', 'new_map', 'seq')[fld]} both slots (slot {slot} {old:#x} -> {new:#x})"
    return f"flog lane {lane} slot {slot} {('lba', 'old_map', 'new_map', 'seq')[fld]} {old:#x} -> {new:#x}"


def m_map(rng, img, sb, regions):
    base = BTT + sb["mapoff"]
    nlba = sb["external_nlba"]
    descs = []
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        lba = rng.choice([0, 1, 2, nlba - 1, rng.randrange(nlba), rng.randrange(min(nlba, 64))])
        at = base + lba * 4
        (old,) = struct.unpack_from("<I", img, at)
        pre = old & 0x3FFFFFFF if old & 0xC0000000 else lba
        k = rng.randrange(7)
        if k == 0:
            new = old ^ rng.choice([MAP_ERROR, MAP_ZERO, MAP_ERROR | MAP_ZERO])
        elif k == 6:
            # The same block, other flags: error (reads fail), zero (reads
            # return zeroes), both (a plain mapping), none.
            new = rng.choice([MAP_ERROR, MAP_ZERO, MAP_ERROR | MAP_ZERO, 0]) | pre
            if new == old:
                new = MAP_ERROR | pre
        elif k == 1:
            new = (old & 0xC0000000 or 0xC0000000) | rng.randrange(sb["internal_nlba"])
        elif k == 2:
            new = 0xC0000000 | rng.choice([sb["internal_nlba"], sb["internal_nlba"] + 1, 0x3FFFFFFF])
        elif k == 3:
            # Duplicate another lba's block.
            other = rng.randrange(nlba)
            (o,) = struct.unpack_from("<I", img, base + other * 4)
            new = 0xC0000000 | (o & 0x3FFFFFFF if o & 0xC0000000 else other)
        elif k == 4:
            new = 0
        else:
            new = interesting(rng, old, 32)
        struct.pack_into("<I", img, at, new)
        descs.append(f"lba {lba} {old:#x} -> {new:#x} (was block {pre})")
    return "map " + "; ".join(descs)


def m_random(rng, img, sb, regions):
    name, off, length = rng.choice(regions)
    at = off + rng.randrange(length)
    if rng.random() < 0.5:
        old = img[at]
        img[at] ^= 1 << rng.randrange(8)
        return f"{name} bit flip at file offset {at} ({old:#x} -> {img[at]:#x})"
    n = min(rng.randrange(1, 17), off + length - at)
    img[at:at + n] = bytes(rng.getrandbits(8) for _ in range(n))
    return f"{name} {n} random bytes at file offset {at}"


MUTATORS = {"field-valid": m_field_valid, "field-badsum": m_field_badsum, "both-info": m_both_info,
            "flog": m_flog, "map": m_map, "random": m_random}


def diff(a, b):
    """Byte runs where B differs from A, as (offset, bytes)."""
    runs, i, n = [], 0, len(a)
    # Coarse scan first: images are megabytes, mutations a few bytes.
    step = 4096
    for blk in range(0, n, step):
        if a[blk:blk + step] == b[blk:blk + step]:
            continue
        i = blk
        end = min(blk + step, n)
        while i < end:
            if a[i] != b[i]:
                j = i
                while j < end and a[j] != b[j]:
                    j += 1
                if runs and runs[-1][0] + len(runs[-1][1]) == i:
                    runs[-1] = (runs[-1][0], runs[-1][1] + bytes(b[i:j]))
                else:
                    runs.append((i, bytes(b[i:j])))
                i = j
            else:
                i += 1
    return runs


def make(pristine, seed, index):
    rng = random.Random(f"{seed}:{index}")
    sb, regions = layout(pristine)
    for _ in range(20):
        cls = rng.choice(CLASSES)
        img = bytearray(pristine)
        desc = MUTATORS[cls](rng, img, sb, regions)
        runs = diff(pristine, img)
        if runs:
            return cls, desc, runs
    raise RuntimeError(f"seed {seed} image {index}: no mutation changed a byte")


# The pristine image's BTT uuid, fixed so that the image (and so every patch,
# checksums included) is the same on every run.
FIXED_UUID = bytes.fromhex("b7770000f0220000a0000000000000fa")


def normalise(path):
    """Sets the uuid of both info blocks to FIXED_UUID (checksums recomputed)."""
    with open(path, "r+b") as f:
        img = bytearray(f.read())
        sb, _ = layout(img)
        for off in (BTT, BTT + sb["info2off"]):
            img[off + 16:off + 32] = FIXED_UUID
            resum(img, off)
        f.seek(0)
        f.write(img)


def sector(lba, n, size):
    """The data the pristine image's N-th write puts in LBA."""
    return random.Random(f"pristine:{lba}:{n}").randbytes(size)


def write_patch(path, cls, desc, runs, origin, pristine_sum):
    with open(path + ".tmp", "w") as f:
        f.write(f"# class: {cls}\n# desc: {desc}\n# origin: {origin}\n# pristine: {pristine_sum}\n")
        for off, data in runs:
            f.write(f"PATCH {off} {data.hex()}\n")
    os.replace(path + ".tmp", path)


def read_patch(path):
    cls, desc, runs = "regression", "", []
    with open(path) as f:
        for line in f:
            if line.startswith("# class:"):
                cls = line.split(":", 1)[1].strip()
            elif line.startswith("# desc:"):
                desc = line.split(":", 1)[1].strip()
            elif line.startswith("PATCH "):
                _, off, hx = line.split()
                runs.append((int(off), bytes.fromhex(hx)))
    return cls, desc, runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("pristine")
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--first", type=int, default=1)
    g.add_argument("--count", type=int, required=True)
    g.add_argument("--dir", required=True)
    a = sub.add_parser("apply")
    a.add_argument("image")
    a.add_argument("patch")
    a.add_argument("--pristine")
    lo = sub.add_parser("layout")
    lo.add_argument("pristine")
    no = sub.add_parser("normalise")
    no.add_argument("pristine")
    se = sub.add_parser("sector")
    se.add_argument("lba", type=int)
    se.add_argument("n", type=int)
    se.add_argument("size", type=int)
    o = ap.parse_args()
    if o.cmd == "normalise":
        return normalise(o.pristine)
    if o.cmd == "sector":
        return sys.stdout.buffer.write(sector(o.lba, o.n, o.size))
    if o.cmd == "gen":
        with open(o.pristine, "rb") as f:
            pristine = f.read()
        os.makedirs(o.dir, exist_ok=True)
        # The whole file's sha256 (label area included), as run.sh prints it.
        with open(o.pristine, "rb") as f:
            psum = hashlib.sha256(f.read()).hexdigest()[:16]
        for i in range(o.first, o.first + o.count):
            cls, desc, runs = make(pristine, o.seed, i)
            write_patch(os.path.join(o.dir, f"s{o.seed}-{i:05d}.patch"), cls, desc, runs, f"seed {o.seed} image {i}",
                        psum)
    elif o.cmd == "apply":
        _, _, runs = read_patch(o.patch)
        with open(o.image, "r+b") as f:
            if o.pristine:
                with open(o.pristine, "rb") as p:
                    f.write(p.read())
            for off, data in runs:
                f.seek(off)
                f.write(data)
    else:
        with open(o.pristine, "rb") as f:
            sb, regions = layout(f.read())
        for name, off, length in regions:
            print(f"{name}\t{off}\t{length}")


if __name__ == "__main__":
    main()
