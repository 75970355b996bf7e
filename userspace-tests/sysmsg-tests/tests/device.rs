//! The device through the Rust library: open, info, errnos, the module reference.

use std::os::fd::{AsFd, AsRawFd};
use sysmsg::{ioctl, sys, Sysmsg};
use sysmsg_tests::{fdinfo, sysctl, try_rmmod};

#[test]
fn info_reports_the_headers_abi() {
    let dev = Sysmsg::open().expect("open /dev/sysmsg");
    let info = dev.info().expect("GET_INFO");
    assert_eq!(info.abi_version, sys::SYSMSG_ABI_VERSION);
    assert_eq!(
        info.info_size as usize,
        std::mem::size_of::<sys::sysmsg_info>()
    );
    assert_eq!(info.reserved, [0; 6]);
}

#[test]
fn unknown_ioctl_is_enotty() {
    let dev = Sysmsg::open().expect("open /dev/sysmsg");
    for nr in [0x00, 0x9f, 0xa1, 0xff] {
        let cmd = ioctl::ioc(ioctl::IOC_NONE, sys::SYSMSG_IOC_MAGIC, nr, 0);
        // SAFETY: an unknown command reads and writes nothing.
        let err = unsafe { ioctl::call(dev.as_fd(), cmd, 0) }.expect_err("unknown ioctl succeeded");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "nr {nr:#x}");
    }
}

#[test]
fn open_file_pins_the_module() {
    let dev = Sysmsg::open().expect("open /dev/sysmsg");
    let err = try_rmmod().expect_err("the module was unloaded under an open file");
    assert_eq!(err.raw_os_error(), Some(libc::EWOULDBLOCK));
    drop(dev);
}

#[test]
fn version_sysctl_matches_the_header() {
    assert_eq!(
        sysctl("version").expect("kernel.sysmsg.version"),
        i64::from(sys::SYSMSG_ABI_VERSION)
    );
}

#[test]
fn fdinfo_names_the_opener() {
    let dev = Sysmsg::open().expect("open /dev/sysmsg");
    let tgid = fdinfo(dev.as_raw_fd(), "sysmsg-opener-tgid").expect("fdinfo");
    assert_eq!(tgid, Some(std::process::id().to_string()));
    let abi = fdinfo(dev.as_raw_fd(), "sysmsg-abi").expect("fdinfo");
    assert_eq!(abi, Some(sys::SYSMSG_ABI_VERSION.to_string()));
}
