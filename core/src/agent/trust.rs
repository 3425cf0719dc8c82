//! Trust codes (digest §5, DESIGN.md §3): the factory code, `license smart trust idtoken`, the
//! automatic request inside usage messages, saved trust requests, and the overwrite rules.
//!
//! A trust code binds a UDI to the device's public key. The device keeps one per HA slot
//! (TRUST-1); the factory code lives in the identity (it comes with the hardware and a factory
//! reset cannot remove it) and counts where no other code is installed. Only a code from the
//! authority (ID token or ACK) allows direct communication (TRUST-2).

use super::{Agent, AgentError, Imported, Outgoing, Refusal, Said, SyncScope, emit};
use crate::decode::{self, Malformed, Reader, ResponseHead};
use crate::envelope::{self, Envelope, EnvelopeError};
use crate::journal::Journal;
use crate::limits::Limits;
use crate::messages::{Message, Why};
use crate::state::{Record, TrustEntry};
use crate::wire::{
    Kind, TrustCode, TrustCodeFile, TrustOrigin, TrustRefusal, TrustRequest, TrustSubject,
};
use heapless::Vec;
use tally_hal::{CommError, DeviceKey, EventSink, Files, PublicKey, Timestamp, Udi, bounded};

/// What the device is and trusts beyond its UDI (DESIGN.md §3): its own public key, the
/// manufacturing key that signs factory trust codes, the factory code, and the public keys of
/// the HA members (by slot), for the trust codes the active asks for on their behalf.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    pub device_key: Option<PublicKey>,
    pub manufacturing_key: Option<PublicKey>,
    /// The factory-installed trust code, verified (TRUST-2).
    pub factory: Option<TrustEntry>,
    pub member_keys: [Option<PublicKey>; Limits::HA_MEMBERS],
}

const NOT_ANSWER: &str = "the response does not answer the trust request";

impl TrustAnchors {
    /// Verify the factory trust code (an envelope signed by the manufacturing key) for `udi`
    /// and keep it. A code that does not verify, is for another UDI or another key is refused.
    pub fn with_factory_code(mut self, udi: &Udi, envelope: &[u8]) -> Result<Self, AgentError> {
        let mkey = self
            .manufacturing_key
            .ok_or(AgentError::Refused(Refusal::NoManufacturingKey))?;
        let env = envelope::open(envelope, Limits::INBOUND_PAYLOAD_BYTES)?;
        if env.kind() != Kind::TrustCode {
            return Err(EnvelopeError::WrongKind(env.kind()).into());
        }
        env.verify(&[mkey])?;
        let file: TrustCodeFile = env.read()?;
        let code = file.code;
        if code.origin != TrustOrigin::Factory {
            return Err(AgentError::Refused(Refusal::NotFactoryTrustCode));
        }
        if &code.udi != udi {
            return Err(AgentError::Refused(Refusal::TrustWrongUdi));
        }
        if self.device_key != Some(code.device_key.0) {
            return Err(AgentError::Refused(Refusal::TrustWrongKey));
        }
        self.factory = Some(TrustEntry {
            origin: TrustOrigin::Factory,
            serial: code.serial,
            issued_at: code.issued_at,
            installed_at: code.issued_at,
        });
        Ok(self)
    }
}

impl<J: Journal> Agent<J> {
    /// The trust code HA slot `slot` holds: one the agent installed, else (own slot) the
    /// factory code (TRUST-3, TRUST-5: an installed code overwrites the factory one).
    pub fn trust_of(&self, slot: usize) -> Option<&TrustEntry> {
        match self.state.trust.get(slot).and_then(Option::as_ref) {
            Some(e) => Some(e),
            None if slot == self.ident.own_slot() => self.ident.trust.factory.as_ref(),
            None => None,
        }
    }

    fn slot_communicates(&self, slot: usize) -> bool {
        self.trust_of(slot).is_some_and(|e| e.origin.communicates())
    }

    /// The slots' masks, in one walk for every request that picks slots.
    #[inline(never)]
    fn slot_masks(&self) -> SlotMasks {
        let own = self.ident.own_slot();
        let mut m = SlotMasks {
            all: 0,
            own: 0,
            communicating: 0,
            keyed: 0,
        };
        for slot in 0..self.ident.slot_count().min(8) {
            let bit = 1u8 << slot;
            m.all |= bit;
            if slot == own {
                m.own |= bit;
            }
            if self.slot_communicates(slot) {
                m.communicating |= bit;
            }
            if self.ident.key_of(slot).is_some() {
                m.keyed |= bit;
            }
        }
        m
    }

    /// Whether the device may talk to the authority directly (`Communication Level Allowed:
    /// DIRECT`): only with a trust code from the authority (TRUST-2, TRUST-3).
    pub fn direct_trust(&self) -> bool {
        self.slot_communicates(self.ident.own_slot())
    }

    /// Transport `smart` (Connected Directly to CSSM) without a usable trust code: nothing
    /// but trust requests may go out (TRUST-10).
    pub(super) fn direct_blocked(&self) -> bool {
        self.state.config.transport == crate::config::Transport::Smart && !self.direct_trust()
    }

    /// The UDIs whose trust code a usage message asks for (TRUST-5, 17.7.1 on): every slot
    /// without a code usable for communication, whose key is known.
    pub(super) fn trust_wanted(&self) -> Vec<TrustSubject, { Limits::HA_MEMBERS }> {
        if self.ident.release != super::Release::V17_7 {
            return Vec::new();
        }
        // The same walk as a request's subjects: one copy of it.
        let m = self.slot_masks();
        self.subjects_of(m.all & !m.communicating)
    }

    /// The slots of `scope` (bit `n`: HA slot `n`): every slot, or this device's own.
    #[inline(never)] // four callers: one copy
    pub(super) fn scope_mask(&self, scope: SyncScope) -> u8 {
        let m = self.slot_masks();
        if scope == SyncScope::All {
            m.all
        } else {
            m.own
        }
    }

    fn trust_subjects(&self, scope: SyncScope) -> Vec<TrustSubject, { Limits::HA_MEMBERS }> {
        self.subjects_of(self.scope_mask(scope))
    }

    /// The request's subjects: each slot of `mask` with the key its code must bind.
    fn subjects_of(&self, mask: u8) -> Vec<TrustSubject, { Limits::HA_MEMBERS }> {
        let mut out = Vec::new();
        for slot in 0..self.ident.slot_count() {
            if mask & (1 << slot) != 0
                && let (Some(udi), Some(key)) = (self.ident.slot_udi(slot), self.ident.key_of(slot))
            {
                let _ = out.push(TrustSubject {
                    udi: udi.clone(),
                    device_key: crate::wire::Key(*key),
                });
            }
        }
        out
    }

    /// The wire message of a queued trust request.
    pub(super) fn trust_message(&self, p: &PendingTrust) -> TrustRequest {
        TrustRequest {
            udi: self.ident.udi.clone(),
            created_at: p.created_at,
            token: p.token.clone(),
            force: p.force,
            subjects: self.subjects_of(p.slots),
        }
    }

    /// HA trust sync (TRUST-12): connected directly with trust, the active asks once after a
    /// boot (the HA set formed again, a standby may have joined) for the members that have no
    /// usable code; the authority issues them and puts the members in the active's account.
    pub(super) fn trust_sync(&mut self, t: Timestamp) -> Option<PendingTrust> {
        if self.trust_synced
            || self.state.config.transport != crate::config::Transport::Smart
            || !self.direct_trust()
        {
            return None;
        }
        let m = self.slot_masks();
        let slots = m.keyed & !m.own & !m.communicating;
        if slots == 0 {
            return None;
        }
        self.trust_synced = true;
        Some(PendingTrust {
            created_at: t,
            token: None,
            force: false,
            slots,
        })
    }

    /// `license smart trust idtoken <token> {local | all} [force]` (TRUST-3, TRUST-4): queue a
    /// trust request for the authority; the answer installs the codes (MSG-12) or says why not
    /// (MSG-6). Needs a transport that reaches the authority.
    pub fn trust_idtoken(
        &mut self,
        now: Timestamp,
        token: &str,
        scope: SyncScope,
        force: bool,
    ) -> Result<(), AgentError> {
        if !self.state.config.transport.pushes() {
            return Err(AgentError::TransportOff);
        }
        if self.outbox.is_some() {
            return Err(AgentError::Busy);
        }
        if token.is_empty() {
            return Err(AgentError::BadValue);
        }
        let m = self.slot_masks();
        let slots = m.keyed
            & if scope == SyncScope::All {
                m.all
            } else {
                m.own
            };
        if slots == 0 {
            return Err(AgentError::Refused(Refusal::TrustWrongKey));
        }
        let token = bounded(token)?;
        // The operator chose the UDIs: no trust sync on top of it until the next boot.
        self.trust_synced = true;
        self.outbox = Some(Outgoing::Trust(PendingTrust {
            created_at: self.now(now),
            token: Some(token),
            force,
            slots,
        }));
        Ok(())
    }

    /// `license smart save trust-request <path>` (TRUST-6): the active's request, signed, for
    /// the operator to carry to the authority; its answer is imported with `license smart import`.
    #[allow(clippy::too_many_arguments)]
    pub fn save_trust_request(
        &mut self,
        now: Timestamp,
        path: &str,
        files: &mut dyn Files,
        key: &mut dyn DeviceKey,
        bin: &mut [u8],
        text: &mut [u8],
    ) -> Result<(), AgentError> {
        let request = TrustRequest {
            udi: self.ident.udi.clone(),
            created_at: self.now(now),
            token: None,
            force: false,
            subjects: self.trust_subjects(SyncScope::Local),
        };
        if request.subjects.is_empty() {
            return Err(AgentError::Refused(Refusal::TrustWrongKey));
        }
        let n = envelope::seal(Kind::TrustRequest, &request, key, bin)?;
        super::write_armoured(Kind::TrustRequest, n, bin, text, path, files)?;
        Ok(())
    }

    /// Check a trust code from the authority: a UDI of this HA set, the key that slot has, and
    /// an origin the authority may issue.
    pub(super) fn check_trust_code(
        &self,
        code: &TrustCode,
        t: Timestamp,
    ) -> Result<(u8, TrustEntry), Refusal> {
        if code.origin == TrustOrigin::Factory {
            return Err(Refusal::FactoryTrustImport);
        }
        let slot = self
            .ident
            .slot_of(&code.udi)
            .ok_or(Refusal::TrustWrongUdi)?;
        match self.ident.key_of(slot) {
            Some(k) if *k != code.device_key.0 => return Err(Refusal::TrustWrongKey),
            None if slot == self.ident.own_slot() => return Err(Refusal::TrustWrongKey),
            _ => {}
        }
        Ok((
            slot as u8,
            TrustEntry {
                origin: code.origin,
                serial: code.serial,
                issued_at: code.issued_at,
                installed_at: t,
            },
        ))
    }

    /// A trust code in an ACK (TRUST-5), added to `out` where the slot has no code usable for
    /// communication (a factory code is overwritten); a slot that has one did not ask (TRUST-7).
    /// The first code for a slot wins.
    pub(super) fn ack_trust(
        &self,
        out: &mut Vec<(u8, TrustEntry), { Limits::HA_MEMBERS }>,
        c: &TrustCode,
        t: Timestamp,
    ) {
        if let Ok((slot, e)) = self.check_trust_code(c, t)
            && !self.slot_communicates(usize::from(slot))
            && !out.iter().any(|(s, _)| *s == slot)
        {
            let _ = out.push((slot, e));
        }
    }

    /// The answer to a trust sync (TRUST-12) made at `created` (its signature checked before
    /// the answer is decoded).
    #[cfg(test)]
    pub(super) fn on_trust_sync_response(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        self.on_trust_reply(t, created, response, true, sink)
    }

    /// The answer to an ID-token trust request made at `created` (its signature checked
    /// before the answer is decoded).
    #[cfg(test)]
    pub(super) fn on_trust_response(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        self.on_trust_reply(t, created, response, false, sink)
    }

    /// The answer to a trust request made at `created`, a trust sync (`sync`) or an ID-token
    /// request: one call for both in `Agent::on_response` (a signature check and an answer's
    /// call each, twice, before).
    pub(super) fn on_trust_reply(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        response: Result<&[u8], CommError>,
        sync: bool,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let env = response.map(|bytes| self.verified(bytes, Kind::TrustResponse));
        self.on_trust_answer(t, created, env, sync, sink)
    }

    /// [`Agent::on_trust_reply`] after the signature check: one body for a trust sync
    /// (`sync`) and an ID-token request. Not inlined: the record it commits and the
    /// signature check never share the stack. A trust sync's failures count in its
    /// statistics only; an ID-token request's also say why (MSG-6).
    #[inline(never)]
    fn on_trust_answer(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        env: Result<Result<Envelope<'_>, AgentError>, CommError>,
        sync: bool,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let mut head: ResponseHead = super::blank();
        let (why, detail, comm) = match env {
            Err(e) => (Why::CommFailure(e.detail()), e.detail(), true),
            Ok(Err(e)) => (Why::Error(e), "invalid response", false),
            Ok(Ok(env)) => match self.answers_trust(created, env.payload(), &mut head) {
                Ok(()) => {
                    return self
                        .apply_trust_response(t, env.payload(), &head, Some(sync), sink)
                        .map(|_| ());
                }
                Err(why) => (why, "invalid response", false),
            },
        };
        if sync {
            self.stats.trust_sync.failed(t, detail, comm);
        } else {
            self.stats.trust_establishment.failed(t, detail, comm);
            emit(sink, Message::TrustInstallFailed(&self.ident.udi, why));
        }
        Ok(())
    }

    /// Read a verified online trust answer's head into `head` and check that it answers the
    /// request made at `created` and is newer than every applied authority message.
    fn answers_trust(
        &self,
        created: Timestamp,
        payload: &[u8],
        head: &mut ResponseHead,
    ) -> Result<(), Why<'static>> {
        trust_head(payload, head)
            .map_err(|_| Why::Error(AgentError::Envelope(EnvelopeError::Malformed)))?;
        self.answers(head, created).map_err(|older| {
            if older {
                "timestamp mismatch: an older message".into()
            } else {
                NOT_ANSWER.into()
            }
        })
    }

    /// Install what a verified trust response carries (its `payload`, already read whole by
    /// [`trust_head`]); `answers`: it answers a request just made, a trust sync (`Some(true)`)
    /// or an ID-token request, and counts in its statistics. The codes are checked as
    /// they are decoded, straight into the record that commits them: the decoded response
    /// (1.3 KB) never has a frame (ADR 0013).
    #[inline(never)] // the record stays off the callers' stacks
    fn apply_trust_response(
        &mut self,
        t: Timestamp,
        payload: &[u8],
        head: &ResponseHead,
        answers: Option<bool>,
        sink: &mut dyn EventSink,
    ) -> Result<usize, AgentError> {
        // Never dropped: it owns nothing (see `Agent::commit_one`).
        let mut record = core::mem::ManuallyDrop::new([Record::TrustInstalled {
            t,
            seq: head.seq,
            issued_at: head.issued_at,
            codes: Vec::new(),
        }]);
        let mut bad: Vec<(Udi, Refusal), { Limits::HA_MEMBERS }> = Vec::new();
        if let [Record::TrustInstalled { codes, .. }] = &mut *record {
            let me = &*self;
            trust_parts(
                payload,
                &mut |c| match me.check_trust_code(&c, t) {
                    Ok(e) if !codes.iter().any(|(s, _)| *s == e.0) => {
                        let _ = codes.push(e);
                    }
                    Ok(_) => {}
                    Err(why) => {
                        let _ = bad.push((c.udi, why));
                    }
                },
                &mut |_| {},
            );
        }
        let [Record::TrustInstalled { codes, .. }] = &*record else {
            return Ok(0);
        };
        let installed = codes.len();
        if installed > 0 {
            self.commit(&*record)?;
            for (slot, _) in codes.iter() {
                self.ident.announce(sink, *slot, Said::TrustInstalled);
            }
        }
        let mut first = None;
        // Read where it was decoded (a pattern `(udi, why)` copied the UDI out).
        trust_parts(payload, &mut |_| {}, &mut |refused| {
            first.get_or_insert(refused.1);
            emit(
                sink,
                Message::TrustInstallFailed(&refused.0, refused.1.text().into()),
            );
        });
        for (udi, why) in bad.iter() {
            emit(sink, Message::TrustInstallFailed(udi, (*why).into()));
        }
        if let Some(sync) = answers {
            let (stats, reason) = if sync {
                (&mut self.stats.trust_sync, "refused")
            } else {
                let reason = first.map_or("invalid response", |w| w.text());
                (&mut self.stats.trust_establishment, reason)
            };
            if installed > 0 {
                stats.ok(t);
            } else {
                stats.failed(t, reason, false);
            }
        }
        Ok(installed)
    }

    /// `license smart import` of a trust response (the answer to a saved trust request).
    #[inline(never)] // see `Agent::import_inner`
    pub(super) fn import_trust_response(
        &mut self,
        t: Timestamp,
        env: &Envelope<'_>,
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        let mut head: ResponseHead = super::blank();
        let (codes, refused) = trust_head(env.payload(), &mut head)
            .map_err(|_| AgentError::Envelope(EnvelopeError::Malformed))?;
        if head.udi != self.ident.udi {
            return Err(AgentError::WrongDevice);
        }
        if head.seq <= self.state.seq_hwm {
            let mut same = true;
            trust_parts(
                env.payload(),
                &mut |c| {
                    same &= self
                        .ident
                        .slot_of(&c.udi)
                        .and_then(|s| self.state.trust.get(s))
                        .and_then(Option::as_ref)
                        .is_some_and(|e| e.serial == c.serial);
                },
                &mut |_| {},
            );
            return if same && codes > 0 {
                Ok(Imported::AlreadyApplied(Kind::TrustResponse))
            } else {
                Err(AgentError::Stale)
            };
        }
        if codes == 0 && refused == 0 {
            return Err(AgentError::Refused(Refusal::NoTrustCode));
        }
        self.apply_trust_response(t, env.payload(), &head, None, sink)
            .map(Imported::TrustCodes)
    }

    /// `license smart import` of a trust response (the answer to a saved trust request) or of
    /// one trust code, as `Agent::import_inner` takes them (for the tests: it checks every
    /// file's signature with one call).
    #[cfg(test)]
    pub(super) fn import_trust(
        &mut self,
        t: Timestamp,
        kind: Kind,
        bytes: &[u8],
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        let env = self.verified(bytes, kind)?;
        if kind == Kind::TrustResponse {
            return self.import_trust_response(t, &env, sink);
        }
        self.import_trust_code(t, &env, sink)
    }

    /// `license smart import` of one trust code.
    #[inline(never)] // see `Agent::import_inner`
    pub(super) fn import_trust_code(
        &mut self,
        t: Timestamp,
        env: &Envelope<'_>,
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        // Decoded where it stays: `decode_payload` returned it and it was copied.
        let mut file = TrustCodeFile::default();
        env.read_into(&mut file)?;
        let (slot, entry) = self
            .check_trust_code(&file.code, t)
            .map_err(|why| match why {
                Refusal::TrustWrongUdi => AgentError::WrongDevice,
                w => AgentError::Refused(w),
            })?;
        // Built in the record that commits it, as `apply_trust_response` does, and checked
        // there: the code list built apart was copied into it, and the checked code held
        // across the checks below was spilled field by field. Never dropped: it owns nothing
        // (see `commit_one`).
        let mut record = core::mem::ManuallyDrop::new([Record::TrustInstalled {
            t,
            seq: file.seq,
            issued_at: entry.issued_at,
            codes: Vec::new(),
        }]);
        if let [Record::TrustInstalled { codes, .. }] = &mut *record {
            let _ = codes.push((slot, entry));
        }
        let slot = usize::from(slot);
        let current = self.state.trust.get(slot).and_then(Option::as_ref);
        if current.is_some_and(|c| c.serial == file.code.serial) {
            return Ok(Imported::AlreadyApplied(Kind::TrustCode));
        }
        if file.seq <= self.state.seq_hwm {
            return Err(AgentError::Stale);
        }
        // TRUST-7: a file cannot say `force`; a code from the authority stays.
        if self.slot_communicates(slot) {
            return Err(AgentError::Refused(Refusal::TrustAlreadyInstalled));
        }
        self.commit(&*record)?;
        self.ident.announce(sink, slot as u8, Said::TrustInstalled);
        Ok(Imported::TrustCodes(1))
    }
}

/// A trust request waiting for [`Agent::poll_transmit`]: which HA slots it is for. The wire
/// [`TrustRequest`] (UDIs and keys: 750 bytes) is rebuilt from the identity when it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PendingTrust {
    pub(super) created_at: Timestamp,
    pub(super) token: Option<heapless::String<{ crate::wire::ID_TOKEN_LEN }>>,
    pub(super) force: bool,
    /// Bit `n`: HA slot `n`.
    pub(super) slots: u8,
}

const _: () = assert!(Limits::HA_MEMBERS <= 8, "a slot mask is a u8");

/// The HA slots as bit masks (slots past a mask's width cannot exist: asserted above).
struct SlotMasks {
    all: u8,
    /// This device's own slot.
    own: u8,
    /// Slots whose trust code lets them talk to the authority.
    communicating: u8,
    /// Slots whose key (the one a trust code must bind) is known.
    keyed: u8,
}

/// Read a verified trust response whole without holding it: its head (into `head`, where the
/// caller keeps it: returned, it was copied through each caller's frame), and how many codes and
/// refusals it carries.
fn trust_head(payload: &[u8], head: &mut ResponseHead) -> Result<(usize, usize), Malformed> {
    let (mut codes, mut refused) = (0, 0);
    let mut r = Reader::new(payload);
    decode::trust_response(&mut r, head, &mut |_| codes += 1, &mut |_| refused += 1)?;
    if !r.rest().is_empty() {
        return Err(Malformed);
    }
    Ok((codes, refused))
}

/// The parts of a response [`trust_head`] has read whole, handed over one at a time.
fn trust_parts(
    payload: &[u8],
    code: &mut dyn FnMut(TrustCode),
    refused: &mut dyn FnMut((Udi, TrustRefusal)),
) {
    let mut head: ResponseHead = super::blank();
    // It decoded once: it decodes again.
    let _ = decode::trust_response(&mut Reader::new(payload), &mut head, code, refused);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Identity, Release};
    use crate::journal::RamJournal;
    use crate::wire::TrustOrigin;
    use tally_hal::mock::{RecordingSink, SoftwareKey};
    use tally_hal::{HaMember, HaRole, LicenseDef};

    fn entry(origin: TrustOrigin) -> TrustEntry {
        TrustEntry {
            origin,
            serial: 1,
            issued_at: Timestamp(1),
            installed_at: Timestamp(1),
        }
    }

    /// Four HA slots: this device in slot 1; keys known for slots 0, 1 and 3; slot 0 holds
    /// a code from the authority, slot 3 a factory code (which does not communicate).
    fn ha_agent() -> Agent<RamJournal<8192>> {
        let udi = |sn: &str| Udi::new("C9500-24Y4C", sn).unwrap();
        let mut members = Vec::new();
        for (i, sn) in ["SN0", "SN1", "SN2", "SN3"].into_iter().enumerate() {
            let role = if i == 1 {
                HaRole::Active
            } else {
                HaRole::Standby
            };
            members.push(HaMember { role, udi: udi(sn) }).unwrap();
        }
        let ident = Identity {
            udi: udi("SN1"),
            members,
            catalogue: Vec::<LicenseDef, { Limits::LICENSES }>::new(),
            partner: false,
            release: Release::V17_7,
            authority_keys: Vec::new(),
            trust: TrustAnchors {
                device_key: Some([1; 65]),
                member_keys: [Some([0; 65]), Some([1; 65]), None, Some([3; 65])],
                ..Default::default()
            },
        };
        let mut a = Agent::boot(ident, RamJournal::new(), Timestamp(1_000_000)).unwrap();
        a.state.trust[0] = Some(entry(TrustOrigin::Ack));
        a.state.trust[3] = Some(entry(TrustOrigin::Factory));
        a
    }

    #[test]
    fn slot_masks_pick_the_slots_each_request_names() {
        let a = ha_agent();
        let m = a.slot_masks();
        assert_eq!(
            (m.all, m.own, m.communicating, m.keyed),
            (0b1111, 0b0010, 0b0001, 0b1011)
        );
        let sns =
            |v: Vec<TrustSubject, { Limits::HA_MEMBERS }>| -> std::vec::Vec<std::string::String> {
                v.iter().map(|s| s.udi.sn.as_str().into()).collect()
            };
        // TRUST-5: every slot without a communicating code whose key is known.
        assert_eq!(sns(a.trust_wanted()), ["SN1", "SN3"]);
        // A request for all slots, or this device's alone; slots without a key are left out.
        assert_eq!(sns(a.trust_subjects(SyncScope::All)), ["SN0", "SN1", "SN3"]);
        assert_eq!(sns(a.trust_subjects(SyncScope::Local)), ["SN1"]);
    }

    /// A trust response from the authority `key`, sealed.
    fn answer(
        key: &mut SoftwareKey,
        udi: &Udi,
        created: Timestamp,
        seq: u64,
        codes: &[TrustCode],
        refused: &[(Udi, TrustRefusal)],
    ) -> std::vec::Vec<u8> {
        let r = crate::wire::TrustResponse {
            udi: udi.clone(),
            issued_at: Timestamp(1_950_000),
            seq,
            request_created_at: created,
            codes: codes.iter().cloned().collect(),
            refused: refused.iter().cloned().collect(),
        };
        let mut buf = [0u8; 2048];
        let n = envelope::seal(Kind::TrustResponse, &r, key, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn trust_answers_count_in_the_statistics_of_the_request_they_answer() {
        // A sync that installs nothing is `refused`; an ID-token request that installs
        // nothing fails with the authority's first refusal (none: `invalid response`); either
        // one that installs a code succeeds. An imported answer counts in neither.
        let mut key = SoftwareKey::from_seed(b"trust answers authority");
        let mut a = ha_agent();
        a.ident.authority_keys.push(key.public_key()).unwrap();
        let mut sink = RecordingSink::default();
        let own = a.ident.udi.clone();
        let other = a.ident.slot_udi(3).unwrap().clone();
        let (t, created) = (Timestamp(2_000_000), Timestamp(1_900_000));
        let code = |serial| TrustCode {
            udi: own.clone(),
            device_key: crate::wire::Key([1; 65]),
            origin: TrustOrigin::IdToken,
            account: None,
            issued_at: Timestamp(1_950_000),
            serial,
        };
        let none = answer(&mut key, &own, created, 1, &[], &[]);
        a.on_trust_sync_response(t, created, Ok(&none), &mut sink)
            .unwrap();
        a.on_trust_response(t, created, Ok(&none), &mut sink)
            .unwrap();
        let (sync, id) = (a.stats.trust_sync, a.stats.trust_establishment);
        assert_eq!((sync.fail, sync.failure_reason), (1, Some("refused")));
        assert_eq!((id.fail, id.failure_reason), (1, Some("invalid response")));
        let refused = [
            (own.clone(), TrustRefusal::TokenExpired),
            (other, TrustRefusal::InvalidToken),
        ];
        let refused = answer(&mut key, &own, created, 2, &[], &refused);
        a.on_trust_sync_response(t, created, Ok(&refused), &mut sink)
            .unwrap();
        a.on_trust_response(t, created, Ok(&refused), &mut sink)
            .unwrap();
        let (sync, id) = (a.stats.trust_sync, a.stats.trust_establishment);
        assert_eq!((sync.fail, sync.failure_reason), (2, Some("refused")));
        let expired = Some("The ID token has expired");
        assert_eq!((id.fail, id.failure_reason), (2, expired));
        let bytes = answer(&mut key, &own, created, 3, &[code(7)], &[]);
        a.on_trust_sync_response(t, created, Ok(&bytes), &mut sink)
            .unwrap();
        let bytes = answer(&mut key, &own, created, 4, &[code(8)], &[]);
        a.on_trust_response(t, created, Ok(&bytes), &mut sink)
            .unwrap();
        let (sync, id) = (a.stats.trust_sync, a.stats.trust_establishment);
        assert_eq!((sync.success, sync.last_response), (1, Some("OK")));
        assert_eq!((id.success, id.last_response), (1, Some("OK")));
        assert_eq!(a.trust_of(1).map(|e| e.serial), Some(8));
        let before = a.stats;
        let bytes = answer(&mut key, &own, created, 5, &[code(9)], &[]);
        let imported = a.import_trust(t, Kind::TrustResponse, &bytes, &mut sink);
        assert_eq!(imported, Ok(Imported::TrustCodes(1)));
        assert_eq!(a.stats, before);
    }

    #[test]
    fn failed_trust_answers_count_where_they_belong_and_only_an_id_token_says_why() {
        // A trust sync (TRUST-12) and an ID-token request (MSG-6) share one body: a failed
        // sync counts in `Trust Sync` alone and raises no message; a failed request counts in
        // `Trust Establishment` and names its cause.
        let mut a = ha_agent();
        let mut sink = RecordingSink::default();
        let (t, created) = (Timestamp(2_000_000), Timestamp(1_900_000));
        let unsigned: &[u8] = &[0; 8];
        for sync in [true, false] {
            for response in [Err(CommError::Unreachable), Ok(unsigned)] {
                if sync {
                    a.on_trust_sync_response(t, created, response, &mut sink)
                } else {
                    a.on_trust_response(t, created, response, &mut sink)
                }
                .unwrap();
            }
            if sync {
                assert!(sink.messages.is_empty(), "{:?}", sink.messages);
                assert_eq!(a.stats.trust_establishment, Default::default());
            }
        }
        for s in [a.stats.trust_sync, a.stats.trust_establishment] {
            assert_eq!((s.fail, s.ongoing_overall, s.ongoing_comm), (2, 2, 1));
            assert_eq!((s.success, s.failure_reason), (0, Some("invalid response")));
        }
        let lines: std::vec::Vec<&str> = sink.messages.iter().map(|(_, m)| m.as_str()).collect();
        let own = "failed on PID:C9500-24Y4C,SN:SN1";
        assert_eq!(
            lines,
            [
                std::format!(
                    "%SMART_LIC-3-TRUST_CODE_INSTALL_FAILED: The install of a new licensing trust code has {own}: Communications failure: Unable to connect to the server: unreachable."
                ),
                std::format!(
                    "%SMART_LIC-3-TRUST_CODE_INSTALL_FAILED: The install of a new licensing trust code has {own}: file is truncated or corrupt."
                )
            ]
        );
    }
}
