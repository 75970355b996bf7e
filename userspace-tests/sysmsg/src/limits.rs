//! Per-process limits and counters (README.md): `SYSMSG_IOC_GET_LIMITS`,
//! `SYSMSG_IOC_SET_LIMITS` and `SYSMSG_IOC_PROC_STATS`.

use crate::{ioctl, sys, Sysmsg};
use std::{io, os::fd::AsFd};

/// The largest limit the module accepts.
pub const MAX_LIMIT: u64 = 16_777_216;

/// A process's limits on messages in flight, RLIMIT-style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The soft limit.
    pub soft: u64,
    /// The hard limit: the soft limit may be raised up to it.
    pub hard: u64,
}

impl Limits {
    /// The limit in force: `min(soft, hard)`.
    pub fn effective(&self) -> u64 {
        self.soft.min(self.hard)
    }

    /// The low-water mark for `low_water` percent (`kernel.sysmsg.low_water`): a throttled
    /// process may submit again once its messages in flight are down to it.
    pub fn low_water_mark(&self, low_water: u64) -> u64 {
        low_water_mark(self.effective(), low_water)
    }
}

/// `floor(limit × low_water / 100)`.
pub fn low_water_mark(limit: u64, low_water: u64) -> u64 {
    u64::try_from(u128::from(limit) * u128::from(low_water) / 100).unwrap_or(u64::MAX)
}

/// One process's counters, from [`Sysmsg::proc_stats`] (`struct sysmsg_proc_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStats {
    /// The process id in the caller's pid namespace (0 if it has none there).
    pub pid: i32,
    /// Throttled now (hysteresis): submits are refused until it is down to its low-water mark.
    pub throttled: bool,
    /// Messages accepted and not yet reaped, over all its files.
    pub inflight: u64,
    /// Its soft limit.
    pub soft: u64,
    /// Its hard limit.
    pub hard: u64,
    /// The most it ever had in flight.
    pub peak_inflight: u64,
    /// Messages refused by a limit (its own or `kernel.sysmsg.max_total`) or while throttled.
    pub limit_hits: u64,
    /// Times it became throttled.
    pub throttle_episodes: u64,
    /// Messages accepted.
    pub submitted: u64,
}

impl From<&sys::sysmsg_proc_stats> for ProcStats {
    fn from(s: &sys::sysmsg_proc_stats) -> Self {
        Self {
            pid: s.pid,
            throttled: s.flags & sys::SYSMSG_PROC_THROTTLED != 0,
            inflight: s.inflight,
            soft: s.soft,
            hard: s.hard,
            peak_inflight: s.peak_inflight,
            limit_hits: s.limit_hits,
            throttle_episodes: s.throttle_episodes,
            submitted: s.submitted,
        }
    }
}

impl Sysmsg {
    fn limits_ioctl(&self, cmd: u32, arg: &mut sys::sysmsg_limits) -> io::Result<Limits> {
        // SAFETY: GET_LIMITS and SET_LIMITS read and write one `sysmsg_limits`.
        unsafe { ioctl::call(self.as_fd(), cmd, arg as *mut _ as usize) }?;
        Ok(Limits {
            soft: arg.soft,
            hard: arg.hard,
        })
    }

    /// The limits of process `pid` (0: the calling process) (`SYSMSG_IOC_GET_LIMITS`).
    ///
    /// `ESRCH` if no process with that pid uses sysmsg; `EPERM` without `prlimit(2)` rights over
    /// it.
    pub fn limits(&self, pid: i32) -> io::Result<Limits> {
        let mut arg = sys::sysmsg_limits {
            pid,
            ..Default::default()
        };
        self.limits_ioctl(ioctl::GET_LIMITS, &mut arg)
    }

    /// Sets the soft and/or the hard limit of process `pid` (0: the calling process)
    /// (`SYSMSG_IOC_SET_LIMITS`) and returns the limits in force afterwards. With neither, it
    /// only reads them, like [`limits`](Self::limits).
    ///
    /// `EPERM` while `kernel.sysmsg.per_process_limits` is 0, to raise the hard limit without
    /// `CAP_SYS_RESOURCE`, or without `prlimit(2)` rights over another process; `EINVAL` for a
    /// limit of 0 or above [`MAX_LIMIT`], or a soft limit above the hard one afterwards; `ESRCH`
    /// if no process with that pid uses sysmsg.
    pub fn set_limits(&self, pid: i32, soft: Option<u64>, hard: Option<u64>) -> io::Result<Limits> {
        if soft.is_none() && hard.is_none() {
            return self.limits(pid);
        }
        let mut arg = sys::sysmsg_limits {
            pid,
            flags: soft.map_or(0, |_| sys::SYSMSG_LIMIT_SOFT)
                | hard.map_or(0, |_| sys::SYSMSG_LIMIT_HARD),
            soft: soft.unwrap_or(0),
            hard: hard.unwrap_or(0),
            ..Default::default()
        };
        self.limits_ioctl(ioctl::SET_LIMITS, &mut arg)
    }

    /// The counters of every process that uses sysmsg (`SYSMSG_IOC_PROC_STATS`), in the order
    /// the module lists them.
    pub fn proc_stats(&self) -> io::Result<Vec<ProcStats>> {
        let mut room = 16usize;
        loop {
            let mut buf = vec![sys::sysmsg_proc_stats::default(); room];
            let mut arg = sys::sysmsg_stats {
                procs: buf.as_mut_ptr() as u64,
                max: u32::try_from(room).unwrap_or(u32::MAX),
                ..Default::default()
            };
            // SAFETY: PROC_STATS reads one `sysmsg_stats` and stores at most `max` entries into
            // `buf`, which has room for them.
            unsafe { ioctl::call(self.as_fd(), ioctl::PROC_STATS, &mut arg as *mut _ as usize) }?;
            let count = (arg.count as usize).min(room);
            // More processes than room (they may come and go meanwhile): ask again, larger.
            if arg.total as usize > count && room < (1 << 22) {
                room = arg.total as usize + 16;
                continue;
            }
            return Ok(buf[..count].iter().map(ProcStats::from).collect());
        }
    }

    /// This process's own counters, from [`proc_stats`](Self::proc_stats).
    pub fn own_proc_stats(&self) -> io::Result<Option<ProcStats>> {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        Ok(self.proc_stats()?.into_iter().find(|s| s.pid == me))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_effective_limits() {
        assert_eq!(low_water_mark(2, 50), 1);
        assert_eq!(low_water_mark(1, 50), 0);
        assert_eq!(low_water_mark(16384, 50), 8192);
        assert_eq!(low_water_mark(7, 100), 7);
        assert_eq!(low_water_mark(7, 0), 0);
        assert_eq!(low_water_mark(u64::MAX, 100), u64::MAX);
        let l = Limits { soft: 10, hard: 4 };
        assert_eq!((l.effective(), l.low_water_mark(50)), (4, 2));
    }

    #[test]
    fn proc_stats_from_the_abi() {
        let raw = sys::sysmsg_proc_stats {
            pid: 42,
            flags: sys::SYSMSG_PROC_THROTTLED,
            inflight: 2,
            soft: 2,
            hard: 8,
            peak_inflight: 3,
            limit_hits: 4,
            throttle_episodes: 5,
            submitted: 6,
            ..Default::default()
        };
        let s = ProcStats::from(&raw);
        assert!(s.throttled);
        assert_eq!(
            (s.pid, s.inflight, s.soft, s.hard, s.peak_inflight),
            (42, 2, 2, 8, 3)
        );
        assert_eq!((s.limit_hits, s.throttle_episodes, s.submitted), (4, 5, 6));
        assert!(!ProcStats::from(&sys::sysmsg_proc_stats::default()).throttled);
    }

    /// Without the module, the calls fail cleanly on another character device.
    #[test]
    fn errors_on_a_device_that_is_not_sysmsg() {
        let sm = Sysmsg::open_path("/dev/null").expect("open /dev/null");
        let enotty = Some(libc::ENOTTY);
        assert_eq!(sm.limits(0).unwrap_err().raw_os_error(), enotty);
        assert_eq!(
            sm.set_limits(0, Some(1), None).unwrap_err().raw_os_error(),
            enotty
        );
        assert_eq!(sm.proc_stats().unwrap_err().raw_os_error(), enotty);
    }
}
