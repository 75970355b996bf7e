// SPDX-License-Identifier: GPL-2.0
/*
 * Scale: (a) 10,000 pipe reads pending at once hold no threads (the kernel
 * thread count grows by at most kernel.sysmsg.max_workers) and all complete
 * once the data comes; (b) 100,000 concurrent 30 s sleeps in one process:
 * every one accepted, the slab memory per in-flight message, and the memory
 * coming back when the file is closed. (b) is above the default per-process
 * limit (kernel.sysmsg.max_per_process, 16384): the test turns on
 * kernel.sysmsg.per_process_limits and raises its own soft limit to 131072
 * with SYSMSG_IOC_SET_LIMITS; the sysctl is restored at exit.
 */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "testlib.h"

#define MAX_WORKERS_PATH "/proc/sys/kernel/sysmsg/max_workers"
#define PIPE_READS 10000
#define SLEEPS 100000
#define CHUNK 1000

static int devfd;

static int debug_kernel(void)
{
	char cmdline[4096];

	if (access("/sys/kernel/debug/kmemleak", F_OK) == 0)
		return 1;
	return read_text("/proc/cmdline", cmdline, sizeof(cmdline)) > 0 &&
	       strstr(cmdline, "slab_debug") != NULL;
}

static void test_pipe_reads(void)
{
	static unsigned char bufs[PIPE_READS], data[PIPE_READS];
	static struct sysmsg_msg m[CHUNK];
	static struct sysmsg_reply r[PIPE_READS];
	int hist[256] = { 0 }, p[2], i, k, n, submitted = 0, got, bad = 0, ok;
	long long max_workers, t0;
	int k0, k1, seen_twice = 0;
	static unsigned char seen[PIPE_READS];
	ssize_t w;

	max_workers = read_ll(MAX_WORKERS_PATH, -1);
	if (!tap_ok(pipe2(p, O_CLOEXEC) == 0, "a pipe"))
		return;
	fcntl(p[1], F_SETPIPE_SZ, 64 * 1024);
	memset(bufs, 0, sizeof(bufs));
	k0 = count_kthreads();

	t0 = now_ns();
	while (submitted < PIPE_READS) {
		for (i = 0; i < CHUNK; i++)
			sysmsg_prep_read(&m[i], p[0], &bufs[submitted + i], 1, submitted + i);
		n = raw_submit(devfd, m, CHUNK, NULL);
		if (n <= 0)
			break;
		submitted += n;
		if (n < CHUNK)
			break;
	}
	diag("submitted %d pipe reads in %lld ms", submitted, (now_ns() - t0) / NSEC_PER_MSEC);
	tap_ok(submitted == PIPE_READS, "%d pipe reads of 1 byte accepted (%d)", PIPE_READS, submitted);
	tap_ok(no_reply_for(devfd, 200), "none completes while the pipe is empty");
	sleep_ms(500);
	k1 = count_kthreads();
	diag("kernel threads before: %d", k0);
	diag("kernel threads with %d pipe reads pending: %d", submitted, k1);
	diag("kernel.sysmsg.max_workers: %lld", max_workers);
	tap_ok(max_workers > 0, "%s is readable (%lld)", MAX_WORKERS_PATH, max_workers);
	tap_ok(k0 > 0 && k1 - k0 <= max_workers,
	       "pending pipe reads hold no threads: kernel threads %d -> %d, growth <= max_workers %lld",
	       k0, k1, max_workers);

	/* The data for all of them: each byte must arrive exactly once. */
	for (i = 0; i < PIPE_READS; i++) {
		data[i] = (unsigned char)(i * 31 + (i >> 8));
		hist[data[i]]++;
	}
	t0 = now_ns();
	w = write(p[1], data, sizeof(data));
	tap_ok(w == (ssize_t)sizeof(data), "write %zu bytes into the pipe", sizeof(data));
	got = reap_n(devfd, r, submitted, 300 * 1000);
	diag("reaped %d replies %lld ms after the write", got, (now_ns() - t0) / NSEC_PER_MSEC);
	tap_ok(got == submitted, "all %d replies reaped", submitted);
	memset(seen, 0, sizeof(seen));
	for (k = 0; k < got; k++) {
		if (r[k].tag >= PIPE_READS || r[k].result != 1 || r[k].opcode != SYSMSG_OP_READ) {
			bad++;
			continue;
		}
		if (seen[r[k].tag]++)
			seen_twice++;
		hist[bufs[r[k].tag]]--;
	}
	ok = !bad && !seen_twice;
	for (i = 0; i < 256; i++)
		if (hist[i])
			ok = 0;
	tap_ok(ok, "each read got 1 byte, each tag once, every byte written delivered once (%d bad, %d twice)",
	       bad, seen_twice);
	tap_ok(no_reply_for(devfd, 0), "and no more replies");
	close(p[0]);
	close(p[1]);
}

/* Lets this process have SLEEPS_LIMIT messages in flight (see the top). */
#define SLEEPS_LIMIT 131072
static void raise_limit(int fd)
{
	struct sysmsg_limits l;
	long long old = -1;
	int ret;

	sysctl_get("per_process_limits", &old);
	ret = sysctl_set_saved("per_process_limits", 1);
	tap_ok(ret == 0, "kernel.sysmsg.per_process_limits = 1 (was %lld; restored at exit) (%s)",
	       old, ret ? strerror(-ret) : "ok");
	/* Root raises the hard limit too if it is lower (CAP_SYS_RESOURCE). */
	ret = raw_get_limits(fd, 0, &l);
	if (ret == 0)
		ret = raw_set_limits(fd, 0, SYSMSG_LIMIT_SOFT | SYSMSG_LIMIT_HARD, SLEEPS_LIMIT,
				     l.hard > SLEEPS_LIMIT ? l.hard : SLEEPS_LIMIT, &l);
	tap_ok(ret == 0 && l.soft == SLEEPS_LIMIT,
	       "SYSMSG_IOC_SET_LIMITS: soft limit %d (soft %llu, hard %llu) (%s)", SLEEPS_LIMIT,
	       (unsigned long long)l.soft, (unsigned long long)l.hard,
	       ret ? strerror(-ret) : "ok");
}

static void test_sleeps(void)
{
	struct __kernel_timespec ts = kts_ms(30 * 1000);
	static struct sysmsg_msg m[CHUNK];
	struct sysmsg_info info;
	long long s0, s1, s2, per, max_workers, t0, t_close;
	int fd, i, n, err = 0, accepted = 0, want, debug, k0, k1, status;
	pid_t pid;

	fd = dev_open();
	if (!tap_ok(fd >= 0, "open"))
		return;
	raise_limit(fd);
	if (!tap_ok(ioctl(fd, SYSMSG_IOC_GET_INFO, &info) == 0, "GET_INFO"))
		return;
	want = SLEEPS;
	diag("queue_limit: %u", info.queue_limit);
	if (info.queue_limit < SLEEPS) {
		diag("queue_limit is below %d: testing %u sleeps", SLEEPS, info.queue_limit);
		want = info.queue_limit;
	}
	debug = debug_kernel();
	max_workers = read_ll(MAX_WORKERS_PATH, -1);

	/* Fewer reclaimable objects to come and go while measuring (root only). */
	sync();
	i = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (i >= 0) {
		if (write(i, "3", 1) != 1)
			diag("drop_caches: %s", strerror(errno));
		close(i);
	}
	sleep_ms(200);
	k0 = count_kthreads();
	s0 = meminfo_kb("Slab");

	t0 = now_ns();
	while (accepted < want) {
		int c = want - accepted < CHUNK ? want - accepted : CHUNK;

		for (i = 0; i < c; i++)
			sysmsg_prep_nanosleep(&m[i], &ts, 0, accepted + i);
		n = raw_submit(fd, m, c, &err);
		if (n <= 0) {
			err = -n;
			break;
		}
		accepted += n;
		if (n < c)
			break;
	}
	t0 = now_ns() - t0;
	s1 = meminfo_kb("Slab");
	k1 = count_kthreads();
	per = accepted ? (s1 - s0) * 1024 / accepted : 0;
	diag("submitted %d sleeps of 30 s in %lld ms%s%s", accepted, t0 / NSEC_PER_MSEC,
	       err ? ", stopped by " : "", err ? strerrorname_np(err) : "");
	if (t0 > 25 * NSEC_PER_SEC)
		diag("(submitting took so long that the first sleeps may have completed: they stay queued until reaped)");
	diag("Slab before: %lld kB, with %d sleeps in flight: %lld kB", s0, accepted, s1);
	/* The headline number, also as a plain line (on stderr, which the runner keeps). */
	fprintf(stderr, "bytes per in-flight message: %lld\n", per);
	diag("bytes per in-flight message: %lld", per);
	diag("kernel threads before: %d, with the sleeps in flight: %d (max_workers %lld)", k0, k1,
	       max_workers);
	tap_ok(accepted == want, "all %d sleeps accepted (%d)", want, accepted);
	if (debug)
		tap_ok(1, "bytes per in-flight message: %lld # SKIP a debug kernel (kmemleak or slab_debug): only printed",
		       per);
	else
		tap_ok(per > 0 && per <= 300, "bytes per in-flight message: %lld <= 300", per);
	tap_ok(max_workers > 0 && k1 - k0 <= max_workers,
	       "sleeping messages hold no threads: kernel threads %d -> %d", k0, k1);

	/* The queue is per process: another process still submits freely. */
	pid = fork();
	if (pid == 0) {
		struct sysmsg_reply r;
		int ok;

		sysmsg_prep_nop(&m[0], 1);
		ok = raw_write(fd, m, 1) == 1 && reap_n(fd, &r, 1, REPLY_TIMEOUT_MS) == 1 &&
		     r.tag == 1;
		_exit(ok ? 0 : 1);
	}
	tap_ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		       WEXITSTATUS(status) == 0,
	       "a forked child submits and reaps a NOP meanwhile");

	/* Closing the file ends them all; the memory comes back. */
	t_close = now_ns();
	close(fd);
	t_close = now_ns() - t_close;
	diag("close() with %d messages in flight: %lld ms", accepted, t_close / NSEC_PER_MSEC);
	t0 = now_ns();
	do {
		sleep_ms(500);
		s2 = meminfo_kb("Slab");
	} while (s2 - s0 > (s1 - s0) / 4 && now_ns() - t0 < 20 * NSEC_PER_SEC);
	diag("Slab %lld ms after close(): %lld kB (before: %lld kB, in flight: %lld kB)",
	       (now_ns() - t0) / NSEC_PER_MSEC, s2, s0, s1);
	if (debug)
		tap_ok(1, "Slab after close: %lld kB # SKIP a debug kernel (KASAN's quarantine keeps freed objects): only printed",
		       s2);
	else
		tap_ok(s2 - s0 <= (s1 - s0) / 4,
		       "after close() at least 3/4 of the slab growth is freed (%lld of %lld kB left)",
		       s2 - s0, s1 - s0);
}

int main(void)
{
	devfd = dev_open();
	if (!tap_ok(devfd >= 0, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	test_pipe_reads();
	close(devfd);
	test_sleeps();
	sysctl_restore_all();
	return tap_done();
}
