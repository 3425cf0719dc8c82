//! A product instance as the simulator drives it (DESIGN.md §6): in process ([`SimDevice`]), or
//! a firmware image over a serial link ([`crate::link_device::LinkDevice`]). The simulator
//! speaks to both through [`Device`] alone, which is what makes the same scenario print the
//! same bytes against either (the hardware-in-the-loop parity test).

use crate::flash::FileFlash;
use std::fmt::Write as _;
use tally_core::agent::{Agent, LicenseStatus};
use tally_core::cli::{Console, Effect, Env};
use tally_core::crypto::LocalKey;
use tally_core::journal::flash::FlashJournal;
use tally_core::limits::Limits;
use tally_core::time::TimeZone;
use tally_hal::{CommError, EventSink, Files, HaRole, Platform, Severity, Timestamp, Udi};

/// What one call did: console output, system messages, errors, and a message for the
/// authority, if one must go out now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub output: String,
    pub syslog: Vec<String>,
    pub errors: Vec<String>,
    pub transmit: Option<Vec<u8>>,
    /// For `advance`: the device time it stopped at, and whether it reached the target.
    pub at: Timestamp,
    pub done: bool,
}

/// A product instance the simulator can drive. Times are the device's (RTC).
pub trait Device: std::fmt::Debug {
    /// Its UDI and HA slots, as the authority must know them.
    fn udi(&self) -> Udi;
    fn slots(&self) -> Vec<(HaRole, Udi)>;
    /// Run one console line.
    fn console(&mut self, now: Timestamp, line: &str) -> Outcome;
    /// The platform's count of `license` changed (`Err`: unknown license, or why it failed).
    fn set_usage(&mut self, now: Timestamp, license: &str, count: u32) -> Result<(), UsageError>;
    /// Run the agent's timers from `from` to `until` (see `Agent::advance`).
    fn advance(&mut self, from: Timestamp, until: Timestamp) -> Outcome;
    /// The authority's answer to the last `transmit` (or why there is none), then the next
    /// message, if any.
    fn deliver(&mut self, now: Timestamp, answer: Result<&[u8], CommError>) -> Outcome;
    /// A clean reboot from the journal.
    fn reboot(&mut self, now: Timestamp) -> Result<(), String>;
    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, String>;
    fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), String>;
    fn timezone(&mut self) -> TimeZone;
    fn prompt(&mut self) -> String;
    /// The platform's switch of an enforced feature: `None` if never switched.
    fn feature(&mut self, license: &str) -> Option<bool>;
    /// Cut power inside the next flash operation, `bytes` into it.
    fn power_cut(&mut self, bytes: u64);
    /// Whether a power cut happened; power comes back (the caller reboots the device).
    fn take_power_cut(&mut self) -> bool;
    /// `sim flash`: the licensing partition and this run's flash activity.
    fn flash_report(&mut self) -> String;
    /// The concrete device, for tests that need more than the trait.
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

/// Why a usage change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    UnknownLicense,
    Failed(String),
}

/// Syslog messages collected during one agent call.
#[derive(Debug, Default)]
pub struct Collect(pub Vec<(Severity, String)>);

impl EventSink for Collect {
    fn emit(&mut self, severity: Severity, message: &str) {
        self.0.push((severity, message.to_string()));
    }
}

/// `Files` that can be printed in debug output.
pub trait FilesDebug: Files + std::fmt::Debug {}
impl<T: Files + std::fmt::Debug> FilesDebug for T {}

/// One simulated product instance, in process.
#[derive(Debug)]
pub struct SimDevice {
    pub agent: Agent<FlashJournal<FileFlash>>,
    pub console: Console,
    pub key: LocalKey,
    pub platform: tally_hal::mock::MockPlatform,
    pub files: Box<dyn FilesDebug>,
    bin: Vec<u8>,
    text: Vec<u8>,
}

impl SimDevice {
    pub fn new(
        agent: Agent<FlashJournal<FileFlash>>,
        key: LocalKey,
        platform: tally_hal::mock::MockPlatform,
        files: Box<dyn FilesDebug>,
    ) -> SimDevice {
        let mut d = SimDevice {
            agent,
            console: Console::default(),
            key,
            platform,
            files,
            bin: vec![0; Limits::USAGE_FILE_BYTES + 256],
            text: vec![0; Limits::USAGE_FILE_BYTES * 2],
        };
        d.sync_features();
        d
    }

    /// Switch the platform's enforced features to what the agent allows (ENF-7): on while a
    /// license is in use and authorized; unenforced features are never touched (MISC-12).
    pub fn sync_features(&mut self) {
        let agent = &self.agent;
        let wanted: Vec<(String, bool)> = agent
            .catalogue()
            .iter()
            .enumerate()
            .filter(|(_, d)| d.enforcement != tally_hal::Enforcement::Unenforced)
            .map(|(i, d)| {
                (
                    d.name.to_string(),
                    agent.license_status(i) == LicenseStatus::InUse,
                )
            })
            .collect();
        for (name, on) in wanted {
            if self.platform.feature_enabled(&name) != Some(on) {
                self.platform.set_feature_enabled(&name, on);
            }
        }
    }

    /// The message `poll_transmit` left in the scratch buffer, if any.
    fn transmitted(&self, tx: Option<tally_core::Transmit>) -> Option<Vec<u8>> {
        tx.map(|t| self.bin.get(..t.len).unwrap_or(&[]).to_vec())
    }
}

fn lines(sink: Collect) -> Vec<String> {
    sink.0.into_iter().map(|(_, m)| m).collect()
}

impl Device for SimDevice {
    fn udi(&self) -> Udi {
        self.agent.identity().udi.clone()
    }

    fn slots(&self) -> Vec<(HaRole, Udi)> {
        self.agent
            .identity()
            .slots()
            .map(|(r, u)| (r, u.clone()))
            .collect()
    }

    fn console(&mut self, now: Timestamp, line: &str) -> Outcome {
        let mut sink = Collect::default();
        let mut output = String::new();
        let mut env = Env {
            agent: &mut self.agent,
            key: &mut self.key,
            files: &mut *self.files,
            sink: &mut sink,
            now,
            bin: &mut self.bin,
            text: &mut self.text,
        };
        let _: Effect = self
            .console
            .execute(line, &mut env, &mut output)
            .unwrap_or(Effect::None);
        self.sync_features();
        Outcome {
            output,
            syslog: lines(sink),
            ..Outcome::default()
        }
    }

    fn set_usage(&mut self, now: Timestamp, license: &str, count: u32) -> Result<(), UsageError> {
        let r = self.agent.set_usage(now, license, count);
        self.sync_features();
        match r {
            Ok(_) => Ok(()),
            Err(tally_core::AgentError::UnknownLicense) => Err(UsageError::UnknownLicense),
            Err(e) => Err(UsageError::Failed(e.to_string())),
        }
    }

    fn advance(&mut self, from: Timestamp, until: Timestamp) -> Outcome {
        let mut sink = Collect::default();
        let a = self
            .agent
            .advance(from, until, &mut sink, &mut self.key, &mut self.bin);
        self.sync_features();
        Outcome {
            syslog: lines(sink),
            errors: a.errors.iter().map(|e| e.to_string()).collect(),
            transmit: self.transmitted(a.transmit),
            at: a.at,
            done: a.done,
            ..Outcome::default()
        }
    }

    fn deliver(&mut self, now: Timestamp, answer: Result<&[u8], CommError>) -> Outcome {
        let mut sink = Collect::default();
        let mut errors = Vec::new();
        if let Err(e) = self.agent.on_response(now, answer, &mut sink) {
            errors.push(e.to_string());
        }
        let tx = match self.agent.poll_transmit(now, &mut self.key, &mut self.bin) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };
        self.sync_features();
        Outcome {
            syslog: lines(sink),
            errors,
            transmit: self.transmitted(tx),
            at: now,
            ..Outcome::default()
        }
    }

    fn reboot(&mut self, now: Timestamp) -> Result<(), String> {
        self.agent.reboot(now).map_err(|e| e.to_string())?;
        self.console = Console::default();
        self.sync_features();
        Ok(())
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; Limits::USAGE_FILE_BYTES * 2];
        let n = self
            .files
            .read(path, &mut buf)
            .map_err(|e| format!("{path}: {e}"))?;
        buf.truncate(n);
        Ok(buf)
    }

    fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.files
            .write(path, data)
            .map_err(|e| format!("{path}: {e}"))
    }

    fn timezone(&mut self) -> TimeZone {
        self.agent.state().config.timezone.clone()
    }

    fn prompt(&mut self) -> String {
        self.console.prompt().to_string()
    }

    fn feature(&mut self, license: &str) -> Option<bool> {
        self.platform.feature_enabled(license)
    }

    fn power_cut(&mut self, bytes: u64) {
        self.agent.journal_mut().flash_mut().cut_power_after(bytes);
    }

    fn take_power_cut(&mut self) -> bool {
        self.agent.journal_mut().flash_mut().take_power_cut()
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn flash_report(&mut self) -> String {
        let mut out = String::new();
        let flash = self.agent.journal().flash();
        let stats = flash.stats();
        let _ = writeln!(
            out,
            "Licensing partition: {} sectors of {} bytes, write size {} bytes",
            crate::flash::SECTORS,
            crate::flash::SECTOR_SIZE,
            crate::flash::WRITE_SIZE
        );
        let _ = writeln!(out, "Erase counts: {:?}", flash.erase_counts());
        let _ = writeln!(
            out,
            "This run: {} bytes written in {} writes, {} sector erases, {} commits",
            stats.bytes_written,
            stats.writes,
            stats.erases,
            self.agent.journal().commits()
        );
        out
    }
}
