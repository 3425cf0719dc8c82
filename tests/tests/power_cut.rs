//! Power cuts at every byte (DESIGN.md §2.3, §4; ADR 0009), in the style of littlefs's runner.
//!
//! A golden run drives the agent through a scenario of many different operations (usage
//! changes, measurements, report closes, pushes and ACK polls, ACK and policy imports, saved
//! usage files, configuration changes, reboots, compactions and sector erases) and records every
//! journal commit with the state it applies to. Then, for every commit and every byte of flash
//! activity it causes (written bytes and erased bytes alike), the flash image from before the
//! commit is restored, power is cut at that byte, the journal is remounted, and:
//! - the state is exactly the state before or after the commit (nothing else);
//! - no gap is reported (a power cut is not tampering);
//! - the device keeps working: the commit is retried if it was lost, the next one is made, and
//!   the state after them is the golden one.
//!
//! A sample of cut points gets a second cut during the recovery commit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::agent::{Agent, Identity, Release, SyncScope};
use tally_core::journal::flash::FlashJournal;
use tally_core::journal::{Entry, Journal, JournalError};
use tally_core::rum::Selection;
use tally_core::state::{Record, RecordRef, State};
use tally_hal::mock::{MemFiles, MockFlash, RecordingSink, SoftwareKey};
use tally_hal::{DeviceKey, Files, LicenseDef, Platform, Timestamp};
use tally_host_sim::authority::Authority;
use tally_host_sim::profiles;

/// Wraps a journal and keeps every commit.
struct Recorder<J> {
    inner: J,
    log: Vec<(Vec<Record>, State)>,
}

impl<J: Journal> Journal for Recorder<J> {
    fn commit(&mut self, records: &[RecordRef<'_>], state: &State) -> Result<(), JournalError> {
        self.log.push((
            records.iter().map(RecordRef::owned).collect(),
            state.clone(),
        ));
        self.inner.commit(records, state)
    }
    fn replay(
        &mut self,
        state: &mut State,
        visit: &mut dyn FnMut(&mut State, Entry),
    ) -> Result<(), JournalError> {
        self.inner.replay(state, visit)
    }
    fn head(&self) -> [u8; 4] {
        self.inner.head()
    }
}

fn catalogue() -> Vec<LicenseDef> {
    profiles::stack_switch()
        .unwrap()
        .platform
        .licenses()
        .to_vec()
}

/// Mount `journal` and fold it; `None` if it reported a gap.
fn mount<J: Journal>(journal: &mut J) -> Option<State> {
    let cat = catalogue();
    let mut st = State::new(cat.len());
    let mut gap = false;
    journal
        .replay(&mut st, &mut |st, e| match e {
            Entry::Snapshot => {}
            Entry::Record(r) => st.apply(&cat, r),
            Entry::Gap => gap = true,
        })
        .unwrap();
    st.fit_catalogue(cat.len());
    (!gap).then_some(st)
}

/// Records as a journal takes them.
fn lent(records: &[Record]) -> Vec<RecordRef<'_>> {
    records.iter().map(Record::lend).collect()
}

fn after(state: &State, records: &[Record]) -> State {
    let cat = catalogue();
    let mut s = state.clone();
    for r in records {
        s.apply(&cat, &r.lend());
    }
    s
}

/// Talk to the authority until the agent has nothing more to send.
fn exchange<J: Journal>(
    agent: &mut Agent<J>,
    authority: &mut Authority,
    key: &mut SoftwareKey,
    t: Timestamp,
    sink: &mut RecordingSink,
    bin: &mut [u8],
) {
    while let Some(tx) = agent.poll_transmit(t, key, bin).unwrap() {
        let answer = authority.handle(t, &bin[..tx.len]).unwrap();
        agent.on_response(t, Ok(&answer), sink).unwrap();
    }
}

/// The golden run: the agent through rounds of every kind of operation. Returns the commits.
fn scenario<const W: usize, const E: usize>(
    sectors: usize,
    rounds: u64,
) -> Vec<(Vec<Record>, State)> {
    let profile = profiles::stack_switch().unwrap();
    let mut authority = Authority::new("power cut authority");
    let mut key = SoftwareKey::from_seed(b"power cut device");
    authority.register(profile.platform.udi(), key.public_key());
    let ident =
        Identity::from_platform(&profile.platform, &[authority.public_key()], Release::V17_7)
            .unwrap();
    let journal = FlashJournal::new(MockFlash::<W, E>::new(sectors), 0, sectors as u32).unwrap();
    let mut agent = Agent::boot(
        ident,
        Recorder {
            inner: journal,
            log: Vec::new(),
        },
        Timestamp(1_767_603_600),
    )
    .unwrap();
    let mut sink = RecordingSink::default();
    let mut files = MemFiles::default();
    let (mut bin, mut text, mut scratch) = (
        vec![0u8; 16 * 1024],
        vec![0u8; 32 * 1024],
        vec![0u8; 16 * 1024],
    );
    let mut t = Timestamp(1_767_603_600);
    for round in 0..rounds {
        let count = (round % 4) as u32;
        agent.set_usage(t, "network-essentials", count + 1).unwrap();
        agent.set_usage(t, "dna-essentials", 2).unwrap();
        agent.set_usage(t, "hseck9", count % 2).unwrap();
        for _ in 0..3 {
            t = t.add_secs(15 * 60);
            agent.tick(t, &mut sink).unwrap();
        }
        match round % 5 {
            0 => {
                // Online: push, then the ACK poll brings the account and the custom policy.
                agent
                    .configure(
                        t,
                        tally_core::config::ConfigChange::Transport(
                            tally_core::config::Transport::Cslu,
                        ),
                    )
                    .unwrap();
                authority.set_custom_policy(t, Some(tally_host_sim::authority::sle_policy()));
                agent.request_sync(SyncScope::Local).unwrap();
                exchange(&mut agent, &mut authority, &mut key, t, &mut sink, &mut bin);
                t = t.add_secs(600);
                exchange(&mut agent, &mut authority, &mut key, t, &mut sink, &mut bin);
            }
            1 => {
                // Air-gapped: save, let the authority answer, import the ACK.
                agent
                    .configure(
                        t,
                        tally_core::config::ConfigChange::Transport(
                            tally_core::config::Transport::Off,
                        ),
                    )
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
                let ack = authority.upload(t, &buf[..n]).unwrap();
                agent
                    .import(t, ack.as_bytes(), &mut scratch, &mut sink)
                    .unwrap();
            }
            2 => {
                // A policy file, and configuration.
                let p = authority
                    .policy_file(t, &agent.identity().udi.clone())
                    .unwrap();
                let _ = agent.import(t, p.as_bytes(), &mut scratch, &mut sink);
                agent
                    .configure(
                        t,
                        tally_core::config::ConfigChange::UsageInterval(Some(
                            20 + round as u16 % 7,
                        )),
                    )
                    .unwrap();
                agent.clear_eventlog(t).unwrap();
            }
            3 => {
                // A reboot closes the OPEN reports with RELOAD.
                t = t.add_secs(3600);
                agent.reboot(t).unwrap();
            }
            _ => {
                for i in 0..6 {
                    agent.set_usage(t, "network-essentials", 3 + i % 3).unwrap();
                }
            }
        }
        t = t.add_secs(86_400);
    }
    agent.into_journal().log
}

/// Flash bytes (written and erased) a commit on `journal` causes.
fn activity<const W: usize, const E: usize>(
    journal: &FlashJournal<MockFlash<W, E>>,
    records: &[Record],
    state: &State,
) -> u64 {
    let mut j = journal.clone();
    let before = j.flash().stats;
    j.commit(&lent(records), state).unwrap();
    let now = j.flash().stats;
    (now.bytes_written - before.bytes_written) + (now.erases - before.erases) * E as u64
}

struct Totals {
    cuts: u64,
    double_cuts: u64,
    lost: u64,
    kept: u64,
}

fn cut_everywhere<const W: usize, const E: usize>(
    sectors: usize,
    rounds: u64,
    every: u64,
) -> Totals {
    let log = scenario::<W, E>(sectors, rounds);
    // Replay the golden commits on a fresh flash, keeping the running journal before each: a
    // cut then interrupts a commit exactly as it happens in a device that has been running.
    let mut j = FlashJournal::new(MockFlash::<W, E>::new(sectors), 0, sectors as u32).unwrap();
    mount(&mut j).unwrap();
    let mut journals = Vec::new();
    for (records, state) in &log {
        journals.push(j.clone());
        let lent: Vec<RecordRef<'_>> = records.iter().map(Record::lend).collect();
        j.commit(&lent, state).unwrap();
    }
    let final_image = j.into_flash();
    let last = &log[log.len() - 1];
    assert_eq!(
        mount(&mut FlashJournal::new(final_image.clone(), 0, sectors as u32).unwrap()).unwrap(),
        after(&last.1, &last.0)
    );
    let erases = final_image.stats.erases;
    assert!(
        erases > sectors as u64 + 2,
        "the scenario wraps the ring (erases {erases})"
    );

    let mut totals = Totals {
        cuts: 0,
        double_cuts: 0,
        lost: 0,
        kept: 0,
    };
    for (k, (records, before)) in log.iter().enumerate() {
        let after_k = after(before, records);
        let bytes = activity(&journals[k], records, before);
        for b in (0..bytes).filter(|b| b % every == 0) {
            totals.cuts += 1;
            let mut j = journals[k].clone();
            j.flash_mut().cut_power_after(b);
            assert_eq!(
                j.commit(&lent(records), before),
                Err(JournalError::Io),
                "commit {k} cut at byte {b} of {bytes}"
            );
            let mut flash = j.into_flash();
            flash.restore_power();
            let mut j = FlashJournal::new(flash, 0, sectors as u32).unwrap();
            let st = mount(&mut j).unwrap_or_else(|| {
                panic!("commit {k} cut at byte {b}: a power cut reported a gap")
            });
            let lost = if st == *before {
                totals.lost += 1;
                true
            } else if st == after_k {
                totals.kept += 1;
                false
            } else {
                panic!(
                    "commit {k} cut at byte {b} of {bytes}: the state is neither before nor after"
                );
            };
            // A second cut during the recovery commit, for a sample.
            if lost && (k as u64 * 131 + b).is_multiple_of(17) {
                totals.double_cuts += 1;
                let mut flash = j.into_flash();
                flash.cut_power_after(b % 97);
                let mut j2 = FlashJournal::new(flash, 0, sectors as u32).unwrap();
                mount(&mut j2).unwrap();
                let _ = j2.commit(&lent(records), before);
                let mut flash = j2.into_flash();
                flash.restore_power();
                j = FlashJournal::new(flash, 0, sectors as u32).unwrap();
                let st2 = mount(&mut j).expect("no gap after a second cut");
                assert!(
                    st2 == *before || st2 == after_k,
                    "commit {k}: second cut at {} left another state",
                    b % 97
                );
                if st2 == after_k {
                    // Done by the interrupted retry itself.
                    check_keeps_working(&mut j, &log, k + 1, sectors);
                    continue;
                }
            }
            // Keep working: redo the lost commit, make the next one, compare with the golden run.
            if lost && let Err(e) = j.commit(&lent(records), before) {
                panic!(
                    "commit {k} cut at byte {b} of {bytes}: retry failed: {e:?}; head {}",
                    j.debug_head()
                );
            }

            check_keeps_working(&mut j, &log, k + 1, sectors);
        }
    }
    totals
}

fn check_keeps_working<const W: usize, const E: usize>(
    j: &mut FlashJournal<MockFlash<W, E>>,
    log: &[(Vec<Record>, State)],
    next: usize,
    sectors: usize,
) {
    if let Some((records, before)) = log.get(next) {
        j.commit(&lent(records), before).unwrap();
        let flash = j.flash().clone();
        let st = mount(&mut FlashJournal::new(flash, 0, sectors as u32).unwrap()).unwrap();
        assert_eq!(st, after(before, records), "commit {next} after recovery");
    }
}

#[test]
fn cut_at_every_byte_of_every_write_and_erase() {
    // W = 4, 1 KiB sectors: every byte.
    let t = cut_everywhere::<4, 1024>(10, 40, 1);
    println!(
        "power cuts tried: {} (state before: {}, after: {}), second cuts during recovery: {}",
        t.cuts, t.lost, t.kept, t.double_cuts
    );
    // A cut anywhere in a commit loses it: the commit word is its last write.
    assert_eq!((t.lost, t.kept), (t.cuts, 0));
    assert!(t.cuts > 20_000);
}

#[test]
fn cut_points_on_other_geometries() {
    // Every 7th byte on the extremes of write size.
    for (name, t) in [
        ("W=1 E=1K x10", cut_everywhere::<1, 1024>(10, 40, 7)),
        ("W=32 E=2K x8", cut_everywhere::<32, 2048>(8, 40, 7)),
    ] {
        println!(
            "{name}: power cuts tried: {} (before {}, after {}), second cuts {}",
            t.cuts, t.lost, t.kept, t.double_cuts
        );
        assert!(t.cuts > 1000, "{name}");
    }
}
