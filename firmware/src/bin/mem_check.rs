//! The images' `memcpy` / `memmove` / `memset` and their ARM EABI aliases
//! (firmware/src/mem.rs on the Thumb-2 images, compiler-builtins' on the Cortex-M0 one),
//! checked on the target against a byte loop:
//! - every length 0..=67 at every source and destination alignment, and the bytes around the
//!   destination untouched;
//! - `memmove` between overlapping regions, both ways;
//! - `memcpy`, `memmove` and `memset` returning the destination;
//! - the EABI forms' argument order (`__aeabi_memset(dst, n, c)`, `__aeabi_memclr(dst, n)`);
//! - `memcmp` and `bcmp`: 0 on equal bytes whatever follows them, and a first difference at
//!   every position, each way, with the sign of an unsigned byte comparison.
//!
//! `tests/tests/hil.rs` runs it under QEMU; it exits 0, or 101 after printing the first case
//! that failed.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    use tally_firmware as _;

    use core::hint::black_box;
    use core::panic::PanicInfo;
    use cortex_m_rt::entry;
    use semihosting::io::Write as _;

    // SAFETY (for every call below): the pointers are into `Buffers`' arrays, with `len` bytes
    // from them in bounds, and source and destination never overlap.
    #[allow(unsafe_code)]
    unsafe extern "C" {
        fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
        fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8;
        fn __aeabi_memcpy(dst: *mut u8, src: *const u8, n: usize);
        fn __aeabi_memcpy4(dst: *mut u8, src: *const u8, n: usize);
        fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
        fn __aeabi_memmove(dst: *mut u8, src: *const u8, n: usize);
        fn __aeabi_memmove4(dst: *mut u8, src: *const u8, n: usize);
        fn __aeabi_memset(dst: *mut u8, n: usize, c: i32);
        fn __aeabi_memset4(dst: *mut u8, n: usize, c: i32);
        fn __aeabi_memclr(dst: *mut u8, n: usize);
        fn __aeabi_memclr4(dst: *mut u8, n: usize);
        fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32;
        fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32;
    }

    const MAX: usize = 67;
    /// Guard bytes each side of the destination.
    const GUARD: usize = 8;
    const SIZE: usize = MAX + 2 * GUARD + 4;
    const FILL: u8 = 0xEE;

    #[repr(C, align(8))]
    struct Buffers {
        src: [u8; SIZE],
        dst: [u8; SIZE],
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        Memcpy,
        AeabiMemcpy,
        AeabiMemcpy4,
        Memmove,
        AeabiMemmove,
        AeabiMemmove4,
        /// `memmove` within one buffer, the destination below the source.
        MemmoveDown,
        /// `memmove` within one buffer, the destination above the source.
        MemmoveUp,
        Memset,
        AeabiMemset,
        AeabiMemset4,
        AeabiMemclr,
        AeabiMemclr4,
        Memcmp,
        Bcmp,
    }

    const OPS: [(Op, &str); 15] = [
        (Op::Memcpy, "memcpy"),
        (Op::AeabiMemcpy, "__aeabi_memcpy"),
        (Op::AeabiMemcpy4, "__aeabi_memcpy4"),
        (Op::Memmove, "memmove"),
        (Op::AeabiMemmove, "__aeabi_memmove"),
        (Op::AeabiMemmove4, "__aeabi_memmove4"),
        (Op::MemmoveDown, "memmove (overlapping, down)"),
        (Op::MemmoveUp, "memmove (overlapping, up)"),
        (Op::Memset, "memset"),
        (Op::AeabiMemset, "__aeabi_memset"),
        (Op::AeabiMemset4, "__aeabi_memset4"),
        (Op::AeabiMemclr, "__aeabi_memclr"),
        (Op::AeabiMemclr4, "__aeabi_memclr4"),
        (Op::Memcmp, "memcmp"),
        (Op::Bcmp, "bcmp"),
    ];

    fn say(parts: &[&str]) {
        if let Ok(mut out) = semihosting::io::stdout() {
            for p in parts {
                let _ = out.write_all(p.as_bytes());
            }
        }
    }

    /// `n` (below 100,000) in decimal, with leading zeros.
    fn decimal(n: usize, buf: &mut [u8; 5]) -> &str {
        let mut rest = n;
        for d in buf.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        core::str::from_utf8(buf).unwrap_or("?")
    }

    /// The source pattern: neighbouring bytes differ, and none of the first `SIZE` is `FILL`.
    fn pattern(i: usize) -> u8 {
        (i as u8).wrapping_mul(37).wrapping_add(11)
    }

    /// One call of `op` on `len` bytes at these offsets; whether the result is right.
    #[allow(unsafe_code)]
    fn case(b: &mut Buffers, op: Op, src_off: usize, dst_off: usize, len: usize) -> bool {
        if matches!(op, Op::MemmoveDown | Op::MemmoveUp) {
            return overlapping(b, op == Op::MemmoveUp, src_off, dst_off, len);
        }
        if matches!(op, Op::Memcmp | Op::Bcmp) {
            return compare(b, op == Op::Bcmp, src_off, dst_off, len);
        }
        for (i, s) in b.src.iter_mut().enumerate() {
            *s = pattern(i);
        }
        b.dst = [FILL; SIZE];
        let value: u8 = 0xA5;
        let at = GUARD + dst_off;
        let dst = b.dst.as_mut_ptr().wrapping_add(at);
        let src = b.src.as_ptr().wrapping_add(src_off);
        // The aligned forms are only called with aligned pointers, as their contract says.
        let aligned = (dst as usize).is_multiple_of(4) && (src as usize).is_multiple_of(4);
        let mut ret = dst;
        let f = Entries::get();
        // SAFETY: see the extern block.
        unsafe {
            match op {
                Op::Memcpy => ret = (f.memcpy)(dst, src, len),
                Op::AeabiMemcpy => (f.memcpy1)(dst, src, len),
                Op::AeabiMemcpy4 if aligned => (f.memcpy4)(dst, src, len),
                Op::Memmove => ret = (f.memmove)(dst, src, len),
                Op::AeabiMemmove => (f.memmove1)(dst, src, len),
                Op::AeabiMemmove4 if aligned => (f.memmove4)(dst, src, len),
                Op::Memset => ret = (f.memset)(dst, 0x1A5, len), // only the low byte counts
                Op::AeabiMemset => (f.memset1)(dst, len, 0x1A5),
                Op::AeabiMemset4 if aligned => (f.memset4)(dst, len, 0x1A5),
                Op::AeabiMemclr => (f.memclr1)(dst, len),
                Op::AeabiMemclr4 if aligned => (f.memclr4)(dst, len),
                _ => return true,
            }
        }
        if ret != dst {
            return false;
        }
        b.dst.iter().enumerate().all(|(i, &got)| {
            let inside = i >= at && i < at + len;
            let want = match op {
                _ if !inside => FILL,
                Op::Memset | Op::AeabiMemset | Op::AeabiMemset4 => value,
                Op::AeabiMemclr | Op::AeabiMemclr4 => 0,
                _ => b.src.get(i - at + src_off).copied().unwrap_or(!FILL),
            };
            got == want
        })
    }

    /// `memmove` within one buffer, the two regions 1..=4 bytes apart (so they overlap
    /// whenever `len` is larger): the destination above the source when `up`.
    #[allow(unsafe_code)]
    fn overlapping(b: &mut Buffers, up: bool, src_off: usize, dst_off: usize, len: usize) -> bool {
        for (i, d) in b.dst.iter_mut().enumerate() {
            *d = pattern(i);
        }
        let (from, to) = if up {
            let from = GUARD + src_off;
            (from, from + 1 + dst_off)
        } else {
            let to = GUARD + dst_off;
            (to + 1 + src_off, to)
        };
        let base = b.dst.as_mut_ptr();
        let f = Entries::get();
        // SAFETY: both regions are inside `b.dst` (`to` and `from` + 67 < SIZE); memmove
        // allows them to overlap.
        let ret = unsafe { (f.memmove)(base.wrapping_add(to), base.wrapping_add(from), len) };
        if ret != base.wrapping_add(to) {
            return false;
        }
        b.dst.iter().enumerate().all(|(i, &got)| {
            let want = if i >= to && i < to + len {
                pattern(i - to + from)
            } else {
                pattern(i)
            };
            got == want
        })
    }

    /// `memcmp(src, dst, len)` (or `bcmp`) on equal bytes, then with the first difference at
    /// each position, both ways; the byte after the compared ones always differs.
    #[allow(unsafe_code)]
    fn compare(
        b: &mut Buffers,
        bcmp_only: bool,
        src_off: usize,
        dst_off: usize,
        len: usize,
    ) -> bool {
        for (i, s) in b.src.iter_mut().enumerate() {
            *s = pattern(i);
        }
        let at = GUARD + dst_off;
        for (i, d) in b.dst.iter_mut().enumerate() {
            *d = if i >= at {
                pattern(i - at + src_off)
            } else {
                FILL
            };
        }
        if let Some(past) = b.dst.get_mut(at + len) {
            *past = !*past;
        }
        let f = Entries::get();
        let cmp = if bcmp_only { f.bcmp } else { f.memcmp };
        let a = b.src.as_ptr().wrapping_add(src_off);
        // SAFETY: both regions are inside their buffers (offsets + 67 < SIZE); reads only.
        if unsafe { cmp(a, b.dst.as_ptr().wrapping_add(at), len) } != 0 {
            return false;
        }
        for p in 0..len {
            // Below and above the source byte, and across 0x80 (an unsigned comparison).
            for flip in [0x01u8, 0x80, 0xFF] {
                let (Some(&want), Some(d)) = (b.src.get(src_off + p), b.dst.get_mut(at + p)) else {
                    return false;
                };
                *d = want ^ flip;
                let other = *d;
                // SAFETY: as above.
                let got = unsafe { cmp(a, b.dst.as_ptr().wrapping_add(at), len) };
                if let Some(d) = b.dst.get_mut(at + p) {
                    *d = want;
                }
                let expected = i32::from(want) - i32::from(other);
                let right = if bcmp_only {
                    got != 0
                } else {
                    got.signum() == expected.signum()
                };
                if !right {
                    return false;
                }
            }
        }
        true
    }

    type Compare = unsafe extern "C" fn(*const u8, *const u8, usize) -> i32;
    type Copy = unsafe extern "C" fn(*mut u8, *const u8, usize);
    type CopyRet = unsafe extern "C" fn(*mut u8, *const u8, usize) -> *mut u8;
    type Set = unsafe extern "C" fn(*mut u8, usize, i32);
    type SetRet = unsafe extern "C" fn(*mut u8, i32, usize) -> *mut u8;
    type Clear = unsafe extern "C" fn(*mut u8, usize);

    /// The entry points, through `black_box`: LLVM knows `memset` and `memcpy` by name and
    /// would turn a direct call into its own choice of `__aeabi_*` entry (measured: a broken
    /// `__aeabi_memset` failed the direct `memset` case).
    #[derive(Clone, Copy)]
    struct Entries {
        memcpy: CopyRet,
        memcpy1: Copy,
        memcpy4: Copy,
        memmove: CopyRet,
        memmove1: Copy,
        memmove4: Copy,
        memset: SetRet,
        memset1: Set,
        memset4: Set,
        memclr1: Clear,
        memclr4: Clear,
        memcmp: Compare,
        bcmp: Compare,
    }

    impl Entries {
        fn get() -> Self {
            black_box(Entries {
                memcpy,
                memcpy1: __aeabi_memcpy,
                memcpy4: __aeabi_memcpy4,
                memmove,
                memmove1: __aeabi_memmove,
                memmove4: __aeabi_memmove4,
                memset,
                memset1: __aeabi_memset,
                memset4: __aeabi_memset4,
                memclr1: __aeabi_memclr,
                memclr4: __aeabi_memclr4,
                memcmp,
                bcmp,
            })
        }
    }

    static mut BUFFERS: Buffers = Buffers {
        src: [0; SIZE],
        dst: [0; SIZE],
    };

    #[entry]
    #[allow(unsafe_code)]
    fn main() -> ! {
        // SAFETY: taken once, here; single core, no interrupt touches it.
        let b = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
        let mut cases = 0usize;
        for &(op, name) in &OPS {
            for src_off in 0..4 {
                for dst_off in 0..4 {
                    for len in 0..=MAX {
                        cases += 1;
                        if !case(b, op, src_off, dst_off, len) {
                            let (mut s, mut d, mut l) = ([0; 5], [0; 5], [0; 5]);
                            say(&[
                                "mem_check: ",
                                name,
                                " failed: source offset ",
                                decimal(src_off, &mut s),
                                ", destination offset ",
                                decimal(dst_off, &mut d),
                                ", length ",
                                decimal(len, &mut l),
                                "\n",
                            ]);
                            semihosting::process::exit(101)
                        }
                    }
                }
            }
        }
        let mut n = [0; 5];
        say(&["mem_check: ", decimal(cases, &mut n), " cases passed\n"]);
        semihosting::process::exit(0)
    }

    #[panic_handler]
    fn panic(_: &PanicInfo) -> ! {
        semihosting::process::exit(101)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
