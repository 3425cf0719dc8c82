//! The device's codecs against postcard + serde. Decoders (`tally_core::decode`, postcard's
//! format by hand; ADR 0012): postcard + serde encode everything and decode on the host; on
//! every journal record, snapshot part, state and authority message of a scenario that uses
//! every kind of operation, on a hand-made sample of every record variant, and on thousands of
//! mutations of each (truncations, changed, inserted and deleted bytes), both must give the
//! same value and the same remainder, or both refuse. Encoder (`tally_core::encode`, ADR
//! 0015): every value one of those decodes is encoded by both, to the same bytes, and every
//! message the device sent in the scenario is exactly postcard's encoding of its payload.
//! (The fuzz targets make the same checks on envelopes, payloads and provisioning images:
//! `fuzz/src/lib.rs`, replayed by `fuzz_corpus.rs`.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use heapless::Vec as HVec;
use tally_core::agent::{Agent, Identity, Release, ReturnMode, SyncScope};
use tally_core::config::{ConfigChange, Privacy, Transport};
use tally_core::decode::{self, Decode};
use tally_core::envelope;
use tally_core::journal::{Entry, Journal, JournalError, RamJournal};
use tally_core::policy::CustomPolicy;
use tally_core::rum::Selection;
use tally_core::state::{
    AckRecord, AuthEntry, Record, RecordRef, Removal, SnapPart, State, TrustEntry,
};
use tally_core::time::TimeZone;
use tally_core::wire::{
    Account, AckPayload, AckPoll, AckStatus, AckedReport, AuthCodeFile, AuthKind, AuthMode,
    AuthRequest, AuthResponse, AuthReturn, Kind, PolicyPayload, PushReceipt, TrustCodeFile,
    TrustOrigin, TrustRequest, TrustResponse, UsagePayload,
};
use tally_hal::mock::{MemFiles, RecordingSink, SoftwareKey};
use tally_hal::{CommError, DeviceKey, Files, Platform, Timestamp};
use tally_host_sim::authority::{Authority, sle_policy};
use tally_host_sim::profiles;

/// Keeps every commit's records and the state they applied to.
struct Recorder {
    inner: RamJournal<{ 64 * 1024 }>,
    records: Vec<Record>,
    states: Vec<State>,
}

impl Journal for Recorder {
    fn commit(&mut self, records: &[RecordRef<'_>], state: &State) -> Result<(), JournalError> {
        self.records.extend(records.iter().map(RecordRef::owned));
        self.states.push(state.clone());
        self.inner.commit(records, state)
    }
    fn replay(
        &mut self,
        state: &mut State,
        visit: &mut dyn FnMut(&mut State, Entry),
    ) -> Result<(), JournalError> {
        self.inner.replay(state, visit)
    }
}

// The fuzz targets' checks (`fuzz/src/lib.rs`): the same comparison of the two decoders.
#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)] // the fuzz targets use all of it; this test uses the decoder comparisons
mod harness;
use harness::{decoders_agree as agree, envelope_decoders_agree as envelope_agrees};

/// xorshift64*: the same mutations on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `sample`, every prefix of it, and `n` random mutations, each checked with `check`.
fn mutations(sample: &[u8], n: usize, rng: &mut Rng, check: &dyn Fn(&[u8])) {
    check(sample);
    // Every prefix of a small sample; 256 spread over a large one (a state is kilobytes).
    let step = sample.len().div_ceil(256).max(1);
    for len in (0..sample.len()).step_by(step) {
        check(&sample[..len]);
    }
    // Values where postcard's rules have edges: bools, options, varint continuations.
    const EDGES: [u8; 8] = [0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFE, 0xFF];
    for _ in 0..n {
        let mut m = sample.to_vec();
        let at = rng.below(m.len() + 1);
        let value = if rng.next().is_multiple_of(2) {
            EDGES[rng.below(EDGES.len())]
        } else {
            rng.next() as u8
        };
        match rng.next() % 3 {
            0 if at < m.len() => m[at] = value,
            1 => m.insert(at, value),
            _ if at < m.len() => {
                m.remove(at);
            }
            _ => m.push(value),
        }
        check(&m);
    }
}

fn pc<T: serde::Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap()
}

/// Envelopes and their payloads, the kinds the device reads.
fn message_agrees(bytes: &[u8]) {
    envelope_agrees(bytes);
    let Ok(env) = envelope::open(bytes, 64 * 1024) else {
        return;
    };
    let p = env.payload.0;
    match env.kind() {
        Kind::Ack => agree::<AckPayload>(p),
        Kind::Policy => agree::<PolicyPayload>(p),
        Kind::PushReceipt => agree::<PushReceipt>(p),
        Kind::TrustCode => agree::<TrustCodeFile>(p),
        Kind::TrustResponse => agree::<TrustResponse>(p),
        Kind::AuthCode => agree::<AuthCodeFile>(p),
        Kind::AuthResponse => agree::<AuthResponse>(p),
        _ => {}
    }
}

/// What a scenario of every kind of operation makes the device decode: its records, its
/// states (snapshots) and the authority's messages.
struct Samples {
    records: Vec<Record>,
    states: Vec<State>,
    messages: Vec<Vec<u8>>,
    /// What the device sent or saved: its envelopes (files dearmoured).
    sent: Vec<Vec<u8>>,
}

fn dearmoured(text: &str) -> Vec<u8> {
    let mut out = vec![0u8; 16 * 1024];
    let (_, n) = envelope::dearmour(text.as_bytes(), &mut out).unwrap();
    out.truncate(n);
    out
}

fn scenario() -> Samples {
    let profile = profiles::stack_switch().unwrap();
    let mut authority = Authority::new("decode authority");
    let mut key = SoftwareKey::from_seed(b"decode device");
    let udi = profile.platform.udi().clone();
    authority.register(&udi, key.public_key());
    let mut ident =
        Identity::from_platform(&profile.platform, &[authority.public_key()], Release::V17_7)
            .unwrap();
    // The key trust codes bind (the provisioning image gives it on a device).
    ident.trust.device_key = Some(key.public_key());
    let recorder = Recorder {
        inner: RamJournal::new(),
        records: Vec::new(),
        states: Vec::new(),
    };
    let mut t = Timestamp(1_767_603_600);
    let mut agent = Agent::boot(ident, recorder, t).unwrap();
    let mut sink = RecordingSink::default();
    let mut files = MemFiles::default();
    let (mut bin, mut text, mut scratch) = (
        vec![0u8; 16 * 1024],
        vec![0u8; 32 * 1024],
        vec![0u8; 16 * 1024],
    );
    let mut messages = Vec::new();
    let mut sent = Vec::new();
    macro_rules! exchange {
        () => {
            while let Some(tx) = agent.poll_transmit(t, &mut key, &mut bin).unwrap() {
                sent.push(bin[..tx.len].to_vec());
                match authority.handle(t, &bin[..tx.len]) {
                    Ok(answer) => {
                        messages.push(answer.clone());
                        let _ = agent.on_response(t, Ok(&answer), &mut sink);
                    }
                    Err(_) => {
                        let _ = agent.on_response(t, Err(CommError::Unreachable), &mut sink);
                        break;
                    }
                }
            }
        };
    }
    macro_rules! import {
        ($file:expr) => {{
            let file: String = $file;
            messages.push(dearmoured(&file));
            let _ = agent.import(t, file.as_bytes(), &mut scratch, &mut sink);
        }};
    }
    for round in 0..12u64 {
        let count = (round % 4) as u32;
        agent.set_usage(t, "network-essentials", count + 1).unwrap();
        agent.set_usage(t, "dna-essentials", 2).unwrap();
        for _ in 0..3 {
            t = t.add_secs(15 * 60);
            agent.tick(t, &mut sink).unwrap();
        }
        match round % 6 {
            0 => {
                // Online: a push, the ACK poll brings the account and a custom policy.
                agent
                    .configure(t, ConfigChange::Transport(Transport::Cslu))
                    .unwrap();
                authority.set_custom_policy(t, Some(sle_policy()));
                agent.request_sync(SyncScope::Local).unwrap();
                exchange!();
                t = t.add_secs(600);
                exchange!();
            }
            1 => {
                // Air-gapped: a saved usage file, the authority's ACK imported.
                agent
                    .configure(t, ConfigChange::Transport(Transport::Off))
                    .unwrap();
                agent
                    .save_usage(
                        t,
                        Selection::Unreported,
                        "u.txt",
                        &mut files,
                        &mut key,
                        &mut bin,
                        &mut text,
                    )
                    .unwrap();
                let mut buf = vec![0u8; 32 * 1024];
                let n = files.read("u.txt", &mut buf).unwrap();
                sent.push(dearmoured(std::str::from_utf8(&buf[..n]).unwrap()));
                import!(authority.upload(t, &buf[..n]).unwrap());
                import!(authority.policy_file(t, &udi).unwrap());
            }
            2 => {
                // Trust and authorization codes as files, an online authorization request.
                import!(authority.trust_code_file(t, &udi).unwrap());
                import!(
                    authority
                        .auth_code_file(t, &udi, "hseck9", AuthKind::Slr)
                        .unwrap()
                );
                agent.set_usage(t, "hseck9", 1).unwrap();
                agent
                    .configure(t, ConfigChange::Transport(Transport::Smart))
                    .unwrap();
                let _ =
                    agent.authorization_request(t, AuthMode::Replace, "hseck9", SyncScope::Local);
                exchange!();
            }
            3 => {
                // An online return, configuration, the event log cleared, a reboot.
                // A code in use cannot be returned: stop using it first.
                agent.set_usage(t, "hseck9", 0).unwrap();
                let _ = agent.authorization_return(
                    t,
                    SyncScope::Local,
                    ReturnMode::Online,
                    None,
                    &mut files,
                    &mut key,
                    &mut bin,
                    &mut text,
                    &mut sink,
                );
                exchange!();
                agent
                    .configure(t, ConfigChange::UsageInterval(Some(20 + round as u16)))
                    .unwrap();
                agent.clear_eventlog(t).unwrap();
                t = t.add_secs(3600);
                agent.reboot(t).unwrap();
            }
            4 => {
                let _ = agent.remove_policy(t, &mut sink);
                let _ = agent.trust_idtoken(t, "no-such-token", SyncScope::Local, false);
                exchange!();
                // Requests saved as files (air-gapped trust and authorization).
                let mut buf = vec![0u8; 32 * 1024];
                if agent
                    .save_trust_request(t, "t.txt", &mut files, &mut key, &mut bin, &mut text)
                    .is_ok()
                {
                    let n = files.read("t.txt", &mut buf).unwrap();
                    sent.push(dearmoured(std::str::from_utf8(&buf[..n]).unwrap()));
                }
                if agent
                    .save_authorization_request(
                        t,
                        "hseck9",
                        SyncScope::Local,
                        "a.txt",
                        &mut files,
                        &mut key,
                        &mut bin,
                        &mut text,
                    )
                    .is_ok()
                {
                    let n = files.read("a.txt", &mut buf).unwrap();
                    sent.push(dearmoured(std::str::from_utf8(&buf[..n]).unwrap()));
                }
            }
            _ => {
                for i in 0..6 {
                    agent.set_usage(t, "network-essentials", 3 + i % 3).unwrap();
                }
                agent.factory_reset(t, &mut sink).unwrap();
            }
        }
        t = t.add_secs(86_400);
    }
    let mut states = std::mem::take(&mut agent.journal_mut().states);
    states.push(agent.state().clone());
    let records = std::mem::take(&mut agent.journal_mut().records);
    Samples {
        records,
        states,
        messages,
        sent,
    }
}

/// A sample of every record variant, with the optional parts filled in.
fn every_record() -> Vec<Record> {
    let t = Timestamp(1_767_603_600);
    let policy = CustomPolicy {
        ack_required: Some(true),
        ..sle_policy()
    };
    let trust = TrustEntry {
        origin: TrustOrigin::IdToken,
        serial: u64::MAX,
        issued_at: t,
        installed_at: Timestamp(u64::MAX),
    };
    let auth = AuthEntry {
        kind: AuthKind::Slac,
        serial: 300,
        issued_at: t,
        installed_at: t,
        licenses: HVec::from_slice(&[(2, 1), (3, u16::MAX)]).unwrap(),
    };
    let account = Account {
        smart_account: heapless::String::try_from("BU Production Test").unwrap(),
        virtual_account: heapless::String::try_from("Ω virtual").unwrap(),
        as_of: t,
    };
    let mut reports = HVec::new();
    for (id, status) in [
        (1, AckStatus::Accepted),
        (u64::MAX, AckStatus::Removed),
        (128, AckStatus::Dropped),
        (16_384, AckStatus::Rejected),
    ] {
        reports.push(AckedReport { id, status }).unwrap();
    }
    let zone = TimeZone {
        name: heapless::String::try_from("PST").unwrap(),
        offset_secs: -8 * 3600,
    };
    vec![
        Record::Usage {
            t,
            lic: 7,
            count: u32::MAX,
        },
        Record::Measure { t },
        Record::CloseAll { t, reload: true },
        Record::Pushed {
            t,
            transaction: 1 << 40,
            poll_at: t.add_secs(600),
        },
        Record::Saved {
            t,
            selection: Selection::All,
        },
        Record::Saved {
            t,
            selection: Selection::Unreported,
        },
        Record::Saved {
            t,
            selection: Selection::Days {
                days: 30,
                today_start: t,
            },
        },
        Record::Saved {
            t,
            selection: Selection::RumId(u64::MAX - 1),
        },
        Record::Ack {
            t,
            ack: AckRecord {
                issued_at: t,
                seq: 9,
                transaction: 10,
                reports,
                account: Some(account),
                policy: Some(policy.clone()),
                trust: HVec::from_slice(&[(0, trust.clone()), (3, trust.clone())]).unwrap(),
                auth: HVec::from_slice(&[(1, auth.clone())]).unwrap(),
            },
        },
        Record::PollDone { t },
        Record::PolicyInstalled {
            t,
            policy: policy.clone(),
            issued_at: t,
            seq: 11,
        },
        Record::PolicyRemoved { t },
        Record::Config {
            t,
            change: ConfigChange::Transport(Transport::Callhome),
        },
        Record::Config {
            t,
            change: ConfigChange::SmartUrl(
                heapless::String::try_from("https://smartreceiver.cisco.com/licservice/license")
                    .unwrap(),
            ),
        },
        Record::Config {
            t,
            change: ConfigChange::CsluUrl(None),
        },
        Record::Config {
            t,
            change: ConfigChange::CsluUrl(Some(
                heapless::String::try_from("http://cslu-local:8182/cslu/v1/pi").unwrap(),
            )),
        },
        Record::Config {
            t,
            change: ConfigChange::UsageInterval(None),
        },
        Record::Config {
            t,
            change: ConfigChange::UsageInterval(Some(3650)),
        },
        Record::Config {
            t,
            change: ConfigChange::Privacy(Privacy {
                callhome_hostname: true,
                smart_hostname: false,
                version: true,
            }),
        },
        Record::Config {
            t,
            change: ConfigChange::TimeZone(zone),
        },
        Record::CommFailed { t },
        Record::CommRestored { t },
        Record::Alerted { t, days: 365 },
        Record::EventLogCleared { t },
        Record::TrustInstalled {
            t,
            seq: 12,
            issued_at: t,
            codes: HVec::from_slice(&[(0, trust.clone()), (1, trust)]).unwrap(),
        },
        Record::AuthRequested { t, lic: 2 },
        Record::AuthInstalled {
            t,
            seq: 13,
            codes: HVec::from_slice(&[(0, auth.clone())]).unwrap(),
        },
        Record::AuthRemoved {
            t,
            removed: HVec::from_slice(&[
                Removal {
                    slot: 0,
                    only: None,
                    return_code: None,
                },
                Removal {
                    slot: 1,
                    only: Some(2),
                    return_code: Some(heapless::String::try_from("CqaUPW-WSPYiq-ZNU2Dd").unwrap()),
                },
            ])
            .unwrap(),
        },
        Record::FactoryReset { t },
        Record::Provisioned {
            t,
            policy: Some((policy, t)),
            codes: HVec::from_slice(&[(0, auth)]).unwrap(),
        },
        Record::Provisioned {
            t,
            policy: None,
            codes: HVec::new(),
        },
    ]
}

/// The variant index a record starts with (< 128: one varint byte).
fn variant(bytes: &[u8]) -> u8 {
    bytes[0]
}

#[test]
fn every_record_variant_decodes_as_postcard_decodes_it() {
    let mut rng = Rng(0x5EED_0001);
    let mut seen = BTreeSet::new();
    for r in every_record() {
        let bytes = pc(&r);
        seen.insert(variant(&bytes));
        assert_eq!(decode::whole::<Record>(&bytes), Ok(r.clone()), "{r:?}");
        mutations(&bytes, 400, &mut rng, &|b| agree::<Record>(b));
    }
    // Every variant of `Record` has a sample (a new variant needs one here).
    assert_eq!(seen, (0..20).collect());

    // The journal decodes a batch into one reused record (`Decode::decode_into`): whatever
    // it held before, it is exactly the next record after. Each record twice (two ACKs in a
    // row reuse the ACK record in place), then all of them backwards.
    let all = every_record();
    let sequence: Vec<&Record> = all
        .iter()
        .flat_map(|r| [r, r])
        .chain(all.iter().rev())
        .collect();
    let mut batch = Vec::new();
    for r in &sequence {
        batch.extend_from_slice(&pc(*r));
    }
    let mut reader = decode::Reader::new(&batch);
    let mut record = Record::Measure { t: Timestamp(0) };
    for r in sequence {
        Record::decode_into(&mut reader, &mut record).unwrap();
        assert_eq!(&record, r);
    }
    assert!(reader.rest().is_empty());
}

#[test]
fn a_scenarios_records_states_and_messages_decode_as_postcard_decodes_them() {
    let s = scenario();
    let mut rng = Rng(0x5EED_0002);
    let mut kinds = BTreeSet::new();
    for r in &s.records {
        let bytes = pc(r);
        kinds.insert(variant(&bytes));
        assert_eq!(decode::whole::<Record>(&bytes).as_ref(), Ok(r));
        mutations(&bytes, 40, &mut rng, &|b| agree::<Record>(b));
    }
    // The scenario reaches most record kinds on its own (the rest: every_record_variant…).
    assert!(kinds.len() >= 14, "record kinds seen: {kinds:?}");

    let mut parts = 0;
    for (i, st) in s.states.iter().enumerate() {
        let bytes = pc(st);
        assert_eq!(decode::whole::<State>(&bytes).as_ref(), Ok(st));
        if i % 8 == 0 {
            mutations(&bytes, 200, &mut rng, &|b| agree::<State>(b));
        }
        // The journal writes the borrowed parts: the same bytes as the owned ones.
        let borrowed: Vec<Vec<u8>> = st.parts_ref().map(|p| pc(&p)).collect();
        let owned: Vec<Vec<u8>> = st.parts().map(|p| pc(&p)).collect();
        assert_eq!(borrowed, owned);
        // A mount adds them to a reset state in place: the state comes back whole, whether
        // the parts come in one item or one per item.
        let mut rebuilt = State::default();
        rebuilt.reset(0);
        decode::parts_into(&borrowed.concat(), &mut rebuilt);
        assert_eq!(&rebuilt, st);
        let mut rebuilt = State::default();
        rebuilt.reset(0);
        for part in &borrowed {
            decode::parts_into(part, &mut rebuilt);
        }
        assert_eq!(&rebuilt, st);
        for part in st.parts() {
            let bytes = pc(&part);
            assert_eq!(decode::whole::<SnapPart>(&bytes).as_ref(), Ok(&part));
            if i % 4 == 0 {
                mutations(&bytes, 20, &mut rng, &|b| agree::<SnapPart>(b));
            }
            parts += 1;
        }
    }
    assert!(parts > 1000, "{parts} snapshot parts");

    let mut kinds = BTreeSet::new();
    for m in &s.messages {
        let env = envelope::open(m, 64 * 1024).unwrap();
        kinds.insert(env.kind() as u8);
        mutations(m, 300, &mut rng, &message_agrees);
    }
    // ACK, policy, push receipt, trust code, trust response, authorization code and response.
    for k in [
        Kind::Ack,
        Kind::Policy,
        Kind::PushReceipt,
        Kind::TrustCode,
        Kind::AuthCode,
    ] {
        assert!(kinds.contains(&(k as u8)), "no {k:?} among {kinds:?}");
    }
}

/// The messages the device writes (encoded by `tally_core::encode`, the usage report from a
/// view of the state rather than a `UsagePayload`) are byte for byte postcard's encoding of
/// the payload the authority decodes from them.
#[test]
fn every_message_the_device_sends_is_postcards_encoding_of_its_payload() {
    fn canonical<T>(payload: &[u8])
    where
        T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let v: T = postcard::from_bytes(payload).unwrap();
        assert_eq!(pc(&v), payload, "{}", std::any::type_name::<T>());
        harness::encoders_agree(&v);
    }
    let s = scenario();
    let mut kinds = BTreeSet::new();
    for bytes in &s.sent {
        let env = envelope::open(bytes, 64 * 1024).unwrap();
        // The envelope itself re-encodes to the same bytes.
        assert_eq!(&pc(&env), bytes);
        let p = env.payload.0;
        kinds.insert(env.kind() as u8);
        match env.kind() {
            Kind::UsageReport => canonical::<UsagePayload>(p),
            Kind::AckPoll => canonical::<AckPoll>(p),
            Kind::TrustRequest => canonical::<TrustRequest>(p),
            Kind::AuthRequest => canonical::<AuthRequest>(p),
            Kind::AuthReturn => canonical::<AuthReturn>(p),
            k => panic!("the device sent a {k:?}"),
        }
    }
    // Every kind of message the device writes.
    let want: BTreeSet<u8> = [
        Kind::UsageReport,
        Kind::AckPoll,
        Kind::TrustRequest,
        Kind::AuthRequest,
        Kind::AuthReturn,
    ]
    .iter()
    .map(|k| *k as u8)
    .collect();
    assert_eq!(kinds, want);
}

/// Mostly continuation bytes and the last bytes' limits (u16 3, u32 15, u64 1), so that the
/// edges of every width come up.
fn varint_byte() -> impl proptest::strategy::Strategy<Value = u8> {
    use proptest::prelude::*;
    prop_oneof![
        4 => Just(0xFFu8),
        2 => Just(0x80u8),
        1 => prop::sample::select(vec![0x00u8, 0x01, 0x02, 0x03, 0x04, 0x0F, 0x10, 0x7F]),
        1 => any::<u8>(),
    ]
}

proptest::proptest! {
    /// The device's varints against postcard's, on any bytes: the same value or both an error
    /// (continuations, overlong encodings, bits past the type's in the last byte).
    #[test]
    fn varints_decode_as_postcard_decodes_them(bytes in proptest::collection::vec(varint_byte(), 0..12)) {
        agree::<u16>(&bytes);
        agree::<u32>(&bytes);
        agree::<u64>(&bytes);
        agree::<i32>(&bytes);
    }

    /// Every value back from postcard's encoding of it, at every width.
    #[test]
    fn varints_round_trip(v in proptest::prelude::any::<u64>()) {
        proptest::prop_assert_eq!(decode::whole::<u64>(&pc(&v)), Ok(v));
        proptest::prop_assert_eq!(decode::whole::<u32>(&pc(&(v as u32))), Ok(v as u32));
        proptest::prop_assert_eq!(decode::whole::<u16>(&pc(&(v as u16))), Ok(v as u16));
        proptest::prop_assert_eq!(decode::whole::<i32>(&pc(&(v as i32))), Ok(v as i32));
    }
}
