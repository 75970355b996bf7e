//! Typed message builders, in the style of the `io-uring` crate.
//!
//! Each operation has a builder (`Read::new(fd, len)`, ...) whose [`build`](Nop::build) makes an
//! [`Entry`]; [`Entry::tag`] sets the value that comes back in the [`Reply`](crate::Reply).
//! Every builder also converts into an [`Entry`] with `.into()`, so
//! `batch.push(Nop::new())` works.
//!
//! An entry owns whatever the kernel needs: the data of a write and the time of a sleep (copied
//! in by the submitting call), and the buffer of a read (written back by the reaping call, so the
//! library keeps it until the reply is reaped and hands it back in the reply).
//!
//! File descriptors are taken as [`FdArg`] (a `RawFd`, a `BorrowedFd`, or a reference to
//! anything [`AsFd`]: `&File`, `&UnixStream`, ...): the kernel looks the descriptor up and takes its
//! own reference when the message is submitted, so a later `close()` does not affect an accepted
//! message, and an invalid descriptor is refused with `EBADF` (no `unsafe` is involved).

use crate::sys;
use std::{
    fmt,
    ops::{Add, Sub},
    os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd},
    time::Duration,
};

/// A file descriptor argument of a message.
///
/// Passing a raw number is safe: the kernel looks the descriptor up when the message is
/// submitted and refuses it with `EBADF` if it is not open (or not open for the operation).
pub trait FdArg {
    /// The descriptor number.
    fn raw_fd(&self) -> RawFd;
}

impl FdArg for RawFd {
    fn raw_fd(&self) -> RawFd {
        *self
    }
}

impl FdArg for BorrowedFd<'_> {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

impl<T: AsFd + ?Sized> FdArg for &T {
    fn raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// An operation code (`enum sysmsg_op`), as sent in a message and returned in its reply.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opcode(pub u8);

impl Opcode {
    /// `SYSMSG_OP_NOP`: completes at submit with result 0.
    pub const NOP: Opcode = Opcode(sys::SYSMSG_OP_NOP as u8);
    /// `SYSMSG_OP_NANOSLEEP`: sleeps on an hrtimer.
    pub const NANOSLEEP: Opcode = Opcode(sys::SYSMSG_OP_NANOSLEEP as u8);
    /// `SYSMSG_OP_READ`: `read(2)` at the file position.
    pub const READ: Opcode = Opcode(sys::SYSMSG_OP_READ as u8);
    /// `SYSMSG_OP_WRITE`: `write(2)` at the file position.
    pub const WRITE: Opcode = Opcode(sys::SYSMSG_OP_WRITE as u8);
    /// `SYSMSG_OP_PREAD`: `pread(2)`.
    pub const PREAD: Opcode = Opcode(sys::SYSMSG_OP_PREAD as u8);
    /// `SYSMSG_OP_PWRITE`: `pwrite(2)`.
    pub const PWRITE: Opcode = Opcode(sys::SYSMSG_OP_PWRITE as u8);
    /// `SYSMSG_OP_FSYNC`: `fsync(2)`.
    pub const FSYNC: Opcode = Opcode(sys::SYSMSG_OP_FSYNC as u8);
    /// `SYSMSG_OP_FDATASYNC`: `fdatasync(2)`.
    pub const FDATASYNC: Opcode = Opcode(sys::SYSMSG_OP_FDATASYNC as u8);

    /// Every operation the header defines, in opcode order.
    pub const ALL: [Opcode; 8] = [
        Self::NOP,
        Self::NANOSLEEP,
        Self::READ,
        Self::WRITE,
        Self::PREAD,
        Self::PWRITE,
        Self::FSYNC,
        Self::FDATASYNC,
    ];

    /// The operation's name (`"READ"`), or `None` for an opcode the header does not define.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 8] = [
            "NOP",
            "NANOSLEEP",
            "READ",
            "WRITE",
            "PREAD",
            "PWRITE",
            "FSYNC",
            "FDATASYNC",
        ];
        NAMES.get(usize::from(self.0)).copied()
    }
}

impl fmt::Debug for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Opcode({})", self.0),
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A `CLOCK_MONOTONIC` time (or, for [`Nanosleep::relative`], a length of time), as the kernel's
/// `struct __kernel_timespec`.
///
/// The fields are public and unchecked: the kernel refuses a sleep whose `sec` is negative or
/// whose `nsec` is outside `0..1_000_000_000` with `EINVAL`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, `0..1_000_000_000` when valid.
    pub nsec: i64,
}

const NSEC_PER_SEC: i64 = 1_000_000_000;

impl Timespec {
    /// A time of `sec` seconds and `nsec` nanoseconds, as given (not normalized).
    pub const fn new(sec: i64, nsec: i64) -> Self {
        Self { sec, nsec }
    }

    /// The current `CLOCK_MONOTONIC` time: what [`Nanosleep::until`] compares against.
    pub fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec to a valid pointer.
        let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        assert_eq!(r, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
        // time_t and c_long are 32 bits wide on some targets.
        #[allow(clippy::unnecessary_cast)]
        Self {
            sec: ts.tv_sec as i64,
            nsec: ts.tv_nsec as i64,
        }
    }

    /// A length of time as a timespec (saturating at `i64::MAX` seconds).
    pub fn from_duration(d: Duration) -> Self {
        Self {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsec: i64::from(d.subsec_nanos()),
        }
    }

    /// `self + d`, or `None` on overflow or if `self` is not normalized.
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        if !self.is_valid() {
            return None;
        }
        let d = Self::from_duration(d);
        let mut sec = self.sec.checked_add(d.sec)?;
        let mut nsec = self.nsec + d.nsec;
        if nsec >= NSEC_PER_SEC {
            nsec -= NSEC_PER_SEC;
            sec = sec.checked_add(1)?;
        }
        Some(Self { sec, nsec })
    }

    /// `self - d`, or `None` on overflow or if `self` is not normalized.
    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        if !self.is_valid() {
            return None;
        }
        let d = Self::from_duration(d);
        let mut sec = self.sec.checked_sub(d.sec)?;
        let mut nsec = self.nsec - d.nsec;
        if nsec < 0 {
            nsec += NSEC_PER_SEC;
            sec = sec.checked_sub(1)?;
        }
        Some(Self { sec, nsec })
    }

    /// How much later `self` is than `earlier`; zero if it is not later.
    pub fn saturating_duration_since(self, earlier: Timespec) -> Duration {
        if self <= earlier {
            return Duration::ZERO;
        }
        let total = (i128::from(self.sec) - i128::from(earlier.sec)) * i128::from(NSEC_PER_SEC)
            + i128::from(self.nsec)
            - i128::from(earlier.nsec);
        let total = u128::try_from(total).unwrap_or(0);
        Duration::new(
            u64::try_from(total / 1_000_000_000).unwrap_or(u64::MAX),
            (total % 1_000_000_000) as u32,
        )
    }

    /// Whether `sec >= 0` and `nsec` is in `0..1_000_000_000`: what the kernel accepts.
    pub fn is_valid(self) -> bool {
        self.sec >= 0 && (0..NSEC_PER_SEC).contains(&self.nsec)
    }

    pub(crate) fn to_kernel(self) -> sys::__kernel_timespec {
        sys::__kernel_timespec {
            tv_sec: self.sec,
            tv_nsec: self.nsec,
        }
    }
}

impl Add<Duration> for Timespec {
    type Output = Timespec;

    /// Panics on overflow, like `Instant + Duration`.
    fn add(self, d: Duration) -> Timespec {
        self.checked_add(d)
            .expect("overflow when adding a duration to a Timespec")
    }
}

impl Sub<Duration> for Timespec {
    type Output = Timespec;

    /// Panics on overflow, like `Instant - Duration`.
    fn sub(self, d: Duration) -> Timespec {
        self.checked_sub(d)
            .expect("overflow when subtracting a duration from a Timespec")
    }
}

/// What an entry owns for the kernel.
pub(crate) enum Payload {
    /// Nothing (NOP, FSYNC, FDATASYNC).
    None,
    /// A sleep's time, copied in at submit.
    Time(Box<sys::__kernel_timespec>),
    /// A write's data, copied in at submit.
    Data(Vec<u8>),
    /// A read's buffer, written back at reap; moved into the library's table while in flight.
    Buffer(Vec<u8>),
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::None => f.write_str("None"),
            Payload::Time(t) => write!(f, "Time({}.{:09})", t.tv_sec, t.tv_nsec),
            Payload::Data(d) => write!(f, "Data({} bytes)", d.len()),
            Payload::Buffer(b) => write!(f, "Buffer({} bytes)", b.len()),
        }
    }
}

/// One message, ready to be pushed into a [`Batch`](crate::Batch) or submitted.
///
/// Made by the builders of this module; owns the data, time or buffer the message points to.
#[derive(Debug)]
pub struct Entry {
    pub(crate) opcode: Opcode,
    pub(crate) fd: RawFd,
    pub(crate) tag: u64,
    pub(crate) offset: i64,
    pub(crate) op_flags: u32,
    pub(crate) prio: i8,
    pub(crate) payload: Payload,
}

impl Entry {
    fn new(opcode: Opcode, fd: RawFd, payload: Payload) -> Self {
        Self {
            opcode,
            fd,
            tag: 0,
            offset: 0,
            op_flags: 0,
            prio: 0,
            payload,
        }
    }

    /// Sets the static priority, `sys::SYSMSG_PRIO_MIN` (-3, lowest) ..= `sys::SYSMSG_PRIO_MAX`
    /// (3, highest); 0 by default. It orders this process's messages that wait for a kernel
    /// worker; a value outside the range makes the kernel refuse the message with `EINVAL`.
    #[must_use]
    pub fn prio(mut self, prio: i8) -> Self {
        self.prio = prio;
        self
    }

    /// Sets the tag returned in this message's reply (0 by default; any value is fine).
    #[must_use]
    pub fn tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }

    /// The tag set with [`tag`](Self::tag).
    pub fn get_tag(&self) -> u64 {
        self.tag
    }

    /// The operation.
    pub fn opcode(&self) -> Opcode {
        self.opcode
    }

    /// The message as the kernel sees it, with the library's `kernel_tag`. A read's buffer is
    /// named by `buffer` (it lives in the library's table by then); everything else points into
    /// the entry, which must therefore stay in place until the submitting call returns.
    pub(crate) fn to_raw(&self, kernel_tag: u64, buffer: Option<(u64, u64)>) -> sys::sysmsg_msg {
        let (addr, len) = match &self.payload {
            Payload::None => (0, 0),
            Payload::Time(t) => (&**t as *const sys::__kernel_timespec as u64, 0),
            Payload::Data(d) => (d.as_ptr() as u64, d.len() as u64),
            Payload::Buffer(b) => buffer.unwrap_or((b.as_ptr() as u64, b.len() as u64)),
        };
        sys::sysmsg_msg {
            opcode: self.opcode.0,
            fd: self.fd,
            tag: kernel_tag,
            addr,
            len,
            offset: self.offset,
            op_flags: self.op_flags,
            prio: self.prio,
            ..Default::default()
        }
    }
}

macro_rules! into_entry {
    ($($t:ident),*) => {
        $(
            impl From<$t> for Entry {
                fn from(op: $t) -> Entry {
                    op.build()
                }
            }
        )*
    };
}
into_entry!(Nop, Nanosleep, Read, Pread, Write, Pwrite, Fsync, Fdatasync);

/// `SYSMSG_OP_NOP`: does nothing, completes at submit; result 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Nop;

impl Nop {
    /// A NOP.
    pub fn new() -> Self {
        Nop
    }

    /// The entry.
    pub fn build(self) -> Entry {
        Entry::new(Opcode::NOP, 0, Payload::None)
    }
}

/// `SYSMSG_OP_NANOSLEEP`: completes (result 0) when the time has passed; no thread is held.
#[derive(Clone, Copy, Debug)]
pub struct Nanosleep {
    time: Timespec,
    absolute: bool,
}

impl Nanosleep {
    /// Sleeps for `d`.
    pub fn new(d: Duration) -> Self {
        Self::relative(Timespec::from_duration(d))
    }

    /// Sleeps until the `CLOCK_MONOTONIC` time `t` (`SYSMSG_SLEEP_ABSTIME`); a time in the past
    /// completes at once.
    pub fn until(t: Timespec) -> Self {
        Self {
            time: t,
            absolute: true,
        }
    }

    /// Sleeps for the length of time `t`, given as a timespec (not checked: an invalid one is
    /// refused by the kernel).
    pub fn relative(t: Timespec) -> Self {
        Self {
            time: t,
            absolute: false,
        }
    }

    /// The entry.
    pub fn build(self) -> Entry {
        let mut e = Entry::new(
            Opcode::NANOSLEEP,
            0,
            Payload::Time(Box::new(self.time.to_kernel())),
        );
        if self.absolute {
            e.op_flags = sys::SYSMSG_SLEEP_ABSTIME;
        }
        e
    }
}

/// `SYSMSG_OP_READ`: reads at (and advances) the file position into a buffer the library owns
/// and returns in the reply, cut to the bytes read.
#[derive(Debug)]
pub struct Read {
    fd: RawFd,
    buf: Vec<u8>,
}

impl Read {
    /// Reads up to `len` bytes from `fd`.
    pub fn new(fd: impl FdArg, len: usize) -> Self {
        Self::with_buffer(fd, vec![0; len])
    }

    /// Reads up to `buf.len()` bytes from `fd` into `buf` (to reuse the buffer of an earlier
    /// reply: resize it first).
    pub fn with_buffer(fd: impl FdArg, buf: Vec<u8>) -> Self {
        Self {
            fd: fd.raw_fd(),
            buf,
        }
    }

    /// The entry.
    pub fn build(self) -> Entry {
        Entry::new(Opcode::READ, self.fd, Payload::Buffer(self.buf))
    }
}

/// `SYSMSG_OP_PREAD`: reads at `offset` without moving the file position.
#[derive(Debug)]
pub struct Pread {
    fd: RawFd,
    buf: Vec<u8>,
    offset: u64,
}

impl Pread {
    /// Reads up to `len` bytes of `fd` at `offset`.
    pub fn new(fd: impl FdArg, len: usize, offset: u64) -> Self {
        Self::with_buffer(fd, vec![0; len], offset)
    }

    /// Reads up to `buf.len()` bytes of `fd` at `offset` into `buf`.
    pub fn with_buffer(fd: impl FdArg, buf: Vec<u8>, offset: u64) -> Self {
        Self {
            fd: fd.raw_fd(),
            buf,
            offset,
        }
    }

    /// The entry. An `offset` above `i64::MAX` is sent as the negative number it becomes, which
    /// the kernel refuses with `EINVAL`.
    pub fn build(self) -> Entry {
        let mut e = Entry::new(Opcode::PREAD, self.fd, Payload::Buffer(self.buf));
        e.offset = self.offset as i64;
        e
    }
}

/// `SYSMSG_OP_WRITE`: writes at (and advances) the file position; the data is copied in by the
/// submitting call.
#[derive(Debug)]
pub struct Write {
    fd: RawFd,
    data: Vec<u8>,
}

impl Write {
    /// Writes `data` to `fd`.
    pub fn new(fd: impl FdArg, data: impl Into<Vec<u8>>) -> Self {
        Self {
            fd: fd.raw_fd(),
            data: data.into(),
        }
    }

    /// The entry.
    pub fn build(self) -> Entry {
        Entry::new(Opcode::WRITE, self.fd, Payload::Data(self.data))
    }
}

/// `SYSMSG_OP_PWRITE`: writes at `offset` without moving the file position.
#[derive(Debug)]
pub struct Pwrite {
    fd: RawFd,
    data: Vec<u8>,
    offset: u64,
}

impl Pwrite {
    /// Writes `data` to `fd` at `offset`.
    pub fn new(fd: impl FdArg, data: impl Into<Vec<u8>>, offset: u64) -> Self {
        Self {
            fd: fd.raw_fd(),
            data: data.into(),
            offset,
        }
    }

    /// The entry (an `offset` above `i64::MAX` is refused by the kernel, see [`Pread::build`]).
    pub fn build(self) -> Entry {
        let mut e = Entry::new(Opcode::PWRITE, self.fd, Payload::Data(self.data));
        e.offset = self.offset as i64;
        e
    }
}

/// `SYSMSG_OP_FSYNC`: `fsync(2)` on the module's workqueue.
#[derive(Clone, Copy, Debug)]
pub struct Fsync {
    fd: RawFd,
}

impl Fsync {
    /// Syncs `fd`.
    pub fn new(fd: impl FdArg) -> Self {
        Self { fd: fd.raw_fd() }
    }

    /// The entry.
    pub fn build(self) -> Entry {
        Entry::new(Opcode::FSYNC, self.fd, Payload::None)
    }
}

/// `SYSMSG_OP_FDATASYNC`: `fdatasync(2)` on the module's workqueue.
#[derive(Clone, Copy, Debug)]
pub struct Fdatasync {
    fd: RawFd,
}

impl Fdatasync {
    /// Syncs the data of `fd`.
    pub fn new(fd: impl FdArg) -> Self {
        Self { fd: fd.raw_fd() }
    }

    /// The entry.
    pub fn build(self) -> Entry {
        Entry::new(Opcode::FDATASYNC, self.fd, Payload::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(e: &Entry) -> sys::sysmsg_msg {
        e.to_raw(0x1234, None)
    }

    /// Everything a message must leave zero.
    fn assert_reserved_zero(m: &sys::sysmsg_msg) {
        assert_eq!(m.flags, 0);
        assert_eq!(m.reserved0, 0);
        assert_eq!(m.reserved1, 0);
        assert_eq!(m.reserved, [0, 0]);
    }

    /// The priority reaches the kernel's field; 0 by default; the header's range.
    #[test]
    fn priority() {
        assert_eq!(raw(&Nop::new().build()).prio, 0);
        let m = raw(&Pread::new(3, 16, 0).build().prio(-3));
        assert_eq!(m.prio, -3);
        assert_eq!(sys::SYSMSG_PRIO_MIN, -3);
        assert_eq!(sys::SYSMSG_PRIO_MAX, 3);
        assert_reserved_zero(&m);
    }

    #[test]
    fn nop_uses_no_field() {
        let m = raw(&Nop::new().build().tag(7));
        assert_eq!(m.opcode, sys::SYSMSG_OP_NOP as u8);
        assert_eq!((m.fd, m.addr, m.len, m.offset, m.op_flags), (0, 0, 0, 0, 0));
        assert_eq!(m.tag, 0x1234, "the kernel tag is the library's");
        assert_reserved_zero(&m);
    }

    #[test]
    fn relative_and_absolute_sleeps() {
        let e = Nanosleep::new(Duration::new(3, 5)).build();
        let m = raw(&e);
        assert_eq!(m.opcode, sys::SYSMSG_OP_NANOSLEEP as u8);
        assert_eq!((m.fd, m.len, m.offset, m.op_flags), (0, 0, 0, 0));
        assert_ne!(m.addr, 0);
        // SAFETY: addr points at the timespec the entry owns.
        let ts = unsafe { *(m.addr as *const sys::__kernel_timespec) };
        assert_eq!((ts.tv_sec, ts.tv_nsec), (3, 5));
        assert_reserved_zero(&m);

        let e = Nanosleep::until(Timespec::new(10, 20)).build();
        let m = raw(&e);
        assert_eq!(m.op_flags, sys::SYSMSG_SLEEP_ABSTIME);
        // SAFETY: as above.
        let ts = unsafe { *(m.addr as *const sys::__kernel_timespec) };
        assert_eq!((ts.tv_sec, ts.tv_nsec), (10, 20));
    }

    #[test]
    fn reads_name_their_buffer() {
        let e = Read::new(5, 100).build();
        let m = raw(&e);
        assert_eq!(m.opcode, sys::SYSMSG_OP_READ as u8);
        assert_eq!((m.fd, m.len, m.offset, m.op_flags), (5, 100, 0, 0));
        let m = e.to_raw(1, Some((0x1000, 42)));
        assert_eq!((m.addr, m.len), (0x1000, 42));

        let m = raw(&Pread::new(6, 10, 99).build());
        assert_eq!(m.opcode, sys::SYSMSG_OP_PREAD as u8);
        assert_eq!((m.fd, m.len, m.offset), (6, 10, 99));
        let m = raw(&Pread::new(6, 10, u64::MAX).build());
        assert!(m.offset < 0);
        assert_reserved_zero(&m);
    }

    #[test]
    fn writes_point_at_their_data() {
        let e = Write::new(3, b"hello".to_vec()).build();
        let m = raw(&e);
        assert_eq!(m.opcode, sys::SYSMSG_OP_WRITE as u8);
        assert_eq!((m.fd, m.len, m.offset), (3, 5, 0));
        // SAFETY: addr/len name the data the entry owns.
        let data = unsafe { std::slice::from_raw_parts(m.addr as *const u8, m.len as usize) };
        assert_eq!(data, b"hello");

        let m = raw(&Pwrite::new(4, "abc", 1 << 40).build());
        assert_eq!(m.opcode, sys::SYSMSG_OP_PWRITE as u8);
        assert_eq!((m.fd, m.len, m.offset), (4, 3, 1 << 40));
        assert_reserved_zero(&m);
    }

    #[test]
    fn syncs_use_only_fd() {
        for (e, op) in [
            (Fsync::new(9).build(), Opcode::FSYNC),
            (Fdatasync::new(9).build(), Opcode::FDATASYNC),
        ] {
            let m = raw(&e);
            assert_eq!(m.opcode, op.0);
            assert_eq!((m.fd, m.addr, m.len, m.offset, m.op_flags), (9, 0, 0, 0, 0));
        }
    }

    #[test]
    fn tags_and_conversions() {
        let e: Entry = Nop::new().into();
        assert_eq!(e.get_tag(), 0);
        let e = e.tag(u64::MAX);
        assert_eq!(e.get_tag(), u64::MAX);
        assert_eq!(e.opcode(), Opcode::NOP);
        let file = std::fs::File::open("/dev/null").unwrap();
        let e: Entry = Fsync::new(&file).into();
        assert_eq!(raw(&e).fd, file.as_raw_fd());
    }

    #[test]
    fn opcode_names() {
        assert_eq!(format!("{:?}", Opcode::PWRITE), "PWRITE");
        assert_eq!(format!("{}", Opcode(200)), "Opcode(200)");
        assert_eq!(Opcode(8).name(), None);
    }

    #[test]
    fn timespec_arithmetic() {
        let t = Timespec::new(5, 999_999_999);
        assert_eq!(t + Duration::from_nanos(1), Timespec::new(6, 0));
        assert_eq!(t - Duration::new(5, 999_999_999), Timespec::new(0, 0));
        assert_eq!(
            Timespec::new(1, 0) - Duration::from_nanos(1),
            Timespec::new(0, 999_999_999)
        );
        assert_eq!(
            Timespec::new(i64::MAX, 0).checked_add(Duration::new(1, 0)),
            None
        );
        assert_eq!(Timespec::new(0, -1).checked_add(Duration::ZERO), None);
        assert_eq!(
            Timespec::new(3, 0).saturating_duration_since(Timespec::new(1, 500_000_000)),
            Duration::from_millis(1500)
        );
        assert_eq!(
            Timespec::new(1, 0).saturating_duration_since(Timespec::new(3, 0)),
            Duration::ZERO
        );
        assert_eq!(
            Timespec::from_duration(Duration::MAX).sec,
            i64::MAX,
            "saturates"
        );
        assert!(!Timespec::new(-1, 0).is_valid());
        assert!(!Timespec::new(0, 1_000_000_000).is_valid());
        let a = Timespec::now();
        let b = Timespec::now();
        assert!(a.is_valid() && a <= b);
    }
}
