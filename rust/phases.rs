// SPDX-License-Identifier: GPL-2.0

//! The three phases of a system-call message, after DragonFly BSD's syscall messaging:
//!
//! 1. [`copyin`], in the submitting call: [`validate`] the message, take references, copy in
//!    everything execution needs. An error refuses the message; nothing was done.
//! 2. [`execute`], handed to kernel context that is not the caller: an hrtimer, a file's wait
//!    queue, or a worker; it touches kernel memory only.
//! 3. [`writeback`], in the reaping call: copy results out and form the reply.
//!
//! Each operation family lives in its own file under `ops/`; this file dispatches by opcode.

use crate::{
    message::{Args, FileKind, Message, MsgPtr},
    ops::{file, sleep},
    session::Session,
    uapi::{self, sysmsg_msg, sysmsg_reply},
};
use kernel::{prelude::*, sync::Arc};

/// A validated opcode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    /// `SYSMSG_OP_NOP`.
    Nop,
    /// `SYSMSG_OP_NANOSLEEP`.
    Nanosleep,
    /// A file operation and whether it takes an explicit offset.
    File(FileKind, bool),
}

impl core::fmt::Debug for FileKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FileKind::Read => f.write_str("Read"),
            FileKind::Write => f.write_str("Write"),
            FileKind::Sync(d) => write!(f, "Sync({d})"),
        }
    }
}

/// The bit mask of supported opcodes (`sysmsg_info.ops`).
pub(crate) const OPS_MASK: u64 = (1 << uapi::SYSMSG_OP_COUNT) - 1;

/// Checks everything about a message that does not need the caller's context: opcode, flags,
/// reserved and unused fields, lengths and offsets. Returns `EINVAL` for anything wrong.
pub(crate) fn validate(m: &sysmsg_msg) -> Result<Op> {
    if m.flags != 0 || m.reserved0 != 0 || m.reserved1 != 0 || m.reserved != [0; 2] {
        return Err(EINVAL);
    }
    if !(uapi::SYSMSG_PRIO_MIN..=uapi::SYSMSG_PRIO_MAX as i32).contains(&i32::from(m.prio)) {
        return Err(EINVAL);
    }
    let op = match u32::from(m.opcode) {
        uapi::SYSMSG_OP_NOP => Op::Nop,
        uapi::SYSMSG_OP_NANOSLEEP => Op::Nanosleep,
        uapi::SYSMSG_OP_READ => Op::File(FileKind::Read, false),
        uapi::SYSMSG_OP_WRITE => Op::File(FileKind::Write, false),
        uapi::SYSMSG_OP_PREAD => Op::File(FileKind::Read, true),
        uapi::SYSMSG_OP_PWRITE => Op::File(FileKind::Write, true),
        uapi::SYSMSG_OP_FSYNC => Op::File(FileKind::Sync(false), false),
        uapi::SYSMSG_OP_FDATASYNC => Op::File(FileKind::Sync(true), false),
        _ => return Err(EINVAL),
    };
    // Fields each opcode uses: (fd, addr, len, offset, op_flags).
    let uses = match op {
        Op::Nop => (false, false, false, false, false),
        Op::Nanosleep => (false, true, false, false, true),
        Op::File(FileKind::Sync(_), _) => (true, false, false, false, false),
        Op::File(_, offset) => (true, true, true, offset, false),
    };
    let unused = (!uses.0 && m.fd != 0)
        || (!uses.1 && m.addr != 0)
        || (!uses.2 && m.len != 0)
        || (!uses.3 && m.offset != 0)
        || (!uses.4 && m.op_flags != 0);
    if unused || m.offset < 0 {
        return Err(EINVAL);
    }
    match op {
        Op::File(FileKind::Read, _) if m.len > isize::MAX as u64 => Err(EINVAL),
        Op::File(FileKind::Write, _) if m.len > u64::from(uapi::SYSMSG_MAX_IO_LEN) => Err(EINVAL),
        _ => Ok(op),
    }
}

/// Phase 1: validates `m` and copies in what executing it needs, in the submitter's context.
pub(crate) fn copyin(session: &Arc<Session>, m: &sysmsg_msg) -> Result<MsgPtr> {
    let args = match validate(m)? {
        Op::Nop => Args::Nop,
        Op::Nanosleep => sleep::copyin(m)?,
        Op::File(kind, offset) => file::copyin(session, m, kind, offset)?,
    };
    MsgPtr::new(session, m.tag, m.opcode, args)
}

/// All three phases at once, for a message that completes at submit and writes nothing back
/// (`NOP`): validates it and forms its reply, with no message allocated. `None` if `m` is not
/// such a message (it takes [`copyin`]).
pub(crate) fn complete_inline(m: &sysmsg_msg) -> Option<Result<sysmsg_reply>> {
    if u32::from(m.opcode) != uapi::SYSMSG_OP_NOP {
        return None;
    }
    Some(validate(m).map(|_| sysmsg_reply {
        tag: m.tag,
        result: 0,
        opcode: m.opcode,
        ..Default::default()
    }))
}

/// Phase 2: hands the message to whatever executes it. A NOP completes here.
pub(crate) fn execute(msg: MsgPtr) {
    match msg.args {
        Args::Nop => msg.publish(0),
        Args::Sleep { .. } => sleep::start(msg),
        Args::File(_) => file::start(msg),
    }
}

/// What [`cancel`] did to a message.
pub(crate) enum Cancel {
    /// It was waiting (a sleep, or a file operation waiting on its file) and is now the caller's,
    /// to publish with `-ECANCELED` or to free.
    Taken(MsgPtr),
    /// It was queued for a worker and not started: the worker publishes it with `-ECANCELED`
    /// without running it.
    Marked,
    /// It is executing or has completed: it keeps its real result.
    Busy,
}

/// Cancellation of a registered message, under its session's registry lock.
pub(crate) fn cancel(m: &Message) -> Cancel {
    match m.args {
        Args::Nop => Cancel::Busy,
        Args::Sleep { .. } => sleep::cancel(m).map_or(Cancel::Busy, Cancel::Taken),
        Args::File(_) => file::cancel(m),
    }
}

/// Phase 3: writes the results back in the reaper's context (once, however often the reply is
/// delivered) and forms the reply.
pub(crate) fn writeback(m: &Message) -> sysmsg_reply {
    let result = match m.args {
        Args::File(_) if !m.written_back() => {
            let wb = file::writeback(m, m.result());
            m.set_written_back(wb);
            wb
        }
        _ => m.result(),
    };
    sysmsg_reply {
        tag: m.tag,
        result,
        opcode: m.opcode,
        ..Default::default()
    }
}

#[kunit_tests(sysmsg_phases)]
mod tests {
    use super::*;

    fn msg(opcode: u32) -> sysmsg_msg {
        sysmsg_msg {
            opcode: opcode as u8,
            ..Default::default()
        }
    }

    /// Each opcode maps to its operation; unknown opcodes are refused.
    #[test]
    fn opcodes() {
        assert_eq!(validate(&msg(uapi::SYSMSG_OP_NOP)), Ok(Op::Nop));
        let mut sleep = msg(uapi::SYSMSG_OP_NANOSLEEP);
        sleep.addr = 0x1000;
        assert_eq!(validate(&sleep), Ok(Op::Nanosleep));
        let mut pread = msg(uapi::SYSMSG_OP_PREAD);
        pread.fd = 3;
        pread.offset = 4096;
        assert_eq!(validate(&pread), Ok(Op::File(FileKind::Read, true)));
        assert_eq!(
            validate(&msg(uapi::SYSMSG_OP_FDATASYNC)),
            Ok(Op::File(FileKind::Sync(true), false))
        );
        assert_eq!(validate(&msg(uapi::SYSMSG_OP_COUNT)), Err(EINVAL));
        assert_eq!(validate(&msg(255)), Err(EINVAL));
        assert_eq!(OPS_MASK, 0xff);
    }

    /// Non-zero flags and reserved fields are refused, so that they can be given a meaning.
    #[test]
    fn reserved_fields() {
        let base = msg(uapi::SYSMSG_OP_NOP);
        assert_eq!(validate(&sysmsg_msg { flags: 1, ..base }), Err(EINVAL));
        assert_eq!(
            validate(&sysmsg_msg {
                reserved0: 1,
                ..base
            }),
            Err(EINVAL)
        );
        assert_eq!(
            validate(&sysmsg_msg {
                reserved1: 1,
                ..base
            }),
            Err(EINVAL)
        );
        assert_eq!(
            validate(&sysmsg_msg {
                reserved: [0, 1],
                ..base
            }),
            Err(EINVAL)
        );
    }

    /// Fields an opcode does not use must be zero; lengths and offsets are bounded.
    #[test]
    fn unused_fields_and_bounds() {
        assert_eq!(
            validate(&sysmsg_msg {
                fd: 1,
                ..msg(uapi::SYSMSG_OP_NOP)
            }),
            Err(EINVAL)
        );
        let read = sysmsg_msg {
            fd: 3,
            addr: 0x1000,
            len: 10,
            ..msg(uapi::SYSMSG_OP_READ)
        };
        assert!(validate(&read).is_ok());
        assert_eq!(validate(&sysmsg_msg { offset: 1, ..read }), Err(EINVAL));
        assert_eq!(
            validate(&sysmsg_msg {
                op_flags: 1,
                ..read
            }),
            Err(EINVAL)
        );
        assert_eq!(
            validate(&sysmsg_msg {
                len: u64::MAX,
                ..read
            }),
            Err(EINVAL)
        );
        // A long read is allowed (it is clamped at copyin); a long write is refused.
        let big = u64::from(uapi::SYSMSG_MAX_IO_LEN) + 1;
        assert!(validate(&sysmsg_msg { len: big, ..read }).is_ok());
        let write = sysmsg_msg {
            opcode: uapi::SYSMSG_OP_WRITE as u8,
            ..read
        };
        assert_eq!(validate(&sysmsg_msg { len: big, ..write }), Err(EINVAL));
        let pwrite = sysmsg_msg {
            opcode: uapi::SYSMSG_OP_PWRITE as u8,
            ..read
        };
        assert_eq!(
            validate(&sysmsg_msg {
                offset: -1,
                ..pwrite
            }),
            Err(EINVAL)
        );
        let fsync = sysmsg_msg {
            fd: 3,
            ..msg(uapi::SYSMSG_OP_FSYNC)
        };
        assert!(validate(&fsync).is_ok());
        assert_eq!(validate(&sysmsg_msg { len: 1, ..fsync }), Err(EINVAL));
        let sleep = sysmsg_msg {
            addr: 0x1000,
            ..msg(uapi::SYSMSG_OP_NANOSLEEP)
        };
        assert_eq!(validate(&sysmsg_msg { fd: 3, ..sleep }), Err(EINVAL));
        // op_flags of a sleep are checked at copyin, with the timespec.
        assert!(validate(&sysmsg_msg {
            op_flags: 2,
            ..sleep
        })
        .is_ok());
    }

    /// A NOP completes inline with result 0 and its tag, after the same checks as any message;
    /// other opcodes do not.
    #[test]
    fn inline_completion() {
        let nop = sysmsg_msg {
            tag: 42,
            ..msg(uapi::SYSMSG_OP_NOP)
        };
        let r = complete_inline(&nop);
        assert!(matches!(
            r,
            Some(Ok(sysmsg_reply {
                tag: 42,
                result: 0,
                opcode: 0,
                ..
            }))
        ));
        assert!(matches!(
            complete_inline(&sysmsg_msg { prio: 4, ..nop }),
            Some(Err(e)) if e == EINVAL
        ));
        assert!(matches!(
            complete_inline(&sysmsg_msg { fd: 1, ..nop }),
            Some(Err(e)) if e == EINVAL
        ));
        assert!(complete_inline(&msg(uapi::SYSMSG_OP_FSYNC)).is_none());
    }

    /// Timespecs are checked as nanosleep(2) checks them, and long ones saturate.
    #[test]
    fn timespecs() {
        assert_eq!(sleep::timespec_ns(1, 5), Ok(1_000_000_005));
        assert_eq!(sleep::timespec_ns(0, 999_999_999), Ok(999_999_999));
        assert_eq!(sleep::timespec_ns(0, 1_000_000_000), Err(EINVAL));
        assert_eq!(sleep::timespec_ns(0, -1), Err(EINVAL));
        assert_eq!(sleep::timespec_ns(-1, 0), Err(EINVAL));
        assert_eq!(sleep::timespec_ns(i64::MAX, 0), Ok(i64::MAX));
    }

    /// The message fits the seeds' memory budget.
    #[test]
    fn message_size() {
        let size = core::mem::size_of::<Message>();
        let work = core::mem::size_of::<kernel::bindings::work_struct>();
        pr_info!("a message is {size} bytes (work_struct {work} bytes)\n");
        assert!(size <= crate::message::MESSAGE_BUDGET);
    }
}
