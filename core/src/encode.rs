//! The encoder of everything the device writes: journal records and snapshot parts, the
//! messages it signs. postcard's wire format (the one `decode` reads; the format is described
//! there), produced by the types' derived `Serialize` impls, through a serializer of our own
//! instead of postcard's (ADR 0015).
//!
//! Why not `postcard::to_slice`: every write of postcard's slice flavour can fail, so each
//! byte, varint and field of the derived code threads an error out, and each flavour (slice,
//! size) gets its own copy of every type's encoder. Here a write never fails: it stores what
//! fits and counts the rest, and whether the value fitted is decided once, at the end. So no
//! byte or varint has an error path of its own, and one encoder per type serves both writing
//! and measuring. The bytes are postcard's: `tests/tests/codec.rs` and the fuzz targets
//! compare the two on every value they decode.

use serde::Serialize;
use serde::ser::{self, Serializer};

/// The value does not fit in the buffer given (or it is something postcard cannot encode
/// either: a sequence or map of unknown length, a string made by `collect_str`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Unencodable;

impl core::fmt::Display for Unencodable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("cannot encode")
    }
}

impl core::error::Error for Unencodable {}

impl ser::Error for Unencodable {
    fn custom<T: core::fmt::Display>(_: T) -> Self {
        Unencodable
    }
}

/// `value` in postcard's format at the front of `out`; its length. On `Err` the front of
/// `out` holds part of it.
pub fn to_slice<T: Serialize + ?Sized>(value: &T, out: &mut [u8]) -> Result<usize, Unencodable> {
    let mut w = Writer { out, len: 0 };
    value.serialize(&mut w)?;
    if w.len <= w.out.len() {
        Ok(w.len)
    } else {
        Err(Unencodable)
    }
}

/// A value encoded through a `dyn` pointer (serde's `Serialize` is not object safe), so that a
/// caller taking several types (`envelope::seal`) has one body, not one per type.
pub trait Encode {
    fn encode_to(&self, w: &mut Writer<'_>) -> Result<(), Unencodable>;
}

impl<T: Serialize + ?Sized> Encode for T {
    fn encode_to(&self, w: &mut Writer<'_>) -> Result<(), Unencodable> {
        self.serialize(w)
    }
}

/// [`to_slice`] of a `dyn` [`Encode`].
pub fn to_slice_dyn(value: &dyn Encode, out: &mut [u8]) -> Result<usize, Unencodable> {
    let mut w = Writer { out, len: 0 };
    value.encode_to(&mut w)?;
    if w.len <= w.out.len() {
        Ok(w.len)
    } else {
        Err(Unencodable)
    }
}

/// [`size_of`] of a `dyn` [`Encode`].
pub fn size_of_dyn(value: &dyn Encode) -> Result<usize, Unencodable> {
    let mut w = Writer {
        out: &mut [],
        len: 0,
    };
    value.encode_to(&mut w)?;
    Ok(w.len)
}

/// How many bytes `value` encodes to (the same encoder, writing nowhere).
pub fn size_of<T: Serialize + ?Sized>(value: &T) -> Result<usize, Unencodable> {
    let mut w = Writer {
        out: &mut [],
        len: 0,
    };
    value.serialize(&mut w)?;
    Ok(w.len)
}

/// Where the bytes go: `out` while they fit; `len` counts them all.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    #[inline(never)]
    fn put(&mut self, bytes: &[u8]) {
        // The range's end wraps (it is empty then, and `get_mut` refuses it) so that its length
        // is `bytes.len()` by construction: `copy_from_slice` keeps no length-mismatch panic.
        let end = self.len.wrapping_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = self.len.saturating_add(bytes.len());
    }

    /// One byte without `put`'s copy call (most of what the device writes is bytes and
    /// one-byte varints).
    #[inline(never)]
    fn byte(&mut self, b: u8) {
        if let Some(d) = self.out.get_mut(self.len) {
            *d = b;
        }
        self.len = self.len.saturating_add(1);
    }

    /// LEB128, as postcard writes every unsigned integer wider than a byte and every length
    /// and variant index (the bytes depend only on the value, not on its type's width).
    #[inline(never)]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    /// [`Writer::varint`] of a value that fits 32 bits: the same bytes, with one register
    /// for the value at every call and 32-bit shifts (most of what the device writes:
    /// lengths, variant indexes, `u32`s).
    #[inline(never)]
    fn varint32(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    fn varint128(&mut self, mut v: u128) {
        loop {
            let low = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                self.byte(low);
                return;
            }
            self.byte(low | 0x80);
        }
    }

    fn length(&mut self, n: usize) {
        match u32::try_from(n) {
            Ok(n) => self.varint32(n),
            Err(_) => self.varint(n as u64),
        }
    }
}

type Done = Result<(), Unencodable>;

impl Serializer for &mut Writer<'_> {
    type Ok = ();
    type Error = Unencodable;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Done {
        self.byte(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Done {
        self.byte(v as u8);
        Ok(())
    }

    // Signed integers: zigzag, then the varint.
    fn serialize_i16(self, v: i16) -> Done {
        self.varint32(u32::from(((v << 1) ^ (v >> 15)) as u16));
        Ok(())
    }

    fn serialize_i32(self, v: i32) -> Done {
        self.varint32(((v << 1) ^ (v >> 31)) as u32);
        Ok(())
    }

    fn serialize_i64(self, v: i64) -> Done {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Done {
        self.varint128(((v << 1) ^ (v >> 127)) as u128);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Done {
        self.byte(v);
        Ok(())
    }

    fn serialize_u16(self, v: u16) -> Done {
        self.varint32(u32::from(v));
        Ok(())
    }

    fn serialize_u32(self, v: u32) -> Done {
        self.varint32(v);
        Ok(())
    }

    fn serialize_u64(self, v: u64) -> Done {
        self.varint(v);
        Ok(())
    }

    fn serialize_u128(self, v: u128) -> Done {
        self.varint128(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Done {
        self.put(&v.to_bits().to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Done {
        self.put(&v.to_bits().to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Done {
        let mut buf = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut buf))
    }

    fn serialize_str(self, v: &str) -> Done {
        self.serialize_bytes(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> Done {
        self.length(v.len());
        self.put(v);
        Ok(())
    }

    fn serialize_none(self) -> Done {
        self.byte(0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        self.byte(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Done {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }

    fn serialize_unit_variant(self, _: &'static str, index: u32, _: &'static str) -> Done {
        self.varint32(index);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Done {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Done {
        self.varint32(index);
        value.serialize(self)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Unencodable> {
        self.length(len.ok_or(Unencodable)?);
        Ok(self)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self, Unencodable> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Unencodable> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Unencodable> {
        self.varint32(index);
        Ok(self)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self, Unencodable> {
        self.length(len.ok_or(Unencodable)?);
        Ok(self)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Unencodable> {
        Ok(self)
    }

    /// The same bytes as a tuple variant: the index, then the fields.
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Unencodable> {
        self.serialize_tuple_variant(name, index, variant, len)
    }

    /// postcard formats the value twice (once to count); nothing the device writes needs it.
    fn collect_str<T: core::fmt::Display + ?Sized>(self, _: &T) -> Done {
        Err(Unencodable)
    }
}

// Sequences, tuples, maps and structs: their elements or fields, one after the other.

/// `impl $trait` whose one method (with or without a field name) encodes the value in place.
macro_rules! one_after_the_other {
    ($($trait:ident :: $method:ident $(($name:ty))?),* $(,)?) => {$(
        impl ser::$trait for &mut Writer<'_> {
            type Ok = ();
            type Error = Unencodable;
            fn $method<T: Serialize + ?Sized>(&mut self, $(_: $name,)? value: &T) -> Done {
                value.serialize(&mut **self)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

one_after_the_other!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
    SerializeStruct::serialize_field(&'static str),
    SerializeStructVariant::serialize_field(&'static str),
);

impl ser::SerializeMap for &mut Writer<'_> {
    type Ok = ();
    type Error = Unencodable;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn both<T: Serialize + ?Sized>(v: &T) -> (Vec<u8>, Vec<u8>) {
        let mut ours = [0u8; 256];
        let n = to_slice(v, &mut ours).unwrap();
        assert_eq!(size_of(v), Ok(n));
        let mut theirs = [0u8; 256];
        let m = postcard::to_slice(v, &mut theirs).unwrap().len();
        (ours[..n].to_vec(), theirs[..m].to_vec())
    }

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u16),
        Tuple(i8, i16),
        Struct { a: i32, b: i64 },
    }

    #[derive(Serialize)]
    struct Every<'a> {
        b: bool,
        u: (u8, u16, u32, u64, u128),
        i: (i8, i16, i32, i64, i128),
        f: (f32, f64),
        c: char,
        s: &'a str,
        bytes: &'a [u8],
        o: (Option<u32>, Option<&'a str>),
        unit: (),
        e: [E; 4],
    }

    #[test]
    fn every_kind_of_value_encodes_as_postcard_encodes_it() {
        for (k, x) in [
            (0u64, 0i64),
            (1, -1),
            (127, 63),
            (128, -65),
            (u64::MAX, i64::MIN),
        ] {
            let v = Every {
                b: k % 2 == 1,
                u: (k as u8, k as u16, k as u32, k, u128::from(k) << 60),
                i: (x as i8, x as i16, x as i32, x, i128::from(x) << 60),
                f: (x as f32, -(x as f64)),
                c: 'é',
                s: "ab",
                bytes: &[7; 130],
                o: (Some(k as u32), None),
                unit: (),
                e: [
                    E::Unit,
                    E::New(k as u16),
                    E::Tuple(1, -2),
                    E::Struct { a: -3, b: x },
                ],
            };
            let (ours, theirs) = both(&v);
            assert_eq!(ours, theirs);
        }
    }

    proptest::proptest! {
        /// The 32-bit varint path (`varint32`: lengths, variant indexes, `u16`, `u32` and their
        /// zigzagged signed forms) writes postcard's bytes for any value.
        #[test]
        fn narrow_integers_and_lengths_encode_as_postcard_encodes_them(
            a in proptest::prelude::any::<u16>(),
            b in proptest::prelude::any::<u32>(),
            c in proptest::prelude::any::<i16>(),
            d in proptest::prelude::any::<i32>(),
            n in 0usize..200,
        ) {
            let bytes = std::vec![0u8; n];
            let (ours, theirs) = both(&(a, b, c, d, bytes.as_slice(), E::New(a)));
            proptest::prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn the_dyn_entry_points_are_the_generic_ones() {
        let v = (1u8, "hello", 300u32, Some(u64::MAX));
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        let n = to_slice(&v, &mut a).unwrap();
        assert_eq!(to_slice_dyn(&v, &mut b), Ok(n));
        assert_eq!(a, b);
        assert_eq!(size_of_dyn(&v), Ok(n));
        for cut in 0..n {
            assert_eq!(to_slice_dyn(&v, &mut b[..cut]), Err(Unencodable), "{cut}");
        }
    }

    #[test]
    fn a_value_that_does_not_fit_is_refused_and_measured_whole() {
        let v = (1u8, "hello", 300u32);
        let size = size_of(&v).unwrap();
        assert_eq!(size, 1 + 1 + 5 + 2);
        let mut out = [0u8; 16];
        for n in 0..size {
            assert_eq!(to_slice(&v, &mut out[..n]), Err(Unencodable), "{n}");
        }
        assert_eq!(to_slice(&v, &mut out[..size]), Ok(size));
        // A sequence of unknown length cannot be encoded: postcard refuses it too.
        struct Unknown;
        impl Serialize for Unknown {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                s.serialize_seq(None)?.end()
            }
        }
        assert_eq!(size_of(&Unknown), Err(Unencodable));
        assert!(postcard::to_slice(&Unknown, &mut out).is_err());
    }
}
