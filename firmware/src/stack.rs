//! Stack high-water mark: paint the unused stack below the current frame, and later find the
//! lowest word that is no longer the paint.
#![allow(unsafe_code)] // reads and writes unused stack memory below the current frame

/// What unused stack holds (the boards' own painting uses it too).
pub const PAINT: u32 = 0x5AFE_C0DE;
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

/// Repaint the `used` bytes below `top` that calls have written: the stack a request used is
/// cleared once it returned, so that a signature's temporaries (the nonce's bytes, the HMAC
/// pads, copies of the key) do not outlive it (ADR 0022). Called from the frame `top` was
/// taken in; the 256 bytes below the stack pointer are this call's own frame.
pub fn scrub(top: usize, used: usize) {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = top.saturating_sub(used) & !3;
    while p < sp.saturating_sub(256) {
        // SAFETY: below the stack pointer: written by calls that have returned, used by no
        // one now (an interrupt's frame is popped before this code runs again).
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// How often `needle` occurs, at any byte offset, in the dead stack from `used` bytes below
/// `top` up to 256 bytes below the stack pointer (the check that `scrub` left nothing).
pub fn occurrences(top: usize, used: usize, needle: &[u8]) -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let (start, end) = (top.saturating_sub(used), sp.saturating_sub(256));
    let mut found = 0;
    let mut p = start;
    while p + needle.len() <= end {
        // SAFETY: dead stack below the stack pointer, readable RAM.
        let here = needle
            .iter()
            .enumerate()
            .all(|(i, b)| unsafe { core::ptr::read_volatile((p + i) as *const u8) } == *b);
        found += usize::from(here);
        p += 1;
    }
    found
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
