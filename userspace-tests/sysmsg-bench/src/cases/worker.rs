//! Case 2, `worker_path`: operations that must execute on a kernel worker, in batches of 32.
//!
//! sysmsg runs FSYNC and PREAD of a regular file on its bounded workqueue, a batch submitted
//! with one `SYSMSG_IOC_SUBMIT` and reaped with `SYSMSG_IOC_REAP`s (`sysmsg FSYNC`), or
//! submitted and waited for in one `SYSMSG_IOC_SUBMIT` with `SYSMSG_SUBMIT_REAP_WAIT`, the rest
//! reaped with waiting `SYSMSG_IOC_REAP`s (`sysmsg FSYNC submit+reap`, the targets' sysmsg
//! figure, as io_uring's `submit_and_wait`); io_uring runs the
//! same operations on io-wq workers when forced with `IOSQE_ASYNC` (without it, a cached
//! read would complete inline); Linux AIO runs FSYNC on the system workqueue (its buffered
//! PREAD is synchronous inside `io_submit`, so it is not a worker path and is measured in
//! `file_read`). The file is a 1 MiB temporary file, clean (fsync of a clean file costs the
//! worker hop, not the disk).

use super::Ctx;
use crate::{
    aio,
    cleanup::TempFile,
    report::Case,
    sm, sysinfo, uring,
    util::{err, per_sec, Deadline, InFlightBuf},
};
use io_uring::{opcode, squeue, types};
use std::{
    io::Write as _,
    os::fd::{AsRawFd, RawFd},
    time::{Duration, Instant},
};
use sysmsg::sys;

/// The batch sizes.
pub const BATCHES: [usize; 1] = [32];
const PAGE: usize = 4096;
const FILE_PAGES: usize = 256;

/// How sysmsg's batches go in and their replies come out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmPath {
    /// One `SYSMSG_IOC_SUBMIT`, then waiting `SYSMSG_IOC_REAP`s (the crate's raw path).
    SubmitThenReap,
    /// One `SYSMSG_IOC_SUBMIT` with `SYSMSG_SUBMIT_REAP_WAIT`, then waiting `SYSMSG_IOC_REAP`s
    /// for the replies it did not bring back.
    SubmitReapWait,
}

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `fsync(fd)`.
    Fsync,
    /// A 4 KiB `pread` at a page of the file.
    Pread,
}

/// Runs the case.
pub fn run(ctx: &Ctx, _facts: &mut super::Facts) -> Vec<Case> {
    let total = ctx.count(20_000, 2_000);
    let mut b = ctx.builder(
        "worker_path",
        "Worker path (operations executed by kernel workers)",
        "batch size",
        "ops/s",
        true,
    );
    let series = [
        "sysmsg FSYNC",
        "sysmsg FSYNC submit+reap",
        "io_uring FSYNC IOSQE_ASYNC",
        "AIO FSYNC",
        "sysmsg PREAD",
        "sysmsg PREAD submit+reap",
        "io_uring READ IOSQE_ASYNC",
    ];
    for s in series {
        b.series(s);
    }
    let file = match make_file(ctx) {
        Ok(f) => f,
        Err(e) => {
            for s in series {
                b.fail(s, 32, &e);
            }
            return vec![b.finish()];
        }
    };
    b.note(sm::RAW_PATH);
    b.note(sm::SUBMIT_REAP_WAIT_PATH);
    b.note(format!(
        "{total} operations per repetition in batches (submit a batch, reap it whole); the file: 1 MiB in {} ({}), clean and cached; PREAD reads 4 KiB pages in turn",
        ctx.dir.display(),
        sysinfo::fs_type(&ctx.dir)
    ));
    b.note(format!(
        "sysmsg's workers: kernel.sysmsg.max_workers = {}",
        sysinfo::sysmsg_sysctl("max_workers").map_or("n/a".into(), |v| v.to_string())
    ));
    b.note("io_uring = io-uring crate, IOSQE_ASYNC on every SQE (io-wq workers); AIO FSYNC = io_submit/io_getevents (IOCB_CMD_FSYNC runs on a kernel workqueue)");
    let fd = file.file.as_raw_fd();
    for &batch in &BATCHES {
        for rep in 0..ctx.reps {
            eprintln!("  worker_path: batch {batch}, repetition {}", rep + 1);
            let x = batch as u64;
            b.measure("sysmsg FSYNC", x, || {
                sysmsg_batches(ctx, fd, Op::Fsync, batch, total, SmPath::SubmitThenReap)
            });
            b.measure("sysmsg FSYNC submit+reap", x, || {
                sysmsg_batches(ctx, fd, Op::Fsync, batch, total, SmPath::SubmitReapWait)
            });
            b.measure("io_uring FSYNC IOSQE_ASYNC", x, || {
                uring_batches(fd, Op::Fsync, batch, total)
            });
            b.measure("AIO FSYNC", x, || aio_fsyncs(fd, batch, total));
            b.measure("sysmsg PREAD", x, || {
                sysmsg_batches(ctx, fd, Op::Pread, batch, total, SmPath::SubmitThenReap)
            });
            b.measure("sysmsg PREAD submit+reap", x, || {
                sysmsg_batches(ctx, fd, Op::Pread, batch, total, SmPath::SubmitReapWait)
            });
            b.measure("io_uring READ IOSQE_ASYNC", x, || {
                uring_batches(fd, Op::Pread, batch, total)
            });
        }
    }
    drop(file);
    vec![b.finish()]
}

fn make_file(ctx: &Ctx) -> Result<TempFile, String> {
    let mut f = TempFile::create(&ctx.dir, "worker").map_err(|e| err("temporary file", e))?;
    let page: Vec<u8> = (0..PAGE).map(|i| (i % 251) as u8).collect();
    for _ in 0..FILE_PAGES {
        f.file
            .write_all(&page)
            .map_err(|e| err("writing the file", e))?;
    }
    f.file.sync_all().map_err(|e| err("fsync", e))?;
    Ok(f)
}

fn expected(op: Op) -> i64 {
    match op {
        Op::Fsync => 0,
        Op::Pread => PAGE as i64,
    }
}

/// Operations per second through sysmsg along `path`, batch by batch.
pub fn sysmsg_batches(
    ctx: &Ctx,
    fd: RawFd,
    op: Op,
    batch: usize,
    total: usize,
    path: SmPath,
) -> Result<f64, String> {
    let mut bufs = InFlightBuf::new(batch * PAGE);
    let sm = ctx.open_sysmsg()?;
    let mut replies = vec![sys::sysmsg_reply::default(); batch];
    let mut msgs = Vec::with_capacity(batch);
    let rounds = (total / batch).max(1);
    let mut one = |round: usize| -> Result<(), String> {
        msgs.clear();
        for s in 0..batch {
            msgs.push(match op {
                Op::Fsync => sm::fsync(fd, s as u64),
                Op::Pread => {
                    let page = (round * batch + s) % FILE_PAGES;
                    sm::pread(
                        fd,
                        bufs.ptr_at(s * PAGE),
                        PAGE,
                        (page * PAGE) as u64,
                        s as u64,
                    )
                }
            });
        }
        // SAFETY: the buffers live in `bufs`, which is leaked unless every reply was reaped.
        unsafe {
            match path {
                SmPath::SubmitThenReap => {
                    sm::submit_all(&sm, &msgs)?;
                    sm::reap_exact(&sm, &mut replies, false)?;
                }
                SmPath::SubmitReapWait => sm::submit_reap_exact(&sm, &msgs, &mut replies, true)?,
            }
        }
        bufs.settle();
        match replies.iter().find(|r| r.result != expected(op)) {
            Some(r) => Err(format!("{op:?} replied {}", r.result)),
            None => Ok(()),
        }
    };
    for round in 0..(rounds / 10).clamp(1, 20) {
        one(round)?;
    }
    let start = Instant::now();
    for round in 0..rounds {
        one(round)?;
    }
    Ok(per_sec(rounds * batch, start.elapsed()))
}

/// Operations per second through io_uring with `IOSQE_ASYNC`, batch by batch.
pub fn uring_batches(fd: RawFd, op: Op, batch: usize, total: usize) -> Result<f64, String> {
    let mut bufs = InFlightBuf::new(batch * PAGE);
    let mut ring = uring::ring((batch as u32).next_power_of_two(), None)?;
    let rounds = (total / batch).max(1);
    let mut one = |round: usize| -> Result<(), String> {
        for s in 0..batch {
            let e = match op {
                Op::Fsync => opcode::Fsync::new(types::Fd(fd)).build(),
                Op::Pread => {
                    let page = (round * batch + s) % FILE_PAGES;
                    opcode::Read::new(types::Fd(fd), bufs.ptr_at(s * PAGE), PAGE as u32)
                        .offset((page * PAGE) as u64)
                        .build()
                }
            };
            let e = e.user_data(s as u64).flags(squeue::Flags::ASYNC);
            // SAFETY: the buffers live in `bufs`, leaked unless every completion was reaped.
            unsafe { uring::push(&mut ring, &e)? };
        }
        let mut bad = None;
        let mut got = 0;
        while got < batch {
            ring.submit_and_wait(batch - got)
                .map_err(|e| err("io_uring_enter", e))?;
            got += uring::drain(&mut ring, |_, res| {
                if i64::from(res) != expected(op) {
                    bad = Some(res);
                }
            });
        }
        bufs.settle();
        match bad {
            Some(res) => Err(format!("{op:?} completed with {res}")),
            None => Ok(()),
        }
    };
    for round in 0..(rounds / 10).clamp(1, 20) {
        one(round)?;
    }
    let start = Instant::now();
    for round in 0..rounds {
        one(round)?;
    }
    Ok(per_sec(rounds * batch, start.elapsed()))
}

/// FSYNCs per second through Linux AIO, batch by batch.
pub fn aio_fsyncs(fd: RawFd, batch: usize, total: usize) -> Result<f64, String> {
    let aio = aio::Context::new(batch as u32 * 2).map_err(|e| err("io_setup", e))?;
    let mut iocbs: Vec<aio::Iocb> = (0..batch).map(|s| aio::Iocb::fsync(fd, s as u64)).collect();
    let mut events = vec![aio::IoEvent::default(); batch];
    let rounds = (total / batch).max(1);
    let mut one = || -> Result<(), String> {
        let mut sent = 0;
        while sent < batch {
            // SAFETY: FSYNC names no buffer.
            sent += unsafe { aio.submit(&mut iocbs[sent..]) }.map_err(|e| err("io_submit", e))?;
        }
        let mut got = 0;
        let deadline = Deadline::after(Duration::from_secs(60));
        while got < batch {
            let n = aio
                .get_events(batch - got, &mut events[got..], deadline.left())
                .map_err(|e| err("io_getevents", e))?;
            if n == 0 && deadline.passed() {
                return Err("AIO FSYNC: no completion within 60 s".into());
            }
            got += n;
        }
        match events.iter().find(|e| e.res != 0) {
            Some(e) => Err(format!("AIO FSYNC completed with {}", e.res)),
            None => Ok(()),
        }
    };
    for _ in 0..(rounds / 10).clamp(1, 20) {
        one()?;
    }
    let start = Instant::now();
    for _ in 0..rounds {
        one()?;
    }
    Ok(per_sec(rounds * batch, start.elapsed()))
}
