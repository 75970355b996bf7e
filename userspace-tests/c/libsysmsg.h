/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libsysmsg: a small C library for /dev/sysmsg, in the manner of liburing.
 *
 * A struct sysmsg is an open device plus a local batch of messages: take
 * free slots with sysmsg_get_msg(), fill them with the sysmsg_prep_*()
 * helpers, hand the batch to the kernel with sysmsg_submit() and collect one
 * reply per accepted message with sysmsg_wait() or sysmsg_peek(), or do
 * both in one system call with sysmsg_submit_reap(). The
 * sysmsg_*_sync() helpers do one operation synchronously, like the system
 * call of the same name.
 *
 * Conventions:
 *  - functions returning int return >= 0 on success and a negative errno on
 *    failure (as liburing does); the *_sync() helpers instead behave like
 *    the system call they stand for: -1 with errno set on failure, and so
 *    do sysmsg_cancel_fd() and sysmsg_cancel(), like the ioctl itself;
 *  - a struct sysmsg is not thread-safe: use it from one thread at a time
 *    (the kernel side is: threads of one process share one queue, see
 *    README.md), and do not reap replies of the same process through
 *    another struct sysmsg or the raw file descriptor while a *_sync()
 *    helper runs, or that helper could wait for a reply taken elsewhere;
 *  - tags with their top 16 bits all set (>= SYSMSG_TAG_LIB_BASE) are
 *    reserved for the library: replies carrying such a tag are never handed
 *    out by sysmsg_wait() or sysmsg_peek().
 *
 * Memory named by a message must stay valid for as long as the ABI reads or
 * writes it: a timespec (NANOSLEEP) and the data of a WRITE/PWRITE are
 * copied in while the submitting call runs, so they may be reused once it
 * has returned; the buffer of a READ/PREAD is written when its reply is
 * reaped, so it must stay valid (and untouched) until then. (In the fallback
 * below it is written earlier, while the submitting call runs.)
 *
 * The fallback (README.md, "The fallback in the libraries"): when the
 * kernel refuses a message with EAGAIN (the process is at a limit, or it is
 * throttled), the library performs that message and every later one of the
 * same submit *synchronously in the calling thread*, with the real system
 * call (read, write, pread, pwrite, fsync, fdatasync, clock_nanosleep; a
 * NOP is 0), and queues a reply of the same shape (tag, opcode, result or
 * -errno) in the backlog, where sysmsg_wait()/sysmsg_peek() hand it out like
 * a reply from the kernel. The struct then stays in *fallback mode*: every
 * submit performs its messages synchronously, without asking the kernel,
 * until poll() reports POLLOUT on the device again (checked once at the
 * start of every submit). The *_sync() helpers fall back the same way. So a
 * program never waits for room at any limit >= 1 (it may still block in a
 * system call, as it would without sysmsg). A message the backlog has no
 * memory for is refused with ENOMEM (nothing is done). What differs:
 *  - a synchronous message blocks the caller for as long as the system call
 *    takes (a READ of an empty pipe waits for data in the caller; a READ
 *    that only a later message of the same thread would satisfy waits
 *    forever, as the system call would);
 *  - messages are performed in order, one after the other;
 *  - the data of a READ/PREAD is in the buffer when the submit returns
 *    (the kernel writes it at reap); the length is clamped to
 *    SYSMSG_MAX_IO_LEN as the kernel clamps it;
 *  - a WRITE to a pipe or socket without reader answers -EPIPE as a message
 *    does: SIGPIPE is held back and discarded;
 *  - the system call's own semantics apply where the kernel's differ: a
 *    blocking pipe/socket WRITE completes in full (a message may be short),
 *    files with only legacy ->read/->write methods work (a message answers
 *    -EINVAL);
 *  - what the kernel refuses at submit (no reply) is refused here too:
 *    every EINVAL rule of the ABI is checked first, and a system call that
 *    fails with EBADF or ESPIPE (any operation), EFAULT (a sleep's timespec,
 *    a write's data, a read's buffer outside the user address range) or
 *    EINVAL (a sleep) refuses the message, stops the submit there and is
 *    reported as the kernel would report it. A synchronous READ into a
 *    user buffer that is not mapped replies -EFAULT, as writeback does.
 * sysmsg_open() with SYSMSG_LIB_NO_FALLBACK turns the fallback off: EAGAIN
 * is then returned to the caller like every other refusal. s->async_ops
 * and s->sync_ops count the messages that went each way.
 */
#ifndef LIBSYSMSG_H
#define LIBSYSMSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <linux/time_types.h>
#include <linux/sysmsg.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tags from this value up are the library's own (see above). */
#define SYSMSG_TAG_LIB_BASE 0xffff000000000000ULL

/*
 * sysmsg_open() flags.
 * SYSMSG_LIB_NO_FALLBACK: never perform messages synchronously; a message the
 * kernel refuses with EAGAIN is reported like any other refusal.
 */
#define SYSMSG_LIB_NO_FALLBACK (1U << 0)
#define SYSMSG_LIB_FLAGS_ALL SYSMSG_LIB_NO_FALLBACK

/* True if @tag is reserved for the library. */
static inline int sysmsg_tag_is_lib(__u64 tag)
{
	return (tag & SYSMSG_TAG_LIB_BASE) == SYSMSG_TAG_LIB_BASE;
}

/*
 * struct sysmsg - an open /dev/sysmsg and its local state.
 * @fd:            the device's file descriptor (usable with poll/epoll).
 * @batch:         the local batch: @batch_count prepared messages from
 *                 @batch[0] on, room for @batch_entries.
 * @submit_error:  errno that refused a message at the last submit, 0 if
 *                 every message of that submit was accepted.
 * @backlog:       replies reaped by a *_sync() helper on behalf of other
 *                 messages; handed out first by sysmsg_wait()/sysmsg_peek().
 * @sync_seq:      sequence number of the next synchronous message.
 * @submitted:     messages the kernel accepted through this struct.
 * @reaped:        replies taken from the kernel through this struct
 *                 (including those now in the backlog).
 * @dropped:       replies of abandoned synchronous messages that were
 *                 discarded (see sysmsg_read_sync()).
 * @flags:         the sysmsg_open() flags (SYSMSG_LIB_*).
 * @fallback:      1 while in fallback mode (see above), else 0.
 * @async_ops:     messages performed asynchronously: accepted by the kernel
 *                 (the same count as @submitted, including the messages of
 *                 the *_sync() helpers).
 * @sync_ops:      messages performed synchronously by the fallback
 *                 (including those of the *_sync() helpers; not messages it
 *                 refused).
 * @fallbacks:     times this struct entered fallback mode.
 * The fields are readable; change them only through the functions below.
 */
struct sysmsg {
	int fd;
	unsigned int flags;
	int fallback;

	struct sysmsg_msg *batch;
	unsigned int batch_entries;
	unsigned int batch_count;
	int submit_error;

	struct sysmsg_reply *backlog;
	unsigned int backlog_head;
	unsigned int backlog_count;
	unsigned int backlog_cap;

	__u64 sync_seq;
	unsigned long long submitted;
	unsigned long long reaped;
	unsigned long long dropped;
	unsigned long long async_ops;
	unsigned long long sync_ops;
	unsigned long long fallbacks;
};

/*
 * sysmsg_open - open SYSMSG_DEVICE_PATH (O_RDWR | O_CLOEXEC) into @s.
 * @batch_entries: room of the local batch (0 is allowed: then only
 *                 sysmsg_submit_msgs() and the *_sync() helpers submit).
 * @flags:         0 or SYSMSG_LIB_NO_FALLBACK (other bits: -EINVAL).
 * Returns 0, or -errno (@s is then left closed: s->fd == -1).
 */
int sysmsg_open(struct sysmsg *s, unsigned int batch_entries, int flags);

/*
 * sysmsg_open_fd - like sysmsg_open(), on an already open device file @fd
 * (for instance one inherited across fork() or execve()). @s owns @fd from
 * now on, also when this fails: sysmsg_close() closes it.
 */
int sysmsg_open_fd(struct sysmsg *s, int fd, unsigned int batch_entries, int flags);

/*
 * sysmsg_close - close the device and free the local state. Messages still
 * in flight are the kernel's business from then on (closing the file ends
 * them); prepared but unsubmitted messages and the backlog are discarded.
 */
void sysmsg_close(struct sysmsg *s);

/* sysmsg_get_info - SYSMSG_IOC_GET_INFO into @info. Returns 0 or -errno. */
int sysmsg_get_info(struct sysmsg *s, struct sysmsg_info *info);

/*
 * sysmsg_get_msg - the next free slot of the local batch, zeroed, or NULL
 * when the batch is full (submit it first).
 */
struct sysmsg_msg *sysmsg_get_msg(struct sysmsg *s);

/* sysmsg_batch_count - how many prepared messages wait in the local batch. */
static inline unsigned int sysmsg_batch_count(const struct sysmsg *s)
{
	return s->batch_count;
}

/*
 * sysmsg_batch_drop - discard the first @n prepared messages of the local
 * batch (for instance one the kernel refused), keeping the rest in order.
 */
void sysmsg_batch_drop(struct sysmsg *s, unsigned int n);

/*
 * sysmsg_submit - submit the local batch with SYSMSG_IOC_SUBMIT.
 * The kernel accepts messages from the first on and stops at the first it
 * refuses. Accepted messages leave the batch; the refused one and those
 * after it move to its front, so they can be inspected, fixed, dropped
 * (sysmsg_batch_drop()) or submitted again. s->submit_error tells why the
 * first remaining one was refused (0 if all were accepted).
 * With the fallback (the default), a message refused with EAGAIN and those
 * after it are performed synchronously and count as accepted: their
 * replies are in the backlog when this returns. EAGAIN is then never
 * reported; the fallback refuses messages only as the kernel would refuse
 * them for other reasons (see above), or with ENOMEM when the backlog
 * cannot grow.
 * Returns the number accepted (0 for an empty batch), or -errno of the
 * first message if none was accepted.
 */
int sysmsg_submit(struct sysmsg *s);

/*
 * sysmsg_submit_msgs - submit @n messages of the caller's array @msgs,
 * bypassing the local batch. Returns as sysmsg_submit(); if @err is not
 * NULL, *@err is set to the errno that refused message number
 * <return value> (0 if all @n were accepted; the positive errno if none was).
 */
int sysmsg_submit_msgs(struct sysmsg *s, const struct sysmsg_msg *msgs, unsigned int n,
		       int *err);

/*
 * sysmsg_wait - store up to @max (>= 1) replies in @r, waiting until there
 * is at least one. Replies held in the backlog come first (then it does not
 * wait; it adds what the kernel has ready without waiting).
 * Returns the number stored, or -errno (-EINTR on a signal, -EFAULT if @r
 * is bad: the kernel then keeps the replies it could not store).
 */
int sysmsg_wait(struct sysmsg *s, struct sysmsg_reply *r, unsigned int max);

/*
 * One SYSMSG_IOC_REAP on a raw descriptor (no backlog, no library tags
 * filtered): up to @max replies into @r, SYSMSG_REAP_NOWAIT in @flags or 0.
 * Returns the number stored or -errno; stores the ioctl's count field in
 * *@count if @count is not NULL.
 */
int sysmsg_reap_fd(int fd, struct sysmsg_reply *r, unsigned int max, unsigned int flags,
		   unsigned int *count);

/*
 * sysmsg_submit_reap - submit @n messages of the caller's array @msgs (0 is
 * allowed: then it only reaps) and store up to @max (>= 1) replies in @r, in
 * one SYSMSG_IOC_SUBMIT with SYSMSG_SUBMIT_REAP: one system call per batch,
 * as io_uring_submit_and_wait() (the module must report
 * SYSMSG_FEATURE_SUBMIT_REAP; an older one refuses the call with EINVAL).
 * @flags: SYSMSG_SUBMIT_REAP: take only the replies that are ready, never
 *         wait; SYSMSG_SUBMIT_REAP_WAIT: wait (interruptibly) until at least
 *         one reply is stored, unless a message was refused or a reply was
 *         ready already; anything else: -EINVAL (nothing is done).
 * @err:   as for sysmsg_submit_msgs().
 * @nr:    if not NULL, *@nr is set to the number of replies stored in @r,
 *         also when the call fails (the reap part runs whatever the submit
 *         part refused).
 * Replies held in the backlog come first (then it does not wait); replies
 * with the library's tags are dropped as sysmsg_wait() drops them. The
 * submit part behaves as sysmsg_submit_msgs(), the fallback included: in
 * fallback mode, or for the messages the kernel refuses with EAGAIN, the
 * messages are performed synchronously and their replies are handed out
 * here as far as @max allows (the rest stay in the backlog). A signal while
 * it waits, or a fault storing a reply, only ends the reap part early: the
 * replies not stored stay queued for the next reaping call, and the caller
 * sees *@nr = 0 (with REAP_WAIT it cannot tell a signal from an empty
 * queue). With REAP_WAIT and nothing in flight it waits as sysmsg_wait()
 * does: until a signal.
 * Returns the number accepted (0 when @n is 0), or -errno if none of @n > 0
 * was accepted, or the call itself was refused: -EINVAL (flags, @max 0),
 * -EFAULT (@r cannot be written: then nothing was submitted).
 */
int sysmsg_submit_reap(struct sysmsg *s, const struct sysmsg_msg *msgs, unsigned int n,
		       struct sysmsg_reply *r, unsigned int max, unsigned int flags, int *err,
		       unsigned int *nr);

/*
 * One SYSMSG_IOC_SUBMIT on a raw descriptor with the reap fields (no
 * backlog, no library tags filtered, no fallback): @n messages of @msgs, up
 * to @max replies into @r, @flags as they are (SYSMSG_SUBMIT_REAP,
 * SYSMSG_SUBMIT_REAP_WAIT, SYSMSG_SUBMIT_WAIT; any value is passed on, so
 * that tests can send invalid ones). Returns the number accepted, or -errno
 * as the ioctl fails; *@err (if not NULL) is the ABI's error field (0 if all
 * were accepted; the errno when the call failed) and *@reaped (if not NULL)
 * the replies stored in @r, which is set also when the call fails: the
 * reap part runs whatever the submit part refused.
 */
int sysmsg_submit_reap_fd(int fd, const struct sysmsg_msg *msgs, unsigned int n,
			  unsigned int flags, struct sysmsg_reply *r, unsigned int max, int *err,
			  unsigned int *reaped);

/*
 * sysmsg_peek - as sysmsg_wait() but never waits (SYSMSG_REAP_NOWAIT).
 * Returns the number stored, 0 if no reply is ready, or -errno.
 */
int sysmsg_peek(struct sysmsg *s, struct sysmsg_reply *r, unsigned int max);

/* sysmsg_backlog_count - replies waiting in the library's backlog. */
static inline unsigned int sysmsg_backlog_count(const struct sysmsg *s)
{
	return s->backlog_count;
}

/* sysmsg_in_fallback - 1 while @s performs messages synchronously. */
static inline int sysmsg_in_fallback(const struct sysmsg *s)
{
	return s->fallback;
}

/*
 * Limits (README.md). @pid is 0 for the caller's own process, else a
 * process id (the rights prlimit(2) needs). They return 0 or -errno.
 * sysmsg_get_limits - SYSMSG_IOC_GET_LIMITS: the limits in force into
 *   *@soft and *@hard (either may be NULL).
 * sysmsg_set_limits - SYSMSG_IOC_SET_LIMITS: @flags is SYSMSG_LIMIT_SOFT
 *   and/or SYSMSG_LIMIT_HARD, which of @soft/@hard to set (EPERM while
 *   kernel.sysmsg.per_process_limits is 0).
 */
/*
 * One SYSMSG_IOC_GET_LIMITS or SYSMSG_IOC_SET_LIMITS (@cmd) on a raw
 * descriptor with the given fields; 0 or -errno. The limits the kernel writes
 * back are stored in *@out if @out is not NULL.
 */
int sysmsg_limits_fd(int fd, unsigned long cmd, pid_t pid, unsigned int flags, __u64 soft,
		     __u64 hard, struct sysmsg_limits *out);

int sysmsg_get_limits(struct sysmsg *s, pid_t pid, __u64 *soft, __u64 *hard);
int sysmsg_set_limits(struct sysmsg *s, pid_t pid, unsigned int flags, __u64 soft, __u64 hard);

/*
 * sysmsg_proc_stats - SYSMSG_IOC_PROC_STATS: the counters of up to @max
 * processes using sysmsg into @procs (NULL with @max 0 only counts); stores
 * how many processes use sysmsg in *@total if @total is not NULL. Returns
 * the number stored, or -errno.
 */
int sysmsg_proc_stats(struct sysmsg *s, struct sysmsg_proc_stats *procs, unsigned int max,
		      unsigned int *total);

/*
 * sysmsg_proc_stats_pid - the counters of process @pid (0: the caller's)
 * into *@st. Returns 0, -ESRCH if that process does not use sysmsg, or
 * -errno.
 */
int sysmsg_proc_stats_pid(struct sysmsg *s, pid_t pid, struct sysmsg_proc_stats *st);

/*
 * sysmsg_cancel_fd - one SYSMSG_IOC_CANCEL on a raw descriptor: stop the
 * caller's messages in flight on that file with tag @tag, or all of them
 * with @flags = SYSMSG_CANCEL_ALL (and @tag 0). Like the ioctl, it returns
 * the number of messages stopped (each still gets one reply, with result
 * -ECANCELED), or -1 with errno set: by tag, EALREADY when matching messages
 * exist but none could be stopped (executing on a worker, or completed and
 * not yet reaped: they get their real replies), ENOENT when none exists
 * (never submitted, already reaped, or a NOP); EINVAL for unknown @flags or
 * SYSMSG_CANCEL_ALL with a non-zero @tag; ENOTTY from a module without
 * SYSMSG_FEATURE_CANCEL. If @out is not NULL, the structure as the kernel
 * wrote it back (@out->cancelled, @out->already) is stored there, also when
 * the call fails (EALREADY and ENOENT are written back too; after other
 * errors the counts are 0).
 */
int sysmsg_cancel_fd(int fd, __u64 tag, unsigned int flags, struct sysmsg_cancel *out);

/*
 * sysmsg_cancel - sysmsg_cancel_fd() on @s->fd that also counts the replies
 * the library holds and has not handed out yet (the backlog: replies taken
 * by a *_sync() helper, and the fallback's synchronous replies): those
 * messages are completed and not reaped as far as the caller is concerned,
 * so they are added to @out->already, and a cancel by tag that the kernel
 * answers with ENOENT fails with EALREADY instead when the backlog holds a
 * reply with that tag. (The library keeps no table of the messages in
 * flight: a NOP whose reply is still in the kernel is ENOENT, as the kernel
 * says.) Returns as sysmsg_cancel_fd().
 */
int sysmsg_cancel(struct sysmsg *s, __u64 tag, unsigned int flags, struct sysmsg_cancel *out);

/*
 * Synchronous helpers: each submits one message with a tag reserved for the
 * library (so it cannot be mistaken for one of the caller's) and waits for
 * that message's reply; replies of other messages that arrive meanwhile go to
 * the backlog, to be handed out by the next sysmsg_wait()/sysmsg_peek().
 * They return what the system call would: the count or 0, or -1 with errno
 * set, both when the message is refused at submit and when the operation
 * fails. In fallback mode, or when the kernel refuses the message with
 * EAGAIN, they perform the system call directly (unless the struct was
 * opened with SYSMSG_LIB_NO_FALLBACK: then -1 and EAGAIN). Once the message is accepted they wait for its reply through
 * signals (an operation in flight cannot be taken back, and its result, e.g.
 * data read from a pipe, must not be lost); if waiting fails otherwise
 * (ENOMEM for the backlog), the message is abandoned and its reply will be
 * discarded when it arrives (counted in s->dropped).
 */
ssize_t sysmsg_read_sync(struct sysmsg *s, int fd, void *buf, size_t len);
ssize_t sysmsg_write_sync(struct sysmsg *s, int fd, const void *buf, size_t len);
ssize_t sysmsg_pread_sync(struct sysmsg *s, int fd, void *buf, size_t len, __s64 offset);
ssize_t sysmsg_pwrite_sync(struct sysmsg *s, int fd, const void *buf, size_t len, __s64 offset);
int sysmsg_fsync_sync(struct sysmsg *s, int fd);
int sysmsg_fdatasync_sync(struct sysmsg *s, int fd);
/* @op_flags: 0 (relative) or SYSMSG_SLEEP_ABSTIME (absolute CLOCK_MONOTONIC). */
int sysmsg_nanosleep_sync(struct sysmsg *s, const struct __kernel_timespec *ts,
			  unsigned int op_flags);
int sysmsg_nop_sync(struct sysmsg *s);

/*
 * Preparation helpers: each zeroes the message first, then fills in the
 * fields its operation uses, so every other field is 0 as the ABI demands.
 */
static inline void sysmsg_prep_rw(struct sysmsg_msg *m, __u8 opcode, int fd, __u64 addr,
				  __u64 len, __s64 offset, __u64 tag)
{
	memset(m, 0, sizeof(*m));
	m->opcode = opcode;
	m->fd = fd;
	m->tag = tag;
	m->addr = addr;
	m->len = len;
	m->offset = offset;
}

/* NOP: completes at submit with result 0. */
static inline void sysmsg_prep_nop(struct sysmsg_msg *m, __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_NOP, 0, 0, 0, 0, tag);
}

/*
 * NANOSLEEP: @ts is relative, or an absolute CLOCK_MONOTONIC time with
 * @op_flags = SYSMSG_SLEEP_ABSTIME. *@ts is copied in at submit: it must stay
 * valid until the submitting call returns, not longer.
 */
static inline void sysmsg_prep_nanosleep(struct sysmsg_msg *m, const struct __kernel_timespec *ts,
					 unsigned int op_flags, __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_NANOSLEEP, 0, (__u64)(uintptr_t)ts, 0, 0, tag);
	m->op_flags = op_flags;
}

/* READ at the file position; @buf is written when the reply is reaped. */
static inline void sysmsg_prep_read(struct sysmsg_msg *m, int fd, void *buf, size_t len,
				    __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_READ, fd, (__u64)(uintptr_t)buf, len, 0, tag);
}

/* WRITE at the file position; @buf is copied in at submit. */
static inline void sysmsg_prep_write(struct sysmsg_msg *m, int fd, const void *buf, size_t len,
				     __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_WRITE, fd, (__u64)(uintptr_t)buf, len, 0, tag);
}

/* PREAD at @offset; @buf is written when the reply is reaped. */
static inline void sysmsg_prep_pread(struct sysmsg_msg *m, int fd, void *buf, size_t len,
				     __s64 offset, __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_PREAD, fd, (__u64)(uintptr_t)buf, len, offset, tag);
}

/* PWRITE at @offset; @buf is copied in at submit. */
static inline void sysmsg_prep_pwrite(struct sysmsg_msg *m, int fd, const void *buf, size_t len,
				      __s64 offset, __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_PWRITE, fd, (__u64)(uintptr_t)buf, len, offset, tag);
}

/* FSYNC of @fd. */
static inline void sysmsg_prep_fsync(struct sysmsg_msg *m, int fd, __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_FSYNC, fd, 0, 0, 0, tag);
}

/* FDATASYNC of @fd. */
static inline void sysmsg_prep_fdatasync(struct sysmsg_msg *m, int fd, __u64 tag)
{
	sysmsg_prep_rw(m, SYSMSG_OP_FDATASYNC, fd, 0, 0, 0, tag);
}

#ifdef __cplusplus
}
#endif

#endif /* LIBSYSMSG_H */
