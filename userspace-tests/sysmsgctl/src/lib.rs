//! `sysmsgctl`: shows sysmsg's sysctls, totals and per-process counters, and shows or sets a
//! process's limits on messages in flight like `prlimit(1)` (README.md).
//!
//! The command line is parsed by [`Cli`] (clap); [`run`] does the work and writes to any output,
//! and the formatting and error messages are plain functions, unit-tested on the host.

use clap::{Args, Parser, Subcommand};
use std::{
    fmt::Write as _,
    io,
    path::{Path, PathBuf},
};
use sysmsg::{Limits, ProcStats, Sysmsg};

/// Where the module's sysctls are.
pub const SYSCTL_DIR: &str = "/proc/sys/kernel/sysmsg";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "sysmsgctl",
    version,
    about = "Show sysmsg's state and limits, or set a process's limits",
    after_help = "Exit status: 0 on success, 1 if an operation failed, 2 on a usage error."
)]
pub struct Cli {
    /// The sysmsg device.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "/dev/sysmsg"
    )]
    pub device: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every sysctl under /proc/sys/kernel/sysmsg/, the totals and a table of the
    /// processes that use sysmsg (SYSMSG_IOC_PROC_STATS)
    Status(StatusArgs),
    /// Print a process's limits on messages in flight; set those given (like prlimit)
    #[command(
        after_help = "Without --soft or --hard, prints the limits. Setting needs \
                      kernel.sysmsg.per_process_limits = 1; anyone may lower a limit, raising the \
                      hard limit needs CAP_SYS_RESOURCE, and another process needs prlimit(2)'s \
                      rights over it. A process's limits last while it has /dev/sysmsg open."
    )]
    Limit(LimitArgs),
}

/// `sysmsgctl status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Read the sysctls from DIR instead
    #[arg(long, value_name = "DIR", default_value = SYSCTL_DIR, hide = true)]
    pub sysctl_dir: PathBuf,
}

/// `sysmsgctl limit`.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// The process (default: sysmsgctl itself, which shows the defaults)
    #[arg(short, long, value_name = "P")]
    pub pid: Option<i32>,
    /// Set the soft limit, the one enforced (1..=16777216, at most the hard limit)
    #[arg(short, long, value_name = "N")]
    pub soft: Option<u64>,
    /// Set the hard limit, the ceiling of the soft limit
    #[arg(long, value_name = "M")]
    pub hard: Option<u64>,
}

/// Runs the command, writing its report to `out`; the error is the message for standard error.
pub fn run(cli: &Cli, out: &mut impl io::Write) -> Result<(), String> {
    let text = match &cli.command {
        Command::Status(args) => status(&cli.device, &args.sysctl_dir)?,
        Command::Limit(args) => limit(&cli.device, args)?,
    };
    out.write_all(text.as_bytes())
        .map_err(|e| format!("writing the output: {e}"))
}

fn open(device: &Path) -> Result<Sysmsg, String> {
    let path = device.to_string_lossy();
    Sysmsg::open_path(&path).map_err(|e| describe(&format!("open {path}"), &e, Op::Open))
}

fn status(device: &Path, sysctl_dir: &Path) -> Result<String, String> {
    let sysctls = read_sysctls(sysctl_dir)
        .map_err(|e| describe(&format!("read {}", sysctl_dir.display()), &e, Op::Sysctls))?;
    let sm = open(device)?;
    let procs = sm
        .proc_stats()
        .map_err(|e| describe("SYSMSG_IOC_PROC_STATS", &e, Op::Stats))?;
    Ok(format!(
        "{}\n{}\n{}",
        format_sysctls(&sysctls),
        format_totals(&procs),
        format_table(&procs)
    ))
}

fn limit(device: &Path, args: &LimitArgs) -> Result<String, String> {
    let sm = open(device)?;
    let pid = args.pid.unwrap_or(0);
    let shown = if pid == 0 {
        i32::try_from(std::process::id()).unwrap_or(0)
    } else {
        pid
    };
    let limits = if args.soft.is_some() || args.hard.is_some() {
        sm.set_limits(pid, args.soft, args.hard).map_err(|e| {
            let ppl = read_sysctl(Path::new(SYSCTL_DIR), "per_process_limits");
            describe(
                &format!("set the limits of pid {shown}"),
                &e,
                Op::SetLimits(ppl),
            )
        })?
    } else {
        sm.limits(pid)
            .map_err(|e| describe(&format!("get the limits of pid {shown}"), &e, Op::GetLimits))?
    };
    Ok(format_limits(shown, limits))
}

/// Every file under `dir` (name, trimmed content), sorted by name; an unreadable one has its
/// error as its value.
pub fn read_sysctls(dir: &Path) -> io::Result<Vec<(String, String)>> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let value = match std::fs::read_to_string(entry.path()) {
            Ok(v) => v.trim().to_string(),
            Err(e) => format!("({})", errno_text(&e)),
        };
        all.push((name, value));
    }
    all.sort();
    Ok(all)
}

/// One sysctl as an integer, if it can be read.
pub fn read_sysctl(dir: &Path, name: &str) -> Option<i64> {
    std::fs::read_to_string(dir.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `kernel.sysmsg.NAME = VALUE` lines, as `sysctl kernel.sysmsg` prints them.
pub fn format_sysctls(sysctls: &[(String, String)]) -> String {
    let mut s = String::new();
    for (name, value) in sysctls {
        let _ = writeln!(s, "kernel.sysmsg.{name} = {value}");
    }
    s
}

/// The sums over the processes listed.
pub fn format_totals(procs: &[ProcStats]) -> String {
    let sum = |f: fn(&ProcStats) -> u64| procs.iter().map(f).sum::<u64>();
    format!(
        "{} process{} using sysmsg: {} in flight, {} throttled, {} limit hits, {} throttle \
         episodes, {} submitted\n",
        procs.len(),
        if procs.len() == 1 { "" } else { "es" },
        sum(|p| p.inflight),
        procs.iter().filter(|p| p.throttled).count(),
        sum(|p| p.limit_hits),
        sum(|p| p.throttle_episodes),
        sum(|p| p.submitted),
    )
}

/// The header of the per-process table.
pub const TABLE_HEADER: [&str; 9] = [
    "PID",
    "INFLIGHT",
    "SOFT",
    "HARD",
    "PEAK",
    "LIMIT_HITS",
    "THROTTLES",
    "THROTTLED",
    "SUBMITTED",
];

/// The per-process table: one row per process, columns right-aligned.
pub fn format_table(procs: &[ProcStats]) -> String {
    let rows: Vec<[String; 9]> = procs
        .iter()
        .map(|p| {
            [
                p.pid.to_string(),
                p.inflight.to_string(),
                p.soft.to_string(),
                p.hard.to_string(),
                p.peak_inflight.to_string(),
                p.limit_hits.to_string(),
                p.throttle_episodes.to_string(),
                if p.throttled { "yes" } else { "no" }.to_string(),
                p.submitted.to_string(),
            ]
        })
        .collect();
    let header = TABLE_HEADER.map(String::from);
    format_columns(std::iter::once(&header).chain(&rows))
}

fn format_columns<'a, const N: usize>(
    rows: impl Iterator<Item = &'a [String; N]> + Clone,
) -> String {
    let mut widths = [0; N];
    for row in rows.clone() {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut s = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        let _ = writeln!(s, "{}", cells.join("  "));
    }
    s
}

/// A process's limits, as a small table like `prlimit(1)`'s.
pub fn format_limits(pid: i32, l: Limits) -> String {
    let header = ["PID", "RESOURCE", "SOFT", "HARD"].map(String::from);
    let row = [
        pid.to_string(),
        "INFLIGHT".to_string(),
        l.soft.to_string(),
        l.hard.to_string(),
    ];
    format_columns([&header, &row].into_iter())
}

/// What failed, for the hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Opening the device.
    Open,
    /// Reading the sysctls.
    Sysctls,
    /// `SYSMSG_IOC_PROC_STATS`.
    Stats,
    /// `SYSMSG_IOC_GET_LIMITS`.
    GetLimits,
    /// `SYSMSG_IOC_SET_LIMITS`, with `kernel.sysmsg.per_process_limits` if it could be read.
    SetLimits(Option<i64>),
}

/// The symbolic name of an errno (`"EPERM"`), for the ones sysmsg and these calls return.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc_consts::EPERM => "EPERM",
        libc_consts::ENOENT => "ENOENT",
        libc_consts::ESRCH => "ESRCH",
        libc_consts::EINTR => "EINTR",
        libc_consts::EIO => "EIO",
        libc_consts::ENXIO => "ENXIO",
        libc_consts::EBADF => "EBADF",
        libc_consts::EAGAIN => "EAGAIN",
        libc_consts::ENOMEM => "ENOMEM",
        libc_consts::EACCES => "EACCES",
        libc_consts::EFAULT => "EFAULT",
        libc_consts::EBUSY => "EBUSY",
        libc_consts::ENODEV => "ENODEV",
        libc_consts::ENOTDIR => "ENOTDIR",
        libc_consts::EINVAL => "EINVAL",
        libc_consts::ENOTTY => "ENOTTY",
        libc_consts::EROFS => "EROFS",
        _ => return None,
    })
}

/// Linux's errno numbers (the same on every architecture for these).
mod libc_consts {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EINTR: i32 = 4;
    pub const EIO: i32 = 5;
    pub const ENXIO: i32 = 6;
    pub const EBADF: i32 = 9;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const ENODEV: i32 = 19;
    pub const ENOTDIR: i32 = 20;
    pub const EINVAL: i32 = 22;
    pub const ENOTTY: i32 = 25;
    pub const EROFS: i32 = 30;
}

/// What to try, for an error of `op`.
pub fn hint(op: Op, errno: i32) -> Option<&'static str> {
    use libc_consts::*;
    Some(match (op, errno) {
        (Op::Open, ENOENT | ENXIO | ENODEV) => "is the sysmsg module loaded? (insmod sysmsg.ko)",
        (Op::Open, EACCES | EPERM) => "no permission to open the device",
        (Op::Sysctls, ENOENT) => "is the sysmsg module loaded? (insmod sysmsg.ko)",
        (Op::Stats | Op::GetLimits | Op::SetLimits(_), ENOTTY) => {
            "not a sysmsg device, or a module without limits (SYSMSG_FEATURE_LIMITS)"
        }
        (Op::GetLimits | Op::SetLimits(_), ESRCH) => {
            "no process with that pid uses sysmsg (it must have /dev/sysmsg open)"
        }
        (Op::GetLimits, EPERM) => {
            "no prlimit(2) rights over that process: another user's needs CAP_SYS_RESOURCE"
        }
        (Op::SetLimits(Some(0)), EPERM) => {
            "kernel.sysmsg.per_process_limits is 0: as root, `sysctl kernel.sysmsg.per_process_limits=1`"
        }
        (Op::SetLimits(Some(_)), EPERM) => {
            "raising the hard limit needs CAP_SYS_RESOURCE, and another user's process prlimit(2) \
             rights"
        }
        (Op::SetLimits(None), EPERM) => {
            "per_process_limits is 0, or raising the hard limit needs CAP_SYS_RESOURCE, or no \
             prlimit(2) rights over that process"
        }
        (Op::SetLimits(_), EINVAL) => {
            "a limit is 1..=16777216, and the soft limit may not end above the hard one"
        }
        _ => return None,
    })
}

/// `EPERM (Operation not permitted)`, or the error as it displays without an errno.
pub fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let text = io::Error::from_raw_os_error(n).to_string();
            // std says "Operation not permitted (os error 1)".
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            match errno_name(n) {
                Some(name) => format!("{name} ({text})"),
                None => format!("errno {n} ({text})"),
            }
        }
        None => e.to_string(),
    }
}

/// The message for an error: what failed, the errno's name and text, and a hint.
pub fn describe(what: &str, e: &io::Error, op: Op) -> String {
    let mut s = format!("{what}: {}", errno_text(e));
    if let Some(h) = e.raw_os_error().and_then(|n| hint(op, n)) {
        s.push_str(": ");
        s.push_str(h);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sysmsgctl").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parsing() {
        let cli = parse(&["limit", "--pid", "42", "--soft", "8"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/dev/sysmsg"));
        let Command::Limit(a) = cli.command else {
            panic!("not limit")
        };
        assert_eq!((a.pid, a.soft, a.hard), (Some(42), Some(8), None));
        let cli = parse(&["limit", "-p", "7", "-s", "1", "--hard", "2"]).unwrap();
        let Command::Limit(a) = cli.command else {
            panic!("not limit")
        };
        assert_eq!((a.pid, a.soft, a.hard), (Some(7), Some(1), Some(2)));
        let cli = parse(&["status", "--device", "/tmp/x"]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/tmp/x"));
        let Command::Status(s) = cli.command else {
            panic!("not status")
        };
        assert_eq!(s.sysctl_dir, PathBuf::from(SYSCTL_DIR));
        for bad in [
            &["limit", "--soft", "x"][..],
            &["limit", "--soft", "-1"],
            &["limit", "--bogus"],
            &["frobnicate"],
            &[],
        ] {
            let e = parse(bad).expect_err(&format!("{bad:?} parsed"));
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn help_for_each_command() {
        for (args, words) in [
            (
                &["--help"][..],
                &["status", "limit", "--device", "Exit status"][..],
            ),
            (&["status", "--help"], &["PROC_STATS", "--device"]),
            (
                &["limit", "--help"],
                &[
                    "--pid <P>",
                    "--soft <N>",
                    "--hard <M>",
                    "per_process_limits",
                ],
            ),
        ] {
            let e = parse(args).expect_err("help is an early exit");
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
            assert_eq!(e.exit_code(), 0);
            let text = e.to_string();
            for w in words {
                assert!(text.contains(w), "{args:?}: no {w:?} in\n{text}");
            }
            assert!(
                !text.contains("sysctl-dir"),
                "a hidden option shows:\n{text}"
            );
        }
    }

    fn proc(pid: i32, inflight: u64, throttled: bool) -> ProcStats {
        ProcStats {
            pid,
            throttled,
            inflight,
            soft: 2,
            hard: 131072,
            peak_inflight: 2,
            limit_hits: 5,
            throttle_episodes: 1,
            submitted: 100,
        }
    }

    #[test]
    fn the_table_and_the_totals() {
        let procs = [proc(7, 2, true), proc(123456, 0, false)];
        let t = format_table(&procs);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "   PID  INFLIGHT  SOFT    HARD  PEAK  LIMIT_HITS  THROTTLES  THROTTLED  SUBMITTED"
        );
        assert_eq!(
            lines[1],
            "     7         2     2  131072     2           5          1        yes        100"
        );
        assert!(lines[2].starts_with("123456         0"));
        assert!(lines.iter().all(|l| l.len() == lines[0].len()));
        assert_eq!(
            format_totals(&procs),
            "2 processes using sysmsg: 2 in flight, 1 throttled, 10 limit hits, 2 throttle \
             episodes, 200 submitted\n"
        );
        assert!(format_totals(&procs[..1]).starts_with("1 process using"));
        assert_eq!(format_table(&[]).lines().count(), 1, "the header alone");
    }

    #[test]
    fn limits_like_prlimit() {
        let l = Limits {
            soft: 16384,
            hard: 131072,
        };
        assert_eq!(
            format_limits(42, l),
            "PID  RESOURCE   SOFT    HARD\n 42  INFLIGHT  16384  131072\n"
        );
    }

    #[test]
    fn sysctls_from_a_directory() {
        let dir = std::env::temp_dir().join(format!("sysmsgctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("max_total"), "1048576\n").unwrap();
        std::fs::write(dir.join("low_water"), "50\n").unwrap();
        let all = read_sysctls(&dir).unwrap();
        assert_eq!(
            all,
            [
                ("low_water".to_string(), "50".to_string()),
                ("max_total".to_string(), "1048576".to_string())
            ]
        );
        assert_eq!(
            format_sysctls(&all),
            "kernel.sysmsg.low_water = 50\nkernel.sysmsg.max_total = 1048576\n"
        );
        assert_eq!(read_sysctl(&dir, "low_water"), Some(50));
        assert_eq!(read_sysctl(&dir, "nothing"), None);
        std::fs::remove_dir_all(&dir).unwrap();
        let e = read_sysctls(&dir).unwrap_err();
        assert_eq!(
            describe("read x", &e, Op::Sysctls),
            "read x: ENOENT (No such file or directory): is the sysmsg module loaded? (insmod \
             sysmsg.ko)"
        );
    }

    #[test]
    fn errors_name_the_errno_and_hint() {
        let e = io::Error::from_raw_os_error(libc_consts::EPERM);
        assert_eq!(
            describe("set the limits of pid 9", &e, Op::SetLimits(Some(0))),
            "set the limits of pid 9: EPERM (Operation not permitted): kernel.sysmsg.\
             per_process_limits is 0: as root, `sysctl kernel.sysmsg.per_process_limits=1`"
        );
        let generic = describe("x", &e, Op::SetLimits(None));
        assert!(generic
            .contains("per_process_limits is 0, or raising the hard limit needs CAP_SYS_RESOURCE"));
        assert!(describe("x", &e, Op::SetLimits(Some(1))).contains("CAP_SYS_RESOURCE"));
        let esrch = io::Error::from_raw_os_error(libc_consts::ESRCH);
        assert!(describe("x", &esrch, Op::GetLimits)
            .starts_with("x: ESRCH (No such process): no process"));
        let enotty = io::Error::from_raw_os_error(libc_consts::ENOTTY);
        assert!(describe("x", &enotty, Op::Stats).contains("SYSMSG_FEATURE_LIMITS"));
        let enoent = io::Error::from_raw_os_error(libc_consts::ENOENT);
        assert!(describe("open", &enoent, Op::Open).ends_with("(insmod sysmsg.ko)"));
        // No hint, no name.
        let e = io::Error::from_raw_os_error(libc_consts::EBUSY);
        assert_eq!(
            describe("x", &e, Op::GetLimits),
            "x: EBUSY (Device or resource busy)"
        );
        let e = io::Error::from_raw_os_error(200);
        assert!(describe("x", &e, Op::Open).starts_with("x: errno 200 ("));
        let e = io::Error::other("plain");
        assert_eq!(describe("x", &e, Op::Open), "x: plain");
    }

    /// Without the module: the device is not sysmsg (or absent), and the errors say so.
    #[test]
    fn run_against_a_device_that_is_not_sysmsg() {
        let mut out = Vec::new();
        let cli = parse(&["--device", "/dev/null", "limit"]).unwrap();
        let e = run(&cli, &mut out).unwrap_err();
        assert!(e.starts_with("get the limits of pid "), "{e}");
        assert!(
            e.contains(": ENOTTY (Inappropriate ioctl for device): not a sysmsg"),
            "{e}"
        );
        let cli = parse(&["--device", "/nonexistent/sysmsg", "limit", "--soft", "3"]).unwrap();
        let e = run(&cli, &mut out).unwrap_err();
        assert!(e.starts_with("open /nonexistent/sysmsg: ENOENT"), "{e}");
        let cli = parse(&["--device", "/dev/null", "status", "--sysctl-dir", "/"]).unwrap();
        let e = run(&cli, &mut out).unwrap_err();
        assert!(e.starts_with("SYSMSG_IOC_PROC_STATS: ENOTTY"), "{e}");
        assert!(out.is_empty());
    }
}
