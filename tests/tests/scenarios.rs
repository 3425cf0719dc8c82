//! Scenarios over simulated years on the default device (a C9200L stack sold through a
//! partner): what is owed, when it is pushed, what the operator is told (digest §3, §4, §7).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::Journal;
use tally_core::agent::Release;
use tally_core::rum::ReportState;
use tally_hal::{Term, Timestamp};
use tally_host_sim::{SimOptions, Simulator};
use tally_tests::{DAY, field, lic, profile, run, sim, syslog, time_field, udi};

fn switch() -> Simulator {
    Simulator::new(SimOptions::default()).unwrap()
}

fn status(s: &mut Simulator) -> String {
    run(s, &["show license status"])
}

/// Advance `days`, returning everything printed meanwhile.
fn days(s: &mut Simulator, n: u64) -> String {
    run(s, &[&format!("sim clock advance {n}d")])
}

fn mnemonics(out: &str, m: &str) -> Vec<(Timestamp, String)> {
    syslog(out)
        .into_iter()
        .filter(|(_, mm, _)| mm.ends_with(m))
        .map(|(t, _, text)| (t, text))
        .collect()
}

/// Save, carry to the authority and import the ACK (FILE-1).
fn air_gap_round_trip(s: &mut Simulator) -> String {
    run(
        s,
        &[
            "license smart save usage unreported file bootflash:u.txt",
            "sim authority upload bootflash:u.txt bootflash:a.txt",
            "license smart import bootflash:a.txt",
        ],
    )
}

#[test]
fn first_report_is_due_365_days_after_first_use_under_the_default_policy() {
    // POL-7 (footnote 1: sold through a partner), POL-23, MSG-11, FILE-1
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 2",
        ],
    );
    let t0 = s.now;
    let st = status(&mut s);
    assert_eq!(time_field(&st, "Next ACK deadline"), Some(t0.add_days(365)));
    assert_eq!(field(&st, "Reporting push interval"), "30 days");
    assert_eq!(
        time_field(&st, "Next report push"),
        Some(t0.add_days(30)),
        "FILE-5: when to upload next"
    );

    // Silent until 30 days before the deadline, then one alert a day counting down (MSG-11).
    let quiet = days(&mut s, 334);
    assert!(syslog(&quiet).is_empty(), "{quiet}");
    let alerts = mnemonics(&days(&mut s, 33), "REPORTING_REQUIRED");
    assert_eq!(alerts.len(), 33);
    assert!(
        alerts[0].1.ends_with("will be required in 30 days."),
        "{}",
        alerts[0].1
    );
    assert!(
        alerts[29].1.ends_with("will be required in 1 days."),
        "{}",
        alerts[29].1
    );
    assert!(
        alerts[32].1.ends_with("will be required in 0 days."),
        "past the deadline: {}",
        alerts[32].1
    );
    for w in alerts.windows(2) {
        assert_eq!(w[1].0.since(w[0].0), DAY);
    }

    // Reporting by file meets the obligation; a perpetual license then owes nothing more.
    let out = air_gap_round_trip(&mut s);
    assert!(out.contains("Import Data Successful: ACK"), "{out}");
    let st = status(&mut s);
    assert_eq!(field(&st, "Next ACK deadline"), "<none>");
    assert_eq!(field(&st, "Reporting push interval"), "0 (no reporting)");
    assert_eq!(field(&st, "Next report push"), "<none>");
    assert!(syslog(&days(&mut s, 400)).is_empty());
}

#[test]
fn connected_device_reports_its_first_use_by_itself() {
    // TOPO-3: the PI sends the first report at the scheduled time; the ACK meets the obligation.
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TALLY-TEST-TOKEN",
            "license smart trust idtoken TALLY-TEST-TOKEN all",
            "sim usage network-essentials 2",
        ],
    );
    let t0 = s.now;
    let out = days(&mut s, 31);
    assert!(syslog(&out).is_empty(), "{out}");
    let st = status(&mut s);
    assert_eq!(time_field(&st, "Last report push"), Some(t0.add_days(30)));
    assert!(time_field(&st, "Last ACK received").is_some());
    assert_eq!(field(&st, "Next ACK deadline"), "<none>");
    assert_eq!(field(&st, "Smart Account"), "Eg-SA");
}

#[test]
fn a_device_that_never_used_a_license_owes_nothing() {
    // POL-4: even with the subscription's 90/90/90 and a working link, for three years.
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TALLY-TEST-TOKEN",
            "license smart trust idtoken TALLY-TEST-TOKEN all",
        ],
    );
    let out = days(&mut s, 3 * 365);
    assert!(syslog(&out).is_empty(), "{out}");
    let st = status(&mut s);
    for f in [
        "Next ACK deadline",
        "Next ACK push check",
        "Next report push",
        "Last report push",
        "Last ACK received",
    ] {
        assert_eq!(field(&st, f), "<none>", "{f}");
    }
    assert_eq!(field(&st, "Reporting push interval"), "0 (no reporting)");
    assert!(s.device.agent.state().reports.is_empty());
    assert!(
        s.authority
            .received(&s.device.agent.identity().udi)
            .is_empty()
    );
}

#[test]
fn perpetual_use_owes_no_first_report_unless_sold_through_a_partner() {
    // POL-7 footnote 1; reproduces the eval-migrated sample (licenses IN USE, default policy,
    // `0 (no reporting)`, every deadline `<none>`) [003:1826].
    let p = profile(
        udi("C9800-CL-K9", "9KGIXIDOXFE"),
        None,
        vec![lic("air-network-advantage", "DNA_NWStack", Term::Perpetual)],
        false,
    );
    let mut s = sim(p, Release::V17_3, "2020-11-02 00:00:00");
    run(&mut s, &["sim usage air-network-advantage 1"]);
    let st = status(&mut s);
    assert_eq!(field(&st, "Type"), "cslu");
    assert_eq!(field(&st, "Cslu address"), "<empty>");
    assert_eq!(field(&st, "Reporting push interval"), "0 (no reporting)");
    assert_eq!(field(&st, "Next ACK deadline"), "<none>");
    assert_eq!(field(&st, "Next report push"), "<none>");
    assert!(
        run(&mut s, &["show license summary"])
            .contains("air-network-advantage  (DNA_NWStack)                  1 IN USE")
    );
}

#[test]
fn a_usage_change_must_be_reported_within_90_days() {
    // POL-1 (report on change), POL-3, POL-27
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 2",
        ],
    );
    days(&mut s, 10);
    air_gap_round_trip(&mut s);
    days(&mut s, 10);
    assert_eq!(field(&status(&mut s), "Next ACK deadline"), "<none>");
    run(&mut s, &["sim usage network-essentials 3"]);
    let t1 = s.now;
    let st = status(&mut s);
    assert_eq!(time_field(&st, "Next ACK deadline"), Some(t1.add_days(90)));
    assert_eq!(
        time_field(&st, "Next report push"),
        Some(t1),
        "a change makes a report due now"
    );
    // Going to zero is a change too.
    days(&mut s, 5);
    air_gap_round_trip(&mut s);
    assert_eq!(field(&status(&mut s), "Next ACK deadline"), "<none>");
    run(&mut s, &["sim usage network-essentials 0"]);
    assert_eq!(
        time_field(&status(&mut s), "Next ACK deadline"),
        Some(s.now.add_days(90))
    );
}

#[test]
fn subscription_reports_every_30_days_for_two_years() {
    // POL-7 subscription 90/90/90, POL-19 default interval 30, RUM-1, RUM-4, RUM-9, ACK-6
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TALLY-TEST-TOKEN",
            "license smart trust idtoken TALLY-TEST-TOKEN all",
            "sim usage dna-essentials 2",
        ],
    );
    let t0 = s.now;
    let mut pushes = Vec::new();
    for _ in 0..24 {
        let out = days(&mut s, 30);
        assert!(
            syslog(&out)
                .iter()
                .all(|(_, m, _)| m.ends_with("POLICY_INSTALL_SUCCESS")),
            "{out}"
        );
        let st = status(&mut s);
        pushes.push(time_field(&st, "Last report push").unwrap());
        let deadline = time_field(&st, "Next ACK deadline").unwrap();
        assert!(
            deadline > s.now && deadline <= s.now.add_days(90),
            "deadline always ahead"
        );
    }
    for (i, p) in pushes.iter().enumerate() {
        assert_eq!(*p, t0.add_days(30 * (i as u64 + 1)), "push {i}");
    }
    run(&mut s, &["sim clock advance 1h"]); // the last push's ACK poll
    // The authority holds one report per push, chained, covering the whole time at count 2.
    let got = s.authority.received(&s.device.agent.identity().udi);
    assert_eq!(got.len(), 24);
    let covered: u64 = got.iter().map(|r| r.end.since(r.start)).sum();
    let usage: u64 = got.iter().map(|r| r.usage_secs).sum();
    assert_eq!(usage, 2 * covered);
    // Between one report's last measurement and the next report's start at most 15 minutes pass.
    for w in got.windows(2) {
        assert!(w[1].start.since(w[0].end) <= 15 * 60, "{w:?}");
        assert!(w[1].start >= w[0].end);
    }
    assert!(covered >= 720 * DAY - 24 * 15 * 60);
    // Acknowledged data is deleted, tracking stays bounded (RUM-13).
    let st = s.device.agent.state();
    assert!(st.reports.len() <= tally_core::Limits::REPORTS);
    assert_eq!(st.counters.total, 25);
    assert_eq!(st.counters.acked, 24);
}

#[test]
fn a_custom_policy_overrides_some_attributes_and_can_drop_the_ack() {
    // POL-12, POL-13, POL-14 (policy in the ACK), POL-23 (`none` without ACK requirement)
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TALLY-TEST-TOKEN",
            "license smart trust idtoken TALLY-TEST-TOKEN all",
            // Set after trust is established, so the policy comes in the ACK (not with trust).
            "sim authority custom-policy Partial ack no subscription -/30/- perpetual -/-/30",
            "sim usage dna-essentials 1",
        ],
    );
    let out = days(&mut s, 31);
    assert_eq!(mnemonics(&out, "POLICY_INSTALL_SUCCESS").len(), 1, "{out}");
    let st = status(&mut s);
    assert!(
        st.contains("  Policy name: Partial\n  Reporting ACK required: no (Customer Policy)\n"),
        "{st}"
    );
    assert!(st.contains(
        "  Unenforced/Non-Export Subscription Attributes:\n    First report requirement (days): 90 (CISCO default)\n    Reporting frequency (days): 30 (Customer Policy)\n    Report on change (days): 90 (CISCO default)\n"
    ));
    assert!(st.contains(
        "  Unenforced/Non-Export Perpetual Attributes:\n    First report requirement (days): 365 (CISCO default)\n    Reporting frequency (days): 0 (CISCO default)\n    Report on change (days): 30 (Customer Policy)\n"
    ));
    assert_eq!(field(&st, "Next ACK deadline"), "<none>", "no ACK required");
    assert_eq!(field(&st, "Reporting push interval"), "30 days");
    // Pushes go on every 30 days.
    let last = time_field(&st, "Last report push").unwrap();
    days(&mut s, 30);
    assert_eq!(
        time_field(&status(&mut s), "Last report push"),
        Some(last.add_days(30))
    );
}

#[test]
fn usage_interval_narrows_and_zero_stops_pushing() {
    // POL-19, POL-20, POL-21, CLI-G10
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TALLY-TEST-TOKEN",
            "license smart trust idtoken TALLY-TEST-TOKEN all",
            "sim usage dna-essentials 1",
        ],
    );
    days(&mut s, 31);
    run(
        &mut s,
        &[
            "configure terminal",
            "license smart usage interval 20",
            "end",
        ],
    );
    let st = status(&mut s);
    assert_eq!(field(&st, "Reporting push interval"), "20 days");
    let last = time_field(&st, "Last report push").unwrap();
    days(&mut s, 20);
    assert_eq!(
        time_field(&status(&mut s), "Last report push"),
        Some(last.add_days(20))
    );

    // 0: never sent, whatever the policy says; the operator is warned as the deadline nears.
    run(&mut s, &["license smart usage interval 0"]);
    let st = status(&mut s);
    assert_eq!(field(&st, "Reporting push interval"), "0 (no reporting)");
    assert_eq!(field(&st, "Next report push"), "<none>");
    let deadline = time_field(&st, "Next ACK deadline").unwrap();
    let pushed = time_field(&st, "Last report push");
    let out = days(&mut s, 100);
    assert_eq!(
        time_field(&status(&mut s), "Last report push"),
        pushed,
        "nothing sent"
    );
    let alerts = mnemonics(&out, "REPORTING_REQUIRED");
    assert!(!alerts.is_empty());
    assert_eq!(alerts[0].0, deadline.sub_secs(30 * DAY));

    // `no license smart usage interval`: back to the policy (30 days by default).
    run(&mut s, &["no license smart usage interval"]);
    assert_eq!(field(&status(&mut s), "Reporting push interval"), "30 days");
    days(&mut s, 1);
    assert_ne!(field(&status(&mut s), "Next ACK deadline"), "<none>");
}

#[test]
fn automatic_pushes_are_throttled_to_one_a_day_and_sync_overrides() {
    // RUM-14, CLI-E9
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TALLY-TEST-TOKEN",
            "license smart trust idtoken TALLY-TEST-TOKEN all",
            "sim usage network-essentials 2",
        ],
    );
    days(&mut s, 31);
    // A change is reported at once…
    run(&mut s, &["sim usage network-essentials 3"]);
    let first = s.now;
    assert_eq!(time_field(&status(&mut s), "Last report push"), Some(first));
    // …but the next change within 24 h waits for the throttle.
    run(
        &mut s,
        &["sim clock advance 2h", "sim usage network-essentials 4"],
    );
    let st = status(&mut s);
    assert_eq!(time_field(&st, "Last report push"), Some(first));
    assert_eq!(
        time_field(&st, "Next report push"),
        Some(first.add_secs(DAY))
    );
    run(&mut s, &["sim clock advance 1h"]);
    assert_eq!(time_field(&status(&mut s), "Last report push"), Some(first));
    // `license smart sync` sends now, throttle or not, and may be repeated.
    run(&mut s, &["license smart sync"]);
    assert_eq!(time_field(&status(&mut s), "Last report push"), Some(s.now));
    run(&mut s, &["sim clock advance 1m", "license smart sync"]);
    assert_eq!(time_field(&status(&mut s), "Last report push"), Some(s.now));
    // With transport off there is nothing to sync with.
    let out = s.line("license smart transport off");
    assert!(out.is_empty());
    assert_eq!(
        s.line("license smart sync"),
        "% Error: sync: transport is off\n"
    );
}

#[test]
fn a_week_without_link_retries_then_restores() {
    // RUM-15, MSG-3, MSG-4, XPORT-8
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TALLY-TEST-TOKEN",
            "license smart trust idtoken TALLY-TEST-TOKEN all",
            "sim usage dna-essentials 2",
        ],
    );
    days(&mut s, 31);
    let due = time_field(&status(&mut s), "Next report push").unwrap();
    run(&mut s, &["sim link down"]);
    let secs = due.since(s.now) + 7 * DAY;
    let out = run(&mut s, &[&format!("sim clock advance {secs}s")]);
    let failed = mnemonics(&out, "COMM_FAILED");
    assert_eq!(failed[0].0, due, "the scheduled push fails first");
    assert!(
        failed[0]
            .1
            .contains("Communications failure with the Cisco Smart Software Manager (CSSM) : ")
    );
    // Every 5 minutes for 4 hours, then every 15 minutes.
    for w in failed.windows(2) {
        let gap = w[1].0.since(w[0].0);
        if w[1].0 < due.add_secs(4 * 3600) {
            assert_eq!(gap, 5 * 60, "at {:?}", w[1].0);
        } else {
            assert!(
                gap == 15 * 60 || (gap == 20 * 60 && w[0].0 < due.add_secs(4 * 3600)),
                "gap {gap} at {:?}",
                w[1].0
            );
        }
    }
    let fast = failed
        .iter()
        .filter(|(t, _)| *t < due.add_secs(4 * 3600))
        .count();
    assert_eq!(fast, 48);
    // The last fast attempt is at +235 min, the first slow one at +250 min.
    assert_eq!(
        failed.len(),
        48 + (7 * DAY - 250 * 60) as usize / (15 * 60) + 1
    );
    // The link comes back: the next attempt succeeds, once, and the ACK follows.
    let out = run(&mut s, &["sim link up", "sim clock advance 30m"]);
    let restored = mnemonics(&out, "COMM_RESTORED");
    assert_eq!(restored.len(), 1, "{out}");
    // EVT-4: the message history counts every attempt (two pushes and one retried push).
    let history = run(&mut s, &["show license history message"]);
    let usage = history.split("Usage Reporting:\n").nth(1).unwrap();
    let expect = format!(
        "  Attempts: Total={}, Success=2, Fail={} Ongoing Failure: Overall=0 Communication=0\n  Last Response: OK\n  Failure Reason: Unable to connect to the server: unreachable\n",
        failed.len() + 2,
        failed.len()
    );
    assert!(usage.starts_with(&expect), "{usage}");

    assert!(mnemonics(&out, "COMM_FAILED").is_empty());
    let st = status(&mut s);
    assert_eq!(time_field(&st, "Last report push"), Some(restored[0].0));
    assert!(time_field(&st, "Last ACK received").unwrap() > restored[0].0);
    // Nothing was lost: the retries delivered the report closed at the scheduled time, and the
    // outage's usage is in the OPEN report that started then, sent at the next push.
    let got = s.authority.received(&s.device.agent.identity().udi);
    let last = got.last().unwrap();
    assert!(last.end <= due && due.since(last.end) < 15 * 60, "{last:?}");
    let open = s
        .device
        .agent
        .state()
        .reports
        .iter()
        .find(|r| r.state == ReportState::Open)
        .unwrap();
    assert_eq!(open.start, due);
    assert!(open.end >= due.add_secs(7 * DAY));
    assert_eq!(open.usage_secs, 2 * open.end.since(open.start));
    days(&mut s, 31);
    let got = s.authority.received(&s.device.agent.identity().udi);
    assert!(
        got.iter()
            .any(|r| r.start == due && r.end > due.add_secs(7 * DAY))
    );
}

#[test]
fn air_gapped_round_trip_save_authority_import() {
    // FILE-1..4, RUM-5, RUM-18, ACK-2, ACK-6, RUM-20
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 2",
            "sim usage dna-essentials 2",
        ],
    );
    days(&mut s, 3);
    run(
        &mut s,
        &["license smart save usage unreported file bootflash:u.txt"],
    );
    let st = s.device.agent.state();
    assert_eq!(
        st.reports
            .iter()
            .filter(|r| r.state == ReportState::Unack)
            .count(),
        2,
        "saved = sent, waiting for ACK"
    );
    assert_eq!(
        st.reports
            .iter()
            .filter(|r| r.state == ReportState::Open)
            .count(),
        2,
        "new OPEN reports collect on"
    );
    let all = run(&mut s, &["show license all"]);
    assert!(all.contains("Total: 4, Purged: 0\nTotal Acknowledged Received: 0, Waiting for Ack: 2\nAvailable to Report: 2 Collecting Data: 2\n"), "{all}");
    assert_eq!(
        time_field(&status(&mut s), "Last report file write"),
        Some(s.now)
    );
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.device.files.read("bootflash:u.txt", &mut buf).unwrap();
    assert!(buf[..n].starts_with(b"-----BEGIN TALLY RUM REPORT-----\n"));

    run(
        &mut s,
        &["sim authority upload bootflash:u.txt bootflash:a.txt"],
    );
    let out = run(&mut s, &["license smart import bootflash:a.txt"]);
    // TRUST-5: the saved usage file asked for trust codes (none installed), the ACK brings them.
    assert_eq!(
        out,
        "Import Data Successful: ACK, 2 RUM report(s) acknowledged\n\
         Jan 08 09:00:00 2026 UTC: %SMART_LIC-6-TRUST_CODE_INSTALL_SUCCESS: A new licensing trust code was successfully installed on PID:C9200L-48P-4X,SN:JAE24091ABC.\n\
         Jan 08 09:00:00 2026 UTC: %SMART_LIC-6-TRUST_CODE_INSTALL_SUCCESS: A new licensing trust code was successfully installed on PID:C9200L-48P-4X,SN:JAE24091ABD.\n"
    );
    let st = status(&mut s);
    assert_eq!(time_field(&st, "Last ACK received"), Some(s.now));
    assert_eq!(field(&st, "Smart Account"), "Eg-SA");
    assert_eq!(field(&st, "Virtual Account"), "Eg-VA");
    let detail = run(&mut s, &["show license rum id all detail"]);
    assert_eq!(
        detail
            .matches("State: ACK,          State Change Reason: ACKED")
            .count(),
        2
    );
    assert_eq!(detail.matches("Storage State: DELETED").count(), 2);
    // Re-importing the same ACK is harmless.
    let before = s.device.agent.state().clone();
    assert_eq!(
        run(&mut s, &["license smart import bootflash:a.txt"]),
        "Import Data Successful: ACK already installed, nothing changed\n"
    );
    assert_eq!(&before, s.device.agent.state());
}

#[test]
fn save_usage_selects_all_days_or_one_report() {
    // RUM-18: all | days <n> (excluding today) | rum-id <id> | unreported
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 1",
        ],
    );
    days(&mut s, 2);
    run(
        &mut s,
        &["license smart save usage unreported file bootflash:1.txt"],
    );
    days(&mut s, 2);
    run(
        &mut s,
        &["license smart save usage unreported file bootflash:2.txt"],
    );
    let udi = s.device.agent.identity().udi.clone();
    let count = |s: &mut Simulator, path: &str| {
        let before = s.authority.received(&udi).len();
        run(
            s,
            &[&format!(
                "sim authority upload {path} bootflash:ack-{}.txt",
                path.trim_start_matches("bootflash:")
            )],
        );
        let _ = before;
        s.authority.received(&udi).len()
    };
    assert_eq!(
        count(&mut s, "bootflash:2.txt"),
        2,
        "unreported: both closed reports, not yet acknowledged"
    );
    run(
        &mut s,
        &["license smart save usage all file bootflash:all.txt"],
    );
    assert_eq!(count(&mut s, "bootflash:all.txt"), 3);
    let id = s.device.agent.state().reports[0].id;
    let out = run(
        &mut s,
        &[&format!(
            "license smart save usage rum-id {id} file bootflash:one.txt"
        )],
    );
    assert!(out.is_empty());
    assert_eq!(
        s.line("license smart save usage rum-id 7 file bootflash:x.txt"),
        "% Error: save usage: no such RUM report\n"
    );
    run(
        &mut s,
        &["license smart save usage days 1 file bootflash:days.txt"],
    );
}

#[test]
fn state_survives_a_restart_of_the_simulator() {
    // --state DIR: a second console continues where the first stopped; OPEN reports close
    // with reason RELOAD (RUM-7).
    let dir = std::env::temp_dir().join(format!("tally-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = || SimOptions {
        state_dir: Some(dir.clone()),
        ..SimOptions::default()
    };
    let (now, before) = {
        let mut s = Simulator::new(opts()).unwrap();
        run(
            &mut s,
            &[
                "license smart transport smart",
                "sim authority idtoken TALLY-TEST-TOKEN",
                "license smart trust idtoken TALLY-TEST-TOKEN all",
                "sim usage dna-essentials 2",
                "sim clock advance 40d",
            ],
        );
        (s.now, status(&mut s))
    };
    let mut s = Simulator::new(opts()).unwrap();
    assert_eq!(s.now, now);
    let reloads = s
        .device
        .agent
        .state()
        .reports
        .iter()
        .filter(|r| r.reason == tally_core::rum::ChangeReason::Reload)
        .count();
    assert_eq!(reloads, 1, "the OPEN report closed with RELOAD at boot");
    // HA-6: the reload is a report trigger: everything is as before except that a push is due.
    let after = status(&mut s);
    let without_push = |st: &str| {
        st.lines()
            .filter(|l| !l.contains("Next report push"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(without_push(&after), without_push(&before));
    assert_eq!(time_field(&after, "Next report push"), Some(now));
    run(&mut s, &["sim clock advance 10m"]);
    assert_eq!(time_field(&status(&mut s), "Last report push"), Some(now));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_console_input_changes_nothing() {
    // IOS-style errors; nothing journaled
    let mut s = switch();
    run(&mut s, &["sim usage network-essentials 1"]);
    let used = s.device.agent.journal().commits();
    let state = s.device.agent.state().clone();
    assert_eq!(
        s.line("show licnse status"),
        "     ^\n% Invalid input detected at '^' marker.\n".replacen("     ", "             ", 1)
    );
    assert_eq!(
        s.line("license smart usage interval 4000"),
        format!(
            "{}^\n% Invalid input detected at '^' marker.\n",
            " ".repeat(37)
        )
    );
    assert_eq!(s.line("license smart transport"), "% Incomplete command.\n");
    assert_eq!(
        s.line("show license s"),
        "% Ambiguous command:  \"show license s\"\n"
    );
    assert!(
        s.line("sim usage no-such-license 1")
            .starts_with("% Invalid input detected: unknown license")
    );
    assert!(
        s.line("sim clock advance 5x")
            .starts_with("% Invalid input detected: bad duration unit")
    );
    assert!(
        s.line("sim frobnicate")
            .starts_with("% Invalid input detected: unknown simulator command")
    );
    assert_eq!(s.device.agent.journal().commits(), used);
    assert_eq!(s.device.agent.state(), &state);
}

#[test]
fn an_unavoidable_purge_leaves_a_counted_tombstone() {
    // DESIGN.md §2.5, RUM-6 (flag P), RUM-10 (PURGED), RUM-13, RUM-20 (Purged): usage files saved
    // but never answered fill the table with UNACK reports, which cannot merge (the authority
    // already has their IDs), so the oldest are purged.
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 1",
            "sim usage dna-essentials 1",
        ],
    );
    for _ in 0..20 {
        run(
            &mut s,
            &[
                "sim clock advance 1d",
                "license smart save usage unreported file bootflash:u.txt",
            ],
        );
    }
    let st = s.device.agent.state();
    assert_eq!(st.reports.len(), tally_core::Limits::REPORTS);
    let purged = st.counters.purged;
    assert!(purged >= 8, "purged {purged}");
    assert_eq!(st.counters.total, st.reports.len() as u64 + purged);
    let newest_tombstone = st.tombstones.back().unwrap().id;
    let total = st.counters.total;
    let all = run(&mut s, &["show license all"]);
    assert!(
        all.contains(&format!("Total: {total}, Purged: {purged}\n")),
        "{all}"
    );

    let list = run(&mut s, &["show license rum feature all"]);
    assert_eq!(
        list.lines().filter(|l| l.contains(" P      ")).count(),
        tally_core::state::TOMBSTONES
    );
    let detail = run(
        &mut s,
        &[&format!("show license rum id {newest_tombstone} detail")],
    );
    assert!(
        detail.contains("State: UNACK,          State Change Reason: None\n"),
        "{detail}"
    );
    assert!(detail.contains("Storage State: PURGED\n"), "{detail}");
    // A usage change is still one commit whatever the backlog.
    let commits = s.device.agent.journal().commits();
    let written = s.device.agent.journal().flash().stats().bytes_written;
    s.device
        .agent
        .set_usage(s.now, "network-essentials", 2)
        .unwrap();
    assert_eq!(s.device.agent.journal().commits(), commits + 1);
    assert!(s.device.agent.journal().flash().stats().bytes_written - written <= 64);
}

/// Byte offsets of the committed items in one sector of a simulator flash image (8-byte words,
/// 16-byte sector header; item layout of ADR 0009), up to the first erased word.
fn items_in_sector(image: &[u8], sector: usize) -> Vec<(usize, usize)> {
    let round = |n: usize, to: usize| n.div_ceil(to) * to;
    let base = sector * tally_host_sim::flash::SECTOR_SIZE;
    let mut items = Vec::new();
    let mut off = base + 16;
    while off + 8 <= base + tally_host_sim::flash::SECTOR_SIZE && image[off..off + 8] != [0xFF; 8] {
        let len = u16::from_le_bytes([image[off], image[off + 1]]) as usize;
        let body = round(8 + len, 4) + 4;
        items.push((off, body));
        off += round(body, 8) + 8;
    }
    items
}

/// How a test changes a committed item in a flash image.
#[derive(Copy, Clone, Debug)]
enum Tamper {
    /// One bit of the payload.
    Flip,
    /// One bit, and the item's CRC recomputed, as a deliberate attacker would.
    FlipFixCrc,
    /// The whole item, commit word included, put back to erased bytes.
    Delete,
}

/// Run a session that pushes, then tamper with its flash image and boot a second session on it.
fn tampered_session(how: Tamper) -> (Simulator, std::path::PathBuf) {
    let name = format!("{how:?}");
    let dir = std::env::temp_dir().join(format!("tally-tamper-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = || SimOptions {
        state_dir: Some(dir.clone()),
        ..SimOptions::default()
    };
    {
        let mut s = Simulator::new(opts()).unwrap();
        run(
            &mut s,
            &[
                "license smart transport smart",
                "sim authority idtoken TALLY-TEST-TOKEN",
                "license smart trust idtoken TALLY-TEST-TOKEN all",
                "sim usage network-essentials 2",
                "sim usage dna-essentials 1",
                "license smart sync all",
                "sim clock advance 2h",
                "license smart transport off",
                "sim usage network-essentials 3",
                "sim clock advance 2h",
                "sim usage network-essentials 4",
            ],
        );
        let udi = s.device.agent.identity().udi.clone();
        let head = s.device.agent.journal().head();
        assert_ne!(head, [0; 4]);
        // DESIGN.md §4: the signed usage message carried the journal's chain head.
        assert_ne!(s.authority.journal_head(&udi), Some([0; 4]));
        assert!(s.authority.journal_head(&udi).is_some());
    }
    let path = dir.join("devices/JAE24091ABC.flash");
    let mut image = std::fs::read(&path).unwrap();
    let items = items_in_sector(&image, 0);
    assert!(items.len() > 4, "{items:?}");
    // The item before the last: a usage change after the push, its report still unacknowledged.
    let (off, body) = items[items.len() - 2];
    match how {
        Tamper::Flip => image[off + 9] ^= 0x10,
        Tamper::FlipFixCrc => {
            image[off + 9] ^= 0x10;
            let crc =
                crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&image[off..off + body - 4]);
            image[off + body - 4..off + body].copy_from_slice(&crc.to_le_bytes());
        }
        Tamper::Delete => image[off..off + body.div_ceil(8) * 8 + 8].fill(0xFF),
    }
    std::fs::write(&path, &image).unwrap();
    (Simulator::new(opts()).unwrap(), dir)
}

#[test]
fn a_modified_record_in_flash_is_detected_and_its_reports_flagged() {
    // Issue 3 tamper evidence (DESIGN.md §4, ADR 0009): a committed record changed in the raw
    // flash image (its CRC left broken or recomputed by the attacker) or deleted breaks the chain;
    // the mount still succeeds and the unacknowledged reports show flag E and storage MISSING
    // (RUM-6, RUM-10); acknowledged ones are untouched; the device carries on.
    for how in [Tamper::Flip, Tamper::FlipFixCrc, Tamper::Delete] {
        let (mut s, dir) = tampered_session(how);
        let detail = run(&mut s, &["show license rum feature all detail"]);
        let reports: Vec<&str> = detail
            .split("\n\n")
            .filter(|r| r.contains("Report Id:"))
            .collect();
        let missing = reports
            .iter()
            .filter(|r| r.contains("Storage State: MISSING"))
            .count();
        assert!(missing >= 1, "{how:?}: {detail}");
        for r in &reports {
            if r.contains("State: ACK,") {
                assert!(
                    !r.contains("MISSING"),
                    "an acknowledged report is not affected: {r}"
                );
            }
        }
        let list = run(&mut s, &["show license rum feature all"]);
        assert_eq!(
            list.lines().filter(|l| l.contains(" E      ")).count(),
            missing,
            "{list}"
        );
        // The device carries on: new usage opens a fresh report that is not flagged.
        run(
            &mut s,
            &["sim usage network-essentials 5", "sim clock advance 1h"],
        );
        let open = s
            .device
            .agent
            .state()
            .reports
            .iter()
            .filter(|r| r.state == ReportState::Open)
            .count();
        assert!(open >= 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn an_intact_image_reports_no_tampering() {
    // The control for the test above: the same sessions without tampering flag nothing.
    let dir = std::env::temp_dir().join(format!("tally-tamper-none-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = || SimOptions {
        state_dir: Some(dir.clone()),
        ..SimOptions::default()
    };
    {
        let mut s = Simulator::new(opts()).unwrap();
        run(
            &mut s,
            &[
                "license smart transport smart",
                "sim authority idtoken TALLY-TEST-TOKEN",
                "license smart trust idtoken TALLY-TEST-TOKEN all",
                "sim usage network-essentials 2",
                "sim clock advance 2h",
                "license smart transport off",
                "sim usage network-essentials 3",
            ],
        );
    }
    let mut s = Simulator::new(opts()).unwrap();
    let detail = run(&mut s, &["show license rum feature all detail"]);
    assert!(!detail.contains("MISSING"), "{detail}");
    let _ = std::fs::remove_dir_all(&dir);
}
