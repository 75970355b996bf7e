//! The seeds' test: a pipelined server whose I/O is all sysmsg messages, run at process limits
//! from 1 to 1024. Its output must be byte-identical at every limit (the library's fallback keeps
//! it going when the kernel refuses); without the fallback, at limit 2, it gets stuck, and the
//! watchdog that would catch a stuck run catches it.
//!
//! The server keeps a READ posted on every connection: when a request arrives, its worker hands
//! it to a responder thread (which WRITEs the response) and posts the connection's next READ at
//! once. Each client sends its next request only after the whole previous response. So a READ
//! in flight may wait for a response that is not written yet: with a limit of 2, two such READs
//! fill the process's budget and the responses can never be submitted, unless the library
//! performs them itself (the fallback). Every run is a `fork()`ed child, so that its limit,
//! throttle and possible hang are its own; the counts are tunable (`SYSMSG_SERVER_CONNS`,
//! `SYSMSG_SERVER_ROUNDS`, `SYSMSG_SERVER_WORKERS`, `SYSMSG_SERVER_STALL_SECS`).

use std::{
    io::{Read as _, Write as _},
    net::Shutdown,
    os::unix::net::UnixStream,
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};
use sysmsg::{op, Batch, Reply, Sysmsg};
use sysmsg_tests::{serial, watch_child, Progress, Sysctls, Watched};

#[derive(Clone, Copy, Debug)]
struct Params {
    conns: usize,
    rounds: usize,
    workers: usize,
    responders: usize,
    stall: Duration,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

fn params() -> Params {
    Params {
        conns: env_or("SYSMSG_SERVER_CONNS", 12),
        rounds: env_or("SYSMSG_SERVER_ROUNDS", 16),
        workers: env_or("SYSMSG_SERVER_WORKERS", 3),
        responders: 2,
        stall: Duration::from_secs(env_or("SYSMSG_SERVER_STALL_SECS", 5) as u64),
    }
}

/// Request `seq` of connection `conn`: one line.
fn request(conn: usize, seq: usize) -> Vec<u8> {
    format!("GET {conn} {seq}\n").into_bytes()
}

/// The response to a request line (without its newline): one line of 20 to 330 bytes, all
/// determined by the request.
fn response(line: &[u8]) -> Vec<u8> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in line {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = b"OK ".to_vec();
    out.extend_from_slice(line);
    out.push(b' ');
    let len = 16 + (h % 300) as usize;
    out.extend((0..len).map(|i| b'a' + ((h >> (i % 50)) as u8).wrapping_add(i as u8) % 26));
    out.push(b'\n');
    out
}

/// What the clients must receive, in connection order.
fn expected(p: &Params) -> Vec<u8> {
    let mut out = Vec::new();
    for conn in 0..p.conns {
        for seq in 0..p.rounds {
            let req = request(conn, seq);
            out.extend(response(&req[..req.len() - 1]));
        }
    }
    out
}

/// A client: sends each request once it has the whole previous response, then ends its side and
/// expects nothing more. Returns what it received.
fn client(mut sock: UnixStream, conn: usize, rounds: usize, progress: &Progress) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for seq in 0..rounds {
        sock.write_all(&request(conn, seq)).expect("client write");
        let start = got.len();
        while !got[start..].contains(&b'\n') {
            let n = sock.read(&mut buf).expect("client read");
            assert!(n > 0, "conn {conn}: end of file before response {seq}");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(
            got.last(),
            Some(&b'\n'),
            "conn {conn}: bytes after response {seq}"
        );
        progress.bump();
    }
    sock.shutdown(Shutdown::Write).expect("shutdown");
    assert_eq!(
        sock.read(&mut buf).expect("read"),
        0,
        "conn {conn}: extra bytes"
    );
    got
}

/// What the responders do.
enum Job {
    /// Write the response to this request line.
    Respond(usize, Vec<u8>),
    /// Write the response from this offset on (after a short write).
    Rest(usize, usize),
}

#[derive(Default)]
struct ConnState {
    /// Bytes of a request not complete yet.
    inbuf: Vec<u8>,
    /// The response being written. (A WRITE writes a suffix of it; after a short one the
    /// client cannot have sent its next request, so the response is still this one.)
    out: Vec<u8>,
}

struct Server {
    sm: Sysmsg,
    socks: Vec<UnixStream>,
    state: Vec<Mutex<ConnState>>,
    /// Connections whose client has ended.
    closed: AtomicUsize,
}

const READ_LEN: usize = 512;

/// A READ's tag: the connection.
fn read_tag(conn: usize) -> u64 {
    (conn as u64) << 32
}

/// A WRITE's tag: the connection and the length written.
fn write_tag(conn: usize, len: usize) -> u64 {
    (conn as u64) << 32 | (len as u64) << 1 | 1
}

impl Server {
    fn done(&self) -> bool {
        self.closed.load(Ordering::SeqCst) == self.socks.len()
    }

    fn conn(&self, conn: usize) -> std::sync::MutexGuard<'_, ConnState> {
        self.state[conn].lock().unwrap()
    }

    /// Submits what it can; without the fallback a refusal with `EAGAIN` leaves the rest in the
    /// batch, to be tried again.
    fn submit(&self, batch: &mut Batch) {
        if let Err(e) = self.sm.submit(batch) {
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "submit: {e}");
        }
    }

    /// A worker: reaps replies; a request goes to the responders, then the connection's next
    /// READ is posted; a short WRITE goes back to the responders.
    fn worker(&self, jobs: mpsc::Sender<Job>) {
        let mut pending = Batch::new();
        loop {
            self.submit(&mut pending);
            let replies = self.sm.wait(1).expect("wait");
            if replies.is_empty() {
                if self.done() && pending.is_empty() {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            for r in replies {
                self.handle(r, &jobs, &mut pending);
            }
        }
    }

    fn handle(&self, r: Reply, jobs: &mpsc::Sender<Job>, pending: &mut Batch) {
        let conn = (r.tag() >> 32) as usize;
        let n = r
            .result()
            .unwrap_or_else(|e| panic!("{:?} of conn {conn}: {e}", r.opcode()));
        if r.tag() & 1 == 1 {
            let len = (r.tag() as u32 >> 1) as usize;
            if n < len {
                let start = self.conn(conn).out.len() - len + n;
                jobs.send(Job::Rest(conn, start)).expect("responders gone");
            }
            return;
        }
        if n == 0 {
            // The client has ended: end the server's side too.
            self.socks[conn].shutdown(Shutdown::Both).expect("shutdown");
            self.closed.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let mut buf = r.into_data().expect("read data");
        let mut st = self.conn(conn);
        st.inbuf.extend_from_slice(&buf);
        if let Some(end) = st.inbuf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = st.inbuf.drain(..=end).collect();
            assert!(
                st.inbuf.is_empty(),
                "conn {conn}: a request before the response"
            );
            drop(st);
            jobs.send(Job::Respond(conn, line[..end].to_vec()))
                .expect("responders gone");
        } else {
            drop(st);
        }
        buf.resize(READ_LEN, 0);
        let read = op::Read::with_buffer(&self.socks[conn], buf);
        pending.push(read.build().tag(read_tag(conn)));
        self.submit(pending);
    }

    /// A responder: WRITEs responses.
    fn responder(&self, jobs: &Mutex<mpsc::Receiver<Job>>) {
        let mut pending = Batch::new();
        loop {
            self.submit(&mut pending);
            if !pending.is_empty() {
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            let job = jobs.lock().unwrap().recv_timeout(Duration::from_millis(10));
            let (conn, data) = match job {
                Ok(Job::Respond(conn, line)) => {
                    let resp = response(&line);
                    self.conn(conn).out = resp.clone();
                    (conn, resp)
                }
                Ok(Job::Rest(conn, start)) => (conn, self.conn(conn).out[start..].to_vec()),
                Err(mpsc::RecvTimeoutError::Timeout) if !self.done() => continue,
                Err(_) => return,
            };
            let tag = write_tag(conn, data.len());
            pending.push(op::Write::new(&self.socks[conn], data).build().tag(tag));
        }
    }
}

/// One run, in the child: the server at process limit `limit`, the clients, and what came out:
/// a line of counters, then every client's transcript in connection order.
fn run(p: &Params, limit: u64, fallback: bool, progress: &Progress) -> Vec<u8> {
    let sm = Sysmsg::open().expect("open /dev/sysmsg");
    sm.set_fallback(fallback);
    let l = sm.set_limits(0, Some(limit), None).expect("SET_LIMITS");
    assert_eq!(l.soft, limit);
    assert_eq!(u64::from(sm.info().expect("info").queue_limit), limit);
    let (socks, clients): (Vec<_>, Vec<_>) = (0..p.conns)
        .map(|_| UnixStream::pair().expect("socketpair"))
        .unzip();
    let srv = Server {
        sm,
        state: socks.iter().map(|_| Mutex::default()).collect(),
        socks,
        closed: AtomicUsize::new(0),
    };
    let (tx, rx) = mpsc::channel();
    let rx = Mutex::new(rx);
    let transcripts: Vec<Vec<u8>> = thread::scope(|s| {
        let clients: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(conn, sock)| s.spawn(move || client(sock, conn, p.rounds, progress)))
            .collect();
        let mut threads = Vec::new();
        for _ in 0..p.workers {
            let tx = tx.clone();
            let srv = &srv;
            threads.push(s.spawn(move || srv.worker(tx)));
        }
        for _ in 0..p.responders {
            let (srv, rx) = (&srv, &rx);
            threads.push(s.spawn(move || srv.responder(rx)));
        }
        drop(tx);
        // The first READ of every connection. With the fallback, those past the limit are
        // read here, synchronously: every client sends its first request at once.
        let mut first: Batch = srv
            .socks
            .iter()
            .enumerate()
            .map(|(conn, sock)| op::Read::new(sock, READ_LEN).build().tag(read_tag(conn)))
            .collect();
        while !first.is_empty() {
            srv.submit(&mut first);
            if !first.is_empty() {
                thread::sleep(Duration::from_millis(1));
            }
        }
        for t in threads {
            t.join().expect("a server thread panicked");
        }
        clients
            .into_iter()
            .map(|c| c.join().expect("a client panicked"))
            .collect()
    });
    let stats = srv.sm.stats();
    let own = srv
        .sm
        .own_proc_stats()
        .expect("PROC_STATS")
        .expect("this process in PROC_STATS");
    let mut out = format!(
        "async={} sync={} episodes={} soft={} peak={} hits={} throttles={}\n",
        stats.async_ops,
        stats.sync_ops,
        stats.fallback_episodes,
        own.soft,
        own.peak_inflight,
        own.limit_hits,
        own.throttle_episodes
    )
    .into_bytes();
    for t in transcripts {
        out.extend(t);
    }
    out
}

/// The counters line of a run's output, as (name, value) pairs, and the rest.
fn split_output(out: &[u8]) -> (Vec<(String, u64)>, &[u8]) {
    let end = out
        .iter()
        .position(|&b| b == b'\n')
        .expect("a counters line");
    let line = String::from_utf8_lossy(&out[..end]).into_owned();
    let counters = line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("a number")))
        .collect();
    (counters, &out[end + 1..])
}

fn counter(counters: &[(String, u64)], name: &str) -> u64 {
    counters
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {counters:?}"))
        .1
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

#[test]
fn a_pipelined_server_gives_the_same_output_at_every_limit() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let p = params();
    let want = expected(&p);
    for limit in [1u64, 2, 4, 16, 1024] {
        let progress = Progress::new();
        let start = Instant::now();
        let out = match watch_child(&progress, p.stall, || Ok(run(&p, limit, true, &progress))) {
            Watched::Returned(Ok(out)) => out,
            other => panic!("limit {limit} ({p:?}): {other:?}"),
        };
        let (c, transcript) = split_output(&out);
        eprintln!("limit {limit}: {:?} in {:?}", c, start.elapsed());
        assert!(
            transcript == want,
            "limit {limit}: output differs at byte {} (got {} bytes, want {})",
            first_difference(transcript, &want),
            transcript.len(),
            want.len()
        );
        assert_eq!(counter(&c, "soft"), limit);
        assert!(counter(&c, "peak") <= limit, "limit {limit}: {c:?}");
        let total = counter(&c, "async") + counter(&c, "sync");
        assert!(
            total >= (2 * p.conns * p.rounds) as u64,
            "limit {limit}: too few operations: {c:?}"
        );
        if limit <= 2 {
            assert!(counter(&c, "hits") > 0, "limit {limit}: never hit: {c:?}");
            assert!(counter(&c, "sync") > 0, "limit {limit}: no fallback: {c:?}");
        }
        if limit as usize >= 4 * p.conns {
            assert_eq!(counter(&c, "hits"), 0, "limit {limit}: {c:?}");
            assert_eq!(counter(&c, "sync"), 0, "limit {limit}: {c:?}");
        }
    }
}

/// Without the fallback the same server stops at limit 2: the watchdog sees no progress, and
/// the module shows the process at its limit. (So the test above can fail.)
#[test]
fn without_the_fallback_the_server_gets_stuck_at_limit_2() {
    let _serial = serial();
    let mut sysctls = Sysctls::new();
    sysctls.set("per_process_limits", 1);
    let p = params();
    let progress = Progress::new();
    let got = watch_child(&progress, p.stall, || Ok(run(&p, 2, false, &progress)));
    let Watched::Stalled {
        progress: done,
        stats,
        said,
    } = got
    else {
        panic!("the server did not get stuck: {got:?}");
    };
    assert!(said.is_empty(), "the stuck child said: {said}");
    assert!(
        done < (p.conns * p.rounds) as u64,
        "every response came: {done}"
    );
    let stats = stats.expect("the stuck child in PROC_STATS");
    eprintln!("stuck after {done} responses: {stats:?}");
    assert_eq!((stats.soft, stats.inflight), (2, 2), "{stats:?}");
    assert!(stats.limit_hits > 0, "{stats:?}");
}
