//! ECDSA P-256 over SHA-256 digests (DESIGN.md §3, GAP-3): the one place the core calls into
//! elliptic-curve code, so the backend can be chosen per target.
//!
//! The portable backend is RustCrypto `p256`. Signatures are RFC 6979 deterministic, so a device
//! needs no RNG, and the same key and digest give the same bytes on every backend.

use tally_hal::{DeviceKey, KeyError, PublicKey, Signature};

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

/// Verify `sig` (`r || s`, 64 bytes) over `digest` with the SEC1 public key `key`.
pub fn verify_prehash(key: &PublicKey, digest: &[u8; 32], sig: &[u8]) -> Result<(), CryptoError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| CryptoError::BadKey)?;
    let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|_| CryptoError::BadSignature)?;
    vk.verify_prehash(digest, &sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// The SEC1 uncompressed public key of a secret scalar (big-endian).
pub fn public_key(secret: &[u8; 32]) -> Result<PublicKey, CryptoError> {
    let sk = p256::ecdsa::SigningKey::from_slice(secret).map_err(|_| CryptoError::BadSecret)?;
    let point = sk.verifying_key().to_sec1_point(false);
    let mut out = [0u8; 65];
    out.get_mut(..point.as_bytes().len())
        .ok_or(CryptoError::BadKey)?
        .copy_from_slice(point.as_bytes());
    Ok(out)
}

/// RFC 6979 deterministic ECDSA signature of `digest` with the secret scalar (big-endian).
pub fn sign_prehash(secret: &[u8; 32], digest: &[u8; 32]) -> Result<Signature, CryptoError> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let sk = p256::ecdsa::SigningKey::from_slice(secret).map_err(|_| CryptoError::BadSecret)?;
    let sig: p256::ecdsa::Signature = sk
        .sign_prehash(digest)
        .map_err(|_| CryptoError::BadSignature)?;
    let mut out = [0u8; 64];
    out.copy_from_slice(&sig.to_bytes());
    Ok(out)
}

/// A device key held in memory (protected flash or OTP read at boot): the [`DeviceKey`] of a
/// board without a secure element, and of the simulator.
#[derive(Clone)]
pub struct LocalKey {
    secret: [u8; 32],
    public: PublicKey,
}

impl core::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.write_str("LocalKey")
    }
}

impl LocalKey {
    pub fn from_secret(secret: [u8; 32]) -> Result<LocalKey, CryptoError> {
        let public = public_key(&secret)?;
        Ok(LocalKey { secret, public })
    }

    /// A key derived from seed bytes by SHA-256: development and simulator keys only.
    pub fn from_seed(seed: &[u8]) -> Result<LocalKey, CryptoError> {
        use sha2::Digest;
        LocalKey::from_secret(sha2::Sha256::digest(seed).into())
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
        sign_prehash(&self.secret, digest).map_err(|_| KeyError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            LocalKey::from_secret([0; 32]).map(|_| ()),
            Err(CryptoError::BadSecret)
        );
    }
}
