//! Reporting obligations and the `Usage Reporting:` schedule (POL-19..24, RUM-14, RUM-15).
//!
//! The formulas are written down, with the seed samples they reproduce, in
//! `docs/decisions/0002-reporting-deadlines.md`. In short, per license in use:
//! - first report: `first use + First report requirement` until a report covers the first use
//!   (for unenforced perpetual licenses only when sold through a partner, POL-7 footnote 1);
//! - periodic: `anchor + min(Reporting frequency, 3 × push interval + 1 day)` while in use,
//!   where `anchor = max(end of the newest reported report, custom policy install time)`;
//! - on change: `first unreported change + Report on change`.
//!
//! `Next ACK deadline` is the earliest obligation when the policy requires ACKs. The push
//! interval is 0 when nothing is owed, else `min(configured interval or 30, the smallest
//! reporting frequency in use)`; `Next report push = last push + push interval`, or the time of
//! an unsent usage change if earlier (automatic pushes stay throttled to one per 24 h).

use crate::policy::{Category, EffectivePolicy, Source, effective};
use crate::rum::{ChangeReason, ReportState};
use crate::state::State;
use tally_hal::{LicenseDef, SECS_PER_DAY, Timestamp};

/// "By default the RUM report is sent every 30 days" (POL-19, CLI-G10).
pub const DEFAULT_PUSH_INTERVAL_DAYS: u64 = 30;
/// RUM-14: at most one automatic push per rolling 24 hours.
pub const THROTTLE_SECS: u64 = SECS_PER_DAY;
/// RUM-15: after a failed scheduled push, keep trying for 4 hours…
pub const RETRY_WINDOW_SECS: u64 = 4 * 3600;
/// …every 5 minutes (ADR 0002)…
pub const RETRY_FAST_SECS: u64 = 5 * 60;
/// …then every 15 minutes until communication is restored.
pub const RETRY_SLOW_SECS: u64 = 15 * 60;
/// MSG-11 is raised once a day from this long before the ACK deadline.
pub const ALERT_WINDOW_SECS: u64 = 30 * SECS_PER_DAY;
/// When the authority does not say, poll for the ACK this long after a push.
pub const DEFAULT_POLL_AFTER_SECS: u64 = 15 * 60;

/// The computed reporting schedule.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// `Reporting push interval:` in days; 0 prints `0 (no reporting)` (POL-21).
    pub push_interval_days: u64,
    /// `Next report push:` (POL-22).
    pub next_push: Option<Timestamp>,
    /// `Next ACK deadline:` (POL-23); `None` when the policy needs no ACK or nothing is owed.
    pub ack_deadline: Option<Timestamp>,
    /// Earliest obligation deadline, whether or not an ACK is required.
    pub earliest_obligation: Option<Timestamp>,
}

#[inline(never)] // nine uses here and `Agent::next_wakeup`'s six: one copy
pub(crate) fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// What one license owes.
#[derive(Copy, Clone, Debug, Default)]
struct Owed {
    first: Option<Timestamp>,
    change: Option<Timestamp>,
    /// Reporting frequency in days and the anchor, when periodic reporting applies.
    periodic: Option<(u64, Timestamp)>,
    /// Time the oldest of these obligations arose.
    since: Option<Timestamp>,
    /// Earliest usage change not yet sent (POL-27: a change makes a report due).
    unsent_change: Option<Timestamp>,
}

fn owed(
    state: &State,
    policy: &EffectivePolicy,
    catalogue: &[LicenseDef],
    partner: bool,
    lic: usize,
) -> Owed {
    let mut o = Owed::default();
    let (Some(u), Some(def)) = (state.usage.get(lic), catalogue.get(lic)) else {
        return o;
    };
    // POL-4: a license never consumed owes nothing.
    let Some(first_use) = u.first_use else {
        return o;
    };
    let cat = Category::of(def);
    let pc = policy.category(cat);
    let ack_required = policy.ack_required.0;
    let reported_through = if ack_required {
        u.acked_through
    } else {
        u.sent_through
    };
    // One walk over this license's reports: the earliest change not yet reported, the earliest
    // not yet sent, and whether an unreported one saw the license in use.
    let (mut first_change, mut unsent_change, mut unreported_use) = (None, None, false);
    for r in state.reports.iter().filter(|r| usize::from(r.lic) == lic) {
        let reported =
            r.state == ReportState::Ack || (!ack_required && r.state == ReportState::Unack);
        unreported_use |= !reported && r.max_value > 0;
        // Compared in place (`min_opt` is a call: once per report, that was a tenth of a tick).
        if let Some(change) = r.first_change {
            if !reported {
                first_change = Some(first_change.map_or(change, |c: Timestamp| c.min(change)));
            }
            if matches!(r.state, ReportState::Open | ReportState::Closed) {
                unsent_change = Some(unsent_change.map_or(change, |c: Timestamp| c.min(change)));
            }
        }
    }

    let first_days = u64::from(pc.first_report.days);
    // The footnote limits the Cisco default's 365 days; a customer policy's value always applies.
    let first_applies = cat != Category::UnenforcedPerpetual
        || partner
        || pc.first_report.source == Source::Customer;
    if first_days > 0 && first_applies && reported_through.is_none_or(|r| r < first_use) {
        o.first = Some(first_use.add_days(first_days));
        o.since = Some(first_use);
    }

    let change_days = u64::from(pc.on_change.days);
    if change_days > 0 {
        if let Some(tc) = first_change {
            o.change = Some(tc.add_days(change_days));
            o.since = min_opt(o.since, Some(tc));
        }
        o.unsent_change = unsent_change;
    }

    let freq = u64::from(pc.frequency.days);
    let in_use = state.consumed(catalogue, lic) > 0 || unreported_use;
    if freq > 0 && in_use {
        let installed = state.policy.as_ref().map(|p| p.installed_at);
        let anchor = reported_through
            .unwrap_or(first_use)
            .max(installed.unwrap_or(Timestamp::ZERO));
        o.periodic = Some((freq, anchor));
        o.since = min_opt(o.since, Some(anchor));
    }
    o
}

/// The schedule of `state` for `catalogue`.
pub fn schedule(state: &State, catalogue: &[LicenseDef], partner: bool) -> Schedule {
    let policy = effective(state.policy.as_ref().map(|p| &p.policy));
    let n = state.usage.len().min(catalogue.len());
    let mut any = false;
    let mut min_freq: Option<u64> = None;
    let mut since: Option<Timestamp> = None;
    let mut unsent_change: Option<Timestamp> = None;
    for lic in 0..n {
        let o = owed(state, &policy, catalogue, partner, lic);
        any |= o.first.is_some() || o.change.is_some() || o.periodic.is_some();
        if let Some((f, _)) = o.periodic {
            min_freq = Some(min_freq.map_or(f, |m| m.min(f)));
        }
        since = min_opt(since, o.since);
        unsent_change = min_opt(unsent_change, o.unsent_change);
    }
    // HA-6: a reload is a report trigger; the reports it closed are due at boot.
    let reloaded = state
        .reports
        .iter()
        .any(|r| r.state == ReportState::Closed && r.reason == ChangeReason::Reload);
    if reloaded {
        unsent_change = min_opt(unsent_change, state.last_boot);
    }

    let configured = state.config.usage_interval.map(u64::from);
    let interval = if !any || configured == Some(0) {
        0
    } else {
        let base = configured.unwrap_or(DEFAULT_PUSH_INTERVAL_DAYS);
        min_freq.map_or(base, |f| base.min(f))
    };

    let mut earliest = None;
    for lic in 0..n {
        let o = owed(state, &policy, catalogue, partner, lic);
        earliest = min_opt(earliest, o.first);
        earliest = min_opt(earliest, o.change);
        if let Some((freq, anchor)) = o.periodic {
            // Narrowed by the push interval (POL-20; samples in ADR 0002).
            let window = if interval > 0 {
                freq.min(3 * interval + 1)
            } else {
                freq
            };
            earliest = min_opt(earliest, Some(anchor.add_days(window)));
        }
    }

    let next_push = if interval > 0 {
        let base = match (state.last_push, state.last_file_write) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b).or(since),
        };
        // A usage change is reported at once, within the daily throttle (POL-27, RUM-14).
        min_opt(base.map(|b| b.add_days(interval)), unsent_change)
    } else {
        None
    };

    Schedule {
        push_interval_days: interval,
        next_push,
        ack_deadline: if policy.ack_required.0 {
            earliest
        } else {
            None
        },
        earliest_obligation: earliest,
    }
}

/// Days left until `deadline`, rounded up; 0 once it has passed (MSG-11).
pub fn days_until(now: Timestamp, deadline: Timestamp) -> u64 {
    crate::arith::days_ceil(deadline.since(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Source;
    use crate::rum::Report;
    use tally_hal::{Enforcement, Term};

    /// POL-27, POL-20: what one license owes is read from its own reports only: the earliest
    /// change not yet reported (ACKed, or also sent when no ACK is required), the earliest not
    /// yet sent (OPEN or CLOSED), and whether an unreported report saw it in use.
    #[test]
    fn owed_reads_one_license_s_unreported_and_unsent_changes() {
        let def = |n| {
            LicenseDef::new(
                n,
                n,
                "regid.x",
                n,
                Enforcement::Unenforced,
                Term::Subscription,
            )
            .unwrap()
        };
        let catalogue = [def("a"), def("b")];
        let mut st = State::new(2);
        st.usage.get_mut(0).unwrap().first_use = Some(Timestamp(1_000));
        for (id, lic, state, change, value) in [
            (1, 0, ReportState::Ack, 100, 5),
            (2, 0, ReportState::Unack, 200, 3),
            (3, 0, ReportState::Closed, 300, 0),
            (4, 0, ReportState::Open, 400, 0),
            (5, 1, ReportState::Open, 50, 9),
        ] {
            let mut r = Report::new(id, 0, lic, Timestamp(10), value);
            r.state = state;
            r.first_change = Some(Timestamp(change));
            st.reports.push(r).unwrap();
        }
        // The Cisco default: an ACK is required, and a subscription owes a report 90 days after
        // a change and every 90 days while in use.
        let acked = effective(None);
        let o = owed(&st, &acked, &catalogue, false, 0);
        assert_eq!(o.change, Some(Timestamp(200).add_days(90)));
        assert_eq!(o.unsent_change, Some(Timestamp(300)));
        assert!(
            o.periodic.is_some(),
            "the UNACK report saw the license in use"
        );
        // Without ACKs, a sent report is reported.
        let mut sent = effective(None);
        sent.ack_required = (false, Source::Customer);
        let o = owed(&st, &sent, &catalogue, false, 0);
        assert_eq!(o.change, Some(Timestamp(300).add_days(90)));
        assert_eq!(o.unsent_change, Some(Timestamp(300)));
        assert!(
            o.periodic.is_none(),
            "nothing unreported was in use, nothing is consumed"
        );
    }
}
