//! Case 6, `file_read`: 4 KiB reads at random page-aligned offsets of a 64 MiB file (8 MiB with
//! `--quick`) in the temporary directory, at queue depth 1 and 32 — sysmsg PREAD (always on its
//! workers), io_uring READ (without `IOSQE_ASYNC`: a cached page is read inline at submit),
//! Linux AIO PREAD (buffered: synchronous inside `io_submit`) and plain `pread()`.
//!
//! The file is read once before measuring, so every read hits the page cache (the notes say
//! so). At a queue depth of 32, `qd` requests are kept in flight: each reply is answered by a
//! new request for its slot. Plain `pread()` is synchronous: it has no queue depth, and the same
//! loop is measured at both x values.

use super::Ctx;
use crate::{
    aio,
    cleanup::TempFile,
    report::Case,
    sm, sysinfo, uring,
    util::{err, warm_then_time, Deadline, InFlightBuf, Rng},
};
use io_uring::{opcode, types};
use std::{
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    os::fd::{AsRawFd, RawFd},
    time::Duration,
};
use sysmsg::sys;

/// The queue depths.
pub const DEPTHS: [usize; 2] = [1, 32];
const PAGE: usize = 4096;

const SYSMSG: &str = "sysmsg PREAD";
const URING: &str = "io_uring READ";
const AIO: &str = "AIO PREAD";
const PLAIN: &str = "plain pread()";

/// Runs the case.
pub fn run(ctx: &Ctx, _facts: &mut super::Facts) -> Vec<Case> {
    let ops = ctx.count(50_000, 5_000);
    let size = ctx.count(64 << 20, 8 << 20);
    let mut b = ctx.builder(
        "file_read",
        "4 KiB random reads of a cached file",
        "queue depth",
        "ops/s",
        true,
    );
    for s in [SYSMSG, URING, AIO, PLAIN] {
        b.series(s);
    }
    let file = match make_file(ctx, size) {
        Ok(f) => f,
        Err(e) => {
            for s in [SYSMSG, URING, AIO, PLAIN] {
                for qd in DEPTHS {
                    b.fail(s, qd as u64, &e);
                }
            }
            return vec![b.finish()];
        }
    };
    b.note(format!(
        "the file: {} MiB in {} ({}), read whole once before measuring: every read hits the page cache (this measures the submission and completion paths, not the storage)",
        size >> 20,
        ctx.dir.display(),
        sysinfo::fs_type(&ctx.dir)
    ));
    b.note(format!("{ops} reads of 4 KiB per repetition at random page-aligned offsets (xorshift, the same sequence for every contender), after a warm-up; at depth 32 each completion is answered at once by a new read in its slot"));
    b.note(sm::RAW_PATH);
    b.note("sysmsg PREAD runs on sysmsg's kernel workers (regular files always do); io_uring READ without IOSQE_ASYNC completes a cached read inline at submit; AIO PREAD on a buffered file is synchronous inside io_submit; plain pread() is synchronous and has no queue depth: the same loop is measured at both depths");
    let fd = file.file.as_raw_fd();
    let pages = (size / PAGE) as u64;
    for &qd in &DEPTHS {
        for rep in 0..ctx.reps {
            eprintln!("  file_read: queue depth {qd}, repetition {}", rep + 1);
            let x = qd as u64;
            let seed = 1 + rep as u64;
            b.measure(SYSMSG, x, || sysmsg_reads(ctx, fd, pages, qd, ops, seed));
            b.measure(URING, x, || uring_reads(fd, pages, qd, ops, seed));
            b.measure(AIO, x, || aio_reads(fd, pages, qd, ops, seed));
            b.measure(PLAIN, x, || plain_reads(fd, pages, ops, seed));
        }
    }
    drop(file);
    vec![b.finish()]
}

fn make_file(ctx: &Ctx, size: usize) -> Result<TempFile, String> {
    let mut f = TempFile::create(&ctx.dir, "file_read").map_err(|e| err("temporary file", e))?;
    let mut rng = Rng::new(42);
    let chunk: Vec<u8> = (0..1 << 20).map(|_| rng.next_u64() as u8).collect();
    for _ in 0..size / chunk.len() {
        f.file
            .write_all(&chunk)
            .map_err(|e| err("writing the file", e))?;
    }
    f.file.sync_all().map_err(|e| err("fsync", e))?;
    // Into the page cache.
    f.file
        .seek(SeekFrom::Start(0))
        .map_err(|e| err("seek", e))?;
    let mut buf = vec![0u8; 1 << 20];
    while f
        .file
        .read(&mut buf)
        .map_err(|e| err("reading the file", e))?
        > 0
    {}
    Ok(f)
}

fn offset(rng: &mut Rng, pages: u64) -> u64 {
    rng.below(pages) * PAGE as u64
}

/// Reads per second through sysmsg PREAD at queue depth `qd`.
pub fn sysmsg_reads(
    ctx: &Ctx,
    fd: RawFd,
    pages: u64,
    qd: usize,
    ops: usize,
    seed: u64,
) -> Result<f64, String> {
    let mut bufs = InFlightBuf::new(qd * PAGE);
    let sm = ctx.open_sysmsg()?;
    let mut replies = vec![sys::sysmsg_reply::default(); qd];
    let mut msgs = Vec::with_capacity(qd);
    let mut rng = Rng::new(seed);
    let run = |ops: usize| -> Result<(), String> {
        let first = qd.min(ops);
        msgs.clear();
        for s in 0..first {
            let off = offset(&mut rng, pages);
            msgs.push(sm::pread(fd, bufs.ptr_at(s * PAGE), PAGE, off, s as u64));
        }
        // SAFETY: `bufs` is leaked unless every reply was reaped.
        unsafe { sm::submit_all(&sm, &msgs)? };
        let (mut issued, mut done) = (first, 0);
        while done < ops {
            let n = loop {
                match sm.reap_raw(&mut replies, false) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(err("SYSMSG_IOC_REAP", e)),
                }
            };
            msgs.clear();
            for r in &replies[..n] {
                if r.result != PAGE as i64 {
                    return Err(format!("PREAD replied {}", r.result));
                }
                done += 1;
                if issued < ops {
                    let s = r.tag as usize;
                    let off = offset(&mut rng, pages);
                    msgs.push(sm::pread(fd, bufs.ptr_at(s * PAGE), PAGE, off, s as u64));
                    issued += 1;
                }
            }
            // SAFETY: as above.
            unsafe { sm::submit_all(&sm, &msgs)? };
        }
        bufs.settle();
        Ok(())
    };
    warm_then_time((ops / 10).max(qd), ops, run)
}

/// Reads per second through io_uring READ at queue depth `qd`.
pub fn uring_reads(fd: RawFd, pages: u64, qd: usize, ops: usize, seed: u64) -> Result<f64, String> {
    let mut bufs = InFlightBuf::new(qd * PAGE);
    let mut ring = uring::ring((qd as u32).next_power_of_two().max(8), None)?;
    let mut rng = Rng::new(seed);
    let run = |ops: usize| -> Result<(), String> {
        let read = |s: usize, rng: &mut Rng, bufs: &mut InFlightBuf| {
            opcode::Read::new(types::Fd(fd), bufs.ptr_at(s * PAGE), PAGE as u32)
                .offset(offset(rng, pages))
                .build()
                .user_data(s as u64)
        };
        let first = qd.min(ops);
        for s in 0..first {
            let e = read(s, &mut rng, &mut bufs);
            // SAFETY: `bufs` is leaked unless every completion was reaped.
            unsafe { uring::push(&mut ring, &e)? };
        }
        let (mut issued, mut done) = (first, 0);
        let mut slots = Vec::with_capacity(qd);
        while done < ops {
            ring.submit_and_wait(1)
                .map_err(|e| err("io_uring_enter", e))?;
            let mut bad = None;
            slots.clear();
            uring::drain(&mut ring, |tag, res| {
                if res != PAGE as i32 {
                    bad = Some(res);
                }
                slots.push(tag as usize);
            });
            if let Some(res) = bad {
                return Err(format!("READ completed with {res}"));
            }
            for &s in &slots {
                done += 1;
                if issued < ops {
                    let e = read(s, &mut rng, &mut bufs);
                    // SAFETY: as above.
                    unsafe { uring::push(&mut ring, &e)? };
                    issued += 1;
                }
            }
        }
        bufs.settle();
        Ok(())
    };
    warm_then_time((ops / 10).max(qd), ops, run)
}

/// Reads per second through Linux AIO PREAD at queue depth `qd`.
pub fn aio_reads(fd: RawFd, pages: u64, qd: usize, ops: usize, seed: u64) -> Result<f64, String> {
    let mut bufs = InFlightBuf::new(qd * PAGE);
    let aio = aio::Context::new(qd as u32 * 2).map_err(|e| err("io_setup", e))?;
    let mut events = vec![aio::IoEvent::default(); qd];
    let mut rng = Rng::new(seed);
    let run = |ops: usize| -> Result<(), String> {
        let mut iocbs = Vec::with_capacity(qd);
        let first = qd.min(ops);
        for s in 0..first {
            let off = offset(&mut rng, pages);
            iocbs.push(aio::Iocb::pread(
                fd,
                bufs.ptr_at(s * PAGE),
                PAGE,
                off,
                s as u64,
            ));
        }
        let submit = |iocbs: &mut Vec<aio::Iocb>| -> Result<(), String> {
            let mut sent = 0;
            while sent < iocbs.len() {
                // SAFETY: `bufs` outlives the context (declared first) or is leaked.
                sent +=
                    unsafe { aio.submit(&mut iocbs[sent..]) }.map_err(|e| err("io_submit", e))?;
            }
            iocbs.clear();
            Ok(())
        };
        submit(&mut iocbs)?;
        let (mut issued, mut done) = (first, 0);
        let deadline = Deadline::after(Duration::from_secs(120));
        while done < ops {
            let n = aio
                .get_events(1, &mut events, deadline.left())
                .map_err(|e| err("io_getevents", e))?;
            if n == 0 && deadline.passed() {
                return Err("AIO: no completion within 120 s".into());
            }
            for e in &events[..n] {
                if e.res != PAGE as i64 {
                    return Err(format!("AIO PREAD completed with {}", e.res));
                }
                done += 1;
                if issued < ops {
                    let s = e.data as usize;
                    let off = offset(&mut rng, pages);
                    iocbs.push(aio::Iocb::pread(
                        fd,
                        bufs.ptr_at(s * PAGE),
                        PAGE,
                        off,
                        e.data,
                    ));
                    issued += 1;
                }
            }
            submit(&mut iocbs)?;
        }
        bufs.settle();
        Ok(())
    };
    warm_then_time((ops / 10).max(qd), ops, run)
}

/// Reads per second with plain `pread()`.
pub fn plain_reads(fd: RawFd, pages: u64, ops: usize, seed: u64) -> Result<f64, String> {
    let mut buf = vec![0u8; PAGE];
    let mut rng = Rng::new(seed);
    let run = |ops: usize| -> Result<(), String> {
        for _ in 0..ops {
            let off = offset(&mut rng, pages) as libc::off_t;
            // SAFETY: `buf` is valid for writes of PAGE bytes.
            let r = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), PAGE, off) };
            if r != PAGE as isize {
                return Err(format!(
                    "pread returned {r}: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        Ok(())
    };
    warm_then_time(ops / 10, ops, run)
}
