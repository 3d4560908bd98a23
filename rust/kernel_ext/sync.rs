// SPDX-License-Identifier: GPL-2.0
//! Synchronisation primitives (upstream `rust/kernel/sync/`).

pub(crate) mod destroyed_mutex;
pub(crate) mod wait_var;
