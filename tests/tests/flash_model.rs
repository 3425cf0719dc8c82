//! Property tests of the flash journal on several geometries (issue 3): long random sequences of
//! agent operations, checked after every step against the agent's own state (a fresh mount of a
//! copy of the flash must give it back exactly) and a shadow model (requested counts, first use,
//! report IDs and counters that never go back). And arbitrary or damaged images: mounting them
//! gives an error or a state, never a panic or a hang.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use tally_core::agent::{Agent, Identity, Release, SyncScope};
use tally_core::config::{ConfigChange, Transport};
use tally_core::journal::flash::FlashJournal;
use tally_core::journal::{Entry, Journal};
use tally_core::rum::Selection;
use tally_core::state::State;
use tally_hal::mock::{MemFiles, MockFlash, RecordingSink, SoftwareKey};
use tally_hal::{DeviceKey, Files, LicenseDef, Platform, Timestamp};
use tally_host_sim::authority::Authority;
use tally_host_sim::profiles;

const LICENSES: [&str; 3] = ["network-essentials", "dna-essentials", "hseck9"];

#[derive(Debug, Clone)]
enum Op {
    Usage(usize, u32),
    Advance(u64),
    Push,
    AirGap,
    Policy,
    Interval(u16),
    Reboot,
    ClearEvents,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..3usize, 0..5u32).prop_map(|(l, c)| Op::Usage(l, c)),
        4 => (60..6 * 3600u64).prop_map(Op::Advance),
        1 => (86_400..20 * 86_400u64).prop_map(Op::Advance),
        2 => Just(Op::Push),
        2 => Just(Op::AirGap),
        1 => Just(Op::Policy),
        1 => (0..60u16).prop_map(Op::Interval),
        1 => Just(Op::Reboot),
        1 => Just(Op::ClearEvents),
    ]
}

fn catalogue() -> Vec<LicenseDef> {
    profiles::stack_switch()
        .unwrap()
        .platform
        .licenses()
        .to_vec()
}

fn mount<J: Journal>(journal: &mut J) -> State {
    let cat = catalogue();
    let mut st = State::new(cat.len());
    journal
        .replay(&mut st, &mut |st, e| match e {
            Entry::Snapshot => {}
            Entry::Record(r) => st.apply(&cat, r),
            Entry::Gap => panic!("a gap without tampering"),
        })
        .unwrap();
    st.fit_catalogue(cat.len());
    st
}

struct Device<const W: usize, const E: usize> {
    agent: Agent<FlashJournal<MockFlash<W, E>>>,
    authority: Authority,
    key: SoftwareKey,
    files: MemFiles,
    sink: RecordingSink,
    t: Timestamp,
    sectors: u32,
    bin: Vec<u8>,
    text: Vec<u8>,
}

impl<const W: usize, const E: usize> Device<W, E> {
    fn new(sectors: u32) -> Self {
        let profile = profiles::stack_switch().unwrap();
        let mut authority = Authority::new("flash model authority");
        let key = SoftwareKey::from_seed(b"flash model device");
        authority.register(profile.platform.udi(), key.public_key());
        let ident =
            Identity::from_platform(&profile.platform, &[authority.public_key()], Release::V17_7)
                .unwrap();
        let journal =
            FlashJournal::new(MockFlash::<W, E>::new(sectors as usize), 0, sectors).unwrap();
        let t = Timestamp(1_767_603_600);
        Device {
            agent: Agent::boot(ident, journal, t).unwrap(),
            authority,
            key,
            files: MemFiles::default(),
            sink: RecordingSink::default(),
            t,
            sectors,
            bin: vec![0; 16 * 1024],
            text: vec![0; 32 * 1024],
        }
    }

    fn exchange(&mut self) {
        while let Some(tx) = self
            .agent
            .poll_transmit(self.t, &mut self.key, &mut self.bin)
            .unwrap()
        {
            let answer = self.authority.handle(self.t, &self.bin[..tx.len]).unwrap();
            self.agent
                .on_response(self.t, Ok(&answer), &mut self.sink)
                .unwrap();
        }
    }

    fn apply(&mut self, op: &Op) {
        let t = self.t;
        match op {
            Op::Usage(l, c) => {
                self.agent.set_usage(t, LICENSES[*l], *c).unwrap();
            }
            Op::Advance(s) => {
                // Wake the agent whenever it asks, as a device's scheduler would.
                let end = t.add_secs(*s);
                while let Some(w) = self.agent.next_wakeup().filter(|w| *w <= end) {
                    self.t = w.max(self.t.add_secs(1));
                    self.agent.tick(self.t, &mut self.sink).unwrap();
                    self.exchange();
                }
                self.t = end;
                self.agent.tick(self.t, &mut self.sink).unwrap();
            }
            Op::Push => {
                self.agent
                    .configure(t, ConfigChange::Transport(Transport::Cslu))
                    .unwrap();
                self.agent.request_sync(SyncScope::Local).unwrap();
                self.exchange();
            }
            Op::AirGap => {
                self.agent
                    .configure(t, ConfigChange::Transport(Transport::Off))
                    .unwrap();
                self.agent
                    .save_usage(
                        t,
                        Selection::Unreported,
                        "u.txt",
                        &mut self.files,
                        &mut self.key,
                        &mut self.bin,
                        &mut self.text,
                    )
                    .unwrap();
                let mut buf = vec![0u8; 32 * 1024];
                let n = self.files.read("u.txt", &mut buf).unwrap();
                let ack = self.authority.upload(t, &buf[..n]).unwrap();
                let mut scratch = vec![0u8; 16 * 1024];
                self.agent
                    .import(t, ack.as_bytes(), &mut scratch, &mut self.sink)
                    .unwrap();
            }
            Op::Policy => {
                self.authority
                    .set_custom_policy(t, Some(tally_host_sim::authority::sle_policy()));
                let p = self
                    .authority
                    .policy_file(t, &self.agent.identity().udi.clone())
                    .unwrap();
                let mut scratch = vec![0u8; 16 * 1024];
                let _ = self
                    .agent
                    .import(t, p.as_bytes(), &mut scratch, &mut self.sink);
            }
            Op::Interval(d) => self
                .agent
                .configure(t, ConfigChange::UsageInterval(Some(*d)))
                .unwrap(),
            Op::Reboot => self.agent.reboot(t).unwrap(),
            Op::ClearEvents => self.agent.clear_eventlog(t).unwrap(),
        }
    }
}

#[derive(Default)]
struct Shadow {
    requested: [u32; 3],
    first_use: [Option<Timestamp>; 3],
    max_id: u64,
    counters: (u64, u64, u64, u64),
}

fn run<const W: usize, const E: usize>(sectors: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut d = Device::<W, E>::new(sectors);
    let mut m = Shadow::default();
    for (step, op) in ops.iter().enumerate() {
        d.apply(op);
        if let Op::Usage(l, c) = op {
            m.requested[*l] = *c;
            if *l != 2 && *c > 0 && m.first_use[*l].is_none() {
                m.first_use[*l] = Some(d.t);
            }
        }
        // What is in flash is exactly what the agent holds.
        let mut copy = FlashJournal::new(d.agent.journal().flash().clone(), 0, d.sectors).unwrap();
        let persisted = mount(&mut copy);
        prop_assert!(
            &persisted == d.agent.state(),
            "W={} E={}: step {} ({:?}): flash and memory differ",
            W,
            E,
            step,
            op
        );
        let st = d.agent.state();
        for l in 0..3 {
            prop_assert_eq!(st.usage[l].requested, m.requested[l]);
            prop_assert_eq!(st.usage[l].first_use, m.first_use[l]);
        }
        for w in st.reports.windows(2) {
            prop_assert!(w[0].id < w[1].id);
        }
        if let Some(newest) = st.reports.last() {
            prop_assert!(newest.id >= m.max_id, "report IDs went back");
            m.max_id = newest.id;
        }
        let c = &st.counters;
        let now = (c.total, c.acked, c.purged, c.merged);
        prop_assert!(
            now.0 >= m.counters.0
                && now.1 >= m.counters.1
                && now.2 >= m.counters.2
                && now.3 >= m.counters.3
        );
        m.counters = now;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 100, ..ProptestConfig::default() })]

    #[test]
    fn write_size_1_sectors_1k(ops in proptest::collection::vec(op(), 1..80)) {
        run::<1, 1024>(16, &ops)?;
    }

    #[test]
    fn write_size_4_sectors_2k(ops in proptest::collection::vec(op(), 1..80)) {
        run::<4, 2048>(8, &ops)?;
    }

    #[test]
    fn write_size_8_sectors_4k(ops in proptest::collection::vec(op(), 1..80)) {
        run::<8, 4096>(4, &ops)?;
    }

    #[test]
    fn write_size_16_sectors_32k(ops in proptest::collection::vec(op(), 1..80)) {
        run::<16, 32768>(2, &ops)?;
    }

    #[test]
    fn write_size_32_sectors_128k(ops in proptest::collection::vec(op(), 1..60)) {
        run::<32, 131072>(2, &ops)?;
    }
}

fn mount_anything<const W: usize, const E: usize>(image: &[u8], sectors: u32) {
    let Ok(flash) = MockFlash::<W, E>::from_image(image) else {
        return;
    };
    let Ok(mut j) = FlashJournal::new(flash, 0, sectors) else {
        return;
    };
    let cat = catalogue();
    let mut st = State::new(cat.len());
    let _ = j.replay(&mut st, &mut |st, e| match e {
        Entry::Snapshot => {}
        Entry::Record(r) => st.apply(&cat, r),
        Entry::Gap => st.mark_missing(),
    });
    // A mounted journal, whatever it was given, can take a commit or says why not.
    let _ = j.commit(&[], &st);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_images_mount_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 2048..=4096)) {
        let mut image = bytes.clone();
        image.resize(4096, 0xFF);
        mount_anything::<4, 1024>(&image, 4);
        mount_anything::<1, 1024>(&image, 4);
        mount_anything::<32, 2048>(&image, 2);
    }

    #[test]
    fn damaged_valid_images_mount_without_panicking(flips in proptest::collection::vec((0..8 * 1024usize, 0..8u8), 1..40)) {
        // A real journal after some use, then random bit flips.
        let mut d = Device::<4, 1024>::new(8);
        for i in 0..60u32 {
            d.apply(&Op::Usage((i % 2) as usize, i % 5));
            d.apply(&Op::Advance(3600));
        }
        let mut flash = d.agent.journal().flash().clone();
        for (at, bit) in flips {
            flash.flip_bit(at, bit);
        }
        mount_anything::<4, 1024>(flash.image(), 8);
    }
}

/// The cargo-fuzz corpus (`fuzz/corpus/mount`), replayed on stable with the fuzz target's
/// geometry choice, so CI runs every input found so far.
#[test]
fn fuzz_corpus_mounts_without_panicking() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mount");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let Some((&geometry, image)) = data.split_first() else {
            continue;
        };
        let padded = |size: usize| {
            let mut v = vec![0xFF; size];
            let k = image.len().min(size);
            v[..k].copy_from_slice(&image[..k]);
            v
        };
        match geometry % 4 {
            0 => mount_anything::<8, 4096>(&padded(8 * 4096), 8),
            1 => mount_anything::<4, 1024>(&padded(8 * 1024), 8),
            2 => mount_anything::<1, 1024>(&padded(4 * 1024), 4),
            _ => mount_anything::<32, 2048>(&padded(4 * 2048), 4),
        }
        n += 1;
    }
    assert!(n > 100, "corpus of {n} inputs");
}
