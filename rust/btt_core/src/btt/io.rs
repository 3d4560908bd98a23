// SPDX-License-Identifier: GPL-2.0
//! Reading and writing one sector (C `btt_read_pg()`, `btt_write_pg()`).
//!
//! A write never overwrites live data: it fills the lane's free block, then
//! records `(premap, old block, new block)` in the lane's flog slot, then
//! points the map entry at the new block; the old block becomes the lane's
//! free block. A power failure before the flog write leaves the old data; after
//! it, open rolls the map forward (see `open::recover_lane`).
//!
//! The read tracking table (RTT, C `arena->rtt`) has one slot per lane: a
//! reader publishes the block it copies from, and a writer about to reuse a
//! free block waits until no slot names it.

use core::sync::atomic::{fence, Ordering};

use super::device::{Arena, Btt, Lane};
use super::error::Error;
use super::flog::{inc_seq, LogEntry};
use super::map::{self, Mapping, MAP_ERR_MASK};
use super::media::Media;
use super::open::{read_map_raw, write_log_entry, write_map_raw, MAP_LOCKS};
use super::platform::{LockTable, Platform};

/// An RTT slot naming a block (C `RTT_VALID`); 0 is an empty slot.
pub const RTT_VALID: u32 = 1 << 31;

impl<M: Media, P: Platform> Btt<M, P> {
    /// Refuses a lane that belongs to another BTT.
    pub(super) fn check_lane(&self, lane: &Lane<P>) -> Result<(), Error> {
        if lane.btt_id != self.id
            || lane.index >= self.nlanes
            || lane.free.len() != self.arenas.len()
        {
            return Err(Error::Invalid);
        }
        Ok(())
    }

    /// The arena holding external block `lba` and the block's premap number
    /// in it (C `lba_to_arena()`).
    pub(super) fn lba_to_arena(&self, lba: u64) -> Result<(usize, &Arena, u32), Error> {
        let mut rest = lba;
        for (i, arena) in self.arenas.iter().enumerate() {
            let n = u64::from(arena.info.external_nlba);
            if rest < n {
                return Ok((i, arena, rest as u32));
            }
            rest -= n;
        }
        Err(Error::Invalid)
    }

    fn check_buffers(&self, data: usize, meta: Option<usize>) -> Result<(), Error> {
        if data != self.sector_size as usize {
            return Err(Error::Invalid);
        }
        match meta {
            Some(m) if m != self.meta_size() as usize => Err(Error::Invalid),
            _ => Ok(()),
        }
    }

    /// Fails with [`Error::Io`] once a flog or map write of `arena` failed.
    pub(super) fn check_not_failed(&self, arena: &Arena) -> Result<(), Error> {
        if arena.failed.load(Ordering::SeqCst) {
            return Err(Error::Io);
        }
        Ok(())
    }

    fn rtt_slot(&self, arena: usize, lane: u32) -> Option<&core::sync::atomic::AtomicU32> {
        self.rtt.get(arena * self.nlanes as usize + lane as usize)
    }

    pub(super) fn map_lock(
        &self,
        arena: usize,
        premap: u32,
    ) -> <P::LockTable as LockTable>::Guard<'_> {
        // As C `lock_map()`: map entries that share a cache line share a lock.
        let stripe = (premap as usize * map::MAP_ENT_SIZE as usize / 64) % MAP_LOCKS;
        self.locks.lock(arena * MAP_LOCKS + stripe)
    }

    /// Reads external block `lba` into `data` (`sector_size()` bytes) and its
    /// integrity metadata into `meta` (`meta_size()` bytes) if given.
    ///
    /// A block never written reads as what the media holds at its identity
    /// location (zeroes on a fresh namespace); a block with the error flag
    /// fails with [`Error::Io`].
    pub fn read(
        &self,
        lane: &mut Lane<P>,
        lba: u64,
        data: &mut [u8],
        meta: Option<&mut [u8]>,
    ) -> Result<(), Error> {
        self.check_lane(lane)?;
        self.check_buffers(data.len(), meta.as_ref().map(|m| m.len()))?;
        let (ai, arena, premap) = self.lba_to_arena(lba)?;
        let a = &arena.info;
        let slot = self.rtt_slot(ai, lane.index).ok_or(Error::Invalid)?;
        let mut m = Mapping::decode(premap, read_map_raw(&self.media, a, premap)?);
        // Publish the block, then check that the map still names it: a writer
        // that freed it in between has changed the map, and one that is
        // about to reuse it will see the slot and wait.
        loop {
            if m.zero {
                data.fill(0);
                if let Some(meta) = meta {
                    meta.fill(0);
                }
                return Ok(());
            }
            if m.error {
                return Err(Error::Io);
            }
            slot.store(RTT_VALID | m.postmap, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let again = match read_map_raw(&self.media, a, premap) {
                Ok(raw) => Mapping::decode(premap, raw),
                Err(e) => {
                    self.rtt_clear(slot);
                    return Err(e);
                }
            };
            if again == m {
                break;
            }
            m = again;
        }
        let result = self.read_block(ai, premap, m.postmap, data, meta);
        self.rtt_clear(slot);
        result
    }

    fn rtt_clear(&self, slot: &core::sync::atomic::AtomicU32) {
        slot.store(0, Ordering::SeqCst);
        P::rtt_released(slot);
    }

    fn read_block(
        &self,
        ai: usize,
        premap: u32,
        postmap: u32,
        data: &mut [u8],
        meta: Option<&mut [u8]>,
    ) -> Result<(), Error> {
        let arena = self.arenas.get(ai).ok_or(Error::Invalid)?;
        let a = &arena.info;
        let off = a.block_offset(postmap).ok_or(Error::Io)?;
        let mut result = self.media.read(off, data);
        if result.is_ok() {
            if let Some(meta) = meta {
                result = self.media.read(off + u64::from(self.sector_size), meta);
            }
        }
        if result.is_err() && self.arena_writable(ai) {
            // A media error: record it in the map so it survives reboots (C
            // sets the flag without the map lock and may thereby undo a
            // concurrent write; here it only goes in if the entry still names
            // the bad block).
            let _map = self.map_lock(ai, premap);
            // Not after a failed metadata write (checked again under the
            // lock, where the flag is set): the arena writes nothing more
            // until the next open. The E-flag write itself failing stops
            // nothing: landed or not, the entry names the same block, so no
            // block changes owner, and a later write of this sector reads
            // the entry again under the lock.
            if arena.failed.load(Ordering::SeqCst) {
                return result;
            }
            if let Ok(raw) = read_map_raw(&self.media, a, premap) {
                let now = Mapping::decode(premap, raw);
                if now.postmap == postmap && !now.zero && !now.error {
                    if let Some(raw) = map::encode(postmap, false, true) {
                        let _ = write_map_raw(&self.media, a, premap, raw);
                    }
                }
            }
        }
        result
    }

    /// Writes external block `lba` from `data` (`sector_size()` bytes) and
    /// `meta` (`meta_size()` bytes, zeroes if not given), atomically with
    /// respect to power failure: afterwards a read returns either all of the
    /// old or all of the new sector.
    ///
    /// Everything happens while the caller holds `lane`, including the
    /// clearing of a bad free block, which C does after dropping its lane.
    pub fn write(
        &self,
        lane: &mut Lane<P>,
        lba: u64,
        data: &[u8],
        meta: Option<&[u8]>,
    ) -> Result<(), Error> {
        self.check_lane(lane)?;
        self.check_buffers(data.len(), meta.map(|m| m.len()))?;
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let (ai, arena, premap) = self.lba_to_arena(lba)?;
        let a = &arena.info;
        // An arena stopped by a failed metadata write: EIO, the device is
        // broken until the next open recovers it, not read-only by design.
        self.check_not_failed(arena)?;
        if !self.arena_writable(ai) {
            return Err(Error::ReadOnly);
        }
        let lane_index = lane.index;
        let free = lane.free.get_mut(ai).ok_or(Error::Invalid)?;
        let new_postmap = free.block;
        if new_postmap >= a.internal_nlba {
            return Err(Error::Io);
        }
        let block_off = a.block_offset(new_postmap).ok_or(Error::Io)?;
        if free.has_err
            || self
                .media
                .is_poisoned(block_off, u64::from(a.internal_lbasize))
        {
            // C `arena_clear_freelist_error()`: zeroing clears the poison.
            self.media
                .write_zeroes(block_off, u64::from(a.internal_lbasize))?;
            free.has_err = false;
        }

        // Wait until no reader copies from the block about to be reused.
        fence(Ordering::SeqCst);
        let busy = RTT_VALID | new_postmap;
        let base = ai * self.nlanes as usize;
        for slot in self
            .rtt
            .get(base..base + self.nlanes as usize)
            .unwrap_or(&[])
        {
            P::rtt_wait(slot, busy);
        }

        // The durability points of a sector write (Documentation/btt-rs.rst,
        // "Persistence model"): D2 after the data block and the flog entry's
        // first half, before its second half; D3 between the flog entry and
        // the map entry; D4 after the map entry (the write is acknowledged
        // only then).
        self.media.write_unfenced(block_off, data)?;
        let meta_off = block_off + u64::from(self.sector_size);
        match meta {
            Some(meta) => self.media.write_unfenced(meta_off, meta)?,
            None if self.meta_size() > 0 => self
                .media
                .write_zeroes(meta_off, u64::from(self.meta_size()))?,
            None => {}
        }
        // No durability point here: D2 (in `write_log_entry`) covers the data
        // block too. The block must be whole on media before the flog entry's
        // second half makes an entry naming it live, not before the first
        // half, which names the old block and alone leaves the slot older
        // than the lane's other one (tests/reorder.rs checks every mix of the
        // two).

        let map_guard = self.map_lock(ai, premap);
        // Again under the lock: a writer of this stripe that failed a flog or
        // map write while this one waited here set the flag before it let go
        // of the lock. Its flog entry may have landed and name the block the
        // map still names as its old block; taking that block as this lane's
        // old block would give it two owners after the next open. Only the
        // lane's own free block has been written so far: nothing to undo.
        self.check_not_failed(arena)?;
        let old_raw = read_map_raw(&self.media, a, premap)?;
        let old = Mapping::decode(premap, old_raw);
        if old.postmap >= a.internal_nlba {
            return Err(Error::Io);
        }
        let old_map = if old.error {
            old.postmap | MAP_ERR_MASK
        } else {
            old.postmap
        };
        let ent = LogEntry {
            lba: premap,
            old_map,
            new_map: new_postmap,
            seq: u32::from(free.seq),
        };
        let slot = *a
            .log_index
            .get(usize::from(free.sub))
            .ok_or(Error::Invalid)?;
        let logged = write_log_entry(&self.media, a, lane_index, slot, &ent).and_then(|()| {
            let raw = map::encode(new_postmap, false, false).ok_or(Error::Invalid)?;
            write_map_raw(&self.media, a, premap, raw)
        });
        if let Err(e) = logged {
            // The lane's flog slot may or may not hold the entry (an error
            // from the flush after the bytes landed, or a write cut between
            // the halves): only the next open can tell, so the arena takes no
            // more writes. The flag goes up before the map lock is released,
            // so a writer waiting on this lock sees it (see above); writers
            // of other stripes write other premap blocks, which the entry
            // does not concern, and see it at their next check. The lane's
            // free block stays as it was: it is not reused before the open.
            arena.failed.store(true, Ordering::SeqCst);
            drop(map_guard);
            return Err(e);
        }
        drop(map_guard);

        // The old block is the lane's next free block (C `btt_flog_write()`).
        free.sub = 1 - free.sub;
        free.seq = inc_seq(u32::from(free.seq)) as u8;
        free.block = old.postmap;
        free.has_err = old.error;
        if free.has_err {
            let off = a.block_offset(free.block).ok_or(Error::Io)?;
            if self
                .media
                .write_zeroes(off, u64::from(a.internal_lbasize))
                .is_ok()
            {
                free.has_err = false;
            }
        }
        Ok(())
    }
}
