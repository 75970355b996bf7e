// SPDX-License-Identifier: GPL-2.0

//! A misc character device with the file operations sysmsg needs.
//!
//! Modelled on `rust/kernel/miscdevice.rs` and on Rust Binder's own fops table, this fills the
//! gaps of the kernel's abstraction in 7.2:
//!
//! - `.owner` is set to this module, so the VFS holds a module reference for every open file and
//!   `rmmod` is refused while one exists;
//! - `poll` and `flush` are available;
//! - `read`/`write` hand the implementation the user address and length, because sysmsg moves
//!   arrays of fixed-size records rather than byte streams (and copies them a word at a time:
//!   `uarray`);
//! - the file is opened with `stream_open()`: there is no file position, so reads and writes from
//!   several threads never serialise on `f_pos_lock`, and `lseek` fails with `ESPIPE`.
//!
//! All raw `bindings::` use of the file operations lives in this file.

use crate::wait::PollTable;
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::VTABLE_DEFAULT_ERROR,
    ffi::{c_char, c_int, c_long, c_uint, c_ulong},
    fs::File,
    prelude::*,
    seq_file::SeqFile,
    types::{ForeignOwnable, Opaque},
    uaccess::UserPtr,
};

/// The borrowed form of a file's private data.
pub(crate) type Borrowed<'a, T> = <<T as FileOps>::Ptr as ForeignOwnable>::Borrowed<'a>;

/// The file operations of a misc device, implemented by the private data of an open file.
#[vtable]
pub(crate) trait FileOps: Sized {
    /// What the private data of an open file is wrapped in.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Data shared by all files of one registration, handed to [`FileOps::open`].
    type Shared: Send + Sync;

    /// Called when the device is opened; the result becomes the file's private data.
    fn open(shared: &Self::Shared, file: &File) -> Result<Self::Ptr>;

    /// Called at the last close of the file.
    fn release(this: Self::Ptr, _file: &File) {
        drop(this);
    }

    /// Called at every `close()` of a descriptor of the file, in the closing task's context.
    fn flush(_this: Borrowed<'_, Self>, _file: &File) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `read(2)`: fill the `len` bytes at `buf`, return the number of bytes written there.
    fn read(_this: Borrowed<'_, Self>, _file: &File, _buf: UserPtr, _len: usize) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `write(2)`: consume the `len` bytes at `buf`, return the number of bytes taken.
    fn write(_this: Borrowed<'_, Self>, _file: &File, _buf: UserPtr, _len: usize) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `poll(2)`/`epoll`: register with `table` and return the ready `POLL*` mask.
    fn poll(_this: Borrowed<'_, Self>, _file: &File, _table: PollTable<'_>) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `ioctl(2)`.
    fn ioctl(_this: Borrowed<'_, Self>, _file: &File, _cmd: u32, _arg: usize) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `/proc/<pid>/fdinfo/<fd>`.
    fn show_fdinfo(_this: Borrowed<'_, Self>, _m: &SeqFile, _file: &File) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// A registered misc device whose files are implemented by `T`.
///
/// # Invariants
///
/// - `inner` holds a `struct miscdevice` registered with `misc_register()` for the whole life of
///   this object, and deregistered exactly once, in [`Drop`].
/// - `inner` is the first field (`repr(C)`), so the `struct miscdevice` pointer that
///   `misc_open()` stores in `file->private_data` is also a pointer to this object.
#[repr(C)]
#[pin_data(PinnedDrop)]
pub(crate) struct MiscRegistration<T: FileOps> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    shared: T::Shared,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may be called from any thread; `shared` is `Send`.
unsafe impl<T: FileOps> Send for MiscRegistration<T> {}
// SAFETY: `&self` methods only read `shared`, which is `Sync`.
unsafe impl<T: FileOps> Sync for MiscRegistration<T> {}

impl<T: FileOps> MiscRegistration<T> {
    /// Registers the device `/dev/<name>` (dynamic minor, mode 0666: who may use sysmsg is
    /// decided by the module, not by the device node).
    pub(crate) fn register(name: &'static CStr, shared: T::Shared) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            shared,
            _t: PhantomData,
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut misc: bindings::miscdevice = pin_init::zeroed();
                misc.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                misc.name = name.as_char_ptr();
                misc.fops = &FopsTable::<T>::FOPS;
                misc.mode = 0o666;
                // SAFETY: the initializer may write to `slot`.
                unsafe { slot.write(misc) };
                // SAFETY: `slot` holds a valid `miscdevice` that stays pinned until `drop`
                // deregisters it.
                // INVARIANT: on success the device is registered.
                kernel::error::to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }
}

#[pinned_drop]
impl<T: FileOps> PinnedDrop for MiscRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariants the device is registered.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

/// The `file_operations` table of `T`.
struct FopsTable<T: FileOps>(PhantomData<T>);

impl<T: FileOps> FopsTable<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        owner: crate::THIS_MODULE.as_ptr(),
        open: Some(Self::open),
        release: Some(Self::release),
        flush: if T::HAS_FLUSH {
            Some(Self::flush)
        } else {
            None
        },
        read: if T::HAS_READ { Some(Self::read) } else { None },
        write: if T::HAS_WRITE {
            Some(Self::write)
        } else {
            None
        },
        poll: if T::HAS_POLL { Some(Self::poll) } else { None },
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(Self::ioctl)
        } else {
            None
        },
        // Every structure of the ABI has the same layout for 32- and 64-bit processes.
        compat_ioctl: if T::HAS_IOCTL {
            bindings::compat_ptr_ioctl
        } else {
            None
        },
        show_fdinfo: if T::HAS_SHOW_FDINFO {
            Some(Self::show_fdinfo)
        } else {
            None
        },
        ..pin_init::zeroed()
    };

    /// Borrows the private data of `file`.
    ///
    /// # Safety
    ///
    /// `file` must be a file of a `MiscRegistration<T>` between `open` and `release`.
    unsafe fn private<'a>(file: *mut bindings::file) -> (Borrowed<'a, T>, &'a File) {
        // SAFETY: per the safety requirements, `private_data` came from `into_foreign` in `open`
        // and `release` has not run yet.
        let this = unsafe { T::Ptr::borrow((*file).private_data) };
        // SAFETY: the file is valid for the duration of the callback and there is no active
        // fdget_pos region on it (the file is a stream).
        (this, unsafe { File::from_raw_file(file) })
    }

    /// # Safety
    ///
    /// `inode` and `file` belong to a file of a `MiscRegistration<T>` being opened.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `misc_open()` stored the `miscdevice` pointer in `private_data` and keeps the
        // registration alive during this call; by the type invariants it points to the
        // `MiscRegistration<T>`.
        let reg = unsafe { &*(*file).private_data.cast::<MiscRegistration<T>>() };
        // SAFETY: valid inode and file being opened.
        let ret = unsafe { bindings::stream_open(inode, file) };
        if ret != 0 {
            return ret;
        }
        // SAFETY: the file is valid for the duration of `open`.
        let f = unsafe { File::from_raw_file(file) };
        match T::open(&reg.shared, f) {
            Ok(ptr) => {
                // SAFETY: `open` owns `private_data`; every other callback reads it back as
                // `T::Ptr`.
                unsafe { (*file).private_data = ptr.into_foreign() };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `file` is a file of a `MiscRegistration<T>` being released.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `release` owns the private data set in `open`; no callback runs after it.
        let this = unsafe { T::Ptr::from_foreign((*file).private_data) };
        // SAFETY: the file is valid for the duration of `release`.
        T::release(this, unsafe { File::from_raw_file(file) });
        0
    }

    /// # Safety
    ///
    /// `file` is an open file of a `MiscRegistration<T>`.
    unsafe extern "C" fn flush(file: *mut bindings::file, _id: bindings::fl_owner_t) -> c_int {
        // SAFETY: per this function's safety requirements.
        let (this, f) = unsafe { Self::private(file) };
        match T::flush(this, f) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `file` is an open file of a `MiscRegistration<T>`.
    unsafe extern "C" fn read(
        file: *mut bindings::file,
        buf: *mut c_char,
        len: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: per this function's safety requirements.
        let (this, f) = unsafe { Self::private(file) };
        match T::read(this, f, UserPtr::from_ptr(buf.cast()), len) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// `file` is an open file of a `MiscRegistration<T>`.
    unsafe extern "C" fn write(
        file: *mut bindings::file,
        buf: *const c_char,
        len: usize,
        _pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: per this function's safety requirements.
        let (this, f) = unsafe { Self::private(file) };
        match T::write(this, f, UserPtr::from_ptr(buf.cast_mut().cast()), len) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// `file` is an open file of a `MiscRegistration<T>`; `table` is null or a valid poll table.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        table: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: per this function's safety requirements.
        let (this, f) = unsafe { Self::private(file) };
        // SAFETY: `table` is null or valid for the duration of this call.
        T::poll(this, f, unsafe { PollTable::from_raw(table) })
    }

    /// # Safety
    ///
    /// `file` is an open file of a `MiscRegistration<T>`.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: per this function's safety requirements.
        let (this, f) = unsafe { Self::private(file) };
        match T::ioctl(this, f, cmd, arg) {
            Ok(v) => v as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// `file` is an open file of a `MiscRegistration<T>`; `m` a valid `seq_file` being written.
    unsafe extern "C" fn show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
        // SAFETY: per this function's safety requirements.
        let (this, f) = unsafe { Self::private(file) };
        // SAFETY: `m` is valid and exclusively ours for the duration of this call.
        T::show_fdinfo(this, unsafe { SeqFile::from_raw(m) }, f);
    }
}
