// SPDX-License-Identifier: GPL-2.0
//! [`BttDev`]: one attached BTT, its disk and its I/O state [`BttIo`] (C:
//! `struct btt` with `btt_init()`, `btt_fini()` and `btt_submit_bio()`).

use kernel::device::Device;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::{
    Arc,
    ArcBorrow, //
};

use crate::btt_core::{
    self,
    Config, //
};
use crate::c_btt::{
    CBtt,
    CBttFields, //
};
use crate::debugfs::{
    self,
    BttDebugfs, //
};
use crate::kernel_ext::block::bio::{
    Bio,
    Mapping,
    Op,
    Segment, //
};
use crate::kernel_ext::block::bio_disk::{
    self,
    GenDisk,
    GenDiskBuilder,
    Geometry, //
};
use crate::kernel_ext::memalloc::NoIoScope;
use crate::kernel_ext::nvdimm::{
    BttDevice,
    CBttHead,
    Namespace, //
};
use crate::kernel_ext::ratelimit::{
    RateLimit,
    Verdict, //
};
use crate::kernel_ext::sync::destroyed_mutex::{
    new_destroyed_mutex,
    DestroyedMutex, //
};
use crate::kernel_platform::KernelPlatform;
use crate::lanes::NdRegion;
use crate::ns_media::NsMedia;

/// The BTT algorithm over the namespace.
pub(crate) type CoreBtt = btt_core::Btt<NsMedia, KernelPlatform>;
/// The state of one lane, reachable only through [`NdRegion::acquire_lane`];
/// only writes take one.
pub(crate) type CoreLane = btt_core::Lane<KernelPlatform>;

/// Prints a core error with the kernel's formatting machinery.
struct CoreError(btt_core::Error);

impl kernel::fmt::Display for CoreError {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// Sectors zeroed under one lane (one durable 4-byte map write each).
const ZERO_CHUNK: u64 = 256;

/// Whether discard and write-zeroes may use the map's zero flag: only when a
/// sector fills a page. C `btt_read_pg()` zero-fills the first zero-flagged
/// sector of a segment and returns, leaving the rest of the segment as the
/// caller's buffer was; with sectors smaller than a page (512, 520, 528) a
/// segment holds several, so a namespace discarded here would read stale
/// memory under the C driver. Smaller sectors advertise neither (the block
/// layer writes zero pages for `BLKZEROOUT`, normal BTT writes).
fn zero_flag_readable_by_c(sector_size: u32) -> bool {
    sector_size as usize >= kernel::page::PAGE_SIZE
}

/// Largest integrity metadata per sector (4224 - 4096).
const MAX_META: usize = 128;

/// The kernel errno of a core error.
pub(crate) fn to_kernel(e: btt_core::Error) -> Error {
    Error::from_errno(-e.to_errno())
}

impl From<btt_core::Error> for Error {
    fn from(e: btt_core::Error) -> Self {
        to_kernel(e)
    }
}

/// The `write_batch` module parameter, kept within `1..=MAX_BATCH`.
fn write_batch_param() -> u32 {
    crate::module_parameters::write_batch
        .value()
        .clamp(1, btt_core::MAX_BATCH as u32)
}

/// What every bio of a BTT's disk uses: the BTT over its media and the lanes.
/// The disk owns one reference (its queue data) and drops it only after
/// `del_gendisk()` returned; nothing in it is ever reached through `&mut`.
#[pin_data]
pub(crate) struct BttIo {
    region: NdRegion<CoreLane>,
    btt: CoreBtt,
    /// The BTT device (`nd_btt->dev`), for messages; a reference is held.
    dev: ARef<Device>,
    /// Limits the I/O path's error messages (C `dev_err_ratelimited()`).
    io_errors: RateLimit,
    /// Held while a BTT opened read-only is made writable, so that the
    /// writes that come meanwhile wait for it (see
    /// [`BttIo::writable_if_region_is`]); `true` once an attempt failed.
    /// Taken before any lane.
    #[pin]
    making_writable: DestroyedMutex<bool>,
}

/// The disk's I/O: a bio comes from the abstraction (`bio_disk`), goes to
/// [`BttIo::submit`] and on to the core.
#[vtable]
impl bio_disk::Operations for BttIo {
    type QueueData = Arc<BttIo>;

    fn submit_bio(io: ArcBorrow<'_, BttIo>, bio: &Bio) -> Result {
        io.submit(bio)
    }

    /// The C driver's `btt_getgeo()`: 64 heads, 32 sectors per track.
    fn geometry(capacity_sectors: u64) -> Geometry {
        Geometry {
            heads: 1 << 6,
            sectors: 1 << 5,
            cylinders: (capacity_sectors >> 11) as u16,
        }
    }
}

/// One attached BTT, stored in `nd_btt->btt`. Fields are dropped in
/// declaration order: the C view first (plain data; detach has already cleared
/// `nd_btt->btt`), the debugfs files, then the disk (`del_gendisk()` waits for
/// every bio in flight, then the disk drops its reference to the I/O state),
/// then the last reference to the I/O state (lanes, each mutex destroyed; the
/// BTT and its media).
///
/// `#[repr(C)]` with [`CBtt`] first: C reads `nd_btt->btt` as its `struct btt`.
#[repr(C)]
#[pin_data]
pub(crate) struct BttDev {
    #[pin]
    c_btt: CBtt,
    debugfs: Option<Pin<KBox<BttDebugfs>>>,
    disk: GenDisk<BttIo>,
    io: Arc<BttIo>,
}

// `nd_btt->btt` and the address of a `BttDev` are the same (see `CBttHead`).
const _: () = assert!(core::mem::offset_of!(BttDev, c_btt) == 0);

// SAFETY: `BttDev` is `#[repr(C)]` and starts with a `CBtt`, a transparent
// `struct btt`, initialised before the value exists and never written after.
unsafe impl CBttHead for BttDev {}

impl BttDev {
    /// C `nvdimm_namespace_attach_btt()` + `btt_init()`: opens (or creates)
    /// the BTT on `ns`, claimed by `nd_btt`, and adds its disk.
    ///
    /// # Safety
    ///
    /// `ns` must be the namespace nd_pmem probes, claimed by `nd_btt`, and the
    /// returned value must be dropped before `nd_btt` unbinds (by the detach
    /// that nd_pmem's remove calls).
    pub(crate) unsafe fn attach(nd_btt: &BttDevice, ns: &Namespace) -> Result<Pin<KBox<Self>>> {
        let dev: ARef<Device> = nd_btt.as_device().into();
        // SAFETY: `ns` is the namespace `nd_btt` claims, and the media is
        // dropped with the returned value, before `nd_btt` unbinds (caller).
        let (cfg, io) = unsafe { nd_btt.enable(ns) }?;
        if io.size() < btt_core::layout::ARENA_MIN_SIZE {
            return Err(ENXIO);
        }
        let rawsize = io.size();
        let region = nd_btt.region();
        let num_lanes = NdRegion::<CoreLane>::lanes_in_use(region)?;
        let ro = region.read_only();
        let core_cfg = Config {
            lbasize: cfg.lbasize,
            uuid: cfg.uuid,
            parent_uuid: cfg.parent_uuid,
            version_major: cfg.version.0,
            version_minor: cfg.version.1,
            read_only: ro,
            nlanes: u32::try_from(num_lanes).map_err(|_| EINVAL)?,
            full_check: crate::module_parameters::full_check.value(),
            batch: write_batch_param(),
        };
        let (btt, lanes) = CoreBtt::open(NsMedia::new(io), &core_cfg).map_err(|e| {
            dev_err!(dev, "cannot attach: {}\n", CoreError(e));
            to_kernel(e)
        })?;
        if ro {
            // C: "%s is read-only, unable to init btt metadata" when it would
            // have to create one; here also no recovery is written.
            dev_warn!(
                dev,
                "region read-only: attached read-only, no recovery written; the first write once the region is writable recovers it\n"
            );
        }
        if btt.created() {
            dev_info!(
                dev,
                "new BTT {}.{}, {} arenas, {} x {}-byte sectors\n",
                cfg.version.0,
                cfg.version.1,
                btt.num_arenas(),
                btt.nlba(),
                btt.lbasize()
            );
        }
        for (i, a) in btt.arenas().enumerate() {
            if a.info_source == btt_core::InfoSource::Backup {
                dev_warn!(
                    dev,
                    "arena {} opened from its backup info block at {:#x}; primary at {:#x} is invalid\n",
                    i,
                    a.info2off,
                    a.infooff
                );
            }
        }
        let region_lanes = NdRegion::new(region, lanes)?;
        let bytes = btt.nlba() * u64::from(btt.sector_size());
        // The BTT's own reasons for read-only (an arena's error flag, a damaged
        // flog, on a writable region) apply before the disk is added, so that
        // it is never seen writable.
        let btt_read_only = !ro && (0..btt.num_arenas()).any(|i| !btt.arena_writable(i));
        let name = ns.disk_name()?;
        let io_dev = dev.clone();
        let io = Arc::pin_init(
            try_pin_init!(BttIo {
                region: region_lanes,
                btt,
                dev: io_dev,
                io_errors: RateLimit::new(),
                making_writable <- new_destroyed_mutex!(Ok(false), "btt_rs::making_writable"),
            }),
            GFP_KERNEL,
        )?;
        let disk = GenDiskBuilder::new()
            .logical_block_size(io.btt.sector_size())?
            .max_hw_sectors(u32::MAX)
            .max_zeroes_sectors(if zero_flag_readable_by_c(io.btt.sector_size()) {
                u32::MAX
            } else {
                0
            })
            .metadata_size(io.btt.meta_size())
            .capacity_sectors(bytes >> 9)
            .synchronous(true)
            // Read-only from the start on a read-only region too: a write
            // before the catch-up below would otherwise find it writable and
            // make the BTT writable.
            .read_only(ro || btt_read_only)
            .build::<BttIo, crate::BttRs>(fmt!("{}", name.as_str()), &dev, io.clone())
            .inspect_err(|e| dev_err!(dev, "cannot add the disk: {:?}\n", e))?;
        // As C: catch the disk up with the region's read-only state, which on a
        // writable region would undo `btt_read_only`.
        if !btt_read_only {
            nd_btt.check_and_set_ro(&disk);
        }
        let c_fields = CBttFields {
            disk: disk.as_raw(),
            nd_btt: nd_btt.as_raw(),
            nd_region: region.as_raw(),
            nlba: io.btt.nlba(),
            rawsize,
            lbasize: io.btt.lbasize(),
            sector_size: io.btt.sector_size(),
            num_arenas: io.btt.num_arenas(),
        };
        let debugfs = debugfs::new(dev.name(), io.clone());
        for (i, a) in io.btt.arenas().enumerate() {
            if let Some(e) = io.btt.arena_media_error(i) {
                // One line naming the arena and the unreadable byte range.
                dev_warn!(dev, "arena {}: {}: serving it read-only\n", i, CoreError(e));
            } else if let Some(e) = io.btt.arena_flog_damage(i) {
                dev_warn!(dev, "arena {}: {}: serving it read-only\n", i, CoreError(e));
            } else if a.has_error_flag() {
                dev_warn!(dev, "arena {}: info block error flag: read-only\n", i);
            }
        }
        let this = KBox::pin_init(
            try_pin_init!(BttDev {
                c_btt <- CBtt::new(c_fields),
                debugfs,
                disk,
                io,
            }? Error),
            GFP_KERNEL,
        )?;
        // As C `btt_blk_init()`, only once the disk is added: a failed attach
        // leaves it as it was.
        nd_btt.set_size(bytes);
        Ok(this)
    }
}

impl BttIo {
    /// The BTT.
    pub(crate) fn btt(&self) -> &CoreBtt {
        &self.btt
    }

    /// Logs an I/O path error against the BTT device, rate-limited as C's
    /// `dev_err_ratelimited()`.
    fn io_error(&self, args: core::fmt::Arguments<'_>) {
        match self.io_errors.check() {
            Verdict::Drop => {}
            Verdict::Print { suppressed } => {
                if suppressed > 0 {
                    dev_warn!(self.dev, "{} I/O error messages suppressed\n", suppressed);
                }
                self.dev.pr_err(args);
            }
        }
    }

    /// A BTT attached while its region was read-only is opened read-only,
    /// with no recovery written. Once the region is made writable (nd_pmem
    /// then clears the disk's read-only flag, `nvdimm_check_and_set_ro()`),
    /// the first write or zeroing writes that recovery and lets writes in
    /// (the C driver opens such a BTT writable from the start). If that
    /// fails, writes stay refused until the namespace is enabled again: one
    /// attempt per attach, not one per bio.
    fn writable_if_region_is(&self, bio: &Bio) {
        if !self.btt.is_read_only() || bio.disk_read_only() {
            return;
        }
        let mut failed = self.making_writable.lock();
        if *failed {
            return;
        }
        // The recovery allocates the lanes' new states while a bio waits:
        // reclaim must not write back to this disk meanwhile.
        let _no_io = NoIoScope::enter();
        let result = self.btt.make_writable(|lane| {
            // One lane at a time (all lanes share one lockdep class). A
            // writer holding a lane meanwhile only finds the BTT read-only
            // and lets go.
            let index = lane.index() as usize;
            *self.region.lock_lane(index) = lane;
            Ok(())
        });
        match result {
            Ok(true) => dev_info!(self.dev, "region writable: BTT recovered, writes enabled\n"),
            Ok(false) => {}
            Err(e) => {
                *failed = true;
                dev_err!(
                    self.dev,
                    "region writable, but the BTT's recovery failed: {}; writes refused until the namespace is enabled again\n",
                    CoreError(e)
                );
            }
        }
    }

    /// C `btt_submit_bio()`: every segment; a write's sector by sector under one
    /// lane, a read's without a lane (see `read_segment`).
    pub(crate) fn submit(&self, bio: &Bio) -> Result {
        let op = bio.op();
        match op {
            Op::Other => return Err(EOPNOTSUPP),
            Op::Discard | Op::WriteZeroes => {
                self.writable_if_region_is(bio);
                return self.zero_range(bio, op);
            }
            Op::Write => self.writable_if_region_is(bio),
            Op::Read => {}
        }
        let integrity = bio.has_integrity();
        let meta_len = self.btt.meta_size() as usize;
        // Only a bio with integrity metadata needs the buffer: the others skip
        // zeroing it (a `rep stosb` of 128 bytes per bio).
        let mut meta_store = core::mem::MaybeUninit::<[u8; MAX_META]>::uninit();
        let mut meta_buf = if integrity {
            Some(
                meta_store
                    .write([0u8; MAX_META])
                    .get_mut(..meta_len)
                    .ok_or(EINVAL)?,
            )
        } else {
            None
        };
        if op == Op::Write {
            return self.write_bio(bio, meta_buf);
        }
        for mut seg in bio.segments() {
            let (first, len) = self.segment_range(&seg)?;
            let result =
                seg.with_mapped(|map| self.read_segment(bio, map, first, meta_buf.as_deref_mut()));
            if let Err(e) = result {
                self.segment_error("READ", first, len);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The first sector (in BTT sectors) and the length of a bio segment,
    /// refused unless it is whole sectors within a page.
    fn segment_range(&self, seg: &Segment<'_>) -> Result<(u64, usize)> {
        let ss = self.btt.sector_size() as usize;
        let len = seg.len();
        if len > kernel::page::PAGE_SIZE || len < ss || len % ss != 0 {
            self.io_error(fmt!("unaligned bio segment (len: {})\n", len));
            return Err(EIO);
        }
        Ok((seg.sector() / (ss as u64 >> 9), len))
    }

    fn segment_error(&self, dir: &str, first: u64, len: usize) {
        let ss = self.btt.sector_size() as usize;
        self.io_error(fmt!(
            "io error in {} sector {}, len {}\n",
            dir,
            seg_sector(first, ss),
            len
        ));
    }

    /// `REQ_OP_DISCARD` and `REQ_OP_WRITE_ZEROES`: the zero flag on the map
    /// entry of each sector of the range ([`btt_core::Btt::write_zeroes`]).
    /// A discarded sector reads zeroes, under the C driver too; the block
    /// layer sends only ranges of whole logical blocks (it checks them
    /// against the logical block size, which is also the discard
    /// granularity). The lane is taken per [`ZERO_CHUNK`] sectors, so that a
    /// range of the whole disk does not keep it from the other users of the
    /// lane for long.
    fn zero_range(&self, bio: &Bio, op: Op) -> Result {
        let ss = u64::from(self.btt.sector_size());
        let (sector, size) = (bio.sector(), u64::from(bio.size()));
        let what = if op == Op::Discard {
            "DISCARD"
        } else {
            "WRITE ZEROES"
        };
        if (sector << 9) % ss != 0 || size % ss != 0 {
            self.io_error(fmt!(
                "unaligned {} (sector: {}, len: {})\n",
                what,
                sector,
                size
            ));
            return Err(EIO);
        }
        let mut lba = (sector << 9) / ss;
        let end = lba + size / ss;
        while lba < end {
            let n = (end - lba).min(ZERO_CHUNK);
            let mut lane = self.region.acquire_lane();
            if let Err(e) = self.btt.write_zeroes(&mut lane, lba, n) {
                drop(lane);
                self.io_error(fmt!(
                    "io error in {} sector {}, len {}\n",
                    what,
                    seg_sector(lba, ss as usize),
                    n * ss
                ));
                return Err(to_kernel(e));
            }
            lba += n;
        }
        Ok(())
    }

    fn read_segment(
        &self,
        bio: &Bio,
        map: &mut Mapping<'_>,
        first: u64,
        meta: Option<&mut [u8]>,
    ) -> Result {
        // No lane: a read claims read tracking slots of its own in the core.
        let len = map.bytes().len();
        let Some(meta) = meta else {
            // The whole segment (up to 8 sectors of 512 bytes) at once: one map
            // read, one map reread, one data read per run of consecutive blocks.
            return self
                .btt
                .read_sectors_into(first, map, 0, len, None)
                .map_err(to_kernel);
        };
        // With integrity metadata, sector by sector: each sector's metadata goes
        // to the bio's integrity payload before the next is read.
        let ss = self.btt.sector_size() as usize;
        for i in 0..len / ss {
            self.btt
                .read_sectors_into(first + i as u64, map, i * ss, ss, Some(&mut *meta))
                .map_err(to_kernel)?;
            bio.integrity_give(meta)?;
        }
        Ok(())
    }

    /// A write bio: every segment's sectors staged in one write batch under
    /// one lane, so that consecutive sectors are committed together (up to
    /// `write_batch` of them, in one group of map entries) with three
    /// `nvdimm_flush()` calls per batch instead of three per sector. The
    /// guard is held across the data, flog and map writes, which may sleep
    /// (`nvdimm_flush()`). Each sector stays atomic; a failure leaves the
    /// sectors of earlier batches written and fails the bio.
    fn write_bio(&self, bio: &Bio, mut meta: Option<&mut [u8]>) -> Result {
        let ss = self.btt.sector_size() as usize;
        let mut lane = self.region.acquire_lane();
        let mut at = (0u64, 0usize);
        self.btt
            .write_batch(&mut lane, |batch| -> Result {
                for mut seg in bio.segments() {
                    let (first, len) = self.segment_range(&seg)?;
                    at = (first, len);
                    seg.with_mapped(|map| -> Result {
                        for i in 0..len / ss {
                            if let Some(m) = meta.as_deref_mut() {
                                bio.integrity_take(m)?;
                            }
                            batch.write_from(first + i as u64, map, i * ss, meta.as_deref())?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .inspect_err(|_| self.segment_error("WRITE", at.0, at.1))
    }
}

fn seg_sector(lba: u64, ss: usize) -> u64 {
    lba * (ss as u64 >> 9)
}
