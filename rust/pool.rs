// SPDX-License-Identifier: GPL-2.0

//! A process's workers: the threads of the process that execute its messages.
//!
//! Every message that needs a thread executes on a worker that is a thread of the process that
//! submitted it (a [`UserWorker`]), so that it executes *as* that process: see `identity` for
//! what that gives and what is added. The pool starts its workers in the submitter's own context
//! (a worker is a clone of the submitting thread), lazily:
//!
//! - the first message of the process that may need a thread starts its first worker; if that
//!   fails (`RLIMIT_NPROC`, memory) the message is refused with the error, and nothing was done;
//! - a later one starts another while every worker is busy, up to `kernel.sysmsg.max_workers`
//!   per process (a failure then is not an error: the workers there are run the message).
//!
//! So a process has at most `max_workers` workers, never one per blocked message, and over all
//! processes at most `max_workers` messages execute at once (`dispatch`). Workers stay until the
//! process is done with sysmsg (its last session is gone), then the pool *retires*: a work item
//! stops and reaps them, so that neither the exiting task nor a timer callback ever waits for a
//! worker. A worker also dies with its thread group (exit, `exec`, a fatal signal); it first runs
//! the message it was handed, if any, so every message still gets its one reply.

use crate::{
    context::MAX_WORKERS,
    dispatch::{Dispatcher, ProcReady, WorkerSlot},
    glue,
    priority::ReadyLinks,
    worker::{UserWorker, WorkerFn},
};
use core::{
    cell::UnsafeCell,
    ptr,
    sync::atomic::{AtomicPtr, AtomicU32, Ordering},
};
use kernel::{
    impl_has_work, new_mutex, new_work,
    prelude::*,
    sync::{Arc, Mutex},
    task::Task,
    workqueue::{Work, WorkItem},
};

/// The name of worker threads (`/proc/<pid>/task/<tid>/comm`).
const WORKER_NAME: &CStr = c"sysmsg-worker";

/// One worker thread and what the dispatcher knows of it.
struct Worker {
    /// The thread: set once before the worker is made idle. First field: dropping a worker
    /// stops its thread, and waits until it left its callbacks, before anything else goes.
    thread: UnsafeCell<Option<UserWorker>>,
    /// Its state for the dispatcher, protected by the dispatcher's lock.
    slot: UnsafeCell<WorkerSlot>,
    /// The dispatcher; it outlives every worker (its workqueue reaps them).
    dispatcher: *const Dispatcher,
    /// The pool; it outlives its workers (it stops them when it retires).
    pool: *const Pool,
}

// SAFETY: `slot` is only touched under the dispatcher's lock; `thread` is written before the
// worker is shared and taken after it is dead.
unsafe impl Sync for Worker {}
// SAFETY: as above.
unsafe impl Send for Worker {}

impl Worker {
    fn dispatcher(&self) -> &Dispatcher {
        // SAFETY: the dispatcher outlives every worker (see the field).
        unsafe { &*self.dispatcher }
    }

    /// Runs a message handed over by the dispatcher, then those it hands over next, until
    /// there is none or a signal is pending (the thread then takes the signal first).
    fn run(&self, mut node: *mut ReadyLinks) {
        let d = self.dispatcher();
        loop {
            // SAFETY: the dispatcher handed the message over: this worker owns it.
            unsafe { crate::ops::file::run_ready(node) };
            let more = !current_signal_pending();
            // SAFETY: our own live slot; we ran the message we took.
            match unsafe { d.finish(self.slot.get(), more) } {
                Some(next) => node = next,
                None => return,
            }
            glue::cond_resched();
        }
    }
}

/// Whether the calling thread has a signal pending.
fn current_signal_pending() -> bool {
    let task: &Task = kernel::current!();
    task.signal_pending()
}

impl WorkerFn for Worker {
    fn work(&self) -> bool {
        // SAFETY: our own live slot, called from our thread.
        let Some(node) = (unsafe { self.dispatcher().take(self.slot.get()) }) else {
            return false;
        };
        glue::set_running();
        self.run(node);
        true
    }

    fn killed(&self) {
        // SAFETY: the pool outlives its workers (see the field).
        unsafe { &*self.pool }.full_at.store(0, Ordering::Relaxed);
        let d = self.dispatcher();
        // SAFETY: our own slot; the thread left `work`, so runs no message.
        if let Some(node) = unsafe { d.kill(self.slot.get()) } {
            glue::set_running();
            // SAFETY: handed over to us: ours. It runs with the kill pending, as a system call
            // of a dying process would.
            unsafe { crate::ops::file::run_ready(node) };
            // SAFETY: our slot; we ran the message we took. Dead: it is not made idle.
            let _ = unsafe { d.finish(self.slot.get(), false) };
        }
    }
}

/// A process's workers and its queue of ready messages.
#[pin_data]
pub(crate) struct Pool {
    /// Its ready messages and idle workers, for the dispatcher (whose lock protects it).
    ready: UnsafeCell<ProcReady>,
    /// Every worker started, alive or dead, until the pool retires.
    #[pin]
    workers: Mutex<KVec<KBox<Worker>>>,
    /// The dispatcher, once a worker was started.
    dispatcher: AtomicPtr<Dispatcher>,
    /// The number of workers at which the pool was found full (as many as
    /// `kernel.sysmsg.max_workers` allowed), 0 if not: a submit then needs no look at the
    /// dispatcher. A killed worker clears it.
    full_at: AtomicU32,
    /// Retires the pool.
    #[pin]
    retire: Work<Pool>,
}

// SAFETY: `ready` is only touched under the dispatcher's lock; the rest is locks and atomics.
unsafe impl Sync for Pool {}
// SAFETY: as above.
unsafe impl Send for Pool {}

impl_has_work! {
    impl HasWork<Self> for Pool { self.retire }
}

impl Pool {
    /// A pool with no worker.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                ready: UnsafeCell::new(ProcReady::new()),
                workers <- new_mutex!(KVec::new(), "sysmsg::Pool::workers"),
                dispatcher: AtomicPtr::new(ptr::null_mut()),
                full_at: AtomicU32::new(0),
                retire <- new_work!("sysmsg::Pool::retire"),
            }),
            GFP_KERNEL,
        )
    }

    /// Its queue of ready messages, for the dispatcher (whose lock protects it).
    pub(crate) fn ready(&self) -> *mut ProcReady {
        self.ready.get()
    }

    /// Makes sure the process has a worker for a message that may need one, starting one as
    /// the module documentation says. Fails only if the process has no worker and none could
    /// be started.
    ///
    /// Called by a user thread of the process, in a system call.
    pub(crate) fn ensure_worker(&self, d: &Dispatcher) -> Result {
        let full = self.full_at.load(Ordering::Relaxed);
        if full != 0 && full >= MAX_WORKERS.get() as u32 {
            return Ok(());
        }
        let p = self.ready();
        // SAFETY: `p` is our own ready state, which lives as long as the pool.
        let (want, threads) = unsafe { d.want_worker(p) };
        if !want {
            if threads >= MAX_WORKERS.get() as u32 {
                self.full_at.store(threads, Ordering::Relaxed);
            }
            return Ok(());
        }
        let r = self.start(d);
        // SAFETY: `p` is ours; a started worker's slot is of `p`, busy, and lives in
        // `self.workers` until the pool retires.
        let any = unsafe { d.started(p, r.as_ref().ok().copied()) };
        match r {
            Ok(_) => Ok(()),
            Err(_) if any => Ok(()),
            // A signal interrupted the clone: report it as an interrupted call, never as a
            // restart code.
            Err(e) if glue::is_restart(e.to_errno().into()) => Err(EINTR),
            Err(e) => Err(e),
        }
    }

    /// Starts one worker; returns its slot.
    fn start(&self, d: &Dispatcher) -> Result<*mut WorkerSlot> {
        let mut workers = self.workers.lock();
        // Reap the workers that died with an earlier image of the process (`exec`).
        // SAFETY: the slots of listed workers are live.
        workers.retain(|w| !unsafe { d.is_dead(w.slot.get()) });
        let w = KBox::new(
            Worker {
                slot: UnsafeCell::new(WorkerSlot::new(self.ready(), ptr::null())),
                dispatcher: d,
                pool: self,
                thread: UnsafeCell::new(None),
            },
            GFP_KERNEL,
        )?;
        let slot = w.slot.get();
        let thread = w.thread.get();
        // SAFETY: not shared yet.
        unsafe { (*slot) = WorkerSlot::new(self.ready(), thread) };
        // The box is in the list before its thread starts, and leaves it only when the pool
        // retires, after its thread stopped.
        workers.push(w, GFP_KERNEL)?;
        let worker: *const Worker = workers.last().map_or(ptr::null(), |w| &**w);
        // SAFETY: the worker lives in `self.workers` until the pool retires, which stops the
        // thread first; we are a user thread of the process (in one of its system calls).
        match unsafe { UserWorker::start(worker, WORKER_NAME) } {
            Ok(t) => {
                // SAFETY: the thread only reads its slot, under the dispatcher's lock; the
                // thread field is read only by wakers, which find the worker once it is made
                // idle, after this.
                unsafe { *thread = Some(t) };
            }
            Err(e) => {
                drop(workers.pop());
                return Err(e);
            }
        }
        self.dispatcher
            .store(ptr::from_ref(d).cast_mut(), Ordering::Release);
        Ok(slot)
    }

    /// The process is done with sysmsg: stops its workers, later, on the dispatcher's
    /// workqueue. Callable from any context.
    pub(crate) fn retire(self: Arc<Self>) {
        let d = self.dispatcher.load(Ordering::Acquire);
        if d.is_null() {
            // Never started a worker.
            return;
        }
        // SAFETY: the dispatcher outlives every worker, and its workqueue every work item.
        let _ = unsafe { &*d }.retire_queue().enqueue(self);
    }
}

impl WorkItem for Pool {
    type Pointer = Arc<Pool>;

    fn run(this: Arc<Pool>) {
        let workers = core::mem::take(&mut *this.workers.lock());
        for w in workers.into_iter() {
            // SAFETY: the worker's slot is live; no message of the process exists, so it was
            // handed none (at most it is finishing the publication of its last).
            let _ = unsafe { w.dispatcher().kill(w.slot.get()) };
            // Dead: nobody wakes it any more. Dropping it stops its thread first.
            drop(w);
        }
    }
}
