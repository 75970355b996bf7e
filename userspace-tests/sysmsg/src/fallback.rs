//! The fallback (README.md): an operation the kernel refused with `EAGAIN`, or that was
//! submitted while the process is throttled, is performed here, synchronously in the caller, with
//! the real system call, and answered with a [`Reply`] of the same shape as the kernel's (tag,
//! opcode, result, read data).
//!
//! What the module refuses at copyin is refused here too, with the same errno and before
//! anything is done: an invalid timespec, a write longer than [`MAX_IO_LEN`] or a negative offset
//! (`EINVAL`), a descriptor that is not open for the operation (`EBADF`, as the system call says
//! it), positioned I/O on a stream (`ESPIPE`). Any other error is the reply's result, as the
//! module would report it. Like the module, a read is clamped to [`MAX_IO_LEN`], an interrupted
//! call is restarted (a message is never interrupted), and a file opened `O_NONBLOCK` answers
//! `EAGAIN` in the reply.

use crate::{
    op::{Entry, Payload},
    sys, Opcode, Reply, Timespec, MAX_IO_LEN,
};
use std::{io, time::Duration};

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Runs a system call that returns a count or -1, restarting it after `EINTR`.
fn restart(mut call: impl FnMut() -> isize) -> Result<usize, i32> {
    loop {
        let r = call();
        if r >= 0 {
            return Ok(r as usize);
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// Sleeps until the `CLOCK_MONOTONIC` time `t`, whatever signals arrive.
fn sleep_until(t: Timespec) {
    // time_t and c_long are 32 bits wide on some targets.
    #[allow(clippy::unnecessary_cast)]
    let ts = libc::timespec {
        tv_sec: t.sec as libc::time_t,
        tv_nsec: t.nsec as libc::c_long,
    };
    loop {
        // SAFETY: a valid timespec; no remainder is asked for with TIMER_ABSTIME.
        let r = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if r != libc::EINTR {
            return;
        }
    }
}

/// Whether the module refuses a message with this errno at copyin (so nothing was done and no
/// reply may come), rather than reporting it in the reply.
fn refused_at_copyin(opcode: Opcode, errno: i32) -> bool {
    errno == libc::EBADF
        || (errno == libc::ESPIPE && matches!(opcode, Opcode::PREAD | Opcode::PWRITE))
}

/// Performs `entry` now, in the calling thread. A read's buffer moves into the reply. A refusal
/// (see the module's documentation) leaves the entry as it was.
pub(crate) fn perform(entry: &mut Entry) -> Result<Reply, io::Error> {
    let refuse = |errno| Err(io::Error::from_raw_os_error(errno));
    let (opcode, fd, offset) = (entry.opcode, entry.fd, entry.offset);
    if matches!(opcode, Opcode::PREAD | Opcode::PWRITE) && offset < 0 {
        return refuse(libc::EINVAL);
    }
    // off_t is 64 bits wide on the targets that matter, and i64 may be it.
    #[allow(clippy::unnecessary_cast)]
    let off = offset as libc::off_t;
    let (result, data) = match (opcode, &mut entry.payload) {
        (Opcode::NOP, _) => (Ok(0), None),
        (Opcode::NANOSLEEP, Payload::Time(ts)) => {
            let t = Timespec::new(ts.tv_sec, ts.tv_nsec);
            if !t.is_valid() {
                return refuse(libc::EINVAL);
            }
            let deadline = if entry.op_flags & sys::SYSMSG_SLEEP_ABSTIME != 0 {
                t
            } else {
                let d = Duration::new(t.sec as u64, t.nsec as u32);
                Timespec::now()
                    .checked_add(d)
                    .unwrap_or(Timespec::new(i64::MAX, 0))
            };
            sleep_until(deadline);
            (Ok(0), None)
        }
        (Opcode::READ | Opcode::PREAD, Payload::Buffer(buf)) => {
            let len = buf.len().min(MAX_IO_LEN);
            let p = buf.as_mut_ptr().cast();
            let r = restart(|| {
                // SAFETY: the buffer is valid for writes of `len` bytes.
                unsafe {
                    if opcode == Opcode::PREAD {
                        libc::pread(fd, p, len, off)
                    } else {
                        libc::read(fd, p, len)
                    }
                }
            });
            if let Err(e) = r {
                if refused_at_copyin(opcode, e) {
                    return refuse(e);
                }
            }
            let mut buf = std::mem::take(buf);
            buf.truncate(*r.as_ref().unwrap_or(&0));
            (r, Some(buf))
        }
        (Opcode::WRITE | Opcode::PWRITE, Payload::Data(data)) => {
            if data.len() > MAX_IO_LEN {
                return refuse(libc::EINVAL);
            }
            let (p, len) = (data.as_ptr().cast(), data.len());
            let r = restart(|| {
                // SAFETY: the data is valid for reads of `len` bytes.
                unsafe {
                    if opcode == Opcode::PWRITE {
                        libc::pwrite(fd, p, len, off)
                    } else {
                        libc::write(fd, p, len)
                    }
                }
            });
            (r, None)
        }
        (Opcode::FSYNC | Opcode::FDATASYNC, _) => {
            let r = restart(|| {
                // SAFETY: plain integers.
                let r = unsafe {
                    if opcode == Opcode::FSYNC {
                        libc::fsync(fd)
                    } else {
                        libc::fdatasync(fd)
                    }
                };
                r as isize
            });
            (r, None)
        }
        // Entries are only made by the builders, which never pair these otherwise.
        _ => return refuse(libc::EINVAL),
    };
    let result = match result {
        Ok(n) => i64::try_from(n).unwrap_or(i64::MAX),
        Err(e) if refused_at_copyin(opcode, e) => return refuse(e),
        Err(e) => -i64::from(e),
    };
    Ok(Reply::new(entry.tag, opcode, result, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op;
    use std::{
        fs::File,
        io::Write as _,
        os::fd::{AsRawFd, FromRawFd},
        time::Instant,
    };

    fn temp(name: &str, data: &[u8]) -> (std::path::PathBuf, File) {
        let path =
            std::env::temp_dir().join(format!("sysmsg-fallback-{}-{name}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (path, f)
    }

    fn pipe() -> (File, File) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two new descriptors, owned by the Files below.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: as above.
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
    }

    #[test]
    fn every_operation_has_the_kernels_shape() {
        let (path, f) = temp("ops", b"0123456789");
        let mut e = op::Pread::new(&f, 4, 3).build().tag(1);
        let r = perform(&mut e).unwrap();
        assert_eq!((r.tag(), r.opcode(), r.raw_result()), (1, Opcode::PREAD, 4));
        assert_eq!(r.data(), Some(&b"3456"[..]));
        let r = perform(&mut op::Read::new(&f, 100).build().tag(2)).unwrap();
        assert_eq!(r.data(), Some(&b"0123456789"[..]));
        let r = perform(&mut op::Read::new(&f, 100).build()).unwrap();
        assert_eq!(
            (r.raw_result(), r.data()),
            (0, Some(&b""[..])),
            "end of file"
        );
        let r = perform(&mut op::Pwrite::new(&f, "ab", 1).build().tag(3)).unwrap();
        assert_eq!(
            (r.opcode(), r.raw_result(), r.data()),
            (Opcode::PWRITE, 2, None)
        );
        let r = perform(&mut op::Write::new(&f, "XY").build()).unwrap();
        assert_eq!((r.opcode(), r.raw_result()), (Opcode::WRITE, 2));
        assert_eq!(std::fs::read(&path).unwrap(), b"0ab3456789XY");
        for e in [op::Fsync::new(&f).build(), op::Fdatasync::new(&f).build()] {
            let op = e.opcode();
            let r = perform(&mut { e }).unwrap();
            assert_eq!((r.opcode(), r.raw_result()), (op, 0));
        }
        let r = perform(&mut op::Nop::new().build().tag(9)).unwrap();
        assert_eq!((r.tag(), r.opcode(), r.raw_result()), (9, Opcode::NOP, 0));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn sleeps_last_their_time() {
        let start = Instant::now();
        let r = perform(&mut op::Nanosleep::new(Duration::from_millis(30)).build()).unwrap();
        assert_eq!((r.opcode(), r.raw_result()), (Opcode::NANOSLEEP, 0));
        assert!(start.elapsed() >= Duration::from_millis(30));
        let until = Timespec::now() + Duration::from_millis(20);
        perform(&mut op::Nanosleep::until(until).build()).unwrap();
        assert!(Timespec::now() >= until);
        // In the past: at once.
        perform(&mut op::Nanosleep::until(Timespec::new(0, 0)).build()).unwrap();
    }

    #[test]
    fn copyin_errors_are_refusals_that_leave_the_entry() {
        let errno = |mut e: Entry| perform(&mut e).unwrap_err().raw_os_error();
        let bad = Timespec::new(0, 1_000_000_000);
        assert_eq!(errno(op::Nanosleep::until(bad).build()), Some(libc::EINVAL));
        assert_eq!(
            errno(op::Nanosleep::relative(bad).build()),
            Some(libc::EINVAL)
        );
        let (path, f) = temp("refusals", b"abc");
        let long = vec![0u8; MAX_IO_LEN + 1];
        assert_eq!(errno(op::Write::new(&f, long).build()), Some(libc::EINVAL));
        assert_eq!(
            errno(op::Pread::new(&f, 1, u64::MAX).build()),
            Some(libc::EINVAL)
        );
        assert_eq!(errno(op::Read::new(-1, 1).build()), Some(libc::EBADF));
        assert_eq!(errno(op::Fsync::new(-1).build()), Some(libc::EBADF));
        let ro = File::open(&path).unwrap();
        assert_eq!(errno(op::Write::new(&ro, "x").build()), Some(libc::EBADF));
        let (r, w) = pipe();
        assert_eq!(errno(op::Pread::new(&r, 1, 0).build()), Some(libc::ESPIPE));
        assert_eq!(
            errno(op::Pwrite::new(&w, "x", 0).build()),
            Some(libc::ESPIPE)
        );
        // The read buffer stays in a refused entry.
        let mut e = op::Read::new(&w, 8).build();
        assert!(perform(&mut e).is_err());
        assert!(matches!(&e.payload, Payload::Buffer(b) if b.len() == 8));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn other_errors_are_in_the_reply() {
        let (r, mut w) = pipe();
        // fsync of a pipe: EINVAL, as the module's reply says it.
        let res = perform(&mut op::Fsync::new(&w).build()).unwrap();
        assert_eq!(res.errno(), Some(libc::EINVAL));
        let dir = File::open("/").unwrap();
        let res = perform(&mut op::Read::new(&dir, 8).build()).unwrap();
        assert_eq!(
            (res.errno(), res.data()),
            (Some(libc::EISDIR), Some(&b""[..]))
        );
        // O_NONBLOCK keeps its meaning: EAGAIN in the reply.
        // SAFETY: F_SETFL with plain integers on our own descriptor.
        unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let res = perform(&mut op::Read::new(&r, 8).build()).unwrap();
        assert_eq!(res.errno(), Some(libc::EAGAIN));
        w.write_all(b"hi").unwrap();
        let res = perform(&mut op::Read::new(&r, 8).build()).unwrap();
        assert_eq!(res.data(), Some(&b"hi"[..]));
        // A write to a pipe without readers: EPIPE (Rust ignores SIGPIPE).
        drop(r);
        let res = perform(&mut op::Write::new(&w, "x").build()).unwrap();
        assert_eq!(res.errno(), Some(libc::EPIPE));
    }
}
