// SPDX-License-Identifier: GPL-2.0

//! The workers: which message that needs a thread runs next.
//!
//! Messages that execute on a kernel worker — operations on files that cannot wait without a
//! thread (regular files, fsync, ttys) and pollable operations their file woke — are *ready*
//! until a worker takes them. At most `kernel.sysmsg.max_workers` *runners* (work items on the
//! module's workqueue) take them, one after the other:
//!
//! - **between processes, round-robin**: the processes with ready messages form a ring; each
//!   pick takes one message from the process at the front and moves that process to the back. A
//!   process flooding the workers gets one turn in N when N processes wait, however many messages
//!   it queued and whatever their priority; priorities order a process's own messages only.
//! - **within a process, by priority with aging**: see `priority`.
//!
//! Each process's ready messages are in its [`ReadyQueue`] (in `Process`), so a pick is O(1):
//! the ring's front, then the best of at most `NR_LEVELS` heads. Queueing is O(1) too; a wake-up
//! in interrupt context may queue a message, so the dispatcher's lock disables interrupts. A
//! message cancelled while ready is taken off its queue at once.

use crate::{
    context::MAX_WORKERS,
    glue,
    irqlock::IrqLock,
    priority::{self, ReadyLinks, ReadyQueue},
    workqueue::OwnedQueue,
};
use core::ptr;
use kernel::{alloc::KVVec, bindings, prelude::*, static_lock_class, types::Opaque};

/// The most runners: the maximum of `kernel.sysmsg.max_workers`.
pub(crate) const MAX_RUNNERS: usize = 512;

/// One process's ready messages and its place in the ring. Lives in the process's state;
/// protected by the dispatcher's lock.
pub(crate) struct ProcReady {
    queue: ReadyQueue,
    prev: *mut ProcReady,
    next: *mut ProcReady,
    listed: bool,
}

impl ProcReady {
    /// No ready message, not in the ring.
    pub(crate) const fn new() -> Self {
        Self {
            queue: ReadyQueue::new(),
            prev: ptr::null_mut(),
            next: ptr::null_mut(),
            listed: false,
        }
    }
}

/// The lock-protected part of a [`Dispatcher`].
///
/// # Invariants
///
/// - `head`..`tail` is the ring: a doubly linked list of the `ProcReady`s that have ready
///   messages, each `listed`; a listed `ProcReady` is valid (its ready messages keep their
///   process alive).
/// - `free[..nfree]` are the indices of the runners that are neither queued nor running, and
///   `running + nfree == MAX_RUNNERS`.
pub(crate) struct Inner {
    head: *mut ProcReady,
    tail: *mut ProcReady,
    running: u32,
    free: [u16; MAX_RUNNERS],
    nfree: usize,
}

// SAFETY: the pointers are only followed with the dispatcher's lock held.
unsafe impl Send for Inner {}

impl Inner {
    /// An empty ring, every runner free.
    fn new() -> Self {
        let mut free = [0u16; MAX_RUNNERS];
        for (i, f) in free.iter_mut().enumerate() {
            *f = (MAX_RUNNERS - 1 - i) as u16;
        }
        // INVARIANT: nothing listed; all runners free.
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            running: 0,
            free,
            nfree: MAX_RUNNERS,
        }
    }

    /// Appends `p` to the ring.
    ///
    /// # Safety
    ///
    /// `p` is valid and not listed.
    unsafe fn list(&mut self, p: *mut ProcReady) {
        // SAFETY: per the safety requirements; the tail is listed, so valid.
        unsafe {
            (*p).prev = self.tail;
            (*p).next = ptr::null_mut();
            (*p).listed = true;
            if self.tail.is_null() {
                self.head = p;
            } else {
                (*self.tail).next = p;
            }
        }
        self.tail = p;
    }

    /// Takes `p` out of the ring.
    ///
    /// # Safety
    ///
    /// `p` is listed.
    unsafe fn unlist(&mut self, p: *mut ProcReady) {
        // SAFETY: listed entries and their neighbours are valid (type invariants).
        unsafe {
            let (prev, next) = ((*p).prev, (*p).next);
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).next = next;
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                (*next).prev = prev;
            }
            (*p).listed = false;
        }
    }

    /// Queues `node` (of level `level`) for the process `p` at `now`.
    ///
    /// # Safety
    ///
    /// `p` is valid while it has ready messages; `node` is valid, on no queue, and stays valid
    /// until it is picked or removed.
    pub(crate) unsafe fn push(
        &mut self,
        p: *mut ProcReady,
        node: *mut ReadyLinks,
        level: u8,
        now: u64,
    ) {
        // SAFETY: per the safety requirements.
        unsafe {
            (*p).queue.push(node, level, now);
            if !(*p).listed {
                self.list(p);
            }
        }
    }

    /// Takes `node` off the queue of `p`; `false` if it was on none (a runner took it).
    ///
    /// # Safety
    ///
    /// `p` and `node` are valid; `node`, if queued, is queued for `p`.
    pub(crate) unsafe fn remove(&mut self, p: *mut ProcReady, node: *mut ReadyLinks) -> bool {
        // SAFETY: per the safety requirements.
        unsafe {
            if !(*p).queue.remove(node) {
                return false;
            }
            if (*p).queue.len() == 0 {
                self.unlist(p);
            }
        }
        true
    }

    /// The next message to run: the best of the process at the front of the ring, which moves
    /// to the back (or leaves the ring if that was its last).
    pub(crate) fn pick(&mut self, now: u64, aging_ns: u64) -> Option<*mut ReadyLinks> {
        let p = self.head;
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` is listed, so valid, and has at least one ready message.
        unsafe {
            self.unlist(p);
            let node = (*p).queue.pop_best(now, aging_ns);
            if (*p).queue.len() > 0 {
                self.list(p);
            }
            node
        }
    }
}

/// A runner: a work item that runs ready messages until there are none.
#[repr(C)]
struct Runner {
    /// First field: the work item's address is the runner's.
    work: Opaque<bindings::work_struct>,
    owner: *const Dispatcher,
    idx: u16,
}

/// The ready messages of every process and the runners that run them; see the module
/// documentation.
///
/// # Invariants
///
/// Runner `i` (`runners[i]`) is queued or running exactly when `i` is not in `Inner::free`.
#[pin_data]
pub(crate) struct Dispatcher {
    /// The workqueue the runners run on. Declared first: destroying it (which waits for every
    /// runner) happens before the runners are freed.
    wq: OwnedQueue,
    #[pin]
    inner: IrqLock<Inner>,
    runners: KVVec<Runner>,
}

// SAFETY: the runners' raw pointers point to the dispatcher itself; everything shared is behind
// the lock or the workqueue.
unsafe impl Send for Dispatcher {}
// SAFETY: as above.
unsafe impl Sync for Dispatcher {}

impl Dispatcher {
    /// A dispatcher with its workqueue (named `name`).
    pub(crate) fn new(name: &'static CStr) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            // The dispatcher bounds the runners itself; the workqueue only must not.
            wq: OwnedQueue::new(name, MAX_RUNNERS as u32)?,
            inner <- IrqLock::new(Inner::new(), c"sysmsg::Dispatcher", static_lock_class!()),
            runners: Self::runners(this.as_ptr())?,
        })
    }

    /// The runners of the dispatcher at `owner`, their work items initialised.
    fn runners(owner: *const Dispatcher) -> Result<KVVec<Runner>> {
        let mut v = KVVec::with_capacity(MAX_RUNNERS, GFP_KERNEL)?;
        for idx in 0..MAX_RUNNERS {
            v.push(
                Runner {
                    work: Opaque::uninit(),
                    owner,
                    idx: idx as u16,
                },
                GFP_KERNEL,
            )?;
        }
        // The vector is full and never grows again: the work items do not move.
        for r in v.iter() {
            // SAFETY: the work item is ours and not queued.
            unsafe { glue::sysmsg_init_work(r.work.get(), Some(run)) };
        }
        Ok(v)
    }

    /// Queues a ready message for its process and starts a runner if one may start.
    ///
    /// # Safety
    ///
    /// As [`Inner::push`].
    pub(crate) unsafe fn queue(&self, p: *mut ProcReady, node: *mut ReadyLinks, level: u8) {
        let now = now_ns();
        let start = {
            let mut inner = self.inner.lock();
            // SAFETY: per the safety requirements.
            unsafe { inner.push(p, node, level, now) };
            if inner.running < MAX_WORKERS.get() as u32 && inner.nfree > 0 {
                inner.nfree -= 1;
                inner.running += 1;
                Some(inner.free[inner.nfree])
            } else {
                None
            }
        };
        if let Some(idx) = start {
            // SAFETY: the runner was free (type invariants), so not queued; it lives as long as
            // the dispatcher, whose workqueue drains it before it is freed.
            unsafe { self.wq.queue_raw(self.runners[usize::from(idx)].work.get()) };
        }
    }

    /// Takes a ready message off its queue before a runner took it; `false` if a runner did.
    ///
    /// # Safety
    ///
    /// As [`Inner::remove`].
    pub(crate) unsafe fn remove(&self, p: *mut ProcReady, node: *mut ReadyLinks) -> bool {
        // SAFETY: per the safety requirements.
        unsafe { self.inner.lock().remove(p, node) }
    }

    /// The next message for runner `idx`, or `None`, and then the runner is free again.
    fn next(&self, idx: u16) -> Option<*mut ReadyLinks> {
        let aging = priority::aging_ns();
        let now = now_ns();
        let mut inner = self.inner.lock();
        let node = inner.pick(now, aging);
        if node.is_none() {
            inner.running -= 1;
            let n = inner.nfree;
            inner.free[n] = idx;
            inner.nfree += 1;
        }
        node
    }
}

/// `ktime_get()` in nanoseconds.
fn now_ns() -> u64 {
    // SAFETY: no preconditions; callable from any context.
    unsafe { bindings::ktime_get() as u64 }
}

/// A runner's work function: runs ready messages until none is left.
///
/// # Safety
///
/// Called by the workqueue for a runner's work item.
unsafe extern "C" fn run(work: *mut bindings::work_struct) {
    // SAFETY: the work item is the first field of a `Runner` (`repr(C)`), which lives as long as
    // its dispatcher, which outlives every runner (see `Dispatcher::wq`).
    let (d, idx) = unsafe {
        let r = &*work.cast::<Runner>();
        (&*r.owner, r.idx)
    };
    while let Some(node) = d.next(idx) {
        // SAFETY: `node` was queued by `crate::ops::file` for a message it handed over.
        unsafe { crate::ops::file::run_ready(node) };
        glue::cond_resched();
    }
}

#[kunit_tests(sysmsg_dispatch)]
mod tests {
    use super::*;
    use crate::priority::level;
    use kernel::alloc::KVec;

    /// Test nodes: links first, then who and which.
    #[repr(C)]
    struct Node {
        links: ReadyLinks,
        proc: u32,
        id: u32,
    }

    fn who(p: *mut ReadyLinks) -> (u32, u32) {
        // SAFETY: `links` is the first field of a live `Node` in these tests.
        let n = unsafe { &*p.cast::<Node>() };
        (n.proc, n.id)
    }

    /// A process flooding the workers with top-priority messages gets every other pick when a
    /// second process waits with a low-priority one: the pick is round-robin across processes.
    #[test]
    fn fair_across_processes() -> Result {
        let mut a = ProcReady::new();
        let mut b = ProcReady::new();
        let mut nodes = KVec::with_capacity(1003, GFP_KERNEL)?;
        for id in 0..1000 {
            nodes.push(
                Node {
                    links: ReadyLinks::new(),
                    proc: 1,
                    id,
                },
                GFP_KERNEL,
            )?;
        }
        for id in 0..3 {
            nodes.push(
                Node {
                    links: ReadyLinks::new(),
                    proc: 2,
                    id,
                },
                GFP_KERNEL,
            )?;
        }
        let mut inner = Inner::new();
        for n in nodes.iter_mut() {
            let (p, prio) = if n.proc == 1 {
                (&raw mut a, 3)
            } else {
                (&raw mut b, -3)
            };
            // SAFETY: the processes and nodes outlive their use here.
            unsafe { inner.push(p, &raw mut n.links, level(prio), 0) };
        }
        let mut order = KVec::new();
        for _ in 0..6 {
            order.push(who(inner.pick(0, 0).ok_or(EINVAL)?), GFP_KERNEL)?;
        }
        assert_eq!(
            &order[..],
            &[(1, 0), (2, 0), (1, 1), (2, 1), (1, 2), (2, 2)]
        );
        // Process 2 is done and leaves the ring: process 1 has it to itself.
        assert_eq!(who(inner.pick(0, 0).ok_or(EINVAL)?), (1, 3));
        assert_eq!(who(inner.pick(0, 0).ok_or(EINVAL)?), (1, 4));
        assert!(!b.listed);
        Ok(())
    }

    /// A message removed before it is picked is never picked; its process leaves the ring when it
    /// was its last.
    #[test]
    fn remove_before_pick() -> Result {
        let mut a = ProcReady::new();
        let mut n = Node {
            links: ReadyLinks::new(),
            proc: 1,
            id: 0,
        };
        let mut inner = Inner::new();
        // SAFETY: `a` and `n` outlive their use here.
        unsafe {
            inner.push(&raw mut a, &raw mut n.links, level(0), 0);
            assert!(inner.remove(&raw mut a, &raw mut n.links));
            assert!(!inner.remove(&raw mut a, &raw mut n.links));
        }
        assert!(!a.listed);
        assert!(inner.pick(0, 0).is_none());
        Ok(())
    }
}
