// SPDX-License-Identifier: GPL-2.0
//! Arena sizing for a new BTT, exactly as C `create_arenas()` and
//! `alloc_arena()` compute it.

use super::flog::LOG_GRP_SIZE;
use super::info::{InfoBlock, INFO_SIZE, SIGNATURE};
use super::map::MAP_ENT_SIZE;

/// Smallest arena (C: `ARENA_MIN_SIZE`, 16 MiB).
pub const ARENA_MIN_SIZE: u64 = 1 << 24;
/// Largest arena (C: `ARENA_MAX_SIZE`, 512 GiB).
pub const ARENA_MAX_SIZE: u64 = 1 << 39;
/// Page size the layout is aligned to (C: `BTT_PG_SIZE`).
pub const BTT_PG_SIZE: u64 = 4096;
/// Free blocks, i.e. flog lanes, per arena (C: `BTT_DEFAULT_NFREE` = `ND_MAX_LANES`).
pub const BTT_DEFAULT_NFREE: u32 = 256;
/// Alignment of the internal block size (C: `INT_LBASIZE_ALIGNMENT`).
pub const INT_LBASIZE_ALIGNMENT: u32 = 64;
/// External sector sizes (with metadata) a BTT may have (C: `btt_lbasize_supported[]`).
pub const SUPPORTED_LBASIZES: [u32; 7] = [512, 520, 528, 4096, 4104, 4160, 4224];

/// The Linux sector size for an external lbasize (C `btt_init()`:
/// `lbasize >= 4096 ? 4096 : 512`).
pub fn sector_size_for(lbasize: u32) -> u32 {
    if lbasize >= 4096 {
        4096
    } else {
        512
    }
}

/// Internal block size for an external lbasize (C: `roundup(external_lbasize,
/// INT_LBASIZE_ALIGNMENT)`); `None` on overflow.
pub fn internal_lbasize_for(lbasize: u32) -> Option<u32> {
    lbasize.checked_next_multiple_of(INT_LBASIZE_ALIGNMENT)
}

/// The layout of one arena as C `alloc_arena()` computes it; every offset is
/// relative to the start of the BTT (C `arena_info` "absolute" offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaLayout {
    /// C `size`: bytes the arena occupies.
    pub size: u64,
    /// C `external_lba_start`: the first external block of the arena.
    pub external_lba_start: u64,
    /// C `internal_nlba`: data blocks, free ones included.
    pub internal_nlba: u32,
    /// C `internal_lbasize`.
    pub internal_lbasize: u32,
    /// C `external_nlba` = `internal_nlba - nfree`.
    pub external_nlba: u32,
    /// C `external_lbasize`.
    pub external_lbasize: u32,
    /// C `nfree`.
    pub nfree: u32,
    /// C `nextoff`: the arena's size when another arena follows, else 0 (relative).
    pub nextoff: u64,
    /// C `infooff`: the info block.
    pub infooff: u64,
    /// C `dataoff` = `infooff + BTT_PG_SIZE`.
    pub dataoff: u64,
    /// C `mapoff` = `dataoff + datasize`.
    pub mapoff: u64,
    /// C `logoff` = `mapoff + mapsize`.
    pub logoff: u64,
    /// C `info2off` = `logoff + logsize`.
    pub info2off: u64,
}

impl ArenaLayout {
    /// C `alloc_arena(btt, size, start, arena_off)`:
    ///
    /// ```text
    /// available = size rounded down to BTT_PG_SIZE
    ///             - 2 * BTT_PG_SIZE                          (info + info2)
    ///             - roundup(nfree * LOG_GRP_SIZE, BTT_PG_SIZE) (logsize)
    /// internal_nlba = (available - BTT_PG_SIZE) / (internal_lbasize + MAP_ENT_SIZE)
    /// external_nlba = internal_nlba - nfree
    /// mapsize = roundup(external_nlba * MAP_ENT_SIZE, BTT_PG_SIZE)
    /// datasize = available - mapsize
    /// ```
    ///
    /// `None` when `size` is too small for any block or a value overflows.
    pub fn compute(size: u64, start: u64, arena_off: u64, lbasize: u32) -> Option<Self> {
        let internal_lbasize = internal_lbasize_for(lbasize)?;
        let nfree = BTT_DEFAULT_NFREE;
        let mut available = size - size % BTT_PG_SIZE;
        available = available.checked_sub(2 * BTT_PG_SIZE)?;
        let logsize = (u64::from(nfree) * LOG_GRP_SIZE).next_multiple_of(BTT_PG_SIZE);
        available = available.checked_sub(logsize)?;
        let nlba =
            available.checked_sub(BTT_PG_SIZE)? / (u64::from(internal_lbasize) + MAP_ENT_SIZE);
        let internal_nlba = u32::try_from(nlba).ok()?;
        let external_nlba = internal_nlba.checked_sub(nfree)?;
        if external_nlba == 0 {
            return None;
        }
        let mapsize = (u64::from(external_nlba) * MAP_ENT_SIZE).next_multiple_of(BTT_PG_SIZE);
        let datasize = available.checked_sub(mapsize)?;
        let infooff = arena_off;
        let dataoff = infooff.checked_add(BTT_PG_SIZE)?;
        let mapoff = dataoff.checked_add(datasize)?;
        let logoff = mapoff.checked_add(mapsize)?;
        let info2off = logoff.checked_add(logsize)?;
        Some(ArenaLayout {
            size,
            external_lba_start: start,
            internal_nlba,
            internal_lbasize,
            external_nlba,
            external_lbasize: lbasize,
            nfree,
            nextoff: 0,
            infooff,
            dataoff,
            mapoff,
            logoff,
            info2off,
        })
    }

    /// The info block C `btt_arena_write_layout()` writes for this arena
    /// (offsets made relative to the arena; `flags` 0; checksum not yet
    /// computed, see [`InfoBlock::seal`]).
    pub fn info_block(
        &self,
        uuid: [u8; 16],
        parent_uuid: [u8; 16],
        version_major: u16,
        version_minor: u16,
    ) -> InfoBlock {
        InfoBlock {
            signature: SIGNATURE,
            uuid,
            parent_uuid,
            flags: 0,
            version_major,
            version_minor,
            external_lbasize: self.external_lbasize,
            external_nlba: self.external_nlba,
            internal_lbasize: self.internal_lbasize,
            internal_nlba: self.internal_nlba,
            nfree: self.nfree,
            infosize: INFO_SIZE as u32,
            nextoff: self.nextoff,
            dataoff: self.dataoff - self.infooff,
            mapoff: self.mapoff - self.infooff,
            logoff: self.logoff - self.infooff,
            info2off: self.info2off - self.infooff,
            checksum: 0,
        }
    }
}

/// The arenas C `create_arenas()` lays out on `rawsize` bytes: arenas of
/// `min(ARENA_MAX_SIZE, remaining)` bytes while at least `ARENA_MIN_SIZE`
/// remain (a tail smaller than that is left unused); each but the last has
/// `nextoff` = its size.
///
/// Calls `f` for each arena in order; returns the number of arenas and the
/// total external blocks (C `btt->nlba`), or `None` if an arena cannot hold
/// a single block or `lbasize` is unusable.
pub fn for_each_new_arena(
    rawsize: u64,
    lbasize: u32,
    mut f: impl FnMut(usize, &ArenaLayout),
) -> Option<(usize, u64)> {
    let mut remaining = rawsize;
    let mut cur_off = 0u64;
    let mut nlba = 0u64;
    let mut n = 0usize;
    while remaining > 0 {
        let arena_size = remaining.min(ARENA_MAX_SIZE);
        remaining -= arena_size;
        if arena_size < ARENA_MIN_SIZE {
            break;
        }
        let mut a = ArenaLayout::compute(arena_size, nlba, cur_off, lbasize)?;
        nlba = nlba.checked_add(u64::from(a.external_nlba))?;
        a.nextoff = if remaining >= ARENA_MIN_SIZE {
            a.size
        } else {
            0
        };
        cur_off = cur_off.checked_add(arena_size)?;
        f(n, &a);
        n += 1;
    }
    Some((n, nlba))
}

/// Offset of arena 0's backup info block (C `info2off`) on a BTT of
/// `rawsize` bytes laid out by C `create_arenas()`: arena 0's size rounded
/// down to `BTT_PG_SIZE`, less one page. It does not depend on the lbasize:
/// `info2off = BTT_PG_SIZE + available + logsize` with `available` as in
/// [`ArenaLayout::compute`]. `None` if the BTT is smaller than one arena.
pub fn arena0_info2off(rawsize: u64) -> Option<u64> {
    let size = rawsize.min(ARENA_MAX_SIZE);
    if size < ARENA_MIN_SIZE {
        return None;
    }
    Some(size - size % BTT_PG_SIZE - BTT_PG_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    /// `(size, lbasize, internal_lbasize, internal_nlba, external_nlba,
    /// mapoff, logoff, info2off)` for an arena at offset 0, worked out from
    /// C `alloc_arena()` outside this code. For example 16 MiB at 512:
    /// available = 16777216 - 2 * 4096 - 16384 (logsize: 256 * 64) = 16752640;
    /// internal_nlba = (16752640 - 4096) / (512 + 4) = 32458; external_nlba
    /// = 32202; mapsize = roundup(128808, 4096) = 131072; datasize =
    /// 16752640 - 131072; mapoff = 4096 + datasize = 16625664; logoff =
    /// 16756736; info2off = 16773120. The "32 MiB - 4 KiB" rows are C's own
    /// v1.1 fixtures (c-v1.1-512, c-v1.1-520).
    #[rustfmt::skip]
    #[expect(clippy::type_complexity)]
    const TABLE: [(u64, u32, u32, u32, u32, u64, u64, u64); 35] = [
        (16777216, 512, 512, 32458, 32202, 16625664, 16756736, 16773120), // 16 MiB
        (16777216, 520, 576, 28876, 28620, 16642048, 16756736, 16773120),
        (16777216, 528, 576, 28876, 28620, 16642048, 16756736, 16773120),
        (16777216, 4096, 4096, 4085, 3829, 16740352, 16756736, 16773120),
        (16777216, 4104, 4160, 4022, 3766, 16740352, 16756736, 16773120),
        (16777216, 4160, 4160, 4022, 3766, 16740352, 16756736, 16773120),
        (16777216, 4224, 4224, 3961, 3705, 16740352, 16756736, 16773120),
        (33550336, 512, 512, 64964, 64708, 33267712, 33529856, 33546240), // 32 MiB - 4 KiB
        (33550336, 520, 576, 57795, 57539, 33296384, 33529856, 33546240),
        (33550336, 528, 576, 57795, 57539, 33296384, 33529856, 33546240),
        (33550336, 4096, 4096, 8176, 7920, 33497088, 33529856, 33546240),
        (33550336, 4104, 4160, 8050, 7794, 33497088, 33529856, 33546240),
        (33550336, 4160, 4160, 8050, 7794, 33497088, 33529856, 33546240),
        (33550336, 4224, 4224, 7928, 7672, 33497088, 33529856, 33546240),
        (104858834, 512, 512, 203156, 202900, 104022016, 104837120, 104853504), // 100 MiB + 1234
        (104858834, 520, 576, 180739, 180483, 104112128, 104837120, 104853504),
        (104858834, 528, 576, 180739, 180483, 104112128, 104837120, 104853504),
        (104858834, 4096, 4096, 25568, 25312, 104734720, 104837120, 104853504),
        (104858834, 4104, 4160, 25175, 24919, 104734720, 104837120, 104853504),
        (104858834, 4160, 4160, 25175, 24919, 104734720, 104837120, 104853504),
        (104858834, 4224, 4224, 24793, 24537, 104738816, 104837120, 104853504),
        (1073741824, 512, 512, 2080839, 2080583, 1065398272, 1073721344, 1073737728), // 1 GiB
        (1073741824, 520, 576, 1851229, 1850973, 1066315776, 1073721344, 1073737728),
        (1073741824, 528, 576, 1851229, 1850973, 1066315776, 1073721344, 1073737728),
        (1073741824, 4096, 4096, 261881, 261625, 1072672768, 1073721344, 1073737728),
        (1073741824, 4104, 4160, 257856, 257600, 1072689152, 1073721344, 1073737728),
        (1073741824, 4160, 4160, 257856, 257600, 1072689152, 1073721344, 1073737728),
        (1073741824, 4224, 4224, 253952, 253696, 1072705536, 1073721344, 1073737728),
        (549755813888, 512, 512, 1065418188, 1065417932, 545494118400, 549755793408, 549755809792), // 512 GiB
        (549755813888, 520, 576, 947854802, 947854546, 545964371968, 549755793408, 549755809792),
        (549755813888, 528, 576, 947854802, 947854546, 545964371968, 549755793408, 549755809792),
        (549755813888, 4096, 4096, 134086776, 134086520, 549219446784, 549755793408, 549755809792),
        (549755813888, 4104, 4160, 132025885, 132025629, 549227687936, 549755793408, 549755809792),
        (549755813888, 4160, 4160, 132025885, 132025629, 549227687936, 549755793408, 549755809792),
        (549755813888, 4224, 4224, 130027385, 130027129, 549235683328, 549755793408, 549755809792),
    ];

    #[test]
    fn lbasize_rules() {
        let want = [
            (512, 512, 512),
            (520, 576, 512),
            (528, 576, 512),
            (4096, 4096, 4096),
            (4104, 4160, 4096),
            (4160, 4160, 4096),
            (4224, 4224, 4096),
        ];
        for (i, (ext, int, sector)) in want.into_iter().enumerate() {
            assert_eq!(SUPPORTED_LBASIZES[i], ext);
            assert_eq!(internal_lbasize_for(ext), Some(int), "{ext}");
            assert_eq!(sector_size_for(ext), sector, "{ext}");
        }
        assert_eq!(internal_lbasize_for(u32::MAX), None);
    }

    #[test]
    fn arena_layout_matches_c_alloc_arena() {
        for (size, lbasize, int, inlba, enlba, mapoff, logoff, info2off) in TABLE {
            let a = ArenaLayout::compute(size, 0, 0, lbasize).unwrap();
            let what = (size, lbasize);
            assert_eq!(a.internal_lbasize, int, "{what:?}");
            assert_eq!(a.internal_nlba, inlba, "{what:?}");
            assert_eq!(a.external_nlba, enlba, "{what:?}");
            assert_eq!(a.nfree, 256, "{what:?}");
            assert_eq!(a.infooff, 0, "{what:?}");
            assert_eq!(a.dataoff, 4096, "{what:?}");
            assert_eq!(a.mapoff, mapoff, "{what:?}");
            assert_eq!(a.logoff, logoff, "{what:?}");
            assert_eq!(a.info2off, info2off, "{what:?}");
            // Invariants of the C rules.
            assert!(a.dataoff + u64::from(inlba) * u64::from(int) <= a.mapoff);
            assert!(a.mapoff + u64::from(enlba) * 4 <= a.logoff);
            assert_eq!(a.info2off - a.logoff, 16384);
            assert_eq!(a.info2off + 4096, size - size % 4096);
            assert_eq!(arena0_info2off(size), Some(info2off));
            assert!(inlba <= crate_map_lba_mask());
            // Moved to another arena offset, every offset moves with it.
            let b = ArenaLayout::compute(size, 1000, 3 * GIB, lbasize).unwrap();
            assert_eq!(b.external_lba_start, 1000);
            assert_eq!(b.infooff, 3 * GIB);
            assert_eq!(b.info2off, 3 * GIB + info2off);
            assert_eq!(b.mapoff - b.infooff, mapoff);
        }
    }

    fn crate_map_lba_mask() -> u32 {
        super::super::map::MAP_LBA_MASK
    }

    #[test]
    fn too_small_arenas_are_refused() {
        // 3 pages of metadata + a 16 KiB log leave nothing.
        assert_eq!(ArenaLayout::compute(8192, 0, 0, 512), None);
        assert_eq!(ArenaLayout::compute(7 * 4096, 0, 0, 512), None);
        // Room for fewer than nfree blocks: no external block.
        assert_eq!(ArenaLayout::compute(1 << 20, 0, 0, 4096), None);
        assert_eq!(arena0_info2off(ARENA_MIN_SIZE - 1), None);
    }

    #[test]
    fn info_block_has_relative_offsets() {
        let a = ArenaLayout::compute(GIB, 5, 2 * GIB, 4160).unwrap();
        let sb = a.info_block([1; 16], [2; 16], 2, 0);
        assert!(sb.signature_ok());
        assert_eq!((sb.uuid, sb.parent_uuid), ([1; 16], [2; 16]));
        assert_eq!((sb.version_major, sb.version_minor, sb.flags), (2, 0, 0));
        assert_eq!((sb.external_lbasize, sb.internal_lbasize), (4160, 4160));
        assert_eq!((sb.external_nlba, sb.internal_nlba), (257600, 257856));
        assert_eq!((sb.nfree, sb.infosize), (256, 4096));
        assert_eq!(sb.dataoff, 4096);
        assert_eq!(sb.mapoff, 1072689152);
        assert_eq!(sb.logoff, 1073721344);
        assert_eq!(sb.info2off, 1073737728);
        assert_eq!(sb.nextoff, 0);
    }

    /// Collects what `for_each_new_arena` lays out.
    fn arenas(rawsize: u64, lbasize: u32) -> ([Option<ArenaLayout>; 4], Option<(usize, u64)>) {
        let mut out = [None; 4];
        let r = for_each_new_arena(rawsize, lbasize, |i, a| out[i] = Some(*a));
        (out, r)
    }

    #[test]
    fn several_arenas_as_c_create_arenas() {
        // 1 TiB + 20 MiB: two full arenas and a 20 MiB one.
        let raw = 2 * ARENA_MAX_SIZE + 20 * MIB;
        let (a, r) = arenas(raw, 4096);
        let full = ArenaLayout::compute(ARENA_MAX_SIZE, 0, 0, 4096).unwrap();
        let tail = ArenaLayout::compute(20 * MIB, 0, 0, 4096).unwrap();
        let [a0, a1, a2, a3] = a;
        let (a0, a1, a2) = (a0.unwrap(), a1.unwrap(), a2.unwrap());
        assert!(a3.is_none());
        assert_eq!(a0.external_nlba, 134086520);
        // (20971520 - 8192 - 16384 - 4096) / 4100 = 5108 internal blocks.
        assert_eq!(tail.external_nlba, 4852);
        assert_eq!(r, Some((3, 2 * 134086520 + 4852)));
        assert_eq!(
            (a0.infooff, a0.external_lba_start, a0.nextoff),
            (0, 0, ARENA_MAX_SIZE)
        );
        assert_eq!(
            (a1.infooff, a1.external_lba_start, a1.nextoff),
            (ARENA_MAX_SIZE, 134086520, ARENA_MAX_SIZE)
        );
        assert_eq!(
            (a2.infooff, a2.external_lba_start, a2.nextoff),
            (2 * ARENA_MAX_SIZE, 2 * 134086520, 0)
        );
        assert_eq!(a1.mapoff, ARENA_MAX_SIZE + full.mapoff);
        assert_eq!(a2.info2off, 2 * ARENA_MAX_SIZE + tail.info2off);
        assert_eq!(a2.size, 20 * MIB);
        // Relative offsets in arena 1's info block are arena 0's.
        let sb1 = a1.info_block([0; 16], [0; 16], 2, 0);
        assert_eq!((sb1.mapoff, sb1.nextoff), (full.mapoff, ARENA_MAX_SIZE));

        // A tail below 16 MiB is left unused and the arena before it is last.
        let (a, r) = arenas(ARENA_MAX_SIZE + 8 * MIB, 512);
        assert_eq!(r, Some((1, 1065417932)));
        assert_eq!(a[0].unwrap().nextoff, 0);
        assert_eq!(a[0].unwrap().size, ARENA_MAX_SIZE);
        // Exactly 16 MiB after a full arena: a second arena.
        let (a, r) = arenas(ARENA_MAX_SIZE + ARENA_MIN_SIZE, 512);
        assert_eq!(r, Some((2, 1065417932 + 32202)));
        assert_eq!(a[0].unwrap().nextoff, ARENA_MAX_SIZE);
        assert_eq!(a[1].unwrap().nextoff, 0);
        // Below one arena: nothing.
        assert_eq!(arenas(ARENA_MIN_SIZE - 4096, 512).1, Some((0, 0)));
    }

    #[test]
    fn arena0_backup_does_not_depend_on_lbasize() {
        for raw in [ARENA_MIN_SIZE, 32 * MIB + 1234, 3 * ARENA_MAX_SIZE] {
            let want = arena0_info2off(raw).unwrap();
            for lbasize in SUPPORTED_LBASIZES {
                let (a, _) = arenas(raw, lbasize);
                assert_eq!(a[0].unwrap().info2off, want, "{raw} {lbasize}");
            }
        }
    }
}
