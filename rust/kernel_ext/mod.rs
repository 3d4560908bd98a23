// SPDX-License-Identifier: GPL-2.0
//! Kernel abstractions btt_rs needs that the Linux 7.3 `kernel` crate lacks.
//!
//! Each file is shaped as it would be under upstream `rust/kernel/` (the path
//! below this directory is the path it would have there), and knows nothing of
//! BTT: the driver, in `rust/driver/`, uses them as it uses the `kernel` crate.

pub(crate) mod bindings;
pub(crate) mod block;
pub(crate) mod cache_padded;
pub(crate) mod glue;
pub(crate) mod memalloc;
pub(crate) mod nvdimm;
pub(crate) mod ratelimit;
pub(crate) mod raw_buf;
pub(crate) mod sync;
