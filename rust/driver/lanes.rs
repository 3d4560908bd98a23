// SPDX-License-Identifier: GPL-2.0
//! Lanes: the per-CPU-ish slots that serialise BTT writes, owned per attached
//! BTT. Reads take no lane: they claim read tracking slots in the core
//! (`Btt::read_sectors`); C reads under a lane too.
//!
//! The C driver borrows the region's lanes (`nd_region->lane[]`, one
//! `struct mutex` each) through `nd_region_acquire_lane()`, and keeps the lane's
//! state (its free block, its flog slot, its read tracking slot) in separate
//! per-arena arrays indexed by the lane number, reached without any check that
//! the lane is held. Here the lane's state lives *inside* its mutex: the only
//! way to reach it is the [`LaneGuard`] that [`NdRegion::acquire_lane`] returns.
//!
//! Because the state belongs to one BTT, every attached BTT has its own
//! [`NdRegion`] with its own lanes, chosen exactly as C chooses them: current
//! CPU modulo `nd_region->num_lanes` (256 on pmem); lanes no CPU can pick are
//! not created (see [`NdRegion::lanes_in_use`]).

use core::ops::{
    Deref,
    DerefMut, //
};

use kernel::bindings;
use kernel::cpu::CpuId;
use kernel::prelude::*;
use kernel::sync::MutexGuard;

use crate::kernel_ext::cache_padded::CachePadded;
use crate::kernel_ext::nvdimm::Region;
use crate::kernel_ext::sync::destroyed_mutex::{
    new_destroyed_mutex,
    DestroyedMutex, //
};

/// One lane: a mutex around the lane's state (destroyed on drop).
type LaneLock<L> = DestroyedMutex<L>;

/// A fixed set of lanes, each on its own cache line(s).
pub(crate) struct Lanes<L> {
    lanes: Pin<KBox<[CachePadded<LaneLock<L>>]>>,
}

impl<L: Send> Lanes<L> {
    /// Builds one lane per element of `states`, in order; lane `i` holds `states[i]`.
    pub(crate) fn new(states: impl ExactSizeIterator<Item = L>) -> Result<Self> {
        let n = states.len();
        if n == 0 {
            return Err(EINVAL);
        }
        let mut states = states;
        let lanes = KBox::pin_slice(
            |_| {
                CachePadded::pin_init(new_destroyed_mutex!(
                    states.next().ok_or(EINVAL),
                    "btt_rs::lane"
                ))
            },
            n,
            GFP_KERNEL,
        )?;
        Ok(Self { lanes })
    }

    /// Number of lanes.
    pub(crate) fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Takes lane `index % len()`, sleeping while another task holds it.
    pub(crate) fn lock(&self, index: usize) -> LaneGuard<'_, L> {
        // `checked_rem`: never 0 lanes (`new` refuses it), and no division panic path.
        let lane = &self.lanes[index.checked_rem(self.lanes.len()).unwrap_or(0)];
        LaneGuard { guard: lane.lock() }
    }

    /// Takes the lane of the current CPU, as `nd_region_acquire_lane()` picks it.
    ///
    /// Preemption may move the task to another CPU after the pick; that is fine:
    /// the lane's mutex is taken unconditionally, so the lane stays exclusive.
    pub(crate) fn acquire(&self) -> LaneGuard<'_, L> {
        self.lock(CpuId::current().as_u32() as usize)
    }
}

/// Exclusive access to one lane's state; the lane is released when it is dropped.
///
/// This guard is the only way to reach a lane's state.
pub(crate) struct LaneGuard<'a, L> {
    guard: MutexGuard<'a, L>,
}

impl<L> Deref for LaneGuard<'_, L> {
    type Target = L;

    fn deref(&self) -> &L {
        &self.guard
    }
}

impl<L: Unpin> DerefMut for LaneGuard<'_, L> {
    fn deref_mut(&mut self) -> &mut L {
        &mut self.guard
    }
}

/// This BTT's lanes on its region (`struct nd_region`), as many as the region
/// lets CPUs pick (see [`NdRegion::lanes_in_use`]).
///
/// `Send + Sync` when `L: Send`: shared access reaches a lane's state only
/// through its mutex.
pub(crate) struct NdRegion<L> {
    lanes: Lanes<L>,
}

impl<L: Send> NdRegion<L> {
    /// How many lanes a BTT on `region` gets: `nd_region->num_lanes` (256 on
    /// pmem), but no more than `nr_cpu_ids`. A lane is picked as `cpu %
    /// num_lanes` and every CPU id is below `nr_cpu_ids`, so the lanes from
    /// `nr_cpu_ids` on are never picked, by C either. Not creating them
    /// shortens what every write scans in the read tracking table (a page of
    /// sectors' worth of slots per lane, at least 2: 8 with 512-byte sectors, 2
    /// with 4096) to that many per CPU, and never more than 256 lanes' worth.
    /// Their flog lanes stay on
    /// the media, recovered at open and idle, as with C.
    pub(crate) fn lanes_in_use(region: &Region) -> Result<usize> {
        Ok(region
            .num_lanes()?
            .min(kernel::cpu::nr_cpu_ids() as usize)
            .max(1))
    }

    /// One lane on `region` per element of `states`, which must have exactly
    /// `lanes_in_use(region)` elements.
    pub(crate) fn new(region: &Region, states: impl ExactSizeIterator<Item = L>) -> Result<Self> {
        if states.len() != Self::lanes_in_use(region)? {
            return Err(EINVAL);
        }
        Ok(Self {
            lanes: Lanes::new(states)?,
        })
    }

    /// Takes the current CPU's lane (C: `nd_region_acquire_lane()`); may sleep.
    ///
    /// Starts with `might_sleep()`, as C does. `mutex_lock()` has one too, but
    /// this one reports the Rust caller's file and line (`#[track_caller]`)
    /// instead of `kernel/locking/mutex.c` when a lane is taken in atomic context.
    #[track_caller]
    pub(crate) fn acquire_lane(&self) -> LaneGuard<'_, L> {
        kernel::task::might_sleep();
        self.lanes.acquire()
    }

    /// Takes lane `index` (modulo the number of lanes), whichever CPU runs
    /// the caller; may sleep. For work on every lane, one at a time (all
    /// lanes share one lockdep class: hold one only).
    #[track_caller]
    pub(crate) fn lock_lane(&self, index: usize) -> LaneGuard<'_, L> {
        kernel::task::might_sleep();
        self.lanes.lock(index)
    }
}

#[kunit_tests(btt_rs_lanes)]
mod tests {
    use super::*;

    #[test]
    fn lanes_hold_their_states_in_order() -> Result {
        let lanes = Lanes::new((0u32..8).map(u64::from))?;
        assert_eq!(lanes.len(), 8);
        for i in 0..8 {
            assert_eq!(*lanes.lock(i), i as u64);
        }
        // Indices wrap like `cpu % num_lanes`.
        assert_eq!(*lanes.lock(8 + 3), 3);
        Ok(())
    }

    #[test]
    fn guard_gives_exclusive_mutable_access() -> Result {
        let lanes = Lanes::new([0u64; 4].into_iter())?;
        {
            let mut g = lanes.lock(2);
            *g += 5;
        }
        {
            let mut g = lanes.acquire();
            *g += 1;
        }
        // One lane at a time: all lanes share one lockdep class, and holding two
        // (as a single expression with two guard temporaries would) is reported
        // as recursive locking.
        let mut sum = 0;
        for i in 0..4 {
            let v = *lanes.lock(i);
            sum += v;
        }
        assert_eq!(sum, 6);
        assert!(*lanes.lock(2) >= 5);
        Ok(())
    }

    #[test]
    fn lane_is_released_when_the_guard_drops() -> Result {
        let lanes = Lanes::new(0u32..2)?;
        let g = lanes.lock(1);
        // Another lane is independent of the held one.
        assert!(lanes.lanes[0].try_lock().is_some());
        assert!(lanes.lanes[1].try_lock().is_none());
        drop(g);
        assert!(lanes.lanes[1].try_lock().is_some());
        Ok(())
    }

    #[test]
    fn acquire_picks_the_current_cpu_lane() -> Result {
        let lanes = Lanes::new((0u32..256).map(|i| i as usize))?;
        let g = lanes.acquire();
        // The task may have migrated since, but the pick was some CPU's lane.
        assert!(*g < kernel::cpu::nr_cpu_ids() as usize);
        Ok(())
    }

    #[test]
    fn empty_lane_set_is_rejected() {
        assert!(Lanes::new(core::iter::empty::<u8>()).is_err());
    }

    #[test]
    fn lanes_are_cache_line_apart() -> Result {
        let lanes = Lanes::new(0u8..3)?;
        let a = core::ptr::from_ref(&lanes.lanes[0]) as usize;
        let b = core::ptr::from_ref(&lanes.lanes[1]) as usize;
        assert!(b - a >= bindings::SMP_CACHE_BYTES as usize);
        Ok(())
    }
}
