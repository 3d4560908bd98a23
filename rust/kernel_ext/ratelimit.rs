// SPDX-License-Identifier: GPL-2.0
//! [`RateLimit`]: at most a burst of messages per interval, as the kernel's
//! `dev_err_ratelimited()` allows (`DEFAULT_RATELIMIT_INTERVAL`, 5 s, and
//! `DEFAULT_RATELIMIT_BURST`, 10), without a lock.
//!
//! The kernel crate has no rate-limited printing. A failing medium can fail
//! every bio, so the I/O path logs through this.

use core::sync::atomic::{
    AtomicI64,
    AtomicU32,
    Ordering, //
};

use kernel::time::{
    Delta,
    Instant,
    Monotonic, //
};

/// Messages allowed per interval (C `DEFAULT_RATELIMIT_BURST`).
const BURST: u32 = 10;
/// The interval (C `DEFAULT_RATELIMIT_INTERVAL`, `5 * HZ`).
const INTERVAL: Delta = Delta::from_secs(5);
/// `window_start_ns` before the first message.
const NO_WINDOW: i64 = -1;

/// What [`RateLimit::check`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Print; `suppressed` messages were dropped in the interval before this
    /// one (print a line saying so first, as `___ratelimit()` does).
    Print { suppressed: u32 },
    /// Drop this message.
    Drop,
}

/// A lock-free rate limiter: windows of [`INTERVAL`], [`BURST`] messages each.
pub(crate) struct RateLimit {
    epoch: Instant<Monotonic>,
    window_start_ns: AtomicI64,
    printed: AtomicU32,
    suppressed: AtomicU32,
}

impl RateLimit {
    /// A limiter whose first window starts at its first message.
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            window_start_ns: AtomicI64::new(NO_WINDOW),
            printed: AtomicU32::new(0),
            suppressed: AtomicU32::new(0),
        }
    }

    /// Whether a message may be printed now.
    pub(crate) fn check(&self) -> Verdict {
        let now = self.epoch.elapsed().as_nanos();
        let start = self.window_start_ns.load(Ordering::Acquire);
        let mut suppressed = 0;
        if start == NO_WINDOW {
            // The first message opens the first window, as `___ratelimit()`
            // starts its interval at its first call (not when the limiter was
            // made: a burst soon after would get a second window early).
            // Losing the race means another caller opened it just now.
            let _ = self.window_start_ns.compare_exchange(
                NO_WINDOW,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        } else if now.saturating_sub(start) >= INTERVAL.as_nanos()
            && self
                .window_start_ns
                .compare_exchange(start, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This caller opened the new window; racing callers may still
            // count into the old one, which only loosens the limit by a few.
            self.printed.store(0, Ordering::Release);
            suppressed = self.suppressed.swap(0, Ordering::AcqRel);
        }
        if self.printed.fetch_add(1, Ordering::AcqRel) < BURST {
            Verdict::Print { suppressed }
        } else {
            self.suppressed.fetch_add(1, Ordering::AcqRel);
            Verdict::Drop
        }
    }
}

#[kernel::prelude::kunit_tests(btt_rs_ratelimit)]
mod tests {
    use super::*;

    #[test]
    fn the_first_message_opens_the_first_window() {
        let r = RateLimit::new();
        assert_eq!(r.window_start_ns.load(Ordering::Relaxed), NO_WINDOW);
        assert_eq!(r.check(), Verdict::Print { suppressed: 0 });
        assert!(r.window_start_ns.load(Ordering::Relaxed) >= 0);
    }

    #[test]
    fn a_burst_then_silence() {
        let r = RateLimit::new();
        for _ in 0..BURST {
            assert_eq!(r.check(), Verdict::Print { suppressed: 0 });
        }
        for _ in 0..100 {
            assert_eq!(r.check(), Verdict::Drop);
        }
    }
}
