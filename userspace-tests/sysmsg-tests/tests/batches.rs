//! Batches, partial acceptance, blocking and non-blocking reaping, poll/epoll readiness, many
//! threads on one queue, a randomized mix, and queues of other processes and files.

use std::{
    collections::HashMap,
    io::Write as _,
    mem::size_of,
    os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Arc, Mutex,
    },
    time::{Duration, Instant},
};
use sysmsg::{ioctl, op, sys, Batch, Entry, Opcode, Reply, Sysmsg, Timespec};
use sysmsg_tests::{
    assert_quiet, in_child, open, pipe, poll_events, raw_msg, seed, set_nonblocking, Rng, TempFile,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const MSG: usize = size_of::<sys::sysmsg_msg>();
const REPLY: usize = size_of::<sys::sysmsg_reply>();

/// A NOP that the kernel must refuse (a non-zero reserved field).
fn malformed(tag: u64) -> sys::sysmsg_msg {
    let mut m = raw_msg(Opcode::NOP, tag);
    m.reserved1 = 1;
    m
}

fn queue_limit(dev: &Sysmsg) -> usize {
    dev.info().expect("GET_INFO").queue_limit as usize
}

#[test]
fn a_batch_of_mixed_operations() {
    let dev = open();
    let data = TempFile::with_data("mixed-src", b"the quick brown fox");
    let out = TempFile::new("mixed-dst");
    let mut batch = Batch::new();
    batch.push(op::Nop::new().build().tag(1));
    batch.push(op::Nanosleep::new(ms(30)).build().tag(2));
    batch.push(op::Pread::new(&data.file, 5, 4).build().tag(3));
    batch.push(op::Pwrite::new(&out.file, "jumps", 0).build().tag(4));
    batch.push(op::Fsync::new(&out.file).build().tag(5));
    batch.push(op::Nanosleep::until(Timespec::now()).build().tag(6));
    batch.push(op::Nop::new().build().tag(7));
    assert_eq!(dev.submit(&mut batch).expect("submit"), 7);
    assert!(batch.is_empty(), "accepted messages leave the batch");
    assert_eq!(dev.in_flight(), 7);

    let mut got: HashMap<u64, Reply> = HashMap::new();
    while got.len() < 7 {
        for r in dev.wait(1).expect("wait") {
            assert!(got.insert(r.tag(), r).is_none(), "a tag twice");
        }
    }
    let expect = [
        (1, Opcode::NOP, 0),
        (2, Opcode::NANOSLEEP, 0),
        (3, Opcode::PREAD, 5),
        (4, Opcode::PWRITE, 5),
        (5, Opcode::FSYNC, 0),
        (6, Opcode::NANOSLEEP, 0),
        (7, Opcode::NOP, 0),
    ];
    for (tag, opcode, result) in expect {
        let r = &got[&tag];
        assert_eq!((r.opcode(), r.raw_result()), (opcode, result), "{r:?}");
    }
    assert_eq!(got[&3].data(), Some(&b"quick"[..]));
    assert_eq!(out.contents(), b"jumps");
    assert_eq!(dev.in_flight(), 0);
    assert_quiet(&dev);
}

#[test]
fn a_refusal_leaves_the_rest_of_the_batch() {
    let dev = open();
    let mut batch = Batch::new();
    batch.push(op::Nop::new().build().tag(1));
    batch.push(op::Nop::new().build().tag(2));
    batch.push(op::Read::new(-1, 8).build().tag(3)); // EBADF
    batch.push(op::Nop::new().build().tag(4));
    let e = dev.submit(&mut batch).expect_err("a bad fd was accepted");
    assert_eq!(e.accepted, 2);
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    let left: Vec<u64> = batch.entries().iter().map(Entry::get_tag).collect();
    assert_eq!(
        left,
        [3, 4],
        "the refused message and the ones after it stay"
    );

    // Resubmitting reports the same refusal, accepting nothing.
    let e = dev.submit(&mut batch).expect_err("still refused");
    assert_eq!((e.accepted, e.raw_os_error()), (0, Some(libc::EBADF)));
    assert_eq!(batch.len(), 2);
    // Without it, the rest goes through.
    assert_eq!(batch.pop_front().map(|e| e.get_tag()), Some(3));
    assert_eq!(dev.submit(&mut batch).expect("submit the rest"), 1);

    let tags: Vec<u64> = dev.wait(3).expect("wait").iter().map(Reply::tag).collect();
    assert_eq!(tags, [1, 2, 4], "exactly the accepted messages replied");
    assert_quiet(&dev);
}

#[test]
fn partial_acceptance_through_submit_raw() {
    let dev = open();
    let msgs = [
        raw_msg(Opcode::NOP, 1),
        raw_msg(Opcode::NOP, 2),
        raw_msg(Opcode::NOP, 3),
        malformed(4),
        raw_msg(Opcode::NOP, 5),
    ];
    // SAFETY: NOPs point to nothing; small tags.
    let e = unsafe { dev.submit_raw(&msgs) }.expect_err("a malformed message was accepted");
    assert_eq!((e.accepted, e.raw_os_error()), (3, Some(libc::EINVAL)));
    // SAFETY: as above.
    let e = unsafe { dev.submit_raw(&msgs[3..]) }.expect_err("refused again");
    assert_eq!((e.accepted, e.raw_os_error()), (0, Some(libc::EINVAL)));
    // SAFETY: as above.
    let n = unsafe { dev.submit_raw(&msgs[4..]) }.expect("the last one");
    assert_eq!(n, 1);

    let mut out = [sys::sysmsg_reply::default(); 8];
    let mut tags = Vec::new();
    while tags.len() < 4 {
        let n = dev.reap_raw(&mut out, false).expect("reap_raw");
        tags.extend(out[..n].iter().map(|r| r.tag));
    }
    assert_eq!(tags, [1, 2, 3, 5]);
    assert_quiet(&dev);
}

#[test]
fn the_submit_ioctl_writes_back_accepted_and_error() {
    let dev = open();
    let submit = |msgs: &[sys::sysmsg_msg], s: &mut sys::sysmsg_submit| {
        *s = sys::sysmsg_submit {
            msgs: msgs.as_ptr() as u64,
            count: msgs.len() as u32,
            accepted: 0xdead,
            error: -77,
            ..Default::default()
        };
        // SAFETY: a valid sysmsg_submit naming NOPs, which point to nothing.
        unsafe { ioctl::call(dev.as_fd(), ioctl::SUBMIT, s as *mut _ as usize) }
    };
    let mut s = sys::sysmsg_submit::default();

    let all = [raw_msg(Opcode::NOP, 1), raw_msg(Opcode::NOP, 2)];
    assert_eq!(submit(&all, &mut s).expect("submit"), 2);
    assert_eq!((s.accepted, s.error), (2, 0), "all accepted: error 0");

    let partial = [
        raw_msg(Opcode::NOP, 3),
        malformed(4),
        raw_msg(Opcode::NOP, 5),
    ];
    assert_eq!(submit(&partial, &mut s).expect("partial"), 1);
    assert_eq!((s.accepted, s.error), (1, libc::EINVAL));
    assert_eq!(
        (s.count, s.flags, s.replies, s.reap_max, s.reaped),
        (3, 0, 0, 0, 0),
        "without a REAP flag nothing is reaped"
    );

    let err = submit(&partial[1..], &mut s).expect_err("none accepted");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));

    let mut out = [sys::sysmsg_reply::default(); 8];
    let mut tags = Vec::new();
    while tags.len() < 3 {
        let n = dev.reap_raw(&mut out, false).expect("reap_raw");
        tags.extend(out[..n].iter().map(|r| r.tag));
    }
    assert_eq!(tags, [1, 2, 3]);
    let mut out = [sys::sysmsg_reply::default(); 1];
    let err = dev.reap_raw(&mut out, true).expect_err("a reply too many");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
}

/// `SYSMSG_SUBMIT_REAP` through `submit_reap_raw`: a NOP there and back in one call, a batch of
/// 32 reaped by the call that submits it (tags in order), a `reap_max` smaller than the batch
/// (the rest stays queued, in order), and a call that only reaps.
#[test]
fn submit_and_reap_in_one_call() {
    let dev = open();
    let mut out = [sys::sysmsg_reply::default(); 32];

    // SAFETY: NOPs point to nothing; small tags.
    let (a, r) = unsafe { dev.submit_reap_raw(&[raw_msg(Opcode::NOP, 1)], &mut out[..4], false) }
        .expect("a NOP there and back");
    assert_eq!((a, r), (1, 1));
    let reply = Reply::from_raw(&out[0]);
    assert_eq!(
        (reply.tag(), reply.opcode(), reply.raw_result()),
        (1, Opcode::NOP, 0)
    );
    assert_eq!(dev.in_flight(), 0, "the reply was filed");

    let batch: Vec<sys::sysmsg_msg> = (100..132).map(|t| raw_msg(Opcode::NOP, t)).collect();
    // SAFETY: as above.
    let (a, r) = unsafe { dev.submit_reap_raw(&batch, &mut out, true) }.expect("a batch");
    assert_eq!((a, r), (32, 32));
    let tags: Vec<u64> = out.iter().map(|r| r.tag).collect();
    assert_eq!(tags, (100..132).collect::<Vec<u64>>(), "tags in order");
    assert!(out
        .iter()
        .all(|r| r.result == 0 && r.opcode == Opcode::NOP.0));

    let batch: Vec<sys::sysmsg_msg> = (200..232).map(|t| raw_msg(Opcode::NOP, t)).collect();
    // SAFETY: as above.
    let (a, r) = unsafe { dev.submit_reap_raw(&batch, &mut out[..8], false) }.expect("8 of 32");
    assert_eq!((a, r), (32, 8));
    let mut tags: Vec<u64> = out[..8].iter().map(|r| r.tag).collect();
    assert_eq!(dev.in_flight(), 24);
    // Only reaping: a call with no message.
    // SAFETY: no message.
    let (a, r) = unsafe { dev.submit_reap_raw(&[], &mut out, false) }.expect("only reaping");
    assert_eq!((a, r), (0, 24));
    tags.extend(out[..24].iter().map(|r| r.tag));
    assert_eq!(tags, (200..232).collect::<Vec<u64>>(), "tags in order");
    // Nothing ready: no wait, nothing stored.
    // SAFETY: no message.
    let (a, r) = unsafe { dev.submit_reap_raw(&[], &mut out, false) }.expect("nothing ready");
    assert_eq!((a, r), (0, 0));
    assert_eq!(dev.in_flight(), 0);
    assert_quiet(&dev);
}

/// `SYSMSG_SUBMIT_REAP` never waits; `SYSMSG_SUBMIT_REAP_WAIT` waits for the first reply, but
/// not when a message was refused; the reap part runs after a refusal.
#[test]
fn submit_reap_waits_only_when_asked() {
    let dev = open();
    let mut out = [sys::sysmsg_reply::default(); 4];
    let ts = |ms: i64| sys::__kernel_timespec {
        tv_sec: 0,
        tv_nsec: ms * 1_000_000,
    };
    let (long, short) = (ts(300), ts(50));
    let sleep = |t: &sys::__kernel_timespec, tag| sys::sysmsg_msg {
        addr: t as *const _ as u64,
        ..raw_msg(Opcode::NANOSLEEP, tag)
    };

    let start = Instant::now();
    // SAFETY: the timespec is copied at submit; small tags.
    let (a, r) = unsafe { dev.submit_reap_raw(&[sleep(&long, 1)], &mut out, false) }
        .expect("a 300 ms sleep");
    assert_eq!((a, r), (1, 0), "REAP with nothing ready stores nothing");
    assert!(
        start.elapsed() < ms(250),
        "REAP waited {:?}",
        start.elapsed()
    );

    let start = Instant::now();
    // SAFETY: as above.
    let (a, r) =
        unsafe { dev.submit_reap_raw(&[sleep(&short, 2)], &mut out, true) }.expect("a 50 ms sleep");
    let waited = start.elapsed();
    assert_eq!((a, r), (1, 1));
    assert_eq!((out[0].tag, out[0].result), (2, 0), "the 50 ms sleep first");
    assert!(waited >= ms(50), "REAP_WAIT returned after {waited:?}");
    assert!(
        waited < ms(290),
        "REAP_WAIT waited for the 300 ms sleep: {waited:?}"
    );

    // A refusal: REAP_WAIT does not wait, and the reply that is ready still comes.
    let long_tag = replies_within_tag(&dev, 1);
    assert_eq!(long_tag, 1);
    // SAFETY: NOPs point to nothing.
    unsafe { dev.submit_raw(&[raw_msg(Opcode::NOP, 3)]) }.expect("a NOP");
    let start = Instant::now();
    // SAFETY: a malformed NOP the kernel refuses.
    let e = unsafe { dev.submit_reap_raw(&[malformed(4)], &mut out, true) }
        .expect_err("a malformed message was accepted");
    assert_eq!(
        (e.accepted, e.reaped, e.raw_os_error()),
        (0, 1, Some(libc::EINVAL)),
        "{e}"
    );
    assert_eq!(out[0].tag, 3);
    assert!(start.elapsed() < ms(1000), "a refused REAP_WAIT waited");

    // Nothing in flight and the only message refused: it returns at once (a hang would fail).
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let other = open();
        let mut out = [sys::sysmsg_reply::default(); 4];
        // SAFETY: a malformed NOP the kernel refuses.
        let r = unsafe { other.submit_reap_raw(&[malformed(5)], &mut out, true) };
        let _ = tx.send(r.map_err(|e| (e.accepted, e.reaped, e.raw_os_error())));
    });
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("REAP_WAIT with its only message refused and nothing in flight hangs");
    assert_eq!(r, Err((0, 0, Some(libc::EINVAL))));
    assert_eq!(dev.in_flight(), 0);
    assert_quiet(&dev);
}

/// Waits (up to 5 s) for the next reply of `dev` and returns its tag; panics unless exactly
/// `n` came.
fn replies_within_tag(dev: &Sysmsg, n: usize) -> u64 {
    let got = sysmsg_tests::replies_within(dev, n, Duration::from_secs(5));
    assert_eq!(got.len(), n, "{got:?}");
    got[0].tag()
}

#[test]
fn write_and_read_of_the_device() {
    let dev = open();
    let fd = dev.as_raw_fd();
    let write = |msgs: &[sys::sysmsg_msg], bytes: usize| {
        // SAFETY: `bytes` never exceeds the array; NOPs point to nothing.
        let r = unsafe { libc::write(fd, msgs.as_ptr().cast(), bytes) };
        if r < 0 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap())
        } else {
            Ok(r as usize)
        }
    };
    let msgs = [
        raw_msg(Opcode::NOP, 1),
        raw_msg(Opcode::NOP, 2),
        malformed(3),
        raw_msg(Opcode::NOP, 4),
    ];
    assert_eq!(write(&msgs, 0), Ok(0), "a write of nothing");
    assert_eq!(
        write(&msgs, MSG - 1),
        Err(libc::EINVAL),
        "not a multiple of 64"
    );
    assert_eq!(
        write(&msgs, MSG + 1),
        Err(libc::EINVAL),
        "not a multiple of 64"
    );
    assert_eq!(
        write(&msgs, 4 * MSG),
        Ok(2 * MSG),
        "a short write up to the refusal"
    );
    assert_eq!(
        write(&msgs[2..], 2 * MSG),
        Err(libc::EINVAL),
        "the refusal itself"
    );
    assert_eq!(write(&msgs[3..], MSG), Ok(MSG));

    let read = |out: &mut [sys::sysmsg_reply], bytes: usize| {
        // SAFETY: `bytes` never exceeds the array.
        let r = unsafe { libc::read(fd, out.as_mut_ptr().cast(), bytes) };
        if r < 0 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap())
        } else {
            Ok(r as usize)
        }
    };
    let mut out = [sys::sysmsg_reply::default(); 8];
    assert_eq!(
        read(&mut out, REPLY - 1),
        Err(libc::EINVAL),
        "shorter than a reply"
    );
    assert_eq!(read(&mut out, 0), Err(libc::EINVAL), "shorter than a reply");
    // A buffer that is not a multiple of the reply size stores whole replies only.
    assert_eq!(read(&mut out, REPLY + REPLY / 2), Ok(REPLY));
    assert_eq!(out[0].tag, 1);
    assert_eq!(read(&mut out, 8 * REPLY), Ok(2 * REPLY));
    assert_eq!((out[0].tag, out[1].tag), (2, 4));
    assert_eq!(
        (out[0].opcode, out[0].result),
        (sys::SYSMSG_OP_NOP as u8, 0)
    );
    // Exactly the three accepted messages replied.
    let err = dev.reap_raw(&mut out, true).expect_err("a reply too many");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
}

#[test]
fn nowait_and_o_nonblock() {
    let dev = open();
    // Without the fallback the library's blocking waits are the kernel's blocking REAP (with it,
    // they poll), which is what this test is about.
    dev.set_fallback(false);
    let mut out = [sys::sysmsg_reply::default(); 4];
    // Nothing ready: EAGAIN without waiting, through every non-blocking path.
    let err = dev
        .reap_raw(&mut out, true)
        .expect_err("reaped from an empty queue");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    assert!(dev.peek().expect("peek").is_none());
    assert_eq!(dev.wait(0).expect("wait(0)"), []);
    assert_eq!(dev.replies().count(), 0);

    set_nonblocking(dev.as_raw_fd(), true);
    let start = Instant::now();
    let err = dev
        .read_raw(&mut out)
        .expect_err("read(2) on an empty O_NONBLOCK queue");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    // NOWAIT with a message in flight that is not done yet.
    dev.submit_one(op::Nanosleep::new(ms(300)).build().tag(1))
        .expect("submit");
    let err = dev
        .reap_raw(&mut out, true)
        .expect_err("a sleep was done at once");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    let err = dev.read_raw(&mut out).expect_err("read(2) did not wait");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    assert!(start.elapsed() < ms(300));
    // SYSMSG_IOC_REAP without NOWAIT waits whatever O_NONBLOCK says.
    let r = dev.wait_one().expect("wait_one on an O_NONBLOCK file");
    assert_eq!(r.tag(), 1);
    assert!(start.elapsed() >= ms(300));
    // A ready reply is read even with O_NONBLOCK.
    dev.submit_one(op::Nop::new().build().tag(2))
        .expect("submit");
    assert_eq!(dev.read_raw(&mut out).expect("read(2)"), 1);
    assert_eq!(out[0].tag >> 48, sysmsg::TAG_MAGIC, "the library's own tag");

    // read(2) without O_NONBLOCK waits for a reply.
    set_nonblocking(dev.as_raw_fd(), false);
    let mut m = raw_msg(Opcode::NANOSLEEP, 3);
    let ts = sys::__kernel_timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    m.addr = &ts as *const _ as u64;
    let start = Instant::now();
    // SAFETY: the timespec is copied in during the call; no read buffer.
    unsafe { dev.submit_raw(&[m]) }.expect("submit_raw");
    assert_eq!(dev.read_raw(&mut out).expect("blocking read(2)"), 1);
    assert_eq!(
        (out[0].tag, out[0].opcode),
        (3, sys::SYSMSG_OP_NANOSLEEP as u8)
    );
    assert!(start.elapsed() >= ms(200));
}

#[test]
fn poll_readiness() {
    let dev = open();
    let fd = dev.as_raw_fd();
    let all = libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT | libc::POLLWRNORM;
    assert_eq!(
        poll_events(fd, all, Duration::ZERO),
        libc::POLLOUT | libc::POLLWRNORM,
        "writable, nothing to read"
    );
    dev.submit_one(op::Nop::new()).expect("submit");
    assert_eq!(
        poll_events(fd, all, Duration::ZERO),
        all,
        "a reply is ready"
    );
    dev.wait_one().expect("reap");
    assert_eq!(poll_events(fd, libc::POLLIN, Duration::ZERO), 0, "reaped");

    // A pending sleep: not readable until it completes, then poll wakes up.
    let start = Instant::now();
    dev.submit_one(op::Nanosleep::new(ms(250))).expect("submit");
    assert_eq!(poll_events(fd, libc::POLLIN, Duration::ZERO), 0);
    let ev = poll_events(fd, libc::POLLIN, Duration::from_secs(20));
    assert_eq!(ev & libc::POLLIN, libc::POLLIN, "poll timed out");
    assert!(
        start.elapsed() >= ms(250),
        "readable before the sleep ended"
    );
    assert!(dev.peek().expect("peek").is_some());
    assert_eq!(poll_events(fd, libc::POLLIN, Duration::ZERO), 0);
}

fn epoll_wait(ep: &OwnedFd, timeout: Duration) -> Vec<(u32, u64)> {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: an epoll descriptor and an array of 4 events.
    let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 4, ms) };
    assert!(n >= 0, "epoll_wait: {}", std::io::Error::last_os_error());
    events[..n as usize]
        .iter()
        .map(|e| (e.events, e.u64))
        .collect()
}

fn epoll_for(dev: &Sysmsg, events: u32, data: u64) -> OwnedFd {
    // SAFETY: epoll_create1 returns a new descriptor, which we own.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(
        ep >= 0,
        "epoll_create1: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the new descriptor is ours alone.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: valid descriptors and a valid event.
    let r = unsafe {
        libc::epoll_ctl(
            ep.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            dev.as_raw_fd(),
            &mut ev,
        )
    };
    assert_eq!(r, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    ep
}

#[test]
fn epoll_level_triggered() {
    let dev = open();
    let ep = epoll_for(&dev, libc::EPOLLIN as u32, 77);
    assert_eq!(epoll_wait(&ep, Duration::ZERO), []);
    let start = Instant::now();
    dev.submit_one(op::Nanosleep::new(ms(200)).build().tag(5))
        .expect("submit");
    assert_eq!(epoll_wait(&ep, Duration::ZERO), []);
    let got = epoll_wait(&ep, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "epoll_wait timed out");
    assert_eq!(got[0].1, 77);
    assert_ne!(got[0].0 & libc::EPOLLIN as u32, 0);
    assert!(
        start.elapsed() >= ms(200),
        "readable before the sleep ended"
    );
    // Level-triggered: still ready until reaped.
    assert_eq!(epoll_wait(&ep, Duration::ZERO).len(), 1);
    assert_eq!(dev.wait_one().expect("reap").tag(), 5);
    assert_eq!(epoll_wait(&ep, Duration::ZERO), []);
}

#[test]
fn epoll_edge_triggered_wakes_for_every_completion() {
    let dev = open();
    let ep = epoll_for(&dev, (libc::EPOLLIN | libc::EPOLLET) as u32, 1);
    let (r, mut w) = pipe();
    dev.submit_one(op::Read::new(&r, 4)).expect("submit READ");
    dev.submit_one(op::Nop::new()).expect("submit NOP");
    assert_eq!(epoll_wait(&ep, Duration::from_secs(20)).len(), 1);
    assert_eq!(
        epoll_wait(&ep, Duration::ZERO),
        [],
        "edge-triggered: reported once"
    );
    // A completion from a wait-queue callback (the pipe) is a new edge.
    let waker = std::thread::spawn(move || {
        std::thread::sleep(ms(100));
        w.write_all(b"data").expect("write");
        w
    });
    assert_eq!(
        epoll_wait(&ep, Duration::from_secs(20)).len(),
        1,
        "no wakeup"
    );
    let _w = waker.join().unwrap();
    let mut got: Vec<Opcode> = dev
        .wait(2)
        .expect("wait")
        .iter()
        .map(Reply::opcode)
        .collect();
    got.sort();
    assert_eq!(got, [Opcode::NOP, Opcode::READ]);
}

#[test]
fn two_files_have_separate_queues() {
    let a = open();
    let b = open();
    a.submit_one(op::Nop::new().build().tag(1))
        .expect("submit on a");
    assert!(b.peek().expect("peek b").is_none(), "b sees a's reply");
    assert_eq!(poll_events(b.as_raw_fd(), libc::POLLIN, Duration::ZERO), 0);
    b.submit_one(op::Nop::new().build().tag(2))
        .expect("submit on b");
    assert_eq!(a.wait_one().expect("a").tag(), 1);
    assert_eq!(b.wait_one().expect("b").tag(), 2);
    assert_quiet(&a);
    assert_quiet(&b);
}

#[test]
fn many_threads_share_one_sysmsg() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 150;
    let dev = Arc::new(open());
    let src = Arc::new(TempFile::with_data("threads-src", &[0xa5; 4096]));
    let dst = Arc::new(TempFile::new("threads-dst"));
    // tag -> (opcode, expected result)
    let expected: Arc<Mutex<HashMap<u64, (Opcode, i64)>>> = Arc::default();
    let reaped = Arc::new(AtomicUsize::new(0));
    let done_submitting = Arc::new(AtomicUsize::new(0));

    let check = {
        let expected = expected.clone();
        let reaped = reaped.clone();
        move |replies: Vec<Reply>| {
            let mut map = expected.lock().unwrap();
            for r in replies {
                let Some((opcode, result)) = map.remove(&r.tag()) else {
                    panic!("unexpected or repeated reply {r:?}");
                };
                assert_eq!((r.opcode(), r.raw_result()), (opcode, result), "{r:?}");
                if opcode == Opcode::PREAD {
                    assert!(r.data().unwrap().iter().all(|&b| b == 0xa5));
                }
                reaped.fetch_add(1, Ordering::SeqCst);
            }
        }
    };

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (dev, src, dst) = (dev.clone(), src.clone(), dst.clone());
            let (expected, check) = (expected.clone(), check.clone());
            let done_submitting = done_submitting.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed(0x7417_ead5) + t);
                let mut i = 0;
                let mut batch = Batch::new();
                while i < PER_THREAD {
                    // Now and then a synchronous call in between.
                    if rng.chance(10) {
                        match rng.below(3) {
                            0 => dev.nop_sync().expect("nop_sync"),
                            1 => dev.nanosleep_sync(ms(rng.below(3))).expect("sleep"),
                            _ => assert_eq!(
                                dev.pread_sync(&src.file, 64, rng.below(4000))
                                    .expect("pread"),
                                [0xa5; 64]
                            ),
                        }
                    }
                    let n = (1 + rng.below(10)).min(PER_THREAD - i);
                    for _ in 0..n {
                        let tag = (t << 32) | i;
                        i += 1;
                        let (e, want): (Entry, _) = match rng.below(4) {
                            0 => (op::Nop::new().into(), (Opcode::NOP, 0)),
                            1 => (
                                op::Nanosleep::new(Duration::from_micros(rng.below(2000))).into(),
                                (Opcode::NANOSLEEP, 0),
                            ),
                            2 => {
                                let len = 1 + rng.below(64);
                                let at = rng.below(4096 - len);
                                (
                                    op::Pread::new(&src.file, len as usize, at).into(),
                                    (Opcode::PREAD, len as i64),
                                )
                            }
                            _ => (
                                op::Pwrite::new(&dst.file, vec![t as u8; 8], tag & 0xffff).into(),
                                (Opcode::PWRITE, 8),
                            ),
                        };
                        expected.lock().unwrap().insert(tag, want);
                        batch.push(e.tag(tag));
                    }
                    while !batch.is_empty() {
                        match dev.submit(&mut batch) {
                            Ok(_) => {}
                            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                                check(dev.wait(1).expect("wait"));
                            }
                            Err(e) => panic!("submit: {e}"),
                        }
                    }
                    match rng.below(3) {
                        0 => check(dev.wait(0).expect("wait(0)")),
                        1 => check(dev.peek().expect("peek").into_iter().collect()),
                        _ => check(dev.wait(1).expect("wait(1)")),
                    }
                }
                done_submitting.fetch_add(1, Ordering::SeqCst);
                loop {
                    let got = dev.wait(1).expect("wait");
                    if got.is_empty() {
                        if done_submitting.load(Ordering::SeqCst) == THREADS as usize
                            && dev.in_flight() == 0
                        {
                            break;
                        }
                        std::thread::sleep(ms(1));
                    }
                    check(got);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a thread failed");
    }
    check(dev.wait(0).expect("wait(0)"));
    assert_eq!(
        reaped.load(Ordering::SeqCst),
        (THREADS * PER_THREAD) as usize
    );
    assert!(expected.lock().unwrap().is_empty());
    assert_quiet(&dev);
}

/// Concurrent submitting and reaping calls in the kernel itself: raw calls on one descriptor,
/// each thread reaping exactly as many replies as it submitted (whoever's they are).
#[test]
fn many_threads_reap_concurrently_in_the_kernel() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 200;
    let dev = Arc::new(open());
    let all_tags = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let dev = dev.clone();
            let all_tags = all_tags.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed(0xc0c0) + t);
                let ts = sys::__kernel_timespec {
                    tv_sec: 0,
                    tv_nsec: 300_000,
                };
                let mut mine = Vec::new();
                let mut i = 0;
                while i < PER_THREAD {
                    let n = (1 + rng.below(16)).min(PER_THREAD - i);
                    let msgs: Vec<_> = (i..i + n)
                        .map(|j| {
                            let tag = (t << 32) | j;
                            if rng.chance(30) {
                                let mut m = raw_msg(Opcode::NANOSLEEP, tag);
                                m.addr = &ts as *const _ as u64;
                                m
                            } else {
                                raw_msg(Opcode::NOP, tag)
                            }
                        })
                        .collect();
                    // SAFETY: NOPs and sleeps (whose timespec is copied in); small tags.
                    let accepted = unsafe { dev.submit_raw(&msgs) }.expect("submit_raw");
                    assert_eq!(accepted as u64, n);
                    i += n;
                    let mut need = n as usize;
                    let mut out = [sys::sysmsg_reply::default(); 16];
                    while need > 0 {
                        let max = need.min(out.len());
                        let got = if rng.chance(50) {
                            dev.reap_raw(&mut out[..max], false).expect("reap_raw")
                        } else {
                            dev.read_raw(&mut out[..max]).expect("read(2)")
                        };
                        assert!((1..=max).contains(&got), "{got} replies for {max}");
                        for r in &out[..got] {
                            assert_eq!(r.result, 0);
                            mine.push(r.tag);
                        }
                        need -= got;
                    }
                }
                all_tags.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a thread failed");
    }
    let mut tags = all_tags.lock().unwrap().clone();
    tags.sort();
    let want: Vec<u64> = (0..THREADS)
        .flat_map(|t| (0..PER_THREAD).map(move |i| (t << 32) | i))
        .collect();
    assert_eq!(tags.len(), want.len(), "replies lost or duplicated");
    assert_eq!(tags, want, "every tag exactly once");
    let mut out = [sys::sysmsg_reply::default(); 1];
    assert_eq!(
        dev.reap_raw(&mut out, true).unwrap_err().raw_os_error(),
        Some(libc::EAGAIN)
    );
}

/// What a randomized message should produce.
#[derive(Debug)]
struct Want {
    opcode: Opcode,
    result: i64,
    data: Option<Vec<u8>>,
}

#[test]
fn randomized_mix_every_accepted_message_gets_exactly_one_reply() {
    let seed = seed(0x5eed_1234);
    let mut rng = Rng::new(seed);
    let dev = open();
    let limit = queue_limit(&dev).clamp(16, 256) - 8;
    let content: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let src = TempFile::with_data("random-src", &content);
    let dst = TempFile::new("random-dst");
    let mut want: HashMap<u64, Want> = HashMap::new();
    let mut next_tag = 0u64;
    let mut refused = 0;
    let mut raw_next = 1u64 << 40;
    let mut total = 0usize;

    let mut check = |r: Reply, want: &mut HashMap<u64, Want>| {
        let Some(w) = want.remove(&r.tag()) else {
            panic!("seed {seed}: unexpected or repeated reply {r:?}");
        };
        assert_eq!(
            (r.opcode(), r.raw_result()),
            (w.opcode, w.result),
            "seed {seed}: {r:?}"
        );
        assert_eq!(r.data(), w.data.as_deref(), "seed {seed}: data of {r:?}");
        total += 1;
    };

    for _round in 0..400 {
        match rng.below(10) {
            0..=5 if want.len() + 8 < limit => {
                let mut batch = Batch::new();
                let mut bad_at = None;
                for k in 0..1 + rng.below(8) {
                    let tag = next_tag;
                    next_tag += 1;
                    let (e, w): (Entry, Want) = match rng.below(7) {
                        0 => (
                            op::Nop::new().into(),
                            Want {
                                opcode: Opcode::NOP,
                                result: 0,
                                data: None,
                            },
                        ),
                        1 => (
                            op::Nanosleep::new(Duration::from_micros(rng.below(3000))).into(),
                            Want {
                                opcode: Opcode::NANOSLEEP,
                                result: 0,
                                data: None,
                            },
                        ),
                        2 => (
                            op::Nanosleep::until(Timespec::now() - ms(rng.below(100))).into(),
                            Want {
                                opcode: Opcode::NANOSLEEP,
                                result: 0,
                                data: None,
                            },
                        ),
                        3 | 4 => {
                            let len = rng.below(200) as usize;
                            let at = rng.below(4200) as usize;
                            let end = (at + len).min(content.len());
                            let data = content.get(at..end).unwrap_or(&[]).to_vec();
                            (
                                op::Pread::new(&src.file, len, at as u64).into(),
                                Want {
                                    opcode: Opcode::PREAD,
                                    result: data.len() as i64,
                                    data: Some(data),
                                },
                            )
                        }
                        5 => {
                            let len = rng.below(100) as usize;
                            (
                                op::Pwrite::new(&dst.file, vec![tag as u8; len], rng.below(8192))
                                    .into(),
                                Want {
                                    opcode: Opcode::PWRITE,
                                    result: len as i64,
                                    data: None,
                                },
                            )
                        }
                        _ => {
                            if bad_at.is_none() && rng.chance(50) {
                                bad_at = Some(k as usize);
                                // Refused: a read of a descriptor that is not open.
                                (
                                    op::Read::new(-1 - rng.below(5) as i32, 16).into(),
                                    Want {
                                        opcode: Opcode::READ,
                                        result: i64::MIN,
                                        data: None,
                                    },
                                )
                            } else {
                                (
                                    op::Fdatasync::new(&dst.file).into(),
                                    Want {
                                        opcode: Opcode::FDATASYNC,
                                        result: 0,
                                        data: None,
                                    },
                                )
                            }
                        }
                    };
                    want.insert(tag, w);
                    batch.push(e.tag(tag));
                }
                let n = batch.len();
                match (dev.submit(&mut batch), bad_at) {
                    (Ok(k), None) => assert_eq!(k, n),
                    (Err(e), Some(at)) => {
                        assert_eq!((e.accepted, e.raw_os_error()), (at, Some(libc::EBADF)));
                        // The refused one gets no reply; the rest is submitted or dropped.
                        let bad = batch.pop_front().expect("the refused entry");
                        assert!(want.remove(&bad.get_tag()).is_some());
                        refused += 1;
                        if rng.chance(50) {
                            assert_eq!(dev.submit(&mut batch).expect("the rest"), n - at - 1);
                        } else {
                            for e in batch.entries() {
                                want.remove(&e.get_tag());
                            }
                        }
                    }
                    (r, bad) => panic!("seed {seed}: submit {r:?}, bad at {bad:?}"),
                }
            }
            6 if want.len() + 8 < limit => {
                // Raw NOPs (one malformed) whose replies come through the safe calls.
                let mut msgs = vec![
                    raw_msg(Opcode::NOP, raw_next),
                    raw_msg(Opcode::NOP, raw_next + 1),
                ];
                msgs.push(malformed(raw_next + 2));
                // SAFETY: NOPs point to nothing; the tags are not the library's.
                let e = unsafe { dev.submit_raw(&msgs) }.expect_err("malformed accepted");
                assert_eq!(e.accepted, 2);
                for t in [raw_next, raw_next + 1] {
                    want.insert(
                        t,
                        Want {
                            opcode: Opcode::NOP,
                            result: 0,
                            data: None,
                        },
                    );
                }
                raw_next += 3;
            }
            7 => {
                if let Some(r) = dev.peek().expect("peek") {
                    check(r, &mut want);
                }
            }
            8 => {
                for r in dev.replies() {
                    check(r.expect("replies"), &mut want);
                }
            }
            _ => {
                for r in dev.wait(1 + rng.below(3) as usize).expect("wait") {
                    check(r, &mut want);
                }
            }
        }
    }
    while !want.is_empty() {
        let got = dev.wait(1).expect("wait");
        assert!(!got.is_empty(), "seed {seed}: no reply for {want:?}");
        for r in got {
            check(r, &mut want);
        }
    }
    assert!(
        total > 500 && refused > 5,
        "seed {seed}: {total} replies, {refused} refused"
    );
    assert_eq!(dev.in_flight(), 0);
    assert_quiet(&dev);
}

#[test]
fn a_fork_child_has_its_own_queue() {
    let dev = open();
    let (r, mut w) = pipe();
    let mut batch = Batch::new();
    batch.push(op::Nop::new().build().tag(1));
    batch.push(op::Nanosleep::new(ms(300)).build().tag(2));
    batch.push(op::Read::new(&r, 8).build().tag(3));
    dev.submit(&mut batch).expect("submit");
    assert_ne!(
        poll_events(dev.as_raw_fd(), libc::POLLIN, Duration::ZERO),
        0
    );

    let code = in_child(|| {
        // The parent's NOP reply is ready, but not for this process.
        if poll_events(dev.as_raw_fd(), libc::POLLIN, Duration::ZERO) != 0 {
            return 2;
        }
        let mut out = [sys::sysmsg_reply::default(); 4];
        match dev.reap_raw(&mut out, true) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
            _ => return 3,
        }
        // Its own messages work on the inherited descriptor.
        if dev.submit_one(op::Nop::new().build().tag(10)).is_err() {
            return 4;
        }
        match dev.wait_one() {
            Ok(r) if r.tag() == 10 => {}
            _ => return 5,
        }
        if dev.nanosleep_sync(ms(50)).is_err() || dev.nop_sync().is_err() {
            return 6;
        }
        // After the parent's sleep has ended, still nothing of the parent's.
        std::thread::sleep(ms(400));
        match dev.reap_raw(&mut out, true) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
            _ => return 7,
        }
        // A new file in the child works too.
        let Ok(own) = Sysmsg::open() else { return 8 };
        if own.nop_sync().is_err() {
            return 9;
        }
        // Leave a message unreaped: the child's exit must not touch the parent's queue.
        if dev.submit_one(op::Nop::new().build().tag(11)).is_err() {
            return 10;
        }
        0
    });
    assert_eq!(code, 0, "the child failed at step {code}");

    w.write_all(b"x").expect("write");
    let mut tags: Vec<u64> = Vec::new();
    while tags.len() < 3 {
        tags.extend(dev.wait(1).expect("wait").iter().map(Reply::tag));
    }
    tags.sort();
    assert_eq!(tags, [1, 2, 3], "the parent's replies, none of the child's");
    assert_quiet(&dev);
}

#[test]
fn closing_with_messages_in_flight() {
    let dev = open();
    let (r, mut w) = pipe();
    let mut batch = Batch::new();
    batch.push(op::Read::new(&r, 8).build().tag(1));
    batch.push(op::Nanosleep::new(ms(200)).build().tag(2));
    for i in 0..3 {
        batch.push(op::Nop::new().build().tag(10 + i));
    }
    batch.push(op::Pread::new(&r, 8, 0).build()); // ESPIPE: refused, stays in the batch
    let e = dev.submit(&mut batch).expect_err("PREAD of a pipe");
    assert_eq!(e.accepted, 5);

    // If closing waited for the pipe READ, it would never end: a watchdog completes the READ
    // after 10 s so that the test ends either way, and reports whether it had to.
    let (tx, rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let fired = rx.recv_timeout(Duration::from_secs(10)).is_err();
        if fired {
            let _ = w.write_all(b"unblock!");
        }
        (fired, w)
    });
    drop(dev);
    drop(batch);
    let _ = tx.send(());
    let (fired, _w) = watchdog.join().unwrap();
    assert!(!fired, "closing the file waited for a pending pipe READ");
    drop(r);

    // The module is still fine for a new file.
    let dev = open();
    dev.nop_sync().expect("NOP after the close");
    assert_quiet(&dev);
}
