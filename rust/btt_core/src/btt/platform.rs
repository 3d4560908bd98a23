// SPDX-License-Identifier: GPL-2.0
//! What the BTT core needs from its environment, apart from the media.
//!
//! The core is generic over [`Platform`] so that the same source runs in the
//! kernel (`KVec`, `Mutex`) and on the host (`Vec`, `std::sync::Mutex`).
//! Allocation happens only when a BTT is opened or created; the I/O path
//! allocates nothing.

use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU32, Ordering};

use super::error::Error;

/// Allocation and locking primitives supplied by the environment.
pub trait Platform: Sized + Send + Sync + 'static {
    /// An owned, heap-allocated, fixed-length slice (host: `Vec<T>`, kernel: `KVec<T>`).
    type Slice<T: Send + Sync>: Deref<Target = [T]> + DerefMut + Send + Sync;

    /// Allocates a slice of `len` elements, element `i` being `f(i)`.
    ///
    /// Fails with [`Error::NoMem`] instead of aborting when memory is short.
    fn try_slice<T: Send + Sync>(
        len: usize,
        f: impl FnMut(usize) -> T,
    ) -> Result<Self::Slice<T>, Error>;

    /// A table of sleepable locks (C: `arena->map_locks`).
    type LockTable: LockTable;

    /// Allocates a table of `len` unlocked locks.
    fn try_lock_table(len: usize) -> Result<Self::LockTable, Error>;

    /// Called in every iteration of a wait for a reader to leave the read
    /// tracking table (C: `cpu_relax()`).
    fn wait_hint() {
        core::hint::spin_loop();
    }

    /// Waits until the read tracking slot `slot` no longer holds `busy`: a
    /// writer waits so for a reader that still copies from the block it is
    /// about to reuse, and a reader that found every slot taken waits so for
    /// one to be emptied.
    ///
    /// The default spins with [`Platform::wait_hint`], as C does. A platform
    /// that can sleep waits for [`Platform::rtt_released`] instead; it must
    /// not miss a release that happens between its check and its sleep.
    fn rtt_wait(slot: &AtomicU32, busy: u32) {
        while slot.load(Ordering::SeqCst) == busy {
            Self::wait_hint();
        }
    }

    /// Where a reader without a lane starts its search for free read tracking
    /// slots: the current CPU's number in the kernel, so that readers on
    /// different CPUs claim slots on different cache lines. Only a hint: any
    /// value is correct. The default is 0.
    fn rtt_hint() -> usize {
        0
    }

    /// Called after a reader emptied `slot`, to wake writers and readers in
    /// [`Platform::rtt_wait`]. The default does nothing.
    fn rtt_released(slot: &AtomicU32) {
        let _ = slot;
    }

    /// Called after a reader emptied every slot of `slots` (the `None`s are
    /// slots it did not claim). The default calls [`Platform::rtt_released`]
    /// for each; a platform may share one barrier between them.
    fn rtt_released_all(slots: &[Option<&AtomicU32>]) {
        for slot in slots.iter().flatten() {
            Self::rtt_released(slot);
        }
    }
}

/// A fixed table of locks that may be held across media writes, which may sleep.
pub trait LockTable: Send + Sync {
    /// Proof that lock `index` is held; dropping it releases the lock.
    type Guard<'a>
    where
        Self: 'a;

    /// Takes lock `index` (`index < len`), sleeping if it is contended.
    fn lock(&self, index: usize) -> Self::Guard<'_>;

    /// Number of locks in the table.
    fn len(&self) -> usize;

    /// Whether the table is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
