//! The device side of the serial protocol (`tally-link`, issue 5): one request in, one response
//! out, driving the same core as the simulator's in-process device. Board-independent: a board
//! gives it a NOR flash, a file system and its feature switches, and moves bytes.
//!
//! Every request is checked before anything changes; a malformed, oversized or damaged frame
//! gets an error response and changes nothing; the server never stops answering.

use core::fmt::{self, Write as _};
use heapless::{String, Vec};
use tally_core::agent::{Agent, Identity, Release};
use tally_core::cli::{Console, Effect, Env};
use tally_core::crypto::LocalKey;
use tally_core::journal::flash::FlashJournal;
use tally_core::limits::Limits;
use tally_hal::{CommError, DeviceKey, EventSink, Files, NorFlash, Severity, Timestamp};
use tally_link::{
    Delivery, FrameError, Hello, LINK_VERSION, LinkError, MAX_CHUNK, MAX_FRAME, MAX_SYSLOG,
    Outcome, Request, Response, Status, Syslog,
};

pub use sizes::{CONSOLE_BYTES, INPUT_BYTES, OUTPUT_BYTES, TEXT_BYTES};

/// Buffer sizes of the QEMU board (4 MiB of RAM) and of any build without a smaller board.
#[cfg(not(feature = "board-nrf52840"))]
mod sizes {
    use tally_core::limits::Limits;
    /// Bytes of the input buffer (files and authority answers the host uploads: an import
    /// file is at most 8 KiB, an authority answer 4 KiB; twice that for any other file).
    pub const INPUT_BYTES: usize = Limits::USAGE_FILE_BYTES;
    /// Console output one command may print (`show license rum id all detail` of a full
    /// table, 36 rows, is about 9 KiB).
    pub const CONSOLE_BYTES: usize = 24 * 1024;
    /// Bytes of the output buffer (reply bodies: a command's output with its syslog lines,
    /// files up to an armoured usage file, messages to send).
    pub const OUTPUT_BYTES: usize = CONSOLE_BYTES + 8 * 1024;
    /// Scratch for armoured text (`Env::text`).
    pub const TEXT_BYTES: usize = 2 * Limits::USAGE_FILE_BYTES;
}

/// Buffer sizes of the nRF52840 (256 KiB of RAM): the server, the RAM files and the stack of
/// the deepest request (a first boot: ~90 KiB) must fit (boards/nrf52840.rs). Uploads, replies
/// and console output are half or two thirds of the QEMU board's, still above what the agent's
/// own limits produce (an import file is at most 8 KiB, a usage message at most 16 KiB).
#[cfg(feature = "board-nrf52840")]
mod sizes {
    use tally_core::limits::Limits;
    pub const INPUT_BYTES: usize = Limits::USAGE_FILE_BYTES;
    pub const OUTPUT_BYTES: usize = Limits::USAGE_FILE_BYTES + 8 * 1024;
    pub const CONSOLE_BYTES: usize = 16 * 1024;
    pub const TEXT_BYTES: usize = 24 * 1024;
}

/// Scratch for envelopes (`Env::bin`: at least a usage file, and the message being sent).
const BIN_BYTES: usize = Limits::USAGE_FILE_BYTES + 256;

// `Env::text` holds the armour of a whole `bin`: 48 bytes a line as 64 characters and a line
// break, and the BEGIN/END lines.
const _: () = assert!(TEXT_BYTES >= BIN_BYTES.div_ceil(48) * 65 + 256);
const _: () = assert!(INPUT_BYTES >= Limits::IMPORT_FILE_BYTES);
// A console command's `Env::text` is the head of the output buffer.
const _: () = assert!(OUTPUT_BYTES >= TEXT_BYTES);
/// Characters of one syslog line kept.
pub const SYSLOG_LINE: usize = 256;

/// What a board provides besides the flash.
pub trait Board {
    /// Name reported in `Hello`.
    fn name(&self) -> &'static str;
    /// The device file system (`bootflash:`).
    fn files(&mut self) -> &mut dyn Files;
    /// Switch the feature behind an enforced license (ENF-7; a GPIO, a register, a flag).
    fn set_feature(&mut self, license: &str, on: bool);
    /// Cut power inside the next flash operation, `bytes` into it (a test hook).
    fn arm_power_cut(&mut self, bytes: u32);
    /// Deepest stack seen so far, in bytes.
    fn stack_peak(&self) -> u32;
    /// Stack the main loop's frame holds for good (the server, the board, the RX framer), in bytes.
    fn stack_resident(&self) -> u32;
}

/// Flash activity a board's flash driver counts since power-on.
pub trait Activity {
    /// (sector erases, bytes written)
    fn activity(&self) -> (u32, u32);
}

/// Syslog messages of one request, kept for the reply.
struct Lines {
    lines: Vec<(u8, u64, String<SYSLOG_LINE>), MAX_SYSLOG>,
    at: u64,
}

impl EventSink for Lines {
    fn emit(&mut self, severity: Severity, message: &str) {
        let mut s = String::new();
        for c in message.chars() {
            if s.push(c).is_err() {
                break;
            }
        }
        let _ = self.lines.push((severity as u8, self.at, s));
    }
}

/// Console output into a bounded buffer; what does not fit is cut, not an error.
struct Text<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut utf8 = [0u8; 4];
            let b = c.encode_utf8(&mut utf8).as_bytes();
            let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) else {
                return Ok(());
            };
            dst.copy_from_slice(b);
            self.len += b.len();
        }
        Ok(())
    }
}

/// The server's buffers. A board keeps them in a static (`.bss`: zeroed at reset, nothing in
/// the image) and lends them to [`Server::new`]: as fields of the server they were built on
/// the stack and copied with it.
pub struct Buffers {
    input: [u8; INPUT_BYTES],
    output: [u8; OUTPUT_BYTES],
    console_out: [u8; CONSOLE_BYTES],
    bin: [u8; BIN_BYTES],
    /// The response frame to send.
    frame: [u8; MAX_FRAME],
}

impl Buffers {
    /// All zeroes.
    pub const fn new() -> Self {
        Buffers {
            input: [0; INPUT_BYTES],
            output: [0; OUTPUT_BYTES],
            console_out: [0; CONSOLE_BYTES],
            bin: [0; BIN_BYTES],
            frame: [0; MAX_FRAME],
        }
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers::new()
    }
}

impl fmt::Debug for Buffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffers").finish_non_exhaustive()
    }
}

/// The protocol server around one agent.
pub struct Server<F: NorFlash + Activity> {
    ident: Identity,
    key: LocalKey,
    sectors: u32,
    flash: Option<F>,
    agent: Option<Agent<FlashJournal<F>>>,
    console: Console,
    factory_policy: Option<Vec<u8, { tally_core::provision::FACTORY_ENVELOPE_BYTES }>>,
    factory_codes: Vec<Vec<u8, { tally_core::provision::FACTORY_ENVELOPE_BYTES }>, 2>,
    features: [Option<bool>; Limits::LICENSES],
    buf: &'static mut Buffers,
    out_len: usize,
    /// Bytes of the response in `buf.frame`.
    frame_len: usize,
}

impl<F: NorFlash + Activity> fmt::Debug for Server<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("booted", &self.agent.is_some())
            .finish_non_exhaustive()
    }
}

fn err_text(e: impl fmt::Display) -> String<96> {
    let mut s = String::new();
    let _ = write!(Text2(&mut s), "{e}");
    s
}

/// `fmt::Write` into a bounded string that cuts.
struct Text2<'a, const N: usize>(&'a mut String<N>);

impl<const N: usize> fmt::Write for Text2<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

impl<F: NorFlash + Activity> Server<F> {
    /// The flash, before boot or under the journal.
    pub fn flash_mut(&mut self) -> Option<&mut F> {
        match &mut self.agent {
            Some(a) => Some(a.journal_mut().flash_mut()),
            None => self.flash.as_mut(),
        }
    }

    /// The flash, before boot or under the journal.
    pub fn flash(&self) -> Option<&F> {
        match &self.agent {
            Some(a) => Some(a.journal().flash()),
            None => self.flash.as_ref(),
        }
    }

    /// A server for the agent of `ident`, with `key`, on `sectors` sectors of `flash`, and the
    /// factory policy and codes of its provisioning image (taken in on the first boot), working
    /// in `buf`.
    pub fn new(
        ident: Identity,
        key: LocalKey,
        flash: F,
        sectors: u32,
        factory_policy: Option<&[u8]>,
        factory_codes: &[&[u8]],
        buf: &'static mut Buffers,
    ) -> Self {
        let mut codes = Vec::new();
        for c in factory_codes {
            if let Ok(v) = Vec::from_slice(c) {
                let _ = codes.push(v);
            }
        }
        Server {
            ident,
            key,
            sectors,
            flash: Some(flash),
            agent: None,
            console: Console::default(),
            factory_policy: factory_policy.and_then(|p| Vec::from_slice(p).ok()),
            factory_codes: codes,
            features: [None; Limits::LICENSES],
            buf,
            out_len: 0,
            frame_len: 0,
        }
    }

    /// Handle one received frame (without its delimiter); [`Server::response`] is then the
    /// frame to send.
    // Out of line: what requests need is on the stack only while one is handled, not in the
    // caller's frame for good.
    #[inline(never)]
    pub fn handle_frame(&mut self, frame: &[u8], board: &mut dyn Board) {
        let mut scratch = [0u8; MAX_FRAME];
        let len = match tally_link::decode::<Request<'_>>(frame, &mut scratch) {
            Ok(req) => {
                let req = req.clone();
                self.respond(req, board)
            }
            Err(FrameError::Damaged) => self.error(LinkError::Frame, "damaged frame"),
            Err(FrameError::TooLarge) => self.error(LinkError::TooLarge, "frame too large"),
            Err(FrameError::Malformed) => self.error(LinkError::Malformed, "not a request"),
        };
        self.frame_len = len;
    }

    /// Answer a frame that was too long for the receiver; [`Server::response`] is then the
    /// frame to send.
    pub fn overflow(&mut self) {
        self.frame_len = self.error(LinkError::TooLarge, "frame too large");
    }

    /// The response frame of the last request (with its delimiter).
    pub fn response(&self) -> &[u8] {
        self.buf.frame.get(..self.frame_len).unwrap_or(&[])
    }

    fn encode(&mut self, r: &Response<'_>) -> usize {
        // A frame that does not fit is sent as nothing, as before (`encode` fails before it
        // would write past the buffer, and only a whole frame is ever sent).
        tally_link::encode(r, &mut self.buf.frame).unwrap_or(0)
    }

    fn error(&mut self, kind: LinkError, detail: &str) -> usize {
        self.encode(&Response::Error { kind, detail })
    }

    fn done(&mut self, body: usize) -> usize {
        self.out_len = body;
        let wake = self
            .agent
            .as_ref()
            .and_then(|a| a.next_wakeup())
            .map(|t| t.secs());
        self.encode(&Response::Done {
            body: body as u32,
            wake,
        })
    }

    /// Serialize `body` into the output buffer and answer `Done`.
    fn body<T: serde::Serialize>(&mut self, body: &T) -> usize {
        match postcard::to_slice(body, &mut self.buf.output) {
            Ok(b) => {
                let n = b.len();
                self.done(n)
            }
            Err(_) => self.error(LinkError::TooLarge, "reply too large"),
        }
    }

    fn sync_features(&mut self, board: &mut dyn Board) {
        let Some(agent) = &self.agent else {
            return;
        };
        for (i, def) in self.ident.catalogue.iter().enumerate() {
            if def.enforcement == tally_hal::Enforcement::Unenforced {
                continue;
            }
            let on = agent.license_status(i) == tally_core::LicenseStatus::InUse;
            if let Some(slot) = self.features.get_mut(i)
                && *slot != Some(on)
            {
                *slot = Some(on);
                board.set_feature(def.name, on);
            }
        }
    }

    fn respond(&mut self, req: Request<'_>, board: &mut dyn Board) -> usize {
        match req {
            Request::Hello => {
                let mut slots = Vec::new();
                for (r, u) in self.ident.slots() {
                    let _ = slots.push((r, u.clone()));
                }
                let mut name = String::new();
                let _ = name.push_str(board.name());
                let hello = Hello {
                    version: LINK_VERSION,
                    board: name,
                    udi: self.ident.udi.clone(),
                    slots,
                    input_bytes: INPUT_BYTES as u32,
                    output_bytes: OUTPUT_BYTES as u32,
                    booted: self.agent.is_some(),
                };
                self.body(&hello)
            }
            Request::Boot { now, release } => self.boot(Timestamp(now), release, board),
            Request::Put { offset, data } => {
                let at = offset as usize;
                match self.buf.input.get_mut(at..at + data.len()) {
                    Some(dst) if data.len() <= MAX_CHUNK => {
                        dst.copy_from_slice(data);
                        self.done(0)
                    }
                    _ => self.error(LinkError::BadRequest, "beyond the input buffer"),
                }
            }
            Request::Get { offset } => {
                let at = offset as usize;
                let end = self.out_len.min(at.saturating_add(MAX_CHUNK));
                if at > self.out_len {
                    return self.error(LinkError::BadRequest, "beyond the reply");
                }
                // Encoded straight from the output buffer into the frame (disjoint fields).
                let data = self.buf.output.get(at..end).unwrap_or(&[]);
                tally_link::encode(&Response::Chunk { offset, data }, &mut self.buf.frame)
                    .unwrap_or(0)
            }
            Request::WriteFile { path, len } => {
                let Some(data) = self.buf.input.get(..len as usize) else {
                    return self.error(LinkError::BadRequest, "beyond the input buffer");
                };
                match board.files().write(path, data) {
                    Ok(()) => self.done(0),
                    Err(e) => {
                        let t = err_text(e);
                        self.error(LinkError::Device, &t)
                    }
                }
            }
            Request::ReadFile { path } => match board.files().read(path, &mut self.buf.output) {
                Ok(n) => self.done(n),
                Err(e) => {
                    let t = err_text(e);
                    self.error(LinkError::Device, &t)
                }
            },
            Request::PowerCut { bytes } => {
                board.arm_power_cut(bytes);
                self.done(0)
            }
            other => {
                if self.agent.is_none() {
                    return self.error(LinkError::BadRequest, "not booted");
                }
                self.agent_request(other, board)
            }
        }
    }

    fn boot(
        &mut self,
        now: Timestamp,
        release: tally_link::Release,
        board: &mut dyn Board,
    ) -> usize {
        self.ident.release = match release {
            tally_link::Release::V17_3 => Release::V17_3,
            tally_link::Release::V17_7 => Release::V17_7,
        };
        self.console = Console::default();
        if self.agent.is_some() {
            self.reload(now, board)
        } else {
            self.first_boot(now, board)
        }
    }

    // `reload` and `first_boot` are out of line so that their frames are on the stack only for
    // their own requests: the agent `first_boot` builds (moved by value, a copy or two of
    // ~14 KiB) is then neither in the main loop's frame, nor under every request's frame, nor
    // under a reload's journal replay.

    /// A reload: the agent reboots from its journal.
    #[inline(never)]
    fn reload(&mut self, now: Timestamp, board: &mut dyn Board) -> usize {
        let Some(agent) = &mut self.agent else {
            return self.error(LinkError::BadRequest, "not booted");
        };
        match agent.reboot(now) {
            Ok(()) => {
                self.sync_features(board);
                self.done(0)
            }
            Err(e) => {
                let t = err_text(e);
                self.error(LinkError::Device, &t)
            }
        }
    }

    /// The first boot: the agent mounts the journal and takes in the factory policy and codes.
    #[inline(never)]
    fn first_boot(&mut self, now: Timestamp, board: &mut dyn Board) -> usize {
        let Some(flash) = self.flash.take() else {
            return self.error(LinkError::Device, "no flash");
        };
        let journal = match FlashJournal::new(flash, 0, self.sectors) {
            Ok(j) => j,
            Err(e) => {
                let t = err_text(e);
                return self.error(LinkError::Device, &t);
            }
        };
        // Booted where it lives: an agent returned by value would sit in this frame twice.
        match Agent::boot_into(&mut self.agent, self.ident.clone(), journal, now) {
            Ok(agent) => {
                {
                    let codes: Vec<&[u8], 2> =
                        crate::first(self.factory_codes.iter().map(|c| c.as_slice()));
                    let _ = agent.install_factory(
                        now,
                        self.factory_policy.as_ref().map(|p| p.as_slice()),
                        &codes,
                    );
                }
                self.sync_features(board);
                self.done(0)
            }
            Err(e) => {
                let t = err_text(e);
                self.error(LinkError::Device, &t)
            }
        }
    }

    fn agent_request(&mut self, req: Request<'_>, board: &mut dyn Board) -> usize {
        let mut sink = Lines {
            lines: Vec::new(),
            at: 0,
        };
        let mut errors: Vec<String<96>, 2> = Vec::new();
        let mut transmit: Option<usize> = None;
        let mut console_len = 0;
        let mut communicate = false;
        let mut at = 0;
        let mut done = false;
        let Some(agent) = self.agent.as_mut() else {
            return self.error(LinkError::BadRequest, "not booted");
        };
        match req {
            Request::Console { now, line } => {
                sink.at = now;
                // Scratch of this command only, in the output buffer: what it held (the last
                // reply) is dead once a new request came, and the reply of this one is
                // serialized after the command is done with the scratch. Zeroed, as the stack
                // array it replaces was; cut to `TEXT_BYTES` so that the same files fit.
                let Some(text) = self.buf.output.get_mut(..TEXT_BYTES) else {
                    return self.error(LinkError::Device, "no scratch");
                };
                text.fill(0);
                let mut out = Text {
                    buf: &mut self.buf.console_out,
                    len: 0,
                };
                let mut env = Env {
                    agent,
                    key: &mut self.key,
                    files: board.files(),
                    sink: &mut sink,
                    now: Timestamp(now),
                    bin: &mut self.buf.bin,
                    text,
                };
                communicate = self
                    .console
                    .execute(line, &mut env, &mut out)
                    .unwrap_or(Effect::None)
                    == Effect::Communicate;
                console_len = out.len;
            }
            Request::Usage {
                now,
                license,
                count,
            } => {
                if let Err(e) = agent.set_usage(Timestamp(now), license, count) {
                    let t = err_text(e);
                    let kind = if e == tally_core::AgentError::UnknownLicense {
                        LinkError::BadRequest
                    } else {
                        LinkError::Device
                    };
                    return self.error(kind, &t);
                }
            }
            Request::Advance { from, until } => {
                sink.at = from;
                let a = agent.advance(
                    Timestamp(from),
                    Timestamp(until),
                    &mut sink,
                    &mut self.key,
                    &mut self.buf.bin,
                );
                for e in a.errors.iter() {
                    let _ = errors.push(err_text(e));
                }
                transmit = a.transmit.map(|t| t.len);
                at = a.at.secs();
                done = a.done;
            }
            Request::Deliver { now, result } => {
                sink.at = now;
                at = now;
                let t = Timestamp(now);
                let answer: Result<&[u8], CommError> = match result {
                    Delivery::Answered { len } => self
                        .buf
                        .input
                        .get(..len as usize)
                        .ok_or(CommError::ResponseTooLarge),
                    Delivery::Failed(f) => Err(f.into()),
                };
                if let Err(e) = agent.on_response(t, answer, &mut sink) {
                    let _ = errors.push(err_text(e));
                }
                match agent.poll_transmit(t, &mut self.key, &mut self.buf.bin) {
                    Ok(tx) => transmit = tx.map(|t| t.len),
                    Err(e) => {
                        let _ = errors.push(err_text(e));
                    }
                }
            }
            Request::Status => {
                let tz = agent.state().config.timezone.clone();
                let mut prompt = String::new();
                let _ = write!(Text2(&mut prompt), "{}", self.console.prompt());
                let mut features = Vec::new();
                for (def, f) in self.ident.catalogue.iter().zip(self.features.iter()) {
                    if let Some(on) = f {
                        let mut name = String::new();
                        let _ = name.push_str(def.name);
                        let _ = features.push((name, *on));
                    }
                }
                let (erases, bytes_written) = agent.journal().flash().activity();
                let mut tz_name = String::new();
                let _ = tz_name.push_str(tz.name.as_str());
                let status = Status {
                    wake: agent.next_wakeup().map(|t| t.secs()),
                    tz_name,
                    tz_offset_secs: tz.offset_secs,
                    prompt,
                    features,
                    erases,
                    bytes_written,
                    stack_peak: board.stack_peak(),
                    stack_resident: board.stack_resident(),
                    partition: (self.sectors, F::ERASE_SIZE as u32, F::WRITE_SIZE as u32),
                };
                return self.body(&status);
            }
            Request::State => {
                // Serialized in place: a copy of the state would add ~9 KiB to this frame.
                return match postcard::to_slice(agent.state(), &mut self.buf.output) {
                    Ok(b) => {
                        let n = b.len();
                        self.done(n)
                    }
                    Err(_) => self.error(LinkError::TooLarge, "reply too large"),
                };
            }
            _ => return self.error(LinkError::BadRequest, "unexpected request"),
        }
        self.sync_features(board);
        let syslog: Vec<Syslog<'_>, MAX_SYSLOG> =
            crate::first(sink.lines.iter().map(|(sev, at, line)| Syslog {
                at: *at,
                severity: *sev,
                line: line.as_str(),
            }));
        let encoded = {
            let output =
                core::str::from_utf8(self.buf.console_out.get(..console_len).unwrap_or(&[]))
                    .unwrap_or("");
            let outcome = Outcome {
                output,
                syslog,
                errors: crate::first(errors.iter().map(|e| e.as_str())),
                transmit: transmit.and_then(|n| self.buf.bin.get(..n)),
                communicate,
                at,
                done,
            };
            postcard::to_slice(&outcome, &mut self.buf.output).map(|b| b.len())
        };
        match encoded {
            Ok(n) => self.done(n),
            Err(_) => self.error(LinkError::TooLarge, "reply too large"),
        }
    }
}

/// The device key of a board without a provisioning image (a development key: the one the
/// simulator uses for the same serial).
pub fn development_key(serial: &str) -> Option<LocalKey> {
    let mut seed = String::new();
    tally_hal::reference::development_key_seed(serial, &mut seed).ok()?;
    LocalKey::from_seed(seed.as_bytes()).ok()
}

/// The factory policy and authorization codes a provisioning image brings.
pub type FactoryPolicy = Option<Vec<u8, { tally_core::provision::FACTORY_ENVELOPE_BYTES }>>;
pub type FactoryCodes = Vec<
    Vec<u8, { tally_core::provision::FACTORY_ENVELOPE_BYTES }>,
    { tally_core::provision::FACTORY_AUTH_CODES },
>;

/// A provisioning image applied to the reference identity: its trust anchors (the HA members'
/// keys kept), its authority keys and this device's own key, and the factory policy and codes
/// it brings. `None`, and nothing changed, unless the image is whole and for this device; the
/// board then runs the development identity.
pub fn provision(
    p: &tally_core::provision::Provisioning,
    ident: &mut Identity,
    key: &mut LocalKey,
) -> Option<(FactoryPolicy, FactoryCodes)> {
    let anchors = p.anchors().ok()?;
    let own_key = p
        .device_secret
        .and_then(|s| LocalKey::from_secret(s).ok())?;
    if p.udi != ident.udi {
        return None;
    }
    let members = ident.trust.member_keys;
    ident.trust = anchors;
    ident.trust.member_keys = members;
    let own_slot = ident.own_slot();
    if let Some(own) = ident.trust.member_keys.get_mut(own_slot) {
        *own = Some(DeviceKey::public_key(&own_key));
    }
    ident.authority_keys = p.authority_keys();
    *key = own_key;
    Some((p.policy.clone(), p.auth_codes.clone()))
}

/// The reference identity (`tally_hal::reference`) with the development keys: what a board
/// without a provisioning image runs.
pub fn reference_identity() -> Option<(Identity, LocalKey)> {
    let (members, licenses) = tally_hal::reference::c9200l_stack().ok()?;
    let key = development_key(members.first()?.udi.sn.as_str())?;
    let authority =
        LocalKey::from_seed(tally_hal::reference::DEVELOPMENT_AUTHORITY_SEED.as_bytes())
            .ok()?
            .public_key();
    let mut ident = Identity {
        udi: members.first()?.udi.clone(),
        members: Vec::from_slice(&members).ok()?,
        catalogue: Vec::from_slice(&licenses).ok()?,
        partner: tally_hal::reference::PARTNER,
        release: Release::V17_7,
        authority_keys: Vec::from_slice(&[authority]).ok()?,
        trust: Default::default(),
    };
    ident.trust.device_key = Some(key.public_key());
    for (slot, m) in members.iter().enumerate() {
        let k = if m.udi == ident.udi {
            key.public_key()
        } else {
            development_key(m.udi.sn.as_str())?.public_key()
        };
        if let Some(s) = ident.trust.member_keys.get_mut(slot) {
            *s = Some(k);
        }
    }
    Some((ident, key))
}
