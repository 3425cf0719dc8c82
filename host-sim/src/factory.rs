//! The factory stand-in (DESIGN.md §3, TRUST-2, AUTH-6): `tally-sim factory provision` makes a
//! device's key pair, its factory trust code signed by the manufacturing key, and optional
//! factory-installed policy and authorization codes signed by the authority, and writes them as
//! one provisioning image ([`tally_core::provision`]) that the simulator and the firmware load.

use crate::authority::Authority;
use tally_core::crypto::LocalKey;
use tally_core::envelope;
use tally_core::limits::Limits;
use tally_core::policy::CustomPolicy;
use tally_core::provision::{PROVISION_BYTES, PROVISION_LABEL, PROVISION_VERSION, Provisioning};
use tally_core::wire::{Key, Kind, TrustCode, TrustCodeFile, TrustOrigin};
use tally_hal::{DeviceKey, Timestamp, Udi};

/// Seed of the simulated manufacturing key (the key that signs factory trust codes).
pub const MANUFACTURING_KEY_SEED: &str = "tally-sim manufacturing key 1";

/// The manufacturing key devices pin.
pub fn manufacturing_key() -> Result<LocalKey, String> {
    LocalKey::from_seed(MANUFACTURING_KEY_SEED.as_bytes()).map_err(|e| format!("{e:?}"))
}

/// What one factory order asks for.
#[derive(Debug, Clone, Default)]
pub struct Order {
    pub udi: Udi,
    /// Derive the key pair from this seed (reproducible images); random otherwise.
    pub key_seed: Option<String>,
    /// Leave the secret out of the image: a secure element holds it.
    pub secure_element: bool,
    pub policy: Option<CustomPolicy>,
    /// Features to factory-authorize (one SLAC for the device).
    pub auth: Vec<String>,
}

/// Parse `PID:<pid>,SN:<sn>`.
pub fn parse_udi(s: &str) -> Result<Udi, String> {
    let bad = || format!("'{s}' is not a UDI (PID:<pid>,SN:<sn>)");
    let (pid, sn) = s.split_once(',').ok_or_else(bad)?;
    let pid = pid.strip_prefix("PID:").ok_or_else(bad)?;
    let sn = sn.strip_prefix("SN:").ok_or_else(bad)?;
    Udi::new(pid, sn).map_err(|_| bad())
}

fn device_key(order: &Order) -> Result<LocalKey, String> {
    match &order.key_seed {
        Some(seed) => LocalKey::from_seed(seed.as_bytes()).map_err(|e| format!("{e:?}")),
        None => loop {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| format!("no randomness: {e}"))?;
            if let Ok(k) = LocalKey::from_secret(secret) {
                break Ok(k);
            }
        },
    }
}

/// Build the provisioning image for `order`; the authority learns the device key (as the
/// factory registers every product instance it ships) and signs the factory items.
pub fn provision(
    order: &Order,
    authority: &mut Authority,
    now: Timestamp,
) -> Result<Provisioning, String> {
    let key = device_key(order)?;
    let mut mkey = manufacturing_key()?;
    authority.register(&order.udi, key.public_key());
    let code = TrustCodeFile {
        seq: 0,
        code: TrustCode {
            udi: order.udi.clone(),
            device_key: Key(key.public_key()),
            origin: TrustOrigin::Factory,
            account: None,
            issued_at: now,
            serial: now.secs(),
        },
    };
    let mut buf = vec![0u8; Limits::INBOUND_PAYLOAD_BYTES];
    let n = envelope::seal(Kind::TrustCode, &code, &mut mkey, &mut buf)
        .map_err(|e| format!("factory trust code: {e}"))?;
    let trust_code = heapless::Vec::from_slice(buf.get(..n).unwrap_or(&[]))
        .map_err(|_| "factory trust code too large")?;
    let policy = match &order.policy {
        Some(p) => {
            let env = authority
                .factory_policy(now, &order.udi, p)
                .map_err(|e| format!("factory policy: {e}"))?;
            Some(heapless::Vec::from_slice(&env).map_err(|_| "factory policy too large")?)
        }
        None => None,
    };
    let mut auth_codes = heapless::Vec::new();
    if !order.auth.is_empty() {
        let env = authority.factory_auth_code(now, &order.udi, &order.auth)?;
        auth_codes
            .push(heapless::Vec::from_slice(&env).map_err(|_| "factory code too large")?)
            .map_err(|_| "too many factory codes")?;
    }
    let mut authority_keys = heapless::Vec::new();
    let _ = authority_keys.push(Key(authority.public_key()));
    Ok(Provisioning {
        version: PROVISION_VERSION,
        udi: order.udi.clone(),
        device_secret: (!order.secure_element).then(|| *key.secret()),
        device_key: Key(key.public_key()),
        manufacturing_key: Key(mkey.public_key()),
        authority_keys,
        trust_code,
        policy,
        auth_codes,
    })
}

/// The image as bytes (what the firmware keeps in its provisioning area).
pub fn to_bytes(p: &Provisioning) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; PROVISION_BYTES];
    let n = p.encode(&mut out).map_err(|e| e.to_string())?;
    out.truncate(n);
    Ok(out)
}

/// The image as an armoured text file.
pub fn to_text(p: &Provisioning) -> Result<String, String> {
    let bin = to_bytes(p)?;
    let mut text = vec![0u8; bin.len() * 2 + 128];
    let n = envelope::armour(PROVISION_LABEL, &bin, &mut text).map_err(|e| e.to_string())?;
    text.truncate(n);
    String::from_utf8(text).map_err(|e| e.to_string())
}

/// Read an image from an armoured file or raw bytes.
pub fn from_file(bytes: &[u8]) -> Result<Provisioning, String> {
    if bytes.starts_with(b"-----BEGIN ") {
        let mut bin = vec![0u8; PROVISION_BYTES];
        let (label, n) = envelope::dearmour(bytes, &mut bin).map_err(|e| e.to_string())?;
        if label != PROVISION_LABEL {
            return Err(format!("a {label} file is not a provisioning image"));
        }
        Provisioning::decode(bin.get(..n).unwrap_or(&[])).map_err(|e| e.to_string())
    } else {
        Provisioning::decode(bytes).map_err(|e| e.to_string())
    }
}
