//! Tally's flash journal against sequential-storage's map on the same write-once mock flash:
//! bytes written and erases per update for the same stream of license counts
//! (`cargo bench -p tally-tests --bench storage_compare`). A measurement, not a test.
//!
//! The comparison is meaningful for storage cost only: sequential-storage keeps the latest value
//! of each key; the journal keeps the usage history (RUM reports with change points), the event
//! log, a hash chain and power-cut atomicity of multi-record inputs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use embedded_storage::nor_flash::{ErrorType, NorFlash as _, ReadNorFlash as _};
use sequential_storage::cache::Cache;
use sequential_storage::map::{MapConfig, MapStorage};
use tally_core::agent::{Agent, Identity, Release};
use tally_core::journal::flash::FlashJournal;
use tally_hal::Timestamp;
use tally_hal::mock::{MockFlash, MockFlashError, RecordingSink};
use tally_host_sim::profiles;

const UPDATES: u64 = 100_000;

/// The async face of the same write-once mock.
struct Async(MockFlash<8, 4096>);

impl ErrorType for Async {
    type Error = MockFlashError;
}

impl embedded_storage_async::nor_flash::ReadNorFlash for Async {
    const READ_SIZE: usize = 1;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl embedded_storage_async::nor_flash::NorFlash for Async {
    const WRITE_SIZE: usize = 8;
    const ERASE_SIZE: usize = 4096;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.0.erase(from, to)
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.0.write(offset, bytes)
    }
}

fn count(i: u64) -> u32 {
    40 + (i * 13 % 9) as u32
}

fn sequential_storage() -> (f64, f64, Vec<u32>) {
    let mut flash = Async(MockFlash::new(4));
    let mut buf = [0u8; 64];
    {
        let mut map = MapStorage::<u8, _, _>::new(
            &mut flash,
            const { MapConfig::new(0..16384) },
            Cache::new_uncached(),
        );
        for i in 0..UPDATES {
            embassy_futures::block_on(map.store_item(&mut buf, &0u8, &count(i))).unwrap();
        }
    }
    let s = flash.0.stats;
    (
        s.bytes_written as f64 / UPDATES as f64,
        s.erases as f64 / UPDATES as f64,
        flash.0.erase_counts().to_vec(),
    )
}

fn tally() -> (f64, f64, Vec<u32>) {
    let profile = profiles::stack_switch().unwrap();
    let ident = Identity::from_platform(&profile.platform, &[], Release::V17_7).unwrap();
    let journal = FlashJournal::new(MockFlash::<8, 4096>::new(4), 0, 4).unwrap();
    let mut t = Timestamp(1_767_603_600);
    let mut agent = Agent::boot(ident, journal, t).unwrap();
    let mut sink = RecordingSink::default();
    for i in 0..UPDATES {
        t = t.add_secs(86);
        agent.set_usage(t, "network-essentials", count(i)).unwrap();
        agent.tick(t, &mut sink).unwrap();
    }
    let flash = agent.into_journal().into_flash();
    let s = flash.stats;
    (
        s.bytes_written as f64 / UPDATES as f64,
        s.erases as f64 / UPDATES as f64,
        flash.erase_counts().to_vec(),
    )
}

fn main() {
    println!(
        "{UPDATES} updates of one license count on 4 x 4 KiB, 8-byte words, write-once mock flash"
    );
    println!(
        "{:<42} {:>16} {:>16}  erase counts",
        "store", "bytes / update", "erases / update"
    );
    let (b, e, c) = sequential_storage();
    println!(
        "{:<42} {b:>16.1} {e:>16.5}  {c:?}",
        "sequential-storage 8 map (latest value)"
    );
    let (b, e, c) = tally();
    println!(
        "{:<42} {b:>16.1} {e:>16.5}  {c:?}",
        "tally FlashJournal (history, chain, RUM)"
    );
}
