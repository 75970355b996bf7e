// SPDX-License-Identifier: GPL-2.0

//! An open file of `/dev/sysmsg` and its file operations.
//!
//! The file holds one [`Session`] per process that uses it: the opener's, reached without a lock,
//! and those of processes that inherited the file, in a tree by tgid. Submitting (`write`,
//! `SYSMSG_IOC_SUBMIT`), reaping (`read`, `SYSMSG_IOC_REAP`), cancelling and `poll` act on the
//! calling process's session only.
//!
//! # When a process's messages are aborted
//!
//! A process's session lives while the process holds the file. It is aborted ([`Session::abort`]:
//! everything in flight cancelled or dropped, its slots given back, its per-process state put)
//! when:
//!
//! - the process **exits**, however (exit, a fatal signal, a crash, `exit_group` from any
//!   thread): `->flush`, called from `exit_files()` of its last thread;
//! - it **closes its last descriptor** of the file, or **`exec`s** with the descriptor
//!   close-on-exec: `->flush` too, seeing the file in no slot of its table any more;
//! - it **`exec`s** keeping the descriptor: at the new image's first use of the file (the session
//!   belongs to the old address space), and at the latest when it exits; the writeback of a read
//!   never goes to another address space (`ops::file`);
//! - the file is **released** (its last close, in whichever process).
//!
//! Why `->flush`: it is the one hook a module has that runs in the context of a process giving up
//! a file, exit included, with no kernel change and no polling. `exit_files()` closes the table
//! of the last thread of a group (after `exit_mm()`; the fds of a dying group are closed by its
//! last user) with `current->files` already cleared, and a plain `close()` calls it after the
//! descriptor left the table, so "does this process still hold the file?" has an exact answer
//! there (`glue::current_holds`). The alternatives: `->release` runs only at the file's last
//! close, in any process, so a child keeping the file open would keep its parent's messages
//! running; an `mmu_notifier` on the address space needs `CONFIG_MMU_NOTIFIER`, which many
//! kernels (tinyconfig-based ones here) do not have, and its release can be delayed by anyone
//! holding the mm; `task_work` runs at every return to user space, not only at exit. Nothing
//! waits in the exiting task: operations executing on a worker finish in the background.
//!
//! Not covered: a thread that `unshare(CLONE_FILES)`d and exits while its group lives on
//! (undecided: the session stays until the process exits or the file is released), and processes
//! sharing one descriptor table without being threads of one group (`CLONE_FILES` alone).

use crate::{
    access,
    context::Context,
    glue::{self, Holds},
    limits::{Change, PER_PROCESS_LIMITS},
    miscdev::FileOps,
    phases,
    process::current_tgid,
    session::{DirectReplies, Session},
    uapi::{
        self, sysmsg_cancel, sysmsg_info, sysmsg_limits, sysmsg_msg, sysmsg_proc_stats,
        sysmsg_reap, sysmsg_reply, sysmsg_stats, sysmsg_submit,
    },
    uarray::{read_one, Records, UserArray},
    wait::PollTable,
};
use core::mem::size_of;
use kernel::{
    fs::File,
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    seq_file::SeqFile,
    seq_print,
    sync::{Arc, ArcBorrow, Mutex},
    task::Pid,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice},
};

/// The private data of one open file of `/dev/sysmsg`.
#[pin_data]
pub(crate) struct SysmsgFile {
    /// The device-wide state.
    ctx: Arc<Context>,
    /// The session of the process that opened the file.
    opener: Arc<Session>,
    /// Sessions of other processes that use the file (after `fork()`), by tgid.
    #[pin]
    others: Mutex<RBTree<Pid, Arc<Session>>>,
}

impl SysmsgFile {
    /// A new session for the process `tgid`.
    fn new_session(ctx: &Arc<Context>, tgid: Pid) -> Result<Arc<Session>> {
        let process = ctx.processes.get(tgid)?;
        Session::new(ctx.clone(), process.clone()).inspect_err(|_| ctx.processes.put(&process))
    }

    /// Runs `f` with the calling process's session, creating it on first use, and replacing it
    /// if it belongs to an address space the process left (`exec`).
    fn with_session<R>(&self, f: impl FnOnce(&Arc<Session>) -> R) -> Result<R> {
        let tgid = current_tgid();
        if tgid == self.opener.tgid() {
            if self.opener.is_current() {
                return Ok(f(&self.opener));
            }
            // The opener exec'd: its old image's messages go.
            self.abort(&self.opener);
        }
        let found = self.others.lock().get(&tgid).cloned();
        if let Some(s) = found.filter(|s| s.is_current()) {
            return Ok(f(&s));
        }
        // First use, or the session of an old image. The new session takes its reference on the
        // process before the old one puts its own, so the process's limits carry over.
        let fresh = Self::new_session(&self.ctx, tgid)?;
        let node = RBTreeNodeReservation::new(GFP_KERNEL)
            .inspect_err(|_| self.ctx.processes.put(fresh.process()))?;
        let mut others = self.others.lock();
        let (session, stale) = match others.get(&tgid) {
            // Another thread of the process won the race.
            Some(s) if s.is_current() => (s.clone(), Some(fresh)),
            _ => {
                let old = others.insert(node.into_node(tgid, fresh.clone()));
                (fresh, old.map(|n| n.to_key_value().1))
            }
        };
        drop(others);
        // The old image's session, or our fresh one if we lost the race (aborting an empty
        // session only puts its process).
        if let Some(stale) = stale {
            self.abort(&stale);
        }
        Ok(f(&session))
    }

    /// Aborts `session` (once) and puts its process.
    fn abort(&self, session: &Session) -> bool {
        let done = session.abort();
        if done {
            self.ctx.processes.put(session.process());
        }
        done
    }

    /// The process `tgid` gave up the file: aborts its session.
    fn give_up(&self, tgid: Pid) {
        if tgid == self.opener.tgid() {
            self.abort(&self.opener);
        }
        let removed = self.others.lock().remove(&tgid);
        if let Some(session) = removed {
            self.abort(&session);
        }
    }

    /// `SYSMSG_IOC_GET_INFO`.
    fn get_info(&self, arg: usize) -> Result<isize> {
        let info = sysmsg_info {
            abi_version: uapi::SYSMSG_ABI_VERSION,
            info_size: size_of::<sysmsg_info>() as u32,
            features: uapi::SYSMSG_FEATURES_ALL.into(),
            ops: phases::OPS_MASK,
            msg_size: size_of::<sysmsg_msg>() as u32,
            reply_size: size_of::<sysmsg_reply>() as u32,
            max_io_len: uapi::SYSMSG_MAX_IO_LEN,
            queue_limit: self.with_session(|s| s.process().limits().soft)?,
            reserved: [0; 3],
        };
        UserSlice::new(UserPtr::from_addr(arg), size_of::<sysmsg_info>())
            .writer()
            .write(&info)?;
        Ok(0)
    }

    /// Reads the in/out argument of an ioctl that acts before it answers (submit, reap), and
    /// writes it back unchanged first: an argument that cannot be written fails with `EFAULT`
    /// before anything is accepted or delivered, not after.
    fn read_inout<T: FromBytes + AsBytes + Default + Copy>(
        arg: usize,
    ) -> Result<(T, UserArray<T>)> {
        let req = read_one(&mut UserArray::<T>::new(arg as u64, 1))?;
        UserArray::new(arg as u64, 1).write(&[req])?;
        Ok((req, UserArray::new(arg as u64, 1)))
    }

    /// `SYSMSG_IOC_SUBMIT`, and with `SYSMSG_SUBMIT_REAP(_WAIT)` a reap in the same call.
    fn submit_ioctl(&self, arg: usize) -> Result<isize> {
        let (mut req, mut writer) = Self::read_inout::<sysmsg_submit>(arg)?;
        let known =
            uapi::SYSMSG_SUBMIT_WAIT | uapi::SYSMSG_SUBMIT_REAP | uapi::SYSMSG_SUBMIT_REAP_WAIT;
        if req.flags & !known != 0 {
            return Err(EINVAL);
        }
        let reap = req.flags & (uapi::SYSMSG_SUBMIT_REAP | uapi::SYSMSG_SUBMIT_REAP_WAIT) != 0;
        if reap && req.reap_max == 0 || !reap && (req.replies != 0 || req.reap_max != 0) {
            return Err(EINVAL);
        }
        let (accepted, err, reaped) = self.submit_reap(
            &req,
            &mut UserArray::new(req.msgs, req.count as usize),
            &mut UserArray::new(req.replies, req.reap_max as usize),
            &mut UserArray::new(req.replies, 1),
        )?;
        req.accepted = accepted as u32;
        req.reaped = reaped as u32;
        // A wait ended by a signal says EINTR: the restart codes never reach user space.
        req.error = err.map_or(0, |e| {
            if e == ERESTARTSYS { EINTR } else { e }
                .to_errno()
                .wrapping_neg()
        });
        if accepted > 0 || reaped > 0 {
            // As in reap: the messages are accepted, the replies delivered, and the return value
            // and the replies themselves say so.
            let _ = writer.write(&[req]);
        } else {
            writer.write(&[req])?;
        }
        match err {
            Some(e) if accepted == 0 => Err(e),
            _ => Ok(accepted as isize),
        }
    }

    /// The work of [`SysmsgFile::submit_ioctl`] on `req`'s messages `msgs` and reply array
    /// `replies` (`probe`: its first record): how many messages were accepted, the error that
    /// refused the next one, and how many replies were stored.
    fn submit_reap(
        &self,
        req: &sysmsg_submit,
        msgs: &mut dyn Records<sysmsg_msg>,
        replies: &mut dyn Records<sysmsg_reply>,
        probe: &mut dyn Records<sysmsg_reply>,
    ) -> Result<(usize, Option<Error>, usize)> {
        let reap = req.flags & (uapi::SYSMSG_SUBMIT_REAP | uapi::SYSMSG_SUBMIT_REAP_WAIT) != 0;
        if reap {
            // A reply array that cannot be written fails the call before anything is submitted.
            probe.write(&[sysmsg_reply::default()])?;
        }
        let wait = req.flags & uapi::SYSMSG_SUBMIT_WAIT != 0;
        let reap_wait = req.flags & uapi::SYSMSG_SUBMIT_REAP_WAIT != 0;
        self.with_session(|s| {
            let mut direct = DirectReplies {
                writer: replies,
                room: if reap { req.reap_max as usize } else { 0 },
                stored: 0,
            };
            let (accepted, err) = s.submit(msgs, req.count as usize, wait, Some(&mut direct));
            // The reap part reports through `reaped` only; a refused submission never waits, nor
            // does one that already has replies.
            let mut reaped = direct.stored;
            if reap && direct.room > 0 {
                let wait = reap_wait && err.is_none() && reaped == 0;
                reaped += s.reap(direct.writer, direct.room, wait).unwrap_or(0);
            }
            (accepted, err, reaped)
        })
    }

    /// `SYSMSG_IOC_GET_LIMITS` / `SYSMSG_IOC_SET_LIMITS`.
    fn limits_ioctl(&self, arg: usize, set: bool) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<sysmsg_limits>()).reader_writer();
        let mut req: sysmsg_limits = reader.read()?;
        let known = if set {
            uapi::SYSMSG_LIMIT_SOFT | uapi::SYSMSG_LIMIT_HARD
        } else {
            0
        };
        if req.flags & !known != 0 || req.reserved != [0; 2] {
            return Err(EINVAL);
        }
        if set && PER_PROCESS_LIMITS.get() == 0 {
            return Err(EPERM);
        }
        let tgid = glue::limits_target(req.pid)?;
        // The caller's own process may not have a state yet on this file.
        let process = if tgid == current_tgid() {
            self.with_session(|s| s.process().clone())?
        } else {
            self.ctx.processes.find(tgid).ok_or(ESRCH)?
        };
        let limits = if set {
            let change = Change {
                soft: (req.flags & uapi::SYSMSG_LIMIT_SOFT != 0).then_some(req.soft),
                hard: (req.flags & uapi::SYSMSG_LIMIT_HARD != 0).then_some(req.hard),
            };
            process.set_limits(change, glue::capable_sys_resource())?
        } else {
            process.limits()
        };
        req.soft = limits.soft.into();
        req.hard = limits.hard.into();
        writer.write(&req)?;
        Ok(0)
    }

    /// `SYSMSG_IOC_PROC_STATS`.
    fn stats_ioctl(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<sysmsg_stats>()).reader_writer();
        let mut req: sysmsg_stats = reader.read()?;
        if req.reserved0 != 0 || req.reserved != [0; 2] {
            return Err(EINVAL);
        }
        let procs = self.ctx.processes.snapshot(req.max as usize)?;
        let mut out = UserSlice::new(
            UserPtr::from_addr(req.procs as usize),
            procs.len() * size_of::<sysmsg_proc_stats>(),
        )
        .writer();
        for p in procs.iter() {
            let (l, f) = (p.limits(), p.flow().stats());
            out.write(&sysmsg_proc_stats {
                pid: glue::tgid_vnr(p.tgid()),
                flags: if f.throttled {
                    uapi::SYSMSG_PROC_THROTTLED
                } else {
                    0
                },
                inflight: f.inflight.into(),
                soft: l.soft.into(),
                hard: l.hard.into(),
                peak_inflight: f.peak.into(),
                limit_hits: f.limit_hits,
                throttle_episodes: f.episodes,
                submitted: f.submitted,
                reserved: [0; 2],
            })?;
        }
        req.count = procs.len() as u32;
        req.total = self.ctx.processes.len() as u32;
        writer.write(&req)?;
        Ok(req.count as isize)
    }

    /// `SYSMSG_IOC_CANCEL`.
    fn cancel_ioctl(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<sysmsg_cancel>()).reader_writer();
        let mut req: sysmsg_cancel = reader.read()?;
        let all = req.flags & uapi::SYSMSG_CANCEL_ALL != 0;
        if req.flags & !uapi::SYSMSG_CANCEL_ALL != 0
            || req.reserved != [0; 3]
            || (all && req.tag != 0)
        {
            return Err(EINVAL);
        }
        let done = self.with_session(|s| s.cancel((!all).then_some(req.tag)))?;
        req.cancelled = done.stopped;
        req.already = done.already;
        writer.write(&req)?;
        if all || done.stopped > 0 {
            Ok(done.stopped as isize)
        } else if done.already > 0 {
            // Not among the kernel crate's named codes in 7.2.
            Err(Error::from_errno(-(kernel::bindings::EALREADY as i32)))
        } else {
            Err(ENOENT)
        }
    }

    /// `SYSMSG_IOC_REAP`.
    fn reap_ioctl(&self, arg: usize) -> Result<isize> {
        let (mut req, mut writer) = Self::read_inout::<sysmsg_reap>(arg)?;
        if req.flags & !uapi::SYSMSG_REAP_NOWAIT != 0
            || req.reserved0 != 0
            || req.reserved != [0; 2]
        {
            return Err(EINVAL);
        }
        if req.max == 0 {
            return Err(EINVAL);
        }
        let max = req.max as usize;
        let mut replies = UserArray::new(req.replies, max);
        let wait = req.flags & uapi::SYSMSG_REAP_NOWAIT == 0;
        let n = self.with_session(|s| s.reap(&mut replies, max, wait))??;
        req.count = n as u32;
        // The argument was writable a moment ago (`read_inout`). Should another thread have
        // unmapped it since, the replies are delivered all the same and the return value says
        // how many: failing now would hide them.
        let _ = writer.write(&[req]);
        Ok(n as isize)
    }
}

#[vtable]
impl FileOps for SysmsgFile {
    type Ptr = Arc<SysmsgFile>;
    type Shared = Arc<Context>;

    fn open(ctx: &Arc<Context>, _file: &File) -> Result<Arc<SysmsgFile>> {
        access::may_open()?;
        let opener = Self::new_session(ctx, current_tgid())?;
        let process = opener.process().clone();
        let init = try_pin_init!(SysmsgFile {
            ctx: ctx.clone(),
            opener,
            others <- new_mutex!(RBTree::new(), "sysmsg::SysmsgFile::others"),
        });
        Arc::pin_init(init, GFP_KERNEL).inspect_err(|_| ctx.processes.put(&process))
    }

    fn release(this: Arc<SysmsgFile>, _file: &File) {
        let others = core::mem::take(&mut *this.others.lock());
        for (_, session) in others.iter() {
            this.abort(session);
        }
        drop(others);
        this.abort(&this.opener);
    }

    fn flush(this: ArcBorrow<'_, SysmsgFile>, file: &File) -> Result {
        if glue::current_holds(file) == Holds::No {
            this.give_up(current_tgid());
        }
        Ok(())
    }

    fn read(
        this: ArcBorrow<'_, SysmsgFile>,
        file: &File,
        buf: UserPtr,
        len: usize,
    ) -> Result<usize> {
        let max = len / size_of::<sysmsg_reply>();
        let mut writer = UserArray::new(buf.as_const_ptr() as u64, max);
        if max == 0 {
            return Err(EINVAL);
        }
        let wait = file.flags() & kernel::fs::file::flags::O_NONBLOCK == 0;
        let n = this.with_session(|s| s.reap(&mut writer, max, wait))??;
        Ok(n * size_of::<sysmsg_reply>())
    }

    fn write(
        this: ArcBorrow<'_, SysmsgFile>,
        _file: &File,
        buf: UserPtr,
        len: usize,
    ) -> Result<usize> {
        if len % size_of::<sysmsg_msg>() != 0 {
            return Err(EINVAL);
        }
        let count = len / size_of::<sysmsg_msg>();
        let mut reader = UserArray::new(buf.as_const_ptr() as u64, count);
        if count == 0 {
            return Ok(0);
        }
        let (accepted, err) = this.with_session(|s| s.submit(&mut reader, count, false, None))?;
        match err {
            Some(e) if accepted == 0 => Err(e),
            _ => Ok(accepted * size_of::<sysmsg_msg>()),
        }
    }

    fn poll(this: ArcBorrow<'_, SysmsgFile>, file: &File, table: PollTable<'_>) -> u32 {
        this.with_session(|s| s.poll(file, &table))
            .unwrap_or(kernel::bindings::POLLERR)
    }

    fn ioctl(this: ArcBorrow<'_, SysmsgFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::SYSMSG_IOC_GET_INFO => this.get_info(arg),
            uapi::SYSMSG_IOC_SUBMIT => this.submit_ioctl(arg),
            uapi::SYSMSG_IOC_REAP => this.reap_ioctl(arg),
            uapi::SYSMSG_IOC_GET_LIMITS => this.limits_ioctl(arg, false),
            uapi::SYSMSG_IOC_SET_LIMITS => this.limits_ioctl(arg, true),
            uapi::SYSMSG_IOC_PROC_STATS => this.stats_ioctl(arg),
            uapi::SYSMSG_IOC_CANCEL => this.cancel_ioctl(arg),
            _ => Err(ENOTTY),
        }
    }

    fn show_fdinfo(this: ArcBorrow<'_, SysmsgFile>, m: &SeqFile, _file: &File) {
        seq_print!(m, "sysmsg-abi:\t{}\n", uapi::SYSMSG_ABI_VERSION);
        seq_print!(m, "sysmsg-opener-tgid:\t{}\n", this.opener.tgid());
        seq_print!(m, "sysmsg-processes:\t{}\n", this.ctx.processes.len());
        // The opener's queue on this file.
        let (file_inflight, ready, submitted, reaped) = this.opener.counters();
        seq_print!(m, "sysmsg-file-inflight:\t{}\n", file_inflight);
        seq_print!(m, "sysmsg-ready:\t{}\n", ready);
        seq_print!(m, "sysmsg-submitted:\t{}\n", submitted);
        seq_print!(m, "sysmsg-reaped:\t{}\n", reaped);
        // The opener process, over all its files.
        let p = this.opener.process();
        let (l, f) = (p.limits(), p.flow().stats());
        seq_print!(m, "sysmsg-inflight:\t{}\n", f.inflight);
        seq_print!(m, "sysmsg-soft-limit:\t{}\n", l.soft);
        seq_print!(m, "sysmsg-hard-limit:\t{}\n", l.hard);
        seq_print!(m, "sysmsg-throttled:\t{}\n", u8::from(f.throttled));
        seq_print!(m, "sysmsg-peak-inflight:\t{}\n", f.peak);
        seq_print!(m, "sysmsg-limit-hits:\t{}\n", f.limit_hits);
        seq_print!(m, "sysmsg-throttle-episodes:\t{}\n", f.episodes);
    }
}
