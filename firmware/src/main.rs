//! The Tally firmware image.
//!
//! - thumbv7em (Cortex-M4F), board QEMU `mps2-an386`: the serial protocol server of
//!   `tally-link` on UART0, the licensing partition persisted through semihosting (see
//!   `boards/mps2_an386.rs`). `tally-sim console --device qemu` drives it.
//! - thumbv7em, board nRF52840-DK (feature `board-nrf52840`): the same server on UARTE0 (the
//!   DK's USB serial port), the licensing partition in the internal flash (see
//!   `boards/nrf52840.rs`). `tally-sim console --device serial:/dev/ttyACM0` drives it.
//! - thumbv6m (Cortex-M0): a link check that drives every part of the core once: it proves the
//!   core builds and links with no std and no allocator for the smallest parts.
//! - on the host: only a notice.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    use core::panic::PanicInfo;
    use cortex_m_rt::entry;

    #[cfg(all(target_has_atomic = "32", feature = "board-mps2-an386"))]
    #[entry]
    fn main() -> ! {
        tally_firmware::boards::mps2_an386::run()
    }

    #[cfg(all(target_has_atomic = "32", feature = "board-nrf52840"))]
    #[entry]
    fn main() -> ! {
        tally_firmware::boards::nrf52840::run()
    }

    #[cfg(not(target_has_atomic = "32"))]
    #[entry]
    fn main() -> ! {
        // 2026-01-05 09:00:00 UTC until the board has a clock.
        let out = tally_firmware::exercise(tally_hal::Timestamp(1_767_603_600));
        core::hint::black_box(out.is_ok());
        loop {
            cortex_m::asm::wfi();
        }
    }

    /// No panic is reachable from host input (clippy denies the ways to write one); if one
    /// happens anyway, say where and reset rather than hang.
    #[panic_handler]
    fn panic(info: &PanicInfo) -> ! {
        #[cfg(target_has_atomic = "32")]
        {
            if let Some(l) = info.location() {
                defmt::error!("panic at {=str}:{=u32}", l.file(), l.line());
            }
        }
        #[cfg(not(target_has_atomic = "32"))]
        let _ = info;
        cortex_m::peripheral::SCB::sys_reset()
    }

    /// UART0 RX interrupt (IRQ 0, named by the vector table of `tally_firmware::vectors`).
    #[cfg(all(target_has_atomic = "32", feature = "board-mps2-an386"))]
    #[allow(unsafe_code)] // the handler's symbol name is what the vector table links to
    #[unsafe(no_mangle)]
    extern "C" fn UART0RX() {
        tally_firmware::boards::mps2_an386::on_uart0_rx()
    }

    /// UARTE0 interrupt (the nRF52840 PAC's vector table names it).
    #[cfg(all(target_has_atomic = "32", feature = "board-nrf52840"))]
    #[allow(unsafe_code)] // the handler's symbol name is what the vector table links to
    #[unsafe(no_mangle)]
    extern "C" fn UARTE0_UART0() {
        tally_firmware::boards::nrf52840::on_uarte0()
    }

    // The defmt transport: semihosting under QEMU, RTT on the nRF52840 (probe-rs reads it).
    #[cfg(all(target_has_atomic = "32", feature = "board-nrf52840"))]
    use defmt_rtt as _;
    #[cfg(all(target_has_atomic = "32", not(feature = "board-nrf52840")))]
    use defmt_semihosting as _;
}

#[cfg(not(target_os = "none"))]
fn main() {
    println!(
        "tally-firmware is a Cortex-M image: cargo build -p tally-firmware --target thumbv7em-none-eabihf --release"
    );
}
