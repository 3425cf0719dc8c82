//! The journal interface that makes the agent durable (DESIGN.md §4): [`flash::FlashJournal`] on
//! NOR flash, and [`RamJournal`], a bounded RAM buffer for tests and host tools.
//!
//! Contract: `commit` makes a batch of records durable all-or-nothing before it returns `Ok`
//! ("durable before acknowledged", DESIGN.md §2.3); a journal short of room first writes a
//! snapshot of the state the records apply to (compaction); `replay` visits the latest snapshot
//! and then every committed record in order, and reports detected losses as gaps.

pub mod flash;

use crate::decode;
use crate::encode;
use crate::state::{Record, RecordRef, State};
use core::fmt;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum JournalError {
    /// No room, even after compaction.
    Full,
    /// A snapshot or record is larger than the journal can ever hold.
    TooLarge,
    /// Stored bytes do not decode.
    Corrupt,
    /// The storage device failed.
    Io,
}

impl JournalError {
    /// The error as text (what `Display` writes).
    pub const fn text(&self) -> &'static str {
        match self {
            JournalError::Full => "licensing storage full",
            JournalError::TooLarge => "licensing record too large for storage",
            JournalError::Corrupt => "licensing storage corrupt",
            JournalError::Io => "licensing storage I/O error",
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// What `replay` hands back, oldest first, with the state being rebuilt.
#[derive(Debug)]
pub enum Entry<'a> {
    /// The state now holds the newest complete snapshot: the journal built it there, in
    /// place, so no second 8.7 KB `State` is on the stack during a mount.
    Snapshot,
    /// A committed record, lent (its ACK data too: see [`RecordRef`]).
    Record(&'a RecordRef<'a>),
    /// Something committed here was modified or lost (detected by the hash chain, ADR 0009).
    Gap,
}

pub trait Journal {
    /// Make `records` durable, all or nothing. `state` is the state they apply to: a journal
    /// that runs out of room writes a snapshot of it first.
    fn commit(&mut self, records: &[RecordRef<'_>], state: &State) -> Result<(), JournalError>;
    /// Mount: rebuild `state` from the journal. The latest snapshot, if any, replaces
    /// `state` (built in it, then `Entry::Snapshot` is visited); then every committed record
    /// after it is visited, in order, with the state, for the visitor to apply. Without a
    /// snapshot `state` is left as the caller gave it (a fresh state) before the records.
    fn replay(
        &mut self,
        state: &mut State,
        visit: &mut dyn FnMut(&mut State, Entry),
    ) -> Result<(), JournalError>;
    /// The head of the journal's hash chain (zero for a journal without one): signed usage
    /// messages carry it, so the authority can see a rewritten history (DESIGN.md §4).
    fn head(&self) -> [u8; 4] {
        [0; 4]
    }
}

const TAG_SNAPSHOT: u8 = 0x53;
const TAG_RECORD: u8 = 0x52;

/// Journal in a fixed RAM buffer of `N` bytes: `[tag][u16 length][postcard]` frames.
#[derive(Debug, Clone)]
pub struct RamJournal<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// Number of compactions so far (for tests and benchmarks).
    pub compactions: u32,
}

impl<const N: usize> Default for RamJournal<N> {
    fn default() -> Self {
        RamJournal {
            buf: [0; N],
            len: 0,
            compactions: 0,
        }
    }
}

impl<const N: usize> RamJournal<N> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.len
    }

    /// The raw contents (a host tool may save and reload them).
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Rebuild from saved contents; they are checked on `replay`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, JournalError> {
        let mut j = Self::default();
        j.buf
            .get_mut(..bytes.len())
            .ok_or(JournalError::TooLarge)?
            .copy_from_slice(bytes);
        j.len = bytes.len();
        Ok(j)
    }

    /// Length of the longest prefix of `bytes` made of whole, decodable frames: what survives
    /// of a journal whose last write was torn (a host tool killed mid-write).
    pub fn valid_prefix(bytes: &[u8]) -> usize {
        let mut at = 0;
        loop {
            let Some([tag, hi, lo]) = bytes
                .get(at..at + 3)
                .and_then(|h| <[u8; 3]>::try_from(h).ok())
            else {
                return at;
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            let Some(body) = bytes.get(at + 3..at + 3 + len) else {
                return at;
            };
            let ok = match tag {
                TAG_SNAPSHOT => decode::take::<State>(body).is_ok(),
                TAG_RECORD => decode::take::<Record>(body).is_ok(),
                _ => false,
            };
            if !ok {
                return at;
            }
            at += 3 + len;
        }
    }

    fn push_frame<T: serde::Serialize>(&mut self, tag: u8, value: &T) -> Result<(), JournalError> {
        let start = self.len;
        let room = self.buf.get_mut(start + 3..).ok_or(JournalError::Full)?;
        let used = encode::to_slice(value, room).map_err(|_| JournalError::Full)?;
        let [hi, lo] = u16::try_from(used)
            .map_err(|_| JournalError::TooLarge)?
            .to_be_bytes();
        self.buf
            .get_mut(start..start + 3)
            .ok_or(JournalError::Full)?
            .copy_from_slice(&[tag, hi, lo]);
        self.len = start + 3 + used;
        Ok(())
    }
}

impl<const N: usize> Journal for RamJournal<N> {
    fn commit(&mut self, records: &[RecordRef<'_>], state: &State) -> Result<(), JournalError> {
        match self.append(records) {
            Err(JournalError::Full) => {
                self.compact(state)?;
                self.append(records)
            }
            other => other,
        }
    }

    fn replay(
        &mut self,
        state: &mut State,
        visit: &mut dyn FnMut(&mut State, Entry),
    ) -> Result<(), JournalError> {
        self.read_all(state, visit)
    }
}

impl<const N: usize> RamJournal<N> {
    fn append(&mut self, records: &[RecordRef<'_>]) -> Result<(), JournalError> {
        let mark = self.len;
        for r in records {
            if let Err(e) = self.push_frame(TAG_RECORD, r) {
                self.len = mark; // all or nothing
                return Err(e);
            }
        }
        Ok(())
    }

    /// Replace everything by one snapshot of `state`.
    pub fn compact(&mut self, state: &State) -> Result<(), JournalError> {
        // Measure first, so a snapshot that can never fit leaves the journal as it was.
        let size = encode::size_of(state).map_err(|_| JournalError::TooLarge)?;
        if size + 3 > N {
            return Err(JournalError::TooLarge);
        }
        self.len = 0;
        self.push_frame(TAG_SNAPSHOT, state)?;
        self.compactions += 1;
        Ok(())
    }

    fn read_all(
        &self,
        state: &mut State,
        visit: &mut dyn FnMut(&mut State, Entry),
    ) -> Result<(), JournalError> {
        let bytes = self.bytes();
        let mut at = 0;
        while at < bytes.len() {
            let [tag, hi, lo]: [u8; 3] = bytes
                .get(at..at + 3)
                .and_then(|h| h.try_into().ok())
                .ok_or(JournalError::Corrupt)?;
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            let body = bytes
                .get(at + 3..at + 3 + len)
                .ok_or(JournalError::Corrupt)?;
            match tag {
                TAG_SNAPSHOT => {
                    // Built in place, as the flash journal does: no second `State` (8.7 KB)
                    // on the stack. A snapshot that does not decode leaves a part-built state,
                    // and the error says so (see `Agent::reboot`).
                    decode::whole_into(body, state).map_err(|_| JournalError::Corrupt)?;
                    visit(state, Entry::Snapshot);
                }
                TAG_RECORD => {
                    let (r, _): (Record, _) =
                        decode::take(body).map_err(|_| JournalError::Corrupt)?;
                    visit(state, Entry::Record(&r.lend()));
                }
                _ => return Err(JournalError::Corrupt),
            }
            at += 3 + len;
        }
        Ok(())
    }
}
