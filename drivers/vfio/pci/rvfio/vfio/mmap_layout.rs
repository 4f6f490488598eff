// SPDX-License-Identifier: GPL-2.0

//! The operator's choice of a device's runtime mmap layout, in sysfs:
//! `/sys/bus/pci/devices/<BDF>/rvfio/mmap_layout` (`Documentation/qemu.rst`).
//!
//! The attribute belongs to the driver's `dev_groups`, so the driver core adds it once a
//! device is bound and removes it (waiting for callers inside `show` and `store`) before the
//! device is unbound. It shows, with its directory, only on devices with a
//! [`MappingTracker`](super::MappingTracker). A write is taken only
//! while no user has the device open: the layout decides what the region info says and what
//! may be mapped, and a VMM reads the region info once, when it opens the device.

use kernel::{
    bindings,
    ffi::{c_char, c_int},
    prelude::*,
};

use super::mmap_rules::MmapLayout;
use super::{core_device::probed_core, CoreDevice, VfioDeviceOps};

/// The attribute's permissions: the owner (root) writes, everyone reads.
const MODE: bindings::umode_t = 0o644;

impl<T: VfioDeviceOps> CoreDevice<T> {
    /// `mmap_layout`. Promoted to a 'static wherever it is referred to, so the pointer sysfs
    /// keeps to its `attr` points into this whole `device_attribute`, as the driver core's
    /// `container_of` from one to the other requires.
    // With `CONFIG_DEBUG_LOCK_ALLOC`, `struct attribute` has lockdep fields besides the name
    // and mode, which the update zeroes; without it, the update has nothing left to do.
    // `CStr::as_ptr` on literals: the trait method `CStrExt::as_char_ptr` is not callable in a
    // constant.
    #[allow(clippy::needless_update, clippy::disallowed_methods)]
    const MMAP_LAYOUT_ATTR: bindings::device_attribute = bindings::device_attribute {
        attr: bindings::attribute {
            name: c"mmap_layout".as_ptr().cast(),
            mode: MODE,
            ..pin_init::zeroed()
        },
        __bindgen_anon_1: bindings::device_attribute__bindgen_ty_1 {
            show_const: Some(Self::mmap_layout_show),
        },
        __bindgen_anon_2: bindings::device_attribute__bindgen_ty_2 {
            store_const: Some(Self::mmap_layout_store),
        },
    };

    /// The group's attributes, null-terminated.
    const ATTRS: [*const bindings::attribute; 2] =
        [&Self::MMAP_LAYOUT_ATTR.attr, core::ptr::null()];

    /// The `rvfio` directory of a bound device.
    // As for `MMAP_LAYOUT_ATTR`.
    #[allow(clippy::disallowed_methods)]
    const GROUP: bindings::attribute_group = bindings::attribute_group {
        name: c"rvfio".as_ptr().cast(),
        __bindgen_anon_1: bindings::attribute_group__bindgen_ty_1 {
            is_visible_const: Some(Self::is_visible_callback),
        },
        __bindgen_anon_2: bindings::attribute_group__bindgen_ty_2 {
            attrs_const: core::ptr::from_ref(&Self::ATTRS).cast(),
        },
        ..pin_init::zeroed()
    };

    /// The attribute groups of `T`'s bound devices (`pci_driver.dev_groups`), null-terminated.
    pub(super) const DEV_GROUPS: [*const bindings::attribute_group; 2] =
        [&Self::GROUP, core::ptr::null()];

    /// The core device of the bound device whose generic device is `dev`.
    ///
    /// # Safety
    ///
    /// `dev` must be the device of a PCI device bound to `T`'s driver, and stay bound for
    /// `'a` (as it does during a sysfs callback of the driver's groups, which the driver core
    /// removes, waiting for callers, before it unbinds the device).
    unsafe fn bound<'a>(dev: *mut bindings::device) -> &'a Self {
        // SAFETY: `dev` is embedded in a `pci_dev`, as this function requires.
        let pdev = unsafe { kernel::container_of!(dev, bindings::pci_dev, dev) };
        // SAFETY: The device is bound, so probe succeeded and its drvdata is the core device,
        // which lives until it is unbound.
        unsafe { &*probed_core(pdev).cast::<Self>() }
    }

    /// # Safety
    ///
    /// Called by sysfs only, as the group is added to a device bound to `T`'s driver.
    unsafe extern "C" fn is_visible_callback(
        kobj: *mut bindings::kobject,
        attr: *const bindings::attribute,
        _n: c_int,
    ) -> bindings::umode_t {
        // SAFETY: The group is added to devices only, whose kobject is embedded in them.
        let dev = unsafe { kernel::container_of!(kobj, bindings::device, kobj) };
        // SAFETY: The device is bound to `T`'s driver while its groups are added.
        match T::mappings(unsafe { Self::bound(dev) }.data()) {
            // SAFETY: `attr` is one of the group's attributes, valid for reads.
            Some(_) => unsafe { (*attr).mode },
            // Not even the directory: the group has nothing to offer this device.
            None => bindings::SYSFS_GROUP_INVISIBLE as bindings::umode_t,
        }
    }

    /// # Safety
    ///
    /// Called by sysfs only, for a device bound to `T`'s driver, with a page-sized `buf`.
    unsafe extern "C" fn mmap_layout_show(
        dev: *mut bindings::device,
        _attr: *const bindings::device_attribute,
        buf: *mut c_char,
    ) -> isize {
        // SAFETY: The driver core removes the group before the device is unbound.
        let Some(tracker) = T::mappings(unsafe { Self::bound(dev) }.data()) else {
            return ENODEV.to_errno() as isize;
        };
        let text = tracker.layout().shown();
        // SAFETY: `buf` is a page, larger than any layout's text.
        unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast(), text.len()) };
        text.len() as isize
    }

    /// # Safety
    ///
    /// Called by sysfs only, for a device bound to `T`'s driver, with `count` bytes at `buf`.
    unsafe extern "C" fn mmap_layout_store(
        dev: *mut bindings::device,
        _attr: *const bindings::device_attribute,
        buf: *const c_char,
        count: usize,
    ) -> isize {
        // SAFETY: The driver core removes the group before the device is unbound.
        let this = unsafe { Self::bound(dev) };
        let Some(tracker) = T::mappings(this.data()) else {
            return ENODEV.to_errno() as isize;
        };
        // SAFETY: sysfs passes `count` readable bytes.
        let text = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
        let Some(layout) = MmapLayout::parse(text) else {
            return EINVAL.to_errno() as isize;
        };
        // SAFETY: The core device is live (see above); this only computes a field's address.
        let vdev = unsafe { &raw mut (*this.core_ptr()).vdev };
        // SAFETY: A registered VFIO device has its device set, whose lock serialises
        // `open_count` with every open and close.
        let open = unsafe {
            let lock = &raw mut (*(*vdev).dev_set).lock;
            bindings::mutex_lock(lock);
            let open = (*vdev).open_count != 0;
            if !open {
                tracker.set_layout(layout);
            }
            bindings::mutex_unlock(lock);
            open
        };
        if open {
            return EBUSY.to_errno() as isize;
        }
        count as isize
    }
}
