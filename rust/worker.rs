// SPDX-License-Identifier: GPL-2.0

//! A user worker: a kernel thread that is a thread of the process that created it.
//!
//! `vhost_task_create()` (kernel/vhost_task.c, exported to GPL modules; built with
//! `CONFIG_VHOST_TASK`) clones the calling thread with `CLONE_THREAD | CLONE_VM | CLONE_FS |
//! CLONE_SIGHAND | CLONE_UNTRACED` and no file table, as a `PF_USER_WORKER` that never returns to
//! user space: io_uring's `create_io_thread()` without the export problem. The thread shares the
//! process's address space, file-system context, resource limits, signal handlers and thread
//! group, blocks every signal but `SIGKILL` and `SIGSTOP`, is counted against `RLIMIT_NPROC`, and
//! dies with its thread group (exit, `exec`, a fatal signal).
//!
//! The thread calls [`WorkerFn::work`] in a loop (with the task state set to
//! `TASK_INTERRUPTIBLE`; it sleeps when `work` returns `false` until [`UserWorker::wake`]), and
//! [`WorkerFn::killed`] once when its thread group is killed. It exits when the [`UserWorker`] is
//! dropped, which waits for that.
//!
//! All raw use of the vhost task interface lives in this file.

use core::ptr::NonNull;
use kernel::{
    error::from_err_ptr,
    ffi::{c_char, c_void},
    prelude::*,
};

/// `struct vhost_task`, opaque.
#[repr(C)]
struct VhostTask {
    _opaque: [u8; 0],
}

extern "C" {
    fn vhost_task_create(
        func: unsafe extern "C" fn(*mut c_void) -> bool,
        handle_sigkill: unsafe extern "C" fn(*mut c_void),
        arg: *mut c_void,
        name: *const c_char,
    ) -> *mut VhostTask;
    fn vhost_task_start(vtsk: *mut VhostTask);
    fn vhost_task_wake(vtsk: *mut VhostTask);
    fn vhost_task_stop(vtsk: *mut VhostTask);
}

/// What a user worker runs.
pub(crate) trait WorkerFn: Sync {
    /// Does some work; `false` when there was none (the thread then sleeps until woken). Called
    /// with the task state `TASK_INTERRUPTIBLE`: set it running before anything that may sleep.
    fn work(&self) -> bool;
    /// The thread group is being killed: the thread exits after this returns.
    fn killed(&self);
}

/// A started user worker thread, stopped and reaped on drop.
///
/// # Invariants
///
/// `task` was returned by `vhost_task_create()` and is stopped (freed) only by [`Drop`].
pub(crate) struct UserWorker {
    task: NonNull<VhostTask>,
}

// SAFETY: a vhost task may be woken and stopped from any thread.
unsafe impl Send for UserWorker {}
// SAFETY: waking is allowed from several threads at once.
unsafe impl Sync for UserWorker {}

/// The thread function's trampoline.
///
/// # Safety
///
/// `data` is the `T` given to [`UserWorker::start`].
unsafe extern "C" fn work_trampoline<T: WorkerFn>(data: *mut c_void) -> bool {
    // SAFETY: `data` outlives the thread (see `UserWorker::start`).
    unsafe { &*data.cast::<T>() }.work()
}

/// The `SIGKILL` callback's trampoline.
///
/// # Safety
///
/// As [`work_trampoline`].
unsafe extern "C" fn killed_trampoline<T: WorkerFn>(data: *mut c_void) {
    // SAFETY: as above.
    unsafe { &*data.cast::<T>() }.killed()
}

impl UserWorker {
    /// Starts a worker thread of the calling process, named `name`, running `data`'s callbacks.
    ///
    /// # Safety
    ///
    /// `data` must stay valid until the returned worker is dropped, and the caller must be a
    /// user thread (not a kernel thread) of the process the worker is for.
    pub(crate) unsafe fn start<T: WorkerFn>(data: *const T, name: &CStr) -> Result<Self> {
        // SAFETY: the callbacks match the data's type; the name is NUL-terminated and copied.
        let task = from_err_ptr(unsafe {
            vhost_task_create(
                work_trampoline::<T>,
                killed_trampoline::<T>,
                data.cast_mut().cast(),
                name.as_char_ptr(),
            )
        })?;
        let task = NonNull::new(task).ok_or(ENOMEM)?;
        // SAFETY: created above and not started yet.
        unsafe { vhost_task_start(task.as_ptr()) };
        // INVARIANT: created above; stopped only by `Drop`.
        Ok(Self { task })
    }

    /// Wakes the thread if it sleeps. Callable from any context.
    pub(crate) fn wake(&self) {
        // SAFETY: the task lives until `Drop` (type invariants).
        unsafe { vhost_task_wake(self.task.as_ptr()) };
    }
}

impl Drop for UserWorker {
    /// Stops the thread and waits until it has left its callbacks (it may be executing one);
    /// sleeps, so process context only.
    fn drop(&mut self) {
        // SAFETY: by the type invariants this is the one place that stops the task.
        unsafe { vhost_task_stop(self.task.as_ptr()) };
    }
}
