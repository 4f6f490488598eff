// SPDX-License-Identifier: GPL-2.0

//! `vfio_log_ops`: the DMA logging callbacks of a variant driver whose devices report the
//! pages they write (`VFIO_DEVICE_FEATURE_DMA_LOGGING_START`, `_STOP` and `_REPORT`).
//!
//! The VFIO core parses the three features: it checks the ranges of a start (alignment,
//! overlap, at most a page of them) and walks the user's bitmap of a report in chunks,
//! calling [`VfioLogOps::log_read_and_clear`] for each. A driver implements [`VfioLogOps`] and
//! names [`LogOps::OF`] in [`VfioDeviceOps::LOG`]; a device whose data says it does not log
//! gets no `log_ops`, so the core answers the features with `ENOTTY`, as for `vfio-pci`.
//! Without `CONFIG_IOMMUFD_DRIVER` (no `iova_bitmap`: the core fails every report with
//! `EOPNOTSUPP`) no device gets them.

use kernel::{bindings, ffi::c_ulong, prelude::*};

use super::{bindings as vfio, CoreDevice, OpenDevice, VfioDeviceOps};

/// The DMA logging callbacks of a variant driver (`vfio_log_ops`).
///
/// The core keeps no logging state: the driver refuses a second start without a stop, and a
/// stop or a report while not logging, itself.
pub(crate) trait VfioLogOps: VfioDeviceOps {
    /// Whether the device whose data is `data` logs its DMA writes, decided once when it is
    /// initialised.
    fn logs_dma(data: &Self::Data) -> bool;

    /// Starts logging the pages the device writes, in units of `page_size` bytes (the driver
    /// may raise it). The ranges the user will ask about were checked by the core.
    fn log_start(dev: &OpenDevice<'_, Self>, page_size: &mut u64) -> Result;

    /// Stops logging.
    fn log_stop(dev: &OpenDevice<'_, Self>) -> Result;

    /// Sets in `dirty` the pages of `[iova, iova + length)` the device wrote since the last
    /// read of them, and forgets them.
    fn log_read_and_clear(
        dev: &OpenDevice<'_, Self>,
        iova: u64,
        length: u64,
        dirty: &mut DirtyBitmap<'_>,
    ) -> Result;
}

/// The logging ops of a driver, which only a [`VfioLogOps`] implementation gives: what
/// [`VfioDeviceOps::LOG`] holds.
pub(crate) struct LogOps<T: VfioDeviceOps> {
    pub(super) table: &'static vfio::vfio_log_ops,
    pub(super) logs_dma: fn(&T::Data) -> bool,
}

impl<T: VfioLogOps> LogOps<T> {
    /// `T`'s logging ops.
    pub(crate) const OF: Self = Self {
        table: &CoreDevice::<T>::LOG_OPS,
        logs_dma: T::logs_dma,
    };
}

/// The part of the user's dirty bitmap a report is filling (`struct iova_bitmap`).
///
/// # Invariants
///
/// `bitmap` is the core's live iterator for the duration of one `log_read_and_clear` call.
pub(crate) struct DirtyBitmap<'a> {
    bitmap: *mut vfio::iova_bitmap,
    _call: core::marker::PhantomData<&'a mut vfio::iova_bitmap>,
}

impl DirtyBitmap<'_> {
    /// Marks the `length` bytes at `iova` dirty; the parts outside the chunk being filled are
    /// ignored.
    pub(crate) fn set(&mut self, iova: u64, length: u64) {
        #[cfg(CONFIG_IOMMUFD_DRIVER)]
        // SAFETY: By the type invariant `bitmap` is live; `iova_bitmap_set` clips to the
        // chunk it maps and sleeps only in process context, where reports run.
        unsafe {
            vfio::iova_bitmap_set(self.bitmap, iova as c_ulong, length as usize)
        };
        // Without IOMMUFD_DRIVER the core walks no user bitmap and no device offers logging
        // ops (`CoreDevice::log_ops`), so no report reaches here.
        #[cfg(not(CONFIG_IOMMUFD_DRIVER))]
        let _ = (self.bitmap, iova, length);
    }
}

impl<T: VfioLogOps> CoreDevice<T> {
    /// The logging callbacks of devices `T` says log DMA.
    const LOG_OPS: vfio::vfio_log_ops = vfio::vfio_log_ops {
        log_start: Some(Self::log_start_callback),
        log_stop: Some(Self::log_stop_callback),
        log_read_and_clear: Some(Self::log_read_and_clear_callback),
    };

    /// # Safety
    ///
    /// Called by VFIO only, for `VFIO_DEVICE_FEATURE_DMA_LOGGING_START` on an open device with
    /// `LOG_OPS`; `page_size` is valid for reads and writes.
    unsafe extern "C" fn log_start_callback(
        vdev: *mut vfio::vfio_device,
        _ranges: *mut bindings::rb_root_cached,
        _nnodes: u32,
        page_size: *mut u64,
    ) -> c_int {
        // SAFETY: The device is open.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        // SAFETY: VFIO passes a valid place for the page size.
        let page_size = unsafe { &mut *page_size };
        match T::log_start(&dev, page_size) {
            Ok(()) => 0,
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by VFIO only, for `VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP` (and to undo a start
    /// whose answer could not be copied out) on an open device with `LOG_OPS`.
    unsafe extern "C" fn log_stop_callback(vdev: *mut vfio::vfio_device) -> c_int {
        // SAFETY: The device is open.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        match T::log_stop(&dev) {
            Ok(()) => 0,
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by VFIO only, from `iova_bitmap_for_each` for
    /// `VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT` on an open device with `LOG_OPS`, with `dirty`
    /// the live iterator mapping the chunk of the user's bitmap that covers
    /// `[iova, iova + length)`.
    unsafe extern "C" fn log_read_and_clear_callback(
        vdev: *mut vfio::vfio_device,
        iova: c_ulong,
        length: c_ulong,
        dirty: *mut vfio::iova_bitmap,
    ) -> c_int {
        // SAFETY: The device is open.
        let dev = unsafe { OpenDevice::new(&*vdev.cast::<Self>()) };
        // INVARIANT: `dirty` is the core's live iterator for the duration of this call.
        let mut dirty = DirtyBitmap {
            bitmap: dirty,
            _call: core::marker::PhantomData,
        };
        match T::log_read_and_clear(&dev, iova as u64, length as u64, &mut dirty) {
            Ok(()) => 0,
            Err(err) => err.to_errno(),
        }
    }
}
