//! The reference product both the simulator and the firmware run by default: a two-member
//! Catalyst 9200L stack (the forum thread of seed 000) with one unenforced perpetual license,
//! one unenforced subscription (term) license and one export-controlled license (HSECK9, seed
//! 003's example). One definition, so an in-process device and a firmware image are the same
//! product instance (the hardware-in-the-loop parity test depends on it).

use crate::{Enforcement, HaMember, HaRole, LicenseDef, Term, TooLong, Udi};

/// The stack's members (active first) and its license catalogue.
pub fn c9200l_stack() -> Result<([HaMember; 2], [LicenseDef; 3]), TooLong> {
    let active = Udi::new("C9200L-48P-4X", "JAE24091ABC")?;
    let member = Udi::new("C9200L-48P-4X", "JAE24091ABD")?;
    let licenses = [
        LicenseDef::new(
            "network-essentials",
            "C9200L-NW-E-48",
            "regid.2018-06.com.cisco.C9200L-NW-E-48,1.0_3f2e9a11-6c58-4b8e-9c31-2d5e7a4f0b62",
            "C9200L Network Essentials, 48-port license",
            Enforcement::Unenforced,
            Term::Perpetual,
        )?,
        LicenseDef::new(
            "dna-essentials",
            "C9200L-DNA-E-48",
            "regid.2018-06.com.cisco.C9200L-DNA-E-48,1.0_8a61c2d4-0f3b-4e7a-b5c9-71d2e6f0a913",
            "C9200L DNA Essentials, 48-port Term license",
            Enforcement::Unenforced,
            Term::Subscription,
        )?,
        LicenseDef::new(
            "hseck9",
            "DNA_HSEC",
            "regid.2019-03.com.cisco.DNA_HSEC,1.0_509c41ab-05a8-431f-95fe-ec28086e8844",
            "U.S. Export Restriction Compliance license for C9200 series",
            Enforcement::ExportControlled,
            Term::Perpetual,
        )?,
    ];
    let members = [
        HaMember {
            role: HaRole::Active,
            udi: active,
        },
        HaMember {
            role: HaRole::Standby,
            udi: member,
        },
    ];
    Ok((members, licenses))
}

/// Whether the reference stack was bought through a partner (POL-7 footnote 1).
pub const PARTNER: bool = true;

/// Seed of the development key of the product instance with serial `sn`: what a device
/// without a provisioning image signs with, in the simulator and in the firmware alike.
pub fn development_key_seed(sn: &str, out: &mut heapless::String<64>) -> Result<(), TooLong> {
    out.clear();
    out.push_str("tally-sim device key ").map_err(|_| TooLong)?;
    out.push_str(sn).map_err(|_| TooLong)
}

/// Seed of the development authority root key the simulator's authority signs with.
pub const DEVELOPMENT_AUTHORITY_SEED: &str = "tally-sim authority root key 1";
