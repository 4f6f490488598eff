// SPDX-License-Identifier: GPL-2.0

//! Config space, in pure code: the capability walks ([`pci_caps`]), the user's view with the
//! physical PASID capability hidden and the free extended space ([`view`]), and the
//! `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS` payload built from them ([`pasid_ats`]).

pub(crate) mod pasid_ats;
pub(crate) mod pci_caps;
pub(crate) mod view;
