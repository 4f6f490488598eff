// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over `vfio_pci_core` for a vfio-pci variant driver.
//!
//! Upstream Rust has no VFIO abstractions. This layer holds every `unsafe` block of the
//! driver: the rest of the crate sees a [`CoreDevice`] with the variant's private data, a
//! [`VfioPciOps`] trait whose defaults behave like `vfio-pci`, and a [`Registration`] of the
//! variant's `struct pci_driver`.

mod bindings;
mod config;
mod config_access;
mod core_device;
mod mig_file;
mod pci_driver;
mod registers;

pub(crate) use config::{CoreConfig, PciConfig};
pub(crate) use core_device::{CoreDevice, OpenDevice, VfioPciOps};
pub(crate) use mig_file::{DataFd, DataSession, Direction};
pub(crate) use pci_driver::{OverrideOnlyIds, Registration};
pub(crate) use registers::Registers;

/// The bits of `VFIO_DEVICE_FEATURE` flags that hold the feature index.
pub(crate) const FEATURE_INDEX_MASK: u32 = bindings::VFIO_DEVICE_FEATURE_MASK;

// The pure code's copies of the uAPI flags must be the kernel's.
const _: () = {
    use crate::pasid_ats::{FEATURE_GET, FEATURE_PROBE, FEATURE_SET};
    assert!(FEATURE_GET == bindings::VFIO_DEVICE_FEATURE_GET);
    assert!(FEATURE_SET == bindings::VFIO_DEVICE_FEATURE_SET);
    assert!(FEATURE_PROBE == bindings::VFIO_DEVICE_FEATURE_PROBE);
};
