//! Every refusal of README.md with its errno (and no reply for a refused message), errors of the
//! ioctls themselves, and faults at writeback. (The queue limit, which belongs to the whole
//! process, is tested in limits.rs.)

use std::{
    os::fd::{AsFd, AsRawFd},
    os::unix::net::UnixStream,
    time::Duration,
};
use sysmsg::{ioctl, op, sys, Entry, Opcode, Sysmsg, Timespec, MAX_IO_LEN};
use sysmsg_tests::{assert_quiet, open, pipe, raw_msg, Mapping, TempFile};

const PAGE: usize = 4096;
/// Not a user address on x86-64 (nor on any 64-bit architecture Linux runs on).
const KERNEL_ADDR: u64 = 0xffff_8000_0000_0000;

/// Submits raw messages and returns the errno that refused the first of them, asserting that
/// none was accepted.
fn refusal(dev: &Sysmsg, msgs: &[sys::sysmsg_msg]) -> i32 {
    // SAFETY: the callers' messages name leaked buffers (or bad addresses the kernel must
    // refuse), and small tags.
    match unsafe { dev.submit_raw(msgs) } {
        Ok(n) => panic!("accepted {n} message(s): {msgs:?}"),
        Err(e) => {
            assert_eq!(e.accepted, 0, "{msgs:?}");
            e.raw_os_error().expect("an errno")
        }
    }
}

fn assert_refused(dev: &Sysmsg, m: sys::sysmsg_msg, errno: i32, what: &str) {
    assert_eq!(
        refusal(dev, &[m]),
        errno,
        "{what}: expected {}",
        std::io::Error::from_raw_os_error(errno)
    );
}

/// Resources for valid messages of every opcode. Read buffers are leaked: if the kernel wrongly
/// accepted a message, it may write to them at any later reap.
struct Valid {
    file: TempFile,
    ts: &'static sys::__kernel_timespec,
    data: &'static [u8],
}

impl Valid {
    fn new() -> Self {
        Self {
            file: TempFile::with_data("valid", b"0123456789abcdef"),
            ts: Box::leak(Box::new(sys::__kernel_timespec {
                tv_sec: 0,
                tv_nsec: 1000,
            })),
            data: b"data",
        }
    }

    /// A message of `op` that the kernel accepts.
    fn msg(&self, op: Opcode, tag: u64) -> sys::sysmsg_msg {
        let mut m = raw_msg(op, tag);
        let fd = self.file.as_raw_fd();
        let buf = vec![0u8; 16].leak();
        match op {
            Opcode::NOP => {}
            Opcode::NANOSLEEP => m.addr = self.ts as *const _ as u64,
            Opcode::READ | Opcode::PREAD => {
                m.fd = fd;
                m.addr = buf.as_mut_ptr() as u64;
                m.len = 16;
            }
            Opcode::WRITE | Opcode::PWRITE => {
                m.fd = fd;
                m.addr = self.data.as_ptr() as u64;
                m.len = self.data.len() as u64;
            }
            Opcode::FSYNC | Opcode::FDATASYNC => m.fd = fd,
            other => panic!("no valid {other:?}"),
        }
        m
    }
}

#[test]
fn the_valid_messages_are_accepted() {
    let dev = open();
    let v = Valid::new();
    let msgs: Vec<_> = Opcode::ALL
        .iter()
        .map(|&op| v.msg(op, op.0.into()))
        .collect();
    // SAFETY: see `Valid`.
    assert_eq!(unsafe { dev.submit_raw(&msgs) }.expect("valid messages"), 8);
    let mut out = [sys::sysmsg_reply::default(); 8];
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let n = dev.reap_raw(&mut out, false).expect("reap_raw");
        seen.extend(out[..n].iter().map(|r| (r.tag, r.opcode, r.result >= 0)));
    }
    seen.sort();
    let want: Vec<_> = (0..8).map(|i| (i, i as u8, true)).collect();
    assert_eq!(seen, want);
    assert_quiet(&dev);
}

#[test]
fn unknown_opcodes_are_einval() {
    let dev = open();
    for op in [sys::SYSMSG_OP_COUNT as u8, 9, 0x7f, 0x80, 0xff] {
        assert_refused(
            &dev,
            raw_msg(Opcode(op), 1),
            libc::EINVAL,
            &format!("opcode {op}"),
        );
    }
    assert_quiet(&dev);
}

type Setter = fn(&mut sys::sysmsg_msg);

#[test]
fn non_zero_flags_and_reserved_fields_are_einval() {
    let dev = open();
    let v = Valid::new();
    for op in Opcode::ALL {
        let base = v.msg(op, 7);
        let cases: [(&str, Setter); 6] = [
            ("flags", |m| m.flags = 1),
            ("flags bit 7", |m| m.flags = 0x80),
            ("reserved0", |m| m.reserved0 = 1),
            ("reserved1", |m| m.reserved1 = 1),
            ("reserved[0]", |m| m.reserved[0] = 1),
            ("reserved[1]", |m| m.reserved[1] = 1 << 63),
        ];
        for (what, set) in cases {
            let mut m = base;
            set(&mut m);
            assert_refused(&dev, m, libc::EINVAL, &format!("{op:?} with {what}"));
        }
    }
    assert_quiet(&dev);
}

#[test]
fn fields_the_opcode_does_not_use_are_einval() {
    let dev = open();
    let v = Valid::new();
    let fd = v.file.as_raw_fd();
    let addr = v.data.as_ptr() as u64;
    for op in Opcode::ALL {
        let base = v.msg(op, 9);
        let uses_fd = !matches!(op, Opcode::NOP | Opcode::NANOSLEEP);
        let uses_addr = !matches!(op, Opcode::NOP | Opcode::FSYNC | Opcode::FDATASYNC);
        let uses_len = matches!(
            op,
            Opcode::READ | Opcode::WRITE | Opcode::PREAD | Opcode::PWRITE
        );
        let uses_offset = matches!(op, Opcode::PREAD | Opcode::PWRITE);
        let uses_op_flags = op == Opcode::NANOSLEEP;
        let mut cases: Vec<(&str, sys::sysmsg_msg)> = Vec::new();
        if !uses_fd {
            cases.push(("fd", sys::sysmsg_msg { fd, ..base }));
            cases.push(("fd -1", sys::sysmsg_msg { fd: -1, ..base }));
        }
        if !uses_addr {
            cases.push(("addr", sys::sysmsg_msg { addr, ..base }));
        }
        if !uses_len {
            cases.push(("len", sys::sysmsg_msg { len: 4, ..base }));
        }
        if !uses_offset {
            cases.push(("offset", sys::sysmsg_msg { offset: 1, ..base }));
        }
        if !uses_op_flags {
            cases.push((
                "op_flags",
                sys::sysmsg_msg {
                    op_flags: sys::SYSMSG_SLEEP_ABSTIME,
                    ..base
                },
            ));
        }
        for (what, m) in cases {
            assert_refused(&dev, m, libc::EINVAL, &format!("{op:?} with {what}"));
        }
    }
    // A sleep's op_flags: only SYSMSG_SLEEP_ABSTIME.
    for flags in [2, 1 << 31, sys::SYSMSG_SLEEP_ABSTIME | 2] {
        let m = sys::sysmsg_msg {
            op_flags: flags,
            ..v.msg(Opcode::NANOSLEEP, 1)
        };
        assert_refused(&dev, m, libc::EINVAL, &format!("sleep op_flags {flags:#x}"));
    }
    assert_quiet(&dev);
}

#[test]
fn bad_timespecs_are_einval() {
    let dev = open();
    let bad = [
        Timespec::new(-1, 0),
        Timespec::new(i64::MIN, 0),
        Timespec::new(0, -1),
        Timespec::new(0, 1_000_000_000),
        Timespec::new(1, i64::MAX),
    ];
    for t in bad {
        for e in [op::Nanosleep::relative(t), op::Nanosleep::until(t)] {
            let err = dev.submit_one(e).expect_err("a bad timespec was accepted");
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{t:?}");
        }
    }
    // The largest valid nanoseconds are fine (an absolute time in the past).
    dev.nanosleep_until_sync(Timespec::new(0, 999_999_999))
        .expect("a valid timespec");
    assert_quiet(&dev);
}

#[test]
fn writes_longer_than_max_io_len_are_einval() {
    let dev = open();
    let t = TempFile::new("long");
    let data = vec![b'x'; MAX_IO_LEN + 1];
    let e = dev
        .submit_one(op::Write::new(&t.file, data.clone()))
        .expect_err("a long WRITE was accepted");
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    let e = dev
        .submit_one(op::Pwrite::new(&t.file, data, 0))
        .expect_err("a long PWRITE was accepted");
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(t.contents(), b"", "nothing was written");
    assert_quiet(&dev);
}

#[test]
fn reads_longer_than_ssize_max_are_einval() {
    let dev = open();
    let v = Valid::new();
    // A buffer as large as the clamp, in case the kernel wrongly accepted the message.
    let buf = vec![0u8; MAX_IO_LEN].leak();
    for op in [Opcode::READ, Opcode::PREAD] {
        for len in [1u64 << 63, u64::MAX] {
            let m = sys::sysmsg_msg {
                addr: buf.as_mut_ptr() as u64,
                len,
                ..v.msg(op, 1)
            };
            assert_refused(&dev, m, libc::EINVAL, &format!("{op:?} of {len:#x} bytes"));
        }
    }
    assert_quiet(&dev);
}

#[test]
fn negative_offsets_are_einval() {
    let dev = open();
    let t = TempFile::with_data("negative", b"abc");
    for offset in [u64::MAX, 1 << 63] {
        let e = dev
            .submit_one(op::Pread::new(&t.file, 4, offset))
            .expect_err("PREAD at a negative offset");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "offset {offset:#x}");
        let e = dev
            .submit_one(op::Pwrite::new(&t.file, "x", offset))
            .expect_err("PWRITE at a negative offset");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "offset {offset:#x}");
    }
    assert_quiet(&dev);
}

#[test]
fn bad_descriptors_are_ebadf() {
    let dev = open();
    // (Not a recently closed number: another test thread may reuse it at any time.)
    for fd in [-1, -100, i32::MAX, 1 << 20, 65535] {
        let entries: [Entry; 6] = [
            op::Read::new(fd, 8).into(),
            op::Write::new(fd, "x").into(),
            op::Pread::new(fd, 8, 0).into(),
            op::Pwrite::new(fd, "x", 0).into(),
            op::Fsync::new(fd).into(),
            op::Fdatasync::new(fd).into(),
        ];
        for e in entries {
            let what = format!("{:?} of fd {fd}", e.opcode());
            let err = dev.submit_one(e).expect_err(&what);
            assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{what}");
        }
    }
    assert_quiet(&dev);
}

#[test]
fn descriptors_of_the_wrong_mode_are_ebadf() {
    let dev = open();
    let t = TempFile::with_data("mode", b"abcdef");
    let ro = t.open_read_only();
    let wo = t.open_write_only();
    let (pr, pw) = pipe();
    let wrong: [(Entry, &str); 6] = [
        (op::Read::new(&wo, 4).into(), "READ of a write-only file"),
        (
            op::Pread::new(&wo, 4, 0).into(),
            "PREAD of a write-only file",
        ),
        (op::Write::new(&ro, "x").into(), "WRITE to a read-only file"),
        (
            op::Pwrite::new(&ro, "x", 0).into(),
            "PWRITE to a read-only file",
        ),
        (op::Read::new(&pw, 4).into(), "READ of a pipe's write end"),
        (
            op::Write::new(&pr, "x").into(),
            "WRITE to a pipe's read end",
        ),
    ];
    for (e, what) in wrong {
        let err = dev.submit_one(e).expect_err(what);
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{what}");
    }
    // An O_PATH descriptor refers to no open file at all.
    let path = std::ffi::CString::new(t.path().to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let opath = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    assert!(opath >= 0);
    for e in [
        op::Read::new(opath, 4).build(),
        op::Fsync::new(opath).build(),
    ] {
        let err = dev.submit_one(e).expect_err("an O_PATH descriptor");
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(opath) };
    // The right modes work.
    assert_eq!(dev.pread_sync(&ro, 3, 0).expect("PREAD"), b"abc");
    assert_eq!(dev.pwrite_sync(&wo, "Z", 0).expect("PWRITE"), 1);
    assert_eq!(t.contents(), b"Zbcdef");
    assert_quiet(&dev);
}

#[test]
fn positioned_io_on_streams_is_espipe() {
    let dev = open();
    let (pr, pw) = pipe();
    let (sa, _sb) = UnixStream::pair().expect("socketpair");
    let cases: [(Entry, &str); 4] = [
        (op::Pread::new(&pr, 4, 0).into(), "PREAD of a pipe"),
        (op::Pwrite::new(&pw, "x", 0).into(), "PWRITE to a pipe"),
        (op::Pread::new(&sa, 4, 0).into(), "PREAD of a socket"),
        (op::Pwrite::new(&sa, "x", 0).into(), "PWRITE to a socket"),
    ];
    for (e, what) in cases {
        let err = dev.submit_one(e).expect_err(what);
        assert_eq!(err.raw_os_error(), Some(libc::ESPIPE), "{what}");
    }
    assert_quiet(&dev);
}

#[test]
fn bad_pointers_at_submit_are_efault() {
    let dev = open();
    let v = Valid::new();
    let mut gone = Mapping::new(PAGE, libc::PROT_READ | libc::PROT_WRITE);
    gone.unmap();
    let unmapped = gone.addr();

    // The timespec of a sleep, the data of a write: copied in at submit.
    for addr in [0, 8, unmapped, KERNEL_ADDR, u64::MAX - 7] {
        for op in [Opcode::NANOSLEEP, Opcode::WRITE, Opcode::PWRITE] {
            let m = sys::sysmsg_msg {
                addr,
                ..v.msg(op, 1)
            };
            assert_refused(&dev, m, libc::EFAULT, &format!("{op:?} from {addr:#x}"));
        }
    }
    // The buffer of a read must at least be a user address range.
    for (addr, len) in [
        (KERNEL_ADDR, 16),
        (u64::MAX - 7, 16),
        (u64::MAX - PAGE as u64, 2 * PAGE as u64),
    ] {
        for op in [Opcode::READ, Opcode::PREAD] {
            let m = sys::sysmsg_msg {
                addr,
                len,
                ..v.msg(op, 1)
            };
            assert_refused(
                &dev,
                m,
                libc::EFAULT,
                &format!("{op:?} into {addr:#x}+{len}"),
            );
        }
    }
    // A bad message array, through the ioctl and through write(2).
    for addr in [8, unmapped, KERNEL_ADDR] {
        let mut s = sys::sysmsg_submit {
            msgs: addr,
            count: 1,
            ..Default::default()
        };
        // SAFETY: a valid sysmsg_submit whose array the kernel must refuse to read.
        let err = unsafe { ioctl::call(dev.as_fd(), ioctl::SUBMIT, &mut s as *mut _ as usize) }
            .expect_err("a bad message array was accepted");
        assert_eq!(err.raw_os_error(), Some(libc::EFAULT), "msgs {addr:#x}");
        // SAFETY: the kernel must refuse to read the bad buffer.
        let r = unsafe { libc::write(dev.as_raw_fd(), addr as *const libc::c_void, 64) };
        assert_eq!(r, -1, "write(2) of {addr:#x}");
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EFAULT)
        );
    }
    // A message array that runs into an unmapped page: the messages before it are accepted.
    let mut two = Mapping::new(2 * PAGE, libc::PROT_READ | libc::PROT_WRITE);
    let first = two.addr() + PAGE as u64 - 64;
    // SAFETY: the last message slot of the first page, inside the live mapping.
    unsafe { *(first as *mut sys::sysmsg_msg) = raw_msg(Opcode::NOP, 77) };
    two.unmap_range(PAGE, PAGE);
    let mut s = sys::sysmsg_submit {
        msgs: first,
        count: 2,
        ..Default::default()
    };
    // SAFETY: the first message is a NOP; the second is unreadable.
    let r = unsafe { ioctl::call(dev.as_fd(), ioctl::SUBMIT, &mut s as *mut _ as usize) };
    two.unmap();
    // README.md does not say whether the array is read message by message (the first is
    // accepted, the second refused) or at once (all refused); either way the count must be
    // right: one reply for an accepted NOP, none if refused.
    let mut out = [sys::sysmsg_reply::default(); 2];
    match r {
        Ok(n) => {
            assert_eq!((n, s.accepted, s.error), (1, 1, libc::EFAULT));
            assert_eq!(dev.reap_raw(&mut out, false).expect("reap_raw"), 1);
            assert_eq!(out[0].tag, 77);
        }
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EFAULT)),
    }
    assert_quiet(&dev);
}

#[test]
fn bad_ioctl_arguments() {
    let dev = open();
    let fd = dev.as_fd();
    for cmd in [ioctl::SUBMIT, ioctl::REAP] {
        for addr in [0usize, 8, KERNEL_ADDR as usize] {
            // SAFETY: the kernel must refuse these addresses.
            let err = unsafe { ioctl::call(fd, cmd, addr) }.expect_err("a bad argument");
            assert_eq!(
                err.raw_os_error(),
                Some(libc::EFAULT),
                "cmd {cmd:#x} at {addr:#x}"
            );
        }
    }
    let msgs = [raw_msg(Opcode::NOP, 1)];
    // Where a submit with a REAP flag would store replies (it must store none here).
    let mut sink = [sys::sysmsg_reply::default(); 4];
    let sink = sink.as_mut_ptr() as u64;
    let submits = [
        // Unknown flags.
        sys::sysmsg_submit {
            flags: 1 << 30,
            ..Default::default()
        },
        sys::sysmsg_submit {
            flags: sys::SYSMSG_SUBMIT_WAIT | (1 << 31),
            ..Default::default()
        },
        // Without a REAP flag, replies and reap_max must be zero.
        sys::sysmsg_submit {
            replies: sink,
            ..Default::default()
        },
        sys::sysmsg_submit {
            reap_max: 4,
            ..Default::default()
        },
        sys::sysmsg_submit {
            replies: sink,
            reap_max: 4,
            flags: sys::SYSMSG_SUBMIT_WAIT,
            ..Default::default()
        },
        // With a REAP flag, reap_max must be at least 1.
        sys::sysmsg_submit {
            replies: sink,
            flags: sys::SYSMSG_SUBMIT_REAP,
            ..Default::default()
        },
        sys::sysmsg_submit {
            replies: sink,
            flags: sys::SYSMSG_SUBMIT_REAP_WAIT,
            ..Default::default()
        },
        sys::sysmsg_submit {
            replies: sink,
            flags: sys::SYSMSG_SUBMIT_REAP | sys::SYSMSG_SUBMIT_REAP_WAIT,
            ..Default::default()
        },
    ];
    for s in submits {
        let mut s = sys::sysmsg_submit {
            msgs: msgs.as_ptr() as u64,
            count: 1,
            ..s
        };
        // SAFETY: a valid sysmsg_submit naming one NOP; `replies`, if set, names 4 replies.
        let err = unsafe { ioctl::call(fd, ioctl::SUBMIT, &mut s as *mut _ as usize) }
            .expect_err("a submit with unknown flags or inconsistent reap fields");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{s:?}");
    }
    dev.submit_one(op::Nop::new().build().tag(5))
        .expect("a NOP to reap");
    let mut out = [sys::sysmsg_reply::default(); 4];
    let reaps = [
        sys::sysmsg_reap {
            flags: 2,
            ..Default::default()
        },
        sys::sysmsg_reap {
            flags: sys::SYSMSG_REAP_NOWAIT | (1 << 31),
            ..Default::default()
        },
        sys::sysmsg_reap {
            reserved0: 1,
            ..Default::default()
        },
        sys::sysmsg_reap {
            reserved: [0, 1],
            ..Default::default()
        },
    ];
    for r in reaps {
        let mut r = sys::sysmsg_reap {
            replies: out.as_mut_ptr() as u64,
            max: 4,
            ..r
        };
        // SAFETY: a valid sysmsg_reap naming 4 replies.
        let err = unsafe { ioctl::call(fd, ioctl::REAP, &mut r as *mut _ as usize) }
            .expect_err("a reap with unknown flags or non-zero reserved fields");
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{r:?}");
    }
    // Nothing was consumed by the refused calls.
    assert_eq!(dev.wait_one().expect("the NOP").tag(), 5);
    assert_quiet(&dev);
}

/// `SYSMSG_SUBMIT_REAP` with a reply array whose first element cannot be written (NULL,
/// unmapped, read-only) fails with `EFAULT` before anything is submitted, also with no message;
/// an empty array through `submit_reap_raw` is `EINVAL`. Nothing is accepted either way.
#[test]
fn submit_reap_with_a_bad_reply_array() {
    let dev = open();
    let fd = dev.as_fd();
    let msgs = [raw_msg(Opcode::NOP, 1), raw_msg(Opcode::NOP, 2)];
    let mut gone = Mapping::new(PAGE, libc::PROT_READ | libc::PROT_WRITE);
    gone.unmap();
    let ro = Mapping::new(PAGE, libc::PROT_READ);
    for replies in [0, gone.addr(), ro.addr(), KERNEL_ADDR] {
        for flags in [sys::SYSMSG_SUBMIT_REAP, sys::SYSMSG_SUBMIT_REAP_WAIT] {
            for count in [2, 0] {
                let mut s = sys::sysmsg_submit {
                    msgs: msgs.as_ptr() as u64,
                    count,
                    flags,
                    replies,
                    reap_max: 4,
                    ..Default::default()
                };
                // SAFETY: a valid sysmsg_submit naming NOPs; the reply array must be refused.
                let err = unsafe { ioctl::call(fd, ioctl::SUBMIT, &mut s as *mut _ as usize) }
                    .expect_err("an unwritable reply array was accepted");
                assert_eq!(
                    err.raw_os_error(),
                    Some(libc::EFAULT),
                    "replies {replies:#x}, flags {flags:#x}, count {count}"
                );
            }
        }
    }
    // SAFETY: NOPs point to nothing; no room for replies.
    let e = unsafe { dev.submit_reap_raw(&msgs, &mut [], false) }
        .expect_err("an empty reply array was accepted");
    assert_eq!(
        (e.accepted, e.reaped, e.raw_os_error()),
        (0, 0, Some(libc::EINVAL))
    );
    assert_eq!(dev.in_flight(), 0);
    assert_quiet(&dev);
}

#[test]
fn a_read_whose_buffer_is_gone_replies_efault() {
    let dev = open();
    let t = TempFile::with_data("efault", &[b'q'; 256]);
    let fd = t.file.as_raw_fd();

    // Unmapped between submit and reap.
    let mut gone = Mapping::new(PAGE, libc::PROT_READ | libc::PROT_WRITE);
    // Read-only: writeback cannot store there either.
    let ro = Mapping::new(PAGE, libc::PROT_READ);
    let msgs = [
        sys::sysmsg_msg {
            fd,
            addr: gone.addr(),
            len: 100,
            ..raw_msg(Opcode::PREAD, 1)
        },
        sys::sysmsg_msg {
            fd,
            addr: ro.addr(),
            len: 100,
            ..raw_msg(Opcode::PREAD, 2)
        },
        raw_msg(Opcode::NOP, 3),
    ];
    // SAFETY: the buffers are our own mappings, which the kernel may write to or find gone.
    assert_eq!(unsafe { dev.submit_raw(&msgs) }.expect("accepted"), 3);
    gone.unmap();
    std::thread::sleep(Duration::from_millis(100));
    let mut got = Vec::new();
    let mut out = [sys::sysmsg_reply::default(); 8];
    while got.len() < 3 {
        let n = dev.reap_raw(&mut out, false).expect("reap_raw");
        got.extend(out[..n].iter().map(|r| (r.tag, r.opcode, r.result)));
    }
    got.sort();
    let efault = -i64::from(libc::EFAULT);
    assert_eq!(
        got,
        [
            (1, sys::SYSMSG_OP_PREAD as u8, efault),
            (2, sys::SYSMSG_OP_PREAD as u8, efault),
            (3, sys::SYSMSG_OP_NOP as u8, 0),
        ]
    );
    assert!(
        ro.bytes().iter().all(|&b| b == 0),
        "stored into a read-only page"
    );

    // A pipe READ that completes after its buffer is gone.
    let (pr, pw) = pipe();
    let mut gone = Mapping::new(PAGE, libc::PROT_READ | libc::PROT_WRITE);
    let m = sys::sysmsg_msg {
        fd: pr.as_raw_fd(),
        addr: gone.addr(),
        len: 16,
        ..raw_msg(Opcode::READ, 4)
    };
    // SAFETY: as above.
    assert_eq!(unsafe { dev.submit_raw(&[m]) }.expect("accepted"), 1);
    gone.unmap();
    std::io::Write::write_all(&mut &pw, b"lost").expect("write");
    let n = dev.reap_raw(&mut out, false).expect("reap_raw");
    assert_eq!(n, 1);
    assert_eq!((out[0].tag, out[0].result), (4, efault));
    // The data is gone, not left in the pipe or given to the next read.
    dev.submit_one(op::Read::new(&pr, 16).build().tag(5))
        .expect("submit READ");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        dev.peek().expect("peek").is_none(),
        "the lost data was read again"
    );
    drop(pw);
    let r = dev.wait_one().expect("EOF");
    assert_eq!((r.tag(), r.raw_result()), (5, 0));
    assert_quiet(&dev);
}

#[test]
fn a_fault_while_storing_replies_loses_nothing() {
    let dev = open();
    let msgs: Vec<_> = (0..3).map(|i| raw_msg(Opcode::NOP, i)).collect();
    // SAFETY: NOPs point to nothing; small tags.
    assert_eq!(unsafe { dev.submit_raw(&msgs) }.expect("submit_raw"), 3);

    let mut gone = Mapping::new(PAGE, libc::PROT_READ | libc::PROT_WRITE);
    gone.unmap();
    let mut r = sys::sysmsg_reap {
        replies: gone.addr(),
        max: 4,
        ..Default::default()
    };
    // SAFETY: the kernel must fail to store to the unmapped page.
    let err = unsafe { ioctl::call(dev.as_fd(), ioctl::REAP, &mut r as *mut _ as usize) }
        .expect_err("stored replies to an unmapped page");
    assert_eq!(err.raw_os_error(), Some(libc::EFAULT));
    // SAFETY: read(2) to the unmapped page must fail too.
    let n = unsafe { libc::read(dev.as_raw_fd(), gone.addr() as *mut libc::c_void, 64) };
    assert_eq!(n, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EFAULT)
    );

    // An array whose second slot is on an unmapped page: either the first reply is stored and
    // counted and the others stay queued, or the call fails and all stay queued.
    let mut two = Mapping::new(2 * PAGE, libc::PROT_READ | libc::PROT_WRITE);
    two.unmap_range(PAGE, PAGE);
    let slot = two.addr() + (PAGE - size_of_reply()) as u64;
    let mut r = sys::sysmsg_reap {
        replies: slot,
        max: 3,
        ..Default::default()
    };
    // SAFETY: one reply fits before the unmapped page.
    let stored = match unsafe { ioctl::call(dev.as_fd(), ioctl::REAP, &mut r as *mut _ as usize) } {
        Ok(n) => {
            assert_eq!((n, r.count), (1, 1));
            // SAFETY: the stored reply, in the live first page.
            let first = unsafe { *(slot as *const sys::sysmsg_reply) };
            assert_eq!(first.tag, 0);
            vec![0]
        }
        Err(e) => {
            assert_eq!(e.raw_os_error(), Some(libc::EFAULT));
            vec![]
        }
    };
    two.unmap();

    let mut tags = stored;
    let mut out = [sys::sysmsg_reply::default(); 4];
    while tags.len() < 3 {
        let n = dev.reap_raw(&mut out, false).expect("reap_raw");
        tags.extend(out[..n].iter().map(|r| r.tag));
    }
    assert_eq!(tags, [0, 1, 2], "every reply exactly once, in order");
    let err = dev.reap_raw(&mut out, true).expect_err("a reply too many");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    assert_quiet(&dev);
}

fn size_of_reply() -> usize {
    std::mem::size_of::<sys::sysmsg_reply>()
}
