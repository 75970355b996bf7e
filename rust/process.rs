// SPDX-License-Identifier: GPL-2.0

//! Per-process state: what sysmsg keeps for each thread group that uses it.
//!
//! A *process* is a thread group, identified by its global tgid. Its state is shared by all of
//! its threads and by every sysmsg file it uses, so that what belongs to the process — its limits,
//! its count of messages in flight, its throttle — is not multiplied by opening the device twice.
//! The [`Registry`] maps tgids to [`Process`] objects and counts the users of each (sessions);
//! the entry goes away with its last user.

use crate::{
    dispatch::ProcReady,
    hysteresis::{Budget, Flow, Wake},
    limits::{low_water_mark, Change, Limits, LOW_WATER, MAX_TOTAL, NR_INFLIGHT},
    pool::Pool,
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    bindings, new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, Mutex},
    task::{Pid, Task},
};

/// The thread group id of the calling task in the initial pid namespace.
///
/// This goes through the C helper rather than reading `task_struct` fields from Rust: on the
/// 7.2 debug kernel `Task::pid()` and `Task::group_leader()` read the wrong offsets (seen in
/// KUnit: a kthread whose group leader was not itself, and a "pid" that was half a text address).
pub(crate) fn current_tgid() -> Pid {
    // SAFETY: `current` is a live task for the duration of the call; `init_pid_ns` is a static
    // the helper only reads.
    unsafe {
        bindings::__task_pid_nr_ns(
            Task::current_raw(),
            bindings::pid_type_PIDTYPE_TGID,
            &raw mut bindings::init_pid_ns,
        )
    }
}

/// The state of one thread group using sysmsg.
pub(crate) struct Process {
    /// Its workers and its messages ready for one.
    pool: Arc<Pool>,
    /// The thread group id, in the initial pid namespace.
    tgid: Pid,
    /// Its own limits, `soft | hard << 32` (so that both change at once).
    own: AtomicU64,
    /// Its messages in flight, its throttle, its counters.
    flow: Flow,
}

/// Packs limits into one word.
fn pack(l: Limits) -> u64 {
    u64::from(l.soft) | (u64::from(l.hard) << 32)
}

/// Unpacks limits packed by [`pack`].
fn unpack(v: u64) -> Limits {
    Limits {
        soft: v as u32,
        hard: (v >> 32) as u32,
    }
}

impl Process {
    /// A process starting with the default limits.
    fn new(tgid: Pid) -> Result<Self> {
        Ok(Self {
            pool: Pool::new()?,
            tgid,
            own: AtomicU64::new(pack(Limits::defaults())),
            flow: Flow::default(),
        })
    }

    /// Its queue of messages ready for a worker, for the dispatcher (whose lock protects it).
    pub(crate) fn ready(&self) -> *mut ProcReady {
        self.pool.ready()
    }

    /// Its workers.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The thread group id, in the initial pid namespace.
    pub(crate) fn tgid(&self) -> Pid {
        self.tgid
    }

    /// The limits in force (see [`Limits::effective`]).
    #[inline]
    pub(crate) fn limits(&self) -> Limits {
        unpack(self.own.load(Ordering::Relaxed)).effective()
    }

    /// Changes the process's own limits with RLIMIT rules; returns the limits in force after.
    pub(crate) fn set_limits(&self, change: Change, privileged: bool) -> Result<Limits> {
        let mut cur = self.own.load(Ordering::Relaxed);
        loop {
            let new = pack(unpack(cur).apply(change, privileged)?);
            match self
                .own
                .compare_exchange(cur, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(self.limits()),
                Err(v) => cur = v,
            }
        }
    }

    /// What the process may have in flight now.
    #[inline]
    fn budget(&self) -> Budget {
        let limit = self.limits().soft;
        Budget {
            limit,
            mark: low_water_mark(limit, LOW_WATER.get() as u32),
            max_total: MAX_TOTAL.get() as u32,
        }
    }

    /// Takes one message in flight, or refuses it with `EAGAIN` (see `hysteresis`).
    pub(crate) fn take(&self) -> Result {
        self.flow.try_take(self.budget(), &NR_INFLIGHT)
    }

    /// Takes up to `n` messages in flight at once, refusing nothing (see [`Flow::take_many`]).
    pub(crate) fn take_many(&self, n: u32) -> u32 {
        self.flow.take_many(self.budget(), n, &NR_INFLIGHT)
    }

    /// Gives back `n` messages taken by [`Process::take`] or [`Process::take_many`]; says
    /// whether to wake submitters.
    pub(crate) fn give_back(&self, n: u32) -> Wake {
        self.flow.give_back_many(self.budget(), n, &NR_INFLIGHT)
    }

    /// Whether a message would be taken now.
    pub(crate) fn may_take(&self) -> bool {
        self.flow.may_take(self.budget(), &NR_INFLIGHT)
    }

    /// The counters.
    pub(crate) fn flow(&self) -> &Flow {
        &self.flow
    }
}

impl Drop for Process {
    /// The process is done with sysmsg: its workers go (see `pool`).
    fn drop(&mut self) {
        self.pool.clone().retire();
    }
}

/// A registered process and how many users (open files, at the moment) hold it.
struct Entry {
    process: Arc<Process>,
    users: usize,
}

/// The lock-protected part of a [`Registry`].
struct RegistryInner {
    by_tgid: RBTree<Pid, Entry>,
}

/// All processes using sysmsg, by tgid.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    inner: Mutex<RegistryInner>,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_mutex!(RegistryInner { by_tgid: RBTree::new() }, "sysmsg::Registry"),
        })
    }

    /// Takes a reference on the process `tgid`, creating its state on first use.
    pub(crate) fn get(&self, tgid: Pid) -> Result<Arc<Process>> {
        // Allocate before taking the lock; unused if the process is already known.
        let fresh = Arc::new(Process::new(tgid)?, GFP_KERNEL)?;
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut inner = self.inner.lock();
        if let Some(entry) = inner.by_tgid.get_mut(&tgid) {
            entry.users += 1;
            return Ok(entry.process.clone());
        }
        let node = reservation.into_node(
            tgid,
            Entry {
                process: fresh.clone(),
                users: 1,
            },
        );
        inner.by_tgid.insert(node);
        Ok(fresh)
    }

    /// Drops a reference taken by [`Registry::get`]; the last one removes the process.
    pub(crate) fn put(&self, process: &Process) {
        let removed = {
            let mut inner = self.inner.lock();
            match inner.by_tgid.get_mut(&process.tgid) {
                Some(entry) if entry.users > 1 => {
                    entry.users -= 1;
                    None
                }
                Some(_) => inner.by_tgid.remove_node(&process.tgid),
                None => None,
            }
        };
        // The node and its `Arc` are freed here, outside the lock.
        drop(removed);
    }

    /// The number of registered processes.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().by_tgid.iter().count()
    }

    /// The process `tgid`, if it uses sysmsg.
    pub(crate) fn find(&self, tgid: Pid) -> Option<Arc<Process>> {
        self.inner
            .lock()
            .by_tgid
            .get(&tgid)
            .map(|e| e.process.clone())
    }

    /// Up to `max` registered processes, in tgid order.
    pub(crate) fn snapshot(&self, max: usize) -> Result<KVec<Arc<Process>>> {
        let inner = self.inner.lock();
        let mut v = KVec::with_capacity(max.min(inner.by_tgid.iter().count()), GFP_KERNEL)?;
        for (_, e) in inner.by_tgid.iter().take(max) {
            v.push(e.process.clone(), GFP_KERNEL)?;
        }
        Ok(v)
    }
}

#[kunit_tests(sysmsg_process)]
mod tests {
    use super::*;
    use kernel::sync::Arc;

    fn registry() -> Result<Pin<KBox<Registry>>> {
        KBox::pin_init(Registry::new(), GFP_KERNEL)
    }

    /// One process, however many times it is looked up, has one state object.
    #[test]
    fn same_tgid_same_state() -> Result {
        let r = registry()?;
        let a = r.get(100)?;
        let b = r.get(100)?;
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.tgid(), 100);
        assert_eq!(r.len(), 1);
        Ok(())
    }

    /// Different thread groups never share state.
    #[test]
    fn different_tgids_differ() -> Result {
        let r = registry()?;
        let a = r.get(100)?;
        let b = r.get(200)?;
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(r.len(), 2);
        Ok(())
    }

    /// The key of a process is its tgid as the kernel's own pid helpers see it.
    #[test]
    fn current_tgid_is_the_kernels() {
        let task = kernel::current!();
        assert_eq!(current_tgid(), task.tgid_nr_ns(None));
        assert!(current_tgid() > 0);
    }

    /// The state lives until its last user puts it, and is new after that.
    #[test]
    fn last_put_removes() -> Result {
        let r = registry()?;
        let a = r.get(7)?;
        let b = r.get(7)?;
        r.put(&a);
        assert_eq!(r.len(), 1);
        r.put(&b);
        assert_eq!(r.len(), 0);
        let c = r.get(7)?;
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(r.len(), 1);
        Ok(())
    }
}
