//! `tally-core`: the device-side licensing agent of Smart Licensing Using Policy, as a
//! `no_std`, allocation-free, panic-free library (DESIGN.md §1, §2).
//!
//! Where to find things:
//!
//! | concept | module |
//! |---|---|
//! | the agent state machine (inputs → journal records → state; outputs) | [`agent`] |
//! | state and its journal records (event sourcing) | [`state`] |
//! | the journal interface (+ a RAM journal) | [`journal`] |
//! | policy: Cisco default, custom, merge | [`policy`] |
//! | reporting deadlines, push interval, throttle, retry | [`schedule`] |
//! | RUM reports, states, flags, reasons | [`rum`] |
//! | wire payloads, signed envelope, text armour | [`wire`], [`envelope`], [`outbound`] |
//! | decoding what the device reads (journal, messages; postcard's format by hand) | [`decode`] |
//! | encoding what the device writes (postcard's format, a serializer that cannot fail midway) | [`encode`] |
//! | ECDSA P-256 sign/verify (backend seam), in-memory device key | [`crypto`] |
//! | `show license …` rendering | [`render`] |
//! | the IOS-XE-style console | [`cli`] |
//! | syslog messages and the event log | [`messages`] |
//! | device configuration | [`config`] |
//! | dates and time zones | [`time`] |
//! | trust codes (agent side) | [`agent`] (`agent/trust.rs`) |
//! | authorization codes, return codes | [`agent`] (`agent/authorization.rs`) |
//! | the factory provisioning image | [`provision`] |
//! | the CRCs of the flash journal and the provisioning image | [`crc`] |
//! | every capacity | [`limits`] |
//! | 64-bit division without the 64-bit divide builtin | [`arith`] |
//!
//! Requirement IDs (POL-7, RUM-14, …) refer to `shared/spec/seed-digest.md`.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

#[cfg(test)]
extern crate std;

pub mod agent;
pub mod arith;
pub mod cli;
pub mod config;
pub mod crc;
pub mod crypto;
pub mod decode;
pub mod encode;
pub mod envelope;
pub mod journal;
pub mod limits;
pub mod messages;
pub mod outbound;
pub mod policy;
pub mod provision;
pub mod render;
pub mod rum;
pub mod schedule;
pub mod sort;
pub mod state;
pub mod time;
pub mod wire;

pub use agent::{
    Agent, AgentError, Identity, Imported, LicenseStatus, Release, SyncScope, Transmit,
    TransmitKind,
};
pub use journal::{Journal, JournalError, RamJournal};
pub use limits::Limits;
pub use tally_hal as hal;
