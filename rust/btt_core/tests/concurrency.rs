// SPDX-License-Identifier: GPL-2.0
//! Random concurrent writes and reads against a plain model.
//!
//! Several threads, each with its own [`Lane`] from `Btt::open`, write and
//! read random sectors of a small BTT (512, 4096 and, with integrity
//! metadata, 520 and 4160 byte sectors):
//!
//! 1. Disjoint phase: each thread owns its own set of LBAs, so a plain map
//!    `lba -> generation` per thread says exactly what every read must return.
//! 2. Shared phase: all threads hammer a few shared LBAs (so free blocks move
//!    between lanes and writers must wait for readers in the read tracking
//!    table). Every read must return one whole version ever written to that
//!    LBA (data and metadata of the same generation), and not a stale one: no
//!    version that was entirely overwritten before the read began.
//! 3. The BTT is reopened (with the full ownership check) and every sector
//!    reads back what it read before.
//!
//! The media stalls readers at random (see [`Jittery`]). With it, this test
//! fails when the writer's wait on the read tracking table or the reader's
//! second look at the map is taken out of `io.rs` (checked by hand).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use btt_core::btt::{Btt, Error, Media};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

/// Memory media that now and then stalls a reader before it copies (yields
/// or sleeps a little), so that readers are overtaken by writers between
/// reading the map and copying the block: what the read tracking table is
/// for. Without the stalls a 2-CPU host almost never interleaves there.
struct Jittery {
    inner: MemMedia,
    tick: AtomicU64,
}

impl Jittery {
    fn new(size: usize) -> Self {
        Self {
            inner: MemMedia::new(size),
            tick: AtomicU64::new(0x2545_f491_4f6c_dd1d),
        }
    }

    fn stall(&self) {
        let mut x = self
            .tick
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 32;
        match x % 16 {
            0 => std::thread::sleep(std::time::Duration::from_micros(20)),
            1..=4 => std::thread::yield_now(),
            _ => {}
        }
    }
}

impl Media for Jittery {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.stall();
        self.inner.read(offset, buf)?;
        self.stall();
        Ok(())
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.inner.write(offset, buf)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

type TestBtt = HostBtt<Jittery>;

const MIB: usize = 1 << 20;
const THREADS: usize = 4;
/// LBAs the threads own in the disjoint phase (spread over the device).
const HOT: u64 = 96;
/// LBAs all threads share in the shared phase.
const SHARED: u64 = 8;
const OPS: usize = 2500;

/// One version of a shared sector: written from `start` to `end` (logical clock).
#[derive(Clone, Copy, Debug)]
struct Version {
    gen: u64,
    start: u64,
    end: u64,
}

#[derive(Clone, Copy, Debug)]
struct ReadObs {
    lba: u64,
    gen: u64,
    start: u64,
    end: u64,
}

struct Sizes {
    ss: usize,
    meta: usize,
}

impl Sizes {
    fn meta_buf(&self) -> Option<Vec<u8>> {
        (self.meta > 0).then(|| vec![0u8; self.meta])
    }
}

fn write(btt: &TestBtt, lane: &mut HostLane, s: &Sizes, lba: u64, gen: u64) {
    let data = pattern(s.ss, lba, gen);
    let meta = meta_pattern(s.meta, lba, gen);
    let meta = (s.meta > 0).then_some(&meta[..]);
    btt.write(lane, lba, &data, meta)
        .unwrap_or_else(|e| panic!("write lba {lba} gen {gen:#x}: {e}"));
}

/// Reads `lba` and returns the generation it holds (0 for zeroes), checking
/// that data and metadata are whole and of the same generation.
fn read(btt: &TestBtt, lane: &mut HostLane, s: &Sizes, lba: u64) -> u64 {
    let mut data = vec![0u8; s.ss];
    let mut meta = s.meta_buf();
    btt.read(lane, lba, &mut data, meta.as_deref_mut())
        .unwrap_or_else(|e| panic!("read lba {lba}: {e}"));
    let gen = match identify(&data) {
        Some((u64::MAX, 0)) => 0,
        Some((l, g)) if l == lba => g,
        Some((l, g)) => panic!("lba {lba} holds the data of lba {l} gen {g:#x}"),
        None => panic!("lba {lba}: torn or foreign data"),
    };
    if let Some(meta) = meta {
        let want = if gen == 0 {
            vec![0u8; s.meta]
        } else {
            meta_pattern(s.meta, lba, gen)
        };
        assert_eq!(
            meta, want,
            "lba {lba} gen {gen:#x}: metadata of another version"
        );
    }
    gen
}

fn run_case(lbasize: u32, size: usize, seed: u64) {
    let c = {
        let mut c = cfg(lbasize);
        c.nlanes = THREADS as u32;
        c
    };
    let (btt, lanes) = Btt::<_, StdPlatform>::open(Jittery::new(size), &c).expect("create");
    let lanes: Vec<HostLane> = lanes.collect();
    assert_eq!(lanes.len(), THREADS);
    let s = Sizes {
        ss: btt.sector_size() as usize,
        meta: btt.meta_size() as usize,
    };
    let nlba = btt.nlba();
    // HOT LBAs spread over the device, the last one included; then SHARED more.
    let stride = (nlba - 1) / (HOT + SHARED);
    let all: Vec<u64> = (0..HOT + SHARED)
        .map(|i| if i == 0 { nlba - 1 } else { i * stride })
        .collect();
    let (hot, shared) = all.split_at(HOT as usize);

    // Phase 1: disjoint LBA sets, exact model.
    let btt_ref = &btt;
    let s_ref = &s;
    let results: Vec<(HostLane, HashMap<u64, u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .into_iter()
            .enumerate()
            .map(|(t, mut lane)| {
                let own: Vec<u64> = hot.iter().copied().skip(t).step_by(THREADS).collect();
                scope.spawn(move || {
                    let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0xA5A5_5A5A));
                    let mut model: HashMap<u64, u64> = HashMap::new();
                    let mut counter = 0u64;
                    for _ in 0..OPS {
                        let lba = own[rng.below(own.len() as u64) as usize];
                        if rng.chance(55) {
                            counter += 1;
                            let gen = ((t as u64 + 1) << 32) | counter;
                            write(btt_ref, &mut lane, s_ref, lba, gen);
                            model.insert(lba, gen);
                        } else {
                            let got = read(btt_ref, &mut lane, s_ref, lba);
                            let want = model.get(&lba).copied().unwrap_or(0);
                            assert_eq!(got, want, "thread {t} lba {lba}: read {got:#x}");
                        }
                        if rng.chance(5) {
                            std::thread::yield_now();
                        }
                    }
                    (lane, model)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut lanes: Vec<HostLane> = Vec::new();
    let mut model: HashMap<u64, u64> = HashMap::new();
    for (lane, m) in results {
        lanes.push(lane);
        model.extend(m);
    }
    for &lba in hot {
        let want = model.get(&lba).copied().unwrap_or(0);
        assert_eq!(
            read(&btt, &mut lanes[0], &s, lba),
            want,
            "after phase 1: lba {lba}"
        );
    }

    // Phase 2: shared LBAs, every read one whole, current-enough version.
    let clock = AtomicU64::new(1);
    let versions: Mutex<HashMap<u64, Vec<Version>>> = Mutex::new(
        shared
            .iter()
            .map(|&l| {
                let v = Version {
                    gen: 0,
                    start: 0,
                    end: 0,
                };
                (l, vec![v])
            })
            .collect(),
    );
    let (clock, versions_ref) = (&clock, &versions);
    let results: Vec<(HostLane, Vec<ReadObs>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .into_iter()
            .enumerate()
            .map(|(t, mut lane)| {
                scope.spawn(move || {
                    let mut rng = Rng(seed ^ (t as u64 + 17).wrapping_mul(0x1234_5678_9abc));
                    let mut reads = Vec::new();
                    let mut counter = 1u64 << 20;
                    for _ in 0..OPS {
                        let lba = shared[rng.below(SHARED) as usize];
                        let start = clock.fetch_add(1, Ordering::SeqCst);
                        if rng.chance(50) {
                            counter += 1;
                            let gen = ((t as u64 + 1) << 32) | counter;
                            write(btt_ref, &mut lane, s_ref, lba, gen);
                            let end = clock.fetch_add(1, Ordering::SeqCst);
                            let v = Version { gen, start, end };
                            versions_ref.lock().unwrap().get_mut(&lba).unwrap().push(v);
                        } else {
                            let gen = read(btt_ref, &mut lane, s_ref, lba);
                            let end = clock.fetch_add(1, Ordering::SeqCst);
                            reads.push(ReadObs {
                                lba,
                                gen,
                                start,
                                end,
                            });
                        }
                        if rng.chance(10) {
                            std::thread::yield_now();
                        }
                    }
                    (lane, reads)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let versions = versions.into_inner().unwrap();
    let mut lanes: Vec<HostLane> = Vec::new();
    let mut nreads = 0;
    for (lane, reads) in results {
        lanes.push(lane);
        for r in reads {
            nreads += 1;
            let vs = &versions[&r.lba];
            let v = vs
                .iter()
                .find(|v| v.gen == r.gen)
                .unwrap_or_else(|| panic!("{r:?}: a version never written"));
            assert!(
                v.start < r.end,
                "{r:?}: read a version written after it ({v:?})"
            );
            if let Some(w) = vs.iter().find(|w| v.end < w.start && w.end < r.start) {
                panic!("{r:?}: stale, {v:?} was overwritten by {w:?} before the read");
            }
        }
    }
    assert!(nreads > OPS, "too few reads checked: {nreads}");
    // The final value is a version no completed write superseded.
    for &lba in shared {
        let gen = read(&btt, &mut lanes[0], &s, lba);
        let vs = &versions[&lba];
        let v = vs
            .iter()
            .find(|v| v.gen == gen)
            .expect("final version written");
        assert!(
            !vs.iter().any(|w| v.end < w.start),
            "lba {lba}: final {v:?} is not among the last writes"
        );
    }

    // Phase 3: reopen (full ownership check) and compare every sector.
    let mut before = Vec::new();
    for &lba in &all {
        before.push(read(&btt, &mut lanes[0], &s, lba));
    }
    drop(lanes);
    let media = btt.into_media();
    let (btt, lanes) = Btt::<_, StdPlatform>::open(media, &c).expect("reopen");
    assert!(!btt.created());
    let mut lanes: Vec<HostLane> = lanes.collect();
    for (i, &lba) in all.iter().enumerate() {
        assert_eq!(
            read(&btt, &mut lanes[i % THREADS], &s, lba),
            before[i],
            "reopen: lba {lba}"
        );
    }
    // And it takes writes again on every lane.
    for (t, lane) in lanes.iter_mut().enumerate() {
        write(&btt, lane, &s, all[t], 0xdead_0000 + t as u64);
        assert_eq!(read(&btt, lane, &s, all[t]), 0xdead_0000 + t as u64);
    }
}

#[test]
fn concurrent_512() {
    run_case(512, 16 * MIB, 1);
}

#[test]
fn concurrent_4096() {
    run_case(4096, 32 * MIB, 2);
}

#[test]
fn concurrent_520_with_metadata() {
    run_case(520, 16 * MIB, 3);
}

#[test]
fn concurrent_4160_with_metadata() {
    run_case(4160, 24 * MIB, 4);
}

#[test]
fn more_seeds() {
    for seed in 10..13 {
        run_case(512, 16 * MIB, seed);
        run_case(4096, 16 * MIB, seed);
    }
}

#[test]
fn a_lane_of_another_btt_is_refused() {
    let (a, mut la) = fresh(16 * MIB, 512, 2);
    let (b, mut lb) = fresh(16 * MIB, 512, 2);
    let data = pattern(512, 1, 1);
    assert_eq!(a.write(&mut lb[0], 1, &data, None), Err(Error::Invalid));
    assert_eq!(b.write(&mut la[1], 1, &data, None), Err(Error::Invalid));
    let mut buf = vec![0u8; 512];
    assert_eq!(a.read(&mut lb[0], 1, &mut buf, None), Err(Error::Invalid));
    a.write(&mut la[0], 1, &data, None).unwrap();
    a.read(&mut la[1], 1, &mut buf, None).unwrap();
    assert_eq!(buf, data);
}
