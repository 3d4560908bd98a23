// SPDX-License-Identifier: GPL-2.0
//! [`NoIoScope`]: allocations that must not start I/O (C
//! `memalloc_noio_save()` / `memalloc_noio_restore()`, `linux/sched/mm.h`).
//!
//! A block driver that allocates while serving a bio must not let reclaim
//! write back to a device, perhaps its own, that is waiting for that bio.
//! Within the scope every allocation of the task behaves as `GFP_NOIO`,
//! whatever flags it passes, including those made by code that knows
//! nothing of the scope.

use crate::kernel_ext::glue;

/// While alive, the current task's allocations start no I/O; dropping it
/// restores what was in force before (scopes nest).
///
/// Not `Send`: the scope belongs to the task that entered it.
pub(crate) struct NoIoScope {
    flags: kernel::ffi::c_uint,
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl NoIoScope {
    /// Enters a no-I/O allocation scope for the current task.
    pub(crate) fn enter() -> Self {
        // SAFETY: Only sets a flag of the current task and returns the old
        // flags; any context may call it.
        let flags = unsafe { glue::btt_rs_memalloc_noio_save() };
        Self {
            flags,
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for NoIoScope {
    fn drop(&mut self) {
        // SAFETY: Only sets the current task's `PF_MEMALLOC_NOIO` back as
        // `flags`, which `memalloc_noio_save()` returned on this task (the
        // type is not `Send`); any context may call it.
        unsafe { glue::btt_rs_memalloc_noio_restore(self.flags) };
    }
}
