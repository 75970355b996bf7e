// SPDX-License-Identifier: GPL-2.0
/*
 * Limits that never deadlock (README.md): the sysctls (modes, ranges,
 * root only), SYSMSG_IOC_GET_LIMITS/SET_LIMITS (per_process_limits, EINVAL
 * rules, CAP_SYS_RESOURCE for raising the hard limit, other processes:
 * prlimit rights, ESRCH), one limit for all files of a process, the
 * hysteresis at its exact points, lowering a limit below what is in flight,
 * max_total and nr_inflight, SYSMSG_SUBMIT_WAIT, the counters in
 * SYSMSG_IOC_PROC_STATS and fdinfo, and libsysmsg's fallback.
 *
 * Runs as root; every sysctl it changes is restored at exit (also when it is
 * killed by SIGTERM, as the runner's timeout does).
 */
#define _GNU_SOURCE
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include "testlib.h"

#define NOBODY 65534
#define DEF_SOFT 16384
#define DEF_HARD 131072
#define LIMIT_MAX 16777216ULL

static int devfd;


/* Reports the child's checks; @status from waitpid (the child must have exited 0). */
static void report_child(const char *who, int waited, int status)
{
	report_remote(who);
	tap_ok(waited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "%s: exited normally (status %#x)", who, status);
}

static const char *errname(int e)
{
	if (e < 0)
		e = -e;
	return e ? strerrorname_np(e) : "0";
}

/* A one-byte command channel to a child: pipes[0] parent->child, [1] child->parent. */
struct chan {
	int down[2], up[2];
};

static int chan_open(struct chan *c)
{
	return pipe2(c->down, O_CLOEXEC) || pipe2(c->up, O_CLOEXEC) ? -1 : 0;
}

static void chan_close(struct chan *c)
{
	close(c->down[0]);
	close(c->down[1]);
	close(c->up[0]);
	close(c->up[1]);
}

/* Drops to uid/gid 65534 with no supplementary groups (and so no capabilities). */
static int become_nobody(void)
{
	return setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
			       setresuid(NOBODY, NOBODY, NOBODY)
		       ? -1
		       : 0;
}

/* One SUBMIT of @n NOPs tagged @tag0..: the number accepted or -errno. */
static int nops(int fd, int n, __u64 tag0)
{
	struct sysmsg_msg m[64];
	int i;

	for (i = 0; i < n && i < (int)ARRAY_SIZE(m); i++)
		sysmsg_prep_nop(&m[i], tag0 + i);
	return raw_submit(fd, m, i, NULL);
}

/* Reaps one reply without waiting: 1, or <= 0. */
static int reap1(int fd)
{
	struct sysmsg_reply r;

	return raw_reap(fd, &r, 1, SYSMSG_REAP_NOWAIT);
}

/* Reaps everything this process has in flight on @fd (waiting up to 30 s). */
static void drain_all(int fd)
{
	struct sysmsg_proc_stats st;
	struct sysmsg_reply r[64];
	long long deadline = now_ns() + 30 * NSEC_PER_SEC;

	while (now_ns() < deadline) {
		if (raw_reap(fd, r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT) > 0)
			continue;
		if (proc_stats_of(fd, 0, &st) || !st.inflight)
			return;
		sleep_ms(5);
	}
}

static int set_soft(__u64 soft)
{
	return raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT, soft, 0, NULL);
}

/* Our own PROC_STATS entry (zeroed if it is missing: a failed check says so). */
static struct sysmsg_proc_stats me(void)
{
	struct sysmsg_proc_stats st;

	if (proc_stats_of(devfd, 0, &st))
		memset(&st, 0, sizeof(st));
	return st;
}

static int throttled(void)
{
	return !!(me().flags & SYSMSG_PROC_THROTTLED);
}

/* ---- sysctls ---- */

struct sysctl_def {
	const char *name;
	int writable;
	long long dflt; /* -1: not checked */
	const char *bad[3];
};

static const struct sysctl_def sysctls[] = {
	{ "max_per_process", 1, DEF_SOFT, { "0", "16777217", "-1" } },
	{ "max_per_process_hard", 1, DEF_HARD, { "0", "16777217", "abc" } },
	{ "per_process_limits", 1, 0, { "2", "-1", NULL } },
	{ "max_total", 1, 1048576, { "0", "16777217", NULL } },
	{ "low_water", 1, 50, { "101", "-1", NULL } },
	{ "max_workers", 1, 4, { "0", "513", NULL } },
	{ "nr_inflight", 0, -1, { NULL } },
	{ "limit_hits", 0, -1, { NULL } },
	{ "throttle_episodes", 0, -1, { NULL } },
};

static void test_sysctls(void)
{
	const struct sysctl_def *d;
	struct sysmsg_limits l;
	struct sysmsg_info info;
	char path[128];
	struct stat st;
	long long v, w;
	unsigned int i, k;
	int ret, status = 0, waited;
	pid_t pid;

	for (i = 0; i < ARRAY_SIZE(sysctls); i++) {
		d = &sysctls[i];
		snprintf(path, sizeof(path), SYSCTL_DIR "%s", d->name);
		ret = stat(path, &st);
		tap_ok(ret == 0 && (st.st_mode & 07777) == (d->writable ? 0644u : 0444u),
		       "kernel.sysmsg.%s exists, mode %o (%o)", d->name, d->writable ? 0644 : 0444,
		       ret ? 0 : st.st_mode & 07777);
		ret = sysctl_get(d->name, &v);
		if (d->dflt >= 0)
			tap_ok(ret == 0 && v == d->dflt, "kernel.sysmsg.%s reads %lld, the default (%lld)",
			       d->name, d->dflt, v);
		else
			tap_ok(ret == 0 && v >= 0, "kernel.sysmsg.%s reads %lld", d->name, v);
		if (!d->writable) {
			tap_ok(sysctl_put(d->name, "0") == -EACCES,
			       "kernel.sysmsg.%s is read-only, even for root: EACCES", d->name);
			continue;
		}
		for (k = 0; k < ARRAY_SIZE(d->bad) && d->bad[k]; k++) {
			ret = sysctl_put(d->name, d->bad[k]);
			w = -1;
			sysctl_get(d->name, &w);
			tap_ok(ret == -EINVAL && w == v,
			       "kernel.sysmsg.%s = %s: EINVAL, the value stays %lld (%s, %lld)", d->name,
			       d->bad[k], v, errname(ret), w);
		}
	}

	/* In-range values are taken; the edges of the ranges too. */
	ret = sysctl_set_saved("low_water", 0);
	tap_ok(ret == 0 && sysctl_set("low_water", 100) == 0 && sysctl_get("low_water", &v) == 0 &&
		       v == 100 && sysctl_set("low_water", 50) == 0,
	       "kernel.sysmsg.low_water takes 0 and 100");
	ret = sysctl_set_saved("max_per_process_hard", LIMIT_MAX);
	tap_ok(ret == 0 && sysctl_get("max_per_process_hard", &v) == 0 && v == (long long)LIMIT_MAX,
	       "kernel.sysmsg.max_per_process_hard takes 16777216");
	sysctl_set("max_per_process_hard", DEF_HARD);

	/* per_process_limits = 0: everyone has the defaults as they are now. */
	sysctl_set_saved("per_process_limits", 0);
	ret = sysctl_set_saved("max_per_process", 1000);
	tap_ok(ret == 0 && raw_get_limits(devfd, 0, &l) == 0 && l.soft == 1000 && l.hard == DEF_HARD &&
		       ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 && info.queue_limit == 1000,
	       "max_per_process = 1000 applies to a running process at once: GET_LIMITS %llu/%llu, queue_limit %u",
	       (unsigned long long)l.soft, (unsigned long long)l.hard, info.queue_limit);
	ret = sysctl_set("max_per_process", LIMIT_MAX);
	tap_ok(ret == 0 && ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
		       info.queue_limit == DEF_HARD,
	       "max_per_process = 16777216 above the hard default: the effective limit is min(soft, hard) = %d (%u)",
	       DEF_HARD, info.queue_limit);
	sysctl_set("max_per_process", DEF_SOFT);
	tap_ok(ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 && info.queue_limit == DEF_SOFT,
	       "back to the default: queue_limit %u", info.queue_limit);

	/* Writable only by root; readable by anyone. */
	remote->n = 0;
	pid = fork();
	if (pid == 0) {
		int r1, r2;

		if (!rcheck(become_nobody() == 0, "setresuid(65534)"))
			_exit(1);
		r1 = sysctl_put("max_per_process", "100");
		r2 = sysctl_put("per_process_limits", "1");
		rcheck((r1 == -EACCES || r1 == -EPERM) && (r2 == -EACCES || r2 == -EPERM),
		       "uid 65534 cannot write max_per_process, per_process_limits (%s, %s)",
		       errname(r1), errname(r2));
		rcheck(sysctl_get("max_per_process", &v) == 0 && v == DEF_SOFT,
		       "uid 65534 reads max_per_process (%lld)", v);
		_exit(0);
	}
	waited = pid > 0 && waitpid(pid, &status, 0) == pid;
	report_child("unprivileged", waited, status);
	tap_ok(sysctl_get("max_per_process", &v) == 0 && v == DEF_SOFT,
	       "max_per_process unchanged (%lld)", v);
}

/* ---- GET_LIMITS / SET_LIMITS ---- */

static void test_limit_rules(void)
{
	struct sysmsg_limits l, out;
	struct sysmsg_info info;
	int ret;

	sysctl_set_saved("per_process_limits", 0);
	ret = raw_get_limits(devfd, 0, &l);
	tap_ok(ret == 0 && l.soft == DEF_SOFT && l.hard == DEF_HARD && !l.reserved[0] &&
		       !l.reserved[1],
	       "GET_LIMITS: soft %llu, hard %llu, the defaults (%s)", (unsigned long long)l.soft,
	       (unsigned long long)l.hard, errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT, 100, 0, NULL);
	tap_ok(ret == -EPERM, "per_process_limits = 0: SET_LIMITS fails with EPERM, even for root (%s)",
	       errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_HARD, 0, 1000, NULL);
	tap_ok(ret == -EPERM, "per_process_limits = 0: lowering the hard limit: EPERM too (%s)",
	       errname(ret));

	memset(&l, 0, sizeof(l));
	l.flags = SYSMSG_LIMIT_SOFT;
	tap_errno(ioctl(devfd, SYSMSG_IOC_GET_LIMITS, &l), EINVAL, "GET_LIMITS with flags: EINVAL");
	memset(&l, 0, sizeof(l));
	l.reserved[1] = 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_GET_LIMITS, &l), EINVAL, "GET_LIMITS with reserved[1]: EINVAL");
	tap_errno(ioctl(devfd, SYSMSG_IOC_GET_LIMITS, (void *)8), EFAULT, "GET_LIMITS to a bad pointer: EFAULT");

	ret = sysctl_set_saved("per_process_limits", 1);
	if (!tap_ok(ret == 0, "per_process_limits = 1 (%s)", errname(ret)))
		return;
	memset(&out, 0, sizeof(out));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT, 100, 0, &out);
	tap_ok(ret == 0 && out.soft == 100 && out.hard == DEF_HARD,
	       "SET_LIMITS soft 100: writes back soft %llu, hard %llu (%s)",
	       (unsigned long long)out.soft, (unsigned long long)out.hard, errname(ret));
	tap_ok(raw_get_limits(devfd, 0, &l) == 0 && l.soft == 100 && l.hard == DEF_HARD &&
		       ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 && info.queue_limit == 100,
	       "GET_LIMITS and queue_limit say 100 (%llu, %u)", (unsigned long long)l.soft,
	       info.queue_limit);

	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT, 0, 0, NULL);
	tap_ok(ret == -EINVAL, "soft limit 0: EINVAL (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_HARD, 0, 0, NULL);
	tap_ok(ret == -EINVAL, "hard limit 0: EINVAL (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, LIMIT_MAX + 1,
			     LIMIT_MAX + 1, NULL);
	tap_ok(ret == -EINVAL, "limits of 16777217: EINVAL (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT, DEF_HARD + 1, 0, NULL);
	tap_ok(ret == -EINVAL, "soft above hard: EINVAL (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_HARD, 0, 50, NULL);
	tap_ok(ret == -EINVAL, "hard 50 below the soft limit 100: EINVAL (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, 60, 50, NULL);
	tap_ok(ret == -EINVAL, "soft 60 > hard 50 in one call: EINVAL (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, (SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD) + 1, 100, 0, NULL);
	tap_ok(ret == -EINVAL, "an unknown flag: EINVAL (%s)", errname(ret));
	memset(&l, 0, sizeof(l));
	l.flags = SYSMSG_LIMIT_SOFT;
	l.soft = 10;
	l.reserved[0] = 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_SET_LIMITS, &l), EINVAL, "SET_LIMITS with reserved[0]: EINVAL");
	tap_ok(raw_get_limits(devfd, 0, &l) == 0 && l.soft == 100 && l.hard == DEF_HARD,
	       "the refused calls changed nothing (%llu/%llu)", (unsigned long long)l.soft,
	       (unsigned long long)l.hard);

	/* Root (CAP_SYS_RESOURCE) lowers and raises the hard limit. */
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, 50, 60, &out);
	tap_ok(ret == 0 && out.soft == 50 && out.hard == 60, "lower both to 50/60 (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_HARD, 0, LIMIT_MAX, &out);
	tap_ok(ret == 0 && out.soft == 50 && out.hard == LIMIT_MAX,
	       "root raises the hard limit to 16777216 (%s)", errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT, LIMIT_MAX, 0, &out);
	tap_ok(ret == 0 && out.soft == LIMIT_MAX && ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
		       info.queue_limit == LIMIT_MAX,
	       "and the soft one up to it: queue_limit %u (%s)", info.queue_limit, errname(ret));
	ret = raw_set_limits(devfd, 0, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, DEF_SOFT, DEF_HARD, &out);
	tap_ok(ret == 0 && out.soft == DEF_SOFT && out.hard == DEF_HARD, "back to %d/%d (%s)", DEF_SOFT,
	       DEF_HARD, errname(ret));
}

/* Unprivileged callers: lowering yes, raising the hard limit no, others' limits no. */
static void test_unprivileged(void)
{
	struct sysmsg_limits l;
	int status = 0, waited, ret;
	struct chan c;
	pid_t pid, target;

	/* A root child without CAP_SYS_RESOURCE. */
	remote->n = 0;
	pid = fork();
	if (pid == 0) {
		int fd = dev_open();

		if (!rcheck(fd >= 0 && drop_cap(CAP_SYS_RESOURCE) == 0,
			    "open, drop CAP_SYS_RESOURCE (uid stays 0)"))
			_exit(1);
		ret = raw_get_limits(fd, 0, &l);
		rcheck(ret == 0 && l.soft == DEF_SOFT && l.hard == DEF_HARD,
		       "a new process starts with the defaults %llu/%llu (%s)",
		       (unsigned long long)l.soft, (unsigned long long)l.hard, errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_HARD, 0, DEF_HARD + 1, NULL);
		rcheck(ret == -EPERM, "raising the hard limit: EPERM (%s)", errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_HARD, 0, 1000, NULL);
		rcheck(ret == -EINVAL, "hard 1000 below the soft %d: EINVAL (%s)", DEF_SOFT,
		       errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, 500, 1000, &l);
		rcheck(ret == 0 && l.soft == 500 && l.hard == 1000, "lowering both to 500/1000 (%s)",
		       errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_HARD, 0, 1001, NULL);
		rcheck(ret == -EPERM, "raising the hard limit again to 1001: EPERM (%s)", errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_SOFT, 1000, 0, &l);
		rcheck(ret == 0 && l.soft == 1000, "the soft limit moves up to the hard one (%s)",
		       errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_SOFT, 1001, 0, NULL);
		rcheck(ret == -EINVAL, "but not above it: EINVAL (%s)", errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_HARD, 0, 1000, &l);
		rcheck(ret == 0 && l.hard == 1000, "setting the hard limit to what it is (%s)",
		       errname(ret));
		_exit(0);
	}
	waited = pid > 0 && waitpid(pid, &status, 0) == pid;
	report_child("root without CAP_SYS_RESOURCE", waited, status);

	/*
	 * uid 65534: its own limits down, not up; not root's; but another uid
	 * 65534 process's (prlimit rights), except raising its hard limit.
	 */
	if (chan_open(&c))
		return;
	target = fork();
	if (target == 0) {
		int fd = dev_open();

		if (fd < 0 || become_nobody())
			_exit(1);
		nops(fd, 1, 1); /* it uses sysmsg */
		chan_send(c.up[1]);
		chan_wait(c.down[0]);
		_exit(0);
	}
	if (!tap_ok(target > 0 && chan_wait(c.up[0]), "a uid 65534 process using sysmsg")) {
		chan_close(&c);
		return;
	}
	remote->n = 0;
	pid = fork();
	if (pid == 0) {
		int fd = dev_open();

		if (!rcheck(fd >= 0 && become_nobody() == 0, "open, setresuid(65534)"))
			_exit(1);
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, 100, 200, &l);
		rcheck(ret == 0 && l.soft == 100 && l.hard == 200, "lowering its own limits to 100/200 (%s)",
		       errname(ret));
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_HARD, 0, 201, NULL);
		rcheck(ret == -EPERM, "raising its own hard limit: EPERM (%s)", errname(ret));
		ret = raw_get_limits(fd, getppid(), &l);
		rcheck(ret == -EPERM, "GET_LIMITS of a root process: EPERM (%s)", errname(ret));
		ret = raw_set_limits(fd, getppid(), SYSMSG_LIMIT_SOFT, 10, 0, NULL);
		rcheck(ret == -EPERM, "SET_LIMITS of a root process: EPERM (%s)", errname(ret));
		ret = raw_get_limits(fd, target, &l);
		rcheck(ret == 0 && l.soft == DEF_SOFT && l.hard == DEF_HARD,
		       "GET_LIMITS of another uid 65534 process: %llu/%llu (%s)",
		       (unsigned long long)l.soft, (unsigned long long)l.hard, errname(ret));
		ret = raw_set_limits(fd, target, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, 300, 400, &l);
		rcheck(ret == 0 && l.soft == 300 && l.hard == 400,
		       "lowering another uid 65534 process's limits to 300/400 (%s)", errname(ret));
		ret = raw_set_limits(fd, target, SYSMSG_LIMIT_HARD, 0, 500, NULL);
		rcheck(ret == -EPERM, "raising its hard limit: EPERM (%s)", errname(ret));
		_exit(0);
	}
	waited = pid > 0 && waitpid(pid, &status, 0) == pid;
	report_child("uid 65534", waited, status);
	ret = raw_get_limits(devfd, target, &l);
	tap_ok(ret == 0 && l.soft == 300 && l.hard == 400,
	       "root sees the other process's limits 300/400 (%llu/%llu, %s)",
	       (unsigned long long)l.soft, (unsigned long long)l.hard, errname(ret));
	chan_send(c.down[1]);
	waitpid(target, &status, 0);
	chan_close(&c);
	tap_ok(raw_get_limits(devfd, 0, &l) == 0 && l.soft == DEF_SOFT && l.hard == DEF_HARD,
	       "our own limits are untouched (%llu/%llu)", (unsigned long long)l.soft,
	       (unsigned long long)l.hard);
}

/* Root sets another process's limits; ESRCH for processes that do not use sysmsg. */
static void test_other_pid(void)
{
	struct sysmsg_limits l;
	struct sysmsg_info info;
	int status = 0, waited, ret;
	struct chan c;
	pid_t pid;

	if (chan_open(&c))
		return;
	remote->n = 0;
	pid = fork();
	if (pid == 0) {
		int fd = dev_open();

		close(devfd);
		if (!rcheck(fd >= 0, "open"))
			_exit(1);
		chan_send(c.up[1]);
		chan_wait(c.down[0]);
		ret = raw_get_limits(fd, 0, &l);
		rcheck(ret == 0 && l.soft == 77 && ioctl(fd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
			       info.queue_limit == 77,
		       "its own GET_LIMITS and queue_limit show the soft limit 77 root set (%llu, %u)",
		       (unsigned long long)l.soft, info.queue_limit);
		_exit(0);
	}
	if (!chan_wait(c.up[0])) {
		tap_ok(0, "a child using sysmsg");
		chan_close(&c);
		return;
	}
	ret = raw_get_limits(devfd, pid, &l);
	tap_ok(ret == 0 && l.soft == DEF_SOFT,
	       "root: GET_LIMITS of a child by pid (%s)", errname(ret));
	ret = raw_set_limits(devfd, pid, SYSMSG_LIMIT_SOFT, 77, 0, &l);
	tap_ok(ret == 0 && l.soft == 77, "root: SET_LIMITS soft 77 of the child (%s)", errname(ret));
	chan_send(c.down[1]);
	waited = waitpid(pid, &status, 0) == pid;
	report_child("child", waited, status);
	chan_close(&c);

	/* A process that does not use sysmsg (it never touches the device). */
	if (chan_open(&c))
		return;
	pid = fork();
	if (pid == 0) {
		close(devfd);
		chan_send(c.up[1]);
		chan_wait(c.down[0]);
		_exit(0);
	}
	chan_wait(c.up[0]);
	ret = raw_get_limits(devfd, pid, &l);
	tap_ok(ret == -ESRCH, "GET_LIMITS of a process that does not use sysmsg: ESRCH (%s)",
	       errname(ret));
	ret = raw_set_limits(devfd, pid, SYSMSG_LIMIT_SOFT, 10, 0, NULL);
	tap_ok(ret == -ESRCH, "SET_LIMITS of it: ESRCH (%s)", errname(ret));
	chan_send(c.down[1]);
	waitpid(pid, &status, 0);
	chan_close(&c);
	ret = raw_get_limits(devfd, pid, &l);
	tap_ok(ret == -ESRCH, "GET_LIMITS of a pid that exited: ESRCH (%s)", errname(ret));
}

/* ---- one count and one limit over all files of a process ---- */

static void test_two_files(void)
{
	struct sysmsg_msg m[9];
	struct sysmsg_info info;
	struct sysmsg_reply r;
	char bufs[9];
	int fa, fb, p[2], i, n, ret;

	fa = dev_open();
	fb = dev_open();
	if (!tap_ok(fa >= 0 && fb >= 0 && pipe2(p, O_CLOEXEC) == 0, "two more files, a pipe"))
		return;
	ret = set_soft(8);
	tap_ok(ret == 0 && ioctl(fb, SYSMSG_IOC_GET_INFO, &info) == 0 && info.queue_limit == 8,
	       "soft limit 8: queue_limit 8 on every file (%u)", info.queue_limit);
	for (i = 0; i < 9; i++)
		sysmsg_prep_read(&m[i], p[0], &bufs[i], 1, 100 + i);
	n = raw_submit(fa, m, 8, NULL);
	tap_ok(n == 8, "8 pipe reads pending through file A (%d)", n);
	tap_ok(me().inflight == 8, "PROC_STATS: 8 in flight");
	n = nops(fb, 1, 200);
	tap_ok(n == -EAGAIN, "a NOP through file B: EAGAIN, the limit covers both files (%d)", n);
	n = raw_submit(fa, &m[8], 1, NULL);
	tap_ok(n == -EAGAIN, "a 9th read through file A: EAGAIN (%d)", n);
	tap_ok(fdinfo_ll(0, fb, "sysmsg-inflight") == 8 && fdinfo_ll(0, devfd, "sysmsg-inflight") == 8,
	       "fdinfo of file B and of the first file: sysmsg-inflight 8 (the process's count; %lld, %lld)",
	       fdinfo_ll(0, fb, "sysmsg-inflight"), fdinfo_ll(0, devfd, "sysmsg-inflight"));
	close(fa);
	n = -1;
	for (i = 0; i < 50 && n != 1; i++) {
		n = nops(fb, 1, 201);
		if (n != 1)
			sleep_ms(20);
	}
	tap_ok(n == 1, "after closing file A (its 8 reads aborted): file B submits (%d tries)", i);
	tap_ok(reap_n(fb, &r, 1, REPLY_TIMEOUT_MS) == 1 && r.tag == 201 && me().inflight == 0,
	       "and reaps its NOP; nothing in flight");
	close(fb);
	close(p[0]);
	close(p[1]);
	set_soft(DEF_SOFT);
}

/* ---- hysteresis ---- */

static void test_hysteresis(int limit, int low_water)
{
	struct sysmsg_proc_stats s0, st;
	int mark = limit * low_water / 100, k, n, ok, hits = 0, episodes = 0;
	struct sysmsg_msg m;
	char what[64];

	snprintf(what, sizeof(what), "limit %d, low_water %d (mark %d)", limit, low_water, mark);
	drain_all(devfd);
	if (!tap_ok(sysctl_set_saved("low_water", low_water) == 0 && set_soft(limit) == 0,
		    "%s: set", what))
		return;
	s0 = me();

	n = nops(devfd, limit, 1000);
	st = me();
	tap_ok(n == limit && st.inflight == (__u64)limit && !(st.flags & SYSMSG_PROC_THROTTLED) &&
		       !pollout_now(devfd),
	       "%s: %d NOPs fill it; not throttled; no POLLOUT at the limit (%d, flags %#x)", what,
	       limit, n, st.flags);
	n = nops(devfd, 1, 2000);
	hits++;
	if (limit > mark)
		episodes++;
	st = me();
	tap_ok(n == -EAGAIN && !!(st.flags & SYSMSG_PROC_THROTTLED) == (limit > mark) &&
		       st.limit_hits == s0.limit_hits + hits &&
		       st.throttle_episodes == s0.throttle_episodes + episodes &&
		       st.peak_inflight >= (__u64)limit && !pollout_now(devfd),
	       "%s: one more: EAGAIN, %s, limit_hits +1, episodes +%d, no POLLOUT (%d, flags %#x, hits +%lld, episodes +%lld)",
	       what, limit > mark ? "throttled" : "not throttled (in flight <= mark)", episodes, n,
	       st.flags, (long long)(st.limit_hits - s0.limit_hits),
	       (long long)(st.throttle_episodes - s0.throttle_episodes));
	sysmsg_prep_nop(&m, 2001);
	if (limit > mark) {
		tap_errno(write(devfd, &m, sizeof(m)), EAGAIN, "%s: write(2) of a NOP: EAGAIN, not waiting",
			  what);
		hits++;
	}

	/* Reap one at a time: throttled while in flight > mark. */
	ok = 1;
	for (k = limit - 1; k > mark; k--) {
		if (reap1(devfd) != 1)
			ok = 0;
		st = me();
		n = nops(devfd, 1, 3000 + k);
		hits++;
		if (!(st.flags & SYSMSG_PROC_THROTTLED) || st.inflight != (__u64)k || n != -EAGAIN ||
		    pollout_now(devfd)) {
			diag("%s: at %d in flight: flags %#x, inflight %llu, submit %d, POLLOUT %d",
			     what, k, st.flags, (unsigned long long)st.inflight, n, pollout_now(devfd));
			ok = 0;
		}
	}
	if (limit - 1 > mark)
		tap_ok(ok, "%s: reaping down to %d in flight: still throttled, no POLLOUT, EAGAIN", what,
		       mark + 1);
	if (reap1(devfd) != 1)
		ok = 0;
	k = limit - 1 > mark ? mark : limit - 1;
	st = me();
	tap_ok(st.inflight == (__u64)k && !(st.flags & SYSMSG_PROC_THROTTLED) && pollout_now(devfd),
	       "%s: at %d in flight: POLLOUT again, not throttled (flags %#x, inflight %llu)", what, k,
	       st.flags, (unsigned long long)st.inflight);
	n = nops(devfd, limit - k, 4000);
	st = me();
	tap_ok(n == limit - k && st.inflight == (__u64)limit,
	       "%s: submits are accepted again, up to the limit (%d of %d)", what, n, limit - k);
	n = nops(devfd, 1, 5000);
	hits++;
	if (limit > mark)
		episodes++;
	st = me();
	tap_ok(n == -EAGAIN && !!(st.flags & SYSMSG_PROC_THROTTLED) == (limit > mark) &&
		       st.limit_hits == s0.limit_hits + hits &&
		       st.throttle_episodes == s0.throttle_episodes + episodes,
	       "%s: refused at the limit again; counters: limit_hits +%d, throttle_episodes +%d (+%lld, +%lld)",
	       what, hits, episodes, (long long)(st.limit_hits - s0.limit_hits),
	       (long long)(st.throttle_episodes - s0.throttle_episodes));
	drain_all(devfd);
	tap_ok(me().inflight == 0 && !throttled() && pollout_now(devfd),
	       "%s: all reaped: not throttled, POLLOUT", what);
}

static atomic_int poller_done, poller_revents;

static void *pollout_waiter(void *arg)
{
	struct pollfd pfd = { .fd = devfd, .events = POLLOUT };

	(void)arg;
	if (poll(&pfd, 1, 10000) == 1)
		atomic_store(&poller_revents, pfd.revents);
	atomic_store(&poller_done, 1);
	return NULL;
}

/* A thread waiting in poll() for POLLOUT is woken when the mark is reached. */
static void test_pollout_wake(void)
{
	pthread_t th;
	long long t0;
	int n, i;

	drain_all(devfd);
	sysctl_set_saved("low_water", 50);
	set_soft(4);
	n = nops(devfd, 4, 1);
	tap_ok(n == 4 && nops(devfd, 1, 5) == -EAGAIN && reap1(devfd) == 1 && throttled(),
	       "limit 4: filled, refused, one reaped: throttled at 3 in flight");
	atomic_store(&poller_done, 0);
	atomic_store(&poller_revents, 0);
	if (pthread_create(&th, NULL, pollout_waiter, NULL))
		return;
	sleep_ms(200);
	tap_ok(!atomic_load(&poller_done), "a thread in poll(POLLOUT) waits while throttled");
	t0 = now_ns();
	reap1(devfd);
	for (i = 0; i < 500 && !atomic_load(&poller_done); i++)
		sleep_ms(10);
	tap_ok(atomic_load(&poller_done) && (atomic_load(&poller_revents) & POLLOUT),
	       "reaping down to the mark (2) wakes it with POLLOUT after %lld ms (revents %#x)",
	       (now_ns() - t0) / NSEC_PER_MSEC, atomic_load(&poller_revents));
	pthread_join(th, NULL);
	drain_all(devfd);
	set_soft(DEF_SOFT);
}

/* Lowering the soft limit below what is in flight cancels nothing. */
static void test_lower_below(void)
{
	struct sysmsg_reply r[8];
	struct sysmsg_info info;
	int n, i, seen = 0;

	drain_all(devfd);
	sysctl_set_saved("low_water", 50);
	set_soft(8);
	n = nops(devfd, 6, 600);
	tap_ok(n == 6 && set_soft(2) == 0 && ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
		       info.queue_limit == 2 && me().inflight == 6,
	       "6 in flight, soft limit lowered to 2: allowed, nothing cancelled (queue_limit %u)",
	       info.queue_limit);
	tap_ok(!pollout_now(devfd) && nops(devfd, 1, 700) == -EAGAIN && throttled(),
	       "no POLLOUT; a submit is refused and throttles the process");
	for (i = 0; i < 4; i++)
		reap1(devfd);
	tap_ok(me().inflight == 2 && nops(devfd, 1, 701) == -EAGAIN && !pollout_now(devfd),
	       "down to 2 (the limit) in flight: still throttled (mark 1)");
	reap1(devfd);
	tap_ok(me().inflight == 1 && pollout_now(devfd) && !throttled(),
	       "down to 1: POLLOUT, not throttled");
	n = nops(devfd, 1, 702);
	tap_ok(n == 1, "a NOP is accepted (%d)", n);
	n = reap_n(devfd, r, 2, REPLY_TIMEOUT_MS);
	for (i = 0; i < n; i++)
		seen += r[i].tag >= 600 && r[i].tag < 606 ? 1 : r[i].tag == 702 ? 10 : 100;
	/* 5 of the 6 were reaped above; the 6th and 702 remain. */
	tap_ok(n == 2 && seen == 11 && no_reply_for(devfd, 0),
	       "every one of the 6 earlier NOPs replied, then the new one");
	set_soft(DEF_SOFT);
}

/* ---- max_total and nr_inflight ---- */

static void test_max_total(void)
{
	struct sysmsg_proc_stats st;
	long long base = -1, v = -1, orig = 1048576;
	int status = 0, waited, n;
	struct chan c;
	pid_t pid;

	drain_all(devfd);
	sysctl_get("max_total", &orig);
	tap_ok(sysctl_get("nr_inflight", &base) == 0 && base >= 0,
	       "kernel.sysmsg.nr_inflight with nothing of ours in flight: %lld", base);
	n = nops(devfd, 5, 1);
	tap_ok(n == 5 && sysctl_get("nr_inflight", &v) == 0 && v == base + 5,
	       "5 NOPs in flight (not reaped): nr_inflight %lld", v);
	drain_all(devfd);
	tap_ok(sysctl_get("nr_inflight", &v) == 0 && v == base, "reaped: nr_inflight %lld", v);

	if (chan_open(&c))
		return;
	n = sysctl_set_saved("max_total", base + 3);
	tap_ok(n == 0, "kernel.sysmsg.max_total = %lld (%s)", base + 3, errname(n));
	n = nops(devfd, 3, 10);
	tap_ok(n == 3 && sysctl_get("nr_inflight", &v) == 0 && v == base + 3,
	       "3 NOPs: the total is at max_total (nr_inflight %lld)", v);
	st = me();
	n = nops(devfd, 1, 13);
	tap_ok(n == -EAGAIN && me().limit_hits == st.limit_hits + 1 && !throttled(),
	       "a 4th: EAGAIN, limit_hits +1, not throttled (3 <= our mark) (%d)", n);

	remote->n = 0;
	pid = fork();
	if (pid == 0) {
		struct sysmsg_proc_stats cs;
		struct sysmsg_reply r;
		int fd = dev_open(), k;

		close(devfd);
		k = nops(fd, 1, 20);
		rcheck(k == -EAGAIN, "another process is refused by max_total: EAGAIN (%d)", k);
		k = proc_stats_of(fd, 0, &cs);
		rcheck(k == 0 && cs.limit_hits == 1 && cs.throttle_episodes == 0 &&
			       !(cs.flags & SYSMSG_PROC_THROTTLED) && cs.inflight == 0,
		       "its counters: limit_hits 1, not throttled, no episode (hits %llu, flags %#x, episodes %llu)",
		       (unsigned long long)cs.limit_hits, cs.flags,
		       (unsigned long long)cs.throttle_episodes);
		chan_send(c.up[1]);
		chan_wait(c.down[0]);
		k = nops(fd, 1, 21);
		rcheck(k == 1, "once the first process reaped one, it submits (%d)", k);
		rcheck(reap_n(fd, &r, 1, REPLY_TIMEOUT_MS) == 1 && r.tag == 21, "and reaps it");
		_exit(0);
	}
	chan_wait(c.up[0]);
	reap1(devfd);
	chan_send(c.down[1]);
	waited = pid > 0 && waitpid(pid, &status, 0) == pid;
	report_child("second process", waited, status);
	chan_close(&c);
	drain_all(devfd);
	sysctl_set("max_total", orig);
	tap_ok(sysctl_get("nr_inflight", &v) == 0 && v == base,
	       "nr_inflight back to %lld (%lld)", base, v);
}

/* ---- SYSMSG_SUBMIT_WAIT ---- */

static pthread_t main_thread;
static atomic_int waiter_state;

static void on_sigusr1(int sig)
{
	(void)sig;
}

static int submit_wait(int fd, int n, __u64 tag0, unsigned int *accepted, int *error)
{
	struct sysmsg_submit sub;
	struct sysmsg_msg m[8];
	int i, ret;

	for (i = 0; i < n; i++)
		sysmsg_prep_nop(&m[i], tag0 + i);
	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)m;
	sub.count = n;
	sub.flags = SYSMSG_SUBMIT_WAIT;
	ret = ioctl(fd, SYSMSG_IOC_SUBMIT, &sub);
	if (ret < 0)
		ret = -errno;
	*accepted = sub.accepted;
	*error = sub.error;
	return ret;
}

/*
 * After 300 ms: reap one (arg 1) or send SIGUSR1 (arg 0). Then a watchdog:
 * if the waiting submit has not returned after 10 s, SIGUSR1 every second
 * until it does.
 */
static void *helper(void *arg)
{
	int reap = (int)(uintptr_t)arg, i;

	sleep_ms(300);
	if (reap)
		reap1(devfd);
	else
		pthread_kill(main_thread, SIGUSR1);
	for (i = 0; !atomic_load(&waiter_state); i++) {
		sleep_ms(10);
		if (i == 1000)
			diag("the waiting submit did not return within 10 s: interrupting it");
		if (i >= 1000 && i % 100 == 0)
			pthread_kill(main_thread, SIGUSR1);
	}
	return NULL;
}

/*
 * SUBMIT_WAIT of @n NOPs from @tag while helper() reaps one (@reap) or
 * signals this thread; returns its result and sets *@dt to how long it took.
 * -EAGAIN with *@dt 0 if the helper thread could not start.
 */
static int submit_wait_helped(int reap, int n, __u64 tag, unsigned int *acc, int *err,
			      long long *dt)
{
	long long t0;
	pthread_t th;
	int ret;

	*dt = 0;
	atomic_store(&waiter_state, 0);
	if (pthread_create(&th, NULL, helper, (void *)(uintptr_t)reap))
		return -EAGAIN;
	t0 = now_ns();
	ret = submit_wait(devfd, n, tag, acc, err);
	*dt = now_ns() - t0;
	atomic_store(&waiter_state, 1);
	pthread_join(th, NULL);
	return ret;
}

static void test_submit_wait(void)
{
	struct sysmsg_submit sub;
	struct sysmsg_msg m;
	struct sigaction sa;
	unsigned int acc;
	long long t0, dt;
	int n, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	main_thread = pthread_self();
	drain_all(devfd);
	sysctl_set_saved("low_water", 50);
	set_soft(2);

	n = submit_wait(devfd, 2, 1, &acc, &err);
	tap_ok(n == 2 && acc == 2 && err == 0, "SUBMIT_WAIT with room: returns at once (%d)", n);
	sysmsg_prep_nop(&m, 3);
	t0 = now_ns();
	tap_errno(write(devfd, &m, sizeof(m)), EAGAIN, "at the limit, write(2) never waits: EAGAIN");
	tap_ok(now_ns() - t0 < 2 * NSEC_PER_SEC, "(and returned at once)");
	drain_all(devfd);

	/* Waits until another thread reaps. */
	nops(devfd, 2, 10);
	n = submit_wait_helped(1, 1, 12, &acc, &err, &dt);
	tap_ok(n == 1 && acc == 1 && dt >= 250 * NSEC_PER_MSEC,
	       "SUBMIT_WAIT at the limit waits until another thread reaps (after %lld ms), then succeeds (%d, %s)",
	       dt / NSEC_PER_MSEC, n, errname(n < 0 ? n : 0));
	drain_all(devfd);

	/* A batch that partly fits waits for the rest. */
	nops(devfd, 1, 20);
	n = submit_wait_helped(1, 2, 21, &acc, &err, &dt);
	tap_ok(n == 2 && acc == 2 && dt >= 250 * NSEC_PER_MSEC,
	       "SUBMIT_WAIT of 2 with room for 1: the second waits for the reap (%lld ms), both accepted (%d)",
	       dt / NSEC_PER_MSEC, n);
	drain_all(devfd);

	/* Interrupted by a signal. */
	nops(devfd, 2, 30);
	n = submit_wait_helped(0, 1, 32, &acc, &err, &dt);
	tap_ok(n == -EINTR && acc == 0 && dt >= 250 * NSEC_PER_MSEC && dt < 5 * NSEC_PER_SEC,
	       "SUBMIT_WAIT with nobody reaping is interrupted by a signal: EINTR after %lld ms (%s)",
	       dt / NSEC_PER_MSEC, errname(n < 0 ? n : 0));
	reap1(devfd);
	n = submit_wait_helped(0, 2, 33, &acc, &err, &dt);
	tap_ok(n == 1 && acc == 1,
	       "interrupted after accepting 1 of 2: returns 1 (accepted %u, error %s)", acc,
	       errname(err));
	drain_all(devfd);

	memset(&sub, 0, sizeof(sub));
	sysmsg_prep_nop(&m, 40);
	sub.msgs = (__u64)(uintptr_t)&m;
	sub.count = 1;
	sub.flags = SYSMSG_SUBMIT_WAIT << 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_SUBMIT, &sub), EINVAL, "SUBMIT with an unknown flag: EINVAL");
	tap_ok(no_reply_for(devfd, 0), "nothing left");
	set_soft(DEF_SOFT);
}

/* ---- the counters: PROC_STATS and fdinfo ---- */

static void test_counters(void)
{
	static const char *const keys[] = { "sysmsg-limit-hits", "sysmsg-throttle-episodes",
					    "sysmsg-peak-inflight", "sysmsg-throttled",
					    "sysmsg-soft-limit", "sysmsg-hard-limit",
					    "sysmsg-inflight" };
	struct sysmsg_proc_stats st, procs[2];
	struct sysmsg_stats q;
	long long fi[ARRAY_SIZE(keys)], want[ARRAY_SIZE(keys)];
	unsigned int i;
	__u64 sub0;
	int n, ok, fd2;

	drain_all(devfd);
	sysctl_set_saved("low_water", 50);
	set_soft(2);
	st = me();
	sub0 = st.submitted;
	tap_ok(st.pid == getpid() && st.soft == 2 && st.hard == DEF_HARD && !st.reserved[0] &&
		       !st.reserved[1],
	       "PROC_STATS lists this process: pid %d, soft 2, hard %d", getpid(), DEF_HARD);
	n = nops(devfd, 2, 1);
	n += nops(devfd, 1, 3) == -EAGAIN;
	st = me();
	tap_ok(n == 3 && st.submitted == sub0 + 2 && st.inflight == 2 &&
		       (st.flags & SYSMSG_PROC_THROTTLED) && st.peak_inflight >= 2,
	       "PROC_STATS: submitted +2, inflight 2, throttled (submitted +%lld, flags %#x)",
	       (long long)(st.submitted - sub0), st.flags);

	want[0] = st.limit_hits;
	want[1] = st.throttle_episodes;
	want[2] = st.peak_inflight;
	want[3] = !!(st.flags & SYSMSG_PROC_THROTTLED);
	want[4] = st.soft;
	want[5] = st.hard;
	want[6] = st.inflight;
	fd2 = dev_open();
	ok = fd2 >= 0;
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		fi[i] = fdinfo_ll(0, devfd, keys[i]);
		if (fi[i] != want[i] || fdinfo_ll(0, fd2, keys[i]) != want[i]) {
			diag("fdinfo %s: %lld (other file %lld), PROC_STATS: %lld", keys[i], fi[i],
			     fdinfo_ll(0, fd2, keys[i]), want[i]);
			ok = 0;
		}
	}
	tap_ok(ok, "fdinfo of both files shows the process's counters as PROC_STATS does (hits %lld, episodes %lld, peak %lld, throttled %lld, soft %lld, hard %lld, inflight %lld)",
	       fi[0], fi[1], fi[2], fi[3], fi[4], fi[5], fi[6]);
	if (fd2 >= 0)
		close(fd2);
	drain_all(devfd);

	memset(&q, 0, sizeof(q));
	n = ioctl(devfd, SYSMSG_IOC_PROC_STATS, &q);
	tap_ok(n == 0 && q.count == 0 && q.total >= 1,
	       "PROC_STATS with max 0 only counts: count 0, total %u", q.total);
	memset(&q, 0, sizeof(q));
	memset(procs, 0xa5, sizeof(procs));
	q.procs = (__u64)(uintptr_t)procs;
	q.max = 1;
	n = ioctl(devfd, SYSMSG_IOC_PROC_STATS, &q);
	tap_ok(n == 1 && q.count == 1 && q.total >= 1 && procs[1].pid == (__s32)0xa5a5a5a5,
	       "PROC_STATS with max 1: stores 1, no more (count %u, total %u)", q.count, q.total);
	q.reserved0 = 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_PROC_STATS, &q), EINVAL, "PROC_STATS with reserved0: EINVAL");
	q.reserved0 = 0;
	q.procs = (__u64)(uintptr_t)unmapped_page();
	q.max = 4;
	tap_errno(ioctl(devfd, SYSMSG_IOC_PROC_STATS, &q), EFAULT,
		  "PROC_STATS into an unmapped buffer: EFAULT");
	set_soft(DEF_SOFT);
}

/* ---- libsysmsg's fallback ---- */

static void test_lib_fallback(void)
{
	struct __kernel_timespec rel = kts_ms(30), abs_ts;
	struct sysmsg_reply r[32];
	struct sysmsg s, s2;
	char path[64], rbuf[8] = "", pbuf[8] = "", fbuf[8] = "";
	__u64 soft = 0, hard = 0;
	struct { __u64 tag; __u8 op; __s64 result; } want[] = {
		{ 1, SYSMSG_OP_NOP, 0 },	  { 2, SYSMSG_OP_NOP, 0 },
		{ 3, SYSMSG_OP_READ, 5 },	  { 4, SYSMSG_OP_PWRITE, 2 },
		{ 5, SYSMSG_OP_PREAD, 4 },	  { 6, SYSMSG_OP_NANOSLEEP, 0 },
		{ 7, SYSMSG_OP_NANOSLEEP, 0 },	  { 8, SYSMSG_OP_FSYNC, 0 },
		{ 9, SYSMSG_OP_FDATASYNC, 0 },	  { 10, SYSMSG_OP_WRITE, 2 },
		{ 11, SYSMSG_OP_READ, 3 },	  { 12, SYSMSG_OP_FSYNC, -EINVAL },
	};
	long long t0, dt, target;
	int fd, p[2], i, k, n, got, ok, status = 0;
	pid_t pid;

	drain_all(devfd);
	sysctl_set_saved("low_water", 50);
	if (!tap_ok(sysmsg_open(&s, 32, 0) == 0, "lib: sysmsg_open"))
		return;
	n = sysmsg_set_limits(&s, 0, SYSMSG_LIMIT_SOFT, 2, 0);
	tap_ok(n == 0 && sysmsg_get_limits(&s, 0, &soft, &hard) == 0 && soft == 2 && hard == DEF_HARD,
	       "lib: sysmsg_set_limits soft 2, sysmsg_get_limits: %llu/%llu",
	       (unsigned long long)soft, (unsigned long long)hard);
	fd = tmpfile_open(path, O_CLOEXEC);
	if (fd < 0 || pipe2(p, O_CLOEXEC) || pwrite(fd, "0123456789", 10, 0) != 10 ||
	    write(p[1], "pipe!", 5) != 5)
		goto out;
	unlink(path);
	lseek(fd, 7, SEEK_SET);

	/* Two fill the limit, the rest go synchronously, in order. */
	target = now_ns() + 50 * NSEC_PER_MSEC;
	abs_ts = kts_abs_ns(target);
	sysmsg_prep_nop(sysmsg_get_msg(&s), 1);
	sysmsg_prep_nop(sysmsg_get_msg(&s), 2);
	sysmsg_prep_read(sysmsg_get_msg(&s), p[0], rbuf, 5, 3);
	sysmsg_prep_pwrite(sysmsg_get_msg(&s), fd, "AB", 2, 0, 4);
	sysmsg_prep_pread(sysmsg_get_msg(&s), fd, pbuf, 4, 0, 5);
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &abs_ts, SYSMSG_SLEEP_ABSTIME, 6);
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &rel, 0, 7);
	sysmsg_prep_fsync(sysmsg_get_msg(&s), fd, 8);
	sysmsg_prep_fdatasync(sysmsg_get_msg(&s), fd, 9);
	sysmsg_prep_write(sysmsg_get_msg(&s), p[1], "xy", 2, 10);
	sysmsg_prep_read(sysmsg_get_msg(&s), fd, fbuf, sizeof(fbuf), 11);
	sysmsg_prep_fsync(sysmsg_get_msg(&s), p[0], 12);
	t0 = now_ns();
	n = sysmsg_submit(&s);
	dt = now_ns() - t0;
	tap_ok(n == 12 && s.submit_error == 0 && sysmsg_batch_count(&s) == 0,
	       "lib: a batch of 12 at limit 2: all accepted (%d, %s)", n, errname(s.submit_error));
	tap_ok(s.async_ops == 2 && s.sync_ops == 10 && s.submitted == 2 && sysmsg_in_fallback(&s) &&
		       s.fallbacks == 1,
	       "lib: 2 went to the kernel, 10 were performed synchronously; in fallback mode (async %llu, sync %llu)",
	       s.async_ops, s.sync_ops);
	tap_ok(now_ns() >= target && dt >= 50 * NSEC_PER_MSEC && sysmsg_backlog_count(&s) == 10,
	       "lib: the sleeps were slept in the submit (%lld ms); 10 replies in the backlog",
	       dt / NSEC_PER_MSEC);
	tap_ok(!memcmp(rbuf, "pipe!", 5) && !memcmp(pbuf, "AB23", 4) && !memcmp(fbuf, "789", 3) &&
		       lseek(fd, 0, SEEK_CUR) == 10,
	       "lib: the READ/PREAD data is in the buffers (in order: the PWRITE came first); the position advanced");
	got = 0;
	watchdog_arm(30);
	while (got < 12) {
		n = sysmsg_wait(&s, r + got, ARRAY_SIZE(r) - got);
		if (n <= 0)
			break;
		got += n;
	}
	watchdog_disarm();
	ok = got == 12;
	for (i = 0; i < (int)ARRAY_SIZE(want); i++) {
		k = find_tag(r, got, want[i].tag);
		if (k < 0 || r[k].opcode != want[i].op || r[k].result != want[i].result ||
		    !reply_reserved_zero(&r[k])) {
			diag("tag %llu: %s, opcode %d, result %lld", (unsigned long long)want[i].tag,
			     k < 0 ? "missing" : "found", k < 0 ? -1 : r[k].opcode,
			     k < 0 ? 0LL : (long long)r[k].result);
			ok = 0;
		}
	}
	tap_ok(ok, "lib: 12 replies with their tags, opcodes and results (fsync of a pipe: -EINVAL)");
	tap_ok(read(p[0], rbuf, 2) == 2 && !memcmp(rbuf, "xy", 2), "lib: the WRITE reached the pipe");

	/* Reaping the kernel's two made room: the next submit goes to the kernel. */
	tap_ok(pollout_now(s.fd) && !throttled(), "lib: both reaped: POLLOUT, not throttled");
	sysmsg_prep_nop(sysmsg_get_msg(&s), 20);
	n = sysmsg_submit(&s);
	tap_ok(n == 1 && !sysmsg_in_fallback(&s) && s.async_ops == 3 && s.sync_ops == 10,
	       "lib: at the next submit POLLOUT ends fallback mode: the NOP went to the kernel");
	sysmsg_prep_nop(sysmsg_get_msg(&s), 21);
	n = sysmsg_submit(&s);
	tap_ok(n == 1 && s.async_ops == 4, "lib: and a second (now at the limit)");

	/* Refusals in fallback mode are the kernel's refusals. */
	sysmsg_prep_nop(sysmsg_get_msg(&s), 22);
	sysmsg_prep_nop(sysmsg_get_msg(&s), 23);
	s.batch[1].opcode = SYSMSG_OP_COUNT;
	sysmsg_prep_nop(sysmsg_get_msg(&s), 24);
	n = sysmsg_submit(&s);
	tap_ok(n == 1 && s.submit_error == EINVAL && sysmsg_batch_count(&s) == 2 &&
		       s.batch[0].tag == 23 && sysmsg_in_fallback(&s) && s.sync_ops == 11,
	       "lib: [NOP, bad opcode, NOP] at the limit: the NOP synchronously, then EINVAL, the bad one first in the batch (%d, %s)",
	       n, errname(s.submit_error));
	sysmsg_batch_drop(&s, 1);
	n = sysmsg_submit(&s);
	tap_ok(n == 1 && sysmsg_in_fallback(&s) && s.sync_ops == 12,
	       "lib: throttled, the rest goes synchronously without asking the kernel (%d)", n);
	{
		struct sysmsg_msg bad[2];
		int err = 0;

		sysmsg_prep_read(&bad[0], -1, rbuf, 1, 25);
		n = sysmsg_submit_msgs(&s, bad, 1, &err);
		tap_ok(n == -EBADF && err == EBADF, "lib: fallback READ of fd -1: refused, -EBADF (%d)", n);
		sysmsg_prep_pread(&bad[0], p[0], rbuf, 1, 0, 26);
		n = sysmsg_submit_msgs(&s, bad, 1, &err);
		tap_ok(n == -ESPIPE, "lib: fallback PREAD of a pipe: refused, -ESPIPE (%d)", n);
		sysmsg_prep_read(&bad[0], fd, (void *)0xffff800000000000ULL, 1, 27);
		n = sysmsg_submit_msgs(&s, bad, 1, &err);
		tap_ok(n == -EFAULT, "lib: fallback READ into a kernel address: refused, -EFAULT (%d)", n);
		sysmsg_prep_nanosleep(&bad[0], (void *)8, 0, 28);
		n = sysmsg_submit_msgs(&s, bad, 1, &err);
		tap_ok(n == -EFAULT, "lib: fallback sleep with a bad timespec: refused, -EFAULT (%d)", n);
		abs_ts.tv_nsec = NSEC_PER_SEC;
		sysmsg_prep_nanosleep(&bad[0], &abs_ts, 0, 29);
		n = sysmsg_submit_msgs(&s, bad, 1, &err);
		tap_ok(n == -EINVAL, "lib: fallback sleep with tv_nsec 1e9: refused, -EINVAL (%d)", n);
		sysmsg_prep_read(&bad[0], fd, unmapped_page(), 1, 30);
		lseek(fd, 0, SEEK_SET);
		n = sysmsg_submit_msgs(&s, bad, 1, &err);
		tap_ok(n == 1, "lib: fallback READ into an unmapped user buffer: accepted (%d)", n);
	}
	n = sysmsg_peek(&s, r, ARRAY_SIZE(r));
	ok = n == 5 && find_tag(r, n, 21) >= 0 && find_tag(r, n, 22) >= 0 &&
	     find_tag(r, n, 24) >= 0 && find_tag(r, n, 20) >= 0;
	k = find_tag(r, n, 30);
	tap_ok(ok && k >= 0 && r[k].result == -EFAULT && find_tag(r, n, 23) < 0,
	       "lib: replies of 20-22 and 24, the unmapped READ's -EFAULT, none for the refused ones (%d)",
	       n);

	/* The synchronous helpers fall back too. */
	nops(s.fd, 2, 40);
	tap_ok(nops(s.fd, 1, 42) == -EAGAIN && throttled(), "lib: at the limit again, throttled");
	k = (int)s.sync_ops;
	memset(pbuf, 0, sizeof(pbuf));
	tap_ok(sysmsg_nop_sync(&s) == 0 && sysmsg_pread_sync(&s, fd, pbuf, 3, 1) == 3 &&
		       !memcmp(pbuf, "B23", 3) && s.sync_ops == (unsigned long long)k + 2,
	       "lib: sysmsg_nop_sync and sysmsg_pread_sync work synchronously (sync_ops +%llu)",
	       s.sync_ops - (unsigned long long)k);
	errno = 0;
	tap_ok(sysmsg_read_sync(&s, -1, rbuf, 1) == -1 && errno == EBADF,
	       "lib: sysmsg_read_sync of fd -1 in fallback mode: -1, EBADF");

	/* Without the fallback: EAGAIN, as the kernel says. */
	if (tap_ok(sysmsg_open(&s2, 4, SYSMSG_LIB_NO_FALLBACK) == 0,
		   "lib: sysmsg_open with SYSMSG_LIB_NO_FALLBACK")) {
		sysmsg_prep_nop(sysmsg_get_msg(&s2), 50);
		n = sysmsg_submit(&s2);
		tap_ok(n == -EAGAIN && sysmsg_batch_count(&s2) == 1 && s2.sync_ops == 0,
		       "lib: no fallback: sysmsg_submit gives -EAGAIN, the NOP stays in the batch (%d)",
		       n);
		errno = 0;
		tap_ok(sysmsg_nop_sync(&s2) == -1 && errno == EAGAIN,
		       "lib: no fallback: sysmsg_nop_sync: -1, EAGAIN");
		sysmsg_close(&s2);
	}
	drain_all(s.fd);
	n = sysmsg_peek(&s, r, ARRAY_SIZE(r));
	tap_ok(n == 0, "lib: nothing else for the struct (%d)", n);

	/* A WRITE to a pipe without reader: -EPIPE, no SIGPIPE (in a child: it would die). */
	remote->n = 0;
	pid = fork();
	if (pid == 0) {
		struct sysmsg c;
		struct sysmsg_reply cr[4];
		int q[2], m;

		signal(SIGPIPE, SIG_DFL);
		close(devfd);
		if (!rcheck(sysmsg_open(&c, 4, 0) == 0 && pipe2(q, O_CLOEXEC) == 0 &&
				    sysmsg_set_limits(&c, 0, SYSMSG_LIMIT_SOFT, 1, 0) == 0,
			    "open, soft limit 1"))
			_exit(1);
		close(q[0]);
		sysmsg_prep_nop(sysmsg_get_msg(&c), 1);
		sysmsg_prep_write(sysmsg_get_msg(&c), q[1], "x", 1, 2);
		m = sysmsg_submit(&c);
		rcheck(m == 2 && c.sync_ops == 1, "the WRITE went synchronously (%d)", m);
		m = sysmsg_peek(&c, cr, 4);
		rcheck(m >= 1 && find_tag(cr, m, 2) >= 0 && cr[find_tag(cr, m, 2)].result == -EPIPE,
		       "its reply: -EPIPE, and the process is alive (no SIGPIPE)");
		_exit(0);
	}
	k = pid > 0 && waitpid(pid, &status, 0) == pid;
	report_child("lib fallback child", k, status);

	close(p[0]);
	close(p[1]);
	close(fd);
out:
	sysmsg_close(&s);
	set_soft(DEF_SOFT);
}

int main(void)
{
	struct sysmsg_proc_stats p0, p1;
	struct sysmsg_info info;
	long long g_hits0 = -1, g_eps0 = -1, g_hits1 = -1, g_eps1 = -1;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	remote_init();
	devfd = dev_open();
	if (!tap_ok(devfd >= 0 && remote != MAP_FAILED, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	if (!tap_ok(ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
			    (info.features & SYSMSG_FEATURE_LIMITS),
		    "info.features has SYSMSG_FEATURE_LIMITS (%#llx)",
		    (unsigned long long)info.features))
		return tap_done();
	if (geteuid() != 0) {
		tap_ok(1, "limits # SKIP not root");
		return tap_done();
	}
	sysctl_get("limit_hits", &g_hits0);
	sysctl_get("throttle_episodes", &g_eps0);
	nops(devfd, 1, 0);
	drain_all(devfd);
	p0 = me();

	test_sysctls();
	test_limit_rules();
	test_unprivileged();
	test_other_pid();
	test_two_files();
	test_hysteresis(1, 50);
	test_hysteresis(2, 50);
	test_hysteresis(4, 50);
	test_hysteresis(5, 50);
	test_hysteresis(4, 0);
	test_hysteresis(4, 100);
	sysctl_set("low_water", 50);
	test_pollout_wake();
	test_lower_below();
	test_max_total();
	test_submit_wait();
	test_counters();
	test_lib_fallback();

	p1 = me();
	sysctl_get("limit_hits", &g_hits1);
	sysctl_get("throttle_episodes", &g_eps1);
	diag("this process: limit_hits %llu, throttle_episodes %llu, peak_inflight %llu; all processes: %lld, %lld",
	     (unsigned long long)p1.limit_hits, (unsigned long long)p1.throttle_episodes,
	     (unsigned long long)p1.peak_inflight, g_hits1, g_eps1);
	tap_ok(p1.limit_hits > p0.limit_hits && g_hits1 - g_hits0 >= (long long)(p1.limit_hits - p0.limit_hits),
	       "kernel.sysmsg.limit_hits grew by at least this process's refusals (+%lld >= +%lld)",
	       g_hits1 - g_hits0, (long long)(p1.limit_hits - p0.limit_hits));
	tap_ok(p1.throttle_episodes > p0.throttle_episodes &&
		       g_eps1 - g_eps0 >= (long long)(p1.throttle_episodes - p0.throttle_episodes),
	       "kernel.sysmsg.throttle_episodes too (+%lld >= +%lld)", g_eps1 - g_eps0,
	       (long long)(p1.throttle_episodes - p0.throttle_episodes));
	tap_ok(no_reply_for(devfd, 50), "no stray reply is left");
	sysctl_restore_all();
	close(devfd);
	return tap_done();
}
