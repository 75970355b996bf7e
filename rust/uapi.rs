// SPDX-License-Identifier: GPL-2.0

//! The userspace ABI.
//!
//! The types and constants are generated at build time by bindgen from
//! `include/uapi/linux/sysmsg.h`, the single source of truth for the ABI; bindgen also emits
//! compile-time assertions of every structure's size, alignment and field offsets. The ioctl
//! numbers, which are C function-like macros, are rebuilt here from the header's magic and
//! command numbers with the kernel's own `_IOR`/`_IOW` helpers.

use kernel::{
    ioctl::_IOR,
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

// SAFETY: `sysmsg_info` is plain integers with no padding (bindgen's layout assertions check the
// offsets), so every byte pattern is valid and no byte is uninitialised.
unsafe impl AsBytes for sysmsg_info {}
// SAFETY: as above.
unsafe impl FromBytes for sysmsg_info {}

/// `SYSMSG_IOC_GET_INFO`.
pub(crate) const SYSMSG_IOC_GET_INFO: u32 =
    _IOR::<sysmsg_info>(SYSMSG_IOC_MAGIC, SYSMSG_IOC_NR_GET_INFO);

#[kunit_tests(sysmsg_uapi)]
mod tests {
    use super::*;

    /// The ioctl number has the standard encoding: read direction, size, type byte, number.
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
    }

    /// Structures are fixed-size and 8-byte aligned, identical for 32- and 64-bit callers.
    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<sysmsg_info>(), 64);
        assert_eq!(core::mem::align_of::<sysmsg_info>(), 8);
    }
}
