// SPDX-License-Identifier: GPL-2.0

//! Walks the capability chains of a PCI config space that is not trusted.
//!
//! A device, or whatever emulates it, can put anything in config space: loops, pointers into
//! the header or past the end, headers of all ones, capabilities cut off by the end of config
//! space. The walks do bounded work on any input and report where and why they stopped
//! instead of panicking; the extent of a capability is computed without reading past the end.
//!
//! Pure code with no kernel calls: KUnit runs it inside the kernel and `cargo test` runs the
//! same source on the host (see `tests/host/`).

use core::fmt;

/// Size of a conventional PCI config space, and first byte of extended config space.
pub(crate) const EXT_CAP_START: u16 = 0x100;

/// Size of a PCI Express config space.
pub(crate) const EXT_CONFIG_SIZE: u16 = 0x1000;

/// First byte after the standard header, where standard capabilities may start.
const STD_CAP_FIRST: u16 = 0x40;

/// Standard capability ID of Power Management.
const CAP_ID_PM: u8 = 0x01;

/// Standard capability ID of MSI.
const CAP_ID_MSI: u8 = 0x05;

/// Standard capability ID of PCI Express.
pub(crate) const CAP_ID_EXP: u8 = 0x10;

/// Standard capability ID of MSI-X.
const CAP_ID_MSIX: u8 = 0x11;

/// Extended capability ID of Address Translation Services.
pub(crate) const EXT_CAP_ID_ATS: u16 = 0x0f;

/// Extended capability ID of the Page Request Interface.
pub(crate) const EXT_CAP_ID_PRI: u16 = 0x13;

/// Extended capability ID of Process Address Space ID.
pub(crate) const EXT_CAP_ID_PASID: u16 = 0x1b;

/// Number of dword slots in extended config space, which bounds the length of any chain.
pub(crate) const EXT_SLOTS: usize = ((EXT_CONFIG_SIZE - EXT_CAP_START) / 4) as usize;

/// Number of dword slots where standard capabilities may live.
// Only the tests use it (KUnit, the host tests).
#[cfg_attr(not(CONFIG_KUNIT), allow(dead_code))]
const STD_SLOTS: usize = ((EXT_CAP_START - STD_CAP_FIRST) / 4) as usize;

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
    /// Next pointer of the header (bits 31:20, low two bits masked), 0 at the end.
    pub(crate) next: u16,
}

/// Why a walk of a capability chain stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// The capability at `from` (or, for the first standard capability, the Capabilities
    /// Pointer register) points back to `to`, already visited.
    Loop {
        /// Offset of the capability whose next pointer closes the loop.
        from: u16,
        /// Offset the next pointer names.
        to: u16,
    },
    /// The capability at `from` points into the header part of config space (below 0x40 for a
    /// standard capability, below 0x100 for an extended one) or past its end.
    OutOfRange {
        /// Offset of the capability with the bad next pointer.
        from: u16,
        /// Offset the next pointer names.
        to: u16,
    },
    /// The header (or, for standard capabilities, the register naming the first one) at
    /// `offset` could not be read, or read as all ones (no device answered).
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
    /// Extended config space, and the headers already visited in it.
    area: ChainArea<{ EXT_SLOTS.div_ceil(64) }>,
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
            area: ChainArea::new(EXT_CAP_START, cfg.size().min(EXT_CONFIG_SIZE)),
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
        // `offset` is dword aligned by construction: it is 0x100 or a masked next pointer.
        let offset = self.next?;
        let header = match self.area.visit(self.cfg, self.from, offset) {
            Ok(header) => header,
            Err(err) => return self.fail(err),
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
            next,
        }))
    }
}

/// A set of dword slots, `64 * N` of them at most.
pub(crate) struct SlotSet<const N: usize>([u64; N]);

impl<const N: usize> SlotSet<N> {
    /// The empty set.
    pub(crate) const fn new() -> Self {
        Self([0; N])
    }

    /// Adds `slot`; returns whether it was absent. `slot` must be below `64 * N`.
    pub(crate) fn insert(&mut self, slot: usize) -> bool {
        let (word, bit) = (slot / 64, slot % 64);
        let absent = self.0[word] & (1 << bit) == 0;
        self.0[word] |= 1 << bit;
        absent
    }

    /// Whether `slot` is in the set; slots past the end are not.
    pub(crate) fn contains(&self, slot: usize) -> bool {
        self.0
            .get(slot / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }
}

/// The part of config space where a chain's capabilities may live, `first..end`, and the
/// capabilities a walk has visited there: each step of either walk goes through it.
struct ChainArea<const N: usize> {
    first: u16,
    end: u16,
    visited: SlotSet<N>,
}

impl<const N: usize> ChainArea<N> {
    /// The area `first..end`, of at most `64 * N` dwords, nothing visited yet.
    const fn new(first: u16, end: u16) -> Self {
        Self {
            first,
            end,
            visited: SlotSet::new(),
        }
    }

    /// Visits the dword-aligned `to`, which the register or capability at `from` names, and
    /// reads the dword there: refused if it lies outside the area, was visited before, or does
    /// not read (or reads as all ones).
    fn visit<C: ConfigSpace + ?Sized>(
        &mut self,
        cfg: &C,
        from: u16,
        to: u16,
    ) -> Result<u32, WalkError> {
        if to < self.first || to >= self.end {
            return Err(WalkError::OutOfRange { from, to });
        }
        if !self.visited.insert(usize::from((to - self.first) / 4)) {
            return Err(WalkError::Loop { from, to });
        }
        match cfg.read_dword(to) {
            Some(u32::MAX) | None => Err(WalkError::Unreadable { offset: to }),
            Some(value) => Ok(value),
        }
    }
}

/// A standard capability found in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StdCap {
    /// Capability ID (byte 0 of the capability).
    pub(crate) id: u8,
    /// Offset of the capability in config space.
    pub(crate) offset: u16,
}

/// Iterator over the standard capability chain, the one in the first 256 bytes.
///
/// Follows the Capabilities Pointer (at 0x34, or 0x14 in a CardBus bridge header) when the
/// Status register says there is a list. As in the PCI core, the low two bits of every pointer
/// are ignored and ID 0xff ends the walk. Yields each capability, then at most one
/// [`WalkError`], then nothing: at most 49 items, since each of the 48 dword slots above the
/// header is visited once.
pub(crate) struct StdCaps<'a, C: ConfigSpace + ?Sized> {
    cfg: &'a C,
    /// Offset of the next capability, or `None` once the walk is over.
    next: Option<u16>,
    /// Offset of the register that named `next`.
    from: u16,
    /// The 48 dwords above the header, and the capabilities already visited there.
    area: ChainArea<1>,
    /// An error to report before anything else: the list could not even be located.
    early: Option<WalkError>,
}

/// Offset of the Status register's dword, and the Capabilities List bit in it.
const STATUS_DWORD: u16 = 0x04;
const STATUS_CAP_LIST: u32 = 1 << (16 + 4);
/// Offset of the dword holding the Header Type (bits 23:16).
const HEADER_TYPE_DWORD: u16 = 0x0c;
const HEADER_TYPE_CARDBUS: u32 = 2;
const CAP_POINTER: u16 = 0x34;
const CARDBUS_CAP_POINTER: u16 = 0x14;

impl<'a, C: ConfigSpace + ?Sized> StdCaps<'a, C> {
    /// Starts a walk at the register that points to the first capability.
    pub(crate) fn new(cfg: &'a C) -> Self {
        let mut walk = Self {
            cfg,
            next: None,
            from: CAP_POINTER,
            area: ChainArea::new(STD_CAP_FIRST, cfg.size().min(EXT_CAP_START)),
            early: None,
        };
        match Self::first(cfg) {
            Ok((from, next)) => (walk.from, walk.next) = (from, next),
            Err(err) => walk.early = Some(err),
        }
        walk
    }

    /// Finds the register that names the first capability, and what it names.
    fn first(cfg: &C) -> Result<(u16, Option<u16>), WalkError> {
        let dword = |offset| match cfg.read_dword(offset) {
            Some(u32::MAX) | None => Err(WalkError::Unreadable { offset }),
            Some(value) => Ok(value),
        };
        if dword(STATUS_DWORD)? & STATUS_CAP_LIST == 0 {
            return Ok((CAP_POINTER, None));
        }
        let header_type = (dword(HEADER_TYPE_DWORD)? >> 16) & 0x7f;
        let pointer = if header_type == HEADER_TYPE_CARDBUS {
            CARDBUS_CAP_POINTER
        } else {
            CAP_POINTER
        };
        // Both pointer registers are the low byte of their dword.
        let first = (dword(pointer)? & 0xfc) as u16;
        Ok((pointer, (first != 0).then_some(first)))
    }

    fn fail(&mut self, err: WalkError) -> Option<Result<StdCap, WalkError>> {
        self.next = None;
        Some(Err(err))
    }
}

impl<C: ConfigSpace + ?Sized> Iterator for StdCaps<'_, C> {
    type Item = Result<StdCap, WalkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.early.take() {
            return Some(Err(err));
        }
        // `offset` is a masked byte: dword aligned and below 0x100.
        let offset = self.next?;
        let header = match self.area.visit(self.cfg, self.from, offset) {
            Ok(header) => header,
            Err(err) => return self.fail(err),
        };
        let id = (header & 0xff) as u8;
        if id == 0xff {
            self.next = None;
            return None;
        }
        let next = ((header >> 8) & 0xfc) as u16;
        self.next = (next != 0).then_some(next);
        self.from = offset;
        Some(Ok(StdCap { id, offset }))
    }
}

/// Reads the byte at `offset`, which must lie below the size of `cfg`.
pub(crate) fn read_byte<C: ConfigSpace + ?Sized>(cfg: &C, offset: u16) -> Option<u8> {
    if offset >= cfg.size() {
        return None;
    }
    let dword = cfg.read_dword(offset & !3)?;
    Some((dword >> (8 * (offset & 3))) as u8)
}

/// Reads the dword at the dword-aligned `offset`, which may lie past the end of `cfg`.
pub(crate) fn read_dword_in<C: ConfigSpace + ?Sized>(cfg: &C, offset: u16) -> Option<u32> {
    (offset < cfg.size())
        .then(|| cfg.read_dword(offset))
        .flatten()
}

/// How many bytes the extended capability `cap` spans from its header, by its ID and, for the
/// variable-length ones, its own registers (the sizes of the PCI Express Base Specification).
///
/// `None` when the length is not known: an ID this table does not list (virtual channels,
/// root-complex-only and vendor-defined layouts whose size no register states), or a
/// register needed to size it that lies past the end of config space or does not read. The
/// result may run past the end of config space: the capability is then truncated, which the
/// caller sees by comparing with [`ConfigSpace::size`].
pub(crate) fn ext_cap_len<C: ConfigSpace + ?Sized>(cfg: &C, cap: ExtCap) -> Option<u16> {
    let at = |delta: u16| cap.offset.checked_add(delta);
    let len = match cap.id {
        // A null capability (ID 0) is a header that only links on.
        0x0000 => 4,
        // Advanced Error Reporting, up to and including the TLP Prefix Log.
        0x0001 => 0x48,
        // Device Serial Number.
        0x0003 => 0x0c,
        // Power Budgeting.
        0x0004 => 0x10,
        // Root Complex Event Collector Endpoint Association.
        0x0007 => 0x0c,
        // Vendor-Specific, and Designated Vendor-Specific: the length is in bits 31:20 of the
        // dword after the header; one shorter than the two header dwords is not believable.
        0x000b | 0x0023 => match (read_dword_in(cfg, at(4)?)? >> 20) as u16 {
            len if len < 8 => return None,
            len => len,
        },
        // Access Control Services: the egress control vector follows when the capability
        // register's bit 5 says it exists; its size in bits is in the next byte (0 = 256).
        0x000d => {
            let cap_reg = read_dword_in(cfg, at(4)?)?;
            if cap_reg & (1 << 5) == 0 {
                8
            } else {
                let bits = match (cap_reg >> 8) & 0xff {
                    0 => 256,
                    bits => bits.next_multiple_of(32),
                };
                8 + (bits / 8) as u16
            }
        }
        // Alternative Routing-ID Interpretation, Address Translation Services, Latency
        // Tolerance Reporting, PASID: a header and one dword.
        0x000e | EXT_CAP_ID_ATS | 0x0018 | EXT_CAP_ID_PASID => 8,
        // Single Root I/O Virtualization.
        0x0010 => 0x40,
        // Multicast.
        0x0012 => 0x30,
        // Page Request Interface.
        EXT_CAP_ID_PRI => 0x10,
        // Resizable BAR: a capability and a control dword per BAR, their number (1 to 6) in
        // bits 7:5 of the first control register.
        0x0015 => {
            let bars = (read_byte(cfg, at(8)?)? >> 5) & 0x7;
            4 + 8 * u16::from(bars.max(1))
        }
        // Dynamic Power Allocation: one byte per substate after 0x10 bytes.
        0x0016 => 0x10 + u16::from(read_byte(cfg, at(4)?)? & 0x1f) + 1,
        // TPH Requester: the steering tag table follows when its location (bits 10:9) is the
        // capability itself; bits 26:16 hold the table size minus one, two bytes per entry.
        0x0017 => {
            let cap_reg = read_dword_in(cfg, at(4)?)?;
            if (cap_reg >> 9) & 0x3 == 1 {
                0x0c + 2 * (((cap_reg >> 16) & 0x7ff) as u16 + 1)
            } else {
                0x0c
            }
        }
        // L1 PM Substates.
        0x001e => 0x10,
        // Precision Time Measurement, Data Link Feature.
        0x001f | 0x0025 => 0x0c,
        _ => return None,
    };
    Some(len)
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

/// The read-only fields of a standard capability that say what it offers, as dwords with the
/// writable bits cleared (zero where there are none): Power Management's capabilities; MSI's
/// 64-bit, per-vector masking and multiple-message-capable bits; MSI-X's table size and its
/// table and PBA locations; PCI Express's flags (version, port type) and Device Capabilities 1
/// and 2 (FLR, payload sizes, extended tags, ...). A guest driver reads these once and relies
/// on them, so a device that answers them differently is not the same device to it.
pub(crate) fn std_cap_abilities<C: ConfigSpace + ?Sized>(cfg: &C, cap: &StdCap) -> [u32; 3] {
    // A failed read counts as all ones, the value a failed config read returns.
    let dword = |at: u16| cfg.read_dword(cap.offset + at).unwrap_or(u32::MAX);
    let control = dword(0) >> 16;
    match cap.id {
        CAP_ID_PM => [control, 0, 0],
        CAP_ID_MSI => [control & 0x018e, 0, 0],
        CAP_ID_MSIX => [control & 0x07ff, dword(4), dword(8)],
        CAP_ID_EXP => {
            let devcap2 = if control & 0xf >= 2 { dword(0x24) } else { 0 };
            [control, dword(4), devcap2]
        }
        _ => [0; 3],
    }
}

/// A fingerprint of a config space's layout: its size; in chain order, the ID, offset and
/// abilities ([`std_cap_abilities`]) of every standard capability and the ID, version and
/// offset of every extended one; where each chain broke, if it did. Two devices with the same
/// fingerprint place the same capabilities at the same offsets, and their common capabilities
/// offer the same (FNV-1a, 64 bits).
pub(crate) fn layout_fingerprint<C: ConfigSpace + ?Sized>(cfg: &C) -> u64 {
    struct Fnv(u64);
    impl Fnv {
        fn add(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        fn end(&mut self, broken: Option<WalkError>) {
            self.add(&[if broken.is_some() { 0xee } else { 0xff }]);
        }
    }
    let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
    hash.add(&cfg.size().to_le_bytes());
    let mut broken = None;
    for cap in StdCaps::new(cfg) {
        match cap {
            Ok(cap) => {
                hash.add(&[cap.id]);
                hash.add(&cap.offset.to_le_bytes());
                for word in std_cap_abilities(cfg, &cap) {
                    hash.add(&word.to_le_bytes());
                }
            }
            Err(err) => broken = Some(err),
        }
    }
    hash.end(broken);
    broken = None;
    for cap in ExtCaps::new(cfg) {
        match cap {
            Ok(cap) => {
                hash.add(&cap.id.to_le_bytes());
                hash.add(&[cap.version]);
                hash.add(&cap.offset.to_le_bytes());
            }
            Err(err) => broken = Some(err),
        }
    }
    hash.end(broken);
    hash.0
}

/// Config spaces for the tests of the pure modules.
#[cfg(any(test, CONFIG_KUNIT))]
pub(crate) mod testing {
    use super::ConfigSpace;

    /// A config space given as its nonzero dwords; every other dword reads as zero, except
    /// those listed as unreadable.
    pub(crate) struct Sparse<const N: usize> {
        pub(crate) size: u16,
        pub(crate) dwords: [(u16, u32); N],
        pub(crate) unreadable: &'static [u16],
    }

    impl<const N: usize> Sparse<N> {
        /// A PCI Express config space holding `dwords`.
        pub(crate) const fn new(dwords: [(u16, u32); N]) -> Self {
            Self {
                size: super::EXT_CONFIG_SIZE,
                dwords,
                unreadable: &[],
            }
        }
    }

    impl<const N: usize> ConfigSpace for Sparse<N> {
        fn size(&self) -> u16 {
            self.size
        }

        fn read_dword(&self, offset: u16) -> Option<u32> {
            if self.unreadable.contains(&offset) {
                return None;
            }
            let found = self.dwords.iter().find(|(at, _)| *at == offset);
            Some(found.map_or(0, |(_, value)| *value))
        }
    }

    /// A config space given as an `lspci -xxxx` dump: lines of a 3-digit hex offset, a colon
    /// and 16 hex bytes; `#` lines are comments. Dwords of absent lines do not read.
    pub(crate) struct Dump<'a>(pub(crate) &'a str);

    impl<'a> Dump<'a> {
        /// The hex bytes of the line for `base`, if the dump has it.
        fn line(&self, base: u16) -> Option<&'a str> {
            self.0.lines().find_map(|line| {
                let (offset, bytes) = line.split_once(':')?;
                let offset = u16::from_str_radix(offset.trim(), 16).ok()?;
                (!line.starts_with('#') && offset == base).then_some(bytes)
            })
        }

        /// The value of the `# key: value` comment line.
        pub(crate) fn meta(&self, key: &str) -> Option<&'a str> {
            self.0.lines().find_map(|line| {
                let rest = line.strip_prefix("# ")?.strip_prefix(key)?;
                Some(rest.strip_prefix(':')?.trim())
            })
        }

        /// The offset named after `key` in a comment (`expect-pasid: 0x230`), `None` for
        /// "none"; panics if the key is missing.
        pub(crate) fn expected_offset(&self, key: &str) -> Option<u16> {
            let at = self.0.find(key).expect("key present") + key.len();
            let value = self.0[at..]
                .split_whitespace()
                .next()
                .expect("value present");
            let hex = value.strip_prefix("0x")?;
            Some(u16::from_str_radix(hex, 16).expect("hex offset"))
        }
    }

    impl ConfigSpace for Dump<'_> {
        fn size(&self) -> u16 {
            super::EXT_CONFIG_SIZE
        }

        fn read_dword(&self, offset: u16) -> Option<u32> {
            let bytes = self.line(offset & !0xf)?;
            let mut value = 0u32;
            let first = usize::from(offset & 0xc);
            for (i, byte) in bytes.split_whitespace().skip(first).take(4).enumerate() {
                value |= u32::from(u8::from_str_radix(byte, 16).ok()?) << (8 * i);
            }
            Some(value)
        }
    }

    /// The real-device dumps of `tests/data/config-space/`, by file name.
    pub(crate) const DUMPS: [(&str, &str); 5] = [
        (
            "8086-0b25-dsa",
            include_str!("../../../../../tests/data/config-space/8086-0b25-dsa.txt"),
        ),
        (
            "8086-0d93-cxl",
            include_str!("../../../../../tests/data/config-space/8086-0d93-cxl.txt"),
        ),
        (
            "1002-7300-fiji",
            include_str!("../../../../../tests/data/config-space/1002-7300-fiji.txt"),
        ),
        (
            "1002-731f-navi10-rx5600xt",
            include_str!("../../../../../tests/data/config-space/1002-731f-navi10-rx5600xt.txt"),
        ),
        (
            "14c1-0008-myri10g",
            include_str!("../../../../../tests/data/config-space/14c1-0008-myri10g.txt"),
        ),
    ];

    /// The `expect-ext` chain of a dump: (offset, id) pairs in chain order.
    pub(crate) fn expected_chain<'a>(dump: &Dump<'a>) -> impl Iterator<Item = (u16, u16)> + 'a {
        let chain = dump.meta("expect-ext").expect("expect-ext present");
        chain.split_whitespace().map(|pair| {
            let (offset, id) = pair.split_once(':').expect("offset:id");
            let hex = |text: &str| u16::from_str_radix(text.trim_start_matches("0x"), 16);
            (hex(offset).expect("hex offset"), hex(id).expect("hex id"))
        })
    }

    /// An extended capability header.
    pub(crate) const fn ext(id: u16, version: u8, next: u16) -> u32 {
        id as u32 | ((version as u32) << 16) | ((next as u32) << 20)
    }

    /// A standard capability's first dword: ID, next pointer and a capability-specific half.
    pub(crate) const fn std(id: u8, next: u8, rest: u16) -> u32 {
        id as u32 | ((next as u32) << 8) | ((rest as u32) << 16)
    }
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_caps))]
mod tests {
    use super::testing::Sparse;
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
                offset: 0x100,
                next: 0x200
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

    /// Status says "capability list", header type 0, Capabilities Pointer `first`, plus `rest`.
    fn std_space<const N: usize>(dwords: [(u16, u32); N]) -> testing::Sparse<N> {
        testing::Sparse {
            size: 0x100,
            dwords,
            unreadable: &[],
        }
    }

    const STATUS_CAPS: (u16, u32) = (0x04, 1 << 20);

    fn std_walk<C: ConfigSpace>(cfg: &C) -> (usize, Option<Result<StdCap, WalkError>>) {
        let mut count = 0;
        let mut last = None;
        for item in StdCaps::new(cfg) {
            count += 1;
            last = Some(item);
        }
        (count, last)
    }

    #[test]
    fn std_chain_in_order() {
        use testing::std;
        let dwords = [
            STATUS_CAPS,
            (0x34, 0x40),
            (0x40, std(0x01, 0x50, 0)),
            (0x50, std(0x05, 0x70, 0)),
            (0x70, std(CAP_ID_EXP, 0, 0x2)),
        ];
        let ids: [Option<(u8, u16)>; 4] = {
            let cfg = std_space(dwords);
            let mut it = StdCaps::new(&cfg).map(|c| c.ok().map(|c| (c.id, c.offset)));
            [
                it.next().flatten(),
                it.next().flatten(),
                it.next().flatten(),
                it.next().flatten(),
            ]
        };
        assert_eq!(
            ids,
            [
                Some((0x01, 0x40)),
                Some((0x05, 0x50)),
                Some((CAP_ID_EXP, 0x70)),
                None
            ]
        );
    }

    #[test]
    fn std_no_list_bit_means_no_caps() {
        let dwords = [(0x34, 0x40), (0x40, testing::std(0x01, 0, 0))];
        assert_eq!(std_walk(&std_space(dwords)), (0, None));
    }

    #[test]
    fn std_pointer_into_header_is_out_of_range() {
        let dwords = [
            STATUS_CAPS,
            (0x34, 0x40),
            (0x40, testing::std(0x01, 0x10, 0)),
        ];
        assert_eq!(
            std_walk(&std_space(dwords)),
            (
                2,
                Some(Err(WalkError::OutOfRange {
                    from: 0x40,
                    to: 0x10
                }))
            )
        );
        // The first pointer itself may point into the header.
        let dwords = [STATUS_CAPS, (0x34, 0x3c)];
        assert_eq!(
            std_walk(&std_space(dwords)),
            (
                1,
                Some(Err(WalkError::OutOfRange {
                    from: 0x34,
                    to: 0x3c
                }))
            )
        );
    }

    #[test]
    fn std_loop_and_misaligned_pointer() {
        // 0x43 is masked to 0x40, which closes a loop.
        let dwords = [
            STATUS_CAPS,
            (0x34, 0x43),
            (0x40, testing::std(0x01, 0x81, 0)),
            (0x80, testing::std(0x05, 0x43, 0)),
        ];
        assert_eq!(
            std_walk(&std_space(dwords)),
            (
                3,
                Some(Err(WalkError::Loop {
                    from: 0x80,
                    to: 0x40
                }))
            )
        );
    }

    #[test]
    fn std_cardbus_pointer_and_id_ff_ends() {
        let dwords = [
            STATUS_CAPS,
            (0x0c, 2 << 16),
            (0x14, 0x80),
            (0x80, testing::std(0x01, 0x90, 0)),
            (0x90, testing::std(0xff, 0xa0, 0)),
            (0xa0, testing::std(0x05, 0, 0)),
        ];
        assert_eq!(
            std_walk(&std_space(dwords)),
            (
                1,
                Some(Ok(StdCap {
                    id: 0x01,
                    offset: 0x80
                }))
            )
        );
    }

    #[test]
    fn std_unreadable_registers_are_reported() {
        let cfg = testing::Sparse {
            size: 0x100,
            dwords: [STATUS_CAPS, (0x34, 0x40)],
            unreadable: &[0x40],
        };
        assert_eq!(
            std_walk(&cfg),
            (1, Some(Err(WalkError::Unreadable { offset: 0x40 })))
        );
        let cfg = testing::Sparse {
            size: 0x100,
            dwords: [(0x04, u32::MAX)],
            unreadable: &[],
        };
        assert_eq!(
            std_walk(&cfg),
            (1, Some(Err(WalkError::Unreadable { offset: 0x04 })))
        );
    }

    #[test]
    fn std_longest_chain_is_bounded() {
        // Every slot above the header links to the next; the last links to the first.
        let cfg = space(|off| match off {
            0x04 => Some(1 << 20),
            0x34 => Some(0x40),
            0x40..=0xfc => Some(testing::std(
                0x01,
                if off == 0xfc { 0x40 } else { off as u8 + 4 },
                0,
            )),
            _ => Some(0),
        });
        assert_eq!(
            std_walk(&cfg),
            (
                STD_SLOTS + 1,
                Some(Err(WalkError::Loop {
                    from: 0xfc,
                    to: 0x40
                }))
            )
        );
    }

    #[test]
    fn ext_lengths_by_id_and_registers() {
        use testing::{ext, Sparse};
        let cap = |id, offset| ExtCap {
            id,
            version: 1,
            offset,
            next: 0,
        };
        let dwords = [
            (0x104, 0x018 << 20),        // VSEC length 0x18
            (0x204, 0x20 | (0x40 << 8)), // ACS with a 64-bit egress vector
            (0x304, 0x20),               // ACS egress vector size 0 = 256 bits
            (0x408, 3 << 5),             // Resizable BAR, 3 BARs
            (0x504, 0x200 | (7 << 16)),  // TPH table in the capability, 8 entries
            (0x604, 0x004 << 20),        // VSEC claiming 4 bytes
            (0x700, ext(0x10, 1, 0)),
        ];
        let cfg = Sparse::new(dwords);
        assert_eq!(ext_cap_len(&cfg, cap(0x000b, 0x100)), Some(0x18));
        assert_eq!(ext_cap_len(&cfg, cap(0x000d, 0x200)), Some(8 + 8));
        assert_eq!(ext_cap_len(&cfg, cap(0x000d, 0x300)), Some(8 + 32));
        assert_eq!(ext_cap_len(&cfg, cap(0x0015, 0x400)), Some(4 + 3 * 8));
        assert_eq!(ext_cap_len(&cfg, cap(0x0017, 0x500)), Some(0x0c + 16));
        assert_eq!(ext_cap_len(&cfg, cap(0x000b, 0x600)), None);
        assert_eq!(ext_cap_len(&cfg, cap(0x0010, 0x700)), Some(0x40));
        assert_eq!(ext_cap_len(&cfg, cap(EXT_CAP_ID_PASID, 0x800)), Some(8));
        assert_eq!(ext_cap_len(&cfg, cap(0x0002, 0x900)), None);
        assert_eq!(ext_cap_len(&cfg, cap(0x7fff, 0x900)), None);
    }

    #[test]
    fn truncated_capability_reads_nothing_past_the_end() {
        // A VSEC whose length register would lie past the end of config space, and an SR-IOV
        // capability that starts 0x10 bytes before the end.
        let cfg = Sparse::new([]);
        let vsec = ExtCap {
            id: 0x000b,
            version: 1,
            offset: 0xffc,
            next: 0,
        };
        assert_eq!(ext_cap_len(&cfg, vsec), None);
        let sriov = ExtCap {
            id: 0x0010,
            version: 1,
            offset: 0xff0,
            next: 0,
        };
        assert!(0xff0 + ext_cap_len(&cfg, sriov).unwrap() > cfg.size());
    }

    #[test]
    fn real_dumps_walk_as_published() {
        for (_, text) in testing::DUMPS {
            let dump = testing::Dump(text);
            let mut walked = ExtCaps::new(&dump);
            for (offset, id) in testing::expected_chain(&dump) {
                let cap = walked.next().unwrap().unwrap();
                assert_eq!((cap.offset, cap.id), (offset, id));
            }
            assert_eq!(walked.next(), None);
            let mut pcie = false;
            for cap in StdCaps::new(&dump) {
                pcie |= cap.unwrap().id == CAP_ID_EXP;
            }
            assert!(pcie);
        }
    }

    #[test]
    fn fingerprint_follows_ids_versions_and_offsets() {
        use testing::{ext, std};
        const BASE: [(u16, u32); 6] = [
            (0x04, 0x10 << 16),
            (0x34, 0x40),
            (0x40, std(CAP_ID_EXP, 0x50, 0)),
            (0x50, std(0x11, 0, 0)),
            (0x100, ext(0x01, 2, 0x150)),
            (0x150, ext(0x0e, 1, 0)),
        ];
        // The base with up to two dwords changed: `Sparse` reads the first entry it finds.
        let changed = |changes: [(u16, u32); 2]| {
            let mut dwords = [(0xffc, 0); 8];
            for (i, dword) in changes.into_iter().chain(BASE).enumerate() {
                dwords[i] = dword;
            }
            Sparse::new(dwords)
        };
        let unused = (0xffc, 0);
        let fingerprint = layout_fingerprint(&Sparse::new(BASE));
        assert_eq!(fingerprint, layout_fingerprint(&changed([unused, unused])));
        let variants = [
            // A standard capability moved.
            changed([(0x34, 0x48), (0x48, std(CAP_ID_EXP, 0x50, 0))]),
            // An extended capability with another version.
            changed([(0x100, ext(0x01, 1, 0x150)), unused]),
            // An extended capability moved.
            changed([(0x100, ext(0x01, 2, 0x160)), (0x160, ext(0x0e, 1, 0))]),
            // One capability fewer.
            changed([(0x100, ext(0x01, 2, 0)), unused]),
            // A broken chain.
            changed([(0x150, ext(0x0e, 1, 0x100)), unused]),
        ];
        for variant in &variants {
            assert_ne!(layout_fingerprint(variant), fingerprint);
        }
        // Conventional config space.
        let conventional = Sparse {
            size: 0x100,
            ..Sparse::new(BASE)
        };
        assert_ne!(layout_fingerprint(&conventional), fingerprint);
        // Registers that are neither headers nor abilities do not count.
        let contents = changed([(0x5c, 0xdead_beef), (0x154, 1)]);
        assert_eq!(layout_fingerprint(&contents), fingerprint);
    }

    #[test]
    fn fingerprint_follows_what_capabilities_offer() {
        use testing::std;
        const MSI_64: u16 = 0x0080;
        const BASE: [(u16, u32); 8] = [
            (0x04, 0x10 << 16),
            (0x34, 0x40),
            (0x40, std(CAP_ID_PM, 0x50, 0x0003)),
            (0x50, std(CAP_ID_MSI, 0x60, MSI_64)),
            (0x60, std(CAP_ID_MSIX, 0x70, 0x0009)),
            (0x64, 0x0000_0003),
            (0x68, 0x0000_2003),
            (0x70, std(CAP_ID_EXP, 0, 0x0002)),
        ];
        // The base with up to two dwords changed: `Sparse` reads the first entry it finds.
        let changed = |changes: [(u16, u32); 2]| {
            let mut dwords = [(0xffc, 0); 10];
            for (i, dword) in changes.into_iter().chain(BASE).enumerate() {
                dwords[i] = dword;
            }
            Sparse::new(dwords)
        };
        let unused = (0xffc, 0);
        let fingerprint = layout_fingerprint(&Sparse::new(BASE));
        let offers_other = [
            // Power management: PME from D3cold.
            (0x40, std(CAP_ID_PM, 0x50, 0x8003)),
            // MSI: per-vector masking; more messages.
            (0x50, std(CAP_ID_MSI, 0x60, MSI_64 | 0x0100)),
            (0x50, std(CAP_ID_MSI, 0x60, MSI_64 | 0x0002)),
            // MSI-X: a bigger table; the table moved; the PBA moved.
            (0x60, std(CAP_ID_MSIX, 0x70, 0x000a)),
            (0x64, 0x0000_1003),
            (0x68, 0x0000_3003),
            // PCI Express: another port type; FLR.
            (0x70, std(CAP_ID_EXP, 0, 0x0092)),
            (0x74, 1 << 28),
        ];
        for change in offers_other {
            assert_ne!(layout_fingerprint(&changed([change, unused])), fingerprint);
        }
        // Device Capabilities 2 counts in a version 2 capability only.
        let version_1 = (0x70, std(CAP_ID_EXP, 0, 0x0001));
        let devcap2 = (0x94, 1 << 4);
        assert_ne!(layout_fingerprint(&changed([devcap2, unused])), fingerprint);
        assert_eq!(
            layout_fingerprint(&changed([version_1, devcap2])),
            layout_fingerprint(&changed([version_1, unused]))
        );
        // Writable bits do not count: MSI enable and multiple message enable; MSI-X enable and
        // function mask; PCI Express Device Control and Status.
        let writable = [
            (0x50, std(CAP_ID_MSI, 0x60, MSI_64 | 0x0071)),
            (0x60, std(CAP_ID_MSIX, 0x70, 0xc009)),
            (0x78, 0x000f_2810),
        ];
        for change in writable {
            assert_eq!(layout_fingerprint(&changed([change, unused])), fingerprint);
        }
    }

    #[test]
    fn fingerprints_of_the_real_dumps_differ() {
        let mut seen = [0u64; testing::DUMPS.len()];
        for (i, (_, text)) in testing::DUMPS.iter().enumerate() {
            seen[i] = layout_fingerprint(&testing::Dump(text));
            assert!(!seen[..i].contains(&seen[i]));
        }
    }
}
