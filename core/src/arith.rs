//! 64-bit division by a small constant in 32-bit steps. Cortex-M has no 64-bit divide: `u64 /`
//! calls the compiler's `__aeabi_uldivmod`, 0.9 KB of flash in the licensing core for its two
//! uses (a decimal in a syslog line, the days of MSG-11). Dividing 16 bits at a time needs only
//! the 32-bit divide the M3/M4 do in hardware (and M0 in a builtin the core links anyway).

/// `n / d` and `n % d`, exactly, for any `n` (schoolbook division in 16-bit limbs: the
/// remainder is below `d`, so each step's dividend fits 32 bits).
pub fn div_rem_u16(n: u64, d: u16) -> (u64, u16) {
    let d = u32::from(d.max(1));
    let mut q = 0u64;
    let mut r = 0u32;
    // Constant shifts only: a 64-bit shift by a variable is a call to `__aeabi_llsl`/`llsr`.
    for limb in [n >> 48, n >> 32, n >> 16, n] {
        let cur = (r << 16) | (limb as u32 & 0xFFFF);
        q = (q << 16) | u64::from(cur / d);
        r = cur % d;
    }
    (q, r as u16)
}

/// Whole days in `secs`, rounded up (86 400 = 2^7 · 675).
pub fn days_ceil(secs: u64) -> u64 {
    let (q, r) = div_rem_u16(secs >> 7, 675);
    q + u64::from(r != 0 || secs & 0x7F != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EDGES: [u64; 12] = [
        0,
        1,
        9,
        10,
        86_399,
        86_400,
        86_401,
        u32::MAX as u64,
        1 << 32,
        u64::MAX - 86_400,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn edges_divide_as_u64_divides() {
        for n in EDGES {
            for d in [1u16, 7, 10, 675, u16::MAX] {
                assert_eq!(
                    div_rem_u16(n, d),
                    (n / u64::from(d), (n % u64::from(d)) as u16)
                );
            }
            assert_eq!(days_ceil(n), n.div_ceil(86_400), "{n}");
        }
        // A zero divisor is taken as 1 rather than trapping.
        assert_eq!(div_rem_u16(5, 0), (5, 0));
    }

    proptest! {
        #[test]
        fn any_value_divides_as_u64_divides(n: u64, d in 1u16..) {
            prop_assert_eq!(div_rem_u16(n, d), (n / u64::from(d), (n % u64::from(d)) as u16));
            prop_assert_eq!(days_ceil(n), n.div_ceil(86_400));
            prop_assert_eq!(days_ceil(n >> 20), (n >> 20).div_ceil(86_400));
        }
    }
}
