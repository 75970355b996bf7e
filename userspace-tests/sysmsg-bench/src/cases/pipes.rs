//! Case 5, `pipes`:
//!
//! (a) `pipes_pingpong`: the latency of a pipe round trip between two threads over two pipes,
//! one byte at a time — sysmsg READ/WRITE messages (each thread with its own open file, so its
//! own queue; the client submits its WRITE and the READ of the answer in one call, the echo
//! thread keeps a READ posted and answers with WRITE + next READ), io_uring READ/WRITE (a ring
//! per thread, the same pattern), and plain `read(2)`/`write(2)`. Categorical: x = 0.
//!
//! (b) 10,000 pending pipe reads (1,000 with `--quick`): one READ posted on each of 10,000
//! pipes that nobody writes yet. `pipes_pending_threads`: tasks that exist while they are
//! pending and did not before (new kernel threads + new threads of this process, e.g.
//! io-wq workers), the larger of two samples 200 ms and 400 ms after the last submission; for
//! sysmsg it must stay within `kernel.sysmsg.max_workers` (its pollable-file reads wait on the
//! pipes' wait queues and hold no thread). `pipes_pending_wakeup`: the time from writing one
//! byte to every pipe to having all the replies. `pipes_pending_memory`: slab bytes per
//! pending read (as in the sleeps case).

use super::{Ctx, Facts};
use crate::{
    report::{Case, CaseBuilder},
    sm,
    sysinfo::{self, Sample},
    uring,
    util::{err, ns_per, pipe, read_fd, write_fd, Deadline, InFlightBuf},
};
use io_uring::{opcode, types, IoUring};
use std::{
    fs::File,
    os::fd::AsRawFd,
    thread,
    time::{Duration, Instant},
};
use sysmsg::sys;

/// What the client sends to end the echo thread.
const QUIT: &[u8] = b"q";
const TAG_READ: u64 = 1;
const TAG_WRITE: u64 = 2;

/// Which implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// sysmsg messages.
    Sysmsg,
    /// io_uring.
    Uring,
    /// Plain system calls.
    Plain,
}

const PP_SYSMSG: &str = "sysmsg READ/WRITE";
const PP_URING: &str = "io_uring READ/WRITE";
const PP_PLAIN: &str = "plain read/write";
const PEND_SYSMSG: &str = "sysmsg READ";
const PEND_URING: &str = "io_uring READ";

/// Runs the case.
pub fn run(ctx: &Ctx, facts: &mut Facts) -> Vec<Case> {
    let rounds = ctx.count(20_000, 2_000);
    let mut pp = ctx.builder(
        "pipes_pingpong",
        "Pipe ping-pong between two threads: round trip",
        "contender",
        "ns",
        false,
    );
    for s in [PP_SYSMSG, PP_URING, PP_PLAIN] {
        pp.series(s);
    }
    pp.note(format!("{rounds} round trips of one byte per repetition, after a warm-up; two pipes, a client thread and an echo thread; sysmsg: raw messages, each thread with its own Sysmsg (own queue): the client submits WRITE + READ in one SYSMSG_IOC_SUBMIT and reaps both, the echo answers each READ with WRITE + the next READ; io_uring: the same with a ring per thread; plain: write(2) + read(2)"));
    for rep in 0..ctx.reps {
        eprintln!("  pipes_pingpong: repetition {}", rep + 1);
        pp.measure(PP_SYSMSG, 0, || pingpong(ctx, Kind::Sysmsg, rounds));
        pp.measure(PP_URING, 0, || pingpong(ctx, Kind::Uring, rounds));
        pp.measure(PP_PLAIN, 0, || pingpong(ctx, Kind::Plain, rounds));
    }

    let p = ctx.count(10_000, 1_000);
    let mut thr = ctx.builder(
        "pipes_pending_threads",
        "Pending pipe reads: new tasks while pending",
        "pending reads",
        "threads",
        false,
    );
    let mut wake = ctx.builder(
        "pipes_pending_wakeup",
        "Pending pipe reads: writing every pipe to all replies",
        "pending reads",
        "ms",
        false,
    );
    let mut mem = ctx.builder(
        "pipes_pending_memory",
        "Pending pipe reads: slab memory per read",
        "pending reads",
        "bytes/message",
        false,
    );
    let max_workers = sysinfo::sysmsg_sysctl("max_workers");
    facts.max_workers = max_workers;
    for b in [&mut thr, &mut wake, &mut mem] {
        for s in [PEND_SYSMSG, PEND_URING] {
            b.series(s);
        }
        b.note("one pipe per read (new ones each repetition), one 1-byte READ posted on each, none written until the measurement; then one byte written to every pipe (plain write(2)) and every reply reaped");
        b.note("threads: new kernel threads (/proc/PID/stat with PF_KTHREAD or parent kthreadd) + new threads of this process (io-wq workers), the larger of two samples 200 and 400 ms after the last submission");
        b.note(format!("memory: slab bytes 200 ms after the last submission minus before the first, per read; slab bytes from {}", sysinfo::slab_source()));
        b.note(format!(
            "kernel.sysmsg.max_workers = {}",
            max_workers.map_or("n/a (module not loaded)".into(), |v| v.to_string())
        ));
        b.note("io_uring: READ SQEs without IOSQE_ASYNC (pipes are pollable: io_uring arms a poll), in a fresh thread with its own ring");
    }
    // Two descriptors per pipe, plus some for everything else.
    let p = match sysinfo::raise_nofile(2 * p as u64 + 512) {
        Ok(n) => {
            for b in [&mut thr, &mut wake, &mut mem] {
                b.note(format!("RLIMIT_NOFILE raised to {n}"));
            }
            p
        }
        Err(e) => {
            let fit = (sysinfo::nofile_limit().saturating_sub(512) / 2) as usize;
            let fewer = fit.min(p);
            for b in [&mut thr, &mut wake, &mut mem] {
                b.note(format!(
                    "{e}: measured with {fewer} pipes instead of {p} (as root the hard limit can be raised)"
                ));
            }
            fewer
        }
    };
    for rep in 0..ctx.reps {
        eprintln!("  pipes_pending: {p} reads, repetition {}", rep + 1);
        for (series, kind) in [(PEND_SYSMSG, Kind::Sysmsg), (PEND_URING, Kind::Uring)] {
            if thr.has_failed(series, p as u64) {
                continue;
            }
            let r = pending(ctx, kind, p);
            record_pending(series, p, r, &mut thr, &mut wake, &mut mem);
        }
    }
    vec![pp.finish(), thr.finish(), wake.finish(), mem.finish()]
}

/// What one pending-reads repetition measured.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    /// New tasks while pending.
    pub new_tasks: i64,
    /// io-wq workers while pending.
    pub io_workers: usize,
    /// Slab bytes per pending read.
    pub mem_per: f64,
    /// From the first write to the last reply.
    pub wake: Duration,
}

fn record_pending(
    series: &str,
    p: usize,
    r: Result<Pending, String>,
    thr: &mut CaseBuilder,
    wake: &mut CaseBuilder,
    mem: &mut CaseBuilder,
) {
    let x = p as u64;
    match r {
        Ok(o) => {
            thr.add(series, x, o.new_tasks as f64);
            wake.add(series, x, o.wake.as_secs_f64() * 1e3);
            mem.add(series, x, o.mem_per);
            if o.io_workers > 0 {
                let note = format!("{series}: {} io-wq workers while pending", o.io_workers);
                for b in [thr, wake, mem] {
                    b.note(note.clone());
                }
            }
        }
        Err(e) => {
            for b in [thr, wake, mem] {
                b.fail(series, x, &e);
            }
        }
    }
}

/// Nanoseconds per ping-pong round trip.
pub fn pingpong(ctx: &Ctx, kind: Kind, rounds: usize) -> Result<f64, String> {
    let (a_r, a_w) = pipe().map_err(|e| err("pipe", e))?;
    let (b_r, b_w) = pipe().map_err(|e| err("pipe", e))?;
    thread::scope(|s| {
        let echo = s.spawn(move || match kind {
            Kind::Sysmsg => echo_sysmsg(ctx, a_r, b_w),
            Kind::Uring => echo_uring(a_r, b_w),
            Kind::Plain => echo_plain(a_r, b_w),
        });
        let r = match kind {
            Kind::Sysmsg => client_sysmsg(ctx, &a_w, &b_r, rounds),
            Kind::Uring => client_uring(&a_w, &b_r, rounds),
            Kind::Plain => client_plain(&a_w, &b_r, rounds),
        };
        // The echo thread ends at the byte 'q' (written plainly, whatever happened to the
        // client), or else at the end of file.
        let _ = write_fd(&a_w, QUIT);
        drop(a_w);
        let e = echo
            .join()
            .unwrap_or_else(|_| Err("the echo thread panicked".into()));
        match (r, e) {
            (Ok(ns), Ok(())) => Ok(ns),
            (Err(c), Err(e)) => Err(format!("{c} (echo: {e})")),
            (Err(c), Ok(())) => Err(c),
            (Ok(_), Err(e)) => Err(format!("echo: {e}")),
        }
    })
}

/// Runs `one` for a warm-up and then `rounds` times: nanoseconds per call.
fn timed(rounds: usize, mut one: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    for _ in 0..(rounds / 20).clamp(1, 500) {
        one()?;
    }
    let start = Instant::now();
    for _ in 0..rounds {
        one()?;
    }
    Ok(ns_per(rounds, start.elapsed()))
}

fn client_sysmsg(ctx: &Ctx, a_w: &File, b_r: &File, rounds: usize) -> Result<f64, String> {
    let mut rbuf = InFlightBuf::new(8);
    let ping = [b'p'];
    let sm = ctx.open_sysmsg()?;
    let mut replies = [sys::sysmsg_reply::default(); 2];
    timed(rounds, || {
        let msgs = [
            sm::write(a_w.as_raw_fd(), ping.as_ptr(), 1, TAG_WRITE),
            sm::read(b_r.as_raw_fd(), rbuf.ptr_at(0), 1, TAG_READ),
        ];
        // SAFETY: `rbuf` is leaked unless both replies were reaped.
        unsafe { sm::submit_all(&sm, &msgs)? };
        sm::reap_exact(&sm, &mut replies, false)?;
        rbuf.settle();
        for r in &replies {
            if r.result != 1 {
                return Err(format!("tag {}: result {} (echo gone?)", r.tag, r.result));
            }
        }
        Ok(())
    })
}

fn echo_sysmsg(ctx: &Ctx, a_r: File, b_w: File) -> Result<(), String> {
    let mut buf = InFlightBuf::new(8);
    let sm = ctx.open_sysmsg()?;
    let first = [sm::read(a_r.as_raw_fd(), buf.ptr_at(0), 1, TAG_READ)];
    // SAFETY: `buf` is leaked unless the READ's reply was reaped.
    unsafe { sm::submit_all(&sm, &first)? };
    let mut reply = [sys::sysmsg_reply::default()];
    loop {
        sm::reap_exact(&sm, &mut reply, false)?;
        let r = reply[0];
        if r.tag == TAG_WRITE {
            if r.result != 1 {
                return Err(format!("WRITE: {}", r.result));
            }
            continue;
        }
        buf.settle();
        match r.result {
            0 => return Ok(()),
            1 => {}
            res => return Err(format!("READ: {res}")),
        }
        if buf.bytes()[..1] == *QUIT {
            return Ok(());
        }
        let byte = [buf.bytes()[0]];
        let msgs = [
            sm::write(b_w.as_raw_fd(), byte.as_ptr(), 1, TAG_WRITE),
            sm::read(a_r.as_raw_fd(), buf.ptr_at(0), 1, TAG_READ),
        ];
        // SAFETY: as above; the WRITE's byte is copied at submit.
        unsafe { sm::submit_all(&sm, &msgs)? };
    }
}

fn client_uring(a_w: &File, b_r: &File, rounds: usize) -> Result<f64, String> {
    let mut rbuf = InFlightBuf::new(8);
    let ping = [b'p'];
    let mut ring = uring::ring(8, None)?;
    timed(rounds, || {
        let w = opcode::Write::new(types::Fd(a_w.as_raw_fd()), ping.as_ptr(), 1)
            .build()
            .user_data(TAG_WRITE);
        let r = opcode::Read::new(types::Fd(b_r.as_raw_fd()), rbuf.ptr_at(0), 1)
            .build()
            .user_data(TAG_READ);
        // SAFETY: `ping` and `rbuf` outlive the completions (rbuf is leaked otherwise).
        unsafe {
            uring::push(&mut ring, &w)?;
            uring::push(&mut ring, &r)?;
        }
        let mut got = 0;
        let mut bad = None;
        while got < 2 {
            ring.submit_and_wait(2 - got)
                .map_err(|e| err("io_uring_enter", e))?;
            got += uring::drain(&mut ring, |tag, res| {
                if res != 1 {
                    bad = Some((tag, res));
                }
            });
        }
        rbuf.settle();
        match bad {
            Some((tag, res)) => Err(format!("tag {tag}: result {res} (echo gone?)")),
            None => Ok(()),
        }
    })
}

fn echo_uring(a_r: File, b_w: File) -> Result<(), String> {
    let mut rbuf = InFlightBuf::new(8);
    let mut wbuf = InFlightBuf::new(8);
    let mut ring: IoUring = uring::ring(8, None)?;
    let read = |rbuf: &mut InFlightBuf| {
        opcode::Read::new(types::Fd(a_r.as_raw_fd()), rbuf.ptr_at(0), 1)
            .build()
            .user_data(TAG_READ)
    };
    // SAFETY: the buffers are leaked unless every completion was reaped.
    unsafe { uring::push(&mut ring, &read(&mut rbuf))? };
    loop {
        ring.submit_and_wait(1)
            .map_err(|e| err("io_uring_enter", e))?;
        let mut events = Vec::new();
        uring::drain(&mut ring, |tag, res| events.push((tag, res)));
        for (tag, res) in events {
            if tag == TAG_WRITE {
                if res != 1 {
                    return Err(format!("WRITE: {res}"));
                }
                continue;
            }
            match res {
                0 => {
                    rbuf.settle();
                    wbuf.settle();
                    return Ok(());
                }
                1 => {}
                res => return Err(format!("READ: {res}")),
            }
            let byte = rbuf.bytes()[0];
            if [byte] == *QUIT {
                // A WRITE may still be in flight: `wbuf` stays unsettled (leaked) then.
                rbuf.settle();
                return Ok(());
            }
            // The previous WRITE of `wbuf` has completed: the client read its byte before it
            // sent the one just read.
            let p = wbuf.ptr_at(0);
            // SAFETY: `p` points into `wbuf`, which no request is reading now (see above).
            unsafe { *p = byte };
            let w = opcode::Write::new(types::Fd(b_w.as_raw_fd()), p, 1)
                .build()
                .user_data(TAG_WRITE);
            // SAFETY: as above.
            unsafe {
                uring::push(&mut ring, &w)?;
                uring::push(&mut ring, &read(&mut rbuf))?;
            }
        }
    }
}

fn client_plain(a_w: &File, b_r: &File, rounds: usize) -> Result<f64, String> {
    let mut buf = [0u8; 1];
    timed(rounds, || {
        if write_fd(a_w, b"p").map_err(|e| err("write", e))? != 1 {
            return Err("short write".into());
        }
        match read_fd(b_r, &mut buf).map_err(|e| err("read", e))? {
            1 => Ok(()),
            n => Err(format!("read returned {n} (echo gone?)")),
        }
    })
}

fn echo_plain(a_r: File, b_w: File) -> Result<(), String> {
    let mut buf = [0u8; 1];
    loop {
        match read_fd(&a_r, &mut buf).map_err(|e| err("read", e))? {
            0 => return Ok(()),
            _ if buf == *QUIT => return Ok(()),
            n => {
                write_fd(&b_w, &buf[..n]).map_err(|e| err("write", e))?;
            }
        }
    }
}

/// `p` pending reads, then their wake-up.
pub fn pending(ctx: &Ctx, kind: Kind, p: usize) -> Result<Pending, String> {
    let pipes: Vec<(File, File)> = (0..p)
        .map(|_| pipe())
        .collect::<Result<_, _>>()
        .map_err(|e| err(&format!("{p} pipes"), e))?;
    settle();
    match kind {
        Kind::Sysmsg => pending_sysmsg(ctx, &pipes),
        Kind::Uring => thread::scope(|s| {
            s.spawn(|| pending_uring(&pipes))
                .join()
                .unwrap_or_else(|_| Err("the io_uring thread panicked".into()))
        }),
        Kind::Plain => Err("no plain variant".into()),
    }
}

/// Lets the kernel finish freeing what the previous measurement left (RCU-deferred frees of
/// closed pipes, exiting threads) before the "before" sample.
pub fn settle() {
    thread::sleep(Duration::from_millis(300));
}

/// Samples the tasks 200 and 400 ms from now: the larger count of new tasks, and the io-wq
/// workers.
fn sample_pending(before: &Sample, io: bool) -> (Sample, i64, usize) {
    thread::sleep(Duration::from_millis(200));
    let s1 = Sample::now(io);
    thread::sleep(Duration::from_millis(200));
    let s2 = Sample::now(io);
    let new = s1.new_tasks_since(before).max(s2.new_tasks_since(before));
    (s1, new, s1.io_workers.max(s2.io_workers))
}

fn write_all_pipes(pipes: &[(File, File)]) -> Result<(), String> {
    for (_, w) in pipes {
        if write_fd(w, b"x").map_err(|e| err("write to a pipe", e))? != 1 {
            return Err("a short write to a pipe".into());
        }
    }
    Ok(())
}

fn pending_sysmsg(ctx: &Ctx, pipes: &[(File, File)]) -> Result<Pending, String> {
    let p = pipes.len();
    let mut bufs = InFlightBuf::new(p * 8);
    let sm = ctx.open_sysmsg()?;
    let limit = sm
        .info()
        .map_err(|e| err("SYSMSG_IOC_GET_INFO", e))?
        .queue_limit as usize;
    if limit < p {
        return Err(format!(
            "{p} reads exceed the process's soft limit {limit} (kernel.sysmsg.max_per_process)"
        ));
    }
    let msgs: Vec<sys::sysmsg_msg> = pipes
        .iter()
        .enumerate()
        .map(|(i, (r, _))| sm::read(r.as_raw_fd(), bufs.ptr_at(i * 8), 1, i as u64))
        .collect();
    let before = Sample::now(false);
    for chunk in msgs.chunks(1024) {
        // SAFETY: `bufs` is leaked unless every reply was reaped.
        unsafe { sm::submit_all(&sm, chunk)? };
    }
    let (s1, new_tasks, _) = sample_pending(&before, false);
    let mut replies = vec![sys::sysmsg_reply::default(); 1024];
    if sm::reap_ready(&sm, &mut replies)? > 0 {
        return Err("a READ completed before its pipe was written".into());
    }
    let start = Instant::now();
    write_all_pipes(pipes)?;
    let deadline = Deadline::after(Duration::from_secs(60));
    let mut got = 0;
    while got < p {
        let k = sm::reap_until(&sm, &mut replies, deadline)?;
        if k == 0 {
            return Err(format!("only {got} of {p} READs replied within 60 s"));
        }
        if let Some(r) = replies[..k].iter().find(|r| r.result != 1) {
            return Err(format!("READ of pipe {}: {}", r.tag, r.result));
        }
        got += k;
    }
    let wake = start.elapsed();
    bufs.settle();
    Ok(Pending {
        new_tasks,
        io_workers: 0,
        mem_per: s1.slab_per(&before, p),
        wake,
    })
}

fn pending_uring(pipes: &[(File, File)]) -> Result<Pending, String> {
    let p = pipes.len();
    let mut bufs = InFlightBuf::new(p * 8);
    let before = Sample::now(true);
    let sq = (p.min(4096) as u32).next_power_of_two();
    let cq = (p.min(65_536) as u32).next_power_of_two().max(sq * 2);
    let mut ring = uring::ring(sq, Some(cq))?;
    for (i, (r, _)) in pipes.iter().enumerate() {
        let e = opcode::Read::new(types::Fd(r.as_raw_fd()), bufs.ptr_at(i * 8), 1)
            .build()
            .user_data(i as u64);
        // SAFETY: `bufs` is leaked unless every completion was reaped.
        unsafe { uring::push(&mut ring, &e)? };
    }
    ring.submit().map_err(|e| err("io_uring_enter", e))?;
    let (s1, new_tasks, io_workers) = sample_pending(&before, true);
    if !ring.completion().is_empty() {
        return Err("a READ completed before its pipe was written".into());
    }
    let start = Instant::now();
    write_all_pipes(pipes)?;
    let mut bad = None;
    let got = uring::reap_until(
        &mut ring,
        p,
        Deadline::after(Duration::from_secs(60)),
        |tag, res| {
            if res != 1 {
                bad = Some((tag, res));
            }
        },
    )?;
    let wake = start.elapsed();
    if got < p {
        return Err(format!("only {got} of {p} READs completed within 60 s"));
    }
    bufs.settle();
    if let Some((tag, res)) = bad {
        return Err(format!("READ of pipe {tag}: {res}"));
    }
    Ok(Pending {
        new_tasks,
        io_workers,
        mem_per: s1.slab_per(&before, p),
        wake,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            reps: 1,
            quick: true,
            dir: std::env::temp_dir(),
            device: "/nonexistent/sysmsg".into(),
            sysmsg: Err("no module".into()),
            sleep_base: None,
            env_note: String::new(),
        }
    }

    #[test]
    fn plain_pingpong() {
        let ns = pingpong(&ctx(), Kind::Plain, 200).unwrap();
        assert!(ns > 0.0);
    }

    #[test]
    fn sysmsg_pingpong_without_the_device_ends_cleanly() {
        let e = pingpong(&ctx(), Kind::Sysmsg, 10).unwrap_err();
        assert!(e.contains("no module"), "{e}");
    }
}
