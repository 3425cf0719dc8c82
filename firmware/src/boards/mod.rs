//! Board support: each board gives the protocol server ([`crate::server`]) its flash, files,
//! feature switches and serial line. The `tally-firmware` image is for exactly one board,
//! chosen by a cargo feature (`board-mps2-an386`, the default, or `board-nrf52840`).

#[cfg(all(feature = "board-mps2-an386", feature = "board-nrf52840"))]
compile_error!(
    "features `board-mps2-an386` and `board-nrf52840` are exclusive: build the nRF52840 image with --no-default-features --features board-nrf52840"
);

#[cfg(all(
    target_os = "none",
    target_has_atomic = "32",
    feature = "board-mps2-an386"
))]
pub mod mps2_an386;

#[cfg(all(
    target_os = "none",
    target_has_atomic = "32",
    feature = "board-nrf52840"
))]
pub mod nrf52840;
