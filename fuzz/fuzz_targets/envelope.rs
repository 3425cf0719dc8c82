//! `envelope::open` on arbitrary bytes with the limit the first byte picks, then
//! `Envelope::decode` as every payload type of `tally_core::wire` and `verify` against the
//! pinned keys: errors only, and whatever decodes survives a re-encode. Checks: `src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_fuzz::check_envelope(data));
