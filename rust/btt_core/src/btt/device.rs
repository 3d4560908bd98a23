// SPDX-License-Identifier: GPL-2.0
//! The BTT handle, its configuration, its arenas and its lanes.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use super::error::Error;
use super::flog::LOG_GRP_SIZE;
use super::layout::sector_size_for;
use super::media::Media;
use super::platform::Platform;

/// Most sectors a write batch commits together ([`Config::batch`]): a
/// 128 KiB bio of 4096-byte sectors. A batch's sectors are consecutive and
/// lie in one aligned group of this many premap blocks, which share a map
/// lock.
pub const MAX_BATCH: usize = 32;

/// What the caller knows about the BTT it opens (C: the `struct nd_btt`
/// fields `btt_init()` is given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// External sector size including metadata (C `nd_btt->lbasize`): one of
    /// [`super::SUPPORTED_LBASIZES`]. An existing BTT must have it in every
    /// arena's info block.
    pub lbasize: u32,
    /// The BTT's uuid (C `nd_btt->uuid`), written into new info blocks.
    pub uuid: [u8; 16],
    /// The namespace's uuid (C `nd_dev_to_uuid(&ndns->dev)`, all zero for an
    /// io namespace). An info block whose `parent_uuid` is not zero must
    /// carry this one.
    pub parent_uuid: [u8; 16],
    /// Info block version major (C `nd_btt->version_major`, chosen like
    /// `nd_btt_version()`: 2 for `NVDIMM_CCLASS_BTT2`, else 1).
    pub version_major: u16,
    /// Info block version minor (0 with major 2, 1 with major 1).
    pub version_minor: u16,
    /// Never write: no layout creation, no flog recovery, no error clearing,
    /// and [`Btt::write`] fails with [`Error::ReadOnly`] (C `nd_region->ro`).
    pub read_only: bool,
    /// Number of lanes to hand out, 1..=256 (C `nd_region->num_lanes`); it
    /// must not exceed `nfree`.
    pub nlanes: u32,
    /// Most sectors one write batch commits together, 1..=[`MAX_BATCH`]
    /// (see [`Btt::write_batch`]); 1 writes sector by sector, on flog lane
    /// `i` for lane `i`, as C. Each lane owns up to this many consecutive
    /// flog lanes of every arena (lane `i` the `flogs` from `i * flogs` on,
    /// below `nfree`), so the flog lanes no lane would use otherwise serve
    /// batches, and a batch's log groups are one range of the media.
    pub batch: u32,
    /// Check at open that every internal block of every arena is owned exactly
    /// once by the map and the free list (reads the whole map; needs a
    /// transient bitmap of `internal_nlba / 8` bytes per arena). The C driver
    /// has no such check.
    pub full_check: bool,
}

impl Config {
    /// A configuration with 256 lanes, writable, with the full check.
    pub fn new(
        lbasize: u32,
        uuid: [u8; 16],
        parent_uuid: [u8; 16],
        version_major: u16,
        version_minor: u16,
    ) -> Self {
        Config {
            lbasize,
            uuid,
            parent_uuid,
            version_major,
            version_minor,
            read_only: false,
            nlanes: super::layout::BTT_DEFAULT_NFREE,
            batch: MAX_BATCH as u32,
            full_check: true,
        }
    }
}

/// Which info block an arena was opened from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InfoSource {
    /// The primary info block at the start of the arena (C `infooff`).
    #[default]
    Primary,
    /// The backup info block at the end of arena 0 (C `info2off`), because
    /// the primary was invalid. Nothing was written to repair the primary;
    /// see [`super::check::copy_info_block`] (`btt check --repair`).
    Backup,
}

/// What an arena is, for debugfs and `btt info` (C `struct arena_info`
/// without its in-memory tables). Offsets are from the start of the BTT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ArenaInfo {
    /// C `size`: bytes the arena occupies, metadata included.
    pub size: u64,
    /// C `external_lba_start`: the first external block in this arena.
    pub external_lba_start: u64,
    /// C `internal_nlba`: data blocks, the `nfree` reserve included.
    pub internal_nlba: u32,
    /// C `internal_lbasize`: size of one data block.
    pub internal_lbasize: u32,
    /// C `external_nlba`: blocks the arena exports (`internal_nlba - nfree`).
    pub external_nlba: u32,
    /// C `external_lbasize`: sector size with metadata.
    pub external_lbasize: u32,
    /// C `nfree`: free blocks = flog lanes.
    pub nfree: u32,
    /// C `version_major`.
    pub version_major: u16,
    /// C `version_minor`.
    pub version_minor: u16,
    /// C `sector_size`: 512 or 4096.
    pub sector_size: u32,
    /// C `nextoff`: start of the next arena, 0 for the last one.
    pub nextoff: u64,
    /// C `infooff`: the info block.
    pub infooff: u64,
    /// C `dataoff`: the data blocks.
    pub dataoff: u64,
    /// C `mapoff`: the map.
    pub mapoff: u64,
    /// C `logoff`: the flog.
    pub logoff: u64,
    /// C `info2off`: the backup info block.
    pub info2off: u64,
    /// C `flags`: `IB_FLAG_ERROR` makes the arena refuse writes.
    pub flags: u32,
    /// C `log_index[2]`: the slots of the two live entries in each log group.
    pub log_index: [u32; 2],
    /// Which info block described the arena.
    pub info_source: InfoSource,
}

impl ArenaInfo {
    /// Byte offset of data block `block` (C `to_namespace_offset()`).
    pub fn block_offset(&self, block: u32) -> Option<u64> {
        u64::from(block)
            .checked_mul(u64::from(self.internal_lbasize))?
            .checked_add(self.dataoff)
    }

    /// Byte offset of the map entry of premap block `premap`.
    pub fn map_entry_offset(&self, premap: u32) -> Option<u64> {
        u64::from(premap)
            .checked_mul(super::map::MAP_ENT_SIZE)?
            .checked_add(self.mapoff)
    }

    /// Byte offset of the log group of flog lane `lane`.
    pub fn log_group_offset(&self, lane: u32) -> Option<u64> {
        u64::from(lane)
            .checked_mul(super::flog::LOG_GRP_SIZE)?
            .checked_add(self.logoff)
    }

    /// Whether the info block's error flag is set (C `IB_FLAG_ERROR_MASK`).
    pub fn has_error_flag(&self) -> bool {
        self.flags & super::info::IB_FLAG_ERROR_MASK != 0
    }
}

/// One lane's free block in one arena (C `struct free_entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FreeEntry {
    /// C `block`: the free postmap block the lane's next write uses.
    pub block: u32,
    /// C `sub`: the live flog slot (0 or 1) the next write overwrites.
    pub sub: u8,
    /// C `seq`: the sequence number the next flog entry gets (1..=3).
    pub seq: u8,
    /// C `has_err`: the block had a media error and is zeroed before use.
    pub has_err: bool,
}

/// All per-lane state of one BTT: the lane's index and, in every arena, the
/// free blocks of the flog lanes it owns (C: `arena->freelist[lane]` of each
/// arena; C owns one flog lane per lane, btt-rs up to [`Config::batch`]).
///
/// [`Btt::open`] hands out exactly `Config::nlanes` of them and no other
/// copy of this state exists. [`Btt::read`] and [`Btt::write`] take
/// `&mut Lane`, so two concurrent users of one lane cannot be expressed (the
/// C driver's lane sharing bug). A lane of another [`Btt`] is refused with
/// [`Error::Invalid`].
pub struct Lane<P: Platform> {
    pub(super) btt_id: usize,
    pub(super) index: u32,
    /// Flog lanes owned in each arena: `index * flogs..(index + 1) * flogs`,
    /// consecutive, so that their log groups are one range of the media.
    pub(super) flogs: u32,
    /// The free entry of owned flog lane `j` of arena `a` at
    /// `a * flogs + j`; it is flog lane `index * flogs + j`.
    pub(super) free: P::Slice<FreeEntry>,
    /// The log groups of the owned flog lanes as they are on the media, laid
    /// out as `free`: a commit changes the entries' halves here and writes
    /// the groups of all its sectors at once (the other bytes written again
    /// as they are), two media writes per batch instead of two per sector.
    /// Read at open, after recovery, which writes map entries and free
    /// blocks but never the flog; nothing else writes a lane's log groups
    /// while the BTT is open. It is the media's until a commit's flog or map
    /// write fails; the arena then takes no more writes (`failed`), and the
    /// next open reads the groups again.
    pub(super) groups: P::Slice<[u8; LOG_GRP_SIZE as usize]>,
    /// The flog entries of a batch being committed, `flogs` of them: kept
    /// with the lane so that a commit builds no table on the stack.
    pub(super) pending: P::Slice<PendingEntry>,
    /// The map entries of a batch being committed, `flogs` of them: the old
    /// ones as read, then the new ones to write.
    pub(super) map_scratch: P::Slice<[u8; 4]>,
}

/// One sector of a batch being committed: its flog entry's byte offset in
/// its log group and two halves, and the map entry it replaces.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PendingEntry {
    pub(super) slot_offset: usize,
    pub(super) first_half: [u8; 8],
    pub(super) second_half: [u8; 8],
    pub(super) old_postmap: u32,
    pub(super) old_error: bool,
}

impl<P: Platform> Lane<P> {
    /// The lane number, `0..nlanes`; where its search for read tracking
    /// slots starts.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The first flog lane the lane owns (`index * flogs`); the others
    /// follow it.
    pub fn first_flog_lane(&self) -> u32 {
        self.index * self.flogs
    }

    /// How many flog lanes the lane owns in each arena.
    pub fn flog_lanes(&self) -> u32 {
        self.flogs
    }

    /// The free block of the lane's first flog lane in arena `arena`, the
    /// one a single-sector write uses (for debugging).
    pub fn free_entry(&self, arena: usize) -> Option<FreeEntry> {
        self.free_entries(arena).next().map(|(_, f)| f)
    }

    /// The lane's flog lanes in arena `arena`, each with its free block.
    pub fn free_entries(&self, arena: usize) -> impl Iterator<Item = (u32, FreeEntry)> + '_ {
        let entries = self
            .arena_range(arena)
            .and_then(|r| self.free.get(r))
            .unwrap_or(&[]);
        entries
            .iter()
            .enumerate()
            .map(move |(j, f)| (self.first_flog_lane() + j as u32, *f))
    }

    /// The free entry of owned flog lane `j` of arena `arena`, to change.
    pub(super) fn free_mut(&mut self, arena: usize, j: usize) -> Option<&mut FreeEntry> {
        let range = self.arena_range(arena)?;
        self.free.get_mut(range)?.get_mut(j)
    }

    /// Where arena `arena`'s free entries lie in `free`.
    pub(super) fn arena_range(&self, arena: usize) -> Option<core::ops::Range<usize>> {
        let flogs = self.flogs as usize;
        let first = arena.checked_mul(flogs)?;
        Some(first..first.checked_add(flogs)?)
    }
}

impl<P: Platform> core::fmt::Debug for Lane<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lane")
            .field("btt_id", &self.btt_id)
            .field("index", &self.index)
            .field("flogs", &self.flogs)
            .field("free", &&*self.free)
            .finish()
    }
}

/// Runtime state of one arena.
pub(super) struct Arena {
    pub(super) info: ArenaInfo,
    /// Set when a flog or map write failed: the on-media state of a lane is
    /// then unknown until the next open recovers it, so writes stop (with
    /// `EIO`). Set under the map lock of the failed write and checked again
    /// under it by every writer, so that no writer waiting on that lock goes
    /// on to reuse a block the failed entry may have freed.
    pub(super) failed: AtomicBool,
    /// What open found wrong with the flog, if anything: the arena is then
    /// served read-only (its map is sound, its free blocks are not).
    pub(super) flog_damage: Option<Error>,
    /// The metadata open could not read ([`Error::Media`]), if any: the
    /// arena is then served read-only and unrecovered.
    pub(super) media_damage: Option<Error>,
}

/// An open BTT (C `struct btt` with its `arena_list`).
///
/// `Btt` is `Sync`: any number of threads may read and write at once, each
/// with its own [`Lane`].
pub struct Btt<M: Media, P: Platform> {
    pub(super) media: M,
    pub(super) id: usize,
    pub(super) arenas: P::Slice<Arena>,
    /// Read tracking table (C `arena->rtt`): `rtt_slots` slots per arena,
    /// arena `a`'s at `a * rtt_slots..(a + 1) * rtt_slots`. A reader claims
    /// free slots (0) with a compare-exchange, without any lane; writers scan
    /// all of their arena's slots (see `io.rs`).
    pub(super) rtt: P::Slice<AtomicU32>,
    /// Slots per arena in `rtt`: [`rtt_slots_per_lane`] times `nlanes`.
    pub(super) rtt_slots: usize,
    /// Slots of each lane in `rtt` (lane `l`'s are `l * rtt_slots_per_lane`
    /// on): where a reader on that lane's CPU starts looking.
    pub(super) rtt_slots_per_lane: usize,
    /// Map locks (C `arena->map_locks`), `nfree` per arena.
    pub(super) locks: P::LockTable,
    pub(super) nlba: u64,
    pub(super) lbasize: u32,
    pub(super) sector_size: u32,
    pub(super) nlanes: u32,
    /// Flog lanes each lane owns per arena (see [`Lane`]).
    pub(super) lane_flogs: u32,
    /// Opened read-only ([`Config::read_only`]) and not yet made writable
    /// ([`Btt::make_writable`]).
    pub(super) read_only: AtomicBool,
    /// A [`Btt::make_writable`] is running.
    pub(super) making_writable: AtomicBool,
    pub(super) created: bool,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A fresh identity for a [`Btt`], so that its [`Lane`]s are recognised.
pub(super) fn next_id() -> usize {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl<M: Media, P: Platform> Btt<M, P> {
    /// External blocks in total (C `btt->nlba`); the device has
    /// `nlba() * sector_size()` bytes of data.
    pub fn nlba(&self) -> u64 {
        self.nlba
    }

    /// The Linux sector size, 512 or 4096 (C `btt->sector_size`).
    pub fn sector_size(&self) -> u32 {
        self.sector_size
    }

    /// External sector size with metadata (C `btt->lbasize`).
    pub fn lbasize(&self) -> u32 {
        self.lbasize
    }

    /// Integrity metadata bytes per sector (C `btt_meta_size()`:
    /// `lbasize - sector_size`).
    pub fn meta_size(&self) -> u32 {
        self.lbasize - self.sector_size
    }

    /// Number of lanes handed out by open.
    pub fn nlanes(&self) -> u32 {
        self.nlanes
    }

    /// Flog lanes each lane owns in every arena: the most sectors one
    /// write batch commits together ([`Btt::write_batch`]).
    pub fn flog_lanes_per_lane(&self) -> u32 {
        self.lane_flogs
    }

    /// Number of arenas (C `btt->num_arenas`).
    pub fn num_arenas(&self) -> usize {
        self.arenas.len()
    }

    /// The arenas, in media order.
    pub fn arenas(&self) -> impl Iterator<Item = &ArenaInfo> + '_ {
        self.arenas.iter().map(|a| &a.info)
    }

    /// Arena `index`, if it exists.
    pub fn arena(&self, index: usize) -> Option<&ArenaInfo> {
        self.arenas.get(index).map(|a| &a.info)
    }

    /// Whether open created a new layout (no BTT was on the media).
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether the BTT was opened read-only and has not been made writable
    /// since ([`Btt::make_writable`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Acquire)
    }

    /// Whether arena `index` takes writes: not opened read-only, no
    /// `IB_FLAG_ERROR` in its info block, no damaged flog, no metadata open
    /// could not read, no failed metadata write.
    pub fn arena_writable(&self, index: usize) -> bool {
        match self.arenas.get(index) {
            Some(a) => {
                !self.is_read_only()
                    && !a.info.has_error_flag()
                    && a.flog_damage.is_none()
                    && a.media_damage.is_none()
                    && !a.failed.load(Ordering::Acquire)
            }
            None => false,
        }
    }

    /// Whether a flog or map write of arena `index` failed since open: its
    /// writes then fail with [`Error::Io`] until the BTT is opened again
    /// (the kernel: the namespace disabled and enabled), which recovers the
    /// interrupted write from the flog. Reads go on.
    pub fn arena_write_failed(&self, index: usize) -> bool {
        self.arenas
            .get(index)
            .is_some_and(|a| a.failed.load(Ordering::SeqCst))
    }

    /// What open found wrong with the flog of arena `index` (the field and
    /// its offset), for which the arena is served read-only; `None` if the
    /// flog is sound.
    pub fn arena_flog_damage(&self, index: usize) -> Option<Error> {
        self.arenas.get(index).and_then(|a| a.flog_damage)
    }

    /// The metadata of arena `index` that open could not read (a media
    /// error, e.g. poison on pmem), as [`Error::Media`] naming the structure
    /// and the byte range (from the start of the BTT); `None` if open read
    /// all it needed.
    ///
    /// Such an arena is opened read-only instead of failing the whole open:
    /// nothing in it is written (no recovery, no error clearing), writes
    /// fail with [`Error::ReadOnly`], and every sector whose map entry and
    /// data are readable reads its data; the others fail with [`Error::Io`].
    /// An interrupted write whose map update open would have rolled forward
    /// reads its old data. What is reported:
    ///
    /// - `"map"`: map entries that did not read, in the full check's walk
    ///   of the map ([`Config::full_check`]; without it the map is not
    ///   walked, and only the entry of a lane's interrupted write is read),
    ///   or the map entry of an interrupted write. Their sectors fail with
    ///   EIO; the blocks they name cannot be placed, so the free blocks
    ///   cannot be proven unowned.
    /// - `"flog"`: log groups that did not read. Their lanes have no free
    ///   block; the padding scheme may be unknown.
    ///
    /// Only the first structure found (map before flog) is reported; the
    /// range spans its unreadable units. An unreadable backup info block
    /// does not matter while the primary is valid (it is not read); an
    /// unreadable primary is treated like an invalid one (the arena is
    /// opened from its backup, see [`InfoSource::Backup`]); both unreadable
    /// fail the open with [`Error::Media`].
    ///
    /// The kernel prints one line per such arena, e.g.
    /// `btt0.1: arena 0: BTT: media error in the map at byte offset
    /// 0x1010000, 512 bytes: serving it read-only`.
    pub fn arena_media_error(&self, index: usize) -> Option<Error> {
        self.arenas.get(index).and_then(|a| a.media_damage)
    }

    /// The media the BTT lives on.
    pub fn media(&self) -> &M {
        &self.media
    }

    /// Consumes the BTT and gives its media back (lanes become useless).
    pub fn into_media(self) -> M {
        self.media
    }
}

/// Read tracking slots per lane: two pages of sectors (16 with 512-byte
/// sectors, 2 with 4096), two groups of what one batched read of a page
/// publishes at once, so that a reader preempted with its slots taken does
/// not send the next reader on its CPU searching, or reading in parts.
pub(super) fn rtt_slots_per_lane(sector_size: u32) -> usize {
    2 * (4096 / sector_size.max(1) as usize).max(1)
}

/// The sector size for `lbasize` as C `btt_init()`, checked against
/// [`super::SUPPORTED_LBASIZES`].
pub(super) fn checked_sector_size(lbasize: u32) -> Result<u32, Error> {
    if super::layout::SUPPORTED_LBASIZES.contains(&lbasize) {
        Ok(sector_size_for(lbasize))
    } else {
        Err(Error::UnsupportedSectorSize(lbasize))
    }
}
