// SPDX-License-Identifier: GPL-2.0
//! BTT map entries (C: `MAP_*` in btt.h, `btt_map_read()`, `btt_map_write()`).
//!
//! The map has one little-endian 32-bit entry (C: `MAP_ENT_SIZE`, 4 bytes)
//! per external block of the arena, at `mapoff + premap * 4`. Bits 0..=29
//! (C: `MAP_LBA_MASK`) hold the postmap block; bit 31 is the zero/trim flag
//! `Z` (C: `MAP_TRIM_MASK`) and bit 30 the error flag `E` (C: `MAP_ERR_MASK`):
//!
//! | Z | E | meaning (C `btt_map_read()`)                                   |
//! |---|---|----------------------------------------------------------------|
//! | 0 | 0 | initial state, never written: postmap = premap (identity)      |
//! | 0 | 1 | error: reads fail with EIO, a write replaces it                |
//! | 1 | 0 | zero (trim): reads return zeroes                               |
//! | 1 | 1 | normal: the entry's postmap holds the data (`MAP_ENT_NORMAL`)  |

/// Size of one map entry in bytes (C: `MAP_ENT_SIZE`).
pub const MAP_ENT_SIZE: u64 = 4;
/// Bit of the zero/trim flag (C: `MAP_TRIM_SHIFT`).
pub const MAP_TRIM_SHIFT: u32 = 31;
/// The zero/trim flag (C: `MAP_TRIM_MASK`).
pub const MAP_TRIM_MASK: u32 = 1 << MAP_TRIM_SHIFT;
/// Bit of the error flag (C: `MAP_ERR_SHIFT`).
pub const MAP_ERR_SHIFT: u32 = 30;
/// The error flag (C: `MAP_ERR_MASK`).
pub const MAP_ERR_MASK: u32 = 1 << MAP_ERR_SHIFT;
/// The postmap block bits (C: `MAP_LBA_MASK`).
pub const MAP_LBA_MASK: u32 = !(MAP_TRIM_MASK | MAP_ERR_MASK);
/// Both flags set: a normal entry (C: `MAP_ENT_NORMAL`).
pub const MAP_ENT_NORMAL: u32 = 0xC000_0000;

/// The postmap block of a raw entry, flags stripped (C: `ent_lba()`).
pub fn ent_lba(ent: u32) -> u32 {
    ent & MAP_LBA_MASK
}

/// Whether the error bit is set (C: `ent_e_flag()`).
pub fn ent_e_flag(ent: u32) -> bool {
    ent & MAP_ERR_MASK != 0
}

/// Whether the zero/trim bit is set (C: `ent_z_flag()`).
pub fn ent_z_flag(ent: u32) -> bool {
    ent & MAP_TRIM_MASK != 0
}

/// Whether both bits are set, a normal entry (C: `ent_normal()`).
pub fn ent_normal(ent: u32) -> bool {
    ent_e_flag(ent) && ent_z_flag(ent)
}

/// The block that raw entry `ent` of premap block `premap` names: the
/// premap block itself for an entry in the initial state (no flag), else
/// its postmap bits (C `btt_map_read()`'s `*mapping`).
pub fn ent_postmap(premap: u32, ent: u32) -> u32 {
    if ent & (MAP_TRIM_MASK | MAP_ERR_MASK) == 0 {
        premap
    } else {
        ent_lba(ent)
    }
}

/// Whether a read of raw entry `ent` fails: the error flag alone (C
/// `btt_map_read()`'s `*error`; both flags are a normal entry).
pub fn ent_is_error(ent: u32) -> bool {
    ent & (MAP_TRIM_MASK | MAP_ERR_MASK) == MAP_ERR_MASK
}

/// A map entry as C `btt_map_read()` returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The postmap block (C `*mapping`): the premap block itself for an
    /// entry in the initial state.
    pub postmap: u32,
    /// C `*trim`: reads return zeroes.
    pub zero: bool,
    /// C `*error`: reads fail.
    pub error: bool,
}

impl Mapping {
    /// Decodes raw entry `raw` of premap block `premap` (C `btt_map_read()`).
    pub fn decode(premap: u32, raw: u32) -> Self {
        Mapping {
            postmap: ent_postmap(premap, raw),
            zero: ent_z_flag(raw) && !ent_e_flag(raw),
            error: ent_is_error(raw),
        }
    }
}

/// The raw entry C `btt_map_write(arena, lba, mapping, z_flag, e_flag)`
/// stores: neither flag asked gives a normal entry (both bits set), `e` alone
/// the error bit, `z` alone the zero bit. C refuses both (`-EIO`): `None`.
pub fn encode(postmap: u32, z: bool, e: bool) -> Option<u32> {
    let lba = ent_lba(postmap);
    match (z, e) {
        (false, false) => Some(lba | MAP_ENT_NORMAL),
        (false, true) => Some(lba | MAP_ERR_MASK),
        (true, false) => Some(lba | MAP_TRIM_MASK),
        (true, true) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_the_c_ones() {
        assert_eq!(MAP_ENT_SIZE, 4);
        assert_eq!(MAP_TRIM_MASK, 0x8000_0000);
        assert_eq!(MAP_ERR_MASK, 0x4000_0000);
        assert_eq!(MAP_LBA_MASK, 0x3fff_ffff);
        assert_eq!(MAP_ENT_NORMAL, MAP_TRIM_MASK | MAP_ERR_MASK);
    }

    #[test]
    fn flag_accessors() {
        let cases = [
            (0x0000_0005, 5, false, false, false),
            (0x4000_0005, 5, true, false, false),
            (0x8000_0005, 5, false, true, false),
            (0xc000_0005, 5, true, true, true),
            (0xffff_ffff, 0x3fff_ffff, true, true, true),
        ];
        for (raw, lba, e, z, normal) in cases {
            assert_eq!(ent_lba(raw), lba, "{raw:#x}");
            assert_eq!(ent_e_flag(raw), e, "{raw:#x}");
            assert_eq!(ent_z_flag(raw), z, "{raw:#x}");
            assert_eq!(ent_normal(raw), normal, "{raw:#x}");
        }
    }

    #[test]
    fn encode_as_btt_map_write() {
        assert_eq!(encode(5, false, false), Some(0xc000_0005));
        assert_eq!(encode(5, false, true), Some(0x4000_0005));
        assert_eq!(encode(5, true, false), Some(0x8000_0005));
        assert_eq!(encode(5, true, true), None);
        // Flags in the mapping argument are stripped first.
        assert_eq!(encode(0xc000_0005, false, true), Some(0x4000_0005));
        assert_eq!(encode(0x3fff_ffff, false, false), Some(0xffff_ffff));
    }

    #[test]
    fn decode_as_btt_map_read() {
        // Initial state: identity, whatever the low bits hold.
        let m = Mapping::decode(77, 0);
        assert_eq!((m.postmap, m.zero, m.error), (77, false, false));
        let m = Mapping::decode(77, 12);
        assert_eq!((m.postmap, m.zero, m.error), (77, false, false));
        let m = Mapping::decode(77, 0x4000_000c);
        assert_eq!((m.postmap, m.zero, m.error), (12, false, true));
        let m = Mapping::decode(77, 0x8000_000c);
        assert_eq!((m.postmap, m.zero, m.error), (12, true, false));
        let m = Mapping::decode(77, 0xc000_000c);
        assert_eq!((m.postmap, m.zero, m.error), (12, false, false));
    }

    #[test]
    fn map_entries_round_trip() {
        for postmap in [0u32, 1, 255, 0x1234_5678 & MAP_LBA_MASK, MAP_LBA_MASK] {
            for (z, e) in [(false, false), (false, true), (true, false)] {
                let raw = encode(postmap, z, e).unwrap();
                let m = Mapping::decode(9, raw);
                assert_eq!((m.postmap, m.zero, m.error), (postmap, z, e), "{raw:#x}");
                assert_eq!(encode(m.postmap, m.zero, m.error), Some(raw));
                // On media: one little-endian u32.
                assert_eq!(u32::from_le_bytes(raw.to_le_bytes()), raw);
            }
        }
    }
}
