// SPDX-License-Identifier: GPL-2.0

//! An open file of `/dev/sysmsg` and its file operations.
//!
//! The file holds one [`Session`] per process that uses it: the opener's, reached without a lock,
//! and those of processes that inherited the file, in a tree by tgid. Submitting (`write`,
//! `SYSMSG_IOC_SUBMIT`), reaping (`read`, `SYSMSG_IOC_REAP`) and `poll` act on the calling
//! process's session only.

use crate::{
    context::Context,
    glue,
    limits::{Change, PER_PROCESS_LIMITS},
    miscdev::FileOps,
    phases,
    process::current_tgid,
    session::Session,
    uapi::{
        self, sysmsg_info, sysmsg_limits, sysmsg_msg, sysmsg_proc_stats, sysmsg_reap, sysmsg_reply,
        sysmsg_stats, sysmsg_submit,
    },
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

    /// Runs `f` with the calling process's session, creating it on first use.
    fn with_session<R>(&self, f: impl FnOnce(&Session) -> R) -> Result<R> {
        let tgid = current_tgid();
        if tgid == self.opener.tgid() {
            return Ok(f(&self.opener));
        }
        let found = self.others.lock().get(&tgid).cloned();
        let session = match found {
            Some(s) => s,
            None => {
                let fresh = Self::new_session(&self.ctx, tgid)?;
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                let mut others = self.others.lock();
                if let Some(s) = others.get(&tgid) {
                    // Another thread of the process won the race.
                    let s = s.clone();
                    drop(others);
                    self.ctx.processes.put(fresh.process());
                    s
                } else {
                    others.insert(node.into_node(tgid, fresh.clone()));
                    fresh
                }
            }
        };
        Ok(f(&session))
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

    /// `SYSMSG_IOC_SUBMIT`.
    fn submit_ioctl(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<sysmsg_submit>()).reader_writer();
        let mut req: sysmsg_submit = reader.read()?;
        if req.flags & !uapi::SYSMSG_SUBMIT_WAIT != 0 || req.reserved != [0; 2] {
            return Err(EINVAL);
        }
        let wait = req.flags & uapi::SYSMSG_SUBMIT_WAIT != 0;
        let count = req.count as usize;
        let mut msgs = UserSlice::new(
            UserPtr::from_addr(req.msgs as usize),
            count * size_of::<sysmsg_msg>(),
        )
        .reader();
        let (accepted, err) = self.with_session(|s| s.submit(&mut msgs, count, wait))?;
        req.accepted = accepted as u32;
        req.error = err.map_or(0, |e| -e.to_errno());
        writer.write(&req)?;
        match err {
            Some(e) if accepted == 0 => Err(e),
            _ => Ok(accepted as isize),
        }
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

    /// `SYSMSG_IOC_REAP`.
    fn reap_ioctl(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<sysmsg_reap>()).reader_writer();
        let mut req: sysmsg_reap = reader.read()?;
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
        let mut replies = UserSlice::new(
            UserPtr::from_addr(req.replies as usize),
            max * size_of::<sysmsg_reply>(),
        )
        .writer();
        let wait = req.flags & uapi::SYSMSG_REAP_NOWAIT == 0;
        let n = self.with_session(|s| s.reap(&mut replies, max, wait))??;
        req.count = n as u32;
        // The replies are delivered; a fault here only loses the count, which the caller can
        // recompute from the replies' tags.
        writer.write(&req)?;
        Ok(n as isize)
    }
}

#[vtable]
impl FileOps for SysmsgFile {
    type Ptr = Arc<SysmsgFile>;
    type Shared = Arc<Context>;

    fn open(ctx: &Arc<Context>, _file: &File) -> Result<Arc<SysmsgFile>> {
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
            session.abort();
            this.ctx.processes.put(session.process());
        }
        drop(others);
        this.opener.abort();
        this.ctx.processes.put(this.opener.process());
    }

    fn read(this: ArcBorrow<'_, SysmsgFile>, file: &File, buf: UserSlice) -> Result<usize> {
        let mut writer = buf.writer();
        let max = writer.len() / size_of::<sysmsg_reply>();
        if max == 0 {
            return Err(EINVAL);
        }
        let wait = file.flags() & kernel::fs::file::flags::O_NONBLOCK == 0;
        let n = this.with_session(|s| s.reap(&mut writer, max, wait))??;
        Ok(n * size_of::<sysmsg_reply>())
    }

    fn write(this: ArcBorrow<'_, SysmsgFile>, _file: &File, buf: UserSlice) -> Result<usize> {
        let mut reader = buf.reader();
        let len = reader.len();
        if len % size_of::<sysmsg_msg>() != 0 {
            return Err(EINVAL);
        }
        let count = len / size_of::<sysmsg_msg>();
        if count == 0 {
            return Ok(0);
        }
        let (accepted, err) = this.with_session(|s| s.submit(&mut reader, count, false))?;
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
