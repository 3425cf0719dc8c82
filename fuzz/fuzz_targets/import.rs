//! `license smart import` end to end (`Agent::import`) on raw text or on valid files for the
//! device whose payloads are mutated and re-signed: errors only, a refused file changes neither
//! state nor journal, and importing the same file twice changes nothing the second time.
//! Input layout and checks: `src/lib.rs` (`import_text`, `check_import`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_fuzz::check_import(data));
