// SPDX-License-Identifier: GPL-2.0
/*
 * SYSMSG_IOC_SUBMIT with SYSMSG_SUBMIT_REAP / SYSMSG_SUBMIT_REAP_WAIT: submit
 * and reap in one call (struct sysmsg_submit's replies, reap_max, reaped).
 *  - SYSMSG_FEATURE_SUBMIT_REAP is reported;
 *  - EINVAL, with nothing accepted and nothing stored: an unknown flag;
 *    replies or reap_max set without a REAP flag; reap_max 0 with REAP,
 *    REAP_WAIT or both (also with no message);
 *  - EFAULT, with nothing accepted (REAP NOWAIT then says EAGAIN, the
 *    process's in-flight and submitted counts are unchanged): replies NULL,
 *    unmapped, read-only; also with count 0;
 *  - one NOP there and back in one call; 32 NOPs reaped by the call that
 *    submits them, tags in order; reap_max smaller than the batch: the rest
 *    stays queued, in order;
 *  - 1000 NOPs (more than the 256 inline replies a file keeps) submitted
 *    without reaping, then reaped through SUBMIT with count 0: each tag
 *    exactly once, result 0, in-flight counts back where they were;
 *  - the reap part runs whatever the submit part refused: a batch with a bad
 *    message in the middle reaps the replies of the ones before it, and a
 *    call that accepts nothing (-1, EINVAL) still stores a reply that was
 *    ready;
 *  - REAP with nothing ready returns at once: accepted n, reaped 0;
 *    REAP_WAIT with a 50 ms sleep returns after >= 50 ms with its reply;
 *    REAP | REAP_WAIT waits like REAP_WAIT;
 *  - REAP_WAIT whose only message is refused, nothing in flight: -1/EINVAL
 *    at once (no wait: a SIGALRM watchdog fails it instead of hanging);
 *  - a signal (no SA_RESTART) during a REAP_WAIT with count 0 and a 10 s
 *    sleep in flight: the call returns 0 with reaped 0; the sleep is then
 *    cancelled and its -ECANCELED reply reaped;
 *  - a reply buffer of which only the first 2 of reap_max = 4 slots are
 *    mapped, 4 NOPs: reaped 2, the other 2 come out of a later REAP;
 *  - a child that submits 300 NOPs and exits without reaping: the global
 *    kernel.sysmsg.nr_inflight counts them while it lives and returns to
 *    its baseline after;
 *  - libsysmsg: sysmsg_submit_reap() hands out a reply the library holds in
 *    its backlog first, then the kernel's; its argument checks;
 *    sysmsg_submit_reap_fd() reports EFAULT.
 *
 * No sysctl is changed. No wait is unbounded.
 */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "testlib.h"

#define SETTLE_MS 10000
#define REAPED_UNSET 0xdeadbeefU

static int devfd;
static long page_size;

static const char *errname(int e)
{
	if (e < 0)
		e = -e;
	return e ? strerrorname_np(e) : "0";
}

/*
 * One SYSMSG_IOC_SUBMIT of @n messages with @flags, @r/@max as replies and
 * reap_max: the ioctl's result, or -errno. *@out is the structure as the
 * kernel left it (accepted, error, reaped preset to values it must
 * overwrite; reaped stays REAPED_UNSET if it did not write it back).
 */
static int submit_reap(int fd, const struct sysmsg_msg *m, unsigned int n, unsigned int flags,
		       void *r, unsigned int max, struct sysmsg_submit *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	out->msgs = (__u64)(uintptr_t)m;
	out->count = n;
	out->flags = flags;
	out->replies = (__u64)(uintptr_t)r;
	out->reap_max = max;
	out->accepted = 0xdeadbeef;
	out->error = -12345;
	out->reaped = REAPED_UNSET;
	errno = 0;
	ret = ioctl(fd, SYSMSG_IOC_SUBMIT, out);
	return ret < 0 ? -errno : ret;
}

/* This process's in-flight and submitted counts (PROC_STATS): 0, or -errno. */
static int own_counts(long long *inflight, long long *submitted)
{
	struct sysmsg_proc_stats st;
	int ret = proc_stats_of(devfd, 0, &st);

	*inflight = ret ? -1 : (long long)st.inflight;
	*submitted = ret ? -1 : (long long)st.submitted;
	return ret;
}

/* NOPs with tags @first, @first + 1, ... */
static void nops(struct sysmsg_msg *m, unsigned int n, __u64 first)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		sysmsg_prep_nop(&m[i], first + i);
}

/* @r[0..@n) are NOP replies with result 0 and tags @first, @first + 1, ... in that order. */
static int nop_replies_in_order(const struct sysmsg_reply *r, unsigned int n, __u64 first)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (r[i].tag != first + i || r[i].result || r[i].opcode != SYSMSG_OP_NOP ||
		    !reply_reserved_zero(&r[i]))
			return 0;
	return 1;
}

/* Cleans up after a failed check: nothing of this test may leak into the next. */
static void scrub(void)
{
	struct sysmsg_cancel c;

	sysmsg_cancel_fd(devfd, 0, SYSMSG_CANCEL_ALL, &c);
	sleep_ms(20);
	drain_replies(devfd);
}

static void test_einval(void)
{
	struct sysmsg_reply r[4];
	struct sysmsg_submit sub;
	struct sysmsg_msg m;
	long long in0, sub0, in1, sub1;
	static const struct {
		unsigned int flags, max;
		int replies, count;
		const char *what;
	} cases[] = {
		{ 1U << 30, 0, 0, 1, "an unknown flag (1 << 30)" },
		{ SYSMSG_SUBMIT_REAP | (1U << 31), 4, 1, 1, "REAP with an unknown flag (1 << 31)" },
		{ 0, 0, 1, 1, "replies set without a REAP flag" },
		{ 0, 4, 0, 1, "reap_max set without a REAP flag" },
		{ SYSMSG_SUBMIT_WAIT, 4, 1, 1, "SUBMIT_WAIT with replies and reap_max" },
		{ SYSMSG_SUBMIT_REAP, 0, 1, 1, "REAP with reap_max 0" },
		{ SYSMSG_SUBMIT_REAP_WAIT, 0, 1, 1, "REAP_WAIT with reap_max 0" },
		{ SYSMSG_SUBMIT_REAP | SYSMSG_SUBMIT_REAP_WAIT, 0, 1, 1, "REAP | REAP_WAIT with reap_max 0" },
		{ SYSMSG_SUBMIT_REAP, 0, 1, 0, "REAP with reap_max 0 and no message" },
		{ 1U << 30, 0, 0, 0, "an unknown flag (1 << 30) and no message" },
	};
	unsigned int i;
	int ret, ok;

	own_counts(&in0, &sub0);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		sysmsg_prep_nop(&m, 0x100 + i);
		memset(r, 0xa5, sizeof(r));
		ret = submit_reap(devfd, &m, cases[i].count, cases[i].flags,
				  cases[i].replies ? r : NULL, cases[i].max, &sub);
		ok = ret == -EINVAL && r[0].tag == 0xa5a5a5a5a5a5a5a5ULL;
		tap_ok(ok, "EINVAL: %s (%s)", cases[i].what, errname(ret < 0 ? ret : 0));
		if (!ok)
			scrub();
	}
	own_counts(&in1, &sub1);
	tap_ok(no_reply_for(devfd, 0) && in1 == in0 && sub1 == sub0,
	       "EINVAL: nothing was accepted (no reply, in flight %lld -> %lld, submitted %lld -> %lld)",
	       in0, in1, sub0, sub1);
}

static void test_efault(void)
{
	void *unmapped = unmapped_page();
	void *ro = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sysmsg_reply junk[2];
	struct sysmsg_submit sub;
	struct sysmsg_msg m[2];
	long long in0, sub0, in1, sub1;
	static const struct {
		int where; /* 0 NULL, 1 unmapped, 2 read-only */
		unsigned int flags, count;
		const char *what;
	} cases[] = {
		{ 0, SYSMSG_SUBMIT_REAP, 2, "replies NULL, REAP" },
		{ 0, SYSMSG_SUBMIT_REAP_WAIT, 2, "replies NULL, REAP_WAIT" },
		{ 1, SYSMSG_SUBMIT_REAP, 2, "replies unmapped, REAP" },
		{ 1, SYSMSG_SUBMIT_REAP_WAIT, 2, "replies unmapped, REAP_WAIT" },
		{ 2, SYSMSG_SUBMIT_REAP, 2, "replies read-only, REAP" },
		{ 0, SYSMSG_SUBMIT_REAP, 0, "replies NULL, REAP, no message" },
		{ 1, SYSMSG_SUBMIT_REAP_WAIT, 0, "replies unmapped, REAP_WAIT, no message" },
	};
	unsigned int i;
	int ret, ok, ready;

	if (!tap_ok(unmapped && ro != MAP_FAILED, "EFAULT: an unmapped and a read-only page"))
		return;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		void *where = cases[i].where == 0 ? NULL : cases[i].where == 1 ? unmapped : ro;

		nops(m, 2, 0x200 + 2 * i);
		own_counts(&in0, &sub0);
		watchdog_arm(5); /* a REAP_WAIT that wrongly waits ends here */
		ret = submit_reap(devfd, m, cases[i].count, cases[i].flags, where, 4, &sub);
		watchdog_disarm();
		own_counts(&in1, &sub1);
		ready = raw_reap(devfd, junk, 2, SYSMSG_REAP_NOWAIT);
		ok = ret == -EFAULT && ready == -EAGAIN && in1 == in0 && sub1 == sub0;
		tap_ok(ok,
		       "EFAULT: %s, %u NOPs: %s; then REAP NOWAIT %s, in flight %lld -> %lld, submitted %lld -> %lld",
		       cases[i].what, cases[i].count, errname(ret < 0 ? ret : 0),
		       errname(ready < 0 ? ready : 0), in0, in1, sub0, sub1);
		if (!ok)
			scrub();
	}
	munmap(ro, page_size);
}

static void test_round_trip(void)
{
	struct sysmsg_reply r[4];
	struct sysmsg_submit sub;
	struct sysmsg_msg m;
	long long in0, sub0, in1, sub1;
	int ret;

	own_counts(&in0, &sub0);
	sysmsg_prep_nop(&m, 0x300);
	memset(r, 0, sizeof(r));
	ret = submit_reap(devfd, &m, 1, SYSMSG_SUBMIT_REAP, r, ARRAY_SIZE(r), &sub);
	tap_ok(ret == 1 && sub.accepted == 1 && sub.error == 0 && sub.reaped == 1,
	       "round trip: one NOP, one call: returns 1, accepted 1, error 0, reaped 1 (%d %s, %u, %d, %u)",
	       ret, errname(ret < 0 ? ret : 0), sub.accepted, sub.error, sub.reaped);
	tap_ok(nop_replies_in_order(r, 1, 0x300),
	       "round trip: the reply: tag %#llx, result %lld, opcode %u, reserved fields zero",
	       (unsigned long long)r[0].tag, (long long)r[0].result, r[0].opcode);
	own_counts(&in1, &sub1);
	tap_ok(no_reply_for(devfd, 0) && in1 == in0 && sub1 == sub0 + 1,
	       "round trip: nothing left; in flight %lld -> %lld, submitted %lld -> %lld", in0, in1,
	       sub0, sub1);
}

static void test_batch(void)
{
	struct sysmsg_msg m[32];
	struct sysmsg_reply r[32];
	struct sysmsg_submit sub;
	int ret, n;

	nops(m, 32, 0x400);
	memset(r, 0, sizeof(r));
	ret = submit_reap(devfd, m, 32, SYSMSG_SUBMIT_REAP, r, 32, &sub);
	tap_ok(ret == 32 && sub.reaped == 32 && nop_replies_in_order(r, 32, 0x400),
	       "batch: 32 NOPs, reap_max 32: accepted %d, reaped %u, tags in order, result 0", ret,
	       sub.reaped);
	tap_ok(no_reply_for(devfd, 0), "batch: nothing left");

	/* reap_max smaller than the batch: the rest stays queued, in order. */
	nops(m, 32, 0x440);
	memset(r, 0, sizeof(r));
	ret = submit_reap(devfd, m, 32, SYSMSG_SUBMIT_REAP_WAIT, r, 8, &sub);
	tap_ok(ret == 32 && sub.reaped == 8 && nop_replies_in_order(r, 8, 0x440),
	       "batch: 32 NOPs, reap_max 8: accepted %d, reaped %u, the first 8 tags", ret, sub.reaped);
	memset(r, 0, sizeof(r));
	n = raw_reap(devfd, r, 32, SYSMSG_REAP_NOWAIT);
	tap_ok(n == 24 && nop_replies_in_order(r, 24, 0x448) && no_reply_for(devfd, 0),
	       "batch: a REAP then gets the other 24, in order, and nothing more (%d)", n);
	if (n != 24)
		scrub();
}

/*
 * Replies come in completion order: NOPs already waiting to be reaped come
 * before the NOPs of a later submit+reap call, whose replies would otherwise
 * be stored straight into its reply array.
 */
static void test_older_first(void)
{
	struct sysmsg_msg m[4];
	struct sysmsg_reply r[8];
	struct sysmsg_submit sub;
	int ret, n;

	nops(m, 3, 0x500);
	ret = raw_submit(devfd, m, 3, NULL);
	nops(m, 4, 0x503);
	memset(r, 0, sizeof(r));
	n = submit_reap(devfd, m, 4, SYSMSG_SUBMIT_REAP, r, 8, &sub);
	tap_ok(ret == 3 && n == 4 && sub.reaped == 7 && nop_replies_in_order(r, 7, 0x500),
	       "older first: 3 NOPs waiting, then submit+reap of 4: reaped %u, tags 0x500.. in order",
	       sub.reaped);
	/* Only part of a batch fits: the rest follows the stored ones, in order. */
	nops(m, 4, 0x510);
	memset(r, 0, sizeof(r));
	n = submit_reap(devfd, m, 4, SYSMSG_SUBMIT_REAP, r, 1, &sub);
	ret = raw_reap(devfd, r + 1, 7, SYSMSG_REAP_NOWAIT);
	tap_ok(n == 4 && sub.reaped == 1 && ret == 3 && nop_replies_in_order(r, 4, 0x510) &&
		       no_reply_for(devfd, 0),
	       "older first: reap_max 1 of 4: reaped %u, then a REAP gets %d more, all in order",
	       sub.reaped, ret);
	if (ret != 3)
		scrub();
}

#define MANY 1000
#define MANY_TAG 0x10000

static void test_many(void)
{
	static struct sysmsg_msg m[MANY];
	static unsigned char seen[MANY];
	struct sysmsg_reply r[64];
	struct sysmsg_submit sub;
	long long in0, sub0, in1, sub1, deadline;
	unsigned int i, got = 0, dup = 0, bad = 0, calls = 0;
	int ret, ok = 1;

	own_counts(&in0, &sub0);
	nops(m, MANY, MANY_TAG);
	ret = raw_submit(devfd, m, MANY, NULL);
	own_counts(&in1, &sub1);
	tap_ok(ret == MANY && in1 == in0 + MANY,
	       "1000 NOPs submitted without reaping (%d accepted); in flight %lld -> %lld", ret, in0,
	       in1);
	memset(seen, 0, sizeof(seen));
	deadline = now_ns() + REPLY_TIMEOUT_MS * NSEC_PER_MSEC;
	while (got < MANY && now_ns() < deadline && calls < 10 * MANY) {
		calls++;
		ret = submit_reap(devfd, NULL, 0, SYSMSG_SUBMIT_REAP, r, ARRAY_SIZE(r), &sub);
		if (ret != 0 || sub.reaped > ARRAY_SIZE(r)) {
			diag("SUBMIT with count 0, REAP: %d (%s), reaped %u", ret,
			     errname(ret < 0 ? ret : 0), sub.reaped);
			ok = 0;
			break;
		}
		if (!sub.reaped)
			break; /* REAP never waits: nothing is ready */
		for (i = 0; i < sub.reaped; i++) {
			__u64 k = r[i].tag - MANY_TAG;

			if (k >= MANY || r[i].result || r[i].opcode != SYSMSG_OP_NOP ||
			    !reply_reserved_zero(&r[i]))
				bad++;
			else if (seen[k]++)
				dup++;
			got++;
		}
	}
	for (i = 0; i < MANY; i++)
		if (seen[i] != 1)
			ok = 0;
	tap_ok(ok && got == MANY && !dup && !bad,
	       "1000 NOPs reaped through SUBMIT with count 0 (%u calls): %u replies, each tag exactly once, result 0 (%u duplicates, %u bad)",
	       calls, got, dup, bad);
	own_counts(&in1, &sub1);
	tap_ok(no_reply_for(devfd, 0) && in1 == in0 && sub1 == sub0 + MANY,
	       "1000 NOPs: nothing more; in flight back to %lld (%lld), submitted +%lld", in0, in1,
	       sub1 - sub0);
	if (!ok)
		scrub();
}

static void test_reap_after_refusal(void)
{
	struct sysmsg_msg m[4];
	struct sysmsg_reply r[8];
	struct sysmsg_submit sub;
	int ret;

	/* NOP, NOP, a bad opcode, NOP: two accepted, their replies reaped by the same call. */
	nops(m, 4, 0x500);
	m[2].opcode = SYSMSG_OP_COUNT;
	memset(r, 0, sizeof(r));
	ret = submit_reap(devfd, m, 4, SYSMSG_SUBMIT_REAP_WAIT, r, ARRAY_SIZE(r), &sub);
	tap_ok(ret == 2 && sub.accepted == 2 && sub.error == EINVAL && sub.reaped == 2 &&
		       nop_replies_in_order(r, 2, 0x500),
	       "refusal: NOP, NOP, bad, NOP with REAP_WAIT: accepted 2, error %s, reaped %u (tags %#llx %#llx)",
	       errname(sub.error), sub.reaped, (unsigned long long)r[0].tag,
	       (unsigned long long)r[1].tag);
	tap_ok(no_reply_for(devfd, 0), "refusal: nothing more");

	/* A reply ready, then a call that accepts nothing: it fails, and still reaps. */
	sysmsg_prep_nop(&m[0], 0x510);
	tap_ok(raw_submit(devfd, m, 1, NULL) == 1, "refusal: a NOP submitted, its reply not reaped");
	sysmsg_prep_nop(&m[1], 0x511);
	m[1].opcode = SYSMSG_OP_COUNT;
	memset(r, 0, sizeof(r));
	ret = submit_reap(devfd, &m[1], 1, SYSMSG_SUBMIT_REAP, r, ARRAY_SIZE(r), &sub);
	tap_ok(ret == -EINVAL && sub.accepted == 0 && sub.error == EINVAL && sub.reaped == 1 &&
		       nop_replies_in_order(r, 1, 0x510),
	       "refusal: a call that accepts nothing fails with EINVAL (%s) yet stores the ready reply (reaped %u, tag %#llx)",
	       errname(ret < 0 ? ret : 0), sub.reaped, (unsigned long long)r[0].tag);
	if (!tap_ok(no_reply_for(devfd, 0), "refusal: nothing more"))
		scrub();
}

static void test_nothing_ready(void)
{
	struct __kernel_timespec ts = kts_ms(200);
	struct sysmsg_msg m[3];
	struct sysmsg_reply r[4];
	struct sysmsg_submit sub;
	long long t0, dt;
	unsigned int i;
	int ret, n, ok;

	for (i = 0; i < 3; i++)
		sysmsg_prep_nanosleep(&m[i], &ts, 0, 0x600 + i);
	t0 = now_ns();
	ret = submit_reap(devfd, m, 3, SYSMSG_SUBMIT_REAP, r, ARRAY_SIZE(r), &sub);
	dt = now_ns() - t0;
	tap_ok(ret == 3 && sub.reaped == 0 && dt < 150 * NSEC_PER_MSEC,
	       "no wait: 3 sleeps of 200 ms with REAP: accepted %d, reaped %u, returned after %lld ms",
	       ret, sub.reaped, dt / NSEC_PER_MSEC);
	n = reap_n(devfd, r, 3, REPLY_TIMEOUT_MS);
	ok = n == 3;
	for (i = 0; ok && i < 3; i++)
		ok = find_tag(r, n, 0x600 + i) >= 0 && r[i].result == 0 &&
		     r[i].opcode == SYSMSG_OP_NANOSLEEP && reply_reserved_zero(&r[i]);
	tap_ok(ok, "no wait: the 3 replies come later, result 0 (%d)", n);
	tap_ok(no_reply_for(devfd, 0), "no wait: nothing more");
}

/* A 50 ms sleep with @flags (REAP_WAIT, or both REAP flags): its reply in the same call. */
static void wait_for_sleep(unsigned int flags, const char *what)
{
	struct __kernel_timespec ts = kts_ms(50);
	struct sysmsg_reply r[4];
	struct sysmsg_submit sub;
	struct sysmsg_msg m;
	long long t0, dt;
	int ret;

	sysmsg_prep_nanosleep(&m, &ts, 0, 0x700 + flags);
	memset(r, 0, sizeof(r));
	watchdog_arm(10);
	t0 = now_ns();
	ret = submit_reap(devfd, &m, 1, flags, r, ARRAY_SIZE(r), &sub);
	dt = now_ns() - t0;
	watchdog_disarm();
	tap_ok(ret == 1 && sub.reaped == 1 && r[0].tag == 0x700 + flags && r[0].result == 0 &&
		       r[0].opcode == SYSMSG_OP_NANOSLEEP && dt >= 50 * NSEC_PER_MSEC &&
		       !watchdog_fired,
	       "%s with a 50 ms sleep: accepted %d, reaped %u, result %lld, after %lld.%03lld ms",
	       what, ret, sub.reaped, (long long)r[0].result, dt / NSEC_PER_MSEC,
	       (dt % NSEC_PER_MSEC) / 1000);
	if (!tap_ok(no_reply_for(devfd, 0), "%s: nothing more", what))
		scrub();
}

static void test_refused_does_not_wait(void)
{
	int fd = dev_open();
	struct sysmsg_reply r[4];
	struct sysmsg_submit sub;
	struct sysmsg_msg m;
	long long t0, dt;
	int ret;

	if (!tap_ok(fd >= 0, "refused REAP_WAIT: a second file, with nothing in flight"))
		return;
	sysmsg_prep_nop(&m, 0x800);
	m.opcode = SYSMSG_OP_COUNT;
	watchdog_arm(5);
	t0 = now_ns();
	ret = submit_reap(fd, &m, 1, SYSMSG_SUBMIT_REAP_WAIT, r, ARRAY_SIZE(r), &sub);
	dt = now_ns() - t0;
	watchdog_disarm();
	tap_ok(ret == -EINVAL && !watchdog_fired && dt < 2 * NSEC_PER_SEC &&
		       (sub.reaped == 0 || sub.reaped == REAPED_UNSET),
	       "refused REAP_WAIT: its only message refused, nothing in flight: %s after %lld ms, no wait (watchdog %s)",
	       errname(ret < 0 ? ret : 0), dt / NSEC_PER_MSEC, watchdog_fired ? "fired" : "quiet");
	close(fd);
}

static void test_signal(void)
{
	struct __kernel_timespec ts = kts_ms(10000);
	struct sysmsg_reply r[4];
	struct sysmsg_submit sub;
	struct sysmsg_cancel c;
	struct sysmsg_msg m;
	long long t0, dt;
	int ret, n;

	sysmsg_prep_nanosleep(&m, &ts, 0, 0x900);
	if (!tap_ok(raw_submit(devfd, &m, 1, NULL) == 1, "signal: a 10 s sleep in flight"))
		return;
	memset(r, 0, sizeof(r));
	watchdog_arm(1); /* SIGALRM without SA_RESTART */
	t0 = now_ns();
	ret = submit_reap(devfd, NULL, 0, SYSMSG_SUBMIT_REAP_WAIT, r, ARRAY_SIZE(r), &sub);
	dt = now_ns() - t0;
	watchdog_disarm();
	tap_ok(ret == 0 && sub.reaped == 0 && watchdog_fired && dt >= 900 * NSEC_PER_MSEC &&
		       dt < 9 * NSEC_PER_SEC,
	       "signal: REAP_WAIT with count 0 waits until SIGALRM, then returns 0, not EINTR (%d %s, reaped %u, after %lld ms)",
	       ret, errname(ret < 0 ? ret : 0), sub.reaped, dt / NSEC_PER_MSEC);
	ret = sysmsg_cancel_fd(devfd, 0x900, 0, &c);
	tap_ok(ret == 1 && c.cancelled == 1, "signal: the sleep is still in flight and cancelled (%d %s)",
	       ret, ret < 0 ? strerrorname_np(errno) : "");
	n = reap_n(devfd, r, 1, 5000);
	tap_ok(n == 1 && r[0].tag == 0x900 && r[0].result == -ECANCELED &&
		       r[0].opcode == SYSMSG_OP_NANOSLEEP,
	       "signal: its reply, -ECANCELED (%d: tag %#llx, result %lld)", n,
	       (unsigned long long)r[0].tag, (long long)r[0].result);
	if (!tap_ok(no_reply_for(devfd, 0), "signal: nothing more"))
		scrub();
}

static void test_partial_fault(void)
{
	struct sysmsg_reply later[8], *edge;
	struct sysmsg_submit sub;
	struct sysmsg_msg m[4];
	int seen[4] = { 0 }, ret, n, i, ok = 1;
	char *pages;

	pages = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!tap_ok(pages != MAP_FAILED && !munmap(pages + page_size, page_size),
		    "partial fault: two pages, the second unmapped"))
		return;
	edge = (struct sysmsg_reply *)(pages + page_size - 2 * sizeof(*edge));
	memset(edge, 0, 2 * sizeof(*edge));
	nops(m, 4, 0xa00);
	ret = submit_reap(devfd, m, 4, SYSMSG_SUBMIT_REAP, edge, 4, &sub);
	tap_ok(ret == 4 && sub.reaped == 2 && nop_replies_in_order(edge, 2, 0xa00),
	       "partial fault: 4 NOPs, reap_max 4, room for 2: accepted %d (%s), reaped %u, the first 2 tags",
	       ret, errname(ret < 0 ? ret : 0), sub.reaped);
	n = raw_reap(devfd, later, ARRAY_SIZE(later), SYSMSG_REAP_NOWAIT);
	for (i = 0; i < n; i++) {
		if (later[i].tag >= 0xa02 && later[i].tag < 0xa04 && !later[i].result &&
		    later[i].opcode == SYSMSG_OP_NOP)
			seen[later[i].tag - 0xa00]++;
		else
			ok = 0;
	}
	tap_ok(n == 2 && ok && seen[2] == 1 && seen[3] == 1,
	       "partial fault: the other 2 come out of a later REAP, once each (%d)", n);
	if (!tap_ok(no_reply_for(devfd, 0), "partial fault: nothing more"))
		scrub();
	munmap(pages, page_size);
}

#define CHILD_NOPS 300

/* Waits up to SETTLE_MS for nr_inflight to be @base: the ms it took, or -1. */
static long long settle_to(long long base)
{
	long long t0 = now_ns(), v;

	for (;;) {
		v = nr_inflight();
		if (v == base)
			return (now_ns() - t0) / NSEC_PER_MSEC;
		if (now_ns() - t0 > SETTLE_MS * NSEC_PER_MSEC) {
			diag("nr_inflight %lld, not %lld, after %d ms", v, base, SETTLE_MS);
			return -1;
		}
		sleep_ms(1);
	}
}

static void test_child_exit(void)
{
	int to_child[2], to_parent[2], status = -1, ok_child;
	long long base, during = -1, ms;
	pid_t pid;

	base = nr_inflight();
	if (!tap_ok(base >= 0 && !pipe2(to_child, O_CLOEXEC) && !pipe2(to_parent, O_CLOEXEC),
		    "child exit: kernel.sysmsg.nr_inflight is %lld; pipes", base))
		return;
	pid = fork();
	if (pid == 0) {
		static struct sysmsg_msg m[CHILD_NOPS];
		int fd = dev_open(), n;

		nops(m, CHILD_NOPS, 0xb000);
		n = fd >= 0 ? raw_submit(fd, m, CHILD_NOPS, NULL) : -1;
		rcheck(n == CHILD_NOPS, "the child submitted %d NOPs with one SUBMIT (%d)", CHILD_NOPS, n);
		chan_send(to_parent[1]);
		chan_wait(to_child[0]);
		_exit(0); /* without reaping */
	}
	if (!tap_ok(pid > 0, "child exit: fork"))
		return;
	if (chan_wait(to_parent[0]))
		during = nr_inflight();
	chan_send(to_child[1]);
	ok_child = waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status);
	report_remote("child exit");
	tap_ok(ok_child, "child exit: the child exited normally (status %#x)", status);
	tap_ok(during == base + CHILD_NOPS,
	       "child exit: while it lived, nr_inflight counted its %d unreaped NOPs (%lld, baseline %lld)",
	       CHILD_NOPS, during, base);
	ms = settle_to(base);
	tap_ok(ms >= 0, "child exit: nr_inflight back to its baseline %lld after it exited (%lld ms)",
	       base, ms);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

static void test_lib(void)
{
	struct sysmsg_reply r[4];
	struct sysmsg_msg m[2];
	struct sysmsg s;
	unsigned int nr = 77, k = 77;
	int ret, err = -1;

	ret = sysmsg_submit_reap_fd(devfd, NULL, 0, SYSMSG_SUBMIT_REAP, NULL, 4, &err, &k);
	tap_ok(ret == -EFAULT && err == EFAULT && k == 0,
	       "lib: sysmsg_submit_reap_fd() with replies NULL: -EFAULT, err EFAULT, reaped 0 (%s, %d, %u)",
	       errname(ret < 0 ? ret : 0), err, k);
	nops(m, 1, 0xc00);
	ret = sysmsg_submit_reap_fd(devfd, m, 1, SYSMSG_SUBMIT_REAP_WAIT, r, 4, &err, &k);
	tap_ok(ret == 1 && err == 0 && k == 1 && nop_replies_in_order(r, 1, 0xc00),
	       "lib: sysmsg_submit_reap_fd(): a NOP there and back (%d, %d, %u)", ret, err, k);

	ret = sysmsg_open(&s, 0, 0);
	if (!tap_ok(ret == 0, "lib: sysmsg_open (%s)", errname(ret)))
		return;
	ret = sysmsg_submit_reap(&s, m, 1, r, 4, 0, &err, &nr);
	tap_ok(ret == -EINVAL && nr == 0, "lib: sysmsg_submit_reap() without a REAP flag: -EINVAL");
	ret = sysmsg_submit_reap(&s, m, 1, r, 4, SYSMSG_SUBMIT_REAP | SYSMSG_SUBMIT_WAIT, &err, &nr);
	tap_ok(ret == -EINVAL, "lib: sysmsg_submit_reap() with SYSMSG_SUBMIT_WAIT: -EINVAL");
	ret = sysmsg_submit_reap(&s, m, 1, r, 0, SYSMSG_SUBMIT_REAP, &err, &nr);
	tap_ok(ret == -EINVAL, "lib: sysmsg_submit_reap() with max 0: -EINVAL");

	/* A reply in the library's backlog: a NOP reaped on behalf of sysmsg_nop_sync(). */
	nops(m, 2, 0xc10);
	ret = sysmsg_submit_msgs(&s, m, 1, NULL);
	tap_ok(ret == 1 && sysmsg_nop_sync(&s) == 0 && sysmsg_backlog_count(&s) == 1,
	       "lib: a NOP, then sysmsg_nop_sync(): its reply waits in the backlog (%u)",
	       sysmsg_backlog_count(&s));
	memset(r, 0, sizeof(r));
	ret = sysmsg_submit_reap(&s, &m[1], 1, r, 4, SYSMSG_SUBMIT_REAP_WAIT, &err, &nr);
	tap_ok(ret == 1 && err == 0 && nr == 2 && nop_replies_in_order(r, 2, 0xc10) &&
		       sysmsg_backlog_count(&s) == 0,
	       "lib: sysmsg_submit_reap() of a NOP: accepted %d, 2 replies: the backlog's first, then the kernel's (%u: %#llx %#llx)",
	       ret, nr, (unsigned long long)r[0].tag, (unsigned long long)r[1].tag);
	ret = sysmsg_submit_reap(&s, NULL, 0, r, 4, SYSMSG_SUBMIT_REAP, &err, &nr);
	tap_ok(ret == 0 && nr == 0, "lib: sysmsg_submit_reap() with no message and nothing ready: 0, none (%d, %u)",
	       ret, nr);
	tap_ok(s.submitted == 3 && s.reaped == 3,
	       "lib: the struct counted 3 submitted and 3 reaped (%llu, %llu)", s.submitted, s.reaped);
	sysmsg_close(&s);
}

int main(void)
{
	struct sysmsg_info info;

	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	remote_init();
	devfd = dev_open();
	if (!tap_ok(devfd >= 0 && remote != MAP_FAILED, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	if (!tap_ok(ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0 &&
			    (info.features & SYSMSG_FEATURE_SUBMIT_REAP),
		    "info.features has SYSMSG_FEATURE_SUBMIT_REAP (%#llx)",
		    (unsigned long long)info.features))
		return tap_done();
	if (info.queue_limit < MANY + 64)
		diag("queue limit %u: the 1000-NOP case will be refused", info.queue_limit);

	test_einval();
	test_efault();
	test_round_trip();
	test_batch();
	test_older_first();
	test_many();
	test_reap_after_refusal();
	test_nothing_ready();
	wait_for_sleep(SYSMSG_SUBMIT_REAP_WAIT, "REAP_WAIT");
	wait_for_sleep(SYSMSG_SUBMIT_REAP | SYSMSG_SUBMIT_REAP_WAIT, "REAP | REAP_WAIT");
	test_refused_does_not_wait();
	test_signal();
	test_partial_fault();
	test_child_exit();
	test_lib();

	tap_ok(no_reply_for(devfd, 100), "no stray reply is left");
	close(devfd);
	return tap_done();
}
