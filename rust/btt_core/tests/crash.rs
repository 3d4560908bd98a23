// SPDX-License-Identifier: GPL-2.0
//! Crash simulation: every media write of a workload is recorded; for every
//! prefix of the write log, and for every 8-byte-granular tear of the write
//! that follows it, the image the media would hold after a power failure
//! there is rebuilt from the pre-workload snapshot and opened again.
//!
//! At each crash point:
//! - `Btt::open` succeeds (with the full ownership check: every block has
//!   exactly one owner, so the metadata is consistent);
//! - every sector the workload wrote reads back as one whole generation ever
//!   written to it (data and integrity metadata alike), or its pre-workload
//!   content, and never older than the last write acknowledged before the
//!   crash (whose `Btt::write` returned before the prefix ended); a sector
//!   zeroed (`Btt::write_zeroes`, discard) counts as a generation whose
//!   content is zeroes, so it reads zeroes or what it held before, never
//!   anything else;
//! - every other sector is unchanged: its map entry is the pre-workload one
//!   and its data block was not written (checked through the pages the
//!   workload touched; every sector is read in full at sampled points);
//! - a second open writes nothing and reads the same (recovery is idempotent).
//!
//! The core writes a flog entry as two aligned 8-byte halves and a map entry
//! as one 4-byte write; pmem guarantees 8-byte atomicity, so tears below 8
//! bytes are not modelled.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use btt_core::btt::check::{check_btt, Finding};
use btt_core::btt::flog::LogEntry;
use btt_core::btt::map::Mapping;
use btt_core::btt::{ArenaInfo, Btt, Config, InfoSource, Media};
use btt_core::host::{MemMedia, Recorded, RecordingMedia, StdPlatform};
use common::*;

/// One write of the workload, or the zeroing of one sector.
#[derive(Clone, Copy, Debug)]
struct Op {
    lba: u64,
    gen: u64,
    /// Zeroed (`Btt::write_zeroes`), not written: generation `gen` reads
    /// zeroes.
    zero: bool,
    /// Writes recorded before `Btt::write` was called (its first write is at
    /// this index or later).
    start: usize,
    /// Writes recorded when `Btt::write` had returned (its last write is
    /// before this index).
    ack: usize,
}

/// A recorded workload.
struct Workload {
    name: String,
    cfg: Config,
    base: Vec<u8>,
    log: Vec<Recorded>,
    ops: Vec<Op>,
    /// Generation of each written sector before the workload (0: zeroes).
    pre: HashMap<u64, u64>,
    /// The sectors the workload writes.
    touched: Vec<u64>,
    log_index: [u32; 2],
}

/// What a workload does: `(lane, lba)` per write, in order.
struct Plan<'a> {
    name: &'a str,
    lbasize: u32,
    size: usize,
    nlanes: u32,
    /// Sectors written once before the snapshot.
    pre: &'a [u64],
    writes: &'a [(usize, u64)],
    /// `(i, n)`: `writes[i]` is a `Btt::write_zeroes` of `n` sectors from its
    /// LBA instead of a write.
    zeroes: &'a [(usize, u64)],
    /// Turn the flog into the pre-4.15 (0, 2) padding before the snapshot.
    old_padding: bool,
    /// Each lane's writes run in a thread of their own, all at once, so that
    /// several lanes have writes in flight at a crash (their LBAs must be
    /// disjoint). Otherwise the writes run one after the other.
    concurrent: bool,
}

fn test_cfg(lbasize: u32, nlanes: u32) -> Config {
    let mut c = cfg(lbasize);
    c.nlanes = nlanes;
    c
}

fn sector_bufs(lbasize: u32, lba: u64, gen: u64) -> (Vec<u8>, Vec<u8>) {
    let ss = if lbasize >= 4096 { 4096 } else { 512 };
    let meta = lbasize as usize - ss;
    (pattern(ss, lba, gen), meta_pattern(meta, lba, gen))
}

fn do_write<M: Media>(btt: &HostBtt<M>, lane: &mut HostLane, lba: u64, gen: u64) {
    let (data, meta) = sector_bufs(btt.lbasize(), lba, gen);
    let meta = (!meta.is_empty()).then_some(&meta[..]);
    btt.write(lane, lba, &data, meta).unwrap();
}

impl Plan<'_> {
    /// How many sectors `writes[i]` zeroes, if it is a zeroing.
    fn zeroing(&self, i: usize) -> Option<u64> {
        self.zeroes.iter().find(|z| z.0 == i).map(|z| z.1)
    }

    /// The sectors `writes[i]` changes.
    fn lbas(&self, i: usize) -> std::ops::Range<u64> {
        let lba = self.writes[i].1;
        lba..lba + self.zeroing(i).unwrap_or(1)
    }
}

/// Runs `plan.writes[i]` on `lane`: the ops it is, one per sector.
fn do_op<M: Media>(
    plan: &Plan,
    btt: &HostBtt<M>,
    rec: &RecordingMedia,
    lane: &mut HostLane,
    i: usize,
    gens: &mut HashMap<u64, u64>,
) -> Vec<Op> {
    let lba = plan.writes[i].1;
    let start = rec.log_len();
    let zero = plan.zeroing(i);
    match zero {
        Some(n) => {
            btt.write_zeroes(lane, lba, n).unwrap();
        }
        None => {
            let g = gens.get(&lba).copied().unwrap_or(0) + 1;
            do_write(btt, lane, lba, g);
        }
    }
    let ack = rec.log_len();
    plan.lbas(i)
        .map(|l| {
            let g = gens.entry(l).or_insert(0);
            *g += 1;
            Op {
                lba: l,
                gen: *g,
                zero: zero.is_some(),
                start,
                ack,
            }
        })
        .collect()
}

fn record(plan: &Plan) -> Workload {
    let rec = RecordingMedia::new(MemMedia::new(plan.size));
    let cfg = test_cfg(plan.lbasize, plan.nlanes);
    let mut gens: HashMap<u64, u64> = HashMap::new();
    {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&rec, &cfg).unwrap();
        let mut lanes: Vec<HostLane> = lanes.collect();
        assert!(btt.created());
        for (i, &lba) in plan.pre.iter().enumerate() {
            let g = gens.entry(lba).or_insert(0);
            *g += 1;
            let n = lanes.len();
            do_write(&btt, &mut lanes[i % n], lba, *g);
        }
        if plan.old_padding {
            to_old_padding(&rec, btt.arena(0).unwrap());
        }
    }
    let (btt, lanes) = Btt::<_, StdPlatform>::open(Yielding(&rec), &cfg).unwrap();
    let mut lanes: Vec<HostLane> = lanes.collect();
    assert_eq!(btt.num_arenas(), 1, "the checks assume one arena");
    let log_index = btt.arena(0).unwrap().log_index;
    assert_eq!(log_index, if plan.old_padding { [0, 2] } else { [0, 1] });
    let base = rec.snapshot();
    rec.take_log();
    let pre = gens.clone();
    let mut ops = Vec::new();
    if plan.concurrent {
        let per_lane: Vec<Vec<usize>> = (0..lanes.len())
            .map(|l| {
                (0..plan.writes.len())
                    .filter(|&i| plan.writes[i].0 == l)
                    .collect()
            })
            .collect();
        for (l, idx) in per_lane.iter().enumerate() {
            let mine: Vec<u64> = idx.iter().flat_map(|&i| plan.lbas(i)).collect();
            let others = per_lane.iter().enumerate().filter(|(o, _)| *o != l);
            assert!(
                others
                    .flat_map(|(_, v)| v.iter().flat_map(|&i| plan.lbas(i)))
                    .all(|x| !mine.contains(&x)),
                "shared LBA"
            );
        }
        let (btt, rec, pre) = (&btt, &rec, &pre);
        let done: Vec<Vec<Op>> = std::thread::scope(|scope| {
            let handles: Vec<_> = lanes
                .iter_mut()
                .zip(per_lane)
                .map(|(lane, idx)| {
                    scope.spawn(move || {
                        let mut gens = pre.clone();
                        let mut ops = Vec::new();
                        for i in idx {
                            ops.extend(do_op(plan, btt, rec, lane, i, &mut gens));
                        }
                        ops
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        ops = done.into_iter().flatten().collect();
    } else {
        for i in 0..plan.writes.len() {
            let lane = &mut lanes[plan.writes[i].0];
            ops.extend(do_op(plan, &btt, &rec, lane, i, &mut gens));
        }
    }
    let mut touched: Vec<u64> = (0..plan.writes.len()).flat_map(|i| plan.lbas(i)).collect();
    touched.sort_unstable();
    touched.dedup();
    Workload {
        name: plan.name.to_string(),
        cfg,
        base,
        log: rec.take_log(),
        ops,
        pre,
        touched,
        log_index,
    }
}

/// What is fixed for one workload while its crash points are checked.
struct Checker<'w> {
    w: &'w Workload,
    arena: ArenaInfo,
    /// Pre-workload owner (premap) of each data block.
    owner: Vec<Option<u32>>,
    base_map: Vec<u8>,
    touched: HashSet<u64>,
    states: usize,
}

fn read_gen<M: Media>(btt: &HostBtt<M>, lane: &mut HostLane, lba: u64) -> Result<u64, String> {
    let ss = btt.sector_size() as usize;
    let mut data = vec![0u8; ss];
    let mut meta = vec![0u8; btt.meta_size() as usize];
    let m = (!meta.is_empty()).then_some(&mut meta[..]);
    btt.read(lane, lba, &mut data, m)
        .map_err(|e| format!("lba {lba}: read fails: {e}"))?;
    let gen = match identify(&data) {
        Some((u64::MAX, 0)) => 0,
        Some((l, g)) if l == lba => g,
        other => return Err(format!("lba {lba}: not a whole sector of it: {other:?}")),
    };
    let want = if gen == 0 {
        vec![0u8; meta.len()]
    } else {
        sector_bufs(btt.lbasize(), lba, gen).1
    };
    if meta != want {
        return Err(format!("lba {lba}: metadata not of generation {gen}"));
    }
    Ok(gen)
}

impl<'w> Checker<'w> {
    fn new(w: &'w Workload) -> Self {
        let empty = Pages::new();
        let media = Layered::new(&w.base, &empty);
        let mut c = w.cfg;
        c.read_only = true;
        let (btt, _) = Btt::<_, StdPlatform>::open(&media, &c).unwrap();
        let arena = *btt.arena(0).unwrap();
        let mut base_map = vec![0u8; arena.external_nlba as usize * 4];
        media.read(arena.mapoff, &mut base_map).unwrap();
        let mut owner = vec![None; arena.internal_nlba as usize];
        for (p, e) in base_map.chunks_exact(4).enumerate() {
            let raw = u32::from_le_bytes(e.try_into().unwrap());
            owner[Mapping::decode(p as u32, raw).postmap as usize] = Some(p as u32);
        }
        Self {
            w,
            arena,
            owner,
            base_map,
            touched: w.touched.iter().copied().collect(),
            states: 0,
        }
    }

    /// Checks the crash after `k` whole writes, plus the first `torn` bytes
    /// of write `k` if given; `full` reads every sector and writes again.
    fn check(&mut self, prefix: &Pages, k: usize, torn: Option<usize>, full: bool) {
        self.states += 1;
        let w = self.w;
        let what = format!(
            "{}: crash after {k} of {} writes, torn {torn:?}",
            w.name,
            w.log.len()
        );
        let media = Layered::new(&w.base, prefix);
        let mut extra = None;
        if let Some(n) = torn {
            let r = &w.log[k];
            media.poke(r.offset, &r.bytes[..n]);
            extra = Some(r.offset / PAGE);
        }
        // Writes with at least one byte on media.
        let begun = k + usize::from(torn.is_some());

        // `btt check` sees at most the interrupted writes open rolls forward.
        let sum = check_btt::<_, StdPlatform>(&media, &w.cfg, |f| {
            let pending = matches!(f, Finding::PendingMapUpdate { .. });
            assert!(!f.is_problem() || pending, "{what}: check: {f}");
        })
        .unwrap_or_else(|e| panic!("{what}: check fails: {e}"));
        assert_eq!(sum.arenas, 1, "{what}");
        assert_eq!(
            media.writes.load(Ordering::Relaxed),
            0,
            "{what}: check wrote"
        );

        // Every other state is opened read-only and then made writable (a
        // region made writable after attach): that must recover exactly as
        // a writable open does.
        let promote = self.states % 2 == 0;
        let mut cfg = w.cfg;
        cfg.read_only = promote;
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg)
            .unwrap_or_else(|e| panic!("{what}: open fails: {e}"));
        let mut lanes: Vec<HostLane> = lanes.collect();
        if promote {
            assert_eq!(
                media.writes.load(Ordering::Relaxed),
                0,
                "{what}: read-only open wrote"
            );
            let mut promoted = Vec::new();
            let done = btt
                .make_writable(|l| {
                    promoted.push(l);
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{what}: make_writable fails: {e}"));
            assert!(done && !btt.is_read_only(), "{what}: not made writable");
            assert_eq!(promoted.len(), lanes.len(), "{what}: lanes installed");
            lanes = promoted;
            assert_eq!(
                btt.make_writable(|_| Ok(())),
                Ok(false),
                "{what}: made writable twice"
            );
        }
        assert_eq!(
            btt.arena(0).unwrap().log_index,
            w.log_index,
            "{what}: padding scheme"
        );
        let mut seen = Vec::new();
        for &lba in &w.touched {
            let got = read_gen(&btt, &mut lanes[0], lba).unwrap_or_else(|e| panic!("{what}: {e}"));
            let pre = w.pre.get(&lba).copied().unwrap_or(0);
            // The newest op on the sector acknowledged before the crash; it or
            // an op begun after it must be what the sector holds.
            let floor = w
                .ops
                .iter()
                .filter(|o| o.lba == lba && o.ack <= k)
                .map(|o| o.gen)
                .max();
            let holds = |o: &Op| if o.zero { 0 } else { o.gen };
            let ok = w.ops.iter().any(|o| {
                o.lba == lba
                    && (o.start < begun || o.ack <= k)
                    && o.gen >= floor.unwrap_or(0)
                    && holds(o) == got
            }) || (floor.is_none() && got == pre);
            assert!(
                ok,
                "{what}: lba {lba} reads generation {got} (0: zeroes), neither begun nor \
                 at least the acknowledged one ({floor:?}, before: {pre})"
            );
            seen.push(got);
        }
        ownership(&media, &btt, &lanes).unwrap_or_else(|e| panic!("{what}: {e}"));
        self.check_untouched(&media, &what, extra);
        if full {
            self.check_every_sector(&btt, &mut lanes[1], &what);
        }
        drop(lanes);
        drop(btt);

        // Recovery is idempotent: a second open finds nothing to do (and,
        // at sampled points, `btt check` nothing at all).
        let writes = media.writes.load(Ordering::Relaxed);
        if full {
            let sum = check_btt::<_, StdPlatform>(&media, &w.cfg, |f| {
                assert!(!f.is_problem(), "{what}: check after recovery: {f}");
            });
            assert_eq!(sum.map(|s| s.problems), Ok(0), "{what}");
        }
        let mut again = w.cfg;
        again.full_check = false;
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &again)
            .unwrap_or_else(|e| panic!("{what}: second open fails: {e}"));
        assert_eq!(
            media.writes.load(Ordering::Relaxed),
            writes,
            "{what}: second open wrote"
        );
        let mut lanes: Vec<HostLane> = lanes.collect();
        for (i, &lba) in w.touched.iter().enumerate() {
            let gen = read_gen(&btt, &mut lanes[0], lba).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                gen, seen[i],
                "{what}: lba {lba} differs after a second open"
            );
        }
        // The recovered BTT takes writes on every lane, and they land only
        // where they should.
        for (i, &lba) in w.touched.iter().enumerate() {
            let n = lanes.len();
            do_write(&btt, &mut lanes[i % n], lba, 1000 + i as u64);
        }
        for (i, &lba) in w.touched.iter().enumerate() {
            let gen = read_gen(&btt, &mut lanes[0], lba).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                gen,
                1000 + i as u64,
                "{what}: lba {lba} after writes on the recovered BTT"
            );
        }
        ownership(&media, &btt, &lanes).unwrap_or_else(|e| panic!("{what}: {e}"));
        self.check_untouched(&media, &what, extra);
    }

    /// Sectors the workload does not write keep their map entry and their block.
    fn check_untouched(&self, media: &Layered, what: &str, extra: Option<u64>) {
        let a = &self.arena;
        let mut map = vec![0u8; self.base_map.len()];
        media.read(a.mapoff, &mut map).unwrap();
        // 64 entries at a time: most are equal.
        for (c, (now, was)) in map.chunks(256).zip(self.base_map.chunks(256)).enumerate() {
            if now == was {
                continue;
            }
            for (i, (n, w)) in now.chunks_exact(4).zip(was.chunks_exact(4)).enumerate() {
                let p = c * 64 + i;
                if n != w && !self.touched.contains(&(p as u64)) {
                    panic!("{what}: map entry of untouched lba {p} changed");
                }
            }
        }
        let ilbs = u64::from(a.internal_lbasize);
        let data_end = a.dataoff + u64::from(a.internal_nlba) * ilbs;
        let mut pages = media.dirty_pages();
        pages.extend(extra);
        for p in pages {
            let (lo, hi) = (p * PAGE, (p + 1) * PAGE);
            if hi <= a.dataoff || lo >= data_end {
                continue;
            }
            let first = (lo.max(a.dataoff) - a.dataoff) / ilbs;
            let last = (hi.min(data_end) - 1 - a.dataoff) / ilbs;
            for b in first..=last {
                let Some(owner) = self.owner[b as usize] else {
                    continue;
                };
                if self.touched.contains(&u64::from(owner)) {
                    continue;
                }
                let off = a.dataoff + b * ilbs;
                let mut now = vec![0u8; ilbs as usize];
                media.read(off, &mut now).unwrap();
                let was = &self.w.base[off as usize..(off + ilbs) as usize];
                assert!(
                    now == was,
                    "{what}: block {b} of untouched lba {owner} was written"
                );
            }
        }
    }

    fn check_every_sector(&self, btt: &HostBtt<&Layered>, lane: &mut HostLane, what: &str) {
        let empty = Pages::new();
        let base = Layered::new(&self.w.base, &empty);
        let mut c = self.w.cfg;
        c.read_only = true;
        let (old, lanes) = Btt::<_, StdPlatform>::open(&base, &c).unwrap();
        let mut old_lane = lanes.into_iter().next().unwrap();
        let ss = btt.sector_size() as usize;
        let ms = btt.meta_size() as usize;
        let (mut a, mut b) = (vec![0u8; ss], vec![0u8; ss]);
        let (mut ma, mut mb) = (vec![0u8; ms], vec![0u8; ms]);
        for lba in 0..btt.nlba() {
            if self.touched.contains(&lba) {
                continue;
            }
            btt.read(lane, lba, &mut a, (ms > 0).then_some(&mut ma[..]))
                .unwrap();
            old.read(&mut old_lane, lba, &mut b, (ms > 0).then_some(&mut mb[..]))
                .unwrap();
            assert!(a == b && ma == mb, "{what}: untouched lba {lba} differs");
        }
    }
}

/// Checks every crash point of `w`; returns how many.
fn crash_every_prefix(w: &Workload) -> usize {
    let mut checker = Checker::new(w);
    let mut prefix = Pages::new();
    // Tears that leave the same image as another crash point.
    let mut same = 0;
    let n = w.log.len();
    for k in 0..=n {
        checker.check(&prefix, k, None, k % 64 == 0 || k == n);
        if k == n {
            break;
        }
        let r = &w.log[k];
        let tears = distinct_tears(&w.base, &prefix, r);
        same += r.bytes.len().div_ceil(8) - 1 - tears.len();
        for cut in tears {
            checker.check(&prefix, k, Some(cut), false);
        }
        apply(&mut prefix, None, &w.base, r.offset, &r.bytes);
    }
    // Most `Btt::write`s in flight (begun, not returned) at any crash point.
    let in_flight = (0..=n)
        .map(|k| w.ops.iter().filter(|o| o.start < k && o.ack > k).count())
        .max()
        .unwrap_or(0);
    eprintln!(
        "{}: {} media writes, {} crash points checked ({} more tears give the same image), \
         up to {} sector writes in flight",
        w.name, n, checker.states, same, in_flight
    );
    checker.states
}

fn run(plan: &Plan) -> usize {
    let w = record(plan);
    let n: u64 = (0..plan.writes.len())
        .map(|i| plan.lbas(i).end - plan.lbas(i).start)
        .sum();
    assert_eq!(w.ops.len() as u64, n);
    crash_every_prefix(&w)
}

/// `n` writes over `lbas`, lanes in turn, the same sectors overwritten.
fn overwrites(n: usize, nlanes: usize, lbas: &[u64]) -> Vec<(usize, u64)> {
    (0..n)
        .map(|i| (i % nlanes, lbas[(i * 7 + i / 3) % lbas.len()]))
        .collect()
}

#[test]
fn crash_512() {
    let writes = overwrites(24, 3, &[0, 1, 2, 100, 5000, 32201]);
    run(&Plan {
        name: "512",
        lbasize: 512,
        size: 16 * MIB,
        nlanes: 3,
        pre: &[1, 100],
        writes: &writes,
        zeroes: &[],
        old_padding: false,
        concurrent: false,
    });
}

#[test]
fn crash_4096() {
    let writes = overwrites(8, 2, &[0, 3, 3828]);
    run(&Plan {
        name: "4096",
        lbasize: 4096,
        size: 16 * MIB,
        nlanes: 2,
        pre: &[3],
        writes: &writes,
        zeroes: &[],
        old_padding: false,
        concurrent: false,
    });
}

#[test]
fn crash_520_with_metadata() {
    let writes = overwrites(16, 3, &[0, 7, 8, 28619]);
    run(&Plan {
        name: "520",
        lbasize: 520,
        size: 16 * MIB,
        nlanes: 3,
        pre: &[7],
        writes: &writes,
        zeroes: &[],
        old_padding: false,
        concurrent: false,
    });
}

#[test]
fn crash_512_old_padding() {
    let writes = overwrites(16, 2, &[0, 1, 9, 32201]);
    run(&Plan {
        name: "512, (0, 2) padding",
        lbasize: 512,
        size: 16 * MIB,
        nlanes: 2,
        pre: &[9, 1],
        writes: &writes,
        zeroes: &[],
        old_padding: true,
        concurrent: false,
    });
}

/// Three lanes writing at once, each its own sectors: at a crash up to
/// three writes are in flight, in any of their stages.
#[test]
fn crash_concurrent_lanes() {
    let mut writes = Vec::new();
    for i in 0..8u64 {
        for lane in 0..3usize {
            let lba = [10u64, 11, 4000, 4001, 20, 32201][lane * 2 + (i as usize % 2)];
            writes.push((lane, lba));
        }
    }
    run(&Plan {
        name: "512, 3 concurrent lanes",
        lbasize: 512,
        size: 16 * MIB,
        nlanes: 3,
        pre: &[10, 4001],
        writes: &writes,
        zeroes: &[],
        old_padding: false,
        concurrent: true,
    });
}

/// Writes and zeroings (discard, write-zeroes) of the same sectors: ranges
/// over written sectors, over never-written ones (initial map entries), over
/// sectors zeroed already (nothing written), and writes after a zeroing
/// (which free the zeroed entry's block).
const ZERO_WRITES: &[(usize, u64)] = &[
    (0, 1),
    (1, 2),
    (2, 1),
    (0, 0),
    (1, 1),
    (2, 100),
    (0, 99),
    (1, 2),
    (2, 100),
    (0, 1),
    (1, 3),
    (2, 32200),
];
/// Which of [`ZERO_WRITES`] are zeroings, and of how many sectors.
const ZERO_RANGES: &[(usize, u64)] = &[(3, 4), (6, 3), (7, 1), (9, 1), (11, 2)];

#[test]
fn crash_512_discard() {
    run(&Plan {
        name: "512, zeroing",
        lbasize: 512,
        size: 16 * MIB,
        nlanes: 3,
        pre: &[2, 100, 32201],
        writes: ZERO_WRITES,
        zeroes: ZERO_RANGES,
        old_padding: false,
        concurrent: false,
    });
}

#[test]
fn crash_520_discard_with_metadata() {
    run(&Plan {
        name: "520, zeroing",
        lbasize: 520,
        size: 16 * MIB,
        nlanes: 3,
        pre: &[2, 100],
        writes: &ZERO_WRITES[..11],
        zeroes: &ZERO_RANGES[..4],
        old_padding: false,
        concurrent: false,
    });
}

/// Three lanes at once: one writes, one zeroes and writes, one zeroes a
/// range the others do not touch; at a crash any of them is in flight.
#[test]
fn crash_concurrent_discard() {
    let mut writes = Vec::new();
    let mut zeroes = Vec::new();
    for i in 0..6u64 {
        writes.push((0usize, 10 + i % 2));
        if i % 2 == 0 {
            zeroes.push((writes.len(), 2));
        }
        writes.push((1usize, 4000));
        if i % 3 == 0 {
            zeroes.push((writes.len(), 4));
        }
        writes.push((2usize, 20 + (i % 3) * 4));
    }
    run(&Plan {
        name: "512, 3 concurrent lanes, zeroing",
        lbasize: 512,
        size: 16 * MIB,
        nlanes: 3,
        pre: &[10, 4001, 24],
        writes: &writes,
        zeroes: &zeroes,
        old_padding: false,
        concurrent: true,
    });
}

/// Data, then flog (two 8-byte halves, the half with the sequence number
/// last), then the map entry: the C `btt_write_pg()` order.
#[test]
fn write_order_is_data_flog_map() {
    for (lbasize, old_padding) in [(520u32, false), (4096, false), (512, true)] {
        let plan = Plan {
            name: "order",
            lbasize,
            size: 16 * MIB,
            nlanes: 2,
            pre: &[7],
            writes: &[(1, 42)],
            zeroes: &[],
            old_padding,
            concurrent: false,
        };
        let w = record(&plan);
        let empty = Pages::new();
        let media = Layered::new(&w.base, &empty);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &w.cfg).unwrap();
        let a = *btt.arena(0).unwrap();
        let lane1 = lanes.into_iter().nth(1).unwrap();
        let free = lane1.free_entry(0).unwrap();
        let block_off = a.block_offset(free.block).unwrap();
        let ss = btt.sector_size() as u64;
        let ms = btt.meta_size() as usize;
        let slot = u64::from(a.log_index[usize::from(free.sub)]);
        let ent_off = a.log_group_offset(lane1.first_flog_lane()).unwrap() + slot * 16;
        let (data, meta) = sector_bufs(lbasize, 42, 1);
        let want_ent = LogEntry {
            lba: 42,
            old_map: 42,
            new_map: free.block,
            seq: u32::from(free.seq),
        }
        .encode();
        let mut want: Vec<(u64, Vec<u8>)> = vec![(block_off, data)];
        if ms > 0 {
            want.push((block_off + ss, meta));
        }
        want.push((ent_off, want_ent[..8].to_vec()));
        want.push((ent_off + 8, want_ent[8..].to_vec()));
        let map = (free.block | 0xC000_0000).to_le_bytes().to_vec();
        want.push((a.map_entry_offset(42).unwrap(), map));
        let got: Vec<(u64, Vec<u8>)> = w.log.iter().map(|r| (r.offset, r.bytes.clone())).collect();
        assert_eq!(got, want, "lbasize {lbasize} old padding {old_padding}");
        // The first write of a lane goes to its second live slot, seq 2.
        assert_eq!((free.sub, free.seq), (1, 2));
        assert_eq!(slot, if old_padding { 2 } else { 1 });
    }
}

/// A power failure while a new layout is written (the map and flog first,
/// then the backup info block, the primary last): the next open either finds
/// no BTT and writes a new one, or finds a complete one (from the backup if
/// the primary is torn); never a half-made one.
#[test]
fn crash_during_create() {
    let size = 16 * MIB;
    let cfg = test_cfg(512, 2);
    let rec = RecordingMedia::new(MemMedia::new(size));
    let nlba = {
        let (btt, _lanes) = Btt::<_, StdPlatform>::open(&rec, &cfg).unwrap();
        assert!(btt.created());
        btt.nlba()
    };
    let log = rec.take_log();
    let base = vec![0u8; size];
    let mut prefix = Pages::new();
    let (mut states, mut recreated, mut from_backup, mut same) = (0, 0, 0, 0);
    for k in 0..=log.len() {
        let mut cuts = vec![None];
        if let Some(r) = log.get(k) {
            let tears = distinct_tears(&base, &prefix, r);
            same += r.bytes.len().div_ceil(8) - 1 - tears.len();
            cuts.extend(tears.into_iter().map(Some));
        }
        for torn in cuts {
            states += 1;
            let what = format!(
                "create: crash after {k} of {} writes, torn {torn:?}",
                log.len()
            );
            let media = Layered::new(&base, &prefix);
            if let Some(n) = torn {
                media.poke(log[k].offset, &log[k].bytes[..n]);
            }
            let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg)
                .unwrap_or_else(|e| panic!("{what}: open fails: {e}"));
            let mut lanes: Vec<HostLane> = lanes.collect();
            assert_eq!(btt.nlba(), nlba, "{what}");
            recreated += usize::from(btt.created());
            from_backup += usize::from(btt.arena(0).unwrap().info_source == InfoSource::Backup);
            ownership(&media, &btt, &lanes).unwrap_or_else(|e| panic!("{what}: {e}"));
            for lba in [0, 1, nlba - 1] {
                assert_eq!(read_gen(&btt, &mut lanes[0], lba), Ok(0), "{what}");
            }
            do_write(&btt, &mut lanes[1], 5, 1);
            assert_eq!(read_gen(&btt, &mut lanes[0], 5), Ok(1), "{what}");
        }
        if let Some(r) = log.get(k) {
            apply(&mut prefix, None, &base, r.offset, &r.bytes);
        }
    }
    eprintln!(
        "create: {} media writes, {states} crash points checked ({same} more tears give \
         the same image; {recreated} recreated, {from_backup} from the backup info block)",
        log.len()
    );
    // All but the complete layout start over; a torn primary (or one not
    // yet written) is replaced by the complete backup.
    assert!(recreated > 0 && from_backup > 0);
}
