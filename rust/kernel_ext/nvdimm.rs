// SPDX-License-Identifier: GPL-2.0
//! libnvdimm objects a BTT driver uses: the BTT device ([`BttDevice`], C
//! `struct nd_btt`), the namespace it claims ([`Namespace`], C
//! `struct nd_namespace_common`) and its region ([`Region`], C
//! `struct nd_region`), with the namespace's byte I/O ([`NamespaceIo`]).
//!
//! Each type wraps the C object in [`Opaque`] and is only ever reached by
//! reference, so the borrow checker ties every use to a live C object; the
//! constructors from raw pointers are `unsafe` and used at the C entry points.
//!
//! C headers: [`include/linux/nd.h`](srctree/include/linux/nd.h),
//! [`drivers/nvdimm/nd.h`](srctree/drivers/nvdimm/nd.h).

use core::ptr::NonNull;

use kernel::bindings;
use kernel::device::Device;
use kernel::error::to_result;
use kernel::ffi::{
    c_int,
    c_ulong, //
};
use kernel::prelude::*;
use kernel::types::{
    ForeignOwnable,
    Opaque, //
};

use crate::kernel_ext::{
    bindings as nd,
    block::bio_disk::{
        GenDisk,
        Operations, //
    },
    glue,
    raw_buf::{
        RawBuf,
        RawBufMut, //
    }, //
};

/// A region (C `struct nd_region`): the lanes and the read-only state its
/// namespaces share.
#[repr(transparent)]
pub(crate) struct Region(Opaque<nd::nd_region>);

impl Region {
    /// Number of lanes (`nd_region->num_lanes`; 256 on pmem), at least 1.
    pub(crate) fn num_lanes(&self) -> Result<usize> {
        // SAFETY: `self` is a live region (type invariant of the reference);
        // `num_lanes` is set at creation and never changes.
        let n = unsafe { (*self.0.get()).num_lanes };
        usize::try_from(n).ok().filter(|&n| n > 0).ok_or(EINVAL)
    }

    /// Whether the region is read-only (`nd_region->ro`, its `read_only`
    /// attribute) right now.
    pub(crate) fn read_only(&self) -> bool {
        // SAFETY: `self` is a live region; `ro` is an int that sysfs writes
        // may change, read once here as C reads it.
        unsafe { core::ptr::read_volatile(&raw const (*self.0.get()).ro) != 0 }
    }

    /// The region as C sees it, for C fields that point to it.
    pub(crate) fn as_raw(&self) -> *mut nd::nd_region {
        self.0.get()
    }
}

/// A namespace (C `struct nd_namespace_common`) as its driver sees it.
#[repr(transparent)]
pub(crate) struct Namespace(Opaque<nd::nd_namespace_common>);

impl Namespace {
    /// # Safety
    ///
    /// `ptr` must point to a namespace that stays live for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut nd::nd_namespace_common) -> &'a Self {
        // SAFETY: `Namespace` is a transparent wrapper; `ptr` is live for
        // `'a` (caller).
        unsafe { &*ptr.cast() }
    }

    /// The BTT device claiming the namespace, if a BTT device claims it.
    ///
    /// # Safety
    ///
    /// Called during the probe of the device claiming `self` (nd_pmem probing
    /// the BTT device), and the result not used after that probe returns.
    ///
    /// `claim` is written by `__nd_attach_ndns()` and `__nd_detach_ndns()`
    /// under the bus's `reconfig_mutex`; while the claiming device is probed
    /// its `dev.driver` is set, so `nd_namespace_store()` refuses to change
    /// the claim (EBUSY): it is stable for the probe. The claimant holds a
    /// reference on the namespace, not the other way round; its probe keeps
    /// it alive.
    pub(crate) unsafe fn btt_claim(&self) -> Option<&BttDevice> {
        // SAFETY: `self` is live; `claim` is stable during the claimant's
        // probe (caller; see `# Safety`).
        let claim = unsafe { (*self.0.get()).claim };
        // SAFETY: `claim`, when not null, is the device being probed (caller),
        // alive for the probe; `is_nd_btt()` only compares its type.
        if claim.is_null() || !unsafe { nd::is_nd_btt(claim) } {
            return None;
        }
        // SAFETY: `claim` is the `dev` of a `struct nd_btt` (checked), which
        // its probe keeps alive while the caller uses the result (caller).
        Some(unsafe { BttDevice::from_raw(nd::to_nd_btt(claim)) })
    }

    /// The name a block device on this namespace gets, "pmem<region>[.<n>]",
    /// with an "s" when a BTT claims it (C `nvdimm_namespace_disk_name()`).
    pub(crate) fn disk_name(&self) -> Result<DiskName> {
        let mut name = DiskName([0; DISK_NAME_LEN]);
        // SAFETY: `self` is live; the buffer has `DISK_NAME_LEN` bytes, which
        // the longest name C makes ("pmem" + two ints + "s") fits.
        let p = unsafe { nd::nvdimm_namespace_disk_name(self.0.get(), name.0.as_mut_ptr().cast()) };
        if p.is_null() {
            return Err(ENXIO);
        }
        Ok(name)
    }

    fn as_raw(&self) -> *mut nd::nd_namespace_common {
        self.0.get()
    }
}

/// `DISK_NAME_LEN` of `include/linux/blkdev.h`.
const DISK_NAME_LEN: usize = 32;

/// A disk name, NUL-terminated in `DISK_NAME_LEN` bytes.
pub(crate) struct DiskName([u8; DISK_NAME_LEN]);

impl DiskName {
    /// The name, without its NUL.
    pub(crate) fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(DISK_NAME_LEN);
        core::str::from_utf8(&self.0[..len]).unwrap_or("pmem?s")
    }
}

/// What a BTT device was configured with (sysfs or an info block found by
/// libnvdimm's probe), read when its namespace is enabled.
pub(crate) struct BttConfig {
    /// External sector size plus metadata (`nd_btt->lbasize`).
    pub(crate) lbasize: u32,
    /// Info block version to create (`nd_btt->version_major`/`_minor`).
    pub(crate) version: (u16, u16),
    /// The BTT's uuid (`nd_btt->uuid`).
    pub(crate) uuid: [u8; 16],
    /// Its namespace's uuid (the info block's parent uuid).
    pub(crate) parent_uuid: [u8; 16],
}

/// A BTT device (C `struct nd_btt`): the device that claims a namespace for a
/// BTT, whose driver is nd_pmem.
#[repr(transparent)]
pub(crate) struct BttDevice(Opaque<nd::nd_btt>);

impl BttDevice {
    /// # Safety
    ///
    /// `ptr` must point to a BTT device that stays live for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut nd::nd_btt) -> &'a Self {
        // SAFETY: `BttDevice` is a transparent wrapper; `ptr` is live for
        // `'a` (caller).
        unsafe { &*ptr.cast() }
    }

    /// The device (`nd_btt->dev`).
    pub(crate) fn as_device(&self) -> &Device {
        // SAFETY: `dev` is the embedded, registered device of a live BTT device.
        unsafe { Device::from_raw(&raw mut (*self.0.get()).dev) }
    }

    /// Its region (the parent device).
    pub(crate) fn region(&self) -> &Region {
        // SAFETY: `self` is live; a BTT device's parent is its region, which
        // outlives it (`to_nd_region()` is `container_of()` with a check).
        unsafe { &*nd::to_nd_region((*self.0.get()).dev.parent).cast::<Region>() }
    }

    /// Enables `ns` for I/O on behalf of this device and reads the
    /// configuration (C: the part of `nvdimm_namespace_attach_btt()` before
    /// `btt_init()`, including `nd_btt_version()`, which picks the info block
    /// version and initial offset from the claim class).
    ///
    /// Returns the configuration and the namespace's bytes from the initial
    /// offset on. The enabling is devres of this device: it is undone when
    /// the device unbinds.
    ///
    /// # Safety
    ///
    /// `ns` must be the namespace this device claims, and the returned
    /// [`NamespaceIo`] must be dropped before this device unbinds (in the
    /// detach call of the driver that called this in its attach).
    pub(crate) unsafe fn enable(&self, ns: &Namespace) -> Result<(BttConfig, NamespaceIo)> {
        let b = self.0.get();
        // SAFETY: `b` is live; these fields are set by sysfs writes under the
        // device lock, which probe holds.
        let (uuid, ndns, lbasize) = unsafe { ((*b).uuid, (*b).ndns, (*b).lbasize) };
        if uuid.is_null() || ndns.is_null() || lbasize == 0 {
            dev_dbg!(self.as_device(), "incomplete btt configuration\n");
            return Err(ENODEV);
        }
        // SAFETY: `ns` is live.
        let size = unsafe { nd::nvdimm_namespace_capacity(ns.as_raw()) };
        // SAFETY: Both are live; the enabling is undone by devres of `b`.
        to_result(unsafe { nd::devm_namespace_enable(&raw mut (*b).dev, ns.as_raw(), size) })?;
        // `nd_btt_version()` fills `initial_offset` and `version_*` from the
        // claim class; its return value only says whether a valid info block is
        // already there, and the buffer is scratch space for reading it.
        let mut scratch =
            KBox::<core::mem::MaybeUninit<nd::btt_sb>>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
        // SAFETY: `b` and `ns` are live; `scratch` is a zeroed `struct btt_sb`.
        unsafe { nd::nd_btt_version(b, ns.as_raw(), scratch.as_mut_ptr().cast()) };
        // SAFETY: `uuid` and `ndns` are live (checked non-null above; they live
        // as long as the configured device); `uuid_t` is 16 bytes.
        let (uuid, parent_uuid) =
            unsafe { ((*uuid).b, (*nd::nd_dev_to_uuid(&raw mut (*ndns).dev)).b) };
        // SAFETY: `b` is live; `nd_btt_version()` just set these.
        let (initial_offset, version) = unsafe {
            (
                (*b).initial_offset,
                ((*b).version_major, (*b).version_minor),
            )
        };
        let initial_offset = u64::try_from(initial_offset).map_err(|_| EINVAL)?;
        let io_size = size.checked_sub(initial_offset).ok_or(ENXIO)?;
        let cfg = BttConfig {
            lbasize: u32::try_from(lbasize).map_err(|_| EINVAL)?,
            version,
            uuid,
            parent_uuid,
        };
        let io = NamespaceIo {
            ns: NonNull::from(ns).cast(),
            offset: initial_offset,
            size: io_size,
        };
        Ok((cfg, io))
    }

    /// The BTT device as C sees it, for C fields that point to it.
    pub(crate) fn as_raw(&self) -> *mut nd::nd_btt {
        self.0.get()
    }

    /// Sets the size the device reports in sysfs (`nd_btt->size`), in bytes.
    pub(crate) fn set_size(&self, bytes: u64) {
        // SAFETY: `self` is live; `size` is only read by sysfs `size_show()`
        // under the device lock, which attach (probe) holds.
        unsafe { (*self.0.get()).size = bytes };
    }

    /// Makes `disk` follow the region's read-only state (C
    /// `nvdimm_check_and_set_ro()`). Does nothing unless `disk` was added
    /// under this device.
    pub(crate) fn check_and_set_ro<T: Operations>(&self, disk: &GenDisk<T>) {
        if !core::ptr::eq(disk.parent(), self.as_device()) {
            return;
        }
        // SAFETY: `disk` is live and its parent is this BTT device, whose
        // parent is a region, as `nvdimm_check_and_set_ro()` expects.
        unsafe { nd::nvdimm_check_and_set_ro(disk.as_raw()) };
    }

    /// Stores the driver's BTT in `nd_btt->btt`, where C code reads it as a
    /// `struct btt` (see [`CBttHead`]).
    pub(crate) fn set_btt<T: CBttHead>(&self, btt: Pin<KBox<T>>) {
        let p = btt.into_foreign();
        // SAFETY: `self` is live; `btt` is the driver's to set, read by C under
        // the device lock that attach (probe) holds.
        unsafe { (*self.0.get()).btt = p.cast() };
    }

    /// Takes back what [`BttDevice::set_btt`] stored, leaving `nd_btt->btt`
    /// null.
    ///
    /// # Safety
    ///
    /// `nd_btt->btt` must be null or have been set by `set_btt::<T>` with this
    /// very `T`.
    pub(crate) unsafe fn take_btt<T: CBttHead>(&self) -> Option<Pin<KBox<T>>> {
        // SAFETY: `self` is live; detach holds the device lock.
        let p = unsafe { core::mem::replace(&mut (*self.0.get()).btt, core::ptr::null_mut()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `into_foreign()` of a `Pin<KBox<T>>` (caller)
        // and is converted back once (the field was cleared above).
        Some(unsafe { <Pin<KBox<T>> as ForeignOwnable>::from_foreign(p.cast()) })
    }
}

/// A type whose address C code may read as a `struct btt` (C readers of
/// `nd_btt->btt`, such as nd_pmem's `pmem_revalidate_region()`).
///
/// # Safety
///
/// The type must be `#[repr(C)]` and start with a `struct btt` (`nd::btt`)
/// that is initialised, for C readers, for as long as a value is stored with
/// [`BttDevice::set_btt`].
pub(crate) unsafe trait CBttHead: Send + Sync + 'static {}

/// The bytes of an enabled namespace from a BTT's initial offset on: the media
/// of a BTT (C `arena_read_bytes()`/`arena_write_bytes()`).
///
/// Reads and writes go through the namespace's `rw_bytes` (`nvdimm_read_bytes()`,
/// `nvdimm_write_bytes()`); for pmem that is `nsio_rw_bytes()`, whose writes end
/// in `nvdimm_flush()` and are durable on return. [`NamespaceIo::write_unfenced`]
/// and [`NamespaceIo::flush`] are its two halves, for callers that let several
/// writes share one flush.
///
/// # Invariants
///
/// `ns` is a namespace enabled for I/O (`devm_namespace_enable()`) for the
/// whole life of the value, with at least `offset + size` bytes, and is the
/// `common` member of an `nd_namespace_io` (in 7.3 every namespace is one, or
/// embeds one first: `devm_namespace_enable()` relies on it too).
pub(crate) struct NamespaceIo {
    ns: NonNull<nd::nd_namespace_common>,
    offset: u64,
    size: u64,
}

// SAFETY: `rw_bytes` may be called from any task, concurrently (the C driver
// calls it from every lane at once).
unsafe impl Send for NamespaceIo {}
// SAFETY: See `Send`; the value itself is never written after creation.
unsafe impl Sync for NamespaceIo {}

/// Flags for [`NamespaceIo::read`] and [`NamespaceIo::write`].
#[derive(Clone, Copy)]
pub(crate) enum IoContext {
    /// May sleep: a write over poisoned blocks may clear the poison.
    Process,
    /// Must not sleep (`NVDIMM_IO_ATOMIC`).
    Atomic,
}

impl IoContext {
    fn flags(self) -> c_ulong {
        match self {
            IoContext::Process => 0,
            IoContext::Atomic => nd::NVDIMM_IO_ATOMIC as c_ulong,
        }
    }
}

impl NamespaceIo {
    /// Bytes from the initial offset to the end of the namespace.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The namespace offset of byte `offset`, if `len` bytes from there fit
    /// (else `ERANGE`, which `rw_bytes` never returns).
    fn at(&self, offset: u64, len: usize) -> Result<u64> {
        let end = offset.checked_add(len as u64).ok_or(ERANGE)?;
        if end > self.size {
            return Err(ERANGE);
        }
        Ok(self.offset + offset)
    }

    /// Reads `buf.len()` bytes at `offset` into `buf` (C
    /// `nvdimm_read_bytes()`). A range beyond [`NamespaceIo::size`] is refused
    /// with `ERANGE`. `buf` is a slice or a mapped page (`.into()`).
    pub(crate) fn read(&self, offset: u64, mut buf: RawBufMut<'_>, ctx: IoContext) -> Result {
        let at = self.at(offset, buf.len())?;
        // SAFETY: `buf` is valid for writes of its length (its invariant).
        unsafe { self.rw_bytes(at, buf.as_mut_ptr(), buf.len(), bindings::READ, ctx) }
    }

    /// Writes `buf` at `offset` (C `nvdimm_write_bytes()`); durable on return.
    pub(crate) fn write(&self, offset: u64, buf: RawBuf<'_>, ctx: IoContext) -> Result {
        let at = self.at(offset, buf.len())?;
        // SAFETY: `buf` is valid for reads of its length (its invariant), and
        // `rw_bytes` only reads it for a write (`nvdimm_write_bytes()` casts
        // away the `const` the same way).
        unsafe { self.rw_bytes(at, buf.as_ptr().cast_mut(), buf.len(), bindings::WRITE, ctx) }
    }

    /// Writes `buf` at `offset` without making it durable: the copy of
    /// `nsio_rw_bytes()` (`memcpy_flushcache()` into the namespace's
    /// mapping) without its `nvdimm_flush()`. The bytes are durable after the
    /// next [`NamespaceIo::flush`] of the same task, or any later write made
    /// with [`NamespaceIo::write`].
    ///
    /// A range with known poison goes through [`NamespaceIo::write`] instead,
    /// which clears what it can (in [`IoContext::Process`]) and is durable on
    /// return: stronger than asked, and the same bytes on the media.
    pub(crate) fn write_unfenced(&self, offset: u64, buf: RawBuf<'_>, ctx: IoContext) -> Result {
        let at = self.at(offset, buf.len())?;
        let nsio = self.nsio();
        // SAFETY: The namespace is enabled (type invariant), so its
        // `nd_namespace_io` is initialised and `size` stays as
        // `devm_nsio_enable()` set it until it is disabled.
        let size = unsafe { (*nsio).size };
        if at
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > size)
        {
            return Err(ERANGE);
        }
        let (src, len) = (buf.as_ptr().cast(), buf.len());
        // Other writers of the range are excluded by the BTT's lanes and map
        // locks, as for `rw_bytes`.
        // SAFETY: `nsio` is enabled: `addr` maps its `size` bytes, `bb` is set up; `[at, at +
        // len)` lies within them (checked above); `buf` is valid for reads of `len` bytes.
        let copied = unsafe { glue::btt_rs_nsio_write_unfenced(nsio, at, src, len) };
        if !copied {
            return self.write(offset, buf, ctx);
        }
        Ok(())
    }

    /// Makes every write this task made to the namespace durable (C
    /// `nvdimm_flush()`: on pmem a store fence and the region's flush hints,
    /// on virtio-pmem a flush request that waits for the host). May sleep.
    pub(crate) fn flush(&self) -> Result {
        let ns = self.ns.as_ptr();
        // SAFETY: `ns` is enabled (type invariant); its parent is its region,
        // which outlives it.
        let region = unsafe { nd::to_nd_region((*ns).dev.parent) };
        // SAFETY: `region` is live; a null bio asks for a synchronous flush.
        to_result(unsafe { nd::nvdimm_flush(region, core::ptr::null_mut()) })
    }

    /// The `nd_namespace_io` around the namespace (C `to_nd_namespace_io()`):
    /// in 7.3 every namespace a BTT claims is one, as `devm_namespace_enable()`
    /// assumes.
    fn nsio(&self) -> *mut nd::nd_namespace_io {
        // SAFETY: `ns` is the `common` member of an `nd_namespace_io` (see
        // above), so the containing struct is live as long as `ns` is.
        unsafe { kernel::container_of!(self.ns.as_ptr(), nd::nd_namespace_io, common) }
    }

    /// `ndns->rw_bytes()`, which the static inline `nvdimm_read_bytes()` and
    /// `nvdimm_write_bytes()` call.
    ///
    /// # Safety
    ///
    /// `buf` must be valid for `len` bytes of writes (`READ`) or reads
    /// (`WRITE`), and `at + len` within the enabled namespace.
    unsafe fn rw_bytes(
        &self,
        at: u64,
        buf: *mut u8,
        len: usize,
        rw: u32,
        ctx: IoContext,
    ) -> Result {
        let ns = self.ns.as_ptr();
        // SAFETY: `ns` is enabled (type invariant), so its `rw_bytes` is set
        // and may be called from any task.
        let rw_bytes = unsafe { (*ns).rw_bytes }.ok_or(ENXIO)?;
        let rw = c_int::try_from(rw).map_err(|_| EINVAL)?;
        // SAFETY: `ns` is enabled; `buf` and the range are valid (caller).
        to_result(unsafe { rw_bytes(ns, at, buf.cast(), len, rw, ctx.flags()) })
    }
}
