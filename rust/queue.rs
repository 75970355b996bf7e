// SPDX-License-Identifier: GPL-2.0

//! The per-process reply queue: many producers push without a lock, one consumer at a time pops.
//!
//! Completions come from hrtimer callbacks (hard interrupt context), wait-queue callbacks (under
//! another subsystem's lock), workers and submitters, while the process reaps from its own
//! threads. The seeds ask for a queue whose two ends do not contend while it holds at least one
//! item; this is Dmitry Vyukov's intrusive multi-producer queue:
//!
//! - **push** is wait-free: an atomic exchange of the tail and one store linking the previous
//!   tail to the new node. Producers never take a lock and never touch the consumer's head.
//! - **pop** runs under a consumer-side [`SpinLock`] (the threads of one process may reap at
//!   once) and reads only the head and, when the queue is down to one node, the tail.
//! - a *stub* node owned by the queue keeps it non-empty, so push never needs to look at the
//!   head, and pop never needs to write the tail except when handing the stub back.
//!
//! A producer that has exchanged the tail but not yet linked the previous node makes the queue
//! look empty from that node on until it links it; the producer then wakes the reader, which
//! looks again (see `WaitHead`). Items the consumer popped but could not deliver are put back at
//! the front ([`ReplyQueue::unpop`]) on a consumer-only *stash*, so nothing is lost.
//!
//! The queue does not own its items: it stores raw links. Whoever pushes an item hands its
//! ownership to whoever pops it.

use core::{
    ptr,
    sync::atomic::{AtomicPtr, AtomicU32, Ordering},
};
use kernel::{new_spinlock, prelude::*, sync::SpinLock};

/// The link an item of a [`ReplyQueue`] embeds.
pub(crate) struct Link {
    next: AtomicPtr<Link>,
}

impl Link {
    /// An unlinked link.
    pub(crate) const fn new() -> Self {
        Self {
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

/// Types that embed a [`Link`].
///
/// # Safety
///
/// `link` must return a pointer to a `Link` inside `*this`, and `from_link` must invert it.
pub(crate) unsafe trait Linked {
    /// The link inside `*this`.
    fn link(this: *const Self) -> *const Link;

    /// The item around `link`.
    ///
    /// # Safety
    ///
    /// `link` must have been returned by [`Linked::link`].
    unsafe fn from_link(link: *const Link) -> *mut Self;
}

/// The consumer's end.
struct Consumer {
    /// The oldest node (possibly the stub).
    head: *mut Link,
    /// Items put back by `unpop`, delivered before `head`; linked through their `next`.
    stash: *mut Link,
}

// SAFETY: the raw pointers are only dereferenced under the consumer lock.
unsafe impl Send for Consumer {}

/// A multi-producer queue with lock-free push; see the module documentation.
///
/// # Invariants
///
/// - `stub` never moves (the queue is pinned) and is in the chain from `consumer.head` to `tail`
///   or about to be pushed back by the consumer.
/// - every other node in the chain or on the stash belongs to an item pushed and not yet popped.
#[pin_data]
pub(crate) struct ReplyQueue<T: Linked> {
    tail: AtomicPtr<Link>,
    #[pin]
    consumer: SpinLock<Consumer>,
    ready: AtomicU32,
    stub: Link,
    #[pin]
    _pin: core::marker::PhantomPinned,
    _t: core::marker::PhantomData<*mut T>,
}

// SAFETY: items are handed from the pusher to the popper; `T: Send` is required to push.
unsafe impl<T: Linked + Send> Send for ReplyQueue<T> {}
// SAFETY: `push` and `pop` synchronise with atomics and the consumer lock.
unsafe impl<T: Linked + Send> Sync for ReplyQueue<T> {}

impl<T: Linked> ReplyQueue<T> {
    /// An empty queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(&this in Self {
            // INVARIANT: the stub is the only node, at both ends.
            // SAFETY: `this` points to the queue being initialised; only the address is taken.
            tail: AtomicPtr::new(unsafe { &raw mut (*this.as_ptr()).stub }),
            consumer <- new_spinlock!(
                Consumer {
                    // SAFETY: as above.
                    head: unsafe { &raw mut (*this.as_ptr()).stub },
                    stash: ptr::null_mut(),
                },
                "sysmsg::ReplyQueue"
            ),
            ready: AtomicU32::new(0),
            stub: Link::new(),
            _pin: core::marker::PhantomPinned,
            _t: core::marker::PhantomData,
        })
    }

    fn stub(&self) -> *mut Link {
        (&raw const self.stub).cast_mut()
    }

    fn push_link(&self, node: *mut Link) {
        // SAFETY: `node` is a valid link that is in no queue (stub or a fresh item).
        unsafe { (*node).next.store(ptr::null_mut(), Ordering::Relaxed) };
        let prev = self.tail.swap(node, Ordering::AcqRel);
        // SAFETY: `prev` was the tail, a node of this queue that stays valid until a consumer pops
        // it, which it cannot do before it is linked to its successor here.
        unsafe { (*prev).next.store(node, Ordering::Release) };
    }

    /// Appends `item`, handing it to the consumer. Wait-free; callable from any context.
    ///
    /// # Safety
    ///
    /// `item` must be valid and in no queue until it is popped.
    pub(crate) unsafe fn push(&self, item: *mut T) {
        // Counted before it is linked, so that a pop never makes the count wrap.
        self.ready.fetch_add(1, Ordering::AcqRel);
        self.push_link(T::link(item).cast_mut());
    }

    /// How many items are ready to pop (a hint: a push in progress is counted before its item
    /// can be popped).
    pub(crate) fn ready(&self) -> u32 {
        self.ready.load(Ordering::Acquire)
    }

    /// Pops the oldest item, if one is fully pushed.
    fn pop_locked(&self, c: &mut Consumer) -> Option<*mut T> {
        let stub = self.stub();
        if !c.stash.is_null() {
            let node = c.stash;
            // SAFETY: stash nodes are items owned by the consumer.
            c.stash = unsafe { (*node).next.load(Ordering::Relaxed) };
            // SAFETY: `node` came from `T::link`.
            return Some(unsafe { T::from_link(node) });
        }
        let mut head = c.head;
        // SAFETY: `head` is a valid node of the chain (type invariant).
        let mut next = unsafe { (*head).next.load(Ordering::Acquire) };
        if head == stub {
            if next.is_null() {
                return None;
            }
            c.head = next;
            head = next;
            // SAFETY: `next` is a linked node.
            next = unsafe { (*next).next.load(Ordering::Acquire) };
        }
        if !next.is_null() {
            c.head = next;
            // SAFETY: `head` is an item's link (not the stub).
            return Some(unsafe { T::from_link(head) });
        }
        if head != self.tail.load(Ordering::Acquire) {
            // A producer is between its exchange and its link: not visible yet.
            return None;
        }
        // `head` is the last node: hand the stub back so that `head` can be taken.
        self.push_link(stub);
        // SAFETY: `head` is still a valid node of the chain.
        next = unsafe { (*head).next.load(Ordering::Acquire) };
        if next.is_null() {
            return None;
        }
        c.head = next;
        // SAFETY: as above.
        Some(unsafe { T::from_link(head) })
    }

    /// Pops up to `out.len()` items in order into `out`; returns how many.
    pub(crate) fn pop_batch(&self, out: &mut [*mut T]) -> usize {
        let mut c = self.consumer.lock();
        let mut n = 0;
        while n < out.len() {
            match self.pop_locked(&mut c) {
                Some(item) => {
                    out[n] = item;
                    n += 1;
                }
                None => break,
            }
        }
        drop(c);
        self.ready.fetch_sub(n as u32, Ordering::AcqRel);
        n
    }

    /// Puts `items`, popped and not delivered, back at the front, in order.
    ///
    /// # Safety
    ///
    /// Each item must have been popped from this queue and not pushed again.
    pub(crate) unsafe fn unpop(&self, items: &[*mut T]) {
        let mut c = self.consumer.lock();
        for &item in items.iter().rev() {
            let link = T::link(item).cast_mut();
            // SAFETY: the item is owned by the consumer; its link is unused.
            unsafe { (*link).next.store(c.stash, Ordering::Relaxed) };
            c.stash = link;
        }
        drop(c);
        self.ready.fetch_add(items.len() as u32, Ordering::Release);
    }
}

#[kunit_tests(sysmsg_queue)]
mod tests {
    use super::*;

    struct Item {
        link: Link,
        value: u32,
    }

    // SAFETY: `link` is a field of `Item`; `from_link` subtracts its offset.
    unsafe impl Linked for Item {
        fn link(this: *const Self) -> *const Link {
            // SAFETY: only computes a field address.
            unsafe { &raw const (*this).link }
        }
        unsafe fn from_link(link: *const Link) -> *mut Self {
            // SAFETY: per the safety requirements, `link` is inside an `Item`.
            unsafe {
                link.byte_sub(core::mem::offset_of!(Item, link))
                    .cast::<Item>()
                    .cast_mut()
            }
        }
    }

    fn queue() -> Result<Pin<KBox<ReplyQueue<Item>>>> {
        KBox::pin_init(ReplyQueue::new(), GFP_KERNEL)
    }

    fn items(n: u32) -> Result<KVec<Item>> {
        let mut v = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for value in 0..n {
            v.push(
                Item {
                    link: Link::new(),
                    value,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(v)
    }

    /// Items come out in the order they went in, across the stub hand-back, and an empty queue
    /// pops nothing.
    #[test]
    fn fifo() -> Result {
        let q = queue()?;
        let mut v = items(5)?;
        let mut out = [ptr::null_mut(); 8];
        assert_eq!(q.pop_batch(&mut out), 0);
        for it in v.iter_mut() {
            // SAFETY: each item is pushed once and outlives the queue's use of it.
            unsafe { q.push(it) };
        }
        assert_eq!(q.ready(), 5);
        assert_eq!(q.pop_batch(&mut out[..2]), 2);
        // SAFETY: popped items are the live elements of `v`.
        assert_eq!(unsafe { ((*out[0]).value, (*out[1]).value) }, (0, 1));
        let n = q.pop_batch(&mut out);
        assert_eq!(n, 3);
        // SAFETY: as above.
        assert_eq!(unsafe { ((*out[0]).value, (*out[2]).value) }, (2, 4));
        assert_eq!(q.ready(), 0);
        assert_eq!(q.pop_batch(&mut out), 0);
        // The queue keeps working after it was drained down to the stub.
        // SAFETY: item 1 was popped; pushing it again is allowed.
        unsafe { q.push(&mut v[1]) };
        assert_eq!(q.pop_batch(&mut out), 1);
        // SAFETY: as above.
        assert_eq!(unsafe { (*out[0]).value }, 1);
        Ok(())
    }

    /// Items put back come out first, in their original order, before newer items.
    #[test]
    fn unpop_front() -> Result {
        let q = queue()?;
        let mut v = items(4)?;
        let mut out = [ptr::null_mut(); 4];
        for it in v.iter_mut().take(3) {
            // SAFETY: pushed once, live.
            unsafe { q.push(it) };
        }
        assert_eq!(q.pop_batch(&mut out[..3]), 3);
        // SAFETY: out[1] and out[2] were popped and not pushed again.
        unsafe { q.unpop(&out[1..3]) };
        // SAFETY: item 3 is fresh.
        unsafe { q.push(&mut v[3]) };
        assert_eq!(q.ready(), 3);
        let mut got = [ptr::null_mut(); 4];
        assert_eq!(q.pop_batch(&mut got), 3);
        // SAFETY: popped items are live elements of `v`.
        let values = unsafe { [(*got[0]).value, (*got[1]).value, (*got[2]).value] };
        assert_eq!(values, [1, 2, 3]);
        Ok(())
    }
}
