//! QEMU `mps2-an386` (Cortex-M4F), the CI board (DESIGN.md §6, `shared/notes/firmware-under-qemu.md`).
//!
//! - UART0 (CMSDK APB UART at 0x4000_4000) carries the `tally-link` protocol. Received bytes
//!   come in through the RX interrupt (IRQ 0) into a ring buffer shared with the main loop
//!   under `critical-section`.
//! - The licensing partition (8 × 4 KiB, 8-byte words, as the simulator's) lives in RAM and is
//!   written through to a host file with semihosting, so the file always holds exactly the
//!   flash operations done so far and killing QEMU is a real power cut.
//! - Device files (`bootflash:`) are host files in a directory, through semihosting, or RAM.
//! - Semihosting arguments: `<flash image> [<files dir>|-] [<provisioning image>]`.
//! - Logs: defmt over semihosting.
#![allow(unsafe_code)] // MMIO of the UART and the interrupt handler, each with its reason

use crate::server::{self, Activity, Board, Server};
use core::cell::{Cell, RefCell};
use core::ffi::CStr;
use critical_section::Mutex;
use embedded_storage::nor_flash::ErrorType;
use heapless::{Deque, String, Vec};
use semihosting::io::{Read as _, Seek as _, SeekFrom, Write as _};
use tally_hal::{FileError, Files, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use tally_link::{Received, Receiver};

const UART0: usize = 0x4000_4000;
const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INT: usize = 0x0C;
const BAUDDIV: usize = 0x10;
const TX_FULL: u32 = 1;
const RX_FULL: u32 = 2;

fn reg_read(off: usize) -> u32 {
    // SAFETY: a CMSDK UART register of mps2-an386, always mapped and 32-bit readable.
    unsafe { core::ptr::read_volatile((UART0 + off) as *const u32) }
}

fn reg_write(off: usize, v: u32) {
    // SAFETY: as above; writes to these registers have no effect beyond the UART.
    unsafe { core::ptr::write_volatile((UART0 + off) as *mut u32, v) }
}

/// Bytes received by the interrupt, not yet taken by the main loop. The host sends one
/// request and waits for its answer, so one whole frame (1,291 bytes) is the most in flight.
static RX: Mutex<RefCell<Deque<u8, 2048>>> = Mutex::new(RefCell::new(Deque::new()));
/// Bytes lost because the ring was full (never expected: the host waits for each answer).
static RX_LOST: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

/// UART0 RX interrupt (IRQ 0; the image's `UART0RX` handler calls this): move every received
/// byte into the ring.
pub fn on_uart0_rx() {
    // Clear first, then drain: a byte that lands after the last look sets the interrupt
    // again. Cleared after the drain, such a byte would sit in DATA with its interrupt gone
    // and QEMU offering nothing more: the line wedged (found by the hostile-frames test).
    reg_write(INT, 2);
    while reg_read(STATE) & RX_FULL != 0 {
        let b = reg_read(DATA) as u8;
        critical_section::with(|cs| {
            // `try_`: the ring is only borrowed inside critical sections, so never twice, and
            // a panic path is not linked for it.
            let pushed = RX
                .borrow(cs)
                .try_borrow_mut()
                .map(|mut rx| rx.push_back(b).is_ok());
            if !matches!(pushed, Ok(true)) {
                let lost = RX_LOST.borrow(cs);
                lost.set(lost.get().wrapping_add(1));
            }
        });
    }
}

#[derive(Copy, Clone)]
struct Uart0Rx;

// SAFETY: 0 is UART0 RX's external interrupt number on mps2-an386 (QEMU hw/arm/mps2.c).
unsafe impl cortex_m::interrupt::InterruptNumber for Uart0Rx {
    fn number(self) -> u16 {
        0
    }
}

fn uart_init() {
    reg_write(BAUDDIV, 16);
    reg_write(CTRL, 0b1011); // TX enable, RX enable, RX interrupt enable
    // SAFETY: the handler only touches the ring through critical sections.
    unsafe { cortex_m::peripheral::NVIC::unmask(Uart0Rx) };
}

fn uart_write(bytes: &[u8]) {
    for &b in bytes {
        while reg_read(STATE) & TX_FULL != 0 {}
        reg_write(DATA, u32::from(b));
    }
}

fn next_byte() -> Option<u8> {
    critical_section::with(|cs| RX.borrow(cs).try_borrow_mut().ok()?.pop_front())
}

/// A NUL-terminated path for semihosting.
fn cpath(s: &str) -> Option<Vec<u8, 256>> {
    let mut v = Vec::new();
    v.extend_from_slice(s.as_bytes()).ok()?;
    v.push(0).ok()?;
    Some(v)
}

fn as_cstr(v: &[u8]) -> Option<&CStr> {
    CStr::from_bytes_with_nul(v).ok()
}

/// Why a flash operation failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FlashError {
    OutOfBounds,
    NotAligned,
    /// A word written twice without an erase (ECC flash forbids it, DESIGN.md §4).
    WriteTwice,
    /// Power was cut during this operation.
    PowerCut,
    /// The host file could not be written.
    Io,
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashError::NotAligned => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

pub const WRITE: usize = 8;
pub const SECTOR: usize = 4096;
pub const SECTORS: usize = 8;
const BYTES: usize = SECTOR * SECTORS;

/// The RAM image of the partition, in `.bss`: a field of `FileFlash` would be copied with it
/// into the server, and into the agent at boot.
static MIRROR: crate::once::Once<[u8; BYTES]> = crate::once::Once::new([0; BYTES]);

/// The licensing partition: RAM, written through to a host file.
#[allow(missing_debug_implementations)] // holds the image; nothing to print
pub struct FileFlash {
    mem: &'static mut [u8; BYTES],
    file: Option<semihosting::fs::File>,
    /// Bytes of flash activity left before power goes (a test hook).
    cut: Option<u32>,
    pub lost_power: bool,
    pub erases: u32,
    pub written: u32,
}

impl FileFlash {
    /// The image at `path` (created erased if missing or of the wrong size); `None` the
    /// second time (there is one partition).
    fn open(path: Option<&str>) -> Option<FileFlash> {
        let mem = MIRROR.take()?;
        mem.fill(0xFF);
        let mut f = FileFlash {
            mem,
            file: None,
            cut: None,
            lost_power: false,
            erases: 0,
            written: 0,
        };
        let Some(p) = path.and_then(cpath) else {
            return Some(f);
        };
        let Some(c) = as_cstr(&p) else {
            return Some(f);
        };
        let mut whole = false;
        if let Ok(mut file) = semihosting::fs::File::open(c) {
            let mut img = [0u8; 512];
            let mut at = 0;
            let mut ok = true;
            while at < BYTES {
                match file.read(&mut img) {
                    Ok(0) => break,
                    Ok(n) => {
                        let src = img.get(..n).unwrap_or(&[]);
                        if let Some(dst) = f.mem.get_mut(at..at + src.len()) {
                            dst.copy_from_slice(src);
                        } else {
                            ok = false;
                            break;
                        }
                        at += n;
                    }
                    Err(_) => {
                        ok = false;
                        break;
                    }
                }
            }
            whole = ok && at == BYTES;
            if !whole {
                f.mem.fill(0xFF);
            }
        }
        // Semihosting opens read-write either an existing file (r+b) or a new, empty one (w+b).
        let mut opts = semihosting::fs::File::options();
        opts.read(true).write(true);
        if !whole {
            opts.create(true).truncate(true);
        }
        f.file = opts.open(c).ok();
        if !whole && let Some(file) = &mut f.file {
            let _ = file.write_all(f.mem.as_slice());
        }
        Some(f)
    }

    fn mirror(&mut self, from: usize, to: usize) -> Result<(), FlashError> {
        let (Some(file), Some(bytes)) = (&mut self.file, self.mem.get(from..to)) else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(from as u64))
            .and_then(|_| file.write_all(bytes))
            .map_err(|_| FlashError::Io)
    }

    /// How many of `n` bytes may happen before the power goes.
    fn budget(&mut self, n: usize) -> usize {
        match self.cut {
            Some(left) if (left as usize) < n => {
                self.cut = Some(0);
                left as usize
            }
            Some(left) => {
                self.cut = Some(left - n as u32);
                n
            }
            None => n,
        }
    }
}

impl Activity for FileFlash {
    fn activity(&self) -> (u32, u32) {
        (self.erases, self.written)
    }
}

impl ErrorType for FileFlash {
    type Error = FlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let at = offset as usize;
        let src = self
            .mem
            .get(at..at + bytes.len())
            .ok_or(FlashError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        BYTES
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        let (from, to) = (from as usize, to as usize);
        if !from.is_multiple_of(SECTOR) || !to.is_multiple_of(SECTOR) || to > BYTES || from > to {
            return Err(FlashError::NotAligned);
        }
        let n = self.budget(to - from);
        if let Some(dst) = self.mem.get_mut(from..from + n) {
            dst.fill(0xFF);
        }
        self.mirror(from, from + n)?;
        if n < to - from {
            self.lost_power = true;
            return Err(FlashError::PowerCut);
        }
        self.erases += ((to - from) / SECTOR) as u32;
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let at = offset as usize;
        if !at.is_multiple_of(WRITE) || !bytes.len().is_multiple_of(WRITE) {
            return Err(FlashError::NotAligned);
        }
        let cur = self
            .mem
            .get(at..at + bytes.len())
            .ok_or(FlashError::OutOfBounds)?;
        // Write-once words: a word may be programmed only while erased.
        for (c, b) in cur.chunks(WRITE).zip(bytes.chunks(WRITE)) {
            if c.iter().any(|x| *x != 0xFF) && c != b {
                return Err(FlashError::WriteTwice);
            }
        }
        let n = self.budget(bytes.len());
        if let (Some(dst), Some(src)) = (self.mem.get_mut(at..at + n), bytes.get(..n)) {
            for (d, s) in dst.iter_mut().zip(src) {
                *d &= *s;
            }
        }
        self.mirror(at, at + n)?;
        self.written += n as u32;
        if n < bytes.len() {
            self.lost_power = true;
            return Err(FlashError::PowerCut);
        }
        Ok(())
    }
}

/// Device files: host files in a directory (semihosting), or RAM when there is none.
struct HostFiles {
    dir: Option<String<200>>,
    ram: crate::RamFiles,
}

impl HostFiles {
    /// `bootflash:u.txt` → `<dir>/bootflash/u.txt`, with the simulator's rules (no `..`).
    fn host_path(&self, dir: &str, path: &str) -> Result<Vec<u8, 256>, FileError> {
        let (dev, rest) = match path.split_once(':') {
            Some((d, r)) => (d, r.trim_start_matches('/')),
            None => ("", path),
        };
        if rest.is_empty()
            || rest.split('/').any(|c| c == ".." || c.is_empty())
            || !dev.chars().all(|c| c.is_ascii_alphanumeric())
            || rest.contains('/')
        {
            return Err(FileError::BadPath);
        }
        let mut p: String<256> = String::new();
        let push = |p: &mut String<256>, s: &str| p.push_str(s).map_err(|_| FileError::BadPath);
        push(&mut p, dir)?;
        if !dev.is_empty() {
            push(&mut p, "/")?;
            push(&mut p, dev)?;
        }
        push(&mut p, "/")?;
        push(&mut p, rest)?;
        cpath(&p).ok_or(FileError::BadPath)
    }
}

impl Files for HostFiles {
    fn read(&mut self, path: &str, buf: &mut [u8]) -> Result<usize, FileError> {
        let Some(dir) = self.dir.clone() else {
            return self.ram.read(path, buf);
        };
        let p = self.host_path(&dir, path)?;
        let c = as_cstr(&p).ok_or(FileError::BadPath)?;
        let mut f = semihosting::fs::File::open(c).map_err(|_| FileError::NotFound)?;
        let mut n = 0;
        loop {
            let room = buf.get_mut(n..).ok_or(FileError::TooLarge)?;
            if room.is_empty() {
                // Full: a longer file is an error, not a truncation.
                let mut probe = [0u8; 1];
                return match f.read(&mut probe) {
                    Ok(0) => Ok(n),
                    _ => Err(FileError::TooLarge),
                };
            }
            match f.read(room) {
                Ok(0) => return Ok(n),
                Ok(k) => n += k,
                Err(_) => return Err(FileError::Io),
            }
        }
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), FileError> {
        let Some(dir) = self.dir.clone() else {
            return self.ram.write(path, data);
        };
        let p = self.host_path(&dir, path)?;
        let c = as_cstr(&p).ok_or(FileError::BadPath)?;
        semihosting::fs::write(c, data).map_err(|_| FileError::Io)
    }
}

struct Mps2 {
    files: HostFiles,
    arm: Option<u32>,
    stack_top: usize,
    /// The deepest stack of any request so far: each one's is repainted after it.
    deepest: usize,
}

impl Board for Mps2 {
    fn name(&self) -> &'static str {
        "qemu-mps2-an386"
    }
    fn files(&mut self) -> &mut dyn Files {
        &mut self.files
    }
    fn set_feature(&mut self, license: &str, on: bool) {
        defmt::info!("feature {=str} {=bool}", license, on);
    }
    fn arm_power_cut(&mut self, bytes: u32) {
        self.arm = Some(bytes);
    }
    fn stack_peak(&self) -> u32 {
        self.deepest.max(crate::stack::peak(self.stack_top)) as u32
    }

    fn stack_resident(&self) -> u32 {
        crate::stack::initial_sp().saturating_sub(self.stack_top) as u32
    }
}

/// Read a small host file whole (the provisioning image).
fn read_host(path: &str, buf: &mut [u8]) -> Option<usize> {
    let p = cpath(path)?;
    let mut f = semihosting::fs::File::open(as_cstr(&p)?).ok()?;
    let mut n = 0;
    while let Some(room) = buf.get_mut(n..) {
        match f.read(room) {
            Ok(0) => return Some(n),
            Ok(k) => n += k,
            Err(_) => return None,
        }
        if room.is_empty() {
            return None;
        }
    }
    None
}

/// The server's buffers (see `server::Buffers`).
static BUFFERS: crate::once::Once<server::Buffers> = crate::once::Once::new(server::Buffers::new());

/// What the main loop holds.
struct Device {
    server: Server<FileFlash>,
    board: Mps2,
}

/// The server and the board, from the semihosting arguments. Out of line: the arguments, the
/// provisioning image and the identity being built are then gone from the stack when the
/// main loop starts, instead of staying in its frame for good.
#[inline(never)]
fn setup() -> Device {
    let args = semihosting::experimental::env::args::<1024>();
    let mut words: Vec<String<200>, 4> = Vec::new();
    if let Ok(args) = &args {
        for a in args.into_iter().skip(1).flatten() {
            let mut s = String::new();
            if s.push_str(a).is_ok() {
                let _ = words.push(s);
            }
        }
    }
    let flash_path = words.first().map(String::as_str);
    let dir = words.get(1).filter(|d| d.as_str() != "-").cloned();
    let (Some(flash), Some(buf)) = (FileFlash::open(flash_path), BUFFERS.take()) else {
        semihosting::process::exit(2)
    };
    defmt::info!(
        "tally-firmware on qemu-mps2-an386, flash image {=bool}",
        flash.file.is_some()
    );

    // The provisioning image, or the development identity.
    let mut image = [0u8; tally_core::provision::PROVISION_BYTES];
    let provision = words
        .get(2)
        .and_then(|p| read_host(p.as_str(), &mut image))
        .and_then(|n| image.get(..n))
        .and_then(|b| tally_core::provision::Provisioning::decode(b).ok());
    let Some((mut ident, key)) = server::reference_identity() else {
        semihosting::process::exit(2)
    };
    let mut key = key;
    let (policy, codes) = match &provision {
        Some(p) => server::provision(p, &mut ident, &mut key).unwrap_or_else(|| {
            defmt::warn!("provisioning image refused; development identity");
            (None, Vec::new())
        }),
        None => (None, Vec::new()),
    };
    let policy_ref = policy.as_ref().map(|p| p.as_slice());
    let code_refs: Vec<&[u8], 2> = crate::first(codes.iter().map(|c| c.as_slice()));
    let server = Server::new(
        ident,
        key,
        flash,
        SECTORS as u32,
        policy_ref,
        &code_refs,
        buf,
    );
    let board = Mps2 {
        files: HostFiles {
            dir,
            ram: crate::RamFiles::default(),
        },
        arm: None,
        stack_top: 0,
        deepest: 0,
    };
    Device { server, board }
}

/// The firmware: set up the board, then answer requests forever.
pub fn run() -> ! {
    // Used in place, never moved out (a move would copy it within this frame).
    let mut dev = setup();
    // Everything above is set up; the stack below is what requests use.
    dev.board.stack_top = crate::stack::paint();
    uart_init();
    // Say so: QEMU holds bytes a UART did not accept before it was enabled, and does not
    // offer them again until the guest reads; the host waits for this frame.
    let mut ready = [0u8; 16];
    if let Ok(n) = tally_link::encode(&tally_link::Response::Ready, &mut ready) {
        uart_write(ready.get(..n).unwrap_or(&[]));
    }
    let mut rx = Receiver::default();
    loop {
        let Some(b) = next_byte() else {
            // Sleep only if the ring is still empty with interrupts masked: a byte that arrives
            // between the check and the WFI keeps its interrupt pending, and WFI returns.
            critical_section::with(|cs| {
                if RX.borrow(cs).try_borrow().is_ok_and(|rx| rx.is_empty()) {
                    cortex_m::asm::wfi();
                }
            });
            continue;
        };
        match rx.push(b) {
            Received::More => continue,
            Received::Frame(f) => dev.server.handle_frame(f, &mut dev.board),
            Received::Overflow => dev.server.overflow(),
        }
        if dev.server.flash_lost_power() {
            // Power went inside a flash operation: the device is dead until QEMU restarts.
            semihosting::process::exit(3);
        }
        uart_write(dev.server.response());
        // Nothing a request left on the stack (a signature's temporaries) outlives it.
        let used = crate::stack::peak(dev.board.stack_top);
        dev.board.deepest = dev.board.deepest.max(used);
        crate::stack::scrub(dev.board.stack_top, used);
        if let Some(bytes) = dev.board.arm.take() {
            dev.server.arm_flash_cut(bytes);
        }
    }
}

impl Server<FileFlash> {
    fn flash_lost_power(&self) -> bool {
        self.flash().is_some_and(|f| f.lost_power)
    }

    fn arm_flash_cut(&mut self, bytes: u32) {
        if let Some(f) = self.flash_mut() {
            f.cut = Some(bytes);
        }
    }
}
