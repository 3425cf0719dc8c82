//! Trust codes (digest §5) as a device shows them: factory codes, ID tokens, the automatic
//! request in usage messages and files, saved trust requests, the overwrite rules, the failure
//! causes, the display, events, clock skew, and factory reset (MISC-4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::agent::Release;
use tally_core::wire::TrustOrigin;
use tally_host_sim::authority::Authority;
use tally_host_sim::factory::{self, Order};
use tally_host_sim::sim::DEFAULT_START;
use tally_host_sim::{SimOptions, Simulator};
use tally_tests::{DAY, direct, field, lines, messages, run};

const ACTIVE: &str = "PID:C9200L-48P-4X,SN:JAE24091ABC";
const STANDBY: &str = "PID:C9200L-48P-4X,SN:JAE24091ABD";

fn switch() -> Simulator {
    Simulator::new(SimOptions::default()).unwrap()
}

fn success(udi: &str) -> String {
    format!(
        "%SMART_LIC-6-TRUST_CODE_INSTALL_SUCCESS: A new licensing trust code was successfully installed on {udi}."
    )
}

fn failure(udi: &str, why: &str) -> String {
    format!(
        "%SMART_LIC-3-TRUST_CODE_INSTALL_FAILED: The install of a new licensing trust code has failed on {udi}: {why}."
    )
}

fn origin(s: &Simulator, slot: usize) -> Option<TrustOrigin> {
    s.device.agent.trust_of(slot).map(|e| e.origin)
}

/// A stack whose factory provisioned it (TRUST-2): factory trust code, nothing else.
fn factory_switch(order: Order) -> Simulator {
    let mut authority = Authority::new(tally_host_sim::authority::DEFAULT_KEY_SEED);
    let image = factory::provision(&order, &mut authority, DEFAULT_START.sub_secs(DAY)).unwrap();
    Simulator::new(SimOptions {
        provision: Some(image),
        ..SimOptions::default()
    })
    .unwrap()
}

fn order() -> Order {
    Order {
        udi: factory::parse_udi(ACTIVE).unwrap(),
        key_seed: Some("test factory key".into()),
        ..Order::default()
    }
}

#[test]
fn id_token_local_then_all_then_force() {
    // TRUST-3, TRUST-4, TRUST-8 (already installed), TRUST-11, TRUST-13, MSG-6, MSG-12
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm",
        ],
    );
    assert!(run(&mut s, &["show license status"]).ends_with("Trust Code Installed: <none>\n"));
    let out = run(
        &mut s,
        &["license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm local"],
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE)]
    );
    let st = run(&mut s, &["show license status"]);
    assert!(
        st.ends_with(&format!(
            "Trust Code Installed:\n  Active: {ACTIVE}\n         INSTALLED on Jan 05 09:00:00 2026 UTC\n  Standby: {STANDBY}\n         <none>\n"
        )),
        "{st}"
    );
    // `all`: the standby gets one; CSSM refuses the registered active without `force`.
    run(&mut s, &["sim clock advance 79s"]);
    let out = run(
        &mut s,
        &["license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm all"],
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(STANDBY)]
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_FAILED"),
        [failure(
            ACTIVE,
            "Trust code already installed (UDI already registered); use force"
        )]
    );
    let first = s.device.agent.trust_of(0).unwrap().clone();
    // `force` makes new codes for both.
    run(&mut s, &["sim clock advance 1h"]);
    let out = run(
        &mut s,
        &["license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm all force"],
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE), success(STANDBY)]
    );
    let second = s.device.agent.trust_of(0).unwrap();
    assert!(second.serial > first.serial);
    assert_eq!(second.installed_at, first.installed_at.add_secs(79 + 3600));
    // Direct communication is allowed now (TRUST-3), and says so.
    let h = run(&mut s, &["show license history message"]);
    assert!(h.contains("Communication Level Allowed: DIRECT\n"), "{h}");
    assert!(h.contains(
        "Trust Establishment:\n  Attempts: Total=3, Success=3, Fail=0 Ongoing Failure: Overall=0 Communication=0\n"
    ));
    // TRUST-13: every install is an event.
    let log = run(&mut s, &["show license eventlog"]);
    assert_eq!(
        log.matches(&format!("SAEVT_TRUST_CODE_INSTALLED udi={ACTIVE}"))
            .count(),
        2
    );
    assert_eq!(
        log.matches(&format!("SAEVT_TRUST_CODE_INSTALLED udi={STANDBY}"))
            .count(),
        2
    );
}

#[test]
fn direct_communication_needs_a_trust_code() {
    // TRUST-2, TRUST-3, TRUST-10, MSG-3: connected directly, nothing goes out without trust;
    // scheduled pushes fail on the retry schedule with the reason; CSLU needs none.
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim usage dna-essentials 1",
        ],
    );
    assert_eq!(
        s.line("license smart sync"),
        "% Error: sync: Insufficient trust for direct communication\n"
    );
    let out = run(&mut s, &["sim clock advance 91d"]);
    let fails = messages(&out, "COMM_FAILED");
    assert!(!fails.is_empty());
    assert!(
        fails
            .iter()
            .all(|m| m.ends_with(": Insufficient trust for direct communication"))
    );
    assert!(
        s.authority
            .received(&s.device.agent.identity().udi)
            .is_empty()
    );
    assert!(
        run(&mut s, &["show license history message"])
            .contains("Communication Level Allowed: INDIRECT\nOverall State: Insufficient trust for direct communication\n")
    );
    // Trust established: the next attempt goes out and is acknowledged.
    let out = direct(&mut s) + &run(&mut s, &["sim clock advance 1h"]);
    assert!(!messages(&out, "COMM_RESTORED").is_empty(), "{out}");
    assert!(
        !s.authority
            .received(&s.device.agent.identity().udi)
            .is_empty()
    );
}

#[test]
fn cslu_push_asks_for_trust_codes_and_the_ack_brings_them() {
    // TRUST-5 (17.7.1: automatic request in the RUM report, for every member), TRUST-7
    let mut s = switch();
    run(&mut s, &["sim usage network-essentials 2"]);
    let out = run(&mut s, &["license smart sync", "sim clock advance 10m"]);
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE), success(STANDBY)],
        "{out}"
    );
    assert_eq!(origin(&s, 0), Some(TrustOrigin::Ack));
    assert_eq!(origin(&s, 1), Some(TrustOrigin::Ack));
    // A device that has its codes does not ask again: later ACKs carry none.
    let serial = s.device.agent.trust_of(0).unwrap().serial;
    let out = run(
        &mut s,
        &[
            "sim usage network-essentials 3",
            "license smart sync",
            "sim clock advance 10m",
        ],
    );
    assert!(messages(&out, "TRUST_CODE_INSTALL").is_empty(), "{out}");
    assert_eq!(s.device.agent.trust_of(0).unwrap().serial, serial);
}

#[test]
fn release_17_3_does_not_ask_for_trust_codes() {
    // TRUST-5 applies from 17.7.1.
    let mut s = Simulator::new(SimOptions {
        release: Release::V17_3,
        ..SimOptions::default()
    })
    .unwrap();
    let out = run(
        &mut s,
        &[
            "sim usage network-essentials 2",
            "license smart sync",
            "sim clock advance 10m",
        ],
    );
    assert!(messages(&out, "TRUST_CODE_INSTALL").is_empty(), "{out}");
    assert!(s.device.agent.trust_of(0).is_none());
}

#[test]
fn saved_usage_file_carries_the_trust_request() {
    // TRUST-5 (No Connectivity: the request goes inside the saved usage file)
    let mut s = switch();
    let out = run(
        &mut s,
        &[
            "license smart transport off",
            "sim usage network-essentials 1",
            "license smart save usage all file bootflash:u.txt",
            "sim authority upload bootflash:u.txt bootflash:a.txt",
            "license smart import bootflash:a.txt",
        ],
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE), success(STANDBY)]
    );
}

#[test]
fn saved_trust_request_round_trip() {
    // TRUST-6: save the active's request, the authority answers, import it; a second request
    // for the registered UDI is refused with the cause.
    let mut s = switch();
    let out = run(
        &mut s,
        &[
            "license smart transport off",
            "license smart save trust-request bootflash:trust.txt",
            "sim authority upload bootflash:trust.txt bootflash:trust-answer.txt",
            "license smart import bootflash:trust-answer.txt",
        ],
    );
    assert!(
        out.starts_with("Import Data Successful: trust code response, 1 trust code(s) installed\n"),
        "{out}"
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE)]
    );
    assert!(s.device.agent.trust_of(1).is_none(), "only the active's");
    let out = lines(
        &mut s,
        &[
            "license smart save trust-request bootflash:trust.txt",
            "sim authority upload bootflash:trust.txt bootflash:trust-answer.txt",
            "license smart import bootflash:trust-answer.txt",
        ],
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_FAILED"),
        [failure(
            ACTIVE,
            "Trust code already installed (UDI already registered); use force"
        )]
    );
}

#[test]
fn install_failures_name_their_cause() {
    // TRUST-8, TRUST-9 (MSG-24), MSG-6: account mismatch (and `force` moving the device),
    // expired token, token used up, CSSM overloaded, unknown token, no connectivity.
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken OTHER-VA account Eg-SA Other-VA",
            "sim authority idtoken SHORT expires 1d",
            "sim authority idtoken ONCE uses 1",
            "sim authority idtoken BUSY",
        ],
    );
    let once = |out: &str| messages(out, "TRUST_CODE_INSTALL_FAILED");
    let out = lines(&mut s, &["license smart trust idtoken OTHER-VA local"]);
    assert_eq!(
        once(&out),
        [failure(ACTIVE, "Smart Account-Virtual Account mismatch")]
    );
    let out = lines(&mut s, &["license smart trust idtoken NO-SUCH-TOKEN local"]);
    assert_eq!(once(&out), [failure(ACTIVE, "The ID token is not valid")]);
    let out = lines(&mut s, &["license smart trust idtoken ONCE all"]);
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE)]
    );
    assert_eq!(
        once(&out),
        [failure(
            STANDBY,
            "The ID token has reached its maximum number of uses"
        )]
    );
    let out = lines(
        &mut s,
        &[
            "sim authority busy 1",
            "license smart trust idtoken BUSY all",
        ],
    );
    assert_eq!(
        once(&out),
        [
            failure(
                ACTIVE,
                "Server error occurred: LS_LICENGINE_FAIL_TO_CONNECT"
            ),
            failure(
                STANDBY,
                "Server error occurred: LS_LICENGINE_FAIL_TO_CONNECT"
            )
        ]
    );
    assert!(
        run(&mut s, &["show license history message"])
            .contains("  Failure Reason: Server error occurred: LS_LICENGINE_FAIL_TO_CONNECT\n")
    );
    let out = lines(
        &mut s,
        &[
            "sim clock advance 2d",
            "license smart trust idtoken SHORT all force",
        ],
    );
    assert_eq!(
        once(&out),
        [
            failure(ACTIVE, "The ID token has expired"),
            failure(STANDBY, "The ID token has expired")
        ]
    );
    // TRUST-4: the product instance moved to another account: `force` re-registers it there.
    let out = lines(&mut s, &["license smart trust idtoken OTHER-VA all force"]);
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE), success(STANDBY)]
    );
    assert_eq!(
        s.authority.device_account(&s.device.agent.identity().udi),
        Some(("Eg-SA".to_string(), "Other-VA".to_string()))
    );
    // No connectivity: the request fails with the communication error.
    let out = lines(
        &mut s,
        &[
            "sim link down",
            "license smart trust idtoken OTHER-VA local force",
        ],
    );
    assert_eq!(
        once(&out),
        [failure(
            ACTIVE,
            "Communications failure: Unable to connect to the server: unreachable"
        )]
    );
    assert_eq!(s.line("license smart transport off"), String::new());
    assert_eq!(
        s.line("license smart trust idtoken OTHER-VA local"),
        "% Error: trust idtoken: transport is off\n"
    );
}

#[test]
fn a_factory_trust_code_signs_but_cannot_talk_directly() {
    // TRUST-2, TRUST-3 (an ID token MUST overwrite it), TRUST-5 (the ACK overwrites it), TRUST-11
    let mut s = factory_switch(order());
    assert_eq!(origin(&s, 0), Some(TrustOrigin::Factory));
    let st = run(&mut s, &["show license status"]);
    assert!(st.contains(&format!(
        "Trust Code Installed:\n  Active: {ACTIVE}\n         INSTALLED on Jan 04 09:00:00 2026 UTC\n"
    )), "{st}");
    run(&mut s, &["license smart transport smart"]);
    assert_eq!(
        s.line("license smart sync"),
        "% Error: sync: Insufficient trust for direct communication\n"
    );
    let out = direct(&mut s);
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE), success(STANDBY)]
    );
    assert_eq!(origin(&s, 0), Some(TrustOrigin::IdToken));
    // The factory code is overwritten automatically by the ACK in CSLU topologies (TRUST-5).
    let mut s = factory_switch(order());
    let out = run(
        &mut s,
        &[
            "sim usage network-essentials 1",
            "license smart sync",
            "sim clock advance 10m",
        ],
    );
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(ACTIVE), success(STANDBY)]
    );
    assert_eq!(origin(&s, 0), Some(TrustOrigin::Ack));
}

#[test]
fn a_provisioning_image_for_another_device_or_key_is_refused() {
    // The factory trust code binds UDI and key: an image whose code is for another key, or an
    // image for another UDI, does not boot.
    let mut authority = Authority::new(tally_host_sim::authority::DEFAULT_KEY_SEED);
    let mut image = factory::provision(&order(), &mut authority, DEFAULT_START).unwrap();
    let other = factory::provision(
        &Order {
            key_seed: Some("another key".into()),
            ..order()
        },
        &mut authority,
        DEFAULT_START,
    )
    .unwrap();
    image.trust_code = other.trust_code.clone();
    let err = Simulator::new(SimOptions {
        provision: Some(image),
        ..SimOptions::default()
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("factory trust code refused"),
        "{err}"
    );
    let elsewhere = factory::provision(
        &Order {
            udi: factory::parse_udi("PID:C9200L-48P-4X,SN:JAE00000000").unwrap(),
            ..order()
        },
        &mut authority,
        DEFAULT_START,
    )
    .unwrap();
    let err = Simulator::new(SimOptions {
        provision: Some(elsewhere),
        ..SimOptions::default()
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("is for PID:C9200L-48P-4X,SN:JAE00000000"),
        "{err}"
    );
}

#[test]
fn a_device_clock_hours_off_still_installs_trust() {
    // DESIGN.md §3: Cisco refuses a trust code on a clock off by an hour (TRUST-8 "timestamp
    // mismatch"); here time comes from the signed message, and it ratchets the device's time.
    let mut s = switch();
    run(
        &mut s,
        &[
            "sim clock skew -3h",
            "license smart transport smart",
            "sim authority idtoken TOKEN",
        ],
    );
    let out = run(&mut s, &["license smart trust idtoken TOKEN all"]);
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS").len(),
        2,
        "{out}"
    );
    // The device's notion of time is never behind the authority's signed issue time.
    assert!(s.device.agent.state().hwm >= s.now);
    // A year ahead works too; the high-water mark then stays there (time never goes back).
    run(
        &mut s,
        &["sim clock skew 365d", "sim usage network-essentials 2"],
    );
    let ahead = s.device.agent.state().hwm;
    assert!(ahead >= s.now.add_secs(364 * DAY));
    run(
        &mut s,
        &["sim clock skew 0", "sim usage network-essentials 1"],
    );
    assert!(s.device.agent.state().hwm >= ahead);
}

#[test]
fn factory_reset_keeps_only_the_licenses_in_use() {
    // MISC-4, CLI-E5, MSG-5, MSG-10: reports, policy, account, trust and authorization codes go;
    // the licenses in use stay and report again; IDs never repeat; the factory trust code stays.
    let mut s = factory_switch(Order {
        auth: vec!["hseck9".into()],
        policy: Some(tally_host_sim::authority::sle_policy()),
        ..order()
    });
    direct(&mut s);
    run(
        &mut s,
        &[
            "sim usage network-essentials 2",
            "sim usage hseck9 1",
            "license smart sync",
            "sim clock advance 10m",
        ],
    );
    let before = s.device.agent.state().clone();
    assert!(before.policy.is_some() && before.account.is_some());
    assert!(before.auth[0].is_some());
    let out = run(&mut s, &["license smart factory reset"]);
    assert_eq!(
        messages(&out, "POLICY_REMOVED"),
        ["%SMART_LIC-3-POLICY_REMOVED: The licensing policy has been removed."]
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_REMOVED"),
        [format!(
            "%SMART_LIC-6-AUTHORIZATION_REMOVED: A licensing authorization code has been removed from {ACTIVE}"
        )]
    );
    let st = s.device.agent.state();
    assert!(st.policy.is_none() && st.account.is_none() && st.last_ack.is_none());
    assert!(st.trust.iter().all(Option::is_none) && st.auth.iter().all(Option::is_none));
    assert_eq!(st.usage[0].requested, 2, "licenses in use stay");
    assert!(
        st.reports.iter().all(|r| r.id > before.last_id),
        "IDs never repeat"
    );
    assert_eq!(
        st.reports.len(),
        1,
        "only network-essentials reports: hseck9 lost its code"
    );
    assert_eq!(
        origin(&s, 0),
        Some(TrustOrigin::Factory),
        "the factory code stays"
    );
    let status = run(&mut s, &["show license status"]);
    assert_eq!(
        field(&status, "Policy in use"),
        "Merged from multiple sources."
    );
    let log = run(&mut s, &["show license eventlog"]);
    assert!(log.contains("SAEVT_FACTORY_RESET"), "{log}");
    // It reboots into the same state: the reset is in the journal.
    run(&mut s, &["sim reload"]);
    assert!(s.device.agent.state().policy.is_none());
    // A factory reset does not bring back the factory policy or codes.
    assert!(s.device.agent.state().auth[0].is_none());
}

#[test]
fn a_standby_that_joins_gets_its_trust_by_sync() {
    // TRUST-12: connected directly, the active installs trust for a standby without one when
    // the set forms (at boot), and moves it to the active's account; `Trust Sync` counts it.
    let mut s = switch();
    run(
        &mut s,
        &[
            "license smart transport smart",
            "sim authority idtoken TOKEN",
            "license smart trust idtoken TOKEN local",
        ],
    );
    assert!(
        s.device.agent.trust_of(1).is_none(),
        "`local`: the active only"
    );
    let standby = tally_tests::udi("C9200L-48P-4X", "JAE24091ABD");
    s.authority.move_device(&standby, "Eg-SA", "Lab-VA");
    let out = run(&mut s, &["sim reload"]);
    assert_eq!(
        messages(&out, "TRUST_CODE_INSTALL_SUCCESS"),
        [success(STANDBY)],
        "{out}"
    );
    assert_eq!(
        s.authority.device_account(&standby),
        Some(("Eg-SA".to_string(), "Eg-VA".to_string()))
    );
    let h = run(&mut s, &["show license history message"]);
    assert!(
        h.contains("Trust Sync:\n  Attempts: Total=1, Success=1, Fail=0"),
        "{h}"
    );
    // Nothing left to sync: the next boot sends no trust request.
    let out = run(&mut s, &["sim reload"]);
    assert!(messages(&out, "TRUST_CODE_INSTALL").is_empty());
}
