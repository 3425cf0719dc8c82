//! The agent's state and the journal records it is folded from (event sourcing).
//!
//! Every accepted input becomes one or more [`Record`]s; [`State::apply`] folds a record into
//! the state and is the only place the state changes. `apply` is total and deterministic, so
//! replaying the journal after a reboot gives back exactly the state that was acknowledged.

use crate::config::{Config, ConfigChange};
use crate::limits::Limits;
use crate::messages::{Event, EventKind, EventLog};
use crate::policy::{CustomPolicy, InstalledPolicy};
use crate::rum::{
    ChangeReason, Flag, Report, ReportState, Selection, StorageReason, StorageState,
    TransactionError,
};
use crate::wire::{Account, AckStatus, AckedReport, AuthKind, RETURN_CODE_LEN, TrustOrigin};
use heapless::{Deque, String, Vec};
use serde::{Deserialize, Serialize};
use tally_hal::{Enforcement, LicenseDef, Timestamp};

// A full report table must always hold a report that is not OPEN, so room can be made.
const _: () = assert!(Limits::LICENSES < Limits::REPORTS);
const _: () = assert!(Limits::LICENSES <= u8::MAX as usize);
const _: () = assert!(Limits::HA_MEMBERS <= u8::MAX as usize);

/// Usage bookkeeping of one catalogue license.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Count the platform asks for (`Count:`).
    pub requested: u32,
    /// First time the license was consumed (POL-4: never consumed, nothing owed).
    pub first_use: Option<Timestamp>,
    /// End of the newest acknowledged report.
    pub acked_through: Option<Timestamp>,
    /// End of the newest sent or saved report (meets obligations when no ACK is required).
    pub sent_through: Option<Timestamp>,
    /// The OPEN report of this license.
    pub open: Option<u64>,
    /// ID of the newest report of this license, for chaining (RUM-4).
    pub last_id: u64,
    /// Shown in usage displays: the license has been requested at least once.
    pub listed: bool,
}

/// Persistent counters of the Usage Report Summary (RUM-20).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Reports ever generated.
    pub total: u64,
    /// Reports dropped for storage limits.
    pub purged: u64,
    /// Reports acknowledged on this device.
    pub acked: u64,
    /// Reports folded into their predecessor under storage pressure (DESIGN.md §2.5).
    pub merged: u64,
}

/// One journal record: a validated input with the (monotonic) time it was accepted at.
///
/// `A` is how an ACK record holds its data: owned ([`AckRecord`], 1.2 KB, the default: what a
/// host decodes) or lent ([`RecordRef`]: what is committed and applied). Every other variant
/// is at most 336 bytes, and a record sits in the frame of every commit and replay, so the
/// device never holds an owned one (ADR 0013). Both encode to the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // no heap to box into: the size is bounded and known
pub enum Record<A = AckRecord> {
    /// The platform changed the count of a license.
    Usage {
        t: Timestamp,
        lic: u8,
        count: u32,
    },
    /// A 15-minute measurement of every OPEN report (RUM-9).
    Measure {
        t: Timestamp,
    },
    /// Close every OPEN report (push, save, sync: reason NONE; boot: RELOAD) and open new
    /// ones for licenses in use (RUM-1, RUM-7).
    CloseAll {
        t: Timestamp,
        reload: bool,
    },
    /// CLOSED and UNACK reports were received by the authority (RUM-5: → UNACK).
    Pushed {
        t: Timestamp,
        transaction: u64,
        poll_at: Timestamp,
    },
    /// Reports were written to a usage file (RUM-18, FILE-4).
    Saved {
        t: Timestamp,
        selection: Selection,
    },
    /// A verified ACK was applied (ACK-6).
    Ack {
        t: Timestamp,
        ack: A,
    },
    /// The ACK poll of the last push completed without an ACK.
    PollDone {
        t: Timestamp,
    },
    /// A verified custom policy was installed (POL-14, POL-15).
    PolicyInstalled {
        t: Timestamp,
        policy: CustomPolicy,
        issued_at: Timestamp,
        /// Sequence number of the message that carried it (replay high-water mark).
        seq: u64,
    },
    /// The custom policy was removed; the Cisco default applies (POL-16).
    PolicyRemoved {
        t: Timestamp,
    },
    Config {
        t: Timestamp,
        change: ConfigChange,
    },
    /// First failed attempt of a scheduled communication (RUM-15).
    CommFailed {
        t: Timestamp,
    },
    /// First successful communication after failures (MSG-4).
    CommRestored {
        t: Timestamp,
    },
    /// `%SMART_LIC-6-REPORTING_REQUIRED` was raised (MSG-11).
    Alerted {
        t: Timestamp,
        days: u64,
    },
    /// `license smart clear eventlog` (CLI-E3).
    EventLogCleared {
        t: Timestamp,
    },
    /// Verified trust codes were installed, per HA slot (TRUST-3, TRUST-6, TRUST-13).
    /// `seq` and `issued_at` are the carrying message's.
    TrustInstalled {
        t: Timestamp,
        seq: u64,
        issued_at: Timestamp,
        codes: Vec<(u8, TrustEntry), { Limits::HA_MEMBERS }>,
    },
    /// An authorization code was requested (AUTH-8).
    AuthRequested {
        t: Timestamp,
        lic: u8,
    },
    /// Verified authorization codes were installed; each replaces its slot's code (AUTH-6).
    AuthInstalled {
        t: Timestamp,
        seq: u64,
        codes: Vec<(u8, AuthEntry), { Limits::HA_MEMBERS }>,
    },
    /// Authorization codes were returned (AUTH-3), or one license of a code given back
    /// (`export return`, AUTH-5).
    AuthRemoved {
        t: Timestamp,
        removed: Vec<Removal, { Limits::HA_MEMBERS }>,
    },
    /// `license smart factory reset` (MISC-4): everything but the licenses in use goes.
    FactoryReset {
        t: Timestamp,
    },
    /// The factory-provisioned policy and authorization codes were taken in (first boot).
    Provisioned {
        t: Timestamp,
        policy: Option<(CustomPolicy, Timestamp)>,
        codes: Vec<(u8, AuthEntry), { Limits::HA_MEMBERS }>,
    },
}

/// A record as committed and applied: an ACK's data lent.
pub type RecordRef<'a> = Record<&'a AckRecord>;

/// What a lent non-ACK record never points at.
const NO_ACK: &AckRecord = &AckRecord {
    issued_at: Timestamp(0),
    seq: 0,
    transaction: 0,
    reports: Vec::new(),
    account: None,
    policy: None,
    trust: Vec::new(),
    auth: Vec::new(),
};

impl Record {
    /// The record with its ACK data lent (hosts and tests that hold owned records).
    pub fn lend(&self) -> RecordRef<'_> {
        match self {
            Record::Ack { t, ack } => Record::Ack { t: *t, ack },
            // Not an ACK: the clone copies no ACK data, and `NO_ACK` is never used.
            other => other.clone().map_ack(|_| NO_ACK),
        }
    }
}

impl RecordRef<'_> {
    /// The record with its ACK data copied (hosts and tests that keep records).
    pub fn owned(&self) -> Record {
        self.clone().map_ack(AckRecord::clone)
    }
}

impl<A> Record<A> {
    /// The same record with its ACK data as `f` makes it; other variants move as they are.
    pub fn map_ack<B>(self, f: impl FnOnce(A) -> B) -> Record<B> {
        match self {
            Record::Usage { t, lic, count } => Record::Usage { t, lic, count },
            Record::Measure { t } => Record::Measure { t },
            Record::CloseAll { t, reload } => Record::CloseAll { t, reload },
            Record::Pushed {
                t,
                transaction,
                poll_at,
            } => Record::Pushed {
                t,
                transaction,
                poll_at,
            },
            Record::Saved { t, selection } => Record::Saved { t, selection },
            Record::Ack { t, ack } => Record::Ack { t, ack: f(ack) },
            Record::PollDone { t } => Record::PollDone { t },
            Record::PolicyInstalled {
                t,
                policy,
                issued_at,
                seq,
            } => Record::PolicyInstalled {
                t,
                policy,
                issued_at,
                seq,
            },
            Record::PolicyRemoved { t } => Record::PolicyRemoved { t },
            Record::Config { t, change } => Record::Config { t, change },
            Record::CommFailed { t } => Record::CommFailed { t },
            Record::CommRestored { t } => Record::CommRestored { t },
            Record::Alerted { t, days } => Record::Alerted { t, days },
            Record::EventLogCleared { t } => Record::EventLogCleared { t },
            Record::TrustInstalled {
                t,
                seq,
                issued_at,
                codes,
            } => Record::TrustInstalled {
                t,
                seq,
                issued_at,
                codes,
            },
            Record::AuthRequested { t, lic } => Record::AuthRequested { t, lic },
            Record::AuthInstalled { t, seq, codes } => Record::AuthInstalled { t, seq, codes },
            Record::AuthRemoved { t, removed } => Record::AuthRemoved { t, removed },
            Record::FactoryReset { t } => Record::FactoryReset { t },
            Record::Provisioned { t, policy, codes } => Record::Provisioned { t, policy, codes },
        }
    }

    pub fn time(&self) -> Timestamp {
        match self {
            Record::Usage { t, .. }
            | Record::Measure { t }
            | Record::CloseAll { t, .. }
            | Record::Pushed { t, .. }
            | Record::Saved { t, .. }
            | Record::Ack { t, .. }
            | Record::PollDone { t }
            | Record::PolicyInstalled { t, .. }
            | Record::PolicyRemoved { t }
            | Record::Config { t, .. }
            | Record::CommFailed { t }
            | Record::CommRestored { t }
            | Record::Alerted { t, .. }
            | Record::EventLogCleared { t }
            | Record::TrustInstalled { t, .. }
            | Record::AuthRequested { t, .. }
            | Record::AuthInstalled { t, .. }
            | Record::AuthRemoved { t, .. }
            | Record::FactoryReset { t }
            | Record::Provisioned { t, .. } => *t,
        }
    }
}

/// Everything the agent knows. Serializable so the journal can snapshot it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Indexed like the catalogue.
    pub usage: Vec<Usage, { Limits::LICENSES }>,
    /// In ID order.
    pub reports: Vec<Report, { Limits::REPORTS }>,
    pub counters: Counters,
    /// Last report ID handed out.
    pub last_id: u64,
    pub policy: Option<InstalledPolicy>,
    pub config: Config,
    pub account: Option<Account>,
    pub last_ack: Option<Timestamp>,
    /// Highest ACK sequence number applied.
    pub last_ack_seq: u64,
    pub last_push: Option<Timestamp>,
    pub last_file_write: Option<Timestamp>,
    /// When the device polls (or polled) for the ACK of the last push (POL-24).
    pub next_poll: Option<Timestamp>,
    /// Transaction whose ACK poll is still due.
    pub poll_pending: Option<u64>,
    /// Start of the current communication failure (RUM-15).
    pub comm_failing_since: Option<Timestamp>,
    pub last_alert: Option<Timestamp>,
    /// Time of the last 15-minute measurement.
    pub last_measure: Option<Timestamp>,
    /// Time high-water mark: no record is ever older (DESIGN.md §3).
    pub hwm: Timestamp,
    /// Last boot: a reload is a report trigger (HA-6).
    pub last_boot: Option<Timestamp>,
    pub events: EventLog,
    /// The newest purged reports (flag `P`, storage `PURGED`, reason `LIMIT_STORAGE`).
    pub tombstones: Deque<Tombstone, TOMBSTONES>,
    /// Trust codes installed by the agent, per HA slot (`Identity::slots`); a factory code lives
    /// in the identity and shows where a slot has none (TRUST-2, TRUST-11).
    pub trust: [Option<TrustEntry>; Limits::HA_MEMBERS],
    /// Authorization codes, per HA slot (AUTH-1).
    pub auth: [Option<AuthEntry>; Limits::HA_MEMBERS],
    /// `Last return code:` per slot (AUTH-3).
    pub last_return: [Option<String<RETURN_CODE_LEN>>; Limits::HA_MEMBERS],
    /// Highest sequence number of any applied authority message: older trust codes, policies
    /// and authorization codes are replays (DESIGN.md §3).
    pub seq_hwm: u64,
    /// Highest authorization-code serial ever installed: a returned code never comes back.
    pub auth_serial_hwm: u64,
    /// The factory-provisioned items were taken in once (first boot).
    pub provisioned: bool,
}

/// One returned authorization code (or license of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub slot: u8,
    /// Only this license goes (`export return`); `None` = the whole code.
    pub only: Option<u8>,
    pub return_code: Option<String<RETURN_CODE_LEN>>,
}

/// An ACK as journaled (ACK-6, TRUST-5, AUTH-6): what the agent accepted of the wire ACK, with
/// its trust and authorization codes resolved to HA slots and checked. Not the wire type: that
/// one has room for whole codes, and a record is on the stack of every commit and replay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRecord {
    pub issued_at: Timestamp,
    pub seq: u64,
    pub transaction: u64,
    pub reports: Vec<AckedReport, { Limits::ACK_REPORTS }>,
    pub account: Option<Account>,
    pub policy: Option<CustomPolicy>,
    pub trust: Vec<(u8, TrustEntry), { Limits::HA_MEMBERS }>,
    pub auth: Vec<(u8, AuthEntry), { Limits::HA_MEMBERS }>,
}

/// A trust code as the device keeps it: the authority holds the signed code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustEntry {
    pub origin: TrustOrigin,
    pub serial: u64,
    pub issued_at: Timestamp,
    pub installed_at: Timestamp,
}

/// An installed authorization code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthEntry {
    pub kind: AuthKind,
    pub serial: u64,
    pub issued_at: Timestamp,
    pub installed_at: Timestamp,
    /// (catalogue index, units) per authorized license.
    pub licenses: Vec<(u8, u16), { Limits::CODE_LICENSES }>,
}

impl AuthEntry {
    pub fn count_of(&self, lic: usize) -> u32 {
        self.licenses
            .iter()
            .find(|(l, _)| usize::from(*l) == lic)
            .map_or(0, |(_, c)| u32::from(*c))
    }
}

/// Tombstones kept for display; every purge is counted in `Purged` (RUM-13, DESIGN.md §2.5).
pub const TOMBSTONES: usize = 4;

/// What is left of a purged report: enough to list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: u64,
    pub lic: u8,
    pub state: ReportState,
    pub start: Timestamp,
    pub end: Timestamp,
    pub purged_at: Timestamp,
}

/// The scalar part of the state, one snapshot item (ADR 0009).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub counters: Counters,
    pub last_id: u64,
    pub policy: Option<InstalledPolicy>,
    pub config: Config,
    pub account: Option<Account>,
    pub last_ack: Option<Timestamp>,
    pub last_ack_seq: u64,
    pub last_push: Option<Timestamp>,
    pub last_file_write: Option<Timestamp>,
    pub next_poll: Option<Timestamp>,
    pub poll_pending: Option<u64>,
    pub comm_failing_since: Option<Timestamp>,
    pub last_alert: Option<Timestamp>,
    pub last_measure: Option<Timestamp>,
    pub hwm: Timestamp,
    pub last_boot: Option<Timestamp>,
    pub seq_hwm: u64,
    pub auth_serial_hwm: u64,
    pub provisioned: bool,
}

/// One piece of a snapshot. Each is small (the largest is a report, a few hundred bytes), so a
/// snapshot streams to flash without a state-sized buffer and fits sectors of 1 KiB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // no heap to box into; one part at a time is on the stack
pub enum SnapPart {
    Meta(Meta),
    Usage {
        lic: u8,
        usage: Usage,
    },
    Report(Report),
    Event(Event),
    Tombstone(Tombstone),
    Trust {
        slot: u8,
        entry: TrustEntry,
    },
    Auth {
        slot: u8,
        entry: AuthEntry,
    },
    Returned {
        slot: u8,
        code: String<RETURN_CODE_LEN>,
    },
}

/// [`Meta`] of a state, borrowed: serializes to the same bytes, field by field, in `Meta`'s
/// order (a test compares the two).
#[derive(Debug)]
pub struct MetaOf<'a>(&'a State);

impl Serialize for MetaOf<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let m = self.0;
        let mut st = s.serialize_struct("Meta", 19)?;
        st.serialize_field("counters", &m.counters)?;
        st.serialize_field("last_id", &m.last_id)?;
        st.serialize_field("policy", &m.policy)?;
        st.serialize_field("config", &m.config)?;
        st.serialize_field("account", &m.account)?;
        st.serialize_field("last_ack", &m.last_ack)?;
        st.serialize_field("last_ack_seq", &m.last_ack_seq)?;
        st.serialize_field("last_push", &m.last_push)?;
        st.serialize_field("last_file_write", &m.last_file_write)?;
        st.serialize_field("next_poll", &m.next_poll)?;
        st.serialize_field("poll_pending", &m.poll_pending)?;
        st.serialize_field("comm_failing_since", &m.comm_failing_since)?;
        st.serialize_field("last_alert", &m.last_alert)?;
        st.serialize_field("last_measure", &m.last_measure)?;
        st.serialize_field("hwm", &m.hwm)?;
        st.serialize_field("last_boot", &m.last_boot)?;
        st.serialize_field("seq_hwm", &m.seq_hwm)?;
        st.serialize_field("auth_serial_hwm", &m.auth_serial_hwm)?;
        st.serialize_field("provisioned", &m.provisioned)?;
        st.end()
    }
}

/// A [`SnapPart`] borrowed from the state, for writing a snapshot: the same variants in the
/// same order, so the same bytes, without copying a report (or the meta) onto the stack.
#[derive(Debug, Serialize)]
pub enum SnapPartRef<'a> {
    Meta(MetaOf<'a>),
    Usage {
        lic: u8,
        usage: &'a Usage,
    },
    Report(&'a Report),
    Event(&'a Event),
    Tombstone(&'a Tombstone),
    Trust {
        slot: u8,
        entry: &'a TrustEntry,
    },
    Auth {
        slot: u8,
        entry: &'a AuthEntry,
    },
    Returned {
        slot: u8,
        code: &'a String<RETURN_CODE_LEN>,
    },
}

/// The snapshot parts of a state, borrowed, in the order of [`State::parts`]
/// ([`State::parts_ref`]). An iterator rather than a walk that calls a closure: both of the
/// journal's passes (measuring a snapshot, writing it) use this one `next`, with no indirect
/// call, where a generic walk was compiled once per caller (0.5 KB of flash) and a `dyn` one
/// made every call through a pointer a possible path for the stack bound
/// (docs/PERFORMANCE.md, eighth pass).
#[derive(Debug)]
pub struct PartsRef<'a> {
    state: &'a State,
    /// Which table: meta, usage, reports, events, tombstones, trust, authorization, returns.
    table: u8,
    /// The next index in it.
    at: usize,
}

impl<'a> Iterator for PartsRef<'a> {
    type Item = SnapPartRef<'a>;

    fn next(&mut self) -> Option<SnapPartRef<'a>> {
        let st = self.state;
        loop {
            let i = self.at;
            self.at += 1;
            // Catalogue and HA-slot indexes fit a u8 (asserted at the top of this file).
            let (lic, slot) = (i as u8, i as u8);
            // `Some(None)`: an empty HA slot, skipped; `None`: this table is done.
            let part = match self.table {
                0 => (i == 0).then_some(Some(SnapPartRef::Meta(MetaOf(st)))),
                1 => st
                    .usage
                    .get(i)
                    .map(|usage| Some(SnapPartRef::Usage { lic, usage })),
                2 => st.reports.get(i).map(|r| Some(SnapPartRef::Report(r))),
                3 => st
                    .events
                    .entries
                    .get(i)
                    .map(|e| Some(SnapPartRef::Event(e))),
                4 => st
                    .tombstones
                    .get(i)
                    .map(|t| Some(SnapPartRef::Tombstone(t))),
                5 => st
                    .trust
                    .get(i)
                    .map(|e| e.as_ref().map(|entry| SnapPartRef::Trust { slot, entry })),
                6 => st
                    .auth
                    .get(i)
                    .map(|e| e.as_ref().map(|entry| SnapPartRef::Auth { slot, entry })),
                7 => st
                    .last_return
                    .get(i)
                    .map(|c| c.as_ref().map(|code| SnapPartRef::Returned { slot, code })),
                _ => return None,
            };
            match part {
                Some(Some(part)) => return Some(part),
                Some(None) => {}
                None => {
                    self.table += 1;
                    self.at = 0;
                }
            }
        }
    }
}

impl State {
    /// Each snapshot part of the state, borrowed, in the order of [`State::parts`]. The
    /// journal writes snapshots with this.
    pub fn parts_ref(&self) -> PartsRef<'_> {
        PartsRef {
            state: self,
            table: 0,
            at: 0,
        }
    }

    /// The state as snapshot parts, `Meta` first (owned copies: for hosts and tests; the
    /// journal writes [`State::parts_ref`]).
    pub fn parts(&self) -> impl Iterator<Item = SnapPart> + '_ {
        let meta = Meta {
            counters: self.counters.clone(),
            last_id: self.last_id,
            policy: self.policy.clone(),
            config: self.config.clone(),
            account: self.account.clone(),
            last_ack: self.last_ack,
            last_ack_seq: self.last_ack_seq,
            last_push: self.last_push,
            last_file_write: self.last_file_write,
            next_poll: self.next_poll,
            poll_pending: self.poll_pending,
            comm_failing_since: self.comm_failing_since,
            last_alert: self.last_alert,
            last_measure: self.last_measure,
            hwm: self.hwm,
            last_boot: self.last_boot,
            seq_hwm: self.seq_hwm,
            auth_serial_hwm: self.auth_serial_hwm,
            provisioned: self.provisioned,
        };
        let slots = |i: usize| i as u8;
        core::iter::once(SnapPart::Meta(meta))
            .chain(self.usage.iter().enumerate().map(|(i, u)| SnapPart::Usage {
                lic: i as u8,
                usage: u.clone(),
            }))
            .chain(self.reports.iter().map(|r| SnapPart::Report(r.clone())))
            .chain(
                self.events
                    .entries
                    .iter()
                    .map(|e| SnapPart::Event(e.clone())),
            )
            .chain(
                self.tombstones
                    .iter()
                    .map(|t| SnapPart::Tombstone(t.clone())),
            )
            .chain(self.trust.iter().enumerate().filter_map(move |(i, e)| {
                e.clone().map(|entry| SnapPart::Trust {
                    slot: slots(i),
                    entry,
                })
            }))
            .chain(self.auth.iter().enumerate().filter_map(move |(i, e)| {
                e.clone().map(|entry| SnapPart::Auth {
                    slot: slots(i),
                    entry,
                })
            }))
            .chain(
                self.last_return
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, c)| {
                        c.clone().map(|code| SnapPart::Returned {
                            slot: slots(i),
                            code,
                        })
                    }),
            )
    }

    /// Something committed was lost (a journal gap, ADR 0009): every report not yet
    /// acknowledged may miss data: flag `E`, storage `MISSING` (RUM-6, RUM-10).
    pub fn mark_missing(&mut self) {
        for r in self
            .reports
            .iter_mut()
            .filter(|r| r.unacknowledged() && r.storage == StorageState::Exist)
        {
            r.storage = StorageState::Missing;
            r.flag = Flag::E;
        }
    }
}

/// Whether a license needs an authorization code before use (ENF-3, ENF-4, AUTH-1). Without
/// one an enforced or export-controlled license consumes nothing and its feature stays off
/// (ENF-7); unenforced licenses never stop (MISC-12).
pub fn needs_authorization(def: &LicenseDef) -> bool {
    def.enforcement != Enforcement::Unenforced
}

/// Every field's default, as a derive would write it, but compiled once: inlined, the 8.8 KB
/// value was built field by field where the agent boots (docs/PERFORMANCE.md, eighth pass).
impl Default for State {
    #[inline(never)]
    fn default() -> State {
        State {
            usage: Vec::new(),
            reports: Vec::new(),
            counters: Counters::default(),
            last_id: 0,
            policy: None,
            config: Config::default(),
            account: None,
            last_ack: None,
            last_ack_seq: 0,
            last_push: None,
            last_file_write: None,
            next_poll: None,
            poll_pending: None,
            comm_failing_since: None,
            last_alert: None,
            last_measure: None,
            hwm: Timestamp::default(),
            last_boot: None,
            events: EventLog::default(),
            tombstones: Deque::new(),
            trust: Default::default(),
            auth: Default::default(),
            last_return: Default::default(),
            seq_hwm: 0,
            auth_serial_hwm: 0,
            provisioned: false,
        }
    }
}

impl State {
    /// A fresh state for a catalogue of `licenses` entries.
    pub fn new(licenses: usize) -> State {
        let mut s = State::default();
        s.fit_catalogue(licenses);
        s
    }

    /// Make this state [`State::new`]`(licenses)` in place: `*self = State::new(n)` builds the
    /// new 8.7 KB value on the stack first (a mount's deepest frame on a firmware).
    pub fn reset(&mut self, licenses: usize) {
        self.forget_history();
        // Every field by name: a new field does not compile until it is reset here too (those
        // `forget_history` resets are `_`).
        let State {
            usage,
            reports: _,
            counters: _,
            last_id,
            policy: _,
            config,
            account: _,
            last_ack: _,
            last_ack_seq,
            last_push: _,
            last_file_write: _,
            next_poll: _,
            poll_pending: _,
            comm_failing_since: _,
            last_alert: _,
            last_measure: _,
            hwm,
            last_boot,
            events: _,
            tombstones: _,
            trust: _,
            auth: _,
            last_return: _,
            seq_hwm,
            auth_serial_hwm,
            provisioned,
        } = self;
        usage.clear();
        *last_id = 0;
        *config = Config::default();
        *last_ack_seq = 0;
        *hwm = Timestamp::default();
        *last_boot = None;
        *seq_hwm = 0;
        *auth_serial_hwm = 0;
        *provisioned = false;
        self.fit_catalogue(licenses);
    }

    /// What a reset and a factory reset (MISC-4) both forget: reports, tombstones and
    /// counters, policy, account, codes, ACK and push history, the event log. One body for
    /// the two (not inlined: each was a copy).
    #[inline(never)]
    fn forget_history(&mut self) {
        // Every field by name: a new field does not compile until it is decided here (what
        // a factory reset keeps is `_`).
        let State {
            usage: _,
            reports,
            counters,
            last_id: _,
            policy,
            config: _,
            account,
            last_ack,
            last_ack_seq: _,
            last_push,
            last_file_write,
            next_poll,
            poll_pending,
            comm_failing_since,
            last_alert,
            last_measure,
            hwm: _,
            last_boot: _,
            events,
            tombstones,
            trust,
            auth,
            last_return,
            seq_hwm: _,
            auth_serial_hwm: _,
            provisioned: _,
        } = self;
        reports.clear();
        *counters = Counters::default();
        *policy = None;
        *account = None;
        *last_ack = None;
        *last_push = None;
        *last_file_write = None;
        *next_poll = None;
        *poll_pending = None;
        *comm_failing_since = None;
        *last_alert = None;
        *last_measure = None;
        events.entries.clear();
        tombstones.clear();
        trust.iter_mut().for_each(|t| *t = None);
        auth.iter_mut().for_each(|a| *a = None);
        last_return.iter_mut().for_each(|r| *r = None);
    }

    /// Make `usage` as long as the catalogue (a firmware update may add licenses).
    pub fn fit_catalogue(&mut self, licenses: usize) {
        while self.usage.len() < licenses.min(Limits::LICENSES) {
            let _ = self.usage.push(Usage::default());
        }
    }

    /// Count actually consumed: the request, or for a gated license as much of it as the
    /// installed authorization codes cover (ENF-7, AUTH-1).
    pub fn consumed(&self, catalogue: &[LicenseDef], lic: usize) -> u32 {
        match (self.usage.get(lic), catalogue.get(lic)) {
            (Some(u), Some(def)) if !needs_authorization(def) => u.requested,
            (Some(u), Some(_)) => u.requested.min(self.authorized(lic)),
            _ => 0,
        }
    }

    /// Units of license `lic` the installed authorization codes cover, over all HA slots.
    pub fn authorized(&self, lic: usize) -> u32 {
        self.auth
            .iter()
            .flatten()
            .map(|a| a.count_of(lic))
            .fold(0u32, u32::saturating_add)
    }

    pub fn report(&self, id: u64) -> Option<&Report> {
        self.reports.iter().find(|r| r.id == id)
    }

    fn report_mut(&mut self, id: u64) -> Option<&mut Report> {
        self.reports.iter_mut().find(|r| r.id == id)
    }

    /// Take report `i` out of the table, keeping the rest in ID order. `retain` moves each
    /// later report once, with a copy that cannot overlap; `Vec::remove` moves them with one
    /// overlapping copy, and that was the core's last use of `memmove` (1.6 KB of flash).
    /// The report moves out whole (a placeholder takes its slot until `retain` drops it):
    /// a clone was written field by field.
    fn remove_report(&mut self, i: usize) -> Option<Report> {
        let placeholder = Report::new(0, 0, 0, Timestamp(0), 0);
        let gone = core::mem::replace(self.reports.get_mut(i)?, placeholder);
        let mut at = 0;
        self.reports.retain(|_| {
            at += 1;
            at != i + 1
        });
        Some(gone)
    }

    pub fn ack_required(&self) -> bool {
        self.policy
            .as_ref()
            .and_then(|p| p.policy.ack_required)
            .unwrap_or(true)
    }

    /// Fold one record into the state.
    pub fn apply(&mut self, catalogue: &[LicenseDef], record: &RecordRef<'_>) {
        let t = record.time();
        match record {
            Record::Usage { lic, count, .. } => {
                self.apply_usage(catalogue, t, usize::from(*lic), *count)
            }
            Record::Measure { .. } => {
                for r in self
                    .reports
                    .iter_mut()
                    .filter(|r| r.state == ReportState::Open)
                {
                    r.advance(t);
                }
                self.last_measure = Some(t);
            }
            Record::CloseAll { reload, .. } => {
                if *reload {
                    self.last_boot = Some(t);
                }
                self.close_all(catalogue, t, *reload)
            }
            Record::Pushed {
                transaction,
                poll_at,
                ..
            } => {
                // What a push sends is what `Unreported` selects: CLOSED, PENDING and UNACK
                // reports with data; all of them take the push's transaction.
                let n = self.mark_unack(Selection::Unreported, *transaction, true);
                self.last_push = Some(t);
                self.next_poll = Some(*poll_at);
                self.poll_pending = Some(*transaction);
                self.events.push(
                    t,
                    EventKind::UsagePushed {
                        reports: n,
                        transaction: *transaction,
                    },
                );
            }
            Record::Saved { selection, .. } => {
                // File exchanges are tracked by the time of the save (RUM-11); an UNACK
                // report saved again keeps its transaction.
                let n = self.mark_unack(*selection, t.secs(), false);
                self.last_file_write = Some(t);
                self.events.push(t, EventKind::UsageSaved { reports: n });
            }
            Record::Ack { ack, .. } => {
                self.apply_ack(t, ack);
                self.install_trust(t, &ack.trust);
                self.install_auth(catalogue, t, &ack.auth);
            }
            Record::PollDone { .. } => self.poll_pending = None,
            Record::PolicyInstalled {
                policy,
                issued_at,
                seq,
                ..
            } => {
                self.install_policy(t, policy, *issued_at);
                self.anchor(*issued_at, *seq);
            }
            Record::PolicyRemoved { .. } => {
                self.policy = None;
                self.events.push(t, EventKind::PolicyRemoved);
            }
            Record::Config { change, .. } => {
                self.config.apply(change);
                if let ConfigChange::Transport(tr) = change {
                    self.events.push(t, EventKind::TransportChanged(*tr));
                }
            }
            Record::CommFailed { .. } => {
                if self.comm_failing_since.is_none() {
                    self.comm_failing_since = Some(t);
                }
                self.events.push(t, EventKind::CommFailed);
            }
            Record::CommRestored { .. } => {
                self.comm_failing_since = None;
                self.events.push(t, EventKind::CommRestored);
            }
            Record::Alerted { days, .. } => {
                self.last_alert = Some(t);
                self.events
                    .push(t, EventKind::ReportingRequired { days: *days });
            }
            Record::EventLogCleared { .. } => self.events.clear(),
            Record::TrustInstalled {
                seq,
                issued_at,
                codes,
                ..
            } => {
                self.install_trust(t, codes);
                self.anchor(*issued_at, *seq);
            }
            Record::AuthRequested { lic, .. } => {
                self.events.push(t, EventKind::AuthRequested { lic: *lic });
            }
            Record::AuthInstalled { seq, codes, .. } => {
                self.install_auth(catalogue, t, codes);
                // The newest issue time, through `extend_to` (no `Iterator::max` of its own).
                let mut issued = None;
                for (_, c) in codes {
                    extend_to(&mut issued, c.issued_at);
                }
                if let Some(issued) = issued {
                    self.anchor(issued, *seq);
                }
            }
            Record::AuthRemoved { removed, .. } => {
                let before = self.consumption(catalogue);
                for r in removed {
                    let i = usize::from(r.slot);
                    match (r.only, self.auth.get_mut(i)) {
                        (Some(lic), Some(Some(a))) => {
                            a.licenses.retain(|(l, _)| *l != lic);
                            if a.licenses.is_empty()
                                && let Some(s) = self.auth.get_mut(i)
                            {
                                *s = None;
                            }
                        }
                        (None, Some(s)) => *s = None,
                        _ => {}
                    }
                    if let (Some(code), Some(s)) = (&r.return_code, self.last_return.get_mut(i)) {
                        *s = Some(code.clone());
                    }
                    self.events.push(t, EventKind::AuthRemoved { slot: r.slot });
                }
                self.consumption_changed(catalogue, t, &before);
            }
            Record::FactoryReset { .. } => self.factory_reset(catalogue, t),
            Record::Provisioned { policy, codes, .. } => {
                self.provisioned = true;
                if let Some((p, issued_at)) = policy {
                    self.install_policy(t, p, *issued_at);
                }
                self.install_auth(catalogue, t, codes);
            }
        }
        self.hwm = self.hwm.max(t);
    }

    /// The reports `selection` picks were sent or saved: CLOSED and PENDING ones (and UNACK
    /// ones too when `retag`) become UNACK under `transaction`; without ACKs an UNACK report
    /// meets its obligations. Returns how many were picked. One body for a push and a save.
    #[inline(never)] // a push and a save: one copy
    fn mark_unack(&mut self, selection: Selection, transaction: u64, retag: bool) -> u16 {
        let ack_required = self.ack_required();
        let mut n = 0u16;
        for r in self.reports.iter_mut().filter(|r| selection.matches(r)) {
            n = n.saturating_add(1);
            if matches!(r.state, ReportState::Closed | ReportState::Pending)
                || (retag && r.state == ReportState::Unack)
            {
                r.state = ReportState::Unack;
                r.transaction = transaction;
            }
            if !ack_required && r.state == ReportState::Unack {
                mark_sent(&mut self.usage, r);
            }
        }
        n
    }

    fn install_trust(&mut self, t: Timestamp, codes: &[(u8, TrustEntry)]) {
        for (slot, code) in codes {
            if let Some(s) = self.trust.get_mut(usize::from(*slot)) {
                *s = Some(TrustEntry {
                    installed_at: t,
                    ..code.clone()
                });
                self.events
                    .push(t, EventKind::TrustInstalled { slot: *slot });
            }
        }
    }

    fn install_auth(&mut self, catalogue: &[LicenseDef], t: Timestamp, codes: &[(u8, AuthEntry)]) {
        let before = self.consumption(catalogue);
        for (slot, code) in codes {
            if let Some(s) = self.auth.get_mut(usize::from(*slot)) {
                // Cloned into its slot and stamped there (12 B smaller than a struct update).
                s.insert(code.clone()).installed_at = t;
                self.auth_serial_hwm = self.auth_serial_hwm.max(code.serial);
                self.events
                    .push(t, EventKind::AuthInstalled { slot: *slot });
            }
        }
        self.consumption_changed(catalogue, t, &before);
    }

    /// A verified authority message was applied: its issue time is a signed time anchor and
    /// its sequence number a replay high-water mark (DESIGN.md §3).
    #[inline(never)] // three records anchor time: one copy
    fn anchor(&mut self, issued_at: Timestamp, seq: u64) {
        self.hwm = self.hwm.max(issued_at.min(Timestamp::LATEST));
        self.seq_hwm = self.seq_hwm.max(seq);
    }

    /// What every license consumes now.
    fn consumption(&self, catalogue: &[LicenseDef]) -> [u32; Limits::LICENSES] {
        let mut c = [0u32; Limits::LICENSES];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = self.consumed(catalogue, i);
        }
        c
    }

    /// An authorization change moved what some licenses consume: a usage change for each.
    fn consumption_changed(
        &mut self,
        catalogue: &[LicenseDef],
        t: Timestamp,
        before: &[u32; Limits::LICENSES],
    ) {
        for lic in 0..self.usage.len() {
            if let Some(&was) = before.get(lic)
                && self.consumed(catalogue, lic) != was
            {
                self.record_consumption(catalogue, t, lic, was);
            }
        }
    }

    /// MISC-4: remove all licensing information except the licenses in use: reports (and
    /// their tombstones and counters), policy, account, trust and authorization codes, ACK and
    /// push history, event log. Report IDs and the time high-water mark stay, so IDs never
    /// repeat and time never goes back; the licenses in use start new reports now.
    fn factory_reset(&mut self, catalogue: &[LicenseDef], t: Timestamp) {
        // In place: a second `State` would not fit the stack of a small device.
        for u in self.usage.iter_mut() {
            *u = Usage {
                requested: u.requested,
                listed: u.listed,
                ..Usage::default()
            };
        }
        self.forget_history();
        self.events.push(t, EventKind::FactoryReset);
        for lic in 0..self.usage.len() {
            let value = self.consumed(catalogue, lic);
            if value > 0 {
                if let Some(u) = self.usage.get_mut(lic) {
                    u.first_use = Some(t);
                }
                self.open_report(t, lic as u8, value, None, true);
            }
        }
    }

    fn apply_usage(&mut self, catalogue: &[LicenseDef], t: Timestamp, lic: usize, count: u32) {
        let before = self.consumed(catalogue, lic);
        let Some(u) = self.usage.get_mut(lic) else {
            return;
        };
        u.requested = count;
        u.listed = true;
        self.events.push(
            t,
            EventKind::UsageChanged {
                lic: lic as u8,
                count,
            },
        );
        if self.consumed(catalogue, lic) != before {
            self.record_consumption(catalogue, t, lic, before);
        }
    }

    /// License `lic` consumes a different count than `before`: record it in its OPEN report,
    /// or open one.
    fn record_consumption(
        &mut self,
        catalogue: &[LicenseDef],
        t: Timestamp,
        lic: usize,
        before: u32,
    ) {
        let after = self.consumed(catalogue, lic);
        let _ = before;
        let Some(open) = self.usage.get(lic).map(|u| u.open) else {
            return;
        };
        let lic8 = lic as u8;
        // POL-3: any change of consumption is a usage change, except the very first use,
        // which the First report requirement governs (ADR 0002).
        let first_use = self.usage.get(lic).is_some_and(|u| u.first_use.is_none()) && after > 0;
        if first_use && let Some(u) = self.usage.get_mut(lic) {
            u.first_use = Some(t);
        }
        let change = if first_use { None } else { Some(t) };
        let full = match open.and_then(|id| self.report_mut(id)) {
            Some(r) => {
                if r.record(t, after) {
                    if r.first_change.is_none() {
                        r.first_change = change;
                    }
                    return;
                }
                // Sample capacity reached: close it and continue in a new report.
                r.state = ReportState::Closed;
                r.reason = ChangeReason::None;
                true
            }
            None => false,
        };
        if full && let Some(u) = self.usage.get_mut(lic) {
            u.open = None;
        }
        self.open_report(t, lic8, after, change, true);
    }

    fn close_all(&mut self, catalogue: &[LicenseDef], t: Timestamp, reload: bool) {
        let mut closed = false;
        for r in self
            .reports
            .iter_mut()
            .filter(|r| r.state == ReportState::Open)
        {
            r.state = ReportState::Closed;
            r.reason = if reload {
                ChangeReason::Reload
            } else {
                ChangeReason::None
            };
            closed = true;
        }
        if closed {
            self.events.push(t, EventKind::ReportsClosed { reload });
        }
        for lic in 0..self.usage.len() {
            let was_open = self.usage.get_mut(lic).and_then(|u| u.open.take());
            let value = self.consumed(catalogue, lic);
            if value == 0 {
                continue;
            }
            // The next report continues where the closed one's data ends, so no usage falls
            // between two reports; after a reload the device was off until `t`.
            let start = match was_open.and_then(|id| self.report(id)) {
                Some(prev) if !reload => prev.end,
                _ => t,
            };
            self.open_report(start, lic as u8, value, None, reload);
        }
    }

    /// Open a report starting at `t`; `rephase` restarts the 15-minute measurement phase at `t`
    /// when no other report is open.
    fn open_report(
        &mut self,
        t: Timestamp,
        lic: u8,
        value: u32,
        first_change: Option<Timestamp>,
        rephase: bool,
    ) {
        let Some(prev) = self.usage.get(usize::from(lic)).map(|u| u.last_id) else {
            return;
        };
        if self.reports.is_full() {
            self.make_room(t);
        }
        let id = self.last_id.saturating_add(1).max(t.secs());
        self.last_id = id;
        bump(&mut self.counters.total);
        if let Some(p) = self.report_mut(prev) {
            p.next_id = id;
        }
        // Measurements are device-wide; the first OPEN report sets their phase.
        if rephase && !self.reports.iter().any(|r| r.state == ReportState::Open) {
            self.last_measure = Some(t);
        }
        let mut r = Report::new(id, prev, lic, t, value);
        r.first_change = first_change;
        if self.reports.push(r).is_ok()
            && let Some(u) = self.usage.get_mut(usize::from(lic))
        {
            u.open = Some(id);
            u.last_id = id;
        }
    }

    /// Free one slot of the report table (DESIGN.md §2.5): forget the oldest acknowledged
    /// report; else merge the oldest two consecutive unsent reports of one license (wider
    /// window, same totals); else purge the oldest report that is not OPEN, and count it.
    fn make_room(&mut self, t: Timestamp) {
        if let Some(i) = self
            .reports
            .iter()
            .position(|r| r.state == ReportState::Ack)
        {
            self.remove_report(i);
            return;
        }
        let pair = self.reports.iter().enumerate().find_map(|(i, a)| {
            if a.state != ReportState::Closed || a.next_id == 0 {
                return None;
            }
            self.reports
                .iter()
                .position(|b| b.id == a.next_id && b.state == ReportState::Closed && b.lic == a.lic)
                .map(|j| (i, j))
        });
        if let Some((i, j)) = pair {
            let Some(newer) = self.remove_report(j) else {
                return;
            };
            let merged_id = {
                let Some(a) = self.reports.get_mut(if j < i { i - 1 } else { i }) else {
                    return;
                };
                a.merge(&newer);
                a.id
            };
            if let Some(after) = self.report_mut(newer.next_id) {
                after.prev_id = merged_id;
            }
            if let Some(u) = self.usage.get_mut(usize::from(newer.lic))
                && u.last_id == newer.id
            {
                u.last_id = merged_id;
            }
            bump(&mut self.counters.merged);
            return;
        }
        if let Some(i) = self
            .reports
            .iter()
            .position(|r| r.state != ReportState::Open)
        {
            let Some(gone) = self.remove_report(i) else {
                return;
            };
            if let Some(u) = self.usage.get_mut(usize::from(gone.lic))
                && u.last_id == gone.id
            {
                u.last_id = 0;
            }
            if self.tombstones.is_full() {
                self.tombstones.pop_front();
            }
            let _ = self.tombstones.push_back(Tombstone {
                id: gone.id,
                lic: gone.lic,
                state: gone.state,
                start: gone.start,
                end: gone.end,
                purged_at: t,
            });
            bump(&mut self.counters.purged);
            self.events.push(t, EventKind::ReportsPurged { count: 1 });
        }
    }

    fn apply_ack(&mut self, t: Timestamp, ack: &AckRecord) {
        let mut n = 0u16;
        for a in ack.reports.iter() {
            let Some(r) = self.reports.iter_mut().find(|r| r.id == a.id) else {
                continue;
            };
            if r.state == ReportState::Ack {
                continue;
            }
            r.state = ReportState::Ack;
            r.transaction = ack.transaction;
            match a.status {
                AckStatus::Accepted => r.reason = ChangeReason::Acked,
                AckStatus::Removed => r.reason = ChangeReason::Removed,
                AckStatus::Dropped | AckStatus::Rejected => {
                    // RUM-6: State ACK with a reason other than ACKED is an error.
                    r.reason = ChangeReason::None;
                    r.flag = Flag::E;
                    r.tx_error = Some(if a.status == AckStatus::Dropped {
                        TransactionError::Dropped
                    } else {
                        TransactionError::Rejected
                    });
                }
            }
            // RUM-13: acknowledged data is deleted; its tracking entry stays (RUM-10).
            r.storage = StorageState::Deleted;
            r.storage_reason = StorageReason::Processed;
            r.points.clear();
            if matches!(a.status, AckStatus::Accepted | AckStatus::Removed)
                && let Some(u) = self.usage.get_mut(usize::from(r.lic))
            {
                extend_to(&mut u.acked_through, r.end);
                extend_to(&mut u.sent_through, r.end);
            }
            bump(&mut self.counters.acked);
            n = n.saturating_add(1);
        }
        self.last_ack = Some(t);
        // An ACK older than what was applied last only acknowledges reports: its account and
        // policy are not news (DESIGN.md §3).
        let fresh = ack.seq > self.seq_hwm;
        self.last_ack_seq = self.last_ack_seq.max(ack.seq);
        self.anchor(ack.issued_at, ack.seq);
        self.poll_pending = None;
        // ACK-2: keep only the newest account information.
        if let Some(acct) = &ack.account
            && fresh
            && self
                .account
                .as_ref()
                .is_none_or(|cur| acct.as_of >= cur.as_of)
        {
            self.account = Some(acct.clone());
        }
        self.events.push(t, EventKind::AckReceived { reports: n });
        if let Some(p) = &ack.policy
            && fresh
            && self
                .policy
                .as_ref()
                .is_none_or(|cur| &cur.policy != p && ack.issued_at >= cur.issued_at)
        {
            self.install_policy(t, p, ack.issued_at);
        }
    }

    fn install_policy(&mut self, t: Timestamp, policy: &CustomPolicy, issued_at: Timestamp) {
        let p = self.policy.insert(InstalledPolicy {
            policy: policy.clone(),
            installed_at: t,
            issued_at,
        });
        let name = p.policy.name.clone();
        self.events.push(t, EventKind::PolicyInstalled { name });
    }
}

/// `through` covers `end` too (a report's end was acknowledged or sent).
#[inline(never)] // three uses: one copy
fn extend_to(through: &mut Option<Timestamp>, end: Timestamp) {
    *through = Some(through.map_or(end, |x| x.max(end)));
}

/// One more in a persistent counter (RUM-20).
#[inline(never)] // four counters, a 64-bit saturating add each: one copy
fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

fn mark_sent(usage: &mut [Usage], r: &Report) {
    if let Some(u) = usage.get_mut(usize::from(r.lic)) {
        extend_to(&mut u.sent_through, r.end);
    }
}

/// Derived counters of the Usage Report Summary (RUM-20).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: u64,
    pub purged: u64,
    pub acked: u64,
    pub waiting: u64,
    pub available: u64,
    pub collecting: u64,
    pub in_storage: u64,
    pub missing: u64,
    pub displayable: u64,
}

impl State {
    pub fn summary(&self) -> Summary {
        let count =
            |f: &dyn Fn(&Report) -> bool| self.reports.iter().filter(|r| f(r)).count() as u64;
        Summary {
            total: self.counters.total,
            purged: self.counters.purged,
            acked: self.counters.acked,
            waiting: count(&|r| r.state == ReportState::Unack),
            available: count(&|r| matches!(r.state, ReportState::Open | ReportState::Closed)),
            collecting: count(&|r| r.state == ReportState::Open),
            in_storage: count(&|r| r.storage == StorageState::Exist),
            missing: count(&|r| r.storage == StorageState::Missing),
            displayable: self.reports.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;
    use crate::wire::{AuthKind, TrustOrigin};
    use tally_hal::{Enforcement, Term};

    /// A state with every field away from its fresh value.
    fn busy() -> State {
        let mut s = State::new(1);
        let t = Timestamp(5_000);
        let _ = s.usage.get_mut(0).map(|u| {
            u.requested = 3;
            u.listed = true;
            u.first_use = Some(t);
            u.last_id = 7;
        });
        s.reports.push(Report::new(7, 0, 0, t, 3)).unwrap();
        s.counters.total = 7;
        s.last_id = 7;
        s.policy = Some(InstalledPolicy::default());
        s.config.transport = Transport::Smart;
        s.account = Some(Account {
            smart_account: String::new(),
            virtual_account: String::new(),
            as_of: t,
        });
        s.last_ack = Some(t);
        s.last_ack_seq = 4;
        s.last_push = Some(t);
        s.last_file_write = Some(t);
        s.next_poll = Some(t);
        s.poll_pending = Some(9);
        s.comm_failing_since = Some(t);
        s.last_alert = Some(t);
        s.last_measure = Some(t);
        s.hwm = t;
        s.last_boot = Some(t);
        s.events.push(t, EventKind::CommFailed);
        s.tombstones
            .push_back(Tombstone {
                id: 1,
                lic: 0,
                state: ReportState::Ack,
                start: t,
                end: t,
                purged_at: t,
            })
            .unwrap();
        s.trust[0] = Some(TrustEntry {
            origin: TrustOrigin::Factory,
            serial: 1,
            issued_at: t,
            installed_at: t,
        });
        s.auth[0] = Some(AuthEntry {
            kind: AuthKind::Slac,
            serial: 2,
            issued_at: t,
            installed_at: t,
            licenses: Vec::new(),
        });
        s.last_return[0] = Some(String::new());
        s.seq_hwm = 4;
        s.auth_serial_hwm = 2;
        s.provisioned = true;
        s
    }

    #[test]
    fn a_push_retags_unack_reports_and_a_save_keeps_their_transaction() {
        // A push takes every CLOSED, PENDING and UNACK report with data under its
        // transaction; a save only the CLOSED and PENDING ones it selects (RUM-5, RUM-11).
        let states = [
            ReportState::Open,
            ReportState::Closed,
            ReportState::Pending,
            ReportState::Unack,
            ReportState::Ack,
        ];
        let fresh = || {
            let mut s = State::new(1);
            for (id, state) in (1..).zip(states) {
                let mut r = Report::new(id, 0, 0, Timestamp(100), 1);
                r.state = state;
                r.transaction = 7;
                if state == ReportState::Ack {
                    r.storage = StorageState::Deleted;
                }
                s.reports.push(r).unwrap();
            }
            s
        };
        let seen = |s: &State| {
            s.reports
                .iter()
                .map(|r| (r.state, r.transaction))
                .collect::<std::vec::Vec<_>>()
        };
        let t = Timestamp(1_000);
        let mut s = fresh();
        let push = Record::Pushed {
            t,
            transaction: 9,
            poll_at: t,
        };
        s.apply(&[], &push.lend());
        let u = ReportState::Unack;
        assert_eq!(
            seen(&s),
            [(states[0], 7), (u, 9), (u, 9), (u, 9), (states[4], 7)]
        );
        assert!(matches!(
            s.events.entries.back().map(|e| &e.kind),
            Some(EventKind::UsagePushed {
                reports: 3,
                transaction: 9
            })
        ));
        let mut s = fresh();
        let save = Record::Saved {
            t,
            selection: Selection::All,
        };
        s.apply(&[], &save.lend());
        assert_eq!(
            seen(&s),
            [
                (states[0], 7),
                (u, 1_000),
                (u, 1_000),
                (u, 7),
                (states[4], 7)
            ]
        );
        assert!(matches!(
            s.events.entries.back().map(|e| &e.kind),
            Some(EventKind::UsageSaved { reports: 3 })
        ));
        // Without ACKs, what was sent or saved meets obligations.
        let mut s = fresh();
        s.policy = Some(InstalledPolicy::default());
        if let Some(p) = s.policy.as_mut() {
            p.policy.ack_required = Some(false);
        }
        s.apply(&[], &push.lend());
        assert_eq!(s.usage[0].sent_through, Some(Timestamp(100)));
    }

    #[test]
    fn resets_forget_what_each_must() {
        // `reset` and a factory reset share `forget_history`: a reset gives back a fresh
        // state, a factory reset keeps the IDs, the configuration, the high-water marks, the
        // boot and what is in use (MISC-4), and starts a report for it.
        let mut s = busy();
        s.reset(1);
        assert_eq!(s, State::new(1));

        let catalogue = [LicenseDef::new(
            "lic",
            "LIC",
            "regid.x",
            "lic",
            Enforcement::Unenforced,
            Term::Perpetual,
        )
        .unwrap()];
        let before = busy();
        let mut s = before.clone();
        let t = Timestamp(6_000);
        s.apply(&catalogue, &Record::FactoryReset { t });
        let u = &s.usage[0];
        assert_eq!((u.requested, u.listed, u.first_use), (3, true, Some(t)));
        assert_eq!(s.reports.len(), 1, "a new report for what is in use");
        assert!(s.reports[0].id > before.last_id);
        assert_eq!(s.counters.total, 1);
        assert_eq!(s.last_id, s.reports[0].id);
        assert_eq!(s.config, before.config);
        assert_eq!(
            (s.last_ack_seq, s.seq_hwm, s.auth_serial_hwm, s.provisioned),
            (4, 4, 2, true)
        );
        assert_eq!((s.hwm, s.last_boot), (t, before.last_boot));
        assert!(s.policy.is_none() && s.account.is_none() && s.last_ack.is_none());
        assert!(s.last_push.is_none() && s.last_file_write.is_none());
        assert!(s.next_poll.is_none() && s.poll_pending.is_none());
        assert!(s.comm_failing_since.is_none() && s.last_alert.is_none());
        assert_eq!(s.last_measure, Some(t), "the new report sets the phase");
        assert_eq!(s.events.entries.len(), 1, "only the reset's own event");
        assert!(s.tombstones.is_empty());
        assert!(s.trust.iter().all(Option::is_none) && s.auth.iter().all(Option::is_none));
        assert!(s.last_return.iter().all(Option::is_none));
    }
}
