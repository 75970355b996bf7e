//! Cancellation (`SYSMSG_IOC_CANCEL`), end to end: by tag and all at once, through the library
//! ([`Sysmsg::cancel`], [`Sysmsg::cancel_all`]) and the raw ioctl; every accepted message still
//! gets exactly one reply, `-ECANCELED` if it was stopped; tags are private to a process.
//!
//! Every wait is bounded: a lost or late reply fails the test instead of hanging it. The library's
//! fallback is off everywhere, so that a refusal fails loudly instead of sleeping for a minute in
//! the test. Tests that fork, or that count on nothing else happening in the process for a
//! while, hold [`serial`].

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    os::fd::{AsFd, AsRawFd},
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};
use sysmsg::{ioctl, op, sys, Batch, Cancel, Opcode, Reply, Sysmsg, TAG_MAGIC};
use sysmsg_tests::{
    assert_no_reply_within, assert_quiet, errno_of, in_child, open, pipe, poll_events, raw_msg,
    replies_within, serial, set_nonblocking,
};

/// How long any reply that must come may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// Long enough never to complete during a test.
const LONG: Duration = Duration::from_secs(60);

const ECANCELED: i64 = -(libc::ECANCELED as i64);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn stopped(n: u32) -> Cancel {
    Cancel::Stopped {
        stopped: n,
        already: 0,
    }
}

/// The device, with the library's fallback off.
fn dev() -> Sysmsg {
    let dev = open();
    dev.set_fallback(false);
    dev
}

/// Waits (bounded) until a reply is ready in the kernel for `dev`, without reaping it.
fn wait_ready(dev: &Sysmsg) {
    let events = poll_events(dev.as_raw_fd(), libc::POLLIN, PATIENCE);
    assert_ne!(events & libc::POLLIN, 0, "no reply became ready");
}

/// A raw NANOSLEEP message for `tag`, pointing to `ts`.
fn raw_sleep(tag: u64, ts: &sys::__kernel_timespec) -> sys::sysmsg_msg {
    sys::sysmsg_msg {
        addr: ts as *const _ as u64,
        ..raw_msg(Opcode::NANOSLEEP, tag)
    }
}

fn timespec(d: Duration) -> sys::__kernel_timespec {
    sys::__kernel_timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// Submits raw messages, all of which must be accepted.
fn submit_raw(dev: &Sysmsg, msgs: &[sys::sysmsg_msg]) {
    // SAFETY: NOPs and sleeps, whose timespecs the callers keep alive across this call (they are
    // copied at submit); small tags, outside the library's.
    let n = unsafe { dev.submit_raw(msgs) }.expect("submit_raw");
    assert_eq!(n, msgs.len());
}

/// `SYSMSG_IOC_CANCEL` of `tag` (flags 0): the ioctl's result, and `cancelled` and `already` as
/// the kernel wrote them back.
fn cancel_raw(dev: &Sysmsg, tag: u64, flags: u32) -> (Result<u32, i32>, u32, u32) {
    let mut arg = sys::sysmsg_cancel {
        tag,
        flags,
        ..Default::default()
    };
    let r = dev.cancel_raw(&mut arg);
    assert_eq!(arg.reserved, [0; 3], "the kernel wrote to reserved fields");
    let r = r.map_err(|e| e.raw_os_error().expect("an errno"));
    (r, arg.cancelled, arg.already)
}

/// The replies by tag, checking that no tag came twice.
fn by_tag(replies: Vec<Reply>) -> BTreeMap<u64, Reply> {
    let mut map = BTreeMap::new();
    for r in replies {
        let tag = r.tag();
        if let Some(old) = map.insert(tag, r) {
            panic!("two replies for tag {tag}: {old:?} and {:?}", map[&tag]);
        }
    }
    map
}

#[test]
fn the_module_reports_the_feature() {
    let info = dev().info().expect("GET_INFO");
    assert_ne!(
        info.features & u64::from(sys::SYSMSG_FEATURE_CANCEL),
        0,
        "features {:#x}",
        info.features
    );
}

/// A sleep of a minute, cancelled by its tag: stopped, and its one reply says ECANCELED at once.
#[test]
fn a_long_sleep_cancelled_by_its_tag() {
    let dev = dev();
    dev.submit_one(op::Nanosleep::new(LONG).build().tag(1))
        .expect("submit");
    assert_no_reply_within(&dev, ms(50));
    let start = Instant::now();
    assert_eq!(dev.cancel(1).expect("cancel"), stopped(1));
    let got = replies_within(&dev, 1, PATIENCE);
    assert!(start.elapsed() < PATIENCE);
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(
        (r.tag(), r.opcode(), r.raw_result()),
        (1, Opcode::NANOSLEEP, ECANCELED)
    );
    assert!(r.is_cancelled());
    assert_eq!(errno_of(&r.result()), Some(libc::ECANCELED));
    assert_eq!(dev.in_flight(), 0);
    // Its reply was returned: the tag is gone, and nothing more comes.
    assert_eq!(dev.cancel(1).expect("cancel again"), Cancel::NotFound);
    assert_quiet(&dev);
}

/// An unknown tag is not found, by the library or the kernel, and disturbs nothing.
#[test]
fn an_unknown_tag_is_not_found() {
    let dev = dev();
    assert_eq!(dev.cancel(99).expect("cancel"), Cancel::NotFound);
    dev.submit_one(op::Nanosleep::new(LONG).build().tag(1))
        .expect("submit");
    for tag in [0, 2, 99, u64::MAX, (TAG_MAGIC << 48) | 1] {
        assert_eq!(
            dev.cancel(tag).expect("cancel"),
            Cancel::NotFound,
            "{tag:#x}"
        );
    }
    // The kernel's own answer: ENOENT, nothing counted. The library's message has a tag of the
    // library's in the kernel, not 1.
    for tag in [1, 99, u64::MAX] {
        assert_eq!(
            cancel_raw(&dev, tag, 0),
            (Err(libc::ENOENT), 0, 0),
            "{tag:#x}"
        );
    }
    assert_no_reply_within(&dev, ms(100));
    assert_eq!(dev.cancel(1).expect("cancel"), stopped(1));
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!(
        (got.len(), got[0].tag(), got[0].raw_result()),
        (1, 1, ECANCELED)
    );
    assert_quiet(&dev);
}

/// A message that completed and whose reply was not reaped cannot be stopped: `Already`, and
/// its real reply. The library also counts what it reaped and did not return yet, and a NOP
/// (which the kernel alone does not find).
#[test]
fn completed_but_unreaped_is_already_done() {
    let dev = dev();
    dev.submit_one(op::Nanosleep::new(ms(1)).build().tag(3))
        .expect("submit");
    wait_ready(&dev);
    assert_eq!(dev.cancel(3).expect("cancel"), Cancel::Already(1));
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].tag(), got[0].opcode(), got[0].raw_result()),
        (3, Opcode::NANOSLEEP, 0),
        "the real result"
    );
    assert_eq!(dev.cancel(3).expect("cancel"), Cancel::NotFound);

    // The same with a raw message: EALREADY with `already` = 1.
    let short = timespec(ms(1));
    submit_raw(&dev, &[raw_sleep(4, &short)]);
    wait_ready(&dev);
    assert_eq!(cancel_raw(&dev, 4, 0), (Err(libc::EALREADY), 0, 1));
    assert_eq!(dev.cancel(4).expect("cancel"), Cancel::Already(1));
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!((got[0].tag(), got[0].raw_result()), (4, 0));
    assert_eq!(cancel_raw(&dev, 4, 0), (Err(libc::ENOENT), 0, 0), "reaped");

    // A NOP completes at submit: the kernel does not find it, the library knows its reply is
    // still to come.
    submit_raw(&dev, &[raw_msg(Opcode::NOP, 5)]);
    assert_eq!(cancel_raw(&dev, 5, 0), (Err(libc::ENOENT), 0, 0));
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!((got[0].tag(), got[0].raw_result()), (5, 0));
    dev.submit_one(op::Nop::new().build().tag(6)).expect("NOP");
    assert_eq!(dev.cancel(6).expect("cancel"), Cancel::Already(1));
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!((got[0].tag(), got[0].raw_result()), (6, 0));
    assert_eq!(dev.cancel(6).expect("cancel"), Cancel::NotFound);

    // A reply the library reaped and holds for the next call counts too: a synchronous NOP
    // reaps the completed sleep's reply with its own.
    dev.submit_one(op::Nanosleep::new(ms(1)).build().tag(7))
        .expect("submit");
    wait_ready(&dev);
    dev.nop_sync().expect("a synchronous NOP");
    assert_eq!(dev.ready(), 1, "the sleep's reply waits in the library");
    assert_eq!(dev.cancel(7).expect("cancel"), Cancel::Already(1));
    let r = dev.wait_one().expect("wait_one");
    assert_eq!((r.tag(), r.raw_result()), (7, 0));
    assert_eq!(dev.cancel(7).expect("cancel"), Cancel::NotFound);
    assert_quiet(&dev);
}

/// Every message with the tag is matched: the waiting ones stopped, the completed one not.
#[test]
fn every_message_with_the_tag() {
    let dev = dev();
    dev.submit_one(op::Nanosleep::new(ms(1)).build().tag(5))
        .expect("submit");
    wait_ready(&dev);
    let mut batch = Batch::new();
    for tag in [5, 5, 5, 6] {
        batch.push(op::Nanosleep::new(LONG).build().tag(tag));
    }
    dev.submit(&mut batch).expect("submit");
    assert_eq!(
        dev.cancel(5).expect("cancel"),
        Cancel::Stopped {
            stopped: 3,
            already: 1
        }
    );
    let got = replies_within(&dev, 4, PATIENCE);
    assert_eq!(got.len(), 4, "{got:?}");
    let mut results: Vec<(u64, i64)> = got.iter().map(|r| (r.tag(), r.raw_result())).collect();
    results.sort();
    assert_eq!(
        results,
        [(5, ECANCELED), (5, ECANCELED), (5, ECANCELED), (5, 0)]
    );
    assert_eq!(dev.cancel(5).expect("cancel"), Cancel::NotFound);
    assert_eq!(dev.in_flight(), 1, "tag 6 sleeps on");
    assert_eq!(dev.cancel(6).expect("cancel"), stopped(1));
    assert_eq!(replies_within(&dev, 1, PATIENCE)[0].raw_result(), ECANCELED);
    assert_quiet(&dev);
}

/// A pipe READ taken off the pipe's wait queue reads nothing: data written afterwards stays
/// for the next reader.
#[test]
fn a_cancelled_pipe_read_takes_no_data() {
    let dev = dev();
    let (r, mut w) = pipe();
    dev.submit_one(op::Read::new(&r, 8).build().tag(1))
        .expect("submit");
    assert_no_reply_within(&dev, ms(50));
    assert_eq!(dev.cancel(1).expect("cancel"), stopped(1));
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].tag(), got[0].opcode(), got[0].raw_result()),
        (1, Opcode::READ, ECANCELED)
    );
    assert_eq!(got[0].data(), Some(&[][..]), "no data for a stopped READ");
    w.write_all(b"hello").expect("write");
    dev.submit_one(op::Read::new(&r, 8).build().tag(2))
        .expect("submit");
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!(
        (got[0].tag(), got[0].data()),
        (2, Some(&b"hello"[..])),
        "the next READ gets everything"
    );
    assert_quiet(&dev);
}

/// CANCEL_ALL over 50 sleeps and 5 pipe reads: 55 stopped, exactly 55 replies, all ECANCELED,
/// then nothing more; the reads took nothing from their pipes.
#[test]
fn cancel_all_stops_sleeps_and_pipe_reads() {
    let _serial = serial();
    let dev = dev();
    assert_eq!(
        dev.cancel_all().expect("cancel_all"),
        0,
        "nothing in flight"
    );
    let pipes: Vec<_> = (0..5).map(|_| pipe()).collect();
    let mut batch = Batch::new();
    for tag in 0..50 {
        batch.push(op::Nanosleep::new(LONG).build().tag(tag));
    }
    for (i, (r, _)) in pipes.iter().enumerate() {
        batch.push(op::Read::new(r, 8).build().tag(100 + i as u64));
    }
    assert_eq!(dev.submit(&mut batch).expect("submit"), 55);
    assert_no_reply_within(&dev, ms(50));

    let start = Instant::now();
    assert_eq!(dev.cancel_all().expect("cancel_all"), 55);
    let got = by_tag(replies_within(&dev, 55, PATIENCE));
    assert!(start.elapsed() < PATIENCE);
    assert_eq!(got.len(), 55);
    let want: Vec<u64> = (0..50).chain(100..105).collect();
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), want);
    for (tag, r) in &got {
        let opcode = if *tag < 50 {
            Opcode::NANOSLEEP
        } else {
            Opcode::READ
        };
        assert_eq!((r.opcode(), r.raw_result()), (opcode, ECANCELED), "{r:?}");
    }
    assert_eq!(dev.in_flight(), 0);
    assert_no_reply_within(&dev, ms(300));
    assert_eq!(dev.cancel_all().expect("cancel_all"), 0, "nothing left");

    for (r, w) in &pipes {
        (&*w).write_all(b"x").expect("write");
        set_nonblocking(r.as_raw_fd(), true);
        let mut buf = [0u8; 8];
        let n = (&*r).read(&mut buf).expect("the data is still in the pipe");
        assert_eq!(&buf[..n], b"x");
    }
    assert_quiet(&dev);
}

/// The raw ioctl's counts: by tag and with CANCEL_ALL, `cancelled` and `already` written back.
#[test]
fn the_ioctl_reports_both_counts() {
    let dev = dev();
    let (long, short) = (timespec(LONG), timespec(ms(1)));
    submit_raw(
        &dev,
        &[
            raw_sleep(2, &long),
            raw_sleep(2, &long),
            raw_sleep(3, &long),
            raw_msg(Opcode::NOP, 4),
        ],
    );
    assert_eq!(cancel_raw(&dev, 2, 0), (Ok(2), 2, 0));
    assert_eq!(cancel_raw(&dev, 4, 0), (Err(libc::ENOENT), 0, 0), "a NOP");
    let got = replies_within(&dev, 3, PATIENCE);
    let mut results: Vec<(u64, i64)> = got.iter().map(|r| (r.tag(), r.raw_result())).collect();
    results.sort();
    assert_eq!(results, [(2, ECANCELED), (2, ECANCELED), (4, 0)]);
    assert_eq!(cancel_raw(&dev, 2, 0), (Err(libc::ENOENT), 0, 0), "reaped");

    submit_raw(&dev, &[raw_sleep(1, &short)]);
    wait_ready(&dev);
    assert_eq!(cancel_raw(&dev, 1, 0), (Err(libc::EALREADY), 0, 1));
    // CANCEL_ALL: tag 3 stopped, tag 1 completed.
    let all = sys::SYSMSG_CANCEL_ALL;
    assert_eq!(cancel_raw(&dev, 0, all), (Ok(1), 1, 1));
    let got = by_tag(replies_within(&dev, 2, PATIENCE));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[&1].raw_result(), got[&3].raw_result()), (0, ECANCELED));
    assert_eq!(
        cancel_raw(&dev, 0, all),
        (Ok(0), 0, 0),
        "never fails for want of one"
    );
    assert_quiet(&dev);
}

/// Malformed arguments are refused with EINVAL (reserved fields, unknown flags, a tag with
/// CANCEL_ALL) and stop nothing; bad pointers are EFAULT; the wrong encoding is ENOTTY.
#[test]
fn bad_arguments_stop_nothing() {
    let dev = dev();
    let long = timespec(LONG);
    submit_raw(&dev, &[raw_sleep(5, &long)]);
    let all = sys::SYSMSG_CANCEL_ALL;
    let bad = [
        sys::sysmsg_cancel {
            tag: 5,
            flags: all,
            ..Default::default()
        },
        sys::sysmsg_cancel {
            tag: 5,
            flags: 2,
            ..Default::default()
        },
        sys::sysmsg_cancel {
            flags: all | (1 << 31),
            ..Default::default()
        },
        sys::sysmsg_cancel {
            tag: 5,
            reserved: [1, 0, 0],
            ..Default::default()
        },
        sys::sysmsg_cancel {
            flags: all,
            reserved: [0, 0, 1],
            ..Default::default()
        },
    ];
    for arg in bad {
        let mut arg = arg;
        let err = dev.cancel_raw(&mut arg).expect_err("a malformed cancel");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{arg:?}");
    }
    for addr in [0usize, 8, usize::MAX - 4095] {
        // SAFETY: the kernel must refuse these addresses, not write to them.
        let err = unsafe { ioctl::call(dev.as_fd(), ioctl::CANCEL, addr) }
            .expect_err("CANCEL with a bad pointer");
        assert_eq!(err.raw_os_error(), Some(libc::EFAULT), "addr {addr:#x}");
    }
    let mut scratch = sys::sysmsg_cancel {
        flags: all,
        ..Default::default()
    };
    let nr = sys::SYSMSG_IOC_NR_CANCEL;
    let rw = ioctl::IOC_READ | ioctl::IOC_WRITE;
    for cmd in [
        ioctl::ioc(ioctl::IOC_NONE, sys::SYSMSG_IOC_MAGIC, nr, 0),
        ioctl::ioc(ioctl::IOC_WRITE, sys::SYSMSG_IOC_MAGIC, nr, 32),
        ioctl::ioc(ioctl::IOC_READ, sys::SYSMSG_IOC_MAGIC, nr, 32),
        ioctl::ioc(rw, sys::SYSMSG_IOC_MAGIC, nr, 24),
    ] {
        assert!(!ioctl::ALL.contains(&cmd));
        // SAFETY: a CANCEL_ALL argument, larger than the sizes encoded here but one.
        let err = unsafe { ioctl::call(dev.as_fd(), cmd, &mut scratch as *mut _ as usize) }
            .expect_err("a wrongly encoded CANCEL");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "cmd {cmd:#x}");
    }
    assert_no_reply_within(&dev, ms(50));
    assert_eq!(cancel_raw(&dev, 5, 0), (Ok(1), 1, 0), "still in flight");
    let got = replies_within(&dev, 1, PATIENCE);
    assert_eq!((got[0].tag(), got[0].raw_result()), (5, ECANCELED));
    assert_quiet(&dev);
}

/// A synchronous call blocked in another thread returns with its ECANCELED reply.
#[test]
fn a_blocked_synchronous_call_returns_ecanceled() {
    let dev = Arc::new(dev());
    let (tx, rx) = mpsc::channel();
    let sleeper = {
        let dev = dev.clone();
        std::thread::spawn(move || {
            let r = dev.execute(op::Nanosleep::new(LONG).build().tag(9));
            let _ = tx.send(r.map(|r| (r.tag(), r.opcode(), r.raw_result())));
        })
    };
    // Cancel once the sleep is in flight.
    let start = Instant::now();
    let outcome = loop {
        match dev.cancel(9).expect("cancel") {
            Cancel::NotFound if start.elapsed() < PATIENCE => std::thread::sleep(ms(1)),
            c => break c,
        }
    };
    assert_eq!(outcome, stopped(1));
    let got = rx
        .recv_timeout(PATIENCE)
        .expect("the synchronous call did not return")
        .expect("execute");
    assert_eq!(got, (9, Opcode::NANOSLEEP, ECANCELED));
    sleeper.join().expect("the sleeper thread");
    assert_eq!(dev.in_flight(), 0);
    assert_quiet(&dev);
}

/// Tags are private to a process: a `fork()` child that inherited the file finds none of its
/// parent's messages (by the library or the kernel) and CANCEL_ALL there stops nothing of the
/// parent's, while its own message with the same tag is its own to stop; the parent's messages
/// stay cancellable afterwards.
#[test]
fn a_fork_child_cannot_cancel_the_parents_messages() {
    let _serial = serial();
    let dev = dev();
    let long = timespec(LONG);
    dev.submit_one(op::Nanosleep::new(LONG).build().tag(42))
        .expect("submit");
    submit_raw(&dev, &[raw_sleep(43, &long)]);
    let own = raw_sleep(43, &long);

    // The child makes system calls and takes the library's lock, which no other thread holds:
    // `dev` is this test's own.
    let code = in_child(|| {
        let mut arg = sys::sysmsg_cancel {
            tag: 43,
            ..Default::default()
        };
        match dev.cancel_raw(&mut arg) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            _ => return 2,
        }
        if (arg.cancelled, arg.already) != (0, 0) {
            return 3;
        }
        // The library state inherited from the parent still lists tag 42: the kernel does not.
        if !matches!(dev.cancel(42), Ok(Cancel::NotFound)) {
            return 4;
        }
        if !matches!(dev.cancel(43), Ok(Cancel::NotFound)) {
            return 5;
        }
        if !matches!(dev.cancel_all(), Ok(0)) {
            return 6;
        }
        // Its own sleep with the parent's tag, on the inherited file.
        // SAFETY: `long` is alive; the tag is not the library's.
        if !matches!(unsafe { dev.submit_raw(&[own]) }, Ok(1)) {
            return 7;
        }
        let mut arg = sys::sysmsg_cancel {
            tag: 43,
            ..Default::default()
        };
        if !matches!(dev.cancel_raw(&mut arg), Ok(1)) || (arg.cancelled, arg.already) != (1, 0) {
            return 8;
        }
        if poll_events(dev.as_raw_fd(), libc::POLLIN, PATIENCE) & libc::POLLIN == 0 {
            return 9;
        }
        let mut out = [sys::sysmsg_reply::default(); 4];
        if !matches!(dev.reap_raw(&mut out, true), Ok(1)) {
            return 10;
        }
        if (out[0].tag, out[0].result) != (43, ECANCELED) {
            return 11;
        }
        if !matches!(dev.cancel_all(), Ok(0)) {
            return 12;
        }
        0
    });
    assert_eq!(code, 0, "the child failed at step {code}");

    assert_no_reply_within(&dev, ms(50));
    assert_eq!(dev.cancel(42).expect("cancel"), stopped(1));
    assert_eq!(dev.cancel(43).expect("cancel"), stopped(1));
    let got = by_tag(replies_within(&dev, 2, PATIENCE));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[&42].raw_result(), got[&43].raw_result()),
        (ECANCELED, ECANCELED)
    );
    assert_no_reply_within(&dev, ms(100));
    assert_quiet(&dev);
}
