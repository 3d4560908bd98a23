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
    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error>;

    /// Size in bytes of the space (C: `rawsize`, the namespace capacity less
    /// the initial offset).
    fn size(&self) -> u64;
}
