//! Limits, hysteresis, counters and the library's fallback, end to end (README.md).
//!
//! Limits and the throttle belong to the whole process, and libtest runs the tests of this
//! program in threads of one process: every test here holds [`serial`], and those that change
//! sysctls set them back when they end.

use std::{
    os::fd::{AsFd, AsRawFd},
    sync::{mpsc, Arc},
    time::Duration,
};
use sysmsg::{ioctl, op, sys, Batch, Limits, Opcode, Sysmsg, Timespec, MAX_LIMIT};
use sysmsg_tests::{
    assert_quiet, errno_of, fdinfo, in_child, open, own_stats, pipe, poll_events, raw_msg, serial,
    spawn_child, sysctl, Sysctls, TempFile,
};

const POLLOUT: i16 = libc::POLLOUT;

fn pollout(dev: &Sysmsg) -> bool {
    poll_events(dev.as_raw_fd(), POLLOUT, Duration::ZERO) & POLLOUT != 0
}

/// Submits `n` raw NOPs (never the fallback) and returns how many were accepted; a refusal
/// must be `EAGAIN`.
fn nops(dev: &Sysmsg, n: usize) -> usize {
    let msgs: Vec<_> = (0..n as u64).map(|i| raw_msg(Opcode::NOP, i + 1)).collect();
    // SAFETY: NOPs point to nothing; small tags.
    match unsafe { dev.submit_raw(&msgs) } {
        Ok(k) => k,
        Err(e) => {
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "{e}");
            e.accepted
        }
    }
}

/// Reaps exactly `n` replies (of NOPs: ready at once) with raw, non-blocking reaps.
fn reap(dev: &Sysmsg, n: usize) {
    let mut out = vec![sys::sysmsg_reply::default(); n.min(1024)];
    let mut got = 0;
    while got < n {
        let want = (n - got).min(out.len());
        got += dev.reap_raw(&mut out[..want], true).expect("reap");
    }
}

fn defaults() -> Limits {
    let soft = sysctl("max_per_process").expect("max_per_process") as u64;
    let hard = sysctl("max_per_process_hard").expect("max_per_process_hard") as u64;
    Limits {
        soft: soft.min(hard),
        hard,
    }
}

fn raw_limits(dev: &Sysmsg, cmd: u32, arg: sys::sysmsg_limits) -> Option<i32> {
    let mut arg = arg;
    // SAFETY: GET/SET_LIMITS read and write one sysmsg_limits.
    let r = unsafe { ioctl::call(dev.as_fd(), cmd, &mut arg as *mut _ as usize) };
    errno_of(&r)
}

#[test]
fn set_and_get_limits_and_their_errnos() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    let dev = open();
    let d = defaults();
    sysctls.set("per_process_limits", 0);
    assert_eq!(dev.limits(0).expect("GET_LIMITS"), d);
    for (soft, hard) in [(Some(5), None), (None, Some(5)), (Some(1), Some(1))] {
        let r = dev.set_limits(0, soft, hard);
        assert_eq!(errno_of(&r), Some(libc::EPERM), "per_process_limits is 0");
    }

    sysctls.set("per_process_limits", 1);
    let l = dev.set_limits(0, Some(5), None).expect("SET_LIMITS");
    assert_eq!(l, Limits { soft: 5, ..d });
    assert_eq!(dev.limits(0).expect("GET_LIMITS"), l);
    assert_eq!(dev.info().expect("info").queue_limit, 5);
    let me = std::process::id() as i32;
    assert_eq!(dev.limits(me).expect("GET_LIMITS of my pid"), l);
    // The process's limits, not the file's.
    let other = open();
    assert_eq!(other.limits(0).expect("GET_LIMITS"), l);
    assert_eq!(other.info().expect("info").queue_limit, 5);

    let einval = [
        (Some(0), None, "soft 0"),
        (None, Some(0), "hard 0"),
        (Some(MAX_LIMIT + 1), None, "soft too large"),
        (None, Some(MAX_LIMIT + 1), "hard too large"),
        (Some(d.hard + 1), None, "soft above hard"),
        (None, Some(4), "hard below soft"),
    ];
    for (soft, hard, what) in einval {
        let r = dev.set_limits(0, soft, hard);
        assert_eq!(errno_of(&r), Some(libc::EINVAL), "{what}");
        assert_eq!(dev.limits(0).expect("GET_LIMITS"), l, "{what} changed them");
    }
    // Both at once may go down together; root (CAP_SYS_RESOURCE) may raise the hard limit.
    let both = dev.set_limits(0, Some(3), Some(4)).expect("lower both");
    assert_eq!(both, Limits { soft: 3, hard: 4 });
    let max = dev
        .set_limits(0, Some(MAX_LIMIT), Some(MAX_LIMIT))
        .expect("raise both");
    assert_eq!(
        max,
        Limits {
            soft: MAX_LIMIT,
            hard: MAX_LIMIT
        }
    );
    assert_eq!(
        dev.set_limits(0, Some(1), None).expect("soft 1"),
        Limits {
            soft: 1,
            hard: MAX_LIMIT
        }
    );

    // Unknown flags, reserved fields, and flags on GET.
    let bad = [
        (
            ioctl::SET_LIMITS,
            sys::sysmsg_limits {
                flags: 4,
                soft: 9,
                ..Default::default()
            },
        ),
        (
            ioctl::SET_LIMITS,
            sys::sysmsg_limits {
                flags: 1,
                soft: 9,
                reserved: [0, 1],
                ..Default::default()
            },
        ),
        (
            ioctl::GET_LIMITS,
            sys::sysmsg_limits {
                flags: 1,
                ..Default::default()
            },
        ),
        (
            ioctl::GET_LIMITS,
            sys::sysmsg_limits {
                reserved: [1, 0],
                ..Default::default()
            },
        ),
    ];
    for (cmd, arg) in bad {
        assert_eq!(raw_limits(&dev, cmd, arg), Some(libc::EINVAL), "{arg:?}");
    }

    // No such process, or one that does not use sysmsg.
    let idle = spawn_child(|| {
        // SAFETY: waits for a signal (the parent's SIGKILL).
        unsafe { libc::pause() };
        0
    });
    for pid in [-1, i32::MAX, idle.pid] {
        assert_eq!(errno_of(&dev.limits(pid)), Some(libc::ESRCH), "pid {pid}");
        let r = dev.set_limits(pid, Some(2), None);
        assert_eq!(errno_of(&r), Some(libc::ESRCH), "pid {pid}");
    }
    idle.kill();

    // Back to 0: the defaults are in force again.
    sysctls.set("per_process_limits", 0);
    assert_eq!(dev.limits(0).expect("GET_LIMITS"), d);
    assert_eq!(u64::from(dev.info().expect("info").queue_limit), d.soft);
}

#[test]
fn limits_of_another_process() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let dev = open();
    let (go_r, go_w) = pipe();
    let (ready_r, ready_w) = pipe();
    let child = spawn_child(move || {
        let Ok(sm) = Sysmsg::open() else { return 2 };
        let mut byte = [0u8];
        if std::io::Write::write_all(&mut &ready_w, b"r").is_err()
            || std::io::Read::read_exact(&mut &go_r, &mut byte).is_err()
        {
            return 3;
        }
        match sm.info() {
            Ok(info) if info.queue_limit == 7 => 0,
            _ => 4,
        }
    });
    let mut byte = [0u8];
    std::io::Read::read_exact(&mut &ready_r, &mut byte).expect("the child is ready");
    assert_eq!(
        dev.limits(child.pid).expect("GET_LIMITS of the child"),
        defaults()
    );
    let l = dev
        .set_limits(child.pid, Some(7), None)
        .expect("SET_LIMITS of the child");
    assert_eq!(l.soft, 7);
    assert_eq!(
        dev.limits(0).expect("mine").soft,
        defaults().soft,
        "mine unchanged"
    );
    let listed = dev.proc_stats().expect("PROC_STATS");
    let entry = listed
        .iter()
        .find(|s| s.pid == child.pid)
        .expect("the child listed");
    assert_eq!(entry.soft, 7);
    std::io::Write::write_all(&mut &go_w, b"g").expect("go");
    let pid = child.pid;
    assert_eq!(child.wait(), 0, "the child did not see its new limit");
    // Its state went with its last file.
    assert_eq!(errno_of(&dev.limits(pid)), Some(libc::ESRCH));
}

#[test]
fn raising_the_hard_limit_needs_cap_sys_resource() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let dev = open();
    let parent = std::process::id() as i32;
    let code = in_child(|| {
        let Ok(sm) = Sysmsg::open() else { return 2 };
        // SAFETY: plain integers; the child has one thread. Dropping root drops the capabilities.
        let dropped = unsafe {
            libc::setresgid(65534, 65534, 65534) == 0 && libc::setresuid(65534, 65534, 65534) == 0
        };
        if !dropped {
            return 3;
        }
        let Ok(l) = sm.limits(0) else { return 4 };
        match sm.set_limits(0, Some(2), Some(l.hard - 1)) {
            Ok(n)
                if n == (Limits {
                    soft: 2,
                    hard: l.hard - 1,
                }) => {}
            _ => return 5,
        }
        if errno_of(&sm.set_limits(0, None, Some(l.hard))) != Some(libc::EPERM) {
            return 6;
        }
        // The soft limit still moves freely up to the hard one.
        if sm.set_limits(0, Some(l.hard - 1), None).is_err() {
            return 7;
        }
        // Another user's process (root's): no prlimit rights.
        if errno_of(&sm.limits(parent)) != Some(libc::EPERM)
            || errno_of(&sm.set_limits(parent, Some(2), None)) != Some(libc::EPERM)
        {
            return 8;
        }
        0
    });
    assert_eq!(code, 0, "the unprivileged child failed at step {code}");
    assert_eq!(dev.limits(0).expect("mine"), defaults(), "mine unchanged");
}

/// Limit 2, mark 1: throttled at the first refusal, free again at 1 in flight; POLLOUT follows,
/// and a poller is woken. The counters (PROC_STATS, fdinfo, sysctls) count it.
#[test]
fn hysteresis_at_limit_2() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    sysctls.set("low_water", 50);
    let (hits0, episodes0) = (
        sysctl("limit_hits").unwrap(),
        sysctl("throttle_episodes").unwrap(),
    );
    let dev = Arc::new(open());
    dev.set_limits(0, Some(2), None).expect("SET_LIMITS");
    assert!(pollout(&dev));
    assert_eq!(nops(&dev, 3), 2);
    assert!(!pollout(&dev), "POLLOUT while throttled");
    let s = own_stats(&dev);
    assert!(s.throttled, "{s:?}");
    assert_eq!(
        (
            s.inflight,
            s.peak_inflight,
            s.limit_hits,
            s.throttle_episodes
        ),
        (2, 2, 1, 1)
    );
    let fd = dev.as_raw_fd();
    for (key, want) in [
        ("sysmsg-inflight", "2"),
        ("sysmsg-soft-limit", "2"),
        ("sysmsg-throttled", "1"),
        ("sysmsg-peak-inflight", "2"),
        ("sysmsg-limit-hits", "1"),
        ("sysmsg-throttle-episodes", "1"),
    ] {
        assert_eq!(
            fdinfo(fd, key).expect("fdinfo").as_deref(),
            Some(want),
            "{key}"
        );
    }
    assert_eq!(nops(&dev, 1), 0, "refused while throttled");
    // write(2) never waits for room.
    let m = [raw_msg(Opcode::NOP, 9)];
    // SAFETY: a NOP points to nothing.
    let e = unsafe { dev.write_raw(&m) }.expect_err("write(2) while throttled");
    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));

    // A poller waiting for POLLOUT is woken at the mark.
    let poller = std::thread::spawn(move || poll_events(fd, POLLOUT, Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(100));
    reap(&dev, 1);
    assert_eq!(
        poller.join().unwrap() & POLLOUT,
        POLLOUT,
        "not woken at the mark"
    );
    assert!(!own_stats(&dev).throttled);
    assert_eq!(nops(&dev, 1), 1, "room at the mark");
    assert!(!pollout(&dev), "at the limit");
    assert_eq!(nops(&dev, 1), 0);
    let s = own_stats(&dev);
    assert!(s.throttled);
    assert_eq!((s.limit_hits, s.throttle_episodes), (4, 2));
    reap(&dev, 2);
    assert!(pollout(&dev));
    assert!(sysctl("limit_hits").unwrap() >= hits0 + 4);
    assert!(sysctl("throttle_episodes").unwrap() >= episodes0 + 2);
    assert_quiet(&dev);
}

/// The hysteresis proper: with limit 4 and mark 2 a throttled process is refused at 3 in flight,
/// below its limit; limit 1 has mark 0; `low_water` 100 throttles nothing, 0 waits for all.
#[test]
fn hysteresis_marks() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let dev = open();
    // (limit, low_water, mark)
    for (limit, low_water, mark) in [(4u64, 50, 2usize), (1, 50, 0), (4, 100, 4), (4, 0, 0)] {
        sysctls.set("low_water", low_water);
        dev.set_limits(0, Some(limit), None).expect("SET_LIMITS");
        let limit = limit as usize;
        let what = format!("limit {limit}, low_water {low_water}");
        assert_eq!(nops(&dev, limit + 1), limit, "{what}");
        let throttles = limit > mark;
        assert_eq!(own_stats(&dev).throttled, throttles, "{what}");
        let mut inflight = limit;
        while inflight > 0 {
            reap(&dev, 1);
            inflight -= 1;
            let free = if throttles {
                inflight <= mark
            } else {
                inflight < limit
            };
            assert_eq!(pollout(&dev), free, "{what}, {inflight} in flight");
            if !free {
                assert_eq!(nops(&dev, 1), 0, "{what}, {inflight} in flight");
            }
        }
        assert!(!own_stats(&dev).throttled, "{what}");
    }
    assert_quiet(&dev);
}

/// The default limit is the process's, over all its files: filling it refuses on every file and
/// throttles down to the mark (this was errors.rs's "full queue" test of the per-file bound).
#[test]
fn a_full_queue_at_the_default_limit() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 0);
    let dev = open();
    dev.set_fallback(false);
    let limit = dev.info().expect("info").queue_limit as usize;
    assert_eq!(limit as u64, defaults().soft);
    assert!(
        limit <= 1 << 18,
        "queue_limit {limit} is too large to fill in a test"
    );
    let mark = sysmsg::low_water_mark(limit as u64, sysctl("low_water").unwrap() as u64) as usize;
    assert!(pollout(&dev));

    let mut batch: Batch = (0..=limit as u64)
        .map(|i| op::Nop::new().build().tag(i))
        .collect();
    let e = dev
        .submit(&mut batch)
        .expect_err("more than queue_limit accepted");
    assert_eq!((e.accepted, e.raw_os_error()), (limit, Some(libc::EAGAIN)));
    assert_eq!(batch.len(), 1);
    assert!(!pollout(&dev), "POLLOUT with a full queue");
    // Replies that are ready but not reaped still count.
    assert_eq!(errno_of(&dev.nop_sync()), Some(libc::EAGAIN));
    // Another file of the same process shares the limit (and the throttle).
    let other = open();
    other.set_fallback(false);
    assert!(!pollout(&other));
    assert_eq!(errno_of(&other.nop_sync()), Some(libc::EAGAIN));

    // Reaping one is not enough: throttled until down to the mark.
    reap(&dev, 1);
    if limit - 1 > mark {
        assert!(!pollout(&dev));
        assert_eq!(
            errno_of(&dev.submit_one(op::Nop::new())),
            Some(libc::EAGAIN)
        );
    }
    reap(&dev, limit - 1 - mark);
    assert!(pollout(&dev) && pollout(&other), "not free at the mark");
    assert_eq!(dev.submit(&mut batch).expect("room again"), 1);
    other.nop_sync().expect("a NOP on the other file");
    while dev.in_flight() > 0 {
        dev.wait(1).expect("wait");
    }
    assert_quiet(&dev);
}

/// With the fallback (the default) the library performs what the kernel refuses: same replies,
/// counted, and the kernel again once the device reports POLLOUT.
#[test]
fn the_fallback_performs_what_the_limit_refuses() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let dev = open();
    dev.set_limits(0, Some(2), None).expect("SET_LIMITS");
    let t = TempFile::with_data("fallback", b"0123456789");
    let (r, w) = pipe();
    let mut b = Batch::new();
    b.push(
        op::Nanosleep::new(Duration::from_millis(100))
            .build()
            .tag(1),
    );
    b.push(op::Pread::new(&t.file, 4, 2).build().tag(2));
    b.push(op::Pwrite::new(&t.file, "ab", 8).build().tag(3));
    b.push(op::Write::new(&w, "ping").build().tag(4));
    b.push(op::Read::new(&r, 16).build().tag(5));
    b.push(op::Nanosleep::until(Timespec::now()).build().tag(6));
    b.push(op::Fdatasync::new(&t.file).build().tag(7));
    assert_eq!(dev.submit(&mut b).expect("submit"), 7);
    assert!(b.is_empty());
    let st = dev.stats();
    assert_eq!((st.async_ops, st.sync_ops, st.fallback_episodes), (2, 5, 1));
    assert!(dev.in_fallback());
    let s = own_stats(&dev);
    assert!(s.limit_hits >= 1 && s.inflight == 2 && s.throttled, "{s:?}");
    assert_eq!(dev.ready(), 5, "the fallback's replies are ready at once");
    let mut got = std::collections::HashMap::new();
    while got.len() < 7 {
        for r in dev.wait(1).expect("wait") {
            assert!(got.insert(r.tag(), r).is_none(), "a reply twice");
        }
    }
    let shape = |tag: u64| (got[&tag].opcode(), got[&tag].raw_result());
    assert_eq!(shape(1), (Opcode::NANOSLEEP, 0));
    assert_eq!(shape(2), (Opcode::PREAD, 4));
    assert_eq!(got[&2].data(), Some(&b"2345"[..]));
    assert_eq!(shape(3), (Opcode::PWRITE, 2));
    assert_eq!(shape(4), (Opcode::WRITE, 4));
    assert_eq!(got[&5].data(), Some(&b"ping"[..]));
    assert_eq!(shape(6), (Opcode::NANOSLEEP, 0));
    assert_eq!(shape(7), (Opcode::FDATASYNC, 0));
    assert_eq!(t.contents(), b"01234567ab");

    // Everything reaped: the next submission finds POLLOUT and goes to the kernel.
    dev.nop_sync().expect("a NOP");
    assert!(!dev.in_fallback());
    assert_eq!(dev.stats().async_ops, 3);
    // At the limit again: a synchronous call is performed here, and a refusal stays one.
    assert_eq!(nops(&dev, 2), 2);
    assert_eq!(dev.pread_sync(&t.file, 3, 0).expect("pread_sync"), b"012");
    let e = dev.submit_one(op::Fsync::new(-1)).expect_err("EBADF");
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    assert_eq!(dev.stats().sync_ops, 6);
    reap(&dev, 2);
    // Without the fallback the same refusal is the caller's.
    assert_eq!(nops(&dev, 2), 2);
    dev.set_fallback(false);
    assert_eq!(errno_of(&dev.nop_sync()), Some(libc::EAGAIN));
    reap(&dev, 2);
    assert_quiet(&dev);
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// SYSMSG_SUBMIT_WAIT waits for room that another thread's reaping makes, and a signal ends the
/// wait with EINTR.
#[test]
fn submit_wait_waits_until_another_thread_reaps() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let dev = Arc::new(open());
    dev.set_limits(0, Some(2), None).expect("SET_LIMITS");
    assert_eq!(nops(&dev, 2), 2);
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let dev = dev.clone();
        std::thread::spawn(move || {
            let mut b = Batch::new();
            b.push(op::Nop::new().build().tag(10));
            let r = dev.submit_wait(&mut b).map_err(|e| e.raw_os_error());
            tx.send(r).unwrap();
        })
    };
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "SUBMIT_WAIT did not wait"
    );
    reap(&dev, 1);
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("not woken by the reap");
    assert_eq!(r, Ok(1));
    waiter.join().unwrap();
    assert_eq!(dev.stats().sync_ops, 0, "no fallback with SUBMIT_WAIT");

    // Two in flight again (a NOP of before and the waiter's): a signal interrupts the wait.
    // SAFETY: installs a handler that does nothing, without SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        let handler: extern "C" fn(libc::c_int) = ignore_signal;
        sa.sa_sigaction = handler as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let dev = dev.clone();
        std::thread::spawn(move || {
            // SAFETY: no preconditions.
            tx.send(Err(unsafe { libc::pthread_self() })).unwrap();
            let mut b = Batch::new();
            b.push(op::Nop::new().build().tag(11));
            let r = dev
                .submit_wait(&mut b)
                .map_err(|e| (e.accepted, e.raw_os_error()));
            tx.send(Ok(r)).unwrap();
        })
    };
    let Ok(Err(thread)) = rx.recv() else {
        panic!("no thread id")
    };
    let r = loop {
        // SAFETY: the thread is joinable until joined below.
        unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
        if let Ok(Ok(r)) = rx.recv_timeout(Duration::from_millis(50)) {
            break r;
        }
    };
    waiter.join().unwrap();
    assert_eq!(r, Err((0, Some(libc::EINTR))));
    reap(&dev, 2);
    assert_quiet(&dev);
}

#[test]
fn proc_stats_lists_every_process_once() {
    let _serial = serial();
    let dev = open();
    let _other = open();
    assert_eq!(nops(&dev, 3), 3);
    let me = std::process::id() as i32;
    let all = dev.proc_stats().expect("PROC_STATS");
    assert_eq!(all.iter().filter(|s| s.pid == me).count(), 1, "{all:?}");
    let s = own_stats(&dev);
    assert_eq!(s.inflight, 3);
    assert!(s.submitted >= 3 && s.peak_inflight >= 3, "{s:?}");
    let l = dev.limits(0).expect("GET_LIMITS");
    assert_eq!((s.soft, s.hard), (l.soft, l.hard));
    assert!(sysctl("nr_inflight").unwrap() >= 3);

    let (go_r, go_w) = pipe();
    let (ready_r, ready_w) = pipe();
    let child = spawn_child(move || {
        let Ok(sm) = Sysmsg::open() else { return 2 };
        if nops(&sm, 5) != 5 {
            return 3;
        }
        let mut byte = [0u8];
        if std::io::Write::write_all(&mut &ready_w, b"r").is_err()
            || std::io::Read::read_exact(&mut &go_r, &mut byte).is_err()
        {
            return 4;
        }
        0
    });
    let mut byte = [0u8];
    std::io::Read::read_exact(&mut &ready_r, &mut byte).expect("the child is ready");
    let all = dev.proc_stats().expect("PROC_STATS");
    let c = all
        .iter()
        .find(|s| s.pid == child.pid)
        .expect("the child listed");
    assert_eq!((c.inflight, c.submitted), (5, 5));
    std::io::Write::write_all(&mut &go_w, b"g").expect("go");
    let pid = child.pid;
    assert_eq!(child.wait(), 0);
    let all = dev.proc_stats().expect("PROC_STATS");
    assert!(
        all.iter().all(|s| s.pid != pid),
        "the child is still listed"
    );
    reap(&dev, 3);
    assert_quiet(&dev);
}

/// `max_per_process` is the limit of every process while `per_process_limits` is 0; `max_total`
/// refuses without throttling a process that has no more than its mark in flight; values out of
/// range are refused with EINVAL.
#[test]
fn the_default_limit_and_max_total_sysctls() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 0);
    let dev = open();
    sysctls.set("max_per_process", 3);
    assert_eq!(
        dev.info().expect("info").queue_limit,
        3,
        "the default as it is now"
    );
    assert_eq!(nops(&dev, 4), 3);
    reap(&dev, 3);

    sysctls.set("max_per_process", 64);
    let n0 = sysctl("nr_inflight").unwrap();
    sysctls.set("max_total", n0 + 3);
    let hits = own_stats(&dev).limit_hits;
    assert_eq!(nops(&dev, 4), 3, "max_total");
    let s = own_stats(&dev);
    assert!(!s.throttled, "3 in flight is below the mark: {s:?}");
    assert_eq!(s.limit_hits, hits + 1);
    assert!(!pollout(&dev), "POLLOUT with max_total reached");
    assert_eq!(sysctl("nr_inflight").unwrap(), n0 + 3);
    reap(&dev, 1);
    assert!(pollout(&dev));
    assert_eq!(nops(&dev, 1), 1);
    reap(&dev, 3);

    for (name, bad) in [
        ("low_water", 101),
        ("low_water", -1),
        ("per_process_limits", 2),
        ("max_per_process", 0),
        ("max_per_process_hard", MAX_LIMIT as i64 + 1),
        ("max_total", 0),
    ] {
        let before = sysctl(name).unwrap();
        let r = sysmsg_tests::set_sysctl(name, bad);
        assert_eq!(errno_of(&r), Some(libc::EINVAL), "{name}={bad}");
        assert_eq!(sysctl(name).unwrap(), before, "{name} changed");
    }
    assert_quiet(&dev);
}
