// SPDX-License-Identifier: GPL-2.0

//! rvfio-pci: a vfio-pci variant driver written in Rust.
//!
//! Binds to any PCI device through `driver_override` and offers it to userspace as `vfio-pci`
//! does, through the abstractions over `vfio_pci_core` in [`vfio`], with two differences: the
//! physical PASID capability is hidden from the user's config space ([`config::view`]), and
//! the `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS` device feature reports what the device can do
//! with PASID, ATS and PRI and where extended config space is free ([`pasid_ats`]).

use kernel::{prelude::*, uaccess::UserSlice};

mod bytes;
mod config;
mod migration;
mod personality;
mod vfio;

use config::pasid_ats::{self, PhysicalCaps, Report, Request};
use config::pci_caps::{self, layout_fingerprint, StdCaps, CAP_ID_EXP};
use config::view::{ExtLayout, PasidHiding, UserView};
use migration::state::MigState;
use migration::DeviceMigration;

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

/// What the driver keeps about each device.
struct DeviceData {
    /// The device's physical PASID, ATS and PRI capabilities, read when it is bound.
    caps: PhysicalCaps,
    /// Live migration, for a device with a personality.
    migration: Option<KBox<dyn DeviceMigration<RvfioPci>>>,
}

/// The migration flags of a device with a personality: those the state machine offers.
const MIGRATION_FLAGS: vfio::MigrationFlags = vfio::MigrationFlags::STOP_COPY
    .with(vfio::MigrationFlags::P2P)
    .with(vfio::MigrationFlags::PRE_COPY);
const _: () = assert!(MIGRATION_FLAGS.bits() == migration::FEATURES.bits());

// The pure code's copies of uAPI values must be the kernel's.
const _: () = {
    use migration::state::v1;
    use vfio::uapi;
    assert!(pasid_ats::FEATURE_GET == uapi::FEATURE_GET);
    assert!(pasid_ats::FEATURE_SET == uapi::FEATURE_SET);
    assert!(pasid_ats::FEATURE_PROBE == uapi::FEATURE_PROBE);
    assert!(v1::RUNNING == uapi::V1_RUNNING && v1::SAVING == uapi::V1_SAVING);
    assert!(v1::RESUMING == uapi::V1_RESUMING && v1::P2P & uapi::V1_STATE_MASK == 0);
    assert!(uapi::V1_HEADER_SIZE as u64 <= migration::v1_region::DATA_OFFSET);
};

impl vfio::VfioDeviceOps for RvfioPci {
    const NAME: &'static CStr = DRIVER_NAME;
    const MIGRATION: Option<vfio::MigrationOps<Self>> = Some(vfio::MigrationOps::<Self>::OF);
    const LOG: Option<vfio::LogOps<Self>> = Some(vfio::LogOps::<Self>::OF);

    type Data = DeviceData;
    type ConfigFilter = PasidHiding;

    fn init_data(config: &vfio::PciConfig<'_>) -> impl PinInit<Self::Data, Error> {
        let (caps, pcie) = read_translation_caps(config);
        let migration = migration::of(config, pcie);
        migration.map(|migration| DeviceData { caps, migration })
    }

    fn device_feature(
        dev: &vfio::OpenDevice<'_, Self>,
        flags: u32,
        payload: UserSlice,
    ) -> Option<Result> {
        let index = flags & vfio::FEATURE_INDEX_MASK;
        (index == u32::from(pasid_ats::FEATURE_INDEX)).then(|| get_pasid_ats(dev, flags, payload))
    }

    fn config_filter(dev: &vfio::OpenDevice<'_, Self>) -> Option<PasidHiding> {
        pasid_hiding(dev)
    }

    /// Reads go through the driver only to hide a PASID capability; writes also to see the
    /// doorbells of a device with a personality. A device with neither is `vfio-pci`'s on
    /// every access.
    fn interposed(data: &Self::Data) -> vfio::Interposed {
        vfio::Interposed {
            reads: data.caps.pasid.is_some(),
            writes: data.migration.is_some(),
        }
    }

    fn reset_done(data: &Self::Data) {
        if let Some(migration) = &data.migration {
            migration.reset_done();
        }
    }

    fn close_device(dev: &vfio::OpenDevice<'_, Self>) {
        if let Some(migration) = &dev.data().migration {
            migration.close();
        }
    }

    fn mappings(data: &Self::Data) -> Option<&vfio::MappingTracker> {
        data.migration
            .as_ref()
            .map(|migration| migration.mappings())
    }

    fn bar_written(dev: &vfio::OpenDevice<'_, Self>, bar: usize, offset: u64, len: usize) {
        if let Some(migration) = &dev.data().migration {
            migration.bar_written(dev, bar, offset, len);
        }
    }
}

impl vfio::VfioMigrationOps for RvfioPci {
    const V1_REGION_SIZE: u64 = migration::v1_region::REGION_SIZE;

    fn migration_flags(data: &Self::Data) -> Option<vfio::MigrationFlags> {
        data.migration.as_ref().map(|_| MIGRATION_FLAGS)
    }

    fn set_state(dev: &vfio::OpenDevice<'_, Self>, target: u32) -> Result<Option<vfio::DataFd>> {
        let migration = dev.data().migration.as_ref().ok_or(ENOTTY)?;
        migration.set_state(dev, target)
    }

    fn state(dev: &vfio::OpenDevice<'_, Self>) -> u32 {
        let state = dev.data().migration.as_ref().map(|m| m.state());
        state.unwrap_or(MigState::Error) as u32
    }

    fn data_size(dev: &vfio::OpenDevice<'_, Self>) -> usize {
        dev.data().migration.as_ref().map_or(0, |m| m.data_size())
    }

    fn v1_region_access(
        dev: &vfio::OpenDevice<'_, Self>,
        offset: u64,
        io: vfio::RegionIo<'_>,
    ) -> Result {
        let migration = dev.data().migration.as_ref().ok_or(EINVAL)?;
        migration.region_access(dev, offset, io)
    }
}

/// DMA logging, for the devices whose personality tracks their writes: every device with a
/// personality (`Documentation/migration.rst`).
impl vfio::VfioLogOps for RvfioPci {
    fn logs_dma(data: &Self::Data) -> bool {
        data.migration.is_some()
    }

    fn log_start(dev: &vfio::OpenDevice<'_, Self>, page_size: &mut u64) -> Result {
        let migration = dev.data().migration.as_ref().ok_or(ENOTTY)?;
        migration.log_start(dev, page_size)
    }

    fn log_stop(dev: &vfio::OpenDevice<'_, Self>) -> Result {
        let migration = dev.data().migration.as_ref().ok_or(ENOTTY)?;
        migration.log_stop();
        Ok(())
    }

    fn log_read_and_clear(
        dev: &vfio::OpenDevice<'_, Self>,
        iova: u64,
        length: u64,
        dirty: &mut vfio::DirtyBitmap<'_>,
    ) -> Result {
        let migration = dev.data().migration.as_ref().ok_or(ENOTTY)?;
        migration.log_read_and_clear(dev, iova, length, dirty)
    }
}

impl migration::Driver for RvfioPci {
    fn layout_fingerprint(dev: &vfio::OpenDevice<'_, Self>) -> u64 {
        with_user_view(dev, |view| layout_fingerprint(view))
    }
}

/// The hiding of the device's physical PASID capability, if it has one: planned from the
/// core's view of config space, which the core builds as the device opens.
fn pasid_hiding(dev: &vfio::OpenDevice<'_, RvfioPci>) -> Option<PasidHiding> {
    let pasid = dev.data().caps.pasid?;
    PasidHiding::new(&dev.core_config(), pasid.offset)
}

/// Runs `f` on config space as the user sees it: the core's view with the PASID hidden, as
/// planned when the device opened.
fn with_user_view<R>(
    dev: &vfio::OpenDevice<'_, RvfioPci>,
    f: impl FnOnce(&UserView<'_, vfio::CoreConfig<'_>>) -> R,
) -> R {
    let below = dev.core_config();
    f(&UserView::new(&below, dev.config_filter().copied()))
}

/// Answers `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS` (see `Documentation/uapi.rst`).
fn get_pasid_ats(dev: &vfio::OpenDevice<'_, RvfioPci>, flags: u32, payload: UserSlice) -> Result {
    let (mut reader, mut writer) = payload.reader_writer();
    let out_len = match pasid_ats::check_request(flags, reader.len()) {
        Ok(Request::Probe) => return Ok(()),
        Ok(Request::Get { out_len }) => out_len,
        Err(_) => return Err(EINVAL),
    };
    let mut fixed = [0u8; pasid_ats::FIXED_SIZE];
    reader.read_slice(&mut fixed)?;
    pasid_ats::check_input(&fixed).map_err(|_| EINVAL)?;

    let layout = with_user_view(dev, |view| ExtLayout::of(view));
    let report = Report {
        caps: &dev.data().caps,
        iommu_pasid: dev.iommu_pasid(),
        layout: &layout,
    };
    let mut out = KVec::from_elem(0u8, out_len, GFP_KERNEL)?;
    report.encode(&mut out);
    writer.write_slice(&out)
}

/// Reads the device's PASID, ATS and PRI capabilities and finds its PCI Express capability
/// (returned with them), and says in the log which it has, whether its capability chains are
/// broken and whether they changed while they were read.
fn read_translation_caps(config: &vfio::PciConfig<'_>) -> (PhysicalCaps, Option<u16>) {
    struct At(Option<u16>);
    impl kernel::fmt::Display for At {
        fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
            match self.0 {
                Some(offset) => write!(f, "{offset:#x}"),
                None => f.write_str("none"),
            }
        }
    }

    // A layout that reads differently from one read to the next makes what the walks find
    // wrong without any chain being broken. Two fingerprints in a row catch a layout that
    // alternates; one more after the walks, one that changed while they ran.
    let before = layout_fingerprint(config);
    let unstable = layout_fingerprint(config) != before;
    let (caps, err) = PhysicalCaps::read(config);
    let dev = config.device();
    let mut pcie = None;
    for cap in StdCaps::new(config) {
        match cap {
            Ok(cap) if cap.id == CAP_ID_EXP => pcie = pcie.or(Some(cap.offset)),
            Ok(_) => {}
            Err(err) => dev_warn!(dev, "standard capability chain is broken: {}\n", err),
        }
    }
    dev_info!(
        dev,
        "config space {} bytes; PCI Express {}, PASID {}, ATS {}, PRI {}\n",
        config.size(),
        At(pcie),
        At(caps.pasid.map(|found| found.offset)),
        At(caps.ats.map(|found| found.offset)),
        At(caps.pri.map(|found| found.offset))
    );
    if let Some(err) = err {
        dev_warn!(dev, "extended capability chain is broken: {}\n", err);
    }
    if unstable || layout_fingerprint(config) != before {
        dev_warn!(
            dev,
            "capability layout changed while it was read: the offsets above may be wrong\n"
        );
    }
    (caps, pcie)
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
    // `iova_bitmap_set`, which DMA logging reports through (with `CONFIG_IOMMUFD_DRIVER`).
    imports_ns: ["IOMMUFD"],
}
