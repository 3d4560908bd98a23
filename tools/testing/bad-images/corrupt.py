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


def newest_slot(seq0, seq1):
    """Which of a log group's two slots is the newest, as C btt_log_get_old()
    decides: sequence numbers cycle 1, 2, 3, 1, ... (0 = never written), so the
    newest is the successor of the other, not the larger one ((3, 1): slot 1)."""
    if seq0 in (1, 2, 3) and seq1 == 0:
        return 0
    if {seq0, seq1} not in ({1, 2}, {2, 3}, {3, 1}):
        raise ValueError(f"flog seq pair ({seq0}, {seq1}) is not one BTT writes")
    return 0 if seq0 == seq1 % 3 + 1 else 1


def flog_lane0_slot(newest):
    """Lane 0's newest (or, newest=False, its stale) flog entry made to name a
    block beyond internal_nlba; its sequence number is kept."""
    def apply(img):
        _, sb = read_sb(img, BTT)
        off = BTT + sb["logoff"]
        img.seek(off)
        # Both slots of the (0,1)-padded log group.
        ents = [LOG_ENT.unpack(img.read(16)) for _ in range(2)]
        slot = newest_slot(ents[0][3], ents[1][3])
        if not newest:
            slot = 1 - slot
        lba, old, _, seq = ents[slot]
        img.seek(off + slot * 16)
        img.write(LOG_ENT.pack(lba, old, sb["internal_nlba"] + 1000, seq))
    return apply


CASES = {
    "info-checksum": ("primary info block checksum wrong (libnvdimm itself then sees no BTT)",
                      poke(lambda sb: 4088, lambda sb, img: b"\xde\xad\xbe\xef\xde\xad\xbe\xef")),
    "version": ("info block version_major 3", edit("version_major", 3)),
    "nlba-too-large": ("external_nlba larger than the arena holds", edit("external_nlba", 0x7FFFFFFF)),
    "mapoff-outside": ("mapoff beyond the arena", edit("mapoff", 1 << 40)),
    "nfree-zero": ("nfree 0", edit("nfree", 0)),
    "info2-bad": ("backup info block (info2) checksum wrong; the primary is fine",
                  poke(lambda sb: sb["info2off"] + 4088, b"\x01" * 8)),
    "flog-range": ("lane 0's newest flog entry names a block outside the arena", flog_lane0_slot(True)),
    "flog-stale-range": ("lane 0's stale flog entry (the slot the next write reuses) names a block "
                         "outside the arena", flog_lane0_slot(False)),
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
