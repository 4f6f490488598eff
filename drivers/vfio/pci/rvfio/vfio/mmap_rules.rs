// SPDX-License-Identifier: GPL-2.0

//! The migration-time mmap rule, in pure code: which pages of a region must not be mapped by
//! the user while the device is saving, the areas that may (the region's saving layout, as
//! `VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING` publishes it), and whether a mapping conflicts.
//!
//! A personality names the registers it must see written while saving (for the igb, its
//! queue doorbells); this module turns them into whole pages, since a mapping grants pages.

/// A byte range of a region.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Span {
    /// First byte.
    pub(crate) start: u64,
    /// Length in bytes.
    pub(crate) len: u64,
}

impl Span {
    /// The byte after the span; `None` if that does not fit in 64 bits.
    fn end(self) -> Option<u64> {
        self.start.checked_add(self.len)
    }
}

/// Most page ranges a region may keep from the user while saving.
pub(crate) const MAX_TRAPPED: usize = 8;

/// The pages of a region the user must not map while saving: disjoint, sorted, page
/// aligned, each at least a page long, all below the region's size.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct TrappedPages {
    spans: [Span; MAX_TRAPPED],
    count: usize,
}

/// Why a region's trapped pages cannot be computed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LayoutError {
    /// The page size is not a power of two.
    BadPageSize,
    /// A register lies past the end of the region, or has no bytes.
    OutOfRegion,
    /// More than [`MAX_TRAPPED`] page ranges after merging.
    TooMany,
}

impl TrappedPages {
    /// No page trapped: the whole region may stay mapped while saving.
    pub(crate) const NONE: Self = Self {
        spans: [Span { start: 0, len: 0 }; MAX_TRAPPED],
        count: 0,
    };

    /// The pages of `registers`, each widened to whole pages of `page` bytes and merged
    /// where they touch, in a region of `size` bytes. `registers` must be sorted by start.
    pub(crate) fn of(registers: &[Span], size: u64, page: u64) -> Result<Self, LayoutError> {
        if !page.is_power_of_two() {
            return Err(LayoutError::BadPageSize);
        }
        let mut pages = Self::NONE;
        for register in registers {
            let end = register
                .end()
                .filter(|&end| end <= size && register.len > 0);
            let end = end.ok_or(LayoutError::OutOfRegion)?;
            let start = register.start & !(page - 1);
            // `end <= size`, so rounding up overflows only past the top of the space; the
            // last page then ends the region.
            let end = end
                .checked_next_multiple_of(page)
                .unwrap_or(u64::MAX)
                .min(size);
            let last = pages.count.checked_sub(1).map(|i| &mut pages.spans[i]);
            match last {
                Some(last) if start <= last.start + last.len => {
                    last.len = last.len.max(end - last.start);
                }
                _ => {
                    let slot = pages
                        .spans
                        .get_mut(pages.count)
                        .ok_or(LayoutError::TooMany)?;
                    *slot = Span {
                        start,
                        len: end - start,
                    };
                    pages.count += 1;
                }
            }
        }
        Ok(pages)
    }

    /// The trapped page ranges.
    pub(crate) fn spans(&self) -> &[Span] {
        &self.spans[..self.count]
    }

    /// Whether a mapping of `len` bytes at `offset` covers a trapped page. A mapping that
    /// would wrap past the top of the 64-bit space covers everything.
    pub(crate) fn conflicts(&self, offset: u64, len: u64) -> bool {
        if len == 0 {
            return false;
        }
        let end = offset.saturating_add(len);
        self.spans()
            .iter()
            .any(|page| offset < page.start + page.len && page.start < end)
    }

    /// The areas of a region of `size` bytes that may stay mapped while saving: the region
    /// without its trapped pages, in order, empty gaps left out.
    pub(crate) fn saving_areas(&self, size: u64) -> impl Iterator<Item = Span> + '_ {
        let starts = core::iter::once(0).chain(self.spans().iter().map(|p| p.start + p.len));
        let ends = self
            .spans()
            .iter()
            .map(|p| p.start)
            .chain(core::iter::once(size));
        starts
            .zip(ends)
            .filter(|(start, end)| start < end)
            .map(|(start, end)| Span {
                start,
                len: end - start,
            })
    }
}

/// How many of `registers` a write of `len` bytes at `offset` covers whole.
pub(crate) fn registers_written(registers: &[Span], offset: u64, len: u64) -> usize {
    let end = offset.saturating_add(len);
    registers
        .iter()
        .filter(|r| offset <= r.start && r.end().is_some_and(|r_end| r_end <= end))
        .count()
}

/// Which pages of its BARs a running device lets the user map: chosen by the operator, per
/// device, before a VMM opens it (`/sys/bus/pci/devices/<BDF>/rvfio/mmap_layout`,
/// `Documentation/qemu.rst`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum MmapLayout {
    /// Every mmap-able page, as `vfio-pci` offers them. A mapping of a trapped page keeps the
    /// device from starting to save, so a VMM must follow the saving layout before it saves.
    #[default]
    Full,
    /// The saving layout at all times: the standard sparse-mmap capability leaves the trapped
    /// pages out and they are never mapped, so a VMM that knows nothing of the saving layout
    /// maps only what may stay mapped while the device saves.
    Saving,
}

/// Why a new mapping is refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum MapRefusal {
    /// The layout keeps the page from the user at all times (`EINVAL`).
    OutsideLayout,
    /// The device is saving and the page is trapped (`EBUSY`).
    WhileSaving,
}

impl MmapLayout {
    /// The layouts, by the names sysfs reads and writes.
    const NAMES: [(Self, &'static str); 2] = [(Self::Full, "full"), (Self::Saving, "saving")];

    /// The layout a sysfs write names: a name, and at most one trailing newline.
    pub(crate) fn parse(text: &[u8]) -> Option<Self> {
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        Self::NAMES
            .iter()
            .find(|(_, name)| name.as_bytes() == text)
            .map(|&(layout, _)| layout)
    }

    /// What sysfs shows: every name, the chosen one in brackets, as the kernel shows a choice
    /// among several (a block queue's scheduler, for one).
    pub(crate) fn shown(self) -> &'static str {
        match self {
            Self::Full => "[full] saving\n",
            Self::Saving => "full [saving]\n",
        }
    }

    /// Whether a new mapping that covers a trapped page (`covers_trapped`) or not may be made
    /// while the device is `saving` or not.
    pub(crate) fn may_map(self, saving: bool, covers_trapped: bool) -> Result<(), MapRefusal> {
        match (self, saving, covers_trapped) {
            (_, _, false) => Ok(()),
            (Self::Saving, _, true) => Err(MapRefusal::OutsideLayout),
            (Self::Full, true, true) => Err(MapRefusal::WhileSaving),
            (Self::Full, false, true) => Ok(()),
        }
    }
}

/// One live user mapping of a region: a VMA, as the driver tracks it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Mapping {
    /// The VMA, by address: an identity only, never dereferenced here.
    pub(crate) vma: usize,
    /// The address space the VMA is in, by address.
    pub(crate) mm: usize,
    /// The region index.
    pub(crate) region: u32,
    /// The VMA's virtual range, `start..end`.
    pub(crate) virt: (usize, usize),
    /// The offset in the region its first byte maps.
    pub(crate) offset: u64,
}

impl Mapping {
    /// The range of the region it maps.
    pub(crate) fn span(&self) -> Span {
        Span {
            start: self.offset,
            len: (self.virt.1 - self.virt.0) as u64,
        }
    }

    /// What remains of `self` once `piece`, a new VMA split off it, is taken out: the kernel
    /// opens the piece before it shrinks the original (`__split_vma`), so the original still
    /// covers the piece, which lies at one end of it. `None` if `piece` is not such a piece:
    /// a VMA of another address space (fork) or elsewhere (a move by mremap).
    pub(crate) fn without(&self, piece: &Mapping) -> Option<Mapping> {
        let (start, end) = self.virt;
        let (piece_start, piece_end) = piece.virt;
        if piece.vma == self.vma
            || piece.mm != self.mm
            || piece.region != self.region
            || piece_start >= piece_end
            || (piece_start, piece_end) == (start, end)
        {
            return None;
        }
        if piece_start == start && piece_end < end && piece.offset == self.offset {
            // The piece is the lower part: the original keeps the upper.
            Some(Mapping {
                virt: (piece_end, end),
                offset: self.offset + (piece_end - start) as u64,
                ..*self
            })
        } else if piece_end == end
            && piece_start > start
            && piece.offset == self.offset + (piece_start - start) as u64
        {
            // The piece is the upper part: the original keeps the lower.
            Some(Mapping {
                virt: (start, piece_start),
                ..*self
            })
        } else {
            None
        }
    }
}

/// Where a new VMA of `opened` came from among the `live` ones: what the original it was split
/// off keeps (the original's VMA, with its new range). `None` for a fork's copy or a moved VMA.
pub(crate) fn split_of<'a>(
    live: impl IntoIterator<Item = &'a Mapping>,
    opened: &Mapping,
) -> Option<Mapping> {
    live.into_iter()
        .find_map(|original| original.without(opened))
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_mmap_rules))]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;

    fn span(start: u64, len: u64) -> Span {
        Span { start, len }
    }

    #[test]
    fn registers_widen_to_pages_and_merge() {
        let registers = [
            span(0x2818, 4),
            span(0x2918, 4),
            span(0x3818, 4),
            span(0xc018, 4),
            span(0xc3d8, 4),
        ];
        let pages = TrappedPages::of(&registers, 0x20000, PAGE).unwrap();
        assert_eq!(pages.spans(), &[span(0x2000, 0x2000), span(0xc000, 0x1000)]);
        // A register across a page edge traps both pages.
        let pages = TrappedPages::of(&[span(0x1ffe, 4)], 0x20000, PAGE).unwrap();
        assert_eq!(pages.spans(), &[span(0x1000, 0x2000)]);
        // A region smaller than a page: the page ends with the region.
        let pages = TrappedPages::of(&[span(0x10, 4)], 0x100, PAGE).unwrap();
        assert_eq!(pages.spans(), &[span(0, 0x100)]);
    }

    #[test]
    fn mmap_layout_names_round_trip() {
        assert_eq!(MmapLayout::default(), MmapLayout::Full);
        assert_eq!(MmapLayout::parse(b"full"), Some(MmapLayout::Full));
        assert_eq!(MmapLayout::parse(b"saving\n"), Some(MmapLayout::Saving));
        for bad in [
            &b""[..],
            b"\n",
            b"saving\n\n",
            b"Saving",
            b" full",
            b"full ",
            b"[full]",
        ] {
            assert_eq!(MmapLayout::parse(bad), None);
        }
        assert_eq!(MmapLayout::Full.shown(), "[full] saving\n");
        assert_eq!(MmapLayout::Saving.shown(), "full [saving]\n");
    }

    #[test]
    fn mmap_layout_decides_mappings() {
        use MapRefusal::*;
        use MmapLayout::*;
        for layout in [Full, Saving] {
            for saving in [false, true] {
                assert_eq!(layout.may_map(saving, false), Ok(()));
            }
        }
        assert_eq!(Full.may_map(false, true), Ok(()));
        assert_eq!(Full.may_map(true, true), Err(WhileSaving));
        assert_eq!(Saving.may_map(false, true), Err(OutsideLayout));
        assert_eq!(Saving.may_map(true, true), Err(OutsideLayout));
    }

    #[test]
    fn bad_layouts_are_refused() {
        assert_eq!(
            TrappedPages::of(&[span(0, 4)], 0x1000, 3000),
            Err(LayoutError::BadPageSize)
        );
        assert_eq!(
            TrappedPages::of(&[span(0x1ffe, 4)], 0x2000, PAGE),
            Err(LayoutError::OutOfRegion)
        );
        assert_eq!(
            TrappedPages::of(&[span(0x10, 0)], 0x2000, PAGE),
            Err(LayoutError::OutOfRegion)
        );
        assert_eq!(
            TrappedPages::of(&[span(u64::MAX - 1, 4)], u64::MAX, PAGE),
            Err(LayoutError::OutOfRegion)
        );
        let mut many = [span(0, 4); MAX_TRAPPED + 1];
        for (i, register) in many.iter_mut().enumerate() {
            register.start = 2 * PAGE * i as u64;
        }
        assert_eq!(
            TrappedPages::of(&many, 1 << 20, PAGE),
            Err(LayoutError::TooMany)
        );
        assert!(TrappedPages::of(&many[..MAX_TRAPPED], 1 << 20, PAGE).is_ok());
    }

    #[test]
    fn conflicts_at_page_edges() {
        let pages = TrappedPages::of(&[span(0x2818, 4)], 0x20000, PAGE).unwrap();
        // Up to the trapped page, from its end, around it, inside it, over it.
        assert!(!pages.conflicts(0, 0x2000));
        assert!(!pages.conflicts(0x3000, 0x1000));
        assert!(pages.conflicts(0x1000, 0x1001));
        assert!(pages.conflicts(0x2fff, 1));
        assert!(pages.conflicts(0x2800, 4));
        assert!(pages.conflicts(0, 0x20000));
        // Zero length conflicts with nothing; a length that would wrap covers everything.
        assert!(!pages.conflicts(0x2000, 0));
        assert!(pages.conflicts(0x1000, u64::MAX));
        assert!(!pages.conflicts(0x3000, u64::MAX - 0x3000));
        assert!(!TrappedPages::NONE.conflicts(0, u64::MAX));
    }

    fn mapping(vma: usize, mm: usize, virt: (usize, usize), offset: u64) -> Mapping {
        Mapping {
            vma,
            mm,
            region: 0,
            virt,
            offset,
        }
    }

    #[test]
    fn splits_are_told_from_forks_and_moves() {
        let original = mapping(1, 100, (0x10000, 0x30000), 0);
        let live = [mapping(7, 100, (0x50000, 0x51000), 0x1000), original];
        // Lower piece split off (munmap of the upper part, or mprotect): the original keeps
        // the upper part, with its offset moved on.
        let lower = mapping(2, 100, (0x10000, 0x12000), 0);
        assert_eq!(
            split_of(&live, &lower),
            Some(mapping(1, 100, (0x12000, 0x30000), 0x2000))
        );
        // Upper piece split off.
        let upper = mapping(3, 100, (0x2e000, 0x30000), 0x1e000);
        assert_eq!(
            split_of(&live, &upper),
            Some(mapping(1, 100, (0x10000, 0x2e000), 0))
        );
        // A fork's copy: same range, another address space.
        assert_eq!(
            split_of(&live, &mapping(4, 200, (0x10000, 0x30000), 0)),
            None
        );
        // A copy made by mremap: same address space, elsewhere.
        assert_eq!(
            split_of(&live, &mapping(5, 100, (0x70000, 0x90000), 0)),
            None
        );
        // Not at an end, inconsistent offsets, another region, the original itself.
        assert_eq!(
            split_of(&live, &mapping(6, 100, (0x11000, 0x12000), 0x1000)),
            None
        );
        assert_eq!(
            split_of(&live, &mapping(6, 100, (0x10000, 0x12000), 0x1000)),
            None
        );
        assert_eq!(
            split_of(&live, &mapping(6, 100, (0x2e000, 0x30000), 0x2000)),
            None
        );
        let other_region = Mapping { region: 2, ..lower };
        assert_eq!(split_of(&live, &other_region), None);
        assert_eq!(split_of(&live, &original), None);
        // The spans of what results.
        assert_eq!(
            original.without(&lower).map(|kept| kept.span()),
            Some(span(0x2000, 0x1e000))
        );
    }

    #[test]
    fn saving_areas_are_the_rest_of_the_region() {
        let registers = [span(0x2818, 4), span(0x3818, 4), span(0xe018, 4)];
        let pages = TrappedPages::of(&registers, 0x20000, PAGE).unwrap();
        let mut areas = [Span::default(); 4];
        let mut count = 0;
        for area in pages.saving_areas(0x20000) {
            areas[count] = area;
            count += 1;
        }
        assert_eq!(
            &areas[..count],
            &[span(0, 0x2000), span(0x4000, 0xa000), span(0xf000, 0x11000)]
        );
        // No trapped page: one area, the region; the region all trapped: none.
        let mut whole = TrappedPages::NONE.saving_areas(0x4000);
        assert_eq!(whole.next(), Some(span(0, 0x4000)));
        assert_eq!(whole.next(), None);
        let all = TrappedPages::of(&[span(0, 0x4000)], 0x4000, PAGE).unwrap();
        assert_eq!(all.saving_areas(0x4000).next(), None);
        // Trapped pages at both ends leave the middle.
        let ends = TrappedPages::of(&[span(0, 4), span(0x3ffc, 4)], 0x4000, PAGE).unwrap();
        let mut middle = ends.saving_areas(0x4000);
        assert_eq!(middle.next(), Some(span(0x1000, 0x2000)));
        assert_eq!(middle.next(), None);
    }
}
