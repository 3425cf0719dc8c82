//! `envelope::dearmour` on arbitrary text into small and large buffers: the same answer
//! wherever it fits, `TooLarge` where it does not, and an armour round trip. Checks: `src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_fuzz::check_armour(data));
