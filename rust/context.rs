// SPDX-License-Identifier: GPL-2.0

//! The device-wide state: what every open file of `/dev/sysmsg` shares.

use crate::{process::Registry, workqueue::OwnedQueue};
use kernel::{prelude::*, sync::Arc};

/// How many messages may execute on kernel workers at once, by default.
pub(crate) const DEFAULT_MAX_WORKERS: u32 = 4;

/// The state shared by every file of the device, owned by the module.
#[pin_data]
pub(crate) struct Context {
    /// Every process using sysmsg.
    #[pin]
    pub(crate) processes: Registry,
    /// The bounded pool of kernel workers that execute messages.
    pub(crate) workers: OwnedQueue,
}

impl Context {
    /// Creates the device-wide state.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                processes <- Registry::new(),
                workers: OwnedQueue::new(c"sysmsg", DEFAULT_MAX_WORKERS)?,
            }),
            GFP_KERNEL,
        )
    }
}
