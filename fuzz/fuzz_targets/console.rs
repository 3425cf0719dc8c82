//! The IOS-XE console (`cli::Console::execute`), one input line per command: never a panic;
//! a line that does not parse, or a command that fails, changes nothing; what a non-`show`
//! command prints is an error (`%`) or a known success line. Checks: `src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_fuzz::check_console(data));
