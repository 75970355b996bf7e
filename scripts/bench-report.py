#!/usr/bin/env python3
"""Renders the results of sysmsg-bench (its JSON file) for people.

    bench-report.py [--out DIR] [--table] [--docs FILE] [--meta KEY=VALUE]... BENCH.json

--out DIR    writes DIR/<case>.png (one plot per case, through gnuplot; the data
             and script of each plot stay in DIR/gnuplot/), DIR/summary.md (the
             tables and the targets) and DIR/run.json (the --meta values)
--table      prints a text table per case, the targets, and as the last line
             `targets: N met, M missed`
--docs FILE  writes FILE (docs/benchmarks.md): what each case measures, the
             environment, the tables, the targets, links to the plots
--meta K=V   facts about the run that the JSON does not hold (accel, command,
             commit, module, kunit, rmmod, kernel_log, plots, vm); they are also
             read from run.json beside BENCH.json, so --docs can be run again
             later on bench-results/<run>/bench.json alone

Only the standard library; gnuplot (Debian's gnuplot-nox) for the plots. A
missing gnuplot or a failing plot is a warning, not an error: the tables are
the record. Exits 1 if the JSON cannot be read.
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys

CAVEAT = "compare ratios, not absolute numbers"

# What each case measures, from the benchmark issue, by the words the case's
# name contains (the first match wins). How the program measures it is in the
# case's own notes in the JSON, printed after this text.
DESCRIPTIONS = [
    (("worker",),
     "Messages that need a kernel worker, in batches: sysmsg messages executed on the module's "
     "bounded workqueue against io_uring requests forced onto its worker pool (io-wq) with "
     "`IOSQE_ASYNC`. sysmsg posts a batch and reaps it along two paths: one "
     "`SYSMSG_IOC_SUBMIT` then `SYSMSG_IOC_REAP`s, or *submit+reap*, one `SYSMSG_IOC_SUBMIT` "
     "with `SYSMSG_SUBMIT_REAP_WAIT` that also waits for the first replies (the rest by "
     "`SYSMSG_IOC_REAP`). Target: at batch 32, sysmsg ≥ 2× io_uring's `IOSQE_ASYNC` rate, "
     "sysmsg's figure being submit+reap (the ABI's one-call path, as io_uring's "
     "`submit_and_wait`); the detail lists the other path."),
    (("nop", "throughput"),
     "NOP messages per second at batch sizes 1, 8, 32 and 128, a batch posted with one "
     "submitting call and its replies reaped: sysmsg (whose NOP executes inline at submit) "
     "against io_uring's `IORING_OP_NOP`, and against io_uring with `IOSQE_ASYNC`, which sends "
     "every NOP through io_uring's worker path (io-wq). sysmsg is measured along four paths: "
     "through the crate, bare ioctls, `write(2)`/`read(2)`, and *submit+reap*: one "
     "`SYSMSG_IOC_SUBMIT` with `SYSMSG_SUBMIT_REAP` that posts the batch and takes its replies "
     "(a `SYSMSG_IOC_REAP` only for any still missing). Target: at batch 32, sysmsg ≥ 1.0× "
     "io_uring's rate, sysmsg's figure being submit+reap (the ABI's one-call path, as "
     "io_uring's `submit_and_wait`); the detail lists the other paths."),
    (("round",),
     "One message there and back: a sysmsg NOP posted and its reply reaped, against a plain "
     "`getppid()` system call (the floor: one kernel entry and exit) and one io_uring NOP "
     "submitted and waited for. sysmsg goes along the paths of the NOP throughput case, "
     "*submit+reap* doing it in one `SYSMSG_IOC_SUBMIT` with `SYSMSG_SUBMIT_REAP`. Target: "
     "sysmsg's round trip ≤ 3× `getppid()`, sysmsg's figure being submit+reap (one system call, "
     "as io_uring's `submit_and_wait(1)`); the detail lists the other paths."),
    (("nop",),
     "NOP messages: sysmsg against io_uring's `IORING_OP_NOP`."),
    (("sleep",),
     "1,000, 10,000 and 100,000 concurrent relative nanosleeps in one process: the wall time "
     "until every reply is in, the kernel memory per message (the slab delta while they are "
     "pending, divided by their number) and the kernel threads in use, against io_uring "
     "timeouts and against one thread per sleep. A sysmsg sleep is an hrtimer and holds no "
     "thread. Target at 100,000: ≤ 256 bytes of kernel memory per message, every sleep "
     "completes, no extra kernel threads."),
    (("pending",),
     "10,000 pipe reads pending at once: the kernel threads in use while they wait (and the "
     "latency once data arrives). A sysmsg read on a pipe waits on the pipe's wait queue and "
     "holds no thread. Target: kernel threads in use ≤ `kernel.sysmsg.max_workers`."),
    (("pipe",),
     "Pipe ping-pong: a byte goes back and forth through a pair of pipes, read and written "
     "through the mechanism measured; the latency of one round trip and the threads in use "
     "(with the 10,000 pending pipe reads, see the target)."),
    (("pread",),
     "Regular-file 4 KiB `pread` throughput at queue depth 1 and 32: sysmsg `PREAD` messages "
     "(executed on the module's workqueue) against plain `pread(2)` and io_uring (and Linux AIO "
     "where the case has it)."),
    (("file",),
     "Regular-file I/O throughput at several queue depths: sysmsg against `pread(2)` and "
     "io_uring."),
    (("server",), "SERVER"),
    (("pipelined",), "SERVER"),
    (("limit",), "SERVER"),
]
SERVER = ("The pipelined server of the limits issue (`sysmsg-tests/tests/server.rs`: the server "
          "keeps a READ posted on every connection and hands each request to a responder "
          "thread that WRITEs the response) at per-process limits of 2, 16 and 1024 messages: "
          "requests per second. At a low limit the library's synchronous fallback keeps it "
          "going: it must slow down, never stop.")


def describe(case):
    name = str(case.get("case", "")).lower()
    for words, text in DESCRIPTIONS:
        if all(w in name for w in words):
            return SERVER if text == "SERVER" else text
    return None


# ---------------------------------------------------------------- numbers

def num(v):
    """A finite float, or None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def fmt(v):
    """A number as a person reads it: 3 significant digits with k/M/G from 10,000 on."""
    v = num(v)
    if v is None:
        return "—"
    a = abs(v)
    for limit, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if a >= limit:
            return f"{v / scale:.3g}{suffix}" if a / scale < 1000 else f"{v / scale:.0f}{suffix}"
    if a == int(a):
        return f"{int(v)}"
    return f"{v:.4g}"


def fmt_x(x):
    x = num(x)
    if x is None:
        return "?"
    if x == int(x):
        x = int(x)
        if x >= 1000 and x % 1000 == 0:
            return f"{x // 1000}k" if x < 1000000 or x % 1000000 else f"{x // 1000000}M"
        return str(x)
    return f"{x:g}"


def spread(p):
    """Half the min..max range in percent of the median, or None."""
    med, lo, hi = num(p.get("median")), num(p.get("min")), num(p.get("max"))
    if med in (None, 0) or lo is None or hi is None:
        return None
    return abs(hi - lo) / 2 / abs(med) * 100


def cell_text(p):
    if p is None or num(p.get("median")) is None:
        return "—"
    s = spread(p)
    return fmt(p["median"]) + (f" ±{s:.0f}%" if s is not None else "")


def cell_md(p):
    if p is None or num(p.get("median")) is None:
        return "—"
    lo, hi = num(p.get("min")), num(p.get("max"))
    if lo is None or hi is None:
        return fmt(p["median"])
    return f"{fmt(p['median'])} ({fmt(lo)}–{fmt(hi)})"


def is_categorical(case):
    pts = [p for s in case.get("series", []) for p in s.get("points", [])]
    return bool(pts) and all(num(p.get("x")) == 0 for p in pts)


def xs_of(case):
    xs = sorted({num(p.get("x")) for s in case.get("series", []) for p in s.get("points", [])
                 if num(p.get("x")) is not None})
    return xs


def point_at(series, x):
    for p in series.get("points", []):
        if num(p.get("x")) == x:
            return p
    return None


def fmt_ratio(r):
    r = num(r)
    if r is None:
        return "—"
    if abs(r) < 10:
        return f"{r:.2f}"
    if abs(r) < 100:
        return f"{r:.1f}"
    return fmt(r)


def ratio_base(series):
    """The first contender with a median (the one a categorical case's ratios are to)."""
    for s in series:
        m = num(((s.get("points") or [{}])[0] or {}).get("median"))
        if m:
            return s.get("name", "?"), m
    return "—", None


def better(case):
    h = case.get("higher_is_better")
    if h is True:
        return "higher is better"
    if h is False:
        return "lower is better"
    return ""


def unit_line(case):
    parts = [case.get("unit") or "", better(case)]
    return ", ".join(p for p in parts if p)


def reps_text(data):
    reps = data.get("reps")
    q = " (--quick)" if data.get("quick") else ""
    return f"median of {reps} runs{q}" if reps else f"median{q}"


def slug(name):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "case"


def vm_text(data, meta):
    """How the numbers were taken, for the caveat: 'QEMU TCG', 'QEMU KVM' or ''."""
    accel = (meta.get("accel") or "").lower()
    if accel in ("tcg", "kvm"):
        return "QEMU " + accel.upper()
    if "tcg" in str(data.get("cpu", "")).lower():
        return "QEMU TCG"
    return ""


def caveat(data, meta):
    vm = vm_text(data, meta)
    return f"{vm}: {CAVEAT}" if vm else f"one run: {CAVEAT}"


# ---------------------------------------------------------------- targets

def target_state(t):
    met = t.get("met")
    if met is True:
        return "met"
    if met is False:
        return "missed"
    return "not measured"


def verdict(data):
    ts = data.get("targets") or []
    met = sum(1 for t in ts if t.get("met") is True)
    missed = sum(1 for t in ts if t.get("met") is False)
    other = len(ts) - met - missed
    return f"targets: {met} met, {missed} missed" + (f", {other} not measured" if other else "")


# ---------------------------------------------------------------- text tables

def text_table(rows, right=()):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def case_text(case, data):
    lines = [f"== {case.get('title') or case.get('case')} ({case.get('case')}): "
             f"{unit_line(case)}; {reps_text(data)}, ± half the min..max range =="]
    series = case.get("series", [])
    if not series:
        return lines + ["  (no data)"]
    if is_categorical(case):
        base, first = ratio_base(series)
        rows = [["", "median", "min", "max", f"ratio to {base}"]]
        for s in series:
            p = (s.get("points") or [None])[0] or {}
            m = num(p.get("median"))
            ratio = fmt_ratio(m / first) + "x" if m is not None and first else "—"
            rows.append([s.get("name", "?"), cell_text(p), fmt(p.get("min")), fmt(p.get("max")),
                         ratio])
        lines += text_table(rows, right={1, 2, 3, 4})
    else:
        rows = [[case.get("x_label") or "x"] + [s.get("name", "?") for s in series]]
        for x in xs_of(case):
            rows.append([fmt_x(x)] + [cell_text(point_at(s, x)) for s in series])
        lines += text_table(rows, right=set(range(len(rows[0]))))
    return lines


def targets_text(data):
    ts = data.get("targets") or []
    if not ts:
        return ["== targets ==", "  (none in the JSON)"]
    rows = [["target", "ratio", "goal", "result", "detail"]]
    for t in ts:
        rows.append([t.get("name", "?"), fmt(t.get("ratio")), str(t.get("goal", "")),
                     target_state(t), str(t.get("detail", ""))])
    return ["== targets (ratios in one guest run) =="] + text_table(rows, right={1})


def print_table(data, meta):
    head = [f"kernel {data.get('kernel', '?')}, {data.get('cpu', '?')}, "
            f"{data.get('cpus', '?')} CPUs, {data.get('date', '?')}"]
    head.append(caveat(data, meta))
    print("\n".join(head))
    for case in data.get("cases", []):
        print()
        print("\n".join(case_text(case, data)))
    print()
    print("\n".join(targets_text(data)))
    print(verdict(data))


# ---------------------------------------------------------------- markdown

def md_escape(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def md_table(rows):
    out = ["| " + " | ".join(md_escape(c) for c in rows[0]) + " |",
           "|" + "|".join("---" for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows[1:]]
    return out


def case_md(case):
    series = case.get("series", [])
    if not series:
        return ["(no data)"]
    if is_categorical(case):
        base, first = ratio_base(series)
        rows = [["contender", f"median ({case.get('unit', '')})", "min", "max",
                 f"ratio to {base}"]]
        for s in series:
            p = (s.get("points") or [None])[0] or {}
            m = num(p.get("median"))
            rows.append([s.get("name", "?"), fmt(m), fmt(p.get("min")), fmt(p.get("max")),
                         fmt_ratio(m / first) + "×" if m is not None and first else "—"])
        return md_table(rows)
    rows = [[case.get("x_label") or "x"] + [s.get("name", "?") for s in series]]
    for x in xs_of(case):
        rows.append([fmt_x(x)] + [cell_md(point_at(s, x)) for s in series])
    return md_table(rows)


def targets_md(data):
    ts = data.get("targets") or []
    if not ts:
        return ["(The JSON holds no targets.)"]
    rows = [["target", "ratio", "goal", "result", "detail"]]
    for t in ts:
        state = target_state(t)
        mark = {"met": "✅ met", "missed": "❌ missed"}.get(state, state)
        rows.append([t.get("name", "?"), fmt(t.get("ratio")), t.get("goal", ""), mark,
                     t.get("detail", "")])
    return md_table(rows)


def env_rows(data, meta):
    vm = vm_text(data, meta)
    rows = [["", ""],
            ["kernel", f"`{data.get('kernel', '?')}`"],
            ["CPU", f"{data.get('cpu', '?')}, {data.get('cpus', '?')} CPUs"]]
    if meta.get("vm"):
        rows.append(["machine", meta["vm"]])
    elif vm:
        rows.append(["machine", vm])
    rows.append(["repetitions", f"{data.get('reps', '?')} per point" +
                 (" (`--quick`)" if data.get("quick") else "")])
    rows.append(["date", str(data.get("date", "?"))])
    for key, label in (("commit", "commit"), ("command", "command"), ("module", "module"),
                       ("kunit", "KUnit at load"), ("bench_exit", "sysmsg-bench"),
                       ("rmmod", "rmmod"), ("kernel_log", "kernel log")):
        v = meta.get(key)
        if not v or (key == "commit" and v == "unknown"):
            continue
        if key in ("command", "commit"):
            v = f"`{v}`"
        elif key == "bench_exit":
            v = f"exit status {v}" + (f" after {meta['bench_seconds']} s"
                                      if meta.get("bench_seconds") not in (None, "", "?") else "")
        rows.append([label, v])
    return rows


def summary_md(data, meta, pngs):
    out = [f"# sysmsg-bench: {data.get('date', '')}", ""]
    out += [f"**{caveat(data, meta)}** — every number below comes from one guest boot; "
            "compare contenders within this run."]
    out += [""] + md_table(env_rows(data, meta)) + [""]
    out += ["## Targets", ""] + targets_md(data) + ["", f"**{verdict(data)}**", ""]
    for case in data.get("cases", []):
        out += [f"## {case.get('title') or case.get('case')} (`{case.get('case')}`)", ""]
        out += [f"{unit_line(case)}; {reps_text(data)} (min–max in parentheses).", ""]
        png = pngs.get(case.get("case"))
        if png:
            out += [f"![{case.get('title', '')}]({png})", ""]
        out += case_md(case) + [""]
        for n in case.get("notes") or []:
            out.append(f"- {n}")
        if case.get("notes"):
            out.append("")
    return "\n".join(out)


def docs_md(data, meta, json_path):
    plots = meta.get("plots")  # where the PNGs are, relative to the repository
    command = meta.get("command") or "make bench"
    out = ["# Benchmarks", ""]
    out += ["<!-- Generated by scripts/bench-report.py --docs; edit the generator, not this file. "
            "-->", ""]
    made = f"`{command}`"
    if meta.get("commit") and meta["commit"] != "unknown":
        made += f" at commit `{meta['commit']}`"
    out += [f"The latest numbers: one run of {made}, {data.get('date', '?')}.", "",
            "This page is generated from that run's `bench.json`: `SYSMSG_BENCH_DOCS=1 make bench` "
            "rewrites it, a plain `make bench` does not touch it (so that a casual run leaves the "
            "tree clean), and `python3 scripts/bench-report.py --docs docs/benchmarks.md "
            "bench-results/<run>/bench.json` renders it from an earlier run."]
    out += ["", "## How to read these numbers", ""]
    vm = vm_text(data, meta)
    if vm == "QEMU TCG":
        out += ["The benchmarks run in a QEMU guest under **TCG** (software emulation: KVM is not "
                "available on the machines we have), so absolute numbers say little about real "
                "hardware: emulation slows some instructions far more than others. **Compare "
                "ratios**: every case runs its contenders one after the other in the same guest "
                "boot, on the same emulated CPU, so sysmsg / io_uring and sysmsg / `getppid()` "
                "are meaningful; the targets are such ratios."]
    else:
        out += [f"{vm + ': o' if vm else 'O'}ne machine, one boot: **compare ratios** between "
                "contenders of one run rather than absolute numbers across machines; the "
                "targets are such ratios."]
    out += ["", f"Each point is the median of {data.get('reps', '?')} repetitions"
            + (" (a `--quick` run)" if data.get("quick") else "")
            + "; the tables give the range (min–max) and the plots draw it as "
            "error bars. The contenders are sysmsg (through the project's `sysmsg` crate), "
            "io_uring (the `io-uring` crate), Linux AIO where a case has it, and plain "
            "system calls or threads as the baseline."]
    out += ["", "## Environment", ""] + md_table(env_rows(data, meta)) + [""]
    out += ["## Targets", "", "From the benchmark issue; each is a ratio (or a count) within this "
            "one guest run.", ""] + targets_md(data) + ["", f"**{verdict(data)}**", ""]
    out += ["## Cases", ""]
    if plots:
        out += [f"The plots are PNGs in `{plots}/` on the machine that ran the benchmark "
                "(`bench-results/` is git-ignored; `bench-results/latest/` is the newest run), "
                "so each case is also a table here.", ""]
    described = set()
    for i, case in enumerate(data.get("cases", []), 1):
        name = case.get("case", "?")
        out += [f"### {i}. {case.get('title') or name} (`{name}`)", ""]
        d = describe(case)
        if d and d in described:
            out += ["The measurement described above; this case shows another of its results.", ""]
        elif d:
            described.add(d)
            out += [d, ""]
        for n in case.get("notes") or []:
            out.append(f"- {n}")
        if case.get("notes"):
            out.append("")
        out += [f"Unit: {unit_line(case)}; x: {case.get('x_label') or '—'}."
                if not is_categorical(case) else f"Unit: {unit_line(case)}.", ""]
        out += case_md(case) + [""]
        png = slug(name) + ".png"
        if plots and os.path.exists(os.path.join(os.path.dirname(os.path.abspath(json_path)), png)):
            out += [f"Plot: [`{plots}/{png}`](../{plots}/{png})", ""]
    out += ["## Running it", "",
            "```sh",
            "make bench                                  # perf kernel in a VM; bench-results/latest/",
            "SYSMSG_BENCH_ARGS=--quick make bench        # a quick run (sysmsg-bench --help)",
            "SYSMSG_BENCH_DOCS=1 make bench              # the same, and rewrite this page",
            "```", "",
            "On your own kernel (with `CONFIG_RUST`, `CONFIG_IO_URING`, `CONFIG_AIO`): build the "
            "module with `make KDIR=<kernel build tree>` and the program with `cd userspace-tests "
            "&& cargo build --release --locked -p sysmsg-bench`, then as root `insmod sysmsg.ko` and "
            "`userspace-tests/target/release/sysmsg-bench --out bench.json` (`--quick`, `--reps "
            "N`, `--case NAME`); `python3 scripts/bench-report.py --out DIR --table bench.json` "
            "draws the plots and prints the tables.", ""]
    return "\n".join(out)


# ---------------------------------------------------------------- plots

def gp_str(s):
    """A gnuplot double-quoted string (noenhanced terminal: no markup)."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def nice_ticks(top):
    """0, step, 2 step, ... up to the first tick >= top, with a round step (about 5 ticks)."""
    raw = top / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    if n * step < top * 1.05:  # room for the error bar's cap and the labels on bars
        n += 1
    return [round(i * step, 12) for i in range(n + 1)]


def plot_case(case, data, meta, outdir):
    """Writes gnuplot/<case>.dat and .gp and runs gnuplot; returns the PNG's name or None."""
    name = slug(case.get("case", "case"))
    gdir = os.path.join(outdir, "gnuplot")
    os.makedirs(gdir, exist_ok=True)
    dat, gp, png = (os.path.join(gdir, name + ".dat"), os.path.join(gdir, name + ".gp"),
                    name + ".png")
    every = case.get("series", [])
    series = [s for s in every if s.get("points")]
    if not series:
        return None
    title = case.get("title") or name
    subtitle = "\n".join([
        f"kernel {data.get('kernel', '?')}, {data.get('cpu', '?')}, {data.get('cpus', '?')} CPUs; "
        f"{reps_text(data)}, error bars: min..max",
        caveat(data, meta)])
    ylabel = case.get("unit") or ""
    if better(case):
        ylabel += f" ({better(case)})"
    gs = ["set terminal pngcairo size 960,600 noenhanced font 'DejaVu Sans,10'",
          f"set output {gp_str('../' + png)}",  # run in gnuplot/
          f"set label 1 {gp_str(title)} at screen 0.5, screen 0.965 center font ',14'",
          f"set label 2 {gp_str(subtitle)} at screen 0.5, screen 0.91 center",
          "set tmargin 6",
          f"set ylabel {gp_str(ylabel)}",
          "set grid ytics",
          "set border 3", "set tics nomirror",
          "set datafile missing '?'"]
    lows = [num(p.get("min")) if num(p.get("min")) is not None else num(p.get("median"))
            for s in series for p in s["points"]]
    highs = [num(p.get("max")) if num(p.get("max")) is not None else num(p.get("median"))
             for s in series for p in s["points"]]
    lows = [v for v in lows if v is not None]
    highs = [v for v in highs if v is not None]
    if not lows:
        return None
    logy = min(lows) > 0 and max(highs) / min(lows) >= 30
    if logy:
        gs += ["set logscale y 10", "set format y '%.0s%c'", "set mytics 10"]
    elif min(lows) >= 0 and max(highs) > 0:
        ticks = nice_ticks(max(highs))
        gs += [f"set yrange [0:{ticks[-1]!r}]",
               "set ytics (" + ", ".join(f"{gp_str(fmt(t))} {t!r}" for t in ticks) + ")"]
    rows = []
    if is_categorical(case):
        # Every contender has a place on the x axis; one not measured says so.
        names = [s.get("name", "?") for s in every]
        ticks = ", ".join(f"{gp_str(n)} {i}" for i, n in enumerate(names))
        floor = min(lows) if logy else 0
        for i, s in enumerate(every):
            p = (s.get("points") or [{}])[0] or {}
            med = num(p.get("median"))
            if med is None:
                rows.append(f"{i} ? ? ? {gp_str('not measured')} {floor!r}")
                continue
            lo = num(p.get("min")) if num(p.get("min")) is not None else med
            hi = num(p.get("max")) if num(p.get("max")) is not None else med
            rows.append(f"{i} {med!r} {lo!r} {hi!r} {gp_str(fmt(med))} {max(hi, med)!r}")
        gs += [f"set xtics ({ticks})", f"set xrange [-0.6:{len(every) - 0.4}]",
               "set style fill solid 0.75 border -1", "set boxwidth 0.6",
               "unset key"]
        if sum(len(n) for n in names) > 90 or len(names) > 6:
            gs += ["set xtics rotate by 20 right"]
        if case.get("x_label"):
            gs += [f"set xlabel {gp_str(case['x_label'])}"]
        gs += [f"plot {gp_str(name + '.dat')} using 1:2:($1+1) with boxes lc variable, "
               f"'' using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.5 lw 1.5, "
               f"'' using 1:6:5 with labels offset 0,0.8"]
    else:
        xs = [x for x in xs_of(case)]
        logx = bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 16
        ticks = ", ".join(f"{gp_str(fmt_x(x))} {x:g}" for x in xs)
        gs += [f"set xlabel {gp_str(case.get('x_label') or 'x')}", f"set xtics ({ticks})",
               "set key outside right top Left reverse"]
        if logx:
            gs += ["set logscale x 2", f"set xrange [{min(xs) / 1.5:g}:{max(xs) * 1.5:g}]"]
        else:
            pad = (max(xs) - min(xs)) * 0.08 or max(abs(xs[0]) * 0.1, 1)
            gs += [f"set xrange [{min(xs) - pad:g}:{max(xs) + pad:g}]"]
        plots = []
        for i, s in enumerate(series):
            for p in sorted(s["points"], key=lambda p: num(p.get("x")) or 0):
                x, med = num(p.get("x")), num(p.get("median"))
                if x is None or med is None:
                    continue
                lo = num(p.get("min")) if num(p.get("min")) is not None else med
                hi = num(p.get("max")) if num(p.get("max")) is not None else med
                rows.append(f"{x:g} {med!r} {lo!r} {hi!r}")
            rows += ["", ""]  # a new index per series
            plots.append(f"{gp_str(name + '.dat')} index {i} using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 1 "
                         f"title {gp_str(s.get('name', '?'))}")
        plots += [f"NaN title {gp_str(s.get('name', '?') + ' (not measured)')}"
                  for s in every if not s.get("points")]
        gs += ["plot " + ", \\\n     ".join(plots)]
    with open(dat, "w") as f:
        f.write(f"# {case.get('case')}: " +
                ("index median min max label\n" if is_categorical(case) else
                 "x median min max, one index per series\n"))
        f.write("\n".join(rows) + "\n")
    with open(gp, "w") as f:
        f.write("\n".join(g for g in gs if g) + "\n")
    r = subprocess.run(["gnuplot", name + ".gp"], cwd=gdir, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(os.path.join(outdir, png)):
        warn(f"gnuplot failed on {gp}: {r.stderr.strip()[-500:]}")
        return None
    return png


# ---------------------------------------------------------------- main

def warn(msg):
    print(f"[sysmsg] warning: {msg}", file=sys.stderr)


def load(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"[sysmsg] error: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(1)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        print(f"[sysmsg] error: {path} is not a sysmsg-bench result (no \"cases\")", file=sys.stderr)
        sys.exit(1)
    if data.get("version") != 1:
        warn(f"{path}: version {data.get('version')!r}, this renderer knows version 1")
    return data


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` is not an error
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", help="the JSON file sysmsg-bench wrote (--out)")
    ap.add_argument("--out", metavar="DIR", help="write the plots, summary.md and run.json there")
    ap.add_argument("--table", action="store_true", help="print the tables and the verdict")
    ap.add_argument("--docs", metavar="FILE", help="write docs/benchmarks.md")
    ap.add_argument("--meta", metavar="KEY=VALUE", action="append", default=[],
                    help="a fact about the run (accel, command, commit, module, kunit, ...)")
    args = ap.parse_args()

    data = load(args.json)
    meta = {}
    run_json = os.path.join(os.path.dirname(os.path.abspath(args.json)), "run.json")
    if os.path.exists(run_json):
        try:
            with open(run_json) as f:
                meta.update(json.load(f))
        except (OSError, ValueError) as e:
            warn(f"ignoring {run_json}: {e}")
    for kv in args.meta:
        k, sep, v = kv.partition("=")
        if not sep:
            ap.error(f"--meta wants KEY=VALUE, got {kv!r}")
        meta[k] = v

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        pngs = {}
        if shutil.which("gnuplot"):
            for case in data["cases"]:
                png = plot_case(case, data, meta, args.out)
                if png:
                    pngs[case.get("case")] = png
        else:
            warn("gnuplot is not installed (Debian: gnuplot-nox): no plots, tables only")
        with open(os.path.join(args.out, "summary.md"), "w") as f:
            f.write(summary_md(data, meta, pngs))
        if meta:
            with open(os.path.join(args.out, "run.json"), "w") as f:
                json.dump(meta, f, indent=2, sort_keys=True)
                f.write("\n")
    if args.docs:
        text = docs_md(data, meta, args.json)
        os.makedirs(os.path.dirname(os.path.abspath(args.docs)), exist_ok=True)
        with open(args.docs, "w") as f:
            f.write(text)
    if args.table:
        print_table(data, meta)


if __name__ == "__main__":
    main()
