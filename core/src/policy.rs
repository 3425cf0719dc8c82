//! Reporting policy: the Cisco default (POL-7), custom policies merged attribute by attribute
//! with their source (POL-12, POL-13), and the license category a license falls into (DUR-3).

use heapless::String;
use serde::{Deserialize, Serialize};
use tally_hal::{Enforcement, LicenseDef, Term, Timestamp};

/// The four policy categories (POL-2, DUR-3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Category {
    UnenforcedPerpetual = 0,
    UnenforcedSubscription = 1,
    Enforced = 2,
    Export = 3,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::UnenforcedPerpetual,
        Category::UnenforcedSubscription,
        Category::Enforced,
        Category::Export,
    ];

    pub fn of(def: &LicenseDef) -> Category {
        match (def.enforcement, def.term) {
            (Enforcement::Unenforced, Term::Perpetual) => Category::UnenforcedPerpetual,
            (Enforcement::Unenforced, Term::Subscription) => Category::UnenforcedSubscription,
            (Enforcement::Enforced, _) => Category::Enforced,
            (Enforcement::ExportControlled, _) => Category::Export,
        }
    }

    /// Display label, exactly as POL-2 lists them.
    pub const fn label(self) -> &'static str {
        match self {
            Category::UnenforcedPerpetual => "Unenforced/Non-Export Perpetual Attributes:",
            Category::UnenforcedSubscription => "Unenforced/Non-Export Subscription Attributes:",
            Category::Enforced => "Enforced (Perpetual/Subscription) License Attributes:",
            Category::Export => "Export (Perpetual/Subscription) License Attributes:",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Where a policy value came from (POL-12): printed after every value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    CiscoDefault,
    Customer,
}

impl Source {
    pub const fn label(self) -> &'static str {
        match self {
            Source::CiscoDefault => "(CISCO default)",
            Source::Customer => "(Customer Policy)",
        }
    }
}

/// One policy value in days, with its source.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Days {
    pub days: u16,
    pub source: Source,
}

/// The three per-category reporting instructions (POL-1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CategoryPolicy {
    /// First report requirement (days); 0 = no first report required.
    pub first_report: Days,
    /// Reporting frequency (days); 0 = no periodic reporting unless usage changes.
    pub frequency: Days,
    /// Report on change (days); 0 = no report required on change.
    pub on_change: Days,
}

/// The policy in effect: the default merged with any installed custom policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectivePolicy {
    pub ack_required: (bool, Source),
    pub categories: [CategoryPolicy; 4],
}

impl EffectivePolicy {
    pub fn category(&self, c: Category) -> &CategoryPolicy {
        // `Category` has exactly four variants, indexes 0..4.
        match c {
            Category::UnenforcedPerpetual => &self.categories[0],
            Category::UnenforcedSubscription => &self.categories[1],
            Category::Enforced => &self.categories[2],
            Category::Export => &self.categories[3],
        }
    }
}

/// Cisco default policy, Table 2 of the seed (POL-7): (first report, frequency, on change).
pub const CISCO_DEFAULT: [(u16, u16, u16); 4] = [
    (365, 0, 90), // Unenforced/Non-Export Perpetual (first report only if sold through a partner)
    (90, 90, 90), // Unenforced/Non-Export Subscription
    (0, 0, 0),    // Enforced
    (0, 0, 0),    // Export
];

/// Overrides a custom policy makes for one category; `None` keeps the Cisco default.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryOverrides {
    pub first_report: Option<u16>,
    pub frequency: Option<u16>,
    pub on_change: Option<u16>,
}

pub const POLICY_NAME_LEN: usize = 32;

/// A customer policy as issued by the authority (POL-11): only the attributes it sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomPolicy {
    pub name: String<POLICY_NAME_LEN>,
    pub ack_required: Option<bool>,
    pub categories: [CategoryOverrides; 4],
}

/// A custom policy installed on this device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPolicy {
    pub policy: CustomPolicy,
    /// Device time of installation (`Policy in use: Installed On …`).
    pub installed_at: Timestamp,
    /// Authority issue time; an older policy never replaces a newer one (DESIGN.md §3).
    pub issued_at: Timestamp,
}

/// Merge the Cisco default with a custom policy, attribute by attribute (POL-13).
pub fn effective(custom: Option<&CustomPolicy>) -> EffectivePolicy {
    let pick = |default: u16, over: Option<u16>| match over {
        Some(days) => Days {
            days,
            source: Source::Customer,
        },
        None => Days {
            days: default,
            source: Source::CiscoDefault,
        },
    };
    let mut categories = [CategoryPolicy {
        first_report: Days {
            days: 0,
            source: Source::CiscoDefault,
        },
        frequency: Days {
            days: 0,
            source: Source::CiscoDefault,
        },
        on_change: Days {
            days: 0,
            source: Source::CiscoDefault,
        },
    }; 4];
    let overrides = custom.map_or([CategoryOverrides::default(); 4], |c| c.categories);
    for ((slot, (first, freq, change)), o) in
        categories.iter_mut().zip(CISCO_DEFAULT).zip(overrides)
    {
        *slot = CategoryPolicy {
            first_report: pick(first, o.first_report),
            frequency: pick(freq, o.frequency),
            on_change: pick(change, o.on_change),
        };
    }
    // "The default policy is always set to 'yes'" (POL-1).
    let ack_required = match custom.and_then(|c| c.ack_required) {
        Some(v) => (v, Source::Customer),
        None => (true, Source::CiscoDefault),
    };
    EffectivePolicy {
        ack_required,
        categories,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_table_2() {
        // POL-7
        let p = effective(None);
        assert_eq!(p.ack_required, (true, Source::CiscoDefault));
        let perp = p.category(Category::UnenforcedPerpetual);
        assert_eq!(
            (
                perp.first_report.days,
                perp.frequency.days,
                perp.on_change.days
            ),
            (365, 0, 90)
        );
        let sub = p.category(Category::UnenforcedSubscription);
        assert_eq!(
            (
                sub.first_report.days,
                sub.frequency.days,
                sub.on_change.days
            ),
            (90, 90, 90)
        );
        for c in [Category::Enforced, Category::Export] {
            let e = p.category(c);
            assert_eq!(
                (e.first_report.days, e.frequency.days, e.on_change.days),
                (0, 0, 0)
            );
        }
    }

    #[test]
    fn custom_policy_merges_per_attribute() {
        // POL-13: the SLE Policy sample keeps `First report requirement (days): 0 (CISCO default)`
        // for Enforced and Export while overriding frequency and on-change.
        let mut name = String::new();
        name.push_str("SLE Policy").unwrap();
        let over = |f, q, c| CategoryOverrides {
            first_report: f,
            frequency: q,
            on_change: c,
        };
        let custom = CustomPolicy {
            name,
            ack_required: Some(true),
            categories: [
                over(Some(60), Some(60), Some(60)),
                over(Some(30), Some(30), Some(30)),
                over(None, Some(90), Some(90)),
                over(None, Some(90), Some(90)),
            ],
        };
        let p = effective(Some(&custom));
        assert_eq!(p.ack_required, (true, Source::Customer));
        let e = p.category(Category::Enforced);
        assert_eq!(
            e.first_report,
            Days {
                days: 0,
                source: Source::CiscoDefault
            }
        );
        assert_eq!(
            e.frequency,
            Days {
                days: 90,
                source: Source::Customer
            }
        );
        assert_eq!(
            p.category(Category::UnenforcedSubscription).frequency.days,
            30
        );
    }
}
