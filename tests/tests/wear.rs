//! Wear (issue 3): 1,000 usage changes a day on a 4 × 4 KiB partition (8-byte words), with the
//! 15-minute measurements, no link at all (the backlog merges and stays bounded), for 20
//! simulated years. The most and least erased sectors may differ by at most 2 erases; the
//! projected lifetime at 10,000 erase cycles is printed (and recorded in docs/PERFORMANCE.md).
//!
//! Run in release: `cargo test --release -p tally-tests --test wear -- --nocapture` (about a
//! minute; .ci/run does this). A debug run is skipped because it would take too long.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::agent::{Agent, Identity, Release};
use tally_core::config::{ConfigChange, Transport};
use tally_core::journal::flash::FlashJournal;
use tally_hal::Timestamp;
use tally_hal::mock::{MockFlash, RecordingSink};
use tally_host_sim::profiles;

const SECTORS: usize = 4;
const CHANGES_PER_DAY: u64 = 1000;

struct Wear {
    years: u64,
    erases: Vec<u32>,
    bytes_written: u64,
    changes: u64,
}

fn simulate(years: u64) -> Wear {
    let profile = profiles::stack_switch().unwrap();
    let ident = Identity::from_platform(&profile.platform, &[], Release::V17_7).unwrap();
    let journal = FlashJournal::new(MockFlash::<8, 4096>::new(SECTORS), 0, SECTORS as u32).unwrap();
    let mut t = Timestamp(1_767_603_600);
    let mut agent = Agent::boot(ident, journal, t).unwrap();
    let mut sink = RecordingSink::default();
    agent
        .configure(t, ConfigChange::Transport(Transport::Off))
        .unwrap();
    let step = 86_400 / CHANGES_PER_DAY;
    let mut changes = 0u64;
    for day in 0..years * 365 {
        for i in 0..CHANGES_PER_DAY {
            t = t.add_secs(step);
            // Ports come and go on a 48-port stack: the count moves between 40 and 48.
            let count = 40 + ((day * 7 + i * 13) % 9) as u32;
            agent.set_usage(t, "network-essentials", count).unwrap();
            agent.tick(t, &mut sink).unwrap();
            changes += 1;
        }
    }
    let flash = agent.into_journal().into_flash();
    Wear {
        years,
        erases: flash.erase_counts().to_vec(),
        bytes_written: flash.stats.bytes_written,
        changes,
    }
}

fn report(w: &Wear) -> (u32, u32) {
    let (lo, hi) = (
        *w.erases.iter().min().unwrap(),
        *w.erases.iter().max().unwrap(),
    );
    let per_year = f64::from(hi) / w.years as f64;
    println!(
        "wear over {} years, {} usage changes: erase counts {:?} (spread {}), {:.0} erases per sector per year, \
         {:.1} bytes written per change, projected lifetime at 10,000 cycles: {:.1} years",
        w.years,
        w.changes,
        w.erases,
        hi - lo,
        per_year,
        w.bytes_written as f64 / w.changes as f64,
        10_000.0 / per_year
    );
    (lo, hi)
}

#[test]
fn twenty_years_of_a_thousand_changes_a_day_wear_evenly() {
    if cfg!(debug_assertions) {
        println!("skipped in debug builds: run with --release");
        return;
    }
    let w = simulate(
        std::env::var("TALLY_WEAR_YEARS")
            .ok()
            .and_then(|y| y.parse().ok())
            .unwrap_or(20),
    );
    let (lo, hi) = report(&w);
    assert!(hi - lo <= 2, "erase spread {} > 2", hi - lo);
    assert!(lo > 0);
}
