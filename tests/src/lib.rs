//! Shared helpers for the cross-crate tests: device profiles of the seed samples and a small
//! driver around the simulator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tally_core::agent::Release;
use tally_hal::mock::MockPlatform;
use tally_hal::{Enforcement, HaMember, HaRole, LicenseDef, Term, Timestamp, Udi};
use tally_host_sim::profiles::Profile;
use tally_host_sim::sim::parse_utc;
use tally_host_sim::{SimOptions, Simulator};

/// A license as the SLP samples show it: description = feature name.
pub fn lic(name: &'static str, tag: &'static str, term: Term) -> LicenseDef {
    let regid = format!("regid.2017-08.com.cisco.{tag},1.0_00000000-0000-0000-0000-000000000000");
    LicenseDef::new(name, tag, leak(regid), name, Enforcement::Unenforced, term).unwrap()
}

/// A license that needs an authorization code (ENF-3, ENF-4).
pub fn gated(name: &'static str, tag: &'static str, enforcement: Enforcement) -> LicenseDef {
    let regid = format!("regid.2019-03.com.cisco.{tag},1.0_00000000-0000-0000-0000-000000000000");
    LicenseDef::new(name, tag, leak(regid), name, enforcement, Term::Perpetual).unwrap()
}

/// A catalogue string made at run time: catalogues are product data with `'static` strings
/// (in flash on a device); a test builds a few, so leaking them is bounded.
pub fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Connect directly to the authority and establish trust for every member (TRUST-3).
pub fn direct(sim: &mut Simulator) -> String {
    let mut out = sim.line("license smart transport smart");
    out += &sim.line("sim authority idtoken TALLY-TEST-TOKEN");
    out += &sim.line("license smart trust idtoken TALLY-TEST-TOKEN all");
    out
}

/// Every console line run, output concatenated, without failing on errors.
pub fn lines(sim: &mut Simulator, lines: &[&str]) -> String {
    lines.iter().map(|l| sim.line(l)).collect()
}

/// The messages with mnemonic suffix `m` in console output.
pub fn messages(out: &str, m: &str) -> Vec<String> {
    syslog(out)
        .into_iter()
        .filter(|(_, mm, _)| mm.ends_with(m))
        .map(|(_, _, text)| text)
        .collect()
}

pub fn udi(pid: &str, sn: &str) -> Udi {
    Udi::new(pid, sn).unwrap()
}

/// A profile with an active UDI, optional standby, licenses, and the partner flag.
pub fn profile(
    active: Udi,
    standby: Option<Udi>,
    licenses: Vec<LicenseDef>,
    partner: bool,
) -> Profile {
    let members = match standby {
        Some(s) => vec![
            HaMember {
                role: HaRole::Active,
                udi: active.clone(),
            },
            HaMember {
                role: HaRole::Standby,
                udi: s,
            },
        ],
        None => Vec::new(),
    };
    Profile {
        platform: MockPlatform {
            udi: active,
            members,
            licenses,
            partner,
            features: Default::default(),
        },
    }
}

/// `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc(s: &str) -> Timestamp {
    let (d, t) = s.split_once(' ').unwrap();
    parse_utc(d, t).unwrap()
}

pub fn sim(profile: Profile, release: Release, start: &str) -> Simulator {
    Simulator::new(SimOptions {
        state_dir: None,
        release,
        start: utc(start),
        profile: Some(profile),
        provision: None,
        device: Default::default(),
    })
    .unwrap()
}

/// Run console lines; panic on any `%` error line; return the output of the last one.
pub fn run(sim: &mut Simulator, lines: &[&str]) -> String {
    let mut last = String::new();
    for l in lines {
        last = sim.line(l);
        assert!(
            !last.lines().any(|x| x.starts_with("% ")),
            "command {l:?} failed:\n{last}"
        );
    }
    last
}

/// Parse a show-output time `Nov 02 09:09:47 2020 UTC` (UTC only).
pub fn show_time(s: &str) -> Timestamp {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let f: Vec<&str> = s.split_whitespace().collect();
    assert_eq!(f.len(), 5, "not a show time: {s:?}");
    assert_eq!(f[4], "UTC", "only UTC times are parsed: {s:?}");
    let m = months.iter().position(|x| *x == f[0]).unwrap() + 1;
    utc(&format!("{}-{:02}-{} {}", f[3], m, f[1], f[2]))
}

/// The value of a `label:` line in show output (first match), trimmed.
pub fn field(out: &str, label: &str) -> String {
    let prefix = format!("{label}:");
    out.lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"))
        .trim()
        .to_string()
}

/// A field holding a time or `<none>`.
pub fn time_field(out: &str, label: &str) -> Option<Timestamp> {
    let v = field(out, label);
    if v == "<none>" {
        None
    } else {
        Some(show_time(&v))
    }
}

/// Syslog lines printed in console output: (time, mnemonic, full message).
pub fn syslog(out: &str) -> Vec<(Timestamp, String, String)> {
    out.lines()
        .filter_map(|l| {
            let (t, m) = l.split_once(": %")?;
            let mnemonic = m.split(':').next()?.to_string();
            Some((show_time(t), mnemonic, format!("%{m}")))
        })
        .collect()
}

pub const DAY: u64 = 86_400;
