// SPDX-License-Identifier: GPL-2.0

//! A `vfio_pci_core_device` carrying a variant driver's private data, and the
//! `vfio_device_ops` built for it from a [`VfioDeviceOps`] implementation.

use core::{cell::UnsafeCell, marker::PhantomData, mem::ManuallyDrop};

use kernel::{
    bindings,
    error::{from_err_ptr, from_result, to_result},
    ffi::c_void,
    prelude::*,
    types::Opaque,
    uaccess::{UserPtr, UserSlice},
};

use super::{
    bindings as vfio, config_access, region_at, CoreConfig, MappingTracker, PciConfig, Registers,
};
use super::{ConfigFilter, LogOps, MigrationFlags, MigrationOps};

/// The device ops of a vfio-pci variant driver (`vfio_device_ops`).
///
/// Every `vfio_device_ops` callback goes straight to `vfio_pci_core`, except those this trait
/// exposes; their default implementations do what `vfio-pci` does.
pub(crate) trait VfioDeviceOps: Sized + 'static {
    /// Name of the VFIO device ops (`vfio_device_ops.name`).
    const NAME: &'static CStr;

    /// The driver's migration ops (C's `mig_ops`): [`MigrationOps::OF`] for a driver that
    /// implements [`VfioMigrationOps`](super::VfioMigrationOps); `None`, the default, leaves
    /// every device without migration, as `vfio-pci`.
    const MIGRATION: Option<MigrationOps<Self>> = None;

    /// The driver's DMA logging ops (C's `log_ops`): [`LogOps::OF`] for a driver that
    /// implements [`VfioLogOps`](super::VfioLogOps); `None`, the default, leaves every device
    /// without DMA logging, as `vfio-pci`.
    const LOG: Option<LogOps<Self>> = None;

    /// Private data of each device, alive from the VFIO device's `init` to its `release`.
    type Data: Send + Sync;

    /// Initialises the private data of a device whose core part is initialised.
    fn init_data(config: &PciConfig<'_>) -> impl PinInit<Self::Data, Error>;

    /// Opens the device for its first user: enables it through the core.
    fn open_device(opening: Opening<'_, Self>) -> Result<Opened> {
        Ok(opening.enable()?.finish())
    }

    /// Answers a `VFIO_DEVICE_FEATURE` call that the VFIO core did not handle itself, with
    /// `flags` as the user gave them and `payload` the data after the `vfio_device_feature`
    /// header. `None` passes the call on to `vfio_pci_core`.
    fn device_feature(
        _dev: &OpenDevice<'_, Self>,
        _flags: u32,
        _payload: UserSlice,
    ) -> Option<Result> {
        None
    }

    /// How the user's view of config space departs from the one `vfio_pci_core` presents.
    type ConfigFilter: ConfigFilter;

    /// The device's [`VfioDeviceOps::ConfigFilter`], if its view departs from the core's.
    /// Asked once, as the first user opens the device (the core's view of config space is
    /// built then and does not change while it is open); the VFIO layer keeps the answer for
    /// every access to the config region until the last user closes the device.
    fn config_filter(_dev: &OpenDevice<'_, Self>) -> Option<Self::ConfigFilter> {
        None
    }

    /// Which of the file operations of the device whose data is `data` the driver interposes
    /// on; the others go straight to `vfio_pci_core`, as `vfio-pci` sets them, and cost what
    /// they cost there. A device whose reads go straight there never shows a config filter:
    /// opening it fails if [`VfioDeviceOps::config_filter`] has one for it.
    fn interposed(_data: &Self::Data) -> Interposed {
        Interposed {
            reads: true,
            writes: true,
        }
    }

    /// Called after the PCI core reset the device (any reset, bound or open), with the core's
    /// `memory_lock` possibly held: must not wait for a lock taken before that one.
    fn reset_done(_data: &Self::Data) {}

    /// Called as the last user closes the device, before the core disables it.
    fn close_device(_dev: &OpenDevice<'_, Self>) {}

    /// The tracker of the user's BAR mappings of the device whose data is `data`, for a
    /// device whose mappings obey a rule while it saves; `None` maps as `vfio-pci` does.
    fn mappings(_data: &Self::Data) -> Option<&MappingTracker> {
        None
    }

    /// Called after the user wrote `len` bytes at `offset` of BAR `bar` through the region's
    /// write path (not through a mapping).
    fn bar_written(_dev: &OpenDevice<'_, Self>, _bar: usize, _offset: u64, _len: usize) {}
}

/// Which file operations of a device its driver interposes on ([`VfioDeviceOps::interposed`]).
/// `mmap` and region info are interposed on a device with a [`MappingTracker`], and only there.
#[derive(Clone, Copy)]
pub(crate) struct Interposed {
    /// `read` of the device fd: the driver's [`ConfigFilter`] shows config space its way.
    pub(crate) reads: bool,
    /// `write`: the filter, and [`VfioDeviceOps::bar_written`]. Always with `reads`.
    pub(crate) writes: bool,
}

impl Interposed {
    /// The index of the device's ops in [`CoreDevice::OPS`].
    fn index(self, maps: bool) -> usize {
        usize::from(self.reads)
            | usize::from(self.reads || self.writes) << 1
            | usize::from(maps) << 2
    }
}

/// A `vfio_pci_core_device` followed by the private data of the variant driver `T`.
///
/// # Invariants
///
/// - `core` is at offset 0 and `core.vdev` at offset 0 of `core`, so a pointer to the
///   `vfio_device` is a pointer to `Self` (the layout `_vfio_alloc_device` requires).
/// - Every `CoreDevice` is allocated by `_vfio_alloc_device` with one of [`CoreDevice::OPS`],
///   and `data` and `config_filter` are initialised from the ops' `init` until their
///   `release`; `init` then sets the ops `data` says ([`VfioDeviceOps::interposed`]), which
///   differ from the others only in `read`, `write`, `mmap` and `get_region_info_caps`.
/// - `config_filter` is written only by `open_device` and `close_device`, under the device
///   set's lock, while no fd of the device exists that could read it; it is `None` while the
///   device is closed.
#[repr(C)]
#[pin_data]
pub(crate) struct CoreDevice<T: VfioDeviceOps> {
    core: Opaque<vfio::vfio_pci_core_device>,
    #[pin]
    data: T::Data,
    /// `T`'s config filter while the device is open, asked once as it opens.
    config_filter: UnsafeCell<Option<T::ConfigFilter>>,
}

impl<T: VfioDeviceOps> CoreDevice<T> {
    /// The ops of the devices driven by `T`, by [`Interposed::index`]: `T`'s callbacks where it
    /// interposes, the core's everywhere else, as `vfio-pci` sets them.
    const OPS: [vfio::vfio_device_ops; 8] = [
        Self::ops(0),
        Self::ops(1),
        Self::ops(2),
        Self::ops(3),
        Self::ops(4),
        Self::ops(5),
        Self::ops(6),
        Self::ops(7),
    ];

    /// The ops at `index` in [`CoreDevice::OPS`].
    // `CStrExt::as_char_ptr` is a trait method, which a constant cannot call; the kernel's
    // `c_char` is `u8`, hence the cast.
    #[allow(clippy::disallowed_methods)]
    const fn ops(index: usize) -> vfio::vfio_device_ops {
        let (reads, writes, maps) = (index & 1 != 0, index & 2 != 0, index & 4 != 0);
        vfio::vfio_device_ops {
            name: T::NAME.as_ptr().cast::<u8>().cast_mut(),
            init: Some(Self::init_callback),
            release: Some(Self::release_callback),
            open_device: Some(Self::open_device_callback),
            close_device: Some(Self::close_device_callback),
            ioctl: Some(vfio::vfio_pci_core_ioctl),
            get_region_info_caps: if maps {
                Some(Self::region_info_callback)
            } else {
                Some(vfio::vfio_pci_ioctl_get_region_info)
            },
            device_feature: Some(Self::device_feature_callback),
            read: if reads {
                Some(Self::read_callback)
            } else {
                Some(vfio::vfio_pci_core_read)
            },
            write: if writes {
                Some(Self::write_callback)
            } else {
                Some(vfio::vfio_pci_core_write)
            },
            mmap: if maps {
                Some(Self::mmap_callback)
            } else {
                Some(vfio::vfio_pci_core_mmap)
            },
            request: Some(vfio::vfio_pci_core_request),
            match_: Some(vfio::vfio_pci_core_match),
            match_token_uuid: Some(vfio::vfio_pci_core_match_token_uuid),
            // Without IOMMUFD `linux/vfio.h` defines the core's iommufd ops as NULL and a
            // device is only reachable through a group and a container.
            #[cfg(CONFIG_IOMMUFD)]
            bind_iommufd: Some(vfio::vfio_iommufd_physical_bind),
            #[cfg(not(CONFIG_IOMMUFD))]
            bind_iommufd: None,
            #[cfg(CONFIG_IOMMUFD)]
            unbind_iommufd: Some(vfio::vfio_iommufd_physical_unbind),
            #[cfg(not(CONFIG_IOMMUFD))]
            unbind_iommufd: None,
            #[cfg(CONFIG_IOMMUFD)]
            attach_ioas: Some(vfio::vfio_iommufd_physical_attach_ioas),
            #[cfg(not(CONFIG_IOMMUFD))]
            attach_ioas: None,
            #[cfg(CONFIG_IOMMUFD)]
            detach_ioas: Some(vfio::vfio_iommufd_physical_detach_ioas),
            #[cfg(not(CONFIG_IOMMUFD))]
            detach_ioas: None,
            #[cfg(CONFIG_IOMMUFD)]
            pasid_attach_ioas: Some(vfio::vfio_iommufd_physical_pasid_attach_ioas),
            #[cfg(not(CONFIG_IOMMUFD))]
            pasid_attach_ioas: None,
            #[cfg(CONFIG_IOMMUFD)]
            pasid_detach_ioas: Some(vfio::vfio_iommufd_physical_pasid_detach_ioas),
            #[cfg(not(CONFIG_IOMMUFD))]
            pasid_detach_ioas: None,
            dma_unmap: None,
        }
    }

    /// The PCI error handlers of `T`'s devices: the core's, and `T`'s reset notification.
    pub(super) const ERR_HANDLERS: bindings::pci_error_handlers = bindings::pci_error_handlers {
        error_detected: Some(vfio::vfio_pci_core_aer_err_detected),
        reset_prepare: Some(Self::reset_prepare_callback),
        reset_done: Some(Self::reset_done_callback),
        ..pin_init::zeroed()
    };

    /// The migration ops and flags of the device whose data is `data`, if it migrates.
    pub(super) fn migration_of(
        data: &T::Data,
    ) -> Option<(&'static MigrationOps<T>, MigrationFlags)> {
        let ops: &'static Option<MigrationOps<T>> = &T::MIGRATION;
        let ops = ops.as_ref()?;
        Some((ops, (ops.flags)(data)?))
    }

    /// The variant driver's data of the device.
    pub(super) fn data(&self) -> &T::Data {
        &self.data
    }

    pub(super) fn core_ptr(&self) -> *mut vfio::vfio_pci_core_device {
        self.core.get()
    }

    /// Allocates the VFIO device of `pdev` and registers it with `vfio_pci_core`.
    ///
    /// # Safety
    ///
    /// `pdev` must be a valid device being probed by the driver whose ops are `T`; its drvdata
    /// belongs to this driver until [`CoreDevice::remove`].
    pub(super) unsafe fn probe(pdev: *mut bindings::pci_dev) -> Result {
        // SAFETY: `pdev` is valid. `Self::OPS` is 'static, and the size is that of `Self`, whose
        // `vfio_device` sits at offset 0 as the type invariant says. `init` sets the device's
        // own ops from the table.
        let vdev = unsafe {
            vfio::_vfio_alloc_device(size_of::<Self>(), &raw mut (*pdev).dev, &Self::OPS[7])
        };
        let vdev = from_err_ptr(vdev)?;
        let core = vdev.cast::<vfio::vfio_pci_core_device>();

        // SAFETY: `pdev` is valid and its drvdata is ours; `vfio_pci_core_register_device`
        // requires it to be the core device.
        unsafe { bindings::dev_set_drvdata(&raw mut (*pdev).dev, core.cast()) };

        // SAFETY: `core` was allocated and initialised above, and is the drvdata of its device.
        let ret = to_result(unsafe { vfio::vfio_pci_core_register_device(core) });
        if ret.is_err() {
            // SAFETY: Registration failed, so the reference from the allocation is the only one.
            unsafe { put(vdev) };
        }
        ret
    }

    /// Unregisters and releases the VFIO device of `pdev`.
    ///
    /// Waits, through `vfio_pci_core`'s request mechanism, until every user has closed the
    /// device.
    ///
    /// # Safety
    ///
    /// `pdev` must be a device whose [`CoreDevice::probe`] succeeded, being unbound.
    pub(super) unsafe fn remove(pdev: *mut bindings::pci_dev) {
        // SAFETY: Probe succeeded, as this function requires.
        let core = unsafe { probed_core(pdev) };
        // SAFETY: `core` is registered (probe succeeded) and is unregistered only here.
        unsafe { vfio::vfio_pci_core_unregister_device(core) };
        // SAFETY: Drops the reference taken by `_vfio_alloc_device` in `probe`.
        unsafe { put(&raw mut (*core).vdev) };
    }

    /// Enables or disables `num_vfs` SR-IOV virtual functions of `pdev`.
    ///
    /// # Safety
    ///
    /// `pdev` must be a device whose [`CoreDevice::probe`] succeeded, still bound.
    pub(super) unsafe fn sriov_configure(pdev: *mut bindings::pci_dev, num_vfs: c_int) -> c_int {
        // SAFETY: Probe succeeded, as this function requires.
        let core = unsafe { probed_core(pdev) };
        // SAFETY: `core` is the registered core device of `pdev`.
        unsafe { vfio::vfio_pci_core_sriov_configure(core, num_vfs) }
    }

    /// # Safety
    ///
    /// Called by VFIO only, once, on the zeroed allocation made by `_vfio_alloc_device`.
    unsafe extern "C" fn init_callback(vdev: *mut vfio::vfio_device) -> c_int {
        // SAFETY: `vdev` is a fresh, zeroed core device (type invariant: offset 0).
        let ret = unsafe { vfio::vfio_pci_core_init_dev(vdev) };
        if ret != 0 {
            return ret;
        }
        let this = vdev.cast::<Self>();
        // SAFETY: `config_filter` lies inside the allocation, uninitialised; the device is not
        // registered yet, so nothing reads it.
        unsafe { (&raw mut (*this).config_filter).write(UnsafeCell::new(None)) };
        // SAFETY: The core init above set `pdev` to the device's valid parent PCI device,
        // which outlives its VFIO device.
        let config = unsafe { PciConfig::new((*(*this).core.get()).pdev) };
        // SAFETY: `data` lies inside the allocation, uninitialised; the allocation never moves
        // until `vfio_device_release` frees it, so initialising it pinned in place is sound.
        let ret = unsafe { ::pin_init::raw_try_init(&raw mut (*this).data, T::init_data(&config)) };
        match ret {
            Ok(()) => {
                // SAFETY: `data` was just initialised; `vdev` is not registered yet, so
                // nothing reads the ops or the migration fields concurrently. The ops tables
                // are 'static.
                unsafe {
                    let data = &(*this).data;
                    let maps = T::mappings(data).is_some();
                    (*vdev).ops = &Self::OPS[T::interposed(data).index(maps)];
                    if let Some((ops, flags)) = Self::migration_of(data) {
                        (*vdev).migration_flags = flags.bits();
                        (*vdev).mig_ops = ops.table;
                    }
                }
                0
            }
            Err(err) => {
                // SAFETY: Initialised above; VFIO calls no release after a failed init.
                unsafe { core::ptr::drop_in_place(&raw mut (*this).config_filter) };
                // SAFETY: Undoes `vfio_pci_core_init_dev`; VFIO calls no release after a
                // failed init.
                unsafe { vfio::vfio_pci_core_release_dev(vdev) };
                err.to_errno()
            }
        }
    }

    /// # Safety
    ///
    /// Called by VFIO only, once, when the last reference to a device whose init succeeded
    /// goes away.
    unsafe extern "C" fn release_callback(vdev: *mut vfio::vfio_device) {
        let this = vdev.cast::<Self>();
        // SAFETY: `init` succeeded, so `data` and `config_filter` are initialised; nothing
        // uses them any more.
        unsafe {
            core::ptr::drop_in_place(&raw mut (*this).data);
            core::ptr::drop_in_place(&raw mut (*this).config_filter);
        }
        // SAFETY: Tears down what `vfio_pci_core_init_dev` set up, once.
        unsafe { vfio::vfio_pci_core_release_dev(vdev) };
    }

    /// # Safety
    ///
    /// Called by VFIO only, with the device set's lock held, on a registered device.
    unsafe extern "C" fn open_device_callback(vdev: *mut vfio::vfio_device) -> c_int {
        // SAFETY: The device is registered, so `init` succeeded and it is a live `Self`.
        let dev = unsafe { &*vdev.cast::<Self>() };
        from_result(|| {
            T::open_device(Opening { dev })?;
            // SAFETY: `T::open_device` succeeded, so the core enabled the device.
            let filter = T::config_filter(&unsafe { OpenDevice::new(dev) });
            if filter.is_some() && !T::interposed(&dev.data).reads {
                // The user would see config space without the filter: refuse.
                // SAFETY: Undoes the core's enable of the open that fails here.
                unsafe { vfio::vfio_pci_core_close_device(vdev) };
                return Err(EINVAL);
            }
            // SAFETY: The first user is opening the device, under the device set's lock:
            // no fd of it exists yet that could read the filter or call a logging feature
            // concurrently (type invariant).
            unsafe {
                *dev.config_filter.get() = filter;
                (*vdev).log_ops = dev.log_ops();
            }
            Ok(0)
        })
    }

    /// The logging ops the device offers while open: `T`'s, if `T` has them and the device's
    /// data says it logs, and if the user opened it through a container. The driver reads
    /// descriptors with `vfio_dma_rw()`, which a physical device bound to an iommufd (its
    /// cdev, or `/dev/iommufd` as a container) cannot use: there it offers none, and the core
    /// answers the features with `ENOTTY`, as for `vfio-pci`.
    ///
    /// # Safety
    ///
    /// The device's binding (container or iommufd) is settled: it is being opened or open.
    unsafe fn log_ops(&self) -> *const vfio::vfio_log_ops {
        let log: &'static Option<LogOps<T>> = &T::LOG;
        #[cfg(CONFIG_IOMMUFD)]
        // SAFETY: `vdev` is at offset 0 of the live core device; the caller's guarantee keeps
        // `iommufd_device` from changing.
        let iommufd = unsafe { !(*self.core_ptr()).vdev.iommufd_device.is_null() };
        // Without IOMMUFD a device is never bound to an iommufd.
        #[cfg(not(CONFIG_IOMMUFD))]
        let iommufd = false;
        // Without IOMMUFD_DRIVER the core has no `iova_bitmap` to report through.
        let reports = cfg!(CONFIG_IOMMUFD_DRIVER);
        match log.as_ref() {
            Some(ops) if reports && !iommufd && (ops.logs_dma)(&self.data) => ops.table,
            _ => core::ptr::null(),
        }
    }

    /// # Safety
    ///
    /// Called by VFIO only, with the device set's lock held, as the last user closes a device
    /// whose `open_device` succeeded.
    unsafe extern "C" fn close_device_callback(vdev: *mut vfio::vfio_device) {
        // SAFETY: The device is still open until the core's close below.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        T::close_device(&dev);
        // SAFETY: The last fd of the device is going, under the device set's lock: nothing
        // reads the filter or calls a logging feature (type invariant).
        unsafe {
            *dev.dev.config_filter.get() = None;
            (*vdev).log_ops = core::ptr::null();
        }
        // SAFETY: The arguments are VFIO's, passed on.
        unsafe { vfio::vfio_pci_core_close_device(vdev) };
    }

    /// Called by the PCI core before it resets a device bound to this driver through
    /// `pci_reset_function()` and its variants (`VFIO_DEVICE_RESET`, sysfs `reset`) or a bus
    /// or slot reset (`VFIO_DEVICE_PCI_HOT_RESET`).
    ///
    /// The driver has nothing to do before a reset: the core serialises it with the user's
    /// BAR accesses through `memory_lock`, and [`VfioDeviceOps::reset_done`] sets the variant's
    /// state back after it. The callback is there because the PCI core logs `"resetting"` at
    /// warning level before each reset of a bound device whose driver has none, and a user
    /// asks for one with every `VFIO_DEVICE_RESET`, as often as it likes: a message no rate
    /// limit would bound (`Documentation/messages.rst`).
    extern "C" fn reset_prepare_callback(_pdev: *mut bindings::pci_dev) {}

    /// # Safety
    ///
    /// Called by the PCI core only, after resetting a device bound to this driver.
    unsafe extern "C" fn reset_done_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: The device is bound, so probe succeeded and its drvdata is our core device,
        // whose `data` lives until the device is removed.
        let this = unsafe { &*probed_core(pdev).cast::<Self>() };
        T::reset_done(&this.data);
    }
}

impl<T: VfioDeviceOps> CoreDevice<T> {
    /// # Safety
    ///
    /// Called by VFIO only, for a `VFIO_DEVICE_FEATURE` ioctl on an open device; `arg` is the
    /// user's payload of `argsz` bytes.
    unsafe extern "C" fn device_feature_callback(
        vdev: *mut vfio::vfio_device,
        flags: u32,
        arg: *mut c_void,
        argsz: usize,
    ) -> c_int {
        // SAFETY: The device is open, so it is a live `Self` whose core is enabled.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        let payload = UserSlice::new(UserPtr::from_ptr(arg), argsz);
        match T::device_feature(&dev, flags, payload) {
            Some(result) => from_result(|| result.map(|()| 0)),
            // SAFETY: The arguments are VFIO's, passed on unchanged.
            None => unsafe { vfio::vfio_pci_core_ioctl_feature(vdev, flags, arg, argsz) },
        }
    }

    /// The hiding that applies to an access of `count` bytes at `*ppos`, with the offset in
    /// config space where the access lands; `None` when the access goes to the core as is.
    ///
    /// # Safety
    ///
    /// `vdev` must be an open device of this driver, open for `'a`, and `ppos` a valid file
    /// position.
    unsafe fn config_hiding_at<'a>(
        vdev: *mut vfio::vfio_device,
        ppos: *mut bindings::loff_t,
        count: usize,
    ) -> Option<(u32, &'a T::ConfigFilter)> {
        // SAFETY: The device is open for `'a`, as this function requires, so it is a live
        // `Self` whose core is enabled.
        let dev: OpenDevice<'a, T> = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        let filter = dev.config_filter()?;
        // SAFETY: `ppos` is valid, as this function requires.
        let pos = unsafe { *ppos };
        let offset = config_access::config_offset(&dev.physical_config(), pos, count)?;
        Some((offset, filter))
    }

    /// # Safety
    ///
    /// Called by VFIO only, for a `read` on the fd of an open device.
    unsafe extern "C" fn read_callback(
        vdev: *mut vfio::vfio_device,
        buf: *mut u8,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: VFIO calls this for a `read` on the fd of an open device, at `*ppos`.
        let hiding = unsafe { Self::config_hiding_at(vdev, ppos, count) };
        match hiding {
            // SAFETY: The arguments are VFIO's; `offset` is where `pos` lands in config space.
            Some((offset, hiding)) => unsafe {
                config_access::read(hiding, offset, vdev, buf, count, ppos)
            },
            // SAFETY: The arguments are VFIO's, passed on unchanged.
            None => unsafe { vfio::vfio_pci_core_read(vdev, buf, count, ppos) },
        }
    }

    /// # Safety
    ///
    /// Called by VFIO only, for a `write` on the fd of an open device.
    unsafe extern "C" fn write_callback(
        vdev: *mut vfio::vfio_device,
        buf: *const u8,
        count: usize,
        ppos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: VFIO calls this for a `write` on the fd of an open device, at `*ppos`.
        let hiding = unsafe { Self::config_hiding_at(vdev, ppos, count) };
        match hiding {
            // SAFETY: The arguments are VFIO's; `offset` is where `pos` lands in config space.
            Some((offset, hiding)) => unsafe {
                config_access::write(hiding, offset, vdev, buf, count, ppos)
            },
            None => {
                // SAFETY: `ppos` is VFIO's valid file position; read before the core moves it.
                let pos = unsafe { *ppos };
                // SAFETY: The arguments are VFIO's, passed on unchanged.
                let written = unsafe { vfio::vfio_pci_core_write(vdev, buf, count, ppos) };
                let bar = region_at(pos).filter(|&(bar, _)| (bar as usize) < super::BARS);
                if let (Some((bar, offset)), true) = (bar, written > 0) {
                    // SAFETY: The device is open, so it is a live `Self` whose core is enabled.
                    let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
                    T::bar_written(&dev, bar as usize, offset, written as usize);
                }
                written
            }
        }
    }
}

/// A device a user has open: the core has enabled it and built its view of config space.
///
/// # Invariants
///
/// The device is open (between `open_device` and `close_device`), so its core is enabled and
/// `vconfig` holds the core's view of config space.
pub(crate) struct OpenDevice<'a, T: VfioDeviceOps> {
    dev: &'a CoreDevice<T>,
}

impl<'a, T: VfioDeviceOps> OpenDevice<'a, T> {
    /// # Safety
    ///
    /// `dev` must be open for the lifetime `'a`.
    pub(super) unsafe fn new(dev: &'a CoreDevice<T>) -> Self {
        Self { dev }
    }

    /// The driver's private data for the device.
    pub(crate) fn data(&self) -> &T::Data {
        &self.dev.data
    }

    /// The driver's config filter, as it answered when the device opened.
    pub(crate) fn config_filter(&self) -> Option<&'a T::ConfigFilter> {
        // SAFETY: By the type invariant the device is open for `'a`; by `CoreDevice`'s, the
        // filter is written only while no fd of it exists, so it does not change for `'a`.
        unsafe { (*self.dev.config_filter.get()).as_ref() }
    }

    fn pdev(&self) -> *mut bindings::pci_dev {
        // SAFETY: The core set `pdev` at init; it does not change while the device lives.
        unsafe { (*self.dev.core_ptr()).pdev }
    }

    /// The device's physical config space.
    pub(crate) fn physical_config(&self) -> PciConfig<'_> {
        // SAFETY: The PCI device outlives its VFIO device, which outlives `self`.
        unsafe { PciConfig::new(self.pdev()) }
    }

    /// Config space as `vfio_pci_core` presents it to the user.
    pub(crate) fn core_config(&self) -> CoreConfig<'_> {
        let size = self.physical_config().size();
        // SAFETY: By the type invariant the device is open, so `vconfig` is the core's
        // allocation of `cfg_size` bytes until the device closes, after `self` is gone.
        unsafe { CoreConfig::new((*self.dev.core_ptr()).vconfig, size) }
    }

    /// The generic device, for logging.
    pub(crate) fn device(&self) -> &kernel::device::Device {
        // SAFETY: The PCI device outlives its VFIO device, which outlives `self`.
        unsafe { kernel::device::Device::from_raw(&raw mut (*self.pdev()).dev) }
    }

    /// Reads `buf.len()` bytes at `iova` of the device's I/O address space through the VFIO
    /// core (`vfio_dma_rw`): for a container, the IOMMU driver copies from the user's memory
    /// under its own lock, so the pages cannot be unmapped meanwhile. Sleeps, and faults the
    /// user's pages in: call it with no lock held that a page fault or an unmap takes. A
    /// device bound to an iommufd has no such path (`EINVAL`).
    pub(crate) fn dma_read(&self, iova: u64, buf: &mut [u8]) -> Result {
        let vdev = self.dev.core_ptr().cast::<vfio::vfio_device>();
        // SAFETY: The device is open, as `vfio_dma_rw` requires; `buf` is valid for writes of
        // its length.
        kernel::error::to_result(unsafe {
            vfio::vfio_dma_rw(vdev, iova, buf.as_mut_ptr().cast(), buf.len(), false)
        })
    }

    /// Whether the user opted in to `VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2`.
    pub(crate) fn precopy_info_v2(&self) -> bool {
        // SAFETY: `vdev` is at offset 0 of the live core device; VFIO changes the flag only
        // under the same ioctl serialisation as the migration callbacks.
        unsafe { (*self.dev.core_ptr()).vdev.precopy_info_v2 != 0 }
    }

    /// Runs `f` with the core's `memory_lock` held for writing, as the core's own command
    /// register writes and resets do: the user's BAR accesses and faults wait meanwhile.
    fn with_memory_locked<R>(&self, f: impl FnOnce() -> R) -> R {
        let lock = self.memory_lock();
        // SAFETY: The device is open, so `memory_lock` is initialised; released below.
        unsafe { bindings::down_write(lock) };
        let result = f();
        // SAFETY: Taken above.
        unsafe { bindings::up_write(lock) };
        result
    }

    fn memory_lock(&self) -> *mut bindings::rw_semaphore {
        // SAFETY: The core device is live; this only computes the field's address.
        unsafe { &raw mut (*self.dev.core_ptr()).memory_lock }
    }

    /// Runs `f` on the registers of memory BAR `bar` with the core's `memory_lock` held for
    /// writing, memory decoding enabled for the while if the user had it off. `EIO` if the
    /// device is in D3, `ENODEV` if the BAR is not a mapped memory BAR.
    pub(crate) fn with_registers<R>(
        &self,
        bar: usize,
        f: impl FnOnce(&mut Registers<'_>) -> R,
    ) -> Result<R> {
        // SAFETY: `memory_lock` is held for writing, as `locked_registers` requires.
        self.with_memory_locked(|| unsafe { self.locked_registers(bar, f) })
    }

    /// # Safety
    ///
    /// The core's `memory_lock` must be held for writing.
    unsafe fn locked_registers<R>(
        &self,
        bar: usize,
        f: impl FnOnce(&mut Registers<'_>) -> R,
    ) -> Result<R> {
        // `PCI_D3hot`, a macro of `pci_power_t` type that bindgen does not see.
        const D3HOT: bindings::pci_power_t = 3;
        let pdev = self.pdev();
        // SAFETY: `pdev` is valid; its power state changes under `memory_lock`, held.
        if unsafe { (*pdev).current_state } >= D3HOT {
            return Err(EIO);
        }
        // SAFETY: The device is open, so the core set up `barmap` at enable time.
        let base = unsafe { *(*self.dev.core_ptr()).barmap.get(bar).ok_or(ENODEV)? };
        let base = kernel::error::from_err_ptr(base)?;
        // SAFETY: `pdev` is valid and `bar` a standard BAR index (checked above).
        let resource = unsafe { &(*pdev).resource[bar] };
        if base.is_null() || resource.flags & bindings::IORESOURCE_MEM as c_ulong == 0 {
            return Err(ENODEV);
        }
        let len = (resource.end - resource.start + 1) as usize;
        let config = self.physical_config();
        let at = bindings::PCI_COMMAND as u16;
        let memory = bindings::PCI_COMMAND_MEMORY as u16;
        let command = config.read_word(at);
        let decode_off = command & memory == 0;
        // A config write fails only on a device gone from the bus, whose registers then read
        // all ones whatever the command register says.
        if decode_off {
            let _ = config.write_word(at, command | memory);
        }
        // SAFETY: The BAR is mapped, of `len` bytes, and decodes while `memory_lock` is held.
        let result = f(&mut unsafe { Registers::new(base, len) });
        if decode_off {
            let _ = config.write_word(at, command);
        }
        Ok(result)
    }

    /// Turns on the command register's `bits` (memory, bus master, ...) as a user's write
    /// would: in the device and, for memory and I/O decoding, in the core's record of them,
    /// under `memory_lock` as the core's own command writes.
    pub(crate) fn enable_command(&self, bits: u16) {
        let config = self.physical_config();
        let decode = (bindings::PCI_COMMAND_MEMORY | bindings::PCI_COMMAND_IO) as u16;
        let at = bindings::PCI_COMMAND as u16;
        self.with_memory_locked(|| {
            let command = config.read_word(at);
            // A failed write leaves the command as it was, which the core's record then
            // matches.
            if config.write_word(at, command | bits).is_ok() {
                // SAFETY: `vconfig` is the core's copy of config space while the device is
                // open; the core reads and writes its command word under `memory_lock`, held.
                unsafe {
                    let virt = (*self.dev.core_ptr())
                        .vconfig
                        .add(usize::from(at))
                        .cast::<u16>();
                    let value = u16::from_le(virt.read_unaligned()) | (bits & decode);
                    virt.write_unaligned(value.to_le());
                }
            }
        })
    }

    /// Whether the platform IOMMU can attach PASIDs for this device: the IOMMU core found both
    /// the device and its IOMMU able to (`dev->iommu->max_pasids`).
    pub(crate) fn iommu_pasid(&self) -> bool {
        // SAFETY: `pdev` is valid (see `pdev`). A device VFIO has open is in an IOMMU group,
        // so `dev.iommu`, when set, stays allocated while it is open.
        unsafe {
            let iommu = (*self.pdev()).dev.iommu;
            !iommu.is_null() && (*iommu).max_pasids > 0
        }
    }
}

/// The core device of a PCI device that [`CoreDevice::probe`] bound: its drvdata.
///
/// # Safety
///
/// `pdev` must be a valid device whose probe succeeded and which is not yet removed.
pub(super) unsafe fn probed_core(pdev: *mut bindings::pci_dev) -> *mut vfio::vfio_pci_core_device {
    // SAFETY: `pdev` is valid; `probe` set its drvdata to the core device.
    unsafe { bindings::dev_get_drvdata(&raw mut (*pdev).dev) }.cast()
}

/// Drops a reference to a VFIO device (C's `vfio_put_device`).
///
/// # Safety
///
/// The caller must own a reference to `vdev`.
unsafe fn put(vdev: *mut vfio::vfio_device) {
    // SAFETY: `vdev` is valid and the caller gives up its reference.
    unsafe { bindings::put_device(&raw mut (*vdev).device) };
}

/// A device being opened: the only state in which the core may be enabled.
pub(crate) struct Opening<'a, T: VfioDeviceOps> {
    dev: &'a CoreDevice<T>,
}

impl<'a, T: VfioDeviceOps> Opening<'a, T> {
    /// Enables the device through `vfio_pci_core` (power, BARs, reset, config snapshot), and
    /// adds the v1 migration region to a device with migration features.
    pub(crate) fn enable(self) -> Result<Enabled<'a, T>> {
        // SAFETY: Called from `open_device` (the only way to get an `Opening`) with the device
        // set's lock held, as `vfio_pci_core_enable` requires.
        to_result(unsafe { vfio::vfio_pci_core_enable(self.dev.core_ptr()) })?;
        let enabled = Enabled { dev: self.dev };
        if let Some((ops, _)) = CoreDevice::<T>::migration_of(&self.dev.data) {
            // SAFETY: Enabled just now and not finished, within `open_device`.
            unsafe { self.dev.register_migration_region(ops) }?;
        }
        Ok(enabled)
    }
}

/// A device enabled by the core whose opening has not finished.
///
/// Dropping it disables the device again, so an `open_device` that fails after enabling
/// leaves nothing behind.
pub(crate) struct Enabled<'a, T: VfioDeviceOps> {
    dev: &'a CoreDevice<T>,
}

impl<T: VfioDeviceOps> Enabled<'_, T> {
    /// Finishes opening: the core registers the device's regions and IRQs with the user.
    pub(crate) fn finish(self) -> Opened {
        let this = ManuallyDrop::new(self);
        // SAFETY: The device was enabled by `Opening::enable` within this `open_device`.
        unsafe { vfio::vfio_pci_core_finish_enable(this.dev.core_ptr()) };
        Opened {
            _private: PhantomData,
        }
    }
}

impl<T: VfioDeviceOps> Drop for Enabled<'_, T> {
    fn drop(&mut self) {
        // SAFETY: The device was enabled by `Opening::enable` and not finished.
        unsafe { vfio::vfio_pci_core_disable(self.dev.core_ptr()) };
    }
}

/// Proof that `open_device` enabled and finished the device.
pub(crate) struct Opened {
    _private: PhantomData<()>,
}
