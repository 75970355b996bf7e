// SPDX-License-Identifier: GPL-2.0

//! One system-call message in flight: its memory, its life cycle and its owner.
//!
//! A message is one `kmalloc` allocation (at most 256 bytes, asserted at build time) from the
//! copyin phase until its reply is reaped. Exactly one party *owns* it at any time, and only the
//! owner may change anything but its atomic `state`:
//!
//! 1. the submitter, during copyin and while starting execution;
//! 2. then the executor — an hrtimer callback, a wait-queue callback, a worker — which takes
//!    ownership through a compare-and-swap of `state`, so that a cancellation and an execution
//!    can never both proceed;
//! 3. then the session's reply queue ([`Message::publish`]);
//! 4. then the reaper, who writes the results back and frees it ([`Message::free`]).
//!
//! Op-specific state lives in a union (the hrtimer of a sleep overlaps the work item and wait
//! entries of a file operation) and an enum, so no message carries the state of every operation.

use crate::{
    glue::MmRef,
    identity::Identity,
    priority::ReadyLinks,
    queue::{Link, Linked},
    session::Session,
};
use core::{
    cell::UnsafeCell,
    mem::ManuallyDrop,
    ptr::NonNull,
    sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering},
};
use kernel::{
    alloc::KVVec,
    bindings,
    fs::File,
    prelude::*,
    sync::{aref::ARef, Arc, ArcBorrow},
    types::Opaque,
};

/// The result of a message stopped by a cancellation: `-ECANCELED`.
pub(crate) const ECANCELED: i64 = -(bindings::ECANCELED as i64);

/// The states of a message (`Message::state`).
pub(crate) mod state {
    /// Being set up or executed by its current owner.
    pub(crate) const RUNNING: u32 = 0;
    /// Queued on the workqueue, not started.
    pub(crate) const QUEUED: u32 = 1;
    /// A sleep whose timer is armed.
    pub(crate) const SLEEPING: u32 = 2;
    /// Being added to a file's wait queues by its owner.
    pub(crate) const ARMING: u32 = 3;
    /// Waiting on a file's wait queues; the wake callback may take it.
    pub(crate) const ARMED: u32 = 4;
    /// Taken by a wake callback; a worker will run it.
    pub(crate) const FIRED: u32 = 5;
    /// Woken while its owner was still arming it: the owner retries.
    pub(crate) const FIRED_ARMING: u32 = 6;
    /// Taken by a cancellation.
    pub(crate) const CANCELLED: u32 = 7;
    /// Completed; on the reply queue or being reaped.
    pub(crate) const DONE: u32 = 8;
}

/// The execution state a message needs only while it executes: the hrtimer of a sleep or the
/// ready-queue links and wait entries of a file operation, overlapped.
#[repr(C)]
pub(crate) union Exec {
    /// `NANOSLEEP`.
    pub(crate) timer: ManuallyDrop<Opaque<bindings::hrtimer>>,
    /// `READ` ... `FDATASYNC`.
    pub(crate) file: ManuallyDrop<FileExec>,
}

/// The execution state of a file operation.
#[repr(C)]
pub(crate) struct FileExec {
    /// Its place in its process's queue of messages ready for a worker (`dispatch`), protected
    /// by the dispatcher's lock.
    pub(crate) ready: UnsafeCell<ReadyLinks>,
    /// Waits for the file to become ready (a file may register two wait queues).
    pub(crate) waits: Opaque<[bindings::wait_queue_entry; 2]>,
}

/// What a file operation does.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `READ`/`PREAD`.
    Read,
    /// `WRITE`/`PWRITE`.
    Write,
    /// `FSYNC` (`false`) / `FDATASYNC` (`true`).
    Sync(bool),
}

/// The copied-in arguments of a file operation.
pub(crate) struct FileArgs {
    /// The file, referenced at copyin.
    pub(crate) file: ARef<File>,
    /// The operation.
    pub(crate) kind: FileKind,
    /// Can be polled and supports non-blocking I/O: waits on the file, not on a worker.
    pub(crate) pollable: bool,
    /// The file is `O_NONBLOCK`: an operation that would block completes with `EAGAIN`.
    pub(crate) nonblock: bool,
    /// `offset` is used (`PREAD`/`PWRITE`); otherwise the file position is.
    pub(crate) has_offset: bool,
    /// The offset of `PREAD`/`PWRITE`.
    pub(crate) offset: i64,
    /// Its priority level while it waits for a worker (`priority::level`).
    pub(crate) level: u8,
    /// The user buffer of a read.
    pub(crate) user: u64,
    /// The length to read or write (at most `SYSMSG_MAX_IO_LEN`).
    pub(crate) len: u32,
    /// The data: of a write from copyin on, of a read from execution on. Only the owner touches it.
    pub(crate) buf: UnsafeCell<KVVec<u8>>,
    /// The address space a read's data may be written back to.
    pub(crate) mm: Option<MmRef>,
    /// Who it executes as on a worker.
    pub(crate) identity: Identity,
}

/// The copied-in arguments of a message.
pub(crate) enum Args {
    /// `NOP`.
    Nop,
    /// `NANOSLEEP`: the expiry in `CLOCK_MONOTONIC` nanoseconds, absolute or relative.
    Sleep {
        /// Nanoseconds.
        ns: i64,
        /// Absolute time.
        abs: bool,
    },
    /// `READ` ... `FDATASYNC`.
    File(FileArgs),
}

/// Links of the session's registry of cancellable messages, protected by its lock.
pub(crate) struct RegLinks {
    /// The previous message, or null.
    pub(crate) prev: *mut Message,
    /// The next message, or null.
    pub(crate) next: *mut Message,
}

/// One message in flight.
///
/// # Invariants
///
/// - `session` is a reference (`Arc::into_raw`) on the session the message was submitted to, given
///   back when the message is freed: a session lives as long as any of its messages, also after
///   its file was closed and its process exited (an operation still executing on a worker).
/// - `exec.timer` is the live union field if `args` is `Args::Sleep`, `exec.file` if it is
///   `Args::File`.
pub(crate) struct Message {
    link: Link,
    /// Links in the session's registry (protected by the registry's lock).
    pub(crate) reg: UnsafeCell<RegLinks>,
    session: NonNull<Session>,
    /// The user's tag.
    pub(crate) tag: u64,
    /// The result: set by the executor before publishing, by writeback after.
    result: AtomicI64,
    /// One of [`state`]'s values.
    pub(crate) state: AtomicU32,
    /// The opcode.
    pub(crate) opcode: u8,
    /// Writeback has been done (a reply that could not be stored is delivered again).
    written_back: AtomicBool,
    /// In the session's registry. Changed only under the registry's lock; read without it by
    /// [`MsgPtr::free`], so that freeing a message that is in no registry takes no lock.
    pub(crate) registered: AtomicBool,
    /// Execution state.
    pub(crate) exec: Exec,
    /// Copied-in arguments.
    pub(crate) args: Args,
}

// SAFETY: a message is handed between contexts by its single owner; shared fields are atomics.
unsafe impl Send for Message {}
// SAFETY: concurrent access (cancel vs. execute) goes through the atomic `state`.
unsafe impl Sync for Message {}

// The seeds' figure: 100,000 messages in flight in about 25 MB.
/// The memory budget of one message: the seeds' 256 bytes.
pub(crate) const MESSAGE_BUDGET: usize = 256;

// The seeds' figure: 100,000 messages in flight in about 25 MB.
const _: () = assert!(core::mem::size_of::<Message>() <= MESSAGE_BUDGET);

// SAFETY: `link` is a field of `Message`; `from_link` subtracts its offset.
unsafe impl Linked for Message {
    fn link(this: *const Self) -> *const Link {
        // SAFETY: only computes a field address.
        unsafe { &raw const (*this).link }
    }

    unsafe fn from_link(link: *const Link) -> *mut Self {
        // SAFETY: per the safety requirements `link` is the `link` field of a `Message`.
        unsafe {
            link.byte_sub(core::mem::offset_of!(Message, link))
                .cast::<Message>()
                .cast_mut()
        }
    }
}

/// Ownership of a [`Message`]: see the module documentation.
///
/// # Invariants
///
/// `0` came from `KBox::into_raw` and is owned by the holder of this value.
pub(crate) struct MsgPtr(NonNull<Message>);

impl MsgPtr {
    /// Allocates a message of `session` with its arguments; the execution state is uninitialised.
    pub(crate) fn new(session: &Arc<Session>, tag: u64, opcode: u8, args: Args) -> Result<Self> {
        let exec = Exec {
            timer: ManuallyDrop::new(Opaque::uninit()),
        };
        let msg = KBox::new(
            Message {
                link: Link::new(),
                reg: UnsafeCell::new(RegLinks {
                    prev: core::ptr::null_mut(),
                    next: core::ptr::null_mut(),
                }),
                session: NonNull::dangling(),
                tag,
                result: AtomicI64::new(0),
                state: AtomicU32::new(state::RUNNING),
                opcode,
                written_back: AtomicBool::new(false),
                registered: AtomicBool::new(false),
                exec,
                args,
            },
            GFP_KERNEL,
        )?;
        let msg = KBox::leak(msg);
        // INVARIANT: the message holds its own reference on the session.
        // SAFETY: `Arc::into_raw` never returns null.
        msg.session = unsafe { NonNull::new_unchecked(Arc::into_raw(session.clone()).cast_mut()) };
        // INVARIANT: a fresh allocation, owned by the new value.
        Ok(Self(NonNull::from(msg)))
    }

    /// Takes ownership of a message from its raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`MsgPtr::into_raw`] and the caller must have become its owner (by
    /// the state protocol, or by popping it from the reply queue).
    pub(crate) unsafe fn from_raw(ptr: *mut Message) -> Self {
        // SAFETY: per the safety requirements `ptr` is a non-null message.
        // INVARIANT: the caller owns it.
        Self(unsafe { NonNull::new_unchecked(ptr) })
    }

    /// Gives up ownership; the message lives on until `from_raw` and [`MsgPtr::free`].
    pub(crate) fn into_raw(self) -> *mut Message {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }

    /// Sets the result and hands the message to its session's reply queue; once the session was
    /// aborted and drained, nobody will reap it, and the message is freed instead.
    pub(crate) fn publish(self, result: i64) {
        self.result.store(result, Ordering::Relaxed);
        self.state.store(state::DONE, Ordering::Release);
        let session = self.session();
        // SAFETY: the pointer is valid and, after this, owned by the queue until popped.
        // The message holds a reference on its session (type invariant of `Message`).
        if let Some(orphan) = unsafe { (*session).publish(self.into_raw()) } {
            orphan.free();
        }
    }

    /// Frees the message and its slot in the session's queue, and gives back its reference on
    /// the session (the last one frees the session).
    ///
    /// Takes no lock unless the message is registered; an aborted session has no registered
    /// message, which is what lets a timer callback free one (see `Session::abort`).
    pub(crate) fn free(self) {
        self.free_inner(true);
    }

    /// Frees the message like [`MsgPtr::free`] but keeps its slot taken: the caller gives back
    /// the slots of a whole batch at once (`Session::release_slots`), and holds a reference on
    /// the session meanwhile.
    pub(crate) fn free_keep_slot(self) {
        self.free_inner(false);
    }

    fn free_inner(self, release: bool) {
        // SAFETY: the message holds a reference on its session (type invariant of `Message`),
        // which is ours now: we own the message.
        let session = unsafe { Arc::from_raw(self.session()) };
        if self.registered.load(Ordering::Acquire) {
            session.unregister(&self);
        }
        // SAFETY: we own the allocation (type invariant), which came from `KBox::leak`.
        drop(unsafe { KBox::from_raw(self.into_raw()) });
        if release {
            session.release_slots(1);
        }
        drop(session);
    }
}

impl core::ops::Deref for MsgPtr {
    type Target = Message;

    fn deref(&self) -> &Message {
        // SAFETY: the holder owns a live message (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl Drop for MsgPtr {
    /// A message must be published or freed; dropping one frees it (a copyin error path).
    fn drop(&mut self) {
        let p = MsgPtr(self.0);
        p.free();
    }
}

impl Message {
    /// The message as a raw pointer, for lists and ownership transfers.
    pub(crate) fn as_raw(&self) -> *mut Message {
        core::ptr::from_ref(self).cast_mut()
    }

    /// The session the message belongs to.
    pub(crate) fn session(&self) -> *const Session {
        self.session.as_ptr()
    }

    /// A new reference on the session, for a caller that is about to hand the message over and
    /// still needs the session after that.
    pub(crate) fn session_ref(&self) -> Arc<Session> {
        // SAFETY: the message holds a reference (type invariant), so the count is non-zero while
        // we borrow it; the borrow is turned into a reference of our own at once.
        unsafe { ArcBorrow::from_raw(self.session()) }.into()
    }

    /// The result.
    pub(crate) fn result(&self) -> i64 {
        self.result.load(Ordering::Relaxed)
    }

    /// Whether writeback was done (a reply that could not be stored is delivered again).
    pub(crate) fn written_back(&self) -> bool {
        self.written_back.load(Ordering::Relaxed)
    }

    /// Records the result of writeback.
    pub(crate) fn set_written_back(&self, result: i64) {
        self.result.store(result, Ordering::Relaxed);
        self.written_back.store(true, Ordering::Relaxed);
    }

    /// Finds the message around its hrtimer.
    ///
    /// # Safety
    ///
    /// `timer` must be the `exec.timer` of a live message.
    pub(crate) unsafe fn from_timer(timer: *mut bindings::hrtimer) -> *mut Message {
        // SAFETY: union fields and `Opaque`/`ManuallyDrop` wrappers start at the union's address.
        unsafe { timer.byte_sub(core::mem::offset_of!(Message, exec)).cast() }
    }

    /// Finds the message around its ready-queue links.
    ///
    /// # Safety
    ///
    /// `ready` must be the `exec.file.ready` of a live message.
    pub(crate) unsafe fn from_ready(ready: *mut ReadyLinks) -> *mut Message {
        let off = core::mem::offset_of!(Message, exec) + core::mem::offset_of!(FileExec, ready);
        // SAFETY: per the safety requirements.
        unsafe { ready.byte_sub(off).cast() }
    }

    /// Finds the message around its wait entry number `idx` (0 or 1).
    ///
    /// # Safety
    ///
    /// `entry` must be entry `idx` of the `exec.file.waits` of a live message.
    pub(crate) unsafe fn from_wait(
        entry: *mut bindings::wait_queue_entry,
        idx: usize,
    ) -> *mut Message {
        let off = core::mem::offset_of!(Message, exec)
            + core::mem::offset_of!(FileExec, waits)
            + idx * core::mem::size_of::<bindings::wait_queue_entry>();
        // SAFETY: per the safety requirements.
        unsafe { entry.byte_sub(off).cast() }
    }
}
