// SPDX-License-Identifier: GPL-2.0
//! [`Bio`]: a bio handed to our `submit_bio`, its segments, and its completion.
//!
//! The kernel crate has no bio abstraction (only blk-mq requests). This is the
//! small part of one that a bio-based driver like BTT needs:
//! `bio_for_each_segment()`, the data of each segment mapped with
//! `kmap_local_page()`, I/O accounting and `bio_endio()`.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

use crate::kernel_ext::glue;
use crate::kernel_ext::raw_buf::{
    RawBuf,
    RawBufMut, //
};

/// The operation of a bio, as far as BTT cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `REQ_OP_READ`.
    Read,
    /// `REQ_OP_WRITE` (possibly empty, e.g. a bare `REQ_PREFLUSH`).
    Write,
    /// `REQ_OP_DISCARD`: a range ([`Bio::sector`], [`Bio::size`]), no data.
    Discard,
    /// `REQ_OP_WRITE_ZEROES`: a range, no data.
    WriteZeroes,
    /// Anything else; the queue advertises no zone support, so the block
    /// layer should not send it.
    Other,
}

/// A bio submitted to one of our disks. It must be ended exactly once, with
/// [`Bio::end`]; dropping it without ending it ends it with an I/O error.
pub(crate) struct Bio {
    ptr: NonNull<bindings::bio>,
    acct: Option<usize>,
    op: Op,
    integrity: bool,
    private: *mut kernel::ffi::c_void,
}

impl Bio {
    /// Takes charge of `ptr`: lets the integrity layer attach or verify
    /// protection information (C: `bio_integrity_prep()` in
    /// `btt_submit_bio()`), then starts I/O accounting if the queue wants it.
    /// One call into C for all of it.
    ///
    /// # Safety
    ///
    /// `ptr` must be a bio passed to our `submit_bio` that nobody else ends.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::bio) -> Option<Self> {
        let ptr = NonNull::new(ptr)?;
        let (mut integrity, mut acct, mut start) = (false, false, 0);
        // SAFETY: `ptr` is a live bio submitted to our disk (caller); the
        // other pointers are valid for writes.
        let private =
            unsafe { glue::btt_rs_bio_begin(ptr.as_ptr(), &mut integrity, &mut acct, &mut start) };
        // SAFETY: `ptr` is a live bio (caller); `bi_opf` is a plain value,
        // read as `bio_op()` reads it.
        let opf = unsafe { (*ptr.as_ptr()).bi_opf };
        // C `bio_op()`: the low `REQ_OP_BITS` bits.
        let op = match opf & ((1 << bindings::REQ_OP_BITS) - 1) {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Op::WriteZeroes,
            _ => Op::Other,
        };
        Some(Self {
            ptr,
            acct: acct.then_some(start),
            op,
            integrity,
            private,
        })
    }

    /// `bio->bi_bdev->bd_disk->private_data`.
    pub(crate) fn disk_private(&self) -> *mut kernel::ffi::c_void {
        self.private
    }

    /// Whether the disk the bio was submitted to is read-only now
    /// (`get_disk_ro()`; a region's `read_only` changes it at any time).
    pub(crate) fn disk_read_only(&self) -> bool {
        // SAFETY: `self.ptr` is a live bio submitted to a live disk (type
        // invariant); `get_disk_ro()` only reads the disk's flags.
        unsafe { glue::btt_rs_bio_disk_ro(self.ptr.as_ptr()) }
    }

    /// The bio's operation.
    pub(crate) fn op(&self) -> Op {
        self.op
    }

    /// The 512-byte device sector the bio starts at (`bi_iter.bi_sector`).
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: `self.ptr` is a live bio (type invariant); `bi_iter` is a
        // plain value, read as `bio->bi_iter.bi_sector` in C.
        unsafe { (*self.ptr.as_ptr()).bi_iter.bi_sector }
    }

    /// The bio's length in bytes (`bi_iter.bi_size`); for a discard or
    /// write-zeroes bio the length of its range.
    pub(crate) fn size(&self) -> u32 {
        // SAFETY: As in `sector`.
        unsafe { (*self.ptr.as_ptr()).bi_iter.bi_size }
    }

    /// Whether the bio carries integrity metadata (after the preparation
    /// done by [`Bio::from_raw`]).
    pub(crate) fn has_integrity(&self) -> bool {
        self.integrity
    }

    /// Copies the next `buf.len()` bytes of integrity metadata into `buf` and
    /// advances past them (for a write).
    pub(crate) fn integrity_take(&self, buf: &mut [u8]) -> Result {
        // SAFETY: `self.ptr` is a live bio (type invariant); `buf` is valid for
        // writes of its length. The integrity iterator is only used by us.
        kernel::error::to_result(unsafe {
            glue::btt_rs_bio_integrity_copy(
                self.ptr.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len() as u32,
                true,
            )
        })
    }

    /// Copies `buf` into the next `buf.len()` bytes of integrity metadata and
    /// advances past them (for a read).
    pub(crate) fn integrity_give(&self, buf: &[u8]) -> Result {
        // SAFETY: As in `integrity_take`; the C helper only reads `buf` here.
        kernel::error::to_result(unsafe {
            glue::btt_rs_bio_integrity_copy(
                self.ptr.as_ptr(),
                buf.as_ptr().cast_mut().cast(),
                buf.len() as u32,
                false,
            )
        })
    }

    /// The bio's data, one single-page segment at a time (C:
    /// `bio_for_each_segment()`), from the bio's current position. Only a
    /// read or a write has data: for the other operations the iterator is
    /// empty (their `bi_size` is the length of a range, not of data in
    /// `bi_io_vec`).
    pub(crate) fn segments(&self) -> BioSegmentIterator<'_> {
        let bio = self.ptr.as_ptr();
        // SAFETY: `self.ptr` is a live bio (type invariant); `bi_iter` is a
        // plain value that we copy, as `bio_for_each_segment()` does, and
        // `bi_io_vec` a pointer read as C reads it.
        let (mut iter, bvecs) = unsafe { ((*bio).bi_iter, (*bio).bi_io_vec) };
        if !matches!(self.op, Op::Read | Op::Write) {
            iter.bi_size = 0;
        }
        // SAFETY: `bi_io_vec` and `bi_iter` are the table and position of a
        // bio live while `self` is borrowed, and only the copy is advanced.
        unsafe { BioSegmentIterator::from_raw_parts(bvecs, iter) }
    }

    /// Ends the bio (`bio_endio()`) with `status` (an errno on failure, C:
    /// `bio->bi_status = errno_to_blk_status(err)`).
    pub(crate) fn end(self, status: Result) {
        let this = core::mem::ManuallyDrop::new(self);
        this.finish(status);
    }

    fn finish(&self, status: Result) {
        let bio = self.ptr.as_ptr();
        if let Err(e) = status {
            // SAFETY: `bio` is live and not yet ended (type invariant), so
            // `bi_status` is ours to set (C: `errno_to_blk_status()`).
            unsafe { (*bio).bi_status = bindings::errno_to_blk_status(e.to_errno()) };
        }
        if let Some(start) = self.acct {
            // SAFETY: Accounting was started on this live bio in `from_raw`;
            // this is the static inline `bio_end_io_acct()`.
            unsafe {
                bindings::bio_end_io_acct_remapped(
                    bio,
                    start as kernel::ffi::c_ulong,
                    (*bio).bi_bdev,
                )
            };
        }
        // SAFETY: `bio` is live and ended exactly once: here, from `end` (which
        // forgets `self`) or from `drop`.
        unsafe { bindings::bio_endio(bio) };
    }
}

impl Drop for Bio {
    fn drop(&mut self) {
        self.finish(Err(EIO));
    }
}

/// One single-page segment of a bio; it borrows the bio, so it cannot outlive
/// the bio's end.
///
/// Named as in Andreas Hindborg's series "block: rust: introduce
/// kernel::block::bio" (`Segment<'a>`, `BioSegmentIterator`). Unlike there, the
/// data is reached only through [`Segment::with_mapped`] (a closure, like
/// `Page::with_page_mapped`) as a [`RawBuf`] or [`RawBufMut`] that only C
/// copies, and the segment carries its device sector.
pub(crate) struct Segment<'a> {
    page: *mut bindings::page,
    offset: usize,
    len: usize,
    sector: u64,
    _bio: PhantomData<&'a Bio>,
}

impl Segment<'_> {
    /// Length in bytes (at most a page).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The 512-byte sector of the device the segment starts at.
    pub(crate) fn sector(&self) -> u64 {
        self.sector
    }

    /// Runs `f` with the segment's data mapped (`kmap_local_page()`), and
    /// unmaps it when `f` returns: mappings nest, so local kmaps are released
    /// in the reverse order of creation, as they must be.
    pub(crate) fn with_mapped<R>(&mut self, f: impl FnOnce(&mut Mapping<'_>) -> R) -> R {
        // SAFETY: `page` is a page of a live bio (it came from the bio's bvec
        // table, and the segment borrows the bio), and `kmap_local_page()` maps
        // any page.
        let addr = unsafe { bindings::kmap_local_page(self.page) };
        let mut map = Mapping {
            addr: addr.cast(),
            offset: self.offset,
            len: self.len,
            _segment: PhantomData,
        };
        f(&mut map)
    }
}

/// The data of a [`Segment`], mapped.
pub(crate) struct Mapping<'a> {
    addr: *mut u8,
    offset: usize,
    len: usize,
    _segment: PhantomData<&'a mut Segment<'a>>,
}

impl Mapping<'_> {
    /// The segment's bytes, to copy from. They may belong to user space,
    /// which can write them during an `O_DIRECT` write (its data is then
    /// undefined, as with the C driver's `memcpy()`), so they are never a
    /// `&[u8]`.
    pub(crate) fn bytes(&self) -> RawBuf<'_> {
        // SAFETY: `addr` maps a whole page, `offset + len <= PAGE_SIZE` (single-page segment):
        // valid for reads until the mapping is dropped, after the returned borrow of `self` ends.
        unsafe { RawBuf::from_raw_parts(self.start(), self.len) }
    }

    /// The segment's bytes, to copy into (a read), as [`Mapping::bytes`].
    pub(crate) fn bytes_mut(&mut self) -> RawBufMut<'_> {
        // SAFETY: As in `bytes`, valid for writes too; the borrow of `self`
        // makes this the only handle on the mapping while it lives.
        unsafe { RawBufMut::from_raw_parts(self.start(), self.len) }
    }

    fn start(&self) -> NonNull<u8> {
        // SAFETY: `addr` is the address `kmap_local_page()` mapped the page
        // at, never null, and `offset` is within the page, so the sum stays
        // in the mapping and is not null either.
        unsafe { NonNull::new_unchecked(self.addr.add(self.offset)) }
    }
}

impl Drop for Mapping<'_> {
    fn drop(&mut self) {
        // SAFETY: `addr` came from `kmap_local_page()` in `Segment::with_mapped` and is
        // unmapped once, here.
        unsafe { bindings::kunmap_local(self.addr.cast()) };
    }
}

/// Iterator over the segments of a [`Bio`] (C: `bio_for_each_segment()`).
///
/// The steps of `bio_iter_iovec()` and `bio_advance_iter_single()`
/// (include/linux/bvec.h, bio.h), written here because they are static
/// inline in C: called through a C helper they cost a call per segment, and
/// a bio-based driver takes a step per page of every bio.
///
/// # Invariants
///
/// `bvecs` is the `bi_io_vec` of a bio live for `'a`, and `iter` a position
/// in it that only this iterator advances: while `iter.bi_size` is not 0,
/// `bvecs[iter.bi_idx]` is an entry of the table, `iter.bi_offset` is below
/// its `bv_len` (or both are 0: an empty entry yields an empty segment and is
/// stepped over, as in C), and its page run holds `bv_offset + bv_len` bytes.
pub(crate) struct BioSegmentIterator<'a> {
    bvecs: *const bindings::bio_vec,
    iter: bindings::bvec_iter,
    _bio: PhantomData<&'a Bio>,
}

impl BioSegmentIterator<'_> {
    /// The segments of the bvec table `bvecs` from position `iter` on.
    ///
    /// # Safety
    ///
    /// `bvecs` and `iter` must meet the type invariants for as long as the
    /// iterator and its segments live.
    pub(crate) unsafe fn from_raw_parts(
        bvecs: *const bindings::bio_vec,
        iter: bindings::bvec_iter,
    ) -> Self {
        Self {
            bvecs,
            iter,
            _bio: PhantomData,
        }
    }
}

impl<'a> Iterator for BioSegmentIterator<'a> {
    type Item = Segment<'a>;

    // Inlined into the driver's loop, as `bio_for_each_segment()` is in C.
    #[inline]
    fn next(&mut self) -> Option<Segment<'a>> {
        const PAGE_SIZE: u32 = kernel::page::PAGE_SIZE as u32;
        let it = self.iter;
        if it.bi_size == 0 {
            return None;
        }
        // SAFETY: `bi_size` is not 0, so `bi_idx` indexes the live bio's
        // table (type invariant); its entries are plain values, copied.
        let bv = unsafe { *self.bvecs.add(it.bi_idx as usize) };
        // C `bvec_iter_bvec()`: the rest of the entry, cut at the bio's end
        // and at the end of the page it starts in.
        let start = bv.bv_offset + it.bi_offset;
        let offset = start % PAGE_SIZE;
        let len = (bv.bv_len - it.bi_offset)
            .min(it.bi_size)
            .min(PAGE_SIZE - offset);
        // The entry's pages are consecutive `struct page`s (C
        // `bvec_iter_page()`: `bv_page + offset / PAGE_SIZE`); `wrapping_add`
        // computes the address, the page is only used by C, mapped.
        let page = bv.bv_page.wrapping_add((start / PAGE_SIZE) as usize);
        // C `bio_advance_iter_single()` and `bvec_iter_advance_single()`.
        let done = it.bi_offset + len;
        let (bi_idx, bi_offset) = if done == bv.bv_len {
            (it.bi_idx + 1, 0)
        } else {
            (it.bi_idx, done)
        };
        self.iter = bindings::bvec_iter {
            bi_sector: it.bi_sector + u64::from(len >> 9),
            bi_size: it.bi_size - len,
            bi_idx,
            bi_offset,
        };
        Some(Segment {
            page,
            offset: offset as usize,
            len: len as usize,
            sector: it.bi_sector,
            _bio: PhantomData,
        })
    }
}

#[kunit_tests(btt_rs_bio_segments)]
mod tests {
    use super::*;

    /// A small xorshift generator: the layouts are the same on every run.
    struct Layouts(u64);

    impl Layouts {
        fn below(&mut self, n: u32) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % u64::from(n.max(1))) as u32
        }
    }

    /// [`BioSegmentIterator`] yields what C's `bio_for_each_segment()` steps
    /// (`bvec_iter_bvec()`, `bio_advance_iter_single()`, run by the C glue)
    /// yield, segment for segment, on 2,000 bvec tables: one to four
    /// entries of 1 byte to three pages each, at any offset in their first
    /// page, iterated from any point of the first entry, for any length.
    #[test]
    fn segments_match_bio_for_each_segment() -> Result {
        // Sizes in pages, so that entries cross page ends whatever the page
        // size.
        const PAGE: u32 = kernel::page::PAGE_SIZE as u32;
        let page = kernel::page::Page::alloc_page(GFP_KERNEL)?;
        let mut layouts = Layouts(0x9e37_79b9_7f4a_7c15);
        let mut segments = 0u32;
        for _ in 0..2000 {
            let n = 1 + layouts.below(4) as usize;
            let mut bvecs = [bindings::bio_vec::default(); 4];
            let mut total = 0u32;
            for (i, bv) in bvecs.iter_mut().take(n).enumerate() {
                // Pages are only counted, never touched: any run of
                // `struct page`s after a real one will do.
                bv.bv_page = page.as_ptr().wrapping_add(4 * i);
                bv.bv_offset = layouts.below(PAGE);
                bv.bv_len = 1 + layouts.below(3 * PAGE);
                total += bv.bv_len;
            }
            let skip = layouts.below(bvecs[0].bv_len);
            let iter = bindings::bvec_iter {
                bi_sector: u64::from(layouts.below(1 << 20)),
                bi_size: 1 + layouts.below(total - skip),
                bi_idx: 0,
                bi_offset: skip,
            };
            let mut c_iter = iter;
            // SAFETY: `bvecs` holds `n` entries that `iter` stays within (its
            // size is at most what is left of them), live for the loop.
            let rust = unsafe { BioSegmentIterator::from_raw_parts(bvecs.as_ptr(), iter) };
            for seg in rust {
                let mut bv = bindings::bio_vec::default();
                let sector = c_iter.bi_sector;
                // SAFETY: The same table and a copy of the same position;
                // `bv` is valid for writes.
                let more =
                    unsafe { glue::btt_rs_bvec_iter_step(bvecs.as_ptr(), &mut c_iter, &mut bv) };
                assert!(more);
                assert_eq!(seg.page, bv.bv_page);
                assert_eq!(seg.offset, bv.bv_offset as usize);
                assert_eq!(seg.len, bv.bv_len as usize);
                assert_eq!(seg.sector, sector);
                segments += 1;
            }
            // Both end together.
            assert_eq!(c_iter.bi_size, 0);
        }
        // Multi-page entries were cut at page ends.
        assert!(segments > 4000);
        Ok(())
    }
}
