//! What the machine is, and the `/proc` counters the cases sample: kernel memory, kernel
//! threads, this process's threads, sysctls, limits. Each reader says exactly what it counts.

use std::{
    fs, io,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

/// `PF_KTHREAD` (include/linux/sched.h): the task is a kernel thread.
pub const PF_KTHREAD: u64 = 0x0020_0000;
/// `PF_IO_WORKER` (include/linux/sched.h): the task is an io_uring worker (io-wq) or SQPOLL
/// thread; such tasks are threads of the process that uses the ring, not kernel threads.
pub const PF_IO_WORKER: u64 = 0x0000_0010;

/// The kernel release (`uname -r`), from `/proc/sys/kernel/osrelease`.
pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// The value of the first line `key<spaces>: value` of `/proc/cpuinfo`-style text.
pub fn cpuinfo_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The CPU's model name (`/proc/cpuinfo`, first "model name"; under QEMU TCG with `-cpu max`
/// this names QEMU's model, under KVM usually the host's CPU).
pub fn cpu_model() -> String {
    let text = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo_field(&text, "model name")
        .or_else(|| cpuinfo_field(&text, "cpu model"))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Whether `/proc/cpuinfo`'s flags include `hypervisor` (a guest; set under KVM and TCG alike).
pub fn hypervisor_flag() -> bool {
    let text = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo_field(&text, "flags").is_some_and(|f| f.split_whitespace().any(|w| w == "hypervisor"))
}

/// Online CPUs.
pub fn cpus() -> usize {
    // SAFETY: sysconf takes an integer and returns one.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// A sysmsg sysctl (`/proc/sys/kernel/sysmsg/NAME`), if the module is loaded.
pub fn sysmsg_sysctl(name: &str) -> Option<i64> {
    fs::read_to_string(format!("/proc/sys/kernel/sysmsg/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Kernel memory counters, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meminfo {
    /// Every slab page (kmalloc and the kmem caches: sysmsg's messages, io_uring's requests,
    /// task structs, ...): from `/proc/slabinfo` where it can be read (root; exact page counts,
    /// see [`parse_slabinfo`]), else `SReclaimable + SUnreclaim` of `/proc/meminfo` (which lags
    /// behind by the per-CPU vmstat deltas, up to about 0.5 MiB per CPU).
    pub slab: u64,
    /// `KernelStack` of `/proc/meminfo`: the kernel stacks of all tasks (one per thread).
    pub kernel_stack: u64,
    /// `PageTables` of `/proc/meminfo`: page tables (a thread's stack mapping adds some).
    pub page_tables: u64,
}

impl Meminfo {
    /// Slab + kernel stacks + page tables: the kernel memory a thread costs besides its slab
    /// objects.
    pub fn kernel_total(&self) -> u64 {
        self.slab + self.kernel_stack + self.page_tables
    }
}

/// Parses `/proc/meminfo` text (values in kB); `slab` is `SReclaimable + SUnreclaim`.
pub fn parse_meminfo(text: &str) -> Meminfo {
    let kb = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                let rest = l.strip_prefix(key)?.strip_prefix(':')?;
                rest.split_whitespace().next()?.parse::<u64>().ok()
            })
            .unwrap_or(0)
            * 1024
    };
    Meminfo {
        slab: kb("SReclaimable") + kb("SUnreclaim"),
        kernel_stack: kb("KernelStack"),
        page_tables: kb("PageTables"),
    }
}

/// The bytes of every slab in `/proc/slabinfo` text (version 2.1): the sum over the caches of
/// `num_slabs × pagesperslab × page_size`. SLUB keeps `num_slabs` in atomic per-node counters,
/// so unlike `/proc/meminfo` it does not lag. `None` if the text has no cache line (a kernel
/// without `CONFIG_SLUB_DEBUG` lists none).
pub fn parse_slabinfo(text: &str, page_size: u64) -> Option<u64> {
    let mut total = 0u64;
    let mut caches = 0;
    for line in text.lines() {
        if line.starts_with("slabinfo") || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        // name active num objsize objperslab pagesperslab : tunables l b s : slabdata active
        // num sharedavail
        if f.len() < 16 || f[6] != ":" || f[12] != "slabdata" {
            continue;
        }
        let (Ok(pages), Ok(slabs)) = (f[5].parse::<u64>(), f[14].parse::<u64>()) else {
            continue;
        };
        total += slabs * pages * page_size;
        caches += 1;
    }
    (caches > 0).then_some(total)
}

/// The page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf takes an integer and returns one.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).unwrap_or(4096)
}

/// The slab bytes from `/proc/slabinfo`, if it can be read.
pub fn slabinfo_bytes() -> Option<u64> {
    parse_slabinfo(&fs::read_to_string("/proc/slabinfo").ok()?, page_size())
}

/// `vm.stat_refresh`: writing it (root) folds every CPU's pending vmstat deltas into the
/// totals that `/proc/meminfo` shows.
const STAT_REFRESH: &str = "/proc/sys/vm/stat_refresh";

/// Where [`meminfo`] takes the slab total from, for the notes.
pub fn slab_source() -> &'static str {
    if slabinfo_bytes().is_some() {
        "/proc/slabinfo (sum of num_slabs x pagesperslab x page size)"
    } else if fs::write(STAT_REFRESH, "1").is_ok() {
        "/proc/meminfo SReclaimable + SUnreclaim (no /proc/slabinfo in this kernel), with vm.stat_refresh written before each read so that no per-CPU delta is pending"
    } else {
        "/proc/meminfo SReclaimable + SUnreclaim (no /proc/slabinfo, vm.stat_refresh not writable: the totals may lag by the per-CPU vmstat deltas, up to about 0.5 MiB per CPU)"
    }
}

/// Reads the counters: `/proc/meminfo`, and the slab total from `/proc/slabinfo` if readable
/// (else `/proc/meminfo`'s, after folding the per-CPU deltas with `vm.stat_refresh` where
/// allowed).
pub fn meminfo() -> io::Result<Meminfo> {
    let slab = slabinfo_bytes();
    if slab.is_none() {
        let _ = fs::write(STAT_REFRESH, "1");
    }
    let mut m = parse_meminfo(&fs::read_to_string("/proc/meminfo")?);
    if let Some(slab) = slab {
        m.slab = slab;
    }
    Ok(m)
}

/// The fields of `/proc/PID/stat` this program uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 1, the pid.
    pub pid: i64,
    /// Field 4, the parent's pid.
    pub ppid: i64,
    /// Field 9, the task's `PF_*` flags.
    pub flags: u64,
}

/// Parses `/proc/PID/stat` (the command, field 2, may hold spaces and parentheses: the fields
/// after it start after its last `)`).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let pid = text.split_whitespace().next()?.parse().ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest: state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9) ...
    Some(Stat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        flags: f.get(6)?.parse().ok()?,
    })
}

/// Whether a task is a kernel thread: `PF_KTHREAD` in its flags, or kthreadd (pid 2) or one
/// of its children (ppid 2), which is every kernel thread.
pub fn is_kernel_thread(s: &Stat) -> bool {
    s.flags & PF_KTHREAD != 0 || s.pid == 2 || s.ppid == 2
}

/// How many kernel threads exist now: every numeric entry of `/proc` whose `stat` says
/// [`is_kernel_thread`]. Each kernel thread is a thread group of its own, so `/proc`'s top level
/// lists all of them: kworkers (on which sysmsg's workqueue and Linux AIO's fsync run),
/// ksoftirqd, rcu threads, ... Entries that vanish while being read are skipped.
pub fn kernel_threads() -> io::Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(text) = fs::read_to_string(entry.path().join("stat")) {
            if parse_stat(&text).is_some_and(|s| is_kernel_thread(&s)) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// How many threads this process has (`Threads:` of `/proc/self/status`): every thread,
/// io_uring's workers included.
pub fn own_threads() -> io::Result<usize> {
    let text = fs::read_to_string("/proc/self/status")?;
    text.lines()
        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Threads: in status"))
}

/// How many of this process's threads (`/proc/self/task/*/stat`) have `PF_IO_WORKER`: io_uring's
/// io-wq workers (`iou-wrk-*`) and SQPOLL threads.
pub fn own_io_workers() -> io::Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir("/proc/self/task")? {
        let Ok(entry) = entry else { continue };
        if let Ok(text) = fs::read_to_string(entry.path().join("stat")) {
            if parse_stat(&text).is_some_and(|s| s.flags & PF_IO_WORKER != 0) {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// A sample of the counters a case compares before and during a measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// `/proc/meminfo`.
    pub mem: Meminfo,
    /// [`kernel_threads`].
    pub kthreads: usize,
    /// [`own_threads`].
    pub threads: usize,
    /// [`own_io_workers`], if asked for (it reads every thread's `stat`).
    pub io_workers: usize,
}

impl Sample {
    /// Samples now (zeros for what cannot be read); counts io_uring workers if `io_workers`.
    pub fn now(io_workers: bool) -> Self {
        // The tasks first: folding the vmstat deltas (in `meminfo`) runs work on every CPU.
        let kthreads = kernel_threads().unwrap_or(0);
        let threads = own_threads().unwrap_or(0);
        let io_workers = if io_workers {
            own_io_workers().unwrap_or(0)
        } else {
            0
        };
        Self {
            mem: meminfo().unwrap_or_default(),
            kthreads,
            threads,
            io_workers,
        }
    }

    /// Tasks that exist now and did not at `before`: new kernel threads plus new threads of this
    /// process (io_uring workers, threads it spawned). Negative if some exited meanwhile.
    pub fn new_tasks_since(&self, before: &Sample) -> i64 {
        (self.kthreads as i64 - before.kthreads as i64)
            + (self.threads as i64 - before.threads as i64)
    }

    /// Slab bytes added since `before`, per `n` (negative if the slab shrank).
    pub fn slab_per(&self, before: &Sample, n: usize) -> f64 {
        (self.mem.slab as f64 - before.mem.slab as f64) / n.max(1) as f64
    }

    /// Slab + kernel stack + page-table bytes added since `before`, per `n`.
    pub fn kernel_mem_per(&self, before: &Sample, n: usize) -> f64 {
        (self.mem.kernel_total() as f64 - before.mem.kernel_total() as f64) / n.max(1) as f64
    }
}

/// The file system type of `path` (from `statfs`), by name for the common ones.
pub fn fs_type(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return "unknown".into();
    };
    // SAFETY: statfs is plain old data; all zeroes is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid statfs to fill.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "unknown".into();
    }
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as u64;
    match magic {
        0x0102_1994 => "tmpfs".into(),
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x0102_1997 => "9p".into(),
        m => format!("fs magic {m:#x}"),
    }
}

/// Raises `RLIMIT_NOFILE` so that at least `need` descriptors may be open: the soft limit to the
/// hard one, and the hard one too if that is not enough (root: `CAP_SYS_RESOURCE`, up to
/// `fs.nr_open`). Returns the soft limit in force.
pub fn raise_nofile(need: u64) -> Result<u64, String> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(format!("getrlimit(NOFILE): {}", io::Error::last_os_error()));
    }
    #[allow(clippy::unnecessary_cast)]
    let (cur, max) = (rl.rlim_cur as u64, rl.rlim_max as u64);
    if cur >= need {
        return Ok(cur);
    }
    let new_max = max.max(need);
    let want = libc::rlimit {
        rlim_cur: new_max as libc::rlim_t,
        rlim_max: new_max as libc::rlim_t,
    };
    // SAFETY: setrlimit reads a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
        return Ok(new_max);
    }
    let err = io::Error::last_os_error();
    // Not allowed to raise the hard limit: at least the soft one up to it.
    let soft = libc::rlimit {
        rlim_cur: max as libc::rlim_t,
        rlim_max: max as libc::rlim_t,
    };
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) };
    Err(format!(
        "RLIMIT_NOFILE is {cur} (hard {max}), {need} needed, and raising it failed: {err}"
    ))
}

/// The soft `RLIMIT_NOFILE` now.
pub fn nofile_limit() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 1024;
    }
    #[allow(clippy::unnecessary_cast)]
    let cur = rl.rlim_cur as u64;
    cur
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Seconds since the epoch as RFC 3339 in UTC (`2026-11-25T15:59:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Now, as [`rfc3339`].
pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// The environment every case records in its notes.
pub fn environment_note() -> String {
    let workers =
        sysmsg_sysctl("max_workers").map_or("n/a (module not loaded)".into(), |v| v.to_string());
    format!(
        "environment: kernel {}, {} CPUs, cpu \"{}\", hypervisor flag {}, kernel.sysmsg.max_workers {}",
        kernel_release(),
        cpus(),
        cpu_model(),
        if hypervisor_flag() { "set (a VM: KVM or TCG)" } else { "not set" },
        workers
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_parsing() {
        let text = "MemTotal:       24000000 kB\nSlab:             402896 kB\n\
                    SReclaimable:     367764 kB\nSUnreclaim:        35132 kB\n\
                    KernelStack:       10000 kB\nPageTables:         2000 kB\n";
        let m = parse_meminfo(text);
        assert_eq!(m.slab, (367_764 + 35_132) * 1024);
        assert_eq!(m.kernel_stack, 10_000 * 1024);
        assert_eq!(m.kernel_total(), (402_896 + 12_000) * 1024);
        assert_eq!(parse_meminfo(""), Meminfo::default());
        assert!(meminfo().unwrap().slab > 0, "this machine's /proc/meminfo");
        assert!(!slab_source().is_empty());
    }

    #[test]
    fn slabinfo_parsing() {
        let text = "slabinfo - version: 2.1\n\
            # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n\
            bio-312               12     12    320   12    1 : tunables    0    0    0 : slabdata      1      1      0\n\
            kmalloc-256         1000   1024    256   32    2 : tunables    0    0    0 : slabdata     32     32      0\n";
        assert_eq!(parse_slabinfo(text, 4096), Some((1 + 32 * 2) * 4096));
        assert_eq!(parse_slabinfo("slabinfo - version: 2.1\n", 4096), None);
        assert_eq!(page_size() % 4096, 0);
    }

    #[test]
    fn stat_parsing() {
        let s = parse_stat("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0").unwrap();
        assert_eq!((s.pid, s.ppid, s.flags), (2, 0, 2_129_984));
        assert!(is_kernel_thread(&s));
        let s = parse_stat("77 (kworker/u8:1-events (x)) I 2 0 0 0 -1 69238880 0").unwrap();
        assert_eq!((s.pid, s.ppid), (77, 2));
        assert!(is_kernel_thread(&s));
        let s = parse_stat("500 (iou-wrk-499) S 1 499 499 0 -1 4194320 0").unwrap();
        assert!(!is_kernel_thread(&s));
        assert_ne!(s.flags & PF_IO_WORKER, 0);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn proc_counters_on_this_machine() {
        assert!(kernel_threads().unwrap() >= 1, "kthreadd at least");
        let before = Sample::now(true);
        assert!(before.threads >= 1);
        assert_eq!(before.io_workers, 0);
        assert!(before.mem.slab > 0);
        assert_eq!(before.new_tasks_since(&before), 0);
        let t = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(300)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        let during = Sample::now(false);
        t.join().unwrap();
        // Other tests run in threads of this process too: at least ours is new.
        assert!(during.threads > before.threads || during.threads >= 2);
        let mut more = before;
        more.mem.slab += 1000;
        assert_eq!(more.slab_per(&before, 10), 100.0);
        assert_eq!(more.kernel_mem_per(&before, 10), 100.0);
    }

    #[test]
    fn cpuinfo() {
        let text =
            "processor\t: 0\nmodel name\t: QEMU TCG CPU version 2.5+\nflags\t\t: fpu hypervisor\n";
        assert_eq!(
            cpuinfo_field(text, "model name").as_deref(),
            Some("QEMU TCG CPU version 2.5+")
        );
        assert_eq!(cpuinfo_field(text, "nope"), None);
        assert!(!cpu_model().is_empty());
        assert!(cpus() >= 1);
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_622_340), "2026-11-25T15:59:00Z");
        assert_eq!(rfc3339_now().len(), 20);
    }

    #[test]
    fn file_systems() {
        assert_ne!(fs_type(Path::new("/")), "");
        assert_eq!(fs_type(Path::new("/nonexistent/x")), "unknown");
    }
}
