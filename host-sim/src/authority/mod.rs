//! The licensing authority stand-in (CSSM / CSLU): verifies RUM reports, issues ACKs with
//! account information and the account's custom policy, and writes signed policy files.
//! Trust codes, ID tokens and authorization codes are in [`codes`].

pub mod codes;

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use tally_core::envelope::{self, EnvelopeError};
use tally_core::limits::Limits;
use tally_core::policy::{CategoryOverrides, CustomPolicy};
use tally_core::wire::{
    Account, AckPayload, AckPoll, AckStatus, AckedReport, AuthLicense, Kind, PolicyPayload,
    PushReceipt, TrustSubject, UsagePayload,
};
use tally_hal::mock::SoftwareKey;
use tally_hal::{DeviceKey, PublicKey, Timestamp, Udi, bounded};

/// Why the authority refused something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityError {
    Envelope(EnvelopeError),
    /// The UDI is not registered with this authority.
    UnknownDevice(String),
    /// The device sent something only the authority sends.
    UnexpectedKind(Kind),
    Encode,
}

impl fmt::Display for AuthorityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorityError::Envelope(e) => write!(f, "{e}"),
            AuthorityError::UnknownDevice(u) => write!(f, "unknown product instance {u}"),
            AuthorityError::UnexpectedKind(k) => write!(f, "unexpected {}", k.describe()),
            AuthorityError::Encode => f.write_str("could not encode the answer"),
        }
    }
}

impl From<EnvelopeError> for AuthorityError {
    fn from(e: EnvelopeError) -> Self {
        AuthorityError::Envelope(e)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingAck {
    transaction: u64,
    ready_at: Timestamp,
    reports: Vec<u64>,
    /// Trust codes and authorization codes the usage message asked for (TRUST-5, AUTH-6).
    #[serde(default)]
    trust_request: Vec<TrustSubject>,
    #[serde(default)]
    auth_request: Vec<AuthLicense>,
}

/// One RUM report as the authority recorded it: what the account sees as usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub id: u64,
    pub feature: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub max_value: u32,
    pub usage_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceEntry {
    udi: Udi,
    #[serde(with = "key_hex")]
    public_key: PublicKey,
    pending: Vec<PendingAck>,
    received: BTreeMap<u64, Received>,
    /// The device journal's hash-chain head in its newest usage message.
    #[serde(default)]
    journal_head: [u8; 4],
    /// Where the product instance is in the account structure; `None`: the authority's
    /// default account (where its order put it).
    #[serde(default)]
    account: Option<(String, String)>,
    /// Serial of the trust code the authority issued for it: it is registered (TRUST-4).
    #[serde(default)]
    trust_serial: Option<u64>,
    /// The authorization code it holds (AUTH-1).
    #[serde(default)]
    slac: Option<codes::IssuedCode>,
    /// Return codes taken (AUTH-3), newest last.
    #[serde(default)]
    returns: Vec<String>,
}

mod key_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(k: &[u8; 65], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&k.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 65], D::Error> {
        let s = String::deserialize(d)?;
        let bytes: Result<Vec<u8>, _> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
            .collect();
        bytes
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom("bad key"))
    }
}

/// Persistent authority state (saved as JSON with `--state`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authority {
    /// Seed of the signing key; the key is derived, never stored.
    key_seed: String,
    #[serde(skip, default)]
    key: Option<SoftwareKey>,
    pub smart_account: String,
    pub virtual_account: String,
    /// The account's custom policy, returned in every ACK (POL-14).
    pub custom_policy: Option<CustomPolicy>,
    /// When the custom policy was set: its issue time.
    pub policy_issued_at: Timestamp,
    /// Seconds after a push before the ACK is ready (ACK-8).
    pub ack_delay_secs: u64,
    /// What the receipt tells the device to wait before polling.
    pub poll_after_secs: u32,
    seq: u64,
    next_transaction: u64,
    devices: BTreeMap<String, DeviceEntry>,
    /// Pushes and uploads refused, for tests.
    pub refused: u64,
    /// ID tokens by value (TRUST-3).
    #[serde(default)]
    tokens: BTreeMap<String, codes::IdToken>,
    /// Licenses available for authorization codes in the Virtual Account (AUTH-2).
    #[serde(default)]
    pub pool: BTreeMap<String, u32>,
    /// Serial of the last trust or authorization code issued.
    #[serde(default)]
    code_serial: u64,
    /// The next this many trust requests fail as CSSM does under token contention (TRUST-9).
    #[serde(default)]
    pub busy: u32,
}

/// Seed of the default authority root key.
pub const DEFAULT_KEY_SEED: &str = tally_hal::reference::DEVELOPMENT_AUTHORITY_SEED;

impl Authority {
    pub fn new(key_seed: &str) -> Authority {
        Authority {
            key_seed: key_seed.to_string(),
            key: Some(SoftwareKey::from_seed(key_seed.as_bytes())),
            smart_account: "Eg-SA".to_string(),
            virtual_account: "Eg-VA".to_string(),
            custom_policy: None,
            policy_issued_at: Timestamp::ZERO,
            ack_delay_secs: 0,
            poll_after_secs: 300,
            seq: 0,
            next_transaction: 1,
            devices: BTreeMap::new(),
            refused: 0,
            tokens: BTreeMap::new(),
            pool: BTreeMap::new(),
            code_serial: 0,
            busy: 0,
        }
    }

    fn key(&mut self) -> &mut SoftwareKey {
        let seed = self.key_seed.clone();
        self.key
            .get_or_insert_with(|| SoftwareKey::from_seed(seed.as_bytes()))
    }

    /// The root key devices pin.
    pub fn public_key(&mut self) -> PublicKey {
        self.key().public_key()
    }

    /// Register a product instance and its factory key (the provisioning stand-in).
    pub fn register(&mut self, udi: &Udi, public_key: PublicKey) {
        // The factory's record of the key is authoritative (a re-provisioned device).
        self.devices
            .entry(udi.to_string())
            .and_modify(|d| d.public_key = public_key)
            .or_insert_with(|| DeviceEntry {
                udi: udi.clone(),
                public_key,
                pending: Vec::new(),
                received: BTreeMap::new(),
                journal_head: [0; 4],
                account: None,
                trust_serial: None,
                slac: None,
                returns: Vec::new(),
            });
    }

    /// The journal head a device last reported.
    pub fn journal_head(&self, udi: &Udi) -> Option<[u8; 4]> {
        self.devices.get(&udi.to_string()).map(|d| d.journal_head)
    }

    /// Reports received from a device, in ID order.
    pub fn received(&self, udi: &Udi) -> Vec<Received> {
        self.devices
            .get(&udi.to_string())
            .map(|d| d.received.values().cloned().collect())
            .unwrap_or_default()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn account(&self, now: Timestamp) -> Option<Account> {
        Some(Account {
            smart_account: bounded(&self.smart_account).ok()?,
            virtual_account: bounded(&self.virtual_account).ok()?,
            as_of: now,
        })
    }

    fn seal<T: Serialize>(&mut self, kind: Kind, payload: &T) -> Result<Vec<u8>, AuthorityError> {
        let mut buf = vec![0u8; Limits::USAGE_FILE_BYTES + 256];
        let n = envelope::seal(kind, payload, self.key(), &mut buf)
            .map_err(|_| AuthorityError::Encode)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Open and verify a usage message from a registered device.
    fn verified_usage(&mut self, bytes: &[u8]) -> Result<UsagePayload, AuthorityError> {
        let env = envelope::open(bytes, Limits::USAGE_FILE_BYTES)?;
        if env.kind() != Kind::UsageReport {
            return Err(AuthorityError::UnexpectedKind(env.kind()));
        }
        let payload: UsagePayload = env.decode()?;
        let dev = self
            .devices
            .get(&payload.udi.to_string())
            .ok_or_else(|| AuthorityError::UnknownDevice(payload.udi.to_string()))?;
        env.verify(&[dev.public_key])?;
        Ok(payload)
    }

    fn record(&mut self, payload: &UsagePayload) -> Vec<u64> {
        let Some(dev) = self.devices.get_mut(&payload.udi.to_string()) else {
            return Vec::new();
        };
        dev.journal_head = payload.journal_head;
        let mut ids = Vec::new();
        for r in payload.reports.iter() {
            ids.push(r.id);
            dev.received.insert(
                r.id,
                Received {
                    id: r.id,
                    feature: r.feature.to_string(),
                    start: r.start,
                    end: r.end,
                    max_value: r.max_value,
                    usage_secs: r.usage_secs,
                },
            );
        }
        ids
    }

    fn ack(
        &mut self,
        now: Timestamp,
        udi: &Udi,
        transaction: u64,
        ids: &[u64],
        trust_request: &[TrustSubject],
        auth_request: &[AuthLicense],
    ) -> Result<Vec<u8>, AuthorityError> {
        let trust = self.trust_for_ack(now, udi, trust_request);
        let auth = self.auth_for_ack(now, udi, auth_request);
        let mut reports = heapless::Vec::new();
        for id in ids
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .take(Limits::ACK_REPORTS)
        {
            let _ = reports.push(AckedReport {
                id: *id,
                status: AckStatus::Accepted,
            });
        }
        let ack = AckPayload {
            udi: udi.clone(),
            issued_at: now,
            seq: self.next_seq(),
            transaction,
            reports,
            account: self.account(now),
            policy: self.custom_policy.clone(),
            trust,
            auth,
        };
        self.seal(Kind::Ack, &ack)
    }

    /// Handle one online request (push or ACK poll) at `now` and return the answer.
    pub fn handle(&mut self, now: Timestamp, request: &[u8]) -> Result<Vec<u8>, AuthorityError> {
        let result = self.handle_inner(now, request);
        if result.is_err() {
            self.refused += 1;
        }
        result
    }

    fn handle_inner(&mut self, now: Timestamp, request: &[u8]) -> Result<Vec<u8>, AuthorityError> {
        let env = envelope::open(request, Limits::USAGE_FILE_BYTES)?;
        match env.kind() {
            Kind::UsageReport => {
                let payload = self.verified_usage(request)?;
                let ids = self.record(&payload);
                let transaction = self.next_transaction;
                self.next_transaction += 1;
                let ready_at = now.add_secs(self.ack_delay_secs);
                if let Some(dev) = self.devices.get_mut(&payload.udi.to_string()) {
                    dev.pending.push(PendingAck {
                        transaction,
                        ready_at,
                        reports: ids,
                        trust_request: payload.trust_request.to_vec(),
                        auth_request: payload.auth_request.to_vec(),
                    });
                }
                let receipt = PushReceipt {
                    udi: payload.udi.clone(),
                    issued_at: now,
                    seq: self.next_seq(),
                    transaction,
                    poll_after_secs: self.poll_after_secs,
                };
                self.seal(Kind::PushReceipt, &receipt)
            }
            Kind::AckPoll => {
                let poll: AckPoll = env.decode()?;
                let dev = self
                    .devices
                    .get_mut(&poll.udi.to_string())
                    .ok_or_else(|| AuthorityError::UnknownDevice(poll.udi.to_string()))?;
                env.verify(&[dev.public_key])?;
                let (ready, waiting): (Vec<_>, Vec<_>) =
                    dev.pending.drain(..).partition(|p| p.ready_at <= now);
                dev.pending = waiting;
                if ready.is_empty() {
                    let receipt = PushReceipt {
                        udi: poll.udi.clone(),
                        issued_at: now,
                        seq: self.next_seq(),
                        transaction: poll.transaction,
                        poll_after_secs: self.poll_after_secs,
                    };
                    return self.seal(Kind::PushReceipt, &receipt);
                }
                let ids: Vec<u64> = ready
                    .iter()
                    .flat_map(|p| p.reports.iter().copied())
                    .collect();
                let (trust, auth) = requests_of(&ready);
                self.ack(now, &poll.udi, poll.transaction, &ids, &trust, &auth)
            }
            Kind::TrustRequest => self.trust_request(now, request),
            Kind::AuthRequest => self.auth_request(now, request),
            Kind::AuthReturn => self.auth_return(now, request),
            k => Err(AuthorityError::UnexpectedKind(k)),
        }
    }

    /// The air-gapped path (FILE-1, TRUST-6, AUTH-2, AUTH-3): take a file the device saved
    /// (usage, trust request, authorization request or return) and give the answer as a file.
    pub fn upload(&mut self, now: Timestamp, usage_file: &[u8]) -> Result<String, AuthorityError> {
        let result = self.upload_inner(now, usage_file);
        if result.is_err() {
            self.refused += 1;
        }
        result
    }

    fn upload_inner(
        &mut self,
        now: Timestamp,
        usage_file: &[u8],
    ) -> Result<String, AuthorityError> {
        let mut bin = vec![0u8; Limits::USAGE_FILE_BYTES + 256];
        let (label, n) = envelope::dearmour(usage_file, &mut bin)?;
        bin.truncate(n);
        if label == Kind::TrustRequest.armour_label() {
            let answer = self.trust_request(now, &bin)?;
            return armour(Kind::TrustResponse, &answer);
        }
        if label == Kind::AuthRequest.armour_label() {
            let answer = self.auth_request(now, &bin)?;
            return armour(Kind::AuthResponse, &answer);
        }
        if label == Kind::AuthReturn.armour_label() {
            let answer = self.auth_return(now, &bin)?;
            return armour(Kind::AuthResponse, &answer);
        }
        if label != Kind::UsageReport.armour_label() {
            return Err(AuthorityError::Envelope(EnvelopeError::Armour));
        }
        let payload = self.verified_usage(&bin)?;
        let ids = self.record(&payload);
        let ack = self.ack(
            now,
            &payload.udi,
            payload.created_at.secs(),
            &ids,
            &payload.trust_request,
            &payload.auth_request,
        )?;
        armour(Kind::Ack, &ack)
    }

    /// Download, as an ACK file, the acknowledgement of everything `udi` pushed that has not been
    /// acknowledged yet (the CSSM portal's ACK download, FILE-1 step 2).
    pub fn ack_file(&mut self, now: Timestamp, udi: &Udi) -> Result<String, AuthorityError> {
        let dev = self
            .devices
            .get_mut(&udi.to_string())
            .ok_or_else(|| AuthorityError::UnknownDevice(udi.to_string()))?;
        let pending: Vec<PendingAck> = dev.pending.drain(..).collect();
        let transaction = pending.last().map_or(0, |p| p.transaction);
        let ids: Vec<u64> = pending
            .iter()
            .flat_map(|p| p.reports.iter().copied())
            .collect();
        let (trust, auth) = requests_of(&pending);
        let bytes = self.ack(now, udi, transaction, &ids, &trust, &auth)?;
        armour(Kind::Ack, &bytes)
    }

    /// A signed policy file for `udi` (POL-14 "download from CSSM"): the account's custom
    /// policy, or the seed's `SLE Policy` when the account has none.
    pub fn policy_file(&mut self, now: Timestamp, udi: &Udi) -> Result<String, AuthorityError> {
        if !self.devices.contains_key(&udi.to_string()) {
            return Err(AuthorityError::UnknownDevice(udi.to_string()));
        }
        let policy = self.custom_policy.clone().unwrap_or_else(sle_policy);
        let issued_at = if self.custom_policy.is_some() {
            self.policy_issued_at
        } else {
            now
        };
        let payload = PolicyPayload {
            udi: udi.clone(),
            issued_at,
            seq: self.next_seq(),
            policy,
        };
        let bytes = self.seal(Kind::Policy, &payload)?;
        armour(Kind::Policy, &bytes)
    }

    /// Give the account a custom policy (or none), issued now.
    pub fn set_custom_policy(&mut self, now: Timestamp, policy: Option<CustomPolicy>) {
        self.custom_policy = policy;
        self.policy_issued_at = now;
    }
}

/// What the usage messages behind some pending ACKs asked for, without repeats.
fn requests_of(pending: &[PendingAck]) -> (Vec<TrustSubject>, Vec<AuthLicense>) {
    let mut trust: Vec<TrustSubject> = Vec::new();
    let mut auth: Vec<AuthLicense> = Vec::new();
    for p in pending {
        for t in &p.trust_request {
            if !trust.iter().any(|x| x.udi == t.udi) {
                trust.push(t.clone());
            }
        }
        for a in &p.auth_request {
            if !auth.iter().any(|x| x.feature == a.feature) {
                auth.push(a.clone());
            }
        }
    }
    (trust, auth)
}

/// Armour bytes as a file of `kind`.
pub fn armour(kind: Kind, bytes: &[u8]) -> Result<String, AuthorityError> {
    let mut text = vec![0u8; bytes.len() * 2 + 128];
    let n = envelope::armour(kind.armour_label(), bytes, &mut text)
        .map_err(|_| AuthorityError::Encode)?;
    text.truncate(n);
    String::from_utf8(text).map_err(|_| AuthorityError::Encode)
}

/// The custom policy of the seed samples (SHOW-STATUS, "SLE Policy").
pub fn sle_policy() -> CustomPolicy {
    let over = |f, q, c| CategoryOverrides {
        first_report: f,
        frequency: q,
        on_change: c,
    };
    CustomPolicy {
        name: bounded("SLE Policy").unwrap_or_default(),
        ack_required: Some(true),
        categories: [
            over(Some(60), Some(60), Some(60)),
            over(Some(30), Some(30), Some(30)),
            over(None, Some(90), Some(90)),
            over(None, Some(90), Some(90)),
        ],
    }
}
