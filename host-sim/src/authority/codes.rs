//! The authority's side of trust and authorization (digest §5, §6): ID tokens with expiry and a
//! use limit per Virtual Account, registrations (a UDI with a trust code is registered; a new
//! code needs `force`), trust codes in answers and ACKs, the license pool behind authorization
//! codes, returns and typed return codes.

use super::{Authority, AuthorityError};
use serde::{Deserialize, Serialize};
use tally_core::agent::{check_return_code, parse_return_code};
use tally_core::envelope;
use tally_core::limits::Limits;
use tally_core::wire::{
    AccountNames, AuthCode, AuthCodeFile, AuthKind, AuthLicense, AuthMode, AuthRefusal,
    AuthRequest, AuthResponse, AuthReturn, Key, Kind, TrustCode, TrustCodeFile, TrustOrigin,
    TrustRefusal, TrustRequest, TrustResponse, TrustSubject,
};
use tally_hal::{Timestamp, Udi, bounded};

/// An ID token made in a Virtual Account (TRUST-3, TRUST-9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdToken {
    pub smart_account: String,
    pub virtual_account: String,
    pub expires: Option<Timestamp>,
    pub max_uses: Option<u32>,
    pub uses: u32,
}

/// An authorization code as the authority remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCode {
    pub serial: u64,
    pub kind: AuthKind,
    pub licenses: Vec<(String, u32)>,
}

fn hv<T, const N: usize>(items: impl IntoIterator<Item = T>) -> heapless::Vec<T, N> {
    let mut v = heapless::Vec::new();
    for i in items {
        if v.push(i).is_err() {
            break;
        }
    }
    v
}

impl Authority {
    /// `sim authority idtoken <token> …`: make an ID token in the current (or given) account.
    pub fn add_token(
        &mut self,
        token: &str,
        account: Option<(String, String)>,
        expires: Option<Timestamp>,
        max_uses: Option<u32>,
    ) {
        let (sa, va) =
            account.unwrap_or_else(|| (self.smart_account.clone(), self.virtual_account.clone()));
        self.tokens.insert(
            token.to_string(),
            IdToken {
                smart_account: sa,
                virtual_account: va,
                expires,
                max_uses,
                uses: 0,
            },
        );
    }

    pub fn token(&self, token: &str) -> Option<&IdToken> {
        self.tokens.get(token)
    }

    /// Whether the UDI has a trust code from this authority.
    pub fn is_registered(&self, udi: &Udi) -> bool {
        self.devices
            .get(&udi.to_string())
            .is_some_and(|d| d.trust_serial.is_some())
    }

    /// The Virtual Account a product instance is in.
    pub fn device_account(&self, udi: &Udi) -> Option<(String, String)> {
        self.devices.get(&udi.to_string()).map(|d| {
            d.account
                .clone()
                .unwrap_or_else(|| (self.smart_account.clone(), self.virtual_account.clone()))
        })
    }

    /// Put a product instance in another account (as an order or a CSSM transfer would).
    pub fn move_device(&mut self, udi: &Udi, sa: &str, va: &str) -> bool {
        match self.devices.get_mut(&udi.to_string()) {
            Some(d) => {
                d.account = Some((sa.to_string(), va.to_string()));
                true
            }
            None => false,
        }
    }

    /// The authorization code a product instance holds, as the authority sees it.
    pub fn issued_code(&self, udi: &Udi) -> Option<&IssuedCode> {
        self.devices
            .get(&udi.to_string())
            .and_then(|d| d.slac.as_ref())
    }

    /// Return codes the authority has taken for a product instance.
    pub fn returns(&self, udi: &Udi) -> Vec<String> {
        self.devices
            .get(&udi.to_string())
            .map(|d| d.returns.clone())
            .unwrap_or_default()
    }

    fn next_serial(&mut self) -> u64 {
        self.code_serial += 1;
        self.code_serial
    }

    fn names(sa: &str, va: &str) -> Option<AccountNames> {
        Some(AccountNames {
            smart_account: bounded(sa).ok()?,
            virtual_account: bounded(va).ok()?,
        })
    }

    /// A trust code for `subject`, if it is a registered product instance with that key; it is
    /// registered from now on.
    fn issue_trust(
        &mut self,
        now: Timestamp,
        subject: &TrustSubject,
        origin: TrustOrigin,
    ) -> Option<TrustCode> {
        let key = self.devices.get(&subject.udi.to_string())?.public_key;
        if key != subject.device_key.0 {
            return None;
        }
        let (sa, va) = self.device_account(&subject.udi)?;
        let serial = self.next_serial();
        if let Some(d) = self.devices.get_mut(&subject.udi.to_string()) {
            d.trust_serial = Some(serial);
        }
        Some(TrustCode {
            udi: subject.udi.clone(),
            device_key: Key(key),
            origin,
            account: Self::names(&sa, &va),
            issued_at: now,
            serial,
        })
    }

    /// Trust codes for an ACK (TRUST-5): every UDI the usage message asked for whose key is the
    /// one registered.
    pub(super) fn trust_for_ack(
        &mut self,
        now: Timestamp,
        _udi: &Udi,
        subjects: &[TrustSubject],
    ) -> heapless::Vec<TrustCode, { Limits::HA_MEMBERS }> {
        let codes: Vec<TrustCode> = subjects
            .iter()
            .filter_map(|s| self.issue_trust(now, s, TrustOrigin::Ack))
            .collect();
        hv(codes)
    }

    /// Authorization codes for an ACK (AUTH-6): the licenses in use without a code, for the
    /// product instance that reported, as far as the pool allows.
    pub(super) fn auth_for_ack(
        &mut self,
        now: Timestamp,
        udi: &Udi,
        wanted: &[AuthLicense],
    ) -> heapless::Vec<AuthCode, { Limits::HA_MEMBERS }> {
        let mut out = heapless::Vec::new();
        let mut code = None;
        for w in wanted {
            if let Ok(c) = self.grant(now, udi, AuthMode::Add, &w.feature) {
                code = Some(c);
            }
        }
        if let Some(c) = code {
            let _ = out.push(c);
        }
        out
    }

    /// Issue an authorization code for `udi` that adds (or only holds, `Replace`) one unit of
    /// `feature` (AUTH-2).
    fn grant(
        &mut self,
        now: Timestamp,
        udi: &Udi,
        mode: AuthMode,
        feature: &str,
    ) -> Result<AuthCode, AuthRefusal> {
        let dev = self
            .devices
            .get(&udi.to_string())
            .ok_or(AuthRefusal::UnknownCode)?;
        // `add` keeps everything; `replace` keeps only the requested license (AUTH-2).
        let held: Vec<(String, u32)> = dev.slac.as_ref().map_or(Vec::new(), |c| c.licenses.clone());
        let (mut licenses, returned): (Vec<_>, Vec<_>) = match mode {
            AuthMode::Add => (held, Vec::new()),
            AuthMode::Replace => held.into_iter().partition(|(f, _)| f == feature),
        };
        if licenses.iter().any(|(f, _)| f == feature) {
            // Already authorized: the same licenses in a fresh code.
        } else {
            let available = self.pool.get(feature).copied();
            match available {
                None => return Err(AuthRefusal::UnknownLicense),
                Some(0) => return Err(AuthRefusal::NoLicensesAvailable),
                Some(n) => {
                    self.pool.insert(feature.to_string(), n - 1);
                }
            }
            licenses.push((feature.to_string(), 1));
        }
        for (f, n) in returned {
            *self.pool.entry(f).or_insert(0) += n;
        }
        let serial = self.next_serial();
        if let Some(d) = self.devices.get_mut(&udi.to_string()) {
            d.slac = Some(IssuedCode {
                serial,
                kind: AuthKind::Slac,
                licenses: licenses.clone(),
            });
        }
        Ok(AuthCode {
            udi: udi.clone(),
            kind: AuthKind::Slac,
            issued_at: now,
            serial,
            licenses: hv(licenses.into_iter().filter_map(|(f, count)| {
                Some(AuthLicense {
                    feature: bounded(&f).ok()?,
                    count,
                })
            })),
        })
    }

    /// Decode a device message of `kind` and check its signature against the sender's key.
    fn device_message<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        kind: Kind,
        udi_of: impl Fn(&T) -> &Udi,
    ) -> Result<T, AuthorityError> {
        let env = envelope::open(bytes, Limits::USAGE_FILE_BYTES)?;
        if env.kind() != kind {
            return Err(AuthorityError::UnexpectedKind(env.kind()));
        }
        let msg: T = env.decode()?;
        let dev = self
            .devices
            .get(&udi_of(&msg).to_string())
            .ok_or_else(|| AuthorityError::UnknownDevice(udi_of(&msg).to_string()))?;
        env.verify(&[dev.public_key])?;
        Ok(msg)
    }

    /// A trust request: with an ID token (online, TRUST-3/4/8/9) or saved to a file (TRUST-6).
    pub(super) fn trust_request(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
    ) -> Result<Vec<u8>, AuthorityError> {
        let req: TrustRequest =
            self.device_message(bytes, Kind::TrustRequest, |r: &TrustRequest| &r.udi)?;
        let mut codes = Vec::new();
        let mut refused = Vec::new();
        let all = |why| req.subjects.iter().map(move |s| (s.udi.clone(), why));
        let token = req.token.as_ref().map(|t| t.to_string());
        // Online without a token from a registered active: HA trust sync (TRUST-12), which
        // moves the members to the active's account. From a file: a saved trust request.
        let sync = token.is_none()
            && self.is_registered(&req.udi)
            && !req.subjects.iter().any(|s| s.udi == req.udi);
        let check = match &token {
            None if sync => Ok(self.device_account(&req.udi)),
            None => Ok(None),
            Some(t) => match self.tokens.get(t) {
                None => Err(TrustRefusal::InvalidToken),
                Some(tok) if tok.expires.is_some_and(|e| now > e) => {
                    Err(TrustRefusal::TokenExpired)
                }
                Some(tok) if tok.max_uses.is_some_and(|m| tok.uses >= m) => {
                    Err(TrustRefusal::TokenUsedUp)
                }
                Some(_) if self.busy > 0 => {
                    self.busy -= 1;
                    Err(TrustRefusal::ServerBusy)
                }
                Some(tok) => Ok(Some((
                    tok.smart_account.clone(),
                    tok.virtual_account.clone(),
                ))),
            },
        };
        match check {
            Err(why) => refused.extend(all(why)),
            Ok(account) => {
                for s in req.subjects.iter() {
                    // Every code issued is one use of the token (TRUST-9).
                    let used_up = token
                        .as_ref()
                        .and_then(|t| self.tokens.get(t))
                        .is_some_and(|tok| tok.max_uses.is_some_and(|m| tok.uses >= m));
                    if used_up {
                        refused.push((s.udi.clone(), TrustRefusal::TokenUsedUp));
                        continue;
                    }
                    let registered = self.is_registered(&s.udi);
                    if registered && !req.force && !sync {
                        refused.push((s.udi.clone(), TrustRefusal::AlreadyInstalled));
                        continue;
                    }
                    if let Some((sa, va)) = &account {
                        let here = self.device_account(&s.udi);
                        if here.as_ref() != Some(&(sa.clone(), va.clone())) {
                            if !req.force && !sync {
                                refused.push((s.udi.clone(), TrustRefusal::AccountMismatch));
                                continue;
                            }
                            // TRUST-4: `force` moves the product instance to the token's account.
                            self.move_device(&s.udi, sa, va);
                        }
                    }
                    let origin = if token.is_some() {
                        TrustOrigin::IdToken
                    } else {
                        TrustOrigin::Ack
                    };
                    match self.issue_trust(now, s, origin) {
                        Some(c) => {
                            if let Some(tok) = token.as_ref().and_then(|t| self.tokens.get_mut(t)) {
                                tok.uses += 1;
                            }
                            codes.push(c);
                        }
                        None => refused.push((s.udi.clone(), TrustRefusal::AccountMismatch)),
                    }
                }
            }
        }
        let response = TrustResponse {
            udi: req.udi.clone(),
            issued_at: now,
            seq: self.next_seq(),
            request_created_at: req.created_at,
            codes: hv(codes),
            refused: hv(refused),
        };
        self.seal(Kind::TrustResponse, &response)
    }

    /// An authorization request (AUTH-2), online or from a file.
    pub(super) fn auth_request(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
    ) -> Result<Vec<u8>, AuthorityError> {
        let req: AuthRequest =
            self.device_message(bytes, Kind::AuthRequest, |r: &AuthRequest| &r.udi)?;
        let mut codes = Vec::new();
        let mut refused = Vec::new();
        for (udi, _) in req.subjects.iter() {
            match self.grant(now, udi, req.mode, &req.license.feature) {
                Ok(c) => codes.push(c),
                Err(why) => refused.push((udi.clone(), why)),
            }
        }
        let response = AuthResponse {
            udi: req.udi.clone(),
            issued_at: now,
            seq: self.next_seq(),
            request_created_at: req.created_at,
            codes: hv(codes),
            returned: heapless::Vec::new(),
            refused: hv(refused),
        };
        self.seal(Kind::AuthResponse, &response)
    }

    /// Take a code back: its licenses return to the pool.
    fn take_back(&mut self, udi: &Udi, serial: u64, features: &[String], code: &str) -> bool {
        let Some(dev) = self.devices.get_mut(&udi.to_string()) else {
            return false;
        };
        let Some(slac) = dev.slac.as_mut().filter(|c| c.serial == serial) else {
            return false;
        };
        let mut back: Vec<(String, u32)> = Vec::new();
        if features.is_empty() {
            back.append(&mut slac.licenses);
        } else {
            slac.licenses.retain(|(f, n)| {
                if features.contains(f) {
                    back.push((f.clone(), *n));
                    false
                } else {
                    true
                }
            });
        }
        if slac.licenses.is_empty() {
            dev.slac = None;
        }
        dev.returns.push(code.to_string());
        for (f, n) in back {
            *self.pool.entry(f).or_insert(0) += n;
        }
        true
    }

    /// An authorization return (AUTH-3, AUTH-5), online or uploaded as a file (17.7.1).
    pub(super) fn auth_return(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
    ) -> Result<Vec<u8>, AuthorityError> {
        let ret: AuthReturn =
            self.device_message(bytes, Kind::AuthReturn, |r: &AuthReturn| &r.udi)?;
        let mut returned = Vec::new();
        let mut refused = Vec::new();
        for r in ret.returns.iter() {
            let key = self.devices.get(&r.udi.to_string()).map(|d| d.public_key);
            let valid = key
                .is_some_and(|k| check_return_code(&r.return_code, &r.udi, &k) == Some(r.serial));
            let features: Vec<String> = r.feature.iter().map(|f| f.to_string()).collect();
            if valid && self.take_back(&r.udi, r.serial, &features, &r.return_code) {
                returned.push((r.udi.clone(), r.serial));
            } else {
                refused.push((r.udi.clone(), AuthRefusal::UnknownCode));
            }
        }
        let response = AuthResponse {
            udi: ret.udi.clone(),
            issued_at: now,
            seq: self.next_seq(),
            request_created_at: ret.created_at,
            codes: heapless::Vec::new(),
            returned: hv(returned),
            refused: hv(refused),
        };
        self.seal(Kind::AuthResponse, &response)
    }

    /// A return code typed into the portal (AUTH-3 offline): the code's licenses go back to the
    /// pool. Returns which product instance it was for.
    pub fn enter_return_code(&mut self, code: &str) -> Result<Udi, String> {
        let (serial, _) = parse_return_code(code).ok_or("not a return code")?;
        let found = self.devices.values().find_map(|d| {
            let c = d.slac.as_ref().filter(|c| c.serial == serial)?;
            let _ = c;
            (check_return_code(code, &d.udi, &d.public_key) == Some(serial)).then(|| d.udi.clone())
        });
        let udi = found.ok_or("no authorization code matches this return code")?;
        self.take_back(&udi, serial, &[], code);
        Ok(udi)
    }

    /// A signed authorization-code file for `udi` (the portal's SLAC download, AUTH-6): one unit
    /// of `feature` added to what the product instance holds. A feature the account does not
    /// hold is added to its pool first (the portal's code is for a license bought for it).
    pub fn auth_code_file(
        &mut self,
        now: Timestamp,
        udi: &Udi,
        feature: &str,
        kind: AuthKind,
    ) -> Result<String, String> {
        if !self.pool.contains_key(feature) {
            self.pool.insert(feature.to_string(), 1);
        }
        let mut code = self
            .grant(now, udi, AuthMode::Add, feature)
            .map_err(|e| e.text().to_string())?;
        // An SLR (a reservation from before migration, AUTH-1) travels the same way.
        code.kind = kind;
        if let Some(c) = self
            .devices
            .get_mut(&udi.to_string())
            .and_then(|d| d.slac.as_mut())
        {
            c.kind = kind;
        }
        let file = AuthCodeFile {
            seq: self.next_seq(),
            code,
        };
        let bytes = self
            .seal(Kind::AuthCode, &file)
            .map_err(|e| e.to_string())?;
        super::armour(Kind::AuthCode, &bytes).map_err(|e| e.to_string())
    }

    /// A factory-installed policy for `udi`: a signed policy envelope (AUTH-6 "pre-installed at
    /// the factory", \[003:349\]).
    pub fn factory_policy(
        &mut self,
        now: Timestamp,
        udi: &Udi,
        policy: &tally_core::policy::CustomPolicy,
    ) -> Result<Vec<u8>, AuthorityError> {
        let payload = tally_core::wire::PolicyPayload {
            udi: udi.clone(),
            issued_at: now,
            seq: self.next_seq(),
            policy: policy.clone(),
        };
        self.seal(Kind::Policy, &payload)
    }

    /// A factory-installed authorization code for `udi` holding `features` (bought with the
    /// hardware, so they come with the order, not from the pool).
    pub fn factory_auth_code(
        &mut self,
        now: Timestamp,
        udi: &Udi,
        features: &[String],
    ) -> Result<Vec<u8>, String> {
        let mut code = None;
        for f in features {
            *self.pool.entry(f.clone()).or_insert(0) += 1;
            code = Some(
                self.grant(now, udi, AuthMode::Add, f)
                    .map_err(|e| e.text().to_string())?,
            );
        }
        let code = code.ok_or("no feature to authorize")?;
        let file = AuthCodeFile {
            seq: self.next_seq(),
            code,
        };
        self.seal(Kind::AuthCode, &file).map_err(|e| e.to_string())
    }

    /// A signed trust-code file for `udi` (origin: ACK), as CSSM gives for a saved trust request.
    pub fn trust_code_file(&mut self, now: Timestamp, udi: &Udi) -> Result<String, String> {
        let key = self
            .devices
            .get(&udi.to_string())
            .map(|d| d.public_key)
            .ok_or("unknown product instance")?;
        let code = self
            .issue_trust(
                now,
                &TrustSubject {
                    udi: udi.clone(),
                    device_key: Key(key),
                },
                TrustOrigin::Ack,
            )
            .ok_or("unknown product instance")?;
        let file = TrustCodeFile {
            seq: self.next_seq(),
            code,
        };
        let bytes = self
            .seal(Kind::TrustCode, &file)
            .map_err(|e| e.to_string())?;
        super::armour(Kind::TrustCode, &bytes).map_err(|e| e.to_string())
    }
}
