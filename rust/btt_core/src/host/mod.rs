// SPDX-License-Identifier: GPL-2.0
//! Host implementations of the core's traits: `std` allocation and locks,
//! memory media, file media and a media that records every write (for crash
//! simulation).

use std::boxed::Box;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::vec::Vec;

use crate::btt::{Error, LockTable, Media, Platform};

/// [`Platform`] over `std`: boxed slices and `std::sync::Mutex`.
pub struct StdPlatform;

impl Platform for StdPlatform {
    type Slice<T: Send + Sync> = Box<[T]>;

    fn try_slice<T: Send + Sync>(
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> Result<Self::Slice<T>, Error> {
        let mut v = Vec::new();
        v.try_reserve_exact(len).map_err(|_| Error::NoMem)?;
        v.extend((0..len).map(f));
        Ok(v.into_boxed_slice())
    }

    type LockTable = StdLockTable;

    fn try_lock_table(len: usize) -> Result<Self::LockTable, Error> {
        Ok(StdLockTable(Self::try_slice(len, |_| Mutex::new(()))?))
    }

    fn wait_hint() {
        std::thread::yield_now();
    }

    /// A number per thread, handed out in the order threads first read.
    fn rtt_hint() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        std::thread_local! {
            static HINT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        HINT.with(|h| *h)
    }
}

/// A table of `std` mutexes.
pub struct StdLockTable(Box<[Mutex<()>]>);

impl LockTable for StdLockTable {
    type Guard<'a> = MutexGuard<'a, ()>;

    fn lock(&self, index: usize) -> Self::Guard<'_> {
        self.0[index].lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

fn range(size: u64, offset: u64, len: usize) -> Result<std::ops::Range<usize>, Error> {
    let end = offset.checked_add(len as u64).ok_or(Error::Invalid)?;
    if end > size {
        return Err(Error::Invalid);
    }
    Ok(offset as usize..end as usize)
}

/// Media in memory.
pub struct MemMedia {
    bytes: RwLock<Vec<u8>>,
}

impl MemMedia {
    /// `size` zero bytes.
    pub fn new(size: usize) -> Self {
        Self::from_vec(std::vec![0; size])
    }

    /// Media holding `bytes`.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self {
            bytes: RwLock::new(bytes),
        }
    }

    /// A copy of the bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        self.bytes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Media for MemMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let b = self.bytes.read().unwrap_or_else(PoisonError::into_inner);
        let r = range(b.len() as u64, offset, buf.len())?;
        buf.copy_from_slice(&b[r]);
        Ok(())
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        let mut b = self.bytes.write().unwrap_or_else(PoisonError::into_inner);
        let r = range(b.len() as u64, offset, buf.len())?;
        b[r].copy_from_slice(buf);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.bytes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len() as u64
    }
}

/// Media in a file (or block device), from byte `base` on, `size` bytes.
pub struct FileMedia {
    file: File,
    base: u64,
    size: u64,
    writable: bool,
}

impl FileMedia {
    /// `size` bytes of `file` from `base`. Writes fail unless `writable`.
    pub fn new(file: File, base: u64, size: u64, writable: bool) -> Self {
        Self {
            file,
            base,
            size,
            writable,
        }
    }
}

impl FileMedia {
    fn write_unsynced(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.file
            .write_all_at(buf, self.base + offset)
            .map_err(|_| Error::Io)
    }
}

impl Media for FileMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        range(self.size, offset, buf.len())?;
        self.file
            .read_exact_at(buf, self.base + offset)
            .map_err(|_| Error::Io)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        range(self.size, offset, buf.len())?;
        self.write_unsynced(offset, buf)?;
        // Media::write's contract: durable when it returns. The core orders
        // its writes on that (data before flog, flog before map, a repair's
        // invalidated log groups before their new entries), as C does with
        // nvdimm_flush() after each arena_write_bytes().
        self.file.sync_data().map_err(|_| Error::Io)
    }

    fn size(&self) -> u64 {
        self.size
    }

    /// Punches a hole (`fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`),
    /// so that the metadata of a large sparse image costs no space; where the
    /// file system or device cannot, writes zeroes. Either way one
    /// `fdatasync` at the end makes the whole range durable before return.
    ///
    /// Why one sync is enough: no caller orders the chunks of one range
    /// among themselves. The core zeroes ranges that nothing valid points at
    /// yet (a new map and flog before the info blocks that make them live;
    /// a free block, or its metadata, before the write that fills it): a
    /// crash with any mix of zeroed and stale chunks reads as a crash before
    /// the call, and everything written after the call is ordered after the
    /// whole range by this sync.
    fn write_zeroes(&self, offset: u64, len: u64) -> Result<(), Error> {
        use rustix::fs::{fallocate, FallocateFlags};
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        let end = offset.checked_add(len).ok_or(Error::Invalid)?;
        if end > self.size {
            return Err(Error::Invalid);
        }
        if len == 0 {
            return Ok(());
        }
        let flags = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
        if fallocate(&self.file, flags, self.base + offset, len).is_err() {
            static ZEROES: [u8; 65536] = [0; 65536];
            let mut at = offset;
            while at < end {
                let n = (end - at).min(ZEROES.len() as u64) as usize;
                self.write_unsynced(at, &ZEROES[..n])?;
                at += n as u64;
            }
        }
        // The hole is a change to the file's extents, which fdatasync
        // commits too (they are needed to read the data back).
        self.file.sync_data().map_err(|_| Error::Io)
    }
}

/// One write as [`RecordingMedia`] saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Byte offset.
    pub offset: u64,
    /// The bytes written.
    pub bytes: Vec<u8>,
}

/// Memory media that logs every write, in order, so that a crash can be
/// simulated after any prefix of them.
pub struct RecordingMedia {
    inner: MemMedia,
    log: Mutex<Vec<Recorded>>,
}

impl RecordingMedia {
    /// Wraps `inner`.
    pub fn new(inner: MemMedia) -> Self {
        Self {
            inner,
            log: Mutex::new(Vec::new()),
        }
    }

    /// The writes so far, and forgets them.
    pub fn take_log(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The current bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        self.inner.snapshot()
    }

    /// Number of writes recorded since the last [`RecordingMedia::take_log`].
    pub fn log_len(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Media for RecordingMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        // Log and apply under one lock, so the log order is the media order.
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        self.inner.write(offset, buf)?;
        log.push(Recorded {
            offset,
            bytes: buf.to_vec(),
        });
        Ok(())
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

/// Unpacks a `BTTSPRS1` sparse image, the format of the C driver's fixtures
/// (`tools/testing/fixtures/sparse.py`): a header (magic, image size, block
/// size, all little-endian `u64`), then `(offset, block)` records of the
/// blocks that are not zero.
pub fn unpack_sparse(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let word = |at: usize| -> Result<usize, &'static str> {
        let bytes = raw.get(at..at + 8).ok_or("truncated sparse image")?;
        let v = u64::from_le_bytes(bytes.try_into().map_err(|_| "truncated sparse image")?);
        usize::try_from(v).map_err(|_| "sparse image too large")
    };
    if raw.get(..8) != Some(&b"BTTSPRS1"[..]) {
        return Err("not a BTTSPRS1 sparse image");
    }
    let (size, block) = (word(8)?, word(16)?);
    if block == 0 {
        return Err("sparse image with a zero block size");
    }
    let mut img = std::vec![0u8; size];
    let mut p = 24;
    while p < raw.len() {
        let off = word(p)?;
        let n = block.min(
            size.checked_sub(off)
                .ok_or("sparse block beyond the image")?,
        );
        let src = raw.get(p + 8..p + 8 + n).ok_or("truncated sparse block")?;
        img[off..off + n].copy_from_slice(src);
        p += 8 + block;
    }
    Ok(img)
}

/// One media call as [`ReorderMedia`] saw it.
#[derive(Clone, Debug)]
pub enum Event {
    /// [`Media::write_unfenced`] (or the write half of [`Media::write`]) by
    /// thread `thread`: not durable until that thread's next fence.
    Write {
        /// Small number of the calling thread, in order of first call.
        thread: usize,
        /// Byte offset.
        offset: u64,
        /// The bytes written.
        bytes: Vec<u8>,
    },
    /// [`Media::flush`] (or the end of a [`Media::write`]) by `thread`: its
    /// writes so far are durable.
    Fence {
        /// The calling thread.
        thread: usize,
    },
}

/// Media that records every write and every durability point, per thread, in
/// the order they reach `inner` (which holds the bytes reads return: the
/// CPU's view, everything written so far).
///
/// Replaying the events gives each crash state of the persistence model of
/// [`Media::write_unfenced`]: at any point, the durable image plus any
/// per-8-byte-unit choice among the writes not yet fenced by their thread
/// (`btt_core/tests/reorder.rs`).
pub struct ReorderMedia<M> {
    inner: M,
    log: Mutex<(Vec<Event>, Vec<std::thread::ThreadId>)>,
}

impl<M: Media> ReorderMedia<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        Self {
            inner,
            log: Mutex::new((Vec::new(), Vec::new())),
        }
    }

    /// The events so far, and forgets them.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.log.lock().unwrap_or_else(PoisonError::into_inner).0)
    }

    /// Number of events recorded since the last [`ReorderMedia::take_events`].
    pub fn events_len(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }

    /// The wrapped media.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    fn thread(threads: &mut Vec<std::thread::ThreadId>) -> usize {
        let me = std::thread::current().id();
        match threads.iter().position(|t| *t == me) {
            Some(i) => i,
            None => {
                threads.push(me);
                threads.len() - 1
            }
        }
    }
}

impl<M: Media> Media for ReorderMedia<M> {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.write_unfenced(offset, buf)?;
        self.flush()
    }

    fn write_unfenced(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        // Apply and log under one lock, so the log order is the media order.
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        self.inner.write(offset, buf)?;
        let thread = Self::thread(&mut log.1);
        log.0.push(Event::Write {
            thread,
            offset,
            bytes: buf.to_vec(),
        });
        Ok(())
    }

    fn flush(&self) -> Result<(), Error> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let thread = Self::thread(&mut log.1);
        log.0.push(Event::Fence { thread });
        Ok(())
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}
