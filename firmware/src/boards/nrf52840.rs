//! Nordic nRF52840 (the nRF52840-DK, PCA10056): the real MCU profile (DESIGN.md §6). Built in CI,
//! flashed with probe-rs (README, "Flashing a dev board").
//!
//! - Serial: UARTE0 on the DK's interface-MCU pins (P0.06 TX, P0.08 RX, 115200 8N1), which the
//!   host sees as the DK's USB serial port. EasyDMA receives without a pause into a 4 KiB ring
//!   in two halves: the ENDRX→STARTRX short restarts reception at once, and the RXSTARTED
//!   interrupt points the DMA at the other half for the transfer after. TIMER1 counts received
//!   bytes (PPI: UARTE0 RXDRDY → TIMER1 COUNT), so the main loop knows how far the ring is
//!   filled. Reception goes on while the server computes and while a flash erase stalls the
//!   CPU (at most 85 ms a page; a half is 178 ms of line time); the RXSTARTED counter and the
//!   error count are shared with the handler under `critical-section`.
//! - Licensing partition: the last 8 pages of the internal flash (32 KiB at 0xF8000) through the
//!   NVMC (nrf-hal's `Nvmc`: 4-byte words, 4 KiB pages), outside the linker's FLASH region
//!   (`memory-nrf52840.x`). [`NvmcFlash`] programs a word only while it is erased, as ECC flash
//!   requires (the nRF52840 would allow two writes; the journal is not allowed to rely on it).
//! - Provisioning image: the page before the partition (0xF7000), written with probe-rs; without
//!   a valid one, the development identity (`server::reference_identity`).
//! - Device files: RAM (`crate::RamFiles`: two files of 12 KiB; lost at reset).
//! - Feature switches: LED1 (P0.13, active low) is on while an export-controlled license
//!   (HSECK9 in the reference catalogue) is enabled.
//! - Logs: defmt over RTT (`probe-rs run` prints them). The debug port is kept open
//!   ([`keep_debug_port_open`]): this is a development profile.
#![allow(unsafe_code)] // flash areas, the DMA ring, UARTE0 RX and APPROTECT registers, the stack paint: each with its reason

use crate::server::{self, Activity, Board, Server};
use core::cell::{Cell, UnsafeCell};
use critical_section::Mutex;
use embedded_hal::digital::OutputPin;
use heapless::Vec;
use nrf52840_hal::gpio::{Level, Output, Pin, PushPull};
use nrf52840_hal::nvmc::{Nvmc, NvmcError};
use nrf52840_hal::pac;
use nrf52840_hal::ppi::{self, ConfigurablePpi, Ppi};
use nrf52840_hal::uarte::{self, Baudrate, Parity, Uarte};
use tally_hal::{Enforcement, Files, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use tally_link::{Received, Receiver};

/// Internal flash of the nRF52840 (xxAA).
pub const FLASH_BYTES: u32 = 1024 * 1024;
/// NVMC page: the erase unit.
pub const SECTOR: usize = 4096;
/// Pages of the licensing partition.
pub const SECTORS: usize = 8;
/// Start of the licensing partition: the last `SECTORS` pages (`LICENSING` in memory-nrf52840.x).
pub const PARTITION: u32 = FLASH_BYTES - (SECTORS * SECTOR) as u32;
/// Start of the provisioning image: the page before the partition (`PROVISION` in
/// memory-nrf52840.x; `probe-rs download --binary-format bin --base-address 0xF7000`).
pub const PROVISION_AREA: u32 = PARTITION - SECTOR as u32;

// The partition's geometry against the NVMC and the journal's rules (FlashJournal: at least two
// sectors, words of 1..=32 bytes that divide the sector), checked when the image is built.
const _: () = {
    let w = <Nvmc<pac::NVMC> as NorFlash>::WRITE_SIZE;
    let e = <Nvmc<pac::NVMC> as NorFlash>::ERASE_SIZE;
    assert!(w == 4, "the NVMC programs 32-bit words");
    assert!(e == SECTOR, "the NVMC erases 4 KiB pages");
    assert!(<NvmcFlash as NorFlash>::WRITE_SIZE == w);
    assert!(<NvmcFlash as NorFlash>::ERASE_SIZE == e);
    assert!(w >= 1 && w <= 32 && e.is_multiple_of(w));
    assert!(SECTORS >= 2, "the journal needs two sectors");
    assert!(PARTITION.is_multiple_of(SECTOR as u32));
    assert!(
        PARTITION == 0xF8000 && PROVISION_AREA == 0xF7000,
        "memory-nrf52840.x says so"
    );
    assert!(tally_core::provision::PROVISION_BYTES <= SECTOR);
};

/// Why a flash operation was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FlashError {
    OutOfBounds,
    NotAligned,
    /// A word programmed twice without an erase (ECC flash forbids it, DESIGN.md §4).
    WriteTwice,
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FlashError::WriteTwice => NorFlashErrorKind::Other,
        }
    }
}

impl From<NvmcError> for FlashError {
    fn from(e: NvmcError) -> Self {
        match e {
            NvmcError::Unaligned => FlashError::NotAligned,
            NvmcError::OutOfBounds => FlashError::OutOfBounds,
        }
    }
}

/// The licensing partition: nrf-hal's `Nvmc` over the last 8 pages, counting erases and bytes
/// for `Status`, and refusing to program a word that is not erased.
pub struct NvmcFlash {
    nvmc: Nvmc<pac::NVMC>,
    erases: u32,
    written: u32,
}

impl core::fmt::Debug for NvmcFlash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NvmcFlash")
            .field("erases", &self.erases)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

const W: usize = 4;

impl NvmcFlash {
    fn new(nvmc: pac::NVMC) -> NvmcFlash {
        // SAFETY: [PARTITION, FLASH_BYTES) is internal flash that nothing else maps: the linker's
        // FLASH region ends at the provisioning page (memory-nrf52840.x), and this is the only
        // slice made of it. It is page-aligned and a whole number of pages, as `Nvmc::new`
        // asserts.
        let storage = unsafe {
            core::slice::from_raw_parts_mut(PARTITION as usize as *mut u8, SECTORS * SECTOR)
        };
        NvmcFlash {
            nvmc: Nvmc::new(nvmc, storage),
            erases: 0,
            written: 0,
        }
    }
}

impl Activity for NvmcFlash {
    fn activity(&self) -> (u32, u32) {
        (self.erases, self.written)
    }
}

impl embedded_storage::nor_flash::ErrorType for NvmcFlash {
    type Error = FlashError;
}

impl ReadNorFlash for NvmcFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        Ok(self.nvmc.read(offset, bytes)?)
    }

    fn capacity(&self) -> usize {
        self.nvmc.capacity()
    }
}

impl NorFlash for NvmcFlash {
    const WRITE_SIZE: usize = <Nvmc<pac::NVMC> as NorFlash>::WRITE_SIZE;
    const ERASE_SIZE: usize = <Nvmc<pac::NVMC> as NorFlash>::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        self.nvmc.erase(from, to)?;
        self.erases += to.saturating_sub(from) / SECTOR as u32;
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let at = offset as usize;
        if !at.is_multiple_of(W) || !bytes.len().is_multiple_of(W) {
            return Err(FlashError::NotAligned);
        }
        if at.saturating_add(bytes.len()) > self.capacity() {
            return Err(FlashError::OutOfBounds);
        }
        // Check every word first, so that a refused write changes nothing: a word may be
        // programmed only while erased; one that already holds the value is left alone (so a
        // word is never programmed twice, and writing 0xFFFFFFFF programs nothing).
        let mut cur = [0u8; W];
        for (i, new) in bytes.chunks_exact(W).enumerate() {
            self.nvmc.read((at + i * W) as u32, &mut cur)?;
            if cur != [0xFF; W] && cur != new {
                return Err(FlashError::WriteTwice);
            }
        }
        for (i, new) in bytes.chunks_exact(W).enumerate() {
            let o = (at + i * W) as u32;
            self.nvmc.read(o, &mut cur)?;
            if cur != new {
                self.nvmc.write(o, new)?;
            }
        }
        self.written += bytes.len() as u32;
        Ok(())
    }
}

// ---- UARTE0: EasyDMA reception into a ring -------------------------------------------------

/// Bytes of the receive ring (a power of two, two DMA transfers of `HALF`).
const RING: usize = 4096;
const HALF: usize = RING / 2;
const _: () = assert!(RING.is_power_of_two() && HALF <= u16::MAX as usize);

/// The receive ring. Written only by UARTE0's EasyDMA; read only by [`Rx::next_byte`], with
/// volatile reads, at positions the byte counter says the DMA has filled.
#[repr(C, align(4))]
struct DmaRing(UnsafeCell<[u8; RING]>);

// SAFETY: no Rust reference to the contents is ever made; the DMA writes and the main loop
// reads single bytes through raw pointers (see above).
unsafe impl Sync for DmaRing {}

static RING_BUF: DmaRing = DmaRing(UnsafeCell::new([0; RING]));

fn ring_base() -> *mut u8 {
    RING_BUF.0.get().cast::<u8>()
}

/// What the UARTE0 handler and the main loop share.
#[derive(Copy, Clone, Default)]
struct RxShared {
    /// RXSTARTED events: DMA transfers begun. The handler points the next one at the half
    /// after.
    started: u32,
    /// Framing, parity, overrun and break conditions seen (ERRORSRC).
    errors: u32,
}

static RX: Mutex<Cell<RxShared>> = Mutex::new(Cell::new(RxShared {
    started: 0,
    errors: 0,
}));

/// UARTE0's registers for the handler and the RX setup.
fn uarte0() -> &'static pac::uarte0::RegisterBlock {
    // SAFETY: UARTE0's register block is always mapped. nrf-hal's `Uarte` owns the peripheral
    // and uses only its TX registers (TXD.*, STARTTX/STOPTX, ENDTX/TXSTOPPED); the RX registers
    // (RXD.*, SHORTS, INTENSET, RXSTARTED/RXDRDY/ERROR, ERRORSRC) are used only here, by
    // single-word accesses.
    unsafe { &*pac::UARTE0::ptr() }
}

/// UARTE0 interrupt (the image's `UARTE0_UART0` handler calls this): RXSTARTED points the next
/// DMA transfer at the other half of the ring; RXDRDY only wakes the main loop; ERROR is counted.
pub fn on_uarte0() {
    let u = uarte0();
    if u.events_rxstarted.read().bits() != 0 {
        u.events_rxstarted.reset();
        let started = critical_section::with(|cs| {
            let cell = RX.borrow(cs);
            let mut s = cell.get();
            s.started = s.started.wrapping_add(1);
            cell.set(s);
            s.started
        });
        let next = ring_base().wrapping_add((started as usize % 2) * HALF);
        // SAFETY: RXD.PTR takes any RAM address; this one is a half of the static ring.
        u.rxd.ptr.write(|w| unsafe { w.ptr().bits(next as u32) });
        // SAFETY: HALF fits the 16-bit MAXCNT (checked above).
        u.rxd
            .maxcnt
            .write(|w| unsafe { w.maxcnt().bits(HALF as u16) });
    }
    if u.events_rxdrdy.read().bits() != 0 {
        u.events_rxdrdy.reset();
    }
    if u.events_error.read().bits() != 0 {
        u.events_error.reset();
        let src = u.errorsrc.read().bits();
        // SAFETY: writing back the bits read clears them (write-one-to-clear).
        u.errorsrc.write(|w| unsafe { w.bits(src) });
        critical_section::with(|cs| {
            let cell = RX.borrow(cs);
            let mut s = cell.get();
            s.errors = s.errors.wrapping_add(1);
            cell.set(s);
        });
    }
}

/// The main loop's side of the ring.
struct Rx {
    counter: pac::TIMER1,
    /// Bytes taken so far (wrapping; the ring position is this modulo `RING`).
    taken: u32,
    /// Bytes lost to an overrun of the ring (never expected: the host waits for each answer).
    lost: u32,
}

impl Rx {
    /// Start reception: TIMER1 counts RXDRDY through PPI channel 0, the DMA fills the ring.
    fn start(counter: pac::TIMER1, ppi: pac::PPI) -> Rx {
        counter.tasks_stop.write(|w| w.tasks_stop().set_bit());
        counter.mode.write(|w| w.mode().counter());
        counter.bitmode.write(|w| w.bitmode()._32bit());
        counter.tasks_clear.write(|w| w.tasks_clear().set_bit());
        counter.tasks_start.write(|w| w.tasks_start().set_bit());
        let u = uarte0();
        let mut parts = ppi::Parts::new(ppi);
        parts.ppi0.set_event_endpoint(&u.events_rxdrdy);
        parts.ppi0.set_task_endpoint(&counter.tasks_count);
        parts.ppi0.enable();

        u.events_rxstarted.reset();
        u.events_rxdrdy.reset();
        u.events_endrx.reset();
        u.events_error.reset();
        // SAFETY: the first half of the static ring; HALF fits MAXCNT.
        u.rxd
            .ptr
            .write(|w| unsafe { w.ptr().bits(ring_base() as u32) });
        u.rxd
            .maxcnt
            .write(|w| unsafe { w.maxcnt().bits(HALF as u16) });
        u.shorts.write(|w| w.endrx_startrx().enabled());
        u.intenset.write(|w| {
            w.rxstarted().set();
            w.rxdrdy().set();
            w.error().set()
        });
        // SAFETY: the handler touches only UARTE0's RX registers and `RX`, under critical
        // sections.
        unsafe { cortex_m::peripheral::NVIC::unmask(pac::Interrupt::UARTE0_UART0) };
        u.tasks_startrx.write(|w| w.tasks_startrx().set_bit());
        Rx {
            counter,
            taken: 0,
            lost: 0,
        }
    }

    /// Bytes the DMA has received so far (wrapping).
    fn received(&self) -> u32 {
        self.counter.tasks_capture[0].write(|w| w.tasks_capture().set_bit());
        self.counter.cc[0].read().bits()
    }

    /// The next received byte, if any.
    fn next_byte(&mut self) -> Option<u8> {
        let received = self.received();
        let pending = received.wrapping_sub(self.taken);
        if pending == 0 {
            return None;
        }
        if pending > RING as u32 {
            // Overwritten before it was read: drop what is in the ring; the receiver's CRC
            // refuses the damaged frame and the host asks again.
            self.lost = self.lost.wrapping_add(pending);
            self.taken = received;
            defmt::warn!("uarte0: {=u32} bytes lost (ring overrun)", pending);
            return None;
        }
        if pending == 1 {
            // RXDRDY may come a few bus cycles before EasyDMA has stored the byte.
            cortex_m::asm::delay(64);
        }
        let at = self.taken as usize % RING;
        // SAFETY: `at` < RING; the DMA stored this byte (the counter passed it) and will not
        // overwrite it before `RING` more bytes arrive (checked above).
        let b = unsafe { core::ptr::read_volatile(ring_base().add(at)) };
        self.taken = self.taken.wrapping_add(1);
        Some(b)
    }

    /// Sleep until something happens, unless a byte is already waiting.
    fn wait(&self) {
        // With interrupts masked, WFI still wakes on a pending one: a byte that arrives after
        // the check is not slept through.
        cortex_m::interrupt::free(|_| {
            if self.received() == self.taken {
                cortex_m::asm::wfi();
            }
        });
    }
}

// ---- the board ---------------------------------------------------------------------------

/// Stack high-water mark between `_stack_end` (the top of `.bss`/`.uninit`) and the stack
/// pointer at setup.
mod stack {
    use crate::stack::PAINT;
    // After each request: `crate::stack::scrub`, with this module's `peak`.

    unsafe extern "C" {
        static _stack_end: u32;
    }

    fn bottom() -> usize {
        // Only the address of cortex-m-rt's linker symbol, never its contents.
        core::ptr::addr_of!(_stack_end) as usize
    }

    /// Paint the free stack below the current frame; returns the stack pointer.
    pub fn paint() -> usize {
        let sp = cortex_m::register::msp::read() as usize;
        let mut p = bottom().next_multiple_of(4);
        while p < sp.saturating_sub(256) {
            // SAFETY: [_stack_end, sp - 256) is RAM between the statics and the live stack,
            // used by no one yet.
            unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
        sp
    }

    /// Deepest stack used below `top` (a value `paint` returned), in bytes.
    pub fn peak(top: usize) -> usize {
        let mut p = bottom().next_multiple_of(4);
        // SAFETY: the region `paint` wrote.
        while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
            p += 4;
        }
        top.saturating_sub(p)
    }

    /// Bytes between the statics and `sp`.
    pub fn room(sp: usize) -> usize {
        sp.saturating_sub(bottom())
    }
}

struct Dk {
    files: crate::RamFiles,
    /// LED1 (P0.13), active low.
    led: Pin<Output<PushPull>>,
    /// Licenses whose feature LED1 shows (the export-controlled ones).
    export: Vec<&'static str, 4>,
    stack_top: usize,
    /// The deepest stack of any request so far: each one's is repainted after it.
    deepest: usize,
}

impl Board for Dk {
    fn name(&self) -> &'static str {
        "nrf52840-dk"
    }
    fn files(&mut self) -> &mut dyn Files {
        &mut self.files
    }
    fn set_feature(&mut self, license: &str, on: bool) {
        defmt::info!("feature {=str} {=bool}", license, on);
        if self.export.contains(&license) {
            // The enforcement hook: the export-controlled function is on while LED1 is lit.
            let _ = if on {
                self.led.set_low()
            } else {
                self.led.set_high()
            };
        }
    }
    fn arm_power_cut(&mut self, _bytes: u32) {
        // A real board loses power when it is unplugged; there is no simulated cut here.
        defmt::warn!("power-cut hook: not on this board (unplug it instead)");
    }
    fn stack_peak(&self) -> u32 {
        self.deepest.max(stack::peak(self.stack_top)) as u32
    }

    fn stack_resident(&self) -> u32 {
        crate::stack::initial_sp().saturating_sub(self.stack_top) as u32
    }
}

/// The provisioning image in its page, if the page holds one: postcard bytes, then the CRC,
/// then erased flash.
fn provisioning() -> Option<tally_core::provision::Provisioning> {
    // SAFETY: the provisioning page is internal flash outside every linker region
    // (memory-nrf52840.x), always readable, and never written by this firmware.
    let page = unsafe {
        core::slice::from_raw_parts(
            PROVISION_AREA as usize as *const u8,
            tally_core::provision::PROVISION_BYTES,
        )
    };
    if page.iter().take(16).all(|b| *b == 0xFF) {
        return None; // erased: never provisioned
    }
    // The image's length: where its postcard body ends, plus the CRC.
    let (_, rest) = tally_core::decode::take::<tally_core::provision::Provisioning>(page).ok()?;
    let len = page.len().checked_sub(rest.len())?.checked_add(4)?;
    let image = page.get(..len)?;
    match tally_core::provision::Provisioning::decode(image) {
        Ok(p) => Some(p),
        Err(_) => {
            defmt::warn!("provisioning page at 0xF7000 does not hold a valid image");
            None
        }
    }
}

/// Keep the debug port open (a dev board: probe-rs flashes, provisions and reads the log). On
/// nRF52840 build codes F and later, every reset locks the SWD port unless UICR.APPROTECT is
/// HwDisabled and the firmware writes APPROTECT.DISABLE = SwDisabled; probe-rs could then only
/// erase the whole chip, the licensing partition and the provisioning page included. (A
/// product would do the opposite: its device key is in the provisioning page.) Returns whether
/// UICR was written, which takes effect after a reset.
fn keep_debug_port_open(ficr: &pac::FICR, uicr: &pac::UICR, nvmc: &pac::NVMC) -> bool {
    const HW_DISABLED: u32 = 0x5A;
    const APPROTECT_DISABLE: usize = 0x4000_0558;
    let build_code = (ficr.info.variant.read().bits() >> 8) as u8;
    if build_code < b'F' {
        return false; // the older access port protection: open unless UICR enables it
    }
    let mut written = false;
    let cur = uicr.approtect.read().bits();
    if cur != HW_DISABLED && cur & HW_DISABLED == HW_DISABLED {
        cortex_m::interrupt::free(|_| {
            nvmc.config.write(|w| w.wen().wen());
            while nvmc.ready.read().ready().bit_is_clear() {}
            // SAFETY: UICR.APPROTECT takes any value; this one is HwDisabled (only clears bits).
            uicr.approtect.write(|w| unsafe { w.bits(HW_DISABLED) });
            cortex_m::asm::dsb();
            while nvmc.ready.read().ready().bit_is_clear() {}
            nvmc.config.write(|w| w.wen().ren());
            while nvmc.ready.read().ready().bit_is_clear() {}
        });
        written = true;
    }
    // SAFETY: APPROTECT.DISABLE (not in the PAC's register list) exists on these build codes;
    // SwDisabled keeps the port open until the next reset.
    unsafe { core::ptr::write_volatile(APPROTECT_DISABLE as *mut u32, HW_DISABLED) };
    written
}

/// The server, with the provisioning image's identity or the development one; `export` gets
/// the export-controlled licenses (LED1). Out of line: the provisioning image and the identity
/// being built are then gone from the stack when the main loop starts, instead of staying in
/// its frame for good.
#[inline(never)]
fn new_server(flash: NvmcFlash, export: &mut Vec<&'static str, 4>) -> Server<NvmcFlash> {
    // The provisioning image, or the development identity.
    let Some((mut ident, mut key)) = server::reference_identity() else {
        defmt::error!("no reference identity");
        cortex_m::peripheral::SCB::sys_reset()
    };
    let (policy, codes) = match provisioning() {
        Some(p) => match server::provision(&p, &mut ident, &mut key) {
            Some(factory) => {
                defmt::info!("provisioned identity from 0xF7000");
                factory
            }
            None => {
                defmt::warn!("provisioning image refused; development identity");
                (None, Vec::new())
            }
        },
        None => {
            defmt::info!("not provisioned; development identity");
            (None, Vec::new())
        }
    };
    for def in ident.catalogue.iter() {
        if def.enforcement == Enforcement::ExportControlled {
            let _ = export.push(def.name);
        }
    }
    let policy_ref = policy.as_ref().map(|p| p.as_slice());
    let code_refs: Vec<&[u8], 2> = crate::first(codes.iter().map(|c| c.as_slice()));
    let Some(buf) = BUFFERS.take() else {
        cortex_m::peripheral::SCB::sys_reset()
    };
    Server::new(
        ident,
        key,
        flash,
        SECTORS as u32,
        policy_ref,
        &code_refs,
        buf,
    )
}

/// The server's buffers (see `server::Buffers`).
static BUFFERS: crate::once::Once<server::Buffers> = crate::once::Once::new(server::Buffers::new());

/// The firmware: set up the board, then answer requests forever.
pub fn run() -> ! {
    let Some(p) = pac::Peripherals::take() else {
        cortex_m::peripheral::SCB::sys_reset()
    };
    if keep_debug_port_open(&p.FICR, &p.UICR, &p.NVMC) {
        cortex_m::peripheral::SCB::sys_reset();
    }
    // The UARTE's baud rate from the crystal (HFXO) rather than the RC oscillator.
    let _clocks = nrf52840_hal::Clocks::new(p.CLOCK).enable_ext_hfosc();
    let port0 = nrf52840_hal::gpio::p0::Parts::new(p.P0);
    let led = port0.p0_13.into_push_pull_output(Level::High).degrade();
    let pins = uarte::Pins {
        txd: port0.p0_06.into_push_pull_output(Level::High).degrade(),
        rxd: port0.p0_08.into_floating_input().degrade(),
        cts: None,
        rts: None,
    };
    let mut uart = Uarte::new(p.UARTE0, pins, Parity::EXCLUDED, Baudrate::BAUD115200);
    let flash = NvmcFlash::new(p.NVMC);
    defmt::info!(
        "tally-firmware on nrf52840-dk: partition {=u32:#x}, {=usize} pages",
        PARTITION,
        SECTORS
    );

    let mut export = Vec::new();
    let mut server = new_server(flash, &mut export);
    let mut board = Dk {
        files: crate::RamFiles::default(),
        led,
        export,
        stack_top: 0,
        deepest: 0,
    };
    // Everything above is set up; the stack below is what requests use.
    board.stack_top = stack::paint();
    defmt::info!(
        "stack for requests: {=usize} bytes",
        stack::room(board.stack_top)
    );
    let mut rx = Rx::start(p.TIMER1, p.PPI);
    let mut link = Receiver::default();
    let mut reported = (0u32, 0u32);
    loop {
        let Some(b) = rx.next_byte() else {
            rx.wait();
            continue;
        };
        match link.push(b) {
            Received::More => continue,
            Received::Frame(f) => server.handle_frame(f, &mut board),
            Received::Overflow => server.overflow(),
        }
        // EasyDMA reads the frame from RAM (the server's buffers are a static in RAM).
        let reply = server.response();
        if uart.write(reply).is_err() {
            defmt::warn!("uarte0: reply of {=usize} bytes not sent", reply.len());
        }
        // Nothing a request left on the stack (a signature's temporaries) outlives it.
        let used = stack::peak(board.stack_top);
        board.deepest = board.deepest.max(used);
        crate::stack::scrub(board.stack_top, used);
        let seen = (
            critical_section::with(|cs| RX.borrow(cs).get().errors),
            rx.lost,
        );
        if seen != reported {
            reported = seen;
            defmt::warn!(
                "uarte0: {=u32} line errors, {=u32} bytes lost",
                seen.0,
                seen.1
            );
        }
    }
}
