/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal TAP producer for the C tests: each check prints "ok N - name" or
 * "not ok N - name" (with the errno text when it failed), and tap_done()
 * prints the plan and returns the exit status (non-zero if anything failed).
 */
#ifndef SYSMSG_TAP_H
#define SYSMSG_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3)))
static int tap_ok(int cond, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!cond) {
		printf(" (errno %d: %s)", saved, strerror(saved));
		tap_failed++;
	}
	printf("\n");
	fflush(stdout);
	errno = saved;
	return cond;
}

/*
 * The condition is evaluated before the message's arguments (a function's
 * arguments are evaluated in no fixed order, and gcc reads them right to
 * left): tap_ok(get(&v) == 0 && v == 1, "v is %d", v) prints the v it
 * checked, not the one before the call.
 */
#define tap_ok(cond, ...)                                 \
	({                                                \
		int tap_cond_ = !!(cond);                 \
		(tap_ok)(tap_cond_, __VA_ARGS__);         \
	})

/* Checks that a call failed with -1 and the expected errno. */
#define tap_errno(call, want, ...)                                  \
	({                                                          \
		errno = 0;                                          \
		long __r = (long)(call);                            \
		int __e = errno;                                    \
		tap_ok(__r == -1 && __e == (want), __VA_ARGS__);    \
	})

static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* SYSMSG_TAP_H */
