//! The simulated device's NOR flash: the write-once mock of `tally-hal`, written through to a
//! file with `--state`, so the file always holds exactly the operations done so far and a
//! `kill -9` of the simulator is a real power cut (issue 3).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use tally_hal::mock::{MockFlash, MockFlashError};
use tally_hal::{NorFlash, ReadNorFlash};

/// Write size of the simulated flash: 8 bytes, like the double words of an STM32L4/G4.
pub const WRITE_SIZE: usize = 8;
/// Erase sector of the simulated flash.
pub const SECTOR_SIZE: usize = 4096;
/// Sectors of the licensing partition.
pub const SECTORS: usize = 8;

/// NOR flash mirrored to a file.
#[derive(Debug)]
pub struct FileFlash {
    mem: MockFlash<WRITE_SIZE, SECTOR_SIZE>,
    file: Option<File>,
}

impl FileFlash {
    /// An erased flash in memory only.
    pub fn in_memory() -> FileFlash {
        FileFlash {
            mem: MockFlash::new(SECTORS),
            file: None,
        }
    }

    /// The flash image at `path`, created erased if missing.
    pub fn open(path: &Path) -> std::io::Result<FileFlash> {
        let size = SECTORS * SECTOR_SIZE;
        let mem = match std::fs::read(path) {
            Ok(image) if image.len() == size => MockFlash::from_image(&image)
                .map_err(|e| std::io::Error::other(format!("flash image: {e:?}")))?,
            Ok(image) => {
                return Err(std::io::Error::other(format!(
                    "{}: {} bytes, a flash image is {size}",
                    path.display(),
                    image.len()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(path, vec![0xFF; size])?;
                MockFlash::new(SECTORS)
            }
            Err(e) => return Err(e),
        };
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(FileFlash {
            mem,
            file: Some(file),
        })
    }

    /// Cut power after `bytes` more bytes of writing or erasing (`sim power-cut`).
    pub fn cut_power_after(&mut self, bytes: u64) {
        self.mem.cut_power_after(bytes);
    }

    /// Whether a cut happened; if so, power comes back (the device is rebooted by the caller).
    pub fn take_power_cut(&mut self) -> bool {
        if self.mem.is_powered() {
            return false;
        }
        self.mem.restore_power();
        true
    }

    pub fn erase_counts(&self) -> &[u32] {
        self.mem.erase_counts()
    }

    pub fn stats(&self) -> tally_hal::mock::FlashStats {
        self.mem.stats
    }

    /// Copy what the memory holds in `[from, to)` to the file.
    fn mirror(&self, from: u32, to: u32) -> Result<(), MockFlashError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let bytes = self
            .mem
            .image()
            .get(from as usize..to as usize)
            .ok_or(MockFlashError::OutOfBounds)?;
        file.write_all_at(bytes, u64::from(from))
            .map_err(|_| MockFlashError::PowerCut)
    }
}

impl embedded_storage::nor_flash::ErrorType for FileFlash {
    type Error = MockFlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.mem.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.mem.capacity()
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = SECTOR_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let result = self.mem.erase(from, to);
        // Mirror whatever happened, torn or whole.
        self.mirror(from, to.min(self.mem.capacity() as u32))?;
        result
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let result = self.mem.write(offset, bytes);
        if !matches!(
            result,
            Err(MockFlashError::NotAligned
                | MockFlashError::OutOfBounds
                | MockFlashError::WriteTwice { .. })
        ) {
            self.mirror(offset, offset + bytes.len() as u32)?;
        }
        result
    }
}
