// SPDX-License-Identifier: GPL-2.0
//! [`NsMedia`]: the namespace bytes that hold a BTT, as the core's [`Media`].

use core::ptr::NonNull;

use kernel::ffi::c_ulong;

use crate::btt_core::error::Error as CoreError;
use crate::btt_core::media::Media;
use crate::kernel_ext::{
    bindings as nd,
    glue, //
};

/// The BTT's part of a namespace: `size` bytes from `nd_btt->initial_offset`.
///
/// Reads and writes go through the namespace's `rw_bytes` (C:
/// `arena_read_bytes()`/`arena_write_bytes()` -> `nvdimm_read_bytes()`/
/// `nvdimm_write_bytes()`); for pmem that is `nsio_rw_bytes()`, whose writes end in
/// `nvdimm_flush()` and are durable on return.
///
/// Flags: reads pass `NVDIMM_IO_ATOMIC` as the C I/O path does (reads ignore
/// it). Writes pass 0 (process context): every core write runs where sleeping is
/// allowed (under lane and map mutexes, never a spinlock), so a 512-byte-aligned
/// write over a poisoned range may clear the poison, which C only does from
/// `arena_clear_freelist_error()` because its I/O path used to run under
/// spinlocks. Hence [`Media::is_poisoned`] (C `btt_is_badblock()`) keeps its
/// default: the data write clears what C zeroes first. Where the block is not
/// 512-byte aligned (internal lbasize 576) neither can clear it, and the write
/// fails with EIO in both drivers.
pub(crate) struct NsMedia {
    ndns: NonNull<nd::nd_namespace_common>,
    initial_offset: u64,
    size: u64,
}

// SAFETY: `rw_bytes` may be called from any task, concurrently: the C driver
// calls it from every lane at once. The namespace outlives `NsMedia` (see `new`).
unsafe impl Send for NsMedia {}
// SAFETY: See `Send`; `NsMedia` has no interior mutability of its own.
unsafe impl Sync for NsMedia {}

impl NsMedia {
    /// The `size` bytes of `ndns` starting at `initial_offset`.
    ///
    /// # Safety
    ///
    /// `ndns` must point to an enabled namespace (`devm_namespace_enable()` done)
    /// that stays enabled for the whole life of the returned value, and
    /// `initial_offset + size` must not exceed its capacity.
    pub(crate) unsafe fn new(
        ndns: *mut nd::nd_namespace_common,
        initial_offset: u64,
        size: u64,
    ) -> Option<Self> {
        Some(Self {
            ndns: NonNull::new(ndns)?,
            initial_offset,
            size,
        })
    }

    /// The namespace offset of BTT byte `offset`, if `len` bytes from there fit.
    fn at(&self, offset: u64, len: usize) -> Result<u64, CoreError> {
        let end = offset.checked_add(len as u64).ok_or(CoreError::Invalid)?;
        if end > self.size {
            return Err(CoreError::Invalid);
        }
        Ok(self.initial_offset + offset)
    }
}

impl Media for NsMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), CoreError> {
        let at = self.at(offset, buf.len())?;
        // SAFETY: `ndns` is an enabled namespace (type invariant from `new`), and
        // `buf` is valid for writes of `buf.len()` bytes; the range was checked
        // against the BTT's size, which fits in the namespace.
        let rc = unsafe {
            glue::btt_rs_ns_read(
                self.ndns.as_ptr(),
                at,
                buf.as_mut_ptr().cast(),
                buf.len(),
                nd::NVDIMM_IO_ATOMIC as c_ulong,
            )
        };
        if rc < 0 {
            return Err(CoreError::Io);
        }
        Ok(())
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), CoreError> {
        let at = self.at(offset, buf.len())?;
        // SAFETY: As in `read`; `buf` is valid for reads of `buf.len()` bytes.
        let rc = unsafe {
            glue::btt_rs_ns_write(self.ndns.as_ptr(), at, buf.as_ptr().cast(), buf.len(), 0)
        };
        if rc < 0 {
            return Err(CoreError::Io);
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}
