// SPDX-License-Identifier: GPL-2.0

//! The workers: which message that needs a thread runs next, and on which thread.
//!
//! Messages that execute on a worker — operations on files that cannot wait without a thread
//! (regular files, fsync, ttys) and pollable operations their file woke — are *ready* until a
//! worker takes them. Workers are threads of the message's own process (`pool`), so that it
//! executes as that process; each process has at most `kernel.sysmsg.max_workers` of them, and at
//! most `kernel.sysmsg.max_workers` messages execute at once over all processes (*tokens*). The
//! next message to run is chosen
//!
//! - **between processes, round-robin**: the processes that have ready messages *and* an idle
//!   worker form a ring; each pick takes one message from the process at the front, hands it to
//!   one of its idle workers, and moves the process to the back. A process flooding the workers
//!   gets one turn in N when N processes wait, however many messages it queued and whatever their
//!   priority; priorities order a process's own messages only. A process whose workers are all
//!   busy leaves the ring and joins it at the back when one becomes idle.
//! - **within a process, by priority with aging**: see `priority`.
//!
//! A worker that finishes a message gives its token back and picks again, so with one process
//! its workers run ready messages back to back without sleeping. Each process's ready messages
//! are in its [`ReadyQueue`] (in its pool), so a pick is O(1): the ring's front, then the best of
//! at most `NR_LEVELS` heads. Queueing is O(1) too; a wake-up in interrupt context may queue a
//! message, so the dispatcher's lock disables interrupts. A message cancelled while ready is
//! taken off its queue at once.

use crate::{
    context::MAX_WORKERS,
    irqlock::IrqLock,
    priority::{self, ReadyLinks, ReadyQueue},
    worker::UserWorker,
    workqueue::OwnedQueue,
};
use core::ptr;
use kernel::{bindings, prelude::*, static_lock_class};

/// One process's ready messages, its idle workers and its place in the ring. Lives in the
/// process's pool; protected by the dispatcher's lock.
pub(crate) struct ProcReady {
    queue: ReadyQueue,
    prev: *mut ProcReady,
    next: *mut ProcReady,
    listed: bool,
    /// The idle workers: a stack through `WorkerSlot::next_idle`.
    idle: *mut WorkerSlot,
    /// Workers started and not killed.
    threads: u32,
    /// Workers being started.
    starting: u32,
}

impl ProcReady {
    /// No ready message, no worker, not in the ring.
    pub(crate) const fn new() -> Self {
        Self {
            queue: ReadyQueue::new(),
            prev: ptr::null_mut(),
            next: ptr::null_mut(),
            listed: false,
            idle: ptr::null_mut(),
            threads: 0,
            starting: 0,
        }
    }
}

/// A worker as the dispatcher sees it, embedded in the worker; protected by the dispatcher's
/// lock.
pub(crate) struct WorkerSlot {
    /// The next idle worker of the same process.
    next_idle: *mut WorkerSlot,
    /// The message handed to the worker and not yet taken by it, or null.
    node: *mut ReadyLinks,
    /// On its process's idle stack.
    idle: bool,
    /// Killed or retired: never handed a message again.
    dead: bool,
    /// Counted in its process's `threads` (started and not dead).
    counted: bool,
    /// Its process's ready state.
    proc: *mut ProcReady,
    /// Its thread, to wake it (set before the worker is first made idle).
    thread: *const Option<UserWorker>,
}

impl WorkerSlot {
    /// A busy worker of the process `proc`, whose thread is `thread`.
    pub(crate) fn new(proc: *mut ProcReady, thread: *const Option<UserWorker>) -> Self {
        Self {
            next_idle: ptr::null_mut(),
            node: ptr::null_mut(),
            idle: false,
            dead: false,
            counted: false,
            proc,
            thread,
        }
    }
}

/// The lock-protected part of a [`Dispatcher`].
///
/// # Invariants
///
/// - `head`..`tail` is the ring: a doubly linked list of the `ProcReady`s that have ready
///   messages and an idle worker, each `listed`; a listed `ProcReady` is valid (its ready
///   messages keep their process alive).
/// - `running` counts the workers that were handed a message and have not finished it.
/// - An idle worker's slot is valid and on exactly its process's idle stack, and `idle` says so.
pub(crate) struct Inner {
    head: *mut ProcReady,
    tail: *mut ProcReady,
    running: u32,
}

// SAFETY: the pointers are only followed with the dispatcher's lock held.
unsafe impl Send for Inner {}

impl Inner {
    /// An empty ring, nothing running.
    fn new() -> Self {
        // INVARIANT: nothing listed, nothing running.
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            running: 0,
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

    /// Puts `p` in or out of the ring as its ready messages and idle workers say.
    ///
    /// # Safety
    ///
    /// `p` is valid.
    unsafe fn relist(&mut self, p: *mut ProcReady) {
        // SAFETY: per the safety requirements.
        unsafe {
            let want = (*p).queue.len() > 0 && !(*p).idle.is_null();
            if want && !(*p).listed {
                self.list(p);
            } else if !want && (*p).listed {
                self.unlist(p);
            }
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
            self.relist(p);
        }
    }

    /// Takes `node` off the queue of `p`; `false` if it was on none (a worker took it).
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
            self.relist(p);
        }
        true
    }

    /// Makes the worker `s` idle, unless it is dead.
    ///
    /// # Safety
    ///
    /// `s` is a valid slot that is not idle.
    unsafe fn push_idle(&mut self, s: *mut WorkerSlot) {
        // SAFETY: per the safety requirements; its process outlives its workers.
        unsafe {
            if (*s).dead {
                return;
            }
            let p = (*s).proc;
            (*s).idle = true;
            (*s).next_idle = (*p).idle;
            (*p).idle = s;
            self.relist(p);
        }
    }

    /// Takes the worker `s` off its process's idle stack if it is there.
    ///
    /// # Safety
    ///
    /// `s` is a valid slot.
    unsafe fn unidle(&mut self, s: *mut WorkerSlot) {
        // SAFETY: idle slots are valid (type invariants); `s` per the safety requirements.
        unsafe {
            if !(*s).idle {
                return;
            }
            let p = (*s).proc;
            let mut at = &raw mut (*p).idle;
            while *at != s {
                at = &raw mut (**at).next_idle;
            }
            *at = (*s).next_idle;
            (*s).idle = false;
            self.relist(p);
        }
    }

    /// Hands the next message to an idle worker of the process at the front of the ring, which
    /// moves to the back, if a token is free; returns that worker.
    fn assign(&mut self, max: u32, now: u64, aging_ns: u64) -> Option<*mut WorkerSlot> {
        let p = self.head;
        if p.is_null() || self.running >= max {
            return None;
        }
        // SAFETY: `p` is listed, so valid, with a ready message and an idle worker, which is
        // valid (type invariants).
        unsafe {
            self.unlist(p);
            let Some(node) = (*p).queue.pop_best(now, aging_ns) else {
                self.relist(p);
                return None;
            };
            let s = (*p).idle;
            (*p).idle = (*s).next_idle;
            (*s).idle = false;
            (*s).node = node;
            self.running += 1;
            self.relist(p);
            Some(s)
        }
    }
}

/// The ready messages of every process and the tokens of the workers that run them; see the
/// module documentation.
#[pin_data]
pub(crate) struct Dispatcher {
    /// Where retired pools stop their workers. Declared first: destroying it (which waits for
    /// every pool's workers to exit) happens before the lock goes away.
    wq: OwnedQueue,
    #[pin]
    inner: IrqLock<Inner>,
}

impl Dispatcher {
    /// A dispatcher whose pools retire on a workqueue named `name`.
    pub(crate) fn new(name: &'static CStr) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            wq: OwnedQueue::new(name, 4)?,
            inner <- IrqLock::new(Inner::new(), c"sysmsg::Dispatcher", static_lock_class!()),
        })
    }

    /// The workqueue retired pools stop their workers on.
    pub(crate) fn retire_queue(&self) -> &OwnedQueue {
        &self.wq
    }

    /// Hands ready messages to idle workers while tokens are free and wakes them, except `me`,
    /// whose message is returned when `take_mine` (it is running already).
    fn fill(inner: &mut Inner, me: *mut WorkerSlot, take_mine: bool) -> Option<*mut ReadyLinks> {
        let (max, now, aging) = (MAX_WORKERS.get() as u32, now_ns(), priority::aging_ns());
        let mut mine = None;
        while let Some(s) = inner.assign(max, now, aging) {
            // SAFETY: `assign` returns valid slots of live workers, whose threads live as long
            // as they do.
            unsafe {
                if s == me && take_mine {
                    mine = Some(core::mem::take(&mut (*s).node));
                } else if let Some(t) = &*(*s).thread {
                    t.wake();
                }
            }
        }
        mine
    }

    /// Queues a ready message for its process and hands it to a worker if one may run it.
    ///
    /// # Safety
    ///
    /// As [`Inner::push`].
    pub(crate) unsafe fn queue(&self, p: *mut ProcReady, node: *mut ReadyLinks, level: u8) {
        let now = now_ns();
        let mut inner = self.inner.lock();
        // SAFETY: per the safety requirements.
        unsafe { inner.push(p, node, level, now) };
        Self::fill(&mut inner, ptr::null_mut(), false);
    }

    /// Takes a ready message off its queue before a worker took it; `false` if one did.
    ///
    /// # Safety
    ///
    /// As [`Inner::remove`].
    pub(crate) unsafe fn remove(&self, p: *mut ProcReady, node: *mut ReadyLinks) -> bool {
        // SAFETY: per the safety requirements.
        unsafe { self.inner.lock().remove(p, node) }
    }

    /// The message handed to the worker `s`, if any; it is then the message's owner.
    ///
    /// # Safety
    ///
    /// `s` is the slot of a live worker, called from that worker.
    pub(crate) unsafe fn take(&self, s: *mut WorkerSlot) -> Option<*mut ReadyLinks> {
        let _inner = self.inner.lock();
        // SAFETY: the slot is protected by the lock we hold.
        let node = unsafe { core::mem::take(&mut (*s).node) };
        (!node.is_null()).then_some(node)
    }

    /// The worker `s` finished its message: gives its token back, makes it idle and hands out
    /// ready messages. Returns the worker's next message if `more` and it gets one.
    ///
    /// # Safety
    ///
    /// As [`Dispatcher::take`]; the worker was running a message it took.
    pub(crate) unsafe fn finish(&self, s: *mut WorkerSlot, more: bool) -> Option<*mut ReadyLinks> {
        let mut inner = self.inner.lock();
        inner.running -= 1;
        // SAFETY: per the safety requirements the worker is busy, so not idle.
        unsafe { inner.push_idle(s) };
        Self::fill(&mut inner, s, more)
    }

    /// Whether the process `p` should start a worker, and if so counts it as starting: when it
    /// has none, or all are busy and fewer than `kernel.sysmsg.max_workers` exist or start.
    /// Also returns how many workers it has.
    ///
    /// # Safety
    ///
    /// `p` is valid.
    pub(crate) unsafe fn want_worker(&self, p: *mut ProcReady) -> (bool, u32) {
        let _inner = self.inner.lock();
        // SAFETY: per the safety requirements; protected by the lock.
        let p = unsafe { &mut *p };
        let total = p.threads + p.starting;
        let want =
            total == 0 || (p.idle.is_null() && p.starting == 0 && total < MAX_WORKERS.get() as u32);
        if want {
            p.starting += 1;
        }
        (want, p.threads)
    }

    /// A worker counted by [`Dispatcher::want_worker`] started (`Some`, now idle) or failed.
    /// Returns whether the process has a worker.
    ///
    /// # Safety
    ///
    /// `p` is valid; a started worker's slot is valid, of `p`, busy, and lives until it is
    /// retired.
    pub(crate) unsafe fn started(&self, p: *mut ProcReady, s: Option<*mut WorkerSlot>) -> bool {
        let mut inner = self.inner.lock();
        // SAFETY: per the safety requirements.
        unsafe {
            (*p).starting -= 1;
            // A worker killed before this (its thread group was killed while it started) is
            // dead already: not counted, never idle.
            if let Some(s) = s.filter(|&s| !(*s).dead) {
                (*p).threads += 1;
                (*s).counted = true;
                inner.push_idle(s);
                Self::fill(&mut inner, ptr::null_mut(), false);
            }
            (*p).threads > 0
        }
    }

    /// Whether the worker `s` is dead (killed or retired).
    ///
    /// # Safety
    ///
    /// `s` is a valid slot.
    pub(crate) unsafe fn is_dead(&self, s: *mut WorkerSlot) -> bool {
        let _inner = self.inner.lock();
        // SAFETY: per the safety requirements; protected by the lock.
        unsafe { (*s).dead }
    }

    /// The worker `s` is killed or retired: it is never handed a message again. Returns the
    /// message it was handed and had not taken; the caller runs it and then calls
    /// [`Dispatcher::finish`] (as does a worker still running a message it took).
    ///
    /// # Safety
    ///
    /// `s` is a valid slot.
    pub(crate) unsafe fn kill(&self, s: *mut WorkerSlot) -> Option<*mut ReadyLinks> {
        let mut inner = self.inner.lock();
        // SAFETY: per the safety requirements.
        unsafe {
            if (*s).dead {
                return None;
            }
            inner.unidle(s);
            (*s).dead = true;
            if (*s).counted {
                (*s).counted = false;
                (*(*s).proc).threads -= 1;
            }
            let node = core::mem::take(&mut (*s).node);
            (!node.is_null()).then_some(node)
        }
    }
}

/// `ktime_get()` in nanoseconds.
fn now_ns() -> u64 {
    // SAFETY: no preconditions; callable from any context.
    unsafe { bindings::ktime_get() as u64 }
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

    /// One pick as a worker makes it: hand out, take, finish.
    fn pick(inner: &mut Inner) -> Option<*mut ReadyLinks> {
        let s = inner.assign(u32::MAX, 0, 0)?;
        // SAFETY: `assign` returned a live slot of the test.
        unsafe {
            let node = core::mem::take(&mut (*s).node);
            inner.running -= 1;
            inner.push_idle(s);
            Some(node)
        }
    }

    /// An idle worker slot of `p` with no thread (tests never wake it).
    fn idle_worker(inner: &mut Inner, p: *mut ProcReady, s: &mut WorkerSlot) {
        *s = WorkerSlot::new(p, ptr::null());
        // SAFETY: `s` and `p` outlive their use in the test.
        unsafe { inner.push_idle(s) };
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
        let (mut wa, mut wb) = (
            WorkerSlot::new(ptr::null_mut(), ptr::null()),
            WorkerSlot::new(ptr::null_mut(), ptr::null()),
        );
        idle_worker(&mut inner, &raw mut a, &mut wa);
        idle_worker(&mut inner, &raw mut b, &mut wb);
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
            order.push(who(pick(&mut inner).ok_or(EINVAL)?), GFP_KERNEL)?;
        }
        assert_eq!(
            &order[..],
            &[(1, 0), (2, 0), (1, 1), (2, 1), (1, 2), (2, 2)]
        );
        // Process 2 is done and leaves the ring: process 1 has it to itself.
        assert_eq!(who(pick(&mut inner).ok_or(EINVAL)?), (1, 3));
        assert_eq!(who(pick(&mut inner).ok_or(EINVAL)?), (1, 4));
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
        let mut w = WorkerSlot::new(ptr::null_mut(), ptr::null());
        idle_worker(&mut inner, &raw mut a, &mut w);
        // SAFETY: `a` and `n` outlive their use here.
        unsafe {
            inner.push(&raw mut a, &raw mut n.links, level(0), 0);
            assert!(inner.remove(&raw mut a, &raw mut n.links));
            assert!(!inner.remove(&raw mut a, &raw mut n.links));
        }
        assert!(!a.listed);
        assert!(pick(&mut inner).is_none());
        Ok(())
    }

    /// A process whose only worker is busy is passed over; it is picked again once the worker
    /// is idle, and a worker that is dead is never handed a message.
    #[test]
    fn busy_and_dead_workers() -> Result {
        let (mut a, mut b) = (ProcReady::new(), ProcReady::new());
        let mut n: [Node; 3] = core::array::from_fn(|id| Node {
            links: ReadyLinks::new(),
            proc: if id == 2 { 2 } else { 1 },
            id: id as u32,
        });
        let mut inner = Inner::new();
        let (mut wa, mut wb) = (
            WorkerSlot::new(ptr::null_mut(), ptr::null()),
            WorkerSlot::new(ptr::null_mut(), ptr::null()),
        );
        idle_worker(&mut inner, &raw mut a, &mut wa);
        // SAFETY: everything outlives its use here.
        unsafe {
            inner.push(&raw mut a, &raw mut n[0].links, level(0), 0);
            inner.push(&raw mut a, &raw mut n[1].links, level(0), 0);
            let s = inner.assign(8, 0, 0).ok_or(EINVAL)?;
            assert!(s == &raw mut wa);
            // A's only worker is busy: A is out of the ring, B has no worker yet.
            inner.push(&raw mut b, &raw mut n[2].links, level(0), 0);
            assert!(inner.assign(8, 0, 0).is_none());
            idle_worker(&mut inner, &raw mut b, &mut wb);
            let t = inner.assign(8, 0, 0).ok_or(EINVAL)?;
            assert!(t == &raw mut wb && who((*t).node) == (2, 2));
            // The token bound: two running, a third is not handed out.
            (*s).node = ptr::null_mut();
            inner.push_idle(s);
            assert!(inner.assign(2, 0, 0).is_none());
            assert_eq!(inner.running, 2);
            // A dead worker is not made idle again.
            wa.dead = true;
            inner.unidle(&raw mut wa);
            assert!(!a.listed && a.idle.is_null());
        }
        Ok(())
    }

    /// A worker killed while it starts (its thread group was killed meanwhile) is never
    /// counted nor made idle, and the count of threads never goes below zero.
    #[test]
    fn killed_while_starting() -> Result {
        let d = KBox::pin_init(Dispatcher::new(c"sysmsg-kunit"), GFP_KERNEL)?;
        let mut p = ProcReady::new();
        let mut s = WorkerSlot::new(&raw mut p, ptr::null());
        // SAFETY: `p` and `s` outlive their use here.
        unsafe {
            assert_eq!(d.want_worker(&raw mut p), (true, 0));
            assert!(d.kill(&raw mut s).is_none());
            assert!(!d.started(&raw mut p, Some(&raw mut s)));
            assert_eq!((p.threads, p.starting), (0, 0));
            assert!(p.idle.is_null() && !s.counted);
            // A worker that did start is counted once and uncounted once.
            let mut t = WorkerSlot::new(&raw mut p, ptr::null());
            assert_eq!(d.want_worker(&raw mut p), (true, 0));
            assert!(d.started(&raw mut p, Some(&raw mut t)));
            assert_eq!(p.threads, 1);
            assert!(d.kill(&raw mut t).is_none());
            assert!(d.kill(&raw mut t).is_none());
            assert_eq!(p.threads, 0);
        }
        Ok(())
    }
}
