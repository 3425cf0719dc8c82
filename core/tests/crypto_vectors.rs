//! Known answers and Wycheproof vectors for `tally_core::crypto` (ECDSA P-256 / SHA-256).
//!
//! On the host this is the portable backend (RustCrypto `p256`); the same two data files are run
//! on the Cortex-M4 backend by `firmware/src/bin/crypto_bench.rs` under QEMU
//! (`bash scripts/bench-crypto.sh`), so both backends answer the same questions:
//!
//! - `data/p256_kat.txt`: RFC 6979 A.2.5 (key pair, deterministic signatures of "sample" and
//!   "test"), k·G public keys (NIST vectors), signatures on the edges of the scalars, and keys
//!   and secrets that must be refused.
//! - `data/wycheproof_p256_sha256_p1363.txt`: 166 of Wycheproof's 262 P1363 verification
//!   vectors, every invalid one included (r or s = 0, ≥ n, ≥ p, wrong lengths, modified bits…).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sha2::{Digest, Sha256};
use tally_core::crypto::{self, CryptoError, LocalKey};
use tally_hal::DeviceKey;

const KAT: &str = include_str!("data/p256_kat.txt");
const WYCHEPROOF: &str = include_str!("data/wycheproof_p256_sha256_p1363.txt");

fn hex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|_| panic!("hex: {s}")))
        .collect()
}

fn hex32(s: &str) -> [u8; 32] {
    hex(s).try_into().unwrap()
}

fn hex65(s: &str) -> [u8; 65] {
    hex(s).try_into().unwrap()
}

/// The records of a data file: the words of each line before its `#` comment.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| !w.is_empty())
}

fn kat(tag: &str) -> Vec<Vec<&'static str>> {
    records(KAT).filter(|w| w[0] == tag).collect()
}

struct Rfc {
    secret: [u8; 32],
    public: [u8; 65],
    sigs: Vec<(&'static str, Vec<u8>)>,
}

fn rfc() -> Rfc {
    let secret = hex32(kat("rfc-secret")[0][1]);
    let public = hex65(kat("rfc-public")[0][1]);
    let sigs: Vec<_> = kat("rfc-sign")
        .into_iter()
        .map(|w| (w[1], hex(w[2])))
        .collect();
    assert_eq!(sigs.len(), 2, "RFC 6979 A.2.5: \"sample\" and \"test\"");
    Rfc {
        secret,
        public,
        sigs,
    }
}

#[test]
fn backend_on_the_host_is_portable() {
    assert_eq!(crypto::BACKEND, "p256");
}

#[test]
fn rfc6979_a_2_5_key_pair_and_deterministic_signatures() {
    let v = rfc();
    assert_eq!(crypto::public_key(&v.secret).unwrap(), v.public);
    let mut key = LocalKey::from_secret(v.secret).unwrap();
    assert_eq!(key.public_key(), v.public);
    for (msg, sig) in &v.sigs {
        let digest: [u8; 32] = Sha256::digest(msg.as_bytes()).into();
        assert_eq!(
            crypto::sign_prehash(&v.secret, &digest).unwrap().as_slice(),
            sig.as_slice(),
            "{msg}"
        );
        assert_eq!(key.sign_digest(&digest).unwrap().as_slice(), sig.as_slice());
        crypto::verify_prehash(&v.public, &digest, sig).unwrap();
        // The same signature over the other message does not verify.
        let other: [u8; 32] = Sha256::digest(format!("{msg}!").as_bytes()).into();
        assert_eq!(
            crypto::verify_prehash(&v.public, &other, sig),
            Err(CryptoError::BadSignature)
        );
    }
}

#[test]
fn public_keys_of_known_scalars() {
    let kg = kat("kg");
    assert_eq!(kg.len(), 38);
    for w in kg {
        let k = hex32(w[1]);
        let mut expected = vec![4u8];
        expected.extend(hex(w[2]));
        expected.extend(hex(w[3]));
        assert_eq!(
            crypto::public_key(&k).unwrap().as_slice(),
            expected.as_slice(),
            "k = {}",
            w[1]
        );
    }
}

#[test]
fn signatures_on_the_edges_of_the_scalars() {
    let xs = kat("xsign");
    assert_eq!(xs.len(), 10);
    for w in xs {
        let (secret, digest, sig) = (hex32(w[1]), hex32(w[2]), hex(w[3]));
        assert_eq!(
            crypto::sign_prehash(&secret, &digest).unwrap().as_slice(),
            sig.as_slice(),
            "secret {} digest {}",
            w[1],
            w[2]
        );
        let public = crypto::public_key(&secret).unwrap();
        crypto::verify_prehash(&public, &digest, &sig).unwrap();
    }
}

#[test]
fn bad_keys_and_secrets_are_refused() {
    let v = rfc();
    let digest: [u8; 32] = Sha256::digest(b"sample").into();
    let sig = &v.sigs[0].1;
    let bad_keys = kat("badkey");
    assert_eq!(bad_keys.len(), 11);
    for w in bad_keys {
        assert_eq!(
            crypto::verify_prehash(&hex65(w[1]), &digest, sig),
            Err(CryptoError::BadKey),
            "{}",
            w[1]
        );
    }
    // The key is checked before the signature.
    assert_eq!(
        crypto::verify_prehash(&[0u8; 65], &digest, &[]),
        Err(CryptoError::BadKey)
    );
    let bad_secrets = kat("badsecret");
    assert_eq!(bad_secrets.len(), 4);
    for w in bad_secrets {
        let s = hex32(w[1]);
        assert_eq!(crypto::public_key(&s), Err(CryptoError::BadSecret));
        assert_eq!(
            crypto::sign_prehash(&s, &digest),
            Err(CryptoError::BadSecret)
        );
        assert_eq!(
            LocalKey::from_secret(s).map(|_| ()),
            Err(CryptoError::BadSecret)
        );
    }
}

#[test]
fn wycheproof_p1363_verification() {
    let mut key: Option<[u8; 65]> = None;
    let (mut valid, mut invalid) = (0, 0);
    let mut failures = Vec::new();
    for w in records(WYCHEPROOF) {
        if w[0] == "key" {
            key = Some(hex65(w[1]));
            continue;
        }
        let [id, result, msg, sig, _flags] = w[..] else {
            panic!("record: {w:?}");
        };
        let key = key.expect("a key line first");
        let digest: [u8; 32] = Sha256::digest(hex(msg)).into();
        let got = crypto::verify_prehash(&key, &digest, &hex(sig));
        // Every key in the file is a valid point: an invalid vector is a bad signature.
        let want = match result {
            "valid" => {
                valid += 1;
                Ok(())
            }
            "invalid" => {
                invalid += 1;
                Err(CryptoError::BadSignature)
            }
            other => panic!("tcId {id}: result {other}"),
        };
        if got != want {
            failures.push(format!("tcId {id}: {got:?}, expected {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!((valid, invalid), (77, 89), "the whole file was read");
}

/// The portable verify is written out (core/src/crypto/mod.rs, for its stack): it must answer as
/// RustCrypto's own `VerifyingKey::verify_prehash` does, on good signatures, on signatures and
/// digests with one byte changed, on another key's signatures, and on arbitrary bytes.
mod same_verdict_as_rustcrypto {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use proptest::prelude::*;

    fn reference(key: &[u8; 65], digest: &[u8; 32], sig: &[u8]) -> bool {
        let Ok(vk) = p256::ecdsa::VerifyingKey::from_sec1_bytes(key) else {
            return false;
        };
        let Ok(sig) = p256::ecdsa::Signature::from_slice(sig) else {
            return false;
        };
        vk.verify_prehash(digest, &sig).is_ok()
    }

    fn secret() -> impl Strategy<Value = [u8; 32]> {
        // A zero or too-large secret is refused by the signer; these are all valid scalars.
        any::<[u8; 32]>().prop_map(|mut s| {
            s[0] &= 0x7f;
            s[31] |= 1;
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn on_signatures_and_their_one_byte_changes(
            secret in secret(),
            other in secret(),
            digest in any::<[u8; 32]>(),
            at in 0usize..64,
            flip in 1u8..=255,
        ) {
            let key = crypto::public_key(&secret).unwrap();
            let sig = crypto::sign_prehash(&secret, &digest).unwrap();
            prop_assert_eq!(crypto::verify_prehash(&key, &digest, &sig), Ok(()));
            prop_assert!(reference(&key, &digest, &sig));

            let mut bent = sig;
            bent[at] ^= flip;
            prop_assert_eq!(
                crypto::verify_prehash(&key, &digest, &bent).is_ok(),
                reference(&key, &digest, &bent)
            );
            let mut moved = digest;
            moved[at % 32] ^= flip;
            prop_assert_eq!(
                crypto::verify_prehash(&key, &moved, &sig).is_ok(),
                reference(&key, &moved, &sig)
            );
            let stranger = crypto::public_key(&other).unwrap();
            prop_assert_eq!(
                crypto::verify_prehash(&stranger, &digest, &sig).is_ok(),
                reference(&stranger, &digest, &sig)
            );
        }

        #[test]
        fn on_arbitrary_signature_bytes(
            secret in secret(),
            digest in any::<[u8; 32]>(),
            sig in proptest::collection::vec(any::<u8>(), 64),
        ) {
            let key = crypto::public_key(&secret).unwrap();
            prop_assert_eq!(
                crypto::verify_prehash(&key, &digest, &sig).is_ok(),
                reference(&key, &digest, &sig)
            );
        }
    }

    /// A signature for which `u1·G + u2·Q` is the identity: the digest `-r·d mod n` makes
    /// `z + r·d = 0` for any `s`. The identity has no `x`, so nothing verifies against it
    /// (the written-out verify maps it to `x = 0`, and `r` is never 0).
    #[test]
    fn a_sum_at_the_identity_is_refused() {
        use p256::elliptic_curve::ops::Reduce;
        let secret = [0x42u8; 32];
        let key = crypto::public_key(&secret).unwrap();
        let d = <p256::Scalar as Reduce<p256::FieldBytes>>::reduce(&secret.into());
        for (r, s) in [([1u8; 32], [2u8; 32]), ([0x7Fu8; 32], [0x33u8; 32])] {
            let r_scalar = <p256::Scalar as Reduce<p256::FieldBytes>>::reduce(&r.into());
            let digest: [u8; 32] = (-(r_scalar * d)).to_bytes().into();
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(&s);
            assert_eq!(
                crypto::verify_prehash(&key, &digest, &sig),
                Err(CryptoError::BadSignature)
            );
            assert!(!reference(&key, &digest, &sig));
        }
    }

    /// The high-s twin of a valid signature, `(r, n - s)`, is valid too: P-256 ECDSA does not
    /// normalise `s` (unlike secp256k1's), on either implementation.
    #[test]
    fn a_high_s_twin_verifies_on_both() {
        use p256::elliptic_curve::ops::Reduce;
        let secret = [7u8; 32];
        let digest = [9u8; 32];
        let key = crypto::public_key(&secret).unwrap();
        let sig = crypto::sign_prehash(&secret, &digest).unwrap();
        let s = <p256::Scalar as Reduce<p256::FieldBytes>>::reduce(
            &p256::FieldBytes::try_from(&sig[32..]).unwrap(),
        );
        let mut twin = sig;
        twin[32..].copy_from_slice(&(-s).to_bytes());
        assert_ne!(twin, sig);
        assert_eq!(crypto::verify_prehash(&key, &digest, &twin), Ok(()));
        assert!(reference(&key, &digest, &twin));
    }
}

/// The portable signature is written out too (core/src/crypto/mod.rs: its scalar products are
/// crypto-bigint's Montgomery products, not p256's): it must give RustCrypto
/// `ecdsa::SigningKey`'s bytes, and the same public key, for every secret, and refuse the
/// secrets that `SigningKey` refuses.
mod same_signatures_as_rustcrypto {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use proptest::prelude::*;

    fn reference(secret: &[u8; 32], digest: &[u8; 32]) -> Option<([u8; 65], [u8; 64])> {
        let sk = p256::ecdsa::SigningKey::from_slice(secret).ok()?;
        let point = sk.verifying_key().to_sec1_point(false);
        let public: [u8; 65] = point.as_bytes().try_into().ok()?;
        let sig: p256::ecdsa::Signature = sk.sign_prehash(digest).ok()?;
        Some((public, sig.to_bytes().into()))
    }

    fn ours(secret: &[u8; 32], digest: &[u8; 32]) -> Option<([u8; 65], [u8; 64])> {
        let public = crypto::public_key(secret).ok()?;
        let sig = crypto::sign_prehash(secret, digest).ok()?;
        Some((public, sig))
    }

    /// Near 0 and near n as well as anywhere: the high words of n are all ones, so uniform
    /// bytes would almost never reach the top of the range.
    fn secret() -> impl Strategy<Value = [u8; 32]> {
        prop_oneof![
            any::<[u8; 32]>(),
            (any::<u8>(), 0usize..32).prop_map(|(b, at)| {
                let mut s = [0u8; 32];
                s[at] = b;
                s
            }),
            (0u8..=255).prop_map(|low| {
                let mut s =
                    hex32("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
                s[31] = low;
                s
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn on_any_secret_and_digest(secret in secret(), digest in any::<[u8; 32]>()) {
            prop_assert_eq!(ours(&secret, &digest), reference(&secret, &digest));
        }
    }

    #[test]
    fn on_digests_past_the_order() {
        // A digest of all ones is above n: both reduce it the same way.
        for secret in [
            [1u8; 32],
            hex32("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"),
        ] {
            for digest in [
                [0xFF; 32],
                [0u8; 32],
                hex32("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"),
            ] {
                assert_eq!(ours(&secret, &digest), reference(&secret, &digest));
                assert!(ours(&secret, &digest).is_some());
            }
        }
    }
}
