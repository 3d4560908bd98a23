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
