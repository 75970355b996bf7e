// SPDX-License-Identifier: GPL-2.0
/* Two sleeps and a pipe read in flight at once; replies come as they complete. */
#include <stdio.h>
#include <unistd.h>
#include "libsysmsg.h"

int main(void)
{
	struct __kernel_timespec slow = { 0, 200000000 }, fast = { 0, 100000000 };
	struct sysmsg_reply r[3];
	struct sysmsg s;
	int p[2], i, n, done = 0;
	char buf[16];

	if (sysmsg_open(&s, 8, 0) < 0 || pipe(p) < 0)
		return 1;
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &slow, 0, 1);
	sysmsg_prep_nanosleep(sysmsg_get_msg(&s), &fast, 0, 2);
	sysmsg_prep_read(sysmsg_get_msg(&s), p[0], buf, sizeof(buf), 3);
	if (sysmsg_submit(&s) != 3 || write(p[1], "hi", 2) != 2)
		return 1;
	while (done < 3 && (n = sysmsg_wait(&s, r, 3)) > 0)
		for (i = 0; i < n; i++, done++)
			printf("tag %llu: result %lld\n", (unsigned long long)r[i].tag,
			       (long long)r[i].result);
	sysmsg_close(&s);
	return 0;
}
