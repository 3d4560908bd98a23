// SPDX-License-Identifier: GPL-2.0
//! BTTs written by the C driver (Linux 7.3.4 `nd_btt`, see
//! tests/fixtures/README.md) open, read back what C wrote, take writes, and
//! a layout created here is byte for byte what C creates.

mod common;

use btt_core::btt::info::{self, InfoBlock, INFO_SIZE};
use btt_core::btt::{Btt, Config, InfoSource, Media};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

struct Case {
    name: &'static str,
    lbasize: u32,
    offset: usize,
    version: (u16, u16),
}

const CASES: [Case; 4] = [
    Case {
        name: "c-v2.0-4096-labelless",
        lbasize: 4096,
        offset: 0,
        version: (2, 0),
    },
    Case {
        name: "c-v1.1-512",
        lbasize: 512,
        offset: 4096,
        version: (1, 1),
    },
    Case {
        name: "c-v1.1-520",
        lbasize: 520,
        offset: 4096,
        version: (1, 1),
    },
    Case {
        name: "c-v2.0-4160",
        lbasize: 4160,
        offset: 0,
        version: (2, 0),
    },
];

fn btt_bytes(c: &Case) -> Vec<u8> {
    load_sparse(&format!("{}.raw.sparse", c.name))[c.offset..].to_vec()
}

fn case_cfg(c: &Case, bytes: &[u8]) -> Config {
    let raw: [u8; INFO_SIZE] = bytes[..INFO_SIZE].try_into().unwrap();
    let sb = InfoBlock::decode(&raw);
    let mut cfg = Config::new(c.lbasize, sb.uuid, sb.parent_uuid, c.version.0, c.version.1);
    cfg.nlanes = 4;
    cfg
}

#[test]
fn c_images_read_back_what_c_wrote() {
    for c in &CASES {
        let bytes = btt_bytes(c);
        let expect = load_sparse(&format!("{}.logical.sparse", c.name));
        let mut cfg = case_cfg(c, &bytes);
        cfg.read_only = true;
        let (btt, lanes) = Btt::<_, StdPlatform>::open(MemMedia::from_vec(bytes.clone()), &cfg)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let mut lanes: Vec<_> = lanes.collect();
        let ss = btt.sector_size() as usize;
        assert_eq!(
            btt.nlba() as usize * ss,
            expect.len(),
            "{}: capacity",
            c.name
        );
        assert_eq!(btt.arena(0).unwrap().info_source, InfoSource::Primary);
        let mut buf = vec![0u8; ss];
        for lba in 0..btt.nlba() {
            let lane = &mut lanes[(lba % 4) as usize];
            btt.read(lane, lba, &mut buf, None).unwrap();
            let at = lba as usize * ss;
            assert!(
                buf == expect[at..at + ss],
                "{}: sector {lba} differs",
                c.name
            );
        }
        // Read-only open wrote nothing.
        assert!(
            btt.into_media().into_vec() == bytes,
            "{}: image changed",
            c.name
        );
    }
}

#[test]
fn c_images_take_writes_and_reopen() {
    for c in &CASES {
        let bytes = btt_bytes(c);
        let cfg = case_cfg(c, &bytes);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(MemMedia::from_vec(bytes), &cfg).unwrap();
        assert!(!btt.created(), "{}: must not recreate", c.name);
        let mut lanes: Vec<_> = lanes.collect();
        let ss = btt.sector_size() as usize;
        let last = btt.nlba() - 1;
        for (i, lba) in [0, 1, 17, 100, last].into_iter().enumerate() {
            for gen in 0..3 {
                btt.write(&mut lanes[i % 4], lba, &pattern(ss, lba, gen), None)
                    .unwrap();
            }
        }
        let media = btt.into_media();
        drop(lanes);
        let (btt, lanes) = Btt::<_, StdPlatform>::open(media, &cfg).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        let mut buf = vec![0u8; ss];
        for lba in [0, 1, 17, 100, last] {
            btt.read(&mut lanes[0], lba, &mut buf, None).unwrap();
            assert_eq!(identify(&buf), Some((lba, 2)), "{}: lba {lba}", c.name);
        }
    }
}

/// A C image opened read-only (its region read-only at attach), then made
/// writable: refused writes before, none written by a failed attempt, and
/// after it writes that land and survive a reopen.
#[test]
fn c_images_opened_read_only_are_made_writable() {
    use btt_core::btt::Error;
    for c in &CASES {
        let bytes = btt_bytes(c);
        let mut cfg = case_cfg(c, &bytes);
        cfg.read_only = true;
        let media = MemMedia::from_vec(bytes.clone());
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        let ss = btt.sector_size() as usize;
        let data = pattern(ss, 17, 1);
        assert_eq!(
            btt.write(&mut lanes[0], 17, &data, None),
            Err(Error::ReadOnly)
        );
        // An install that fails part way leaves the BTT read-only; the next
        // attempt starts over.
        let mut installed = 0;
        let r = btt.make_writable(|_| {
            installed += 1;
            if installed == 2 {
                Err(Error::NoMem)
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err(Error::NoMem), "{}", c.name);
        assert!(btt.is_read_only(), "{}", c.name);
        assert_eq!(
            btt.write(&mut lanes[0], 17, &data, None),
            Err(Error::ReadOnly)
        );
        assert!(
            media.snapshot() == bytes,
            "{}: a clean image written",
            c.name
        );
        let mut fresh = Vec::new();
        let r = btt.make_writable(|l| {
            fresh.push(l);
            Ok(())
        });
        assert_eq!(r, Ok(true), "{}", c.name);
        assert_eq!(fresh.len(), lanes.len(), "{}", c.name);
        assert!(btt.arena_writable(0), "{}", c.name);
        let last = btt.nlba() - 1;
        for (i, lba) in [0, 17, last].into_iter().enumerate() {
            let n = fresh.len();
            btt.write(&mut fresh[i % n], lba, &pattern(ss, lba, 2), None)
                .unwrap_or_else(|e| panic!("{}: write {lba}: {e}", c.name));
        }
        drop((btt, lanes, fresh));
        cfg.read_only = false;
        let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        let mut buf = vec![0u8; ss];
        for lba in [0, 17, last] {
            btt.read(&mut lanes[0], lba, &mut buf, None).unwrap();
            assert_eq!(identify(&buf), Some((lba, 2)), "{}: lba {lba}", c.name);
        }
    }
}

#[test]
fn created_layout_is_the_c_layout() {
    for c in &CASES {
        let bytes = btt_bytes(c);
        let cfg = case_cfg(c, &bytes);
        let (btt, _lanes) = Btt::<_, StdPlatform>::open(MemMedia::new(bytes.len()), &cfg).unwrap();
        assert!(btt.created());
        let ours = btt.into_media().into_vec();
        let theirs: [u8; INFO_SIZE] = bytes[..INFO_SIZE].try_into().unwrap();
        let sb = InfoBlock::decode(&theirs);
        // Primary and backup info blocks: identical bytes, checksum included.
        assert!(
            ours[..INFO_SIZE] == bytes[..INFO_SIZE],
            "{}: info block",
            c.name
        );
        let i2 = sb.info2off as usize;
        assert!(
            ours[i2..i2 + INFO_SIZE] == bytes[i2..i2 + INFO_SIZE],
            "{}: info2",
            c.name
        );
        assert!(info::checksum_ok(&theirs));
        // Flog groups of lanes C never used are in their initial state, as ours.
        let logoff = sb.logoff as usize;
        let g = 255 * 64;
        assert_eq!(
            ours[logoff + g..logoff + g + 64],
            bytes[logoff + g..logoff + g + 64]
        );
    }
}

#[test]
fn backup_info_block_is_used_when_the_primary_is_corrupt() {
    let c = &CASES[0];
    let mut bytes = btt_bytes(c);
    bytes[100] ^= 0xff; // inside the padding: only the checksum fails
    let mut cfg = case_cfg(c, &btt_bytes(c));
    cfg.read_only = true;
    let (btt, _l) = Btt::<_, StdPlatform>::open(MemMedia::from_vec(bytes.clone()), &cfg).unwrap();
    assert_eq!(btt.arena(0).unwrap().info_source, InfoSource::Backup);
    assert!(btt.into_media().into_vec() == bytes);
}

#[test]
fn bad_images_are_refused_without_a_write() {
    let c = &CASES[0];
    let good = btt_bytes(c);
    let cfg = case_cfg(c, &good);
    let sb = InfoBlock::decode(&good[..INFO_SIZE].try_into().unwrap());
    let reseal = |img: &mut Vec<u8>, f: &dyn Fn(&mut InfoBlock)| {
        for off in [0usize, sb.info2off as usize] {
            let mut b = InfoBlock::decode(&img[off..off + INFO_SIZE].try_into().unwrap());
            f(&mut b);
            let mut raw = [0u8; INFO_SIZE];
            b.seal(&mut raw);
            img[off..off + INFO_SIZE].copy_from_slice(&raw);
        }
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut img = good.clone();
    img[100] ^= 1;
    let i2 = sb.info2off as usize;
    img[i2 + 100] ^= 1;
    cases.push(("both checksums", img));
    let mut img = good.clone();
    reseal(&mut img, &|b| b.version_major = 3);
    cases.push(("version", img));
    let mut img = good.clone();
    reseal(&mut img, &|b| b.internal_nlba = u32::MAX / 2);
    cases.push(("nlba too large", img));
    let mut img = good.clone();
    reseal(&mut img, &|b| b.mapoff = 1 << 40);
    cases.push(("mapoff outside", img));
    let mut img = good.clone();
    reseal(&mut img, &|b| b.nfree = 0);
    cases.push(("nfree zero", img));
    let mut img = good.clone();
    let mapoff = sb.mapoff as usize;
    // Two map entries naming one block.
    let e = (5u32 | 0xC000_0000).to_le_bytes();
    img[mapoff + 4 * 9..mapoff + 4 * 10].copy_from_slice(&e);
    img[mapoff + 4 * 10..mapoff + 4 * 11].copy_from_slice(&e);
    cases.push(("map duplicate", img));
    for (what, img) in cases {
        let media = MemMedia::from_vec(img.clone());
        let r = Btt::<_, StdPlatform>::open(&media, &cfg);
        let err = r.err().unwrap_or_else(|| panic!("{what}: opened"));
        assert!(err.is_corruption(), "{what}: {err}");
        assert!(media.snapshot() == img, "{what}: written");
        eprintln!("{what}: {err}");
    }
}

#[test]
fn damaged_flogs_are_served_read_only_without_a_write() {
    for c in &CASES {
        let good = btt_bytes(c);
        let expect = load_sparse(&format!("{}.logical.sparse", c.name));
        let cfg = case_cfg(c, &good);
        let sb = InfoBlock::decode(&good[..INFO_SIZE].try_into().unwrap());
        let (logoff, mapoff) = (sb.logoff as usize, sb.mapoff as usize);
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        // Lane 1's entries name a block beyond the arena (the live slots,
        // whatever the padding: those with a sequence number).
        let mut img = good.clone();
        for slot in [0, 16, 32, 48] {
            let at = logoff + 64 + slot;
            if img[at + 12..at + 16] != [0; 4] {
                img[at + 8..at + 12].copy_from_slice(&0x3fff_fff0u32.to_le_bytes());
            }
        }
        cases.push(("flog new_map outside", img));
        // The first four lanes' groups zeroed: no valid entry in them.
        let mut img = good.clone();
        img[logoff..logoff + 64 * 4].fill(0);
        cases.push(("flog zeroed", img));
        // Lane 0's free block is the one premap 3 maps: a write on lane 0
        // would overwrite sector 3.
        let mut img = good.clone();
        let block3 = u32::from_le_bytes(img[mapoff + 12..mapoff + 16].try_into().unwrap());
        let block3 = if block3 & 0xC000_0000 == 0 {
            3
        } else {
            block3 & 0x3fff_ffff
        };
        for slot in [0, 16, 32, 48] {
            let at = logoff + slot;
            let e = &mut img[at..at + 16];
            if u32::from_le_bytes(e[12..16].try_into().unwrap()) != 0 {
                e[4..8].copy_from_slice(&block3.to_le_bytes());
                e[8..12].copy_from_slice(&block3.to_le_bytes());
            }
        }
        cases.push(("flog free block mapped", img));
        for (what, img) in cases {
            let media = MemMedia::from_vec(img.clone());
            let (btt, lanes) = Btt::<_, StdPlatform>::open(&media, &cfg)
                .unwrap_or_else(|e| panic!("{} {what}: refused: {e}", c.name));
            let damage = btt
                .arena_flog_damage(0)
                .unwrap_or_else(|| panic!("{} {what}: damage not seen", c.name));
            assert!(damage.is_corruption(), "{} {what}: {damage}", c.name);
            assert!(!btt.arena_writable(0), "{} {what}: writable", c.name);
            let mut lanes: Vec<_> = lanes.collect();
            let ss = btt.sector_size() as usize;
            let mut buf = vec![0u8; ss];
            for lba in 0..btt.nlba() {
                btt.read(&mut lanes[0], lba, &mut buf, None)
                    .unwrap_or_else(|e| panic!("{} {what}: read {lba}: {e}", c.name));
                let at = lba as usize * ss;
                assert!(
                    buf == expect[at..at + ss],
                    "{} {what}: sector {lba}",
                    c.name
                );
            }
            for lane in lanes.iter_mut() {
                let err = btt.write(lane, 3, &pattern(ss, 3, 1), None).unwrap_err();
                assert_eq!(err, btt_core::btt::Error::ReadOnly, "{} {what}", c.name);
            }
            // Opened read-only and made writable (the region made writable
            // after attach), the arena stays read-only for its own reason.
            drop((btt, lanes));
            let mut ro = cfg;
            ro.read_only = true;
            let (btt, _lanes) = Btt::<_, StdPlatform>::open(&media, &ro).unwrap();
            let mut fresh = Vec::new();
            let r = btt.make_writable(|l| {
                fresh.push(l);
                Ok(())
            });
            assert_eq!(r, Ok(true), "{} {what}", c.name);
            assert!(!btt.arena_writable(0), "{} {what}: writable", c.name);
            for lane in fresh.iter_mut() {
                let err = btt.write(lane, 3, &pattern(ss, 3, 1), None).unwrap_err();
                assert_eq!(err, btt_core::btt::Error::ReadOnly, "{} {what}", c.name);
            }
            assert!(media.snapshot() == img, "{} {what}: written", c.name);
            eprintln!("{} {what}: read-only: {damage}", c.name);
        }
    }
}

#[test]
fn blank_media_with_a_stale_backup_of_another_btt_is_recreated() {
    let c = &CASES[0];
    let mut bytes = btt_bytes(c);
    bytes[..INFO_SIZE].fill(0); // what ndctl does when it reconfigures
    let mut cfg = case_cfg(c, &btt_bytes(c));
    cfg.uuid = [9; 16];
    let media = MemMedia::from_vec(bytes);
    let (btt, _l) = Btt::<_, StdPlatform>::open(&media, &cfg).unwrap();
    assert!(btt.created());
    assert_eq!(media.size() as usize, btt_bytes(c).len());
}

#[test]
fn a_btt_of_another_namespace_is_replaced_as_c_does() {
    // Labelled fixture: its info blocks name their namespace as parent.
    let c = &CASES[1];
    let bytes = btt_bytes(c);
    let mut cfg = case_cfg(c, &bytes);
    let sb = InfoBlock::decode(&bytes[..INFO_SIZE].try_into().unwrap());
    assert_ne!(sb.parent_uuid, [0; 16]);
    // Same parent: opened as is.
    cfg.parent_uuid = sb.parent_uuid;
    let (btt, _l) = Btt::<_, StdPlatform>::open(MemMedia::from_vec(bytes.clone()), &cfg).unwrap();
    assert!(!btt.created());
    // A new namespace over the old one (ndctl init-labels + create-namespace):
    // the old BTT is left over, C writes a new one, and so does the core.
    cfg.parent_uuid = [0x42; 16];
    cfg.uuid = [0x43; 16];
    let (btt, _l) = Btt::<_, StdPlatform>::open(MemMedia::from_vec(bytes.clone()), &cfg).unwrap();
    assert!(btt.created());
    // A damaged block with a foreign parent is still refused, never replaced.
    let mut damaged = bytes;
    damaged[200] ^= 1;
    let i2 = sb.info2off as usize;
    damaged[i2 + 200] ^= 1;
    let media = MemMedia::from_vec(damaged.clone());
    let err = Btt::<_, StdPlatform>::open(&media, &cfg)
        .err()
        .expect("refused");
    assert!(err.is_corruption(), "{err}");
    assert!(media.snapshot() == damaged);
}
