//! Every operation through the safe API: results, tags and opcodes in replies, timing of sleeps,
//! file positions, pollable files (pipes, sockets, eventfd) that complete later.

use std::{
    io::{Read as _, Write as _},
    os::fd::AsRawFd,
    os::unix::net::UnixStream,
    time::{Duration, Instant},
};
use sysmsg::{op, sys, Batch, Opcode, Reply, Timespec, MAX_IO_LEN};
use sysmsg_tests::{eventfd, open, pipe, poll_events, position, TempFile};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Reaps exactly `n` replies (blocking), in completion order.
fn reap(dev: &sysmsg::Sysmsg, n: usize) -> Vec<Reply> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(dev.wait_one().expect("wait_one"));
    }
    got
}

#[test]
fn nop_completes_at_submit() {
    let dev = open();
    dev.submit_one(op::Nop::new().build().tag(0xfeed_f00d_dead_beef))
        .expect("submit NOP");
    // A NOP completes inline: its reply is ready without waiting.
    let r = dev
        .peek()
        .expect("peek")
        .expect("the NOP reply is ready at once");
    assert_eq!(r.tag(), 0xfeed_f00d_dead_beef);
    assert_eq!(r.opcode(), Opcode::NOP);
    assert_eq!(r.raw_result(), 0);
    assert_eq!(r.data(), None);
    assert_eq!(dev.peek().expect("peek").map(|r| r.tag()), None);
    assert_eq!(dev.in_flight(), 0);
}

#[test]
fn tags_come_back_unchanged() {
    let dev = open();
    let tags = [0, 1, u64::MAX, 1 << 63, 0x5359_0000_0000_0000, 42];
    let mut batch = Batch::new();
    for t in tags {
        batch.push(op::Nop::new().build().tag(t));
    }
    assert_eq!(dev.submit(&mut batch).expect("submit"), tags.len());
    let got: Vec<u64> = reap(&dev, tags.len()).iter().map(Reply::tag).collect();
    assert_eq!(got, tags, "NOPs complete at submit, in order");
}

#[test]
fn raw_replies_have_zero_reserved_fields_and_the_message_tag() {
    let dev = open();
    let mut m = sysmsg_tests::raw_msg(Opcode::NOP, 0x1234_5678_9abc_def0);
    m.fd = 0;
    // SAFETY: a NOP points to nothing.
    assert_eq!(unsafe { dev.submit_raw(&[m]) }.expect("submit_raw"), 1);
    let mut out = [sys::sysmsg_reply {
        tag: 1,
        result: 99,
        opcode: 0xee,
        reserved0: [0xee; 3],
        reserved1: 0xeeee,
        reserved2: 0xeeee,
    }; 2];
    assert_eq!(dev.reap_raw(&mut out, false).expect("reap_raw"), 1);
    let r = out[0];
    assert_eq!(r.tag, 0x1234_5678_9abc_def0);
    assert_eq!(r.result, 0);
    assert_eq!(r.opcode, sys::SYSMSG_OP_NOP as u8);
    assert_eq!((r.reserved0, r.reserved1, r.reserved2), ([0; 3], 0, 0));
    assert_eq!(out[1].tag, 1, "only one reply was stored");
}

#[test]
fn relative_sleep_lasts_at_least_its_time() {
    let dev = open();
    let start = Instant::now();
    dev.submit_one(op::Nanosleep::new(ms(300)).build().tag(7))
        .expect("submit NANOSLEEP");
    // Not ready right away.
    assert_eq!(dev.peek().expect("peek").map(|r| r.tag()), None);
    let r = dev.wait_one().expect("wait_one");
    let elapsed = start.elapsed();
    assert_eq!(
        (r.tag(), r.opcode(), r.raw_result()),
        (7, Opcode::NANOSLEEP, 0)
    );
    assert!(elapsed >= ms(300), "slept only {elapsed:?}");
}

#[test]
fn zero_sleep_completes() {
    let dev = open();
    dev.nanosleep_sync(Duration::ZERO).expect("zero sleep");
    dev.execute(op::Nanosleep::relative(Timespec::new(0, 0)))
        .expect("zero timespec")
        .result()
        .expect("result");
}

#[test]
fn absolute_sleep_ends_after_its_deadline() {
    let dev = open();
    let deadline = Timespec::now() + ms(250);
    dev.submit_one(op::Nanosleep::until(deadline).build().tag(1))
        .expect("submit absolute NANOSLEEP");
    let r = dev.wait_one().expect("wait_one");
    let now = Timespec::now();
    assert_eq!(
        (r.tag(), r.opcode(), r.raw_result()),
        (1, Opcode::NANOSLEEP, 0)
    );
    assert!(now >= deadline, "woke at {now:?}, before {deadline:?}");

    // The synchronous form too.
    let deadline = Timespec::now() + ms(100);
    dev.nanosleep_until_sync(deadline).expect("sleep until");
    assert!(Timespec::now() >= deadline);
}

#[test]
fn absolute_sleep_in_the_past_completes_at_once() {
    let dev = open();
    // A long relative sleep first, then absolute times in the past: those must overtake it.
    let mut batch = Batch::new();
    batch.push(op::Nanosleep::new(Duration::from_secs(2)).build().tag(1));
    batch.push(
        op::Nanosleep::until(Timespec::now() - ms(500))
            .build()
            .tag(2),
    );
    batch.push(op::Nanosleep::until(Timespec::new(0, 0)).build().tag(3));
    dev.submit(&mut batch).expect("submit");
    let start = Instant::now();
    let first: Vec<u64> = reap(&dev, 2).iter().map(Reply::tag).collect();
    assert!(
        first.contains(&2) && first.contains(&3),
        "past deadlines did not complete first: {first:?}"
    );
    let last = dev.wait_one().expect("the long sleep");
    assert_eq!(last.tag(), 1);
    assert!(start.elapsed() >= ms(1500));
}

#[test]
fn sleeps_complete_out_of_order() {
    let dev = open();
    let mut batch = Batch::new();
    for (tag, t) in [(3, 900), (2, 450), (1, 0)] {
        batch.push(op::Nanosleep::new(ms(t)).build().tag(tag));
    }
    let start = Instant::now();
    assert_eq!(dev.submit(&mut batch).expect("submit"), 3);
    let mut order = Vec::new();
    for _ in 0..3 {
        let r = dev.wait_one().expect("wait_one");
        assert_eq!((r.opcode(), r.raw_result()), (Opcode::NANOSLEEP, 0));
        order.push((r.tag(), start.elapsed()));
    }
    let tags: Vec<u64> = order.iter().map(|o| o.0).collect();
    assert_eq!(tags, [1, 2, 3], "completion order {order:?}");
    assert!(order[1].1 >= ms(450) && order[2].1 >= ms(900), "{order:?}");
}

#[test]
fn write_and_read_advance_the_file_position() {
    let dev = open();
    let t = TempFile::new("rw");
    let fd = t.file.as_raw_fd();

    // WRITE, one at a time so they do not race for the position.
    let r = dev
        .execute(op::Write::new(fd, "hello ").build().tag(1))
        .expect("WRITE");
    assert_eq!((r.tag(), r.opcode(), r.raw_result()), (1, Opcode::WRITE, 6));
    assert_eq!(r.data(), None);
    assert_eq!(position(fd), 6);
    assert_eq!(dev.write_sync(fd, "world").expect("WRITE"), 5);
    assert_eq!(position(fd), 11);
    assert_eq!(t.contents(), b"hello world");

    // READ from the start.
    // SAFETY: lseek takes plain integers.
    assert_eq!(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) }, 0);
    let r = dev
        .execute(op::Read::new(fd, 5).build().tag(2))
        .expect("READ");
    assert_eq!((r.tag(), r.opcode(), r.raw_result()), (2, Opcode::READ, 5));
    assert_eq!(r.data(), Some(&b"hello"[..]));
    assert_eq!(position(fd), 5);
    assert_eq!(dev.read_sync(fd, 100).expect("READ"), b" world");
    assert_eq!(position(fd), 11);
    // At the end of the file: 0, an empty buffer.
    let r = dev.execute(op::Read::new(fd, 100)).expect("READ at EOF");
    assert_eq!((r.raw_result(), r.data()), (0, Some(&[][..])));
}

#[test]
fn o_append_is_honoured() {
    let dev = open();
    let t = TempFile::with_data("append", b"0123456789");
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(t.path())
        .expect("open O_APPEND");
    assert_eq!(dev.write_sync(&f, "abc").expect("WRITE"), 3);
    assert_eq!(t.contents(), b"0123456789abc");
}

#[test]
fn pread_and_pwrite_leave_the_position_alone() {
    let dev = open();
    let t = TempFile::with_data("prw", b"0123456789");
    let fd = t.file.as_raw_fd();
    assert_eq!(position(fd), 0);

    let r = dev
        .execute(op::Pread::new(fd, 4, 3).build().tag(5))
        .expect("PREAD");
    assert_eq!((r.tag(), r.opcode(), r.raw_result()), (5, Opcode::PREAD, 4));
    assert_eq!(r.data(), Some(&b"3456"[..]));
    assert_eq!(position(fd), 0);

    let r = dev
        .execute(op::Pwrite::new(fd, "XY", 8).build().tag(6))
        .expect("PWRITE");
    assert_eq!(
        (r.tag(), r.opcode(), r.raw_result()),
        (6, Opcode::PWRITE, 2)
    );
    assert_eq!(position(fd), 0);
    assert_eq!(t.contents(), b"01234567XY");

    // Past the end: the file grows with a hole; a read there returns 0.
    assert_eq!(dev.pwrite_sync(fd, "Z", 20).expect("PWRITE"), 1);
    let mut expect = b"01234567XY".to_vec();
    expect.resize(20, 0);
    expect.push(b'Z');
    assert_eq!(t.contents(), expect);
    assert_eq!(dev.pread_sync(fd, 10, 100).expect("PREAD past EOF"), b"");
    assert_eq!(dev.pread_sync(fd, 100, 18).expect("PREAD"), b"\0\0Z");
    assert_eq!(position(fd), 0);

    // Many PWRITEs at distinct offsets in one batch, then PREADs of them.
    let mut batch = Batch::new();
    for i in 0..32u64 {
        batch.push(
            op::Pwrite::new(fd, vec![i as u8; 16], 100 + i * 16)
                .build()
                .tag(i),
        );
    }
    dev.submit(&mut batch).expect("submit PWRITEs");
    for r in reap(&dev, 32) {
        assert_eq!((r.opcode(), r.raw_result()), (Opcode::PWRITE, 16), "{r:?}");
    }
    for i in (0..32u64).rev() {
        batch.push(op::Pread::new(fd, 16, 100 + i * 16).build().tag(i));
    }
    dev.submit(&mut batch).expect("submit PREADs");
    let mut seen = [false; 32];
    for r in reap(&dev, 32) {
        let i = r.tag() as usize;
        assert!(!seen[i], "tag {i} twice");
        seen[i] = true;
        assert_eq!(r.opcode(), Opcode::PREAD);
        assert_eq!(r.data(), Some(&[i as u8; 16][..]), "{r:?}");
    }
    assert_eq!(position(fd), 0);
}

#[test]
fn a_long_read_is_clamped_to_max_io_len() {
    let dev = open();
    let data: Vec<u8> = (0..MAX_IO_LEN + 4096).map(|i| (i % 251) as u8).collect();
    let t = TempFile::with_data("big", &data);
    let got = dev.read_sync(&t.file, 2 * MAX_IO_LEN).expect("READ");
    assert_eq!(
        got.len(),
        MAX_IO_LEN,
        "a short count, as read(2) may return"
    );
    assert!(got == data[..MAX_IO_LEN], "the data differs");
    assert_eq!(position(t.file.as_raw_fd()), MAX_IO_LEN as i64);
    // A write of exactly the limit is accepted.
    assert_eq!(
        dev.pwrite_sync(&t.file, data[..MAX_IO_LEN].to_vec(), 1)
            .expect("PWRITE"),
        MAX_IO_LEN
    );
}

#[test]
fn fsync_and_fdatasync() {
    let dev = open();
    let t = TempFile::with_data("sync", b"data");
    let mut batch = Batch::new();
    batch.push(op::Fsync::new(&t.file).build().tag(1));
    batch.push(op::Fdatasync::new(&t.file).build().tag(2));
    dev.submit(&mut batch).expect("submit");
    let mut got: Vec<(u64, Opcode, i64)> = reap(&dev, 2)
        .iter()
        .map(|r| (r.tag(), r.opcode(), r.raw_result()))
        .collect();
    got.sort();
    assert_eq!(got, [(1, Opcode::FSYNC, 0), (2, Opcode::FDATASYNC, 0)]);
    dev.fsync_sync(&t.file).expect("fsync");
    dev.fdatasync_sync(t.open_read_only().as_raw_fd())
        .expect("fdatasync of a read-only fd");
}

#[test]
fn operation_errors_come_in_the_reply() {
    let dev = open();
    // fsync of a pipe fails with EINVAL, as fsync(2) does: accepted, then reported.
    let (r, w) = pipe();
    let reply = dev.execute(op::Fsync::new(&r)).expect("FSYNC accepted");
    assert_eq!(
        (reply.opcode(), reply.errno()),
        (Opcode::FSYNC, Some(libc::EINVAL))
    );
    let reply = dev
        .execute(op::Fdatasync::new(&w))
        .expect("FDATASYNC accepted");
    assert_eq!(reply.errno(), Some(libc::EINVAL));
    assert_eq!(
        dev.fsync_sync(&w).unwrap_err().raw_os_error(),
        Some(libc::EINVAL)
    );

    // An eventfd is read 8 bytes at a time: a shorter read is EINVAL.
    let efd = eventfd(1);
    let reply = dev.execute(op::Read::new(&efd, 4)).expect("READ accepted");
    assert_eq!(reply.errno(), Some(libc::EINVAL));
}

/// read(2) of a directory fails with EISDIR (README.md names it among the reply errnos); note
/// that vfs_iocb_iter_read() says EINVAL for a file without ->read_iter, so a module that reads
/// through it must tell directories apart.
#[test]
fn reading_a_directory_is_eisdir() {
    let dev = open();
    let dir = std::fs::File::open("/tmp").expect("open /tmp");
    let reply = dev
        .execute(op::Read::new(&dir, 16).build().tag(9))
        .expect("READ accepted");
    assert_eq!(reply.opcode(), Opcode::READ);
    assert_eq!((reply.tag(), reply.errno()), (9, Some(libc::EISDIR)));
    assert_eq!(reply.data(), Some(&[][..]), "the buffer comes back, empty");
    let reply = dev
        .execute(op::Pread::new(&dir, 16, 0))
        .expect("PREAD accepted");
    assert_eq!(reply.errno(), Some(libc::EISDIR));
}

#[test]
fn a_pipe_read_completes_only_after_a_write() {
    let dev = open();
    let (r, mut w) = pipe();
    dev.submit_one(op::Read::new(&r, 64).build().tag(11))
        .expect("submit READ");
    std::thread::sleep(ms(200));
    assert_eq!(
        dev.peek().expect("peek").map(|r| r.tag()),
        None,
        "completed with no data"
    );
    assert_eq!(
        poll_events(dev.as_raw_fd(), libc::POLLIN, Duration::ZERO) & libc::POLLIN,
        0,
        "POLLIN with no reply ready"
    );
    w.write_all(b"ping").expect("write to the pipe");
    let reply = dev.wait_one().expect("wait_one");
    assert_eq!(
        (reply.tag(), reply.opcode(), reply.raw_result()),
        (11, Opcode::READ, 4)
    );
    assert_eq!(reply.data(), Some(&b"ping"[..]));
}

#[test]
fn a_pipe_read_sees_end_of_file() {
    let dev = open();
    let (r, w) = pipe();
    dev.submit_one(op::Read::new(&r, 8).build().tag(1))
        .expect("submit READ");
    std::thread::sleep(ms(100));
    drop(w);
    let reply = dev.wait_one().expect("wait_one");
    assert_eq!((reply.tag(), reply.raw_result()), (1, 0));
}

#[test]
fn pipe_write_and_many_pending_reads() {
    let dev = open();
    let (mut r, w) = pipe();
    assert_eq!(dev.write_sync(&w, "through sysmsg").expect("WRITE"), 14);
    let mut buf = [0u8; 14];
    r.read_exact(&mut buf).expect("read the pipe");
    assert_eq!(&buf, b"through sysmsg");

    // Several READs wait on one pipe; each write of one byte completes (at least) one of them.
    let (r, mut w) = pipe();
    let mut batch = Batch::new();
    for i in 0..4 {
        batch.push(op::Read::new(&r, 1).build().tag(i));
    }
    dev.submit(&mut batch).expect("submit READs");
    let mut seen = Vec::new();
    for b in b"abcd" {
        w.write_all(&[*b]).expect("write");
        let reply = dev.wait_one().expect("wait_one");
        assert_eq!(reply.raw_result(), 1, "{reply:?}");
        seen.push((reply.tag(), reply.data().unwrap()[0]));
    }
    seen.sort();
    let tags: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(tags, [0, 1, 2, 3]);
    let mut bytes: Vec<u8> = seen.iter().map(|s| s.1).collect();
    bytes.sort();
    assert_eq!(bytes, b"abcd");
}

#[test]
fn an_accepted_read_keeps_its_file_after_close() {
    let dev = open();
    let (r, mut w) = pipe();
    dev.submit_one(op::Read::new(&r, 16).build().tag(3))
        .expect("submit READ");
    // Make the descriptor number name another pipe (dup2 closes the old file there): the
    // accepted message must still read the pipe it was submitted for.
    let (r2, mut w2) = pipe();
    // SAFETY: both descriptors are open; `r` keeps owning its number, now the second pipe.
    let fd = unsafe { libc::dup2(r2.as_raw_fd(), r.as_raw_fd()) };
    assert_eq!(fd, r.as_raw_fd());
    w2.write_all(b"wrong pipe").expect("write");
    std::thread::sleep(ms(100));
    assert_eq!(dev.peek().expect("peek").map(|r| r.tag()), None);
    w.write_all(b"right pipe").expect("write");
    let reply = dev.wait_one().expect("wait_one");
    assert_eq!((reply.tag(), reply.data()), (3, Some(&b"right pipe"[..])));
    // The number now reads the second pipe.
    assert_eq!(dev.read_sync(&r, 64).expect("READ"), b"wrong pipe");
}

#[test]
fn socketpair_read_and_write() {
    let dev = open();
    let (a, mut b) = UnixStream::pair().expect("socketpair");
    dev.submit_one(op::Read::new(&a, 32).build().tag(1))
        .expect("submit READ");
    std::thread::sleep(ms(100));
    assert!(dev.peek().expect("peek").is_none());
    b.write_all(b"over the socket").expect("write");
    let reply = dev.wait_one().expect("wait_one");
    assert_eq!(
        (reply.tag(), reply.data()),
        (1, Some(&b"over the socket"[..]))
    );

    assert_eq!(dev.write_sync(&a, "and back").expect("WRITE"), 8);
    let mut buf = [0u8; 8];
    b.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"and back");
    // The peer closes: a pending READ sees end of file.
    dev.submit_one(op::Read::new(&a, 32)).expect("submit READ");
    drop(b);
    assert_eq!(dev.wait_one().expect("wait_one").raw_result(), 0);
}

#[test]
fn eventfd_read_and_write() {
    let dev = open();
    let efd = eventfd(0);
    dev.submit_one(op::Read::new(&efd, 8).build().tag(8))
        .expect("submit READ");
    std::thread::sleep(ms(100));
    assert!(dev.peek().expect("peek").is_none(), "read a zero eventfd");
    (&efd)
        .write_all(&5u64.to_ne_bytes())
        .expect("write the eventfd");
    let reply = dev.wait_one().expect("wait_one");
    assert_eq!(reply.raw_result(), 8);
    assert_eq!(reply.data(), Some(&5u64.to_ne_bytes()[..]));

    // An eventfd has only a legacy ->write, which cannot take kernel memory: EINVAL, as
    // kernel_write() answers (README, "Operations").
    let err = dev.write_sync(&efd, 7u64.to_ne_bytes()).expect_err("WRITE");
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
}

#[test]
fn sync_calls_keep_other_replies_for_later() {
    let dev = open();
    let mut batch = Batch::new();
    batch.push(op::Nop::new().build().tag(100));
    batch.push(op::Nanosleep::new(ms(50)).build().tag(101));
    dev.submit(&mut batch).expect("submit");
    // Both async replies arrive while the synchronous sleep waits for its own.
    dev.nanosleep_sync(ms(200)).expect("sleep");
    dev.nop_sync().expect("nop");
    assert_eq!(dev.ready(), 2, "the other replies were kept");
    let got: Vec<u64> = dev.wait(2).expect("wait").iter().map(Reply::tag).collect();
    assert_eq!(got, [100, 101]);
    assert!(dev.peek().expect("peek").is_none());
}

#[test]
fn replies_iterator_drains_what_is_ready() {
    let dev = open();
    let mut batch = Batch::new();
    for i in 0..10 {
        batch.push(op::Nop::new().build().tag(i));
    }
    batch.push(op::Nanosleep::new(Duration::from_secs(1)).build().tag(99));
    dev.submit(&mut batch).expect("submit");
    let tags: Vec<u64> = dev.replies().map(|r| r.expect("reply").tag()).collect();
    assert_eq!(tags, (0..10).collect::<Vec<_>>());
    assert_eq!(dev.in_flight(), 1);
    assert_eq!(dev.wait_one().expect("the sleep").tag(), 99);
    assert_eq!(dev.wait(1).expect("wait with nothing in flight"), []);
}

#[test]
fn buffers_can_be_reused() {
    let dev = open();
    let t = TempFile::with_data("reuse", b"abcdefgh");
    let mut buf = Vec::with_capacity(64);
    for i in 0..4u64 {
        buf.resize(2, 0);
        let r = dev
            .execute(op::Pread::with_buffer(&t.file, buf, i * 2))
            .expect("PREAD");
        buf = r.into_data().expect("the buffer");
        assert_eq!(buf, &b"abcdefgh"[i as usize * 2..][..2]);
        assert!(buf.capacity() >= 64, "the same allocation came back");
    }
}
