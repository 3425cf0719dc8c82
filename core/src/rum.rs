//! RUM reports: one stream per license (RUM-2), their lifecycle states, flags and reasons
//! (RUM-5..7, RUM-10) and change-compressed 15-minute measurements (RUM-9, DESIGN.md §3).

use crate::limits::Limits;
use heapless::Vec;
use serde::{Deserialize, Serialize};
use tally_hal::Timestamp;

/// Processing state (RUM-5). `PENDING` is the transient in-flight state: it is shown while a
/// push is on the wire and is never persisted (a power cut mid-push leaves the report CLOSED).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportState {
    Open,
    Closed,
    Pending,
    Unack,
    Ack,
}

impl ReportState {
    pub const fn label(self) -> &'static str {
        match self {
            ReportState::Open => "OPEN",
            ReportState::Closed => "CLOSED",
            ReportState::Pending => "PENDING",
            ReportState::Unack => "UNACK",
            ReportState::Ack => "ACK",
        }
    }
}

/// Condition flag (RUM-6).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flag {
    /// Normal.
    N,
    /// Purged for a resource limit.
    P,
    /// Error: dropped by the authority, data missing, or tracking information missing.
    E,
}

impl Flag {
    pub const fn label(self) -> &'static str {
        match self {
            Flag::N => "N",
            Flag::P => "P",
            Flag::E => "E",
        }
    }
}

/// State Change Reason (RUM-7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeReason {
    None,
    Acked,
    Removed,
    Reload,
}

impl ChangeReason {
    /// The sample prints `None` for NONE and upper case for the others (RUM-7).
    pub const fn label(self) -> &'static str {
        match self {
            ChangeReason::None => "None",
            ChangeReason::Acked => "ACKED",
            ChangeReason::Removed => "REMOVED",
            ChangeReason::Reload => "RELOAD",
        }
    }
}

/// Storage state (RUM-10).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageState {
    Exist,
    Deleted,
    Purged,
    Missing,
}

impl StorageState {
    pub const fn label(self) -> &'static str {
        match self {
            StorageState::Exist => "EXIST",
            StorageState::Deleted => "DELETED",
            StorageState::Purged => "PURGED",
            StorageState::Missing => "MISSING",
        }
    }
}

/// Storage State Change Reason (RUM-10).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageReason {
    None,
    Processed,
    LimitStorage,
    LimitTime,
}

/// Why the authority could not take a report; shown as `Transaction Message:` (RUM-11, ACK-7).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransactionError {
    /// The authority dropped the report (flag `E`, RUM-6).
    Dropped,
    /// The report's signature or content was refused.
    Rejected,
}

impl TransactionError {
    pub const fn label(self) -> &'static str {
        match self {
            TransactionError::Dropped => "Report dropped by the licensing authority",
            TransactionError::Rejected => "Report rejected by the licensing authority",
        }
    }
}

/// A usage change inside a report: the count from `offset` seconds after the report start.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    pub offset: u32,
    pub value: u32,
}

/// One RUM report of one license.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `max(previous id + 1, open time)`: unique even when the clock goes back (GAP-12, RUM-3).
    pub id: u64,
    /// Previous report of this license, 0 = none (RUM-4).
    pub prev_id: u64,
    /// Next report of this license, 0 while this is the newest (RUM-4).
    pub next_id: u64,
    /// Index of the license in the catalogue.
    pub lic: u8,
    pub state: ReportState,
    pub reason: ChangeReason,
    pub flag: Flag,
    pub storage: StorageState,
    pub storage_reason: StorageReason,
    pub start: Timestamp,
    /// Latest measurement or change point (RUM-8).
    pub end: Timestamp,
    /// Tracking: authority transaction for a push, save time for a file (RUM-11).
    pub transaction: u64,
    pub tx_error: Option<TransactionError>,
    /// Count at `start`.
    pub first_value: u32,
    /// Changes after `start`, change-compressed: size grows with changes, not with time.
    pub points: Vec<Point, { Limits::REPORT_POINTS }>,
    /// Highest count in the window.
    pub max_value: u32,
    /// Integral of the count over the window in count·seconds: what a merge must preserve.
    pub usage_secs: u64,
    /// First usage change (POL-3) recorded in this report, for the report-on-change deadline.
    pub first_change: Option<Timestamp>,
    /// How many older reports were merged into this one under storage pressure.
    pub merged: u16,
}

impl Report {
    pub fn new(id: u64, prev_id: u64, lic: u8, start: Timestamp, value: u32) -> Report {
        Report {
            id,
            prev_id,
            next_id: 0,
            lic,
            state: ReportState::Open,
            reason: ChangeReason::None,
            flag: Flag::N,
            storage: StorageState::Exist,
            storage_reason: StorageReason::None,
            start,
            end: start,
            transaction: 0,
            tx_error: None,
            first_value: value,
            points: Vec::new(),
            max_value: value,
            usage_secs: 0,
            first_change: None,
            merged: 0,
        }
    }

    /// Count at the end of the window.
    #[inline(never)] // three callers in the core, 30 B each inlined
    pub fn current_value(&self) -> u32 {
        self.points.last().map_or(self.first_value, |p| p.value)
    }

    /// Extend the window to `t`, accumulating usage at the current value.
    pub fn advance(&mut self, t: Timestamp) {
        if t > self.end {
            self.usage_secs = self
                .usage_secs
                .saturating_add(u64::from(self.current_value()).saturating_mul(t.since(self.end)));
            self.end = t;
        }
    }

    /// Record a new count at `t`. Returns `false` when the report has no room for the point:
    /// the caller then closes it and opens a new one (DESIGN.md §3).
    pub fn record(&mut self, t: Timestamp, value: u32) -> bool {
        self.advance(t);
        if value == self.current_value() {
            return true;
        }
        let offset = u32::try_from(t.since(self.start)).unwrap_or(u32::MAX);
        if self.points.push(Point { offset, value }).is_err() {
            return false;
        }
        self.max_value = self.max_value.max(value);
        true
    }

    /// Whether the report still has measurement data (not ACKed-and-deleted or purged).
    pub fn has_data(&self) -> bool {
        self.storage == StorageState::Exist
    }

    /// Not yet acknowledged by the authority.
    pub fn unacknowledged(&self) -> bool {
        matches!(
            self.state,
            ReportState::Open | ReportState::Closed | ReportState::Pending | ReportState::Unack
        )
    }

    /// Fold `newer` (the next report of the same license) into this one: the window widens,
    /// the usage integral and maximum are kept exactly; change points keep as many of the
    /// newest as fit (the integral already accounts for the dropped ones).
    pub fn merge(&mut self, newer: &Report) {
        // A gap between the two (the device was off) is not usage.
        let base = u32::try_from(newer.start.since(self.start)).unwrap_or(u32::MAX);
        if newer.first_value != self.current_value() {
            self.push_keeping_latest(Point {
                offset: base,
                value: newer.first_value,
            });
        }
        for p in newer.points.iter() {
            self.push_keeping_latest(Point {
                offset: base.saturating_add(p.offset),
                value: p.value,
            });
        }
        self.end = newer.end.max(self.end);
        self.usage_secs = self.usage_secs.saturating_add(newer.usage_secs);
        self.max_value = self.max_value.max(newer.max_value);
        self.first_change = match (self.first_change, newer.first_change) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.next_id = newer.next_id;
        self.merged = self.merged.saturating_add(1).saturating_add(newer.merged);
    }
}

impl Report {
    /// Append a change point; when the points are full the oldest goes, and its value
    /// stands in for the start value (the integral already holds it). In place: a merge
    /// through a combined list of both reports' points was a larger body and frame.
    fn push_keeping_latest(&mut self, p: Point) {
        if self.points.is_full() {
            if let Some(oldest) = self.points.first() {
                self.first_value = oldest.value;
            }
            let kept = self.points.as_mut_slice();
            for k in 1..kept.len() {
                kept.swap(k - 1, k);
            }
            self.points.pop();
        }
        let _ = self.points.push(p);
    }
}

/// `save usage { all | days <n> | rum-id <id> | unreported }` (RUM-18).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    All,
    Unreported,
    /// The last n days, excluding today (device time zone).
    Days {
        days: u32,
        today_start: Timestamp,
    },
    RumId(u64),
}

impl Selection {
    /// OPEN reports are still collecting and never leave the device (RUM-1).
    pub fn matches(&self, r: &Report) -> bool {
        if !r.has_data() || r.state == ReportState::Open {
            return false;
        }
        match *self {
            Selection::All => true,
            Selection::Unreported => r.unacknowledged(),
            Selection::Days { days, today_start } => {
                let from = today_start.sub_secs(u64::from(days) * tally_hal::SECS_PER_DAY);
                r.start < today_start && r.end >= from && days > 0
            }
            Selection::RumId(id) => r.id == id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_compressed_points_and_integral() {
        let mut r = Report::new(100, 0, 0, Timestamp(1000), 2);
        assert!(r.record(Timestamp(1900), 2)); // a measurement, no change
        assert!(r.points.is_empty());
        assert!(r.record(Timestamp(2000), 3));
        r.advance(Timestamp(3000));
        assert_eq!(r.usage_secs, 2 * 1000 + 3 * 1000);
        assert_eq!(r.max_value, 3);
        assert_eq!(r.current_value(), 3);
        assert_eq!(r.end, Timestamp(3000));
    }

    #[test]
    fn save_selections() {
        // RUM-18: `days n` = reports overlapping the n whole days before today.
        let day = tally_hal::SECS_PER_DAY;
        let today = Timestamp(100 * day);
        let mut r = Report::new(1, 0, 0, Timestamp(97 * day + 10), 1);
        r.state = ReportState::Closed;
        r.advance(Timestamp(98 * day + 10));
        let days = |n| Selection::Days {
            days: n,
            today_start: today,
        };
        assert!(!days(0).matches(&r));
        assert!(!days(1).matches(&r), "ended two days before today");
        assert!(days(2).matches(&r));
        assert!(
            Selection::All.matches(&r)
                && Selection::Unreported.matches(&r)
                && Selection::RumId(1).matches(&r)
        );
        r.state = ReportState::Open;
        assert!(
            !Selection::All.matches(&r),
            "OPEN reports never leave the device"
        );
        r.state = ReportState::Ack;
        r.storage = StorageState::Deleted;
        assert!(!Selection::All.matches(&r), "acknowledged data is gone");
    }

    #[test]
    fn full_report_refuses_point() {
        let mut r = Report::new(1, 0, 0, Timestamp(0), 0);
        for i in 0..Limits::REPORT_POINTS as u32 {
            assert!(r.record(Timestamp(u64::from(i) + 1), i + 1));
        }
        assert!(!r.record(Timestamp(100), 0));
    }

    #[test]
    fn merge_keeps_totals() {
        let mut a = Report::new(1, 0, 0, Timestamp(0), 1);
        a.record(Timestamp(100), 2);
        a.advance(Timestamp(200));
        let mut b = Report::new(2, 1, 0, Timestamp(200), 2);
        b.record(Timestamp(300), 5);
        b.advance(Timestamp(400));
        b.next_id = 3;
        let total = a.usage_secs + b.usage_secs;
        a.merge(&b);
        assert_eq!(a.usage_secs, total);
        assert_eq!(
            (a.start, a.end, a.max_value, a.next_id, a.merged),
            (Timestamp(0), Timestamp(400), 5, 3, 1)
        );
        assert_eq!(a.current_value(), 5);
    }

    /// The merge as it was written before `push_keeping_latest`: both reports' points in one
    /// list, the newest `REPORT_POINTS` kept, the value before them the start value.
    fn merged_points(a: &Report, b: &Report) -> (u32, std::vec::Vec<Point>) {
        let base = u32::try_from(b.start.since(a.start)).unwrap_or(u32::MAX);
        let mut all: std::vec::Vec<Point> = a.points.iter().copied().collect();
        if b.first_value != a.current_value() {
            all.push(Point {
                offset: base,
                value: b.first_value,
            });
        }
        all.extend(b.points.iter().map(|p| Point {
            offset: base.saturating_add(p.offset),
            value: p.value,
        }));
        let skip = all.len().saturating_sub(Limits::REPORT_POINTS);
        let first = if skip > 0 {
            all[skip - 1].value
        } else {
            a.first_value
        };
        (first, all.split_off(skip))
    }

    proptest::proptest! {
        #[test]
        fn a_merge_keeps_the_points_the_combined_list_kept(
            a_first in 0u32..4,
            a_pts in proptest::collection::vec(0u32..4, 0..=Limits::REPORT_POINTS),
            b_first in 0u32..4,
            b_pts in proptest::collection::vec(0u32..4, 0..=Limits::REPORT_POINTS),
            gap in 0u64..50,
        ) {
            let mut a = Report::new(1, 0, 0, Timestamp(0), a_first);
            for (i, v) in a_pts.iter().enumerate() {
                a.record(Timestamp(10 * (i as u64 + 1)), *v);
            }
            let b_start = a.end.0 + gap;
            let mut b = Report::new(2, 1, 0, Timestamp(b_start), b_first);
            for (i, v) in b_pts.iter().enumerate() {
                b.record(Timestamp(b_start + 10 * (i as u64 + 1)), *v);
            }
            let (first, want) = merged_points(&a, &b);
            a.merge(&b);
            proptest::prop_assert_eq!(a.first_value, first);
            proptest::prop_assert_eq!(a.points.as_slice(), want.as_slice());
        }
    }

    #[test]
    fn a_merge_past_the_points_keeps_the_latest_and_the_value_before_them() {
        let pt = |offset, value| Point { offset, value };
        let mut a = Report::new(1, 0, 0, Timestamp(0), 1);
        for i in 1..=5u32 {
            assert!(a.record(Timestamp(u64::from(i) * 10), i + 1));
        }
        a.advance(Timestamp(100));
        a.first_change = Some(Timestamp(30));
        // Starts at 7 where `a` ended at 6: the step is a point of its own, at 100.
        let mut b = Report::new(2, 1, 0, Timestamp(100), 7);
        for i in 1..=5u32 {
            assert!(b.record(Timestamp(100 + u64::from(i) * 10), i + 7));
        }
        b.advance(Timestamp(200));
        b.first_change = Some(Timestamp(120));
        a.merge(&b);
        // 11 points: the 3 oldest go, and the value before the first kept one is the start.
        let want = [
            pt(40, 5),
            pt(50, 6),
            pt(100, 7),
            pt(110, 8),
            pt(120, 9),
            pt(130, 10),
            pt(140, 11),
            pt(150, 12),
        ];
        assert_eq!(a.points.as_slice(), &want);
        assert_eq!(a.first_value, 4);
        assert_eq!(a.first_change, Some(Timestamp(30)));
        assert_eq!(
            (a.end, a.max_value, a.current_value()),
            (Timestamp(200), 12, 12)
        );
        // The earlier change wins whichever report holds it, and one alone is kept.
        let mut c = Report::new(3, 0, 0, Timestamp(0), 1);
        let mut d = Report::new(4, 3, 0, Timestamp(10), 1);
        d.first_change = Some(Timestamp(15));
        c.merge(&d);
        assert_eq!(c.first_change, Some(Timestamp(15)));
        assert!(c.points.is_empty());
    }
}
