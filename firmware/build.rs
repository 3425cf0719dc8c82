//! Pick the memory map of the board the target implies and link with cortex-m-rt's `link.x`.
//! (A `memory.x` in the crate root would win over one on the search path, so each board's map
//! has its own name and is copied to `OUT_DIR/memory.x`.)

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=memory-mps2-an386.x");
    println!("cargo:rerun-if-changed=memory-cortex-m0.x");
    println!("cargo:rerun-if-changed=device.x");
    let target = env::var("TARGET").unwrap_or_default();
    let map = if target.starts_with("thumbv7em") {
        "memory-mps2-an386.x"
    } else if target.starts_with("thumbv6m") {
        "memory-cortex-m0.x"
    } else {
        return; // a host build: nothing to link
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    if let Err(e) = fs::copy(map, out.join("memory.x")) {
        println!("cargo:warning=cannot copy {map}: {e}");
    }
    // cortex-m-rt's `device` feature includes device.x: the interrupt handlers' defaults.
    if let Err(e) = fs::copy("device.x", out.join("device.x")) {
        println!("cargo:warning=cannot copy device.x: {e}");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
}
