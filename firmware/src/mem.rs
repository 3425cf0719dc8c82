//! `memcpy`, `memset` and their ARM EABI aliases, small, for the Cortex-M4 images.
//!
//! compiler-builtins' versions (weak symbols, built for speed) are 3.5 KB of every image:
//! misaligned-word shifting, unrolled loops and one body per `__aeabi_*` alias. The core copies
//! structs (word-aligned) and clears buffers; a word loop with a byte tail does that in
//! 130 B, and these strong definitions replace the weak ones at link time. Measured in
//! docs/PERFORMANCE.md (seventh pass): size and the instruction rows of the benchmark.
//!
//! Assembly rather than Rust: a Rust loop in a function named `memcpy` may be compiled into a
//! call to `memcpy`. Thumb-2 only (`thumbv7em`); the Cortex-M0 image keeps compiler-builtins'.
//!
//! Contracts (C and the ARM run-time ABI): `memcpy(dst, src, n) -> dst` for regions that do
//! not overlap; `memset(dst, c, n) -> dst` stores `c as u8`; `__aeabi_memset(dst, n, c)` and
//! `__aeabi_memclr(dst, n)` take their arguments in that order and return nothing; the `4` /
//! `8` variants promise an aligned `dst` (and `src`), which the plain entry checks anyway.
//! They touch r0–r3 and r12 only (caller-saved), use no stack, and return with `bx lr`.
//! Tested on the target by every firmware run (the hardware-in-the-loop tests, the benchmark)
//! and directly by `firmware/src/bin/bench.rs`'s copy checks at every length and alignment.

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
        // Two words a store (STRD takes a word-aligned address).
        "1:  subs r2, r2, #8",
        "    blo 3f",
        "7:  strd r1, r1, [r3], #8",
        "    subs r2, r2, #8",
        "    bhs 7b",
        "3:  adds r2, r2, #8",
        "2:  cbz r2, 4f",
        "5:  strb r1, [r3], #1",
        "    subs r2, r2, #1",
        "    bne 5b",
        "4:  bx lr",
        ".size memset, . - memset",
        ".popsection",
    );
}
