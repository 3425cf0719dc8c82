//! The journal on NOR flash (ADR 0009, DESIGN.md §4).
//!
//! A partition of `n ≥ 2` erase sectors is used as a ring. Every sector starts with a header
//! (magic, sequence number, erase count, CRC); after it come items, each
//! `[len u16][kind u8][hcrc u8][chain 4][payload][pad][crc32 4][pad to W]` followed by a
//! separately written commit word. An item counts only when its CRC checks and its commit word
//! is complete, so a write torn anywhere leaves it uncommitted. Every word is written once
//! between erases: no `MultiwriteNorFlash` is needed.
//!
//! A generation is a snapshot (`SnapBegin`, parts, `SnapEnd`, possibly over several sectors)
//! followed by batches (the records of one input each). `commit` says `Full` when opening one
//! more sector would leave no room for the next snapshot; the agent then calls `compact`, which
//! writes a new snapshot in fresh sectors. Older sectors are dead once its `SnapEnd` is
//! committed and are erased when the ring reaches them, so a power cut during compaction leaves
//! the previous generation intact, and sectors wear evenly.
//!
//! Each item carries the first four bytes of the SHA-256 of its predecessor; a chain that does
//! not continue on mount means a committed item was modified or removed: `Entry::Gap`.

use super::{Entry, Journal, JournalError};
use crate::crc::{crc8, crc32};
use crate::decode;
use crate::encode;
use crate::state::{AckRecord, Record, RecordRef, State};
use core::marker::PhantomData;
use core::num::NonZeroU32;
use tally_hal::NorFlash;

const MAGIC: u32 = 0x314A_4C54; // "TLJ1" little-endian
const SECTOR_HEADER: usize = 16;
const ITEM_HEADER: usize = 8;
/// Largest item payload: a batch (an ACK with 32 report IDs, account and policy is ~620 bytes)
/// or one snapshot part.
pub const MAX_PAYLOAD: usize = 960;
const BUF: usize = 1024;

/// Upper bounds of one snapshot part's encoding, for the growth allowance (ADR 0009).
const GROW_PART: usize = 224;
const GROW_EVENT: usize = 64;
const GROW_META: usize = 720;

const KIND_BATCH: u8 = 1;
const KIND_SNAP_BEGIN: u8 = 2;
const KIND_SNAP_PART: u8 = 3;
const KIND_SNAP_END: u8 = 4;

/// Geometry checked when the journal type is instantiated.
struct Geometry<F>(PhantomData<F>);

impl<F: NorFlash> Geometry<F> {
    const CHECK: () = {
        assert!(
            F::WRITE_SIZE >= 1 && F::WRITE_SIZE <= 32,
            "WRITE_SIZE must be 1..=32"
        );
        assert!(
            F::ERASE_SIZE % F::WRITE_SIZE == 0,
            "ERASE_SIZE must be a multiple of WRITE_SIZE"
        );
        assert!(
            F::WRITE_SIZE % F::READ_SIZE == 0,
            "WRITE_SIZE must be a multiple of READ_SIZE"
        );
        assert!(F::ERASE_SIZE >= 1024, "sectors of at least 1 KiB");
    };
}

const fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Where the next item goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Head {
    sector: u32,
    offset: u32,
}

/// A mounted journal on a NOR flash partition.
#[derive(Debug, Clone)]
pub struct FlashJournal<F: NorFlash> {
    flash: F,
    base: u32,
    /// Non-zero by type: the ring's `%` needs no divide-by-zero check (and no panic path).
    sectors: NonZeroU32,
    head: Option<Head>,
    /// The sector of the live generation's first item (its snapshot, or the very first batch).
    gen_start: Option<u32>,
    generation: u32,
    next_seq: u32,
    chain: [u8; 4],
    /// Do not append to the head sector: it has a torn tail, or it was just mounted. A write cut
    /// at its first byte can leave a word that reads as erased but may not be programmed again,
    /// and only an erase makes it writable: after a mount the next item goes to a fresh sector.
    torn: bool,
    /// Snapshot growth still covered by the last exact room check (bytes of snapshot items).
    allowance: usize,
    mounted: bool,
    /// Commits since this journal was made (a host's way to see that nothing was written).
    commits: u64,
}

/// One sector's header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SectorInfo {
    pub seq: u32,
    pub erase_count: u32,
}

fn flash_err<E>(_: E) -> JournalError {
    JournalError::Io
}

impl<F: NorFlash> FlashJournal<F> {
    const W: usize = F::WRITE_SIZE;
    const E: usize = F::ERASE_SIZE;
    const HEADER: usize = round_up(SECTOR_HEADER, F::WRITE_SIZE);
    /// Commit word: at least four bytes, whole write words.
    const COMMIT: usize = round_up(4, F::WRITE_SIZE);

    /// A journal on `sectors` erase sectors of `flash` starting at byte `base` (a multiple of
    /// the erase size). Nothing is read until [`Journal::replay`] mounts it.
    pub fn new(flash: F, base: u32, sectors: u32) -> Result<Self, JournalError> {
        let () = Geometry::<F>::CHECK;
        let end = u64::from(base) + u64::from(sectors) * Self::E as u64;
        if sectors < 2 || !(base as usize).is_multiple_of(Self::E) || end > flash.capacity() as u64
        {
            return Err(JournalError::TooLarge);
        }
        let Some(ring) = NonZeroU32::new(sectors) else {
            return Err(JournalError::TooLarge);
        };
        Ok(FlashJournal {
            flash,
            base,
            sectors: ring,
            head: None,
            gen_start: None,
            generation: 0,
            next_seq: 1,
            chain: [0; 4],
            torn: false,
            allowance: 0,
            mounted: false,
            commits: 0,
        })
    }

    /// The flash, for a host that saves or inspects it.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    pub fn into_flash(self) -> F {
        self.flash
    }

    /// Batches committed by this instance.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Mount results, for diagnosing tests.
    #[doc(hidden)]
    pub fn debug_head(&self) -> heapless::String<96> {
        let mut s = heapless::String::new();
        let _ = core::fmt::write(
            &mut s,
            format_args!(
                "head {:?} gen_start {:?} torn {} next_seq {}",
                self.head, self.gen_start, self.torn, self.next_seq
            ),
        );
        s
    }

    fn addr(&self, sector: u32, offset: usize) -> u32 {
        self.base + sector * Self::E as u32 + offset as u32
    }

    /// Header of sector `s`, if it has a valid one.
    pub fn sector_info(&mut self, s: u32) -> Option<SectorInfo> {
        let mut h = [0u8; 32];
        let len = Self::HEADER.min(h.len());
        let buf = h.get_mut(..len)?;
        self.flash.read(self.addr(s, 0), buf).ok()?;
        let word = |i: usize| {
            h.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let (magic, seq, erases, crc) = (word(0)?, word(4)?, word(8)?, word(12)?);
        let ok = magic == MAGIC && crc == crc32(h.get(..12)?);
        ok.then_some(SectorInfo {
            seq,
            erase_count: erases,
        })
    }

    /// Erase counts of every sector (0 for a sector without a valid header).
    pub fn erase_counts(&mut self, out: &mut [u32]) {
        for (s, slot) in (0..self.sectors.get()).zip(out.iter_mut()) {
            *slot = self.sector_info(s).map_or(0, |i| i.erase_count);
        }
    }

    fn sector_bytes() -> usize {
        Self::E - Self::HEADER
    }

    fn item_size(payload: usize) -> usize {
        round_up(round_up(ITEM_HEADER + payload, 4) + 4, Self::W) + Self::COMMIT
    }

    /// Sectors of the live generation, from its first to the head, in ring order.
    fn live_sectors(&self) -> u32 {
        match (self.gen_start, self.head) {
            (Some(g), Some(h)) => (h.sector + self.sectors.get() - g) % self.sectors + 1,
            _ => 0,
        }
    }

    /// Whether a snapshot of `state`, plus `extra` bytes of growth, fits in `free` fresh
    /// sectors: its items are laid out exactly as `compact` would write them.
    /// Payload bytes packed into one snapshot item: several parts share an item's framing, and
    /// an item stays well under a sector.
    fn pack_limit() -> usize {
        MAX_PAYLOAD.min(Self::sector_bytes() / 2 - Self::item_size(0))
    }

    /// Snapshot growth (bytes) that still fits in `free` fresh sectors after a snapshot of
    /// `state`, its items laid out and packed exactly as `write_snapshot` does; `None` if the
    /// snapshot itself does not fit.
    fn snapshot_slack(
        state: &State,
        free: u32,
        buf: &mut [u8; BUF],
    ) -> Result<Option<usize>, JournalError> {
        let mut sectors = 1u32;
        let mut off = Self::HEADER;
        let mut place = |size: usize| {
            if off + size > Self::E {
                sectors += 1;
                off = Self::HEADER;
            }
            off += size;
        };
        place(Self::item_size(4));
        let mut packed = 0;
        for part in state.parts_ref() {
            let len = Self::encode(&part, buf)?;
            if packed > 0 && packed + len > Self::pack_limit() {
                place(Self::item_size(packed));
                packed = 0;
            }
            packed += len;
        }
        if packed > 0 {
            place(Self::item_size(packed));
        }
        place(Self::item_size(4));
        if sectors > free {
            return Ok(None);
        }
        // Growth is counted in whole items of the largest part: conservative.
        let big = Self::item_size(GROW_PART);
        let in_last = (Self::E - off) / big;
        let per_sector = Self::sector_bytes() / big;
        let items = in_last + (free - sectors) as usize * per_sector;
        Ok(Some(items * big))
    }

    /// Snapshot growth a batch can cause at most (bytes of snapshot items).
    fn growth_bound(records: &[RecordRef<'_>]) -> usize {
        let report = Self::item_size(GROW_PART);
        let event = Self::item_size(GROW_EVENT);
        records
            .iter()
            .map(|r| {
                // Every record may lengthen some varints (times, integrals) a little.
                let varints = 2 * crate::limits::Limits::REPORTS;
                varints
                    + match r {
                        Record::Measure { .. } => 0,
                        Record::Usage { .. } => report + 2 * event,
                        Record::CloseAll { .. } => crate::limits::Limits::LICENSES * report + event,
                        Record::Ack { .. }
                        | Record::PolicyInstalled { .. }
                        | Record::Config { .. } => Self::item_size(GROW_META) + 2 * event,
                        _ => event,
                    }
            })
            .sum()
    }

    /// Erase the next sector in ring order and make it the head. `guard` is the first sector of
    /// data that must survive (the live generation): reaching it means the partition is full.
    fn open_sector(&mut self, guard: Option<u32>) -> Result<(), JournalError> {
        let next = self.head.map_or(0, |h| (h.sector + 1) % self.sectors);
        if guard == Some(next) {
            return Err(JournalError::Full);
        }
        let previous = match self.sector_info(next) {
            Some(i) => i.erase_count,
            // Never written: 0. A torn header lost its count: assume the highest known.
            None if self.erased_from(next, 0) => 0,
            // A plain loop: `filter_map().map().max()` was 40 B more.
            None => {
                let mut max = 0;
                for s in 0..self.sectors.get() {
                    if let Some(i) = self.sector_info(s) {
                        max = max.max(i.erase_count);
                    }
                }
                max
            }
        };
        let from = self.addr(next, 0);
        self.flash
            .erase(from, from + Self::E as u32)
            .map_err(flash_err)?;
        let mut h = [0xFFu8; 32];
        h[..4].copy_from_slice(&MAGIC.to_le_bytes());
        h[4..8].copy_from_slice(&self.next_seq.to_le_bytes());
        h[8..12].copy_from_slice(&previous.saturating_add(1).to_le_bytes());
        let crc = crc32(&h[..12]);
        h[12..16].copy_from_slice(&crc.to_le_bytes());
        self.flash
            .write(from, h.get(..Self::HEADER).ok_or(JournalError::Io)?)
            .map_err(flash_err)?;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.head = Some(Head {
            sector: next,
            offset: Self::HEADER as u32,
        });
        self.torn = false;
        Ok(())
    }

    /// Write one item (payload already at `buf[ITEM_HEADER..ITEM_HEADER + len]`) at the head.
    fn write_item(
        &mut self,
        kind: u8,
        buf: &mut [u8; BUF],
        len: usize,
    ) -> Result<(), JournalError> {
        let Some(head) = self.head else {
            return Err(JournalError::Io);
        };
        // Every caller's payload is at most `MAX_PAYLOAD` (`encode`, `pack_limit`); said here,
        // the item's ranges below are within `buf` by construction and need no checks.
        if len > MAX_PAYLOAD {
            return Err(JournalError::TooLarge);
        }
        let body = round_up(ITEM_HEADER + len, 4) + 4;
        let padded = round_up(body, Self::W);
        let [l0, l1] = (len as u16).to_le_bytes();
        buf[0] = l0;
        buf[1] = l1;
        buf[2] = kind;
        buf[3] = crc8(&[l0, l1, kind]);
        buf[4..8].copy_from_slice(&self.chain);
        // Both pads (before the CRC and after it) in one fill; the CRC goes over the first.
        if let Some(pad) = buf.get_mut(ITEM_HEADER + len..padded) {
            pad.fill(0xFF);
        }
        let crc = crc32(buf.get(..body - 4).ok_or(JournalError::TooLarge)?);
        buf.get_mut(body - 4..body)
            .ok_or(JournalError::TooLarge)?
            .copy_from_slice(&crc.to_le_bytes());
        let at = self.addr(head.sector, head.offset as usize);
        self.flash
            .write(at, buf.get(..padded).ok_or(JournalError::TooLarge)?)
            .map_err(flash_err)?;
        let commit = [0u8; 32];
        let commit = commit.get(..Self::COMMIT).ok_or(JournalError::Io)?;
        self.flash
            .write(at + padded as u32, commit)
            .map_err(flash_err)?;
        self.chain = chain_of(buf.get(..body).ok_or(JournalError::Io)?);
        self.head = Some(Head {
            sector: head.sector,
            offset: head.offset + (padded + Self::COMMIT) as u32,
        });
        Ok(())
    }

    #[inline(never)] // four callers
    fn room_in_head(&self, size: usize) -> bool {
        match self.head {
            Some(h) if !self.torn => h.offset as usize + size <= Self::E,
            _ => false,
        }
    }

    /// Through a `dyn` [`encode::Encode`]: one `to_slice` for the generation, the batches and
    /// the snapshot parts instead of one each (-64 B; out of line +104 B).
    fn encode(value: &dyn encode::Encode, buf: &mut [u8; BUF]) -> Result<usize, JournalError> {
        let room = buf
            .get_mut(ITEM_HEADER..ITEM_HEADER + MAX_PAYLOAD)
            .ok_or(JournalError::TooLarge)?;
        encode::to_slice_dyn(value, room).map_err(|_| JournalError::TooLarge)
    }

    fn check_mounted(&self) -> Result<(), JournalError> {
        if self.mounted {
            Ok(())
        } else {
            Err(JournalError::Io)
        }
    }
}

// Always inline: a call to `sha256` and a copy, smaller at its two callers than a call.
#[inline(always)]
fn chain_of(item: &[u8]) -> [u8; 4] {
    let d = crate::crypto::sha256(&[item]);
    let mut c = [0u8; 4];
    c.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    c
}

/// What one scanned item is.
#[derive(Debug)]
enum Scanned<'a> {
    /// A committed item: kind, payload, chain field, and the chain value after it.
    Item {
        kind: u8,
        payload: &'a [u8],
        chain: [u8; 4],
        next_chain: [u8; 4],
    },
    /// An item whose header checks but that never committed (torn) or whose body is corrupt.
    Broken,
}

impl<F: NorFlash> FlashJournal<F> {
    /// Read and check the item header at (`sector`, `offset`) into `buf`: the payload length,
    /// the item body (header, payload, pad, CRC), the body padded to words, and the whole size
    /// with the commit word. `None` where no item starts (erased space, garbage, or an item that
    /// would not fit in the sector).
    fn item_header(
        &mut self,
        sector: u32,
        offset: usize,
        buf: &mut [u8; BUF],
    ) -> Option<(usize, usize, usize, usize)> {
        let first = round_up(ITEM_HEADER, Self::W);
        if offset + first > Self::E {
            return None;
        }
        self.flash
            .read(self.addr(sector, offset), buf.get_mut(..first)?)
            .ok()?;
        let (l0, l1, kind, hcrc) = (buf[0], buf[1], buf[2], buf[3]);
        if crc8(&[l0, l1, kind]) != hcrc || !(KIND_BATCH..=KIND_SNAP_END).contains(&kind) {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([l0, l1]));
        if len > MAX_PAYLOAD {
            return None;
        }
        let body = round_up(ITEM_HEADER + len, 4) + 4;
        let padded = round_up(body, Self::W);
        let size = padded + Self::COMMIT;
        (offset + size <= Self::E).then_some((len, body, padded, size))
    }

    /// Where the next item of a sector starts at or after `offset`, and whether committed
    /// items had to be searched for past a hole. Committed items are contiguous in a sector (a
    /// torn tail is never appended to), so a committed item found past unreadable bytes means
    /// something before it was erased or overwritten: tampering, not a power cut.
    fn next_item(
        &mut self,
        sector: u32,
        offset: usize,
        buf: &mut [u8; BUF],
    ) -> Option<(usize, bool)> {
        if self.item_header(sector, offset, buf).is_some() {
            return Some((offset, false));
        }
        let mut at = round_up(offset + 1, Self::W);
        while at + round_up(ITEM_HEADER, Self::W) <= Self::E {
            // `scan` checks the header first.
            if matches!(
                self.scan(sector, at, buf, false),
                Some((Scanned::Item { .. }, _))
            ) {
                return Some((at, true));
            }
            at += Self::W;
        }
        None
    }

    /// Read the item at (`sector`, `offset`): `None` at the end of the sector's data (erased
    /// space, or a header that does not check: the rest of the sector cannot be read).
    /// `with_chain`: compute the chain value after the item (a SHA-256; only replay needs it).
    fn scan<'b>(
        &mut self,
        sector: u32,
        offset: usize,
        buf: &'b mut [u8; BUF],
        with_chain: bool,
    ) -> Option<(Scanned<'b>, usize)> {
        let (len, body, padded, size) = self.item_header(sector, offset, buf)?;
        let first = round_up(ITEM_HEADER, Self::W);
        if padded > first {
            self.flash
                .read(
                    self.addr(sector, offset + first),
                    buf.get_mut(first..padded)?,
                )
                .ok()?;
        }
        let mut commit = [0u8; 32];
        let commit = commit.get_mut(..Self::COMMIT)?;
        self.flash
            .read(self.addr(sector, offset + padded), commit)
            .ok()?;
        let stored = u32::from_le_bytes(buf.get(body - 4..body)?.try_into().ok()?);
        let ok = commit.iter().all(|b| *b == 0) && stored == crc32(buf.get(..body - 4)?);
        if !ok {
            return Some((Scanned::Broken, size));
        }
        let kind = buf[2];
        let chain: [u8; 4] = buf.get(4..8)?.try_into().ok()?;
        let next_chain = if with_chain {
            chain_of(buf.get(..body)?)
        } else {
            [0; 4]
        };
        let payload = buf.get(ITEM_HEADER..ITEM_HEADER + len)?;
        Some((
            Scanned::Item {
                kind,
                payload,
                chain,
                next_chain,
            },
            size,
        ))
    }

    /// Valid sectors in log order (by sequence number, then index), and the newest sector's
    /// sequence number. Indexes are bytes
    /// (`MAX_SECTORS` is 256), and the sequence numbers are sorted by here only: the replay
    /// that goes on with `order` holds 256 bytes of it, not 2 KB of (sequence, index) pairs.
    #[inline(never)]
    fn log_order(&mut self, order: &mut [u8; MAX_SECTORS]) -> (usize, Option<u32>) {
        let mut seqs = [0u32; MAX_SECTORS];
        let mut n = 0;
        for s in 0..self.sectors.get() {
            if let Some(info) = self.sector_info(s)
                && let Some(slot) = order.get_mut(n)
                && let Ok(index) = u8::try_from(s)
            {
                *slot = index;
                if let Some(q) = seqs.get_mut(usize::from(index)) {
                    *q = info.seq;
                }
                n += 1;
            }
        }
        if let Some(o) = order.get_mut(..n) {
            crate::sort::sort_by_key(o, |s| (seqs.get(usize::from(*s)).copied().unwrap_or(0), *s));
        }
        let newest = order
            .get(..n)
            .and_then(<[u8]>::last)
            .and_then(|s| seqs.get(usize::from(*s)))
            .copied();
        (n, newest)
    }
}

/// Sectors a partition may have (bounds the mount's working set).
pub const MAX_SECTORS: usize = 256;

impl<F: NorFlash> FlashJournal<F> {
    /// Write a snapshot of `state` into fresh sectors after the head. Until its `SnapEnd` is
    /// committed the previous generation stays whole; after it, every older sector is dead.
    pub fn compact(&mut self, state: &State) -> Result<(), JournalError> {
        self.compact_in(state, &mut [0xFF; BUF])
    }

    /// [`FlashJournal::compact`] with the caller's item buffer (a commit lends its own: one
    /// kilobyte less stack).
    fn compact_in(&mut self, state: &State, buf: &mut [u8; BUF]) -> Result<(), JournalError> {
        self.check_mounted()?;
        let chain = self.chain;
        let result = self.write_snapshot(state, buf);
        if result.is_err() {
            // The items written so far are garbage: keep them out of the chain, and do not
            // append after them.
            self.chain = chain;
            self.torn = true;
        }
        result
    }

    fn write_snapshot(&mut self, state: &State, buf: &mut [u8; BUF]) -> Result<(), JournalError> {
        let guard = self.gen_start;
        let generation = self.generation.wrapping_add(1);
        // A snapshot starts a sector of its own, so the sectors before it die with it.
        self.open_sector(guard)?;
        let first = self.head.map(|h| h.sector);
        let put =
            |j: &mut Self, kind: u8, len: usize, buf: &mut [u8; BUF]| -> Result<(), JournalError> {
                if !j.room_in_head(Self::item_size(len)) {
                    j.open_sector(guard)?;
                }
                j.write_item(kind, buf, len)
            };
        let len = Self::encode(&generation, buf)?;
        put(self, KIND_SNAP_BEGIN, len, buf)?;
        // Parts are packed several to an item; each postcard encoding delimits itself.
        let mut packed = 0;
        for part in state.parts_ref() {
            let room = buf
                .get_mut(ITEM_HEADER + packed..ITEM_HEADER + Self::pack_limit())
                .ok_or(JournalError::TooLarge)?;
            match encode::to_slice_dyn(&part, room) {
                Ok(n) => packed += n,
                Err(_) if packed > 0 => {
                    put(self, KIND_SNAP_PART, packed, buf)?;
                    packed = Self::encode(&part, buf)?;
                }
                Err(_) => return Err(JournalError::TooLarge),
            }
        }
        if packed > 0 {
            put(self, KIND_SNAP_PART, packed, buf)?;
        }
        let len = Self::encode(&generation, buf)?;
        put(self, KIND_SNAP_END, len, buf)?;
        self.generation = generation;
        self.gen_start = first;
        self.allowance = 0;
        Ok(())
    }
}

impl<F: NorFlash> Journal for FlashJournal<F> {
    fn commit(&mut self, records: &[RecordRef<'_>], state: &State) -> Result<(), JournalError> {
        self.check_mounted()?;
        let mut buf = [0xFFu8; BUF];
        let len = Self::encode(&records, &mut buf)?;
        let size = Self::item_size(len);
        if size > Self::sector_bytes() {
            return Err(JournalError::TooLarge);
        }
        // Invariant: the sectors outside the live generation can hold a snapshot of the state
        // (plus what this batch may add), so compaction is always possible. Checked exactly
        // when opening a sector or when the batch could outgrow the last check's allowance.
        let opening = !self.room_in_head(size);
        let growth = Self::growth_bound(records);
        if self.gen_start.is_some() && (opening || growth > self.allowance) {
            let free = self
                .sectors
                .get()
                .saturating_sub(self.live_sectors() + u32::from(opening));
            self.allowance = match Self::snapshot_slack(state, free, &mut buf)? {
                Some(slack) if slack >= growth => slack,
                _ => {
                    self.compact_in(state, &mut buf)?;
                    let opening = !self.room_in_head(size);
                    let free = self
                        .sectors
                        .get()
                        .saturating_sub(self.live_sectors() + u32::from(opening));
                    match Self::snapshot_slack(state, free, &mut buf)? {
                        Some(slack) if slack >= growth => slack,
                        _ => return Err(JournalError::TooLarge),
                    }
                }
            };
            Self::encode(&records, &mut buf)?;
        }
        if !self.room_in_head(size) {
            self.open_sector(self.gen_start)?;
            if self.gen_start.is_none() {
                self.gen_start = self.head.map(|h| h.sector);
            }
        }
        self.allowance = self.allowance.saturating_sub(growth);
        if let Err(e) = self.write_item(KIND_BATCH, &mut buf, len) {
            // Part of the item may be programmed: never write after it (see `torn`).
            self.torn = true;
            return Err(e);
        }
        self.commits += 1;
        Ok(())
    }

    fn head(&self) -> [u8; 4] {
        self.chain
    }

    fn replay(
        &mut self,
        state: &mut State,
        visit: &mut dyn FnMut(&mut State, Entry),
    ) -> Result<(), JournalError> {
        let mut order = [0u8; MAX_SECTORS];
        if self.sectors.get() as usize > MAX_SECTORS {
            return Err(JournalError::TooLarge);
        }
        let (n, newest) = self.log_order(&mut order);
        let order = order.get(..n).unwrap_or(&[]);
        let mut buf = [0xFFu8; BUF];

        // Pass 1: the newest complete snapshot (its position in `order`, offset, generation).
        let mut start: Option<(usize, usize, u32)> = None;
        let mut open: Option<(usize, usize, u32)> = None;
        for (i, s) in order.iter().map(|s| u32::from(*s)).enumerate() {
            let mut off = Self::HEADER;
            while let Some((at, _)) = self.next_item(s, off, &mut buf) {
                off = at;
                let Some((item, size)) = self.scan(s, off, &mut buf, false) else {
                    break;
                };
                if let Scanned::Item { kind, payload, .. } = item {
                    match kind {
                        KIND_SNAP_BEGIN => open = gen_of(payload).map(|g| (i, off, g)),
                        KIND_SNAP_END => {
                            if let (Some(o), Some(g)) = (open, gen_of(payload))
                                && o.2 == g
                            {
                                start = Some(o);
                            }
                            open = None;
                        }
                        _ => {}
                    }
                }
                off += size;
            }
        }

        // Pass 2: replay from there.
        let (from_i, from_off, generation) = start.map_or((0, Self::HEADER, 0), |s| s);
        // The chosen snapshot is built in `state` itself (no second `State` on the stack):
        // `pending` until its BEGIN, `in_snapshot` from there to its END.
        let mut pending = start.is_some();
        let mut in_snapshot = false;
        let mut expected: Option<[u8; 4]> = None;
        // The last item that belongs to the state (a batch, or the chosen snapshot) and the chain
        // after it. Anything later (an interrupted compaction) is garbage to be reused.
        let mut live: Option<(Head, [u8; 4])> = None;
        // The first sector from the snapshot's offset, the others from their header.
        let mut next_off = from_off;
        for s in order
            .get(from_i..)
            .unwrap_or(&[])
            .iter()
            .map(|s| u32::from(*s))
        {
            let mut off = core::mem::replace(&mut next_off, Self::HEADER);
            while let Some((at, after_hole)) = self.next_item(s, off, &mut buf) {
                // A gap inside the snapshot being built is not visited: the snapshot replaces
                // whatever the state was (as when it was built aside and swapped in).
                if after_hole && !in_snapshot {
                    visit(state, Entry::Gap);
                }
                off = at;
                let Some((item, size)) = self.scan(s, off, &mut buf, true) else {
                    break;
                };
                if let Scanned::Item {
                    kind,
                    payload,
                    chain,
                    next_chain,
                } = item
                {
                    // Only items that belong to the state are chained (an interrupted compaction
                    // leaves items that are not).
                    let chosen_begin =
                        kind == KIND_SNAP_BEGIN && pending && gen_of(payload) == Some(generation);
                    let keeps = kind == KIND_BATCH || in_snapshot || chosen_begin;
                    if keeps {
                        if expected.is_some_and(|e| e != chain) && !in_snapshot && !chosen_begin {
                            visit(state, Entry::Gap);
                        }
                        expected = Some(next_chain);
                    }
                    match kind {
                        KIND_SNAP_BEGIN => {
                            in_snapshot = chosen_begin;
                            if in_snapshot {
                                pending = false;
                                state.reset(0);
                                live = Some((
                                    Head {
                                        sector: s,
                                        offset: (off + size) as u32,
                                    },
                                    next_chain,
                                ));
                            }
                        }
                        KIND_SNAP_PART if in_snapshot => replay_parts(payload, state),
                        KIND_SNAP_END if in_snapshot => {
                            in_snapshot = false;
                            visit(state, Entry::Snapshot);
                        }
                        KIND_BATCH => replay_batch(payload, state, visit),
                        _ => {}
                    }
                    if keeps {
                        live = Some((
                            Head {
                                sector: s,
                                offset: (off + size) as u32,
                            },
                            next_chain,
                        ));
                    }
                }
                off += size;
            }
        }

        if in_snapshot {
            // Its END did not read back this time (pass 1 saw it): as if none was chosen.
            state.reset(0);
        }
        self.head = live.map(|(h, _)| h);
        // Whatever the tail looks like, the next item goes to a fresh sector (see `torn`).
        self.torn = true;
        self.gen_start = live.and(order.get(from_i).map(|s| u32::from(*s)));

        self.generation = generation;
        self.next_seq = newest.map_or(1, |seq| seq.wrapping_add(1));
        self.chain = live.map_or([0; 4], |(_, c)| c);
        self.allowance = 0;
        self.mounted = true;
        Ok(())
    }
}

/// The generation a snapshot's BEGIN or END item names (one body for both passes).
fn gen_of(payload: &[u8]) -> Option<u32> {
    decode::Reader::new(payload).read().ok()
}

/// The snapshot parts of one item, added to `state`. Not inlined into `replay`: the decoders'
/// temporaries then share the stack with `replay_batch`'s instead of adding to them.
#[inline(never)]
fn replay_parts(payload: &[u8], state: &mut State) {
    decode::parts_into(payload, state);
}

/// The records of one batch, visited in order (not inlined: see `replay_parts`).
#[inline(never)]
fn replay_batch(payload: &[u8], state: &mut State, visit: &mut dyn FnMut(&mut State, Entry)) {
    let Ok((count, rest)) = decode::take::<usize>(payload) else {
        return;
    };
    // One record at a time, decoded in place: an ACK in its own frame (`replay_ack`: its data
    // is 1.2 KB), any other record into `small` (336 bytes).
    let mut r = decode::Reader::new(rest);
    let mut small: RecordRef<'static> = Record::Measure {
        t: Default::default(),
    };
    for _ in 0..count.min(16) {
        let Ok((variant, t)) = decode::record_head(&mut r) else {
            return;
        };
        if variant == decode::ACK_RECORD {
            if replay_ack(&mut r, t, state, visit).is_err() {
                return;
            }
        } else {
            if decode::small_record_into(variant, t, &mut r, &mut small).is_err() {
                return;
            }
            visit(state, Entry::Record(&small));
        }
    }
}

/// One ACK record of a batch, decoded and visited.
#[inline(never)]
fn replay_ack(
    r: &mut decode::Reader<'_>,
    t: tally_hal::Timestamp,
    state: &mut State,
    visit: &mut dyn FnMut(&mut State, Entry),
) -> decode::Result<()> {
    let mut ack = AckRecord::default();
    decode::Decode::decode_into(r, &mut ack)?;
    visit(state, Entry::Record(&Record::Ack { t, ack: &ack }));
    Ok(())
}

impl<F: NorFlash> FlashJournal<F> {
    /// Whether the sector is erased (all 0xFF) from `offset` to its end.
    fn erased_from(&mut self, sector: u32, offset: usize) -> bool {
        let mut chunk = [0u8; 64];
        let mut at = offset;
        while at < Self::E {
            let n = (Self::E - at).min(chunk.len());
            let Some(c) = chunk.get_mut(..n) else {
                return false;
            };
            if self.flash.read(self.addr(sector, at), c).is_err() || c.iter().any(|b| *b != 0xFF) {
                return false;
            }
            at += n;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Agent, Identity, Release};
    use crate::rum::{Flag, StorageState};
    use heapless::Vec;
    use tally_hal::mock::{MockFlash, RecordingSink};
    use tally_hal::{Enforcement, LicenseDef, Term, Timestamp, Udi};

    fn identity() -> Identity {
        let mut catalogue = Vec::new();
        for (name, term) in [("perp", Term::Perpetual), ("sub", Term::Subscription)] {
            let def = LicenseDef::new(name, name, "regid.x", name, Enforcement::Unenforced, term)
                .unwrap();
            catalogue.push(def).unwrap();
        }
        Identity {
            udi: Udi::new("PID", "SN").unwrap(),
            members: Vec::new(),
            catalogue,
            partner: true,
            release: Release::V17_7,
            authority_keys: Vec::new(),
            trust: Default::default(),
        }
    }

    /// The state a fresh mount of `journal` gives.
    fn fold<J: Journal>(journal: &mut J) -> State {
        let ident = identity();
        let mut st = State::new(ident.catalogue.len());
        journal
            .replay(&mut st, &mut |st, e| match e {
                Entry::Snapshot => {}
                Entry::Record(r) => st.apply(&ident.catalogue, r),
                Entry::Gap => st.mark_missing(),
            })
            .unwrap();
        st.fit_catalogue(ident.catalogue.len());
        st
    }

    /// Months of usage changes and measurements: many sectors, several compactions.
    fn workload<const W: usize, const E: usize>(
        sectors: usize,
        steps: u64,
    ) -> (State, MockFlash<W, E>) {
        let journal =
            FlashJournal::new(MockFlash::<W, E>::new(sectors), 0, sectors as u32).unwrap();
        let mut agent = Agent::boot(identity(), journal, Timestamp(1_000_000)).unwrap();
        let mut sink = RecordingSink::default();
        let mut t = Timestamp(1_000_000);
        for i in 0..steps {
            t = t.add_secs(600);
            agent
                .set_usage(t, if i % 3 == 0 { "sub" } else { "perp" }, (i % 5) as u32)
                .unwrap();
            agent.tick(t, &mut sink).unwrap();
        }
        let state = agent.state().clone();
        (state, agent.into_journal().into_flash())
    }

    fn round_trip<const W: usize, const E: usize>(sectors: usize, steps: u64) {
        std::println!("round trip W={W} E={E} x{sectors}");
        let (state, flash) = workload::<W, E>(sectors, steps);
        let erases = flash.stats.erases;
        assert!(
            erases > sectors as u64,
            "W={W} E={E}: the ring must have wrapped ({erases} erases)"
        );
        let mut j = FlashJournal::new(flash, 0, sectors as u32).unwrap();
        assert_eq!(
            fold(&mut j),
            state,
            "W={W} E={E}: a fresh mount gives the state back"
        );
        let counts = {
            let mut c = [0u32; 64];
            j.erase_counts(&mut c);
            c
        };
        let used = counts.get(..sectors).unwrap();
        let (lo, hi) = (used.iter().min().unwrap(), used.iter().max().unwrap());
        assert!(hi - lo <= 1, "W={W} E={E}: even wear, got {used:?}");
    }

    #[test]
    fn every_write_size_round_trips_and_wears_evenly() {
        round_trip::<1, 1024>(16, 3000);
        round_trip::<4, 1024>(12, 3000);
        round_trip::<8, 2048>(8, 3000);
        round_trip::<16, 4096>(4, 4000);
        round_trip::<32, 4096>(6, 4000);
    }

    #[test]
    fn a_torn_write_is_ignored_and_never_written_over() {
        let (state, mut flash) = workload::<4, 1024>(12, 400);
        // Cut the next write after 10 bytes: the batch is not committed.
        let journal = {
            flash.cut_power_after(10);
            let mut j = FlashJournal::new(flash, 0, 12).unwrap();
            let mut st = State::new(2);
            j.replay(&mut st, &mut |_, _| {}).unwrap();
            let r = j.commit(
                &[Record::Measure {
                    t: Timestamp(9_000_000),
                }],
                &state,
            );
            assert_eq!(r, Err(JournalError::Io));
            j.into_flash()
        };
        let mut flash = journal;
        flash.restore_power();
        let mut j = FlashJournal::new(flash, 0, 12).unwrap();
        assert_eq!(fold(&mut j), state, "the torn batch is not there");
        // The next commit goes to a fresh sector and is found by the next mount.
        j.commit(
            &[Record::Measure {
                t: Timestamp(9_000_000),
            }],
            &state,
        )
        .unwrap();
        let mut after = state.clone();
        after.apply(
            &identity().catalogue,
            &Record::Measure {
                t: Timestamp(9_000_000),
            },
        );
        let mut j = FlashJournal::new(j.into_flash(), 0, 12).unwrap();
        assert_eq!(fold(&mut j), after);
    }

    #[test]
    fn a_modified_record_is_detected_and_its_reports_flagged() {
        let (state, mut flash) = workload::<4, 4096>(4, 60);
        assert!(
            state
                .reports
                .iter()
                .any(|r| r.storage == StorageState::Exist)
        );
        // Change one payload bit of the third item of the head sector: a committed batch with
        // committed items after it.
        let mut j = FlashJournal::new(flash.clone(), 0, 4).unwrap();
        let _ = fold(&mut j);
        let sector = j.head.unwrap().sector;
        let mut off = FlashJournal::<MockFlash<4, 4096>>::HEADER;
        let mut buf = [0u8; BUF];
        for _ in 0..2 {
            off += j.scan(sector, off, &mut buf, true).unwrap().1;
        }
        assert!(matches!(
            j.scan(sector, off, &mut buf, true),
            Some((
                Scanned::Item {
                    kind: KIND_BATCH,
                    ..
                },
                _
            ))
        ));
        let item = j.addr(sector, off) as usize;
        flash.flip_bit(item + ITEM_HEADER + 1, 0);
        let mut j = FlashJournal::new(flash, 0, 4).unwrap();
        let st = fold(&mut j);
        // The reports that existed when the record was written are flagged; later ones are whole.
        let missing = st
            .reports
            .iter()
            .filter(|r| r.storage == StorageState::Missing && r.flag == Flag::E)
            .count();
        assert!(
            missing > 0,
            "reports not yet acknowledged at the gap are flagged E / MISSING"
        );
        assert_eq!(
            st.reports.len(),
            state.reports.len(),
            "the mount still succeeds"
        );
    }

    /// A snapshot that starts after other items of its sector: `compact` never writes one
    /// (a snapshot opens a sector of its own), but a mount must still start the replay at its
    /// BEGIN, not at the sector's first item. The batch before it is not visited, the
    /// snapshot's state replaces the caller's, and the batch after it is applied on top.
    #[test]
    fn a_snapshot_that_starts_mid_sector_is_replayed_from_its_begin() {
        let cat = identity().catalogue;
        let usage = |t: u64, lic: u8, count: u32| Record::Usage {
            t: Timestamp(t),
            lic,
            count,
        };
        let mut j = FlashJournal::new(MockFlash::<4, 1024>::new(4), 0, 4).unwrap();
        let mut st = State::new(cat.len());
        j.replay(&mut st, &mut |_, _| {}).unwrap();
        // Batch A: perp in use 3. Then, in the same sector, a snapshot of a state that never
        // saw A (sub in use 7), written as `write_snapshot` writes one, minus its fresh sector.
        j.commit(&[usage(100, 0, 3)], &st).unwrap();
        let mut snap = State::new(cat.len());
        snap.apply(&cat, &usage(200, 1, 7));
        let head = j.head.unwrap();
        let mut buf = [0xFFu8; BUF];
        let generation = j.generation + 1;
        let len = FlashJournal::<MockFlash<4, 1024>>::encode(&generation, &mut buf).unwrap();
        j.write_item(KIND_SNAP_BEGIN, &mut buf, len).unwrap();
        for part in snap.parts_ref() {
            let len = FlashJournal::<MockFlash<4, 1024>>::encode(&part, &mut buf).unwrap();
            j.write_item(KIND_SNAP_PART, &mut buf, len).unwrap();
        }
        let len = FlashJournal::<MockFlash<4, 1024>>::encode(&generation, &mut buf).unwrap();
        j.write_item(KIND_SNAP_END, &mut buf, len).unwrap();
        assert_eq!(j.head.unwrap().sector, head.sector, "crafted in one sector");
        j.generation = generation;
        // Batch C after it (a fresh sector: the journal is still marked torn from its mount).
        j.commit(&[usage(300, 0, 5)], &snap).unwrap();

        let mut mounted = FlashJournal::new(j.into_flash(), 0, 4).unwrap();
        let mut st = State::new(cat.len());
        st.apply(&cat, &usage(50, 1, 1)); // what the caller had: replaced by the snapshot
        let mut seen: std::vec::Vec<std::string::String> = std::vec::Vec::new();
        mounted
            .replay(&mut st, &mut |st, e| {
                seen.push(std::format!("{e:?}"));
                if let Entry::Record(r) = e {
                    st.apply(&cat, r);
                }
            })
            .unwrap();
        assert_eq!(seen.len(), 2, "the snapshot, then batch C only: {seen:?}");
        assert_eq!(seen[0], "Snapshot");
        assert!(seen[1].contains("count: 5"), "{seen:?}");
        let mut expected = snap.clone();
        expected.apply(&cat, &usage(300, 0, 5));
        assert_eq!(st, expected);
        assert_eq!(mounted.generation, generation);
    }

    #[test]
    fn bad_geometry_and_unmounted_use_are_errors() {
        // 0 and 1 sector: no ring (the journal's `%` is by a non-zero count).
        assert!(FlashJournal::new(MockFlash::<4, 1024>::new(4), 0, 0).is_err());
        assert!(FlashJournal::new(MockFlash::<4, 1024>::new(4), 0, 1).is_err());
        assert!(FlashJournal::new(MockFlash::<4, 1024>::new(4), 512, 2).is_err());
        assert!(FlashJournal::new(MockFlash::<4, 1024>::new(4), 0, 5).is_err());
        let mut j = FlashJournal::new(MockFlash::<4, 1024>::new(4), 0, 4).unwrap();
        assert_eq!(
            j.commit(&[], &State::default()),
            Err(JournalError::Io),
            "mount first"
        );
    }
}
