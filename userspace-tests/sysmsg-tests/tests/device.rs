//! The device through the Rust library: open, info, errnos, the module reference.

use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd};
use sysmsg::{ioctl, sys, Sysmsg};
use sysmsg_tests::{fdinfo, open, sysctl, try_rmmod};

#[test]
fn info_reports_the_headers_abi() {
    let dev = open();
    let info = dev.info().expect("GET_INFO");
    assert_eq!(info.abi_version, sys::SYSMSG_ABI_VERSION);
    assert_eq!(info.info_size as usize, size_of::<sys::sysmsg_info>());
    assert_eq!(info.msg_size as usize, size_of::<sys::sysmsg_msg>());
    assert_eq!(info.reply_size as usize, size_of::<sys::sysmsg_reply>());
    assert_eq!(info.max_io_len, sys::SYSMSG_MAX_IO_LEN);
    assert_eq!(
        info.ops,
        (1u64 << sys::SYSMSG_OP_COUNT) - 1,
        "every opcode of the header is supported"
    );
    assert_eq!(info.features, u64::from(sys::SYSMSG_FEATURES_ALL));
    assert!(info.queue_limit > 0, "queue_limit {}", info.queue_limit);
    assert_eq!(info.reserved, [0; 3]);
}

#[test]
fn info_to_a_bad_pointer_is_efault() {
    let dev = open();
    for addr in [0usize, 8, usize::MAX - 4095] {
        // SAFETY: the kernel must refuse these addresses, not write to them.
        let err = unsafe { ioctl::call(dev.as_fd(), ioctl::GET_INFO, addr) }
            .expect_err("GET_INFO to a bad pointer succeeded");
        assert_eq!(err.raw_os_error(), Some(libc::EFAULT), "addr {addr:#x}");
    }
}

#[test]
fn unknown_ioctl_is_enotty() {
    let dev = open();
    for nr in [0x00, 0x9f, 0xa6, 0xaf, 0xff] {
        let cmd = ioctl::ioc(ioctl::IOC_NONE, sys::SYSMSG_IOC_MAGIC, nr, 0);
        // SAFETY: an unknown command reads and writes nothing.
        let err = unsafe { ioctl::call(dev.as_fd(), cmd, 0) }.expect_err("unknown ioctl succeeded");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "nr {nr:#x}");
    }
}

/// A known number with the wrong direction or size is another command ("anything else").
#[test]
fn known_numbers_with_the_wrong_encoding_are_enotty() {
    let dev = open();
    let mut scratch = [0u64; 64];
    let rw = ioctl::IOC_READ | ioctl::IOC_WRITE;
    let cmds = [
        ioctl::ioc(
            ioctl::IOC_NONE,
            sys::SYSMSG_IOC_MAGIC,
            sys::SYSMSG_IOC_NR_GET_INFO,
            0,
        ),
        ioctl::ioc(
            ioctl::IOC_READ,
            sys::SYSMSG_IOC_MAGIC,
            sys::SYSMSG_IOC_NR_GET_INFO,
            8,
        ),
        ioctl::ioc(
            ioctl::IOC_WRITE,
            sys::SYSMSG_IOC_MAGIC,
            sys::SYSMSG_IOC_NR_SUBMIT,
            40,
        ),
        ioctl::ioc(rw, sys::SYSMSG_IOC_MAGIC, sys::SYSMSG_IOC_NR_SUBMIT, 48),
        ioctl::ioc(
            ioctl::IOC_READ,
            sys::SYSMSG_IOC_MAGIC,
            sys::SYSMSG_IOC_NR_REAP,
            40,
        ),
        ioctl::ioc(rw, sys::SYSMSG_IOC_MAGIC + 1, sys::SYSMSG_IOC_NR_REAP, 40),
        ioctl::ioc(
            ioctl::IOC_NONE,
            sys::SYSMSG_IOC_MAGIC,
            sys::SYSMSG_IOC_NR_GET_LIMITS,
            0,
        ),
        ioctl::ioc(
            ioctl::IOC_READ,
            sys::SYSMSG_IOC_MAGIC,
            sys::SYSMSG_IOC_NR_GET_LIMITS,
            40,
        ),
        ioctl::ioc(rw, sys::SYSMSG_IOC_MAGIC, sys::SYSMSG_IOC_NR_SET_LIMITS, 32),
        ioctl::ioc(
            ioctl::IOC_WRITE,
            sys::SYSMSG_IOC_MAGIC,
            sys::SYSMSG_IOC_NR_PROC_STATS,
            40,
        ),
    ];
    for cmd in cmds {
        assert!(!ioctl::ALL.contains(&cmd));
        // SAFETY: a zeroed scratch buffer larger than any of these sizes.
        let err = unsafe { ioctl::call(dev.as_fd(), cmd, scratch.as_mut_ptr() as usize) }
            .expect_err("a wrongly encoded ioctl succeeded");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "cmd {cmd:#x}");
    }
}

#[test]
fn the_device_is_a_stream() {
    let dev = open();
    // SAFETY: lseek takes plain integers.
    let r = unsafe { libc::lseek(dev.as_raw_fd(), 0, libc::SEEK_SET) };
    assert_eq!(r, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ESPIPE)
    );
}

#[test]
fn open_file_pins_the_module() {
    let dev = open();
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
