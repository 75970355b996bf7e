/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * sysmsg: asynchronous system-call messages.
 *
 * This header is the single source of truth for the ABI between the sysmsg
 * module and userspace. The module and the Rust userspace library generate
 * their types from it with bindgen; the C library and tests include it.
 *
 * Rules for every structure here:
 *  - fixed size, naturally aligned, explicit padding, the same layout for
 *    32- and 64-bit processes (pointers travel as __u64);
 *  - reserved fields, and fields an operation does not use, must be zero:
 *    the module rejects anything else with EINVAL, so that they can be given
 *    a meaning later;
 *  - ioctl numbers are built with _IOR/_IOW/_IOWR from SYSMSG_IOC_MAGIC and
 *    the SYSMSG_IOC_NR_* numbers below (unknown numbers fail with ENOTTY).
 *
 * The model: a process posts messages (struct sysmsg_msg) with write(2) or
 * SYSMSG_IOC_SUBMIT; each message is checked and its arguments copied in
 * while the submitting call runs (the *copyin* phase: an error here refuses
 * the message and nothing is done); kernel workers, timers and wait-queue
 * callbacks then *execute* it using kernel memory only; the process reaps one
 * reply (struct sysmsg_reply) per accepted message with read(2) or
 * SYSMSG_IOC_REAP, which copies results out (the *writeback* phase).
 */
#ifndef _UAPI_LINUX_SYSMSG_H
#define _UAPI_LINUX_SYSMSG_H

#include <linux/ioctl.h>
#include <linux/time_types.h>
#include <linux/types.h>

/* The device node. */
#define SYSMSG_DEVICE_PATH "/dev/sysmsg"

/* Bumped on every incompatible change of this header. */
#define SYSMSG_ABI_VERSION 2

/* The ioctl type byte ('#' is unused in ioctl-number.rst for 0xA0-0xAF). */
#define SYSMSG_IOC_MAGIC 0x23
#define SYSMSG_IOC_NR_BASE 0xA0

/*
 * Operations (struct sysmsg_msg.opcode). The reply's result is what the
 * synchronous system call would have returned: a count of bytes, 0, or a
 * negative errno.
 */
enum sysmsg_op {
	SYSMSG_OP_NOP = 0,       /* completes at submit; result 0 */
	SYSMSG_OP_NANOSLEEP = 1, /* addr: struct __kernel_timespec *; result 0 */
	SYSMSG_OP_READ = 2,      /* fd, addr, len; at the file position */
	SYSMSG_OP_WRITE = 3,     /* fd, addr, len; at the file position */
	SYSMSG_OP_PREAD = 4,     /* fd, addr, len, offset */
	SYSMSG_OP_PWRITE = 5,    /* fd, addr, len, offset */
	SYSMSG_OP_FSYNC = 6,     /* fd */
	SYSMSG_OP_FDATASYNC = 7, /* fd */
	SYSMSG_OP_COUNT = 8,     /* the first opcode that does not exist */
};

/* NANOSLEEP's op_flags: the timespec is an absolute CLOCK_MONOTONIC time. */
#define SYSMSG_SLEEP_ABSTIME (1U << 0)

/* The range of sysmsg_msg.prio; 0 is the default. */
#define SYSMSG_PRIO_MIN (-3)
#define SYSMSG_PRIO_MAX 3

/*
 * The most data one READ/WRITE/PREAD/PWRITE moves. A longer read is clamped
 * to it (a short count, as read(2) may return); a longer write is refused
 * with EINVAL (split it).
 */
#define SYSMSG_MAX_IO_LEN (1U << 20)

/*
 * struct sysmsg_msg - one system-call message (64 bytes).
 * @opcode:    enum sysmsg_op.
 * @flags:     zero (no message flags yet).
 * @prio:      the static priority, SYSMSG_PRIO_MIN (-3, lowest) ..
 *             SYSMSG_PRIO_MAX (3, highest); 0 is the default. It orders the
 *             messages of a process that wait for a kernel worker (aging
 *             lifts the ones that wait long: kernel.sysmsg.prio_aging_ms).
 * @reserved0: zero.
 * @fd:        the file of READ..FDATASYNC; zero for NOP and NANOSLEEP.
 * @tag:       any value; returned in the reply.
 * @addr:      READ/PREAD: the buffer the data is written back to at reap;
 *             WRITE/PWRITE: the data, copied in at submit;
 *             NANOSLEEP: a struct __kernel_timespec, copied in at submit.
 * @len:       READ..PWRITE: the buffer length.
 * @offset:    PREAD/PWRITE: the file offset (>= 0).
 * @op_flags:  NANOSLEEP: SYSMSG_SLEEP_ABSTIME or 0; zero otherwise.
 * @reserved1: zero.
 * @reserved:  zero.
 */
struct sysmsg_msg {
	__u8 opcode;
	__u8 flags;
	__s8 prio;
	__u8 reserved0;
	__s32 fd;
	__u64 tag;
	__u64 addr;
	__u64 len;
	__s64 offset;
	__u32 op_flags;
	__u32 reserved1;
	__u64 reserved[2];
};

/*
 * struct sysmsg_reply - the reply to one accepted message (32 bytes).
 * @tag:      the message's tag.
 * @result:   the system call's return value, or a negative errno.
 * @opcode:   the message's opcode.
 * @reserved: zero.
 */
struct sysmsg_reply {
	__u64 tag;
	__s64 result;
	__u8 opcode;
	__u8 reserved0[3];
	__u32 reserved1;
	__u64 reserved2;
};

/* Feature bits reported in sysmsg_info.features. */
#define SYSMSG_FEATURE_POLL_ARM (1ULL << 0) /* pollable files wait, not workers */
#define SYSMSG_FEATURE_LIMITS (1ULL << 1)   /* limits, hysteresis, SUBMIT_WAIT */
#define SYSMSG_FEATURE_CANCEL (1ULL << 2)   /* SYSMSG_IOC_CANCEL */
#define SYSMSG_FEATURE_PRIO (1ULL << 3)     /* sysmsg_msg.prio, fair workers */
#define SYSMSG_FEATURE_SUBMIT_REAP (1ULL << 4) /* SYSMSG_SUBMIT_REAP(_WAIT) */
#define SYSMSG_FEATURES_ALL                                                \
	(SYSMSG_FEATURE_POLL_ARM | SYSMSG_FEATURE_LIMITS | SYSMSG_FEATURE_CANCEL | \
	 SYSMSG_FEATURE_PRIO | SYSMSG_FEATURE_SUBMIT_REAP)

/*
 * struct sysmsg_info - what SYSMSG_IOC_GET_INFO reports.
 * @abi_version: SYSMSG_ABI_VERSION of the running module.
 * @info_size:   sizeof(struct sysmsg_info) as the module knows it.
 * @features:    SYSMSG_FEATURE_* bits the module supports.
 * @ops:         bit n set: opcode n is supported.
 * @msg_size:    sizeof(struct sysmsg_msg).
 * @reply_size:  sizeof(struct sysmsg_reply).
 * @max_io_len:  SYSMSG_MAX_IO_LEN.
 * @queue_limit: how many messages the caller's process may have in flight
 *               (accepted and not yet reaped), over all its files: its
 *               effective soft limit now.
 * @reserved:    zero.
 */
struct sysmsg_info {
	__u32 abi_version;
	__u32 info_size;
	__u64 features;
	__u64 ops;
	__u32 msg_size;
	__u32 reply_size;
	__u32 max_io_len;
	__u32 queue_limit;
	__u64 reserved[3];
};

/*
 * SYSMSG_IOC_SUBMIT flags.
 * SYSMSG_SUBMIT_WAIT: when the process is throttled or at a limit, wait
 * (interruptibly) until it may submit again instead of refusing with EAGAIN.
 * Opt-in, because a process that waits for room while the replies that would
 * make room are only reaped by itself deadlocks (see README, "Limits").
 * SYSMSG_SUBMIT_REAP: after submitting, reap up to @reap_max ready replies
 * into @replies in the same call, never waiting: one system call per batch,
 * as io_uring_enter(2) submits and reaps.
 * SYSMSG_SUBMIT_REAP_WAIT: the same, but wait (interruptibly) for at least one
 * reply when none is ready, unless the submit part refused a message.
 */
#define SYSMSG_SUBMIT_WAIT (1U << 0)
#define SYSMSG_SUBMIT_REAP (1U << 1)
#define SYSMSG_SUBMIT_REAP_WAIT (1U << 2)

/*
 * struct sysmsg_submit - a batch for SYSMSG_IOC_SUBMIT.
 * @msgs:     struct sysmsg_msg array (in).
 * @count:    how many (in; 0 is allowed: only reap).
 * @flags:    SYSMSG_SUBMIT_* (in).
 * @accepted: how many were accepted, from the first on (out).
 * @error:    0 if all were accepted, else the positive errno that refused
 *            message number @accepted (out).
 * @replies:  with SYSMSG_SUBMIT_REAP(_WAIT): a struct sysmsg_reply array
 *            (in); else zero.
 * @reap_max: its length (in; >= 1 with a REAP flag, else zero).
 * @reaped:   how many replies were stored in @replies (out).
 *
 * The ioctl returns @accepted, or -1 with errno = @error if @count > 0 and
 * none was accepted. The reap part runs after the submit part, whatever it
 * refused, and reports only through @reaped: a signal during its wait, or a
 * fault storing a reply, ends it early and the replies not stored stay
 * queued. A @replies array whose first element cannot be written fails the
 * whole call with EFAULT before anything is submitted.
 */
struct sysmsg_submit {
	__u64 msgs;
	__u32 count;
	__u32 flags;
	__u32 accepted;
	__s32 error;
	__u64 replies;
	__u32 reap_max;
	__u32 reaped;
};

/* SYSMSG_IOC_REAP flags: do not wait when no reply is ready (EAGAIN). */
#define SYSMSG_REAP_NOWAIT (1U << 0)

/*
 * struct sysmsg_reap - a reap for SYSMSG_IOC_REAP.
 * @replies:  struct sysmsg_reply array (in).
 * @max:      its length (in, >= 1).
 * @flags:    SYSMSG_REAP_NOWAIT or 0 (in).
 * @count:    how many replies were stored (out).
 * @reserved: zero.
 * The ioctl returns @count. Without SYSMSG_REAP_NOWAIT it waits
 * (interruptibly) for at least one reply, whatever O_NONBLOCK says.
 */
struct sysmsg_reap {
	__u64 replies;
	__u32 max;
	__u32 flags;
	__u32 count;
	__u32 reserved0;
	__u64 reserved[2];
};

/*
 * struct sysmsg_limits - a process's limits on messages in flight
 * (SYSMSG_IOC_GET_LIMITS, SYSMSG_IOC_SET_LIMITS), RLIMIT-style.
 * @pid:      0 for the caller's own process, else a process id (in the
 *            caller's pid namespace) of a process that uses sysmsg (in).
 * @flags:    SET_LIMITS: SYSMSG_LIMIT_SOFT and/or SYSMSG_LIMIT_HARD, which
 *            of @soft/@hard to set; GET_LIMITS: zero (in).
 * @soft:     the soft limit (in for SET with SYSMSG_LIMIT_SOFT; out).
 * @hard:     the hard limit (in for SET with SYSMSG_LIMIT_HARD; out).
 * @reserved: zero.
 * Both ioctls write back the limits in force afterwards.
 */
struct sysmsg_limits {
	__s32 pid;
	__u32 flags;
	__u64 soft;
	__u64 hard;
	__u64 reserved[2];
};

#define SYSMSG_LIMIT_SOFT (1U << 0)
#define SYSMSG_LIMIT_HARD (1U << 1)

/* sysmsg_proc_stats.flags: the process is throttled (hysteresis). */
#define SYSMSG_PROC_THROTTLED (1U << 0)

/*
 * struct sysmsg_proc_stats - one process's counters (SYSMSG_IOC_PROC_STATS).
 * @pid:               the process id (in the caller's pid namespace; 0 if
 *                     it has none there).
 * @flags:             SYSMSG_PROC_* bits.
 * @inflight:          messages accepted and not yet reaped, over all files.
 * @soft, @hard:       its limits in force.
 * @peak_inflight:     the most it ever had in flight.
 * @limit_hits:        messages refused because of a limit (its own or
 *                     kernel.sysmsg.max_total) or while throttled.
 * @throttle_episodes: times it became throttled.
 * @submitted:         messages accepted.
 * @reserved:          zero.
 */
struct sysmsg_proc_stats {
	__s32 pid;
	__u32 flags;
	__u64 inflight;
	__u64 soft;
	__u64 hard;
	__u64 peak_inflight;
	__u64 limit_hits;
	__u64 throttle_episodes;
	__u64 submitted;
	__u64 reserved[2];
};

/*
 * struct sysmsg_stats - SYSMSG_IOC_PROC_STATS: every process using sysmsg.
 * @procs:    struct sysmsg_proc_stats array (in).
 * @max:      its length (in; 0 to only count).
 * @count:    how many were stored (out).
 * @total:    how many processes use sysmsg (out).
 * @reserved: zero.
 */
struct sysmsg_stats {
	__u64 procs;
	__u32 max;
	__u32 count;
	__u32 total;
	__u32 reserved0;
	__u64 reserved[2];
};

/* SYSMSG_IOC_CANCEL flags: every message of the caller in flight on the file. */
#define SYSMSG_CANCEL_ALL (1U << 0)

/*
 * struct sysmsg_cancel - SYSMSG_IOC_CANCEL: stop messages of the calling
 * process on this file (32 bytes). Only the caller's own messages are ever
 * matched: tags are private to a process.
 * @tag:       the tag to cancel: every in-flight message with this tag (in;
 *             must be 0 with SYSMSG_CANCEL_ALL).
 * @flags:     SYSMSG_CANCEL_* (in).
 * @cancelled: messages stopped (out): a sleep whose timer was cancelled, a
 *             file operation taken off the file's wait queue or off the
 *             worker queue before it started. Each still gets exactly one
 *             reply, with result -ECANCELED.
 * @already:   matching messages that could not be stopped (out): executing
 *             on a worker, or completed and not yet reaped. Each gets its
 *             real reply.
 * @reserved:  zero.
 *
 * Returns the number of messages stopped (@cancelled). By tag, when nothing
 * was stopped, it fails with EALREADY if matching messages exist (@already)
 * and with ENOENT if none does (never submitted, already reaped, or a NOP,
 * which completes at submit) - io_uring's 0 / -EALREADY / -ENOENT. With
 * SYSMSG_CANCEL_ALL it never fails for want of messages and returns 0 then.
 */
struct sysmsg_cancel {
	__u64 tag;
	__u32 flags;
	__u32 cancelled;
	__u32 already;
	__u32 reserved[3];
};

#define SYSMSG_IOC_NR_GET_INFO (SYSMSG_IOC_NR_BASE + 0)
#define SYSMSG_IOC_NR_SUBMIT (SYSMSG_IOC_NR_BASE + 1)
#define SYSMSG_IOC_NR_REAP (SYSMSG_IOC_NR_BASE + 2)
#define SYSMSG_IOC_NR_GET_LIMITS (SYSMSG_IOC_NR_BASE + 3)
#define SYSMSG_IOC_NR_SET_LIMITS (SYSMSG_IOC_NR_BASE + 4)
#define SYSMSG_IOC_NR_PROC_STATS (SYSMSG_IOC_NR_BASE + 5)
#define SYSMSG_IOC_NR_CANCEL (SYSMSG_IOC_NR_BASE + 6)

#define SYSMSG_IOC_GET_INFO \
	_IOR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_GET_INFO, struct sysmsg_info)
#define SYSMSG_IOC_SUBMIT \
	_IOWR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_SUBMIT, struct sysmsg_submit)
#define SYSMSG_IOC_REAP \
	_IOWR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_REAP, struct sysmsg_reap)
#define SYSMSG_IOC_GET_LIMITS \
	_IOWR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_GET_LIMITS, struct sysmsg_limits)
#define SYSMSG_IOC_SET_LIMITS \
	_IOWR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_SET_LIMITS, struct sysmsg_limits)
#define SYSMSG_IOC_PROC_STATS \
	_IOWR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_PROC_STATS, struct sysmsg_stats)
#define SYSMSG_IOC_CANCEL \
	_IOWR(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_CANCEL, struct sysmsg_cancel)

#endif /* _UAPI_LINUX_SYSMSG_H */
