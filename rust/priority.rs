// SPDX-License-Identifier: GPL-2.0

//! Priorities: a message's static priority, its aging while it waits for a worker, and the
//! per-process queue of messages ready for a worker.
//!
//! A message's static priority is `sysmsg_msg.prio`, from [`PRIO_MIN`] (-3, lowest) to
//! [`PRIO_MAX`] (3, highest); 0, what a zeroed message says, is the default, in the middle.
//! While a message waits for a worker its *effective* priority rises by one level per
//! `kernel.sysmsg.prio_aging_ms` milliseconds of waiting (0 disables aging), up to the top:
//!
//! ```text
//! effective = min(PRIO_MAX, prio + waited_ms / prio_aging_ms)
//! ```
//!
//! The message with the highest effective priority runs first; on a tie, the one that has waited
//! longest. So a message of priority `p` is passed by newer messages for at most
//! `(PRIO_MAX - p) * prio_aging_ms`: after that it is at the top level and older than any newer
//! message, and waits only for those of the top level that were queued before it.
//!
//! [`ReadyQueue`] keeps one FIFO list per level. Within a level the head has waited longest and
//! so also has the highest effective priority of its level, so the best message is the best of at
//! most [`NR_LEVELS`] heads: a pick costs O(1) whatever the number of queued messages, and so do
//! queueing and removing one.

use crate::sysctl::SysctlInt;
use core::ptr;
use kernel::prelude::*;

/// The lowest static priority.
pub(crate) const PRIO_MIN: i32 = -3;
/// The highest static priority.
pub(crate) const PRIO_MAX: i32 = 3;
/// The number of priority levels.
pub(crate) const NR_LEVELS: usize = (PRIO_MAX - PRIO_MIN + 1) as usize;

/// `kernel.sysmsg.prio_aging_ms`: milliseconds of waiting per level of priority gained; 0: none.
pub(crate) static PRIO_AGING_MS: SysctlInt = SysctlInt::new(100, 0, 3_600_000);

/// The level (0 ..= `NR_LEVELS - 1`) of a static priority the caller validated.
pub(crate) fn level(prio: i8) -> u8 {
    (i32::from(prio).clamp(PRIO_MIN, PRIO_MAX) - PRIO_MIN) as u8
}

/// The effective level of a message of level `level` that has waited `waited_ns`.
pub(crate) fn effective(level: u8, waited_ns: u64, aging_ns: u64) -> u64 {
    let top = (NR_LEVELS - 1) as u64;
    match waited_ns.checked_div(aging_ns) {
        Some(gained) => (u64::from(level) + gained).min(top),
        None => u64::from(level),
    }
}

/// The aging step in nanoseconds, from the sysctl.
pub(crate) fn aging_ns() -> u64 {
    PRIO_AGING_MS.get().max(0) as u64 * 1_000_000
}

/// The links of a queued item, embedded in it.
///
/// Protected by whatever protects the [`ReadyQueue`] the item is on.
pub(crate) struct ReadyLinks {
    prev: *mut ReadyLinks,
    next: *mut ReadyLinks,
    /// When it was queued (ns, monotonic).
    since: u64,
    /// Its level (see [`level`]).
    level: u8,
    /// Whether it is on a queue.
    queued: bool,
}

impl ReadyLinks {
    /// Links of an item on no queue.
    pub(crate) const fn new() -> Self {
        Self {
            prev: ptr::null_mut(),
            next: ptr::null_mut(),
            since: 0,
            level: 0,
            queued: false,
        }
    }
}

/// One FIFO list per level; see the module documentation.
///
/// # Invariants
///
/// `heads[l]`..`tails[l]` is a doubly linked list of the queued items of level `l`, in the order
/// they were queued; `len` counts the items of all lists.
pub(crate) struct ReadyQueue {
    heads: [*mut ReadyLinks; NR_LEVELS],
    tails: [*mut ReadyLinks; NR_LEVELS],
    len: usize,
}

// SAFETY: the pointers are only followed by the holder of the lock that protects the queue.
unsafe impl Send for ReadyQueue {}

impl ReadyQueue {
    /// An empty queue.
    pub(crate) const fn new() -> Self {
        Self {
            heads: [ptr::null_mut(); NR_LEVELS],
            tails: [ptr::null_mut(); NR_LEVELS],
            len: 0,
        }
    }

    /// The number of queued items.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues `node` at the tail of level `level`, as of `now`.
    ///
    /// # Safety
    ///
    /// `node` must be valid, on no queue, and stay valid until it is popped or removed.
    pub(crate) unsafe fn push(&mut self, node: *mut ReadyLinks, level: u8, now: u64) {
        let l = usize::from(level).min(NR_LEVELS - 1);
        // SAFETY: per the safety requirements; the tail, if any, is a queued (valid) item.
        unsafe {
            (*node).prev = self.tails[l];
            (*node).next = ptr::null_mut();
            (*node).since = now;
            (*node).level = l as u8;
            (*node).queued = true;
            if self.tails[l].is_null() {
                self.heads[l] = node;
            } else {
                (*self.tails[l]).next = node;
            }
        }
        // INVARIANT: appended to list `l`.
        self.tails[l] = node;
        self.len += 1;
    }

    /// Takes `node` off the queue; returns `false` if it was on none.
    ///
    /// # Safety
    ///
    /// `node` must be valid and, if queued, queued on this queue.
    pub(crate) unsafe fn remove(&mut self, node: *mut ReadyLinks) -> bool {
        // SAFETY: per the safety requirements; its neighbours are queued, so valid.
        unsafe {
            if !(*node).queued {
                return false;
            }
            let l = usize::from((*node).level);
            let (prev, next) = ((*node).prev, (*node).next);
            if prev.is_null() {
                self.heads[l] = next;
            } else {
                (*prev).next = next;
            }
            if next.is_null() {
                self.tails[l] = prev;
            } else {
                (*next).prev = prev;
            }
            (*node).queued = false;
        }
        // INVARIANT: unlinked from its list.
        self.len -= 1;
        true
    }

    /// Takes the item with the highest effective priority at `now` (the oldest on a tie).
    pub(crate) fn pop_best(&mut self, now: u64, aging_ns: u64) -> Option<*mut ReadyLinks> {
        let mut best: Option<(u64, u64, *mut ReadyLinks)> = None;
        for &head in self.heads.iter().rev() {
            if head.is_null() {
                continue;
            }
            // SAFETY: heads are queued items, valid (type invariants).
            let (level, since) = unsafe { ((*head).level, (*head).since) };
            let eff = effective(level, now.saturating_sub(since), aging_ns);
            let better = match best {
                None => true,
                Some((e, s, _)) => eff > e || (eff == e && since < s),
            };
            if better {
                best = Some((eff, since, head));
            }
        }
        let (_, _, node) = best?;
        // SAFETY: a head of this queue.
        unsafe { self.remove(node) };
        Some(node)
    }
}

#[kunit_tests(sysmsg_priority)]
mod tests {
    use super::*;
    use kernel::alloc::KVec;

    const MS: u64 = 1_000_000;

    /// Nodes for the tests, with a number to recognise them by.
    struct Node {
        links: ReadyLinks,
        id: u32,
    }

    fn nodes(n: u32) -> Result<KVec<Node>> {
        let mut v = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for id in 0..n {
            v.push(
                Node {
                    links: ReadyLinks::new(),
                    id,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(v)
    }

    fn id_of(p: *mut ReadyLinks) -> u32 {
        // SAFETY: `links` is the first field of a live `Node` in these tests.
        unsafe { (*p.cast::<Node>()).id }
    }

    /// Higher static priority first; equal priorities in the order they were queued.
    #[test]
    fn static_order_then_fifo() -> Result {
        let mut v = nodes(6)?;
        let mut q = ReadyQueue::new();
        let prios = [0i8, 3, -3, 3, 0, 1];
        for (n, &p) in v.iter_mut().zip(prios.iter()) {
            // SAFETY: the nodes outlive the queue's use of them.
            unsafe { q.push(&raw mut n.links, level(p), 0) };
        }
        assert_eq!(q.len(), 6);
        let mut order = [0u32; 6];
        for slot in order.iter_mut() {
            *slot = id_of(q.pop_best(0, 0).ok_or(EINVAL)?);
        }
        assert_eq!(order, [1, 3, 5, 0, 4, 2]);
        assert!(q.pop_best(0, 0).is_none());
        Ok(())
    }

    /// With aging, a lowest-priority message passes a stream of newer highest-priority ones
    /// once it has waited `(PRIO_MAX - PRIO_MIN) * prio_aging_ms`, and not before.
    #[test]
    fn aging_lifts_a_low_priority_message() -> Result {
        let aging = 10 * MS;
        let bound = (PRIO_MAX - PRIO_MIN) as u64 * aging;
        let mut v = nodes(200)?;
        let mut q = ReadyQueue::new();
        let (low, stream) = v.split_at_mut(1);
        // SAFETY: the nodes outlive the queue's use of them.
        unsafe { q.push(&raw mut low[0].links, level(PRIO_MIN as i8), 0) };
        // One new top-priority message every millisecond, one pick every millisecond.
        let mut picked_low_at = None;
        for (t, n) in stream.iter_mut().enumerate() {
            let now = (t as u64 + 1) * MS;
            // SAFETY: as above.
            unsafe { q.push(&raw mut n.links, level(PRIO_MAX as i8), now) };
            if id_of(q.pop_best(now, aging).ok_or(EINVAL)?) == 0 {
                picked_low_at = Some(now);
                break;
            }
        }
        let at = picked_low_at.ok_or(EINVAL)?;
        assert!(at >= bound);
        assert!(at <= bound + MS);
        // Without aging, it would wait for the whole stream.
        let mut q = ReadyQueue::new();
        let mut v = nodes(3)?;
        let (a, b) = v.split_at_mut(1);
        // SAFETY: as above.
        unsafe {
            q.push(&raw mut a[0].links, level(PRIO_MIN as i8), 0);
            q.push(&raw mut b[0].links, level(PRIO_MAX as i8), 1000 * MS);
            q.push(&raw mut b[1].links, level(PRIO_MAX as i8), 2000 * MS);
        }
        assert_eq!(id_of(q.pop_best(3000 * MS, 0).ok_or(EINVAL)?), 1);
        assert_eq!(id_of(q.pop_best(3000 * MS, aging).ok_or(EINVAL)?), 0);
        Ok(())
    }

    /// The effective level follows the documented formula.
    #[test]
    fn formula() {
        let aging = 100 * MS;
        assert_eq!(effective(0, 0, aging), 0);
        assert_eq!(effective(0, 99 * MS, aging), 0);
        assert_eq!(effective(0, 100 * MS, aging), 1);
        assert_eq!(effective(2, 350 * MS, aging), 5);
        assert_eq!(effective(2, 10_000 * MS, aging), (NR_LEVELS - 1) as u64);
        assert_eq!(effective(2, 10_000 * MS, 0), 2);
        assert_eq!(level(0), 3);
        assert_eq!(level(PRIO_MIN as i8), 0);
        assert_eq!(level(PRIO_MAX as i8), (NR_LEVELS - 1) as u8);
    }

    /// Removing from the middle keeps the lists intact; removing twice is refused.
    #[test]
    fn remove() -> Result {
        let mut v = nodes(3)?;
        let mut q = ReadyQueue::new();
        for n in v.iter_mut() {
            // SAFETY: the nodes outlive the queue's use of them.
            unsafe { q.push(&raw mut n.links, level(0), 0) };
        }
        let mid = &raw mut v[1].links;
        // SAFETY: queued on `q`.
        assert!(unsafe { q.remove(mid) });
        // SAFETY: valid, on no queue.
        assert!(!unsafe { q.remove(mid) });
        assert_eq!(id_of(q.pop_best(0, 0).ok_or(EINVAL)?), 0);
        assert_eq!(id_of(q.pop_best(0, 0).ok_or(EINVAL)?), 2);
        assert_eq!(q.len(), 0);
        Ok(())
    }

    /// The cost of a pick with 100,000 messages queued, next to 7 and 1,000 (printed, not
    /// asserted: a benchmark). Each picked message is queued again, so the queue keeps its size.
    #[test]
    fn pick_cost_with_100k_queued() -> Result {
        const PICKS: u64 = 1_000_000;
        for n in [7u32, 1_000, 100_000] {
            let mut v = nodes(n)?;
            let mut q = ReadyQueue::new();
            for (i, node) in v.iter_mut().enumerate() {
                let prio = (i % NR_LEVELS) as i32 + PRIO_MIN;
                // SAFETY: the nodes outlive the queue's use of them.
                unsafe { q.push(&raw mut node.links, level(prio as i8), i as u64) };
            }
            let aging = 100 * MS;
            // SAFETY: no preconditions.
            let t0 = unsafe { kernel::bindings::ktime_get() };
            for i in 0..PICKS {
                let now = (u64::from(n) + i) * 1000;
                let node = q.pop_best(now, aging).ok_or(EINVAL)?;
                // SAFETY: just taken off the queue; still valid.
                let level = unsafe { (*node).level };
                // SAFETY: as above.
                unsafe { q.push(node, level, now) };
            }
            // SAFETY: no preconditions.
            let dt = unsafe { kernel::bindings::ktime_get() } - t0;
            assert_eq!(q.len(), n as usize);
            pr_info!(
                "priority pick+requeue with {} queued: {} ns each ({} picks in {} us)\n",
                n,
                dt / PICKS as i64,
                PICKS,
                dt / 1000
            );
        }
        Ok(())
    }
}
