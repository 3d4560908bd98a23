// SPDX-License-Identifier: GPL-2.0
//! [`NsMedia`]: the namespace bytes that hold a BTT, as the core's [`Media`],
//! and the copies between them and a bio's mapped pages ([`DataMedia`]).

use crate::btt_core::data::{
    DataBuf,
    DataMedia, //
};
use crate::btt_core::error::Error as CoreError;
use crate::btt_core::media::Media;
use crate::kernel_ext::block::bio::Mapping;
use crate::kernel_ext::nvdimm::{
    IoContext,
    NamespaceIo, //
};

/// The BTT's part of a namespace: its bytes from `nd_btt->initial_offset` on.
///
/// Reads and durable writes go through the namespace's `rw_bytes` (C:
/// `arena_read_bytes()`/`arena_write_bytes()` -> `nvdimm_read_bytes()`/
/// `nvdimm_write_bytes()`); for pmem that is `nsio_rw_bytes()`, whose writes end in
/// `nvdimm_flush()` and are durable on return.
///
/// The persistence model's two calls map onto the halves of
/// `nsio_rw_bytes()`: [`Media::write_unfenced`] is its `memcpy_flushcache()`
/// alone and [`Media::flush`] is `nvdimm_flush()`, so a sector write costs the
/// three flushes the core asks for (data and the flog entry's first half
/// together, the second half, the map entry) instead of one per write. The
/// flush covers the task's earlier copies even if it moved to another CPU in
/// between (it may sleep on the map lock there): on x86 the write-combining
/// buffers that hold the non-temporal stores are drained, and `clwb` is
/// ordered, by a locked instruction, which every task switch executes
/// (the run-queue lock); on arm64 `__switch_to()` issues a `dsb`. On
/// virtio-pmem the flush is a host `fsync` of the whole backing file. See
/// Documentation/btt-rs.rst, "Persistence model".
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
    io: NamespaceIo,
}

impl NsMedia {
    /// The BTT's media: all of `io`.
    pub(crate) fn new(io: NamespaceIo) -> Self {
        Self { io }
    }
}

/// A range outside the BTT (`ERANGE`) is the core's bug, not the media's failure.
fn media_error(e: kernel::error::Error) -> CoreError {
    if e == kernel::error::code::ERANGE {
        CoreError::Invalid
    } else {
        CoreError::Io
    }
}

impl Media for NsMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), CoreError> {
        self.io
            .read(offset, buf.into(), IoContext::Atomic)
            .map_err(media_error)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), CoreError> {
        self.io
            .write(offset, buf.into(), IoContext::Process)
            .map_err(media_error)
    }

    fn write_unfenced(&self, offset: u64, buf: &[u8]) -> Result<(), CoreError> {
        self.io
            .write_unfenced(offset, buf.into(), IoContext::Process)
            .map_err(media_error)
    }

    // Small, and called at each durability point: left out of line it
    // costs a call per point (seen in scripts/profile.sh).
    #[inline(always)]
    fn flush(&self) -> Result<(), CoreError> {
        self.io.flush().map_err(|_| CoreError::Io)
    }

    fn size(&self) -> u64 {
        self.io.size()
    }
}

/// A bio segment's mapped page as the core's sector data: the core never
/// reads or writes its bytes itself (user space may write them during an
/// `O_DIRECT` write); they move only by the namespace's copies below, and
/// zero-flagged sectors are filled with `memset()`.
impl DataBuf for Mapping<'_> {
    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn fill_zero(&mut self, at: usize, len: usize) -> Result<(), CoreError> {
        self.bytes_mut()
            .range(at, len)
            .ok_or(CoreError::Invalid)?
            .fill_zero();
        Ok(())
    }
}

impl<'m> DataMedia<Mapping<'m>> for NsMedia {
    fn read_data(
        &self,
        offset: u64,
        dst: &mut Mapping<'m>,
        at: usize,
        len: usize,
    ) -> Result<(), CoreError> {
        let dst = dst.bytes_mut().range(at, len).ok_or(CoreError::Invalid)?;
        self.io
            .read(offset, dst, IoContext::Atomic)
            .map_err(media_error)
    }

    fn write_data_unfenced(
        &self,
        offset: u64,
        src: &Mapping<'m>,
        at: usize,
        len: usize,
    ) -> Result<(), CoreError> {
        let src = src.bytes().range(at, len).ok_or(CoreError::Invalid)?;
        self.io
            .write_unfenced(offset, src, IoContext::Process)
            .map_err(media_error)
    }
}
