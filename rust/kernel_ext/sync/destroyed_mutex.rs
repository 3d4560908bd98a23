// SPDX-License-Identifier: GPL-2.0
//! [`DestroyedMutex`]: a kernel [`Mutex`] that is `mutex_destroy()`ed when dropped.

use kernel::bindings;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::{
    LockClassKey,
    Mutex,
    MutexGuard, //
};

/// A kernel [`Mutex`] paired with `mutex_destroy()` on drop, as C pairs every
/// `mutex_init()`.
///
/// The kernel crate's `Mutex` (`Lock<T, MutexBackend>`, rust/kernel/sync/lock.rs)
/// has no `Drop` and never calls `mutex_destroy()`. Without CONFIG_DEBUG_MUTEXES
/// that is a no-op; with it, `mutex_destroy()` warns if the mutex is still
/// locked and poisons its magic, so a later use of the freed lock is reported.
#[pin_data(PinnedDrop)]
pub(crate) struct DestroyedMutex<T> {
    #[pin]
    lock: Mutex<T>,
}

impl<T> DestroyedMutex<T> {
    /// Build-time check of what [`PinnedDrop::drop`] relies on: that a
    /// `Mutex<T>` starts with its `struct mutex`. Linux 7.3 has no public way to
    /// reach it (no `Mutex::as_raw()`); `Lock` is `#[repr(C)]` with the
    /// `Opaque<bindings::mutex>` first (rust/kernel/sync/lock.rs), and
    /// `Lock::<()>::from_raw()` documents that `Mutex<()>` has the layout of
    /// `struct mutex`. Checked here: `Mutex<()>` has exactly the size and
    /// alignment of `struct mutex` (a field added in front of the state, or a
    /// change of backend, breaks them), and `Mutex<T>` is aligned at least as
    /// much. Evaluated by [`DestroyedMutex::try_new`].
    const LAYOUT_OK: () = {
        use core::mem::{
            align_of,
            size_of, //
        };
        assert!(size_of::<Mutex<()>>() == size_of::<bindings::mutex>());
        assert!(align_of::<Mutex<()>>() == align_of::<bindings::mutex>());
        assert!(align_of::<Mutex<T>>() >= align_of::<bindings::mutex>());
        assert!(size_of::<Mutex<T>>() >= size_of::<bindings::mutex>());
    };

    /// Initialiser of an unlocked mutex holding `value`; fails with the error
    /// in `value`, if any (so that values can be handed over fallibly).
    ///
    /// `name` and `key` are the lockdep class, as `new_mutex!` passes them.
    pub(crate) fn try_new(
        value: Result<T>,
        name: &'static CStr,
        key: Pin<&'static LockClassKey>,
    ) -> impl PinInit<Self, Error> {
        let () = Self::LAYOUT_OK;
        try_pin_init!(Self {
            lock <- Mutex::new(value?, name, key),
        })
    }

    /// Takes the mutex, sleeping while it is contended.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.lock.lock()
    }

    /// Takes the mutex if it is free.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.lock.try_lock()
    }
}

#[pinned_drop]
impl<T> PinnedDrop for DestroyedMutex<T> {
    fn drop(self: Pin<&mut Self>) {
        let lock: *const Mutex<T> = &self.lock;
        // `Lock` (rust/kernel/sync/lock.rs) is `#[repr(C)]` with `state: Opaque<bindings::mutex>`
        // first, as `Lock::from_raw` assumes; `LAYOUT_OK` checks it at build time.
        // SAFETY: By that layout `lock` is the `struct mutex` `Mutex::new` set up; with `Pin<&mut
        // Self>` no guard (which borrows the mutex) exists: it is unlocked, and unused hereafter.
        unsafe { bindings::mutex_destroy(lock.cast_mut().cast::<bindings::mutex>()) };
    }
}

/// `DestroyedMutex::try_new(value, name, key)` with a static lockdep class for
/// this call site, like `new_mutex!`.
macro_rules! new_destroyed_mutex {
    ($value:expr, $name:literal) => {
        $crate::kernel_ext::sync::destroyed_mutex::DestroyedMutex::try_new(
            $value,
            ::kernel::c_str!($name),
            ::kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_destroyed_mutex;
