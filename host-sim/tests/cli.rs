//! The `tally-sim` binary as users run it: the demo, the console on standard input, and
//! `--state DIR` continuing in a second process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Stdio};

fn tally_sim(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tally-sim"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn demo_runs_the_whole_story() {
    let (code, out, err) = tally_sim(&["demo"], "");
    assert_eq!(code, 0, "{err}");
    for needle in [
        "Device# show license udi\nUDI: PID:C9200L-48P-4X,SN:JAE24091ABC\n",
        "hseck9                 (DNA_HSEC)                     1 NOT AUTHORIZED\n",
        "%SMART_LIC-6-POLICY_INSTALL_SUCCESS: A new licensing policy was successfully installed.",
        "%SMART_LIC-3-COMM_FAILED: Communications failure with the Cisco Smart Software Manager (CSSM) : ",
        "%SMART_LIC-3-COMM_RESTORED: Communications with the Cisco Smart Software Manager (CSSM) restored.",
        "Import Data Successful: ACK, ",
        "% Error: import: file type cannot be imported\n",
        "Smart Licensing Usage Report Detail:\n=====\n",
        "**** Event Log ****\n",
    ] {
        assert!(out.contains(needle), "demo output lacks {needle:?}");
    }
    // Deterministic: the same run prints the same bytes.
    assert_eq!(tally_sim(&["demo"], "").1, out);
}

#[test]
fn console_reads_commands_and_echoes_them_after_the_prompt() {
    let (code, out, _) = tally_sim(&["console"], "show license udi\nshow licnse\n");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Device# show license udi\nUDI: PID:C9200L-48P-4X,SN:JAE24091ABC\nHA UDI List:\n  Active:PID:C9200L-48P-4X,SN:JAE24091ABC\n  Standby:PID:C9200L-48P-4X,SN:JAE24091ABD\nDevice# show licnse\n             ^\n% Invalid input detected at '^' marker.\n"
    );
}

#[test]
fn a_second_console_continues_where_the_first_stopped() {
    let dir = std::env::temp_dir().join(format!("tally-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let first = "license smart transport off\nsim usage network-essentials 2\nsim clock advance 3d\nlicense smart save usage unreported file bootflash:u.txt\n";
    let (code, _, err) = tally_sim(&["console", "--state", d], first);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::metadata(dir.join("devices/JAE24091ABC.flash"))
            .unwrap()
            .len(),
        8 * 4096
    );
    assert!(dir.join("devices/JAE24091ABC/bootflash/u.txt").exists());
    let second = "sim clock\nsim authority upload bootflash:u.txt bootflash:a.txt\nlicense smart import bootflash:a.txt\nshow license summary\n";
    let (code, out, err) = tally_sim(&["console", "--state", d], second);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Device# sim clock\nJan 08 09:00:00 2026 UTC\n"),
        "{out}"
    );
    assert!(
        out.contains("Import Data Successful: ACK, 1 RUM report(s) acknowledged"),
        "{out}"
    );
    assert!(
        out.contains("network-essentials     (C9200L-NW-E-48)               2 IN USE"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_are_refused() {
    let (code, _, err) = tally_sim(&["console", "--release", "16.9"], "");
    assert_eq!(code, 2);
    assert!(err.contains("--release takes 17.3 or 17.7"));
    let (code, _, _) = tally_sim(&["frobnicate"], "");
    assert_eq!(code, 2);
    let (code, out, _) = tally_sim(&["help"], "");
    assert_eq!(code, 0);
    assert!(out.contains("tally-sim demo"));
}

#[test]
fn sim_power_cut_loses_only_the_interrupted_input() {
    let dir = std::env::temp_dir().join(format!("tally-cut-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let script = "sim usage network-essentials 2\nsim power-cut\nsim usage network-essentials 5\nshow license summary\nsim usage network-essentials 6\n";
    let (code, out, _) = tally_sim(&["console", "--state", d], script);
    assert_eq!(code, 0);
    assert!(out.contains("% Error: usage: licensing storage I/O error\n% sim: power cut during a flash operation; the device reloads\n"), "{out}");
    assert!(
        out.contains("network-essentials     (C9200L-NW-E-48)               2 IN USE"),
        "the cut input is lost:\n{out}"
    );
    let (_, out, _) = tally_sim(&["console", "--state", d], "show license summary\n");
    assert!(
        out.contains("network-essentials     (C9200L-NW-E-48)               6 IN USE"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_dash_nine_is_a_power_cut() {
    // The flash image is written through on every flash operation: killing the simulator at
    // any moment leaves a device that mounts, with one of the counts it was given.
    let dir = std::env::temp_dir().join(format!("tally-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let mut script = String::new();
    for i in 0..400 {
        script.push_str(&format!(
            "sim usage network-essentials {}\nsim clock advance 7m\n",
            1 + i % 9
        ));
    }
    for round in 0..6u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tally-sim"))
            .args(["console", "--state", d])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(script.as_bytes());
            script
        });
        std::thread::sleep(std::time::Duration::from_millis(20 + 37 * round));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        script = writer.join().unwrap();
        let (code, out, err) = tally_sim(
            &["console", "--state", d],
            "show license summary\nsim flash\n",
        );
        assert_eq!(code, 0, "round {round}: {err}");
        assert!(
            !out.lines().any(|l| l.starts_with("% ")),
            "round {round}: {out}"
        );
        let count = out
            .lines()
            .find(|l| l.starts_with("network-essentials"))
            .map(|l| l.split_whitespace().nth(2).unwrap().parse::<u32>().unwrap());
        assert!(
            count.is_none_or(|c| (1..=9).contains(&c)),
            "round {round}: {out}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn factory_provisioning_then_a_console_on_it() {
    // Issue 4: `tally-sim factory provision` writes the image and registers the device; the
    // console boots from it (factory trust code, factory SLAC); `inspect` shows the image as
    // JSON without the secret.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = tally_sim(
        &[
            "factory",
            "provision",
            "--udi",
            "PID:C9200L-48P-4X,SN:JAE24091ABC",
            "--state",
            d,
            "--seed",
            "cli test",
            "--slac",
            "hseck9",
            "--policy",
            "Factory",
            "ack",
            "no",
            "--out",
            &format!("{d}/image.txt"),
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Provisioned PID:C9200L-48P-4X,SN:JAE24091ABC: device key in the image, factory trust code, a factory policy, 1 authorization code(s); registered with the authority"), "{out}");
    let (code, out, _) = tally_sim(
        &["console", "--state", d],
        "sim usage hseck9 1\nshow license summary\nshow license status\nsim feature hseck9\n",
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("hseck9                 (DNA_HSEC)                     1 IN USE\n"),
        "{out}"
    );
    assert!(out.contains("  Policy name: Factory\n"), "{out}");
    assert!(out.contains("Trust Code Installed:\n  Active: PID:C9200L-48P-4X,SN:JAE24091ABC\n         INSTALLED on Jan 04 09:00:00 2026 UTC\n"), "{out}");
    assert!(out.contains("Feature hseck9: enabled\n"), "{out}");
    let (code, json, _) = tally_sim(&["inspect", &format!("{d}/image.txt")], "");
    assert_eq!(code, 0);
    assert!(json.contains("\"file\": \"TALLY PROVISIONING\""), "{json}");
    assert!(json.contains("\"device_secret\": \"present (not shown)\""));
    assert!(json.contains("\"origin\": \"Factory\""), "{json}");
    // A damaged image does not boot, and says why.
    let path = format!("{d}/devices/JAE24091ABC.prov");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replacen("A", "B", 3);
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = tally_sim(&["console", "--state", d], "");
    assert_ne!(code, 0);
    assert!(err.contains("JAE24091ABC.prov"), "{err}");
}
