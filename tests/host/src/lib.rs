// SPDX-License-Identifier: GPL-2.0

//! The pure modules of rvfio-pci, compiled for the host from the driver's own source files.
//!
//! Their tests run here under `cargo test` and in the kernel under KUnit.

#![allow(dead_code)]

#[path = "../../../drivers/vfio/pci/rvfio/bytes.rs"]
pub mod bytes;

#[path = "../../../drivers/vfio/pci/rvfio/pci_caps.rs"]
pub mod pci_caps;

#[path = "../../../drivers/vfio/pci/rvfio/config_view.rs"]
pub mod config_view;

#[path = "../../../drivers/vfio/pci/rvfio/pasid_ats.rs"]
pub mod pasid_ats;

#[path = "../../../drivers/vfio/pci/rvfio/mig_state.rs"]
pub mod mig_state;

#[path = "../../../drivers/vfio/pci/rvfio/mig_region.rs"]
pub mod mig_region;

#[path = "../../../drivers/vfio/pci/rvfio/mig_stream.rs"]
pub mod mig_stream;

#[path = "../../../drivers/vfio/pci/rvfio/mmap_rules.rs"]
pub mod mmap_rules;

#[path = "../../../drivers/vfio/pci/rvfio/igb.rs"]
pub mod igb;
