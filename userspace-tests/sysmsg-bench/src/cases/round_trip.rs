//! Case 3, `round_trip`: the latency of one message at a time — sysmsg NOP (submit 1, reap 1,
//! along the paths of `nop_throughput`; `sysmsg NOP submit+reap` does both in one
//! `SYSMSG_IOC_SUBMIT` and is the target's sysmsg figure) vs a plain `getppid()` system call vs
//! io_uring NOP (`submit_and_wait(1)`), in nanoseconds per round trip. The x axis is categorical
//! (x = 0, one series per contender).

use super::{
    nop::{exchange_nops, Path},
    Ctx,
};
use crate::{
    report::Case,
    sm, uring,
    util::{err, ns_per},
};
use io_uring::opcode;
use std::time::Instant;
use sysmsg::sys;

/// Runs the case.
pub fn run(ctx: &Ctx, _facts: &mut super::Facts) -> Vec<Case> {
    let iters = ctx.count(100_000, 10_000);
    let mut b = ctx.builder(
        "round_trip",
        "Single-message round trip",
        "contender",
        "ns",
        false,
    );
    for s in [
        "sysmsg NOP",
        "sysmsg NOP bare ioctl",
        "sysmsg NOP write/read",
        "sysmsg NOP submit+reap",
        "getppid",
        "io_uring NOP",
    ] {
        b.series(s);
    }
    b.note(sm::RAW_PATH);
    b.note(sm::BARE_PATH);
    b.note(sm::RW_PATH);
    b.note(sm::SUBMIT_REAP_PATH);
    b.note(format!(
        "{iters} round trips per repetition after a warm-up; getppid = syscall(SYS_getppid), never cached by libc; io_uring NOP = push 1 SQE, submit_and_wait(1), take the CQE"
    ));
    for rep in 0..ctx.reps {
        eprintln!("  round_trip: repetition {}", rep + 1);
        b.measure("sysmsg NOP", 0, || sysmsg_nop(ctx, iters, Path::Crate));
        b.measure("sysmsg NOP bare ioctl", 0, || {
            sysmsg_nop(ctx, iters, Path::Bare)
        });
        b.measure("sysmsg NOP write/read", 0, || {
            sysmsg_nop(ctx, iters, Path::ReadWrite)
        });
        b.measure("sysmsg NOP submit+reap", 0, || {
            sysmsg_nop(ctx, iters, Path::SubmitReap)
        });
        b.measure("getppid", 0, || Ok(getppid(iters)));
        b.measure("io_uring NOP", 0, || uring_nop(iters));
    }
    vec![b.finish()]
}

/// Nanoseconds per sysmsg NOP round trip along `path`.
pub fn sysmsg_nop(ctx: &Ctx, iters: usize, path: Path) -> Result<f64, String> {
    let sm = ctx.open_sysmsg()?;
    let msg = [sm::nop(1)];
    let mut reply = [sys::sysmsg_reply::default()];
    let one = |reply: &mut [sys::sysmsg_reply; 1]| exchange_nops(&sm, path, &msg, reply);
    for _ in 0..(iters / 10).max(1) {
        one(&mut reply)?;
    }
    let start = Instant::now();
    for _ in 0..iters {
        one(&mut reply)?;
    }
    let el = start.elapsed();
    if reply[0].result != 0 {
        return Err(format!("a NOP replied {}", reply[0].result));
    }
    Ok(ns_per(iters, el))
}

/// Nanoseconds per `getppid()`.
pub fn getppid(iters: usize) -> f64 {
    let call = || {
        // SAFETY: getppid takes no argument and cannot fail.
        std::hint::black_box(unsafe { libc::syscall(libc::SYS_getppid) })
    };
    for _ in 0..(iters / 10).max(1) {
        call();
    }
    let start = Instant::now();
    for _ in 0..iters {
        call();
    }
    ns_per(iters, start.elapsed())
}

/// Nanoseconds per io_uring NOP round trip.
pub fn uring_nop(iters: usize) -> Result<f64, String> {
    let mut ring = uring::ring(8, None)?;
    let nop = opcode::Nop::new().build().user_data(1);
    let mut one = || -> Result<(), String> {
        // SAFETY: a NOP names no memory; the queue is empty.
        unsafe { ring.submission().push(&nop) }.map_err(|_| "submission queue full")?;
        ring.submit_and_wait(1)
            .map_err(|e| err("io_uring_enter", e))?;
        let mut res = None;
        uring::drain(&mut ring, |_, r| res = Some(r));
        match res {
            Some(0) => Ok(()),
            Some(r) => Err(format!("a NOP completed with {r}")),
            None => Err("submit_and_wait(1) returned without a completion".into()),
        }
    };
    for _ in 0..(iters / 10).max(1) {
        one()?;
    }
    let start = Instant::now();
    for _ in 0..iters {
        one()?;
    }
    Ok(ns_per(iters, start.elapsed()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn getppid_costs_something() {
        let ns = super::getppid(1000);
        assert!(ns > 0.0 && ns < 1e7, "{ns}");
    }
}
