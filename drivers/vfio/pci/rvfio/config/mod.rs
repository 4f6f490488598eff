// SPDX-License-Identifier: GPL-2.0

//! Config space: in pure code, the capability walks ([`pci_caps`]), the user's view with the
//! physical PASID capability hidden and the free extended space ([`view`]), and the
//! `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS` payload built from them ([`pasid_ats`]); here, how
//! they meet the VFIO layer's config readers and config filter.

pub(crate) mod pasid_ats;
pub(crate) mod pci_caps;
pub(crate) mod view;

use crate::vfio::{ConfigFilter, ConfigSpan, CoreConfig, PciConfig};
use pci_caps::ConfigSpace;
use view::{PasidHiding, Span};

/// The device's physical config space, for the walkers.
impl ConfigSpace for PciConfig<'_> {
    fn size(&self) -> u16 {
        PciConfig::size(self)
    }

    fn read_dword(&self, offset: u16) -> Option<u32> {
        PciConfig::read_dword(self, offset)
    }
}

/// Config space as `vfio_pci_core` presents it, for the walkers.
impl ConfigSpace for CoreConfig<'_> {
    fn size(&self) -> u16 {
        CoreConfig::size(self)
    }

    fn read_dword(&self, offset: u16) -> Option<u32> {
        CoreConfig::read_dword(self, offset)
    }
}

/// The hidden PASID capability, as the VFIO layer applies it to the config region.
impl ConfigFilter for PasidHiding {
    fn patched_spans(&self) -> impl Iterator<Item = ConfigSpan> {
        PasidHiding::patched_spans(self)
            .into_iter()
            .flatten()
            .map(span)
    }

    fn patch_read(&self, offset: u16, bytes: &mut [u8]) {
        PasidHiding::patch_read(self, offset, bytes)
    }

    fn write_parts(&self, offset: u32, len: u32) -> impl Iterator<Item = ConfigSpan> {
        PasidHiding::write_parts(self, offset, len)
            .into_iter()
            .flatten()
            .map(span)
    }
}

fn span(span: Span) -> ConfigSpan {
    ConfigSpan {
        start: span.start,
        end: span.end,
    }
}
