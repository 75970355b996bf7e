/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the C tests: the raw submit and reap calls, waiting for
 * replies with a deadline, a SIGALRM watchdog for blocking calls, time, and
 * reading /proc. Include after defining _GNU_SOURCE.
 *
 * No helper here blocks without a bound: a broken kernel makes a test fail,
 * not hang until the runner's timeout.
 */
#ifndef SYSMSG_TESTLIB_H
#define SYSMSG_TESTLIB_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include "libsysmsg.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NSEC_PER_MSEC 1000000LL
#define NSEC_PER_SEC 1000000000LL

/* A "# ..." TAP diagnostic line. */
#define diag(...)                          \
	do {                               \
		printf("# ");              \
		printf(__VA_ARGS__);       \
		printf("\n");              \
		fflush(stdout);            \
	} while (0)

/* How long a test waits for replies that should come, at most. */
#define REPLY_TIMEOUT_MS 30000

/*
 * Once a wait for replies has timed out, the kernel is known to lose or hold
 * replies: later waits are cut to this, so that the program reports every
 * failure within the runner's timeout instead of being killed by it.
 */
#define REPLY_TIMEOUT_AFTER_FAILURE_MS 2000
static int reply_timeouts __attribute__((unused));

static inline long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * NSEC_PER_MSEC };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline struct __kernel_timespec kts_ms(long long ms)
{
	struct __kernel_timespec ts = { ms / 1000, (ms % 1000) * NSEC_PER_MSEC };

	return ts;
}

static inline struct __kernel_timespec kts_abs_ns(long long ns)
{
	struct __kernel_timespec ts = { ns / NSEC_PER_SEC, ns % NSEC_PER_SEC };

	return ts;
}

static inline int dev_open(void)
{
	return open(SYSMSG_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

/* SYSMSG_IOC_SUBMIT: the number accepted, or -errno; *@err as the ABI's error. */
static inline int raw_submit(int fd, const struct sysmsg_msg *m, unsigned int n, int *err)
{
	struct sysmsg_submit sub;
	int ret;

	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)m;
	sub.count = n;
	sub.error = -12345;
	ret = ioctl(fd, SYSMSG_IOC_SUBMIT, &sub);
	if (ret < 0) {
		ret = -errno;
		if (err)
			*err = sub.error;
		return ret;
	}
	if (err)
		*err = sub.error;
	if ((unsigned int)ret != sub.accepted)
		diag("SUBMIT returned %d but accepted = %u", ret, sub.accepted);
	return ret;
}

/* write(2) of @n messages: the number accepted, or -errno. */
static inline int raw_write(int fd, const struct sysmsg_msg *m, unsigned int n)
{
	ssize_t ret = write(fd, m, n * sizeof(*m));

	if (ret < 0)
		return -errno;
	if (ret % sizeof(*m))
		diag("write returned %zd, not a multiple of %zu", ret, sizeof(*m));
	return (int)(ret / (ssize_t)sizeof(*m));
}

/* SYSMSG_IOC_REAP: the number stored, or -errno; checks that count says the same. */
static inline int raw_reap(int fd, struct sysmsg_reply *r, unsigned int max, unsigned int flags)
{
	unsigned int count = ~0U;
	int ret = sysmsg_reap_fd(fd, r, max, flags, &count);

	if (ret >= 0 && (unsigned int)ret != count)
		diag("REAP returned %d but count = %u", ret, count);
	return ret;
}

/* read(2) of up to @max replies: the number stored, or -errno. */
static inline int raw_read(int fd, struct sysmsg_reply *r, unsigned int max)
{
	ssize_t ret = read(fd, r, max * sizeof(*r));

	if (ret < 0)
		return -errno;
	if (ret % sizeof(*r))
		diag("read returned %zd, not a multiple of %zu", ret, sizeof(*r));
	return (int)(ret / (ssize_t)sizeof(*r));
}

/*
 * Reaps exactly @want replies into @r (never more), waiting up to
 * @timeout_ms. Waits in poll() in slices of 50 ms and reaps without waiting
 * after every slice, so a missing POLLIN wake-up only slows it down (poll
 * itself is tested on its own). Returns how many it got (< @want on timeout
 * or error; the error is left in errno).
 */
static inline int reap_n(int fd, struct sysmsg_reply *r, unsigned int want, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned int got = 0;
	long long deadline;
	int n;

	if (reply_timeouts && timeout_ms > REPLY_TIMEOUT_AFTER_FAILURE_MS)
		timeout_ms = REPLY_TIMEOUT_AFTER_FAILURE_MS;
	deadline = now_ns() + timeout_ms * NSEC_PER_MSEC;
	while (got < want) {
		n = raw_reap(fd, r + got, want - got, SYSMSG_REAP_NOWAIT);
		if (n > 0) {
			got += n;
			continue;
		}
		if (n < 0 && n != -EAGAIN) {
			errno = -n;
			break;
		}
		if (now_ns() > deadline) {
			diag("timed out after %d ms waiting for %u replies, got %u", timeout_ms,
			     want, got);
			reply_timeouts++;
			errno = ETIMEDOUT;
			break;
		}
		poll(&pfd, 1, 50);
	}
	return got;
}

/* Nothing to reap for @ms milliseconds: true if no reply showed up. */
static inline int no_reply_for(int fd, int ms)
{
	struct sysmsg_reply r;

	if (ms)
		sleep_ms(ms);
	return raw_reap(fd, &r, 1, SYSMSG_REAP_NOWAIT) == -EAGAIN;
}

/* Reaps and discards whatever is ready (after a failed check); returns how many. */
static inline int drain_replies(int fd)
{
	struct sysmsg_reply r[64];
	int n, total = 0;

	while ((n = raw_reap(fd, r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT)) > 0)
		total += n;
	return total;
}

/* Index of the reply with @tag in @r[0..@n), or -1. */
static inline int find_tag(const struct sysmsg_reply *r, int n, __u64 tag)
{
	int i;

	for (i = 0; i < n; i++)
		if (r[i].tag == tag)
			return i;
	return -1;
}

/* Reserved fields of a reply are zero. */
static inline int reply_reserved_zero(const struct sysmsg_reply *r)
{
	return !r->reserved0[0] && !r->reserved0[1] && !r->reserved0[2] && !r->reserved1 &&
	       !r->reserved2;
}

/*
 * The watchdog: SIGALRM without SA_RESTART, so a blocking read or reap that
 * waits too long fails with EINTR. Only for single-threaded code (or with
 * SIGALRM blocked in every other thread).
 */
static volatile sig_atomic_t watchdog_fired __attribute__((unused));

static inline void watchdog_handler(int sig)
{
	(void)sig;
	watchdog_fired = 1;
}

static inline void watchdog_arm(unsigned int seconds)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watchdog_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	watchdog_fired = 0;
	alarm(seconds);
}

static inline void watchdog_disarm(void)
{
	alarm(0);
}

/*
 * Reads exactly @want replies with blocking read(2)s (completion order),
 * bounded by the watchdog: @timeout_s seconds in all. Returns how many it got
 * (< @want on timeout or error, errno set). Single-threaded code only.
 */
static inline int read_n(int fd, struct sysmsg_reply *r, unsigned int want,
			 unsigned int timeout_s)
{
	unsigned int got = 0;
	int n;

	if (reply_timeouts && timeout_s * 1000 > REPLY_TIMEOUT_AFTER_FAILURE_MS)
		timeout_s = REPLY_TIMEOUT_AFTER_FAILURE_MS / 1000;
	watchdog_arm(timeout_s);
	while (got < want) {
		n = raw_read(fd, r + got, want - got);
		if (n == -EINTR && !watchdog_fired)
			continue;
		if (n == -EINTR) {
			diag("timed out after %u s reading %u replies, got %u", timeout_s, want,
			     got);
			reply_timeouts++;
		}
		if (n < 0) {
			errno = -n;
			break;
		}
		if (!n) {
			errno = ENODATA;
			break;
		}
		got += n;
	}
	watchdog_disarm();
	return got;
}

/* A page that is not mapped (mapped, then unmapped). */
static inline void *unmapped_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, 4096);
	return p;
}

/* A temporary file in /tmp, opened with @flags; its name in @path (>= 32 bytes). */
static inline int tmpfile_open(char *path, int flags)
{
	int fd;

	snprintf(path, 32, "/tmp/sysmsg-test-XXXXXX");
	fd = mkostemp(path, flags);
	return fd;
}

/* Reads a small file into @buf (NUL-terminated). Returns its length or -1. */
static inline ssize_t read_text(const char *path, char *buf, size_t len)
{
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = 0;
	return got;
}

/* An integer from a one-value file (sysctl), or @dflt. */
static inline long long read_ll(const char *path, long long dflt)
{
	char buf[64];

	if (read_text(path, buf, sizeof(buf)) <= 0)
		return dflt;
	return strtoll(buf, NULL, 0);
}

/* A /proc/meminfo field in kB (e.g. "Slab"), or -1. */
static inline long long meminfo_kb(const char *key)
{
	char buf[8192], *p;
	size_t klen = strlen(key);

	if (read_text("/proc/meminfo", buf, sizeof(buf)) <= 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 10);
	}
	return -1;
}

/* Kernel threads: tasks whose parent is kthreadd (PPid 2). */
static inline int count_kthreads(void)
{
	char path[300], buf[2048], *p;
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		if (read_text(path, buf, sizeof(buf)) <= 0)
			continue;
		p = strstr(buf, "\nPPid:");
		if (p && strtol(p + 6, NULL, 10) == 2)
			n++;
	}
	closedir(d);
	return n;
}

/* poll() without waiting: true if @fd reports POLLOUT now. */
static inline int pollout_now(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT);
}

/*
 * Sysctls of the module: kernel.sysmsg.<name> in SYSCTL_DIR. sysctl_get()
 * reads one value (0 or -errno); sysctl_put() writes @text as it is (0 or
 * -errno, from open() or write()); sysctl_set() writes a number.
 */
#define SYSCTL_DIR "/proc/sys/kernel/sysmsg/"

static inline int sysctl_get(const char *name, long long *v)
{
	char path[128], buf[64], *end;

	snprintf(path, sizeof(path), SYSCTL_DIR "%s", name);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return -errno;
	errno = 0;
	*v = strtoll(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

static inline int sysctl_put(const char *name, const char *text)
{
	char path[128];
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), SYSCTL_DIR "%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		err = -errno;
	else if ((size_t)n != strlen(text))
		err = -EIO;
	close(fd);
	return err;
}

static inline int sysctl_set(const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld\n", v);
	return sysctl_put(name, buf);
}

/*
 * sysctl_set_saved() is sysctl_set() that remembers the value it replaces
 * the first time it changes @name: sysctl_restore_all() writes the saved
 * values back; it runs at exit() and on SIGTERM, SIGINT, SIGHUP, SIGQUIT,
 * SIGSEGV and SIGABRT (unless the test handles that signal itself) in the
 * process that saved them (never in a fork() child, which should leave with
 * _exit() anyway). Tests that change sysctls use it, so that a failing
 * or killed test leaves the module as it found it.
 */
#define SYSCTL_SAVE_MAX 16
static struct {
	char path[128];
	char text[32];
} sysctl_saved[SYSCTL_SAVE_MAX] __attribute__((unused));
static int sysctl_nsaved __attribute__((unused));
static pid_t sysctl_saver __attribute__((unused));

/* Async-signal-safe: open, write, close of preformatted text. */
static inline void sysctl_restore_all(void)
{
	int i, fd;

	if (getpid() != sysctl_saver)
		return;
	for (i = sysctl_nsaved - 1; i >= 0; i--) {
		fd = open(sysctl_saved[i].path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (write(fd, sysctl_saved[i].text, strlen(sysctl_saved[i].text)) < 0) {
			/* Nothing better to do: the value is printed by the test. */
		}
		close(fd);
	}
}

static inline void sysctl_restore_signal(int sig)
{
	sysctl_restore_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static inline int sysctl_set_saved(const char *name, long long v)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGSEGV, SIGABRT };
	long long old = 0;
	unsigned int k;
	int i, ret;

	for (i = 0; i < sysctl_nsaved; i++)
		if (!strcmp(sysctl_saved[i].path + strlen(SYSCTL_DIR), name))
			break;
	if (i == sysctl_nsaved) {
		if (sysctl_nsaved == SYSCTL_SAVE_MAX)
			return -ENOSPC;
		ret = sysctl_get(name, &old);
		if (ret < 0)
			return ret;
		if (!sysctl_nsaved) {
			sysctl_saver = getpid();
			atexit(sysctl_restore_all);
			for (k = 0; k < ARRAY_SIZE(sigs); k++) {
				struct sigaction sa, prev;

				/* Keep a handler the test installed itself. */
				if (sigaction(sigs[k], NULL, &prev) == 0 &&
				    prev.sa_handler != SIG_DFL)
					continue;
				memset(&sa, 0, sizeof(sa));
				sa.sa_handler = sysctl_restore_signal;
				sigemptyset(&sa.sa_mask);
				sigaction(sigs[k], &sa, NULL);
			}
		}
		snprintf(sysctl_saved[i].path, sizeof(sysctl_saved[i].path), SYSCTL_DIR "%s", name);
		snprintf(sysctl_saved[i].text, sizeof(sysctl_saved[i].text), "%lld\n", old);
		sysctl_nsaved++;
	}
	return sysctl_set(name, v);
}

/* SYSMSG_IOC_GET_LIMITS of @pid into *@l: 0 or -errno. */
static inline int raw_get_limits(int fd, pid_t pid, struct sysmsg_limits *l)
{
	memset(l, 0, sizeof(*l));
	return sysmsg_limits_fd(fd, SYSMSG_IOC_GET_LIMITS, pid, 0, 0, 0, l);
}

/* SYSMSG_IOC_SET_LIMITS: 0 or -errno; the limits written back in *@out if not NULL. */
static inline int raw_set_limits(int fd, pid_t pid, unsigned int flags, __u64 soft, __u64 hard,
				 struct sysmsg_limits *out)
{
	return sysmsg_limits_fd(fd, SYSMSG_IOC_SET_LIMITS, pid, flags, soft, hard, out);
}

/*
 * The SYSMSG_IOC_PROC_STATS entry of @pid (0: this process) into *@st:
 * 0, -ESRCH if it is not listed, or -errno.
 */
static inline int proc_stats_of(int fd, pid_t pid, struct sysmsg_proc_stats *st)
{
	struct sysmsg_proc_stats procs[256];
	struct sysmsg_stats q;
	unsigned int i;

	if (!pid)
		pid = getpid();
	memset(&q, 0, sizeof(q));
	q.procs = (__u64)(uintptr_t)procs;
	q.max = ARRAY_SIZE(procs);
	if (ioctl(fd, SYSMSG_IOC_PROC_STATS, &q) < 0)
		return -errno;
	for (i = 0; i < q.count && i < ARRAY_SIZE(procs); i++) {
		if (procs[i].pid == pid) {
			*st = procs[i];
			return 0;
		}
	}
	return -ESRCH;
}

/*
 * A "key:\tvalue" line of /proc/<pid>/fdinfo/<fd> (@pid 0: self), e.g.
 * "sysmsg-limit-hits": the value, or -1 if there is no such line.
 */
static inline long long fdinfo_ll(pid_t pid, int fd, const char *key)
{
	char path[64], buf[4096], *p;
	size_t klen = strlen(key);

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 10);
	}
	return -1;
}

/*
 * Checks made in a fork() child, reported by the parent as TAP lines: the
 * child calls rcheck() (like tap_ok()), the parent report_remote() after
 * waiting for it. remote_init() maps the shared page before forking.
 */
struct remote_checks {
	int n;
	struct {
		int ok;
		char name[160];
	} c[64];
};

static struct remote_checks *remote __attribute__((unused));

/* Maps `remote`, shared with children forked afterwards: 0, or -1. */
static inline int remote_init(void)
{
	remote = mmap(NULL, sizeof(*remote), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	return remote == MAP_FAILED ? -1 : 0;
}

__attribute__((format(printf, 2, 3)))
static inline int rcheck(int ok, const char *fmt, ...)
{
	va_list ap;

	if (remote->n >= (int)ARRAY_SIZE(remote->c))
		return ok;
	remote->c[remote->n].ok = ok;
	va_start(ap, fmt);
	vsnprintf(remote->c[remote->n].name, sizeof(remote->c[0].name), fmt, ap);
	va_end(ap);
	remote->n++;
	return ok;
}

/* As tap_ok: the condition first, then the message's arguments. */
#define rcheck(cond, ...)                                 \
	({                                                \
		int rcheck_cond_ = !!(cond);              \
		(rcheck)(rcheck_cond_, __VA_ARGS__);      \
	})

/* Prints the child's checks as "<who>: <check>" and forgets them. */
static inline void report_remote(const char *who)
{
	int i;

	for (i = 0; i < remote->n; i++)
		tap_ok(remote->c[i].ok, "%s: %s", who, remote->c[i].name);
	remote->n = 0;
}

/* kernel.sysmsg.nr_inflight (messages in flight, all processes), or -1. */
static inline long long nr_inflight(void)
{
	long long v = -1;

	if (sysctl_get("nr_inflight", &v))
		return -1;
	return v;
}

/* Removes one capability from this thread's effective, permitted and inheritable sets. */
static inline int drop_cap(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d))
		return -1;
	d[cap / 32].effective &= ~(1U << (cap % 32));
	d[cap / 32].permitted &= ~(1U << (cap % 32));
	d[cap / 32].inheritable &= ~(1U << (cap % 32));
	return syscall(SYS_capset, &h, d) ? -1 : 0;
}

/* A one-byte handshake between a parent and a child over a pipe: chan_send() sends a byte,
 * chan_wait() waits up to 30 s for one. Both return 1 on success (chan_wait 0 on EOF: the other
 * end is gone). */
static inline int chan_send(int fd)
{
	return write(fd, "x", 1) == 1;
}

static inline int chan_wait(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, 30000) != 1)
		return 0;
	return read(fd, &c, 1) == 1;
}

#endif /* SYSMSG_TESTLIB_H */
