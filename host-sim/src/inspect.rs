//! `tally-sim inspect`: show any Tally file as JSON for people (DESIGN.md §3: "the host side can
//! show any file as JSON"). The envelope's signature is shown, not checked; a provisioning
//! image's device secret is never printed.

use serde_json::{Value, json};
use tally_core::envelope;
use tally_core::provision::{PROVISION_BYTES, PROVISION_LABEL};
use tally_core::wire::{
    AckPayload, AckPoll, AuthCodeFile, AuthRequest, AuthResponse, AuthReturn, Kind, PolicyPayload,
    PushReceipt, TrustCodeFile, TrustRequest, TrustResponse, UsagePayload,
};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn payload(kind: Kind, env: &envelope::Envelope<'_>) -> Result<Value, String> {
    fn v<T: serde::Serialize>(r: Result<T, envelope::EnvelopeError>) -> Result<Value, String> {
        let t = r.map_err(|e| e.to_string())?;
        serde_json::to_value(t).map_err(|e| e.to_string())
    }
    match kind {
        Kind::UsageReport => v(env.decode::<UsagePayload>()),
        Kind::AckPoll => v(env.decode::<AckPoll>()),
        Kind::PushReceipt => v(env.decode::<PushReceipt>()),
        Kind::Ack => v(env.decode::<AckPayload>()),
        Kind::Policy => v(env.decode::<PolicyPayload>()),
        Kind::TrustCode => v(env.decode::<TrustCodeFile>()),
        Kind::TrustRequest => v(env.decode::<TrustRequest>()),
        Kind::TrustResponse => v(env.decode::<TrustResponse>()),
        Kind::AuthRequest => v(env.decode::<AuthRequest>()),
        Kind::AuthCode => v(env.decode::<AuthCodeFile>()),
        Kind::AuthReturn => v(env.decode::<AuthReturn>()),
        Kind::AuthResponse => v(env.decode::<AuthResponse>()),
    }
}

/// One envelope as JSON: header, signature and decoded payload.
fn envelope_json(bin: &[u8]) -> Result<Value, String> {
    let env = envelope::open(bin, 64 * 1024).map_err(|e| e.to_string())?;
    let kind = env.kind();
    Ok(json!({
        "format_version": env.version,
        "kind": kind.describe(),
        "key_id": hex(&env.key_id),
        "signature": hex(env.signature.0),
        "payload": payload(kind, &env)?,
    }))
}

/// The file at `bytes` (armoured) as pretty JSON.
pub fn to_json(bytes: &[u8]) -> Result<String, String> {
    let mut bin = vec![0u8; PROVISION_BYTES.max(64 * 1024)];
    let (label, n) = envelope::dearmour(bytes, &mut bin).map_err(|e| e.to_string())?;
    let bin = bin.get(..n).unwrap_or(&[]);
    let value = if label == PROVISION_LABEL {
        let p = tally_core::provision::Provisioning::decode(bin).map_err(|e| e.to_string())?;
        let key = |k: &tally_core::wire::Key| hex(&k.0);
        json!({
            "file": label,
            "version": p.version,
            "udi": p.udi.to_string(),
            "device_secret": if p.device_secret.is_some() { "present (not shown)" } else { "absent (secure element)" },
            "device_key": key(&p.device_key),
            "manufacturing_key": key(&p.manufacturing_key),
            "authority_keys": p.authority_keys.iter().map(key).collect::<Vec<_>>(),
            "trust_code": envelope_json(&p.trust_code)?,
            "policy": p.policy.as_ref().map(|e| envelope_json(e)).transpose()?,
            "auth_codes": p.auth_codes.iter().map(|e| envelope_json(e)).collect::<Result<Vec<_>, _>>()?,
        })
    } else {
        let mut v = envelope_json(bin)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("file".into(), json!(label));
        }
        v
    };
    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())
}
