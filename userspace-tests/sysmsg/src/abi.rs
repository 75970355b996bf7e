//! The ABI cross-check: every ioctl number, constant, structure size, alignment and field offset
//! the Rust side uses, compared with what a C compiler makes of the header (`src/abi_check.c`).

use crate::{ioctl, sys};
use std::{
    collections::BTreeMap,
    ffi::{c_char, CStr},
    mem::{align_of, offset_of, size_of},
};

#[repr(C)]
struct CEntry {
    name: *const c_char,
    value: u64,
}

extern "C" {
    static sysmsg_c_abi: [CEntry; 0];
}

/// The C compiler's table, up to its NULL-named terminator.
fn c_table() -> BTreeMap<String, u64> {
    let mut table = BTreeMap::new();
    // SAFETY: `sysmsg_c_abi` is a constant array in abi_check.c that ends with a NULL name; every
    // name before it is a NUL-terminated string literal.
    unsafe {
        let mut entry = std::ptr::addr_of!(sysmsg_c_abi).cast::<CEntry>();
        while !(*entry).name.is_null() {
            let name = CStr::from_ptr((*entry).name).to_string_lossy().into_owned();
            assert!(
                table.insert(name.clone(), (*entry).value).is_none(),
                "{name} twice in abi_check.c"
            );
            entry = entry.add(1);
        }
    }
    table
}

fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! value {
    ($t:ident, $v:expr) => {
        (stringify!($t).to_string(), u64::from($v))
    };
}

macro_rules! layout {
    ($s:ident; $($f:ident),* $(,)?) => {
        vec![
            (concat!("sizeof ", stringify!($s)).to_string(), size_of::<sys::$s>() as u64),
            (concat!("alignof ", stringify!($s)).to_string(), align_of::<sys::$s>() as u64),
            $(
                (
                    concat!(stringify!($s), ".", stringify!($f)).to_string(),
                    offset_of!(sys::$s, $f) as u64,
                ),
                (
                    concat!("sizeof ", stringify!($s), ".", stringify!($f)).to_string(),
                    field_size(|s: &sys::$s| &s.$f) as u64,
                ),
            )*
        ]
    };
}

/// The same table, from the Rust side: bindgen's types and constants and `ioctl`'s encoding.
fn rust_table() -> BTreeMap<String, u64> {
    let mut rows = vec![
        value!(SYSMSG_IOC_GET_INFO, ioctl::GET_INFO),
        value!(SYSMSG_IOC_SUBMIT, ioctl::SUBMIT),
        value!(SYSMSG_IOC_REAP, ioctl::REAP),
        value!(SYSMSG_IOC_GET_LIMITS, ioctl::GET_LIMITS),
        value!(SYSMSG_IOC_SET_LIMITS, ioctl::SET_LIMITS),
        value!(SYSMSG_IOC_PROC_STATS, ioctl::PROC_STATS),
        value!(SYSMSG_IOC_CANCEL, ioctl::CANCEL),
        value!(SYSMSG_IOC_MAGIC, sys::SYSMSG_IOC_MAGIC),
        value!(SYSMSG_IOC_NR_BASE, sys::SYSMSG_IOC_NR_BASE),
        value!(SYSMSG_IOC_NR_GET_INFO, sys::SYSMSG_IOC_NR_GET_INFO),
        value!(SYSMSG_IOC_NR_SUBMIT, sys::SYSMSG_IOC_NR_SUBMIT),
        value!(SYSMSG_IOC_NR_REAP, sys::SYSMSG_IOC_NR_REAP),
        value!(SYSMSG_IOC_NR_GET_LIMITS, sys::SYSMSG_IOC_NR_GET_LIMITS),
        value!(SYSMSG_IOC_NR_SET_LIMITS, sys::SYSMSG_IOC_NR_SET_LIMITS),
        value!(SYSMSG_IOC_NR_PROC_STATS, sys::SYSMSG_IOC_NR_PROC_STATS),
        value!(SYSMSG_IOC_NR_CANCEL, sys::SYSMSG_IOC_NR_CANCEL),
        value!(SYSMSG_ABI_VERSION, sys::SYSMSG_ABI_VERSION),
        value!(SYSMSG_OP_NOP, crate::Opcode::NOP.0),
        value!(SYSMSG_OP_NANOSLEEP, crate::Opcode::NANOSLEEP.0),
        value!(SYSMSG_OP_READ, crate::Opcode::READ.0),
        value!(SYSMSG_OP_WRITE, crate::Opcode::WRITE.0),
        value!(SYSMSG_OP_PREAD, crate::Opcode::PREAD.0),
        value!(SYSMSG_OP_PWRITE, crate::Opcode::PWRITE.0),
        value!(SYSMSG_OP_FSYNC, crate::Opcode::FSYNC.0),
        value!(SYSMSG_OP_FDATASYNC, crate::Opcode::FDATASYNC.0),
        value!(SYSMSG_OP_COUNT, sys::SYSMSG_OP_COUNT),
        value!(SYSMSG_SLEEP_ABSTIME, sys::SYSMSG_SLEEP_ABSTIME),
        value!(SYSMSG_MAX_IO_LEN, crate::MAX_IO_LEN as u64),
        value!(SYSMSG_FEATURE_POLL_ARM, sys::SYSMSG_FEATURE_POLL_ARM),
        value!(SYSMSG_FEATURE_LIMITS, sys::SYSMSG_FEATURE_LIMITS),
        value!(SYSMSG_FEATURE_CANCEL, sys::SYSMSG_FEATURE_CANCEL),
        value!(SYSMSG_FEATURE_PRIO, sys::SYSMSG_FEATURE_PRIO),
        value!(SYSMSG_FEATURE_SUBMIT_REAP, sys::SYSMSG_FEATURE_SUBMIT_REAP),
        // Negative: the C side stores it converted to unsigned long long, i.e. sign-extended.
        (
            "SYSMSG_PRIO_MIN".to_string(),
            i64::from(sys::SYSMSG_PRIO_MIN) as u64,
        ),
        value!(SYSMSG_PRIO_MAX, sys::SYSMSG_PRIO_MAX),
        value!(SYSMSG_FEATURES_ALL, sys::SYSMSG_FEATURES_ALL),
        value!(SYSMSG_REAP_NOWAIT, sys::SYSMSG_REAP_NOWAIT),
        value!(SYSMSG_SUBMIT_WAIT, sys::SYSMSG_SUBMIT_WAIT),
        value!(SYSMSG_SUBMIT_REAP, sys::SYSMSG_SUBMIT_REAP),
        value!(SYSMSG_SUBMIT_REAP_WAIT, sys::SYSMSG_SUBMIT_REAP_WAIT),
        value!(SYSMSG_LIMIT_SOFT, sys::SYSMSG_LIMIT_SOFT),
        value!(SYSMSG_LIMIT_HARD, sys::SYSMSG_LIMIT_HARD),
        value!(SYSMSG_PROC_THROTTLED, sys::SYSMSG_PROC_THROTTLED),
        value!(SYSMSG_CANCEL_ALL, sys::SYSMSG_CANCEL_ALL),
    ];
    rows.extend(layout!(sysmsg_msg;
        opcode, flags, prio, reserved0, fd, tag, addr, len, offset, op_flags, reserved1, reserved));
    rows.extend(layout!(sysmsg_reply; tag, result, opcode, reserved0, reserved1, reserved2));
    rows.extend(layout!(sysmsg_info;
        abi_version, info_size, features, ops, msg_size, reply_size, max_io_len, queue_limit,
        reserved));
    rows.extend(layout!(sysmsg_submit;
        msgs, count, flags, accepted, error, replies, reap_max, reaped));
    rows.extend(layout!(sysmsg_reap; replies, max, flags, count, reserved0, reserved));
    rows.extend(layout!(sysmsg_limits; pid, flags, soft, hard, reserved));
    rows.extend(layout!(sysmsg_proc_stats;
        pid, flags, inflight, soft, hard, peak_inflight, limit_hits, throttle_episodes, submitted,
        reserved));
    rows.extend(layout!(sysmsg_stats; procs, max, count, total, reserved0, reserved));
    rows.extend(layout!(sysmsg_cancel; tag, flags, cancelled, already, reserved));
    rows.extend(layout!(__kernel_timespec; tv_sec, tv_nsec));
    let mut table = BTreeMap::new();
    for (name, value) in rows {
        assert!(
            table.insert(name.clone(), value).is_none(),
            "{name} twice in the Rust table"
        );
    }
    table
}

#[test]
fn rust_and_c_agree_on_every_entry() {
    let c = c_table();
    let rust = rust_table();
    for (name, value) in &rust {
        match c.get(name) {
            Some(cv) => assert_eq!(value, cv, "{name}: Rust {value:#x}, C {cv:#x}"),
            None => panic!("{name} is used by Rust but not checked in abi_check.c"),
        }
    }
    for name in c.keys() {
        assert!(rust.contains_key(name), "{name} is in abi_check.c only");
    }
    assert!(
        c.len() > 145,
        "the C table looks truncated: {} entries",
        c.len()
    );
}

#[test]
fn sizes_are_the_documented_ones() {
    assert_eq!(size_of::<sys::sysmsg_msg>(), 64);
    assert_eq!(size_of::<sys::sysmsg_reply>(), 32);
    assert_eq!(size_of::<sys::__kernel_timespec>(), 16);
    // Identical for 32- and 64-bit processes: no pointer-sized or padded field.
    assert_eq!(size_of::<sys::sysmsg_info>() % 8, 0);
    assert_eq!(size_of::<sys::sysmsg_submit>() % 8, 0);
    assert_eq!(size_of::<sys::sysmsg_reap>() % 8, 0);
    assert_eq!(size_of::<sys::sysmsg_limits>(), 40);
    assert_eq!(size_of::<sys::sysmsg_proc_stats>(), 80);
    assert_eq!(size_of::<sys::sysmsg_stats>(), 40);
    assert_eq!(size_of::<sys::sysmsg_cancel>(), 32);
    assert_eq!(align_of::<sys::sysmsg_cancel>(), 8);
    // The header's offsets, spelled out: tag, flags, cancelled, already, reserved[3].
    assert_eq!(offset_of!(sys::sysmsg_cancel, tag), 0);
    assert_eq!(offset_of!(sys::sysmsg_cancel, flags), 8);
    assert_eq!(offset_of!(sys::sysmsg_cancel, cancelled), 12);
    assert_eq!(offset_of!(sys::sysmsg_cancel, already), 16);
    assert_eq!(offset_of!(sys::sysmsg_cancel, reserved), 20);
    assert_eq!(sys::sysmsg_cancel::default().reserved, [0u32; 3]);
    // sysmsg_submit: the old reserved[2] became replies, reap_max, reaped in the same 40 bytes.
    assert_eq!(size_of::<sys::sysmsg_submit>(), 40);
    assert_eq!(offset_of!(sys::sysmsg_submit, error), 20);
    assert_eq!(offset_of!(sys::sysmsg_submit, replies), 24);
    assert_eq!(offset_of!(sys::sysmsg_submit, reap_max), 32);
    assert_eq!(offset_of!(sys::sysmsg_submit, reaped), 36);
}

#[test]
fn the_ops_mask_covers_every_opcode() {
    assert_eq!(crate::Opcode::ALL.len(), sys::SYSMSG_OP_COUNT as usize);
    for (i, op) in crate::Opcode::ALL.iter().enumerate() {
        assert_eq!(usize::from(op.0), i);
    }
}
