// SPDX-License-Identifier: GPL-2.0
//! [`KernelPlatform`]: the BTT core's allocation and locking primitives, in the kernel.

use core::sync::atomic::{
    fence,
    AtomicU32,
    AtomicUsize,
    Ordering, //
};

use kernel::prelude::*;
use kernel::processor::cpu_relax;
use kernel::sync::MutexGuard;

use crate::kernel_ext::cache_padded::CachePadded;
use crate::kernel_ext::sync::destroyed_mutex::{
    new_destroyed_mutex,
    DestroyedMutex, //
};
use crate::kernel_ext::sync::wait_var;

use crate::btt_core::error::Error as CoreError;
use crate::btt_core::platform::{
    LockTable,
    Platform, //
};

/// The kernel implementation of the core's [`Platform`].
///
/// Slices are [`KVVec`]s: `kvmalloc()`, which falls back to `vmalloc()` for the
/// large per-arena tables, as the C driver's `kcalloc()`/`kzalloc()` tables
/// would need for big arenas. Lock tables are pinned boxed slices of kernel
/// mutexes: map locks are held across media writes, which end in
/// `nvdimm_flush()` and may sleep, so they cannot be spinlocks.
pub(crate) struct KernelPlatform;

impl Platform for KernelPlatform {
    type Slice<T: Send + Sync> = KVVec<T>;

    fn try_slice<T: Send + Sync>(
        len: usize,
        mut f: impl FnMut(usize) -> T,
    ) -> Result<Self::Slice<T>, CoreError> {
        let mut v = KVVec::with_capacity(len, GFP_KERNEL).map_err(|_| CoreError::NoMem)?;
        for i in 0..len {
            v.push_within_capacity(f(i)).map_err(|_| CoreError::NoMem)?;
        }
        Ok(v)
    }

    type LockTable = KernelLockTable;

    fn try_lock_table(len: usize) -> Result<Self::LockTable, CoreError> {
        KBox::pin_slice(
            |_| CachePadded::pin_init(new_destroyed_mutex!(Ok(()), "btt_rs::map_lock")),
            len,
            GFP_KERNEL,
        )
        .map(KernelLockTable)
        .map_err(|_| CoreError::NoMem)
    }

    fn wait_hint() {
        cpu_relax();
    }

    /// Sleeps instead of spinning: with preemptible lanes a reader may be
    /// scheduled out while its slot names the block, and a spinning writer
    /// would burn its CPU until the reader runs again.
    fn rtt_wait(slot: &AtomicU32, busy: u32) {
        if slot.load(Ordering::SeqCst) != busy {
            return;
        }
        RTT_WAITERS.fetch_add(1, Ordering::SeqCst);
        // Orders the count before the slot check in `wait_while_equal()`; pairs
        // with the fence in `rtt_released` (either the reader sees the count,
        // or this writer sees the emptied slot).
        fence(Ordering::SeqCst);
        wait_var::wait_while_equal(slot, busy);
        RTT_WAITERS.fetch_sub(1, Ordering::SeqCst);
    }

    /// The current CPU: readers on different CPUs start their search for a
    /// free read tracking slot in different slots (those of the CPU's lane).
    /// The task may move to another CPU right after; only a hint.
    fn rtt_hint() -> usize {
        kernel::cpu::CpuId::current().as_u32() as usize
    }

    /// Wakes waiting writers (and readers waiting for a free slot), if there are any: a reader that finds none
    /// skips the wait queue lookup, which is almost always.
    fn rtt_released(slot: &AtomicU32) {
        // Orders the slot's store (by the caller) before the count's load.
        fence(Ordering::SeqCst);
        if RTT_WAITERS.load(Ordering::Relaxed) == 0 {
            return;
        }
        wait_var::wake_up(slot);
    }

    /// As [`Self::rtt_released`] for each slot, with one barrier and one look at
    /// the count for all of them (a read of a page of 512-byte sectors empties
    /// eight).
    fn rtt_released_all(slots: &[Option<&AtomicU32>]) {
        // Orders the slots' stores (by the caller) before the count's load.
        fence(Ordering::SeqCst);
        if RTT_WAITERS.load(Ordering::Relaxed) == 0 {
            return;
        }
        for slot in slots.iter().flatten() {
            wait_var::wake_up(slot);
        }
    }
}

/// Writers (and readers that found no free slot) sleeping in
/// [`KernelPlatform::rtt_wait`], over all BTTs. Written only by those that have
/// to wait (rare), read by every reader as it leaves the
/// read tracking table, so its cache line stays shared.
static RTT_WAITERS: AtomicUsize = AtomicUsize::new(0);

/// A table of sleepable locks (C: `arena->map_locks`: cache-line-aligned
/// spinlocks there, cache-line-padded mutexes here).
pub(crate) struct KernelLockTable(Pin<KBox<[CachePadded<DestroyedMutex<()>>]>>);

impl LockTable for KernelLockTable {
    type Guard<'a> = MutexGuard<'a, ()>;

    /// Takes lock `index`; the core guarantees `index < len()`.
    fn lock(&self, index: usize) -> Self::Guard<'_> {
        self.0[index].lock()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[kunit_tests(btt_rs_platform)]
mod tests {
    use super::*;

    #[test]
    fn try_slice_fills_in_order() -> Result {
        let s = KernelPlatform::try_slice(300, |i| i * 2).map_err(|_| ENOMEM)?;
        assert_eq!(s.len(), 300);
        assert!(s.iter().enumerate().all(|(i, &v)| v == i * 2));
        Ok(())
    }

    #[test]
    fn try_slice_of_nothing_is_empty() -> Result {
        let s = KernelPlatform::try_slice(0, |_| 0u8).map_err(|_| ENOMEM)?;
        assert!(s.is_empty());
        Ok(())
    }

    #[test]
    fn lock_table_locks_are_independent() -> Result {
        let t = KernelPlatform::try_lock_table(256).map_err(|_| ENOMEM)?;
        assert_eq!(t.len(), 256);
        let g = t.lock(7);
        assert!(t.0[8].try_lock().is_some());
        assert!(t.0[7].try_lock().is_none());
        drop(g);
        assert!(t.0[7].try_lock().is_some());
        Ok(())
    }

    #[test]
    fn wait_hint_returns() {
        KernelPlatform::wait_hint();
    }
}
