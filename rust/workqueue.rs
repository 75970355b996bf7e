// SPDX-License-Identifier: GPL-2.0

//! A workqueue owned by the module.
//!
//! The kernel crate can use the system workqueues but cannot allocate one of its own. sysmsg needs
//! its own, so that the number of kernel threads executing messages is bounded by the module's
//! `max_active` (and never grows with the number of messages), and so that unloading can wait for
//! every work item the module ever queued.
//!
//! All raw `bindings::` use for the workqueue lives in this file.

use core::{ops::Deref, ptr::NonNull};
use kernel::{bindings, prelude::*, workqueue::Queue};

/// An unbound workqueue allocated with `alloc_workqueue()` and destroyed on drop.
///
/// # Invariants
///
/// `ptr` points to a workqueue allocated by `alloc_workqueue()` that is destroyed only by this
/// object's [`Drop`].
pub(crate) struct OwnedQueue {
    ptr: NonNull<bindings::workqueue_struct>,
}

// SAFETY: a workqueue may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}
// SAFETY: queueing work on a workqueue from several threads at once is allowed.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// Allocates an unbound workqueue named `name` running at most `max_active` work items at
    /// once (1 ..= `WQ_MAX_ACTIVE`).
    pub(crate) fn new(name: &'static CStr, max_active: u32) -> Result<Self> {
        if max_active == 0 || max_active > bindings::wq_consts_WQ_MAX_ACTIVE {
            return Err(EINVAL);
        }
        // SAFETY: `"%s"` consumes exactly the one C string argument passed after it, which is
        // valid and NUL-terminated; the flags are valid `WQ_*` flags.
        let ptr = unsafe {
            bindings::alloc_workqueue_noprof(
                c"%s".as_char_ptr(),
                bindings::wq_flags_WQ_UNBOUND,
                max_active as i32,
                name.as_char_ptr(),
            )
        };
        // INVARIANT: a non-null result is a freshly allocated workqueue owned by us.
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        Ok(Self { ptr })
    }
}

impl Deref for OwnedQueue {
    type Target = Queue;

    fn deref(&self) -> &Queue {
        // SAFETY: `ptr` is a live workqueue for as long as `self` is borrowed.
        unsafe { Queue::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: by the type invariants this is the one place that destroys the workqueue.
        // `destroy_workqueue()` first drains it: every queued work item has run when it returns.
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) };
    }
}

#[kunit_tests(sysmsg_workqueue)]
mod tests {
    use super::*;
    use kernel::sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    };

    /// Dropping the queue waits for everything queued on it.
    #[test]
    fn drop_drains() -> Result {
        let q = OwnedQueue::new(c"sysmsg-kunit", 1)?;
        let done = Arc::new(Atomic::<i32>::new(0), GFP_KERNEL)?;
        for _ in 0..16 {
            let d = done.clone();
            q.try_spawn(GFP_KERNEL, move || {
                // Long enough that the work is still queued when `q` is dropped.
                kernel::time::delay::fsleep(kernel::time::Delta::from_millis(2));
                d.fetch_add(1, Relaxed);
            })?;
        }
        drop(q);
        assert_eq!(done.load(Relaxed), 16);
        Ok(())
    }

    /// Out-of-range concurrency is refused.
    #[test]
    fn bad_max_active() {
        assert_eq!(OwnedQueue::new(c"sysmsg-kunit", 0).err(), Some(EINVAL));
        assert_eq!(
            OwnedQueue::new(c"sysmsg-kunit", bindings::wq_consts_WQ_MAX_ACTIVE + 1).err(),
            Some(EINVAL)
        );
    }
}
