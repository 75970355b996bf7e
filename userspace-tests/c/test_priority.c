// SPDX-License-Identifier: GPL-2.0
/*
 * Priorities and fairness of the kernel workers (kernel.sysmsg.max_workers = 1).
 *
 * The single worker is held on purpose by a READ of a pseudo-terminal (a tty
 * is not FMODE_NOWAIT: its READ executes on a worker and blocks there until a
 * line is typed). Messages queued meanwhile wait for the worker; typing the
 * line releases it, and from then on the order in which they complete is the
 * order the worker took them in (one worker: replies come in that order).
 *
 *  - static priority: PREADs of a regular file with mixed priorities complete
 *    highest first, equal priorities in submission order (aging off);
 *  - fairness: a process A floods 400 top-priority PWRITEs of 64-byte records,
 *    a process B then queues 5 lowest-priority PREADs of the whole record
 *    area: the data B's PREADs read shows how many of A's writes the worker
 *    had done when it ran them. Round-robin between the two processes means
 *    B's 5th PREAD runs within the first 2 x 5 picks, so it sees at most 10
 *    of A's records (the documented bound); a priority-only or FIFO worker
 *    would have done all 400 first;
 *  - priorities out of range are refused with EINVAL.
 */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "testlib.h"

/* A's records written when B's 5 messages have run, at most: P * k picks, P = 2, k = 5. */
#define FAIR_BOUND 10
#define FLOOD 400
#define RECORD 64

static int devfd, master, slave;
static char line_buf[64];

/* Holds the one worker with a tty READ (tag 1000). */
static int hold_worker(int fd)
{
	struct sysmsg_msg m;
	int err;

	sysmsg_prep_read(&m, slave, line_buf, sizeof(line_buf), 1000);
	if (raw_submit(fd, &m, 1, &err) != 1)
		return 0;
	sleep_ms(100);
	return no_reply_for(fd, 0);
}

/* Types a line: the held READ completes and the worker moves on. */
static int release_worker(void)
{
	return write(master, "go\n", 3) == 3;
}

static void test_static_order(int ffd)
{
	static const signed char prios[] = { 0, -3, 3, 1, -1, 3, 0, 2, -2, 1, 3, -3, 2, 0 };
	struct sysmsg_msg m[ARRAY_SIZE(prios)];
	struct sysmsg_reply r[ARRAY_SIZE(prios) + 1];
	static char bufs[ARRAY_SIZE(prios)][64];
	unsigned int i, j, n = ARRAY_SIZE(prios);
	int err, ok, got, order_ok = 1;

	sysctl_set_saved("prio_aging_ms", 0);
	if (!tap_ok(hold_worker(devfd), "static: the one worker is held by a tty READ"))
		return;
	for (i = 0; i < n; i++) {
		sysmsg_prep_pread(&m[i], ffd, bufs[i], sizeof(bufs[i]), 0, i);
		m[i].prio = prios[i];
	}
	tap_ok(raw_submit(devfd, m, n, &err) == (int)n, "static: %u PREADs with priorities -3..3 queued", n);
	tap_ok(no_reply_for(devfd, 100), "static: none runs while the worker is held");
	tap_ok(release_worker(), "static: release the worker");
	got = reap_n(devfd, r, n + 1, REPLY_TIMEOUT_MS);
	ok = got == (int)n + 1 && r[0].tag == 1000 && r[0].result == 3;
	tap_ok(ok, "static: the tty READ first, then %u replies (%d)", n, got);
	if (!ok)
		return;
	for (i = 1; i < n; i++) {
		unsigned int a = r[i].tag, b = r[i + 1].tag;

		/* Higher priority first; equal ones in submission (tag) order. */
		if (prios[a] < prios[b] || (prios[a] == prios[b] && a > b))
			order_ok = 0;
	}
	for (i = 1; i <= n; i++)
		diag("static: #%u tag %llu prio %d result %lld", i, (unsigned long long)r[i].tag,
		     prios[r[i].tag], (long long)r[i].result);
	tap_ok(order_ok, "static: completed by priority, ties in FIFO order");
	for (i = 1, j = 0; i <= n; i++)
		j += r[i].result == 4;
	tap_ok(j == n, "static: every PREAD read its 4 bytes (%u)", j);
}

/* Counts A's records in @buf (FLOOD records of RECORD bytes). */
static int records_in(const char *buf)
{
	int i, n = 0;

	for (i = 0; i < FLOOD; i++)
		n += buf[i * RECORD] == 'A';
	return n;
}

static void test_fairness(const char *path)
{
	static char seen[5][FLOOD * RECORD], record[RECORD];
	struct sysmsg_reply r[8];
	struct sysmsg_msg m;
	int status, sync[2], wfd, i, err, got, a_done = -1;
	pid_t a;
	char c;

	wfd = open(path, O_RDWR);
	if (!tap_ok(wfd >= 0 && !ftruncate(wfd, FLOOD * RECORD) && !pipe(sync),
		    "fair: a file for A's writes"))
		return;
	if (!tap_ok(hold_worker(devfd), "fair: the one worker is held by a tty READ"))
		return;
	a = fork();
	if (a == 0) {
		static struct sysmsg_msg flood[FLOOD];
		struct sysmsg_reply rr[64];
		int n = 0, k;

		memset(record, 'A', sizeof(record));
		for (i = 0; i < FLOOD; i++) {
			sysmsg_prep_pwrite(&flood[i], wfd, record, RECORD, (__s64)i * RECORD, i);
			flood[i].prio = SYSMSG_PRIO_MAX;
		}
		k = raw_submit(devfd, flood, FLOOD, &err);
		c = k == FLOOD ? 'q' : 'x';
		if (write(sync[1], &c, 1) != 1)
			_exit(2);
		while (n < FLOOD) {
			k = reap_n(devfd, rr, FLOOD - n < 64 ? FLOOD - n : 64, REPLY_TIMEOUT_MS);
			if (k <= 0)
				_exit(3);
			n += k;
		}
		_exit(0);
	}
	if (!tap_ok(a > 0 && read(sync[0], &c, 1) == 1 && c == 'q',
		    "fair: process A queued %d top-priority PWRITEs", FLOOD))
		goto out;
	/* This process is B: 5 lowest-priority PREADs of A's records, queued after A's flood. */
	for (i = 0; i < 5; i++) {
		sysmsg_prep_pread(&m, wfd, seen[i], sizeof(seen[i]), 0, 2000 + i);
		m.prio = SYSMSG_PRIO_MIN;
		if (raw_submit(devfd, &m, 1, &err) != 1)
			break;
	}
	tap_ok(i == 5, "fair: process B queued 5 lowest-priority PREADs");
	tap_ok(release_worker(), "fair: release the worker");
	got = reap_n(devfd, r, 6, REPLY_TIMEOUT_MS);
	tap_ok(got == 6, "fair: B got its tty READ and 5 PREAD replies (%d)", got);
	for (i = 0; i < 5; i++) {
		int n = records_in(seen[i]);

		diag("fair: B's PREAD %d ran after %d of A's %d writes", i, n, FLOOD);
		if (n > a_done)
			a_done = n;
	}
	tap_ok(a_done >= 0 && a_done <= FAIR_BOUND,
	       "fair: B's 5 lowest-priority PREADs ran within A's first %d top-priority writes (%d)",
	       FAIR_BOUND, a_done);
	tap_ok(waitpid(a, &status, 0) == a && WIFEXITED(status) && !WEXITSTATUS(status),
	       "fair: A got all its replies");
	tap_ok(pread(wfd, seen[0], sizeof(seen[0]), 0) == sizeof(seen[0]) &&
		       records_in(seen[0]) == FLOOD,
	       "fair: and all its writes were done");
out:
	close(wfd);
}

static void test_bad_prio(void)
{
	struct sysmsg_msg m;
	int err;

	sysmsg_prep_nop(&m, 1);
	m.prio = SYSMSG_PRIO_MAX + 1;
	tap_ok(raw_submit(devfd, &m, 1, &err) == -EINVAL && err == EINVAL, "prio %d: EINVAL", m.prio);
	m.prio = SYSMSG_PRIO_MIN - 1;
	tap_ok(raw_submit(devfd, &m, 1, &err) == -EINVAL && err == EINVAL, "prio %d: EINVAL", m.prio);
	m.prio = SYSMSG_PRIO_MIN;
	tap_ok(raw_submit(devfd, &m, 1, &err) == 1 && reap_n(devfd, (struct sysmsg_reply[1]){}, 1,
							     REPLY_TIMEOUT_MS) == 1,
	       "prio %d: accepted", m.prio);
}

int main(void)
{
	struct sysmsg_info info;
	char path[64];
	int ffd;

	devfd = dev_open();
	if (!tap_ok(devfd >= 0, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	if (!tap_ok(!ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) &&
			    (info.features & SYSMSG_FEATURE_PRIO),
		    "SYSMSG_FEATURE_PRIO"))
		return tap_done();
	master = posix_openpt(O_RDWR | O_NOCTTY);
	slave = -1;
	if (master >= 0 && !grantpt(master) && !unlockpt(master))
		slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	ffd = tmpfile_open(path, O_CLOEXEC);
	if (!tap_ok(slave >= 0 && ffd >= 0 && pwrite(ffd, "data", 4, 0) == 4,
		    "a pseudo-terminal and a temporary file"))
		return tap_done();
	if (!tap_ok(!sysctl_set_saved("max_workers", 1), "kernel.sysmsg.max_workers = 1"))
		return tap_done();

	test_static_order(ffd);
	test_fairness(path);
	test_bad_prio();

	tap_ok(no_reply_for(devfd, 100), "no stray reply is left");
	close(ffd);
	unlink(path);
	close(devfd);
	return tap_done();
}
