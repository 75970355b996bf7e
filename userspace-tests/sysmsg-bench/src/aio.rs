//! Linux AIO (`io_setup`, `io_submit`, `io_getevents`, `io_destroy`) through raw system calls.
//!
//! Why not a crate: the four calls and two structures of `<linux/aio_abi.h>` are all this
//! benchmark needs, and they have not changed since 2.6 (plus `IOCB_CMD_FSYNC` executing
//! asynchronously since 4.18). The crates that wrap them either are unmaintained or bring an
//! async runtime; libc has the system call numbers but not the structures on every target. The
//! layout below is `<linux/aio_abi.h>`'s and is checked by the tests.
//!
//! Note what AIO does with buffered files: `IOCB_CMD_PREAD` of a file opened without
//! `O_DIRECT` is performed synchronously inside `io_submit` (a page-cache copy); only `FSYNC`
//! and `FDSYNC` go to a kernel workqueue. The benchmark uses it as such.

use std::{io, os::fd::RawFd, time::Duration};

/// `IOCB_CMD_PREAD`.
pub const IOCB_CMD_PREAD: u16 = 0;
/// `IOCB_CMD_PWRITE`.
pub const IOCB_CMD_PWRITE: u16 = 1;
/// `IOCB_CMD_FSYNC`.
pub const IOCB_CMD_FSYNC: u16 = 2;
/// `IOCB_CMD_FDSYNC`.
pub const IOCB_CMD_FDSYNC: u16 = 3;

/// `struct iocb` of `<linux/aio_abi.h>` (64 bytes): one request.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iocb {
    /// Returned in the event's `data`.
    pub aio_data: u64,
    /// Set by the kernel (`KIOCB_KEY`, 0); zero.
    #[cfg(target_endian = "little")]
    pub aio_key: u32,
    /// `RWF_*` flags for reads and writes; zero.
    pub aio_rw_flags: i32,
    /// Set by the kernel; zero.
    #[cfg(target_endian = "big")]
    pub aio_key: u32,
    /// `IOCB_CMD_*`.
    pub aio_lio_opcode: u16,
    /// Request priority; zero.
    pub aio_reqprio: i16,
    /// The file.
    pub aio_fildes: u32,
    /// The buffer.
    pub aio_buf: u64,
    /// Its length.
    pub aio_nbytes: u64,
    /// The file offset.
    pub aio_offset: i64,
    /// Zero.
    pub aio_reserved2: u64,
    /// `IOCB_FLAG_*`; zero.
    pub aio_flags: u32,
    /// An eventfd to signal with `IOCB_FLAG_RESFD`; zero.
    pub aio_resfd: u32,
}

impl Iocb {
    /// A `pread(fd, buf, len, offset)` request.
    pub fn pread(fd: RawFd, buf: *mut u8, len: usize, offset: u64, data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_PREAD,
            aio_fildes: fd as u32,
            aio_buf: buf as u64,
            aio_nbytes: len as u64,
            aio_offset: offset as i64,
            ..Default::default()
        }
    }

    /// An `fsync(fd)` request.
    pub fn fsync(fd: RawFd, data: u64) -> Self {
        Self {
            aio_data: data,
            aio_lio_opcode: IOCB_CMD_FSYNC,
            aio_fildes: fd as u32,
            ..Default::default()
        }
    }
}

/// `struct io_event` (32 bytes): one completion.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoEvent {
    /// The request's `aio_data`.
    pub data: u64,
    /// The address of the request's iocb.
    pub obj: u64,
    /// The result: a byte count, 0, or a negative errno.
    pub res: i64,
    /// A second result (0).
    pub res2: i64,
}

/// An AIO context (`aio_context_t`), destroyed when dropped. `io_destroy` waits for every
/// request still in flight, so buffers that outlive the context are never written after it.
#[derive(Debug)]
pub struct Context {
    ctx: libc::c_ulong,
}

fn check(r: libc::c_long) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

impl Context {
    /// `io_setup(nr_events)`.
    pub fn new(nr_events: u32) -> io::Result<Self> {
        let mut ctx: libc::c_ulong = 0;
        // SAFETY: io_setup writes the new context to a valid pointer.
        check(unsafe {
            libc::syscall(
                libc::SYS_io_setup,
                nr_events as libc::c_long,
                &mut ctx as *mut libc::c_ulong,
            )
        })?;
        Ok(Self { ctx })
    }

    /// `io_submit` of the requests (copied by the kernel during the call): how many were
    /// submitted, from the first on.
    ///
    /// # Safety
    ///
    /// The buffer of each request must stay valid for its operation (writes for a read) until
    /// its event has been returned by [`get_events`](Self::get_events) or the context dropped.
    pub unsafe fn submit(&self, iocbs: &mut [Iocb]) -> io::Result<usize> {
        let mut ptrs: Vec<*mut Iocb> = iocbs.iter_mut().map(|i| i as *mut Iocb).collect();
        // SAFETY: an array of `ptrs.len()` valid iocb pointers; the caller vouches for the
        // buffers they name.
        check(unsafe {
            libc::syscall(
                libc::SYS_io_submit,
                self.ctx,
                ptrs.len() as libc::c_long,
                ptrs.as_mut_ptr(),
            )
        })
    }

    /// `io_getevents(min, events.len(), timeout)`: waits until at least `min` events are ready
    /// (or the timeout passes) and stores up to `events.len()`. Restarted after `EINTR`.
    pub fn get_events(
        &self,
        min: usize,
        events: &mut [IoEvent],
        timeout: Duration,
    ) -> io::Result<usize> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        loop {
            // SAFETY: room for `events.len()` events and a valid timespec.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    self.ctx,
                    min as libc::c_long,
                    events.len() as libc::c_long,
                    events.as_mut_ptr(),
                    &ts as *const libc::timespec,
                )
            };
            match check(r) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: destroys our own context; waits for requests in flight.
        unsafe { libc::syscall(libc::SYS_io_destroy, self.ctx) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{mem::offset_of, os::fd::AsRawFd};

    #[test]
    fn layout_is_aio_abi_h() {
        assert_eq!(std::mem::size_of::<Iocb>(), 64);
        assert_eq!(std::mem::size_of::<IoEvent>(), 32);
        assert_eq!(offset_of!(Iocb, aio_data), 0);
        #[cfg(target_endian = "little")]
        {
            assert_eq!(offset_of!(Iocb, aio_key), 8);
            assert_eq!(offset_of!(Iocb, aio_rw_flags), 12);
        }
        assert_eq!(offset_of!(Iocb, aio_lio_opcode), 16);
        assert_eq!(offset_of!(Iocb, aio_reqprio), 18);
        assert_eq!(offset_of!(Iocb, aio_fildes), 20);
        assert_eq!(offset_of!(Iocb, aio_buf), 24);
        assert_eq!(offset_of!(Iocb, aio_nbytes), 32);
        assert_eq!(offset_of!(Iocb, aio_offset), 40);
        assert_eq!(offset_of!(Iocb, aio_reserved2), 48);
        assert_eq!(offset_of!(Iocb, aio_flags), 56);
        assert_eq!(offset_of!(Iocb, aio_resfd), 60);
        assert_eq!(offset_of!(IoEvent, res), 16);
    }

    /// A pread and an fsync through the kernel, where AIO is available.
    #[test]
    fn pread_and_fsync() {
        let ctx = match Context::new(8) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("AIO unavailable here ({e}): skipped");
                return;
            }
        };
        let path = std::env::temp_dir().join(format!("sysmsg-bench-aio-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 4];
        let mut iocbs = [
            Iocb::pread(f.as_raw_fd(), buf.as_mut_ptr(), 4, 3, 7),
            Iocb::fsync(f.as_raw_fd(), 8),
        ];
        // SAFETY: `buf` outlives the wait for both events below.
        assert_eq!(unsafe { ctx.submit(&mut iocbs) }.unwrap(), 2);
        let mut ev = [IoEvent::default(); 2];
        let mut got = 0;
        while got < 2 {
            got += ctx
                .get_events(1, &mut ev[got..], Duration::from_secs(10))
                .unwrap();
        }
        let mut results: Vec<(u64, i64)> = ev.iter().map(|e| (e.data, e.res)).collect();
        results.sort();
        // fsync of a read-only descriptor may say EINVAL/EBADF on some file systems: only its
        // completion matters here.
        assert_eq!(results[0], (7, 4));
        assert_eq!(results[1].0, 8);
        assert_eq!(&buf, b"3456");
        std::fs::remove_file(path).unwrap();
    }
}
