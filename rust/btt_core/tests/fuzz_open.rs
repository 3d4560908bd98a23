// SPDX-License-Identifier: GPL-2.0
//! Bounded fuzzing of `Btt::open`: thousands of random corruptions (bit
//! flips, random and boundary `u32`/`u64` field values, zeroed ranges, info
//! block fields changed and the checksum recomputed, flog entries rewritten)
//! of the info blocks, map and flog of valid images (made by the core and by
//! the C driver), with a fixed seed.
//!
//! For each corrupted image:
//! - a read-only open and a writable open never panic;
//! - an open that fails has written nothing (and a read-only open never writes);
//! - after an open that succeeds, reads never panic (errors are fine), one
//!   write per lane changes only its own sector (the block it fills is owned
//!   by no other sector, no other map entry moves), and the BTT opens again
//!   with the written sectors intact.

mod common;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use btt_core::btt::check::{check_btt, repair_flog, Finding, Owner};
use btt_core::btt::flog::LOG_GRP_SIZE;
use btt_core::btt::info::{self, InfoBlock, INFO_SIZE};
use btt_core::btt::map::Mapping;
use btt_core::btt::{ArenaInfo, Btt, Config, Media};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

const NLANES: u32 = 4;
/// Iterations per base image.
const ITERS: usize = 2000;

struct Base {
    name: &'static str,
    bytes: Vec<u8>,
    /// Size of the media: `bytes`, then zeroes.
    size: u64,
    cfg: Config,
    /// Every arena of the image.
    arenas: Vec<ArenaInfo>,
    /// LBAs the base image has data in.
    written: Vec<u64>,
}

fn open_info(bytes: &[u8], size: u64, cfg: &Config) -> Vec<ArenaInfo> {
    let mut c = *cfg;
    c.read_only = true;
    let empty = Pages::new();
    let media = Layered::with_size(bytes, &empty, size);
    let (btt, _) = Btt::<_, StdPlatform>::open(&media, &c).unwrap();
    btt.arenas().copied().collect()
}

fn core_base(name: &'static str, lbasize: u32, old_padding: bool) -> Base {
    let mut cfg = cfg(lbasize);
    cfg.nlanes = NLANES;
    let media = MemMedia::new(16 * MIB);
    let mut written = Vec::new();
    {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg).unwrap();
        let mut lanes: Vec<HostLane> = lanes.collect();
        let ss = btt.sector_size() as usize;
        let nlba = btt.nlba();
        for i in 0..48u64 {
            let lba = (i * 37) % 20 + if i % 5 == 0 { nlba - 1 - i } else { 0 };
            btt.write(
                &mut lanes[(i % 4) as usize],
                lba,
                &pattern(ss, lba, i + 1),
                None,
            )
            .unwrap();
            written.push(lba);
        }
        if old_padding {
            let a = btt.arena(0).unwrap();
            for lane in 0..a.nfree {
                let off = a.logoff + u64::from(lane) * LOG_GRP_SIZE;
                let mut raw = [0u8; 64];
                media.read(off, &mut raw).unwrap();
                let (s1, s2) = (raw[16..32].to_vec(), raw[32..48].to_vec());
                raw[32..48].copy_from_slice(&s1);
                raw[16..32].copy_from_slice(&s2);
                media.write(off, &raw).unwrap();
            }
        }
    }
    let bytes = media.into_vec();
    let size = bytes.len() as u64;
    let arenas = open_info(&bytes, size, &cfg);
    assert_eq!(
        arenas[0].log_index,
        if old_padding { [0, 2] } else { [0, 1] }
    );
    written.sort_unstable();
    written.dedup();
    Base {
        name,
        bytes,
        size,
        cfg,
        arenas,
        written,
    }
}

/// Two 16 MiB arenas, arena 0's `nextoff` pointing at the second, on a
/// media of 512 GiB + 32 MiB that is zero after them (the core makes room for
/// one arena per 512 GiB started; C only makes arenas of 512 GiB but opens
/// any size), with data in both.
fn two_arena_base() -> Base {
    let mut c = cfg(4096);
    c.nlanes = NLANES;
    let one = {
        let media = MemMedia::new(16 * MIB);
        drop(Btt::<_, StdPlatform>::open(&media, &c).unwrap());
        media.into_vec()
    };
    let mut bytes = [one.clone(), one].concat();
    let sb0 = InfoBlock::decode(&bytes[..INFO_SIZE].try_into().unwrap());
    for off in [0, sb0.info2off as usize] {
        let mut sb = InfoBlock::decode(&bytes[off..off + INFO_SIZE].try_into().unwrap());
        sb.nextoff = 16 * MIB as u64;
        let mut raw = [0u8; INFO_SIZE];
        sb.seal(&mut raw);
        bytes[off..off + INFO_SIZE].copy_from_slice(&raw);
    }
    let size = (1u64 << 39) + 32 * MIB as u64;
    let mut written = Vec::new();
    let empty = Pages::new();
    let media = Layered::with_size(&bytes, &empty, size);
    {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &c).unwrap();
        assert_eq!(btt.num_arenas(), 2);
        let mut lanes: Vec<HostLane> = lanes.collect();
        let split = btt.arena(1).unwrap().external_lba_start;
        for i in 0..40u64 {
            let lba = [i % 9, split - 1 - i % 3, split + i % 7, btt.nlba() - 1][(i % 4) as usize];
            btt.write(
                &mut lanes[(i % 4) as usize],
                lba,
                &pattern(4096, lba, i + 1),
                None,
            )
            .unwrap();
            written.push(lba);
        }
    }
    let mut img = vec![0u8; bytes.len()];
    media.read(0, &mut img).unwrap();
    let arenas = open_info(&img, size, &c);
    assert_eq!(arenas.len(), 2);
    written.sort_unstable();
    written.dedup();
    Base {
        name: "core 4096, two 16 MiB arenas",
        bytes: img,
        size,
        cfg: c,
        arenas,
        written,
    }
}

fn c_base(name: &'static str, lbasize: u32, offset: usize, version: (u16, u16)) -> Base {
    let bytes = load_sparse(&format!("{name}.raw.sparse"))[offset..].to_vec();
    let sb = InfoBlock::decode(&bytes[..INFO_SIZE].try_into().unwrap());
    let mut cfg = Config::new(lbasize, sb.uuid, sb.parent_uuid, version.0, version.1);
    cfg.nlanes = NLANES;
    let size = bytes.len() as u64;
    let arenas = open_info(&bytes, size, &cfg);
    let last = u64::from(arenas[0].external_nlba) - 1;
    Base {
        name,
        bytes,
        size,
        cfg,
        arenas,
        // The fixtures' README: sectors 0..63 and the last one.
        written: (0..64).chain([last]).collect(),
    }
}

/// Values that sit on the edges of what the checks accept.
fn interesting_u32(rng: &mut Rng, a: &ArenaInfo) -> u32 {
    let pick = [
        0,
        1,
        2,
        3,
        4,
        u32::MAX,
        0x3fff_ffff,
        0x4000_0000,
        0x8000_0000,
        0xc000_0000,
        a.internal_nlba,
        a.internal_nlba - 1,
        a.external_nlba,
        a.external_nlba - 1,
        a.external_nlba + 1,
        a.nfree,
        a.nfree - 1,
        a.internal_lbasize,
        a.external_lbasize,
        4096,
    ];
    match rng.below(4) {
        0 => rng.next_u64() as u32,
        1 => {
            (rng.below(u64::from(a.internal_nlba)) as u32)
                | [0, 0x4000_0000, 0x8000_0000, 0xc000_0000][rng.below(4) as usize]
        }
        _ => pick[rng.below(pick.len() as u64) as usize],
    }
}

fn interesting_u64(rng: &mut Rng, size: u64, a: &ArenaInfo) -> u64 {
    let pick = [
        0,
        1,
        8,
        4096,
        u64::MAX,
        1 << 39,
        size,
        size - 4096,
        size + 4096,
        a.mapoff,
        a.logoff,
        a.info2off,
        a.dataoff,
        a.mapoff + 4,
        a.logoff - 64,
        a.info2off + 8,
    ];
    match rng.below(3) {
        0 => rng.next_u64(),
        _ => pick[rng.below(pick.len() as u64) as usize],
    }
}

/// One corruption: bytes to put at an offset, and what it was.
struct Patch {
    offset: u64,
    bytes: Vec<u8>,
    what: String,
}

/// Info block fields: (C name, offset, width).
const FIELDS: [(&str, usize, usize); 17] = [
    ("signature", info::OFF_SIGNATURE, 8),
    ("uuid", info::OFF_UUID, 8),
    ("parent_uuid", info::OFF_PARENT_UUID, 8),
    ("flags", info::OFF_FLAGS, 4),
    ("version_major", info::OFF_VERSION_MAJOR, 2),
    ("version_minor", info::OFF_VERSION_MINOR, 2),
    ("external_lbasize", info::OFF_EXTERNAL_LBASIZE, 4),
    ("external_nlba", info::OFF_EXTERNAL_NLBA, 4),
    ("internal_lbasize", info::OFF_INTERNAL_LBASIZE, 4),
    ("internal_nlba", info::OFF_INTERNAL_NLBA, 4),
    ("nfree", info::OFF_NFREE, 4),
    ("infosize", info::OFF_INFOSIZE, 4),
    ("nextoff", info::OFF_NEXTOFF, 8),
    ("dataoff", info::OFF_DATAOFF, 8),
    ("mapoff", info::OFF_MAPOFF, 8),
    ("logoff", info::OFF_LOGOFF, 8),
    ("info2off", info::OFF_INFO2OFF, 8),
];

fn corrupt(rng: &mut Rng, b: &Base, cur: &Layered) -> Vec<Patch> {
    let a = &b.arenas[rng.below(b.arenas.len() as u64) as usize];
    let size = b.size;
    let map_len = u64::from(a.external_nlba) * 4;
    let log_len = u64::from(a.nfree) * LOG_GRP_SIZE;
    // Region: (name, start, len), biased towards the used parts.
    let (rname, start, len) = match rng.below(8) {
        0 => ("info", a.infooff, INFO_SIZE as u64),
        1 => ("info2", a.info2off, INFO_SIZE as u64),
        2 => ("map", a.mapoff, map_len),
        3 => ("map (used)", a.mapoff, 256),
        4 => ("flog", a.logoff, log_len),
        5 | 6 => (
            "flog (used lanes)",
            a.logoff,
            u64::from(NLANES) * LOG_GRP_SIZE,
        ),
        _ => ("flog (lanes 0..16)", a.logoff, 16 * LOG_GRP_SIZE),
    };
    let mut out = Vec::new();
    match rng.below(6) {
        0 => {
            let at = start + rng.below(len);
            let mut byte = [0u8];
            cur.read(at, &mut byte).unwrap();
            let bit = rng.below(8);
            out.push(Patch {
                offset: at,
                bytes: vec![byte[0] ^ (1 << bit)],
                what: format!("{rname}: flip bit {bit} at {at:#x}"),
            });
        }
        1 => {
            let at = start + rng.below(len / 4) * 4;
            let v = interesting_u32(rng, a);
            out.push(Patch {
                offset: at,
                bytes: v.to_le_bytes().to_vec(),
                what: format!("{rname}: u32 {v:#x} at {at:#x}"),
            });
        }
        2 => {
            let at = start + rng.below(len / 8) * 8;
            let v = interesting_u64(rng, size, a);
            out.push(Patch {
                offset: at,
                bytes: v.to_le_bytes().to_vec(),
                what: format!("{rname}: u64 {v:#x} at {at:#x}"),
            });
        }
        3 => {
            let at = start + rng.below(len);
            let n = if rng.chance(10) {
                len - (at - start)
            } else {
                1 + rng.below(512)
            };
            let n = n.min(start + len - at);
            out.push(Patch {
                offset: at,
                bytes: vec![0; n as usize],
                what: format!("{rname}: {n} zero bytes at {at:#x}"),
            });
        }
        4 => {
            // An info block field, checksum recomputed: primary, backup or both.
            let (name, off, width) = FIELDS[rng.below(FIELDS.len() as u64) as usize];
            let v = if width == 8 {
                interesting_u64(rng, size, a)
            } else {
                u64::from(interesting_u32(rng, a))
            };
            let which = rng.below(3);
            for (i, base) in [a.infooff, a.info2off].into_iter().enumerate() {
                if which != 2 && which != i as u64 {
                    continue;
                }
                let mut raw = [0u8; INFO_SIZE];
                cur.read(base, &mut raw).unwrap();
                raw[off..off + width].copy_from_slice(&v.to_le_bytes()[..width]);
                let mut sb = InfoBlock::decode(&raw);
                sb.seal(&mut raw);
                out.push(Patch {
                    offset: base,
                    bytes: raw.to_vec(),
                    what: format!("info block at {base:#x}: {name} = {v:#x}, resealed"),
                });
            }
        }
        _ => {
            // A flog entry field of a used lane (or any lane).
            let lane = if rng.chance(70) {
                rng.below(u64::from(NLANES))
            } else {
                rng.below(u64::from(a.nfree))
            };
            let slot = rng.below(4);
            let field = rng.below(4);
            let v = match field {
                3 => rng.below(6) as u32,
                _ => interesting_u32(rng, a),
            };
            let at = a.logoff + lane * LOG_GRP_SIZE + slot * 16 + field * 4;
            out.push(Patch {
                offset: at,
                bytes: v.to_le_bytes().to_vec(),
                what: format!(
                    "flog lane {lane} slot {slot} {} = {v:#x}",
                    ["lba", "old_map", "new_map", "seq"][field as usize]
                ),
            });
        }
    }
    out
}

fn map_entries(media: &Layered, a: &ArenaInfo) -> Vec<u32> {
    let mut raw = vec![0u8; a.external_nlba as usize * 4];
    media.read(a.mapoff, &mut raw).unwrap();
    raw.chunks_exact(4)
        .map(|e| u32::from_le_bytes(e.try_into().unwrap()))
        .collect()
}

/// The arena of external block `lba` and the premap block in it.
fn locate(arenas: &[ArenaInfo], lba: u64) -> (usize, u64) {
    let i = arenas
        .iter()
        .rposition(|a| a.external_lba_start <= lba)
        .unwrap();
    (i, lba - arenas[i].external_lba_start)
}

/// What happens to one corrupted image; panics (with `what`) on a violation.
fn one(b: &Base, overlay: &Pages, rng: &mut Rng, read_all: bool, stats: &mut [usize; 3]) {
    // Read-only: never a write, whatever the outcome.
    let media = Layered::with_size(&b.bytes, overlay, b.size);
    let mut ro = b.cfg;
    ro.read_only = true;
    if let Ok((btt, lanes)) = Btt::<_, StdPlatform>::open(&media, &ro) {
        let mut lanes: Vec<HostLane> = lanes.collect();
        let mut buf = vec![0u8; btt.sector_size() as usize];
        for &lba in &b.written {
            let _ = btt.read(&mut lanes[0], lba, &mut buf, None);
        }
    }
    assert_eq!(
        media.writes.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "read-only open wrote"
    );

    // `btt check` on the same image: never a panic, never a write.
    let media = Layered::with_size(&b.bytes, overlay, b.size);
    let mut findings = Vec::new();
    let checked = check_btt::<_, StdPlatform>(&media, &b.cfg, |f| findings.push(*f));
    assert_eq!(
        media.writes.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "check wrote"
    );
    let clean = matches!(checked, Ok(s) if s.problems == 0);

    let media = Layered::with_size(&b.bytes, overlay, b.size);
    let opened = Btt::<_, StdPlatform>::open(&media, &b.cfg);
    // What open accepts, check finds safe: at most a damaged info block copy,
    // interrupted writes, an arena error flag or lost (unowned) blocks. And
    // an image check finds clean opens.
    // No BTT signature, or info blocks naming another namespace as parent:
    // open writes a new BTT, as C does (fixtures.rs tests exactly when).
    let replaced = matches!(&opened, Ok((btt, _)) if btt.created());
    if let (Ok((btt, _)), false) = (&opened, replaced) {
        for f in findings.iter().filter(|f| f.is_problem()) {
            // A damaged flog is accepted read-only, in its own arena only.
            let read_only_flog = match f {
                Finding::Flog { arena, .. }
                | Finding::DoubleOwner {
                    arena,
                    owner: Owner::Lane(_),
                    ..
                } => btt.arena_flog_damage(*arena).is_some() && !btt.arena_writable(*arena),
                _ => false,
            };
            let benign = read_only_flog
                || matches!(
                    f,
                    Finding::InfoBlock {
                        other_valid: true,
                        ..
                    } | Finding::InfoMismatch { .. }
                        | Finding::PendingMapUpdate { .. }
                        | Finding::ErrorFlag { .. }
                        | Finding::Unowned { .. }
                );
            assert!(benign, "open accepts what check reports: {f}");
        }
    }
    if let (true, Err(e)) = (clean, &opened) {
        panic!("check finds the image clean, open refuses it: {e}");
    }
    let (btt, lanes) = match opened {
        Err(e) => {
            assert!(
                media.top.lock().unwrap().is_empty(),
                "open failed ({e}) but wrote"
            );
            stats[0] += 1;
            return;
        }
        Ok(x) => x,
    };
    stats[1] += 1;
    let mut lanes: Vec<HostLane> = lanes.collect();
    let arenas: Vec<ArenaInfo> = btt.arenas().copied().collect();
    let nlba = btt.nlba();
    let ss = btt.sector_size() as usize;
    let ms = btt.meta_size() as usize;
    let mut buf = vec![0u8; ss];
    let mut mbuf = vec![0u8; ms];
    // Reads: all sectors, or those with data, the map entries the corruption
    // may have hit, the flog's LBAs, and some at random.
    let mut lbas: BTreeSet<u64> = b.written.iter().copied().filter(|l| *l < nlba).collect();
    if read_all {
        lbas.extend(0..nlba);
    } else {
        lbas.extend((0..256).map(|_| rng.below(nlba)));
        lbas.extend(0..64.min(nlba));
        for a in &arenas {
            for lane in 0..a.nfree.min(16) {
                let mut raw = [0u8; 64];
                media
                    .read(a.log_group_offset(lane).unwrap(), &mut raw)
                    .unwrap();
                for e in raw.chunks_exact(16) {
                    let lba = u64::from(u32::from_le_bytes(e[..4].try_into().unwrap()));
                    if lba < u64::from(a.external_nlba) {
                        lbas.insert(a.external_lba_start + lba);
                    }
                }
            }
        }
    }
    for &lba in &lbas {
        let lane = &mut lanes[(lba % 4) as usize];
        let _ = btt.read(lane, lba, &mut buf, (ms > 0).then_some(&mut mbuf[..]));
    }
    let _ = btt.read(&mut lanes[0], nlba, &mut buf, None);

    // One write per lane, each to its own sector.
    let before: Vec<Vec<u32>> = arenas.iter().map(|a| map_entries(&media, a)).collect();
    let mut targets = Vec::new();
    while targets.len() < lanes.len() {
        let t = rng.below(nlba);
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    // (arena, premap) written, and (arena, block) filled.
    let mut done = Vec::new();
    let mut blocks = Vec::new();
    for (lane, &t) in lanes.iter_mut().zip(&targets) {
        let (ai, premap) = locate(&arenas, t);
        let block = lane.free_entry(ai).unwrap().block;
        let meta = vec![0x77u8; ms];
        if btt
            .write(lane, t, &pattern(ss, t, 9), (ms > 0).then_some(&meta[..]))
            .is_ok()
        {
            done.push((ai, premap));
            blocks.push((ai, block));
        }
    }
    if !done.is_empty() {
        stats[2] += 1;
    }
    for (ai, a) in arenas.iter().enumerate() {
        let after = map_entries(&media, a);
        for (p, (x, y)) in before[ai].iter().zip(&after).enumerate() {
            if done.contains(&(ai, p as u64)) {
                continue;
            }
            assert_eq!(
                x, y,
                "arena {ai} map entry {p} changed by writes to {done:?}"
            );
            let post = Mapping::decode(p as u32, *y).postmap;
            assert!(
                !blocks.contains(&(ai, post)),
                "writes to {done:?} filled block {post} of arena {ai}, which premap {p} owns"
            );
        }
    }
    let done: Vec<u64> = done
        .iter()
        .map(|&(ai, p)| arenas[ai].external_lba_start + p)
        .collect();
    for &t in &done {
        btt.read(&mut lanes[0], t, &mut buf, None).unwrap();
        assert!(
            buf == pattern(ss, t, 9),
            "lba {t} does not read back what was written"
        );
    }
    drop(lanes);
    drop(btt);
    // What open accepted and wrote to must open again, with the writes in it.
    if !done.is_empty() {
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &b.cfg)
            .unwrap_or_else(|e| panic!("reopen after writes to {done:?} fails: {e}"));
        let mut lanes: Vec<HostLane> = lanes.collect();
        for &t in &done {
            btt.read(&mut lanes[1], t, &mut buf, None).unwrap();
            assert!(buf == pattern(ss, t, 9), "lba {t} lost across a reopen");
        }
    }
}

/// An image opened with a damaged flog: `repair_flog` on each damaged arena
/// leaves every sector reading as before, and the BTT then opens with those
/// arenas writable (unless their info block carries the error flag).
/// Returns whether there was anything to repair.
fn flog_repair(b: &Base, overlay: &Pages) -> bool {
    let media = Layered::with_size(&b.bytes, overlay, b.size);
    let mut ro = b.cfg;
    ro.read_only = true;
    let Ok((btt, lanes)) = Btt::<_, StdPlatform>::open(&media, &ro) else {
        return false;
    };
    let damaged: Vec<ArenaInfo> = (0..btt.num_arenas())
        .filter(|&i| btt.arena_flog_damage(i).is_some())
        .map(|i| *btt.arena(i).unwrap())
        .collect();
    if damaged.is_empty() || btt.created() {
        return false;
    }
    let mut lanes: Vec<HostLane> = lanes.collect();
    let ss = btt.sector_size() as usize;
    let read = |btt: &HostBtt<&Layered>, lane: &mut HostLane| -> Vec<Option<Vec<u8>>> {
        b.written
            .iter()
            .map(|&lba| {
                let mut buf = vec![0u8; ss];
                btt.read(lane, lba, &mut buf, None).ok().map(|()| buf)
            })
            .collect()
    };
    let before = read(&btt, &mut lanes[0]);
    drop(lanes);
    drop(btt);
    for a in &damaged {
        if let Err(e) = repair_flog::<_, StdPlatform>(&media, a, |_, _, _| {}) {
            panic!("flog repair of the arena at {:#x} failed: {e}", a.infooff);
        }
    }
    // Read-only again, so that interrupted writes in sound lanes are not
    // rolled forward (a writable open would, before as after the repair).
    let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &ro)
        .unwrap_or_else(|e| panic!("read-only open after the flog repair fails: {e}"));
    let mut lanes: Vec<HostLane> = lanes.collect();
    assert!(
        read(&btt, &mut lanes[0]) == before,
        "the flog repair changed what sectors read"
    );
    drop(lanes);
    drop(btt);
    let (btt, _) = Btt::<_, StdPlatform>::open(&media, &b.cfg)
        .unwrap_or_else(|e| panic!("open after the flog repair fails: {e}"));
    for (i, a) in btt.arenas().enumerate() {
        assert!(
            btt.arena_flog_damage(i).is_none(),
            "arena {i}: flog still damaged after the repair"
        );
        assert!(
            btt.arena_writable(i) || a.has_error_flag(),
            "arena {i}: not writable after the flog repair"
        );
    }
    true
}

/// Without the ownership check (as the C driver opens): open and I/O must
/// still never panic, and a refused image is still not written.
fn lenient(b: &Base, overlay: &Pages, rng: &mut Rng) {
    let media = Layered::with_size(&b.bytes, overlay, b.size);
    let mut c = b.cfg;
    c.full_check = false;
    let (btt, lanes) = match Btt::<_, StdPlatform>::open(&media, &c) {
        Err(e) => {
            assert!(
                media.top.lock().unwrap().is_empty(),
                "open (no full check) failed ({e}) but wrote"
            );
            return;
        }
        Ok(x) => x,
    };
    let mut lanes: Vec<HostLane> = lanes.collect();
    let nlba = btt.nlba();
    let ss = btt.sector_size() as usize;
    let mut buf = vec![0u8; ss];
    for i in 0..64u64 {
        let lba = if i < 32 { i } else { rng.below(nlba) };
        let lane = &mut lanes[(i % 4) as usize];
        let _ = btt.read(lane, lba, &mut buf, None);
        if i % 8 == 0 {
            let _ = btt.write(lane, lba, &pattern(ss, lba, 3), None);
        }
    }
}

fn fuzz(b: &Base, seed: u64) {
    let mut rng = Rng(seed);
    let mut stats = [0usize; 3];
    let mut repaired = 0usize;
    for iter in 0..ITERS {
        let mut overlay = Pages::new();
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let patches = {
                let cur = Layered::with_size(&b.bytes, &overlay, b.size);
                corrupt(&mut rng, b, &cur)
            };
            for p in patches {
                // Media without a BTT signature is blank and gets a new
                // layout: over 512 GiB, too slow to check thousands of times.
                let sig = 0..info::SIG_LEN as u64;
                if b.size > 1 << 30
                    && p.offset < sig.end
                    && sig.start < p.offset + p.bytes.len() as u64
                {
                    continue;
                }
                apply(&mut overlay, None, &b.bytes, p.offset, &p.bytes);
                what.push(p.what);
            }
        }
        let read_all = iter % 16 == 0;
        let mut rng2 = Rng(rng.next_u64());
        let r = catch_unwind(AssertUnwindSafe(|| {
            one(b, &overlay, &mut rng2, read_all, &mut stats);
            lenient(b, &overlay, &mut rng2);
            if flog_repair(b, &overlay) {
                repaired += 1;
            }
        }));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "{}: iteration {iter} (seed {seed}): {what:?}: {msg}",
                b.name
            );
        }
    }
    eprintln!(
        "{}: {ITERS} corrupted images: {} refused without a write, {} opened ({} then written), \
         {repaired} with a damaged flog opened read-only and mended",
        b.name, stats[0], stats[1], stats[2]
    );
    assert!(
        stats[0] > ITERS / 10 && stats[1] > ITERS / 10,
        "{}: {stats:?}",
        b.name
    );
}

#[test]
fn fuzz_core_4096() {
    fuzz(&core_base("core 4096", 4096, false), 0xb77_0001);
}

#[test]
fn fuzz_core_512_old_padding() {
    fuzz(
        &core_base("core 512, (0, 2) padding", 512, true),
        0xb77_0002,
    );
}

#[test]
fn fuzz_c_4096() {
    fuzz(
        &c_base("c-v2.0-4096-labelless", 4096, 0, (2, 0)),
        0xb77_0003,
    );
}

#[test]
fn fuzz_two_arenas() {
    fuzz(&two_arena_base(), 0xb77_0005);
}

#[test]
fn fuzz_c_520() {
    fuzz(&c_base("c-v1.1-520", 520, 4096, (1, 1)), 0xb77_0004);
}
