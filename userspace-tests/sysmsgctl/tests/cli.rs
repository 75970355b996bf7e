//! The built `sysmsgctl` against the module (in the test VM, as root): `status` shows this
//! process, `limit` shows and sets its limits, errors name the errno and a hint.

use std::process::{Command, Output};
use sysmsg::{op, Sysmsg};
use sysmsg_tests::{open, serial, sysctl, Sysctls};

fn sysmsgctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sysmsgctl"))
        .args(args)
        .output()
        .expect("run sysmsgctl")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Runs it and expects success; returns standard output.
fn ok(args: &[&str]) -> String {
    let out = sysmsgctl(args);
    assert!(
        out.status.success(),
        "sysmsgctl {args:?}: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs it and expects exit status 1; returns standard error.
fn fails(args: &[&str]) -> String {
    let out = sysmsgctl(args);
    assert_eq!(out.status.code(), Some(1), "sysmsgctl {args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    text(&out.stderr)
}

/// The cells of the row of `pid` in a table whose first column is PID.
fn row(table: &str, pid: u32) -> Option<Vec<String>> {
    table.lines().find_map(|l| {
        let cells: Vec<String> = l.split_whitespace().map(String::from).collect();
        (cells.first()? == &pid.to_string()).then_some(cells)
    })
}

#[test]
fn status_shows_the_sysctls_and_this_process() {
    let _serial = serial();
    let dev = open();
    dev.set_fallback(false);
    dev.submit_one(op::Nop::new()).expect("a NOP");
    dev.submit_one(op::Nop::new()).expect("a NOP");
    let out = ok(&["status"]);
    for name in [
        "max_per_process",
        "max_per_process_hard",
        "per_process_limits",
        "max_total",
        "nr_inflight",
        "low_water",
        "limit_hits",
        "throttle_episodes",
        "max_workers",
        "version",
    ] {
        sysctl(name).expect("the sysctl");
        let line = format!("kernel.sysmsg.{name} = ");
        assert!(out.contains(&line), "no {name} in:\n{out}");
    }
    assert!(out.contains(" using sysmsg: "), "no totals in:\n{out}");
    assert!(out.contains("LIMIT_HITS"), "no table in:\n{out}");
    let cells = row(&out, std::process::id()).unwrap_or_else(|| panic!("no row of mine:\n{out}"));
    let limits = dev.limits(0).expect("GET_LIMITS");
    assert_eq!(cells[1], "2", "in flight: {cells:?}");
    assert_eq!(cells[2], limits.soft.to_string(), "soft: {cells:?}");
    assert_eq!(cells[3], limits.hard.to_string(), "hard: {cells:?}");
    assert_eq!(cells[7], "no", "throttled: {cells:?}");
    while dev.in_flight() > 0 {
        dev.wait(1).expect("wait");
    }
}

#[test]
fn limit_shows_and_sets_like_prlimit() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    let dev = Sysmsg::open().expect("open /dev/sysmsg");
    let me = std::process::id();
    let pid = me.to_string();
    let d = dev.limits(0).expect("GET_LIMITS");
    let out = ok(&["limit", "--pid", &pid]);
    assert_eq!(
        row(&out, me).expect("a row"),
        [
            pid.clone(),
            "INFLIGHT".into(),
            d.soft.to_string(),
            d.hard.to_string()
        ],
        "{out}"
    );
    // Without --pid, its own limits: the defaults.
    let out = ok(&["limit"]);
    let own = out.lines().nth(1).expect("a row");
    let cells: Vec<&str> = own.split_whitespace().collect();
    assert_eq!(
        cells[1..],
        ["INFLIGHT", &d.soft.to_string(), &d.hard.to_string()],
        "{out}"
    );

    sysctls.set("per_process_limits", 0);
    let err = fails(&["limit", "--pid", &pid, "--soft", "7"]);
    assert!(
        err.starts_with("sysmsgctl: set the limits of pid "),
        "{err}"
    );
    assert!(err.contains("EPERM (Operation not permitted)"), "{err}");
    assert!(err.contains("per_process_limits is 0"), "{err}");

    sysctls.set("per_process_limits", 1);
    let out = ok(&["limit", "--pid", &pid, "--soft", "7"]);
    assert_eq!(row(&out, me).expect("a row")[2], "7", "{out}");
    assert_eq!(dev.limits(0).expect("GET_LIMITS").soft, 7, "not set");
    assert_eq!(dev.info().expect("info").queue_limit, 7);
    let out = ok(&["limit", "-p", &pid, "-s", "9", "--hard", "100"]);
    assert_eq!(row(&out, me).expect("a row")[2..], ["9", "100"], "{out}");
    let err = fails(&["limit", "--pid", &pid, "--soft", "101"]);
    assert!(
        err.contains("EINVAL") && err.contains("1..=16777216"),
        "{err}"
    );
    let err = fails(&["limit", "--pid", "2147483647"]);
    assert!(err.contains("ESRCH (No such process)"), "{err}");
    assert!(err.contains("must have /dev/sysmsg open"), "{err}");
    // Usage errors exit with 2 and touch nothing.
    let out = sysmsgctl(&["limit", "--soft", "lots"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // Back to the defaults (raising the hard limit: root may).
    let back = dev
        .set_limits(0, Some(d.soft), Some(d.hard))
        .expect("restore");
    assert_eq!(back, d);
}

#[test]
fn help_works_without_the_device() {
    for args in [&["--help"][..], &["status", "--help"], &["limit", "--help"]] {
        let out = ok(args);
        assert!(out.contains("Usage: sysmsgctl"), "{args:?}: {out}");
    }
    let err = fails(&["--device", "/nonexistent", "status"]);
    assert!(err.contains("ENOENT"), "{err}");
}

/// Runs `sysmsgctl` as an unprivileged user (uid/gid 65534, no groups, no capabilities) through
/// `setpriv`, as an administrator would.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_sysmsgctl"))
        .args(args)
        .output()
        .expect("run setpriv (util-linux)")
}

#[test]
fn an_unprivileged_user_via_setpriv() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let hard = sysctl("max_per_process_hard").expect("max_per_process_hard");

    // It may lower its own hard limit...
    let lower = (hard / 2).to_string();
    let out = as_nobody(&["limit", "--hard", &lower]);
    assert!(out.status.success(), "lowering: {out:?}");
    assert!(text(&out.stdout).contains(&lower), "{out:?}");
    // ...but not raise it above what it started with.
    let higher = (hard + 1).to_string();
    let out = as_nobody(&["limit", "--hard", &higher]);
    assert_eq!(out.status.code(), Some(1), "raising: {out:?}");
    assert!(text(&out.stderr).contains("EPERM"), "{out:?}");

    // It cannot change another user's (root's) process.
    let dev = open();
    let me = std::process::id().to_string();
    let out = as_nobody(&["limit", "--pid", &me, "--soft", "5"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "another user's process: {out:?}"
    );
    assert!(text(&out.stderr).contains("EPERM"), "{out:?}");
    assert_ne!(dev.limits(0).expect("own limits").soft, 5);

    // It cannot write sysctls.
    let before = sysctl("max_total").expect("max_total");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["sh", "-c", "echo 7 > /proc/sys/kernel/sysmsg/max_total"])
        .output()
        .expect("run setpriv");
    assert!(!out.status.success(), "a sysctl write as nobody: {out:?}");
    assert_eq!(sysctl("max_total").expect("max_total"), before);
}
