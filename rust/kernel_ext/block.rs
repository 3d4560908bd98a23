// SPDX-License-Identifier: GPL-2.0
//! Block layer: bios and bio-based disks (upstream `rust/kernel/block/`, next
//! to `mq`).

pub(crate) mod bio;
pub(crate) mod bio_disk;
