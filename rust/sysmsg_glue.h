/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sysmsg: the functions rust/sysmsg_glue.c exports to the Rust side of the
 * module (declared again, for Rust, in rust/glue.rs).
 */
#ifndef SYSMSG_GLUE_H
#define SYSMSG_GLUE_H

#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/mm_types.h>
#include <linux/poll.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

int sysmsg_file_check(struct file *file, unsigned int need);
ssize_t sysmsg_file_rw(struct file *file, void *buf, size_t len, loff_t *pos, bool write, bool nowait);
int sysmsg_file_sync(struct file *file, bool datasync);
void sysmsg_wait_entry_init(struct wait_queue_entry *entries, wait_queue_func_t func0, wait_queue_func_t func1);
__poll_t sysmsg_poll_arm(struct file *file, struct wait_queue_entry *entries, __poll_t events);
void sysmsg_poll_disarm(struct wait_queue_entry *entries);
void sysmsg_wait_entry_detach(struct wait_queue_entry *entry);
__poll_t sysmsg_wake_key_events(void *key);
struct mm_struct *sysmsg_current_mm_grab(void);
bool sysmsg_current_mm_is(struct mm_struct *mm);
void sysmsg_mm_drop(struct mm_struct *mm);
unsigned long sysmsg_wq_lock(struct wait_queue_head *wq);
void sysmsg_wq_unlock_wake(struct wait_queue_head *wq, unsigned long flags, __poll_t events);
void sysmsg_wq_wake(struct wait_queue_head *wq, __poll_t events);
void sysmsg_wq_wake_sleepers(struct wait_queue_head *wq, __poll_t events);
int sysmsg_copy_words_in(u64 *dst, const void __user *src, unsigned long words);
int sysmsg_copy_words_out(void __user *dst, const u64 *src, unsigned long words);
void sysmsg_hrtimer_start(struct hrtimer *timer, s64 ns, bool abs);
bool sysmsg_access_ok(unsigned long addr, unsigned long len);
void sysmsg_cond_resched(void);
int sysmsg_limits_target(pid_t vpid);
pid_t sysmsg_tgid_vnr(pid_t tgid);
bool sysmsg_capable_sys_resource(void);
void sysmsg_module_get(void);
void sysmsg_module_put(void);
int sysmsg_current_holds(struct file *file);
bool sysmsg_may_open_restricted(int gid);
unsigned long sysmsg_spin_lock_irqsave(spinlock_t *lock);
void sysmsg_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);

const struct cred *sysmsg_get_current_cred(void);
const struct cred *sysmsg_swap_creds(const struct cred *cred);
void sysmsg_forward_thread_signals(struct task_struct *to);
bool sysmsg_fatal_signal_pending(void);
void sysmsg_set_running(void);

#endif /* SYSMSG_GLUE_H */
