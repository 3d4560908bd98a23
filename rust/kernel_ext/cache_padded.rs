// SPDX-License-Identifier: GPL-2.0
//! [`CachePadded`]: a value alone on its cache line(s).

use core::ops::{
    Deref,
    DerefMut, //
};

use kernel::bindings::SMP_CACHE_BYTES;
use kernel::prelude::*;

/// Pads and aligns `T` to the cache line, like C's `____cacheline_aligned_in_smp`
/// (which `struct nd_lane` uses), so that two elements of an array never share a
/// line and contended locks in neighbouring elements do not false-share.
///
/// `repr(align)` takes only a literal, so the alignment is chosen per
/// architecture from the kernel configuration (the `CONFIG_*` cfgs the kernel
/// passes to rustc, `include/generated/rustc_cfg`), following each
/// `arch/*/include/asm/cache.h` of Linux 7.3, where `SMP_CACHE_BYTES` is
/// `L1_CACHE_BYTES` (`1 << L1_CACHE_SHIFT`; the default of
/// `include/vdso/cache.h`, which none of these overrides):
///
/// - x86 and UML: `CONFIG_X86_L1_CACHE_SHIFT` (6 on x86_64, `X86_GENERIC`;
///   7 on `MPENTIUM4`; 5 or 4 on old 32-bit CPUs);
/// - arm: `CONFIG_ARM_L1_CACHE_SHIFT` (5, 6 or 7);
/// - loongarch: `CONFIG_L1_CACHE_SHIFT` (6);
/// - arm64 and riscv: 6 (a literal in their `cache.h`);
/// - powerpc: 4 on 8xx, 6 on e500mc, 7 on 47x and 64-bit, else 5 (32-bit);
/// - s390: 8.
///
/// [`CachePadded::LAYOUT_OK`] checks the result against the kernel's
/// `SMP_CACHE_BYTES` at build time, so an architecture missing here (no
/// `repr(align)` applies) or one whose line is longer than chosen fails to
/// compile rather than silently sharing lines (where the type is used: the
/// check is a constant evaluated by each constructor). Built (2026-12-07,
/// `make rust/` of each defconfig with RUST and KUNIT, clang 19): x86_64 (64),
/// arm64 (64), riscv64 (64), loongarch (64), arm multi_v7 (64), s390 (256;
/// a nightly rustc, as 7.3 needs 1.96 there), ppc64le (128) and ppc32
/// pmac32 (32; before the 32-bit powerpc arms were
/// added it failed there, as it should). A wrong arm for arm64 failed the
/// build. e500mc, 8xx and 47x were read from `cache.h`, not built.
///
/// The value is structurally pinned: a `CachePadded<Mutex<T>>` is built in place
/// with [`CachePadded::pin_init`].
#[pin_data]
#[repr(C)]
#[cfg_attr(
    any(
        CONFIG_X86_L1_CACHE_SHIFT = "4",
        CONFIG_ARM_L1_CACHE_SHIFT = "4",
        CONFIG_PPC_8xx
    ),
    repr(align(16))
)]
#[cfg_attr(
    any(
        CONFIG_X86_L1_CACHE_SHIFT = "5",
        CONFIG_ARM_L1_CACHE_SHIFT = "5",
        all(
            CONFIG_PPC32,
            not(any(CONFIG_PPC_8xx, CONFIG_PPC_E500MC, CONFIG_PPC_47x))
        )
    ),
    repr(align(32))
)]
#[cfg_attr(
    any(
        CONFIG_X86_L1_CACHE_SHIFT = "6",
        CONFIG_ARM_L1_CACHE_SHIFT = "6",
        CONFIG_L1_CACHE_SHIFT = "6",
        CONFIG_ARM64,
        CONFIG_RISCV,
        CONFIG_PPC_E500MC
    ),
    repr(align(64))
)]
#[cfg_attr(
    any(
        CONFIG_X86_L1_CACHE_SHIFT = "7",
        CONFIG_ARM_L1_CACHE_SHIFT = "7",
        all(CONFIG_PPC64, not(CONFIG_PPC_E500MC)),
        CONFIG_PPC_47x
    ),
    repr(align(128))
)]
#[cfg_attr(CONFIG_S390, repr(align(256)))]
pub(crate) struct CachePadded<T> {
    #[pin]
    value: T,
}

impl<T> CachePadded<T> {
    /// Compile-time check that the size and alignment are whole cache lines.
    /// Evaluated (at build time) by every constructor.
    pub(crate) const LAYOUT_OK: () = {
        let line = SMP_CACHE_BYTES as usize;
        // Also fails when no `repr(align)` above applies (alignment of `T`).
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
