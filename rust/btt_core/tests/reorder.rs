// SPDX-License-Identifier: GPL-2.0
//! Crash simulation under a persistence model: stores persist out of order
//! between durability points.
//!
//! `crash.rs` checks every prefix of the recorded write sequence, which
//! proves the order of the calls. This test checks what survives a machine
//! that persists stores in any order until a fence (the model of pmem crash
//! checkers such as pmreorder, Yat, Vinter, Chipmunk, and of
//! [`Media::write_unfenced`]):
//!
//! - every media write is split into aligned 8-byte units, each of which
//!   persists wholly or not at all (a 4-byte map entry persists with the
//!   other 4 bytes of its unit as the CPU saw them then);
//! - a unit is durable once the thread that wrote it passes a durability
//!   point ([`Media::flush`], or the end of [`Media::write`]); a fence by
//!   another thread does not make it durable;
//! - until then it may persist or not, independently of every other unit
//!   not yet durable, of any thread; of several values written to one unit
//!   any one may be the persisted one (never an older one after a newer one
//!   became durable).
//!
//! [`ReorderMedia`] records every write and fence per thread; the replay
//! keeps the durable image and the units not yet durable. The set of
//! possible crash images only grows between two fences (writes add units,
//! fences remove them), so it is enough to enumerate the states just before
//! each fence that follows a write (and at the end): durable image plus every
//! choice among the pending units. Per state:
//!
//! - `btt check` (the core's `check_btt`) finds no problem other than a map
//!   update open will roll forward;
//! - `Btt::open` succeeds, with its full ownership check, and every data
//!   block has exactly one owner (map, lane, or flog of a lane not handed
//!   out);
//! - every sector the workload wrote reads as one whole generation (data and
//!   integrity metadata) that was begun, or its pre-workload content; no
//!   acknowledged write is lost: a sector never reads a generation whose
//!   write returned before an acknowledged write of the same sector began;
//! - the map entries of the sectors not written are unchanged;
//! - a second open writes nothing and reads the same;
//! - every lane writes again, and the writes read back.
//!
//! The bound. Metadata units (flog halves, map entries, info blocks) are
//! enumerated exhaustively while the choices number at most
//! [`Bounds::meta`] (256 by default, `BTT_REORDER_SOAK=1`: 65536); beyond
//! that (only the 4096-byte info blocks of a create reach it) the structured
//! choices: none, all, each unit alone, all but each unit, every prefix by
//! address, and [`Bounds::random`] random ones.
//!
//! Data-block units: one representative per equivalence class. The units of
//! a data block (its data and integrity metadata) are pending only while the
//! block is the writing lane's free block, between the `Btt::write` that
//! fills it and its durability point D2 (io.rs, open.rs). Until D2 no map
//! entry names the block, and the flog names it only as the lane's free
//! block (the newest entry's `old_map`), whose content nothing reads: of the
//! flog entry that will name it as new, only the first half is written
//! before D2, and it names the old block; without the second half (written
//! after D2) the slot keeps its older sequence number and is not the lane's
//! newest. So no read, recovery or check looks into the block, and every subset of its units gives the same
//! outcome for every invariant above; the next write on the lane overwrites
//! all of it. The classes are therefore "which metadata units persisted",
//! and for the data one representative suffices; six are checked anyway,
//! applied to every pending block at once (none, all, even units, odd units,
//! first half, second half), so that a change that made a block observable
//! before D2 fails here rather than being assumed away.
//!
//! Recovery cut anywhere: for states whose open writes (a roll-forward), the
//! open is recorded the same way and every state of its own durability
//! points is checked (one level; every [`Bounds::recovery_stride`]-th such
//! state by default, every one in the soak).
//!
//! Not here: two arenas. The first arena of a two-arena BTT is 512 GiB; its
//! create zeroes a 4 GiB map (at 512-byte sectors), which the copy-on-write
//! image of this test would have to hold per workload, and every open's
//! ownership check reads it. `multi_arena.rs` checks the boundary on a
//! sparse file; a write touches one arena only, so the ordering per arena is
//! what is checked here.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use btt_core::btt::check::{check_btt, Finding};
use btt_core::btt::{ArenaInfo, Btt, Config, Error, InfoSource, Media, MAX_BATCH};
use btt_core::host::{Event, MemMedia, ReorderMedia, StdPlatform};
use common::*;

type Unit = [u8; 8];

const SIZE: usize = 16 * MIB;

/// How far the enumeration goes.
#[derive(Clone, Copy)]
struct Bounds {
    /// Most metadata choices enumerated exhaustively at one durability point.
    meta: usize,
    /// Random metadata choices added beyond that.
    random: usize,
    /// Every n-th state whose open writes has its recovery cut anywhere.
    recovery_stride: usize,
    /// Workload length factor.
    scale: usize,
}

fn bounds() -> Bounds {
    if std::env::var_os("BTT_REORDER_SOAK").is_some() {
        Bounds {
            meta: 1 << 16,
            random: 256,
            recovery_stride: 1,
            scale: 16,
        }
    } else {
        Bounds {
            meta: 256,
            random: 16,
            recovery_stride: 2,
            scale: 1,
        }
    }
}

fn read8(base: &[u8], pages: &Pages, at: u64) -> Unit {
    let p = at / PAGE;
    let i = (at % PAGE) as usize;
    let src: &[u8] = match pages.get(&p) {
        Some(pg) => pg,
        None => base_page(base, p),
    };
    src[i..i + 8].try_into().unwrap()
}

/// The replay of a [`ReorderMedia`] event log.
struct Replay<'a> {
    base: &'a [u8],
    /// The durable image (over `base`).
    durable: Pages,
    /// What the CPU sees: every write applied.
    cache: Pages,
    /// Per 8-byte unit: the values written and not yet fenced, oldest
    /// first, with the writing thread.
    pending: BTreeMap<u64, Vec<(usize, Unit)>>,
    /// A write since the last enumeration.
    dirty: bool,
}

impl<'a> Replay<'a> {
    fn new(base: &'a [u8], start: &Pages) -> Self {
        Self {
            base,
            durable: start.clone(),
            cache: start.clone(),
            pending: BTreeMap::new(),
            dirty: false,
        }
    }

    fn write(&mut self, thread: usize, offset: u64, bytes: &[u8]) {
        apply(&mut self.cache, None, self.base, offset, bytes);
        let end = offset + bytes.len() as u64;
        for u in ((offset & !7)..end).step_by(8) {
            let v = read8(self.base, &self.cache, u);
            self.pending.entry(u).or_default().push((thread, v));
        }
        self.dirty = true;
    }

    fn fence(&mut self, thread: usize) {
        let mut gone = Vec::new();
        for (&u, vs) in self.pending.iter_mut() {
            if let Some(j) = vs.iter().rposition(|v| v.0 == thread) {
                let val = vs[j].1;
                apply(&mut self.durable, None, self.base, u, &val);
                vs.drain(..=j);
                if vs.is_empty() {
                    gone.push(u);
                }
            }
        }
        for u in gone {
            self.pending.remove(&u);
        }
    }

    /// How many threads have units pending.
    fn threads_pending(&self) -> usize {
        let mut t: Vec<usize> = self.pending.values().flatten().map(|v| v.0).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    }

    /// Per unit that may change: the values it may take besides its durable one.
    fn choices(&self) -> Vec<(u64, Vec<Unit>)> {
        let mut out = Vec::new();
        for (&u, vs) in &self.pending {
            let d = read8(self.base, &self.durable, u);
            let mut opts: Vec<Unit> = Vec::new();
            for (_, v) in vs {
                if *v != d && !opts.contains(v) {
                    opts.push(*v);
                }
            }
            if !opts.is_empty() {
                out.push((u, opts));
            }
        }
        out
    }
}

/// The states at one durability point: each is the list of units to put
/// over the durable image.
fn enumerate(
    choices: &[(u64, Vec<Unit>)],
    data: Option<&ArenaInfo>,
    b: Bounds,
    rng: &mut Rng,
) -> Vec<Vec<(u64, Unit)>> {
    let mut groups: BTreeMap<u64, Vec<(u64, Unit)>> = BTreeMap::new();
    let mut meta: Vec<&(u64, Vec<Unit>)> = Vec::new();
    for c in choices {
        let block = data.and_then(|a| {
            let ilbs = u64::from(a.internal_lbasize);
            let end = a.dataoff + u64::from(a.internal_nlba) * ilbs;
            (c.0 >= a.dataoff && c.0 < end).then(|| (c.0 - a.dataoff) / ilbs)
        });
        match block {
            Some(blk) => groups
                .entry(blk)
                .or_default()
                .push((c.0, *c.1.last().unwrap())),
            None => meta.push(c),
        }
    }
    // Data representatives (see the file's comment), all blocks alike.
    let reps = if groups.is_empty() { 1 } else { 6 };
    let data_sets: Vec<Vec<(u64, Unit)>> = (0..reps)
        .map(|r| {
            let mut set = Vec::new();
            for g in groups.values() {
                let n = g.len();
                for (i, u) in g.iter().enumerate() {
                    let take = match r {
                        0 => false,
                        1 => true,
                        2 => i % 2 == 0,
                        3 => i % 2 == 1,
                        4 => i < n / 2,
                        _ => i >= n / 2,
                    };
                    if take {
                        set.push(*u);
                    }
                }
            }
            set
        })
        .collect();
    // Metadata: per unit 0 = not persisted, j = its j-th value.
    let radix: Vec<usize> = meta.iter().map(|c| c.1.len() + 1).collect();
    let total = radix
        .iter()
        .try_fold(1usize, |acc, r| acc.checked_mul(*r))
        .filter(|t| *t <= b.meta);
    let mut vectors: Vec<Vec<usize>> = Vec::new();
    if let Some(total) = total {
        for mut x in 0..total {
            let v = radix
                .iter()
                .map(|r| {
                    let d = x % r;
                    x /= r;
                    d
                })
                .collect();
            vectors.push(v);
        }
    } else {
        let n = meta.len();
        let latest: Vec<usize> = radix.iter().map(|r| r - 1).collect();
        let mut seen = HashSet::new();
        let mut push = |v: Vec<usize>, vectors: &mut Vec<Vec<usize>>| {
            if seen.insert(v.clone()) {
                vectors.push(v);
            }
        };
        push(vec![0; n], &mut vectors);
        push(latest.clone(), &mut vectors);
        for i in 0..n {
            let mut one = vec![0; n];
            one[i] = latest[i];
            push(one, &mut vectors);
            let mut but = latest.clone();
            but[i] = 0;
            push(but, &mut vectors);
            let prefix = (0..n).map(|j| if j <= i { latest[j] } else { 0 }).collect();
            push(prefix, &mut vectors);
        }
        for _ in 0..b.random {
            let v = radix
                .iter()
                .map(|r| rng.below(*r as u64) as usize)
                .collect();
            push(v, &mut vectors);
        }
    }
    let mut out = Vec::new();
    for d in &data_sets {
        for v in &vectors {
            let mut set = d.clone();
            for (c, &j) in meta.iter().zip(v) {
                if j > 0 {
                    set.push((c.0, c.1[j - 1]));
                }
            }
            out.push(set);
        }
    }
    out
}

/// One write of the workload (indices into its event log).
#[derive(Clone, Copy, Debug)]
struct Op {
    lba: u64,
    gen: u64,
    /// Events recorded before `Btt::write` was called.
    start: usize,
    /// Events recorded when it had returned.
    ack: usize,
}

/// A recorded workload.
struct Work {
    name: String,
    cfg: Config,
    base: Vec<u8>,
    events: Vec<Event>,
    ops: Vec<Op>,
    /// Generation of each written sector before the workload (0: zeroes).
    pre: HashMap<u64, u64>,
    touched: Vec<u64>,
    /// Sectors per write ([`Plan::run`]).
    run: usize,
    arena: ArenaInfo,
    base_map: Vec<u8>,
}

struct Plan<'a> {
    name: &'a str,
    lbasize: u32,
    nlanes: u32,
    pre: &'a [u64],
    /// `(lane, lba)`; LBAs may repeat, across lanes too.
    writes: &'a [(usize, u64)],
    /// Sectors per write: 1 writes `lba` with `Btt::write`, more write
    /// `lba..lba + run` in one `Btt::write_batch` (split where it crosses a
    /// group of `MAX_BATCH` premap blocks).
    run: usize,
    old_padding: bool,
    /// Each lane's writes in a thread of their own, all at once.
    concurrent: bool,
    /// Not concurrent, but each write in a thread of its own, so that a lane
    /// passes from thread to thread (as kernel lanes pass between tasks):
    /// one thread's fence does not make another's writes durable.
    handoff: bool,
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

fn do_write<M: Media>(
    btt: &HostBtt<M>,
    lane: &mut HostLane,
    lba: u64,
    gen: u64,
) -> Result<(), Error> {
    let (data, meta) = sector_bufs(btt.lbasize(), lba, gen);
    let meta = (!meta.is_empty()).then_some(&meta[..]);
    btt.write(lane, lba, &data, meta)
}

/// Writes sectors `lba..lba + gens.len()` in one batch, sector `lba + i` with
/// generation `gens[i]`.
fn do_batch<M: Media>(
    btt: &HostBtt<M>,
    lane: &mut HostLane,
    lba: u64,
    gens: &[u64],
) -> Result<(), Error> {
    btt.write_batch(lane, |b| {
        for (i, &gen) in gens.iter().enumerate() {
            let l = lba + i as u64;
            let (data, meta) = sector_bufs(btt.lbasize(), l, gen);
            let meta = (!meta.is_empty()).then_some(&meta[..]);
            b.write_from(l, &data[..], 0, meta)?;
        }
        Ok(())
    })
}

fn read_gen<M: Media>(btt: &HostBtt<M>, lane: &mut HostLane, lba: u64) -> Result<u64, String> {
    let mut data = vec![0u8; btt.sector_size() as usize];
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

/// Runs `plan` on a recording media; `wrap` may put a media between the BTT
/// and the recorder (the mutation test's).
fn record<'r, W: Media>(
    plan: &Plan,
    rec: &'r ReorderMedia<MemMedia>,
    wrap: impl FnOnce(&'r ReorderMedia<MemMedia>) -> W,
) -> Work {
    let cfg = test_cfg(plan.lbasize, plan.nlanes);
    let next_gen = AtomicU64::new(1);
    let mut pre = HashMap::new();
    {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(rec, &cfg).unwrap();
        let mut lanes: Vec<HostLane> = lanes.collect();
        for (i, &lba) in plan.pre.iter().enumerate() {
            let g = next_gen.fetch_add(1, Ordering::Relaxed);
            let n = lanes.len();
            do_write(&btt, &mut lanes[i % n], lba, g).unwrap();
            pre.insert(lba, g);
        }
        if plan.old_padding {
            to_old_padding(rec, btt.arena(0).unwrap());
        }
    }
    rec.take_events();
    let base = rec.inner().snapshot();
    let wrapped = wrap(rec);
    let (btt, lanes) = Btt::<_, StdPlatform>::open(Yielding(&wrapped), &cfg).unwrap();
    assert_eq!(rec.events_len(), 0, "{}: a clean open wrote", plan.name);
    let mut lanes: Vec<HostLane> = lanes.collect();
    let arena = *btt.arena(0).unwrap();
    assert_eq!(btt.num_arenas(), 1);
    let run = plan.run;
    let run_lane = |lane: &mut HostLane, lbas: &[u64]| -> Vec<Op> {
        let mut ops = Vec::new();
        for &lba in lbas {
            let gens: Vec<u64> = (0..run)
                .map(|_| next_gen.fetch_add(1, Ordering::Relaxed))
                .collect();
            let start = rec.events_len();
            if run == 1 {
                do_write(&btt, lane, lba, gens[0]).unwrap();
            } else {
                do_batch(&btt, lane, lba, &gens).unwrap();
            }
            let ack = rec.events_len();
            for (i, &gen) in gens.iter().enumerate() {
                ops.push(Op {
                    lba: lba + i as u64,
                    gen,
                    start,
                    ack,
                });
            }
        }
        ops
    };
    let mut ops = Vec::new();
    if plan.concurrent {
        let per_lane: Vec<Vec<u64>> = (0..lanes.len())
            .map(|l| {
                plan.writes
                    .iter()
                    .filter(|w| w.0 == l)
                    .map(|w| w.1)
                    .collect()
            })
            .collect();
        let run_lane = &run_lane;
        // All lanes start together, so that their writes overlap.
        let go = &std::sync::Barrier::new(per_lane.len());
        std::thread::scope(|s| {
            let hs: Vec<_> = lanes
                .iter_mut()
                .zip(&per_lane)
                .map(|(lane, lbas)| {
                    s.spawn(move || {
                        go.wait();
                        run_lane(lane, lbas)
                    })
                })
                .collect();
            for h in hs {
                ops.extend(h.join().unwrap());
            }
        });
    } else if plan.handoff {
        let run_lane = &run_lane;
        for &(l, lba) in plan.writes {
            let lane = &mut lanes[l];
            ops.extend(std::thread::scope(|s| {
                s.spawn(move || run_lane(lane, &[lba])).join().unwrap()
            }));
        }
    } else {
        for &(l, lba) in plan.writes {
            ops.extend(run_lane(&mut lanes[l], &[lba]));
        }
    }
    drop(lanes);
    drop(btt);
    let mut touched: Vec<u64> = plan
        .writes
        .iter()
        .flat_map(|w| w.1..w.1 + run as u64)
        .collect();
    touched.extend(plan.pre);
    touched.sort_unstable();
    touched.dedup();
    let map_len = arena.external_nlba as usize * 4;
    let base_map = base[arena.mapoff as usize..][..map_len].to_vec();
    Work {
        name: plan.name.to_string(),
        cfg,
        base,
        events: rec.take_events(),
        ops,
        pre,
        touched,
        run,
        arena,
        base_map,
    }
}

macro_rules! ensure {
    ($c:expr, $($arg:tt)*) => {
        if !$c {
            return Err(format!($($arg)*));
        }
    };
}

/// Checks the crash state `media` of workload `w`, with the first `k` of
/// its events done. Returns whether the first open wrote.
fn check_state(w: &Work, media: &Layered, k: usize) -> Result<bool, String> {
    let mut problems = Vec::new();
    check_btt::<_, StdPlatform>(media, &w.cfg, |f| {
        if f.is_problem() && !matches!(f, Finding::PendingMapUpdate { .. }) {
            problems.push(f.to_string());
        }
    })
    .map_err(|e| format!("check fails: {e}"))?;
    ensure!(problems.is_empty(), "check: {}", problems.join("; "));
    ensure!(media.writes.load(Ordering::Relaxed) == 0, "check wrote");

    let (btt, lanes) =
        Btt::<_, StdPlatform>::open(media, &w.cfg).map_err(|e| format!("open fails: {e}"))?;
    let wrote = media.writes.load(Ordering::Relaxed) > 0;
    let mut lanes: Vec<HostLane> = lanes.collect();
    ensure!(
        btt.arena(0).unwrap().log_index == w.arena.log_index,
        "padding scheme changed"
    );
    let mut seen = Vec::new();
    for &lba in &w.touched {
        let gen = read_gen(&btt, &mut lanes[0], lba)?;
        let pre = w.pre.get(&lba).copied().unwrap_or(0);
        let mine: Vec<&Op> = w.ops.iter().filter(|o| o.lba == lba).collect();
        let read = mine.iter().find(|o| o.gen == gen);
        ensure!(
            gen == pre || read.is_some_and(|o| o.start < k),
            "lba {lba} holds generation {gen}, never begun"
        );
        for y in mine.iter().filter(|o| o.ack <= k) {
            ensure!(
                read.is_some_and(|r| r.ack > y.start),
                "lba {lba} lost acknowledged generation {}, reads {gen}",
                y.gen
            );
        }
        seen.push(gen);
    }
    ownership(media, &btt, &lanes)?;
    let a = &w.arena;
    let mut map = vec![0u8; w.base_map.len()];
    media.read(a.mapoff, &mut map).unwrap();
    for (p, (n, o)) in map
        .chunks_exact(4)
        .zip(w.base_map.chunks_exact(4))
        .enumerate()
    {
        ensure!(
            n == o || w.touched.contains(&(p as u64)),
            "map entry of untouched lba {p} changed"
        );
    }
    drop(lanes);
    drop(btt);

    let writes = media.writes.load(Ordering::Relaxed);
    let mut again = w.cfg;
    again.full_check = false;
    let (btt, lanes) =
        Btt::<_, StdPlatform>::open(media, &again).map_err(|e| format!("second open: {e}"))?;
    ensure!(
        media.writes.load(Ordering::Relaxed) == writes,
        "second open wrote"
    );
    let mut lanes: Vec<HostLane> = lanes.collect();
    for (i, &lba) in w.touched.iter().enumerate() {
        let gen = read_gen(&btt, &mut lanes[0], lba)?;
        ensure!(gen == seen[i], "lba {lba} differs after a second open");
    }
    let n = w.touched.len();
    let nl = lanes.len();
    for (i, lane) in lanes.iter_mut().enumerate() {
        do_write(&btt, lane, w.touched[i % n], 1_000_000 + i as u64)
            .map_err(|e| format!("lane {i}: write fails: {e}"))?;
    }
    for (t, &lba) in w.touched.iter().enumerate() {
        // The last lane to write an LBA wins.
        let want = (0..nl)
            .rev()
            .find(|j| j % n == t)
            .map(|j| 1_000_000 + j as u64);
        let gen = read_gen(&btt, &mut lanes[0], lba)?;
        ensure!(
            want.is_none_or(|g| g == gen),
            "lba {lba} after writes on the recovered BTT reads {gen}, not {want:?}"
        );
    }
    if w.run > 1 {
        // Every flog lane the workload's batches used writes again: a batch
        // as long on each lane, in a group of its own beyond the touched
        // sectors.
        for i in 0..nl {
            let lba = spare_group(btt.nlba(), i);
            let gens: Vec<u64> = (0..w.run as u64).map(|g| 2_000_000 + g).collect();
            do_batch(&btt, &mut lanes[i], lba, &gens)
                .map_err(|e| format!("lane {i}: batch write fails: {e}"))?;
            for (g, l) in gens.iter().zip(lba..) {
                let gen = read_gen(&btt, &mut lanes[0], l)?;
                ensure!(
                    gen == *g,
                    "lba {l} after a batch on the recovered BTT reads {gen}"
                );
            }
        }
    }
    ownership(media, &btt, &lanes)?;
    Ok(wrote)
}

/// The first sector of a group of [`MAX_BATCH`] sectors near the end of the
/// BTT for lane `i`, beyond every sector a workload touches.
fn spare_group(nlba: u64, i: usize) -> u64 {
    let b = MAX_BATCH as u64;
    (nlba / b - 1 - i as u64) * b
}

#[derive(Debug, Default)]
struct Stats {
    /// Durability points at which states were enumerated.
    points: usize,
    states: usize,
    /// Of them, states inside a recovery (a crash during the roll-forward).
    recovery_states: usize,
    /// Recoveries whose durability points were cut.
    recoveries: usize,
    /// Most states at one durability point.
    widest: usize,
    /// Durability points with units of two or more threads pending.
    shared: usize,
}

/// The image of one state: the durable pages plus `units`.
fn image(durable: &Pages, base: &[u8], units: &[(u64, Unit)]) -> Pages {
    let mut p = durable.clone();
    for (u, v) in units {
        apply(&mut p, None, base, *u, v);
    }
    p
}

/// Replays `events` from the image `start` and checks every state at every
/// durability point. `outer` is the workload's event count at the crash
/// being recovered from (`None`: these are the workload's own events).
fn explore(
    w: &Work,
    start: &Pages,
    events: &[Event],
    outer: Option<usize>,
    b: Bounds,
    stats: &mut Stats,
) -> Result<(), String> {
    let mut replay = Replay::new(&w.base, start);
    let mut rng = Rng(0x5eed ^ events.len() as u64);
    let mut recovering = 0usize;
    let mut states_at = |replay: &mut Replay, i: usize, stats: &mut Stats| -> Result<(), String> {
        replay.dirty = false;
        let k = outer.unwrap_or(i);
        let sets = enumerate(&replay.choices(), Some(&w.arena), b, &mut rng);
        stats.points += 1;
        stats.widest = stats.widest.max(sets.len());
        stats.shared += usize::from(replay.threads_pending() > 1);
        for units in sets {
            stats.states += 1;
            if outer.is_some() {
                stats.recovery_states += 1;
            }
            let top = image(&replay.durable, &w.base, &units);
            let media = Layered::new(&w.base, &top);
            let what = |e: String| {
                let during = match outer {
                    Some(o) => format!(" during the recovery of a crash at event {o}"),
                    None => String::new(),
                };
                format!(
                    "{}: crash before event {i} of {}{during}, {} units persisted \
                     beyond the durable ones: {e}",
                    w.name,
                    events.len(),
                    units.len()
                )
            };
            let wrote = check_state(w, &media, k).map_err(what)?;
            if outer.is_none() && wrote {
                recovering += 1;
                if recovering % b.recovery_stride == 0 {
                    // Cut the roll-forward anywhere, too.
                    let rec = ReorderMedia::new(Layered::new(&w.base, &top));
                    Btt::<_, StdPlatform>::open(&rec, &w.cfg)
                        .map_err(|e| what(format!("recorded open fails: {e}")))?;
                    let ev = rec.take_events();
                    stats.recoveries += 1;
                    explore(w, &top, &ev, Some(i), b, stats)?;
                }
            }
        }
        Ok(())
    };
    if outer.is_none() {
        states_at(&mut replay, 0, stats)?;
    }
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Write {
                thread,
                offset,
                bytes,
            } => replay.write(*thread, *offset, bytes),
            Event::Fence { thread } => {
                if replay.dirty {
                    states_at(&mut replay, i, stats)?;
                }
                replay.fence(*thread);
            }
        }
    }
    if replay.dirty {
        states_at(&mut replay, events.len(), stats)?;
    }
    Ok(())
}

fn check_work(w: &Work, b: Bounds) -> Result<Stats, String> {
    let mut stats = Stats::default();
    explore(w, &Pages::new(), &w.events, None, b, &mut stats)?;
    Ok(stats)
}

fn run(plan: &Plan) {
    let t = Instant::now();
    let rec = ReorderMedia::new(MemMedia::new(SIZE));
    let w = record(plan, &rec, |r| r);
    assert_eq!(w.ops.len(), plan.writes.len() * plan.run);
    let stats = check_work(&w, bounds()).unwrap_or_else(|e| panic!("{e}"));
    let fences = w
        .events
        .iter()
        .filter(|e| matches!(e, Event::Fence { .. }))
        .count();
    eprintln!(
        "reorder: {}: {} sector writes, {} media events, {} durability points, {} states \
         checked ({} in {} recoveries cut anywhere), at most {} at one point, {} points with \
         units of several threads pending, {:.1} s",
        w.name,
        w.ops.len(),
        w.events.len(),
        fences,
        stats.states,
        stats.recovery_states,
        stats.recoveries,
        stats.widest,
        stats.shared,
        t.elapsed().as_secs_f64()
    );
    assert!(stats.states > w.ops.len());
    assert!(
        !plan.concurrent || stats.shared > 0,
        "no two threads ever overlapped"
    );
}

/// `n` writes over `lbas`, lanes in turn, the same sectors overwritten.
fn overwrites(n: usize, nlanes: usize, lbas: &[u64]) -> Vec<(usize, u64)> {
    (0..n)
        .map(|i| (i % nlanes, lbas[(i * 7 + i / 3) % lbas.len()]))
        .collect()
}

fn per_size(lbasize: u32) {
    let writes = overwrites(16 * bounds().scale, 3, &[0, 5, 9, 1000]);
    run(&Plan {
        name: &format!("{lbasize}"),
        lbasize,
        nlanes: 3,
        pre: &[5],
        writes: &writes,
        old_padding: false,
        concurrent: false,
        handoff: false,
        run: 1,
    });
}

#[test]
fn reorder_512() {
    per_size(512);
}

#[test]
fn reorder_520() {
    per_size(520);
}

#[test]
fn reorder_528() {
    per_size(528);
}

#[test]
fn reorder_4096() {
    per_size(4096);
}

#[test]
fn reorder_4104() {
    per_size(4104);
}

#[test]
fn reorder_4160() {
    per_size(4160);
}

#[test]
fn reorder_4224() {
    per_size(4224);
}

#[test]
fn reorder_old_padding() {
    let writes = overwrites(16 * bounds().scale, 3, &[1, 9, 77]);
    run(&Plan {
        name: "512, (0, 2) padding",
        lbasize: 512,
        nlanes: 3,
        pre: &[9],
        writes: &writes,
        old_padding: true,
        concurrent: false,
        handoff: false,
        run: 1,
    });
}

/// Write batches (`Btt::write_batch`): runs of five sectors on three lanes,
/// overlapping each other (0..5 and 2..7) and crossing groups of
/// `MAX_BATCH` premap blocks (30..35, 62..67, each committed as two
/// batches), so that at D2 every flog entry's first half and every data
/// block of a batch are pending together, at D3 every second half, at D4 the
/// batch's map entries, written as one.
fn batches(lbasize: u32) {
    let writes = overwrites(8 * bounds().scale, 3, &[0, 2, 30, 62]);
    run(&Plan {
        name: &format!("{lbasize}, batches of 5"),
        lbasize,
        nlanes: 3,
        pre: &[2, 31],
        writes: &writes,
        old_padding: false,
        concurrent: false,
        handoff: false,
        run: 5,
    });
}

#[test]
fn reorder_batch_512() {
    batches(512);
}

#[test]
fn reorder_batch_520() {
    batches(520);
}

#[test]
fn reorder_batch_528() {
    batches(528);
}

#[test]
fn reorder_batch_4096() {
    batches(4096);
}

#[test]
fn reorder_batch_4104() {
    batches(4104);
}

#[test]
fn reorder_batch_4160() {
    batches(4160);
}

#[test]
fn reorder_batch_4224() {
    batches(4224);
}

/// Batches of three lanes at once over the same sectors: two lanes' batches
/// of one group wait for each other's map lock, a third lane's group is
/// committed beside them; at a fence, every other lane's staged data and
/// flog halves are pending too.
#[test]
fn reorder_batch_concurrent() {
    let mut writes = Vec::new();
    for i in 0..2 * bounds().scale {
        for lane in 0..3usize {
            writes.push((lane, [0u64, 2, 40][(lane + i) % 3]));
        }
    }
    run(&Plan {
        name: "512, batches of 3 on 3 concurrent lanes",
        lbasize: 512,
        nlanes: 3,
        pre: &[1, 41],
        writes: &writes,
        old_padding: false,
        concurrent: true,
        handoff: false,
        run: 3,
    });
}

/// Batches with the (0, 2) padding of old kernels, and lanes passed between
/// threads.
#[test]
fn reorder_batch_old_padding_handoff() {
    let writes = overwrites(6 * bounds().scale, 2, &[4, 6, 2000]);
    run(&Plan {
        name: "512, (0, 2) padding, batches of 3 passed between threads",
        lbasize: 512,
        nlanes: 2,
        pre: &[6],
        writes: &writes,
        old_padding: true,
        concurrent: false,
        handoff: true,
        run: 3,
    });
}

/// Four lanes at once, two of them on the same sector: at a fence, the
/// other lanes' unfenced units (data, flog halves, map entries) are pending
/// too.
fn concurrent(lbasize: u32) {
    let mut writes = Vec::new();
    for i in 0..6 * bounds().scale {
        for lane in 0..4usize {
            // Two lanes on sector 3 at once, the other two on sectors of
            // other map-lock stripes, whose flog and map writes overlap.
            writes.push((lane, [3u64, 40, 3, 200][(lane + i) % 4]));
        }
    }
    run(&Plan {
        name: &format!("{lbasize}, 4 concurrent lanes, shared sectors"),
        lbasize,
        nlanes: 4,
        pre: &[3, 40],
        writes: &writes,
        old_padding: false,
        concurrent: true,
        handoff: false,
        run: 1,
    });
}

#[test]
fn reorder_concurrent_512() {
    concurrent(512);
}

#[test]
fn reorder_concurrent_4160() {
    concurrent(4160);
}

/// Two lanes, each write by a new thread: the next write on a lane is
/// another thread's, whose durability points do not cover the previous
/// writer's units. This is what needs D4: without it the previous writer's
/// map entry may still be lost when the next writer's flog entry replaces
/// the one that would roll it forward.
#[test]
fn reorder_lane_handoff() {
    let writes = overwrites(12 * bounds().scale, 2, &[2, 6, 2000]);
    run(&Plan {
        name: "512, lanes passed between threads",
        lbasize: 512,
        nlanes: 2,
        pre: &[6],
        writes: &writes,
        old_padding: false,
        concurrent: false,
        handoff: true,
        run: 1,
    });
}

/// A create cut anywhere: the next open finds no BTT and makes a new one, or
/// finds the complete one (from the backup info block if need be).
#[test]
fn reorder_create() {
    let t = Instant::now();
    let b = bounds();
    let cfg = test_cfg(512, 2);
    let rec = ReorderMedia::new(MemMedia::new(SIZE));
    let nlba = Btt::<_, StdPlatform>::open(&rec, &cfg).unwrap().0.nlba();
    let events = rec.take_events();
    let base = vec![0u8; SIZE];
    let mut replay = Replay::new(&base, &Pages::new());
    let mut rng = Rng(7);
    let (mut states, mut points, mut recreated, mut from_backup) = (0usize, 0usize, 0usize, 0usize);
    let mut check = |replay: &mut Replay, i: usize| {
        replay.dirty = false;
        points += 1;
        for units in enumerate(&replay.choices(), None, b, &mut rng) {
            states += 1;
            let top = image(&replay.durable, &base, &units);
            let media = Layered::new(&base, &top);
            let what = format!("create: crash before event {i} of {}", events.len());
            let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg)
                .unwrap_or_else(|e| panic!("{what}: open fails: {e}"));
            recreated += usize::from(btt.created());
            // A complete backup and a torn or missing primary: served from
            // the backup, which `btt check` reports (`--repair` restores the
            // primary), as crash.rs's create test sees too.
            let backup = btt.arena(0).unwrap().info_source == InfoSource::Backup;
            from_backup += usize::from(backup);
            assert_eq!(btt.nlba(), nlba, "{what}");
            let mut lanes: Vec<HostLane> = lanes.collect();
            ownership(&media, &btt, &lanes).unwrap_or_else(|e| panic!("{what}: {e}"));
            for lba in [0, 5, nlba - 1] {
                assert_eq!(read_gen(&btt, &mut lanes[0], lba), Ok(0), "{what}");
            }
            for (l, lane) in lanes.iter_mut().enumerate() {
                do_write(&btt, lane, 5 + l as u64, 1).unwrap();
            }
            assert_eq!(read_gen(&btt, &mut lanes[0], 6), Ok(1), "{what}");
            drop(lanes);
            drop(btt);
            let mut problems = 0;
            check_btt::<_, StdPlatform>(&media, &cfg, |f| {
                let primary = matches!(
                    f,
                    Finding::InfoBlock {
                        backup: false,
                        other_valid: true,
                        ..
                    }
                );
                problems += usize::from(f.is_problem() && !(backup && primary));
            })
            .unwrap();
            assert_eq!(problems, 0, "{what}: check after the open");
            let writes = media.writes.load(Ordering::Relaxed);
            Btt::<_, StdPlatform>::open(&media, &cfg).unwrap();
            assert_eq!(
                media.writes.load(Ordering::Relaxed),
                writes,
                "{what}: second open wrote"
            );
        }
    };
    check(&mut replay, 0);
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Write {
                thread,
                offset,
                bytes,
            } => replay.write(*thread, *offset, bytes),
            Event::Fence { thread } => {
                if replay.dirty {
                    check(&mut replay, i);
                }
                replay.fence(*thread);
            }
        }
    }
    if replay.dirty {
        check(&mut replay, events.len());
    }
    eprintln!(
        "reorder: create: {} media events, {points} durability points with a change, \
         {states} states checked ({recreated} recreated, {from_backup} from the backup info block), {:.1} s",
        events.len(),
        t.elapsed().as_secs_f64()
    );
    assert!(recreated > 0 && recreated < states && from_backup > 0);
}

/// The model's teeth: a media that drops one durability point of the core
/// (write.rs), recognised from the media's side so that the real core stays
/// as it is. A commit writes its flog entries' halves in two writes of the
/// lane's log groups, each followed by a flush; `half` 0 drops the flush
/// after the first of two flog writes in a row (first halves), `half` 8 the
/// one after the second (second halves).
///
/// - `half` 8 drops D3, between the flog entries' second halves and the map
///   entries. The map entry may then persist while the flog entry's second
///   half does not: the map names the lane's new block, and the lane's
///   newest flog entry still names that block as its free block, so after a
///   crash there the block has two owners (and the next write on the lane
///   would overwrite live data).
/// - `half` 0 drops D2, between the data blocks and first halves and the
///   second halves. A second half may then persist while the data block
///   does not: the entry is live and open rolls the map forward to a block
///   that holds neither generation.
///
/// The prefix model of `crash.rs` cannot see either: it never persists a
/// later write without an earlier one.
struct DropFence<M> {
    inner: M,
    flog: std::ops::Range<u64>,
    half: u64,
    /// Per thread: flog writes since its last other write, and whether its
    /// last call was one.
    flog_writes: std::sync::Mutex<HashMap<std::thread::ThreadId, (u64, bool)>>,
}

impl<M: Media> DropFence<M> {
    /// Records a call (`Some(is a flog write)` for a write, `None` for a
    /// flush); returns whether it is the flush to drop.
    fn call(&self, flog_write: Option<bool>) -> bool {
        let me = std::thread::current().id();
        let mut all = self.flog_writes.lock().unwrap();
        let (n, last) = all.entry(me).or_default();
        match flog_write {
            Some(true) => (*n, *last) = (*n + 1, true),
            Some(false) => (*n, *last) = (0, false),
            None => {
                let drop = *last && *n == self.half / 8 + 1;
                *last = false;
                return drop;
            }
        }
        false
    }
}

impl<M: Media> Media for DropFence<M> {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.call(Some(false));
        self.inner.write(offset, buf)
    }

    fn write_unfenced(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        self.call(Some(self.flog.contains(&offset)));
        self.inner.write_unfenced(offset, buf)
    }

    fn flush(&self) -> Result<(), Error> {
        if self.call(None) {
            return Ok(());
        }
        self.inner.flush()
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

/// Records `plan` through a [`DropFence`] of `half` and checks that the
/// simulation fails it as a dropped fence makes it fail; returns the failure.
fn mutation(plan: &Plan, half: u64) -> String {
    let rec = ReorderMedia::new(MemMedia::new(SIZE));
    let w = record(plan, &rec, |r| {
        let mut c = test_cfg(plan.lbasize, plan.nlanes);
        c.read_only = true;
        let (btt, _) = Btt::<_, StdPlatform>::open(r, &c).unwrap();
        let a = btt.arena(0).unwrap();
        DropFence {
            inner: r,
            flog: a.logoff..a.info2off,
            half,
            flog_writes: Default::default(),
        }
    });
    // The workload itself ran as usual (reads see every write).
    assert_eq!(w.ops.len(), plan.writes.len() * plan.run);
    let err = check_work(&w, bounds()).expect_err("the simulation missed a dropped fence");
    // A block with two owners, a torn sector, or a BTT that does not open.
    assert!(
        ["owned twice", "not a whole sector", "open fails", "check:"]
            .iter()
            .any(|e| err.contains(e)),
        "{err}"
    );
    err
}

#[test]
fn reorder_mutation_without_d3_fails() {
    let writes = overwrites(4, 2, &[0, 5]);
    let err = mutation(
        &Plan {
            name: "512 without D3",
            lbasize: 512,
            nlanes: 2,
            pre: &[5],
            writes: &writes,
            old_padding: false,
            concurrent: false,
            handoff: false,
            run: 1,
        },
        8,
    );
    eprintln!("reorder: mutation (D3 dropped): fails as it must: {err}");
}

/// The batch workload of the mutation tests: batches of 4 on 2 lanes.
fn batch_mutation(name: &str, lbasize: u32, half: u64) -> String {
    let writes = overwrites(3, 2, &[0, 8]);
    mutation(
        &Plan {
            name,
            lbasize,
            nlanes: 2,
            pre: &[1],
            writes: &writes,
            old_padding: false,
            concurrent: false,
            handoff: false,
            run: 4,
        },
        half,
    )
}

/// D2 dropped in batches: a flog entry's second half persists without its
/// first half or its data block (a torn sector, or a flog entry naming
/// blocks of two writes).
#[test]
fn reorder_mutation_batch_without_d2_fails() {
    let err = batch_mutation("4096, batches of 4, without D2", 4096, 0);
    eprintln!("reorder: mutation (D2 dropped, batches): fails as it must: {err}");
}

/// D3 dropped after a batch's second halves (the span of several entries):
/// fails as after a single write's.
#[test]
fn reorder_mutation_batch_without_d3_fails() {
    let err = batch_mutation("512, batches of 4, without D3", 512, 8);
    eprintln!("reorder: mutation (D3 dropped, batches): fails as it must: {err}");
}

/// Durability points per sector write (issue 15, part 3): three, whatever
/// the sector size (the data block and its metadata share D2 with the flog
/// entry's first half), down from four (five with integrity metadata, whose
/// write C flushes on its own).
#[test]
fn three_durability_points_per_sector_write() {
    for &lbasize in &[512u32, 520, 528, 4096, 4104, 4160, 4224] {
        let rec = ReorderMedia::new(MemMedia::new(SIZE));
        let cfg = test_cfg(lbasize, 2);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&rec, &cfg).unwrap();
        let mut lanes: Vec<HostLane> = lanes.collect();
        for (i, lba) in [0u64, 7, 0, 100].into_iter().enumerate() {
            rec.take_events();
            do_write(&btt, &mut lanes[i % 2], lba, i as u64 + 1).unwrap();
            let ev = rec.take_events();
            let fences = ev
                .iter()
                .filter(|e| matches!(e, Event::Fence { .. }))
                .count();
            let writes = ev.len() - fences;
            let meta = usize::from(btt.meta_size() > 0);
            assert_eq!(
                (fences, writes),
                (3, 4 + meta),
                "lbasize {lbasize}: durability points and writes of one sector write"
            );
        }
    }
}

/// Durability points per batch (issue 15, part 3): three, whatever the
/// number of sectors and the sector size; per sector one data write (two
/// with metadata), and for the batch two flog writes (its log groups, first
/// halves then second halves) and one map write.
#[test]
fn three_durability_points_per_batch() {
    for &lbasize in &[512u32, 520, 4096, 4224] {
        let rec = ReorderMedia::new(MemMedia::new(SIZE));
        let cfg = test_cfg(lbasize, 2);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&rec, &cfg).unwrap();
        assert_eq!(btt.flog_lanes_per_lane(), MAX_BATCH as u32);
        let mut lanes: Vec<HostLane> = lanes.collect();
        let meta = usize::from(btt.meta_size() > 0);
        for k in [2usize, 8, MAX_BATCH] {
            rec.take_events();
            let gens: Vec<u64> = (1..=k as u64).collect();
            do_batch(&btt, &mut lanes[k % 2], 64, &gens).unwrap();
            let ev = rec.take_events();
            let fences = ev
                .iter()
                .filter(|e| matches!(e, Event::Fence { .. }))
                .count();
            assert_eq!(
                (fences, ev.len() - fences),
                (3, k * (1 + meta) + 3),
                "lbasize {lbasize}: durability points and writes of a batch of {k}"
            );
            for (i, g) in gens.iter().enumerate() {
                assert_eq!(read_gen(&btt, &mut lanes[0], 64 + i as u64), Ok(*g));
            }
        }
        // Not consecutive, or across a group: one batch each.
        rec.take_events();
        btt.write_batch(&mut lanes[0], |b| -> Result<(), Error> {
            for l in [3u64, 5, 31, 32] {
                let (data, meta) = sector_bufs(lbasize, l, 9);
                b.write_from(l, &data[..], 0, (!meta.is_empty()).then_some(&meta[..]))?;
            }
            Ok(())
        })
        .unwrap();
        let fences = rec
            .take_events()
            .iter()
            .filter(|e| matches!(e, Event::Fence { .. }))
            .count();
        assert_eq!(fences, 3 * 4, "lbasize {lbasize}: four batches");
    }
}
