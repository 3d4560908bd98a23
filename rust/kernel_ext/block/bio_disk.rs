// SPDX-License-Identifier: GPL-2.0
//! [`Disk`]: the bio-based gendisk of one BTT (C: `btt_blk_init()`).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel::bindings;
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;

use crate::kernel_ext::{
    bindings as nd,
    block::bio::Bio,
    glue, //
};

/// The driver's side of a bio-based disk: what it does with a bio (like
/// `kernel::block::mq::Operations` for request-based disks, which rnull
/// implements). The abstraction turns the raw bio into a [`Bio`], finds the
/// driver's state and ends the bio with the driver's result.
///
/// The state is the disk's `private_data` ([`Disk::set_private`]); it is still a
/// raw pointer here, not a `ForeignOwnable` the disk owns (project issue 14,
/// part 2), because the driver's state owns the disk today.
#[vtable]
pub(crate) trait Operations {
    /// Handles one bio of the disk; the bio is ended with the result.
    fn submit_bio(&self, bio: &Bio) -> Result;
}

/// The body of a disk's `submit_bio` (`block_device_operations::submit_bio`)
/// for the driver `T`.
///
/// # Safety
///
/// `bio` must be a live bio, handed over to be ended once, for a disk whose
/// `private_data` points to a `T` that stays alive until the bio is ended (a
/// disk's `private_data` set with [`Disk::set_private`] to a live `T` that
/// outlives the disk's removal, which waits for bios in flight).
pub(crate) unsafe fn submit_bio<T: Operations>(bio: *mut bindings::bio) {
    // SAFETY: `bio` is live and ours to end once (`Bio::end`), by the function's
    // safety requirements.
    let Some(bio) = (unsafe { Bio::from_raw(bio) }) else {
        return;
    };
    // SAFETY: The disk's `private_data` is a live `T` until the bio is ended,
    // by the function's safety requirements; only shared references are made.
    let this = unsafe { &*bio.disk_private().cast::<T>() };
    let result = this.submit_bio(&bio);
    bio.end(result);
}

/// A gendisk whose `submit_bio` is `btt_rs_submit_bio`. Dropping it removes it
/// (`del_gendisk()`, which waits for bios in flight) and releases it (`put_disk()`).
pub(crate) struct Disk {
    raw: NonNull<bindings::gendisk>,
    added: AtomicBool,
}

// SAFETY: A gendisk may be used and released from any task.
unsafe impl Send for Disk {}
// SAFETY: `&Disk` exposes only the pointer and operations the block layer
// serialises itself.
unsafe impl Sync for Disk {}

impl Disk {
    /// Allocates a disk with the C driver's queue limits: logical block size
    /// `sector_size`, unlimited hardware sectors, `BLK_FEAT_SYNCHRONOUS`, and
    /// `meta_size` bytes of integrity metadata per sector when not zero.
    pub(crate) fn new(sector_size: u32, meta_size: u32) -> Result<Self> {
        // SAFETY: Plain allocation; the private data is set before the disk is added.
        let raw = from_err_ptr(unsafe {
            glue::btt_rs_alloc_disk(sector_size, meta_size, core::ptr::null_mut())
        })?;
        Ok(Self {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
            added: AtomicBool::new(false),
        })
    }

    /// Sets the `private_data` that bios submitted to the disk carry (see
    /// [`crate::kernel_ext::block::bio::Bio::disk_private`]). `&mut self`: only before [`Disk::add`].
    pub(crate) fn set_private(&mut self, private_data: *mut kernel::ffi::c_void) {
        // SAFETY: `raw` is a live gendisk that is not yet added, so nobody reads
        // `private_data` concurrently.
        unsafe { (*self.raw.as_ptr()).private_data = private_data };
    }

    /// Names the disk after the namespace, "pmem<region>[.<ns>]s" (C:
    /// `nvdimm_namespace_disk_name()`, the "s" because a BTT claims it).
    ///
    /// # Safety
    ///
    /// `ndns` must point to a live namespace.
    pub(crate) unsafe fn set_name(&mut self, ndns: *mut nd::nd_namespace_common) -> Result {
        // SAFETY: `disk_name` is `DISK_NAME_LEN` (32) bytes, which the longest
        // name ("pmem" + two ints + ".s") fits; `ndns` is live (caller).
        let name = unsafe {
            nd::nvdimm_namespace_disk_name(ndns, (*self.raw.as_ptr()).disk_name.as_mut_ptr())
        };
        if name.is_null() {
            return Err(ENXIO);
        }
        Ok(())
    }

    /// The `struct gendisk`, for C code that is given it (the C view of
    /// `struct btt`, [`crate::c_btt::CBtt`]).
    pub(crate) fn as_raw(&self) -> *mut bindings::gendisk {
        self.raw.as_ptr()
    }

    /// Sets the capacity in 512-byte sectors.
    pub(crate) fn set_capacity(&mut self, sectors: u64) {
        // SAFETY: `raw` is a live gendisk.
        unsafe { bindings::set_capacity(self.raw.as_ptr(), sectors) };
    }

    /// Registers the disk under `parent` (`device_add_disk()`), making it visible.
    ///
    /// # Safety
    ///
    /// `parent` must point to a live device that outlives the disk's registration.
    pub(crate) unsafe fn add(&self, parent: *mut bindings::device) -> Result {
        if self.added.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: `raw` is a live, not yet added gendisk; `parent` is live (caller).
        let rc =
            unsafe { bindings::device_add_disk(parent, self.raw.as_ptr(), core::ptr::null_mut()) };
        if rc != 0 {
            self.added.store(false, Ordering::Release);
        }
        to_result(rc)
    }

    /// Makes the disk read-only if its region is (C: `nvdimm_check_and_set_ro()`).
    pub(crate) fn check_and_set_ro(&self) {
        // SAFETY: `raw` is a live gendisk of an nvdimm namespace.
        unsafe { nd::nvdimm_check_and_set_ro(self.raw.as_ptr()) };
    }

    /// Forces the disk read-only (the BTT said so, e.g. an arena error flag).
    pub(crate) fn set_read_only(&self) {
        // SAFETY: `raw` is a live gendisk.
        unsafe { bindings::set_disk_ro(self.raw.as_ptr(), true) };
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if *self.added.get_mut() {
            // SAFETY: The disk was added and is removed once; `del_gendisk()`
            // returns after every bio in flight has completed.
            unsafe { bindings::del_gendisk(self.raw.as_ptr()) };
        }
        // SAFETY: Drops the reference `blk_alloc_disk()` gave us.
        unsafe { bindings::put_disk(self.raw.as_ptr()) };
    }
}
