// SPDX-License-Identifier: GPL-2.0

//! sysmsg: asynchronous system-call messages.
//!
//! A process opens `/dev/sysmsg`, posts system-call messages, kernel workers execute them and the
//! process reaps one reply per message. This is the crate root: the module list, the module
//! definition and its entry points. The ABI lives in `include/uapi/linux/sysmsg.h`.

use kernel::prelude::*;

mod context;
mod file;
mod glue;
mod message;
mod miscdev;
mod ops;
mod phases;
mod process;
mod queue;
mod session;
mod sysctl;
mod uapi;
mod wait;
mod workqueue;

use context::Context;
use file::SysmsgFile;
use miscdev::MiscRegistration;
use sysctl::{Access, SysctlEntry, SysctlInt, SysctlRegistration};

module! {
    type: SysmsgModule,
    name: "sysmsg",
    authors: ["The sysmsg developers"],
    description: "Asynchronous system-call messages",
    license: "GPL",
}

/// `kernel.sysmsg.version`: the ABI version, read-only.
static VERSION: SysctlInt = SysctlInt::new(
    uapi::SYSMSG_ABI_VERSION as i32,
    uapi::SYSMSG_ABI_VERSION as i32,
    uapi::SYSMSG_ABI_VERSION as i32,
);

/// The entries of `/proc/sys/kernel/sysmsg/`.
const SYSCTLS: [SysctlEntry; 2] = [
    SysctlEntry {
        name: c"version",
        value: &VERSION,
        access: Access::ReadOnly,
    },
    SysctlEntry {
        name: c"max_workers",
        value: &context::MAX_WORKERS,
        access: Access::ReadWrite,
    },
];

/// The loaded module: the device and the sysctl directory.
///
/// The device is dropped first (fields drop in order), so no file can be opened once the sysctl
/// directory goes away; the module reference every open file holds keeps both alive until the
/// last file is closed.
#[pin_data]
struct SysmsgModule {
    _callbacks: CallbackBarrier,
    #[pin]
    dev: MiscRegistration<SysmsgFile>,
    _sysctl: SysctlRegistration,
}

/// Dropped first at unload: waits until no hrtimer or wait-queue callback of the module is still
/// returning.
///
/// Every message is freed before the last file is released, but the callback that published the
/// last one may still be executing its final instructions. Both kinds run with preemption
/// disabled, so an RCU grace period outlasts them; work items are drained by the workqueue's
/// destruction.
struct CallbackBarrier;

impl Drop for CallbackBarrier {
    fn drop(&mut self) {
        // SAFETY: process context (module unload), no locks held.
        unsafe { kernel::bindings::synchronize_rcu() };
    }
}

impl kernel::InPlaceModule for SysmsgModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _callbacks: CallbackBarrier,
            dev <- MiscRegistration::register(c"sysmsg", Context::new()?),
            _sysctl: SysctlRegistration::register(c"kernel/sysmsg", &SYSCTLS)?,
        })
    }
}
