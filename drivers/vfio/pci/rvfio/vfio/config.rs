// SPDX-License-Identifier: GPL-2.0

//! Reads of a PCI device's physical config space, for the pure code that walks it.

use kernel::{bindings, device, ffi::c_int};

use crate::pci_caps::ConfigSpace;

/// The physical config space of a PCI device.
///
/// # Invariants
///
/// `pdev` points to a valid `struct pci_dev` for the lifetime `'a`.
pub(crate) struct PciConfig<'a> {
    pdev: *mut bindings::pci_dev,
    _dev: core::marker::PhantomData<&'a bindings::pci_dev>,
}

impl PciConfig<'_> {
    /// # Safety
    ///
    /// `pdev` must point to a valid `struct pci_dev` for the lifetime of the result.
    pub(super) unsafe fn new(pdev: *mut bindings::pci_dev) -> Self {
        Self {
            pdev,
            _dev: core::marker::PhantomData,
        }
    }
}

impl PciConfig<'_> {
    /// The generic device, for logging.
    pub(crate) fn device(&self) -> &device::Device {
        // SAFETY: By the type invariant, `pdev` is valid, and so is its embedded `dev`.
        unsafe { device::Device::from_raw(&raw mut (*self.pdev).dev) }
    }
}

impl ConfigSpace for PciConfig<'_> {
    fn size(&self) -> u16 {
        // SAFETY: By the type invariant, `pdev` is valid. `cfg_size` is 256 or 4096.
        unsafe { (*self.pdev).cfg_size as u16 }
    }

    fn read_dword(&self, offset: u16) -> Option<u32> {
        let mut value = 0u32;
        // SAFETY: By the type invariant, `pdev` is valid; `value` is a valid place to write.
        let ret =
            unsafe { bindings::pci_read_config_dword(self.pdev, c_int::from(offset), &mut value) };
        (ret == 0).then_some(value)
    }
}
