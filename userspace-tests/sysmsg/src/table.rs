//! The library's bookkeeping for messages in flight: a slot table (a `Vec` with a free list)
//! indexed by the tag the library sends to the kernel, holding the user's tag, the buffer of a
//! read until its reply is reaped, and the replies of synchronous calls until their caller
//! takes them; and the backlog of reaped replies not yet returned.

use crate::{
    op::{Entry, Payload},
    sys, Opcode, Reply,
};
use std::collections::VecDeque;

/// The top 16 bits of every kernel tag the library makes ("SY"). Raw submissions must not use
/// tags with these bits (see [`Sysmsg::submit_raw`](crate::Sysmsg::submit_raw)).
pub const TAG_MAGIC: u64 = 0x5359;

fn encode(index: u32, generation: u16) -> u64 {
    (TAG_MAGIC << 48) | (u64::from(generation) << 32) | u64::from(index)
}

fn decode(tag: u64) -> Option<(u32, u16)> {
    (tag >> 48 == TAG_MAGIC).then_some((tag as u32, (tag >> 32) as u16))
}

/// A message the kernel accepted (or is being asked to accept).
struct Pending {
    tag: u64,
    buffer: Option<Vec<u8>>,
    /// A synchronous call waits for this reply itself: it is kept in the slot, not the backlog.
    sync: bool,
    /// The kernel accepted it (its submitting call returned and counted it).
    accepted: bool,
}

enum State {
    Free,
    InFlight(Pending),
    /// The reply of a synchronous call, until the caller takes it.
    Done(Reply),
}

struct Slot {
    generation: u16,
    state: State,
}

/// The state shared by every user of one `Sysmsg`, behind its mutex.
pub(crate) struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Reaped replies not yet handed out, in completion order.
    pub backlog: VecDeque<Reply>,
    /// Replies still to come from the kernel that will go to the backlog: library messages that
    /// are not synchronous, plus raw submissions. May dip below zero for a moment while a
    /// submitting thread has not yet counted what another thread already reaped.
    pub outstanding: i64,
    /// Synchronous messages in flight (counted from `prepare`, as nobody waits for them
    /// blindly: their callers wait for their own slot).
    pub sync_in_flight: usize,
    /// One thread is in a reaping call; the others wait on the condition variable.
    pub reaping: bool,
}

/// What one submission prepared: the messages and the slots they use.
pub(crate) struct Prepared {
    pub msgs: Vec<sys::sysmsg_msg>,
    pub slots: Vec<u32>,
    pub sync: bool,
}

impl Table {
    pub fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            backlog: VecDeque::new(),
            outstanding: 0,
            sync_in_flight: 0,
            reaping: false,
        }
    }

    fn alloc(&mut self, pending: Pending) -> u32 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).expect("more than 2^32 messages in flight");
                self.slots.push(Slot {
                    generation: 0,
                    state: State::Free,
                });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        debug_assert!(matches!(slot.state, State::Free));
        slot.state = State::InFlight(pending);
        index
    }

    fn release(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.state = State::Free;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
    }

    fn kernel_tag(&self, index: u32) -> u64 {
        encode(index, self.slots[index as usize].generation)
    }

    /// Gives every entry a slot (moving read buffers into it) and makes its message.
    pub fn prepare(&mut self, entries: &mut [Entry], sync: bool) -> Prepared {
        let mut msgs = Vec::with_capacity(entries.len());
        let mut slots = Vec::with_capacity(entries.len());
        for e in entries.iter_mut() {
            let buffer = match &mut e.payload {
                Payload::Buffer(b) => Some(std::mem::take(b)),
                _ => None,
            };
            let index = self.alloc(Pending {
                tag: e.get_tag(),
                buffer,
                sync,
                accepted: false,
            });
            let tag = self.kernel_tag(index);
            let named = match &mut self.slots[index as usize].state {
                State::InFlight(Pending {
                    buffer: Some(b), ..
                }) => Some((b.as_mut_ptr() as u64, b.len() as u64)),
                _ => None,
            };
            msgs.push(e.to_raw(tag, named));
            slots.push(index);
        }
        if sync {
            self.sync_in_flight += entries.len();
        }
        Prepared { msgs, slots, sync }
    }

    /// After the kernel accepted the first `accepted` of a prepared submission: counts them and
    /// gives the others back their buffers and slots.
    pub fn finish(&mut self, entries: &mut [Entry], prepared: &Prepared, accepted: usize) {
        for &index in &prepared.slots[..accepted] {
            if let State::InFlight(p) = &mut self.slots[index as usize].state {
                p.accepted = true;
            }
        }
        for (e, &index) in entries.iter_mut().zip(&prepared.slots).skip(accepted) {
            let slot = &mut self.slots[index as usize];
            if let State::InFlight(p) = std::mem::replace(&mut slot.state, State::Free) {
                if let (Payload::Buffer(b), Some(buffer)) = (&mut e.payload, p.buffer) {
                    *b = buffer;
                }
            }
            self.release(index);
        }
        if prepared.sync {
            self.sync_in_flight -= prepared.slots.len() - accepted;
        } else {
            self.outstanding += accepted as i64;
        }
    }

    /// Files one reply reaped from the kernel: a synchronous call's into its slot, any other into
    /// the backlog if `to_backlog` (else it is dropped: a raw reap returned it already). Either
    /// way the slot, and the buffer of a read, are released.
    pub fn complete(&mut self, raw: &sys::sysmsg_reply, to_backlog: bool) {
        let opcode = Opcode(raw.opcode);
        let ours = decode(raw.tag).and_then(|(index, generation)| {
            let slot = self.slots.get(index as usize)?;
            (slot.generation == generation && matches!(slot.state, State::InFlight(_)))
                .then_some(index)
        });
        let Some(index) = ours else {
            // A raw submission's reply: passed on as it is.
            self.outstanding -= 1;
            if to_backlog {
                self.backlog.push_back(Reply::from_raw(raw));
            }
            return;
        };
        let slot = &mut self.slots[index as usize];
        let State::InFlight(p) = std::mem::replace(&mut slot.state, State::Free) else {
            unreachable!("checked above");
        };
        // The kernel has written the data back (or failed to) by now: the buffer is ours again.
        let data = p.buffer.map(|mut b| {
            let n = usize::try_from(raw.result).unwrap_or(0).min(b.len());
            b.truncate(n);
            b
        });
        let reply = Reply::new(p.tag, opcode, raw.result, data);
        if p.sync {
            slot.state = State::Done(reply);
            self.sync_in_flight -= 1;
        } else {
            self.release(index);
            self.outstanding -= 1;
            if to_backlog {
                self.backlog.push_back(reply);
            }
        }
    }

    /// The reply of the synchronous message in slot `index`, once it came.
    pub fn take_done(&mut self, index: u32) -> Option<Reply> {
        let slot = &mut self.slots[index as usize];
        if !matches!(slot.state, State::Done(_)) {
            return None;
        }
        let State::Done(reply) = std::mem::replace(&mut slot.state, State::Free) else {
            unreachable!("checked above");
        };
        self.release(index);
        Some(reply)
    }

    /// A synchronous caller gives up (an error while it waited): its reply will go to the
    /// backlog instead, so that nothing is lost.
    pub fn abandon(&mut self, index: u32) {
        if let Some(reply) = self.take_done(index) {
            self.backlog.push_back(reply);
            return;
        }
        if let State::InFlight(p) = &mut self.slots[index as usize].state {
            if p.sync {
                p.sync = false;
                self.sync_in_flight -= 1;
                self.outstanding += 1;
            }
        }
    }

    /// The messages in flight in the kernel whose user tag is `tag`: their kernel tags, and
    /// whether the kernel is known to have accepted them (else their submitting call has not
    /// returned yet).
    pub fn in_flight_with_tag(&self, tag: u64) -> Vec<(u64, bool)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| match &slot.state {
                State::InFlight(p) if p.tag == tag => {
                    Some((encode(index as u32, slot.generation), p.accepted))
                }
                _ => None,
            })
            .collect()
    }

    /// How many replies with user tag `tag` were reaped from the kernel and not yet handed out:
    /// in the backlog, or waiting in their slot for a synchronous caller.
    pub fn ready_with_tag(&self, tag: u64) -> usize {
        let done = self
            .slots
            .iter()
            .filter(|slot| matches!(&slot.state, State::Done(r) if r.tag() == tag))
            .count();
        done + self.backlog.iter().filter(|r| r.tag() == tag).count()
    }

    /// Whether replies are still to come for the backlog.
    pub fn expecting(&self) -> bool {
        self.outstanding > 0
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // A read still in flight may yet be written back, by a reaping call on another
        // descriptor of the same open file (a dup, or the file inherited by exec): its buffer is
        // leaked rather than freed, so that the kernel never writes to freed memory.
        for slot in &mut self.slots {
            if let State::InFlight(p) = &mut slot.state {
                if let Some(b) = p.buffer.take() {
                    std::mem::forget(b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Nop, Read, Write};

    fn reply(tag: u64, opcode: Opcode, result: i64) -> sys::sysmsg_reply {
        sys::sysmsg_reply {
            tag,
            result,
            opcode: opcode.0,
            ..Default::default()
        }
    }

    #[test]
    fn tags_round_trip() {
        for (i, g) in [(0, 0), (1, 2), (u32::MAX, u16::MAX)] {
            let t = encode(i, g);
            assert_eq!(t >> 48, TAG_MAGIC);
            assert_eq!(decode(t), Some((i, g)));
        }
        assert_eq!(decode(42), None);
    }

    #[test]
    fn replies_map_back_to_user_tags_and_buffers() {
        let mut t = Table::new();
        let mut entries = vec![
            Nop::new().build().tag(100),
            Read::new(0, 8).build().tag(200),
            Write::new(1, "x").build().tag(300),
        ];
        let p = t.prepare(&mut entries, false);
        assert_eq!(p.msgs.len(), 3);
        t.finish(&mut entries, &p, 3);
        assert_eq!(t.outstanding, 3);

        // The kernel writes the read's data back to the named buffer, then stores the replies.
        let read = &p.msgs[1];
        assert_eq!(read.len, 8);
        // SAFETY: addr/len name the buffer the table owns while the read is in flight.
        unsafe { std::ptr::copy_nonoverlapping(b"abcde".as_ptr(), read.addr as *mut u8, 5) };
        t.complete(&reply(p.msgs[1].tag, Opcode::READ, 5), true);
        t.complete(&reply(p.msgs[0].tag, Opcode::NOP, 0), true);
        t.complete(&reply(p.msgs[2].tag, Opcode::WRITE, 1), true);
        assert_eq!(t.outstanding, 0);
        let got: Vec<_> = t.backlog.drain(..).collect();
        assert_eq!(got[0].tag(), 200);
        assert_eq!(got[0].data(), Some(&b"abcde"[..]));
        assert_eq!(got[1].tag(), 100);
        assert_eq!(got[1].data(), None);
        assert_eq!((got[2].tag(), got[2].raw_result()), (300, 1));
        assert_eq!(t.free.len(), 3, "every slot is free again");
    }

    /// What a cancellation by user tag looks up: the kernel tags in flight (accepted or not
    /// yet), and the replies reaped but not handed out.
    #[test]
    fn lookups_by_user_tag() {
        let mut t = Table::new();
        let mut entries = vec![
            Nop::new().build().tag(1),
            Read::new(0, 8).build().tag(2),
            Nop::new().build().tag(1),
        ];
        let p = t.prepare(&mut entries, false);
        let pending: Vec<(u64, bool)> = vec![(p.msgs[0].tag, false), (p.msgs[2].tag, false)];
        assert_eq!(
            t.in_flight_with_tag(1),
            pending,
            "submission not returned yet"
        );
        t.finish(&mut entries, &p, 2);
        assert_eq!(t.in_flight_with_tag(1), [(p.msgs[0].tag, true)]);
        assert_eq!(t.in_flight_with_tag(2), [(p.msgs[1].tag, true)]);
        assert_eq!(t.in_flight_with_tag(3), []);
        assert_eq!(t.ready_with_tag(1), 0);
        t.complete(&reply(p.msgs[0].tag, Opcode::NOP, 0), true);
        assert_eq!(t.in_flight_with_tag(1), []);
        assert_eq!(t.ready_with_tag(1), 1);
        // A synchronous call's reply waits in its slot: it counts too.
        let mut sync = vec![Nop::new().build().tag(1)];
        let q = t.prepare(&mut sync, true);
        t.finish(&mut sync, &q, 1);
        t.complete(&reply(q.msgs[0].tag, Opcode::NOP, 0), true);
        assert_eq!(t.ready_with_tag(1), 2);
        assert_eq!(t.take_done(q.slots[0]).unwrap().tag(), 1);
        assert_eq!(t.ready_with_tag(1), 1);
        t.backlog.clear();
        assert_eq!(t.ready_with_tag(1), 0);
    }

    #[test]
    fn refused_entries_get_their_buffers_back() {
        let mut t = Table::new();
        let mut entries = vec![Nop::new().build(), Read::new(0, 16).build().tag(9)];
        let p = t.prepare(&mut entries, false);
        t.finish(&mut entries, &p, 1);
        assert_eq!(t.outstanding, 1);
        match &entries[1].payload {
            Payload::Buffer(b) => assert_eq!(b.len(), 16),
            other => panic!("{other:?}"),
        }
        // The refused slot is reused with a new generation: its old tag is foreign now.
        let mut again = vec![Nop::new().build()];
        let q = t.prepare(&mut again, false);
        assert_eq!(q.slots[0], p.slots[1]);
        assert_ne!(q.msgs[0].tag, p.msgs[1].tag);
    }

    #[test]
    fn errors_truncate_the_buffer_to_nothing() {
        let mut t = Table::new();
        let mut entries = vec![Read::new(0, 16).build()];
        let p = t.prepare(&mut entries, false);
        t.finish(&mut entries, &p, 1);
        t.complete(&reply(p.msgs[0].tag, Opcode::READ, -14), true);
        let r = t.backlog.pop_front().unwrap();
        assert_eq!(r.errno(), Some(14));
        assert_eq!(r.data(), Some(&[][..]));
        assert!(r.into_data().unwrap().capacity() >= 16);
    }

    #[test]
    fn foreign_replies_pass_through() {
        let mut t = Table::new();
        t.outstanding = 1;
        t.complete(&reply(7, Opcode::NOP, 0), true);
        assert_eq!(t.outstanding, 0);
        let r = t.backlog.pop_front().unwrap();
        assert_eq!((r.tag(), r.opcode()), (7, Opcode::NOP));
        // A stale library tag is foreign too.
        t.outstanding = 1;
        t.complete(&reply(encode(0, 5), Opcode::NOP, 0), false);
        assert!(t.backlog.is_empty());
        assert!(!t.expecting());
    }

    #[test]
    fn sync_replies_stay_in_their_slot() {
        let mut t = Table::new();
        let mut entries = vec![Nop::new().build().tag(1)];
        let p = t.prepare(&mut entries, true);
        t.finish(&mut entries, &p, 1);
        assert_eq!((t.outstanding, t.sync_in_flight), (0, 1));
        assert!(t.take_done(p.slots[0]).is_none());
        t.complete(&reply(p.msgs[0].tag, Opcode::NOP, 0), true);
        assert!(t.backlog.is_empty());
        assert_eq!(t.sync_in_flight, 0);
        assert_eq!(t.take_done(p.slots[0]).unwrap().tag(), 1);

        // An abandoned synchronous message's reply goes to the backlog.
        let mut entries = vec![Nop::new().build().tag(2)];
        let p = t.prepare(&mut entries, true);
        t.finish(&mut entries, &p, 1);
        t.abandon(p.slots[0]);
        assert_eq!((t.outstanding, t.sync_in_flight), (1, 0));
        t.complete(&reply(p.msgs[0].tag, Opcode::NOP, 0), true);
        assert_eq!(t.backlog.pop_front().unwrap().tag(), 2);
    }
}
