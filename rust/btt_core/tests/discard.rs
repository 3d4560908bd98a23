// SPDX-License-Identifier: GPL-2.0
//! Discard and write-zeroes (`Btt::write_zeroes`, issue 16 part 1): the zero
//! flag on the map entries of a range. Zeroed sectors read zeroes (data and
//! metadata), others are untouched, `btt check` finds nothing, every block
//! keeps one owner, and all of it survives a reopen; the corner cases are the
//! entry states (initial, zero, error), read-only and failed arenas, a write
//! after the zeroing, and writers and readers racing the zeroing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use btt_core::btt::check::check_btt;
use btt_core::btt::map::{Mapping, MAP_ERR_MASK, MAP_LBA_MASK, MAP_TRIM_MASK};
use btt_core::btt::{Btt, Config, Error, Media, ZeroStats};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

const SIZE: usize = 16 * MIB;

/// Memory media that counts writes and fails them while `fail` is set.
struct Media2 {
    inner: PoisonMedia,
    writes: AtomicUsize,
    fail: AtomicBool,
}

impl Media2 {
    fn new() -> Self {
        Self {
            inner: PoisonMedia::new(MemMedia::new(SIZE)),
            writes: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        }
    }
}

impl Media for Media2 {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Io);
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write(offset, buf)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn is_poisoned(&self, offset: u64, len: u64) -> bool {
        self.inner.is_poisoned(offset, len)
    }
}

type B<'a> = HostBtt<&'a Media2>;

fn open<'a>(media: &'a Media2, c: &Config) -> (B<'a>, Vec<HostLane>) {
    let (btt, lanes) = Btt::<_, StdPlatform>::open(media, c).expect("open");
    (btt, lanes.collect())
}

fn raw_entry<M: Media>(btt: &HostBtt<M>, lba: u64) -> u32 {
    let a = btt.arena(0).unwrap();
    let mut raw = [0u8; 4];
    btt.media()
        .read(a.map_entry_offset(lba as u32).unwrap(), &mut raw)
        .unwrap();
    u32::from_le_bytes(raw)
}

fn set_entry<M: Media>(btt: &HostBtt<M>, lba: u64, raw: u32) {
    let a = btt.arena(0).unwrap();
    btt.media()
        .write(a.map_entry_offset(lba as u32).unwrap(), &raw.to_le_bytes())
        .unwrap();
}

fn write_gen<M: Media>(btt: &HostBtt<M>, lane: &mut HostLane, lba: u64, gen: u64) {
    let ss = btt.sector_size() as usize;
    let meta = meta_pattern(btt.meta_size() as usize, lba, gen);
    let meta = (!meta.is_empty()).then_some(&meta[..]);
    btt.write(lane, lba, &pattern(ss, lba, gen), meta).unwrap();
}

/// The generation a sector holds (0: zeroes, data and metadata), or an error.
fn read_gen<M: Media>(btt: &HostBtt<M>, lane: &mut HostLane, lba: u64) -> Result<u64, Error> {
    let mut data = vec![0xa5u8; btt.sector_size() as usize];
    let mut meta = vec![0xa5u8; btt.meta_size() as usize];
    let m = (!meta.is_empty()).then_some(&mut meta[..]);
    btt.read(lane, lba, &mut data, m)?;
    let gen = match identify(&data) {
        Some((u64::MAX, 0)) => 0,
        Some((l, g)) if l == lba => g,
        other => panic!("lba {lba}: not a sector of it: {other:?}"),
    };
    let want = if gen == 0 {
        vec![0u8; meta.len()]
    } else {
        meta_pattern(meta.len(), lba, gen)
    };
    assert_eq!(meta, want, "lba {lba}: metadata of generation {gen}");
    Ok(gen)
}

fn assert_clean<M: Media>(media: &M, c: &Config) {
    let sum = check_btt::<_, StdPlatform>(media, c, |f| {
        assert!(!f.is_problem(), "check: {f}");
    })
    .expect("check");
    assert_eq!(sum.problems, 0);
}

/// Write, zero a range, read back, check, reopen, write again: for each
/// kind of sector (512, 4096, and 520 with metadata).
#[test]
fn zeroed_sectors_read_zeroes_and_keep_their_blocks() {
    for lbasize in [512u32, 4096, 520] {
        let media = Media2::new();
        let c = cfg(lbasize);
        let (btt, mut lanes) = open(&media, &c);
        for lba in 0..32 {
            write_gen(&btt, &mut lanes[(lba % 3) as usize], lba, 1);
        }
        let before: Vec<u32> = (0..40).map(|l| raw_entry(&btt, l)).collect();
        let free_before: Vec<u32> = lanes
            .iter()
            .map(|l| l.free_entry(0).unwrap().block)
            .collect();
        let w0 = media.writes.load(Ordering::SeqCst);
        // 8..24 written, 30..40 partly never written (initial entries).
        let s = btt.write_zeroes(&mut lanes[1], 8, 16).unwrap();
        assert_eq!(
            s,
            ZeroStats {
                flagged: 16,
                already: 0,
                rewritten: 0
            }
        );
        let s = btt.write_zeroes(&mut lanes[2], 30, 10).unwrap();
        assert_eq!(s.flagged, 10);
        // One 4-byte map write per sector, nothing else.
        assert_eq!(
            media.writes.load(Ordering::SeqCst) - w0,
            26,
            "lbasize {lbasize}"
        );
        for l in 0..40u64 {
            let zeroed = (8..24).contains(&l) || (30..40).contains(&l);
            let raw = raw_entry(&btt, l);
            let was = Mapping::decode(l as u32, before[l as usize]);
            let now = Mapping::decode(l as u32, raw);
            assert_eq!(now.postmap, was.postmap, "lba {l} changed its block");
            if zeroed {
                assert_eq!(raw, was.postmap | MAP_TRIM_MASK, "lba {l}");
            } else {
                assert_eq!(raw, before[l as usize], "lba {l}");
            }
            let want = if zeroed || l >= 32 { 0 } else { 1 };
            assert_eq!(read_gen(&btt, &mut lanes[0], l), Ok(want), "lba {l}");
        }
        let free_now: Vec<u32> = lanes
            .iter()
            .map(|l| l.free_entry(0).unwrap().block)
            .collect();
        assert_eq!(free_now, free_before, "the free list changed");
        // Again: nothing to do, nothing written.
        let w1 = media.writes.load(Ordering::SeqCst);
        let s = btt.write_zeroes(&mut lanes[1], 8, 16).unwrap();
        assert_eq!(
            s,
            ZeroStats {
                flagged: 0,
                already: 16,
                rewritten: 0
            }
        );
        assert_eq!(media.writes.load(Ordering::SeqCst), w1);
        drop(lanes);
        drop(btt);
        assert_clean(&&media, &c);

        // Reopen (full ownership check at open): the same reads.
        let (btt, mut lanes) = open(&media, &c);
        for l in 0..40u64 {
            let zeroed = (8..24).contains(&l) || (30..40).contains(&l);
            let want = if zeroed || l >= 32 { 0 } else { 1 };
            assert_eq!(read_gen(&btt, &mut lanes[0], l), Ok(want), "lba {l}");
        }
        // A later write takes the normal path: the zeroed entry's block goes
        // to the free list, the entry is normal again.
        let old = Mapping::decode(10, raw_entry(&btt, 10)).postmap;
        let free = lanes[4].free_entry(0).unwrap().block;
        write_gen(&btt, &mut lanes[4], 10, 2);
        assert_eq!(raw_entry(&btt, 10), free | MAP_ERR_MASK | MAP_TRIM_MASK);
        assert_eq!(lanes[4].free_entry(0).unwrap().block, old);
        assert_eq!(read_gen(&btt, &mut lanes[0], 10), Ok(2));
        // And the freed block is reused by the next write of that lane.
        write_gen(&btt, &mut lanes[4], 35, 2);
        assert_eq!(raw_entry(&btt, 35) & MAP_LBA_MASK, old);
        assert_eq!(read_gen(&btt, &mut lanes[0], 35), Ok(2));
        drop(lanes);
        drop(btt);
        assert_clean(&&media, &c);
        let (btt, mut lanes) = open(&media, &c);
        assert_eq!(read_gen(&btt, &mut lanes[0], 10), Ok(2));
        assert_eq!(read_gen(&btt, &mut lanes[0], 11), Ok(0));
        assert_eq!(read_gen(&btt, &mut lanes[0], 35), Ok(2));
        assert_eq!(read_gen(&btt, &mut lanes[0], 7), Ok(1));
    }
}

/// An entry in the initial state reads its identity block: zeroed, it reads
/// zeroes even when that block holds data, and it keeps naming the block.
#[test]
fn an_initial_entry_keeps_its_identity_block() {
    let media = Media2::new();
    let c = cfg(4096);
    let (btt, mut lanes) = open(&media, &c);
    let a = *btt.arena(0).unwrap();
    // Low bits set in an initial entry are ignored (C `btt_map_read()`).
    set_entry(&btt, 5, 1234);
    media
        .write(a.block_offset(5).unwrap(), &pattern(4096, 5, 9))
        .unwrap();
    assert_eq!(read_gen(&btt, &mut lanes[0], 5), Ok(9));
    btt.write_zeroes(&mut lanes[0], 5, 1).unwrap();
    assert_eq!(raw_entry(&btt, 5), 5 | MAP_TRIM_MASK);
    assert_eq!(read_gen(&btt, &mut lanes[0], 5), Ok(0));
    drop(lanes);
    drop(btt);
    assert_clean(&&media, &c);
}

/// An entry with the error flag cannot take the zero flag (Z|E is a normal
/// entry in the C format): it gets a normal write of zeroes, the bad block
/// goes to the free list and is cleared.
#[test]
fn an_error_entry_gets_a_normal_write_of_zeroes() {
    for lbasize in [4096u32, 520] {
        let media = Media2::new();
        let c = cfg(lbasize);
        let (btt, mut lanes) = open(&media, &c);
        let a = *btt.arena(0).unwrap();
        for lba in 0..4 {
            write_gen(&btt, &mut lanes[0], lba, 1);
        }
        let bad = raw_entry(&btt, 2) & MAP_LBA_MASK;
        media
            .inner
            .poison(a.block_offset(bad).unwrap(), u64::from(a.internal_lbasize));
        assert_eq!(read_gen(&btt, &mut lanes[1], 2), Err(Error::Io));
        assert_eq!(raw_entry(&btt, 2), bad | MAP_ERR_MASK, "read set E");
        let free = lanes[3].free_entry(0).unwrap().block;
        let s = btt.write_zeroes(&mut lanes[3], 1, 3).unwrap();
        assert_eq!(
            s,
            ZeroStats {
                flagged: 2,
                already: 0,
                rewritten: 1
            }
        );
        assert_eq!(raw_entry(&btt, 2), free | MAP_ERR_MASK | MAP_TRIM_MASK);
        let f = lanes[3].free_entry(0).unwrap();
        assert_eq!((f.block, f.has_err), (bad, false));
        assert_eq!(media.inner.poisoned(), 0, "the bad block was not cleared");
        for lba in 0..4 {
            let want = if lba == 0 { 1 } else { 0 };
            assert_eq!(read_gen(&btt, &mut lanes[1], lba), Ok(want), "lba {lba}");
        }
        drop(lanes);
        drop(btt);
        assert_clean(&&media, &c);
        let (btt, mut lanes) = open(&media, &c);
        assert_eq!(read_gen(&btt, &mut lanes[1], 2), Ok(0));
    }
}

/// The errors of `write`: read-only, failed arena, out of range; nothing
/// written by a refused call.
#[test]
fn refused_as_writes_are() {
    let media = Media2::new();
    let c = cfg(512);
    let (btt, mut lanes) = open(&media, &c);
    write_gen(&btt, &mut lanes[0], 3, 1);
    let n = btt.nlba();
    assert_eq!(btt.write_zeroes(&mut lanes[0], n, 1), Err(Error::Invalid));
    assert_eq!(
        btt.write_zeroes(&mut lanes[0], n - 2, 3),
        Err(Error::Invalid)
    );
    assert_eq!(
        btt.write_zeroes(&mut lanes[0], u64::MAX, 2),
        Err(Error::Invalid)
    );
    assert_eq!(
        btt.write_zeroes(&mut lanes[0], 3, 0),
        Ok(ZeroStats::default())
    );
    assert_eq!(read_gen(&btt, &mut lanes[0], 3), Ok(1));
    // The last sector can be zeroed.
    assert_eq!(
        btt.write_zeroes(&mut lanes[0], n - 1, 1).map(|s| s.flagged),
        Ok(1)
    );
    // A lane of another BTT.
    let other = Media2::new();
    let (btt2, mut lanes2) = open(&other, &c);
    assert_eq!(btt.write_zeroes(&mut lanes2[0], 3, 1), Err(Error::Invalid));
    drop((btt2, lanes2));
    drop(lanes);
    drop(btt);

    let mut ro = c;
    ro.read_only = true;
    let (btt, mut lanes) = open(&media, &ro);
    assert_eq!(btt.write_zeroes(&mut lanes[0], 3, 1), Err(Error::ReadOnly));
    assert_eq!(read_gen(&btt, &mut lanes[0], 3), Ok(1));
    drop(lanes);
    drop(btt);

    // A failed map write of a write stops the arena (its flog entry landed,
    // only the next open can finish it): zeroing fails with EIO, as writes.
    let fail_map = FailAt {
        inner: &media,
        left: AtomicUsize::new(usize::MAX),
    };
    let (btt, lanes) = Btt::<_, StdPlatform>::open(&fail_map, &c).unwrap();
    let mut lanes: Vec<HostLane> = lanes.collect();
    let ss = btt.sector_size() as usize;
    // Data, the flog entry's two halves, then the map write fails.
    fail_map.left.store(3, Ordering::SeqCst);
    assert_eq!(
        btt.write(&mut lanes[1], 5, &pattern(ss, 5, 1), None),
        Err(Error::Io)
    );
    assert!(btt.arena_write_failed(0));
    fail_map.left.store(usize::MAX, Ordering::SeqCst);
    let w = media.writes.load(Ordering::SeqCst);
    assert_eq!(btt.write_zeroes(&mut lanes[0], 3, 1), Err(Error::Io));
    assert_eq!(
        media.writes.load(Ordering::SeqCst),
        w,
        "a refused zeroing wrote"
    );
    assert_eq!(read_gen(&btt, &mut lanes[0], 3), Ok(1));
    drop(lanes);
    drop(btt);
    // The next open rolls the write forward; zeroing works again.
    let (btt, mut lanes) = open(&media, &c);
    assert_eq!(read_gen(&btt, &mut lanes[0], 5), Ok(1));
    btt.write_zeroes(&mut lanes[0], 3, 3).unwrap();
    assert_eq!(read_gen(&btt, &mut lanes[0], 5), Ok(0));
    drop(lanes);
    drop(btt);
    assert_clean(&&media, &c);
}

/// Fails every write once `left` writes have passed.
struct FailAt<'a> {
    inner: &'a Media2,
    left: AtomicUsize,
}

impl Media for FailAt<'_> {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        let ok = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !ok {
            return Err(Error::Io);
        }
        self.inner.write(offset, buf)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

/// A failing map write of a zeroing returns its error and stops nothing:
/// the entry names the same block either way.
#[test]
fn a_failed_flag_write_stops_nothing() {
    let media = Media2::new();
    let c = cfg(512);
    let (btt, mut lanes) = open(&media, &c);
    write_gen(&btt, &mut lanes[0], 3, 1);
    media.fail.store(true, Ordering::SeqCst);
    assert_eq!(btt.write_zeroes(&mut lanes[0], 2, 3), Err(Error::Io));
    media.fail.store(false, Ordering::SeqCst);
    assert!(!btt.arena_write_failed(0));
    assert_eq!(read_gen(&btt, &mut lanes[0], 3), Ok(1));
    btt.write_zeroes(&mut lanes[0], 2, 3).unwrap();
    assert_eq!(read_gen(&btt, &mut lanes[0], 3), Ok(0));
    write_gen(&btt, &mut lanes[1], 3, 2);
    assert_eq!(read_gen(&btt, &mut lanes[0], 3), Ok(2));
    drop(lanes);
    drop(btt);
    assert_clean(&&media, &c);
}

/// Writers, readers and zeroing of the same sectors at once, on their own
/// lanes: every read is a whole generation or zeroes, and afterwards the
/// image is clean and each sector holds what its last operation left.
#[test]
fn zeroing_races_writes_and_reads() {
    let media = Media2::new();
    let c = cfg(512);
    let (btt, lanes) = open(&media, &c);
    let mut lanes = lanes.into_iter();
    let lbas = 16u64;
    let mut wl = lanes.next().unwrap();
    let mut zl = lanes.next().unwrap();
    let mut rl = lanes.next().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for gen in 1..=200u64 {
                write_gen(&btt, &mut wl, gen % lbas, gen);
            }
            // Last: every sector written after the last zeroing below.
            stop.store(true, Ordering::SeqCst);
        });
        s.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                btt.write_zeroes(&mut zl, i % lbas, 3.min(lbas - i % lbas))
                    .unwrap();
                i += 1;
            }
        });
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                for l in 0..lbas {
                    read_gen(&btt, &mut rl, l).unwrap();
                }
            }
        });
    });
    // Each sector holds zeroes or one of its generations.
    for l in 0..lbas {
        let g = read_gen(&btt, &mut rl, l).unwrap();
        assert!(g == 0 || g % lbas == l, "lba {l}: {g}");
    }
    drop((wl, zl, rl));
    drop(btt);
    assert_clean(&&media, &c);
}
