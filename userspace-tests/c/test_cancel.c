// SPDX-License-Identifier: GPL-2.0
/*
 * SYSMSG_IOC_CANCEL (struct sysmsg_cancel in the header):
 *  - SYSMSG_FEATURE_CANCEL is reported;
 *  - by tag: a 60 s sleep is stopped (returns 1, cancelled 1, already 0)
 *    and replies once, promptly, with -ECANCELED; cancelling it again
 *    before it is reaped fails with EALREADY (already 1), after it is
 *    reaped with ENOENT; an unknown tag and a NOP (complete at submit) fail
 *    with ENOENT; a sleep that completed but was not reaped fails with
 *    EALREADY and keeps its real reply (0);
 *  - every message with the tag is stopped (the count is returned), and
 *    completed ones with the same tag are counted in @already; other tags
 *    are untouched;
 *  - a pending pipe READ is stopped and consumed nothing: data written to
 *    the pipe later stays in it and brings no second reply; a WRITE blocked
 *    on a full pipe is stopped and wrote nothing, and is not retried once
 *    the pipe has room;
 *  - SYSMSG_CANCEL_ALL over 100 sleeps, 10 pipe reads and 5 unreaped NOPs:
 *    110 stopped, 115 replies (110 -ECANCELED, 5 NOPs 0), nothing after,
 *    kernel.sysmsg.nr_inflight back where it was; on an empty session it
 *    returns 0;
 *  - bad input: unknown flags, non-zero reserved, SYSMSG_CANCEL_ALL with a
 *    tag (EINVAL), a bad argument pointer (EFAULT), a wrong-size ioctl
 *    number (ENOTTY); none of them stops anything;
 *  - isolation: a fork() child that inherited the file cannot cancel (by
 *    tag or CANCEL_ALL) or reap its parent's messages, and cancels only its
 *    own when it uses the same tag;
 *  - regular-file PREADs (executed on workers) cancelled right away: either
 *    outcome is allowed, but it must be consistent: stopped means a
 *    -ECANCELED reply and an untouched buffer, EALREADY means the real
 *    result and the data; exactly one reply each; for CANCEL_ALL over 64 of
 *    them, cancelled + already = 64;
 *  - libsysmsg: sysmsg_cancel() on a struct sysmsg, including a reply the
 *    library holds in its backlog (EALREADY, not ENOENT).
 *
 * No sysctl is changed. No wait is unbounded.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <sys/wait.h>

#include "testlib.h"

#define LONG_MS 60000
/* How long a cancelled message's reply may take to show up. */
#define PROMPT_MS 5000

static int devfd;

static const char *errname(int e)
{
	if (e < 0)
		e = -e;
	return e ? strerrorname_np(e) : "0";
}

/*
 * SYSMSG_IOC_CANCEL through libsysmsg: the number stopped, or -errno. The
 * structure written back goes to *@c (zeroed first, so it is defined).
 */
static int cancel(int fd, __u64 tag, unsigned int flags, struct sysmsg_cancel *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	ret = sysmsg_cancel_fd(fd, tag, flags, c);
	return ret < 0 ? -errno : ret;
}

/* One 60 s sleep with @tag through @fd: 1 if accepted. */
static int long_sleep(int fd, __u64 tag)
{
	struct __kernel_timespec ts = kts_ms(LONG_MS);
	struct sysmsg_msg m;

	sysmsg_prep_nanosleep(&m, &ts, 0, tag);
	return raw_submit(fd, &m, 1, NULL) == 1;
}

/* Waits up to @ms for POLLIN on @fd (a reply is ready, not reaped): 1 if so. */
static int ready_within(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	long long deadline = now_ns() + ms * NSEC_PER_MSEC;

	while (now_ns() < deadline) {
		if (poll(&pfd, 1, 50) == 1 && (pfd.revents & POLLIN))
			return 1;
	}
	return 0;
}

/* The reply @r is a -ECANCELED reply to @tag, opcode @op. */
static int is_cancelled(const struct sysmsg_reply *r, __u64 tag, int op)
{
	return r->tag == tag && r->opcode == op && r->result == -ECANCELED &&
	       reply_reserved_zero(r);
}


/* Waits for @pid (up to 30 s, then SIGKILL); 1 if it exited with status 0. */
static int wait_child(pid_t pid, int *status)
{
	long long deadline = now_ns() + 30 * NSEC_PER_SEC;
	pid_t w;

	*status = -1;
	while ((w = waitpid(pid, status, WNOHANG)) == 0 && now_ns() < deadline)
		sleep_ms(5);
	if (w == 0) {
		diag("child %d did not exit within 30 s: killing it", pid);
		kill(pid, SIGKILL);
		waitpid(pid, status, 0);
		return 0;
	}
	return w == pid && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

/* The child's checks, and whether it exited normally. */
static void report_child(const char *who, int exited_ok, int status)
{
	report_remote(who);
	tap_ok(exited_ok, "%s: exited normally (status %#x)", who, status);
}

/* ---- by tag ---- */

static void test_sleep_by_tag(void)
{
	const __u64 tag = 0x1001;
	struct sysmsg_cancel c;
	struct sysmsg_reply r;
	long long t0, dt;
	int ret, n;

	if (!tap_ok(long_sleep(devfd, tag), "sleep: a 60 s sleep accepted"))
		return;
	tap_ok(no_reply_for(devfd, 50), "sleep: no reply after 50 ms");
	t0 = now_ns();
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == 1 && c.cancelled == 1 && c.already == 0,
	       "sleep: CANCEL by tag returns 1, cancelled 1, already 0 (%d %s, %u, %u)", ret,
	       errname(ret < 0 ? ret : 0), c.cancelled, c.already);
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == -EALREADY && c.cancelled == 0 && c.already == 1,
	       "sleep: cancelling it again before reaping: EALREADY, cancelled 0, already 1 (%s, %u, %u)",
	       errname(ret), c.cancelled, c.already);
	memset(&r, 0, sizeof(r));
	n = reap_n(devfd, &r, 1, PROMPT_MS);
	dt = now_ns() - t0;
	tap_ok(n == 1 && is_cancelled(&r, tag, SYSMSG_OP_NANOSLEEP),
	       "sleep: its reply came %lld ms after the cancel, with -ECANCELED (tag %#llx, opcode %u, result %lld)",
	       dt / NSEC_PER_MSEC, (unsigned long long)r.tag, r.opcode, (long long)r.result);
	tap_ok(no_reply_for(devfd, 100), "sleep: exactly one reply");
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == -ENOENT && c.cancelled == 0 && c.already == 0,
	       "sleep: once reaped, cancelling it fails with ENOENT (%s, %u, %u)", errname(ret),
	       c.cancelled, c.already);
}

static void test_unknown_and_nop(void)
{
	struct sysmsg_cancel c;
	struct sysmsg_reply r;
	struct sysmsg_msg m;
	int ret, n;

	ret = cancel(devfd, 0x0bad0bad, 0, &c);
	tap_ok(ret == -ENOENT && c.cancelled == 0 && c.already == 0,
	       "unknown tag: ENOENT, cancelled 0, already 0 (%s, %u, %u)", errname(ret), c.cancelled,
	       c.already);

	sysmsg_prep_nop(&m, 0x1101);
	n = raw_submit(devfd, &m, 1, NULL);
	ret = cancel(devfd, 0x1101, 0, &c);
	tap_ok(n == 1 && ret == -ENOENT && c.cancelled == 0 && c.already == 0,
	       "NOP (complete at submit, reply not reaped): CANCEL by its tag fails with ENOENT (%s, %u, %u)",
	       errname(ret), c.cancelled, c.already);
	n = reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS);
	tap_ok(n == 1 && r.tag == 0x1101 && r.opcode == SYSMSG_OP_NOP && r.result == 0 &&
		       no_reply_for(devfd, 50),
	       "NOP: its one reply is still there, result 0");
}

static void test_completed(void)
{
	struct __kernel_timespec ts = kts_ms(1);
	const __u64 tag = 0x1201;
	struct sysmsg_cancel c;
	struct sysmsg_reply r;
	struct sysmsg_msg m;
	int ret, n;

	sysmsg_prep_nanosleep(&m, &ts, 0, tag);
	n = raw_submit(devfd, &m, 1, NULL);
	if (!tap_ok(n == 1 && ready_within(devfd, PROMPT_MS),
		    "completed: a 1 ms sleep, its reply ready (POLLIN), not reaped"))
		return;
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == -EALREADY && c.cancelled == 0 && c.already == 1,
	       "completed: CANCEL fails with EALREADY, cancelled 0, already 1 (%s, %u, %u)",
	       errname(ret), c.cancelled, c.already);
	n = reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS);
	tap_ok(n == 1 && r.tag == tag && r.opcode == SYSMSG_OP_NANOSLEEP && r.result == 0 &&
		       no_reply_for(devfd, 50),
	       "completed: exactly one reply, the real one: result %lld", n == 1 ? (long long)r.result : -1LL);
}

/* Several messages with one tag: all stopped; other tags untouched. */
static void test_same_tag(void)
{
	struct __kernel_timespec lts = kts_ms(LONG_MS), sts = kts_ms(1);
	const __u64 tag = 0x1301, other = 0x1302, mixed = 0x1303;
	struct sysmsg_reply r[16];
	struct sysmsg_cancel c;
	struct sysmsg_msg m[8];
	char buf[2][4];
	int p[2], i, n, ret, ok, nsleep, nread;

	if (!tap_ok(pipe2(p, O_CLOEXEC) == 0, "same tag: a pipe"))
		return;
	for (i = 0; i < 4; i++)
		sysmsg_prep_nanosleep(&m[i], &lts, 0, tag);
	sysmsg_prep_read(&m[4], p[0], buf[0], sizeof(buf[0]), tag);
	sysmsg_prep_read(&m[5], p[0], buf[1], sizeof(buf[1]), tag);
	sysmsg_prep_nanosleep(&m[6], &lts, 0, other);
	n = raw_submit(devfd, m, 7, NULL);
	tap_ok(n == 7, "same tag: 4 sleeps and 2 pipe reads with one tag, a sleep with another (%d)", n);
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == 6 && c.cancelled == 6 && c.already == 0,
	       "same tag: CANCEL returns 6, cancelled 6, already 0 (%d, %u, %u)", ret, c.cancelled,
	       c.already);
	n = reap_n(devfd, r, 6, PROMPT_MS);
	for (i = 0, nsleep = 0, nread = 0; i < n; i++) {
		if (is_cancelled(&r[i], tag, SYSMSG_OP_NANOSLEEP))
			nsleep++;
		else if (is_cancelled(&r[i], tag, SYSMSG_OP_READ))
			nread++;
	}
	tap_ok(n == 6 && nsleep == 4 && nread == 2,
	       "same tag: 6 replies with -ECANCELED: 4 sleeps, 2 reads (%d: %d, %d)", n, nsleep, nread);
	tap_ok(no_reply_for(devfd, 100), "same tag: the sleep with another tag was not touched");
	ret = cancel(devfd, other, 0, &c);
	n = reap_n(devfd, r, 1, PROMPT_MS);
	tap_ok(ret == 1 && n == 1 && is_cancelled(&r[0], other, SYSMSG_OP_NANOSLEEP),
	       "same tag: it is still in flight: cancelled by its own tag (%d)", ret);

	/* A completed one and pending ones with one tag: the count is the stopped ones. */
	sysmsg_prep_nanosleep(&m[0], &sts, 0, mixed);
	n = raw_submit(devfd, m, 1, NULL);
	if (!tap_ok(n == 1 && ready_within(devfd, PROMPT_MS), "same tag: a 1 ms sleep completed"))
		goto out;
	for (i = 0; i < 3; i++)
		sysmsg_prep_nanosleep(&m[i], &lts, 0, mixed);
	n = raw_submit(devfd, m, 3, NULL);
	ret = cancel(devfd, mixed, 0, &c);
	tap_ok(n == 3 && ret == 3 && c.cancelled == 3 && c.already == 1,
	       "same tag, one completed and 3 sleeping: returns 3, cancelled 3, already 1 (%d, %u, %u)",
	       ret, c.cancelled, c.already);
	n = reap_n(devfd, r, 4, PROMPT_MS);
	ok = n == 4;
	for (i = 0, ret = 0; i < n; i++) {
		if (r[i].tag != mixed || r[i].opcode != SYSMSG_OP_NANOSLEEP)
			ok = 0;
		else if (r[i].result == -ECANCELED)
			ret++;
		else if (r[i].result != 0)
			ok = 0;
	}
	tap_ok(ok && ret == 3 && no_reply_for(devfd, 50),
	       "same tag: 4 replies, 3 -ECANCELED and the completed one's 0 (%d, %d cancelled)", n, ret);
out:
	close(p[0]);
	close(p[1]);
}

/* ---- pipes ---- */

static void test_pipe_read(void)
{
	const __u64 tag = 0x1401;
	struct sysmsg_cancel c;
	struct sysmsg_reply r;
	struct sysmsg_msg m;
	char buf[16], rb[16];
	int p[2], n, ret, i, untouched = 1;

	if (!tap_ok(pipe2(p, O_CLOEXEC) == 0, "pipe READ: a pipe"))
		return;
	memset(buf, 'x', sizeof(buf));
	sysmsg_prep_read(&m, p[0], buf, sizeof(buf), tag);
	n = raw_submit(devfd, &m, 1, NULL);
	tap_ok(n == 1 && no_reply_for(devfd, 50), "pipe READ: accepted, pending (no reply after 50 ms)");
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == 1 && c.cancelled == 1 && c.already == 0,
	       "pipe READ: CANCEL returns 1, cancelled 1, already 0 (%d %s, %u, %u)", ret,
	       errname(ret < 0 ? ret : 0), c.cancelled, c.already);
	memset(&r, 0, sizeof(r));
	n = reap_n(devfd, &r, 1, PROMPT_MS);
	tap_ok(n == 1 && is_cancelled(&r, tag, SYSMSG_OP_READ),
	       "pipe READ: its reply says -ECANCELED (result %lld, opcode %u)", (long long)r.result,
	       r.opcode);
	for (i = 0; i < (int)sizeof(buf); i++)
		if (buf[i] != 'x')
			untouched = 0;
	tap_ok(untouched, "pipe READ: nothing was written to its buffer");
	tap_ok(write(p[1], "data", 4) == 4 && no_reply_for(devfd, 200),
	       "pipe READ: writing to the pipe afterwards brings no second reply");
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	n = read(p[0], rb, sizeof(rb));
	tap_ok(n == 4 && !memcmp(rb, "data", 4),
	       "pipe READ: the 4 bytes are still in the pipe: the cancelled READ consumed nothing (%d)",
	       n);
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == -ENOENT, "pipe READ: reaped: ENOENT (%s)", errname(ret));
	close(p[0]);
	close(p[1]);
}

static void test_pipe_write(void)
{
	const __u64 tag = 0x1501;
	static char chunk[4096], data[512], rb[4096];
	struct sysmsg_cancel c;
	struct sysmsg_reply r;
	struct sysmsg_msg m;
	long long filled = 0, drained = 0;
	int p[2], fl, n, ret, i, saw_w = 0, e;
	ssize_t k;

	if (!tap_ok(pipe2(p, O_CLOEXEC) == 0, "pipe WRITE: a pipe"))
		return;
	memset(chunk, 'f', sizeof(chunk));
	memset(data, 'W', sizeof(data));
	fl = fcntl(p[1], F_GETFL);
	fcntl(p[1], F_SETFL, fl | O_NONBLOCK);
	while ((k = write(p[1], chunk, sizeof(chunk))) > 0)
		filled += k;
	while ((k = write(p[1], chunk, 1)) > 0)
		filled += k;
	e = errno;
	fcntl(p[1], F_SETFL, fl);
	tap_ok(k < 0 && e == EAGAIN && filled > 0 && !(fcntl(p[1], F_GETFL) & O_NONBLOCK),
	       "pipe WRITE: the pipe is full (%lld bytes), its write end blocking again", filled);

	sysmsg_prep_write(&m, p[1], data, sizeof(data), tag);
	n = raw_submit(devfd, &m, 1, NULL);
	tap_ok(n == 1 && no_reply_for(devfd, 100),
	       "pipe WRITE: a 512-byte WRITE to the full pipe is accepted and waits (no reply after 100 ms)");
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == 1 && c.cancelled == 1 && c.already == 0,
	       "pipe WRITE: CANCEL returns 1, cancelled 1, already 0 (%d %s, %u, %u)", ret,
	       errname(ret < 0 ? ret : 0), c.cancelled, c.already);
	memset(&r, 0, sizeof(r));
	n = reap_n(devfd, &r, 1, PROMPT_MS);
	tap_ok(n == 1 && is_cancelled(&r, tag, SYSMSG_OP_WRITE),
	       "pipe WRITE: its reply says -ECANCELED (result %lld, opcode %u)", (long long)r.result,
	       r.opcode);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	while ((k = read(p[0], rb, sizeof(rb))) > 0) {
		drained += k;
		for (i = 0; i < k; i++)
			if (rb[i] != 'f')
				saw_w = 1;
	}
	tap_ok(drained == filled && !saw_w,
	       "pipe WRITE: the pipe holds exactly the %lld bytes that filled it, none of the WRITE's (%lld)",
	       filled, drained);
	tap_ok(no_reply_for(devfd, 200), "pipe WRITE: with room in the pipe, it is not retried: no second reply");
	errno = 0;
	k = read(p[0], rb, sizeof(rb));
	tap_ok(k < 0 && errno == EAGAIN, "pipe WRITE: and the pipe stays empty (%zd)", k);
	close(p[0]);
	close(p[1]);
}

/* ---- SYSMSG_CANCEL_ALL ---- */

#define ALL_SLEEPS 100
#define ALL_READS 10
#define ALL_NOPS 5
#define ALL_N (ALL_SLEEPS + ALL_READS + ALL_NOPS)

static void test_cancel_all(void)
{
	struct __kernel_timespec ts = kts_ms(LONG_MS);
	static struct sysmsg_msg m[ALL_N];
	static struct sysmsg_reply r[ALL_N + 8];
	static char bufs[ALL_READS][8];
	unsigned char seen[ALL_N];
	struct sysmsg_cancel c;
	long long base, v;
	int p[2], i, n, ret, fd2, bad = 0, ncanc = 0, nnop = 0;
	char rb[16];

	drain_replies(devfd);
	base = nr_inflight();
	if (!tap_ok(base >= 0 && pipe2(p, O_CLOEXEC) == 0,
		    "CANCEL_ALL: kernel.sysmsg.nr_inflight is %lld; a pipe", base))
		return;
	for (i = 0; i < ALL_SLEEPS; i++)
		sysmsg_prep_nanosleep(&m[i], &ts, 0, 0x2000 + i);
	for (i = 0; i < ALL_READS; i++)
		sysmsg_prep_read(&m[ALL_SLEEPS + i], p[0], bufs[i], sizeof(bufs[i]), 0x3000 + i);
	for (i = 0; i < ALL_NOPS; i++)
		sysmsg_prep_nop(&m[ALL_SLEEPS + ALL_READS + i], 0x4000 + i);
	n = raw_submit(devfd, m, ALL_N, NULL);
	v = nr_inflight();
	tap_ok(n == ALL_N && v == base + ALL_N,
	       "CANCEL_ALL: 100 sleeps of 60 s, 10 pipe reads, 5 NOPs not reaped: nr_inflight %lld (+%lld)",
	       v, v - base);
	ret = cancel(devfd, 0, SYSMSG_CANCEL_ALL, &c);
	tap_ok(ret == ALL_SLEEPS + ALL_READS && c.cancelled == ALL_SLEEPS + ALL_READS && c.already == 0,
	       "CANCEL_ALL: returns 110, cancelled 110, already 0 (NOPs never match) (%d %s, %u, %u)",
	       ret, errname(ret < 0 ? ret : 0), c.cancelled, c.already);
	n = reap_n(devfd, r, ALL_N, PROMPT_MS);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n; i++) {
		__u64 t = r[i].tag;
		int k, op;

		if (t >= 0x2000 && t < 0x2000 + ALL_SLEEPS) {
			k = t - 0x2000;
			op = SYSMSG_OP_NANOSLEEP;
		} else if (t >= 0x3000 && t < 0x3000 + ALL_READS) {
			k = ALL_SLEEPS + t - 0x3000;
			op = SYSMSG_OP_READ;
		} else if (t >= 0x4000 && t < 0x4000 + ALL_NOPS) {
			k = ALL_SLEEPS + ALL_READS + t - 0x4000;
			op = SYSMSG_OP_NOP;
		} else {
			bad++;
			continue;
		}
		if (seen[k]++ || r[i].opcode != op || !reply_reserved_zero(&r[i]))
			bad++;
		else if (op == SYSMSG_OP_NOP && r[i].result == 0)
			nnop++;
		else if (op != SYSMSG_OP_NOP && r[i].result == -ECANCELED)
			ncanc++;
		else
			bad++;
	}
	tap_ok(n == ALL_N && ncanc == ALL_SLEEPS + ALL_READS && nnop == ALL_NOPS && !bad,
	       "CANCEL_ALL: 115 replies, each tag once: 110 -ECANCELED, 5 NOPs with 0 (%d: %d, %d, %d wrong)",
	       n, ncanc, nnop, bad);
	tap_ok(no_reply_for(devfd, 200), "CANCEL_ALL: nothing more arrives");
	v = nr_inflight();
	tap_ok(v == base, "CANCEL_ALL: all reaped: nr_inflight back to %lld (%lld)", base, v);
	tap_ok(write(p[1], "0123456789", 10) == 10 && no_reply_for(devfd, 100),
	       "CANCEL_ALL: writing to the pipe then brings no reply");
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	n = read(p[0], rb, sizeof(rb));
	tap_ok(n == 10, "CANCEL_ALL: the 10 bytes stay in the pipe (%d)", n);
	ret = cancel(devfd, 0, SYSMSG_CANCEL_ALL, &c);
	tap_ok(ret == 0 && c.cancelled == 0 && c.already == 0,
	       "CANCEL_ALL with nothing in flight: 0 (%d %s)", ret, errname(ret < 0 ? ret : 0));
	close(p[0]);
	close(p[1]);

	fd2 = dev_open();
	if (!tap_ok(fd2 >= 0, "CANCEL_ALL: a new file"))
		return;
	ret = cancel(fd2, 0, SYSMSG_CANCEL_ALL, &c);
	tap_ok(ret == 0 && c.cancelled == 0 && c.already == 0,
	       "CANCEL_ALL on a new file, never used: 0 (%d %s)", ret, errname(ret < 0 ? ret : 0));
	ret = cancel(fd2, 0x2000, 0, &c);
	tap_ok(ret == -ENOENT, "CANCEL by tag there: ENOENT (%s)", errname(ret));
	/* The other file's session is another one: a sleep here, CANCEL_ALL there. */
	if (long_sleep(devfd, 0x2100)) {
		ret = cancel(fd2, 0, SYSMSG_CANCEL_ALL, &c);
		tap_ok(ret == 0 && no_reply_for(devfd, 50),
		       "CANCEL_ALL on one file does not touch the process's messages on another (%d)",
		       ret);
		ret = cancel(fd2, 0x2100, 0, &c);
		tap_ok(ret == -ENOENT, "nor does CANCEL by tag (%s)", errname(ret));
		ret = cancel(devfd, 0x2100, 0, &c);
		n = reap_n(devfd, r, 1, PROMPT_MS);
		tap_ok(ret == 1 && n == 1 && is_cancelled(&r[0], 0x2100, SYSMSG_OP_NANOSLEEP),
		       "the sleep is cancelled through its own file (%d)", ret);
	}
	close(fd2);
}

/* ---- bad input ---- */

static void test_bad_input(void)
{
	const __u64 tag = 0x5001;
	__u64 wrong_size[8] = { tag };
	struct sysmsg_cancel c;
	struct sysmsg_reply r;
	int ret, n;

	if (!tap_ok(long_sleep(devfd, tag), "bad input: a 60 s sleep in flight, tag %#llx",
		    (unsigned long long)tag))
		return;
	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.flags = SYSMSG_CANCEL_ALL << 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_CANCEL, &c), EINVAL, "bad input: an unknown flag: EINVAL");
	c.flags = 0x80000000U;
	tap_errno(ioctl(devfd, SYSMSG_IOC_CANCEL, &c), EINVAL, "bad input: flag bit 31: EINVAL");
	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.reserved[0] = 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_CANCEL, &c), EINVAL, "bad input: reserved[0] = 1: EINVAL");
	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.reserved[2] = 0x80000000U;
	tap_errno(ioctl(devfd, SYSMSG_IOC_CANCEL, &c), EINVAL, "bad input: reserved[2] non-zero: EINVAL");
	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.flags = SYSMSG_CANCEL_ALL;
	tap_errno(ioctl(devfd, SYSMSG_IOC_CANCEL, &c), EINVAL,
		  "bad input: SYSMSG_CANCEL_ALL with a non-zero tag: EINVAL");
	tap_errno(ioctl(devfd, SYSMSG_IOC_CANCEL, (void *)8), EFAULT,
		  "bad input: the argument is a bad pointer: EFAULT");
	tap_errno(ioctl(devfd, SYSMSG_IOC_CANCEL, unmapped_page()), EFAULT,
		  "bad input: the argument is an unmapped page: EFAULT");
	/* Room for the 40 bytes that number names, should it be taken. */
	tap_errno(ioctl(devfd, _IOWR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_CANCEL, struct sysmsg_reap),
			wrong_size),
		  ENOTTY, "bad input: the CANCEL number with another size: ENOTTY");
	tap_ok(no_reply_for(devfd, 50), "bad input: no reply came");
	ret = cancel(devfd, tag, 0, &c);
	n = reap_n(devfd, &r, 1, PROMPT_MS);
	tap_ok(ret == 1 && n == 1 && is_cancelled(&r, tag, SYSMSG_OP_NANOSLEEP),
	       "bad input: the refused calls stopped nothing: the sleep is cancelled now (%d)", ret);
}

/* ---- isolation ---- */

static void test_fork_isolation(void)
{
	const __u64 tag = 0x6001, nop_tag = 0x6002;
	struct sysmsg_reply r[4];
	struct sysmsg_cancel c;
	struct sysmsg_msg m;
	int status, ok, ret, n;
	pid_t pid;

	sysmsg_prep_nop(&m, nop_tag);
	if (!tap_ok(long_sleep(devfd, tag) && raw_submit(devfd, &m, 1, NULL) == 1,
		    "fork: the parent has a 60 s sleep (tag %#llx) and a NOP reply not reaped",
		    (unsigned long long)tag))
		return;
	remote->n = 0;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		ret = cancel(devfd, tag, 0, &c);
		rcheck(ret == -ENOENT && c.cancelled == 0 && c.already == 0,
		       "CANCEL of the parent's tag: ENOENT (%s, %u, %u)", errname(ret), c.cancelled,
		       c.already);
		ret = cancel(devfd, nop_tag, 0, &c);
		rcheck(ret == -ENOENT, "CANCEL of the parent's NOP tag: ENOENT (%s)", errname(ret));
		ret = cancel(devfd, 0, SYSMSG_CANCEL_ALL, &c);
		rcheck(ret == 0 && c.cancelled == 0 && c.already == 0,
		       "CANCEL_ALL: 0, it has nothing (%d %s, %u, %u)", ret,
		       errname(ret < 0 ? ret : 0), c.cancelled, c.already);
		n = raw_reap(devfd, r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT);
		rcheck(n == -EAGAIN, "REAP NOWAIT: EAGAIN, none of the parent's replies (%d)", n);
		/* Its own sleep with the same tag: only that one is stopped. */
		if (rcheck(long_sleep(devfd, tag), "its own 60 s sleep with the same tag")) {
			ret = cancel(devfd, tag, 0, &c);
			rcheck(ret == 1 && c.cancelled == 1 && c.already == 0,
			       "CANCEL of that tag stops 1, its own (%d, %u, %u)", ret, c.cancelled,
			       c.already);
			n = reap_n(devfd, r, 1, PROMPT_MS);
			rcheck(n == 1 && is_cancelled(&r[0], tag, SYSMSG_OP_NANOSLEEP) &&
				       no_reply_for(devfd, 50),
			       "it reaps exactly its own -ECANCELED reply (%d)", n);
		}
		_exit(0);
	}
	if (!tap_ok(pid > 0, "fork"))
		return;
	ok = wait_child(pid, &status);
	report_child("fork child", ok, status);
	ret = cancel(devfd, tag, 0, &c);
	tap_ok(ret == 1 && c.cancelled == 1,
	       "fork: after the child exited, the parent's sleep is still in flight: CANCEL returns 1 (%d %s)",
	       ret, errname(ret < 0 ? ret : 0));
	n = reap_n(devfd, r, 2, PROMPT_MS);
	ok = n == 2 && find_tag(r, n, tag) >= 0 && find_tag(r, n, nop_tag) >= 0 &&
	     is_cancelled(&r[find_tag(r, n, tag)], tag, SYSMSG_OP_NANOSLEEP) &&
	     r[find_tag(r, n, nop_tag)].result == 0;
	tap_ok(ok && no_reply_for(devfd, 50),
	       "fork: the parent reaps its two replies: the sleep's -ECANCELED, the NOP's 0 (%d)", n);
}

/* ---- regular files: executed on workers, cancel may or may not stop them ---- */

#define PREAD_ROUNDS 20
#define PREAD_BATCH 64
#define PREAD_LEN 65536

static void test_pread(void)
{
	static char file[PREAD_LEN], bufs[PREAD_BATCH][PREAD_LEN];
	struct sysmsg_reply r[PREAD_BATCH + 4];
	struct sysmsg_msg m[PREAD_BATCH];
	struct sysmsg_cancel c;
	int fd, i, k, n, ret, stopped = 0, already = 0, bad = 0, nc, nr;
	char path[64];

	fd = tmpfile_open(path, O_CLOEXEC);
	for (i = 0; i < PREAD_LEN; i++)
		file[i] = 'a' + i % 23;
	if (!tap_ok(fd >= 0 && pwrite(fd, file, PREAD_LEN, 0) == PREAD_LEN,
		    "PREAD: a 64 KiB file in /tmp"))
		return;
	unlink(path);

	/* By tag, one at a time: 4 KiB. */
	for (k = 0; k < PREAD_ROUNDS; k++) {
		__u64 tag = 0x7000 + k;

		memset(bufs[0], 0, 4096);
		sysmsg_prep_pread(&m[0], fd, bufs[0], 4096, 0, tag);
		if (raw_submit(devfd, m, 1, NULL) != 1) {
			bad++;
			continue;
		}
		ret = cancel(devfd, tag, 0, &c);
		n = reap_n(devfd, r, 1, REPLY_TIMEOUT_MS);
		if (n == 1 && !no_reply_for(devfd, 20))
			n = 2;
		if (ret == 1 && c.cancelled == 1 && c.already == 0 && n == 1 &&
		    is_cancelled(&r[0], tag, SYSMSG_OP_PREAD) && !bufs[0][0] &&
		    !memcmp(bufs[0], bufs[0] + 1, 4095)) {
			stopped++;
		} else if (ret == -EALREADY && c.cancelled == 0 && c.already == 1 && n == 1 &&
			   r[0].tag == tag && r[0].result == 4096 && !memcmp(bufs[0], file, 4096)) {
			already++;
		} else {
			bad++;
			diag("PREAD round %d: cancel %d (%s), cancelled %u, already %u, %d replies, result %lld",
			     k, ret, errname(ret < 0 ? ret : 0), c.cancelled, c.already, n,
			     n ? (long long)r[0].result : 0LL);
			drain_replies(devfd);
		}
	}
	tap_ok(!bad,
	       "PREAD 4 KiB cancelled by tag right away, %d times: consistent each time: %d stopped (-ECANCELED, buffer untouched), %d EALREADY (4096 and the data), %d wrong",
	       PREAD_ROUNDS, stopped, already, bad);

	/* CANCEL_ALL right after 64 PREADs of 64 KiB. */
	for (i = 0; i < PREAD_BATCH; i++) {
		memset(bufs[i], 0, PREAD_LEN);
		sysmsg_prep_pread(&m[i], fd, bufs[i], PREAD_LEN, 0, 0x7100 + i);
	}
	n = raw_submit(devfd, m, PREAD_BATCH, NULL);
	ret = cancel(devfd, 0, SYSMSG_CANCEL_ALL, &c);
	tap_ok(n == PREAD_BATCH && ret >= 0 && (unsigned int)ret == c.cancelled &&
		       c.cancelled + c.already == PREAD_BATCH,
	       "PREAD x64 then CANCEL_ALL: returns %d; cancelled %u + already %u = 64", ret,
	       c.cancelled, c.already);
	n = reap_n(devfd, r, PREAD_BATCH, REPLY_TIMEOUT_MS);
	nc = nr = bad = 0;
	for (i = 0; i < n; i++) {
		k = (int)(r[i].tag - 0x7100);
		if (k < 0 || k >= PREAD_BATCH) {
			bad++;
		} else if (is_cancelled(&r[i], r[i].tag, SYSMSG_OP_PREAD) && !bufs[k][0] &&
			   !memcmp(bufs[k], bufs[k] + 1, PREAD_LEN - 1)) {
			nc++;
		} else if (r[i].result == PREAD_LEN && !memcmp(bufs[k], file, PREAD_LEN)) {
			nr++;
		} else {
			bad++;
		}
	}
	tap_ok(n == PREAD_BATCH && !bad && nc == (int)c.cancelled && nr == (int)c.already &&
		       no_reply_for(devfd, 50),
	       "PREAD x64: 64 replies: %d -ECANCELED with untouched buffers (= cancelled), %d with 65536 and the data (= already), %d wrong",
	       nc, nr, bad);
	close(fd);
}

/* ---- libsysmsg ---- */

static void test_lib(void)
{
	struct __kernel_timespec lts = kts_ms(LONG_MS), sts = kts_ms(1);
	struct sysmsg_reply r[4];
	struct sysmsg_cancel c;
	struct sysmsg s;
	int ret, n, e;

	if (!tap_ok(sysmsg_open(&s, 8, 0) == 0, "lib: sysmsg_open"))
		return;
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &lts, 0, 1);
	n = sysmsg_submit(&s);
	memset(&c, 0, sizeof(c));
	ret = sysmsg_cancel(&s, 1, 0, &c);
	tap_ok(n == 1 && ret == 1 && c.cancelled == 1 && c.already == 0,
	       "lib: sysmsg_cancel of a 60 s sleep returns 1, cancelled 1 (%d)", ret);
	watchdog_arm(PROMPT_MS / 1000);
	n = sysmsg_wait(&s, r, 4);
	watchdog_disarm();
	tap_ok(n == 1 && is_cancelled(&r[0], 1, SYSMSG_OP_NANOSLEEP),
	       "lib: sysmsg_wait returns its -ECANCELED reply (%d)", n);
	errno = 0;
	ret = sysmsg_cancel(&s, 1, 0, NULL);
	e = errno;
	tap_ok(ret == -1 && e == ENOENT, "lib: again, with out NULL: -1, ENOENT (%d, %s)", ret,
	       errname(e));

	/* A reply the library took from the kernel and holds in its backlog. */
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &sts, 0, 2);
	n = sysmsg_submit(&s);
	if (!tap_ok(n == 1 && ready_within(s.fd, PROMPT_MS) && sysmsg_nop_sync(&s) == 0 &&
			    sysmsg_backlog_count(&s) == 1,
		    "lib: a 1 ms sleep completed, then sysmsg_nop_sync took its reply into the backlog"))
		goto out;
	memset(&c, 0xa5, sizeof(c));
	errno = 0;
	ret = sysmsg_cancel_fd(s.fd, 2, 0, &c);
	e = errno;
	tap_ok(ret == -1 && e == ENOENT && c.cancelled == 0 && c.already == 0,
	       "lib: sysmsg_cancel_fd: -1, ENOENT: the kernel has no such message any more (%s, %u, %u)",
	       errname(e), c.cancelled, c.already);
	memset(&c, 0, sizeof(c));
	errno = 0;
	ret = sysmsg_cancel(&s, 2, 0, &c);
	e = errno;
	tap_ok(ret == -1 && e == EALREADY && c.cancelled == 0 && c.already == 1,
	       "lib: sysmsg_cancel: -1, EALREADY, already 1: its reply is still to be handed out (%s, %u)",
	       errname(e), c.already);
	ret = sysmsg_cancel(&s, 0, SYSMSG_CANCEL_ALL, &c);
	tap_ok(ret == 0 && c.cancelled == 0 && c.already == 1,
	       "lib: sysmsg_cancel CANCEL_ALL: 0, already 1 (%d, %u)", ret, c.already);
	n = sysmsg_peek(&s, r, 4);
	tap_ok(n == 1 && r[0].tag == 2 && r[0].result == 0,
	       "lib: sysmsg_peek hands out the sleep's real reply (%d)", n);
	errno = 0;
	ret = sysmsg_cancel(&s, 0, SYSMSG_CANCEL_ALL << 1, &c);
	e = errno;
	tap_ok(ret == -1 && e == EINVAL, "lib: sysmsg_cancel with an unknown flag: -1, EINVAL (%s)",
	       errname(e));
out:
	sysmsg_close(&s);
}

int main(void)
{
	struct sysmsg_info info;
	long long base0, v;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	remote_init();
	devfd = dev_open();
	if (!tap_ok(devfd >= 0 && remote != MAP_FAILED, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	if (!tap_ok(ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
			    (info.features & SYSMSG_FEATURE_CANCEL),
		    "info.features has SYSMSG_FEATURE_CANCEL (%#llx)",
		    (unsigned long long)info.features))
		return tap_done();
	base0 = nr_inflight();

	test_sleep_by_tag();
	test_unknown_and_nop();
	test_completed();
	test_same_tag();
	test_pipe_read();
	test_pipe_write();
	test_cancel_all();
	test_bad_input();
	test_fork_isolation();
	test_pread();
	test_lib();

	tap_ok(no_reply_for(devfd, 100), "no stray reply is left");
	v = nr_inflight();
	tap_ok(v == base0, "kernel.sysmsg.nr_inflight is back to %lld (%lld)", base0, v);
	close(devfd);
	return tap_done();
}
