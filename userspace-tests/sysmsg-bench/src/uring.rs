//! io_uring through the `io-uring` crate: rings, pushing entries, bounded waits.

use crate::util::{err, Deadline};
use io_uring::{squeue, types, IoUring};
use std::{io, time::Duration};

/// A ring with `sq` submission entries and, if given, `cq` completion entries (clamped by the
/// kernel to its maximum).
pub fn ring(sq: u32, cq: Option<u32>) -> Result<IoUring, String> {
    let mut b = IoUring::builder();
    if let Some(cq) = cq {
        b.setup_cqsize(cq).setup_clamp();
    }
    b.build(sq).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::ENOSYS) => ": io_uring is not built into this kernel",
            Some(libc::EPERM) => ": io_uring is disabled (kernel.io_uring_disabled) or filtered",
            _ => "",
        };
        format!("io_uring_setup({sq}): {e}{hint}")
    })
}

/// Queues one entry, submitting what is queued first if the submission queue is full.
///
/// # Safety
///
/// The buffers the entry names must stay valid until its completion has been reaped.
pub unsafe fn push(ring: &mut IoUring, e: &squeue::Entry) -> Result<(), String> {
    loop {
        // SAFETY: the caller's promise.
        if unsafe { ring.submission().push(e) }.is_ok() {
            return Ok(());
        }
        match ring.submit() {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                // The completion queue is full (old kernels): the caller reaps.
                return Err("io_uring submission queue and completion queue full".into());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err("io_uring_enter", e)),
        }
    }
}

/// Submits what is queued and waits for at least one completion, at most until `deadline`
/// (`Ok(false)` if none came by then).
pub fn wait_one(ring: &IoUring, deadline: Deadline) -> Result<bool, String> {
    let left = deadline.left().max(Duration::from_millis(1));
    let ts = types::Timespec::from(left.min(Duration::from_millis(500)));
    let args = types::SubmitArgs::new().timespec(&ts);
    match ring.submitter().submit_with_args(1, &args) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(err("io_uring_enter", e)),
    }
}

/// Takes every ready completion: `(user_data, result)` to `f`; returns how many.
pub fn drain(ring: &mut IoUring, mut f: impl FnMut(u64, i32)) -> usize {
    let mut n = 0;
    for cqe in ring.completion() {
        f(cqe.user_data(), cqe.result());
        n += 1;
    }
    n
}

/// Reaps completions until `want` came, waiting at most until `deadline`; `f` sees each.
/// Returns how many came.
pub fn reap_until(
    ring: &mut IoUring,
    want: usize,
    deadline: Deadline,
    mut f: impl FnMut(u64, i32),
) -> Result<usize, String> {
    let mut got = drain(ring, &mut f);
    while got < want && !deadline.passed() {
        wait_one(ring, deadline)?;
        got += drain(ring, &mut f);
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::opcode;

    /// NOPs through a ring, where io_uring is available.
    #[test]
    fn nops() {
        let mut r = match ring(8, Some(16)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("io_uring unavailable here ({e}): skipped");
                return;
            }
        };
        for i in 0..20u64 {
            // SAFETY: a NOP names no buffer.
            unsafe { push(&mut r, &opcode::Nop::new().build().user_data(i)) }.unwrap();
            if i % 8 == 7 {
                let mut seen = 0;
                reap_until(
                    &mut r,
                    8,
                    Deadline::after(Duration::from_secs(10)),
                    |_, res| {
                        assert_eq!(res, 0);
                        seen += 1;
                    },
                )
                .unwrap();
                assert_eq!(seen, 8);
            }
        }
        let n = reap_until(
            &mut r,
            4,
            Deadline::after(Duration::from_secs(10)),
            |_, _| {},
        )
        .unwrap();
        assert_eq!(n, 4);
    }
}
