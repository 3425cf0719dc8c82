//! The security suite of the trust and authorization work (issue 4, DESIGN.md §2.6, §3): for
//! every kind of file the authority sends (ACK, policy, trust code, trust response,
//! authorization code, authorization response) it tries forged signatures, a foreign key under
//! the pinned key id, files for another UDI or key, truncations, oversized files, every
//! single-bit flip, replays, re-ordered messages, factory codes from outside, codes for other
//! features or counts, and tokens past their expiry or use count; and it winds the clock back
//! and forward. Every attack must be refused (or be a harmless no-op) with the state and the
//! journal unchanged and the seed's failure message for the file's kind (MSG-1, MSG-2, MSG-6).
//! The suite prints how many attacks it tried.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::crypto::LocalKey;
use tally_core::envelope;
use tally_core::limits::Limits;
use tally_core::state::State;
use tally_core::wire::{
    AckPayload, AuthCode, AuthCodeFile, AuthLicense, AuthResponse, Key, Kind, PolicyPayload,
    TrustCodeFile, TrustOrigin, TrustResponse,
};
use tally_hal::{DeviceKey, Timestamp, Udi, bounded};
use tally_host_sim::authority::DEFAULT_KEY_SEED;
use tally_host_sim::{SimOptions, Simulator};
use tally_tests::{DAY, messages, run};

const MSG1: &str = "%SMART_LIC-3-POLICY_INSTALL_FAILED: ";
const MSG2: &str = "%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED: ";
const MSG6: &str = "%SMART_LIC-3-TRUST_CODE_INSTALL_FAILED: ";

/// The failure message a refused file of `kind` must raise.
fn failure_message(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Policy => Some(MSG1),
        Kind::AuthCode | Kind::AuthResponse => Some(MSG2),
        Kind::TrustCode | Kind::TrustResponse => Some(MSG6),
        _ => None,
    }
}

fn read(s: &mut Simulator, path: &str) -> Vec<u8> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.device.files.read(path, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn unarmour(text: &[u8]) -> Vec<u8> {
    let mut bin = vec![0u8; 64 * 1024];
    let (_, n) = envelope::dearmour(text, &mut bin).unwrap();
    bin.truncate(n);
    bin
}

fn armour(kind: Kind, bin: &[u8]) -> Vec<u8> {
    let mut text = vec![0u8; bin.len() * 2 + 256];
    let n = envelope::armour(kind.armour_label(), bin, &mut text).unwrap();
    text.truncate(n);
    text
}

fn seal<T: serde::Serialize>(kind: Kind, payload: &T, key: &mut LocalKey) -> Vec<u8> {
    let mut buf = vec![0u8; Limits::USAGE_FILE_BYTES];
    let n = envelope::seal(kind, payload, key, &mut buf).unwrap();
    buf.truncate(n);
    armour(kind, &buf)
}

fn decode<T: serde::de::DeserializeOwned>(text: &[u8]) -> T {
    let bin = unarmour(text);
    envelope::open(&bin, 64 * 1024).unwrap().decode().unwrap()
}

/// The payload of envelope `bin` signed again with `key` (a forgery when `key` is not pinned).
fn reseal(kind: Kind, bin: &[u8], key: &mut LocalKey) -> Vec<u8> {
    let env = envelope::open(bin, 64 * 1024).unwrap();
    match kind {
        Kind::Ack => seal(kind, &env.decode::<AckPayload>().unwrap(), key),
        Kind::Policy => seal(kind, &env.decode::<PolicyPayload>().unwrap(), key),
        Kind::TrustCode => seal(kind, &env.decode::<TrustCodeFile>().unwrap(), key),
        Kind::TrustResponse => seal(kind, &env.decode::<TrustResponse>().unwrap(), key),
        Kind::AuthCode => seal(kind, &env.decode::<AuthCodeFile>().unwrap(), key),
        Kind::AuthResponse => seal(kind, &env.decode::<AuthResponse>().unwrap(), key),
        k => panic!("not an authority file: {k:?}"),
    }
}

fn authority_key() -> LocalKey {
    LocalKey::from_seed(DEFAULT_KEY_SEED.as_bytes()).unwrap()
}

/// Imports hostile files and checks each was refused and changed nothing.
struct Attacker {
    sim: Simulator,
    state: State,
    journal: u64,
    tried: usize,
}

impl Attacker {
    fn new(sim: Simulator) -> Attacker {
        let state = sim.device.agent.state().clone();
        let journal = sim.device.agent.journal().commits();
        Attacker {
            sim,
            state,
            journal,
            tried: 0,
        }
    }

    /// Accept what the device now holds as the new baseline (after a legitimate install).
    fn rebase(&mut self) {
        self.state = self.sim.device.agent.state().clone();
        self.journal = self.sim.device.agent.journal().commits();
    }

    fn import(&mut self, bytes: &[u8]) -> String {
        self.sim
            .device
            .files
            .write("bootflash:x.txt", bytes)
            .unwrap();
        self.sim.line("license smart import bootflash:x.txt")
    }

    /// `bytes` claims to be a `said` file: it must be refused with `said`'s failure message.
    fn refused(&mut self, what: &str, said: Option<Kind>, bytes: &[u8]) {
        let out = self.import(bytes);
        self.tried += 1;
        assert!(
            out.contains("% Error: import: "),
            "{what}: not refused:\n{out}"
        );
        if let Some(m) = said.and_then(failure_message) {
            assert!(out.contains(m), "{what}: no {m}:\n{out}");
        }
        self.unchanged(what);
    }

    /// A replay of what is installed: a harmless no-op.
    fn no_op(&mut self, what: &str, bytes: &[u8]) {
        let out = self.import(bytes);
        self.tried += 1;
        assert!(
            out.contains("already installed, nothing changed") || out.contains("% Error: import: "),
            "{what}: {out}"
        );
        self.unchanged(what);
    }

    fn unchanged(&self, what: &str) {
        assert!(
            self.sim.device.agent.state() == &self.state,
            "{what}: the state changed"
        );
        assert_eq!(
            self.sim.device.agent.journal().commits(),
            self.journal,
            "{what}: something was journaled"
        );
    }

    /// Every generic attack on one valid file of `kind`.
    fn every_mutation(&mut self, name: &str, kind: Kind, file: &[u8]) {
        let bin = unarmour(file);
        let said = Some(kind);
        // Forged: the same payload signed by a key the device does not pin, under its own key
        // id and under the pinned one.
        let mut forger = LocalKey::from_seed(b"a forger").unwrap();
        let forged = unarmour(&reseal(kind, &bin, &mut forger));
        assert_eq!(
            envelope::open(&forged, 64 * 1024).unwrap().payload,
            envelope::open(&bin, 64 * 1024).unwrap().payload,
            "the forgery carries the same payload"
        );
        self.refused(&format!("{name}: forged"), said, &armour(kind, &forged));
        let mut spoof = forged.clone();
        spoof[2..10].copy_from_slice(&bin[2..10]);
        self.refused(
            &format!("{name}: key id spoofed"),
            said,
            &armour(kind, &spoof),
        );
        // Truncated: every prefix of the envelope, and of the text.
        for cut in 0..bin.len() {
            self.refused(
                &format!("{name}: cut at {cut}"),
                said,
                &armour(kind, &bin[..cut]),
            );
        }
        let labelled = format!("-----BEGIN {}", kind.armour_label());
        for cut in (0..file.len() - 1).step_by(5) {
            let says = file[..cut].starts_with(labelled.as_bytes());
            self.refused(
                &format!("{name}: text cut at {cut}"),
                if says { said } else { None },
                &file[..cut],
            );
        }
        // Oversized: trailing bytes, and a file over the import limit.
        let mut padded = bin.clone();
        padded.extend_from_slice(&[0; 8]);
        self.refused(
            &format!("{name}: trailing bytes"),
            said,
            &armour(kind, &padded),
        );
        let mut big = file.to_vec();
        big.extend(std::iter::repeat_n(b'A', Limits::IMPORT_FILE_BYTES));
        self.refused(&format!("{name}: oversized"), said, &big);
        // Every single-bit flip of the envelope.
        for byte in 0..bin.len() {
            for bit in 0..8 {
                let mut f = bin.clone();
                f[byte] ^= 1 << bit;
                self.refused(
                    &format!("{name}: bit {byte}.{bit}"),
                    said,
                    &armour(kind, &f),
                );
            }
        }
        // The envelope under another kind's label.
        let other = if kind == Kind::Ack {
            Kind::Policy
        } else {
            Kind::Ack
        };
        self.refused(
            &format!("{name}: wrong label"),
            Some(other),
            &armour(other, &bin),
        );
    }
}

/// A stack with no trust code, HSECK9 in the account's pool, reports saved, and valid files of
/// every kind for it (none imported yet).
struct Fixture {
    sim: Simulator,
    ack: Vec<u8>,
    policy: Vec<u8>,
    trust_code: Vec<u8>,
    trust_response: Vec<u8>,
    auth_code: Vec<u8>,
    auth_response: Vec<u8>,
}

fn fixture() -> Fixture {
    let mut s = Simulator::new(SimOptions::default()).unwrap();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 2",
            "sim clock advance 3d",
            "sim authority pool hseck9 4",
            // The trust request first: once the ACK has registered the UDI, CSSM refuses it.
            "license smart save trust-request bootflash:tr.txt",
            "sim authority upload bootflash:tr.txt bootflash:trust-response.txt",
            "sim authority trust-code bootflash:trust-code.txt",
            "license smart save usage unreported file bootflash:u.txt",
            "sim authority upload bootflash:u.txt bootflash:ack.txt",
            "sim authority policy bootflash:policy.txt",
            "license smart authorization request save bootflash:ar.txt hseck9 local",
            "sim authority upload bootflash:ar.txt bootflash:auth-response.txt",
            "sim authority auth-code hseck9 bootflash:auth-code.txt",
        ],
    );
    Fixture {
        ack: read(&mut s, "bootflash:ack.txt"),
        policy: read(&mut s, "bootflash:policy.txt"),
        trust_code: read(&mut s, "bootflash:trust-code.txt"),
        trust_response: read(&mut s, "bootflash:trust-response.txt"),
        auth_code: read(&mut s, "bootflash:auth-code.txt"),
        auth_response: read(&mut s, "bootflash:auth-response.txt"),
        sim: s,
    }
}

#[test]
fn each_valid_file_would_change_the_state() {
    // The control: without it, "nothing changed" would prove nothing.
    let f = fixture();
    for (name, file) in [
        ("ACK", &f.ack),
        ("policy", &f.policy),
        ("trust code", &f.trust_code),
        ("trust response", &f.trust_response),
        ("authorization code", &f.auth_code),
        ("authorization response", &f.auth_response),
    ] {
        let mut s = fixture().sim;
        let before = s.device.agent.state().clone();
        s.device.files.write("bootflash:x.txt", file).unwrap();
        let out = s.line("license smart import bootflash:x.txt");
        assert!(out.starts_with("Import Data Successful: "), "{name}: {out}");
        assert!(s.device.agent.state() != &before, "{name}");
    }
}

#[test]
fn every_attack_is_refused_and_changes_nothing() {
    let f = fixture();
    let udi = f.sim.device.agent.identity().udi.clone();
    let device_key = f.sim.device.key.public_key();
    let mut a = Attacker::new(fixture().sim);
    let mut key = authority_key();

    // Generic attacks on every kind of file.
    for (name, kind, file) in [
        ("ACK", Kind::Ack, &f.ack),
        ("policy", Kind::Policy, &f.policy),
        ("trust code", Kind::TrustCode, &f.trust_code),
        ("trust response", Kind::TrustResponse, &f.trust_response),
        ("authorization code", Kind::AuthCode, &f.auth_code),
        (
            "authorization response",
            Kind::AuthResponse,
            &f.auth_response,
        ),
    ] {
        a.every_mutation(name, kind, file);
    }

    // Correctly signed by the real authority, but not for this device.
    let other = Udi::new("C9200L-48P-4X", "JAE99999ZZZ").unwrap();
    let mut tc: TrustCodeFile = decode(&f.trust_code);
    tc.code.udi = other.clone();
    tc.seq += 1000;
    a.refused(
        "trust code for another UDI",
        Some(Kind::TrustCode),
        &seal(Kind::TrustCode, &tc, &mut key),
    );
    let mut tc: TrustCodeFile = decode(&f.trust_code);
    tc.code.device_key = Key(LocalKey::from_seed(b"a clone").unwrap().public_key());
    tc.seq += 1000;
    a.refused(
        "trust code for another key",
        Some(Kind::TrustCode),
        &seal(Kind::TrustCode, &tc, &mut key),
    );
    let mut tc: TrustCodeFile = decode(&f.trust_code);
    tc.code.origin = TrustOrigin::Factory;
    tc.seq += 1000;
    a.refused(
        "a factory code from outside",
        Some(Kind::TrustCode),
        &seal(Kind::TrustCode, &tc, &mut key),
    );
    let mut tr: TrustResponse = decode(&f.trust_response);
    tr.udi = other.clone();
    tr.seq += 1000;
    a.refused(
        "trust response for another UDI",
        Some(Kind::TrustResponse),
        &seal(Kind::TrustResponse, &tr, &mut key),
    );
    let mut ac: AuthCodeFile = decode(&f.auth_code);
    ac.code.udi = other.clone();
    ac.seq += 1000;
    ac.code.serial += 1000;
    a.refused(
        "authorization code for another UDI",
        Some(Kind::AuthCode),
        &seal(Kind::AuthCode, &ac, &mut key),
    );
    let mut ar: AuthResponse = decode(&f.auth_response);
    ar.udi = other.clone();
    ar.seq += 1000;
    a.refused(
        "authorization response for another UDI",
        Some(Kind::AuthResponse),
        &seal(Kind::AuthResponse, &ar, &mut key),
    );
    let mut p: PolicyPayload = decode(&f.policy);
    p.udi = other.clone();
    p.seq += 1000;
    a.refused(
        "policy for another UDI",
        Some(Kind::Policy),
        &seal(Kind::Policy, &p, &mut key),
    );
    let mut k: AckPayload = decode(&f.ack);
    k.udi = other.clone();
    a.refused("ACK for another UDI", None, &seal(Kind::Ack, &k, &mut key));

    // An authorization code for another feature, for a license that needs none, for zero units.
    for (what, feature, count) in [
        ("a feature this product does not have", "no-such-feature", 1),
        ("a license that needs no code", "network-essentials", 1),
        ("zero units", "hseck9", 0),
    ] {
        let mut ac: AuthCodeFile = decode(&f.auth_code);
        ac.seq += 2000;
        ac.code.serial += 2000;
        ac.code.licenses.clear();
        ac.code
            .licenses
            .push(AuthLicense {
                feature: bounded(feature).unwrap(),
                count,
            })
            .unwrap();
        a.refused(
            &format!("authorization code for {what}"),
            Some(Kind::AuthCode),
            &seal(Kind::AuthCode, &ac, &mut key),
        );
    }
    let ac: AuthCodeFile = decode(&f.auth_code);
    let mut empty = ac.clone();
    empty.seq += 3000;
    empty.code = AuthCode {
        licenses: heapless::Vec::new(),
        serial: ac.code.serial + 3000,
        ..ac.code.clone()
    };
    a.refused(
        "authorization code with no license",
        Some(Kind::AuthCode),
        &seal(Kind::AuthCode, &empty, &mut key),
    );

    // Replays and re-ordered messages. Install the trust code and the authorization code, then
    // replay them (a no-op), and replay older messages after newer ones (refused).
    let out = a.import(&f.trust_code);
    assert!(out.starts_with("Import Data Successful"), "{out}");
    let out = a.import(&f.auth_code);
    assert!(out.starts_with("Import Data Successful"), "{out}");
    a.rebase();
    a.no_op("the same trust code again", &f.trust_code);
    a.no_op("the same authorization code again", &f.auth_code);
    // The trust response and authorization response were issued before the codes just
    // installed: older messages (re-ordered).
    a.refused(
        "an older trust response after a newer code",
        Some(Kind::TrustResponse),
        &f.trust_response,
    );
    a.refused(
        "an older authorization response after a newer code",
        Some(Kind::AuthResponse),
        &f.auth_response,
    );
    a.refused(
        "an older policy after newer messages",
        Some(Kind::Policy),
        &f.policy,
    );
    // A returned authorization code never comes back.
    let out = a
        .sim
        .line("license smart authorization return local offline");
    assert!(out.starts_with("Enter this return code"), "{out}");
    a.rebase();
    a.refused(
        "a returned authorization code replayed",
        Some(Kind::AuthCode),
        &f.auth_code,
    );
    // A trust code file cannot overwrite a code from the authority (no `force` offline).
    let mut tc: TrustCodeFile = decode(&f.trust_code);
    tc.seq += 5000;
    tc.code.serial += 5000;
    a.refused(
        "a second trust code over the authority's",
        Some(Kind::TrustCode),
        &seal(Kind::TrustCode, &tc, &mut key),
    );

    // Online: tokens past their expiry or use count, unknown tokens; nothing installed.
    run(
        &mut a.sim,
        &[
            "license smart transport smart",
            "sim authority idtoken EXPIRED expires 1h",
            "sim authority idtoken USED uses 1",
            "sim clock advance 2h",
        ],
    );
    a.rebase();
    let spent = a.sim.line("license smart trust idtoken USED local force");
    assert_eq!(
        messages(&spent, "TRUST_CODE_INSTALL_SUCCESS").len(),
        1,
        "{spent}"
    );
    a.rebase();
    for (what, line, why) in [
        (
            "token past expiry",
            "license smart trust idtoken EXPIRED all force",
            "The ID token has expired",
        ),
        (
            "token past its use count",
            "license smart trust idtoken USED all force",
            "The ID token has reached its maximum number of uses",
        ),
        (
            "unknown token",
            "license smart trust idtoken FORGED-TOKEN all force",
            "The ID token is not valid",
        ),
    ] {
        let out = a.sim.line(line);
        a.tried += 1;
        assert_eq!(
            messages(&out, "TRUST_CODE_INSTALL_FAILED").len(),
            2,
            "{what}: {out}"
        );
        assert!(out.contains(why), "{what}: {out}");
        a.unchanged(what);
    }

    println!(
        "security attacks tried: {} (ACK {} B, policy {} B, trust code {} B, trust response {} B, authorization code {} B, authorization response {} B)",
        a.tried,
        f.ack.len(),
        f.policy.len(),
        f.trust_code.len(),
        f.trust_response.len(),
        f.auth_code.len(),
        f.auth_response.len()
    );
    let _ = (udi, device_key);
    assert!(a.tried > 10_000, "{}", a.tried);
}

#[test]
fn the_clock_wound_back_or_forward_changes_no_deadline_and_no_order() {
    // DESIGN.md §3: deadlines are computed against the time high-water mark, ratcheted by
    // signed issue times; a clock wound back never extends a deadline or reorders the journal;
    // wound forward, it cannot make an older message newer.
    let mut s = Simulator::new(SimOptions::default()).unwrap();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage dna-essentials 1",
            "sim clock advance 10d",
        ],
    );
    let deadline = s.device.agent.schedule().ack_deadline.unwrap();
    let hwm = s.device.agent.state().hwm;
    let last_id = s.device.agent.state().last_id;
    // Wound back a year: nothing moves back.
    run(
        &mut s,
        &[
            "sim clock skew -365d",
            "sim usage dna-essentials 2",
            "license smart save usage all file bootflash:u.txt",
        ],
    );
    let st = s.device.agent.state();
    assert!(st.hwm >= hwm);
    assert!(st.last_id > last_id, "IDs keep growing");
    assert!(
        st.reports
            .iter()
            .all(|r| r.start >= Timestamp(hwm.secs() - 10 * DAY))
    );
    let after = s.device.agent.schedule().ack_deadline.unwrap();
    assert!(
        after <= deadline,
        "the deadline was not extended: {after:?} > {deadline:?}"
    );
    let status = run(&mut s, &["show license status"]);
    assert!(
        !status.contains("2025"),
        "no time shown a year back:\n{status}"
    );
    // Wound forward: a policy issued before (older issue time, but the newest message) is
    // still accepted, and an older one afterwards is still refused.
    run(
        &mut s,
        &[
            "sim clock skew 0",
            "sim authority policy bootflash:p1.txt",
            "sim clock advance 1h",
            "sim authority policy bootflash:p2.txt",
            "sim clock skew 400d",
        ],
    );
    let p2 = run(&mut s, &["license smart import bootflash:p2.txt"]);
    assert!(p2.contains("POLICY_INSTALL_SUCCESS"), "{p2}");
    let p1 = s.line("license smart import bootflash:p1.txt");
    assert!(p1.contains("% Error: import: timestamp mismatch"), "{p1}");
    assert!(p1.contains(MSG1));
}

#[test]
fn a_response_that_turns_out_malformed_reports_nothing_about_its_codes() {
    // MSG-2, MSG-6, ADR 0013: a trust or authorization response is checked code by code as it
    // is decoded, in a second pass over the payload. The first pass reads the whole payload,
    // so one that is malformed after its codes is refused as malformed. It must not raise a
    // failure message for each code before that, and it must change nothing.
    let f = fixture();
    let mut a = Attacker::new(fixture().sim);
    let mut key = authority_key();
    let other = Udi::new("C9200L-48P-4X", "JAE99999ZZZ").unwrap();

    let mut ar: AuthResponse = decode(&f.auth_response);
    ar.seq += 1000;
    for c in ar.codes.iter_mut() {
        c.udi = other.clone();
        c.serial += 1000;
    }
    // The same response, each code for another UDI: each code is refused by name.
    let out = a.import(&seal(Kind::AuthResponse, &ar, &mut key));
    assert!(out.contains(MSG2) && out.contains("JAE99999ZZZ"), "{out}");
    a.rebase();
    // Then with one byte after it: refused as malformed, no code named.
    ar.seq += 1;
    let trailing = (ar.clone(), 0u8);
    let out = a.import(&seal(Kind::AuthResponse, &trailing, &mut key));
    assert!(out.contains("% Error: import: "), "{out}");
    assert!(!out.contains("JAE99999ZZZ"), "a code was reported:\n{out}");
    a.unchanged("authorization response with a trailing byte");

    let mut tr: TrustResponse = decode(&f.trust_response);
    tr.seq += 2000;
    for c in tr.codes.iter_mut() {
        c.udi = other.clone();
    }
    let out = a.import(&seal(Kind::TrustResponse, &tr, &mut key));
    assert!(out.contains(MSG6) && out.contains("JAE99999ZZZ"), "{out}");
    a.rebase();
    tr.seq += 1;
    let out = a.import(&seal(Kind::TrustResponse, &(tr, 0u8), &mut key));
    assert!(out.contains("% Error: import: "), "{out}");
    assert!(!out.contains("JAE99999ZZZ"), "a code was reported:\n{out}");
    a.unchanged("trust response with a trailing byte");
}
