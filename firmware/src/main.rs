//! The Tally firmware image for Cortex-M (board: QEMU mps2-an386; any Cortex-M0 part for the
//! thumbv6m build). It links the whole core with no std and no global allocator: if anything in
//! the core allocated, this image would not link. On the host it is only a notice.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    use core::panic::PanicInfo;
    use cortex_m_rt::entry;
    use tally_hal::Timestamp;

    #[entry]
    fn main() -> ! {
        // 2026-01-05 09:00:00 UTC until the board has a clock.
        let out = tally_firmware::exercise(Timestamp(1_767_603_600));
        core::hint::black_box(out.is_ok());
        loop {
            cortex_m::asm::wfi();
        }
    }

    /// No panic is reachable from host input (clippy denies the ways to write one); if one
    /// happens anyway, reset rather than hang.
    #[panic_handler]
    fn panic(_: &PanicInfo) -> ! {
        cortex_m::peripheral::SCB::sys_reset()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    println!(
        "tally-firmware is a Cortex-M image: cargo build -p tally-firmware --target thumbv7em-none-eabihf --release"
    );
}
