// SPDX-License-Identifier: GPL-2.0
//! Reading sectors (C `btt_read_pg()`); writes are in `write.rs`.
//!
//! The read tracking table (RTT, C `arena->rtt`, one slot per lane there)
//! has [`super::device::rtt_slots_per_lane`] slots per lane, claimed by
//! readers without a lane: a reader publishes each block it copies from in a
//! slot, and a writer about to reuse a free block waits until no slot names
//! it.

use core::sync::atomic::{fence, AtomicU32, Ordering};

use super::data::{DataBuf, DataMedia};
use super::device::{Arena, Btt, Lane, MAX_BATCH};
use super::error::Error;
use super::map::{self, Mapping};
use super::media::Media;
use super::open::{read_map_raw, write_map_raw, MAP_LOCKS};
use super::platform::{LockTable, Platform};

/// An RTT slot naming a block (C `RTT_VALID`); 0 is an empty slot.
pub const RTT_VALID: u32 = 1 << 31;

/// Blocks [`Btt::read_sectors`] reads per round of the read tracking
/// protocol: a page of 512-byte sectors.
const READ_BATCH: usize = 8;

/// A map entry as it lies on the media (little-endian): read straight into,
/// compared as it is, decoded only where its fields are needed.
type RawEntry = [u8; 4];

/// Reads the map entries of `raw.len()` premap blocks from `premap` on,
/// with one media read.
fn read_map_range<M: Media>(
    media: &M,
    a: &super::device::ArenaInfo,
    premap: u32,
    raw: &mut [RawEntry],
) -> Result<(), Error> {
    let off = a.map_entry_offset(premap).ok_or(Error::Invalid)?;
    media.read(off, raw.as_flattened_mut())
}

impl<M: Media, P: Platform> Btt<M, P> {
    /// Refuses a lane that belongs to another BTT.
    pub(super) fn check_lane(&self, lane: &Lane<P>) -> Result<(), Error> {
        if lane.btt_id != self.id
            || lane.index >= self.nlanes
            || lane.flogs != self.lane_flogs
            || lane.free.len() != self.arenas.len() * self.lane_flogs as usize
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

    pub(super) fn check_buffers(&self, data: usize, meta: Option<usize>) -> Result<(), Error> {
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

    /// Arena `arena`'s read tracking slots.
    pub(super) fn rtt_table(&self, arena: usize) -> &[AtomicU32] {
        let base = arena * self.rtt_slots;
        self.rtt.get(base..base + self.rtt_slots).unwrap_or(&[])
    }

    pub(super) fn map_lock(
        &self,
        arena: usize,
        premap: u32,
    ) -> <P::LockTable as LockTable>::Guard<'_> {
        // C `lock_map()` gives each cache line of map entries (16) a lock;
        // here each aligned group of `MAX_BATCH` (32, two lines) shares one,
        // so that a write batch, which stays in one group, takes one lock.
        let stripe = (premap as usize / MAX_BATCH) % MAP_LOCKS;
        self.locks.lock(arena * MAP_LOCKS + stripe)
    }

    /// Reads external block `lba` into `data` (`sector_size()` bytes) and its
    /// integrity metadata into `meta` (`meta_size()` bytes) if given.
    ///
    /// A block never written reads as what the media holds at its identity
    /// location (zeroes on a fresh namespace); a block with the error flag
    /// fails with [`Error::Io`].
    ///
    /// The lane is not needed by a read (see [`Btt::read_sectors`]); it is
    /// checked, and its number is where the search for a read tracking slot
    /// starts.
    pub fn read(
        &self,
        lane: &mut Lane<P>,
        lba: u64,
        data: &mut [u8],
        meta: Option<&mut [u8]>,
    ) -> Result<(), Error> {
        self.check_lane(lane)?;
        self.check_buffers(data.len(), meta.as_ref().map(|m| m.len()))?;
        let len = data.len();
        self.read_range(lane.index as usize, lba, data, 0, len, meta)
    }

    /// Reads `data.len() / sector_size()` consecutive external blocks from
    /// `lba` into `data`, and their integrity metadata into `meta`
    /// (`meta_size()` bytes per block, in order) if given. Needs no lane:
    /// any number of threads may read at once, each claiming read tracking
    /// slots of its own (C reads a block at a time under a lane).
    ///
    /// Each block reads as [`Btt::read`] reads it; the range may span
    /// arenas. Up to a page of sectors at a time, the map entries are read
    /// with one media read, the blocks published, the entries read again
    /// with one media read, and the data of blocks that follow each other on
    /// the media copied with one media read. A block with the error flag, or
    /// one whose data does not read, fails the whole call with [`Error::Io`]
    /// (the blocks before it are read, those after it may not be).
    pub fn read_sectors(
        &self,
        lba: u64,
        data: &mut [u8],
        meta: Option<&mut [u8]>,
    ) -> Result<(), Error> {
        let len = data.len();
        self.read_range(P::rtt_hint(), lba, data, 0, len, meta)
    }

    /// [`Btt::read_sectors`] into bytes `at..at + len` of a [`DataBuf`]
    /// that only the media copies into (the kernel's mapped bio page). A
    /// range outside `dst`, or not whole sectors, is [`Error::Invalid`]
    /// before anything is read.
    pub fn read_sectors_into<B: DataBuf + ?Sized>(
        &self,
        lba: u64,
        dst: &mut B,
        at: usize,
        len: usize,
        meta: Option<&mut [u8]>,
    ) -> Result<(), Error>
    where
        M: DataMedia<B>,
    {
        self.read_range(P::rtt_hint(), lba, dst, at, len, meta)
    }

    fn read_range<B: DataBuf + ?Sized>(
        &self,
        hint: usize,
        lba: u64,
        dst: &mut B,
        at: usize,
        len: usize,
        mut meta: Option<&mut [u8]>,
    ) -> Result<(), Error>
    where
        M: DataMedia<B>,
    {
        let ss = self.sector_size as usize;
        let ms = self.meta_size() as usize;
        if len == 0 || len % ss != 0 || at.checked_add(len).is_none_or(|end| end > dst.len()) {
            return Err(Error::Invalid);
        }
        let n = len / ss;
        if meta.as_ref().is_some_and(|m| m.len() != n * ms) {
            return Err(Error::Invalid);
        }
        lba.checked_add(n as u64)
            .filter(|&end| end <= self.nlba)
            .ok_or(Error::Invalid)?;
        // The first slot this reader tries: its own lane's slots. The hint
        // (a CPU number) is nearly always below the number of lanes: no
        // division then.
        let nlanes = self.nlanes.max(1) as usize;
        let lane = if hint < nlanes { hint } else { hint % nlanes };
        let start = lane * self.rtt_slots_per_lane;
        let mut done = 0;
        while done < n {
            let lba = lba + done as u64;
            let (ai, arena, premap) = self.lba_to_arena(lba)?;
            let left = (arena.info.external_nlba - premap) as usize;
            let k = (n - done).min(left).min(READ_BATCH);
            let m = match meta.as_deref_mut() {
                Some(m) => Some(
                    m.get_mut(done * ms..(done + k) * ms)
                        .ok_or(Error::Invalid)?,
                ),
                None => None,
            };
            // One sector (every bio segment of a BTT with 4096-byte
            // sectors): tables of one entry, not eight, to set up.
            done += if k == 1 {
                self.read_batch::<B, 1>(start, ai, premap, dst, at + done * ss, k, m)?
            } else {
                self.read_batch::<B, READ_BATCH>(start, ai, premap, dst, at + done * ss, k, m)?
            };
        }
        Ok(())
    }

    /// Claims a free slot of `table` for `value`, searching from `*cursor`
    /// on and wrapping around once; `None` if every slot is taken. Leaves
    /// `*cursor` on the slot after the one claimed.
    fn rtt_claim<'a>(
        table: &'a [AtomicU32],
        cursor: &mut usize,
        value: u32,
    ) -> Option<&'a AtomicU32> {
        let n = table.len();
        // No division per probe: the cursor wraps by comparison.
        let mut i = *cursor;
        for _ in 0..n {
            if i >= n {
                i = 0;
            }
            let slot = table.get(i)?;
            i += 1;
            // Relaxed: the fence after the claims orders the slot before the
            // second reading of the map; the exchange only has to be atomic.
            if slot.load(Ordering::Relaxed) == 0
                && slot
                    .compare_exchange(0, value, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                *cursor = i;
                return Some(slot);
            }
        }
        None
    }

    /// Claims one slot of `table` per entry of `raw` (premap blocks from
    /// `premap` on), each for the block its entry names, into `slots`;
    /// returns how many it claimed, in order: fewer than `raw.len()` when
    /// the table ran out.
    ///
    /// The reader's lane's slots (`own`, room for two batches of a page)
    /// are nearly always free: its first `raw.len()` slots are tried first,
    /// then, if the first of them is taken, its last `raw.len()`, one
    /// exchange per block, before any search. Always inlined
    /// (left out of line it cost 180 instructions per 4 KiB read of
    /// 512-byte sectors; with one block, `N` = 1, most of it folds away).
    #[inline(always)]
    fn rtt_claim_all<'a>(
        table: &'a [AtomicU32],
        own: core::ops::Range<usize>,
        premap: u32,
        raw: &[RawEntry],
        slots: &mut [Option<&'a AtomicU32>],
    ) -> usize {
        let value = |i: usize, r: &RawEntry| {
            RTT_VALID | map::ent_postmap(premap + i as u32, u32::from_le_bytes(*r))
        };
        let start = own.start;
        let mut claimed = 0;
        let own = table.get(own).unwrap_or(&[]);
        // The lane's first slots, then its last (with 4096-byte sectors,
        // its two one-sector slots).
        for first in [Some(0), own.len().checked_sub(raw.len())] {
            let Some(group) = first.and_then(|f| own.get(f..f + raw.len())) else {
                break;
            };
            for ((slot, own), r) in slots.iter_mut().zip(group).zip(raw) {
                // Relaxed, as in `rtt_claim`.
                if own
                    .compare_exchange(0, value(claimed, r), Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    break;
                }
                *slot = Some(own);
                claimed += 1;
            }
            // A group taken from its first slot (its reader was preempted
            // in the middle of a copy): the lane's next one.
            if claimed > 0 {
                break;
            }
        }
        if claimed == raw.len() {
            return claimed;
        }
        let mut cursor = if start < table.len() { start } else { 0 };
        while let (Some(slot), Some(r)) = (slots.get_mut(claimed), raw.get(claimed)) {
            match Self::rtt_claim(table, &mut cursor, value(claimed, r)) {
                Some(s) => *slot = Some(s),
                None => break,
            }
            claimed += 1;
        }
        claimed
    }

    /// Reads `k` blocks (at most `N`) of one arena, from premap
    /// block `premap` on, into `dst` from byte `at` on; returns how many it
    /// read, 0 if it had to wait for a read tracking slot first.
    ///
    /// The protocol of C `btt_read_pg()`, for several blocks at once: every
    /// block is published in a slot of its own, then one fence, then the
    /// map entries are read again; the blocks whose entries changed are
    /// published again, and so on until a reading of the entries matches
    /// what is published. Then each published block is named by its entry
    /// after its slot was set, so a writer can only free it after that, and
    /// will see the slot before it reuses it (the writer's fence and scan in
    /// [`Btt::write`]). See "Reads" in Documentation/btt-rs.rst.
    ///
    /// The entries stay as the media holds them until the copy: publishing
    /// needs only the block an entry names ([`map::ent_postmap`]), and
    /// comparing two readings needs no decoding.
    #[expect(clippy::too_many_arguments)]
    fn read_batch<B: DataBuf + ?Sized, const N: usize>(
        &self,
        start: usize,
        ai: usize,
        premap: u32,
        dst: &mut B,
        at: usize,
        k: usize,
        meta: Option<&mut [u8]>,
    ) -> Result<usize, Error>
    where
        M: DataMedia<B>,
    {
        let arena = self.arenas.get(ai).ok_or(Error::Invalid)?;
        let a = &arena.info;
        let mut raw = [[0u8; 4]; N];
        let raw = raw.get_mut(..k.min(N)).ok_or(Error::Invalid)?;
        read_map_range(&self.media, a, premap, raw)?;
        // One slot per block, zero and error entries included (the entry
        // may change before the second look); as many as there are free.
        let table = self.rtt_table(ai);
        let mut slots: [Option<&AtomicU32>; N] = [None; N];
        let own = start..start + self.rtt_slots_per_lane;
        let claimed = Self::rtt_claim_all(table, own, premap, raw, &mut slots);
        if claimed == 0 {
            // Every slot is taken (more readers in flight than slots): wait,
            // asleep where the platform can, until the first one is emptied,
            // and try again. A reader holding no slot waits, so readers
            // cannot wait for each other in a circle.
            let first = table.get(start).or(table.first()).ok_or(Error::Invalid)?;
            let busy = first.load(Ordering::SeqCst);
            if busy != 0 {
                P::rtt_wait(first, busy);
            }
            return Ok(0);
        }
        let raw = raw.get_mut(..claimed).ok_or(Error::Invalid)?;
        let slots = slots.get(..claimed).ok_or(Error::Invalid)?;
        let result = self
            .settle_batch::<N>(a, premap, raw, slots)
            .and_then(|()| match raw {
                // One block (every bio segment with 4096-byte sectors): no
                // runs to look for.
                [one] if N == 1 => self.copy_one(ai, premap, *one, dst, at, meta),
                _ => self.copy_batch(ai, premap, raw, dst, at, meta),
            });
        // Release: the copy is done before a writer can see the slot empty.
        for slot in slots.iter().flatten() {
            slot.store(0, Ordering::Release);
        }
        P::rtt_released_all(slots);
        result.map(|()| claimed)
    }

    /// Reads the map entries again until they match `raw`, the entries
    /// whose blocks are published in `slots`, republishing those that
    /// changed.
    fn settle_batch<const N: usize>(
        &self,
        a: &super::device::ArenaInfo,
        premap: u32,
        raw: &mut [RawEntry],
        slots: &[Option<&AtomicU32>],
    ) -> Result<(), Error> {
        let mut again = [[0u8; 4]; N];
        let again = again.get_mut(..raw.len()).ok_or(Error::Invalid)?;
        loop {
            fence(Ordering::SeqCst);
            read_map_range(&self.media, a, premap, again)?;
            if *raw == *again {
                return Ok(());
            }
            for ((r, &now), (slot, p)) in raw
                .iter_mut()
                .zip(again.iter())
                .zip(slots.iter().zip(premap..))
            {
                if *r != now {
                    *r = now;
                    if let Some(slot) = slot {
                        let block = map::ent_postmap(p, u32::from_le_bytes(now));
                        slot.store(RTT_VALID | block, Ordering::SeqCst);
                    }
                }
            }
        }
    }

    /// Copies the block of the settled entry `raw` of premap block `premap`
    /// into `dst` from byte `at` on and its metadata into `meta`: zeroes for
    /// a zero entry, [`Error::Io`] for an error entry, else the block
    /// ([`Btt::read_block`]).
    fn copy_one<B: DataBuf + ?Sized>(
        &self,
        ai: usize,
        premap: u32,
        raw: RawEntry,
        dst: &mut B,
        at: usize,
        meta: Option<&mut [u8]>,
    ) -> Result<(), Error>
    where
        M: DataMedia<B>,
    {
        let m = Mapping::decode(premap, u32::from_le_bytes(raw));
        if m.error {
            return Err(Error::Io);
        }
        if m.zero {
            dst.fill_zero(at, self.sector_size as usize)?;
            if let Some(meta) = meta {
                meta.fill(0);
            }
            return Ok(());
        }
        self.read_block(ai, premap, m.postmap, dst, at, meta)
    }

    /// Copies the blocks of the settled entries `raw` (premap blocks from
    /// `premap` on) into `dst` (from byte `at` on) and `meta`: zeroes for
    /// zero entries, one media read for a run of blocks that follow each
    /// other on the media when the internal block is the sector (512 and
    /// 4096 without metadata) and no metadata is asked for, else block by
    /// block. An entry with the error flag fails with [`Error::Io`] before
    /// its block (the blocks before it are copied).
    fn copy_batch<B: DataBuf + ?Sized>(
        &self,
        ai: usize,
        premap: u32,
        raw: &[RawEntry],
        dst: &mut B,
        at: usize,
        mut meta: Option<&mut [u8]>,
    ) -> Result<(), Error>
    where
        M: DataMedia<B>,
    {
        let ss = self.sector_size as usize;
        let ms = self.meta_size() as usize;
        let arena = self.arenas.get(ai).ok_or(Error::Invalid)?;
        let a = &arena.info;
        let runs = meta.is_none() && a.internal_lbasize == self.sector_size;
        let mapping = |i: usize| {
            raw.get(i)
                .map(|r| Mapping::decode(premap + i as u32, u32::from_le_bytes(*r)))
        };
        let mut i = 0;
        while let Some(m) = mapping(i) {
            // The blocks of `i..j` follow each other on the media.
            let mut j = i + 1;
            if runs && !m.zero && !m.error {
                let mut last = m.postmap;
                while let Some(n) = mapping(j) {
                    if n.zero || n.error || n.postmap != last + 1 {
                        break;
                    }
                    last = n.postmap;
                    j += 1;
                }
            }
            if j > i + 1 {
                let off = a.block_offset(m.postmap).ok_or(Error::Io)?;
                if self
                    .media
                    .read_data(off, dst, at + i * ss, (j - i) * ss)
                    .is_ok()
                {
                    i = j;
                    continue;
                }
                // A media error somewhere in the run: block by block, so
                // that the bad one is found and flagged.
            }
            // Zero and error entries, blocks alone, and the blocks of a run
            // that did not read.
            for (t, r) in (i..j).zip(raw.get(i..j).ok_or(Error::Invalid)?) {
                let md = match meta.as_deref_mut() {
                    Some(meta) => Some(meta.get_mut(t * ms..(t + 1) * ms).ok_or(Error::Invalid)?),
                    None => None,
                };
                self.copy_one(ai, premap + t as u32, *r, dst, at + t * ss, md)?;
            }
            i = j;
        }
        Ok(())
    }

    fn read_block<B: DataBuf + ?Sized>(
        &self,
        ai: usize,
        premap: u32,
        postmap: u32,
        dst: &mut B,
        at: usize,
        meta: Option<&mut [u8]>,
    ) -> Result<(), Error>
    where
        M: DataMedia<B>,
    {
        let arena = self.arenas.get(ai).ok_or(Error::Invalid)?;
        let a = &arena.info;
        let off = a.block_offset(postmap).ok_or(Error::Io)?;
        let mut result = self
            .media
            .read_data(off, dst, at, self.sector_size as usize);
        if result.is_ok() {
            if let Some(meta) = meta {
                result = self.media.read(off + u64::from(self.sector_size), meta);
            }
        }
        // Only a media error marks the block; a refused range (`Invalid`, the
        // caller's or the media's) says nothing about the data.
        if result == Err(Error::Io) && self.arena_writable(ai) {
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
}
