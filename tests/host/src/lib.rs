// SPDX-License-Identifier: GPL-2.0

//! The pure modules of rvfio-pci, compiled for the host from the driver's own source files.
//!
//! Their tests run here under `cargo test` and in the kernel under KUnit.

#![allow(dead_code)]

// The driver's folders, as the crate root declares them; only their pure files.
#[path = "../../../drivers/vfio/pci/rvfio/bytes.rs"]
pub mod bytes;

#[path = "../../../drivers/vfio/pci/rvfio/config"]
pub mod config {
    pub mod pasid_ats;
    pub mod pci_caps;
    pub mod view;
}

#[path = "../../../drivers/vfio/pci/rvfio/migration"]
pub mod migration {
    pub mod dirty;
    pub mod state;
    pub mod stream;
    pub mod v1_region;
}

#[path = "../../../drivers/vfio/pci/rvfio/vfio"]
pub mod vfio {
    pub mod mmap_rules;
}

#[path = "../../../drivers/vfio/pci/rvfio/personality/mod.rs"]
pub mod personality;
