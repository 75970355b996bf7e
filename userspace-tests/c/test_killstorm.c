// SPDX-License-Identifier: GPL-2.0
/*
 * The kill storm: a process's messages are aborted when it dies, however it
 * dies, even if another process keeps the file open.
 *
 * Each iteration forks a child that builds up messages of every kind in
 * flight from 1-4 threads and is killed with SIGKILL at a random moment:
 *  - the device file is opened by the parent before fork() (the child
 *    inherits it and the parent keeps it open, with a message of its own in
 *    flight, during the kill), or by the child itself, or both (the child
 *    then uses two files, one of them shared);
 *  - every thread submits, in a loop, batches (write(2) or SYSMSG_IOC_SUBMIT)
 *    of 60 s sleeps, READs of a pipe that is never written, WRITEs to a full
 *    pipe, PREAD/PWRITE/FSYNC/FDATASYNC of a 4 KiB file in /tmp and NOPs;
 *    threads other than the first also reap (blocking SYSMSG_IOC_REAP and
 *    NOWAIT), the first reaps with NOWAIT and issues SYSMSG_IOC_CANCEL of
 *    random recent tags now and then; so kills land mid-submit, mid-reap and
 *    mid-cancel, with or without the process at its limit;
 *  - the kill comes at once (the child may not even have opened the device),
 *    after 0-30 ms, or once the child has had >= 1000 messages accepted
 *    (then after 0-10 ms more).
 * After waitpid() the parent measures the time from kill() until
 * /proc/sys/kernel/sysmsg/nr_inflight is back to what it was before the
 * fork (polled every 1 ms, at most 20 s), checks that the child no longer
 * has an entry in SYSMSG_IOC_PROC_STATS and that the parent's own message on
 * the shared file is still in flight. At the end nr_inflight must equal the
 * baseline of the start and SYSMSG_IOC_PROC_STATS must count one process:
 * this one.
 *
 *   test_killstorm [--long] [--kills N] [--seed S] [--budget SECONDS]
 *
 * Quick mode (the default, as `make test` runs it): 100 kills, one TAP line
 * per 10 iterations plus summary lines, at most 450 s (the runner gives a
 * program 600 s). Long mode (--long or SYSMSG_STRESS=1 in the environment):
 * 1000 kills, summary lines only, no time budget. The seed (fixed by
 * default) is printed, so a run can be repeated. The last diagnostic line,
 * read by scripts/stress.sh, is
 *   # killstorm: kills=N submitted=N max_kill_to_zero_ms=X median_ms=X failures=N ...
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "testlib.h"

#define QUICK_KILLS 100
#define LONG_KILLS 1000
#define QUICK_BUDGET_S 450
#define DEFAULT_SEED 20250101ULL

#define ZERO_TIMEOUT_MS 20000		/* kill -> nr_inflight at its baseline */
#define ZERO_TIMEOUT_AFTER_FAILURE_MS 3000
#define STOP_AFTER_FAILURES 10		/* iterations; the kernel is broken then */
#define FULL_LOAD 1000			/* messages accepted before a "loaded" kill */
#define FULL_LOAD_WAIT_MS 5000
#define CHILD_SLEEP_S 60
#define FILE_SIZE 4096
#define PARENT_TAG 0x7a7a000000000000ULL

/* How the child gets its device file(s). */
enum open_mode { PARENT_OPENS, CHILD_OPENS, BOTH_OPEN, OPEN_MODES };
static const char *const open_mode_name[] = { "parent's file", "own file", "both files" };

/* Shared with the children (MAP_SHARED): what the current child did. */
struct shared {
	atomic_long submitted; /* messages accepted, over all its threads */
	atomic_int opened;     /* the child has its device file(s) */
};

static struct shared *sh;
static int ctlfd = -1;

/* xorshift64*, seeded through splitmix64: a reproducible stream per seed. */
static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform enough in 0..n-1 (n > 0). */
static unsigned int rnd(uint64_t *s, unsigned int n)
{
	return (unsigned int)((rng_next(s) >> 16) % n);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- the child ---- */

struct child {
	int fds[2], nfds;     /* the device files it submits to */
	int empty_r;          /* a pipe that is never written (its write end stays open) */
	int full_w;           /* a full pipe with its read end open, blocking */
	int regfd;            /* the 4 KiB file in /tmp */
	int nthreads;
	uint64_t seed;
};

struct worker {
	struct child *c;
	int idx;
	uint64_t rng;
	unsigned char buf[FILE_SIZE]; /* PREAD and pipe READ targets (written at reap) */
	unsigned char data[FILE_SIZE]; /* PWRITE and WRITE data */
};

/* The tags of worker @idx: (idx + 1) << 48 | counter. */
static __u64 child_tag(int idx, __u64 n)
{
	return ((__u64)(idx + 1) << 48) | n;
}

/* Never returns: loops submitting, reaping and cancelling until killed. */
static void *child_worker(void *arg)
{
	struct worker *w = arg;
	struct child *c = w->c;
	struct __kernel_timespec ts = { CHILD_SLEEP_S, 0 };
	struct sysmsg_msg m[64];
	struct sysmsg_reply r[64];
	struct sysmsg_submit sub;
	struct sysmsg_cancel can;
	__u64 ctr = 0;
	int i, n, fd, ret;

	memset(w->data, 0x5a, sizeof(w->data));
	for (;;) {
		n = 1 + rnd(&w->rng, 64);
		for (i = 0; i < n; i++) {
			__u64 tag = child_tag(w->idx, ctr++);

			switch (rnd(&w->rng, 9)) {
			case 0:
				sysmsg_prep_nop(&m[i], tag);
				break;
			case 1:
			case 2:
				sysmsg_prep_nanosleep(&m[i], &ts, 0, tag);
				break;
			case 3:
				sysmsg_prep_read(&m[i], c->empty_r, w->buf, 16, tag);
				break;
			case 4:
				sysmsg_prep_write(&m[i], c->full_w, w->data, 64, tag);
				break;
			case 5:
				sysmsg_prep_pread(&m[i], c->regfd, w->buf, FILE_SIZE, 0, tag);
				break;
			case 6:
				sysmsg_prep_pwrite(&m[i], c->regfd, w->data, FILE_SIZE, 0, tag);
				break;
			case 7:
				sysmsg_prep_fsync(&m[i], c->regfd, tag);
				break;
			default:
				sysmsg_prep_fdatasync(&m[i], c->regfd, tag);
				break;
			}
		}
		fd = c->fds[rnd(&w->rng, c->nfds)];
		if (rnd(&w->rng, 2)) {
			memset(&sub, 0, sizeof(sub));
			sub.msgs = (__u64)(uintptr_t)m;
			sub.count = n;
			ret = ioctl(fd, SYSMSG_IOC_SUBMIT, &sub);
		} else {
			ret = write(fd, m, n * sizeof(m[0]));
			if (ret > 0)
				ret /= sizeof(m[0]);
		}
		if (ret > 0)
			atomic_fetch_add(&sh->submitted, ret);
		else if (errno == EAGAIN)
			sleep_us(1000); /* at its limit: let the reapers make room */

		/* Reaping: blocking or not in the other threads, never blocking in the first. */
		if (w->idx > 0 && rnd(&w->rng, 3) == 0)
			sysmsg_reap_fd(fd, r, 64, 0, NULL);
		else if (w->idx > 0 || rnd(&w->rng, 2))
			sysmsg_reap_fd(fd, r, 64, SYSMSG_REAP_NOWAIT, NULL);

		/* The first thread cancels a random recent tag of any thread now and then. */
		if (w->idx == 0 && rnd(&w->rng, 4) == 0 && ctr) {
			memset(&can, 0, sizeof(can));
			can.tag = child_tag(rnd(&w->rng, c->nthreads), ctr - 1 - rnd(&w->rng, ctr < 256 ? ctr : 256));
			if (ioctl(fd, SYSMSG_IOC_CANCEL, &can) < 0) {
				/* EALREADY, ENOENT: the child only makes the traffic. */
			}
		}
	}
	return NULL;
}

/* Fills pipe @p (write end @w) until it would block, then makes @w blocking again. */
static int fill_pipe(int w)
{
	static const char chunk[4096];
	int fl = fcntl(w, F_GETFL);

	if (fl < 0 || fcntl(w, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	while (write(w, chunk, sizeof(chunk)) > 0)
		;
	while (write(w, chunk, 1) > 0)
		;
	return fcntl(w, F_SETFL, fl & ~O_NONBLOCK);
}

static __attribute__((noreturn)) void child_main(pid_t parent, int pfd, enum open_mode mode,
						  int nthreads, int regfd, uint64_t seed)
{
	struct child c;
	struct worker *w;
	pthread_t th;
	int empty[2], full[2], i;

	/* Die with the parent, whatever happens to it; and never outlive a lost kill. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(4);
	alarm(600);
	close(ctlfd);

	memset(&c, 0, sizeof(c));
	if (mode != CHILD_OPENS)
		c.fds[c.nfds++] = pfd;
	if (mode != PARENT_OPENS) {
		c.fds[c.nfds] = dev_open();
		if (c.fds[c.nfds] < 0)
			_exit(3);
		c.nfds++;
	}
	atomic_store(&sh->opened, 1);
	if (pipe2(empty, O_CLOEXEC) || pipe2(full, O_CLOEXEC))
		_exit(5);
	fcntl(full[1], F_SETPIPE_SZ, 4096);
	if (fill_pipe(full[1]))
		_exit(6);
	c.empty_r = empty[0];
	c.full_w = full[1];
	c.regfd = regfd;
	c.nthreads = nthreads;
	c.seed = seed;

	w = calloc(nthreads, sizeof(*w));
	if (!w)
		_exit(7);
	for (i = 0; i < nthreads; i++) {
		w[i].c = &c;
		w[i].idx = i;
		w[i].rng = splitmix64(seed + i) | 1;
	}
	for (i = 1; i < nthreads; i++)
		if (pthread_create(&th, NULL, child_worker, &w[i]))
			break;
	child_worker(&w[0]);
	_exit(8);
}

/* ---- the parent ---- */

/* waitpid() with a bound: 1 if it was reaped (status in *@status), 0 on timeout or error. */
static int wait_child(pid_t pid, int *status, long long deadline)
{
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
		if (now_ns() > deadline)
			return 0;
		sleep_us(1000);
	}
}

/* Polls nr_inflight every 1 ms until it equals @base: 1 and the time of it in *@t, or 0. */
static int wait_inflight(long long base, long long deadline, long long *t, long long *last)
{
	for (;;) {
		*last = nr_inflight();
		if (*last == base) {
			*t = now_ns();
			return 1;
		}
		if (now_ns() > deadline)
			return 0;
		sleep_us(1000);
	}
}

/* PROC_STATS with max = 0: how many processes use sysmsg, or -errno. */
static long long procs_total(void)
{
	struct sysmsg_stats q;

	memset(&q, 0, sizeof(q));
	if (ioctl(ctlfd, SYSMSG_IOC_PROC_STATS, &q) < 0)
		return -errno;
	return q.total;
}

/* Quick mode: one TAP line for the iterations since the last one. */
static void report_block(long *reported, long done, long *block_failures, double *block_max)
{
	tap_ok(!*block_failures,
	       "iterations %ld-%ld: nr_inflight back to baseline after every kill (longest %.1f ms)",
	       *reported + 1, done, *block_max);
	*reported = done;
	*block_failures = 0;
	*block_max = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--long] [--kills N] [--seed S] [--budget SECONDS]\n"
		"  quick mode (default): %d kills within %d s; --long or SYSMSG_STRESS=1: %d kills\n",
		argv0, QUICK_KILLS, QUICK_BUDGET_S, LONG_KILLS);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *env = getenv("SYSMSG_STRESS");
	int longmode = env && *env && strcmp(env, "0");
	long kills = -1, budget_s = -1;
	uint64_t seed = DEFAULT_SEED, rng;
	long long base0, base, t0, t_zero, last, start, deadline, bound_ms, v;
	long long submitted_total = 0, max_child_submitted = 0;
	long kills_done = 0, failures = 0, zero_failures = 0, child_errors = 0, stale = 0;
	long parent_failures = 0, full_load_kills = 0, early_kills = 0, block_failures = 0;
	long detailed = 0, i, fork_failures = 0, reported = 0;
	double *times, block_max = 0, max_ms = 0, median_ms = 0;
	int regfd, status, stop = 0, stopped_by_budget = 0;
	char path[32];
	pid_t parent = getpid();

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--long"))
			longmode = 1;
		else if (!strcmp(argv[i], "--kills") && i + 1 < argc)
			kills = strtol(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
			budget_s = strtol(argv[++i], NULL, 0);
		else
			usage(argv[0]);
	}
	if (kills < 0)
		kills = longmode ? LONG_KILLS : QUICK_KILLS;
	if (budget_s < 0)
		budget_s = longmode ? 0 : QUICK_BUDGET_S;
	if (kills < 1)
		usage(argv[0]);
	rng = splitmix64(seed) | 1;
	diag("killstorm: %s mode, %ld kills, seed %llu (repeat with --seed %llu)%s",
	     longmode ? "long" : "quick", kills, (unsigned long long)seed,
	     (unsigned long long)seed, budget_s ? "" : ", no time budget");
	if (budget_s)
		diag("time budget: %ld s (--budget)", budget_s);
	signal(SIGPIPE, SIG_IGN);

	ctlfd = dev_open();
	if (!tap_ok(ctlfd >= 0, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	base0 = nr_inflight();
	if (!tap_ok(base0 >= 0, "kernel.sysmsg.nr_inflight is readable (%lld)", base0))
		return tap_done();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	times = calloc(kills, sizeof(*times));
	regfd = tmpfile_open(path, O_RDWR | O_CLOEXEC);
	if (regfd >= 0)
		unlink(path);
	if (!tap_ok(sh != MAP_FAILED && times && regfd >= 0 && ftruncate(regfd, FILE_SIZE) == 0,
		    "set-up: shared counters, a %d-byte file in /tmp", FILE_SIZE))
		return tap_done();

	start = now_ns();
	for (i = 0; i < kills && !stop; i++) {
		enum open_mode mode = rnd(&rng, OPEN_MODES);
		int nthreads = 1 + rnd(&rng, 4), kmode = rnd(&rng, 10), pfd = -1, own_msg = 0;
		int ok_exit, ok_zero, ok_stale = 1, ok_parent = 1, waited;
		long delay_us = 0, at_kill;
		uint64_t child_seed = rng_next(&rng);
		struct sysmsg_proc_stats st;
		pid_t pid;

		if (budget_s && now_ns() - start > budget_s * NSEC_PER_SEC) {
			diag("the time budget of %ld s is used up after %ld kills: stopping (--budget)",
			     budget_s, kills_done);
			stopped_by_budget = 1;
			break;
		}
		if (mode != CHILD_OPENS) {
			struct __kernel_timespec ts = { CHILD_SLEEP_S, 0 };
			struct sysmsg_msg m;

			pfd = dev_open();
			if (pfd < 0) {
				diag("iteration %ld: open: %s", i + 1, strerror(errno));
				failures++;
				block_failures++;
				continue;
			}
			/* The parent's own message on the shared file: the child's death must not touch it. */
			sysmsg_prep_nanosleep(&m, &ts, 0, PARENT_TAG | i);
			own_msg = write(pfd, &m, sizeof(m)) == (ssize_t)sizeof(m);
		}
		atomic_store(&sh->submitted, 0);
		atomic_store(&sh->opened, 0);
		base = nr_inflight();
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			child_main(parent, pfd, mode, nthreads, regfd, child_seed);
		if (pid < 0) {
			diag("iteration %ld: fork: %s", i + 1, strerror(errno));
			fork_failures++;
			failures++;
			block_failures++;
			if (pfd >= 0)
				close(pfd);
			continue;
		}

		if (kmode == 0) {
			/* At once: the child may not have opened anything yet. */
		} else if (kmode <= 6) {
			delay_us = rnd(&rng, 30001);
			sleep_us(delay_us);
		} else {
			deadline = now_ns() + FULL_LOAD_WAIT_MS * NSEC_PER_MSEC;
			while (atomic_load(&sh->submitted) < FULL_LOAD && now_ns() < deadline)
				sleep_us(500);
			delay_us = rnd(&rng, 10001);
			sleep_us(delay_us);
		}
		at_kill = atomic_load(&sh->submitted);
		if (at_kill >= FULL_LOAD)
			full_load_kills++;
		if (!atomic_load(&sh->opened))
			early_kills++;

		bound_ms = zero_failures ? ZERO_TIMEOUT_AFTER_FAILURE_MS : ZERO_TIMEOUT_MS;
		t0 = now_ns();
		kill(pid, SIGKILL);
		deadline = t0 + bound_ms * NSEC_PER_MSEC;
		waited = wait_child(pid, &status, deadline);
		if (!waited) {
			/* A child that SIGKILL cannot end: the kernel is stuck; nothing later means much. */
			diag("iteration %ld: child %d did not exit within %lld ms of SIGKILL: stopping",
			     i + 1, pid, bound_ms);
			failures++;
			zero_failures++;
			block_failures++;
			kills_done++;
			stop = 1;
			break;
		}
		ok_exit = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		ok_zero = wait_inflight(base, deadline, &t_zero, &last);
		v = atomic_load(&sh->submitted);
		submitted_total += v;
		if (v > max_child_submitted)
			max_child_submitted = v;
		if (ok_zero) {
			times[kills_done] = (t_zero - t0) / 1e6;
			if (times[kills_done] > block_max)
				block_max = times[kills_done];
		}
		/* No entry of the dead child may be left in the process list. */
		for (;;) {
			int r = proc_stats_of(ctlfd, pid, &st);

			ok_stale = r == -ESRCH;
			if (ok_stale || now_ns() > deadline + 2 * NSEC_PER_SEC)
				break;
			sleep_us(1000);
		}
		if (pfd >= 0) {
			/* The opener's (this process's) queue on the shared file: its one sleep. */
			long long q = fdinfo_ll(0, pfd, "sysmsg-file-inflight");

			ok_parent = !own_msg || q == 1;
			if (!ok_parent && detailed < 20)
				diag("iteration %ld: the parent's own message on the shared file: sysmsg-file-inflight %lld (want 1)",
				     i + 1, q);
			close(pfd);
		}
		kills_done++;
		if (!ok_exit)
			child_errors++;
		if (!ok_zero)
			zero_failures++;
		if (!ok_stale)
			stale++;
		if (!ok_parent)
			parent_failures++;
		if (!ok_exit || !ok_zero || !ok_stale || !ok_parent) {
			failures++;
			block_failures++;
			if (detailed++ < 20)
				diag("iteration %ld (%s, %d threads, kill after %ld us with %ld accepted):%s%s%s%s nr_inflight %lld, baseline %lld",
				     i + 1, open_mode_name[mode], nthreads, delay_us, at_kill,
				     ok_exit ? "" : " the child did not die of SIGKILL;",
				     ok_zero ? "" : " nr_inflight not back to baseline within the bound;",
				     ok_stale ? "" : " its PROC_STATS entry outlived it;",
				     ok_parent ? "" : " the parent's message was disturbed;", last, base);
			if (!ok_exit && detailed < 20)
				diag("iteration %ld: child status %#x (exit codes: 3 open, 4 orphaned, 5-8 set-up)",
				     i + 1, status);
			if (failures >= STOP_AFTER_FAILURES) {
				diag("%ld failed iterations: stopping", failures);
				stop = 1;
			}
		}
		if (longmode && kills_done % 100 == 0)
			diag("%ld kills, %lld messages accepted by the children so far, %ld failures",
			     kills_done, submitted_total, failures);
		if (!longmode && (kills_done % 10 == 0 || stop || i + 1 == kills))
			report_block(&reported, kills_done, &block_failures, &block_max);
	}
	if (!longmode && kills_done > reported)
		report_block(&reported, kills_done, &block_failures, &block_max);

	/* The times of the kills that came back; the median of those. */
	{
		long n = 0, k;

		for (k = 0; k < kills_done; k++)
			if (times[k] > 0)
				times[n++] = times[k];
		if (n) {
			qsort(times, n, sizeof(*times), cmp_double);
			max_ms = times[n - 1];
			median_ms = n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
		}
	}
	diag("kill modes: %ld kills before the child had opened the device, %ld with >= %d messages accepted",
	     early_kills, full_load_kills, FULL_LOAD);
	diag("most messages accepted by one child: %lld", max_child_submitted);
	tap_ok(kills_done == kills || (stopped_by_budget && !failures),
	       "%ld of %ld kills done (seed %llu)%s", kills_done, kills, (unsigned long long)seed,
	       stopped_by_budget ? ", the rest cut by the time budget" : "");
	tap_ok(!zero_failures && kills_done > 0,
	       "after each of %ld kills nr_inflight was back to baseline within %d s (longest %.1f ms, median %.1f ms)",
	       kills_done, ZERO_TIMEOUT_MS / 1000, max_ms, median_ms);
	tap_ok(!child_errors && !fork_failures, "every child was killed by SIGKILL (%ld not, %ld forks failed)",
	       child_errors, fork_failures);
	tap_ok(!stale, "no killed process kept an entry in SYSMSG_IOC_PROC_STATS (%ld did)", stale);
	tap_ok(!parent_failures,
	       "the parent's own message on the file it shared with the child survived every kill (%ld not)",
	       parent_failures);
	tap_ok(submitted_total > 0 && full_load_kills > 0,
	       "the children had %lld messages accepted; %ld kills came with >= %d accepted",
	       submitted_total, full_load_kills, FULL_LOAD);

	/* Nothing left behind. */
	deadline = now_ns() + ZERO_TIMEOUT_MS * NSEC_PER_MSEC;
	v = -1;
	wait_inflight(base0, deadline, &t0, &v);
	tap_ok(v == base0, "at the end kernel.sysmsg.nr_inflight is back to its baseline %lld (%lld)", base0, v);
	v = procs_total();
	tap_ok(v == 1, "SYSMSG_IOC_PROC_STATS counts 1 process using sysmsg, this one (%lld)", v);
	close(ctlfd);

	diag("killstorm: kills=%ld submitted=%lld max_kill_to_zero_ms=%.1f median_ms=%.1f failures=%ld full_load_kills=%ld seed=%llu",
	     kills_done, submitted_total, max_ms, median_ms, failures, full_load_kills,
	     (unsigned long long)seed);
	return tap_done();
}
