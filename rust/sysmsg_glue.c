// SPDX-License-Identifier: GPL-2.0
/*
 * sysmsg: C glue for kernel interfaces that are static inline functions or
 * macros in C and so have no Rust binding (struct field access of struct file
 * and task_struct included: those go through the C compiler's view of the
 * structures, see "Things we learned" in README.md).
 *
 * Each function is a thin, documented wrapper; the Rust side calls them only
 * from small safe wrappers (rust/glue.rs).
 */
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/hrtimer.h>
#include <linux/fdtable.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "sysmsg_glue.h"

/* The access a message needs to the file. */
#define SYSMSG_NEED_READ 1
#define SYSMSG_NEED_WRITE 2
#define SYSMSG_NEED_OFFSET 4

/*
 * Checks the file mode for an operation, as read(2)/write(2)/pread(2)/pwrite(2)
 * do: -EBADF without the read or write mode, -ESPIPE for an offset on a file
 * without offsets. Returns 1 if the file can be polled and supports
 * IOCB_NOWAIT (the message may wait on its wait queue instead of a worker),
 * 0 if it must execute on a worker; plus 2 if the file is O_NONBLOCK.
 */
int sysmsg_file_check(struct file *file, unsigned int need)
{
	if ((need & SYSMSG_NEED_READ) && !(file->f_mode & FMODE_READ))
		return -EBADF;
	if ((need & SYSMSG_NEED_WRITE) && !(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if ((need & SYSMSG_NEED_OFFSET) &&
	    !(file->f_mode & ((need & SYSMSG_NEED_READ) ? FMODE_PREAD : FMODE_PWRITE)))
		return -ESPIPE;
	return (file_can_poll(file) && (file->f_mode & FMODE_NOWAIT) ? 1 : 0) |
	       (file->f_flags & O_NONBLOCK ? 2 : 0);
}

/*
 * Reads or writes @len bytes of kernel memory at @buf from or to @file.
 * @pos: the offset, or NULL for the file position (read(2)/write(2)
 * semantics: the position is used and advanced; streams have none).
 * @nowait: fail with -EAGAIN instead of blocking (IOCB_NOWAIT).
 */
ssize_t sysmsg_file_rw(struct file *file, void *buf, size_t len, loff_t *pos,
		       bool write, bool nowait)
{
	struct kvec kv = { .iov_base = buf, .iov_len = len };
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t ret;

	/*
	 * What vfs_read()/vfs_write() answer for files they would hand to a
	 * legacy ->read/->write: a directory reads as EISDIR; other files without
	 * ->read_iter/->write_iter cannot be driven from kernel memory (EINVAL,
	 * as kernel_read()/kernel_write() answer).
	 */
	if (!write && S_ISDIR(file_inode(file)->i_mode))
		return -EISDIR;
	init_sync_kiocb(&kiocb, file);
	if (nowait)
		kiocb.ki_flags |= IOCB_NOWAIT;
	if (pos)
		kiocb.ki_pos = *pos;
	else if (!(file->f_mode & FMODE_STREAM))
		kiocb.ki_pos = READ_ONCE(file->f_pos);
	iov_iter_kvec(&iter, write ? ITER_SOURCE : ITER_DEST, &kv, 1, len);
	if (write)
		ret = vfs_iocb_iter_write(file, &kiocb, &iter);
	else
		ret = vfs_iocb_iter_read(file, &kiocb, &iter);
	if (ret > 0 && !pos && !(file->f_mode & FMODE_STREAM))
		WRITE_ONCE(file->f_pos, kiocb.ki_pos);
	return ret;
}

/* fsync(2)/fdatasync(2) of a referenced file. */
int sysmsg_file_sync(struct file *file, bool datasync)
{
	return vfs_fsync(file, datasync);
}

/*
 * Poll arming. A message waiting for a file owns two wait-queue entries
 * (pipes, for one, register a read and a write queue); the head an entry is
 * on is kept in its ->private, set to NULL when the entry is removed by a
 * POLLFREE wake-up (the head is then about to be freed, after an RCU grace
 * period).
 */
struct sysmsg_pt {
	poll_table pt;
	struct wait_queue_entry *entries;
	unsigned int used;
};

static void sysmsg_pt_queue(struct file *file, wait_queue_head_t *head,
			    poll_table *pt)
{
	struct sysmsg_pt *p = container_of(pt, struct sysmsg_pt, pt);
	struct wait_queue_entry *e;

	if (p->used >= 2)
		return;
	e = &p->entries[p->used++];
	/* ->flags, ->func and the list head were set by sysmsg_wait_entry_init(). */
	e->private = head;
	add_wait_queue(head, e);
}

/* Prepares @entries[0] and [1] to call @func0 and @func1 when woken. */
void sysmsg_wait_entry_init(struct wait_queue_entry *entries,
			    wait_queue_func_t func0, wait_queue_func_t func1)
{
	init_waitqueue_func_entry(&entries[0], func0);
	init_waitqueue_func_entry(&entries[1], func1);
	INIT_LIST_HEAD(&entries[0].entry);
	INIT_LIST_HEAD(&entries[1].entry);
}

/*
 * Adds @entries to the wait queues of @file for @events and returns the
 * events that are ready now. The entries' wake function may run as soon as
 * they are added.
 */
__poll_t sysmsg_poll_arm(struct file *file, struct wait_queue_entry *entries,
			 __poll_t events)
{
	struct sysmsg_pt p = { .entries = entries, .used = 0 };

	init_poll_funcptr(&p.pt, sysmsg_pt_queue);
	p.pt._key = events | EPOLLERR | EPOLLHUP;
	return vfs_poll(file, &p.pt) & (events | EPOLLERR | EPOLLHUP);
}

/*
 * Removes @entries from the wait queues they are on. After this returns no
 * wake function of theirs runs or will run.
 */
void sysmsg_poll_disarm(struct wait_queue_entry *entries)
{
	int i;

	rcu_read_lock();
	for (i = 0; i < 2; i++) {
		wait_queue_head_t *head = smp_load_acquire((wait_queue_head_t **)&entries[i].private);

		if (head) {
			remove_wait_queue(head, &entries[i]);
			entries[i].private = NULL;
		}
	}
	rcu_read_unlock();
}

/*
 * From a wake function (the head's lock is held): removes @entry from its
 * queue, as for POLLFREE, where the head goes away after the wake-up.
 */
void sysmsg_wait_entry_detach(struct wait_queue_entry *entry)
{
	list_del_init(&entry->entry);
	smp_store_release((wait_queue_head_t **)&entry->private, NULL);
}

/* The poll bits a wake-up key carries (all of them when there is no key). */
__poll_t sysmsg_wake_key_events(void *key)
{
	return key ? key_to_poll(key) : ~(__poll_t)0;
}

/* The address space of the calling task, with a reference (mmgrab), or NULL. */
struct mm_struct *sysmsg_current_mm_grab(void)
{
	struct mm_struct *mm = current->mm;

	if (mm)
		mmgrab(mm);
	return mm;
}

/* Whether the calling task runs in @mm. */
bool sysmsg_current_mm_is(struct mm_struct *mm)
{
	return current->mm == mm;
}

/* Drops a reference taken by sysmsg_current_mm_grab(). */
void sysmsg_mm_drop(struct mm_struct *mm)
{
	mmdrop(mm);
}

/*
 * The wait queue a process's replies wait on: the completion side publishes a
 * reply and wakes readers inside the queue's lock, so that a reader that saw
 * the queue empty cannot miss it, and so that a flag the owner sets under the
 * lock orders it against every publisher.
 */
unsigned long sysmsg_wq_lock(struct wait_queue_head *wq)
{
	unsigned long flags;

	spin_lock_irqsave(&wq->lock, flags);
	return flags;
}

void sysmsg_wq_unlock_wake(struct wait_queue_head *wq, unsigned long flags,
			   __poll_t events)
{
	if (events)
		wake_up_locked_poll(wq, events);
	spin_unlock_irqrestore(&wq->lock, flags);
}

/* wake_up_poll() */
void sysmsg_wq_wake(struct wait_queue_head *wq, __poll_t events)
{
	wake_up_poll(wq, events);
}

/*
 * Copies @words 8-byte words from user @src to @dst inside one user-access
 * window, a word at a time: for arrays of the ABI's fixed-size structures,
 * which are multiples of 8 bytes. copy_from_user() moves 64 bytes and more
 * with "rep movsb" on CPUs with ERMS but not FSRM, whose start-up cost a
 * 64-byte message does not amortise (and which emulators run a byte at a
 * time). Returns 0, or -EFAULT if a word faulted (@dst may be partly written).
 */
int sysmsg_copy_words_in(u64 *dst, const void __user *src, unsigned long words)
{
	const u64 __user *s = src;
	unsigned long i;

	if (!IS_ALIGNED((unsigned long)src, sizeof(u64)))
		return copy_from_user(dst, src, words * sizeof(u64)) ? -EFAULT : 0;
	if (!user_access_begin(s, words * sizeof(u64)))
		return -EFAULT;
	for (i = 0; i < words; i++)
		unsafe_get_user(dst[i], &s[i], fault);
	user_access_end();
	return 0;
fault:
	user_access_end();
	return -EFAULT;
}

/* The other way: @words words from @src to user @dst. */
int sysmsg_copy_words_out(void __user *dst, const u64 *src, unsigned long words)
{
	u64 __user *d = dst;
	unsigned long i;

	if (!IS_ALIGNED((unsigned long)dst, sizeof(u64)))
		return copy_to_user(dst, src, words * sizeof(u64)) ? -EFAULT : 0;
	if (!user_write_access_begin(d, words * sizeof(u64)))
		return -EFAULT;
	for (i = 0; i < words; i++)
		unsafe_put_user(src[i], &d[i], fault);
	user_write_access_end();
	return 0;
fault:
	user_write_access_end();
	return -EFAULT;
}

/* wake_up_poll() if wq_has_sleeper(): for lock-free producers. */
void sysmsg_wq_wake_sleepers(struct wait_queue_head *wq, __poll_t events)
{
	if (wq_has_sleeper(wq))
		wake_up_poll(wq, events);
}

/* Starts @timer (set up by hrtimer_setup) at @ns, absolute or relative. */
void sysmsg_hrtimer_start(struct hrtimer *timer, s64 ns, bool abs)
{
	hrtimer_start(timer, ns_to_ktime(ns), abs ? HRTIMER_MODE_ABS : HRTIMER_MODE_REL);
}

/* access_ok(): whether [@addr, @addr + @len) lies in user address space. */
bool sysmsg_access_ok(unsigned long addr, unsigned long len)
{
	return access_ok((void __user *)addr, len);
}

/* cond_resched() (a macro). */
void sysmsg_cond_resched(void)
{
	cond_resched();
}

/*
 * The process a limits ioctl names: @vpid in the caller's pid namespace, or
 * the caller's own process for 0. Returns its thread group id in the initial
 * pid namespace, -ESRCH if there is no such process, or -EPERM if the caller
 * lacks the rights prlimit(2) requires for it (check_prlimit_permission():
 * the target's real, effective and saved uids equal the caller's real uid,
 * and likewise for gids, or CAP_SYS_RESOURCE in the target's user namespace).
 */
int sysmsg_limits_target(pid_t vpid)
{
	const struct cred *cred = current_cred(), *tcred;
	struct task_struct *tsk;
	struct pid *pid;
	bool id_match;
	int ret;

	if (vpid < 0)
		return -ESRCH;
	if (vpid == 0)
		return task_tgid_nr(current);
	pid = find_get_pid(vpid);
	tsk = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
	put_pid(pid);
	if (!tsk)
		return -ESRCH;
	ret = task_tgid_nr(tsk);
	if (!same_thread_group(tsk, current)) {
		rcu_read_lock();
		tcred = __task_cred(tsk);
		id_match = uid_eq(cred->uid, tcred->euid) && uid_eq(cred->uid, tcred->suid) &&
			   uid_eq(cred->uid, tcred->uid) && gid_eq(cred->gid, tcred->egid) &&
			   gid_eq(cred->gid, tcred->sgid) && gid_eq(cred->gid, tcred->gid);
		if (!id_match && !ns_capable(tcred->user_ns, CAP_SYS_RESOURCE))
			ret = -EPERM;
		rcu_read_unlock();
	}
	put_task_struct(tsk);
	return ret;
}

/* The pid in the caller's namespace of the process with thread group id @tgid
 * in the initial namespace; 0 if it has none there. */
pid_t sysmsg_tgid_vnr(pid_t tgid)
{
	struct pid *pid;
	pid_t nr;

	rcu_read_lock();
	pid = find_pid_ns(tgid, &init_pid_ns);
	nr = pid ? pid_vnr(pid) : 0;
	rcu_read_unlock();
	return nr;
}

/* capable(CAP_SYS_RESOURCE). */
bool sysmsg_capable_sys_resource(void)
{
	return capable(CAP_SYS_RESOURCE);
}

/*
 * A reference on this module. Every session holds one, so that rmmod is
 * refused while a session or any of its messages exists, also after the last
 * file was closed (an operation still executing on a worker keeps its
 * session). __module_get() is static inline.
 */
void sysmsg_module_get(void)
{
	__module_get(THIS_MODULE);
}

/* Drops a reference taken by sysmsg_module_get(). */
void sysmsg_module_put(void)
{
	module_put(THIS_MODULE);
}

static int sysmsg_match_file(const void *p, struct file *file, unsigned int fd)
{
	return file == p;
}

/*
 * Called from ->flush, after one of the caller's descriptors of @file left
 * its table: whether the calling process still holds @file.
 *   1  another descriptor in the caller's table refers to it;
 *   0  the process no longer holds it: it closed its last descriptor, or
 *      this is exit_files() of the last user of its table;
 *  -1  undecided: a thread that has its own table (unshare(CLONE_FILES)) is
 *      exiting while other threads of its group live on.
 * exit_files() clears current->files before closing the table, and closes
 * it only when the last thread sharing it is done, so a NULL table means
 * that no thread uses this table any more. Another thread of the group that
 * is neither exiting nor a user worker (sysmsg's own workers have no table)
 * then has a table of its own, which may hold the file.
 */
int sysmsg_current_holds(struct file *file)
{
	struct task_struct *t;
	int others = 0;

	if (current->files)
		return iterate_fd(current->files, 0, sysmsg_match_file, file) ? 1 : 0;
	rcu_read_lock();
	for_each_thread(current, t)
		if (t != current && !(t->flags & (PF_EXITING | PF_USER_WORKER)))
			others = 1;
	rcu_read_unlock();
	return others ? -1 : 0;
}

/*
 * kernel.sysmsg.enabled = 1: whether the caller may open /dev/sysmsg, as
 * io_uring_allowed() decides for kernel.io_uring_disabled = 1: a member of
 * the group @gid (-1: no group) or CAP_SYS_ADMIN.
 */
bool sysmsg_may_open_restricted(int gid)
{
	if (gid >= 0) {
		kgid_t kgid = make_kgid(&init_user_ns, gid);

		if (gid_valid(kgid) && in_group_p(kgid))
			return true;
	}
	return capable(CAP_SYS_ADMIN);
}

/* spin_lock_irqsave()/spin_unlock_irqrestore(), macros in C (rust/irqlock.rs). */
unsigned long sysmsg_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void sysmsg_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

/*
 * Execution identity (rust/identity.rs). get_current_cred() is inline; so are
 * override_creds() and revert_creds(), which are the same pointer swap of the
 * subjective credentials: sysmsg_swap_creds() installs @cred as current's
 * subjective credentials and returns the ones it replaced.
 */
const struct cred *sysmsg_get_current_cred(void)
{
	return get_current_cred();
}

const struct cred *sysmsg_swap_creds(const struct cred *cred)
{
	return override_creds(cred);
}

/*
 * Hands SIGPIPE and SIGXFSZ on to @to if they are pending on the calling
 * thread alone. A worker thread blocks every signal but SIGKILL and SIGSTOP,
 * so a signal that the kernel sends to "current" while a worker executes
 * (SIGPIPE from a pipe or socket write, SIGXFSZ past RLIMIT_FSIZE) stays
 * pending there: it is taken off and sent to the submitting thread, as the
 * system call would have. Only the worker itself raises these two on itself
 * (nothing else signals a worker but SIGKILL/SIGSTOP), so the first look
 * needs no lock.
 */
void sysmsg_forward_thread_signals(struct task_struct *to)
{
	static const int sigs[] = { SIGPIPE, SIGXFSZ };
	kernel_siginfo_t info;
	enum pid_type type;
	sigset_t mask;
	int i, taken;

	if (!(READ_ONCE(current->pending.signal.sig[0]) & (sigmask(SIGPIPE) | sigmask(SIGXFSZ))))
		return;
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		siginitsetinv(&mask, sigmask(sigs[i]));
		spin_lock_irq(&current->sighand->siglock);
		taken = sigismember(&current->pending.signal, sigs[i]) &&
			dequeue_signal(&mask, &info, &type) == sigs[i];
		spin_unlock_irq(&current->sighand->siglock);
		if (taken)
			send_sig(sigs[i], to, 0);
	}
}

/* fatal_signal_pending(current) (inline). */
bool sysmsg_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

/* __set_current_state(TASK_RUNNING) (a macro): a worker that found work. */
void sysmsg_set_running(void)
{
	__set_current_state(TASK_RUNNING);
}
