// SPDX-License-Identifier: GPL-2.0
/*
 * A process's session on a file ends with the process, or with its last
 * descriptor of the file, even while other processes keep the file open:
 * everything it has in flight is cancelled or dropped, the slots go back to
 * the global pool (kernel.sysmsg.nr_inflight returns to what it was), and
 * its entry leaves SYSMSG_IOC_PROC_STATS. The parent opens /dev/sysmsg
 * before every fork(), so the file itself is never released here, and it
 * keeps a 60 s sleep of its own in flight through each case, which must be
 * untouched afterwards (still counted, still cancellable).
 *
 * The cases, each a child with 1000 sleeps of 60 s, 50 READs of a pipe that
 * is never written and a few unreaped NOPs (unless said otherwise):
 *  - exit: _exit(0);
 *  - SIGKILL while the child is blocked in SYSMSG_IOC_REAP;
 *  - SIGKILL while it submits in a loop;
 *  - SIGSEGV (a write through a null pointer);
 *  - exit_group: exit(0) from the main thread after ~50 ms while 4 threads
 *    submit sleeps and pipe reads in loops;
 *  - close: the child closes its only descriptor and stays alive: the abort
 *    happens while it lives, and its PROC_STATS entry goes;
 *  - dup: a child that closes one of two descriptors of the file keeps
 *    everything in flight (nr_inflight unchanged after 100 ms), reapable and
 *    cancellable through the other;
 *  - exec without CLOEXEC: the exec'd image (this program, --exec-child)
 *    sees none of the old image's replies at its first use of the inherited
 *    descriptor, nr_inflight returns to the baseline, the old image's pipe
 *    READ stays stopped when data arrives (the data stays in the pipe), old
 *    tags are unknown (ENOENT), and its own NOP works; it reports its checks
 *    through a pipe;
 *  - exec with CLOEXEC: the exec itself (closing the last descriptor)
 *    aborts everything while the new image (--exec-sleep) lives on.
 * Operations on workers (a regular-file PREAD) may finish in the background,
 * so "back to the baseline" is a bounded poll (10 s, every 1 ms); the time
 * it took is printed.
 *
 * Then, as root, who may open the device: kernel.sysmsg.enabled (0 anyone,
 * 1 members of the group kernel.sysmsg.group or CAP_SYS_ADMIN, 2 nobody)
 * and kernel.sysmsg.group (-1 none): EPERM from open() when refused,
 * already open files keep working, the ranges (EINVAL outside), root only
 * for writing. Both are set back to 0 and -1 at the end, at exit and on the
 * usual fatal signals.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include "testlib.h"

#define NOBODY 65534
#define OTHER_ID 1000
#define LONG_MS 60000
#define SETTLE_MS 10000
#define N_SLEEPS 1000
#define N_READS 50
#define N_NOPS 5
#define N_LOAD (N_SLEEPS + N_READS + N_NOPS)
#define PARENT_TAG 0x9000

/* Tags of the exec case's old image, and of the new image's NOP. */
#define EXEC_PREAD_TAG 0x60000
#define EXEC_READ_TAG 0x60001
#define EXEC_SLEEP_TAG 0x60002
#define EXEC_NOP_TAG 0x60200
#define EXEC_NEW_TAG 0x61000
/* How many checks exec_child() reports. */
#define EXEC_CHECKS 11

static int devfd = -1;
/* Another open file of the parent's, for PROC_STATS through libsysmsg. */
static struct sysmsg lib = { .fd = -1 };
static pid_t main_pid;

static const char *errname(int e)
{
	if (e < 0)
		e = -e;
	return e ? strerrorname_np(e) : "0";
}

/* The PROC_STATS entry of @pid (0: this process): 0, -ESRCH, or -errno. */
static int stats_of(pid_t pid, struct sysmsg_proc_stats *st)
{
	if (lib.fd >= 0)
		return sysmsg_proc_stats_pid(&lib, pid, st);
	return proc_stats_of(devfd, pid, st);
}

/* SYSMSG_IOC_CANCEL: the number stopped, or -errno; the structure in *@c. */
static int cancel(int fd, __u64 tag, unsigned int flags, struct sysmsg_cancel *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	ret = sysmsg_cancel_fd(fd, tag, flags, c);
	return ret < 0 ? -errno : ret;
}

/* The buffer of every pipe READ a load submits (never written back). */
static char load_buf[64];

/*
 * Submits through @fd, tags from @tag0 on: @sleeps sleeps of 60 s, @reads
 * READs of @pipe_rd, @nops NOPs. Returns how many were accepted.
 */
static int load(int fd, int sleeps, int reads, int nops, int pipe_rd, __u64 tag0)
{
	struct __kernel_timespec ts = kts_ms(LONG_MS);
	struct sysmsg_msg m[64];
	int total = sleeps + reads + nops, done = 0, i, j, k, n;

	while (done < total) {
		k = total - done < 64 ? total - done : 64;
		for (i = 0; i < k; i++) {
			j = done + i;
			if (j < sleeps)
				sysmsg_prep_nanosleep(&m[i], &ts, 0, tag0 + j);
			else if (j < sleeps + reads)
				sysmsg_prep_read(&m[i], pipe_rd, load_buf, sizeof(load_buf), tag0 + j);
			else
				sysmsg_prep_nop(&m[i], tag0 + j);
		}
		n = raw_submit(fd, m, k, NULL);
		if (n <= 0)
			break;
		done += n;
		if (n < k)
			break;
	}
	return done;
}

/*
 * Polls every 1 ms, up to SETTLE_MS, until nr_inflight is @base and, if
 * @pid, PROC_STATS does not list @pid. Returns the time it took in ms, or -1.
 */
static long long wait_settled(long long base, pid_t pid)
{
	long long t0 = now_ns(), deadline = t0 + SETTLE_MS * NSEC_PER_MSEC, v;
	struct sysmsg_proc_stats st;
	int listed = 0;

	for (;;) {
		v = nr_inflight();
		listed = pid > 0 && stats_of(pid, &st) != -ESRCH;
		if (v == base && !listed)
			return (now_ns() - t0) / NSEC_PER_MSEC;
		if (now_ns() > deadline) {
			diag("not settled after %d ms: nr_inflight %lld (want %lld), pid %d %s", SETTLE_MS,
			     v, base, pid, listed ? "still listed" : "not listed");
			return -1;
		}
		sleep_ms(1);
	}
}

/* waitpid() for at most @ms (then SIGKILL and wait): 1 if it exited within it. */
static int waitpid_bounded(pid_t pid, int *status, int ms)
{
	long long deadline = now_ns() + ms * NSEC_PER_MSEC;
	pid_t w;

	*status = -1;
	while ((w = waitpid(pid, status, WNOHANG)) == 0 && now_ns() < deadline)
		sleep_ms(1);
	if (w == pid)
		return 1;
	diag("child %d still there after %d ms: killing it", pid, ms);
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return 0;
}

/* The state letter of /proc/<pid>/stat ('S', 'R', 'Z', ...), or '?'. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return '?';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* ---- checks made in a fork() child, reported by the parent ---- */



/* ---- checks made in an exec'd image, reported through a pipe ---- */

static int report_fd = -1;

__attribute__((format(printf, 2, 3)))
static int xcheck(int ok, const char *fmt, ...)
{
	char line[300];
	va_list ap;
	int n, i;

	n = snprintf(line, sizeof(line), "%d ", ok);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	for (i = n; line[i]; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[i++] = '\n';
	if (write(report_fd, line, i) != i) {
		/* The parent counts the lines: a missing one fails there. */
	}
	return ok;
}

#define xcheck(cond, ...)                                 \
	({                                                \
		int xcheck_cond_ = !!(cond);              \
		(xcheck)(xcheck_cond_, __VA_ARGS__);      \
	})

/* Reads the exec'd image's lines until EOF (60 s at most): one TAP line each. */
static int read_reports(int fd, const char *who)
{
	static char buf[16384];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long deadline = now_ns() + 60 * NSEC_PER_SEC;
	size_t len = 0;
	char *line, *next;
	ssize_t n;
	int count = 0;

	while (len < sizeof(buf) - 1) {
		long long left = (deadline - now_ns()) / NSEC_PER_MSEC;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			diag("%s: no EOF on the report pipe within 60 s", who);
			break;
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = 0;
	for (line = buf; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else
			next = line + strlen(line);
		tap_ok(line[0] == '1' && line[1] == ' ', "%s: exec'd image: %s", who,
		       line[0] && line[1] ? line + 2 : line);
		count++;
	}
	return count;
}

/* ---- a one-byte channel to a child ---- */

struct chan {
	int down[2], up[2]; /* parent -> child, child -> parent */
};

static int chan_open(struct chan *c)
{
	c->down[0] = c->down[1] = c->up[0] = c->up[1] = -1;
	return pipe2(c->down, O_CLOEXEC) || pipe2(c->up, O_CLOEXEC) ? -1 : 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void chan_close(struct chan *c)
{
	close_fd(&c->down[0]);
	close_fd(&c->down[1]);
	close_fd(&c->up[0]);
	close_fd(&c->up[1]);
}

/* ---- one case: the parent's side ---- */

struct scen {
	const char *what;
	long long base0, base; /* nr_inflight before and after the parent's sleep */
	__u64 ptag;	       /* the parent's sleep */
	struct chan c;
	pid_t pid;
};

/* The parent's 60 s sleep, the baseline, the channel. 1 if all went well. */
static int scen_begin(struct scen *s, const char *what)
{
	static int seq;
	struct __kernel_timespec ts = kts_ms(LONG_MS);
	struct sysmsg_msg m;
	int n;

	memset(s, 0, sizeof(*s));
	s->what = what;
	s->ptag = PARENT_TAG + ++seq;
	s->pid = -1;
	drain_replies(devfd);
	s->base0 = nr_inflight();
	sysmsg_prep_nanosleep(&m, &ts, 0, s->ptag);
	n = raw_submit(devfd, &m, 1, NULL);
	s->base = nr_inflight();
	if (!tap_ok(n == 1 && s->base0 >= 0 && s->base == s->base0 + 1,
		    "%s: the parent's 60 s sleep is in flight (nr_inflight %lld -> %lld)", what,
		    s->base0, s->base))
		return 0;
	if (chan_open(&s->c)) {
		tap_ok(0, "%s: pipes", what);
		return 0;
	}
	remote->n = 0;
	fflush(stdout);
	return 1;
}

/* In the child, first: only the inherited device file and the child's ends remain. */
static void child_start(struct scen *s)
{
	sysmsg_close(&lib);
	close_fd(&s->c.down[1]);
	close_fd(&s->c.up[0]);
}

/* In the parent, after fork(): 1 if the child exists. */
static int scen_forked(struct scen *s)
{
	close_fd(&s->c.down[0]);
	close_fd(&s->c.up[1]);
	if (!tap_ok(s->pid > 0, "%s: fork", s->what)) {
		chan_close(&s->c);
		return 0;
	}
	return 1;
}

/*
 * The child said it has submitted: PROC_STATS shows @want in flight for it
 * and nr_inflight is the baseline plus that (@want < 0: at least -@want,
 * the child is still submitting).
 */
static void check_loaded(struct scen *s, long long want)
{
	struct sysmsg_proc_stats st;
	long long v;
	int ret;

	memset(&st, 0, sizeof(st));
	ret = stats_of(s->pid, &st);
	v = nr_inflight();
	if (want >= 0)
		tap_ok(ret == 0 && st.inflight == (__u64)want && v == s->base + want,
		       "%s: the child has %lld in flight: PROC_STATS %llu, nr_inflight +%lld (%s)",
		       s->what, want, (unsigned long long)st.inflight, v - s->base, errname(ret));
	else
		tap_ok(ret == 0 && st.inflight >= (__u64)-want && v >= s->base - want,
		       "%s: the child has at least %lld in flight: PROC_STATS %llu, nr_inflight +%lld (%s)",
		       s->what, -want, (unsigned long long)st.inflight, v - s->base, errname(ret));
}

/* The settled state: nr_inflight, PROC_STATS of the child. One TAP line each. */
static void check_settled(struct scen *s, const char *when)
{
	struct sysmsg_proc_stats st;
	long long ms, v;
	int ret;

	ms = wait_settled(s->base, s->pid);
	v = nr_inflight();
	diag("%s: settled %s after %lld ms", s->what, when, ms);
	tap_ok(ms >= 0 && v == s->base,
	       "%s: %s, nr_inflight back to the baseline %lld (%lld; took %lld ms)", s->what, when,
	       s->base, v, ms);
	ret = stats_of(s->pid, &st);
	tap_ok(ret == -ESRCH, "%s: %s, PROC_STATS no longer lists pid %d (%s)", s->what, when, s->pid,
	       errname(ret));
}

/* After the child is gone: settled, and the parent's own sleep untouched. */
static void scen_end(struct scen *s)
{
	struct sysmsg_proc_stats st;
	struct sysmsg_cancel c;
	struct sysmsg_reply r;
	long long v;
	int ret, n;

	check_settled(s, "the child gone");
	memset(&st, 0, sizeof(st));
	ret = stats_of(0, &st);
	tap_ok(ret == 0 && st.inflight == 1,
	       "%s: the parent still has its one sleep in flight (PROC_STATS inflight %llu, %s)",
	       s->what, (unsigned long long)st.inflight, errname(ret));
	tap_ok(no_reply_for(devfd, 0), "%s: the parent has no reply (its sleep was not stopped)",
	       s->what);
	ret = cancel(devfd, s->ptag, 0, &c);
	memset(&r, 0, sizeof(r));
	n = reap_n(devfd, &r, 1, 5000);
	tap_ok(ret == 1 && n == 1 && r.tag == s->ptag && r.result == -ECANCELED,
	       "%s: the parent cancels its sleep: 1, its reply -ECANCELED (%d %s, result %lld)",
	       s->what, ret, errname(ret < 0 ? ret : 0), (long long)r.result);
	v = nr_inflight();
	tap_ok(v == s->base0, "%s: nr_inflight %lld, as before the case (%lld)", s->what, v, s->base0);
	chan_close(&s->c);
}

/* ---- the cases ---- */

/* _exit(0) with everything in flight. */
static void test_exit_plain(void)
{
	struct scen s;
	int status, waited;

	if (!scen_begin(&s, "exit"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		int p[2];

		child_start(&s);
		if (pipe2(p, O_CLOEXEC) || load(devfd, N_SLEEPS, N_READS, N_NOPS, p[0], 0x10000) != N_LOAD)
			_exit(2);
		chan_send(s.c.up[1]);
		chan_wait(s.c.down[0]);
		_exit(0);
	}
	if (!scen_forked(&s))
		return;
	if (tap_ok(chan_wait(s.c.up[0]), "exit: the child submitted 1000 sleeps, 50 pipe reads, 5 NOPs"))
		check_loaded(&s, N_LOAD);
	chan_send(s.c.down[1]);
	waited = waitpid_bounded(s.pid, &status, 30000);
	tap_ok(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "exit: the child exited with _exit(0) (status %#x)", status);
	scen_end(&s);
}

/* SIGKILL while blocked in SYSMSG_IOC_REAP. */
static void test_kill_in_reap(void)
{
	struct sysmsg_reply r;
	struct scen s;
	char state = '?', path[64], wchan[64] = "";
	int status, waited, i;

	if (!scen_begin(&s, "SIGKILL in REAP"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		int p[2], n;

		child_start(&s);
		if (pipe2(p, O_CLOEXEC) || load(devfd, N_SLEEPS, N_READS, 0, p[0], 0x20000) != N_SLEEPS + N_READS)
			_exit(2);
		chan_send(s.c.up[1]);
		n = raw_reap(devfd, &r, 1, 0);
		/* Killed in there; a return is a failure the parent sees. */
		_exit(n == 1 ? 3 : 4);
	}
	if (!scen_forked(&s))
		return;
	if (tap_ok(chan_wait(s.c.up[0]), "SIGKILL in REAP: the child submitted 1000 sleeps and 50 pipe reads"))
		check_loaded(&s, N_SLEEPS + N_READS);
	for (i = 0; i < 2000 && (state = proc_state(s.pid)) != 'S'; i++)
		sleep_ms(1);
	sleep_ms(50);
	state = proc_state(s.pid);
	snprintf(path, sizeof(path), "/proc/%d/wchan", s.pid);
	read_text(path, wchan, sizeof(wchan));
	tap_ok(state == 'S', "SIGKILL in REAP: the child sleeps in its blocking REAP (state %c, wchan %s)",
	       state, wchan);
	kill(s.pid, SIGKILL);
	waited = waitpid_bounded(s.pid, &status, 30000);
	tap_ok(waited && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	       "SIGKILL in REAP: the child died of SIGKILL, still in its REAP (status %#x)", status);
	scen_end(&s);
}

/* SIGKILL while submitting in a loop. */
static void test_kill_submitting(void)
{
	struct scen s;
	int status, waited;

	if (!scen_begin(&s, "SIGKILL while submitting"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		long long end = now_ns() + 30 * NSEC_PER_SEC, accepted = 0;
		__u64 tag = 0x30000;
		int p[2], n, sent = 0;

		child_start(&s);
		if (pipe2(p, O_CLOEXEC))
			_exit(2);
		while (now_ns() < end) {
			if (accepted < 8000)
				n = load(devfd, 6, 2, 2, p[0], tag); /* 8 stay in flight */
			else
				n = load(devfd, 0, 0, 4, p[0], tag); /* only NOPs, reaped */
			if (n > 0) {
				accepted += n;
				tag += n;
			}
			drain_replies(devfd);
			if (!sent && accepted >= 1200)
				sent = chan_send(s.c.up[1]);
		}
		_exit(3);
	}
	if (!scen_forked(&s))
		return;
	if (tap_ok(chan_wait(s.c.up[0]), "SIGKILL while submitting: the child submits in a loop"))
		check_loaded(&s, -900);
	sleep_ms(20);
	kill(s.pid, SIGKILL);
	waited = waitpid_bounded(s.pid, &status, 30000);
	tap_ok(waited && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	       "SIGKILL while submitting: the child died of SIGKILL (status %#x)", status);
	scen_end(&s);
}

/* A crash: SIGSEGV from a write through a null pointer. */
static void test_segv(void)
{
	struct scen s;
	int status, waited;

	if (!scen_begin(&s, "SIGSEGV"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		struct rlimit no_core = { 0, 0 };
		volatile uintptr_t null_addr = 0;
		int p[2];

		child_start(&s);
		signal(SIGSEGV, SIG_DFL);
		setrlimit(RLIMIT_CORE, &no_core);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (pipe2(p, O_CLOEXEC) || load(devfd, N_SLEEPS, N_READS, N_NOPS, p[0], 0x40000) != N_LOAD)
			_exit(2);
		chan_send(s.c.up[1]);
		chan_wait(s.c.down[0]);
		*(volatile int *)null_addr = 1;
		_exit(3);
	}
	if (!scen_forked(&s))
		return;
	if (tap_ok(chan_wait(s.c.up[0]), "SIGSEGV: the child submitted 1000 sleeps, 50 pipe reads, 5 NOPs"))
		check_loaded(&s, N_LOAD);
	chan_send(s.c.down[1]);
	waited = waitpid_bounded(s.pid, &status, 30000);
	tap_ok(waited && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
	       "SIGSEGV: the child died of SIGSEGV (status %#x)", status);
	scen_end(&s);
}

/* exit_group from the main thread while 4 threads submit. */
struct submitter {
	pthread_t th;
	int pipe_rd;
	__u64 tag;
};

static void *submitter_main(void *arg)
{
	struct submitter *sb = arg;
	long long end = now_ns() + 30 * NSEC_PER_SEC;
	int n;

	while (now_ns() < end) {
		n = load(devfd, 3, 1, 0, sb->pipe_rd, sb->tag);
		if (n > 0)
			sb->tag += n;
		else
			sleep_ms(1);
	}
	return NULL;
}

static void test_exit_group(void)
{
	struct scen s;
	int status, waited;

	if (!scen_begin(&s, "exit_group"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		static struct submitter sb[4];
		struct sysmsg_proc_stats st;
		int p[2], i, started = 0, ret;

		child_start(&s);
		if (pipe2(p, O_CLOEXEC))
			_exit(2);
		for (i = 0; i < 4; i++) {
			sb[i].pipe_rd = p[0];
			sb[i].tag = 0x50000 + i * 0x100000ULL;
			if (!pthread_create(&sb[i].th, NULL, submitter_main, &sb[i]))
				started++;
		}
		sleep_ms(50);
		memset(&st, 0, sizeof(st));
		ret = proc_stats_of(devfd, 0, &st);
		rcheck(started == 4 && ret == 0 && st.inflight > 0,
		       "4 threads submitting; after 50 ms %llu in flight (%s)",
		       (unsigned long long)st.inflight, errname(ret));
		fflush(stdout);
		exit(0); /* exit_group, while the threads submit */
	}
	if (!scen_forked(&s))
		return;
	waited = waitpid_bounded(s.pid, &status, 30000);
	report_remote("exit_group");
	tap_ok(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "exit_group: the child exited with exit(0) (status %#x)", status);
	scen_end(&s);
}

/* close() of the only descriptor while alive. */
static void test_close_alive(void)
{
	struct scen s;
	int status, waited, alive;

	if (!scen_begin(&s, "close"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		long long end = now_ns() + 60 * NSEC_PER_SEC;
		int p[2];

		child_start(&s);
		if (pipe2(p, O_CLOEXEC) || load(devfd, N_SLEEPS, N_READS, N_NOPS, p[0], 0x60000) != N_LOAD)
			_exit(2);
		chan_send(s.c.up[1]);
		chan_wait(s.c.down[0]);
		close(devfd);
		chan_send(s.c.up[1]);
		while (now_ns() < end) /* alive until killed */
			sleep_ms(100);
		_exit(3);
	}
	if (!scen_forked(&s))
		return;
	if (tap_ok(chan_wait(s.c.up[0]), "close: the child submitted 1000 sleeps, 50 pipe reads, 5 NOPs"))
		check_loaded(&s, N_LOAD);
	chan_send(s.c.down[1]);
	tap_ok(chan_wait(s.c.up[0]), "close: the child closed its only descriptor of the file");
	check_settled(&s, "the child alive");
	alive = waitpid(s.pid, &status, WNOHANG) == 0 && kill(s.pid, 0) == 0;
	tap_ok(alive, "close: the child is still alive");
	kill(s.pid, SIGKILL);
	waited = waitpid_bounded(s.pid, &status, 30000);
	tap_ok(waited && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	       "close: the child was killed afterwards (status %#x)", status);
	scen_end(&s);
}

/* dup(), then close one of the two: nothing is aborted. */
static void test_dup(void)
{
	struct scen s;
	int status, waited;

	if (!scen_begin(&s, "dup"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		struct sysmsg_proc_stats st;
		struct sysmsg_reply r[32];
		struct sysmsg_cancel c;
		const __u64 t0 = 0x70000;
		long long v0, v1;
		int p[2], d2, n, ret, i, ok;

		child_start(&s);
		d2 = dup(devfd);
		if (!rcheck(d2 >= 0 && pipe2(p, O_CLOEXEC) == 0, "dup, a pipe"))
			_exit(2);
		/* 20 sleeps (t0..t0+19), one pipe READ (t0+20). */
		n = load(devfd, 20, 1, 0, p[0], t0);
		v0 = nr_inflight();
		rcheck(n == 21, "21 messages through the first descriptor (%d)", n);
		close(devfd);
		sleep_ms(100);
		v1 = nr_inflight();
		memset(&st, 0, sizeof(st));
		ret = proc_stats_of(d2, 0, &st);
		rcheck(v1 == v0 && ret == 0 && st.inflight == 21,
		       "closed it, kept the dup: after 100 ms nr_inflight is unchanged (%lld -> %lld), 21 in flight (%llu)",
		       v0, v1, (unsigned long long)st.inflight);
		rcheck(no_reply_for(d2, 0), "no reply: nothing was stopped");
		ret = cancel(d2, t0, 0, &c);
		n = reap_n(d2, r, 1, 5000);
		rcheck(ret == 1 && n == 1 && r[0].tag == t0 && r[0].result == -ECANCELED,
		       "through the dup: a sleep is cancelled (%d) and its -ECANCELED reply reaped", ret);
		memset(load_buf, 0, sizeof(load_buf));
		ok = write(p[1], "hello", 5) == 5;
		n = reap_n(d2, r, 1, 5000);
		rcheck(ok && n == 1 && r[0].tag == t0 + 20 && r[0].result == 5 &&
			       !memcmp(load_buf, "hello", 5),
		       "the pipe READ completes when the pipe is written, reaped through the dup with its data (%lld)",
		       n == 1 ? (long long)r[0].result : -1LL);
		ret = cancel(d2, 0, SYSMSG_CANCEL_ALL, &c);
		n = reap_n(d2, r, 19, 5000);
		for (i = 0, ok = n == 19; i < n; i++)
			if (r[i].result != -ECANCELED || r[i].tag <= t0 || r[i].tag >= t0 + 20)
				ok = 0;
		rcheck(ret == 19 && ok && no_reply_for(d2, 50),
		       "CANCEL_ALL through the dup stops the other 19 (%d), all reaped (%d)", ret, n);
		/* Leave some in flight for the exit. */
		n = load(d2, 5, 0, 0, p[0], t0 + 100);
		rcheck(n == 5, "5 more sleeps through the dup, left in flight at exit (%d)", n);
		_exit(0);
	}
	if (!scen_forked(&s))
		return;
	waited = waitpid_bounded(s.pid, &status, 60000);
	report_remote("dup");
	tap_ok(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "dup: the child exited normally (status %#x)", status);
	scen_end(&s);
}

/* execve() keeping the descriptor: the new image starts with nothing of the old one's. */
static int exec_child(char **argv)
{
	struct sysmsg_proc_stats st;
	struct sysmsg_reply r[8];
	struct sysmsg_cancel c;
	struct sysmsg_msg m;
	int fd = atoi(argv[2]), pw = atoi(argv[3]), pr = atoi(argv[4]), n, ret;
	long long base = atoll(argv[6]), ms, v, t0;
	char ch = 0;

	report_fd = atoi(argv[5]);
	devfd = fd;
	n = raw_reap(fd, r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT);
	xcheck(n == -EAGAIN,
	       "the first use of the inherited descriptor, a NOWAIT REAP: EAGAIN, none of the old image's replies (the NOP's) (%d%s)",
	       n, n > 0 ? ", got some" : "");
	t0 = now_ns();
	ms = -1;
	while (now_ns() - t0 < SETTLE_MS * NSEC_PER_MSEC) {
		if (nr_inflight() == base) {
			ms = (now_ns() - t0) / NSEC_PER_MSEC;
			break;
		}
		sleep_ms(1);
	}
	v = nr_inflight();
	xcheck(ms >= 0 && v == base, "nr_inflight back to the parent's baseline %lld (%lld), after %lld ms",
	       base, v, ms);
	/* Listed (it has the file open) with nothing in flight, or not listed at all. */
	memset(&st, 0, sizeof(st));
	ret = proc_stats_of(fd, 0, &st);
	xcheck((ret == 0 && st.inflight == 0) || ret == -ESRCH,
	       "PROC_STATS: nothing in flight for this process (%s, inflight %llu)", errname(ret),
	       (unsigned long long)st.inflight);
	ret = cancel(fd, EXEC_SLEEP_TAG, 0, &c);
	xcheck(ret == -ENOENT, "CANCEL of an old image's sleep tag: ENOENT (%s)", errname(ret));
	ret = cancel(fd, EXEC_READ_TAG, 0, &c);
	xcheck(ret == -ENOENT, "CANCEL of the old image's pipe READ tag: ENOENT (%s)", errname(ret));
	ret = cancel(fd, 0, SYSMSG_CANCEL_ALL, &c);
	xcheck(ret == 0 && c.cancelled == 0 && c.already == 0, "CANCEL_ALL: 0 (%d %s)", ret,
	       errname(ret < 0 ? ret : 0));
	n = write(pw, "z", 1);
	xcheck(n == 1 && no_reply_for(fd, 200),
	       "data written to the old image's READ pipe brings no reply within 200 ms");
	fcntl(pr, F_SETFL, O_NONBLOCK);
	n = read(pr, &ch, 1);
	xcheck(n == 1 && ch == 'z', "the byte is still in the pipe: the old READ took nothing (%d)", n);
	sysmsg_prep_nop(&m, EXEC_NEW_TAG);
	n = raw_submit(fd, &m, 1, NULL);
	v = nr_inflight();
	xcheck(n == 1 && v == base + 1, "its own NOP is accepted: nr_inflight %lld (baseline + 1)", v);
	memset(r, 0, sizeof(r));
	n = reap_n(fd, r, 1, 5000);
	xcheck(n == 1 && r[0].tag == EXEC_NEW_TAG && r[0].opcode == SYSMSG_OP_NOP && r[0].result == 0 &&
		       no_reply_for(fd, 50),
	       "and reaped: exactly its reply (tag %#llx, result %lld)", (unsigned long long)r[0].tag,
	       (long long)r[0].result);
	v = nr_inflight();
	xcheck(v == base, "nr_inflight back to %lld (%lld)", base, v);
	return 0;
}

static void test_exec_keep(int ffd)
{
	struct scen s;
	int rp[2], status, waited, count;

	if (!scen_begin(&s, "exec without CLOEXEC"))
		return;
	if (pipe2(rp, O_CLOEXEC)) {
		tap_ok(0, "exec without CLOEXEC: a report pipe");
		chan_close(&s.c);
		return;
	}
	s.pid = fork();
	if (s.pid == 0) {
		struct __kernel_timespec ts = kts_ms(LONG_MS);
		static struct sysmsg_msg m[103];
		static char buf[4096];
		char a[5][16];
		int fd, p[2], rep, i;

		child_start(&s);
		close(rp[0]);
		/* The only descriptor of the file: without O_CLOEXEC; so are the pipe's. */
		fd = dup(devfd);
		close(devfd);
		rep = dup(rp[1]);
		if (fd < 0 || rep < 0 || pipe(p))
			_exit(2);
		sysmsg_prep_pread(&m[0], ffd, buf, sizeof(buf), 0, EXEC_PREAD_TAG);
		sysmsg_prep_read(&m[1], p[0], buf, 16, EXEC_READ_TAG);
		for (i = 0; i < 100; i++)
			sysmsg_prep_nanosleep(&m[2 + i], &ts, 0, EXEC_SLEEP_TAG + i);
		sysmsg_prep_nop(&m[102], EXEC_NOP_TAG);
		if (raw_submit(fd, m, 103, NULL) != 103)
			_exit(3);
		chan_send(s.c.up[1]);
		chan_wait(s.c.down[0]);
		snprintf(a[0], sizeof(a[0]), "%d", fd);
		snprintf(a[1], sizeof(a[1]), "%d", p[1]);
		snprintf(a[2], sizeof(a[2]), "%d", p[0]);
		snprintf(a[3], sizeof(a[3]), "%d", rep);
		snprintf(a[4], sizeof(a[4]), "%lld", s.base);
		execl("/proc/self/exe", "test_exit", "--exec-child", a[0], a[1], a[2], a[3], a[4],
		      (char *)NULL);
		_exit(5);
	}
	close(rp[1]);
	if (!scen_forked(&s)) {
		close(rp[0]);
		return;
	}
	if (tap_ok(chan_wait(s.c.up[0]),
		   "exec without CLOEXEC: the child submitted a file PREAD, a pipe READ, 100 sleeps, a NOP"))
		check_loaded(&s, 103);
	chan_send(s.c.down[1]);
	count = read_reports(rp[0], "exec without CLOEXEC");
	close(rp[0]);
	waited = waitpid_bounded(s.pid, &status, 30000);
	tap_ok(count == EXEC_CHECKS, "exec without CLOEXEC: the exec'd image made its %d checks (%d)",
	       EXEC_CHECKS, count);
	tap_ok(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "exec without CLOEXEC: the exec'd image exited normally (status %#x)", status);
	scen_end(&s);
}

/* The exec'd image that touches no sysmsg file: says it runs, then lives until killed. */
static int exec_sleep(int alive)
{
	long long end = now_ns() + 60 * NSEC_PER_SEC;

	if (write(alive, "a", 1) != 1)
		return 1;
	while (now_ns() < end)
		sleep_ms(100);
	return 0;
}

/* execve() with the descriptor close-on-exec: the exec aborts everything. */
static void test_exec_cloexec(int ffd)
{
	struct scen s;
	int status, waited, alive;

	if (!scen_begin(&s, "exec with CLOEXEC"))
		return;
	s.pid = fork();
	if (s.pid == 0) {
		static char buf[4096];
		struct sysmsg_msg m;
		char a[16];
		int p[2], up;

		child_start(&s);
		/* devfd is O_CLOEXEC (dev_open), and the child's only descriptor of the file. */
		up = dup(s.c.up[1]);
		if (up < 0 || pipe2(p, O_CLOEXEC) ||
		    load(devfd, N_SLEEPS, N_READS, N_NOPS, p[0], 0x80000) != N_LOAD)
			_exit(2);
		sysmsg_prep_pread(&m, ffd, buf, sizeof(buf), 0, 0x80000 + N_LOAD);
		if (raw_submit(devfd, &m, 1, NULL) != 1)
			_exit(3);
		chan_send(s.c.up[1]);
		chan_wait(s.c.down[0]);
		snprintf(a, sizeof(a), "%d", up);
		execl("/proc/self/exe", "test_exit", "--exec-sleep", a, (char *)NULL);
		_exit(5);
	}
	if (!scen_forked(&s))
		return;
	if (tap_ok(chan_wait(s.c.up[0]),
		   "exec with CLOEXEC: the child submitted 1000 sleeps, 50 pipe reads, 5 NOPs, a file PREAD"))
		check_loaded(&s, N_LOAD + 1);
	chan_send(s.c.down[1]);
	tap_ok(chan_wait(s.c.up[0]), "exec with CLOEXEC: the exec'd image runs");
	check_settled(&s, "the exec'd image alive");
	alive = waitpid(s.pid, &status, WNOHANG) == 0 && kill(s.pid, 0) == 0;
	tap_ok(alive, "exec with CLOEXEC: the exec'd image is still alive");
	kill(s.pid, SIGKILL);
	waited = waitpid_bounded(s.pid, &status, 30000);
	tap_ok(waited && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	       "exec with CLOEXEC: killed afterwards (status %#x)", status);
	scen_end(&s);
}

/* ---- kernel.sysmsg.enabled and kernel.sysmsg.group ---- */

/* Identities a child takes before it opens the device. */
enum who {
	AS_ROOT,	  /* unchanged: uid 0 with every capability */
	AS_ROOT_NO_ADMIN, /* uid 0 without CAP_SYS_ADMIN */
	AS_NOBODY,	  /* uid/gid 65534, no supplementary groups */
	AS_MEMBER,	  /* uid/gid 1000, supplementary group 65534 */
	AS_OTHER,	  /* uid/gid 1000, no supplementary groups */
};

static const char *const who_name[] = {
	[AS_ROOT] = "root",
	[AS_ROOT_NO_ADMIN] = "root without CAP_SYS_ADMIN",
	[AS_NOBODY] = "uid/gid 65534",
	[AS_MEMBER] = "uid/gid 1000 with supplementary group 65534",
	[AS_OTHER] = "uid/gid 1000, no groups",
};

static int become(uid_t uid, gid_t gid, size_t ngroups, const gid_t *groups)
{
	return setgroups(ngroups, groups) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)
		       ? -1
		       : 0;
}

#define OPEN_SETUP_FAILED 250
#define OPEN_NOP_FAILED 251
#define OPEN_TIMEOUT 252

/*
 * A child takes identity @who and opens the device: 0 if it could (and a
 * NOP went through it), else the errno of open(), or OPEN_* for a failure
 * of another kind.
 */
static int open_as(enum who who)
{
	int status, waited;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		gid_t g = NOBODY;
		struct sysmsg_reply r;
		struct sysmsg_msg m;
		int fd, e, bad = 0;

		sysmsg_close(&lib);
		close(devfd);
		switch (who) {
		case AS_ROOT:
			break;
		case AS_ROOT_NO_ADMIN:
			bad = drop_cap(CAP_SYS_ADMIN);
			break;
		case AS_NOBODY:
			bad = become(NOBODY, NOBODY, 0, NULL);
			break;
		case AS_MEMBER:
			bad = become(OTHER_ID, OTHER_ID, 1, &g);
			break;
		case AS_OTHER:
			bad = become(OTHER_ID, OTHER_ID, 0, NULL);
			break;
		}
		if (bad)
			_exit(OPEN_SETUP_FAILED);
		fd = open(SYSMSG_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
			_exit(e > 0 && e < OPEN_SETUP_FAILED ? e : OPEN_SETUP_FAILED);
		}
		sysmsg_prep_nop(&m, 1);
		if (raw_submit(fd, &m, 1, NULL) != 1 || reap_n(fd, &r, 1, 5000) != 1 || r.tag != 1)
			_exit(OPEN_NOP_FAILED);
		_exit(0);
	}
	if (pid < 0)
		return OPEN_SETUP_FAILED;
	waited = waitpid_bounded(pid, &status, 30000);
	if (!waited)
		return OPEN_TIMEOUT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : OPEN_SETUP_FAILED;
}

static const char *open_result(int r)
{
	static char buf[32];

	switch (r) {
	case 0:
		return "opened";
	case OPEN_SETUP_FAILED:
		return "could not set up the identity";
	case OPEN_NOP_FAILED:
		return "opened, but a NOP failed";
	case OPEN_TIMEOUT:
		return "timed out";
	}
	snprintf(buf, sizeof(buf), "%s", errname(r));
	return buf;
}

static void check_open_as(enum who who, int want, const char *setting)
{
	int r = open_as(who);

	tap_ok(r == want, "%s: %s %s (%s)", setting, who_name[who],
	       want ? "is refused with EPERM" : "opens /dev/sysmsg and submits a NOP",
	       open_result(r));
}

/* open() by this process (root): 0 if it opened, else the errno. */
static int open_self(void)
{
	int fd = open(SYSMSG_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* The already open files of this process still work: a NOP through each. */
static int open_files_work(void)
{
	struct sysmsg_reply r;
	struct sysmsg_msg m;

	sysmsg_prep_nop(&m, 0xa11);
	return raw_submit(devfd, &m, 1, NULL) == 1 && reap_n(devfd, &r, 1, 5000) == 1 &&
	       r.tag == 0xa11 && r.result == 0 && sysmsg_nop_sync(&lib) == 0;
}

/* A fork() child can use the inherited file: 1 if its NOP went through. */
static int inherited_works(void)
{
	int status, waited;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct sysmsg_reply r;
		struct sysmsg_msg m;

		sysmsg_prep_nop(&m, 0xa12);
		_exit(raw_submit(devfd, &m, 1, NULL) == 1 && reap_n(devfd, &r, 1, 5000) == 1 &&
				      r.tag == 0xa12
			      ? 0
			      : 1);
	}
	if (pid < 0)
		return 0;
	waited = waitpid_bounded(pid, &status, 30000);
	return waited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* An unprivileged process cannot write the sysctls: 1 if refused (EACCES or EPERM). */
static int unprivileged_write_refused(const char *name, const char *value)
{
	int status, waited;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int r;

		if (become(NOBODY, NOBODY, 0, NULL))
			_exit(2);
		r = sysctl_put(name, value);
		_exit(r == -EACCES || r == -EPERM ? 0 : 1);
	}
	if (pid < 0)
		return 0;
	waited = waitpid_bounded(pid, &status, 30000);
	return waited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Write back enabled = 0, group = -1 (at exit, in the main process only). */
static void restore_access(void)
{
	int fd;

	if (getpid() != main_pid)
		return;
	fd = open(SYSCTL_DIR "enabled", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "0\n", 2) != 2) {
			/* Nothing better to do. */
		}
		close(fd);
	}
	fd = open(SYSCTL_DIR "group", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "-1\n", 3) != 3) {
			/* Nothing better to do. */
		}
		close(fd);
	}
}

/* Sets a sysctl (remembering its first value for the exit); 1 if it reads back @v. */
static int set_access(const char *name, long long v)
{
	long long got = v + 1;

	return sysctl_set_saved(name, v) == 0 && sysctl_get(name, &got) == 0 && got == v;
}

static void test_access(void)
{
	static const struct {
		const char *name, *value;
	} bad[] = {
		{ "enabled", "3" },	     { "enabled", "-1" },	  { "enabled", "abc" },
		{ "group", "-2" },	     { "group", "2147483648" }, { "group", "-2147483648" },
	};
	long long enabled = -9, group = -9, v = -9, w = -9;
	struct stat st;
	unsigned int i;
	int ret;

	if (geteuid() != 0) {
		tap_ok(1, "access # SKIP not root");
		return;
	}
	ret = sysctl_get("enabled", &enabled);
	tap_ok(ret == 0 && enabled == 0, "kernel.sysmsg.enabled is 0, the default (%lld, %s)", enabled,
	       errname(ret));
	ret = sysctl_get("group", &group);
	tap_ok(ret == 0 && group == -1, "kernel.sysmsg.group is -1, the default (%lld, %s)", group,
	       errname(ret));
	tap_ok(stat(SYSCTL_DIR "enabled", &st) == 0 && (st.st_mode & 07777) == 0644 &&
		       stat(SYSCTL_DIR "group", &st) == 0 && (st.st_mode & 07777) == 0644,
	       "kernel.sysmsg.enabled and group: mode 0644");
	/* Remembered for the exit (and signals): the values they had. */
	if (!tap_ok(set_access("group", -1) && set_access("enabled", 0),
		    "access: enabled 0, group -1 set (and saved)"))
		return;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		sysctl_get(bad[i].name, &v);
		ret = sysctl_put(bad[i].name, bad[i].value);
		w = v + 1;
		sysctl_get(bad[i].name, &w);
		tap_ok(ret == -EINVAL && w == v, "kernel.sysmsg.%s = %s: EINVAL, the value stays %lld (%s, %lld)",
		       bad[i].name, bad[i].value, v, errname(ret), w);
	}
	tap_ok(set_access("group", 2147483647) && set_access("group", 0) && set_access("group", -1),
	       "kernel.sysmsg.group takes 2147483647, 0 and -1");
	tap_ok(set_access("enabled", 1) && set_access("enabled", 2) && set_access("enabled", 0),
	       "kernel.sysmsg.enabled takes 1, 2 and 0");
	tap_ok(unprivileged_write_refused("enabled", "2") && unprivileged_write_refused("group", "65534"),
	       "uid 65534 cannot write enabled or group");
	tap_ok(sysctl_get("enabled", &v) == 0 && v == 0 && sysctl_get("group", &w) == 0 && w == -1,
	       "and they stay 0 and -1 (%lld, %lld)", v, w);

	/* enabled = 0: everyone. */
	check_open_as(AS_NOBODY, 0, "enabled 0");
	check_open_as(AS_OTHER, 0, "enabled 0");

	/* enabled = 2: nobody, not even root; open files keep working. */
	if (tap_ok(set_access("enabled", 2), "enabled = 2")) {
		ret = open_self();
		tap_ok(ret == EPERM, "enabled 2: root's open() fails with EPERM (%s)", errname(ret));
		check_open_as(AS_NOBODY, EPERM, "enabled 2");
		tap_ok(open_files_work(), "enabled 2: files open before still submit and reap NOPs");
		tap_ok(inherited_works(), "enabled 2: a fork() child uses its inherited file");
		set_access("group", NOBODY);
		check_open_as(AS_NOBODY, EPERM, "enabled 2, group 65534");
		set_access("group", -1);
	}

	/* enabled = 1: CAP_SYS_ADMIN or the group. */
	if (tap_ok(set_access("enabled", 1), "enabled = 1")) {
		ret = open_self();
		tap_ok(ret == 0, "enabled 1, group -1: root (CAP_SYS_ADMIN) opens (%s)", errname(ret));
		check_open_as(AS_ROOT, 0, "enabled 1, group -1");
		check_open_as(AS_NOBODY, EPERM, "enabled 1, group -1");
		check_open_as(AS_ROOT_NO_ADMIN, EPERM, "enabled 1, group -1");
		tap_ok(set_access("group", NOBODY), "group = 65534");
		check_open_as(AS_NOBODY, 0, "enabled 1, group 65534");
		check_open_as(AS_MEMBER, 0, "enabled 1, group 65534");
		check_open_as(AS_OTHER, EPERM, "enabled 1, group 65534");
		ret = open_self();
		tap_ok(ret == 0, "enabled 1, group 65534: root still opens (%s)", errname(ret));
		tap_ok(open_files_work(), "enabled 1: files open before still work");
	}

	/* Back to enabled = 0, the group still set: everyone again. */
	if (tap_ok(set_access("enabled", 0), "enabled = 0")) {
		check_open_as(AS_OTHER, 0, "enabled 0, group 65534");
		check_open_as(AS_NOBODY, 0, "enabled 0, group 65534");
	}
	tap_ok(set_access("group", -1) && set_access("enabled", 0),
	       "kernel.sysmsg.enabled and group restored to 0 and -1");
	check_open_as(AS_OTHER, 0, "restored");
}

int main(int argc, char **argv)
{
	struct sysmsg_info info;
	struct sysmsg_cancel c;
	long long base0, v;
	char path[64];
	int ffd, ret;

	if (argc == 7 && !strcmp(argv[1], "--exec-child"))
		return exec_child(argv);
	if (argc == 3 && !strcmp(argv[1], "--exec-sleep"))
		return exec_sleep(atoi(argv[2]));

	main_pid = getpid();
	atexit(restore_access); /* registered first: runs last */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	remote_init();
	devfd = dev_open();
	if (!tap_ok(devfd >= 0 && remote != MAP_FAILED, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	ret = sysmsg_open(&lib, 0, 0);
	if (!tap_ok(ret == 0, "a second file through libsysmsg (%s)", errname(ret)))
		return tap_done();
	if (!tap_ok(ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
			    (info.features & SYSMSG_FEATURE_CANCEL),
		    "info.features has SYSMSG_FEATURE_CANCEL (%#llx)",
		    (unsigned long long)info.features))
		return tap_done();
	ffd = tmpfile_open(path, O_CLOEXEC);
	if (!tap_ok(ffd >= 0 && ftruncate(ffd, 4096) == 0, "a 4 KiB file in /tmp"))
		return tap_done();
	unlink(path);
	base0 = nr_inflight();
	diag("kernel.sysmsg.nr_inflight at the start: %lld", base0);

	test_exit_plain();
	test_kill_in_reap();
	test_kill_submitting();
	test_segv();
	test_exit_group();
	test_close_alive();
	test_dup();
	test_exec_keep(ffd);
	test_exec_cloexec(ffd);
	test_access();

	ret = cancel(devfd, 0, SYSMSG_CANCEL_ALL, &c);
	tap_ok(ret == 0 && no_reply_for(devfd, 50), "the parent has nothing left in flight (%d)", ret);
	v = nr_inflight();
	tap_ok(v == base0, "kernel.sysmsg.nr_inflight is back to %lld (%lld)", base0, v);
	close(ffd);
	sysmsg_close(&lib);
	close(devfd);
	sysctl_restore_all();
	restore_access();
	return tap_done();
}
