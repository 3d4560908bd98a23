// SPDX-License-Identifier: GPL-2.0
//! [`BttDev`]: one attached BTT, its lanes and its disk (C: `struct btt` with
//! `btt_init()`, `btt_fini()` and `btt_submit_bio()`).

use kernel::bindings;
use kernel::device::Device;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

use crate::btt_core::{self, Config};
use crate::c_btt::{CBtt, CBttFields};
use crate::debugfs::BttDebugfs;
use crate::kernel_ext::block::bio::{Bio, Op};
use crate::kernel_ext::block::bio_disk::{self, Disk};
use crate::kernel_ext::ratelimit::{RateLimit, Verdict};
use crate::kernel_ext::{
    bindings as nd,
    glue, //
};
use crate::kernel_platform::KernelPlatform;
use crate::lanes::NdRegion;
use crate::ns_media::NsMedia;

/// The BTT algorithm over the namespace.
pub(crate) type CoreBtt = btt_core::Btt<NsMedia, KernelPlatform>;
/// The state of one lane, reachable only through [`NdRegion::acquire_lane`].
pub(crate) type CoreLane = btt_core::Lane<KernelPlatform>;

/// Prints a core error with the kernel's formatting machinery.
struct CoreError(btt_core::Error);

impl kernel::fmt::Display for CoreError {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// Largest integrity metadata per sector (4224 - 4096).
const MAX_META: usize = 128;

/// The kernel errno of a core error.
pub(crate) fn to_kernel(e: btt_core::Error) -> Error {
    Error::from_errno(-e.to_errno())
}

/// One attached BTT. Fields are dropped in declaration order: the C view
/// first (plain data; `detach` has already cleared `nd_btt->btt`), the debugfs
/// files, then the disk (`del_gendisk()` waits for every bio in flight), then
/// the lanes (each mutex destroyed), then the BTT and its media.
///
/// `#[repr(C)]` with [`CBtt`] first: `nd_btt->btt` points to the start of a
/// `BttDev`, which C reads as its `struct btt`.
#[repr(C)]
pub(crate) struct BttDev {
    c_btt: CBtt,
    debugfs: Option<BttDebugfs>,
    disk: Disk,
    region: NdRegion<CoreLane>,
    btt: CoreBtt,
    /// The BTT device (`nd_btt->dev`), for messages; a reference is held.
    dev: ARef<Device>,
    /// Limits the I/O path's error messages (C `dev_err_ratelimited()`).
    io_errors: RateLimit,
}

// `nd_btt->btt` and a `*mut BttDev` are the same address (see `btt_rs.rs`).
const _: () = assert!(core::mem::offset_of!(BttDev, c_btt) == 0);

/// The disk's I/O: a bio comes from the abstraction (`bio_disk::submit_bio`),
/// goes to [`BttDev::submit`] and on to the core.
#[vtable]
impl bio_disk::Operations for BttDev {
    fn submit_bio(&self, bio: &Bio) -> Result {
        self.submit(bio)
    }
}

impl BttDev {
    /// C `nvdimm_namespace_attach_btt()` + `btt_init()`: opens (or creates)
    /// the BTT on `ndns`, claimed by `nd_btt`, and adds its disk.
    ///
    /// Returns the device as a raw pointer from [`KBox::into_raw`], which is
    /// also the C `struct btt` to store in `nd_btt->btt` (its first field):
    /// its disk is live and bios reach it through the disk's `private_data`.
    ///
    /// # Safety
    ///
    /// `ndns` must be the live namespace nd_pmem probes, claimed by the live
    /// BTT device `nd_btt`; the returned value must be freed with
    /// [`KBox::from_raw`] before `nd_btt` is released (from `detach`).
    pub(crate) unsafe fn attach(
        nd_btt: *mut nd::nd_btt,
        ndns: *mut nd::nd_namespace_common,
    ) -> Result<*mut Self> {
        // SAFETY: `nd_btt` is live (caller); `get_device()` takes a reference
        // that `BttDev` holds until it is dropped.
        let dev = unsafe { Device::get_device(&raw mut (*nd_btt).dev) };
        let mut size = 0u64;
        // SAFETY: Both pointers are live (caller); `size` is valid for writes.
        kernel::error::to_result(unsafe { glue::btt_rs_enable(nd_btt, ndns, &mut size) })?;
        // SAFETY: `nd_btt` is live and configured (checked by `btt_rs_enable`).
        let (lbasize, initial_offset, major, minor) = unsafe {
            let b = &*nd_btt;
            (
                b.lbasize,
                b.initial_offset,
                b.version_major,
                b.version_minor,
            )
        };
        let initial_offset = u64::try_from(initial_offset).map_err(|_| EINVAL)?;
        let rawsize = size.checked_sub(initial_offset).ok_or(ENXIO)?;
        if rawsize < btt_core::layout::ARENA_MIN_SIZE {
            return Err(ENXIO);
        }
        let mut uuid = [0u8; 16];
        let mut parent_uuid = [0u8; 16];
        // SAFETY: `nd_btt` is live with a uuid and a namespace (checked by
        // `btt_rs_enable`); both buffers have 16 bytes.
        unsafe { glue::btt_rs_uuids(nd_btt, uuid.as_mut_ptr(), parent_uuid.as_mut_ptr()) };
        // SAFETY: `nd_btt` is live; its parent device is its region.
        let region = unsafe { glue::btt_rs_btt_region(nd_btt) };
        // SAFETY: `region` is the live parent of `nd_btt`.
        let (num_lanes, ro) = unsafe {
            (
                NdRegion::<CoreLane>::lanes_in_use(region)?,
                (*region).ro != 0,
            )
        };

        let cfg = Config {
            lbasize: u32::try_from(lbasize).map_err(|_| EINVAL)?,
            uuid,
            parent_uuid,
            version_major: major,
            version_minor: minor,
            read_only: ro,
            nlanes: u32::try_from(num_lanes).map_err(|_| EINVAL)?,
            full_check: crate::module_parameters::full_check.value(),
        };
        // SAFETY: The namespace was enabled by `btt_rs_enable` for the life of
        // the BTT device (devres), which outlives the returned value (caller);
        // `initial_offset + rawsize` is its capacity.
        let media = unsafe { NsMedia::new(ndns, initial_offset, rawsize) }.ok_or(EINVAL)?;
        let (btt, lanes) = CoreBtt::open(media, &cfg).map_err(|e| {
            dev_err!(dev, "cannot attach: {}\n", CoreError(e));
            to_kernel(e)
        })?;
        if ro {
            // C: "%s is read-only, unable to init btt metadata" when it would
            // have to create one; here also no recovery is written.
            dev_warn!(
                dev,
                "region read-only: attached read-only; after making the region writable, re-enable the namespace to write\n"
            );
        }
        if btt.created() {
            dev_info!(
                dev,
                "new BTT {}.{}, {} arenas, {} x {}-byte sectors\n",
                major,
                minor,
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
        // SAFETY: `region` is the live parent of `nd_btt`.
        let lanes = unsafe { NdRegion::new(region, lanes) }?;
        let mut disk = Disk::new(btt.sector_size(), btt.meta_size())?;
        // SAFETY: `ndns` is live (caller).
        unsafe { disk.set_name(ndns) }?;
        let bytes = btt.nlba() * u64::from(btt.sector_size());
        disk.set_capacity(bytes >> 9);
        // The BTT's own reasons for read-only (an arena's error flag, a damaged
        // flog, on a writable region) apply before the disk is added, so that
        // it is never seen writable.
        let btt_read_only = !ro && (0..btt.num_arenas()).any(|i| !btt.arena_writable(i));
        if btt_read_only {
            disk.set_read_only();
        }
        let c_fields = CBttFields {
            disk: disk.as_raw(),
            nd_btt,
            nd_region: region,
            nlba: btt.nlba(),
            rawsize,
            lbasize: btt.lbasize(),
            sector_size: btt.sector_size(),
            num_arenas: btt.num_arenas(),
        };
        let dev = KBox::new(
            BttDev {
                c_btt: CBtt::zeroed(),
                debugfs: None,
                disk,
                region: lanes,
                btt,
                dev,
                io_errors: RateLimit::new(),
            },
            GFP_KERNEL,
        )?;
        // From here on the device is reached through a raw pointer only: once
        // the disk is added, bios share it.
        let dev = KBox::into_raw(dev);
        // SAFETY: `dev` is valid and not shared yet. `nd_btt->dev` is registered,
        // so its name is a NUL-terminated string; the arena infos live in the
        // BTT's heap table until `dev` is dropped, and `debugfs` is dropped first.
        unsafe {
            (*dev).c_btt.fill(c_fields)?;
            (*dev).disk.set_private(dev.cast());
            (*dev).debugfs = Some(BttDebugfs::new(
                bindings::dev_name(&raw const (*nd_btt).dev),
                (*dev).btt.arenas(),
            ));
        }
        // SAFETY: `dev` is valid until `detach` frees it; only shared access below.
        let shared = unsafe { &*dev };
        // SAFETY: `nd_btt->dev` is live and outlives the disk (caller).
        if let Err(e) = unsafe { shared.disk.add(&raw mut (*nd_btt).dev) } {
            dev_err!(shared.dev, "cannot add the disk: {:?}\n", e);
            // SAFETY: The disk was not added, so nothing else holds `dev`.
            drop(unsafe { KBox::from_raw(dev) });
            return Err(e);
        }
        // SAFETY: `nd_btt` is live (caller). As C `btt_blk_init()`, only once
        // the disk is added: a failed attach leaves it as it was.
        unsafe { (*nd_btt).size = bytes };
        // As C: catch the disk up with the region's read-only state, which on a
        // writable region would undo `btt_read_only`.
        if !btt_read_only {
            shared.disk.check_and_set_ro();
        }
        for (i, a) in shared.btt.arenas().enumerate() {
            if let Some(e) = shared.btt.arena_media_error(i) {
                // One line naming the arena and the unreadable byte range.
                dev_warn!(
                    shared.dev,
                    "arena {}: {}: serving it read-only\n",
                    i,
                    CoreError(e)
                );
            } else if let Some(e) = shared.btt.arena_flog_damage(i) {
                dev_warn!(
                    shared.dev,
                    "arena {}: {}: serving it read-only\n",
                    i,
                    CoreError(e)
                );
            } else if a.has_error_flag() {
                dev_warn!(
                    shared.dev,
                    "arena {}: info block error flag: read-only\n",
                    i
                );
            }
        }
        Ok(dev)
    }

    /// The C `struct btt` at the start of `this`, for `nd_btt->btt`.
    ///
    /// # Safety
    ///
    /// `this` must come from [`BttDev::attach`] and not be freed yet.
    pub(crate) unsafe fn c_btt(this: *mut Self) -> *mut nd::btt {
        // SAFETY: `this` is valid (caller); no reference to `c_btt` is live
        // (nothing else takes one after `attach`).
        unsafe { (*this).c_btt.as_raw() }
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

    /// C `btt_submit_bio()`: every segment, sector by sector, each segment under one lane.
    pub(crate) fn submit(&self, bio: &Bio) -> Result {
        let op = bio.op();
        if op == Op::Other {
            return Err(EOPNOTSUPP);
        }
        let integrity = bio.has_integrity();
        let ss = self.btt.sector_size() as usize;
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
        for mut seg in bio.segments() {
            let len = seg.len();
            if len > kernel::page::PAGE_SIZE || len < ss || len % ss != 0 {
                self.io_error(fmt!("unaligned bio segment (len: {})\n", len));
                return Err(EIO);
            }
            let first = seg.sector() / (ss as u64 >> 9);
            let result = seg.with_mapped(|map| match op {
                Op::Read => self.read_segment(bio, map, first, meta_buf.as_deref_mut()),
                _ => self.write_segment(bio, map, first, meta_buf.as_deref_mut()),
            });
            if let Err(e) = result {
                let dir = if op == Op::Read { "READ" } else { "WRITE" };
                self.io_error(fmt!(
                    "io error in {} sector {}, len {}\n",
                    dir,
                    seg_sector(first, ss),
                    len
                ));
                return Err(e);
            }
        }
        Ok(())
    }

    fn read_segment(
        &self,
        bio: &Bio,
        map: &mut crate::kernel_ext::block::bio::Mapping<'_>,
        first: u64,
        mut meta: Option<&mut [u8]>,
    ) -> Result {
        // One lane for the whole segment (up to 8 sectors of 512 bytes), as
        // for writes.
        let mut lane = self.region.acquire_lane();
        for (i, chunk) in map
            .as_mut_slice()
            .chunks_exact_mut(self.btt.sector_size() as usize)
            .enumerate()
        {
            self.btt
                .read(&mut lane, first + i as u64, chunk, meta.as_deref_mut())
                .map_err(to_kernel)?;
            if let Some(m) = meta.as_deref() {
                bio.integrity_give(m)?;
            }
        }
        Ok(())
    }

    fn write_segment(
        &self,
        bio: &Bio,
        map: &crate::kernel_ext::block::bio::Mapping<'_>,
        first: u64,
        mut meta: Option<&mut [u8]>,
    ) -> Result {
        // One lane for the whole segment: one lock round trip per page instead
        // of per sector. The guard is held across each sector's data, flog and
        // map writes (each of which ends in `nvdimm_flush()` and may sleep),
        // and the sectors are written one after the other, each complete
        // before the next starts, as before.
        let mut lane = self.region.acquire_lane();
        for (i, chunk) in map
            .as_slice()
            .chunks_exact(self.btt.sector_size() as usize)
            .enumerate()
        {
            if let Some(m) = meta.as_deref_mut() {
                bio.integrity_take(m)?;
            }
            self.btt
                .write(&mut lane, first + i as u64, chunk, meta.as_deref())
                .map_err(to_kernel)?;
        }
        Ok(())
    }
}

fn seg_sector(lba: u64, ss: usize) -> u64 {
    lba * (ss as u64 >> 9)
}
