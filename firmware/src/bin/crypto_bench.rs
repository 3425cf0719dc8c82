//! ECDSA P-256 on a Cortex-M4F under QEMU `mps2-an386 -icount shift=0`: checks the crypto
//! backend this image was built with against the known answers and Wycheproof vectors the host
//! tests use (`core/tests/data/`), and counts the instructions of one verify, one sign and one
//! public-key derivation.
//!
//! Built twice by `scripts/bench-crypto.sh`: without features (RustCrypto `p256`) and with
//! `--features p256-cm4` (the P256-Cortex-M4 assembly). Instruction counts as in `bench.rs`:
//! SysTick from the core clock at 25 MHz under `-icount shift=0`, one tick = 40 instructions.
//! Exits 0 when every check passed, 1 on any mismatch, 101 on a panic or a fault.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    // The vector table the runtime needs (its interrupts all default), and the firmware's
    // stack scrub (`fw_stack`).

    use core::cell::Cell;
    use core::panic::PanicInfo;
    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m_rt::{entry, exception};
    use critical_section::Mutex;
    use semihosting::println;
    use sha2::Digest;
    use tally_core::crypto::{self, CryptoError, LocalKey};
    use tally_firmware::stack as fw_stack;
    use tally_hal::DeviceKey;

    const KAT: &str = include_str!("../../../core/tests/data/p256_kat.txt");
    const WYCHEPROOF: &str =
        include_str!("../../../core/tests/data/wycheproof_p256_sha256_p1363.txt");

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

    /// Instructions spent in `f`, the stack its calls used, and its result.
    fn measure<T>(f: impl FnOnce() -> T) -> (u64, usize, T) {
        let top = stack::paint();
        let t0 = ticks();
        let out = core::hint::black_box(f());
        let t1 = ticks();
        ((t1 - t0) * INSNS_PER_TICK, stack::used(top), out)
    }

    /// Stack high-water mark: paint below the stack pointer, find the lowest overwritten word.
    mod stack {
        const PAINT: u32 = 0x5AFE_C0DE;
        const DEPTH: usize = 64 * 1024;

        #[allow(unsafe_code)] // writes unused stack memory below the current frame
        pub fn paint() -> usize {
            let sp = cortex_m::register::msp::read() as usize;
            let mut p = sp - DEPTH;
            while p < sp - 256 {
                // SAFETY: [sp - DEPTH, sp - 256) is RAM below the live stack (4 MiB on mps2).
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

    /// Leaves a copy of `value` in this function's frame, dead once it returns: what a
    /// request's temporaries do. At the frame's low end, below the 256 bytes under the
    /// caller's stack pointer that the search leaves out. True, to pass for a signature.
    #[inline(never)]
    fn leave_on_stack(value: &[u8; 32]) -> bool {
        let mut frame = [0u8; 512];
        if let Some(low) = frame.first_chunk_mut::<32>() {
            *low = *value;
        }
        core::hint::black_box(&frame);
        true
    }

    /// Pass/fail counts of one group of checks; mismatches are printed as they happen.
    #[derive(Default)]
    struct Tally {
        passed: u32,
        failed: u32,
    }

    impl Tally {
        fn check(&mut self, ok: bool, what: &str, id: &str) {
            if ok {
                self.passed += 1;
            } else {
                self.failed += 1;
                println!("MISMATCH {what} {id}");
            }
        }
    }

    /// The words of a data-file line before its `#` comment.
    fn words(line: &str) -> core::str::SplitWhitespace<'_> {
        line.split('#').next().unwrap_or("").split_whitespace()
    }

    fn records(text: &'static str, tag: &'static str) -> impl Iterator<Item = [&'static str; 4]> {
        text.lines().filter_map(move |line| {
            let mut w = words(line);
            if w.next() != Some(tag) {
                return None;
            }
            Some([
                w.next().unwrap_or(""),
                w.next().unwrap_or(""),
                w.next().unwrap_or(""),
                w.next().unwrap_or(""),
            ])
        })
    }

    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }

    /// Decode hex (`-` is empty) into `buf`; `None` if malformed or too long.
    fn hex<'a>(s: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
        if s == "-" {
            return Some(&[]);
        }
        let digits = s.as_bytes();
        if !digits.len().is_multiple_of(2) || digits.len() / 2 > buf.len() {
            return None;
        }
        for (out, pair) in buf.iter_mut().zip(digits.chunks_exact(2)) {
            if let [hi, lo] = *pair {
                *out = (nibble(hi)? << 4) | nibble(lo)?;
            }
        }
        buf.get(..digits.len() / 2)
    }

    fn hex_n<const N: usize>(s: &str) -> Option<[u8; N]> {
        let mut buf = [0u8; N];
        let len = hex(s, &mut buf)?.len();
        (len == N).then_some(buf)
    }

    fn sha256(data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    fn fail(what: &str) -> ! {
        println!("crypto_bench: {what}");
        semihosting::process::exit(1)
    }

    #[entry]
    fn main() -> ! {
        let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| fail("peripherals"));
        cp.SYST.set_clock_source(SystClkSource::Core);
        cp.SYST.set_reload(RELOAD);
        cp.SYST.clear_current();
        cp.SYST.enable_interrupt();
        cp.SYST.enable_counter();
        let failed = run();
        semihosting::process::exit(if failed == 0 { 0 } else { 1 })
    }

    /// Every check, then the figures; returns the number of failed checks.
    fn run() -> u32 {
        println!(
            "crypto_bench: ECDSA P-256 on Cortex-M4F (QEMU mps2-an386, -icount shift=0), backend {}",
            crypto::BACKEND
        );

        // RFC 6979 A.2.5.
        let mut rfc = Tally::default();
        let secret = records(KAT, "rfc-secret")
            .find_map(|[s, ..]| hex_n::<32>(s))
            .unwrap_or_else(|| fail("data: rfc-secret"));
        let public = records(KAT, "rfc-public")
            .find_map(|[s, ..]| hex_n::<65>(s))
            .unwrap_or_else(|| fail("data: rfc-public"));
        rfc.check(
            crypto::public_key(&secret) == Ok(public),
            "rfc public key",
            "",
        );
        let mut key = LocalKey::from_secret(secret).unwrap_or_else(|_| fail("rfc key"));
        let mut sample: Option<([u8; 32], [u8; 64])> = None;
        for [msg, sig, ..] in records(KAT, "rfc-sign") {
            let digest = sha256(msg.as_bytes());
            let Some(sig) = hex_n::<64>(sig) else {
                rfc.check(false, "rfc data", msg);
                continue;
            };
            rfc.check(
                crypto::sign_prehash(&secret, &digest) == Ok(sig),
                "rfc sign",
                msg,
            );
            rfc.check(
                key.sign_digest(&digest) == Ok(sig),
                "rfc LocalKey sign",
                msg,
            );
            rfc.check(
                crypto::verify_prehash(&public, &digest, &sig).is_ok(),
                "rfc verify",
                msg,
            );
            let mut other = digest;
            if let Some(b) = other.last_mut() {
                *b ^= 1;
            }
            rfc.check(
                crypto::verify_prehash(&public, &other, &sig) == Err(CryptoError::BadSignature),
                "rfc verify, other digest",
                msg,
            );
            if msg == "sample" {
                sample = Some((digest, sig));
            }
        }
        let (sample_digest, sample_sig) = sample.unwrap_or_else(|| fail("data: rfc-sign sample"));

        // k·G.
        let mut kg = Tally::default();
        for [k, x, y, _] in records(KAT, "kg") {
            let (Some(k), Some(x), Some(y)) = (hex_n::<32>(k), hex_n::<32>(x), hex_n::<32>(y))
            else {
                kg.check(false, "kg data", k);
                continue;
            };
            let mut want = [4u8; 65];
            if let Some((xs, ys)) = want
                .get_mut(1..)
                .and_then(|t| t.split_first_chunk_mut::<32>())
            {
                xs.copy_from_slice(&x);
                ys.copy_from_slice(&y);
            }
            kg.check(crypto::public_key(&k) == Ok(want), "kg", "");
        }

        // Signatures on the edges of the scalars, made by the portable backend.
        let mut xsign = Tally::default();
        for [s, d, sig, _] in records(KAT, "xsign") {
            let (Some(s), Some(d), Some(sig)) = (hex_n::<32>(s), hex_n::<32>(d), hex_n::<64>(sig))
            else {
                xsign.check(false, "xsign data", "");
                continue;
            };
            xsign.check(crypto::sign_prehash(&s, &d) == Ok(sig), "xsign", "");
            let verified = crypto::public_key(&s)
                .and_then(|pk| crypto::verify_prehash(&pk, &d, &sig))
                .is_ok();
            xsign.check(verified, "xsign verify", "");
        }

        // Refusals.
        let mut reject = Tally::default();
        for [k, ..] in records(KAT, "badkey") {
            let ok = hex_n::<65>(k).is_some_and(|k| {
                crypto::verify_prehash(&k, &sample_digest, &sample_sig) == Err(CryptoError::BadKey)
            });
            reject.check(ok, "badkey", "");
        }
        for [s, ..] in records(KAT, "badsecret") {
            let ok = hex_n::<32>(s).is_some_and(|s| {
                crypto::public_key(&s) == Err(CryptoError::BadSecret)
                    && crypto::sign_prehash(&s, &sample_digest) == Err(CryptoError::BadSecret)
            });
            reject.check(ok, "badsecret", "");
        }

        // Wycheproof.
        let mut wp = Tally::default();
        let (mut valid, mut invalid) = (0u32, 0u32);
        let mut wkey: Option<[u8; 65]> = None;
        for line in WYCHEPROOF.lines() {
            let mut w = words(line);
            let Some(first) = w.next() else { continue };
            if first == "key" {
                wkey = w.next().and_then(hex_n::<65>);
                continue;
            }
            let (Some(result), Some(msg), Some(sig)) = (w.next(), w.next(), w.next()) else {
                wp.check(false, "wycheproof data", first);
                continue;
            };
            let (mut msg_buf, mut sig_buf) = ([0u8; 64], [0u8; 128]);
            let (Some(k), Some(msg), Some(sig)) =
                (wkey, hex(msg, &mut msg_buf), hex(sig, &mut sig_buf))
            else {
                wp.check(false, "wycheproof data", first);
                continue;
            };
            let got = crypto::verify_prehash(&k, &sha256(msg), sig);
            let want = match result {
                "valid" => {
                    valid += 1;
                    Ok(())
                }
                _ => {
                    invalid += 1;
                    Err(CryptoError::BadSignature)
                }
            };
            wp.check(got == want, "wycheproof tcId", first);
        }

        // The figures, on the RFC 6979 key and "sample".
        let (n_verify, s_verify, r) =
            measure(|| crypto::verify_prehash(&public, &sample_digest, &sample_sig));
        let mut timed = Tally::default();
        timed.check(r.is_ok(), "timed verify", "");
        let (n_sign, s_sign, r) = measure(|| crypto::sign_prehash(&secret, &sample_digest));
        timed.check(r == Ok(sample_sig), "timed sign", "");
        let (n_pk, s_pk, r) = measure(|| crypto::public_key(&secret));
        timed.check(r == Ok(public), "timed public key", "");
        // Through the DeviceKey the agent signs with: `LocalKey` prepares its signing key once,
        // so this is the signature alone (the portable `sign_prehash` derives the public key
        // again on every call).
        let (n_sign_key, _, r) = measure(|| key.sign_digest(&sample_digest));
        timed.check(r == Ok(sample_sig), "timed LocalKey sign", "");

        // ADR 0022: what a signature leaves of the key and of its nonce on the dead stack,
        // as 8-byte runs of their big-endian bytes or of their little-endian words: the key's
        // holders clear it, so none of the key; the arithmetic's temporaries are not cleared,
        // so some of the nonce, until the firmware's `stack::scrub` after the request.
        let nonce = records(KAT, "rfc-nonce")
            .find_map(|[m, k, ..]| (m == "sample").then(|| hex_n::<32>(k)).flatten())
            .unwrap_or_else(|| fail("data: rfc-nonce"));
        let mut scrubbed = Tally::default();
        // [sign_prehash, LocalKey, a copy left by `leave_on_stack`] x [key, nonce]
        let mut left = [[0usize; 2]; 3];
        for (i, found) in left.iter_mut().enumerate() {
            let top = fw_stack::paint();
            let signed = core::hint::black_box(match i {
                0 => crypto::sign_prehash(&secret, &sample_digest) == Ok(sample_sig),
                1 => key.sign_digest(&sample_digest) == Ok(sample_sig),
                _ => leave_on_stack(&nonce),
            });
            scrubbed.check(signed, "scrubbed sign", "");
            let used = fw_stack::peak(top);
            let runs = |top, value: &[u8; 32]| {
                let mut reversed = *value;
                reversed.reverse();
                let mut n = 0;
                for form in [value, &reversed] {
                    for run in form.windows(8).step_by(4) {
                        n += fw_stack::occurrences(top, used, run);
                    }
                }
                n
            };
            *found = [runs(top, &secret), runs(top, &nonce)];
            scrubbed.check(found[0] == 0, "key left on the stack by a signature", "");
            if i == 2 {
                // The search finds a copy that is there, so the next check can fail.
                scrubbed.check(found[1] > 0, "a copy left on the stack found", "");
            }
            fw_stack::scrub(top, used);
            scrubbed.check(
                runs(top, &secret) + runs(top, &nonce) == 0,
                "key or nonce left after stack::scrub",
                "",
            );
        }

        let groups = [
            ("RFC 6979 A.2.5", &rfc),
            ("k*G public keys", &kg),
            ("edge signatures", &xsign),
            ("refusals", &reject),
            ("Wycheproof", &wp),
            ("timed calls", &timed),
            ("stack scrubbed", &scrubbed),
        ];
        let mut failed = 0;
        for (name, t) in groups {
            println!(
                "checks {name:<16} {:>4} passed {:>3} failed",
                t.passed, t.failed
            );
            failed += t.failed;
        }
        println!("Wycheproof vectors: {valid} valid, {invalid} invalid");
        println!(
            "verify (RFC 6979 key, \"sample\")   {n_verify:>10} instructions   stack {s_verify}"
        );
        println!("sign (RFC 6979 key, \"sample\")     {n_sign:>10} instructions   stack {s_sign}");
        println!("public key (RFC 6979 key)         {n_pk:>10} instructions   stack {s_pk}");
        println!("LocalKey::sign_digest             {n_sign_key:>10} instructions");
        println!(
            "left on the stack by sign_prehash / LocalKey::sign_digest, 8-byte runs: key {} / {}, nonce {} / {}; by a planted copy {}; none after stack::scrub",
            left[0][0], left[1][0], left[0][1], left[1][1], left[2][1]
        );
        let checks: u32 = groups.iter().map(|(_, t)| t.passed + t.failed).sum();
        println!(
            "result backend={} verify={n_verify} sign={n_sign} sign_key={n_sign_key} pubkey={n_pk} verify_stack={s_verify} sign_stack={s_sign} pubkey_stack={s_pk} checks={checks} failed={failed}",
            crypto::BACKEND
        );
        failed
    }

    /// A fault (an undefined instruction, a bad access) ends the run at once instead of
    /// spinning until the script's timeout.
    #[allow(unsafe_code)] // cortex-m-rt requires the HardFault handler to be an `unsafe fn`
    #[exception]
    unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
        println!("crypto_bench: HardFault at pc {:#010x}", frame.pc());
        semihosting::process::exit(101)
    }

    #[panic_handler]
    fn panic(_: &PanicInfo) -> ! {
        println!("crypto_bench: panic");
        semihosting::process::exit(101)
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    println!("crypto_bench runs under QEMU: bash scripts/bench-crypto.sh");
}
