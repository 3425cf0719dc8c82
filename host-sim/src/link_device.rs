//! A product instance on the other end of a serial line (issue 5, DESIGN.md §6): the Tally
//! firmware in QEMU `mps2-an386` (its UART0 on a Unix socket) or on a dev board (a USB serial
//! port). It implements [`Device`] with the `tally-link` protocol, so the simulator drives it
//! exactly as it drives the in-process device.

use crate::device::{Device, Outcome, UsageError};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tally_core::time::TimeZone;
use tally_hal::{CommError, HaRole, Timestamp, Udi, bounded};
use tally_link::{
    Delivery, Hello, LinkError, MAX_CHUNK, MAX_FRAME, Received, Receiver, Release, Request,
    Response, Status,
};

/// A byte stream to the device.
pub trait Line: Read + Write + std::fmt::Debug + Send {}
impl<T: Read + Write + std::fmt::Debug + Send> Line for T {}

/// How to start QEMU with the firmware.
#[derive(Debug, Clone)]
pub struct QemuSpec {
    /// The firmware ELF (`target/thumbv7em-none-eabihf/release/tally-firmware`).
    pub elf: PathBuf,
    /// The licensing partition's image file (persists across restarts: a power cut is real).
    pub flash: PathBuf,
    /// Where device files live on the host (`bootflash:` …); `None`: in the firmware's RAM.
    pub files: Option<PathBuf>,
    /// A provisioning image file for the firmware.
    pub provision: Option<PathBuf>,
    /// QEMU's output (the firmware's defmt log) goes here.
    pub log: PathBuf,
    /// The Unix socket of UART0.
    pub socket: PathBuf,
}

impl QemuSpec {
    /// The default firmware ELF of this workspace (`TALLY_FIRMWARE` overrides it).
    pub fn default_elf() -> PathBuf {
        if let Some(p) = std::env::var_os("TALLY_FIRMWARE") {
            return PathBuf::from(p);
        }
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/thumbv7em-none-eabihf/release/tally-firmware")
    }

    fn spawn(&self) -> Result<(Child, UnixStream), String> {
        let _ = std::fs::remove_file(&self.socket);
        let log =
            std::fs::File::create(&self.log).map_err(|e| format!("{}: {e}", self.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let mut semi = String::from("enable=on,target=native,arg=tally-firmware,arg=");
        semi.push_str(&self.flash.display().to_string());
        semi.push_str(",arg=");
        match &self.files {
            Some(d) => semi.push_str(&d.display().to_string()),
            None => semi.push('-'),
        }
        if let Some(p) = &self.provision {
            semi.push_str(",arg=");
            semi.push_str(&p.display().to_string());
        }
        let chardev = format!(
            "socket,id=u0,path={},server=on,wait=on",
            self.socket.display()
        );
        let mut child = Command::new("qemu-system-arm")
            .args([
                "-machine",
                "mps2-an386",
                "-display",
                "none",
                "-monitor",
                "none",
            ])
            .args(["-chardev", &chardev, "-serial", "chardev:u0"])
            .args(["-semihosting-config", &semi])
            .arg("-kernel")
            .arg(&self.elf)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start qemu-system-arm: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match UnixStream::connect(&self.socket) {
                Ok(s) => {
                    s.set_read_timeout(Some(Duration::from_secs(120)))
                        .map_err(|e| e.to_string())?;
                    return Ok((child, s));
                }
                Err(_) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("QEMU exited at start: {status}"));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    let _ = child.kill();
                    return Err(format!("QEMU's UART socket: {e}"));
                }
            }
        }
    }
}

/// A response of the device, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Done { body: u32, wake: Option<u64> },
    Chunk(Vec<u8>),
    Error(LinkError, String),
    Ready,
}

/// The firmware's exit code when power was cut inside a flash operation.
pub const POWER_CUT_EXIT: i32 = 3;

/// A device over a serial line.
#[derive(Debug)]
pub struct LinkDevice {
    line: Box<dyn Line>,
    qemu: Option<(QemuSpec, Child)>,
    hello: Hello,
    release: Release,
    rx: Receiver,
    power_lost: bool,
    /// Round trips so far (for the benchmarks).
    pub requests: u64,
}

impl Drop for LinkDevice {
    fn drop(&mut self) {
        if let Some((_, child)) = &mut self.qemu {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn release_of(r: tally_core::agent::Release) -> Release {
    match r {
        tally_core::agent::Release::V17_3 => Release::V17_3,
        tally_core::agent::Release::V17_7 => Release::V17_7,
    }
}

impl LinkDevice {
    /// Start QEMU with the firmware and boot its agent at `now`.
    pub fn qemu(
        spec: QemuSpec,
        release: tally_core::agent::Release,
        now: Timestamp,
    ) -> Result<LinkDevice, String> {
        let (child, stream) = spec.spawn()?;
        Self::open(Box::new(stream), Some((spec, child)), release, now)
    }

    /// A freshly started device announces that it receives; nothing is sent before.
    fn wait_ready(&mut self) -> Result<(), String> {
        match self.read_reply()? {
            Reply::Ready => Ok(()),
            r => Err(format!("the device did not start: {r:?}")),
        }
    }

    /// A board on a serial port (already in raw mode: `stty -F <port> raw -echo`).
    pub fn serial(
        port: &Path,
        release: tally_core::agent::Release,
        now: Timestamp,
    ) -> Result<LinkDevice, String> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(port)
            .map_err(|e| format!("{}: {e}", port.display()))?;
        Self::open(Box::new(f), None, release, now)
    }

    fn open(
        line: Box<dyn Line>,
        qemu: Option<(QemuSpec, Child)>,
        release: tally_core::agent::Release,
        now: Timestamp,
    ) -> Result<LinkDevice, String> {
        let mut d = LinkDevice {
            line,
            qemu,
            hello: Hello {
                version: 0,
                board: heapless::String::new(),
                udi: Udi::default(),
                slots: heapless::Vec::new(),
                input_bytes: 0,
                output_bytes: 0,
                booted: false,
            },
            release: release_of(release),
            rx: Receiver::default(),
            power_lost: false,
            requests: 0,
        };
        if d.qemu.is_some() {
            d.wait_ready()?;
        }
        d.hello()?;
        d.expect_done(&Request::Boot {
            now: now.secs(),
            release: d.release,
        })?;
        Ok(d)
    }

    fn hello(&mut self) -> Result<(), String> {
        let body = self.call_body(&Request::Hello)?;
        let h: Hello = postcard::from_bytes(&body).map_err(|e| format!("hello: {e}"))?;
        if h.version != tally_link::LINK_VERSION {
            return Err(format!("the device speaks protocol {}", h.version));
        }
        self.hello = h;
        Ok(())
    }

    /// The board's name, from its `Hello`.
    pub fn board(&self) -> &str {
        self.hello.board.as_str()
    }

    /// Send raw bytes on the line (hostile-frame tests) and read the next response frame.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.line.write_all(bytes).map_err(|e| e.to_string())
    }

    /// Send one request and read one response.
    fn call(&mut self, req: &Request<'_>) -> Result<Reply, String> {
        let mut frame = [0u8; MAX_FRAME];
        let n = tally_link::encode(req, &mut frame).map_err(|e| format!("{e:?}"))?;
        self.requests += 1;
        self.line
            .write_all(frame.get(..n).unwrap_or(&[]))
            .map_err(|e| self.died(&e.to_string()))?;
        self.read_reply()
    }

    /// Read bytes until one response frame is complete.
    pub fn read_reply(&mut self) -> Result<Reply, String> {
        let mut byte = [0u8; 256];
        loop {
            let n = match self.line.read(&mut byte) {
                Ok(0) => return Err(self.died("the line closed")),
                Ok(n) => n,
                Err(e) => return Err(self.died(&e.to_string())),
            };
            for &b in byte.get(..n).unwrap_or(&[]) {
                match self.rx.push(b) {
                    Received::More => {}
                    Received::Overflow => return Err("a response frame too long".into()),
                    Received::Frame(f) => {
                        let mut scratch = [0u8; MAX_FRAME];
                        let r: Response<'_> = tally_link::decode(f, &mut scratch)
                            .map_err(|e| format!("a bad response frame: {e:?}"))?;
                        return Ok(match r {
                            Response::Ready => Reply::Ready,
                            Response::Done { body, wake } => Reply::Done { body, wake },
                            Response::Chunk { data, .. } => Reply::Chunk(data.to_vec()),
                            Response::Error { kind, detail } => {
                                Reply::Error(kind, detail.to_string())
                            }
                        });
                    }
                }
            }
        }
    }

    /// The line broke: was it a power cut?
    fn died(&mut self, why: &str) -> String {
        if let Some((_, child)) = &mut self.qemu {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    if status.code() == Some(POWER_CUT_EXIT) {
                        self.power_lost = true;
                        return "power cut during a flash operation".into();
                    }
                    return format!("the firmware stopped ({status})");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        why.to_string()
    }

    fn expect_done(&mut self, req: &Request<'_>) -> Result<(u32, Option<u64>), String> {
        match self.call(req)? {
            Reply::Done { body, wake } => Ok((body, wake)),
            Reply::Error(_, d) => Err(d),
            Reply::Chunk(_) | Reply::Ready => Err("unexpected reply".into()),
        }
    }

    /// Fetch the body of the last reply.
    fn body(&mut self, len: u32) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(len as usize);
        while (out.len() as u32) < len {
            match self.call(&Request::Get {
                offset: out.len() as u32,
            })? {
                Reply::Chunk(c) if !c.is_empty() => out.extend_from_slice(&c),
                Reply::Chunk(_) => return Err("the reply ended early".into()),
                Reply::Error(_, d) => return Err(d),
                Reply::Done { .. } | Reply::Ready => return Err("unexpected reply".into()),
            }
        }
        Ok(out)
    }

    fn call_body(&mut self, req: &Request<'_>) -> Result<Vec<u8>, String> {
        let (len, _) = self.expect_done(req)?;
        self.body(len)
    }

    /// Upload `data` into the device's input buffer.
    fn put(&mut self, data: &[u8]) -> Result<(), String> {
        for (i, chunk) in data.chunks(MAX_CHUNK).enumerate() {
            self.expect_done(&Request::Put {
                offset: (i * MAX_CHUNK) as u32,
                data: chunk,
            })?;
        }
        Ok(())
    }

    fn outcome(&mut self, req: &Request<'_>) -> Outcome {
        match self.call_body(req).and_then(|b| {
            let o: tally_link::Outcome<'_> =
                postcard::from_bytes(&b).map_err(|e| format!("outcome: {e}"))?;
            Ok(Outcome {
                output: o.output.to_string(),
                syslog: o.syslog.iter().map(|s| s.line.to_string()).collect(),
                errors: o.errors.iter().map(|e| e.to_string()).collect(),
                transmit: o.transmit.map(<[u8]>::to_vec),
                at: Timestamp(o.at),
                done: o.done,
            })
        }) {
            Ok(o) => o,
            Err(e) => Outcome {
                errors: vec![format!("device link: {e}")],
                done: true,
                ..Outcome::default()
            },
        }
    }

    fn status(&mut self) -> Result<Status, String> {
        let b = self.call_body(&Request::Status)?;
        postcard::from_bytes(&b).map_err(|e| format!("status: {e}"))
    }

    /// The agent's state as the device holds it (for host-side invariant checks).
    pub fn state(&mut self) -> Result<tally_core::state::State, String> {
        let b = self.call_body(&Request::State)?;
        postcard::from_bytes(&b).map_err(|e| format!("state: {e}"))
    }

    /// Kill QEMU now (a power cut at an arbitrary instant) and start it again on the same
    /// flash image; the agent boots at `now`.
    pub fn kill_and_restart(&mut self, now: Timestamp) -> Result<(), String> {
        let Some((spec, child)) = &mut self.qemu else {
            return Err("not a QEMU device".into());
        };
        let _ = child.kill();
        let _ = child.wait();
        let spec = spec.clone();
        self.restart(spec, now)
    }

    fn restart(&mut self, spec: QemuSpec, now: Timestamp) -> Result<(), String> {
        let (child, stream) = spec.spawn()?;
        self.line = Box::new(stream);
        self.qemu = Some((spec, child));
        self.rx = Receiver::default();
        self.power_lost = false;
        self.wait_ready()?;
        self.hello()?;
        self.expect_done(&Request::Boot {
            now: now.secs(),
            release: self.release,
        })
        .map(|_| ())
    }
}

impl Device for LinkDevice {
    fn udi(&self) -> Udi {
        self.hello.udi.clone()
    }

    fn slots(&self) -> Vec<(HaRole, Udi)> {
        self.hello.slots.iter().cloned().collect()
    }

    fn console(&mut self, now: Timestamp, line: &str) -> Outcome {
        self.outcome(&Request::Console {
            now: now.secs(),
            line,
        })
    }

    fn set_usage(&mut self, now: Timestamp, license: &str, count: u32) -> Result<(), UsageError> {
        match self.call(&Request::Usage {
            now: now.secs(),
            license,
            count,
        }) {
            Ok(Reply::Done { .. }) => Ok(()),
            Ok(Reply::Error(LinkError::BadRequest, d)) if d == "unknown license" => {
                Err(UsageError::UnknownLicense)
            }
            Ok(Reply::Error(_, d)) => Err(UsageError::Failed(d)),
            Ok(Reply::Chunk(_) | Reply::Ready) => {
                Err(UsageError::Failed("unexpected reply".into()))
            }
            Err(e) => Err(UsageError::Failed(e)),
        }
    }

    fn advance(&mut self, from: Timestamp, until: Timestamp) -> Outcome {
        self.outcome(&Request::Advance {
            from: from.secs(),
            until: until.secs(),
        })
    }

    fn deliver(&mut self, now: Timestamp, answer: Result<&[u8], CommError>) -> Outcome {
        let result = match answer {
            Ok(bytes) => match self.put(bytes) {
                Ok(()) => Delivery::Answered {
                    len: bytes.len() as u32,
                },
                Err(e) => {
                    return Outcome {
                        errors: vec![format!("device link: {e}")],
                        ..Outcome::default()
                    };
                }
            },
            Err(e) => Delivery::Failed(e.into()),
        };
        self.outcome(&Request::Deliver {
            now: now.secs(),
            result,
        })
    }

    fn reboot(&mut self, now: Timestamp) -> Result<(), String> {
        if self.power_lost {
            let spec = self
                .qemu
                .as_ref()
                .map(|(s, _)| s.clone())
                .ok_or("power lost on a board: power-cycle it")?;
            return self.restart(spec, now);
        }
        self.expect_done(&Request::Boot {
            now: now.secs(),
            release: self.release,
        })
        .map(|_| ())
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, String> {
        self.call_body(&Request::ReadFile { path })
            .map_err(|e| format!("{path}: {e}"))
    }

    fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.put(data)?;
        self.expect_done(&Request::WriteFile {
            path,
            len: data.len() as u32,
        })
        .map(|_| ())
        .map_err(|e| format!("{path}: {e}"))
    }

    fn timezone(&mut self) -> TimeZone {
        match self.status() {
            Ok(s) => TimeZone {
                name: bounded(s.tz_name.as_str()).unwrap_or_default(),
                offset_secs: s.tz_offset_secs,
            },
            Err(_) => TimeZone::utc(),
        }
    }

    fn prompt(&mut self) -> String {
        self.status()
            .map(|s| s.prompt.to_string())
            .unwrap_or_else(|_| "Device#".into())
    }

    fn feature(&mut self, license: &str) -> Option<bool> {
        let s = self.status().ok()?;
        s.features
            .iter()
            .find(|(l, _)| l.as_str() == license)
            .map(|(_, on)| *on)
    }

    fn power_cut(&mut self, bytes: u64) {
        let _ = self.expect_done(&Request::PowerCut {
            bytes: bytes as u32,
        });
    }

    fn take_power_cut(&mut self) -> bool {
        self.power_lost
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn flash_report(&mut self) -> String {
        match self.status() {
            Ok(s) => format!(
                "Licensing partition: {} sectors of {} bytes, write size {} bytes (firmware on {})\nThis run: {} bytes written, {} sector erases; deepest stack {} bytes, {} bytes held by the main loop\n",
                s.partition.0,
                s.partition.1,
                s.partition.2,
                self.hello.board,
                s.bytes_written,
                s.erases,
                s.stack_peak,
                s.stack_resident
            ),
            Err(e) => format!("% device link: {e}\n"),
        }
    }
}
