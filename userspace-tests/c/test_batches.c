// SPDX-License-Identifier: GPL-2.0
/*
 * Submitting and reaping: batches through write() and SYSMSG_IOC_SUBMIT,
 * partial acceptance, the length rules of read() and write(), O_NONBLOCK and
 * SYSMSG_REAP_NOWAIT, blocking reads that wake, poll and epoll, replies kept
 * when the reply buffer faults, many threads on one file, and the queue
 * limit.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>

#include "testlib.h"

static int devfd;

static void prep_bad(struct sysmsg_msg *m, __u64 tag)
{
	sysmsg_prep_nop(m, tag);
	m->opcode = SYSMSG_OP_COUNT;
}

/* Reaps @n replies and checks they carry exactly the tags @first..@first+@n-1. */
static int got_tags(int n, __u64 first, const char *what)
{
	struct sysmsg_reply r[64];
	int i, k;

	k = reap_n(devfd, r, n, REPLY_TIMEOUT_MS);
	for (i = 0; i < n && k == n; i++)
		if (find_tag(r, k, first + i) < 0)
			break;
	return tap_ok(k == n && i == n, "%s: the %d replies, tags %llu..%llu (got %d)", what, n,
		      (unsigned long long)first, (unsigned long long)first + n - 1, k);
}

static void test_batch_write(void)
{
	struct sysmsg_msg m[16];
	struct sysmsg_reply r[16];
	ssize_t ret;
	int i, k, ok = 1;

	for (i = 0; i < 16; i++)
		sysmsg_prep_nop(&m[i], 100 + i);
	ret = write(devfd, m, sizeof(m));
	tap_ok(ret == (ssize_t)sizeof(m), "write() of 16 NOPs returns 1024 bytes (%zd)", ret);
	k = read_n(devfd, r, 16, 30);
	for (i = 0; i < 16; i++)
		if (find_tag(r, k, 100 + i) < 0)
			ok = 0;
	for (i = 0; i < k; i++)
		if (r[i].opcode != SYSMSG_OP_NOP || r[i].result || !reply_reserved_zero(&r[i]))
			ok = 0;
	tap_ok(k == 16 && ok, "read() returns the 16 replies, each tag once");
	tap_ok(no_reply_for(devfd, 0), "and no more");
}

static void test_batch_submit(void)
{
	struct __kernel_timespec ts[16];
	struct sysmsg_submit sub;
	struct sysmsg_msg m[16];
	int i, ret;

	for (i = 0; i < 16; i++) {
		ts[i] = kts_ms(i);
		sysmsg_prep_nanosleep(&m[i], &ts[i], 0, 200 + i);
	}
	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)m;
	sub.count = 16;
	sub.accepted = 99;
	sub.error = 99;
	ret = ioctl(devfd, SYSMSG_IOC_SUBMIT, &sub);
	tap_ok(ret == 16 && sub.accepted == 16 && sub.error == 0,
	       "SUBMIT of 16 sleeps: returns 16, accepted 16, error 0 (%d, %u, %d)", ret,
	       sub.accepted, sub.error);
	got_tags(16, 200, "SUBMIT of 16 sleeps");
	tap_ok(no_reply_for(devfd, 50), "and no more");
}

static void test_partial(void)
{
	struct __kernel_timespec ts = kts_ms(10);
	struct sysmsg_submit sub;
	struct sysmsg_msg m[4];
	char buf[16];
	ssize_t ret;
	int err, n;

	/* write(): the bytes before the refused message. */
	sysmsg_prep_nop(&m[0], 300);
	sysmsg_prep_nanosleep(&m[1], &ts, 0, 301);
	prep_bad(&m[2], 302);
	sysmsg_prep_nop(&m[3], 303);
	ret = write(devfd, m, sizeof(m));
	tap_ok(ret == 2 * (ssize_t)sizeof(m[0]),
	       "write() of [NOP, sleep, bad, NOP] returns the 128 bytes before the bad one (%zd)",
	       ret);
	got_tags(2, 300, "partial write()");
	tap_ok(no_reply_for(devfd, 100), "partial write(): no reply of the bad one or the one after");
	tap_errno(write(devfd, &m[2], 2 * sizeof(m[0])), EINVAL,
		  "partial write(): submitting the rest reports EINVAL");
	tap_ok(no_reply_for(devfd, 50), "and that was not accepted either");

	/* SUBMIT: accepted and the error. */
	m[0].tag = 310;
	m[1].tag = 311;
	m[2].tag = 312;
	m[3].tag = 313;
	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)m;
	sub.count = 4;
	n = ioctl(devfd, SYSMSG_IOC_SUBMIT, &sub);
	tap_ok(n == 2 && sub.accepted == 2 && sub.error == EINVAL,
	       "SUBMIT of [NOP, sleep, bad, NOP]: returns 2, accepted 2, error EINVAL (%d, %u, %d)",
	       n, sub.accepted, sub.error);
	got_tags(2, 310, "partial SUBMIT");
	tap_ok(no_reply_for(devfd, 100), "partial SUBMIT: exactly the accepted ones replied");
	n = raw_submit(devfd, &m[2], 2, &err);
	tap_ok(n == -EINVAL, "SUBMIT of the rest: -1, EINVAL (%d)", n);
	tap_ok(no_reply_for(devfd, 0), "and no reply");

	/* A refused first message is an error; one after it a short count. */
	sysmsg_prep_read(&m[0], -1, buf, sizeof(buf), 320);
	tap_errno(write(devfd, m, sizeof(m[0])), EBADF, "write() of one refused message: -1, EBADF");
	sysmsg_prep_nop(&m[0], 321);
	sysmsg_prep_read(&m[1], -1, buf, sizeof(buf), 322);
	n = raw_submit(devfd, m, 2, &err);
	tap_ok(n == 1 && err == EBADF, "SUBMIT of [NOP, bad fd]: 1 accepted, error EBADF");
	got_tags(1, 321, "SUBMIT of [NOP, bad fd]");
}

static void test_lengths(void)
{
	struct sysmsg_msg m[3];
	struct sysmsg_reply r[4];
	char buf[128];
	size_t bad[] = { 1, 32, 63, 65, 127, 129 };
	unsigned int i;
	int n;

	for (i = 0; i < 3; i++)
		sysmsg_prep_nop(&m[i], 400 + i);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		tap_errno(write(devfd, m, bad[i]), EINVAL, "write() of %zu bytes: EINVAL", bad[i]);
	tap_ok(no_reply_for(devfd, 0), "no message of those writes was accepted");
	tap_ok(write(devfd, m, 0) == 0, "write() of 0 bytes: 0");
	tap_ok(no_reply_for(devfd, 0), "and nothing was submitted");

	/* Reply buffers: shorter than a reply fails, a longer one is used in whole replies. */
	n = raw_write(devfd, m, 2);
	tap_ok(n == 2, "2 NOPs");
	tap_errno(read(devfd, buf, 31), EINVAL, "read() of 31 bytes: EINVAL");
	tap_errno(read(devfd, buf, 1), EINVAL, "read() of 1 byte: EINVAL");
	tap_errno(read(devfd, buf, 0), EINVAL, "read() of 0 bytes: EINVAL (shorter than a reply)");
	watchdog_arm(30);
	n = read(devfd, r, 63);
	watchdog_disarm();
	tap_ok(n == 32 && r[0].tag == 400, "read() of 63 bytes: one reply, 32 bytes (%d)", n);
	watchdog_arm(30);
	n = read(devfd, r, sizeof(r));
	watchdog_disarm();
	tap_ok(n == 32 && r[0].tag == 401, "read() of 128 bytes with one ready: 32 bytes (%d)", n);
}

static void test_nonblock(void)
{
	struct __kernel_timespec ts = kts_ms(150);
	struct sysmsg_reap rp;
	struct sysmsg_msg m;
	struct sysmsg_reply r[2];
	long long t0;
	int flags, n;

	tap_ok(raw_reap(devfd, r, 2, SYSMSG_REAP_NOWAIT) == -EAGAIN,
	       "REAP with SYSMSG_REAP_NOWAIT and nothing ready: EAGAIN");

	flags = fcntl(devfd, F_GETFL);
	fcntl(devfd, F_SETFL, flags | O_NONBLOCK);
	tap_errno(read(devfd, r, sizeof(r)), EAGAIN, "O_NONBLOCK read() with nothing ready: EAGAIN");
	sysmsg_prep_nop(&m, 500);
	raw_write(devfd, &m, 1);
	n = raw_read(devfd, r, 2);
	tap_ok(n == 1 && r[0].tag == 500, "O_NONBLOCK read() with a reply ready: the reply");

	/* REAP without NOWAIT waits whatever O_NONBLOCK says. */
	sysmsg_prep_nanosleep(&m, &ts, 0, 501);
	t0 = now_ns();
	raw_write(devfd, &m, 1);
	watchdog_arm(30);
	n = raw_reap(devfd, r, 2, 0);
	watchdog_disarm();
	tap_ok(n == 1 && r[0].tag == 501 && now_ns() - t0 >= 150 * NSEC_PER_MSEC,
	       "REAP without NOWAIT on an O_NONBLOCK file waits for the 150 ms sleep (%d)", n);
	fcntl(devfd, F_SETFL, flags);

	/* Malformed reap and submit arguments; a pending reply survives them. */
	sysmsg_prep_nop(&m, 502);
	raw_write(devfd, &m, 1);
	memset(&rp, 0, sizeof(rp));
	rp.replies = (__u64)(uintptr_t)r;
	rp.max = 2;
	rp.flags = 1U << 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_REAP, &rp), EINVAL, "REAP with an unknown flag: EINVAL");
	rp.flags = SYSMSG_REAP_NOWAIT;
	rp.reserved0 = 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_REAP, &rp), EINVAL, "REAP with reserved0 != 0: EINVAL");
	rp.reserved0 = 0;
	rp.reserved[1] = 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_REAP, &rp), EINVAL, "REAP with reserved[1] != 0: EINVAL");
	rp.reserved[1] = 0;
	rp.max = 0;
	tap_errno(ioctl(devfd, SYSMSG_IOC_REAP, &rp), EINVAL, "REAP with max 0: EINVAL");
	rp.max = 2;
	rp.count = 77;
	n = ioctl(devfd, SYSMSG_IOC_REAP, &rp);
	tap_ok(n == 1 && rp.count == 1 && r[0].tag == 502,
	       "the reply survived the refused REAPs; count is written back");

	{
		struct sysmsg_submit sub;

		sysmsg_prep_nop(&m, 503);
		memset(&sub, 0, sizeof(sub));
		sub.msgs = (__u64)(uintptr_t)&m;
		sub.count = 1;
		sub.flags = 1U << 30;
		tap_errno(ioctl(devfd, SYSMSG_IOC_SUBMIT, &sub), EINVAL,
			  "SUBMIT with an unknown flag: EINVAL");
		sub.flags = 0;
		sub.replies = (__u64)(uintptr_t)r;
		tap_errno(ioctl(devfd, SYSMSG_IOC_SUBMIT, &sub), EINVAL,
			  "SUBMIT with replies != 0 but no REAP flag: EINVAL");
		sub.replies = 0;
		tap_ok(no_reply_for(devfd, 0), "the refused SUBMITs submitted nothing");
	}
}

static pthread_t blocked_thread;
static atomic_int blocked_done;
static int blocked_ret;
static struct sysmsg_reply blocked_reply;

static void *blocked_reader(void *arg)
{
	(void)arg;
	blocked_ret = raw_read(devfd, &blocked_reply, 1);
	atomic_store(&blocked_done, 1);
	return NULL;
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

static void test_blocking_read(void)
{
	struct __kernel_timespec ts = kts_ms(150);
	struct sigaction sa;
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	long long t0, t1;
	int n, i;

	sysmsg_prep_nanosleep(&m, &ts, 0, 600);
	t0 = now_ns();
	raw_write(devfd, &m, 1);
	watchdog_arm(30);
	n = raw_read(devfd, &r, 1);
	watchdog_disarm();
	t1 = now_ns();
	tap_ok(n == 1 && r.tag == 600 && t1 - t0 >= 150 * NSEC_PER_MSEC,
	       "a blocking read() wakes when the 150 ms sleep completes (%lld ms)",
	       (t1 - t0) / NSEC_PER_MSEC);

	/* A reader blocked in another thread wakes on a completion from here. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sigaction(SIGUSR1, &sa, NULL);
	atomic_store(&blocked_done, 0);
	if (pthread_create(&blocked_thread, NULL, blocked_reader, NULL))
		return;
	sleep_ms(300);
	tap_ok(!atomic_load(&blocked_done), "a thread blocked in read() stays blocked while nothing completes");
	sysmsg_prep_nop(&m, 601);
	raw_write(devfd, &m, 1);
	for (i = 0; i < 1000 && !atomic_load(&blocked_done); i++)
		sleep_ms(10);
	tap_ok(atomic_load(&blocked_done) && blocked_ret == 1 && blocked_reply.tag == 601,
	       "the blocked read() returns the NOP submitted by another thread");
	if (!atomic_load(&blocked_done)) {
		/* Unblock it: interrupted (EINTR) or given the reply of another NOP. */
		pthread_kill(blocked_thread, SIGUSR1);
		sysmsg_prep_nop(&m, 602);
		raw_write(devfd, &m, 1);
	}
	pthread_join(blocked_thread, NULL);
	while (raw_reap(devfd, &r, 1, SYSMSG_REAP_NOWAIT) > 0)
		;
}

static void test_poll(void)
{
	struct __kernel_timespec ts = kts_ms(200);
	struct pollfd pfd = { .fd = devfd, .events = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM };
	struct epoll_event ev, evs[4];
	struct sysmsg_msg m;
	struct sysmsg_reply r, two[2];
	long long t0, t1;
	int n, ep, epo;

	n = poll(&pfd, 1, 0);
	tap_ok(n == 1 && pfd.revents == (POLLOUT | POLLWRNORM),
	       "poll with nothing in flight: POLLOUT | POLLWRNORM only (revents %#x)", pfd.revents);

	sysmsg_prep_nanosleep(&m, &ts, 0, 700);
	t0 = now_ns();
	raw_write(devfd, &m, 1);
	pfd.events = POLLIN;
	pfd.revents = 0;
	n = poll(&pfd, 1, 0);
	tap_ok(n == 0, "poll while the sleep runs: no POLLIN (revents %#x)", pfd.revents);
	n = poll(&pfd, 1, 30000);
	t1 = now_ns();
	tap_ok(n == 1 && (pfd.revents & POLLIN) && t1 - t0 >= 200 * NSEC_PER_MSEC,
	       "poll wakes with POLLIN when the 200 ms sleep completes (%lld ms)",
	       (t1 - t0) / NSEC_PER_MSEC);
	pfd.events = POLLIN | POLLRDNORM;
	n = poll(&pfd, 1, 0);
	tap_ok(n == 1 && pfd.revents == (POLLIN | POLLRDNORM),
	       "poll with a reply ready: POLLIN | POLLRDNORM (revents %#x)", pfd.revents);
	n = raw_reap(devfd, &r, 1, SYSMSG_REAP_NOWAIT);
	n = poll(&pfd, 1, 0);
	tap_ok(n == 0, "poll once it was reaped: no POLLIN");

	/* epoll, level-triggered. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	tap_ok(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, devfd, &ev) == 0, "epoll: add for EPOLLIN");
	tap_ok(epoll_wait(ep, evs, 4, 0) == 0, "epoll with nothing ready: no event");
	sysmsg_prep_nanosleep(&m, &ts, 0, 701);
	t0 = now_ns();
	raw_write(devfd, &m, 1);
	tap_ok(epoll_wait(ep, evs, 4, 0) == 0, "epoll while the sleep runs: no event");
	n = epoll_wait(ep, evs, 4, 30000);
	t1 = now_ns();
	tap_ok(n == 1 && (evs[0].events & EPOLLIN) && t1 - t0 >= 200 * NSEC_PER_MSEC,
	       "epoll wakes with EPOLLIN when the sleep completes (%lld ms)", (t1 - t0) / NSEC_PER_MSEC);
	tap_ok(epoll_wait(ep, evs, 4, 0) == 1, "epoll (level-triggered): still ready until reaped");
	raw_reap(devfd, &r, 1, SYSMSG_REAP_NOWAIT);
	tap_ok(epoll_wait(ep, evs, 4, 0) == 0, "epoll once it was reaped: no event");

	/* Edge-triggered: one event per new completion. */
	ev.events = EPOLLIN | EPOLLET;
	epoll_ctl(ep, EPOLL_CTL_MOD, devfd, &ev);
	sysmsg_prep_nop(&m, 702);
	raw_write(devfd, &m, 1);
	tap_ok(epoll_wait(ep, evs, 4, 10000) == 1, "epoll (edge-triggered): an event for a NOP");
	tap_ok(epoll_wait(ep, evs, 4, 0) == 0, "epoll (edge-triggered): not again for the same reply");
	sysmsg_prep_nanosleep(&m, &ts, 0, 703);
	raw_write(devfd, &m, 1);
	tap_ok(epoll_wait(ep, evs, 4, 30000) == 1,
	       "epoll (edge-triggered): an event for the next completion");
	tap_ok(reap_n(devfd, two, 2, REPLY_TIMEOUT_MS) == 2,
	       "both replies are there");
	close(ep);

	epo = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLOUT;
	tap_ok(epo >= 0 && epoll_ctl(epo, EPOLL_CTL_ADD, devfd, &ev) == 0 &&
		       epoll_wait(epo, evs, 4, 0) == 1 && (evs[0].events & EPOLLOUT),
	       "epoll: EPOLLOUT below the queue limit");
	close(epo);
}

static void test_reply_fault(void)
{
	struct sysmsg_reap rp;
	struct sysmsg_msg m[3];
	struct sysmsg_reply r[4], *edge;
	int seen[3] = { 0 }, i, n, total = 0, ok = 1;
	void *bad = unmapped_page();
	char *pages;

	for (i = 0; i < 3; i++)
		sysmsg_prep_nop(&m[i], 800 + i);
	tap_ok(raw_write(devfd, m, 3) == 3, "3 NOPs");

	tap_errno(read(devfd, bad, 3 * sizeof(r[0])), EFAULT, "read() into an unmapped buffer: EFAULT");
	tap_errno(read(devfd, (void *)0xffff800000000000ULL, sizeof(r)), EFAULT,
		  "read() into a kernel address: EFAULT");
	memset(&rp, 0, sizeof(rp));
	rp.replies = (__u64)(uintptr_t)bad;
	rp.max = 3;
	tap_errno(ioctl(devfd, SYSMSG_IOC_REAP, &rp), EFAULT, "REAP into an unmapped buffer: EFAULT");
	tap_errno(ioctl(devfd, SYSMSG_IOC_REAP, bad), EFAULT, "REAP with an unmapped argument: EFAULT");

	/* One reply fits before the unmapped page: either it is stored or none is. */
	pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages != MAP_FAILED) {
		munmap(pages + 4096, 4096);
		edge = (struct sysmsg_reply *)(pages + 4096 - sizeof(*edge));
		n = raw_read(devfd, edge, 3);
		diag("read() of 3 replies with room for 1 before a hole: %d", n);
		tap_ok(n == 1 || n == -EFAULT, "a reply buffer that faults after one reply: 1 or EFAULT");
		if (n == 1 && edge->tag >= 800 && edge->tag < 803) {
			seen[edge->tag - 800]++;
			total++;
		}
		munmap(pages, 4096);
	}
	n = reap_n(devfd, r, 3 - total, REPLY_TIMEOUT_MS);
	for (i = 0; i < n; i++) {
		if (r[i].tag >= 800 && r[i].tag < 803)
			seen[r[i].tag - 800]++;
		else
			ok = 0;
	}
	tap_ok(ok && seen[0] == 1 && seen[1] == 1 && seen[2] == 1,
	       "after the faults every reply is still delivered, exactly once");
	tap_ok(no_reply_for(devfd, 0), "and no more");
}

/* Many threads submitting and reaping on one file. */
#define NTHREADS 8
#define PER_THREAD 400
#define NTAGS (NTHREADS * PER_THREAD)

static atomic_int tag_seen[NTAGS];
static atomic_int foreign_tags, thread_errors;
static long long threads_deadline;

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 7919 + 1;
	int id = (int)(uintptr_t)arg, submitted = 0, reaped = 0, i, b, n, err;
	struct pollfd pfd = { .fd = devfd, .events = POLLIN };
	struct __kernel_timespec ts[16];
	struct sysmsg_msg m[16];
	struct sysmsg_reply r[32];
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	while (submitted < PER_THREAD || reaped < submitted) {
		if (now_ns() > threads_deadline) {
			atomic_fetch_add(&thread_errors, 1);
			break;
		}
		if (submitted < PER_THREAD) {
			b = 1 + rand_r(&seed) % 16;
			if (b > PER_THREAD - submitted)
				b = PER_THREAD - submitted;
			for (i = 0; i < b; i++) {
				__u64 tag = (__u64)id * PER_THREAD + submitted + i;

				if (rand_r(&seed) % 2) {
					sysmsg_prep_nop(&m[i], tag);
				} else {
					ts[i] = kts_ms(0);
					ts[i].tv_nsec = rand_r(&seed) % 1000000;
					sysmsg_prep_nanosleep(&m[i], &ts[i], 0, tag);
				}
			}
			if (id % 2)
				n = raw_write(devfd, m, b);
			else
				n = raw_submit(devfd, m, b, &err);
			if (n != b)
				atomic_fetch_add(&thread_errors, 1);
			if (n > 0)
				submitted += n;
		}
		/* Reap at most what this thread still owes: the sum is what is in flight. */
		b = submitted - reaped;
		if (!b)
			continue;
		n = raw_reap(devfd, r, b < 32 ? b : 32, SYSMSG_REAP_NOWAIT);
		if (n == -EAGAIN) {
			if (submitted == PER_THREAD)
				poll(&pfd, 1, 20);
			continue;
		}
		if (n < 0) {
			atomic_fetch_add(&thread_errors, 1);
			break;
		}
		for (i = 0; i < n; i++) {
			if (r[i].tag < NTAGS && !r[i].result)
				atomic_fetch_add(&tag_seen[r[i].tag], 1);
			else
				atomic_fetch_add(&foreign_tags, 1);
		}
		reaped += n;
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[NTHREADS];
	int i, once = 0, other = 0, started = 0;
	long long t0 = now_ns();

	threads_deadline = t0 + 120 * NSEC_PER_SEC;
	for (i = 0; i < NTHREADS; i++)
		if (!pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i))
			started++;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NTAGS; i++) {
		if (atomic_load(&tag_seen[i]) == 1)
			once++;
		else
			other++;
	}
	diag("%d threads, %d messages: %lld ms", NTHREADS, NTAGS, (now_ns() - t0) / NSEC_PER_MSEC);
	tap_ok(started == NTHREADS && !atomic_load(&thread_errors),
	       "%d threads submit (write and SUBMIT) and reap on one file without errors", NTHREADS);
	tap_ok(once == NTAGS && !other && !atomic_load(&foreign_tags),
	       "every one of %d tags reaped exactly once (%d once, %d not, %d foreign)", NTAGS, once,
	       other, atomic_load(&foreign_tags));
	tap_ok(no_reply_for(devfd, 50), "and nothing more");
}

/*
 * The per-process queue limit; last, on a file of its own, closed at the end.
 * With SYSMSG_FEATURE_LIMITS (README.md) the refusal also throttles the
 * process: with the limit L and low_water 50 it may submit again only once
 * it is down to floor(L / 2) messages in flight, so reaping one reply does
 * not make room then (test_limits checks the exact points).
 */
static void test_queue_full(void)
{
	struct __kernel_timespec ts = kts_ms(300 * 1000);
	struct pollfd pfd = { .events = POLLOUT };
	struct sysmsg_msg *m, extra[3];
	struct sysmsg_reply r;
	struct sysmsg_info info;
	struct sysmsg_proc_stats st;
	unsigned int limit, inflight, total = 0, chunk = 1024, i;
	int fd, n, err = 0, limits;
	long long t0;

	fd = dev_open();
	if (!tap_ok(fd >= 0 && ioctl(fd, SYSMSG_IOC_GET_INFO, &info) == 0, "queue limit: open, GET_INFO"))
		return;
	limit = info.queue_limit;
	inflight = limit;
	limits = !!(info.features & SYSMSG_FEATURE_LIMITS);
	diag("queue_limit %u, %s", limit,
	     limits ? "SYSMSG_FEATURE_LIMITS: a refusal throttles" : "no SYSMSG_FEATURE_LIMITS");
	if (limit > 200000 || limit < 3) {
		tap_ok(1, "queue limit # SKIP queue_limit %u is out of range for this test", limit);
		close(fd);
		return;
	}
	m = calloc(chunk, sizeof(*m));
	if (!m)
		return;
	for (i = 0; i < chunk; i++)
		sysmsg_prep_nanosleep(&m[i], &ts, 0, 900000 + i);

	/* Up to two below the limit with long sleeps. */
	t0 = now_ns();
	while (total < limit - 2) {
		n = raw_submit(fd, m, chunk < limit - 2 - total ? chunk : limit - 2 - total, &err);
		if (n <= 0)
			break;
		total += n;
	}
	diag("submitted %u sleeps of 300 s in %lld ms", total, (now_ns() - t0) / NSEC_PER_MSEC);
	tap_ok(total == limit - 2, "%u sleeps accepted (queue_limit %u - 2)", total, limit);

	/* A batch of 3 NOPs: 2 fit, the third is refused with EAGAIN. */
	for (i = 0; i < 3; i++)
		sysmsg_prep_nop(&extra[i], 990 + i);
	n = raw_submit(fd, extra, 3, &err);
	tap_ok(n == 2 && err == EAGAIN, "3 NOPs at limit - 2: 2 accepted, then EAGAIN (%d, %d)", n, err);
	pfd.fd = fd;
	n = poll(&pfd, 1, 0);
	tap_ok(n == 0, "the queue is full: no POLLOUT (revents %#x)", pfd.revents);
	tap_ok(raw_submit(fd, &extra[2], 1, &err) == -EAGAIN, "SUBMIT of a NOP when full: EAGAIN");
	tap_errno(write(fd, &extra[2], sizeof(extra[2])), EAGAIN, "write() of a NOP when full: EAGAIN");
	tap_ok(raw_submit(fd, m, 1, &err) == -EAGAIN, "SUBMIT of a sleep when full: EAGAIN");

	if (limits) {
		/* Throttled: reaping a reply or two does not make room (hysteresis). */
		n = proc_stats_of(fd, 0, &st);
		tap_ok(n == 0 && (st.flags & SYSMSG_PROC_THROTTLED) && st.inflight == limit,
		       "the refusal throttled the process (flags %#x, inflight %llu) (%d)",
		       st.flags, (unsigned long long)st.inflight, n);
		n = raw_reap(fd, &r, 1, SYSMSG_REAP_NOWAIT);
		tap_ok(n == 1 && (r.tag == 990 || r.tag == 991), "reap one of the NOPs");
		pfd.revents = 0;
		n = poll(&pfd, 1, 0);
		tap_ok(n == 0, "after reaping one: still no POLLOUT, throttled down to limit / 2 (revents %#x)",
		       pfd.revents);
		tap_ok(raw_submit(fd, &extra[2], 1, &err) == -EAGAIN,
		       "after reaping one: a NOP is still refused with EAGAIN");
		n = raw_reap(fd, &r, 1, SYSMSG_REAP_NOWAIT);
		tap_ok(n == 1 && (r.tag == 990 || r.tag == 991) &&
			       raw_submit(fd, &extra[2], 1, &err) == -EAGAIN && !pollout_now(fd),
		       "after reaping both NOPs: still throttled");
		inflight = limit - 2;
	} else {
		/* Reaping one reply frees one slot. */
		n = raw_reap(fd, &r, 1, SYSMSG_REAP_NOWAIT);
		tap_ok(n == 1 && (r.tag == 990 || r.tag == 991), "reap one of the NOPs");
		pfd.revents = 0;
		n = poll(&pfd, 1, 0);
		tap_ok(n == 1 && (pfd.revents & POLLOUT), "after reaping one: POLLOUT again (revents %#x)",
		       pfd.revents);
		n = raw_submit(fd, &extra[2], 1, &err);
		tap_ok(n == 1, "after reaping one: one NOP is accepted");
		tap_ok(raw_submit(fd, &extra[2], 1, &err) == -EAGAIN, "and then the queue is full again");
	}

	/* Closing the file ends its messages: a new file can submit at once. */
	t0 = now_ns();
	close(fd);
	diag("close() with %u messages in flight: %lld ms", inflight, (now_ns() - t0) / NSEC_PER_MSEC);
	fd = dev_open();
	n = -1;
	for (i = 0; i < 100 && fd >= 0; i++) {
		n = raw_write(fd, &extra[0], 1);
		if (n == 1)
			break;
		sleep_ms(100);
	}
	tap_ok(n == 1, "after close() a new open can submit again (%u retries)", i);
	tap_ok(reap_n(fd, &r, 1, REPLY_TIMEOUT_MS) == 1 && r.tag == 990 && no_reply_for(fd, 0),
	       "and gets only its own reply");
	if (limits) {
		n = proc_stats_of(fd, 0, &st);
		tap_ok(n == 0 && !(st.flags & SYSMSG_PROC_THROTTLED) && st.inflight == 0 &&
			       pollout_now(fd),
		       "after close(): nothing in flight, not throttled, POLLOUT (flags %#x, inflight %llu)",
		       st.flags, (unsigned long long)st.inflight);
	}
	close(fd);
	free(m);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	devfd = dev_open();
	if (!tap_ok(devfd >= 0, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();

	test_batch_write();
	test_batch_submit();
	test_partial();
	test_lengths();
	test_nonblock();
	test_blocking_read();
	test_poll();
	test_reply_fault();
	test_threads();
	close(devfd);
	test_queue_full();
	return tap_done();
}
