// SPDX-License-Identifier: GPL-2.0
//! [`CBtt`]: the C `struct btt` that `nd_btt->btt` points to, for the C code
//! that reads it.
//!
//! libnvdimm treats `nd_btt->btt` as the C driver's `struct btt *` (btt.h)
//! outside the attach/detach calls: nd_pmem's `pmem_revalidate_region()`
//! (drivers/nvdimm/pmem.c), run for every child of a region when its
//! `read_only` attribute is written, calls
//! `nvdimm_check_and_set_ro(nd_btt->btt->btt_disk)`. So what btt_rs stores
//! there is a real `struct btt`, with the layout bindgen generated from the
//! btt.h of the kernel being built, and with every field that has a meaning
//! here filled in. Documentation/btt-rs.rst ("How the kernel reaches a BTT")
//! lists every C reader.

use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::kernel_ext::bindings as nd;

/// A C `struct btt` filled in for C readers; btt_rs itself never reads it.
///
/// Filled: `btt_disk`, `nd_btt`, `nd_region`, `nlba`, `rawsize`, `lbasize`,
/// `sector_size`, `num_arenas` and an empty `arena_list` (the arenas are the
/// Rust core's, not C `struct arena_info`s). Left zero: `debugfs_dir`,
/// `init_lock`, `init_state`, `phys_bb`; no C code outside btt.c reads them.
///
/// `Opaque`: C reads it while Rust holds references to its owner; pinned,
/// because the empty `arena_list` points to itself.
#[repr(transparent)]
pub(crate) struct CBtt(Opaque<nd::btt>);

/// What [`CBtt::new`] writes.
pub(crate) struct CBttFields {
    pub(crate) disk: *mut bindings::gendisk,
    pub(crate) nd_btt: *mut nd::nd_btt,
    pub(crate) nd_region: *mut nd::nd_region,
    pub(crate) nlba: u64,
    pub(crate) rawsize: u64,
    pub(crate) lbasize: u32,
    pub(crate) sector_size: u32,
    pub(crate) num_arenas: usize,
}

// SAFETY: Written once, in place, before it is published in `nd_btt->btt`,
// then only read (by C code holding the BTT device's lock); the pointers it
// holds are to objects that may be used from any task.
unsafe impl Send for CBtt {}
// SAFETY: See `Send`: nothing writes it after initialisation.
unsafe impl Sync for CBtt {}

impl CBtt {
    /// A `struct btt` with the fields C readers may use, initialised in place.
    pub(crate) fn new(f: CBttFields) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| -> Result {
            let num_arenas = i32::try_from(f.num_arenas).map_err(|_| EINVAL)?;
            let b = Opaque::cast_into(slot.cast::<Opaque<nd::btt>>());
            // SAFETY: `b` is valid for writes (pin-init's slot); all zeroes is
            // a valid `struct btt` (pointers, integers, a list head and a mutex
            // no one uses), then the fields are written.
            unsafe {
                b.write_bytes(0, 1);
                (*b).btt_disk = f.disk;
                (*b).nd_btt = f.nd_btt;
                (*b).nd_region = f.nd_region;
                (*b).nlba = f.nlba;
                (*b).rawsize = f.rawsize;
                (*b).lbasize = f.lbasize;
                (*b).sector_size = f.sector_size;
                (*b).num_arenas = num_arenas;
                let head = &raw mut (*b).arena_list;
                (*b).arena_list.next = head;
                (*b).arena_list.prev = head;
            }
            Ok(())
        };
        // SAFETY: `init` initialises all of the slot (a transparent
        // `Opaque<nd::btt>`) or fails before writing; the value is pinned, so
        // `arena_list` keeps pointing to itself.
        unsafe { pin_init::pin_init_from_closure(init) }
    }
}
