// SPDX-License-Identifier: GPL-2.0
//! Write batches (`Btt::write_batch`): what is committed when, which flog
//! lanes they use, what a failure leaves, and batches racing each other and
//! lockless readers over the same sectors.
//!
//! Their crash behaviour is checked by `reorder.rs` (every persistence state
//! of batch workloads) and their durability points by its
//! `three_durability_points_per_batch`.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use btt_core::btt::check::check_btt;
use btt_core::btt::{Btt, Config, Error, Media, MAX_BATCH};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

const SIZE: usize = 32 * MIB;

fn config(lbasize: u32, nlanes: u32) -> Config {
    let mut c = cfg(lbasize);
    c.nlanes = nlanes;
    c
}

/// Stages sectors `lba..lba + gens.len()` with generations `gens`.
fn stage_run<M: Media>(
    btt: &HostBtt<M>,
    b: &mut btt_core::btt::WriteBatch<'_, M, StdPlatform>,
    lba: u64,
    gens: &[u64],
) -> Result<(), Error> {
    let ss = btt.sector_size() as usize;
    let ms = btt.meta_size() as usize;
    for (i, &g) in gens.iter().enumerate() {
        let l = lba + i as u64;
        let meta = meta_pattern(ms, l, g);
        b.write_from(l, &pattern(ss, l, g)[..], 0, (ms > 0).then_some(&meta[..]))?;
    }
    Ok(())
}

fn gen_of<M: Media>(btt: &HostBtt<M>, lba: u64) -> u64 {
    let ss = btt.sector_size() as usize;
    let ms = btt.meta_size() as usize;
    let mut data = vec![0u8; ss];
    let mut meta = vec![0u8; ms];
    btt.read_sectors(lba, &mut data, (ms > 0).then_some(&mut meta[..]))
        .unwrap_or_else(|e| panic!("read lba {lba}: {e}"));
    match identify(&data) {
        Some((u64::MAX, 0)) => 0,
        Some((l, g)) if l == lba => {
            assert_eq!(meta, meta_pattern(ms, lba, g), "lba {lba}: metadata");
            g
        }
        other => panic!("lba {lba}: torn or foreign: {other:?}"),
    }
}

/// Lanes own consecutive flog lanes, `i * flogs..(i + 1) * flogs` with
/// `flogs` up to `Config::batch`, below `nfree`; `batch = 1` is C's one flog
/// lane per lane.
#[test]
fn lanes_own_consecutive_flog_lanes() {
    for (nlanes, batch, want) in [
        (2u32, 32u32, 32u32),
        (8, 32, 32),
        (100, 32, 2),
        (256, 32, 1),
        (3, 1, 1),
        (4, 5, 5),
    ] {
        let mut c = config(4096, nlanes);
        c.batch = batch;
        let (btt, lanes) = Btt::<_, StdPlatform>::open(MemMedia::new(SIZE), &c).unwrap();
        assert_eq!(
            btt.flog_lanes_per_lane(),
            want,
            "nlanes {nlanes} batch {batch}"
        );
        let mut all = Vec::new();
        for lane in lanes {
            let owned: Vec<u32> = lane.free_entries(0).map(|(f, _)| f).collect();
            let expect: Vec<u32> = (0..want).map(|j| lane.index() * want + j).collect();
            assert_eq!(owned, expect);
            assert_eq!(lane.first_flog_lane(), lane.index() * want);
            all.extend(owned);
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            all.len(),
            (nlanes * want) as usize,
            "a flog lane owned twice"
        );
        assert!(all.iter().all(|&f| f < btt.arena(0).unwrap().nfree));
    }
    for batch in [0, MAX_BATCH as u32 + 1] {
        let mut c = config(4096, 2);
        c.batch = batch;
        assert!(matches!(
            Btt::<_, StdPlatform>::open(MemMedia::new(SIZE), &c),
            Err(Error::Invalid)
        ));
    }
}

/// Runs longer than the lane's flog lanes, across groups and arenas'
/// worth of sectors, land whole; every sector size.
#[test]
fn runs_of_any_length_land() {
    for &lbasize in &btt_core::btt::SUPPORTED_LBASIZES {
        for nlanes in [2u32, 100] {
            let (btt, lanes) =
                Btt::<_, StdPlatform>::open(MemMedia::new(SIZE), &config(lbasize, nlanes)).unwrap();
            let mut lanes: Vec<HostLane> = lanes.collect();
            let mut want = HashMap::new();
            let mut g = 1;
            for (lane, lba, n) in [
                (0usize, 0u64, 1usize),
                (1, 3, 70),
                (0, 30, 5),
                (1, 60, 40),
                (0, 1, 2),
            ] {
                let gens: Vec<u64> = (g..g + n as u64).collect();
                g += n as u64;
                btt.write_batch(&mut lanes[lane], |b| stage_run(&btt, b, lba, &gens))
                    .unwrap();
                for (i, &gen) in gens.iter().enumerate() {
                    want.insert(lba + i as u64, gen);
                }
            }
            for (&lba, &gen) in &want {
                assert_eq!(
                    gen_of(&btt, lba),
                    gen,
                    "lbasize {lbasize} nlanes {nlanes} lba {lba}"
                );
            }
            drop(lanes);
            let media = btt.into_media();
            let c = config(lbasize, nlanes);
            let mut problems = Vec::new();
            check_btt::<_, StdPlatform>(&media, &c, |f| {
                if f.is_problem() {
                    problems.push(f.to_string());
                }
            })
            .unwrap();
            assert!(problems.is_empty(), "{problems:?}");
            // A different lane count reads the same (flog lanes are the
            // format's, not the lanes').
            let (btt, _) = Btt::<_, StdPlatform>::open(media, &config(lbasize, 7)).unwrap();
            for (&lba, &gen) in &want {
                assert_eq!(gen_of(&btt, lba), gen, "reopened with 7 lanes: lba {lba}");
            }
        }
    }
}

/// A commit changes nothing in the flog but its sectors' entries: the span a
/// batch writes from its first entry to its last holds the other slots and
/// the padding as they were (the lane's copy of its log groups is the
/// media's), across one-sector commits and batches on the same lanes, with
/// both paddings.
#[test]
fn commits_change_only_their_entries_in_the_flog() {
    for old_padding in [false, true] {
        let media = MemMedia::new(SIZE);
        let c = config(512, 2);
        let (btt, _) = Btt::<_, StdPlatform>::open(&media, &c).unwrap();
        let a = *btt.arena(0).unwrap();
        drop(btt);
        if old_padding {
            to_old_padding(&media, &a);
        }
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &c).unwrap();
        let mut lanes: Vec<HostLane> = lanes.collect();
        let a = *btt.arena(0).unwrap();
        let flog_len = a.nfree as usize * 64;
        let mut g = 1;
        for (lane, lba, n) in [
            (0usize, 0u64, 1usize),
            (0, 32, 5),
            (1, 64, 32),
            (0, 96, 1),
            (1, 7, 3),
            (0, 128, 32),
        ] {
            let expect: Vec<usize> = lanes[lane]
                .free_entries(0)
                .take(n)
                .map(|(f, e)| f as usize * 64 + a.log_index[usize::from(e.sub)] as usize * 16)
                .collect();
            let mut before = vec![0u8; flog_len];
            media.read(a.logoff, &mut before).unwrap();
            let gens: Vec<u64> = (g..g + n as u64).collect();
            g += n as u64;
            btt.write_batch(&mut lanes[lane], |b| stage_run(&btt, b, lba, &gens))
                .unwrap();
            let mut after = vec![0u8; flog_len];
            media.read(a.logoff, &mut after).unwrap();
            let changed: Vec<usize> = (0..flog_len / 16)
                .map(|e| e * 16)
                .filter(|&e| before[e..e + 16] != after[e..e + 16])
                .collect();
            assert_eq!(
                changed, expect,
                "old padding {old_padding}: lane {lane}, {n} sectors at {lba}"
            );
        }
    }
}

/// A closure that fails gives up what it staged since the last commit: those
/// sectors read their old data; those committed before (a run that
/// crossed a group) stay written; the BTT takes writes on.
#[test]
fn a_failed_closure_writes_nothing_it_staged() {
    let (btt, mut lanes) = fresh(SIZE, 512, 2);
    btt.write_batch(&mut lanes[0], |b| {
        stage_run(&btt, b, 28, &[1, 1, 1, 1, 1, 1])
    })
    .unwrap();
    let r: Result<(), Error> = btt.write_batch(&mut lanes[0], |b| {
        // 28..32 are one group (committed when 32 comes), 32..34 the next.
        stage_run(&btt, b, 28, &[2, 2, 2, 2, 2, 2])?;
        Err(Error::Invalid)
    });
    assert_eq!(r, Err(Error::Invalid));
    for lba in 28..32 {
        assert_eq!(
            gen_of(&btt, lba),
            2,
            "lba {lba}: committed before the failure"
        );
    }
    for lba in 32..34 {
        assert_eq!(gen_of(&btt, lba), 1, "lba {lba}: staged, given up");
    }
    btt.write_batch(&mut lanes[0], |b| stage_run(&btt, b, 30, &[3, 3, 3, 3]))
        .unwrap();
    for lba in 30..34 {
        assert_eq!(gen_of(&btt, lba), 3);
    }
    // A sector out of range fails the closure where it is staged.
    let nlba = btt.nlba();
    let r = btt.write_batch(&mut lanes[1], |b| stage_run(&btt, b, nlba - 2, &[4, 4, 4]));
    assert_eq!(r, Err(Error::Invalid));
    assert_eq!(gen_of(&btt, nlba - 1), 0);
    drop(lanes);
    let (btt, _) = Btt::<_, StdPlatform>::open(btt.into_media(), &cfg(512)).unwrap();
    assert_eq!(gen_of(&btt, 33), 3);
}

/// A media that fails every write to a byte range once armed, or, with
/// `flush_fails_at` n > 0, the n-th flush from then on (after its writes
/// landed: the error of a flush says nothing of what persisted).
struct FailingMedia {
    inner: MemMedia,
    range: std::ops::Range<u64>,
    armed: AtomicBool,
    flush_fails_at: usize,
    flushes: std::sync::atomic::AtomicUsize,
}

impl FailingMedia {
    fn new(inner: MemMedia, range: std::ops::Range<u64>, flush_fails_at: usize) -> Self {
        FailingMedia {
            inner,
            range,
            armed: AtomicBool::new(false),
            flush_fails_at,
            flushes: Default::default(),
        }
    }
}

impl Media for FailingMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        if self.armed.load(Ordering::SeqCst)
            && self.flush_fails_at == 0
            && self.range.contains(&offset)
        {
            return Err(Error::Io);
        }
        self.inner.write(offset, buf)
    }

    fn flush(&self) -> Result<(), Error> {
        if self.armed.load(Ordering::SeqCst)
            && self.flushes.fetch_add(1, Ordering::SeqCst) + 1 == self.flush_fails_at
        {
            return Err(Error::Io);
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

/// A failed flog or map write of a batch, or a failed flush at any of its
/// three durability points, stops the arena's writes (EIO) until the next
/// open, which finds every sector of the batch whole, old or new, and `btt
/// check` clean.
#[test]
fn a_failed_commit_stops_the_arena_and_open_recovers() {
    for target in [
        "flog",
        "map",
        "flush 1 (D2)",
        "flush 2 (D3)",
        "flush 3 (D4)",
    ] {
        let c = config(4096, 2);
        let (btt, _) = Btt::<_, StdPlatform>::open(MemMedia::new(SIZE), &c).unwrap();
        let a = *btt.arena(0).unwrap();
        let range = if target == "flog" {
            a.logoff..a.info2off
        } else {
            a.mapoff..a.logoff
        };
        let flush_fails_at = match target {
            "flush 1 (D2)" => 1,
            "flush 2 (D3)" => 2,
            "flush 3 (D4)" => 3,
            _ => 0,
        };
        let media = FailingMedia::new(btt.into_media(), range, flush_fails_at);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &c).unwrap();
        let mut lanes: Vec<HostLane> = lanes.collect();
        btt.write_batch(&mut lanes[0], |b| stage_run(&btt, b, 64, &[1; 8]))
            .unwrap();
        media.armed.store(true, Ordering::SeqCst);
        let r = btt.write_batch(&mut lanes[1], |b| stage_run(&btt, b, 64, &[2; 8]));
        assert_eq!(r, Err(Error::Io), "{target}");
        assert!(btt.arena_write_failed(0));
        media.armed.store(false, Ordering::SeqCst);
        assert_eq!(
            btt.write(&mut lanes[0], 0, &[0u8; 4096], None),
            Err(Error::Io)
        );
        drop(lanes);
        drop(btt);
        let (btt, _) = Btt::<_, StdPlatform>::open(&media, &c).unwrap();
        for lba in 64..72 {
            let g = gen_of(&btt, lba);
            assert!(g == 1 || g == 2, "{target}: lba {lba} reads {g}");
        }
        let mut problems = Vec::new();
        check_btt::<_, StdPlatform>(&media, &c, |f| {
            if f.is_problem() {
                problems.push(f.to_string());
            }
        })
        .unwrap();
        assert!(problems.is_empty(), "{target}: {problems:?}");
    }
}

#[derive(Clone, Copy, Debug)]
struct Version {
    gen: u64,
    start: u64,
    end: u64,
}

/// Four threads write batches of 1 to 12 sectors at random places of three
/// groups and read random ranges without a lane: every sector read is whole,
/// of a generation begun before the read ended and not overwritten by a
/// write that ended before the read began. Then a reopen with the full
/// ownership check reads the last generations.
#[test]
fn batches_race_each_other_and_readers() {
    const THREADS: usize = 4;
    const SPAN: u64 = 3 * MAX_BATCH as u64;
    const OPS: usize = 600;
    for &lbasize in &[512u32, 4160] {
        let c = config(lbasize, THREADS as u32);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(Yielding(MemMedia::new(SIZE)), &c).unwrap();
        let clock = AtomicU64::new(1);
        let zero = Version {
            gen: 0,
            start: 0,
            end: 0,
        };
        let versions: Mutex<HashMap<u64, Vec<Version>>> =
            Mutex::new((0..SPAN).map(|l| (l, vec![zero])).collect());
        let (btt_ref, clock, versions_ref) = (&btt, &clock, &versions);
        let reads: Vec<(u64, u64, u64, u64)> = std::thread::scope(|s| {
            let hs: Vec<_> = lanes
                .enumerate()
                .map(|(t, mut lane)| {
                    s.spawn(move || {
                        let mut rng = Rng(0xba7c ^ ((t as u64 + 1) * 0x9e37_79b9));
                        let mut reads = Vec::new();
                        let mut counter = 0u64;
                        for _ in 0..OPS {
                            let lba = rng.below(SPAN);
                            let n = 1 + rng.below(12.min(SPAN - lba));
                            let start = clock.fetch_add(1, Ordering::SeqCst);
                            if rng.chance(50) {
                                let gens: Vec<u64> = (0..n)
                                    .map(|_| {
                                        counter += 1;
                                        ((t as u64 + 1) << 32) | counter
                                    })
                                    .collect();
                                btt_ref
                                    .write_batch(&mut lane, |b| stage_run(btt_ref, b, lba, &gens))
                                    .unwrap();
                                let end = clock.fetch_add(1, Ordering::SeqCst);
                                let mut v = versions_ref.lock().unwrap();
                                for (i, &gen) in gens.iter().enumerate() {
                                    v.get_mut(&(lba + i as u64)).unwrap().push(Version {
                                        gen,
                                        start,
                                        end,
                                    });
                                }
                            } else {
                                let ss = btt_ref.sector_size() as usize;
                                let ms = btt_ref.meta_size() as usize;
                                let mut data = vec![0u8; ss * n as usize];
                                let mut meta = vec![0u8; ms * n as usize];
                                btt_ref
                                    .read_sectors(lba, &mut data, (ms > 0).then_some(&mut meta[..]))
                                    .unwrap();
                                let end = clock.fetch_add(1, Ordering::SeqCst);
                                for i in 0..n as usize {
                                    let l = lba + i as u64;
                                    let gen = match identify(&data[i * ss..(i + 1) * ss]) {
                                        Some((u64::MAX, 0)) => 0,
                                        Some((x, g)) if x == l => g,
                                        other => panic!("lba {l}: torn or foreign: {other:?}"),
                                    };
                                    if gen != 0 {
                                        assert_eq!(
                                            &meta[i * ms..(i + 1) * ms],
                                            &meta_pattern(ms, l, gen)[..],
                                            "lba {l}: metadata of another generation"
                                        );
                                    }
                                    reads.push((l, gen, start, end));
                                }
                            }
                            if rng.chance(10) {
                                std::thread::yield_now();
                            }
                        }
                        reads
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let versions = versions.into_inner().unwrap();
        assert!(reads.len() > OPS, "too few sector reads: {}", reads.len());
        for &(lba, gen, start, end) in &reads {
            let vs = &versions[&lba];
            let v = vs
                .iter()
                .find(|v| v.gen == gen)
                .unwrap_or_else(|| panic!("lba {lba}: generation {gen:#x} never written"));
            assert!(
                v.start < end,
                "lba {lba}: read {gen:#x} before it was written"
            );
            if let Some(w) = vs.iter().find(|w| v.end < w.start && w.end < start) {
                panic!("lba {lba}: read {v:?}, stale: {w:?} ended before the read began");
            }
        }
        let last: Vec<u64> = (0..SPAN).map(|l| gen_of(&btt, l)).collect();
        for (l, &g) in last.iter().enumerate() {
            let vs = &versions[&(l as u64)];
            let v = vs.iter().find(|v| v.gen == g).unwrap();
            assert!(
                !vs.iter().any(|w| v.end < w.start),
                "lba {l}: final {v:?} is not among the last writes"
            );
        }
        let media = btt.into_media();
        let mut problems = Vec::new();
        check_btt::<_, StdPlatform>(&media.0, &c, |f| {
            if f.is_problem() {
                problems.push(f.to_string());
            }
        })
        .unwrap();
        assert!(problems.is_empty(), "lbasize {lbasize}: {problems:?}");
        let (btt, lanes) = Btt::<_, StdPlatform>::open(media, &c).unwrap();
        assert_eq!(btt.arena_flog_damage(0), None);
        for (l, &g) in last.iter().enumerate() {
            assert_eq!(gen_of(&btt, l as u64), g, "after reopen: lba {l}");
        }
        for (t, mut lane) in lanes.enumerate() {
            let gens = [7_000 + t as u64; MAX_BATCH];
            btt.write_batch(&mut lane, |b| stage_run(&btt, b, 0, &gens))
                .unwrap();
        }
    }
}
