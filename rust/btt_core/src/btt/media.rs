// SPDX-License-Identifier: GPL-2.0
//! The byte-addressed space a BTT lives in.

use super::error::Error;

/// The namespace space that holds one BTT (all its arenas).
///
/// Offset 0 is the first byte of the BTT, that is the namespace offset
/// `nd_btt->initial_offset` (4096 for info block version 1.1, 0 for 2.0); the
/// kernel glue adds it, as the C driver's `adjust_initial_offset()` does.
pub trait Media: Send + Sync {
    /// Reads `buf.len()` bytes at `offset` (C: `arena_read_bytes()` ->
    /// `nvdimm_read_bytes()`). A poisoned range fails with [`Error::Io`].
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error>;

    /// Writes `buf` at `offset` and makes it durable before returning (C:
    /// `arena_write_bytes()` -> `nvdimm_write_bytes()`, which ends in
    /// `nvdimm_flush()`). May sleep. Aligned writes of 8 bytes or less are
    /// atomic with respect to power failure (the map entry update relies on it).
    ///
    /// In the persistence model below this is [`Media::write_unfenced`]
    /// followed by [`Media::flush`]: one durability point of its own.
    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error>;

    /// Writes `buf` at `offset`, not necessarily durably.
    ///
    /// The persistence model (x86's, as pmem crash checkers model it): until
    /// the writing thread's next [`Media::flush`] the bytes may persist or
    /// not, in aligned 8-byte units (each unit wholly or not at all), in any
    /// order with every other write not yet flushed, of this thread or any
    /// other. Reads return them at once. A flush by another thread does not
    /// make them durable.
    ///
    /// The default is [`Media::write`], durable on return: stronger than the
    /// contract. The kernel's media overrides it with the copy half of
    /// `nsio_rw_bytes()` (every `nvdimm_write_bytes()` call ends in its own
    /// `nvdimm_flush()`, so through it a caller could not batch them).
    fn write_unfenced(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.write(offset, buf)
    }

    /// A durability point: every write this thread made before the call
    /// ([`Media::write_unfenced`] included) is durable when it returns (C:
    /// `nvdimm_flush()`; on pmem a store fence after the cache-line write
    /// backs, on virtio-pmem a request to the host that waits for its
    /// `fsync`).
    ///
    /// The default does nothing: with the default
    /// [`Media::write_unfenced`] every write is already durable.
    fn flush(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Size in bytes of the space (C: `rawsize`, the namespace capacity less
    /// the initial offset).
    fn size(&self) -> u64;

    /// Writes `len` zero bytes at `offset`, durably (C: the zero buffers of
    /// `btt_map_init()`, `btt_log_init()` and `arena_clear_freelist_error()`).
    ///
    /// The default writes from a static page of zeroes; a media that knows a
    /// cheaper way (a sparse file, a zeroing primitive) may override it.
    fn write_zeroes(&self, offset: u64, len: u64) -> Result<(), Error> {
        static ZEROES: [u8; 4096] = [0; 4096];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(ZEROES.len() as u64);
            let chunk = ZEROES.get(..n as usize).ok_or(Error::Invalid)?;
            let at = offset.checked_add(done).ok_or(Error::Invalid)?;
            self.write(at, chunk)?;
            done += n;
        }
        Ok(())
    }

    /// Whether `[offset, offset + len)` holds a known media error, so that a
    /// free block must be cleared before it is written (C: `btt_is_badblock()`
    /// -> `is_bad_pmem()`). The default knows of none.
    fn is_poisoned(&self, offset: u64, len: u64) -> bool {
        let _ = (offset, len);
        false
    }
}

impl<T: Media + ?Sized> Media for &T {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        (**self).read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        (**self).write(offset, buf)
    }

    fn write_unfenced(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        (**self).write_unfenced(offset, buf)
    }

    fn flush(&self) -> Result<(), Error> {
        (**self).flush()
    }

    fn size(&self) -> u64 {
        (**self).size()
    }

    fn write_zeroes(&self, offset: u64, len: u64) -> Result<(), Error> {
        (**self).write_zeroes(offset, len)
    }

    fn is_poisoned(&self, offset: u64, len: u64) -> bool {
        (**self).is_poisoned(offset, len)
    }
}
