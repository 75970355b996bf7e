// SPDX-License-Identifier: GPL-2.0

//! A wait queue that readers of replies sleep on, `poll` registers with, and completions publish
//! under.
//!
//! The kernel crate's `CondVar` wants its condition protected by a `Lock` of the crate's own; the
//! reply queue is lock-free on the publishing side, so sysmsg waits the way C's `wait_event_*`
//! macros do: queue the waiter, set the task state, *then* test the condition, and only sleep if
//! it still does not hold. Publishers change the condition and wake inside the wait queue's own
//! lock ([`WaitHead::lock`]), so a waiter cannot miss a wake-up, and a flag the owner sets under
//! the same lock orders it against every publisher (see `Session::abort`).

use crate::glue;
use core::marker::PhantomData;
use kernel::{bindings, ffi::c_ulong, fs::File, prelude::*, sync::LockClassKey, types::Opaque};

/// `EPOLLIN | EPOLLRDNORM`.
pub(crate) const POLLIN: u32 = bindings::POLLIN | bindings::POLLRDNORM;
/// `EPOLLOUT | EPOLLWRNORM`.
pub(crate) const POLLOUT: u32 = bindings::POLLOUT | bindings::POLLWRNORM;

/// A `wait_queue_head`.
///
/// # Invariants
///
/// `inner` is initialised by `__init_waitqueue_head` and pinned.
#[pin_data]
pub(crate) struct WaitHead {
    #[pin]
    inner: Opaque<bindings::wait_queue_head>,
}

// SAFETY: a wait queue head is designed to be used from any thread; it has its own lock.
unsafe impl Send for WaitHead {}
// SAFETY: as above.
unsafe impl Sync for WaitHead {}

impl WaitHead {
    /// A new wait queue head.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        pin_init!(Self {
            // INVARIANT: initialised here, pinned by `pin_init!`.
            inner <- Opaque::ffi_init(move |slot| {
                // SAFETY: `slot` is valid for writes; `name` and `key` live forever.
                unsafe { bindings::__init_waitqueue_head(slot, name.as_char_ptr(), key.as_ptr()) }
            }),
        })
    }

    fn raw(&self) -> *mut bindings::wait_queue_head {
        self.inner.get()
    }

    /// Takes the wait queue's lock (irq-safe); the guard wakes waiters when dropped.
    pub(crate) fn lock(&self) -> WaitGuard<'_> {
        // SAFETY: the head is initialised (type invariant).
        let flags = unsafe { glue::sysmsg_wq_lock(self.raw()) };
        WaitGuard {
            head: self,
            flags,
            events: 0,
            _not_send: PhantomData,
        }
    }

    /// Wakes every waiter with the poll `events` as key.
    pub(crate) fn wake(&self, events: u32) {
        // SAFETY: the head is initialised.
        unsafe { glue::sysmsg_wq_wake(self.raw(), events) }
    }

    /// Wakes every waiter with the poll `events` as key, if there is one: for a producer that
    /// changed the condition without the queue's lock (with a full barrier before looking, so a
    /// waiter that queued itself and then tested the condition cannot be missed).
    pub(crate) fn wake_sleepers(&self, events: u32) {
        // SAFETY: the head is initialised.
        unsafe { glue::sysmsg_wq_wake_sleepers(self.raw(), events) }
    }

    /// Sleeps (interruptibly) until `cond` returns `true` (tested after queueing, so a wake-up
    /// that changes it cannot be missed); a signal ends the wait early with `ERESTARTSYS`.
    pub(crate) fn wait_until(&self, mut cond: impl FnMut() -> bool) -> Result {
        let state = bindings::TASK_INTERRUPTIBLE;
        let entry = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` is a local that stays in place until `finish_wait` below removed it
        // from the queue; `init_wait_entry` initialises every field.
        unsafe { bindings::init_wait_entry(entry.get(), 0) };
        let mut ret = Ok(());
        loop {
            // SAFETY: the head and the entry are initialised; this queues the entry (if it is not
            // queued) and sets the task state.
            let pending =
                unsafe { bindings::prepare_to_wait_event(self.raw(), entry.get(), state as i32) };
            if cond() {
                break;
            }
            if pending != 0 {
                ret = Err(ERESTARTSYS);
                break;
            }
            // SAFETY: no locks are held; a wake-up after `prepare_to_wait_event` makes this return.
            unsafe { bindings::schedule() };
        }
        // SAFETY: the entry was queued on this head by `prepare_to_wait_event`.
        unsafe { bindings::finish_wait(self.raw(), entry.get()) };
        ret
    }
}

/// The lock of a [`WaitHead`], held; see [`WaitHead::lock`].
pub(crate) struct WaitGuard<'a> {
    head: &'a WaitHead,
    flags: c_ulong,
    events: u32,
    _not_send: PhantomData<*mut ()>,
}

impl WaitGuard<'_> {
    /// Wake waiters with `events` when the lock is released.
    pub(crate) fn wake_on_unlock(&mut self, events: u32) {
        self.events |= events;
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the lock was taken by `WaitHead::lock` with these flags.
        unsafe { glue::sysmsg_wq_unlock_wake(self.head.raw(), self.flags, self.events) };
    }
}

/// The `poll_table` of a `poll` call.
///
/// # Invariants
///
/// `table` is null or a valid `poll_table` for `'a`.
pub(crate) struct PollTable<'a> {
    table: *mut bindings::poll_table,
    _lifetime: PhantomData<&'a bindings::poll_table>,
}

impl PollTable<'_> {
    /// Wraps `table`.
    ///
    /// # Safety
    ///
    /// `table` must be null or a valid `poll_table` for the wrapper's lifetime.
    pub(crate) unsafe fn from_raw(table: *mut bindings::poll_table) -> Self {
        // INVARIANT: per the safety requirements.
        Self {
            table,
            _lifetime: PhantomData,
        }
    }

    /// `poll_wait()`: registers the poller with `head`.
    ///
    /// `head` must outlive the file's poll registrations; sysmsg's wait queues live as long as the
    /// file's private data, and the VFS removes every epoll registration of a file before its
    /// `release`.
    pub(crate) fn register(&self, file: &File, head: &WaitHead) {
        // SAFETY: `file` is valid; `self.table` is null or valid (type invariant); `head` is an
        // initialised wait queue that lives until the file is released.
        unsafe { bindings::poll_wait(file.as_ptr(), head.raw(), self.table) }
    }
}
