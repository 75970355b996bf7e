//! sysmsg through the `sysmsg` crate's low-overhead path: raw `struct sysmsg_msg` arrays
//! submitted with [`Sysmsg::submit_raw`] (one `SYSMSG_IOC_SUBMIT` per batch) and replies reaped
//! with [`Sysmsg::reap_raw`] (`SYSMSG_IOC_REAP` into an array), both in one call with
//! [`Sysmsg::submit_reap_raw`] (`SYSMSG_IOC_SUBMIT` with `SYSMSG_SUBMIT_REAP`), or
//! [`Sysmsg::write_raw`] / [`Sysmsg::read_raw`] (`write(2)`/`read(2)`). These add to the bare
//! ioctl only an uncontended
//! mutex and a counter per call (the crate's bookkeeping of raw messages); the NOP cases also
//! measure the ioctls issued bare ([`submit_bare`], [`reap_bare`]), the ABI's own cost. The safe
//! API (`Batch`, `wait`) additionally allocates per message and is used by the server case only.

use crate::util::{err, poll_one, Deadline};
use std::{
    io,
    os::fd::{AsFd, RawFd},
    time::Duration,
};
use sysmsg::{ioctl, sys, Sysmsg};

/// The name of the path measured, for the notes.
pub const RAW_PATH: &str = "sysmsg = the crate's raw path: Sysmsg::submit_raw (one SYSMSG_IOC_SUBMIT per batch) + Sysmsg::reap_raw (SYSMSG_IOC_REAP into an array of replies)";

/// The name of the bare-ioctl path.
pub const BARE_PATH: &str = "sysmsg bare ioctl = SYSMSG_IOC_SUBMIT and SYSMSG_IOC_REAP issued directly (sysmsg::ioctl::call), without the crate's bookkeeping: the ABI's own cost";

/// The name of the `write(2)`/`read(2)` path.
pub const RW_PATH: &str = "sysmsg write/read = Sysmsg::write_raw (write(2) of the message array) + Sysmsg::read_raw (read(2) of replies)";

/// The name of the one-call path (`SYSMSG_SUBMIT_REAP`).
pub const SUBMIT_REAP_PATH: &str = "sysmsg submit+reap = Sysmsg::submit_reap_raw: one SYSMSG_IOC_SUBMIT with SYSMSG_SUBMIT_REAP per batch (reap_max = the batch) submits it and takes the replies ready when it returns; if fewer came back than messages, the rest with Sysmsg::reap_raw (SYSMSG_IOC_REAP). The ABI's one-call path, as io_uring's submit_and_wait: sysmsg's figure in the targets, the other paths beside it";

/// The name of the one-call path that waits (`SYSMSG_SUBMIT_REAP_WAIT`), for operations that
/// complete later.
pub const SUBMIT_REAP_WAIT_PATH: &str = "sysmsg ... submit+reap = Sysmsg::submit_reap_raw with wait: one SYSMSG_IOC_SUBMIT with SYSMSG_SUBMIT_REAP_WAIT per batch (reap_max = the batch) submits it and waits for the first replies; the rest with waiting SYSMSG_IOC_REAPs (Sysmsg::reap_raw). The ABI's one-call path, as io_uring's submit_and_wait: sysmsg's figure in the targets, the two-call path beside it";

/// Checks that the device can be opened and speaks this ABI; the error explains what is
/// missing.
pub fn probe(device: &str) -> Result<String, String> {
    let sm = Sysmsg::open_path(device).map_err(|e| describe_open_error(device, &e))?;
    let info = sm
        .info()
        .map_err(|e| format!("{device}: SYSMSG_IOC_GET_INFO: {e}: not a sysmsg device?"))?;
    if info.abi_version != sys::SYSMSG_ABI_VERSION {
        return Err(format!(
            "{device}: the module speaks ABI {}, this program {}",
            info.abi_version,
            sys::SYSMSG_ABI_VERSION
        ));
    }
    Ok(format!(
        "sysmsg ABI {}, features {:#x}, queue limit {}",
        info.abi_version, info.features, info.queue_limit
    ))
}

/// A message for an `open()` failure.
pub fn describe_open_error(device: &str, e: &io::Error) -> String {
    let hint = match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENXIO) | Some(libc::ENODEV) => {
            ": the sysmsg module is not loaded (insmod sysmsg.ko)"
        }
        Some(libc::EPERM) | Some(libc::EACCES) => {
            ": see kernel.sysmsg.enabled / kernel.sysmsg.group"
        }
        _ => "",
    };
    format!("open {device}: {e}{hint}")
}

/// Opens the device (a new queue).
pub fn open(device: &str) -> Result<Sysmsg, String> {
    Sysmsg::open_path(device).map_err(|e| describe_open_error(device, &e))
}

fn msg(opcode: u32, fd: RawFd, tag: u64) -> sys::sysmsg_msg {
    sys::sysmsg_msg {
        opcode: opcode as u8,
        fd,
        tag,
        ..Default::default()
    }
}

/// A NOP.
pub fn nop(tag: u64) -> sys::sysmsg_msg {
    msg(sys::SYSMSG_OP_NOP, 0, tag)
}

/// A relative NANOSLEEP for the time at `ts` (copied at submit).
pub fn nanosleep(ts: *const sys::__kernel_timespec, tag: u64) -> sys::sysmsg_msg {
    sys::sysmsg_msg {
        addr: ts as u64,
        ..msg(sys::SYSMSG_OP_NANOSLEEP, 0, tag)
    }
}

/// A READ of `len` bytes into `buf` (written back when its reply is reaped).
pub fn read(fd: RawFd, buf: *mut u8, len: usize, tag: u64) -> sys::sysmsg_msg {
    sys::sysmsg_msg {
        addr: buf as u64,
        len: len as u64,
        ..msg(sys::SYSMSG_OP_READ, fd, tag)
    }
}

/// A WRITE of `len` bytes at `data` (copied at submit).
pub fn write(fd: RawFd, data: *const u8, len: usize, tag: u64) -> sys::sysmsg_msg {
    sys::sysmsg_msg {
        addr: data as u64,
        len: len as u64,
        ..msg(sys::SYSMSG_OP_WRITE, fd, tag)
    }
}

/// A PREAD of `len` bytes at `offset` into `buf`.
pub fn pread(fd: RawFd, buf: *mut u8, len: usize, offset: u64, tag: u64) -> sys::sysmsg_msg {
    sys::sysmsg_msg {
        addr: buf as u64,
        len: len as u64,
        offset: offset as i64,
        ..msg(sys::SYSMSG_OP_PREAD, fd, tag)
    }
}

/// An FSYNC.
pub fn fsync(fd: RawFd, tag: u64) -> sys::sysmsg_msg {
    msg(sys::SYSMSG_OP_FSYNC, fd, tag)
}

/// Submits every message with `SYSMSG_IOC_SUBMIT` (several calls if the kernel accepts a
/// prefix). A refusal is an error naming the errno and how many were accepted.
///
/// # Safety
///
/// As for [`Sysmsg::submit_raw`]: read buffers stay valid until their replies are reaped (or
/// the `Sysmsg` is dropped, which aborts them without writeback).
pub unsafe fn submit_all(sm: &Sysmsg, msgs: &[sys::sysmsg_msg]) -> Result<(), String> {
    let mut done = 0;
    while done < msgs.len() {
        // SAFETY: the caller's promise.
        match unsafe { sm.submit_raw(&msgs[done..]) } {
            Ok(n) => done += n,
            Err(e) => {
                return Err(format!(
                    "SYSMSG_IOC_SUBMIT: {} of {} accepted, then {}",
                    done + e.accepted,
                    msgs.len(),
                    e.error
                ))
            }
        }
    }
    Ok(())
}

/// Submits every message with `write(2)`.
///
/// # Safety
///
/// As for [`submit_all`].
pub unsafe fn write_all(sm: &Sysmsg, msgs: &[sys::sysmsg_msg]) -> Result<(), String> {
    let mut done = 0;
    while done < msgs.len() {
        // SAFETY: the caller's promise.
        match unsafe { sm.write_raw(&msgs[done..]) } {
            Ok(0) => return Err("write(2) of messages accepted none".into()),
            Ok(n) => done += n,
            Err(e) => return Err(format!("write(2) of messages: {done} accepted, then {e}")),
        }
    }
    Ok(())
}

/// Submits every message with a bare `SYSMSG_IOC_SUBMIT` (no bookkeeping in the crate: do not
/// use the `Sysmsg`'s safe API afterwards).
///
/// # Safety
///
/// As for [`submit_all`].
pub unsafe fn submit_bare(sm: &Sysmsg, msgs: &[sys::sysmsg_msg]) -> Result<(), String> {
    let mut arg = sys::sysmsg_submit {
        msgs: msgs.as_ptr() as u64,
        count: u32::try_from(msgs.len()).map_err(|_| "too many messages".to_string())?,
        ..Default::default()
    };
    // SAFETY: `arg` names `count` valid messages; the caller vouches for their pointers.
    let n = unsafe { ioctl::call(sm.as_fd(), ioctl::SUBMIT, &mut arg as *mut _ as usize) }
        .map_err(|e| err("SYSMSG_IOC_SUBMIT", e))?;
    if n as usize != msgs.len() {
        return Err(format!(
            "SYSMSG_IOC_SUBMIT: {n} of {} accepted, then errno {}",
            msgs.len(),
            arg.error
        ));
    }
    Ok(())
}

/// Submits every message and reaps exactly `out.len()` replies into `out`, starting with one
/// `SYSMSG_IOC_SUBMIT` with `SYSMSG_SUBMIT_REAP` (`SYSMSG_SUBMIT_REAP_WAIT` with `wait`) and
/// `reap_max = out.len()`, then waiting `SYSMSG_IOC_REAP`s for the replies still missing. A
/// refusal is an error naming the errno and how many were accepted.
///
/// # Safety
///
/// As for [`submit_all`].
pub unsafe fn submit_reap_exact(
    sm: &Sysmsg,
    msgs: &[sys::sysmsg_msg],
    out: &mut [sys::sysmsg_reply],
    wait: bool,
) -> Result<(), String> {
    // SAFETY: the caller's promise.
    let got = match unsafe { sm.submit_reap_raw(msgs, out, wait) } {
        Ok((_, reaped)) => reaped,
        Err(e) => {
            return Err(format!(
                "SYSMSG_IOC_SUBMIT with SYSMSG_SUBMIT_REAP: {} of {} accepted, then {} ({} replies reaped)",
                e.accepted,
                msgs.len(),
                e.error,
                e.reaped
            ))
        }
    };
    reap_exact(sm, &mut out[got..], false)
}

/// Reaps exactly `out.len()` replies with bare `SYSMSG_IOC_REAP` calls (waiting).
pub fn reap_bare(sm: &Sysmsg, out: &mut [sys::sysmsg_reply]) -> Result<(), String> {
    let mut got = 0;
    while got < out.len() {
        let rest = &mut out[got..];
        let mut arg = sys::sysmsg_reap {
            replies: rest.as_mut_ptr() as u64,
            max: u32::try_from(rest.len()).unwrap_or(u32::MAX),
            ..Default::default()
        };
        // SAFETY: REAP stores at most `max` replies into `rest`; writeback of read data goes to
        // buffers the submitter keeps valid.
        match unsafe { ioctl::call(sm.as_fd(), ioctl::REAP, &mut arg as *mut _ as usize) } {
            Ok(n) => got += (n as usize).min(rest.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err("SYSMSG_IOC_REAP", e)),
        }
    }
    Ok(())
}

/// Reaps exactly `out.len()` replies into `out`, waiting for them (`SYSMSG_IOC_REAP`, or
/// `read(2)` with `via_read`).
pub fn reap_exact(
    sm: &Sysmsg,
    out: &mut [sys::sysmsg_reply],
    via_read: bool,
) -> Result<(), String> {
    let mut got = 0;
    while got < out.len() {
        let r = if via_read {
            sm.read_raw(&mut out[got..])
        } else {
            sm.reap_raw(&mut out[got..], false)
        };
        match r {
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err("SYSMSG_IOC_REAP", e)),
        }
    }
    Ok(())
}

/// Reaps what is ready into `out` (at least one), waiting at most until `deadline`: `Ok(0)` if
/// none came by then.
pub fn reap_until(
    sm: &Sysmsg,
    out: &mut [sys::sysmsg_reply],
    deadline: Deadline,
) -> Result<usize, String> {
    loop {
        match sm.reap_raw(out, true) {
            Ok(n) => return Ok(n),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
            Err(e) => return Err(err("SYSMSG_IOC_REAP", e)),
        }
        if deadline.passed() {
            return Ok(0);
        }
        let wait = deadline.left().min(Duration::from_millis(500));
        poll_one(sm, libc::POLLIN, wait).map_err(|e| err("poll of /dev/sysmsg", e))?;
    }
}

/// The replies that are ready now, without waiting (`SYSMSG_REAP_NOWAIT`).
pub fn reap_ready(sm: &Sysmsg, out: &mut [sys::sysmsg_reply]) -> Result<usize, String> {
    match sm.reap_raw(out, true) {
        Ok(n) => Ok(n),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(0),
        Err(e) => Err(err("SYSMSG_IOC_REAP", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_well_formed() {
        let m = nop(5);
        assert_eq!((m.opcode, m.fd, m.tag, m.addr), (0, 0, 5, 0));
        let ts = sys::__kernel_timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        let m = nanosleep(&ts, 1);
        assert_eq!(m.opcode as u32, sys::SYSMSG_OP_NANOSLEEP);
        assert_eq!(m.addr, &ts as *const _ as u64);
        assert_eq!(m.op_flags, 0);
        let mut buf = [0u8; 4];
        let m = pread(3, buf.as_mut_ptr(), 4, 4096, 9);
        assert_eq!(
            (m.opcode as u32, m.fd, m.len, m.offset),
            (sys::SYSMSG_OP_PREAD, 3, 4, 4096)
        );
        let m = read(4, buf.as_mut_ptr(), 4, 9);
        assert_eq!((m.opcode as u32, m.offset), (sys::SYSMSG_OP_READ, 0));
        let m = write(4, buf.as_ptr(), 1, 9);
        assert_eq!(m.opcode as u32, sys::SYSMSG_OP_WRITE);
        assert_eq!(fsync(4, 1).opcode as u32, sys::SYSMSG_OP_FSYNC);
    }

    #[test]
    fn a_missing_device_is_explained() {
        let e = probe("/nonexistent/sysmsg").unwrap_err();
        assert!(e.contains("not loaded"), "{e}");
        let e = probe("/dev/null").unwrap_err();
        assert!(e.contains("GET_INFO"), "{e}");
        assert!(open("/nonexistent/sysmsg").is_err());
    }
}
