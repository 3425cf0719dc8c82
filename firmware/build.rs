//! Pick the memory map of the board the target and features imply and link with cortex-m-rt's
//! `link.x`. (A `memory.x` in the crate root would win over one on the search path, so each
//! board's map has its own name and is copied to `OUT_DIR/memory.x`.)
//!
//! - thumbv7em, feature `board-nrf52840`: `memory-nrf52840.x`; the interrupt vectors and their
//!   `device.x` come from the nRF52840 PAC.
//! - thumbv7em otherwise (QEMU `mps2-an386`): `memory-mps2-an386.x` and this crate's `device.x`.
//! - thumbv6m: `memory-cortex-m0.x` and this crate's `device.x`.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=memory-mps2-an386.x");
    println!("cargo:rerun-if-changed=memory-nrf52840.x");
    println!("cargo:rerun-if-changed=memory-cortex-m0.x");
    println!("cargo:rerun-if-changed=device.x");
    let target = env::var("TARGET").unwrap_or_default();
    let nrf = env::var_os("CARGO_FEATURE_BOARD_NRF52840").is_some();
    let map = if target.starts_with("thumbv7em") {
        if nrf {
            "memory-nrf52840.x"
        } else {
            "memory-mps2-an386.x"
        }
    } else if target.starts_with("thumbv6m") {
        "memory-cortex-m0.x"
    } else {
        return; // a host build: nothing to link
    };
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    if let Err(e) = fs::copy(map, out.join("memory.x")) {
        println!("cargo:warning=cannot copy {map}: {e}");
    }
    if nrf && target.starts_with("thumbv7em") {
        // The PAC's device.x (on the search path from nrf52840-pac's build script) names the
        // nRF52840's interrupts; this crate's would shadow it.
        let _ = fs::remove_file(out.join("device.x"));
    } else if let Err(e) = fs::copy("device.x", out.join("device.x")) {
        // cortex-m-rt's `device` feature includes device.x: the interrupt handlers' defaults.
        println!("cargo:warning=cannot copy device.x: {e}");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rustc-link-arg-bins=--icf=all");
}
