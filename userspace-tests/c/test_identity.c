// SPDX-License-Identifier: GPL-2.0
/*
 * Execution identity: a message executes as the process that submitted it,
 * with the credentials it had when it submitted the message, its resource
 * limits and its signals, exactly as the synchronous system call would. A
 * message executed with a kernel worker's identity (kernel credentials, every
 * capability, no RLIMIT_FSIZE, signals sent to a kernel thread) is a
 * privilege escalation: an unprivileged process could write a root-only
 * sysctl, keep the setuid bit of a file it writes, exceed its file-size limit.
 *
 * Every check is a differential: the same thing is done once with the real
 * system call and once as a message, on twin set-ups (two files created the
 * same way, A for the system call and B for the message), and the outcomes
 * are compared with each other and with the value the kernel's rules give:
 *
 *  1. setuid/setgid bits: a write by uid/gid 65534 (no groups, no
 *     capabilities) clears S_ISUID of a 04777 file and S_ISGID of a 02777
 *     file and of a 02766 file owned by group 0 (PWRITE against pwrite(2));
 *  2. root keeps them: the same written by root (WRITE against write(2));
 *  3. security.capability: a write by uid 65534 removes a file's capability
 *     xattr (getxattr then fails with ENODATA);
 *  4. RLIMIT_FSIZE = 4096 (SIGXFSZ ignored): a 64 KiB write at 0 is short
 *     (4096), a write at 4096 fails with EFBIG, file sizes stay 4096; with
 *     PWRITE/pwrite(2) and WRITE/write(2) (file positions compared too);
 *  5. SIGXFSZ: a write past the limit sends SIGXFSZ to the writer: the
 *     submitter's handler runs once, as for pwrite(2); with the default
 *     disposition the submitter dies of SIGXFSZ, as with pwrite(2);
 *  6. credentials are captured at submit: (a) a PWRITE submitted by root and
 *     held behind the only worker (kernel.sysmsg.max_workers = 1, a tty READ
 *     holds it) until the process has become uid 65534 keeps the setuid bit,
 *     as root's pwrite(2) does; (b) one submitted after the drop, on files
 *     root opened and with the session used as root before, clears it;
 *     (c) a sysctl opened by root (max_workers, mode 0644) and written after
 *     the drop: write(2) and WRITE both fail with EPERM (proc_sys checks the
 *     writer at every write); a mode-0600 sysctl read after the drop: READ
 *     answers what read(2) does;
 *  7. execution context: 200 FSYNCs and 200 PREADs run on threads of the
 *     submitting process (user workers named "sysmsg*", at most
 *     kernel.sysmsg.max_workers of them, whose context switches or CPU time
 *     grow during the batch);
 *  8. root without CAP_FSETID (capset): a write clears the setuid bit and
 *     the setgid bit of a group-executable file, keeps the setgid bit of a
 *     02766 file of its own group, as pwrite(2) does.
 *
 * Set-up: the program runs as root; it mounts a fresh tmpfs (mode=1777) on a
 * private directory under /tmp and unmounts it at the end; if the mount
 * fails, everything is skipped. Every case runs in its own fork() child,
 * which opens /dev/sysmsg as root and then takes the case's identity; its
 * checks are reported by the parent ("<case>: <check>"), followed by one
 * check that the child exited normally. Waits are bounded: a reply that does
 * not come, or a child that does not exit, makes a check fail.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <grp.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "testlib.h"

#define NOBODY 65534
#define FSIZE_LIMIT 4096
#define BIG_WRITE (64 * 1024)
/* A reply should come within this (the operations are on tmpfs). */
#define MSG_TIMEOUT_MS 10000
/* A case's child must be done within this. */
#define CASE_TIMEOUT_MS 60000
/* How long a signal a message caused may take to arrive after its reply. */
#define SIGNAL_WAIT_MS 2000
/* The result of a message that got no reply (refused, or timed out). */
#define NO_REPLY LLONG_MIN
/* The bytes every test file starts with. */
#define CONTENT "0123456789abcdef"

_Static_assert(BIG_WRITE <= SYSMSG_MAX_IO_LEN, "one message can write 64 KiB");

static char mnt[64];
static __u64 next_tag = 0x1d000;
/*
 * Replies that did not come in time, over all cases (shared with the
 * children): once one did, later waits are cut short (testlib's
 * reply_timeouts), so that a kernel that loses replies fails the program
 * quickly instead of running into the runner's time-out.
 */
static int *shared_timeouts;

/* ---- results, files and identities ---- */

/* A result as the ABI reports it: a count, or -errno. */
static long long sys_res(ssize_t r)
{
	return r < 0 ? -(long long)errno : (long long)r;
}

/* "4096", "-EFBIG" or "no reply"; a few calls may be used in one printf. */
static const char *res_str(long long r)
{
	static char bufs[8][32];
	static unsigned int next;
	char *b = bufs[next++ % ARRAY_SIZE(bufs)];
	const char *name;

	if (r == NO_REPLY)
		return "no reply";
	if (r >= 0) {
		snprintf(b, sizeof(bufs[0]), "%lld", r);
		return b;
	}
	name = -r < INT_MAX ? strerrorname_np((int)-r) : NULL;
	if (name)
		snprintf(b, sizeof(bufs[0]), "-%s", name);
	else
		snprintf(b, sizeof(bufs[0]), "%lld", r);
	return b;
}

/* "ok" for 0, else as res_str(): for set-up steps. */
static const char *ok_or(long long r)
{
	return r ? res_str(r) : "ok";
}

/* A wait status, for messages: "exit 0", "signal SIGXFSZ", ... */
static const char *status_str(int status)
{
	static char bufs[4][48];
	static unsigned int next;
	char *b = bufs[next++ % ARRAY_SIZE(bufs)];

	if (WIFEXITED(status))
		snprintf(b, sizeof(bufs[0]), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(b, sizeof(bufs[0]), "signal SIG%s%s",
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
			 WCOREDUMP(status) ? " (core)" : "");
	else
		snprintf(b, sizeof(bufs[0]), "status %#x", status);
	return b;
}

/*
 * waitpid() bounded by @ms: 1 with *@status, or 0 if the child had to be
 * killed (SIGKILL, then reaped; *@status is then what it died of), -1 on error.
 */
static int wait_child(pid_t pid, int *status, int ms)
{
	long long deadline = now_ns() + ms * NSEC_PER_MSEC;
	pid_t w;

	for (;;) {
		w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 1;
		if (w < 0 && errno != EINTR)
			return -1;
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return 0;
		}
		sleep_ms(5);
	}
}

/* True if a reply is ready on @dev (poll, so nothing is reaped). */
static int reply_ready(int dev)
{
	struct pollfd pfd = { .fd = dev, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/*
 * Submits @m alone (raw SYSMSG_IOC_SUBMIT: no library fallback) with a fresh
 * tag and waits for its reply, at most MSG_TIMEOUT_MS: its result, or
 * NO_REPLY (refused at submit, or no reply in time; a diagnostic says which).
 */
static long long msg_run(int dev, struct sysmsg_msg *m)
{
	struct sysmsg_reply r;
	int n, err = 0;

	m->tag = next_tag++;
	n = raw_submit(dev, m, 1, &err);
	if (n != 1) {
		diag("opcode %u refused at submit: %s", m->opcode, res_str(n < 0 ? n : -EIO));
		return NO_REPLY;
	}
	if (reap_n(dev, &r, 1, MSG_TIMEOUT_MS) != 1) {
		diag("opcode %u: no reply in time", m->opcode);
		__atomic_add_fetch(shared_timeouts, 1, __ATOMIC_RELAXED);
		return NO_REPLY;
	}
	if (r.tag != m->tag) {
		diag("opcode %u: a reply with tag %llu, not %llu", m->opcode,
		     (unsigned long long)r.tag, (unsigned long long)m->tag);
		return NO_REPLY;
	}
	return r.result;
}

/* st_mode & 07777 of an open file, or -1. */
static int fmode(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (int)(st.st_mode & 07777);
}

/* st_size of an open file, or -1. */
static long long fsize(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long long)st.st_size;
}

/*
 * Creates @mnt/<pid>-<n>-@what-A and -B (names into @a and @b, PATH_MAX),
 * each holding CONTENT, owned by the caller, mode @mode set with fchmod()
 * after creation (so the umask does not matter). 0, or -errno.
 */
static int make_twins(char *a, char *b, const char *what, mode_t mode)
{
	static int n;
	char *paths[2] = { a, b };
	int i, fd, e;

	n++;
	for (i = 0; i < 2; i++) {
		snprintf(paths[i], PATH_MAX, "%s/%d-%d-%s-%c", mnt, getpid(), n, what, 'A' + i);
		fd = open(paths[i], O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		errno = 0;
		if (write(fd, CONTENT, strlen(CONTENT)) != (ssize_t)strlen(CONTENT) ||
		    fchmod(fd, mode) || fmode(fd) != (int)mode) {
			e = errno ? errno : EIO;
			close(fd);
			return -e;
		}
		close(fd);
	}
	return 0;
}

/* The effective capability set of this thread (64 bits), or ~0 on error. */
static __u64 effective_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d))
		return ~0ULL;
	return (__u64)d[0].effective | (__u64)d[1].effective << 32;
}

/* Identities a case's child takes (after opening the device as root). */
enum ident {
	ID_NOBODY,	   /* uid/gid 65534, no supplementary groups, no capabilities */
	ID_ROOT,	   /* unchanged: uid 0 with every capability */
	ID_ROOT_NO_FSETID, /* uid 0 without CAP_FSETID (capset) */
};

static const char *const ident_name[] = {
	[ID_NOBODY] = "uid/gid 65534",
	[ID_ROOT] = "root",
	[ID_ROOT_NO_FSETID] = "root without CAP_FSETID",
};

/* setgroups, setresgid, setresuid to 65534; then checks the result. 0 or -1. */
static int become_nobody(void)
{
	gid_t g[4];

	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return -1;
	if (getuid() != NOBODY || geteuid() != NOBODY || getgid() != NOBODY ||
	    getegid() != NOBODY || getgroups(ARRAY_SIZE(g), g) != 0 || effective_caps() != 0)
		return -1;
	return 0;
}

/* Takes identity @who: 0 or -1. */
static int take_identity(enum ident who)
{
	switch (who) {
	case ID_NOBODY:
		return become_nobody();
	case ID_ROOT:
		return geteuid() == 0 ? 0 : -1;
	case ID_ROOT_NO_FSETID:
		if (drop_cap(CAP_FSETID))
			return -1;
		return (effective_caps() & (1ULL << CAP_FSETID)) || geteuid() != 0 ? -1 : 0;
	}
	return -1;
}

/* Opens the device in a case's child (as root): the fd, or -1 after a failed check. */
static int case_dev(void)
{
	int dev = dev_open();

	rcheck(dev >= 0, "open %s as root", SYSMSG_DEVICE_PATH);
	return dev;
}

/* ---- cases 1, 2, 8: the setuid and setgid bits ---- */

struct mode_case {
	enum ident who;
	mode_t mode; /* before the write */
	mode_t want; /* after it */
	int op;	     /* SYSMSG_OP_PWRITE (at offset 0) or SYSMSG_OP_WRITE (at position 0) */
};

static void case_mode(const void *arg)
{
	const struct mode_case *c = arg;
	const char *sys = c->op == SYSMSG_OP_PWRITE ? "pwrite(2)" : "write(2)";
	const char *msg = c->op == SYSMSG_OP_PWRITE ? "PWRITE" : "WRITE";
	char pa[PATH_MAX], pb[PATH_MAX];
	struct sysmsg_msg m;
	long long rs, rm;
	int dev, fa, fb, ma, mb, ret;

	dev = case_dev();
	if (dev < 0)
		return;
	ret = make_twins(pa, pb, "mode", c->mode);
	if (!rcheck(ret == 0, "set-up: root creates A and B, mode %#o (%s)", c->mode,
		    ok_or(ret)))
		return;
	if (!rcheck(take_identity(c->who) == 0, "becomes %s", ident_name[c->who]))
		return;
	fa = open(pa, O_RDWR | O_CLOEXEC);
	fb = open(pb, O_RDWR | O_CLOEXEC);
	if (!rcheck(fa >= 0 && fb >= 0, "opens A and B O_RDWR as %s", ident_name[c->who]))
		return;
	if (c->op == SYSMSG_OP_PWRITE) {
		rs = sys_res(pwrite(fa, "x", 1, 0));
		sysmsg_prep_pwrite(&m, fb, "x", 1, 0, 0);
	} else {
		rs = sys_res(write(fa, "x", 1));
		sysmsg_prep_write(&m, fb, "x", 1, 0);
	}
	rm = msg_run(dev, &m);
	ma = fmode(fa);
	mb = fmode(fb);
	rcheck(rs == 1 && rm == 1, "1-byte %s on A: %s, %s message on B: %s (want 1)", sys,
	       res_str(rs), msg, res_str(rm));
	rcheck(ma == (int)c->want, "%s leaves A %#o (want %#o)", sys, ma, c->want);
	rcheck(mb == ma && mb == (int)c->want, "%s message leaves B %#o, %s left A %#o (want %#o)",
	       msg, mb, sys, ma, c->want);
	close(fa);
	close(fb);
	close(dev);
}

/* ---- case 3: security.capability ---- */

static void case_fcaps(const void *arg)
{
	char pa[PATH_MAX], pb[PATH_MAX], buf[64];
	struct vfs_cap_data cap;
	struct sysmsg_msg m;
	long long rs, rm, xa, xb;
	int dev, fa, fb, ret, ea, eb;

	(void)arg;
	dev = case_dev();
	if (dev < 0)
		return;
	ret = make_twins(pa, pb, "fcaps", 0777);
	if (!rcheck(ret == 0, "set-up: root creates A and B, mode 0777 (%s)", ok_or(ret)))
		return;
	memset(&cap, 0, sizeof(cap));
	cap.magic_etc = htole32(VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE);
	cap.data[0].permitted = htole32(1U << CAP_NET_RAW);
	ea = setxattr(pa, "security.capability", &cap, sizeof(cap), 0) ? errno : 0;
	eb = setxattr(pb, "security.capability", &cap, sizeof(cap), 0) ? errno : 0;
	if (ea == EOPNOTSUPP || eb == EOPNOTSUPP) {
		rcheck(1, "file capabilities # SKIP tmpfs has no security.* xattrs "
			  "(CONFIG_TMPFS_XATTR)");
		return;
	}
	if (!rcheck(!ea && !eb && getxattr(pa, "security.capability", buf, sizeof(buf)) ==
						  (ssize_t)sizeof(cap) &&
			    getxattr(pb, "security.capability", buf, sizeof(buf)) ==
				    (ssize_t)sizeof(cap),
		    "set-up: security.capability (cap_net_raw+ep) set on A and B (%s, %s)",
		    ok_or(-ea), ok_or(-eb)))
		return;
	if (!rcheck(become_nobody() == 0, "becomes uid/gid 65534"))
		return;
	fa = open(pa, O_RDWR | O_CLOEXEC);
	fb = open(pb, O_RDWR | O_CLOEXEC);
	if (!rcheck(fa >= 0 && fb >= 0, "opens A and B O_RDWR as uid 65534"))
		return;
	rs = sys_res(pwrite(fa, "x", 1, 0));
	sysmsg_prep_pwrite(&m, fb, "x", 1, 0, 0);
	rm = msg_run(dev, &m);
	xa = sys_res(getxattr(pa, "security.capability", buf, sizeof(buf)));
	xb = sys_res(getxattr(pb, "security.capability", buf, sizeof(buf)));
	rcheck(rs == 1 && rm == 1, "1-byte pwrite(2) on A: %s, PWRITE message on B: %s (want 1)",
	       res_str(rs), res_str(rm));
	rcheck(xa == -ENODATA, "after pwrite(2), getxattr(A, security.capability): %s (want -ENODATA)",
	       res_str(xa));
	rcheck(xb == xa && xb == -ENODATA,
	       "after the message, getxattr(B, security.capability): %s, A's %s (want -ENODATA)",
	       res_str(xb), res_str(xa));
	close(fa);
	close(fb);
	close(dev);
}

/* ---- case 4: RLIMIT_FSIZE ---- */

static int set_fsize_limit(void)
{
	struct rlimit rl = { FSIZE_LIMIT, FSIZE_LIMIT };

	return setrlimit(RLIMIT_FSIZE, &rl);
}

static void case_fsize(const void *arg)
{
	static char big[BIG_WRITE];
	char pa[PATH_MAX], pb[PATH_MAX];
	struct sysmsg_msg m;
	long long rs, rm, sa, sb, qa, qb;
	int dev, fa, fb, ret, positional = *(const int *)arg;
	const char *sys = positional ? "pwrite(2)" : "write(2)";
	const char *msg = positional ? "PWRITE" : "WRITE";

	dev = case_dev();
	if (dev < 0)
		return;
	ret = make_twins(pa, pb, "fsize", 0644);
	if (!rcheck(ret == 0, "set-up: files A and B (%s)", ok_or(ret)))
		return;
	fa = open(pa, O_WRONLY | O_TRUNC | O_CLOEXEC);
	fb = open(pb, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (!rcheck(fa >= 0 && fb >= 0 && signal(SIGXFSZ, SIG_IGN) != SIG_ERR &&
			    set_fsize_limit() == 0,
		    "set-up: A and B empty, RLIMIT_FSIZE %d, SIGXFSZ ignored", FSIZE_LIMIT))
		return;
	memset(big, 'z', sizeof(big));

	/* (a) 64 KiB at 0: short, up to the limit. */
	if (positional) {
		rs = sys_res(pwrite(fa, big, sizeof(big), 0));
		sysmsg_prep_pwrite(&m, fb, big, sizeof(big), 0, 0);
	} else {
		rs = sys_res(write(fa, big, sizeof(big)));
		sysmsg_prep_write(&m, fb, big, sizeof(big), 0);
	}
	rm = msg_run(dev, &m);
	sa = fsize(fa);
	sb = fsize(fb);
	rcheck(rs == FSIZE_LIMIT, "64 KiB %s at 0: %s (want %d)", sys, res_str(rs), FSIZE_LIMIT);
	rcheck(rm == rs && rm == FSIZE_LIMIT, "64 KiB %s message at 0: %s, %s %s (want %d)", msg,
	       res_str(rm), sys, res_str(rs), FSIZE_LIMIT);
	rcheck(sa == FSIZE_LIMIT && sb == sa, "sizes after the 64 KiB writes: B %lld, A %lld (want %d)",
	       sb, sa, FSIZE_LIMIT);
	if (!positional) {
		qa = lseek(fa, 0, SEEK_CUR);
		qb = lseek(fb, 0, SEEK_CUR);
		rcheck(qa == FSIZE_LIMIT && qb == qa, "file positions after them: B %lld, A %lld (want %d)",
		       qb, qa, FSIZE_LIMIT);
	}

	/* (b) 1 byte at the limit: EFBIG, nothing written. */
	if (positional) {
		rs = sys_res(pwrite(fa, "y", 1, FSIZE_LIMIT));
		sysmsg_prep_pwrite(&m, fb, "y", 1, FSIZE_LIMIT, 0);
	} else {
		lseek(fa, FSIZE_LIMIT, SEEK_SET);
		lseek(fb, FSIZE_LIMIT, SEEK_SET);
		rs = sys_res(write(fa, "y", 1));
		sysmsg_prep_write(&m, fb, "y", 1, 0);
	}
	rm = msg_run(dev, &m);
	sa = fsize(fa);
	sb = fsize(fb);
	rcheck(rs == -EFBIG, "1-byte %s at %d: %s (want -EFBIG)", sys, FSIZE_LIMIT, res_str(rs));
	rcheck(rm == rs && rm == -EFBIG, "1-byte %s message at %d: %s, %s %s (want -EFBIG)", msg,
	       FSIZE_LIMIT, res_str(rm), sys, res_str(rs));
	rcheck(sa == FSIZE_LIMIT && sb == sa, "sizes after them: B %lld, A %lld (want %d)", sb, sa,
	       FSIZE_LIMIT);
	if (!positional) {
		qa = lseek(fa, 0, SEEK_CUR);
		qb = lseek(fb, 0, SEEK_CUR);
		rcheck(qa == FSIZE_LIMIT && qb == qa, "file positions after them: B %lld, A %lld (want %d)",
		       qb, qa, FSIZE_LIMIT);
	}
	close(fa);
	close(fb);
	close(dev);
}

/* ---- case 5: SIGXFSZ ---- */

static volatile sig_atomic_t xfsz_count;
static volatile sig_atomic_t xfsz_code, xfsz_pid, xfsz_tid;

static void on_xfsz(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	xfsz_count++;
	xfsz_code = si->si_code;
	xfsz_pid = si->si_pid;
	xfsz_tid = (sig_atomic_t)syscall(SYS_gettid);
}

/* Waits up to SIGNAL_WAIT_MS for a SIGXFSZ, then 200 ms more (a second one would count). */
static int xfsz_settle(void)
{
	long long deadline = now_ns() + SIGNAL_WAIT_MS * NSEC_PER_MSEC;

	while (!xfsz_count && now_ns() < deadline)
		sleep_ms(5);
	sleep_ms(200);
	return xfsz_count;
}

/* A grandchild that writes past the limit with SIGXFSZ at its default action. */
static pid_t xfsz_victim(int dev, int fd, int use_msg)
{
	struct rlimit core0 = { 0, 0 };
	struct sysmsg_msg m;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid)
		return pid;
	/* No core file: no core limit, not dumpable, and cwd on the private tmpfs. */
	if (setrlimit(RLIMIT_CORE, &core0) || prctl(PR_SET_DUMPABLE, 0) || chdir(mnt) ||
	    signal(SIGXFSZ, SIG_DFL) == SIG_ERR || set_fsize_limit())
		_exit(10);
	if (!use_msg) {
		if (pwrite(fd, "y", 1, FSIZE_LIMIT) < 0 && errno == EFBIG)
			_exit(2); /* survived, and the write failed as it should */
		_exit(3);
	}
	sysmsg_prep_pwrite(&m, fd, "y", 1, FSIZE_LIMIT, 0);
	if (msg_run(dev, &m) != -EFBIG)
		_exit(4);
	sleep_ms(SIGNAL_WAIT_MS); /* the signal may come after the reply */
	_exit(2);
}

static void case_sigxfsz(const void *arg)
{
	struct rlimit core0 = { 0, 0 };
	char pa[PATH_MAX], pb[PATH_MAX];
	struct sigaction sa;
	struct sysmsg_msg m;
	sigset_t none;
	long long rs, rm;
	int dev, fa, fb, ret, cs, cm, st_sys = 0, st_msg = 0, w1, w2;
	pid_t g1, g2;

	(void)arg;
	dev = case_dev();
	if (dev < 0)
		return;
	ret = make_twins(pa, pb, "xfsz", 0644);
	if (!rcheck(ret == 0, "set-up: files A and B (%s)", ok_or(ret)))
		return;
	fa = open(pa, O_WRONLY | O_CLOEXEC);
	fb = open(pb, O_WRONLY | O_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_xfsz;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&none);
	if (!rcheck(fa >= 0 && fb >= 0 && !setrlimit(RLIMIT_CORE, &core0) &&
			    !sigaction(SIGXFSZ, &sa, NULL) && !sigprocmask(SIG_SETMASK, &none, NULL) &&
			    !set_fsize_limit(),
		    "set-up: RLIMIT_FSIZE %d, RLIMIT_CORE 0, a SIGXFSZ handler, nothing blocked",
		    FSIZE_LIMIT))
		return;

	/* With a handler: it runs once, in this process, for either. */
	xfsz_count = 0;
	rs = sys_res(pwrite(fa, "y", 1, FSIZE_LIMIT));
	cs = xfsz_settle();
	diag("pwrite(2): %d SIGXFSZ, si_code %d, si_pid %d (pid %d), handled in tid %d", cs,
	     (int)xfsz_code, (int)xfsz_pid, getpid(), (int)xfsz_tid);
	xfsz_count = 0;
	xfsz_code = xfsz_pid = xfsz_tid = 0;
	sysmsg_prep_pwrite(&m, fb, "y", 1, FSIZE_LIMIT, 0);
	rm = msg_run(dev, &m);
	cm = xfsz_settle();
	diag("PWRITE message: %d SIGXFSZ, si_code %d, si_pid %d (pid %d), handled in tid %d", cm,
	     (int)xfsz_code, (int)xfsz_pid, getpid(), (int)xfsz_tid);
	rcheck(rs == -EFBIG && rm == rs, "write at the limit: pwrite(2) %s, PWRITE message %s (want -EFBIG)",
	       res_str(rs), res_str(rm));
	rcheck(cs == 1, "pwrite(2) at the limit: the SIGXFSZ handler ran %d times (want 1)", cs);
	rcheck(cm == cs && cm == 1,
	       "PWRITE message at the limit: the submitter's SIGXFSZ handler ran %d times, "
	       "for pwrite(2) %d (want 1)", cm, cs);

	/* Default action: the writer dies of SIGXFSZ, for either. */
	g1 = xfsz_victim(dev, fa, 0);
	w1 = g1 > 0 ? wait_child(g1, &st_sys, MSG_TIMEOUT_MS + SIGNAL_WAIT_MS + 5000) : -1;
	g2 = xfsz_victim(dev, fb, 1);
	w2 = g2 > 0 ? wait_child(g2, &st_msg, MSG_TIMEOUT_MS + SIGNAL_WAIT_MS + 5000) : -1;
	rcheck(w1 == 1 && WIFSIGNALED(st_sys) && WTERMSIG(st_sys) == SIGXFSZ,
	       "SIG_DFL: a process doing pwrite(2) at the limit ends with %s (want signal SIGXFSZ)",
	       w1 == 1 ? status_str(st_sys) : "no exit in time");
	rcheck(w2 == 1 && WIFSIGNALED(st_msg) && WTERMSIG(st_msg) == SIGXFSZ &&
		       WIFSIGNALED(st_sys) && WTERMSIG(st_sys) == WTERMSIG(st_msg),
	       "SIG_DFL: a process submitting the PWRITE ends with %s, pwrite(2)'s with %s "
	       "(want signal SIGXFSZ; exit 2: survived)",
	       w2 == 1 ? status_str(st_msg) : "no exit in time",
	       w1 == 1 ? status_str(st_sys) : "none");
	rcheck(fsize(fa) == (long long)strlen(CONTENT) && fsize(fb) == fsize(fa),
	       "nothing was written past the limit: sizes B %lld, A %lld (want %zu)", fsize(fb),
	       fsize(fa), strlen(CONTENT));
	close(fa);
	close(fb);
	close(dev);
}

/* ---- case 6: credentials captured at submit ---- */

/* (a) submitted as root, executed after the process became uid 65534. */
static void case_inflight_root(const void *arg)
{
	static char line[64];
	char pa[PATH_MAX], pb[PATH_MAX], c0 = 0;
	struct sysmsg_msg m[2];
	struct sysmsg_reply r[2];
	long long rs, rm = NO_REPLY, rt = NO_REPLY, workers = -1;
	int dev, fa, fb, ret, master, slave = -1, held, pending, got, i, ma, mb, err;

	(void)arg;
	dev = case_dev();
	if (dev < 0)
		return;
	sysctl_get("max_workers", &workers);
	ret = make_twins(pa, pb, "inflight", 04777);
	if (!rcheck(ret == 0, "set-up: root creates A and B, mode 04777 (%s)", ok_or(ret)))
		return;
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master >= 0 && !grantpt(master) && !unlockpt(master))
		slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	fa = open(pa, O_RDWR | O_CLOEXEC);
	fb = open(pb, O_RDWR | O_CLOEXEC);
	if (!rcheck(slave >= 0 && fa >= 0 && fb >= 0,
		    "set-up: a pseudo-terminal; A and B opened O_RDWR by root"))
		return;
	rs = sys_res(pwrite(fa, "x", 1, 0)); /* the twin: a write by root */

	/* Hold the only worker with a tty READ, queue the PWRITE behind it. */
	sysmsg_prep_read(&m[0], slave, line, sizeof(line), 1);
	sysmsg_prep_pwrite(&m[1], fb, "x", 1, 0, 2);
	ret = raw_submit(dev, &m[0], 1, &err);
	sleep_ms(100);
	held = ret == 1 && !reply_ready(dev);
	ret = ret == 1 ? raw_submit(dev, &m[1], 1, &err) : ret;
	if (!rcheck(ret == 1, "a tty READ and then a 1-byte PWRITE on B submitted as root (%s)",
		    res_str(ret)))
		return;
	sleep_ms(100);
	pending = held && !reply_ready(dev) && pread(fb, &c0, 1, 0) == 1 && c0 == CONTENT[0];
	diag("max_workers %lld; tty READ holding the worker: %s; PWRITE still queued at the drop: %s",
	     workers, held ? "yes" : "no", pending ? "yes" : "no");

	if (!rcheck(become_nobody() == 0, "becomes uid/gid 65534 with the PWRITE in flight"))
		return;
	if (!rcheck(write(master, "go\n", 3) == 3, "types a line: the worker is released"))
		return;
	got = reap_n(dev, r, 2, MSG_TIMEOUT_MS);
	if (got != 2)
		__atomic_add_fetch(shared_timeouts, 1, __ATOMIC_RELAXED);
	for (i = 0; i < got; i++) {
		if (r[i].tag == 1)
			rt = r[i].result;
		if (r[i].tag == 2)
			rm = r[i].result;
	}
	ma = fmode(fa);
	mb = fmode(fb);
	rcheck(rt == 3 && rs == 1 && rm == 1,
	       "replies: tty READ %s (want 3), PWRITE %s (want 1); root's pwrite(2) %s", res_str(rt),
	       res_str(rm), res_str(rs));
	rcheck(ma == 04777, "root's pwrite(2) leaves A %#o (want 04777)", ma);
	rcheck(mb == ma && mb == 04777,
	       "PWRITE submitted as root, executed %s: B %#o, A %#o (want 04777)",
	       pending ? "after the drop to 65534" : "before the drop (not held: weak check)", mb,
	       ma);
	close(slave);
	close(master);
	close(fa);
	close(fb);
	close(dev);
}

/* (b) submitted after the drop, on files root opened, with the session used as root before. */
static void case_after_drop(const void *arg)
{
	char pa[PATH_MAX], pb[PATH_MAX], c;
	struct sysmsg_msg m;
	long long rs, rm, rw;
	int dev, fa, fb, ret, ma, mb;

	(void)arg;
	dev = case_dev();
	if (dev < 0)
		return;
	ret = make_twins(pa, pb, "afterdrop", 04777);
	if (!rcheck(ret == 0, "set-up: root creates A and B, mode 04777 (%s)", ok_or(ret)))
		return;
	fa = open(pa, O_RDWR | O_CLOEXEC);
	fb = open(pb, O_RDWR | O_CLOEXEC);
	if (!rcheck(fa >= 0 && fb >= 0, "set-up: A and B opened O_RDWR by root"))
		return;
	/* Use the session (and whatever workers it starts) as root first. */
	sysmsg_prep_pread(&m, fb, &c, 1, 0, 0);
	rw = msg_run(dev, &m);
	if (!rcheck(rw == 1, "a PREAD of B as root first: %s (want 1)", res_str(rw)))
		return;
	if (!rcheck(become_nobody() == 0, "becomes uid/gid 65534"))
		return;
	rs = sys_res(pwrite(fa, "x", 1, 0));
	sysmsg_prep_pwrite(&m, fb, "x", 1, 0, 0);
	rm = msg_run(dev, &m);
	ma = fmode(fa);
	mb = fmode(fb);
	rcheck(rs == 1 && rm == 1, "1-byte pwrite(2) on A: %s, PWRITE message on B: %s (want 1)",
	       res_str(rs), res_str(rm));
	rcheck(ma == 0777, "pwrite(2) by 65534 through root's fd leaves A %#o (want 0777)", ma);
	rcheck(mb == ma && mb == 0777,
	       "PWRITE submitted by 65534 through root's fd leaves B %#o, A %#o (want 0777)", mb,
	       ma);
	close(fa);
	close(fb);
	close(dev);
}

/* Strips a trailing newline, for messages. */
static void chomp(char *s)
{
	size_t n = strlen(s);

	if (n && s[n - 1] == '\n')
		s[n - 1] = 0;
}

/* (c) a root-only sysctl opened by root, written after the drop. */
static void case_sysctl_write(const void *arg)
{
	char path[] = SYSCTL_DIR "max_workers", before[32], after[32], shown[32];
	struct sysmsg_msg m;
	long long rs, rm;
	int dev, f1, f2;
	size_t len;

	(void)arg;
	dev = case_dev();
	if (dev < 0)
		return;
	/* Write the value it has: should the write go through, nothing changes. */
	f1 = open(path, O_RDWR | O_CLOEXEC);
	f2 = open(path, O_RDWR | O_CLOEXEC);
	if (!rcheck(f1 >= 0 && f2 >= 0 && read_text(path, before, sizeof(before)) > 0,
		    "set-up: root opens kernel.sysmsg.max_workers (0644) O_RDWR twice"))
		return;
	len = strlen(before);
	snprintf(shown, sizeof(shown), "%s", before);
	chomp(shown);
	if (!rcheck(become_nobody() == 0, "becomes uid/gid 65534"))
		return;
	rs = sys_res(write(f1, before, len));
	sysmsg_prep_write(&m, f2, before, len, 0);
	rm = msg_run(dev, &m);
	rcheck(rs == -EPERM, "write(2) of \"%s\" by uid 65534 through root's fd: %s (want -EPERM)",
	       shown, res_str(rs));
	rcheck(rm == rs && rm == -EPERM,
	       "WRITE message of \"%s\" by uid 65534 through root's fd: %s, write(2) %s (want -EPERM)",
	       shown, res_str(rm), res_str(rs));
	rcheck(read_text(path, after, sizeof(after)) > 0 && !strcmp(after, before),
	       "max_workers unchanged");
	close(f1);
	close(f2);
	close(dev);
}

/* A regular file of mode 0600 under @dir (depth <= @depth) into @out, or 0 if none. */
static int find_0600(const char *dir, int depth, char *out, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int found = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st))
			continue;
		if (S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600) {
			snprintf(out, len, "%s", path);
			found = 1;
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			found = find_0600(path, depth - 1, out, len);
		}
	}
	closedir(d);
	return found;
}

/* (c') a mode-0600 sysctl opened by root, read after the drop. */
static void case_sysctl_read(const void *arg)
{
	static const char *const known[] = {
		"/proc/sys/kernel/cad_pid",
		"/proc/sys/kernel/usermodehelper/bset",
		"/proc/sys/kernel/usermodehelper/inheritable",
	};
	static char b1[256], b2[256];
	char path[PATH_MAX] = "";
	struct sysmsg_msg m;
	struct stat st;
	long long rs, rm;
	unsigned int i;
	int dev, f1, f2;

	(void)arg;
	for (i = 0; i < ARRAY_SIZE(known) && !path[0]; i++)
		if (!stat(known[i], &st) && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600)
			snprintf(path, sizeof(path), "%s", known[i]);
	if (!path[0] && !find_0600("/proc/sys", 3, path, sizeof(path))) {
		rcheck(1, "read of a mode-0600 sysctl # SKIP none under /proc/sys");
		return;
	}
	dev = case_dev();
	if (dev < 0)
		return;
	f1 = open(path, O_RDONLY | O_CLOEXEC);
	f2 = open(path, O_RDONLY | O_CLOEXEC);
	if (!rcheck(f1 >= 0 && f2 >= 0, "set-up: root opens %s (0600) twice", path))
		return;
	if (!rcheck(become_nobody() == 0, "becomes uid/gid 65534"))
		return;
	memset(b1, 0, sizeof(b1));
	memset(b2, 0, sizeof(b2));
	rs = sys_res(read(f1, b1, sizeof(b1) - 1));
	sysmsg_prep_read(&m, f2, b2, sizeof(b2) - 1, 0);
	rm = msg_run(dev, &m);
	if (rs >= 0)
		diag("read(2) of %s by uid 65534 succeeded: the kernel checks no permission there",
		     path);
	rcheck(rm == rs && (rs <= 0 || !memcmp(b1, b2, rs)),
	       "READ message of %s by uid 65534 through root's fd: %s, read(2) %s (want equal)", path,
	       res_str(rm), res_str(rs));
	close(f1);
	close(f2);
	close(dev);
}

/* ---- case 7: the threads that execute messages ---- */

#define MAX_WORKERS_SEEN 64

struct wthread {
	pid_t tid;
	long long switches; /* voluntary + nonvoluntary */
	long long ticks;    /* utime + stime */
};

/* A "key:\tvalue" number of a status file's text, or 0. */
static long long status_field(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtoll(p + strlen(key), NULL, 10) : 0;
}

/*
 * The threads of this process whose comm starts with "sysmsg" into @w (at
 * most MAX_WORKERS_SEEN): how many; *@threads is the number of all threads.
 */
static int list_workers(struct wthread *w, int *threads)
{
	char path[300], buf[4096], *p;
	struct dirent *de;
	int n = 0, i;
	DIR *d;

	*threads = 0;
	d = opendir("/proc/self/task");
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		++*threads;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		if (read_text(path, buf, sizeof(buf)) <= 0 || strncmp(buf, "sysmsg", 6) ||
		    n == MAX_WORKERS_SEEN)
			continue;
		w[n].tid = atoi(de->d_name);
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
		w[n].switches = 0;
		if (read_text(path, buf, sizeof(buf)) > 0)
			w[n].switches = status_field(buf, "\nvoluntary_ctxt_switches:") +
					status_field(buf, "\nnonvoluntary_ctxt_switches:");
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
		w[n].ticks = 0;
		if (read_text(path, buf, sizeof(buf)) > 0 && (p = strrchr(buf, ')'))) {
			/* After ") ": state(3) ... utime(14) stime(15). */
			unsigned long long ut = 0, stime = 0;

			for (i = 3, p += 2; i < 14 && p; i++)
				p = strchr(p, ' '), p = p ? p + 1 : NULL;
			if (p && sscanf(p, "%llu %llu", &ut, &stime) == 2)
				w[n].ticks = ut + stime;
		}
		n++;
	}
	closedir(d);
	return n;
}

/* @t's counters in @w[0..@n), or 0 if absent. */
static long long counters_of(const struct wthread *w, int n, pid_t tid)
{
	int i;

	for (i = 0; i < n; i++)
		if (w[i].tid == tid)
			return w[i].switches + w[i].ticks;
	return 0;
}

#define CTX_EACH 200

static void case_context(const void *arg)
{
	static struct wthread before[MAX_WORKERS_SEEN], during[MAX_WORKERS_SEEN],
		after[MAX_WORKERS_SEEN];
	static struct sysmsg_msg m[2 * CTX_EACH];
	static struct sysmsg_reply r[2 * CTX_EACH];
	static char bufs[CTX_EACH][64];
	char pa[PATH_MAX], pb[PATH_MAX];
	long long maxw = -1, grew = 0, sum0 = 0, sum1 = 0, v;
	int dev, fd, nb, nd, na, tb, td, ta, i, n, got, bad = 0, most;

	(void)arg;
	dev = case_dev();
	if (dev < 0)
		return;
	sysctl_get("max_workers", &maxw);
	fd = make_twins(pa, pb, "ctx", 0644) ? -1 : open(pa, O_RDWR | O_CLOEXEC);
	if (!rcheck(fd >= 0 && ftruncate(fd, 4096) == 0, "set-up: a 4 KiB file on tmpfs"))
		return;
	for (i = 0; i < CTX_EACH; i++) {
		sysmsg_prep_fsync(&m[2 * i], fd, 2 * i);
		sysmsg_prep_pread(&m[2 * i + 1], fd, bufs[i], sizeof(bufs[i]), (i * 64) % 4032,
				  2 * i + 1);
	}
	nb = list_workers(before, &tb);
	n = raw_submit(dev, m, ARRAY_SIZE(m), NULL);
	nd = list_workers(during, &td);
	got = n > 0 ? reap_n(dev, r, n, MSG_TIMEOUT_MS * 3) : 0;
	if (got != n)
		__atomic_add_fetch(shared_timeouts, 1, __ATOMIC_RELAXED);
	na = list_workers(after, &ta);
	for (i = 0; i < got; i++)
		bad += r[i].result != (r[i].tag % 2 ? 64 : 0);
	rcheck(n == (int)ARRAY_SIZE(m) && got == n && !bad,
	       "%d FSYNCs and %d PREADs: %d accepted, %d replies, %d wrong results", CTX_EACH,
	       CTX_EACH, n, got, bad);

	diag("threads of the process: %d before, %d during, %d after; named sysmsg*: %d, %d, %d; "
	     "max_workers %lld",
	     tb, td, ta, nb, nd, na, maxw);
	for (i = 0; i < na; i++)
		diag("worker tid %d: %lld context switches, %lld ticks", after[i].tid,
		     after[i].switches, after[i].ticks);
	most = nd > na ? nd : na;
	rcheck(most >= 1, "messages ran on threads of the submitting process: %d during, %d after "
			  "the batch named sysmsg* (want >= 1)", nd, na);
	rcheck(most >= 1 && most <= maxw, "at most max_workers = %lld such threads (%d)", maxw, most);
	/* Growth of each worker's counters, seen during or after the batch. */
	for (i = 0; i < nd; i++) {
		v = counters_of(after, na, during[i].tid);
		if (!v)
			v = during[i].switches + during[i].ticks;
		sum0 += counters_of(before, nb, during[i].tid);
		sum1 += v;
	}
	for (i = 0; i < na; i++) {
		if (counters_of(during, nd, after[i].tid))
			continue; /* counted above */
		sum0 += counters_of(before, nb, after[i].tid);
		sum1 += after[i].switches + after[i].ticks;
	}
	grew = sum1 - sum0;
	rcheck(most >= 1 && grew > 0,
	       "their context switches + CPU ticks grew during the batch: %lld -> %lld", sum0, sum1);
	close(fd);
	close(dev);
}

/* ---- the harness ---- */

/* Runs @fn(@arg) in a fork() child; reports its checks and how it ended. */
static void run_case(const char *name, void (*fn)(const void *), const void *arg)
{
	int status = 0, w;
	pid_t pid;

	fflush(stdout);
	remote->n = 0;
	pid = fork();
	if (pid == 0) {
		reply_timeouts = __atomic_load_n(shared_timeouts, __ATOMIC_RELAXED);
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	if (pid < 0) {
		tap_ok(0, "%s: fork", name);
		return;
	}
	w = wait_child(pid, &status, CASE_TIMEOUT_MS);
	report_remote(name);
	tap_ok(w == 1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "%s: its child exited normally (%s)", name,
	       w == 1 ? status_str(status) : w == 0 ? "killed after the time-out" : "waitpid failed");
}

int main(void)
{
	static const struct mode_case modes[] = {
		/* 1: uid/gid 65534 loses the bits; PWRITE against pwrite(2). */
		{ ID_NOBODY, 04777, 0777, SYSMSG_OP_PWRITE },
		{ ID_NOBODY, 02777, 0777, SYSMSG_OP_PWRITE },
		{ ID_NOBODY, 02766, 0766, SYSMSG_OP_PWRITE },
		/* 2: root keeps them; WRITE against write(2). */
		{ ID_ROOT, 04777, 04777, SYSMSG_OP_WRITE },
		{ ID_ROOT, 02777, 02777, SYSMSG_OP_WRITE },
		{ ID_ROOT, 02766, 02766, SYSMSG_OP_WRITE },
	};
	static const struct mode_case no_fsetid[] = {
		/* 8: root without CAP_FSETID; 02766 stays: it is in the file's group. */
		{ ID_ROOT_NO_FSETID, 04777, 0777, SYSMSG_OP_PWRITE },
		{ ID_ROOT_NO_FSETID, 02777, 0777, SYSMSG_OP_PWRITE },
		{ ID_ROOT_NO_FSETID, 02766, 02766, SYSMSG_OP_PWRITE },
	};
	static const int positional = 1, at_position = 0;
	long long old_workers = -1;
	char name[96];
	unsigned int i;
	int dev, ret;

	snprintf(mnt, sizeof(mnt), "/tmp/sysmsg-identity-XXXXXX");
	if (!mkdtemp(mnt)) {
		tap_ok(1, "identity # SKIP no temporary directory (%s)", strerror(errno));
		return tap_done();
	}
	if (mount("tmpfs", mnt, "tmpfs", 0, "mode=1777")) {
		tap_ok(1, "identity # SKIP cannot mount a tmpfs on %s (%s)", mnt, strerror(errno));
		rmdir(mnt);
		return tap_done();
	}
	diag("a private tmpfs on %s", mnt);
	shared_timeouts = mmap(NULL, sizeof(*shared_timeouts), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!tap_ok(remote_init() == 0 && shared_timeouts != MAP_FAILED,
		    "shared pages for the children's checks"))
		goto out;
	dev = dev_open();
	if (!tap_ok(dev >= 0, "open %s", SYSMSG_DEVICE_PATH))
		goto out;
	close(dev);

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		snprintf(name, sizeof(name), "%d %s %s, mode %#o", modes[i].who == ID_ROOT ? 2 : 1,
			 modes[i].mode & S_ISUID ? "setuid" : "setgid", ident_name[modes[i].who],
			 modes[i].mode);
		run_case(name, case_mode, &modes[i]);
	}
	run_case("3 security.capability, uid 65534", case_fcaps, NULL);
	run_case("4 RLIMIT_FSIZE, PWRITE", case_fsize, &positional);
	run_case("4 RLIMIT_FSIZE, WRITE", case_fsize, &at_position);
	run_case("5 SIGXFSZ", case_sigxfsz, NULL);

	sysctl_get("max_workers", &old_workers);
	ret = sysctl_set_saved("max_workers", 1);
	if (tap_ok(ret == 0, "6 kernel.sysmsg.max_workers = 1 (was %lld; %s)", old_workers,
		   ok_or(ret)))
		run_case("6a creds at submit, root then 65534 in flight", case_inflight_root, NULL);
	run_case("6b creds at submit, submitted as 65534", case_after_drop, NULL);
	run_case("6c sysctl write as 65534", case_sysctl_write, NULL);
	run_case("6c sysctl read as 65534", case_sysctl_read, NULL);
	if (!ret)
		tap_ok(sysctl_set("max_workers", old_workers) == 0,
		       "6 kernel.sysmsg.max_workers restored to %lld", old_workers);

	run_case("7 execution context", case_context, NULL);

	for (i = 0; i < ARRAY_SIZE(no_fsetid); i++) {
		snprintf(name, sizeof(name), "8 %s %s, mode %#o",
			 no_fsetid[i].mode & S_ISUID ? "setuid" : "setgid",
			 ident_name[no_fsetid[i].who], no_fsetid[i].mode);
		run_case(name, case_mode, &no_fsetid[i]);
	}

out:
	if (umount(mnt) && umount2(mnt, MNT_DETACH))
		diag("umount %s: %s", mnt, strerror(errno));
	rmdir(mnt);
	return tap_done();
}
