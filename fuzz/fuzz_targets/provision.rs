//! `Provisioning::decode` (raw, with a fixed-up CRC, or armoured: the first byte says), then
//! `anchors` and the factory items on a first boot. Checks: `src/lib.rs` (`check_provision`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_fuzz::check_provision(data));
