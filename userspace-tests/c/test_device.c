// SPDX-License-Identifier: GPL-2.0
/*
 * The device node and its control surface: open, the info ioctl, errnos for
 * what it does not do, the module reference an open file holds, the sysctl
 * directory and fdinfo.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sysmsg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tap.h"

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

int main(void)
{
	struct sysmsg_info info;
	char path[64], buf[4096], want[64];
	struct stat st;
	int fd, fd2;

	tap_ok(stat(SYSMSG_DEVICE_PATH, &st) == 0 && S_ISCHR(st.st_mode),
	       "%s is a character device", SYSMSG_DEVICE_PATH);
	tap_ok((st.st_mode & 0777) == 0666, "device mode is 0666 (got %o)", st.st_mode & 0777);

	fd = open(SYSMSG_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (!tap_ok(fd >= 0, "open %s", SYSMSG_DEVICE_PATH))
		return tap_done();

	memset(&info, 0xa5, sizeof(info));
	tap_ok(ioctl(fd, SYSMSG_IOC_GET_INFO, &info) == 0, "SYSMSG_IOC_GET_INFO succeeds");
	tap_ok(info.abi_version == SYSMSG_ABI_VERSION, "abi_version %u == %u", info.abi_version,
	       SYSMSG_ABI_VERSION);
	tap_ok(info.info_size == sizeof(info), "info_size %u == %zu", info.info_size, sizeof(info));
	tap_ok(info.reserved[0] == 0 && info.reserved[1] == 0 && info.reserved[2] == 0,
	       "reserved fields are zeroed");
	tap_errno(ioctl(fd, SYSMSG_IOC_GET_INFO, (void *)8), EFAULT, "GET_INFO to a bad pointer: EFAULT");

	tap_errno(ioctl(fd, _IO(SYSMSG_IOC_MAGIC, 0xff), 0), ENOTTY, "unknown sysmsg ioctl: ENOTTY");
	tap_errno(ioctl(fd, _IOR('T', 0x01, int), buf), ENOTTY, "foreign ioctl: ENOTTY");
	tap_errno(ioctl(fd, _IOW(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_GET_INFO, struct sysmsg_info), &info),
		  ENOTTY, "GET_INFO number with the wrong direction: ENOTTY");
	tap_errno(lseek(fd, 0, SEEK_SET), ESPIPE, "lseek: ESPIPE (the device is a stream)");

	/* The open file holds a module reference: unloading must be refused. */
	tap_errno(syscall(SYS_delete_module, "sysmsg", O_NONBLOCK), EWOULDBLOCK,
		  "rmmod refused while the device is open");

	tap_ok(read_file("/proc/sys/kernel/sysmsg/version", buf, sizeof(buf)) == 0 &&
		       atoi(buf) == SYSMSG_ABI_VERSION,
	       "kernel.sysmsg.version reads %d", SYSMSG_ABI_VERSION);
	tap_errno(open("/proc/sys/kernel/sysmsg/version", O_WRONLY), EACCES,
		  "kernel.sysmsg.version is read-only, even for root");

	/* fdinfo: the opener and one process state, however many files it opens. */
	fd2 = open(SYSMSG_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	tap_ok(fd2 >= 0, "a second open of the device");
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	snprintf(want, sizeof(want), "sysmsg-opener-tgid:\t%d\n", getpid());
	tap_ok(read_file(path, buf, sizeof(buf)) == 0 && strstr(buf, want),
	       "fdinfo names the opening process");
	tap_ok(strstr(buf, "sysmsg-processes:\t1\n") != NULL,
	       "two files of one process share one process state");
	close(fd2);
	close(fd);

	tap_errno(open("/dev/sysmsg", O_RDWR | O_DIRECTORY), ENOTDIR, "O_DIRECTORY: ENOTDIR");
	return tap_done();
}
