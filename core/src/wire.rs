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
use tally_hal::{ENTITLEMENT_ID_LEN, LICENSE_NAME_LEN, Timestamp, Udi};

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
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::UsageReport,
            2 => Kind::AckPoll,
            3 => Kind::PushReceipt,
            4 => Kind::Ack,
            5 => Kind::Policy,
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
        }
    }
}

pub const ACCOUNT_NAME_LEN: usize = 48;

/// Smart Account / Virtual Account with the time the authority stated it (ACK-1, ACK-2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// A policy file (POL-14): `license smart import` or delivered online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyPayload {
    pub udi: Udi,
    pub issued_at: Timestamp,
    pub seq: u64,
    pub policy: CustomPolicy,
}

/// The authority's answer to a push: the reports were received; poll for the ACK later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}
