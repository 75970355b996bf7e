// SPDX-License-Identifier: GPL-2.0

//! A session: one process's bounded queue of messages on one open file.
//!
//! Each process (thread group) that uses an open file of `/dev/sysmsg` has its own session: its
//! threads share it, and a process that inherited the file (a `fork()` child) gets a new, empty
//! one, so a process only ever reaps or sees its own messages. A session holds:
//!
//! - its count of messages *in flight* — accepted and not yet reaped — on this file; the bound
//!   is the process's (see `process` and `hysteresis`), over all its files;
//! - the [`ReplyQueue`] of completed messages (lock-free push by whatever completes them,
//!   consumer-locked pop by the reaping threads), the [`InlineReplies`] of messages that completed
//!   while they were submitted (NOPs: a 32-byte reply, no message), and the [`WaitHead`] readers
//!   and `poll` wait on;
//! - the *registry*: the messages that may need cancelling (all but NOPs), from submit until they
//!   are freed, so that `SYSMSG_IOC_CANCEL` can find them by tag and [`Session::abort`] can stop
//!   them all.
//!
//! A session is used only by threads of its process running in the address space it was created
//! in; an `exec` replaces the session (see `file`). Its lifetime is counted by references: the
//! file holds one while the process uses the file, and every message holds one until it is
//! freed. So aborting a session never waits for an operation that is executing on a worker: the
//! operation finishes in the background, finds the session aborted and frees itself, and the last
//! reference frees the session. A session also pins the module, so `rmmod` is refused until then.

use crate::{
    context::Context,
    dispatch::Dispatcher,
    glue::{self, MmSlot, ModuleRef},
    hysteresis::Wake,
    inline::InlineReplies,
    message::{Message, MsgPtr, ECANCELED},
    phases::{self, Cancel},
    process::Process,
    queue::ReplyQueue,
    uapi::{self, sysmsg_msg, sysmsg_reply},
    uarray::{read_one, Records},
    wait::{PollTable, WaitHead, POLLIN, POLLOUT},
};
use core::{
    ptr,
    sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
};
use kernel::{
    new_spinlock,
    prelude::*,
    static_lock_class,
    sync::{Arc, SpinLock},
    task::Pid,
};

/// Replies popped per round of a reap.
const REAP_BATCH: usize = 16;

/// Messages read from user space at once by a submit (on the stack: 1 KiB).
const SUBMIT_CHUNK: usize = 16;

/// Messages visited per round of an abort (between two chances to reschedule).
const ABORT_BATCH: usize = 64;

/// Where a submit that is followed by a reap in the same call (`SYSMSG_SUBMIT_REAP`) stores
/// the replies of messages that complete at submit: straight into the caller's reply array,
/// while nothing older is waiting to be reaped, instead of through the inline ring.
pub(crate) struct DirectReplies<'a> {
    /// The reply array, whose cursor the reap part continues from.
    pub(crate) writer: &'a mut dyn Records<sysmsg_reply>,
    /// Replies it may still take.
    pub(crate) room: usize,
    /// Replies stored in it.
    pub(crate) stored: usize,
}

/// What a cancellation did (see `struct sysmsg_cancel`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Cancelled {
    /// Messages stopped: each gets a reply with `-ECANCELED`.
    pub(crate) stopped: u32,
    /// Matching messages executing or completed: each gets its real reply.
    pub(crate) already: u32,
}

/// The registry of cancellable messages: an intrusive doubly linked list through
/// `Message::reg`.
struct Registry {
    head: *mut Message,
}

// SAFETY: the pointers are only followed under the registry's lock.
unsafe impl Send for Registry {}

/// Counters shown in fdinfo.
#[derive(Default)]
struct Stats {
    submitted: AtomicU64,
    reaped: AtomicU64,
}

/// One process's queue on one open file; see the module documentation.
#[pin_data]
pub(crate) struct Session {
    tgid: Pid,
    process: Arc<Process>,
    ctx: Arc<Context>,
    #[pin]
    replies: ReplyQueue<Message>,
    #[pin]
    inline: InlineReplies,
    #[pin]
    wait: WaitHead,
    #[pin]
    registry: SpinLock<Registry>,
    inflight: AtomicU32,
    /// Set once, by [`Session::abort`] under the registry lock: nothing registers any more.
    dead: AtomicBool,
    /// Set by [`Session::abort`] under the wait queue's lock once nothing can be cancelled any
    /// more: completions free their message instead of queueing a reply nobody will reap.
    drained: AtomicBool,
    /// The address space of the process when the session was created.
    mm: MmSlot,
    stats: Stats,
    /// Keeps the module loaded while the session exists. Declared last: dropped last.
    _module: ModuleRef,
}

/// Reads up to `out.len()` messages with `reader` into `out`: how many, and the error that
/// stopped it early (the message there could not be read), if any.
fn read_msgs(
    reader: &mut dyn Records<sysmsg_msg>,
    out: &mut [sysmsg_msg],
) -> (usize, Option<Error>) {
    if reader.read(out).is_ok() {
        return (out.len(), None);
    }
    // One of them faults: find which, one message at a time.
    for (i, m) in out.iter_mut().enumerate() {
        match read_one(reader) {
            Ok(v) => *m = v,
            Err(e) => return (i, Some(e)),
        }
    }
    (out.len(), None)
}

/// Stores `replies` with `writer`: how many, and the error that stopped it early, if any.
fn write_replies(
    writer: &mut dyn Records<sysmsg_reply>,
    replies: &[sysmsg_reply],
) -> (usize, Option<Error>) {
    if writer.write(replies).is_ok() {
        return (replies.len(), None);
    }
    // One of them faults: store what fits, one reply at a time.
    for (i, r) in replies.iter().enumerate() {
        if let Err(e) = writer.write(core::slice::from_ref(r)) {
            return (i, Some(e));
        }
    }
    (replies.len(), None)
}

impl Session {
    /// A new, empty session of `process`.
    pub(crate) fn new(ctx: Arc<Context>, process: Arc<Process>) -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                tgid: process.tgid(),
                process,
                ctx,
                replies <- ReplyQueue::new(),
                inline <- InlineReplies::new(),
                wait <- WaitHead::new(c"sysmsg::Session::wait", static_lock_class!()),
                registry <- new_spinlock!(Registry { head: ptr::null_mut() }, "sysmsg::Registry"),
                inflight: AtomicU32::new(0),
                dead: AtomicBool::new(false),
                drained: AtomicBool::new(false),
                mm: MmSlot::current(),
                stats: Stats::default(),
                _module: ModuleRef::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// The process this session belongs to.
    pub(crate) fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// The thread group id of the process.
    pub(crate) fn tgid(&self) -> Pid {
        self.tgid
    }

    /// The workers messages execute on.
    pub(crate) fn dispatcher(&self) -> &Dispatcher {
        &self.ctx.dispatcher
    }

    /// Whether the session is being torn down: new waits must not start.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Whether the calling thread may use this session: it is alive and the caller runs in the
    /// address space it was created in (not after an `exec`, not a later process that got the
    /// same pid).
    pub(crate) fn is_current(&self) -> bool {
        !self.is_dead() && self.mm.is_current()
    }

    /// Runs `f` under the registry's lock (see `ops::file` for why arming needs it).
    pub(crate) fn with_registry_locked<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.registry.lock();
        f()
    }

    /// Adds `m` to the registry, unless the session is being aborted (`EBADF`: the process gave
    /// up the file).
    fn register(&self, m: &Message) -> Result {
        let mut reg = self.registry.lock();
        if self.is_dead() {
            return Err(EBADF);
        }
        m.registered.store(true, Ordering::Release);
        // SAFETY: `reg` is protected by the lock we hold; `m` is live and not registered.
        unsafe {
            let links = &mut *m.reg.get();
            links.prev = ptr::null_mut();
            links.next = reg.head;
            if !reg.head.is_null() {
                (*(*reg.head).reg.get()).prev = m.as_raw();
            }
        }
        reg.head = m.as_raw();
        Ok(())
    }

    /// Removes `m` from the registry if it is there.
    pub(crate) fn unregister(&self, m: &Message) {
        Self::unregister_locked(&mut self.registry.lock(), m);
    }

    /// Removes `m` from `reg`, the locked registry, if it is there.
    fn unregister_locked(reg: &mut Registry, m: &Message) {
        if !m.registered.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: the links of `m` and of its neighbours are protected by the lock the caller
        // holds; registered messages are live.
        unsafe {
            let links = &*m.reg.get();
            if links.prev.is_null() {
                reg.head = links.next;
            } else {
                (*(*links.prev).reg.get()).next = links.next;
            }
            if !links.next.is_null() {
                (*(*links.next).reg.get()).prev = links.prev;
            }
        }
        m.registered.store(false, Ordering::Release);
    }

    /// Takes a slot for one message within the process's limits, or refuses it with `EAGAIN`.
    fn reserve_slot(&self) -> Result {
        self.process.take()?;
        self.inflight.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Takes a slot for one message, waiting (interruptibly) for room if `wait`.
    fn reserve_slot_waiting(&self, wait: bool) -> Result {
        while let Err(e) = self.reserve_slot() {
            if !wait {
                return Err(e);
            }
            self.ctx.room.wait_until(|| self.process.may_take())?;
        }
        Ok(())
    }

    /// Takes up to `n` slots at once within the process's limits, refusing nothing; returns how
    /// many.
    fn reserve_slots(&self, n: u32) -> u32 {
        let got = self.process.take_many(n);
        self.inflight.fetch_add(got, Ordering::AcqRel);
        got
    }

    /// Gives back the slots of `n` freed messages or reaped replies, waking submitters if the
    /// process may submit again.
    pub(crate) fn release_slots(&self, n: u32) {
        if n == 0 {
            return;
        }
        self.inflight.fetch_sub(n, Ordering::AcqRel);
        if self.process.give_back(n) == Wake::Room {
            self.ctx.room.wake(POLLOUT);
        }
    }

    /// Hands a completed message to the reply queue and wakes readers; once the session is
    /// drained, hands it back instead, for the caller to free.
    ///
    /// Everything this does to the session happens under the wait queue's lock, so that
    /// [`Session::abort`] knows which replies it has to drain.
    ///
    /// # Safety
    ///
    /// `m` must be a completed message of this session, owned by the caller and handed over.
    pub(crate) unsafe fn publish(&self, m: *mut Message) -> Option<MsgPtr> {
        let mut guard = self.wait.lock();
        if self.drained.load(Ordering::Relaxed) {
            drop(guard);
            // SAFETY: per the safety requirements, the caller handed it over.
            return Some(unsafe { MsgPtr::from_raw(m) });
        }
        // SAFETY: per the safety requirements.
        unsafe { self.replies.push(m) };
        guard.wake_on_unlock(POLLIN);
        None
    }

    /// Submits the messages `reader` holds, `count` of them, in order: returns how many were
    /// accepted and the error that refused the next one, if any. With `wait`, a message refused
    /// by a limit or the throttle waits (interruptibly) until the process may submit.
    ///
    /// Messages are read from user space and slots taken a chunk at a time, so a batch costs one
    /// copy and one pass of the limit atomics per [`SUBMIT_CHUNK`] messages; each message is
    /// still checked and accepted in order, exactly as if they were submitted one by one.
    pub(crate) fn submit(
        self: &Arc<Self>,
        reader: &mut dyn Records<sysmsg_msg>,
        count: usize,
        wait: bool,
        mut direct: Option<&mut DirectReplies<'_>>,
    ) -> (usize, Option<Error>) {
        let mut chunk = [sysmsg_msg::default(); SUBMIT_CHUNK];
        let mut done = 0;
        while done < count {
            let want = (count - done).min(SUBMIT_CHUNK);
            let (n, fault) = read_msgs(reader, &mut chunk[..want]);
            let (accepted, err) = self.submit_chunk(&chunk[..n], wait, direct.as_deref_mut());
            done += accepted;
            if let Some(e) = err.or(fault) {
                return (done, Some(e));
            }
        }
        (count, None)
    }

    /// Submits `msgs`, read from user space: see [`Session::submit`].
    fn submit_chunk(
        self: &Arc<Self>,
        msgs: &[sysmsg_msg],
        wait: bool,
        mut direct: Option<&mut DirectReplies<'_>>,
    ) -> (usize, Option<Error>) {
        let nops = msgs
            .iter()
            .filter(|m| u32::from(m.opcode) == uapi::SYSMSG_OP_NOP)
            .count();
        let mut slots = self.reserve_slots(msgs.len() as u32);
        let mut room = self.inline.reserve(nops as u32);
        let mut replies = [sysmsg_reply::default(); SUBMIT_CHUNK];
        let mut queued = 0;
        let mut accepted = 0;
        let mut err = None;
        for m in msgs {
            if self.is_dead() {
                err = Some(EBADF);
                break;
            }
            if slots > 0 {
                slots -= 1;
            } else {
                // This call may wait for room: the replies it made must be reapable meanwhile.
                self.push_inline(&replies[..queued], direct.as_deref_mut());
                queued = 0;
                if let Err(e) = self.reserve_slot_waiting(wait) {
                    err = Some(e);
                    break;
                }
            }
            match self.accept(m, room > 0) {
                Ok(Some(reply)) => {
                    replies[queued] = reply;
                    queued += 1;
                    room -= 1;
                }
                Ok(None) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
            accepted += 1;
        }
        self.push_inline(&replies[..queued], direct);
        self.release_slots(slots);
        self.inline.unreserve(room);
        self.stats
            .submitted
            .fetch_add(accepted as u64, Ordering::Relaxed);
        self.process.flow().count_submitted(accepted as u32);
        (accepted, err)
    }

    /// Accepts one message, for which the caller took a slot: runs its copyin phase and starts
    /// it, or, if it completes at submit and `inline` (the caller reserved a place in the inline
    /// ring), returns its reply. On error, the slot is given back and nothing was done.
    fn accept(self: &Arc<Self>, m: &sysmsg_msg, inline: bool) -> Result<Option<sysmsg_reply>> {
        if inline {
            if let Some(reply) = phases::complete_inline(m) {
                return reply.map(Some).inspect_err(|_| self.release_slots(1));
            }
        }
        let msg = phases::copyin(self, m).inspect_err(|_| self.release_slots(1))?;
        if !matches!(msg.args, crate::message::Args::Nop) {
            // On error, dropping `msg` frees it and its slot.
            self.register(&msg)?;
        }
        phases::execute(msg);
        Ok(None)
    }

    /// Queues `replies` (places reserved) in the inline ring and wakes readers; once the session
    /// is aborted, gives their slots back instead. With `direct`, and nothing else ready, stores
    /// them in the caller's reply array first: reaped at once, their places and slots given back.
    fn push_inline(&self, mut replies: &[sysmsg_reply], direct: Option<&mut DirectReplies<'_>>) {
        if let Some(d) = direct.filter(|d| d.room > 0 && !replies.is_empty() && self.ready() == 0) {
            let want = replies.len().min(d.room);
            let (n, _) = write_replies(d.writer, &replies[..want]);
            d.room -= n;
            d.stored += n;
            self.inline.unreserve(n as u32);
            self.release_slots(n as u32);
            self.stats.reaped.fetch_add(n as u64, Ordering::Relaxed);
            // What did not fit, or faulted, takes the ring.
            replies = &replies[n..];
        }
        if replies.is_empty() {
            return;
        }
        if self.inline.push(replies) {
            self.wait.wake_sleepers(POLLIN);
        } else {
            self.release_slots(replies.len() as u32);
        }
    }

    /// Replies ready to reap (a hint, as [`ReplyQueue::ready`]).
    fn ready(&self) -> u32 {
        self.replies.ready() + self.inline.ready()
    }

    /// Stores up to `max` replies with `writer`, waiting (interruptibly) for the first one if
    /// `wait`. Returns how many were stored; a reply that could not be stored stays queued.
    pub(crate) fn reap(
        &self,
        writer: &mut dyn Records<sysmsg_reply>,
        max: usize,
        wait: bool,
    ) -> Result<usize> {
        loop {
            let d = self
                .inline
                .deliver(max, |r| match write_replies(writer, r) {
                    (0, Some(e)) => Err(e),
                    (n, _) => Ok(n),
                });
            self.release_slots(d.released);
            self.stats
                .reaped
                .fetch_add(d.stored as u64, Ordering::Relaxed);
            let mut done = d.stored;
            let mut err = d.error;
            if err.is_none() && done < max {
                let (n, e) = self.reap_messages(writer, max - done);
                done += n;
                err = e;
            }
            if done > 0 {
                return Ok(done);
            }
            if let Some(e) = err {
                return Err(e);
            }
            if self.is_dead() {
                return Err(EBADF);
            }
            if !wait {
                return Err(EAGAIN);
            }
            self.wait
                .wait_until(|| self.ready() > 0 || self.is_dead())?;
        }
    }

    /// Stores up to `max` replies of completed messages with `writer`: how many, and the error
    /// that stopped it early, if any. A reply that could not be stored stays queued.
    fn reap_messages(
        &self,
        writer: &mut dyn Records<sysmsg_reply>,
        max: usize,
    ) -> (usize, Option<Error>) {
        let mut done = 0;
        let mut batch = [ptr::null_mut(); REAP_BATCH];
        let mut out = [sysmsg_reply::default(); REAP_BATCH];
        while done < max {
            let want = (max - done).min(REAP_BATCH);
            let n = self.replies.pop_batch(&mut batch[..want]);
            if n == 0 {
                break;
            }
            for (reply, &m) in out.iter_mut().zip(&batch[..n]) {
                // SAFETY: popped messages are live and owned by us.
                *reply = phases::writeback(unsafe { &*m });
            }
            let (stored, err) = write_replies(writer, &out[..n]);
            if stored < n {
                // SAFETY: `batch[stored..n]` were popped from this queue and not delivered.
                unsafe { self.replies.unpop(&batch[stored..n]) };
            }
            for &m in &batch[..stored] {
                // SAFETY: popped and delivered: ours to free.
                unsafe { MsgPtr::from_raw(m) }.free_keep_slot();
            }
            self.release_slots(stored as u32);
            self.stats
                .reaped
                .fetch_add(stored as u64, Ordering::Relaxed);
            done += stored;
            if err.is_some() {
                return (done, err);
            }
        }
        (done, None)
    }

    /// `poll`: registers with the wait queues that change the mask (replies of this session,
    /// room for the process) and returns the mask.
    pub(crate) fn poll(&self, file: &kernel::fs::File, table: &PollTable<'_>) -> u32 {
        table.register(file, &self.wait);
        table.register(file, &self.ctx.room);
        self.poll_mask()
    }

    /// The `poll` mask: `POLLIN` when a reply is ready, `POLLOUT` when the process may submit;
    /// `POLLHUP | POLLERR` once the session was aborted.
    pub(crate) fn poll_mask(&self) -> u32 {
        if self.is_dead() {
            return kernel::bindings::POLLHUP | kernel::bindings::POLLERR;
        }
        let mut mask = 0;
        if self.ready() > 0 {
            mask |= POLLIN;
        }
        if self.process.may_take() {
            mask |= POLLOUT;
        }
        mask
    }

    /// `(in flight on this file, replies ready, submitted, reaped)`, for fdinfo.
    pub(crate) fn counters(&self) -> (u32, u32, u64, u64) {
        (
            self.inflight.load(Ordering::Relaxed),
            self.ready(),
            self.stats.submitted.load(Ordering::Relaxed),
            self.stats.reaped.load(Ordering::Relaxed),
        )
    }

    /// Cancels the messages with tag `tag` (all messages with `None`).
    ///
    /// One pass under the registry lock, which keeps every registered message alive: a stopped
    /// message is published with `-ECANCELED` on the spot (the session is not drained: its
    /// abort cannot finish while we hold the lock). The pass costs O(messages in the registry).
    pub(crate) fn cancel(&self, tag: Option<u64>) -> Cancelled {
        let mut done = Cancelled::default();
        let reg = self.registry.lock();
        let mut p = reg.head;
        while !p.is_null() {
            // SAFETY: registered messages are live while we hold the lock.
            let m = unsafe { &*p };
            // SAFETY: the links are protected by the lock we hold.
            p = unsafe { (*m.reg.get()).next };
            if tag.is_some_and(|t| t != m.tag) {
                continue;
            }
            match phases::cancel(m) {
                Cancel::Taken(msg) => {
                    msg.publish(ECANCELED);
                    done.stopped += 1;
                }
                Cancel::Marked => done.stopped += 1,
                Cancel::Busy => done.already += 1,
            }
        }
        drop(reg);
        done
    }

    /// Aborts everything in flight, once (later calls return `false` and do nothing); used when
    /// the process gives up the file (exit, last close of its descriptors, `exec`) and when the
    /// file is released.
    ///
    /// Sleeps and waits on files are cancelled and queued operations dropped, without replies:
    /// nobody will reap them. Operations executing on a worker are not waited for: they finish
    /// in the background and free themselves (`drained`), each holding its reference on the
    /// session. Nothing blocks here, so an exit never waits for sysmsg.
    ///
    /// Safe against threads of the process still submitting or reaping (a thread that closed its
    /// last descriptor while another used it): registering fails once `dead` is set, and every
    /// round restarts at the head of the registry, so messages freed meanwhile do not matter.
    pub(crate) fn abort(&self) -> bool {
        {
            let _reg = self.registry.lock();
            if self.dead.swap(true, Ordering::SeqCst) {
                return false;
            }
        }
        // Reapers and pollers see `dead`.
        self.wait
            .wake(POLLIN | kernel::bindings::POLLHUP | kernel::bindings::POLLERR);
        loop {
            let mut taken = [ptr::null_mut(); ABORT_BATCH];
            let mut n = 0;
            let empty = {
                let mut reg = self.registry.lock();
                for _ in 0..ABORT_BATCH {
                    if reg.head.is_null() {
                        break;
                    }
                    // SAFETY: registered messages are live while we hold the lock.
                    let m = unsafe { &*reg.head };
                    Self::unregister_locked(&mut reg, m);
                    if let Cancel::Taken(msg) = phases::cancel(m) {
                        taken[n] = msg.into_raw();
                        n += 1;
                    }
                }
                reg.head.is_null()
            };
            for &m in &taken[..n] {
                // SAFETY: taken by `phases::cancel` above: ours. Freed outside the lock (it
                // drops a file reference and a buffer).
                unsafe { MsgPtr::from_raw(m) }.free();
            }
            if empty {
                break;
            }
            glue::cond_resched();
        }
        // Nothing is registered or can register: from here on, completions free their messages.
        {
            let _guard = self.wait.lock();
            self.drained.store(true, Ordering::Relaxed);
        }
        // What was published before: no one will reap it.
        let mut batch = [ptr::null_mut(); REAP_BATCH];
        loop {
            let n = self.replies.pop_batch(&mut batch);
            if n == 0 {
                break;
            }
            for &m in &batch[..n] {
                // SAFETY: popped: ours to free.
                unsafe { MsgPtr::from_raw(m) }.free();
            }
            glue::cond_resched();
        }
        // Inline replies: dropped here, or by a reaper still holding the ring (see `inline`).
        self.release_slots(self.inline.close());
        self.mm.release();
        true
    }
}

#[kunit_tests(sysmsg_session)]
mod tests {
    use super::*;
    use crate::{message::Args, uapi};
    use kernel::alloc::KVec;

    fn session() -> Result<Arc<Session>> {
        let ctx = Context::new()?;
        let process = ctx.processes.get(4242)?;
        Session::new(ctx, process)
    }

    fn pop_one(s: &Session) -> Option<MsgPtr> {
        let mut out = [ptr::null_mut(); 1];
        // SAFETY: a popped message is owned by the popper.
        (s.replies.pop_batch(&mut out) == 1).then(|| unsafe { MsgPtr::from_raw(out[0]) })
    }

    /// A NOP completes inside execute; its slot is held until the reply is reaped and freed.
    #[test]
    fn nop_holds_its_slot_until_reaped() -> Result {
        let s = session()?;
        s.reserve_slot()?;
        let m = MsgPtr::new(&s, 7, uapi::SYSMSG_OP_NOP as u8, Args::Nop)?;
        phases::execute(m);
        assert_eq!(s.counters().0, 1);
        assert_eq!(s.replies.ready(), 1);
        assert_eq!(s.poll_mask(), POLLIN | POLLOUT);
        let m = pop_one(&s).ok_or(EINVAL)?;
        let reply = phases::writeback(&m);
        assert_eq!((reply.tag, reply.result, reply.opcode), (7, 0, 0));
        assert_eq!(s.counters().0, 1);
        m.free();
        assert_eq!(s.counters().0, 0);
        assert_eq!(s.poll_mask(), POLLOUT);
        Ok(())
    }

    /// A sleep is registered while it waits on its timer; a cancellation takes it exactly once
    /// and its reply says ECANCELED; freeing unregisters it.
    #[test]
    fn sleep_cancel_once() -> Result {
        let s = session()?;
        s.reserve_slot()?;
        let args = Args::Sleep {
            ns: 60_000_000_000,
            abs: false,
        };
        let m = MsgPtr::new(&s, 9, uapi::SYSMSG_OP_NANOSLEEP as u8, args)?;
        s.register(&m)?;
        phases::execute(m);
        assert_eq!(s.replies.ready(), 0);
        let head = s.registry.lock().head;
        assert!(!head.is_null());
        // SAFETY: the message is registered, so live, and nothing frees it meanwhile.
        let sleeping = unsafe { &*head };
        let Cancel::Taken(taken) = phases::cancel(sleeping) else {
            return Err(EINVAL);
        };
        assert!(matches!(phases::cancel(sleeping), Cancel::Busy));
        taken.publish(ECANCELED);
        let m = pop_one(&s).ok_or(EINVAL)?;
        assert_eq!((m.tag, m.result()), (9, ECANCELED));
        m.free();
        assert!(s.registry.lock().head.is_null());
        assert_eq!(s.counters().0, 0);
        Ok(())
    }

    /// Abort cancels a waiting sleep and frees everything, replies not reaped included.
    #[test]
    fn abort_frees_everything() -> Result {
        let s = session()?;
        for tag in 0..3 {
            s.reserve_slot()?;
            let args = Args::Sleep {
                ns: 60_000_000_000,
                abs: false,
            };
            let m = MsgPtr::new(&s, tag, uapi::SYSMSG_OP_NANOSLEEP as u8, args)?;
            s.register(&m)?;
            phases::execute(m);
        }
        s.reserve_slot()?;
        phases::execute(MsgPtr::new(&s, 3, uapi::SYSMSG_OP_NOP as u8, Args::Nop)?);
        assert_eq!(s.counters().0, 4);
        assert!(s.abort());
        assert_eq!(s.counters().0, 0);
        assert!(s.registry.lock().head.is_null());
        assert!(s.is_dead());
        assert!(!s.is_current());
        // Once only; an aborted session registers nothing and refuses to submit.
        assert!(!s.abort());
        s.reserve_slot()?;
        let m = MsgPtr::new(&s, 4, uapi::SYSMSG_OP_NANOSLEEP as u8, Args::Nop)?;
        assert_eq!(s.register(&m), Err(EBADF));
        drop(m);
        assert_eq!(s.counters().0, 0);
        Ok(())
    }

    /// Cancelling by tag stops every waiting message with that tag and reports completed ones;
    /// cancel-all stops the rest. Every stopped message gets exactly one `-ECANCELED` reply.
    #[test]
    fn cancel_by_tag_and_all() -> Result {
        let s = session()?;
        for tag in [1, 1, 2, 3] {
            s.reserve_slot()?;
            let args = Args::Sleep {
                ns: 60_000_000_000,
                abs: false,
            };
            let m = MsgPtr::new(&s, tag, uapi::SYSMSG_OP_NANOSLEEP as u8, args)?;
            s.register(&m)?;
            phases::execute(m);
        }
        let c = s.cancel(Some(1));
        assert_eq!((c.stopped, c.already), (2, 0));
        // Cancelled, not reaped: completed, so only reported.
        let c = s.cancel(Some(1));
        assert_eq!((c.stopped, c.already), (0, 2));
        assert_eq!(s.cancel(Some(99)), Cancelled::default());
        let c = s.cancel(None);
        assert_eq!((c.stopped, c.already), (2, 2));
        let mut tags = KVec::new();
        while let Some(m) = pop_one(&s) {
            assert_eq!(m.result(), ECANCELED);
            tags.push(m.tag, GFP_KERNEL)?;
            m.free();
        }
        tags.sort_unstable();
        assert_eq!(&tags[..], &[1, 1, 2, 3]);
        assert_eq!(s.counters().0, 0);
        Ok(())
    }

    /// The bound is the process's soft limit; a refusal throttles, and the process may submit
    /// again once it is down to its low-water mark.
    #[test]
    fn bounded() -> Result {
        let s = session()?;
        let limit = s.process().limits().soft;
        for _ in 0..limit {
            s.reserve_slot()?;
        }
        assert_eq!(s.reserve_slot(), Err(EAGAIN));
        assert_eq!(s.poll_mask() & POLLOUT, 0);
        s.release_slots(1);
        assert_eq!(s.reserve_slot(), Err(EAGAIN));
        let mark = crate::limits::low_water_mark(limit, crate::limits::LOW_WATER.get() as u32);
        for _ in mark..limit - 1 {
            s.release_slots(1);
        }
        assert_eq!(s.poll_mask() & POLLOUT, POLLOUT);
        s.reserve_slot()?;
        for _ in 0..=mark {
            s.release_slots(1);
        }
        assert_eq!(s.counters().0, 0);
        Ok(())
    }
}
