//! Building usage messages straight from the agent state, without an intermediate copy.
//!
//! [`UsageView`] serializes to exactly the bytes of [`crate::wire::UsagePayload`] (a unit test
//! proves it), so the device never needs a second report table on its stack.

use crate::rum::Report;
use crate::state::State;
use crate::wire::{AuthLicense, SOFTWARE_VERSION_LEN, TrustSubject, UsageOrigin};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use tally_hal::{LicenseDef, Timestamp, Udi};

/// The agent's version, reported in usage messages unless version privacy is on (PRIV-3).
pub const AGENT_VERSION: &str = "tally-core/0.1.0";
const _: () = assert!(AGENT_VERSION.len() <= SOFTWARE_VERSION_LEN);

pub struct UsageView<'a> {
    pub udi: &'a Udi,
    pub created_at: Timestamp,
    pub origin: UsageOrigin,
    pub send_version: bool,
    pub journal_head: [u8; 4],
    /// Trust codes asked for (TRUST-5).
    pub trust_request: &'a [TrustSubject],
    /// Authorization codes asked for (AUTH-6).
    pub auth_request: &'a [AuthLicense],
    pub state: &'a State,
    pub catalogue: &'a [LicenseDef],
    pub select: &'a dyn Fn(&Report) -> bool,
}

impl core::fmt::Debug for UsageView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UsageView")
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl UsageView<'_> {
    /// The license of `r` when it goes in the message: selected, and in the catalogue.
    fn selected(&self, r: &Report) -> Option<&LicenseDef> {
        if (self.select)(r) {
            self.catalogue.get(usize::from(r.lic))
        } else {
            None
        }
    }
}

impl Serialize for UsageView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("UsagePayload", 8)?;
        st.serialize_field("udi", self.udi)?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("origin", &self.origin)?;
        st.serialize_field(
            "software_version",
            &if self.send_version {
                Some(AGENT_VERSION)
            } else {
                None
            },
        )?;
        st.serialize_field("journal_head", &self.journal_head)?;
        st.serialize_field("reports", &Reports(self))?;
        st.serialize_field("trust_request", self.trust_request)?;
        st.serialize_field("auth_request", self.auth_request)?;
        st.end()
    }
}

struct Reports<'a, 'b>(&'a UsageView<'b>);

impl Serialize for Reports<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Two plain walks: a `filter` closure was a body at each of them.
        let reports = &self.0.state.reports;
        let mut n = 0;
        for r in reports {
            if self.0.selected(r).is_some() {
                n += 1;
            }
        }
        let mut seq = s.serialize_seq(Some(n))?;
        for r in reports {
            if let Some(def) = self.0.selected(r) {
                seq.serialize_element(&WireReportView { r, def })?;
            }
        }
        seq.end()
    }
}

struct WireReportView<'a> {
    r: &'a Report,
    def: &'a LicenseDef,
}

impl Serialize for WireReportView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.r;
        let mut st = s.serialize_struct("WireReport", 11)?;
        st.serialize_field("id", &r.id)?;
        st.serialize_field("prev_id", &r.prev_id)?;
        st.serialize_field("feature", &self.def.name)?;
        st.serialize_field("entitlement", &self.def.entitlement)?;
        st.serialize_field("start", &r.start)?;
        st.serialize_field("end", &r.end)?;
        st.serialize_field("first_value", &r.first_value)?;
        st.serialize_field("points", &r.points)?;
        st.serialize_field("max_value", &r.max_value)?;
        st.serialize_field("usage_secs", &r.usage_secs)?;
        st.serialize_field("merged", &r.merged)?;
        st.end()
    }
}
