//! A static handed out once as `&'static mut`: the big buffers live in `.bss` (zeroed at reset,
//! nothing in the image) instead of being built on the stack and moved into the main loop's
//! frame, which cost a copy of each.
#![allow(unsafe_code)] // one `&mut` made from an `UnsafeCell`, guarded by a flag

use core::cell::{Cell, UnsafeCell};
use critical_section::Mutex;

/// A value that [`Once::take`] hands out at most once.
pub struct Once<T> {
    taken: Mutex<Cell<bool>>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reachable only through the one `&'static mut` that `take` returns, so
// no two contexts ever share it; `T: Send` because that reference may be used in any context.
unsafe impl<T: Send> Sync for Once<T> {}

impl<T> Once<T> {
    /// `value` as the static's initial contents (all zeroes keeps it in `.bss`).
    pub const fn new(value: T) -> Self {
        Once {
            taken: Mutex::new(Cell::new(false)),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, the first time; `None` after.
    #[allow(clippy::mut_from_ref)] // unique: `taken` lets only the first call through
    pub fn take(&'static self) -> Option<&'static mut T> {
        let first = critical_section::with(|cs| !self.taken.borrow(cs).replace(true));
        // SAFETY: `taken` went from false to true inside a critical section, so this is the
        // first and only reference ever made to `value`.
        first.then(|| unsafe { &mut *self.value.get() })
    }
}

impl<T> core::fmt::Debug for Once<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}
