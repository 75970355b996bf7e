// SPDX-License-Identifier: GPL-2.0
/*
 * `make demo`: asynchronous system-call messages at work, narrated. One batch
 * of sleeps and pipe reads is submitted at once; the replies are printed as
 * they arrive, out of submission order. Then a batch with a bad message in
 * it, the synchronous helpers, a per-process limit of 2 with the library's
 * fallback, and what the device shows about itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "libsysmsg.h"

static const char *const op_names[SYSMSG_OP_COUNT] = {
	"NOP", "NANOSLEEP", "READ", "WRITE", "PREAD", "PWRITE", "FSYNC", "FDATASYNC",
};

static long long t_start;
static int pipe_a[2], pipe_b[2];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static const char *op_name(unsigned int op)
{
	return op < SYSMSG_OP_COUNT ? op_names[op] : "?";
}

/* The writer: pipe B gets its data after 50 ms, pipe A after 250 ms. */
static void *writer(void *arg)
{
	(void)arg;
	sleep_ms(50);
	printf("  [%4lld ms] (writer thread: \"bee\" into pipe B)\n", now_ms() - t_start);
	if (write(pipe_b[1], "bee", 3) != 3)
		perror("write pipe B");
	sleep_ms(200);
	printf("  [%4lld ms] (writer thread: \"ant\" into pipe A)\n", now_ms() - t_start);
	if (write(pipe_a[1], "ant", 3) != 3)
		perror("write pipe A");
	return NULL;
}

static int out_of_order(struct sysmsg *s)
{
	struct __kernel_timespec ms300 = { 0, 300000000 }, ms100 = { 0, 100000000 },
				 ms200 = { 0, 200000000 };
	static const char *const what[] = { "", "sleep 300 ms", "sleep 100 ms", "sleep 200 ms",
					    "read pipe A", "read pipe B" };
	char buf_a[8] = "", buf_b[8] = "";
	struct sysmsg_reply r[8];
	int order[5], done = 0, i, n;
	pthread_t th;

	printf("\n== One batch, five messages, completing out of order ==\n");
	printf("tag 1: NANOSLEEP 300 ms    tag 2: NANOSLEEP 100 ms    tag 3: NANOSLEEP 200 ms\n");
	printf("tag 4: READ of pipe A (data comes at 250 ms)\n");
	printf("tag 5: READ of pipe B (data comes at 50 ms)\n");
	if (pipe2(pipe_a, O_CLOEXEC) || pipe2(pipe_b, O_CLOEXEC)) {
		perror("pipe");
		return 1;
	}
	sysmsg_prep_nanosleep(sysmsg_get_msg(s), &ms300, 0, 1);
	sysmsg_prep_nanosleep(sysmsg_get_msg(s), &ms100, 0, 2);
	sysmsg_prep_nanosleep(sysmsg_get_msg(s), &ms200, 0, 3);
	sysmsg_prep_read(sysmsg_get_msg(s), pipe_a[0], buf_a, sizeof(buf_a) - 1, 4);
	sysmsg_prep_read(sysmsg_get_msg(s), pipe_b[0], buf_b, sizeof(buf_b) - 1, 5);

	t_start = now_ms();
	n = sysmsg_submit(s);
	printf("  [%4lld ms] submitted: %d accepted in one SYSMSG_IOC_SUBMIT; no thread waits for them\n",
	       now_ms() - t_start, n);
	if (n != 5) {
		fprintf(stderr, "submit: %s\n", strerror(n < 0 ? -n : s->submit_error));
		return 1;
	}
	if (pthread_create(&th, NULL, writer, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}

	while (done < 5) {
		n = sysmsg_wait(s, r, 8);
		if (n < 0) {
			fprintf(stderr, "sysmsg_wait: %s\n", strerror(-n));
			break;
		}
		for (i = 0; i < n; i++) {
			unsigned int tag = (unsigned int)r[i].tag;

			printf("  [%4lld ms] reply: tag %u (%s): %s, result %lld", now_ms() - t_start, tag,
			       tag <= 5 ? what[tag] : "?", op_name(r[i].opcode), (long long)r[i].result);
			if (tag == 4 && r[i].result > 0)
				printf(", data \"%s\"", buf_a);
			if (tag == 5 && r[i].result > 0)
				printf(", data \"%s\"", buf_b);
			printf("\n");
			if (done < 5)
				order[done++] = tag;
		}
	}
	pthread_join(th, NULL);
	printf("submission order: 1 2 3 4 5; completion order:");
	for (i = 0; i < done; i++)
		printf(" %d", order[i]);
	printf("\n");
	close(pipe_a[0]);
	close(pipe_a[1]);
	close(pipe_b[0]);
	close(pipe_b[1]);
	return 0;
}

static void refused(struct sysmsg *s)
{
	struct sysmsg_reply r[4];
	struct sysmsg_msg *m;
	char buf[4];
	int n;

	printf("\n== A batch with a bad message in the middle ==\n");
	sysmsg_prep_nop(sysmsg_get_msg(s), 10);
	sysmsg_prep_read(sysmsg_get_msg(s), -1, buf, sizeof(buf), 11);
	sysmsg_prep_nop(sysmsg_get_msg(s), 12);
	printf("tag 10: NOP, tag 11: READ of fd -1, tag 12: NOP\n");
	n = sysmsg_submit(s);
	m = sysmsg_batch_count(s) ? &s->batch[0] : NULL;
	printf("submit: %d accepted; message tag %llu refused with %s; %u left in the local batch\n",
	       n, m ? (unsigned long long)m->tag : 0ULL, strerrorname_np(s->submit_error),
	       sysmsg_batch_count(s));
	n = sysmsg_peek(s, r, 4);
	printf("replies: %d (tag %llu) -- a refused message never replies\n", n,
	       n > 0 ? (unsigned long long)r[0].tag : 0ULL);
	sysmsg_batch_drop(s, sysmsg_batch_count(s));
}

static void synchronous(struct sysmsg *s)
{
	struct __kernel_timespec ts = { 0, 50000000 };
	char path[] = "/tmp/sysmsg-demo-XXXXXX", buf[32] = "";
	long long t0;
	ssize_t n;
	int fd;

	printf("\n== The synchronous helpers: one message, wait for its reply ==\n");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		perror("mkostemp");
		return;
	}
	unlink(path);
	n = sysmsg_pwrite_sync(s, fd, "written by a kernel worker", 26, 0);
	printf("sysmsg_pwrite_sync: %zd\n", n);
	n = sysmsg_pread_sync(s, fd, buf, sizeof(buf) - 1, 0);
	printf("sysmsg_pread_sync: %zd \"%s\"\n", n, n > 0 ? buf : "");
	printf("sysmsg_fsync_sync: %d\n", sysmsg_fsync_sync(s, fd));
	t0 = now_ms();
	printf("sysmsg_nanosleep_sync 50 ms: %d", sysmsg_nanosleep_sync(s, &ts, 0));
	printf(" after %lld ms\n", now_ms() - t0);
	n = sysmsg_read_sync(s, 12345, buf, 1);
	printf("sysmsg_read_sync of fd 12345: %zd (%s), as read(2) would say\n", n,
	       n < 0 ? strerrorname_np(errno) : "-");
	close(fd);
	printf("submitted %llu, reaped %llu through this struct sysmsg\n", s->submitted, s->reaped);
}

/* A kernel.sysmsg.<name> sysctl: its value, or -1. */
static long long sysctl_read(const char *name)
{
	char path[128], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/kernel/sysmsg/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtoll(buf, NULL, 10);
}

/* Writes a kernel.sysmsg.<name> sysctl: 0 or -errno. */
static int sysctl_write(const char *name, long long v)
{
	char path[128], buf[32];
	int fd, n, ret = 0;

	snprintf(path, sizeof(path), "/proc/sys/kernel/sysmsg/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%lld\n", v);
	if (write(fd, buf, n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

static void limits(struct sysmsg *s)
{
	struct __kernel_timespec ms20 = { 0, 20000000 };
	unsigned long long async0 = s->async_ops, sync0 = s->sync_ops;
	struct sysmsg_proc_stats st;
	struct sysmsg_reply r[8];
	struct sysmsg_info info;
	__u64 soft = 0, hard = 0;
	long long ppl, t0;
	int i, n, got = 0;

	printf("\n== Limits: a soft limit of 2 messages in flight, and the library's fallback ==\n");
	if (sysmsg_get_info(s, &info) < 0 || !(info.features & SYSMSG_FEATURE_LIMITS)) {
		printf("(the module has no SYSMSG_FEATURE_LIMITS)\n");
		return;
	}
	sysmsg_get_limits(s, 0, &soft, &hard);
	printf("this process may have %llu messages in flight over all its files (hard limit %llu)\n",
	       (unsigned long long)soft, (unsigned long long)hard);
	ppl = sysctl_read("per_process_limits");
	n = sysctl_write("per_process_limits", 1);
	if (n < 0) {
		printf("(kernel.sysmsg.per_process_limits cannot be set: %s)\n", strerror(-n));
		return;
	}
	n = sysmsg_set_limits(s, 0, SYSMSG_LIMIT_SOFT, 2, 0);
	printf("kernel.sysmsg.per_process_limits = 1 (root lets processes set their own limits);\n"
	       "SYSMSG_IOC_SET_LIMITS: soft limit 2: %s\n", n ? strerror(-n) : "done");
	if (!n) {
		for (i = 0; i < 6; i++)
			sysmsg_prep_nanosleep(sysmsg_get_msg(s), &ms20, 0, 20 + i);
		t0 = now_ms();
		n = sysmsg_submit(s);
		printf("6 sleeps of 20 ms (tags 20-25) in one sysmsg_submit: %d accepted after %lld ms:\n"
		       "  %llu by the kernel; it refused the 3rd with EAGAIN, so the library slept the other %llu\n"
		       "  in the caller, one after the other, and queued their replies itself\n",
		       n, now_ms() - t0, s->async_ops - async0, s->sync_ops - sync0);
		if (sysmsg_proc_stats_pid(s, 0, &st) == 0)
			printf("SYSMSG_IOC_PROC_STATS: inflight %llu, throttled %s (until down to the low-water mark, 1),\n"
			       "  limit_hits %llu, throttle_episodes %llu, peak_inflight %llu\n",
			       (unsigned long long)st.inflight,
			       st.flags & SYSMSG_PROC_THROTTLED ? "yes" : "no",
			       (unsigned long long)st.limit_hits,
			       (unsigned long long)st.throttle_episodes,
			       (unsigned long long)st.peak_inflight);
		printf("replies, as sysmsg_wait hands them out (the library's first):");
		while (got < 6 && (n = sysmsg_wait(s, r, 8)) > 0) {
			for (i = 0; i < n; i++)
				printf(" %llu", (unsigned long long)r[i].tag);
			got += n;
		}
		printf("\n");
		if (sysmsg_proc_stats_pid(s, 0, &st) == 0)
			printf("all reaped: inflight %llu, throttled %s -- it dropped past the low-water mark\n",
			       (unsigned long long)st.inflight,
			       st.flags & SYSMSG_PROC_THROTTLED ? "yes" : "no");
		printf("poll(POLLOUT) now: %s, so the library leaves its fallback at the next submit\n",
		       poll(&(struct pollfd){ .fd = s->fd, .events = POLLOUT }, 1, 0) == 1 ? "yes" : "no");
		async0 = s->async_ops;
		sync0 = s->sync_ops;
		for (i = 0; i < 2; i++)
			sysmsg_prep_nanosleep(sysmsg_get_msg(s), &ms20, 0, 26 + i);
		n = sysmsg_submit(s);
		for (got = 0; got < 2 && (i = sysmsg_wait(s, r, 8)) > 0;)
			got += i;
		printf("2 more sleeps (tags 26, 27): %d accepted, %llu by the kernel, %llu in the caller: recovered\n",
		       n, s->async_ops - async0, s->sync_ops - sync0);
		printf("library counters: async_ops %llu, sync_ops %llu, fallback episodes %llu\n",
		       (unsigned long long)s->async_ops, (unsigned long long)s->sync_ops,
		       (unsigned long long)s->fallbacks);
		sysmsg_set_limits(s, 0, SYSMSG_LIMIT_SOFT, soft, 0);
	}
	if (ppl >= 0)
		sysctl_write("per_process_limits", ppl);
}

int main(void)
{
	struct sysmsg_info info;
	char path[64], buf[1024];
	struct sysmsg s;
	ssize_t n;
	int ret, fi;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = sysmsg_open(&s, 16, 0);
	if (ret < 0) {
		fprintf(stderr, "open %s: %s\n", SYSMSG_DEVICE_PATH, strerror(-ret));
		return 1;
	}
	printf("opened %s as fd %d (pid %d)\n", SYSMSG_DEVICE_PATH, s.fd, getpid());
	ret = sysmsg_get_info(&s, &info);
	if (ret < 0) {
		fprintf(stderr, "SYSMSG_IOC_GET_INFO: %s\n", strerror(-ret));
		return 1;
	}
	printf("SYSMSG_IOC_GET_INFO: abi_version %u, features %#llx, ops %#llx, max_io_len %u, queue_limit %u\n",
	       info.abi_version, (unsigned long long)info.features,
	       (unsigned long long)info.ops, info.max_io_len, info.queue_limit);

	if (out_of_order(&s))
		return 1;
	refused(&s);
	synchronous(&s);
	limits(&s);

	printf("\n== The open file ==\n");
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", s.fd);
	fi = open(path, O_RDONLY | O_CLOEXEC);
	n = fi >= 0 ? read(fi, buf, sizeof(buf) - 1) : -1;
	if (n > 0) {
		buf[n] = 0;
		printf("%s:\n%s", path, buf);
	}
	if (fi >= 0)
		close(fi);
	if (syscall(SYS_delete_module, "sysmsg", O_NONBLOCK) < 0)
		printf("rmmod while the device is open: refused with %s\n", strerrorname_np(errno));
	sysmsg_close(&s);
	printf("closed the device\n");
	return 0;
}
