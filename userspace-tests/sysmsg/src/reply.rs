//! Replies, and the error of a partly accepted batch.

use crate::{sys, Opcode};
use std::{fmt, io};

/// The reply to one accepted message.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    tag: u64,
    opcode: Opcode,
    result: i64,
    data: Option<Vec<u8>>,
}

impl Reply {
    pub(crate) fn new(tag: u64, opcode: Opcode, result: i64, data: Option<Vec<u8>>) -> Self {
        Self {
            tag,
            opcode,
            result,
            data,
        }
    }

    /// A reply as the kernel stored it, without data: for replies reaped with
    /// [`Sysmsg::reap_raw`](crate::Sysmsg::reap_raw).
    pub fn from_raw(raw: &sys::sysmsg_reply) -> Self {
        Self::new(raw.tag, Opcode(raw.opcode), raw.result, None)
    }

    /// The tag given to the message ([`Entry::tag`](crate::op::Entry::tag)).
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The message's operation, as the kernel reports it.
    pub fn opcode(&self) -> Opcode {
        self.opcode
    }

    /// The result as the kernel stored it: what the system call would have returned, a byte
    /// count or 0, or a negative errno.
    pub fn raw_result(&self) -> i64 {
        self.result
    }

    /// The result as `io::Result`: a byte count (0 for NOP, NANOSLEEP, FSYNC and FDATASYNC), or
    /// the error with its raw errno.
    pub fn result(&self) -> io::Result<usize> {
        if self.result < 0 {
            let errno = i32::try_from(-self.result).unwrap_or(i32::MAX);
            Err(io::Error::from_raw_os_error(errno))
        } else {
            Ok(usize::try_from(self.result).unwrap_or(usize::MAX))
        }
    }

    /// The negated errno if the operation failed.
    pub fn errno(&self) -> Option<i32> {
        (self.result < 0).then(|| i32::try_from(-self.result).unwrap_or(i32::MAX))
    }

    /// Whether the message was stopped by a cancellation ([`Sysmsg::cancel`](crate::Sysmsg::cancel),
    /// [`Sysmsg::cancel_all`](crate::Sysmsg::cancel_all)): its result is `-ECANCELED` and the
    /// operation was not performed.
    pub fn is_cancelled(&self) -> bool {
        self.result == -i64::from(libc::ECANCELED)
    }

    /// For READ and PREAD: the buffer given to the message, cut to the bytes read (empty after an
    /// error; its capacity is kept). `None` for other operations.
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// Takes the buffer of a READ or PREAD out of the reply.
    pub fn take_data(&mut self) -> Option<Vec<u8>> {
        self.data.take()
    }

    /// The buffer of a READ or PREAD.
    pub fn into_data(self) -> Option<Vec<u8>> {
        self.data
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Reply");
        d.field("tag", &self.tag)
            .field("opcode", &self.opcode)
            .field("result", &self.result);
        if let Some(data) = &self.data {
            if data.len() <= 32 {
                d.field("data", &String::from_utf8_lossy(data));
            } else {
                d.field("data_len", &data.len());
            }
        }
        d.finish()
    }
}

/// A submission that was refused, wholly or after its first `accepted` messages.
///
/// Every accepted message gets a reply; the refused one and those after it were not looked at
/// and get none. [`Sysmsg::submit`](crate::Sysmsg::submit) leaves them in the batch.
#[derive(Debug)]
pub struct SubmitError {
    /// How many messages were accepted, from the first on.
    pub accepted: usize,
    /// Why message number `accepted` was refused (its raw errno).
    pub error: io::Error,
}

impl SubmitError {
    /// The errno that refused the message.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sysmsg: {} message(s) accepted, message {} refused: {}",
            self.accepted, self.accepted, self.error
        )
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SubmitError> for io::Error {
    /// Keeps the errno (and kind) of the refusal; the count is lost.
    fn from(e: SubmitError) -> io::Error {
        e.error
    }
}

/// A [`Sysmsg::submit_reap_raw`](crate::Sysmsg::submit_reap_raw) that did not accept every
/// message: how many it accepted, why the next one (or the call itself) was refused, and how many
/// replies it stored all the same, since the reap part of the call runs whatever the submit part
/// refused. Those replies are at the front of the reply array and belong to the caller.
#[derive(Debug)]
pub struct SubmitReapError {
    /// How many messages were accepted, from the first on.
    pub accepted: usize,
    /// How many replies were stored at the front of the reply array.
    pub reaped: usize,
    /// Why message number `accepted` was refused, or why the call was (`EINVAL` for an empty
    /// reply array, `EFAULT` for one that cannot be written: then nothing was done).
    pub error: io::Error,
}

impl SubmitReapError {
    /// The errno of the refusal.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

impl fmt::Display for SubmitReapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sysmsg: {} message(s) accepted, message {} refused: {}; {} repl{} reaped",
            self.accepted,
            self.accepted,
            self.error,
            self.reaped,
            if self.reaped == 1 { "y" } else { "ies" }
        )
    }
}

impl std::error::Error for SubmitReapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SubmitReapError> for io::Error {
    /// Keeps the errno (and kind) of the refusal; the counts are lost.
    fn from(e: SubmitReapError) -> io::Error {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results() {
        let r = Reply::new(1, Opcode::READ, 5, Some(b"hello".to_vec()));
        assert_eq!(r.result().unwrap(), 5);
        assert_eq!(r.errno(), None);
        assert_eq!(r.data(), Some(&b"hello"[..]));
        let r = Reply::new(2, Opcode::FSYNC, -i64::from(libc::EINVAL), None);
        assert_eq!(r.result().unwrap_err().raw_os_error(), Some(libc::EINVAL));
        assert_eq!(r.errno(), Some(libc::EINVAL));
        assert_eq!(r.raw_result(), -22);
        assert!(format!("{r:?}").contains("FSYNC"));
        assert!(!r.is_cancelled());
        let r = Reply::new(3, Opcode::NANOSLEEP, -i64::from(libc::ECANCELED), None);
        assert!(r.is_cancelled());
        assert_eq!(r.errno(), Some(libc::ECANCELED));
    }

    #[test]
    fn from_raw_copies_every_field() {
        let raw = sys::sysmsg_reply {
            tag: 77,
            result: -4,
            opcode: 3,
            ..Default::default()
        };
        let r = Reply::from_raw(&raw);
        assert_eq!(
            (r.tag(), r.opcode(), r.raw_result()),
            (77, Opcode::WRITE, -4)
        );
        assert_eq!(r.into_data(), None);
    }

    #[test]
    fn submit_error_keeps_the_errno() {
        let e = SubmitError {
            accepted: 2,
            error: io::Error::from_raw_os_error(libc::EBADF),
        };
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        assert!(e.to_string().contains("2 message(s) accepted"));
        let io: io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn submit_reap_error_keeps_the_errno_and_counts() {
        let e = SubmitReapError {
            accepted: 0,
            reaped: 1,
            error: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        let text = e.to_string();
        assert!(text.contains("0 message(s) accepted"), "{text}");
        assert!(text.contains("1 reply reaped"), "{text}");
        let io: io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(libc::EINVAL));
    }
}
