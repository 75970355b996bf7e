// SPDX-License-Identifier: GPL-2.0
/*
 * rmmod is refused while a file of /dev/sysmsg is open, and also after the
 * last close while an operation of an aborted session still executes on a
 * kernel worker; closing never waits for such an operation.
 *
 * The blocking operation is a READ of a pseudo-terminal: ttys are not
 * FMODE_NOWAIT, so it executes on a worker, where it waits for a line (a
 * worker cannot be interrupted by a signal: this is the "tty read at exit"
 * case io_uring users hit). The test closes the sysmsg file with the READ
 * executing, checks that close() returned at once and that delete_module()
 * is refused, then types a line on the terminal's master side so the READ
 * completes, and waits for the message to be freed (nr_inflight back).
 * The successful rmmod is the runner's job, after every test program.
 */
#define _GNU_SOURCE
#include "testlib.h"
#include <sys/syscall.h>

/* delete_module without waiting: 0 if the module was removed, else -errno. */
static int try_unload(void)
{
	return syscall(SYS_delete_module, "sysmsg", O_NONBLOCK) ? -errno : 0;
}

int main(void)
{
	static char buf[256];
	struct sysmsg_msg m;
	long long t0, closed_ns;
	long long base;
	int fd, master, slave, e, err;

	fd = dev_open();
	e = try_unload();
	if (!tap_ok(e == -EWOULDBLOCK || e == -EBUSY, "rmmod refused while a file is open (%d)", e))
		return tap_done(); /* unloaded: nothing else can run */
	base = nr_inflight();

	master = posix_openpt(O_RDWR | O_NOCTTY);
	slave = -1;
	if (master >= 0 && !grantpt(master) && !unlockpt(master))
		slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (!tap_ok(slave >= 0, "open a pseudo-terminal pair"))
		return tap_done();
	sysmsg_prep_read(&m, slave, buf, sizeof(buf), 1);
	tap_ok(raw_submit(fd, &m, 1, &err) == 1, "READ of the terminal submitted");
	sleep_ms(200);
	tap_ok(no_reply_for(fd, 0), "it is waiting for a line");
	tap_ok(nr_inflight() == base + 1, "one message in flight");

	t0 = now_ns();
	close(fd);
	closed_ns = now_ns() - t0;
	diag("close() with the READ executing on a worker took %.3f ms", closed_ns / 1e6);
	tap_ok(closed_ns < 2 * NSEC_PER_SEC, "close() did not wait for the executing READ");
	e = try_unload();
	tap_ok(e == -EWOULDBLOCK || e == -EBUSY, "rmmod refused while the aborted READ still executes (%d)", e);
	tap_ok(nr_inflight() == base + 1, "its slot is held until it finishes");

	tap_ok(write(master, "hello\n", 6) == 6, "type a line on the terminal");
	t0 = now_ns();
	while (nr_inflight() != base && now_ns() - t0 < 20 * NSEC_PER_SEC)
		sleep_ms(1);
	tap_ok(nr_inflight() == base, "the READ finished and was freed in %.1f ms (nothing to reap it)",
	       (now_ns() - t0) / 1e6);
	close(slave);
	close(master);
	return tap_done();
}
