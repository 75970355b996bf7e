//! `sysmsg-bench`: the benchmark of issue 7. It runs inside the test VM (the module loaded, as
//! root) and compares sysmsg with io_uring, Linux AIO and plain system calls in one run: NOP
//! throughput, the worker path, single-message round trips, concurrent sleeps, pipes, cached
//! file reads and the pipelined server of `test_server.c`.
//!
//! Every case runs each contender several times (`--reps`, default 5) and reports the median,
//! min, max and every sample; `--quick` is a smoke mode (small counts, 1 repetition). The
//! results are printed as a table per case and, with `--out FILE`, written as JSON in the
//! schema of [`report`], from which the host-side scripts plot; the targets are
//! computed from the medians ([`targets`]).
//!
//! Without `/dev/sysmsg` the sysmsg series are listed without points (a note of each case says
//! why) and everything else still runs. Everything the program changes is undone on every path
//! ([`cleanup`]): sysctls restored, temporary files removed, also on `SIGINT`/`SIGTERM` and
//! when a case overruns its time limit.
//!
//! Exit status: 0 when every series was measured; 1 when something could not be (the table
//! and the JSON say what and why: e.g. sysmsg without the module); 2 on a usage error; 3 when
//! a case overran its time limit; 130 on a signal.

use clap::Parser;
use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    path::PathBuf,
    time::Duration,
};

pub mod aio;
pub mod cases;
pub mod cleanup;
pub mod report;
pub mod sm;
pub mod sysinfo;
pub mod uring;
pub mod util;

use cases::{Ctx, Facts, Group, GROUPS};
use report::{Case, Report, Target};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "sysmsg-bench",
    version,
    about = "Benchmark sysmsg against io_uring, Linux AIO and plain system calls (run in the test VM, as root, with the module loaded)",
    after_help = "Cases (--case; default: all, in this order): nop_throughput, worker_path, round_trip, sleeps, pipes, file_read, server (--list describes them).\n\
                  Exit status: 0 every series measured; 1 something could not be measured (see the notes); 2 usage error; 3 a case overran its time limit; 130 interrupted."
)]
pub struct Cli {
    /// Repetitions per point [default: 5, or 1 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub reps: Option<u64>,
    /// Smoke mode: small counts and 1 repetition
    #[arg(long)]
    pub quick: bool,
    /// Run only this case (a name from --list, or a case name of the output); repeatable
    #[arg(long = "case", value_name = "NAME")]
    pub cases: Vec<String>,
    /// Write the results as JSON to FILE
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Directory for the temporary files (the file_read and worker_path files)
    #[arg(long, value_name = "DIR", default_value = "/tmp")]
    pub dir: PathBuf,
    /// The sysmsg device
    #[arg(long, value_name = "PATH", default_value = "/dev/sysmsg")]
    pub device: String,
    /// The shortest sleep of the sleeps case, in milliseconds [default: 1000, or 200 with --quick]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub sleep_ms: Option<u64>,
    /// Time limit of each case, in seconds [default: from the case's size and --reps]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub case_timeout: Option<u64>,
    /// List the cases and exit
    #[arg(long)]
    pub list: bool,
}

/// The groups of cases `--case` selects, in the order they run; an unknown name is an error
/// that lists the known ones.
pub fn select_groups(names: &[String]) -> Result<Vec<&'static Group>, String> {
    if names.is_empty() {
        return Ok(GROUPS.iter().collect());
    }
    let mut wanted = Vec::new();
    for n in names {
        match cases::find_group(n) {
            Some(g) => wanted.push(g.name),
            None => {
                let known: Vec<&str> = GROUPS.iter().map(|g| g.name).collect();
                return Err(format!(
                    "unknown case {n:?}; the cases are: {}",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(GROUPS.iter().filter(|g| wanted.contains(&g.name)).collect())
}

/// The text of `--list`.
pub fn list_text() -> String {
    let mut out = String::new();
    for g in GROUPS {
        out.push_str(&format!(
            "{:<15} {}\n{:<15} output cases: {}\n",
            g.name,
            g.about,
            "",
            g.produces.join(", ")
        ));
    }
    out
}

/// The notes of `case` that say why `series` was not measured.
fn why_missing(case: &Case, series: &str) -> String {
    let prefix = format!("{series}: not measured: ");
    let why: Vec<&str> = case
        .notes
        .iter()
        .filter_map(|n| n.strip_prefix(&prefix))
        .collect();
    if why.is_empty() {
        format!("{series}: no point")
    } else {
        format!("{series} not measured: {}", why.join("; "))
    }
}

/// Which way a goal compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// ratio >= goal.
    AtLeast,
    /// ratio <= goal.
    AtMost,
}

impl Cmp {
    fn text(self, goal: f64) -> String {
        match self {
            Cmp::AtLeast => format!(">= {goal:.1}"),
            Cmp::AtMost => format!("<= {goal:.1}"),
        }
    }

    fn met(self, ratio: f64, goal: f64) -> bool {
        match self {
            Cmp::AtLeast => ratio >= goal,
            Cmp::AtMost => ratio <= goal,
        }
    }
}

/// A target that compares the medians of two series of one case at `x`: the series `num`
/// (sysmsg's figure: its one-call path) over the series `den`. The medians of `others` (sysmsg's
/// other paths) are listed in the detail, measured or not.
pub fn ratio_target(
    report: &Report,
    name: &str,
    (case, x): (&str, u64),
    (num, others, den): (&str, &[&str], &str),
    (cmp, goal): (Cmp, f64),
) -> Option<Target> {
    let c = report.case(case)?;
    let a = c.median(num, x);
    let b = c.median(den, x);
    let mut t = Target {
        name: name.to_string(),
        ratio: None,
        goal: cmp.text(goal),
        met: false,
        detail: String::new(),
    };
    let others: Vec<String> = others
        .iter()
        .filter_map(|&n| {
            c.median(n, x)
                .map(|m| format!("{n} {}", report::format_value(m)))
        })
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!("; the other paths: {}", others.join(", "))
    };
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            t.ratio = Some(r);
            t.met = cmp.met(r, goal);
            t.detail = format!(
                "{num} {} {unit}, {den} {} {unit} (medians, {case}, x = {x}){others}",
                report::format_value(a),
                report::format_value(b),
                unit = c.unit
            );
        }
        _ => {
            let mut why = Vec::new();
            if a.is_none() {
                why.push(why_missing(c, num));
            }
            if b.is_none() {
                why.push(why_missing(c, den));
            }
            if why.is_empty() {
                why.push(format!("{den} is 0"));
            }
            t.detail = why.join("; ") + &others;
        }
    }
    Some(t)
}

/// The targets, for the cases in the report. sysmsg's figure in the NOP, worker-path
/// and round-trip targets is its one-call path (`SYSMSG_SUBMIT_REAP(_WAIT)`: submit and reap in
/// one `SYSMSG_IOC_SUBMIT`, as io_uring's `submit_and_wait` does for its figure); its other
/// paths are listed in the detail.
pub fn targets(report: &Report, facts: &Facts) -> Vec<Target> {
    let mut out = Vec::new();
    out.extend(ratio_target(
        report,
        "NOP batch 32: sysmsg / io_uring",
        ("nop_throughput", 32),
        (
            "sysmsg submit+reap",
            &["sysmsg", "sysmsg bare ioctl", "sysmsg write/read"],
            "io_uring",
        ),
        (Cmp::AtLeast, 1.0),
    ));
    out.extend(ratio_target(
        report,
        "worker path batch 32: sysmsg FSYNC / io_uring FSYNC IOSQE_ASYNC",
        ("worker_path", 32),
        (
            "sysmsg FSYNC submit+reap",
            &["sysmsg FSYNC"],
            "io_uring FSYNC IOSQE_ASYNC",
        ),
        (Cmp::AtLeast, 2.0),
    ));
    out.extend(ratio_target(
        report,
        "worker path batch 32: sysmsg PREAD / io_uring READ IOSQE_ASYNC",
        ("worker_path", 32),
        (
            "sysmsg PREAD submit+reap",
            &["sysmsg PREAD"],
            "io_uring READ IOSQE_ASYNC",
        ),
        (Cmp::AtLeast, 2.0),
    ));
    out.extend(ratio_target(
        report,
        "single NOP round trip: sysmsg / getppid",
        ("round_trip", 0),
        (
            "sysmsg NOP submit+reap",
            &[
                "sysmsg NOP",
                "sysmsg NOP bare ioctl",
                "sysmsg NOP write/read",
            ],
            "getppid",
        ),
        (Cmp::AtMost, 3.0),
    ));
    out.extend(sleeps_target(report, facts));
    out.extend(pending_target(report, facts));
    out
}

/// The largest x of any series of `case`.
fn largest_x(c: &Case) -> Option<u64> {
    c.series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .max()
}

fn sleeps_target(report: &Report, facts: &Facts) -> Option<Target> {
    const SERIES: &str = "sysmsg NANOSLEEP";
    let mem = report.case("sleeps_memory")?;
    let thr = report.case("sleeps_threads")?;
    let n = largest_x(mem)
        .or_else(|| facts.sleeps_complete.iter().map(|c| c.0).max())
        .unwrap_or(0);
    let mut t = Target {
        name: format!(
            "{n} concurrent sleeps: sysmsg slab bytes/message / 256, all complete, no extra kernel threads"
        ),
        ratio: None,
        goal: "<= 1.0 (256 bytes/message), every sleep completes, 0 new tasks".into(),
        met: false,
        detail: String::new(),
    };
    let (Some(bytes), Some(tasks)) = (mem.median(SERIES, n), thr.median(SERIES, n)) else {
        t.detail = why_missing(mem, SERIES);
        return Some(t);
    };
    let (all, reps) = facts
        .sleeps_complete
        .iter()
        .find(|c| c.0 == n)
        .map_or((0, 0), |c| (c.1, c.2));
    let ratio = bytes / 256.0;
    t.ratio = Some(ratio);
    t.met = ratio <= 1.0 && reps > 0 && all == reps && tasks <= 0.0;
    t.detail = format!(
        "median {} slab bytes/message; all {n} sleeps completed in {all} of {reps} repetitions; median new tasks while in flight {tasks}",
        report::format_value(bytes)
    );
    Some(t)
}

fn pending_target(report: &Report, facts: &Facts) -> Option<Target> {
    const SERIES: &str = "sysmsg READ";
    let thr = report.case("pipes_pending_threads")?;
    let p = largest_x(thr).unwrap_or(0);
    let mut t = Target {
        name: format!("{p} pending pipe reads: sysmsg new tasks / kernel.sysmsg.max_workers"),
        ratio: None,
        goal: "<= 1.0".into(),
        met: false,
        detail: String::new(),
    };
    let Some(tasks) = thr.median(SERIES, p) else {
        t.detail = why_missing(thr, SERIES);
        return Some(t);
    };
    let Some(workers) = facts.max_workers.filter(|&w| w > 0) else {
        t.detail = format!("median new tasks {tasks}; kernel.sysmsg.max_workers unknown");
        return Some(t);
    };
    let ratio = tasks / workers as f64;
    t.ratio = Some(ratio);
    t.met = ratio <= 1.0;
    t.detail = format!(
        "median new tasks while pending {tasks} (max over the repetitions {}), max_workers {workers}",
        thr.series(SERIES)
            .and_then(|s| s.points.iter().find(|pt| pt.x == p))
            .map_or(tasks, |pt| pt.max)
    );
    Some(t)
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The report.
    pub report: Report,
    /// Whether something could not be measured.
    pub incomplete: bool,
}

/// Runs the selected cases, printing each case's table as it finishes, the targets at the end,
/// and writing the JSON if asked.
pub fn run(cli: &Cli) -> Result<Outcome, String> {
    let groups = select_groups(&cli.cases)?;
    let reps = cli
        .reps
        .map_or(if cli.quick { 1 } else { 5 }, |r| r as usize);
    let sysmsg = sm::probe(&cli.device);
    match &sysmsg {
        Ok(info) => eprintln!("sysmsg-bench: {} ({info})", cli.device),
        Err(e) => eprintln!(
            "sysmsg-bench: sysmsg is not measured: {e}; the other contenders run, the sysmsg series stay empty"
        ),
    }
    let ctx = Ctx {
        reps,
        quick: cli.quick,
        dir: cli.dir.clone(),
        device: cli.device.clone(),
        sysmsg: sysmsg.map(drop),
        sleep_base: cli.sleep_ms.map(Duration::from_millis),
        env_note: sysinfo::environment_note(),
    };
    let mut report = Report {
        version: report::SCHEMA_VERSION,
        kernel: sysinfo::kernel_release(),
        cpu: sysinfo::cpu_model(),
        cpus: sysinfo::cpus(),
        reps,
        quick: cli.quick,
        date: sysinfo::rfc3339_now(),
        cases: Vec::new(),
        targets: Vec::new(),
    };
    println!(
        "sysmsg-bench: kernel {}, {} CPUs, \"{}\", {} repetition(s){}",
        report.kernel,
        report.cpus,
        report.cpu,
        reps,
        if cli.quick { ", quick" } else { "" }
    );
    let mut facts = Facts::default();
    let mut incomplete = false;
    let watchdog = cleanup::Watchdog::start();
    for g in groups {
        let limit = cli
            .case_timeout
            .unwrap_or(300 + g.secs_per_rep * reps as u64);
        eprintln!("sysmsg-bench: {} (time limit {limit} s)", g.name);
        watchdog.arm(g.name, Duration::from_secs(limit));
        let started = std::time::Instant::now();
        let produced = catch_unwind(AssertUnwindSafe(|| (g.run)(&ctx, &mut facts)));
        watchdog.disarm();
        eprintln!(
            "sysmsg-bench: {} took {:.1} s",
            g.name,
            started.elapsed().as_secs_f64()
        );
        let produced = produced.unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            g.produces
                .iter()
                .map(|name| {
                    let mut b = ctx.builder(name, name, "", "", true);
                    b.note(format!("the case failed: {msg}"));
                    b.finish()
                })
                .collect()
        });
        for c in produced {
            if c.series.is_empty()
                || c.series.iter().any(|s| s.points.is_empty())
                || c.notes.iter().any(|n| n.contains(": not measured: "))
            {
                incomplete = true;
            }
            println!("{}", report::format_case(&c));
            report.cases.push(c);
        }
        cleanup::set_partial(report.to_json(), cli.out.clone());
    }
    report.targets = targets(&report, &facts);
    if !report.targets.is_empty() {
        println!("{}", report::format_targets(&report.targets));
    }
    if let Some(out) = &cli.out {
        std::fs::write(out, report.to_json() + "\n")
            .map_err(|e| format!("writing {}: {e}", out.display()))?;
        eprintln!("sysmsg-bench: results in {}", out.display());
    }
    Ok(Outcome { report, incomplete })
}

#[cfg(test)]
mod tests {
    use super::*;
    use report::CaseBuilder;

    fn report_with(cases: Vec<Case>) -> Report {
        Report {
            version: 1,
            kernel: "k".into(),
            cpu: "c".into(),
            cpus: 2,
            reps: 1,
            quick: true,
            date: "d".into(),
            cases,
            targets: Vec::new(),
        }
    }

    #[test]
    fn case_selection() {
        assert_eq!(select_groups(&[]).unwrap().len(), GROUPS.len());
        let g = select_groups(&["server".into(), "sleeps_memory".into()]).unwrap();
        let names: Vec<&str> = g.iter().map(|g| g.name).collect();
        assert_eq!(names, ["sleeps", "server"], "in the order they run");
        let e = select_groups(&["bogus".into()]).unwrap_err();
        assert!(e.contains("nop_throughput"), "{e}");
        assert!(list_text().contains("pipes_pending_threads"));
    }

    #[test]
    fn command_line() {
        let cli = Cli::try_parse_from([
            "sysmsg-bench",
            "--quick",
            "--case",
            "round_trip",
            "--case",
            "pipes",
            "--out",
            "/tmp/x.json",
            "--reps",
            "3",
        ])
        .unwrap();
        assert!(cli.quick);
        assert_eq!(cli.cases, ["round_trip", "pipes"]);
        assert_eq!(cli.reps, Some(3));
        assert_eq!(cli.device, "/dev/sysmsg");
        assert!(Cli::try_parse_from(["sysmsg-bench", "--reps", "0"]).is_err());
    }

    #[test]
    fn ratio_targets() {
        let mut b = CaseBuilder::new("nop_throughput", "t", "batch size", "ops/s", true);
        b.add("sysmsg submit+reap", 32, 80.0);
        b.add("sysmsg", 32, 90.0);
        b.add("sysmsg write/read", 32, 70.0);
        b.add("io_uring", 32, 100.0);
        let mut rt = CaseBuilder::new("round_trip", "t", "contender", "ns", false);
        rt.add("getppid", 0, 100.0);
        rt.fail("sysmsg NOP submit+reap", 0, "open /dev/sysmsg: not loaded");
        let r = report_with(vec![b.finish(), rt.finish()]);
        let t = targets(&r, &Facts::default());
        assert_eq!(t.len(), 2, "only the cases that ran: {t:?}");
        assert_eq!(t[0].ratio, Some(0.8));
        assert!(!t[0].met);
        assert_eq!(t[0].goal, ">= 1.0");
        assert!(
            t[0].detail
                .starts_with("sysmsg submit+reap 80.00 ops/s, io_uring 100.0 ops/s"),
            "{}",
            t[0].detail
        );
        assert!(
            t[0].detail
                .ends_with("the other paths: sysmsg 90.00, sysmsg write/read 70.00"),
            "{}",
            t[0].detail
        );
        assert_eq!(t[1].ratio, None);
        assert!(!t[1].met);
        assert_eq!(t[1].goal, "<= 3.0");
        assert!(t[1].detail.contains("not loaded"), "{}", t[1].detail);
    }

    /// sysmsg's figure is its one-call path, even when another path is better; the others are
    /// listed, and still listed when the one-call path is missing.
    #[test]
    fn the_submit_reap_path_is_sysmsgs_figure() {
        let mut rt = CaseBuilder::new("round_trip", "t", "contender", "ns", false);
        rt.add("getppid", 0, 200.0);
        rt.add("sysmsg NOP", 0, 500.0);
        rt.add("sysmsg NOP bare ioctl", 0, 400.0);
        rt.add("sysmsg NOP submit+reap", 0, 600.0);
        let t = targets(&report_with(vec![rt.finish()]), &Facts::default());
        assert_eq!(
            t[0].ratio,
            Some(3.0),
            "submit+reap's 600 ns, not the best path"
        );
        assert!(t[0].met);
        assert!(
            t[0].detail.starts_with("sysmsg NOP submit+reap 600.0 ns"),
            "{}",
            t[0].detail
        );
        assert!(
            t[0].detail
                .contains("the other paths: sysmsg NOP 500.0, sysmsg NOP bare ioctl 400.0"),
            "{}",
            t[0].detail
        );

        let mut w = CaseBuilder::new("worker_path", "t", "batch size", "ops/s", true);
        w.add("sysmsg FSYNC", 32, 500.0);
        w.add("io_uring FSYNC IOSQE_ASYNC", 32, 100.0);
        w.fail("sysmsg FSYNC submit+reap", 32, "EINVAL");
        w.add("sysmsg PREAD submit+reap", 32, 300.0);
        w.add("io_uring READ IOSQE_ASYNC", 32, 100.0);
        let t = targets(&report_with(vec![w.finish()]), &Facts::default());
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].ratio, None, "no figure without the one-call path");
        assert!(!t[0].met);
        assert!(
            t[0].detail
                .contains("sysmsg FSYNC submit+reap not measured: EINVAL")
                && t[0].detail.ends_with("the other paths: sysmsg FSYNC 500.0"),
            "{}",
            t[0].detail
        );
        assert_eq!(t[1].ratio, Some(3.0));
        assert!(t[1].met);
    }

    #[test]
    fn sleeps_and_pending_targets() {
        let mut mem = CaseBuilder::new("sleeps_memory", "t", "n", "bytes/message", false);
        let mut thr = CaseBuilder::new("sleeps_threads", "t", "n", "threads", false);
        mem.add("sysmsg NANOSLEEP", 100_000, 200.0);
        thr.add("sysmsg NANOSLEEP", 100_000, 0.0);
        mem.add("io_uring TIMEOUT", 1_000, 300.0);
        let mut pend = CaseBuilder::new("pipes_pending_threads", "t", "n", "threads", false);
        pend.add("sysmsg READ", 10_000, 2.0);
        let r = report_with(vec![mem.finish(), thr.finish(), pend.finish()]);
        let facts = Facts {
            sleeps_complete: vec![(100_000, 5, 5)],
            max_workers: Some(4),
        };
        let t = targets(&r, &facts);
        assert_eq!(t.len(), 2);
        assert!(t[0].name.starts_with("100000 concurrent sleeps"));
        assert_eq!(t[0].ratio, Some(200.0 / 256.0));
        assert!(t[0].met, "{t:?}");
        assert_eq!(t[1].ratio, Some(0.5));
        assert!(t[1].met);
        let facts = Facts {
            sleeps_complete: vec![(100_000, 4, 5)],
            max_workers: None,
        };
        let t = targets(&r, &facts);
        assert!(!t[0].met, "one repetition lost sleeps");
        assert_eq!(t[1].ratio, None);
    }
}
