//! P-256 arithmetic for the Tally core's portable ECDSA backend (ADR 0021): the field (mod p,
//! [`Fe`]), the scalars (mod n, [`Scalar`]) and the group law ([`Point`], `point.rs`, ADR 0018).
//! The core keeps ECDSA's steps and the nonces (`tally-core`'s `crypto` module).
//!
//! Both moduli go through one Montgomery product, one sum and one difference written for any
//! odd 256-bit modulus. `p256`'s field element (fiat-crypto's unrolled product) and
//! crypto-bigint's Montgomery form for n were two implementations of the same three
//! operations, 4.1 KB of the core's flash between them with their sums and differences inlined
//! in the group law. Here an integer is eight 32-bit words, least significant first, always
//! fully reduced (below its modulus), so equality is equality of words. Every operation is a
//! fixed sequence of word operations: no branch and no memory access depends on a value, only
//! on the modulus (public). The exponentiation that inverts branches on the bits of its
//! exponent, the public `m - 2`.
//!
//! A crate of its own so that it builds at `opt-level = "s"` like the other crypto crates while
//! the core is at `"z"` (the workspace's `Cargo.toml`): at `"z"` a signature took 17 M
//! instructions on a Cortex-M4, at `"s"` 12 M, for 100 B more flash.
//!
//! The tests here compare every operation with RustCrypto's `p256`; `tally-core`'s
//! `tests/crypto_vectors.rs` checks the signatures and verifications built on it.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

#[cfg(test)]
extern crate std;

use subtle::{Choice, ConditionallySelectable};

mod point;
pub use point::{Point, lincomb};

/// An integer below 2^256, eight 32-bit words, least significant first.
pub type Words = [u32; 8];

/// An odd modulus and what a Montgomery product modulo it needs (R = 2^256).
#[derive(Debug)]
pub struct Modulus {
    m: Words,
    /// `-m⁻¹ mod 2^32`.
    inv: u32,
    /// `R² mod m`: a product with it puts an integer in Montgomery form.
    r2: Words,
    /// `R mod m`: 1 in Montgomery form.
    one: Words,
    /// `m - 2`: `a^(m-2) = a⁻¹` (Fermat).
    m_minus_2: Words,
}

/// p = 2^256 - 2^224 + 2^192 + 2^96 - 1.
pub const P: Modulus = Modulus {
    m: [
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0x0000_0000,
        0x0000_0000,
        0x0000_0000,
        0x0000_0001,
        0xFFFF_FFFF,
    ],
    inv: 0x0000_0001,
    r2: [
        0x0000_0003,
        0x0000_0000,
        0xFFFF_FFFF,
        0xFFFF_FFFB,
        0xFFFF_FFFE,
        0xFFFF_FFFF,
        0xFFFF_FFFD,
        0x0000_0004,
    ],
    one: [
        0x0000_0001,
        0x0000_0000,
        0x0000_0000,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0xFFFF_FFFE,
        0x0000_0000,
    ],
    m_minus_2: [
        0xFFFF_FFFD,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0x0000_0000,
        0x0000_0000,
        0x0000_0000,
        0x0000_0001,
        0xFFFF_FFFF,
    ],
};

/// n, the order of the group (the hex the core's nonces use; tests on both sides check it).
pub const N: Modulus = Modulus {
    m: [
        0xFC63_2551,
        0xF3B9_CAC2,
        0xA717_9E84,
        0xBCE6_FAAD,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0x0000_0000,
        0xFFFF_FFFF,
    ],
    inv: 0xEE00_BC4F,
    r2: [
        0xBE79_EEA2,
        0x8324_4C95,
        0x49BD_6FA6,
        0x4699_799C,
        0x2B6B_EC59,
        0x2845_B239,
        0xF3D9_5620,
        0x66E1_2D94,
    ],
    one: [
        0x039C_DAAF,
        0x0C46_353D,
        0x58E8_617B,
        0x4319_0552,
        0x0000_0000,
        0x0000_0000,
        0xFFFF_FFFF,
        0x0000_0000,
    ],
    m_minus_2: [
        0xFC63_254F,
        0xF3B9_CAC2,
        0xA717_9E84,
        0xBCE6_FAAD,
        0xFFFF_FFFF,
        0xFFFF_FFFF,
        0x0000_0000,
        0xFFFF_FFFF,
    ],
};

/// 1, as words.
const ONE: Words = [1, 0, 0, 0, 0, 0, 0, 0];

/// `a + b` and the carry out.
fn add_words(a: &Words, b: &Words) -> (Words, u32) {
    let mut out = [0u32; 8];
    let mut carry = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let s = u64::from(x) + u64::from(y) + carry;
        *o = s as u32;
        carry = s >> 32;
    }
    (out, carry as u32)
}

/// `a - b` and the borrow out (1 when `a < b`).
fn sub_words(a: &Words, b: &Words) -> (Words, u32) {
    let mut out = [0u32; 8];
    let mut borrow = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let d = u64::from(x).wrapping_sub(u64::from(y)).wrapping_sub(borrow);
        *o = d as u32;
        borrow = d >> 63;
    }
    (out, borrow as u32)
}

/// `a` where `mask` is 0, `b` where it is all ones.
fn select(a: &Words, b: &Words, mask: u32) -> Words {
    let mut out = *a;
    for (o, &y) in out.iter_mut().zip(b) {
        *o ^= (*o ^ y) & mask;
    }
    out
}

/// `hi·2^256 + t` reduced below `m`, given that it is below `2m`.
fn reduce_once(t: &Words, hi: u32, m: &Words) -> Words {
    let (d, borrow) = sub_words(t, m);
    // `t` itself when subtracting `m` borrows past the ninth word.
    select(&d, t, 0u32.wrapping_sub(borrow & !hi & 1))
}

/// `a + b mod m`, for `a, b < m`.
#[inline(never)]
pub fn add(a: &Words, b: &Words, md: &Modulus) -> Words {
    let (s, carry) = add_words(a, b);
    reduce_once(&s, carry, &md.m)
}

/// `a - b mod m`, for `a, b < m`.
#[inline(never)]
pub fn sub(a: &Words, b: &Words, md: &Modulus) -> Words {
    let (d, borrow) = sub_words(a, b);
    let (out, _) = add_words(&d, &select(&[0; 8], &md.m, 0u32.wrapping_sub(borrow)));
    out
}

/// `a·b·R⁻¹ mod m`, for `a, b < m`: the Montgomery product, word by word. For each word of
/// `b`, one pass over the words adds `a·b_i` and the multiple `u·m` of the modulus that clears
/// the low word, and moves the sum down a word (FIOS). The running value stays below `2m`, so
/// one conditional subtraction ends it.
#[inline(never)]
pub fn mul(a: &Words, b: &Words, md: &Modulus) -> Words {
    // Eight words and the ninth (0 or 1 between the passes).
    let mut t = [0u32; 9];
    for &bi in b {
        let u = t[0]
            .wrapping_add(a[0].wrapping_mul(bi))
            .wrapping_mul(md.inv);
        let (mut c1, mut c2) = (0u64, 0u64);
        for (j, (&aj, &mj)) in a.iter().zip(&md.m).enumerate() {
            let s1 = u64::from(t.get(j).copied().unwrap_or(0)) + u64::from(aj) * u64::from(bi) + c1;
            c1 = s1 >> 32;
            let s2 = u64::from(s1 as u32) + u64::from(u) * u64::from(mj) + c2;
            c2 = s2 >> 32;
            // The low word of the first sum is 0 by the choice of `u`.
            if let Some(below) = j.checked_sub(1).and_then(|k| t.get_mut(k)) {
                *below = s2 as u32;
            }
        }
        let s = u64::from(t[8]) + c1 + c2;
        t[7] = s as u32;
        t[8] = (s >> 32) as u32;
    }
    let [t0, t1, t2, t3, t4, t5, t6, t7, hi] = t;
    reduce_once(&[t0, t1, t2, t3, t4, t5, t6, t7], hi, &md.m)
}

/// `a^(m-2) = a⁻¹` in Montgomery form (`0` for `0`): square and multiply over the bits of the
/// public exponent.
#[inline(never)]
pub fn invert(a: &Words, md: &Modulus) -> Words {
    let mut acc = md.one;
    for word in md.m_minus_2.iter().rev() {
        for bit in (0..32).rev() {
            acc = mul(&acc, &acc, md);
            if (word >> bit) & 1 == 1 {
                acc = mul(&acc, a, md);
            }
        }
    }
    acc
}

/// 32 big-endian bytes as words.
pub fn from_be(bytes: &[u8; 32]) -> Words {
    let mut out = [0u32; 8];
    for (word, chunk) in out.iter_mut().zip(bytes.rchunks_exact(4)) {
        if let [a, b, c, d] = *chunk {
            *word = u32::from_be_bytes([a, b, c, d]);
        }
    }
    out
}

/// Words as 32 big-endian bytes.
pub fn to_be(words: &Words) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.rchunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// `w < m`.
fn below(w: &Words, m: &Words) -> bool {
    sub_words(w, m).1 == 1
}

/// An element of the field of P-256, in Montgomery form (`x·R mod p`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fe(Words);

impl Fe {
    pub const ZERO: Fe = Fe([0; 8]);
    pub const ONE: Fe = Fe(P.one);

    /// The element whose Montgomery form is `w` (constants written out).
    pub const fn from_words(w: Words) -> Fe {
        Fe(w)
    }

    /// The element of 32 big-endian bytes, if they are below p.
    pub fn from_be(bytes: &[u8; 32]) -> Option<Fe> {
        let w = from_be(bytes);
        below(&w, &P.m).then(|| Fe(mul(&w, &P.r2, &P)))
    }

    /// 32 big-endian bytes.
    pub fn to_be(&self) -> [u8; 32] {
        to_be(&mul(&self.0, &ONE, &P))
    }

    pub fn square(&self) -> Fe {
        *self * *self
    }

    pub fn double(&self) -> Fe {
        *self + *self
    }

    /// `self⁻¹` (`0` for `0`).
    pub fn invert(&self) -> Fe {
        Fe(invert(&self.0, &P))
    }

    /// `self = other` if `choice`, in constant time.
    pub fn conditional_assign(&mut self, other: &Fe, choice: Choice) {
        for (w, &o) in self.0.iter_mut().zip(&other.0) {
            w.conditional_assign(&o, choice);
        }
    }
}

impl core::ops::Add for Fe {
    type Output = Fe;
    fn add(self, other: Fe) -> Fe {
        Fe(add(&self.0, &other.0, &P))
    }
}

impl core::ops::Sub for Fe {
    type Output = Fe;
    fn sub(self, other: Fe) -> Fe {
        Fe(sub(&self.0, &other.0, &P))
    }
}

impl core::ops::Neg for Fe {
    type Output = Fe;
    fn neg(self) -> Fe {
        Fe::ZERO - self
    }
}

impl core::ops::Mul for Fe {
    type Output = Fe;
    fn mul(self, other: Fe) -> Fe {
        Fe(mul(&self.0, &other.0, &P))
    }
}

impl core::ops::MulAssign for Fe {
    fn mul_assign(&mut self, other: Fe) {
        *self = *self * other;
    }
}

/// An integer mod n, plain (not in Montgomery form: scalars are mostly read and written as
/// bytes, and take only four products per signature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scalar(Words);

/// A scalar can be a secret (a key, a nonce): cleared with writes that are not optimised out.
impl zeroize::Zeroize for Scalar {
    #[inline(never)] // one body for every secret scalar cleared (ADR 0022)
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Scalar {
    /// The scalar of 32 big-endian bytes, if they are in 1..n-1.
    pub fn nonzero_from_be(bytes: &[u8; 32]) -> Option<Scalar> {
        let w = from_be(bytes);
        (below(&w, &N.m) && w != [0; 8]).then_some(Scalar(w))
    }

    /// 32 big-endian bytes reduced mod n (any 256-bit integer is below 2n).
    pub fn reduce(bytes: &[u8; 32]) -> Scalar {
        Scalar(reduce_once(&from_be(bytes), 0, &N.m))
    }

    pub fn to_be(&self) -> [u8; 32] {
        to_be(&self.0)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// `self⁻¹ mod n` (`0` for `0`): into Montgomery form, Fermat, and out again.
    pub fn invert(&self) -> Scalar {
        Scalar(mul(&invert(&mul(&self.0, &N.r2, &N), &N), &ONE, &N))
    }
}

impl core::ops::Add for Scalar {
    type Output = Scalar;
    fn add(self, other: Scalar) -> Scalar {
        Scalar(add(&self.0, &other.0, &N))
    }
}

impl core::ops::Mul for Scalar {
    type Output = Scalar;
    /// `a·b mod n`: the Montgomery product is `a·b·R⁻¹`, and a second one with `R²` takes the
    /// `R⁻¹` out.
    fn mul(self, other: Scalar) -> Scalar {
        Scalar(mul(&mul(&self.0, &other.0, &N), &N.r2, &N))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use p256::elliptic_curve::ff::{Field, PrimeField};
    use proptest::prelude::*;

    /// The order n of P-256, big-endian hex.
    pub const ORDER_HEX: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

    type TheirFe = <p256::NistP256 as p256::elliptic_curve::hazmat::FieldArithmetic>::FieldElement;

    fn fe_theirs(bytes: &[u8; 32]) -> Option<TheirFe> {
        TheirFe::from_repr((*bytes).into()).into_option()
    }

    fn sc_theirs(bytes: &[u8; 32]) -> Option<p256::Scalar> {
        p256::Scalar::from_repr((*bytes).into()).into_option()
    }

    fn be_of_fe(x: &TheirFe) -> [u8; 32] {
        x.to_repr().into()
    }

    fn be_of_sc(x: &p256::Scalar) -> [u8; 32] {
        x.to_repr().into()
    }

    /// Integers near the edges: 0, 1, 2, m-2, m-1, m, m+1, 2^256-1, and a few in between.
    fn edges(m: &Words) -> std::vec::Vec<[u8; 32]> {
        let mut out = std::vec![[0u8; 32], [0xFF; 32]];
        for k in 0u32..3 {
            let mut small = [0u32; 8];
            small[0] = k;
            out.push(to_be(&small));
            let (below, _) = sub_words(m, &small);
            out.push(to_be(&below));
            let (above, _) = add_words(m, &small);
            out.push(to_be(&above));
        }
        let mut high = [0u8; 32];
        high[0] = 0x80;
        out.push(high);
        out.push([0x5A; 32]);
        out
    }

    #[test]
    fn the_constants_are_what_they_stand_for() {
        // m from the hex the nonces use, and the derived constants from their definitions.
        let n = hex_words(ORDER_HEX);
        assert_eq!(N.m, n);
        for md in [&P, &N] {
            assert_eq!(md.inv.wrapping_mul(md.m[0]), u32::MAX, "-m⁻¹ mod 2^32");
            let mut two = [0u32; 8];
            two[0] = 2;
            assert_eq!(sub_words(&md.m, &two).0, md.m_minus_2);
            // R mod m = 2^256 - m (m > 2^255); R² mod m = (R mod m)·R mod m, and the Montgomery
            // product of R² with 1 is R.
            assert_eq!(sub_words(&[0; 8], &md.m).0, md.one);
            let mut one = [0u32; 8];
            one[0] = 1;
            assert_eq!(mul(&md.r2, &one, md), md.one);
        }
    }

    fn hex_words(hex: &str) -> Words {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        from_be(&bytes)
    }

    #[test]
    fn field_elements_read_as_p256_reads_them() {
        for e in edges(&P.m) {
            let ours = Fe::from_be(&e);
            assert_eq!(ours.is_some(), fe_theirs(&e).is_some(), "{e:02x?}");
            if let Some(x) = ours {
                assert_eq!(x.to_be(), e);
            }
        }
    }

    #[test]
    fn scalars_read_as_p256_reads_them() {
        for e in edges(&N.m) {
            let theirs = sc_theirs(&e).filter(|x| !bool::from(x.is_zero()));
            let ours = Scalar::nonzero_from_be(&e);
            assert_eq!(
                ours.map(|x| x.to_be()),
                theirs.map(|x| be_of_sc(&x)),
                "{e:02x?}"
            );
            use p256::elliptic_curve::ops::Reduce;
            let reduced = <p256::Scalar as Reduce<p256::FieldBytes>>::reduce(&e.into());
            assert_eq!(Scalar::reduce(&e).to_be(), be_of_sc(&reduced), "{e:02x?}");
        }
    }

    fn field_pairs() -> impl Strategy<Value = ([u8; 32], [u8; 32])> {
        let edge = prop::sample::select(edges(&P.m));
        let any = any::<[u8; 32]>();
        let one = prop_oneof![edge, any];
        (one.clone(), one).prop_filter("below p", |(a, b)| {
            fe_theirs(a).is_some() && fe_theirs(b).is_some()
        })
    }

    fn scalar_pairs() -> impl Strategy<Value = ([u8; 32], [u8; 32])> {
        let edge = prop::sample::select(edges(&N.m));
        let any = any::<[u8; 32]>();
        let one = prop_oneof![edge, any];
        (one.clone(), one).prop_filter("in 1..n-1", |(a, b)| {
            Scalar::nonzero_from_be(a).is_some() && Scalar::nonzero_from_be(b).is_some()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Sums, differences, negations, products, squares and inverses mod p: p256's.
        #[test]
        fn the_field_is_p256s((a, b) in field_pairs()) {
            let (x, y) = (Fe::from_be(&a).unwrap(), Fe::from_be(&b).unwrap());
            let (tx, ty) = (fe_theirs(&a).unwrap(), fe_theirs(&b).unwrap());
            prop_assert_eq!((x + y).to_be(), be_of_fe(&(tx + ty)));
            prop_assert_eq!((x - y).to_be(), be_of_fe(&(tx - ty)));
            prop_assert_eq!((-x).to_be(), be_of_fe(&(-tx)));
            prop_assert_eq!((x * y).to_be(), be_of_fe(&(tx * ty)));
            prop_assert_eq!(x.square().to_be(), be_of_fe(&tx.square()));
            prop_assert_eq!(x.double().to_be(), be_of_fe(&tx.double()));
            let inverse = tx.invert().into_option().unwrap_or(TheirFe::ZERO);
            prop_assert_eq!(x.invert().to_be(), be_of_fe(&inverse));
        }

        /// Sums, products and inverses mod n: p256's.
        #[test]
        fn the_scalars_are_p256s((a, b) in scalar_pairs()) {
            let (x, y) = (Scalar::nonzero_from_be(&a).unwrap(), Scalar::nonzero_from_be(&b).unwrap());
            let (tx, ty) = (sc_theirs(&a).unwrap(), sc_theirs(&b).unwrap());
            prop_assert_eq!((x + y).to_be(), be_of_sc(&(tx + ty)));
            prop_assert_eq!((x * y).to_be(), be_of_sc(&(tx * ty)));
            prop_assert_eq!(x.invert().to_be(), be_of_sc(&tx.invert().unwrap()));
        }
    }

    #[test]
    fn zero_has_no_inverse_and_gives_zero() {
        assert_eq!(Fe::ZERO.invert(), Fe::ZERO);
        assert_eq!(Scalar::reduce(&[0; 32]).invert().to_be(), [0; 32]);
    }

    #[test]
    fn products_at_the_top_of_the_range_stay_reduced() {
        // (m-1)² and (m-1)·(m-2): the running value of the product nears 2m.
        for md in [&P, &N] {
            let mut one = [0u32; 8];
            one[0] = 1;
            let top = sub_words(&md.m, &one).0;
            let next = sub_words(&top, &one).0;
            for (a, b) in [(top, top), (top, next), (next, top)] {
                assert!(below(&mul(&a, &b, md), &md.m));
                assert!(below(&add(&a, &b, md), &md.m));
                assert!(below(&sub(&a, &b, md), &md.m));
            }
        }
    }
}
