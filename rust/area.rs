// SPDX-License-Identifier: GPL-2.0

//! The shared area: pages a process maps with `mmap(2)` of the file and the module reaches
//! through its own (vmalloc) mapping of the same pages.
//!
//! Messages and replies placed there (`SYSMSG_SUBMIT_AREA`) are moved with plain loads and
//! stores of kernel memory instead of user-memory accesses, which for 64-byte messages were most
//! of what a NOP cost: io_uring's submission and completion rings are shared the same way. The
//! process may change the area at any time, so every record is read once, with volatile loads,
//! into kernel memory before it is looked at (no double fetch), exactly as a copy from user
//! memory would be.
//!
//! One area per open file, created by its first `mmap` (zero-filled, so nothing of the kernel's
//! leaks) and freed with the file's private data: every mapping holds a reference on the file, so
//! the pages are unmapped everywhere before they are freed.

use crate::{glue, uarray::Records};
use core::{
    marker::PhantomData,
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{mm::virt::VmaNew, prelude::*, transmute::FromBytes};

/// The largest area (`SYSMSG_AREA_MAX`).
pub(crate) const AREA_MAX: usize = crate::uapi::SYSMSG_AREA_MAX as usize;

/// A file's shared area.
///
/// # Invariants
///
/// `ptr` is a `vmalloc_user()` allocation of `size` bytes (a multiple of the page size), owned by
/// this object and freed when it is dropped.
pub(crate) struct Area {
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: the allocation is plain memory, owned by the area; concurrent access goes through
// volatile loads and stores of `Copy` records (the process writes it concurrently anyway).
unsafe impl Send for Area {}
// SAFETY: as above.
unsafe impl Sync for Area {}

impl Area {
    /// A zero-filled area of `size` bytes: a multiple of the page size, at most [`AREA_MAX`]
    /// (`EINVAL` otherwise).
    pub(crate) fn new(size: usize) -> Result<Self> {
        if size == 0 || size > AREA_MAX || size % kernel::page::PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        // INVARIANT: a fresh allocation of `size` bytes.
        let ptr = glue::vmalloc_user(size).ok_or(ENOMEM)?;
        Ok(Self { ptr, size })
    }

    /// Its size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Maps the area into `vma`, which must cover exactly the area from offset 0, shared
    /// (`EINVAL` otherwise).
    pub(crate) fn map(&self, vma: &VmaNew) -> Result {
        if vma.end() - vma.start() != self.size
            || vma.flags() & kernel::mm::virt::flags::SHARED == 0
        {
            return Err(EINVAL);
        }
        // SAFETY: `ptr` is a `vmalloc_user()` allocation of `size` bytes (type invariant), which
        // outlives every mapping (see the module documentation).
        unsafe { glue::remap_vmalloc(vma, self.ptr) }
    }

    /// The `len` records of `T` at byte offset `offset`: `EINVAL` if `offset` is not a multiple
    /// of 8. Records past the end of the area fault (`EFAULT`) when used.
    pub(crate) fn array<T: FromBytes + Copy>(
        &self,
        offset: u64,
        len: usize,
    ) -> Result<AreaArray<'_, T>> {
        const { assert!(align_of::<T>() <= 8) };
        if offset % 8 != 0 {
            return Err(EINVAL);
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.size);
        let inside = (self.size - start) / size_of::<T>();
        // INVARIANT: `inside` records from `start` lie in the area.
        Ok(AreaArray {
            // SAFETY: `start <= size`: in the allocation or one past its end.
            next: unsafe { self.ptr.as_ptr().add(start) },
            inside: inside.min(len),
            len,
            _area: PhantomData,
        })
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: ours (type invariant); no mapping is left (see the module documentation).
        unsafe { glue::vfree(self.ptr) };
    }
}

/// A cursor over records of `T` in an [`Area`].
///
/// # Invariants
///
/// The `inside` records from `next` lie in the area, which outlives `'a`; `inside <= len`.
pub(crate) struct AreaArray<'a, T> {
    next: *mut u8,
    inside: usize,
    len: usize,
    _area: PhantomData<(&'a Area, T)>,
}

impl<T> AreaArray<'_, T> {
    /// Takes `n` records from the front: their address, or `EFAULT` if they are not all in the
    /// area.
    fn take(&mut self, n: usize) -> Result<*mut T> {
        if n > self.inside {
            return Err(EFAULT);
        }
        let p = self.next.cast::<T>();
        // SAFETY: stays in the area or one past its end (type invariant).
        self.next = unsafe { self.next.add(n * size_of::<T>()) };
        self.inside -= n;
        self.len -= n;
        Ok(p)
    }
}

impl<T: FromBytes + Copy> Records<T> for AreaArray<'_, T> {
    fn read(&mut self, out: &mut [T]) -> Result {
        let p = self.take(out.len())?;
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: in the area (checked by `take`), 8-byte aligned (offsets and record sizes
            // are), and any bit pattern is a valid `T`; volatile, as the process may be writing.
            *o = unsafe { p.add(i).read_volatile() };
        }
        Ok(())
    }

    fn write(&mut self, data: &[T]) -> Result {
        let p = self.take(data.len())?;
        for (i, d) in data.iter().enumerate() {
            // SAFETY: as in `read`.
            unsafe { p.add(i).write_volatile(*d) };
        }
        Ok(())
    }
}

/// The place of a file's area: empty until the first `mmap`, then set for good.
///
/// # Invariants
///
/// `ptr` is null or comes from `KBox::into_raw` and is owned by this slot.
pub(crate) struct AreaSlot {
    ptr: AtomicPtr<Area>,
}

impl AreaSlot {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        Self {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The area, if one was created.
    pub(crate) fn get(&self) -> Option<&Area> {
        // SAFETY: set once and freed only with the slot (type invariant).
        unsafe { self.ptr.load(Ordering::Acquire).as_ref() }
    }

    /// The area, created with `size` bytes if there is none yet (`EINVAL` if it exists with
    /// another size).
    pub(crate) fn get_or_create(&self, size: usize) -> Result<&Area> {
        let area = match self.get() {
            Some(area) => area,
            None => {
                let fresh = KBox::into_raw(KBox::new(Area::new(size)?, GFP_KERNEL)?);
                match self.ptr.compare_exchange(
                    ptr::null_mut(),
                    fresh,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // INVARIANT: the slot owns `fresh` from now on.
                    // SAFETY: just stored; freed only with the slot.
                    Ok(_) => unsafe { &*fresh },
                    Err(winner) => {
                        // SAFETY: `fresh` is ours (it lost the race); `winner` is the slot's.
                        unsafe {
                            drop(KBox::from_raw(fresh));
                            &*winner
                        }
                    }
                }
            }
        };
        if area.size() != size {
            return Err(EINVAL);
        }
        Ok(area)
    }
}

impl Drop for AreaSlot {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: owned by the slot (type invariant).
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
