// SPDX-License-Identifier: GPL-2.0

//! Inline replies: the replies of messages that complete while they are submitted (`NOP`), kept
//! as 32-byte replies in a per-session ring instead of as messages.
//!
//! A message that completes at submit needs no execution state, no session reference and no
//! writeback; allocating a 256-byte message for it, publishing it under the wait queue's lock and
//! freeing it at reap is most of what such a message costs. Its reply is all that must survive
//! until the process reaps it, so the submitter writes the reply into this ring and the reaper
//! copies it out. The slot accounting is the same as for any message: an inline reply holds its
//! process's slot until it is reaped.
//!
//! The ring is a *two-lock* bounded queue, the seeds' "push and pop do not contend while it holds
//! an item":
//!
//! - **producers** (submitting threads of the process) write replies at `tail` under a
//!   [`SpinLock`] and publish them with a release store of `tail`;
//! - **consumers** (reaping threads) copy replies from `head` to user space under a [`Mutex`]
//!   (the copy may fault and sleep) and only then advance `head`, so a reply that could not be
//!   stored is still there for the next reap: nothing is lost;
//! - `free` counts the places nobody has reserved. A submitter *reserves* places before it
//!   accepts messages ([`InlineReplies::reserve`]), so an accepted message always has room for
//!   its reply and nothing can fail after acceptance. Without room (the ring is full because the
//!   process does not reap), the message takes the general path and is allocated.
//!
//! Closing ([`InlineReplies::close`], at the session's abort) makes producers refuse, then drops
//! what is queued so that its slots can be given back. It never waits for a reaper: if one holds
//! the consumer lock, that reaper drops the rest when it lets go (see [`InlineReplies::deliver`]).

use crate::uapi::sysmsg_reply;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use kernel::{
    new_mutex, new_spinlock,
    prelude::*,
    sync::{Mutex, SpinLock},
    types::Opaque,
};

/// Places in the ring of one session (32 bytes each: 8 KiB).
pub(crate) const CAPACITY: u32 = 256;

/// Replies copied out per round of [`InlineReplies::deliver`] (on the stack).
const DELIVER_BATCH: usize = 16;

/// What [`InlineReplies::deliver`] did.
#[derive(Default)]
pub(crate) struct Delivery {
    /// Replies stored by the sink.
    pub(crate) stored: usize,
    /// Replies that left the ring, stored or dropped because the ring was closed: the slots the
    /// caller gives back.
    pub(crate) released: u32,
    /// The error that stopped the sink before it stored anything of a round.
    pub(crate) error: Option<Error>,
}

/// A session's ring of inline replies; see the module documentation.
///
/// # Invariants
///
/// - `slots` has `CAPACITY` entries and never grows; entry `i % CAPACITY` for `head <= i < tail`
///   (wrapping counters) holds a reply written by a producer and not yet consumed.
/// - `(tail - head) + reserved + free == CAPACITY`, where `reserved` are places taken by
///   [`InlineReplies::reserve`] and not yet pushed or given back.
/// - `tail` is only written under `producer`, `head` only under `consumer`.
#[pin_data]
pub(crate) struct InlineReplies {
    slots: KVec<Opaque<sysmsg_reply>>,
    head: AtomicU32,
    tail: AtomicU32,
    free: AtomicU32,
    /// Set once by [`InlineReplies::close`]; also kept under `producer`, which is what orders it
    /// against pushes.
    closed: AtomicBool,
    /// Producers' lock; the data says whether the ring is closed.
    #[pin]
    producer: SpinLock<bool>,
    /// Consumers' lock.
    #[pin]
    consumer: Mutex<()>,
}

// SAFETY: the slots are plain data written under the producer lock before `tail` publishes them
// and read under the consumer lock before `head` gives them back; the rest is atomics and locks.
unsafe impl Send for InlineReplies {}
// SAFETY: as above.
unsafe impl Sync for InlineReplies {}

impl InlineReplies {
    /// An empty, open ring.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // INVARIANT: `CAPACITY` entries, all free.
            slots: Self::alloc()?,
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            free: AtomicU32::new(CAPACITY),
            closed: AtomicBool::new(false),
            producer <- new_spinlock!(false, "sysmsg::InlineReplies::producer"),
            consumer <- new_mutex!((), "sysmsg::InlineReplies::consumer"),
        })
    }

    fn alloc() -> Result<KVec<Opaque<sysmsg_reply>>> {
        let mut v = KVec::with_capacity(CAPACITY as usize, GFP_KERNEL)?;
        for _ in 0..CAPACITY {
            v.push(Opaque::uninit(), GFP_KERNEL)?;
        }
        Ok(v)
    }

    fn slot(&self, i: u32) -> *mut sysmsg_reply {
        self.slots[(i % CAPACITY) as usize].get()
    }

    /// Replies queued (a hint for `poll` and waiters).
    pub(crate) fn ready(&self) -> u32 {
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(self.head.load(Ordering::Acquire))
    }

    /// Reserves up to `want` places; returns how many. Each must be used by
    /// [`InlineReplies::push`] or given back with [`InlineReplies::unreserve`].
    pub(crate) fn reserve(&self, want: u32) -> u32 {
        if want == 0 {
            return 0;
        }
        let mut free = self.free.load(Ordering::Acquire);
        loop {
            let take = free.min(want);
            if take == 0 {
                return 0;
            }
            match self.free.compare_exchange_weak(
                free,
                free - take,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(now) => free = now,
            }
        }
    }

    /// Gives back `n` reserved places that were not used.
    pub(crate) fn unreserve(&self, n: u32) {
        if n > 0 {
            self.free.fetch_add(n, Ordering::Release);
        }
    }

    /// Queues `replies`, for which the caller reserved places. Returns `false`, giving the places
    /// back, if the ring is closed: the caller then gives back the replies' slots.
    pub(crate) fn push(&self, replies: &[sysmsg_reply]) -> bool {
        if replies.is_empty() {
            return true;
        }
        let closed = self.producer.lock();
        if *closed {
            drop(closed);
            self.unreserve(replies.len() as u32);
            return false;
        }
        let tail = self.tail.load(Ordering::Relaxed);
        for (i, r) in replies.iter().enumerate() {
            // SAFETY: the place was reserved (so it is outside `head..tail` and nobody reads it)
            // and we hold the producer lock, so no other producer writes it.
            unsafe { self.slot(tail.wrapping_add(i as u32)).write(*r) };
        }
        // INVARIANT: the reserved places become queued replies.
        self.tail
            .store(tail.wrapping_add(replies.len() as u32), Ordering::Release);
        drop(closed);
        true
    }

    /// Hands up to `max` queued replies, oldest first, to `sink`, a batch at a time. `sink`
    /// returns how many of a batch it stored (the rest stay queued, in order), or an error if it
    /// stored none. A closed ring's remaining replies are dropped here if a close left them.
    pub(crate) fn deliver(
        &self,
        max: usize,
        mut sink: impl FnMut(&[sysmsg_reply]) -> Result<usize>,
    ) -> Delivery {
        let mut d = Delivery::default();
        if self.ready() == 0 && !self.closed.load(Ordering::Relaxed) {
            return d;
        }
        let guard = self.consumer.lock();
        let mut out = [sysmsg_reply::default(); DELIVER_BATCH];
        while d.stored < max {
            let head = self.head.load(Ordering::Relaxed);
            let queued = self.tail.load(Ordering::Acquire).wrapping_sub(head) as usize;
            let k = queued.min(max - d.stored).min(DELIVER_BATCH);
            if k == 0 {
                break;
            }
            for (i, r) in out[..k].iter_mut().enumerate() {
                // SAFETY: `head + i` is queued (published by the acquire load of `tail`) and
                // nobody else reads it: we hold the consumer lock.
                *r = unsafe { self.slot(head.wrapping_add(i as u32)).read() };
            }
            let n = match sink(&out[..k]) {
                Ok(n) => n.min(k),
                Err(e) => {
                    d.error = Some(e);
                    break;
                }
            };
            // INVARIANT: consumed places become free, after they were read.
            self.head
                .store(head.wrapping_add(n as u32), Ordering::Release);
            self.free.fetch_add(n as u32, Ordering::Release);
            d.stored += n;
            d.released += n as u32;
            if n < k {
                break;
            }
        }
        drop(guard);
        // Pairs with the fence in `close`: either `close` got the lock, or we see `closed`.
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::Relaxed) {
            d.released += self.drain(&self.consumer.lock());
        }
        d
    }

    /// Drops every queued reply; returns how many. The caller holds the consumer lock.
    fn drain(&self, _consumer: &kernel::sync::MutexGuard<'_, ()>) -> u32 {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let n = tail.wrapping_sub(head);
        self.head.store(tail, Ordering::Release);
        self.free.fetch_add(n, Ordering::Release);
        n
    }

    /// Closes the ring: producers refuse from now on, and what is queued is dropped, here if no
    /// reaper holds the consumer lock, else by that reaper as it lets go. Returns how many
    /// replies were dropped here (their slots are the caller's to give back). Never sleeps.
    pub(crate) fn close(&self) -> u32 {
        *self.producer.lock() = true;
        self.closed.store(true, Ordering::Relaxed);
        // Pairs with the fence in `deliver`.
        fence(Ordering::SeqCst);
        match self.consumer.try_lock() {
            Some(guard) => self.drain(&guard),
            None => 0,
        }
    }
}

#[kunit_tests(sysmsg_inline)]
mod tests {
    use super::*;

    fn ring() -> Result<Pin<KBox<InlineReplies>>> {
        KBox::pin_init(InlineReplies::new(), GFP_KERNEL)
    }

    fn reply(tag: u64) -> sysmsg_reply {
        sysmsg_reply {
            tag,
            ..Default::default()
        }
    }

    /// Collects delivered tags into `out`, storing at most `room` per call.
    fn collect(
        out: &mut KVec<u64>,
        room: usize,
    ) -> impl FnMut(&[sysmsg_reply]) -> Result<usize> + '_ {
        move |rs| {
            let n = rs.len().min(room);
            if n == 0 {
                return Err(EFAULT);
            }
            for r in &rs[..n] {
                out.push(r.tag, GFP_KERNEL)?;
            }
            Ok(n)
        }
    }

    /// Replies come out in order, across the wrap of the ring, each exactly once.
    #[test]
    fn fifo_across_wrap() -> Result {
        let r = ring()?;
        let mut next = 0u64;
        let mut got = KVec::new();
        for _ in 0..3 {
            let n = r.reserve(200);
            assert_eq!(n, 200);
            let mut batch = KVec::new();
            for _ in 0..n {
                batch.push(reply(next), GFP_KERNEL)?;
                next += 1;
            }
            assert!(r.push(&batch));
            assert_eq!(r.ready(), 200);
            let d = r.deliver(usize::MAX, collect(&mut got, usize::MAX));
            assert_eq!((d.stored, d.released), (200, 200));
        }
        assert_eq!(got.len(), 600);
        assert!(got.iter().enumerate().all(|(i, &t)| t == i as u64));
        assert_eq!(r.free.load(Ordering::Relaxed), CAPACITY);
        Ok(())
    }

    /// Room is reserved, never oversold; a full ring reserves nothing until a reap.
    #[test]
    fn reservation_bounds() -> Result {
        let r = ring()?;
        assert_eq!(r.reserve(CAPACITY - 1), CAPACITY - 1);
        assert_eq!(r.reserve(5), 1);
        assert_eq!(r.reserve(1), 0);
        r.unreserve(3);
        assert_eq!(r.reserve(10), 3);
        let batch = [reply(1); 4];
        assert!(r.push(&batch));
        let mut got = KVec::new();
        assert_eq!(r.deliver(2, collect(&mut got, usize::MAX)).stored, 2);
        assert_eq!(r.reserve(10), 2);
        Ok(())
    }

    /// A reply the sink could not store stays queued, first in line.
    #[test]
    fn partial_store_keeps_the_rest() -> Result {
        let r = ring()?;
        assert_eq!(r.reserve(5), 5);
        let batch = [reply(0), reply(1), reply(2), reply(3), reply(4)];
        assert!(r.push(&batch));
        let mut got = KVec::new();
        let d = r.deliver(5, collect(&mut got, 2));
        assert_eq!((d.stored, d.released, d.error), (2, 2, None));
        let d = r.deliver(5, collect(&mut got, 0));
        assert_eq!((d.stored, d.error), (0, Some(EFAULT)));
        assert_eq!(r.ready(), 3);
        let d = r.deliver(5, collect(&mut got, usize::MAX));
        assert_eq!(d.stored, 3);
        assert_eq!(&got[..], &[0, 1, 2, 3, 4]);
        Ok(())
    }

    /// Closing drops what is queued and refuses later pushes, handing their room back.
    #[test]
    fn close_drops_and_refuses() -> Result {
        let r = ring()?;
        assert_eq!(r.reserve(7), 7);
        assert!(r.push(&[reply(1); 3]));
        assert_eq!(r.close(), 3);
        assert_eq!(r.ready(), 0);
        assert!(!r.push(&[reply(2); 4]));
        assert_eq!(r.free.load(Ordering::Relaxed), CAPACITY);
        let mut got = KVec::new();
        assert_eq!(r.deliver(8, collect(&mut got, 8)).stored, 0);
        Ok(())
    }
}
