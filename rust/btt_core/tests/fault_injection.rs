// SPDX-License-Identifier: GPL-2.0
//! Failing media writes (issue 13, part 2): a media write that returns an
//! error, with nothing written, with everything written (an error from
//! `nvdimm_flush()` after the bytes reached media), or torn (some 8-byte units
//! landed), at every media-write index of a few workloads.
//!
//! After the fault the other lanes go on: once a metadata (flog or map) write
//! of an arena failed, every later write to that arena must fail, also one
//! that was already waiting on the map lock; a write that failed at the data
//! stage changes nothing and the lanes keep writing. Then the image is
//! reopened, with `full_check` on and off, and:
//! - open succeeds, the arena is writable and no block has two owners (the
//!   full check at open, and `check_btt` after open's recovery);
//! - every sector reads its last acknowledged generation, or wholly the
//!   generation of a write that failed after it (data and metadata alike);
//! - every lane writes, and all of it reads back, also after one more open.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use btt_core::btt::check::check_btt;
use btt_core::btt::{Btt, Config, Error, Lane, LockTable, Media, Platform};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

/// Smallest media that holds an arena.
const SIZE: usize = 16 * MIB;
const NLANES: u32 = 3;

/// How the injected write fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Error, nothing written.
    Nothing,
    /// Error after every byte landed.
    Landed,
    /// The first half of the 8-byte units landed, then an error.
    FirstHalf,
    /// Every other 8-byte unit landed, then an error.
    EveryOther,
}

impl Fault {
    /// The faults that make sense for a write of `len` bytes: a write of one
    /// 8-byte unit or less is atomic, it cannot tear.
    fn for_len(len: usize) -> &'static [Fault] {
        if len > 8 {
            &[
                Fault::Nothing,
                Fault::Landed,
                Fault::FirstHalf,
                Fault::EveryOther,
            ]
        } else {
            &[Fault::Nothing, Fault::Landed]
        }
    }
}

/// Media that counts writes and fails the one at index `at` as `fault` says,
/// calling `hook` before it returns the error (with the writer's locks held).
struct FaultMedia<'a, M: Media> {
    inner: &'a M,
    count: AtomicUsize,
    at: Option<(usize, Fault)>,
    hook: Option<&'a (dyn Fn() + Send + Sync)>,
    /// Every write seen: offset and length.
    log: Mutex<Vec<(u64, usize)>>,
}

impl<'a, M: Media> FaultMedia<'a, M> {
    fn new(inner: &'a M, at: Option<(usize, Fault)>) -> Self {
        Self {
            inner,
            count: AtomicUsize::new(0),
            at,
            hook: None,
            log: Mutex::new(Vec::new()),
        }
    }

    fn writes(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl<M: Media> Media for FaultMedia<'_, M> {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        let i = self.count.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push((offset, buf.len()));
        let Some((_, fault)) = self.at.filter(|(at, _)| *at == i) else {
            return self.inner.write(offset, buf);
        };
        let units = buf.len().div_ceil(8);
        let landed = |u: usize| match fault {
            Fault::Nothing => false,
            Fault::Landed => true,
            Fault::FirstHalf => u < units / 2,
            Fault::EveryOther => u % 2 == 0,
        };
        for (u, chunk) in buf.chunks(8).enumerate() {
            if landed(u) {
                self.inner.write(offset + 8 * u as u64, chunk)?;
            }
        }
        if let Some(hook) = self.hook {
            hook();
        }
        Err(Error::Io)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

/// Writers blocked in [`ObsLocks::lock`] right now (one test uses it).
static WAITERS: AtomicUsize = AtomicUsize::new(0);

/// [`StdPlatform`] with map locks that count their waiters, so that the
/// fault media can hold a failing write until other writers really wait on
/// the map lock it holds.
struct ObsPlatform;

struct ObsLocks(Box<[Mutex<()>]>);

impl LockTable for ObsLocks {
    type Guard<'a> = MutexGuard<'a, ()>;

    fn lock(&self, index: usize) -> Self::Guard<'_> {
        let m = &self.0[index];
        if let Ok(g) = m.try_lock() {
            return g;
        }
        WAITERS.fetch_add(1, Ordering::SeqCst);
        let g = m.lock().unwrap_or_else(PoisonError::into_inner);
        WAITERS.fetch_sub(1, Ordering::SeqCst);
        g
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl Platform for ObsPlatform {
    type Slice<T: Send + Sync> = Box<[T]>;

    fn try_slice<T: Send + Sync>(
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> Result<Self::Slice<T>, Error> {
        StdPlatform::try_slice(len, f)
    }

    type LockTable = ObsLocks;

    fn try_lock_table(len: usize) -> Result<Self::LockTable, Error> {
        Ok(ObsLocks((0..len).map(|_| Mutex::new(())).collect()))
    }

    fn wait_hint() {
        std::thread::yield_now();
    }
}

fn config(lbasize: u32, full_check: bool) -> Config {
    let mut c = cfg(lbasize);
    c.nlanes = NLANES;
    c.full_check = full_check;
    c
}

/// What each sector may read: its last acknowledged generation (0: zeroes)
/// and the generations of writes that failed after it.
#[derive(Default, Clone)]
struct Model {
    acked: HashMap<u64, u64>,
    maybe: HashMap<u64, Vec<u64>>,
}

impl Model {
    fn ack(&mut self, lba: u64, gen: u64) {
        self.acked.insert(lba, gen);
        self.maybe.remove(&lba);
    }

    fn fail(&mut self, lba: u64, gen: u64) {
        self.maybe.entry(lba).or_default().push(gen);
    }

    fn lbas(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .acked
            .keys()
            .chain(self.maybe.keys())
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Checks that every sector reads one allowed generation, wholly.
    fn check<M: Media, P: Platform>(&self, btt: &Btt<M, P>, lane: &mut Lane<P>, what: &str) {
        let ss = btt.sector_size() as usize;
        let ms = btt.meta_size() as usize;
        let mut buf = vec![0u8; ss];
        let mut meta = vec![0u8; ms];
        for lba in self.lbas() {
            let m = (ms > 0).then_some(&mut meta[..]);
            btt.read(lane, lba, &mut buf, m)
                .unwrap_or_else(|e| panic!("{what}: read {lba}: {e}"));
            let acked = self.acked.get(&lba).copied().unwrap_or(0);
            let gen = match identify(&buf) {
                Some((u64::MAX, 0)) => 0,
                Some((l, g)) if l == lba => g,
                other => panic!("{what}: lba {lba} reads {other:?} (torn or another's)"),
            };
            let ok = gen == acked || self.maybe.get(&lba).is_some_and(|v| v.contains(&gen));
            assert!(
                ok,
                "{what}: lba {lba} reads generation {gen}, acknowledged {acked}, failed {:?}",
                self.maybe.get(&lba)
            );
            if ms > 0 {
                let want = if gen == 0 {
                    vec![0; ms]
                } else {
                    meta_pattern(ms, lba, gen)
                };
                assert_eq!(
                    meta, want,
                    "{what}: lba {lba} metadata of another generation"
                );
            }
        }
    }
}

/// Writes `(lba, gen)` with its metadata pattern.
fn write<M: Media, P: Platform>(
    btt: &Btt<M, P>,
    lane: &mut Lane<P>,
    lba: u64,
    gen: u64,
) -> Result<(), Error> {
    let ss = btt.sector_size() as usize;
    let ms = btt.meta_size() as usize;
    let meta = meta_pattern(ms, lba, gen);
    btt.write(
        lane,
        lba,
        &pattern(ss, lba, gen),
        (ms > 0).then_some(&meta[..]),
    )
}

/// A BTT with sectors 0..8 written once (generation 1) by all lanes in turn,
/// so that the lanes' free blocks are no longer the initial ones.
fn base_image(lbasize: u32) -> (Vec<u8>, Model) {
    let media = MemMedia::new(SIZE);
    let mut model = Model::default();
    {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &config(lbasize, true)).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        for lba in 0..8u64 {
            write(&btt, &mut lanes[lba as usize % 3], lba, 1).unwrap();
            model.ack(lba, 1);
        }
    }
    (media.into_vec(), model)
}

/// Whether a write at `offset` is BTT metadata (map or flog), not data.
fn is_metadata(base: &[u8], offset: u64) -> bool {
    let media = MemMedia::from_vec(base[..2 * MIB].to_vec());
    let mut raw = [0u8; 4096];
    media.read(0, &mut raw).unwrap();
    let sb = btt_core::btt::info::InfoBlock::decode(&raw);
    offset >= sb.mapoff && offset < sb.info2off
}

/// The checks after the faulty session, on the image it left (`pages` over
/// `base`), with `full_check` on and off.
fn verify(base: &[u8], pages: &Pages, lbasize: u32, model: &Model, what: &str) {
    for full_check in [true, false] {
        let what = format!("{what}, reopened with full_check={full_check}");
        let media = Layered::new(base, pages);
        let mut model = model.clone();
        {
            let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &config(lbasize, full_check))
                .unwrap_or_else(|e| panic!("{what}: open: {e}"));
            let mut lanes: Vec<_> = lanes.collect();
            assert_eq!(btt.arena_flog_damage(0), None, "{what}");
            assert!(btt.arena_writable(0), "{what}: not writable");
            no_double_owner(&media, lbasize, &what);
            model.check(&btt, &mut lanes[0], &what);
            // Every lane writes: the sector of the fault and the others.
            for (i, lane) in lanes.iter_mut().enumerate() {
                for lba in [1u64, 2, 3, 9 + i as u64] {
                    let gen = 1000 + lba * 10 + i as u64;
                    write(&btt, lane, lba, gen)
                        .unwrap_or_else(|e| panic!("{what}: lane {i} write {lba}: {e}"));
                    model.ack(lba, gen);
                }
            }
            model.check(&btt, &mut lanes[1], &format!("{what}, after writes"));
        }
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &config(lbasize, true))
            .unwrap_or_else(|e| panic!("{what}: third open: {e}"));
        let mut lanes: Vec<_> = lanes.collect();
        assert_eq!(btt.arena_flog_damage(0), None, "{what}, third open");
        no_double_owner(&media, lbasize, &what);
        model.check(&btt, &mut lanes[2], &format!("{what}, third open"));
    }
}

/// `btt check`: no finding that is a problem (a block owned twice, a block
/// nobody owns, a bad flog lane).
fn no_double_owner<M: Media>(media: &M, lbasize: u32, what: &str) {
    let mut problems = Vec::new();
    check_btt::<M, StdPlatform>(media, &config(lbasize, true), |f| {
        if f.is_problem() {
            problems.push(f.to_string());
        }
    })
    .unwrap_or_else(|e| panic!("{what}: check: {e}"));
    assert!(problems.is_empty(), "{what}: {problems:?}");
}

/// Three lanes, in turn, writing overlapping sectors (1, 2, 3 share a map
/// lock).
const OPS: &[(usize, u64)] = &[
    (0, 1),
    (1, 1),
    (2, 1),
    (0, 2),
    (1, 3),
    (2, 2),
    (0, 1),
    (1, 2),
    (2, 3),
    (0, 3),
];

/// One faulty session of the interleaved workload; returns its write log.
fn sequential_trial(
    base: &[u8],
    pre: &Model,
    lbasize: u32,
    at: Option<(usize, Fault)>,
) -> Vec<(u64, usize)> {
    let what = format!("{lbasize}: fault {at:?}");
    let empty = Pages::new();
    let layered = Layered::new(base, &empty);
    let media = FaultMedia::new(&layered, at);
    let mut model = pre.clone();
    {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &config(lbasize, true)).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        assert_eq!(media.writes(), 0, "open wrote");
        let mut stopped = false;
        for (k, &(lane, lba)) in OPS.iter().enumerate() {
            let gen = 2 + k as u64;
            let before = media.writes();
            let r = write(&btt, &mut lanes[lane], lba, gen);
            let after = media.writes();
            let hit = at.is_some_and(|(i, _)| before <= i && i < after);
            if hit {
                assert!(r.is_err(), "{what}: op {k} hit the fault and succeeded");
                let (off, _) = media.log.lock().unwrap()[at.unwrap().0];
                stopped = is_metadata(base, off);
                model.fail(lba, gen);
            } else if stopped {
                assert_eq!(r, Err(Error::Io), "{what}: op {k} after a metadata fault");
                assert_eq!(before, after, "{what}: op {k} wrote after a metadata fault");
            } else {
                r.unwrap_or_else(|e| panic!("{what}: op {k}: {e}"));
                model.ack(lba, gen);
            }
        }
        assert_eq!(btt.arena_writable(0), !stopped, "{what}");
        // Reads go on.
        model.check(&btt, &mut lanes[0], &format!("{what}, same session"));
    }
    let log = media.log.into_inner().unwrap();
    if at.is_some() {
        let pages = layered.top.into_inner().unwrap();
        verify(base, &pages, lbasize, &model, &what);
    }
    log
}

/// Every fault at every write index of the interleaved workload; returns the
/// number of injection points.
fn sequential(lbasize: u32) -> usize {
    let (base, pre) = base_image(lbasize);
    let log = sequential_trial(&base, &pre, lbasize, None);
    let mut points = 0;
    for (i, &(_, len)) in log.iter().enumerate() {
        for &fault in Fault::for_len(len) {
            sequential_trial(&base, &pre, lbasize, Some((i, fault)));
            points += 1;
        }
    }
    points
}

/// Lane 0 writes sector 1; when its metadata write number `meta` (0: the
/// first flog half, 1: the second, 2: the map entry) fails, lanes 1 and 2
/// start writing sectors 1 and 2 (same map lock), and the failing write
/// returns only once both wait on the map lock it holds. They must fail.
fn racing_trial(base: &[u8], pre: &Model, meta: usize, fault: Fault) {
    let lbasize = 4096;
    let what = format!("race: lane 0's metadata write {meta} fails ({fault:?})");
    let empty = Pages::new();
    let layered = Layered::new(base, &empty);
    let start = Barrier::new(3);
    let hook = || {
        start.wait();
        let t = Instant::now();
        while WAITERS.load(Ordering::SeqCst) < 2 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the other writers never waited on the map lock"
            );
            std::thread::yield_now();
        }
        // Give them a moment to be truly asleep in the lock.
        std::thread::sleep(Duration::from_millis(2));
    };
    // Lane 0's write: the data block first, then the metadata.
    let mut media = FaultMedia::new(&layered, Some((1 + meta, fault)));
    media.hook = Some(&hook);
    let mut model = pre.clone();
    {
        let (btt, lanes) = Btt::<_, ObsPlatform>::open(&media, &config(lbasize, true)).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        let mut l2 = lanes.pop().unwrap();
        let mut l1 = lanes.pop().unwrap();
        let mut l0 = lanes.pop().unwrap();
        let (r0, r1, r2) = std::thread::scope(|s| {
            let (btt, start) = (&btt, &start);
            let t1 = s.spawn(move || {
                start.wait();
                write(btt, &mut l1, 1, 21)
            });
            let t2 = s.spawn(move || {
                start.wait();
                write(btt, &mut l2, 2, 22)
            });
            let r0 = write(btt, &mut l0, 1, 20);
            (r0, t1.join().unwrap(), t2.join().unwrap())
        });
        assert!(r0.is_err(), "{what}: the faulty write succeeded");
        model.fail(1, 20);
        let mut went_on = Vec::new();
        for (lba, gen, r) in [(1, 21, r1), (2, 22, r2)] {
            match r {
                // Checked below, after the image: what it does to the
                // metadata tells more than the return value.
                Ok(()) => {
                    model.ack(lba, gen);
                    went_on.push(lba);
                }
                Err(e) => {
                    assert_eq!(e, Error::Io, "{what}: lba {lba}");
                    model.fail(lba, gen);
                }
            }
        }
        assert!(!btt.arena_writable(0), "{what}");
        model.check(&btt, &mut l0, &format!("{what}, same session"));
        drop(btt);
        let pages = layered.top.into_inner().unwrap();
        verify(base, &pages, lbasize, &model, &what);
        assert!(
            went_on.is_empty(),
            "{what}: writers of {went_on:?} waiting on the map lock went on"
        );
    }
}

#[test]
fn failing_media_writes_never_give_a_block_two_owners() {
    let mut points = 0;
    let (base, pre) = base_image(4096);
    for meta in 0..3 {
        for fault in [Fault::Nothing, Fault::Landed] {
            racing_trial(&base, &pre, meta, fault);
            points += 1;
        }
    }
    for lbasize in [4096, 512, 520] {
        let n = sequential(lbasize);
        eprintln!("{lbasize}: {n} injection points");
        points += n;
    }
    eprintln!("fault injection: {points} injection points checked");
}
