// SPDX-License-Identifier: GPL-2.0
//! btt_rs: the BTT (Block Translation Table) driver as a Rust module.
//!
//! It replaces `nd_btt.ko`: it exports `nvdimm_namespace_attach_btt()` and
//! `nvdimm_namespace_detach_btt()` (from `rust/glue/btt_glue.c`), which an
//! unchanged `nd_pmem` calls for a namespace in sector mode.

use kernel::prelude::*;

use crate::kernel_ext::{
    bindings as nd,
    block::bio_disk,
    glue, //
};

// The driver: module entry, attach/detach, the I/O path, the debugfs view.
mod btt_dev;
mod c_btt;
mod debugfs;
mod kernel_platform;
mod lanes;
mod ns_media;
mod rtt_kunit;

/// Kernel abstractions the driver builds on (rust/kernel_ext/), each shaped as
/// it would be under upstream `rust/kernel/`; nothing in them knows of BTT.
#[path = "../kernel_ext/mod.rs"]
mod kernel_ext;

/// The BTT algorithm (rust/btt_core/src/btt/), shared with the host build; it
/// uses nothing but `core`.
#[path = "../btt_core/src/btt/mod.rs"]
#[allow(dead_code, unreachable_pub, unused_imports)]
mod btt_core;

module! {
    type: BttRs,
    name: "btt_rs",
    authors: ["btt-rs contributors"],
    description: "Block Translation Table (BTT) for NVDIMM namespaces, in Rust",
    license: "GPL",
    params: {
        full_check: bool {
            default: true,
            description: "Check at attach that every block has one owner (reads the whole map)",
        },
    },
}

struct BttRs;

impl kernel::Module for BttRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        debugfs::init_root();
        pr_info!("loaded; nd_pmem attaches sector-mode namespaces through btt_rs\n");
        Ok(BttRs)
    }
}

impl Drop for BttRs {
    fn drop(&mut self) {
        debugfs::remove_root();
        pr_info!("unloaded\n");
    }
}

/// Called by `nd_pmem` (through `nvdimm_namespace_attach_btt()`) for a namespace
/// claimed by a BTT device.
///
/// # Safety
///
/// Called only by `nvdimm_namespace_attach_btt()` (rust/glue/btt_glue.c), from
/// `nd_pmem`'s probe: `ndns` is a live namespace whose claim is a BTT device
/// (`is_nd_btt(ndns->claim)`), bound to `nd_pmem` for the whole call.
#[no_mangle]
unsafe extern "C" fn btt_rs_attach(ndns: *mut nd::nd_namespace_common) -> kernel::ffi::c_int {
    // SAFETY: By the function's safety requirements `ndns` is live and claimed
    // by a BTT device.
    let nd_btt = unsafe { glue::btt_rs_ns_btt(ndns) };
    // SAFETY: `ndns` and `nd_btt` are live; the `BttDev` is stored in
    // `nd_btt->btt` and dropped by `btt_rs_detach`, before the device goes.
    match unsafe { btt_dev::BttDev::attach(nd_btt, ndns) } {
        Ok(dev) => {
            // SAFETY: `nd_btt` is live; `btt` is ours to set. C code reads it
            // as a `struct btt *` (see `c_btt.rs`), which `dev` starts with.
            unsafe { (*nd_btt).btt = btt_dev::BttDev::c_btt(dev) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Called by `nd_pmem` (through `nvdimm_namespace_detach_btt()`) when the BTT device unbinds.
///
/// # Safety
///
/// Called only by `nvdimm_namespace_detach_btt()` (rust/glue/btt_glue.c), from
/// `nd_pmem`'s remove: `nd_btt` is a live BTT device, not used concurrently by
/// another attach or detach, whose `btt` field is null or was set by
/// [`btt_rs_attach`].
#[no_mangle]
unsafe extern "C" fn btt_rs_detach(nd_btt: *mut nd::nd_btt) -> kernel::ffi::c_int {
    // SAFETY: By the function's safety requirements `nd_btt` is live and ours.
    let raw = unsafe { core::mem::replace(&mut (*nd_btt).btt, core::ptr::null_mut()) };
    if !raw.is_null() {
        // SAFETY: `raw` is the first field of the `BttDev` that came from
        // `KBox::into_raw` in `btt_rs_attach` (so the same address), and is
        // released once (the field was cleared above).
        drop(unsafe { KBox::from_raw(raw.cast::<btt_dev::BttDev>()) });
    }
    0
}

/// The `submit_bio` of every btt_rs disk.
///
/// # Safety
///
/// Called only by the block layer, through the `block_device_operations` of
/// the disks `btt_rs_alloc_disk()` (rust/glue/btt_glue.c) makes: `bio` is a
/// live bio for one of those disks, handed over to be ended once.
#[no_mangle]
unsafe extern "C" fn btt_rs_submit_bio(bio: *mut kernel::bindings::bio) {
    // SAFETY: By the function's safety requirements `bio` is a live bio for one
    // of our disks, to be ended once; our disks' `private_data` is their
    // `BttDev`, alive until `del_gendisk()` has returned, which waits for this
    // bio.
    unsafe { bio_disk::submit_bio::<btt_dev::BttDev>(bio) };
}
