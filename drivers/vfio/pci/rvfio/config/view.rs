// SPDX-License-Identifier: GPL-2.0

//! The config space the user sees: the physical PASID capability taken out of it, and the
//! extended config space that leaves free.
//!
//! `vfio_pci_core` presents its own view of config space (the "view below"): it unlinks some
//! extended capabilities from the chain, PASID among them in 7.3, but lets their bytes through
//! to the device, readable and writable. This driver does not rely on that. [`PasidHiding`] is
//! our rule, applied on top of whatever the core presents: the PASID capability is out of the
//! chain, its bytes read as zero and writes to them are dropped. [`ExtLayout`] then says which
//! dwords of extended config space the user's view leaves free.
//!
//! Pure code with no kernel calls, like [`super::pci_caps`].

use super::pci_caps::{ext_cap_len, ConfigSpace, ExtCaps, SlotSet, WalkError};
use super::pci_caps::{EXT_CAP_START, EXT_CONFIG_SIZE, EXT_SLOTS};

/// Bytes of the PASID capability: header, capability and control registers.
pub(crate) const PASID_CAP_LEN: u16 = 8;

/// Mask of the next pointer in an extended capability header.
const NEXT_MASK: u32 = 0xffc << 20;

/// A half-open range of config-space offsets, `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// First byte.
    pub(crate) start: u16,
    /// One past the last byte.
    pub(crate) end: u16,
}

impl Span {
    /// Number of bytes in the span.
    pub(crate) fn len(&self) -> u16 {
        self.end - self.start
    }

    /// The bytes of `self` that also lie in `start..start + len`; `None` if there are none.
    /// Computed without overflow for any `start` and `len`.
    // Only the tests use it (KUnit, the host tests).
    #[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
    pub(crate) fn intersect(&self, start: u32, len: u32) -> Option<Span> {
        let end = start.saturating_add(len);
        let lo = u32::from(self.start).max(start);
        let hi = u32::from(self.end).min(end);
        // Both bounds lie within `self`, so they fit in a u16.
        (lo < hi).then_some(Span {
            start: lo as u16,
            end: hi as u16,
        })
    }
}

/// The rule that takes the physical PASID capability out of the user's view.
///
/// - Its bytes read as zero and writes to them are dropped.
/// - If it is the first extended capability (at 0x100), the header there reads as a
///   placeholder (ID 0, version 0) whose next pointer is the one the view below has there,
///   so the chain still starts at 0x100 and skips PASID.
/// - If a capability in the view below links to it, that capability's next pointer reads as
///   PASID's own next pointer, so the chain skips it. When the view below already unlinked
///   PASID (as `vfio_pci_core` 7.3 does) nothing links to it and nothing is relinked.
///
/// Every other byte reads and writes exactly as in the view below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PasidHiding {
    /// The capability's bytes, clipped to the size of config space.
    hidden: Span,
    /// The header read at 0x100 in place of PASID's, when PASID is first.
    placeholder: Option<u32>,
    /// A header that links to PASID in the view below, and the next pointer it reads with.
    relink: Option<(u16, u16)>,
}

impl PasidHiding {
    /// Plans how to hide the PASID capability at `pasid` (the offset of its header in the
    /// physical chain) from a user who would otherwise see `below`.
    ///
    /// Returns `None` when `pasid` is not a dword-aligned offset in the extended config space
    /// of `below`: there is nothing there to hide.
    pub(crate) fn new<C: ConfigSpace + ?Sized>(below: &C, pasid: u16) -> Option<Self> {
        let size = below.size().min(EXT_CONFIG_SIZE);
        if pasid < EXT_CAP_START || pasid >= size || pasid % 4 != 0 {
            return None;
        }
        let hidden = Span {
            start: pasid,
            end: pasid.saturating_add(PASID_CAP_LEN).min(size),
        };
        if pasid == EXT_CAP_START {
            let first = below.read_dword(EXT_CAP_START).unwrap_or(0);
            let placeholder = if first == u32::MAX {
                0
            } else {
                first & NEXT_MASK
            };
            return Some(Self {
                hidden,
                placeholder: Some(placeholder),
                relink: None,
            });
        }

        // The view below links to PASID if some capability walked before it names it.
        let mut relink = None;
        for cap in ExtCaps::new(below).map_while(Result::ok) {
            if cap.offset == pasid {
                break;
            }
            if cap.next == pasid {
                let skip = match below.read_dword(pasid) {
                    Some(u32::MAX) | None => 0,
                    Some(pasid_header) => next_of(pasid_header),
                };
                relink = Some((cap.offset, skip));
                break;
            }
        }
        Some(Self {
            hidden,
            placeholder: None,
            relink,
        })
    }

    /// The bytes [`PasidHiding::patch_read`] may change: at most two spans, the hidden
    /// capability and a relinked header. A caller that reads through the view below only has
    /// to fetch these back to patch them.
    pub(crate) fn patched_spans(&self) -> [Option<Span>; 2] {
        let relinked = self.relink.map(|(header, _)| Span {
            start: header,
            end: header + 4,
        });
        [Some(self.hidden), relinked]
    }

    /// Turns `bytes`, read from the view below at `offset`, into what the user reads there.
    pub(crate) fn patch_read(&self, offset: u16, bytes: &mut [u8]) {
        for (at, byte) in (u32::from(offset)..).zip(bytes.iter_mut()) {
            *byte = self.patch_byte(at, *byte);
        }
    }

    fn patch_byte(&self, at: u32, below: u8) -> u8 {
        if let Some(placeholder) = self.placeholder {
            if let Some(index) = dword_index(EXT_CAP_START, at) {
                return placeholder.to_le_bytes()[index];
            }
        }
        if (u32::from(self.hidden.start)..u32::from(self.hidden.end)).contains(&at) {
            return 0;
        }
        if let Some((header, next)) = self.relink {
            if let Some(index) = dword_index(header, at) {
                let mask = NEXT_MASK.to_le_bytes()[index];
                let value = (u32::from(next) << 20).to_le_bytes()[index];
                return (below & !mask) | (value & mask);
            }
        }
        below
    }

    /// Splits a write of `len` bytes at `offset` into the parts that go on to the view below:
    /// those outside the hidden capability. Bytes inside it are dropped.
    pub(crate) fn write_parts(&self, offset: u32, len: u32) -> [Option<Span>; 2] {
        let end = offset.saturating_add(len);
        let clip = |start: u32, end: u32| {
            (start < end).then(|| Span {
                start: start.min(u32::from(u16::MAX)) as u16,
                end: end.min(u32::from(u16::MAX)) as u16,
            })
        };
        [
            clip(offset, end.min(u32::from(self.hidden.start))),
            clip(offset.max(u32::from(self.hidden.end)), end),
        ]
    }
}

/// The next pointer of an extended capability header.
fn next_of(header: u32) -> u16 {
    ((header & NEXT_MASK) >> 20) as u16
}

/// Index of byte `at` within the dword at `dword`, if it lies there.
fn dword_index(dword: u16, at: u32) -> Option<usize> {
    let delta = at.checked_sub(u32::from(dword))?;
    (delta < 4).then_some(delta as usize)
}

/// The config space a user sees: `below` with the PASID capability hidden by `hiding`.
pub(crate) struct UserView<'a, C: ConfigSpace + ?Sized> {
    below: &'a C,
    hiding: Option<PasidHiding>,
}

impl<'a, C: ConfigSpace + ?Sized> UserView<'a, C> {
    /// The view of `below` after `hiding`, if any.
    pub(crate) fn new(below: &'a C, hiding: Option<PasidHiding>) -> Self {
        Self { below, hiding }
    }
}

impl<C: ConfigSpace + ?Sized> ConfigSpace for UserView<'_, C> {
    fn size(&self) -> u16 {
        self.below.size()
    }

    fn read_dword(&self, offset: u16) -> Option<u32> {
        let value = self.below.read_dword(offset)?;
        let Some(hiding) = &self.hiding else {
            return Some(value);
        };
        let mut bytes = value.to_le_bytes();
        hiding.patch_read(offset, &mut bytes);
        Some(u32::from_le_bytes(bytes))
    }
}

/// Which dwords of extended config space the capabilities of a view occupy.
///
/// A capability occupies its header and the length [`ext_cap_len`] gives, rounded up to
/// dwords and clipped to config space. When its length is not known, it is assumed to run up
/// to the next header above it (in address order) or to the end of config space: a free
/// range is never one a capability might use. A placeholder header (ID 0) occupies its own
/// dword. If the chain is broken, the capabilities before the break are counted, a header
/// that did not read is treated like a capability of unknown length, and the break is kept in
/// [`ExtLayout::broken`].
pub(crate) struct ExtLayout {
    /// One past the last byte of extended config space, 0x100 if there is none.
    end: u16,
    occupied: SlotSet<{ EXT_SLOTS.div_ceil(64) }>,
    broken: Option<WalkError>,
}

impl ExtLayout {
    /// Maps the extended config space of `cfg`.
    pub(crate) fn of<C: ConfigSpace + ?Sized>(cfg: &C) -> Self {
        let end = cfg.size().clamp(EXT_CAP_START, EXT_CONFIG_SIZE);
        let mut layout = Self {
            end,
            occupied: SlotSet::new(),
            broken: None,
        };

        // Capabilities of known length are marked as the walk meets them; those of unknown
        // length once every header is known, since each runs up to the next one.
        let mut headers = SlotSet::<{ EXT_SLOTS.div_ceil(64) }>::new();
        let mut unknown_length = SlotSet::<{ EXT_SLOTS.div_ceil(64) }>::new();
        for item in ExtCaps::new(cfg) {
            let (offset, len) = match item {
                Ok(cap) => (cap.offset, ext_cap_len(cfg, cap)),
                Err(err) => {
                    layout.broken = Some(err);
                    match err {
                        WalkError::Unreadable { offset } => (offset, None),
                        _ => break,
                    }
                }
            };
            headers.insert(slot_of(offset));
            match len {
                Some(len) => layout.occupy(offset, u32::from(offset) + u32::from(len)),
                None => {
                    unknown_length.insert(slot_of(offset));
                }
            }
        }
        for slot in (0..layout.slots()).filter(|&slot| unknown_length.contains(slot)) {
            let offset = offset_of(slot);
            let stop = layout.next_header_above(&headers, offset);
            layout.occupy(offset, stop);
        }
        layout
    }

    /// The offset of the first header above `offset`, or the end of config space.
    fn next_header_above(&self, headers: &SlotSet<{ EXT_SLOTS.div_ceil(64) }>, offset: u16) -> u32 {
        let first = slot_of(offset) + 1;
        (first..self.slots())
            .find(|&slot| headers.contains(slot))
            .map_or(u32::from(self.end), |slot| offset_of(slot).into())
    }

    /// Marks the dwords covering `start..stop` as occupied, up to the end of config space.
    fn occupy(&mut self, start: u16, stop: u32) {
        let stop = stop.min(u32::from(self.end));
        let mut at = u32::from(start);
        while at < stop {
            // `at` is below `end`, at most 0x1000.
            self.occupied.insert(slot_of(at as u16));
            at += 4;
        }
    }

    fn slots(&self) -> usize {
        usize::from((self.end - EXT_CAP_START) / 4)
    }

    /// Why the walk of the chain stopped early, if it did.
    pub(crate) fn broken(&self) -> Option<WalkError> {
        self.broken
    }

    /// The free ranges of extended config space: maximal runs of free dwords, in address
    /// order, at most [`MAX_FREE_RANGES`] of them.
    pub(crate) fn free_ranges(&self) -> FreeRanges<'_> {
        FreeRanges {
            layout: self,
            slot: 0,
        }
    }
}

/// The most free ranges a layout can have: free and occupied dwords alternating, starting
/// with a free one.
pub(crate) const MAX_FREE_RANGES: usize = EXT_SLOTS.div_ceil(2);

/// Iterator over the free ranges of an [`ExtLayout`].
pub(crate) struct FreeRanges<'a> {
    layout: &'a ExtLayout,
    slot: usize,
}

impl Iterator for FreeRanges<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        let slots = self.layout.slots();
        let occupied = |slot| self.layout.occupied.contains(slot);
        let start = (self.slot..slots).find(|&slot| !occupied(slot))?;
        let end = (start..slots).find(|&slot| occupied(slot)).unwrap_or(slots);
        self.slot = end;
        Some(Span {
            start: offset_of(start),
            end: offset_of(end),
        })
    }
}

/// The dword slot of an offset in extended config space.
fn slot_of(offset: u16) -> usize {
    usize::from((offset - EXT_CAP_START) / 4)
}

/// The offset of a dword slot of extended config space.
fn offset_of(slot: usize) -> u16 {
    // Slots are below `EXT_SLOTS`, so the offset is at most 0x1000.
    EXT_CAP_START + 4 * slot as u16
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_config_view))]
mod tests {
    use super::super::pci_caps::testing::{ext, Sparse};
    use super::super::pci_caps::{EXT_CAP_ID_ATS, EXT_CAP_ID_PASID, EXT_CAP_ID_PRI};
    use super::*;

    const AER: u16 = 0x0001;
    const ARI: u16 = 0x000e;
    const SRIOV: u16 = 0x0010;

    /// The chain a user walks: (offset, id) pairs, and the error that ended it, if any.
    fn chain<C: ConfigSpace>(cfg: &C) -> ([(u16, u16); 8], usize, Option<WalkError>) {
        let mut caps = [(0, 0); 8];
        let mut count = 0;
        for item in ExtCaps::new(cfg) {
            match item {
                Ok(cap) => {
                    caps[count] = (cap.offset, cap.id);
                    count += 1;
                }
                Err(err) => return (caps, count, Some(err)),
            }
        }
        (caps, count, None)
    }

    fn visible<C: ConfigSpace>(cfg: &C) -> ([(u16, u16); 8], usize) {
        let (caps, count, err) = chain(cfg);
        assert_eq!(err, None);
        (caps, count)
    }

    fn ranges(layout: &ExtLayout) -> ([(u16, u16); 8], usize) {
        let mut out = [(0, 0); 8];
        let mut count = 0;
        for range in layout.free_ranges() {
            if count < out.len() {
                out[count] = (range.start, range.end);
            }
            count += 1;
        }
        (out, count)
    }

    fn read(cfg: &impl ConfigSpace, offset: u16) -> u32 {
        cfg.read_dword(offset).unwrap()
    }

    #[test]
    fn pasid_first_leaves_a_placeholder_that_skips_it() {
        // The view below still shows PASID at 0x100, with its registers.
        let below = Sparse::new([
            (0x100, ext(EXT_CAP_ID_PASID, 1, 0x140)),
            (0x104, 0x0000_1406),
            (0x140, ext(EXT_CAP_ID_ATS, 1, 0x180)),
            (0x180, ext(EXT_CAP_ID_PRI, 1, 0)),
        ]);
        let hiding = PasidHiding::new(&below, 0x100).unwrap();
        let user = UserView::new(&below, Some(hiding));
        assert_eq!(read(&user, 0x100), ext(0, 0, 0x140));
        assert_eq!(read(&user, 0x104), 0);
        let (caps, count) = visible(&user);
        assert_eq!(
            &caps[..count],
            &[(0x100, 0), (0x140, EXT_CAP_ID_ATS), (0x180, EXT_CAP_ID_PRI)]
        );
        let (free, count) = ranges(&ExtLayout::of(&user));
        assert_eq!(
            &free[..count],
            &[(0x104, 0x140), (0x148, 0x180), (0x190, 0x1000)]
        );
    }

    #[test]
    fn pasid_first_under_the_cores_placeholder() {
        // What vfio_pci_core 7.3 presents: its own placeholder at 0x100, and PASID's control
        // register passed through to the device at 0x104.
        let below = Sparse::new([
            (0x100, ext(0, 0, 0x140)),
            (0x104, 0x0001_1406),
            (0x140, ext(EXT_CAP_ID_ATS, 1, 0)),
        ]);
        let hiding = PasidHiding::new(&below, 0x100).unwrap();
        let user = UserView::new(&below, Some(hiding));
        assert_eq!(read(&user, 0x100), ext(0, 0, 0x140));
        assert_eq!(read(&user, 0x104), 0);
    }

    #[test]
    fn pasid_alone_at_the_start_leaves_no_chain() {
        let below = Sparse::new([(0x100, ext(EXT_CAP_ID_PASID, 1, 0)), (0x104, 0x0406)]);
        let user = UserView::new(&below, PasidHiding::new(&below, 0x100));
        assert_eq!(read(&user, 0x100), 0);
        assert_eq!(visible(&user).1, 0);
        let (free, count) = ranges(&ExtLayout::of(&user));
        assert_eq!(&free[..count], &[(0x100, 0x1000)]);
    }

    #[test]
    fn pasid_in_the_middle_is_unlinked() {
        let below = Sparse::new([
            (0x100, ext(AER, 2, 0x148)),
            (0x148, ext(EXT_CAP_ID_PASID, 1, 0x150)),
            (0x14c, 0x0000_1406),
            (0x150, ext(EXT_CAP_ID_ATS, 1, 0)),
        ]);
        let hiding = PasidHiding::new(&below, 0x148).unwrap();
        let user = UserView::new(&below, Some(hiding));
        // ID and version of AER unchanged, next pointer skips PASID.
        assert_eq!(read(&user, 0x100), ext(AER, 2, 0x150));
        assert_eq!((read(&user, 0x148), read(&user, 0x14c)), (0, 0));
        let (caps, count) = visible(&user);
        assert_eq!(&caps[..count], &[(0x100, AER), (0x150, EXT_CAP_ID_ATS)]);
        let (free, count) = ranges(&ExtLayout::of(&user));
        assert_eq!(&free[..count], &[(0x148, 0x150), (0x158, 0x1000)]);
    }

    #[test]
    fn pasid_last_ends_the_chain_before_it() {
        let below = Sparse::new([
            (0x100, ext(AER, 2, 0x148)),
            (0x148, ext(EXT_CAP_ID_ATS, 1, 0xff8)),
            (0xff8, ext(EXT_CAP_ID_PASID, 1, 0)),
            (0xffc, 0x0000_1406),
        ]);
        let user = UserView::new(&below, PasidHiding::new(&below, 0xff8));
        assert_eq!(read(&user, 0x148), ext(EXT_CAP_ID_ATS, 1, 0));
        assert_eq!((read(&user, 0xff8), read(&user, 0xffc)), (0, 0));
        let (caps, count) = visible(&user);
        assert_eq!(&caps[..count], &[(0x100, AER), (0x148, EXT_CAP_ID_ATS)]);
        let (free, count) = ranges(&ExtLayout::of(&user));
        assert_eq!(&free[..count], &[(0x150, 0x1000)]);
    }

    #[test]
    fn pasid_already_unlinked_below_is_still_zeroed() {
        // The core unlinked PASID but passes its bytes through: they must read zero anyway.
        let below = Sparse::new([
            (0x100, ext(AER, 2, 0x150)),
            (0x148, ext(EXT_CAP_ID_PASID, 1, 0x150)),
            (0x14c, 0x0001_1406),
            (0x150, ext(EXT_CAP_ID_ATS, 1, 0)),
        ]);
        let hiding = PasidHiding::new(&below, 0x148).unwrap();
        assert_eq!(hiding.patched_spans()[1], None);
        let user = UserView::new(&below, Some(hiding));
        assert_eq!(read(&user, 0x100), ext(AER, 2, 0x150));
        assert_eq!((read(&user, 0x148), read(&user, 0x14c)), (0, 0));
    }

    #[test]
    fn partial_reads_are_patched_byte_by_byte() {
        let below = Sparse::new([
            (0x100, ext(AER, 2, 0x148)),
            (0x148, ext(EXT_CAP_ID_PASID, 1, 0x150)),
            (0x150, ext(EXT_CAP_ID_ATS, 1, 0)),
        ]);
        let hiding = PasidHiding::new(&below, 0x148).unwrap();
        // The upper half of AER's header holds the version and the next pointer.
        let mut bytes = ((ext(AER, 2, 0x148) >> 16) as u16).to_le_bytes();
        hiding.patch_read(0x102, &mut bytes);
        assert_eq!(u16::from_le_bytes(bytes), (ext(AER, 2, 0x150) >> 16) as u16);
        // One byte straddling nothing hidden is unchanged; one inside is zero.
        let mut byte = [0xaa];
        hiding.patch_read(0x147, &mut byte);
        assert_eq!(byte, [0xaa]);
        hiding.patch_read(0x14f, &mut byte);
        assert_eq!(byte, [0]);
    }

    #[test]
    fn writes_to_pasid_are_dropped() {
        let below = Sparse::new([
            (0x100, ext(AER, 2, 0x148)),
            (0x148, ext(EXT_CAP_ID_PASID, 1, 0)),
        ]);
        let hiding = PasidHiding::new(&below, 0x148).unwrap();
        let span = |start, end| Some(Span { start, end });
        assert_eq!(hiding.write_parts(0x14c, 2), [None, None]);
        assert_eq!(hiding.write_parts(0x140, 4), [span(0x140, 0x144), None]);
        assert_eq!(hiding.write_parts(0x150, 4), [None, span(0x150, 0x154)]);
        assert_eq!(
            hiding.write_parts(0x144, 0x10),
            [span(0x144, 0x148), span(0x150, 0x154)]
        );
        assert_eq!(hiding.write_parts(0x100, 0), [None, None]);
        // Offsets and lengths that would overflow are clipped, not wrapped.
        assert_eq!(hiding.write_parts(u32::MAX, u32::MAX)[0], None);
    }

    #[test]
    fn pasid_cut_off_by_the_end_is_clipped() {
        let below = Sparse::new([
            (0x100, ext(AER, 2, 0xffc)),
            (0xffc, ext(EXT_CAP_ID_PASID, 1, 0)),
        ]);
        let hiding = PasidHiding::new(&below, 0xffc).unwrap();
        assert_eq!(
            hiding.patched_spans()[0],
            Some(Span {
                start: 0xffc,
                end: 0x1000
            })
        );
        assert_eq!(hiding.write_parts(0xff8, 8)[1], None);
    }

    #[test]
    fn nothing_to_hide_outside_extended_space() {
        let below = Sparse::new([]);
        assert_eq!(PasidHiding::new(&below, 0x40), None);
        assert_eq!(PasidHiding::new(&below, 0x102), None);
        assert_eq!(PasidHiding::new(&below, 0x1000), None);
        let small = Sparse {
            size: 0x100,
            dwords: [],
            unreadable: &[],
        };
        assert_eq!(PasidHiding::new(&small, 0x100), None);
    }

    #[test]
    fn span_intersection_never_overflows() {
        let span = Span {
            start: 0x148,
            end: 0x150,
        };
        assert_eq!(
            span.intersect(0x14c, 0x100),
            Some(Span {
                start: 0x14c,
                end: 0x150
            })
        );
        assert_eq!(span.intersect(0x100, 0x48), None);
        assert_eq!(span.intersect(u32::MAX, u32::MAX), None);
        assert_eq!(span.intersect(0, u32::MAX), Some(span));
    }

    #[test]
    fn igb_like_layout() {
        // The extended capabilities QEMU's igb has: AER, ARI, SR-IOV.
        let cfg = Sparse::new([
            (0x100, ext(AER, 2, 0x150)),
            (0x150, ext(ARI, 1, 0x160)),
            (0x160, ext(SRIOV, 1, 0)),
        ]);
        let (free, count) = ranges(&ExtLayout::of(&cfg));
        assert_eq!(
            &free[..count],
            &[(0x148, 0x150), (0x158, 0x160), (0x1a0, 0x1000)]
        );
    }

    #[test]
    fn unknown_length_runs_to_the_next_header_or_the_end() {
        let cfg = Sparse::new([
            (0x100, ext(0x0002, 1, 0x200)), // Virtual Channel: no length known
            (0x200, ext(EXT_CAP_ID_ATS, 1, 0x300)),
            (0x300, ext(0x7fff, 1, 0)),
        ]);
        let layout = ExtLayout::of(&cfg);
        let (free, count) = ranges(&layout);
        assert_eq!(&free[..count], &[(0x208, 0x300)]);
        assert_eq!(layout.broken(), None);
    }

    #[test]
    fn broken_chains_keep_what_was_walked() {
        let cfg = Sparse::new([
            (0x100, ext(AER, 2, 0x200)),
            (0x200, ext(EXT_CAP_ID_ATS, 1, 0x100)),
        ]);
        let layout = ExtLayout::of(&cfg);
        assert_eq!(
            layout.broken(),
            Some(WalkError::Loop {
                from: 0x200,
                to: 0x100
            })
        );
        let (free, count) = ranges(&layout);
        assert_eq!(&free[..count], &[(0x148, 0x200), (0x208, 0x1000)]);

        // An unreadable header is taken to run up to the end.
        let cfg = Sparse {
            size: EXT_CONFIG_SIZE,
            dwords: [(0x100, ext(AER, 2, 0x800))],
            unreadable: &[0x800],
        };
        let layout = ExtLayout::of(&cfg);
        assert_eq!(
            layout.broken(),
            Some(WalkError::Unreadable { offset: 0x800 })
        );
        let (free, count) = ranges(&layout);
        assert_eq!(&free[..count], &[(0x148, 0x800)]);
    }

    #[test]
    fn no_extended_space_no_ranges() {
        let cfg = Sparse {
            size: 0x100,
            dwords: [],
            unreadable: &[],
        };
        assert_eq!(ranges(&ExtLayout::of(&cfg)).1, 0);
        let empty = Sparse::new([]);
        let (free, count) = ranges(&ExtLayout::of(&empty));
        assert_eq!(&free[..count], &[(0x100, 0x1000)]);
    }

    #[test]
    fn most_fragmented_layout_has_max_free_ranges() {
        // Null capabilities on every other dword, from 0x100 to 0xff8 (the last one with
        // version 1, as an all-zero header would end the chain instead).
        struct EveryOther;
        impl ConfigSpace for EveryOther {
            fn size(&self) -> u16 {
                EXT_CONFIG_SIZE
            }
            fn read_dword(&self, offset: u16) -> Option<u32> {
                let on = (offset - EXT_CAP_START) % 8 == 0;
                let next = if offset == 0xff8 { 0 } else { offset + 8 };
                Some(if on { ext(0, 1, next) } else { 0 })
            }
        }
        let layout = ExtLayout::of(&EveryOther);
        assert_eq!(layout.free_ranges().count(), MAX_FREE_RANGES);
        assert!(layout.free_ranges().all(|range| range.len() == 4));
    }

    #[test]
    fn real_dumps_lose_pasid_and_nothing_else() {
        use super::super::pci_caps::testing::{expected_chain, Dump, DUMPS};
        for (_, text) in DUMPS {
            let below = Dump(text);
            let Some(pasid) = below.expected_offset("expect-pasid:") else {
                continue;
            };
            let user = UserView::new(&below, PasidHiding::new(&below, pasid));
            let mut walked = ExtCaps::new(&user);
            for (offset, id) in expected_chain(&below).filter(|&(_, id)| id != EXT_CAP_ID_PASID) {
                let cap = walked.next().unwrap().unwrap();
                assert_eq!((cap.offset, cap.id), (offset, id));
            }
            assert_eq!(walked.next(), None);
            assert_eq!((read(&user, pasid), read(&user, pasid + 4)), (0, 0));

            let layout = ExtLayout::of(&user);
            assert_eq!(layout.broken(), None);
            for (offset, _) in expected_chain(&below).filter(|&(_, id)| id != EXT_CAP_ID_PASID) {
                assert!(layout
                    .free_ranges()
                    .all(|r| offset < r.start || offset >= r.end));
            }
            assert!(layout.free_ranges().count() > 0);
        }
    }
}
