// SPDX-License-Identifier: GPL-2.0
/*
 * Whose replies are whose: a fork() child that inherited the file sees none
 * of its parent's replies and cannot take them, its own messages work, and
 * its exit with messages in flight neither hangs nor touches the parent; the
 * threads of a process share one queue; after execve() the new image sees
 * none of the old image's messages (they are discarded at its first use of
 * the file) but works normally; a process that never shared the file with
 * us and receives it through SCM_RIGHTS sees, reaps and cancels nothing of
 * ours; and a randomized mix of every operation,
 * valid and invalid, in random batches: every accepted message replied
 * exactly once, refused ones never.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "testlib.h"

static int devfd;

static void test_fork(int ffd)
{
	struct __kernel_timespec ts = kts_ms(400);
	struct sysmsg_msg m[2];
	struct sysmsg_reply r[8];
	long long t0, t1;
	int status, n;
	pid_t pid;

	sysmsg_prep_nop(&m[0], 1);
	sysmsg_prep_nanosleep(&m[1], &ts, 0, 2);
	n = raw_write(devfd, m, 2);
	tap_ok(n == 2, "parent: a NOP (ready at once) and a 400 ms sleep");

	t0 = now_ns();
	pid = fork();
	if (pid == 0) {
		struct __kernel_timespec long_ts = kts_ms(30 * 1000);
		struct pollfd pfd = { .fd = devfd, .events = POLLIN };
		struct sysmsg_msg cm[2];
		char buf[8] = "";

		rcheck(raw_reap(devfd, r, 4, SYSMSG_REAP_NOWAIT) == -EAGAIN,
		       "REAP NOWAIT sees none of the parent's ready replies");
		rcheck(poll(&pfd, 1, 0) == 0, "poll: no POLLIN for the parent's ready replies");
		sysmsg_prep_nop(&cm[0], 100);
		sysmsg_prep_pread(&cm[1], ffd, buf, 4, 0, 101);
		n = raw_write(devfd, cm, 2);
		rcheck(n == 2, "its own NOP and PREAD are accepted on the inherited file");
		n = reap_n(devfd, r, 2, REPLY_TIMEOUT_MS);
		rcheck(n == 2 && find_tag(r, n, 100) >= 0 && find_tag(r, n, 101) >= 0 &&
			       r[find_tag(r, n, 101)].result == 4 && !memcmp(buf, "file", 4),
		       "it reaps exactly its own two replies");
		sleep_ms(600);
		rcheck(no_reply_for(devfd, 0), "after the parent's sleep completed: still nothing");
		watchdog_arm(1);
		n = raw_reap(devfd, r, 4, 0);
		watchdog_disarm();
		rcheck(n == -EINTR, "a blocking REAP has nothing to take (interrupted after 1 s: %d)", n);
		/* Exit with a 30 s sleep in flight: the exit must not wait for it. */
		sysmsg_prep_nanosleep(&cm[0], &long_ts, 0, 102);
		rcheck(raw_write(devfd, cm, 1) == 1, "a 30 s sleep accepted just before exit");
		_exit(0);
	}
	if (!tap_ok(pid > 0, "fork"))
		return;
	n = waitpid(pid, &status, 0);
	t1 = now_ns();
	report_remote("child");
	tap_ok(n == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited normally");
	tap_ok(t1 - t0 < 15 * NSEC_PER_SEC,
	       "the child's exit did not wait for its 30 s sleep (fork to reaped: %lld ms)",
	       (t1 - t0) / NSEC_PER_MSEC);

	n = reap_n(devfd, r, 2, REPLY_TIMEOUT_MS);
	tap_ok(n == 2 && find_tag(r, n, 1) >= 0 && find_tag(r, n, 2) >= 0,
	       "parent: reaps its NOP and its sleep after the child is gone");
	tap_ok(no_reply_for(devfd, 100), "parent: and none of the child's replies");

	/* The child's exit did not disturb the parent's file: it still works. */
	sysmsg_prep_nop(&m[0], 3);
	n = raw_write(devfd, m, 1);
	tap_ok(n == 1 && reap_n(devfd, r, 1, REPLY_TIMEOUT_MS) == 1 && r[0].tag == 3,
	       "parent: the file still works");
}

/* A child that is busy reaping does not get replies the parent completes meanwhile. */
static void test_fork_concurrent(void)
{
	struct sysmsg_msg m[16];
	struct sysmsg_reply r[16];
	int status, i, n, got = 0, foreign = 0;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		long long end = now_ns() + 1500 * NSEC_PER_MSEC;
		int own = 0, other = 0;

		while (now_ns() < end) {
			sysmsg_prep_nop(&m[0], 7000 + own);
			if (raw_write(devfd, m, 1) != 1)
				break;
			n = reap_n(devfd, r, 1, REPLY_TIMEOUT_MS);
			if (n == 1 && r[0].tag == (__u64)(7000 + own))
				own++;
			else
				other++;
		}
		rcheck(own > 0 && !other, "while the parent works: %d own replies, %d others", own,
		       other);
		_exit(0);
	}
	if (!tap_ok(pid > 0, "fork a child that submits and reaps NOPs"))
		return;
	for (i = 0; i < 40; i++) {
		struct __kernel_timespec ts[16];
		int k;

		for (k = 0; k < 16; k++) {
			ts[k] = kts_ms(k % 3);
			sysmsg_prep_nanosleep(&m[k], &ts[k], 0, 8000 + i * 16 + k);
		}
		if (raw_submit(devfd, m, 16, NULL) != 16)
			break;
		n = reap_n(devfd, r, 16, REPLY_TIMEOUT_MS);
		for (k = 0; k < n; k++)
			if (r[k].tag < 8000 || r[k].tag >= 8640)
				foreign++;
		got += n;
		if (n != 16)
			break;
	}
	waitpid(pid, &status, 0);
	report_remote("child");
	tap_ok(got == 640 && !foreign,
	       "parent: all 640 of its replies while the child reaped (%d, %d foreign)", got, foreign);
}

/* The threads of one process share its queue. */
static void *thread_submit(void *arg)
{
	struct sysmsg_msg m;

	sysmsg_prep_nop(&m, (__u64)(uintptr_t)arg);
	return (void *)(intptr_t)raw_write(devfd, &m, 1);
}

static void *thread_reap(void *arg)
{
	struct sysmsg_reply *r = arg;

	return (void *)(intptr_t)reap_n(devfd, r, 1, REPLY_TIMEOUT_MS);
}

static void test_threads_share(void)
{
	struct __kernel_timespec ts = kts_ms(50);
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	pthread_t th;
	void *ret = NULL;
	int n;

	if (pthread_create(&th, NULL, thread_submit, (void *)(uintptr_t)60))
		return;
	pthread_join(th, &ret);
	n = reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS);
	tap_ok((intptr_t)ret == 1 && n == 1 && r.tag == 60,
	       "a NOP submitted by a thread is reaped by the main thread");

	sysmsg_prep_nanosleep(&m, &ts, 0, 61);
	raw_write(devfd, &m, 1);
	memset(&r, 0, sizeof(r));
	if (pthread_create(&th, NULL, thread_reap, &r))
		return;
	pthread_join(th, &ret);
	tap_ok((intptr_t)ret == 1 && r.tag == 61, "a sleep submitted by the main thread is reaped by a thread");
}

/*
 * After execve() the process (same tgid, same descriptor) gets a new session
 * at its first use of the file: the old image's PREAD, NOP and sleep are
 * discarded, never reaped here, and the new image's own messages work.
 */
static int after_exec(int fd)
{
	struct sysmsg_reply r[4];
	struct sysmsg_msg m;
	int n;

	devfd = fd;
	n = raw_reap(fd, r, 4, SYSMSG_REAP_NOWAIT);
	if (n != -EAGAIN)
		return 10 + (n > 0 ? n : 0);
	/* The old image's 100 ms sleep would have completed by now. */
	if (!no_reply_for(fd, 300))
		return 2;
	sysmsg_prep_nop(&m, 43);
	if (raw_write(fd, &m, 1) != 1)
		return 3;
	n = reap_n(fd, r, 1, REPLY_TIMEOUT_MS);
	if (n != 1 || r[0].tag != 43 || r[0].result != 0)
		return 4;
	if (!no_reply_for(fd, 0))
		return 5;
	return 0;
}

static void test_exec(int ffd)
{
	struct __kernel_timespec ts = kts_ms(100);
	char fdstr[16], buf[8];
	struct sysmsg_msg m[3];
	int status, fd, n;
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		fd = dup(devfd); /* without O_CLOEXEC */
		sysmsg_prep_pread(&m[0], ffd, buf, 4, 0, 40);
		sysmsg_prep_nop(&m[1], 41);
		sysmsg_prep_nanosleep(&m[2], &ts, 0, 42);
		if (fd < 0 || raw_write(fd, m, 3) != 3)
			_exit(1);
		snprintf(fdstr, sizeof(fdstr), "%d", fd);
		execl("/proc/self/exe", "test_isolation", "--after-exec", fdstr, (char *)NULL);
		_exit(5);
	}
	if (!tap_ok(pid > 0, "fork a child that submits a PREAD, a NOP and a sleep, then execs"))
		return;
	n = waitpid(pid, &status, 0);
	tap_ok(n == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "after execve the old image's PREAD, NOP and sleep are gone and a new NOP works (status %d)",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* The randomized mix. */
#define MIX_TAGS 3000
#define MIX_BUF 512

enum { T_UNUSED, T_ACCEPTED, T_REFUSED, T_SKIPPED };
enum {
	K_NOP, K_SLEEP, K_SLEEP_ABS, K_PWRITE, K_PREAD, K_WRITE, K_READ, K_FSYNC, K_FDATASYNC,
	K_PIPE_READ, K_PIPE_WRITE, K_BAD_OPCODE, K_BAD_FD, K_BAD_SPIPE, K_BAD_TS, K_KINDS
};

struct mix_tag {
	unsigned char state, kind, replies;
	int len;		/* expected result: len (exact), -1: 0..len */
	long long result;
};

static struct mix_tag *mix;
static atomic_int pipe_reads_accepted, mix_stop, drain_stop;
static atomic_llong pipe_b_drained;
static int pipe_a[2], pipe_b[2];

static void *pipe_a_writer(void *arg)
{
	unsigned int seed = 99;
	int written = 0;

	(void)arg;
	for (;;) {
		/* Told to stop before this check: every accepted read was counted. */
		int stop = atomic_load(&mix_stop);

		if (written < atomic_load(&pipe_reads_accepted)) {
			if (write(pipe_a[1], "a", 1) == 1)
				written++;
			if (rand_r(&seed) % 8 == 0)
				sleep_ms(1);
			continue;
		}
		if (stop)
			break;
		sleep_ms(1);
	}
	return NULL;
}

/* Drains pipe B (non-blocking) until told to stop and it is empty. */
static void *pipe_b_reader(void *arg)
{
	struct pollfd pfd = { .fd = pipe_b[0], .events = POLLIN };
	char buf[4096];
	ssize_t n;

	(void)arg;
	for (;;) {
		/* Told to stop before this read: it sees every byte written. */
		int stop = atomic_load(&drain_stop);

		n = read(pipe_b[0], buf, sizeof(buf));
		if (n > 0) {
			atomic_fetch_add(&pipe_b_drained, n);
			continue;
		}
		if (!n || errno != EAGAIN || stop)
			break;
		poll(&pfd, 1, 20);
	}
	return NULL;
}

static void mix_record(const struct sysmsg_reply *r, int n, int *foreign)
{
	int i;

	for (i = 0; i < n; i++) {
		if (r[i].tag >= MIX_TAGS) {
			(*foreign)++;
			continue;
		}
		mix[r[i].tag].replies++;
		mix[r[i].tag].result = r[i].result;
	}
}

static void test_mix(void)
{
	static char bufs[MIX_TAGS][MIX_BUF];
	unsigned int seed = 20250401;
	int ffd, next = 0, b, i, n, err, kind, foreign = 0, bad_refusals = 0, invalid_accepted = 0;
	int accepted = 0, refused = 0, skipped = 0, replied = 0, wrong_result = 0, multiple = 0;
	int spurious = 0, missing = 0;
	long long pipe_b_written = 0, deadline;
	struct __kernel_timespec ts[32];
	struct sysmsg_msg m[32];
	struct sysmsg_reply r[64];
	pthread_t wa, rb;
	char path[64], *env;

	env = getenv("SYSMSG_SEED");
	if (env)
		seed = (unsigned int)strtoul(env, NULL, 0);
	diag("randomized mix: seed %u (set SYSMSG_SEED to repeat another)", seed);
	srand(seed);

	mix = calloc(MIX_TAGS, sizeof(*mix));
	ffd = tmpfile_open(path, O_CLOEXEC);
	if (!mix || ffd < 0 || ftruncate(ffd, 128 * 1024) || pipe2(pipe_a, O_CLOEXEC) ||
	    pipe2(pipe_b, O_CLOEXEC))
		return;
	unlink(path);
	fcntl(pipe_b[0], F_SETFL, O_NONBLOCK);
	if (pthread_create(&wa, NULL, pipe_a_writer, NULL))
		return;
	if (pthread_create(&rb, NULL, pipe_b_reader, NULL))
		return;

	while (next < MIX_TAGS) {
		b = 1 + rand() % 32;
		if (b > MIX_TAGS - next)
			b = MIX_TAGS - next;
		for (i = 0; i < b; i++) {
			int tag = next + i, len = 1 + rand() % MIX_BUF;
			struct mix_tag *t = &mix[tag];
			char *buf = bufs[tag];
			__s64 off = rand() % (64 * 1024);

			/* About one message in 25 is invalid. */
			kind = rand() % 100;
			if (kind < 4)
				kind = K_BAD_OPCODE + kind;
			else
				kind = rand() % K_BAD_OPCODE;
			t->kind = kind;
			t->len = 0;
			switch (kind) {
			case K_NOP:
				sysmsg_prep_nop(&m[i], tag);
				break;
			case K_SLEEP:
				ts[i] = kts_ms(0);
				ts[i].tv_nsec = rand() % (2 * NSEC_PER_MSEC);
				sysmsg_prep_nanosleep(&m[i], &ts[i], 0, tag);
				break;
			case K_SLEEP_ABS:
				ts[i] = kts_abs_ns(now_ns() + rand() % (2 * NSEC_PER_MSEC));
				sysmsg_prep_nanosleep(&m[i], &ts[i], SYSMSG_SLEEP_ABSTIME, tag);
				break;
			case K_PWRITE:
				memset(buf, 'w', len);
				sysmsg_prep_pwrite(&m[i], ffd, buf, len, off, tag);
				t->len = len;
				break;
			case K_PREAD:
				sysmsg_prep_pread(&m[i], ffd, buf, len, off, tag);
				t->len = len;
				break;
			case K_WRITE:
				len = 1 + len % 64;
				memset(buf, 'W', len);
				sysmsg_prep_write(&m[i], ffd, buf, len, tag);
				t->len = len;
				break;
			case K_READ:
				sysmsg_prep_read(&m[i], ffd, buf, len, tag);
				t->len = -len;
				break;
			case K_FSYNC:
				sysmsg_prep_fsync(&m[i], ffd, tag);
				break;
			case K_FDATASYNC:
				sysmsg_prep_fdatasync(&m[i], ffd, tag);
				break;
			case K_PIPE_READ:
				sysmsg_prep_read(&m[i], pipe_a[0], buf, 1, tag);
				t->len = 1;
				break;
			case K_PIPE_WRITE:
				len = 1 + len % 64;
				memset(buf, 'p', len);
				sysmsg_prep_write(&m[i], pipe_b[1], buf, len, tag);
				t->len = len;
				break;
			case K_BAD_OPCODE:
				sysmsg_prep_nop(&m[i], tag);
				m[i].opcode = SYSMSG_OP_COUNT + rand() % 100;
				break;
			case K_BAD_FD:
				sysmsg_prep_read(&m[i], -1 - rand() % 10, buf, len, tag);
				break;
			case K_BAD_SPIPE:
				sysmsg_prep_pread(&m[i], pipe_a[0], buf, 1, 0, tag);
				break;
			case K_BAD_TS:
				ts[i] = kts_ms(1);
				ts[i].tv_nsec = NSEC_PER_SEC + rand() % 1000;
				sysmsg_prep_nanosleep(&m[i], &ts[i], 0, tag);
				break;
			}
		}
		if (rand() % 2) {
			n = raw_write(devfd, m, b);
			err = n < 0 ? -n : 0;
		} else {
			n = raw_submit(devfd, m, b, &err);
			if (n < 0)
				err = -n;
		}
		if (n < 0)
			n = 0;
		for (i = 0; i < b; i++) {
			struct mix_tag *t = &mix[next + i];
			int invalid = t->kind >= K_BAD_OPCODE;

			if (i < n) {
				t->state = T_ACCEPTED;
				accepted++;
				if (invalid)
					invalid_accepted++;
				if (t->kind == K_PIPE_WRITE)
					pipe_b_written += t->len;
				if (t->kind == K_PIPE_READ)
					atomic_fetch_add(&pipe_reads_accepted, 1);
				continue;
			}
			if (i == n) {
				t->state = T_REFUSED;
				refused++;
				if (!invalid) {
					bad_refusals++;
					diag("tag %d (kind %d) refused with %s", next + i, t->kind,
					     strerrorname_np(err));
				}
			} else {
				t->state = T_SKIPPED;
				skipped++;
			}
		}
		next += b;
		n = raw_reap(devfd, r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT);
		if (n > 0) {
			mix_record(r, n, &foreign);
			replied += n;
		}
	}

	deadline = now_ns() + 120 * NSEC_PER_SEC;
	while (replied < accepted && now_ns() < deadline) {
		struct pollfd pfd = { .fd = devfd, .events = POLLIN };

		n = raw_reap(devfd, r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT);
		if (n > 0) {
			mix_record(r, n, &foreign);
			replied += n;
			continue;
		}
		poll(&pfd, 1, 50);
	}
	sleep_ms(50);
	while ((n = raw_reap(devfd, r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT)) > 0) {
		mix_record(r, n, &foreign);
		replied += n;
	}
	atomic_store(&mix_stop, 1);
	pthread_join(wa, NULL);
	atomic_store(&drain_stop, 1);
	pthread_join(rb, NULL);

	for (i = 0; i < MIX_TAGS; i++) {
		struct mix_tag *t = &mix[i];

		if (t->state != T_ACCEPTED) {
			if (t->replies)
				spurious++;
			continue;
		}
		if (!t->replies)
			missing++;
		else if (t->replies > 1)
			multiple++;
		else if ((t->len >= 0 && t->result != t->len) ||
			 (t->len < 0 && (t->result < 0 || t->result > -t->len))) {
			wrong_result++;
			if (wrong_result < 10)
				diag("tag %d kind %d: result %lld, expected %d", i, t->kind, t->result,
				     t->len);
		}
	}
	diag("mix: %d accepted, %d refused, %d not submitted after a refusal, %d replies",
	     accepted, refused, skipped, replied);
	tap_ok(!bad_refusals, "mix: no valid message was refused (%d)", bad_refusals);
	tap_ok(!invalid_accepted, "mix: no invalid message was accepted (%d)", invalid_accepted);
	tap_ok(!missing && !multiple, "mix: every accepted message replied exactly once (%d missing, %d more than once)",
	       missing, multiple);
	tap_ok(!spurious && !foreign, "mix: refused and unsubmitted messages never replied (%d, %d foreign)",
	       spurious, foreign);
	tap_ok(!wrong_result, "mix: every result is what the operation returns (%d wrong)", wrong_result);
	tap_ok(atomic_load(&pipe_b_drained) == pipe_b_written,
	       "mix: the pipe writes delivered %lld bytes, as their results said (%lld)",
	       (long long)atomic_load(&pipe_b_drained), pipe_b_written);
	close(pipe_a[0]);
	close(pipe_a[1]);
	close(pipe_b[0]);
	close(pipe_b[1]);
	close(ffd);
	free(mix);
}

/* Receives one descriptor over a unix socket; -1 on failure. */
static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { "f", 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/*
 * The stranger: forked before the device was opened, so it never inherited
 * the file; it gets it through SCM_RIGHTS while we have a sleep (tag 70) in
 * flight and a NOP reply (tag 71) ready, and must not see, reap or cancel
 * either. Its checks are reported through `remote`.
 */
static int stranger_sock = -1;
static pid_t stranger_pid;

static void stranger_main(int sock)
{
	struct sysmsg_cancel c = { .tag = 70 };
	struct sysmsg_reply r;
	struct pollfd p;
	int fd = recv_fd(sock);

	rcheck(fd >= 0, "stranger: received the file through SCM_RIGHTS");
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	rcheck(poll(&p, 1, 100) == 0, "stranger: poll shows no reply of ours");
	rcheck(raw_reap(fd, &r, 1, SYSMSG_REAP_NOWAIT) == -EAGAIN, "stranger: a reap finds nothing");
	errno = 0;
	rcheck(ioctl(fd, SYSMSG_IOC_CANCEL, &c) == -1 && errno == ENOENT && !c.cancelled,
	       "stranger: cancelling our tag 70 finds nothing (ENOENT)");
	c = (struct sysmsg_cancel){ .flags = SYSMSG_CANCEL_ALL };
	rcheck(ioctl(fd, SYSMSG_IOC_CANCEL, &c) == 0 && !c.cancelled && !c.already,
	       "stranger: cancel-all stops nothing");
	close(fd);
	_exit(0);
}

static void test_stranger(void)
{
	struct __kernel_timespec ts = kts_ms(60000);
	struct sysmsg_cancel c = { .tag = 70 };
	struct sysmsg_msg m[2];
	struct sysmsg_reply r[2];
	int status, base = remote->n, i;

	if (!tap_ok(stranger_sock >= 0, "a process that never shared the file"))
		return;
	sysmsg_prep_nanosleep(&m[0], &ts, 0, 70);
	sysmsg_prep_nop(&m[1], 71);
	tap_ok(raw_write(devfd, m, 2) == 2, "parent: a 60 s sleep and a NOP in flight");
	tap_ok(!send_fd(stranger_sock, devfd), "pass the file to it");
	tap_ok(waitpid(stranger_pid, &status, 0) == stranger_pid && WIFEXITED(status) &&
		       !WEXITSTATUS(status), "it exited");
	for (i = base; i < remote->n; i++)
		tap_ok(remote->c[i].ok, "%s", remote->c[i].name);
	tap_ok(remote->n - base == 5, "it made its 5 checks");
	tap_ok(reap_n(devfd, r, 1, REPLY_TIMEOUT_MS) == 1 && r[0].tag == 71,
	       "parent: the NOP's reply is still ours");
	tap_ok(ioctl(devfd, SYSMSG_IOC_CANCEL, &c) == 1 && reap_n(devfd, r, 1, REPLY_TIMEOUT_MS) == 1 &&
		       r[0].tag == 70 && r[0].result == -ECANCELED,
	       "parent: the sleep was still in flight after the stranger closed the file and exited");
	close(stranger_sock);
}

int main(int argc, char **argv)
{
	char path[64];
	int ffd;

	if (argc == 3 && !strcmp(argv[1], "--after-exec"))
		return after_exec(atoi(argv[2]));

	signal(SIGPIPE, SIG_IGN);
	remote_init();
	{
		int sv[2];

		if (remote != MAP_FAILED && !socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
			stranger_pid = fork();
			if (stranger_pid == 0) {
				close(sv[0]);
				stranger_main(sv[1]);
			}
			close(sv[1]);
			stranger_sock = stranger_pid > 0 ? sv[0] : -1;
		}
	}
	devfd = dev_open();
	if (!tap_ok(devfd >= 0 && remote != MAP_FAILED, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	ffd = tmpfile_open(path, O_CLOEXEC);
	if (!tap_ok(ffd >= 0 && pwrite(ffd, "file", 4, 0) == 4, "a temporary file"))
		return tap_done();

	test_fork(ffd);
	test_fork_concurrent();
	test_threads_share();
	test_exec(ffd);
	test_stranger();
	test_mix();

	tap_ok(no_reply_for(devfd, 100), "no stray reply is left");
	close(ffd);
	unlink(path);
	close(devfd);
	return tap_done();
}
