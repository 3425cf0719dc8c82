//! Board support: each board gives the protocol server ([`crate::server`]) its flash, files,
//! feature switches and serial line.

#[cfg(all(target_os = "none", target_has_atomic = "32", feature = "board-mps2-an386"))]
pub mod mps2_an386;
