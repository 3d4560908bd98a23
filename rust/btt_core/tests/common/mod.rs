// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use btt_core::btt::{Btt, Config, Lane, LaneSet};
use btt_core::host::{MemMedia, StdPlatform};

pub type HostBtt<M> = Btt<M, StdPlatform>;
pub type HostLane = Lane<StdPlatform>;

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Unpacks a `BTTSPRS1` sparse fixture (tools/testing/fixtures/sparse.py).
pub fn load_sparse(name: &str) -> Vec<u8> {
    let raw = std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&raw[..8], b"BTTSPRS1", "{name}: not a sparse fixture");
    let size = u64::from_le_bytes(raw[8..16].try_into().unwrap()) as usize;
    let block = u64::from_le_bytes(raw[16..24].try_into().unwrap()) as usize;
    let mut img = vec![0u8; size];
    let mut p = 24;
    while p < raw.len() {
        let off = u64::from_le_bytes(raw[p..p + 8].try_into().unwrap()) as usize;
        p += 8;
        let n = block.min(size - off);
        img[off..off + n].copy_from_slice(&raw[p..p + n]);
        p += block;
    }
    img
}

/// Parses "xxxxxxxx-xxxx-..." into 16 bytes, in the order `export_uuid()` stores them.
pub fn parse_uuid(s: &str) -> [u8; 16] {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

pub fn cfg(lbasize: u32) -> Config {
    let mut c = Config::new(lbasize, [7; 16], [0; 16], 2, 0);
    c.nlanes = 8;
    c
}

/// Opens (creating) a BTT on fresh memory media of `size` bytes.
pub fn fresh(size: usize, lbasize: u32, nlanes: u32) -> (HostBtt<MemMedia>, Vec<HostLane>) {
    let mut c = cfg(lbasize);
    c.nlanes = nlanes;
    let (btt, lanes): (HostBtt<MemMedia>, LaneSet<StdPlatform>) =
        Btt::open(MemMedia::new(size), &c).expect("create");
    assert!(btt.created());
    (btt, lanes.collect())
}

/// A sector whose bytes identify `(lba, gen)`.
pub fn pattern(sector_size: usize, lba: u64, gen: u64) -> Vec<u8> {
    let mut v = vec![0u8; sector_size];
    let mut x =
        lba.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ gen.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 1;
    for chunk in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    v[..8].copy_from_slice(&lba.to_le_bytes());
    v[8..16].copy_from_slice(&gen.to_le_bytes());
    v
}

/// Decodes a sector written with [`pattern`]: `Some((lba, gen))` if whole.
pub fn identify(buf: &[u8]) -> Option<(u64, u64)> {
    if buf.iter().all(|b| *b == 0) {
        return Some((u64::MAX, 0));
    }
    let lba = u64::from_le_bytes(buf[..8].try_into().unwrap());
    let gen = u64::from_le_bytes(buf[8..16].try_into().unwrap());
    (pattern(buf.len(), lba, gen) == buf).then_some((lba, gen))
}

/// Integrity metadata bytes that identify `(lba, gen)` (for 520, 528, 4104, ...).
pub fn meta_pattern(meta_size: usize, lba: u64, gen: u64) -> Vec<u8> {
    let seed = lba
        .wrapping_mul(31)
        .wrapping_add(gen.wrapping_mul(0x1_0000_0001));
    (0..meta_size)
        .map(|i| (seed.rotate_left(i as u32 * 8) as u8) ^ (i as u8).wrapping_mul(7) ^ 0x5a)
        .collect()
}

/// A small deterministic PRNG (SplitMix64), so that every run does the same.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
