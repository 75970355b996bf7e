//! Helpers shared by the VM tests: they only make sense with the module loaded.

use std::{
    fs::{File, OpenOptions},
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
    time::{Duration, Instant},
};
use sysmsg::{sys, Opcode, Reply, Sysmsg};

/// Reads a sysctl under `/proc/sys/kernel/sysmsg/` as an integer.
pub fn sysctl(name: &str) -> io::Result<i64> {
    let text = std::fs::read_to_string(format!("/proc/sys/kernel/sysmsg/{name}"))?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes a sysctl under `/proc/sys/kernel/sysmsg/` (root only).
pub fn set_sysctl(name: &str, value: i64) -> io::Result<()> {
    std::fs::write(
        format!("/proc/sys/kernel/sysmsg/{name}"),
        format!("{value}\n"),
    )
}

/// Sysctls a test changed, set back to their old values when dropped (also when the test
/// panics).
#[derive(Debug, Default)]
pub struct Sysctls {
    saved: Vec<(String, i64)>,
}

impl Sysctls {
    /// Nothing changed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, remembering the value it had first.
    pub fn set(&mut self, name: &str, value: i64) {
        if !self.saved.iter().any(|(n, _)| n == name) {
            let old = sysctl(name).unwrap_or_else(|e| panic!("read kernel.sysmsg.{name}: {e}"));
            self.saved.push((name.to_string(), old));
        }
        set_sysctl(name, value).unwrap_or_else(|e| panic!("kernel.sysmsg.{name}={value}: {e}"));
    }
}

impl Drop for Sysctls {
    fn drop(&mut self) {
        for (name, old) in self.saved.drain(..).rev() {
            if let Err(e) = set_sysctl(&name, old) {
                eprintln!("restoring kernel.sysmsg.{name}={old}: {e}");
            }
        }
    }
}

/// Serializes the tests of one test program that change what belongs to the whole process (its
/// limits, its throttle) or to the system (sysctls): libtest runs the tests of a program in
/// threads of one process, and limits are per process.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The errno of an `io::Result`'s error, `None` if it is `Ok`.
pub fn errno_of<T>(r: &io::Result<T>) -> Option<i32> {
    r.as_ref().err().and_then(io::Error::raw_os_error)
}

/// This process's counters in the module's list (`SYSMSG_IOC_PROC_STATS`).
pub fn own_stats(dev: &Sysmsg) -> sysmsg::ProcStats {
    dev.own_proc_stats()
        .expect("PROC_STATS")
        .expect("this process is not in PROC_STATS")
}

/// The `key:\tvalue` lines of `/proc/self/fdinfo/<fd>`, value of `key`.
pub fn fdinfo(fd: i32, key: &str) -> io::Result<Option<String>> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))?;
    Ok(text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    }))
}

/// Tries to unload the module without waiting; returns the errno on refusal.
pub fn try_rmmod() -> io::Result<()> {
    // SAFETY: a NUL-terminated name and flags, as delete_module(2) takes them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"sysmsg".as_ptr(),
            libc::O_NONBLOCK,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens the device, with a message naming the likely cause when that fails.
pub fn open() -> Sysmsg {
    Sysmsg::open().expect("open /dev/sysmsg (is the module loaded?)")
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A pipe: (read end, write end), both close-on-exec.
pub fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }).expect("pipe2");
    // SAFETY: both descriptors are new and owned by nobody else.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// A new eventfd with counter `initval`.
pub fn eventfd(initval: u32) -> File {
    // SAFETY: eventfd takes plain integers and returns a new descriptor.
    let fd = check(unsafe { libc::eventfd(initval, libc::EFD_CLOEXEC) }).expect("eventfd");
    // SAFETY: the descriptor is new and owned by nobody else.
    File::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets or clears `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: RawFd, on: bool) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor take and return plain integers.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL)).expect("F_GETFL");
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        check(libc::fcntl(fd, libc::F_SETFL, flags)).expect("F_SETFL");
    }
}

/// `poll()` on one descriptor: the returned events (0 on timeout).
pub fn poll_events(fd: RawFd, events: i16, timeout: Duration) -> i16 {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd.
    let n = check(unsafe { libc::poll(&mut p, 1, ms) }).expect("poll");
    if n == 0 {
        0
    } else {
        p.revents
    }
}

/// The current file position of `fd` (`lseek(fd, 0, SEEK_CUR)`).
pub fn position(fd: RawFd) -> i64 {
    // SAFETY: lseek takes plain integers.
    let r = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
    assert!(r >= 0, "lseek: {}", io::Error::last_os_error());
    r
}

static TEMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A file under /tmp (a tmpfs in the VM), removed when dropped.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    /// The file, open for reading and writing.
    pub file: File,
}

impl TempFile {
    /// A new, empty file whose name contains `name`.
    pub fn new(name: &str) -> Self {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = PathBuf::from(format!(
            "/tmp/sysmsg-test-{}-{n}-{name}",
            std::process::id()
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        Self { path, file }
    }

    /// A new file holding `data`, its position at 0.
    pub fn with_data(name: &str, data: &[u8]) -> Self {
        let t = Self::new(name);
        std::fs::write(&t.path, data).expect("write the temporary file");
        t
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file again, read-only.
    pub fn open_read_only(&self) -> File {
        File::open(&self.path).expect("reopen read-only")
    }

    /// Opens the file again, write-only.
    pub fn open_write_only(&self) -> File {
        OpenOptions::new()
            .write(true)
            .open(&self.path)
            .expect("reopen write-only")
    }

    /// The whole content, read through the path.
    pub fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("read the temporary file")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl AsRawFd for TempFile {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// A raw message of `opcode` with everything else zero, for tests that build malformed ones.
pub fn raw_msg(opcode: Opcode, tag: u64) -> sys::sysmsg_msg {
    sys::sysmsg_msg {
        opcode: opcode.0,
        tag,
        ..Default::default()
    }
}

/// A new anonymous mapping of `len` bytes (`flags`: `MAP_PRIVATE` or `MAP_SHARED`); panics if
/// `mmap` fails.
fn mmap_anon(len: usize, prot: i32, flags: i32) -> *mut libc::c_void {
    // SAFETY: a new anonymous mapping; no existing memory is touched.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            flags | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(
        addr,
        libc::MAP_FAILED,
        "mmap: {}",
        io::Error::last_os_error()
    );
    addr
}

/// An anonymous private mapping of `len` bytes, unmapped when dropped.
///
/// "Unmapping" part of it frees the pages but keeps their addresses reserved, inaccessible
/// (`PROT_NONE`): a bad address for the kernel as an unmapped one is, which another thread's
/// `mmap` (libtest runs tests in parallel threads) cannot take over while a test counts on it.
#[derive(Debug)]
pub struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
    mapped: bool,
}

impl Mapping {
    /// Maps `len` bytes with protection `prot` (`libc::PROT_*`).
    pub fn new(len: usize, prot: i32) -> Self {
        let addr = mmap_anon(len, prot, libc::MAP_PRIVATE);
        Self {
            addr,
            len,
            mapped: true,
        }
    }

    /// The address, as messages carry it.
    pub fn addr(&self) -> u64 {
        self.addr as u64
    }

    /// Unmaps it now (the address stays a user address with nothing accessible behind it).
    pub fn unmap(&mut self) {
        if self.mapped {
            self.unmap_range(0, self.len);
            self.mapped = false;
        }
    }

    /// Unmaps the pages at `offset..offset + len` (page-aligned) now, keeping the addresses
    /// reserved and inaccessible.
    pub fn unmap_range(&mut self, offset: usize, len: usize) {
        assert!(offset + len <= self.len);
        // SAFETY: replaces pages of our own mapping, to which no reference exists, with an
        // inaccessible anonymous mapping (their contents are freed).
        let r = unsafe {
            libc::mmap(
                self.addr.cast::<u8>().add(offset).cast(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(r, libc::MAP_FAILED, "mmap: {}", io::Error::last_os_error());
    }

    /// The bytes, if mapped and readable.
    pub fn bytes(&self) -> &[u8] {
        assert!(self.mapped);
        // SAFETY: a live mapping of `len` bytes; the caller mapped it readable.
        unsafe { std::slice::from_raw_parts(self.addr.cast(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping (or reservation), to which no reference exists.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

/// Xorshift64*: a small seeded PRNG, so a failing random run can be repeated.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed (zero is replaced).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The seed of a randomized test: `SYSMSG_SEED` from the environment, else `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("SYSMSG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Asserts that nothing is queued for this `Sysmsg`: no reply is ready, and a sentinel NOP is
/// the next and only reply. Proves, after refusals, that no refused message produced a reply (a
/// NOP completes at submit, after everything submitted before it that completes at once). Uses
/// raw calls, so it does not depend on the library's count of messages in flight.
pub fn assert_quiet(dev: &Sysmsg) {
    const SENTINEL: u64 = 0x5e47_17e1;
    let early = dev.wait(0).expect("wait(0)");
    assert!(early.is_empty(), "unexpected replies: {early:?}");
    // SAFETY: a NOP points to nothing; the tag is not the library's.
    let n = unsafe { dev.submit_raw(&[raw_msg(Opcode::NOP, SENTINEL)]) }.expect("the sentinel");
    assert_eq!(n, 1);
    let mut out = [sys::sysmsg_reply::default(); 4];
    let n = dev.reap_raw(&mut out, false).expect("reap the sentinel");
    let got: Vec<Reply> = out[..n].iter().map(Reply::from_raw).collect();
    assert_eq!(n, 1, "replies with the sentinel: {got:?}");
    assert_eq!(
        (got[0].tag(), got[0].opcode(), got[0].raw_result()),
        (SENTINEL, Opcode::NOP, 0),
        "a reply before the sentinel: {got:?}"
    );
    let err = dev
        .reap_raw(&mut out, true)
        .expect_err("a reply after the sentinel");
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
}

/// Reaps, without ever blocking for longer than `timeout` in all, until at least `n` replies
/// came, and returns them (every one that was ready: possibly more than `n`), in completion
/// order. Panics, listing what came, if fewer than `n` came in time: a test that waits for
/// replies fails instead of hanging when the module loses one.
pub fn replies_within(dev: &Sysmsg, n: usize, timeout: Duration) -> Vec<Reply> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    loop {
        got.extend(dev.wait(0).expect("wait(0)"));
        if got.len() >= n {
            return got;
        }
        let now = Instant::now();
        assert!(
            now < deadline,
            "{} of {n} replies after {timeout:?}: {got:?}",
            got.len()
        );
        poll_events(dev.as_raw_fd(), libc::POLLIN, deadline - now);
    }
}

/// Asserts that no reply becomes ready for this `Sysmsg` within `d` (and none is ready now).
pub fn assert_no_reply_within(dev: &Sysmsg, d: Duration) {
    let early = dev.wait(0).expect("wait(0)");
    assert!(early.is_empty(), "unexpected replies: {early:?}");
    let events = poll_events(dev.as_raw_fd(), libc::POLLIN, d);
    assert_eq!(events & libc::POLLIN, 0, "a reply came within {d:?}");
}

/// Runs `child` in a `fork()`ed child process, which exits with the code it returns (0 for
/// success; a panic exits with 101), and returns that exit code.
///
/// The child must not print (another thread of the test harness may hold the output locks) and
/// exits with `_exit`, without running destructors or atexit handlers.
pub fn in_child(child: impl FnOnce() -> i32) -> i32 {
    spawn_child(child).wait()
}

/// A `fork()`ed child process (see [`spawn_child`]).
#[derive(Debug)]
pub struct Child {
    /// Its process id.
    pub pid: libc::pid_t,
}

/// Starts `child` in a `fork()`ed child process, as [`in_child`] does, without waiting for it.
pub fn spawn_child(child: impl FnOnce() -> i32) -> Child {
    // SAFETY: fork() in a multithreaded process: the child only runs `child`, which the callers
    // keep to system calls and allocation (glibc's malloc is fork-safe), then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // A failure is reported by the exit code only: no panic message.
        std::panic::set_hook(Box::new(|_| {}));
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: ends the child at once, as intended.
        unsafe { libc::_exit(code) };
    }
    Child { pid }
}

impl Child {
    /// Waits for the child's end (`WNOHANG` unless `block`): its wait status, if it ended.
    fn reap(&self, block: bool) -> Option<i32> {
        let mut status = 0;
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: waits for our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, flags) };
        assert!(r >= 0, "waitpid: {}", io::Error::last_os_error());
        (r == self.pid).then_some(status)
    }

    /// Waits for the child to exit and returns its exit code.
    pub fn wait(self) -> i32 {
        let status = self.reap(true).expect("waitpid");
        assert!(
            libc::WIFEXITED(status),
            "the child did not exit normally (status {status:#x})"
        );
        libc::WEXITSTATUS(status)
    }

    /// Kills the child (`SIGKILL`) and waits for it.
    pub fn kill(self) {
        // SAFETY: signals our own child, which has not been waited for.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.reap(true);
    }
}

/// A counter in shared memory that a `fork()`ed child bumps and its parent watches.
#[derive(Debug)]
pub struct Progress {
    counter: *mut AtomicU64,
}

// SAFETY: the counter is an atomic in a mapping that lives as long as the `Progress`.
unsafe impl Send for Progress {}
// SAFETY: as above.
unsafe impl Sync for Progress {}

impl Progress {
    /// A counter at 0 in a new shared mapping.
    pub fn new() -> Self {
        let addr = mmap_anon(4096, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED);
        Self {
            counter: addr.cast(),
        }
    }

    /// Adds one.
    pub fn bump(&self) {
        // SAFETY: see the type; zero-filled memory is a valid AtomicU64 at 0.
        unsafe { &*self.counter }.fetch_add(1, Ordering::SeqCst);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        // SAFETY: as in `bump`.
        unsafe { &*self.counter }.load(Ordering::SeqCst)
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer referenced.
        unsafe { libc::munmap(self.counter.cast(), 4096) };
    }
}

/// How a watched child ended (see [`watch_child`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Watched {
    /// It returned: what it said (`Ok` or `Err`, from the closure or a panic message).
    Returned(Result<Vec<u8>, String>),
    /// Its progress counter did not move for the stall time: it was killed.
    Stalled {
        /// The counter when it was killed.
        progress: u64,
        /// Its entry in the module's process list just before, if any.
        stats: Option<sysmsg::ProcStats>,
        /// What it sent before (a panic message, say).
        said: String,
    },
}

/// Runs `child` in a `fork()`ed child that may print nothing but may use threads, and watches it:
/// if `progress` (which the child bumps) does not move for `stall`, the child is killed. What
/// the child returns (any size) or a panic message comes back through a pipe.
pub fn watch_child(
    progress: &Progress,
    stall: Duration,
    child: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Watched {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into the array.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nobody else.
    let (rd, wr) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let wfd = wr.as_raw_fd();
    let send = move |tag: u8, bytes: &[u8]| {
        let mut out = vec![tag];
        out.extend_from_slice(bytes);
        let mut done = 0;
        while done < out.len() {
            // SAFETY: writes from a live buffer to our pipe.
            let n = unsafe { libc::write(wfd, out[done..].as_ptr().cast(), out.len() - done) };
            if n <= 0 {
                break;
            }
            done += n as usize;
        }
    };
    // SAFETY: fork() in a multithreaded process: the child makes system calls, allocates and
    // starts threads of its own, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        drop(rd);
        std::panic::set_hook(Box::new(move |info| {
            send(b'P', info.to_string().as_bytes())
        }));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child));
        let code = match r {
            Ok(Ok(bytes)) => {
                send(b'O', &bytes);
                0
            }
            Ok(Err(msg)) => {
                send(b'E', msg.as_bytes());
                1
            }
            Err(_) => 101,
        };
        // SAFETY: ends the child at once, as intended.
        unsafe { libc::_exit(code) };
    }
    drop(wr);
    let child = Child { pid };
    set_nonblocking(rd.as_raw_fd(), true);
    let mut got = Vec::new();
    let drain = |got: &mut Vec<u8>| {
        let _ = io::Read::read_to_end(&mut &rd, got);
    };
    let (mut last, mut since) = (progress.get(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(20));
        drain(&mut got);
        if let Some(status) = child.reap(false) {
            drain(&mut got);
            let said = match got.split_first() {
                Some((b'O', rest)) => Ok(rest.to_vec()),
                Some((b'E', rest)) => Err(String::from_utf8_lossy(rest).into_owned()),
                Some((b'P', rest)) => Err(format!("panic: {}", String::from_utf8_lossy(rest))),
                _ => Err(format!(
                    "the child ended with status {status:#x}, saying nothing"
                )),
            };
            return Watched::Returned(said);
        }
        let now = progress.get();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= stall {
            let stats = Sysmsg::open().ok().and_then(|sm| {
                sm.proc_stats()
                    .ok()?
                    .into_iter()
                    .find(|s| s.pid == child.pid)
            });
            child.kill();
            drain(&mut got);
            return Watched::Stalled {
                progress: now,
                stats,
                said: String::from_utf8_lossy(&got).into_owned(),
            };
        }
    }
}
