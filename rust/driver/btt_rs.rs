// SPDX-License-Identifier: GPL-2.0
//! btt_rs: the BTT (Block Translation Table) driver as a Rust module.
//!
//! It replaces `nd_btt.ko`: it exports `nvdimm_namespace_attach_btt()` and
//! `nvdimm_namespace_detach_btt()` (from `rust/glue/btt_glue.c`), which an
//! unchanged `nd_pmem` calls for a namespace in sector mode.

use kernel::prelude::*;

use crate::kernel_ext::{
    bindings as nd,
    nvdimm::{
        BttDevice,
        Namespace, //
    }, //
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
#[expect(dead_code, unreachable_pub, unused_imports)]
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
        write_batch: u32 {
            default: 32,
            description: "Most consecutive sectors of a write committed together, 1..=32 (1: sector by sector, as nd_btt)",
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
/// `nd_pmem`'s probe of the BTT device: `ndns` is a live namespace, bound to
/// `nd_pmem` through its claim for the whole call, and nd_pmem's remove calls
/// [`btt_rs_detach`] before the BTT device unbinds.
#[no_mangle]
unsafe extern "C" fn btt_rs_attach(ndns: *mut nd::nd_namespace_common) -> kernel::ffi::c_int {
    // SAFETY: `ndns` is live for the call (function's safety requirements).
    let ns = unsafe { Namespace::from_raw(ndns) };
    // SAFETY: called from nd_pmem's probe of the device claiming `ns`
    // (function's safety requirements); `nd_btt` is used only within this
    // call (what attach keeps holds a reference of its own).
    let Some(nd_btt) = (unsafe { ns.btt_claim() }) else {
        return ENODEV.to_errno();
    };
    // SAFETY: `ns` is the namespace `nd_btt` claims, and detach drops the
    // device before `nd_btt` unbinds (function's safety requirements).
    match unsafe { btt_dev::BttDev::attach(nd_btt, ns) } {
        Ok(dev) => {
            nd_btt.set_btt(dev);
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
    // SAFETY: `nd_btt` is live for the call (function's safety requirements).
    let nd_btt = unsafe { BttDevice::from_raw(nd_btt) };
    // SAFETY: `nd_btt->btt` is null or was set by `btt_rs_attach` with a
    // `BttDev` (function's safety requirements).
    drop(unsafe { nd_btt.take_btt::<btt_dev::BttDev>() });
    0
}
