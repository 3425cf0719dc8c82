//! `tally-host-sim`: simulated product instances running the Tally core, a licensing authority
//! stand-in, and the IOS-XE-style console that drives them (DESIGN.md §7).

pub mod authority;
pub mod demo;
pub mod device;
pub mod factory;
pub mod flash;
pub mod inspect;
pub mod link_device;
pub mod profiles;
pub mod sim;

pub use sim::{SimOptions, Simulator};

/// Run console `lines` against `sim` and return the transcript: each line echoed after the
/// prompt (as a device session log shows it), followed by what the device printed.
pub fn transcript<'a>(sim: &mut Simulator, lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(&sim.prompt());
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
        out.push_str(&sim.line(line));
    }
    out
}
