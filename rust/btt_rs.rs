// SPDX-License-Identifier: GPL-2.0
//! btt_rs: the BTT (Block Translation Table) driver as a Rust module.
//!
//! It replaces `nd_btt.ko`: it exports `nvdimm_namespace_attach_btt()` and
//! `nvdimm_namespace_detach_btt()` (from `rust/glue/btt_glue.c`), which an
//! unchanged `nd_pmem` calls for a namespace in sector mode.

use kernel::prelude::*;

mod cache_padded;
mod mutex;
mod nd;
mod ns_media;
mod platform;
mod region;

/// The BTT algorithm (rust/btt_core/src/btt/), shared with the host build; it
/// uses nothing but `core`.
#[path = "btt_core/src/btt"]
#[allow(dead_code, unreachable_pub)]
mod btt_core {
    pub(crate) mod error;
    pub(crate) mod media;
    pub(crate) mod platform;
}

module! {
    type: BttRs,
    name: "btt_rs",
    authors: ["btt-rs contributors"],
    description: "Block Translation Table (BTT) for NVDIMM namespaces, in Rust",
    license: "GPL",
}

struct BttRs;

impl kernel::Module for BttRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("loaded; nd_pmem attaches sector-mode namespaces through btt_rs\n");
        Ok(BttRs)
    }
}

impl Drop for BttRs {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}

/// Called by `nd_pmem` (through `nvdimm_namespace_attach_btt()`) for a namespace
/// claimed by a BTT device.
#[no_mangle]
extern "C" fn btt_rs_attach(_ndns: *mut nd::nd_namespace_common) -> kernel::ffi::c_int {
    ENODEV.to_errno()
}

/// Called by `nd_pmem` (through `nvdimm_namespace_detach_btt()`) when the BTT device unbinds.
#[no_mangle]
extern "C" fn btt_rs_detach(_nd_btt: *mut nd::nd_btt) -> kernel::ffi::c_int {
    0
}

/// The `submit_bio` of every btt_rs disk.
#[no_mangle]
extern "C" fn btt_rs_submit_bio(_bio: *mut kernel::bindings::bio) {}
