//! Online authorization answers that turn out malformed after their codes (MSG-2, ADR 0013).
//!
//! The agent reads a verified answer twice: first whole, then code by code into the record it
//! commits. An answer with a byte after its codes must be refused as an invalid response, as
//! one that does not decode at all is. It must install nothing, change nothing, and raise no
//! message about a code it carries. The control is the same answer without the extra byte: its
//! codes reach the per-code check and are refused by name.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::agent::{Agent, Identity, Release, SyncScope};
use tally_core::config::{ConfigChange, Transport};
use tally_core::envelope;
use tally_core::journal::flash::FlashJournal;
use tally_core::wire::{AuthMode, AuthResponse, Kind};
use tally_hal::mock::{MockFlash, RecordingSink, SoftwareKey};
use tally_hal::{DeviceKey, Platform, Timestamp, Udi};
use tally_host_sim::authority::Authority;
use tally_host_sim::profiles;

const AUTHORITY_SEED: &str = "online answers authority";
const T0: Timestamp = Timestamp(1_767_603_600);

struct Rig {
    agent: Agent<FlashJournal<MockFlash<8, 4096>>>,
    authority: Authority,
    key: SoftwareKey,
    sink: RecordingSink,
}

fn rig() -> Rig {
    let profile = profiles::stack_switch().unwrap();
    let mut authority = Authority::new(AUTHORITY_SEED);
    let key = SoftwareKey::from_seed(b"online answers device");
    authority.register(profile.platform.udi(), key.public_key());
    authority.pool.insert("hseck9".to_string(), 4);
    let ident =
        Identity::from_platform(&profile.platform, &[authority.public_key()], Release::V17_7)
            .unwrap();
    let journal = FlashJournal::new(MockFlash::<8, 4096>::new(8), 0, 8).unwrap();
    let mut agent = Agent::boot(ident, journal, T0).unwrap();
    agent
        .configure(T0, ConfigChange::Transport(Transport::Cslu))
        .unwrap();
    Rig {
        agent,
        authority,
        key,
        sink: RecordingSink::default(),
    }
}

impl Rig {
    /// Request an authorization code for hseck9 and return the authority's real answer,
    /// decoded.
    fn request(&mut self, t: Timestamp) -> AuthResponse {
        self.agent
            .authorization_request(t, AuthMode::Add, "hseck9", SyncScope::Local)
            .unwrap();
        let mut bin = vec![0u8; 16 * 1024];
        let tx = self
            .agent
            .poll_transmit(t, &mut self.key, &mut bin)
            .unwrap()
            .expect("the request goes out");
        let answer = self.authority.handle(t, &bin[..tx.len]).unwrap();
        let env = envelope::open(&answer, 64 * 1024).unwrap();
        assert_eq!(env.kind(), Kind::AuthResponse);
        env.decode().unwrap()
    }

    /// Hand the agent `payload` as its answer, signed by the authority's real key.
    fn answer<T: serde::Serialize>(&mut self, t: Timestamp, payload: &T) -> String {
        let mut authority_key = SoftwareKey::from_seed(AUTHORITY_SEED.as_bytes());
        let mut buf = vec![0u8; 16 * 1024];
        let n = envelope::seal(Kind::AuthResponse, payload, &mut authority_key, &mut buf).unwrap();
        self.sink.messages.clear();
        self.agent
            .on_response(t, Ok(&buf[..n]), &mut self.sink)
            .unwrap();
        self.sink
            .messages
            .iter()
            .map(|(_, m)| format!("{m}\n"))
            .collect()
    }
}

fn elsewhere(r: &mut AuthResponse) {
    let other = Udi::new("C9200L-48P-4X", "JAE99999ZZZ").unwrap();
    assert!(!r.codes.is_empty(), "the authority issued a code");
    for c in r.codes.iter_mut() {
        c.udi = other.clone();
    }
}

#[test]
fn an_online_answer_malformed_after_its_codes_is_refused_whole() {
    let mut rig = rig();
    let t = T0.add_secs(60);

    // The control: every code for another UDI, refused by name (MSG-2).
    let mut r = rig.request(t);
    elsewhere(&mut r);
    let out = rig.answer(t, &r);
    assert!(
        out.contains("%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED") && out.contains("JAE99999ZZZ"),
        "{out}"
    );
    assert!(rig.agent.authorization_of(0).is_none());

    // The same with one byte after it: an invalid response, and nothing about its codes.
    let t = t.add_secs(60);
    let mut r = rig.request(t);
    elsewhere(&mut r);
    let state = rig.agent.state().clone();
    let commits = rig.agent.journal().commits();
    let out = rig.answer(t, &(r, 0u8));
    assert!(out.contains("invalid response"), "{out}");
    assert!(!out.contains("JAE99999ZZZ"), "a code was reported:\n{out}");
    assert!(rig.agent.state() == &state, "the state changed");
    assert_eq!(
        rig.agent.journal().commits(),
        commits,
        "something was committed"
    );
    assert!(rig.agent.authorization_of(0).is_none());

    // And a real answer still installs (the rig is not broken).
    let t = t.add_secs(60);
    let r = rig.request(t);
    let out = rig.answer(t, &r);
    assert!(
        out.contains("%SMART_LIC-6-AUTHORIZATION_INSTALL_SUCCESS"),
        "{out}"
    );
    assert!(rig.agent.authorization_of(0).is_some());
}
