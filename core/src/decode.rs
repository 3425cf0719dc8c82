//! Decoders for everything the device reads: journal records and snapshot parts, envelopes,
//! the authority's messages and the factory provisioning image. postcard's wire format,
//! written out by hand (ADR 0012): serde's derived visitors for these types were 34 KB of the
//! core's 125 KB of flash and its deepest stack frames, about 4.6× the encoders of the same
//! types. Everything is still encoded with postcard + serde, and the host (the simulated
//! authority, `tally-sim inspect`) still decodes with them; `tests/tests/codec.rs` checks
//! that both decoders agree, value for value and error for error, on real journals and
//! messages and on mutations of them.
//!
//! The format (postcard 1.x, serde's data model): `u8` one byte; `bool` one byte, 0 or 1;
//! `u16`/`u32`/`u64` and lengths LEB128 varints (at most 3 / 5 / 10 bytes, no bits past the
//! type's); `i32` zigzag then varint; `Option` a 0/1 byte then the value; strings and byte
//! strings a length then the bytes (UTF-8 checked); sequences a length then the elements;
//! arrays and tuples the elements; structs the fields in declaration order; enums the variant's
//! index (declaration order, not its discriminant) as a varint, then its fields.

use crate::config::{Config, ConfigChange, Privacy, Transport};
use crate::envelope::{Bytes, Envelope};
use crate::messages::{Event, EventKind, EventLog};
use crate::policy::{CategoryOverrides, CustomPolicy, InstalledPolicy};
use crate::provision::Provisioning;
use crate::rum::{
    ChangeReason, Flag, Point, Report, ReportState, Selection, StorageReason, StorageState,
    TransactionError,
};
use crate::state::{
    AckRecord, AuthEntry, Counters, Meta, Record, Removal, SnapPart, State, Tombstone, TrustEntry,
    Usage,
};
use crate::time::TimeZone;
use crate::wire::{
    Account, AccountNames, AckPayload, AckStatus, AckedReport, AuthCode, AuthCodeFile, AuthKind,
    AuthLicense, AuthRefusal, AuthResponse, Key, PolicyPayload, PushReceipt, TrustCode,
    TrustCodeFile, TrustOrigin, TrustRefusal, TrustResponse,
};
use heapless::deque::DequeView;
use heapless::string::StringView;
use heapless::vec::VecView;
use heapless::{Deque, String, Vec};
use tally_hal::{Timestamp, Udi};

/// The bytes do not decode as the type asked for (postcard's reasons mean nothing more to a
/// device: a record is unreadable, a message is refused).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Malformed;

pub type Result<T> = core::result::Result<T, Malformed>;

/// A cursor over postcard bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
    /// The last `varint_raw` failed.
    bad: bool,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            bad: false,
        }
    }

    /// What is left.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub fn byte(&mut self) -> Result<u8> {
        let (&b, tail) = self.rest.split_first().ok_or(Malformed)?;
        self.rest = tail;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(Malformed)?;
        self.rest = tail;
        Ok(head)
    }

    /// An unsigned varint of a `bits`-bit type (postcard's `try_take_varint_*`).
    pub fn varint(&mut self, bits: u32) -> Result<u64> {
        let v = self.varint_raw(bits);
        if self.bad { Err(Malformed) } else { Ok(v) }
    }

    /// [`Reader::varint`] out of line, its failure in `bad`: a `Result<u64>` is returned
    /// through memory on Cortex-M (a stack slot and its loads at every call), a `u64` in
    /// registers.
    #[inline(never)]
    fn varint_raw(&mut self, bits: u32) -> u64 {
        let v = self.varint_body(bits);
        self.bad = v.is_err();
        v.unwrap_or(0)
    }

    #[inline(always)]
    fn varint_body(&mut self, bits: u32) -> Result<u64> {
        let max = bits.div_ceil(7);
        let last_max = (1u8 << (bits % 7)) - 1;
        let mut out = 0u64;
        // Each group times its weight, a power of 2^7: `<< (7 * i)` on a u64 is a call to
        // `__aeabi_llsl` on Cortex-M, a product and a constant shift are not.
        let mut weight = 1u64;
        for i in 0..max {
            let b = self.byte()?;
            out |= u64::from(b & 0x7F).wrapping_mul(weight);
            weight <<= 7;
            if b & 0x80 == 0 {
                if i == max - 1 && b > last_max {
                    return Err(Malformed);
                }
                return Ok(out);
            }
        }
        Err(Malformed)
    }

    /// A length (a `usize` varint: 32 bits on the device, 64 on a host, as postcard reads it).
    pub fn length(&mut self) -> Result<usize> {
        // Lossless: a varint of `usize::BITS` bits is below `2^usize::BITS` (no check needed).
        Ok(self.varint(usize::BITS)? as usize)
    }

    /// An enum's variant index.
    pub fn variant(&mut self) -> Result<u32> {
        Ok(self.varint(32)? as u32)
    }

    /// A byte string, borrowed.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.length()?;
        self.take(n)
    }

    pub fn str(&mut self) -> Result<&'a str> {
        core::str::from_utf8(self.bytes()?).map_err(|_| Malformed)
    }

    /// Whether an `Option` is `Some`.
    pub fn some(&mut self) -> Result<bool> {
        self.bool()
    }

    pub fn bool(&mut self) -> Result<bool> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed),
        }
    }

    /// Always inline, so that the inliner weighs `T::decode` at each caller: left to it, this
    /// forwarder took a copy of `T::decode` into 49 callers.
    #[inline(always)]
    pub fn read<T: Decode<'a>>(&mut self) -> Result<T> {
        T::decode(self)
    }
}

/// A type the device decodes from postcard bytes.
pub trait Decode<'a>: Sized {
    fn decode(r: &mut Reader<'a>) -> Result<Self>;

    /// Decode into `out`, which is left partly overwritten on an error. Structs and vectors
    /// decode field by field and element by element, so a large value (an ACK is 3 KB) is
    /// built where it will live instead of passing through temporaries on the stack.
    fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Result<()> {
        *out = Self::decode(r)?;
        Ok(())
    }

    /// An `Option<Self>` into `out` (`Option`'s `decode_into`): by value, unless the type is
    /// built in place (`structs_in_place!`), which a generic `Option` cannot ask of every type.
    fn decode_option_into(r: &mut Reader<'a>, out: &mut Option<Self>) -> Result<()> {
        *out = <Option<Self> as Decode<'a>>::decode(r)?;
        Ok(())
    }

    /// `[Self; N]`, element by element unless the type says otherwise (bytes are copied).
    fn decode_array<const N: usize>(r: &mut Reader<'a>) -> Result<[Self; N]>
    where
        Self: Default,
    {
        let mut out: [Self; N] = core::array::from_fn(|_| Self::default());
        for slot in out.iter_mut() {
            *slot = Self::decode(r)?;
        }
        Ok(out)
    }

    /// A value to decode into in place where a sequence's element is built (a vector's, in
    /// `vec_into`; a handed-over item, in `each_of`); `None`, by value, unless the type
    /// says otherwise.
    fn blank() -> Option<Self> {
        None
    }
}

/// A `T` from the front of `bytes`, and the bytes after it (`postcard::take_from_bytes`).
pub fn take<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Result<(T, &'a [u8])> {
    let mut r = Reader::new(bytes);
    let v = T::decode(&mut r)?;
    Ok((v, r.rest()))
}

/// [`whole`] into `out` ([`Decode::decode_into`]).
pub fn whole_into<'a, T: Decode<'a>>(bytes: &'a [u8], out: &mut T) -> Result<()> {
    let mut r = Reader::new(bytes);
    T::decode_into(&mut r, out)?;
    if r.rest().is_empty() {
        Ok(())
    } else {
        Err(Malformed)
    }
}

/// A `T` that is all of `bytes`: trailing bytes are an error.
pub fn whole<'a, T: Decode<'a>>(bytes: &'a [u8]) -> Result<T> {
    match take(bytes)? {
        (v, []) => Ok(v),
        _ => Err(Malformed),
    }
}

// Primitives.

impl Decode<'_> for u8 {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        r.byte()
    }

    /// One copy: byte by byte, an envelope's key id and a provisioned secret were loops.
    fn decode_array<const N: usize>(r: &mut Reader<'_>) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(r.take(N)?);
        Ok(out)
    }
}

impl Decode<'_> for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        r.bool()
    }
}

impl Decode<'_> for u16 {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(r.varint(16)? as u16)
    }
}

impl Decode<'_> for u32 {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(r.varint(32)? as u32)
    }
}

impl Decode<'_> for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        r.varint(64)
    }

    fn blank() -> Option<Self> {
        Some(0)
    }
}

impl Decode<'_> for usize {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        r.length()
    }
}

impl Decode<'_> for i32 {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let n = r.varint(32)? as u32;
        Ok(((n >> 1) as i32) ^ -((n & 1) as i32))
    }
}

impl<'a, T: Decode<'a>> Decode<'a> for Option<T> {
    // Always inline: a tag byte and `T`'s decoder, smaller at each field than a call that
    // returns the option through memory (-16 B; out of line +348 B).
    #[inline(always)]
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        if r.some()? {
            Ok(Some(T::decode(r)?))
        } else {
            Ok(None)
        }
    }

    fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Result<()> {
        T::decode_option_into(r, out)
    }
}

// Strings, vectors and deques decode through heapless's views, so there is one body per
// element type, not one per capacity (docs/PERFORMANCE.md, eighth pass).

impl<const N: usize> Decode<'_> for String<N> {
    // Always inline: a string by value is a blank and a call to `str_into`, smaller than a
    // call to a copy of this per capacity and the `Result<String>` returned through memory.
    #[inline(always)]
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut s = String::new();
        str_into(r, s.as_mut_view())?;
        Ok(s)
    }

    fn decode_into(r: &mut Reader<'_>, out: &mut Self) -> Result<()> {
        str_into(r, out.as_mut_view())
    }

    /// In place, as `structs_in_place!` does for its types (-28 B).
    fn decode_option_into(r: &mut Reader<'_>, out: &mut Option<Self>) -> Result<()> {
        if r.some()? {
            str_into(r, out.get_or_insert_with(String::new).as_mut_view())
        } else {
            *out = None;
            Ok(())
        }
    }
}

#[inline(never)]
fn str_into(r: &mut Reader<'_>, out: &mut StringView) -> Result<()> {
    out.clear();
    out.push_str(r.str()?).map_err(|_| Malformed)
}

impl<'a, T: Decode<'a>, const N: usize> Decode<'a> for Vec<T, N> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut v = Vec::new();
        vec_into(r, v.as_mut_view())?;
        Ok(v)
    }

    fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Result<()> {
        vec_into(r, out.as_mut_view())
    }
}

fn vec_into<'a, T: Decode<'a>>(r: &mut Reader<'a>, out: &mut VecView<T>) -> Result<()> {
    let n = r.length()?;
    out.clear();
    for _ in 0..n {
        // In place where the type has a blank: by value, an element went through a
        // temporary and two copies.
        if let Some(blank) = T::blank() {
            out.push(blank).map_err(|_| Malformed)?;
            T::decode_into(r, out.last_mut().ok_or(Malformed)?)?;
        } else {
            out.push(T::decode(r)?).map_err(|_| Malformed)?;
        }
    }
    Ok(())
}

impl<'a, T: Decode<'a>, const N: usize> Decode<'a> for Deque<T, N> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let mut v = Deque::new();
        deque_into(r, v.as_mut_view())?;
        Ok(v)
    }
}

fn deque_into<'a, T: Decode<'a>>(r: &mut Reader<'a>, out: &mut DequeView<T>) -> Result<()> {
    let n = r.length()?;
    for _ in 0..n {
        out.push_back(T::decode(r)?).map_err(|_| Malformed)?;
    }
    Ok(())
}

impl<'a, T: Decode<'a> + Default, const N: usize> Decode<'a> for [T; N] {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        T::decode_array(r)
    }

    /// Element by element where the array lives (a policy's categories).
    fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Result<()> {
        for slot in out.iter_mut() {
            T::decode_into(r, slot)?;
        }
        Ok(())
    }
}

impl<'a, A: Decode<'a> + Default, B: Decode<'a>> Decode<'a> for (A, B) {
    // Always inline: two decodes, and a call returned the pair through memory.
    #[inline(always)]
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let a = A::decode(r)?;
        Ok((a, B::decode(r)?))
    }

    fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Result<()> {
        A::decode_into(r, &mut out.0)?;
        B::decode_into(r, &mut out.1)
    }

    /// The code lists' `(slot, entry)` pairs are built in place.
    fn blank() -> Option<Self> {
        Some((A::default(), B::blank()?))
    }
}

impl Decode<'_> for Timestamp {
    // Out of line, the `Result<Timestamp>` went back through memory; inline, it is the
    // varint's registers and its flag.
    #[inline(always)]
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Timestamp(r.varint(64)?))
    }
}

impl Decode<'_> for Key {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let bytes = r.take(65)?;
        let mut k = [0u8; 65];
        k.copy_from_slice(bytes);
        Ok(Key(k))
    }
}

impl<'a> Decode<'a> for Bytes<'a> {
    // Always inline: it is `Reader::bytes`.
    #[inline(always)]
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Bytes(r.bytes()?))
    }
}

/// Structs decoded both by value and in place (a field of a file, an element elsewhere): by
/// value through `decode_into`, so that there is one body per type, not two, and as an
/// `Option` into the option's value (they have a `Default` to start from). Which types are here
/// is measured (docs/PERFORMANCE.md, thirteenth pass): by value is smaller for the others.
macro_rules! structs_in_place {
    ($($ty:ident { $($f:ident),* $(,)? })*) => {$(
        impl<'a> Decode<'a> for $ty {
            fn decode(r: &mut Reader<'a>) -> Result<Self> {
                let mut v = $ty::default();
                Self::decode_into(r, &mut v)?;
                Ok(v)
            }

            fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Result<()> {
                $(Decode::decode_into(r, &mut out.$f)?;)*
                Ok(())
            }

            // Out of line: one body per type, not one per optional field (-40 B).
            #[inline(never)]
            fn decode_option_into(r: &mut Reader<'a>, out: &mut Option<Self>) -> Result<()> {
                if r.some()? {
                    Self::decode_into(r, out.get_or_insert_with($ty::default))
                } else {
                    *out = None;
                    Ok(())
                }
            }
        }
    )*};
}

/// Structs: the fields in declaration order; `[blank]` after the name gives a vector of them
/// a value to decode each element into ([`Decode::blank`]).
macro_rules! structs {
    ($($ty:ident $([$blank:expr])? { $($f:ident),* $(,)? })*) => {$(
        impl<'a> Decode<'a> for $ty {
            fn decode(r: &mut Reader<'a>) -> Result<Self> {
                Ok($ty { $($f: r.read()?),* })
            }

            fn decode_into(r: &mut Reader<'a>, out: &mut Self) -> Result<()> {
                $(Decode::decode_into(r, &mut out.$f)?;)*
                Ok(())
            }

            $(fn blank() -> Option<Self> {
                Some($blank)
            })?
        }
    )*};
}

/// A wire ACK in two steps, so that a device never holds it whole (3 KB, two thirds of it
/// trust and authorization codes): [`ack_head`] decodes everything up to the policy in place
/// (into the journal's ACK record and `udi`), then [`ack_codes`] hands each code over as it is
/// decoded. [`AckPayload`]'s own decoder is these two, so the differential tests
/// (`tests/tests/codec.rs`, the fuzz targets) cover them.
#[allow(clippy::too_many_arguments)] // the fields, in wire order
fn ack_fields<const N: usize>(
    r: &mut Reader<'_>,
    udi: &mut Udi,
    issued_at: &mut Timestamp,
    seq: &mut u64,
    transaction: &mut u64,
    reports: &mut Vec<AckedReport, N>,
    account: &mut Option<Account>,
    policy: &mut Option<CustomPolicy>,
) -> Result<()> {
    Decode::decode_into(r, udi)?;
    Decode::decode_into(r, issued_at)?;
    Decode::decode_into(r, seq)?;
    Decode::decode_into(r, transaction)?;
    Decode::decode_into(r, reports)?;
    Decode::decode_into(r, account)?;
    Decode::decode_into(r, policy)
}

/// The head of a wire ACK (see `ack_fields`) into `out` (its codes untouched) and `udi`.
pub fn ack_head(r: &mut Reader<'_>, udi: &mut Udi, out: &mut AckRecord) -> Result<()> {
    ack_fields(
        r,
        udi,
        &mut out.issued_at,
        &mut out.seq,
        &mut out.transaction,
        &mut out.reports,
        &mut out.account,
        &mut out.policy,
    )
}

/// The rest of a wire ACK after [`ack_head`]: each trust code, then each authorization code,
/// handed over one at a time (at most `Limits::HA_MEMBERS` of each, as `AckPayload` holds).
pub fn ack_codes(
    r: &mut Reader<'_>,
    trust: &mut dyn FnMut(TrustCode),
    auth: &mut dyn FnMut(AuthCode),
) -> Result<()> {
    each_code(r, trust)?;
    each_code(r, auth)
}

impl Decode<'_> for AckPayload {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut ack = AckPayload::default();
        Self::decode_into(r, &mut ack)?;
        Ok(ack)
    }

    fn decode_into(r: &mut Reader<'_>, out: &mut Self) -> Result<()> {
        ack_fields(
            r,
            &mut out.udi,
            &mut out.issued_at,
            &mut out.seq,
            &mut out.transaction,
            &mut out.reports,
            &mut out.account,
            &mut out.policy,
        )?;
        out.trust.clear();
        out.auth.clear();
        let (trust, auth) = (&mut out.trust, &mut out.auth);
        // `ack_codes` bounds the counts: the pushes cannot fail.
        ack_codes(
            r,
            &mut |c| {
                let _ = trust.push(c);
            },
            &mut |c| {
                let _ = auth.push(c);
            },
        )
    }
}

/// The head of a wire trust or authorization response: everything before its codes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    pub udi: Udi,
    pub issued_at: Timestamp,
    pub seq: u64,
    pub request_created_at: Timestamp,
}

/// A sequence of at most `Limits::HA_MEMBERS` items, each handed over as it is decoded.
fn each_of<'a, T: Decode<'a>>(r: &mut Reader<'a>, f: &mut dyn FnMut(T)) -> Result<()> {
    for i in 0..r.length()? {
        // In place where the type has a blank (the refusals' and returns' pairs).
        let item = match T::blank() {
            Some(mut item) => {
                T::decode_into(r, &mut item)?;
                item
            }
            None => T::decode(r)?,
        };
        if i >= crate::limits::Limits::HA_MEMBERS {
            return Err(Malformed);
        }
        f(item);
    }
    Ok(())
}

/// [`each_of`] for codes, decoded in place by the body that decodes a code inside a code file
/// (`decode_into`): one decoder per code type, not two.
fn each_code<'a, T: Decode<'a> + Default>(r: &mut Reader<'a>, f: &mut dyn FnMut(T)) -> Result<()> {
    for i in 0..r.length()? {
        let mut item = T::default();
        T::decode_into(r, &mut item)?;
        if i >= crate::limits::Limits::HA_MEMBERS {
            return Err(Malformed);
        }
        f(item);
    }
    Ok(())
}

/// A wire authorization response without holding it (1.8 KB, most of it codes): the head into
/// `head`, then each code, accepted return (UDI, serial) and refusal handed over as it is
/// decoded, as [`ack_codes`] does for an ACK. [`AuthResponse`]'s own decoder is this one.
pub fn auth_response<'a>(
    r: &mut Reader<'a>,
    head: &mut ResponseHead,
    code: &mut dyn FnMut(AuthCode),
    returned: &mut dyn FnMut((Udi, u64)),
    refused: &mut dyn FnMut((Udi, AuthRefusal)),
) -> Result<()> {
    response_head(r, head)?;
    each_code(r, code)?;
    each_of(r, returned)?;
    each_of(r, refused)
}

/// A wire trust response without holding it (1.3 KB), as [`auth_response`].
/// [`TrustResponse`]'s own decoder is this one.
pub fn trust_response<'a>(
    r: &mut Reader<'a>,
    head: &mut ResponseHead,
    code: &mut dyn FnMut(TrustCode),
    refused: &mut dyn FnMut((Udi, TrustRefusal)),
) -> Result<()> {
    response_head(r, head)?;
    each_code(r, code)?;
    each_of(r, refused)
}

fn response_head(r: &mut Reader<'_>, head: &mut ResponseHead) -> Result<()> {
    Decode::decode_into(r, &mut head.udi)?;
    Decode::decode_into(r, &mut head.issued_at)?;
    Decode::decode_into(r, &mut head.seq)?;
    Decode::decode_into(r, &mut head.request_created_at)
}

impl ResponseHead {
    fn into_fields(
        self,
        udi: &mut Udi,
        issued_at: &mut Timestamp,
        seq: &mut u64,
        request_created_at: &mut Timestamp,
    ) {
        *udi = self.udi;
        *issued_at = self.issued_at;
        *seq = self.seq;
        *request_created_at = self.request_created_at;
    }
}

impl Decode<'_> for TrustResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut out = TrustResponse::default();
        Self::decode_into(r, &mut out)?;
        Ok(out)
    }

    fn decode_into(r: &mut Reader<'_>, out: &mut Self) -> Result<()> {
        let mut head = ResponseHead::default();
        out.codes.clear();
        out.refused.clear();
        let (codes, refused) = (&mut out.codes, &mut out.refused);
        // `each_of` bounds the counts: the pushes cannot fail.
        trust_response(
            r,
            &mut head,
            &mut |c| {
                let _ = codes.push(c);
            },
            &mut |x| {
                let _ = refused.push(x);
            },
        )?;
        head.into_fields(
            &mut out.udi,
            &mut out.issued_at,
            &mut out.seq,
            &mut out.request_created_at,
        );
        Ok(())
    }
}

impl Decode<'_> for AuthResponse {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut out = AuthResponse::default();
        Self::decode_into(r, &mut out)?;
        Ok(out)
    }

    fn decode_into(r: &mut Reader<'_>, out: &mut Self) -> Result<()> {
        let mut head = ResponseHead::default();
        out.codes.clear();
        out.returned.clear();
        out.refused.clear();
        let (codes, returned, refused) = (&mut out.codes, &mut out.returned, &mut out.refused);
        // `each_of` bounds the counts: the pushes cannot fail.
        auth_response(
            r,
            &mut head,
            &mut |c| {
                let _ = codes.push(c);
            },
            &mut |x| {
                let _ = returned.push(x);
            },
            &mut |x| {
                let _ = refused.push(x);
            },
        )?;
        head.into_fields(
            &mut out.udi,
            &mut out.issued_at,
            &mut out.seq,
            &mut out.request_created_at,
        );
        Ok(())
    }
}

/// Enums without data: the variants in declaration order.
macro_rules! unit_enums {
    ($($ty:ident { $first:ident $(, $v:ident)* $(,)? })*) => {$(
        impl<'a> Decode<'a> for $ty {
            // One body per enum, called: inlined, each site had its own table lookup.
            #[inline(never)]
            fn decode(r: &mut Reader<'a>) -> Result<Self> {
                const ALL: &[$ty] = &[$ty::$first $(, $ty::$v)*];
                ALL.get(r.variant()? as usize).cloned().ok_or(Malformed)
            }

            fn blank() -> Option<Self> {
                Some($ty::$first)
            }
        }
    )*};
}

structs! {
    Privacy { callhome_hostname, smart_hostname, version }
    Usage { requested, first_use, acked_through, sent_through, open, last_id, listed }
    Counters { total, purged, acked, merged }
    Removal { slot, only, return_code }
    AckRecord { issued_at, seq, transaction, reports, account, policy, trust, auth }
    TrustEntry[TrustEntry {
        origin: TrustOrigin::Factory,
        serial: 0,
        issued_at: Timestamp(0),
        installed_at: Timestamp(0),
    }] { origin, serial, issued_at, installed_at }
    AuthEntry[AuthEntry {
        kind: AuthKind::Slac,
        serial: 0,
        issued_at: Timestamp(0),
        installed_at: Timestamp(0),
        licenses: Vec::new(),
    }] { kind, serial, issued_at, installed_at, licenses }
    AuthLicense[AuthLicense { feature: String::new(), count: 0 }] { feature, count }
    Tombstone { id, lic, state, start, end, purged_at }
    Meta {
        counters, last_id, policy, config, account, last_ack, last_ack_seq, last_push,
        last_file_write, next_poll, poll_pending, comm_failing_since, last_alert, last_measure,
        hwm, last_boot, seq_hwm, auth_serial_hwm, provisioned,
    }
    State {
        usage, reports, counters, last_id, policy, config, account, last_ack, last_ack_seq,
        last_push, last_file_write, next_poll, poll_pending, comm_failing_since, last_alert,
        last_measure, hwm, last_boot, events, tombstones, trust, auth, last_return, seq_hwm,
        auth_serial_hwm, provisioned,
    }
    Event { at, kind }
    EventLog { entries }
    Point { offset, value }
    Report {
        id, prev_id, next_id, lic, state, reason, flag, storage, storage_reason, start, end,
        transaction, tx_error, first_value, points, max_value, usage_secs, first_change, merged,
    }
    CategoryOverrides { first_report, frequency, on_change }
    Config { transport, smart_url, cslu_url, usage_interval, privacy, timezone }
    AccountNames { smart_account, virtual_account }
    AckedReport { id, status }
    PolicyPayload { udi, issued_at, seq, policy }
    PushReceipt { udi, issued_at, seq, transaction, poll_after_secs }
    TrustCode { udi, device_key, origin, account, issued_at, serial }
    TrustCodeFile { seq, code }
    AuthCode { udi, kind, issued_at, serial, licenses }
    AuthCodeFile { seq, code }
    Provisioning {
        version, udi, device_secret, device_key, manufacturing_key, authority_keys,
        trust_code, policy, auth_codes,
    }
}

structs_in_place! {
    TimeZone { name, offset_secs }
    Account { smart_account, virtual_account, as_of }
    InstalledPolicy { policy, installed_at, issued_at }
    Udi { pid, sn }
    CustomPolicy { name, ack_required, categories }
}

unit_enums! {
    ReportState { Open, Closed, Pending, Unack, Ack }
    Flag { N, P, E }
    ChangeReason { None, Acked, Removed, Reload }
    StorageState { Exist, Deleted, Purged, Missing }
    StorageReason { None, Processed, LimitStorage, LimitTime }
    TransactionError { Dropped, Rejected }
    Transport { Cslu, Smart, Callhome, Off }
    AckStatus { Accepted, Removed, Dropped, Rejected }
    TrustOrigin { Factory, IdToken, Ack }
    TrustRefusal {
        AlreadyInstalled, AccountMismatch, InvalidToken, TokenExpired, TokenUsedUp, ServerBusy,
    }
    AuthKind { Slac, Slr }
    AuthRefusal { NoLicensesAvailable, NotRequired, UnknownLicense, UnknownCode }
}

impl<'a> Decode<'a> for Envelope<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Envelope {
            version: r.read()?,
            kind: r.read()?,
            key_id: r.read()?,
            payload: r.read()?,
            signature: r.read()?,
        })
    }
}

impl Decode<'_> for Selection {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(match r.variant()? {
            0 => Selection::All,
            1 => Selection::Unreported,
            2 => Selection::Days {
                days: r.read()?,
                today_start: r.read()?,
            },
            3 => Selection::RumId(r.read()?),
            _ => return Err(Malformed),
        })
    }
}

impl Decode<'_> for ConfigChange {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(match r.variant()? {
            0 => ConfigChange::Transport(r.read()?),
            1 => ConfigChange::SmartUrl(r.read()?),
            2 => ConfigChange::CsluUrl(r.read()?),
            3 => ConfigChange::UsageInterval(r.read()?),
            4 => ConfigChange::Privacy(r.read()?),
            5 => ConfigChange::TimeZone(r.read()?),
            _ => return Err(Malformed),
        })
    }
}

impl Decode<'_> for EventKind {
    // Out of line: inlined into the snapshot replay (`part_into`) it measured 84 B larger.
    #[inline(never)]
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let v = r.variant()?;
        Ok(match v {
            1 => EventKind::ReportsClosed { reload: r.read()? },
            // The variants of one `u16` or one `u8`: each field read at one call site.
            2 | 3 | 4 | 11 => {
                let n: u16 = r.read()?;
                match v {
                    2 => EventKind::UsagePushed {
                        reports: n,
                        transaction: r.read()?,
                    },
                    3 => EventKind::UsageSaved { reports: n },
                    4 => EventKind::AckReceived { reports: n },
                    _ => EventKind::ReportsPurged { count: n },
                }
            }
            5 => EventKind::PolicyInstalled { name: r.read()? },
            6 => EventKind::PolicyRemoved,
            7 => EventKind::CommFailed,
            8 => EventKind::CommRestored,
            9 => EventKind::ReportingRequired { days: r.read()? },
            10 => EventKind::TransportChanged(r.read()?),
            0 | 12..=15 => {
                let n: u8 = r.read()?;
                match v {
                    0 => EventKind::UsageChanged {
                        lic: n,
                        count: r.read()?,
                    },
                    12 => EventKind::TrustInstalled { slot: n },
                    13 => EventKind::AuthRequested { lic: n },
                    14 => EventKind::AuthInstalled { slot: n },
                    _ => EventKind::AuthRemoved { slot: n },
                }
            }
            16 => EventKind::FactoryReset,
            _ => return Err(Malformed),
        })
    }
}

impl Decode<'_> for SnapPart {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(match r.variant()? {
            0 => SnapPart::Meta(r.read()?),
            1 => SnapPart::Usage {
                lic: r.read()?,
                usage: r.read()?,
            },
            2 => SnapPart::Report(r.read()?),
            3 => SnapPart::Event(r.read()?),
            4 => SnapPart::Tombstone(r.read()?),
            5 => SnapPart::Trust {
                slot: r.read()?,
                entry: r.read()?,
            },
            6 => SnapPart::Auth {
                slot: r.read()?,
                entry: r.read()?,
            },
            7 => SnapPart::Returned {
                slot: r.read()?,
                code: r.read()?,
            },
            _ => return Err(Malformed),
        })
    }
}

/// The snapshot parts of one journal item added to `st`, a state being rebuilt after
/// [`State::reset`], in the order of [`State::parts_ref`]: the meta (0.7 KB) is decoded field
/// by field into the state, every other part through its own small type, so no part-sized
/// temporary is on the mount's stack. Stops at the first part that does not decode.
pub fn parts_into(payload: &[u8], st: &mut State) {
    let mut r = Reader::new(payload);
    while !r.rest().is_empty() && part_into(&mut r, st).is_ok() {}
}

// Out of line: inlined into `parts_into`'s loop it measured 96 B larger.
#[inline(never)]
fn part_into(r: &mut Reader<'_>, st: &mut State) -> Result<()> {
    match r.variant()? {
        // `Meta`'s fields, in its order.
        0 => {
            Decode::decode_into(r, &mut st.counters)?;
            Decode::decode_into(r, &mut st.last_id)?;
            Decode::decode_into(r, &mut st.policy)?;
            Decode::decode_into(r, &mut st.config)?;
            Decode::decode_into(r, &mut st.account)?;
            Decode::decode_into(r, &mut st.last_ack)?;
            Decode::decode_into(r, &mut st.last_ack_seq)?;
            Decode::decode_into(r, &mut st.last_push)?;
            Decode::decode_into(r, &mut st.last_file_write)?;
            Decode::decode_into(r, &mut st.next_poll)?;
            Decode::decode_into(r, &mut st.poll_pending)?;
            Decode::decode_into(r, &mut st.comm_failing_since)?;
            Decode::decode_into(r, &mut st.last_alert)?;
            Decode::decode_into(r, &mut st.last_measure)?;
            Decode::decode_into(r, &mut st.hwm)?;
            Decode::decode_into(r, &mut st.last_boot)?;
            Decode::decode_into(r, &mut st.seq_hwm)?;
            Decode::decode_into(r, &mut st.auth_serial_hwm)?;
            Decode::decode_into(r, &mut st.provisioned)?;
        }
        1 => {
            let lic: u8 = r.read()?;
            // Indexed like the catalogue: parts come in order. In place, as the reports.
            if usize::from(lic) == st.usage.len() && st.usage.push(Usage::default()).is_ok() {
                if let Some(last) = st.usage.last_mut()
                    && let Err(e) = Decode::decode_into(r, last)
                {
                    st.usage.pop();
                    return Err(e);
                }
            } else {
                Decode::decode_into(r, &mut Usage::default())?;
            }
        }
        // In place, as the other parts: by value, the report (and its points) went through a
        // temporary and a copy into the table.
        2 => {
            let blank = || Report::new(0, 0, 0, Timestamp(0), 0);
            if st.reports.push(blank()).is_err() {
                // More reports than the table holds (not a snapshot this code wrote): read past.
                Decode::decode_into(r, &mut blank())?;
            } else if let Some(last) = st.reports.last_mut()
                && let Err(e) = Decode::decode_into(r, last)
            {
                st.reports.pop();
                return Err(e);
            }
        }
        3 => {
            let _ = st.events.entries.push_back(r.read()?);
        }
        4 => {
            let _ = st.tombstones.push_back(r.read()?);
        }
        5 => {
            let slot: u8 = r.read()?;
            let entry: TrustEntry = r.read()?;
            if let Some(s) = st.trust.get_mut(usize::from(slot)) {
                *s = Some(entry);
            }
        }
        6 => {
            let slot: u8 = r.read()?;
            let entry: AuthEntry = r.read()?;
            if let Some(s) = st.auth.get_mut(usize::from(slot)) {
                *s = Some(entry);
            }
        }
        7 => {
            let slot: u8 = r.read()?;
            let code: String<{ crate::wire::RETURN_CODE_LEN }> = r.read()?;
            if let Some(s) = st.last_return.get_mut(usize::from(slot)) {
                *s = Some(code);
            }
        }
        _ => return Err(Malformed),
    }
    Ok(())
}

impl Decode<'_> for Record {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut record = Record::Measure { t: Timestamp(0) };
        Self::decode_into(r, &mut record)?;
        Ok(record)
    }

    /// An ACK record (1.2 KB, the largest) is decoded where it will live; the others are small.
    fn decode_into(r: &mut Reader<'_>, out: &mut Self) -> Result<()> {
        let (variant, t) = record_head(r)?;
        if variant == ACK_RECORD {
            if !matches!(out, Record::Ack { .. }) {
                *out = Record::Ack {
                    t,
                    ack: AckRecord::default(),
                };
            }
            if let Record::Ack { t: at, ack } = out {
                *at = t;
                AckRecord::decode_into(r, ack)?;
            }
            return Ok(());
        }
        small_record_into(variant, t, r, out)
    }
}

/// `Record::Ack`'s variant index.
pub const ACK_RECORD: u32 = 5;

/// What every journal record starts with: its variant index and its time. An ACK record
/// (variant [`ACK_RECORD`]) goes on with its [`AckRecord`], any other with
/// [`small_record_into`].
pub fn record_head(r: &mut Reader<'_>) -> Result<(u32, Timestamp)> {
    Ok((r.variant()?, r.read()?))
}

/// Every record but an ACK, after its [`record_head`], into `out`. Not inlined: no record
/// temporary in the replay's frame.
#[inline(never)]
pub fn small_record_into<A>(
    variant: u32,
    t: Timestamp,
    r: &mut Reader<'_>,
    out: &mut Record<A>,
) -> Result<()> {
    {
        match variant {
            0 => {
                *out = Record::Usage {
                    t,
                    lic: r.read()?,
                    count: r.read()?,
                }
            }
            1 => *out = Record::Measure { t },
            2 => {
                *out = Record::CloseAll {
                    t,
                    reload: r.read()?,
                }
            }
            3 => {
                *out = Record::Pushed {
                    t,
                    transaction: r.read()?,
                    poll_at: r.read()?,
                }
            }
            4 => {
                *out = Record::Saved {
                    t,
                    selection: r.read()?,
                }
            }
            6 => *out = Record::PollDone { t },
            7 => {
                *out = Record::PolicyInstalled {
                    t,
                    policy: r.read()?,
                    issued_at: r.read()?,
                    seq: r.read()?,
                }
            }
            8 => *out = Record::PolicyRemoved { t },
            9 => {
                *out = Record::Config {
                    t,
                    change: r.read()?,
                }
            }
            10 => *out = Record::CommFailed { t },
            11 => *out = Record::CommRestored { t },
            12 => *out = Record::Alerted { t, days: r.read()? },
            13 => *out = Record::EventLogCleared { t },
            14 => {
                *out = Record::TrustInstalled {
                    t,
                    seq: r.read()?,
                    issued_at: r.read()?,
                    codes: Vec::new(),
                };
                // The codes in place: by value the list went through a temporary and a copy.
                if let Record::TrustInstalled { codes, .. } = out {
                    Decode::decode_into(r, codes)?;
                }
            }
            15 => *out = Record::AuthRequested { t, lic: r.read()? },
            16 => {
                *out = Record::AuthInstalled {
                    t,
                    seq: r.read()?,
                    codes: Vec::new(),
                };
                if let Record::AuthInstalled { codes, .. } = out {
                    Decode::decode_into(r, codes)?;
                }
            }
            17 => {
                *out = Record::AuthRemoved {
                    t,
                    removed: Vec::new(),
                };
                if let Record::AuthRemoved { removed, .. } = out {
                    Decode::decode_into(r, removed)?;
                }
            }
            18 => *out = Record::FactoryReset { t },
            19 => {
                *out = Record::Provisioned {
                    t,
                    policy: r.read()?,
                    codes: Vec::new(),
                };
                if let Record::Provisioned { codes, .. } = out {
                    Decode::decode_into(r, codes)?;
                }
            }
            _ => return Err(Malformed),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_follow_postcard() {
        // 300 = 0xAC 0x02; u16's third byte may hold 2 bits, u32's fifth 4, u64's tenth 1.
        assert_eq!(take::<u16>(&[0xAC, 0x02]), Ok((300, &[][..])));
        assert_eq!(whole::<u16>(&[0xFF, 0xFF, 0x03]), Ok(u16::MAX));
        assert_eq!(whole::<u16>(&[0xFF, 0xFF, 0x04]), Err(Malformed));
        assert_eq!(whole::<u32>(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), Ok(u32::MAX));
        assert_eq!(
            whole::<u32>(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10]),
            Err(Malformed)
        );
        assert_eq!(
            whole::<u32>(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
            Err(Malformed)
        );
        let mut max = [0xFFu8; 10];
        max[9] = 0x01;
        assert_eq!(whole::<u64>(&max), Ok(u64::MAX));
        max[9] = 0x02;
        assert_eq!(whole::<u64>(&max), Err(Malformed));
        assert_eq!(whole::<i32>(&[0x03]), Ok(-2));
        assert_eq!(whole::<i32>(&[0x04]), Ok(2));
        assert_eq!(whole::<u8>(&[]), Err(Malformed));
        // A failed varint does not fail the next one (`Reader::bad` is per call).
        let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x04, 0x05]);
        assert_eq!(r.varint(16), Err(Malformed));
        assert_eq!(r.varint(16), Ok(4));
        assert_eq!(r.read::<u32>(), Ok(5));
        assert_eq!(r.varint(64), Err(Malformed));
    }

    #[test]
    fn options_bools_strings_and_capacity() {
        assert_eq!(whole::<Option<u8>>(&[0]), Ok(None));
        assert_eq!(whole::<Option<u8>>(&[1, 7]), Ok(Some(7)));
        assert_eq!(whole::<Option<u8>>(&[2, 7]), Err(Malformed));
        let mut s: Option<String<4>> = Some(String::try_from("old").unwrap());
        assert_eq!(whole_into(&[1, 2, b'a', b'b'], &mut s), Ok(()));
        assert_eq!(s.as_deref(), Some("ab"));
        assert_eq!(whole_into(&[0], &mut s), Ok(()));
        assert_eq!(s, None);
        assert_eq!(whole_into(&[1, 5, b'a'], &mut s), Err(Malformed));
        assert_eq!(whole::<bool>(&[2]), Err(Malformed));
        assert_eq!(
            whole::<String<4>>(&[3, b'a', b'b', b'c']).as_deref(),
            Ok("abc")
        );
        assert_eq!(whole::<String<2>>(&[3, b'a', b'b', b'c']), Err(Malformed));
        assert_eq!(whole::<String<4>>(&[2, 0xC3, 0x28]), Err(Malformed));
        assert_eq!(whole::<Vec<u8, 2>>(&[3, 1, 2, 3]), Err(Malformed));
        assert_eq!(whole::<Vec<u8, 4>>(&[3, 1, 2]), Err(Malformed));
        assert_eq!(take::<u8>(&[1, 2]), Ok((1, &[2][..])));
        assert_eq!(whole::<u8>(&[1, 2]), Err(Malformed));
        // Byte arrays are copied whole (`decode_array`), others element by element.
        assert_eq!(take::<[u8; 3]>(&[1, 2, 3, 4]), Ok(([1, 2, 3], &[4][..])));
        assert_eq!(whole::<[u8; 3]>(&[1, 2]), Err(Malformed));
        assert_eq!(whole::<[u16; 2]>(&[0xAC, 0x02, 5]), Ok([300, 5]));
        assert_eq!(whole::<[u16; 2]>(&[0xAC, 0x02]), Err(Malformed));
    }

    #[test]
    fn arrays_decode_in_place_as_by_value() {
        let mut policy = CustomPolicy {
            name: String::try_from("custom").unwrap(),
            ack_required: Some(true),
            ..Default::default()
        };
        for (i, c) in policy.categories.iter_mut().enumerate() {
            let i = i as u16;
            *c = CategoryOverrides {
                first_report: Some(10 + i),
                frequency: i.is_multiple_of(2).then_some(20 + i),
                on_change: None,
            };
        }
        let mut buf = [0u8; 128];
        let n = crate::encode::to_slice(&policy, &mut buf).unwrap();
        assert_eq!(whole(&buf[..n]), Ok(policy.clone()));
        // Into a policy whose every category was set otherwise: all of them are replaced.
        let mut into = CustomPolicy {
            categories: [CategoryOverrides {
                first_report: None,
                frequency: Some(1),
                on_change: Some(2),
            }; 4],
            ..Default::default()
        };
        assert_eq!(whole_into(&buf[..n], &mut into), Ok(()));
        assert_eq!(into, policy);
        for cut in 0..n {
            assert_eq!(whole::<CustomPolicy>(&buf[..cut]), Err(Malformed));
            assert_eq!(whole_into(&buf[..cut], &mut into), Err(Malformed));
        }
    }

    #[test]
    fn every_event_kind_round_trips_and_every_cut_is_refused() {
        let name = String::try_from("custom").unwrap();
        let kinds = [
            EventKind::UsageChanged {
                lic: 3,
                count: 70_000,
            },
            EventKind::ReportsClosed { reload: true },
            EventKind::UsagePushed {
                reports: 300,
                transaction: u64::MAX,
            },
            EventKind::UsageSaved { reports: 2 },
            EventKind::AckReceived { reports: 129 },
            EventKind::PolicyInstalled { name },
            EventKind::PolicyRemoved,
            EventKind::CommFailed,
            EventKind::CommRestored,
            EventKind::ReportingRequired { days: 1 << 40 },
            EventKind::TransportChanged(Transport::Callhome),
            EventKind::ReportsPurged { count: u16::MAX },
            EventKind::TrustInstalled { slot: 1 },
            EventKind::AuthRequested { lic: 200 },
            EventKind::AuthInstalled { slot: 7 },
            EventKind::AuthRemoved { slot: 255 },
            EventKind::FactoryReset,
        ];
        let mut buf = [0u8; 64];
        for (i, kind) in kinds.iter().enumerate() {
            let n = crate::encode::to_slice(kind, &mut buf).unwrap();
            assert_eq!(buf[0] as usize, i, "{kind:?}");
            assert_eq!(whole::<EventKind>(&buf[..n]).as_ref(), Ok(kind));
            assert_eq!(
                postcard::from_bytes::<EventKind>(&buf[..n]).as_ref(),
                Ok(kind)
            );
            for cut in 1..n {
                assert_eq!(
                    whole::<EventKind>(&buf[..cut]),
                    Err(Malformed),
                    "{kind:?} {cut}"
                );
            }
        }
        assert_eq!(whole::<EventKind>(&[17]), Err(Malformed));
    }

    #[test]
    fn code_lists_decode_in_place_as_by_value() {
        // `(slot, entry)` vectors push a blank and decode into it (`Decode::blank`).
        let mut trust: Vec<(u8, TrustEntry), 4> = Vec::new();
        let mut auth: Vec<(u8, AuthEntry), 4> = Vec::new();
        for i in 0..3u8 {
            let t = Timestamp(1_000 + u64::from(i));
            let entry = TrustEntry {
                origin: TrustOrigin::Ack,
                serial: 300 + u64::from(i),
                issued_at: t,
                installed_at: t.add_secs(5),
            };
            trust.push((i + 1, entry)).unwrap();
            let mut licenses = Vec::new();
            licenses.push((i, 200 + u16::from(i))).unwrap();
            let entry = AuthEntry {
                kind: AuthKind::Slr,
                serial: 7 + u64::from(i),
                issued_at: t,
                installed_at: t,
                licenses,
            };
            auth.push((3 - i, entry)).unwrap();
        }
        let mut buf = [0u8; 512];
        let n = crate::encode::to_slice(&trust, &mut buf).unwrap();
        assert_eq!(whole(&buf[..n]), Ok(trust.clone()));
        // Into a list that held other codes: they are all replaced.
        let mut into = trust.clone();
        into.reverse();
        into.truncate(2);
        assert_eq!(whole_into(&buf[..n], &mut into), Ok(()));
        assert_eq!(into, trust);
        for cut in 0..n {
            assert_eq!(
                whole::<Vec<(u8, TrustEntry), 4>>(&buf[..cut]),
                Err(Malformed)
            );
        }
        assert_eq!(whole::<Vec<(u8, TrustEntry), 2>>(&buf[..n]), Err(Malformed));
        let n = crate::encode::to_slice(&auth, &mut buf).unwrap();
        assert_eq!(whole(&buf[..n]), Ok(auth.clone()));
        for cut in 0..n {
            assert_eq!(
                whole::<Vec<(u8, AuthEntry), 4>>(&buf[..cut]),
                Err(Malformed)
            );
        }
        assert_eq!(whole::<Vec<(u8, AuthEntry), 2>>(&buf[..n]), Err(Malformed));
    }
}
