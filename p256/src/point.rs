//! The P-256 group (ADR 0018, ADR 0021): points in projective coordinates over [`Fe`], the two scalar
//! multiplications ECDSA needs, and the affine coordinates through a Fermat inverse.
//!
//! `p256`'s own group (`primeorder::ProjectivePoint`) keeps its coordinates private, so an
//! affine `x` can only come out of `to_affine`, which inverts through crypto-bigint's safegcd:
//! 3.8 KB of flash for the two inverses an ECDSA operation takes. The formulas are the ones
//! `primeorder` uses for `a = -3` (Renes–Costello–Batina 2015, algorithms 4 and 6: complete, so
//! no input is a special case). The tests compare every result with `p256`'s.

use crate::Fe;
use subtle::{Choice, ConstantTimeEq};

/// The curve's `b`, in Montgomery form (a test checks it against its hex).
const B: Fe = Fe::from_words([
    0x29C4_BDDF,
    0xD89C_DF62,
    0x7884_3090,
    0xACF0_05CD,
    0xF721_2ED6,
    0xE5A2_20AB,
    0x0487_4834,
    0xDC30_061D,
]);

/// A point `(X : Y : Z)` standing for `(X/Z, Y/Z)`; the identity is `(0 : 1 : 0)`.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Point {
    pub const IDENTITY: Point = Point {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    /// G, in Montgomery form (a test checks it against p256's).
    pub const GENERATOR: Point = Point {
        x: Fe::from_words([
            0x18A9_143C,
            0x79E7_30D4,
            0x5FED_B601,
            0x75BA_95FC,
            0x7762_2510,
            0x79FB_732B,
            0xA537_55C6,
            0x1890_5F76,
        ]),
        y: Fe::from_words([
            0xCE95_560A,
            0xDDF2_5357,
            0xBA19_E45C,
            0x8B4A_B8E4,
            0xDD21_F325,
            0xD2E8_8688,
            0x2588_5D85,
            0x8571_FF18,
        ]),
        z: Fe::ONE,
    };

    /// The point of big-endian affine coordinates, if both are below p and it is on the curve
    /// `y² = x³ - 3x + b` (which the identity is not).
    pub fn from_affine(x: &[u8; 32], y: &[u8; 32]) -> Option<Point> {
        let x = Fe::from_be(x)?;
        let y = Fe::from_be(y)?;
        let three = Fe::ONE.double() + Fe::ONE;
        let on_curve = y.square() == (x.square() - three) * x + B;
        on_curve.then_some(Point { x, y, z: Fe::ONE })
    }

    /// `(x, y)` as field elements; the identity gives `(0, 0)`, as `primeorder`'s does. One
    /// constant-time inverse: `z^(p-2)` is `0` for `z = 0`.
    pub fn affine(&self) -> (Fe, Fe) {
        let z_inv = self.z.invert();
        (self.x * z_inv, self.y * z_inv)
    }

    /// `self = other` if `choice`, in constant time.
    #[inline]
    fn assign_if(&mut self, other: &Point, choice: Choice) {
        self.x.conditional_assign(&other.x, choice);
        self.y.conditional_assign(&other.y, choice);
        self.z.conditional_assign(&other.z, choice);
    }

    #[cfg(test)]
    fn neg(&self) -> Point {
        Point {
            y: -self.y,
            ..*self
        }
    }

    /// `self + other`, complete: RCB 2015, algorithm 4 (`a = -3`), as `primeorder` writes it
    /// (the program `ADD`).
    pub fn add(&self, other: &Point) -> Point {
        run(&ADD, self, other)
    }

    /// `2·self`: RCB 2015, algorithm 6 (`a = -3`), as `primeorder` writes it (the program `DOUBLE`).
    pub fn double(&self) -> Point {
        run(&DOUBLE, self, self)
    }

    /// `k·self` in constant time, `k` big-endian: `k`'s signed radix-16 digits (-8..=8) over a
    /// table of `1·P ..= 8·P`, each entry picked by a scan of the whole table and negated by a
    /// select (as `primeorder`'s `mul`). 256 doublings and 65 additions; the table is 768 B.
    #[inline(never)]
    pub fn mul(&self, k: &[u8; 32]) -> Point {
        let mut table = [Point::IDENTITY; 8];
        let mut multiple = Point::IDENTITY;
        for entry in &mut table {
            multiple = multiple.add(self);
            *entry = multiple;
        }
        // 64 digits from the low nibble up, each moved into -8..=7 by a carry into the next;
        // the last carry is a 65th digit.
        let mut digits = [0i8; 64];
        let mut carry = 0i8;
        for (pair, byte) in digits.chunks_exact_mut(2).zip(k.iter().rev()) {
            for (digit, nibble) in pair.iter_mut().zip([byte & 15, byte >> 4]) {
                let d = nibble as i8 + carry;
                carry = (d + 8) >> 4;
                *digit = d - (carry << 4);
            }
        }
        let mut q = select(&table, carry);
        for &digit in digits.iter().rev() {
            for _ in 0..4 {
                q = q.double();
            }
            q = q.add(&select(&table, digit));
        }
        q
    }
}

// The group law as straight-line programs over field registers, run by one loop: written
// out, each of the 43 and 34 operations was a call with its three addresses set up, 1.2 KB
// of flash for the two formulas; as data each is 4 bytes. The sequence of operations does not
// depend on the points, so the law stays constant time. Registers 0-5 hold the two points'
// coordinates, 6 the curve's `b`; the result is left in 0-2. Field arithmetic is exact, so the
// steps compute `primeorder`'s values whatever order they take them in; the tests compare
// every result with `p256`'s.

/// What a step computes.
#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Sub,
    Mul,
}

/// `r[dst] = r[a] op r[b]`: (op, dst, a, b).
type Step = (Op, u8, u8, u8);

/// Registers of the programs.
const REGS: usize = 18;

use Op::{Add as A, Mul as M, Sub as S};

/// RCB 2015, algorithm 4 (complete addition, `a = -3`). Inputs `(X1, Y1, Z1)` in 0-2,
/// `(X2, Y2, Z2)` in 3-5; the names are `primeorder`'s.
const ADD: [Step; 43] = [
    (M, 7, 0, 3),    // xx
    (M, 8, 1, 4),    // yy
    (M, 9, 2, 5),    // zz
    (A, 10, 0, 1),   //
    (A, 11, 3, 4),   //
    (M, 10, 10, 11), //
    (A, 11, 7, 8),   //
    (S, 10, 10, 11), // xy_pairs = (x1 + y1)(x2 + y2) - (xx + yy)
    (A, 11, 1, 2),   //
    (A, 12, 4, 5),   //
    (M, 11, 11, 12), //
    (A, 12, 8, 9),   //
    (S, 11, 11, 12), // yz_pairs = (y1 + z1)(y2 + z2) - (yy + zz)
    (A, 12, 0, 2),   //
    (A, 13, 3, 5),   //
    (M, 12, 12, 13), //
    (A, 13, 7, 9),   //
    (S, 12, 12, 13), // xz_pairs = (x1 + z1)(x2 + z2) - (xx + zz)
    (M, 13, 6, 9),   //
    (S, 13, 12, 13), // bzz_part = xz_pairs - b·zz
    (A, 14, 13, 13), //
    (A, 13, 14, 13), // bzz3_part = 3·bzz_part
    (S, 14, 8, 13),  // yy_m_bzz3
    (A, 15, 8, 13),  // yy_p_bzz3
    (A, 13, 9, 9),   //
    (A, 13, 13, 9),  // zz3 = 3·zz
    (M, 16, 6, 12),  //
    (A, 17, 13, 7),  //
    (S, 16, 16, 17), // bxz_part = b·xz_pairs - (zz3 + xx)
    (A, 17, 16, 16), //
    (A, 16, 17, 16), // bxz3_part = 3·bxz_part
    (A, 17, 7, 7),   //
    (A, 17, 17, 7),  //
    (S, 17, 17, 13), // xx3_m_zz3 = 3·xx - zz3
    (M, 3, 15, 10),  //
    (M, 4, 11, 16),  //
    (S, 0, 3, 4),    // x = yy_p_bzz3·xy_pairs - yz_pairs·bxz3_part
    (M, 3, 15, 14),  //
    (M, 4, 17, 16),  //
    (A, 1, 3, 4),    // y = yy_p_bzz3·yy_m_bzz3 + xx3_m_zz3·bxz3_part
    (M, 3, 14, 11),  //
    (M, 4, 10, 17),  //
    (A, 2, 3, 4),    // z = yy_m_bzz3·yz_pairs + xy_pairs·xx3_m_zz3
];

/// RCB 2015, algorithm 6 (doubling, `a = -3`). Input `(X, Y, Z)` in 0-2.
const DOUBLE: [Step; 34] = [
    (M, 7, 0, 0),    // xx
    (M, 8, 1, 1),    // yy
    (M, 9, 2, 2),    // zz
    (M, 10, 0, 1),   //
    (A, 10, 10, 10), // xy2 = 2·x·y
    (M, 11, 0, 2),   //
    (A, 11, 11, 11), // xz2 = 2·x·z
    (M, 12, 6, 9),   //
    (S, 12, 12, 11), // bzz_part = b·zz - xz2
    (A, 13, 12, 12), //
    (A, 12, 13, 12), // bzz3_part = 3·bzz_part
    (S, 13, 8, 12),  // yy_m_bzz3
    (A, 14, 8, 12),  // yy_p_bzz3
    (M, 14, 14, 13), // y_frag = yy_p_bzz3·yy_m_bzz3
    (M, 13, 13, 10), // x_frag = yy_m_bzz3·xy2
    (A, 12, 9, 9),   //
    (A, 12, 12, 9),  // zz3 = 3·zz
    (M, 15, 6, 11),  //
    (A, 16, 12, 7),  //
    (S, 15, 15, 16), // bxz2_part = b·xz2 - (zz3 + xx)
    (A, 16, 15, 15), //
    (A, 15, 16, 15), // bxz6_part = 3·bxz2_part
    (A, 16, 7, 7),   //
    (A, 16, 16, 7),  //
    (S, 16, 16, 12), // xx3_m_zz3 = 3·xx - zz3
    (M, 17, 1, 2),   //
    (A, 17, 17, 17), // yz2 = 2·y·z
    (M, 3, 15, 17),  //
    (S, 0, 13, 3),   // x = x_frag - bxz6_part·yz2
    (M, 3, 16, 15),  //
    (A, 1, 14, 3),   // y = y_frag + xx3_m_zz3·bxz6_part
    (M, 3, 17, 8),   //
    (A, 3, 3, 3),    //
    (A, 2, 3, 3),    // z = 4·yz2·yy
];

/// `program` over `p`, `q` and `b`; the point it leaves in registers 0-2.
#[inline(never)]
fn run(program: &[Step], p: &Point, q: &Point) -> Point {
    let mut r = [Fe::ZERO; REGS];
    let [x1, y1, z1, x2, y2, z2, b, ..] = &mut r;
    (*x1, *y1, *z1, *x2, *y2, *z2, *b) = (p.x, p.y, p.z, q.x, q.y, q.z, B);
    for &(op, dst, a, b) in program {
        // The programs name registers below `REGS` (a test runs both).
        let (Some(x), Some(y)) = (r.get(usize::from(a)), r.get(usize::from(b))) else {
            continue;
        };
        let v = match op {
            Op::Add => crate::add(&x.0, &y.0, &crate::P),
            Op::Sub => crate::sub(&x.0, &y.0, &crate::P),
            Op::Mul => crate::mul(&x.0, &y.0, &crate::P),
        };
        if let Some(slot) = r.get_mut(usize::from(dst)) {
            *slot = Fe(v);
        }
    }
    let [x, y, z, ..] = r;
    Point { x, y, z }
}

/// `|d|·P` negated when `d < 0`, from `table[i] = (i+1)·P`, reading every entry whatever `d`.
fn select(table: &[Point; 8], d: i8) -> Point {
    let negative = (d as u8) >> 7;
    let magnitude = ((d ^ -(negative as i8)) + negative as i8) as u8;
    let mut out = Point::IDENTITY;
    for (entry, i) in table.iter().zip(1u8..) {
        out.assign_if(entry, magnitude.ct_eq(&i));
    }
    let minus_y = -out.y;
    out.y.conditional_assign(&minus_y, Choice::from(negative));
    out
}

/// `a·G + b·Q` in variable time (verification: every input is public): Shamir's trick, the
/// bits of both scalars from the top, one doubling each and an addition of `G`, `Q` or `G + Q`
/// where either bit is set.
#[inline(never)]
pub fn lincomb(a: &[u8; 32], b: &[u8; 32], q: &Point) -> Point {
    let table = [Point::GENERATOR, *q, Point::GENERATOR.add(q)];
    let mut r = Point::IDENTITY;
    for (x, y) in a.iter().zip(b) {
        for bit in (0..8).rev() {
            r = r.double();
            let pick = ((x >> bit) & 1) | (((y >> bit) & 1) << 1);
            if let Some(p) = pick.checked_sub(1).and_then(|i| table.get(usize::from(i))) {
                r = r.add(p);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::point::AffineCoordinates;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Our point's affine coordinates, 64 big-endian bytes (zeros for the identity).
    fn ours(p: &Point) -> [u8; 64] {
        let (x, y) = p.affine();
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&x.to_be());
        out[32..].copy_from_slice(&y.to_be());
        out
    }

    /// p256's, the same way.
    fn theirs(p: &p256::ProjectivePoint) -> [u8; 64] {
        let a = p.to_affine();
        let mut out = [0u8; 64];
        if a != p256::AffinePoint::IDENTITY {
            out[..32].copy_from_slice(&a.x());
            out[32..].copy_from_slice(&a.y());
        }
        out
    }

    fn scalar(k: &[u8; 32]) -> p256::Scalar {
        use p256::elliptic_curve::ops::Reduce;
        <p256::Scalar as Reduce<p256::FieldBytes>>::reduce(&(*k).into())
    }

    #[test]
    fn the_constants_are_the_curves() {
        use p256::elliptic_curve::ff::PrimeField;
        use primeorder::PrimeCurveParams;
        let b = <p256::NistP256 as PrimeCurveParams>::EQUATION_B.to_repr();
        assert_eq!(Fe::from_be(&b.into()), Some(B));
        let (gx, gy) = <p256::NistP256 as PrimeCurveParams>::GENERATOR;
        assert_eq!(Fe::from_be(&gx.to_repr().into()), Some(Point::GENERATOR.x));
        assert_eq!(Fe::from_be(&gy.to_repr().into()), Some(Point::GENERATOR.y));
        assert_eq!(Point::GENERATOR.z, Fe::ONE);
    }

    /// `k·G` on both sides, as (ours, p256's).
    fn point_of(k: &[u8; 32]) -> (Point, p256::ProjectivePoint) {
        (
            Point::GENERATOR.mul(k),
            p256::ProjectivePoint::GENERATOR * scalar(k),
        )
    }

    /// Scalars whose radix-16 and NAF digits hit every carry: all 8s, all 7s, all Fs, n - 1,
    /// n, n + 1 (reduced mod n by p256), 2^255, and single nibbles.
    fn edges() -> Vec<[u8; 32]> {
        let n = <[u8; 32]>::try_from(
            &p256::U256::from_be_hex(crate::tests::ORDER_HEX).to_be_bytes()[..],
        )
        .unwrap();
        let mut n_minus_1 = n;
        n_minus_1[31] -= 1;
        let mut n_plus_1 = n;
        n_plus_1[31] += 1;
        let mut top = [0u8; 32];
        top[0] = 0x80;
        let mut v = std::vec![
            [0u8; 32], [0x88; 32], [0x77; 32], [0xFF; 32], [0x78; 32], [0x87; 32], n_minus_1, n,
            n_plus_1, top,
        ];
        for at in [0, 1, 15, 16, 31] {
            for b in [1u8, 7, 8, 9, 0x0F, 0xF0, 0x80] {
                let mut k = [0u8; 32];
                k[at] = b;
                v.push(k);
            }
        }
        v
    }

    /// Every step names registers that exist, and reads only the inputs (0-6) or what an
    /// earlier step wrote: `run` skips no step and reads no stale register.
    #[test]
    fn the_programs_read_only_what_they_wrote() {
        for (program, inputs) in [(&ADD[..], 7), (&DOUBLE[..], 7)] {
            let mut written = [false; REGS];
            written[..inputs].fill(true);
            for (i, &(_, dst, a, b)) in program.iter().enumerate() {
                for reg in [a, b] {
                    assert!(written[usize::from(reg)], "step {i} reads r{reg} unwritten");
                }
                written[usize::from(dst)] = true;
            }
        }
    }

    #[test]
    fn the_group_law_on_its_special_cases() {
        let (p, _) = point_of(&[3u8; 32]);
        let id = Point::IDENTITY;
        assert_eq!(ours(&p.add(&p)), ours(&p.double()));
        assert_eq!(ours(&p.add(&p.neg())), [0u8; 64]);
        assert_eq!(p.add(&p.neg()).z, Fe::ZERO);
        assert_eq!(ours(&p.add(&id)), ours(&p));
        assert_eq!(ours(&id.add(&p)), ours(&p));
        assert_eq!(id.double().z, Fe::ZERO);
        assert_eq!(id.add(&id).z, Fe::ZERO);
        // G's coordinates come back out of `from_affine` and `affine` unchanged.
        let g = ours(&Point::GENERATOR);
        let back = Point::from_affine(g[..32].try_into().unwrap(), g[32..].try_into().unwrap());
        assert_eq!(ours(&back.unwrap()), g);
        assert_eq!(g, theirs(&p256::ProjectivePoint::GENERATOR));
    }

    #[test]
    fn mul_and_lincomb_on_the_edges() {
        let q = point_of(&[0x5Au8; 32]);
        for k in edges() {
            let (mine, reference) = point_of(&k);
            assert_eq!(ours(&mine), theirs(&reference), "k·G, k = {k:02x?}");
            assert_eq!(
                ours(&q.0.mul(&k)),
                theirs(&(q.1 * scalar(&k))),
                "k·Q, k = {k:02x?}"
            );
            for b in [[0u8; 32], [1u8; 32], k] {
                assert_eq!(
                    ours(&lincomb(&k, &b, &q.0)),
                    theirs(&(p256::ProjectivePoint::GENERATOR * scalar(&k) + q.1 * scalar(&b))),
                    "a·G + b·Q, a = {k:02x?}, b = {b:02x?}"
                );
            }
        }
        // Q = G and Q = -G: the table's G + Q is 2G, or the identity.
        for (mine, reference) in [
            (Point::GENERATOR, p256::ProjectivePoint::GENERATOR),
            (Point::GENERATOR.neg(), -p256::ProjectivePoint::GENERATOR),
        ] {
            for (a, b) in [([3u8; 32], [5u8; 32]), ([0xFF; 32], [1u8; 32])] {
                assert_eq!(
                    ours(&lincomb(&a, &b, &mine)),
                    theirs(
                        &(p256::ProjectivePoint::GENERATOR * scalar(&a) + reference * scalar(&b))
                    )
                );
            }
        }
        // a·G + b·Q = identity when Q = c·G and a = -b·c: the sum must come out as (0, 0).
        let c = scalar(&[0x5Au8; 32]);
        let b = scalar(&[0x11u8; 32]);
        let a: [u8; 32] = (-(b * c)).to_bytes().into();
        let sum = lincomb(&a, &b.to_bytes().into(), &q.0);
        assert_eq!(sum.z, Fe::ZERO);
        assert_eq!(ours(&sum), [0u8; 64]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn mul_and_lincomb_agree_with_p256(
            k in any::<[u8; 32]>(),
            a in any::<[u8; 32]>(),
            c in any::<[u8; 32]>(),
        ) {
            let (q, reference_q) = point_of(&c);
            prop_assert_eq!(ours(&q.mul(&k)), theirs(&(reference_q * scalar(&k))));
            prop_assert_eq!(
                ours(&lincomb(&a, &k, &q)),
                theirs(&(p256::ProjectivePoint::GENERATOR * scalar(&a) + reference_q * scalar(&k)))
            );
        }

    }
}
