// SPDX-License-Identifier: GPL-2.0
/* `make demo`: what an open /dev/sysmsg offers so far, narrated. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sysmsg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct sysmsg_info info;
	char path[64], buf[1024];
	ssize_t n;
	int fd, fi;

	fd = open(SYSMSG_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("open " SYSMSG_DEVICE_PATH);
		return 1;
	}
	printf("opened %s as fd %d (pid %d)\n", SYSMSG_DEVICE_PATH, fd, getpid());

	if (ioctl(fd, SYSMSG_IOC_GET_INFO, &info) < 0) {
		perror("SYSMSG_IOC_GET_INFO");
		return 1;
	}
	printf("SYSMSG_IOC_GET_INFO: abi_version %u, info_size %u, features %#llx\n",
	       info.abi_version, info.info_size, (unsigned long long)info.features);

	if (ioctl(fd, _IO(SYSMSG_IOC_MAGIC, 0xff)) < 0)
		printf("an unknown ioctl fails with %s, as it should\n", strerrorname_np(errno));

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	fi = open(path, O_RDONLY);
	n = fi >= 0 ? read(fi, buf, sizeof(buf) - 1) : -1;
	if (n > 0) {
		buf[n] = 0;
		printf("%s:\n%s", path, buf);
	}

	if (syscall(SYS_delete_module, "sysmsg", O_NONBLOCK) < 0)
		printf("rmmod while the device is open: refused with %s\n", strerrorname_np(errno));
	close(fd);
	printf("closed the device\n");
	return 0;
}
