// SPDX-License-Identifier: GPL-2.0
//! A media error under BTT metadata at open (issue 13, part 3): the arena is
//! served read-only instead of failing the open. Every sector whose map
//! entry and data read reads its data, the others fail with EIO, nothing is
//! written, and `Btt::arena_media_error` names the range that did not read.

mod common;

use btt_core::btt::flog::LOG_GRP_SIZE;
use btt_core::btt::info::INFO_SIZE;
use btt_core::btt::{ArenaInfo, Btt, Config, Error, InfoSource, Lane, Media};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

const SIZE: usize = 32 << 20;

type PBtt<'a> = Btt<&'a PoisonMedia, StdPlatform>;

/// Sectors written by [`written`], generation 1 each: across the first map
/// block (entries 0..128) and beyond it.
const LBAS: [u64; 6] = [0, 1, 127, 128, 200, 300];

fn config(full_check: bool) -> Config {
    let mut c = cfg(4096);
    c.full_check = full_check;
    c
}

/// A BTT whose sectors [`LBAS`] hold generation 1, written by every lane in
/// turn (so every lane's newest flog entry is a real write).
fn written() -> (PoisonMedia, ArenaInfo) {
    let media = PoisonMedia::new(MemMedia::new(SIZE));
    let info;
    {
        let (btt, lanes): (PBtt<'_>, _) = Btt::open(&media, &config(true)).expect("create");
        let mut lanes: Vec<_> = lanes.collect();
        for (i, lba) in LBAS.iter().enumerate() {
            btt.write(&mut lanes[i % 8], *lba, &pattern(4096, *lba, 1), None)
                .unwrap();
        }
        for (i, lane) in lanes.iter_mut().enumerate().skip(LBAS.len()) {
            let lba = 400 + i as u64;
            btt.write(lane, lba, &pattern(4096, lba, 1), None).unwrap();
        }
        info = *btt.arena(0).unwrap();
    }
    (media, info)
}

/// Opens, checks that the arena is read-only with `damage` reported, that
/// the sectors in `bad` fail with EIO and the others of [`LBAS`] read their
/// data, that writes are refused, and that nothing was written.
fn open_read_only(media: &PoisonMedia, full_check: bool, damage: Error, bad: &[u64]) {
    let before = media.inner.snapshot();
    let what = format!("full_check={full_check}");
    let (btt, lanes): (PBtt<'_>, _) =
        Btt::open(media, &config(full_check)).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    let mut lanes: Vec<Lane<StdPlatform>> = lanes.collect();
    assert_eq!(btt.arena_media_error(0), Some(damage), "{what}");
    assert!(!btt.arena_writable(0), "{what}");
    assert_eq!(btt.arena_flog_damage(0), None, "{what}");
    let mut buf = vec![0u8; 4096];
    for lba in LBAS {
        let r = btt.read(&mut lanes[0], lba, &mut buf, None);
        if bad.contains(&lba) {
            assert_eq!(r, Err(Error::Io), "{what}: lba {lba}");
        } else {
            r.unwrap_or_else(|e| panic!("{what}: lba {lba}: {e}"));
            assert_eq!(identify(&buf), Some((lba, 1)), "{what}: lba {lba}");
        }
    }
    // A sector never written reads zeroes.
    btt.read(&mut lanes[1], 1000, &mut buf, None).unwrap();
    assert!(buf.iter().all(|b| *b == 0));
    for (i, lane) in lanes.iter_mut().enumerate() {
        assert_eq!(
            btt.write(lane, 200, &pattern(4096, 200, 2), None),
            Err(Error::ReadOnly),
            "{what}: lane {i}"
        );
    }
    drop(btt);
    assert!(media.inner.snapshot() == before, "{what}: written");
}

#[test]
fn poison_on_a_map_sector() {
    let (media, a) = written();
    // The 512 bytes holding the map entries of sectors 0..128.
    media.poison(a.mapoff, 512);
    let damage = Error::Media {
        what: "map",
        offset: a.mapoff,
        len: 512,
    };
    assert_eq!(
        damage.to_string(),
        format!(
            "BTT: media error in the map at byte offset {:#x}, 512 bytes",
            a.mapoff
        )
    );
    assert_eq!(damage.to_errno(), 5);
    open_read_only(&media, true, damage, &[0, 1, 127]);
    // Without the full check the map is read at open only where recovery
    // needs it: the entries of the lanes' newest flog entries. Lanes 0, 1
    // and 2 last wrote sectors 0, 1 and 127, so the same range is found.
    open_read_only(&media, false, damage, &[0, 1, 127]);
}

#[test]
fn poison_on_a_map_sector_no_lane_needs() {
    let (media, a) = written();
    // Entries 1024..1152: no sector there was written.
    let off = a.mapoff + 4096;
    media.poison(off, 512);
    let damage = Error::Media {
        what: "map",
        offset: off,
        len: 512,
    };
    open_read_only(&media, true, damage, &[]);
    // Without the full check the poison is not seen at open: the arena takes
    // writes, and only the sectors whose entries do not read fail (a write
    // of one writes no metadata).
    let (btt, lanes): (PBtt<'_>, _) = Btt::open(&media, &config(false)).unwrap();
    let mut lanes: Vec<_> = lanes.collect();
    assert_eq!(btt.arena_media_error(0), None);
    assert!(btt.arena_writable(0));
    let mut buf = vec![0u8; 4096];
    assert_eq!(
        btt.read(&mut lanes[0], 1030, &mut buf, None),
        Err(Error::Io)
    );
    assert_eq!(
        btt.write(&mut lanes[0], 1030, &pattern(4096, 1030, 2), None),
        Err(Error::Io)
    );
    btt.write(&mut lanes[0], 200, &pattern(4096, 200, 2), None)
        .unwrap();
    btt.read(&mut lanes[1], 200, &mut buf, None).unwrap();
    assert_eq!(identify(&buf), Some((200, 2)));
}

#[test]
fn poison_on_the_map_entry_of_an_interrupted_write() {
    let (media, a) = written();
    // Undo lane 0's last map update (sector 0): its flog entry is newest, the
    // map still names the old block, as after a power cut between the two.
    let mut raw = [0u8; 64];
    media.read(a.logoff, &mut raw).unwrap();
    let group = btt_core::btt::flog::LogGroup::decode(&raw);
    let (_, ent) = btt_core::btt::flog::LogIndices::NEW.newest(&group).unwrap();
    assert_eq!(ent.lba, 0);
    assert_ne!(ent.old_map & 0x3fff_ffff, ent.new_map & 0x3fff_ffff);
    media
        .inner
        .write(a.mapoff, &(ent.old_map | 0xc000_0000).to_le_bytes())
        .unwrap();
    // Only that entry is poisoned: open reads it to roll the write forward.
    media.poison(a.mapoff, 4);
    let damage = Error::Media {
        what: "map",
        offset: a.mapoff,
        len: 4,
    };
    for full_check in [false, true] {
        open_read_only(&media, full_check, damage, &[0]);
    }
}

#[test]
fn poison_on_a_flog_group() {
    let (media, a) = written();
    // Flog lane 2's log group: its free block is lost.
    let off = a.logoff + 2 * LOG_GRP_SIZE;
    media.poison(off, LOG_GRP_SIZE);
    let damage = Error::Media {
        what: "flog",
        offset: off,
        len: LOG_GRP_SIZE,
    };
    for full_check in [true, false] {
        open_read_only(&media, full_check, damage, &[]);
    }
    // A 512-byte poisoned block takes 8 groups; the range covers them all.
    media.poison(a.logoff + 512, 512);
    let damage = Error::Media {
        what: "flog",
        offset: off,
        len: 1024 - 2 * LOG_GRP_SIZE,
    };
    open_read_only(&media, true, damage, &[]);
}

#[test]
fn poison_on_the_backup_info_block_does_not_matter() {
    let (media, a) = written();
    media.poison(a.info2off, INFO_SIZE as u64);
    let before = media.inner.snapshot();
    for full_check in [true, false] {
        let (btt, lanes): (PBtt<'_>, _) = Btt::open(&media, &config(full_check)).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        assert_eq!(btt.arena_media_error(0), None);
        assert!(btt.arena_writable(0));
        assert_eq!(btt.arena(0).unwrap().info_source, InfoSource::Primary);
        let mut buf = vec![0u8; 4096];
        for lba in LBAS {
            btt.read(&mut lanes[0], lba, &mut buf, None).unwrap();
            assert_eq!(identify(&buf), Some((lba, 1)));
        }
    }
    assert!(media.inner.snapshot() == before, "open wrote");
    // Writes go on.
    let (btt, lanes): (PBtt<'_>, _) = Btt::open(&media, &config(true)).unwrap();
    let mut lanes: Vec<_> = lanes.collect();
    btt.write(&mut lanes[3], 5, &pattern(4096, 5, 2), None)
        .unwrap();
    let mut buf = vec![0u8; 4096];
    btt.read(&mut lanes[0], 5, &mut buf, None).unwrap();
    assert_eq!(identify(&buf), Some((5, 2)));
}

#[test]
fn poison_on_the_primary_info_block_falls_back_to_the_backup() {
    let (media, a) = written();
    media.poison(0, 512);
    let before = media.inner.snapshot();
    {
        // As with an invalid primary: opened from the backup, nothing
        // written (the primary stays poisoned until `btt check --repair`).
        let (btt, lanes): (PBtt<'_>, _) = Btt::open(&media, &config(true)).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        assert_eq!(btt.arena(0).unwrap().info_source, InfoSource::Backup);
        assert_eq!(btt.arena_media_error(0), None);
        let mut buf = vec![0u8; 4096];
        for lba in LBAS {
            btt.read(&mut lanes[0], lba, &mut buf, None).unwrap();
            assert_eq!(identify(&buf), Some((lba, 1)));
        }
    }
    assert!(media.inner.snapshot() == before, "open wrote");
    // Both copies unreadable: the open fails, naming the backup, and no new
    // layout is written over the BTT.
    media.poison(a.info2off, 512);
    let r = Btt::<_, StdPlatform>::open(&media, &config(true));
    assert_eq!(
        r.err(),
        Some(Error::Media {
            what: "backup info block",
            offset: a.info2off,
            len: INFO_SIZE as u64,
        })
    );
    assert!(media.inner.snapshot() == before, "open wrote");
}
