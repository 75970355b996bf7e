// SPDX-License-Identifier: GPL-2.0
/*
 * libsysmsg: see libsysmsg.h for the API and its conventions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "libsysmsg.h"

/* Replies a synchronous helper takes from the kernel at once. */
#define SYSMSG_SYNC_REAP 16

int sysmsg_open_fd(struct sysmsg *s, int fd, unsigned int batch_entries, int flags)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	if (flags) {
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
	if (flags)
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

int sysmsg_submit_msgs(struct sysmsg *s, const struct sysmsg_msg *msgs, unsigned int n,
		       int *err)
{
	struct sysmsg_submit sub;
	int ret;

	if (err)
		*err = 0;
	if (!n)
		return 0;
	/* The ioctl's return value is an int: keep counts representable. */
	if (n > INT_MAX)
		n = INT_MAX;

	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)msgs;
	sub.count = n;
	ret = ioctl(s->fd, SYSMSG_IOC_SUBMIT, &sub);
	if (ret < 0) {
		ret = -errno;
		s->submit_error = -ret;
		if (err)
			*err = -ret;
		return ret;
	}
	s->submitted += ret;
	s->submit_error = ret < (int)n ? sub.error : 0;
	if (err)
		*err = s->submit_error;
	return ret;
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

/*
 * Submits @m under a library tag and waits for its reply. Returns the reply's
 * result, or -errno if the message was refused or could not be waited for.
 */
static __s64 sysmsg_sync(struct sysmsg *s, struct sysmsg_msg *m)
{
	struct sysmsg_reply r[SYSMSG_SYNC_REAP];
	__s64 result = 0;
	int found = 0;
	__u64 tag;
	int i, n;

	tag = SYSMSG_TAG_LIB_BASE | (s->sync_seq++ & ~SYSMSG_TAG_LIB_BASE);
	m->tag = tag;
	n = sysmsg_submit_msgs(s, m, 1, NULL);
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
