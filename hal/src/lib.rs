//! `tally-hal`: what a platform provides to the Tally licensing core.
//!
//! The core is sans-IO (DESIGN.md §2.1): it never reads a clock or touches a peripheral itself.
//! These traits are the seams a firmware or the host simulator fills in:
//!
//! | concept | trait / type |
//! |---|---|
//! | persistent storage | [`NorFlash`] from `embedded-storage` (no new flash trait) |
//! | wall clock + "synchronised" flag (MISC-1) | [`Clock`] |
//! | the device's signing key (secure element or protected flash) | [`DeviceKey`] |
//! | UDI, HA members, license catalogue, feature gate (MISC-7, MISC-14) | [`Platform`] |
//! | syslog in `%FACILITY-SEVERITY-MNEMONIC: text` form (MSG-0) | [`EventSink`] |
//! | the device file system (`bootflash:`) for save/import | [`Files`] |
//! | the reference product (simulator and firmware default) | [`mod@reference`] |
//!
//! With the `mock` feature the crate also has std test doubles in [`mock`].
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

#[cfg(feature = "mock")]
extern crate std;

mod types;
pub use types::*;

pub mod reference;

#[cfg(feature = "mock")]
pub mod mock;

pub use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

/// Wall-clock time source (MISC-1).
pub trait Clock {
    /// Current UTC time.
    fn now(&self) -> Timestamp;
    /// Whether the clock is synchronised (NTP or similar). Shown in tech output; the core never
    /// trusts the clock alone for deadlines (DESIGN.md §3, time high-water mark).
    fn is_synchronised(&self) -> bool;
}

/// The device's private signing key, made at the factory (DESIGN.md §3).
///
/// Only the digest crosses this boundary so that a secure element can hold the key.
pub trait DeviceKey {
    /// SEC1 uncompressed P-256 public key (`0x04 || X || Y`).
    fn public_key(&self) -> PublicKey;
    /// ECDSA P-256 signature (`r || s`, 64 bytes) over a SHA-256 digest; RFC 6979 deterministic
    /// where the implementation can, so the device needs no RNG.
    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<Signature, KeyError>;
}

/// Static facts about the product instance and the hook that switches enforced features.
pub trait Platform {
    /// This product instance's UDI (GLO-2).
    fn udi(&self) -> &Udi;
    /// HA set members including this one; empty for a standalone device (HA-8).
    fn ha_members(&self) -> &[HaMember];
    /// The license catalogue: what this product can consume (MISC-7).
    fn licenses(&self) -> &[LicenseDef];
    /// Whether the hardware was bought from a distributor or partner; only then does the
    /// 365-day first-report requirement of the Cisco default policy apply (POL-7 footnote 1).
    fn sold_through_partner(&self) -> bool;
    /// Enable or disable the feature behind an enforced or export-controlled license
    /// (ENF-3, ENF-4). Unenforced licenses are never switched off (MISC-12).
    fn set_feature_enabled(&mut self, license: &str, enabled: bool);
}

/// Receives syslog messages, already formatted as `%FACILITY-SEVERITY-MNEMONIC: text` (MSG-0).
pub trait EventSink {
    fn emit(&mut self, severity: Severity, message: &str);
}

/// The device file system used by `license smart save ...` and `license smart import ...`.
pub trait Files {
    /// Read a whole file into `buf`, returning its length. Files larger than `buf` are an error,
    /// not a truncation.
    fn read(&mut self, path: &str, buf: &mut [u8]) -> Result<usize, FileError>;
    /// Create or replace a file.
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), FileError>;
}

/// Why a message exchange with the licensing authority failed (MSG-3 / XPORT-8 causes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CommError {
    /// No route, link down, connection refused.
    Unreachable,
    /// HTTP 404 from the server.
    HostNotFound,
    /// TLS handshake failed.
    Tls,
    /// No answer in time.
    Timeout,
    /// The answer was larger than the response buffer.
    ResponseTooLarge,
}

impl CommError {
    /// The error detail `%SMART_LIC-3-COMM_FAILED` prints (XPORT-8).
    pub const fn detail(self) -> &'static str {
        match self {
            CommError::Unreachable => "Unable to connect to the server: unreachable",
            CommError::HostNotFound => "404 host not found",
            CommError::Tls => "TLS handshake failed",
            CommError::Timeout => "timed out waiting for a response",
            CommError::ResponseTooLarge => "response too large",
        }
    }
}

/// The outbound message channel to the licensing authority (CSSM, CSLU, SSM On-Prem), one
/// request and one response at a time. On a real device this is HTTPS; in the simulator it
/// is a function call; on the QEMU board it is the serial link.
pub trait Transport {
    fn exchange(&mut self, request: &[u8], response: &mut [u8]) -> Result<usize, CommError>;
}
