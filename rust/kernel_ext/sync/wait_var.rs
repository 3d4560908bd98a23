// SPDX-License-Identifier: GPL-2.0
//! Sleeping until a variable changes: C `wait_var_event()` and `wake_up_var()`.
//!
//! The waiter sleeps on a wait queue hashed from the variable's address; the
//! writer that changes the variable wakes that queue. Both are macros or need
//! a barrier spelled out in C, so C helpers wrap them.

use core::sync::atomic::AtomicU32;

use crate::kernel_ext::glue;

/// Sleeps until `var` no longer holds `value` (C
/// `wait_var_event(var, READ_ONCE(*var) != value)`). Returns at once if it
/// already differs. May sleep.
pub(crate) fn wait_while_equal(var: &AtomicU32, value: u32) {
    // SAFETY: `var` is a live `u32`-sized atomic for the call; the C side only
    // reads it with `READ_ONCE()` and uses its address as the wait key.
    unsafe { glue::btt_rs_rtt_wait(var.as_ptr(), value) };
}

/// Wakes the tasks sleeping in [`wait_while_equal`] on `var`, after a full
/// barrier that orders the caller's store to `var` before the wait queue
/// check (C `smp_mb(); wake_up_var(var)`).
pub(crate) fn wake_up(var: &AtomicU32) {
    // SAFETY: As in `wait_while_equal`; the address is only used as the key.
    unsafe { glue::btt_rs_rtt_wake(var.as_ptr()) };
}
