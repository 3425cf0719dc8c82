//! The device-specific part of the vector table (cortex-m-rt's `device` feature): the
//! interrupts the boards use. Handlers not defined by a board fall back to `DefaultHandler`
//! through `device.x`.
#![allow(unsafe_code)] // a vector table is a linker-placed table of function pointers

unsafe extern "C" {
    fn UART0RX();
}

/// One entry of the vector table.
#[allow(missing_debug_implementations)] // a function pointer or a reserved word
#[repr(C)]
pub union Vector {
    handler: unsafe extern "C" fn(),
    reserved: usize,
}

/// External interrupts 0..32 (mps2-an386: UART0 RX is IRQ 0).
// SAFETY: the symbol name and section are what cortex-m-rt's link.x expects.
#[unsafe(link_section = ".vector_table.interrupts")]
#[unsafe(no_mangle)]
pub static __INTERRUPTS: [Vector; 32] = {
    let mut v = [const { Vector { reserved: 0 } }; 32];
    v[0] = Vector { handler: UART0RX };
    v
};
