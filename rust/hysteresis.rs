// SPDX-License-Identifier: GPL-2.0

//! Hysteresis: a process that hits a limit is *throttled* until it drops to its low-water mark.
//!
//! The seeds: "Hysteresis would definitely be desirable. The userland scheduler cannot just stop,
//! though, because that could deadlock the program. It would have to revert to polling until the
//! concurrent syscall count drops below the hysteresis point." The kernel side is this state
//! machine, per process:
//!
//! - a message is taken (counted in flight) if the process is not throttled, stays within its
//!   limit, and the total stays within `max_total`; otherwise it is refused (`EAGAIN`);
//! - a refusal throttles the process if it has more than its mark in flight (a refusal by the
//!   global limit with no more than the mark in flight throttles nothing: there may be nothing
//!   of its own to wait for);
//! - giving a message back (its reply was reaped) unthrottles the process once it is down to
//!   its mark; the caller then wakes waiters and pollers (`POLLOUT`).
//!
//! Throttling and the in-flight count race between a refusing submitter and a reaper: the
//! refuser sets the flag and then looks at the count, the reaper lowers the count and then looks
//! at the flag, both fully ordered, so at least one of them sees the other and the flag cannot be
//! left set with nothing in flight to clear it.

use crate::{
    limits::{LIMIT_HITS, THROTTLE_EPISODES},
    sysctl::SysctlInt,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;

/// What a process may have in flight now.
#[derive(Clone, Copy)]
pub(crate) struct Budget {
    /// Its effective soft limit.
    pub(crate) limit: u32,
    /// Its low-water mark.
    pub(crate) mark: u32,
    /// The global limit.
    pub(crate) max_total: u32,
}

/// What a caller of [`Flow::give_back`] must wake.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Wake {
    /// Nothing changed for waiters.
    Nothing,
    /// The process may submit again (it was throttled, or the total was full).
    Room,
}

/// One process's count of messages in flight, its throttle and its counters.
#[derive(Default)]
pub(crate) struct Flow {
    inflight: AtomicU32,
    throttled: AtomicBool,
    peak: AtomicU32,
    limit_hits: AtomicU64,
    episodes: AtomicU64,
    submitted: AtomicU64,
}

/// A snapshot of a [`Flow`]'s counters.
#[derive(Clone, Copy, Default)]
pub(crate) struct FlowStats {
    /// Messages in flight.
    pub(crate) inflight: u32,
    /// Throttled now.
    pub(crate) throttled: bool,
    /// The most ever in flight.
    pub(crate) peak: u32,
    /// Messages refused by a limit or while throttled.
    pub(crate) limit_hits: u64,
    /// Times it became throttled.
    pub(crate) episodes: u64,
    /// Messages accepted.
    pub(crate) submitted: u64,
}

impl Flow {
    /// Takes one message in flight, or refuses it with `EAGAIN`. `total` is the global count.
    pub(crate) fn try_take(&self, b: Budget, total: &SysctlInt) -> Result {
        if self.take_many(b, 1, total) == 1 {
            Ok(())
        } else {
            self.refuse(b)
        }
    }

    /// Takes up to `n` messages in flight at once, as many as `n` successive [`Flow::try_take`]
    /// calls would take before the first refusal, but refuses nothing: the caller takes the
    /// next one with `try_take`, which does the refusal's bookkeeping. One pass of atomics for a
    /// whole batch; the process's own count never overshoots its limit, even for a moment.
    pub(crate) fn take_many(&self, b: Budget, n: u32, total: &SysctlInt) -> u32 {
        if n == 0 || self.throttled.load(Ordering::SeqCst) {
            return 0;
        }
        let mut old = self.inflight.load(Ordering::SeqCst);
        let granted = loop {
            let granted = n.min(b.limit.saturating_sub(old));
            if granted == 0 {
                return 0;
            }
            match self.inflight.compare_exchange(
                old,
                old + granted,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break granted,
                Err(now) => old = now,
            }
        };
        // The global count may overshoot for a moment, as in a single take; the excess is given
        // back at once.
        let before = total.fetch_add(granted as i32);
        let room = (b.max_total as i32).saturating_sub(before).max(0) as u32;
        let kept = granted.min(room);
        if kept < granted {
            total.fetch_add(-((granted - kept) as i32));
            self.inflight.fetch_sub(granted - kept, Ordering::SeqCst);
        }
        if kept > 0 {
            self.peak.fetch_max(old + kept, Ordering::Relaxed);
        }
        kept
    }

    /// Counts `n` accepted messages.
    pub(crate) fn count_submitted(&self, n: u32) {
        if n > 0 {
            self.submitted.fetch_add(n.into(), Ordering::Relaxed);
        }
    }

    fn refuse(&self, b: Budget) -> Result {
        self.limit_hits.fetch_add(1, Ordering::Relaxed);
        LIMIT_HITS.fetch_add(1);
        if self.inflight.load(Ordering::SeqCst) > b.mark
            && !self.throttled.swap(true, Ordering::SeqCst)
        {
            self.episodes.fetch_add(1, Ordering::Relaxed);
            THROTTLE_EPISODES.fetch_add(1);
            // A reaper may have reached the mark before it could see the flag.
            if self.inflight.load(Ordering::SeqCst) <= b.mark {
                self.throttled.store(false, Ordering::SeqCst);
            }
        }
        Err(EAGAIN)
    }

    /// Gives back one message taken by [`Flow::try_take`].
    pub(crate) fn give_back(&self, b: Budget, total: &SysctlInt) -> Wake {
        self.give_back_many(b, 1, total)
    }

    /// Gives back `n` messages taken by [`Flow::try_take`] or [`Flow::take_many`] at once.
    pub(crate) fn give_back_many(&self, b: Budget, n: u32, total: &SysctlInt) -> Wake {
        if n == 0 {
            return Wake::Nothing;
        }
        let was_full = total.fetch_add(-(n as i32)) >= b.max_total as i32;
        let now = self.inflight.fetch_sub(n, Ordering::SeqCst) - n;
        if self.throttled.load(Ordering::SeqCst) {
            if now <= b.mark && self.throttled.swap(false, Ordering::SeqCst) {
                return Wake::Room;
            }
            return Wake::Nothing;
        }
        if was_full || (now < b.limit && now + n >= b.limit) {
            Wake::Room
        } else {
            Wake::Nothing
        }
    }

    /// Whether a message would be taken now (`POLLOUT`).
    pub(crate) fn may_take(&self, b: Budget, total: &SysctlInt) -> bool {
        !self.throttled.load(Ordering::SeqCst)
            && self.inflight.load(Ordering::SeqCst) < b.limit
            && total.get() < b.max_total as i32
    }

    /// The counters.
    pub(crate) fn stats(&self) -> FlowStats {
        FlowStats {
            inflight: self.inflight.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            peak: self.peak.load(Ordering::Relaxed),
            limit_hits: self.limit_hits.load(Ordering::Relaxed),
            episodes: self.episodes.load(Ordering::Relaxed),
            submitted: self.submitted.load(Ordering::Relaxed),
        }
    }
}

#[kunit_tests(sysmsg_hysteresis)]
mod tests {
    use super::*;

    fn budget(limit: u32, mark: u32) -> Budget {
        Budget {
            limit,
            mark,
            max_total: 1000,
        }
    }

    /// With limit 2 (mark 1): the third message is refused and throttles; the process stays
    /// throttled at 2 and leaves it exactly at 1 in flight.
    #[test]
    fn limit_two() -> Result {
        let total = SysctlInt::new(0, 0, i32::MAX);
        let f = Flow::default();
        let b = budget(2, 1);
        f.try_take(b, &total)?;
        f.try_take(b, &total)?;
        assert_eq!(f.try_take(b, &total), Err(EAGAIN));
        let s = f.stats();
        assert!(s.throttled);
        assert_eq!((s.inflight, s.limit_hits, s.episodes, s.peak), (2, 1, 1, 2));
        assert!(!f.may_take(b, &total));
        assert_eq!(f.give_back(b, &total), Wake::Room);
        assert!(!f.stats().throttled);
        assert!(f.may_take(b, &total));
        f.try_take(b, &total)?;
        assert_eq!(total.get(), 2);
        Ok(())
    }

    /// With limit 10 and mark 5, a throttled process refuses everything until it is down to 5,
    /// even though it is below its limit in between.
    #[test]
    fn throttled_until_the_mark() -> Result {
        let total = SysctlInt::new(0, 0, i32::MAX);
        let f = Flow::default();
        let b = budget(10, 5);
        for _ in 0..10 {
            f.try_take(b, &total)?;
        }
        assert_eq!(f.try_take(b, &total), Err(EAGAIN));
        for _ in 0..4 {
            assert_eq!(f.give_back(b, &total), Wake::Nothing);
            assert_eq!(f.try_take(b, &total), Err(EAGAIN));
        }
        // 6 in flight: still throttled; the next give-back reaches 5.
        assert_eq!(f.stats().inflight, 6);
        assert_eq!(f.give_back(b, &total), Wake::Room);
        f.try_take(b, &total)?;
        assert_eq!(f.stats().episodes, 1);
        assert_eq!(f.stats().limit_hits, 5);
        Ok(())
    }

    /// Limit 1, mark 0: one message at a time, and the process always recovers.
    #[test]
    fn limit_one() -> Result {
        let total = SysctlInt::new(0, 0, i32::MAX);
        let f = Flow::default();
        let b = budget(1, 0);
        for _ in 0..3 {
            f.try_take(b, &total)?;
            assert_eq!(f.try_take(b, &total), Err(EAGAIN));
            assert_eq!(f.give_back(b, &total), Wake::Room);
        }
        assert_eq!(f.stats().episodes, 3);
        Ok(())
    }

    /// The global limit refuses a process that is within its own limit; with no more than its
    /// mark in flight that does not throttle it.
    #[test]
    fn global_limit() -> Result {
        let total = SysctlInt::new(0, 0, i32::MAX);
        let (a, c) = (Flow::default(), Flow::default());
        let b = Budget {
            limit: 10,
            mark: 5,
            max_total: 3,
        };
        for _ in 0..3 {
            a.try_take(b, &total)?;
        }
        assert_eq!(c.try_take(b, &total), Err(EAGAIN));
        assert!(!c.stats().throttled);
        assert!(!c.may_take(b, &total));
        assert_eq!(a.give_back(b, &total), Wake::Room);
        c.try_take(b, &total)?;
        assert_eq!(total.get(), 3);
        Ok(())
    }

    /// Lowering a limit below what is in flight cancels nothing; the next refusal throttles,
    /// and the process leaves the throttle at the new mark.
    #[test]
    fn lowered_limit() -> Result {
        let total = SysctlInt::new(0, 0, i32::MAX);
        let f = Flow::default();
        for _ in 0..8 {
            f.try_take(budget(16, 8), &total)?;
        }
        let low = budget(4, 2);
        assert_eq!(f.try_take(low, &total), Err(EAGAIN));
        assert!(f.stats().throttled);
        for _ in 0..5 {
            assert_eq!(f.give_back(low, &total), Wake::Nothing);
        }
        assert_eq!(f.give_back(low, &total), Wake::Room);
        assert_eq!(f.stats().inflight, 2);
        f.try_take(low, &total)?;
        Ok(())
    }

    /// A batch take stops exactly where single takes would be refused (the process's limit or
    /// the global one) and refuses nothing itself; a batch give-back wakes as single ones would.
    #[test]
    fn batches() -> Result {
        let total = SysctlInt::new(0, 0, i32::MAX);
        let f = Flow::default();
        let b = budget(5, 2);
        assert_eq!(f.take_many(b, 3, &total), 3);
        assert_eq!(f.take_many(b, 5, &total), 2);
        assert_eq!(f.take_many(b, 1, &total), 0);
        assert!(!f.stats().throttled);
        assert_eq!((f.stats().inflight, f.stats().peak, total.get()), (5, 5, 5));
        assert_eq!(f.try_take(b, &total), Err(EAGAIN));
        assert!(f.stats().throttled);
        assert_eq!(f.take_many(b, 1, &total), 0);
        assert_eq!(f.give_back_many(b, 2, &total), Wake::Nothing);
        assert_eq!(f.give_back_many(b, 1, &total), Wake::Room);
        assert_eq!(f.take_many(b, 9, &total), 3);
        // Not throttled, at the limit: giving back across the limit wakes submitters.
        assert_eq!(f.give_back_many(b, 4, &total), Wake::Room);
        assert_eq!(f.give_back_many(b, 1, &total), Wake::Nothing);
        // The global limit: 2 places left of 4.
        let g = Budget {
            limit: 100,
            mark: 50,
            max_total: 4,
        };
        total.fetch_add(2);
        assert_eq!(f.take_many(g, 5, &total), 2);
        assert_eq!((f.stats().inflight, total.get()), (2, 4));
        assert_eq!(f.take_many(g, 1, &total), 0);
        assert_eq!(f.give_back_many(g, 2, &total), Wake::Room);
        f.count_submitted(7);
        assert_eq!(f.stats().submitted, 7);
        Ok(())
    }
}
