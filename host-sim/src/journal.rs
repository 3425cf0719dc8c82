//! The simulator's journal: the core's bounded RAM journal, mirrored to a file with `--state`.
//!
//! Commits are appended to the file, compactions rewrite it (write to a temporary file, then
//! rename). A write torn by `kill -9` leaves a partial last frame, which is dropped on load.
//! (The flash journal of the durability work replaces this with a raw NOR image.)

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use tally_core::journal::{Entry, Journal, JournalError, RamJournal};
use tally_core::state::{Record, State};

/// Journal capacity of a simulated device.
pub const JOURNAL_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct SimJournal {
    inner: Box<RamJournal<JOURNAL_BYTES>>,
    path: Option<PathBuf>,
    persisted: usize,
    /// Bytes of a torn tail dropped when loading.
    pub dropped_on_load: usize,
}

impl SimJournal {
    pub fn in_memory() -> SimJournal {
        SimJournal {
            inner: Box::default(),
            path: None,
            persisted: 0,
            dropped_on_load: 0,
        }
    }

    /// Open (or create) the journal file at `path`.
    pub fn open(path: PathBuf) -> std::io::Result<SimJournal> {
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let good = RamJournal::<JOURNAL_BYTES>::valid_prefix(&bytes);
        let inner = RamJournal::from_bytes(bytes.get(..good).unwrap_or(&[]))
            .map_err(|_| std::io::Error::other("journal file larger than the device's journal"))?;
        let dropped = bytes.len() - good;
        if dropped > 0 {
            fs::write(&path, bytes.get(..good).unwrap_or(&[]))?;
        }
        Ok(SimJournal {
            inner: Box::new(inner),
            path: Some(path),
            persisted: good,
            dropped_on_load: dropped,
        })
    }

    pub fn used(&self) -> usize {
        self.inner.used()
    }

    pub fn compactions(&self) -> u32 {
        self.inner.compactions
    }

    fn append(&mut self) -> Result<(), JournalError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = self.inner.bytes();
        let tail = bytes.get(self.persisted..).unwrap_or(&[]);
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|_| JournalError::Io)?;
        f.write_all(tail).map_err(|_| JournalError::Io)?;
        f.sync_data().map_err(|_| JournalError::Io)?;
        self.persisted = bytes.len();
        Ok(())
    }

    fn rewrite(&mut self) -> Result<(), JournalError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, self.inner.bytes()).map_err(|_| JournalError::Io)?;
        fs::rename(&tmp, path).map_err(|_| JournalError::Io)?;
        self.persisted = self.inner.used();
        Ok(())
    }
}

impl Journal for SimJournal {
    fn commit(&mut self, records: &[Record], state: &State) -> Result<(), JournalError> {
        let mark = self.inner.used();
        let compactions = self.inner.compactions;
        self.inner.commit(records, state)?;
        if self.inner.compactions != compactions {
            return self.rewrite();
        }
        if let Err(e) = self.append() {
            // Not durable: forget the batch so memory never runs ahead of the file.
            let keep = RamJournal::<JOURNAL_BYTES>::from_bytes(
                self.inner.bytes().get(..mark).unwrap_or(&[]),
            )?;
            *self.inner = keep;
            return Err(e);
        }
        Ok(())
    }

    fn replay(&mut self, visit: &mut dyn FnMut(Entry)) -> Result<(), JournalError> {
        self.inner.replay(visit)
    }
}
