//! Case 4, `sleeps`: N concurrent relative sleeps in one process (1,000, 10,000 and 100,000;
//! 100 and 1,000 with `--quick`) — sysmsg NANOSLEEP messages (hrtimers) vs io_uring
//! `IORING_OP_TIMEOUT` (one per sleep) vs one thread per sleep (`clock_nanosleep`, capped at
//! 10,000 threads).
//!
//! For each it records four plots:
//! - `sleeps`: wall time from the first submission to the last reply (the sleep's length plus
//!   the overheads);
//! - `sleeps_memory`: kernel slab memory per sleep: the slab bytes right after the last
//!   submission minus just before the first, divided by N (from `/proc/slabinfo` as root, else
//!   `SReclaimable + SUnreclaim` of `/proc/meminfo`; sysmsg's messages and io_uring's requests
//!   are slab objects, a thread's task struct too);
//! - `sleeps_kernel_memory`: the same with `KernelStack` and `PageTables` added (what a thread
//!   costs besides its slab objects);
//! - `sleeps_threads`: tasks that exist while the sleeps are in flight and did not before:
//!   new kernel threads (every `/proc/PID` with `PF_KTHREAD` or parent kthreadd) plus new
//!   threads of this process (io_uring's io-wq workers, the spawned threads); the largest of two
//!   samples (right after the last submission and halfway through the sleep).
//!
//! The sleep lasts `max(1 s, N × 50 µs)` (`--sleep-ms` sets the 1 s; 200 ms with `--quick`), so
//! that all N are in flight together even on a slow (TCG) machine; a repetition in which some
//! had already completed when memory was sampled says so in a note.

use super::{Ctx, Facts};
use crate::{
    cleanup::SysctlGuard,
    report::{Case, CaseBuilder},
    sm,
    sysinfo::{self, Sample},
    uring,
    util::{err, Deadline},
};
use io_uring::{opcode, types};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};
use sysmsg::sys;

/// At most this many threads are spawned.
pub const THREAD_CAP: usize = 10_000;
/// Each thread's stack.
const THREAD_STACK: usize = 64 * 1024;
/// Messages per `SYSMSG_IOC_SUBMIT`.
const CHUNK: usize = 1024;

const SYSMSG: &str = "sysmsg NANOSLEEP";
const URING: &str = "io_uring TIMEOUT";
const THREADS: &str = "thread per sleep";

/// The counts of sleeps.
pub fn counts(ctx: &Ctx) -> Vec<usize> {
    if ctx.quick {
        vec![100, 1_000]
    } else {
        vec![1_000, 10_000, 100_000]
    }
}

/// How long each of `n` sleeps lasts.
pub fn sleep_len(ctx: &Ctx, n: usize) -> Duration {
    let base = ctx.sleep_base.unwrap_or(if ctx.quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    });
    base.max(Duration::from_micros(50 * n as u64))
}

/// What one repetition of one contender measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Sleeps in flight together (fewer than asked if threads could not be spawned).
    pub count: usize,
    /// First submission to last reply.
    pub wall: Duration,
    /// First to last submission.
    pub submit: Duration,
    /// Before the first submission.
    pub before: Sample,
    /// Right after the last submission.
    pub during: Sample,
    /// New tasks: the largest of the two samples while in flight.
    pub new_tasks: i64,
    /// Sleeps that completed correctly.
    pub completed: usize,
    /// Sleeps already complete when `during` was sampled.
    pub early: usize,
    /// Why fewer than asked are in flight (threads).
    pub shortfall: Option<String>,
}

struct Builders {
    wall: CaseBuilder,
    mem: CaseBuilder,
    kmem: CaseBuilder,
    threads: CaseBuilder,
}

impl Builders {
    fn all(&mut self) -> [&mut CaseBuilder; 4] {
        [
            &mut self.wall,
            &mut self.mem,
            &mut self.kmem,
            &mut self.threads,
        ]
    }

    fn record(&mut self, series: &str, n: usize, len: Duration, r: Result<Outcome, String>) {
        let x = n as u64;
        let o = match r {
            Ok(o) => o,
            Err(e) => {
                for b in self.all() {
                    b.fail(series, x, &format!("N={n}: {e}"));
                }
                return;
            }
        };
        self.wall.add(series, x, o.wall.as_secs_f64());
        self.mem
            .add(series, x, o.during.slab_per(&o.before, o.count));
        self.kmem
            .add(series, x, o.during.kernel_mem_per(&o.before, o.count));
        self.threads.add(series, x, o.new_tasks as f64);
        let mut notes = Vec::new();
        if o.early > 0 {
            notes.push(format!(
                "{series} N={n}: {} sleeps had already completed when memory was sampled (submission took {:.3} s, the sleep {:.3} s)",
                o.early,
                o.submit.as_secs_f64(),
                len.as_secs_f64()
            ));
        }
        if o.completed < o.count {
            notes.push(format!(
                "{series} N={n}: only {} of {} sleeps completed correctly",
                o.completed, o.count
            ));
        }
        if let Some(s) = &o.shortfall {
            notes.push(format!("{series} N={n}: {s}"));
        }
        if o.during.io_workers > 0 {
            notes.push(format!(
                "{series} N={n}: {} io-wq workers while in flight",
                o.during.io_workers
            ));
        }
        for note in notes {
            for b in self.all() {
                b.note(note.clone());
            }
        }
    }
}

/// Runs the case.
pub fn run(ctx: &Ctx, facts: &mut Facts) -> Vec<Case> {
    let counts = counts(ctx);
    let mut bs = Builders {
        wall: ctx.builder(
            "sleeps",
            "Concurrent sleeps: wall time from first submit to all replies",
            "concurrent sleeps",
            "s",
            false,
        ),
        mem: ctx.builder(
            "sleeps_memory",
            "Concurrent sleeps: slab memory per sleep",
            "concurrent sleeps",
            "bytes/message",
            false,
        ),
        kmem: ctx.builder(
            "sleeps_kernel_memory",
            "Concurrent sleeps: slab + kernel stacks + page tables per sleep",
            "concurrent sleeps",
            "bytes/message",
            false,
        ),
        threads: ctx.builder(
            "sleeps_threads",
            "Concurrent sleeps: new tasks while in flight",
            "concurrent sleeps",
            "threads",
            false,
        ),
    };
    let lens: Vec<String> = counts
        .iter()
        .map(|&n| format!("N={n}: {:.3} s", sleep_len(ctx, n).as_secs_f64()))
        .collect();
    for b in bs.all() {
        for s in [SYSMSG, URING, THREADS] {
            b.series(s);
        }
        b.note(format!(
            "relative sleeps; their length: {}",
            lens.join(", ")
        ));
        b.note(format!("memory: after the last submission minus before the first, divided by N (sleeps_memory: slab bytes, from {}; sleeps_kernel_memory: + KernelStack + PageTables of /proc/meminfo); io_uring's SQ/CQ rings are not slab memory", sysinfo::slab_source()));
        b.note("threads: new kernel threads (/proc/PID/stat with PF_KTHREAD or parent kthreadd) + new threads of this process (io-wq workers, spawned threads), the larger of two samples while the sleeps are in flight");
        b.note(format!("sysmsg: raw NANOSLEEP messages, {CHUNK} per SYSMSG_IOC_SUBMIT, all pointing to one timespec; io_uring: one IORING_OP_TIMEOUT per sleep (count 0), in a fresh thread with its own ring (SQ <= 4096 entries, submitted whenever full; CQ up to 65536, the rest overflows into the kernel's list); threads: std::thread with a {} KiB stack, clock_nanosleep(CLOCK_MONOTONIC), at most {THREAD_CAP}", THREAD_STACK / 1024));
    }
    let max_n = counts.iter().copied().max().unwrap_or(0);
    let _limits = raise_limits_sysctl(ctx, max_n, &mut bs);
    let mut complete: Vec<(u64, usize, usize)> = Vec::new();
    for &n in &counts {
        let len = sleep_len(ctx, n);
        let mut all_done = 0;
        let mut reps_run = 0;
        for rep in 0..ctx.reps {
            eprintln!("  sleeps: N={n}, repetition {}", rep + 1);
            let x = n as u64;
            if !bs.wall.has_failed(SYSMSG, x) {
                let r = sysmsg_sleeps(ctx, n, len);
                if let Ok(o) = &r {
                    reps_run += 1;
                    if o.completed == n {
                        all_done += 1;
                    }
                }
                bs.record(SYSMSG, n, len, r);
            }
            if !bs.wall.has_failed(URING, x) {
                bs.record(URING, n, len, uring_sleeps(n, len));
            }
            if n <= THREAD_CAP {
                if !bs.wall.has_failed(THREADS, x) {
                    bs.record(THREADS, n, len, thread_sleeps(n, len));
                }
            } else {
                for b in bs.all() {
                    b.note(format!(
                        "{THREADS}: not run above {THREAD_CAP} threads (the cap)"
                    ));
                }
            }
        }
        complete.push((n as u64, all_done, reps_run));
    }
    facts.sleeps_complete = complete;
    let Builders {
        wall,
        mem,
        kmem,
        threads,
    } = bs;
    vec![wall.finish(), mem.finish(), kmem.finish(), threads.finish()]
}

/// With more sleeps than the default soft limit: `kernel.sysmsg.per_process_limits = 1`
/// (restored when the guard drops), so that the process may raise its own limit.
fn raise_limits_sysctl(ctx: &Ctx, max_n: usize, bs: &mut Builders) -> Option<SysctlGuard> {
    let sm = ctx.open_sysmsg().ok()?;
    let limit = sm.info().ok()?.queue_limit as usize;
    drop(sm);
    if max_n <= limit {
        return None;
    }
    match SysctlGuard::sysmsg("per_process_limits", 1) {
        Ok(g) => {
            for b in bs.all() {
                b.note(format!("sysmsg: the default soft limit is {limit}: kernel.sysmsg.per_process_limits was set to 1 (restored afterwards) and the process raised its own limit with SYSMSG_IOC_SET_LIMITS (Sysmsg::set_limits) where N needs it"));
            }
            Some(g)
        }
        Err(e) => {
            for b in bs.all() {
                b.note(format!("sysmsg: the default soft limit is {limit} and kernel.sysmsg.per_process_limits could not be set to 1 ({e}; run as root): larger N will be refused"));
            }
            None
        }
    }
}

fn timespec(len: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: len.as_secs() as libc::time_t,
        tv_nsec: len.subsec_nanos() as libc::c_long,
    }
}

/// Sleeps until `start + len/2` (if that is still ahead) and samples the tasks again: the
/// larger count of new tasks.
fn second_sample(start: Instant, len: Duration, before: &Sample, first: i64, io: bool) -> i64 {
    let mid = start + len / 2;
    let now = Instant::now();
    if mid <= now {
        return first;
    }
    thread::sleep(mid - now);
    first.max(Sample::now(io).new_tasks_since(before))
}

/// `n` sysmsg NANOSLEEP messages.
pub fn sysmsg_sleeps(ctx: &Ctx, n: usize, len: Duration) -> Result<Outcome, String> {
    let sm = ctx.open_sysmsg()?;
    let want = (n + 16) as u64;
    let info = sm.info().map_err(|e| err("SYSMSG_IOC_GET_INFO", e))?;
    if u64::from(info.queue_limit) < want {
        let l = sm.limits(0).map_err(|e| err("SYSMSG_IOC_GET_LIMITS", e))?;
        let hard = (l.hard < want).then_some(want);
        sm.set_limits(0, Some(want), hard).map_err(|e| {
            format!(
                "{n} sleeps need a soft limit of {want} (it is {}): SYSMSG_IOC_SET_LIMITS: {e} (needs kernel.sysmsg.per_process_limits = 1, and root to raise the hard limit {})",
                info.queue_limit, l.hard
            )
        })?;
    }
    let ts = Box::new(sys::__kernel_timespec {
        tv_sec: len.as_secs() as i64,
        tv_nsec: i64::from(len.subsec_nanos()),
    });
    let msgs: Vec<sys::sysmsg_msg> = (0..n as u64).map(|i| sm::nanosleep(&*ts, i)).collect();
    let mut replies = vec![sys::sysmsg_reply::default(); CHUNK];
    super::pipes::settle();
    let before = Sample::now(false);
    let start = Instant::now();
    for chunk in msgs.chunks(CHUNK) {
        // SAFETY: sleeps name only the timespec, copied at submit.
        unsafe { sm::submit_all(&sm, chunk)? };
    }
    let submit = start.elapsed();
    let during = Sample::now(false);
    let mut completed = 0;
    let mut got = 0;
    let mut count = |r: &[sys::sysmsg_reply]| {
        completed += r.iter().filter(|r| r.result == 0).count();
        r.len()
    };
    loop {
        let k = sm::reap_ready(&sm, &mut replies)?;
        if k == 0 {
            break;
        }
        got += count(&replies[..k]);
    }
    let early = got;
    let new_tasks = second_sample(start, len, &before, during.new_tasks_since(&before), false);
    let deadline = Deadline::after(len + Duration::from_secs(60) + submit * 2);
    while got < n {
        let k = sm::reap_until(&sm, &mut replies, deadline)?;
        if k == 0 {
            return Err(format!(
                "only {got} of {n} replies within {} s",
                (len + Duration::from_secs(60)).as_secs()
            ));
        }
        got += count(&replies[..k]);
    }
    let wall = start.elapsed();
    Ok(Outcome {
        count: n,
        wall,
        submit,
        before,
        during,
        new_tasks,
        completed,
        early,
        shortfall: None,
    })
}

/// `n` io_uring timeouts, in a fresh thread (so that io-wq workers, if any, are its own and
/// go with it).
pub fn uring_sleeps(n: usize, len: Duration) -> Result<Outcome, String> {
    thread::scope(|s| {
        s.spawn(|| uring_sleeps_here(n, len))
            .join()
            .unwrap_or_else(|_| Err("the io_uring thread panicked".into()))
    })
}

fn uring_sleeps_here(n: usize, len: Duration) -> Result<Outcome, String> {
    super::pipes::settle();
    let before = Sample::now(true);
    let sq = (n.min(4096) as u32).next_power_of_two();
    let cq = (n.min(65_536) as u32).next_power_of_two().max(sq * 2);
    let mut ring = uring::ring(sq, Some(cq))?;
    let ts = Box::new(types::Timespec::from(len));
    let start = Instant::now();
    for i in 0..n as u64 {
        let e = opcode::Timeout::new(&*ts).build().user_data(i);
        // SAFETY: the timespec is copied at submit and lives until the end anyway.
        unsafe { uring::push(&mut ring, &e)? };
    }
    ring.submit().map_err(|e| err("io_uring_enter", e))?;
    let submit = start.elapsed();
    let during = Sample::now(true);
    let early = ring.completion().len();
    let new_tasks = second_sample(start, len, &before, during.new_tasks_since(&before), true);
    let mut completed = 0;
    let deadline = Deadline::after(len + Duration::from_secs(60) + submit * 2);
    let got = uring::reap_until(&mut ring, n, deadline, |_, res| {
        if res == -libc::ETIME {
            completed += 1;
        }
    })?;
    if got < n {
        return Err(format!("only {got} of {n} timeouts completed in time"));
    }
    let wall = start.elapsed();
    Ok(Outcome {
        count: n,
        wall,
        submit,
        before,
        during,
        new_tasks,
        completed,
        early,
        shortfall: None,
    })
}

/// `n` threads, each sleeping once.
pub fn thread_sleeps(n: usize, len: Duration) -> Result<Outcome, String> {
    let done = Arc::new(AtomicUsize::new(0));
    let ts = timespec(len);
    super::pipes::settle();
    let before = Sample::now(false);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    let mut shortfall = None;
    for i in 0..n {
        let done = Arc::clone(&done);
        let r = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let mut left = ts;
                loop {
                    let mut rem = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    };
                    // SAFETY: valid timespecs for the request and the remainder.
                    let r =
                        unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &left, &mut rem) };
                    if r != libc::EINTR {
                        break;
                    }
                    left = rem;
                }
                done.fetch_add(1, Ordering::Relaxed);
            });
        match r {
            Ok(h) => handles.push(h),
            Err(e) => {
                shortfall = Some(format!("spawning failed after {i} of {n} threads: {e}"));
                break;
            }
        }
    }
    let submit = start.elapsed();
    let during = Sample::now(false);
    let early = done.load(Ordering::Relaxed);
    let count = handles.len();
    let new_tasks = second_sample(start, len, &before, during.new_tasks_since(&before), false);
    for h in handles {
        let _ = h.join();
    }
    let wall = start.elapsed();
    if count == 0 {
        return Err(shortfall.unwrap_or_else(|| "no thread could be spawned".into()));
    }
    Ok(Outcome {
        count,
        wall,
        submit,
        before,
        during,
        new_tasks,
        completed: done.load(Ordering::Relaxed),
        early,
        shortfall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(quick: bool) -> Ctx {
        Ctx {
            reps: 1,
            quick,
            dir: std::env::temp_dir(),
            device: "/nonexistent/sysmsg".into(),
            sysmsg: Err("no module".into()),
            sleep_base: None,
            env_note: String::new(),
        }
    }

    #[test]
    fn lengths() {
        let c = ctx(false);
        assert_eq!(sleep_len(&c, 1_000), Duration::from_secs(1));
        assert_eq!(sleep_len(&c, 100_000), Duration::from_secs(5));
        assert_eq!(sleep_len(&ctx(true), 100), Duration::from_millis(200));
        assert_eq!(counts(&c), vec![1_000, 10_000, 100_000]);
    }

    #[test]
    fn a_few_threads_sleep() {
        let o = thread_sleeps(20, Duration::from_millis(100)).unwrap();
        assert_eq!((o.count, o.completed), (20, 20));
        assert!(o.wall >= Duration::from_millis(100));
    }

    #[test]
    fn without_the_device_sysmsg_fails_cleanly() {
        let e = sysmsg_sleeps(&ctx(true), 10, Duration::from_millis(1)).unwrap_err();
        assert_eq!(e, "no module");
    }
}
