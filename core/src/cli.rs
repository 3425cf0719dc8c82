//! The device console: IOS-XE `license smart …` and `show license …` commands (digest §10).
//!
//! The console lives in the core so that the simulator's in-process device and the firmware
//! print byte-identical output. Keywords may be abbreviated to any unique prefix, as on IOS.
//! Unknown or malformed input prints `% Invalid input detected at '^' marker.` and changes
//! nothing. Global configuration commands are accepted both after `configure terminal` and,
//! for scripting convenience, directly at the exec prompt (ADR 0006).

use crate::agent::{Agent, AgentError, Imported, ReturnMode, SyncScope};
use crate::config::{
    ConfigChange, DEFAULT_CSLU_URL, DEFAULT_SMART_URL, Privacy, Transport, URL_LEN,
};
use crate::journal::Journal;
use crate::render::{self, RumFilter};
use crate::rum::Selection;
use crate::time::TimeZone;
use crate::wire::AuthMode;
use core::fmt::{self, Write};
use heapless::{String, Vec};
use tally_hal::{DeviceKey, EventSink, Files, Timestamp, bounded};

/// Console mode (prompt `Device#` or `Device(config)#`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Exec,
    Config,
}

/// What the console needs from its surroundings for one command.
pub struct Env<'a, J: Journal> {
    pub agent: &'a mut Agent<J>,
    pub key: &'a mut dyn DeviceKey,
    pub files: &'a mut dyn Files,
    pub sink: &'a mut dyn EventSink,
    pub now: Timestamp,
    /// Scratch for envelopes (at least [`crate::limits::Limits::USAGE_FILE_BYTES`]).
    pub bin: &'a mut [u8],
    /// Scratch for armoured text (at least 4/3 of `bin` plus line breaks).
    pub text: &'a mut [u8],
}

impl<J: Journal> fmt::Debug for Env<'_, J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Console state across lines.
#[derive(Clone, Debug)]
pub struct Console {
    pub mode: Mode,
    pub hostname: String<32>,
}

impl Default for Console {
    fn default() -> Self {
        let mut hostname = String::new();
        let _ = hostname.push_str("Device");
        Console {
            mode: Mode::Exec,
            hostname,
        }
    }
}

/// What a command asks of the driver after it ran.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Talk to the authority now (`license smart sync`).
    Communicate,
}

const MAX_TOKENS: usize = 16;

/// A parse failure: where (byte offset in the line) and what.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ParseError {
    Invalid(usize),
    Incomplete,
    Ambiguous,
}

struct Tokens<'l> {
    line: &'l str,
    toks: Vec<(usize, &'l str), MAX_TOKENS>,
    at: usize,
}

impl<'l> Tokens<'l> {
    fn new(line: &'l str) -> Result<Self, ParseError> {
        let mut toks = Vec::new();
        let mut start = None;
        for (i, c) in line
            .char_indices()
            .chain(core::iter::once((line.len(), ' ')))
        {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    toks.push((s, line.get(s..i).unwrap_or("")))
                        .map_err(|_| ParseError::Invalid(s))?;
                    start = None;
                }
                _ => {}
            }
        }
        Ok(Tokens { line, toks, at: 0 })
    }

    fn peek(&self) -> Option<(usize, &'l str)> {
        self.toks.get(self.at).copied()
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.line.len(), |(o, _)| o)
    }

    /// Next token as a free value (name, path, number).
    fn value(&mut self) -> Result<&'l str, ParseError> {
        let (_, t) = self.peek().ok_or(ParseError::Incomplete)?;
        self.at += 1;
        Ok(t)
    }

    /// Next token as one of `options` (unique-prefix match, case-insensitive).
    fn keyword(&mut self, options: &[&'static str]) -> Result<&'static str, ParseError> {
        let (off, t) = self.peek().ok_or(ParseError::Incomplete)?;
        let lower = |a: &str, b: &str| {
            a.len() <= b.len() && b.get(..a.len()).is_some_and(|p| p.eq_ignore_ascii_case(a))
        };
        if let Some(exact) = options.iter().find(|o| o.eq_ignore_ascii_case(t)) {
            self.at += 1;
            return Ok(exact);
        }
        let mut found = None;
        for o in options {
            if lower(t, o) {
                if found.is_some() {
                    return Err(ParseError::Ambiguous);
                }
                found = Some(*o);
            }
        }
        let kw = found.ok_or(ParseError::Invalid(off))?;
        self.at += 1;
        Ok(kw)
    }

    fn optional(&mut self, options: &[&'static str]) -> Result<Option<&'static str>, ParseError> {
        if self.peek().is_none() {
            Ok(None)
        } else {
            self.keyword(options).map(Some)
        }
    }

    fn number<T: core::str::FromStr>(&mut self) -> Result<T, ParseError> {
        let off = self.offset();
        self.value()?.parse().map_err(|_| ParseError::Invalid(off))
    }

    fn end(&self) -> Result<(), ParseError> {
        match self.peek() {
            Some((off, _)) => Err(ParseError::Invalid(off)),
            None => Ok(()),
        }
    }
}

/// A parsed command.
#[derive(Debug, PartialEq, Eq)]
enum Command<'l> {
    Nothing,
    ShowStatus,
    ShowSummary,
    ShowUsage,
    ShowUdi,
    ShowAll,
    ShowRum(RumFilter<'l>, bool),
    ShowEventlog(Option<u32>),
    ShowHistory,
    Sync(SyncScope),
    SaveUsage(SelectionArg, &'l str),
    Import(&'l str),
    ClearEventlog,
    Configure,
    End,
    Set(ConfigChange),
    NoPrivacy(&'static str),
    Privacy(&'static str),
    ShowAuthorization,
    TrustIdtoken(&'l str, SyncScope, bool),
    SaveTrustRequest(&'l str),
    AuthRequest(AuthMode, &'l str, SyncScope),
    AuthRequestSave(&'l str, &'l str, SyncScope),
    AuthReturn(SyncScope, ReturnArg<'l>),
    ExportReturn(SyncScope, &'l str),
    FactoryReset,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ReturnArg<'l> {
    Online,
    Offline(Option<&'l str>),
}

/// `{ all | local }`, `local` when left out (CLI-E1, CLI-E10).
fn scope(t: &mut Tokens<'_>) -> Result<SyncScope, ParseError> {
    Ok(match t.optional(&["all", "local"])? {
        Some("all") => SyncScope::All,
        _ => SyncScope::Local,
    })
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum SelectionArg {
    All,
    Unreported,
    Days(u32),
    RumId(u64),
}

fn url(t: &mut Tokens<'_>) -> Result<String<URL_LEN>, ParseError> {
    let off = t.offset();
    bounded(t.value()?).map_err(|_| ParseError::Invalid(off))
}

fn parse_license_smart_config<'l>(t: &mut Tokens<'l>, no: bool) -> Result<Command<'l>, ParseError> {
    let cmd = match t.keyword(&["transport", "usage", "url", "privacy"])? {
        "transport" if no => Command::Set(ConfigChange::Transport(Transport::Cslu)),
        "transport" => {
            let tr = match t.keyword(&["automatic", "callhome", "cslu", "off", "smart"])? {
                "callhome" => Transport::Callhome,
                "off" => Transport::Off,
                "smart" => Transport::Smart,
                _ => Transport::Cslu, // automatic = cslu (XPORT-1)
            };
            Command::Set(ConfigChange::Transport(tr))
        }
        "usage" => {
            t.keyword(&["interval"])?;
            if no {
                Command::Set(ConfigChange::UsageInterval(None))
            } else {
                let off = t.offset();
                let days: u16 = t.number()?;
                if days > 3650 {
                    return Err(ParseError::Invalid(off));
                }
                Command::Set(ConfigChange::UsageInterval(Some(days)))
            }
        }
        "url" => match t.keyword(&["cslu", "smart", "default"])? {
            "cslu" if no => Command::Set(ConfigChange::CsluUrl(None)),
            "cslu" => Command::Set(ConfigChange::CsluUrl(Some(url(t)?))),
            "smart" if no => Command::Set(ConfigChange::SmartUrl(
                bounded(DEFAULT_SMART_URL).unwrap_or_default(),
            )),
            "smart" => Command::Set(ConfigChange::SmartUrl(url(t)?)),
            // `url default` sets the default of the configured transport (XPORT-2); the
            // console resolves which one at execution.
            _ => Command::Set(ConfigChange::CsluUrl(Some(
                bounded(DEFAULT_CSLU_URL).unwrap_or_default(),
            ))),
        },
        _ => {
            let what = t.keyword(&["all", "hostname", "version"])?;
            if no {
                Command::NoPrivacy(what)
            } else {
                Command::Privacy(what)
            }
        }
    };
    Ok(cmd)
}

fn parse(line: &str, mode: Mode) -> Result<Command<'_>, ParseError> {
    let mut t = Tokens::new(line)?;
    if t.peek().is_none() {
        return Ok(Command::Nothing);
    }
    let exec: &[&'static str] = &["show", "license", "configure", "clock", "no", "end", "exit"];
    let cmd = match t.keyword(exec)? {
        "show" => {
            t.keyword(&["license"])?;
            match t.keyword(&[
                "status",
                "summary",
                "usage",
                "udi",
                "all",
                "rum",
                "eventlog",
                "history",
                "authorization",
            ])? {
                "status" => Command::ShowStatus,
                "authorization" => Command::ShowAuthorization,
                "summary" => Command::ShowSummary,
                "usage" => Command::ShowUsage,
                "udi" => Command::ShowUdi,
                "history" => {
                    t.keyword(&["message"])?;
                    Command::ShowHistory
                }
                "all" => Command::ShowAll,
                "rum" => {
                    let filter = match t.keyword(&["feature", "id"])? {
                        "feature" => {
                            let name = t.value()?;
                            if name.eq_ignore_ascii_case("all") {
                                RumFilter::All
                            } else {
                                RumFilter::Feature(name)
                            }
                        }
                        _ => {
                            let off = t.offset();
                            let v = t.value()?;
                            if v.eq_ignore_ascii_case("all") {
                                RumFilter::All
                            } else {
                                RumFilter::Id(v.parse().map_err(|_| ParseError::Invalid(off))?)
                            }
                        }
                    };
                    let detail = t.optional(&["detail"])?.is_some();
                    Command::ShowRum(filter, detail)
                }
                _ => {
                    let days = if t.peek().is_some() {
                        Some(t.number::<u32>()?)
                    } else {
                        None
                    };
                    if days.is_some_and(|d| d > i32::MAX as u32) {
                        return Err(ParseError::Invalid(0));
                    }
                    Command::ShowEventlog(days)
                }
            }
        }
        "license" => {
            t.keyword(&["smart"])?;
            let ops: &[&'static str] = &[
                "sync",
                "save",
                "import",
                "clear",
                "trust",
                "authorization",
                "export",
                "factory",
                "transport",
                "usage",
                "url",
                "privacy",
            ];
            match t.keyword(ops)? {
                "sync" => match t.optional(&["all", "local"])? {
                    Some("all") => Command::Sync(SyncScope::All),
                    _ => Command::Sync(SyncScope::Local),
                },
                "trust" => {
                    t.keyword(&["idtoken"])?;
                    let token = t.value()?;
                    let sc = scope(&mut t)?;
                    let force = t.optional(&["force"])?.is_some();
                    Command::TrustIdtoken(token, sc, force)
                }
                "authorization" => match t.keyword(&["request", "return"])? {
                    "request" => match t.keyword(&["add", "replace", "save"])? {
                        "save" => {
                            let path = t.value()?;
                            let feature = t.value()?;
                            Command::AuthRequestSave(path, feature, scope(&mut t)?)
                        }
                        mode => {
                            let feature = t.value()?;
                            let mode = if mode == "add" {
                                AuthMode::Add
                            } else {
                                AuthMode::Replace
                            };
                            Command::AuthRequest(mode, feature, scope(&mut t)?)
                        }
                    },
                    _ => {
                        let sc = match t.keyword(&["all", "local"])? {
                            "all" => SyncScope::All,
                            _ => SyncScope::Local,
                        };
                        let how = match t.keyword(&["offline", "online"])? {
                            "online" => ReturnArg::Online,
                            _ => ReturnArg::Offline(if t.peek().is_some() {
                                Some(t.value()?)
                            } else {
                                None
                            }),
                        };
                        Command::AuthReturn(sc, how)
                    }
                },
                "export" => {
                    t.keyword(&["return"])?;
                    let sc = match t.keyword(&["all", "local"])? {
                        "all" => SyncScope::All,
                        _ => SyncScope::Local,
                    };
                    Command::ExportReturn(sc, t.value()?)
                }
                "factory" => {
                    t.keyword(&["reset"])?;
                    Command::FactoryReset
                }
                "save" => {
                    if t.keyword(&["usage", "trust-request"])? == "trust-request" {
                        let path = t.value()?;
                        t.end()?;
                        return Ok(Command::SaveTrustRequest(path));
                    }
                    let sel = match t.keyword(&["all", "unreported", "days", "rum-id"])? {
                        "all" => SelectionArg::All,
                        "unreported" => SelectionArg::Unreported,
                        "days" => SelectionArg::Days(t.number()?),
                        _ => SelectionArg::RumId(t.number()?),
                    };
                    t.keyword(&["file"])?;
                    Command::SaveUsage(sel, t.value()?)
                }
                "import" => Command::Import(t.value()?),
                "clear" => {
                    t.keyword(&["eventlog"])?;
                    Command::ClearEventlog
                }
                _ => {
                    // A global configuration command: re-read the keyword as one.
                    t.at -= 1;
                    parse_license_smart_config(&mut t, false)?
                }
            }
        }
        "no" => {
            t.keyword(&["license"])?;
            t.keyword(&["smart"])?;
            parse_license_smart_config(&mut t, true)?
        }
        "configure" => {
            t.keyword(&["terminal"])?;
            Command::Configure
        }
        "clock" => {
            t.keyword(&["timezone"])?;
            let off = t.offset();
            let name = t.value()?;
            let hours: i32 = t.number()?;
            let minutes: i32 = if t.peek().is_some() { t.number()? } else { 0 };
            let tz = TimeZone::new(name, hours, minutes).ok_or(ParseError::Invalid(off))?;
            Command::Set(ConfigChange::TimeZone(tz))
        }
        _ if mode == Mode::Config => Command::End,
        _ => Command::Nothing, // `end`/`exit` at the exec prompt do nothing
    };
    t.end()?;
    Ok(cmd)
}

impl Console {
    /// The prompt, `Device#` or `Device(config)#`.
    pub fn prompt(&self) -> Prompt<'_> {
        Prompt(self)
    }

    /// Run one console line, writing what the device prints to `out`.
    pub fn execute<J: Journal>(
        &mut self,
        line: &str,
        env: &mut Env<'_, J>,
        out: &mut dyn Write,
    ) -> Result<Effect, fmt::Error> {
        let prompt_len = self.hostname.len() + if self.mode == Mode::Config { 10 } else { 2 };
        let cmd = match parse(line, self.mode) {
            Ok(c) => c,
            Err(ParseError::Invalid(off)) => {
                write!(
                    out,
                    "{:width$}^\n% Invalid input detected at '^' marker.\n",
                    "",
                    width = prompt_len + off
                )?;
                return Ok(Effect::None);
            }
            Err(ParseError::Incomplete) => {
                out.write_str("% Incomplete command.\n")?;
                return Ok(Effect::None);
            }
            Err(ParseError::Ambiguous) => {
                writeln!(out, "% Ambiguous command:  \"{}\"", line.trim())?;
                return Ok(Effect::None);
            }
        };
        self.run(cmd, env, out)
    }

    fn run<J: Journal>(
        &mut self,
        cmd: Command<'_>,
        env: &mut Env<'_, J>,
        out: &mut dyn Write,
    ) -> Result<Effect, fmt::Error> {
        let now = env.now;
        let a = &mut *env.agent;
        let fail =
            |out: &mut dyn Write, what: &str, e: AgentError| writeln!(out, "% Error: {what}: {e}");
        match cmd {
            Command::Nothing => {}
            Command::ShowStatus => render::show_status(out, a)?,
            Command::ShowSummary => render::show_summary(out, a)?,
            Command::ShowUsage => render::show_usage(out, a)?,
            Command::ShowUdi => render::show_udi(out, a)?,
            Command::ShowAll => render::show_all(out, a)?,
            Command::ShowRum(f, detail) => render::show_rum(out, a, f, detail)?,
            Command::ShowEventlog(days) => render::show_eventlog(out, a, days, now)?,
            Command::ShowHistory => render::show_history(out, a)?,
            Command::Sync(scope) => match a.request_sync(scope) {
                Ok(()) => return Ok(Effect::Communicate),
                Err(e) => fail(out, "sync", e)?,
            },
            Command::SaveUsage(sel, path) => {
                let selection = match sel {
                    SelectionArg::All => Selection::All,
                    SelectionArg::Unreported => Selection::Unreported,
                    SelectionArg::Days(days) => Selection::Days {
                        days,
                        today_start: a.today_start(now),
                    },
                    SelectionArg::RumId(id) => Selection::RumId(id),
                };
                if let Err(e) =
                    a.save_usage(now, selection, path, env.files, env.key, env.bin, env.text)
                {
                    fail(out, "save usage", e)?;
                }
            }
            Command::Import(path) => {
                let read = env.files.read(path, env.text);
                match read {
                    Err(e) => fail(out, "import", AgentError::File(e))?,
                    // The agent checks the size limit, and says what the file claimed to be.
                    Ok(n) => {
                        let text = env.text.get(..n).unwrap_or(&[]);
                        match a.import(now, text, env.bin, env.sink) {
                            Ok(Imported::Ack {
                                reports,
                                policy_installed,
                            }) => {
                                write!(
                                    out,
                                    "Import Data Successful: ACK, {reports} RUM report(s) acknowledged"
                                )?;
                                out.write_str(if policy_installed {
                                    ", policy installed\n"
                                } else {
                                    "\n"
                                })?;
                            }
                            Ok(Imported::Policy) => {
                                out.write_str("Import Data Successful: policy installed\n")?
                            }
                            Ok(Imported::TrustCodes(n)) => writeln!(
                                out,
                                "Import Data Successful: trust code response, {n} trust code(s) installed"
                            )?,
                            Ok(Imported::AuthCodes(n)) => writeln!(
                                out,
                                "Import Data Successful: authorization code response, {n} authorization code(s) installed"
                            )?,
                            Ok(Imported::AlreadyApplied(k)) => writeln!(
                                out,
                                "Import Data Successful: {} already installed, nothing changed",
                                k.describe()
                            )?,
                            Err(e) => fail(out, "import", e)?,
                        }
                    }
                }
            }
            Command::ShowAuthorization => render::show_authorization(out, a)?,
            Command::TrustIdtoken(token, sc, force) => {
                match a.trust_idtoken(now, token, sc, force) {
                    Ok(()) => return Ok(Effect::Communicate),
                    Err(e) => fail(out, "trust idtoken", e)?,
                }
            }
            Command::SaveTrustRequest(path) => {
                if let Err(e) =
                    a.save_trust_request(now, path, env.files, env.key, env.bin, env.text)
                {
                    fail(out, "save trust-request", e)?;
                }
            }
            Command::AuthRequest(mode, feature, sc) => {
                match a.authorization_request(now, mode, feature, sc) {
                    Ok(()) => return Ok(Effect::Communicate),
                    Err(e) => fail(out, "authorization request", e)?,
                }
            }
            Command::AuthRequestSave(path, feature, sc) => {
                if let Err(e) = a.save_authorization_request(
                    now, feature, sc, path, env.files, env.key, env.bin, env.text,
                ) {
                    fail(out, "authorization request", e)?;
                }
            }
            Command::AuthReturn(sc, how) => {
                let mode = match how {
                    ReturnArg::Online => ReturnMode::Online,
                    ReturnArg::Offline(p) => ReturnMode::Offline(p),
                };
                match a.authorization_return(
                    now, sc, mode, None, env.files, env.key, env.bin, env.text, env.sink,
                ) {
                    Ok(_) if how == ReturnArg::Online => return Ok(Effect::Communicate),
                    Ok(ret) => return_codes(out, &ret)?,
                    Err(e) => fail(out, "authorization return", e)?,
                }
            }
            Command::ExportReturn(sc, feature) => match a.authorization_return(
                now,
                sc,
                ReturnMode::Offline(None),
                Some(feature),
                env.files,
                env.key,
                env.bin,
                env.text,
                env.sink,
            ) {
                Ok(ret) => return_codes(out, &ret)?,
                Err(e) => fail(out, "export return", e)?,
            },
            Command::FactoryReset => {
                if let Err(e) = a.factory_reset(now, env.sink) {
                    fail(out, "factory reset", e)?;
                }
            }
            Command::ClearEventlog => {
                if let Err(e) = a.clear_eventlog(now) {
                    fail(out, "clear eventlog", e)?;
                }
            }
            Command::Configure => {
                self.mode = Mode::Config;
                out.write_str("Enter configuration commands, one per line.  End with CNTL/Z.\n")?;
            }
            Command::End => self.mode = Mode::Exec,
            Command::Set(change) => {
                let change = match change {
                    // `license smart url default` follows the configured transport (XPORT-2).
                    ConfigChange::CsluUrl(Some(u))
                        if u.as_str() == DEFAULT_CSLU_URL
                            && a.state().config.transport == Transport::Smart =>
                    {
                        ConfigChange::SmartUrl(bounded(DEFAULT_SMART_URL).unwrap_or_default())
                    }
                    c => c,
                };
                if let Err(e) = a.configure(now, change) {
                    fail(out, "configuration", e)?;
                }
            }
            Command::Privacy(what) | Command::NoPrivacy(what) => {
                let on = matches!(cmd, Command::Privacy(_));
                let mut p: Privacy = a.state().config.privacy;
                match what {
                    "all" => {
                        p.callhome_hostname = on;
                        p.smart_hostname = on;
                        p.version = on;
                    }
                    "hostname" => p.smart_hostname = on,
                    _ => p.version = on,
                }
                if let Err(e) = a.configure(now, ConfigChange::Privacy(p)) {
                    fail(out, "configuration", e)?;
                }
            }
        }
        Ok(Effect::None)
    }
}

/// MSG-22: what the operator enters in the portal after an offline return [003:3589-3593].
fn return_codes(out: &mut dyn Write, ret: &crate::wire::AuthReturn) -> fmt::Result {
    out.write_str("Enter this return code in Cisco Smart Software Manager portal:\n")?;
    for r in ret.returns.iter() {
        writeln!(out, "UDI: {}\n   Return code: {}", r.udi, r.return_code)?;
    }
    Ok(())
}

/// Displays the console prompt.
#[derive(Debug)]
pub struct Prompt<'a>(&'a Console);

impl fmt::Display for Prompt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.mode {
            Mode::Exec => write!(f, "{}#", self.0.hostname),
            Mode::Config => write!(f, "{}(config)#", self.0.hostname),
        }
    }
}

/// A syslog line as the console shows it: `<time>: %FACILITY-SEV-MNEMONIC: text` (ADR 0005).
pub fn write_syslog_line(
    out: &mut dyn Write,
    now: Timestamp,
    tz: &TimeZone,
    message: &str,
) -> fmt::Result {
    writeln!(out, "{}: {message}", crate::time::ShowTime(now, tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_abbreviations_and_rejects_garbage() {
        assert_eq!(parse("sh lic sum", Mode::Exec), Ok(Command::ShowSummary));
        assert_eq!(
            parse("show license rum id 42 detail", Mode::Exec),
            Ok(Command::ShowRum(RumFilter::Id(42), true))
        );
        assert_eq!(
            parse("show license rum feature all", Mode::Exec),
            Ok(Command::ShowRum(RumFilter::All, false))
        );
        assert_eq!(
            parse("show licnse status", Mode::Exec),
            Err(ParseError::Invalid(5))
        );
        assert_eq!(
            parse("show license s", Mode::Exec),
            Err(ParseError::Ambiguous)
        );
        assert_eq!(
            parse("show license", Mode::Exec),
            Err(ParseError::Incomplete)
        );
        assert_eq!(
            parse("show license status extra", Mode::Exec),
            Err(ParseError::Invalid(20))
        );
        assert_eq!(
            parse("license smart usage interval 20", Mode::Exec),
            Ok(Command::Set(ConfigChange::UsageInterval(Some(20))))
        );
        assert_eq!(
            parse("license smart usage interval 3651", Mode::Exec),
            Err(ParseError::Invalid(29))
        );
        assert_eq!(
            parse("license smart usage interval -1", Mode::Exec),
            Err(ParseError::Invalid(29))
        );
        assert_eq!(
            parse("no license smart transport", Mode::Config),
            Ok(Command::Set(ConfigChange::Transport(Transport::Cslu)))
        );
        assert_eq!(
            parse(
                "license smart save usage unreported file bootflash:u.txt",
                Mode::Exec
            ),
            Ok(Command::SaveUsage(
                SelectionArg::Unreported,
                "bootflash:u.txt"
            ))
        );
        assert_eq!(
            parse("license smart sync", Mode::Exec),
            Ok(Command::Sync(SyncScope::Local))
        );
        assert_eq!(parse("   ", Mode::Exec), Ok(Command::Nothing));
    }
}
