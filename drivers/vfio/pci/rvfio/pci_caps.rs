// SPDX-License-Identifier: GPL-2.0

//! Walks the extended capability chain of a PCI config space that is not trusted.
//!
//! A device, or whatever emulates it, can put anything in config space: loops, pointers into
//! the conventional area or past the end, headers of all ones. The walk does bounded work on
//! any input and reports where and why it stopped instead of panicking.
//!
//! Pure code with no kernel calls: KUnit runs it inside the kernel and `cargo test` runs the
//! same source on the host (see `tests/host/`).

use core::fmt;

/// First byte of PCI Express extended config space.
pub(crate) const EXT_CAP_START: u16 = 0x100;

/// Size of a PCI Express config space.
pub(crate) const EXT_CONFIG_SIZE: u16 = 0x1000;

/// Extended capability ID of Address Translation Services.
pub(crate) const EXT_CAP_ID_ATS: u16 = 0x0f;

/// Extended capability ID of the Page Request Interface.
pub(crate) const EXT_CAP_ID_PRI: u16 = 0x13;

/// Extended capability ID of Process Address Space ID.
pub(crate) const EXT_CAP_ID_PASID: u16 = 0x1b;

/// Number of dword slots in extended config space, which bounds the length of any chain.
const EXT_SLOTS: usize = ((EXT_CONFIG_SIZE - EXT_CAP_START) / 4) as usize;

/// Read access to a config space, one aligned dword at a time.
pub(crate) trait ConfigSpace {
    /// Size of the config space in bytes: 256 for conventional PCI, 4096 for PCI Express.
    fn size(&self) -> u16;

    /// Reads the dword at `offset`, which is dword aligned and below [`ConfigSpace::size`].
    ///
    /// Returns `None` when the read fails.
    fn read_dword(&self, offset: u16) -> Option<u32>;
}

/// An extended capability header found in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExtCap {
    /// Capability ID (bits 15:0 of the header).
    pub(crate) id: u16,
    /// Capability version (bits 19:16 of the header).
    pub(crate) version: u8,
    /// Offset of the header in config space.
    pub(crate) offset: u16,
}

/// Why a walk of the extended capability chain stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// The capability at `from` points back to `to`, already visited.
    Loop {
        /// Offset of the capability whose next pointer closes the loop.
        from: u16,
        /// Offset the next pointer names.
        to: u16,
    },
    /// The capability at `from` points below extended config space or past its end.
    OutOfRange {
        /// Offset of the capability with the bad next pointer.
        from: u16,
        /// Offset the next pointer names.
        to: u16,
    },
    /// The header at `offset` could not be read, or read as all ones (no device answered).
    Unreadable {
        /// Offset of the header.
        offset: u16,
    },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Loop { from, to } => write!(f, "loop: {from:#x} points back to {to:#x}"),
            Self::OutOfRange { from, to } => {
                write!(f, "next pointer out of range: {from:#x} points to {to:#x}")
            }
            Self::Unreadable { offset } => write!(f, "unreadable header at {offset:#x}"),
        }
    }
}

/// Iterator over the extended capability chain.
///
/// Yields each capability in chain order, then at most one [`WalkError`] if the chain is
/// broken, then nothing. Visits every dword slot at most once, so it ends after at most 961
/// items whatever config space holds.
pub(crate) struct ExtCaps<'a, C: ConfigSpace + ?Sized> {
    cfg: &'a C,
    /// Offset of the next header to read, or `None` once the walk is over.
    next: Option<u16>,
    /// Offset of the capability whose next pointer led to `next`.
    from: u16,
    /// One bit per dword slot of extended config space: headers already visited.
    visited: [u64; EXT_SLOTS.div_ceil(64)],
}

impl<'a, C: ConfigSpace + ?Sized> ExtCaps<'a, C> {
    /// Starts a walk at the first extended capability (offset 0x100).
    ///
    /// A config space of 256 bytes or less has no extended capabilities.
    pub(crate) fn new(cfg: &'a C) -> Self {
        let next = (cfg.size() > EXT_CAP_START).then_some(EXT_CAP_START);
        Self {
            cfg,
            next,
            from: EXT_CAP_START,
            visited: [0; EXT_SLOTS.div_ceil(64)],
        }
    }

    fn fail(&mut self, err: WalkError) -> Option<Result<ExtCap, WalkError>> {
        self.next = None;
        Some(Err(err))
    }
}

impl<C: ConfigSpace + ?Sized> Iterator for ExtCaps<'_, C> {
    type Item = Result<ExtCap, WalkError>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.next?;
        let from = self.from;

        // `offset` is dword aligned by construction: it is 0x100 or a masked next pointer.
        if offset < EXT_CAP_START || offset >= self.cfg.size().min(EXT_CONFIG_SIZE) {
            return self.fail(WalkError::OutOfRange { from, to: offset });
        }
        let slot = usize::from((offset - EXT_CAP_START) / 4);
        let (word, bit) = (slot / 64, slot % 64);
        if self.visited[word] & (1 << bit) != 0 {
            return self.fail(WalkError::Loop { from, to: offset });
        }
        self.visited[word] |= 1 << bit;

        let header = match self.cfg.read_dword(offset) {
            Some(u32::MAX) | None => return self.fail(WalkError::Unreadable { offset }),
            Some(header) => header,
        };
        // An all-zero header is how a device says it has no (more) extended capabilities.
        if header == 0 {
            self.next = None;
            return None;
        }

        let next = ((header >> 20) & 0xffc) as u16;
        self.next = (next != 0).then_some(next);
        self.from = offset;
        Some(Ok(ExtCap {
            id: (header & 0xffff) as u16,
            version: ((header >> 16) & 0xf) as u8,
            offset,
        }))
    }
}

/// Offsets of the capabilities a VMM needs to know about to offer PASID, ATS and PRI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TranslationCaps {
    /// Offset of the PASID capability, if the device has one.
    pub(crate) pasid: Option<u16>,
    /// Offset of the ATS capability, if the device has one.
    pub(crate) ats: Option<u16>,
    /// Offset of the PRI capability, if the device has one.
    pub(crate) pri: Option<u16>,
}

impl TranslationCaps {
    /// Finds the first PASID, ATS and PRI capabilities in the chain.
    ///
    /// Returns what was found before the chain broke together with the error, if it broke.
    pub(crate) fn find<C: ConfigSpace + ?Sized>(cfg: &C) -> (Self, Option<WalkError>) {
        let mut caps = Self::default();
        for cap in ExtCaps::new(cfg) {
            let cap = match cap {
                Ok(cap) => cap,
                Err(err) => return (caps, Some(err)),
            };
            let slot = match cap.id {
                EXT_CAP_ID_PASID => &mut caps.pasid,
                EXT_CAP_ID_ATS => &mut caps.ats,
                EXT_CAP_ID_PRI => &mut caps.pri,
                _ => continue,
            };
            slot.get_or_insert(cap.offset);
        }
        (caps, None)
    }
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_caps))]
mod tests {
    use super::*;

    /// A config space defined by a function from dword offset to contents.
    struct Synthetic<F: Fn(u16) -> Option<u32>> {
        size: u16,
        read: F,
    }

    impl<F: Fn(u16) -> Option<u32>> ConfigSpace for Synthetic<F> {
        fn size(&self) -> u16 {
            self.size
        }

        fn read_dword(&self, offset: u16) -> Option<u32> {
            (self.read)(offset)
        }
    }

    fn header(id: u16, version: u8, next: u16) -> u32 {
        u32::from(id) | (u32::from(version) << 16) | (u32::from(next) << 20)
    }

    fn space(read: impl Fn(u16) -> Option<u32>) -> Synthetic<impl Fn(u16) -> Option<u32>> {
        Synthetic {
            size: EXT_CONFIG_SIZE,
            read,
        }
    }

    /// Walks the chain, returning (capabilities, error) counts and the last item.
    fn walk<C: ConfigSpace>(cfg: &C) -> (usize, usize, Option<Result<ExtCap, WalkError>>) {
        let (mut caps, mut errors, mut last) = (0, 0, None);
        for item in ExtCaps::new(cfg) {
            match item {
                Ok(_) => caps += 1,
                Err(_) => errors += 1,
            }
            last = Some(item);
        }
        (caps, errors, last)
    }

    #[test]
    fn zero_header_means_no_extended_caps() {
        let cfg = space(|_| Some(0));
        assert_eq!(walk(&cfg), (0, 0, None));
    }

    #[test]
    fn conventional_space_has_no_extended_caps() {
        let cfg = Synthetic {
            size: 256,
            read: |_| Some(header(EXT_CAP_ID_ATS, 1, 0)),
        };
        assert_eq!(walk(&cfg), (0, 0, None));
    }

    #[test]
    fn chain_of_three_in_order() {
        let cfg = space(|off| match off {
            0x100 => Some(header(EXT_CAP_ID_ATS, 1, 0x200)),
            0x200 => Some(header(EXT_CAP_ID_PRI, 1, 0x148)),
            0x148 => Some(header(EXT_CAP_ID_PASID, 1, 0)),
            _ => Some(0),
        });
        let mut it = ExtCaps::new(&cfg);
        assert_eq!(
            it.next(),
            Some(Ok(ExtCap {
                id: EXT_CAP_ID_ATS,
                version: 1,
                offset: 0x100
            }))
        );
        assert_eq!(it.next().map(|c| c.map(|c| c.offset)), Some(Ok(0x200)));
        assert_eq!(it.next().map(|c| c.map(|c| c.offset)), Some(Ok(0x148)));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        let (caps, err) = TranslationCaps::find(&cfg);
        assert_eq!(err, None);
        assert_eq!(
            caps,
            TranslationCaps {
                pasid: Some(0x148),
                ats: Some(0x100),
                pri: Some(0x200)
            }
        );
    }

    #[test]
    fn self_loop_is_reported() {
        let cfg = space(|_| Some(header(EXT_CAP_ID_ATS, 1, 0x100)));
        let (caps, errors, last) = walk(&cfg);
        assert_eq!((caps, errors), (1, 1));
        assert_eq!(
            last,
            Some(Err(WalkError::Loop {
                from: 0x100,
                to: 0x100
            }))
        );
    }

    #[test]
    fn longer_loop_is_reported() {
        let cfg = space(|off| match off {
            0x100 => Some(header(0x1, 1, 0x200)),
            0x200 => Some(header(0x2, 1, 0x300)),
            0x300 => Some(header(0x3, 1, 0x200)),
            _ => Some(0),
        });
        let (caps, errors, last) = walk(&cfg);
        assert_eq!((caps, errors), (3, 1));
        assert_eq!(
            last,
            Some(Err(WalkError::Loop {
                from: 0x300,
                to: 0x200
            }))
        );
    }

    #[test]
    fn pointer_into_conventional_space_is_out_of_range() {
        let cfg = space(|off| match off {
            0x100 => Some(header(EXT_CAP_ID_ATS, 1, 0x40)),
            _ => Some(header(0x1, 1, 0)),
        });
        let (caps, errors, last) = walk(&cfg);
        assert_eq!((caps, errors), (1, 1));
        assert_eq!(
            last,
            Some(Err(WalkError::OutOfRange {
                from: 0x100,
                to: 0x40
            }))
        );
    }

    #[test]
    fn pointer_past_a_short_space_is_out_of_range() {
        let cfg = Synthetic {
            size: 0x200,
            read: |off| match off {
                0x100 => Some(header(EXT_CAP_ID_ATS, 1, 0x800)),
                _ => Some(0),
            },
        };
        let (_, _, last) = walk(&cfg);
        assert_eq!(
            last,
            Some(Err(WalkError::OutOfRange {
                from: 0x100,
                to: 0x800
            }))
        );
    }

    #[test]
    fn misaligned_next_bits_are_masked() {
        // The low two bits of the 12-bit next field are reserved and ignored.
        let cfg = space(|off| match off {
            0x100 => Some(header(EXT_CAP_ID_ATS, 1, 0x203)),
            0x200 => Some(header(EXT_CAP_ID_PRI, 1, 0)),
            _ => None,
        });
        let (caps, _) = TranslationCaps::find(&cfg);
        assert_eq!(caps.pri, Some(0x200));
    }

    #[test]
    fn all_ones_and_failed_reads_stop_the_walk() {
        let cfg = space(|off| match off {
            0x100 => Some(header(EXT_CAP_ID_ATS, 1, 0x200)),
            0x200 => Some(u32::MAX),
            _ => Some(0),
        });
        let (_, _, last) = walk(&cfg);
        assert_eq!(last, Some(Err(WalkError::Unreadable { offset: 0x200 })));
        let cfg = space(|_| None);
        assert_eq!(
            walk(&cfg),
            (0, 1, Some(Err(WalkError::Unreadable { offset: 0x100 })))
        );
    }

    #[test]
    fn zero_id_with_next_is_a_capability() {
        // A null capability (ID 0) that links on is walked over, not taken as the end.
        let cfg = space(|off| match off {
            0x100 => Some(header(0, 0, 0x180)),
            0x180 => Some(header(EXT_CAP_ID_PASID, 1, 0)),
            _ => Some(0),
        });
        let (caps, err) = TranslationCaps::find(&cfg);
        assert_eq!((caps.pasid, err), (Some(0x180), None));
    }

    #[test]
    fn longest_possible_chain_is_bounded() {
        // Every slot links to the next one; the last points back to the first.
        let cfg = space(|off| {
            let next = if off == 0xffc { 0x100 } else { off + 4 };
            Some(header(0x1, 1, next))
        });
        let (caps, errors, last) = walk(&cfg);
        assert_eq!((caps, errors), (EXT_SLOTS, 1));
        assert_eq!(
            last,
            Some(Err(WalkError::Loop {
                from: 0xffc,
                to: 0x100
            }))
        );
    }

    #[test]
    fn first_of_duplicate_capabilities_wins() {
        let cfg = space(|off| match off {
            0x100 => Some(header(EXT_CAP_ID_ATS, 1, 0x140)),
            0x140 => Some(header(EXT_CAP_ID_ATS, 1, 0)),
            _ => Some(0),
        });
        let (caps, _) = TranslationCaps::find(&cfg);
        assert_eq!(caps.ats, Some(0x100));
    }

    #[test]
    fn caps_found_before_a_break_are_kept() {
        let cfg = space(|off| match off {
            0x100 => Some(header(EXT_CAP_ID_PASID, 1, 0x100)),
            _ => Some(0),
        });
        let (caps, err) = TranslationCaps::find(&cfg);
        assert_eq!(caps.pasid, Some(0x100));
        assert_eq!(
            err,
            Some(WalkError::Loop {
                from: 0x100,
                to: 0x100
            })
        );
    }
}
