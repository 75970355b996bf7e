// SPDX-License-Identifier: GPL-2.0
/*
 * libsysmsg: see libsysmsg.h for the API and its conventions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "libsysmsg.h"

/* Replies a synchronous helper takes from the kernel at once. */
#define SYSMSG_SYNC_REAP 16

int sysmsg_open_fd(struct sysmsg *s, int fd, unsigned int batch_entries, int flags)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	if (flags & ~(int)SYSMSG_LIB_FLAGS_ALL) {
		sysmsg_close(s);
		return -EINVAL;
	}
	s->flags = flags;
	if (batch_entries) {
		s->batch = calloc(batch_entries, sizeof(*s->batch));
		if (!s->batch) {
			sysmsg_close(s);
			return -ENOMEM;
		}
	}
	s->batch_entries = batch_entries;
	return 0;
}

int sysmsg_open(struct sysmsg *s, unsigned int batch_entries, int flags)
{
	int fd;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	if (flags & ~(int)SYSMSG_LIB_FLAGS_ALL)
		return -EINVAL;
	fd = open(SYSMSG_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return sysmsg_open_fd(s, fd, batch_entries, flags);
}

void sysmsg_close(struct sysmsg *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->batch);
	s->batch = NULL;
	s->batch_entries = 0;
	s->batch_count = 0;
	free(s->backlog);
	s->backlog = NULL;
	s->backlog_head = 0;
	s->backlog_count = 0;
	s->backlog_cap = 0;
}

int sysmsg_get_info(struct sysmsg *s, struct sysmsg_info *info)
{
	memset(info, 0, sizeof(*info));
	if (ioctl(s->fd, SYSMSG_IOC_GET_INFO, info) < 0)
		return -errno;
	return 0;
}

struct sysmsg_msg *sysmsg_get_msg(struct sysmsg *s)
{
	struct sysmsg_msg *m;

	if (s->batch_count >= s->batch_entries)
		return NULL;
	m = &s->batch[s->batch_count++];
	memset(m, 0, sizeof(*m));
	return m;
}

void sysmsg_batch_drop(struct sysmsg *s, unsigned int n)
{
	if (n >= s->batch_count) {
		s->batch_count = 0;
		return;
	}
	memmove(s->batch, s->batch + n, (s->batch_count - n) * sizeof(*s->batch));
	s->batch_count -= n;
}

/*
 * One SYSMSG_IOC_SUBMIT of @n (>= 1) messages: the number the kernel
 * accepted, or -errno if it accepted none; *@err is the errno that refused
 * message number <accepted> (0 if all were accepted).
 */
static int sysmsg_kernel_submit(struct sysmsg *s, const struct sysmsg_msg *msgs, unsigned int n,
				int *err)
{
	struct sysmsg_submit sub;
	int ret;

	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)msgs;
	sub.count = n;
	ret = ioctl(s->fd, SYSMSG_IOC_SUBMIT, &sub);
	if (ret < 0) {
		*err = errno;
		return -errno;
	}
	s->submitted += ret;
	s->async_ops += ret;
	*err = ret < (int)n ? sub.error : 0;
	return ret;
}

/*
 * Whether to hand messages to the kernel: always outside fallback mode; in
 * it, once the device reports POLLOUT again (which ends fallback mode).
 */
static int sysmsg_may_submit(struct sysmsg *s)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLOUT };

	if (!s->fallback)
		return 1;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT)) {
		s->fallback = 0;
		return 1;
	}
	return 0;
}

static void sysmsg_enter_fallback(struct sysmsg *s)
{
	if (!s->fallback) {
		s->fallback = 1;
		s->fallbacks++;
	}
}

/* The ABI's EINVAL rules (what the kernel checks first at submit): 0 or EINVAL. */
static int sysmsg_msg_check(const struct sysmsg_msg *m)
{
	/* Fields each opcode uses. */
	enum { FD = 1, ADDR = 2, LEN = 4, OFF = 8, OPF = 16 };
	static const unsigned char uses[SYSMSG_OP_COUNT] = {
		[SYSMSG_OP_NOP] = 0,
		[SYSMSG_OP_NANOSLEEP] = ADDR | OPF,
		[SYSMSG_OP_READ] = FD | ADDR | LEN,
		[SYSMSG_OP_WRITE] = FD | ADDR | LEN,
		[SYSMSG_OP_PREAD] = FD | ADDR | LEN | OFF,
		[SYSMSG_OP_PWRITE] = FD | ADDR | LEN | OFF,
		[SYSMSG_OP_FSYNC] = FD,
		[SYSMSG_OP_FDATASYNC] = FD,
	};
	unsigned int u;

	if (m->flags || m->reserved0 || m->reserved1 || m->reserved[0] || m->reserved[1] ||
	    m->opcode >= SYSMSG_OP_COUNT)
		return EINVAL;
	u = uses[m->opcode];
	if ((!(u & FD) && m->fd) || (!(u & ADDR) && m->addr) || (!(u & LEN) && m->len) ||
	    (!(u & OFF) && m->offset) || (!(u & OPF) && m->op_flags) || m->offset < 0)
		return EINVAL;
	switch (m->opcode) {
	case SYSMSG_OP_NANOSLEEP:
		return m->op_flags & ~SYSMSG_SLEEP_ABSTIME ? EINVAL : 0;
	case SYSMSG_OP_READ:
	case SYSMSG_OP_PREAD:
		return m->len > (__u64)SSIZE_MAX ? EINVAL : 0;
	case SYSMSG_OP_WRITE:
	case SYSMSG_OP_PWRITE:
		return m->len > SYSMSG_MAX_IO_LEN ? EINVAL : 0;
	}
	return 0;
}

/*
 * Whether [@addr, @addr + @len) lies in the user half of the address space
 * (the kernel's access_ok() at submit, approximately: the top bit clear).
 */
static int sysmsg_user_range(__u64 addr, __u64 len)
{
	const __u64 top = sizeof(void *) == 8 ? 1ULL << 63 : (__u64)UINTPTR_MAX + 1;

	return addr <= top && len <= top - addr;
}

/*
 * write(2) or pwrite(2) that answers EPIPE without a SIGPIPE, as a message
 * does: the signal is blocked around the call and, if the call raised it
 * (it was not pending before), taken back. Retries on EINTR.
 */
static ssize_t sysmsg_write_nosig(int fd, const void *buf, size_t len, off_t off, int positional)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = { 0, 0 };
	int was_pending, saved;
	ssize_t ret;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	do {
		ret = positional ? pwrite(fd, buf, len, off) : write(fd, buf, len);
	} while (ret < 0 && errno == EINTR);
	saved = errno;
	if (ret < 0 && saved == EPIPE && !was_pending) {
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return ret;
}

/* clock_nanosleep(2) on CLOCK_MONOTONIC with a struct __kernel_timespec. */
static long sysmsg_clock_nanosleep(int flags, const struct __kernel_timespec *req,
				   struct __kernel_timespec *rem)
{
#ifdef SYS_clock_nanosleep_time64
	return syscall(SYS_clock_nanosleep_time64, CLOCK_MONOTONIC, flags, req, rem);
#else
	return syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, flags, req, rem);
#endif
}

/*
 * Performs message @m with the real system call, in the caller. Returns the
 * reply's result (what the call returned, or -errno); sets *@refuse to the
 * errno with which the kernel would have refused the message at submit (then
 * there is no reply, and nothing or nothing observable was done), else 0.
 */
static __s64 sysmsg_perform(const struct sysmsg_msg *m, int *refuse)
{
	void *addr = (void *)(uintptr_t)m->addr;
	struct __kernel_timespec left;
	const struct __kernel_timespec *req;
	__u64 len = m->len;
	ssize_t ret;
	int flags;

	*refuse = sysmsg_msg_check(m);
	if (*refuse)
		return 0;
	switch (m->opcode) {
	case SYSMSG_OP_NOP:
		return 0;
	case SYSMSG_OP_NANOSLEEP:
		/* The system call reads and checks the timespec: EFAULT, EINVAL refuse. */
		flags = m->op_flags & SYSMSG_SLEEP_ABSTIME ? TIMER_ABSTIME : 0;
		req = addr;
		while (sysmsg_clock_nanosleep(flags, req, flags ? NULL : &left) < 0) {
			if (errno != EINTR) {
				*refuse = errno;
				return 0;
			}
			if (!flags)
				req = &left;
		}
		return 0;
	case SYSMSG_OP_READ:
	case SYSMSG_OP_PREAD:
		if (len > SYSMSG_MAX_IO_LEN)
			len = SYSMSG_MAX_IO_LEN;
		if (!sysmsg_user_range(m->addr, len)) {
			/*
			 * The kernel checks the file (EBADF, ESPIPE) before the
			 * buffer (EFAULT); a read of 0 bytes checks just the file.
			 */
			ret = m->opcode == SYSMSG_OP_READ ? read(m->fd, addr, 0)
							 : pread(m->fd, addr, 0, m->offset);
			*refuse = ret < 0 ? errno : EFAULT;
			return 0;
		}
		do {
			ret = m->opcode == SYSMSG_OP_READ ? read(m->fd, addr, len)
							 : pread(m->fd, addr, len, m->offset);
		} while (ret < 0 && errno == EINTR);
		if (ret < 0 && (errno == EBADF || errno == ESPIPE))
			*refuse = errno;
		return ret < 0 ? -errno : ret;
	case SYSMSG_OP_WRITE:
	case SYSMSG_OP_PWRITE:
		ret = sysmsg_write_nosig(m->fd, addr, len, m->offset,
					 m->opcode == SYSMSG_OP_PWRITE);
		/* The kernel copies the data at submit: a bad buffer refuses. */
		if (ret < 0 && (errno == EBADF || errno == ESPIPE || errno == EFAULT))
			*refuse = errno;
		return ret < 0 ? -errno : ret;
	case SYSMSG_OP_FSYNC:
	case SYSMSG_OP_FDATASYNC:
		do {
			ret = m->opcode == SYSMSG_OP_FSYNC ? fsync(m->fd) : fdatasync(m->fd);
		} while (ret < 0 && errno == EINTR);
		if (ret < 0 && errno == EBADF)
			*refuse = EBADF;
		return ret < 0 ? -errno : 0;
	}
	*refuse = EINVAL;
	return 0;
}

static int sysmsg_backlog_reserve(struct sysmsg *s, unsigned int want);

/*
 * The fallback: performs @msgs[0..@n) in order, each reply going to the
 * backlog, until one is refused (*@err: its errno, else 0). Returns how many
 * were performed.
 */
static unsigned int sysmsg_perform_msgs(struct sysmsg *s, const struct sysmsg_msg *msgs,
					unsigned int n, int *err)
{
	struct sysmsg_reply *r;
	unsigned int i;
	int refuse;
	__s64 res;

	for (i = 0; i < n; i++) {
		/* Room first: a reply that has no place must not be produced. */
		if (sysmsg_backlog_reserve(s, 1) < 0) {
			*err = ENOMEM;
			return i;
		}
		res = sysmsg_perform(&msgs[i], &refuse);
		if (refuse) {
			*err = refuse;
			return i;
		}
		s->sync_ops++;
		if (sysmsg_tag_is_lib(msgs[i].tag)) {
			/* As sysmsg_wait() drops the kernel's replies with such tags. */
			s->dropped++;
			continue;
		}
		r = &s->backlog[s->backlog_head + s->backlog_count++];
		memset(r, 0, sizeof(*r));
		r->tag = msgs[i].tag;
		r->result = res;
		r->opcode = msgs[i].opcode;
	}
	*err = 0;
	return n;
}

int sysmsg_submit_msgs(struct sysmsg *s, const struct sysmsg_msg *msgs, unsigned int n,
		       int *err)
{
	unsigned int done = 0;
	int e = 0, ret;

	if (err)
		*err = 0;
	if (!n)
		return 0;
	/* The ioctl's return value is an int: keep counts representable. */
	if (n > INT_MAX)
		n = INT_MAX;

	if (sysmsg_may_submit(s)) {
		ret = sysmsg_kernel_submit(s, msgs, n, &e);
		done = ret > 0 ? (unsigned int)ret : 0;
		if (done == n || e != EAGAIN || (s->flags & SYSMSG_LIB_NO_FALLBACK))
			goto out;
		sysmsg_enter_fallback(s);
	}
	done += sysmsg_perform_msgs(s, msgs + done, n - done, &e);
out:
	s->submit_error = done < n ? e : 0;
	if (err)
		*err = s->submit_error;
	return done ? (int)done : -e;
}

int sysmsg_submit(struct sysmsg *s)
{
	int ret;

	ret = sysmsg_submit_msgs(s, s->batch, s->batch_count, NULL);
	if (ret > 0)
		sysmsg_batch_drop(s, ret);
	return ret;
}

int sysmsg_reap_fd(int fd, struct sysmsg_reply *r, unsigned int max, unsigned int flags,
		   unsigned int *count)
{
	struct sysmsg_reap rp;
	int ret;

	memset(&rp, 0, sizeof(rp));
	rp.replies = (__u64)(uintptr_t)r;
	rp.max = max;
	rp.flags = flags;
	ret = ioctl(fd, SYSMSG_IOC_REAP, &rp);
	if (ret < 0)
		return -errno;
	if (count)
		*count = rp.count;
	return ret;
}

/* One SYSMSG_IOC_REAP: the number of replies stored in @r, or -errno. */
static int sysmsg_reap(struct sysmsg *s, struct sysmsg_reply *r, unsigned int max,
		       unsigned int flags)
{
	int ret = sysmsg_reap_fd(s->fd, r, max, flags, NULL);

	if (ret > 0)
		s->reaped += ret;
	return ret;
}

/* Removes replies to abandoned synchronous messages from @r[0..@n). */
static unsigned int sysmsg_drop_lib(struct sysmsg *s, struct sysmsg_reply *r, unsigned int n)
{
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		if (sysmsg_tag_is_lib(r[i].tag)) {
			s->dropped++;
			continue;
		}
		if (k != i)
			r[k] = r[i];
		k++;
	}
	return k;
}

/* Moves up to @max replies from the backlog to @r; returns how many. */
static unsigned int sysmsg_backlog_take(struct sysmsg *s, struct sysmsg_reply *r,
					unsigned int max)
{
	unsigned int n = s->backlog_count < max ? s->backlog_count : max;

	if (!n)
		return 0;
	memcpy(r, s->backlog + s->backlog_head, n * sizeof(*r));
	s->backlog_head += n;
	s->backlog_count -= n;
	if (!s->backlog_count)
		s->backlog_head = 0;
	return n;
}

/*
 * Makes room for @want more replies at the end of the backlog, if it can.
 * Returns the room there is (>= 1), or -ENOMEM when there is none at all.
 */
static int sysmsg_backlog_reserve(struct sysmsg *s, unsigned int want)
{
	unsigned int end, cap;
	struct sysmsg_reply *b;

	if (s->backlog_head && s->backlog_head + s->backlog_count + want > s->backlog_cap) {
		memmove(s->backlog, s->backlog + s->backlog_head,
			s->backlog_count * sizeof(*s->backlog));
		s->backlog_head = 0;
	}
	end = s->backlog_head + s->backlog_count;
	if (end + want > s->backlog_cap) {
		cap = s->backlog_cap ? s->backlog_cap : 64;
		while (cap < end + want && cap <= UINT_MAX / 2)
			cap *= 2;
		b = realloc(s->backlog, (size_t)cap * sizeof(*b));
		if (b) {
			s->backlog = b;
			s->backlog_cap = cap;
		}
	}
	if (s->backlog_cap <= end)
		return -ENOMEM;
	return s->backlog_cap - end < want ? (int)(s->backlog_cap - end) : (int)want;
}

static int sysmsg_reap_user(struct sysmsg *s, struct sysmsg_reply *r, unsigned int max,
			    unsigned int flags)
{
	unsigned int n;
	int ret;

	if (!max)
		return -EINVAL;
	n = sysmsg_backlog_take(s, r, max);
	if (n) {
		/* Do not wait, but add what is ready already. */
		flags |= SYSMSG_REAP_NOWAIT;
	}
	while (n < max) {
		ret = sysmsg_reap(s, r + n, max - n, flags);
		if (ret == -EAGAIN && (flags & SYSMSG_REAP_NOWAIT))
			break;
		if (ret < 0)
			return n ? (int)n : ret;
		if (!ret)
			break;
		n += sysmsg_drop_lib(s, r + n, ret);
		/*
		 * Stop once something was stored; go on (waiting again if we
		 * may) only when everything reaped was dropped.
		 */
		if (n)
			break;
	}
	return n;
}

int sysmsg_wait(struct sysmsg *s, struct sysmsg_reply *r, unsigned int max)
{
	return sysmsg_reap_user(s, r, max, 0);
}

int sysmsg_peek(struct sysmsg *s, struct sysmsg_reply *r, unsigned int max)
{
	return sysmsg_reap_user(s, r, max, SYSMSG_REAP_NOWAIT);
}

int sysmsg_submit_reap_fd(int fd, const struct sysmsg_msg *msgs, unsigned int n,
			  unsigned int flags, struct sysmsg_reply *r, unsigned int max, int *err,
			  unsigned int *reaped)
{
	struct sysmsg_submit sub;
	int ret, e;

	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)msgs;
	sub.count = n;
	sub.flags = flags;
	sub.replies = (__u64)(uintptr_t)r;
	sub.reap_max = max;
	ret = ioctl(fd, SYSMSG_IOC_SUBMIT, &sub);
	e = ret < 0 ? errno : 0;
	/*
	 * The kernel writes the structure back also when none was accepted;
	 * when it refused the call itself, reaped is still 0 from here.
	 */
	if (reaped)
		*reaped = sub.reaped <= max ? sub.reaped : 0;
	if (err)
		*err = ret < 0 ? e : (ret < (int)n ? sub.error : 0);
	return ret < 0 ? -e : ret;
}

int sysmsg_submit_reap(struct sysmsg *s, const struct sysmsg_msg *msgs, unsigned int n,
		       struct sysmsg_reply *r, unsigned int max, unsigned int flags, int *err,
		       unsigned int *nr)
{
	const unsigned int reap_flags = SYSMSG_SUBMIT_REAP | SYSMSG_SUBMIT_REAP_WAIT;
	unsigned int got, done = 0, k = 0, kept;
	int wait = !!(flags & SYSMSG_SUBMIT_REAP_WAIT), e = 0, ret = 0;

	if (err)
		*err = 0;
	if (nr)
		*nr = 0;
	if (!max || !(flags & reap_flags) || (flags & ~reap_flags)) {
		if (err)
			*err = EINVAL;
		return -EINVAL;
	}
	/* The ioctl's return value is an int: keep counts representable. */
	if (n > INT_MAX)
		n = INT_MAX;

	/* Replies the library holds come first; then it does not wait. */
	got = sysmsg_backlog_take(s, r, max);
	if (got)
		wait = 0;
	if (got == max) {
		/* No room left: only submit. */
		ret = sysmsg_submit_msgs(s, msgs, n, err);
		if (nr)
			*nr = got;
		return ret;
	}

	if (sysmsg_may_submit(s)) {
		ret = sysmsg_submit_reap_fd(s->fd, msgs, n,
					    wait ? SYSMSG_SUBMIT_REAP_WAIT : SYSMSG_SUBMIT_REAP,
					    r + got, max - got, &e, &k);
		if (ret > 0) {
			done = ret;
			s->submitted += ret;
			s->async_ops += ret;
		}
		s->reaped += k;
		kept = sysmsg_drop_lib(s, r + got, k);
		got += kept;
		if (ret < 0 && !n) {
			/* The call itself was refused (EINVAL, EFAULT): nothing done. */
			s->submit_error = e;
			if (err)
				*err = e;
			if (nr)
				*nr = got;
			return -e;
		}
		if (done < n && e == EAGAIN && !(s->flags & SYSMSG_LIB_NO_FALLBACK)) {
			sysmsg_enter_fallback(s);
			done += sysmsg_perform_msgs(s, msgs + done, n - done, &e);
		}
		/* The fallback's replies, as far as there is room. */
		got += sysmsg_backlog_take(s, r + got, max - got);
		/*
		 * Everything the kernel stored was a library reply: wait again,
		 * as the caller asked to (but not after a refusal, or after a
		 * signal or a fault ended the reap part: then k is 0).
		 */
		if (!got && k && wait && done == n) {
			ret = sysmsg_reap_user(s, r, max, 0);
			if (ret > 0)
				got = ret;
		}
	} else {
		/* Fallback mode: perform them here, then take what is ready. */
		done = sysmsg_perform_msgs(s, msgs, n, &e);
		ret = sysmsg_reap_user(s, r + got, max - got,
				       !got && wait && done == n ? 0 : SYSMSG_REAP_NOWAIT);
		if (ret > 0)
			got += ret;
	}
	s->submit_error = done < n ? e : 0;
	if (err)
		*err = s->submit_error;
	if (nr)
		*nr = got;
	return done ? (int)done : (done < n ? -e : 0);
}

/*
 * Submits @m under a library tag and waits for its reply. Returns the reply's
 * result, or -errno if the message was refused or could not be waited for.
 */
static __s64 sysmsg_sync(struct sysmsg *s, struct sysmsg_msg *m)
{
	struct sysmsg_reply r[SYSMSG_SYNC_REAP];
	__s64 result = 0;
	int found = 0, err;
	__u64 tag;
	int i, n;

	tag = SYSMSG_TAG_LIB_BASE | (s->sync_seq++ & ~SYSMSG_TAG_LIB_BASE);
	m->tag = tag;
	if (!sysmsg_may_submit(s))
		goto direct;
	n = sysmsg_kernel_submit(s, m, 1, &err);
	if (n == -EAGAIN && !(s->flags & SYSMSG_LIB_NO_FALLBACK)) {
		sysmsg_enter_fallback(s);
		goto direct;
	}
	s->submit_error = err;
	if (n < 0)
		return n;

	while (!found) {
		/* Every reply taken must have a place: nothing may be lost. */
		n = sysmsg_backlog_reserve(s, SYSMSG_SYNC_REAP);
		if (n < 0)
			return n;
		n = sysmsg_reap(s, r, n, 0);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return n;
		for (i = 0; i < n; i++) {
			if (r[i].tag == tag) {
				result = r[i].result;
				found = 1;
			} else if (sysmsg_tag_is_lib(r[i].tag)) {
				s->dropped++;
			} else {
				s->backlog[s->backlog_head + s->backlog_count++] = r[i];
			}
		}
	}
	return result;

direct:
	/* The fallback: the system call itself, in the caller. */
	result = sysmsg_perform(m, &err);
	s->submit_error = err;
	if (err)
		return -err;
	s->sync_ops++;
	return result;
}

/* The system call's convention: -1 and errno for a negative result. */
static ssize_t sysmsg_sync_ret(__s64 result)
{
	if (result < 0) {
		errno = (int)-result;
		return -1;
	}
	return (ssize_t)result;
}

ssize_t sysmsg_read_sync(struct sysmsg *s, int fd, void *buf, size_t len)
{
	struct sysmsg_msg m;

	sysmsg_prep_read(&m, fd, buf, len, 0);
	return sysmsg_sync_ret(sysmsg_sync(s, &m));
}

ssize_t sysmsg_write_sync(struct sysmsg *s, int fd, const void *buf, size_t len)
{
	struct sysmsg_msg m;

	sysmsg_prep_write(&m, fd, buf, len, 0);
	return sysmsg_sync_ret(sysmsg_sync(s, &m));
}

ssize_t sysmsg_pread_sync(struct sysmsg *s, int fd, void *buf, size_t len, __s64 offset)
{
	struct sysmsg_msg m;

	sysmsg_prep_pread(&m, fd, buf, len, offset, 0);
	return sysmsg_sync_ret(sysmsg_sync(s, &m));
}

ssize_t sysmsg_pwrite_sync(struct sysmsg *s, int fd, const void *buf, size_t len, __s64 offset)
{
	struct sysmsg_msg m;

	sysmsg_prep_pwrite(&m, fd, buf, len, offset, 0);
	return sysmsg_sync_ret(sysmsg_sync(s, &m));
}

int sysmsg_fsync_sync(struct sysmsg *s, int fd)
{
	struct sysmsg_msg m;

	sysmsg_prep_fsync(&m, fd, 0);
	return (int)sysmsg_sync_ret(sysmsg_sync(s, &m));
}

int sysmsg_fdatasync_sync(struct sysmsg *s, int fd)
{
	struct sysmsg_msg m;

	sysmsg_prep_fdatasync(&m, fd, 0);
	return (int)sysmsg_sync_ret(sysmsg_sync(s, &m));
}

int sysmsg_nanosleep_sync(struct sysmsg *s, const struct __kernel_timespec *ts,
			  unsigned int op_flags)
{
	struct sysmsg_msg m;

	sysmsg_prep_nanosleep(&m, ts, op_flags, 0);
	return (int)sysmsg_sync_ret(sysmsg_sync(s, &m));
}

int sysmsg_nop_sync(struct sysmsg *s)
{
	struct sysmsg_msg m;

	sysmsg_prep_nop(&m, 0);
	return (int)sysmsg_sync_ret(sysmsg_sync(s, &m));
}

int sysmsg_limits_fd(int fd, unsigned long cmd, pid_t pid, unsigned int flags, __u64 soft,
		     __u64 hard, struct sysmsg_limits *out)
{
	struct sysmsg_limits l;

	memset(&l, 0, sizeof(l));
	l.pid = pid;
	l.flags = flags;
	l.soft = soft;
	l.hard = hard;
	if (ioctl(fd, cmd, &l) < 0)
		return -errno;
	if (out)
		*out = l;
	return 0;
}

int sysmsg_get_limits(struct sysmsg *s, pid_t pid, __u64 *soft, __u64 *hard)
{
	struct sysmsg_limits l = { 0 };
	int ret = sysmsg_limits_fd(s->fd, SYSMSG_IOC_GET_LIMITS, pid, 0, 0, 0, &l);

	if (ret)
		return ret;
	if (soft)
		*soft = l.soft;
	if (hard)
		*hard = l.hard;
	return 0;
}

int sysmsg_set_limits(struct sysmsg *s, pid_t pid, unsigned int flags, __u64 soft, __u64 hard)
{
	return sysmsg_limits_fd(s->fd, SYSMSG_IOC_SET_LIMITS, pid, flags, soft, hard, NULL);
}

int sysmsg_proc_stats(struct sysmsg *s, struct sysmsg_proc_stats *procs, unsigned int max,
		      unsigned int *total)
{
	struct sysmsg_stats st;

	memset(&st, 0, sizeof(st));
	st.procs = (__u64)(uintptr_t)procs;
	st.max = max;
	if (ioctl(s->fd, SYSMSG_IOC_PROC_STATS, &st) < 0)
		return -errno;
	if (total)
		*total = st.total;
	return (int)st.count;
}

int sysmsg_proc_stats_pid(struct sysmsg *s, pid_t pid, struct sysmsg_proc_stats *st)
{
	struct sysmsg_proc_stats *procs = NULL;
	unsigned int total = 0, max, i;
	int n, tries, ret = -ESRCH;

	if (!pid)
		pid = getpid();
	n = sysmsg_proc_stats(s, NULL, 0, &total);
	if (n < 0)
		return n;
	/* Processes may come meanwhile: ask again with more room if they did. */
	for (tries = 0; tries < 8; tries++) {
		max = total + 16;
		free(procs);
		procs = calloc(max, sizeof(*procs));
		if (!procs)
			return -ENOMEM;
		n = sysmsg_proc_stats(s, procs, max, &total);
		if (n < 0) {
			ret = n;
			break;
		}
		for (i = 0; i < (unsigned int)n; i++) {
			if (procs[i].pid == pid) {
				*st = procs[i];
				free(procs);
				return 0;
			}
		}
		if (total <= max)
			break;
	}
	free(procs);
	return ret;
}

int sysmsg_cancel_fd(int fd, __u64 tag, unsigned int flags, struct sysmsg_cancel *out)
{
	struct sysmsg_cancel c;
	int ret, saved;

	memset(&c, 0, sizeof(c));
	c.tag = tag;
	c.flags = flags;
	ret = ioctl(fd, SYSMSG_IOC_CANCEL, &c);
	saved = errno;
	if (out)
		*out = c;
	errno = saved;
	return ret;
}

int sysmsg_cancel(struct sysmsg *s, __u64 tag, unsigned int flags, struct sysmsg_cancel *out)
{
	struct sysmsg_cancel c;
	unsigned int i, held = 0;
	int ret, saved;

	ret = sysmsg_cancel_fd(s->fd, tag, flags, &c);
	saved = ret < 0 ? errno : 0;
	if (ret >= 0 || saved == ENOENT || saved == EALREADY) {
		/* Replies in the backlog: completed, not yet handed out. */
		for (i = 0; i < s->backlog_count; i++)
			if ((flags & SYSMSG_CANCEL_ALL) || s->backlog[s->backlog_head + i].tag == tag)
				held++;
		c.already += held;
		if (ret < 0 && saved == ENOENT && held)
			saved = EALREADY;
	}
	if (out)
		*out = c;
	if (ret < 0)
		errno = saved;
	return ret;
}
