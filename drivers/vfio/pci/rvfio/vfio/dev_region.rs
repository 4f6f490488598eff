// SPDX-License-Identifier: GPL-2.0

//! The v1-layout migration region, registered with `vfio_pci_core` as a device-specific
//! region of a device with migration, and served by the variant driver's
//! [`VfioMigrationOps::v1_region_access`](super::VfioMigrationOps::v1_region_access).

use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

use super::{
    bindings as vfio, core_device::OpenDevice, region_at, CoreDevice, MigrationOps, VfioDeviceOps,
};

/// The bytes of one access to the migration region, in a kernel buffer: the user's memory
/// is copied before a write is served and after a read is, never while the driver holds a
/// lock of its own.
pub(crate) enum RegionIo<'a> {
    /// The access reads: fill the buffer.
    Read(&'a mut [u8]),
    /// The access writes these bytes.
    Write(&'a [u8]),
}

impl<T: VfioDeviceOps> CoreDevice<T> {
    const MIGRATION_REGION_OPS: vfio::vfio_pci_regops = vfio::vfio_pci_regops {
        rw: Some(Self::migration_region_rw_callback),
        release: Some(Self::migration_region_release_callback),
        mmap: None,
        add_capability: None,
    };

    /// Adds the migration region to the regions of the device being opened; the core drops
    /// it when the device is disabled.
    ///
    /// # Safety
    ///
    /// Must be called while opening the device, after `vfio_pci_core_enable` and before
    /// `vfio_pci_core_finish_enable`, with the device set's lock held.
    pub(super) unsafe fn register_migration_region(&self, ops: &MigrationOps<T>) -> Result {
        // SAFETY: The core device is enabled and being opened, as this function requires;
        // the ops are 'static and the region carries no data of its own.
        to_result(unsafe {
            vfio::vfio_pci_core_register_dev_region(
                self.core_ptr(),
                vfio::VFIO_REGION_TYPE_MIGRATION_DEPRECATED,
                vfio::VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED,
                &Self::MIGRATION_REGION_OPS,
                ops.v1_region_size as usize,
                vfio::VFIO_REGION_INFO_FLAG_READ | vfio::VFIO_REGION_INFO_FLAG_WRITE,
                core::ptr::null_mut(),
            )
        })
    }

    /// # Safety
    ///
    /// Called by `vfio_pci_core` only, for a `read` or `write` of `count` bytes of the user's
    /// `buf` at `*ppos` in the migration region of an open device.
    unsafe extern "C" fn migration_region_rw_callback(
        core: *mut vfio::vfio_pci_core_device,
        buf: *mut u8,
        count: usize,
        ppos: *mut bindings::loff_t,
        iswrite: bool,
    ) -> isize {
        // SAFETY: The device is open: the region exists only between open and close.
        let dev = unsafe { OpenDevice::new(&*core.cast::<Self>()) };
        from_result(|| {
            // Only a device with migration ops has the region.
            let ops: &'static Option<MigrationOps<T>> = &T::MIGRATION;
            let ops = ops.as_ref().ok_or(EINVAL)?;
            // SAFETY: `ppos` is the core's valid file position.
            let (_, offset) = region_at(unsafe { *ppos }).ok_or(EINVAL)?;
            // The region is small, so this also bounds the kernel buffer.
            if offset.saturating_add(count as u64) > ops.v1_region_size {
                return Err(EINVAL);
            }
            let mut bytes = KVec::from_elem(0u8, count, GFP_KERNEL)?;
            let user = UserSlice::new(UserPtr::from_ptr(buf.cast()), count);
            if iswrite {
                user.reader().read_slice(&mut bytes)?;
                (ops.v1_region_access)(&dev, offset, RegionIo::Write(&bytes))?;
            } else {
                (ops.v1_region_access)(&dev, offset, RegionIo::Read(&mut bytes))?;
                user.writer().write_slice(&bytes)?;
            }
            Ok(count as isize)
        })
    }

    /// The region owns nothing: the device's data serves it.
    ///
    /// # Safety
    ///
    /// Called by `vfio_pci_core` only, as it drops the region.
    unsafe extern "C" fn migration_region_release_callback(
        _core: *mut vfio::vfio_pci_core_device,
        _region: *mut vfio::vfio_pci_region,
    ) {
    }
}
