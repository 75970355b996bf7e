//! ioctl numbers, encoded like the kernel's `_IOC()` from the header's magic and command numbers.

use crate::sys;
use std::{io, mem::size_of, os::fd::AsRawFd, os::fd::BorrowedFd};

/// `_IOC_NONE`.
pub const IOC_NONE: u32 = 0;
/// `_IOC_WRITE`: userspace writes, the kernel reads.
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes, userspace reads.
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)` for x86 and the other "generic" architectures.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(size < (1 << 14), "ioctl argument too large");
    (dir << 30) | ((size as u32) << 16) | (ty << 8) | nr
}

/// `SYSMSG_IOC_GET_INFO`.
pub const GET_INFO: u32 = ioc(
    IOC_READ,
    sys::SYSMSG_IOC_MAGIC,
    sys::SYSMSG_IOC_NR_GET_INFO,
    size_of::<sys::sysmsg_info>(),
);

/// `SYSMSG_IOC_SUBMIT`.
pub const SUBMIT: u32 = ioc(
    IOC_READ | IOC_WRITE,
    sys::SYSMSG_IOC_MAGIC,
    sys::SYSMSG_IOC_NR_SUBMIT,
    size_of::<sys::sysmsg_submit>(),
);

/// `SYSMSG_IOC_REAP`.
pub const REAP: u32 = ioc(
    IOC_READ | IOC_WRITE,
    sys::SYSMSG_IOC_MAGIC,
    sys::SYSMSG_IOC_NR_REAP,
    size_of::<sys::sysmsg_reap>(),
);

/// `SYSMSG_IOC_GET_LIMITS`.
pub const GET_LIMITS: u32 = ioc(
    IOC_READ | IOC_WRITE,
    sys::SYSMSG_IOC_MAGIC,
    sys::SYSMSG_IOC_NR_GET_LIMITS,
    size_of::<sys::sysmsg_limits>(),
);

/// `SYSMSG_IOC_SET_LIMITS`.
pub const SET_LIMITS: u32 = ioc(
    IOC_READ | IOC_WRITE,
    sys::SYSMSG_IOC_MAGIC,
    sys::SYSMSG_IOC_NR_SET_LIMITS,
    size_of::<sys::sysmsg_limits>(),
);

/// `SYSMSG_IOC_PROC_STATS`.
pub const PROC_STATS: u32 = ioc(
    IOC_READ | IOC_WRITE,
    sys::SYSMSG_IOC_MAGIC,
    sys::SYSMSG_IOC_NR_PROC_STATS,
    size_of::<sys::sysmsg_stats>(),
);

/// `SYSMSG_IOC_CANCEL`.
pub const CANCEL: u32 = ioc(
    IOC_READ | IOC_WRITE,
    sys::SYSMSG_IOC_MAGIC,
    sys::SYSMSG_IOC_NR_CANCEL,
    size_of::<sys::sysmsg_cancel>(),
);

/// Every ioctl of the header.
pub const ALL: [u32; 7] = [
    GET_INFO, SUBMIT, REAP, GET_LIMITS, SET_LIMITS, PROC_STATS, CANCEL,
];

/// Issues `ioctl(fd, cmd, arg)`, returning its non-negative result or the errno.
///
/// # Safety
///
/// `arg` must be what the kernel expects for `cmd`: for commands that move a structure, a
/// pointer valid for reads and/or writes of it.
pub unsafe fn call(fd: BorrowedFd<'_>, cmd: u32, arg: usize) -> io::Result<i32> {
    // SAFETY: the fd is open; the caller vouches for `arg`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as _, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_the_kernels() {
        // _IOR('#', 0xA0, 64 bytes), spelled out.
        assert_eq!(ioc(IOC_READ, 0x23, 0xA0, 64), 0x8040_23A0);
        assert_eq!(ioc(IOC_WRITE, b'T' as u32, 1, 4), 0x4004_5401);
        assert_eq!(ioc(IOC_READ | IOC_WRITE, 0x23, 0xA1, 40), 0xC028_23A1);
        assert_eq!(ioc(IOC_NONE, 0, 0, 0), 0);
        // _IOWR('#', 0xA3, 40 bytes): GET_LIMITS as the header spells it.
        assert_eq!(GET_LIMITS, 0xC028_23A3);
        // _IOWR('#', 0xA6, 32 bytes): CANCEL as the header spells it.
        assert_eq!(CANCEL, 0xC020_23A6);
    }

    #[test]
    fn numbers_are_distinct_and_in_range() {
        let all = ALL;
        for (i, a) in all.iter().enumerate() {
            assert_eq!((a >> 8) & 0xff, 0x23, "{a:#x}: type byte");
            assert!((0xa0..=0xaf).contains(&(a & 0xff)), "{a:#x}: number");
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn device_path_from_header() {
        assert_eq!(crate::device_path(), "/dev/sysmsg");
    }
}
