// SPDX-License-Identifier: GPL-2.0

//! Registration of a vfio-pci variant `struct pci_driver`.
//!
//! `kernel::pci::Driver` keeps its own data in the device's drvdata, and
//! `kernel::driver::Registration` takes drvdata back as Rust data after unbind. `vfio_pci_core`
//! requires drvdata to be its `vfio_pci_core_device`, so a variant driver registers its
//! `struct pci_driver` here instead, the way the C variant drivers in `drivers/vfio/pci/` do.

use core::marker::PhantomData;

use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    str::CStrExt,
    types::Opaque,
    ThisModule,
};

use super::{CoreDevice, VfioDeviceOps};

/// An ID that matches any device, but only through `driver_override` naming a VFIO driver:
/// the Rust form of C's `PCI_DRIVER_OVERRIDE_DEVICE_VFIO(PCI_ANY_ID, PCI_ANY_ID)`.
const ANY_DEVICE_VFIO_OVERRIDE: bindings::pci_device_id = bindings::pci_device_id {
    vendor: bindings::PCI_ANY_ID as u32,
    device: bindings::PCI_ANY_ID as u32,
    subvendor: bindings::PCI_ANY_ID as u32,
    subdevice: bindings::PCI_ANY_ID as u32,
    class: 0,
    class_mask: 0,
    driver_data: 0,
    override_only: bindings::PCI_ID_F_VFIO_DRIVER_OVERRIDE,
};

/// The all-zero entry that ends an ID table.
const TERMINATOR: bindings::pci_device_id = bindings::pci_device_id {
    vendor: 0,
    device: 0,
    subvendor: 0,
    subdevice: 0,
    class: 0,
    class_mask: 0,
    driver_data: 0,
    override_only: 0,
};

/// The ID table of a variant driver that binds only through `driver_override`.
///
/// The crate root exports its instance under the symbol name modpost reads, which gives the
/// module the `vfio_pci:v*d*sv*sd*bc*sc*i*` alias that C's `vfio-pci` has.
#[repr(transparent)]
pub(crate) struct OverrideOnlyIds([bindings::pci_device_id; 2]);

impl OverrideOnlyIds {
    /// Any vendor and device, through `driver_override` only.
    pub(crate) const ANY: Self = Self([ANY_DEVICE_VFIO_OVERRIDE, TERMINATOR]);
}

/// A registered `struct pci_driver` whose devices are driven by `T` on top of `vfio_pci_core`.
///
/// # Invariants
///
/// `driver` was registered with `__pci_register_driver` when the registration was initialised,
/// and stays pinned and registered until the registration is dropped.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: VfioDeviceOps> {
    #[pin]
    driver: Opaque<bindings::pci_driver>,
    _ops: PhantomData<T>,
}

// SAFETY: A `Registration` offers nothing through a shared reference; the C driver core
// synchronises everything it does with the registered driver.
unsafe impl<T: VfioDeviceOps> Sync for Registration<T> {}

// SAFETY: `pci_unregister_driver` may be called from any thread.
unsafe impl<T: VfioDeviceOps> Send for Registration<T> {}

impl<T: VfioDeviceOps> Registration<T> {
    /// Registers the driver under `name` (its name in sysfs and in `driver_override`), matching
    /// the devices of `ids`.
    pub(crate) fn new(
        name: &'static CStr,
        ids: &'static OverrideOnlyIds,
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        // A promoted constant: the driver core keeps the pointer while the driver is registered.
        let dev_groups: &'static [*const bindings::attribute_group; 2] =
            &CoreDevice::<T>::DEV_GROUPS;
        try_pin_init!(Self {
            driver <- Opaque::try_ffi_init(move |driver: *mut bindings::pci_driver| {
                // SAFETY: `try_ffi_init` hands over memory valid for writes of a `pci_driver`.
                unsafe {
                    driver.write(bindings::pci_driver {
                        name: name.as_char_ptr(),
                        id_table: ids.0.as_ptr(),
                        probe: Some(probe_callback::<T>),
                        remove: Some(remove_callback::<T>),
                        sriov_configure: Some(sriov_configure_callback::<T>),
                        err_handler: &CoreDevice::<T>::ERR_HANDLERS,
                        driver_managed_dma: true,
                        dev_groups: dev_groups.as_ptr().cast_mut(),
                        ..Default::default()
                    })
                };
                // SAFETY: `driver` is initialised, and `try_ffi_init` keeps it pinned for as
                // long as `Self` lives; `drop` unregisters it before the memory goes away.
                to_result(unsafe {
                    bindings::__pci_register_driver(driver, module.as_ptr(), name.as_char_ptr())
                })
            }),
            _ops: PhantomData,
        })
    }
}

#[pinned_drop]
impl<T: VfioDeviceOps> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant, `driver` is registered.
        unsafe { bindings::pci_unregister_driver(self.driver.get()) };
    }
}

/// # Safety
///
/// Called by the PCI core only, with a valid device being bound to this driver.
unsafe extern "C" fn probe_callback<T: VfioDeviceOps>(
    pdev: *mut bindings::pci_dev,
    _id: *const bindings::pci_device_id,
) -> c_int {
    // SAFETY: The PCI core passes a valid device that is being bound to this driver.
    from_result(|| unsafe { CoreDevice::<T>::probe(pdev) }.map(|()| 0))
}

/// # Safety
///
/// Called by the PCI core only, with a device this driver probed successfully.
unsafe extern "C" fn remove_callback<T: VfioDeviceOps>(pdev: *mut bindings::pci_dev) {
    // SAFETY: The PCI core passes a device whose probe succeeded and that is being unbound.
    unsafe { CoreDevice::<T>::remove(pdev) }
}

/// # Safety
///
/// Called by the PCI core only, with a device bound to this driver.
unsafe extern "C" fn sriov_configure_callback<T: VfioDeviceOps>(
    pdev: *mut bindings::pci_dev,
    num_vfs: c_int,
) -> c_int {
    // SAFETY: The PCI core calls this only while the device is bound to this driver.
    unsafe { CoreDevice::<T>::sriov_configure(pdev, num_vfs) }
}
