//! Case 1, `nop_throughput`: NOP messages per second at batch 1, 8, 32 and 128.
//!
//! Each repetition moves a fixed number of NOPs (200,000; 20,000 with `--quick`) in batches:
//! submit a batch with one call, reap the whole batch, repeat. sysmsg is measured along four
//! paths ([`Path`]): the crate's raw ioctls (`sysmsg`), the same ioctls issued bare (`sysmsg
//! bare ioctl`), `write(2)`/`read(2)` (`sysmsg write/read`), and one `SYSMSG_IOC_SUBMIT` with
//! `SYSMSG_SUBMIT_REAP` that submits the batch and reaps its replies (`sysmsg submit+reap`, the
//! ABI's one-call path like io_uring's `submit_and_wait`: the target's sysmsg figure, the others
//! are listed beside it). sysmsg's NOP completes inside the submitting call, io_uring's inline
//! at submit too; with `IOSQE_ASYNC` io_uring hands every NOP to an io-wq worker instead.

use super::Ctx;
use crate::{
    report::Case,
    sm, uring,
    util::{err, per_sec},
};
use io_uring::{opcode, squeue};
use std::time::Instant;
use sysmsg::sys;

/// The batch sizes.
pub const BATCHES: [usize; 4] = [1, 8, 32, 128];

/// Runs the case.
pub fn run(ctx: &Ctx, _facts: &mut super::Facts) -> Vec<Case> {
    let total = ctx.count(200_000, 20_000);
    let mut b = ctx.builder(
        "nop_throughput",
        "NOP throughput",
        "batch size",
        "ops/s",
        true,
    );
    for s in [
        "sysmsg",
        "sysmsg bare ioctl",
        "sysmsg write/read",
        "sysmsg submit+reap",
        "io_uring",
        "io_uring IOSQE_ASYNC",
    ] {
        b.series(s);
    }
    b.note(sm::RAW_PATH);
    b.note(sm::BARE_PATH);
    b.note(sm::RW_PATH);
    b.note(sm::SUBMIT_REAP_PATH);
    b.note("io_uring = io-uring crate: push a batch of NOP SQEs, one io_uring_enter (submit_and_wait(batch)), drain the CQ; IOSQE_ASYNC forces every NOP through an io-wq worker");
    b.note(format!(
        "{total} NOPs per repetition (after a warm-up), batches submitted and reaped whole"
    ));
    for &batch in &BATCHES {
        for rep in 0..ctx.reps {
            eprintln!("  nop_throughput: batch {batch}, repetition {}", rep + 1);
            let x = batch as u64;
            b.measure("sysmsg", x, || sysmsg_nops(ctx, batch, total, Path::Crate));
            b.measure("sysmsg bare ioctl", x, || {
                sysmsg_nops(ctx, batch, total, Path::Bare)
            });
            b.measure("sysmsg write/read", x, || {
                sysmsg_nops(ctx, batch, total, Path::ReadWrite)
            });
            b.measure("sysmsg submit+reap", x, || {
                sysmsg_nops(ctx, batch, total, Path::SubmitReap)
            });
            b.measure("io_uring", x, || uring_nops(batch, total, false));
            b.measure("io_uring IOSQE_ASYNC", x, || uring_nops(batch, total, true));
        }
    }
    vec![b.finish()]
}

/// Which way sysmsg messages go in and replies come out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// `Sysmsg::submit_raw` + `Sysmsg::reap_raw` (the ioctls, through the crate).
    Crate,
    /// The ioctls issued directly.
    Bare,
    /// `Sysmsg::write_raw` + `Sysmsg::read_raw` (`write(2)`/`read(2)`).
    ReadWrite,
    /// `Sysmsg::submit_reap_raw` (one `SYSMSG_IOC_SUBMIT` with `SYSMSG_SUBMIT_REAP`), then
    /// `Sysmsg::reap_raw` for any reply still missing.
    SubmitReap,
}

/// Submits the NOPs `msgs` and reaps `replies.len()` replies along `path`. Anything but a NOP
/// is refused (this is a safe function: NOPs name no memory).
pub fn exchange_nops(
    sm: &sysmsg::Sysmsg,
    path: Path,
    msgs: &[sys::sysmsg_msg],
    replies: &mut [sys::sysmsg_reply],
) -> Result<(), String> {
    if msgs
        .iter()
        .any(|m| u32::from(m.opcode) != sys::SYSMSG_OP_NOP)
    {
        return Err("exchange_nops: not a NOP".into());
    }
    // SAFETY: NOPs (checked above) name no memory.
    unsafe {
        match path {
            Path::Crate => {
                sm::submit_all(sm, msgs)?;
                sm::reap_exact(sm, replies, false)
            }
            Path::Bare => {
                sm::submit_bare(sm, msgs)?;
                sm::reap_bare(sm, replies)
            }
            Path::ReadWrite => {
                sm::write_all(sm, msgs)?;
                sm::reap_exact(sm, replies, true)
            }
            Path::SubmitReap => sm::submit_reap_exact(sm, msgs, replies, false),
        }
    }
}

/// NOPs per second through sysmsg along `path`, batch by batch.
pub fn sysmsg_nops(ctx: &Ctx, batch: usize, total: usize, path: Path) -> Result<f64, String> {
    let sm = ctx.open_sysmsg()?;
    let msgs: Vec<sys::sysmsg_msg> = (0..batch as u64).map(sm::nop).collect();
    let mut replies = vec![sys::sysmsg_reply::default(); batch];
    let rounds = (total / batch).max(1);
    let one = |replies: &mut [sys::sysmsg_reply]| -> Result<(), String> {
        exchange_nops(&sm, path, &msgs, replies)?;
        match replies.iter().find(|r| r.result != 0) {
            Some(r) => Err(format!("a NOP replied {}", r.result)),
            None => Ok(()),
        }
    };
    for _ in 0..(rounds / 10).clamp(1, 200) {
        one(&mut replies)?;
    }
    let start = Instant::now();
    for _ in 0..rounds {
        one(&mut replies)?;
    }
    Ok(per_sec(rounds * batch, start.elapsed()))
}

/// NOPs per second through io_uring, batch by batch.
pub fn uring_nops(batch: usize, total: usize, async_: bool) -> Result<f64, String> {
    let mut ring = uring::ring(256, None)?;
    let mut nop = opcode::Nop::new().build().user_data(1);
    if async_ {
        nop = nop.flags(squeue::Flags::ASYNC);
    }
    let rounds = (total / batch).max(1);
    let mut one = || -> Result<(), String> {
        {
            let mut sq = ring.submission();
            for _ in 0..batch {
                // SAFETY: a NOP names no memory; the queue (256) holds a batch (<= 128).
                unsafe { sq.push(&nop) }.map_err(|_| "submission queue full".to_string())?;
            }
        }
        let mut got = 0;
        while got < batch {
            ring.submit_and_wait(batch - got)
                .map_err(|e| err("io_uring_enter", e))?;
            for cqe in ring.completion() {
                if cqe.result() < 0 {
                    return Err(format!("a NOP completed with {}", cqe.result()));
                }
                got += 1;
            }
        }
        Ok(())
    };
    for _ in 0..(rounds / 10).clamp(1, 200) {
        one()?;
    }
    let start = Instant::now();
    for _ in 0..rounds {
        one()?;
    }
    Ok(per_sec(rounds * batch, start.elapsed()))
}
