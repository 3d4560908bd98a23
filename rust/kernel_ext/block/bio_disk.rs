// SPDX-License-Identifier: GPL-2.0
//! [`GenDisk`]: a bio-based gendisk whose bios go to a driver's [`Operations`].
//!
//! The bio-based counterpart of `kernel::block::mq::gen_disk` (which only
//! makes blk-mq disks): a [`GenDiskBuilder`] sets the queue limits, allocates
//! the disk (`blk_alloc_disk()`), hands it the driver's queue data as a
//! [`ForeignOwnable`] and adds it. The disk owns the queue data and drops it
//! only after `del_gendisk()` has returned, when no bio can still use it.
//!
//! C headers: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h),
//! [`include/linux/hdreg.h`](srctree/include/linux/hdreg.h).

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::device::Device;
use kernel::error::{
    from_err_ptr,
    to_result, //
};
use kernel::fmt::{
    self,
    Write, //
};
use kernel::module::ModuleMetadata;
use kernel::prelude::*;
use kernel::static_lock_class;
use kernel::str::NullTerminatedFormatter;
use kernel::sync::aref::ARef;
use kernel::types::{
    ForeignOwnable,
    ScopeGuard, //
};

use crate::kernel_ext::{
    bindings as nd,
    block::bio::Bio, //
};

/// The CHS geometry a disk reports (`HDIO_GETGEO`, C `struct hd_geometry`).
pub(crate) struct Geometry {
    /// Heads.
    pub(crate) heads: u8,
    /// Sectors per track.
    pub(crate) sectors: u8,
    /// Cylinders (truncated to 16 bits, as C does).
    pub(crate) cylinders: u16,
}

/// What a driver does with the bios of its disk (as
/// `kernel::block::mq::Operations` is for requests).
#[vtable]
pub(crate) trait Operations: Sized {
    /// The driver's state that every bio of the disk uses. The disk owns it
    /// from [`GenDiskBuilder::build`] until the disk is dropped, and drops it
    /// after `del_gendisk()`, which waits for the bios in flight.
    type QueueData: ForeignOwnable + Send + Sync;

    /// Handles one bio; the abstraction ends it with the result.
    fn submit_bio(
        queue_data: <Self::QueueData as ForeignOwnable>::Borrowed<'_>,
        bio: &Bio,
    ) -> Result;

    /// The geometry to report for a disk of `capacity_sectors` 512-byte
    /// sectors. Called without the queue data: an open block device may ask
    /// after the disk was removed.
    fn geometry(_capacity_sectors: u64) -> Geometry {
        build_error!(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// The `block_device_operations` of the disks of driver `T` in module `M`.
struct OperationsVTable<T, M>(PhantomData<(T, M)>);

impl<T: Operations, M: ModuleMetadata> OperationsVTable<T, M> {
    /// `owner` holds the module while a disk of it is open, as C's
    /// `.owner = THIS_MODULE` does.
    const TABLE: bindings::block_device_operations = bindings::block_device_operations {
        owner: kernel::module::this_module::<M>().as_ptr(),
        submit_bio: Some(Self::submit_bio_callback),
        getgeo: if T::HAS_GEOMETRY {
            Some(Self::getgeo_callback)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// # Safety
    ///
    /// Called only by the block layer as the `submit_bio` of a disk built by
    /// [`GenDiskBuilder::build`] for `T`: `bio` is a live bio of that disk,
    /// handed over to be ended once.
    unsafe extern "C" fn submit_bio_callback(bio: *mut bindings::bio) {
        // SAFETY: `bio` is live and ours to end once (`Bio::end`), by the
        // function's safety requirements.
        let Some(bio) = (unsafe { Bio::from_raw(bio) }) else {
            return;
        };
        let result = {
            // SAFETY: `private_data` came from `into_foreign()` in `build`; `GenDisk::drop` takes
            // it back only after `del_gendisk()`, which waits for this bio; the borrow ends in
            // this block, before the bio is ended.
            let queue_data = unsafe { T::QueueData::borrow(bio.disk_private()) };
            T::submit_bio(queue_data, &bio)
        };
        bio.end(result);
    }

    /// # Safety
    ///
    /// Called only by the block layer as the `getgeo` of a disk built by
    /// [`GenDiskBuilder::build`] for `T`, with both pointers valid.
    unsafe extern "C" fn getgeo_callback(
        disk: *mut bindings::gendisk,
        geo: *mut bindings::hd_geometry,
    ) -> kernel::ffi::c_int {
        // SAFETY: `disk` is a live gendisk (function's safety requirements);
        // this is the static inline `get_capacity()`.
        let capacity = unsafe { (*(*disk).part0).bd_nr_sectors };
        let g = T::geometry(capacity);
        // `struct hd_geometry` is opaque in `kernel::bindings` (no hdreg.h).
        let geo = geo.cast::<nd::hd_geometry>();
        // SAFETY: `geo` is valid for writes (function's safety requirements).
        unsafe {
            (*geo).heads = g.heads;
            (*geo).sectors = g.sectors;
            (*geo).cylinders = g.cylinders;
        }
        0
    }
}

/// Builds a [`GenDisk`]: queue limits, capacity, name, then the disk is added.
pub(crate) struct GenDiskBuilder {
    logical_block_size: u32,
    max_hw_sectors: u32,
    max_zeroes_sectors: u32,
    metadata_size: u32,
    capacity_sectors: u64,
    synchronous: bool,
    read_only: bool,
}

impl Default for GenDiskBuilder {
    fn default() -> Self {
        Self {
            logical_block_size: 512,
            max_hw_sectors: 0,
            max_zeroes_sectors: 0,
            metadata_size: 0,
            capacity_sectors: 0,
            synchronous: false,
            read_only: false,
        }
    }
}

impl GenDiskBuilder {
    /// A builder with 512-byte logical blocks and the block layer's defaults.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The logical block size: a power of two from 512 to `PAGE_SIZE`, as
    /// blk-mq disks check it.
    pub(crate) fn logical_block_size(mut self, size: u32) -> Result<Self> {
        kernel::block::mq::gen_disk::GenDiskBuilder::validate_block_size(size)?;
        self.logical_block_size = size;
        Ok(self)
    }

    /// The largest bio the driver takes, in 512-byte sectors (0: the block
    /// layer's default; `u32::MAX`: no limit of its own).
    pub(crate) fn max_hw_sectors(mut self, sectors: u32) -> Self {
        self.max_hw_sectors = sectors;
        self
    }

    /// The largest discard and write-zeroes bio the driver takes, in 512-byte
    /// sectors (0, the default: neither is supported). Both are served by
    /// zeroing that writes no data (C drivers: `max_hw_discard_sectors`,
    /// `max_write_zeroes_sectors`, and `max_hw_wzeroes_unmap_sectors`, which
    /// the block layer wants equal to the latter); the discard granularity is
    /// the logical block size.
    pub(crate) fn max_zeroes_sectors(mut self, sectors: u32) -> Self {
        self.max_zeroes_sectors = sectors;
        self
    }

    /// Bytes of integrity metadata per logical block (0: none). Ignored
    /// without `CONFIG_BLK_DEV_INTEGRITY`, as C drivers do.
    pub(crate) fn metadata_size(mut self, size: u32) -> Self {
        self.metadata_size = size;
        self
    }

    /// The capacity in 512-byte sectors.
    pub(crate) fn capacity_sectors(mut self, sectors: u64) -> Self {
        self.capacity_sectors = sectors;
        self
    }

    /// Bios complete before `submit_bio` returns (`BLK_FEAT_SYNCHRONOUS`).
    pub(crate) fn synchronous(mut self, synchronous: bool) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Whether the disk is read-only from the moment it is added.
    pub(crate) fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Allocates the disk, gives it `queue_data` and adds it under `parent`
    /// with the name `name`; its bios go to `T`, and module `M` is held while
    /// it is open. On failure `queue_data` is dropped and nothing is left.
    pub(crate) fn build<T: Operations, M: ModuleMetadata>(
        self,
        name: fmt::Arguments<'_>,
        parent: &Device,
        queue_data: T::QueueData,
    ) -> Result<GenDisk<T>> {
        let data = queue_data.into_foreign();
        let recover_data = ScopeGuard::new(|| {
            // SAFETY: `data` came from `into_foreign()` above and the disk
            // never got it.
            drop(unsafe { T::QueueData::from_foreign(data) });
        });

        let mut lim: bindings::queue_limits = pin_init::zeroed();
        lim.logical_block_size = self.logical_block_size;
        lim.max_hw_sectors = self.max_hw_sectors;
        if self.max_zeroes_sectors != 0 {
            lim.max_hw_discard_sectors = self.max_zeroes_sectors;
            lim.max_discard_segments = 1;
            lim.discard_granularity = self.logical_block_size;
            lim.max_write_zeroes_sectors = self.max_zeroes_sectors;
            lim.max_hw_wzeroes_unmap_sectors = self.max_zeroes_sectors;
        }
        if self.synchronous {
            lim.features |= nd::BLK_FEAT_SYNCHRONOUS;
        }
        if self.metadata_size != 0 && cfg!(CONFIG_BLK_DEV_INTEGRITY) {
            // One integrity segment per bio, metadata opaque to the block
            // layer (no protection-information format of its own).
            lim.max_integrity_segments = 1;
            lim.integrity.metadata_size = self.metadata_size.try_into().map_err(|_| EINVAL)?;
            lim.integrity.tag_size = lim.integrity.metadata_size;
        }
        // SAFETY: `lim` is valid for the call; the lock class key is static.
        let gendisk = from_err_ptr(unsafe {
            bindings::__blk_alloc_disk(
                &mut lim,
                bindings::NUMA_NO_NODE,
                static_lock_class!().as_ptr(),
            )
        })?;
        let gendisk = NonNull::new(gendisk).ok_or(ENOMEM)?;
        recover_data.dismiss();
        let cleanup = ScopeGuard::new(|| {
            // SAFETY: `gendisk` was allocated above and not added; `data` came
            // from `into_foreign()` and was not converted back.
            unsafe { bindings::put_disk(gendisk.as_ptr()) };
            // SAFETY: As above.
            drop(unsafe { T::QueueData::from_foreign(data) });
        });

        // SAFETY: The disk is allocated and not added yet, so nothing else
        // uses it; the table is a constant ('static) for `T` and `M`.
        let disk = unsafe { &mut *gendisk.as_ptr() };
        // A promoted constant: the table outlives every disk that points to it
        // (the block layer reads it until the last reference to the disk goes).
        let fops: &'static bindings::block_device_operations = &OperationsVTable::<T, M>::TABLE;
        disk.fops = fops;
        disk.private_data = data;
        NullTerminatedFormatter::new(&mut disk.disk_name)
            .ok_or(EINVAL)?
            .write_fmt(name)?;
        // SAFETY: `gendisk` is a live disk.
        unsafe { bindings::set_capacity(gendisk.as_ptr(), self.capacity_sectors) };
        if self.read_only {
            // SAFETY: `gendisk` is a live disk.
            unsafe { bindings::set_disk_ro(gendisk.as_ptr(), true) };
        }
        // `Device` is a transparent wrapper of `struct device`.
        let parent_raw = core::ptr::from_ref(parent)
            .cast_mut()
            .cast::<bindings::device>();
        // SAFETY: `gendisk` is a live disk, not yet added; `parent_raw` is a
        // live device, which the returned `GenDisk` holds a reference to.
        to_result(unsafe {
            bindings::device_add_disk(parent_raw, gendisk.as_ptr(), core::ptr::null_mut())
        })?;
        cleanup.dismiss();
        // INVARIANT: `gendisk` was added, with `private_data` from
        // `T::QueueData::into_foreign()`.
        Ok(GenDisk {
            gendisk,
            parent: parent.into(),
            _queue_data: PhantomData,
        })
    }
}

/// An added bio-based gendisk whose bios go to `T`. Dropping it removes it
/// (`del_gendisk()`, which waits for bios in flight), releases it
/// (`put_disk()`) and then drops its queue data.
///
/// # Invariants
///
/// `gendisk` is a live disk added by [`GenDiskBuilder::build`] for `T`, whose
/// `private_data` came from `T::QueueData::into_foreign()`.
pub(crate) struct GenDisk<T: Operations> {
    gendisk: NonNull<bindings::gendisk>,
    parent: ARef<Device>,
    _queue_data: PhantomData<T::QueueData>,
}

// SAFETY: A gendisk may be removed and released from any task; the queue data
// it owns is `Send` (`Operations::QueueData`).
unsafe impl<T: Operations> Send for GenDisk<T> {}
// SAFETY: `&GenDisk` only reads the pointer and calls functions that the block
// layer serialises itself; the queue data is `Sync`.
unsafe impl<T: Operations> Sync for GenDisk<T> {}

impl<T: Operations> GenDisk<T> {
    /// The `struct gendisk`, for C code that is given it.
    pub(crate) fn as_raw(&self) -> *mut bindings::gendisk {
        self.gendisk.as_ptr()
    }

    /// The device the disk was added under.
    pub(crate) fn parent(&self) -> &Device {
        &self.parent
    }
}

impl<T: Operations> Drop for GenDisk<T> {
    fn drop(&mut self) {
        let disk = self.gendisk.as_ptr();
        // SAFETY: `disk` is live (type invariant).
        let data = unsafe { (*disk).private_data };
        // SAFETY: `disk` was added and is removed once; `del_gendisk()`
        // returns after every bio in flight has completed.
        unsafe { bindings::del_gendisk(disk) };
        // SAFETY: Drops the reference `__blk_alloc_disk()` gave us.
        unsafe { bindings::put_disk(disk) };
        // SAFETY: `data` came from `into_foreign()` (type invariant) and no
        // bio can borrow it any more (`del_gendisk()` returned).
        drop(unsafe { T::QueueData::from_foreign(data) });
    }
}
