//! Case 7, `server`: the pipelined server of `userspace-tests/c/test_server.c`, in Rust with the
//! `sysmsg` crate's safe API and its fallback, at per-process soft limits 2, 16 and 1024.
//!
//! 16 clients (threads) each send N request lines (200; 20 with `--quick`) over a socketpair,
//! each only once they have the previous response, and check every response. The server has 4
//! worker threads, each with its own `Sysmsg` (its own file) and a share of the connections: it
//! keeps a READ posted on each connection; for each request line it computes the response (a
//! per-connection sequence number, an FNV-1a hash of everything the connection sent so far, the
//! line reversed) and WRITEs it, with the connection's next READ in the same batch. The process
//! sets its soft limit with `kernel.sysmsg.per_process_limits = 1` (restored afterwards) and
//! `Sysmsg::set_limits`; where the kernel refuses a message (`EAGAIN`, throttled) the crate's
//! fallback performs it synchronously. Clients and server are threads of this process; only the
//! server uses sysmsg, so the limit is the server's.
//!
//! `server`: requests per second (all requests / wall time). `server_ops`: the operations the
//! crate sent to the kernel (async) and performed itself (sync, the fallback), summed over the
//! workers' `Sysmsg::stats()`.

use super::Ctx;
use crate::{cleanup::SysctlGuard, report::Case, util::err};
use std::{
    io::{Read as _, Write as _},
    net::Shutdown,
    os::unix::net::UnixStream,
    thread,
    time::{Duration, Instant},
};
use sysmsg::{op, Batch, Reply};

/// The soft limits.
pub const LIMITS: [u64; 3] = [2, 16, 1024];
/// Client connections.
pub const CLIENTS: usize = 16;
/// Server worker threads.
pub const WORKERS: usize = 4;
const IN_MAX: usize = 512;
const LINE_MAX: usize = 200;
const TAG_READ: u64 = 1;
const TAG_WRITE: u64 = 2;
const FNV32_BASIS: u32 = 2_166_136_261;

const SERIES: &str = "sysmsg + fallback";
const ASYNC: &str = "async (kernel)";
const SYNC: &str = "sync (fallback)";

/// FNV-1a, 32 bits.
pub fn fnv32(mut h: u32, data: &[u8]) -> u32 {
    for &b in data {
        h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
    }
    h
}

/// Request `j` of client `c`: a line (with its `\n`), as `test_server.c` makes it.
pub fn make_request(c: usize, j: usize) -> Vec<u8> {
    let len = 1 + (c * 37 + j * 11) % 90;
    let mut out = format!("c{c} r{j} ").into_bytes();
    out.extend((0..len).map(|k| b'a' + ((c + j * 3 + k * 7) % 26) as u8));
    out.push(b'\n');
    out
}

/// The response to `line` (with its `\n`), the connection's `seq`-th, when everything it sent
/// so far hashes to `hash`: `"SEQ HASH "`, the line reversed, `\n`.
pub fn make_response(seq: u32, hash: u32, line: &[u8]) -> Vec<u8> {
    let mut out = format!("{seq} {hash:08x} ").into_bytes();
    out.extend(line[..line.len() - 1].iter().rev());
    out.push(b'\n');
    out
}

/// Runs the case.
pub fn run(ctx: &Ctx, _facts: &mut super::Facts) -> Vec<Case> {
    let requests = ctx.count(200, 20);
    let mut rps = ctx.builder(
        "server",
        "Pipelined server (test_server.c's workload) at a soft limit",
        "soft limit",
        "requests/s",
        true,
    );
    let mut ops = ctx.builder(
        "server_ops",
        "Pipelined server: operations sent to the kernel vs performed by the fallback",
        "soft limit",
        "ops",
        false,
    );
    rps.series(SERIES);
    ops.series(ASYNC);
    ops.series(SYNC);
    let desc = format!("{CLIENTS} clients x {requests} requests over socketpairs, {WORKERS} server threads each with its own Sysmsg (safe API: Batch, op::Read/op::Write, wait), WRITE + next READ in one batch; the crate's fallback on; limit set with kernel.sysmsg.per_process_limits = 1 + Sysmsg::set_limits");
    rps.note(desc.clone());
    ops.note(desc);
    ops.note("async = Stats::async_ops (accepted by the kernel), sync = Stats::sync_ops (performed by the fallback), summed over the server's Sysmsgs; higher_is_better is false only because more sync operations mean more fallback");
    let guard = match ctx.sysmsg.clone() {
        Err(e) => Err(e),
        Ok(()) => SysctlGuard::sysmsg("per_process_limits", 1)
            .map_err(|e| format!("kernel.sysmsg.per_process_limits = 1: {e} (run as root)")),
    };
    if let Err(e) = &guard {
        for l in LIMITS {
            rps.fail(SERIES, l, e);
            ops.fail(ASYNC, l, e);
            ops.fail(SYNC, l, e);
        }
        return vec![rps.finish(), ops.finish()];
    }
    for &limit in &LIMITS {
        for rep in 0..ctx.reps {
            eprintln!("  server: limit {limit}, repetition {}", rep + 1);
            if rps.has_failed(SERIES, limit) {
                continue;
            }
            match run_server(ctx, limit, requests) {
                Ok(o) => {
                    rps.add(SERIES, limit, o.requests as f64 / o.secs.max(1e-9));
                    ops.add(ASYNC, limit, o.async_ops as f64);
                    ops.add(SYNC, limit, o.sync_ops as f64);
                    let note = format!(
                        "limit {limit}: async {} / sync {} ops, {} fallback episodes; kernel: limit_hits {}, throttle_episodes {}, peak_inflight {}",
                        o.async_ops, o.sync_ops, o.episodes, o.limit_hits, o.throttles, o.peak
                    );
                    if rep == 0 {
                        rps.note(note.clone());
                        ops.note(note);
                    }
                }
                Err(e) => {
                    rps.fail(SERIES, limit, &e);
                    ops.fail(ASYNC, limit, &e);
                    ops.fail(SYNC, limit, &e);
                }
            }
        }
    }
    drop(guard);
    vec![rps.finish(), ops.finish()]
}

/// What one run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerRun {
    /// Requests answered correctly.
    pub requests: usize,
    /// Wall time.
    pub secs: f64,
    /// The crate's counters, summed over the workers.
    pub async_ops: u64,
    /// The crate's counters, summed over the workers.
    pub sync_ops: u64,
    /// The crate's counters, summed over the workers.
    pub episodes: u64,
    /// The kernel's counters for this process.
    pub limit_hits: u64,
    /// The kernel's counters for this process.
    pub throttles: u64,
    /// The kernel's counters for this process.
    pub peak: u64,
}

/// One run at `limit`.
pub fn run_server(ctx: &Ctx, limit: u64, requests: usize) -> Result<ServerRun, String> {
    // This file holds the process's limits and counters for the run (they live while the process
    // has a sysmsg file open).
    let ctl = ctx.open_sysmsg()?;
    let l = ctl.limits(0).map_err(|e| err("SYSMSG_IOC_GET_LIMITS", e))?;
    let hard = (l.hard < limit).then_some(limit);
    let set = ctl
        .set_limits(0, Some(limit), hard)
        .map_err(|e| err(&format!("SYSMSG_IOC_SET_LIMITS soft {limit}"), e))?;
    if set.effective() != limit {
        return Err(format!(
            "the soft limit is {} after setting {limit}",
            set.soft
        ));
    }
    let mut servers: Vec<Vec<(usize, UnixStream)>> = (0..WORKERS).map(|_| Vec::new()).collect();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (a, b) = UnixStream::pair().map_err(|e| err("socketpair", e))?;
        a.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| err("SO_RCVTIMEO", e))?;
        clients.push(a);
        servers[c % WORKERS].push((c, b));
    }
    let start = Instant::now();
    let (workers, answers) = thread::scope(|s| {
        let workers: Vec<_> = servers
            .into_iter()
            .map(|conns| s.spawn(move || worker(ctx, conns)))
            .collect();
        let clients: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(c, sock)| s.spawn(move || client(c, sock, requests)))
            .collect();
        let answers: Vec<Result<usize, String>> = clients
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect();
        let workers: Vec<Result<sysmsg::Stats, String>> = workers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into())))
            .collect();
        (workers, answers)
    });
    let secs = start.elapsed().as_secs_f64();
    let mut out = ServerRun {
        secs,
        ..Default::default()
    };
    for (c, a) in answers.into_iter().enumerate() {
        out.requests += a.map_err(|e| format!("client {c}: {e}"))?;
    }
    for (w, st) in workers.into_iter().enumerate() {
        let st = st.map_err(|e| format!("server worker {w}: {e}"))?;
        out.async_ops += st.async_ops;
        out.sync_ops += st.sync_ops;
        out.episodes += st.fallback_episodes;
    }
    if let Ok(Some(k)) = ctl.own_proc_stats() {
        out.limit_hits = k.limit_hits;
        out.throttles = k.throttle_episodes;
        out.peak = k.peak_inflight;
    }
    if out.requests != CLIENTS * requests {
        return Err(format!(
            "{} of {} requests answered",
            out.requests,
            CLIENTS * requests
        ));
    }
    Ok(out)
}

/// A client: each request once it has the previous response; checks every response. Returns
/// how many were answered correctly.
fn client(c: usize, mut sock: UnixStream, requests: usize) -> Result<usize, String> {
    let mut hash = FNV32_BASIS;
    let mut buf = [0u8; 1024];
    for j in 0..requests {
        let req = make_request(c, j);
        hash = fnv32(hash, &req);
        let want = make_response(j as u32 + 1, hash, &req);
        sock.write_all(&req)
            .map_err(|e| err(&format!("request {j}: write"), e))?;
        let mut got = Vec::new();
        while got.last() != Some(&b'\n') {
            let n = sock
                .read(&mut buf)
                .map_err(|e| err(&format!("request {j}: read"), e))?;
            if n == 0 {
                return Err(format!("request {j}: end of file"));
            }
            got.extend_from_slice(&buf[..n]);
        }
        if got != want {
            return Err(format!(
                "request {j}: response {:?}, want {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            ));
        }
    }
    sock.shutdown(Shutdown::Write)
        .map_err(|e| err("shutdown", e))?;
    match sock.read(&mut buf) {
        Ok(0) => Ok(requests),
        Ok(_) => Err("bytes after the last response".into()),
        Err(e) => Err(err("waiting for the end", e)),
    }
}

/// A connection of a server worker.
struct Conn {
    id: usize,
    sock: UnixStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    write_len: usize,
    reading: bool,
    writing: bool,
    eof: bool,
    closed: bool,
    seq: u32,
    hash: u32,
}

/// A server worker: the connections `conns` through its own `Sysmsg`. Returns the crate's
/// counters.
fn worker(ctx: &Ctx, conns: Vec<(usize, UnixStream)>) -> Result<sysmsg::Stats, String> {
    let sm = ctx.open_sysmsg()?;
    let mut conns: Vec<Conn> = conns
        .into_iter()
        .map(|(id, sock)| Conn {
            id,
            sock,
            inbuf: Vec::new(),
            out: Vec::new(),
            write_len: 0,
            reading: false,
            writing: false,
            eof: false,
            closed: false,
            seq: 0,
            hash: FNV32_BASIS,
        })
        .collect();
    let mut active = conns.len();
    let mut batch = Batch::new();
    let r = (|| -> Result<(), String> {
        for (k, c) in conns.iter_mut().enumerate() {
            post(c, k, &mut batch, &mut active)?;
        }
        loop {
            if !batch.is_empty() {
                sm.submit(&mut batch).map_err(|e| format!("submit: {e}"))?;
            }
            if active == 0 {
                return Ok(());
            }
            let replies = sm.wait(1).map_err(|e| err("wait", e))?;
            if replies.is_empty() {
                return Err(format!("{active} connections open but nothing in flight"));
            }
            for r in replies {
                on_reply(&mut conns, r)?;
            }
            for (k, c) in conns.iter_mut().enumerate() {
                post(c, k, &mut batch, &mut active)?;
            }
        }
    })();
    let stats = sm.stats();
    if r.is_err() {
        // Unblock the clients: they see the end of file.
        for c in &conns {
            let _ = c.sock.shutdown(Shutdown::Both);
        }
    }
    r.map(|()| stats)
}

/// Posts what connection `k` needs next: the WRITE of pending output, then the next READ once
/// every response produced is being written; closes it when it is finished.
fn post(c: &mut Conn, k: usize, batch: &mut Batch, active: &mut usize) -> Result<(), String> {
    let tag = (k as u64) << 4;
    if c.closed {
        return Ok(());
    }
    if !c.writing && !c.out.is_empty() {
        batch.push(
            op::Write::new(&c.sock, c.out.clone())
                .build()
                .tag(tag | TAG_WRITE),
        );
        c.writing = true;
        c.write_len = c.out.len();
    }
    if !c.reading && !c.eof && (!c.writing || c.write_len == c.out.len()) {
        if c.inbuf.len() >= IN_MAX {
            return Err(format!(
                "connection {}: a request longer than {IN_MAX} bytes",
                c.id
            ));
        }
        batch.push(
            op::Read::new(&c.sock, IN_MAX - c.inbuf.len())
                .build()
                .tag(tag | TAG_READ),
        );
        c.reading = true;
    }
    if c.eof && !c.reading && !c.writing && c.out.is_empty() {
        let _ = c.sock.shutdown(Shutdown::Both);
        c.closed = true;
        *active -= 1;
    }
    Ok(())
}

fn on_reply(conns: &mut [Conn], r: Reply) -> Result<(), String> {
    let k = (r.tag() >> 4) as usize;
    let c = conns
        .get_mut(k)
        .filter(|c| !c.closed)
        .ok_or_else(|| format!("a reply with tag {:#x}", r.tag()))?;
    if r.tag() & 15 == TAG_WRITE {
        let n = r
            .result()
            .map_err(|e| err(&format!("connection {}: WRITE", c.id), e))?;
        if n == 0 || n > c.write_len {
            return Err(format!("connection {}: WRITE wrote {n}", c.id));
        }
        c.out.drain(..n);
        c.writing = false;
        return Ok(());
    }
    c.reading = false;
    let n = r
        .result()
        .map_err(|e| err(&format!("connection {}: READ", c.id), e))?;
    if n == 0 {
        c.eof = true;
        return Ok(());
    }
    let data = r
        .data()
        .and_then(|d| d.get(..n))
        .ok_or_else(|| format!("connection {}: READ of {n} bytes without its data", c.id))?;
    c.inbuf.extend_from_slice(data);
    while let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
        if line.len() > LINE_MAX + 2 {
            return Err(format!("connection {}: a request line too long", c.id));
        }
        c.hash = fnv32(c.hash, &line);
        c.seq += 1;
        c.out.extend(make_response(c.seq, c.hash, &line));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_c_tests_lines() {
        // c0 r0: len = 1 + 0 = 1, letter 'a' + 0 = 'a'.
        assert_eq!(make_request(0, 0), b"c0 r0 a\n");
        let r = make_request(1, 2);
        // len = 1 + (1 * 37 + 2 * 11) % 90 = 60 letters.
        assert_eq!(r.len(), "c1 r2 ".len() + 60 + 1);
        assert_eq!(make_response(1, 0xdead_beef, b"abc\n"), b"1 deadbeef cba\n");
        assert_eq!(fnv32(FNV32_BASIS, b""), FNV32_BASIS);
        assert_eq!(fnv32(FNV32_BASIS, b"a"), 0xe40c_292c);
    }

    #[test]
    fn without_the_device_a_run_fails_cleanly() {
        let ctx = Ctx {
            reps: 1,
            quick: true,
            dir: std::env::temp_dir(),
            device: "/nonexistent/sysmsg".into(),
            sysmsg: Err("no module".into()),
            sleep_base: None,
            env_note: String::new(),
        };
        assert_eq!(run_server(&ctx, 2, 1).unwrap_err(), "no module");
        let cases = run(&ctx, &mut super::super::Facts::default());
        assert_eq!(cases.len(), 2);
        assert!(cases[0].series[0].points.is_empty());
        assert!(cases[0].notes.iter().any(|n| n.contains("no module")));
    }
}
