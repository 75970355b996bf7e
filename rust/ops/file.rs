// SPDX-License-Identifier: GPL-2.0

//! `READ`, `WRITE`, `PREAD`, `PWRITE`, `FSYNC`, `FDATASYNC`: operations on a file.
//!
//! copyin references the file (`fget`: a later `close()` or reuse of the descriptor number cannot
//! redirect the message), checks its mode as the system calls do, and copies a write's data into
//! kernel memory. Execution then takes one of two paths:
//!
//! - **pollable files** (`file_can_poll()` and `FMODE_NOWAIT`: pipes, sockets, eventfd) are tried
//!   with `IOCB_NOWAIT`, first inline in the submitting call. On an `O_NONBLOCK` file that is the
//!   only try: it answers `EAGAIN` as the system call would. Otherwise, if it would block, the
//!   message adds its two wait entries to the file's wait queues (a `poll_table` callback, as
//!   io_uring does) and holds no thread; the wake callback, in whatever context the file wakes
//!   it, takes the message from `ARMED` and queues its work item, which tries again.
//! - **everything else** (regular files, ttys, fsync) runs on a worker of the submitting process
//!   (`pool`), where it may block, and so do retries of woken pollable operations. On a worker it
//!   executes with the identity captured at copyin (`identity`).
//!
//! Ownership moves by compare-and-swap of the message's state: the wake callback only takes a
//! message that is `ARMED`; while its owner is still arming it (`ARMING`) a wake-up only marks it
//! (`FIRED_ARMING`) and the owner retries; a cancellation takes `ARMED` or `QUEUED` messages.

use crate::{
    glue::{self, need, MmRef},
    identity::Identity,
    message::{state, Args, FileArgs, FileKind, Message, MsgPtr, ECANCELED},
    phases::Cancel,
    priority::{self, ReadyLinks},
    session::Session,
    uapi,
    wait::{POLLIN, POLLOUT},
};
use core::{cell::UnsafeCell, sync::atomic::Ordering};
use kernel::{
    alloc::KVVec,
    bindings,
    ffi::{c_int, c_uint, c_void},
    fs::file::LocalFile,
    prelude::*,
    sync::Arc,
    uaccess::{UserPtr, UserSlice},
};

/// How many times a pollable operation that the file calls ready but that would still block is
/// retried before its reply reports `EAGAIN`.
const POLL_RETRIES: u32 = 8;

/// copyin of a file operation whose fields were validated by `phases::validate`. Any file
/// operation may need a worker of the process (a pollable one to retry after a wake-up), so the
/// process gets one here if it has none (`pool`), after every check the system call makes.
pub(crate) fn copyin(
    session: &Arc<Session>,
    m: &uapi::sysmsg_msg,
    kind: FileKind,
    offset: bool,
) -> Result<Args> {
    let fd = u32::try_from(m.fd).map_err(|_| EBADF)?;
    let local = LocalFile::fget(fd)?;
    // SAFETY: the descriptor was looked up by this thread, which holds no `fdget_pos` on it (the
    // only such region of this call is on the sysmsg file itself, and `fd` may even be that
    // file: it is a stream, which never takes `f_pos_lock`).
    let file = unsafe { LocalFile::assume_no_fdget_pos(local) };
    let mut bits = match kind {
        FileKind::Read => need::READ,
        FileKind::Write => need::WRITE,
        FileKind::Sync(_) => 0,
    };
    if offset {
        bits |= need::OFFSET;
    }
    let caps = glue::file_check(&file, bits)?;
    let mut buf = KVVec::new();
    let mut len = m.len;
    let mut mm = None;
    match kind {
        FileKind::Read => {
            len = len.min(uapi::SYSMSG_MAX_IO_LEN.into());
            if !glue::access_ok(m.addr, len) {
                return Err(EFAULT);
            }
            mm = MmRef::current();
        }
        FileKind::Write => {
            UserSlice::new(UserPtr::from_addr(m.addr as usize), len as usize)
                .read_all(&mut buf, GFP_KERNEL)?;
        }
        FileKind::Sync(_) => {}
    }
    session
        .process()
        .pool()
        .ensure_worker(session.dispatcher())?;
    Ok(Args::File(FileArgs {
        file,
        kind,
        pollable: caps.pollable && !matches!(kind, FileKind::Sync(_)),
        nonblock: caps.nonblock,
        has_offset: offset,
        offset: m.offset,
        level: priority::level(m.prio),
        user: m.addr,
        // Validated: at most `SYSMSG_MAX_IO_LEN` for a write, clamped to it for a read.
        len: len as u32,
        buf: UnsafeCell::new(buf),
        mm,
        identity: Identity::capture(),
    }))
}

fn args(m: &Message) -> &FileArgs {
    match &m.args {
        Args::File(a) => a,
        // Only file messages reach this file's functions.
        _ => unreachable!(),
    }
}

/// Execution: start a file operation. The message must be registered with its session.
pub(crate) fn start(msg: MsgPtr) {
    // SAFETY: `args` is `File`, so `exec.file` is the live union field; the message does not move
    // and outlives its work item and wait entries (it is freed only once it completed, after they
    // were removed or ran).
    unsafe {
        let exec = &msg.exec.file;
        exec.ready.get().write(ReadyLinks::new());
        glue::sysmsg_wait_entry_init(exec.waits.get().cast(), Some(wake0), Some(wake1));
    }
    if args(&msg).pollable {
        poll_run(msg);
    } else {
        msg.state.store(state::QUEUED, Ordering::Release);
        queue(msg);
    }
}

/// Queues the message for a worker (see `dispatch`); the runner that takes it becomes its owner.
fn queue(msg: MsgPtr) {
    // Once queued, the message may run and be freed at once: keep the session.
    let session = msg.session_ref();
    // SAFETY: `exec.file` is live (a file message); its links were initialised in `start`.
    let ready = unsafe { msg.exec.file.ready.get() };
    let level = args(&msg).level;
    let _ = msg.into_raw();
    // SAFETY: the process lives as long as the message's session; the links stay valid until a
    // runner takes the message or a cancellation removes it.
    unsafe {
        session
            .dispatcher()
            .queue(session.process().ready(), ready, level)
    };
}

/// Executes the operation once; `nowait` makes it fail with `EAGAIN` instead of blocking.
///
/// Only the owner calls this.
fn execute(m: &Message, nowait: bool) -> i64 {
    let a = args(m);
    // SAFETY: only the owner touches `buf`, and we are the owner.
    let buf = unsafe { &mut *a.buf.get() };
    let pos = a.has_offset.then_some(a.offset);
    let len = a.len as usize;
    let r = match a.kind {
        FileKind::Read => {
            if buf.capacity() < len {
                if let Err(e) = buf.reserve(len, GFP_KERNEL) {
                    return Error::from(e).to_errno().into();
                }
            }
            let spare = &mut buf.spare_capacity_mut()[..len];
            glue::file_read(&a.file, spare, pos, nowait).inspect(|&n| {
                // SAFETY: the read initialised the first `n <= a.len` bytes.
                unsafe { buf.inc_len(n) };
            })
        }
        FileKind::Write => glue::file_write(&a.file, buf, pos, nowait),
        FileKind::Sync(datasync) => glue::file_sync(&a.file, datasync).map(|()| 0),
    };
    match r {
        Ok(n) => n as i64,
        Err(e) => e.to_errno().into(),
    }
}

/// The poll events the operation waits for.
fn events(m: &Message) -> u32 {
    match args(m).kind {
        FileKind::Read => POLLIN,
        _ => POLLOUT,
    }
}

/// Tries a pollable operation without blocking, and arms the wait entries if it would block.
fn poll_run(mut msg: MsgPtr) {
    // SAFETY: `exec.file` is live for file messages.
    let waits = unsafe {
        msg.exec
            .file
            .waits
            .get()
            .cast::<bindings::wait_queue_entry>()
    };
    for _ in 0..POLL_RETRIES {
        let r = execute(&msg, true);
        // An `O_NONBLOCK` file answers `EAGAIN` as the system call would.
        if r != EAGAIN.to_errno().into() || args(&msg).nonblock {
            return msg.publish(r);
        }
        msg.state.store(state::ARMING, Ordering::SeqCst);
        // SAFETY: the entries were initialised in `start` and are on no queue; the file is
        // referenced.
        let ready = unsafe { glue::sysmsg_poll_arm(args(&msg).file.as_ptr(), waits, events(&msg)) };
        if ready == 0 {
            // Once armed, the message may be woken, complete and be freed: keep the session.
            let session = msg.session_ref();
            let m = msg.into_raw();
            // Looking at `dead` and becoming `ARMED` happen under the registry lock, which an
            // abort takes to set `dead` and to walk the registry: either the abort finds the
            // message `ARMED` (and registered: only the abort and freeing unregister), or we find
            // the session dead and keep the message. While `ARMING`, nobody else takes it.
            let armed = session.with_registry_locked(|| {
                // SAFETY: `ARMING`: still ours, so live.
                let mr = unsafe { &*m };
                !session.is_dead()
                    && mr
                        .state
                        .compare_exchange(
                            state::ARMING,
                            state::ARMED,
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        )
                        .is_ok()
            });
            if armed {
                return;
            }
            // SAFETY: not armed (`ARMING`, or `FIRED_ARMING` if woken meanwhile): nobody else
            // takes such a message.
            msg = unsafe { MsgPtr::from_raw(m) };
        }
        // Ready now, woken while arming, or the session is aborted: still ours. Take the entries
        // off and retry (or stop).
        msg.state.store(state::RUNNING, Ordering::SeqCst);
        // SAFETY: the entries were armed above.
        unsafe { glue::sysmsg_poll_disarm(waits) };
        // SAFETY: the message holds a reference on its session.
        if unsafe { (*msg.session()).is_dead() } {
            return msg.publish(ECANCELED);
        }
    }
    msg.publish(EAGAIN.to_errno().into());
}

/// A worker of the submitting process took a ready message: runs a queued operation, or retries
/// a woken pollable one, as the submitter (`identity`).
///
/// # Safety
///
/// `ready` is the `exec.file.ready` of a message queued by [`queue`] and just handed to a
/// worker, which becomes its owner.
pub(crate) unsafe fn run_ready(ready: *mut ReadyLinks) {
    // SAFETY: per the safety requirements.
    let msg = unsafe { MsgPtr::from_raw(Message::from_ready(ready)) };
    let from = if args(&msg).pollable {
        state::FIRED
    } else {
        state::QUEUED
    };
    let started = msg
        .state
        .compare_exchange(from, state::RUNNING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if args(&msg).pollable {
        // `FIRED` (or cancelled from it): the wake callback took it and its entries may still
        // be queued.
        // SAFETY: `exec.file` is live.
        unsafe { glue::sysmsg_poll_disarm(msg.exec.file.waits.get().cast()) };
    }
    if !started {
        // Cancelled before it started.
        return msg.publish(ECANCELED);
    }
    if args(&msg).pollable {
        // Arming or publishing may free the message, and its identity with it, before the
        // credentials are put back: run under a counted copy.
        let id = args(&msg).identity.clone();
        return id.run(|| poll_run(msg));
    }
    let r = args(&msg).identity.run(|| execute(&msg, false));
    if !glue::is_restart(r) {
        return msg.publish(r);
    }
    // Interrupted by a group stop (a worker takes no other signal but `SIGKILL`): the system call
    // would restart once the process continues, and so does the message, after its worker took
    // part in the stop. A kill or an abort ends it instead.
    // SAFETY: the message holds a reference on its session.
    if glue::fatal_signal_pending() || unsafe { (*msg.session()).is_dead() } {
        return msg.publish(-i64::from(bindings::EINTR));
    }
    msg.state.store(state::QUEUED, Ordering::Release);
    queue(msg);
}

/// A wake-up of wait entry `idx`.
///
/// # Safety
///
/// `entry` is wait entry `idx` of an armed message; called with its wait queue's lock held.
unsafe fn wake(entry: *mut bindings::wait_queue_entry, idx: usize, key: *mut c_void) -> c_int {
    // SAFETY: the entry belongs to a message that stays allocated while any of its entries is
    // queued (the owner removes them before publishing).
    let m = unsafe { &*Message::from_wait(entry, idx) };
    // SAFETY: a wake key is null or a poll mask.
    let ev = unsafe { glue::sysmsg_wake_key_events(key) };
    if ev & glue::POLLFREE != 0 {
        // The wait queue is going away: leave it now (its lock is held).
        // SAFETY: `entry` is queued on the head being woken.
        unsafe { glue::sysmsg_wait_entry_detach(entry) };
    } else if ev & (events(m) | bindings::POLLERR | bindings::POLLHUP) == 0 {
        return 0;
    }
    if m.state
        .compare_exchange(
            state::ARMED,
            state::FIRED,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok()
    {
        // SAFETY: the exchange made us the owner; the worker takes over.
        queue(unsafe { MsgPtr::from_raw(m.as_raw()) });
        return 1;
    }
    let _ = m.state.compare_exchange(
        state::ARMING,
        state::FIRED_ARMING,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    0
}

/// Wake function of wait entry 0.
///
/// # Safety
///
/// See [`wake`].
unsafe extern "C" fn wake0(
    entry: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _flags: c_int,
    key: *mut c_void,
) -> c_int {
    // SAFETY: per this function's requirements.
    unsafe { wake(entry, 0, key) }
}

/// Wake function of wait entry 1.
///
/// # Safety
///
/// See [`wake`].
unsafe extern "C" fn wake1(
    entry: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _flags: c_int,
    key: *mut c_void,
) -> c_int {
    // SAFETY: per this function's requirements.
    unsafe { wake(entry, 1, key) }
}

/// Cancellation: takes a message that waits on a file (removing its wait entries). A `QUEUED`
/// message is only marked: its worker publishes it as cancelled without running it. Running
/// operations finish.
pub(crate) fn cancel(m: &Message) -> Cancel {
    if m.state
        .compare_exchange(
            state::ARMED,
            state::CANCELLED,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok()
    {
        // SAFETY: `exec.file` is live; after this no wake callback of ours runs.
        unsafe { glue::sysmsg_poll_disarm(m.exec.file.waits.get().cast()) };
        // SAFETY: the exchange made us the owner.
        return Cancel::Taken(unsafe { MsgPtr::from_raw(m.as_raw()) });
    }
    // Queued for a worker: not started, or woken and not retried yet.
    let Some(was) = [state::QUEUED, state::FIRED].into_iter().find(|&from| {
        m.state
            .compare_exchange(from, state::CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }) else {
        return Cancel::Busy;
    };
    // SAFETY: the message holds a reference on its session, whose process holds the queue;
    // `exec.file.ready` is live and, if queued, queued for that process.
    let removed = unsafe {
        let session = &*m.session();
        session
            .dispatcher()
            .remove(session.process().ready(), m.exec.file.ready.get())
    };
    if !removed {
        // A worker took it (or its waker is about to queue it) and will find it cancelled.
        return Cancel::Marked;
    }
    if was == state::FIRED {
        // SAFETY: `exec.file` is live; the wake callback that fired it is done with it.
        unsafe { glue::sysmsg_poll_disarm(m.exec.file.waits.get().cast()) };
    }
    // SAFETY: off the queue before a worker took it: ours.
    Cancel::Taken(unsafe { MsgPtr::from_raw(m.as_raw()) })
}

/// Writeback of a read: copies the data to the buffer named at submit, in the submitting address
/// space only. Returns the reply's result.
pub(crate) fn writeback(m: &Message, result: i64) -> i64 {
    let a = args(m);
    if a.kind != FileKind::Read || result <= 0 {
        return result;
    }
    match &a.mm {
        Some(mm) if mm.is_current() => {}
        _ => return EFAULT.to_errno().into(),
    }
    // SAFETY: the reaper owns the message.
    let buf = unsafe { &*a.buf.get() };
    let n = (result as usize).min(buf.len());
    match UserSlice::new(UserPtr::from_addr(a.user as usize), n)
        .writer()
        .write_slice(&buf[..n])
    {
        Ok(()) => result,
        Err(e) => e.to_errno().into(),
    }
}
