// SPDX-License-Identifier: GPL-2.0
//! Writing sectors (C `btt_write_pg()`), one at a time or in batches.
//!
//! A write never overwrites live data: it fills a free block of the lane,
//! then records `(premap, old block, new block)` in the slot of the flog lane
//! that owned the free block, then points the map entry at the new block; the
//! old block becomes that flog lane's free block. A power failure before the
//! flog entry is whole leaves the old data; after it, open rolls the map
//! forward (see `open::recover_lane`).
//!
//! A batch ([`Btt::write_batch`]) does this for consecutive sectors at once,
//! each in a flog lane of its own (a lane owns several, see [`Lane`]): every
//! data block and every flog entry's first half, one durability point; every
//! second half, one; every map entry (one media write), one. Each sector's
//! entry is the record a single write makes, in a flog lane nobody else
//! writes, so per-sector atomicity and the recovery are those of single
//! writes; see "Write batches" in Documentation/btt-rs.rst.

use core::sync::atomic::{fence, Ordering};

use super::data::{DataBuf, DataMedia};
use super::device::{Btt, Lane, PendingEntry, MAX_BATCH};
use super::error::Error;
use super::flog::{inc_seq, LOG_ENT_SIZE, LOG_GRP_SIZE};
use super::io::RTT_VALID;
use super::map::{self, Mapping, MAP_ERR_MASK};
use super::media::Media;
use super::platform::Platform;

/// Sectors being written together on one lane: staged (data written, not
/// yet durable, nothing else changed) until committed.
///
/// Made by [`Btt::write_batch`], which commits what is still staged when its
/// closure returns `Ok`. The sectors staged since the last commit are
/// consecutive, in one arena, in one aligned group of [`MAX_BATCH`] premap
/// blocks, and at most as many as the lane owns flog lanes; a sector that
/// does not continue them commits them first. Until a commit nothing but the
/// lane's free blocks has been written, so a batch given up (the closure
/// failed) leaves the BTT as it was: its sectors are simply not written.
pub struct WriteBatch<'b, M: Media, P: Platform> {
    btt: &'b Btt<M, P>,
    lane: &'b mut Lane<P>,
    /// The arena of the staged sectors.
    arena: usize,
    /// The premap block of the first staged sector.
    first: u32,
    /// Staged sectors: premap blocks `first..first + staged`, the `j`-th in
    /// the lane's owned flog lane `j`.
    staged: usize,
}

impl<M: Media, P: Platform> WriteBatch<'_, M, P> {
    /// Stages external block `lba` from bytes `at..at + sector_size()` of
    /// `src` and its integrity metadata from `meta` (`meta_size()` bytes,
    /// zeroes if not given): the data goes to the lane's free block, not yet
    /// durable. The write is complete (durable, atomic as [`Btt::write`])
    /// once the batch is committed; until then a read may return the old
    /// sector.
    ///
    /// Commits the sectors staged so far first if `lba` does not continue
    /// them; that commit's error is returned (and `lba` is not staged).
    pub fn write_from<B: DataBuf + ?Sized>(
        &mut self,
        lba: u64,
        src: &B,
        at: usize,
        meta: Option<&[u8]>,
    ) -> Result<(), Error>
    where
        M: DataMedia<B>,
    {
        let btt = self.btt;
        let ss = btt.sector_size as usize;
        if at.checked_add(ss).is_none_or(|end| end > src.len()) {
            return Err(Error::Invalid);
        }
        btt.check_buffers(ss, meta.map(|m| m.len()))?;
        if btt.is_read_only() {
            return Err(Error::ReadOnly);
        }
        let (ai, arena, premap) = btt.lba_to_arena(lba)?;
        let a = &arena.info;
        // An arena stopped by a failed metadata write: EIO, the device is
        // broken until the next open recovers it, not read-only by design.
        btt.check_not_failed(arena)?;
        if !btt.arena_writable(ai) {
            return Err(Error::ReadOnly);
        }
        if self.staged > 0 && !self.continues(ai, premap) {
            self.commit()?;
        }
        if self.staged == 0 {
            self.arena = ai;
            self.first = premap;
            self.wait_for_readers(ai);
        }
        let free = self.lane.free_mut(ai, self.staged).ok_or(Error::Invalid)?;
        if free.block >= a.internal_nlba {
            return Err(Error::Io);
        }
        let block_off = a.block_offset(free.block).ok_or(Error::Io)?;
        if free.has_err
            || btt
                .media
                .is_poisoned(block_off, u64::from(a.internal_lbasize))
        {
            // C `arena_clear_freelist_error()`: zeroing clears the poison.
            btt.media
                .write_zeroes(block_off, u64::from(a.internal_lbasize))?;
            free.has_err = false;
        }
        // No durability point here: D2 (in `commit`) covers the data block.
        // The block must be whole on media before the flog entry's second
        // half makes an entry naming it live, not before the first half,
        // which names the old block and alone leaves the slot older than the
        // flog lane's other one (tests/reorder.rs checks every mix of them).
        btt.media.write_data_unfenced(block_off, src, at, ss)?;
        let meta_off = block_off + u64::from(btt.sector_size);
        match meta {
            Some(meta) => btt.media.write_unfenced(meta_off, meta)?,
            None if btt.meta_size() > 0 => btt
                .media
                .write_zeroes(meta_off, u64::from(btt.meta_size()))?,
            None => {}
        }
        self.staged += 1;
        Ok(())
    }

    /// Whether premap block `premap` of arena `ai` can join the staged
    /// sectors: the next one, in the same map lock group, with a flog lane
    /// left for it.
    fn continues(&self, ai: usize, premap: u32) -> bool {
        ai == self.arena
            && u64::from(premap) == u64::from(self.first) + self.staged as u64
            && premap as usize / MAX_BATCH == self.first as usize / MAX_BATCH
            && self.staged < self.lane.flogs as usize
    }

    /// Waits until no reader copies from a free block of the lane in arena
    /// `ai`, before any of them is reused: all of them, with one pass over
    /// the read tracking table, as the batch may use any of them.
    ///
    /// The fence orders the map writes that freed the blocks (an earlier
    /// commit) before the scan; a reader publishes its slot, fences and
    /// reads the map again, so either it sees the new map entry and does not
    /// copy the block, or this scan sees its slot (see "Reads" in
    /// Documentation/btt-rs.rst). Slots are nearly always empty: only a
    /// taken one is compared with the lane's free blocks.
    fn wait_for_readers(&self, ai: usize) {
        fence(Ordering::SeqCst);
        for slot in self.btt.rtt_table(ai) {
            let v = slot.load(Ordering::SeqCst);
            if v != 0
                && self
                    .lane
                    .free_entries(ai)
                    .any(|(_, free)| RTT_VALID | free.block == v)
            {
                P::rtt_wait(slot, v);
            }
        }
    }

    /// Makes the staged sectors durable and live: their flog entries and map
    /// entries, under the map lock of their group, with three durability
    /// points whatever their number. Each flog lane's old block becomes its
    /// free block.
    ///
    /// The entries are built once, into the lane's `pending` table and map
    /// scratch, before anything is written: no table is built (and zeroed)
    /// on the stack.
    fn commit(&mut self) -> Result<(), Error> {
        let k = core::mem::take(&mut self.staged);
        if k == 0 {
            return Ok(());
        }
        let btt = self.btt;
        let ai = self.arena;
        let first = self.first;
        let arena = btt.arenas.get(ai).ok_or(Error::Invalid)?;
        let a = &arena.info;
        let map_guard = btt.map_lock(ai, first);
        // Again under the lock: a writer of this group that failed a flog or
        // map write while this one waited here set the flag before it let go
        // of the lock. Its flog entry may have landed and name a block the
        // map still names as its old block; taking that block as an old
        // block here would give it two owners after the next open. Only the
        // lane's free blocks have been written so far: nothing to undo.
        btt.check_not_failed(arena)?;
        // Every entry built and every old entry checked before anything is
        // written; the lane's map scratch holds the old map entries as read,
        // then the new ones to write.
        let lane = &mut *self.lane;
        let range = lane.arena_range(ai).ok_or(Error::Invalid)?;
        let frees = lane
            .free
            .get(range.clone())
            .and_then(|f| f.get(..k))
            .ok_or(Error::Invalid)?;
        let map = lane.map_scratch.get_mut(..k).ok_or(Error::Invalid)?;
        btt.media.read(
            a.map_entry_offset(first).ok_or(Error::Invalid)?,
            map.as_flattened_mut(),
        )?;
        let slots = a.log_index;
        // Plain slice iterators, zipped: the loop compiles to indexed loads
        // (an `enumerate()` here was left as an out-of-line call).
        let mut premap = first;
        for ((b, free), p) in map.iter_mut().zip(frees).zip(lane.pending.iter_mut()) {
            let old = Mapping::decode(premap, u32::from_le_bytes(*b));
            if old.postmap >= a.internal_nlba {
                return Err(Error::Io);
            }
            let slot = *slots.get(usize::from(free.sub)).ok_or(Error::Invalid)?;
            // An entry is 16 bytes inside its 64-byte group (the slots of
            // `log_index` are 0 and 1, or 0 and 2 with the old padding).
            let slot_offset = (slot as usize) * LOG_ENT_SIZE as usize;
            if slot_offset + LOG_ENT_SIZE as usize > LOG_GRP_SIZE as usize {
                return Err(Error::Invalid);
            }
            let old_map = if old.error {
                old.postmap | MAP_ERR_MASK
            } else {
                old.postmap
            };
            let half = |lo: u32, hi: u32| (u64::from(hi) << 32 | u64::from(lo)).to_le_bytes();
            *p = PendingEntry {
                slot_offset,
                first_half: half(premap, old_map),
                second_half: half(free.block, u32::from(free.seq)),
                old_postmap: old.postmap,
                old_error: old.error,
            };
            let new = map::encode(free.block, false, false).ok_or(Error::Invalid)?;
            *b = new.to_le_bytes();
            // At most `first + k`, a premap block count (u32): no wrap is
            // ever used.
            premap = premap.wrapping_add(1);
        }
        if let Err(e) = self.log_and_map(k) {
            // A flog slot may or may not hold its entry (an error from a
            // flush after the bytes landed, or a write cut between the
            // halves): only the next open can tell, so the arena takes no
            // more writes. The flag goes up before the map lock is released,
            // so a writer waiting on this lock sees it (see above); writers
            // of other groups write other premap blocks, which the entries
            // do not concern, and see it at their next check. The free
            // blocks stay as they were: they are not reused before the open.
            arena.failed.store(true, Ordering::SeqCst);
            drop(map_guard);
            return Err(e);
        }
        drop(map_guard);

        // The old blocks are the flog lanes' next free blocks (C
        // `btt_flog_write()`).
        let lane = &mut *self.lane;
        let frees = lane
            .free
            .get_mut(range)
            .and_then(|f| f.get_mut(..k))
            .ok_or(Error::Invalid)?;
        for (free, p) in frees.iter_mut().zip(lane.pending.iter()) {
            free.sub = 1 - free.sub;
            free.seq = inc_seq(u32::from(free.seq)) as u8;
            free.block = p.old_postmap;
            free.has_err = p.old_error;
            if free.has_err {
                let off = a.block_offset(free.block).ok_or(Error::Io)?;
                if btt
                    .media
                    .write_zeroes(off, u64::from(a.internal_lbasize))
                    .is_ok()
                {
                    free.has_err = false;
                }
            }
        }
        Ok(())
    }

    /// Writes the flog entries of the `k` staged sectors (the lane's
    /// `pending` table) and their map entries (naming each flog lane's free
    /// block), with the three durability points of "Persistence model" in
    /// Documentation/btt-rs.rst:
    ///
    /// - D2: the data blocks (staged) and every entry's first half (`lba`,
    ///   `old_map`) are durable before any second half (`new_map`, `seq`),
    ///   whose arrival makes the entry its flog lane's newest (C
    ///   `__btt_log_write()` writes the halves in this order);
    /// - D3: every entry is whole before any map entry changes;
    /// - D4: the map entries are durable before the write is acknowledged.
    ///
    /// The sectors' flog lanes are the lane's first `k`, whose log groups
    /// follow each other on the media: each half goes out as one write from
    /// the lane's copy of them, from the first entry's half to the last's,
    /// the bytes between written again as they are (a unit written with the
    /// value it holds is no change, whenever it persists).
    fn log_and_map(&mut self, k: usize) -> Result<(), Error> {
        let media = &self.btt.media;
        let a = self
            .btt
            .arenas
            .get(self.arena)
            .map(|a| &a.info)
            .ok_or(Error::Invalid)?;
        let lane = &mut *self.lane;
        let log_off = a
            .log_group_offset(lane.first_flog_lane())
            .ok_or(Error::Invalid)?;
        let range = lane.arena_range(self.arena).ok_or(Error::Invalid)?;
        let groups = lane
            .groups
            .get_mut(range)
            .and_then(|g| g.get_mut(..k))
            .ok_or(Error::Invalid)?;
        let pending = lane.pending.get(..k).ok_or(Error::Invalid)?;
        if let ([g], [p]) = (&mut *groups, pending) {
            // One sector: the same two writes, without the loops over
            // groups (a single-sector write is the common case; this saves
            // a tenth of its instructions in btt_rs). The copy first, as
            // below: if a write fails, the arena stops and the copy goes.
            let entry = g
                .get_mut(p.slot_offset..)
                .and_then(|e| e.first_chunk_mut::<16>())
                .ok_or(Error::Invalid)?;
            let (first_half, second_half) = entry.split_at_mut(8);
            first_half.copy_from_slice(&p.first_half);
            second_half.copy_from_slice(&p.second_half);
            let at = log_off
                .checked_add(p.slot_offset as u64)
                .ok_or(Error::Invalid)?;
            media.write_unfenced(at, &p.first_half)?;
            media.flush()?;
            media.write_unfenced(at + 8, &p.second_half)?;
            media.flush()?;
        } else {
            // From the first entry's first half to the last entry's.
            let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
                return Err(Error::Invalid);
            };
            let span = first.slot_offset..(k - 1) * LOG_GRP_SIZE as usize + last.slot_offset + 8;
            for half in [0, 8] {
                for (g, p) in groups.iter_mut().zip(pending) {
                    let dst = g
                        .get_mut(p.slot_offset + half..)
                        .and_then(|d| d.first_chunk_mut::<8>())
                        .ok_or(Error::Invalid)?;
                    *dst = if half == 0 {
                        p.first_half
                    } else {
                        p.second_half
                    };
                }
                let bytes = groups
                    .as_flattened()
                    .get(span.start + half..span.end + half)
                    .ok_or(Error::Invalid)?;
                let at = log_off
                    .checked_add((span.start + half) as u64)
                    .ok_or(Error::Invalid)?;
                media.write_unfenced(at, bytes)?;
                // D2 after the first halves, D3 after the second.
                media.flush()?;
            }
        }
        // The map entries of the batch are consecutive: one write (built by
        // `commit` in the lane's map scratch). Each is an aligned 4-byte
        // store inside it, atomic on its own.
        let bytes = lane.map_scratch.get(..k).ok_or(Error::Invalid)?;
        media.write_unfenced(
            a.map_entry_offset(self.first).ok_or(Error::Invalid)?,
            bytes.as_flattened(),
        )?;
        media.flush()
    }
}

impl<M: Media, P: Platform> Btt<M, P> {
    /// Writes sectors on `lane` through `f`, which stages them with
    /// [`WriteBatch::write_from`]; what is staged when `f` returns `Ok` is
    /// committed before this returns. Consecutive sectors are committed
    /// together, up to [`Btt::flog_lanes_per_lane`] of them in one group of
    /// [`MAX_BATCH`] premap blocks, with three durability points per batch
    /// instead of three per sector (C writes sector by sector).
    ///
    /// Each sector is atomic with respect to power failure, as with
    /// [`Btt::write`]; sectors of one batch are not atomic together. If `f`
    /// fails, the sectors staged since the last commit are not written (the
    /// earlier ones are) and its error is returned; so is a commit's.
    pub fn write_batch<R, E: From<Error>>(
        &self,
        lane: &mut Lane<P>,
        f: impl FnOnce(&mut WriteBatch<'_, M, P>) -> Result<R, E>,
    ) -> Result<R, E> {
        self.check_lane(lane)?;
        let mut batch = WriteBatch {
            btt: self,
            lane,
            arena: 0,
            first: 0,
            staged: 0,
        };
        let r = f(&mut batch)?;
        batch.commit()?;
        Ok(r)
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
        // A whole sector, no more; `write_from` checks the metadata.
        self.check_buffers(data.len(), None)?;
        self.write_from(lane, lba, data, 0, meta)
    }

    /// [`Btt::write`] of the sector at bytes `at..at + sector_size()` of a
    /// [`DataBuf`] that only the media copies from (the kernel's mapped bio
    /// page). A range outside `src` is [`Error::Invalid`] before anything
    /// is written.
    pub fn write_from<B: DataBuf + ?Sized>(
        &self,
        lane: &mut Lane<P>,
        lba: u64,
        src: &B,
        at: usize,
        meta: Option<&[u8]>,
    ) -> Result<(), Error>
    where
        M: DataMedia<B>,
    {
        self.write_batch(lane, |batch| batch.write_from(lba, src, at, meta))
    }
}
