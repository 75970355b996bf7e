// SPDX-License-Identifier: GPL-2.0

//! The `kernel.sysmsg` sysctl directory.
//!
//! There is no sysctl abstraction in the kernel crate. This file wraps `register_sysctl_sz()`
//! and `proc_dointvec_minmax()` for the one kind of entry sysmsg needs: an integer with a valid
//! range. Writes outside the range fail with `EINVAL` and keep the old value; writable entries are
//! mode 0644 (root only), read-only entries 0444.
//!
//! All raw `bindings::` use for sysctls lives in this file.

use core::{
    ptr::NonNull,
    sync::atomic::{AtomicI32, Ordering},
};
use kernel::{bindings, ffi::c_void, prelude::*};

/// An integer tunable with its inclusive range `min..=max`.
///
/// The value is read locklessly by the module; `proc_dointvec_minmax()` stores it with
/// `WRITE_ONCE()`. A `core` atomic, as in Rust Binder: its relaxed load is one inlined `mov`
/// (`READ_ONCE()`), where the kernel crate's `Atomic` went through an out-of-line helper on
/// every read, twice per message on the submit path.
pub(crate) struct SysctlInt {
    value: AtomicI32,
    min: i32,
    max: i32,
}

impl SysctlInt {
    /// A tunable starting at `value`, settable within `min..=max`.
    pub(crate) const fn new(value: i32, min: i32, max: i32) -> Self {
        Self {
            value: AtomicI32::new(value),
            min,
            max,
        }
    }

    /// The current value.
    #[inline]
    pub(crate) fn get(&self) -> i32 {
        self.value.load(Ordering::Relaxed)
    }

    /// Sets the value, within the range (KUnit tests; users write the sysctl).
    #[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
    pub(crate) fn set(&self, value: i32) {
        self.value
            .store(value.clamp(self.min, self.max), Ordering::Relaxed);
    }

    /// Adds `delta` (a counter the module keeps, like `nr_inflight`); returns the old value.
    #[inline]
    pub(crate) fn fetch_add(&self, delta: i32) -> i32 {
        self.value.fetch_add(delta, Ordering::SeqCst)
    }

    /// The allowed range.
    pub(crate) fn range(&self) -> (i32, i32) {
        (self.min, self.max)
    }
}

/// Whether root may write an entry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Mode 0444.
    ReadOnly,
    /// Mode 0644.
    ReadWrite,
}

/// One entry of a sysctl directory.
pub(crate) struct SysctlEntry {
    /// The file name under the directory.
    pub(crate) name: &'static CStr,
    /// The value behind it.
    pub(crate) value: &'static SysctlInt,
    /// Who may write it.
    pub(crate) access: Access,
}

impl SysctlEntry {
    /// The C table entry for `self`.
    fn to_raw(&self) -> bindings::ctl_table {
        let mut t: bindings::ctl_table = pin_init::zeroed();
        t.procname = self.name.as_char_ptr();
        t.data = self.value.value.as_ptr().cast::<c_void>();
        t.maxlen = core::mem::size_of::<i32>() as i32;
        t.mode = match self.access {
            Access::ReadOnly => 0o444,
            Access::ReadWrite => 0o644,
        };
        t.proc_handler = Some(bindings::proc_dointvec_minmax);
        t.extra1 = (&raw const self.value.min).cast_mut().cast::<c_void>();
        t.extra2 = (&raw const self.value.max).cast_mut().cast::<c_void>();
        t
    }
}

/// A registered sysctl directory, unregistered on drop.
///
/// # Invariants
///
/// `header` was returned by `register_sysctl_sz()` for the entries in `table`, which is neither
/// moved nor freed before `drop` unregisters it.
pub(crate) struct SysctlRegistration {
    header: NonNull<bindings::ctl_table_header>,
    _table: KVec<bindings::ctl_table>,
}

// SAFETY: unregistering may happen on any thread; the table only points to `'static` data.
unsafe impl Send for SysctlRegistration {}
// SAFETY: there are no `&self` methods that touch the raw pointers.
unsafe impl Sync for SysctlRegistration {}

impl SysctlRegistration {
    /// Registers `entries` under `/proc/sys/<path>` (`path` like `c"kernel/sysmsg"`).
    pub(crate) fn register(path: &'static CStr, entries: &[SysctlEntry]) -> Result<Self> {
        let mut table = KVec::with_capacity(entries.len(), GFP_KERNEL)?;
        for e in entries {
            table.push(e.to_raw(), GFP_KERNEL)?;
        }
        // SAFETY: `path` is a valid C string; `table` holds `table.len()` valid entries whose
        // pointers all refer to `'static` data, and it outlives the registration (type invariant).
        let header = unsafe {
            bindings::register_sysctl_sz(path.as_char_ptr(), table.as_ptr(), table.len())
        };
        // INVARIANT: `header` is the registration of `table`, which we keep until `drop`.
        let header = NonNull::new(header).ok_or(ENOMEM)?;
        Ok(Self {
            header,
            _table: table,
        })
    }
}

impl Drop for SysctlRegistration {
    fn drop(&mut self) {
        // SAFETY: `header` is a live registration by the type invariants; after this call the
        // table is no longer referenced and `self.table` may be freed.
        unsafe { bindings::unregister_sysctl_table(self.header.as_ptr()) };
    }
}

#[kunit_tests(sysmsg_sysctl)]
mod tests {
    use super::*;

    /// Writes `text` to `entry` the way procfs does, returning the handler's result.
    fn write(entry: &SysctlEntry, text: &[u8]) -> i32 {
        let raw = entry.to_raw();
        let mut buf = [0u8; 16];
        buf[..text.len()].copy_from_slice(text);
        let mut len = text.len();
        let mut pos: bindings::loff_t = 0;
        // SAFETY: `raw` points to a live `SysctlInt`; `buf` is a kernel buffer of `len` bytes,
        // which is what the handler expects since Linux 5.8.
        unsafe {
            bindings::proc_dointvec_minmax(
                &raw,
                1,
                buf.as_mut_ptr().cast::<c_void>(),
                &mut len,
                &mut pos,
            )
        }
    }

    static VALUE: SysctlInt = SysctlInt::new(4, 1, 10);

    /// Values inside the range are taken, values outside are refused and the old one is kept.
    #[test]
    fn minmax_range() {
        let e = SysctlEntry {
            name: c"kunit",
            value: &VALUE,
            access: Access::ReadWrite,
        };
        assert_eq!(write(&e, b"7\n"), 0);
        assert_eq!(VALUE.get(), 7);
        assert_eq!(write(&e, b"11\n"), EINVAL.to_errno());
        assert_eq!(write(&e, b"0\n"), EINVAL.to_errno());
        assert_eq!(write(&e, b"-3\n"), EINVAL.to_errno());
        assert_eq!(VALUE.get(), 7);
        assert_eq!(write(&e, b"10\n"), 0);
        assert_eq!(VALUE.get(), 10);
        assert_eq!(VALUE.range(), (1, 10));
    }

    /// The table entry carries the permissions the access mode promises.
    #[test]
    fn modes() {
        let ro = SysctlEntry {
            name: c"kunit",
            value: &VALUE,
            access: Access::ReadOnly,
        };
        assert_eq!(ro.to_raw().mode, 0o444);
        let rw = SysctlEntry {
            access: Access::ReadWrite,
            ..ro
        };
        assert_eq!(rw.to_raw().mode, 0o644);
    }
}
