//! What the cargo-fuzz targets attack and what they check, shared with the stable replay of
//! their corpora (`tests/tests/fuzz_corpus.rs` includes this file with `#[path]`), so a corpus
//! entry is judged the same way under libFuzzer and under `cargo test`.
//!
//! Every check is one promise (DESIGN.md §2.2, §2.6): input from outside the device is decoded
//! without a panic or a hang, answered with an error value, and a refused input changes nothing
//! (state and journal exactly as before).
//!
//! The device is the simulator's default one: the Catalyst 9200L stack of
//! `host-sim/src/profiles.rs` with the simulator's keys (`tally-sim device key <serial>`) and
//! authority root key (`tally-sim authority root key 1`), so files made by `tally-sim` are
//! valid here too; plus a second pinned authority key (the rotation slot) and an enforced
//! license. Its history: usage of three licenses (HSECK9 off again), two usage files saved,
//! nothing acknowledged, transport off.
//!
//! `import` and `console` also start from valid files: in `import` the first input byte picks
//! raw text or one of six valid files for this device (ACK, policy, trust code, trust response,
//! authorization code, authorization response), whose payload bytes the rest of the input
//! mutates before the file is re-signed with a pinned authority key, so mutations get past the
//! signature into the agent's own checks.

use std::fmt;
use std::sync::OnceLock;

use tally_core::agent::{Agent, Identity, Imported, Release, TrustAnchors};
use tally_core::cli::{Console, Effect, Env, Mode};
use tally_core::config::{ConfigChange, Transport};
use tally_core::envelope::{self, ENVELOPE_OVERHEAD, Envelope, EnvelopeError};
use tally_core::journal::RamJournal;
use tally_core::limits::Limits;
use tally_core::policy::{CategoryOverrides, CustomPolicy};
use tally_core::provision::{PROVISION_BYTES, PROVISION_LABEL, PROVISION_VERSION, Provisioning};
use tally_core::render::{self, RumFilter};
use tally_core::rum::Selection;
use tally_core::state::State;
use tally_core::time::TimeZone;
use tally_core::wire::{
    Account, AccountNames, AckPayload, AckPoll, AckStatus, AckedReport, AuthCode, AuthCodeFile,
    AuthKind, AuthLicense, AuthRefusal, AuthRequest, AuthResponse, AuthReturn, FORMAT_VERSION, Key,
    Kind, PolicyPayload, PushReceipt, TrustCode, TrustCodeFile, TrustOrigin, TrustRefusal,
    TrustRequest, TrustResponse, UsagePayload,
};
use tally_hal::mock::{MemFiles, RecordingSink, SoftwareKey};
use tally_hal::{
    CommError, DeviceKey, Enforcement, HaMember, HaRole, LicenseDef, PublicKey, Term, Timestamp,
    Udi, bounded,
};

/// The fuzzed device's journal: large enough that one input never forces a compaction.
pub type FuzzJournal = RamJournal<{ 32 * 1024 }>;
pub type FuzzAgent = Agent<FuzzJournal>;

/// 2026-01-05 09:00:00 UTC: the simulator's default start; the device's history begins here.
pub const START: Timestamp = Timestamp(1_767_603_600);
/// When fuzzed input arrives: 30 days later.
pub const NOW: Timestamp = Timestamp(START.0 + 30 * 86_400);
/// Issue time of the valid authority files.
pub const ISSUED: Timestamp = Timestamp(NOW.0 - 3_600);

pub const PID: &str = "C9200L-48P-4X";
pub const ACTIVE_SN: &str = "JAE24091ABC";
pub const STANDBY_SN: &str = "JAE24091ABD";
/// The simulator's authority root key (`host-sim/src/authority/mod.rs`).
pub const AUTHORITY_SEED: &[u8] = b"tally-sim authority root key 1";
/// The second pinned slot (key rotation, DESIGN.md §3).
pub const AUTHORITY_SEED_2: &[u8] = b"tally-fuzz authority root key 2";
/// A well-formed key the device does not pin.
pub const ROGUE_SEED: &[u8] = b"tally-fuzz rogue key";

/// Lines of one `console` input that are run, at most.
pub const CONSOLE_LINES: usize = 24;

/// The simulator's key of the product instance with serial `sn` (`host-sim/src/sim.rs`).
pub fn device_key(sn: &str) -> SoftwareKey {
    SoftwareKey::from_seed(format!("tally-sim device key {sn}").as_bytes())
}

pub fn udi(sn: &str) -> Udi {
    Udi::new(PID, sn).expect("UDI fits")
}

/// A catalogue entry; `regid.2018-06.com.cisco.<tag>,1.0_fuzz` (a literal: catalogue strings
/// are `'static`, and this runs on every fuzz input).
macro_rules! lic {
    ($name:literal, $tag:literal, $e:expr, $t:expr $(,)?) => {
        LicenseDef::new(
            $name,
            $tag,
            concat!("regid.2018-06.com.cisco.", $tag, ",1.0_fuzz"),
            $name,
            $e,
            $t,
        )
        .expect("license fits")
    };
}

/// The device: two HA members, four licenses (one export-controlled, one enforced), both
/// authority slots pinned, every member's key known.
pub fn identity() -> Identity {
    let active = udi(ACTIVE_SN);
    let standby = udi(STANDBY_SN);
    let mut members = heapless::Vec::new();
    let _ = members.push(HaMember {
        role: HaRole::Active,
        udi: active.clone(),
    });
    let _ = members.push(HaMember {
        role: HaRole::Standby,
        udi: standby,
    });
    let mut catalogue = heapless::Vec::new();
    for def in [
        lic!(
            "network-essentials",
            "C9200L-NW-E-48",
            Enforcement::Unenforced,
            Term::Perpetual,
        ),
        lic!(
            "dna-essentials",
            "C9200L-DNA-E-48",
            Enforcement::Unenforced,
            Term::Subscription,
        ),
        lic!(
            "hseck9",
            "DNA_HSEC",
            Enforcement::ExportControlled,
            Term::Perpetual,
        ),
        lic!(
            "network-advantage",
            "C9200L-NW-A-48",
            Enforcement::Enforced,
            Term::Subscription,
        ),
    ] {
        let _ = catalogue.push(def);
    }
    let mut authority_keys = heapless::Vec::new();
    let _ = authority_keys.push(SoftwareKey::from_seed(AUTHORITY_SEED).public_key());
    let _ = authority_keys.push(SoftwareKey::from_seed(AUTHORITY_SEED_2).public_key());
    let own = device_key(ACTIVE_SN).public_key();
    let mut member_keys = [None; Limits::HA_MEMBERS];
    member_keys[0] = Some(own);
    member_keys[1] = Some(device_key(STANDBY_SN).public_key());
    Identity {
        udi: active,
        members,
        catalogue,
        partner: true,
        release: Release::V17_7,
        authority_keys,
        trust: TrustAnchors {
            device_key: Some(own),
            member_keys,
            ..TrustAnchors::default()
        },
    }
}

/// A valid authority file for the device, before signing.
#[derive(Clone, Debug)]
pub struct Template {
    pub kind: Kind,
    /// The postcard payload.
    pub payload: Vec<u8>,
}

/// The device after its history, and what the targets derive from it.
#[derive(Debug)]
pub struct Baseline {
    pub ident: Identity,
    pub journal: FuzzJournal,
    /// ACK, policy, trust code, trust response, authorization code, authorization response.
    pub templates: Vec<Template>,
    /// The usage file the device saved last (armoured, signed by the device key).
    pub usage_file: Vec<u8>,
    /// The templates signed with the first authority key and armoured.
    pub signed: Vec<(Kind, Vec<u8>)>,
    /// The active member's device key.
    pub device: SoftwareKey,
    authority: SoftwareKey,
    authority_2: SoftwareKey,
    rogue: SoftwareKey,
}

impl Baseline {
    /// A fresh device in the baseline state.
    pub fn agent(&self) -> FuzzAgent {
        Agent::boot(self.ident.clone(), self.journal.clone(), NOW).expect("baseline boots")
    }

    /// Sign `payload` as a `kind` envelope with the first pinned authority key and armour it.
    pub fn file(&self, kind: Kind, payload: &[u8]) -> Vec<u8> {
        sign_file(
            kind,
            kind.armour_label(),
            payload,
            &mut self.authority.clone(),
        )
    }
}

/// Bytes that postcard writes as they are (a tuple of `u8`), so arbitrary payload bytes can
/// be sealed with [`envelope::seal`].
struct Raw<'a>(&'a [u8]);

impl serde::Serialize for Raw<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for b in self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

/// Seal `payload` as a `kind` envelope signed by `key`.
pub fn seal_raw(kind: Kind, payload: &[u8], key: &mut SoftwareKey) -> Vec<u8> {
    let mut bin = vec![0u8; payload.len() + ENVELOPE_OVERHEAD + 16];
    let n = envelope::seal(kind, &Raw(payload), key, &mut bin).expect("envelope fits");
    bin.truncate(n);
    bin
}

/// Seal and armour `payload` under `label`.
pub fn sign_file(kind: Kind, label: &str, payload: &[u8], key: &mut SoftwareKey) -> Vec<u8> {
    let bin = seal_raw(kind, payload, key);
    armour_bytes(label, &bin)
}

pub fn armour_bytes(label: &str, bin: &[u8]) -> Vec<u8> {
    let mut text = vec![0u8; bin.len() * 2 + 2 * label.len() + 64];
    let n = envelope::armour(label, bin, &mut text).expect("armour fits");
    text.truncate(n);
    text
}

fn pc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("payload encodes")
}

fn names() -> Option<AccountNames> {
    Some(AccountNames {
        smart_account: bounded("Eg-SA").ok()?,
        virtual_account: bounded("Eg-VA").ok()?,
    })
}

fn trust_code(sn: &str, origin: TrustOrigin, serial: u64) -> TrustCode {
    TrustCode {
        udi: udi(sn),
        device_key: Key(device_key(sn).public_key()),
        origin,
        account: names(),
        issued_at: ISSUED,
        serial,
    }
}

fn auth_code(sn: &str, serial: u64, features: &[&str]) -> AuthCode {
    let mut licenses = heapless::Vec::new();
    for f in features {
        let _ = licenses.push(AuthLicense {
            feature: bounded(f).expect("feature fits"),
            count: 1,
        });
    }
    AuthCode {
        udi: udi(sn),
        kind: AuthKind::Slac,
        issued_at: ISSUED,
        serial,
        licenses,
    }
}

fn hv<T, const N: usize>(items: impl IntoIterator<Item = T>) -> heapless::Vec<T, N> {
    let mut v = heapless::Vec::new();
    for i in items {
        let _ = v.push(i);
    }
    v
}

/// The seed samples' "SLE Policy" (`host-sim/src/authority/mod.rs`).
pub fn sle_policy() -> CustomPolicy {
    let over = |f, q, c| CategoryOverrides {
        first_report: f,
        frequency: q,
        on_change: c,
    };
    CustomPolicy {
        name: bounded("SLE Policy").expect("name fits"),
        ack_required: Some(true),
        categories: [
            over(Some(60), Some(60), Some(60)),
            over(Some(30), Some(30), Some(30)),
            over(None, Some(90), Some(90)),
            over(None, Some(90), Some(90)),
        ],
    }
}

fn build_baseline() -> Baseline {
    let ident = identity();
    let mut agent = Agent::boot(ident.clone(), FuzzJournal::new(), START).expect("boot");
    let mut key = device_key(ACTIVE_SN);
    let mut files = MemFiles::default();
    let mut sink = RecordingSink::default();
    let mut bin = vec![0u8; Limits::USAGE_FILE_BYTES + 256];
    let mut text = vec![0u8; Limits::USAGE_FILE_BYTES * 2];
    let at = |secs: u64| START.add_secs(secs);
    agent
        .configure(START, ConfigChange::Transport(Transport::Off))
        .expect("transport off");
    // The seeds' time zone (`clock timezone IST 5 30`): show output is local time.
    let ist = TimeZone::new("IST", 5, 30).expect("time zone");
    agent
        .configure(START, ConfigChange::TimeZone(ist))
        .expect("time zone");
    for (license, count) in [
        ("network-essentials", 2),
        ("dna-essentials", 1),
        ("hseck9", 1),
    ] {
        agent.set_usage(START, license, count).expect("usage");
    }
    for i in 1..=4 {
        agent.tick(at(i * 900), &mut sink).expect("tick");
    }
    agent
        .save_usage(
            at(86_400),
            Selection::All,
            "bootflash:usage-1.txt",
            &mut files,
            &mut key,
            &mut bin,
            &mut text,
        )
        .expect("save usage");
    agent
        .set_usage(at(2 * 86_400), "network-essentials", 3)
        .expect("usage");
    // HSECK9 was used and is off again: its codes can be returned (AUTH-3).
    agent.set_usage(at(2 * 86_400), "hseck9", 0).expect("usage");
    agent.tick(at(2 * 86_400 + 900), &mut sink).expect("tick");
    agent
        .save_usage(
            at(3 * 86_400),
            Selection::Unreported,
            "bootflash:usage-2.txt",
            &mut files,
            &mut key,
            &mut bin,
            &mut text,
        )
        .expect("save usage");
    let usage_file = files
        .files
        .get("bootflash:usage-2.txt")
        .cloned()
        .expect("usage file written");
    let ids: Vec<u64> = agent
        .state()
        .reports
        .iter()
        .filter(|r| r.has_data())
        .map(|r| r.id)
        .collect();
    let journal = agent.into_journal();

    let active = udi(ACTIVE_SN);
    let standby = udi(STANDBY_SN);
    let mut reports: heapless::Vec<AckedReport, { Limits::ACK_REPORTS }> =
        hv(ids.iter().map(|&id| AckedReport {
            id,
            status: AckStatus::Accepted,
        }));
    if let Some(last) = reports.last_mut() {
        last.status = AckStatus::Removed;
    }
    let _ = reports.push(AckedReport {
        id: 1,
        status: AckStatus::Dropped,
    });
    let ack = AckPayload {
        udi: active.clone(),
        issued_at: ISSUED,
        seq: 3,
        transaction: at(3 * 86_400).secs(),
        reports,
        account: Some(Account {
            smart_account: bounded("Eg-SA").expect("fits"),
            virtual_account: bounded("Eg-VA").expect("fits"),
            as_of: ISSUED,
        }),
        policy: Some(sle_policy()),
        trust: hv([
            trust_code(ACTIVE_SN, TrustOrigin::Ack, 101),
            trust_code(STANDBY_SN, TrustOrigin::Ack, 102),
        ]),
        auth: hv([auth_code(ACTIVE_SN, 103, &["hseck9"])]),
    };
    let mut custom = sle_policy();
    custom.name = bounded("Fuzz Policy").expect("fits");
    custom.ack_required = Some(false);
    custom.categories[0].first_report = Some(0);
    let policy = PolicyPayload {
        udi: active.clone(),
        issued_at: ISSUED,
        seq: 4,
        policy: custom,
    };
    let trust_file = TrustCodeFile {
        seq: 5,
        code: trust_code(ACTIVE_SN, TrustOrigin::IdToken, 104),
    };
    let trust_response = TrustResponse {
        udi: active.clone(),
        issued_at: ISSUED,
        seq: 6,
        request_created_at: NOW.sub_secs(7_200),
        codes: hv([
            trust_code(ACTIVE_SN, TrustOrigin::Ack, 105),
            trust_code(STANDBY_SN, TrustOrigin::Ack, 106),
        ]),
        refused: hv([(udi("JAE00000000"), TrustRefusal::AlreadyInstalled)]),
    };
    let auth_file = AuthCodeFile {
        seq: 7,
        code: auth_code(ACTIVE_SN, 107, &["hseck9", "network-advantage"]),
    };
    let auth_response = AuthResponse {
        udi: active,
        issued_at: ISSUED,
        seq: 8,
        request_created_at: NOW.sub_secs(7_200),
        codes: hv([
            auth_code(ACTIVE_SN, 108, &["hseck9"]),
            auth_code(STANDBY_SN, 109, &["network-advantage"]),
        ]),
        returned: hv([(udi(ACTIVE_SN), 50)]),
        refused: hv([(standby, AuthRefusal::NoLicensesAvailable)]),
    };
    let templates = vec![
        Template {
            kind: Kind::Ack,
            payload: pc(&ack),
        },
        Template {
            kind: Kind::Policy,
            payload: pc(&policy),
        },
        Template {
            kind: Kind::TrustCode,
            payload: pc(&trust_file),
        },
        Template {
            kind: Kind::TrustResponse,
            payload: pc(&trust_response),
        },
        Template {
            kind: Kind::AuthCode,
            payload: pc(&auth_file),
        },
        Template {
            kind: Kind::AuthResponse,
            payload: pc(&auth_response),
        },
    ];
    let authority = SoftwareKey::from_seed(AUTHORITY_SEED);
    let signed = templates
        .iter()
        .map(|t| {
            let text = sign_file(
                t.kind,
                t.kind.armour_label(),
                &t.payload,
                &mut authority.clone(),
            );
            (t.kind, text)
        })
        .collect();
    Baseline {
        ident,
        journal,
        templates,
        usage_file,
        signed,
        device: key,
        authority,
        authority_2: SoftwareKey::from_seed(AUTHORITY_SEED_2),
        rogue: SoftwareKey::from_seed(ROGUE_SEED),
    }
}

/// Built once per process: the history signs two usage files.
pub fn baseline() -> &'static Baseline {
    static B: OnceLock<Baseline> = OnceLock::new();
    B.get_or_init(build_baseline)
}

/// Valid envelopes the harness makes (the usage report signed by the device key, the rest by
/// the authority): seeds for the `envelope` target, with the simulator's requests and returns.
pub fn envelopes() -> Vec<(Kind, Vec<u8>)> {
    let b = baseline();
    let mut out: Vec<(Kind, Vec<u8>)> = Vec::new();
    let mut bin = vec![0u8; Limits::USAGE_FILE_BYTES + 256];
    if let Ok((_, n)) = envelope::dearmour(&b.usage_file, &mut bin) {
        out.push((Kind::UsageReport, bin[..n].to_vec()));
    }
    let mut dev = b.device.clone();
    let active = udi(ACTIVE_SN);
    let poll = AckPoll {
        udi: active.clone(),
        created_at: NOW,
        transaction: 7,
    };
    out.push((Kind::AckPoll, seal_raw(Kind::AckPoll, &pc(&poll), &mut dev)));
    let receipt = PushReceipt {
        udi: active.clone(),
        issued_at: ISSUED,
        seq: 9,
        transaction: 7,
        poll_after_secs: 300,
    };
    let mut auth = b.authority.clone();
    out.push((
        Kind::PushReceipt,
        seal_raw(Kind::PushReceipt, &pc(&receipt), &mut auth),
    ));
    for t in &b.templates {
        out.push((t.kind, seal_raw(t.kind, &t.payload, &mut auth)));
    }
    out
}

// ---------------------------------------------------------------------------------------
// envelope

fn round_trip<T>(env: &Envelope<'_>)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
{
    if let Ok(v) = env.decode::<T>() {
        let bytes = pc(&v);
        let again: T = postcard::from_bytes(&bytes).expect("a decoded payload re-decodes");
        assert_eq!(again, v, "payload does not survive a re-encode");
        encoders_agree(&v);
    }
}

/// The device's decoder (`tally_core::decode`, postcard's format by hand) and postcard + serde
/// agree on `bytes`: the same value and the same remainder, or both refuse (ADR 0012).
pub fn decoders_agree<T>(bytes: &[u8])
where
    T: for<'b> tally_core::decode::Decode<'b>
        + serde::de::DeserializeOwned
        + serde::Serialize
        + PartialEq
        + fmt::Debug,
{
    let device = tally_core::decode::take::<T>(bytes).ok();
    let serde = postcard::take_from_bytes::<T>(bytes).ok();
    assert_eq!(
        device,
        serde,
        "the device's decoder and postcard disagree on a {}",
        std::any::type_name::<T>()
    );
    if let Some((value, _)) = &serde {
        encoders_agree(value);
    }
}

/// The device's encoder (`tally_core::encode`) writes what postcard writes, measures it the
/// same, and refuses every buffer too small by even a byte.
pub fn encoders_agree<T: serde::Serialize + fmt::Debug + ?Sized>(value: &T) {
    let want = postcard::to_allocvec(value).ok();
    let mut out = vec![0u8; want.as_ref().map_or(0, Vec::len) + 8];
    let got = tally_core::encode::to_slice(value, &mut out)
        .ok()
        .map(|n| out[..n].to_vec());
    assert_eq!(
        got, want,
        "the device's encoder and postcard disagree on {value:?}"
    );
    let Some(want) = want else { return };
    assert_eq!(tally_core::encode::size_of(value), Ok(want.len()));
    for short in [0, want.len() / 2, want.len().saturating_sub(1)] {
        if short < want.len() {
            assert!(tally_core::encode::to_slice(value, &mut out[..short]).is_err());
        }
    }
}

/// [`decoders_agree`] for an envelope (it borrows from `bytes`).
pub fn envelope_decoders_agree(bytes: &[u8]) {
    let serde = postcard::take_from_bytes::<Envelope<'_>>(bytes).ok();
    assert_eq!(
        tally_core::decode::take::<Envelope<'_>>(bytes).ok(),
        serde,
        "the device's decoder and postcard disagree on an envelope"
    );
    if let Some((value, _)) = &serde {
        encoders_agree(value);
    }
}

/// `envelope::open` with the limit the first byte picks, then every payload type, then
/// `verify` against the pinned keys. Every decode the device makes is checked against
/// postcard's on the same bytes.
pub fn check_envelope(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    envelope_decoders_agree(bytes);
    for payload in [
        bytes,
        postcard::take_from_bytes::<Envelope<'_>>(bytes).map_or(&[][..], |(e, _)| e.payload.0),
    ] {
        decoders_agree::<AckPayload>(payload);
        decoders_agree::<PolicyPayload>(payload);
        decoders_agree::<PushReceipt>(payload);
        decoders_agree::<TrustCodeFile>(payload);
        decoders_agree::<TrustResponse>(payload);
        decoders_agree::<AuthCodeFile>(payload);
        decoders_agree::<AuthResponse>(payload);
    }
    let limit = match sel % 4 {
        0 => Limits::INBOUND_PAYLOAD_BYTES,
        1 => Limits::USAGE_FILE_BYTES,
        2 => usize::from(sel),
        _ => 0,
    };
    let Ok(env) = envelope::open(bytes, limit) else {
        return;
    };
    assert!(
        bytes.len() <= limit + ENVELOPE_OVERHEAD,
        "limit not enforced"
    );
    assert_eq!(env.version, FORMAT_VERSION);
    assert_eq!(env.signature.0.len(), 64);
    assert_eq!(Kind::from_u8(env.kind), Some(env.kind()));
    let again = pc(&env);
    assert!(again.len() <= bytes.len(), "re-encoding grew");
    assert_eq!(envelope::open(&again, limit), Ok(env.clone()));
    round_trip::<UsagePayload>(&env);
    round_trip::<AckPoll>(&env);
    round_trip::<PushReceipt>(&env);
    round_trip::<AckPayload>(&env);
    round_trip::<PolicyPayload>(&env);
    round_trip::<TrustCodeFile>(&env);
    round_trip::<TrustRequest>(&env);
    round_trip::<TrustResponse>(&env);
    round_trip::<AuthRequest>(&env);
    round_trip::<AuthCodeFile>(&env);
    round_trip::<AuthReturn>(&env);
    round_trip::<AuthResponse>(&env);
    let b = baseline();
    let pinned = &b.ident.authority_keys;
    match env.verify(pinned) {
        Ok(()) => assert!(
            pinned.iter().any(|k| envelope::key_id(k) == env.key_id),
            "verified by a key that is not pinned"
        ),
        Err(e) => assert!(
            matches!(e, EnvelopeError::UnknownKey | EnvelopeError::BadSignature),
            "verify: {e:?}"
        ),
    }
    let device: [PublicKey; 1] = [b.device.public_key()];
    let _ = env.verify(&device);
    assert_eq!(env.verify(&[]), Err(EnvelopeError::UnknownKey));
}

// ---------------------------------------------------------------------------------------
// armour

/// `envelope::dearmour` into buffers of many sizes: the same answer wherever it fits, `TooLarge`
/// where it does not; what decodes armours back to the same label and bytes.
pub fn check_armour(text: &[u8]) {
    let mut large = vec![0u8; text.len() + 64];
    let big = envelope::dearmour(text, &mut large);
    let n = big.map_or(0, |(_, n)| n);
    if let Ok((label, n)) = big {
        assert!(n <= text.len());
        let bytes = &large[..n];
        let again = armour_bytes(label, bytes);
        let mut back = vec![0u8; n + 64];
        let (l2, n2) = envelope::dearmour(&again, &mut back).expect("armoured output dearmours");
        assert_eq!((l2, &back[..n2]), (label, bytes), "armour round trip");
    }
    for size in [0, 1, 2, 3, 47, 48, 49, 64, 255, n.saturating_sub(1), n] {
        let mut small = vec![0u8; size];
        let r = envelope::dearmour(text, &mut small);
        match (big, r) {
            (Ok((l, n)), Ok((l2, n2))) => {
                assert_eq!((l, n), (l2, n2));
                assert_eq!(&small[..n2], &large[..n]);
            }
            (Ok((_, n)), Err(e)) => {
                assert_eq!(e, EnvelopeError::TooLarge, "buffer of {size} for {n} bytes");
                assert!(size < n, "{n} bytes refused by a buffer of {size}");
            }
            (Err(e), Ok(_)) => panic!("a small buffer decodes what a large one refuses ({e:?})"),
            (Err(e1), Err(e2)) => assert!(
                e1 == e2 || e2 == EnvelopeError::TooLarge,
                "{e1:?} with a large buffer, {e2:?} with {size} bytes"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// import

fn xor_at(p: &mut [u8], at: usize, data: &[u8]) {
    for (b, x) in p.iter_mut().skip(at).zip(data) {
        *b ^= x;
    }
}

/// An offset in `0..=len` from the first two bytes of `rest`, and what follows them.
fn offset(rest: &[u8], len: usize) -> (usize, &[u8]) {
    let (head, tail) = rest.split_at(rest.len().min(2));
    let v = head.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
    (v % (len + 1), tail)
}

/// Mutate a payload: 0 XOR from the start, 1 XOR at an offset, 2 splice (delete, insert),
/// 3 cut at an offset and append.
pub fn mutate(payload: &[u8], op: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = payload.to_vec();
    match op & 3 {
        0 => xor_at(&mut p, 0, rest),
        1 => {
            let (at, data) = offset(rest, p.len());
            xor_at(&mut p, at, data);
        }
        2 => {
            let (at, rest) = offset(rest, p.len());
            let (del, data) = rest.split_first().map_or((0, rest), |(d, r)| (*d, r));
            let end = (at + usize::from(del)).min(p.len());
            p.splice(at..end, data.iter().copied());
        }
        _ => {
            let (at, data) = offset(rest, p.len());
            p.truncate(at);
            p.extend_from_slice(data);
        }
    }
    p
}

/// The file an `import` input stands for: raw text, or a mutated, re-signed valid file.
/// First byte: bits 0-2 pick the file (0 and 7: raw text), bits 3-4 the mutation, bit 5 signs
/// with the second pinned key, bit 6 armours under another kind's label, bit 7 signs with a
/// key that is not pinned.
pub fn import_text(data: &[u8]) -> Option<Vec<u8>> {
    let (&sel, rest) = data.split_first()?;
    let b = baseline();
    let pick = usize::from(sel & 7);
    if pick == 0 || pick == 7 {
        return Some(rest.to_vec());
    }
    let t = b.templates.get(pick - 1)?;
    let payload = mutate(&t.payload, sel >> 3, rest);
    let label = if sel & 0x40 != 0 {
        b.templates[pick % b.templates.len()].kind.armour_label()
    } else {
        t.kind.armour_label()
    };
    let mut key = if sel & 0x80 != 0 {
        b.rogue.clone()
    } else if sel & 0x20 != 0 {
        b.authority_2.clone()
    } else {
        b.authority.clone()
    };
    Some(sign_file(t.kind, label, &payload, &mut key))
}

/// Every `show` output.
fn render_all(agent: &FuzzAgent, now: Timestamp) {
    let mut out = String::new();
    render::show_all(&mut out, agent).expect("show license all");
    render::show_status(&mut out, agent).expect("show license status");
    render::show_summary(&mut out, agent).expect("show license summary");
    render::show_usage(&mut out, agent).expect("show license usage");
    render::show_udi(&mut out, agent).expect("show license udi");
    render::show_authorization(&mut out, agent).expect("show license authorization");
    render::show_rum(&mut out, agent, RumFilter::All, true).expect("show license rum");
    render::show_eventlog(&mut out, agent, None, now).expect("show license eventlog");
    render::show_history(&mut out, agent).expect("show license history");
}

/// The device keeps working on the state an accepted input left: everything `show` prints,
/// a usage change, the periodic work an hour later, and `show` again; the state stays the fold
/// of the journal.
pub fn exercise(agent: &mut FuzzAgent, now: Timestamp) {
    render_all(agent, now);
    let _ = agent.next_wakeup();
    let _ = agent.next_push();
    for lic in 0..agent.catalogue().len() {
        let _ = agent.license_status(lic);
    }
    let mut sink = RecordingSink::default();
    let _ = agent.set_usage(now, "dna-essentials", 2);
    let later = now.add_secs(3_600);
    let _ = agent.tick(later, &mut sink);
    render_all(agent, later);
    assert_eq!(
        agent.replayed_state().expect("journal replays"),
        *agent.state(),
        "state is not the fold of the journal"
    );
}

/// Import `text` and check the promise: a refusal (or "already applied") changes neither the
/// state nor the journal; an accepted file leaves a state the journal replays to.
pub fn import_checked(
    agent: &mut FuzzAgent,
    now: Timestamp,
    text: &[u8],
) -> Result<Imported, tally_core::AgentError> {
    let before: State = agent.state().clone();
    let used = agent.journal().used();
    let mut scratch = vec![0u8; Limits::USAGE_FILE_BYTES + 256];
    let mut sink = RecordingSink::default();
    let r = agent.import(now, text, &mut scratch, &mut sink);
    match &r {
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert_eq!(
                *agent.state(),
                before,
                "refused ({e:?}) but the state changed"
            );
            assert_eq!(
                agent.journal().used(),
                used,
                "refused ({e:?}) but journaled"
            );
        }
        Ok(Imported::AlreadyApplied(_)) => {
            assert_eq!(
                *agent.state(),
                before,
                "already applied, yet the state changed"
            );
            assert_eq!(
                agent.journal().used(),
                used,
                "already applied, yet journaled"
            );
        }
        Ok(_) => assert_eq!(
            agent.replayed_state().expect("journal replays"),
            *agent.state(),
            "accepted, but the state is not the fold of the journal"
        ),
    }
    for (_, m) in &sink.messages {
        assert!(m.starts_with("%SMART_LIC-"), "syslog line {m:?}");
    }
    r
}

/// `license smart import`: the whole pipeline on the file the input stands for, then the same
/// file again (re-importing is a no-op, DESIGN.md §3).
pub fn check_import(data: &[u8]) {
    let Some(text) = import_text(data) else {
        return;
    };
    let mut agent = baseline().agent();
    let first = import_checked(&mut agent, NOW, &text);
    if first.is_ok() {
        exercise(&mut agent, NOW);
    }
    let after = agent.state().clone();
    let used = agent.journal().used();
    let second = import_checked(&mut agent, NOW, &text);
    assert_eq!(
        *agent.state(),
        after,
        "importing the same file twice changed the state again ({first:?}, then {second:?})"
    );
    assert_eq!(agent.journal().used(), used, "second import journaled");
}

// ---------------------------------------------------------------------------------------
// provision

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The image a `provision` input stands for. First byte: 0 the image as is, 1 the image with
/// its CRC appended (so mutations reach the decoder), 2 an armoured provisioning file.
pub fn provision_image(data: &[u8]) -> Option<Vec<u8>> {
    let (&sel, rest) = data.split_first()?;
    match sel % 3 {
        0 => Some(rest.to_vec()),
        1 => {
            let mut v = rest.to_vec();
            v.extend_from_slice(&CRC32.checksum(rest).to_le_bytes());
            Some(v)
        }
        _ => {
            let mut bin = vec![0u8; PROVISION_BYTES];
            let (label, n) = envelope::dearmour(rest, &mut bin).ok()?;
            (label == PROVISION_LABEL).then(|| bin[..n].to_vec())
        }
    }
}

/// `Provisioning::decode`, then `anchors`, then the factory items on a first boot.
pub fn check_provision(data: &[u8]) {
    let Some(image) = provision_image(data) else {
        return;
    };
    // The image without its CRC, as `Provisioning::decode` reads it.
    decoders_agree::<Provisioning>(&image[..image.len().saturating_sub(4)]);
    let Ok(p) = Provisioning::decode(&image) else {
        return;
    };
    assert_eq!(p.version, PROVISION_VERSION);
    if let Some(secret) = &p.device_secret {
        assert_eq!(
            tally_core::crypto::public_key(secret).ok(),
            Some(p.device_key.0),
            "a secret that is not the device key's was accepted"
        );
    }
    let mut out = vec![0u8; PROVISION_BYTES];
    let n = p.encode(&mut out).expect("a decoded image re-encodes");
    assert_eq!(Provisioning::decode(&out[..n]).as_ref(), Ok(&p));
    assert_eq!(p.authority_keys().len(), p.authority_keys.len());
    let Ok(anchors) = p.anchors() else {
        return;
    };
    assert_eq!(anchors.device_key, Some(p.device_key.0));
    assert_eq!(anchors.manufacturing_key, Some(p.manufacturing_key.0));
    assert!(
        anchors.factory.is_some(),
        "anchors without the factory code"
    );
    // A first boot on this image: its factory policy and authorization codes are verified
    // against its own authority keys; a refusal changes nothing.
    let mut ident = baseline().ident.clone();
    ident.members.clear();
    ident.udi = p.udi.clone();
    ident.authority_keys = p.authority_keys();
    ident.trust = anchors;
    let Ok(mut agent) = Agent::boot(ident, FuzzJournal::new(), NOW) else {
        return;
    };
    let before = agent.state().clone();
    let used = agent.journal().used();
    let codes: Vec<&[u8]> = p.auth_codes.iter().map(|c| c.as_slice()).collect();
    let policy = p.policy.as_ref().map(|v| v.as_slice());
    match agent.install_factory(NOW, policy, &codes) {
        Err(e) => {
            assert_eq!(
                *agent.state(),
                before,
                "factory items refused ({e:?}), state changed"
            );
            assert_eq!(agent.journal().used(), used);
        }
        Ok(_) => {
            exercise(&mut agent, NOW);
            let after = agent.state().clone();
            assert_eq!(agent.install_factory(NOW, policy, &codes), Ok(false));
            assert_eq!(*agent.state(), after, "factory items taken twice");
        }
    }
}

// ---------------------------------------------------------------------------------------
// console

/// Valid files on the device's file system for `license smart import`, and one that is not.
pub fn console_files() -> MemFiles {
    let b = baseline();
    let mut files = MemFiles::default();
    let names = [
        "bootflash:ack.txt",
        "bootflash:policy.txt",
        "bootflash:trust.txt",
        "bootflash:trust-response.txt",
        "bootflash:slac.txt",
        "bootflash:auth-response.txt",
    ];
    for (name, (_, text)) in names.iter().zip(&b.signed) {
        files.files.insert((*name).to_string(), text.clone());
    }
    files
        .files
        .insert("bootflash:usage.txt".to_string(), b.usage_file.clone());
    files.files.insert(
        "bootflash:junk.txt".to_string(),
        b"-----BEGIN TALLY ACK-----\n".to_vec(),
    );
    files
}

/// What the console prints for a line it could not parse.
fn parse_error(out: &str, max_caret: usize) -> bool {
    if out == "% Incomplete command.\n" {
        return true;
    }
    if out.starts_with("% Ambiguous command:  \"") && out.ends_with("\"\n") {
        return true;
    }
    out.strip_suffix("^\n% Invalid input detected at '^' marker.\n")
        .is_some_and(|pad| pad.len() <= max_caret && pad.bytes().all(|b| b == b' '))
}

fn is_show(line: &str) -> bool {
    line.split_whitespace().next().is_some_and(|t| {
        "show"
            .get(..t.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(t))
    })
}

/// Non-`show` commands that succeed print nothing or one of these.
const SUCCESS: [&str; 3] = [
    "Enter configuration commands",
    "Import Data Successful",
    "Enter this return code",
];

/// Console lines (UTF-8-lossy, one per input line) against the device.
pub fn check_console(data: &[u8]) {
    let b = baseline();
    let mut agent = b.agent();
    let mut key = b.device.clone();
    let mut files = console_files();
    let mut sink = RecordingSink::default();
    let mut bin = vec![0u8; Limits::USAGE_FILE_BYTES + 256];
    let mut text = vec![0u8; Limits::USAGE_FILE_BYTES * 2];
    let mut console = Console::default();
    let input = String::from_utf8_lossy(data);
    for (i, line) in input.split('\n').take(CONSOLE_LINES).enumerate() {
        let before = agent.state().clone();
        let used = agent.journal().used();
        let mode = console.mode;
        let prompt = console.hostname.len() + if mode == Mode::Config { 10 } else { 2 };
        let mut out = String::new();
        let mut env = Env {
            agent: &mut agent,
            key: &mut key,
            files: &mut files,
            sink: &mut sink,
            now: NOW.add_secs(60 * i as u64),
            bin: &mut bin,
            text: &mut text,
        };
        let r = console.execute(line, &mut env, &mut out);
        assert!(r.is_ok(), "{line:?}: {r:?}");
        if r == Ok(Effect::Communicate) {
            // What the simulator does next, over a link that is down.
            let now = env.now;
            if let Ok(Some(_)) = env.agent.poll_transmit(now, env.key, env.bin) {
                let _ = env
                    .agent
                    .on_response(now, Err(CommError::Unreachable), env.sink);
            }
        }
        let unparsed = parse_error(&out, prompt + line.len());
        if unparsed || out.starts_with("% Error: ") {
            assert_eq!(
                *agent.state(),
                before,
                "{line:?} printed {out:?} but changed state"
            );
            assert_eq!(
                agent.journal().used(),
                used,
                "{line:?} printed {out:?} but journaled"
            );
        }
        if unparsed {
            assert_eq!(
                console.mode, mode,
                "{line:?} did not parse but changed mode"
            );
        }
        assert!(
            out.is_empty()
                || out.starts_with('%')
                || unparsed
                || is_show(line)
                || SUCCESS.iter().any(|s| out.starts_with(s)),
            "{line:?} printed {out:?}"
        );
    }
    assert_eq!(
        agent.replayed_state().expect("journal replays"),
        *agent.state(),
        "state is not the fold of the journal"
    );
}
