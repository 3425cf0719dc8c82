//! Simulated product profiles.

use tally_hal::mock::MockPlatform;
use tally_hal::{Enforcement, HaMember, HaRole, LicenseDef, Term, TooLong, Udi};

/// A device description: everything the platform HAL would report.
#[derive(Debug, Clone)]
pub struct Profile {
    pub platform: MockPlatform,
}

fn lic(
    name: &str,
    tag: &str,
    regid: &str,
    desc: &str,
    e: Enforcement,
    t: Term,
) -> Result<LicenseDef, TooLong> {
    LicenseDef::new(name, tag, regid, desc, e, t)
}

/// The default simulated device: a two-member Catalyst 9200L stack (the forum thread of seed
/// 000) with one unenforced perpetual license, one unenforced subscription (term) license and
/// one export-controlled license (HSECK9, seed 003's example).
pub fn stack_switch() -> Result<Profile, TooLong> {
    let active = Udi::new("C9200L-48P-4X", "JAE24091ABC")?;
    let member = Udi::new("C9200L-48P-4X", "JAE24091ABD")?;
    let licenses = vec![
        lic(
            "network-essentials",
            "C9200L-NW-E-48",
            "regid.2018-06.com.cisco.C9200L-NW-E-48,1.0_3f2e9a11-6c58-4b8e-9c31-2d5e7a4f0b62",
            "C9200L Network Essentials, 48-port license",
            Enforcement::Unenforced,
            Term::Perpetual,
        )?,
        lic(
            "dna-essentials",
            "C9200L-DNA-E-48",
            "regid.2018-06.com.cisco.C9200L-DNA-E-48,1.0_8a61c2d4-0f3b-4e7a-b5c9-71d2e6f0a913",
            "C9200L DNA Essentials, 48-port Term license",
            Enforcement::Unenforced,
            Term::Subscription,
        )?,
        lic(
            "hseck9",
            "DNA_HSEC",
            "regid.2019-03.com.cisco.DNA_HSEC,1.0_509c41ab-05a8-431f-95fe-ec28086e8844",
            "U.S. Export Restriction Compliance license for C9200 series",
            Enforcement::ExportControlled,
            Term::Perpetual,
        )?,
    ];
    Ok(Profile {
        platform: MockPlatform {
            udi: active.clone(),
            members: vec![
                HaMember {
                    role: HaRole::Active,
                    udi: active,
                },
                HaMember {
                    role: HaRole::Standby,
                    udi: member,
                },
            ],
            licenses,
            partner: true,
            features: Default::default(),
        },
    })
}
