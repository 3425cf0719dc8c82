//! std-only test doubles (feature `mock`), DESIGN.md §5:
//! a manual clock, a software key, a NOR flash that enforces write-once words and cuts power
//! on demand, an in-memory and a directory-backed file system, a recording syslog sink and a
//! configurable platform.

#![allow(clippy::indexing_slicing)] // std test double: every index is bounds-checked by `check` first.

use crate::{
    Clock, DeviceKey, EventSink, FileError, Files, HaMember, KeyError, LicenseDef, NorFlash,
    NorFlashError, NorFlashErrorKind, Platform, PublicKey, ReadNorFlash, Severity, Signature,
    Timestamp, Udi,
};
use core::cell::Cell;
use embedded_storage::nor_flash::ErrorType;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<u64>,
    synced: Cell<bool>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Cell::new(start.0),
            synced: Cell::new(true),
        }
    }
    pub fn set(&self, t: Timestamp) {
        self.now.set(t.0);
    }
    pub fn advance(&self, secs: u64) {
        self.now.set(self.now.get().saturating_add(secs));
    }
    pub fn set_synchronised(&self, synced: bool) {
        self.synced.set(synced);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.get())
    }
    fn is_synchronised(&self) -> bool {
        self.synced.get()
    }
}

/// A P-256 key held in RAM. Deterministic: the key is derived from a seed.
#[derive(Clone, Debug)]
pub struct SoftwareKey {
    key: p256::ecdsa::SigningKey,
    /// When set, signing fails (models a busy or missing secure element).
    pub fail: bool,
}

impl SoftwareKey {
    /// Derive a key from arbitrary seed bytes (SHA-256, then as a scalar).
    pub fn from_seed(seed: &[u8]) -> Self {
        use sha2::Digest;
        let mut digest: [u8; 32] = sha2::Sha256::digest(seed).into();
        loop {
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&digest) {
                return SoftwareKey { key, fail: false };
            }
            // Astronomically unlikely (digest >= n or zero): re-hash.
            digest = sha2::Sha256::digest(digest).into();
        }
    }

    pub fn signing_key(&self) -> &p256::ecdsa::SigningKey {
        &self.key
    }
}

/// SEC1 uncompressed encoding of a P-256 verifying key.
pub fn sec1_public_key(key: &p256::ecdsa::VerifyingKey) -> PublicKey {
    let point = key.to_sec1_point(false);
    let mut out = [0u8; 65];
    out.copy_from_slice(point.as_bytes());
    out
}

impl DeviceKey for SoftwareKey {
    fn public_key(&self) -> PublicKey {
        sec1_public_key(self.key.verifying_key())
    }
    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<Signature, KeyError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        if self.fail {
            return Err(KeyError::Unavailable);
        }
        let sig: p256::ecdsa::Signature = self
            .key
            .sign_prehash(digest)
            .map_err(|_| KeyError::Unavailable)?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

/// Why a [`MockFlash`] operation failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MockFlashError {
    NotAligned,
    OutOfBounds,
    /// A word was written twice without an erase: forbidden on ECC flash (DESIGN.md §4).
    WriteTwice {
        offset: u32,
    },
    /// Power was cut during this operation; the flash is unusable until `restore_power`.
    PowerCut,
}

impl NorFlashError for MockFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            MockFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            MockFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// Counters of what a [`MockFlash`] was asked to do.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FlashStats {
    pub bytes_written: u64,
    pub writes: u64,
    pub erases: u64,
    pub bytes_read: u64,
}

/// NOR flash with `W`-byte write words and `E`-byte erase sectors.
///
/// Erased bytes are `0xFF`; a write may only happen once per word between erases. Power can be
/// cut after a number of byte operations (writes and erases both count per byte), leaving a
/// torn write or a half-erased sector, as littlefs's and sequential-storage's runners do.
#[derive(Clone, Debug)]
pub struct MockFlash<const W: usize, const E: usize> {
    data: Vec<u8>,
    written: Vec<bool>,
    erase_counts: Vec<u32>,
    budget: Option<u64>,
    powered: bool,
    pub stats: FlashStats,
}

impl<const W: usize, const E: usize> MockFlash<W, E> {
    /// A fully erased flash of `sectors` erase sectors.
    pub fn new(sectors: usize) -> Self {
        let len = sectors * E;
        MockFlash {
            data: std::vec![0xFF; len],
            written: std::vec![false; len / W],
            erase_counts: std::vec![0; sectors],
            budget: None,
            powered: true,
            stats: FlashStats::default(),
        }
    }

    /// Rebuild from a saved image (words that are not all `0xFF` count as written).
    pub fn from_image(image: &[u8]) -> Result<Self, MockFlashError> {
        if !image.len().is_multiple_of(E) || image.is_empty() {
            return Err(MockFlashError::NotAligned);
        }
        let mut flash = Self::new(image.len() / E);
        flash.data.copy_from_slice(image);
        for (i, word) in image.chunks(W).enumerate() {
            flash.written[i] = word.iter().any(|b| *b != 0xFF);
        }
        Ok(flash)
    }

    pub fn image(&self) -> &[u8] {
        &self.data
    }

    pub fn erase_counts(&self) -> &[u32] {
        &self.erase_counts
    }

    /// Cut power after `bytes` more byte operations (0 = during the next one).
    pub fn cut_power_after(&mut self, bytes: u64) {
        self.budget = Some(bytes);
    }

    /// Power back on (a reboot): further operations succeed again.
    pub fn restore_power(&mut self) {
        self.powered = true;
        self.budget = None;
    }

    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Flip one bit, as radiation or a tamperer would.
    pub fn flip_bit(&mut self, offset: usize, bit: u8) {
        if let Some(b) = self.data.get_mut(offset) {
            *b ^= 1 << (bit % 8);
        }
    }

    fn spend(&mut self) -> bool {
        match self.budget {
            Some(0) => {
                self.powered = false;
                false
            }
            Some(ref mut n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }

    fn check(
        &self,
        offset: u32,
        len: usize,
        align: usize,
    ) -> Result<(usize, usize), MockFlashError> {
        if !self.powered {
            return Err(MockFlashError::PowerCut);
        }
        let start = offset as usize;
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(MockFlashError::NotAligned);
        }
        let end = start.checked_add(len).ok_or(MockFlashError::OutOfBounds)?;
        if end > self.data.len() {
            return Err(MockFlashError::OutOfBounds);
        }
        Ok((start, end))
    }
}

impl<const W: usize, const E: usize> ErrorType for MockFlash<W, E> {
    type Error = MockFlashError;
}

impl<const W: usize, const E: usize> ReadNorFlash for MockFlash<W, E> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let (start, end) = self.check(offset, bytes.len(), 1)?;
        bytes.copy_from_slice(&self.data[start..end]);
        self.stats.bytes_read += bytes.len() as u64;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl<const W: usize, const E: usize> NorFlash for MockFlash<W, E> {
    const WRITE_SIZE: usize = W;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if to < from {
            return Err(MockFlashError::OutOfBounds);
        }
        let (start, end) = self.check(from, (to - from) as usize, E)?;
        for sector in (start / E)..(end / E) {
            self.erase_counts[sector] += 1;
            self.stats.erases += 1;
            for i in sector * E..(sector + 1) * E {
                if !self.spend() {
                    return Err(MockFlashError::PowerCut);
                }
                self.data[i] = 0xFF;
                self.written[i / W] = false;
            }
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let (start, end) = self.check(offset, bytes.len(), W)?;
        if let Some(word) = (start / W..end / W).find(|w| self.written[*w]) {
            return Err(MockFlashError::WriteTwice {
                offset: (word * W) as u32,
            });
        }
        self.stats.writes += 1;
        for (i, b) in (start..end).zip(bytes) {
            // A torn word still counts as written: it may not be written again.
            self.written[i / W] = true;
            if !self.spend() {
                return Err(MockFlashError::PowerCut);
            }
            self.data[i] &= *b;
            self.stats.bytes_written += 1;
        }
        Ok(())
    }
}

/// Files kept in memory, keyed by path.
#[derive(Clone, Debug, Default)]
pub struct MemFiles {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Files for MemFiles {
    fn read(&mut self, path: &str, buf: &mut [u8]) -> Result<usize, FileError> {
        let data = self.files.get(path).ok_or(FileError::NotFound)?;
        let dst = buf.get_mut(..data.len()).ok_or(FileError::TooLarge)?;
        dst.copy_from_slice(data);
        Ok(data.len())
    }
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), FileError> {
        self.files.insert(path.to_string(), data.to_vec());
        Ok(())
    }
}

/// Files in a host directory. A device path such as `bootflash:usage.txt` maps to
/// `<root>/bootflash/usage.txt`; a path without a device prefix goes to `<root>/<path>`.
#[derive(Clone, Debug)]
pub struct DirFiles {
    root: PathBuf,
}

impl DirFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirFiles { root: root.into() }
    }

    /// Host path for a device path; refuses `..` and absolute paths so a device can never
    /// reach outside its directory.
    pub fn host_path(&self, path: &str) -> Result<PathBuf, FileError> {
        let (dev, rest) = match path.split_once(':') {
            Some((dev, rest)) => (dev, rest.trim_start_matches('/')),
            None => ("", path),
        };
        if rest.is_empty()
            || rest.starts_with('/')
            || rest.split('/').any(|c| c == ".." || c.is_empty())
            || !dev.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(FileError::BadPath);
        }
        let mut p = self.root.clone();
        if !dev.is_empty() {
            p.push(dev);
        }
        p.push(rest);
        Ok(p)
    }
}

impl Files for DirFiles {
    fn read(&mut self, path: &str, buf: &mut [u8]) -> Result<usize, FileError> {
        let p = self.host_path(path)?;
        let data = std::fs::read(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => FileError::NotFound,
            _ => FileError::Io,
        })?;
        let dst = buf.get_mut(..data.len()).ok_or(FileError::TooLarge)?;
        dst.copy_from_slice(&data);
        Ok(data.len())
    }
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), FileError> {
        let p = self.host_path(path)?;
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|_| FileError::Io)?;
        }
        std::fs::write(&p, data).map_err(|_| FileError::Io)
    }
}

/// Keeps every syslog message.
#[derive(Clone, Debug, Default)]
pub struct RecordingSink {
    pub messages: Vec<(Severity, String)>,
}

impl EventSink for RecordingSink {
    fn emit(&mut self, severity: Severity, message: &str) {
        self.messages.push((severity, message.to_string()));
    }
}

/// A platform described by plain data.
#[derive(Clone, Debug)]
pub struct MockPlatform {
    pub udi: Udi,
    pub members: Vec<HaMember>,
    pub licenses: Vec<LicenseDef>,
    pub partner: bool,
    /// Current state of every enforced feature switch, by license name.
    pub features: BTreeMap<String, bool>,
}

impl MockPlatform {
    /// Whether the feature behind `license` is on; `None` if it was never switched.
    pub fn feature_enabled(&self, license: &str) -> Option<bool> {
        self.features.get(license).copied()
    }
}

impl Platform for MockPlatform {
    fn udi(&self) -> &Udi {
        &self.udi
    }
    fn ha_members(&self) -> &[HaMember] {
        &self.members
    }
    fn licenses(&self) -> &[LicenseDef] {
        &self.licenses
    }
    fn sold_through_partner(&self) -> bool {
        self.partner
    }
    fn set_feature_enabled(&mut self, license: &str, enabled: bool) {
        self.features.insert(license.to_string(), enabled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_refuses_second_write_to_a_word() {
        let mut f = MockFlash::<4, 64>::new(2);
        f.write(0, &[1, 2, 3, 4]).unwrap();
        assert_eq!(
            f.write(0, &[0, 0, 0, 0]),
            Err(MockFlashError::WriteTwice { offset: 0 })
        );
        f.erase(0, 64).unwrap();
        f.write(0, &[0, 0, 0, 0]).unwrap();
        assert_eq!(f.erase_counts(), &[1, 0]);
    }

    #[test]
    fn flash_checks_alignment_and_bounds() {
        let mut f = MockFlash::<8, 64>::new(1);
        assert_eq!(f.write(4, &[0; 8]), Err(MockFlashError::NotAligned));
        assert_eq!(f.write(0, &[0; 4]), Err(MockFlashError::NotAligned));
        assert_eq!(f.write(64, &[0; 8]), Err(MockFlashError::OutOfBounds));
        assert_eq!(f.erase(0, 32), Err(MockFlashError::NotAligned));
    }

    #[test]
    fn power_cut_tears_a_write_and_stops_everything() {
        let mut f = MockFlash::<4, 64>::new(1);
        f.cut_power_after(3);
        assert_eq!(
            f.write(0, &[0, 0, 0, 0, 0, 0, 0, 0]),
            Err(MockFlashError::PowerCut)
        );
        assert_eq!(&f.image()[..8], &[0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        let mut buf = [0u8; 4];
        assert_eq!(f.read(0, &mut buf), Err(MockFlashError::PowerCut));
        f.restore_power();
        // The torn word may not be rewritten; the untouched one may.
        assert!(matches!(
            f.write(0, &[0; 4]),
            Err(MockFlashError::WriteTwice { .. })
        ));
        f.write(4, &[0; 4]).unwrap();
    }

    #[test]
    fn power_cut_during_erase_leaves_sector_half_erased() {
        let mut f = MockFlash::<4, 16>::new(1);
        f.write(0, &[0; 16]).unwrap();
        f.cut_power_after(5);
        assert_eq!(f.erase(0, 16), Err(MockFlashError::PowerCut));
        assert_eq!(&f.image()[..6], &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
    }

    #[test]
    fn image_round_trip_keeps_written_words() {
        let mut f = MockFlash::<4, 16>::new(2);
        f.write(4, &[1, 2, 3, 4]).unwrap();
        let mut g = MockFlash::<4, 16>::from_image(f.image()).unwrap();
        assert!(matches!(
            g.write(4, &[0; 4]),
            Err(MockFlashError::WriteTwice { .. })
        ));
        g.write(0, &[9; 4]).unwrap();
    }

    #[test]
    fn software_key_signs_deterministically() {
        let mut a = SoftwareKey::from_seed(b"seed");
        let mut b = SoftwareKey::from_seed(b"seed");
        let d = [7u8; 32];
        assert_eq!(a.sign_digest(&d).unwrap(), b.sign_digest(&d).unwrap());
        assert_eq!(a.public_key()[0], 0x04);
        a.fail = true;
        assert_eq!(a.sign_digest(&d), Err(KeyError::Unavailable));
    }

    #[test]
    fn dir_files_stay_inside_root() {
        let files = DirFiles::new("/tmp/x");
        assert!(files.host_path("bootflash:../etc/passwd").is_err());
        assert!(files.host_path("/etc/passwd").is_err());
        assert_eq!(
            files.host_path("bootflash:a.txt").unwrap(),
            PathBuf::from("/tmp/x/bootflash/a.txt")
        );
        assert_eq!(
            files.host_path("flash:/a.txt").unwrap(),
            PathBuf::from("/tmp/x/flash/a.txt")
        );
    }
}
