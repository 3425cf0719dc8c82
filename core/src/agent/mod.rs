//! The licensing agent: a sans-IO state machine (DESIGN.md §2.1).
//!
//! Inputs: usage changes, clock ticks, configuration, imports, transport results. Outputs:
//! messages to send (through [`Agent::poll_transmit`]), syslog messages (through an
//! [`EventSink`]) and state to show. Every accepted input is committed to the [`Journal`]
//! before the state changes and before the call returns `Ok` (DESIGN.md §2.3).
//!
//! Trust codes live in `agent/trust.rs`, authorization codes in `agent/authorization.rs`.

mod authorization;
mod trust;

pub use authorization::{
    ReturnMode, check_return_code, confirmation_code, parse_return_code, return_code,
};
pub use trust::TrustAnchors;

use crate::config::ConfigChange;
use crate::decode::Decode;
use crate::envelope::{self, Envelope, EnvelopeError};
use crate::journal::{Entry, Journal, JournalError};
use crate::limits::{Limits, MEASUREMENT_INTERVAL_SECS};
use crate::messages::{Message, Why};
use crate::outbound::UsageView;
use crate::policy::{CustomPolicy, EffectivePolicy, effective};
use crate::rum::{Report, ReportState, Selection};
use crate::schedule::{self, Schedule};
use crate::state::{AckRecord, Record, RecordRef, State, needs_authorization};
use crate::time::{Civil, civil, timestamp_of};
use crate::wire::{AckPoll, AuthLicense, Kind, PolicyPayload, PushReceipt, UsageOrigin};
use core::fmt;
use heapless::Vec;
use tally_hal::{
    CommError, DeviceKey, EventSink, FileError, Files, HaMember, HaRole, LicenseDef, Platform,
    PublicKey, SECS_PER_DAY, Timestamp, TooLong, Udi, bounded,
};

/// Which IOS-XE release's display format the device reproduces (MISC-15): 17.3.2a dropped the
/// account block, 17.7.1 restored it and added the VRF entry and the Usage Report Summary.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Release {
    V17_3,
    V17_7,
}

/// Pinned authority keys: two slots, so a key can be rotated (DESIGN.md §3).
pub const AUTHORITY_KEY_SLOTS: usize = 2;

/// Who this device is: fixed at build or provisioning time, never journaled.
#[derive(Clone, Debug)]
pub struct Identity {
    pub udi: Udi,
    pub members: Vec<HaMember, { Limits::HA_MEMBERS }>,
    pub catalogue: Vec<LicenseDef, { Limits::LICENSES }>,
    /// POL-7 footnote 1.
    pub partner: bool,
    pub release: Release,
    pub authority_keys: Vec<PublicKey, AUTHORITY_KEY_SLOTS>,
    /// The device key, the manufacturing key and the factory trust code (TRUST-2).
    pub trust: TrustAnchors,
}

impl Identity {
    pub fn from_platform<P: Platform + ?Sized>(
        platform: &P,
        authority_keys: &[PublicKey],
        release: Release,
    ) -> Result<Identity, AgentError> {
        let mut members = Vec::new();
        members
            .extend_from_slice(platform.ha_members())
            .map_err(|_| AgentError::Capacity)?;
        let mut catalogue = Vec::new();
        catalogue
            .extend_from_slice(platform.licenses())
            .map_err(|_| AgentError::Capacity)?;
        let mut keys = Vec::new();
        keys.extend_from_slice(authority_keys)
            .map_err(|_| AgentError::Capacity)?;
        Ok(Identity {
            udi: platform.udi().clone(),
            members,
            catalogue,
            partner: platform.sold_through_partner(),
            release,
            authority_keys: keys,
            trust: TrustAnchors::default(),
        })
    }

    /// The UDIs that hold trust and authorization codes: the HA set's members, or this
    /// device alone (TRUST-1: one code per UDI).
    #[inline(never)] // the `show` rendering's callers: one copy
    pub fn slots(&self) -> impl Iterator<Item = (HaRole, &Udi)> + '_ {
        let alone = self
            .members
            .is_empty()
            .then_some((HaRole::Active, &self.udi));
        alone
            .into_iter()
            .chain(self.members.iter().map(|m| (m.role, &m.udi)))
    }

    pub fn slot_of(&self, udi: &Udi) -> Option<usize> {
        if self.members.is_empty() {
            (*udi == self.udi).then_some(0)
        } else {
            self.members.iter().position(|m| m.udi == *udi)
        }
    }

    /// This device's own slot.
    pub fn own_slot(&self) -> usize {
        self.slot_of(&self.udi).unwrap_or(0)
    }

    #[inline(never)] // thirteen callers
    pub fn slot_udi(&self, slot: usize) -> Option<&Udi> {
        // What `slots().nth(slot)` gives, without walking the chain.
        if self.members.is_empty() {
            (slot == 0).then_some(&self.udi)
        } else {
            self.members.get(slot).map(|m| &m.udi)
        }
    }

    /// How many [`Identity::slots`] there are.
    #[inline(never)] // five callers
    pub fn slot_count(&self) -> usize {
        self.members.len().max(1)
    }

    /// The public key a trust code for `slot` must bind, where known.
    pub fn slot_key(&self, slot: usize) -> Option<PublicKey> {
        self.key_of(slot).copied()
    }

    /// [`Identity::slot_key`] by reference: the agent's callers compare or test it, and
    /// each copy of the 65 bytes out was code.
    fn key_of(&self, slot: usize) -> Option<&PublicKey> {
        if slot == self.own_slot() {
            return self.trust.device_key.as_ref();
        }
        self.trust.member_keys.get(slot).and_then(Option::as_ref)
    }

    /// Say what happened to the code of HA slot `slot` (MSG-12, MSG-9, MSG-10), if the slot
    /// exists: one body for the places that announce codes slot by slot.
    #[inline(never)]
    fn announce(&self, sink: &mut dyn EventSink, slot: u8, said: Said) {
        if let Some(udi) = self.slot_udi(usize::from(slot)) {
            emit(
                sink,
                match said {
                    Said::TrustInstalled => Message::TrustInstallSuccess(udi),
                    Said::AuthInstalled => Message::AuthInstallSuccess(udi),
                    Said::AuthRemoved => Message::AuthRemoved(udi),
                },
            );
        }
    }

    pub fn license_index(&self, name: &str) -> Option<usize> {
        self.license(name).map(|(i, _)| i)
    }

    /// A license of the catalogue by name or tag, with its index: the callers that need its
    /// definition too no longer look it up a second time by index.
    #[inline(never)] // three callers: one copy
    fn license(&self, name: &str) -> Option<(usize, &LicenseDef)> {
        for (i, d) in self.catalogue.iter().enumerate() {
            if d.name == name || d.tag == name {
                return Some((i, d));
            }
        }
        None
    }
}

/// What [`Identity::announce`] says of a slot's code.
#[derive(Copy, Clone)]
enum Said {
    TrustInstalled,
    AuthInstalled,
    AuthRemoved,
}

/// Errors the agent reports. Each leaves the state unchanged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AgentError {
    Journal(JournalError),
    /// Not a license in this platform's catalogue.
    UnknownLicense,
    /// A value outside its range or bound.
    BadValue,
    Capacity,
    /// The operation needs communication, but `license smart transport off` is configured.
    TransportOff,
    /// A file or message was refused.
    Envelope(EnvelopeError),
    File(FileError),
    /// The file is bound to another UDI.
    WrongDevice,
    /// Older than what is installed (DESIGN.md §3 freshness).
    Stale,
    /// The file's type cannot be imported (e.g. a usage report).
    NotImportable,
    /// The device key failed to sign.
    Key,
    /// No such report.
    NoSuchReport,
    /// Direct communication needs a trust code obtained with an ID token (TRUST-2, TRUST-3).
    NoTrust,
    /// A request of this kind is already waiting to be sent.
    Busy,
    /// Licenses to be given back are in use (AUTH-2 replace, AUTH-3, MSG-23).
    InUse,
    /// The license does not need an authorization code (AUTH-1).
    NotEnforced,
    /// No authorization code is installed to return.
    NothingToReturn,
    /// Not valid for this device: a trust code for another key, a factory code from outside,
    /// an authorization code for another device.
    Refused(Refusal),
}

/// Why a code from the authority or the factory was refused. A byte, not its text: every
/// agent call returns `Result<_, AgentError>`, and a text made the error 12 bytes, returned
/// through memory by every one of them (docs/PERFORMANCE.md, tenth pass).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The factory trust code cannot be checked (TRUST-2).
    NoManufacturingKey,
    NotFactoryTrustCode,
    TrustWrongUdi,
    TrustWrongKey,
    /// TRUST-7: only the factory installs a factory code.
    FactoryTrustImport,
    /// TRUST-7: a code the authority issued stays.
    TrustAlreadyInstalled,
    NoTrustCode,
    AuthWrongUdi,
    /// Not newer than a code already installed (AUTH-3: a returned code never comes back).
    AuthReplay,
    AuthUnknownLicense,
    NoAuthCode,
    /// AUTH-5: `export return` gives back one export-controlled license.
    NotExportControlled,
}

impl Refusal {
    pub const fn text(self) -> &'static str {
        match self {
            Refusal::NoManufacturingKey => "no manufacturing key is pinned",
            Refusal::NotFactoryTrustCode => "not a factory trust code",
            Refusal::TrustWrongUdi => {
                "UDI mismatch: the trust code is for another product instance"
            }
            Refusal::TrustWrongKey => "the trust code does not match this product instance's key",
            Refusal::FactoryTrustImport => "a factory trust code cannot be installed from a file",
            Refusal::TrustAlreadyInstalled => "A trust code is already installed",
            Refusal::NoTrustCode => "the response holds no trust code",
            Refusal::AuthWrongUdi => {
                "UDI mismatch: the authorization code is for another product instance"
            }
            Refusal::AuthReplay => {
                "timestamp mismatch: the authorization code is older than one already installed"
            }
            Refusal::AuthUnknownLicense => {
                "the authorization code names a license this product does not have"
            }
            Refusal::NoAuthCode => "the response holds no authorization code",
            Refusal::NotExportControlled => "not an export-controlled license",
        }
    }
}

impl From<Refusal> for crate::messages::Why<'_> {
    fn from(r: Refusal) -> Self {
        crate::messages::Why::Error(AgentError::Refused(r))
    }
}

impl From<JournalError> for AgentError {
    fn from(e: JournalError) -> Self {
        AgentError::Journal(e)
    }
}

impl From<EnvelopeError> for AgentError {
    #[inline(never)] // eight `?`s: one copy
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Key => AgentError::Key,
            e => AgentError::Envelope(e),
        }
    }
}

impl From<FileError> for AgentError {
    fn from(e: FileError) -> Self {
        AgentError::File(e)
    }
}

impl From<TooLong> for AgentError {
    fn from(_: TooLong) -> Self {
        AgentError::BadValue
    }
}

impl AgentError {
    /// The error as text, without `core::fmt` (see [`crate::messages::Text`]).
    pub fn write_text(&self, w: &mut dyn crate::messages::Text) {
        let text = match self {
            AgentError::Journal(e) => e.text(),
            AgentError::UnknownLicense => "unknown license",
            AgentError::BadValue => "value out of range",
            AgentError::Capacity => "capacity exceeded",
            AgentError::TransportOff => "transport is off",
            AgentError::Envelope(e) => return e.write_text(w),
            AgentError::File(e) => e.text(),
            AgentError::WrongDevice => "UDI mismatch: the file is for another product instance",
            AgentError::Stale => "timestamp mismatch: older than the installed one",
            AgentError::NotImportable => "file type cannot be imported",
            AgentError::Key => "device key unavailable",
            AgentError::NoSuchReport => "no such RUM report",
            AgentError::NoTrust => "Insufficient trust for direct communication",
            AgentError::Busy => "a request is already in progress",
            AgentError::InUse => {
                "licenses to be returned are in use: first disable the corresponding features"
            }
            AgentError::NotEnforced => "the license does not need an authorization code",
            AgentError::NothingToReturn => "no authorization code is installed",
            AgentError::Refused(why) => why.text(),
        };
        w.put(text);
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::messages::display(f, |w| self.write_text(w))
    }
}

/// Status of one license (STATE-1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LicenseStatus {
    InUse,
    NotInUse,
    NotAuthorized,
}

impl LicenseStatus {
    pub const fn label(self) -> &'static str {
        match self {
            LicenseStatus::InUse => "IN USE",
            LicenseStatus::NotInUse => "NOT IN USE",
            LicenseStatus::NotAuthorized => "NOT AUTHORIZED",
        }
    }
}

/// What the caller must send.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TransmitKind {
    /// RUM reports (scheduled push or `license smart sync`).
    Push,
    /// Poll for the ACK of the last push (ACK-5).
    AckPoll,
    /// `license smart trust idtoken` (TRUST-3).
    TrustRequest,
    /// `license smart authorization request` (AUTH-2).
    AuthRequest,
    /// `license smart authorization return … online` (AUTH-3).
    AuthReturn,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub kind: TransmitKind,
    /// Bytes of the request at the start of the caller's buffer.
    pub len: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Inflight {
    Push,
    Poll,
    /// The request made at this time; its answer must say so.
    Trust(Timestamp),
    /// HA trust sync (TRUST-12).
    Sync(Timestamp),
    Auth(Timestamp),
    Return(Timestamp),
}

/// A request the operator made that waits for [`Agent::poll_transmit`] (volatile: a reboot
/// forgets it, as a device forgets a command in progress).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one at a time, no heap
enum Outgoing {
    Trust(trust::PendingTrust),
    Auth(authorization::PendingAuth),
    Return(PendingReturn),
}

/// An authorization return as the agent keeps it until the authority confirms it: which
/// codes go back. The wire [`AuthReturn`](crate::wire::AuthReturn) (UDIs, return codes, the license's name: 850 bytes)
/// is rebuilt from the identity, which never changes while the agent runs, when it is
/// needed (`Agent::return_message`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingReturn {
    created_at: Timestamp,
    /// Only this license goes back (`export return`); `None` = the whole codes.
    only: Option<u8>,
    /// (HA slot, serial of the code it holds).
    codes: Vec<(u8, u64), { Limits::HA_MEMBERS }>,
}

/// What an import did (MSG-20: the type of file installed).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    Ack {
        reports: usize,
        policy_installed: bool,
    },
    Policy,
    /// Trust codes installed (TRUST-6 answer, a trust-code file).
    TrustCodes(usize),
    /// Authorization codes installed (AUTH-6).
    AuthCodes(usize),
    /// The identical file was already applied: nothing changed.
    AlreadyApplied(Kind),
}

/// `license smart sync { all | local }` (CLI-E9).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncScope {
    Local,
    All,
}

/// Where [`Agent::advance`] stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advanced {
    /// The device time it stopped at.
    pub at: Timestamp,
    /// A message to send now (at the start of the caller's buffer).
    pub transmit: Option<Transmit>,
    /// What failed (the periodic work, then looking for a message); each changed nothing.
    pub errors: Vec<AgentError, 2>,
    /// It reached `until`.
    pub done: bool,
}

/// An event sink that counts what passes through.
struct Counted<'a> {
    inner: &'a mut dyn EventSink,
    n: u32,
}

impl EventSink for Counted<'_> {
    fn emit(&mut self, severity: tally_hal::Severity, message: &str) {
        self.n = self.n.saturating_add(1);
        self.inner.emit(severity, message);
    }
}

/// Communication statistics of one message category since boot (XPORT-9, EVT-4).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CommStats {
    pub total: u32,
    pub success: u32,
    pub fail: u32,
    /// Consecutive failures, of any kind and of communication.
    pub ongoing_overall: u32,
    pub ongoing_comm: u32,
    pub last_response: Option<&'static str>,
    pub failure_reason: Option<&'static str>,
    pub last_success: Option<Timestamp>,
    pub last_failure: Option<Timestamp>,
}

// Not inlined: each is called from many answer handlers, and inlined at every call they
// were 610 B of flash (an attempt's count, at four sites, 60 B).
impl CommStats {
    #[inline(never)]
    fn attempted(&mut self) {
        self.total = self.total.saturating_add(1);
    }

    #[inline(never)]
    fn succeeded(&mut self, t: Timestamp, response: &'static str) {
        self.success = self.success.saturating_add(1);
        self.ongoing_overall = 0;
        self.ongoing_comm = 0;
        self.last_response = Some(response);
        self.last_success = Some(t);
    }

    /// [`CommStats::succeeded`] with the answer most take, `OK`: one load of it (four
    /// callers).
    #[inline(never)]
    fn ok(&mut self, t: Timestamp) {
        self.succeeded(t, "OK");
    }

    #[inline(never)]
    fn failed(&mut self, t: Timestamp, reason: &'static str, communication: bool) {
        self.fail = self.fail.saturating_add(1);
        self.ongoing_overall = self.ongoing_overall.saturating_add(1);
        if communication {
            self.ongoing_comm = self.ongoing_comm.saturating_add(1);
        }
        self.failure_reason = Some(reason);
        self.last_failure = Some(t);
    }
}

/// Statistics kept in RAM since boot: attempts are not worth a flash write each.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    pub trust_establishment: CommStats,
    pub trust_sync: CommStats,
    pub usage_reporting: CommStats,
    pub result_polling: CommStats,
    pub authorization_request: CommStats,
    pub authorization_return: CommStats,
}

impl Statistics {
    /// Nothing counted: what `Default` gives, as one constant. The agent starts from it:
    /// built by the derived `Default` in the new agent, each category was cleared and copied
    /// apart (about 330 B of the boot's code); the constant is one zeroed block.
    const NONE: Statistics = {
        const N: CommStats = CommStats {
            total: 0,
            success: 0,
            fail: 0,
            ongoing_overall: 0,
            ongoing_comm: 0,
            last_response: None,
            failure_reason: None,
            last_success: None,
            last_failure: None,
        };
        Statistics {
            trust_establishment: N,
            trust_sync: N,
            usage_reporting: N,
            result_polling: N,
            authorization_request: N,
            authorization_return: N,
        }
    };
}

/// The licensing agent over journal `J`.
#[derive(Debug)]
pub struct Agent<J: Journal> {
    ident: Identity,
    state: State,
    journal: J,
    // Volatile: lost on reboot by design.
    sync: Option<SyncScope>,
    inflight: Option<Inflight>,
    /// Reports in the push on the wire: shown as PENDING (RUM-5), never journaled.
    pending: Vec<u64, { Limits::REPORTS }>,
    last_attempt: Option<Timestamp>,
    stats: Statistics,
    outbox: Option<Outgoing>,
    /// The online return on the wire, removed when the authority confirms it.
    returning: Option<PendingReturn>,
    /// HA trust sync was tried since boot (TRUST-12): once per boot, not on every wakeup.
    trust_synced: bool,
}

/// `state` becomes the fold of `journal`: a fresh state, then the newest snapshot and every
/// record after it (state is the fold of the records, ADR 0001).
fn fold<J: Journal>(
    journal: &mut J,
    catalogue: &[LicenseDef],
    state: &mut State,
) -> Result<(), AgentError> {
    state.reset(catalogue.len());
    journal.replay(state, &mut |state, e| match e {
        Entry::Snapshot => {}
        Entry::Record(r) => state.apply(catalogue, r),
        Entry::Gap => state.mark_missing(),
    })?;
    state.fit_catalogue(catalogue.len());
    Ok(())
}

/// The payload of a verified envelope as `T`. Not inlined: the decoder's temporaries (kilobytes
/// for an ACK) and the signature check's never share one frame. Decoded field by field into a
/// blank `T` (`Decode::decode_into`): by value, each nested struct passed through temporaries
/// of its own, four copies of a 236-byte authorization code on the way out (docs/PERFORMANCE.md,
/// eighth pass).
#[inline(never)]
fn decode_payload<T: for<'b> Decode<'b> + Default>(env: &Envelope<'_>) -> Result<T, AgentError> {
    let mut out = T::default();
    env.read_into(&mut out)?;
    Ok(out)
}

fn is_unreported(r: &Report) -> bool {
    r.has_data() && r.unacknowledged() && r.state != ReportState::Open
}

impl<J: Journal> Agent<J> {
    /// Mount: replay the journal, then close reports left OPEN by the previous run with reason
    /// `RELOAD` (RUM-7).
    pub fn boot(ident: Identity, journal: J, now: Timestamp) -> Result<Self, AgentError> {
        let mut slot = None;
        Self::boot_into(&mut slot, ident, journal, now)?;
        slot.ok_or(AgentError::Journal(JournalError::Corrupt))
    }

    /// [`Agent::boot`] into `slot`, where the agent will live: a firmware keeps its agent in
    /// a static or a long-lived frame, and an agent returned by value passes through the
    /// stack (14 KB or more, twice). On an error `slot` is left empty.
    pub fn boot_into(
        slot: &mut Option<Self>,
        ident: Identity,
        journal: J,
        now: Timestamp,
    ) -> Result<&mut Self, AgentError> {
        // `reboot` folds the journal into the state in place (`State::reset` first), so the
        // state starts as the plain default: `State::new(n)` here was built on the stack
        // (8.8 KB) and then moved into the slot.
        let agent = slot.insert(Agent {
            ident,
            state: State::default(),
            journal,
            sync: None,
            inflight: None,
            pending: Vec::new(),
            last_attempt: None,
            stats: Statistics::NONE,
            outbox: None,
            returning: None,
            trust_synced: false,
        });
        if let Err(e) = agent.reboot(now) {
            *slot = None;
            return Err(e);
        }
        slot.as_mut()
            .ok_or(AgentError::Journal(JournalError::Corrupt))
    }

    /// Reboot: forget everything volatile, rebuild the state from the journal alone, and close
    /// what the previous run left OPEN with reason `RELOAD`.
    ///
    /// The state is rebuilt in place (a second `State` on the stack is 8.7 KB of a
    /// firmware's RAM): if the journal cannot be read, the error says so and the state is
    /// what could be read before it; do not go on with that agent.
    pub fn reboot(&mut self, now: Timestamp) -> Result<(), AgentError> {
        fold(&mut self.journal, &self.ident.catalogue, &mut self.state)?;
        self.sync = None;
        self.inflight = None;
        self.outbox = None;
        self.returning = None;
        self.trust_synced = false;
        self.pending.clear();
        self.last_attempt = None;
        if self
            .state
            .reports
            .iter()
            .any(|r| r.state == ReportState::Open)
        {
            let t = self.now(now);
            self.commit_one(Record::CloseAll { t, reload: true })?;
        }
        Ok(())
    }

    /// Rebuild the state from the journal alone, without touching the agent: equal to
    /// [`Agent::state`] whenever the journal is intact (state is the fold of the records).
    pub fn replayed_state(&mut self) -> Result<State, AgentError> {
        let mut state = State::new(self.ident.catalogue.len());
        fold(&mut self.journal, &self.ident.catalogue, &mut state)?;
        Ok(state)
    }

    pub fn identity(&self) -> &Identity {
        &self.ident
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn journal(&self) -> &J {
        &self.journal
    }

    /// The journal, for a host that manages the storage under it (a simulated power cut).
    /// Writing to it behind the agent's back breaks "state is the fold of the journal".
    pub fn journal_mut(&mut self) -> &mut J {
        &mut self.journal
    }

    /// Give the journal back (e.g. to "reboot" a simulated device).
    pub fn into_journal(self) -> J {
        self.journal
    }

    pub fn catalogue(&self) -> &[LicenseDef] {
        &self.ident.catalogue
    }

    pub fn policy(&self) -> EffectivePolicy {
        effective(self.state.policy.as_ref().map(|p| &p.policy))
    }

    pub fn schedule(&self) -> Schedule {
        schedule::schedule(&self.state, &self.ident.catalogue, self.ident.partner)
    }

    /// Time as the agent uses it: never before the high-water mark, so a clock wound back
    /// cannot extend a deadline or reorder the journal (DESIGN.md §3).
    #[inline(never)] // called from every entry point: one copy
    pub fn now(&self, rtc: Timestamp) -> Timestamp {
        rtc.max(self.state.hwm).min(Timestamp::LATEST)
    }

    /// [`Agent::commit`] of one record, taken by value and never dropped: a record owns no
    /// resources (heapless, no heap), and the drop glue of its strings and vectors was a call
    /// after every commit (docs/PERFORMANCE.md, tenth pass).
    fn commit_one(&mut self, record: RecordRef<'_>) -> Result<(), AgentError> {
        // Committed where the caller put it, then forgotten: `ManuallyDrop::new` first moved
        // it, a 336-byte copy on the push receipt's deepest path.
        let done = self.commit(core::slice::from_ref(&record));
        core::mem::forget(record);
        done
    }

    fn commit(&mut self, records: &[RecordRef<'_>]) -> Result<(), AgentError> {
        self.journal.commit(records, &self.state)?;
        for r in records {
            self.state.apply(&self.ident.catalogue, r);
        }
        Ok(())
    }

    /// A report's state as shown: PENDING while it is in a push on the wire (RUM-5).
    pub fn report_state(&self, r: &Report) -> ReportState {
        if r.state == ReportState::Closed && self.pending.contains(&r.id) {
            ReportState::Pending
        } else {
            r.state
        }
    }

    pub fn license_status(&self, lic: usize) -> LicenseStatus {
        let Some(def) = self.ident.catalogue.get(lic) else {
            return LicenseStatus::NotInUse;
        };
        if needs_authorization(def) && self.state.authorized(lic) == 0 {
            return LicenseStatus::NotAuthorized;
        }
        if self.state.consumed(&self.ident.catalogue, lic) > 0 {
            LicenseStatus::InUse
        } else {
            LicenseStatus::NotInUse
        }
    }

    /// The platform reports `count` of a license in use. Returns the license status; the caller
    /// enables the feature only when it is not `NOT AUTHORIZED` (ENF-7, MISC-12).
    pub fn set_usage(
        &mut self,
        now: Timestamp,
        license: &str,
        count: u32,
    ) -> Result<LicenseStatus, AgentError> {
        let lic = self
            .ident
            .license_index(license)
            .ok_or(AgentError::UnknownLicense)?;
        // A catalogue index fits a `u8` (`Limits::LICENSES`, asserted in `state`): no error
        // path that cannot be taken.
        let lic8 = lic as u8;
        let unchanged = self
            .state
            .usage
            .get(lic)
            .is_some_and(|u| u.requested == count && u.listed);
        if !unchanged {
            let t = self.now(now);
            self.commit_one(Record::Usage {
                t,
                lic: lic8,
                count,
            })?;
        }
        Ok(self.license_status(lic))
    }

    /// Apply a configuration change (CLI-G).
    pub fn configure(&mut self, now: Timestamp, change: ConfigChange) -> Result<(), AgentError> {
        if let ConfigChange::UsageInterval(Some(d)) = change {
            // 1-3650 per the CLI reference, 0 = never send (POL-19, GAP-6).
            if d > 3650 {
                return Err(AgentError::BadValue);
            }
        }
        let t = self.now(now);
        self.commit_one(Record::Config { t, change })
    }

    fn next_measurement(&self) -> Option<Timestamp> {
        if !self
            .state
            .reports
            .iter()
            .any(|r| r.state == ReportState::Open)
        {
            return None;
        }
        self.state
            .last_measure
            .map(|m| m.add_secs(MEASUREMENT_INTERVAL_SECS))
    }

    /// MSG-11 is raised once a day from 30 days before the ACK deadline, unless the device will
    /// meet the deadline on its own: it pushes, its link works, and its next push comes first.
    fn next_alert(&self, sched: &Schedule) -> Option<Timestamp> {
        let deadline = sched.ack_deadline?;
        let on_its_own = self.state.config.transport.pushes()
            && self.state.comm_failing_since.is_none()
            && self.push_time(sched).is_some_and(|p| p < deadline);
        if on_its_own {
            return None;
        }
        let window = deadline.sub_secs(schedule::ALERT_WINDOW_SECS);
        Some(match self.state.last_alert {
            Some(a) => window.max(a.add_secs(SECS_PER_DAY)),
            None => window,
        })
    }

    /// Periodic work: 15-minute measurements and the reporting-required alert (MSG-11).
    pub fn tick(&mut self, now: Timestamp, sink: &mut dyn EventSink) -> Result<(), AgentError> {
        let t = self.now(now);
        if self.next_measurement().is_some_and(|m| t >= m) {
            self.commit_one(Record::Measure { t })?;
        }
        let sched = self.schedule();
        // Connected directly without a usable trust code: a due push fails here, on the retry
        // schedule, and says why (TRUST-2, TRUST-3, MSG-3).
        if self.direct_blocked() && self.inflight.is_none() && self.push_due(&sched, t) {
            // As a real first attempt would, the first one closes the OPEN reports; retries
            // then send what is closed once trust is there.
            if self.state.comm_failing_since.is_none() {
                self.commit_one(Record::CloseAll { t, reload: false })?;
            }
            self.last_attempt = Some(t);
            self.stats.usage_reporting.attempted();
            self.push_failed(
                t,
                "Insufficient trust for direct communication",
                false,
                sink,
            )?;
        }
        if let (Some(deadline), Some(at)) = (sched.ack_deadline, self.next_alert(&sched))
            && t >= at
        {
            let days = schedule::days_until(t, deadline);
            self.commit_one(Record::Alerted { t, days })?;
            emit(sink, Message::ReportingRequired(days));
        }
        Ok(())
    }

    /// A scheduled push is due at `t`: its time has come, and the retry schedule lets it go.
    #[inline(never)] // `tick` and `poll_transmit`: one copy
    fn push_due(&self, sched: &Schedule, t: Timestamp) -> bool {
        self.push_time(sched).is_some_and(|p| t >= p) && self.retry_due(t)
    }

    fn retry_due(&self, t: Timestamp) -> bool {
        match (self.state.comm_failing_since, self.last_attempt) {
            (Some(since), Some(last)) => {
                let gap = if t < since.add_secs(schedule::RETRY_WINDOW_SECS) {
                    schedule::RETRY_FAST_SECS
                } else {
                    schedule::RETRY_SLOW_SECS
                };
                t >= last.add_secs(gap)
            }
            _ => true,
        }
    }

    #[inline(never)] // one copy for the schedule, the wakeup and the push
    fn push_time(&self, sched: &Schedule) -> Option<Timestamp> {
        let next = sched.next_push?;
        // RUM-14: at most one automatic push per rolling 24 h.
        let throttle = self
            .state
            .last_push
            .map_or(Timestamp::ZERO, |p| p.add_secs(schedule::THROTTLE_SECS));
        Some(next.max(throttle))
    }

    /// `Next report push:` (POL-22): the scheduled time, held back by the daily throttle on
    /// transports that push (RUM-14).
    pub fn next_push(&self) -> Option<Timestamp> {
        let sched = self.schedule();
        if self.state.config.transport.pushes() {
            self.push_time(&sched)
        } else {
            sched.next_push
        }
    }

    /// Run the agent's own timers from `from` to `until` (device time): wake whenever
    /// [`Agent::next_wakeup`] says, do the periodic work ([`Agent::tick`]) and look for a
    /// message to send ([`Agent::poll_transmit`]). It stops early at a wake where a message
    /// must go out or a system message was raised, so the caller can send or show it at that
    /// time; the caller passes the answer to [`Agent::on_response`] and calls again from the
    /// returned time. A device's main loop and the simulator both drive time through this, so
    /// they wake at the same instants.
    pub fn advance(
        &mut self,
        from: Timestamp,
        until: Timestamp,
        sink: &mut dyn EventSink,
        key: &mut dyn DeviceKey,
        buf: &mut [u8],
    ) -> Advanced {
        let mut now = from;
        loop {
            let wake = self.next_wakeup().map(|w| w.max(now.add_secs(1)));
            let (t, done) = match wake {
                Some(w) if w <= until => (w, false),
                _ => (now.max(until), true),
            };
            now = t;
            let mut counted = Counted { inner: sink, n: 0 };
            let mut errors = Vec::new();
            if let Err(e) = self.tick(now, &mut counted) {
                let _ = errors.push(e);
            }
            let raised = counted.n > 0;
            let transmit = match self.poll_transmit(now, key, buf) {
                Ok(t) => t,
                Err(e) => {
                    let _ = errors.push(e);
                    None
                }
            };
            if transmit.is_some() || raised || done || !errors.is_empty() {
                return Advanced {
                    at: now,
                    transmit,
                    errors,
                    done,
                };
            }
        }
    }

    /// When the agent next needs [`Agent::tick`] or [`Agent::poll_transmit`]; `None` = only on input.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        let sched = self.schedule();
        let mut at = self.next_measurement();
        let mut take = |t: Option<Timestamp>| at = schedule::min_opt(at, t);
        take(self.next_alert(&sched));
        if self.state.config.transport.pushes() {
            if self.sync.is_some() {
                take(Some(self.state.hwm));
            }
            let push = self.push_time(&sched);
            match (self.state.comm_failing_since, self.last_attempt) {
                (Some(since), Some(last)) => {
                    let fast = last.add_secs(schedule::RETRY_FAST_SECS);
                    let slow = last.add_secs(schedule::RETRY_SLOW_SECS);
                    let window = since.add_secs(schedule::RETRY_WINDOW_SECS);
                    take(push.map(|p| p.max(if fast < window { fast } else { slow })));
                }
                _ => take(push),
            }
            if self.state.poll_pending.is_some() {
                take(self.state.next_poll);
            }
        }
        at
    }

    /// `license smart sync`: send now, whatever the throttle (RUM-14, CLI-E9).
    pub fn request_sync(&mut self, scope: SyncScope) -> Result<(), AgentError> {
        if !self.state.config.transport.pushes() {
            return Err(AgentError::TransportOff);
        }
        if self.direct_blocked() {
            return Err(AgentError::NoTrust);
        }
        self.sync = Some(scope);
        Ok(())
    }

    /// Build the next message for the authority into `buf`, if one is due. The caller sends
    /// it and passes the answer (or the failure) to [`Agent::on_response`].
    pub fn poll_transmit(
        &mut self,
        now: Timestamp,
        key: &mut dyn DeviceKey,
        buf: &mut [u8],
    ) -> Result<Option<Transmit>, AgentError> {
        if self.inflight.is_some() || !self.state.config.transport.pushes() {
            return Ok(None);
        }
        let t = self.now(now);
        if self.outbox.is_none() {
            self.outbox = self.trust_sync(t).map(Outgoing::Trust);
        }
        if let Some(out) = self.outbox.take() {
            return self.send_outbox(out, key, buf).map(Some);
        }
        if self.direct_blocked() {
            // Nothing but trust requests goes out until trust is established (`tick` says so).
            return Ok(None);
        }
        let sched = self.schedule();
        let sync = self.sync.take();
        let due = self.push_due(&sched, t);
        if sync.is_some() || due {
            // A fresh attempt closes the OPEN reports; a retry resends what is already closed.
            if sync.is_some() || self.state.comm_failing_since.is_none() {
                self.commit_one(Record::CloseAll { t, reload: false })?;
            }
            let origin = if sync.is_some() {
                UsageOrigin::Sync
            } else {
                UsageOrigin::Push
            };
            let len = self.seal_usage(t, origin, &is_unreported, key, buf)?;
            self.inflight = Some(Inflight::Push);
            self.pending.clear();
            for r in self.state.reports.iter().filter(|r| is_unreported(r)) {
                let _ = self.pending.push(r.id);
            }
            self.last_attempt = Some(t);
            self.stats.usage_reporting.attempted();
            return Ok(Some(Transmit {
                kind: TransmitKind::Push,
                len,
            }));
        }
        if let (Some(tx), Some(at)) = (self.state.poll_pending, self.state.next_poll)
            && t >= at
        {
            let poll = AckPoll {
                udi: self.ident.udi.clone(),
                created_at: t,
                transaction: tx,
            };
            let len = envelope::seal(Kind::AckPoll, &poll, key, buf)?;
            self.inflight = Some(Inflight::Poll);
            self.stats.result_polling.attempted();
            return Ok(Some(Transmit {
                kind: TransmitKind::AckPoll,
                len,
            }));
        }
        Ok(None)
    }

    /// Seal a queued request (trust, authorization, return) for the authority.
    #[inline(never)]
    fn send_outbox(
        &mut self,
        out: Outgoing,
        key: &mut dyn DeviceKey,
        buf: &mut [u8],
    ) -> Result<Transmit, AgentError> {
        // What the queued request says of itself: the statistics it counts in (counted before
        // it is built, whether or not it seals) and the answer it waits for.
        let (stats, inflight) = match &out {
            Outgoing::Trust(p) if p.token.is_some() => (
                &mut self.stats.trust_establishment,
                Inflight::Trust(p.created_at),
            ),
            Outgoing::Trust(p) => (&mut self.stats.trust_sync, Inflight::Sync(p.created_at)),
            Outgoing::Auth(p) => (
                &mut self.stats.authorization_request,
                Inflight::Auth(p.created_at),
            ),
            Outgoing::Return(p) => (
                &mut self.stats.authorization_return,
                Inflight::Return(p.created_at),
            ),
        };
        stats.attempted();
        let (kind, len) = match &out {
            Outgoing::Trust(p) => (
                TransmitKind::TrustRequest,
                envelope::seal(Kind::TrustRequest, &self.trust_message(p), key, buf)?,
            ),
            Outgoing::Auth(p) => (
                TransmitKind::AuthRequest,
                envelope::seal(Kind::AuthRequest, &self.auth_message(p)?, key, buf)?,
            ),
            Outgoing::Return(p) => (
                TransmitKind::AuthReturn,
                envelope::seal(Kind::AuthReturn, &self.return_message(p), key, buf)?,
            ),
        };
        if let Outgoing::Return(r) = out {
            self.returning = Some(r);
        }
        self.inflight = Some(inflight);
        Ok(Transmit { kind, len })
    }

    fn seal_usage(
        &self,
        t: Timestamp,
        origin: UsageOrigin,
        select: &dyn Fn(&Report) -> bool,
        key: &mut dyn DeviceKey,
        buf: &mut [u8],
    ) -> Result<usize, AgentError> {
        let trust = self.trust_wanted();
        let auth = self.auth_wanted();
        let view = UsageView {
            udi: &self.ident.udi,
            created_at: t,
            origin,
            send_version: !self.state.config.privacy.version,
            journal_head: self.journal.head(),
            trust_request: &trust,
            auth_request: &auth,
            state: &self.state,
            catalogue: &self.ident.catalogue,
            select,
        };
        Ok(envelope::seal(Kind::UsageReport, &view, key, buf)?)
    }

    /// Licenses in use that need an authorization code the device does not hold (AUTH-6: a
    /// SLAC request goes with the usage report).
    fn auth_wanted(&self) -> Vec<AuthLicense, { Limits::LICENSES }> {
        let mut out = Vec::new();
        for (lic, def) in self.ident.catalogue.iter().enumerate() {
            let requested = self.state.usage.get(lic).map_or(0, |u| u.requested);
            let authorized = self.state.authorized(lic);
            // The name fits: `LicenseDef::new` bounds it.
            if needs_authorization(def)
                && requested > authorized
                && let Ok(feature) = bounded(def.name)
            {
                let _ = out.push(AuthLicense {
                    feature,
                    count: requested - authorized,
                });
            }
        }
        out
    }

    /// The answer to the last [`Agent::poll_transmit`] message, or why it failed.
    pub fn on_response(
        &mut self,
        now: Timestamp,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        self.pending.clear();
        let Some(inflight) = self.inflight.take() else {
            return Ok(());
        };
        let t = self.now(now);
        match inflight {
            Inflight::Push => self.on_push_response(t, response, sink),
            Inflight::Poll => self.on_poll_response(t, response, sink),
            Inflight::Trust(created) | Inflight::Sync(created) => {
                let sync = matches!(inflight, Inflight::Sync(_));
                self.on_trust_reply(t, created, response, sync, sink)
            }
            Inflight::Auth(created) | Inflight::Return(created) => {
                // A return's answer confirms the return sent, if the agent still has it.
                let sent = matches!(inflight, Inflight::Return(_)).then(|| self.returning.take());
                self.on_auth_reply(
                    t,
                    created,
                    sent.as_ref().map(Option::as_ref),
                    response,
                    sink,
                )
            }
        }
    }

    fn push_failed(
        &mut self,
        t: Timestamp,
        reason: &'static str,
        comm: bool,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        emit(
            sink,
            Message::CommFailed(self.state.config.transport, reason),
        );
        self.stats.usage_reporting.failed(t, reason, comm);
        if self.state.comm_failing_since.is_none() {
            self.commit_one(Record::CommFailed { t })?;
        }
        Ok(())
    }

    #[inline(never)] // its decoded messages stay off the callers' stacks
    fn on_push_response(
        &mut self,
        t: Timestamp,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let bytes = match response {
            Ok(b) => b,
            Err(e) => return self.push_failed(t, e.detail(), true, sink),
        };
        let receipt = self.open_inbound::<PushReceipt>(bytes, Kind::PushReceipt);
        match receipt {
            Ok(r) if r.udi == self.ident.udi => self.pushed(t, &r, sink),
            _ => self.push_failed(t, "invalid response", false, sink),
        }
    }

    /// The authority took the push (its receipt checked). Not inlined: the records built
    /// here and the receipt's signature check never share the stack.
    #[inline(never)]
    fn pushed(
        &mut self,
        t: Timestamp,
        r: &PushReceipt,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let restored = self.state.comm_failing_since.is_some();
        let (transaction, poll_at) = (
            r.transaction,
            t.add_secs(u64::from(r.poll_after_secs).max(1)),
        );
        // Two records only when the link comes back (each is a `RecordRef`: 336 bytes), each
        // built where it is committed: moving one into the pair was a copy on this, the push
        // receipt's, deepest path.
        if restored {
            let both = [
                Record::CommRestored { t },
                Record::Pushed {
                    t,
                    transaction,
                    poll_at,
                },
            ];
            let done = self.commit(&both);
            core::mem::forget(both);
            done?;
        } else {
            self.commit_one(Record::Pushed {
                t,
                transaction,
                poll_at,
            })?;
        }
        self.stats.usage_reporting.ok(t);
        if restored {
            emit(sink, Message::CommRestored(self.state.config.transport));
        }
        Ok(())
    }

    #[inline(never)] // its decoded messages stay off the callers' stacks
    fn on_poll_response(
        &mut self,
        t: Timestamp,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let transport = self.state.config.transport;
        let failure: (&'static str, bool) = match response {
            Err(e) => (e.detail(), true),
            Ok(bytes) => {
                match envelope::open(bytes, Limits::INBOUND_PAYLOAD_BYTES).map(|e| e.kind()) {
                    Ok(Kind::Ack) => match self.take_ack(t, bytes, sink) {
                        Ok(_) => {
                            self.stats.result_polling.succeeded(t, "ACK");
                            return Ok(());
                        }
                        Err(_) => ("invalid ACK", false),
                    },
                    // Not ready: the ACK comes with the next push or sync (ADR 0002).
                    Ok(Kind::PushReceipt) => {
                        self.stats.result_polling.succeeded(t, "NOT READY");
                        return self.poll_done(t);
                    }
                    _ => ("invalid response", false),
                }
            }
        };
        emit(sink, Message::CommFailed(transport, failure.0));
        self.stats.result_polling.failed(t, failure.0, failure.1);
        self.poll_done(t)
    }

    /// The poll is over without an ACK. Not inlined: its record stays out of
    /// `on_poll_response`'s frame, which is under the ACK's.
    #[inline(never)]
    fn poll_done(&mut self, t: Timestamp) -> Result<(), AgentError> {
        self.commit_one(Record::PollDone { t })
    }

    /// Communication statistics since boot (`show license history message`).
    pub fn statistics(&self) -> &Statistics {
        &self.stats
    }

    /// Whether a verified online answer's `head` answers the request made at `created` and is
    /// newer than every applied authority message; the error says whether it is older (the
    /// trust and authorization answers' one check).
    #[inline(never)] // two callers: one copy
    fn answers(&self, head: &crate::decode::ResponseHead, created: Timestamp) -> Result<(), bool> {
        if head.udi != self.ident.udi || head.request_created_at != created {
            return Err(false);
        }
        if head.seq <= self.state.seq_hwm {
            return Err(true);
        }
        Ok(())
    }

    /// Decode and verify an authority message of `kind` (DESIGN.md §2.6).
    #[inline(always)] // two calls: no body of its own for each message type
    fn open_inbound<T: for<'b> Decode<'b> + Default>(
        &self,
        bytes: &[u8],
        kind: Kind,
    ) -> Result<T, AgentError> {
        let env = self.verified(bytes, kind)?;
        decode_payload(&env)
    }

    /// An online answer of `kind`, its signature checked; the error is (detail, whether
    /// communication failed), as the statistics show it.
    fn verified_answer<'b>(
        &self,
        response: Result<&'b [u8], CommError>,
        kind: Kind,
    ) -> Result<Envelope<'b>, (&'static str, bool)> {
        let bytes = response.map_err(|e| (e.detail(), true))?;
        self.verified(bytes, kind)
            .map_err(|_| ("invalid response", false))
    }

    /// The envelope of an authority message of `kind`, its signature checked. One copy for
    /// every message type (not inlined into `open_inbound`'s instances), and its stack is
    /// released before the payload is decoded.
    #[inline(never)]
    fn verified<'b>(&self, bytes: &'b [u8], kind: Kind) -> Result<Envelope<'b>, AgentError> {
        let env = envelope::open(bytes, Limits::INBOUND_PAYLOAD_BYTES)?;
        if env.kind() != kind {
            return Err(AgentError::Envelope(EnvelopeError::WrongKind(env.kind())));
        }
        env.verify(&self.ident.authority_keys)?;
        Ok(env)
    }

    /// Verify, decode and apply an ACK (a polled answer or an imported file). The signature
    /// is checked before the decoded ACK (3 KB) has a frame: the two never share the stack.
    fn take_ack(
        &mut self,
        t: Timestamp,
        bytes: &[u8],
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        let env = self.verified(bytes, Kind::Ack)?;
        self.take_verified_ack(t, &env, sink)
    }

    /// [`Agent::take_ack`] after the signature check. The ACK is decoded straight into its
    /// journal record, and its trust and authorization codes are checked one at a time as
    /// they are decoded: the wire ACK (3 KB) is never on the stack. Not inlined: the record
    /// lives in this frame only, not in its callers'.
    #[inline(never)]
    fn take_verified_ack(
        &mut self,
        t: Timestamp,
        env: &Envelope<'_>,
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        let mut ack = AckRecord::default();
        let malformed = |_| AgentError::Envelope(EnvelopeError::Malformed);
        let mut r = crate::decode::Reader::new(env.payload());
        let mut udi = Udi::default();
        crate::decode::ack_head(&mut r, &mut udi, &mut ack).map_err(malformed)?;
        // Only an ACK newer than every applied authority message may change the account,
        // policy, trust or authorization (DESIGN.md §3); an older one only acknowledges.
        let fresh = ack.seq > self.state.seq_hwm;
        // The checked codes go straight into the record (`ack_head` left them empty).
        let (trust, auth) = (&mut ack.trust, &mut ack.auth);
        crate::decode::ack_codes(
            &mut r,
            &mut |c| {
                if fresh {
                    self.ack_trust(trust, &c, t);
                }
            },
            &mut |c| {
                if fresh {
                    self.ack_auth(auth, &c, t);
                }
            },
        )
        .map_err(malformed)?;
        if !r.rest().is_empty() {
            return Err(malformed(crate::decode::Malformed));
        }
        if udi != self.ident.udi {
            return Err(AgentError::WrongDevice);
        }
        self.apply_ack(fresh, &[Record::Ack { t, ack: &ack }], sink)
    }

    /// Commit and announce an ACK record decoded by [`Agent::take_verified_ack`] (`fresh`: it
    /// is newer than every applied authority message).
    fn apply_ack(
        &mut self,
        fresh: bool,
        record: &[RecordRef<'_>; 1],
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        let [Record::Ack { ack, .. }] = record else {
            return Err(AgentError::Envelope(EnvelopeError::Malformed));
        };
        let news = ack
            .reports
            .iter()
            .filter(|a| {
                self.state
                    .report(a.id)
                    .is_some_and(|r| r.state != ReportState::Ack)
            })
            .count();
        let account_news = fresh
            && ack.account.as_ref().is_some_and(|a| {
                self.state
                    .account
                    .as_ref()
                    .is_none_or(|c| c != a && a.as_of >= c.as_of)
            });
        let policy_news = fresh
            && ack
                .policy
                .as_ref()
                .is_some_and(|p| self.policy_is_news(p, ack.issued_at));
        let code_news = !ack.trust.is_empty() || !ack.auth.is_empty();
        if news == 0
            && !account_news
            && !policy_news
            && !code_news
            && ack.seq <= self.state.last_ack_seq
        {
            // Re-importing the same ACK is a harmless no-op (DESIGN.md §3).
            return Ok(Imported::AlreadyApplied(Kind::Ack));
        }
        if !fresh && news == 0 {
            return Err(AgentError::Stale);
        }
        self.commit(record)?;
        if policy_news {
            emit(sink, Message::PolicyInstallSuccess);
        }
        for (slot, _) in ack.trust.iter() {
            self.ident.announce(sink, *slot, Said::TrustInstalled);
        }
        for (slot, _) in ack.auth.iter() {
            self.ident.announce(sink, *slot, Said::AuthInstalled);
        }
        Ok(Imported::Ack {
            reports: news,
            policy_installed: policy_news,
        })
    }

    fn policy_is_news(&self, p: &CustomPolicy, issued_at: Timestamp) -> bool {
        self.state
            .policy
            .as_ref()
            .is_none_or(|cur| &cur.policy != p && issued_at >= cur.issued_at)
    }

    /// `license smart import <file>` (CLI-E6, FILE-2): verify the file completely, then
    /// install it. A refused file changes nothing; policy failures raise MSG-1.
    pub fn import(
        &mut self,
        now: Timestamp,
        text: &[u8],
        scratch: &mut [u8],
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        // A file that says what it is gets that kind's failure message, however broken
        // (MSG-1 policy, MSG-6 trust code, MSG-2 authorization code).
        let said = text
            .split(|b| *b == b'\n')
            .next()
            .and_then(|l| core::str::from_utf8(l).ok())
            .map(str::trim_ascii)
            .and_then(|l| l.strip_prefix("-----BEGIN "))
            // A truncated first line still says what the file claims to be.
            .and_then(|l| kind_of_label(l, false));
        let result = self.import_inner(now, text, scratch, sink);
        if let Err(e) = result {
            let why = Why::Error(e);
            let udi = &self.ident.udi;
            match said {
                Some(Kind::Policy) => emit(sink, Message::PolicyInstallFailed(why)),
                Some(Kind::TrustCode | Kind::TrustResponse) => {
                    emit(sink, Message::TrustInstallFailed(udi, why))
                }
                Some(Kind::AuthCode | Kind::AuthResponse) => {
                    emit(sink, Message::AuthInstallFailed(udi, why))
                }
                _ => {}
            }
        }
        result
    }

    fn import_inner(
        &mut self,
        now: Timestamp,
        text: &[u8],
        scratch: &mut [u8],
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        if text.len() > Limits::IMPORT_FILE_BYTES {
            return Err(EnvelopeError::TooLarge.into());
        }
        let (label, n) = envelope::dearmour(text, scratch)?;
        let kind = kind_of_label(label, true).ok_or(EnvelopeError::Armour)?;
        let bytes = scratch.get(..n).ok_or(EnvelopeError::Malformed)?;
        let t = self.now(now);
        match kind {
            Kind::Ack
            | Kind::Policy
            | Kind::TrustCode
            | Kind::TrustResponse
            | Kind::AuthCode
            | Kind::AuthResponse => {}
            // Outbound kinds and online-only answers are not files a device installs.
            _ => return Err(AgentError::NotImportable),
        }
        // Every file's signature checked by one call (one per kind before), before a decoded
        // file has a frame: the two never share the stack. Each file is checked for the kind
        // its armour says.
        let env = self.verified(bytes, kind)?;
        match kind {
            Kind::Ack => self.take_verified_ack(t, &env, sink),
            Kind::Policy => {
                let p: PolicyPayload = decode_payload(&env)?;
                self.install_policy_file(t, p, sink)
            }
            Kind::TrustResponse => self.import_trust_response(t, &env, sink),
            Kind::TrustCode => self.import_trust_code(t, &env, sink),
            Kind::AuthResponse => self.import_auth_response(t, &env, sink),
            _ => self.import_auth_code(t, &env, sink),
        }
    }

    #[inline(never)] // its decoded messages stay off the callers' stacks
    fn install_policy_file(
        &mut self,
        t: Timestamp,
        p: PolicyPayload,
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        if p.udi != self.ident.udi {
            return Err(AgentError::WrongDevice);
        }
        if let Some(cur) = &self.state.policy {
            if cur.policy == p.policy && cur.issued_at == p.issued_at {
                return Ok(Imported::AlreadyApplied(Kind::Policy));
            }
            if p.issued_at < cur.issued_at {
                return Err(AgentError::Stale);
            }
        }
        if p.seq <= self.state.seq_hwm {
            return Err(AgentError::Stale);
        }
        self.commit_one(Record::PolicyInstalled {
            t,
            policy: p.policy,
            issued_at: p.issued_at,
            seq: p.seq,
        })?;
        emit(sink, Message::PolicyInstallSuccess);
        Ok(Imported::Policy)
    }

    /// Start of the current local day, for `save usage days <n>` (GAP-37: device time zone).
    pub fn today_start(&self, now: Timestamp) -> Timestamp {
        let tz = &self.state.config.timezone;
        let c = civil(self.now(now), tz);
        timestamp_of(
            Civil {
                hour: 0,
                minute: 0,
                second: 0,
                ..c
            },
            tz,
        )
        .unwrap_or(Timestamp::ZERO)
    }

    /// `license smart save usage … file <path>` (RUM-18): close the OPEN reports, write the
    /// selected reports as a signed, armoured file, then mark them reported. Returns the number
    /// of reports written.
    #[allow(clippy::too_many_arguments)]
    pub fn save_usage(
        &mut self,
        now: Timestamp,
        selection: Selection,
        path: &str,
        files: &mut dyn Files,
        key: &mut dyn DeviceKey,
        bin: &mut [u8],
        text: &mut [u8],
    ) -> Result<usize, AgentError> {
        let t = self.now(now);
        if let Selection::RumId(id) = selection
            && !self
                .state
                .reports
                .iter()
                .any(|r| r.id == id && r.has_data())
        {
            return Err(AgentError::NoSuchReport);
        }
        self.commit_one(Record::CloseAll { t, reload: false })?;
        let select = |r: &Report| selection.matches(r);
        // A plain walk: `filter(..).count()` inlined its closure in both of its loops.
        let mut count = 0;
        for r in self.state.reports.iter() {
            if select(r) {
                count += 1;
            }
        }
        let n = self.seal_usage(t, UsageOrigin::File, &select, key, bin)?;
        write_armoured(Kind::UsageReport, n, bin, text, path, files)?;
        self.commit_one(Record::Saved { t, selection })?;
        Ok(count)
    }

    /// Take in what the factory provisioned (AUTH-6 "pre-installed at the factory", \[003:349\]):
    /// a custom policy and authorization codes, each an authority-signed envelope for this
    /// device. Done once, on the first boot; a factory reset does not bring them back.
    /// Returns whether anything was installed.
    pub fn install_factory(
        &mut self,
        now: Timestamp,
        policy: Option<&[u8]>,
        codes: &[&[u8]],
    ) -> Result<bool, AgentError> {
        if self.state.provisioned {
            return Ok(false);
        }
        let t = self.now(now);
        let policy = match policy {
            Some(bytes) => {
                let p: PolicyPayload = self.open_inbound(bytes, Kind::Policy)?;
                if p.udi != self.ident.udi {
                    return Err(AgentError::WrongDevice);
                }
                Some((p.policy, p.issued_at))
            }
            None => None,
        };
        let mut entries: Vec<(u8, crate::state::AuthEntry), { Limits::HA_MEMBERS }> = Vec::new();
        for bytes in codes {
            // Decoded where it is checked: `decode_payload` returned it and it was copied.
            let mut file: crate::wire::AuthCodeFile = blank();
            self.verified(bytes, Kind::AuthCode)?.read_into(&mut file)?;
            let e = self
                .check_auth_code(&file.code, t)
                .map_err(AgentError::Refused)?;
            entries.push(e).map_err(|_| AgentError::Capacity)?;
        }
        let any = policy.is_some() || !entries.is_empty();
        self.commit_one(Record::Provisioned {
            t,
            policy,
            codes: entries,
        })?;
        Ok(any)
    }

    /// `license smart factory reset` (MISC-4, CLI-E5): remove all licensing information but the
    /// licenses in use (reports, policy, account, trust and authorization codes, history).
    /// A removed custom policy says so (MSG-5); removed codes too (MSG-10). The factory trust
    /// code stays: it comes with the hardware.
    pub fn factory_reset(
        &mut self,
        now: Timestamp,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let t = self.now(now);
        let had_policy = self.state.policy.is_some();
        // Bit `n`: slot `n` held a code (a mask, not a list of slots: its pushes were code).
        const _: () = assert!(Limits::HA_MEMBERS <= 32);
        let mut had_auth = 0u32;
        for (i, a) in self.state.auth.iter().enumerate() {
            if a.is_some() {
                had_auth |= 1 << i;
            }
        }
        self.commit_one(Record::FactoryReset { t })?;
        self.outbox = None;
        if had_policy {
            emit(sink, Message::PolicyRemoved);
        }
        for slot in 0..Limits::HA_MEMBERS {
            if had_auth & (1 << slot) != 0 {
                self.ident.announce(sink, slot as u8, Said::AuthRemoved);
            }
        }
        Ok(())
    }

    /// `license smart clear eventlog` (CLI-E3).
    pub fn clear_eventlog(&mut self, now: Timestamp) -> Result<(), AgentError> {
        let t = self.now(now);
        self.commit_one(Record::EventLogCleared { t })
    }

    /// Remove the custom policy; the Cisco default applies (POL-16, MSG-5).
    pub fn remove_policy(
        &mut self,
        now: Timestamp,
        sink: &mut dyn EventSink,
    ) -> Result<bool, AgentError> {
        if self.state.policy.is_none() {
            return Ok(false);
        }
        let t = self.now(now);
        self.commit_one(Record::PolicyRemoved { t })?;
        emit(sink, Message::PolicyRemoved);
        Ok(true)
    }
}

/// Write the `n` sealed bytes at the start of `bin` to `path` as `kind`'s text armour (the
/// saved files' one tail: one copy instead of four).
pub(super) fn write_armoured(
    kind: Kind,
    n: usize,
    bin: &[u8],
    text: &mut [u8],
    path: &str,
    files: &mut dyn Files,
) -> Result<(), AgentError> {
    let env = bin.get(..n).ok_or(EnvelopeError::NoSpace)?;
    let m = envelope::armour(kind.armour_label(), env, text)?;
    files.write(path, text.get(..m).ok_or(EnvelopeError::NoSpace)?)?;
    Ok(())
}

/// The kind a text armour label names: `label` itself (`exact`), or the start of a first line
/// after `-----BEGIN `, whole or cut off (`TALLY ACK` is not `TALLY ACK POLL`).
fn kind_of_label(label: &str, exact: bool) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| {
        label
            .strip_prefix(k.armour_label())
            .is_some_and(|rest| rest.is_empty() || (!exact && rest.starts_with('-')))
    })
}

/// A blank value to decode into, built by one body for all the callers of its type (a
/// response head: six readers of the answers; an authorization code file: imported and from
/// the factory). Inlined, each had a copy of the default.
#[inline(never)]
fn blank<T: Default>() -> T {
    T::default()
}

fn emit(sink: &mut dyn EventSink, m: Message<'_>) {
    sink.emit(m.severity(), &m.to_line());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RamJournal;
    use crate::render;
    use tally_hal::mock::{RecordingSink, SoftwareKey};
    use tally_hal::{Enforcement, Term};

    fn agent() -> Agent<RamJournal<8192>> {
        let def = LicenseDef::new(
            "lic",
            "LIC",
            "regid.x",
            "lic",
            Enforcement::Unenforced,
            Term::Perpetual,
        )
        .unwrap();
        let mut catalogue = Vec::new();
        catalogue.push(def).unwrap();
        let ident = Identity {
            udi: Udi::new("PID", "SN").unwrap(),
            members: Vec::new(),
            catalogue,
            partner: false,
            release: Release::V17_7,
            authority_keys: Vec::new(),
            trust: Default::default(),
        };
        Agent::boot(ident, RamJournal::new(), Timestamp(1_000_000)).unwrap()
    }

    #[test]
    fn slots_are_read_as_the_slot_list_has_them() {
        // `slot_udi`, `slot_of` and `slot_count` read the members directly: the same answers
        // as walking `slots()`, alone and in an HA set (where this device is one member).
        let mut id = agent().ident;
        for members in [0, 1, 3] {
            id.members.clear();
            for i in 0..members {
                let udi = if i == 1 {
                    id.udi.clone()
                } else {
                    Udi::new("PID", &std::format!("SN{i}")).unwrap()
                };
                let role = if i == 0 {
                    HaRole::Active
                } else {
                    HaRole::Standby
                };
                id.members.push(tally_hal::HaMember { role, udi }).unwrap();
            }
            let walked: std::vec::Vec<Udi> = id.slots().map(|(_, u)| u.clone()).collect();
            assert_eq!(id.slot_count(), walked.len());
            for (i, u) in walked.iter().enumerate() {
                assert_eq!(id.slot_udi(i), Some(u));
                assert_eq!(id.slot_of(u), Some(i));
            }
            assert_eq!(id.slot_udi(walked.len()), None);
            assert_eq!(id.slot_of(&Udi::new("PID", "other").unwrap()), None);
            let own = walked.iter().position(|u| *u == id.udi);
            assert_eq!(id.slot_of(&id.udi.clone()), own);
        }
    }

    #[test]
    fn a_factory_reset_says_which_slots_lost_a_code() {
        // MSG-10 once for each slot that held an authorization code, in slot order, and not
        // for a slot without one.
        let mut a = agent();
        for i in 0..3 {
            let udi = Udi::new("PID", &std::format!("SN{i}")).unwrap();
            let role = if i == 0 {
                HaRole::Active
            } else {
                HaRole::Standby
            };
            a.ident.members.push(HaMember { role, udi }).unwrap();
        }
        let code = crate::state::AuthEntry {
            kind: crate::wire::AuthKind::Slac,
            serial: 1,
            issued_at: Timestamp(1),
            installed_at: Timestamp(1),
            licenses: Vec::new(),
        };
        a.state.auth[0] = Some(code.clone());
        a.state.auth[2] = Some(code);
        let mut sink = RecordingSink::default();
        a.factory_reset(Timestamp(1_000_000), &mut sink).unwrap();
        let removed: std::vec::Vec<_> = sink
            .messages
            .iter()
            .map(|(_, m)| m.as_str())
            .filter(|m| m.contains("AUTHORIZATION_REMOVED"))
            .collect();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(removed[0].ends_with("PID:PID,SN:SN0"), "{removed:?}");
        assert!(removed[1].ends_with("PID:PID,SN:SN2"), "{removed:?}");
    }

    #[test]
    fn statistics_start_from_nothing() {
        // The agent's statistics start from the constant, which must be `Default`'s.
        assert_eq!(Statistics::NONE, Statistics::default());
        assert_eq!(agent().statistics(), &Statistics::default());
    }

    #[test]
    fn armour_labels_name_their_kinds() {
        // Exact: the label between `-----BEGIN ` and `-----`; a longer label that starts with
        // a kind's is not that kind.
        assert_eq!(kind_of_label("TALLY ACK", true), Some(Kind::Ack));
        assert_eq!(kind_of_label("TALLY ACK POLL", true), Some(Kind::AckPoll));
        assert_eq!(kind_of_label("TALLY ACKX", true), None);
        assert_eq!(kind_of_label("TALLY ACK-----", true), None);
        assert_eq!(kind_of_label("TALLY PO", true), None);
        // A first line, whole or cut off after the label (MSG-1, MSG-6, MSG-2).
        assert_eq!(
            kind_of_label("TALLY POLICY-----", false),
            Some(Kind::Policy)
        );
        assert_eq!(kind_of_label("TALLY POLICY--", false), Some(Kind::Policy));
        assert_eq!(
            kind_of_label("TALLY ACK POLL---", false),
            Some(Kind::AckPoll)
        );
        assert_eq!(kind_of_label("TALLY POLI", false), None);
        for k in Kind::ALL {
            assert_eq!(kind_of_label(k.armour_label(), true), Some(k));
        }
    }

    #[test]
    fn an_overlong_id_token_changes_nothing() {
        // Bad input gets an error and changes nothing: not even the once-per-boot trust sync.
        use tally_hal::DeviceKey;
        let mut a = agent();
        a.ident.trust.device_key = Some(SoftwareKey::from_seed(b"k").public_key());
        let t = Timestamp(1_000_000);
        let long = "t".repeat(crate::wire::ID_TOKEN_LEN + 1);
        assert!(a.trust_idtoken(t, &long, SyncScope::Local, false).is_err());
        assert!(!a.trust_synced);
        assert!(a.outbox.is_none());
        a.trust_idtoken(t, "token", SyncScope::Local, false)
            .unwrap();
        assert!(a.trust_synced);
        assert!(a.outbox.is_some());
    }

    #[test]
    fn reports_on_the_wire_show_as_pending() {
        // RUM-5: OPEN -> CLOSED -> (PENDING) -> UNACK; PENDING lives only while the push is out.
        let mut a = agent();
        let mut key = SoftwareKey::from_seed(b"k");
        let mut sink = RecordingSink::default();
        a.set_usage(Timestamp(1_000_000), "lic", 1).unwrap();
        a.request_sync(SyncScope::Local).unwrap();
        let mut buf = [0u8; 4096];
        let tx = a
            .poll_transmit(Timestamp(1_000_100), &mut key, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(tx.kind, TransmitKind::Push);
        let closed = a
            .state()
            .reports
            .iter()
            .find(|r| r.state == ReportState::Closed)
            .unwrap()
            .clone();
        assert_eq!(a.report_state(&closed), ReportState::Pending);
        let mut out = std::string::String::new();
        render::show_rum(&mut out, &a, render::RumFilter::All, false).unwrap();
        assert!(out.contains(" PENDING  N      lic\n"), "{out}");
        // The persisted state never says PENDING: it is the fold of the journal.
        assert!(
            a.state()
                .reports
                .iter()
                .all(|r| r.state != ReportState::Pending)
        );
        a.on_response(Timestamp(1_000_101), Err(CommError::Unreachable), &mut sink)
            .unwrap();
        assert_eq!(a.report_state(&closed), ReportState::Closed);
        assert_eq!(sink.messages.len(), 1);
    }

    #[test]
    fn durable_before_acknowledged() {
        // DESIGN.md §2.3: a refused commit leaves the state untouched and returns the error.
        let mut a = agent();
        let before = a.state().clone();
        assert_eq!(
            a.set_usage(Timestamp(1_000_000), "nope", 1),
            Err(AgentError::UnknownLicense)
        );
        assert_eq!(
            a.configure(
                Timestamp(1_000_000),
                ConfigChange::UsageInterval(Some(4000))
            ),
            Err(AgentError::BadValue)
        );
        assert_eq!(a.state(), &before);
        assert_eq!(a.journal().used(), 0);
        a.set_usage(Timestamp(1_000_000), "lic", 2).unwrap();
        assert_eq!(a.replayed_state().unwrap(), *a.state());
    }
}
