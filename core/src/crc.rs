//! The CRCs of the flash journal and the provisioning image.
//!
//! CRC-32 (ISO-HDLC, the zlib/Ethernet one: reflected, polynomial 0xEDB88320, init and final
//! XOR 0xFFFFFFFF) four bits at a time from a 16-entry table: 64 bytes of table against the
//! `crc` crate's 1 KiB byte table, about twice the work per byte of it and a quarter of the
//! `crc` crate's table-less loop (ADR 0019; docs/PERFORMANCE.md, tenth pass). `tests` checks it
//! against the `crc` crate, which the host side (tally-link) still uses.
//!
//! CRC-8 (SMBus) covers three header bytes per record, so it takes the `crc` crate's
//! bit-at-a-time form and no table at all.

/// The nibble table: entry `n` is the CRC-32 register after shifting the four bits `n` through
/// (the well-known table; `tests::nibble_table_is_the_polynomials` derives it).
const NIBBLES: [u32; 16] = [
    0x0000_0000,
    0x1DB7_1064,
    0x3B6E_20C8,
    0x26D9_30AC,
    0x76DC_4190,
    0x6B6B_51F4,
    0x4DB2_6158,
    0x5005_713C,
    0xEDB8_8320,
    0xF00F_9344,
    0xD6D6_A3E8,
    0xCB61_B38C,
    0x9B64_C2B0,
    0x86D3_D2D4,
    0xA00A_E278,
    0xBDBD_F21C,
];

fn nibble(c: u32) -> u32 {
    // `c & 15` is below 16: the lookup cannot miss, and `get` keeps the lint honest.
    (c >> 4) ^ NIBBLES.get((c & 15) as usize).copied().unwrap_or(0)
}

/// CRC-32/ISO-HDLC of `bytes` (`crc::CRC_32_ISO_HDLC`).
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes
        .iter()
        .fold(!0u32, |c, &b| nibble(nibble(c ^ u32::from(b))))
}

/// CRC-8/SMBus of a record header (`crc::CRC_8_SMBUS`).
pub fn crc8(bytes: &[u8]) -> u8 {
    const CRC8: crc::Crc<u8, crc::NoTable> = crc::Crc::<u8, crc::NoTable>::new(&crc::CRC_8_SMBUS);
    CRC8.checksum(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REFERENCE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

    #[test]
    fn nibble_table_is_the_polynomials() {
        for (n, &entry) in NIBBLES.iter().enumerate() {
            let mut c = n as u32;
            for _ in 0..4 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
            assert_eq!(entry, c, "entry {n}");
        }
    }

    #[test]
    fn crc32_check_value_and_edges() {
        // The catalogue's check value ("123456789"), the empty input and one byte.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(&[0]), REFERENCE.checksum(&[0]));
        assert_eq!(crc32(&[0xFF; 4096]), REFERENCE.checksum(&[0xFF; 4096]));
    }

    #[test]
    fn crc8_check_value() {
        assert_eq!(crc8(b"123456789"), 0xF4);
        assert_eq!(
            crc8(&[1, 2, 3]),
            crc::Crc::<u8>::new(&crc::CRC_8_SMBUS).checksum(&[1, 2, 3])
        );
    }

    proptest! {
        #[test]
        fn crc32_is_the_crc_crates(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(crc32(&bytes), REFERENCE.checksum(&bytes));
        }
    }
}
