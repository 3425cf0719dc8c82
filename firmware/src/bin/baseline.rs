//! The same runtime as the firmware image with no licensing code: its size is subtracted from the
//! image's to give the size of `tally-core` (scripts/bench-firmware.sh).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod image {
    // The vector table the runtime needs (its interrupts all default).
    use tally_firmware as _;

    use core::panic::PanicInfo;
    use cortex_m_rt::entry;

    #[entry]
    fn main() -> ! {
        loop {
            cortex_m::asm::wfi();
        }
    }

    #[panic_handler]
    fn panic(_: &PanicInfo) -> ! {
        cortex_m::peripheral::SCB::sys_reset()
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
