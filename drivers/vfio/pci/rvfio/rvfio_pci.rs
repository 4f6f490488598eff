// SPDX-License-Identifier: GPL-2.0

//! rvfio-pci: a vfio-pci variant driver written in Rust.
//!
//! Binds to any PCI device through `driver_override` and offers it to userspace exactly as
//! `vfio-pci` does, through the abstractions over `vfio_pci_core` in [`vfio`].

use kernel::prelude::*;

mod pci_caps;
mod vfio;

use pci_caps::{ConfigSpace, TranslationCaps};

/// The PCI driver's name: what `driver_override` names and sysfs shows.
const DRIVER_NAME: &CStr = c"rvfio-pci";

/// The devices the driver binds: any, but only through `driver_override`.
///
/// Exported under the name modpost reads for a PCI device table, so that `modules.alias` gets
/// `vfio_pci:v*d*sv*sd*bc*sc*i*` for this module, as for C's `vfio-pci`.
#[export_name = concat!(
    "__mod_device_table__",
    line!(),
    "__kmod_",
    module_path!(),
    "__pci__rvfio_pci_ids"
)]
static RVFIO_PCI_IDS: vfio::OverrideOnlyIds = vfio::OverrideOnlyIds::ANY;

/// The variant driver.
struct RvfioPci;

impl vfio::VfioPciOps for RvfioPci {
    const NAME: &'static CStr = DRIVER_NAME;

    type Data = ();

    fn init_data(config: &vfio::PciConfig<'_>) -> impl PinInit<Self::Data, Error> {
        log_translation_caps(config);
        Ok::<(), Error>(())
    }
}

/// Says which of PASID, ATS and PRI the device has, and whether its chain is broken.
fn log_translation_caps(config: &vfio::PciConfig<'_>) {
    struct At(Option<u16>);
    impl kernel::fmt::Display for At {
        fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
            match self.0 {
                Some(offset) => write!(f, "{offset:#x}"),
                None => f.write_str("none"),
            }
        }
    }

    let (caps, err) = TranslationCaps::find(config);
    let dev = config.device();
    dev_info!(
        dev,
        "config space {} bytes; PASID {}, ATS {}, PRI {}\n",
        config.size(),
        At(caps.pasid),
        At(caps.ats),
        At(caps.pri)
    );
    if let Some(err) = err {
        dev_warn!(dev, "extended capability chain is broken: {}\n", err);
    }
}

impl kernel::fmt::Display for pci_caps::WalkError {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

#[pin_data]
struct RvfioPciModule {
    #[pin]
    driver: vfio::Registration<RvfioPci>,
}

impl kernel::InPlaceModule for RvfioPciModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            driver <- vfio::Registration::new(DRIVER_NAME, &RVFIO_PCI_IDS, module),
        })
    }
}

module! {
    type: RvfioPciModule,
    name: "rvfio_pci",
    authors: ["rvfio-pci developers"],
    description: "VFIO PCI variant driver written in Rust",
    license: "GPL",
}
