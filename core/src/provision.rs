//! The factory provisioning image (DESIGN.md §3, TRUST-2, AUTH-6): what a device gets at
//! manufacturing, in one self-checking blob that the firmware keeps in a protected flash area
//! and the simulator keeps as a file.
//!
//! It holds the device's key pair (or only its public key, when a secure element holds the
//! private half), the manufacturing key that signs factory trust codes, the pinned authority
//! root keys, the factory trust code, and optional factory policy and authorization codes
//! (authority-signed envelopes, taken in on the first boot by [`crate::Agent::install_factory`]).
//!
//! Format: postcard [`Provisioning`] followed by a CRC-32 (little-endian) of those bytes; as a
//! file, that blob in the text armour `TALLY PROVISIONING`. The image is not signed: every part
//! that is trusted carries its own signature, and the CRC catches a damaged area.

use crate::agent::{AUTHORITY_KEY_SLOTS, AgentError, TrustAnchors};
use crate::crc::crc32;
use crate::crypto;
use crate::wire::Key;
use core::fmt;
use heapless::Vec;
use serde::{Deserialize, Serialize};
use tally_hal::{PublicKey, Udi};

/// Version of the provisioning format.
pub const PROVISION_VERSION: u8 = 1;
/// Text armour label of a provisioning file.
pub const PROVISION_LABEL: &str = "TALLY PROVISIONING";
/// Bytes of one embedded envelope (a trust code, a policy, an authorization code).
pub const FACTORY_ENVELOPE_BYTES: usize = 768;
/// Factory authorization codes an image may carry.
pub const FACTORY_AUTH_CODES: usize = 2;
/// Largest encoded image.
pub const PROVISION_BYTES: usize = 4 * 1024;

/// Why a provisioning image was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProvisionError {
    /// The CRC does not match: the area is damaged or not an image.
    Crc,
    Malformed,
    Version(u8),
    /// The secret does not belong to the public key, or is not a valid scalar.
    KeyMismatch,
    /// The factory trust code does not verify or is not for this device.
    TrustCode(AgentError),
    TooLarge,
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvisionError::Crc => f.write_str("provisioning image damaged (CRC mismatch)"),
            ProvisionError::Malformed => f.write_str("provisioning image does not decode"),
            ProvisionError::Version(v) => write!(f, "provisioning format version {v} unknown"),
            ProvisionError::KeyMismatch => {
                f.write_str("device secret does not match the device public key")
            }
            ProvisionError::TrustCode(e) => write!(f, "factory trust code refused: {e}"),
            ProvisionError::TooLarge => f.write_str("provisioning image too large"),
        }
    }
}

/// What the factory gives a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioning {
    pub version: u8,
    pub udi: Udi,
    /// The private scalar; `None` where a secure element holds it behind `DeviceKey`.
    pub device_secret: Option<[u8; 32]>,
    pub device_key: Key,
    pub manufacturing_key: Key,
    pub authority_keys: Vec<Key, AUTHORITY_KEY_SLOTS>,
    /// The factory trust code: a `TrustCode` envelope signed by the manufacturing key.
    pub trust_code: Vec<u8, FACTORY_ENVELOPE_BYTES>,
    /// A factory-installed custom policy: a `Policy` envelope signed by the authority.
    pub policy: Option<Vec<u8, FACTORY_ENVELOPE_BYTES>>,
    /// Factory-installed authorization codes: `AuthCode` envelopes signed by the authority.
    pub auth_codes: Vec<Vec<u8, FACTORY_ENVELOPE_BYTES>, FACTORY_AUTH_CODES>,
}

impl Provisioning {
    /// Encode as postcard + CRC-32 into `out`; returns the length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProvisionError> {
        let n = crate::encode::to_slice(self, out).map_err(|_| ProvisionError::TooLarge)?;
        let crc = crc32(out.get(..n).ok_or(ProvisionError::TooLarge)?);
        out.get_mut(n..n + 4)
            .ok_or(ProvisionError::TooLarge)?
            .copy_from_slice(&crc.to_le_bytes());
        Ok(n + 4)
    }

    /// Decode and check an image: CRC, format, version, and that the secret (if any) is the
    /// private half of the device key.
    pub fn decode(bytes: &[u8]) -> Result<Provisioning, ProvisionError> {
        if bytes.len() > PROVISION_BYTES {
            return Err(ProvisionError::TooLarge);
        }
        let split = bytes.len().checked_sub(4).ok_or(ProvisionError::Crc)?;
        let (body, crc) = bytes.split_at(split);
        let crc: [u8; 4] = crc.try_into().map_err(|_| ProvisionError::Crc)?;
        if crc32(body) != u32::from_le_bytes(crc) {
            return Err(ProvisionError::Crc);
        }
        let (p, rest): (Provisioning, &[u8]) =
            crate::decode::take(body).map_err(|_| ProvisionError::Malformed)?;
        if !rest.is_empty() {
            return Err(ProvisionError::Malformed);
        }
        if p.version != PROVISION_VERSION {
            return Err(ProvisionError::Version(p.version));
        }
        if let Some(secret) = &p.device_secret
            && crypto::public_key(secret).map_err(|_| ProvisionError::KeyMismatch)?
                != p.device_key.0
        {
            return Err(ProvisionError::KeyMismatch);
        }
        Ok(p)
    }

    /// The trust anchors of the device: its key, the manufacturing key, and the factory trust
    /// code, verified against the manufacturing key for this UDI and key (TRUST-2).
    pub fn anchors(&self) -> Result<TrustAnchors, ProvisionError> {
        TrustAnchors {
            device_key: Some(self.device_key.0),
            manufacturing_key: Some(self.manufacturing_key.0),
            ..TrustAnchors::default()
        }
        .with_factory_code(&self.udi, &self.trust_code)
        .map_err(ProvisionError::TrustCode)
    }

    /// The pinned authority root keys.
    pub fn authority_keys(&self) -> Vec<PublicKey, AUTHORITY_KEY_SLOTS> {
        // A loop, not `collect` (which panics past the capacity): the same capacity, so every
        // key fits, and no panic path is linked (`scripts/panic-paths.py`).
        let mut keys = Vec::new();
        for k in &self.authority_keys {
            if keys.push(k.0).is_err() {
                break;
            }
        }
        keys
    }
}
