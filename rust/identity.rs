// SPDX-License-Identifier: GPL-2.0

//! Execution identity: what a message executes as.
//!
//! A message that needs a thread executes on a worker that is a thread of the submitting process
//! (`pool`), so most of what the kernel decides from `current` is the process's by
//! construction: its address space, its file-system context (root, cwd, umask: `CLONE_FS`), its
//! resource limits and signal state (`CLONE_THREAD` shares `signal_struct`), its namespaces, its
//! thread group (what fsnotify, audit and `/proc` attribute the work to) and its accounting.
//!
//! Two things a thread does not share, and this file supplies:
//!
//! - **Subjective credentials**, captured at copyin and installed around execution (io_uring
//!   does the same with `req->creds`). A worker's own credentials are those of the thread that
//!   created it; a process that changes its credentials after submitting (`setuid()`,
//!   `capset()`) does not change what its in-flight messages may do, and a message submitted
//!   after the change runs with the new credentials. Every permission check, LSM hook and
//!   capability test during execution (`file_remove_privs()`, `security_file_permission()`,
//!   `capable()`) sees them.
//! - **Signals the kernel sends to `current`** during the operation (`SIGPIPE` from a write to a
//!   pipe or socket without a reader, `SIGXFSZ` past `RLIMIT_FSIZE`). A worker blocks every
//!   signal but `SIGKILL` and `SIGSTOP`, so such a signal stays pending on the worker; after the
//!   operation the worker takes it off and sends it to the submitting thread, as `write(2)`
//!   would have. A disposition of `SIG_IGN` discards it there, as it would for `write(2)`.

use crate::glue;
use core::ptr::NonNull;
use kernel::{cred::Credential, sync::aref::ARef, task::Task};

/// The identity of the thread that submitted a message.
#[derive(Clone)]
pub(crate) struct Identity {
    /// Its subjective credentials at submit.
    cred: ARef<Credential>,
    /// The submitting thread: where signals raised by the operation go.
    submitter: ARef<Task>,
}

impl Identity {
    /// The calling thread's identity.
    pub(crate) fn capture() -> Self {
        // SAFETY: `get_current_cred()` returns a counted reference, never null; `ARef` owns it
        // from here on.
        let cred = unsafe {
            ARef::from_raw(NonNull::new_unchecked(
                glue::sysmsg_get_current_cred()
                    .cast_mut()
                    .cast::<Credential>(),
            ))
        };
        let task: &Task = kernel::current!();
        Self {
            cred,
            submitter: task.into(),
        }
    }

    /// Executes `f` as the submitter, on a worker: with its credentials, then hands on the
    /// signals the operation raised (see the module documentation). `self` must outlive the
    /// call: `f` must not free what holds it.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let mine = self.cred.as_ptr();
        // SAFETY: only reads the calling thread's subjective credentials pointer.
        let old = unsafe { glue::sysmsg_swap_creds(mine) };
        let r = f();
        // SAFETY: puts back what the swap above replaced; `self.cred` outlived its use, as
        // `override_creds()`/`revert_creds()` require.
        unsafe { glue::sysmsg_swap_creds(old) };
        // SAFETY: touches the calling thread's own pending signals; `submitter` is a counted
        // task reference (a task that already exited drops the signal).
        unsafe { glue::sysmsg_forward_thread_signals(self.submitter.as_ptr()) };
        r
    }
}
