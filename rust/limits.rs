// SPDX-License-Identifier: GPL-2.0

//! Limits on messages in flight: the `kernel.sysmsg` limit sysctls and the RLIMIT-style rules of a
//! process's own soft and hard limits.
//!
//! The seeds: "we need resource limits on the number of outstanding system calls [...] a sysctl
//! for a global limit [...] use 'ulimit' to set the bounded queue size on a per process basis
//! [...] use a sysctl to turn on this feature." A process starts with the defaults
//! `max_per_process` / `max_per_process_hard`; with `per_process_limits` = 1 it may change its
//! own (and, with `prlimit(2)`'s rights, another process's) by ioctl; with 0 everyone gets the
//! defaults as they are now. `max_total` bounds all processes together and `nr_inflight` is the
//! current total.

use crate::sysctl::SysctlInt;
use kernel::prelude::*;

/// The largest limit that can be set.
pub(crate) const LIMIT_MAX: u32 = 1 << 24;

/// `kernel.sysmsg.max_per_process`: the soft limit a process starts with.
pub(crate) static MAX_PER_PROCESS: SysctlInt = SysctlInt::new(16384, 1, LIMIT_MAX as i32);
/// `kernel.sysmsg.max_per_process_hard`: the hard limit a process starts with.
pub(crate) static MAX_PER_PROCESS_HARD: SysctlInt = SysctlInt::new(131072, 1, LIMIT_MAX as i32);
/// `kernel.sysmsg.per_process_limits`: whether processes may set their own limits.
pub(crate) static PER_PROCESS_LIMITS: SysctlInt = SysctlInt::new(0, 0, 1);
/// `kernel.sysmsg.max_total`: the limit over all processes.
pub(crate) static MAX_TOTAL: SysctlInt = SysctlInt::new(1 << 20, 1, LIMIT_MAX as i32);
/// `kernel.sysmsg.low_water`: the hysteresis point, in percent of a process's soft limit.
pub(crate) static LOW_WATER: SysctlInt = SysctlInt::new(50, 0, 100);
/// `kernel.sysmsg.nr_inflight` (read-only): messages in flight over all processes.
pub(crate) static NR_INFLIGHT: SysctlInt = SysctlInt::new(0, 0, i32::MAX);
/// `kernel.sysmsg.limit_hits` (read-only): messages refused by a limit or while throttled.
pub(crate) static LIMIT_HITS: SysctlInt = SysctlInt::new(0, 0, i32::MAX);
/// `kernel.sysmsg.throttle_episodes` (read-only): times any process became throttled.
pub(crate) static THROTTLE_EPISODES: SysctlInt = SysctlInt::new(0, 0, i32::MAX);

/// A soft and a hard limit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Limits {
    /// The soft limit: what is enforced.
    pub(crate) soft: u32,
    /// The hard limit: the ceiling of the soft limit.
    pub(crate) hard: u32,
}

/// A change of limits asked for by `SYSMSG_IOC_SET_LIMITS`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Change {
    /// The new soft limit, if it changes.
    pub(crate) soft: Option<u64>,
    /// The new hard limit, if it changes.
    pub(crate) hard: Option<u64>,
}

impl Limits {
    /// The defaults from the sysctls, as they are now.
    #[inline]
    pub(crate) fn defaults() -> Self {
        Self {
            soft: MAX_PER_PROCESS.get() as u32,
            hard: MAX_PER_PROCESS_HARD.get() as u32,
        }
    }

    /// The limits in force for a process whose own limits are `self`: its own if processes may
    /// set their own, else the defaults; the soft limit never exceeds the hard one.
    #[inline]
    pub(crate) fn effective(self) -> Self {
        let l = if PER_PROCESS_LIMITS.get() != 0 {
            self
        } else {
            Self::defaults()
        };
        Self {
            soft: l.soft.min(l.hard),
            hard: l.hard,
        }
    }

    /// Applies `change` with RLIMIT rules: limits are 1 ..= [`LIMIT_MAX`] (`EINVAL`), soft ≤ hard
    /// afterwards (`EINVAL`), and raising the hard limit needs `CAP_SYS_RESOURCE` (`EPERM`,
    /// `privileged` says whether the caller has it). Lowering is always allowed.
    pub(crate) fn apply(self, change: Change, privileged: bool) -> Result<Self> {
        let check = |v: u64| -> Result<u32> {
            if v == 0 || v > u64::from(LIMIT_MAX) {
                Err(EINVAL)
            } else {
                Ok(v as u32)
            }
        };
        let hard = change.hard.map(check).transpose()?.unwrap_or(self.hard);
        let soft = change.soft.map(check).transpose()?.unwrap_or(self.soft);
        if soft > hard {
            return Err(EINVAL);
        }
        if hard > self.hard && !privileged {
            return Err(EPERM);
        }
        Ok(Self { soft, hard })
    }
}

/// The low-water mark of a limit: `floor(limit × percent / 100)`.
#[inline]
pub(crate) fn low_water_mark(limit: u32, percent: u32) -> u32 {
    (u64::from(limit) * u64::from(percent.min(100)) / 100) as u32
}

#[kunit_tests(sysmsg_limits)]
mod tests {
    use super::*;

    const L: Limits = Limits { soft: 16, hard: 64 };

    fn soft(v: u64) -> Change {
        Change {
            soft: Some(v),
            hard: None,
        }
    }

    fn hard(v: u64) -> Change {
        Change {
            soft: None,
            hard: Some(v),
        }
    }

    /// The soft limit moves freely up to the hard one; zero, too large, or above hard: EINVAL.
    #[test]
    fn soft_moves_up_to_hard() {
        assert_eq!(L.apply(soft(64), false), Ok(Limits { soft: 64, hard: 64 }));
        assert_eq!(L.apply(soft(1), false), Ok(Limits { soft: 1, hard: 64 }));
        assert_eq!(L.apply(soft(65), false), Err(EINVAL));
        assert_eq!(L.apply(soft(0), true), Err(EINVAL));
        assert_eq!(L.apply(soft(u64::from(LIMIT_MAX) + 1), true), Err(EINVAL));
    }

    /// Anyone may lower the hard limit; raising it needs CAP_SYS_RESOURCE.
    #[test]
    fn hard_rules() {
        assert_eq!(L.apply(hard(32), false), Ok(Limits { soft: 16, hard: 32 }));
        assert_eq!(L.apply(hard(65), false), Err(EPERM));
        assert_eq!(L.apply(hard(65), true), Ok(Limits { soft: 16, hard: 65 }));
        // Lowering hard below soft alone is refused; lowering both together is fine.
        assert_eq!(L.apply(hard(8), false), Err(EINVAL));
        let both = Change {
            soft: Some(4),
            hard: Some(8),
        };
        assert_eq!(L.apply(both, false), Ok(Limits { soft: 4, hard: 8 }));
    }

    /// The low-water mark rounds down, so limits 1 and 2 keep a usable mark.
    #[test]
    fn low_water_rounding() {
        assert_eq!(low_water_mark(2, 50), 1);
        assert_eq!(low_water_mark(1, 50), 0);
        assert_eq!(low_water_mark(3, 50), 1);
        assert_eq!(low_water_mark(16384, 50), 8192);
        assert_eq!(low_water_mark(10, 0), 0);
        assert_eq!(low_water_mark(10, 100), 10);
        assert_eq!(low_water_mark(LIMIT_MAX, 100), LIMIT_MAX);
    }
}
