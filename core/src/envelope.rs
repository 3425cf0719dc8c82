//! The signed envelope and its text armour (DESIGN.md §3, GAP-1..3).
//!
//! Envelope = postcard `{version, kind, key id, payload, signature}`. The ECDSA P-256 signature
//! (RFC 6979, so no RNG is needed) covers `SHA-256(DOMAIN || version || kind || payload)`: the
//! domain tag keeps a Tally signature from ever verifying as something else. Files exchanged by
//! hand wrap the envelope in `-----BEGIN TALLY … -----` / base64 / `-----END … -----`.

use crate::encode;
use crate::messages::{Text, put_decimal};
use crate::wire::{FORMAT_VERSION, Kind};
use core::fmt;
use serde::{Deserialize, Serialize};
use tally_hal::{DeviceKey, PublicKey};

const DOMAIN: &[u8] = b"tally.envelope.v1\0";
/// Bytes an envelope adds around its payload, at most.
pub const ENVELOPE_OVERHEAD: usize = 1 + 1 + 8 + 5 + 1 + 64;

/// Why an envelope or file was refused. Every variant leaves the device unchanged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// Larger than the limit for its kind.
    TooLarge,
    /// Not a Tally file (no or malformed armour).
    Armour,
    /// The bytes do not decode.
    Malformed,
    /// A format version this device does not speak.
    Version(u8),
    UnknownKind(u8),
    /// Not an inbound kind here (e.g. a usage report given to `import`).
    WrongKind(Kind),
    /// Signed by a key that is not pinned on this device.
    UnknownKey,
    BadSignature,
    /// The output buffer is too small.
    NoSpace,
    /// The signing key failed.
    Key,
}

impl EnvelopeError {
    /// The error as text, without `core::fmt` (see [`crate::messages::Text`]).
    pub fn write_text(&self, w: &mut dyn Text) {
        // One `put` for the fixed texts: a call through `w` at every arm was larger.
        let text = match self {
            EnvelopeError::TooLarge => "file exceeds the size limit",
            EnvelopeError::Armour => "not a Tally licensing file",
            EnvelopeError::Malformed => "file is truncated or corrupt",
            EnvelopeError::Version(v) => {
                w.put("unsupported format version ");
                return put_decimal(w, u64::from(*v));
            }
            EnvelopeError::UnknownKind(k) => {
                w.put("unknown message type ");
                return put_decimal(w, u64::from(*k));
            }
            EnvelopeError::WrongKind(k) => {
                w.put("a ");
                w.put(k.describe());
                " cannot be installed here"
            }
            EnvelopeError::UnknownKey => "signed by an unknown key",
            EnvelopeError::BadSignature => "signature mismatch",
            EnvelopeError::NoSpace => "buffer too small",
            EnvelopeError::Key => "device key unavailable",
        };
        w.put(text);
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::messages::display(f, |w| self.write_text(w))
    }
}

/// Bytes that serialize with postcard's byte-string encoding and borrow on decode.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                v: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A decoded (not yet verified) envelope borrowing from the input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<'a> {
    pub version: u8,
    pub kind: u8,
    pub key_id: [u8; 8],
    #[serde(borrow)]
    pub payload: Bytes<'a>,
    #[serde(borrow)]
    pub signature: Bytes<'a>,
}

/// First 8 bytes of SHA-256 of the SEC1 key: names the key that signed.
// Always inline: a call to `sha256` and a copy, smaller at its callers than a call (-32 B).
#[inline(always)]
pub fn key_id(key: &PublicKey) -> [u8; 8] {
    let d = crate::crypto::sha256(&[key]);
    let mut id = [0u8; 8];
    id.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    id
}

// Always inline: one call to `sha256` at each of its two callers (-12 B).
#[inline(always)]
fn signed_digest(version: u8, kind: u8, payload: &[u8]) -> [u8; 32] {
    crate::crypto::sha256(&[DOMAIN, &[version, kind], payload])
}

/// Encode `payload` (postcard's format, [`encode`]) and seal it in a signed envelope written
/// to `out`. Returns the envelope length. The payload is measured first and then encoded once,
/// where it ends up (after a header whose length prefix is exact), so one buffer suffices and
/// nothing is moved.
pub fn seal<T: Serialize>(
    kind: Kind,
    payload: &T,
    key: &mut dyn DeviceKey,
    out: &mut [u8],
) -> Result<usize, EnvelopeError> {
    seal_dyn(kind, payload, key, out)
}

/// [`seal`]'s body, once for every payload type (each had its own copy).
#[inline(never)]
fn seal_dyn(
    kind: Kind,
    payload: &dyn encode::Encode,
    key: &mut dyn DeviceKey,
    out: &mut [u8],
) -> Result<usize, EnvelopeError> {
    let plen = encode::size_of_dyn(payload).map_err(|_| EnvelopeError::NoSpace)?;
    let at = header_len(plen);
    let room = out.get_mut(at..at + plen).ok_or(EnvelopeError::NoSpace)?;
    if encode::to_slice_dyn(payload, room) != Ok(plen) {
        return Err(EnvelopeError::NoSpace);
    }
    seal_encoded(kind, plen, key, out)
}

/// Version, kind, key id and the payload's length (a postcard varint). Written by hand here
/// and in [`seal_encoded`]: through `encode` the tuple's two encoder copies were 240 B more.
fn header_len(plen: usize) -> usize {
    let mut n = 11;
    let mut v = plen >> 7;
    while v != 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// The rest of [`seal`] once the payload is at `out[header_len(plen)..][..plen]` (inlined into
/// `seal_dyn`, its one caller, now that that is one copy for every payload type: -60 B).
fn seal_encoded(
    kind: Kind,
    plen: usize,
    key: &mut dyn DeviceKey,
    out: &mut [u8],
) -> Result<usize, EnvelopeError> {
    let hl = header_len(plen);
    let end = hl + plen;
    let sig = {
        let p = out.get(hl..end).ok_or(EnvelopeError::NoSpace)?;
        key.sign_digest(&signed_digest(FORMAT_VERSION, kind as u8, p))
            .map_err(|_| EnvelopeError::Key)?
    };
    let kid = key_id(&key.public_key());
    let (head, rest) = out.split_at_mut_checked(hl).ok_or(EnvelopeError::NoSpace)?;
    let (fixed, length) = head
        .split_at_mut_checked(10)
        .ok_or(EnvelopeError::NoSpace)?;
    let (vk, id) = fixed.split_at_mut(2);
    vk.copy_from_slice(&[FORMAT_VERSION, kind as u8]);
    id.copy_from_slice(&kid);
    let mut v = plen;
    for b in length.iter_mut() {
        *b = (v & 0x7F) as u8 | if v >> 7 != 0 { 0x80 } else { 0 };
        v >>= 7;
    }
    let tail = rest
        .get_mut(plen..plen + 65)
        .ok_or(EnvelopeError::NoSpace)?;
    let (len, body) = tail.split_at_mut(1);
    len.copy_from_slice(&[64]);
    body.copy_from_slice(&sig);
    Ok(end + 65)
}

/// Decode an envelope without verifying it.
pub fn open(bytes: &[u8], max_payload: usize) -> Result<Envelope<'_>, EnvelopeError> {
    if bytes.len() > max_payload + ENVELOPE_OVERHEAD {
        return Err(EnvelopeError::TooLarge);
    }
    let (env, rest): (Envelope<'_>, &[u8]) =
        crate::decode::take(bytes).map_err(|_| EnvelopeError::Malformed)?;
    if !rest.is_empty() || env.signature.0.len() != 64 {
        return Err(EnvelopeError::Malformed);
    }
    if env.version != FORMAT_VERSION {
        return Err(EnvelopeError::Version(env.version));
    }
    Kind::from_u8(env.kind).ok_or(EnvelopeError::UnknownKind(env.kind))?;
    Ok(env)
}

impl Envelope<'_> {
    pub fn kind(&self) -> Kind {
        // `open` has checked the kind.
        Kind::from_u8(self.kind).unwrap_or(Kind::UsageReport)
    }

    /// Verify against the first key in `keys` whose id matches.
    pub fn verify(&self, keys: &[PublicKey]) -> Result<(), EnvelopeError> {
        let key = keys
            .iter()
            .find(|k| key_id(k) == self.key_id)
            .ok_or(EnvelopeError::UnknownKey)?;
        let digest = signed_digest(self.version, self.kind, self.payload.0);
        crate::crypto::verify_prehash(key, &digest, self.signature.0).map_err(|e| match e {
            crate::crypto::CryptoError::BadKey => EnvelopeError::UnknownKey,
            _ => EnvelopeError::BadSignature,
        })
    }

    /// The payload's bytes (verified or not: see [`Envelope::verify`]), for decoding it in
    /// steps.
    pub fn payload(&self) -> &[u8] {
        self.payload.0
    }

    /// Decode the payload as `T` with the device's decoders ([`crate::decode`]), refusing
    /// trailing bytes.
    pub fn read<'a, T: crate::decode::Decode<'a>>(&'a self) -> Result<T, EnvelopeError> {
        crate::decode::whole(self.payload.0).map_err(|_| EnvelopeError::Malformed)
    }

    /// [`Envelope::read`] into `out` (built in place: see [`crate::decode::Decode::decode_into`]).
    pub fn read_into<'a, T: crate::decode::Decode<'a>>(
        &'a self,
        out: &mut T,
    ) -> Result<(), EnvelopeError> {
        crate::decode::whole_into(self.payload.0, out).map_err(|_| EnvelopeError::Malformed)
    }

    /// Decode the payload as `T` with serde, refusing trailing bytes: for the host (the
    /// simulated authority, `tally-sim inspect`) and the payloads only it reads.
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, EnvelopeError> {
        // Straight into the result: payloads are kilobytes, and every copy is stack on a device.
        let mut de = postcard::Deserializer::from_bytes(self.payload.0);
        let v = T::deserialize(&mut de).map_err(|_| EnvelopeError::Malformed)?;
        match de.finalize() {
            Ok([]) => Ok(v),
            _ => Err(EnvelopeError::Malformed),
        }
    }
}

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";
/// 48 bytes per line make 64 base64 characters.
const LINE_BYTES: usize = 48;

/// Text armour around `data`, written to `out`.
pub fn armour(label: &str, data: &[u8], out: &mut [u8]) -> Result<usize, EnvelopeError> {
    let mut w = Cursor { buf: out, len: 0 };
    w.put(BEGIN.as_bytes())?;
    w.put(label.as_bytes())?;
    w.put(DASHES.as_bytes())?;
    w.put(b"\n")?;
    for chunk in data.chunks(LINE_BYTES) {
        let room = w.buf.get_mut(w.len..).ok_or(EnvelopeError::NoSpace)?;
        w.len += base64_encode(chunk, room)?;
        w.put(b"\n")?;
    }
    w.put(END.as_bytes())?;
    w.put(label.as_bytes())?;
    w.put(DASHES.as_bytes())?;
    w.put(b"\n")?;
    Ok(w.len)
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), EnvelopeError> {
        let dst = self
            .buf
            .get_mut(self.len..self.len + b.len())
            .ok_or(EnvelopeError::NoSpace)?;
        dst.copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// Remove the text armour: returns the label and writes the decoded bytes to `out`.
// Out of line: inlined into `import` it measured 76 B larger.
#[inline(never)]
pub fn dearmour<'t>(text: &'t [u8], out: &mut [u8]) -> Result<(&'t str, usize), EnvelopeError> {
    core::str::from_utf8(text).map_err(|_| EnvelopeError::Armour)?;
    // Lines as bytes: `str::lines` and Unicode trimming were 0.9 KB (tenth pass).
    let mut rest = text;
    let first = next_line(&mut rest).ok_or(EnvelopeError::Armour)?;
    let label = first
        .strip_prefix(BEGIN.as_bytes())
        .and_then(|l| l.strip_suffix(DASHES.as_bytes()))
        .filter(|l| !l.is_empty())
        .and_then(|l| core::str::from_utf8(l).ok())
        .ok_or(EnvelopeError::Armour)?;
    let mut len = 0;
    let mut ended = false;
    while let Some(line) = next_line(&mut rest) {
        if let Some(end) = line.strip_prefix(END.as_bytes()) {
            if end.strip_suffix(DASHES.as_bytes()) != Some(label.as_bytes()) {
                return Err(EnvelopeError::Armour);
            }
            ended = true;
            break;
        }
        if line.len() % 4 != 0 || line.len() > 4 * LINE_BYTES {
            return Err(EnvelopeError::Malformed);
        }
        let room = out.get_mut(len..).ok_or(EnvelopeError::TooLarge)?;
        len += base64_decode(line, room)?;
    }
    if !ended || next_line(&mut rest).is_some() {
        return Err(EnvelopeError::Malformed);
    }
    Ok((label, len))
}

/// The next line of `rest` that is not blank, trimmed of ASCII whitespace, and `rest` moved
/// past it: `split('\n').map(trim_ascii).filter(non-empty)`, one body for `dearmour`'s three
/// uses (the iterator's `next` was inlined at each).
#[inline(never)]
fn next_line<'t>(rest: &mut &'t [u8]) -> Option<&'t [u8]> {
    while !rest.is_empty() {
        let (line, tail) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => rest.split_at_checked(i)?,
            None => (*rest, &[][..]),
        };
        // Past the newline (`tail` starts with it, or is empty).
        *rest = tail.get(1..).unwrap_or(&[]);
        let line = line.trim_ascii();
        if !line.is_empty() {
            return Some(line);
        }
    }
    None
}

// Base64 (RFC 4648, standard alphabet, padded), written out: the `base64` crate's engine was
// 3.2 KB of the core's flash for these two uses (ADR 0015). Strict as its `STANDARD` engine
// is (canonical padding, no trailing bits), with the same errors in the same order: a test
// holds the two to the same answers (core/tests/armour.rs).

/// The symbol of 6 bits (RFC 4648's alphabet, by ranges: the inverse of [`sextet`]).
fn symbol(v: u32) -> u8 {
    let v = (v & 0x3F) as u8;
    match v {
        0..=25 => b'A' + v,
        26..=51 => b'a' + (v - 26),
        52..=61 => b'0' + (v - 52),
        62 => b'+',
        _ => b'/',
    }
}

/// `data` in base64 at the front of `out`; its length.
fn base64_encode(data: &[u8], out: &mut [u8]) -> Result<usize, EnvelopeError> {
    let n = data.len().div_ceil(3) * 4;
    let out = out.get_mut(..n).ok_or(EnvelopeError::NoSpace)?;
    // One walk over the output's quads, the input read by index (no `chunks().zip()`).
    for (g, four) in out.chunks_exact_mut(4).enumerate() {
        // The group's bytes, zero-filled: copying them into a zeroed array first was 56 B more.
        let at = 3 * g;
        let mut v = 0u32;
        for i in 0..3 {
            v = (v << 8) | u32::from(data.get(at + i).copied().unwrap_or(0));
        }
        // Bytes left from this group on (at least 1): symbol `i` exists while `i <= left`.
        let left = data.len() - at;
        for (i, c) in four.iter_mut().enumerate() {
            *c = if i <= left {
                symbol(v >> (18 - 6 * i))
            } else {
                b'='
            };
        }
    }
    Ok(n)
}

/// A symbol's 6 bits.
fn sextet(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// One armour line (a multiple of 4 symbols) decoded to the front of `out`; its length.
/// Only the last quad may be padded, `xx==` or `xxx=`, and the bits padding drops must be
/// zero. The first `TooLarge` is for the whole quads before the last, as the crate checks it.
fn base64_decode(line: &[u8], out: &mut [u8]) -> Result<usize, EnvelopeError> {
    let quads = line.len() / 4;
    if out.len() < quads.saturating_sub(1) * 3 {
        return Err(EnvelopeError::TooLarge);
    }
    let mut len = 0;
    for (q, four) in line.chunks_exact(4).enumerate() {
        let last = q + 1 == quads;
        let mut v = 0u32;
        let mut symbols = 0;
        for (i, &c) in four.iter().enumerate() {
            match sextet(c) {
                Some(s) if symbols == i => {
                    v |= s << (18 - 6 * i);
                    symbols += 1;
                }
                // Padding: in the last quad, after two symbols at least.
                None if c == b'=' && last && i >= 2 => {}
                _ => return Err(EnvelopeError::Malformed),
            }
        }
        let bytes = match symbols {
            4 => 3,
            3 => 2,
            _ => 1,
        };
        // Bits past the last byte must be zero (canonical).
        if v & (0xFF_FFFF >> (8 * bytes)) != 0 {
            return Err(EnvelopeError::Malformed);
        }
        let dst = out
            .get_mut(len..len + bytes)
            .ok_or(EnvelopeError::TooLarge)?;
        for (i, d) in dst.iter_mut().enumerate() {
            *d = (v >> (16 - 8 * i)) as u8;
        }
        len += bytes;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PushReceipt;
    use tally_hal::mock::SoftwareKey;
    use tally_hal::{Timestamp, Udi};

    fn receipt() -> PushReceipt {
        PushReceipt {
            udi: Udi::new("C9200L-48P-4X", "JAE123").unwrap(),
            issued_at: Timestamp(1_600_000_000),
            seq: 7,
            transaction: 99,
            poll_after_secs: 300,
        }
    }

    #[test]
    fn seal_open_verify_round_trip() {
        let mut key = SoftwareKey::from_seed(b"authority");
        let mut buf = [0u8; 512];
        let n = seal(Kind::PushReceipt, &receipt(), &mut key, &mut buf).unwrap();
        let env = open(&buf[..n], 1024).unwrap();
        assert_eq!(env.kind(), Kind::PushReceipt);
        env.verify(&[key.public_key()]).unwrap();
        assert_eq!(env.decode::<PushReceipt>().unwrap(), receipt());
        // Another key is unknown; a flipped payload bit breaks the signature.
        let other = SoftwareKey::from_seed(b"other").public_key();
        assert_eq!(env.verify(&[other]), Err(EnvelopeError::UnknownKey));
        let mut bad = buf;
        bad[20] ^= 1;
        let env = open(&bad[..n], 1024).unwrap();
        assert_eq!(
            env.verify(&[key.public_key()]),
            Err(EnvelopeError::BadSignature)
        );
    }

    #[test]
    fn error_texts() {
        use std::string::ToString;
        let cases = [
            (EnvelopeError::TooLarge, "file exceeds the size limit"),
            (EnvelopeError::Armour, "not a Tally licensing file"),
            (EnvelopeError::Malformed, "file is truncated or corrupt"),
            (EnvelopeError::Version(7), "unsupported format version 7"),
            (EnvelopeError::UnknownKind(200), "unknown message type 200"),
            (
                EnvelopeError::WrongKind(Kind::UsageReport),
                "a usage report cannot be installed here",
            ),
            (EnvelopeError::UnknownKey, "signed by an unknown key"),
            (EnvelopeError::BadSignature, "signature mismatch"),
            (EnvelopeError::NoSpace, "buffer too small"),
            (EnvelopeError::Key, "device key unavailable"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let mut key = SoftwareKey::from_seed(b"authority");
        let mut buf = [0u8; 512];
        let n = seal(Kind::PushReceipt, &receipt(), &mut key, &mut buf).unwrap();
        for cut in 0..n {
            assert!(open(&buf[..cut], 1024).is_err(), "cut at {cut}");
        }
        assert_eq!(open(&buf[..n], 4), Err(EnvelopeError::TooLarge));
    }

    #[test]
    fn next_line_is_the_split_trim_filter_chain() {
        let cases: [&[u8]; 9] = [
            b"",
            b"\n",
            b"a",
            b"a\n",
            b"\n\n a \r\n\t\nbc\n  \n",
            b"  x  y  ",
            b"\r\n\r\n",
            b"-----BEGIN X-----\nQUJD\n-----END X-----\n\n",
            b"\n\nlast",
        ];
        for text in cases {
            let want: std::vec::Vec<&[u8]> = text
                .split(|b| *b == b'\n')
                .map(<[u8]>::trim_ascii)
                .filter(|l| !l.is_empty())
                .collect();
            let mut rest = text;
            let mut got = std::vec::Vec::new();
            while let Some(l) = next_line(&mut rest) {
                got.push(l);
            }
            assert_eq!(got, want, "{text:?}");
            assert_eq!(next_line(&mut rest), None);
        }
    }

    #[test]
    fn armour_round_trip_and_strictness() {
        let data: std::vec::Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut text = [0u8; 2048];
        let n = armour("TALLY ACK", &data, &mut text).unwrap();
        let s = core::str::from_utf8(&text[..n]).unwrap();
        assert!(s.starts_with("-----BEGIN TALLY ACK-----\n"));
        assert!(s.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let mut out = [0u8; 1024];
        let (label, len) = dearmour(&text[..n], &mut out).unwrap();
        assert_eq!((label, &out[..len]), ("TALLY ACK", &data[..]));
        // A mismatched END label, a missing END, and a too-small output are refused.
        let swapped = s.replace("END TALLY ACK", "END TALLY POLICY");
        assert_eq!(
            dearmour(swapped.as_bytes(), &mut out),
            Err(EnvelopeError::Armour)
        );
        let cut = &s[..s.find("-----END").unwrap()];
        assert_eq!(
            dearmour(cut.as_bytes(), &mut out),
            Err(EnvelopeError::Malformed)
        );
        assert_eq!(
            dearmour(&text[..n], &mut out[..10]),
            Err(EnvelopeError::TooLarge)
        );
        assert_eq!(dearmour(b"hello", &mut out), Err(EnvelopeError::Armour));
    }
}
