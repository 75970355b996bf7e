// SPDX-License-Identifier: GPL-2.0

//! The userspace ABI.
//!
//! The types and constants are generated at build time by bindgen from
//! `include/uapi/linux/sysmsg.h`, the single source of truth for the ABI; bindgen also emits
//! compile-time assertions of every structure's size, alignment and field offsets. The ioctl
//! numbers, which are C function-like macros, are rebuilt here from the header's magic and
//! command numbers with the kernel's own `_IOR`/`_IOWR` helpers.

use kernel::{
    ioctl::{_IOR, _IOWR},
    prelude::*,
    transmute::{AsBytes, FromBytes},
};

/// The bindgen output for `include/uapi/linux/sysmsg.h`.
#[allow(
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    dead_code,
    unreachable_pub,
    clippy::all
)]
mod generated {
    include!("uapi_generated.rs");
}

pub(crate) use generated::*;

/// Marks ABI structures as plain old data.
macro_rules! pod {
    ($($t:ty),*) => {$(
        // SAFETY: the structure is integers only with explicit padding fields (bindgen's layout
        // assertions check the offsets), so every byte pattern is valid and no byte is
        // uninitialised.
        unsafe impl AsBytes for $t {}
        // SAFETY: as above.
        unsafe impl FromBytes for $t {}
    )*};
}
pod!(
    sysmsg_info,
    sysmsg_msg,
    sysmsg_reply,
    sysmsg_submit,
    sysmsg_reap,
    sysmsg_limits,
    sysmsg_proc_stats,
    sysmsg_stats,
    sysmsg_cancel
);

/// `SYSMSG_IOC_GET_INFO`.
pub(crate) const SYSMSG_IOC_GET_INFO: u32 =
    _IOR::<sysmsg_info>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_GET_INFO);
/// `SYSMSG_IOC_SUBMIT`.
pub(crate) const SYSMSG_IOC_SUBMIT: u32 =
    _IOWR::<sysmsg_submit>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_SUBMIT);
/// `SYSMSG_IOC_REAP`.
pub(crate) const SYSMSG_IOC_REAP: u32 = _IOWR::<sysmsg_reap>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_REAP);
/// `SYSMSG_IOC_GET_LIMITS`.
pub(crate) const SYSMSG_IOC_GET_LIMITS: u32 =
    _IOWR::<sysmsg_limits>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_GET_LIMITS);
/// `SYSMSG_IOC_SET_LIMITS`.
pub(crate) const SYSMSG_IOC_SET_LIMITS: u32 =
    _IOWR::<sysmsg_limits>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_SET_LIMITS);
/// `SYSMSG_IOC_PROC_STATS`.
pub(crate) const SYSMSG_IOC_PROC_STATS: u32 =
    _IOWR::<sysmsg_stats>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_PROC_STATS);
/// `SYSMSG_IOC_CANCEL`.
pub(crate) const SYSMSG_IOC_CANCEL: u32 =
    _IOWR::<sysmsg_cancel>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_CANCEL);

#[kunit_tests(sysmsg_uapi)]
mod tests {
    use super::*;

    /// The ioctl numbers have the standard encoding: direction, size, type byte, number.
    #[test]
    fn ioctl_encoding() {
        let nr = SYSMSG_IOC_GET_INFO;
        assert_eq!(nr & 0xff, SYSMSG_IOC_NR_GET_INFO);
        assert_eq!((nr >> 8) & 0xff, SYSMSG_IOC_MAGIC);
        assert_eq!(
            (nr >> 16) & 0x3fff,
            core::mem::size_of::<sysmsg_info>() as u32
        );
        assert_eq!(nr >> 30, 2); // _IOC_READ
        assert_eq!(SYSMSG_IOC_SUBMIT >> 30, 3); // _IOC_READ | _IOC_WRITE
        assert_eq!(SYSMSG_IOC_SUBMIT & 0xff, SYSMSG_IOC_NR_SUBMIT);
        assert_eq!(SYSMSG_IOC_REAP & 0xff, SYSMSG_IOC_NR_REAP);
    }

    /// Structures are fixed-size and 8-byte aligned, identical for 32- and 64-bit callers.
    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<sysmsg_info>(), 64);
        assert_eq!(core::mem::size_of::<sysmsg_msg>(), 64);
        assert_eq!(core::mem::size_of::<sysmsg_reply>(), 32);
        assert_eq!(core::mem::size_of::<sysmsg_submit>(), 40);
        assert_eq!(core::mem::size_of::<sysmsg_reap>(), 40);
        assert_eq!(core::mem::size_of::<sysmsg_limits>(), 40);
        assert_eq!(core::mem::size_of::<sysmsg_proc_stats>(), 80);
        assert_eq!(core::mem::size_of::<sysmsg_stats>(), 40);
        assert_eq!(core::mem::size_of::<sysmsg_cancel>(), 32);
        assert_eq!(core::mem::align_of::<sysmsg_msg>(), 8);
    }
}
