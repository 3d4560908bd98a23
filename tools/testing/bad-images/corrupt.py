#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Damages a BTT image on purpose, in one named way, for the bad-image tests.

The image is an NVDIMM backing file whose namespace starts at offset 0 and holds
one BTT arena (info block version 1.1 at 4096, from `ndctl init-labels`' v1.1
labels). Field edits recompute the info block's Fletcher64 checksum, so
libnvdimm's own probe (btt_devs.c, which checks signature, parent uuid and
checksum only) still hands the namespace to the BTT driver, and it is the
driver's validation that is tested.

Usage: corrupt.py IMAGE CASE       (corrupt.py --list for the cases)
       corrupt.py IMAGE --uuid     (print the info block's parent uuid)
"""
import struct
import sys
import uuid as uuidlib

BTT = 4096          # the BTT's offset in the namespace (version 1.1)
SB = struct.Struct("<16s16s16sIHHIIIIIIQQQQQ")  # btt_sb up to info2off
FIELDS = ("signature", "uuid", "parent_uuid", "flags", "version_major", "version_minor",
          "external_lbasize", "external_nlba", "internal_lbasize", "internal_nlba", "nfree",
          "infosize", "nextoff", "dataoff", "mapoff", "logoff", "info2off")
LOG_ENT = struct.Struct("<IIII")  # lba, old_map, new_map, seq


def fletcher64(block):
    lo = hi = 0
    for (w,) in struct.iter_unpack("<I", block):
        lo = (lo + w) & 0xFFFFFFFF
        hi = (hi + lo) & 0xFFFFFFFF
    return (hi << 32) | lo


def read_sb(img, off):
    img.seek(off)
    raw = bytearray(img.read(4096))
    return raw, dict(zip(FIELDS, SB.unpack_from(raw)))


def write_sb(img, off, raw, sb):
    SB.pack_into(raw, 0, *(sb[f] for f in FIELDS))
    raw[4088:4096] = b"\0" * 8
    raw[4088:4096] = struct.pack("<Q", fletcher64(bytes(raw)))
    img.seek(off)
    img.write(raw)


def edit(field, value):
    def apply(img):
        raw, sb = read_sb(img, BTT)
        sb[field] = value(sb) if callable(value) else value
        write_sb(img, BTT, raw, sb)
    return apply


def poke(where, data):
    def apply(img):
        _, sb = read_sb(img, BTT)
        img.seek(BTT + where(sb))
        img.write(data(sb, img) if callable(data) else data)
    return apply


def dup_map(img):
    """Map entry of lba 1 made to name the same block as lba 0's (a block owned twice)."""
    _, sb = read_sb(img, BTT)
    img.seek(BTT + sb["mapoff"])
    (e0,) = struct.unpack("<I", img.read(4))
    img.seek(BTT + sb["mapoff"] + 4)
    img.write(struct.pack("<I", e0 | 0xC0000000 if e0 else 0xC0000000))


def flog_out_of_range(img):
    """Lane 0's newest flog entry names a block beyond internal_nlba."""
    _, sb = read_sb(img, BTT)
    off = BTT + sb["logoff"]
    img.seek(off)
    ents = [LOG_ENT.unpack(img.read(16)) for _ in range(2)]
    # Both slots of the (0,1)-padded log group: make the newest one bad.
    newest = max(range(2), key=lambda i: ents[i][3])
    lba, old, new, seq = ents[newest]
    img.seek(off + newest * 16)
    img.write(LOG_ENT.pack(lba, old, sb["internal_nlba"] + 1000, seq))


CASES = {
    "info-checksum": ("primary info block checksum wrong (libnvdimm itself then sees no BTT)",
                      poke(lambda sb: 4088, lambda sb, img: b"\xde\xad\xbe\xef\xde\xad\xbe\xef")),
    "version": ("info block version_major 3", edit("version_major", 3)),
    "nlba-too-large": ("external_nlba larger than the arena holds", edit("external_nlba", 0x7FFFFFFF)),
    "mapoff-outside": ("mapoff beyond the arena", edit("mapoff", 1 << 40)),
    "nfree-zero": ("nfree 0", edit("nfree", 0)),
    "info2-bad": ("backup info block (info2) checksum wrong; the primary is fine",
                  poke(lambda sb: sb["info2off"] + 4088, b"\x01" * 8)),
    "flog-range": ("a flog entry names a block outside the arena", flog_out_of_range),
    "map-duplicate": ("two map entries name the same internal block", dup_map),
}

if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        for k, (d, _) in CASES.items():
            print(f"{k}\t{d}")
        sys.exit(0)
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], "r+b") as img:
        if sys.argv[2] == "--uuid":
            _, sb = read_sb(img, BTT)
            if not sb["signature"].startswith(b"BTT_ARENA_INFO"):
                sys.exit(f"{sys.argv[1]}: no BTT info block at {BTT}")
            print(uuidlib.UUID(bytes=sb["parent_uuid"]))
        else:
            CASES[sys.argv[2]][1](img)
