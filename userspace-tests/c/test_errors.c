// SPDX-License-Identifier: GPL-2.0
/*
 * Errors: every reason README.md gives for refusing a message at submit
 * (EINVAL, EBADF, ESPIPE, EFAULT), each through write() and SYSMSG_IOC_SUBMIT,
 * alone and after an accepted message, and never with a reply; errors that
 * come back in the reply's result (EFAULT at writeback, EISDIR, EPIPE,
 * EINVAL, ENOSPC); and a file closed after submit that still completes.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sys/socket.h>

#include "testlib.h"

#define KERNEL_ADDR 0xffff800000000000ULL
#define NOP_TAG 4242

static int devfd;

/*
 * @m must be refused with @want: by write() alone (-1, errno), by SUBMIT
 * alone (-1, errno), and by SUBMIT after a NOP (1 accepted, error @want).
 * Only the NOP may reply. One TAP line.
 */
static void refused(const struct sysmsg_msg *m, int want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refused(const struct sysmsg_msg *m, int want, const char *fmt, ...)
{
	struct sysmsg_msg two[2];
	struct sysmsg_reply r;
	char what[160];
	int werr, n1, n2, err2 = 0, got, quiet;
	ssize_t w;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	memset(&r, 0, sizeof(r));

	errno = 0;
	w = write(devfd, m, sizeof(*m));
	werr = errno;
	n1 = raw_submit(devfd, m, 1, NULL);
	sysmsg_prep_nop(&two[0], NOP_TAG);
	two[1] = *m;
	n2 = raw_submit(devfd, two, 2, &err2);
	got = n2 == 1 ? reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS) : 0;
	quiet = no_reply_for(devfd, 0);
	if (w != -1 || werr != want || n1 != -want || n2 != 1 || err2 != want || got != 1 ||
	    r.tag != NOP_TAG || !quiet) {
		diag("%s: write %zd/%s, SUBMIT %d, SUBMIT after NOP %d/%d, NOP reply %d, no other %d",
		     what, w, strerrorname_np(werr), n1, n2, err2, got, quiet);
		/* Wrongly accepted messages must not spoil the next case. */
		sleep_ms(50);
		diag("%s: discarded %d more replies", what, drain_replies(devfd));
	}
	tap_ok(w == -1 && werr == want && n1 == -want && n2 == 1 && err2 == want && got == 1 &&
		       r.tag == NOP_TAG && quiet,
	       "%s: refused with %s, no reply", what, strerrorname_np(want));
}

/* A valid NOP with one field changed is refused with EINVAL. */
static void test_einval_fields(int ffd)
{
	struct __kernel_timespec ts = kts_ms(1);
	char buf[16];
	struct sysmsg_msg m;

	sysmsg_prep_nop(&m, 1);
	m.opcode = SYSMSG_OP_COUNT;
	refused(&m, EINVAL, "opcode SYSMSG_OP_COUNT");
	m.opcode = 255;
	refused(&m, EINVAL, "opcode 255");

	sysmsg_prep_nop(&m, 1);
	m.flags = 1;
	refused(&m, EINVAL, "flags = 1");
	m.flags = 0x80;
	refused(&m, EINVAL, "flags = 0x80");
	sysmsg_prep_nop(&m, 1);
	m.reserved0 = 1;
	refused(&m, EINVAL, "reserved0 = 1");
	sysmsg_prep_nop(&m, 1);
	m.reserved1 = 1;
	refused(&m, EINVAL, "reserved1 = 1");
	sysmsg_prep_nop(&m, 1);
	m.reserved[0] = 1;
	refused(&m, EINVAL, "reserved[0] = 1");
	sysmsg_prep_nop(&m, 1);
	m.reserved[1] = 1ULL << 63;
	refused(&m, EINVAL, "reserved[1] = 1 << 63");

	/* Fields the opcode does not use. */
	sysmsg_prep_nop(&m, 1);
	m.op_flags = SYSMSG_SLEEP_ABSTIME;
	refused(&m, EINVAL, "NOP with op_flags");
	sysmsg_prep_nop(&m, 1);
	m.fd = ffd;
	refused(&m, EINVAL, "NOP with an fd");
	sysmsg_prep_nop(&m, 1);
	m.addr = (__u64)(uintptr_t)buf;
	refused(&m, EINVAL, "NOP with addr");
	sysmsg_prep_nop(&m, 1);
	m.len = 1;
	refused(&m, EINVAL, "NOP with len");
	sysmsg_prep_nop(&m, 1);
	m.offset = 1;
	refused(&m, EINVAL, "NOP with offset");

	sysmsg_prep_nanosleep(&m, &ts, 2, 1);
	refused(&m, EINVAL, "NANOSLEEP with op_flags 2");
	sysmsg_prep_nanosleep(&m, &ts, SYSMSG_SLEEP_ABSTIME | 2, 1);
	refused(&m, EINVAL, "NANOSLEEP with op_flags ABSTIME | 2");
	sysmsg_prep_nanosleep(&m, &ts, 0, 1);
	m.fd = ffd;
	refused(&m, EINVAL, "NANOSLEEP with an fd");
	sysmsg_prep_nanosleep(&m, &ts, 0, 1);
	m.len = sizeof(ts);
	refused(&m, EINVAL, "NANOSLEEP with len");
	sysmsg_prep_nanosleep(&m, &ts, 0, 1);
	m.offset = 1;
	refused(&m, EINVAL, "NANOSLEEP with offset");

	sysmsg_prep_read(&m, ffd, buf, sizeof(buf), 1);
	m.offset = 1;
	refused(&m, EINVAL, "READ with offset");
	sysmsg_prep_read(&m, ffd, buf, sizeof(buf), 1);
	m.op_flags = 1;
	refused(&m, EINVAL, "READ with op_flags");
	sysmsg_prep_write(&m, ffd, buf, sizeof(buf), 1);
	m.offset = 5;
	refused(&m, EINVAL, "WRITE with offset");
	sysmsg_prep_pwrite(&m, ffd, buf, sizeof(buf), 0, 1);
	m.op_flags = 1;
	refused(&m, EINVAL, "PWRITE with op_flags");
	sysmsg_prep_fsync(&m, ffd, 1);
	m.addr = (__u64)(uintptr_t)buf;
	refused(&m, EINVAL, "FSYNC with addr");
	sysmsg_prep_fsync(&m, ffd, 1);
	m.len = 1;
	refused(&m, EINVAL, "FSYNC with len");
	sysmsg_prep_fdatasync(&m, ffd, 1);
	m.offset = 1;
	refused(&m, EINVAL, "FDATASYNC with offset");

	/* Negative offsets. */
	sysmsg_prep_pread(&m, ffd, buf, sizeof(buf), -1, 1);
	refused(&m, EINVAL, "PREAD at offset -1");
	sysmsg_prep_pread(&m, ffd, buf, sizeof(buf), INT64_MIN, 1);
	refused(&m, EINVAL, "PREAD at offset INT64_MIN");
	sysmsg_prep_pwrite(&m, ffd, buf, sizeof(buf), -4096, 1);
	refused(&m, EINVAL, "PWRITE at offset -4096");
}

static void test_einval_lengths(int ffd)
{
	size_t big = SYSMSG_MAX_IO_LEN + 1;
	struct sysmsg_msg m;
	char *data, buf[16];

	/* Room for all of it: the length is wrong, not the buffer. */
	data = calloc(2, SYSMSG_MAX_IO_LEN);
	if (!data)
		return;
	sysmsg_prep_write(&m, ffd, data, big, 1);
	refused(&m, EINVAL, "WRITE of SYSMSG_MAX_IO_LEN + 1 bytes");
	sysmsg_prep_pwrite(&m, ffd, data, big, 0, 1);
	refused(&m, EINVAL, "PWRITE of SYSMSG_MAX_IO_LEN + 1 bytes");
	sysmsg_prep_write(&m, ffd, data, 2 * (size_t)SYSMSG_MAX_IO_LEN, 1);
	refused(&m, EINVAL, "WRITE of 2 * SYSMSG_MAX_IO_LEN bytes");
	free(data);

	sysmsg_prep_read(&m, ffd, buf, 0, 1);
	m.len = (__u64)SSIZE_MAX + 1;
	refused(&m, EINVAL, "READ of SSIZE_MAX + 1 bytes");
	sysmsg_prep_pread(&m, ffd, buf, 0, 0, 1);
	m.len = ~0ULL;
	refused(&m, EINVAL, "PREAD of 2^64 - 1 bytes");
}

static void test_einval_timespec(void)
{
	struct {
		long long sec, nsec;
	} bad[] = {
		{ 0, NSEC_PER_SEC }, { 0, -1 }, { -1, 0 }, { -1, 500 }, { 1, LLONG_MAX },
		{ LLONG_MIN, 0 },
	};
	struct __kernel_timespec ts;
	struct sysmsg_msg m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ts.tv_sec = bad[i].sec;
		ts.tv_nsec = bad[i].nsec;
		sysmsg_prep_nanosleep(&m, &ts, 0, 1);
		refused(&m, EINVAL, "NANOSLEEP {%lld, %lld}", bad[i].sec, bad[i].nsec);
		sysmsg_prep_nanosleep(&m, &ts, SYSMSG_SLEEP_ABSTIME, 1);
		refused(&m, EINVAL, "NANOSLEEP ABSTIME {%lld, %lld}", bad[i].sec, bad[i].nsec);
	}
}

static void test_ebadf(int ffd, const char *path)
{
	int rofd, wofd, pathfd, p[2], bad[] = { -1, -100, 100000, INT_MAX };
	char buf[16] = "0123456789abcdef";
	struct sysmsg_msg m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		sysmsg_prep_read(&m, bad[i], buf, sizeof(buf), 1);
		refused(&m, EBADF, "READ of fd %d", bad[i]);
	}
	/* An fd number that was open once and is closed now (numbers are reused lowest first). */
	if (dup2(ffd, 900) == 900)
		close(900);
	sysmsg_prep_read(&m, 900, buf, sizeof(buf), 1);
	refused(&m, EBADF, "READ of a closed fd");
	sysmsg_prep_write(&m, 900, buf, sizeof(buf), 1);
	refused(&m, EBADF, "WRITE of a closed fd");
	sysmsg_prep_pread(&m, 900, buf, sizeof(buf), 0, 1);
	refused(&m, EBADF, "PREAD of a closed fd");
	sysmsg_prep_pwrite(&m, -1, buf, sizeof(buf), 0, 1);
	refused(&m, EBADF, "PWRITE of fd -1");
	sysmsg_prep_fsync(&m, 900, 1);
	refused(&m, EBADF, "FSYNC of a closed fd");
	sysmsg_prep_fdatasync(&m, -1, 1);
	refused(&m, EBADF, "FDATASYNC of fd -1");

	/* Open, but not for that direction. */
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	wofd = open(path, O_WRONLY | O_CLOEXEC);
	pathfd = open(path, O_PATH | O_CLOEXEC);
	if (rofd < 0 || wofd < 0 || pathfd < 0 || pipe2(p, O_CLOEXEC))
		return;
	sysmsg_prep_read(&m, wofd, buf, sizeof(buf), 1);
	refused(&m, EBADF, "READ of an O_WRONLY fd");
	sysmsg_prep_pread(&m, wofd, buf, sizeof(buf), 0, 1);
	refused(&m, EBADF, "PREAD of an O_WRONLY fd");
	sysmsg_prep_write(&m, rofd, buf, sizeof(buf), 1);
	refused(&m, EBADF, "WRITE of an O_RDONLY fd");
	sysmsg_prep_pwrite(&m, rofd, buf, sizeof(buf), 0, 1);
	refused(&m, EBADF, "PWRITE of an O_RDONLY fd");
	sysmsg_prep_read(&m, p[1], buf, sizeof(buf), 1);
	refused(&m, EBADF, "READ of a pipe's write end");
	sysmsg_prep_write(&m, p[0], buf, sizeof(buf), 1);
	refused(&m, EBADF, "WRITE of a pipe's read end");
	sysmsg_prep_read(&m, pathfd, buf, sizeof(buf), 1);
	refused(&m, EBADF, "READ of an O_PATH fd");
	close(rofd);
	close(wofd);
	close(pathfd);
	close(p[0]);
	close(p[1]);
}

static void test_espipe(void)
{
	struct sysmsg_msg m;
	char buf[16] = "";
	int p[2], sv[2];

	if (pipe2(p, O_CLOEXEC) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	sysmsg_prep_pread(&m, p[0], buf, sizeof(buf), 0, 1);
	refused(&m, ESPIPE, "PREAD of a pipe");
	sysmsg_prep_pwrite(&m, p[1], buf, sizeof(buf), 0, 1);
	refused(&m, ESPIPE, "PWRITE of a pipe");
	sysmsg_prep_pread(&m, sv[0], buf, sizeof(buf), 0, 1);
	refused(&m, ESPIPE, "PREAD of a socket");
	sysmsg_prep_pwrite(&m, sv[0], buf, sizeof(buf), 0, 1);
	refused(&m, ESPIPE, "PWRITE of a socket");
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_efault_submit(int ffd)
{
	struct __kernel_timespec *edge_ts;
	struct sysmsg_msg m, *edge_msg;
	struct sysmsg_submit sub;
	struct sysmsg_reply r;
	void *bad = unmapped_page();
	char *pages;
	ssize_t w;
	int n;

	/* The timespec of a sleep. */
	sysmsg_prep_nanosleep(&m, NULL, 0, 1);
	refused(&m, EFAULT, "NANOSLEEP with a NULL timespec");
	sysmsg_prep_nanosleep(&m, bad, 0, 1);
	refused(&m, EFAULT, "NANOSLEEP with an unmapped timespec");
	sysmsg_prep_nanosleep(&m, (void *)(uintptr_t)KERNEL_ADDR, SYSMSG_SLEEP_ABSTIME, 1);
	refused(&m, EFAULT, "NANOSLEEP with a timespec at a kernel address");

	/* The data of a write. */
	sysmsg_prep_write(&m, ffd, bad, 16, 1);
	refused(&m, EFAULT, "WRITE of unmapped data");
	sysmsg_prep_write(&m, ffd, NULL, 16, 1);
	refused(&m, EFAULT, "WRITE of data at NULL");
	sysmsg_prep_pwrite(&m, ffd, (void *)(uintptr_t)KERNEL_ADDR, 16, 0, 1);
	refused(&m, EFAULT, "PWRITE of data at a kernel address");

	/* The buffer of a read: not a user address range. */
	sysmsg_prep_read(&m, ffd, (void *)(uintptr_t)KERNEL_ADDR, 16, 1);
	refused(&m, EFAULT, "READ into a kernel address (0xffff800000000000)");
	sysmsg_prep_pread(&m, ffd, (void *)(uintptr_t)0xfffffffffffffff0ULL, 32, 0, 1);
	refused(&m, EFAULT, "PREAD into a range that wraps around");

	/* A timespec and write data that end in an unmapped page. */
	pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages != MAP_FAILED) {
		munmap(pages + 4096, 4096);
		edge_ts = (struct __kernel_timespec *)(pages + 4096 - 8);
		sysmsg_prep_nanosleep(&m, edge_ts, 0, 1);
		refused(&m, EFAULT, "NANOSLEEP with a timespec straddling an unmapped page");
		sysmsg_prep_write(&m, ffd, pages + 4096 - 8, 16, 1);
		refused(&m, EFAULT, "WRITE of data straddling an unmapped page");
	}

	/* The message array. */
	tap_errno(write(devfd, bad, sizeof(m)), EFAULT, "write() of an unmapped message array: EFAULT");
	tap_errno(write(devfd, (void *)(uintptr_t)KERNEL_ADDR, sizeof(m)), EFAULT,
		  "write() of a message array at a kernel address: EFAULT");
	memset(&sub, 0, sizeof(sub));
	sub.msgs = (__u64)(uintptr_t)bad;
	sub.count = 1;
	tap_errno(ioctl(devfd, SYSMSG_IOC_SUBMIT, &sub), EFAULT,
		  "SUBMIT of an unmapped message array: EFAULT");
	sub.msgs = 0;
	tap_errno(ioctl(devfd, SYSMSG_IOC_SUBMIT, &sub), EFAULT, "SUBMIT of a NULL message array: EFAULT");
	tap_errno(ioctl(devfd, SYSMSG_IOC_SUBMIT, bad), EFAULT, "SUBMIT with an unmapped argument: EFAULT");
	tap_ok(no_reply_for(devfd, 0), "none of those was accepted");

	/* Two messages, the second in an unmapped page: the first or none is accepted. */
	if (pages != MAP_FAILED) {
		edge_msg = (struct sysmsg_msg *)(pages + 4096 - sizeof(m));
		sysmsg_prep_nop(edge_msg, NOP_TAG);
		w = write(devfd, edge_msg, 2 * sizeof(m));
		n = w == (ssize_t)sizeof(m) ? reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS) : 0;
		diag("write() of [NOP, unmapped]: %zd (%s)", w, w < 0 ? strerrorname_np(errno) : "-");
		tap_ok((w == (ssize_t)sizeof(m) && n == 1 && r.tag == NOP_TAG) ||
			       (w == -1 && errno == EFAULT),
		       "write() of [NOP, unmapped message]: 64 bytes and one reply, or EFAULT");
		tap_ok(no_reply_for(devfd, 0), "and no other reply");
		munmap(pages, 4096);
	}
}

/* A READ whose buffer is gone when its reply is reaped: result -EFAULT. */
static void test_efault_writeback(int ffd)
{
	struct sysmsg_msg m[2];
	struct sysmsg_reply r[2];
	char *page;
	int n, p[2];

	if (pwrite(ffd, "some file data", 14, 0) != 14)
		return;
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return;
	sysmsg_prep_pread(&m[0], ffd, page, 14, 0, 10);
	n = raw_write(devfd, m, 1);
	munmap(page, 4096);
	tap_ok(n == 1, "PREAD into a mapped buffer: accepted; then the buffer is unmapped");
	n = reap_n(devfd, r, 1, REPLY_TIMEOUT_MS);
	tap_ok(n == 1 && r[0].tag == 10 && r[0].result == -EFAULT,
	       "its reply: result -EFAULT (got %lld)", n == 1 ? (long long)r[0].result : 0LL);

	/* The same for a pipe READ that completes after the unmap. */
	if (pipe2(p, O_CLOEXEC))
		return;
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return;
	sysmsg_prep_read(&m[0], p[0], page, 4, 11);
	sysmsg_prep_nop(&m[1], 12);
	n = raw_write(devfd, m, 2);
	munmap(page, 4096);
	tap_ok(write(p[1], "gone", 4) == 4 && n == 2, "pipe READ into a buffer unmapped before the data came");
	n = reap_n(devfd, r, 2, REPLY_TIMEOUT_MS);
	tap_ok(n == 2 && find_tag(r, n, 11) >= 0 && r[find_tag(r, n, 11)].result == -EFAULT &&
		       find_tag(r, n, 12) >= 0,
	       "its reply: result -EFAULT; the other reply is unaffected");
	close(p[0]);
	close(p[1]);
}

/* The file is referenced at copyin: closing or reusing the fd number does not matter. */
static void test_closed_after_submit(const char *path)
{
	int a[2], b[2], fd, num, n;
	struct sysmsg_msg m[2];
	struct sysmsg_reply r[2];
	char buf[8], rbuf[8];

	if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC))
		return;
	num = a[0];
	memset(rbuf, 0, sizeof(rbuf));
	sysmsg_prep_read(&m[0], num, rbuf, 4, 20);
	n = raw_write(devfd, m, 1);
	tap_ok(n == 1, "pipe READ submitted");
	close(num);
	tap_ok(dup2(b[0], num) == num, "its fd closed, and the number now names another pipe");
	tap_ok(write(b[1], "BBBB", 4) == 4 && no_reply_for(devfd, 200),
	       "data in the other pipe does not complete it");
	tap_ok(write(a[1], "AAAA", 4) == 4, "data written to the first pipe");
	n = reap_n(devfd, r, 1, REPLY_TIMEOUT_MS);
	tap_ok(n == 1 && r[0].tag == 20 && r[0].result == 4 && !memcmp(rbuf, "AAAA", 4),
	       "the READ completes from the pipe it was submitted for");
	fcntl(num, F_SETFL, O_NONBLOCK);
	tap_ok(read(num, buf, sizeof(buf)) == 4 && !memcmp(buf, "BBBB", 4),
	       "the other pipe's data is untouched");
	close(num);
	close(a[1]);
	close(b[0]);
	close(b[1]);

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	sysmsg_prep_pwrite(&m[0], fd, "late", 4, 0, 21);
	sysmsg_prep_fsync(&m[1], fd, 22);
	n = raw_write(devfd, m, 2);
	close(fd);
	tap_ok(n == 2, "PWRITE and FSYNC of a file submitted, then the fd closed");
	n = reap_n(devfd, r, 2, REPLY_TIMEOUT_MS);
	tap_ok(n == 2 && find_tag(r, n, 21) >= 0 && r[find_tag(r, n, 21)].result == 4 &&
		       find_tag(r, n, 22) >= 0 && r[find_tag(r, n, 22)].result == 0,
	       "both complete (4 and 0)");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	tap_ok(fd >= 0 && pread(fd, buf, 4, 0) == 4 && !memcmp(buf, "late", 4),
	       "the data reached the file");
	close(fd);
}

/* Errors of the operation itself come back in the result. */
static void test_result_errors(void)
{
	struct sysmsg_msg m;
	struct sysmsg_reply r;
	char buf[16] = "x";
	int fd, p[2], n;

	fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sysmsg_prep_read(&m, fd, buf, sizeof(buf), 30);
	n = raw_write(devfd, &m, 1);
	n = n == 1 ? reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS) : 0;
	tap_ok(n == 1 && r.tag == 30 && r.result == -EISDIR, "READ of a directory: accepted, result -EISDIR");
	close(fd);

	if (pipe2(p, O_CLOEXEC))
		return;
	sysmsg_prep_fsync(&m, p[1], 31);
	n = raw_write(devfd, &m, 1);
	n = n == 1 ? reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS) : 0;
	tap_ok(n == 1 && r.tag == 31 && r.result == -EINVAL,
	       "FSYNC of a pipe: accepted, result -EINVAL (as fsync(2))");
	close(p[0]);
	sysmsg_prep_write(&m, p[1], buf, 1, 32);
	n = raw_write(devfd, &m, 1);
	n = n == 1 ? reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS) : 0;
	tap_ok(n == 1 && r.tag == 32 && r.result == -EPIPE,
	       "WRITE to a pipe without readers: result -EPIPE");
	close(p[1]);

	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		sysmsg_prep_write(&m, fd, buf, sizeof(buf), 33);
		n = raw_write(devfd, &m, 1);
		n = n == 1 ? reap_n(devfd, &r, 1, REPLY_TIMEOUT_MS) : 0;
		/* Only a legacy ->write: no kernel-memory I/O, as kernel_write() says. */
		tap_ok(n == 1 && r.tag == 33 && r.result == -EINVAL,
		       "WRITE to /dev/full (legacy ->write only): result -EINVAL");
		close(fd);
	}
}

/*
 * The in/out argument of SUBMIT and REAP in a read-only page: EFAULT before
 * anything happens, so nothing is accepted (no reply ever comes) and no
 * reply is taken (it is still there for a good call).
 */
static void test_efault_readonly_arg(void)
{
	struct sysmsg_reply r[2];
	struct sysmsg_msg m;
	struct sysmsg_submit *sub;
	struct sysmsg_reap *reap;
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!tap_ok(page != MAP_FAILED, "a page for read-only arguments"))
		return;
	sysmsg_prep_nop(&m, 901);
	sub = (struct sysmsg_submit *)page;
	sub->msgs = (__u64)(uintptr_t)&m;
	sub->count = 1;
	reap = (struct sysmsg_reap *)(page + 256);
	reap->replies = (__u64)(uintptr_t)r;
	reap->max = 2;
	reap->flags = SYSMSG_REAP_NOWAIT;
	mprotect(page, 4096, PROT_READ);
	tap_errno(ioctl(devfd, SYSMSG_IOC_SUBMIT, sub), EFAULT,
		  "SUBMIT with a read-only argument: EFAULT");
	tap_ok(no_reply_for(devfd, 100), "... and the message was not accepted (no reply)");
	sysmsg_prep_nop(&m, 902);
	tap_ok(raw_write(devfd, &m, 1) == 1, "a NOP submitted with write(2)");
	r[0].tag = 0;
	tap_errno(ioctl(devfd, SYSMSG_IOC_REAP, reap), EFAULT, "REAP with a read-only argument: EFAULT");
	tap_ok(r[0].tag == 0 && reap_n(devfd, r, 1, REPLY_TIMEOUT_MS) == 1 && r[0].tag == 902,
	       "... and the reply was neither stored nor taken: a good reap gets it");
	munmap(page, 4096);
}

int main(void)
{
	char path[64];
	int ffd;

	/* A WRITE to a pipe without readers raises SIGPIPE where it executes. */
	signal(SIGPIPE, SIG_IGN);
	devfd = dev_open();
	if (!tap_ok(devfd >= 0, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();
	ffd = tmpfile_open(path, O_CLOEXEC);
	if (!tap_ok(ffd >= 0, "a temporary file"))
		return tap_done();

	test_einval_fields(ffd);
	test_einval_lengths(ffd);
	test_einval_timespec();
	test_ebadf(ffd, path);
	test_espipe();
	test_efault_submit(ffd);
	test_efault_writeback(ffd);
	test_efault_readonly_arg();
	test_closed_after_submit(path);
	test_result_errors();

	tap_ok(no_reply_for(devfd, 100), "no stray reply is left");
	close(ffd);
	unlink(path);
	close(devfd);
	return tap_done();
}
