//! ECDSA P-256 over SHA-256 digests (DESIGN.md §3, GAP-3): the one place the core calls into
//! elliptic-curve code, so the backend can be chosen per target.
//!
//! Signatures are RFC 6979 deterministic, so a device needs no RNG, and the same key and digest
//! give the same bytes on every backend. Two backends, one chosen at build time ([`BACKEND`]):
//!
//! - `p256` (portable): the default, and the reference on every target. ECDSA's steps are
//!   written out (verify: ADR 0014; signing: ADR 0017) over the `tally-p256` crate's field,
//!   scalars and group law (ADR 0018, ADR 0021), and checked against RustCrypto's `ecdsa` in
//!   the tests.
//! - `p256-cm4` (feature `p256-cm4`): the `p256-cm4` crate, a Rust port of the P256-Cortex-M4
//!   assembly, for Cortex-M4/M4F (`thumbv7em-none-eabi`, `thumbv7em-none-eabihf`). It takes the
//!   nonce as an argument.
//!
//! Both backends take their nonces from `crypto/nonce.rs`: RFC 6979 exactly as RustCrypto `ecdsa`
//! derives them with the `rfc6979` crate (HMAC-DRBG over SHA-256 from the secret and the
//! digest, no extra data, next candidate when `k` is out of range or `r` or `s` comes out
//! zero), so the signatures are byte-identical.
//!
//! Where the feature applies (the condition below matches the one in `core/Cargo.toml`):
//!
//! - bare-metal ARM with 32-bit atomics (the thumbv7em targets): `p256-cm4`. Stable `cfg` cannot
//!   tell a Cortex-M4 from an M3 or M33; on those the p256-cm4 assembly (UMAAL, a DSP
//!   instruction) does not build, so the mistake is still caught at build time.
//! - Cortex-M0/M0+ (`thumbv6m`, no 32-bit atomics): `compile_error!`. Asking for M4 assembly on
//!   an M0 board is a configuration mistake, and quietly shipping the portable backend would hide
//!   a 6x slower verify behind a feature that says otherwise.
//! - the host and every target with an OS: the portable backend. Features are unified across a
//!   workspace build (`--all-features`, or a firmware feature reaching `tally-core` while the
//!   host crates build in the same invocation), the host never runs the assembly, and the host
//!   tests are the reference the Cortex-M4 results are compared with.
//!
//! `core/tests/crypto_vectors.rs` holds the known answers (RFC 6979 A.2.5) and Wycheproof
//! vectors for the host; `firmware/src/bin/crypto_bench.rs` runs the same ones on the Cortex-M4
//! under QEMU with whichever backend it was built with (`scripts/bench-crypto.sh`).

use tally_hal::{DeviceKey, KeyError, PublicKey, Signature};
use zeroize::Zeroize;

/// Why a signature did not verify or could not be made.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// The public key is not a valid SEC1 P-256 point.
    BadKey,
    /// The secret scalar is zero or not below the group order.
    BadSecret,
    /// The signature is malformed or does not verify.
    BadSignature,
}

/// The group order n of P-256, big-endian hex: the tests check `nonce::N` (both backends) and
/// `tally_p256::N` against it.
#[cfg(test)]
const ORDER_HEX: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

/// The backend this build uses: `"p256"` or `"p256-cm4"`.
pub const BACKEND: &str = backend::NAME;

#[cfg(all(
    feature = "p256-cm4",
    target_arch = "arm",
    target_os = "none",
    not(target_has_atomic = "32")
))]
compile_error!(
    "feature `p256-cm4` is Cortex-M4 assembly (thumbv7em); build this target without it"
);

/// Verify `sig` (`r || s`, 64 bytes) over `digest` with the SEC1 public key `key`.
///
/// The key is checked first: a bad key gives [`CryptoError::BadKey`] whatever the signature.
pub fn verify_prehash(key: &PublicKey, digest: &[u8; 32], sig: &[u8]) -> Result<(), CryptoError> {
    backend::verify_prehash(key, digest, sig)
}

/// SHA-256 of `parts` one after the other: `sha2`'s compression function over blocks buffered
/// and padded here (FIPS 180-4 §5.1.1, §6.2). Every digest of the core goes through this one
/// copy: `sha2::Sha256`'s generic block buffer, its `update` and `finalize` and the `digest`
/// traits' wrappers were 112 B more of flash than a 64-byte buffer and a length (ADR 0021).
#[inline(never)]
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    // The initial hash value H(0) (FIPS 180-4 §5.3.3).
    let mut state: [u32; 8] = [
        0x6A09_E667,
        0xBB67_AE85,
        0x3C6E_F372,
        0xA54F_F53A,
        0x510E_527F,
        0x9B05_688C,
        0x1F83_D9AB,
        0x5BE0_CD19,
    ];
    let mut block = [0u8; 64];
    let mut fill = 0usize;
    let mut total = 0u64;
    // Whole runs copied into the block: a byte at a time was 52 B smaller and ~30
    // instructions a byte slower (a 30-report message's signature +12 % with p256-cm4).
    for part in parts {
        total = total.wrapping_add(part.len() as u64);
        let mut rest: &[u8] = part;
        while let Some((now, later)) = rest.split_at_checked((block.len() - fill).min(rest.len())) {
            if now.is_empty() {
                break;
            }
            if let Some(dst) = block.get_mut(fill..fill + now.len()) {
                dst.copy_from_slice(now);
            }
            fill += now.len();
            rest = later;
            if fill == block.len() {
                sha2::block_api::compress256(&mut state, core::slice::from_ref(&block));
                fill = 0;
            }
        }
    }
    // A 1 bit, zeros, and the length in bits in the last 8 bytes of a block.
    if let Some(b) = block.get_mut(fill) {
        *b = 0x80;
    }
    if let Some(tail) = block.get_mut(fill + 1..) {
        tail.fill(0);
    }
    if fill >= 56 {
        sha2::block_api::compress256(&mut state, core::slice::from_ref(&block));
        block.fill(0);
    }
    if let Some(len) = block.last_chunk_mut::<8>() {
        *len = total.wrapping_mul(8).to_be_bytes();
    }
    sha2::block_api::compress256(&mut state, core::slice::from_ref(&block));
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The SEC1 uncompressed public key of a secret scalar (big-endian).
pub fn public_key(secret: &[u8; 32]) -> Result<PublicKey, CryptoError> {
    backend::public_key(secret)
}

/// RFC 6979 deterministic ECDSA signature of `digest` with the secret scalar (big-endian).
pub fn sign_prehash(secret: &[u8; 32], digest: &[u8; 32]) -> Result<Signature, CryptoError> {
    backend::sign_prehash(secret, digest)
}

mod nonce;

/// Portable, constant-time, over `tally-p256`: ~12 M instructions per signature on a Cortex-M4.
#[cfg(not(all(
    feature = "p256-cm4",
    target_arch = "arm",
    target_os = "none",
    target_has_atomic = "32"
)))]
mod backend {
    use super::CryptoError;
    use tally_hal::{PublicKey, Signature};
    use tally_p256::{self as point, Point, Scalar};
    use zeroize::Zeroize;

    pub const NAME: &str = "p256";

    pub fn verify_prehash(
        key: &PublicKey,
        digest: &[u8; 32],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        // The key is always SEC1 uncompressed (`0x04 || X || Y`), checked on the curve; the
        // point decompression of `from_sec1_bytes` (1.6 KB of flash) is not linked.
        let (&tag, xy) = key.split_first().ok_or(CryptoError::BadKey)?;
        let (Some(x), Some(y)) = (xy.first_chunk(), xy.last_chunk()) else {
            return Err(CryptoError::BadKey);
        };
        if tag != 0x04 {
            return Err(CryptoError::BadKey);
        }
        let q = Point::from_affine(x, y).ok_or(CryptoError::BadKey)?;
        // `r || s`, each in 1..n-1 (as `ecdsa::Signature::from_slice` checks them).
        let (Some(r), Some(s), 64) = (sig.first_chunk(), sig.last_chunk(), sig.len()) else {
            return Err(CryptoError::BadSignature);
        };
        let (Some(r), Some(s)) = (Scalar::nonzero_from_be(r), Scalar::nonzero_from_be(s)) else {
            return Err(CryptoError::BadSignature);
        };
        verify_point(&q, digest, &r, &s)
    }

    /// `x mod n` of a field element: ECDSA's `r`.
    fn x_mod_n(x: &point::Fe) -> Scalar {
        Scalar::reduce(&x.to_be())
    }

    /// ECDSA verification (SEC 1 §4.1.4) of a prehashed digest, the same steps as
    /// `ecdsa::hazmat::verify_prehashed` (ecdsa 0.17). `r` and `s` are already in 1..n-1;
    /// P-256 signatures are not normalised to low-S, so a high `s` is valid.
    fn verify_point(
        q: &Point,
        digest: &[u8; 32],
        r: &Scalar,
        s: &Scalar,
    ) -> Result<(), CryptoError> {
        // The digest is exactly as wide as n, so it is taken whole, then reduced mod n.
        let z = Scalar::reduce(digest);
        let s_inv = s.invert();
        let u1 = z * s_inv;
        let u2 = *r * s_inv;
        let (x, _) = point::lincomb(&u1.to_be(), &u2.to_be(), q).affine();
        // The identity maps to x = 0, which never equals a non-zero r.
        if *r == x_mod_n(&x) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Nonce candidates tried before giving up. A candidate fails only when `r` or `s` is zero
    /// (probability ~2^-256 each), so the first one is used in practice; the bound keeps the
    /// function total.
    const NONCE_TRIES: usize = 16;

    /// The secret scalar, checked to be in 1..n-1. Building one derives the public key (as much
    /// work as a signature), so [`super::LocalKey`] builds it once.
    #[derive(Clone)]
    pub struct Signer(Scalar);

    impl Drop for Signer {
        fn drop(&mut self) {
            self.0.zeroize(); // ADR 0022
        }
    }

    impl Signer {
        /// The secret alone, without its public key.
        fn of(secret: &[u8; 32]) -> Result<Signer, CryptoError> {
            Scalar::nonzero_from_be(secret)
                .map(Signer)
                .ok_or(CryptoError::BadSecret)
        }

        pub fn new(secret: &[u8; 32]) -> Result<(Signer, PublicKey), CryptoError> {
            let signer = Signer::of(secret)?;
            let (x, y) = Point::GENERATOR.mul(secret).affine();
            // SEC1 uncompressed: 0x04 || X || Y.
            let mut public = [0u8; 65];
            let (tag, xy) = public.split_at_mut(1);
            let (x_out, y_out) = xy.split_at_mut(32);
            tag.fill(0x04);
            x_out.copy_from_slice(&x.to_be());
            y_out.copy_from_slice(&y.to_be());
            Ok((signer, public))
        }

        /// ECDSA signing (SEC 1 §4.1.3) with an RFC 6979 nonce: the steps of
        /// `ecdsa::hazmat::sign_prehashed_rfc6979` (ecdsa 0.17), so the signatures are
        /// byte-identical to `ecdsa::SigningKey`'s (`core/tests/crypto_vectors.rs` compares
        /// them). Every step on `d` and `k` is constant-time (the table scans of
        /// [`Point::mul`], the Fermat inverses, the Montgomery products, the modular sum);
        /// only whether a candidate failed, which happens with probability ~2^-256, is
        /// branched on.
        pub fn sign(&self, digest: &[u8; 32]) -> Result<Signature, CryptoError> {
            let d = self.0;
            // The digest is exactly as wide as n, so it is taken whole, then reduced mod n.
            let z = Scalar::reduce(digest);
            let mut nonces = super::nonce::Nonces::new(&d.to_be(), digest);
            for _ in 0..NONCE_TRIES {
                // A candidate out of 1..n-1 is skipped, as the `rfc6979` crate skips it.
                let mut candidate = nonces.next();
                let k = Scalar::nonzero_from_be(&candidate);
                candidate.zeroize();
                let Some(mut k) = k else {
                    continue;
                };
                let (x, _) = Point::GENERATOR.mul(&k.to_be()).affine();
                let r = x_mod_n(&x);
                let mut k_inv = k.invert();
                let s = k_inv * (z + r * d);
                // The nonce gives the key away with the signature: cleared (ADR 0022).
                k.zeroize();
                k_inv.zeroize();
                if r.is_zero() | s.is_zero() {
                    continue;
                }
                let mut out = [0u8; 64];
                let (r_out, s_out) = out.split_at_mut(32);
                r_out.copy_from_slice(&r.to_be());
                s_out.copy_from_slice(&s.to_be());
                return Ok(out);
            }
            Err(CryptoError::BadSignature)
        }
    }

    pub fn public_key(secret: &[u8; 32]) -> Result<PublicKey, CryptoError> {
        Signer::new(secret).map(|(_, public)| public)
    }

    /// Without the public key (a derivation as long as the signature itself).
    pub fn sign_prehash(secret: &[u8; 32], digest: &[u8; 32]) -> Result<Signature, CryptoError> {
        Signer::of(secret)?.sign(digest)
    }
}

/// `p256-cm4`: the P256-Cortex-M4 assembly. Its integers are `[u32; 8]`, least significant word
/// first; ours are 32 big-endian bytes.
#[cfg(all(
    feature = "p256-cm4",
    target_arch = "arm",
    target_os = "none",
    target_has_atomic = "32"
))]
mod backend {
    use super::CryptoError;
    use tally_hal::{PublicKey, Signature};
    use zeroize::Zeroize;

    pub const NAME: &str = "p256-cm4";

    /// See the portable backend's.
    const NONCE_TRIES: usize = 16;

    fn words(be: &[u8; 32]) -> [u32; 8] {
        let mut out = [0u32; 8];
        for (word, chunk) in out.iter_mut().zip(be.rchunks_exact(4)) {
            if let [a, b, c, d] = *chunk {
                *word = u32::from_be_bytes([a, b, c, d]);
            }
        }
        out
    }

    fn write_be(words: &[u32; 8], out: &mut [u8]) {
        for (chunk, word) in out.rchunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }

    pub fn verify_prehash(
        key: &PublicKey,
        digest: &[u8; 32],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        // Uncompressed SEC1 only, like the portable backend (p256-cm4 would also take the
        // 0x06/0x07 "hybrid" tags). The parser checks both coordinates < p and the curve equation.
        let (mut x, mut y) = ([0u32; 8], [0u32; 8]);
        if key.first() != Some(&0x04) || !p256_cm4::octet_string_to_point(&mut x, &mut y, key) {
            return Err(CryptoError::BadKey);
        }
        let (r, s) = sig
            .split_first_chunk::<32>()
            .ok_or(CryptoError::BadSignature)?;
        let s: &[u8; 32] = s.try_into().map_err(|_| CryptoError::BadSignature)?;
        // `verify` checks 1 <= r, s < n itself.
        if p256_cm4::verify(&x, &y, digest, &words(r), &words(s)) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    pub fn public_key(secret: &[u8; 32]) -> Result<PublicKey, CryptoError> {
        let (mut x, mut y) = ([0u32; 8], [0u32; 8]);
        // `keygen` checks 1 <= secret < n.
        if !p256_cm4::keygen(&mut x, &mut y, &words(secret)) {
            return Err(CryptoError::BadSecret);
        }
        let mut out = [0u8; 65];
        p256_cm4::point_to_octet_string_uncompressed(&mut out, &x, &y);
        Ok(out)
    }

    /// The secret itself: p256-cm4 needs nothing prepared to sign.
    #[derive(Clone)]
    pub struct Signer([u8; 32]);

    impl Drop for Signer {
        fn drop(&mut self) {
            self.0.zeroize(); // ADR 0022
        }
    }

    impl Signer {
        pub fn new(secret: &[u8; 32]) -> Result<(Signer, PublicKey), CryptoError> {
            Ok((Signer(*secret), public_key(secret)?))
        }

        pub fn sign(&self, digest: &[u8; 32]) -> Result<Signature, CryptoError> {
            sign_prehash(&self.0, digest)
        }
    }

    pub fn sign_prehash(secret: &[u8; 32], digest: &[u8; 32]) -> Result<Signature, CryptoError> {
        let mut d = words(secret);
        if !p256_cm4::check_range_n(&d) {
            d.zeroize();
            return Err(CryptoError::BadSecret);
        }
        // As `ecdsa::hazmat::sign_prehashed_rfc6979` (ecdsa 0.17): the raw digest and the
        // big-endian secret into the generator.
        let mut nonces = super::nonce::Nonces::new(secret, digest);
        let mut result = Err(CryptoError::BadSignature);
        for _ in 0..NONCE_TRIES {
            let (mut r, mut s) = ([0u32; 8], [0u32; 8]);
            let mut k = words(&nonces.next());
            // Reduces the digest mod n like `bytes2scalar`; false when k is out of 1..n-1
            // (the candidate is skipped, as the `rfc6979` crate skips it) or r or s is zero.
            let signed = p256_cm4::sign(&mut r, &mut s, digest, &d, &k);
            // The nonce gives the key away with the signature: cleared (ADR 0022).
            k.zeroize();
            if signed {
                let mut out = [0u8; 64];
                let (r_out, s_out) = out.split_at_mut(32);
                write_be(&r, r_out);
                write_be(&s, s_out);
                result = Ok(out);
                break;
            }
        }
        d.zeroize();
        result
    }
}

/// A device key held in memory (protected flash or OTP read at boot): the [`DeviceKey`] of a
/// board without a secure element, and of the simulator.
#[derive(Clone)]
pub struct LocalKey {
    secret: [u8; 32],
    public: PublicKey,
    /// Ready to sign: the checked secret scalar (portable) or the secret (`p256-cm4`). The
    /// public key beside it is derived once, here, not on every signature.
    signer: backend::Signer,
}

/// The secret bytes are cleared when the key goes (a key replaced at provisioning, a
/// simulated device torn down); the signer beside them clears its own (ADR 0022).
impl Drop for LocalKey {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl core::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.write_str("LocalKey")
    }
}

impl LocalKey {
    pub fn from_secret(secret: [u8; 32]) -> Result<LocalKey, CryptoError> {
        let (signer, public) = backend::Signer::new(&secret)?;
        Ok(LocalKey {
            secret,
            public,
            signer,
        })
    }

    /// A key derived from seed bytes by SHA-256: development and simulator keys only.
    pub fn from_seed(seed: &[u8]) -> Result<LocalKey, CryptoError> {
        LocalKey::from_secret(sha256(&[seed]))
    }

    /// The secret scalar, for writing a provisioning image.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl DeviceKey for LocalKey {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<Signature, KeyError> {
        self.signer.sign(digest).map_err(|_| KeyError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// `sha256` is SHA-256 of the parts' concatenation, however they are cut: lengths
        /// around the padding's edges (55, 56, 63, 64 bytes and a block more) and empty parts.
        #[test]
        fn sha256_is_the_digest_of_the_parts_joined(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..4),
        ) {
            use sha2::Digest;
            let mut cuts: std::vec::Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut parts: std::vec::Vec<&[u8]> = std::vec::Vec::new();
            let mut at = 0;
            for c in cuts.iter().copied().chain([data.len()]) {
                parts.push(&data[at..c]);
                at = c;
            }
            let expected: [u8; 32] = sha2::Sha256::digest(&data).into();
            proptest::prop_assert_eq!(sha256(&parts), expected);
        }
    }

    #[test]
    fn sha256_at_the_padding_edges() {
        use sha2::Digest;
        for n in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000] {
            let data: std::vec::Vec<u8> = (0..n).map(|i| i as u8).collect();
            let expected: [u8; 32] = sha2::Sha256::digest(&data).into();
            assert_eq!(sha256(&[&data]), expected, "{n} bytes");
            assert_eq!(
                sha256(&[&[], &data, &[]]),
                expected,
                "{n} bytes with empty parts"
            );
        }
    }

    #[test]
    fn sign_verify_round_trip_and_determinism() {
        let mut k = LocalKey::from_seed(b"crypto test").unwrap();
        let d = [7u8; 32];
        let s1 = k.sign_digest(&d).unwrap();
        let s2 = k.sign_digest(&d).unwrap();
        assert_eq!(s1, s2, "RFC 6979: deterministic");
        verify_prehash(&k.public_key(), &d, &s1).unwrap();
        let mut bad = s1;
        bad[10] ^= 1;
        assert_eq!(
            verify_prehash(&k.public_key(), &d, &bad),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            verify_prehash(&[4u8; 65], &d, &s1),
            Err(CryptoError::BadKey)
        );
        // The key must be an uncompressed point on the curve, whatever the signature.
        let public = k.public_key();
        for tag in [0u8, 2, 3, 5] {
            let mut key = public;
            key[0] = tag;
            assert_eq!(verify_prehash(&key, &d, &s1), Err(CryptoError::BadKey));
        }
        let mut off_curve = public;
        off_curve[64] ^= 1;
        assert_eq!(
            verify_prehash(&off_curve, &d, &s1),
            Err(CryptoError::BadKey)
        );
        let mut past_p = public;
        past_p[1..33].fill(0xFF);
        assert_eq!(verify_prehash(&past_p, &d, &s1), Err(CryptoError::BadKey));
        let mut zero = [0u8; 65];
        zero[0] = 4;
        assert_eq!(verify_prehash(&zero, &d, &s1), Err(CryptoError::BadKey));
        // Another valid key: the key is fine, the signature is not its.
        let other = LocalKey::from_seed(b"another key").unwrap().public_key();
        assert_eq!(
            verify_prehash(&other, &d, &s1),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            LocalKey::from_secret([0; 32]).map(|_| ()),
            Err(CryptoError::BadSecret)
        );
    }

    /// ADR 0022: every holder of a secret clears it when dropped (`zeroize`'s volatile writes).
    /// This fails when one of the `Drop` impls goes; that the key is then gone from memory is
    /// checked on target, where the stack can be read (`firmware/src/bin/crypto_bench.rs`).
    #[test]
    fn every_holder_of_a_secret_clears_it_on_drop() {
        assert!(core::mem::needs_drop::<LocalKey>());
        assert!(core::mem::needs_drop::<backend::Signer>());
        assert!(core::mem::needs_drop::<nonce::Nonces>());
        // A key, its signer and the nonce state are still usable until dropped: signing twice
        // gives the same RFC 6979 signature (the nonce state is rebuilt, not left cleared).
        let mut key = LocalKey::from_seed(b"zeroize").unwrap();
        let digest = sha256(&[b"message"]);
        let first = key.sign_digest(&digest).unwrap();
        assert_eq!(key.sign_digest(&digest).unwrap(), first);
        let copy = key.clone();
        drop(key);
        assert_eq!(
            copy.secret(),
            &sha256(&[b"zeroize"]),
            "a clone keeps its own secret"
        );
    }

    /// `r || s` is exactly 64 bytes, each half in 1..n-1; the secret is in 1..n-1 too.
    #[test]
    fn signatures_and_secrets_out_of_range_are_refused() {
        let mut k = LocalKey::from_seed(b"crypto test").unwrap();
        let d = [7u8; 32];
        let sig = k.sign_digest(&d).unwrap();
        let public = k.public_key();
        for len in [0, 32, 63, 65] {
            let mut long = [0u8; 65];
            long[..64].copy_from_slice(&sig);
            assert_eq!(
                verify_prehash(&public, &d, &long[..len]),
                Err(CryptoError::BadSignature),
                "{len} bytes"
            );
        }
        let mut n = [0u8; 32];
        for (i, b) in n.iter_mut().enumerate() {
            *b = u8::from_str_radix(&ORDER_HEX[2 * i..2 * i + 2], 16).unwrap();
        }
        let mut n_minus_1 = n;
        n_minus_1[31] -= 1;
        for half in [0, 32] {
            for bad in [[0u8; 32], n, [0xFF; 32]] {
                let mut s = sig;
                s[half..half + 32].copy_from_slice(&bad);
                assert_eq!(
                    verify_prehash(&public, &d, &s),
                    Err(CryptoError::BadSignature)
                );
            }
        }
        // The order's edge, as the portable backend's modulus has it: n - 1 is a secret, n not.
        assert!(LocalKey::from_secret(n_minus_1).is_ok());
        for bad in [n, [0xFF; 32]] {
            assert_eq!(
                LocalKey::from_secret(bad).map(|_| ()),
                Err(CryptoError::BadSecret)
            );
        }
    }
}
