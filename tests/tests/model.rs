//! Property tests: long random operation sequences on the simulated switch, checked after every
//! step against a shadow model of license usage and against the agent's own invariants.
//!
//! The shadow model knows only what the platform did (which counts were set when). From that
//! alone it predicts, for every RUM report, the usage integral its window must hold (RUM-9,
//! DESIGN.md §2.5 "never lose usage"), the first-use times (POL-4), the requested counts, and
//! it checks that report IDs only grow (RUM-3), counters never go back (RUM-20), the report
//! chain holds (RUM-4), and that the state is exactly the fold of the journal (event sourcing).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::needless_range_loop)] // licenses are addressed by index, as in the agent

use proptest::prelude::*;

use std::collections::BTreeMap;
use tally_core::rum::{Report, ReportState};
use tally_hal::Timestamp;
use tally_host_sim::{SimOptions, Simulator};

const LICENSES: [&str; 3] = ["network-essentials", "dna-essentials", "hseck9"];

#[derive(Debug, Clone)]
enum Op {
    Usage(usize, u32),
    Advance(u64),
    Sync,
    Link(bool),
    Transport(&'static str),
    AirGap {
        upload: bool,
        import: bool,
    },
    Reload,
    PowerOff(u64),
    Interval(Option<u16>),
    Policy(bool),
    /// `license smart trust idtoken … all` (TRUST-3).
    Trust,
    /// Two HSECK9 licenses in the pool, `license smart authorization request add hseck9 all`.
    Authorize,
    /// `license smart authorization return all offline` (refused while HSECK9 is in use).
    Return,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..4u32).prop_map(|(l, c)| Op::Usage(l, c)),
        3 => (1..900u64).prop_map(Op::Advance),
        3 => (900..86_400u64).prop_map(Op::Advance),
        2 => (86_400..40 * 86_400u64).prop_map(Op::Advance),
        2 => Just(Op::Sync),
        1 => any::<bool>().prop_map(Op::Link),
        1 => prop_oneof![Just("smart"), Just("off"), Just("cslu")].prop_map(Op::Transport),
        2 => (any::<bool>(), any::<bool>()).prop_map(|(upload, import)| Op::AirGap { upload, import }),
        1 => Just(Op::Reload),
        1 => (60..86_400u64).prop_map(Op::PowerOff),
        1 => prop_oneof![Just(None), Just(Some(0u16)), (1..45u16).prop_map(Some)].prop_map(Op::Interval),
        1 => any::<bool>().prop_map(Op::Policy),
        1 => Just(Op::Trust),
        1 => Just(Op::Authorize),
        1 => Just(Op::Return),
    ]
}

/// What the platform did, and what the agent may never take back.
#[derive(Default)]
struct Model {
    /// Per license: (time, consumed count) steps. hseck9 is export-controlled: it consumes only
    /// as much as its authorization codes cover (ENF-7, AUTH-1).
    steps: [Vec<(Timestamp, u32)>; 3],
    requested: [u32; 3],
    set: [bool; 3],
    first_use: [Option<Timestamp>; 3],
    max_id: u64,
    counters: (u64, u64, u64, u64),
    transport_off: bool,
    transport_smart: bool,
    /// Latest version of every report ever seen, by ID.
    seen: BTreeMap<u64, Report>,
    /// Boot times: the only places a report chain may have a gap.
    boots: Vec<Timestamp>,
}

impl Model {
    fn consumed(&self, lic: usize) -> u32 {
        self.steps[lic].last().map_or(0, |s| s.1)
    }

    /// ∫ consumed dt over [a, b].
    fn integral(&self, lic: usize, a: Timestamp, b: Timestamp) -> u64 {
        let steps = &self.steps[lic];
        let mut total = 0;
        for (i, (t, v)) in steps.iter().enumerate() {
            let until = steps.get(i + 1).map_or(Timestamp(u64::MAX), |n| n.0);
            let lo = (*t).max(a);
            let hi = until.min(b);
            if hi > lo {
                total += u64::from(*v) * hi.since(lo);
            }
        }
        total
    }
}

fn apply(sim: &mut Simulator, m: &mut Model, op: &Op) -> String {
    let line = |sim: &mut Simulator, l: &str| sim.line(l);
    match op {
        Op::Usage(lic, count) => {
            let authorized = sim.device.agent.state().authorized(2);
            let out = line(sim, &format!("sim usage {} {count}", LICENSES[*lic]));
            m.requested[*lic] = *count;
            m.set[*lic] = true;
            let consumed = if *lic == 2 {
                (*count).min(authorized)
            } else {
                *count
            };
            if consumed != m.consumed(*lic) {
                m.steps[*lic].push((sim.now, consumed));
            }
            if consumed > 0 && m.first_use[*lic].is_none() {
                m.first_use[*lic] = Some(sim.now);
            }
            out
        }
        Op::Advance(s) => line(sim, &format!("sim clock advance {s}s")),
        Op::Sync => {
            let out = line(sim, "license smart sync");
            if m.transport_off {
                assert_eq!(out, "% Error: sync: transport is off\n");
                return String::new();
            }
            if m.transport_smart && !sim.device.agent.direct_trust() {
                // TRUST-3: directly connected without trust, nothing goes out.
                assert_eq!(
                    out,
                    "% Error: sync: Insufficient trust for direct communication\n"
                );
                return String::new();
            }
            out
        }
        Op::Trust => {
            line(sim, "sim authority idtoken MODEL-TOKEN");
            let out = line(sim, "license smart trust idtoken MODEL-TOKEN all");
            if m.transport_off {
                assert_eq!(out, "% Error: trust idtoken: transport is off\n");
                return String::new();
            }
            out
        }
        Op::Authorize => {
            line(sim, "sim authority pool hseck9 2");
            let out = line(sim, "license smart authorization request add hseck9 all");
            if m.transport_off {
                assert_eq!(out, "% Error: authorization request: transport is off\n");
                return String::new();
            }
            if m.transport_smart && !sim.device.agent.direct_trust() {
                assert_eq!(
                    out,
                    "% Error: authorization request: Insufficient trust for direct communication\n"
                );
                return String::new();
            }
            // A request queued behind one in flight is refused; nothing else may fail here.
            out
        }
        Op::Return => {
            let out = line(sim, "license smart authorization return all offline");
            let in_use = m.requested[2] > 0;
            let held = out.starts_with("Enter this return code");
            if !held {
                assert!(
                    out == "% Error: authorization return: no authorization code is installed\n"
                        || (in_use
                            && out
                                == "% Error: authorization return: licenses to be returned are in use: first disable the corresponding features\n"),
                    "{out}"
                );
                return String::new();
            }
            out
        }
        Op::Link(up) => line(sim, if *up { "sim link up" } else { "sim link down" }),
        Op::Transport(t) => {
            m.transport_off = *t == "off";
            m.transport_smart = *t == "smart";
            line(sim, &format!("license smart transport {t}"))
        }
        Op::AirGap { upload, import } => {
            let mut out = line(
                sim,
                "license smart save usage unreported file bootflash:u.txt",
            );
            if *upload {
                out += &line(sim, "sim authority upload bootflash:u.txt bootflash:a.txt");
                if *import {
                    out += &line(sim, "license smart import bootflash:a.txt");
                }
            }
            out
        }
        Op::Reload => {
            let out = line(sim, "sim reload");
            m.boots.push(sim.now);
            out
        }
        Op::PowerOff(s) => {
            let out = line(sim, &format!("sim power-off {s}s"));
            m.boots.push(sim.now);
            out
        }
        Op::Interval(None) => line(sim, "no license smart usage interval"),
        Op::Interval(Some(d)) => line(sim, &format!("license smart usage interval {d}")),
        Op::Policy(true) => line(
            sim,
            "sim authority custom-policy P ack yes subscription 30/30/30 perpetual -/-/30",
        ),
        Op::Policy(false) => line(sim, "sim authority custom-policy none"),
    }
}

fn check(sim: &mut Simulator, m: &mut Model, out: &str, step: usize) -> Result<(), TestCaseError> {
    for l in out.lines() {
        prop_assert!(!l.starts_with("% "), "step {step}: error output {l:?}");
    }
    // State is exactly the fold of the journal.
    let replayed = sim.device.agent.replayed_state().unwrap();
    prop_assert!(
        &replayed == sim.device.agent.state(),
        "step {step}: state differs from the journal's fold"
    );

    let st = sim.device.agent.state().clone();
    for lic in 0..3 {
        prop_assert_eq!(st.usage[lic].requested, m.requested[lic]);
        prop_assert_eq!(st.usage[lic].listed, m.set[lic]);
        prop_assert_eq!(
            st.usage[lic].first_use,
            m.first_use[lic],
            "first use of {}",
            LICENSES[lic]
        );
        let open: Vec<&Report> = st
            .reports
            .iter()
            .filter(|r| usize::from(r.lic) == lic && r.state == ReportState::Open)
            .collect();
        prop_assert!(open.len() <= 1);
        if m.consumed(lic) > 0 {
            prop_assert_eq!(
                open.len(),
                1,
                "{} is in use but has no OPEN report",
                LICENSES[lic]
            );
            prop_assert_eq!(st.usage[lic].open, Some(open[0].id));
        }
    }
    // IDs strictly increase in table order; new IDs are above every ID seen before.
    for w in st.reports.windows(2) {
        prop_assert!(w[0].id < w[1].id);
    }
    let max_before = m.max_id;
    for r in st.reports.iter() {
        if !m.seen.contains_key(&r.id) {
            prop_assert!(
                r.id > max_before,
                "step {step}: ID {} reused or out of order",
                r.id
            );
        }
        m.max_id = m.max_id.max(r.id);
        m.seen.insert(r.id, r.clone());
    }
    // Counters never go back, and every report ever made is accounted for.
    let c = &st.counters;
    let now = (c.total, c.acked, c.purged, c.merged);
    prop_assert!(
        now.0 >= m.counters.0
            && now.1 >= m.counters.1
            && now.2 >= m.counters.2
            && now.3 >= m.counters.3
    );
    m.counters = now;
    let held = st
        .reports
        .iter()
        .filter(|r| r.state != ReportState::Ack)
        .count() as u64;
    prop_assert_eq!(
        c.total,
        held + c.acked + c.purged + c.merged,
        "step {}: Total does not add up",
        step
    );

    // Every report holds exactly the usage of its window; chained reports abut (no usage falls
    // between them) unless the device was off in between.
    for r in st.reports.iter().filter(|r| r.merged == 0) {
        let want = m.integral(usize::from(r.lic), r.start, r.end);
        prop_assert_eq!(r.usage_secs, want, "step {}: report {} usage", step, r.id);
    }
    for r in st.reports.iter() {
        if let Some(prev) = st.reports.iter().find(|p| p.id == r.prev_id) {
            prop_assert_eq!(prev.next_id, r.id, "chain");
            prop_assert!(
                r.start >= prev.end,
                "step {step}: reports {} and {} overlap",
                prev.id,
                r.id
            );
            let rebooted = m.boots.iter().any(|b| *b >= prev.end && *b <= r.start);
            if !rebooted && prev.merged == 0 && r.merged == 0 {
                let between = m.integral(usize::from(r.lic), prev.end, r.start);
                prop_assert_eq!(
                    between,
                    0,
                    "step {}: usage lost between {} and {}",
                    step,
                    prev.id,
                    r.id
                );
            }
        }
    }
    // Every display renders.
    for cmd in [
        "show license all",
        "show license rum id all detail",
        "show license eventlog",
        "show license summary",
    ] {
        let out = sim.line(cmd);
        prop_assert!(!out.contains("% "), "{cmd}: {out}");
    }
    Ok(())
}

/// Longest piece of an `Advance` between two looks at the authorization codes.
const PIECE: u64 = 3 * 3600;

/// An authorization code installed (by a request, an ACK or a file) or returned moves what
/// HSECK9 consumes: the reports must show it from that moment (AUTH-1).
fn track_authorization(sim: &Simulator, m: &mut Model) {
    let st = sim.device.agent.state();
    let consumed = m.requested[2].min(st.authorized(2));
    if consumed != m.consumed(2) {
        // A code may arrive inside an operation (an ACK during `Advance`): it counts from its
        // install time; a return counts from now.
        let at = if consumed > m.consumed(2) {
            st.auth
                .iter()
                .flatten()
                .map(|a| a.installed_at)
                .max()
                .unwrap_or(sim.now)
        } else {
            sim.now
        };
        m.steps[2].push((at, consumed));
        if consumed > 0 && m.first_use[2].is_none() {
            m.first_use[2] = Some(at);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_shadow_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut sim = Simulator::new(SimOptions::default()).unwrap();
        let mut m = Model { transport_off: false, ..Model::default() };
        for (i, op) in ops.iter().enumerate() {
            // A long advance runs in pieces, so that two authorization codes installed inside
            // one (an ACK a day, each replacing the last code and its install time) are seen
            // one at a time: the model learns an install's time only from the state.
            let pieces: Vec<Op> = match op {
                Op::Advance(s) => (0..s.div_ceil(PIECE))
                    .map(|k| Op::Advance((s - k * PIECE).min(PIECE)))
                    .collect(),
                _ => vec![op.clone()],
            };
            let mut out = String::new();
            for piece in &pieces {
                out += &apply(&mut sim, &mut m, piece);
                track_authorization(&sim, &mut m);
            }
            check(&mut sim, &mut m, &out, i)?;
        }
    }
}
