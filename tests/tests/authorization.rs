//! Authorization codes (digest §6) as a device shows them: the gate on enforced and
//! export-controlled licenses, requests (add, replace, save), codes in ACKs and files, returns
//! (offline with the return code, online, uploaded, typed in the portal), export return, the
//! displays and messages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::agent::{LicenseStatus, Release, check_return_code};
use tally_core::rum::ReportState;
use tally_hal::{DeviceKey, Enforcement, Term};
use tally_host_sim::Simulator;
use tally_tests::{direct, field, gated, lic, lines, messages, profile, run, sim, udi};

const A: &str = "PID:C9500-24Y4C,SN:FXS2233Q1AB";
const B: &str = "PID:C9500-24Y4C,SN:FXS2233Q1AC";

/// A two-member stack with one unenforced, one enforced and one export-controlled license.
fn router() -> Simulator {
    let p = profile(
        udi("C9500-24Y4C", "FXS2233Q1AB"),
        Some(udi("C9500-24Y4C", "FXS2233Q1AC")),
        vec![
            lic("network-advantage", "C9500-NW-A", Term::Perpetual),
            gated("macsec-enc", "MACSEC", Enforcement::Enforced),
            gated("hseck9", "DNA_HSEC", Enforcement::ExportControlled),
        ],
        false,
    );
    sim(p, Release::V17_7, "2026-03-02 08:00:00")
}

fn installed(udi: &str) -> String {
    format!(
        "%SMART_LIC-6-AUTHORIZATION_INSTALL_SUCCESS: A new licensing authorization code was successfully installed on: {udi}."
    )
}

fn removed(udi: &str) -> String {
    format!(
        "%SMART_LIC-6-AUTHORIZATION_REMOVED: A licensing authorization code has been removed from {udi}"
    )
}

fn status(s: &mut Simulator, lic: usize) -> LicenseStatus {
    s.device.agent.license_status(lic)
}

#[test]
fn gated_licenses_work_only_with_a_code() {
    // AUTH-1, ENF-7, MSG-9, AUTH-8, AUTH-11: NOT AUTHORIZED and off until a SLAC is installed;
    // the unenforced license is never stopped (MISC-12); installing is a usage change.
    let mut s = router();
    direct(&mut s);
    run(
        &mut s,
        &[
            "sim usage network-advantage 2",
            "sim usage hseck9 2",
            "sim clock advance 1h",
        ],
    );
    assert_eq!(status(&mut s, 2), LicenseStatus::NotAuthorized);
    assert_eq!(status(&mut s, 0), LicenseStatus::InUse);
    assert_eq!(s.device.platform.feature_enabled("hseck9"), Some(false));
    let summary = run(&mut s, &["show license summary"]);
    assert!(
        summary
            .contains("hseck9                 (DNA_HSEC)                     2 NOT AUTHORIZED\n"),
        "{summary}"
    );
    let before = s.device.agent.state().reports.len();
    // No license in the account: refused with the cause (MSG-2).
    let out = lines(
        &mut s,
        &["license smart authorization request add hseck9 all"],
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_INSTALL_FAILED"),
        [A, B].map(|u| format!("%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED: The install of a new licensing authorization code has failed on {u}: The license is not known to the licensing authority."))
    );
    let out = lines(
        &mut s,
        &[
            "sim authority pool hseck9 0",
            "license smart authorization request add hseck9 local",
        ],
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_INSTALL_FAILED"),
        [format!(
            "%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED: The install of a new licensing authorization code has failed on {A}: No licenses of this type are available in the Virtual Account."
        )]
    );
    let out = run(
        &mut s,
        &[
            "sim authority pool hseck9 2",
            "license smart authorization request add hseck9 all",
        ],
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_INSTALL_SUCCESS"),
        [installed(A), installed(B)]
    );
    assert_eq!(status(&mut s, 2), LicenseStatus::InUse);
    assert_eq!(s.device.platform.feature_enabled("hseck9"), Some(true));
    let st = s.device.agent.state();
    assert_eq!(st.authorized(2), 2);
    assert_eq!(
        st.reports.len(),
        before + 1,
        "a report opens for hseck9 at install"
    );
    let r = st
        .reports
        .iter()
        .find(|r| r.lic == 2 && r.state == ReportState::Open)
        .unwrap();
    assert_eq!(r.start, s.now);
    let log = run(&mut s, &["show license eventlog"]);
    assert!(log.contains("SAEVT_AUTH_CODE_REQUESTED feature=\"hseck9\""));
    assert!(log.contains(&format!("SAEVT_AUTH_CODE_INSTALLED udi={A}")));
    // AUTH-11 display.
    let auth = run(&mut s, &["show license authorization"]);
    let code_a = s.device.agent.authorization_of(0).unwrap().serial;
    let want = format!(
        "Overall status:\n  Active: {A}\n    Status: SMART AUTHORIZATION INSTALLED on Mar 02 09:00:00 2026 UTC\n    Last Confirmation code: {:08x}\n",
        tally_core::agent::confirmation_code(&udi("C9500-24Y4C", "FXS2233Q1AB"), code_a)
    );
    assert!(auth.starts_with(&want), "{auth}");
    assert!(auth.contains("\nAuthorizations:\n  hseck9 (DNA_HSEC):\n    Description: hseck9\n    Total available count: 2\n    Enforcement type: EXPORT RESTRICTED\n    Term information:\n"), "{auth}");
    assert!(auth.ends_with("\nPurchased Licenses:\n  No Purchase Information Available\n"));
    let all = run(&mut s, &["show license all"]);
    assert!(all.contains(&format!("  Active: {A}\n          Status: SMART AUTHORIZATION INSTALLED on Mar 02 09:00:00 2026 UTC\n          Last Confirmation code: ")), "{all}");
    let usage = run(&mut s, &["show license usage"]);
    assert!(
        usage.contains("  Status: IN USE\n  Export status: RESTRICTED - ALLOWED\n"),
        "{usage}"
    );
}

#[test]
fn add_keeps_what_the_code_holds_and_replace_gives_it_back() {
    // AUTH-2 add / replace, MSG-23 (replace refused while a returned license is in use)
    let mut s = router();
    direct(&mut s);
    run(
        &mut s,
        &[
            "sim authority pool hseck9 1",
            "sim authority pool macsec-enc 1",
            "license smart authorization request add hseck9 local",
            "license smart authorization request add macsec-enc local",
        ],
    );
    let code = s.device.agent.authorization_of(0).unwrap().clone();
    assert_eq!(code.licenses.len(), 2, "add: both licenses in one code");
    run(&mut s, &["sim usage hseck9 1"]);
    assert_eq!(
        s.line("license smart authorization request replace macsec-enc local"),
        "% Error: authorization request: licenses to be returned are in use: first disable the corresponding features\n"
    );
    assert_eq!(
        s.device.agent.authorization_of(0),
        Some(&code),
        "nothing changed"
    );
    run(
        &mut s,
        &[
            "sim usage hseck9 0",
            "license smart authorization request replace macsec-enc local",
        ],
    );
    let code = s.device.agent.authorization_of(0).unwrap();
    assert_eq!(
        code.licenses.as_slice(),
        &[(1u8, 1u16)],
        "replace: only macsec-enc"
    );
    assert_eq!(
        s.authority.pool.get("hseck9"),
        Some(&1),
        "hseck9 went back to the pool"
    );
    // A license that needs no code cannot be requested.
    assert_eq!(
        s.line("license smart authorization request add network-advantage local"),
        "% Error: authorization request: the license does not need an authorization code\n"
    );
}

#[test]
fn saved_request_and_code_files() {
    // AUTH-2 save (17.7.1), AUTH-6 (import of a SLAC file; a SLAC in the ACK of a usage report)
    let mut s = router();
    let out = run(
        &mut s,
        &[
            "license smart transport off",
            "sim authority pool hseck9 2",
            "license smart authorization request save bootflash:auth.txt hseck9 local",
            "sim authority upload bootflash:auth.txt bootflash:auth-answer.txt",
            "license smart import bootflash:auth-answer.txt",
        ],
    );
    assert!(out.starts_with("Import Data Successful: authorization code response, 1 authorization code(s) installed\n"), "{out}");
    assert_eq!(
        messages(&out, "AUTHORIZATION_INSTALL_SUCCESS"),
        [installed(A)]
    );
    // The portal's download of a code for this device.
    let out = run(
        &mut s,
        &[
            "sim authority auth-code macsec-enc bootflash:slac.txt",
            "license smart import bootflash:slac.txt",
        ],
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_INSTALL_SUCCESS"),
        [installed(A)]
    );
    // Importing it again changes nothing.
    assert_eq!(
        run(&mut s, &["license smart import bootflash:slac.txt"]),
        "Import Data Successful: authorization code already installed, nothing changed\n"
    );
    // In use without a code, the saved usage file asks for one and the ACK brings it.
    let mut s = router();
    let out = run(
        &mut s,
        &[
            "license smart transport off",
            "sim authority pool hseck9 2",
            "sim usage hseck9 1",
            "license smart save usage all file bootflash:u.txt",
            "sim authority upload bootflash:u.txt bootflash:a.txt",
            "license smart import bootflash:a.txt",
        ],
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_INSTALL_SUCCESS"),
        [installed(A)],
        "{out}"
    );
    assert_eq!(status(&mut s, 2), LicenseStatus::InUse);
}

#[test]
fn offline_return_prints_the_code_the_portal_takes() {
    // AUTH-3 (offline, with path; precondition), AUTH-4 format, MSG-10, MSG-22, "Last return
    // code:" in show license all; the portal takes the typed code or the file (17.7.1).
    let mut s = router();
    direct(&mut s);
    run(
        &mut s,
        &[
            "sim authority pool hseck9 2",
            "license smart authorization request add hseck9 all",
            "sim usage hseck9 2",
        ],
    );
    assert_eq!(
        s.line("license smart authorization return all offline"),
        "% Error: authorization return: licenses to be returned are in use: first disable the corresponding features\n"
    );
    let out = run(
        &mut s,
        &[
            "sim usage hseck9 0",
            "license smart authorization return local offline bootflash:return.txt",
        ],
    );
    let lines_out: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines_out[0],
        "Enter this return code in Cisco Smart Software Manager portal:"
    );
    assert_eq!(lines_out[1], format!("UDI: {A}"));
    let code = lines_out[2].strip_prefix("   Return code: ").unwrap();
    let groups: Vec<&str> = code.split('-').collect();
    assert_eq!(groups.len(), 9);
    assert!(
        groups[..8].iter().all(|g| g.len() == 6) && groups[8].len() == 3,
        "{code}"
    );
    assert!(code.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
    let key = s.device.key.public_key();
    assert!(check_return_code(code, &udi("C9500-24Y4C", "FXS2233Q1AB"), &key).is_some());
    assert_eq!(messages(&out, "AUTHORIZATION_REMOVED"), [removed(A)]);
    let all = run(&mut s, &["show license all"]);
    assert!(
        all.contains(&format!(
            "  Active: {A}\n          Status: NOT INSTALLED\n          Last return code: {code}\n"
        )),
        "{all}"
    );
    // The standby still holds its code: one unit stays authorized.
    assert_eq!(s.device.agent.state().authorized(2), 1);
    // The portal takes the typed code; the license is back in the pool.
    let pool = s.authority.pool["hseck9"];
    assert_eq!(
        run(&mut s, &[&format!("sim authority return-code {code}")]),
        format!("Return code accepted for {A}\n")
    );
    assert_eq!(s.authority.pool["hseck9"], pool + 1);
    assert!(
        s.line(&format!("sim authority return-code {code}"))
            .starts_with("% Error: ")
    );
    // The standby's return goes as a file, uploaded like a usage report.
    run(
        &mut s,
        &[
            "license smart authorization return all offline bootflash:r2.txt",
            "sim authority upload bootflash:r2.txt bootflash:r2-answer.txt",
        ],
    );
    assert_eq!(s.authority.pool["hseck9"], pool + 2);
    assert!(
        s.authority
            .issued_code(&udi("C9500-24Y4C", "FXS2233Q1AC"))
            .is_none()
    );
    assert_eq!(
        s.line("license smart authorization return all offline"),
        "% Error: authorization return: no authorization code is installed\n"
    );
}

#[test]
fn online_return_waits_for_the_confirmation() {
    // AUTH-3 online: the code goes to the authority; its confirmation removes it (MSG-10).
    let mut s = router();
    direct(&mut s);
    run(
        &mut s,
        &[
            "sim authority pool macsec-enc 2",
            "license smart authorization request add macsec-enc all",
        ],
    );
    let out = run(
        &mut s,
        &[
            "sim link down",
            "license smart authorization return all online",
        ],
    );
    assert!(messages(&out, "AUTHORIZATION_REMOVED").is_empty());
    assert!(
        s.device.agent.authorization_of(0).is_some(),
        "no confirmation, nothing removed"
    );
    let out = run(
        &mut s,
        &[
            "sim link up",
            "license smart authorization return all online",
        ],
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_REMOVED"),
        [removed(A), removed(B)]
    );
    assert_eq!(s.authority.pool["macsec-enc"], 2);
    let h = run(&mut s, &["show license history message"]);
    assert!(
        h.contains("Authorization Return:\n  Attempts: Total=2, Success=1, Fail=1"),
        "{h}"
    );
    assert!(
        h.contains("Authorization Request:\n  Attempts: Total=1, Success=1, Fail=0"),
        "{h}"
    );
}

#[test]
fn export_return_gives_back_one_export_key() {
    // AUTH-5: `license smart export return` returns the authorization for an export-controlled
    // license and keeps the rest of the code.
    let mut s = router();
    direct(&mut s);
    run(
        &mut s,
        &[
            "sim authority pool hseck9 1",
            "sim authority pool macsec-enc 1",
            "license smart authorization request add hseck9 local",
            "license smart authorization request add macsec-enc local",
        ],
    );
    assert_eq!(
        s.line("license smart export return local macsec-enc"),
        "% Error: export return: not an export-controlled license\n"
    );
    let out = run(&mut s, &["license smart export return local hseck9"]);
    assert!(out.starts_with("Enter this return code in Cisco Smart Software Manager portal:\n"));
    let code = s.device.agent.authorization_of(0).unwrap();
    assert_eq!(code.licenses.as_slice(), &[(1u8, 1u16)], "macsec-enc stays");
    assert_eq!(status(&mut s, 2), LicenseStatus::NotAuthorized);
    assert_eq!(s.device.agent.state().authorized(2), 0);
}

#[test]
fn factory_and_migrated_codes() {
    // AUTH-6 (pre-installed at the factory), AUTH-1 / MIG-8 (an SLR code carried over shows as
    // SPECIFIC INSTALLED under Specified license reservations).
    let mut s = router();
    let out = run(
        &mut s,
        &[
            "license smart transport off",
            "sim authority auth-code hseck9 bootflash:slr.txt slr",
            "license smart import bootflash:slr.txt",
        ],
    );
    assert_eq!(
        messages(&out, "AUTHORIZATION_INSTALL_SUCCESS"),
        [installed(A)]
    );
    let auth = run(&mut s, &["show license authorization"]);
    assert!(
        auth.contains("    Status: SPECIFIC INSTALLED on Mar 02 08:00:00 2026 UTC\n"),
        "{auth}"
    );
    assert!(auth.contains("\nSpecified license reservations:\n  hseck9 (DNA_HSEC):\n    Description: hseck9\n    Total reserved count: 1\n"), "{auth}");
    assert_eq!(field(&auth, "Total reserved count"), "1");
}
