// SPDX-License-Identifier: GPL-2.0

//! Reads of a PCI device's config space, physical or as `vfio_pci_core` presents it, and the
//! [`ConfigFilter`] through which a driver departs from the core's view.

use kernel::{bindings, device, ffi::c_int};

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

impl PciConfig<'_> {
    /// Reads the word at `offset`; all ones if the read fails.
    pub(crate) fn read_word(&self, offset: u16) -> u16 {
        let mut value = !0u16;
        // SAFETY: By the type invariant, `pdev` is valid; `value` is a valid place to write.
        unsafe { bindings::pci_read_config_word(self.pdev, c_int::from(offset), &mut value) };
        value
    }

    /// Writes the word at `offset`.
    pub(crate) fn write_word(&self, offset: u16, value: u16) -> kernel::error::Result {
        // SAFETY: By the type invariant, `pdev` is valid.
        let ret = unsafe { bindings::pci_write_config_word(self.pdev, c_int::from(offset), value) };
        kernel::error::to_result(ret)
    }
}

impl PciConfig<'_> {
    /// The length of standard BAR `bar` (0 if it is not implemented).
    pub(crate) fn bar_len(&self, bar: usize) -> u64 {
        // SAFETY: By the type invariant, `pdev` is valid; its resources are set up before a
        // driver binds and do not change while it is bound.
        let resource = unsafe { (*self.pdev).resource.get(bar) };
        resource.map_or(0, |r| {
            if r.end > r.start {
                r.end - r.start + 1
            } else {
                0
            }
        })
    }
}

impl PciConfig<'_> {
    /// The size of config space: 256 or 4096 bytes.
    pub(crate) fn size(&self) -> u16 {
        // SAFETY: By the type invariant, `pdev` is valid. `cfg_size` is 256 or 4096.
        unsafe { (*self.pdev).cfg_size as u16 }
    }

    /// The dword at `offset`; `None` if the read fails.
    pub(crate) fn read_dword(&self, offset: u16) -> Option<u32> {
        let mut value = 0u32;
        // SAFETY: By the type invariant, `pdev` is valid; `value` is a valid place to write.
        let ret =
            unsafe { bindings::pci_read_config_dword(self.pdev, c_int::from(offset), &mut value) };
        (ret == 0).then_some(value)
    }
}

/// Config space as `vfio_pci_core` presents it to the user: its `vconfig` copy.
///
/// The core keeps every extended capability header there and reads it back from there
/// (headers are virtualized), so the chain a user walks is the chain in `vconfig`. The headers
/// never change after the core builds the copy at enable time; other bytes may, under the
/// core's locks, which is why each dword is read once and whole.
///
/// # Invariants
///
/// `vconfig` is null or points to `size` readable bytes for the lifetime `'a`.
pub(crate) struct CoreConfig<'a> {
    vconfig: *const u8,
    size: u16,
    _config: core::marker::PhantomData<&'a [u8]>,
}

impl CoreConfig<'_> {
    /// # Safety
    ///
    /// `vconfig` must be null or point to `size` bytes readable for the lifetime of the
    /// result.
    pub(super) unsafe fn new(vconfig: *const u8, size: u16) -> Self {
        Self {
            vconfig,
            size,
            _config: core::marker::PhantomData,
        }
    }
}

impl CoreConfig<'_> {
    /// The size of config space: 256 or 4096 bytes.
    pub(crate) fn size(&self) -> u16 {
        self.size
    }

    /// The dword at `offset`, which must be aligned and inside config space (`None` if not).
    pub(crate) fn read_dword(&self, offset: u16) -> Option<u32> {
        if self.vconfig.is_null() || offset % 4 != 0 || offset >= self.size {
            return None;
        }
        // SAFETY: By the type invariant `vconfig` points to `size` bytes, and the dword at the
        // aligned `offset` below `size` lies inside them (`size` is 256 or 4096). A volatile
        // read, as with READ_ONCE, since the core may update bytes other than headers.
        let value = unsafe {
            core::ptr::read_volatile(self.vconfig.add(usize::from(offset)).cast::<u32>())
        };
        Some(u32::from_le(value))
    }
}

/// A half-open range of config-space offsets, `start..end`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ConfigSpan {
    /// First byte.
    pub(crate) start: u16,
    /// One past the last byte.
    pub(crate) end: u16,
}

/// How a driver's view of config space departs from the one `vfio_pci_core` presents: bytes
/// it rewrites when they are read, bytes of a write it keeps from the core. Consulted on every
/// access to the config region.
pub(crate) trait ConfigFilter {
    /// The spans whose bytes [`ConfigFilter::patch_read`] may change.
    fn patched_spans(&self) -> impl Iterator<Item = ConfigSpan>;
    /// Rewrites `bytes`, read from config space at `offset`, as the user sees them.
    fn patch_read(&self, offset: u16, bytes: &mut [u8]);
    /// The parts, in order, of a write of `len` bytes at `offset` that reach the core.
    fn write_parts(&self, offset: u32, len: u32) -> impl Iterator<Item = ConfigSpan>;
}
