// SPDX-License-Identifier: GPL-2.0

//! The software DMA dirty log, in pure code: a fixed-capacity set of page ranges of the
//! device's I/O virtual address space that a personality fills ([`DmaWrites`]) and a report
//! reads and clears window by window ([`DirtyRanges::take`]).
//!
//! The set may hold more than was written, never less: when it is full it merges the two
//! neighbours with the smallest gap between them, and when a report would need a slot it
//! does not have to split a range it keeps the range whole. Its counters measure what that
//! costs.

use crate::personality::DmaWrites;

/// How many ranges a [`DirtyRanges`] holds unless told otherwise.
pub(crate) const DEFAULT_RANGES: usize = 512;

/// Pages `first..=last` (byte addresses; `first` starts a page, `last` ends one). Inclusive,
/// so that a range may end at the top of the 64-bit space.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Pages {
    first: u64,
    last: u64,
}

impl Pages {
    /// A free slot's content.
    pub(crate) const FREE: Self = Self { first: 0, last: 0 };
}

/// A sorted set of disjoint, non-adjacent page ranges of I/O virtual addresses that the
/// device may have written, held in the slots `S` gives: at most as many ranges as it has.
/// An array for tests and small sets ([`DirtyRanges::new`]); the driver gives heap slots,
/// since a log's 512 take 8 KiB ([`DirtyRanges::with_slots`]).
pub(crate) struct DirtyRanges<S = [Pages; DEFAULT_RANGES]> {
    ranges: S,
    count: usize,
    /// `page - 1`: the bits that round an address to its page.
    page_mask: u64,
    /// Pages added to the set only because it was full (gaps merged), since it was made.
    merged_pages: u64,
}

/// Why a [`DirtyRanges`] cannot be made.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PageSizeError {
    /// The page size is not a power of two of at least 4096.
    BadPageSize,
}

// Only the tests (KUnit, the host tests, the fuzzers) make a set of a fixed size.
#[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
impl<const N: usize> DirtyRanges<[Pages; N]> {
    /// An empty set of pages of `page` bytes, a power of two of at least 4096, of at most `N`
    /// ranges.
    pub(crate) fn new(page: u64) -> Result<Self, PageSizeError> {
        Self::with_slots(page, [Pages::FREE; N])
    }
}

impl<S: AsRef<[Pages]> + AsMut<[Pages]>> DirtyRanges<S> {
    /// An empty set of pages of `page` bytes, a power of two of at least 4096, of at most as
    /// many ranges as `slots` has (at least one).
    pub(crate) fn with_slots(page: u64, slots: S) -> Result<Self, PageSizeError> {
        if !page.is_power_of_two() || page < 4096 || slots.as_ref().is_empty() {
            return Err(PageSizeError::BadPageSize);
        }
        Ok(Self {
            ranges: slots,
            count: 0,
            page_mask: page - 1,
            merged_pages: 0,
        })
    }

    /// How many ranges the set can hold.
    fn capacity(&self) -> usize {
        self.slots().len()
    }

    fn slots(&self) -> &[Pages] {
        self.ranges.as_ref()
    }

    fn slots_mut(&mut self) -> &mut [Pages] {
        self.ranges.as_mut()
    }

    /// The page size.
    pub(crate) fn page(&self) -> u64 {
        self.page_mask + 1
    }

    fn held(&self) -> &[Pages] {
        &self.slots()[..self.count]
    }

    /// Pages strictly between `left` and `right` (`left` before `right`, not adjacent).
    fn gap(&self, left: &Pages, right: &Pages) -> u64 {
        (right.first - left.last - 1) / self.page()
    }

    /// Adds the pages `first..=last` (page aligned).
    fn insert(&mut self, first: u64, last: u64) {
        // The first range that ends at or after the page before `first`: every range before
        // it ends before that page, so neither overlaps nor touches the new one.
        let at = self
            .held()
            .iter()
            .position(|r| r.last.saturating_add(1) >= first)
            .unwrap_or(self.count);
        // The ranges from `at` that overlap or touch the new one merge with it.
        let touching = self.held()[at..]
            .iter()
            .take_while(|r| r.first == 0 || r.first - 1 <= last)
            .count();
        if touching > 0 {
            let merged = Pages {
                first: first.min(self.slots()[at].first),
                last: last.max(self.slots()[at + touching - 1].last),
            };
            self.slots_mut()[at] = merged;
            self.ranges
                .as_mut()
                .copy_within(at + touching..self.count, at + 1);
            self.count -= touching - 1;
            return;
        }
        let new = Pages { first, last };
        if self.count == self.capacity() {
            self.insert_into_full(at, new);
            return;
        }
        self.ranges.as_mut().copy_within(at..self.count, at + 1);
        self.slots_mut()[at] = new;
        self.count += 1;
    }

    /// Adds `new`, which touches no range and belongs at `at`, to a full set: merges the
    /// pair of neighbours with the smallest gap, the new range among them.
    fn insert_into_full(&mut self, at: usize, new: Pages) {
        let before = at.checked_sub(1).map(|i| self.gap(&self.slots()[i], &new));
        let after = (at < self.count).then(|| self.gap(&new, &self.slots()[at]));
        let own = (1..self.count)
            .map(|i| (self.gap(&self.slots()[i - 1], &self.slots()[i]), i))
            .min();
        let neighbour = match (before, after) {
            (Some(b), Some(a)) if a < b => Some((a, at)),
            (Some(b), _) => Some((b, at - 1)),
            (None, a) => a.map(|a| (a, at)),
        };
        // A full set holds at least one range, so the new one has a neighbour.
        let Some((gap, with)) = neighbour else {
            return;
        };
        match own {
            Some((own_gap, i)) if own_gap < gap => {
                // Merge ranges `i - 1` and `i`; the new range, whose gaps are larger, is not
                // between them, and takes the slot freed.
                self.merged_pages += own_gap;
                self.slots_mut()[i - 1].last = self.slots()[i].last;
                self.ranges.as_mut().copy_within(i + 1..self.count, i);
                self.count -= 1;
                let at = if at > i { at - 1 } else { at };
                self.ranges.as_mut().copy_within(at..self.count, at + 1);
                self.slots_mut()[at] = new;
                self.count += 1;
            }
            _ => {
                self.merged_pages += gap;
                let r = &mut self.slots_mut()[with];
                r.first = r.first.min(new.first);
                r.last = r.last.max(new.last);
            }
        }
    }

    /// Reports the pages of the set inside the window of `len` bytes at `start`, rounded out
    /// to whole pages, as `report(iova, len)` pieces in order, and removes them from the set.
    /// A range that straddles both edges of the window keeps its parts outside it, unless
    /// that takes a slot the set does not have: then it stays whole (reported again later).
    pub(crate) fn take(&mut self, start: u64, len: u64, mut report: impl FnMut(u64, u64)) {
        let Some(end) = len.checked_sub(1) else {
            return;
        };
        let first = start & !self.page_mask;
        let last = start.saturating_add(end) | self.page_mask;
        let mut kept = 0;
        let mut split: Option<Pages> = None;
        for i in 0..self.count {
            let r = self.slots()[i];
            let inside = Pages {
                first: r.first.max(first),
                last: r.last.min(last),
            };
            if inside.first > inside.last {
                self.slots_mut()[kept] = r;
                kept += 1;
                continue;
            }
            report_pieces(inside, &mut report);
            let left = (r.first < first).then(|| Pages {
                first: r.first,
                last: first - 1,
            });
            let right = (r.last > last).then(|| Pages {
                first: last + 1,
                last: r.last,
            });
            match (left, right) {
                (Some(left), Some(right)) => {
                    // Only a range that holds the whole window straddles both edges; every
                    // other range lies outside it, so the slots are counted already.
                    if self.count < self.capacity() {
                        self.slots_mut()[kept] = left;
                        split = Some(right);
                    } else {
                        self.slots_mut()[kept] = r;
                    }
                    kept += 1;
                }
                (Some(part), None) | (None, Some(part)) => {
                    self.slots_mut()[kept] = part;
                    kept += 1;
                }
                (None, None) => {}
            }
        }
        self.count = kept;
        if let Some(right) = split {
            let at = self
                .held()
                .iter()
                .position(|r| r.first > right.last)
                .unwrap_or(self.count);
            self.ranges.as_mut().copy_within(at..self.count, at + 1);
            self.slots_mut()[at] = right;
            self.count += 1;
        }
    }
}

// Only the tests (KUnit, the host tests, the fuzzers) ask a set these.
#[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
impl<S: AsRef<[Pages]> + AsMut<[Pages]>> DirtyRanges<S> {
    /// Whether the set holds no page.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of ranges held.
    pub(crate) fn ranges(&self) -> usize {
        self.count
    }

    /// Number of pages held (the whole space is 2^64 / page pages).
    pub(crate) fn pages(&self) -> u64 {
        self.held().iter().map(|r| self.page_count(r)).sum()
    }

    /// Pages the set took in only because it was full: the gaps it merged, since it was made.
    pub(crate) fn merged_pages(&self) -> u64 {
        self.merged_pages
    }

    /// Whether the page holding `iova` is in the set.
    pub(crate) fn contains(&self, iova: u64) -> bool {
        self.held()
            .iter()
            .any(|r| r.first <= iova && iova <= r.last)
    }

    /// The ranges held, as (first byte, last byte) pairs, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.held().iter().map(|r| (r.first, r.last))
    }

    fn page_count(&self, r: &Pages) -> u64 {
        (r.last - r.first) / self.page() + 1
    }
}

/// Reports `pages` as one piece, or two when it is the whole 64-bit space, whose length does
/// not fit in 64 bits.
fn report_pieces(pages: Pages, report: &mut impl FnMut(u64, u64)) {
    let len = pages.last - pages.first;
    if len == u64::MAX {
        let half = 1 << 63;
        report(0, half);
        report(half, half);
    } else {
        report(pages.first, len + 1);
    }
}

impl<S: AsRef<[Pages]> + AsMut<[Pages]>> DmaWrites for DirtyRanges<S> {
    /// Adds the pages of the `len` bytes at `iova`; bytes past the top of the 64-bit space
    /// wrap to its bottom, as the device's address arithmetic does.
    fn may_write(&mut self, iova: u64, len: u64) {
        let Some(end) = len.checked_sub(1) else {
            return;
        };
        let (last, wrapped) = iova.overflowing_add(end);
        if wrapped {
            self.insert(iova & !self.page_mask, u64::MAX);
            self.insert(0, last | self.page_mask);
        } else {
            self.insert(iova & !self.page_mask, last | self.page_mask);
        }
    }

    fn anywhere(&mut self) {
        self.slots_mut()[0] = Pages {
            first: 0,
            last: u64::MAX,
        };
        self.count = 1;
    }
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_dirty_ranges))]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;

    /// What a report gave: up to 8 pieces.
    struct Reported {
        pieces: [(u64, u64); 8],
        count: usize,
    }

    impl Reported {
        fn of<const N: usize>(set: &mut DirtyRanges<[Pages; N]>, start: u64, len: u64) -> Self {
            let mut out = Self {
                pieces: [(0, 0); 8],
                count: 0,
            };
            set.take(start, len, |iova, len| {
                out.pieces[out.count] = (iova, len);
                out.count += 1;
            });
            out
        }

        fn pieces(&self) -> &[(u64, u64)] {
            &self.pieces[..self.count]
        }
    }

    fn held<const N: usize>(set: &DirtyRanges<[Pages; N]>) -> ([(u64, u64); 8], usize) {
        let mut out = [(0, 0); 8];
        for (slot, range) in out.iter_mut().zip(set.iter()) {
            *slot = range;
        }
        (out, set.ranges())
    }

    fn assert_held<const N: usize>(set: &DirtyRanges<[Pages; N]>, expected: &[(u64, u64)]) {
        let (ranges, count) = held(set);
        assert_eq!(&ranges[..count], expected);
    }

    #[test]
    fn page_sizes_are_powers_of_two_of_at_least_4096() {
        assert!(DirtyRanges::<[Pages; 4]>::new(4096).is_ok());
        assert!(DirtyRanges::<[Pages; 4]>::new(1 << 21).is_ok());
        assert!(DirtyRanges::<[Pages; 4]>::new(2048).is_err());
        assert!(DirtyRanges::<[Pages; 4]>::new(12288).is_err());
        assert!(DirtyRanges::<[Pages; 4]>::new(0).is_err());
    }

    #[test]
    fn writes_round_out_to_pages_and_merge_when_they_touch() {
        let mut set = DirtyRanges::<[Pages; 4]>::new(PAGE).unwrap();
        set.may_write(0x1ffc, 8);
        assert_held(&set, &[(0x1000, 0x2fff)]);
        set.may_write(0x5000, 0);
        assert_held(&set, &[(0x1000, 0x2fff)]);
        set.may_write(0x5000, 1);
        set.may_write(0x3000, 1);
        assert_held(&set, &[(0x1000, 0x3fff), (0x5000, 0x5fff)]);
        set.may_write(0x4000, 0x1000);
        assert_held(&set, &[(0x1000, 0x5fff)]);
        set.may_write(0x0, 0x10000);
        assert_held(&set, &[(0x0, 0xffff)]);
        assert_eq!(set.pages(), 16);
        assert_eq!(set.merged_pages(), 0);
    }

    #[test]
    fn a_full_set_merges_the_smallest_gap() {
        let mut set = DirtyRanges::<[Pages; 3]>::new(PAGE).unwrap();
        set.may_write(0x0, 1);
        set.may_write(0x10000, 1);
        set.may_write(0x12000, 1);
        // The new range's gap to 0x12000 (one page) is the smallest.
        set.may_write(0x14000, 1);
        assert_held(
            &set,
            &[(0x0, 0xfff), (0x10000, 0x10fff), (0x12000, 0x14fff)],
        );
        assert_eq!(set.merged_pages(), 1);
        // Now the gap between two held ranges (one page) beats the new one's (many).
        set.may_write(0x40000, 1);
        assert_held(
            &set,
            &[(0x0, 0xfff), (0x10000, 0x14fff), (0x40000, 0x40fff)],
        );
        assert_eq!(set.merged_pages(), 2);
        // A range before all others.
        let mut set = DirtyRanges::<[Pages; 2]>::new(PAGE).unwrap();
        set.may_write(0x10000, 1);
        set.may_write(0x20000, 1);
        set.may_write(0xe000, 1);
        assert_held(&set, &[(0xe000, 0x10fff), (0x20000, 0x20fff)]);
    }

    #[test]
    fn a_set_of_one_range_keeps_growing() {
        let mut set = DirtyRanges::<[Pages; 1]>::new(PAGE).unwrap();
        set.may_write(0x5000, 1);
        set.may_write(0x1000, 1);
        set.may_write(0x9000, 1);
        assert_held(&set, &[(0x1000, 0x9fff)]);
        assert_eq!(set.merged_pages(), 6);
    }

    #[test]
    fn takes_report_and_clear_the_window_only() {
        let mut set = DirtyRanges::<[Pages; 4]>::new(PAGE).unwrap();
        set.may_write(0x1000, 0x4000);
        set.may_write(0x10000, 0x1000);
        let report = Reported::of(&mut set, 0x2000, 0x2000);
        assert_eq!(report.pieces(), &[(0x2000, 0x2000)]);
        assert_held(
            &set,
            &[(0x1000, 0x1fff), (0x4000, 0x4fff), (0x10000, 0x10fff)],
        );
        // A window not page aligned takes the pages it touches.
        let report = Reported::of(&mut set, 0x4fff, 0xb002);
        assert_eq!(report.pieces(), &[(0x4000, 0x1000), (0x10000, 0x1000)]);
        assert_held(&set, &[(0x1000, 0x1fff)]);
        let report = Reported::of(&mut set, 0x1000, 0);
        assert_eq!(report.pieces(), &[]);
        let report = Reported::of(&mut set, 0, u64::MAX);
        assert_eq!(report.pieces(), &[(0x1000, 0x1000)]);
        assert!(set.is_empty());
    }

    #[test]
    fn a_split_without_a_free_slot_keeps_the_range_whole() {
        let mut set = DirtyRanges::<[Pages; 2]>::new(PAGE).unwrap();
        set.may_write(0x0, 0x10000);
        set.may_write(0x20000, 1);
        let report = Reported::of(&mut set, 0x4000, 0x1000);
        assert_eq!(report.pieces(), &[(0x4000, 0x1000)]);
        assert_held(&set, &[(0x0, 0xffff), (0x20000, 0x20fff)]);
        let report = Reported::of(&mut set, 0x20000, 0x1000);
        assert_eq!(report.pieces(), &[(0x20000, 0x1000)]);
        let report = Reported::of(&mut set, 0x4000, 0x1000);
        assert_eq!(report.pieces(), &[(0x4000, 0x1000)]);
        assert_held(&set, &[(0x0, 0x3fff), (0x5000, 0xffff)]);
    }

    #[test]
    fn the_top_of_the_space_neither_overflows_nor_is_lost() {
        let mut set = DirtyRanges::<[Pages; 4]>::new(PAGE).unwrap();
        set.may_write(u64::MAX, 1);
        assert_held(&set, &[(u64::MAX - 0xfff, u64::MAX)]);
        // A write past the top wraps to the bottom.
        set.may_write(u64::MAX - 0x10, 0x20);
        assert_held(&set, &[(0, 0xfff), (u64::MAX - 0xfff, u64::MAX)]);
        set.may_write(u64::MAX - 0x1fff, 0x1000);
        assert_held(&set, &[(0, 0xfff), (u64::MAX - 0x1fff, u64::MAX)]);
        let report = Reported::of(&mut set, u64::MAX - 0xfff, 0x1000);
        assert_eq!(report.pieces(), &[(u64::MAX - 0xfff, 0x1000)]);
        let report = Reported::of(&mut set, u64::MAX - 0x1fff, u64::MAX);
        assert_eq!(report.pieces(), &[(u64::MAX - 0x1fff, 0x1000)]);
        assert_held(&set, &[(0, 0xfff)]);
    }

    #[test]
    fn anywhere_holds_the_whole_space_reported_in_two_halves() {
        let mut set = DirtyRanges::<[Pages; 4]>::new(PAGE).unwrap();
        set.may_write(0x1000, 1);
        set.anywhere();
        assert_eq!(set.pages(), 1 << 52);
        assert!(set.contains(0) && set.contains(u64::MAX));
        set.may_write(0x5000, 1);
        assert_eq!(set.ranges(), 1);
        // A window ending below the top, then one holding the rest of the space.
        let report = Reported::of(&mut set, 0x1000, 0x1000);
        assert_eq!(report.pieces(), &[(0x1000, 0x1000)]);
        assert_held(&set, &[(0, 0xfff), (0x2000, u64::MAX)]);
        let mut set = DirtyRanges::<[Pages; 4]>::new(PAGE).unwrap();
        set.anywhere();
        let report = Reported::of(&mut set, 1, u64::MAX);
        assert_eq!(report.pieces(), &[(0, 1 << 63), (1 << 63, 1 << 63)]);
        assert!(set.is_empty());
    }
}
