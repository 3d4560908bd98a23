// SPDX-License-Identifier: GPL-2.0
//! The caller's sector data, which the core moves but never looks at.
//!
//! A sector's bytes only travel between the caller's buffer and the media
//! (C: `arena_write_bytes()` from, and `arena_read_bytes()` into, the bio's
//! mapped page), or are filled with zeroes (a zero-flagged sector). In the
//! kernel that buffer is a page of a bio, which user space may write while an
//! `O_DIRECT` write is in flight: a Rust `&[u8]` over it would assert that
//! nobody does. So the core takes the buffer as a [`DataBuf`], and only the
//! media, through [`DataMedia`], copies to or from it; the kernel implements
//! both for a mapped bio segment with raw copies. On the host (and for every
//! media) a plain `[u8]` is a [`DataBuf`] and every [`Media`] a
//! [`DataMedia<[u8]>`](DataMedia), through its slice calls.

use super::error::Error;
use super::media::Media;

/// A buffer of sector data: the core knows its length, asks the media to
/// copy ranges of it, and fills ranges with zeroes.
pub trait DataBuf {
    /// Length in bytes.
    fn len(&self) -> usize;

    /// Whether the buffer holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills bytes `at..at + len` with zeroes; a range beyond the buffer is
    /// [`Error::Invalid`].
    fn fill_zero(&mut self, at: usize, len: usize) -> Result<(), Error>;
}

impl DataBuf for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn fill_zero(&mut self, at: usize, len: usize) -> Result<(), Error> {
        range_mut(self, at, len)?.fill(0);
        Ok(())
    }
}

/// A media that copies between itself and buffers of type `B`.
///
/// Both calls are [`Media::read`] and [`Media::write_unfenced`] for a range of
/// a buffer, with the same contract (durability, poison, errors); a range
/// beyond the buffer is [`Error::Invalid`].
pub trait DataMedia<B: DataBuf + ?Sized> {
    /// Reads `len` bytes at media `offset` into bytes `at..at + len` of `dst`.
    fn read_data(&self, offset: u64, dst: &mut B, at: usize, len: usize) -> Result<(), Error>;

    /// Writes bytes `at..at + len` of `src` at media `offset`, not
    /// necessarily durably (as [`Media::write_unfenced`]).
    fn write_data_unfenced(&self, offset: u64, src: &B, at: usize, len: usize)
        -> Result<(), Error>;
}

impl<M: Media + ?Sized> DataMedia<[u8]> for M {
    fn read_data(&self, offset: u64, dst: &mut [u8], at: usize, len: usize) -> Result<(), Error> {
        self.read(offset, range_mut(dst, at, len)?)
    }

    fn write_data_unfenced(
        &self,
        offset: u64,
        src: &[u8],
        at: usize,
        len: usize,
    ) -> Result<(), Error> {
        self.write_unfenced(offset, src.get(span(at, len)?).ok_or(Error::Invalid)?)
    }
}

/// Bytes `at..at + len`, if the end does not overflow.
fn span(at: usize, len: usize) -> Result<core::ops::Range<usize>, Error> {
    Ok(at..at.checked_add(len).ok_or(Error::Invalid)?)
}

fn range_mut(buf: &mut [u8], at: usize, len: usize) -> Result<&mut [u8], Error> {
    buf.get_mut(span(at, len)?).ok_or(Error::Invalid)
}
