// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over `vfio_pci_core` for a vfio-pci variant driver.
//!
//! Upstream Rust has no VFIO abstractions. This layer holds every `unsafe` block of the
//! driver: the rest of the crate sees a [`CoreDevice`] with the variant's private data, a
//! [`VfioDeviceOps`] trait whose defaults behave like `vfio-pci`, and a [`Registration`] of the
//! variant's `struct pci_driver`.

mod bindings;
mod config;
mod config_access;
mod core_device;
mod dev_region;
mod log_ops;
mod mappings;
mod mig_file;
mod migration_ops;
mod mmap_layout;
pub(crate) mod mmap_rules;
mod pci_driver;
mod ratelimit;
mod registers;

pub(crate) use config::{ConfigFilter, ConfigSpan, CoreConfig, PciConfig};
pub(crate) use core_device::{CoreDevice, Interposed, OpenDevice, VfioDeviceOps};
pub(crate) use dev_region::RegionIo;
pub(crate) use log_ops::{DirtyBitmap, LogOps, VfioLogOps};
pub(crate) use mappings::{MappingTracker, BARS};
pub(crate) use mig_file::{DataFd, DataSession, Direction};
#[cfg(CONFIG_KUNIT)]
pub(crate) use migration_ops::kernel_next_state;
pub(crate) use migration_ops::{MigrationFlags, MigrationOps, VfioMigrationOps};
pub(crate) use pci_driver::{OverrideOnlyIds, Registration};
pub(crate) use ratelimit::{dev_warn_ratelimited, RateLimit};
pub(crate) use registers::Registers;

/// Bits of a region offset below the region index (`VFIO_PCI_OFFSET_SHIFT`).
const OFFSET_MASK: i64 = (1 << bindings::VFIO_PCI_OFFSET_SHIFT) - 1;

/// The region index and the offset in it that a VFIO device fd position stands for.
fn region_at(pos: i64) -> Option<(u32, u64)> {
    let index = u32::try_from(pos >> bindings::VFIO_PCI_OFFSET_SHIFT).ok()?;
    Some((index, (pos & OFFSET_MASK) as u64))
}

/// The bits of `VFIO_DEVICE_FEATURE` flags that hold the feature index.
pub(crate) const FEATURE_INDEX_MASK: u32 = bindings::VFIO_DEVICE_FEATURE_MASK;

// The capability ID the region info uses is the one the uAPI header defines, outside
// upstream's; its payload is upstream's sparse-mmap capability.
const _: () = assert!(
    core::mem::size_of::<bindings::vfio_region_info_cap_sparse_mmap>() == 16
        && core::mem::size_of::<bindings::vfio_region_sparse_mmap_area>() == 16
);

/// The uAPI values the driver's pure code keeps copies of, for the crate to check its copies
/// against at build time.
// Only `const _` checks use them, which rustc 1.85 does not count as uses.
#[allow(dead_code)]
pub(crate) mod uapi {
    use super::bindings;

    /// `VFIO_DEVICE_FEATURE_GET`.
    pub(crate) const FEATURE_GET: u32 = bindings::VFIO_DEVICE_FEATURE_GET;
    /// `VFIO_DEVICE_FEATURE_SET`.
    pub(crate) const FEATURE_SET: u32 = bindings::VFIO_DEVICE_FEATURE_SET;
    /// `VFIO_DEVICE_FEATURE_PROBE`.
    pub(crate) const FEATURE_PROBE: u32 = bindings::VFIO_DEVICE_FEATURE_PROBE;
    /// The v1 `device_state` bits, and those upstream defines.
    pub(crate) const V1_RUNNING: u32 = bindings::VFIO_DEVICE_STATE_V1_RUNNING;
    /// See [`V1_RUNNING`].
    pub(crate) const V1_SAVING: u32 = bindings::VFIO_DEVICE_STATE_V1_SAVING;
    /// See [`V1_RUNNING`].
    pub(crate) const V1_RESUMING: u32 = bindings::VFIO_DEVICE_STATE_V1_RESUMING;
    /// See [`V1_RUNNING`].
    pub(crate) const V1_STATE_MASK: u32 = bindings::VFIO_DEVICE_STATE_MASK;
    /// The size of `struct vfio_device_migration_info`, the header of the v1 region, whose
    /// `device_state`, `pending_bytes`, `data_offset` and `data_size` are at 0, 8, 16, 24.
    pub(crate) const V1_HEADER_SIZE: usize =
        core::mem::size_of::<bindings::vfio_device_migration_info>();

    const _: () = {
        use bindings::vfio_device_migration_info as Info;
        use core::mem::offset_of;
        assert!(offset_of!(Info, device_state) == 0 && offset_of!(Info, pending_bytes) == 8);
        assert!(offset_of!(Info, data_offset) == 16 && offset_of!(Info, data_size) == 24);
    };
}
