// SPDX-License-Identifier: GPL-2.0
//! [`CachePadded`]: a value alone on its cache line(s).

use core::ops::{Deref, DerefMut};

use kernel::bindings::SMP_CACHE_BYTES;
use kernel::prelude::*;

/// Pads and aligns `T` to the cache line, like C's `____cacheline_aligned_in_smp`
/// (which `struct nd_lane` uses), so that two elements of an array never share a
/// line and contended locks in neighbouring elements do not false-share.
///
/// The alignment is a literal (`repr(align)` takes no constant expression);
/// [`CachePadded::LAYOUT_OK`] checks it against the kernel's `SMP_CACHE_BYTES`
/// at build time, so an architecture with longer lines fails to compile rather
/// than silently sharing lines.
///
/// The value is structurally pinned: a `CachePadded<Mutex<T>>` is built in place
/// with [`CachePadded::pin_init`].
#[pin_data]
#[repr(C, align(64))]
pub(crate) struct CachePadded<T> {
    #[pin]
    value: T,
}

impl<T> CachePadded<T> {
    /// Compile-time check that the size and alignment are whole cache lines.
    /// Evaluated (at build time) by every constructor.
    pub(crate) const LAYOUT_OK: () = {
        let line = SMP_CACHE_BYTES as usize;
        assert!(core::mem::align_of::<Self>() % line == 0);
        assert!(core::mem::size_of::<Self>() % line == 0);
    };

    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        let () = Self::LAYOUT_OK;
        Self { value }
    }

    /// In-place initialiser of a padded `T` from an initialiser of `T`.
    pub(crate) fn pin_init<E>(value: impl PinInit<T, E>) -> impl PinInit<Self, E> {
        let () = Self::LAYOUT_OK;
        pin_init!(Self { value <- value }? E)
    }
}

impl<T: Clone> Clone for CachePadded<T> {
    fn clone(&self) -> Self {
        Self::new(self.value.clone())
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Unpin> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

#[kunit_tests(btt_rs_cache_padded)]
mod tests {
    use super::*;
    use kernel::bindings::SMP_CACHE_BYTES;
    use kernel::sync::Mutex;

    fn line() -> usize {
        SMP_CACHE_BYTES as usize
    }

    #[test]
    fn layout_is_whole_lines() {
        assert_eq!(core::mem::align_of::<CachePadded<u8>>() % line(), 0);
        assert_eq!(core::mem::size_of::<CachePadded<u8>>(), line());
        assert_eq!(core::mem::size_of::<CachePadded<[u8; 65]>>() % line(), 0);
        assert_eq!(core::mem::size_of::<CachePadded<Mutex<u64>>>() % line(), 0);
    }

    #[test]
    fn neighbours_do_not_share_a_line() -> Result {
        let v = KVec::from_elem(CachePadded::new(0u32), 4, GFP_KERNEL)?;
        for i in 0..3 {
            let a = core::ptr::from_ref::<u32>(&v[i]) as usize;
            let b = core::ptr::from_ref::<u32>(&v[i + 1]) as usize;
            assert_eq!(a % line(), 0);
            assert!(b - a >= line());
        }
        Ok(())
    }

    #[test]
    fn deref_reaches_the_value() {
        let mut p = CachePadded::new(41u32);
        *p += 1;
        assert_eq!(*p, 42);
    }
}
