// SPDX-License-Identifier: GPL-2.0
/*
 * The seeds' test (README.md): a pipelined server that does all its I/O
 * through libsysmsg messages must give the same answers at every
 * per-process limit, however small, and never get stuck, thanks to the
 * library's fallback; without the fallback it gets stuck, which proves that
 * the test can fail.
 *
 * The server is a child process (so that its limits and counters start
 * fresh every run) with several worker threads, each with a struct sysmsg
 * (a file) of its own and a share of the connections (socketpairs). A
 * worker keeps a READ posted on each of its connections; for each request
 * line it computes a deterministic response (a per-connection sequence
 * number, a hash of everything the connection sent so far, the line
 * reversed) and WRITEs it with a message, posting the next READ in the same
 * batch. The clients are threads of the test: each sends its next request
 * only once it has the previous response, checks every response and keeps
 * all of them. Every run must produce the same transcripts (compared by a
 * digest); at the limit 2 the limit must have been hit (kernel counters)
 * and the fallback used (library counters); at a limit above anything the
 * server can have in flight, neither.
 *
 * Then the same at the limit 2 with SYSMSG_LIB_NO_FALLBACK: a refused
 * submit is retried once poll() reports POLLOUT, without reaping meanwhile
 * (what a naive program does); the process stays throttled and the test
 * must see no progress for SYSMSG_SERVER_STUCK_S seconds, kill the server
 * and report it stuck, as expected.
 *
 * Tunable with environment variables: SYSMSG_SERVER_CLIENTS (16),
 * SYSMSG_SERVER_REQUESTS (50 per client), SYSMSG_SERVER_WORKERS (4),
 * SYSMSG_SERVER_LIMITS ("1,2,4,16,1024"), SYSMSG_SERVER_STUCK_S (5).
 *
 * One caveat of the design, not of the library: a worker posts a READ on a
 * connection while the WRITE of its last response may still be in flight
 * in the kernel. In fallback mode that READ blocks the worker until the
 * client sends again, which it does once it has the whole response; a
 * *short* write, whose rest the worker would submit only after reaping its
 * reply, would then never complete. Socket writes of a few hundred bytes
 * into an empty socket buffer are not short.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "testlib.h"

#define MAX_CLIENTS 256
#define MAX_WORKERS 32
#define MAX_LIMITS 16
#define IN_MAX 512
#define OUT_MAX 2048
#define LINE_MAX_LEN 200

#define TAG_READ 1
#define TAG_WRITE 2

static int nclients = 16, nrequests = 50, nworkers = 4, stuck_s = 5;
static long long limits[MAX_LIMITS];
static int nlimits;

static int env_int(const char *name, int dflt, int min, int max)
{
	const char *v = getenv(name);
	long n;

	if (!v || !*v)
		return dflt;
	n = strtol(v, NULL, 0);
	if (n < min)
		n = min;
	if (n > max)
		n = max;
	return (int)n;
}

static uint32_t fnv32(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * 16777619U;
	return h;
}

static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * 1099511628211ULL;
	return h;
}

#define FNV32_BASIS 2166136261U
#define FNV64_BASIS 14695981039346656037ULL

/* The request line (with its '\n') of client @c, request @j. */
static size_t make_request(char *out, int c, int j)
{
	int len = 1 + (c * 37 + j * 11) % 90, k, n;

	n = snprintf(out, LINE_MAX_LEN, "c%d r%d ", c, j);
	for (k = 0; k < len; k++)
		out[n++] = (char)('a' + (c + j * 3 + k * 7) % 26);
	out[n++] = '\n';
	return n;
}

/*
 * The response to a request line @line (@len bytes with its '\n'), the
 * connection's @seq-th, when everything it sent so far hashes to @hash.
 */
static size_t make_response(char *out, unsigned int seq, uint32_t hash, const char *line,
			    size_t len)
{
	size_t n, i;

	n = snprintf(out, 32, "%u %08x ", seq, hash);
	for (i = 0; i + 1 < len; i++)
		out[n + i] = line[len - 2 - i];
	n += len - 1;
	out[n++] = '\n';
	return n;
}

/* ---- the server (a child process) ---- */

/* What the server reports to the test, in shared memory. */
struct report {
	int set_err;
	__u64 soft, hard;
	int failed;
	char why[160];
	unsigned long long async_ops, sync_ops, fallbacks, requests, retries;
	int stats_err;
	struct sysmsg_proc_stats st;
	long long fdinfo_hits, fdinfo_episodes, fdinfo_peak;
	int done;
};

static struct report *rep;

struct conn {
	int fd;
	char in[IN_MAX];
	size_t have;
	char out[OUT_MAX];
	size_t out_len, write_len;
	int reading, writing, eof, closed;
	unsigned int seq;
	uint32_t hash;
};

struct worker {
	int id, lib_flags;
	struct sysmsg s;
	struct conn *conns[MAX_CLIENTS];
	int nconns, active;
	unsigned long long requests, retries;
};

static struct conn *all_conns;
static pthread_mutex_t rep_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 1, 2)))
static void server_fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&rep_lock);
	if (!rep->failed) {
		rep->failed = 1;
		va_start(ap, fmt);
		vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&rep_lock);
}

/* Submits the whole batch; EAGAIN (only without the fallback) is retried at POLLOUT. */
static int flush(struct worker *w)
{
	struct pollfd pfd = { .fd = w->s.fd, .events = POLLOUT };
	int n;

	while (sysmsg_batch_count(&w->s)) {
		n = sysmsg_submit(&w->s);
		if (n > 0 && !w->s.submit_error)
			break;
		if (w->s.submit_error == EAGAIN) {
			/* The naive way: wait for room, without reaping meanwhile. */
			w->retries++;
			poll(&pfd, 1, 100);
			continue;
		}
		if (w->s.submit_error) {
			server_fail("worker %d: submit: %s", w->id, strerror(w->s.submit_error));
			return -1;
		}
	}
	return 0;
}

static struct sysmsg_msg *next_msg(struct worker *w)
{
	struct sysmsg_msg *m = sysmsg_get_msg(&w->s);

	if (!m && flush(w) == 0)
		m = sysmsg_get_msg(&w->s);
	return m;
}

/*
 * Posts what connection @k needs next: the WRITE of pending output, then the
 * next READ once every response produced is being written; closes it when
 * it is finished.
 */
static int post(struct worker *w, int k)
{
	struct conn *c = w->conns[k];
	struct sysmsg_msg *m;
	__u64 tag = (__u64)k << 4;

	if (c->closed)
		return 0;
	if (!c->writing && c->out_len) {
		m = next_msg(w);
		if (!m)
			return -1;
		sysmsg_prep_write(m, c->fd, c->out, c->out_len, tag | TAG_WRITE);
		c->writing = 1;
		c->write_len = c->out_len;
	}
	if (!c->reading && !c->eof && (!c->writing || c->write_len == c->out_len)) {
		if (c->have >= sizeof(c->in)) {
			server_fail("worker %d: a request longer than %zu bytes", w->id, sizeof(c->in));
			return -1;
		}
		m = next_msg(w);
		if (!m)
			return -1;
		sysmsg_prep_read(m, c->fd, c->in + c->have, sizeof(c->in) - c->have, tag | TAG_READ);
		c->reading = 1;
	}
	if (c->eof && !c->reading && !c->writing && !c->out_len) {
		close(c->fd);
		c->closed = 1;
		w->active--;
	}
	return 0;
}

static int on_reply(struct worker *w, const struct sysmsg_reply *r)
{
	unsigned int k = r->tag >> 4;
	struct conn *c;
	char *nl;
	size_t len;

	if (k >= (unsigned int)w->nconns || w->conns[k]->closed) {
		server_fail("worker %d: a reply with tag %#llx", w->id, (unsigned long long)r->tag);
		return -1;
	}
	c = w->conns[k];
	if ((r->tag & 15) == TAG_WRITE) {
		if (r->result <= 0 || (size_t)r->result > c->write_len) {
			server_fail("worker %d: WRITE: %lld", w->id, (long long)r->result);
			return -1;
		}
		memmove(c->out, c->out + r->result, c->out_len - r->result);
		c->out_len -= r->result;
		c->writing = 0;
		return 0;
	}
	c->reading = 0;
	if (r->result < 0) {
		server_fail("worker %d: READ: %s", w->id, strerror((int)-r->result));
		return -1;
	}
	if (!r->result) {
		c->eof = 1;
		return 0;
	}
	c->have += r->result;
	while ((nl = memchr(c->in, '\n', c->have))) {
		len = nl - c->in + 1;
		if (c->out_len + LINE_MAX_LEN + 32 > sizeof(c->out)) {
			server_fail("worker %d: output backlog", w->id);
			return -1;
		}
		c->hash = fnv32(c->hash, c->in, len);
		c->seq++;
		c->out_len += make_response(c->out + c->out_len, c->seq, c->hash, c->in, len);
		memmove(c->in, c->in + len, c->have - len);
		c->have -= len;
		w->requests++;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sysmsg_reply r[32];
	int k, n, i, ret;

	ret = sysmsg_open(&w->s, 128, w->lib_flags);
	if (ret < 0) {
		server_fail("worker %d: sysmsg_open: %s", w->id, strerror(-ret));
		return NULL;
	}
	w->active = w->nconns;
	for (k = 0; k < w->nconns; k++)
		if (post(w, k))
			goto out;
	while (!rep->failed) {
		if (flush(w))
			break;
		if (!w->active)
			break;
		n = sysmsg_wait(&w->s, r, ARRAY_SIZE(r));
		if (n == -EINTR)
			continue;
		if (n <= 0) {
			server_fail("worker %d: sysmsg_wait: %s", w->id, strerror(-n));
			break;
		}
		for (i = 0; i < n; i++)
			if (on_reply(w, &r[i]))
				goto out;
		for (k = 0; k < w->nconns; k++)
			if (post(w, k))
				goto out;
	}
out:
	pthread_mutex_lock(&rep_lock);
	rep->async_ops += w->s.async_ops;
	rep->sync_ops += w->s.sync_ops;
	rep->fallbacks += w->s.fallbacks;
	rep->requests += w->requests;
	rep->retries += w->retries;
	pthread_mutex_unlock(&rep_lock);
	sysmsg_close(&w->s);
	return NULL;
}

/* The server process: its limit, the workers, its counters. Never returns. */
static void server(const int *fds, long long limit, int lib_flags)
{
	static struct worker workers[MAX_WORKERS];
	pthread_t th[MAX_WORKERS];
	struct sysmsg ctl;
	int i, ret, started = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	ret = sysmsg_open(&ctl, 0, 0);
	if (ret < 0) {
		server_fail("sysmsg_open: %s", strerror(-ret));
		_exit(1);
	}
	rep->set_err = -sysmsg_set_limits(&ctl, 0, SYSMSG_LIMIT_SOFT, limit, 0);
	sysmsg_get_limits(&ctl, 0, &rep->soft, &rep->hard);

	all_conns = calloc(nclients, sizeof(*all_conns));
	if (!all_conns)
		_exit(1);
	memset(workers, 0, sizeof(workers));
	for (i = 0; i < nclients; i++) {
		struct worker *w = &workers[i % nworkers];

		all_conns[i].fd = fds[i];
		all_conns[i].hash = FNV32_BASIS;
		w->conns[w->nconns++] = &all_conns[i];
	}
	for (i = 0; i < nworkers; i++) {
		workers[i].id = i;
		workers[i].lib_flags = lib_flags;
		if (pthread_create(&th[i], NULL, worker_main, &workers[i]))
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (started < nworkers)
		server_fail("only %d of %d workers started", started, nworkers);

	/* The kernel's counters for this process, while it still uses sysmsg. */
	rep->stats_err = -sysmsg_proc_stats_pid(&ctl, 0, &rep->st);
	rep->fdinfo_hits = fdinfo_ll(0, ctl.fd, "sysmsg-limit-hits");
	rep->fdinfo_episodes = fdinfo_ll(0, ctl.fd, "sysmsg-throttle-episodes");
	rep->fdinfo_peak = fdinfo_ll(0, ctl.fd, "sysmsg-peak-inflight");
	sysmsg_close(&ctl);
	rep->done = 1;
	_exit(rep->failed ? 1 : 0);
}

/* ---- the clients (threads of the test) ---- */

struct client {
	int id, fd;
	char *transcript;
	size_t tlen;
	int answered, wrong, failed;
	char why[120];
	pthread_t th;
};

static struct client clients[MAX_CLIENTS];
static atomic_long progress;
static atomic_int clients_done;

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	char req[LINE_MAX_LEN + 2], want[LINE_MAX_LEN + 40], got[LINE_MAX_LEN + 40];
	uint32_t hash = FNV32_BASIS;
	size_t rlen, wlen, n;
	ssize_t k = 0;
	int j;

	for (j = 0; j < nrequests; j++) {
		rlen = make_request(req, c->id, j);
		hash = fnv32(hash, req, rlen);
		wlen = make_response(want, j + 1, hash, req, rlen);
		if (write_all(c->fd, req, rlen)) {
			snprintf(c->why, sizeof(c->why), "request %d: write: %s", j, strerror(errno));
			c->failed = 1;
			break;
		}
		n = 0;
		while (!n || got[n - 1] != '\n') {
			k = read(c->fd, got + n, sizeof(got) - n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0 || n + k >= sizeof(got))
				break;
			n += k;
		}
		if (!n || got[n - 1] != '\n') {
			snprintf(c->why, sizeof(c->why), "request %d: no response (%s)", j,
				 k < 0 ? strerror(errno) : "end of file");
			c->failed = 1;
			break;
		}
		if (n != wlen || memcmp(got, want, n)) {
			if (!c->wrong++)
				snprintf(c->why, sizeof(c->why), "request %d: response %.*s", j,
					 (int)(n - 1), got);
		}
		memcpy(c->transcript + c->tlen, got, n);
		c->tlen += n;
		c->answered++;
		atomic_fetch_add(&progress, 1);
	}
	/* Done: the server sees the end of file and closes its end. */
	shutdown(c->fd, SHUT_WR);
	while ((k = read(c->fd, got, sizeof(got))) > 0 || (k < 0 && errno == EINTR))
		;
	atomic_fetch_add(&clients_done, 1);
	return NULL;
}

/* ---- a run ---- */

struct run {
	long long limit;
	int fallback;
	int stuck, died, status, answered, wrong, failed_clients;
	double secs;
	uint64_t digest;
	struct report r;
	struct sysmsg_proc_stats stuck_st;
	int stuck_st_err;
};

static int devfd;

static void run_server(struct run *run)
{
	int sp[MAX_CLIENTS][2], server_fds[MAX_CLIENTS], i, status = 0, started = 0;
	long long t0, last_change, now;
	long last = -1, p;
	pid_t pid;

	memset(rep, 0, sizeof(*rep));
	atomic_store(&progress, 0);
	atomic_store(&clients_done, 0);
	for (i = 0; i < nclients; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp[i])) {
			run->failed_clients = nclients;
			return;
		}
		server_fds[i] = sp[i][1];
	}
	fflush(stdout);
	t0 = now_ns();
	pid = fork();
	if (pid == 0) {
		for (i = 0; i < nclients; i++)
			close(sp[i][0]);
		close(devfd);
		server(server_fds, run->limit, run->fallback ? 0 : SYSMSG_LIB_NO_FALLBACK);
	}
	for (i = 0; i < nclients; i++)
		close(sp[i][1]);
	if (pid < 0) {
		for (i = 0; i < nclients; i++)
			close(sp[i][0]);
		run->failed_clients = nclients;
		return;
	}
	for (i = 0; i < nclients; i++) {
		struct client *c = &clients[i];

		free(c->transcript);
		memset(c, 0, sizeof(*c));
		c->id = i;
		c->fd = sp[i][0];
		c->transcript = malloc((size_t)nrequests * (LINE_MAX_LEN + 40));
		if (!c->transcript)
			c->failed = 1;
	}
	for (i = 0; i < nclients; i++) {
		if (clients[i].failed || pthread_create(&clients[i].th, NULL, client_main, &clients[i]))
			break;
		started++;
	}
	/* Clients that did not start: their sockets close, so the server sees them end. */
	for (i = started; i < nclients; i++) {
		snprintf(clients[i].why, sizeof(clients[i].why), "not started");
		clients[i].failed = 1;
		close(clients[i].fd);
		clients[i].fd = -1;
	}

	/* Watch the progress: no response for stuck_s seconds is stuck. */
	last_change = now_ns();
	for (;;) {
		sleep_ms(50);
		now = now_ns();
		p = atomic_load(&progress);
		if (p != last) {
			last = p;
			last_change = now;
		}
		if (atomic_load(&clients_done) == started)
			break;
		if (now - last_change > stuck_s * NSEC_PER_SEC) {
			run->stuck = 1;
			run->stuck_st_err = proc_stats_of(devfd, pid, &run->stuck_st);
			kill(pid, SIGKILL);
			break;
		}
	}
	for (i = 0; i < started; i++) {
		pthread_join(clients[i].th, NULL);
		close(clients[i].fd);
	}
	run->died = waitpid(pid, &status, 0) != pid;
	run->status = status;
	run->secs = (now_ns() - t0) / 1e9;
	run->r = *rep;
	run->digest = FNV64_BASIS;
	run->failed_clients = 0;
	for (i = 0; i < nclients; i++) {
		struct client *c = &clients[i];

		run->answered += c->answered;
		run->wrong += c->wrong;
		if (c->failed || c->answered != nrequests) {
			if (run->failed_clients++ < 3 && !run->stuck)
				diag("client %d: %d of %d answered; %s", i, c->answered, nrequests,
				     c->why);
		}
		if (c->wrong && run->wrong == c->wrong)
			diag("client %d: %d wrong responses; first: %s", i, c->wrong, c->why);
		run->digest = fnv64(run->digest, &i, sizeof(i));
		if (c->transcript)
			run->digest = fnv64(run->digest, c->transcript, c->tlen);
	}
}

static void check_run(struct run *run, const struct run *first)
{
	const struct report *r = &run->r;
	long long total = (long long)nclients * nrequests;
	char what[48];

	snprintf(what, sizeof(what), "limit %lld", run->limit);
	diag("%s: %d requests in %.2f s: %.0f requests/s; library: %llu async, %llu sync (%llu fallback episodes, %llu submit retries); kernel: limit_hits %llu, throttle_episodes %llu, peak_inflight %llu",
	     what, run->answered, run->secs, run->answered / (run->secs > 0 ? run->secs : 1),
	     r->async_ops, r->sync_ops, r->fallbacks, r->retries,
	     (unsigned long long)r->st.limit_hits, (unsigned long long)r->st.throttle_episodes,
	     (unsigned long long)r->st.peak_inflight);
	tap_ok(!r->set_err && r->soft == (__u64)run->limit,
	       "%s: the server set its soft limit (soft %llu, hard %llu) (%s)", what,
	       (unsigned long long)r->soft, (unsigned long long)r->hard,
	       r->set_err ? strerror(r->set_err) : "ok");
	tap_ok(!run->stuck && run->answered == total && !run->wrong && !run->failed_clients,
	       "%s: all %lld requests answered correctly (%d answered, %d wrong, %d clients failed%s)",
	       what, total, run->answered, run->wrong, run->failed_clients,
	       run->stuck ? ", STUCK" : "");
	tap_ok(r->done && !r->failed && WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0,
	       "%s: the server finished without error (status %#x)%s%s", what, run->status,
	       r->failed ? ": " : "", r->why);
	tap_ok(r->done && !r->stats_err && r->st.peak_inflight <= (__u64)run->limit &&
		       r->st.submitted == r->async_ops,
	       "%s: PROC_STATS: never more than the limit in flight (peak %llu), submitted %llu == the library's async ops %llu",
	       what, (unsigned long long)r->st.peak_inflight, (unsigned long long)r->st.submitted,
	       r->async_ops);
	if (first)
		tap_ok(run->digest == first->digest,
		       "%s: the transcripts are identical to those at limit %lld (digest %016llx)", what,
		       first->limit, (unsigned long long)run->digest);
	if (run->limit == 2) {
		tap_ok(r->sync_ops > 0 && r->st.limit_hits > 0 && r->st.throttle_episodes > 0,
		       "%s: the limit was hit (limit_hits %llu, throttle_episodes %llu) and the fallback used (%llu sync ops)",
		       what, (unsigned long long)r->st.limit_hits,
		       (unsigned long long)r->st.throttle_episodes, r->sync_ops);
		tap_ok(r->fdinfo_hits == (long long)r->st.limit_hits &&
			       r->fdinfo_episodes == (long long)r->st.throttle_episodes &&
			       r->fdinfo_peak == (long long)r->st.peak_inflight,
		       "%s: fdinfo says the same (sysmsg-limit-hits %lld, sysmsg-throttle-episodes %lld, sysmsg-peak-inflight %lld)",
		       what, r->fdinfo_hits, r->fdinfo_episodes, r->fdinfo_peak);
	}
	if (run->limit >= 2LL * nclients + 2)
		tap_ok(r->sync_ops == 0 && r->st.limit_hits == 0,
		       "%s: above anything the server has in flight: no limit hit, no fallback (%llu, %llu)",
		       what, (unsigned long long)r->st.limit_hits, r->sync_ops);
}

int main(void)
{
	static struct run runs[MAX_LIMITS], stuck;
	char *env, *tok, *save, buf[256];
	struct sysmsg_info info;
	long long old = -1;
	int i, ret, first = -1;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	nclients = env_int("SYSMSG_SERVER_CLIENTS", 16, 1, MAX_CLIENTS);
	nrequests = env_int("SYSMSG_SERVER_REQUESTS", 50, 1, 1000000);
	nworkers = env_int("SYSMSG_SERVER_WORKERS", 4, 1, MAX_WORKERS);
	stuck_s = env_int("SYSMSG_SERVER_STUCK_S", 5, 1, 600);
	env = getenv("SYSMSG_SERVER_LIMITS");
	snprintf(buf, sizeof(buf), "%s", env && *env ? env : "1,2,4,16,1024");
	for (tok = strtok_r(buf, ", ", &save); tok && nlimits < MAX_LIMITS;
	     tok = strtok_r(NULL, ", ", &save))
		if (atoll(tok) > 0)
			limits[nlimits++] = atoll(tok);
	diag("%d clients x %d requests, %d workers, limits %s, stuck after %d s", nclients,
	     nrequests, nworkers, env && *env ? env : "1,2,4,16,1024", stuck_s);

	rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	devfd = dev_open();
	if (!tap_ok(devfd >= 0 && rep != MAP_FAILED, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	if (ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) || !(info.features & SYSMSG_FEATURE_LIMITS)) {
		tap_ok(1, "server # SKIP no SYSMSG_FEATURE_LIMITS");
		return tap_done();
	}
	sysctl_get("per_process_limits", &old);
	ret = sysctl_set_saved("per_process_limits", 1);
	if (!tap_ok(ret == 0, "kernel.sysmsg.per_process_limits = 1 (was %lld; restored at exit) (%s)",
		    old, ret ? strerror(-ret) : "ok"))
		return tap_done();

	for (i = 0; i < nlimits; i++) {
		runs[i].limit = limits[i];
		runs[i].fallback = 1;
		run_server(&runs[i]);
		check_run(&runs[i], first >= 0 ? &runs[first] : NULL);
		if (first < 0)
			first = i;
	}

	/* Without the fallback, the same server gets stuck at the limit 2. */
	stuck.limit = 2;
	stuck.fallback = 0;
	run_server(&stuck);
	diag("limit 2 without the fallback: %d of %lld requests answered in %.2f s; %s",
	     stuck.answered, (long long)nclients * nrequests, stuck.secs,
	     stuck.stuck ? "no progress: killed" : "finished");
	if (stuck.stuck && !stuck.stuck_st_err)
		diag("the server when it was killed: inflight %llu, throttled %d, limit_hits %llu",
		     (unsigned long long)stuck.stuck_st.inflight,
		     !!(stuck.stuck_st.flags & SYSMSG_PROC_THROTTLED),
		     (unsigned long long)stuck.stuck_st.limit_hits);
	tap_ok(stuck.stuck, "limit 2 without the fallback: stuck (no progress for %d s), as expected",
	       stuck_s);
	if (stuck.stuck && !stuck.stuck_st_err)
		tap_ok((stuck.stuck_st.flags & SYSMSG_PROC_THROTTLED) && stuck.stuck_st.inflight > 0,
		       "and the kernel says why: the server is throttled with %llu replies it does not reap",
		       (unsigned long long)stuck.stuck_st.inflight);

	sysctl_restore_all();
	close(devfd);
	return tap_done();
}
