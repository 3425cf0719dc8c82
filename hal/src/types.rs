//! Vocabulary shared by the platform and the core.

use core::fmt;
use heapless::String;
use serde::{Deserialize, Serialize};

/// UTC seconds since the Unix epoch. The core is given time; it never reads a clock.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);
    /// 9999-12-31 23:59:59 UTC: the latest time the core keeps or shows. Later values (a wild
    /// RTC, a hostile issue time) are held at it, so no date arithmetic can overflow.
    pub const LATEST: Timestamp = Timestamp(253_402_300_799);
    pub const fn secs(self) -> u64 {
        self.0
    }
    #[inline(never)] // eighteen uses in the core: one copy
    pub const fn add_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }
    #[inline(never)] // a saturating 64-bit multiply: one copy
    pub const fn add_days(self, days: u64) -> Timestamp {
        self.add_secs(days.saturating_mul(SECS_PER_DAY))
    }
    pub const fn sub_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_sub(secs))
    }
    /// Seconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

pub const SECS_PER_DAY: u64 = 86_400;

/// Capacity of UDI parts. Cisco PIDs and serials are well under 20 characters.
pub const UDI_PART_LEN: usize = 24;

/// Error for a value that does not fit its bounded field.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TooLong;

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value too long")
    }
}

/// Copy a `&str` into a bounded string, refusing (not truncating) what does not fit.
pub fn bounded<const N: usize>(s: &str) -> Result<String<N>, TooLong> {
    let mut out = String::new();
    out.push_str(s).map_err(|_| TooLong)?;
    Ok(out)
}

/// Unique Device Identifier: product ID and serial number (GLO-2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Udi {
    pub pid: String<UDI_PART_LEN>,
    pub sn: String<UDI_PART_LEN>,
}

impl Udi {
    pub fn new(pid: &str, sn: &str) -> Result<Udi, TooLong> {
        Ok(Udi {
            pid: bounded(pid)?,
            sn: bounded(sn)?,
        })
    }
}

/// `PID:C9800-CL-K9,SN:93BBAH93MGS` as every SLP show command prints it.
impl fmt::Display for Udi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PID:{},SN:{}", self.pid, self.sn)
    }
}

/// Role of a member of an HA set (GLO-33).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HaRole {
    Active,
    Standby,
    Member,
}

impl HaRole {
    pub const fn label(self) -> &'static str {
        match self {
            HaRole::Active => "Active",
            HaRole::Standby => "Standby",
            HaRole::Member => "Member",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaMember {
    pub role: HaRole,
    pub udi: Udi,
}

/// Whether a license needs authorization before use (ENF-1..5).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Enforcement {
    /// No authorization needed; usage is recorded and reported (ENF-2).
    Unenforced,
    /// Needs a SLAC before use (ENF-3).
    Enforced,
    /// Export-controlled, needs a SLAC before use (ENF-4).
    ExportControlled,
}

/// License duration (DUR-1, DUR-2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Term {
    Perpetual,
    Subscription,
}

pub const LICENSE_NAME_LEN: usize = 32;
pub const LICENSE_TAG_LEN: usize = 32;
pub const ENTITLEMENT_ID_LEN: usize = 96;
pub const LICENSE_DESC_LEN: usize = 64;

/// One entry of the platform's license catalogue (MISC-7, GLO-18). Product data: the strings
/// are `'static` (in flash on a device, not copied into the agent's RAM), each no longer than
/// its `*_LEN` bound so that it fits the wire and display fields that carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseDef {
    /// Feature name, e.g. `network-advantage` (`Feature Name:` in show output).
    pub name: &'static str,
    /// Short entitlement tag shown in parentheses, e.g. `DNA_NWStack`.
    pub tag: &'static str,
    /// Full software-identification tag (`regid.…`), the RUM `Metric Value` (GLO-18).
    pub entitlement: &'static str,
    /// `Description:` / `Feature Description:`.
    pub description: &'static str,
    /// `Version:`, e.g. `1.0`.
    pub version: &'static str,
    pub enforcement: Enforcement,
    pub term: Term,
}

impl LicenseDef {
    /// Build a catalogue entry, refusing fields longer than their bounds.
    pub const fn new(
        name: &'static str,
        tag: &'static str,
        entitlement: &'static str,
        description: &'static str,
        enforcement: Enforcement,
        term: Term,
    ) -> Result<LicenseDef, TooLong> {
        if name.len() > LICENSE_NAME_LEN
            || tag.len() > LICENSE_TAG_LEN
            || entitlement.len() > ENTITLEMENT_ID_LEN
            || description.len() > LICENSE_DESC_LEN
        {
            return Err(TooLong);
        }
        Ok(LicenseDef {
            name,
            tag,
            entitlement,
            description,
            version: "1.0",
            enforcement,
            term,
        })
    }
}

/// Syslog severity digit (MSG-0).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notification = 5,
    Informational = 6,
    Debugging = 7,
}

/// SEC1 uncompressed P-256 public key.
pub type PublicKey = [u8; 65];
/// ECDSA P-256 signature `r || s`.
pub type Signature = [u8; 64];

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The key store could not produce a signature (secure element busy, key missing...).
    Unavailable,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    NotFound,
    /// The file is larger than the caller's bound.
    TooLarge,
    /// The path is not valid on this device.
    BadPath,
    Io,
}

impl FileError {
    /// The error as text (what `Display` writes).
    pub const fn text(&self) -> &'static str {
        match self {
            FileError::NotFound => "file not found",
            FileError::TooLarge => "file too large",
            FileError::BadPath => "invalid path",
            FileError::Io => "I/O error",
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}
