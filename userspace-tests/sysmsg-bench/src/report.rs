//! The results: the JSON schema that the host-side plots read (`--out`), the statistics of a
//! point (median, min, max, every sample), and the table printed on standard output.
//!
//! The schema, version 1 (field order as serialized):
//!
//! ```text
//! { "version": 1, "kernel": "...", "cpu": "...", "cpus": 2, "reps": 5, "quick": false,
//!   "date": "RFC3339 UTC",
//!   "cases": [ { "case": "nop_throughput", "title": "NOP throughput", "x_label": "batch size",
//!                "unit": "ops/s", "higher_is_better": true,
//!                "series": [ { "name": "sysmsg",
//!                              "points": [ { "x": 1, "median": 1.0, "min": 1.0, "max": 1.0,
//!                                            "samples": [1.0] } ] } ],
//!                "notes": ["free text"] } ],
//!   "targets": [ { "name": "...", "ratio": 0.8, "goal": ">= 1.0", "met": false,
//!                  "detail": "..." } ] }
//! ```
//!
//! A series that could not be measured (e.g. sysmsg without `/dev/sysmsg`) is listed with no
//! points, and a note of its case says why; a target whose inputs are missing has `"ratio":
//! null` and `"met": false`. Categorical cases (one series per contender) use `x = 0`.

use serde::Serialize;
use std::{collections::BTreeMap, fmt::Write as _};

/// The schema version written in [`Report::version`].
pub const SCHEMA_VERSION: u32 = 1;

/// One x value of a series: the statistics over the repetitions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// The x value (batch size, queue depth, count, limit; 0 for a categorical case).
    pub x: u64,
    /// The median of the samples (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// Every sample, in the order measured (one per repetition).
    pub samples: Vec<f64>,
}

impl Point {
    /// The statistics of `samples` (which must not be empty) at `x`.
    pub fn from_samples(x: u64, samples: Vec<f64>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Self {
            x,
            median,
            min: sorted[0],
            max: sorted[n - 1],
            samples,
        })
    }
}

/// One contender's points.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    /// The contender ("sysmsg", "io_uring IOSQE_ASYNC", ...).
    pub name: String,
    /// Its points, by increasing x; empty if it could not be measured.
    pub points: Vec<Point>,
}

/// One case: a plot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Case {
    /// The case's name (`nop_throughput`, `sleeps_memory`, ...).
    pub case: String,
    /// A title for the plot.
    pub title: String,
    /// What x is.
    pub x_label: String,
    /// The unit of every value.
    pub unit: String,
    /// Whether a larger value is better.
    pub higher_is_better: bool,
    /// The contenders.
    pub series: Vec<Series>,
    /// Free text: the environment, the method, what could not be measured and why.
    pub notes: Vec<String>,
}

impl Case {
    /// The series named `name`.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }

    /// The median of series `name` at `x`.
    pub fn median(&self, name: &str, x: u64) -> Option<f64> {
        self.series(name)?
            .points
            .iter()
            .find(|p| p.x == x)
            .map(|p| p.median)
    }

    /// The largest x at which series `name` has a point.
    pub fn max_x(&self, name: &str) -> Option<u64> {
        self.series(name)?.points.iter().map(|p| p.x).max()
    }
}

/// One of the issue's targets, computed from the medians.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    /// What is compared.
    pub name: String,
    /// The measured ratio; `null` if an input is missing.
    pub ratio: Option<f64>,
    /// The goal, e.g. `">= 1.0"`.
    pub goal: String,
    /// Whether the goal is met (false if an input is missing).
    pub met: bool,
    /// The numbers behind the ratio.
    pub detail: String,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// `uname -r`.
    pub kernel: String,
    /// `/proc/cpuinfo`'s first "model name".
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Repetitions per point.
    pub reps: usize,
    /// `--quick`.
    pub quick: bool,
    /// When the run started, RFC 3339, UTC.
    pub date: String,
    /// The cases, in the order run.
    pub cases: Vec<Case>,
    /// The issue's targets, for the cases that ran.
    pub targets: Vec<Target>,
}

impl Report {
    /// The case named `name`.
    pub fn case(&self, name: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.case == name)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Collects the samples of one case while it runs.
#[derive(Debug)]
pub struct CaseBuilder {
    case: Case,
    /// Series names in the order declared.
    order: Vec<String>,
    samples: BTreeMap<(usize, u64), Vec<f64>>,
    /// (series, x) pairs that failed: their remaining repetitions are skipped.
    failed: Vec<(String, u64)>,
}

impl CaseBuilder {
    /// A case with no series yet.
    pub fn new(case: &str, title: &str, x_label: &str, unit: &str, higher: bool) -> Self {
        Self {
            case: Case {
                case: case.to_string(),
                title: title.to_string(),
                x_label: x_label.to_string(),
                unit: unit.to_string(),
                higher_is_better: higher,
                series: Vec::new(),
                notes: Vec::new(),
            },
            order: Vec::new(),
            samples: BTreeMap::new(),
            failed: Vec::new(),
        }
    }

    /// The case's name.
    pub fn name(&self) -> &str {
        &self.case.case
    }

    /// Declares a series (so that it is listed even if it gets no point); returns its index.
    pub fn series(&mut self, name: &str) -> usize {
        match self.order.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.order.push(name.to_string());
                self.order.len() - 1
            }
        }
    }

    /// Adds one sample of series `name` at `x`. Non-finite values are dropped with a note.
    pub fn add(&mut self, name: &str, x: u64, value: f64) {
        let i = self.series(name);
        if value.is_finite() {
            self.samples.entry((i, x)).or_default().push(value);
        } else {
            self.note(format!("{name} at x={x}: a non-finite sample was dropped"));
        }
    }

    /// Adds a note (once: an identical note is not repeated).
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.case.notes.contains(&note) {
            self.case.notes.push(note);
        }
    }

    /// Whether series `name` already failed at `x` (its remaining repetitions are skipped).
    pub fn has_failed(&self, name: &str, x: u64) -> bool {
        self.failed.iter().any(|(n, fx)| n == name && *fx == x)
    }

    /// Records that series `name` could not be measured at `x`, and why (as a note).
    pub fn fail(&mut self, name: &str, x: u64, why: &str) {
        self.series(name);
        if !self.has_failed(name, x) {
            self.failed.push((name.to_string(), x));
        }
        self.note(format!("{name}: not measured: {why}"));
    }

    /// Runs one measurement of series `name` at `x` unless it already failed there, and records
    /// its sample or its failure.
    pub fn measure(&mut self, name: &str, x: u64, f: impl FnOnce() -> Result<f64, String>) {
        self.series(name);
        if self.has_failed(name, x) {
            return;
        }
        match f() {
            Ok(v) => self.add(name, x, v),
            Err(e) => self.fail(name, x, &e),
        }
    }

    /// Whether any series failed somewhere.
    pub fn any_failed(&self) -> bool {
        !self.failed.is_empty()
    }

    /// The finished case.
    pub fn finish(mut self) -> Case {
        let mut series: Vec<Series> = self
            .order
            .iter()
            .map(|name| Series {
                name: name.clone(),
                points: Vec::new(),
            })
            .collect();
        for ((i, x), samples) in std::mem::take(&mut self.samples) {
            if let Some(p) = Point::from_samples(x, samples) {
                series[i].points.push(p);
            }
        }
        self.case.series = series;
        self.case
    }
}

/// A number for the table: integers without decimals, small values with three significant
/// digits.
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The case as a block of text: a title line, a table (series, x, median, min, max, unit) and
/// the notes.
pub fn format_case(case: &Case) -> String {
    let mut out = String::new();
    let better = if case.higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    };
    let _ = writeln!(
        out,
        "== {}: {} ({}, {}; x = {}) ==",
        case.case, case.title, case.unit, better, case.x_label
    );
    let w = case
        .series
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{:<w$}  {:>8}  {:>14}  {:>14}  {:>14}  unit",
        "series", "x", "median", "min", "max"
    );
    for s in &case.series {
        if s.points.is_empty() {
            let _ = writeln!(
                out,
                "{:<w$}  {:>8}  {:>14}  {:>14}  {:>14}  {}",
                s.name, "-", "missing", "-", "-", case.unit
            );
        }
        for p in &s.points {
            let _ = writeln!(
                out,
                "{:<w$}  {:>8}  {:>14}  {:>14}  {:>14}  {}",
                s.name,
                p.x,
                format_value(p.median),
                format_value(p.min),
                format_value(p.max),
                case.unit
            );
        }
    }
    for n in &case.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    out
}

/// The targets as a block of text.
pub fn format_targets(targets: &[Target]) -> String {
    let mut out = String::from("== targets ==\n");
    for t in targets {
        let ratio = t.ratio.map_or("missing".to_string(), |r| format!("{r:.3}"));
        let _ = writeln!(
            out,
            "{:<4} {}: {} (goal {}); {}",
            if t.met { "MET" } else { "NOT" },
            t.name,
            ratio,
            t.goal,
            t.detail
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics() {
        let p = Point::from_samples(3, vec![5.0, 1.0, 3.0]).unwrap();
        assert_eq!((p.x, p.median, p.min, p.max), (3, 3.0, 1.0, 5.0));
        assert_eq!(p.samples, vec![5.0, 1.0, 3.0], "samples stay in order");
        let p = Point::from_samples(0, vec![4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!(p.median, 3.0);
        assert!(Point::from_samples(0, vec![]).is_none());
    }

    #[test]
    fn builder_keeps_declared_series_and_failures() {
        let mut b = CaseBuilder::new("c", "t", "batch size", "ops/s", true);
        b.series("sysmsg");
        b.series("io_uring");
        b.measure("io_uring", 8, || Ok(2.0));
        b.measure("io_uring", 1, || Ok(1.0));
        b.measure("sysmsg", 1, || Err("no device".into()));
        let mut ran = false;
        b.measure("sysmsg", 1, || {
            ran = true;
            Ok(1.0)
        });
        assert!(!ran, "a failed point is not measured again");
        b.add("x", 1, f64::NAN);
        assert!(b.any_failed());
        let c = b.finish();
        assert_eq!(c.series.len(), 3);
        assert_eq!(c.series[0].name, "sysmsg");
        assert!(c.series[0].points.is_empty());
        let xs: Vec<u64> = c.series[1].points.iter().map(|p| p.x).collect();
        assert_eq!(xs, vec![1, 8], "points by increasing x");
        assert_eq!(c.median("io_uring", 8), Some(2.0));
        assert_eq!(c.max_x("io_uring"), Some(8));
        assert_eq!(c.notes.len(), 2);
        assert!(c.notes[0].contains("sysmsg: not measured: no device"));
    }

    #[test]
    fn json_has_the_schema() {
        let mut b = CaseBuilder::new(
            "nop_throughput",
            "NOP throughput",
            "batch size",
            "ops/s",
            true,
        );
        b.add("sysmsg", 1, 1.0);
        b.series("io_uring");
        b.note("free text");
        let r = Report {
            version: SCHEMA_VERSION,
            kernel: "7.2.0".into(),
            cpu: "QEMU".into(),
            cpus: 2,
            reps: 5,
            quick: false,
            date: "2026-11-25T00:00:00Z".into(),
            cases: vec![b.finish()],
            targets: vec![Target {
                name: "NOP batch 32: sysmsg / io_uring".into(),
                ratio: None,
                goal: ">= 1.0".into(),
                met: false,
                detail: "...".into(),
            }],
        };
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let mut top = keys(&v);
        top.sort();
        assert_eq!(
            top,
            ["cases", "cpu", "cpus", "date", "kernel", "quick", "reps", "targets", "version"]
        );
        assert_eq!(v["version"], 1);
        let case = &v["cases"][0];
        let mut ck = keys(case);
        ck.sort();
        assert_eq!(
            ck,
            [
                "case",
                "higher_is_better",
                "notes",
                "series",
                "title",
                "unit",
                "x_label"
            ]
        );
        let point = &case["series"][0]["points"][0];
        assert_eq!(point["x"], 1);
        assert_eq!(point["median"], 1.0);
        assert_eq!(point["samples"][0], 1.0);
        assert_eq!(case["series"][1]["points"].as_array().unwrap().len(), 0);
        let mut tk = keys(&v["targets"][0]);
        tk.sort();
        assert_eq!(tk, ["detail", "goal", "met", "name", "ratio"]);
        assert!(v["targets"][0]["ratio"].is_null());
        // The text starts with the schema's first field, as in the issue.
        assert!(r.to_json().starts_with("{\n  \"version\": 1,"));
    }

    #[test]
    fn table() {
        let mut b = CaseBuilder::new("round_trip", "Round trip", "contender", "ns", false);
        b.add("getppid", 0, 123.456);
        b.fail("sysmsg NOP", 0, "no device");
        let text = format_case(&b.finish());
        assert!(text.contains("lower is better"));
        assert!(text.contains("getppid"));
        assert!(text.contains("123.5"));
        assert!(text.contains("missing"));
        assert!(text.contains("note: sysmsg NOP: not measured: no device"));
        assert_eq!(format_value(1234567.8), "1234568");
        assert_eq!(format_value(0.01234), "0.012");
        let t = format_targets(&[Target {
            name: "n".into(),
            ratio: Some(0.5),
            goal: ">= 1.0".into(),
            met: false,
            detail: "d".into(),
        }]);
        assert!(t.contains("NOT  n: 0.500 (goal >= 1.0); d"));
    }
}
