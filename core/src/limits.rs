//! Every capacity in the core, in one place (DESIGN.md §2.2).
//!
//! The defaults fit a switch or router control-plane MCU: the whole agent state is a few KiB
//! (see docs/PERFORMANCE.md). A vendor with a larger catalogue changes these numbers; nothing
//! else in the core hard-codes a capacity.

/// Capacities of the agent's bounded buffers.
#[derive(Debug)]
pub struct Limits;

impl Limits {
    /// Licenses in the platform catalogue.
    pub const LICENSES: usize = 8;
    /// RUM reports tracked at once (OPEN, CLOSED, UNACK and recently ACKed).
    pub const REPORTS: usize = 32;
    /// Usage change points stored per report; a full report closes (DESIGN.md §3).
    pub const REPORT_POINTS: usize = 8;
    /// Report IDs one ACK may carry.
    pub const ACK_REPORTS: usize = Limits::REPORTS;
    /// Entries in the licensing event log (EVT-3: bounded and rotating).
    pub const EVENTS: usize = 32;
    /// Licenses one authorization code may hold (AUTH-1: codes are for the few gated licenses).
    pub const CODE_LICENSES: usize = 4;
    /// HA members shown by `show license udi` (HA-8).
    pub const HA_MEMBERS: usize = 4;
    /// Largest armoured file the device accepts on `license smart import` (DESIGN.md §2.6).
    pub const IMPORT_FILE_BYTES: usize = 8 * 1024;
    /// Largest envelope payload of a message from the authority.
    pub const INBOUND_PAYLOAD_BYTES: usize = 4 * 1024;
    /// Largest usage file or push the device writes.
    pub const USAGE_FILE_BYTES: usize = 16 * 1024;
}

/// Seconds between measurements: "a fixed measurement duration and is always 15 minutes" (RUM-9).
pub const MEASUREMENT_INTERVAL_SECS: u64 = 15 * 60;
