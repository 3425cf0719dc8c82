//! The licensing core alone, as a device whose CLI lives elsewhere links it: the agent on the
//! flash journal, every licensing entry point called (usage, measurement, report build and
//! signature, authority responses, imports of ACKs / policies / trust and authorization codes,
//! trust and authorization requests and returns, saved files, factory image, reset), and no
//! console, no `show` rendering, no serial protocol. Its flash minus `baseline`'s is the
//! "licensing core" figure of docs/PERFORMANCE.md, gated by scripts/size-budget.sh.
//!
//! What comes from the authority (responses, imported files) goes through `black_box`, so the
//! optimiser must keep every decoder and handler it could reach, as on a device where those
//! bytes come off the network. The authority's three real messages (a push receipt, an ACK
//! polled for, a newer ACK imported as a file) are bytes sealed on the host
//! (`firmware/fixtures/core_image/`, checked by tests/tests/core_image_messages.rs): a device
//! does not link the authority's serializers. The run itself (boot, usage, a month of measurements, a report
//! built and signed, a usage file saved) is real; behaviour is tested on the host and in the
//! hardware-in-the-loop tests, this image only has to link and run. It prints the agent's size
//! and the deepest stack, and exits 0 (101 on a failure).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    use core::hint::black_box;
    use core::panic::PanicInfo;
    use cortex_m_rt::entry;
    use semihosting::io::Write as _;
    use tally_core::agent::{Agent, Imported, ReturnMode, SyncScope};
    use tally_core::config::{ConfigChange, Transport};
    use tally_core::envelope;
    use tally_core::journal::flash::FlashJournal;
    use tally_core::rum::{ReportState, Selection};
    use tally_core::wire::AuthMode;
    use tally_core::wire::Kind;
    use tally_firmware::{CountingSink, DemoFlash, FirmwareKey, RamFiles, identity, stack};
    use tally_hal::{CommError, DeviceKey, Timestamp};

    /// Envelope scratch: the largest usage message the agent writes.
    const BIN: usize = tally_core::limits::Limits::USAGE_FILE_BYTES;
    /// Armour scratch for saved files (the armour of a whole `BIN`).
    const TEXT: usize = BIN / 48 * 65 + 512;

    // The authority's messages of the run, sealed on the host with the authority key below:
    // the image is the device, which never builds them (tests/tests/core_image_messages.rs
    // replays this run, checks these bytes and rewrites them with TALLY_BLESS=1).
    const RECEIPT: &[u8] = include_bytes!("../../fixtures/core_image/receipt.bin");
    const ACK: &[u8] = include_bytes!("../../fixtures/core_image/ack.bin");
    const ACK_FILE: &[u8] = include_bytes!("../../fixtures/core_image/ack-file.bin");

    static mut BIN_BUF: [u8; BIN] = [0; BIN];
    static mut TEXT_BUF: [u8; TEXT] = [0; TEXT];

    fn fail(what: &str) -> ! {
        say(&["core_image: ", what, " failed\n"]);
        semihosting::process::exit(101)
    }

    /// Text to the host with no formatting code of the harness's own in the measured image.
    fn say(parts: &[&str]) {
        if let Ok(mut out) = semihosting::io::stdout() {
            for p in parts {
                let _ = out.write_all(p.as_bytes());
            }
        }
    }

    /// `n` in decimal, in `buf`.
    fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &str {
        let mut at = buf.len();
        for b in buf.iter_mut().rev() {
            *b = b'0' + (n % 10) as u8;
            at -= 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        buf.get(at..)
            .and_then(|d| core::str::from_utf8(d).ok())
            .unwrap_or("?")
    }

    /// The deepest stack of the core's calls and the phase of the run it was in: each phase
    /// paints the stack below `main`'s frame and reads the high-water mark at its end.
    struct Phases {
        top: usize,
        current: &'static str,
        deepest: usize,
        deepest_in: &'static str,
    }

    impl Phases {
        fn start(name: &'static str) -> Self {
            Phases {
                top: stack::paint(),
                current: name,
                deepest: 0,
                deepest_in: name,
            }
        }

        fn next(&mut self, name: &'static str) {
            let depth = stack::peak(self.top);
            let mut n = [0; 20];
            say(&[
                "core_image: phase ",
                self.current,
                ": stack ",
                decimal(depth, &mut n),
                " bytes\n",
            ]);
            if depth > self.deepest {
                self.deepest = depth;
                self.deepest_in = self.current;
            }
            self.top = stack::paint();
            self.current = name;
        }
    }

    #[entry]
    fn main() -> ! {
        let mut phases = Phases::start("boot");
        run(&mut phases);
        phases.next("");
        // The agent without the 16 KiB partition image that `DemoFlash` keeps inside it (a
        // board's flash driver is a handle to the flash, not a copy of it).
        let agent = core::mem::size_of::<Agent<FlashJournal<DemoFlash>>>()
            - core::mem::size_of::<DemoFlash>();
        let (mut a, mut d, mut b) = ([0; 20], [0; 20], [0; 20]);
        say(&[
            "core_image: agent ",
            decimal(agent, &mut a),
            " bytes; deepest stack ",
            decimal(phases.deepest, &mut d),
            " bytes (",
            phases.deepest_in,
            "); scratch ",
            decimal(BIN + TEXT, &mut b),
            " bytes\n",
        ]);
        semihosting::process::exit(0)
    }

    #[allow(unsafe_code)] // the two scratch buffers: taken once, here, before anything else runs
    fn scratch() -> (&'static mut [u8; BIN], &'static mut [u8; TEXT]) {
        // SAFETY: called once from `run`, single core, no interrupt touches them.
        unsafe {
            (
                &mut *core::ptr::addr_of_mut!(BIN_BUF),
                &mut *core::ptr::addr_of_mut!(TEXT_BUF),
            )
        }
    }

    // Inlined, so that its locals (the agent, its files, keys) are `main`'s frame, which is
    // allocated before `stack::paint`: the peak is the core's calls, not this harness.
    #[inline(always)]
    fn run(phases: &mut Phases) {
        let (bin, text) = scratch();
        let t0 = Timestamp(1_767_603_600);
        let mut key =
            FirmwareKey::from_seed(b"core image device key").unwrap_or_else(|_| fail("key"));
        let authority =
            FirmwareKey::from_seed(b"core image authority").unwrap_or_else(|_| fail("key"));
        let ident = identity(authority.public_key()).unwrap_or_else(|_| fail("identity"));
        let journal =
            FlashJournal::new(DemoFlash::default(), 0, 4).unwrap_or_else(|_| fail("journal"));
        let mut slot = None;
        let agent =
            Agent::boot_into(&mut slot, ident, journal, t0).unwrap_or_else(|_| fail("boot"));
        let mut sink = CountingSink::default();
        let mut files = RamFiles::default();

        // The real part: usage, a month of measurements, a push built and signed.
        phases.next("usage and a month of measurements");
        agent
            .set_usage(t0, "network-essentials", 2)
            .unwrap_or_else(|_| fail("usage"));
        agent
            .set_usage(t0, black_box("hseck9"), 1)
            .unwrap_or_else(|_| fail("usage"));
        let mut t = t0;
        for _ in 0..30 * 96 {
            t = t.add_secs(900);
            agent.tick(t, &mut sink).unwrap_or_else(|_| fail("tick"));
        }
        phases.next("report build and signature");
        agent
            .request_sync(SyncScope::Local)
            .unwrap_or_else(|_| fail("sync"));
        if agent
            .poll_transmit(t, &mut key, bin)
            .unwrap_or_else(|_| fail("transmit"))
            .is_none()
        {
            fail("a push");
        }
        // The authority's receipt for the push, as bytes off the network (`black_box`: every
        // response decoder stays in the image).
        phases.next("the push receipt");
        agent
            .on_response(t, black_box(Ok(RECEIPT)), &mut sink)
            .unwrap_or_else(|_| fail("push receipt"));
        let answer: &[u8] = black_box(&[0u8; 64]);
        let _ = agent.on_response(t, black_box(Ok(answer)), &mut sink);
        let _ = agent.on_response(t, Err(black_box(CommError::Unreachable)), &mut sink);
        phases.next("a saved usage file");
        agent
            .save_usage(
                t,
                Selection::Unreported,
                "bootflash:u.txt",
                &mut files,
                &mut key,
                bin,
                text,
            )
            .unwrap_or_else(|_| fail("save usage"));

        // A real ACK for the push (of every report not open), polled for and then imported as
        // a file (verified, applied, journaled): the deepest calls of the core. The poll goes
        // out a minute after the receipt.
        phases.next("an ACK polled for");
        let t = t.add_secs(61);
        agent.tick(t, &mut sink).unwrap_or_else(|_| fail("tick"));
        if agent
            .poll_transmit(t, &mut key, bin)
            .unwrap_or_else(|_| fail("poll"))
            .is_none()
        {
            fail("a poll");
        }
        agent
            .on_response(t, black_box(Ok(ACK)), &mut sink)
            .unwrap_or_else(|_| fail("ACK poll"));
        // A refused ACK is a failed poll, not an error: the reports say whether it applied.
        if !agent
            .state()
            .reports
            .iter()
            .any(|r| r.state == ReportState::Ack)
        {
            fail("ACK poll");
        }
        let _ = agent.advance(t, t.add_secs(black_box(86_400)), &mut sink, &mut key, bin);
        // The same ACK as a file (a newer copy: verified, decoded and applied again).
        let n = envelope::armour(Kind::Ack.armour_label(), black_box(ACK_FILE), text)
            .unwrap_or_else(|_| fail("armour"));
        let file = text.get(..n).unwrap_or(&[]);
        phases.next("an ACK import");
        let acked = agent
            .import(t, file, bin, &mut sink)
            .unwrap_or_else(|_| fail("ACK import"));
        if !matches!(acked, Imported::Ack { .. }) {
            fail("ACK import");
        }

        // Every other import: a policy file, trust and authorization codes.
        phases.next("other imports, the factory image");
        let file: &[u8] = black_box(&[b'-'; 96]);
        let _ = agent.import(t, file, bin, &mut sink);
        let code: &[u8] = black_box(&[0u8; 96]);
        let _ = agent.install_factory(t, Some(code), &[code]);

        // Trust and authorization requests, returns, saved requests.
        phases.next("trust and authorization requests and returns");
        let _ = agent.trust_idtoken(t, black_box("token"), SyncScope::All, black_box(false));
        let _ = agent.save_trust_request(t, "bootflash:t.txt", &mut files, &mut key, bin, text);
        let mode = if black_box(true) {
            AuthMode::Add
        } else {
            AuthMode::Replace
        };
        let _ = agent.authorization_request(t, mode, black_box("hseck9"), SyncScope::Local);
        let _ = agent.save_authorization_request(
            t,
            "hseck9",
            SyncScope::Local,
            "bootflash:a.txt",
            &mut files,
            &mut key,
            bin,
            text,
        );
        let rmode = if black_box(true) {
            ReturnMode::Online
        } else {
            ReturnMode::Offline(None)
        };
        let _ = agent.authorization_return(
            t,
            SyncScope::Local,
            rmode,
            None,
            &mut files,
            &mut key,
            bin,
            text,
            &mut sink,
        );

        // Configuration, policy removal, factory reset, reload.
        phases.next("configuration, policy removal, reset");
        let transport = if black_box(true) {
            Transport::Off
        } else {
            Transport::Smart
        };
        let _ = agent.configure(t, ConfigChange::Transport(transport));
        phases.next("configuration");
        let _ = agent.configure(t, ConfigChange::UsageInterval(black_box(Some(30))));
        phases.next("policy removal, reset");
        let _ = agent.remove_policy(t, &mut sink);
        if black_box(false) {
            let _ = agent.factory_reset(t, &mut sink);
        }
        phases.next("a reload (the journal replayed)");
        agent
            .reboot(t.add_secs(60))
            .unwrap_or_else(|_| fail("reboot"));
        black_box(agent.next_wakeup());
        black_box(agent.state().counters.total);
        black_box(sink.0);
    }

    #[panic_handler]
    fn panic(_: &PanicInfo) -> ! {
        say(&["core_image: panic\n"]);
        semihosting::process::exit(101)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    println!("core_image runs under QEMU: bash scripts/size-budget.sh");
}
