// SPDX-License-Identifier: GPL-2.0
//! What the BTT core needs from its environment, apart from the media.
//!
//! The core is generic over [`Platform`] so that the same source runs in the
//! kernel (`KVec`, `Mutex`) and on the host (`Vec`, `std::sync::Mutex`).
//! Allocation happens only when a BTT is opened or created; the I/O path
//! allocates nothing.

use core::ops::{Deref, DerefMut};

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
