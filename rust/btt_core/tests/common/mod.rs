// SPDX-License-Identifier: GPL-2.0
//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use btt_core::btt::flog::{LogEntry, LogGroup, LogIndices, LOG_GRP_SIZE};
use btt_core::btt::map::{Mapping, MAP_LBA_MASK};
use btt_core::btt::{ArenaInfo, Btt, Config, Error, Lane, LaneSet, Media};
use btt_core::host::{MemMedia, Recorded, StdPlatform};

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
    btt_core::host::unpack_sparse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
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

pub const PAGE: u64 = 4096;
pub const MIB: usize = 1 << 20;

/// Copy-on-write pages over an image: page number -> its 4096 bytes.
pub type Pages = HashMap<u64, Box<[u8]>>;

/// Page `p` of `base`; zeroes beyond its end (see [`Layered::with_size`]).
pub fn base_page(base: &[u8], p: u64) -> &[u8] {
    static ZERO: [u8; PAGE as usize] = [0; PAGE as usize];
    base.get((p * PAGE) as usize..((p + 1) * PAGE) as usize)
        .unwrap_or(&ZERO)
}

/// Writes `bytes` at `offset` into `pages`, copying untouched pages from
/// `below` or else from `base` first.
pub fn apply(pages: &mut Pages, below: Option<&Pages>, base: &[u8], offset: u64, bytes: &[u8]) {
    let mut done = 0usize;
    while done < bytes.len() {
        let at = offset + done as u64;
        let p = at / PAGE;
        let in_p = (at % PAGE) as usize;
        let n = (PAGE as usize - in_p).min(bytes.len() - done);
        let page = pages
            .entry(p)
            .or_insert_with(|| match below.and_then(|b| b.get(&p)) {
                Some(pg) => pg.clone(),
                None => base_page(base, p).into(),
            });
        page[in_p..in_p + n].copy_from_slice(&bytes[done..done + n]);
        done += n;
    }
}

/// The image after a crash: the pre-workload snapshot, the writes of the
/// prefix, and on top whatever is written after the crash (the torn write
/// and the writes of recovery).
pub struct Layered<'a> {
    pub base: &'a [u8],
    pub prefix: &'a Pages,
    pub top: Mutex<Pages>,
    /// Writes made through the `Media` trait (not [`Layered::poke`]).
    pub writes: AtomicUsize,
    size: u64,
}

impl<'a> Layered<'a> {
    pub fn new(base: &'a [u8], prefix: &'a Pages) -> Self {
        Self::with_size(base, prefix, base.len() as u64)
    }

    /// A media of `size` bytes whose bytes beyond `base` are zero (a sparse
    /// image larger than memory).
    pub fn with_size(base: &'a [u8], prefix: &'a Pages, size: u64) -> Self {
        Self {
            size,
            base,
            prefix,
            top: Mutex::new(Pages::new()),
            writes: AtomicUsize::new(0),
        }
    }

    /// Applies bytes without counting them as a write of the BTT.
    pub fn poke(&self, offset: u64, bytes: &[u8]) {
        let mut top = self.top.lock().unwrap();
        apply(&mut top, Some(self.prefix), self.base, offset, bytes);
    }

    pub fn dirty_pages(&self) -> HashSet<u64> {
        let top = self.top.lock().unwrap();
        self.prefix.keys().chain(top.keys()).copied().collect()
    }
}

impl Media for Layered<'_> {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        if offset + buf.len() as u64 > self.size() {
            return Err(Error::Invalid);
        }
        let top = self.top.lock().unwrap();
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let p = at / PAGE;
            let in_p = (at % PAGE) as usize;
            let n = (PAGE as usize - in_p).min(buf.len() - done);
            let src: &[u8] = match top.get(&p).or_else(|| self.prefix.get(&p)) {
                Some(pg) => pg,
                None => base_page(self.base, p),
            };
            buf[done..done + n].copy_from_slice(&src[in_p..in_p + n]);
            done += n;
        }
        Ok(())
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        if offset + buf.len() as u64 > self.size() {
            return Err(Error::Invalid);
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.poke(offset, buf);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// Memory media with poisoned byte ranges: reads overlapping one fail, a write
/// covering a range clears it (as `nsio_rw_bytes()` clears poison).
pub struct PoisonMedia {
    pub inner: MemMedia,
    bad: Mutex<Vec<(u64, u64)>>,
}

impl PoisonMedia {
    pub fn new(inner: MemMedia) -> Self {
        Self {
            inner,
            bad: Mutex::new(Vec::new()),
        }
    }

    pub fn poison(&self, off: u64, len: u64) {
        self.bad.lock().unwrap().push((off, off + len));
    }

    pub fn poisoned(&self) -> usize {
        self.bad.lock().unwrap().len()
    }
}

pub fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

impl Media for PoisonMedia {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let r = (offset, offset + buf.len() as u64);
        if self.bad.lock().unwrap().iter().any(|&b| overlaps(b, r)) {
            return Err(Error::Io);
        }
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        let r = (offset, offset + buf.len() as u64);
        self.bad
            .lock()
            .unwrap()
            .retain(|&b| !(r.0 <= b.0 && b.1 <= r.1));
        self.inner.write(offset, buf)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn is_poisoned(&self, offset: u64, len: u64) -> bool {
        let r = (offset, offset + len);
        self.bad.lock().unwrap().iter().any(|&b| overlaps(b, r))
    }
}

/// The 8-byte granular tears of write `r` over the image `base` + `prefix`
/// that give an image different both from the one without the write and from
/// the one with all of it (tears that only leave bytes as they were are the
/// same crash point as one of those two).
pub fn distinct_tears(base: &[u8], prefix: &Pages, r: &Recorded) -> Vec<usize> {
    let mut now = vec![0u8; r.bytes.len()];
    Layered::new(base, prefix).read(r.offset, &mut now).unwrap();
    let differs = |c: usize| {
        let end = (c * 8 + 8).min(now.len());
        now[c * 8..end] != r.bytes[c * 8..end]
    };
    let chunks = r.bytes.len().div_ceil(8);
    let (Some(first), Some(last)) = (
        (0..chunks).find(|&c| differs(c)),
        (0..chunks).rev().find(|&c| differs(c)),
    ) else {
        return Vec::new();
    };
    // Cut after chunk c (c + 1 chunks applied) for first <= c < last.
    (first..last).map(|c| (c + 1) * 8).collect()
}

/// Yields before every media call, so that concurrent threads interleave
/// finely (crash, reorder and batch tests run writers at once on it).
pub struct Yielding<M>(pub M);

impl<M: Media> Media for Yielding<M> {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        std::thread::yield_now();
        self.0.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        std::thread::yield_now();
        self.0.write(offset, buf)
    }

    fn write_unfenced(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        std::thread::yield_now();
        self.0.write_unfenced(offset, buf)
    }

    fn flush(&self) -> Result<(), Error> {
        std::thread::yield_now();
        self.0.flush()
    }

    fn size(&self) -> u64 {
        self.0.size()
    }
}

/// Every data block has exactly one owner: a map entry as it is on media
/// now, a handed-out lane's free block (each of its flog lanes), or the free
/// block named by the newest flog entry of a flog lane no lane owns.
pub fn ownership(
    media: &Layered,
    btt: &HostBtt<&Layered>,
    lanes: &[HostLane],
) -> Result<(), String> {
    let a = btt.arena(0).unwrap();
    let mut owned = vec![false; a.internal_nlba as usize];
    let mut claim = |block: u32, by: &dyn Fn() -> String| -> Result<(), String> {
        let slot = owned
            .get_mut(block as usize)
            .ok_or_else(|| format!("{} names block {block}, beyond internal_nlba", by()))?;
        if *slot {
            return Err(format!("block {block} owned twice ({})", by()));
        }
        *slot = true;
        Ok(())
    };
    let mut map = vec![0u8; a.external_nlba as usize * 4];
    media.read(a.mapoff, &mut map).unwrap();
    for (p, e) in map.chunks_exact(4).enumerate() {
        let raw = u32::from_le_bytes(e.try_into().unwrap());
        claim(Mapping::decode(p as u32, raw).postmap, &|| {
            format!("map entry {p}")
        })?;
    }
    // Each lane's flog lanes by their free blocks, the others (recovered
    // and idle) by their newest flog entry.
    let mut owned = HashSet::new();
    for lane in lanes {
        for (flog_lane, free) in lane.free_entries(0) {
            claim(free.block, &|| {
                format!("lane {} (flog lane {flog_lane})", lane.index())
            })?;
            owned.insert(flog_lane);
        }
    }
    let idx = LogIndices(a.log_index);
    for lane in (0..a.nfree).filter(|l| !owned.contains(l)) {
        let mut raw = [0u8; 64];
        media
            .read(a.log_group_offset(lane).unwrap(), &mut raw)
            .unwrap();
        let (_, ent) = idx
            .newest(&LogGroup::decode(&raw))
            .ok_or(format!("flog lane {lane}: no valid entry"))?;
        claim(ent.old_map & MAP_LBA_MASK, &|| format!("flog lane {lane}"))?;
    }
    Ok(())
}

/// Moves slot 1 of every log group to slot 2, as a kernel before 4.15 laid
/// the flog out.
pub fn to_old_padding<M: Media>(media: &M, a: &ArenaInfo) {
    for lane in 0..a.nfree {
        let off = a.logoff + u64::from(lane) * LOG_GRP_SIZE;
        let mut raw = [0u8; 64];
        media.read(off, &mut raw).unwrap();
        let mut g = LogGroup::decode(&raw);
        g.ent[2] = g.ent[1];
        g.ent[1] = LogEntry::default();
        media.write(off, &g.encode()).unwrap();
    }
}
