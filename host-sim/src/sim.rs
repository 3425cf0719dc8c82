//! The simulator: one product instance, the licensing authority, a link between them and a
//! clock that runs at any speed. Console lines go to the device unless they start with `sim`.

use crate::authority::{Authority, DEFAULT_KEY_SEED};
use crate::flash::{FileFlash, SECTORS};
use crate::profiles::{self, Profile};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tally_core::agent::{Agent, AgentError, Identity, Release};
use tally_core::cli::write_syslog_line;
use tally_core::crypto::LocalKey;
use tally_core::journal::flash::FlashJournal;
use tally_core::policy::{CategoryOverrides, CustomPolicy};
use tally_core::provision::Provisioning;
use tally_core::time::{Civil, ShowTime, TimeZone, timestamp_of};
use tally_hal::mock::{DirFiles, MemFiles};
use tally_hal::{CommError, Platform, Timestamp, bounded};

/// Where a simulation starts unless told otherwise: 2026-01-05 09:00:00 UTC.
pub const DEFAULT_START: Timestamp = Timestamp(1_767_603_600);

/// Marks a `sim` command error as a failure rather than invalid input.
const FAILED: &str = "\u{1}";

/// Options for a new simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub state_dir: Option<PathBuf>,
    pub release: Release,
    pub start: Timestamp,
    pub profile: Option<Profile>,
    /// The device's factory provisioning image (`tally-sim factory provision`); with
    /// `state_dir`, `DIR/devices/<serial>.prov` is used when present.
    pub provision: Option<Provisioning>,
    /// Which product instance to drive.
    pub device: DeviceKind,
}

/// Where the product instance runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DeviceKind {
    /// In this process (the default).
    #[default]
    InProcess,
    /// The firmware under QEMU `mps2-an386` (`None`: this workspace's release build).
    Qemu { elf: Option<PathBuf> },
    /// A board on a serial port.
    Serial(PathBuf),
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            state_dir: None,
            release: Release::V17_7,
            start: DEFAULT_START,
            profile: None,
            provision: None,
            device: DeviceKind::InProcess,
        }
    }
}

pub use crate::device::{Device, FilesDebug, Outcome, SimDevice, UsageError};

#[derive(Debug, Serialize, Deserialize)]
struct SimFile {
    now: Timestamp,
    link_up: bool,
    #[serde(default)]
    rtc_offset: i64,
}

/// Errors that stop the simulator from starting.
#[derive(Debug)]
pub enum SimError {
    Io(std::io::Error),
    Agent(AgentError),
    Profile,
    State(String),
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Io(e) => write!(f, "{e}"),
            SimError::Agent(e) => write!(f, "{e}"),
            SimError::Profile => f.write_str("device profile does not fit the core's limits"),
            SimError::State(s) => f.write_str(s),
        }
    }
}

impl From<std::io::Error> for SimError {
    fn from(e: std::io::Error) -> Self {
        SimError::Io(e)
    }
}

impl From<AgentError> for SimError {
    fn from(e: AgentError) -> Self {
        SimError::Agent(e)
    }
}

/// The simulator.
#[derive(Debug)]
pub struct Simulator {
    /// True time: the authority's clock.
    pub now: Timestamp,
    /// How far the device's RTC is off true time, in seconds (`sim clock skew`).
    pub rtc_offset: i64,
    pub link_up: bool,
    /// The in-process device (the one driven unless `remote` is set).
    pub device: SimDevice,
    /// A device over a serial link (firmware in QEMU or on a board), driven instead.
    pub remote: Option<Box<dyn Device>>,
    pub authority: Authority,
    state_dir: Option<PathBuf>,
}

/// The simulated device key of the product instance with serial `serial` (a device without a
/// provisioning image).
pub fn device_key(serial: &str) -> Result<LocalKey, SimError> {
    let mut seed = heapless::String::new();
    tally_hal::reference::development_key_seed(serial, &mut seed)
        .map_err(|_| SimError::State("serial too long".into()))?;
    LocalKey::from_seed(seed.as_bytes()).map_err(|e| SimError::State(format!("device key: {e:?}")))
}

impl Simulator {
    pub fn new(opts: SimOptions) -> Result<Simulator, SimError> {
        let profile = match &opts.profile {
            Some(p) => p.clone(),
            None => profiles::stack_switch().map_err(|_| SimError::Profile)?,
        };
        let platform = profile.platform;
        let serial = platform.udi().sn.to_string();
        let (mut authority, now, rtc_offset, link_up, flash, files): (
            Authority,
            Timestamp,
            i64,
            bool,
            FileFlash,
            Box<dyn FilesDebug>,
        ) = match &opts.state_dir {
            Some(dir) => {
                let devdir = dir.join("devices");
                std::fs::create_dir_all(&devdir)?;
                let authority = match std::fs::read(dir.join("authority.json")) {
                    Ok(b) => serde_json::from_slice(&b)
                        .map_err(|e| SimError::State(format!("authority.json: {e}")))?,
                    Err(_) => Authority::new(DEFAULT_KEY_SEED),
                };
                let (now, rtc_offset, link_up) = match std::fs::read(dir.join("sim.json")) {
                    Ok(b) => {
                        let f: SimFile = serde_json::from_slice(&b)
                            .map_err(|e| SimError::State(format!("sim.json: {e}")))?;
                        (f.now, f.rtc_offset, f.link_up)
                    }
                    Err(_) => (opts.start, 0, true),
                };
                // A remote device keeps the flash image and the files itself.
                let (flash, files): (FileFlash, Box<dyn FilesDebug>) =
                    if opts.device == DeviceKind::InProcess {
                        (
                            FileFlash::open(&devdir.join(format!("{serial}.flash")))?,
                            Box::new(DirFiles::new(devdir.join(&serial))),
                        )
                    } else {
                        (FileFlash::in_memory(), Box::new(MemFiles::default()))
                    };
                (authority, now, rtc_offset, link_up, flash, files)
            }
            None => (
                Authority::new(DEFAULT_KEY_SEED),
                opts.start,
                0,
                true,
                FileFlash::in_memory(),
                Box::new(MemFiles::default()),
            ),
        };
        let provision = match (&opts.provision, &opts.state_dir) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(dir)) => {
                let path = dir.join("devices").join(format!("{serial}.prov"));
                match std::fs::read(&path) {
                    Ok(b) => Some(
                        crate::factory::from_file(&b)
                            .map_err(|e| SimError::State(format!("{}: {e}", path.display())))?,
                    ),
                    Err(_) => None,
                }
            }
            (None, None) => None,
        };
        let key = match &provision {
            Some(p) => {
                if &p.udi != platform.udi() {
                    return Err(SimError::State(format!(
                        "the provisioning image is for {}, this device is {}",
                        p.udi,
                        platform.udi()
                    )));
                }
                let secret = p.device_secret.ok_or_else(|| {
                    SimError::State("the provisioning image has no device secret (a secure element holds it); the simulator needs it".into())
                })?;
                LocalKey::from_secret(secret)
                    .map_err(|e| SimError::State(format!("device secret: {e:?}")))?
            }
            None => device_key(&serial)?,
        };
        authority.register(platform.udi(), tally_hal::DeviceKey::public_key(&key));
        let mut identity =
            Identity::from_platform(&platform, &[authority.public_key()], opts.release)?;
        identity.trust.device_key = Some(tally_hal::DeviceKey::public_key(&key));
        if let Some(p) = &provision {
            // TRUST-2: the factory trust code, verified against the pinned manufacturing key.
            identity.trust = p
                .anchors()
                .map_err(|e| SimError::State(format!("provisioning: {e}")))?;
            identity.authority_keys = p.authority_keys();
        }
        // Every HA member has its own key pair; the active knows their public keys (TRUST-12).
        let members: Vec<(usize, tally_hal::Udi)> = identity
            .slots()
            .enumerate()
            .map(|(i, (_, u))| (i, u.clone()))
            .collect();
        for (slot, udi) in members {
            let k = if &udi == platform.udi() {
                tally_hal::DeviceKey::public_key(&key)
            } else {
                let k = tally_hal::DeviceKey::public_key(&device_key(&udi.sn)?);
                authority.register(&udi, k);
                k
            };
            if let Some(s) = identity.trust.member_keys.get_mut(slot) {
                *s = Some(k);
            }
        }
        let journal = FlashJournal::new(flash, 0, SECTORS as u32)
            .map_err(|e| SimError::Agent(AgentError::Journal(e)))?;
        let mut agent = Agent::boot(identity, journal, skewed(now, rtc_offset))?;
        if let Some(p) = &provision {
            // The factory's policy and authorization codes, taken in on the first boot.
            let codes: Vec<&[u8]> = p.auth_codes.iter().map(|c| c.as_slice()).collect();
            agent.install_factory(
                skewed(now, rtc_offset),
                p.policy.as_ref().map(|v| v.as_slice()),
                &codes,
            )?;
        }
        let device = SimDevice::new(agent, key, platform, files);
        let mut sim = Simulator {
            now,
            rtc_offset,
            link_up,
            device,
            remote: None,
            authority,
            state_dir: opts.state_dir.clone(),
        };
        if opts.device != DeviceKind::InProcess {
            let remote = remote_device(&opts, &serial, provision.as_ref(), skewed(now, rtc_offset))
                .map_err(SimError::State)?;
            sim.attach(remote);
        }
        sim.save()?;
        Ok(sim)
    }

    /// Persist the clock, link and authority (the device's flash persists itself).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(dir) = &self.state_dir else {
            return Ok(());
        };
        let sim = serde_json::to_vec_pretty(&SimFile {
            now: self.now,
            link_up: self.link_up,
            rtc_offset: self.rtc_offset,
        })?;
        write_atomic(&dir.join("sim.json"), &sim)?;
        let auth = serde_json::to_vec_pretty(&self.authority)?;
        write_atomic(&dir.join("authority.json"), &auth)
    }

    /// The device's RTC: true time off by `rtc_offset`.
    pub fn rtc(&self) -> Timestamp {
        skewed(self.now, self.rtc_offset)
    }

    /// The device driven: the remote one if there is one, else the in-process one.
    pub fn dev(&mut self) -> &mut dyn Device {
        match &mut self.remote {
            Some(r) => r.as_mut(),
            None => &mut self.device,
        }
    }

    /// Drive a device over a serial link from now on (`--device`), booted at the current time.
    pub fn attach(&mut self, remote: Box<dyn Device>) {
        self.remote = Some(remote);
    }

    pub fn timezone(&mut self) -> TimeZone {
        self.dev().timezone()
    }

    /// Print what a device call did: its output, its system messages (as the console shows
    /// them, at the current time), its errors.
    fn print(&mut self, o: &Outcome, out: &mut String) {
        out.push_str(&o.output);
        if !o.syslog.is_empty() {
            let tz = self.timezone();
            for m in &o.syslog {
                let _ = write_syslog_line(out, self.now, &tz, m);
            }
        }
        for e in &o.errors {
            let _ = writeln!(out, "% Error: {e}");
        }
    }

    /// Everything the device does at the current time: measurements, alerts, and talking to
    /// the authority for as long as it has something to say.
    fn step(&mut self, out: &mut String) {
        let rtc = self.rtc();
        let o = self.dev().advance(rtc, rtc);
        self.print(&o, out);
        self.communicate(o, out);
    }

    /// Send what the device wants sent, hand it the answers, until it has nothing more.
    fn communicate(&mut self, first: Outcome, out: &mut String) {
        let mut o = first;
        // Bounded: each exchange either succeeds or is gated by the retry schedule.
        for _ in 0..16 {
            let Some(tx) = o.transmit.take() else {
                break;
            };
            let result: Result<Vec<u8>, CommError> = if !self.link_up {
                Err(CommError::Unreachable)
            } else {
                // The authority refusing a message looks like a server error to the device.
                self.authority
                    .handle(self.now, &tx)
                    .map_err(|_| CommError::HostNotFound)
            };
            let rtc = self.rtc();
            let answer = result.as_deref().map_err(|e| *e);
            o = self.dev().deliver(rtc, answer);
            self.print(&o, out);
        }
    }

    /// Advance the clock by `secs`, waking the device whenever it asked to be woken.
    pub fn advance(&mut self, secs: u64, out: &mut String) {
        let target = self.now.add_secs(secs);
        self.run_until(target, out);
    }

    pub fn run_until(&mut self, target: Timestamp, out: &mut String) {
        loop {
            // The device wakes by its own clock; it stops where it has something to say.
            let (from, until) = (self.rtc(), skewed(target, self.rtc_offset));
            let o = self.dev().advance(from, until);
            self.now = unskewed(o.at, self.rtc_offset).max(self.now);
            self.print(&o, out);
            let done = o.done;
            self.communicate(o, out);
            if done {
                break;
            }
        }
        self.now = self.now.max(target);
    }

    /// Run one console line and return what the console prints.
    pub fn line(&mut self, line: &str) -> String {
        let mut out = String::new();
        let trimmed = line.trim();
        if trimmed.starts_with('!') {
            return out; // an IOS comment
        }
        let mut words = trimmed.split_whitespace();
        if words.next() == Some("sim") {
            if let Err(e) = self.sim_command(trimmed, &mut out) {
                // Failures of a well-formed command are errors, not invalid input.
                match e.strip_prefix(FAILED) {
                    Some(why) => writeln!(out, "% Error: {why}"),
                    None => writeln!(out, "% Invalid input detected: {e}"),
                }
                .unwrap_or(());
            }
        } else {
            self.device_line(line, &mut out);
        }
        self.after_power_cut(&mut out);
        if let Err(e) = self.save() {
            let _ = writeln!(out, "% sim: cannot save state: {e}");
        }
        out
    }

    /// If power was cut inside a flash operation, power comes back and the device reboots from
    /// what its flash holds.
    fn after_power_cut(&mut self, out: &mut String) {
        if !self.dev().take_power_cut() {
            return;
        }
        let _ = writeln!(
            out,
            "% sim: power cut during a flash operation; the device reloads"
        );
        if let Err(e) = self.reload() {
            let _ = writeln!(out, "% sim: the device does not boot: {e}");
        }
        self.step(out);
    }

    fn device_line(&mut self, line: &str, out: &mut String) {
        let rtc = self.rtc();
        let o = self.dev().console(rtc, line);
        self.print(&o, out);
        // Whatever the command changed (sync, transport, interval), let the device act on it now.
        self.step(out);
    }

    pub fn prompt(&mut self) -> String {
        self.dev().prompt()
    }

    /// Reboot the device cleanly (its journal is replayed; OPEN reports close with RELOAD).
    pub fn reload(&mut self) -> Result<(), SimError> {
        let rtc = self.rtc();
        self.dev().reboot(rtc).map_err(SimError::State)
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, String> {
        self.dev().read_file(path)
    }

    fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.dev().write_file(path, data)
    }

    /// The device's UDI (as the authority knows it).
    fn udi(&mut self) -> tally_hal::Udi {
        self.dev().udi()
    }

    fn sim_command(&mut self, line: &str, out: &mut String) -> Result<(), String> {
        let words = split_quoted(line)?;
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["sim", "clock", "advance", d] => {
                let secs = parse_duration(d)?;
                self.advance(secs, out);
            }
            ["sim", "clock", "set", date, time] => {
                let t = parse_utc(date, time)?;
                if t < self.now {
                    // The RTC may be wound back; the agent's time high-water mark protects it.
                    self.now = t;
                    self.step(out);
                } else {
                    self.run_until(t, out);
                }
            }
            ["sim", "clock"] | ["sim", "clock", "show"] => {
                let tz = self.timezone();
                let _ = writeln!(out, "{}", ShowTime(self.now, &tz));
            }
            ["sim", "usage", name, count] => {
                let count: u32 = count.parse().map_err(|_| format!("bad count '{count}'"))?;
                let rtc = self.rtc();
                self.dev()
                    .set_usage(rtc, name, count)
                    .map_err(|e| match e {
                        UsageError::UnknownLicense => format!("unknown license '{name}'"),
                        UsageError::Failed(e) => format!("{FAILED}usage: {e}"),
                    })?;
                self.step(out);
            }
            ["sim", "clock", "skew", d] => {
                // The device's RTC runs ahead (+) or behind (-) true time (MISC-1).
                let (sign, mag) = match d.strip_prefix('-') {
                    Some(m) => (-1i64, m),
                    None => (1, d.strip_prefix('+').unwrap_or(d)),
                };
                let secs = i64::try_from(parse_duration(mag)?).map_err(|_| "too long")?;
                self.rtc_offset = sign * secs;
                self.step(out);
            }
            ["sim", "feature", name] => {
                let on = self.dev().feature(name);
                let _ = writeln!(
                    out,
                    "Feature {name}: {}",
                    match on {
                        Some(true) => "enabled",
                        Some(false) => "disabled",
                        None => "never switched",
                    }
                );
            }
            ["sim", "link", "up"] => {
                self.link_up = true;
                self.step(out);
            }
            ["sim", "link", "down"] => self.link_up = false,
            ["sim", "power-off", d] => {
                // Switched off: time passes without the device, then it boots (RUM-7 RELOAD).
                self.now = self.now.add_secs(parse_duration(d)?);
                self.reload().map_err(|e| e.to_string())?;
                self.step(out);
            }
            ["sim", "power-cut"] => {
                // Inside the next flash operation: a few bytes into it, varying with the clock.
                let bytes = 1 + self.now.secs() % 23;
                self.dev().power_cut(bytes);
            }
            ["sim", "flash"] => {
                let report = self.dev().flash_report();
                out.push_str(&report);
            }
            ["sim", "reload"] => {
                self.reload().map_err(|e| e.to_string())?;
                self.step(out);
            }
            ["sim", "authority", "upload", usage, ack] => {
                let text = self.read_file(usage)?;
                let ack_text = self
                    .authority
                    .upload(self.now, &text)
                    .map_err(|e| e.to_string())?;
                self.write_file(ack, ack_text.as_bytes())?;
            }
            ["sim", "authority", "policy", file] => {
                let udi = self.udi();
                let text = self
                    .authority
                    .policy_file(self.now, &udi)
                    .map_err(|e| e.to_string())?;
                self.write_file(file, text.as_bytes())?;
            }
            ["sim", "authority", "ack-file", file] => {
                let udi = self.udi();
                let text = self
                    .authority
                    .ack_file(self.now, &udi)
                    .map_err(|e| e.to_string())?;
                self.write_file(file, text.as_bytes())?;
            }
            ["sim", "authority", "account", sa, va] => {
                bounded::<{ tally_core::wire::ACCOUNT_NAME_LEN }>(sa)
                    .map_err(|_| "account name too long")?;
                bounded::<{ tally_core::wire::ACCOUNT_NAME_LEN }>(va)
                    .map_err(|_| "account name too long")?;
                self.authority.smart_account = sa.to_string();
                self.authority.virtual_account = va.to_string();
            }
            ["sim", "authority", "ack-delay", d] => {
                self.authority.ack_delay_secs = parse_duration(d)?
            }
            ["sim", "authority", "poll-after", d] => {
                self.authority.poll_after_secs =
                    u32::try_from(parse_duration(d)?).map_err(|_| "too long")?
            }
            ["sim", "authority", "custom-policy", "none"] => {
                self.authority.set_custom_policy(self.now, None)
            }
            ["sim", "authority", "custom-policy", name, rest @ ..] => {
                let p = parse_custom_policy(name, rest)?;
                self.authority.set_custom_policy(self.now, Some(p));
            }
            ["sim", "authority", "idtoken", token, rest @ ..] => {
                let mut expires = None;
                let mut uses = None;
                let mut account = None;
                let mut it = rest.iter();
                while let Some(k) = it.next() {
                    match *k {
                        "expires" => {
                            let d = it.next().ok_or("expires needs a duration")?;
                            expires = Some(self.now.add_secs(parse_duration(d)?));
                        }
                        "uses" => {
                            let n = it.next().ok_or("uses needs a number")?;
                            uses = Some(n.parse::<u32>().map_err(|_| format!("bad uses '{n}'"))?);
                        }
                        "account" => {
                            let sa = it.next().ok_or("account needs <sa> <va>")?;
                            let va = it.next().ok_or("account needs <sa> <va>")?;
                            account = Some((sa.to_string(), va.to_string()));
                        }
                        other => return Err(format!("unknown idtoken option '{other}'")),
                    }
                }
                bounded::<{ tally_core::wire::ID_TOKEN_LEN }>(token)
                    .map_err(|_| "token too long")?;
                self.authority.add_token(token, account, expires, uses);
            }
            ["sim", "authority", "pool", license, count] => {
                let n: u32 = count.parse().map_err(|_| format!("bad count '{count}'"))?;
                self.authority.pool.insert(license.to_string(), n);
            }
            ["sim", "authority", "busy", n] => {
                self.authority.busy = n.parse().map_err(|_| format!("bad count '{n}'"))?;
            }
            ["sim", "authority", "move", sa, va] => {
                let udi = self.udi();
                self.authority.move_device(&udi, sa, va);
            }
            ["sim", "authority", "return-code", code] => {
                let udi = self
                    .authority
                    .enter_return_code(code)
                    .map_err(|e| format!("{FAILED}{e}"))?;
                let _ = writeln!(out, "Return code accepted for {udi}");
            }
            ["sim", "authority", "auth-code", feature, file, kind @ ..] => {
                let kind = match kind {
                    [] => tally_core::wire::AuthKind::Slac,
                    ["slr"] => tally_core::wire::AuthKind::Slr,
                    _ => return Err("auth-code takes <feature> <file> [slr]".into()),
                };
                let udi = self.udi();
                let text = self
                    .authority
                    .auth_code_file(self.now, &udi, feature, kind)
                    .map_err(|e| format!("{FAILED}{e}"))?;
                self.write_file(file, text.as_bytes())?;
            }
            ["sim", "authority", "trust-code", file] => {
                let udi = self.udi();
                let text = self
                    .authority
                    .trust_code_file(self.now, &udi)
                    .map_err(|e| format!("{FAILED}{e}"))?;
                self.write_file(file, text.as_bytes())?;
            }
            ["sim", "authority", "show"] => {
                let udi = self.udi();
                let _ = writeln!(out, "Smart Account: {}", self.authority.smart_account);
                let _ = writeln!(out, "Virtual Account: {}", self.authority.virtual_account);
                let _ = writeln!(
                    out,
                    "Custom policy: {}",
                    self.authority
                        .custom_policy
                        .as_ref()
                        .map_or("<none>".to_string(), |p| p.name.to_string())
                );
                for (_, u) in self.dev().slots().iter() {
                    let (sa, va) = self.authority.device_account(u).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "Product instance {u}: account {sa}/{va}, {}, authorization code: {}",
                        if self.authority.is_registered(u) {
                            "registered (trust code issued)"
                        } else {
                            "not registered"
                        },
                        self.authority
                            .issued_code(u)
                            .map_or("none".to_string(), |c| {
                                c.licenses
                                    .iter()
                                    .map(|(f, n)| format!("{f} x{n}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                    );
                }
                for (f, n) in &self.authority.pool {
                    let _ = writeln!(out, "License pool: {f}: {n} available");
                }
                if let Some(head) = self.authority.journal_head(&udi) {
                    let hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
                    let _ = writeln!(out, "Device journal head (last usage message): {hex}");
                }
                let received = self.authority.received(&udi);
                let _ = writeln!(out, "RUM reports received from {udi}: {}", received.len());
                let tz = self.timezone();
                for r in received {
                    let _ = writeln!(
                        out,
                        "  {} {} {} - {} max {}",
                        r.id,
                        r.feature,
                        ShowTime(r.start, &tz),
                        ShowTime(r.end, &tz),
                        r.max_value
                    );
                }
            }
            _ => return Err(format!("unknown simulator command (see README.md): {line}")),
        }
        Ok(())
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(tmp, path)
}

/// Split on whitespace, keeping "double quoted" words together.
pub fn split_quoted(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err("unterminated quote".to_string());
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

/// Start the remote device of `opts` (firmware in QEMU or a board) and boot it at `now`.
fn remote_device(
    opts: &SimOptions,
    serial: &str,
    provision: Option<&Provisioning>,
    now: Timestamp,
) -> Result<Box<dyn Device>, String> {
    use crate::link_device::{LinkDevice, QemuSpec};
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    if opts.profile.is_some() {
        return Err(
            "the firmware runs the reference product: no --profile with a remote device".into(),
        );
    }
    match &opts.device {
        DeviceKind::InProcess => Err("not a remote device".into()),
        DeviceKind::Serial(port) => Ok(Box::new(LinkDevice::serial(port, opts.release, now)?)),
        DeviceKind::Qemu { elf } => {
            let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = std::env::temp_dir().join(format!("tally-qemu-{}-{run}", std::process::id()));
            std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
            let (flash, files, log) = match &opts.state_dir {
                Some(dir) => {
                    let devdir = dir.join("devices");
                    let files = devdir.join(serial);
                    std::fs::create_dir_all(files.join("bootflash")).map_err(|e| e.to_string())?;
                    (
                        devdir.join(format!("{serial}.flash")),
                        Some(files),
                        devdir.join(format!("{serial}.qemu.log")),
                    )
                }
                None => {
                    let flash = tmp.join("flash.img");
                    let _ = std::fs::remove_file(&flash);
                    (flash, None, tmp.join("qemu.log"))
                }
            };
            let provision = match provision {
                Some(p) => {
                    let path = tmp.join("provision.bin");
                    std::fs::write(&path, crate::factory::to_bytes(p)?)
                        .map_err(|e| e.to_string())?;
                    Some(path)
                }
                None => None,
            };
            let spec = QemuSpec {
                elf: elf.clone().unwrap_or_else(QemuSpec::default_elf),
                flash,
                files,
                provision,
                log,
                socket: tmp.join("uart0.sock"),
            };
            if !spec.elf.exists() {
                return Err(format!(
                    "{}: build the firmware first: cargo build --release -p tally-firmware --target thumbv7em-none-eabihf",
                    spec.elf.display()
                ));
            }
            Ok(Box::new(LinkDevice::qemu(spec, opts.release, now)?))
        }
    }
}

/// `t` moved by `offset` seconds (the device RTC relative to true time).
fn skewed(t: Timestamp, offset: i64) -> Timestamp {
    if offset >= 0 {
        t.add_secs(offset.unsigned_abs())
    } else {
        t.sub_secs(offset.unsigned_abs())
    }
}

/// True time when the device's RTC reads `t`.
fn unskewed(t: Timestamp, offset: i64) -> Timestamp {
    skewed(t, -offset)
}

/// `90s`, `15m`, `4h`, `365d`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("bad duration '{s}'"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("bad duration unit in '{s}' (use s, m, h or d)")),
    };
    n.checked_mul(mult)
        .filter(|v| *v <= 200 * 365 * 86_400)
        .ok_or_else(|| format!("duration '{s}' too long"))
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn parse_utc(date: &str, time: &str) -> Result<Timestamp, String> {
    let bad = || format!("bad time '{date} {time}' (use YYYY-MM-DD HH:MM:SS, UTC)");
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    let num = |s: Option<&&str>| s.and_then(|v| v.parse::<u32>().ok()).ok_or_else(bad);
    if d.len() != 3 || t.len() != 3 {
        return Err(bad());
    }
    let c = Civil {
        year: i64::from(num(d.first())?),
        month: num(d.get(1))?,
        day: num(d.get(2))?,
        hour: num(t.first())?,
        minute: num(t.get(1))?,
        second: num(t.get(2))?,
    };
    timestamp_of(c, &TimeZone::utc()).ok_or_else(bad)
}

/// `<name> [ack yes|no] [perpetual F/R/C] [subscription F/R/C] [enforced F/R/C] [export F/R/C]`,
/// each value a number of days or `-` for the Cisco default.
pub fn parse_custom_policy(name: &str, rest: &[&str]) -> Result<CustomPolicy, String> {
    let mut p = CustomPolicy {
        name: bounded(name).map_err(|_| "policy name too long")?,
        ack_required: None,
        categories: [CategoryOverrides::default(); 4],
    };
    let mut it = rest.iter();
    while let Some(key) = it.next() {
        let val = it
            .next()
            .ok_or_else(|| format!("missing value after '{key}'"))?;
        let slot = match *key {
            "ack" => {
                p.ack_required = Some(match *val {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("ack must be yes or no, not '{val}'")),
                });
                continue;
            }
            "perpetual" => 0,
            "subscription" => 1,
            "enforced" => 2,
            "export" => 3,
            _ => return Err(format!("unknown policy category '{key}'")),
        };
        let parts: Vec<&str> = val.split('/').collect();
        let [f, r, c] = parts.as_slice() else {
            return Err(format!("'{val}' is not F/R/C"));
        };
        let day = |s: &str| -> Result<Option<u16>, String> {
            if s == "-" {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| format!("bad days '{s}'"))
            }
        };
        if let Some(cat) = p.categories.get_mut(slot) {
            *cat = CategoryOverrides {
                first_report: day(f)?,
                frequency: day(r)?,
                on_change: day(c)?,
            };
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_durations_times_quotes_and_policies() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("4h"), Ok(14_400));
        assert_eq!(parse_duration("365d"), Ok(365 * 86_400));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999d").is_err());
        assert_eq!(
            parse_utc("2021-11-27", "23:27:24"),
            Ok(Timestamp(1_638_055_644))
        );
        assert!(parse_utc("2021-02-29", "00:00:00").is_err());
        assert_eq!(split_quoted(r#"a "b c" d"#).unwrap(), ["a", "b c", "d"]);
        assert!(split_quoted(r#"a "b"#).is_err());
        let p = parse_custom_policy("P", &["ack", "no", "enforced", "-/90/90"]).unwrap();
        assert_eq!(p.ack_required, Some(false));
        assert_eq!(
            p.categories[2],
            CategoryOverrides {
                first_report: None,
                frequency: Some(90),
                on_change: Some(90)
            }
        );
        assert!(parse_custom_policy("P", &["perpetual", "1/2"]).is_err());
        assert!(parse_custom_policy("P", &["bogus", "1/2/3"]).is_err());
    }
}
