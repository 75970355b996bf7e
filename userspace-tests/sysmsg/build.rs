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
    bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_arg(format!("-I{}", uapi.display()))
        .allowlist_type("sysmsg_.*")
        .allowlist_var("SYSMSG_.*")
        .default_macro_constant_type(bindgen::MacroTypeVariation::Unsigned)
        .derive_default(true)
        .derive_eq(true)
        .generate()
        .expect("bindgen failed on include/uapi/linux/sysmsg.h")
        .write_to_file(out.join("uapi.rs"))
        .expect("writing uapi.rs");

    // The ioctl numbers as the C preprocessor computes them, for the unit tests.
    cc::Build::new()
        .file("src/abi_check.c")
        .include(&uapi)
        .warnings_into_errors(true)
        .compile("sysmsg_abi_check");
}
