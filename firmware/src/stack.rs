//! Stack high-water mark: paint the unused stack below the current frame, and later find the
//! lowest word that is no longer the paint.
#![allow(unsafe_code)] // reads and writes unused stack memory below the current frame

const PAINT: u32 = 0x5AFE_C0DE;
/// Bytes painted below the stack pointer (mps2-an386 has 4 MiB of RAM; boards with less pass
/// their own depth).
pub const DEPTH: usize = 192 * 1024;

/// Paint `DEPTH` bytes below the current stack pointer; returns the stack pointer.
pub fn paint() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let bottom = sp.saturating_sub(DEPTH);
    let mut p = bottom;
    while p < sp.saturating_sub(256) {
        // SAFETY: [bottom, sp - 256) is RAM below the live stack, not in use by anyone.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    sp
}

/// Deepest stack used below `top` (a value `paint` returned), in bytes.
pub fn peak(top: usize) -> usize {
    let mut p = top.saturating_sub(DEPTH);
    // SAFETY: the same region `paint` wrote.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// The stack pointer the image starts with (word 0 of its vector table): the top of RAM's
/// stack. `initial_sp() - paint()` is what the main loop's frame holds for good.
pub fn initial_sp() -> usize {
    // SAFETY: VTOR points at the active vector table, whose first word is the initial stack
    // pointer; both are always readable.
    unsafe {
        let vtor = (*cortex_m::peripheral::SCB::PTR).vtor.read() as usize;
        core::ptr::read_volatile(vtor as *const u32) as usize
    }
}
