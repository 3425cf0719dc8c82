//! System messages (digest §11.2), verbatim, and the licensing event log (EVT-1..4).

use crate::agent::AgentError;
use crate::config::Transport;
use crate::limits::Limits;
use crate::policy::POLICY_NAME_LEN;
use crate::time::{LogTime, TimeZone};
use core::fmt::{self, Write};
use heapless::{Deque, String};
use serde::{Deserialize, Serialize};
use tally_hal::{Severity, Timestamp};

/// Capacity of one formatted syslog line.
pub const MESSAGE_LEN: usize = 256;

/// A system message the agent emits, with its seed text (MSG-1..12). The seed's severities are
/// kept as given, `-3-` on `COMM_RESTORED` and `POLICY_REMOVED` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// MSG-1; the detail says why.
    PolicyInstallFailed(Why<'a>),
    /// MSG-3: every failed attempt; (peer, error detail).
    CommFailed(Transport, &'a str),
    /// MSG-4.
    CommRestored(Transport),
    /// MSG-5.
    PolicyRemoved,
    /// MSG-8.
    PolicyInstallSuccess,
    /// MSG-11: days until the ACK deadline.
    ReportingRequired(u64),
    /// MSG-6: (UDI, error).
    TrustInstallFailed(&'a tally_hal::Udi, Why<'a>),
    /// MSG-12.
    TrustInstallSuccess(&'a tally_hal::Udi),
    /// MSG-2: (UDI, error).
    AuthInstallFailed(&'a tally_hal::Udi, Why<'a>),
    /// MSG-9.
    AuthInstallSuccess(&'a tally_hal::Udi),
    /// MSG-10.
    AuthRemoved(&'a tally_hal::Udi),
}

/// Why an install failed, as the message shows it: kept as data until the line is written,
/// so no intermediate text buffer (and no cut at its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why<'a> {
    Text(&'a str),
    /// An import or answer refused: the error's text.
    Error(AgentError),
    /// The link failed: `Communications failure: <detail>`.
    CommFailure(&'a str),
}

impl<'a> From<&'a str> for Why<'a> {
    fn from(text: &'a str) -> Self {
        Why::Text(text)
    }
}

impl Why<'_> {
    fn write_text(&self, w: &mut dyn Text) {
        match self {
            Why::Text(t) => w.put(t),
            Why::Error(e) => e.write_text(w),
            Why::CommFailure(detail) => {
                w.put("Communications failure: ");
                w.put(detail);
            }
        }
    }
}

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(f, |w| self.write_text(w))
    }
}

/// Where the pieces of a line go: the device writes its syslog lines without `core::fmt`
/// (its formatting machinery and `Display` impls were 4 KB of the core's flash), into a
/// bounded line ([`Message::to_line`]) or, on a host, a `Formatter` ([`display`]).
pub trait Text {
    fn put(&mut self, text: &str);
}

/// `n` in decimal.
pub fn put_decimal(w: &mut dyn Text, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        let (q, r) = crate::arith::div_rem_u16(n, 10);
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + r as u8;
        }
        n = q;
        if n == 0 || at == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8.
    if let Some(Ok(text)) = digits.get(at..).map(core::str::from_utf8) {
        w.put(text);
    }
}

fn put_udi(w: &mut dyn Text, udi: &tally_hal::Udi) {
    w.put("PID:");
    w.put(&udi.pid);
    w.put(",SN:");
    w.put(&udi.sn);
}

/// A `Display` impl from a [`Text`] writer: one text for the device and for hosts.
pub fn display(f: &mut fmt::Formatter<'_>, write: impl FnOnce(&mut dyn Text)) -> fmt::Result {
    struct Out<'a, 'b>(&'a mut fmt::Formatter<'b>, fmt::Result);
    impl Text for Out<'_, '_> {
        fn put(&mut self, text: &str) {
            if self.1.is_ok() {
                self.1 = self.0.write_str(text);
            }
        }
    }
    let mut out = Out(f, Ok(()));
    write(&mut out);
    out.1
}

impl Message<'_> {
    pub fn severity(&self) -> Severity {
        match self {
            Message::PolicyInstallFailed(_)
            | Message::CommFailed(..)
            | Message::CommRestored(_)
            | Message::PolicyRemoved
            | Message::TrustInstallFailed(..)
            | Message::AuthInstallFailed(..) => Severity::Error,
            Message::PolicyInstallSuccess
            | Message::ReportingRequired(_)
            | Message::TrustInstallSuccess(_)
            | Message::AuthInstallSuccess(_)
            | Message::AuthRemoved(_) => Severity::Informational,
        }
    }

    /// The message as one bounded line. A line longer than the bound is cut at a character
    /// boundary (never dropped, never a panic); the seed texts are far shorter.
    pub fn to_line(&self) -> String<MESSAGE_LEN> {
        let mut s = Cut(String::new());
        self.write_text(&mut s);
        s.0
    }

    /// The message's text, piece by piece.
    pub fn write_text(&self, w: &mut dyn Text) {
        // The facility and the severity level, once for every message.
        w.put(match self.severity() {
            Severity::Error => "%SMART_LIC-3-",
            _ => "%SMART_LIC-6-",
        });
        let (head, udi, why, tail): (&str, Option<&tally_hal::Udi>, Option<&Why<'_>>, &str) =
            match self {
                Message::PolicyInstallFailed(why) => (
                    "POLICY_INSTALL_FAILED: The installation of a new licensing policy has failed: ",
                    None,
                    Some(why),
                    ".",
                ),
                Message::CommFailed(t, why) => {
                    w.put("COMM_FAILED: Communications failure with the ");
                    w.put(t.peer_name());
                    w.put(" : ");
                    w.put(why);
                    return;
                }
                Message::CommRestored(t) => {
                    w.put("COMM_RESTORED: Communications with the ");
                    w.put(t.peer_name());
                    w.put(" restored.");
                    return;
                }
                Message::PolicyRemoved => (
                    "POLICY_REMOVED: The licensing policy has been removed.",
                    None,
                    None,
                    "",
                ),
                Message::PolicyInstallSuccess => (
                    "POLICY_INSTALL_SUCCESS: A new licensing policy was successfully installed.",
                    None,
                    None,
                    "",
                ),
                Message::ReportingRequired(days) => {
                    w.put(
                        "REPORTING_REQUIRED: A Usage report acknowledgement will be required in ",
                    );
                    put_decimal(w, *days);
                    w.put(" days.");
                    return;
                }
                Message::TrustInstallFailed(udi, why) => (
                    "TRUST_CODE_INSTALL_FAILED: The install of a new licensing trust code has failed on ",
                    Some(*udi),
                    Some(why),
                    ".",
                ),
                Message::TrustInstallSuccess(udi) => (
                    "TRUST_CODE_INSTALL_SUCCESS: A new licensing trust code was successfully installed on ",
                    Some(*udi),
                    None,
                    ".",
                ),
                Message::AuthInstallFailed(udi, why) => (
                    "AUTHORIZATION_INSTALL_FAILED: The install of a new licensing authorization code has failed on ",
                    Some(*udi),
                    Some(why),
                    ".",
                ),
                Message::AuthInstallSuccess(udi) => (
                    "AUTHORIZATION_INSTALL_SUCCESS: A new licensing authorization code was successfully installed on: ",
                    Some(*udi),
                    None,
                    ".",
                ),
                Message::AuthRemoved(udi) => (
                    "AUTHORIZATION_REMOVED: A licensing authorization code has been removed from ",
                    Some(*udi),
                    None,
                    "",
                ),
            };
        w.put(head);
        if let Some(udi) = udi {
            put_udi(w, udi);
            if why.is_some() {
                w.put(": ");
            }
        }
        if let Some(why) = why {
            why.write_text(w);
        }
        w.put(tail);
    }
}

/// A bounded string that keeps what fits of every write.
struct Cut(String<MESSAGE_LEN>);

impl Text for Cut {
    fn put(&mut self, text: &str) {
        // The longest prefix that fits and ends on a character boundary: what pushing one
        // character at a time until one does not fit keeps, in one copy.
        let mut end = text.len().min(MESSAGE_LEN - self.0.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(fits) = text.get(..end) {
            let _ = self.0.push_str(fits);
        }
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(f, |w| self.write_text(w))
    }
}

/// What happened, for the event log (EVT-2). Recorded by the fold, so the log is exactly what
/// the journal says happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    UsageChanged {
        lic: u8,
        count: u32,
    },
    ReportsClosed {
        reload: bool,
    },
    UsagePushed {
        reports: u16,
        transaction: u64,
    },
    UsageSaved {
        reports: u16,
    },
    AckReceived {
        reports: u16,
    },
    PolicyInstalled {
        name: String<POLICY_NAME_LEN>,
    },
    PolicyRemoved,
    CommFailed,
    CommRestored,
    ReportingRequired {
        days: u64,
    },
    TransportChanged(Transport),
    ReportsPurged {
        count: u16,
    },
    /// TRUST-13 (slot of `Identity::slots`).
    TrustInstalled {
        slot: u8,
    },
    /// AUTH-8.
    AuthRequested {
        lic: u8,
    },
    AuthInstalled {
        slot: u8,
    },
    AuthRemoved {
        slot: u8,
    },
    /// MISC-4.
    FactoryReset,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    pub kind: EventKind,
}

/// Bounded, rotating event log (EVT-3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLog {
    pub entries: Deque<Event, { Limits::EVENTS }>,
}

impl EventLog {
    pub fn push(&mut self, at: Timestamp, kind: EventKind) {
        if self.entries.is_full() {
            self.entries.pop_front();
        }
        let _ = self.entries.push_back(Event { at, kind });
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// One event log line (GAP-28 design, ADR 0005): `<date> <time> <tz> SAEVT_<NAME> <details>`.
pub fn write_event<'n>(
    w: &mut dyn Write,
    e: &Event,
    tz: &TimeZone,
    license_name: &dyn Fn(u8) -> &'n str,
    udi: &dyn Fn(u8) -> Option<&'n tally_hal::Udi>,
) -> fmt::Result {
    let udi_of = |slot: u8| -> &dyn fmt::Display {
        match udi(slot) {
            Some(u) => u,
            None => &"?",
        }
    };
    write!(w, "{} ", LogTime(e.at, tz))?;
    match &e.kind {
        EventKind::UsageChanged { lic, count } => {
            write!(
                w,
                "SAEVT_TAG_USAGE_CHANGED feature=\"{}\" count={count}",
                license_name(*lic)
            )
        }
        EventKind::ReportsClosed { reload } => {
            write!(
                w,
                "SAEVT_RUM_REPORTS_CLOSED reason={}",
                if *reload { "RELOAD" } else { "NONE" }
            )
        }
        EventKind::UsagePushed {
            reports,
            transaction,
        } => {
            write!(
                w,
                "SAEVT_REPORTING_SENT reports={reports} transaction={transaction}"
            )
        }
        EventKind::UsageSaved { reports } => {
            write!(w, "SAEVT_REPORTING_FILE_WRITE reports={reports}")
        }
        EventKind::AckReceived { reports } => write!(w, "SAEVT_ACK_RECEIVED reports={reports}"),
        EventKind::PolicyInstalled { name } => write!(w, "SAEVT_POLICY_INSTALLED name=\"{name}\""),
        EventKind::PolicyRemoved => w.write_str("SAEVT_POLICY_REMOVED"),
        EventKind::CommFailed => w.write_str("SAEVT_COMM_FAILED"),
        EventKind::CommRestored => w.write_str("SAEVT_COMM_RESTORED"),
        EventKind::ReportingRequired { days } => write!(w, "SAEVT_REPORTING_REQUIRED days={days}"),
        EventKind::TransportChanged(t) => write!(
            w,
            "SAEVT_CONFIG_TRANSPORT type={}",
            match t {
                Transport::Cslu => "cslu",
                Transport::Smart => "smart",
                Transport::Callhome => "callhome",
                Transport::Off => "off",
            }
        ),
        EventKind::ReportsPurged { count } => {
            write!(w, "SAEVT_RUM_PURGED reports={count} reason=LIMIT_STORAGE")
        }
        EventKind::TrustInstalled { slot } => {
            write!(w, "SAEVT_TRUST_CODE_INSTALLED udi={}", udi_of(*slot))
        }
        EventKind::AuthRequested { lic } => write!(
            w,
            "SAEVT_AUTH_CODE_REQUESTED feature=\"{}\"",
            license_name(*lic)
        ),
        EventKind::AuthInstalled { slot } => {
            write!(w, "SAEVT_AUTH_CODE_INSTALLED udi={}", udi_of(*slot))
        }
        EventKind::AuthRemoved { slot } => {
            write!(w, "SAEVT_AUTH_CODE_REMOVED udi={}", udi_of(*slot))
        }
        EventKind::FactoryReset => w.write_str("SAEVT_FACTORY_RESET"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::EnvelopeError;
    use crate::wire::Kind;
    use std::string::ToString;

    struct Plain(std::string::String);
    impl Text for Plain {
        fn put(&mut self, text: &str) {
            self.0.push_str(text);
        }
    }

    #[test]
    fn a_line_keeps_what_fits_and_cuts_on_a_character_boundary() {
        // What pushing a character at a time keeps, each piece until one does not fit (a
        // later, shorter piece may still fit).
        fn reference(parts: &[&str]) -> std::string::String {
            let mut s = std::string::String::new();
            for p in parts {
                for c in p.chars() {
                    if s.len() + c.len_utf8() > MESSAGE_LEN {
                        break;
                    }
                    s.push(c);
                }
            }
            s
        }
        for pad in 0..8 {
            for tail in ["é", "€", "𝄞", "a"] {
                let head = "x".repeat(MESSAGE_LEN - 4 + pad);
                let parts = [
                    &head[..MESSAGE_LEN / 2],
                    &head[MESSAGE_LEN / 2..],
                    tail,
                    "z",
                ];
                let mut cut = Cut(String::new());
                for p in parts {
                    cut.put(p);
                }
                assert_eq!(cut.0.as_str(), reference(&parts), "{pad} {tail}");
            }
        }
        let mut cut = Cut(String::new());
        cut.put(&"€".repeat(200));
        assert_eq!(cut.0.len(), MESSAGE_LEN / 3 * 3);
    }

    #[test]
    fn decimals_are_written_without_fmt() {
        for n in [0, 7, 10, 99, 365, 1_000_000, u64::from(u32::MAX), u64::MAX] {
            let mut p = Plain(std::string::String::new());
            put_decimal(&mut p, n);
            assert_eq!(p.0, n.to_string());
        }
    }

    #[test]
    fn every_message_reads_the_same_as_a_line_and_through_display() {
        // MSG-1..12: `to_line` (the device, no core::fmt) and `Display` (hosts) are one text.
        let udi = tally_hal::Udi::new("C9300-24T", "FOC2226Z0QZ").unwrap();
        let whys = [
            Why::Text("a reason"),
            Why::CommFailure("connection refused"),
            Why::Error(AgentError::Stale),
            Why::Error(AgentError::Envelope(EnvelopeError::Version(9))),
            Why::Error(AgentError::Envelope(EnvelopeError::UnknownKind(200))),
            Why::Error(AgentError::Envelope(EnvelopeError::WrongKind(
                Kind::UsageReport,
            ))),
            Why::Error(AgentError::File(tally_hal::FileError::NotFound)),
            Why::Error(AgentError::Journal(crate::journal::JournalError::Full)),
        ];
        let mut all = std::vec![
            Message::CommFailed(Transport::Cslu, "timeout"),
            Message::CommRestored(Transport::Smart),
            Message::PolicyRemoved,
            Message::PolicyInstallSuccess,
            Message::ReportingRequired(0),
            Message::ReportingRequired(u64::MAX),
            Message::TrustInstallSuccess(&udi),
            Message::AuthInstallSuccess(&udi),
            Message::AuthRemoved(&udi),
        ];
        for why in whys {
            all.push(Message::PolicyInstallFailed(why));
            all.push(Message::TrustInstallFailed(&udi, why));
            all.push(Message::AuthInstallFailed(&udi, why));
        }
        for m in all {
            assert_eq!(m.to_line().as_str(), m.to_string(), "{m:?}");
        }
        assert_eq!(
            Message::AuthInstallFailed(
                &udi,
                Why::Error(AgentError::Envelope(EnvelopeError::Version(9)))
            )
            .to_line()
            .as_str(),
            "%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED: The install of a new licensing \
             authorization code has failed on PID:C9300-24T,SN:FOC2226Z0QZ: unsupported format \
             version 9."
        );
    }

    #[test]
    fn messages_are_verbatim() {
        // The facility and level are written once for all messages: each policy line whole.
        assert_eq!(
            Message::PolicyRemoved.to_line().as_str(),
            "%SMART_LIC-3-POLICY_REMOVED: The licensing policy has been removed."
        );
        assert_eq!(
            Message::PolicyInstallSuccess.to_line().as_str(),
            "%SMART_LIC-6-POLICY_INSTALL_SUCCESS: A new licensing policy was successfully installed."
        );
        assert_eq!(
            Message::ReportingRequired(30).to_line().as_str(),
            "%SMART_LIC-6-REPORTING_REQUIRED: A Usage report acknowledgement will be required in 30 days."
        );
        assert_eq!(
            Message::CommRestored(Transport::Smart).to_line().as_str(),
            "%SMART_LIC-3-COMM_RESTORED: Communications with the Cisco Smart Software Manager (CSSM) restored."
        );
        assert_eq!(
            Message::CommFailed(Transport::Smart, "unreachable")
                .to_line()
                .as_str(),
            "%SMART_LIC-3-COMM_FAILED: Communications failure with the Cisco Smart Software Manager (CSSM) : unreachable"
        );
        assert_eq!(Message::PolicyRemoved.severity(), Severity::Error);
        // MSG-2, MSG-6, MSG-9, MSG-10, MSG-12 [003:5910, 6141, 6207, 6217, 6258]
        let udi = tally_hal::Udi::new("C9800-CL-K9", "93BBAH93MGS").unwrap();
        assert_eq!(
            Message::TrustInstallSuccess(&udi).to_line().as_str(),
            "%SMART_LIC-6-TRUST_CODE_INSTALL_SUCCESS: A new licensing trust code was successfully installed on PID:C9800-CL-K9,SN:93BBAH93MGS."
        );
        assert_eq!(
            Message::TrustInstallFailed(&udi, "why".into())
                .to_line()
                .as_str(),
            "%SMART_LIC-3-TRUST_CODE_INSTALL_FAILED: The install of a new licensing trust code has failed on PID:C9800-CL-K9,SN:93BBAH93MGS: why."
        );
        assert_eq!(
            Message::AuthInstallSuccess(&udi).to_line().as_str(),
            "%SMART_LIC-6-AUTHORIZATION_INSTALL_SUCCESS: A new licensing authorization code was successfully installed on: PID:C9800-CL-K9,SN:93BBAH93MGS."
        );
        assert_eq!(
            Message::AuthInstallFailed(&udi, "why".into())
                .to_line()
                .as_str(),
            "%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED: The install of a new licensing authorization code has failed on PID:C9800-CL-K9,SN:93BBAH93MGS: why."
        );
        assert_eq!(
            Message::AuthRemoved(&udi).to_line().as_str(),
            "%SMART_LIC-6-AUTHORIZATION_REMOVED: A licensing authorization code has been removed from PID:C9800-CL-K9,SN:93BBAH93MGS"
        );
        assert_eq!(
            Message::TrustInstallFailed(&udi, "x".into()).severity(),
            Severity::Error
        );
        // Too long for the bound: cut, not dropped.
        let long = "x".repeat(400);
        let line = Message::TrustInstallFailed(&udi, long.as_str().into()).to_line();
        assert_eq!(line.len(), MESSAGE_LEN);
        assert!(line.ends_with("xxx"));
    }

    #[test]
    fn event_log_rotates() {
        let mut log = EventLog::default();
        for i in 0..(Limits::EVENTS as u64 + 5) {
            log.push(Timestamp(i), EventKind::CommFailed);
        }
        assert_eq!(log.entries.len(), Limits::EVENTS);
        assert_eq!(log.entries.front().unwrap().at, Timestamp(5));
    }
}
