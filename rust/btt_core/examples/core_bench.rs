// SPDX-License-Identifier: GPL-2.0
//! Benchmark (not a test) of the BTT core on in-memory media: sector read and
//! write throughput, single-threaded and with one thread per lane, as a ratio
//! to a plain `memcpy` of the same data by as many threads.
//!
//! `cargo run --release --example core_bench [SECONDS]` (default 1 s per row).

use std::hint::black_box;
use std::time::{Duration, Instant};

use btt_core::btt::{Btt, Config};
use btt_core::host::{MemMedia, StdPlatform};

const MEDIA: usize = 256 << 20;

fn rate(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / (1u64 << 20) as f64
}

/// Media of `MEDIA` bytes that are all written, so that no read is served from
/// the kernel's shared zero page (a fresh `vec![0; n]` maps every untouched page
/// to it, which stays in cache and made reads look faster than `memcpy`).
fn filled(byte: u8) -> Vec<u8> {
    vec![byte; MEDIA]
}

/// MiB/s of one scoped thread per item of `items`, each running `work(t, item)`
/// (`t` its index) until `secs` have passed and returning the bytes it moved.
fn threaded_rate<T: Send>(
    items: impl Iterator<Item = T>,
    secs: f64,
    work: impl Fn(usize, T, &dyn Fn() -> bool) -> u64 + Sync,
) -> f64 {
    let t0 = Instant::now();
    let running = || t0.elapsed().as_secs_f64() < secs;
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .enumerate()
            .map(|(t, item)| {
                let (work, running) = (&work, &running);
                s.spawn(move || work(t, item, running))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    rate(total, t0.elapsed())
}

/// MiB/s of `threads` threads copying random `ss`-byte pieces of `MEDIA` bytes
/// of memory, the reference.
fn memcpy_rate(ss: usize, threads: usize, secs: f64) -> f64 {
    let src = filled(0x5a);
    let n = MEDIA / ss;
    threaded_rate(0..threads, secs, |t, _, running| {
        let mut dst = vec![0u8; ss];
        let (mut i, mut bytes) = (t, 0u64);
        while running() {
            for _ in 0..1024 {
                let at = (i.wrapping_mul(2_654_435_761) % n) * ss;
                dst.copy_from_slice(&src[at..at + ss]);
                black_box(&dst);
                i += threads;
                bytes += ss as u64;
            }
        }
        bytes
    })
}

fn btt_rate(ss: u32, threads: usize, write: bool, secs: f64) -> f64 {
    let mut cfg = Config::new(ss, [1; 16], [0; 16], 2, 0);
    cfg.nlanes = threads as u32;
    cfg.full_check = false;
    let (btt, lanes) =
        Btt::<_, StdPlatform>::open(MemMedia::from_vec(filled(0xa5)), &cfg).expect("create");
    let nlba = btt.nlba();
    threaded_rate(lanes, secs, |t, mut lane, running| {
        let mut buf = vec![t as u8; ss as usize];
        let (mut i, mut bytes) = (t as u64, 0u64);
        while running() {
            for _ in 0..256 {
                let lba = i.wrapping_mul(2_654_435_761) % nlba;
                if write {
                    btt.write(&mut lane, lba, &buf, None).expect("write");
                } else {
                    btt.read(&mut lane, lba, &mut buf, None).expect("read");
                }
                i += threads as u64;
                bytes += u64::from(ss);
            }
        }
        bytes
    })
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1.0);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "BTT core on memory media ({} MiB), random sectors, {secs} s per row, {cpus} CPUs",
        MEDIA >> 20
    );
    println!("MemMedia takes a lock per access and the core reads the map before every I/O:");
    println!("the ratio is the core's cost over copying the sector, not a device figure.");
    println!(
        "{:>6} {:>7} {:>6} {:>12} {:>12} {:>8}",
        "sector", "threads", "op", "MiB/s", "memcpy MiB/s", "ratio"
    );
    for ss in [512u32, 4096] {
        for threads in [1, cpus.max(2)] {
            let base = memcpy_rate(ss as usize, threads, secs);
            for write in [false, true] {
                let r = btt_rate(ss, threads, write, secs);
                let op = if write { "write" } else { "read" };
                println!(
                    "{ss:>6} {threads:>7} {op:>6} {r:>12.1} {base:>12.1} {:>8.3}",
                    r / base
                );
            }
        }
    }
}
