//! `show license …` output, line for line as IOS-XE prints it (digest §10.3).
//!
//! Field labels, value strings, indentation and blank lines follow the seed samples; where
//! samples disagree the choice is recorded in `docs/decisions/0003-show-output-formats.md`.
//! Renderers write to any `core::fmt::Write`, so the firmware can stream them to a UART.

use crate::agent::{Agent, LicenseStatus, Release};
use crate::config::Transport;
use crate::journal::Journal;
use crate::limits::Limits;
use crate::messages::write_event;
use crate::outbound::AGENT_VERSION;
use crate::policy::{Category, Source};
use crate::rum::{ChangeReason, Flag, ReportState, StorageState};
use crate::state::TOMBSTONES;
use crate::time::{ShowOpt, ShowTime, TimeZone};
use crate::wire::AuthKind;
use core::fmt::{Result, Write};
use heapless::Vec;
use tally_hal::{Enforcement, LicenseDef, Term, Timestamp};

const RULE: &str = "=====";

fn enabled(on: bool) -> &'static str {
    if on { "ENABLED" } else { "DISABLED" }
}

fn tz<J: Journal>(a: &Agent<J>) -> &TimeZone {
    &a.state().config.timezone
}

/// `show license status` (SHOW-STATUS).
pub fn show_status<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    w.write_str("Utility:\n  Status: DISABLED\n\n")?;
    w.write_str("Smart Licensing Using Policy:\n  Status: ENABLED\n\n")?;
    account(w, a)?;
    privacy(w, a)?;
    transport(w, a)?;
    policy(w, a)?;
    misc(w)?;
    usage_reporting(w, a)?;
    trust(w, a)
}

/// `Account Information:` (ACK-2): from 17.7.1 on, `<none>` until an ACK says otherwise.
fn account<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    if a.identity().release == Release::V17_3 {
        return Ok(());
    }
    match &a.state().account {
        Some(acct) => write!(
            w,
            "Account Information:\n  Smart Account: {}\n  Virtual Account: {}\n\n",
            acct.smart_account, acct.virtual_account
        ),
        None => w.write_str(
            "Account Information:\n  Smart Account: <none>\n  Virtual Account: <none>\n\n",
        ),
    }
}

fn privacy<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let p = a.state().config.privacy;
    write!(
        w,
        "Data Privacy:\n  Sending Hostname: {}\n  Callhome hostname privacy: {}\n  Smart Licensing hostname privacy: {}\n  Version privacy: {}\n\n",
        if p.smart_hostname { "no" } else { "yes" },
        enabled(p.callhome_hostname),
        enabled(p.smart_hostname),
        enabled(p.version)
    )
}

fn transport<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let c = &a.state().config;
    let vrf = a.identity().release == Release::V17_7;
    match c.transport {
        Transport::Smart => {
            write!(
                w,
                "Transport:\n  Type: Smart\n  URL: {}\n  Proxy:\n    Not Configured\n",
                c.smart_url
            )?;
            if vrf {
                w.write_str("  VRF:\n    Not Configured\n")?;
            }
        }
        Transport::Cslu => {
            match &c.cslu_url {
                Some(u) => write!(w, "Transport:\n  Type: cslu\n  Cslu address: {u}\n")?,
                None => w.write_str("Transport:\n  Type: cslu\n  Cslu address: <empty>\n")?,
            }
            w.write_str("  Proxy:\n    Not Configured\n")?;
            if vrf {
                w.write_str("  VRF:\n    Not Configured\n")?;
            }
        }
        Transport::Callhome => w.write_str("Transport:\n  Type: Callhome\n")?,
        Transport::Off => w.write_str("Transport:\n  Type: Transport Off\n")?,
    }
    w.write_str("\n")
}

fn policy<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let p = a.policy();
    w.write_str("Policy:\n")?;
    match &a.state().policy {
        Some(installed) => write!(
            w,
            "  Policy in use: Installed On {}\n  Policy name: {}\n",
            ShowTime(installed.installed_at, tz(a)),
            installed.policy.name
        )?,
        None => w.write_str("  Policy in use: Merged from multiple sources.\n")?,
    }
    let (ack, src) = p.ack_required;
    writeln!(
        w,
        "  Reporting ACK required: {} {}",
        if ack { "yes" } else { "no" },
        src.label()
    )?;
    for c in Category::ALL {
        let cp = p.category(c);
        let line = |w: &mut dyn Write, label: &str, days: u16, src: Source| {
            writeln!(w, "    {label} (days): {days} {}", src.label())
        };
        writeln!(w, "  {}", c.label())?;
        line(
            w,
            "First report requirement",
            cp.first_report.days,
            cp.first_report.source,
        )?;
        line(
            w,
            "Reporting frequency",
            cp.frequency.days,
            cp.frequency.source,
        )?;
        line(
            w,
            "Report on change",
            cp.on_change.days,
            cp.on_change.source,
        )?;
    }
    w.write_str("\n")
}

fn misc(w: &mut dyn Write) -> Result {
    w.write_str("Miscellaneous:\n  Custom Id: <empty>\n\n")
}

fn usage_reporting<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let s = a.state();
    let sched = a.schedule();
    let tz = tz(a);
    writeln!(
        w,
        "Usage Reporting:\n  Last ACK received: {}",
        ShowOpt(s.last_ack, tz)
    )?;
    writeln!(
        w,
        "  Next ACK deadline: {}",
        ShowOpt(sched.ack_deadline, tz)
    )?;
    if sched.push_interval_days == 0 {
        w.write_str("  Reporting push interval: 0 (no reporting)\n")?;
    } else {
        writeln!(
            w,
            "  Reporting push interval: {} days",
            sched.push_interval_days
        )?;
    }
    writeln!(w, "  Next ACK push check: {}", ShowOpt(s.next_poll, tz))?;
    writeln!(w, "  Next report push: {}", ShowOpt(a.next_push(), tz))?;
    writeln!(w, "  Last report push: {}", ShowOpt(s.last_push, tz))?;
    writeln!(
        w,
        "  Last report file write: {}\n",
        ShowOpt(s.last_file_write, tz)
    )
}

/// `Trust Code Installed:` (TRUST-11): `<none>`, or one entry per UDI with the install time.
fn trust<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let slots = a.identity().slots().count();
    if (0..slots).all(|s| a.trust_of(s).is_none()) {
        return w.write_str("Trust Code Installed: <none>\n");
    }
    w.write_str("Trust Code Installed:\n")?;
    for (slot, (role, udi)) in a.identity().slots().enumerate() {
        writeln!(w, "  {}: {udi}", role.label())?;
        match a.trust_of(slot) {
            Some(e) => writeln!(
                w,
                "         INSTALLED on {}",
                ShowTime(e.installed_at, tz(a))
            )?,
            None => w.write_str("         <none>\n")?,
        }
    }
    Ok(())
}

/// Summary column `License`: names longer than 22 characters are cut to 20 + `...` (obs).
fn summary_name(w: &mut dyn Write, name: &str) -> Result {
    if name.chars().count() > 22 {
        let cut = name.char_indices().nth(20).map_or(name.len(), |(i, _)| i);
        write!(w, "{}...", name.get(..cut).unwrap_or(name))
    } else {
        write!(w, "{name:<22}")
    }
}

fn listed<J: Journal>(a: &Agent<J>) -> impl Iterator<Item = (usize, &LicenseDef)> {
    a.catalogue()
        .iter()
        .enumerate()
        .filter(|(i, _)| a.state().usage.get(*i).is_some_and(|u| u.listed))
}

/// `show license summary` (SHOW-SUMMARY).
pub fn show_summary<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    w.write_str("\n")?;
    account(w, a)?;
    w.write_str("License Usage:\n")?;
    w.write_str("License                Entitlement Tag                Count Status\n-----\n")?;
    for (i, def) in listed(a) {
        summary_name(w, def.name)?;
        let mut tag: heapless::String<40> = heapless::String::new();
        let _ = write!(tag, "({})", def.tag);
        let count = a.state().usage.get(i).map_or(0, |u| u.requested);
        writeln!(w, " {tag:<30} {count} {}", a.license_status(i).label())?;
    }
    Ok(())
}

fn export_status(def: &LicenseDef, status: LicenseStatus) -> (&'static str, &'static str) {
    let allowed = status != LicenseStatus::NotAuthorized;
    match def.enforcement {
        Enforcement::Unenforced => ("NOT RESTRICTED", "NOT ENFORCED"),
        Enforcement::Enforced => ("NOT RESTRICTED", "ENFORCED"),
        Enforcement::ExportControlled if allowed => {
            ("RESTRICTED - ALLOWED", "EXPORT RESTRICTED - ALLOWED")
        }
        Enforcement::ExportControlled => (
            "RESTRICTED - NOT ALLOWED",
            "EXPORT RESTRICTED - NOT ALLOWED",
        ),
    }
}

fn usage_blocks<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let mut first = true;
    for (i, def) in listed(a) {
        if !first {
            w.write_str("\n")?;
        }
        first = false;
        let status = a.license_status(i);
        let (export, enforcement) = export_status(def, status);
        let count = a.state().usage.get(i).map_or(0, |u| u.requested);
        write!(
            w,
            "{} ({}):\n  Description: {}\n  Count: {count}\n  Version: {}\n  Status: {}\n  Export status: {export}\n  Feature Name: {}\n  Feature Description: {}\n  Enforcement type: {enforcement}\n  License type: {}\n",
            def.name,
            def.tag,
            def.description,
            def.version,
            status.label(),
            def.name,
            def.description,
            match def.term {
                Term::Perpetual => "Perpetual",
                Term::Subscription => "Subscription",
            }
        )?;
    }
    if first {
        w.write_str("No licenses in use\n")?;
    }
    Ok(())
}

/// `show license usage` (SHOW-USAGE).
pub fn show_usage<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    w.write_str("\nLicense Authorization:\n  Status: Not Applicable\n\n")?;
    usage_blocks(w, a)
}

fn ha_list<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let members = &a.identity().members;
    if members.is_empty() {
        return Ok(());
    }
    w.write_str("HA UDI List:\n")?;
    for m in members.iter() {
        writeln!(w, "  {}:{}", m.role.label(), m.udi)?;
    }
    Ok(())
}

/// `show license udi` (SHOW-UDI).
pub fn show_udi<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    writeln!(w, "UDI: {}", a.identity().udi)?;
    ha_list(w, a)
}

/// `Status:` of one slot's authorization (SHOW-AUTH, SHOW-ALL): the code kind and install
/// time, or `NOT INSTALLED`.
fn auth_status<J: Journal>(w: &mut dyn Write, a: &Agent<J>, slot: usize) -> Result {
    match a.authorization_of(slot) {
        Some(code) => write!(
            w,
            "{} INSTALLED on {}",
            match code.kind {
                AuthKind::Slac => "SMART AUTHORIZATION",
                AuthKind::Slr => "SPECIFIC",
            },
            ShowTime(code.installed_at, tz(a))
        ),
        None => w.write_str("NOT INSTALLED"),
    }
}

/// The `Last Confirmation code:` / `Last return code:` line of a slot, if any (AUTH-3, AUTH-4).
fn auth_last_code<J: Journal>(
    w: &mut dyn Write,
    a: &Agent<J>,
    slot: usize,
    indent: usize,
) -> Result {
    let id = a.identity();
    match (a.authorization_of(slot), id.slot_udi(slot)) {
        (Some(code), Some(udi)) => writeln!(
            w,
            "{:indent$}Last Confirmation code: {:08x}",
            "",
            crate::agent::confirmation_code(udi, code.serial)
        ),
        _ => match a.state().last_return.get(slot).and_then(Option::as_ref) {
            Some(rc) => writeln!(w, "{:indent$}Last return code: {rc}", ""),
            None => Ok(()),
        },
    }
}

fn authorizations<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    w.write_str("Overall status:\n")?;
    for (slot, (role, udi)) in a.identity().slots().enumerate() {
        // `Status:` lines up under the UDI (SHOW-ALL sample).
        let width = 2 + role.label().len() + 2;
        write!(w, "  {}: {udi}\n{:width$}Status: ", role.label(), "")?;
        auth_status(w, a, slot)?;
        w.write_str("\n")?;
        auth_last_code(w, a, slot, width)?;
    }
    w.write_str("\nPurchased Licenses:\n  No Purchase Information Available\n")
}

/// `show license authorization` (SHOW-AUTH, AUTH-11).
pub fn show_authorization<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    let id = a.identity();
    w.write_str("Overall status:\n")?;
    for (slot, (role, udi)) in id.slots().enumerate() {
        write!(w, "  {}: {udi}\n    Status: ", role.label())?;
        auth_status(w, a, slot)?;
        w.write_str("\n")?;
        auth_last_code(w, a, slot, 4)?;
    }
    for kind in [AuthKind::Slr, AuthKind::Slac] {
        let mut header = false;
        for (lic, def) in a.catalogue().iter().enumerate() {
            let holders = (0..id.slots().count())
                .filter(|s| {
                    a.authorization_of(*s)
                        .is_some_and(|c| c.kind == kind && c.count_of(lic) > 0)
                })
                .count();
            if holders == 0 {
                continue;
            }
            if !header {
                w.write_str(match kind {
                    AuthKind::Slr => "\nSpecified license reservations:\n",
                    AuthKind::Slac => "\nAuthorizations:\n",
                })?;
                header = true;
            }
            let total: u32 = (0..id.slots().count())
                .filter_map(|s| a.authorization_of(s).filter(|c| c.kind == kind))
                .map(|c| c.count_of(lic))
                .sum();
            write!(
                w,
                "  {} ({}):\n    Description: {}\n    {}: {total}\n    Enforcement type: {}\n    Term information:\n",
                def.name,
                def.tag,
                def.description,
                match kind {
                    AuthKind::Slr => "Total reserved count",
                    AuthKind::Slac => "Total available count",
                },
                match def.enforcement {
                    Enforcement::Unenforced => "NOT ENFORCED",
                    Enforcement::Enforced => "ENFORCED",
                    Enforcement::ExportControlled => "EXPORT RESTRICTED",
                }
            )?;
            for (slot, (role, udi)) in id.slots().enumerate() {
                let Some(code) = a.authorization_of(slot).filter(|c| c.kind == kind) else {
                    continue;
                };
                let count = code.count_of(lic);
                if count == 0 {
                    continue;
                }
                write!(
                    w,
                    "      {}: {udi}\n        Authorization type: ",
                    role.label()
                )?;
                auth_status(w, a, slot)?;
                writeln!(
                    w,
                    "\n        License type: {}\n        Term Count: {count}",
                    match def.term {
                        Term::Perpetual => "PERPETUAL",
                        Term::Subscription => "TERM",
                    }
                )?;
            }
        }
    }
    w.write_str("\nPurchased Licenses:\n  No Purchase Information Available\n")
}

/// `show license all` (SHOW-ALL): the other show commands concatenated.
pub fn show_all<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    write!(
        w,
        "\nSmart Licensing Status\n{RULE}\n\nSmart Licensing is ENABLED\n\n"
    )?;
    w.write_str("Export Authorization Key:\n  Features Authorized:\n    <none>\n\n")?;
    w.write_str("Utility:\n  Status: DISABLED\n\n")?;
    w.write_str("Smart Licensing Using Policy:\n  Status: ENABLED\n\n")?;
    account(w, a)?;
    privacy(w, a)?;
    transport(w, a)?;
    misc(w)?;
    policy(w, a)?;
    usage_reporting(w, a)?;
    trust(w, a)?;
    write!(w, "\nLicense Usage\n{RULE}\n\n")?;
    usage_blocks(w, a)?;
    write!(
        w,
        "\nProduct Information\n{RULE}\nUDI: {}\n",
        a.identity().udi
    )?;
    if !a.identity().members.is_empty() {
        w.write_str("\n")?;
        ha_list(w, a)?;
    }
    write!(
        w,
        "\nAgent Version\n{RULE}\n\nSmart Agent for Licensing: {AGENT_VERSION}\n"
    )?;
    write!(w, "\nLicense Authorizations\n{RULE}\n")?;
    authorizations(w, a)?;
    if a.identity().release == Release::V17_7 {
        let s = a.state().summary();
        write!(
            w,
            "\nUsage Report Summary:\n{RULE}\nTotal: {}, Purged: {}\nTotal Acknowledged Received: {}, Waiting for Ack: {}\nAvailable to Report: {} Collecting Data: {}\n",
            s.total, s.purged, s.acked, s.waiting, s.available, s.collecting
        )?;
    }
    Ok(())
}

/// Which reports `show license rum` lists (SHOW-RUM).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RumFilter<'a> {
    Id(u64),
    Feature(&'a str),
    All,
}

/// Reports shown on screen at most (RUM-19).
pub const RUM_DISPLAY_MAX: usize = 200;

/// One line of `show license rum`: a report, or what is left of a purged one.
struct Row<'a> {
    id: u64,
    prev: u64,
    next: u64,
    state: ReportState,
    reason: ChangeReason,
    flag: Flag,
    storage: StorageState,
    start: Timestamp,
    end: Timestamp,
    transaction: u64,
    message: Option<&'static str>,
    def: &'a LicenseDef,
}

fn rum_rows<'a, J: Journal>(
    a: &'a Agent<J>,
    f: RumFilter<'_>,
) -> Vec<Row<'a>, { Limits::REPORTS + TOMBSTONES }> {
    let selected = |id: u64, d: &LicenseDef| match f {
        RumFilter::Id(want) => id == want,
        RumFilter::Feature(name) => d.name == name,
        RumFilter::All => true,
    };
    let mut rows: Vec<Row<'a>, { Limits::REPORTS + TOMBSTONES }> = Vec::new();
    for r in a.state().reports.iter() {
        let Some(def) = a.catalogue().get(usize::from(r.lic)) else {
            continue;
        };
        if selected(r.id, def) {
            let _ = rows.push(Row {
                id: r.id,
                prev: r.prev_id,
                next: r.next_id,
                state: a.report_state(r),
                reason: r.reason,
                flag: r.flag,
                storage: r.storage,
                start: r.start,
                end: r.end,
                transaction: r.transaction,
                message: r.tx_error.map(|e| e.label()),
                def,
            });
        }
    }
    // Purged reports (RUM-6 flag P, RUM-10 PURGED / LIMIT_STORAGE).
    for t in a.state().tombstones.iter() {
        let Some(def) = a.catalogue().get(usize::from(t.lic)) else {
            continue;
        };
        if selected(t.id, def) {
            let _ = rows.push(Row {
                id: t.id,
                prev: 0,
                next: 0,
                state: t.state,
                reason: ChangeReason::None,
                flag: Flag::P,
                storage: StorageState::Purged,
                start: t.start,
                end: t.end,
                transaction: 0,
                message: None,
                def,
            });
        }
    }
    crate::sort::sort_by_key(&mut rows, |r| r.id);
    rows
}

/// `show license rum { feature … | id … } [detail]` (SHOW-RUM, RUM-2..11).
pub fn show_rum<J: Journal>(
    w: &mut dyn Write,
    a: &Agent<J>,
    f: RumFilter<'_>,
    detail: bool,
) -> Result {
    let rows = rum_rows(a, f);
    let shown = rows.iter().take(RUM_DISPLAY_MAX);
    if !detail {
        write!(
            w,
            "\nSmart Licensing Usage Report:\n{RULE}\nReport Id,           State,    Flag,  Feature Name\n"
        )?;
        for r in shown {
            let mut id: heapless::String<20> = heapless::String::new();
            let _ = write!(id, "{}", r.id);
            writeln!(
                w,
                "{id:<20}{:<9}{:<7}{}",
                r.state.label(),
                r.flag.label(),
                r.def.name
            )?;
        }
        return Ok(());
    }
    write!(w, "\nSmart Licensing Usage Report Detail:\n{RULE}\n")?;
    let tz = tz(a);
    for (n, r) in shown.enumerate() {
        if n > 0 {
            w.write_str("\n")?;
        }
        write!(
            w,
            "Report Id: {}\nMetric Name: ENTITLEMENT\nFeature Name: {}\nMetric Value: {}\nUDI: {}\n",
            r.id,
            r.def.name,
            r.def.entitlement,
            a.identity().udi
        )?;
        writeln!(
            w,
            "Previous Report Id: {},    Next Report Id: {}",
            r.prev, r.next
        )?;
        writeln!(
            w,
            "State: {},          State Change Reason: {}",
            r.state.label(),
            r.reason.label()
        )?;
        writeln!(
            w,
            "Start Time: {},      End Time: {}",
            ShowTime(r.start, tz),
            ShowTime(r.end, tz)
        )?;
        writeln!(w, "Storage State: {}", r.storage.label())?;
        writeln!(w, "Transaction ID: {}", r.transaction)?;
        writeln!(w, "Transaction Message: {}", r.message.unwrap_or("<none>"))?;
    }
    Ok(())
}

/// `show license eventlog [days]` (SHOW-EVENTLOG; format designed, GAP-28).
pub fn show_eventlog<J: Journal>(
    w: &mut dyn Write,
    a: &Agent<J>,
    days: Option<u32>,
    now: Timestamp,
) -> Result {
    w.write_str("**** Event Log ****\n")?;
    let from = days.map(|d| {
        a.today_start(now)
            .sub_secs(u64::from(d) * tally_hal::SECS_PER_DAY)
    });
    let name = |lic: u8| a.catalogue().get(usize::from(lic)).map_or("?", |d| d.name);
    for e in a
        .state()
        .events
        .entries
        .iter()
        .filter(|e| from.is_none_or(|f| e.at >= f))
    {
        let udi = |slot: u8| a.identity().slot_udi(usize::from(slot));
        write_event(w, e, tz(a), &name, &udi)?;
        w.write_str("\n")?;
    }
    Ok(())
}

/// `show license history message` (EVT-4, XPORT-9): communication statistics per message type,
/// in the tech-support `Communication Statistics` format. Counted since boot.
pub fn show_history<J: Journal>(w: &mut dyn Write, a: &Agent<J>) -> Result {
    // Only a trust code from the authority allows direct communication (TRUST-2, TRUST-11).
    if a.direct_trust() {
        write!(
            w,
            "Communication Statistics:\n{RULE}\nCommunication Level Allowed: DIRECT\nOverall State: Sufficient trust for direct communication\n"
        )?;
    } else {
        write!(
            w,
            "Communication Statistics:\n{RULE}\nCommunication Level Allowed: INDIRECT\nOverall State: Insufficient trust for direct communication\n"
        )?;
    }
    let tz = tz(a);
    let none = crate::agent::CommStats::default();
    let s = a.statistics();
    let rows: [(&str, &crate::agent::CommStats); 9] = [
        ("Trust Establishment", &s.trust_establishment),
        ("Trust Acknowledgement", &none),
        ("Usage Reporting", &s.usage_reporting),
        ("Result Polling", &s.result_polling),
        ("Authorization Request", &s.authorization_request),
        ("Authorization Confirmation", &none),
        ("Authorization Return", &s.authorization_return),
        ("Trust Sync", &s.trust_sync),
        ("Hello Message", &none),
    ];
    for (name, c) in rows {
        writeln!(
            w,
            "{name}:\n  Attempts: Total={}, Success={}, Fail={} Ongoing Failure: Overall={} Communication={}",
            c.total, c.success, c.fail, c.ongoing_overall, c.ongoing_comm
        )?;
        writeln!(
            w,
            "  Last Response: {}",
            c.last_response.unwrap_or("<none>")
        )?;
        writeln!(
            w,
            "  Failure Reason: {}",
            c.failure_reason.unwrap_or("<none>")
        )?;
        writeln!(w, "  Last Success Time: {}", ShowOpt(c.last_success, tz))?;
        writeln!(w, "  Last Failure Time: {}", ShowOpt(c.last_failure, tz))?;
    }
    Ok(())
}
