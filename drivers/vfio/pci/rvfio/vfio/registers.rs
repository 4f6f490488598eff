// SPDX-License-Identifier: GPL-2.0

//! 32-bit MMIO registers of a BAR the core has mapped, for a personality to save and load a
//! device's state.

use kernel::{bindings, ffi::c_void, time::Delta};

/// A memory BAR, mapped by `vfio_pci_core` and decoding while this exists.
///
/// # Invariants
///
/// `base` is the core's mapping of a memory BAR of `len` bytes, and the device decodes it:
/// the core's `memory_lock` is held for writing and the command register's memory enable is
/// set, for the lifetime `'a`.
pub(crate) struct Registers<'a> {
    base: *mut c_void,
    len: usize,
    _locked: core::marker::PhantomData<&'a ()>,
}

impl Registers<'_> {
    /// # Safety
    ///
    /// `base` and `len` must satisfy the type invariant for the lifetime of the result.
    pub(super) unsafe fn new(base: *mut c_void, len: usize) -> Self {
        Self {
            base,
            len,
            _locked: core::marker::PhantomData,
        }
    }

    fn in_bar(&self, offset: u32) -> bool {
        let offset = offset as usize;
        offset % 4 == 0 && offset.checked_add(4).is_some_and(|end| end <= self.len)
    }

    /// Reads the register at `offset`; all ones outside the BAR, as a failed read gives.
    pub(crate) fn read32(&mut self, offset: u32) -> u32 {
        if !self.in_bar(offset) {
            return !0;
        }
        // SAFETY: By the type invariant the BAR is mapped and decoding; `offset` is an aligned
        // register inside it.
        unsafe { bindings::ioread32(self.base.add(offset as usize)) }
    }

    /// Writes the register at `offset`; nothing outside the BAR.
    pub(crate) fn write32(&mut self, offset: u32, value: u32) {
        if !self.in_bar(offset) {
            return;
        }
        // SAFETY: As in `read32`.
        unsafe { bindings::iowrite32(value, self.base.add(offset as usize)) }
    }

    /// Sleeps about 10 ms.
    pub(crate) fn pause(&mut self) {
        kernel::time::delay::fsleep(Delta::from_millis(10));
    }
}
