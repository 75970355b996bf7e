//! Generates the ABI types from `include/uapi/linux/sysmsg.h`, the single source of truth, and
//! compiles the C side of the ABI cross-check used by the unit tests.

use std::{env, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let uapi = manifest.join("../../include/uapi");
    let header = uapi.join("linux/sysmsg.h");
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-changed=src/abi_check.c");

    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    // The header, plus the kernel's own timespec that NANOSLEEP points to.
    let wrapper = format!(
        "#include \"{}\"\n#include <linux/time_types.h>\n",
        header.display()
    );
    bindgen::Builder::default()
        .header_contents("sysmsg_wrapper.h", &wrapper)
        .clang_arg(format!("-I{}", uapi.display()))
        .allowlist_type("sysmsg_.*")
        .allowlist_type("__kernel_timespec")
        .allowlist_var("SYSMSG_.*")
        .prepend_enum_name(false)
        .default_macro_constant_type(bindgen::MacroTypeVariation::Unsigned)
        .derive_default(true)
        .derive_eq(true)
        .generate()
        .expect("bindgen failed on include/uapi/linux/sysmsg.h")
        .write_to_file(out.join("uapi.rs"))
        .expect("writing uapi.rs");

    // The ABI (ioctl numbers, sizes, offsets, constants) as the C compiler sees it, for the unit
    // tests.
    cc::Build::new()
        .file("src/abi_check.c")
        .include(&uapi)
        .warnings_into_errors(true)
        .compile("sysmsg_abi_check");
}
