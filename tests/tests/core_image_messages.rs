//! The authority's three messages in `core_image`'s run (firmware/src/bin/core_image.rs), sealed
//! here on the host and included in the image as bytes: the push receipt, the ACK it polls for
//! and the newer ACK it imports as a file. A device never builds those (it only decodes them),
//! so the image no longer links their serializers (issue 5, tenth pass: 0.85 KB of the measured
//! core was the authority's code).
//!
//! The device's run is deterministic (fixed keys, times, RFC 6979 signatures), so this test
//! replays it, step for step as `core_image::run` does it, on the same agent, journal and
//! flash types, seals each message when the image would receive it, checks that the files in
//! `firmware/fixtures/core_image/` hold exactly those bytes, and feeds them to the agent (each
//! must be accepted, as on the target). When the run or a wire format changes on purpose,
//! `TALLY_BLESS=1 cargo test -p tally-tests --test core_image_messages` rewrites the files;
//! `scripts/size-budget.sh` runs the image, which fails if they no longer fit its run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use tally_core::agent::{Agent, Imported, SyncScope};
use tally_core::envelope;
use tally_core::journal::flash::FlashJournal;
use tally_core::rum::{ReportState, Selection};
use tally_core::wire::{AckPayload, AckStatus, AckedReport, Kind, PushReceipt};
use tally_firmware::{CountingSink, DemoFlash, FirmwareKey, RamFiles, identity};
use tally_hal::{CommError, DeviceKey, Timestamp};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware/fixtures/core_image")
        .join(name)
}

/// The sealed `bytes` must be the file's, or become it when blessing.
fn check(name: &str, bytes: &[u8]) {
    let path = fixture(name);
    if std::env::var_os("TALLY_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        stored == bytes,
        "{} is not the message core_image's run receives now ({} bytes stored, {} sealed); \
         rerun with TALLY_BLESS=1 if the change is meant",
        path.display(),
        stored.len(),
        bytes.len()
    );
}

#[test]
fn core_image_receives_these_authority_messages() {
    let mut bin = vec![0u8; tally_core::limits::Limits::USAGE_FILE_BYTES];
    let mut text = vec![0u8; tally_core::limits::Limits::USAGE_FILE_BYTES / 48 * 65 + 512];
    // core_image::run, up to the push: the same seeds, identity, journal and times.
    let t0 = Timestamp(1_767_603_600);
    let mut key = FirmwareKey::from_seed(b"core image device key").unwrap();
    let mut authority = FirmwareKey::from_seed(b"core image authority").unwrap();
    let ident = identity(authority.public_key()).unwrap();
    let journal = FlashJournal::new(DemoFlash::default(), 0, 4).unwrap();
    let mut slot = None;
    let agent = Agent::boot_into(&mut slot, ident, journal, t0).unwrap();
    let mut sink = CountingSink::default();
    let mut files = RamFiles::default();
    agent.set_usage(t0, "network-essentials", 2).unwrap();
    agent.set_usage(t0, "hseck9", 1).unwrap();
    let mut t = t0;
    for _ in 0..30 * 96 {
        t = t.add_secs(900);
        agent.tick(t, &mut sink).unwrap();
    }
    agent.request_sync(SyncScope::Local).unwrap();
    assert!(
        agent
            .poll_transmit(t, &mut key, &mut bin)
            .unwrap()
            .is_some()
    );

    // The push receipt.
    let receipt = PushReceipt {
        udi: agent.identity().udi.clone(),
        issued_at: t,
        seq: 1,
        transaction: 1,
        poll_after_secs: 60,
    };
    let n = envelope::seal(Kind::PushReceipt, &receipt, &mut authority, &mut text).unwrap();
    check("receipt.bin", &text[..n]);
    agent.on_response(t, Ok(&text[..n]), &mut sink).unwrap();
    let _ = agent.on_response(t, Ok(&[0u8; 64]), &mut sink);
    let _ = agent.on_response(t, Err(CommError::Unreachable), &mut sink);
    agent
        .save_usage(
            t,
            Selection::Unreported,
            "bootflash:u.txt",
            &mut files,
            &mut key,
            &mut bin,
            &mut text,
        )
        .unwrap();

    // The ACK of every report not open, polled for a minute after the receipt.
    let mut reports = heapless::Vec::new();
    for r in agent
        .state()
        .reports
        .iter()
        .filter(|r| r.state != ReportState::Open)
    {
        reports
            .push(AckedReport {
                id: r.id,
                status: AckStatus::Accepted,
            })
            .unwrap();
    }
    assert!(!reports.is_empty());
    let mut ack = AckPayload {
        udi: agent.identity().udi.clone(),
        issued_at: t,
        seq: 2,
        transaction: 1,
        reports,
        account: None,
        policy: None,
        trust: heapless::Vec::new(),
        auth: heapless::Vec::new(),
    };
    let t = t.add_secs(61);
    agent.tick(t, &mut sink).unwrap();
    assert!(
        agent
            .poll_transmit(t, &mut key, &mut bin)
            .unwrap()
            .is_some()
    );
    let n = envelope::seal(Kind::Ack, &ack, &mut authority, &mut text).unwrap();
    check("ack.bin", &text[..n]);
    agent.on_response(t, Ok(&text[..n]), &mut sink).unwrap();
    assert!(
        agent
            .state()
            .reports
            .iter()
            .any(|r| r.state == ReportState::Ack)
    );
    let _ = agent.advance(t, t.add_secs(86_400), &mut sink, &mut key, &mut bin);

    // The same ACK, newer, as a file: the image armours it (the device's own armour).
    ack.seq = 3;
    let n = envelope::seal(Kind::Ack, &ack, &mut authority, &mut bin).unwrap();
    check("ack-file.bin", &bin[..n]);
    let m = envelope::armour(Kind::Ack.armour_label(), &bin[..n], &mut text).unwrap();
    let file = text[..m].to_vec();
    let imported = agent.import(t, &file, &mut bin, &mut sink).unwrap();
    assert!(
        matches!(imported, Imported::Ack { .. }),
        "the ACK file: {imported:?}"
    );
}
