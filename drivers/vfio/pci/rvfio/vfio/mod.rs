// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over `vfio_pci_core` for a vfio-pci variant driver.
//!
//! Upstream Rust has no VFIO abstractions. This layer holds every `unsafe` block of the
//! driver: the rest of the crate sees a [`CoreDevice`] with the variant's private data, a
//! [`VfioPciOps`] trait whose defaults behave like `vfio-pci`, and a [`Registration`] of the
//! variant's `struct pci_driver`.

mod bindings;
mod config;
mod core_device;
mod pci_driver;

pub(crate) use config::PciConfig;
pub(crate) use core_device::{CoreDevice, VfioPciOps};
pub(crate) use pci_driver::{OverrideOnlyIds, Registration};
