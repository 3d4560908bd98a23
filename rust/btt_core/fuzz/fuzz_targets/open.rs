// SPDX-License-Identifier: GPL-2.0
//! Fuzzes `Btt::open` and I/O on arbitrary images: the input overwrites the
//! start (info block, and on small images the map and flog) of a valid 16 MiB
//! BTT, plus a tail that lands on the backup info block and the flog. Open must
//! never panic, must not write when it refuses, and an opened BTT must take a
//! read and a write of every arena's first sector without panicking.

#![no_main]

use btt_core::btt::{Btt, Config, Media};
use btt_core::host::{MemMedia, StdPlatform};
use libfuzzer_sys::fuzz_target;

const SIZE: usize = 16 << 20;

fn base() -> Vec<u8> {
    let cfg = Config::new(4096, [1; 16], [0; 16], 2, 0);
    let (btt, _lanes) = Btt::<_, StdPlatform>::open(MemMedia::new(SIZE), &cfg).expect("create");
    btt.into_media().into_vec()
}

fuzz_target!(|data: &[u8]| {
    let mut img = base();
    let (head, tail) = data.split_at(data.len() / 2);
    img[..head.len().min(SIZE)].copy_from_slice(&head[..head.len().min(SIZE)]);
    let at = SIZE - 20 * 1024;
    let n = tail.len().min(SIZE - at);
    img[at..at + n].copy_from_slice(&tail[..n]);
    let media = MemMedia::from_vec(img.clone());
    let mut cfg = Config::new(4096, [1; 16], [0; 16], 2, 0);
    cfg.nlanes = 2;
    match Btt::<_, StdPlatform>::open(&media, &cfg) {
        Err(_) => assert!(media.snapshot() == img, "open wrote while refusing"),
        Ok((btt, lanes)) => {
            let mut lanes: Vec<_> = lanes.collect();
            let mut buf = vec![0u8; 4096];
            let firsts: Vec<u64> = btt.arenas().map(|a| a.external_lba_start).collect();
            for lba in firsts {
                let _ = btt.read(&mut lanes[0], lba, &mut buf, None);
                let _ = btt.write(&mut lanes[1], lba, &buf, None);
            }
            let _ = media.size();
        }
    }
});
