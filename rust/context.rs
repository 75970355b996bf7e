// SPDX-License-Identifier: GPL-2.0

//! The device-wide state: what every open file of `/dev/sysmsg` shares.

use crate::{dispatch::Dispatcher, process::Registry, sysctl::SysctlInt, wait::WaitHead};
use kernel::{prelude::*, static_lock_class, sync::Arc};

/// How many messages may execute on kernel workers at once, by default.
pub(crate) const DEFAULT_MAX_WORKERS: u32 = 4;

/// `kernel.sysmsg.max_workers`: the most kernel workers executing messages at once (1 ..= 512).
/// A higher value takes effect at the next message queued for a worker, a lower one as workers
/// find nothing to run.
pub(crate) static MAX_WORKERS: SysctlInt = SysctlInt::new(DEFAULT_MAX_WORKERS as i32, 1, 512);

/// The state shared by every file of the device, owned by the module.
#[pin_data]
pub(crate) struct Context {
    /// Every process using sysmsg.
    #[pin]
    pub(crate) processes: Registry,
    /// The kernel workers that execute messages, and the order they take them in.
    #[pin]
    pub(crate) dispatcher: Dispatcher,
    /// Woken when a process may submit again (it left its throttle, or the total left
    /// `max_total`): blocking submitters and `poll` wait here.
    #[pin]
    pub(crate) room: WaitHead,
}

impl Context {
    /// Creates the device-wide state.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                processes <- Registry::new(),
                dispatcher <- Dispatcher::new(c"sysmsg"),
                room <- WaitHead::new(c"sysmsg::Context::room", static_lock_class!()),
            }),
            GFP_KERNEL,
        )
    }
}
