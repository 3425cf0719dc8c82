//! Instruction counts of the core on a Cortex-M4F, under QEMU `mps2-an386 -icount shift=0`.
//!
//! With `-icount shift=0` one instruction is one nanosecond of virtual time, and SysTick clocked
//! from the core runs at 25 MHz on this board: one tick is 40 instructions
//! (shared/notes/firmware-under-qemu.md §1). Each figure is the tick delta around one call, × 40.
//! Prints a table through semihosting and exits 0 (or 101 on a failure).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    use core::cell::Cell;
    use core::fmt::Write as _;
    use core::panic::PanicInfo;
    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m_rt::{entry, exception};
    use critical_section::Mutex;
    use semihosting::println;
    use tally_core::agent::{Agent, SyncScope};
    use tally_core::envelope;
    use tally_core::journal::RamJournal;
    use tally_core::limits::Limits;
    use tally_core::render;
    use tally_core::state::{Record, RecordRef, State};
    use tally_core::wire::{AckPayload, AckStatus, AckedReport, Kind};
    use tally_firmware::{Buf, CountingSink, FILE_BYTES, FirmwareKey, JOURNAL_BYTES, identity};
    use tally_hal::{CommError, DeviceKey, Timestamp};

    const RELOAD: u32 = 0x00FF_FFFF;
    const INSNS_PER_TICK: u64 = 40;
    static WRAPS: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

    #[exception]
    fn SysTick() {
        critical_section::with(|cs| {
            let w = WRAPS.borrow(cs);
            w.set(w.get().wrapping_add(1));
        });
    }

    fn ticks() -> u64 {
        loop {
            let before = critical_section::with(|cs| WRAPS.borrow(cs).get());
            let current = cortex_m::peripheral::SYST::get_current();
            let after = critical_section::with(|cs| WRAPS.borrow(cs).get());
            if before == after {
                return u64::from(before) * (u64::from(RELOAD) + 1) + u64::from(RELOAD - current);
            }
        }
    }

    /// Instructions spent in `f`, and the stack its calls used below the caller's frame.
    fn measure<T>(f: impl FnOnce() -> T) -> (u64, T) {
        let top = stack::paint();
        let t0 = ticks();
        let out = core::hint::black_box(f());
        let t1 = ticks();
        let depth = stack::used(top);
        critical_section::with(|cs| {
            let d = DEEPEST.borrow(cs);
            d.set(d.get().max(depth));
        });
        LAST_DEPTH.store(depth);
        ((t1 - t0) * INSNS_PER_TICK, out)
    }

    static DEEPEST: Mutex<Cell<usize>> = Mutex::new(Cell::new(0));

    /// The stack depth of the last measured call.
    struct Depth(Mutex<Cell<usize>>);
    impl Depth {
        fn store(&self, v: usize) {
            critical_section::with(|cs| self.0.borrow(cs).set(v));
        }
        fn load(&self) -> usize {
            critical_section::with(|cs| self.0.borrow(cs).get())
        }
    }
    static LAST_DEPTH: Depth = Depth(Mutex::new(Cell::new(0)));

    fn fail(what: &str) -> ! {
        println!("bench: {what} failed");
        semihosting::process::exit(101)
    }

    /// Lowest stack address written so far: the stack is painted below the current stack
    /// pointer at start, and the first unpainted word from the bottom is the high-water mark.
    mod stack {
        const PAINT: u32 = 0x5AFE_C0DE;
        const DEPTH: usize = 192 * 1024;

        #[allow(unsafe_code)] // reads and writes unused stack memory below the current frame
        pub fn paint() -> usize {
            let sp = cortex_m::register::msp::read() as usize;
            let bottom = sp - DEPTH;
            let mut p = bottom;
            while p < sp - 256 {
                // SAFETY: [bottom, sp - 256) is RAM below the live stack (4 MiB of RAM on mps2).
                unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
                p += 4;
            }
            sp
        }

        #[allow(unsafe_code)] // reads the painted region back
        pub fn used(top: usize) -> usize {
            let mut p = top - DEPTH;
            // SAFETY: the same region `paint` wrote.
            while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
                p += 4;
            }
            top - p
        }
    }

    #[entry]
    fn main() -> ! {
        let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| fail("peripherals"));
        cp.SYST.set_clock_source(SystClkSource::Core);
        cp.SYST.set_reload(RELOAD);
        cp.SYST.clear_current();
        cp.SYST.enable_interrupt();
        cp.SYST.enable_counter();
        run();
        semihosting::process::exit(0)
    }

    fn run() {
        let t0 = Timestamp(1_767_603_600);
        let mut key = FirmwareKey::from_seed(b"bench device key").unwrap_or_else(|_| fail("key"));
        let mut authority =
            FirmwareKey::from_seed(b"bench authority key").unwrap_or_else(|_| fail("key"));
        let ident = identity(authority.public_key()).unwrap_or_else(|_| fail("identity"));
        let mut sink = CountingSink::default();
        println!(
            "Tally core on Cortex-M4F (QEMU mps2-an386, -icount shift=0), instructions per call"
        );

        println!(
            "size_of State                                    {}",
            core::mem::size_of::<State>()
        );
        println!(
            "size_of Record (owned, as a host decodes it)     {}",
            core::mem::size_of::<Record>()
        );
        println!(
            "size_of RecordRef (as committed and replayed)    {}",
            core::mem::size_of::<RecordRef<'static>>()
        );
        println!(
            "size_of Agent<RamJournal<{}>>                 {}",
            JOURNAL_BYTES,
            core::mem::size_of::<Agent<RamJournal<JOURNAL_BYTES>>>()
        );
        // In place, as the firmware boots (`Agent::boot` returns the agent by value: its
        // copies would be counted too).
        let mut slot = None;
        let (n, booted) = measure(|| {
            Agent::boot_into(&mut slot, ident, RamJournal::<JOURNAL_BYTES>::new(), t0).map(|_| ())
        });
        booted.unwrap_or_else(|_| fail("boot"));
        let agent = slot.as_mut().unwrap_or_else(|| fail("boot"));
        println!(
            "boot, empty journal                              {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        let (n, r) = measure(|| agent.set_usage(t0, "network-essentials", 2));
        r.unwrap_or_else(|_| fail("usage"));
        println!(
            "usage change, first use (opens a report)        {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        let (n, r) = measure(|| agent.set_usage(t0.add_secs(60), "network-essentials", 3));
        r.unwrap_or_else(|_| fail("usage"));
        println!(
            "usage change, empty backlog                      {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        agent
            .set_usage(t0, "dna-essentials", 2)
            .unwrap_or_else(|_| fail("usage"));
        let (n, r) = measure(|| agent.tick(t0.add_secs(900), &mut sink));
        r.unwrap_or_else(|_| fail("tick"));
        println!(
            "15-minute measurement tick                       {n:>10}   stack {}",
            LAST_DEPTH.load()
        );

        // Where the signing cost goes.
        let (n, pk) = measure(|| key.public_key());
        println!(
            "  device key: public key                         {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        let (n, _) = measure(|| key.sign_digest(&[7u8; 32]));
        println!(
            "  device key: ECDSA sign of a digest             {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        let (n, _) = measure(|| tally_core::envelope::key_id(&pk));
        println!(
            "  key id (SHA-256 of the public key)             {n:>10}   stack {}",
            LAST_DEPTH.load()
        );

        let mut bin = [0u8; FILE_BYTES];
        agent
            .request_sync(SyncScope::Local)
            .unwrap_or_else(|_| fail("sync"));

        let (n, r) = measure(|| agent.poll_transmit(t0.add_secs(901), &mut key, &mut bin));
        let len = r.ok().flatten().map_or(0, |t| t.len);
        println!(
            "report build + sign, 2 reports ({len} bytes)      {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        let _ = agent.on_response(t0.add_secs(902), Err(CommError::Unreachable), &mut sink);

        // Fill the report table: every failed sync closes and reopens both licenses' reports.
        let mut t = t0.add_secs(1000);
        while agent.state().reports.len() < Limits::REPORTS {
            t = t.add_secs(60);
            let _ = agent.request_sync(SyncScope::Local);
            let _ = agent.poll_transmit(t, &mut key, &mut bin);
            let _ = agent.on_response(t, Err(CommError::Unreachable), &mut sink);
        }
        let (n, r) = measure(|| agent.set_usage(t.add_secs(60), "network-essentials", 4));
        r.unwrap_or_else(|_| fail("usage"));
        println!(
            "usage change, full backlog ({} reports)          {n:>10}   stack {}",
            agent.state().reports.len(),
            LAST_DEPTH.load()
        );
        let (n, r) = measure(|| agent.set_usage(t.add_secs(61), "network-essentials", 0));
        r.unwrap_or_else(|_| fail("usage"));
        println!(
            "usage change to 0, full backlog                  {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        // Close the report that holds the drop to 0, so the next use must open a new report in a
        // full table (and merge two old ones to make room).
        let _ = agent.request_sync(SyncScope::Local);
        let _ = agent.poll_transmit(t.add_secs(62), &mut key, &mut bin);
        let _ = agent.on_response(t.add_secs(62), Err(CommError::Unreachable), &mut sink);
        let merged = agent.state().counters.merged;
        let (n, r) = measure(|| agent.set_usage(t.add_secs(63), "network-essentials", 2));
        r.unwrap_or_else(|_| fail("usage"));
        if agent.state().counters.merged != merged + 1 {
            fail("make room by merging");
        }
        println!(
            "usage change 0 -> 2, full backlog (merges two)  {n:>10}   stack {}",
            LAST_DEPTH.load()
        );

        let _ = agent.request_sync(SyncScope::Local);
        let unsent = agent
            .state()
            .reports
            .iter()
            .filter(|r| r.state != tally_core::rum::ReportState::Open)
            .count();
        let (n, r) = measure(|| agent.poll_transmit(t.add_secs(120), &mut key, &mut bin));
        let len = r.ok().flatten().map_or(0, |t| t.len);
        println!(
            "report build + sign, {unsent} reports ({len} bytes)   {n:>10}   stack {}",
            LAST_DEPTH.load()
        );
        let _ = agent.on_response(t.add_secs(121), Err(CommError::Unreachable), &mut sink);

        // An ACK for every report, sealed by the authority key and armoured as a file.
        let mut reports = heapless::Vec::new();
        for r in agent
            .state()
            .reports
            .iter()
            .filter(|r| r.state != tally_core::rum::ReportState::Open)
        {
            let _ = reports.push(AckedReport {
                id: r.id,
                status: AckStatus::Accepted,
            });
        }
        let acked = reports.len();
        let ack = AckPayload {
            udi: agent.identity().udi.clone(),
            issued_at: t.add_secs(130),
            seq: 1,
            transaction: 1,
            reports,
            account: None,
            policy: None,
            trust: heapless::Vec::new(),
            auth: heapless::Vec::new(),
        };
        let n_env = envelope::seal(Kind::Ack, &ack, &mut authority, &mut bin)
            .unwrap_or_else(|_| fail("seal"));
        let mut text = [0u8; FILE_BYTES];
        let n_text = envelope::armour(
            Kind::Ack.armour_label(),
            bin.get(..n_env).unwrap_or(&[]),
            &mut text,
        )
        .unwrap_or_else(|_| fail("armour"));
        let mut scratch = [0u8; FILE_BYTES];
        let (n, r) = measure(|| {
            agent.import(
                t.add_secs(140),
                text.get(..n_text).unwrap_or(&[]),
                &mut scratch,
                &mut sink,
            )
        });
        if r.is_err() {
            fail("import");
        }
        println!(
            "ACK verify + apply, {acked} reports ({n_text} bytes)  {n:>10}   stack {}",
            LAST_DEPTH.load()
        );

        let mut out: Buf<8192> = Buf::default();
        let (n, _) = measure(|| render::show_all(&mut out, agent));
        println!(
            "render show license all ({} bytes)           {n:>10}   stack {}",
            out.bytes.len(),
            LAST_DEPTH.load()
        );
        let mut w: Buf<64> = Buf::default();
        let _ = write!(w, "{}", sink.0);
        let deepest = critical_section::with(|cs| DEEPEST.borrow(cs).get());
        println!("deepest stack of any call above (bytes)          {deepest:>10}");

        println!();
        println!("Flash journal (8-byte words, 4 KiB sectors, flash in RAM)");
        flash_journal::<{ 4 * 4096 }>("16 KiB", 4);
        flash_journal::<{ 16 * 4096 }>("64 KiB", 16);
    }

    /// Usage changes on the flash journal with an empty and a full backlog, and mounts of a
    /// full partition (the worst of several points through a generation).
    fn flash_journal<const N: usize>(label: &str, sectors: u32) {
        use tally_core::journal::flash::FlashJournal;
        use tally_firmware::RamFlash;
        let authority =
            FirmwareKey::from_seed(b"bench authority key").unwrap_or_else(|_| fail("key"));
        let ident = identity(authority.public_key()).unwrap_or_else(|_| fail("identity"));
        let journal = FlashJournal::new(RamFlash::<8, 4096, N>::default(), 0, sectors)
            .unwrap_or_else(|_| fail("journal"));
        let mut t = Timestamp(1_767_603_600);
        let mut sink = CountingSink::default();
        let mut agent = Agent::boot(ident.clone(), journal, t).unwrap_or_else(|_| fail("boot"));
        agent
            .set_usage(t, "network-essentials", 40)
            .unwrap_or_else(|_| fail("usage"));
        let (mut typical, mut worst) = (u64::MAX, 0u64);
        for i in 0..8u32 {
            t = t.add_secs(60);
            let (n, r) = measure(|| agent.set_usage(t, "network-essentials", 41 + i % 2));
            r.unwrap_or_else(|_| fail("usage"));
            typical = typical.min(n);
            worst = worst.max(n);
        }
        println!(
            "{label}: usage change, empty backlog             {typical:>10}   fastest of 8; slowest {worst}; stack {}",
            LAST_DEPTH.load()
        );
        // Fill: thousands of changes, the report table full of merged reports, the ring wrapped.
        for i in 0..4000u64 {
            t = t.add_secs(86);
            agent
                .set_usage(t, "network-essentials", 40 + (i * 13 % 9) as u32)
                .unwrap_or_else(|_| fail("fill"));
            if i % 10 == 0 {
                agent.tick(t, &mut sink).unwrap_or_else(|_| fail("tick"));
            }
        }
        let held = agent.state().reports.len();
        let (mut typical, mut worst, mut count) = (u64::MAX, 0u64, 0u64);
        let mut mount_worst = 0u64;
        for i in 0..400u64 {
            t = t.add_secs(86);
            let (n, r) =
                measure(|| agent.set_usage(t, "network-essentials", 40 + (i * 7 % 9) as u32));
            r.unwrap_or_else(|_| fail("usage"));
            typical = typical.min(n);
            worst = worst.max(n);
            count += 1;
            if i % 20 == 0 {
                let image = agent.journal().flash().clone();
                let (n, r) = measure(|| {
                    let j =
                        FlashJournal::new(image, 0, sectors).unwrap_or_else(|_| fail("journal"));
                    Agent::boot(ident.clone(), j, t).map(|a| a.state().counters.total)
                });
                r.unwrap_or_else(|_| fail("mount"));
                mount_worst = mount_worst.max(n);
            }
        }
        println!(
            "{label}: usage change, full backlog ({held} reports)  {typical:>10}   fastest of {count}; slowest {worst} (it compacts)"
        );
        println!("{label}: mount (replay + boot), full partition {mount_worst:>10}   worst of 20");
    }

    #[panic_handler]
    fn panic(_: &PanicInfo) -> ! {
        println!("bench: panic");
        semihosting::process::exit(101)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    println!("bench runs under QEMU: bash scripts/bench-firmware.sh");
}
