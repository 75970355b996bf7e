// SPDX-License-Identifier: GPL-2.0

//! A spinlock that disables interrupts while held.
//!
//! For data that code running in interrupt context also touches: a file's wake-up can come from
//! a hard or soft interrupt (a socket's, say), and it queues the woken message for a worker. The
//! 7.2 kernel crate's `SpinLock` does not disable interrupts, so this wraps `spin_lock_irqsave()`
//! in the same shape: a pinned lock, its data, and a guard that unlocks on drop.

use crate::glue;
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ops::{Deref, DerefMut},
};
use kernel::{bindings, ffi::c_ulong, prelude::*, sync::LockClassKey, types::Opaque};

/// A spinlock taken with interrupts disabled, protecting a `T`.
///
/// # Invariants
///
/// `lock` is initialised by `__spin_lock_init` and pinned; `data` is only accessed through an
/// [`IrqGuard`], that is with `lock` held.
#[pin_data]
pub(crate) struct IrqLock<T> {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached with the lock held, from one thread at a time.
unsafe impl<T: Send> Send for IrqLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for IrqLock<T> {}

impl<T> IrqLock<T> {
    /// A new lock holding `data`.
    pub(crate) fn new(
        data: T,
        name: &'static CStr,
        key: Pin<&'static LockClassKey>,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            // INVARIANT: initialised here, pinned by `pin_init!`.
            lock <- Opaque::ffi_init(move |slot| {
                // SAFETY: `slot` is valid for writes; `name` and `key` live forever.
                unsafe { bindings::__spin_lock_init(slot, name.as_char_ptr(), key.as_ptr()) }
            }),
            data: UnsafeCell::new(data),
        })
    }

    /// Takes the lock, disabling interrupts on this CPU until the guard is dropped.
    pub(crate) fn lock(&self) -> IrqGuard<'_, T> {
        // SAFETY: the lock is initialised (type invariants).
        let flags = unsafe { glue::sysmsg_spin_lock_irqsave(self.lock.get()) };
        IrqGuard {
            lock: self,
            flags,
            _not_send: PhantomData,
        }
    }
}

/// An [`IrqLock`], held.
pub(crate) struct IrqGuard<'a, T> {
    lock: &'a IrqLock<T>,
    flags: c_ulong,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: we hold the lock (type invariants of `IrqLock`).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: we hold the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: we hold the lock, taken with these flags.
        unsafe { glue::sysmsg_spin_unlock_irqrestore(self.lock.lock.get(), self.flags) };
    }
}
