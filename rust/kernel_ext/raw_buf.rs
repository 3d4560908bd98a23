// SPDX-License-Identifier: GPL-2.0
//! [`RawBuf`] and [`RawBufMut`]: byte ranges that are only ever copied, never
//! referenced.
//!
//! A bio's pages may belong to user space, which can write them while an
//! `O_DIRECT` I/O is in flight (its data is then undefined, as with any C
//! driver's `memcpy()`). A `&[u8]` over such a page would assert that nobody
//! writes it while the reference lives, and a `&mut [u8]` that nobody reads it:
//! a data race, undefined behaviour in Rust even if the bytes are never
//! looked at. These types carry the pointer, length and lifetime of such a
//! range instead, and its bytes move only in C, as in the C driver
//! (`memcpy_flushcache()`, `memcpy_mcsafe()` in libnvdimm, `memset()` here),
//! outside what Rust's memory model speaks of. `Page::read_raw` and its
//! siblings cannot serve: their callers must rule out exactly such races.
//!
//! They are made safely from slices, so that one I/O call serves both kernel
//! buffers and mapped pages.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;

/// A byte range valid for reads for `'a`, that others may write meanwhile.
///
/// # Invariants
///
/// `ptr` is valid for reads of `len` bytes for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct RawBuf<'a> {
    ptr: NonNull<u8>,
    len: usize,
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> RawBuf<'a> {
    /// A range of `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads of `len` bytes for `'a`. Others may
    /// write them meanwhile; nobody may free or unmap them before `'a` ends.
    #[inline]
    pub(crate) unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize) -> Self {
        // INVARIANT: The caller guarantees it.
        Self {
            ptr,
            len,
            _bytes: PhantomData,
        }
    }

    /// Length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first byte, for a C function that copies from the range.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Bytes `at..at + len` of the range, if it has them.
    #[inline]
    pub(crate) fn range(self, at: usize, len: usize) -> Option<RawBuf<'a>> {
        if at.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: `at + len <= self.len`, so the sub-range lies within the
        // range, valid for reads for `'a` (type invariant).
        Some(unsafe { Self::from_raw_parts(self.ptr.add(at), len) })
    }
}

impl<'a> From<&'a [u8]> for RawBuf<'a> {
    #[inline]
    fn from(bytes: &'a [u8]) -> Self {
        // SAFETY: A shared slice is valid for reads for its lifetime, and
        // nobody writes it meanwhile.
        unsafe { Self::from_raw_parts(NonNull::from(bytes).cast(), bytes.len()) }
    }
}

/// A byte range valid for writes (and reads) for `'a`, that others may read
/// or write meanwhile; held by one owner at a time, like a `&mut`.
///
/// # Invariants
///
/// `ptr` is valid for reads and writes of `len` bytes for `'a`.
pub(crate) struct RawBufMut<'a> {
    ptr: NonNull<u8>,
    len: usize,
    _bytes: PhantomData<&'a mut [u8]>,
}

impl<'a> RawBufMut<'a> {
    /// A range of `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads and writes of `len` bytes for `'a`.
    /// Others may read or write them meanwhile; nobody may free or unmap
    /// them before `'a` ends.
    #[inline]
    pub(crate) unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize) -> Self {
        // INVARIANT: The caller guarantees it.
        Self {
            ptr,
            len,
            _bytes: PhantomData,
        }
    }

    /// Length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first byte, for a C function that copies into the range.
    #[inline]
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Bytes `at..at + len` of the range, if it has them.
    #[inline]
    pub(crate) fn range(self, at: usize, len: usize) -> Option<RawBufMut<'a>> {
        if at.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: `at + len <= self.len`, so the sub-range lies within the
        // range, valid for reads and writes for `'a` (type invariant); `self`
        // is consumed, so it is the only handle on it.
        Some(unsafe { Self::from_raw_parts(self.ptr.add(at), len) })
    }

    /// Sets every byte of the range to zero, with C's `memset()`.
    pub(crate) fn fill_zero(&mut self) {
        // SAFETY: The range is valid for writes of `len` bytes (type
        // invariant); C writes it, no Rust reference is made.
        unsafe { bindings::memset(self.ptr.as_ptr().cast(), 0, self.len) };
    }
}

impl<'a> From<&'a mut [u8]> for RawBufMut<'a> {
    #[inline]
    fn from(bytes: &'a mut [u8]) -> Self {
        let len = bytes.len();
        // SAFETY: A mutable slice is valid for reads and writes for its
        // lifetime, and nobody else reaches it meanwhile.
        unsafe { Self::from_raw_parts(NonNull::from(bytes).cast(), len) }
    }
}
