// SPDX-License-Identifier: GPL-2.0

//! sysmsg: asynchronous system-call messages.
//!
//! A process opens `/dev/sysmsg`, posts system-call messages, kernel workers execute them and the
//! process reaps one reply per message. This is the crate root: the module list, the module
//! definition and its entry points. The ABI lives in `include/uapi/linux/sysmsg.h`.

use kernel::prelude::*;

mod access;
mod context;
mod dispatch;
mod file;
mod glue;
mod hysteresis;
mod identity;
mod inline;
mod irqlock;
mod limits;
mod message;
mod miscdev;
mod ops;
mod phases;
mod pool;
mod priority;
mod process;
mod queue;
mod session;
mod sysctl;
mod uapi;
mod uarray;
mod wait;
mod worker;
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

/// An entry of `/proc/sys/kernel/sysmsg/`.
const fn entry(name: &'static CStr, value: &'static SysctlInt, access: Access) -> SysctlEntry {
    SysctlEntry {
        name,
        value,
        access,
    }
}

/// The entries of `/proc/sys/kernel/sysmsg/`.
const SYSCTLS: [SysctlEntry; 13] = [
    entry(c"version", &VERSION, Access::ReadOnly),
    entry(c"enabled", &access::ENABLED, Access::ReadWrite),
    entry(c"group", &access::GROUP, Access::ReadWrite),
    entry(c"max_workers", &context::MAX_WORKERS, Access::ReadWrite),
    entry(
        c"prio_aging_ms",
        &priority::PRIO_AGING_MS,
        Access::ReadWrite,
    ),
    entry(
        c"max_per_process",
        &limits::MAX_PER_PROCESS,
        Access::ReadWrite,
    ),
    entry(
        c"max_per_process_hard",
        &limits::MAX_PER_PROCESS_HARD,
        Access::ReadWrite,
    ),
    entry(
        c"per_process_limits",
        &limits::PER_PROCESS_LIMITS,
        Access::ReadWrite,
    ),
    entry(c"max_total", &limits::MAX_TOTAL, Access::ReadWrite),
    entry(c"low_water", &limits::LOW_WATER, Access::ReadWrite),
    entry(c"nr_inflight", &limits::NR_INFLIGHT, Access::ReadOnly),
    entry(c"limit_hits", &limits::LIMIT_HITS, Access::ReadOnly),
    entry(
        c"throttle_episodes",
        &limits::THROTTLE_EPISODES,
        Access::ReadOnly,
    ),
];

/// The loaded module: the device and the sysctl directory.
///
/// The device is dropped first (fields drop in order), so no file can be opened once the sysctl
/// directory goes away. Unloading is refused while anything of the module is in use: every open
/// file holds a module reference (the fops owner), and so does every session, which lives as
/// long as any of its messages (an operation still executing on a worker after its process
/// exited keeps the module).
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
/// The last session may be freed, and its module reference dropped, by the callback that
/// completed its last message, which then still executes its final instructions. Timer and wait
/// callbacks run with preemption disabled, so an RCU grace period outlasts them; work items are
/// drained by the workqueue's destruction.
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
