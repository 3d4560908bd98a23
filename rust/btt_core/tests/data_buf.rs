// SPDX-License-Identifier: GPL-2.0
//! [`Btt::write_from`] and [`Btt::read_sectors_into`]: sector data in a
//! [`DataBuf`] that only the media copies (the kernel's mapped bio page,
//! which user space may write during `O_DIRECT`).
//!
//! A buffer type of the test's own (not a slice), with a media that logs
//! every copy, shows that:
//! 1. sectors written from any offset of the buffer read back the same,
//!    through the slice calls and through the buffer calls, data and
//!    metadata, for sector sizes with and without metadata;
//! 2. a read fills exactly the asked range: zero-flagged sectors become
//!    zeroes, bytes outside the range stay as they were;
//! 3. the data moves only by the media's copies of whole sectors (one copy
//!    for a run of consecutive blocks), never through a slice of the buffer;
//! 4. a range beyond the buffer, or not whole sectors, is refused before
//!    anything reaches the media;
//! 5. reads longer than a batch land at their places; a media error inside
//!    a run flags that block alone; a refused range flags nothing.

mod common;

use std::sync::Mutex;

use btt_core::btt::{Btt, DataBuf, DataMedia, Error, LaneSet, Media};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

/// A buffer that is not a slice, so the core can only reach it through
/// [`DataBuf`] and the media's [`DataMedia`] copies.
struct PageBuf {
    bytes: Vec<u8>,
}

impl DataBuf for PageBuf {
    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn fill_zero(&mut self, at: usize, len: usize) -> Result<(), Error> {
        let end = at.checked_add(len).ok_or(Error::Invalid)?;
        self.bytes.get_mut(at..end).ok_or(Error::Invalid)?.fill(0);
        Ok(())
    }
}

/// The bytes a buffer is filled with before a read, to see what it wrote.
const UNTOUCHED: u8 = 0xa5;

impl PageBuf {
    fn untouched(n: usize) -> Self {
        Self {
            bytes: vec![UNTOUCHED; n],
        }
    }

    /// Asserts that the buffer holds sectors `lbas` (generation `gen`) from
    /// byte `at` on, and that the bytes before and after them are untouched.
    fn assert_sectors(
        &self,
        ss: usize,
        at: usize,
        lbas: std::ops::Range<u64>,
        gen: u64,
        what: &str,
    ) {
        let end = at + (lbas.end - lbas.start) as usize * ss;
        for (i, lba) in lbas.enumerate() {
            let s = at + i * ss;
            assert_eq!(
                self.bytes[s..s + ss],
                pattern(ss, lba, gen)[..],
                "{what}: sector {lba}"
            );
        }
        assert!(
            self.bytes[..at]
                .iter()
                .chain(&self.bytes[end..])
                .all(|&b| b == UNTOUCHED),
            "{what}: a byte outside the range was written"
        );
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transfer {
    Read { at: usize, len: usize },
    Write { at: usize, len: usize },
}

/// Memory media that logs each copy to or from a [`PageBuf`], and fails
/// those that touch the media byte `fail.0` with `fail.1`.
struct CopyLog {
    inner: MemMedia,
    log: Mutex<Vec<Transfer>>,
    fail: Mutex<Option<(u64, Error)>>,
}

impl CopyLog {
    fn take(&self) -> Vec<Transfer> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Media for CopyLog {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.inner.write(offset, buf)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

impl DataMedia<PageBuf> for CopyLog {
    fn read_data(
        &self,
        offset: u64,
        dst: &mut PageBuf,
        at: usize,
        len: usize,
    ) -> Result<(), Error> {
        self.log.lock().unwrap().push(Transfer::Read { at, len });
        if let Some((byte, e)) = *self.fail.lock().unwrap() {
            if (offset..offset + len as u64).contains(&byte) {
                return Err(e);
            }
        }
        let d = dst.bytes.get_mut(at..at + len).ok_or(Error::Invalid)?;
        self.inner.read(offset, d)
    }

    fn write_data_unfenced(
        &self,
        offset: u64,
        src: &PageBuf,
        at: usize,
        len: usize,
    ) -> Result<(), Error> {
        self.log.lock().unwrap().push(Transfer::Write { at, len });
        let s = src.bytes.get(at..at + len).ok_or(Error::Invalid)?;
        self.inner.write_unfenced(offset, s)
    }
}

type TestBtt = Btt<CopyLog, StdPlatform>;

fn open(lbasize: u32) -> (TestBtt, Vec<HostLane>) {
    let media = CopyLog {
        inner: MemMedia::new(32 << 20),
        log: Mutex::new(Vec::new()),
        fail: Mutex::new(None),
    };
    let (btt, lanes): (TestBtt, LaneSet<StdPlatform>) = Btt::open(media, &cfg(lbasize)).unwrap();
    (btt, lanes.collect())
}

const SIZES: [u32; 5] = [512, 520, 4096, 4104, 4160];

#[test]
fn written_from_a_buffer_reads_back_both_ways() {
    for lbasize in SIZES {
        let (btt, mut lanes) = open(lbasize);
        let ss = btt.sector_size() as usize;
        let ms = btt.meta_size() as usize;
        let lane = &mut lanes[0];
        // Eight sectors in one buffer, written from a different offset each:
        // sector i of the device from slot 7 - i of the buffer.
        let mut src = PageBuf {
            bytes: Vec::with_capacity(8 * ss),
        };
        for i in 0..8u64 {
            src.bytes.extend(pattern(ss, 7 - i, 1));
        }
        btt.media().take();
        for lba in 0..8u64 {
            let meta = (ms > 0).then(|| meta_pattern(ms, lba, 1));
            btt.write_from(lane, lba, &src, (7 - lba as usize) * ss, meta.as_deref())
                .unwrap();
        }
        let copies = btt.media().take();
        let expect: Vec<Transfer> = (0..8)
            .map(|lba| Transfer::Write {
                at: (7 - lba) * ss,
                len: ss,
            })
            .collect();
        assert_eq!(copies, expect, "{lbasize}: one whole-sector copy per write");

        for lba in 0..8u64 {
            let mut s = vec![0u8; ss];
            let mut m = vec![0u8; ms];
            btt.read(lane, lba, &mut s, (ms > 0).then_some(&mut m[..]))
                .unwrap();
            assert_eq!(s, pattern(ss, lba, 1), "{lbasize}: slice read of {lba}");
            if ms > 0 {
                assert_eq!(m, meta_pattern(ms, lba, 1), "{lbasize}: meta of {lba}");
            }
        }
        // The same eight through the buffer call, into the middle of a
        // larger buffer; metadata too where there is some.
        let mut dst = PageBuf::untouched(10 * ss);
        let mut meta = vec![0u8; 8 * ms];
        btt.read_sectors_into(0, &mut dst, ss, 8 * ss, (ms > 0).then_some(&mut meta[..]))
            .unwrap();
        dst.assert_sectors(ss, ss, 0..8, 1, &format!("{lbasize}"));
        for lba in 0..8usize {
            if ms > 0 {
                assert_eq!(
                    meta[lba * ms..(lba + 1) * ms],
                    meta_pattern(ms, lba as u64, 1)[..]
                );
            }
        }
        for c in btt.media().take() {
            match c {
                Transfer::Read { at, len } => {
                    assert!(
                        at >= ss && at + len <= 9 * ss && len % ss == 0,
                        "{lbasize}: {c:?}"
                    )
                }
                Transfer::Write { .. } => panic!("{lbasize}: a read wrote the buffer to media"),
            }
        }
    }
}

#[test]
fn zero_flag_and_runs() {
    for lbasize in [512u32, 4096] {
        let (btt, mut lanes) = open(lbasize);
        let ss = btt.sector_size() as usize;
        let lane = &mut lanes[0];
        // A fresh BTT maps every block to itself: eight blocks in a row on
        // the media, so one copy brings them all.
        let mut dst = PageBuf::untouched(8 * ss);
        btt.media().take();
        btt.read_sectors_into(16, &mut dst, 0, 8 * ss, None)
            .unwrap();
        assert_eq!(
            btt.media().take(),
            vec![Transfer::Read { at: 0, len: 8 * ss }],
            "{lbasize}: one copy for a run"
        );
        assert!(
            dst.bytes.iter().all(|&b| b == 0),
            "{lbasize}: never written reads zeroes"
        );

        for lba in 0..8u64 {
            btt.write(lane, lba, &pattern(ss, lba, 2), None).unwrap();
        }
        btt.write_zeroes(lane, 2, 3).unwrap();
        // Into the middle of a larger buffer: the zeroes land at the
        // sectors' places in the range, not at the buffer's start.
        let mut dst = PageBuf::untouched(10 * ss);
        btt.media().take();
        btt.read_sectors_into(0, &mut dst, ss, 8 * ss, None)
            .unwrap();
        assert!(
            dst.bytes[..ss].iter().all(|&b| b == UNTOUCHED),
            "{lbasize}: before the range"
        );
        assert!(
            dst.bytes[9 * ss..].iter().all(|&b| b == UNTOUCHED),
            "{lbasize}: after the range"
        );
        for lba in 0..8usize {
            let got = &dst.bytes[(lba + 1) * ss..(lba + 2) * ss];
            if (2..5).contains(&lba) {
                assert!(got.iter().all(|&b| b == 0), "{lbasize}: zero-flagged {lba}");
            } else {
                assert_eq!(got, &pattern(ss, lba as u64, 2)[..], "{lbasize}: {lba}");
            }
        }
        let copied: Vec<usize> = btt
            .media()
            .take()
            .iter()
            .map(|c| match c {
                Transfer::Read { at, .. } => at / ss - 1,
                Transfer::Write { .. } => panic!("a read wrote"),
            })
            .collect();
        assert!(
            copied.iter().all(|s| !(2..5).contains(s)),
            "{lbasize}: zero-flagged sectors are filled, not copied: {copied:?}"
        );
    }
}

#[test]
fn out_of_range_is_refused_before_the_media() {
    for lbasize in [512u32, 4160] {
        let (btt, mut lanes) = open(lbasize);
        let ss = btt.sector_size() as usize;
        let lane = &mut lanes[0];
        let before = btt.media().inner.snapshot();
        let src = PageBuf {
            bytes: vec![7; 2 * ss],
        };
        for at in [ss + 1, 2 * ss, usize::MAX - 1] {
            assert_eq!(btt.write_from(lane, 0, &src, at, None), Err(Error::Invalid));
        }
        let mut dst = PageBuf::untouched(2 * ss);
        for (at, len) in [
            (0, 3 * ss),
            (ss, 2 * ss),
            (1, 2 * ss),
            (0, ss + 1),
            (0, 0),
            (usize::MAX, ss),
        ] {
            assert_eq!(
                btt.read_sectors_into(0, &mut dst, at, len, None),
                Err(Error::Invalid),
                "{lbasize}: at {at} len {len}"
            );
        }
        assert!(
            btt.media().take().is_empty(),
            "{lbasize}: the media saw a copy"
        );
        assert!(dst.bytes.iter().all(|&b| b == UNTOUCHED));
        assert!(
            btt.media().inner.snapshot() == before,
            "{lbasize}: media changed"
        );
    }
}

/// Reads longer than a batch (`READ_BATCH`, 8 sectors) go on at the right
/// place in the buffer; a media error inside a run of blocks is found block
/// by block, the blocks before it land at their places, and only that block
/// gets the map's error flag; a range the media refuses (`Invalid`) marks
/// nothing.
#[test]
fn long_reads_and_errors_in_a_run() {
    for lbasize in [512u32, 4096] {
        let (btt, mut lanes) = open(lbasize);
        let ss = btt.sector_size() as usize;
        let lane = &mut lanes[0];
        // A fresh map names each block itself: put a pattern in the blocks of
        // premap 0..20 directly, so that reads go by runs.
        let arena = *btt.arena(0).unwrap();
        for i in 0..20u32 {
            let off = arena.block_offset(i).unwrap();
            btt.media()
                .inner
                .write(off, &pattern(ss, u64::from(i), 3))
                .unwrap();
        }
        let mut dst = PageBuf::untouched(22 * ss);
        btt.read_sectors_into(0, &mut dst, ss, 20 * ss, None)
            .unwrap();
        dst.assert_sectors(ss, ss, 0..20, 3, &format!("{lbasize}: 20-sector read"));

        // A refused range (`Invalid`) at block 12: the read fails, nothing is
        // flagged, the same read then succeeds.
        let bad = arena.block_offset(12).unwrap();
        *btt.media().fail.lock().unwrap() = Some((bad, Error::Invalid));
        let mut dst = PageBuf::untouched(20 * ss);
        assert_eq!(
            btt.read_sectors_into(0, &mut dst, 0, 20 * ss, None),
            Err(Error::Invalid)
        );
        *btt.media().fail.lock().unwrap() = None;
        btt.read_sectors_into(12, &mut dst, 0, ss, None).unwrap();
        assert_eq!(
            dst.bytes[..ss],
            pattern(ss, 12, 3)[..],
            "{lbasize}: no flag"
        );

        // A media error at block 12, in the run of 8..16.
        *btt.media().fail.lock().unwrap() = Some((bad, Error::Io));
        let mut dst = PageBuf::untouched(21 * ss);
        assert_eq!(
            btt.read_sectors_into(0, &mut dst, ss, 20 * ss, None),
            Err(Error::Io)
        );
        for i in 0..12usize {
            let at = (i + 1) * ss;
            assert_eq!(
                dst.bytes[at..at + ss],
                pattern(ss, i as u64, 3)[..],
                "{lbasize}: sector {i} before the bad block"
            );
        }
        assert!(dst.bytes[..ss].iter().all(|&b| b == UNTOUCHED));
        *btt.media().fail.lock().unwrap() = None;
        let mut one = vec![0u8; ss];
        assert_eq!(
            btt.read(lane, 12, &mut one, None),
            Err(Error::Io),
            "{lbasize}: flagged"
        );
        for lba in [11u64, 13] {
            btt.read(lane, lba, &mut one, None).unwrap();
            assert_eq!(one, pattern(ss, lba, 3), "{lbasize}: {lba} not flagged");
        }
    }
}
