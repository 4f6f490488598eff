// SPDX-License-Identifier: GPL-2.0

//! DMA logging of a device whose personality tracks its writes
//! (`VFIO_DEVICE_FEATURE_DMA_LOGGING_*`, `Documentation/migration.rst`): the log, its lock and
//! the device access the personality's tracking is given.
//!
//! What the device may write is the personality's decision ([`Personality::may_write`],
//! [`Personality::track_write`]); which ranges are held and how a report clears them is
//! [`DirtyRanges`]'. This file sequences them: a report adds what the device may write, reads
//! and clears the window asked for, and adds what the device may write again, so that what
//! the device writes after the read is in the next report.
//!
//! Locks: the log's mutex is taken first; under it the tracking takes the core's
//! `memory_lock` for each register access on its own, and reads descriptors through
//! `vfio_dma_rw`, which takes the IOMMU driver's lock and may fault the user's pages in, with
//! no `memory_lock` held (a fault on a BAR mapping takes `memory_lock` under `mmap_lock`). A
//! reset runs with `memory_lock` held, so it never waits for the log's mutex: it leaves a
//! note that the mutex's next holder acts on.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{
    debugfs, new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Mutex,
    },
};

use super::dirty::{DirtyRanges, Pages, DEFAULT_RANGES};
use super::Driver;
use crate::personality::{self, DmaFault, DmaMemory, Personality};
use crate::vfio::{DirtyBitmap, MappingTracker, OpenDevice};

/// The smallest page size a start may ask for, and the largest.
const MIN_PAGE_SIZE: u64 = 1 << 12;
const MAX_PAGE_SIZE: u64 = 1 << 30;

/// The DMA log of a device.
///
/// # Invariants
///
/// `active` is `Some` from a start that succeeded until the next stop, close or reset (a
/// reset that found the mutex taken sets `reset_pending`, and the mutex's holder ends the log
/// before it lets go); while it is `Some`, the mapping tracker keeps trapped pages unmapped.
#[pin_data]
pub(super) struct DmaLog<P: Personality> {
    #[pin]
    active: Mutex<Option<Active<P>>>,
    reset_pending: AtomicBool,
    /// A fault to inject, for the tests that show a lost page is caught: while set, reports
    /// still clear the log but report nothing (debugfs `dma_log_blind`).
    #[pin]
    blind: debugfs::File<Atomic<bool>>,
}

/// A log being kept.
struct Active<P: Personality> {
    /// What the device may have written since the last report.
    dirty: DirtyRanges<Slots>,
    tracker: P::Tracker,
}

/// The heap slots of a log's ranges.
struct Slots(KVec<Pages>);

impl AsRef<[Pages]> for Slots {
    fn as_ref(&self) -> &[Pages] {
        &self.0
    }
}

impl AsMut<[Pages]> for Slots {
    fn as_mut(&mut self) -> &mut [Pages] {
        &mut self.0
    }
}

impl<P: Personality> DmaLog<P> {
    /// No log; `blind` is the fault-injection knob.
    pub(super) fn new<'a>(
        blind: impl PinInit<debugfs::File<Atomic<bool>>> + 'a,
    ) -> impl PinInit<Self> + 'a {
        pin_init!(Self {
            active <- new_mutex!(None),
            reset_pending: AtomicBool::new(false),
            blind <- blind,
        })
    }

    /// Runs `f` on the log under its mutex, first ending a log a reset ended meanwhile.
    fn with<R>(&self, mappings: &MappingTracker, f: impl FnOnce(&mut Option<Active<P>>) -> R) -> R {
        let mut active = self.active.lock();
        if self.reset_pending.swap(false, Ordering::AcqRel) {
            Self::end(&mut active, mappings);
        }
        f(&mut active)
    }

    fn end(active: &mut Option<Active<P>>, mappings: &MappingTracker) {
        if active.take().is_some() {
            mappings.stop_logging();
        }
    }

    /// Starts logging, at `page_size` granularity (a power of two from 4 KiB to 1 GiB):
    /// `EINVAL` if the log is already kept or the size is not one of those, `EBUSY` while a
    /// mapping covers a trapped page. (Only a device opened through a container offers the
    /// features: the core's `vfio_dma_rw` reads its descriptors.)
    pub(super) fn start<D: Driver>(
        &self,
        dev: &OpenDevice<'_, D>,
        mappings: &MappingTracker,
        page_size: &mut u64,
    ) -> Result {
        let size = *page_size;
        if !size.is_power_of_two() || !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&size) {
            return Err(EINVAL);
        }
        self.with(mappings, |active| {
            if active.is_some() {
                return Err(EINVAL);
            }
            let slots = KVec::from_elem(Pages::FREE, DEFAULT_RANGES, GFP_KERNEL)?;
            let mut dirty = DirtyRanges::with_slots(size, Slots(slots)).map_err(|_| EINVAL)?;
            mappings.start_logging()?;
            let tracker = P::start_tracking(
                &mut EachAccessLocked::new(dev, P::REGS_BAR),
                &mut Memory(dev),
                &mut dirty,
            );
            *active = Some(Active { dirty, tracker });
            Ok(())
        })
    }

    /// Stops logging; nothing if the log is not kept.
    pub(super) fn stop(&self, mappings: &MappingTracker) {
        self.with(mappings, |active| Self::end(active, mappings));
    }

    /// Ends the log after a reset. Never waits for the mutex.
    pub(super) fn reset(&self, mappings: &MappingTracker) {
        self.reset_pending.store(true, Ordering::Release);
        if let Some(mut active) = self.active.try_lock() {
            if self.reset_pending.swap(false, Ordering::AcqRel) {
                Self::end(&mut active, mappings);
            }
        }
    }

    /// Reports in `bitmap` what the device may have written in `[iova, iova + length)` since
    /// the last report of it, and clears that: `EINVAL` if the log is not kept.
    pub(super) fn read_and_clear<D: Driver>(
        &self,
        dev: &OpenDevice<'_, D>,
        mappings: &MappingTracker,
        iova: u64,
        length: u64,
        bitmap: &mut DirtyBitmap<'_>,
    ) -> Result {
        self.with(mappings, |active| {
            let active = active.as_mut().ok_or(EINVAL)?;
            let mut regs = EachAccessLocked::new(dev, P::REGS_BAR);
            P::may_write(
                &mut active.tracker,
                &mut regs,
                &mut Memory(dev),
                &mut active.dirty,
            );
            let blind = self.blind.load(Relaxed);
            active.dirty.take(iova, length, |start, len| {
                if !blind {
                    bitmap.set(start, len)
                }
            });
            P::may_write(
                &mut active.tracker,
                &mut regs,
                &mut Memory(dev),
                &mut active.dirty,
            );
            Ok(())
        })
    }

    /// Lets the personality see a write of `len` bytes at `offset` of its registers BAR that
    /// went through the trapped path, while the log is kept.
    pub(super) fn written<D: Driver>(
        &self,
        dev: &OpenDevice<'_, D>,
        mappings: &MappingTracker,
        offset: u64,
        len: u64,
    ) {
        self.with(mappings, |active| {
            if let Some(active) = active.as_mut() {
                P::track_write(
                    &mut active.tracker,
                    &mut EachAccessLocked::new(dev, P::REGS_BAR),
                    &mut Memory(dev),
                    &mut active.dirty,
                    offset,
                    len,
                );
            }
        });
    }
}

/// The user's memory as the device sees it, read through the VFIO core.
struct Memory<'a, 'b, D: Driver>(&'a OpenDevice<'b, D>);

impl<D: Driver> DmaMemory for Memory<'_, '_, D> {
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        self.0.dma_read(iova, buf).map_err(|_| DmaFault)
    }
}

/// The registers BAR of an open device, each access under `memory_lock` on its own, so that
/// the tracking can read descriptors between accesses with no `memory_lock` held. A register
/// that cannot be reached (the device in D3, the BAR gone) reads all ones, as on a device
/// gone from the bus.
struct EachAccessLocked<'a, 'b, D: Driver> {
    dev: &'a OpenDevice<'b, D>,
    bar: usize,
}

impl<'a, 'b, D: Driver> EachAccessLocked<'a, 'b, D> {
    fn new(dev: &'a OpenDevice<'b, D>, bar: usize) -> Self {
        Self { dev, bar }
    }
}

impl<D: Driver> personality::Registers for EachAccessLocked<'_, '_, D> {
    fn read32(&mut self, offset: u32) -> u32 {
        self.dev
            .with_registers(self.bar, |regs| regs.read32(offset))
            .unwrap_or(!0)
    }

    fn write32(&mut self, offset: u32, value: u32) {
        // A write that cannot reach the device is lost, as on a device gone from the bus.
        let _ = self
            .dev
            .with_registers(self.bar, |regs| regs.write32(offset, value));
    }

    fn pause(&mut self) {
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(10));
    }
}
