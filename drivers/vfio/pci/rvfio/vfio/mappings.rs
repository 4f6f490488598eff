// SPDX-License-Identifier: GPL-2.0

//! The user's mappings of a device's BARs, tracked for the migration-time mmap rule: while
//! the device is saving or logging its DMA writes, no live mapping may cover a page its
//! personality traps (`mmap_rules`), and no new one may be made. Under the operator's `saving` layout
//! ([`MmapLayout`]) no mapping covers a trapped page at any time.
//!
//! Every mapping `vfio_pci_core` makes of a BAR of a device with a [`MappingTracker`] gets
//! [`CoreDevice::TRACKED_VM_OPS`]: the core's fault handlers, plus `open` (split, fork),
//! `close` (munmap, exit) and `mremap` (refused), which keep the tracker's record equal to the
//! live VMAs. The tracker's lock is taken under `mmap_lock` and takes nothing else.
//!
//! The record is a tree keyed by VMA, with a count of the mappings that cover a trapped page:
//! a VMA comes and goes in O(log n) with n live ones, saving or logging starts in O(1), and
//! only a split or a fork's copy (rarer) looks at every live mapping.

use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{
    bindings,
    error::{from_result, to_result},
    ffi::c_uint,
    new_mutex,
    page::PAGE_SHIFT,
    prelude::*,
    rbtree::RBTree,
    sync::Mutex,
};

use super::mmap_rules::{split_of, MapRefusal, Mapping, MmapLayout, TrappedPages};
use super::{bindings as vfio, CoreDevice, VfioDeviceOps};

/// Number of standard BARs (`PCI_STD_NUM_BARS`).
pub(crate) const BARS: usize = 6;

/// The VMA operations `vfio_pci_core_mmap` installs (one static object in the core), whose
/// fault handlers tracked mappings keep using.
static CORE_VM_OPS: AtomicPtr<bindings::vm_operations_struct> =
    AtomicPtr::new(core::ptr::null_mut());

/// The live user mappings of a device's BARs and whether it is saving or logging DMA.
///
/// # Invariants
///
/// Outside the lock, `live` holds one entry per live VMA of the device's BARs whose
/// operations are [`CoreDevice::TRACKED_VM_OPS`], with its current range, except `lost` of
/// them that could not be recorded; `covering` of the recorded ones cover a trapped page; while
/// `saving` or `logging`, and at any time under the
/// `saving` layout, none of them covers a trapped page. `layout` changes only while the device is not
/// open, so no VMA of the device exists then.
#[pin_data]
pub(crate) struct MappingTracker {
    /// The pages of each BAR that no mapping may cover while saving.
    trapped: [TrappedPages; BARS],
    #[pin]
    inner: Mutex<Tracked>,
}

struct Tracked {
    /// The live mappings, by the address of their VMA.
    live: RBTree<usize, Mapping>,
    /// How many of `live` cover a trapped page.
    covering: usize,
    /// VMAs that could not be recorded (no memory): saving and logging stay refused while
    /// any lives.
    lost: usize,
    saving: bool,
    /// Whether the device logs its DMA writes, which the driver learns from trapped writes.
    logging: bool,
    layout: MmapLayout,
}

/// Whether `mapping` covers a page its region traps while saving.
fn covers_trapped(trapped: &[TrappedPages; BARS], mapping: &Mapping) -> bool {
    let pages = trapped.get(mapping.region as usize);
    pages.is_some_and(|pages| pages.conflicts(mapping.offset, mapping.span().len))
}

impl Tracked {
    /// Whether a live mapping covers a trapped page, or one might.
    fn conflicting(&self) -> bool {
        self.lost > 0 || self.covering > 0
    }

    /// Records `mapping` of a VMA that just appeared; a failure to record it is remembered.
    fn record(&mut self, trapped: &[TrappedPages; BARS], mapping: Mapping) {
        let covers = covers_trapped(trapped, &mapping);
        match self
            .live
            .try_create_and_insert(mapping.vma, mapping, GFP_KERNEL)
        {
            Ok(replaced) => {
                // A live VMA is recorded once, so nothing is replaced; were it, its count
                // would go with it.
                if let Some(node) = replaced {
                    let (_, old) = node.to_key_value();
                    self.covering -= usize::from(covers_trapped(trapped, &old));
                }
                self.covering += usize::from(covers);
            }
            Err(_) => self.lost += 1,
        }
    }

    /// Records `mapping` of a VMA copied from a tracked one: a piece split off an original,
    /// which then keeps the rest, or a fork's or a move's copy.
    fn record_copy(&mut self, trapped: &[TrappedPages; BARS], mapping: Mapping) {
        if let Some(kept) = split_of(self.live.values(), &mapping) {
            let kept_covers = covers_trapped(trapped, &kept);
            if let Some(original) = self.live.get_mut(&kept.vma) {
                let covered = covers_trapped(trapped, original);
                *original = kept;
                self.covering = self.covering - usize::from(covered) + usize::from(kept_covers);
            }
        }
        self.record(trapped, mapping);
    }

    /// Forgets the VMA at `vma`, which is going away.
    fn forget(&mut self, trapped: &[TrappedPages; BARS], vma: usize) {
        match self.live.remove(&vma) {
            Some(mapping) => self.covering -= usize::from(covers_trapped(trapped, &mapping)),
            None => self.lost = self.lost.saturating_sub(1),
        }
    }
}

impl MappingTracker {
    /// A tracker for a device whose BARs trap `trapped` while saving.
    pub(crate) fn new(trapped: [TrappedPages; BARS]) -> impl PinInit<Self> {
        pin_init!(Self {
            trapped,
            inner <- new_mutex!(Tracked {
                live: RBTree::new(),
                covering: 0,
                lost: 0,
                saving: false,
                logging: false,
                layout: MmapLayout::Full,
            }),
        })
    }

    /// The pages of BAR `bar` the device traps while saving.
    pub(crate) fn trapped(&self, bar: usize) -> Option<&TrappedPages> {
        self.trapped.get(bar)
    }

    /// Marks the device saving, unless a live mapping covers a trapped page (`EBUSY`). From
    /// then on no such mapping can be made, until [`MappingTracker::set_saving`] says the
    /// device is not saving any more.
    pub(crate) fn start_saving(&self) -> Result {
        self.start_trapping(|inner| &mut inner.saving)
    }

    /// Records whether the device is saving, after a transition (or a reset) settled it.
    pub(crate) fn set_saving(&self, saving: bool) {
        self.inner.lock().saving = saving;
    }

    /// Marks the device logging its DMA writes, unless a live mapping covers a trapped page
    /// (`EBUSY`). From then on no such mapping can be made, until
    /// [`MappingTracker::stop_logging`].
    pub(crate) fn start_logging(&self) -> Result {
        self.start_trapping(|inner| &mut inner.logging)
    }

    /// Sets the reason to trap that `reason` picks, unless a live mapping covers a trapped
    /// page (`EBUSY`): the check and the setting are one step under the lock `mmap` takes.
    fn start_trapping(&self, reason: impl FnOnce(&mut Tracked) -> &mut bool) -> Result {
        let mut inner = self.inner.lock();
        if inner.conflicting() {
            return Err(EBUSY);
        }
        *reason(&mut inner) = true;
        Ok(())
    }

    /// Records that the device no longer logs its DMA writes.
    pub(crate) fn stop_logging(&self) {
        self.inner.lock().logging = false;
    }

    /// The layout a running device offers to the user's mappings.
    pub(super) fn layout(&self) -> MmapLayout {
        self.inner.lock().layout
    }

    /// Sets the layout of a device that is not open (the caller holds the device set's lock
    /// and found it closed).
    pub(super) fn set_layout(&self, layout: MmapLayout) {
        self.inner.lock().layout = layout;
    }
}

/// What a VMA of a device BAR maps.
///
/// # Safety
///
/// `vma` must be a valid VMA whose `mmap_lock` is held.
unsafe fn mapping_of(vma: *mut bindings::vm_area_struct) -> Mapping {
    // SAFETY: `vma` is valid and its `mmap_lock` held, as this function requires.
    let vma_ref = unsafe { kernel::mm::virt::VmaRef::from_raw(vma) };
    // SAFETY: As above; `vm_pgoff` and `vm_mm` are stable under `mmap_lock`.
    let (pgoff, mm) = unsafe { ((*vma).vm_pgoff as u64, (*vma).vm_mm as usize) };
    let index_shift = vfio::VFIO_PCI_OFFSET_SHIFT as usize - PAGE_SHIFT;
    Mapping {
        vma: vma as usize,
        mm,
        region: (pgoff >> index_shift) as u32,
        virt: (vma_ref.start(), vma_ref.end()),
        offset: (pgoff & ((1 << index_shift) - 1)) << PAGE_SHIFT,
    }
}

impl<T: VfioDeviceOps> CoreDevice<T> {
    /// The operations of a tracked mapping.
    const TRACKED_VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: Some(Self::vma_open_callback),
        close: Some(Self::vma_close_callback),
        mremap: Some(Self::vma_mremap_callback),
        fault: Some(Self::vma_fault_callback),
        huge_fault: Some(Self::vma_huge_fault_callback),
        ..pin_init::zeroed()
    };

    /// The tracker of the device a VMA of this driver maps.
    ///
    /// # Safety
    ///
    /// `vma` must be a live VMA with [`CoreDevice::TRACKED_VM_OPS`].
    unsafe fn tracker_of<'a>(vma: *mut bindings::vm_area_struct) -> &'a MappingTracker {
        // SAFETY: `vfio_pci_core_mmap` set `vm_private_data` to the core device, which the
        // VMA's file keeps open, so it and its data live as long as the VMA.
        let this = unsafe { &*(*vma).vm_private_data.cast::<Self>() };
        T::mappings(this.data()).unwrap_or_else(|| unreachable!())
    }

    /// `mmap` of the device fd: the core's, with the rule applied and the mapping tracked on
    /// a device with a [`MappingTracker`].
    ///
    /// # Safety
    ///
    /// Called by VFIO only, with `mmap_lock` held, for a new VMA of an open device.
    pub(super) unsafe extern "C" fn mmap_callback(
        vdev: *mut vfio::vfio_device,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: The device is open, so it is a live `Self`.
        let this = unsafe { &*vdev.cast::<Self>() };
        let Some(tracker) = T::mappings(this.data()) else {
            // SAFETY: The arguments are VFIO's, passed on unchanged.
            return unsafe { vfio::vfio_pci_core_mmap(vdev, vma) };
        };
        // SAFETY: `vma` is valid and `mmap_lock` held.
        let mapping = unsafe { mapping_of(vma) };
        from_result(|| {
            let mut inner = tracker.inner.lock();
            let covers = covers_trapped(&tracker.trapped, &mapping);
            inner
                .layout
                .may_map(inner.saving || inner.logging, covers)
                .map_err(|refusal| match refusal {
                    MapRefusal::OutsideLayout => EINVAL,
                    MapRefusal::WhileSaving => EBUSY,
                })?;
            // SAFETY: The arguments are VFIO's, passed on unchanged.
            to_result(unsafe { vfio::vfio_pci_core_mmap(vdev, vma) })?;
            // Only BARs are tracked: other regions have no trapped pages.
            if (mapping.region as usize) < BARS {
                // SAFETY: The core just set its own operations on `vma`.
                CORE_VM_OPS.store(unsafe { (*vma).vm_ops.cast_mut() }, Ordering::Release);
                // SAFETY: `vma` is being set up under `mmap_lock`; the ops are 'static.
                unsafe { (*vma).vm_ops = &Self::TRACKED_VM_OPS };
                inner.record(&tracker.trapped, mapping);
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the MM only, with `mmap_lock` held, for a new VMA copied from a tracked
    /// one (split, fork, mremap's copy).
    unsafe extern "C" fn vma_open_callback(vma: *mut bindings::vm_area_struct) {
        // SAFETY: The copy carries the original's operations and private data.
        let tracker = unsafe { Self::tracker_of(vma) };
        // SAFETY: As this function requires.
        let mapping = unsafe { mapping_of(vma) };
        tracker.inner.lock().record_copy(&tracker.trapped, mapping);
    }

    /// # Safety
    ///
    /// Called by the MM only, with `mmap_lock` held, as a tracked VMA goes away.
    unsafe extern "C" fn vma_close_callback(vma: *mut bindings::vm_area_struct) {
        // SAFETY: As this function requires.
        let tracker = unsafe { Self::tracker_of(vma) };
        tracker.inner.lock().forget(&tracker.trapped, vma as usize);
    }

    /// Moving a tracked mapping is refused: the kernel then undoes the move.
    ///
    /// # Safety
    ///
    /// Called by the MM only, for a tracked VMA mremap moved.
    unsafe extern "C" fn vma_mremap_callback(_vma: *mut bindings::vm_area_struct) -> c_int {
        EINVAL.to_errno()
    }

    /// # Safety
    ///
    /// Called by the MM only, for a fault on a tracked VMA.
    unsafe extern "C" fn vma_fault_callback(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        let ops = CORE_VM_OPS.load(Ordering::Acquire);
        // SAFETY: A tracked VMA exists only after `mmap_callback` stored the core's
        // operations, whose fault handler takes this fault as it would have.
        unsafe { ((*ops).fault.unwrap_or_else(|| unreachable!()))(vmf) }
    }

    /// # Safety
    ///
    /// Called by the MM only, for a huge fault on a tracked VMA.
    unsafe extern "C" fn vma_huge_fault_callback(
        vmf: *mut bindings::vm_fault,
        order: c_uint,
    ) -> bindings::vm_fault_t {
        let ops = CORE_VM_OPS.load(Ordering::Acquire);
        // SAFETY: As for `vma_fault_callback`.
        match unsafe { (*ops).huge_fault } {
            // SAFETY: The core's handler, for the fault it would have taken.
            Some(huge_fault) => unsafe { huge_fault(vmf, order) },
            None => bindings::vm_fault_reason_VM_FAULT_FALLBACK,
        }
    }
}

impl<T: VfioDeviceOps> CoreDevice<T> {
    /// `VFIO_DEVICE_GET_REGION_INFO`: the core's answer, plus, on a mmap-able BAR of a device
    /// with a [`MappingTracker`], `VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING`: the areas that
    /// may stay mapped while the device is saving; under the `saving` layout, the standard
    /// `VFIO_REGION_INFO_CAP_SPARSE_MMAP` with the same areas, the only ones a VMM may map.
    /// The core adds no sparse-mmap capability to a BAR, so there is never a second one.
    ///
    /// # Safety
    ///
    /// Called by VFIO only, with a region info it filled from the user and an empty `caps`.
    pub(super) unsafe extern "C" fn region_info_callback(
        vdev: *mut vfio::vfio_device,
        info: *mut vfio::vfio_region_info,
        caps: *mut vfio::vfio_info_cap,
    ) -> c_int {
        // SAFETY: The arguments are VFIO's, passed on unchanged.
        let ret = unsafe { vfio::vfio_pci_ioctl_get_region_info(vdev, info, caps) };
        if ret != 0 {
            return ret;
        }
        // SAFETY: The device is open, so it is a live `Self`; the core filled `info`.
        let (this, info) = unsafe { (&*vdev.cast::<Self>(), &*info) };
        let Some(tracker) = T::mappings(this.data()) else {
            return 0;
        };
        let Some(pages) = tracker.trapped(info.index as usize) else {
            return 0;
        };
        if info.flags & vfio::VFIO_REGION_INFO_FLAG_MMAP == 0 {
            return 0;
        }
        let standard = (tracker.layout() == MmapLayout::Saving)
            .then_some(vfio::VFIO_REGION_INFO_CAP_SPARSE_MMAP as u16);
        from_result(|| {
            for id in Iterator::chain(core::iter::once(SPARSE_MMAP_SAVING), standard) {
                let mut cap = sparse_cap(id, pages, info.size)?;
                // SAFETY: `caps` is VFIO's; `cap` holds a whole capability of its length,
                // which the call copies.
                to_result(unsafe {
                    vfio::vfio_info_add_capability(caps, cap.as_mut_ptr().cast(), cap.len())
                })?;
            }
            Ok(0)
        })
    }
}

/// `struct vfio_region_info_cap_sparse_mmap` with capability id `id`, listing the saving
/// areas of a region of `size` bytes trapping `pages`, as bytes: the header (`id`,
/// `version` 1, `next` 0, `nr_areas`, `reserved` 0), then each area's offset and size.
fn sparse_cap(id: u16, pages: &TrappedPages, size: u64) -> Result<KVec<u8>> {
    const HEADER: usize = size_of::<vfio::vfio_region_info_cap_sparse_mmap>();
    const AREA: usize = size_of::<vfio::vfio_region_sparse_mmap_area>();
    let areas = pages.saving_areas(size).count();
    let mut cap = KVec::with_capacity(HEADER + areas * AREA, GFP_KERNEL)?;
    let header = [
        &id.to_ne_bytes()[..],
        &1u16.to_ne_bytes(),
        &0u32.to_ne_bytes(),
        &(areas as u32).to_ne_bytes(),
        &0u32.to_ne_bytes(),
    ];
    for field in header {
        cap.extend_from_slice(field, GFP_KERNEL)?;
    }
    for area in pages.saving_areas(size) {
        cap.extend_from_slice(&area.start.to_ne_bytes(), GFP_KERNEL)?;
        cap.extend_from_slice(&area.len.to_ne_bytes(), GFP_KERNEL)?;
    }
    Ok(cap)
}

/// `VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING` (`include/uapi/linux/rvfio.h`).
const SPARSE_MMAP_SAVING: u16 = 0xf000;
