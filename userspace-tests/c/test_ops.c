// SPDX-License-Identifier: GPL-2.0
/*
 * Every operation, through the raw write()/read() interface and through
 * libsysmsg: NOP, NANOSLEEP (relative and absolute), READ/WRITE at the file
 * position, PREAD/PWRITE, FSYNC/FDATASYNC, on regular files, pipes, sockets
 * and eventfd; the clamping of long reads; tags and opcodes of replies;
 * completion order; SYSMSG_IOC_GET_INFO.
 */
#define _GNU_SOURCE
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "testlib.h"

_Static_assert(sizeof(struct sysmsg_msg) == 64, "sysmsg_msg is 64 bytes");
_Static_assert(sizeof(struct sysmsg_reply) == 32, "sysmsg_reply is 32 bytes");

static int devfd;
static __u64 next_tag = 0x5000;

/* The reply @r is the one to @m: tag, opcode, zero reserved fields. */
static int reply_matches(const struct sysmsg_reply *r, const struct sysmsg_msg *m)
{
	return r->tag == m->tag && r->opcode == m->opcode && reply_reserved_zero(r);
}

/*
 * Submits @m alone with write(2) and reads its reply with read(2): one TAP
 * line for each. Returns 1 if the reply came (in @r).
 */
static int roundtrip(struct sysmsg_msg *m, struct sysmsg_reply *r, const char *what)
{
	int n;

	m->tag = next_tag++;
	n = raw_write(devfd, m, 1);
	if (n < 0)
		errno = -n;
	if (!tap_ok(n == 1, "%s: write() accepts the message", what))
		return 0;
	memset(r, 0xa5, sizeof(*r));
	n = read_n(devfd, r, 1, 30);
	return tap_ok(n == 1 && reply_matches(r, m), "%s: read() returns its reply (tag, opcode)",
		      what);
}

static void test_info(void)
{
	struct sysmsg_info info;
	__u64 ops = (1ULL << SYSMSG_OP_COUNT) - 1;
	int ok;

	memset(&info, 0xa5, sizeof(info));
	ok = tap_ok(ioctl(devfd, SYSMSG_IOC_GET_INFO, &info) == 0, "GET_INFO succeeds");
	if (!ok)
		return;
	diag("info: abi %u, size %u, features %#llx, ops %#llx, msg %u, reply %u, max_io_len %u, queue_limit %u",
	     info.abi_version, info.info_size, (unsigned long long)info.features,
	     (unsigned long long)info.ops, info.msg_size, info.reply_size, info.max_io_len,
	     info.queue_limit);
	tap_ok(info.abi_version == SYSMSG_ABI_VERSION, "info.abi_version == %u", SYSMSG_ABI_VERSION);
	tap_ok(info.info_size == sizeof(info), "info.info_size == %zu", sizeof(info));
	tap_ok(info.ops == ops, "info.ops has bits 0..%d and no other (%#llx)", SYSMSG_OP_COUNT - 1,
	       (unsigned long long)info.ops);
	tap_ok(info.msg_size == 64, "info.msg_size == 64");
	tap_ok(info.reply_size == 32, "info.reply_size == 32");
	tap_ok(info.max_io_len == SYSMSG_MAX_IO_LEN, "info.max_io_len == SYSMSG_MAX_IO_LEN");
	tap_ok(info.queue_limit > 0, "info.queue_limit > 0 (%u)", info.queue_limit);
	tap_ok(!(info.features & ~SYSMSG_FEATURES_ALL), "info.features has only known bits");
	tap_ok(info.features & SYSMSG_FEATURE_POLL_ARM, "info.features has SYSMSG_FEATURE_POLL_ARM");
	tap_ok(!info.reserved[0] && !info.reserved[1] && !info.reserved[2],
	       "info.reserved[] is zeroed");
}

static void test_nop(void)
{
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	int n;

	sysmsg_prep_nop(&m, next_tag++);
	n = raw_write(devfd, &m, 1);
	tap_ok(n == 1, "NOP: write() returns 64 bytes");
	n = raw_reap(devfd, &r, 1, SYSMSG_REAP_NOWAIT);
	tap_ok(n == 1 && reply_matches(&r, &m) && r.result == 0,
	       "NOP: its reply (result 0) is ready as soon as write() returns");

	sysmsg_prep_nop(&m, 0);
	if (roundtrip(&m, &r, "NOP with tag via read()"))
		tap_ok(r.result == 0, "NOP: result 0");

	/* Any tag value comes back as it was. */
	sysmsg_prep_nop(&m, ~0ULL);
	n = raw_write(devfd, &m, 1);
	n = n == 1 ? read_n(devfd, &r, 1, 30) : 0;
	tap_ok(n == 1 && r.tag == ~0ULL, "NOP: tag ~0 comes back unchanged");
}

static void test_nanosleep(void)
{
	struct __kernel_timespec ts;
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	long long t0, t1, target;
	int n;

	/* Relative: at least the time asked; not complete right after submit. */
	ts = kts_ms(200);
	sysmsg_prep_nanosleep(&m, &ts, 0, next_tag++);
	t0 = now_ns();
	n = raw_write(devfd, &m, 1);
	tap_ok(n == 1, "NANOSLEEP 200 ms: accepted");
	/* The timespec was copied in: changing it now must not matter. */
	ts.tv_sec = 1000;
	tap_ok(raw_reap(devfd, &r, 1, SYSMSG_REAP_NOWAIT) == -EAGAIN,
	       "NANOSLEEP 200 ms: no reply right after submit");
	n = read_n(devfd, &r, 1, 30);
	t1 = now_ns();
	tap_ok(n == 1 && reply_matches(&r, &m) && r.result == 0,
	       "NANOSLEEP 200 ms: reply with result 0 (the timespec was copied at submit)");
	tap_ok(t1 - t0 >= 200 * NSEC_PER_MSEC, "NANOSLEEP 200 ms: took %lld ms >= 200 ms",
	       (t1 - t0) / NSEC_PER_MSEC);

	/* Zero: completes. */
	ts = kts_ms(0);
	sysmsg_prep_nanosleep(&m, &ts, 0, 0);
	if (roundtrip(&m, &r, "NANOSLEEP 0"))
		tap_ok(r.result == 0, "NANOSLEEP 0: result 0");

	/* Absolute, in the future. */
	target = now_ns() + 150 * NSEC_PER_MSEC;
	ts = kts_abs_ns(target);
	sysmsg_prep_nanosleep(&m, &ts, SYSMSG_SLEEP_ABSTIME, 0);
	if (roundtrip(&m, &r, "NANOSLEEP ABSTIME now+150 ms")) {
		t1 = now_ns();
		tap_ok(r.result == 0, "NANOSLEEP ABSTIME: result 0");
		tap_ok(t1 >= target, "NANOSLEEP ABSTIME: completed at or after the time (%lld ms late)",
		       (t1 - target) / NSEC_PER_MSEC);
	}

	/* Absolute, in the past: at once. */
	ts = kts_abs_ns(now_ns() - NSEC_PER_SEC);
	sysmsg_prep_nanosleep(&m, &ts, SYSMSG_SLEEP_ABSTIME, 0);
	t0 = now_ns();
	if (roundtrip(&m, &r, "NANOSLEEP ABSTIME one second ago")) {
		t1 = now_ns();
		tap_ok(r.result == 0 && t1 - t0 < NSEC_PER_SEC,
		       "NANOSLEEP ABSTIME in the past: completes at once (%lld ms)",
		       (t1 - t0) / NSEC_PER_MSEC);
	}
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	sysmsg_prep_nanosleep(&m, &ts, SYSMSG_SLEEP_ABSTIME, 0);
	if (roundtrip(&m, &r, "NANOSLEEP ABSTIME 0"))
		tap_ok(r.result == 0, "NANOSLEEP ABSTIME 0: result 0");
}

static void test_regular_file(void)
{
	char path[64], buf[256];
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	struct stat st;
	int fd, afd, rofd;
	off_t pos;

	fd = tmpfile_open(path, O_CLOEXEC);
	if (!tap_ok(fd >= 0, "a temporary file in /tmp"))
		return;

	/* WRITE at the file position, which advances. */
	sysmsg_prep_write(&m, fd, "hello, ", 7, 0);
	if (roundtrip(&m, &r, "WRITE 7 bytes to a file"))
		tap_ok(r.result == 7, "WRITE: result 7 (got %lld)", (long long)r.result);
	tap_ok(lseek(fd, 0, SEEK_CUR) == 7, "WRITE advanced the file position to 7");
	sysmsg_prep_write(&m, fd, "world", 5, 0);
	if (roundtrip(&m, &r, "WRITE 5 more bytes"))
		tap_ok(r.result == 5, "WRITE: result 5");
	tap_ok(lseek(fd, 0, SEEK_CUR) == 12, "the file position is 12");
	memset(buf, 0, sizeof(buf));
	tap_ok(pread(fd, buf, sizeof(buf), 0) == 12 && !memcmp(buf, "hello, world", 12),
	       "the file holds \"hello, world\"");

	/* READ at the file position, which advances. */
	lseek(fd, 0, SEEK_SET);
	memset(buf, 'x', sizeof(buf));
	sysmsg_prep_read(&m, fd, buf, 5, 0);
	if (roundtrip(&m, &r, "READ 5 bytes from position 0"))
		tap_ok(r.result == 5 && !memcmp(buf, "hello", 5) && buf[5] == 'x',
		       "READ: 5 bytes \"hello\", nothing beyond");
	tap_ok(lseek(fd, 0, SEEK_CUR) == 5, "READ advanced the file position to 5");
	memset(buf, 'x', sizeof(buf));
	sysmsg_prep_read(&m, fd, buf, sizeof(buf), 0);
	if (roundtrip(&m, &r, "READ the rest"))
		tap_ok(r.result == 7 && !memcmp(buf, ", world", 7), "READ: the last 7 bytes");
	tap_ok(lseek(fd, 0, SEEK_CUR) == 12, "the file position is 12 (end of file)");
	sysmsg_prep_read(&m, fd, buf, sizeof(buf), 0);
	if (roundtrip(&m, &r, "READ at end of file"))
		tap_ok(r.result == 0, "READ at end of file: result 0");

	/* O_APPEND: a WRITE goes to the end whatever the position. */
	afd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	tap_ok(afd >= 0, "open the file again with O_APPEND");
	lseek(afd, 0, SEEK_SET);
	sysmsg_prep_write(&m, afd, "!!", 2, 0);
	if (roundtrip(&m, &r, "WRITE on an O_APPEND file"))
		tap_ok(r.result == 2, "O_APPEND WRITE: result 2");
	memset(buf, 0, sizeof(buf));
	tap_ok(fstat(fd, &st) == 0 && st.st_size == 14 && pread(fd, buf, 14, 0) == 14 &&
		       !memcmp(buf, "hello, world!!", 14),
	       "O_APPEND WRITE appended at the end (size %lld)", (long long)st.st_size);
	tap_ok(lseek(afd, 0, SEEK_CUR) == 14, "O_APPEND WRITE left the position at the end");
	close(afd);

	/* PWRITE/PREAD at offsets; the position does not move. */
	pos = lseek(fd, 3, SEEK_SET);
	sysmsg_prep_pwrite(&m, fd, "abc", 3, 100, 0);
	if (roundtrip(&m, &r, "PWRITE 3 bytes at offset 100"))
		tap_ok(r.result == 3, "PWRITE: result 3");
	memset(buf, 0, sizeof(buf));
	tap_ok(fstat(fd, &st) == 0 && st.st_size == 103 && pread(fd, buf, 3, 100) == 3 &&
		       !memcmp(buf, "abc", 3),
	       "PWRITE wrote at offset 100 (size %lld)", (long long)st.st_size);
	tap_ok(lseek(fd, 0, SEEK_CUR) == pos, "PWRITE did not move the file position");
	memset(buf, 'x', sizeof(buf));
	sysmsg_prep_pread(&m, fd, buf, 8, 98, 0);
	if (roundtrip(&m, &r, "PREAD 8 bytes at offset 98"))
		tap_ok(r.result == 5 && !memcmp(buf, "\0\0abc", 5) && buf[5] == 'x',
		       "PREAD: the 5 bytes up to the end of file");
	tap_ok(lseek(fd, 0, SEEK_CUR) == pos, "PREAD did not move the file position");
	sysmsg_prep_pread(&m, fd, buf, 8, 1000, 0);
	if (roundtrip(&m, &r, "PREAD past the end of file"))
		tap_ok(r.result == 0, "PREAD past the end of file: result 0");

	/* The syncs. */
	sysmsg_prep_fsync(&m, fd, 0);
	if (roundtrip(&m, &r, "FSYNC a file"))
		tap_ok(r.result == 0, "FSYNC: result 0");
	sysmsg_prep_fdatasync(&m, fd, 0);
	if (roundtrip(&m, &r, "FDATASYNC a file"))
		tap_ok(r.result == 0, "FDATASYNC: result 0");
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	sysmsg_prep_fsync(&m, rofd, 0);
	if (roundtrip(&m, &r, "FSYNC a read-only descriptor"))
		tap_ok(r.result == 0, "FSYNC of a read-only descriptor: result 0 (as fsync(2))");
	close(rofd);

	close(fd);
	unlink(path);
}

/* A READ whose data is written back only when the reply is reaped. */
static void test_writeback_at_reap(void)
{
	struct pollfd pfd = { .fd = devfd, .events = POLLIN };
	char path[64], buf[8];
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	int fd, n;

	fd = tmpfile_open(path, O_CLOEXEC);
	if (fd < 0 || pwrite(fd, "DATA", 4, 0) != 4)
		return;
	memset(buf, 'x', sizeof(buf));
	sysmsg_prep_pread(&m, fd, buf, 4, 0, next_tag++);
	n = raw_write(devfd, &m, 1);
	tap_ok(n == 1 && poll(&pfd, 1, 30000) == 1 && (pfd.revents & POLLIN),
	       "PREAD: POLLIN once it completed");
	tap_ok(!memcmp(buf, "xxxx", 4), "PREAD: the buffer is untouched until the reply is reaped");
	n = read_n(devfd, &r, 1, 30);
	tap_ok(n == 1 && reply_matches(&r, &m) && r.result == 4 && !memcmp(buf, "DATA", 4),
	       "PREAD: reaping wrote the data back");
	close(fd);
	unlink(path);
}

static void test_pipe(void)
{
	char buf[4096], big[100];
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	ssize_t got, filled;
	int p[2], n;

	if (!tap_ok(pipe2(p, O_CLOEXEC) == 0, "pipe"))
		return;

	/* A READ that waits for data written later. */
	memset(buf, 'x', sizeof(buf));
	sysmsg_prep_read(&m, p[0], buf, 4, next_tag++);
	n = raw_write(devfd, &m, 1);
	tap_ok(n == 1, "pipe READ: accepted on an empty pipe");
	tap_ok(no_reply_for(devfd, 300), "pipe READ: no reply while the pipe is empty");
	tap_ok(write(p[1], "ping", 4) == 4, "write \"ping\" into the pipe");
	n = read_n(devfd, &r, 1, 30);
	tap_ok(n == 1 && reply_matches(&r, &m) && r.result == 4 && !memcmp(buf, "ping", 4),
	       "pipe READ: completes with the data written later");

	/* A WRITE into the pipe. */
	sysmsg_prep_write(&m, p[1], "pong", 4, 0);
	if (roundtrip(&m, &r, "pipe WRITE"))
		tap_ok(r.result == 4, "pipe WRITE: result 4");
	memset(buf, 0, sizeof(buf));
	tap_ok(read(p[0], buf, sizeof(buf)) == 4 && !memcmp(buf, "pong", 4),
	       "pipe WRITE: the data is in the pipe");

	/* A WRITE into a full pipe waits until there is room. */
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	filled = 0;
	while ((got = write(p[1], buf, sizeof(buf))) > 0)
		filled += got;
	fcntl(p[1], F_SETFL, 0);
	memset(big, 'B', sizeof(big));
	sysmsg_prep_write(&m, p[1], big, sizeof(big), next_tag++);
	n = raw_write(devfd, &m, 1);
	tap_ok(n == 1, "pipe WRITE into a full pipe (%zd bytes): accepted", filled);
	tap_ok(no_reply_for(devfd, 300), "pipe WRITE into a full pipe: no reply while it is full");
	/* Drain exactly the filler: what follows it is the message's data. */
	for (got = 0; filled > 0; filled -= got) {
		got = read(p[0], buf, (size_t)filled < sizeof(buf) ? (size_t)filled : sizeof(buf));
		if (got <= 0)
			break;
	}
	n = read_n(devfd, &r, 1, 30);
	tap_ok(n == 1 && reply_matches(&r, &m) && r.result == (long long)sizeof(big),
	       "pipe WRITE into a full pipe: completes once it was drained");
	memset(buf, 0, sizeof(buf));
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	got = read(p[0], buf, sizeof(buf));
	fcntl(p[0], F_SETFL, 0);
	tap_ok(got == (ssize_t)sizeof(big) && !memcmp(buf, big, sizeof(big)),
	       "pipe WRITE into a full pipe: the data arrived whole (%zd bytes)", got);

	/* End of file: the writer is gone. */
	close(p[1]);
	sysmsg_prep_read(&m, p[0], buf, 4, 0);
	if (roundtrip(&m, &r, "pipe READ with no writer"))
		tap_ok(r.result == 0, "pipe READ with no writer: result 0 (end of file)");
	close(p[0]);
}

static void test_socketpair(void)
{
	struct sysmsg_msg m[2];
	struct sysmsg_reply r[2];
	char buf[16];
	int sv[2], n, ir, iw;

	if (!tap_ok(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair"))
		return;
	memset(buf, 'x', sizeof(buf));
	/* The READ is first in the batch: it has to wait for the WRITE. */
	sysmsg_prep_read(&m[0], sv[1], buf, 5, next_tag++);
	sysmsg_prep_write(&m[1], sv[0], "hello", 5, next_tag++);
	n = raw_write(devfd, m, 2);
	tap_ok(n == 2, "socket READ then WRITE in one batch: both accepted");
	n = read_n(devfd, r, 2, 30);
	ir = find_tag(r, n, m[0].tag);
	iw = find_tag(r, n, m[1].tag);
	tap_ok(n == 2 && ir >= 0 && iw >= 0, "socket: both replies");
	if (ir >= 0)
		tap_ok(r[ir].opcode == SYSMSG_OP_READ && r[ir].result == 5 &&
			       !memcmp(buf, "hello", 5),
		       "socket READ: 5 bytes \"hello\"");
	if (iw >= 0)
		tap_ok(r[iw].opcode == SYSMSG_OP_WRITE && r[iw].result == 5, "socket WRITE: 5 bytes");

	/* A socket READ waits for data sent later. */
	sysmsg_prep_read(&m[0], sv[0], buf, sizeof(buf), next_tag++);
	n = raw_write(devfd, m, 1);
	tap_ok(n == 1 && no_reply_for(devfd, 200), "socket READ waits for data");
	tap_ok(send(sv[1], "abc", 3, 0) == 3, "send 3 bytes");
	n = read_n(devfd, r, 1, 30);
	tap_ok(n == 1 && reply_matches(&r[0], &m[0]) && r[0].result == 3 && !memcmp(buf, "abc", 3),
	       "socket READ: completes with the 3 bytes sent");

	/* The peer hangs up: end of file. */
	close(sv[1]);
	sysmsg_prep_read(&m[0], sv[0], buf, sizeof(buf), 0);
	if (roundtrip(&m[0], &r[0], "socket READ after the peer closed"))
		tap_ok(r[0].result == 0, "socket READ after the peer closed: 0");
	close(sv[0]);
}

static void test_eventfd(void)
{
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	__u64 v = 0, three = 3;
	int efd, n;

	efd = eventfd(0, EFD_CLOEXEC);
	if (!tap_ok(efd >= 0, "eventfd"))
		return;
	sysmsg_prep_read(&m, efd, &v, sizeof(v), next_tag++);
	n = raw_write(devfd, &m, 1);
	tap_ok(n == 1 && no_reply_for(devfd, 200), "eventfd READ waits while the counter is 0");
	eventfd_write(efd, 5);
	n = read_n(devfd, &r, 1, 30);
	tap_ok(n == 1 && reply_matches(&r, &m) && r.result == 8 && v == 5,
	       "eventfd READ: 8 bytes, the value 5 (got %llu)", (unsigned long long)v);

	sysmsg_prep_write(&m, efd, &three, sizeof(three), 0);
	if (roundtrip(&m, &r, "eventfd WRITE of 3"))
		/* eventfd has only a legacy ->write: EINVAL (README, "Operations"). */
		tap_ok(r.result == -EINVAL && poll(&(struct pollfd){ .fd = efd, .events = POLLIN }, 1, 0) == 0,
		       "eventfd WRITE: -EINVAL, the counter untouched");
	close(efd);
}

/* READ/PREAD longer than SYSMSG_MAX_IO_LEN are clamped; a WRITE of it is not. */
/* An O_NONBLOCK file keeps its meaning: a READ that would block answers -EAGAIN at once. */
static void test_nonblock(void)
{
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	char buf[8];
	int p[2];

	if (!tap_ok(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0, "an O_NONBLOCK pipe"))
		return;
	sysmsg_prep_read(&m, p[0], buf, sizeof(buf), 0);
	if (roundtrip(&m, &r, "READ of an empty O_NONBLOCK pipe"))
		tap_ok(r.result == -EAGAIN, "READ of an empty O_NONBLOCK pipe: -EAGAIN, as read(2)");
	tap_ok(write(p[1], "x", 1) == 1, "write a byte");
	sysmsg_prep_read(&m, p[0], buf, sizeof(buf), 0);
	if (roundtrip(&m, &r, "READ of a non-empty O_NONBLOCK pipe"))
		tap_ok(r.result == 1 && buf[0] == 'x', "READ of a non-empty O_NONBLOCK pipe: 1 byte");
	close(p[0]);
	close(p[1]);
}

static void test_clamp(void)
{
	size_t flen = SYSMSG_MAX_IO_LEN + 4096, blen = 2 * SYSMSG_MAX_IO_LEN;
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	unsigned char *data, *buf;
	char path[64];
	size_t i;
	int fd, good;

	fd = tmpfile_open(path, O_CLOEXEC);
	data = malloc(flen);
	buf = malloc(blen);
	if (!tap_ok(fd >= 0 && data && buf, "a file of 1 MiB + 4 KiB"))
		goto out;
	for (i = 0; i < flen; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 12));

	/* A WRITE of exactly SYSMSG_MAX_IO_LEN is allowed. */
	sysmsg_prep_write(&m, fd, data, SYSMSG_MAX_IO_LEN, 0);
	if (roundtrip(&m, &r, "WRITE of exactly SYSMSG_MAX_IO_LEN"))
		tap_ok(r.result == SYSMSG_MAX_IO_LEN, "WRITE of SYSMSG_MAX_IO_LEN: all of it");
	if (pwrite(fd, data + SYSMSG_MAX_IO_LEN, 4096, SYSMSG_MAX_IO_LEN) != 4096)
		diag("pwrite of the tail failed: %s", strerror(errno));

	lseek(fd, 0, SEEK_SET);
	memset(buf, 0xee, blen);
	sysmsg_prep_read(&m, fd, buf, blen, 0);
	if (roundtrip(&m, &r, "READ of 2 MiB from a longer file")) {
		good = !memcmp(buf, data, SYSMSG_MAX_IO_LEN) && buf[SYSMSG_MAX_IO_LEN] == 0xee;
		tap_ok(r.result == SYSMSG_MAX_IO_LEN && good,
		       "READ of 2 MiB: clamped to SYSMSG_MAX_IO_LEN (got %lld), data intact",
		       (long long)r.result);
	}
	tap_ok(lseek(fd, 0, SEEK_CUR) == SYSMSG_MAX_IO_LEN,
	       "the clamped READ advanced the position by SYSMSG_MAX_IO_LEN");
	memset(buf, 0xee, blen);
	sysmsg_prep_pread(&m, fd, buf, blen, 1, 0);
	if (roundtrip(&m, &r, "PREAD of 2 MiB at offset 1")) {
		good = !memcmp(buf, data + 1, SYSMSG_MAX_IO_LEN) && buf[SYSMSG_MAX_IO_LEN] == 0xee;
		tap_ok(r.result == SYSMSG_MAX_IO_LEN && good,
		       "PREAD of 2 MiB: clamped to SYSMSG_MAX_IO_LEN, data intact");
	}
out:
	free(data);
	free(buf);
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
}

/* Sleeps submitted longest first complete shortest first. */
static void test_out_of_order(void)
{
	struct __kernel_timespec ts[3] = { kts_ms(600), kts_ms(350), kts_ms(100) };
	struct sysmsg_msg m[3];
	struct sysmsg_reply r[3];
	int i, n;

	for (i = 0; i < 3; i++)
		sysmsg_prep_nanosleep(&m[i], &ts[i], 0, 3 - i);
	n = raw_write(devfd, m, 3);
	tap_ok(n == 3, "sleeps of 600, 350, 100 ms (tags 3, 2, 1): accepted");
	/* One read at a time: each reply as it completes. */
	for (i = 0; i < 3; i++)
		if (read_n(devfd, &r[i], 1, 30) != 1)
			break;
	tap_ok(i == 3 && r[0].tag == 1 && r[1].tag == 2 && r[2].tag == 3,
	       "the replies come in completion order: tags %llu, %llu, %llu",
	       (unsigned long long)r[0].tag, (unsigned long long)r[1].tag,
	       (unsigned long long)r[2].tag);
	tap_ok(r[0].opcode == SYSMSG_OP_NANOSLEEP && r[1].opcode == SYSMSG_OP_NANOSLEEP &&
		       r[2].opcode == SYSMSG_OP_NANOSLEEP && !r[0].result && !r[1].result &&
		       !r[2].result,
	       "each reply: opcode NANOSLEEP, result 0");
}

/* Every op in one batch, each with its own tag: each reply names its message. */
static void test_mixed_batch(void)
{
	struct __kernel_timespec ts = kts_ms(20);
	struct sysmsg_msg m[8];
	struct sysmsg_reply r[8];
	char path[64], rbuf[8], pbuf[8];
	__s64 want[8] = { 0, 0, 3, 3, 4, 2, 0, 0 };
	int fd, p[2], n, i, k, ok = 1;

	fd = tmpfile_open(path, O_CLOEXEC);
	if (fd < 0 || pipe2(p, O_CLOEXEC) || pwrite(fd, "0123456789", 10, 0) != 10)
		return;
	sysmsg_prep_nop(&m[0], 1000);
	sysmsg_prep_nanosleep(&m[1], &ts, 0, 1001);
	sysmsg_prep_read(&m[2], p[0], rbuf, 3, 1002);
	sysmsg_prep_write(&m[3], p[1], "xyz", 3, 1003);
	sysmsg_prep_pread(&m[4], fd, pbuf, 4, 6, 1004);
	sysmsg_prep_pwrite(&m[5], fd, "AB", 2, 20, 1005);
	sysmsg_prep_fsync(&m[6], fd, 1006);
	sysmsg_prep_fdatasync(&m[7], fd, 1007);
	n = raw_write(devfd, m, 8);
	tap_ok(n == 8, "a batch of all 8 opcodes: accepted");
	n = read_n(devfd, r, 8, 30);
	tap_ok(n == 8, "a batch of all 8 opcodes: 8 replies");
	for (i = 0; i < 8; i++) {
		k = find_tag(r, n, m[i].tag);
		if (k < 0 || r[k].opcode != m[i].opcode || r[k].result != want[i]) {
			diag("tag %llu: %s, opcode %u, result %lld (want %lld)",
			     (unsigned long long)m[i].tag, k < 0 ? "missing" : "found",
			     k < 0 ? 0 : r[k].opcode, k < 0 ? 0LL : (long long)r[k].result,
			     (long long)want[i]);
			ok = 0;
		}
	}
	tap_ok(ok, "each reply has its message's tag, opcode and result");
	tap_ok(!memcmp(rbuf, "xyz", 3) && !memcmp(pbuf, "6789", 4), "the read data arrived");
	close(p[0]);
	close(p[1]);
	close(fd);
	unlink(path);
}

/* libsysmsg: the local batch, submit, wait, peek. */
static void test_lib_async(void)
{
	struct __kernel_timespec ts1 = kts_ms(120), ts2 = kts_ms(40);
	char path[64], pbuf[8], rbuf[8];
	struct sysmsg_reply r[16];
	struct sysmsg_msg *m;
	struct sysmsg s, bad;
	int fd, p[2], i, n, got, ok;

	tap_ok(sysmsg_open(&bad, 4, SYSMSG_LIB_FLAGS_ALL + 1) == -EINVAL && bad.fd == -1,
	       "lib: sysmsg_open with an unknown flag: -EINVAL");
	if (!tap_ok(sysmsg_open(&s, 8, 0) == 0 && s.fd >= 0, "lib: sysmsg_open"))
		return;
	fd = tmpfile_open(path, O_CLOEXEC);
	if (fd < 0 || pipe2(p, O_CLOEXEC) || pwrite(fd, "library", 7, 0) != 7)
		goto out;

	tap_ok(sysmsg_peek(&s, r, 16) == 0, "lib: sysmsg_peek with nothing in flight: 0");
	tap_ok(sysmsg_submit(&s) == 0, "lib: sysmsg_submit of an empty batch: 0");

	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &ts1, 0, 1);
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &ts2, 0, 2);
	sysmsg_prep_nop(sysmsg_get_msg(&s), 3);
	sysmsg_prep_read(sysmsg_get_msg(&s), p[0], rbuf, 4, 4);
	sysmsg_prep_write(sysmsg_get_msg(&s), p[1], "pipe", 4, 5);
	sysmsg_prep_pread(sysmsg_get_msg(&s), fd, pbuf, 3, 4, 6);
	sysmsg_prep_fsync(sysmsg_get_msg(&s), fd, 7);
	m = sysmsg_get_msg(&s);
	tap_ok(m != NULL && sysmsg_batch_count(&s) == 8, "lib: 8 slots in a batch of 8");
	if (m)
		sysmsg_prep_fdatasync(m, fd, 8);
	tap_ok(sysmsg_get_msg(&s) == NULL, "lib: sysmsg_get_msg on a full batch: NULL");
	n = sysmsg_submit(&s);
	tap_ok(n == 8 && sysmsg_batch_count(&s) == 0 && s.submitted == 8 && s.submit_error == 0,
	       "lib: sysmsg_submit accepts all 8 and empties the batch (%d)", n);

	ok = 1;
	watchdog_arm(30);
	for (got = 0; got < 8;) {
		n = sysmsg_wait(&s, r + got, 16 - got);
		if (n <= 0)
			break;
		got += n;
	}
	watchdog_disarm();
	tap_ok(got == 8 && s.reaped == 8, "lib: sysmsg_wait delivers the 8 replies");
	for (i = 1; i <= 8; i++) {
		n = find_tag(r, got, i);
		if (n < 0 || r[n].result != (i == 4 || i == 5 ? 4 : i == 6 ? 3 : 0))
			ok = 0;
	}
	tap_ok(ok && !memcmp(rbuf, "pipe", 4) && !memcmp(pbuf, "ary", 3),
	       "lib: every reply has the expected result and data");
	n = find_tag(r, got, 1);
	i = find_tag(r, got, 2);
	tap_ok(n >= 0 && i >= 0 && i < n, "lib: the 40 ms sleep replied before the 120 ms one");

	/* A refused message stays at the front of the batch. */
	sysmsg_prep_nop(sysmsg_get_msg(&s), 10);
	m = sysmsg_get_msg(&s);
	sysmsg_prep_nop(m, 11);
	m->opcode = SYSMSG_OP_COUNT;
	sysmsg_prep_nop(sysmsg_get_msg(&s), 12);
	n = sysmsg_submit(&s);
	tap_ok(n == 1 && s.submit_error == EINVAL && sysmsg_batch_count(&s) == 2 &&
		       s.batch[0].tag == 11 && s.batch[1].tag == 12,
	       "lib: partial submit: 1 accepted, EINVAL, the refused one first in the batch");
	tap_ok(sysmsg_submit(&s) == -EINVAL && sysmsg_batch_count(&s) == 2,
	       "lib: submitting it again: -EINVAL, the batch unchanged");
	sysmsg_batch_drop(&s, 1);
	tap_ok(sysmsg_submit(&s) == 1 && sysmsg_batch_count(&s) == 0,
	       "lib: after sysmsg_batch_drop the rest is accepted");
	n = sysmsg_peek(&s, r, 16);
	tap_ok(n == 2 && find_tag(r, n, 10) >= 0 && find_tag(r, n, 12) >= 0,
	       "lib: sysmsg_peek: exactly the two accepted NOPs");
	tap_ok(sysmsg_peek(&s, r, 16) == 0, "lib: sysmsg_peek again: 0");

	/* sysmsg_submit_msgs of the caller's array. */
	{
		struct sysmsg_msg arr[3];
		int err = -1;

		sysmsg_prep_nop(&arr[0], 20);
		sysmsg_prep_nop(&arr[1], 21);
		sysmsg_prep_read(&arr[2], -1, rbuf, 1, 22);
		n = sysmsg_submit_msgs(&s, arr, 3, &err);
		tap_ok(n == 2 && err == EBADF, "lib: sysmsg_submit_msgs: 2 accepted, then EBADF");
		n = sysmsg_submit_msgs(&s, arr + 2, 1, &err);
		tap_ok(n == -EBADF && err == EBADF, "lib: sysmsg_submit_msgs of the bad one: -EBADF");
		n = sysmsg_peek(&s, r, 16);
		tap_ok(n == 2, "lib: 2 replies");
	}
	close(p[0]);
	close(p[1]);
	close(fd);
	unlink(path);
out:
	sysmsg_close(&s);
	tap_ok(s.fd == -1, "lib: sysmsg_close");
}

/* libsysmsg: the synchronous helpers and the backlog. */
static void test_lib_sync(void)
{
	struct __kernel_timespec ts;
	char path[64], buf[32];
	struct sysmsg_reply r[8];
	struct sysmsg s;
	long long t0, t1, target;
	int fd, dfd, p[2], n;
	unsigned long long sub;

	if (!tap_ok(sysmsg_open(&s, 4, 0) == 0, "lib sync: sysmsg_open"))
		return;
	fd = tmpfile_open(path, O_CLOEXEC);
	if (fd < 0 || pipe2(p, O_CLOEXEC))
		goto out;

	tap_ok(sysmsg_nop_sync(&s) == 0, "sysmsg_nop_sync: 0");
	tap_ok(sysmsg_write_sync(&s, fd, "0123456789", 10) == 10 && lseek(fd, 0, SEEK_CUR) == 10,
	       "sysmsg_write_sync: 10, position 10");
	tap_ok(sysmsg_pwrite_sync(&s, fd, "AB", 2, 4) == 2 && lseek(fd, 0, SEEK_CUR) == 10,
	       "sysmsg_pwrite_sync: 2 at offset 4, position unchanged");
	lseek(fd, 2, SEEK_SET);
	memset(buf, 0, sizeof(buf));
	tap_ok(sysmsg_read_sync(&s, fd, buf, 4) == 4 && !memcmp(buf, "23AB", 4) &&
		       lseek(fd, 0, SEEK_CUR) == 6,
	       "sysmsg_read_sync: \"23AB\", position 6");
	memset(buf, 0, sizeof(buf));
	tap_ok(sysmsg_pread_sync(&s, fd, buf, sizeof(buf), 7) == 3 && !memcmp(buf, "789", 3),
	       "sysmsg_pread_sync: the last 3 bytes");
	tap_ok(sysmsg_read_sync(&s, fd, buf, sizeof(buf)) == 4, "sysmsg_read_sync: the rest (4)");
	tap_ok(sysmsg_read_sync(&s, fd, buf, sizeof(buf)) == 0, "sysmsg_read_sync at EOF: 0");
	tap_ok(sysmsg_fsync_sync(&s, fd) == 0, "sysmsg_fsync_sync: 0");
	tap_ok(sysmsg_fdatasync_sync(&s, fd) == 0, "sysmsg_fdatasync_sync: 0");

	ts = kts_ms(100);
	t0 = now_ns();
	n = sysmsg_nanosleep_sync(&s, &ts, 0);
	t1 = now_ns();
	tap_ok(n == 0 && t1 - t0 >= 100 * NSEC_PER_MSEC, "sysmsg_nanosleep_sync 100 ms: %lld ms",
	       (t1 - t0) / NSEC_PER_MSEC);
	target = now_ns() + 80 * NSEC_PER_MSEC;
	ts = kts_abs_ns(target);
	n = sysmsg_nanosleep_sync(&s, &ts, SYSMSG_SLEEP_ABSTIME);
	tap_ok(n == 0 && now_ns() >= target, "sysmsg_nanosleep_sync ABSTIME: not before the time");

	tap_ok(write(p[1], "abc", 3) == 3 && sysmsg_read_sync(&s, p[0], buf, sizeof(buf)) == 3 &&
		       !memcmp(buf, "abc", 3),
	       "sysmsg_read_sync on a pipe");
	tap_ok(sysmsg_write_sync(&s, p[1], "de", 2) == 2 && read(p[0], buf, 2) == 2 &&
		       !memcmp(buf, "de", 2),
	       "sysmsg_write_sync on a pipe");

	/* Errors as the system call reports them. */
	errno = 0;
	tap_ok(sysmsg_read_sync(&s, -1, buf, 1) == -1 && errno == EBADF,
	       "sysmsg_read_sync of fd -1: -1, EBADF (refused)");
	errno = 0;
	tap_ok(sysmsg_pread_sync(&s, p[0], buf, 1, 0) == -1 && errno == ESPIPE,
	       "sysmsg_pread_sync on a pipe: -1, ESPIPE");
	dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	errno = 0;
	tap_ok(sysmsg_read_sync(&s, dfd, buf, 1) == -1 && errno == EISDIR,
	       "sysmsg_read_sync on a directory: -1, EISDIR (from the reply)");
	close(dfd);
	ts.tv_sec = 0;
	ts.tv_nsec = NSEC_PER_SEC;
	errno = 0;
	tap_ok(sysmsg_nanosleep_sync(&s, &ts, 0) == -1 && errno == EINVAL,
	       "sysmsg_nanosleep_sync with tv_nsec = 1e9: -1, EINVAL");

	/* Replies of other messages that arrive during a sync call: the backlog. */
	sub = s.submitted;
	ts = kts_ms(60);
	sysmsg_prep_nop(sysmsg_get_msg(&s), 501);
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &ts, 0, 502);
	tap_ok(sysmsg_submit(&s) == 2, "backlog: a NOP and a 60 ms sleep submitted");
	{
		struct __kernel_timespec longer = kts_ms(400);

		tap_ok(sysmsg_nanosleep_sync(&s, &longer, 0) == 0, "backlog: a 400 ms sync sleep");
	}
	tap_ok(sysmsg_backlog_count(&s) == 2, "backlog: holds the 2 other replies (%u)",
	       sysmsg_backlog_count(&s));
	tap_ok(s.submitted == sub + 3 && s.reaped == s.submitted,
	       "backlog: counters: submitted %llu, reaped %llu", s.submitted, s.reaped);
	memset(r, 0, sizeof(r));
	n = sysmsg_peek(&s, r, 1);
	tap_ok(n == 1 && r[0].tag == 501 && sysmsg_backlog_count(&s) == 1,
	       "backlog: sysmsg_peek hands out the NOP first");
	watchdog_arm(30);
	n = sysmsg_wait(&s, r, 8);
	watchdog_disarm();
	tap_ok(n == 1 && r[0].tag == 502 && r[0].result == 0 && sysmsg_backlog_count(&s) == 0,
	       "backlog: sysmsg_wait hands out the sleep without waiting");
	tap_ok(sysmsg_peek(&s, r, 8) == 0, "backlog: nothing else");

	close(p[0]);
	close(p[1]);
	close(fd);
	unlink(path);
out:
	sysmsg_close(&s);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	devfd = dev_open();
	if (!tap_ok(devfd >= 0, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();

	test_info();
	test_nop();
	test_nanosleep();
	test_regular_file();
	test_writeback_at_reap();
	test_pipe();
	test_socketpair();
	test_eventfd();
	test_nonblock();
	test_clamp();
	test_out_of_order();
	test_mixed_batch();
	test_lib_async();
	test_lib_sync();

	tap_ok(no_reply_for(devfd, 0), "no stray reply is left");
	close(devfd);
	return tap_done();
}
