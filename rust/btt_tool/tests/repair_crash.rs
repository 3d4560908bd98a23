// SPDX-License-Identifier: GPL-2.0
//! Crash simulation of `btt check --repair` (issue 13 part 4): the repair of
//! each damaged image below is run once on a recording media; then for every
//! prefix of its writes, and for every 8-byte-granular tear of the write that
//! follows it (the core's crash model, `btt_core/tests/crash.rs`: each
//! `Media::write` is durable before the next begins, so writes persist in
//! order and only the one in flight can be partial), the image a power
//! failure there leaves is rebuilt and checked:
//!
//! (a) it never reads worse than before the repair: every sampled sector
//!     that read before reads the same (or what the whole repair makes it
//!     read: a map update cut short, rolled forward), and the BTT opens at
//!     least as well (refused < read-only < writable), with one exception
//!     the format imposes: `--rewrite-log-padding` converts the flog lane by
//!     lane, and an image cut in the middle has groups of both padding
//!     schemes, which opens read-only (C refuses it) until the repair is run
//!     again; only that error is let through, for that repair only;
//! (b) a second repair finishes it: `btt check --repair` on the cut image
//!     leaves nothing, and the image then opens writable and reads every
//!     sampled sector as the uncut repair left it.

#[path = "../../btt_core/tests/common/mod.rs"]
mod common;

use btt_core::btt::check::{self, Finding};
use btt_core::btt::flog::{LogEntry, LogGroup, LogIndices, LOG_GRP_SIZE};
use btt_core::btt::info::{self, INFO_SIZE, OFF_CHECKSUM, OFF_EXTERNAL_NLBA, OFF_PADDING};
use btt_core::btt::map::Mapping;
use btt_core::btt::{ArenaInfo, Btt, Config, Error, Media};
use btt_core::host::{MemMedia, RecordingMedia, StdPlatform};
use btt_tool::repair::{self, RepairOpts};
use common::{apply, distinct_tears, pattern, Layered, Pages, MIB};

const UUID: [u8; 16] = [7; 16];

/// One damaged image and how it is repaired.
struct Case {
    name: String,
    base: Vec<u8>,
    opts: RepairOpts,
    /// The repair rewrites the flog padding (see the exception in (a)).
    padding: bool,
    /// Sectors read at each crash point: the written ones and a sample.
    lbas: Vec<u64>,
}

/// A fresh BTT with some sectors written (several twice, so that lanes hold
/// two live entries), the media it is on, and arena 0. The sector written
/// last on lane 0 is written again on lane 1, so that the block lane 0's
/// newest entry names is lane 1's free block (not the map's): a torn entry
/// that rolls a map entry forward to it then goes unnoticed by the
/// ownership check and shows as changed data.
fn written(lbasize: u32, old_padding: bool) -> (MemMedia, ArenaInfo, Vec<u64>) {
    written_but(lbasize, old_padding, None, AGAIN)
}

/// The sectors [`written`] writes a second time (`u64::MAX`: the last).
const AGAIN: &[u64] = &[0, 3, 2000, u64::MAX, u64::MAX];

/// [`written`], leaving sector `skip` as created (its map entry the
/// identity), with `again` the sectors written a second time.
fn written_but(
    lbasize: u32,
    old_padding: bool,
    skip: Option<u64>,
    again: &[u64],
) -> (MemMedia, ArenaInfo, Vec<u64>) {
    let media = MemMedia::new(16 * MIB);
    let mut cfg = Config::new(lbasize, UUID, [0; 16], 2, 0);
    cfg.nlanes = 2;
    let lbas: Vec<u64>;
    let a = {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg).unwrap();
        assert!(btt.created());
        let mut lanes: Vec<_> = lanes.collect();
        let last = btt.nlba() - 1;
        lbas = [0, 1, 2, 3, 100, 2000, last]
            .into_iter()
            .filter(|l| Some(*l) != skip)
            .collect();
        let ss = btt.sector_size() as usize;
        let meta = vec![0x5a; btt.meta_size() as usize];
        let meta = (!meta.is_empty()).then_some(&meta[..]);
        let again = again
            .iter()
            .map(|&l| l.min(last))
            .filter(|l| Some(*l) != skip);
        for (i, lba) in lbas.iter().copied().chain(again).enumerate() {
            let data = pattern(ss, lba, i as u64 + 1);
            btt.write(&mut lanes[i % 2], lba, &data, meta).unwrap();
        }
        *btt.arena(0).unwrap()
    };
    if old_padding {
        check::set_old_padding(&media, &a, |_, _| {}).unwrap();
    }
    (media, a, lbas)
}

/// Writes `lba` (generation `gen`) on lane `lane`.
fn write_on(media: &MemMedia, a: &ArenaInfo, lane: usize, lba: u64, gen: u64) {
    let mut cfg = Config::new(a.external_lbasize, UUID, [0; 16], 2, 0);
    cfg.nlanes = 2;
    let (btt, lanes) = Btt::<_, StdPlatform>::open(media, &cfg).unwrap();
    let mut lane = lanes.into_iter().nth(lane).unwrap();
    let ss = btt.sector_size() as usize;
    let meta = vec![0x3c; btt.meta_size() as usize];
    let meta = (!meta.is_empty()).then_some(&meta[..]);
    btt.write(&mut lane, lba, &pattern(ss, lba, gen), meta)
        .unwrap();
}

/// Lane `lane`'s newest entry only gets an `old_map` beyond the arena.
fn bad_newest_lane(media: &MemMedia, a: &ArenaInfo, lane: u32) {
    let (off, mut g) = log_group(media, a, lane);
    let (sub, _) = LogIndices::NEW.newest(&g).unwrap();
    g.ent[sub].old_map = a.internal_nlba + 5;
    media.write(off, &g.encode()).unwrap();
}

/// A write cut short after its flog entry, before its map entry: the map
/// update a writable open (and the repair) rolls forward.
fn pending_write(media: &MemMedia, a: &ArenaInfo, lba: u64) {
    let mut cfg = Config::new(a.external_lbasize, UUID, [0; 16], 2, 0);
    cfg.nlanes = 2;
    let at = a.map_entry_offset(lba as u32).unwrap();
    let mut before = [0u8; 4];
    media.read(at, &mut before).unwrap();
    {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(media, &cfg).unwrap();
        let mut lane = lanes.into_iter().nth(1).unwrap();
        let ss = btt.sector_size() as usize;
        let meta = vec![0xa5; btt.meta_size() as usize];
        let meta = (!meta.is_empty()).then_some(&meta[..]);
        btt.write(&mut lane, lba, &pattern(ss, lba, 99), meta)
            .unwrap();
    }
    media.write(at, &before).unwrap();
}

fn log_group(media: &MemMedia, a: &ArenaInfo, lane: u32) -> (u64, LogGroup) {
    let off = a.log_group_offset(lane).unwrap();
    let mut raw = [0u8; LOG_GRP_SIZE as usize];
    media.read(off, &mut raw).unwrap();
    (off, LogGroup::decode(&raw))
}

/// Lane `lane`'s group: garbage (its newest entry invalid).
fn garbage_lane(media: &MemMedia, a: &ArenaInfo, lane: u32) {
    let (off, _) = log_group(media, a, lane);
    media.write(off, &[0xa5; LOG_GRP_SIZE as usize]).unwrap();
}

/// Lane `lane`'s live entries get an `old_map` beyond the arena: its newest
/// entry is invalid, the padding scheme still shows.
fn bad_entry_lane(media: &MemMedia, a: &ArenaInfo, lane: u32) {
    let (off, mut g) = log_group(media, a, lane);
    for e in g.ent.iter_mut().filter(|e| !e.is_padding()) {
        e.old_map = a.internal_nlba + 5;
    }
    media.write(off, &g.encode()).unwrap();
}

/// Lane `lane`'s group: one valid entry whose free block the map owns (the
/// block of LBA `lba`).
fn double_owner_lane(media: &MemMedia, a: &ArenaInfo, lane: u32, lba: u32) {
    let mut raw = [0u8; 4];
    media
        .read(a.map_entry_offset(lba).unwrap(), &mut raw)
        .unwrap();
    let block = Mapping::decode(lba, u32::from_le_bytes(raw)).postmap;
    let (off, mut g) = log_group(media, a, lane);
    g.ent = [LogEntry::default(); 4];
    g.ent[0] = LogEntry {
        lba: lane,
        old_map: block,
        new_map: block,
        seq: 1,
    };
    media.write(off, &g.encode()).unwrap();
}

fn case(name: &str, media: MemMedia, lbas: Vec<u64>, opts: RepairOpts, padding: bool) -> Case {
    let base = media.into_vec();
    let nlba = {
        let m = MemMedia::from_vec(base.clone());
        let cfg = repair::config(&m, None, &opts).unwrap();
        let mut c = cfg;
        c.read_only = true;
        Btt::<_, StdPlatform>::open(&m, &c).map_or(0, |(b, _)| b.nlba())
    };
    assert!(nlba > 0, "{name}: does not open before the repair");
    let mut lbas = lbas;
    lbas.extend((0..nlba).step_by(509));
    lbas.push(nlba - 1);
    lbas.sort_unstable();
    lbas.dedup();
    Case {
        name: name.into(),
        base,
        opts,
        padding,
        lbas,
    }
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let uuid = RepairOpts {
        uuid: Some(UUID),
        ..RepairOpts::default()
    };
    let none = RepairOpts::default();

    let (m, _, lbas) = written(512, false);
    m.write(0, &[0; INFO_SIZE]).unwrap();
    v.push(case(
        "512: primary info block cleared (--uuid)",
        m,
        lbas,
        uuid,
        false,
    ));

    let (m, _, lbas) = written(512, false);
    m.write(0, &[0; INFO_SIZE]).unwrap();
    let trust = RepairOpts {
        trust_backup: true,
        ..none
    };
    v.push(case(
        "512: primary info block cleared (--trust-backup)",
        m,
        lbas,
        trust,
        false,
    ));

    let (m, _, lbas) = written(520, false);
    let mut b = [0u8; 1];
    m.read(OFF_EXTERNAL_NLBA as u64, &mut b).unwrap();
    m.write(OFF_EXTERNAL_NLBA as u64, &[b[0] ^ 4]).unwrap();
    v.push(case(
        "520: primary info block bit flip",
        m,
        lbas,
        none,
        false,
    ));

    let (m, a, lbas) = written(512, false);
    m.write(a.info2off, &[0; INFO_SIZE]).unwrap();
    v.push(case("512: backup info block cleared", m, lbas, none, false));

    let (m, a, lbas) = written(4096, false);
    let mut raw = [0u8; INFO_SIZE];
    m.read(a.info2off, &mut raw).unwrap();
    raw[OFF_PADDING + 10] = 1;
    let sum = info::info_checksum(&raw);
    raw[OFF_CHECKSUM..].copy_from_slice(&sum.to_le_bytes());
    m.write(a.info2off, &raw).unwrap();
    v.push(case("4096: info blocks differ", m, lbas, none, false));

    let (m, a, lbas) = written(512, false);
    garbage_lane(&m, &a, 0);
    garbage_lane(&m, &a, 7);
    v.push(case(
        "512: flog lanes 0 and 7 damaged",
        m,
        lbas,
        none,
        false,
    ));

    // Lane 1's torn group once named a block that is unowned now.
    let (m, a, lbas) = written_but(512, false, Some(0), &[0, 3, u64::MAX]);
    bad_entry_lane(&m, &a, 0);
    bad_entry_lane(&m, &a, 1);
    v.push(case(
        "512: flog lanes 0 and 1 with an invalid entry, lba 0 never written",
        m,
        lbas,
        none,
        false,
    ));

    // Lane 1's last two writes are to lba 7: its older entry, were it the
    // newest, would roll lba 7 back to the block of its previous data.
    let (m, a, mut lbas) = written(512, false);
    // (Three: lane 1 has written 9 times, its newest entry in slot 1.)
    for gen in 1..=3 {
        write_on(&m, &a, 1, 7, gen);
    }
    bad_newest_lane(&m, &a, 1);
    lbas.push(7);
    v.push(case(
        "512: flog lane 1's newest entry damaged, its older one valid",
        m,
        lbas,
        none,
        false,
    ));

    let (m, a, lbas) = written(520, false);
    double_owner_lane(&m, &a, 9, 3);
    v.push(case(
        "520: flog lane 9's free block owned by the map",
        m,
        lbas,
        none,
        false,
    ));

    let (m, a, mut lbas) = written(512, false);
    pending_write(&m, &a, 5);
    lbas.push(5);
    v.push(case("512: map update cut short", m, lbas, none, false));

    let (m, a, mut lbas) = written(512, false);
    pending_write(&m, &a, 6);
    garbage_lane(&m, &a, 40);
    double_owner_lane(&m, &a, 41, 100);
    m.write(0, &[0; INFO_SIZE]).unwrap();
    lbas.push(6);
    v.push(case(
        "512: primary cleared, 2 flog lanes damaged, map update cut short",
        m,
        lbas,
        uuid,
        false,
    ));

    let (m, a, mut lbas) = written(4096, false);
    pending_write(&m, &a, 8);
    garbage_lane(&m, &a, 1);
    m.write(a.info2off, &[0; INFO_SIZE]).unwrap();
    lbas.push(8);
    v.push(case(
        "4096: backup cleared, flog lane 1 damaged, map update cut short",
        m,
        lbas,
        none,
        false,
    ));

    let (m, _, lbas) = written(512, true);
    let pad = RepairOpts {
        rewrite_log_padding: true,
        ..none
    };
    v.push(case(
        "512: (0, 2) flog padding rewritten",
        m,
        lbas,
        pad,
        true,
    ));

    let (m, _, lbas) = written_but(512, true, Some(0), AGAIN);
    v.push(case(
        "512: (0, 2) flog padding rewritten, lba 0 never written",
        m,
        lbas,
        pad,
        true,
    ));

    let (m, a, mut lbas) = written(4096, true);
    pending_write(&m, &a, 11);
    garbage_lane(&m, &a, 3);
    lbas.push(11);
    v.push(case(
        "4096: (0, 2) padding rewritten, flog lane 3 damaged, map update cut short",
        m,
        lbas,
        pad,
        true,
    ));
    v
}

/// How well the BTT on `m` opens: 0 refused, 1 some arena read-only, 2
/// writable; and the flog damage that made an arena read-only, if any.
fn open_mode<M: Media>(m: M, opts: &RepairOpts) -> (u8, Option<Error>) {
    let Ok(mut c) = repair::config(&m, None, opts) else {
        return (0, None);
    };
    c.read_only = true;
    c.full_check = true;
    let Ok((btt, _)) = Btt::<_, StdPlatform>::open(m, &c) else {
        return (0, None);
    };
    let mut mode = 2;
    let mut damage = None;
    for i in 0..btt.num_arenas() {
        if let Some(e) = btt.arena_flog_damage(i) {
            damage = Some(e);
            mode = 1;
        }
        if btt.arena_media_error(i).is_some() || btt.arena(i).unwrap().has_error_flag() {
            mode = 1;
        }
    }
    (mode, damage)
}

/// Each of `lbas` as a read-only open reads it (data and metadata), `None`
/// where it does not read (or the BTT does not open).
fn read_all<M: Media>(m: M, opts: &RepairOpts, lbas: &[u64]) -> Vec<Option<Vec<u8>>> {
    let Ok(mut c) = repair::config(&m, None, opts) else {
        return vec![None; lbas.len()];
    };
    c.read_only = true;
    c.full_check = false;
    let Ok((btt, lanes)) = Btt::<_, StdPlatform>::open(m, &c) else {
        return vec![None; lbas.len()];
    };
    let mut lane = lanes.into_iter().next().unwrap();
    let ss = btt.sector_size() as usize;
    let ms = btt.meta_size() as usize;
    lbas.iter()
        .map(|&lba| {
            let mut buf = vec![0u8; ss + ms];
            let (data, meta) = buf.split_at_mut(ss);
            let meta = (ms > 0).then_some(meta);
            btt.read(&mut lane, lba, data, meta).ok().map(|()| buf)
        })
        .collect()
}

/// Runs `btt check --repair` on `m`: its lines and outcome.
fn run_repair<M: Media>(
    m: &M,
    opts: &RepairOpts,
) -> Result<(Vec<String>, repair::Repaired), String> {
    let cfg = repair::config(m, None, opts).map_err(|e| format!("config: {e:?}"))?;
    let mut findings: Vec<Finding> = Vec::new();
    repair::run_check(m, &cfg, &mut findings)?;
    let mut lines = Vec::new();
    let r = repair::repair(m, &cfg, opts, &mut findings, &mut |l| {
        lines.push(l.to_string())
    })?;
    Ok((lines, r))
}

/// Checks every crash point of the repair of `c`; returns how many.
fn crash_points(c: &Case) -> usize {
    let name = &c.name;
    let empty = Pages::new();
    let before = Layered::new(&c.base, &empty);
    let (mode_before, _) = open_mode(&before, &c.opts);
    let reads_before = read_all(&before, &c.opts, &c.lbas);

    // The uncut repair.
    let rec = RecordingMedia::new(MemMedia::from_vec(c.base.clone()));
    let (lines, r) = run_repair(&rec, &c.opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(r.repaired > 0 && r.left == 0, "{name}: {lines:#?}");
    let log = rec.take_log();
    let reads_done = read_all(&rec, &c.opts, &c.lbas);
    assert_eq!(open_mode(&rec, &c.opts).0, 2, "{name}: after the repair");
    assert!(
        reads_done.iter().all(|r| r.is_some()),
        "{name}: unreadable after the repair"
    );
    for (i, (b, d)) in reads_before.iter().zip(&reads_done).enumerate() {
        if b.is_some() && b != d && !lines.iter().any(|l| l.contains("rolled forward")) {
            panic!("{name}: lba {} reads otherwise after the repair", c.lbas[i]);
        }
    }
    // A second repair of the repaired image finds nothing to do.
    let (_, again) = run_repair(&rec, &c.opts).unwrap();
    assert_eq!((again.repaired, again.left), (0, 0), "{name}");
    assert!(rec.take_log().is_empty(), "{name}: a second repair wrote");

    let mut prefix = Pages::new();
    let (mut points, mut read_only_mid_padding) = (0, 0);
    for k in 0..=log.len() {
        let mut cuts = vec![None];
        if let Some(w) = log.get(k) {
            cuts.extend(distinct_tears(&c.base, &prefix, w).into_iter().map(Some));
        }
        for torn in cuts {
            points += 1;
            let what = format!(
                "{name}: cut after {k} of {} writes, torn {torn:?}",
                log.len()
            );
            let m = Layered::new(&c.base, &prefix);
            if let Some(n) = torn {
                m.poke(log[k].offset, &log[k].bytes[..n]);
            }
            // (a) never reads worse than before.
            let (mode, damage) = open_mode(&m, &c.opts);
            let mid_padding = c.padding
                && matches!(
                    damage,
                    Some(Error::Corrupt {
                        field: "flog padding scheme (log_index)",
                        ..
                    })
                );
            if mode < mode_before && mid_padding && mode == 1 {
                read_only_mid_padding += 1;
            } else {
                assert!(
                    mode >= mode_before,
                    "{what}: opens worse ({mode}, {damage:?}) than before ({mode_before})"
                );
            }
            let reads = read_all(&m, &c.opts, &c.lbas);
            for (i, now) in reads.iter().enumerate() {
                let (b, d) = (&reads_before[i], &reads_done[i]);
                assert!(
                    b.is_none() || now == b || now == d,
                    "{what}: lba {} {} (it read before the repair)",
                    c.lbas[i],
                    if now.is_some() {
                        "reads other data"
                    } else {
                        "does not read"
                    }
                );
            }
            // (b) a second repair finishes it.
            let (lines, r) = run_repair(&m, &c.opts).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.left, 0, "{what}: second repair: {lines:#?}");
            assert_eq!(open_mode(&m, &c.opts).0, 2, "{what}: after a second repair");
            let reads = read_all(&m, &c.opts, &c.lbas);
            for (i, now) in reads.iter().enumerate() {
                assert!(
                    *now == reads_done[i],
                    "{what}: lba {} after a second repair differs from the uncut repair",
                    c.lbas[i]
                );
            }
        }
        if let Some(w) = log.get(k) {
            apply(&mut prefix, None, &c.base, w.offset, &w.bytes);
        }
    }
    eprintln!(
        "repair crash: {name}: {} repair writes, {points} crash points checked \
         ({read_only_mid_padding} read-only mid padding rewrite)",
        log.len()
    );
    points
}

#[test]
fn repair_cut_at_any_write() {
    // BTT_REPAIR_CASE=TEXT: only the images whose name holds TEXT.
    let only = std::env::var("BTT_REPAIR_CASE").unwrap_or_default();
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|c| c.name.contains(&only))
        .collect();
    let total: usize = cases.iter().map(crash_points).sum();
    println!(
        "repair crash: {total} crash points checked over {} damaged images",
        cases.len()
    );
}
