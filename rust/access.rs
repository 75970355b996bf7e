// SPDX-License-Identifier: GPL-2.0

//! Who may open `/dev/sysmsg`: `kernel.sysmsg.enabled` and `kernel.sysmsg.group`.
//!
//! The switch io_uring had to add after the fact (`kernel.io_uring_disabled`,
//! `kernel.io_uring_group`), here from the start and with the same meaning:
//!
//! - `enabled` = 0: everyone may open the device (the default);
//! - `enabled` = 1: only members of the group `kernel.sysmsg.group` (a gid in the initial user
//!   namespace; -1, the default, names no group) and holders of `CAP_SYS_ADMIN`;
//! - `enabled` = 2: nobody, root included.
//!
//! A refused `open()` fails with `EPERM`. The check is made at open only: files already open
//! keep working, as descriptors of a file whose mode changed do.

use crate::{glue, sysctl::SysctlInt};
use kernel::prelude::*;

/// `kernel.sysmsg.enabled`: 0 everyone, 1 the group or `CAP_SYS_ADMIN`, 2 nobody.
pub(crate) static ENABLED: SysctlInt = SysctlInt::new(0, 0, 2);

/// `kernel.sysmsg.group`: the gid whose members may open the device when `enabled` is 1
/// (-1: none).
pub(crate) static GROUP: SysctlInt = SysctlInt::new(-1, -1, i32::MAX);

/// Whether the calling task may open the device now (`EPERM` if not).
pub(crate) fn may_open() -> Result {
    match ENABLED.get() {
        0 => Ok(()),
        1 if glue::may_open_restricted(GROUP.get()) => Ok(()),
        _ => Err(EPERM),
    }
}

#[kunit_tests(sysmsg_access)]
mod tests {
    use super::*;

    /// Restores the switch when a test ends, however it ends.
    struct Restore(i32);

    impl Drop for Restore {
        fn drop(&mut self) {
            ENABLED.set(self.0);
        }
    }

    /// 0 lets everyone in, 2 nobody; 1 lets in holders of `CAP_SYS_ADMIN` (the KUnit thread is a
    /// kernel thread with full capabilities).
    #[test]
    fn switch() {
        let _restore = Restore(ENABLED.get());
        ENABLED.set(0);
        assert_eq!(may_open(), Ok(()));
        ENABLED.set(1);
        assert_eq!(may_open(), Ok(()));
        ENABLED.set(2);
        assert_eq!(may_open(), Err(EPERM));
    }
}
