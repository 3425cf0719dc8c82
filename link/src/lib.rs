//! `tally-link`: the framed request/response protocol between a host and a Tally device on a
//! serial line (issue 5, DESIGN.md §6). The host simulator drives a firmware image through it
//! exactly as it drives an in-process device; on a dev board the same bytes go over USB serial.
//!
//! A frame is `COBS(postcard(message) ‖ CRC-32 little-endian) ‖ 0x00`. COBS makes `0x00` the
//! frame delimiter, so a receiver resynchronises at the next delimiter after any garbage; the
//! CRC catches damaged frames; every message is bounded by [`MAX_MESSAGE`]. A malformed,
//! oversized or damaged frame gets an [`Response::Error`] and changes nothing.
//!
//! The host sends one [`Request`], the device answers one [`Response`]. Large data (console
//! output, files, messages for the authority) does not fit one frame: the device leaves a
//! reply's *body* in its output buffer and the host fetches it with [`Request::Get`]; the host
//! uploads large inputs into the device's input buffer with [`Request::Put`] first.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

#[cfg(test)]
extern crate std;

use heapless::Vec;
use serde::{Deserialize, Serialize};
use tally_hal::{CommError, HaRole, Udi};

/// Version of the protocol; a host refuses a device that speaks another.
pub const LINK_VERSION: u16 = 1;
/// Largest message (postcard bytes before the CRC and COBS).
pub const MAX_MESSAGE: usize = 1280;
/// Bytes of data in one `Put` or `Chunk`.
pub const MAX_CHUNK: usize = 1024;
/// Largest frame on the wire: COBS adds one byte per 254, plus the CRC and the delimiter.
pub const MAX_FRAME: usize = MAX_MESSAGE + 4 + (MAX_MESSAGE + 4) / 254 + 2;
/// Syslog lines one reply carries at most.
pub const MAX_SYSLOG: usize = 64;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Host → device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// Who are you. The device answers with a [`Hello`] body.
    Hello,
    /// Mount the journal and boot the agent at RTC time `now` (a power-on or a reload).
    Boot { now: u64, release: Release },
    /// Put `data` at `offset` of the device's input buffer.
    Put {
        offset: u32,
        #[serde(borrow)]
        data: &'a [u8],
    },
    /// Bytes of the output buffer from `offset` (the body of the last reply).
    Get { offset: u32 },
    /// Run a console line at RTC time `now`. Body: [`Outcome`].
    Console {
        now: u64,
        #[serde(borrow)]
        line: &'a str,
    },
    /// The platform's count of a license changed. Body: [`Outcome`].
    Usage {
        now: u64,
        #[serde(borrow)]
        license: &'a str,
        count: u32,
    },
    /// Run the agent's timers from `from` to `until` (`Agent::advance`): it stops early where
    /// a message must go out or a system message was raised. Body: [`Outcome`] (its
    /// `transmit` is the message, `at` where it stopped, `done` whether it reached `until`).
    Advance { from: u64, until: u64 },
    /// The authority's answer to the message of the last `Step`: the first `len` bytes of the
    /// input buffer, or why it failed. Body: [`Outcome`].
    Deliver { now: u64, result: Delivery },
    /// Write the first `len` bytes of the input buffer as file `path`.
    WriteFile {
        #[serde(borrow)]
        path: &'a str,
        len: u32,
    },
    /// Read file `path`: it becomes the body.
    ReadFile {
        #[serde(borrow)]
        path: &'a str,
    },
    /// Body: [`Status`].
    Status,
    /// The agent state, postcard-encoded, as the body (for host-side checks).
    State,
    /// Cut power inside the next flash operation that follows, after `bytes` bytes of it.
    PowerCut { bytes: u32 },
}

/// The release whose display formats the device reproduces (MISC-15).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Release {
    V17_3,
    V17_7,
}

/// How a message to the authority went.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    Answered { len: u32 },
    Failed(CommFailure),
}

/// [`CommError`] on the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommFailure {
    Unreachable,
    HostNotFound,
    Tls,
    Timeout,
    ResponseTooLarge,
}

impl From<CommError> for CommFailure {
    fn from(e: CommError) -> Self {
        match e {
            CommError::Unreachable => CommFailure::Unreachable,
            CommError::HostNotFound => CommFailure::HostNotFound,
            CommError::Tls => CommFailure::Tls,
            CommError::Timeout => CommFailure::Timeout,
            CommError::ResponseTooLarge => CommFailure::ResponseTooLarge,
        }
    }
}

impl From<CommFailure> for CommError {
    fn from(e: CommFailure) -> Self {
        match e {
            CommFailure::Unreachable => CommError::Unreachable,
            CommFailure::HostNotFound => CommError::HostNotFound,
            CommFailure::Tls => CommError::Tls,
            CommFailure::Timeout => CommError::Timeout,
            CommFailure::ResponseTooLarge => CommError::ResponseTooLarge,
        }
    }
}

/// Device → host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response<'a> {
    /// Sent once, unasked, when the device's receiver is on after power-on: the host sends
    /// nothing before it (a UART that is not yet receiving may drop or hold bytes).
    Ready,
    /// Done; the reply's body is `body` bytes in the output buffer; `wake` is when the agent
    /// next needs a `Step` (RTC), if ever.
    Done { body: u32, wake: Option<u64> },
    /// Bytes of the output buffer.
    Chunk {
        offset: u32,
        #[serde(borrow)]
        data: &'a [u8],
    },
    /// Refused; nothing changed.
    Error {
        kind: LinkError,
        #[serde(borrow)]
        detail: &'a str,
    },
}

/// Why a request was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkError {
    /// The frame's CRC or COBS encoding is wrong.
    Frame,
    /// Longer than the protocol allows.
    TooLarge,
    /// The message does not decode.
    Malformed,
    /// A well-formed request that cannot be done (no agent booted, offset out of range...).
    BadRequest,
    /// The agent or the platform refused it (its error text in `detail`).
    Device,
}

/// The body of `Hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    pub board: heapless::String<32>,
    pub udi: Udi,
    pub slots: Vec<(HaRole, Udi), 4>,
    pub input_bytes: u32,
    pub output_bytes: u32,
    /// Whether an agent is booted.
    pub booted: bool,
}

/// One syslog message, at the agent time it was raised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Syslog<'a> {
    pub at: u64,
    pub severity: u8,
    #[serde(borrow)]
    pub line: &'a str,
}

/// The body of `Console`, `Usage`, `Step` and `Deliver`: what the device printed, raised and
/// wants to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome<'a> {
    #[serde(borrow)]
    pub output: &'a str,
    #[serde(borrow)]
    pub syslog: Vec<Syslog<'a>, MAX_SYSLOG>,
    /// Errors the agent returned, as text.
    #[serde(borrow)]
    pub errors: Vec<&'a str, 2>,
    /// A message for the authority (after `Step`), and what it is.
    #[serde(borrow)]
    pub transmit: Option<&'a [u8]>,
    /// The console asks the driver to talk to the authority now (`license smart sync`).
    pub communicate: bool,
    /// For `Advance`: the device time it stopped at, and whether it reached `until`.
    pub at: u64,
    pub done: bool,
}

/// The body of `Status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub wake: Option<u64>,
    /// The agent's time zone: name and UTC offset in seconds.
    pub tz_name: heapless::String<16>,
    pub tz_offset_secs: i32,
    /// The console prompt.
    pub prompt: heapless::String<48>,
    /// The platform's switches of enforced features, by license name.
    pub features: Vec<(heapless::String<32>, bool), 8>,
    /// Flash: erases and bytes written since power-on.
    pub erases: u32,
    pub bytes_written: u32,
    /// Deepest stack seen, in bytes (painted at boot), below what the main loop holds.
    pub stack_peak: u32,
    /// Stack the main loop's frame holds for good: the server (with the agent), the board, the
    /// RX framer. Buffers in statics are not in it.
    pub stack_resident: u32,
    /// The licensing partition: sectors, bytes per sector, bytes per write.
    pub partition: (u32, u32, u32),
}

/// Why a frame could not be made or read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The message is larger than [`MAX_MESSAGE`], or the buffer too small.
    TooLarge,
    /// COBS or CRC failure.
    Damaged,
    /// The message does not decode as the expected type.
    Malformed,
}

/// Encode `msg` as one frame (delimiter included) into `out`; returns its length.
pub fn encode<T: Serialize>(msg: &T, out: &mut [u8]) -> Result<usize, FrameError> {
    let mut raw = [0u8; MAX_MESSAGE + 4];
    let n = postcard::to_slice(msg, raw.get_mut(..MAX_MESSAGE).ok_or(FrameError::TooLarge)?)
        .map_err(|_| FrameError::TooLarge)?
        .len();
    let crc = CRC32.checksum(raw.get(..n).ok_or(FrameError::TooLarge)?);
    raw.get_mut(n..n + 4)
        .ok_or(FrameError::TooLarge)?
        .copy_from_slice(&crc.to_le_bytes());
    cobs_encode(raw.get(..n + 4).ok_or(FrameError::TooLarge)?, out)
}

/// Decode one frame's content (without its delimiter) into `scratch`, and the message from it.
pub fn decode<'a, T: Deserialize<'a>>(
    frame: &[u8],
    scratch: &'a mut [u8],
) -> Result<T, FrameError> {
    let n = cobs_decode(frame, scratch)?;
    let body = n.checked_sub(4).ok_or(FrameError::Damaged)?;
    let (msg, crc) = scratch.get(..n).ok_or(FrameError::Damaged)?.split_at(body);
    let crc: [u8; 4] = crc.try_into().map_err(|_| FrameError::Damaged)?;
    if CRC32.checksum(msg) != u32::from_le_bytes(crc) {
        return Err(FrameError::Damaged);
    }
    let msg = scratch.get(..body).ok_or(FrameError::Damaged)?;
    let (v, rest) = postcard::take_from_bytes(msg).map_err(|_| FrameError::Malformed)?;
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(FrameError::Malformed)
    }
}

/// COBS-encode `data` into `out` and append the `0x00` delimiter.
fn cobs_encode(data: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
    let mut code_at = 0;
    let mut w = 1;
    let mut code: u8 = 1;
    for &b in data {
        if b == 0 {
            *out.get_mut(code_at).ok_or(FrameError::TooLarge)? = code;
            code_at = w;
            w += 1;
            code = 1;
        } else {
            *out.get_mut(w).ok_or(FrameError::TooLarge)? = b;
            w += 1;
            code += 1;
            if code == 0xFF {
                *out.get_mut(code_at).ok_or(FrameError::TooLarge)? = code;
                code_at = w;
                w += 1;
                code = 1;
            }
        }
    }
    *out.get_mut(code_at).ok_or(FrameError::TooLarge)? = code;
    *out.get_mut(w).ok_or(FrameError::TooLarge)? = 0;
    Ok(w + 1)
}

/// COBS-decode one frame (no delimiter) into `out`; returns the decoded length.
fn cobs_decode(frame: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
    let mut r = 0;
    let mut w = 0;
    while r < frame.len() {
        let code = *frame.get(r).ok_or(FrameError::Damaged)?;
        if code == 0 {
            return Err(FrameError::Damaged);
        }
        r += 1;
        for _ in 1..code {
            let b = *frame.get(r).ok_or(FrameError::Damaged)?;
            if b == 0 {
                return Err(FrameError::Damaged);
            }
            *out.get_mut(w).ok_or(FrameError::TooLarge)? = b;
            w += 1;
            r += 1;
        }
        if code != 0xFF && r < frame.len() {
            *out.get_mut(w).ok_or(FrameError::TooLarge)? = 0;
            w += 1;
        }
    }
    Ok(w)
}

/// Collects bytes from the line into frames: everything up to a `0x00`. A frame longer than
/// [`MAX_FRAME`] is dropped whole (its tail up to the next delimiter too) and reported once.
#[derive(Debug)]
pub struct Receiver {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver {
            buf: [0; MAX_FRAME],
            len: 0,
            overflow: false,
        }
    }
}

/// What one byte completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// Nothing yet.
    More,
    /// A whole frame (without its delimiter).
    Frame(&'a [u8]),
    /// A frame that was too long ended here.
    Overflow,
}

impl Receiver {
    pub fn push(&mut self, byte: u8) -> Received<'_> {
        if byte == 0 {
            let n = core::mem::take(&mut self.len);
            if core::mem::take(&mut self.overflow) {
                return Received::Overflow;
            }
            if n == 0 {
                // Two delimiters in a row: an empty frame is no frame.
                return Received::More;
            }
            return match self.buf.get(..n) {
                Some(f) => Received::Frame(f),
                None => Received::Overflow,
            };
        }
        if self.overflow {
            return Received::More;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
            }
            None => {
                self.overflow = true;
                self.len = 0;
            }
        }
        Received::More
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(req: &Request<'_>) {
        let mut frame = [0u8; MAX_FRAME];
        let n = encode(req, &mut frame).unwrap();
        assert_eq!(frame[n - 1], 0);
        assert!(!frame[..n - 1].contains(&0), "COBS leaves no zero inside");
        let mut rx = Receiver::default();
        let mut got = None;
        for &b in &frame[..n] {
            if let Received::Frame(f) = rx.push(b) {
                let mut scratch = [0u8; MAX_FRAME];
                let r: Request<'_> = decode(f, &mut scratch).unwrap();
                assert_eq!(&r, req);
                got = Some(());
            }
        }
        assert!(got.is_some());
    }

    #[test]
    fn requests_round_trip() {
        round_trip(&Request::Hello);
        round_trip(&Request::Console {
            now: 1_767_603_600,
            line: "show license summary",
        });
        round_trip(&Request::Put {
            offset: 4096,
            data: &[0u8; MAX_CHUNK],
        });
        round_trip(&Request::Deliver {
            now: 5,
            result: Delivery::Failed(CommFailure::Tls),
        });
    }

    #[test]
    fn damage_is_detected() {
        let mut frame = [0u8; MAX_FRAME];
        let n = encode(
            &Request::Advance {
                from: 99,
                until: 100,
            },
            &mut frame,
        )
        .unwrap();
        let mut scratch = [0u8; MAX_FRAME];
        for i in 0..n - 1 {
            for bit in 0..8 {
                let mut f = frame;
                f[i] ^= 1 << bit;
                let r: Result<Request<'_>, _> = decode(&f[..n - 1], &mut scratch);
                assert!(r.is_err() || f[i] == 0, "flip at {i}.{bit} not detected");
            }
        }
        for cut in 0..n - 1 {
            let r: Result<Request<'_>, _> = decode(&frame[..cut], &mut scratch);
            assert!(r.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn an_oversized_frame_is_dropped_and_the_next_is_read() {
        let mut rx = Receiver::default();
        for _ in 0..MAX_FRAME + 10 {
            assert_eq!(rx.push(0x41), Received::More);
        }
        assert_eq!(rx.push(0), Received::Overflow);
        let mut frame = [0u8; MAX_FRAME];
        let n = encode(&Request::Status, &mut frame).unwrap();
        let mut seen = false;
        for &b in &frame[..n] {
            if let Received::Frame(f) = rx.push(b) {
                let mut scratch = [0u8; MAX_FRAME];
                assert_eq!(decode::<Request<'_>>(f, &mut scratch), Ok(Request::Status));
                seen = true;
            }
        }
        assert!(seen);
    }

    proptest! {
        #[test]
        fn cobs_round_trips_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let mut enc = [0u8; MAX_FRAME];
            let n = cobs_encode(&data, &mut enc).unwrap();
            prop_assert!(!enc[..n - 1].contains(&0));
            let mut dec = [0u8; MAX_FRAME];
            let m = cobs_decode(&enc[..n - 1], &mut dec).unwrap();
            prop_assert_eq!(&dec[..m], &data[..]);
        }

        #[test]
        fn arbitrary_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let mut scratch = [0u8; MAX_FRAME];
            let _ = decode::<Request<'_>>(&data, &mut scratch);
            let _ = decode::<Response<'_>>(&data, &mut scratch);
        }
    }
}
