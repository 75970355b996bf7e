//! The cases of issue 7. Each runs its contenders for every x and repetition and returns one or
//! more [`Case`]s (a plot each); facts the targets need besides the medians go to [`Facts`].

use crate::report::{Case, CaseBuilder};
use std::{path::PathBuf, time::Duration};

pub mod file_read;
pub mod nop;
pub mod pipes;
pub mod round_trip;
pub mod server;
pub mod sleeps;
pub mod worker;

/// What every case needs to know.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Repetitions per point.
    pub reps: usize,
    /// Small counts.
    pub quick: bool,
    /// Where temporary files go.
    pub dir: PathBuf,
    /// The sysmsg device.
    pub device: String,
    /// Whether sysmsg can be measured; the error says why not.
    pub sysmsg: Result<(), String>,
    /// `--sleep-ms`: the shortest sleep of the sleeps case.
    pub sleep_base: Option<Duration>,
    /// The environment, noted in every case.
    pub env_note: String,
}

impl Ctx {
    /// `full` normally, `quick` with `--quick`.
    pub fn count(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// A case builder with the environment as its first note.
    pub fn builder(
        &self,
        case: &str,
        title: &str,
        x_label: &str,
        unit: &str,
        higher: bool,
    ) -> CaseBuilder {
        let mut b = CaseBuilder::new(case, title, x_label, unit, higher);
        b.note(self.env_note.clone());
        b
    }

    /// Opens the sysmsg device, or says why sysmsg is not measured.
    pub fn open_sysmsg(&self) -> Result<sysmsg::Sysmsg, String> {
        self.sysmsg.clone()?;
        crate::sm::open(&self.device)
    }
}

/// Facts for the targets that are not medians.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// Sleeps case, sysmsg, per N: (repetitions in which all N completed with result 0,
    /// repetitions run).
    pub sleeps_complete: Vec<(u64, usize, usize)>,
    /// `kernel.sysmsg.max_workers` when the pending-reads case ran.
    pub max_workers: Option<i64>,
}

/// A group of cases that `--case` selects.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// Its name for `--case`.
    pub name: &'static str,
    /// The cases it produces (their names in the report).
    pub produces: &'static [&'static str],
    /// What it measures.
    pub about: &'static str,
    /// Runs it.
    pub run: fn(&Ctx, &mut Facts) -> Vec<Case>,
    /// Its time limit for the watchdog (seconds per repetition, plus 300): generous, for a
    /// slow (TCG) machine; the watchdog only catches hangs.
    pub secs_per_rep: u64,
}

/// Every group, in the order run.
pub const GROUPS: &[Group] = &[
    Group {
        name: "nop_throughput",
        produces: &["nop_throughput"],
        about: "NOP messages per second at batch 1, 8, 32, 128: sysmsg (four paths, among them submit+reap in one call) vs io_uring NOP (with and without IOSQE_ASYNC)",
        run: nop::run,
        secs_per_rep: 300,
    },
    Group {
        name: "worker_path",
        produces: &["worker_path"],
        about: "operations that execute on a kernel worker, batch 32: sysmsg FSYNC/PREAD (submit then reap, or submit+reap in one call) vs io_uring with IOSQE_ASYNC vs AIO FSYNC",
        run: worker::run,
        secs_per_rep: 300,
    },
    Group {
        name: "round_trip",
        produces: &["round_trip"],
        about: "one message at a time: sysmsg NOP (four paths, among them submit+reap in one call) vs getppid() vs io_uring NOP",
        run: round_trip::run,
        secs_per_rep: 120,
    },
    Group {
        name: "sleeps",
        produces: &["sleeps", "sleeps_memory", "sleeps_kernel_memory", "sleeps_threads"],
        about: "1,000 / 10,000 / 100,000 concurrent sleeps: sysmsg NANOSLEEP vs io_uring TIMEOUT vs a thread per sleep",
        run: sleeps::run,
        secs_per_rep: 400,
    },
    Group {
        name: "pipes",
        produces: &[
            "pipes_pingpong",
            "pipes_pending_threads",
            "pipes_pending_wakeup",
            "pipes_pending_memory",
        ],
        about: "pipe ping-pong latency, and 10,000 pending pipe reads: sysmsg vs io_uring vs plain read/write",
        run: pipes::run,
        secs_per_rep: 400,
    },
    Group {
        name: "file_read",
        produces: &["file_read"],
        about: "4 KiB random preads of a cached file at queue depth 1 and 32: sysmsg vs io_uring vs AIO vs pread()",
        run: file_read::run,
        secs_per_rep: 400,
    },
    Group {
        name: "server",
        produces: &["server", "server_ops"],
        about: "the pipelined server of test_server.c at soft limits 2, 16, 1024, with the crate's fallback",
        run: server::run,
        secs_per_rep: 400,
    },
];

/// The group `--case NAME` means: a group's name or the name of a case it produces.
pub fn find_group(name: &str) -> Option<&'static Group> {
    GROUPS
        .iter()
        .find(|g| g.name == name || g.produces.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        assert_eq!(find_group("sleeps_memory").unwrap().name, "sleeps");
        assert_eq!(find_group("pipes").unwrap().name, "pipes");
        assert!(find_group("nope").is_none());
        let mut all: Vec<&str> = GROUPS
            .iter()
            .flat_map(|g| g.produces.iter().copied())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "case names are unique");
    }

    #[test]
    fn counts() {
        let mut ctx = Ctx {
            reps: 5,
            quick: false,
            dir: "/tmp".into(),
            device: "/nonexistent".into(),
            sysmsg: Err("no".into()),
            sleep_base: None,
            env_note: "env".into(),
        };
        assert_eq!(ctx.count(10, 1), 10);
        ctx.quick = true;
        assert_eq!(ctx.count(10, 1), 1);
        assert_eq!(ctx.open_sysmsg().unwrap_err(), "no");
        let c = ctx.builder("c", "t", "x", "u", true).finish();
        assert_eq!(c.notes, vec!["env".to_string()]);
    }
}
