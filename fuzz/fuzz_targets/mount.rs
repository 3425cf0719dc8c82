//! Mount arbitrary flash images (issue 3): an error or a state, never a panic or a hang; and a
//! mounted journal takes a commit or says why not.
//!
//! `cargo +nightly fuzz run mount -- -max_len=33000`. The first byte picks the geometry, the
//! rest is the image (padded with erased bytes). The corpus in `corpus/mount` starts from real
//! journals and is replayed on stable by `tests/tests/flash_model.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_core::journal::flash::FlashJournal;
use tally_core::journal::{Entry, Journal};
use tally_core::state::State;
use tally_hal::mock::MockFlash;
use tally_hal::{Enforcement, LicenseDef, Term};

fn mount<const W: usize, const E: usize>(bytes: &[u8], sectors: usize) {
    let mut image = vec![0xFF; E * sectors];
    let n = bytes.len().min(image.len());
    image[..n].copy_from_slice(&bytes[..n]);
    let Ok(flash) = MockFlash::<W, E>::from_image(&image) else {
        return;
    };
    let Ok(mut journal) = FlashJournal::new(flash, 0, sectors as u32) else {
        return;
    };
    let catalogue = [
        LicenseDef::new(
            "a",
            "A",
            "regid.a",
            "a",
            Enforcement::Unenforced,
            Term::Perpetual,
        )
        .unwrap(),
        LicenseDef::new(
            "b",
            "B",
            "regid.b",
            "b",
            Enforcement::Unenforced,
            Term::Subscription,
        )
        .unwrap(),
        LicenseDef::new(
            "c",
            "C",
            "regid.c",
            "c",
            Enforcement::ExportControlled,
            Term::Perpetual,
        )
        .unwrap(),
    ];
    let mut state = State::new(catalogue.len());
    let mounted = journal.replay(&mut state, &mut |state, e| match e {
        Entry::Snapshot => {}
        Entry::Record(r) => state.apply(&catalogue, r),
        Entry::Gap => state.mark_missing(),
    });
    if mounted.is_ok() {
        state.fit_catalogue(catalogue.len());
        let _ = journal.commit(&[], &state);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&geometry, image)) = data.split_first() else {
        return;
    };
    match geometry % 4 {
        0 => mount::<8, 4096>(image, 8), // the simulator's partition
        1 => mount::<4, 1024>(image, 8),
        2 => mount::<1, 1024>(image, 4),
        _ => mount::<32, 2048>(image, 4),
    }
});
