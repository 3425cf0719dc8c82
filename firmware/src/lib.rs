//! What the Cortex-M images share: the board's device key, a RAM file system, the identity of
//! the demo switch, and [`exercise`], which drives every part of the core once so that the
//! linked image contains all of it.
//!
//! The real board support (flash journal, UART protocol, provisioning) comes with the firmware
//! work; this crate already proves that `tally-core` builds and links for `thumbv7em-none-eabihf`
//! and `thumbv6m-none-eabi` with no std and no global allocator.
#![no_std]

pub mod boards;
// Small memcpy / memmove / memset for the Thumb-2 images (the Cortex-M0 one keeps
// compiler-builtins'; ADR 0016).
#[cfg(all(target_os = "none", target_has_atomic = "32"))]
mod mem;
#[cfg(target_os = "none")]
pub mod once;
pub mod server;
#[cfg(target_os = "none")]
pub mod stack;
#[cfg(all(target_os = "none", feature = "board-mps2-an386"))]
pub mod vectors;

use core::fmt;
use heapless::Vec;
use tally_core::agent::{Agent, AgentError, Identity, Release, SyncScope};
use tally_core::cli::{Console, Env};
use tally_core::journal::flash::FlashJournal;
use tally_hal::{
    DeviceKey, Enforcement, EventSink, FileError, Files, HaMember, HaRole, LicenseDef, PublicKey,
    Severity, Term, Timestamp, TooLong, Udi,
};

/// The first `N` of `items`. heapless's `collect` panics past its capacity; every list here
/// is collected from one of the same capacity, so this only keeps that check (and a panic
/// path) out of the images (`scripts/panic-paths.py`).
pub fn first<T, const N: usize>(items: impl IntoIterator<Item = T>) -> Vec<T, N> {
    let mut out = Vec::new();
    for item in items {
        if out.push(item).is_err() {
            break;
        }
    }
    out
}

/// Journal bytes of the RAM journal used by the benchmark's reference figures.
pub const JOURNAL_BYTES: usize = 16 * 1024;
/// Scratch for envelopes and armoured files.
pub const FILE_BYTES: usize = 12 * 1024;

/// The board's device key: a P-256 key in RAM (a development key until provisioning lands).
pub type FirmwareKey = tally_core::crypto::LocalKey;

/// Counts syslog messages; the images have nowhere to print them.
#[derive(Debug, Default)]
pub struct CountingSink(pub u32);

impl EventSink for CountingSink {
    fn emit(&mut self, _severity: Severity, _message: &str) {
        self.0 = self.0.saturating_add(1);
    }
}

/// Two files in RAM, enough for `save usage` then `import`. Fixed slots, written in place: a
/// file built on the stack and then moved in took two copies of `FILE_BYTES` of stack.
#[derive(Debug, Default)]
pub struct RamFiles {
    /// Slots in use: the first `used` of `names` and `data`.
    used: usize,
    names: [heapless::String<32>; 2],
    data: [Vec<u8, FILE_BYTES>; 2],
}

impl RamFiles {
    /// The slot of the file at `path`.
    fn find(&self, path: &str) -> Option<usize> {
        self.names
            .iter()
            .take(self.used)
            .position(|p| p.as_str() == path)
    }
}

impl Files for RamFiles {
    fn read(&mut self, path: &str, buf: &mut [u8]) -> Result<usize, FileError> {
        let data = self
            .find(path)
            .and_then(|i| self.data.get(i))
            .ok_or(FileError::NotFound)?;
        buf.get_mut(..data.len())
            .ok_or(FileError::TooLarge)?
            .copy_from_slice(data);
        Ok(data.len())
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), FileError> {
        // Every check before anything changes: a refused write leaves the files as they were.
        if data.len() > FILE_BYTES {
            return Err(FileError::TooLarge);
        }
        let slot = match self.find(path) {
            Some(i) => i,
            None => {
                let name = tally_hal::bounded(path).map_err(|_| FileError::BadPath)?;
                let i = self.used;
                *self.names.get_mut(i).ok_or(FileError::TooLarge)? = name;
                self.used += 1;
                i
            }
        };
        let dst = self.data.get_mut(slot).ok_or(FileError::TooLarge)?;
        dst.clear();
        dst.extend_from_slice(data).map_err(|_| FileError::TooLarge)
    }
}

/// The demo switch: the simulator's default device (a C9200L stack with an unenforced
/// perpetual, an unenforced subscription and an export-controlled license).
pub fn identity(authority: PublicKey) -> Result<Identity, TooLong> {
    let udi = Udi::new("C9200L-48P-4X", "JAE24091ABC")?;
    let mut catalogue = Vec::new();
    for (name, tag, desc, enforcement, term) in [
        (
            "network-essentials",
            "C9200L-NW-E-48",
            "C9200L Network Essentials, 48-port license",
            Enforcement::Unenforced,
            Term::Perpetual,
        ),
        (
            "dna-essentials",
            "C9200L-DNA-E-48",
            "C9200L DNA Essentials, 48-port Term license",
            Enforcement::Unenforced,
            Term::Subscription,
        ),
        (
            "hseck9",
            "DNA_HSEC",
            "U.S. Export Restriction Compliance license",
            Enforcement::ExportControlled,
            Term::Perpetual,
        ),
    ] {
        let regid = "regid.2018-06.com.cisco.C9200L,1.0_00000000-0000-0000-0000-000000000000";
        let def = LicenseDef::new(name, tag, regid, desc, enforcement, term)?;
        catalogue.push(def).map_err(|_| TooLong)?;
    }
    let mut members = Vec::new();
    members
        .push(HaMember {
            role: HaRole::Active,
            udi: udi.clone(),
        })
        .map_err(|_| TooLong)?;
    let mut authority_keys = Vec::new();
    authority_keys.push(authority).map_err(|_| TooLong)?;
    Ok(Identity {
        udi,
        members,
        catalogue,
        partner: true,
        release: Release::V17_7,
        authority_keys,
        trust: Default::default(),
    })
}

/// A `core::fmt::Write` into a fixed buffer that drops what does not fit.
#[derive(Debug)]
pub struct Buf<const N: usize> {
    pub bytes: Vec<u8, N>,
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Buf { bytes: Vec::new() }
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if self.bytes.push(b).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Drive every part of the core once (boot, usage, measurement, push build and signature,
/// console, save, import, rendering) and return a checksum of the outputs, so that nothing is
/// optimised away and the image contains the whole agent.
pub fn exercise(start: Timestamp) -> Result<usize, AgentError> {
    let mut key =
        FirmwareKey::from_seed(b"tally firmware development key").map_err(|_| AgentError::Key)?;
    let authority = FirmwareKey::from_seed(b"tally firmware development authority")
        .map_err(|_| AgentError::Key)?;
    let ident = identity(authority.public_key()).map_err(|_| AgentError::Capacity)?;
    let journal = FlashJournal::new(DemoFlash::default(), 0, 4)?;
    let mut agent = Agent::boot(ident, journal, start)?;
    let mut sink = CountingSink::default();
    let mut sum = 0usize;
    agent.set_usage(start, "network-essentials", 2)?;
    agent.set_usage(start, "hseck9", 1)?;
    agent.tick(start.add_secs(900), &mut sink)?;
    agent.request_sync(SyncScope::Local)?;
    let mut bin = [0u8; FILE_BYTES];
    if let Some(tx) = agent.poll_transmit(start.add_secs(901), &mut key, &mut bin)? {
        sum += tx.len;
        agent.on_response(
            start.add_secs(902),
            Err(tally_hal::CommError::Unreachable),
            &mut sink,
        )?;
    }
    let mut text = [0u8; FILE_BYTES];
    let mut files = RamFiles::default();
    let mut console = Console::default();
    for line in [
        "show license all",
        "show license rum id all detail",
        "license smart save usage unreported file bootflash:u.txt",
        "license smart import bootflash:u.txt",
        "show license eventlog",
        "show license history message",
    ] {
        let mut env = Env {
            agent: &mut agent,
            key: &mut key,
            files: &mut files,
            sink: &mut sink,
            now: start.add_secs(1000),
            bin: &mut bin,
            text: &mut text,
        };
        let mut out: Buf<4096> = Buf::default();
        let _ = console.execute(line, &mut env, &mut out);
        sum += out.bytes.len();
    }
    Ok(sum + sink.0 as usize)
}

/// NOR flash in RAM: `N` bytes in sectors of `E`, words of `W`; writes can only clear bits. The
/// QEMU board has no flash controller model; the real board profile has its own driver.
#[derive(Debug, Clone)]
pub struct RamFlash<const W: usize, const E: usize, const N: usize> {
    pub data: [u8; N],
}

impl<const W: usize, const E: usize, const N: usize> Default for RamFlash<W, E, N> {
    fn default() -> Self {
        RamFlash { data: [0xFF; N] }
    }
}

/// Out of range or misaligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamFlashError;

impl embedded_storage::nor_flash::NorFlashError for RamFlashError {
    fn kind(&self) -> embedded_storage::nor_flash::NorFlashErrorKind {
        embedded_storage::nor_flash::NorFlashErrorKind::OutOfBounds
    }
}

impl<const W: usize, const E: usize, const N: usize> embedded_storage::nor_flash::ErrorType
    for RamFlash<W, E, N>
{
    type Error = RamFlashError;
}

impl<const W: usize, const E: usize, const N: usize> embedded_storage::nor_flash::ReadNorFlash
    for RamFlash<W, E, N>
{
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), RamFlashError> {
        let at = offset as usize;
        let src = self.data.get(at..at + bytes.len()).ok_or(RamFlashError)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        N
    }
}

impl<const W: usize, const E: usize, const N: usize> embedded_storage::nor_flash::NorFlash
    for RamFlash<W, E, N>
{
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamFlashError> {
        let dst = self
            .data
            .get_mut(from as usize..to as usize)
            .ok_or(RamFlashError)?;
        dst.fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), RamFlashError> {
        let at = offset as usize;
        if !at.is_multiple_of(W) || !bytes.len().is_multiple_of(W) {
            return Err(RamFlashError);
        }
        let dst = self
            .data
            .get_mut(at..at + bytes.len())
            .ok_or(RamFlashError)?;
        for (d, b) in dst.iter_mut().zip(bytes) {
            *d &= *b;
        }
        Ok(())
    }
}

/// The demo images' licensing partition: 4 sectors of 4 KiB with 8-byte words.
pub type DemoFlash = RamFlash<8, 4096, { 4 * 4096 }>;
