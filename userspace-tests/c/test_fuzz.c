// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer of the whole ABI, from several threads at once.
 *
 * Worker threads share two /dev/sysmsg files (most calls go to the first)
 * and each loops over random calls:
 *  - batches of 0..64 random messages through write(2) and
 *    SYSMSG_IOC_SUBMIT (SYSMSG_SUBMIT_WAIT only for batches of <= 4 while
 *    few messages are in flight; a third of them with SYSMSG_SUBMIT_REAP,
 *    SYSMSG_SUBMIT_REAP_WAIT or both, a random reap_max and a reply buffer
 *    like a reap's, sometimes with no message at all; now and then an
 *    unknown flag, or replies/reap_max set without a REAP flag): opcodes
 *    0..10 and 255, flags and reserved fields sometimes non-zero, fields an
 *    opcode does not use sometimes set;
 *    fds from a pool (both ends of pipes, a socket pair, an eventfd,
 *    /dev/null, a regular file in /tmp, /tmp itself, the sysmsg files, a
 *    closed number, -1, huge); addresses from a pool (the thread's own 1 MiB
 *    scratch mapping at random offsets, misaligned ones, NULL, a PROT_NONE
 *    guard page, a kernel address, a range running into the guard); lengths
 *    0, small, > 1 MiB, huge; offsets in the file, negative, huge;
 *    timespecs valid (mostly 0-5 ms, a few 10 s, absolute ones), invalid or
 *    unreadable; message arrays that end at a guard page (a partial batch),
 *    write lengths that are not a multiple of 64;
 *  - reaps by read(2) (any length, also < 32 and not a multiple of 32, any
 *    buffer) and SYSMSG_IOC_REAP (random max, flags, reserved; NOWAIT mostly);
 *  - poll(); SYSMSG_IOC_CANCEL of recent tags, of foreign tags, of
 *    everything, with random flags; GET_INFO, PROC_STATS, GET_LIMITS and
 *    SET_LIMITS with random contents (SET_LIMITS only in ways that change
 *    nothing when kernel.sysmsg.per_process_limits is 1; no sysctl is
 *    changed); unknown ioctl numbers of sysmsg's type; argument structures
 *    at bad or misaligned addresses; O_NONBLOCK toggled on the files;
 *    data pumped through the pipes and sockets so that waiting messages
 *    complete.
 * The main thread interrupts a random worker with SIGUSR1 (no SA_RESTART)
 * every 20 ms, so blocking reaps and waiting submits end, and keeps the
 * regular file at 1 MiB. READ buffers lie only in the scratch mapping's
 * upper half (nothing else is ever written by the kernel but the structures
 * and reply buffers of the calls themselves), each region is followed by a
 * guard page.
 *
 * Checked: every failing call's errno is one README.md documents for that
 * call (and the exact one where the ABI leaves no choice: ENOTTY for an
 * unknown ioctl, EINVAL for a write length that is not a multiple of 64 and
 * for the SUBMIT flag and reap_max rules, EFAULT for a SUBMIT with a REAP
 * flag whose first reply slot cannot be written, ENOENT for cancelling a
 * tag never submitted, ESPIPE for lseek); return values agree with the ABI
 * (byte counts, accepted/error/count/reaped written back, no reply stored
 * beyond what a reap or a SUBMIT with a REAP flag reports, also when that
 * SUBMIT failed in its submit part: its reap part still ran, and the
 * replies it reports are counted like any reap's); every accepted message
 * gets exactly one reply, with its opcode
 * (tags are unique: (thread + 1) << 48 | counter, recorded before the
 * submit in a table the reapers share); no reply for a tag never accepted;
 * the replies with -ECANCELED are exactly as many as SYSMSG_IOC_CANCEL said
 * it stopped. At the end the workers stop, the main thread cancels
 * everything (SYSMSG_CANCEL_ALL on both files), reaps until every accepted
 * message has its reply (at most 30 s), closes the files and waits for
 * kernel.sysmsg.nr_inflight to be back at its baseline.
 *
 *   test_fuzz [--long] [--seconds N] [--threads N] [--seed S]
 *
 * Quick mode (default): 4 threads for 10 s. Long mode (--long, or
 * SYSMSG_STRESS=1 in the environment): 4 threads for 120 s. The seed
 * (fixed by default) is printed; the threads' interleaving is not
 * reproducible, each thread's sequence of choices is. The last diagnostic
 * line, read by scripts/stress.sh, is
 *   # fuzz: seed=S seconds=N calls=C accepted=A replies=R errno_violations=V duplicate_replies=D missing_replies=M ...
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "testlib.h"

#define QUICK_SECONDS 10
#define LONG_SECONDS 120
#define DEFAULT_THREADS 4
#define MAX_THREADS 64
#define DEFAULT_SEED 20250102ULL

#define PAGE 4096UL
#define SCRATCH (1UL << 20)	   /* per thread: input zone, then read zone */
#define INPUT_ZONE (SCRATCH / 2)   /* timespecs and data of writes */
#define READ_ZONE (SCRATCH / 2)	   /* buffers of READ/PREAD (written at reap) */
#define MSGS_AREA (2 * PAGE)	   /* message arrays, placed to end at its guard */
#define ARGS_AREA PAGE		   /* ioctl argument structures */
#define REPLY_AREA (64 * 1024UL)   /* reply buffers of reaps */
#define STATS_AREA (6 * PAGE)	   /* >= 256 struct sysmsg_proc_stats */
#define KERNEL_ADDR 0xffffffff81000000ULL
#define FILE_SIZE (1L << 20)

#define TAG_BITS 48
#define TAG_CAP (1UL << 22)	   /* messages per thread */
#define FOREIGN_TAG 0xee00000000000000ULL /* never one of ours */
#define DATA_BUDGET (96LL << 20)   /* kernel data buffers of messages in flight, about */

#define STOP_TIMEOUT_MS 30000
#define FINAL_REAP_TIMEOUT_MS 30000
#define INFLIGHT_TIMEOUT_MS 10000

/* One message's record. */
enum { ST_NONE, ST_PREPARED, ST_ACCEPTED, ST_REFUSED };
struct tagent {
	_Atomic unsigned char state;
	unsigned char op;
	_Atomic unsigned short replies;
	unsigned int bytes; /* the kernel data it may hold (READ..PWRITE), for DATA_BUDGET */
};

struct fz {
	int idx;
	pthread_t th;
	int joined;
	uint64_t rng;
	unsigned char *scratch, *msgs, *args, *replies, *stats;
	__u64 ctr;
	long calls;
	int exhausted;
};

static struct fz fzs[MAX_THREADS];
static struct tagent *tags[MAX_THREADS];
static _Atomic __u64 next_ctr[MAX_THREADS];
static int nthreads = DEFAULT_THREADS;
static atomic_int stop;

static int devA = -1, devB = -1, regfd = -1;
static int pipes[3][2], socks[2], evfd = -1, devnull = -1, dirfd_ = -1, closedfd = -1;
static int pool[40], npool;
static long long per_process_limits;

static atomic_llong accepted_total, replies_total, unique_replies, duplicate_replies,
	unknown_replies, opcode_mismatches, ecanceled_replies, cancelled_total, data_inflight,
	errno_violations, abi_violations, submit_reap_calls, submit_reaped;

/* The first violations, for diag lines. */
#define MAX_NOTES 16
static pthread_mutex_t notes_lock = PTHREAD_MUTEX_INITIALIZER;
static char notes[MAX_NOTES][200];
static int nnotes;

__attribute__((format(printf, 2, 3)))
static void note(atomic_llong *counter, const char *fmt, ...)
{
	va_list ap;

	atomic_fetch_add(counter, 1);
	pthread_mutex_lock(&notes_lock);
	if (nnotes < MAX_NOTES) {
		va_start(ap, fmt);
		vsnprintf(notes[nnotes], sizeof(notes[0]), fmt, ap);
		va_end(ap);
		nnotes++;
	}
	pthread_mutex_unlock(&notes_lock);
}

/* ---- randomness: xorshift64* per thread, seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t r64(struct fz *t)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static unsigned long rnd(struct fz *t, unsigned long n)
{
	return (unsigned long)((r64(t) >> 8) % n);
}

/* True with probability @pct percent. */
static int chance(struct fz *t, unsigned int pct)
{
	return rnd(t, 100) < pct;
}

/* ---- errno sets (README.md, "Errors", "Reaping", "Limits", the header) ---- */

#define E_END 0
static const int E_SUBMIT[] = { EINVAL, EBADF, ESPIPE, EFAULT, EAGAIN, ENOMEM, E_END };
static const int E_SUBMIT_WAIT[] = { EINVAL, EBADF, ESPIPE, EFAULT, EAGAIN, ENOMEM, EINTR, E_END };
static const int E_READ[] = { EINVAL, EFAULT, EAGAIN, EINTR, E_END };
static const int E_REAP_NOWAIT[] = { EINVAL, EFAULT, EAGAIN, E_END };
static const int E_REAP_WAIT[] = { EINVAL, EFAULT, EINTR, E_END };
static const int E_INFO[] = { EFAULT, E_END };
static const int E_STATS[] = { EINVAL, EFAULT, E_END };
static const int E_LIMITS[] = { EINVAL, EPERM, ESRCH, EFAULT, E_END };
static const int E_CANCEL[] = { EINVAL, EFAULT, ENOENT, EALREADY, E_END };
static const int E_POLL[] = { EINTR, E_END };

static int errno_in(int e, const int *set)
{
	for (; *set != E_END; set++)
		if (*set == e)
			return 1;
	return 0;
}

static const char *ename(int e)
{
	const char *n = e > 0 ? strerrorname_np(e) : NULL;

	return n ? n : "?";
}

/* Records a violation unless @e is in @set. */
#define CHECK_ERRNO(e, set, ...)                                                         \
	do {                                                                             \
		int e_ = (e);                                                            \
		if (!errno_in(e_, set)) {                                                \
			char what_[120];                                                 \
			snprintf(what_, sizeof(what_), __VA_ARGS__);                     \
			note(&errno_violations, "%s failed with %s (%d), not a documented errno", \
			     what_, ename(e_), e_);                                      \
		}                                                                        \
	} while (0)

/* ---- the tag table ---- */

static __u64 mk_tag(int idx, __u64 c)
{
	return ((__u64)(idx + 1) << TAG_BITS) | c;
}

/* The record of @tag, or NULL if it was never handed out. */
static struct tagent *tag_entry(__u64 tag)
{
	__u64 hi = tag >> TAG_BITS, c = tag & ((1ULL << TAG_BITS) - 1);

	if (hi == 0 || hi > (__u64)nthreads)
		return NULL;
	if (c >= atomic_load_explicit(&next_ctr[hi - 1], memory_order_acquire))
		return NULL;
	return &tags[hi - 1][c];
}

/* One reply, from whichever thread reaped it. */
static void note_reply(const struct sysmsg_reply *r)
{
	struct tagent *e = tag_entry(r->tag);
	unsigned char st;

	atomic_fetch_add(&replies_total, 1);
	st = e ? atomic_load_explicit(&e->state, memory_order_acquire) : ST_NONE;
	if (st == ST_NONE || st == ST_REFUSED) {
		note(&unknown_replies, "a reply for tag %#llx, never accepted (opcode %u, result %lld)",
		     (unsigned long long)r->tag, r->opcode, (long long)r->result);
		return;
	}
	if (atomic_fetch_add(&e->replies, 1)) {
		note(&duplicate_replies, "a second reply for tag %#llx (opcode %u, result %lld)",
		     (unsigned long long)r->tag, r->opcode, (long long)r->result);
		return;
	}
	atomic_fetch_add(&unique_replies, 1);
	if (r->opcode != e->op)
		note(&opcode_mismatches, "the reply for tag %#llx has opcode %u, the message had %u",
		     (unsigned long long)r->tag, r->opcode, e->op);
	if (!reply_reserved_zero(r))
		note(&abi_violations, "the reply for tag %#llx has non-zero reserved fields",
		     (unsigned long long)r->tag);
	if (r->result == -ECANCELED)
		atomic_fetch_add(&ecanceled_replies, 1);
	atomic_fetch_sub(&data_inflight, e->bytes);
}

/* Replies at @p (any alignment). */
static void note_replies(const unsigned char *p, int n)
{
	struct sysmsg_reply r;
	int i;

	for (i = 0; i < n; i++) {
		memcpy(&r, p + i * sizeof(r), sizeof(r));
		note_reply(&r);
	}
}

static long long outstanding(void)
{
	return atomic_load(&accepted_total) - atomic_load(&unique_replies);
}

/* ---- memory ---- */

/* @size bytes (a multiple of the page size) followed by a PROT_NONE page. */
static unsigned char *guarded(size_t size)
{
	unsigned char *p = mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + size, PAGE, PROT_NONE)) {
		munmap(p, size + PAGE);
		return NULL;
	}
	return p;
}

/*
 * An address that faults (or is not a user address): NULL, kernel, the
 * guard page after @end, or 1..@size - 1 bytes before it (an object of
 * @size bytes there runs into the guard page).
 */
static __u64 bad_ptr_at(struct fz *t, unsigned char *end, size_t size)
{
	switch (rnd(t, 4)) {
	case 0:
		return 0;
	case 1:
		return KERNEL_ADDR + rnd(t, 4096);
	case 2:
		return (uintptr_t)(end + rnd(t, PAGE));
	default:
		return (uintptr_t)(end - 1 - rnd(t, size > 1 ? size - 1 : 1));
	}
}

/* A bad address for an object of @size bytes near the scratch mapping. */
static __u64 bad_ptr(struct fz *t, size_t size)
{
	return bad_ptr_at(t, t->scratch + SCRATCH, size);
}

/* The buffer of a READ/PREAD: the read zone, or a bad address. */
static __u64 read_ptr(struct fz *t)
{
	unsigned long off = INPUT_ZONE + rnd(t, READ_ZONE);

	if (chance(t, 8))
		return bad_ptr(t, 64);
	if (chance(t, 85))
		off &= ~7UL;
	return (uintptr_t)(t->scratch + off);
}

/* The data of a WRITE/PWRITE: the input zone, or a bad address. */
static __u64 write_ptr(struct fz *t)
{
	unsigned long off = rnd(t, INPUT_ZONE);

	if (chance(t, 8))
		return bad_ptr(t, 64);
	if (chance(t, 85))
		off &= ~7UL;
	return (uintptr_t)(t->scratch + off);
}

/* A sleep's timespec, written to the input zone: valid, invalid or unreadable. */
static __u64 ts_ptr(struct fz *t, __u32 *op_flags)
{
	struct __kernel_timespec ts = { 0, 0 };
	unsigned long r = rnd(t, 100), off;
	long long ns;

	*op_flags = 0;
	if (r < 75) {
		ts.tv_nsec = rnd(t, 5 * NSEC_PER_MSEC + 1);
	} else if (r < 78) {
		ts.tv_sec = 10;
	} else if (r < 85) {
		*op_flags = SYSMSG_SLEEP_ABSTIME;
		ns = chance(t, 50) ? now_ns() + (long long)rnd(t, 5 * NSEC_PER_MSEC) :
				     (long long)rnd(t, NSEC_PER_SEC);
		ts.tv_sec = ns / NSEC_PER_SEC;
		ts.tv_nsec = ns % NSEC_PER_SEC;
	} else if (r < 95) {
		switch (rnd(t, 5)) {
		case 0:
			ts.tv_nsec = NSEC_PER_SEC;
			break;
		case 1:
			ts.tv_nsec = -1;
			break;
		case 2:
			ts.tv_sec = -1;
			break;
		case 3:
			ts.tv_nsec = (long long)r64(t);
			ts.tv_sec = (long long)(r64(t) | (1ULL << 63)); /* negative */
			break;
		default:
			*op_flags = 1U << rnd(t, 32); /* unknown flag, or ABSTIME with a short time */
			ts.tv_nsec = rnd(t, NSEC_PER_MSEC);
			break;
		}
	} else {
		return bad_ptr(t, sizeof(ts));
	}
	off = rnd(t, INPUT_ZONE - sizeof(ts));
	if (chance(t, 90))
		off &= ~7UL;
	memcpy(t->scratch + off, &ts, sizeof(ts));
	return (uintptr_t)(t->scratch + off);
}

/* A length: 0, small, medium, up to 1 MiB, beyond, huge. */
static __u64 rand_len(struct fz *t)
{
	unsigned long r = rnd(t, 100);

	if (r < 8)
		return 0;
	if (r < 43)
		return 1 + rnd(t, 64);
	if (r < 83)
		return 65 + rnd(t, 4096 - 64);
	if (r < 91)
		return 4097 + rnd(t, 65536 - 4096);
	if (r < 95)
		return 65537 + rnd(t, SYSMSG_MAX_IO_LEN - 65536);
	if (r < 98)
		return SYSMSG_MAX_IO_LEN + 1 + rnd(t, 15UL << 20);
	switch (rnd(t, 4)) {
	case 0:
		return ~0ULL;
	case 1:
		return SSIZE_MAX;
	case 2:
		return (__u64)SSIZE_MAX + 1;
	default:
		return r64(t);
	}
}

/* A file offset: in the file mostly; beyond; negative; huge. */
static __s64 rand_off(struct fz *t)
{
	unsigned long r = rnd(t, 100);

	if (r < 80)
		return rnd(t, FILE_SIZE);
	if (r < 86)
		return FILE_SIZE + rnd(t, 15L << 20);
	if (r < 92)
		return -1 - (__s64)rnd(t, 1L << 40);
	if (r < 93)
		return 1LL << 62;
	if (r < 97)
		return LLONG_MAX - (__s64)rnd(t, 8192);
	return (__s64)r64(t);
}

/* The kernel data a message may hold while in flight (for DATA_BUDGET). */
static unsigned int data_bytes(const struct sysmsg_msg *m)
{
	if (m->opcode < SYSMSG_OP_READ || m->opcode > SYSMSG_OP_PWRITE)
		return 0;
	return m->len > SYSMSG_MAX_IO_LEN ? SYSMSG_MAX_IO_LEN : (unsigned int)m->len;
}

/* One random message (its tag is set by prepare()). */
static void gen_msg(struct fz *t, struct sysmsg_msg *m)
{
	unsigned long r = rnd(t, 100);
	__u8 op;

	memset(m, 0, sizeof(*m));
	if (r < 6)
		op = SYSMSG_OP_NOP;
	else if (r < 22)
		op = SYSMSG_OP_NANOSLEEP;
	else if (r < 40)
		op = SYSMSG_OP_READ;
	else if (r < 56)
		op = SYSMSG_OP_WRITE;
	else if (r < 67)
		op = SYSMSG_OP_PREAD;
	else if (r < 78)
		op = SYSMSG_OP_PWRITE;
	else if (r < 84)
		op = SYSMSG_OP_FSYNC;
	else if (r < 90)
		op = SYSMSG_OP_FDATASYNC;
	else if (r < 98)
		op = SYSMSG_OP_COUNT + rnd(t, 3); /* 8..10 */
	else
		op = (__u8)r64(t);
	m->opcode = op;

	switch (op) {
	case SYSMSG_OP_NOP:
		break;
	case SYSMSG_OP_NANOSLEEP:
		m->addr = ts_ptr(t, &m->op_flags);
		break;
	case SYSMSG_OP_READ:
	case SYSMSG_OP_PREAD:
		m->fd = pool[rnd(t, npool)];
		m->addr = read_ptr(t);
		m->len = rand_len(t);
		if (op == SYSMSG_OP_PREAD)
			m->offset = rand_off(t);
		break;
	case SYSMSG_OP_WRITE:
	case SYSMSG_OP_PWRITE:
		m->fd = pool[rnd(t, npool)];
		m->addr = write_ptr(t);
		m->len = rand_len(t);
		if (op == SYSMSG_OP_PWRITE)
			m->offset = rand_off(t);
		break;
	case SYSMSG_OP_FSYNC:
	case SYSMSG_OP_FDATASYNC:
		m->fd = pool[rnd(t, npool)];
		break;
	default: /* an unknown opcode: anything */
		m->fd = pool[rnd(t, npool)];
		m->addr = chance(t, 50) ? write_ptr(t) : r64(t);
		m->len = rand_len(t);
		break;
	}
	/* Now and then a field the opcode does not use, flags, reserved. */
	if (chance(t, 3)) {
		switch (rnd(t, 5)) {
		case 0:
			m->fd = pool[rnd(t, npool)];
			break;
		case 1:
			m->addr = write_ptr(t);
			break;
		case 2:
			m->len = 1 + rnd(t, 100);
			break;
		case 3:
			m->offset = rand_off(t);
			break;
		default:
			m->op_flags = (__u32)r64(t);
			break;
		}
	}
	if (chance(t, 2))
		m->flags = (__u8)(1 + rnd(t, 255));
	if (chance(t, 2)) {
		switch (rnd(t, 4)) {
		case 0:
			m->reserved0 = (__u8)(1 + rnd(t, 255));
			break;
		case 1:
			m->reserved1 = (__u32)(1 + rnd(t, UINT_MAX));
			break;
		default:
			m->reserved[rnd(t, 2)] = r64(t) | 1;
			break;
		}
	}
	/* Keep the kernel's data buffers of messages in flight bounded. */
	if (data_bytes(m) > 4096 &&
	    atomic_load(&data_inflight) + data_bytes(m) > DATA_BUDGET)
		m->len = rnd(t, 4097);
}

/*
 * Gives @n messages their tags and records them as prepared (before the
 * submit: a reply may come before the submitting call returns). Returns 0
 * if this thread has used up its tags.
 */
static int prepare(struct fz *t, struct sysmsg_msg *m, int n)
{
	int i;

	if (t->ctr + n > TAG_CAP) {
		if (!t->exhausted)
			t->exhausted = 1;
		return 0;
	}
	for (i = 0; i < n; i++) {
		struct tagent *e = &tags[t->idx][t->ctr];

		e->op = m[i].opcode;
		e->bytes = data_bytes(&m[i]);
		atomic_store_explicit(&e->state, ST_PREPARED, memory_order_release);
		m[i].tag = mk_tag(t->idx, t->ctr);
		t->ctr++;
	}
	atomic_store_explicit(&next_ctr[t->idx], t->ctr, memory_order_release);
	return 1;
}

/* After the submit: the first @accepted of @m were accepted, the rest not. */
static void settle(struct fz *t, const struct sysmsg_msg *m, int n, int accepted)
{
	long long bytes = 0;
	int i;

	for (i = 0; i < n; i++) {
		struct tagent *e = &tags[t->idx][m[i].tag & ((1ULL << TAG_BITS) - 1)];

		if (i < accepted)
			bytes += e->bytes;
		atomic_store_explicit(&e->state, i < accepted ? ST_ACCEPTED : ST_REFUSED,
				      memory_order_release);
	}
	atomic_fetch_add(&data_inflight, bytes);
	atomic_fetch_add(&accepted_total, accepted);
}

static int pick_dev(struct fz *t)
{
	return chance(t, 85) ? devA : devB;
}

/*
 * The message array of a submit: @n prepared messages copied to the end of
 * the msgs area (so that message n, if asked for, runs into the guard page),
 * sometimes 1..63 bytes short of it (a misaligned array), sometimes a bad
 * address instead. *@good tells whether the messages are there.
 */
static __u64 place_msgs(struct fz *t, const struct sysmsg_msg *m, int n, int *good)
{
	unsigned long mis = chance(t, 85) ? 0 : 1 + rnd(t, 63);
	unsigned char *p = t->msgs + MSGS_AREA - n * sizeof(*m) - mis;

	*good = 1;
	if (chance(t, 3)) {
		/* Less than one message before the guard page: nothing there is a message. */
		*good = 0;
		return bad_ptr_at(t, t->msgs + MSGS_AREA, sizeof(*m));
	}
	memcpy(p, m, n * sizeof(*m));
	return (uintptr_t)p;
}

/* An ioctl argument of @size bytes: in the args area (maybe misaligned), or bad. */
static unsigned char *arg_ptr(struct fz *t, size_t size, int *good)
{
	unsigned long r = rnd(t, 100), off;

	*good = 0;
	if (r < 88) {
		off = rnd(t, ARGS_AREA - size + 1);
		if (chance(t, 90))
			off &= ~7UL;
		*good = 1;
		return t->args + off;
	}
	if (r < 91)
		return NULL;
	if (r < 94)
		return (unsigned char *)(uintptr_t)KERNEL_ADDR;
	if (r < 97)
		return t->args + ARGS_AREA; /* the guard page */
	return t->args + ARGS_AREA - 1 - rnd(t, size - 1); /* runs into the guard */
}

/* ---- the calls ---- */

static void do_submit_write(struct fz *t)
{
	struct sysmsg_msg m[64];
	int n = chance(t, 2) ? 0 : 1 + rnd(t, 64), good, i, accepted = 0, e;
	size_t len;
	ssize_t ret;
	__u64 p;

	for (i = 0; i < n; i++)
		gen_msg(t, &m[i]);
	if (!prepare(t, m, n))
		return;
	p = place_msgs(t, m, n, &good);
	len = n * sizeof(m[0]);
	if (chance(t, 5))
		len += 1 + rnd(t, 63);
	else if (chance(t, 5))
		len += (1 + rnd(t, 4)) * sizeof(m[0]); /* into the guard page */
	errno = 0;
	ret = write(pick_dev(t), (void *)(uintptr_t)p, len);
	e = errno;
	if (ret >= 0) {
		accepted = ret / sizeof(m[0]);
		if (ret % sizeof(m[0]) || (size_t)ret > len || accepted > n || (!len && ret))
			note(&abi_violations, "write(2) of %zu bytes returned %zd", len, ret);
		if (!good && ret > 0)
			note(&abi_violations, "write(2) from a bad address accepted %zd bytes", ret);
		if (len % sizeof(m[0]))
			note(&errno_violations, "write(2) of %zu bytes (not a multiple of 64) returned %zd, not EINVAL",
			     len, ret);
		if (accepted > n)
			accepted = n;
	} else {
		CHECK_ERRNO(e, E_SUBMIT, "write(2) of %zu bytes", len);
		if (!len && good)
			note(&abi_violations, "write(2) of 0 bytes failed with %s, not 0", ename(e));
		if (len % sizeof(m[0]) && e != EINVAL && e != EFAULT)
			note(&errno_violations, "write(2) of %zu bytes (not a multiple of 64) failed with %s, not EINVAL",
			     len, ename(e));
	}
	settle(t, m, n, accepted);
	if (ret < 0 && e == EAGAIN && chance(t, 20)) {
		struct sysmsg_cancel c = { .flags = SYSMSG_CANCEL_ALL };
		int r = ioctl(devA, SYSMSG_IOC_CANCEL, &c);

		if (r > 0)
			atomic_fetch_add(&cancelled_total, r);
	}
}

/*
 * A reply buffer: in the reply area (its end runs into the guard page), or
 * bad. *@avail is how many bytes of it are writable memory (0 if bad).
 */
static unsigned char *reply_buf(struct fz *t, size_t want, size_t *avail)
{
	unsigned long r = rnd(t, 100), off;

	*avail = 0;
	if (r < 85) {
		if (chance(t, 10))
			/* At the end: the last replies would go to the guard page. */
			off = REPLY_AREA - (1 + rnd(t, 4)) * sizeof(struct sysmsg_reply);
		else
			off = rnd(t, REPLY_AREA - (want < REPLY_AREA ? want : 0) + 1) & ~31UL;
		if (chance(t, 10))
			off = off ? off - 1 - rnd(t, off < 31 ? off : 31) : off; /* misaligned */
		*avail = REPLY_AREA - off;
		return t->replies + off;
	}
	if (r < 90)
		return NULL;
	if (r < 95)
		return (unsigned char *)(uintptr_t)KERNEL_ADDR;
	return t->replies + REPLY_AREA;
}

/*
 * After a reap into @buf (@avail bytes writable, @n replies reported): any
 * reply stored beyond them (or by a failed call, @n = 0) would be lost to
 * the caller. Notes them as violations and counts them, so that they are not
 * reported missing as well.
 */
static void check_beyond(const char *call, unsigned char *buf, size_t avail, size_t limit, int n)
{
	static const unsigned char ff[sizeof(struct sysmsg_reply)] = {
		[0 ... sizeof(struct sysmsg_reply) - 1] = 0xff
	};
	size_t off = n * sizeof(struct sysmsg_reply);
	int extra = 0;

	if (limit < avail)
		avail = limit;
	while (off + sizeof(struct sysmsg_reply) <= avail && memcmp(buf + off, ff, sizeof(ff))) {
		note_replies(buf + off, 1);
		off += sizeof(struct sysmsg_reply);
		extra++;
	}
	if (extra)
		note(&abi_violations, "%s stored %d replies beyond the %d it reported", call, extra, n);
}

/* The valid SYSMSG_IOC_SUBMIT flags. */
#define SUBMIT_FLAGS (SYSMSG_SUBMIT_WAIT | SYSMSG_SUBMIT_REAP | SYSMSG_SUBMIT_REAP_WAIT)
#define SUBMIT_REAP_FLAGS (SYSMSG_SUBMIT_REAP | SYSMSG_SUBMIT_REAP_WAIT)
#define REAPED_UNWRITTEN 0xdeadbeefU
static const unsigned char zero_reply[sizeof(struct sysmsg_reply)];

/*
 * SYSMSG_IOC_SUBMIT, a third of the time with SYSMSG_SUBMIT_REAP(_WAIT):
 * then the call also stores up to reap_max replies (reaped), which count
 * like the replies of any reap. The rules checked: unknown flags, replies or
 * reap_max set without a REAP flag, reap_max 0 with one: EINVAL; an
 * unwritable first element of replies: EFAULT with nothing accepted (count 0
 * included); the reap part runs whatever the submit part refused, so
 * reaped is honoured (and written back) also when the call fails, and
 * never claims more than reap_max or than the buffer holds. The first
 * slot of replies may hold the probe's zeros when nothing was reaped.
 */
static void do_submit_ioctl(struct fz *t)
{
	struct sysmsg_msg m[64];
	struct sysmsg_submit sub, out;
	unsigned char *sp, *buf = NULL;
	int reap = chance(t, 33);
	int n = chance(t, reap ? 10 : 2) ? 0 : 1 + rnd(t, 64), good_msgs, good_sp, i, ret, e;
	int accepted = 0, wait = 0, plain, reaped = 0, rw, ru;
	size_t avail = 0, fill = 0;
	unsigned long r;
	const int *set;

	for (i = 0; i < n; i++)
		gen_msg(t, &m[i]);
	if (!prepare(t, m, n))
		return;
	memset(&sub, 0, sizeof(sub));
	sub.msgs = place_msgs(t, m, n, &good_msgs);
	sub.count = n;
	if (chance(t, 5))
		sub.count = n + 1 + rnd(t, 4);
	else if (chance(t, 2))
		sub.count = UINT_MAX - rnd(t, 2);
	if (n <= 4 && sub.count == (unsigned int)n && outstanding() < 1000 && chance(t, 30)) {
		sub.flags = SYSMSG_SUBMIT_WAIT;
		wait = 1;
	}
	if (reap) {
		r = rnd(t, 100);
		/* REAP_WAIT blocks until a reply or a signal (SIGUSR1 comes every 20 ms). */
		sub.flags |= r < 60 ? SYSMSG_SUBMIT_REAP : r < 90 ? SYSMSG_SUBMIT_REAP_WAIT : SUBMIT_REAP_FLAGS;
		r = rnd(t, 100);
		if (r < 3)
			sub.reap_max = 0;
		else if (r < 80)
			sub.reap_max = 1 + rnd(t, 64);
		else if (r < 95)
			sub.reap_max = 65 + rnd(t, REPLY_AREA / sizeof(struct sysmsg_reply));
		else
			sub.reap_max = UINT_MAX - rnd(t, 2);
		fill = (size_t)sub.reap_max * sizeof(struct sysmsg_reply);
		buf = reply_buf(t, fill, &avail);
		sub.replies = (uintptr_t)buf;
		if (avail)
			memset(buf, 0xff, fill < avail ? fill : avail);
		sub.reaped = REAPED_UNWRITTEN; /* an out field: any value on the way in */
	}
	/*
	 * Now and then something invalid: an unknown flag, reap fields without
	 * a REAP flag.
	 */
	if (chance(t, 3))
		sub.flags |= 1U << (4 + rnd(t, 28));
	if (!reap && chance(t, 3)) {
		if (chance(t, 50))
			sub.replies = chance(t, 50) ? (uintptr_t)t->replies : r64(t) | 1;
		else
			sub.reap_max = 1 + rnd(t, 64);
	}
	plain = !(sub.flags & ~SUBMIT_FLAGS) &&
		(reap ? sub.reap_max >= 1 : !sub.replies && !sub.reap_max);
	/* The first element of replies is writable (rw), or none of it is (ru). */
	rw = reap && avail >= sizeof(struct sysmsg_reply);
	ru = reap && !avail;
	sub.accepted = 0xdeadbeef;
	sub.error = -12345;
	sp = arg_ptr(t, sizeof(sub), &good_sp);
	if (good_sp)
		memcpy(sp, &sub, sizeof(sub));
	if (reap)
		atomic_fetch_add(&submit_reap_calls, 1);
	errno = 0;
	ret = ioctl(pick_dev(t), SYSMSG_IOC_SUBMIT, sp);
	e = errno;
	if (good_sp)
		memcpy(&out, sp, sizeof(out));
	set = wait ? E_SUBMIT_WAIT : E_SUBMIT;
	if (ret >= 0) {
		accepted = ret;
		if ((unsigned int)ret > sub.count || ret > n || (good_sp && out.accepted != (unsigned int)ret))
			note(&abi_violations, "SUBMIT of %u (%d there) returned %d, accepted %u", sub.count, n,
			     ret, good_sp ? out.accepted : 0);
		if (good_sp && (unsigned int)ret < sub.count && !errno_in(out.error, set))
			note(&errno_violations, "SUBMIT: %d of %u accepted, error %d (%s): not a documented errno",
			     ret, sub.count, out.error, ename(out.error));
		if (good_sp && (unsigned int)ret == sub.count && out.error)
			note(&abi_violations, "SUBMIT: all %u accepted but error = %d", sub.count, out.error);
		if (!good_msgs && ret > 0)
			note(&abi_violations, "SUBMIT from a bad message array accepted %d", ret);
		if (good_sp && !plain)
			note(&abi_violations, "SUBMIT with flags %#x, replies %#llx, reap_max %u returned %d, not EINVAL",
			     sub.flags, (unsigned long long)sub.replies, sub.reap_max, ret);
		if (good_sp && plain && ru)
			note(&abi_violations, "SUBMIT with flags %#x and an unwritable replies array %#llx returned %d, not EFAULT",
			     sub.flags, (unsigned long long)sub.replies, ret);
		if (good_sp && plain && rw && out.reaped == REAPED_UNWRITTEN)
			note(&abi_violations, "SUBMIT with flags %#x returned %d but did not write back reaped",
			     sub.flags, ret);
		if (accepted > n)
			accepted = n;
	} else {
		CHECK_ERRNO(e, set, "SUBMIT of %u (flags %#x)", sub.count, sub.flags);
		if (good_sp && !plain && e != EINVAL)
			note(&errno_violations, "SUBMIT with flags %#x, replies %#llx, reap_max %u failed with %s, not EINVAL",
			     sub.flags, (unsigned long long)sub.replies, sub.reap_max, ename(e));
		if (good_sp && plain && ru && e != EFAULT)
			note(&errno_violations, "SUBMIT with flags %#x and an unwritable replies array %#llx failed with %s, not EFAULT",
			     sub.flags, (unsigned long long)sub.replies, ename(e));
		/*
		 * Written back also on failure, once the arguments were accepted
		 * (not after the replies probe: its EFAULT comes before anything).
		 */
		if (good_sp && plain && e != ENOMEM && (!reap || rw) &&
		    (out.accepted != 0 || out.error != e || (reap && out.reaped == REAPED_UNWRITTEN)))
			note(&abi_violations, "SUBMIT (flags %#x) failed with %s but wrote back accepted %u, error %d, reaped %u",
			     sub.flags, ename(e), out.accepted, out.error, reap ? out.reaped : 0);
	}
	settle(t, m, n, accepted);
	if (reap && avail) {
		/*
		 * The replies the reap part stored: with a valid argument they
		 * are the caller's, whether the call returned >= 0 or failed in
		 * its submit part; a failure before the reap part (EINVAL,
		 * EFAULT of the probe) must have stored none.
		 */
		if (good_sp && out.reaped != REAPED_UNWRITTEN) {
			if (out.reaped > sub.reap_max ||
			    (size_t)out.reaped * sizeof(struct sysmsg_reply) > avail)
				note(&abi_violations, "SUBMIT+REAP of max %u (%zu bytes writable) reported reaped %u",
				     sub.reap_max, avail, out.reaped);
			else if (!plain && out.reaped)
				note(&abi_violations, "SUBMIT with flags %#x, reap_max %u (%s) reported reaped %u",
				     sub.flags, sub.reap_max, ret < 0 ? ename(e) : "not refused", out.reaped);
			else
				reaped = out.reaped;
		}
		note_replies(buf, reaped);
		atomic_fetch_add(&submit_reaped, reaped);
		/*
		 * Replies stored beyond reaped (all, if it is not believable)
		 * are found here. The first slot is probe-written before
		 * anything is submitted: with nothing reaped, a zeroed first
		 * slot is that probe, not a reply (tag 0 is never one of ours).
		 */
		if (plain && rw && !reaped && !memcmp(buf, zero_reply, sizeof(zero_reply)))
			check_beyond("SUBMIT+REAP", buf + sizeof(zero_reply), avail - sizeof(zero_reply),
				     fill - sizeof(zero_reply), 0);
		else
			check_beyond("SUBMIT+REAP", buf, avail, fill, reaped);
	}
	if (ret < 0 && e == EAGAIN && chance(t, 20)) {
		struct sysmsg_cancel c = { .flags = SYSMSG_CANCEL_ALL };
		int r2 = ioctl(devA, SYSMSG_IOC_CANCEL, &c);

		if (r2 > 0)
			atomic_fetch_add(&cancelled_total, r2);
	}
}

static void do_reap_read(struct fz *t)
{
	unsigned long r = rnd(t, 100);
	size_t len, avail;
	unsigned char *buf;
	ssize_t ret;
	int e, fd = pick_dev(t);

	if (r < 3)
		len = 0;
	else if (r < 8)
		len = 1 + rnd(t, 31);
	else if (r < 78)
		len = (1 + rnd(t, 64)) * sizeof(struct sysmsg_reply);
	else if (r < 90)
		len = (1 + rnd(t, 64)) * sizeof(struct sysmsg_reply) + 1 + rnd(t, 31);
	else
		len = 1 + rnd(t, REPLY_AREA + PAGE);
	buf = reply_buf(t, len, &avail);
	if (avail)
		memset(buf, 0xff, len < avail ? len : avail);
	errno = 0;
	ret = read(fd, buf, len);
	e = errno;
	if (ret >= 0) {
		if (ret % sizeof(struct sysmsg_reply) || (size_t)ret > len || ret == 0 ||
		    (size_t)ret > avail)
			note(&abi_violations, "read(2) of %zu bytes returned %zd", len, ret);
		if ((size_t)ret <= avail)
			note_replies(buf, ret / sizeof(struct sysmsg_reply));
	} else {
		CHECK_ERRNO(e, E_READ, "read(2) of %zu bytes", len);
		if (len < sizeof(struct sysmsg_reply) && e != EINVAL && e != EFAULT)
			note(&errno_violations, "read(2) of %zu bytes failed with %s, not EINVAL", len,
			     ename(e));
	}
	if (avail)
		check_beyond("read(2)", buf, avail, len, ret > 0 ? ret / sizeof(struct sysmsg_reply) : 0);
}

static void do_reap_ioctl(struct fz *t)
{
	struct sysmsg_reap rp, out;
	unsigned long r = rnd(t, 100);
	unsigned char *sp, *buf;
	size_t avail, fill;
	int good_sp, ret, e, plain = 1;

	memset(&rp, 0, sizeof(rp));
	if (r < 3)
		rp.max = 0;
	else if (r < 75)
		rp.max = 1 + rnd(t, 64);
	else if (r < 95)
		rp.max = 65 + rnd(t, REPLY_AREA / sizeof(struct sysmsg_reply));
	else
		rp.max = UINT_MAX - rnd(t, 2);
	r = rnd(t, 100);
	if (r < 80) {
		rp.flags = SYSMSG_REAP_NOWAIT;
	} else if (r < 95) {
		rp.flags = 0;
	} else {
		rp.flags = (__u32)r64(t) | 2;
		plain = 0;
	}
	if (chance(t, 3)) {
		if (chance(t, 50))
			rp.reserved0 = 1 + rnd(t, 1000);
		else
			rp.reserved[rnd(t, 2)] = r64(t) | 1;
		plain = 0;
	}
	fill = (size_t)rp.max * sizeof(struct sysmsg_reply);
	buf = reply_buf(t, fill, &avail);
	rp.replies = (uintptr_t)buf;
	rp.count = 0xdeadbeef;
	if (avail)
		memset(buf, 0xff, fill < avail ? fill : avail);
	sp = arg_ptr(t, sizeof(rp), &good_sp);
	if (good_sp)
		memcpy(sp, &rp, sizeof(rp));
	errno = 0;
	ret = ioctl(pick_dev(t), SYSMSG_IOC_REAP, sp);
	e = errno;
	if (good_sp)
		memcpy(&out, sp, sizeof(out));
	if (ret >= 0) {
		if (good_sp && (!plain || !rp.max))
			note(&abi_violations, "REAP with max %u, flags %#x, reserved %#x/%#llx/%#llx returned %d, not EINVAL",
			     rp.max, rp.flags, rp.reserved0, (unsigned long long)rp.reserved[0],
			     (unsigned long long)rp.reserved[1], ret);
		if (ret == 0 || (unsigned int)ret > rp.max || (good_sp && out.count != (unsigned int)ret) ||
		    (size_t)ret * sizeof(struct sysmsg_reply) > avail)
			note(&abi_violations, "REAP of max %u returned %d, count %u", rp.max, ret,
			     good_sp ? out.count : 0);
		if ((size_t)ret * sizeof(struct sysmsg_reply) <= avail)
			note_replies(buf, ret);
	} else if (plain) {
		CHECK_ERRNO(e, rp.flags & SYSMSG_REAP_NOWAIT ? E_REAP_NOWAIT : E_REAP_WAIT,
			    "REAP (max %u, flags %#x)", rp.max, rp.flags);
	} else {
		CHECK_ERRNO(e, E_READ, "REAP (max %u, flags %#x)", rp.max, rp.flags);
	}
	if (ret < 0 && good_sp && (!plain || !rp.max) && e != EINVAL)
		note(&errno_violations, "REAP with max %u, flags %#x or reserved set failed with %s, not EINVAL",
		     rp.max, rp.flags, ename(e));
	if (avail)
		check_beyond("REAP", buf, avail, fill, ret > 0 ? ret : 0);
}

static void do_poll(struct fz *t)
{
	static const short evs[] = { POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, POLLPRI };
	const short ok = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
	struct pollfd pfd[2];
	unsigned int i, n = 1 + rnd(t, 2);
	int ret, e;

	for (i = 0; i < n; i++) {
		unsigned int k;

		pfd[i].fd = i ? devB : pick_dev(t);
		pfd[i].events = 0;
		for (k = 0; k < ARRAY_SIZE(evs); k++)
			if (chance(t, 50))
				pfd[i].events |= evs[k];
		pfd[i].revents = 0;
	}
	errno = 0;
	ret = poll(pfd, n, rnd(t, 11));
	e = errno;
	if (ret < 0) {
		CHECK_ERRNO(e, E_POLL, "poll");
		return;
	}
	for (i = 0; i < n; i++)
		if (pfd[i].revents & ~ok)
			note(&abi_violations, "poll reported revents %#x", pfd[i].revents);
}

static void do_cancel(struct fz *t)
{
	struct sysmsg_cancel c, out;
	unsigned long r = rnd(t, 100);
	unsigned char *sp;
	/* plain: the call is valid as far as flags and reserved go; exact: its errno is known. */
	int good_sp, ret, e, plain = 1, exact = 1, foreign = 0, all = 0;

	memset(&c, 0, sizeof(c));
	if (r < 60 && t->ctr) {
		/* A recent tag of this or another thread: in flight, done, or refused. */
		unsigned long back = 1 + rnd(t, t->ctr < 256 ? t->ctr : 256);
		int who = chance(t, 70) ? t->idx : (int)rnd(t, nthreads);
		__u64 top = atomic_load(&next_ctr[who]);

		c.tag = mk_tag(who, top > back ? top - back : 0);
	} else if (r < 85) {
		c.tag = FOREIGN_TAG | (r64(t) >> 8);
		foreign = 1;
	} else if (r < 88) {
		c.flags = SYSMSG_CANCEL_ALL;
		all = 1;
	} else if (r < 92) {
		c.flags = SYSMSG_CANCEL_ALL; /* with a tag: EINVAL */
		c.tag = 1 + rnd(t, 1000);
		plain = 0;
	} else {
		c.tag = r64(t);
		c.flags = (__u32)r64(t) | 2;
		plain = 0;
	}
	if (chance(t, 3)) {
		if (chance(t, 30)) {
			/* Out fields on the way in: the header does not say; only the errno set is checked. */
			c.cancelled = 1 + rnd(t, 100);
			c.already = rnd(t, 2);
			exact = 0;
		} else {
			c.reserved[rnd(t, 3)] = 1 + rnd(t, UINT_MAX);
			plain = 0;
		}
	}
	sp = arg_ptr(t, sizeof(c), &good_sp);
	if (good_sp)
		memcpy(sp, &c, sizeof(c));
	errno = 0;
	ret = ioctl(pick_dev(t), SYSMSG_IOC_CANCEL, sp);
	e = errno;
	if (good_sp)
		memcpy(&out, sp, sizeof(out));
	if (ret >= 0) {
		atomic_fetch_add(&cancelled_total, ret);
		if (good_sp && out.cancelled != (unsigned int)ret)
			note(&abi_violations, "CANCEL returned %d but cancelled = %u", ret, out.cancelled);
		if (!all && plain && ret == 0)
			note(&abi_violations, "CANCEL of tag %#llx returned 0 (EALREADY or ENOENT expected)",
			     (unsigned long long)c.tag);
		if (!plain && good_sp)
			note(&abi_violations, "CANCEL with flags %#x, tag %#llx, reserved %#x/%#x/%#x returned %d, not EINVAL",
			     c.flags, (unsigned long long)c.tag, c.reserved[0], c.reserved[1],
			     c.reserved[2], ret);
		if (foreign && plain && good_sp)
			note(&abi_violations, "CANCEL of a tag never submitted (%#llx) returned %d",
			     (unsigned long long)c.tag, ret);
	} else {
		CHECK_ERRNO(e, E_CANCEL, "CANCEL (flags %#x)", c.flags);
		if (foreign && plain && exact && good_sp && e != ENOENT)
			note(&errno_violations, "CANCEL of a tag never submitted failed with %s, not ENOENT",
			     ename(e));
		if (all && plain && exact && good_sp)
			note(&errno_violations, "CANCEL_ALL failed with %s", ename(e));
		if (!plain && good_sp && e != EINVAL)
			note(&errno_violations, "CANCEL with bad flags, tag or reserved failed with %s, not EINVAL",
			     ename(e));
	}
}

static const unsigned long known_cmds[] = {
	SYSMSG_IOC_GET_INFO, SYSMSG_IOC_SUBMIT,	    SYSMSG_IOC_REAP,	 SYSMSG_IOC_GET_LIMITS,
	SYSMSG_IOC_SET_LIMITS, SYSMSG_IOC_PROC_STATS, SYSMSG_IOC_CANCEL,
};

static void do_info(struct fz *t)
{
	struct sysmsg_info info;
	unsigned char *sp;
	int good, ret, e;

	sp = arg_ptr(t, sizeof(info), &good);
	errno = 0;
	ret = ioctl(pick_dev(t), SYSMSG_IOC_GET_INFO, sp);
	e = errno;
	if (ret < 0) {
		CHECK_ERRNO(e, E_INFO, "GET_INFO");
		return;
	}
	if (!good) {
		note(&abi_violations, "GET_INFO to a bad address returned %d", ret);
		return;
	}
	memcpy(&info, sp, sizeof(info));
	if (ret != 0 || info.abi_version != SYSMSG_ABI_VERSION || info.msg_size != sizeof(struct sysmsg_msg) ||
	    info.reply_size != sizeof(struct sysmsg_reply) || info.max_io_len != SYSMSG_MAX_IO_LEN)
		note(&abi_violations, "GET_INFO returned %d: abi %u, msg %u, reply %u, max_io %u", ret,
		     info.abi_version, info.msg_size, info.reply_size, info.max_io_len);
}

static void do_stats(struct fz *t)
{
	struct sysmsg_stats q, out;
	unsigned long r = rnd(t, 100);
	unsigned char *sp, *procs;
	int good, ret, e;

	memset(&q, 0, sizeof(q));
	if (r < 20)
		q.max = 0;
	else if (r < 80)
		q.max = 1 + rnd(t, 8);
	else if (r < 95)
		q.max = 1 + rnd(t, 256);
	else
		q.max = UINT_MAX - rnd(t, 2);
	r = rnd(t, 100);
	if (r < 80)
		procs = t->stats + (rnd(t, 8) * 8); /* 256 entries fit from any of these */
	else if (r < 85)
		procs = t->stats + STATS_AREA - sizeof(struct sysmsg_proc_stats) / 2; /* into the guard */
	else if (r < 90)
		procs = NULL;
	else if (r < 95)
		procs = (unsigned char *)(uintptr_t)KERNEL_ADDR;
	else
		procs = t->stats + STATS_AREA;
	q.procs = (uintptr_t)procs;
	if (chance(t, 3))
		q.reserved0 = 1;
	q.count = q.total = 0xdeadbeef;
	sp = arg_ptr(t, sizeof(q), &good);
	if (good)
		memcpy(sp, &q, sizeof(q));
	errno = 0;
	ret = ioctl(pick_dev(t), SYSMSG_IOC_PROC_STATS, sp);
	e = errno;
	if (ret < 0) {
		CHECK_ERRNO(e, E_STATS, "PROC_STATS (max %u)", q.max);
		if (good && q.reserved0 && e != EINVAL)
			note(&errno_violations, "PROC_STATS with reserved0 set failed with %s, not EINVAL",
			     ename(e));
		return;
	}
	if (good && q.reserved0)
		note(&abi_violations, "PROC_STATS with reserved0 set returned %d, not EINVAL", ret);
	if (!good) {
		note(&abi_violations, "PROC_STATS with a bad argument returned %d", ret);
		return;
	}
	memcpy(&out, sp, sizeof(out));
	if ((unsigned int)ret != out.count || out.count > q.max || out.count > out.total || out.total < 1)
		note(&abi_violations, "PROC_STATS (max %u) returned %d: count %u, total %u", q.max, ret,
		     out.count, out.total);
}

/* A pid for the limits ioctls: never another process that could use sysmsg. */
static __s32 limits_pid(struct fz *t)
{
	switch (rnd(t, 6)) {
	case 0:
	case 1:
	case 2:
		return 0;
	case 3:
		return getpid();
	case 4:
		return 5000000 + rnd(t, 1000000); /* above PID_MAX_LIMIT */
	default:
		return chance(t, 50) ? -1 : INT_MIN;
	}
}

static __u64 limit_value(struct fz *t)
{
	static const __u64 v[] = { 0, 1, 2, 64, 16384, 131072, 16777216, 16777217, ~0ULL };

	return chance(t, 80) ? v[rnd(t, ARRAY_SIZE(v))] : r64(t);
}

static void do_limits(struct fz *t, int set)
{
	struct sysmsg_limits l;
	unsigned char *sp;
	int good, ret, e;

	memset(&l, 0, sizeof(l));
	l.pid = limits_pid(t);
	if (set) {
		if (per_process_limits) {
			/* Limits can be changed: only calls that change nothing. */
			if (chance(t, 50))
				l.flags = 0;
			else
				l.reserved[rnd(t, 2)] = 1;
		} else {
			l.flags = rnd(t, 4);
			if (chance(t, 5))
				l.flags |= 4 << rnd(t, 28);
			if (chance(t, 3))
				l.reserved[rnd(t, 2)] = 1;
		}
		l.soft = limit_value(t);
		l.hard = limit_value(t);
	} else {
		if (chance(t, 5))
			l.flags = 1 + rnd(t, 7);
		if (chance(t, 3))
			l.reserved[rnd(t, 2)] = 1;
	}
	sp = arg_ptr(t, sizeof(l), &good);
	if (good)
		memcpy(sp, &l, sizeof(l));
	errno = 0;
	ret = ioctl(pick_dev(t), set ? SYSMSG_IOC_SET_LIMITS : SYSMSG_IOC_GET_LIMITS, sp);
	e = errno;
	/* GET_LIMITS of this process with flags or reserved set: EINVAL (the order of SET's checks is not pinned). */
	if (!set && good && !l.pid && (l.flags || l.reserved[0] || l.reserved[1]) && !(ret == -1 && e == EINVAL))
		note(&errno_violations, "GET_LIMITS with flags %#x or reserved set: %d, errno %s, not EINVAL",
		     l.flags, ret, ename(e));
	if (ret < 0)
		CHECK_ERRNO(e, E_LIMITS, "%s (pid %d, flags %#x)", set ? "SET_LIMITS" : "GET_LIMITS",
			    l.pid, l.flags);
	else if (ret != 0 || !good)
		note(&abi_violations, "%s (pid %d, flags %#x) returned %d", set ? "SET_LIMITS" : "GET_LIMITS",
		     l.pid, l.flags, ret);
}

static void do_unknown_ioctl(struct fz *t)
{
	unsigned long cmd;
	unsigned int k;
	void *arg;
	int ret, e, again = 1;

	while (again) {
		cmd = _IOC(rnd(t, 4), SYSMSG_IOC_MAGIC,
			   chance(t, 50) ? SYSMSG_IOC_NR_BASE + rnd(t, 16) : rnd(t, 256),
			   chance(t, 50) ? rnd(t, 128) : rnd(t, 1 << 14));
		again = 0;
		for (k = 0; k < ARRAY_SIZE(known_cmds); k++)
			if (cmd == known_cmds[k])
				again = 1;
	}
	switch (rnd(t, 3)) {
	case 0:
		arg = t->args;
		break;
	case 1:
		arg = NULL;
		break;
	default:
		arg = (void *)(uintptr_t)KERNEL_ADDR;
		break;
	}
	errno = 0;
	ret = ioctl(pick_dev(t), cmd, arg);
	e = errno;
	if (ret != -1 || e != ENOTTY)
		note(&errno_violations, "unknown ioctl %#lx returned %d, errno %s, not ENOTTY", cmd, ret,
		     ename(e));
}

/* Data through the pipes, sockets and eventfd, so that waiting messages complete. */
static void do_pump(struct fz *t)
{
	static char junk[65536];
	int fds_w[] = { pipes[0][1], pipes[1][1], socks[0], socks[1] };
	int fds_r[] = { pipes[0][0], pipes[1][0], socks[0], socks[1] };
	ssize_t r;

	switch (rnd(t, 3)) {
	case 0:
		r = write(fds_w[rnd(t, ARRAY_SIZE(fds_w))], junk, 1 + rnd(t, 4096));
		break;
	case 1:
		r = read(fds_r[rnd(t, ARRAY_SIZE(fds_r))], junk, 1 + rnd(t, sizeof(junk)));
		break;
	default:
		r = eventfd_write(evfd, 1 + rnd(t, 100));
		break;
	}
	(void)r;
}

static void do_misc(struct fz *t)
{
	int fd = pick_dev(t), fl, e;
	off_t r;

	switch (rnd(t, 3)) {
	case 0:
		fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl ^ O_NONBLOCK);
		break;
	case 1:
		errno = 0;
		r = lseek(fd, (off_t)rnd(t, 4096), SEEK_SET);
		e = errno;
		if (r != -1 || e != ESPIPE)
			note(&errno_violations, "lseek on the device returned %lld, errno %s, not ESPIPE",
			     (long long)r, ename(e));
		break;
	default:
		lseek(regfd, 0, SEEK_SET);
		break;
	}
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void *worker(void *arg)
{
	struct fz *t = arg;
	unsigned long r;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		r = rnd(t, 1000);
		t->calls++;
		if (r < 200)
			do_submit_write(t);
		else if (r < 420)
			do_submit_ioctl(t);
		else if (r < 540)
			do_reap_read(t);
		else if (r < 680)
			do_reap_ioctl(t);
		else if (r < 720)
			do_poll(t);
		else if (r < 800)
			do_cancel(t);
		else if (r < 820)
			do_info(t);
		else if (r < 840)
			do_stats(t);
		else if (r < 860)
			do_limits(t, 0);
		else if (r < 880)
			do_limits(t, 1);
		else if (r < 910)
			do_unknown_ioctl(t);
		else if (r < 980)
			do_pump(t);
		else
			do_misc(t);
	}
	return NULL;
}

/* ---- set-up, the run, the end ---- */

static int make_pool(void)
{
	char path[32];
	int i, p[2];

	for (i = 0; i < 3; i++)
		if (pipe2(pipes[i], O_CLOEXEC | (i < 2 ? O_NONBLOCK : 0)))
			return -1;
	fcntl(pipes[2][1], F_SETPIPE_SZ, 4096);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, socks))
		return -1;
	evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	dirfd_ = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	regfd = tmpfile_open(path, O_RDWR | O_CLOEXEC);
	if (regfd >= 0)
		unlink(path);
	if (evfd < 0 || devnull < 0 || dirfd_ < 0 || regfd < 0 || ftruncate(regfd, FILE_SIZE))
		return -1;
	if (pipe2(p, O_CLOEXEC))
		return -1;
	closedfd = p[1];
	close(p[0]);
	close(p[1]);

	for (i = 0; i < 3; i++) {
		pool[npool++] = pipes[i][0];
		pool[npool++] = pipes[i][1];
		pool[npool++] = pipes[i][0];
		pool[npool++] = pipes[i][1];
	}
	pool[npool++] = socks[0];
	pool[npool++] = socks[1];
	pool[npool++] = evfd;
	pool[npool++] = devnull;
	pool[npool++] = devnull;
	pool[npool++] = regfd;
	pool[npool++] = regfd;
	pool[npool++] = regfd;
	pool[npool++] = regfd;
	pool[npool++] = dirfd_;
	pool[npool++] = devA;
	pool[npool++] = devB;
	pool[npool++] = closedfd;
	pool[npool++] = -1;
	pool[npool++] = 1 << 20;
	pool[npool++] = INT_MAX;
	pool[npool++] = INT_MIN;
	return 0;
}

static int setup_thread(struct fz *t, int idx, uint64_t seed)
{
	t->idx = idx;
	t->rng = splitmix64(seed ^ ((uint64_t)idx << 32)) | 1;
	t->scratch = guarded(SCRATCH);
	t->msgs = guarded(MSGS_AREA);
	t->args = guarded(ARGS_AREA);
	t->replies = guarded(REPLY_AREA);
	t->stats = guarded(STATS_AREA);
	tags[idx] = mmap(NULL, TAG_CAP * sizeof(struct tagent), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!t->scratch || !t->msgs || !t->args || !t->replies || !t->stats || tags[idx] == MAP_FAILED)
		return -1;
	/* Something recognisable to write. */
	for (size_t i = 0; i < INPUT_ZONE; i++)
		t->scratch[i] = (unsigned char)(i * 7 + idx);
	return 0;
}

/* Reaps without waiting from both files: how many replies. */
static int reap_all_now(void)
{
	static struct sysmsg_reply r[256];
	int n, total = 0, fds[2] = { devA, devB }, k;

	for (k = 0; k < 2; k++) {
		while ((n = raw_reap(fds[k], r, ARRAY_SIZE(r), SYSMSG_REAP_NOWAIT)) > 0) {
			note_replies((unsigned char *)r, n);
			total += n;
		}
		if (n < 0 && n != -EAGAIN)
			note(&errno_violations, "the final REAP failed with %s", ename(-n));
	}
	return total;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--long] [--seconds N] [--threads N] [--seed S]\n"
		"  quick mode (default): %d threads for %d s; --long or SYSMSG_STRESS=1: %d s\n",
		argv0, DEFAULT_THREADS, QUICK_SECONDS, LONG_SECONDS);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *env = getenv("SYSMSG_STRESS");
	int longmode = env && *env && strcmp(env, "0");
	long seconds = -1, calls = 0, missing = 0, refused_with_reply = 0, i;
	uint64_t seed = DEFAULT_SEED;
	long long base, v, end, deadline, t0, next_diag;
	struct sigaction sa;
	struct sysmsg_cancel c;
	int ra, rb, all_joined, started = 0, exhausted = 0;
	unsigned int k;
	uint64_t main_rng;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--long"))
			longmode = 1;
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtol(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			nthreads = strtol(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else
			usage(argv[0]);
	}
	if (seconds < 0)
		seconds = longmode ? LONG_SECONDS : QUICK_SECONDS;
	if (nthreads < 1 || nthreads > MAX_THREADS || seconds < 1)
		usage(argv[0]);
	diag("fuzz: %s mode, %d threads for %ld s, seed %llu (repeat with --seed %llu)",
	     longmode ? "long" : "quick", nthreads, seconds, (unsigned long long)seed,
	     (unsigned long long)seed);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: blocking calls end with EINTR */
	signal(SIGPIPE, SIG_IGN);

	base = read_ll(SYSCTL_DIR "nr_inflight", -1);
	per_process_limits = read_ll(SYSCTL_DIR "per_process_limits", 0);
	diag("kernel.sysmsg.nr_inflight %lld, per_process_limits %lld%s", base, per_process_limits,
	     per_process_limits ? " (SET_LIMITS is fuzzed only in ways that change nothing)" : "");
	devA = dev_open();
	devB = dev_open();
	if (!tap_ok(devA >= 0 && devB >= 0, "open %s twice", SYSMSG_DEVICE_PATH))
		return tap_done();
	if (!tap_ok(make_pool() == 0, "set-up: pipes, sockets, eventfd, /dev/null, a file in /tmp"))
		return tap_done();
	for (i = 0; i < nthreads; i++)
		if (setup_thread(&fzs[i], i, seed))
			break;
	if (!tap_ok(i == nthreads, "set-up: guarded scratch memory and tag tables for %d threads", nthreads))
		return tap_done();

	main_rng = seed;
	t0 = now_ns();
	end = t0 + seconds * NSEC_PER_SEC;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&fzs[i].th, NULL, worker, &fzs[i]))
			break;
		started++;
	}
	if (!tap_ok(started == nthreads, "%d fuzzing threads started", nthreads))
		atomic_store(&stop, 1);

	/* Interrupt a random worker every 20 ms; keep the file at its size. */
	next_diag = t0 + 30 * NSEC_PER_SEC;
	for (k = 0; !atomic_load(&stop) && now_ns() < end; k++) {
		sleep_ms(20);
		if (started)
			pthread_kill(fzs[(splitmix64(main_rng++) >> 8) % started].th, SIGUSR1);
		if (k % 10 == 0) {
			if (ftruncate(regfd, FILE_SIZE))
				diag("ftruncate: %s", strerror(errno));
			lseek(regfd, 0, SEEK_SET);
		}
		if (now_ns() > next_diag) {
			diag("%lld s: %lld accepted, %lld replies, %lld in flight, %lld violations",
			     (now_ns() - t0) / NSEC_PER_SEC, (long long)atomic_load(&accepted_total),
			     (long long)atomic_load(&replies_total), outstanding(),
			     (long long)(atomic_load(&errno_violations) + atomic_load(&abi_violations)));
			next_diag += 30 * NSEC_PER_SEC;
		}
	}

	/* Stop: interrupt every worker until all have returned. */
	atomic_store(&stop, 1);
	deadline = now_ns() + STOP_TIMEOUT_MS * NSEC_PER_MSEC;
	do {
		all_joined = 1;
		for (i = 0; i < started; i++) {
			if (fzs[i].joined)
				continue;
			if (pthread_tryjoin_np(fzs[i].th, NULL) == 0) {
				fzs[i].joined = 1;
				continue;
			}
			all_joined = 0;
			pthread_kill(fzs[i].th, SIGUSR1);
		}
		if (!all_joined)
			sleep_ms(10);
	} while (!all_joined && now_ns() < deadline);
	tap_ok(all_joined, "every worker stopped within %d s of the end", STOP_TIMEOUT_MS / 1000);
	for (i = 0; i < started; i++) {
		calls += fzs[i].calls;
		exhausted += fzs[i].exhausted;
	}
	if (exhausted)
		diag("%d threads used up their %lu tags and stopped submitting", exhausted, TAG_CAP);

	/* Cancel everything, reap everything. Both files back in blocking mode for sure. */
	memset(&c, 0, sizeof(c));
	c.flags = SYSMSG_CANCEL_ALL;
	ra = ioctl(devA, SYSMSG_IOC_CANCEL, &c);
	if (ra > 0)
		atomic_fetch_add(&cancelled_total, ra);
	memset(&c, 0, sizeof(c));
	c.flags = SYSMSG_CANCEL_ALL;
	rb = ioctl(devB, SYSMSG_IOC_CANCEL, &c);
	if (rb > 0)
		atomic_fetch_add(&cancelled_total, rb);
	tap_ok(ra >= 0 && rb >= 0, "SYSMSG_CANCEL_ALL on both files at the end: %d and %d stopped", ra, rb);
	deadline = now_ns() + FINAL_REAP_TIMEOUT_MS * NSEC_PER_MSEC;
	while (outstanding() > 0 && now_ns() < deadline) {
		struct pollfd pfd[2] = { { .fd = devA, .events = POLLIN }, { .fd = devB, .events = POLLIN } };

		if (!reap_all_now())
			poll(pfd, 2, 50);
	}
	/* A reply too many would come now. */
	sleep_ms(200);
	reap_all_now();

	/* Every message: accepted ones replied exactly once, others never. */
	for (i = 0; i < nthreads; i++) {
		__u64 c2, top = atomic_load(&next_ctr[i]);

		for (c2 = 0; c2 < top; c2++) {
			struct tagent *e = &tags[i][c2];
			unsigned char st = atomic_load(&e->state);
			unsigned short n = atomic_load(&e->replies);

			if (st == ST_ACCEPTED && n == 0) {
				if (missing++ < 5)
					diag("no reply for tag %#llx (opcode %u)",
					     (unsigned long long)mk_tag(i, c2), e->op);
			} else if (st != ST_ACCEPTED && n) {
				refused_with_reply++;
				note(&unknown_replies, "tag %#llx was refused (state %u) but got %u replies",
				     (unsigned long long)mk_tag(i, c2), st, n);
			}
		}
	}
	close(devA);
	close(devB);
	deadline = now_ns() + INFLIGHT_TIMEOUT_MS * NSEC_PER_MSEC;
	while ((v = read_ll(SYSCTL_DIR "nr_inflight", -1)) != base && now_ns() < deadline)
		sleep_ms(1);

	for (i = 0; i < nnotes; i++)
		diag("violation: %s", notes[i]);
	diag("%ld calls, %lld messages accepted, %lld replies (%lld with -ECANCELED), CANCEL stopped %lld",
	     calls, (long long)atomic_load(&accepted_total), (long long)atomic_load(&replies_total),
	     (long long)atomic_load(&ecanceled_replies), (long long)atomic_load(&cancelled_total));
	tap_ok(calls > 0 && atomic_load(&accepted_total) > 0,
	       "%d threads made %ld calls in %ld s; %lld messages accepted", nthreads, calls, seconds,
	       (long long)atomic_load(&accepted_total));
	tap_ok(atomic_load(&submit_reaped) > 0,
	       "%lld SUBMITs with a REAP flag stored %lld replies", (long long)atomic_load(&submit_reap_calls),
	       (long long)atomic_load(&submit_reaped));
	tap_ok(!atomic_load(&errno_violations), "every failing call failed with an errno documented for it (%lld not)",
	       (long long)atomic_load(&errno_violations));
	tap_ok(!atomic_load(&abi_violations),
	       "return values, written-back fields and reply buffers as the ABI says (%lld violations)",
	       (long long)atomic_load(&abi_violations));
	tap_ok(!missing && !atomic_load(&duplicate_replies),
	       "exactly one reply per accepted message (%ld missing, %lld duplicates)", missing,
	       (long long)atomic_load(&duplicate_replies));
	tap_ok(!atomic_load(&unknown_replies), "no reply for a tag that was never accepted (%lld)",
	       (long long)atomic_load(&unknown_replies));
	tap_ok(!atomic_load(&opcode_mismatches), "every reply carries its message's opcode (%lld do not)",
	       (long long)atomic_load(&opcode_mismatches));
	tap_ok(atomic_load(&ecanceled_replies) == atomic_load(&cancelled_total),
	       "replies with -ECANCELED (%lld) == messages SYSMSG_IOC_CANCEL stopped (%lld)",
	       (long long)atomic_load(&ecanceled_replies), (long long)atomic_load(&cancelled_total));
	tap_ok(v == base, "kernel.sysmsg.nr_inflight back to its baseline after close (%lld, baseline %lld)",
	       v, base);
	diag("fuzz: seed=%llu seconds=%ld calls=%ld accepted=%lld replies=%lld errno_violations=%lld duplicate_replies=%lld missing_replies=%ld unknown_replies=%lld abi_violations=%lld cancelled=%lld threads=%d submit_reap_calls=%lld submit_reaped=%lld",
	     (unsigned long long)seed, seconds, calls, (long long)atomic_load(&accepted_total),
	     (long long)atomic_load(&replies_total), (long long)atomic_load(&errno_violations),
	     (long long)atomic_load(&duplicate_replies), missing,
	     (long long)atomic_load(&unknown_replies), (long long)atomic_load(&abi_violations),
	     (long long)atomic_load(&cancelled_total), nthreads,
	     (long long)atomic_load(&submit_reap_calls), (long long)atomic_load(&submit_reaped));
	(void)refused_with_reply;
	return tap_done();
}
