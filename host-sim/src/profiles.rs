//! Simulated product profiles.

use tally_hal::TooLong;
use tally_hal::mock::MockPlatform;

/// A device description: everything the platform HAL would report.
#[derive(Debug, Clone)]
pub struct Profile {
    pub platform: MockPlatform,
}

/// The default simulated device: the reference C9200L stack of `tally_hal::reference`, the
/// same product the firmware runs.
pub fn stack_switch() -> Result<Profile, TooLong> {
    let (members, licenses) = tally_hal::reference::c9200l_stack()?;
    Ok(Profile {
        platform: MockPlatform {
            udi: members[0].udi.clone(),
            members: members.to_vec(),
            licenses: licenses.to_vec(),
            partner: tally_hal::reference::PARTNER,
            features: Default::default(),
        },
    })
}
