// SPDX-License-Identifier: GPL-2.0
//! A namespace of several arenas (more than 512 GiB), on a sparse file through
//! `FileMedia`: create, write the first and last sector of every arena and the
//! sectors on each arena boundary, then write batches across the boundaries,
//! reopen, read back.

mod common;

use std::fs::OpenOptions;

use btt_core::btt::info::{self, InfoBlock, INFO_SIZE};
use btt_core::btt::layout::{ArenaLayout, ARENA_MAX_SIZE};
use btt_core::btt::{Btt, Config, Error, Media};
use btt_core::host::{FileMedia, StdPlatform};
use common::*;

const MIB: u64 = 1 << 20;

fn run(lbasize: u32, base: u64, rawsize: u64, want_arenas: usize) {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("multi-arena-{lbasize}-{base}.img"));
    let _ = std::fs::remove_file(&path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    file.set_len(base + rawsize).unwrap();
    let mut cfg = Config::new(lbasize, [3; 16], [0; 16], 1, 1);
    cfg.nlanes = 4;
    // The ownership check reads every map (512 MiB per full arena at 4096).
    cfg.full_check = false;

    let open = |cfg: &Config| {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let media = FileMedia::new(f, base, rawsize, true);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(media, cfg).unwrap();
        (btt, lanes.collect::<Vec<_>>())
    };

    let (btt, mut lanes) = {
        let media = FileMedia::new(file, base, rawsize, true);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(media, &cfg).unwrap();
        (btt, lanes.collect::<Vec<_>>())
    };
    assert!(btt.created());
    assert_eq!(btt.num_arenas(), want_arenas);

    // Each arena's geometry is C's alloc_arena() for its size, at its offset.
    let mut off = 0u64;
    let mut start = 0u64;
    for (i, a) in btt.arenas().enumerate() {
        let size = (rawsize - off).min(ARENA_MAX_SIZE);
        let want = ArenaLayout::compute(size, start, off, lbasize).unwrap();
        assert_eq!(a.infooff, off, "arena {i}");
        assert_eq!(a.external_lba_start, start, "arena {i}");
        assert_eq!(a.external_nlba, want.external_nlba, "arena {i}");
        assert_eq!(
            (a.mapoff, a.logoff, a.info2off),
            (want.mapoff, want.logoff, want.info2off)
        );
        let last = i + 1 == want_arenas;
        assert_eq!(
            a.nextoff,
            if last { 0 } else { off + ARENA_MAX_SIZE },
            "arena {i}"
        );
        // Both info blocks on media, checksummed, with the relative nextoff.
        for at in [a.infooff, a.info2off] {
            let mut raw = [0u8; INFO_SIZE];
            btt.media().read(at, &mut raw).unwrap();
            assert!(info::checksum_ok(&raw), "arena {i} info at {at:#x}");
            let sb = InfoBlock::decode(&raw);
            assert_eq!(sb.nextoff, if last { 0 } else { ARENA_MAX_SIZE });
            assert_eq!(sb.info2off, a.info2off - a.infooff);
        }
        off += ARENA_MAX_SIZE;
        start += u64::from(a.external_nlba);
    }
    assert_eq!(btt.nlba(), start);

    // First and last sector of each arena, and the two sectors on each side
    // of every boundary.
    let mut lbas = Vec::new();
    for a in btt.arenas() {
        let first = a.external_lba_start;
        let last = first + u64::from(a.external_nlba) - 1;
        lbas.extend([first, first + 1, last - 1, last]);
    }
    lbas.sort_unstable();
    lbas.dedup();
    let ss = btt.sector_size() as usize;
    let meta = btt.meta_size() as usize;
    let meta_of = |lba: u64| vec![(lba % 251) as u8 + 1; meta];
    for (i, &lba) in lbas.iter().enumerate() {
        let m = meta_of(lba);
        let m = (meta > 0).then_some(&m[..]);
        btt.write(&mut lanes[i % 4], lba, &pattern(ss, lba, 1), m)
            .unwrap();
        btt.write(&mut lanes[(i + 1) % 4], lba, &pattern(ss, lba, 2), m)
            .unwrap();
    }
    // Write batches (a lane's flog lanes written as one span per half, in
    // each arena's own flog): runs across every boundary, then a run of 40
    // inside the last arena.
    let mut batched = Vec::new();
    for a in btt.arenas().skip(1) {
        let b = a.external_lba_start;
        batched.extend(b - 3..b + 3);
    }
    let write_run = |lane: &mut HostLane, lbas: &[u64]| {
        btt.write_batch(lane, |b| {
            for &lba in lbas {
                let m = meta_of(lba);
                b.write_from(
                    lba,
                    &pattern(ss, lba, 3)[..],
                    0,
                    (meta > 0).then_some(&m[..]),
                )?;
            }
            Ok::<(), Error>(())
        })
        .unwrap();
    };
    write_run(&mut lanes[2], &batched);
    // In the last arena, whose flog differs from the first's: 28 sectors up
    // to a map lock group's end, then 12 on the same flog lanes again. Its
    // flog changes in exactly those entries (12 flog lanes twice, 16 once):
    // the rest of each span is written as it was, from this arena's copy.
    let a = *btt.arenas().last().unwrap();
    let flog = || {
        let mut raw = vec![0u8; a.nfree as usize * 64];
        btt.media().read(a.logoff, &mut raw).unwrap();
        raw
    };
    let before = flog();
    let run: Vec<u64> = (a.external_lba_start + 100..a.external_lba_start + 140).collect();
    write_run(&mut lanes[2], &run);
    let after = flog();
    let changed = before
        .chunks_exact(16)
        .zip(after.chunks_exact(16))
        .filter(|(b, a)| b != a)
        .count();
    assert_eq!(
        changed, 40,
        "flog entries changed by 40 sectors in the last arena"
    );
    batched.extend(run);
    let gen_of = |lba: u64| if batched.contains(&lba) { 3 } else { 2 };
    drop(lanes);
    drop(btt);

    for round in 0..2 {
        let (btt, mut lanes) = open(&cfg);
        assert!(!btt.created());
        assert_eq!(btt.num_arenas(), want_arenas);
        let mut buf = vec![0u8; ss];
        let mut mbuf = vec![0u8; meta];
        for &lba in lbas.iter().chain(&batched) {
            let m = (meta > 0).then_some(&mut mbuf[..]);
            btt.read(&mut lanes[0], lba, &mut buf, m).unwrap();
            assert_eq!(
                identify(&buf),
                Some((lba, gen_of(lba))),
                "round {round} lba {lba}"
            );
            assert_eq!(mbuf, meta_of(lba), "round {round} lba {lba} meta");
        }
        // A sector never written reads as zeroes, in every arena.
        for a in btt.arenas() {
            let lba = a.external_lba_start + 7;
            btt.read(&mut lanes[1], lba, &mut buf, None).unwrap();
            assert!(buf.iter().all(|b| *b == 0), "lba {lba}");
        }
        assert!(btt.read(&mut lanes[0], btt.nlba(), &mut buf, None).is_err());
    }

    // The image stays sparse: only metadata and the sectors written use space.
    let used = std::fs::metadata(&path).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.blocks() * 512
    });
    if let Ok(used) = used {
        assert!(used < 64 * MIB, "image uses {used} bytes");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn three_arenas_4096_v2() {
    // 1 TiB + 40 MiB: two full arenas and a 40 MiB one.
    run(4096, 0, 2 * ARENA_MAX_SIZE + 40 * MIB, 3);
}

#[test]
fn three_arenas_520_v1_at_4096() {
    // A v1.1 BTT at namespace offset 4096, with 8 bytes of metadata per sector;
    // then one full arena whose 8 MiB tail is too small for an arena.
    run(520, 4096, 2 * ARENA_MAX_SIZE + 24 * MIB - 4096, 3);
    run(512, 4096, ARENA_MAX_SIZE + 8 * MIB, 1);
}
