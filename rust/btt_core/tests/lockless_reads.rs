// SPDX-License-Identifier: GPL-2.0
//! [`Btt::read_sectors`]: reads without a lane, a page of sectors at a time.
//!
//! 1. Readers without lanes, more of them than there are lanes and than the
//!    read tracking table has room for, read runs of consecutive sectors
//!    while writers (one lane each) rewrite the same sectors. Every sector of
//!    every read must be one whole version ever written to it (data and
//!    metadata of one generation), and not one entirely overwritten before
//!    the read began. The media stalls readers at random between the map
//!    reads and the copy, where the read tracking table matters.
//! 2. A batch with zero-flag, identity and error-flag entries reads as sector-by-sector
//!    reads do.
//! 3. A range over the boundary between two arenas (a sparse file of three
//!    arenas) reads as sector-by-sector reads do.

mod common;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use btt_core::btt::layout::ARENA_MAX_SIZE;
use btt_core::btt::map;
use btt_core::btt::{Btt, Config, Error, Media};
use btt_core::host::{FileMedia, MemMedia, StdPlatform};
use common::*;

/// Memory media that now and then stalls an access (yields or sleeps).
struct Jittery {
    inner: MemMedia,
    tick: AtomicU64,
}

impl Jittery {
    fn stall(&self) {
        let mut x = self
            .tick
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        x ^= x >> 31;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 29;
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

#[derive(Clone, Copy, Debug)]
struct Version {
    gen: u64,
    start: u64,
    end: u64,
}

const WRITERS: usize = 2;
const READERS: usize = 7;
/// Consecutive LBAs everyone works on; reads take runs of up to `SPAN`.
const RANGE: u64 = 12;
const SPAN: u64 = 10;
const WRITES: usize = 700;

fn race(lbasize: u32) {
    let mut c = cfg(lbasize);
    c.nlanes = WRITERS as u32;
    let media = Jittery {
        inner: MemMedia::new(16 << 20),
        tick: AtomicU64::new(u64::from(lbasize)),
    };
    let (btt, lanes) = Btt::<_, StdPlatform>::open(media, &c).expect("create");
    let ss = btt.sector_size() as usize;
    let ms = btt.meta_size() as usize;
    // Not at 0: the runs start at a map entry that is not cache-line aligned.
    let base = btt.nlba() / 2 + 3;
    let clock = AtomicU64::new(1);
    let versions: Mutex<HashMap<u64, Vec<Version>>> = Mutex::new(
        (base..base + RANGE)
            .map(|l| {
                (
                    l,
                    vec![Version {
                        gen: 0,
                        start: 0,
                        end: 0,
                    }],
                )
            })
            .collect(),
    );
    let writers_left = AtomicU64::new(WRITERS as u64);
    // (lba, gen, start, end) of every sector read.
    let obs: Vec<(u64, u64, u64, u64)> = std::thread::scope(|scope| {
        let (btt, clock, versions, left) = (&btt, &clock, &versions, &writers_left);
        for (t, mut lane) in lanes.enumerate() {
            scope.spawn(move || {
                let mut rng = Rng(0x5eed ^ ((t as u64 + 1) * 0x1234_5678));
                for n in 0..WRITES {
                    let lba = base + rng.below(RANGE);
                    let gen = ((t as u64 + 1) << 32) | (n as u64 + 1);
                    let data = pattern(ss, lba, gen);
                    let meta = meta_pattern(ms, lba, gen);
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    btt.write(&mut lane, lba, &data, (ms > 0).then_some(&meta[..]))
                        .expect("write");
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    versions
                        .lock()
                        .unwrap()
                        .get_mut(&lba)
                        .unwrap()
                        .push(Version { gen, start, end });
                }
                left.fetch_sub(1, Ordering::SeqCst);
            });
        }
        let readers: Vec<_> = (0..READERS)
            .map(|t| {
                scope.spawn(move || {
                    let mut rng = Rng(0xbead ^ ((t as u64 + 1) * 0x9876_5431));
                    let mut seen = Vec::new();
                    while left.load(Ordering::SeqCst) > 0 {
                        let n = 1 + rng.below(SPAN);
                        let first = base + rng.below(RANGE - n + 1);
                        let mut data = vec![0u8; n as usize * ss];
                        let mut meta = vec![0u8; n as usize * ms];
                        let start = clock.fetch_add(1, Ordering::SeqCst);
                        btt.read_sectors(first, &mut data, (ms > 0).then_some(&mut meta[..]))
                            .expect("read_sectors");
                        let end = clock.fetch_add(1, Ordering::SeqCst);
                        for i in 0..n as usize {
                            let lba = first + i as u64;
                            let gen = match identify(&data[i * ss..(i + 1) * ss]) {
                                Some((u64::MAX, 0)) => 0,
                                Some((l, g)) if l == lba => g,
                                other => panic!("lba {lba}: torn or foreign data {other:?}"),
                            };
                            let want = if gen == 0 {
                                vec![0u8; ms]
                            } else {
                                meta_pattern(ms, lba, gen)
                            };
                            assert_eq!(
                                meta[i * ms..(i + 1) * ms],
                                want[..],
                                "lba {lba} gen {gen:#x}: metadata of another version"
                            );
                            seen.push((lba, gen, start, end));
                        }
                    }
                    seen
                })
            })
            .collect();
        readers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let versions = versions.into_inner().unwrap();
    assert!(obs.len() > WRITES, "too few reads: {}", obs.len());
    let mut newer = 0;
    for &(lba, gen, start, end) in &obs {
        let vs = &versions[&lba];
        let v = vs
            .iter()
            .find(|v| v.gen == gen)
            .unwrap_or_else(|| panic!("lba {lba}: gen {gen:#x} never written"));
        assert!(
            v.start < end,
            "lba {lba}: read {v:?} written after the read"
        );
        if let Some(w) = vs.iter().find(|w| v.end < w.start && w.end < start) {
            panic!("lba {lba}: stale {v:?}, overwritten by {w:?} before the read at {start}");
        }
        newer += usize::from(gen != 0);
    }
    assert!(newer > 0, "no read saw a written version");
}

#[test]
fn readers_without_lanes_race_writers_512() {
    race(512);
}

#[test]
fn readers_without_lanes_race_writers_4096() {
    race(4096);
}

#[test]
fn readers_without_lanes_race_writers_520_with_metadata() {
    race(520);
}

#[test]
fn readers_without_lanes_race_writers_4160_with_metadata() {
    race(4160);
}

/// Sets the raw map entry of `premap` in arena `ai`.
fn poke_map<M: Media>(btt: &Btt<M, StdPlatform>, ai: usize, premap: u32, raw: u32) {
    let off = btt.arena(ai).unwrap().map_entry_offset(premap).unwrap();
    btt.media().write(off, &raw.to_le_bytes()).unwrap();
}

/// `read_sectors` of `n` sectors from `lba` against `n` one-sector reads.
fn same_as_single<M: Media>(btt: &Btt<M, StdPlatform>, lba: u64, n: u64) -> Result<(), Error> {
    let (ss, ms) = (btt.sector_size() as usize, btt.meta_size() as usize);
    for with_meta in [false, true] {
        let mut data = vec![0x11u8; n as usize * ss];
        let mut meta = vec![0x22u8; n as usize * ms];
        let batch = btt.read_sectors(lba, &mut data, with_meta.then_some(&mut meta[..]));
        let mut single = Ok(());
        for i in 0..n as usize {
            let mut d = vec![0x33u8; ss];
            let mut m = vec![0x44u8; ms];
            match btt.read_sectors(lba + i as u64, &mut d, with_meta.then_some(&mut m[..])) {
                Ok(()) => {
                    if batch.is_ok() {
                        assert_eq!(d, data[i * ss..(i + 1) * ss], "lba {}", lba + i as u64);
                        if with_meta {
                            assert_eq!(
                                m,
                                meta[i * ms..(i + 1) * ms],
                                "meta lba {}",
                                lba + i as u64
                            );
                        }
                    }
                }
                Err(e) => {
                    single = Err(e);
                    break;
                }
            }
        }
        assert_eq!(batch, single, "lba {lba} n {n} meta {with_meta}");
    }
    btt.read_sectors(lba, &mut vec![0u8; n as usize * ss], None)
}

#[test]
fn zero_and_error_entries_inside_a_batch() {
    for lbasize in [512, 520, 528, 4096, 4104, 4160, 4224] {
        let (btt, mut lanes) = fresh(16 << 20, lbasize, 2);
        let (ss, ms) = (btt.sector_size() as usize, btt.meta_size() as usize);
        for lba in 0..24u64 {
            let meta = meta_pattern(ms, lba, 9);
            btt.write(
                &mut lanes[lba as usize % 2],
                lba,
                &pattern(ss, lba, 9),
                (ms > 0).then_some(&meta[..]),
            )
            .unwrap();
        }
        // All normal, some runs on consecutive blocks, some not.
        for (lba, n) in [(0, 24), (1, 8), (3, 7), (16, 8)] {
            same_as_single(&btt, lba, n).unwrap();
        }
        // LBA 5 zeroed (the entry keeps its block), LBA 6 never written
        // (identity) after a zeroed one, LBA 12 with the error flag.
        let mut buf = vec![0u8; 4];
        let off = btt.arena(0).unwrap().map_entry_offset(5).unwrap();
        btt.media().read(off, &mut buf).unwrap();
        let raw5 = u32::from_le_bytes(buf[..4].try_into().unwrap());
        poke_map(&btt, 0, 5, map::encode(raw5, true, false).unwrap());
        poke_map(&btt, 0, 6, 0);
        poke_map(&btt, 0, 12, map::encode(12, false, true).unwrap());
        same_as_single(&btt, 0, 12).unwrap();
        let mut data = vec![0xffu8; 3 * ss];
        btt.read_sectors(4, &mut data, None).unwrap();
        assert_eq!(identify(&data[..ss]), Some((4, 9)));
        assert!(data[ss..2 * ss].iter().all(|&b| b == 0), "zeroed LBA 5");
        // LBA 6 reads block 6, whoever wrote it last (a free block of a lane
        // that wrote LBAs 0-23 may have been block 6).
        let mut six = vec![0u8; ss];
        btt.read_sectors(6, &mut six, None).unwrap();
        assert_eq!(data[2 * ss..], six[..]);
        assert_eq!(same_as_single(&btt, 8, 8), Err(Error::Io));
        assert_eq!(same_as_single(&btt, 12, 1), Err(Error::Io));
        same_as_single(&btt, 13, 11).unwrap();
        // Buffers that are not whole sectors, or a range past the end.
        assert_eq!(
            btt.read_sectors(0, &mut vec![0u8; ss + 1], None),
            Err(Error::Invalid)
        );
        assert_eq!(btt.read_sectors(0, &mut [], None), Err(Error::Invalid));
        let nlba = btt.nlba();
        assert_eq!(
            btt.read_sectors(nlba - 1, &mut vec![0u8; 2 * ss], None),
            Err(Error::Invalid)
        );
        btt.read_sectors(nlba - 1, &mut vec![0u8; ss], None)
            .unwrap();
        if ms > 0 {
            assert_eq!(
                btt.read_sectors(0, &mut vec![0u8; 2 * ss], Some(&mut vec![0u8; ms])),
                Err(Error::Invalid)
            );
        }
    }
}

#[test]
fn a_range_over_an_arena_boundary() {
    for lbasize in [512, 4160] {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join(format!("lockless-reads-{lbasize}.img"));
        let _ = std::fs::remove_file(&path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let rawsize = 2 * ARENA_MAX_SIZE + (32 << 20);
        file.set_len(rawsize).unwrap();
        let mut c = Config::new(lbasize, [5; 16], [0; 16], 2, 0);
        c.nlanes = 2;
        c.full_check = false;
        let (btt, lanes) =
            Btt::<_, StdPlatform>::open(FileMedia::new(file, 0, rawsize, true), &c).unwrap();
        let mut lanes: Vec<_> = lanes.collect();
        assert_eq!(btt.num_arenas(), 3);
        let (ss, ms) = (btt.sector_size() as usize, btt.meta_size() as usize);
        for ai in 1..3 {
            let edge = btt.arena(ai).unwrap().external_lba_start;
            for lba in edge - 9..edge + 9 {
                let meta = meta_pattern(ms, lba, 3);
                btt.write(
                    &mut lanes[0],
                    lba,
                    &pattern(ss, lba, 3),
                    (ms > 0).then_some(&meta[..]),
                )
                .unwrap();
            }
            // One zeroed entry on each side of the edge.
            poke_map(
                &btt,
                ai - 1,
                btt.arena(ai - 1).unwrap().external_nlba - 2,
                map::encode(0, true, false).unwrap(),
            );
            poke_map(&btt, ai, 1, map::encode(1, true, false).unwrap());
            for (lba, n) in [(edge - 9, 18), (edge - 1, 2), (edge - 4, 8), (edge - 8, 8)] {
                same_as_single(&btt, lba, n).unwrap();
            }
            let mut data = vec![0u8; 18 * ss];
            btt.read_sectors(edge - 9, &mut data, None).unwrap();
            for (i, lba) in (edge - 9..edge + 9).enumerate() {
                let got = identify(&data[i * ss..(i + 1) * ss]).unwrap();
                if lba == edge - 2 || lba == edge + 1 {
                    assert_eq!(got, (u64::MAX, 0), "zeroed lba {lba}");
                } else {
                    assert_eq!(got, (lba, 3), "lba {lba}");
                }
            }
        }
        drop(btt);
        let _ = std::fs::remove_file(&path);
    }
}
