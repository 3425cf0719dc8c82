//! Device configuration set with `license smart …` global configuration commands (CLI-G).

use crate::time::TimeZone;
use heapless::String;
use serde::{Deserialize, Serialize};

pub const URL_LEN: usize = 96;

/// `license smart transport { automatic | callhome | cslu | off | smart }` (XPORT-1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    /// The SLP default (CLI-G7); `automatic` selects it too.
    Cslu,
    Smart,
    Callhome,
    /// All communication disabled: the No Connectivity topology (TOPO-1).
    Off,
}

impl Transport {
    /// Whether the PI initiates communication (push) on this transport (RUM-14, RUM-15).
    pub const fn pushes(self) -> bool {
        !matches!(self, Transport::Off)
    }

    /// First `[chars]` of `%SMART_LIC-3-COMM_FAILED` / the peer named by `COMM_RESTORED` (MSG-3, MSG-4).
    pub const fn peer_name(self) -> &'static str {
        match self {
            Transport::Cslu => "Cisco Smart License utility (CSLU)",
            _ => "Cisco Smart Software Manager (CSSM)",
        }
    }
}

/// Privacy flags (PRIV-1, PRIV-2). All disabled by default: data is sent.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privacy {
    pub callhome_hostname: bool,
    pub smart_hostname: bool,
    pub version: bool,
}

/// Everything configurable on the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub transport: Transport,
    /// `license smart url smart <url>` (XPORT-2).
    pub smart_url: String<URL_LEN>,
    /// `license smart url cslu <url>`; `None` prints `<empty>` (MIG-7).
    pub cslu_url: Option<String<URL_LEN>>,
    /// `license smart usage interval <days>`; `None` = not configured (POL-19).
    pub usage_interval: Option<u16>,
    pub privacy: Privacy,
    pub timezone: TimeZone,
}

pub const DEFAULT_SMART_URL: &str = "https://smartreceiver.cisco.com/licservice/license";
/// `license smart url default` with transport cslu (XPORT-2).
pub const DEFAULT_CSLU_URL: &str = "https://cslu-local:8182/cslu/v1/pi";

impl Default for Config {
    fn default() -> Self {
        let mut smart_url = String::new();
        let _ = smart_url.push_str(DEFAULT_SMART_URL);
        Config {
            transport: Transport::Cslu,
            smart_url,
            cslu_url: None,
            usage_interval: None,
            privacy: Privacy::default(),
            timezone: TimeZone::utc(),
        }
    }
}

/// One configuration change; each is one journal record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigChange {
    Transport(Transport),
    SmartUrl(String<URL_LEN>),
    CsluUrl(Option<String<URL_LEN>>),
    UsageInterval(Option<u16>),
    Privacy(Privacy),
    TimeZone(TimeZone),
}

impl Config {
    pub fn apply(&mut self, change: &ConfigChange) {
        match change {
            ConfigChange::Transport(t) => self.transport = *t,
            ConfigChange::SmartUrl(u) => self.smart_url = u.clone(),
            ConfigChange::CsluUrl(u) => self.cslu_url = u.clone(),
            ConfigChange::UsageInterval(i) => self.usage_interval = *i,
            ConfigChange::Privacy(p) => self.privacy = *p,
            ConfigChange::TimeZone(tz) => self.timezone = tz.clone(),
        }
    }
}
