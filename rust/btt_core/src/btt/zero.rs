// SPDX-License-Identifier: GPL-2.0
//! Discard and write-zeroes through the map's zero flag.
//!
//! The map entry of a sector has a zero state, the flag `Z` (bit 31) alone:
//! C `btt_read_pg()` returns zeroes for it without reading the block, and
//! PMDK's libpmemblk sets it (`btt_set_zero()`). (C then returns from the
//! whole segment, so it reads the flag right only when a sector fills a page;
//! the kernel module offers discard on such namespaces only.) Zeroing a sector here sets
//! that flag on its entry, one durable 4-byte map write, and nothing else:
//! - the entry keeps naming its block, so every block keeps its owner, the
//!   free list and the flog are untouched, and `btt check` (ownership by the
//!   postmap bits, C `ent_lba()`) sees the same picture as before;
//! - open's recovery (C `btt_freelist_init()`) compares the flog with the map
//!   entry stripped of its flags, so a zeroed entry whose flog entry is the
//!   newest for it is recognised as complete and not rolled anywhere;
//! - a reader that copies from the block while the flag goes on is fine: the
//!   block is not freed, so it is not rewritten under the reader;
//! - a later write takes the normal path: it reads the old entry (the flag
//!   is ignored, as C `btt_write_pg()` only keeps the error flag for the
//!   flog), logs it and frees the old block.
//!
//! Two states are not set by the flag:
//! - an entry already zero (Z alone) is left as it is: no write;
//! - an entry with the error flag `E` alone names a bad block. The flag
//!   cannot be added: `Z|E` is the *normal* state in the C format, which
//!   would read the bad block. Clearing `E` and setting `Z` would read
//!   zeroes but forget that the block is bad, and a later write would put it
//!   on the free list uncleared. Such a sector gets a normal write of a
//!   zero sector instead ([`Btt::write`]): the bad block goes to the lane's
//!   free list with its error noted and is cleared there, as for any write.

use super::device::{Btt, Lane};
use super::error::Error;
use super::map::{self, Mapping};
use super::media::Media;
use super::open::{read_map_raw, write_map_raw};
use super::platform::Platform;

/// The largest external sector (the data of a sector, not its metadata).
const MAX_SECTOR: usize = 4096;

/// A zero sector, for the normal write of a sector with the error flag.
static ZERO_SECTOR: [u8; MAX_SECTOR] = [0; MAX_SECTOR];

/// What [`Btt::write_zeroes`] did to a range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeroStats {
    /// Entries given the zero flag (one map write each).
    pub flagged: u64,
    /// Entries already zero (no write).
    pub already: u64,
    /// Sectors with the error flag, replaced by a normal write of zeroes.
    pub rewritten: u64,
}

impl<M: Media, P: Platform> Btt<M, P> {
    /// Makes the `count` external blocks from `lba` read zeroes, data and
    /// integrity metadata alike (block layer `REQ_OP_DISCARD` and
    /// `REQ_OP_WRITE_ZEROES`): each sector's map entry gets the zero flag
    /// under the map lock, one durable 4-byte write (see the module
    /// documentation for the entries that do not).
    ///
    /// Each sector is done when its map write returns; a power failure
    /// leaves every sector of the range either zero or as it was. `lane`
    /// is only used for the normal write of a sector with the error flag.
    ///
    /// Fails as [`Btt::write`] does: [`Error::ReadOnly`] on a read-only BTT
    /// or arena, [`Error::Io`] once a metadata write of an arena failed,
    /// [`Error::Invalid`] for a range beyond the end. These are checked for
    /// every arena of the range before anything is written. A map write that
    /// fails ends the call with its error; the entry names the same block
    /// whether or not the write landed, so no block changes owner and the
    /// arena goes on taking writes.
    pub fn write_zeroes(
        &self,
        lane: &mut Lane<P>,
        lba: u64,
        count: u64,
    ) -> Result<ZeroStats, Error> {
        self.check_lane(lane)?;
        let end = lba
            .checked_add(count)
            .filter(|end| *end <= self.nlba())
            .ok_or(Error::Invalid)?;
        let mut stats = ZeroStats::default();
        if count == 0 {
            return Ok(stats);
        }
        if self.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let (first, _, _) = self.lba_to_arena(lba)?;
        let (last, _, _) = self.lba_to_arena(end - 1)?;
        for ai in first..=last {
            let arena = self.arenas.get(ai).ok_or(Error::Invalid)?;
            self.check_not_failed(arena)?;
            if !self.arena_writable(ai) {
                return Err(Error::ReadOnly);
            }
        }
        for l in lba..end {
            let (ai, arena, premap) = self.lba_to_arena(l)?;
            let a = &arena.info;
            let guard = self.map_lock(ai, premap);
            // Under the lock, as in `write`: a writer of this stripe whose
            // flog or map write failed set the flag before letting go.
            self.check_not_failed(arena)?;
            let raw = read_map_raw(&self.media, a, premap)?;
            let m = Mapping::decode(premap, raw);
            if m.zero {
                stats.already += 1;
                continue;
            }
            if m.postmap >= a.internal_nlba {
                return Err(Error::Io);
            }
            if m.error {
                drop(guard);
                let zero = ZERO_SECTOR
                    .get(..self.sector_size as usize)
                    .ok_or(Error::Invalid)?;
                self.write(lane, l, zero, None)?;
                stats.rewritten += 1;
                continue;
            }
            // The decoded postmap: for an entry in the initial state (raw 0,
            // whatever its low bits) that is the premap block itself.
            let zeroed = map::encode(m.postmap, true, false).ok_or(Error::Invalid)?;
            write_map_raw(&self.media, a, premap, zeroed)?;
            stats.flagged += 1;
            drop(guard);
        }
        Ok(stats)
    }
}
