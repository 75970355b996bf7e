// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over `sysmsg_glue.c`, the C side of the module.
//!
//! Some kernel interfaces sysmsg needs are static inline functions or macros in C (`vfs_poll`,
//! `init_sync_kiocb`, `mmgrab`, `access_ok`, `get_current_cred`, ...), and some need fields
//! of `struct file` and `struct task_struct`, which sysmsg reads through the C compiler's view of
//! those structures rather than bindgen's (see "Things we learned" in `README.md`). The C file
//! wraps each in a small exported-to-Rust function; this file declares them and wraps each again
//! in a safe function or type. Nothing else in the crate calls them.

use core::{
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    bindings,
    ffi::{c_int, c_uint, c_ulong, c_void},
    fs::File,
    prelude::*,
};

mod ffi {
    use super::*;

    // `struct file` and `struct mm_struct` only travel as opaque pointers here; the lint is about
    // zero-sized members bindgen generates deep inside them.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(crate) fn sysmsg_file_check(file: *mut bindings::file, need: c_uint) -> c_int;
        pub(crate) fn sysmsg_file_rw(
            file: *mut bindings::file,
            buf: *mut c_void,
            len: usize,
            pos: *mut bindings::loff_t,
            write: bool,
            nowait: bool,
        ) -> isize;
        pub(crate) fn sysmsg_file_sync(file: *mut bindings::file, datasync: bool) -> c_int;
        pub(crate) fn sysmsg_wait_entry_init(
            entries: *mut bindings::wait_queue_entry,
            func0: bindings::wait_queue_func_t,
            func1: bindings::wait_queue_func_t,
        );
        pub(crate) fn sysmsg_poll_arm(
            file: *mut bindings::file,
            entries: *mut bindings::wait_queue_entry,
            events: c_uint,
        ) -> c_uint;
        pub(crate) fn sysmsg_poll_disarm(entries: *mut bindings::wait_queue_entry);
        pub(crate) fn sysmsg_wait_entry_detach(entry: *mut bindings::wait_queue_entry);
        pub(crate) fn sysmsg_wake_key_events(key: *mut c_void) -> c_uint;
        pub(crate) fn sysmsg_current_mm_grab() -> *mut bindings::mm_struct;
        pub(crate) fn sysmsg_current_mm_is(mm: *mut bindings::mm_struct) -> bool;
        pub(crate) fn sysmsg_mm_drop(mm: *mut bindings::mm_struct);
        pub(crate) fn sysmsg_wq_lock(wq: *mut bindings::wait_queue_head) -> c_ulong;
        pub(crate) fn sysmsg_wq_unlock_wake(
            wq: *mut bindings::wait_queue_head,
            flags: c_ulong,
            events: c_uint,
        );
        pub(crate) fn sysmsg_wq_wake(wq: *mut bindings::wait_queue_head, events: c_uint);
        pub(crate) fn sysmsg_wq_wake_sleepers(wq: *mut bindings::wait_queue_head, events: c_uint);
        pub(crate) fn sysmsg_copy_words_in(
            dst: *mut u64,
            src: *const c_void,
            words: c_ulong,
        ) -> c_int;
        pub(crate) fn sysmsg_copy_words_out(
            dst: *mut c_void,
            src: *const u64,
            words: c_ulong,
        ) -> c_int;
        pub(crate) fn sysmsg_hrtimer_start(timer: *mut bindings::hrtimer, ns: i64, abs: bool);
        pub(crate) fn sysmsg_access_ok(addr: c_ulong, len: c_ulong) -> bool;
        pub(crate) fn sysmsg_cond_resched();
        pub(crate) fn sysmsg_limits_target(vpid: i32) -> c_int;
        pub(crate) fn sysmsg_tgid_vnr(tgid: i32) -> i32;
        pub(crate) fn sysmsg_capable_sys_resource() -> bool;
        pub(crate) fn sysmsg_module_get();
        pub(crate) fn sysmsg_module_put();
        pub(crate) fn sysmsg_current_holds(file: *mut bindings::file) -> c_int;
        pub(crate) fn sysmsg_may_open_restricted(gid: c_int) -> bool;
        pub(crate) fn sysmsg_spin_lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong;
        pub(crate) fn sysmsg_spin_unlock_irqrestore(
            lock: *mut bindings::spinlock_t,
            flags: c_ulong,
        );
        pub(crate) fn sysmsg_get_current_cred() -> *const bindings::cred;
        pub(crate) fn sysmsg_swap_creds(cred: *const bindings::cred) -> *const bindings::cred;
        pub(crate) fn sysmsg_forward_thread_signals(to: *mut bindings::task_struct);
        pub(crate) fn sysmsg_fatal_signal_pending() -> bool;
        pub(crate) fn sysmsg_set_running();
    }
}

pub(crate) use ffi::*;

/// `POLLFREE`: the wait queue being woken is about to be freed (a `__force` cast in C, so
/// bindgen cannot see it).
pub(crate) const POLLFREE: u32 = 0x4000;

/// What a message needs of its file (the `SYSMSG_NEED_*` bits of the C side).
pub(crate) mod need {
    /// Open for reading.
    pub(crate) const READ: u32 = 1;
    /// Open for writing.
    pub(crate) const WRITE: u32 = 2;
    /// Has offsets (`pread`/`pwrite`).
    pub(crate) const OFFSET: u32 = 4;
}

/// Converts a C return value (`0` or `-errno`) into a `Result`.
fn to_result(ret: c_int) -> Result {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

/// Converts a C return value (`>= 0` or `-errno`) into a `Result`.
fn to_result_isize(ret: isize) -> Result<usize> {
    if ret < 0 {
        Err(Error::from_errno(ret as i32))
    } else {
        Ok(ret as usize)
    }
}

/// What [`file_check`] found out about a file.
pub(crate) struct FileCaps {
    /// It can be polled and supports `IOCB_NOWAIT`.
    pub(crate) pollable: bool,
    /// It was opened `O_NONBLOCK`.
    pub(crate) nonblock: bool,
}

/// Checks that `file` may be used as `need` says (`EBADF`, `ESPIPE` as the syscalls).
pub(crate) fn file_check(file: &File, need: u32) -> Result<FileCaps> {
    // SAFETY: `file` is a valid, referenced file for the duration of the call.
    let r = unsafe { sysmsg_file_check(file.as_ptr(), need) };
    to_result_isize(r as isize).map(|bits| FileCaps {
        pollable: bits & 1 != 0,
        nonblock: bits & 2 != 0,
    })
}

/// Reads from `file` into `buf` (`read`/`pread` semantics); `pos` is the offset, or `None` for
/// the file position. With `nowait`, fails with `EAGAIN` rather than block.
pub(crate) fn file_read(
    file: &File,
    buf: &mut [core::mem::MaybeUninit<u8>],
    pos: Option<i64>,
    nowait: bool,
) -> Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    unsafe { file_rw(file, buf.as_mut_ptr().cast(), buf.len(), pos, false, nowait) }
}

/// Writes `buf` to `file` (`write`/`pwrite` semantics); see [`file_read`].
pub(crate) fn file_write(file: &File, buf: &[u8], pos: Option<i64>, nowait: bool) -> Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes, and a write only reads through it.
    unsafe {
        file_rw(
            file,
            buf.as_ptr().cast_mut().cast(),
            buf.len(),
            pos,
            true,
            nowait,
        )
    }
}

/// `sysmsg_file_rw()`.
///
/// # Safety
///
/// `buf` must be valid for writes (a read) or reads (a write) of `len` bytes.
unsafe fn file_rw(
    file: &File,
    buf: *mut c_void,
    len: usize,
    pos: Option<i64>,
    write: bool,
    nowait: bool,
) -> Result<usize> {
    let mut off = pos.unwrap_or(0);
    let posp = if pos.is_some() {
        &raw mut off
    } else {
        core::ptr::null_mut()
    };
    // SAFETY: `file` is referenced; `buf` per the safety requirements; `posp` is null or points
    // to a live local.
    to_result_isize(unsafe { sysmsg_file_rw(file.as_ptr(), buf, len, posp, write, nowait) })
}

/// `fsync(2)` / `fdatasync(2)` of `file`.
pub(crate) fn file_sync(file: &File, datasync: bool) -> Result {
    // SAFETY: `file` is a valid, referenced file.
    let r = unsafe { sysmsg_file_sync(file.as_ptr(), datasync) };
    to_result_isize(r as isize).map(|_| ())
}

/// Copies `dst.len()` 8-byte words from the user address `src`, a word at a time inside one
/// user-access window (see `uarray`); fails with `EFAULT` (`dst` may then be partly written).
pub(crate) fn copy_words_in(dst: &mut [u64], src: usize) -> Result {
    // SAFETY: `dst` is valid for writes of `dst.len()` words; the user address is checked by
    // `user_access_begin()` and every access is a fault-handled user access.
    let r = unsafe {
        sysmsg_copy_words_in(dst.as_mut_ptr(), src as *const c_void, dst.len() as c_ulong)
    };
    to_result(r)
}

/// Copies `src` to the user address `dst` a word at a time; fails with `EFAULT` (part of it
/// may then have been written).
pub(crate) fn copy_words_out(dst: usize, src: &[u64]) -> Result {
    // SAFETY: `src` is valid for reads of `src.len()` words; the user address is checked as in
    // `copy_words_in`.
    let r =
        unsafe { sysmsg_copy_words_out(dst as *mut c_void, src.as_ptr(), src.len() as c_ulong) };
    to_result(r)
}

/// `cond_resched()`: lets other tasks run during a long loop in process context.
pub(crate) fn cond_resched() {
    // SAFETY: called from process context without spinlocks held (callers' contract).
    unsafe { sysmsg_cond_resched() }
}

/// The thread group id (initial namespace) of the process `vpid` names in the caller's pid
/// namespace (0: the caller's own), if the caller has `prlimit(2)`'s rights over it: `ESRCH`,
/// `EPERM` otherwise.
pub(crate) fn limits_target(vpid: i32) -> Result<i32> {
    // SAFETY: no preconditions; process context.
    let r = unsafe { sysmsg_limits_target(vpid) };
    to_result_isize(r as isize).map(|t| t as i32)
}

/// The pid in the caller's pid namespace of the process with thread group id `tgid` (initial
/// namespace), or 0 if it has none there.
pub(crate) fn tgid_vnr(tgid: i32) -> i32 {
    // SAFETY: no preconditions.
    unsafe { sysmsg_tgid_vnr(tgid) }
}

/// `capable(CAP_SYS_RESOURCE)`.
pub(crate) fn capable_sys_resource() -> bool {
    // SAFETY: no preconditions; process context.
    unsafe { sysmsg_capable_sys_resource() }
}

/// Whether `addr..addr + len` lies in user address space (`access_ok`).
pub(crate) fn access_ok(addr: u64, len: u64) -> bool {
    // SAFETY: `access_ok` only compares numbers.
    unsafe { sysmsg_access_ok(addr as c_ulong, len as c_ulong) }
}

/// A reference (`mmgrab`) on an address space, used only to recognise it again: the writeback of
/// a read goes only to the address space that submitted it.
///
/// # Invariants
///
/// `0` holds one `mmgrab` reference, dropped in [`Drop`].
pub(crate) struct MmRef(NonNull<bindings::mm_struct>);

// SAFETY: an `mm_struct` reference may be dropped on any thread; `MmRef` is only compared.
unsafe impl Send for MmRef {}
// SAFETY: as above; no `&self` method dereferences the pointer.
unsafe impl Sync for MmRef {}

impl MmRef {
    /// The calling task's address space, or `None` for a kernel thread.
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: no preconditions; a non-null result carries a reference.
        // INVARIANT: the reference is ours.
        NonNull::new(unsafe { sysmsg_current_mm_grab() }).map(Self)
    }

    /// Whether the calling task runs in this address space.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: only compares pointers; the reference keeps `self.0` from being reused.
        unsafe { sysmsg_current_mm_is(self.0.as_ptr()) }
    }
}

impl Drop for MmRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariants we hold one reference.
        unsafe { sysmsg_mm_drop(self.0.as_ptr()) };
    }
}

/// The address space a session belongs to, held (`mmgrab`) so that it is recognised again, and let
/// go explicitly when the session is aborted: a session may be freed in interrupt context (by the
/// timer that completes its last message), where `mmdrop` must not run.
///
/// # Invariants
///
/// A non-null pointer in `0` holds one `mmgrab` reference, dropped by [`MmSlot::release`] or
/// [`Drop`], whichever swaps it out first.
pub(crate) struct MmSlot(AtomicPtr<bindings::mm_struct>);

impl MmSlot {
    /// The calling task's address space (empty for a kernel thread).
    pub(crate) fn current() -> Self {
        // SAFETY: no preconditions; a non-null result carries a reference.
        // INVARIANT: the reference is ours.
        Self(AtomicPtr::new(unsafe { sysmsg_current_mm_grab() }))
    }

    /// Whether the calling task runs in this address space (never, once released, unless the
    /// caller is a kernel thread).
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: only compares pointers; while held, the reference keeps the pointer from being
        // reused.
        unsafe { sysmsg_current_mm_is(self.0.load(Ordering::Acquire)) }
    }

    /// Lets the address space go. Process context.
    pub(crate) fn release(&self) {
        let mm = self.0.swap(ptr::null_mut(), Ordering::AcqRel);
        if !mm.is_null() {
            // SAFETY: the swap made the reference ours (type invariants).
            unsafe { sysmsg_mm_drop(mm) };
        }
    }
}

impl Drop for MmSlot {
    fn drop(&mut self) {
        self.release();
    }
}

/// A reference on this module: `rmmod` is refused while one exists.
///
/// # Invariants
///
/// Holds one reference taken with `__module_get`, dropped in [`Drop`]. The code that runs after
/// the drop (the rest of a work item or a timer callback) is covered by the module's exit: it
/// destroys its workqueue and waits for an RCU grace period.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference. The caller already runs with the module pinned (in a file operation or
    /// module init), as `__module_get` requires.
    pub(crate) fn new() -> Self {
        // SAFETY: the module is live and pinned by the caller (see above).
        unsafe { sysmsg_module_get() };
        // INVARIANT: taken above.
        Self(())
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariants we hold one reference.
        unsafe { sysmsg_module_put() };
    }
}

/// Whether the calling process still holds a file after one of its descriptors was closed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Holds {
    /// Another descriptor in its table refers to the file.
    Yes,
    /// It closed its last descriptor, or its last thread is exiting.
    No,
    /// A thread with a table of its own is exiting while its group lives on.
    Unknown,
}

/// See [`Holds`]; called from `->flush`.
pub(crate) fn current_holds(file: &File) -> Holds {
    // SAFETY: `file` is a live file; the caller's table is only read under its lock.
    match unsafe { sysmsg_current_holds(file.as_ptr()) } {
        1 => Holds::Yes,
        0 => Holds::No,
        _ => Holds::Unknown,
    }
}

/// With `kernel.sysmsg.enabled` = 1: whether the caller is in the group `gid` (-1: none) or has
/// `CAP_SYS_ADMIN`.
pub(crate) fn may_open_restricted(gid: i32) -> bool {
    // SAFETY: no preconditions; process context.
    unsafe { sysmsg_may_open_restricted(gid) }
}

/// Whether `r` (a negative errno) is one of the kernel's restart codes (`-ERESTARTSYS` ...
/// `-ERESTART_RESTARTBLOCK`), which a system call never returns to user space.
pub(crate) fn is_restart(r: i64) -> bool {
    (-516..=-512).contains(&r)
}

/// Whether the calling thread has a fatal signal pending.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: only reads the calling thread's own state.
    unsafe { sysmsg_fatal_signal_pending() }
}

/// Marks the calling thread running (`__set_current_state(TASK_RUNNING)`): a worker thread that
/// was about to sleep found work.
pub(crate) fn set_running() {
    // SAFETY: only changes the calling thread's own state.
    unsafe { sysmsg_set_running() };
}
