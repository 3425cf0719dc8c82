//! Payloads exchanged with the licensing authority (GAP-1, GAP-2; DESIGN.md §3).
//!
//! Every payload is a versioned, postcard-encoded serde type carried in a signed
//! [`crate::envelope`]. The same types are used by the device and by the host-side authority,
//! so both sides agree on the bytes by construction.

use crate::limits::Limits;
use crate::policy::CustomPolicy;
use crate::rum::Point;
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};
use tally_hal::{ENTITLEMENT_ID_LEN, LICENSE_NAME_LEN, PublicKey, Timestamp, Udi};

/// Version of the payload formats. A device refuses envelopes of another version.
pub const FORMAT_VERSION: u8 = 1;

/// What an envelope carries. The discriminant is part of the signed bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Device → authority: RUM reports (a push, a sync or a saved usage file).
    UsageReport = 1,
    /// Device → authority: "is the ACK for this transaction ready?" (ACK-5).
    AckPoll = 2,
    /// Authority → device: a push was received; poll for the ACK after a delay.
    PushReceipt = 3,
    /// Authority → device: acknowledgement of reports (ACK-1).
    Ack = 4,
    /// Authority → device: a custom policy (POL-14).
    Policy = 5,
    /// Authority (or the factory's manufacturing key) → device: one trust code (TRUST-1).
    TrustCode = 6,
    /// Device → authority: a trust-code request, with an ID token or saved to a file (TRUST-3, TRUST-6).
    TrustRequest = 7,
    /// Authority → device: the answer to a trust-code request.
    TrustResponse = 8,
    /// Device → authority: an authorization-code request, online or saved (AUTH-2).
    AuthRequest = 9,
    /// Authority → device: an authorization code (SLAC) for one UDI (AUTH-6).
    AuthCode = 10,
    /// Device → authority: authorization codes returned, online or as a file (AUTH-3).
    AuthReturn = 11,
    /// Authority → device: the answer to an authorization request or an online return.
    AuthResponse = 12,
}

impl Kind {
    /// Every kind, in discriminant order.
    pub const ALL: [Kind; 12] = [
        Kind::UsageReport,
        Kind::AckPoll,
        Kind::PushReceipt,
        Kind::Ack,
        Kind::Policy,
        Kind::TrustCode,
        Kind::TrustRequest,
        Kind::TrustResponse,
        Kind::AuthRequest,
        Kind::AuthCode,
        Kind::AuthReturn,
        Kind::AuthResponse,
    ];

    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::UsageReport,
            2 => Kind::AckPoll,
            3 => Kind::PushReceipt,
            4 => Kind::Ack,
            5 => Kind::Policy,
            6 => Kind::TrustCode,
            7 => Kind::TrustRequest,
            8 => Kind::TrustResponse,
            9 => Kind::AuthRequest,
            10 => Kind::AuthCode,
            11 => Kind::AuthReturn,
            12 => Kind::AuthResponse,
            _ => return None,
        })
    }

    /// The label of the text armour of files of this kind.
    pub const fn armour_label(self) -> &'static str {
        match self {
            Kind::UsageReport => "TALLY RUM REPORT",
            Kind::AckPoll => "TALLY ACK POLL",
            Kind::PushReceipt => "TALLY PUSH RECEIPT",
            Kind::Ack => "TALLY ACK",
            Kind::Policy => "TALLY POLICY",
            Kind::TrustCode => "TALLY TRUST CODE",
            Kind::TrustRequest => "TALLY TRUST REQUEST",
            Kind::TrustResponse => "TALLY TRUST RESPONSE",
            Kind::AuthRequest => "TALLY AUTHORIZATION REQUEST",
            Kind::AuthCode => "TALLY AUTHORIZATION CODE",
            Kind::AuthReturn => "TALLY AUTHORIZATION RETURN",
            Kind::AuthResponse => "TALLY AUTHORIZATION RESPONSE",
        }
    }

    /// What `license smart import` calls a file of this kind (MSG-20).
    pub const fn describe(self) -> &'static str {
        match self {
            Kind::UsageReport => "usage report",
            Kind::AckPoll => "ACK poll",
            Kind::PushReceipt => "push receipt",
            Kind::Ack => "ACK",
            Kind::Policy => "policy",
            Kind::TrustCode => "trust code",
            Kind::TrustRequest => "trust code request",
            Kind::TrustResponse => "trust code response",
            Kind::AuthRequest => "authorization request",
            Kind::AuthCode => "authorization code",
            Kind::AuthReturn => "authorization return",
            Kind::AuthResponse => "authorization response",
        }
    }
}

pub const ACCOUNT_NAME_LEN: usize = 48;

/// Smart Account / Virtual Account with the time the authority stated it (ACK-1, ACK-2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub smart_account: String<ACCOUNT_NAME_LEN>,
    pub virtual_account: String<ACCOUNT_NAME_LEN>,
    pub as_of: Timestamp,
}

/// What the authority did with one report (ACK-6, RUM-6, RUM-7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckStatus {
    /// Processed: `ACK` / `ACKED`.
    Accepted,
    /// The authority asked for removal: `ACK` / `REMOVED`.
    Removed,
    /// The authority dropped it: `ACK`, flag `E`.
    Dropped,
    /// Refused as invalid: `ACK`, flag `E`.
    Rejected,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckedReport {
    pub id: u64,
    pub status: AckStatus,
}

/// An acknowledgement (ACK-1): report IDs, optional account information and policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckPayload {
    /// The device this ACK is for; anything else is refused (DESIGN.md §2.6).
    pub udi: Udi,
    pub issued_at: Timestamp,
    pub seq: u64,
    /// The push transaction or file this answers (RUM-11).
    pub transaction: u64,
    pub reports: Vec<AckedReport, { Limits::ACK_REPORTS }>,
    pub account: Option<Account>,
    pub policy: Option<CustomPolicy>,
    /// Trust codes asked for in the usage message (TRUST-5), for this device or its HA members.
    pub trust: Vec<TrustCode, { Limits::HA_MEMBERS }>,
    /// Authorization codes asked for in the usage message (AUTH-6).
    pub auth: Vec<AuthCode, { Limits::HA_MEMBERS }>,
}

/// A policy file (POL-14): `license smart import` or delivered online.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPayload {
    pub udi: Udi,
    pub issued_at: Timestamp,
    pub seq: u64,
    pub policy: CustomPolicy,
}

/// The authority's answer to a push: the reports were received; poll for the ACK later.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushReceipt {
    pub udi: Udi,
    pub issued_at: Timestamp,
    pub seq: u64,
    pub transaction: u64,
    pub poll_after_secs: u32,
}

/// Device → authority: poll for the ACK of a transaction (ACK-5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckPoll {
    pub udi: Udi,
    pub created_at: Timestamp,
    pub transaction: u64,
}

/// Why the device is sending usage.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsageOrigin {
    /// Scheduled push.
    Push,
    /// `license smart sync`.
    Sync,
    /// `license smart save usage`.
    File,
}

/// One RUM report on the wire (RUM-2: metric `ENTITLEMENT`, value = entitlement tag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireReport {
    pub id: u64,
    pub prev_id: u64,
    pub feature: String<LICENSE_NAME_LEN>,
    pub entitlement: String<ENTITLEMENT_ID_LEN>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub first_value: u32,
    pub points: Vec<Point, { Limits::REPORT_POINTS }>,
    pub max_value: u32,
    pub usage_secs: u64,
    pub merged: u16,
}

pub const SOFTWARE_VERSION_LEN: usize = 32;

/// Device → authority: RUM reports, signed with the device key (RUM-17).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePayload {
    pub udi: Udi,
    pub created_at: Timestamp,
    pub origin: UsageOrigin,
    /// Agent version, omitted when `license smart privacy version` is set (PRIV-1, RUM-16).
    pub software_version: Option<String<SOFTWARE_VERSION_LEN>>,
    /// Head of the device journal's hash chain when the message was made (DESIGN.md §4).
    pub journal_head: [u8; 4],
    pub reports: Vec<WireReport, { Limits::REPORTS }>,
    /// UDIs without a trust code usable for communication (TRUST-5; 17.7.1 on).
    pub trust_request: Vec<TrustSubject, { Limits::HA_MEMBERS }>,
    /// Enforced or export-controlled licenses in use without an authorization code (AUTH-6).
    pub auth_request: Vec<AuthLicense, { Limits::LICENSES }>,
}

/// A P-256 public key (SEC1 uncompressed) on the wire: 65 bytes, no length prefix.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Key(pub PublicKey);

/// All zeros, not a point: the blank a decoder writes a key into.
impl Default for Key {
    fn default() -> Self {
        Key([0; 65])
    }
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0.get(1..9).unwrap_or(&[]) {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("65 key bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
                let mut k = [0u8; 65];
                for (i, slot) in k.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(Key(k))
            }
        }
        d.deserialize_tuple(65, V)
    }
}

/// Where a trust code came from (TRUST-2, TRUST-3, TRUST-5).
/// (`Default` only as the blank a decoder writes into.)
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrustOrigin {
    /// Installed at manufacturing, signed by the manufacturing key: signs reports, but cannot
    /// be used for direct communication (TRUST-2).
    #[default]
    Factory,
    /// Obtained with an ID token (`license smart trust idtoken`, TRUST-3).
    IdToken,
    /// Requested inside a usage message and delivered in the ACK or a file (TRUST-5, TRUST-6).
    Ack,
}

impl TrustOrigin {
    /// Whether a code of this origin allows direct communication with the authority.
    pub const fn communicates(self) -> bool {
        !matches!(self, TrustOrigin::Factory)
    }
}

/// Smart Account / Virtual Account names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountNames {
    pub smart_account: String<ACCOUNT_NAME_LEN>,
    pub virtual_account: String<ACCOUNT_NAME_LEN>,
}

/// A trust code (TRUST-1, DESIGN.md §3): the device's public key tied to its UDI by a signature
/// of the authority (or, for a factory code, of the manufacturing key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustCode {
    pub udi: Udi,
    pub device_key: Key,
    pub origin: TrustOrigin,
    pub account: Option<AccountNames>,
    pub issued_at: Timestamp,
    /// Unique per issuer; increases with every code the issuer makes.
    pub serial: u64,
}

/// A file or message that is one trust code: `{udi, device key, origin, ...}` plus the issue
/// sequence of the authority's messages (DESIGN.md §3 freshness).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustCodeFile {
    pub seq: u64,
    pub code: TrustCode,
}

/// One UDI a trust code is asked for, with the key the code is to bind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustSubject {
    pub udi: Udi,
    pub device_key: Key,
}

pub const ID_TOKEN_LEN: usize = 96;

/// Device → authority: `license smart trust idtoken` (token set) or `save trust-request`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRequest {
    /// The product instance that asks (the active of an HA set).
    pub udi: Udi,
    pub created_at: Timestamp,
    pub token: Option<String<ID_TOKEN_LEN>>,
    /// Make a new code even where one exists (TRUST-4).
    pub force: bool,
    pub subjects: Vec<TrustSubject, { Limits::HA_MEMBERS }>,
}

/// Why the authority did not issue a trust code (TRUST-8, TRUST-9).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrustRefusal {
    /// The UDI is already registered; `force` overrides (TRUST-4).
    AlreadyInstalled,
    /// The token's Smart Account / Virtual Account does not hold this product instance.
    AccountMismatch,
    InvalidToken,
    TokenExpired,
    TokenUsedUp,
    /// CSSM overloaded by many installs with one limited token (TRUST-9, MSG-24).
    ServerBusy,
}

impl TrustRefusal {
    /// The error string of `%SMART_LIC-3-TRUST_CODE_INSTALL_FAILED` (MSG-6).
    pub const fn text(self) -> &'static str {
        match self {
            TrustRefusal::AlreadyInstalled => {
                "Trust code already installed (UDI already registered); use force"
            }
            TrustRefusal::AccountMismatch => "Smart Account-Virtual Account mismatch",
            TrustRefusal::InvalidToken => "The ID token is not valid",
            TrustRefusal::TokenExpired => "The ID token has expired",
            TrustRefusal::TokenUsedUp => "The ID token has reached its maximum number of uses",
            TrustRefusal::ServerBusy => "Server error occurred: LS_LICENGINE_FAIL_TO_CONNECT",
        }
    }
}

/// Authority → device: trust codes issued for a request, and the UDIs refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustResponse {
    pub udi: Udi,
    pub issued_at: Timestamp,
    pub seq: u64,
    /// `created_at` of the request this answers.
    pub request_created_at: Timestamp,
    pub codes: Vec<TrustCode, { Limits::HA_MEMBERS }>,
    pub refused: Vec<(Udi, TrustRefusal), { Limits::HA_MEMBERS }>,
}

/// One license of an authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthLicense {
    /// Feature name as in the catalogue.
    pub feature: String<LICENSE_NAME_LEN>,
    pub count: u32,
}

/// Kind of authorization code (AUTH-1).
/// (`Default` only as the blank a decoder writes into.)
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthKind {
    /// Smart Licensing Authorization Code, for enforced and export-controlled licenses.
    #[default]
    Slac,
    /// A Specific License Reservation carried over from before migration (AUTH-1, MIG-8).
    Slr,
}

/// An authorization code for one UDI (AUTH-1): the licenses it authorizes, node-locked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    pub udi: Udi,
    pub kind: AuthKind,
    pub issued_at: Timestamp,
    /// Unique at the authority; a returned code's serial is never accepted again.
    pub serial: u64,
    pub licenses: Vec<AuthLicense, { Limits::CODE_LICENSES }>,
}

/// A file or message that is one authorization code (`license smart import`, factory).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCodeFile {
    pub seq: u64,
    pub code: AuthCode,
}

/// `add` keeps the code's licenses and adds one; `replace` keeps only the requested one (AUTH-2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMode {
    Add,
    Replace,
}

/// Device → authority: `license smart authorization request` (AUTH-2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub udi: Udi,
    pub created_at: Timestamp,
    pub mode: AuthMode,
    pub license: AuthLicense,
    /// The UDIs the code is for (`local`: the active; `all`: the HA set), with the serial of the
    /// code each holds now (0 = none).
    pub subjects: Vec<(Udi, u64), { Limits::HA_MEMBERS }>,
}

/// `CqaUPW-WSPYiq-…-S2h`: 51 alphanumerics in groups of six (and three), with dashes (AUTH-4).
pub const RETURN_CODE_LEN: usize = 59;

/// One returned authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnedCode {
    pub udi: Udi,
    pub serial: u64,
    /// What the operator types into the portal (AUTH-4 format).
    pub return_code: String<RETURN_CODE_LEN>,
    /// Only this license goes back (`export return`, AUTH-5); `None` = the whole code.
    pub feature: Option<String<LICENSE_NAME_LEN>>,
}

/// Device → authority: `license smart authorization return` / `export return` (AUTH-3, AUTH-5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthReturn {
    pub udi: Udi,
    pub created_at: Timestamp,
    pub returns: Vec<ReturnedCode, { Limits::HA_MEMBERS }>,
}

/// Why the authority did not issue or take back an authorization code (MSG-2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthRefusal {
    /// The Virtual Account has no license of that kind left.
    NoLicensesAvailable,
    /// The license does not need an authorization code.
    NotRequired,
    UnknownLicense,
    /// The code being returned is not the one the authority issued.
    UnknownCode,
}

impl AuthRefusal {
    /// The error string of `%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED` (MSG-2).
    pub const fn text(self) -> &'static str {
        match self {
            AuthRefusal::NoLicensesAvailable => {
                "No licenses of this type are available in the Virtual Account"
            }
            AuthRefusal::NotRequired => "The license does not need an authorization code",
            AuthRefusal::UnknownLicense => "The license is not known to the licensing authority",
            AuthRefusal::UnknownCode => {
                "The authorization code was not issued for this product instance"
            }
        }
    }
}

/// Authority → device: the answer to an authorization request or an online return.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthResponse {
    pub udi: Udi,
    pub issued_at: Timestamp,
    pub seq: u64,
    pub request_created_at: Timestamp,
    pub codes: Vec<AuthCode, { Limits::HA_MEMBERS }>,
    /// Returns the authority accepted: (UDI, serial of the returned code).
    pub returned: Vec<(Udi, u64), { Limits::HA_MEMBERS }>,
    pub refused: Vec<(Udi, AuthRefusal), { Limits::HA_MEMBERS }>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_kinds_in_discriminant_order() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i + 1);
            assert_eq!(Kind::from_u8(*k as u8), Some(*k));
        }
        assert_eq!(Kind::from_u8(0), None);
        assert_eq!(Kind::from_u8(13), None);
    }
}
