//! Bad input on `license smart import`: forged, truncated, oversized, wrong-UDI, bit-flipped,
//! wrong-kind and garbage files are refused with a clear error, the seed's failure message for
//! policies (MSG-1), and no change at all to the state or the journal (DESIGN.md §2.6).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::envelope;
use tally_core::limits::Limits;
use tally_core::state::State;
use tally_hal::{DeviceKey, Udi};
use tally_host_sim::authority::Authority;
use tally_host_sim::{SimOptions, Simulator};
use tally_tests::run;

const POLICY_FAILED: &str =
    "%SMART_LIC-3-POLICY_INSTALL_FAILED: The installation of a new licensing policy has failed: ";

/// A device with reports saved and waiting for an ACK, plus a valid ACK file and a valid policy
/// file for it (not yet imported).
fn device() -> (Simulator, Vec<u8>, Vec<u8>) {
    let mut s = Simulator::new(SimOptions::default()).unwrap();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 2",
            "sim usage dna-essentials 2",
            "sim clock advance 3d",
            "license smart save usage unreported file bootflash:u.txt",
            "sim authority upload bootflash:u.txt bootflash:ack.txt",
            "sim authority policy bootflash:policy.txt",
        ],
    );
    let ack = read(&mut s, "bootflash:ack.txt");
    let policy = read(&mut s, "bootflash:policy.txt");
    (s, ack, policy)
}

fn read(s: &mut Simulator, path: &str) -> Vec<u8> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.device.files.read(path, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// The binary envelope inside an armoured file.
fn unarmour(text: &[u8]) -> (String, Vec<u8>) {
    let mut bin = vec![0u8; 64 * 1024];
    let (label, n) = envelope::dearmour(text, &mut bin).unwrap();
    bin.truncate(n);
    (label.to_string(), bin)
}

fn armour(label: &str, bin: &[u8]) -> Vec<u8> {
    let mut text = vec![0u8; bin.len() * 2 + 256];
    let n = envelope::armour(label, bin, &mut text).unwrap();
    text.truncate(n);
    text
}

/// Imports one bad file and checks that it was refused and changed nothing.
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

    fn attack(&mut self, what: &str, bytes: &[u8], policy_labelled: bool) {
        self.sim
            .device
            .files
            .write("bootflash:bad.txt", bytes)
            .unwrap();
        let out = self.sim.line("license smart import bootflash:bad.txt");
        self.check(what, &out, policy_labelled);
    }

    fn check(&mut self, what: &str, out: &str, policy_labelled: bool) {
        self.tried += 1;
        assert!(
            out.contains("% Error: import: "),
            "{what}: not refused:\n{out}"
        );
        assert_eq!(
            out.contains(POLICY_FAILED),
            policy_labelled,
            "{what}: MSG-1 expected only for policy files:\n{out}"
        );
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
}

#[test]
fn valid_files_would_change_the_state() {
    // The control: without it, "nothing changed" would prove nothing.
    let (mut s, ack, policy) = device();
    let before = s.device.agent.state().clone();
    s.device.files.write("bootflash:x.txt", &ack).unwrap();
    assert!(
        s.line("license smart import bootflash:x.txt")
            .starts_with("Import Data Successful: ACK, 2 RUM report(s)")
    );
    assert!(s.device.agent.state() != &before);
    let before = s.device.agent.state().clone();
    s.device.files.write("bootflash:y.txt", &policy).unwrap();
    let out = s.line("license smart import bootflash:y.txt");
    assert!(out.contains("%SMART_LIC-6-POLICY_INSTALL_SUCCESS"), "{out}");
    assert!(s.device.agent.state() != &before);
}

#[test]
fn every_kind_of_bad_file_is_refused_and_changes_nothing() {
    let (sim, ack, policy) = device();
    let udi = sim.device.agent.identity().udi.clone();
    let device_key = sim.device.key.public_key();
    let now = sim.now;
    let mut a = Attacker::new(sim);
    let (ack_label, ack_bin) = unarmour(&ack);
    let (policy_label, policy_bin) = unarmour(&policy);
    assert_eq!(
        (ack_label.as_str(), policy_label.as_str()),
        ("TALLY ACK", "TALLY POLICY")
    );

    // Forged: a well-formed file signed by a key the device does not pin.
    let mut forger = Authority::new("a forger's key");
    forger.register(&udi, device_key);
    let forged_policy = forger.policy_file(now, &udi).unwrap();
    a.attack("forged policy", forged_policy.as_bytes(), true);
    let usage = read(&mut a.sim, "bootflash:u.txt");
    let forged_ack = forger.upload(now, &usage).unwrap();
    a.attack("forged ACK", forged_ack.as_bytes(), false);
    // The forger's signature under the real authority's key id (bytes 2..10 of the envelope).
    for (label, mine, theirs) in [
        ("TALLY ACK", &ack_bin, unarmour(forged_ack.as_bytes()).1),
        (
            "TALLY POLICY",
            &policy_bin,
            unarmour(forged_policy.as_bytes()).1,
        ),
    ] {
        let mut spoof = theirs.clone();
        spoof[2..10].copy_from_slice(&mine[2..10]);
        a.attack(
            "signature by another key under the pinned key id",
            &armour(label, &spoof),
            label == "TALLY POLICY",
        );
    }

    // Truncated: every prefix of the text, every prefix of the envelope re-armoured.
    for (label, text, bin) in [
        ("TALLY ACK", &ack, &ack_bin),
        ("TALLY POLICY", &policy, &policy_bin),
    ] {
        let is_policy = label == "TALLY POLICY";
        for cut in 0..text.len() - 1 {
            // A file still says it is a policy once its first 23 bytes are there.
            let labelled = is_policy && text[..cut].starts_with(b"-----BEGIN TALLY POLICY");

            a.attack("truncated text", &text[..cut], labelled);
        }
        for cut in 0..bin.len() {
            a.attack("truncated envelope", &armour(label, &bin[..cut]), is_policy);
        }
    }

    // Oversized: beyond the import limit, trailing bytes, a length prefix that lies.
    let mut big = ack.clone();
    let filler = armour("TALLY ACK", &vec![0x41; Limits::IMPORT_FILE_BYTES]);
    big.extend_from_slice(&filler);
    assert!(big.len() > Limits::IMPORT_FILE_BYTES);
    a.attack("file over the import limit", &big, false);
    let mut padded = ack_bin.clone();
    padded.extend_from_slice(&[0; 16]);
    a.attack(
        "trailing bytes after the envelope",
        &armour("TALLY ACK", &padded),
        false,
    );
    let mut huge = vec![0u8; Limits::INBOUND_PAYLOAD_BYTES + 1024];
    huge[..10].copy_from_slice(&ack_bin[..10]);
    huge[10..13].copy_from_slice(&[0xFF, 0xFF, 0x03]); // payload length 65535
    a.attack(
        "payload length over the limit",
        &armour("TALLY ACK", &huge),
        false,
    );

    // Wrong UDI: correctly signed by the real authority, for another product instance.
    let other = Udi::new("C9200L-48P-4X", "JAE99999ZZZ").unwrap();
    a.sim.authority.register(&other, device_key);
    let p = a.sim.authority.policy_file(now, &other).unwrap();
    a.attack("policy for another UDI", p.as_bytes(), true);
    let k = a.sim.authority.ack_file(now, &other).unwrap();
    a.attack("ACK for another UDI", k.as_bytes(), false);

    // Every single-bit flip of both envelopes.
    for (label, bin) in [("TALLY ACK", &ack_bin), ("TALLY POLICY", &policy_bin)] {
        for byte in 0..bin.len() {
            for bit in 0..8 {
                let mut flipped = bin.clone();
                flipped[byte] ^= 1 << bit;
                a.attack(
                    &format!("{label} bit {byte}.{bit}"),
                    &armour(label, &flipped),
                    label == "TALLY POLICY",
                );
            }
        }
    }
    // A sample of flips in the armoured text (base64 and armour lines).
    let mut same_file = 0;
    for i in (0..ack.len()).step_by(7) {
        let mut flipped = ack.clone();
        flipped[i] ^= 1 << (i % 7);
        // A flip the armour reads as the same file (whitespace it trims) is not an attack.
        let mut bin = vec![0u8; 64 * 1024];
        if envelope::dearmour(&flipped, &mut bin).is_ok_and(|(_, n)| bin[..n] == ack_bin[..]) {
            same_file += 1;
            continue;
        }
        a.attack(&format!("ACK text flip at {i}"), &flipped, false);
    }

    // Wrong kind and garbage.
    let usage = read(&mut a.sim, "bootflash:u.txt");
    a.attack("a usage report", &usage, false);
    a.attack("empty file", b"", false);
    let mut x: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..2000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    a.attack("random bytes", &noise, false);
    let swapped = String::from_utf8(ack.clone())
        .unwrap()
        .replace("-----END TALLY ACK-----", "-----END TALLY POLICY-----");
    a.attack("mismatched armour labels", swapped.as_bytes(), false);
    a.attack(
        "an ACK envelope labelled as a policy",
        &armour("TALLY POLICY", &ack_bin),
        true,
    );
    a.attack(
        "a policy envelope labelled as an ACK",
        &armour("TALLY ACK", &policy_bin),
        false,
    );
    a.attack(
        "an unknown label",
        &armour("TALLY LICENSE KEY", &ack_bin),
        false,
    );
    let out = a
        .sim
        .line("license smart import bootflash:no-such-file.txt");
    a.check("missing file", &out, false);
    assert!(out.contains("file not found"));
    let out = a
        .sim
        .line("license smart import bootflash:../../etc/passwd");
    a.check("path outside the file system", &out, false);

    let expected = 2
        + 2
        + (ack.len() - 1 + ack_bin.len() + policy.len() - 1 + policy_bin.len())
        + 3
        + 2
        + 8 * (ack_bin.len() + policy_bin.len())
        + ack.len().div_ceil(7)
        - same_file
        + 7
        + 2;
    println!(
        "bad-input attacks tried: {} (ACK file {} bytes, envelope {}; policy file {} bytes, envelope {})",
        a.tried,
        ack.len(),
        ack_bin.len(),
        policy.len(),
        policy_bin.len()
    );
    assert_eq!(a.tried, expected);
}

#[test]
fn replays_are_harmless_and_older_policies_are_refused() {
    // DESIGN.md §3 freshness: the same ACK twice is a no-op; an older policy never replaces a
    // newer one.
    let (mut s, ack, _) = device();
    s.device.files.write("bootflash:a.txt", &ack).unwrap();
    assert!(
        s.line("license smart import bootflash:a.txt")
            .starts_with("Import Data Successful: ACK, 2")
    );
    let state = s.device.agent.state().clone();
    let journal = s.device.agent.journal().commits();
    assert_eq!(
        s.line("license smart import bootflash:a.txt"),
        "Import Data Successful: ACK already installed, nothing changed\n"
    );
    assert!(s.device.agent.state() == &state);
    assert_eq!(s.device.agent.journal().commits(), journal);

    run(
        &mut s,
        &[
            "sim authority custom-policy Old subscription 60/60/60",
            "sim authority policy bootflash:old.txt",
            "sim clock advance 1d",
        ],
    );
    run(
        &mut s,
        &[
            "sim authority custom-policy New subscription 30/30/30",
            "sim authority policy bootflash:new.txt",
        ],
    );
    let out = s.line("license smart import bootflash:new.txt");
    assert!(out.contains("POLICY_INSTALL_SUCCESS"), "{out}");
    let mut a = Attacker::new(s);
    let old = read(&mut a.sim, "bootflash:old.txt");
    a.attack("an older policy after a newer one", &old, true);
    let out = a.sim.line("license smart import bootflash:new.txt");
    assert_eq!(
        out,
        "Import Data Successful: policy already installed, nothing changed\n"
    );
}
