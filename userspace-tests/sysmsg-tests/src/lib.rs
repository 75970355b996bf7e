//! Helpers shared by the VM tests: they only make sense with the module loaded.

use std::io;

/// Reads a sysctl under `/proc/sys/kernel/sysmsg/` as an integer.
pub fn sysctl(name: &str) -> io::Result<i64> {
    let text = std::fs::read_to_string(format!("/proc/sys/kernel/sysmsg/{name}"))?;
    text.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The `key:\tvalue` lines of `/proc/self/fdinfo/<fd>`, value of `key`.
pub fn fdinfo(fd: i32, key: &str) -> io::Result<Option<String>> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))?;
    Ok(text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    }))
}

/// Tries to unload the module without waiting; returns the errno on refusal.
pub fn try_rmmod() -> io::Result<()> {
    // SAFETY: a NUL-terminated name and flags, as delete_module(2) takes them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"sysmsg".as_ptr(),
            libc::O_NONBLOCK,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
