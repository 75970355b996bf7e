//! Cancellation (`SYSMSG_IOC_CANCEL`, README.md): [`Sysmsg::cancel`], [`Sysmsg::cancel_all`]
//! and [`Sysmsg::cancel_raw`].

use crate::{ioctl, sys, table::TAG_MAGIC, Sysmsg};
use std::{io, os::fd::AsFd};

/// What [`Sysmsg::cancel`] did with the messages that carry a tag.
///
/// Whatever the outcome, every accepted message gets exactly one reply: a stopped message
/// replies `-ECANCELED` ([`Reply::is_cancelled`](crate::Reply::is_cancelled)) and was not
/// performed; any other replies with its real result when it completes. A cancellation only
/// decides which of the two, it never takes a reply away (keep reaping).
///
/// The variants are the kernel's three answers to a cancellation by tag (io_uring's `0`,
/// `-EALREADY` and `-ENOENT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// At least one message was stopped before it ran: a sleep whose timer was cancelled, a file
    /// operation taken off its file's wait queue or off the worker queue before it started.
    Stopped {
        /// How many were stopped (≥ 1); each replies `-ECANCELED`.
        stopped: u32,
        /// How many other messages with the tag could not be stopped (as in
        /// [`Cancel::Already`]); each gets its real reply.
        already: u32,
    },
    /// Nothing was stopped, but this many (≥ 1) messages with the tag exist that cannot be
    /// stopped any more: executing on a worker, or completed with their reply not yet returned.
    /// Each gets its real reply. The kernel's `EALREADY`.
    Already(u32),
    /// No message with the tag is in flight: never submitted, or its reply was returned already.
    /// The kernel's `ENOENT`.
    NotFound,
}

impl Cancel {
    /// The outcome for these counts.
    pub fn from_counts(stopped: u32, already: u32) -> Self {
        match (stopped, already) {
            (0, 0) => Cancel::NotFound,
            (0, n) => Cancel::Already(n),
            (stopped, already) => Cancel::Stopped { stopped, already },
        }
    }

    /// How many messages were stopped (they reply `-ECANCELED`).
    pub fn stopped(&self) -> u32 {
        match *self {
            Cancel::Stopped { stopped, .. } => stopped,
            _ => 0,
        }
    }

    /// How many messages with the tag could not be stopped (they reply with their real result).
    pub fn already(&self) -> u32 {
        match *self {
            Cancel::Stopped { already, .. } | Cancel::Already(already) => already,
            Cancel::NotFound => 0,
        }
    }

    /// How many replies with the tag are still to be returned: stopped or not.
    pub fn found(&self) -> u32 {
        self.stopped() + self.already()
    }
}

impl Sysmsg {
    /// `SYSMSG_IOC_CANCEL` with `arg` as it is (for tests of the ABI): returns the ioctl's result,
    /// the number of messages stopped. The kernel writes `cancelled` and `already` back into
    /// `arg`, also when it fails with `EALREADY`. `arg.tag` is the kernel's tag: the one of a raw
    /// message, not a tag given to [`Entry::tag`](crate::Entry::tag) (the library's messages carry
    /// tags of its own in the kernel; use [`cancel`](Self::cancel) for them).
    ///
    /// Stopping a message of the library this way is safe: its reply still comes and is handled
    /// as any other.
    pub fn cancel_raw(&self, arg: &mut sys::sysmsg_cancel) -> io::Result<u32> {
        #[cfg(test)]
        if let Some(fake) = &self.fake {
            return fake.cancel(arg);
        }
        // SAFETY: CANCEL reads and writes one `sysmsg_cancel`, which `arg` is.
        let n = unsafe { ioctl::call(self.as_fd(), ioctl::CANCEL, arg as *mut _ as usize) }?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    /// Stops the messages submitted through this `Sysmsg` with tag `tag` whose operation has not
    /// started yet (`SYSMSG_IOC_CANCEL`), and says what became of every message with the tag:
    /// see [`Cancel`]. Every accepted message still gets exactly one reply, `-ECANCELED` for each
    /// one stopped.
    ///
    /// The tag is the one given to [`Entry::tag`](crate::Entry::tag), or a raw message's own.
    /// The library gives each of its messages a tag of its own in the kernel, so this makes one
    /// `SYSMSG_IOC_CANCEL` per message with the tag that it has in flight, plus one with `tag`
    /// itself for raw messages (unless `tag` has [`TAG_MAGIC`] in its top 16 bits, which raw
    /// tags may not). Its answer counts every message with the tag whose reply has not been
    /// returned yet, which the kernel alone cannot know:
    ///
    /// - replies the library has reaped from the kernel but not returned yet (kept for the next
    ///   reaping call, or for a synchronous caller) count as [`Cancel::Already`], and so does a
    ///   reply another thread is reaping at that moment;
    /// - a NOP, which completes at submit, counts as [`Cancel::Already`] until its reply is
    ///   returned (the kernel alone answers `ENOENT` for it);
    /// - an operation the fallback performs (see the crate's documentation) runs synchronously in
    ///   its submitting call and cannot be stopped; once it is done its reply counts as
    ///   [`Cancel::Already`];
    /// - a message whose submitting call has not returned yet (in another thread) is stopped if
    ///   the kernel has it already, and not counted otherwise.
    ///
    /// A stopped synchronous call ([`execute`](Self::execute), the `*_sync` helpers) blocked in
    /// another thread returns with its `-ECANCELED` reply.
    ///
    /// In a `fork()` child that inherited this `Sysmsg`, only the kernel's answers count: the
    /// parent's messages, which the library state inherited from it still lists, belong to the
    /// parent's queue and are [`Cancel::NotFound`] for the child.
    ///
    /// Fails with `ENOTTY` on a module without `SYSMSG_FEATURE_CANCEL` (when it asks the kernel;
    /// for a tag with [`TAG_MAGIC`] bits and no message it does not); messages stopped by the
    /// calls made before an error still reply `-ECANCELED`.
    ///
    /// [`TAG_MAGIC`]: crate::TAG_MAGIC
    pub fn cancel(&self, tag: u64) -> io::Result<Cancel> {
        // The table stays locked, so that no reply with the tag is filed (and counted twice, or
        // not at all) while the kernel is asked.
        let t = self.lock();
        let ours = std::process::id() == self.pid;
        let (mut stopped, mut already) = (0u32, 0u32);
        // `known`: the library knows the kernel accepted the message and that its reply has not
        // been filed yet, so it comes even when the kernel does not find it.
        let mut ask = |kernel_tag: u64, known: bool| -> io::Result<()> {
            let mut arg = sys::sysmsg_cancel {
                tag: kernel_tag,
                ..Default::default()
            };
            match self.cancel_raw(&mut arg) {
                Ok(n) => {
                    stopped = stopped.saturating_add(n);
                    already = already.saturating_add(arg.already);
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EALREADY) => already = already.saturating_add(arg.already.max(1)),
                    Some(libc::ENOENT) => already = already.saturating_add(u32::from(known)),
                    _ => return Err(e),
                },
            }
            Ok(())
        };
        for (kernel_tag, accepted) in t.in_flight_with_tag(tag) {
            ask(kernel_tag, accepted && ours)?;
        }
        if tag >> 48 != TAG_MAGIC {
            ask(tag, false)?;
        }
        if ours {
            let ready = u32::try_from(t.ready_with_tag(tag)).unwrap_or(u32::MAX);
            already = already.saturating_add(ready);
        }
        drop(t);
        Ok(Cancel::from_counts(stopped, already))
    }

    /// Stops every message this process has in flight on this file whose operation has not
    /// started yet (`SYSMSG_IOC_CANCEL` with `SYSMSG_CANCEL_ALL`), raw ones included, and returns
    /// how many it stopped (0 if none: that is no error). Every accepted message still gets
    /// exactly one reply: `-ECANCELED` for each one stopped, the real result for the others
    /// (executing on a worker, or completed), so keep reaping until [`in_flight`] is 0.
    ///
    /// Operations the fallback performs cannot be stopped (they are synchronous). In a `fork()`
    /// child, only the child's own messages on the file are stopped: the parent's belong to the
    /// parent's queue.
    ///
    /// Fails with `ENOTTY` on a module without `SYSMSG_FEATURE_CANCEL`.
    ///
    /// [`in_flight`]: Self::in_flight
    pub fn cancel_all(&self) -> io::Result<u32> {
        let mut arg = sys::sysmsg_cancel {
            flags: sys::SYSMSG_CANCEL_ALL,
            ..Default::default()
        };
        self.cancel_raw(&mut arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_from_counts() {
        assert_eq!(Cancel::from_counts(0, 0), Cancel::NotFound);
        assert_eq!(Cancel::from_counts(0, 3), Cancel::Already(3));
        assert_eq!(
            Cancel::from_counts(2, 1),
            Cancel::Stopped {
                stopped: 2,
                already: 1
            }
        );
        let c = Cancel::from_counts(2, 1);
        assert_eq!((c.stopped(), c.already(), c.found()), (2, 1, 3));
        let c = Cancel::Already(4);
        assert_eq!((c.stopped(), c.already(), c.found()), (0, 4, 4));
        let c = Cancel::NotFound;
        assert_eq!((c.stopped(), c.already(), c.found()), (0, 0, 0));
    }

    /// Without the module, the calls fail cleanly on another character device.
    #[test]
    fn errors_on_a_device_that_is_not_sysmsg() {
        let sm = Sysmsg::open_path("/dev/null").expect("open /dev/null");
        let enotty = Some(libc::ENOTTY);
        assert_eq!(sm.cancel(7).unwrap_err().raw_os_error(), enotty);
        assert_eq!(sm.cancel_all().unwrap_err().raw_os_error(), enotty);
        let mut arg = sys::sysmsg_cancel::default();
        assert_eq!(sm.cancel_raw(&mut arg).unwrap_err().raw_os_error(), enotty);
        // A tag only the library's messages can carry, and none in flight: nothing to ask.
        assert_eq!(sm.cancel(TAG_MAGIC << 48).unwrap(), Cancel::NotFound);
    }
}
