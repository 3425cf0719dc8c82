//! Authorization codes (digest §6): SLACs for enforced and export-controlled licenses, SLR
//! codes carried over from before migration, requests (`add`, `replace`, `save`), returns
//! (`online`, `offline`), `export return`, and the codes an operator types (AUTH-4).
//!
//! An enforced or export-controlled license consumes nothing and its feature stays off until
//! a code for it is installed (ENF-7); installing or removing a code is a usage change of the
//! licenses it covers.

use super::{Agent, AgentError, Imported, Outgoing, PendingReturn, Refusal, Said, SyncScope, emit};
use crate::decode::{self, Malformed, Reader, ResponseHead};
use crate::envelope::{self, Envelope, EnvelopeError};
use crate::journal::Journal;
use crate::limits::Limits;
use crate::messages::Message;
use crate::state::{AuthEntry, Record, RecordRef, Removal, needs_authorization};
use crate::wire::{
    AuthCode, AuthCodeFile, AuthLicense, AuthMode, AuthRefusal, AuthRequest, AuthReturn, Kind,
    RETURN_CODE_LEN, ReturnedCode,
};
use heapless::{String, Vec};
use tally_hal::{
    CommError, DeviceKey, Enforcement, EventSink, Files, PublicKey, Timestamp, Udi, bounded,
};

/// `license smart authorization return … { online | offline [<path>] }` (AUTH-3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReturnMode<'a> {
    Online,
    Offline(Option<&'a str>),
}

const NOT_ANSWER: &str = "the response does not answer the authorization request";

// HA slots and catalogue indexes are kept as `u8` (records, queued requests and returns):
// they fit, so they convert with `as`, without error paths that cannot be taken (each was code
// in its caller, and made `pending_auth` and `returns_of` return a `Result`).
const _: () = assert!(Limits::HA_MEMBERS <= 256 && Limits::LICENSES <= 256);

/// A base-62 digit: `0-9`, `A-Z`, `a-z` (by ranges, no table).
fn base62_digit(v: u32) -> u8 {
    let v = v as u8;
    match v {
        0..=9 => b'0' + v,
        10..=35 => b'A' + (v - 10),
        _ => b'a' + (v.min(61) - 36),
    }
}

/// The value of a base-62 digit, if `c` is one.
fn base62_value(c: char) -> Option<u32> {
    let b = u8::try_from(c).ok()?;
    let v = match b {
        b'0'..=b'9' => b - b'0',
        b'A'..=b'Z' => b - b'A' + 10,
        b'a'..=b'z' => b - b'a' + 36,
        _ => return None,
    };
    Some(u32::from(v))
}
/// Bytes behind a return code: a 32-byte digest and 5 of the code's serial (AUTH-4: 51
/// base-62 characters hold 303 bits, these are 296).
const RETURN_BYTES: usize = 37;

fn return_digest(udi: &Udi, serial: u64, device_key: &PublicKey) -> [u8; 32] {
    crate::crypto::sha256(&[
        b"tally.return.v1\0",
        udi.pid.as_bytes(),
        &[0],
        udi.sn.as_bytes(),
        &serial.to_le_bytes(),
        device_key,
    ])
}

/// The return code of code `serial` on `udi` (AUTH-4: eight dash-separated groups of six
/// alphanumerics and one of three). It names the code and proves which device key returned
/// it; the authority, which knows the key, checks it (`tally-sim` `authority return-code`).
pub fn return_code(udi: &Udi, serial: u64, device_key: &PublicKey) -> String<RETURN_CODE_LEN> {
    // Digest first, so the code does not start with the serial's leading zeros.
    let mut n = [0u8; RETURN_BYTES];
    if let Some(head) = n.get_mut(..32) {
        head.copy_from_slice(&return_digest(udi, serial, device_key));
    }
    if let Some(tail) = n.get_mut(32..) {
        tail.copy_from_slice(serial.to_be_bytes().get(3..).unwrap_or(&[0; 5]));
    }
    // 51 base-62 digits, most significant first, by long division of the big-endian number,
    // each written in its place between the dashes (pushed as `char`s, every digit went
    // through UTF-8 encoding).
    let mut text = [b'-'; RETURN_CODE_LEN];
    for i in (0..51).rev() {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 62) as u8;
            rem = cur % 62;
        }
        if let Some(c) = text.get_mut(i + i / 6) {
            *c = base62_digit(rem);
        }
    }
    let mut out = String::new();
    if let Ok(s) = core::str::from_utf8(&text) {
        let _ = out.push_str(s);
    }
    out
}

/// Parse a return code back into (serial, digest); `None` if it is not one.
pub fn parse_return_code(code: &str) -> Option<(u64, [u8; 32])> {
    let mut n = [0u8; RETURN_BYTES];
    let mut count = 0;
    for (i, c) in code.chars().enumerate() {
        if c == '-' {
            if i % 7 != 6 {
                return None;
            }
            continue;
        }
        let v = base62_value(c)?;
        let mut carry = v;
        for b in n.iter_mut().rev() {
            let cur = u32::from(*b) * 62 + carry;
            *b = (cur & 0xFF) as u8;
            carry = cur >> 8;
        }
        if carry != 0 {
            return None;
        }
        count += 1;
    }
    if count != 51 || code.len() != RETURN_CODE_LEN {
        return None;
    }
    let mut serial = [0u8; 8];
    serial.get_mut(3..)?.copy_from_slice(n.get(32..)?);
    let digest: [u8; 32] = n.get(..32)?.try_into().ok()?;
    Some((u64::from_be_bytes(serial), digest))
}

/// Whether `code` is the return code of `serial` on `udi` with `device_key`.
pub fn check_return_code(code: &str, udi: &Udi, device_key: &PublicKey) -> Option<u64> {
    let (serial, digest) = parse_return_code(code)?;
    (digest == return_digest(udi, serial, device_key)).then_some(serial)
}

/// `Last Confirmation code:` of an installed code (AUTH-4: eight hex digits).
pub fn confirmation_code(udi: &Udi, serial: u64) -> u32 {
    let d = crate::crypto::sha256(&[
        b"tally.confirm.v1\0",
        udi.pid.as_bytes(),
        &[0],
        udi.sn.as_bytes(),
        &serial.to_le_bytes(),
    ]);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

impl<J: Journal> Agent<J> {
    /// The authorization code HA slot `slot` holds.
    pub fn authorization_of(&self, slot: usize) -> Option<&AuthEntry> {
        self.state.auth.get(slot).and_then(Option::as_ref)
    }

    fn gated_license(&self, feature: &str) -> Result<usize, AgentError> {
        let (lic, def) = self
            .ident
            .license(feature)
            .ok_or(AgentError::UnknownLicense)?;
        if !needs_authorization(def) {
            return Err(AgentError::NotEnforced);
        }
        Ok(lic)
    }

    fn auth_request(
        &self,
        t: Timestamp,
        mode: AuthMode,
        lic: usize,
        scope: SyncScope,
    ) -> Result<AuthRequest, AgentError> {
        self.auth_message(&self.pending_auth(t, mode, lic, scope))
    }

    /// An authorization request as it waits in the outbox: the slots and the serials of the
    /// codes they hold now (0 = none).
    fn pending_auth(
        &self,
        t: Timestamp,
        mode: AuthMode,
        lic: usize,
        scope: SyncScope,
    ) -> PendingAuth {
        let mut subjects = Vec::new();
        let mask = self.scope_mask(scope);
        for slot in 0..self.ident.slot_count() {
            if mask & (1 << slot) != 0 && self.ident.slot_udi(slot).is_some() {
                let serial = self.authorization_of(slot).map_or(0, |a| a.serial);
                let _ = subjects.push((slot as u8, serial));
            }
        }
        PendingAuth {
            created_at: t,
            mode,
            lic: lic as u8,
            subjects,
        }
    }

    /// The wire message of a queued authorization request.
    pub(super) fn auth_message(&self, p: &PendingAuth) -> Result<AuthRequest, AgentError> {
        let def = self
            .ident
            .catalogue
            .get(usize::from(p.lic))
            .ok_or(AgentError::UnknownLicense)?;
        let mut subjects = Vec::new();
        for &(slot, serial) in p.subjects.iter() {
            if let Some(udi) = self.ident.slot_udi(usize::from(slot)) {
                let _ = subjects.push((udi.clone(), serial));
            }
        }
        Ok(AuthRequest {
            udi: self.ident.udi.clone(),
            created_at: p.created_at,
            mode: p.mode,
            license: AuthLicense {
                feature: bounded(def.name).map_err(|_| AgentError::Capacity)?,
                count: 1,
            },
            subjects,
        })
    }

    /// `license smart authorization request { add | replace } <feature> { all | local }`
    /// (AUTH-2): queue the request; the answer installs the codes (MSG-9) or says why not
    /// (MSG-2). `replace` first checks that nothing it would give back is in use (MSG-23).
    pub fn authorization_request(
        &mut self,
        now: Timestamp,
        mode: AuthMode,
        feature: &str,
        scope: SyncScope,
    ) -> Result<(), AgentError> {
        let lic = self.gated_license(feature)?;
        if !self.state.config.transport.pushes() {
            return Err(AgentError::TransportOff);
        }
        if self.direct_blocked() {
            return Err(AgentError::NoTrust);
        }
        if self.outbox.is_some() {
            return Err(AgentError::Busy);
        }
        if mode == AuthMode::Replace {
            let mask = self.scope_mask(scope);
            for slot in 0..self.ident.slot_count() {
                if mask & (1 << slot) == 0 {
                    continue;
                }
                let in_use = self.authorization_of(slot).is_some_and(|a| {
                    a.licenses.iter().any(|(l, _)| {
                        usize::from(*l) != lic
                            && self
                                .state
                                .usage
                                .get(usize::from(*l))
                                .is_some_and(|u| u.requested > 0)
                    })
                });
                if in_use {
                    return Err(AgentError::InUse);
                }
            }
        }
        let t = self.now(now);
        let request = self.pending_auth(t, mode, lic, scope);
        self.commit_one(Record::AuthRequested { t, lic: lic as u8 })?;
        self.outbox = Some(Outgoing::Auth(request));
        Ok(())
    }

    /// `license smart authorization request save <path> <feature> { all | local }` (AUTH-2,
    /// 17.7.1): the request as a signed file; the authority's answer is imported.
    #[allow(clippy::too_many_arguments)]
    pub fn save_authorization_request(
        &mut self,
        now: Timestamp,
        feature: &str,
        scope: SyncScope,
        path: &str,
        files: &mut dyn Files,
        key: &mut dyn DeviceKey,
        bin: &mut [u8],
        text: &mut [u8],
    ) -> Result<(), AgentError> {
        let lic = self.gated_license(feature)?;
        let t = self.now(now);
        let request = self.auth_request(t, AuthMode::Add, lic, scope)?;
        let n = envelope::seal(Kind::AuthRequest, &request, key, bin)?;
        super::write_armoured(Kind::AuthRequest, n, bin, text, path, files)?;
        self.commit_one(Record::AuthRequested { t, lic: lic as u8 })
    }

    /// Check an authorization code from the authority: a UDI of this HA set, licenses of this
    /// catalogue that need a code, and newer than every code installed before (a returned code
    /// never comes back).
    pub(super) fn check_auth_code(
        &self,
        code: &AuthCode,
        t: Timestamp,
    ) -> Result<(u8, AuthEntry), Refusal> {
        let slot = self.ident.slot_of(&code.udi).ok_or(Refusal::AuthWrongUdi)?;
        if code.serial <= self.state.auth_serial_hwm {
            return Err(Refusal::AuthReplay);
        }
        let mut licenses = Vec::new();
        for l in code.licenses.iter() {
            let lic = match self.ident.license(&l.feature) {
                Some((i, d)) if needs_authorization(d) => i,
                _ => return Err(Refusal::AuthUnknownLicense),
            };
            let units = u16::try_from(l.count).map_err(|_| Refusal::AuthUnknownLicense)?;
            if units == 0 || licenses.push((lic as u8, units)).is_err() {
                return Err(Refusal::AuthUnknownLicense);
            }
        }
        if licenses.is_empty() {
            return Err(Refusal::AuthUnknownLicense);
        }
        Ok((
            slot as u8,
            AuthEntry {
                kind: code.kind,
                serial: code.serial,
                issued_at: code.issued_at,
                installed_at: t,
                licenses,
            },
        ))
    }

    /// An authorization code in an ACK (AUTH-6), added to `out` if it checks; the first code
    /// for a slot wins.
    pub(super) fn ack_auth(
        &self,
        out: &mut Vec<(u8, AuthEntry), { Limits::HA_MEMBERS }>,
        c: &AuthCode,
        t: Timestamp,
    ) {
        if let Ok((slot, e)) = self.check_auth_code(c, t)
            && !out.iter().any(|(s, _)| *s == slot)
        {
            let _ = out.push((slot, e));
        }
    }

    /// Commit a [`Record::AuthInstalled`] of checked codes and announce them (MSG-9).
    fn install_auth_codes(
        &mut self,
        record: &[RecordRef<'_>; 1],
        sink: &mut dyn EventSink,
    ) -> Result<usize, AgentError> {
        let [Record::AuthInstalled { codes, .. }] = record else {
            return Ok(0);
        };
        if codes.is_empty() {
            return Ok(0);
        }
        self.commit(record)?;
        for (slot, _) in codes.iter() {
            self.ident.announce(sink, *slot, Said::AuthInstalled);
        }
        Ok(codes.len())
    }

    /// Install what a verified authorization response carries (its `payload`, already read
    /// whole by [`auth_head`]): new codes (MSG-9), refusals (MSG-2). The codes are checked as
    /// they are decoded, straight into the record that commits them: the decoded response
    /// (1.8 KB) never has a frame (ADR 0013).
    #[inline(never)] // the record stays off the callers' stacks
    fn apply_auth_response(
        &mut self,
        t: Timestamp,
        payload: &[u8],
        seq: u64,
        sink: &mut dyn EventSink,
    ) -> Result<usize, AgentError> {
        // Never dropped: it owns nothing (see `Agent::commit_one`).
        let mut record = core::mem::ManuallyDrop::new([Record::AuthInstalled {
            t,
            seq,
            codes: Vec::new(),
        }]);
        if let [Record::AuthInstalled { codes, .. }] = &mut *record {
            let me = &*self;
            auth_parts(
                payload,
                &mut |c| match me.check_auth_code(&c, t) {
                    Ok(e) if !codes.iter().any(|(s, _)| *s == e.0) => {
                        let _ = codes.push(e);
                    }
                    Ok(_) => {}
                    Err(why) => emit(sink, Message::AuthInstallFailed(&c.udi, why.into())),
                },
                &mut |_| {},
                &mut |_| {},
            );
        }
        let installed = self.install_auth_codes(&record, sink)?;
        // The authority's refusals after the installs, read again where they were decoded
        // (as `apply_trust_response` does): not collected in a list held across the commit.
        auth_parts(payload, &mut |_| {}, &mut |_| {}, &mut |refused| {
            emit(
                sink,
                Message::AuthInstallFailed(&refused.0, refused.1.text().into()),
            );
        });
        Ok(installed)
    }

    /// The answer to an authorization request made at `created`. Its signature is checked
    /// before the answer is decoded: the two never share the stack.
    #[cfg(test)]
    pub(super) fn on_auth_response(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        self.on_auth_reply(t, created, None, response, sink)
    }

    /// The answer to an authorization request or, with `returning`, to an online return
    /// made at `created`: one call for both in `Agent::on_response` (a signature check and an
    /// answer's call each, twice, before).
    pub(super) fn on_auth_reply(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        returning: Option<Option<&PendingReturn>>,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let env = self.verified_answer(response, Kind::AuthResponse);
        self.on_auth_answer(t, created, returning, env, sink)
    }

    /// [`Agent::on_auth_reply`] after the signature check: one body for a request's answer
    /// and, with `returning` (the return it confirms, if the agent still has it), a return's.
    /// A return's failures count in its statistics only; a request's also say why (MSG-2).
    #[inline(never)]
    fn on_auth_answer(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        returning: Option<Option<&PendingReturn>>,
        env: Result<Envelope<'_>, (&'static str, bool)>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        let opened = env.and_then(|env| {
            let seq = self.open_auth_response(created, env.payload())?;
            Ok((env, seq))
        });
        let (env, seq) = match opened {
            Ok(x) => x,
            Err(why) => {
                if returning.is_some() {
                    self.stats.authorization_return.failed(t, why.0, why.1);
                } else {
                    self.stats.authorization_request.failed(t, why.0, why.1);
                    emit(
                        sink,
                        Message::AuthInstallFailed(&self.ident.udi, why.0.into()),
                    );
                }
                return Ok(());
            }
        };
        if let Some(sent) = returning {
            let returned = returned_of(self, env.payload(), sent);
            let Some(sent) = sent else {
                return Ok(());
            };
            // Only the codes the authority confirmed returned go.
            if !returned.contains(&true) {
                self.stats.authorization_return.failed(t, "refused", false);
                return Ok(());
            }
            self.remove_returned(t, sent, &returned, sink)?;
            self.stats.authorization_return.ok(t);
            return Ok(());
        }
        let installed = self.apply_auth_response(t, env.payload(), seq, sink)?;
        if installed > 0 {
            self.stats.authorization_request.ok(t);
        } else {
            self.stats.authorization_request.failed(t, "refused", false);
        }
        Ok(())
    }

    /// Check that a verified online authorization answer decodes and answers the request made
    /// at `created`; its sequence number, or the error as (detail, whether communication
    /// failed).
    fn open_auth_response(
        &self,
        created: Timestamp,
        payload: &[u8],
    ) -> Result<u64, (&'static str, bool)> {
        let mut head: ResponseHead = super::blank();
        auth_head(payload, &mut head).map_err(|_| ("invalid response", false))?;
        match self.answers(&head, created) {
            Ok(()) => Ok(head.seq),
            Err(true) => Err(("timestamp mismatch: an older message", false)),
            Err(false) => Err((NOT_ANSWER, false)),
        }
    }

    /// `license smart import` of one authorization code.
    #[inline(never)] // see `Agent::import_inner`
    pub(super) fn import_auth_code(
        &mut self,
        t: Timestamp,
        env: &Envelope<'_>,
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        // Decoded in place, as `install_factory` decodes the same file: one body for both.
        let mut file: AuthCodeFile = super::blank();
        env.read_into(&mut file)?;
        let slot = self
            .ident
            .slot_of(&file.code.udi)
            .ok_or(AgentError::WrongDevice)?;
        if self
            .authorization_of(slot)
            .is_some_and(|a| a.serial == file.code.serial)
        {
            return Ok(Imported::AlreadyApplied(Kind::AuthCode));
        }
        if file.seq <= self.state.seq_hwm {
            return Err(AgentError::Stale);
        }
        let entry = self
            .check_auth_code(&file.code, t)
            .map_err(|why| match why {
                Refusal::AuthReplay => AgentError::Stale,
                w => AgentError::Refused(w),
            })?;
        // Built in the record that commits it: the code list built apart was copied into it.
        // Never dropped: it owns nothing (see `Agent::commit_one`).
        let mut record = core::mem::ManuallyDrop::new([Record::AuthInstalled {
            t,
            seq: file.seq,
            codes: Vec::new(),
        }]);
        if let [Record::AuthInstalled { codes, .. }] = &mut *record {
            let _ = codes.push(entry);
        }
        self.install_auth_codes(&record, sink)
            .map(Imported::AuthCodes)
    }

    /// `license smart import` of the answer to a saved authorization request.
    #[inline(never)] // see `Agent::import_inner`
    pub(super) fn import_auth_response(
        &mut self,
        t: Timestamp,
        env: &Envelope<'_>,
        sink: &mut dyn EventSink,
    ) -> Result<Imported, AgentError> {
        let mut head: ResponseHead = super::blank();
        let parts = auth_head(env.payload(), &mut head)
            .map_err(|_| AgentError::Envelope(EnvelopeError::Malformed))?;
        if head.udi != self.ident.udi {
            return Err(AgentError::WrongDevice);
        }
        if head.seq <= self.state.seq_hwm {
            return Err(AgentError::Stale);
        }
        if parts == 0 {
            return Err(AgentError::Refused(Refusal::NoAuthCode));
        }
        self.apply_auth_response(t, env.payload(), head.seq, sink)
            .map(Imported::AuthCodes)
    }

    /// The return, made at `t`, of the codes `scope`'s slots hold (of license `only`, or
    /// whole): refused if any license of them is in use (AUTH-3 precondition, MSG-23), or if
    /// there is none. One walk: the slots to return were collected into a list first.
    fn returns_of(
        &self,
        t: Timestamp,
        scope: SyncScope,
        only: Option<usize>,
    ) -> Result<PendingReturn, AgentError> {
        let mut codes = Vec::new();
        let mut any = false;
        let mask = self.scope_mask(scope);
        for slot in 0..self.ident.slot_count() {
            if mask & (1 << slot) == 0 {
                continue;
            }
            let Some(a) = self.authorization_of(slot) else {
                continue;
            };
            let covered = |l: usize| only.is_none_or(|o| o == l);
            if only.is_some_and(|o| a.count_of(o) == 0) {
                continue;
            }
            let in_use = a.licenses.iter().any(|(l, _)| {
                covered(usize::from(*l))
                    && self
                        .state
                        .usage
                        .get(usize::from(*l))
                        .is_some_and(|u| u.requested > 0)
            });
            if in_use {
                return Err(AgentError::InUse);
            }
            any = true;
            if self.ident.slot_udi(slot).is_some() {
                let _ = codes.push((slot as u8, a.serial));
            }
        }
        if !any {
            return Err(AgentError::NothingToReturn);
        }
        Ok(PendingReturn {
            created_at: t,
            only: only.map(|o| o as u8),
            codes,
        })
    }

    /// The return code of the code `serial` of `slot` (AUTH-4), with the slot's UDI (its
    /// callers looked the UDI up a second time).
    fn return_code_of(&self, slot: u8, serial: u64) -> Option<(&Udi, String<RETURN_CODE_LEN>)> {
        let udi = self.ident.slot_udi(usize::from(slot))?;
        let key = self.ident.key_of(usize::from(slot)).unwrap_or(&[0; 65]);
        Some((udi, return_code(udi, serial, key)))
    }

    /// The wire message of a return.
    pub(super) fn return_message(&self, p: &PendingReturn) -> AuthReturn {
        let feature = p
            .only
            .and_then(|o| self.ident.catalogue.get(usize::from(o)))
            .and_then(|d| bounded(d.name).ok());
        let mut returns = Vec::new();
        for &(slot, serial) in p.codes.iter() {
            let Some((udi, return_code)) = self.return_code_of(slot, serial) else {
                continue;
            };
            let _ = returns.push(ReturnedCode {
                udi: udi.clone(),
                serial,
                return_code,
                feature: feature.clone(),
            });
        }
        AuthReturn {
            udi: self.ident.udi.clone(),
            created_at: p.created_at,
            returns,
        }
    }

    /// `license smart authorization return { all | local } { online | offline [<path>] }`
    /// (AUTH-3) and, with `only`, `license smart export return` of one export-controlled
    /// license (AUTH-5). Offline, the codes are removed now (MSG-10) and the return codes are
    /// given back for display (MSG-22) and, with a path, written as a signed return file that
    /// the authority takes like a usage report. Online, the return is queued; the
    /// authority's confirmation removes the codes.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)] // its decoded messages stay off the callers' stacks
    pub fn authorization_return(
        &mut self,
        now: Timestamp,
        scope: SyncScope,
        mode: ReturnMode<'_>,
        only: Option<&str>,
        files: &mut dyn Files,
        key: &mut dyn DeviceKey,
        bin: &mut [u8],
        text: &mut [u8],
        sink: &mut dyn EventSink,
    ) -> Result<AuthReturn, AgentError> {
        let only = match only {
            Some(f) => {
                let lic = self.gated_license(f)?;
                if self.ident.catalogue.get(lic).map(|d| d.enforcement)
                    != Some(Enforcement::ExportControlled)
                {
                    return Err(AgentError::Refused(Refusal::NotExportControlled));
                }
                Some(lic)
            }
            None => None,
        };
        let t = self.now(now);
        let pending = self.returns_of(t, scope, only)?;
        let ret = self.return_message(&pending);
        match mode {
            ReturnMode::Online => {
                if !self.state.config.transport.pushes() {
                    return Err(AgentError::TransportOff);
                }
                if self.direct_blocked() {
                    return Err(AgentError::NoTrust);
                }
                if self.outbox.is_some() {
                    return Err(AgentError::Busy);
                }
                self.outbox = Some(Outgoing::Return(pending));
            }
            ReturnMode::Offline(path) => {
                if let Some(path) = path {
                    let n = envelope::seal(Kind::AuthReturn, &ret, key, bin)?;
                    super::write_armoured(Kind::AuthReturn, n, bin, text, path, files)?;
                }
                self.remove_returned(t, &pending, &[true; Limits::HA_MEMBERS], sink)?;
            }
        }
        Ok(ret)
    }

    /// Remove the codes of `ret` that `keep` says (by index into `ret.codes`), announcing each
    /// (MSG-10).
    #[inline(never)] // the record stays off the callers' stacks
    fn remove_returned(
        &mut self,
        t: Timestamp,
        ret: &PendingReturn,
        keep: &[bool; Limits::HA_MEMBERS],
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        // Built in the record that commits it: no copy of it on the stack.
        // Never dropped: it owns nothing (see `Agent::commit_one`).
        let mut record = core::mem::ManuallyDrop::new([Record::AuthRemoved {
            t,
            removed: Vec::new(),
        }]);
        let [Record::AuthRemoved { removed, .. }] = &mut *record else {
            return Ok(());
        };
        for (i, &(slot, serial)) in ret.codes.iter().enumerate() {
            if keep.get(i) != Some(&true) {
                continue;
            }
            let Some((_, return_code)) = self.return_code_of(slot, serial) else {
                continue;
            };
            let _ = removed.push(Removal {
                slot,
                only: ret.only,
                return_code: Some(return_code),
            });
        }
        if removed.is_empty() {
            return Ok(());
        }
        self.commit(&*record)?;
        let [Record::AuthRemoved { removed, .. }] = &*record else {
            return Ok(());
        };
        for r in removed.iter() {
            self.ident.announce(sink, r.slot, Said::AuthRemoved);
        }
        Ok(())
    }

    /// The authority's confirmation of an online return made at `created` (its signature
    /// checked first, as in [`Agent::on_auth_response`]).
    #[cfg(test)]
    pub(super) fn on_return_response(
        &mut self,
        t: Timestamp,
        created: Timestamp,
        sent: Option<PendingReturn>,
        response: Result<&[u8], CommError>,
        sink: &mut dyn EventSink,
    ) -> Result<(), AgentError> {
        self.on_auth_reply(t, created, Some(sent.as_ref()), response, sink)
    }
}

/// An authorization request waiting for [`Agent::poll_transmit`]. The wire [`AuthRequest`]
/// (UDIs, the license's name: 420 bytes) is rebuilt from the identity when it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PendingAuth {
    pub(super) created_at: Timestamp,
    mode: AuthMode,
    lic: u8,
    /// (HA slot, serial of the code it holds now, 0 = none).
    subjects: Vec<(u8, u64), { Limits::HA_MEMBERS }>,
}

/// Read a verified authorization response whole, without holding it: its head (into `head`, as
/// `trust_head`), and how many codes and refusals it carries.
fn auth_head(payload: &[u8], head: &mut ResponseHead) -> Result<usize, Malformed> {
    let (mut codes, mut refused) = (0, 0);
    let mut r = Reader::new(payload);
    decode::auth_response(&mut r, head, &mut |_| codes += 1, &mut |_| {}, &mut |_| {
        refused += 1
    })?;
    if !r.rest().is_empty() {
        return Err(Malformed);
    }
    Ok(codes + refused)
}

/// The parts of a response [`auth_head`] has read whole, handed over one at a time.
fn auth_parts(
    payload: &[u8],
    code: &mut dyn FnMut(AuthCode),
    returned: &mut dyn FnMut((Udi, u64)),
    refused: &mut dyn FnMut((Udi, AuthRefusal)),
) {
    let mut head: ResponseHead = super::blank();
    // It decoded once: it decodes again.
    let _ = decode::auth_response(
        &mut Reader::new(payload),
        &mut head,
        code,
        returned,
        refused,
    );
}

/// Which of the codes `sent` returns the response confirms (by index into `sent.codes`).
fn returned_of<J: Journal>(
    agent: &Agent<J>,
    payload: &[u8],
    sent: Option<&PendingReturn>,
) -> [bool; Limits::HA_MEMBERS] {
    let mut out = [false; Limits::HA_MEMBERS];
    let Some(sent) = sent else {
        return out;
    };
    auth_parts(
        payload,
        &mut |_| {},
        &mut |(udi, serial)| {
            for (i, &(slot, s)) in sent.codes.iter().enumerate() {
                if s == serial
                    && agent.ident.slot_udi(usize::from(slot)) == Some(&udi)
                    && let Some(o) = out.get_mut(i)
                {
                    *o = true;
                }
            }
        },
        &mut |_| {},
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_digits_are_0_to_9_then_upper_then_lower_case() {
        let digits: std::string::String = (0..62).map(|v| char::from(base62_digit(v))).collect();
        assert_eq!(
            digits,
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        );
        for v in 0..62 {
            assert_eq!(base62_value(char::from(base62_digit(v))), Some(v));
        }
        for c in ['-', '/', ':', '@', '[', '`', '{', 'é', ' '] {
            assert_eq!(base62_value(c), None, "{c:?}");
        }
    }

    #[test]
    fn return_codes_read_back_and_check_against_their_key() {
        // AUTH-4: eight groups of six base-62 characters and one of three.
        let udi = Udi::new("C9300-24T", "FOC2226Z0QZ").unwrap();
        let key = [7u8; 65];
        for serial in [0, 1, 61, 62, 0xFF_FFFF_FFFF, u64::from(u32::MAX) + 5] {
            let code = return_code(&udi, serial, &key);
            let groups: std::vec::Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 9, "{code}");
            assert!(groups[..8].iter().all(|g| g.len() == 6), "{code}");
            assert_eq!(groups[8].len(), 3, "{code}");
            assert!(code.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
            // The serial's low 40 bits come back, with the digest that binds the key.
            let (back, _) = parse_return_code(&code).unwrap();
            assert_eq!(back, serial & 0xFF_FFFF_FFFF);
            assert_eq!(check_return_code(&code, &udi, &key), Some(back));
            assert_eq!(check_return_code(&code, &udi, &[8u8; 65]), None);
        }
    }

    #[test]
    fn a_return_code_is_the_same_text_it_always_was() {
        // Pinned from the first implementation (the digits pushed one `char` at a time): a
        // digit or dash out of place, or a lost one, changes it.
        let udi = Udi::new("C9300-24T", "FOC2226Z0QZ").unwrap();
        assert_eq!(
            return_code(&udi, 0x12_3456_789A, &[7u8; 65]).as_str(),
            "0DIYut-a02il3-mpTlJA-Dldx7K-F4wOFO-czRphZ-HgUz9x-2ZLHIN-EDq"
        );
    }

    use crate::agent::{Identity, Release, TrustAnchors};
    use crate::journal::RamJournal;
    use crate::wire::{AuthKind, AuthResponse};
    use tally_hal::mock::{RecordingSink, SoftwareKey};
    use tally_hal::{DeviceKey, HaMember, HaRole};

    /// Two HA slots (this device in slot 0), each holding a code (serials 11 and 12), and
    /// the authority `key`.
    fn two_slots(key: &SoftwareKey) -> Agent<RamJournal<8192>> {
        let udi = |sn: &str| Udi::new("C9500-24Y4C", sn).unwrap();
        let mut members = Vec::new();
        for (role, sn) in [(HaRole::Active, "SN0"), (HaRole::Standby, "SN1")] {
            members.push(HaMember { role, udi: udi(sn) }).unwrap();
        }
        let ident = Identity {
            udi: udi("SN0"),
            members,
            catalogue: Vec::new(),
            partner: false,
            release: Release::V17_7,
            authority_keys: Vec::from_slice(&[key.public_key()]).unwrap(),
            trust: TrustAnchors {
                device_key: Some([1; 65]),
                ..Default::default()
            },
        };
        let mut a = Agent::boot(ident, RamJournal::new(), Timestamp(1_000_000)).unwrap();
        for (slot, serial) in [(0, 11), (1, 12)] {
            a.state.auth[slot] = Some(AuthEntry {
                kind: AuthKind::Slac,
                serial,
                issued_at: Timestamp(1),
                installed_at: Timestamp(1),
                licenses: Vec::new(),
            });
        }
        a
    }

    #[test]
    fn failed_answers_count_where_they_belong_and_only_a_request_says_why() {
        // An authorization request's answer and a return's share one body: a failed return
        // counts in its statistics alone and raises no message; a failed request counts in
        // its own and names the cause (MSG-2).
        let key = SoftwareKey::from_seed(b"online returns authority");
        let mut a = two_slots(&key);
        let mut sink = RecordingSink::default();
        let (t, created) = (Timestamp(2_000_000), Timestamp(1_900_000));
        let unsigned: &[u8] = &[0; 8];
        for response in [Err(CommError::Unreachable), Ok(unsigned)] {
            a.on_return_response(t, created, None, response, &mut sink)
                .unwrap();
        }
        assert!(sink.messages.is_empty(), "{:?}", sink.messages);
        assert_eq!(a.stats.authorization_request, Default::default());
        for response in [Err(CommError::Unreachable), Ok(unsigned)] {
            a.on_auth_response(t, created, response, &mut sink).unwrap();
        }
        for s in [a.stats.authorization_return, a.stats.authorization_request] {
            assert_eq!((s.fail, s.ongoing_overall, s.ongoing_comm), (2, 2, 1));
            assert_eq!((s.success, s.failure_reason), (0, Some("invalid response")));
        }
        let lines: std::vec::Vec<&str> = sink.messages.iter().map(|(_, m)| m.as_str()).collect();
        let failed = "%SMART_LIC-3-AUTHORIZATION_INSTALL_FAILED: The install of a new licensing authorization code has failed on PID:C9500-24Y4C,SN:SN0";
        assert_eq!(
            lines,
            [
                std::format!("{failed}: Unable to connect to the server: unreachable."),
                std::format!("{failed}: invalid response.")
            ]
        );
        assert!(a.authorization_of(0).is_some() && a.authorization_of(1).is_some());
    }

    #[test]
    fn an_online_return_removes_only_the_codes_the_authority_confirms() {
        // AUTH-3 online: of the codes sent back, the confirmation names some (and one this
        // device never sent); those go (MSG-10), the others stay. Confirming none is a refusal.
        let mut key = SoftwareKey::from_seed(b"online returns authority");
        let mut a = two_slots(&key);
        let udi = |sn: &str| Udi::new("C9500-24Y4C", sn).unwrap();
        let (t, created) = (Timestamp(2_000_000), Timestamp(1_900_000));
        let sent = PendingReturn {
            created_at: created,
            only: None,
            codes: Vec::from_slice(&[(0, 11), (1, 12)]).unwrap(),
        };
        let mut answer = |seq, returned: &[(Udi, u64)]| {
            let r = AuthResponse {
                udi: udi("SN0"),
                issued_at: Timestamp(1_950_000),
                seq,
                request_created_at: created,
                returned: Vec::from_slice(returned).unwrap(),
                ..Default::default()
            };
            let mut buf = [0u8; 2048];
            let n = envelope::seal(Kind::AuthResponse, &r, &mut key, &mut buf).unwrap();
            buf[..n].to_vec()
        };
        let mut sink = RecordingSink::default();
        let none = answer(1, &[(udi("SN0"), 99)]);
        a.on_return_response(t, created, Some(sent.clone()), Ok(&none), &mut sink)
            .unwrap();
        let stats = a.stats.authorization_return;
        assert_eq!((stats.fail, stats.failure_reason), (1, Some("refused")));
        assert!(a.authorization_of(0).is_some() && a.authorization_of(1).is_some());
        let one = answer(2, &[(udi("SN0"), 99), (udi("SN1"), 12)]);
        a.on_return_response(t, created, Some(sent), Ok(&one), &mut sink)
            .unwrap();
        assert_eq!(a.stats.authorization_return.success, 1);
        assert!(a.authorization_of(0).is_some() && a.authorization_of(1).is_none());
        let lines: std::vec::Vec<&str> = sink.messages.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            lines,
            [
                "%SMART_LIC-6-AUTHORIZATION_REMOVED: A licensing authorization code has been removed from PID:C9500-24Y4C,SN:SN1"
            ]
        );
    }
}
