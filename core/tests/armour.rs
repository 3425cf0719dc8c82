//! The text armour's base64 is written out in `envelope.rs` (ADR 0015). Here it is held to
//! the `base64` crate's `STANDARD` engine, which it replaced: `armour` and `dearmour` against
//! the same functions built on the crate, on random data, random lines of symbols, padding
//! and junk, and output buffers of every size. Same bytes, same label, same error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use tally_core::envelope::{EnvelopeError, armour, dearmour};

/// `armour` as it was, on the crate.
fn armour_ref(label: &str, data: &[u8], out: &mut [u8]) -> Result<usize, EnvelopeError> {
    let mut len = 0;
    let put = |out: &mut [u8], len: &mut usize, b: &[u8]| -> Result<(), EnvelopeError> {
        out.get_mut(*len..*len + b.len())
            .ok_or(EnvelopeError::NoSpace)?
            .copy_from_slice(b);
        *len += b.len();
        Ok(())
    };
    put(
        out,
        &mut len,
        format!("-----BEGIN {label}-----\n").as_bytes(),
    )?;
    for chunk in data.chunks(48) {
        let room = out.get_mut(len..).ok_or(EnvelopeError::NoSpace)?;
        len += STANDARD
            .encode_slice(chunk, room)
            .map_err(|_| EnvelopeError::NoSpace)?;
        put(out, &mut len, b"\n")?;
    }
    put(out, &mut len, format!("-----END {label}-----\n").as_bytes())?;
    Ok(len)
}

/// `dearmour` as it was, on the crate; since issue 5's tenth pass a line is trimmed of ASCII
/// whitespace only (armour is ASCII: a line with other whitespace is refused, not trimmed).
fn dearmour_ref<'t>(text: &'t [u8], out: &mut [u8]) -> Result<(&'t str, usize), EnvelopeError> {
    let text = core::str::from_utf8(text).map_err(|_| EnvelopeError::Armour)?;
    let mut lines = text.lines().map(str::trim_ascii).filter(|l| !l.is_empty());
    let first = lines.next().ok_or(EnvelopeError::Armour)?;
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .filter(|l| !l.is_empty())
        .ok_or(EnvelopeError::Armour)?;
    let mut len = 0;
    let mut ended = false;
    for line in lines.by_ref() {
        if let Some(end) = line.strip_prefix("-----END ") {
            if end.strip_suffix("-----") != Some(label) {
                return Err(EnvelopeError::Armour);
            }
            ended = true;
            break;
        }
        if line.len() % 4 != 0 || line.len() > 4 * 48 {
            return Err(EnvelopeError::Malformed);
        }
        let room = out.get_mut(len..).ok_or(EnvelopeError::TooLarge)?;
        len += STANDARD.decode_slice(line, room).map_err(|e| match e {
            base64::DecodeSliceError::OutputSliceTooSmall => EnvelopeError::TooLarge,
            base64::DecodeSliceError::DecodeError(_) => EnvelopeError::Malformed,
        })?;
    }
    if !ended || lines.next().is_some() {
        return Err(EnvelopeError::Malformed);
    }
    Ok((label, len))
}

fn same_armour(data: &[u8], room: usize) {
    let (mut a, mut b) = (vec![0u8; room], vec![0u8; room]);
    let got = armour("TALLY ACK", data, &mut a);
    let want = armour_ref("TALLY ACK", data, &mut b);
    assert_eq!(got, want, "{} bytes into {room}", data.len());
    if let Ok(n) = got {
        assert_eq!(a[..n], b[..n]);
    }
}

fn same_dearmour(text: &[u8], room: usize) {
    let (mut a, mut b) = (vec![0u8; room], vec![0u8; room]);
    let got = dearmour(text, &mut a);
    let want = dearmour_ref(text, &mut b);
    assert_eq!(got, want, "{:?} into {room}", String::from_utf8_lossy(text));
    if let Ok((_, n)) = got {
        assert_eq!(a[..n], b[..n]);
    }
}

/// A line of armour: real base64 of some bytes, or symbols, padding and junk, often of a
/// length that is a multiple of 4 (the only lines that reach the decoder).
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=48).prop_map(|b| STANDARD.encode(b)),
        prop::collection::vec(prop::sample::select(b"AQgwBPh/+9z=*-~ \t".to_vec()), 1..12)
            .prop_map(|v| {
                let mut s: String = v.into_iter().map(char::from).collect();
                while !s.len().is_multiple_of(4) && !s.len().is_multiple_of(3) {
                    s.push('=');
                }
                s
            }),
        // The last quad with every padding and trailing-bit case.
        (
            0usize..4,
            prop::sample::select(b"AQgwBPh/+9z=".to_vec()),
            0..4usize
        )
            .prop_map(|(keep, c, pad)| {
                let mut s = String::from("QUJD");
                s.push_str(&"QUJD"[..keep]);
                s.push(char::from(c));
                s.push_str(&"===="[..pad]);
                s
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn armour_writes_what_the_crate_writes(
        data in prop::collection::vec(any::<u8>(), 0..300),
        slack in 0usize..500,
    ) {
        same_armour(&data, slack);
        same_armour(&data, 26 + data.len() / 48 * 65 + slack % 70);
    }

    #[test]
    fn dearmour_reads_what_the_crate_reads(
        lines in prop::collection::vec(line(), 0..6),
        end in prop::sample::select(vec!["TALLY ACK", "TALLY POLICY", ""]),
        room in 0usize..300,
    ) {
        let mut text = String::from("-----BEGIN TALLY ACK-----\n");
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        if !end.is_empty() {
            text.push_str(&format!("-----END {end}-----\n"));
        }
        same_dearmour(text.as_bytes(), room);
        // Room for everything: the answer does not depend on running out.
        same_dearmour(text.as_bytes(), 2048);
    }
}

/// Every 4-symbol line over the characters that matter (each place: a symbol with trailing
/// bits set or clear, padding, junk), in every room from none to enough: 20 736 lines.
#[test]
fn every_short_line_decodes_as_the_crate_decodes_it() {
    let chars = b"AQgw/=*\n-".map(char::from);
    for a in chars {
        for b in chars {
            for c in chars {
                for d in chars {
                    let text = format!("-----BEGIN X-----\nQUJD{a}{b}{c}{d}\n-----END X-----\n");
                    for room in [0, 2, 3, 4, 5, 6] {
                        same_dearmour(text.as_bytes(), room);
                    }
                }
            }
        }
    }
}

/// What the byte-wise line split must read as `str::lines` does: CR LF line ends, blank and
/// space-only lines, Unicode whitespace (not trimmed: refused), a non-UTF-8 byte anywhere
/// (not a licensing file), a label with non-ASCII text.
#[test]
fn line_ends_and_whitespace_read_as_str_lines_reads_them() {
    let body = "QUJDRA==";
    let cases: Vec<Vec<u8>> = vec![
        format!("-----BEGIN X-----\r\n{body}\r\n-----END X-----\r\n").into(),
        format!("\n \t\n-----BEGIN X-----\n\n  {body}\t\n\r\n-----END X-----").into(),
        format!("-----BEGIN X-----\n\u{a0}{body}\n-----END X-----\n").into(),
        format!("\u{2003}-----BEGIN X-----\n{body}\n-----END X-----\n").into(),
        format!("-----BEGIN \u{e9}t\u{e9}-----\n{body}\n-----END \u{e9}t\u{e9}-----\n").into(),
        format!("-----BEGIN X-----\n{body}\n-----END X-----\n\u{a0}\n").into(),
        format!("-----BEGIN X-----\r{body}\n-----END X-----\n").into(),
        [
            b"-----BEGIN X-----\n".as_slice(),
            b"QUJD\xff\n",
            b"-----END X-----\n",
        ]
        .concat(),
        [
            b"-----BEGIN X-----\n".as_slice(),
            b"QUJDRA==\n-----END X-----\n\xc3",
        ]
        .concat(),
    ];
    for text in &cases {
        for room in [0, 3, 64] {
            same_dearmour(text, room);
        }
    }
    let mut out = [0u8; 8];
    assert_eq!(dearmour(&cases[0], &mut out), Ok(("X", 4)));
    assert_eq!(dearmour(&cases[1], &mut out), Ok(("X", 4)));
    assert_eq!(dearmour(&cases[2], &mut out), Err(EnvelopeError::Malformed));
    assert_eq!(dearmour(&cases[3], &mut out), Err(EnvelopeError::Armour));
    assert_eq!(dearmour(&cases[4], &mut out), Ok(("\u{e9}t\u{e9}", 4)));
    assert_eq!(dearmour(&cases[7], &mut out), Err(EnvelopeError::Armour));
}
