//! `memcpy`, `memmove`, `memset` and their ARM EABI aliases, and `memcmp`, small, for the
//! Cortex-M4 images (ADR 0016).
//!
//! compiler-builtins' versions are weak symbols built for speed: misaligned-word shifting,
//! unrolled loops, a body per `__aeabi_*` alias; 1.6 KB of the licensing core and, where
//! `memmove` is linked (the console, p256-cm4's `copy_within`), 1.5 KB more. The core copies
//! word-aligned structs and clears buffers: a word loop with byte edges does that, and these
//! strong definitions replace the weak ones at link time. Figures: docs/PERFORMANCE.md.
//!
//! Assembly rather than Rust: a Rust loop in a function named `memcpy` may be compiled into a
//! call to `memcpy`. Thumb-2 only (`thumbv7em`); the Cortex-M0 image keeps compiler-builtins'.
//! No unaligned word access: it traps where start-up sets `CCR.UNALIGN_TRP`.
//!
//! Contracts (C and the ARM run-time ABI):
//! - `memcpy(dst, src, n) -> dst` for regions that do not overlap;
//! - `memmove(dst, src, n) -> dst` for any two regions;
//! - `memset(dst, c, n) -> dst` stores `c as u8`;
//! - `memcmp(a, b, n)` (and `bcmp`) is 0 when the `n` bytes are equal, else the difference of
//!   the first two that differ, as unsigned bytes (so its sign orders them);
//! - `__aeabi_memset(dst, n, c)` and `__aeabi_memclr(dst, n)` take their arguments in that
//!   order; the `__aeabi_*` forms return nothing, and their `4` / `8` variants promise
//!   aligned pointers, which the shared body checks anyway.
//!
//! They touch r0–r3 and r12 only (caller-saved), use no stack, and return with `bx lr`.
//! `firmware/src/bin/mem_check.rs` checks each entry on the target against a byte loop
//! (`tests/tests/hil.rs` runs it under QEMU), and every firmware run uses them.

// SAFETY: the functions below keep the C / ARM run-time ABI contracts stated above; nothing
// else in the image defines these symbols (compiler-builtins' are weak).
#[allow(unsafe_code)]
mod asm {
    core::arch::global_asm!(
        ".syntax unified",
        ".thumb",
        // memcpy: word loop while both pointers are aligned, then bytes.
        ".pushsection .text.tally_memcpy,\"ax\",%progbits",
        ".global memcpy",
        ".global __aeabi_memcpy",
        ".global __aeabi_memcpy4",
        ".global __aeabi_memcpy8",
        ".type memcpy,%function",
        ".type __aeabi_memcpy,%function",
        ".type __aeabi_memcpy4,%function",
        ".type __aeabi_memcpy8,%function",
        ".thumb_func",
        "memcpy:",
        ".thumb_func",
        "__aeabi_memcpy:",
        ".thumb_func",
        "__aeabi_memcpy4:",
        ".thumb_func",
        "__aeabi_memcpy8:",
        "    mov r3, r0",
        "    eor r12, r0, r1",
        "    tst r12, #3",
        "    bne 2f",
        // Same misalignment: bytes up to a word boundary, then words.
        "0:  tst r3, #3",
        "    beq 1f",
        "    cbz r2, 4f",
        "    ldrb r12, [r1], #1",
        "    strb r12, [r3], #1",
        "    subs r2, r2, #1",
        "    b 0b",
        "1:  subs r2, r2, #4",
        "    blo 3f",
        "6:  ldr r12, [r1], #4",
        "    str r12, [r3], #4",
        "    subs r2, r2, #4",
        "    bhs 6b",
        "3:  adds r2, r2, #4",
        // The tail, or everything when the two cannot both be aligned.
        "2:  cbz r2, 4f",
        "5:  ldrb r12, [r1], #1",
        "    strb r12, [r3], #1",
        "    subs r2, r2, #1",
        "    bne 5b",
        "4:  bx lr",
        ".size memcpy, . - memcpy",
        ".popsection",
        // memmove: forward (memcpy) unless the destination starts inside the source; then
        // backward, by words when the two share their alignment.
        ".pushsection .text.tally_memmove,\"ax\",%progbits",
        ".global memmove",
        ".global __aeabi_memmove",
        ".global __aeabi_memmove4",
        ".global __aeabi_memmove8",
        ".type memmove,%function",
        ".type __aeabi_memmove,%function",
        ".type __aeabi_memmove4,%function",
        ".type __aeabi_memmove8,%function",
        ".thumb_func",
        "memmove:",
        ".thumb_func",
        "__aeabi_memmove:",
        ".thumb_func",
        "__aeabi_memmove4:",
        ".thumb_func",
        "__aeabi_memmove8:",
        // dst - src >= n (unsigned): no overlap, or dst below src; a forward copy is safe.
        "    subs r3, r0, r1",
        "    cmp r3, r2",
        "    bhs.w memcpy",
        "    add r1, r1, r2",
        "    add r3, r0, r2",
        "    eor r12, r3, r1",
        "    tst r12, #3",
        "    bne 2f",
        "0:  tst r3, #3",
        "    beq 1f",
        "    cbz r2, 4f",
        "    ldrb r12, [r1, #-1]!",
        "    strb r12, [r3, #-1]!",
        "    subs r2, r2, #1",
        "    b 0b",
        "1:  subs r2, r2, #4",
        "    blo 3f",
        "6:  ldr r12, [r1, #-4]!",
        "    str r12, [r3, #-4]!",
        "    subs r2, r2, #4",
        "    bhs 6b",
        "3:  adds r2, r2, #4",
        "2:  cbz r2, 4f",
        "5:  ldrb r12, [r1, #-1]!",
        "    strb r12, [r3, #-1]!",
        "    subs r2, r2, #1",
        "    bne 5b",
        "4:  bx lr",
        ".size memmove, . - memmove",
        ".popsection",
        // memset and the EABI forms: bytes up to a word boundary, words, then bytes.
        ".pushsection .text.tally_memset,\"ax\",%progbits",
        ".global memset",
        ".global __aeabi_memset",
        ".global __aeabi_memset4",
        ".global __aeabi_memset8",
        ".global __aeabi_memclr",
        ".global __aeabi_memclr4",
        ".global __aeabi_memclr8",
        ".type memset,%function",
        ".type __aeabi_memset,%function",
        ".type __aeabi_memset4,%function",
        ".type __aeabi_memset8,%function",
        ".type __aeabi_memclr,%function",
        ".type __aeabi_memclr4,%function",
        ".type __aeabi_memclr8,%function",
        ".thumb_func",
        "__aeabi_memclr:",
        ".thumb_func",
        "__aeabi_memclr4:",
        ".thumb_func",
        "__aeabi_memclr8:",
        "    mov r2, r1",
        "    movs r1, #0",
        "    b memset",
        ".thumb_func",
        "__aeabi_memset:",
        ".thumb_func",
        "__aeabi_memset4:",
        ".thumb_func",
        "__aeabi_memset8:",
        "    mov r3, r1",
        "    mov r1, r2",
        "    mov r2, r3",
        ".thumb_func",
        "memset:",
        "    mov r3, r0",
        "    uxtb r1, r1",
        "    orr r1, r1, r1, lsl #8",
        "    orr r1, r1, r1, lsl #16",
        "6:  cbz r2, 4f",
        "    tst r3, #3",
        "    beq 1f",
        "    strb r1, [r3], #1",
        "    subs r2, r2, #1",
        "    b 6b",
        // 16 bytes an iteration, two words a store (STRD takes a word-aligned address); then
        // words. Clearing the agent at boot is most of what this does.
        "1:  subs r2, r2, #16",
        "    blo 3f",
        "7:  strd r1, r1, [r3], #8",
        "    strd r1, r1, [r3], #8",
        "    subs r2, r2, #16",
        "    bhs 7b",
        "3:  adds r2, r2, #12",
        "    blo 8f",
        "9:  str r1, [r3], #4",
        "    subs r2, r2, #4",
        "    bhs 9b",
        "8:  adds r2, r2, #4",
        "2:  cbz r2, 4f",
        "5:  strb r1, [r3], #1",
        "    subs r2, r2, #1",
        "    bne 5b",
        "4:  bx lr",
        ".size memset, . - memset",
        ".popsection",
        // memcmp and bcmp: a byte loop. The core compares names and UDIs of a few dozen bytes;
        // compiler-builtins' word-at-a-time version was 116 B.
        ".pushsection .text.tally_memcmp,\"ax\",%progbits",
        ".global memcmp",
        ".global bcmp",
        ".type memcmp,%function",
        ".type bcmp,%function",
        ".thumb_func",
        "memcmp:",
        ".thumb_func",
        "bcmp:",
        "    mov r3, r0",
        "    movs r0, #0",
        "0:  cbz r2, 1f",
        "    ldrb r0, [r3], #1",
        "    ldrb r12, [r1], #1",
        "    subs r0, r0, r12",
        "    bne 1f",
        "    subs r2, r2, #1",
        "    b 0b",
        "1:  bx lr",
        ".size memcmp, . - memcmp",
        ".popsection",
    );
}
