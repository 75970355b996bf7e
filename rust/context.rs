// SPDX-License-Identifier: GPL-2.0

//! The device-wide state: what every open file of `/dev/sysmsg` shares.

use crate::{process::Registry, sysctl::SysctlInt, wait::WaitHead, workqueue::OwnedQueue};
use core::sync::atomic::{AtomicI32, Ordering};
use kernel::{prelude::*, static_lock_class, sync::Arc};

/// How many messages may execute on kernel workers at once, by default.
pub(crate) const DEFAULT_MAX_WORKERS: u32 = 4;

/// `kernel.sysmsg.max_workers`: the most kernel workers executing messages at once (1 ..= 512).
/// A new value takes effect at the next submit.
pub(crate) static MAX_WORKERS: SysctlInt = SysctlInt::new(DEFAULT_MAX_WORKERS as i32, 1, 512);

/// The state shared by every file of the device, owned by the module.
#[pin_data]
pub(crate) struct Context {
    /// Every process using sysmsg.
    #[pin]
    pub(crate) processes: Registry,
    /// The bounded pool of kernel workers that execute messages.
    pub(crate) workers: OwnedQueue,
    /// Woken when a process may submit again (it left its throttle, or the total left
    /// `max_total`): blocking submitters and `poll` wait here.
    #[pin]
    pub(crate) room: WaitHead,
    /// The `max_workers` value the workqueue was last set to.
    applied_workers: AtomicI32,
}

impl Context {
    /// Creates the device-wide state.
    pub(crate) fn new() -> Result<Arc<Self>> {
        let max = MAX_WORKERS.get();
        Arc::pin_init(
            try_pin_init!(Self {
                processes <- Registry::new(),
                workers: OwnedQueue::new(c"sysmsg", max as u32)?,
                room <- WaitHead::new(c"sysmsg::Context::room", static_lock_class!()),
                applied_workers: AtomicI32::new(max),
            }),
            GFP_KERNEL,
        )
    }

    /// Applies a changed `kernel.sysmsg.max_workers` to the workqueue (process context only).
    pub(crate) fn apply_max_workers(&self) {
        let want = MAX_WORKERS.get();
        if self.applied_workers.swap(want, Ordering::Relaxed) != want {
            self.workers.set_max_active(want as u32);
        }
    }
}
