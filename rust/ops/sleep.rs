// SPDX-License-Identifier: GPL-2.0

//! `NANOSLEEP`: a sleep on an hrtimer, holding no thread.
//!
//! copyin reads and checks the `struct __kernel_timespec`; execution arms the message's own
//! hrtimer (`CLOCK_MONOTONIC`, hard interrupt context), whose callback publishes the reply. A
//! cancellation takes the message from `SLEEPING` first and then cancels the timer, so the two
//! never both complete it.

use crate::{
    glue,
    message::{state, Args, Message, MsgPtr},
    uapi,
};
use core::sync::atomic::Ordering;
use kernel::{
    bindings,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

const NSEC_PER_SEC: i64 = 1_000_000_000;

/// Checks a timespec as `nanosleep(2)` does and converts it to nanoseconds (saturating).
pub(crate) fn timespec_ns(sec: i64, nsec: i64) -> Result<i64> {
    if sec < 0 || !(0..NSEC_PER_SEC).contains(&nsec) {
        return Err(EINVAL);
    }
    Ok(sec
        .checked_mul(NSEC_PER_SEC)
        .and_then(|ns| ns.checked_add(nsec))
        .unwrap_or(i64::MAX))
}

/// copyin: the timespec at `m.addr`, relative or absolute.
pub(crate) fn copyin(m: &uapi::sysmsg_msg) -> Result<Args> {
    if m.op_flags & !uapi::SYSMSG_SLEEP_ABSTIME != 0 {
        return Err(EINVAL);
    }
    let ts: [i64; 2] = UserSlice::new(UserPtr::from_addr(m.addr as usize), 16)
        .reader()
        .read()?;
    Ok(Args::Sleep {
        ns: timespec_ns(ts[0], ts[1])?,
        abs: m.op_flags & uapi::SYSMSG_SLEEP_ABSTIME != 0,
    })
}

/// Execution: arms the timer. The message must be registered with its session already.
pub(crate) fn start(msg: MsgPtr) {
    let Args::Sleep { ns, abs } = msg.args else {
        return msg.publish(EINVAL.to_errno().into());
    };
    // SAFETY: `args` is `Sleep`, so `exec.timer` is the live field (type invariant of
    // `Message`).
    let timer = unsafe { msg.exec.timer.get() };
    // SAFETY: the timer is in the message's allocation, which does not move and outlives the
    // timer (a sleeping message is freed only after the callback or a cancel took it).
    unsafe {
        bindings::hrtimer_setup(
            timer,
            Some(fired),
            bindings::CLOCK_MONOTONIC as i32,
            bindings::hrtimer_mode_HRTIMER_MODE_ABS,
        )
    };
    // While `ARMING`, neither the callback nor a cancellation can take the message.
    msg.state.store(state::ARMING, Ordering::Release);
    // SAFETY: the timer was set up above; the message stays allocated while we own it.
    unsafe { glue::sysmsg_hrtimer_start(timer, ns, abs) };
    if msg
        .state
        .compare_exchange(
            state::ARMING,
            state::SLEEPING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        // The callback or a cancellation owns it now.
        let _ = msg.into_raw();
    } else {
        // The timer fired while we were arming it (`FIRED_ARMING`).
        msg.publish(0);
    }
}

/// The hrtimer callback: the sleep is over.
///
/// # Safety
///
/// Called by the hrtimer core for a timer armed by [`start`].
unsafe extern "C" fn fired(timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
    // SAFETY: the timer is the `exec.timer` of a message that stays allocated while it is
    // `SLEEPING` or being cancelled (cancel waits for this callback).
    let m = unsafe { &*Message::from_timer(timer) };
    if m.state
        .compare_exchange(
            state::SLEEPING,
            state::RUNNING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
    {
        // SAFETY: the exchange made us the owner.
        unsafe { MsgPtr::from_raw(m.as_raw()) }.publish(0);
    } else {
        // Still being armed: its owner sees this and publishes it.
        let _ = m.state.compare_exchange(
            state::ARMING,
            state::FIRED_ARMING,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
    bindings::hrtimer_restart_HRTIMER_NORESTART
}

/// Cancellation: takes a sleeping message and stops its timer. Returns the message if it was
/// taken (the caller publishes it).
pub(crate) fn cancel(m: &Message) -> Option<MsgPtr> {
    m.state
        .compare_exchange(
            state::SLEEPING,
            state::CANCELLED,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .ok()?;
    // SAFETY: `args` is `Sleep` (only sleeps reach `SLEEPING`), so `exec.timer` is live and was
    // set up; the callback, if running, cannot take the message any more.
    unsafe { bindings::hrtimer_cancel(m.exec.timer.get()) };
    // SAFETY: the exchange made us the owner.
    Some(unsafe { MsgPtr::from_raw(m.as_raw()) })
}
