// SPDX-License-Identifier: GPL-2.0

//! Arrays of the ABI's fixed-size structures in user memory, copied a word at a time.
//!
//! Messages (64 bytes), replies (32 bytes) and the ioctl arguments are multiples of 8 bytes and
//! 8-byte aligned. `copy_from_user()`/`copy_to_user()` move 64 bytes and more with `rep movsb` on
//! x86 CPUs that have ERMS but not FSRM, a string instruction whose start-up cost one 64-byte
//! message does not amortise; and under QEMU's TCG, where these benchmarks run, it costs about
//! 2 ns per byte against about 0.3 ns for word moves (measured in the guest: 137 ns against
//! 19 ns for 64 bytes). The kernel's own hot paths that move small structures (signal frames,
//! rseq) use `unsafe_get_user()`/`unsafe_put_user()` inside one user-access window; so does
//! this, through `glue::copy_words_in`/`copy_words_out`.
//!
//! A [`UserArray`] is a cursor over `len` elements at a user address: reads and writes consume
//! elements from the front and fail with `EFAULT` without consuming anything, so the caller can
//! retry element by element to find exactly which one faults. [`Records`] is that interface, so
//! that the submit and reap paths do not depend on where the records live.

use crate::glue;
use core::marker::PhantomData;
use kernel::{
    prelude::*,
    transmute::{AsBytes, FromBytes},
};

/// A cursor over an array of records the process provided: messages to read, replies to store.
pub(crate) trait Records<T> {
    /// Reads the next `out.len()` records into `out`; `EFAULT` (and nothing consumed) if one of
    /// them cannot be read or the array is shorter.
    fn read(&mut self, out: &mut [T]) -> Result;

    /// Writes `data` to the next `data.len()` records; `EFAULT` (and nothing consumed) if one of
    /// them cannot be written (some may have been) or the array is shorter.
    fn write(&mut self, data: &[T]) -> Result;
}

/// A cursor over an array of `T` in user memory; see the module documentation.
///
/// # Invariants
///
/// `T` is a multiple of 8 bytes and 8-byte aligned (checked at build time by [`UserArray::new`]).
pub(crate) struct UserArray<T> {
    addr: usize,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: FromBytes + AsBytes + Default> UserArray<T> {
    const WORDS: usize = {
        assert!(size_of::<T>() % 8 == 0 && align_of::<T>() >= 8);
        size_of::<T>() / 8
    };

    /// The `len` elements at the user address `addr` (nothing is checked before they are used).
    pub(crate) fn new(addr: u64, len: usize) -> Self {
        let _ = Self::WORDS;
        // INVARIANT: checked at build time by `WORDS`.
        Self {
            addr: addr as usize,
            len,
            _t: PhantomData,
        }
    }

    /// Moves past `n` elements.
    fn advance(&mut self, n: usize) {
        self.addr = self.addr.wrapping_add(n * size_of::<T>());
        self.len -= n;
    }
}

impl<T: FromBytes + AsBytes + Default> Records<T> for UserArray<T> {
    fn read(&mut self, out: &mut [T]) -> Result {
        if out.len() > self.len {
            return Err(EFAULT);
        }
        let bytes = out.as_bytes_mut();
        // SAFETY: `T` is 8-byte aligned and a multiple of 8 bytes (type invariant), so the bytes
        // of `out` are a valid, aligned `[u64]` of `out.len() * WORDS` words, and any bit pattern
        // is valid for `T: FromBytes`.
        let words = unsafe {
            core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<u64>(), bytes.len() / 8)
        };
        glue::copy_words_in(words, self.addr)?;
        self.advance(out.len());
        Ok(())
    }

    fn write(&mut self, data: &[T]) -> Result {
        if data.len() > self.len {
            return Err(EFAULT);
        }
        let bytes = data.as_bytes();
        // SAFETY: as in `read`: an aligned `[u64]` view of initialised bytes (`T: AsBytes`).
        let words =
            unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<u64>(), bytes.len() / 8) };
        glue::copy_words_out(self.addr, words)?;
        self.advance(data.len());
        Ok(())
    }
}

/// Reads one record from `r`.
pub(crate) fn read_one<T: Default>(r: &mut dyn Records<T>) -> Result<T> {
    let mut v = [T::default()];
    r.read(&mut v)?;
    let [v] = v;
    Ok(v)
}
