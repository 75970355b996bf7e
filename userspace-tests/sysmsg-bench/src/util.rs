//! Small helpers shared by the cases: buffers that may be written by the kernel after an error,
//! a PRNG, pipes, waits with deadlines.

use std::{
    fs::File,
    io,
    os::fd::{AsRawFd, FromRawFd},
    time::{Duration, Instant},
};

/// A buffer named in requests that the kernel may still write (a sysmsg READ, an io_uring
/// READ). Unless [`settle`](Self::settle) says that every request naming it has completed, it
/// is leaked when dropped instead of freed, so that an error path can never let the kernel
/// write into freed memory.
#[derive(Debug)]
pub struct InFlightBuf {
    buf: Vec<u8>,
    settled: bool,
}

impl InFlightBuf {
    /// `len` zero bytes.
    pub fn new(len: usize) -> Self {
        Self {
            buf: vec![0; len],
            settled: true,
        }
    }

    /// The address of byte `offset`, for a request; marks the buffer as named by requests in
    /// flight.
    pub fn ptr_at(&mut self, offset: usize) -> *mut u8 {
        self.settled = false;
        assert!(offset <= self.buf.len(), "offset past the buffer");
        // SAFETY: `offset` is within the allocation (checked above).
        unsafe { self.buf.as_mut_ptr().add(offset) }
    }

    /// Says that no request naming the buffer is in flight any more.
    pub fn settle(&mut self) {
        self.settled = true;
    }

    /// The bytes (read them only when the requests that write them have completed).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

impl Drop for InFlightBuf {
    fn drop(&mut self) {
        if !self.settled {
            std::mem::forget(std::mem::take(&mut self.buf));
        }
    }
}

/// xorshift64*: random file offsets, reproducible from the seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A pipe, (read end, write end), close-on-exec.
pub fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nobody else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// `read(2)` into `buf`, restarted after `EINTR`.
pub fn read_fd(f: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let r = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `write(2)` of `buf`, restarted after `EINTR`.
pub fn write_fd(f: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for reads of its length.
        let r = unsafe { libc::write(f.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `poll()` for `events` on one descriptor, at most `timeout`: whether it became ready.
pub fn poll_one(fd: &impl AsRawFd, events: i16, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    loop {
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A deadline for a bounded wait.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// `d` from now.
    pub fn after(d: Duration) -> Self {
        Self(Instant::now() + d)
    }

    /// The time left (zero once passed).
    pub fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// Operations per second.
pub fn per_sec(ops: usize, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Runs `run` once over a warm-up of `warm` operations, then times it over `ops`: operations per
/// second.
pub fn warm_then_time(
    warm: usize,
    ops: usize,
    mut run: impl FnMut(usize) -> Result<(), String>,
) -> Result<f64, String> {
    run(warm)?;
    let start = std::time::Instant::now();
    run(ops)?;
    Ok(per_sec(ops, start.elapsed()))
}

/// Nanoseconds per operation.
pub fn ns_per(ops: usize, elapsed: Duration) -> f64 {
    elapsed.as_nanos() as f64 / ops.max(1) as f64
}

/// An `io::Error` as a short message with context.
pub fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_bounded() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.below(10)).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.below(10)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|&v| v < 10));
        assert_ne!(Rng::new(0).next_u64(), 0);
    }

    #[test]
    fn pipes_and_polls() {
        let (r, w) = pipe().unwrap();
        assert!(!poll_one(&r, libc::POLLIN, Duration::from_millis(1)).unwrap());
        assert_eq!(write_fd(&w, b"ab").unwrap(), 2);
        assert!(poll_one(&r, libc::POLLIN, Duration::from_secs(1)).unwrap());
        let mut buf = [0u8; 4];
        assert_eq!(read_fd(&r, &mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"ab");
    }

    #[test]
    fn in_flight_buffers() {
        let mut b = InFlightBuf::new(8);
        assert_eq!(b.len(), 8);
        let p = b.ptr_at(4);
        assert_eq!(p as usize - b.bytes().as_ptr() as usize, 4);
        b.settle();
        drop(b);
        // An unsettled one is leaked, not freed (nothing to observe but no crash).
        let mut c = InFlightBuf::new(8);
        let _ = c.ptr_at(0);
        drop(c);
    }

    #[test]
    fn rates() {
        assert_eq!(per_sec(10, Duration::from_secs(2)), 5.0);
        assert_eq!(ns_per(4, Duration::from_nanos(100)), 25.0);
        assert!(Deadline::after(Duration::from_secs(60)).left() > Duration::from_secs(1));
        assert!(Deadline::after(Duration::ZERO).passed());
    }
}
