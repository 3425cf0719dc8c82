//! RFC 6979 nonces (§3.2) for P-256 over SHA-256, for both backends (ADR 0018).
//!
//! The `rfc6979` crate is written for any group order: its `bits2int` and `int2octets` shift
//! and mask by the order's bit length through crypto-bigint's generic shifts (about 900 B of
//! flash on the Cortex-M4). For P-256 with SHA-256, `qlen = hlen = 256`: `bits2int` is the
//! identity, `int2octets` of a scalar is its 32 bytes, and `bits2octets(h)` is `h mod n`,
//! one subtraction at most. What is left is HMAC-DRBG, its HMAC written out over the core's
//! one SHA-256 ([`super::sha256`]; the `hmac` crate's was 240 B more of flash). The candidates
//! are the `rfc6979` crate's, byte for byte: the tests below and `core/tests/crypto_vectors.rs`
//! compare them with it.

/// The group order n of P-256, big-endian (`super::ORDER_HEX`).
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// HMAC-DRBG's state `(K, V)`, seeded with the secret and the digest.
pub struct Nonces {
    k: [u8; 32],
    v: [u8; 32],
}

/// `K` and `V` lead to the next nonce, and a nonce to the key: cleared when the signature is
/// done (ADR 0022).
impl Drop for Nonces {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.k);
        zeroize::Zeroize::zeroize(&mut self.v);
    }
}

impl Nonces {
    /// RFC 6979 §3.2 steps b to g, with no extra data: `x` is the secret (big-endian, below
    /// n), `digest` the message's SHA-256.
    pub fn new(x: &[u8; 32], digest: &[u8; 32]) -> Nonces {
        let h1 = mod_n(digest);
        let mut state = Nonces {
            k: [0; 32],
            v: [1; 32],
        };
        for tag in [0x00, 0x01] {
            state.k = state.mac(&[&state.v, &[tag], x, &h1]);
            state.v = state.mac(&[&state.v]);
        }
        state
    }

    /// Step h: the next candidate `T`, big-endian, and the state moved on past it (`K`, `V`
    /// updated as for a rejected candidate, as the crate does after every one). The caller
    /// keeps it only if it is in 1..n-1, and otherwise asks for the next.
    pub fn next(&mut self) -> [u8; 32] {
        self.v = self.mac(&[&self.v]);
        let candidate = self.v;
        self.k = self.mac(&[&self.v, &[0x00]]);
        self.v = self.mac(&[&self.v]);
        candidate
    }

    /// `HMAC_K(parts...)` (RFC 2104), for at most four parts. The 32-byte key is used as its
    /// zero-padded 64-byte block, as HMAC pads any key shorter than a block.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut pad = [0x36u8; 64];
        for (p, k) in pad.iter_mut().zip(self.k) {
            *p ^= k;
        }
        let mut inner: [&[u8]; 5] = [&[]; 5];
        for (slot, part) in inner.iter_mut().skip(1).zip(parts) {
            *slot = part;
        }
        inner[0] = &pad;
        let inner = super::sha256(&inner);
        // The outer pad from the inner one: 0x5C = 0x36 ^ 0x6A.
        for p in pad.iter_mut() {
            *p ^= 0x6A;
        }
        super::sha256(&[&pad, &inner])
    }
}

/// `h mod n` for a 256-bit `h`: below `2n`, so one subtraction at most. `h` is the public
/// digest, so the branch leaks nothing.
fn mod_n(h: &[u8; 32]) -> [u8; 32] {
    let mut out = *h;
    if *h >= N {
        let mut borrow = 0u16;
        for (o, n) in out.iter_mut().rev().zip(N.iter().rev()) {
            let d = u16::from(*o)
                .wrapping_sub(u16::from(*n))
                .wrapping_sub(borrow);
            *o = d as u8;
            borrow = d >> 15;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_is_the_same_constant() {
        let order = p256::U256::from_be_hex(super::super::ORDER_HEX).to_be_bytes();
        assert_eq!(&N[..], &order[..]);
    }

    /// Against the `rfc6979` crate's own generator, candidate after candidate: digests below,
    /// at and past n (the reduction), and secrets near both ends.
    #[test]
    fn the_candidates_are_the_crates() {
        let mut n_plus_5 = N;
        n_plus_5[31] += 5;
        let mut n_minus_1 = N;
        n_minus_1[31] -= 1;
        for x in [[1u8; 32], n_minus_1, [0x5Au8; 32]] {
            for h in [[0u8; 32], [7u8; 32], N, n_plus_5, [0xFF; 32]] {
                let order = p256::U256::from_be_hex(super::super::ORDER_HEX);
                let mut theirs =
                    rfc6979::KGenerator::<sha2::Sha256, p256::U256>::new(&x, &h, &[], &order);
                let mut ours = Nonces::new(&x, &h);
                for _ in 0..4 {
                    let mut k = [0u8; 32];
                    theirs.fill_next_k(&mut k);
                    // The crate skips candidates out of 1..n-1 (probability ~2^-32 each).
                    let mut mine = ours.next();
                    while mine == [0u8; 32] || mine >= N {
                        mine = ours.next();
                    }
                    assert_eq!(mine, k, "x {x:02x?} h {h:02x?}");
                }
            }
        }
    }

    /// RFC 6979 A.2.5: the key and the nonce it gives for "sample" (also in
    /// `core/tests/data/p256_kat.txt`, where the firmware's crypto check reads it).
    #[test]
    fn the_rfc_nonce_of_sample() {
        let hex = |s: &str| -> [u8; 32] {
            let v: std::vec::Vec<u8> = (0..32)
                .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            v.try_into().unwrap()
        };
        let x = hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
        let h = super::super::sha256(&[b"sample"]);
        assert_eq!(
            Nonces::new(&x, &h).next(),
            hex("a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60")
        );
    }

    #[test]
    fn mod_n_subtracts_once_from_n_up() {
        assert_eq!(mod_n(&N), [0u8; 32]);
        let mut n_plus_5 = N;
        n_plus_5[31] += 5;
        let mut five = [0u8; 32];
        five[31] = 5;
        assert_eq!(mod_n(&n_plus_5), five);
        let mut n_minus_1 = N;
        n_minus_1[31] -= 1;
        assert_eq!(mod_n(&n_minus_1), n_minus_1);
        // 2^256 - 1 - n = 0x00000000FFFFFFFF00000000000000004319055258E8617B0C46353D039CDAAE
        let expected = p256::U256::from_be_hex(
            "00000000FFFFFFFF00000000000000004319055258E8617B0C46353D039CDAAE",
        )
        .to_be_bytes();
        assert_eq!(&mod_n(&[0xFF; 32])[..], &expected[..]);
    }
}
