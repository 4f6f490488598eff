// SPDX-License-Identifier: GPL-2.0

//! `vfio_migration_ops`: the migration callbacks of a variant driver whose devices may
//! migrate. A driver without migration implements only [`VfioDeviceOps`] and its devices get no
//! migration feature, as a C driver leaves `mig_ops` NULL; one with migration implements
//! [`VfioMigrationOps`] and names [`MigrationOps::OF`] in [`VfioDeviceOps::MIGRATION`].

use kernel::{bindings, ffi::c_ulong, prelude::*};

use super::{bindings as vfio, CoreDevice, DataFd, OpenDevice, RegionIo, VfioDeviceOps};

/// `VFIO_MIGRATION_*` flags: what a device offers besides the mandatory states.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct MigrationFlags(u32);

impl MigrationFlags {
    /// `VFIO_MIGRATION_STOP_COPY`: `STOP`, `STOP_COPY`, `RESUMING`.
    pub(crate) const STOP_COPY: Self = Self(vfio::VFIO_MIGRATION_STOP_COPY);
    /// `VFIO_MIGRATION_P2P`: the P2P states.
    pub(crate) const P2P: Self = Self(vfio::VFIO_MIGRATION_P2P);
    /// `VFIO_MIGRATION_PRE_COPY`: the pre-copy states.
    pub(crate) const PRE_COPY: Self = Self(vfio::VFIO_MIGRATION_PRE_COPY);

    /// `self` and `other`.
    pub(crate) const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The flags as the uAPI has them.
    pub(crate) const fn bits(self) -> u32 {
        self.0
    }
}

/// The migration callbacks of a variant driver (`vfio_migration_ops`), and the v1 migration
/// region its migrating devices also get.
pub(crate) trait VfioMigrationOps: VfioDeviceOps {
    /// The size of the v1 migration region.
    const V1_REGION_SIZE: u64;

    /// The migration flags of the device whose data is `data`, decided once when it is
    /// initialised: `None` leaves it without migration, as `vfio-pci` is.
    fn migration_flags(data: &Self::Data) -> Option<MigrationFlags>;

    /// Moves the device to the state `target` (`enum vfio_device_mig_state`), returning the
    /// data fd the transition opened, if any.
    fn set_state(dev: &OpenDevice<'_, Self>, target: u32) -> Result<Option<DataFd>>;

    /// The device's migration state.
    fn state(dev: &OpenDevice<'_, Self>) -> u32;

    /// The size of the stream `STOP_COPY` would produce.
    fn data_size(dev: &OpenDevice<'_, Self>) -> usize;

    /// Serves an access to the v1 migration region: `offset` bytes into the region, in or out
    /// of `io`.
    fn v1_region_access(dev: &OpenDevice<'_, Self>, offset: u64, io: RegionIo<'_>) -> Result;
}

/// The migration ops of a driver, which only a [`VfioMigrationOps`] implementation gives:
/// what [`VfioDeviceOps::MIGRATION`] holds.
pub(crate) struct MigrationOps<T: VfioDeviceOps> {
    pub(super) table: &'static vfio::vfio_migration_ops,
    pub(super) flags: fn(&T::Data) -> Option<MigrationFlags>,
    pub(super) v1_region_size: u64,
    pub(super) v1_region_access: fn(&OpenDevice<'_, T>, u64, RegionIo<'_>) -> Result,
}

impl<T: VfioMigrationOps> MigrationOps<T> {
    /// `T`'s migration ops.
    pub(crate) const OF: Self = Self {
        table: &CoreDevice::<T>::MIG_OPS,
        flags: T::migration_flags,
        v1_region_size: T::V1_REGION_SIZE,
        v1_region_access: T::v1_region_access,
    };
}

impl<T: VfioMigrationOps> CoreDevice<T> {
    /// The migration callbacks of devices `T` gives migration flags.
    const MIG_OPS: vfio::vfio_migration_ops = vfio::vfio_migration_ops {
        migration_set_state: Some(Self::migration_set_state_callback),
        migration_get_state: Some(Self::migration_get_state_callback),
        migration_get_data_size: Some(Self::migration_get_data_size_callback),
    };

    /// # Safety
    ///
    /// Called by VFIO only, for `VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE` on an open device with
    /// `MIG_OPS`.
    unsafe extern "C" fn migration_set_state_callback(
        vdev: *mut vfio::vfio_device,
        new_state: vfio::vfio_device_mig_state,
    ) -> *mut bindings::file {
        // SAFETY: The device is open.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        match T::set_state(&dev, new_state) {
            Ok(Some(fd)) => fd.into_raw(),
            Ok(None) => core::ptr::null_mut(),
            Err(err) => err.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// As for `migration_set_state_callback`; `state` is valid for writes.
    unsafe extern "C" fn migration_get_state_callback(
        vdev: *mut vfio::vfio_device,
        state: *mut vfio::vfio_device_mig_state,
    ) -> c_int {
        // SAFETY: The device is open.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        // SAFETY: VFIO passes a valid place for the state.
        unsafe { *state = T::state(&dev) as vfio::vfio_device_mig_state };
        0
    }

    /// # Safety
    ///
    /// As for `migration_set_state_callback`; `len` is valid for writes.
    unsafe extern "C" fn migration_get_data_size_callback(
        vdev: *mut vfio::vfio_device,
        len: *mut c_ulong,
    ) -> c_int {
        // SAFETY: The device is open.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        // SAFETY: VFIO passes a valid place for the length.
        unsafe { *len = T::data_size(&dev) as c_ulong };
        0
    }
}

/// The running kernel's next step from `current` toward `target` for a device offering
/// `flags` (`vfio_mig_get_next_state`), for the KUnit cross-check of the pure state machine.
#[cfg(CONFIG_KUNIT)]
pub(crate) fn kernel_next_state(flags: MigrationFlags, current: u32, target: u32) -> Result<u32> {
    // `vfio_mig_get_next_state` reads only `migration_flags` of the device.
    let mut device = KBox::<vfio::vfio_device>::new_uninit(GFP_KERNEL)?;
    // SAFETY: A zeroed `vfio_device` is valid plain data for a function that reads one field
    // of it.
    let mut device = unsafe {
        device.as_mut_ptr().write_bytes(0, 1);
        device.assume_init()
    };
    device.migration_flags = flags.bits();
    let mut next: vfio::vfio_device_mig_state = 0;
    // SAFETY: `device` is a valid `vfio_device`, `next` a valid place.
    kernel::error::to_result(unsafe {
        vfio::vfio_mig_get_next_state(&mut *device, current, target, &mut next)
    })?;
    Ok(next)
}
