//! Hardware in the loop under QEMU (issue 5, DESIGN.md §6): the Tally firmware on QEMU
//! `mps2-an386`, driven over UART0 by the simulator exactly as it drives the in-process device.
//!
//! - Parity: the same scenarios print byte-identical console output against both.
//! - Power cuts: QEMU killed at many points of a scenario, restarted on the same flash image;
//!   the journal's invariants hold, checked from the host.
//! - Hostile frames never wedge or crash the firmware.
//!
//! The firmware image is built by `.ci/run` before the tests; if it is missing, the test
//! builds it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::sync::Once;
use tally_core::rum::ReportState;
use tally_core::state::State;
use tally_host_sim::authority::Authority;
use tally_host_sim::factory::{self, Order};
use tally_host_sim::link_device::{LinkDevice, QemuSpec};
use tally_host_sim::sim::DEFAULT_START;
use tally_host_sim::sim::DeviceKind;
use tally_host_sim::{SimOptions, Simulator, transcript};

fn firmware() -> PathBuf {
    static BUILD: Once = Once::new();
    let elf = QemuSpec::default_elf();
    BUILD.call_once(|| build_if_missing(&elf, "tally-firmware"));
    assert!(elf.exists(), "{}", elf.display());
    elf
}

/// Builds the firmware crate's binary `bin` (release, Cortex-M4F) when `elf` is missing.
fn build_if_missing(elf: &std::path::Path, bin: &str) {
    if !elf.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "tally-firmware",
                "--target",
                "thumbv7em-none-eabihf",
                "--bin",
                bin,
            ])
            .status()
            .unwrap();
        assert!(st.success(), "building {bin} failed");
    }
}

fn local() -> Simulator {
    Simulator::new(SimOptions::default()).unwrap()
}

fn qemu_with(opts: SimOptions) -> Simulator {
    Simulator::new(SimOptions {
        device: DeviceKind::Qemu {
            elf: Some(firmware()),
        },
        ..opts
    })
    .unwrap()
}

/// Run `script` against the in-process device and the firmware; the transcripts must match.
fn parity(name: &str, script: &str) -> String {
    parity_with(name, script, SimOptions::default)
}

/// `parity` with the simulator options `opts` makes (one set for each side).
fn parity_with(name: &str, script: &str, opts: impl Fn() -> SimOptions) -> String {
    let lines: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let a = transcript(&mut Simulator::new(opts()).unwrap(), lines.iter().copied());
    let b = transcript(&mut qemu_with(opts()), lines.iter().copied());
    if a != b {
        let first = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(a.lines().count().min(b.lines().count()));
        panic!(
            "{name}: the firmware's output differs from the in-process device's at line {}:\n  in-process: {:?}\n  firmware:   {:?}",
            first + 1,
            a.lines().nth(first),
            b.lines().nth(first)
        );
    }
    assert!(!a.contains("% device link"), "{name}: {a}");
    a
}

#[test]
fn parity_provisioned_device() {
    // The firmware takes its identity from a provisioning image (TRUST-2, AUTH-6): the device
    // key it signs with, the factory trust code, a custom policy and a factory SLAC. The
    // authority knows the key from the factory's registration, so the signed usage it gets
    // verifies: the ACK comes back.
    let opts = || {
        let order = Order {
            udi: factory::parse_udi("PID:C9200L-48P-4X,SN:JAE24091ABC").unwrap(),
            key_seed: Some("hil factory key".into()),
            auth: vec!["hseck9".into()],
            ..Order::default()
        };
        let mut authority = Authority::new(tally_host_sim::authority::DEFAULT_KEY_SEED);
        let image =
            factory::provision(&order, &mut authority, DEFAULT_START.sub_secs(86_400)).unwrap();
        SimOptions {
            provision: Some(image),
            ..SimOptions::default()
        }
    };
    let out = parity_with(
        "provisioned",
        "
        show license status
        show license authorization
        license smart transport off
        sim usage hseck9 1
        sim usage network-essentials 1
        sim clock advance 1d
        license smart save usage unreported file bootflash:u.txt
        sim authority upload bootflash:u.txt bootflash:a.txt
        license smart import bootflash:a.txt
        show license usage
        ",
        opts,
    );
    assert!(out.contains("Trust Code Installed:"), "{out}");
    assert!(out.contains("SMART AUTHORIZATION INSTALLED"), "{out}");
    assert!(out.contains("Import Data Successful: ACK"), "{out}");
}

#[test]
fn parity_air_gapped_round_trip() {
    // FILE-1, TRUST-5: usage file out, ACK file in (with the trust codes it asked for).
    let out = parity(
        "air-gapped",
        "
        license smart transport off
        sim usage network-essentials 2
        sim usage dna-essentials 2
        sim clock advance 3d
        license smart save usage unreported file bootflash:u.txt
        sim authority upload bootflash:u.txt bootflash:a.txt
        license smart import bootflash:a.txt
        show license rum feature all
        show license status
        show license eventlog
        ",
    );
    assert!(out.contains("Import Data Successful: ACK, 2 RUM report(s) acknowledged"));
}

#[test]
fn parity_custom_policy_and_authorization() {
    // POL-12..14, TRUST-3, AUTH-2: direct connection with trust, a custom policy from the ACK,
    // an authorization code for HSECK9.
    let out = parity(
        "custom policy",
        "
        sim authority custom-policy \"SLE Policy\" ack yes perpetual 60/60/60 subscription 30/30/30 enforced -/90/90 export -/90/90
        license smart transport smart
        sim authority idtoken TOKEN
        license smart trust idtoken TOKEN all
        sim usage network-essentials 2
        sim usage hseck9 1
        sim authority pool hseck9 2
        license smart authorization request add hseck9 all
        license smart sync
        sim clock advance 10m
        show license status
        show license authorization
        show license summary
        sim feature hseck9
        ",
    );
    assert!(out.contains("POLICY_INSTALL_SUCCESS"), "{out}");
    assert!(out.contains("Feature hseck9: enabled"), "{out}");
}

#[test]
fn parity_link_outage_with_retries() {
    // RUM-15, MSG-3, MSG-4: five weeks without link: the scheduled push fails, fast retries,
    // then every 15 minutes, until the link is back.
    let out = parity(
        "link outage",
        "
        license smart transport smart
        sim authority idtoken TOKEN
        license smart trust idtoken TOKEN all
        sim usage dna-essentials 1
        sim link down
        license smart sync
        sim clock advance 35d
        sim link up
        sim clock advance 1h
        show license history message
        show license status
        ",
    );
    assert!(out.contains("COMM_RESTORED"), "{out}");
}

#[test]
fn parity_a_year_of_simulated_time() {
    // POL-7, POL-19..24, RUM-9, RUM-14: a year of 15-minute measurements, pushes, ACKs,
    // alerts and a reload.
    let out = parity(
        "a year",
        "
        sim usage network-essentials 2
        sim usage dna-essentials 1
        license smart sync
        sim clock advance 120d
        sim usage network-essentials 3
        sim reload
        sim clock advance 245d
        show license rum feature all
        show license all
        ",
    );
    assert!(out.contains("Usage Report Summary:"), "{out}");
}

/// Invariants of the journal issue, on states read from the device over the link.
fn check(prev: &State, now: &State, what: &str) {
    assert!(now.last_id >= prev.last_id, "{what}: report IDs went back");
    let (p, n) = (&prev.counters, &now.counters);
    assert!(
        n.total >= p.total && n.acked >= p.acked && n.purged >= p.purged && n.merged >= p.merged,
        "{what}: a counter went back"
    );
    assert!(now.hwm >= prev.hwm, "{what}: time went back");
    let held = now
        .reports
        .iter()
        .filter(|r| r.state != ReportState::Ack)
        .count() as u64;
    assert_eq!(
        n.total,
        held + n.acked + n.purged + n.merged,
        "{what}: Total"
    );
    // Nothing acknowledged is lost: a report acknowledged before is still acknowledged (or
    // was forgotten to make room, which the acked counter keeps).
    for r in prev.reports.iter().filter(|r| r.state == ReportState::Ack) {
        if let Some(x) = now.reports.iter().find(|x| x.id == r.id) {
            assert_eq!(
                x.state,
                ReportState::Ack,
                "{what}: report {} lost its ACK",
                r.id
            );
        }
    }
}

/// A fresh flash image and socket in a scratch directory for a firmware QEMU starts directly.
fn fresh_qemu(name: &str) -> (PathBuf, QemuSpec) {
    let dir = std::env::temp_dir().join(format!("tally-hil-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = QemuSpec {
        elf: firmware(),
        flash: dir.join("flash.img"),
        files: None,
        provision: None,
        log: dir.join("qemu.log"),
        socket: dir.join("uart0.sock"),
    };
    (dir, spec)
}

#[test]
fn power_cuts_in_qemu_keep_the_journal_invariants() {
    // Issue 3's invariants with a real power cut: QEMU killed at many points of a scenario
    // (between and inside flash operations), restarted on the same flash image.
    let (dir, spec) = fresh_qemu("cut");
    let mut sim = local();
    let t0 = sim.now;
    let dev = LinkDevice::qemu(spec, tally_core::agent::Release::V17_7, t0).unwrap();
    sim.attach(Box::new(dev));
    let script = [
        "license smart transport off",
        "sim usage network-essentials 2",
        "sim usage dna-essentials 1",
        "sim clock advance 2h",
        "license smart save usage unreported file bootflash:u.txt",
        "sim authority upload bootflash:u.txt bootflash:a.txt",
        "license smart import bootflash:a.txt",
        "sim usage network-essentials 3",
        "sim clock advance 1d",
        "license smart usage interval 20",
        "sim usage hseck9 1",
        "sim clock advance 3d",
    ];
    let mut cuts = 0;
    let mut prev = State::default();
    for round in 0..4 {
        for (i, line) in script.iter().enumerate() {
            let out = sim.line(line);
            assert!(!out.contains("% device link"), "{line}: {out}");
            // Kill QEMU after every few commands, at a varying instant.
            if (i + round) % 3 == 0 {
                let remote = sim.remote.as_mut().unwrap();
                let dev: &mut dyn std::any::Any = remote.as_any();
                let dev = dev.downcast_mut::<LinkDevice>().unwrap();
                let st = dev.state().unwrap();
                check(
                    &prev,
                    &st,
                    &format!("round {round}, before cut after {line:?}"),
                );
                // An armed cut lands inside the next flash operation; a kill between them.
                if cuts % 2 == 0 {
                    tally_host_sim::device::Device::power_cut(dev, 1 + (cuts as u64 * 7) % 29);
                    let _ = sim.line("sim usage dna-essentials 2");
                    let _ = sim.line("sim usage dna-essentials 1");
                } else {
                    let now = sim.rtc();
                    let remote = sim.remote.as_mut().unwrap();
                    let dev = remote.as_any().downcast_mut::<LinkDevice>().unwrap();
                    dev.kill_and_restart(now).unwrap();
                }
                cuts += 1;
                let remote = sim.remote.as_mut().unwrap();
                let dev = remote.as_any().downcast_mut::<LinkDevice>().unwrap();
                let after = dev.state().unwrap();
                check(&st, &after, &format!("round {round}, after cut {cuts}"));
                prev = after;
            }
        }
    }
    // The device keeps working: a full round trip after all the cuts.
    let out = transcript(
        &mut sim,
        [
            "license smart save usage unreported file bootflash:u.txt",
            "sim authority upload bootflash:u.txt bootflash:a.txt",
            "license smart import bootflash:a.txt",
        ],
    );
    assert!(out.contains("Import Data Successful: ACK"), "{out}");
    println!("QEMU power cuts tried: {cuts}");
    assert!(cuts >= 12);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_frames_never_wedge_the_firmware() {
    // Random bytes, truncated frames, oversized frames, bad CRCs, valid frames that are not
    // requests, requests out of range: each gets an error (or is dropped), and the firmware
    // answers the next good request.
    let (dir, spec) = fresh_qemu("hostile");
    let mut dev = LinkDevice::qemu(
        spec,
        tally_core::agent::Release::V17_7,
        tally_hal::Timestamp(1_767_603_600),
    )
    .unwrap();
    let mut x: u32 = 0x9E37_79B9;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut tried = 0;
    let mut good = [0u8; tally_link::MAX_FRAME];
    let n = tally_link::encode(&tally_link::Request::Status, &mut good).unwrap();
    let good = good[..n].to_vec();
    for round in 0..60 {
        let hostile: Vec<u8> = match round % 6 {
            // Random bytes ending in a delimiter.
            0 => (0..(rnd() % 300))
                .map(|_| (rnd() % 255 + 1) as u8)
                .chain([0])
                .collect(),
            // A truncated good frame, then its delimiter.
            1 => good[..(rnd() as usize % (good.len() - 1))]
                .iter()
                .copied()
                .chain([0])
                .collect(),
            // An oversized frame.
            2 => std::iter::repeat_n(0x41u8, tally_link::MAX_FRAME + 100 + (rnd() % 500) as usize)
                .chain([0])
                .collect(),
            // A bad CRC: one byte of a good frame flipped (never to 0).
            3 => {
                let mut f = good.clone();
                let i = rnd() as usize % (f.len() - 1);
                f[i] = if f[i] == 0xFF { 0xFE } else { f[i] ^ 1 }.max(1);
                f
            }
            // A whole frame (CRC good) whose message is no request: a variant number past
            // the last. (A response frame is not refused by type: postcard carries none.)
            4 => {
                let mut f = [0u8; tally_link::MAX_FRAME];
                let n = tally_link::encode(&(100 + rnd() % 1000, rnd()), &mut f).unwrap();
                f[..n].to_vec()
            }
            // A request out of range.
            _ => {
                let mut f = [0u8; tally_link::MAX_FRAME];
                let n = tally_link::encode(&tally_link::Request::Get { offset: 1 << 30 }, &mut f)
                    .unwrap();
                f[..n].to_vec()
            }
        };
        tried += 1;
        dev.raw(&hostile).unwrap();
        // A hostile frame gets an error reply, except pure noise the receiver cannot frame.
        let ends_in_delimiter = hostile.last() == Some(&0) && hostile.len() > 1;
        if ends_in_delimiter {
            match dev.read_reply().unwrap() {
                tally_host_sim::link_device::Reply::Error(..) => {}
                r if round % 6 == 3 => {
                    // A flip COBS still decodes may still be a valid Status: fine.
                    let _ = r;
                }
                r => panic!("round {round}: {r:?}"),
            }
        }
        // And it answers a good request.
        assert!(
            tally_host_sim::device::Device::prompt(&mut dev).ends_with('#'),
            "round {round}"
        );
    }
    println!("hostile frames tried: {tried}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_images_memory_routines_keep_their_contracts() {
    // firmware/src/mem.rs replaces compiler-builtins' memcpy / memmove / memset (and their
    // __aeabi_* forms) in every Cortex-M4 image (ADR 0016); mem_check runs each of them at
    // every length 0..=67 and every alignment against a byte loop, on the CPU they were
    // written for. Its image is where `.ci/run` builds it (as `QemuSpec::default_elf` finds
    // the firmware's).
    let elf = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/thumbv7em-none-eabihf/release/mem_check");
    build_if_missing(&elf, "mem_check");
    let mut child = std::process::Command::new("qemu-system-arm")
        .args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic"])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(&elf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cannot start qemu-system-arm");
    // A broken loop may run away instead of failing: give up after a minute (a good run
    // takes a fraction of a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("mem_check did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{out}");
    assert_eq!(out.trim(), "mem_check: 16320 cases passed", "{out}");
}
