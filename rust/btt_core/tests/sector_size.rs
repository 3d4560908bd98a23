// SPDX-License-Identifier: GPL-2.0
//! A sector size BTT does not support (libnvdimm's probe copies an info
//! block's `external_lbasize` into `nd_btt->lbasize` unchecked, so a damaged
//! info block can ask for 4097) is refused by name, before anything is read
//! or written.

mod common;

use btt_core::btt::{Btt, Error};
use btt_core::host::{MemMedia, StdPlatform};
use common::*;

const SIZE: usize = 32 << 20;

#[test]
fn an_unsupported_sector_size_is_refused_by_name_and_nothing_is_written() {
    let (btt, _lanes) = fresh(SIZE, 4096, 8);
    let before = btt.into_media().into_vec();
    for lbasize in [0, 511, 4097, 8192, u32::MAX] {
        let media = MemMedia::from_vec(before.clone());
        let r = Btt::<&MemMedia, StdPlatform>::open(&media, &cfg(lbasize));
        let e = r.err().expect("opened with an unsupported sector size");
        assert_eq!(e, Error::UnsupportedSectorSize(lbasize));
        assert_eq!(e.to_errno(), 22);
        assert!(
            e.to_string().contains(&format!("sector size {lbasize} ")),
            "{e}"
        );
        assert!(
            media.snapshot() == before,
            "lbasize {lbasize}: media written"
        );
    }
}
