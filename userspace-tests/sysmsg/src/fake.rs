//! A fake of the module's submit and reap, for host unit tests of the library's bookkeeping and
//! of its coordination between threads (the real module only runs in the test VM).
//!
//! It follows README.md where the library depends on it: messages are taken in order and the
//! first refused one stops the batch; NOPs complete at submit, sleeps on a timer thread, reads
//! produce data that is written back to the message's buffer *at reap*; replies come in
//! completion order; a reap waits for one reply unless told not to; the queue is bounded, and
//! after a refusal the queue is throttled until it is down to half its limit (README.md:
//! no `POLLOUT` and every submission refused meanwhile, unless it waits for room).
//!
//! Cancellation (`SYSMSG_IOC_CANCEL`) follows the header: sleeps, and READs of [`NEVER_FD`] (a
//! pipe nobody writes to: they wait until cancelled), are *waiting* and can be stopped, their
//! reply saying `-ECANCELED`; completed messages whose reply was not reaped count as `already`,
//! NOPs excepted (the module does not register them). Nothing executes on a worker here.

use crate::{reply::SubmitError, sys, Opcode};
use std::{
    collections::VecDeque,
    io,
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant},
};

/// A READ of this descriptor waits until it is cancelled (a pipe nobody writes to).
pub(crate) const NEVER_FD: i32 = 1000;

struct Done {
    reply: sys::sysmsg_reply,
    /// Read data and the buffer it goes to.
    data: Option<(u64, Vec<u8>)>,
}

/// A message that waits (a sleep, a READ of [`NEVER_FD`]) and can be cancelled.
struct Waiting {
    id: u64,
    reply: sys::sysmsg_reply,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Done>,
    waiting: Vec<Waiting>,
    next_id: u64,
    in_flight: usize,
    throttled: bool,
    /// The library's eventfd, faked.
    woken: bool,
    /// Messages refused by the limit or while throttled.
    pub limit_hits: usize,
}

pub(crate) struct Fake {
    state: Mutex<State>,
    cond: Condvar,
    limit: usize,
}

impl State {
    fn may_submit(&self, limit: usize) -> bool {
        !self.throttled && self.in_flight < limit
    }
}

/// The data a fake READ or PREAD of `len` bytes at `offset` produces.
pub(crate) fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|k| (offset + k) as u8).collect()
}

impl Fake {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
            limit,
        })
    }

    fn complete(&self, done: Done) {
        self.state.lock().unwrap().ready.push_back(done);
        self.cond.notify_all();
    }

    /// The low-water mark: half the limit.
    fn mark(&self) -> usize {
        self.limit / 2
    }

    /// `poll` for `POLLOUT`.
    pub fn poll_out(&self) -> bool {
        self.state.lock().unwrap().may_submit(self.limit)
    }

    /// How many messages were refused by the limit or while throttled.
    pub fn limit_hits(&self) -> usize {
        self.state.lock().unwrap().limit_hits
    }

    /// Waits until a reply is ready or [`wake`](Self::wake) is called.
    pub fn wait_event(&self) {
        let mut st = self.state.lock().unwrap();
        while st.ready.is_empty() && !st.woken {
            st = self.cond.wait(st).unwrap();
        }
        st.woken = false;
    }

    /// The library's eventfd.
    pub fn wake(&self) {
        self.state.lock().unwrap().woken = true;
        self.cond.notify_all();
    }

    /// # Safety
    ///
    /// The timespecs and write data the messages name must be readable.
    pub unsafe fn submit(
        self: &Arc<Self>,
        msgs: &[sys::sysmsg_msg],
        wait: bool,
    ) -> Result<usize, SubmitError> {
        for (i, m) in msgs.iter().enumerate() {
            let refuse = |errno| {
                Err(SubmitError {
                    accepted: i,
                    error: io::Error::from_raw_os_error(errno),
                })
            };
            let op = Opcode(m.opcode);
            if op.name().is_none() || m.flags != 0 || m.reserved1 != 0 {
                return refuse(libc::EINVAL);
            }
            if op != Opcode::NOP && op != Opcode::NANOSLEEP && m.fd < 0 {
                return refuse(libc::EBADF);
            }
            let id = {
                let mut st = self.state.lock().unwrap();
                while wait && !st.may_submit(self.limit) {
                    st = self.cond.wait(st).unwrap();
                }
                if !st.may_submit(self.limit) {
                    st.limit_hits += 1;
                    if st.in_flight > self.mark() {
                        st.throttled = true;
                    }
                    return refuse(libc::EAGAIN);
                }
                st.in_flight += 1;
                st.next_id += 1;
                st.next_id
            };
            let mut reply = sys::sysmsg_reply {
                tag: m.tag,
                opcode: m.opcode,
                ..Default::default()
            };
            match op {
                Opcode::NANOSLEEP => {
                    // SAFETY: the caller's promise.
                    let ts = unsafe { *(m.addr as *const sys::__kernel_timespec) };
                    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                    let mut st = self.state.lock().unwrap();
                    st.waiting.push(Waiting { id, reply });
                    drop(st);
                    let fake = self.clone();
                    std::thread::spawn(move || fake.sleep(id, Instant::now() + d));
                    continue;
                }
                Opcode::READ if m.fd == NEVER_FD => {
                    self.state
                        .lock()
                        .unwrap()
                        .waiting
                        .push(Waiting { id, reply });
                    continue;
                }
                Opcode::READ | Opcode::PREAD => {
                    let len = (m.len as usize).min(4096);
                    reply.result = len as i64;
                    let data = pattern(m.offset as u64, len);
                    self.complete(Done {
                        reply,
                        data: Some((m.addr, data)),
                    });
                }
                Opcode::WRITE | Opcode::PWRITE => {
                    // SAFETY: the caller's promise; copied in now, like the module does.
                    let data =
                        unsafe { std::slice::from_raw_parts(m.addr as *const u8, m.len as usize) };
                    reply.result = data.to_vec().len() as i64;
                    self.complete(Done { reply, data: None });
                }
                _ => self.complete(Done { reply, data: None }),
            }
        }
        Ok(msgs.len())
    }

    /// A sleep's timer: completes message `id` at `deadline`, unless it was cancelled before.
    fn sleep(&self, id: u64, deadline: Instant) {
        let mut st = self.state.lock().unwrap();
        loop {
            let Some(pos) = st.waiting.iter().position(|w| w.id == id) else {
                return; // cancelled: the cancellation replied
            };
            let now = Instant::now();
            if now >= deadline {
                let w = st.waiting.remove(pos);
                st.ready.push_back(Done {
                    reply: w.reply,
                    data: None,
                });
                drop(st);
                self.cond.notify_all();
                return;
            }
            st = self.cond.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// `SYSMSG_IOC_CANCEL`, as the header describes it.
    pub fn cancel(&self, arg: &mut sys::sysmsg_cancel) -> io::Result<u32> {
        let all = arg.flags & sys::SYSMSG_CANCEL_ALL != 0;
        if arg.flags & !sys::SYSMSG_CANCEL_ALL != 0
            || arg.reserved != [0; 3]
            || (all && arg.tag != 0)
        {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let matches = |tag: u64| all || tag == arg.tag;
        let mut st = self.state.lock().unwrap();
        let already = st
            .ready
            .iter()
            .filter(|d| matches(d.reply.tag) && d.reply.opcode != Opcode::NOP.0)
            .count();
        let (stopped, waiting): (Vec<Waiting>, Vec<Waiting>) =
            st.waiting.drain(..).partition(|w| matches(w.reply.tag));
        st.waiting = waiting;
        let cancelled = stopped.len();
        for w in stopped {
            let reply = sys::sysmsg_reply {
                result: -i64::from(libc::ECANCELED),
                ..w.reply
            };
            st.ready.push_back(Done { reply, data: None });
        }
        drop(st);
        self.cond.notify_all();
        arg.cancelled = cancelled as u32;
        arg.already = already as u32;
        match (all, cancelled, already) {
            (false, 0, 0) => Err(io::Error::from_raw_os_error(libc::ENOENT)),
            (false, 0, _) => Err(io::Error::from_raw_os_error(libc::EALREADY)),
            _ => Ok(cancelled as u32),
        }
    }

    pub fn reap(&self, out: &mut [sys::sysmsg_reply], nowait: bool) -> io::Result<usize> {
        let mut st = self.state.lock().unwrap();
        while st.ready.is_empty() {
            if nowait {
                return Err(io::Error::from_raw_os_error(libc::EAGAIN));
            }
            st = self.cond.wait(st).unwrap();
        }
        let n = out.len().min(st.ready.len());
        for slot in &mut out[..n] {
            let done = st.ready.pop_front().unwrap();
            if let Some((addr, data)) = done.data {
                // SAFETY: writeback, as the module does it: the library keeps the buffer alive
                // until this reply is reaped (which is what these tests check).
                unsafe {
                    std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len())
                };
            }
            *slot = done.reply;
            st.in_flight -= 1;
        }
        if st.in_flight <= self.mark() {
            st.throttled = false;
        }
        drop(st);
        self.cond.notify_all();
        Ok(n)
    }
}

/// The library against the fake: bookkeeping, buffers, the backlog, and threads.
#[cfg(test)]
mod tests {
    use super::{pattern, NEVER_FD};
    use crate::{op, sys, Batch, Cancel, Entry, Opcode, Reply, Sysmsg};
    use std::{
        collections::HashMap,
        sync::{mpsc, Arc, Mutex},
        time::Duration,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs `f` on a thread and fails if it does not end within `secs` (a deadlock).
    fn within(secs: u64, f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        let h = std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(()) => h.join().unwrap(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                h.join().unwrap();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no end after {secs} s: a deadlock?"),
        }
    }

    #[test]
    fn replies_carry_user_tags_and_read_buffers() {
        let sm = Sysmsg::fake(64);
        let mut b = Batch::new();
        b.push(op::Nop::new().build().tag(1));
        b.push(op::Read::new(0, 10).build().tag(2));
        b.push(op::Pread::new(0, 5, 100).build().tag(3));
        b.push(op::Write::new(0, "abc").build().tag(4));
        b.push(op::Nanosleep::new(ms(20)).build().tag(5));
        assert_eq!(sm.submit(&mut b).unwrap(), 5);
        assert_eq!(sm.in_flight(), 5);
        let mut got: HashMap<u64, Reply> = HashMap::new();
        while got.len() < 5 {
            for r in sm.wait(1).unwrap() {
                assert!(got.insert(r.tag(), r).is_none());
            }
        }
        assert_eq!(got[&2].data(), Some(&pattern(0, 10)[..]));
        assert_eq!(got[&3].data(), Some(&pattern(100, 5)[..]));
        assert_eq!((got[&4].raw_result(), got[&4].data()), (3, None));
        assert_eq!(got[&5].opcode(), Opcode::NANOSLEEP);
        assert_eq!(sm.in_flight(), 0);
        assert_eq!(sm.wait(1).unwrap(), [], "nothing in flight: no wait");
        assert!(sm.peek().unwrap().is_none());
    }

    /// `submit_reap_raw`: one call submits and reaps; a refusal still reports (and files) what
    /// the reap part stored; a sleep is waited for with `wait` only.
    #[test]
    fn submit_reap_raw_submits_and_reaps_in_one_call() {
        let sm = Sysmsg::fake(64);
        let nop = |tag| sys::sysmsg_msg {
            opcode: Opcode::NOP.0,
            tag,
            ..Default::default()
        };
        let mut out = [sys::sysmsg_reply::default(); 8];
        let msgs = [nop(1), nop(2), nop(3)];
        // SAFETY: NOPs name no memory; small tags.
        let (a, r) = unsafe { sm.submit_reap_raw(&msgs, &mut out, false) }.unwrap();
        assert_eq!((a, r), (3, 3));
        let tags: Vec<u64> = out[..3].iter().map(|r| r.tag).collect();
        assert_eq!(tags, [1, 2, 3]);
        assert_eq!((sm.in_flight(), sm.stats().async_ops), (0, 3));

        // A refusal after the first: the reap part still takes its reply, even with `wait`.
        let mut bad = [nop(4), nop(5)];
        bad[1].flags = 1;
        // SAFETY: as above.
        let e = unsafe { sm.submit_reap_raw(&bad, &mut out, true) }.unwrap_err();
        assert_eq!(
            (e.accepted, e.reaped, e.raw_os_error()),
            (1, 1, Some(libc::EINVAL))
        );
        assert_eq!(out[0].tag, 4);
        assert_eq!(sm.in_flight(), 0);

        // Only reaping: nothing ready, no wait.
        // SAFETY: no message.
        let only_reap = unsafe { sm.submit_reap_raw(&[], &mut out, false) };
        assert_eq!(only_reap.unwrap(), (0, 0));
        // No room for replies: EINVAL, nothing submitted.
        // SAFETY: as above.
        let e = unsafe { sm.submit_reap_raw(&msgs, &mut [], false) }.unwrap_err();
        assert_eq!(
            (e.accepted, e.reaped, e.raw_os_error()),
            (0, 0, Some(libc::EINVAL))
        );

        // Sleeps: not ready without `wait`; with it, the call waits for the first reply (the
        // 20 ms sleep's: the second sleeps 300 ms).
        let short = sys::__kernel_timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        let long = sys::__kernel_timespec {
            tv_sec: 0,
            tv_nsec: 300_000_000,
        };
        let sleep = |ts: &sys::__kernel_timespec, tag| sys::sysmsg_msg {
            opcode: Opcode::NANOSLEEP.0,
            addr: ts as *const _ as u64,
            tag,
            ..Default::default()
        };
        // SAFETY: the timespec outlives the call.
        let (a, r) = unsafe { sm.submit_reap_raw(&[sleep(&short, 6)], &mut out, false) }.unwrap();
        assert_eq!((a, r, sm.in_flight()), (1, 0, 1));
        // SAFETY: as above.
        let (a, r) = unsafe { sm.submit_reap_raw(&[sleep(&long, 7)], &mut out, true) }.unwrap();
        assert_eq!((a, r), (1, 1));
        assert_eq!(out[0].tag, 6, "the short sleep's reply comes first");
        let mut tags = vec![out[0].tag];
        while tags.len() < 2 {
            let n = sm.reap_raw(&mut out, false).unwrap();
            tags.extend(out[..n].iter().map(|r| r.tag));
        }
        assert_eq!(tags, [6, 7]);
        assert_eq!((sm.in_flight(), sm.stats().async_ops), (0, 6));
    }

    #[test]
    fn a_refusal_leaves_the_rest_in_the_batch() {
        let sm = Sysmsg::fake(64);
        let mut b = Batch::new();
        b.push(op::Nop::new().build().tag(1));
        b.push(op::Read::new(-1, 8).build().tag(2));
        b.push(op::Nop::new().build().tag(3));
        let e = sm.submit(&mut b).unwrap_err();
        assert_eq!((e.accepted, e.raw_os_error()), (1, Some(libc::EBADF)));
        let tags: Vec<u64> = b.entries().iter().map(Entry::get_tag).collect();
        assert_eq!(tags, [2, 3]);
        assert_eq!(sm.in_flight(), 1);
        b.pop_front();
        assert_eq!(sm.submit(&mut b).unwrap(), 1);
        let tags: Vec<u64> = sm.wait(2).unwrap().iter().map(Reply::tag).collect();
        assert_eq!(tags, [1, 3]);
    }

    #[test]
    fn a_full_queue_and_room_again_without_the_fallback() {
        let sm = Sysmsg::fake(4);
        sm.set_fallback(false);
        let mut b: Batch = (0..6).map(|i| op::Nop::new().build().tag(i)).collect();
        let e = sm.submit(&mut b).unwrap_err();
        assert_eq!((e.accepted, e.raw_os_error()), (4, Some(libc::EAGAIN)));
        assert_eq!(b.len(), 2);
        // The library reaps every ready reply at once: the kernel's queue is empty again.
        assert_eq!(sm.wait_one().unwrap().tag(), 0);
        assert_eq!(sm.ready(), 3);
        assert_eq!(sm.submit(&mut b).unwrap(), 2);
        let mut b: Batch = (6..9).map(|i| op::Nop::new().build().tag(i)).collect();
        let e = sm.submit(&mut b).unwrap_err();
        assert_eq!((e.accepted, e.raw_os_error()), (2, Some(libc::EAGAIN)));
        assert_eq!(
            sm.nop_sync().unwrap_err().raw_os_error(),
            Some(libc::EAGAIN)
        );
        let tags: Vec<u64> = sm.wait(7).unwrap().iter().map(Reply::tag).collect();
        assert_eq!(tags, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(sm.submit(&mut b).unwrap(), 1);
        assert_eq!(sm.wait_one().unwrap().tag(), 8);
        assert_eq!(
            sm.stats(),
            crate::Stats {
                async_ops: 9,
                sync_ops: 0,
                fallback_episodes: 0
            }
        );
    }

    /// Hysteresis in the fake, as the module does it: throttled after a refusal until the queue
    /// is down to half its limit.
    #[test]
    fn the_fake_throttles_until_the_low_water_mark() {
        let sm = Sysmsg::fake(4);
        sm.set_fallback(false);
        let fake = sm.fake.clone().unwrap();
        let nops = |n: u64| -> Batch { (0..n).map(|i| op::Nop::new().build().tag(i)).collect() };
        assert_eq!(sm.submit(&mut nops(5)).unwrap_err().accepted, 4);
        assert!(!fake.poll_out());
        let mut one = [crate::sys::sysmsg_reply::default()];
        assert_eq!(sm.reap_raw(&mut one, true).unwrap(), 1);
        // 3 in flight, below the limit but above the mark: still refused.
        assert!(!fake.poll_out());
        assert_eq!(sm.submit(&mut nops(1)).unwrap_err().accepted, 0);
        assert_eq!(sm.reap_raw(&mut one, true).unwrap(), 1);
        assert!(fake.poll_out(), "down to the mark");
        assert_eq!(sm.submit(&mut nops(2)).unwrap(), 2);
        assert_eq!(fake.limit_hits(), 2);
        sm.wait(4).unwrap();
    }

    /// With the fallback (the default), nothing is refused at the limit: the operations past it
    /// are performed in the caller, with real system calls, and their replies come through the
    /// same reaping calls.
    #[test]
    fn the_fallback_performs_what_the_kernel_refuses() {
        let sm = Sysmsg::fake(2);
        let path = std::env::temp_dir().join(format!("sysmsg-fake-fb-{}", std::process::id()));
        std::fs::write(&path, b"abcdefgh").unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut b = Batch::new();
        b.push(op::Nop::new().build().tag(1));
        b.push(op::Nanosleep::new(ms(5)).build().tag(2));
        b.push(op::Pread::new(&file, 3, 2).build().tag(3));
        b.push(op::Pwrite::new(&file, "XY", 6).build().tag(4));
        b.push(op::Nanosleep::new(ms(5)).build().tag(5));
        b.push(op::Fsync::new(&file).build().tag(6));
        assert_eq!(sm.submit(&mut b).unwrap(), 6);
        assert!(b.is_empty());
        assert!(sm.in_fallback());
        assert_eq!(
            sm.stats(),
            crate::Stats {
                async_ops: 2,
                sync_ops: 4,
                fallback_episodes: 1
            }
        );
        // The fallback's replies are ready at once; the kernel's come when they complete.
        assert_eq!(sm.ready(), 4);
        let mut got: HashMap<u64, Reply> = HashMap::new();
        while got.len() < 6 {
            for r in sm.wait(1).unwrap() {
                assert!(got.insert(r.tag(), r).is_none());
            }
        }
        assert_eq!(
            got[&3].data(),
            Some(&b"cde"[..]),
            "real data, not the fake's"
        );
        assert_eq!(
            (got[&4].opcode(), got[&4].raw_result()),
            (Opcode::PWRITE, 2)
        );
        assert_eq!((got[&6].opcode(), got[&6].raw_result()), (Opcode::FSYNC, 0));
        assert_eq!(got[&2].opcode(), Opcode::NANOSLEEP);
        assert_eq!(std::fs::read(&path).unwrap(), b"abcdefXY");
        // Sync calls too; and once the device reports POLLOUT, the kernel again.
        assert_eq!(sm.pread_sync(&file, 2, 0).unwrap(), pattern(0, 2));
        assert!(!sm.in_fallback());
        sm.submit_one(op::Nop::new()).unwrap();
        sm.submit_one(op::Nop::new()).unwrap();
        assert_eq!(sm.pread_sync(&file, 2, 0).unwrap(), b"ab", "performed here");
        let e = sm.submit_one(op::Read::new(-1, 1)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "a refusal stays one");
        assert_eq!(sm.stats().sync_ops, 5);
        assert_eq!(sm.stats().fallback_episodes, 2);
        assert_eq!(sm.wait(2).unwrap().len(), 2);
        std::fs::remove_file(path).unwrap();
    }

    /// A thread blocked in a reaping call sees the replies that the fallback files in another
    /// thread (the eventfd), not only the kernel's.
    #[test]
    fn a_blocked_reaper_is_woken_by_the_fallback() {
        within(60, || {
            let sm = Arc::new(Sysmsg::fake(1));
            // A long sleep holds the only slot; the reaper blocks waiting for it.
            sm.submit_one(op::Nanosleep::new(ms(1500)).build().tag(1))
                .unwrap();
            let reaper = {
                let sm = sm.clone();
                std::thread::spawn(move || sm.wait(1).unwrap())
            };
            std::thread::sleep(ms(50));
            sm.submit_one(op::Nop::new().build().tag(2)).unwrap();
            let start = std::time::Instant::now();
            let got = reaper.join().unwrap();
            assert_eq!(got.iter().map(Reply::tag).collect::<Vec<_>>(), [2]);
            assert!(start.elapsed() < ms(1000), "woken only by the sleep");
            assert_eq!(sm.wait_one().unwrap().tag(), 1);
        });
    }

    /// SYSMSG_SUBMIT_WAIT waits for room that another thread's reaping makes.
    #[test]
    fn submit_wait_waits_for_room() {
        within(60, || {
            let sm = Arc::new(Sysmsg::fake(2));
            let mut b: Batch = (0..2).map(|i| op::Nop::new().build().tag(i)).collect();
            sm.submit(&mut b).unwrap();
            let waiter = {
                let sm = sm.clone();
                std::thread::spawn(move || {
                    let mut b: Batch = (2..4).map(|i| op::Nop::new().build().tag(i)).collect();
                    sm.submit_wait(&mut b).unwrap()
                })
            };
            std::thread::sleep(ms(50));
            assert!(!waiter.is_finished());
            let mut tags = Vec::new();
            while tags.len() < 4 {
                tags.extend(sm.wait(1).unwrap().iter().map(Reply::tag));
            }
            assert_eq!(waiter.join().unwrap(), 2);
            tags.sort();
            assert_eq!(tags, [0, 1, 2, 3]);
            assert_eq!(sm.stats().sync_ops, 0, "no fallback");
        });
    }

    #[test]
    fn sync_calls_keep_other_replies() {
        let sm = Sysmsg::fake(64);
        sm.submit_one(op::Nop::new().build().tag(7)).unwrap();
        sm.submit_one(op::Nanosleep::new(ms(20)).build().tag(8))
            .unwrap();
        assert_eq!(sm.read_sync(0, 4).unwrap(), pattern(0, 4));
        assert_eq!(sm.pread_sync(0, 3, 9).unwrap(), pattern(9, 3));
        sm.nanosleep_sync(ms(60)).unwrap();
        assert_eq!(sm.write_sync(0, "xy").unwrap(), 2);
        sm.fsync_sync(0).unwrap();
        assert_eq!(sm.ready(), 2);
        let tags: Vec<u64> = sm.replies().map(|r| r.unwrap().tag()).collect();
        assert_eq!(tags, [7, 8]);
        assert_eq!(sm.in_flight(), 0);
        assert_eq!(
            sm.wait_one().unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn raw_replies_pass_through() {
        let sm = Sysmsg::fake(64);
        let m = crate::sys::sysmsg_msg {
            tag: 55,
            ..Default::default()
        };
        // SAFETY: a NOP; a tag outside the library's.
        assert_eq!(unsafe { sm.submit_raw(&[m]) }.unwrap(), 1);
        sm.submit_one(op::Read::new(0, 2).build().tag(56)).unwrap();
        let got = sm.wait(2).unwrap();
        assert_eq!((got[0].tag(), got[0].data()), (55, None));
        assert_eq!(
            (got[1].tag(), got[1].data()),
            (56, Some(&pattern(0, 2)[..]))
        );

        // A raw reap of a library message releases it (its data is dropped).
        sm.submit_one(op::Read::new(0, 2).build().tag(57)).unwrap();
        let mut out = [crate::sys::sysmsg_reply::default(); 2];
        assert_eq!(sm.reap_raw(&mut out, true).unwrap(), 1);
        assert_eq!(out[0].tag >> 48, crate::TAG_MAGIC);
        assert_eq!(sm.in_flight(), 0);
    }

    #[test]
    fn dropping_with_reads_in_flight() {
        let sm = Sysmsg::fake(64);
        sm.submit_one(op::Read::new(0, 100)).unwrap();
        sm.submit_one(op::Nanosleep::new(ms(5))).unwrap();
        drop(sm);
    }

    /// Threads submitting, reaping and making synchronous calls at once on one `Sysmsg`: every
    /// reply exactly once, with its data, and no deadlock; without the fallback (refusals are
    /// handled by reaping) and with it.
    #[test]
    fn threads_share_one_sysmsg() {
        threads_share_one_sysmsg_with(false);
    }

    #[test]
    fn threads_share_one_sysmsg_with_the_fallback() {
        threads_share_one_sysmsg_with(true);
    }

    fn threads_share_one_sysmsg_with(fallback: bool) {
        // The fallback really reads: a file holding what the fake's reads produce.
        let path = std::env::temp_dir().join(format!(
            "sysmsg-fake-threads-{}-{fallback}",
            std::process::id()
        ));
        std::fs::write(&path, pattern(0, 8192)).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        within(120, move || {
            const THREADS: u64 = 8;
            const PER: u64 = 400;
            let sm = Arc::new(Sysmsg::fake(48));
            sm.set_fallback(fallback);
            type Want = HashMap<u64, (Opcode, Vec<u8>)>;
            let want: Arc<Mutex<Want>> = Arc::default();
            let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let check = {
                let want = want.clone();
                move |rs: Vec<Reply>| {
                    let mut w = want.lock().unwrap();
                    for r in rs {
                        let (op, data) = w.remove(&r.tag()).expect("a reply twice or unknown");
                        assert_eq!(r.opcode(), op);
                        if op == Opcode::PREAD {
                            assert_eq!(r.data(), Some(&data[..]));
                        }
                    }
                }
            };
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (sm, want, check, done) =
                        (sm.clone(), want.clone(), check.clone(), done.clone());
                    std::thread::spawn(move || {
                        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t + 1);
                        let mut rnd = move |n: u64| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x % n
                        };
                        let mut b = Batch::new();
                        let mut i = 0;
                        while i < PER {
                            // A synchronous call may find the queue full: then reap.
                            let full = |r: std::io::Result<()>| match r {
                                Ok(()) => false,
                                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => true,
                                Err(e) => panic!("{e}"),
                            };
                            let off = rnd(1000);
                            let sync_full = match rnd(10) {
                                0 => full(sm.nop_sync()),
                                1 => full(sm.pread_sync(fd, 7, off).map(|d| {
                                    assert_eq!(d, pattern(off, 7));
                                })),
                                2 => full(sm.nanosleep_sync(Duration::from_micros(rnd(500)))),
                                _ => false,
                            };
                            if sync_full {
                                check(sm.wait(1).unwrap());
                            }
                            for _ in 0..1 + rnd(6) {
                                let tag = (t << 32) | i;
                                i += 1;
                                let (e, w): (Entry, _) = match rnd(3) {
                                    0 => (op::Nop::new().into(), (Opcode::NOP, vec![])),
                                    1 => (
                                        op::Nanosleep::new(Duration::from_micros(rnd(1000))).into(),
                                        (Opcode::NANOSLEEP, vec![]),
                                    ),
                                    _ => {
                                        let (off, len) = (rnd(5000), rnd(40) as usize);
                                        (
                                            op::Pread::new(fd, len, off).into(),
                                            (Opcode::PREAD, pattern(off, len)),
                                        )
                                    }
                                };
                                want.lock().unwrap().insert(tag, w);
                                b.push(e.tag(tag));
                            }
                            while !b.is_empty() {
                                if let Err(e) = sm.submit(&mut b) {
                                    assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
                                    check(sm.wait(1).unwrap());
                                }
                            }
                            match rnd(4) {
                                0 => check(sm.wait(0).unwrap()),
                                1 => check(sm.peek().unwrap().into_iter().collect()),
                                2 => check(sm.replies().map(|r| r.unwrap()).collect()),
                                _ => check(sm.wait(1 + rnd(3) as usize).unwrap()),
                            }
                        }
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        loop {
                            let got = sm.wait(1).unwrap();
                            if got.is_empty() {
                                if done.load(std::sync::atomic::Ordering::SeqCst) == THREADS
                                    && sm.in_flight() == 0
                                {
                                    break;
                                }
                                std::thread::sleep(ms(1));
                            }
                            check(got);
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            check(sm.wait(0).unwrap());
            assert!(want.lock().unwrap().is_empty(), "replies missing");
            assert_eq!(sm.in_flight(), 0);
            let stats = sm.stats();
            assert_eq!(stats.sync_ops > 0, fallback, "{stats:?}");
            drop(file);
        });
    }

    // ---- cancellation ----

    /// Waits until a reply is ready in the fake kernel (not reaped).
    fn wait_ready(sm: &Sysmsg) {
        sm.fake.as_ref().unwrap().wait_event();
    }

    fn stopped(n: u32) -> Cancel {
        Cancel::Stopped {
            stopped: n,
            already: 0,
        }
    }

    /// A long sleep cancelled by its tag replies `-ECANCELED` at once, to a reaper that was
    /// already blocked; then the tag is gone.
    #[test]
    fn a_cancelled_sleep_replies_ecanceled() {
        within(30, || {
            let sm = Arc::new(Sysmsg::fake(64));
            sm.submit_one(op::Nanosleep::new(Duration::from_secs(60)).build().tag(1))
                .unwrap();
            let reaper = {
                let sm = sm.clone();
                std::thread::spawn(move || sm.wait_one().unwrap())
            };
            std::thread::sleep(ms(20));
            assert_eq!(sm.cancel(2).unwrap(), Cancel::NotFound, "another tag");
            assert_eq!(sm.cancel(1).unwrap(), stopped(1));
            let r = reaper.join().unwrap();
            assert_eq!((r.tag(), r.opcode()), (1, Opcode::NANOSLEEP));
            assert!(r.is_cancelled(), "{r:?}");
            assert_eq!(
                r.result().unwrap_err().raw_os_error(),
                Some(libc::ECANCELED)
            );
            assert_eq!(sm.in_flight(), 0);
            assert_eq!(
                sm.cancel(1).unwrap(),
                Cancel::NotFound,
                "its reply was returned"
            );
            assert_eq!(sm.wait(1).unwrap(), [], "exactly one reply");
        });
    }

    /// Completed messages whose reply was not returned cannot be stopped: in the kernel, in the
    /// library's backlog, or a NOP (which the kernel alone does not find); they keep their
    /// real result.
    #[test]
    fn completed_messages_are_already_done() {
        let sm = Sysmsg::fake(64);
        sm.submit_one(op::Nanosleep::new(ms(1)).build().tag(2))
            .unwrap();
        wait_ready(&sm);
        assert_eq!(
            sm.cancel(2).unwrap(),
            Cancel::Already(1),
            "ready in the kernel"
        );
        let r = sm.wait_one().unwrap();
        assert_eq!((r.tag(), r.raw_result()), (2, 0));

        // Two replies reaped at once: the second waits in the backlog.
        sm.submit_one(op::Nanosleep::new(ms(1)).build().tag(3))
            .unwrap();
        wait_ready(&sm);
        sm.submit_one(op::Nop::new().build().tag(4)).unwrap();
        assert_eq!(sm.wait_one().unwrap().tag(), 3);
        assert_eq!(sm.ready(), 1);
        assert_eq!(sm.cancel(4).unwrap(), Cancel::Already(1), "in the backlog");
        assert_eq!(sm.wait_one().unwrap().tag(), 4);

        sm.submit_one(op::Nop::new().build().tag(5)).unwrap();
        let mut arg = sys::sysmsg_cancel {
            tag: 5,
            ..Default::default()
        };
        assert_eq!(
            sm.cancel_raw(&mut arg).unwrap_err().raw_os_error(),
            Some(libc::ENOENT),
            "the kernel does not find a NOP (and not by the user's tag)"
        );
        assert_eq!(
            sm.cancel(5).unwrap(),
            Cancel::Already(1),
            "a NOP not yet returned"
        );
        let r = sm.wait_one().unwrap();
        assert_eq!((r.tag(), r.raw_result()), (5, 0));
        assert_eq!(sm.cancel(5).unwrap(), Cancel::NotFound);
    }

    /// Every message with the tag counts, stopped or not; a stopped READ gets its buffer back,
    /// never written.
    #[test]
    fn every_message_with_the_tag() {
        let sm = Sysmsg::fake(64);
        let mut b = Batch::new();
        b.push(op::Nanosleep::new(ms(1)).build().tag(7));
        b.push(
            op::Read::with_buffer(NEVER_FD, vec![0xaa; 16])
                .build()
                .tag(7),
        );
        b.push(op::Nanosleep::new(Duration::from_secs(60)).build().tag(7));
        b.push(op::Nanosleep::new(Duration::from_secs(60)).build().tag(8));
        sm.submit(&mut b).unwrap();
        wait_ready(&sm); // the short sleep: nothing else completes
        assert_eq!(
            sm.cancel(7).unwrap(),
            Cancel::Stopped {
                stopped: 2,
                already: 1
            }
        );
        let mut got: Vec<Reply> = Vec::new();
        while got.len() < 3 {
            got.extend(sm.wait(1).unwrap());
        }
        got.sort_by_key(|r| (r.opcode().0, r.raw_result()));
        assert_eq!(
            (got[0].opcode(), got[0].raw_result()),
            (Opcode::NANOSLEEP, -i64::from(libc::ECANCELED))
        );
        assert_eq!(
            (got[1].opcode(), got[1].raw_result()),
            (Opcode::NANOSLEEP, 0)
        );
        assert_eq!(got[2].opcode(), Opcode::READ);
        assert!(got[2].is_cancelled());
        assert_eq!(got[2].data(), Some(&[][..]), "nothing read");
        let buffer = got.pop().unwrap().into_data().unwrap();
        assert!(buffer.capacity() >= 16, "the buffer given");
        assert_eq!(sm.in_flight(), 1, "tag 8 sleeps on");
        assert_eq!(sm.cancel(8).unwrap(), stopped(1));
        assert!(sm.wait_one().unwrap().is_cancelled());
    }

    /// CANCEL_ALL stops every waiting message, never fails for want of one, and leaves the
    /// completed ones their replies; exactly one reply each.
    #[test]
    fn cancel_all_stops_every_waiting_message() {
        within(30, || {
            let sm = Sysmsg::fake(256);
            assert_eq!(sm.cancel_all().unwrap(), 0, "nothing in flight");
            let mut b = Batch::new();
            for i in 0..50 {
                b.push(op::Nanosleep::new(Duration::from_secs(60)).build().tag(i));
            }
            for i in 50..55 {
                b.push(op::Read::new(NEVER_FD, 8).build().tag(i));
            }
            b.push(op::Nop::new().build().tag(55));
            b.push(op::Nop::new().build().tag(56));
            assert_eq!(sm.submit(&mut b).unwrap(), 57);
            assert_eq!(sm.cancel_all().unwrap(), 55);
            let mut got: HashMap<u64, Reply> = HashMap::new();
            while got.len() < 57 {
                for r in sm.wait(1).unwrap() {
                    let tag = r.tag();
                    assert!(got.insert(tag, r).is_none(), "two replies for tag {tag}");
                }
            }
            for (tag, r) in &got {
                assert_eq!(r.is_cancelled(), *tag < 55, "{r:?}");
            }
            assert_eq!(sm.in_flight(), 0);
            assert_eq!(sm.wait(1).unwrap(), []);
            assert_eq!(sm.cancel_all().unwrap(), 0);

            // The raw form: a tag with CANCEL_ALL, unknown flags, reserved fields.
            for arg in [
                sys::sysmsg_cancel {
                    tag: 1,
                    flags: sys::SYSMSG_CANCEL_ALL,
                    ..Default::default()
                },
                sys::sysmsg_cancel {
                    flags: 2,
                    ..Default::default()
                },
                sys::sysmsg_cancel {
                    reserved: [0, 0, 1],
                    ..Default::default()
                },
            ] {
                let mut arg = arg;
                let e = sm.cancel_raw(&mut arg).unwrap_err();
                assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{arg:?}");
            }
        });
    }

    /// A synchronous call blocked in another thread returns with `ECANCELED`.
    #[test]
    fn a_blocked_sync_call_is_cancelled() {
        within(30, || {
            let sm = Arc::new(Sysmsg::fake(64));
            let sleeper = {
                let sm = sm.clone();
                std::thread::spawn(move || {
                    sm.execute(op::Nanosleep::new(Duration::from_secs(60)).build().tag(9))
                        .unwrap()
                })
            };
            let start = std::time::Instant::now();
            loop {
                match sm.cancel(9).unwrap() {
                    Cancel::NotFound => std::thread::sleep(ms(1)),
                    c => {
                        assert_eq!(c, stopped(1));
                        break;
                    }
                }
                assert!(start.elapsed() < Duration::from_secs(10), "never submitted");
            }
            let r = sleeper.join().unwrap();
            assert_eq!(r.tag(), 9);
            assert!(r.is_cancelled());
            assert_eq!(sm.in_flight(), 0);
        });
    }

    /// Raw messages are found by their own tag.
    #[test]
    fn raw_messages_by_their_tag() {
        let sm = Sysmsg::fake(64);
        let ts = sys::__kernel_timespec {
            tv_sec: 60,
            tv_nsec: 0,
        };
        let m = sys::sysmsg_msg {
            opcode: Opcode::NANOSLEEP.0,
            tag: 77,
            addr: &ts as *const _ as u64,
            ..Default::default()
        };
        // SAFETY: the timespec is copied at submit; a tag outside the library's.
        assert_eq!(unsafe { sm.submit_raw(&[m]) }.unwrap(), 1);
        assert_eq!(sm.cancel(77).unwrap(), stopped(1));
        let r = sm.wait_one().unwrap();
        assert_eq!((r.tag(), r.opcode()), (77, Opcode::NANOSLEEP));
        assert!(r.is_cancelled());
    }
}
