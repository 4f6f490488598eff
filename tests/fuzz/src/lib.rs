// SPDX-License-Identifier: GPL-2.0

//! Fuzzing harness for the pure modules of rvfio-pci, compiled from the driver's own source
//! files (as `tests/host/` does), so their `pub(crate)` items are reachable from here.
//!
//! The `config_walk` target turns its input into a [`Cfg`] and calls [`exercise`], which runs
//! every pure function that reads config space and checks what each documents about its
//! result; the `stream_decode` target feeds its input to the migration stream decoder
//! ([`stream::exercise_stream`]); the `dma_log` target runs the igb's DMA tracker against a
//! model of the device, and the dirty log's page set against a bitmap
//! ([`dma_log::exercise_dma_log`]). To fuzz a new pure module: include it below with `#[path]`,
//! and call it from a target's `exercise` function.

#![allow(dead_code)]

#[path = "../../../drivers/vfio/pci/rvfio/bytes.rs"]
mod bytes;

#[path = "../../../drivers/vfio/pci/rvfio/config"]
mod config {
    pub(crate) mod pasid_ats;
    pub(crate) mod pci_caps;
    pub(crate) mod view;
}

#[path = "../../../drivers/vfio/pci/rvfio/migration"]
mod migration {
    pub(crate) mod dirty;
    pub(crate) mod stream;
}

#[path = "../../../drivers/vfio/pci/rvfio/vfio"]
mod vfio {
    pub(crate) mod mmap_rules;
}

#[path = "../../../drivers/vfio/pci/rvfio/personality/mod.rs"]
mod personality;

pub mod dma_log;
pub mod stream;

use core::cell::Cell;

use config::pasid_ats::{self, PhysicalCaps, Report};
use config::pci_caps::{
    ext_cap_len, ConfigSpace, ExtCap, ExtCaps, StdCaps, TranslationCaps, WalkError,
};
use config::pci_caps::{
    EXT_CAP_ID_ATS, EXT_CAP_ID_PASID, EXT_CAP_ID_PRI, EXT_CAP_START, EXT_CONFIG_SIZE,
};
use config::view::{ExtLayout, PasidHiding, UserView, MAX_FREE_RANGES};

/// Bytes of fuzz input before the config space contents.
pub const INPUT_HEADER_LEN: usize = 2;

/// Longest fuzz input that matters: the header and a full PCI Express config space.
pub const MAX_INPUT_LEN: usize = INPUT_HEADER_LEN + EXT_CONFIG_SIZE as usize;

/// Bit of the first input byte that makes the config space 4096 bytes instead of 256.
pub const FLAG_EXPRESS: u8 = 1 << 0;

/// Bit of the first input byte that makes some dwords unreadable (see [`Cfg::from_fuzz_input`]).
pub const FLAG_UNREADABLE: u8 = 1 << 1;

/// Most items any walk of the extended capability chain may yield: one per dword slot of
/// extended config space, then one error.
pub const MAX_WALK_ITEMS: usize = (EXT_CONFIG_SIZE - EXT_CAP_START) as usize / 4 + 1;

/// A config space made from fuzz input.
pub struct Cfg {
    size: u16,
    bytes: [u8; EXT_CONFIG_SIZE as usize],
    /// Reads of dwords whose index modulo 256 is this fail.
    unreadable: Option<u8>,
    /// Dwords read through [`ConfigSpace::read_dword`] since the last [`Cfg::reset_reads`].
    reads: Cell<usize>,
}

impl Cfg {
    /// Makes a config space from fuzz input.
    ///
    /// Input byte 0 holds flags: bit 0 ([`FLAG_EXPRESS`]) set gives a config space of 4096
    /// bytes, clear one of 256; bit 1 ([`FLAG_UNREADABLE`]) set makes input byte 1 select
    /// dwords whose reads fail: those whose index (offset / 4) modulo 256 equals it, so one
    /// in conventional config space and four in PCI Express config space. Bits 7:2 are free
    /// for later use. The bytes after the first two are config space from offset 0 on; what
    /// they do not cover reads as zero, and bytes past the end of config space are ignored.
    pub fn from_fuzz_input(data: &[u8]) -> Self {
        let (head, body) = data.split_at(data.len().min(INPUT_HEADER_LEN));
        let flags = head.first().copied().unwrap_or(0);
        let size = if flags & FLAG_EXPRESS != 0 {
            EXT_CONFIG_SIZE
        } else {
            EXT_CAP_START
        };
        let unreadable = (flags & FLAG_UNREADABLE != 0).then(|| head.get(1).copied().unwrap_or(0));
        let mut bytes = [0; EXT_CONFIG_SIZE as usize];
        let len = body.len().min(usize::from(size));
        bytes[..len].copy_from_slice(&body[..len]);
        Self {
            size,
            bytes,
            unreadable,
            reads: Cell::new(0),
        }
    }

    /// The dword at `offset` as [`ConfigSpace::read_dword`] returns it, without checking
    /// the caller or counting the read: what the checks compare results against.
    pub fn peek(&self, offset: u16) -> Option<u32> {
        let at = usize::from(offset);
        if !offset.is_multiple_of(4) || offset >= self.size {
            return None;
        }
        if self.unreadable == Some((offset / 4) as u8) {
            return None;
        }
        let dword = self.bytes[at..at + 4].try_into().unwrap();
        Some(u32::from_le_bytes(dword))
    }

    /// Dwords read through [`ConfigSpace`] since the last [`Cfg::reset_reads`].
    pub fn reads(&self) -> usize {
        self.reads.get()
    }

    /// Starts counting reads afresh.
    pub fn reset_reads(&self) {
        self.reads.set(0);
    }
}

impl ConfigSpace for Cfg {
    fn size(&self) -> u16 {
        self.size
    }

    fn read_dword(&self, offset: u16) -> Option<u32> {
        // The caller's side of the contract: aligned and below the size.
        assert!(
            offset.is_multiple_of(4) && offset < self.size,
            "read_dword({offset:#x}) on a config space of {:#x} bytes",
            self.size
        );
        self.reads.set(self.reads.get() + 1);
        self.peek(offset)
    }
}

/// Runs every pure function that reads config space on `cfg` and checks its results.
///
/// Panics, which a fuzz target reports as a crash, when a check fails.
pub fn exercise(cfg: &Cfg) {
    let (caps, err) = walk_ext_caps(cfg);
    check_ext_chain(cfg, &caps, err);
    check_translation_caps(cfg, &caps, err);
    check_std_caps(cfg);
    for cap in &caps {
        // Any length, but never a read outside config space (Cfg asserts that).
        let _ = ext_cap_len(cfg, *cap);
    }
    // Hide the device's PASID capability, as the driver does, and every other capability in
    // turn, as if it were PASID: that exercises first, middle and last positions.
    let (physical, _) = PhysicalCaps::read(cfg);
    let pasid = physical.pasid.map(|found| found.offset);
    for offset in pasid
        .into_iter()
        .chain(caps.iter().take(8).map(|cap| cap.offset))
    {
        check_hiding(cfg, offset);
    }
    check_layout_and_report(cfg, &physical);
    // New pure functions go here, each followed by the checks of what it documents.
}

/// Checks the standard chain walk: bounded, in range, no capability twice.
fn check_std_caps(cfg: &Cfg) {
    let mut seen = [false; 64];
    let mut items = 0;
    let mut ended = false;
    for item in StdCaps::new(cfg) {
        items += 1;
        assert!(items <= 49, "standard walk yields over 49 items");
        assert!(!ended, "standard walk goes on after its error");
        match item {
            Ok(cap) => {
                let offset = cap.offset;
                assert!(
                    offset.is_multiple_of(4) && (0x40..0x100).contains(&offset),
                    "standard capability at {offset:#x}"
                );
                let slot = &mut seen[usize::from(offset / 4)];
                assert!(!*slot, "standard capability at {offset:#x} yielded twice");
                *slot = true;
            }
            Err(_) => ended = true,
        }
    }
}

/// Checks what [`PasidHiding`] promises for a capability at `pasid`: out of the user's
/// chain, its bytes zero (but for the placeholder header at 0x100), writes to it dropped.
fn check_hiding(cfg: &Cfg, pasid: u16) {
    let Some(hiding) = PasidHiding::new(cfg, pasid) else {
        return;
    };
    let user = UserView::new(cfg, Some(hiding));
    for cap in ExtCaps::new(&user).map_while(Result::ok) {
        assert!(
            cap.offset != pasid || (pasid == EXT_CAP_START && cap.id == 0),
            "hidden capability at {pasid:#x} still in the chain"
        );
    }
    let hidden = hiding.patched_spans()[0].expect("hidden span");
    for at in (hidden.start..hidden.end).step_by(4) {
        if at == EXT_CAP_START {
            continue;
        }
        if let Some(value) = user.read_dword(at) {
            assert_eq!(value, 0, "hidden dword {at:#x} reads {value:#x}");
        }
    }
    for (offset, len) in [
        (0u32, 0x1000u32),
        (u32::from(pasid), 3),
        (u32::from(pasid) + 6, 7),
    ] {
        let parts = hiding.write_parts(offset, len);
        let mut covered = 0;
        for part in parts.into_iter().flatten() {
            assert!(part.start < part.end, "empty write part {part:?}");
            assert!(
                part.end <= hidden.start || part.start >= hidden.end,
                "write part {part:?} reaches the hidden {hidden:?}"
            );
            covered += u32::from(part.len());
        }
        let hidden_in = hidden
            .intersect(offset, len)
            .map_or(0, |s| u32::from(s.len()));
        assert_eq!(covered + hidden_in, len, "write of {len} at {offset:#x}");
    }
}

/// Checks the free ranges of the user's layout and the feature payload built from them.
fn check_layout_and_report(cfg: &Cfg, physical: &PhysicalCaps) {
    let hiding = physical
        .pasid
        .and_then(|found| PasidHiding::new(cfg, found.offset));
    let user = UserView::new(cfg, hiding);
    let layout = ExtLayout::of(&user);
    let mut count = 0;
    let mut last_end = 0;
    for range in layout.free_ranges() {
        count += 1;
        assert!(
            count <= MAX_FREE_RANGES,
            "over {MAX_FREE_RANGES} free ranges"
        );
        assert!(
            range.start.is_multiple_of(4) && range.end.is_multiple_of(4),
            "{range:?} not dword aligned"
        );
        assert!(
            range.start >= EXT_CAP_START && range.end <= cfg.size() && range.start < range.end,
            "{range:?} out of extended config space"
        );
        assert!(
            range.start > last_end || last_end == 0,
            "{range:?} touches the previous one"
        );
        last_end = range.end;
    }
    for cap in ExtCaps::new(&user).map_while(Result::ok) {
        assert!(
            layout
                .free_ranges()
                .all(|r| cap.offset < r.start || cap.offset >= r.end),
            "header at {:#x} in a free range",
            cap.offset
        );
    }
    let report = Report {
        caps: physical,
        iommu_pasid: false,
        layout: &layout,
    };
    for len in [
        pasid_ats::FIXED_SIZE,
        pasid_ats::FIXED_SIZE + 6,
        pasid_ats::MAX_SIZE,
    ] {
        let mut out = vec![0xee; len];
        report.encode(&mut out);
        let nr = u16::from_ne_bytes([out[20], out[21]]);
        assert_eq!(usize::from(nr), count, "nr_free_ranges");
    }
}

/// Walks the extended capability chain to its end, checking the bounds every walk keeps
/// whatever config space holds, and returns the capabilities and the error it yielded.
fn walk_ext_caps(cfg: &Cfg) -> (Vec<ExtCap>, Option<WalkError>) {
    cfg.reset_reads();
    let mut walk = ExtCaps::new(cfg);
    let mut caps: Vec<ExtCap> = Vec::new();
    let mut err = None;
    let mut items = 0;
    let mut seen = [false; (EXT_CONFIG_SIZE / 4) as usize];
    for item in walk.by_ref() {
        items += 1;
        assert!(
            items <= MAX_WALK_ITEMS,
            "walk yields over {MAX_WALK_ITEMS} items"
        );
        assert!(err.is_none(), "walk goes on after its error {err:?}");
        match item {
            Ok(cap) => {
                let offset = cap.offset;
                assert!(
                    offset.is_multiple_of(4) && offset >= EXT_CAP_START && offset < cfg.size(),
                    "capability at {offset:#x} in a config space of {:#x} bytes",
                    cfg.size()
                );
                let slot = &mut seen[usize::from(offset / 4)];
                assert!(!*slot, "capability at {offset:#x} yielded twice");
                *slot = true;
                caps.push(cap);
            }
            Err(e) => {
                // Formatting must not panic either.
                let _ = e.to_string();
                err = Some(e);
            }
        }
    }
    assert_eq!(walk.next(), None, "walk yields more after its end");
    assert!(
        cfg.reads() < MAX_WALK_ITEMS,
        "walk reads {} dwords",
        cfg.reads()
    );
    (caps, err)
}

/// Checks that the walk followed the chain as config space holds it: the first header at
/// 0x100, each next one where the previous one points, and an end where the chain ends.
fn check_ext_chain(cfg: &Cfg, caps: &[ExtCap], err: Option<WalkError>) {
    if cfg.size() <= EXT_CAP_START {
        assert!(
            caps.is_empty() && err.is_none(),
            "walk of conventional config space"
        );
        return;
    }
    let mut next = EXT_CAP_START;
    let mut from = EXT_CAP_START;
    for cap in caps {
        assert!(next != 0, "capability at {:#x} after the end", cap.offset);
        assert_eq!(cap.offset, next, "capability off the chain");
        let header = cfg
            .peek(next)
            .expect("capability read from an unreadable dword");
        assert!(header != 0 && header != u32::MAX, "capability {header:#x}");
        assert_eq!(cap.id, header as u16, "ID of {header:#x}");
        assert_eq!(
            u32::from(cap.version),
            (header >> 16) & 0xf,
            "version of {header:#x}"
        );
        from = next;
        next = ((header >> 20) & 0xffc) as u16;
        assert_eq!(cap.next, next, "next pointer of {header:#x}");
    }
    match err {
        _ if next == 0 => assert_eq!(err, None, "error after a null next pointer"),
        None => assert_eq!(cfg.peek(next), Some(0), "end of the walk before {next:#x}"),
        Some(WalkError::Loop { from: f, to }) => {
            assert_eq!((f, to), (from, next), "{err:?}");
            assert!(
                caps.iter().any(|cap| cap.offset == to),
                "{err:?} is no loop"
            );
        }
        Some(WalkError::OutOfRange { from: f, to }) => {
            assert_eq!((f, to), (from, next), "{err:?}");
            assert!(
                to < EXT_CAP_START || to >= cfg.size(),
                "{err:?} is in range"
            );
        }
        Some(WalkError::Unreadable { offset }) => {
            assert_eq!(offset, next, "{err:?}");
            let header = cfg.peek(offset);
            assert!(
                matches!(header, None | Some(u32::MAX)),
                "{err:?} reads {header:?}"
            );
        }
    }
}

/// Checks that [`TranslationCaps::find`] reports the first PASID, ATS and PRI capabilities
/// of the walk, and its error.
fn check_translation_caps(cfg: &Cfg, caps: &[ExtCap], err: Option<WalkError>) {
    let first = |id| caps.iter().find(|cap| cap.id == id).map(|cap| cap.offset);
    let expected = TranslationCaps {
        pasid: first(EXT_CAP_ID_PASID),
        ats: first(EXT_CAP_ID_ATS),
        pri: first(EXT_CAP_ID_PRI),
    };
    assert_eq!(TranslationCaps::find(cfg), (expected, err));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz input for a PCI Express config space with these dwords from 0x100 on.
    fn express(ext: &[u32]) -> Vec<u8> {
        let mut data = vec![FLAG_EXPRESS, 0];
        data.resize(INPUT_HEADER_LEN + usize::from(EXT_CAP_START), 0);
        data.extend(ext.iter().flat_map(|dword| dword.to_le_bytes()));
        data
    }

    fn header(id: u16, next: u16) -> u32 {
        u32::from(id) | (1 << 16) | (u32::from(next) << 20)
    }

    #[test]
    fn input_layout() {
        let cfg = Cfg::from_fuzz_input(&[]);
        assert_eq!((cfg.size(), cfg.peek(0xfc)), (0x100, Some(0)));
        let cfg = Cfg::from_fuzz_input(&[FLAG_EXPRESS | FLAG_UNREADABLE, 0x41, 1, 2, 3, 4]);
        assert_eq!(cfg.size(), 0x1000);
        assert_eq!(cfg.peek(0), Some(0x0403_0201));
        assert_eq!(cfg.peek(0x104), None);
        assert_eq!(cfg.peek(0x504), None);
        assert_eq!(cfg.peek(0x108), Some(0));
    }

    #[test]
    fn translation_chain() {
        let mut ext = vec![0; 0x20];
        ext[0] = header(EXT_CAP_ID_ATS, 0x140);
        ext[0x10] = header(EXT_CAP_ID_PASID, 0x104);
        ext[1] = header(EXT_CAP_ID_PRI, 0);
        let cfg = Cfg::from_fuzz_input(&express(&ext));
        exercise(&cfg);
        assert_eq!(walk_ext_caps(&cfg).0.len(), 3);
    }

    #[test]
    fn longest_chain() {
        let ext: Vec<u32> = (0x100..0x1000)
            .step_by(4)
            .map(|off| header(1, if off == 0xffc { 0x100 } else { off + 4 }))
            .collect();
        let cfg = Cfg::from_fuzz_input(&express(&ext));
        exercise(&cfg);
        let (caps, err) = walk_ext_caps(&cfg);
        assert_eq!(caps.len() + usize::from(err.is_some()), MAX_WALK_ITEMS);
    }

    #[test]
    fn unreadable_and_conventional() {
        let mut data = express(&[header(EXT_CAP_ID_ATS, 0x200)]);
        data[1] = (0x200 / 4) as u8;
        data[0] |= FLAG_UNREADABLE;
        exercise(&Cfg::from_fuzz_input(&data));
        data[0] &= !FLAG_EXPRESS;
        exercise(&Cfg::from_fuzz_input(&data));
    }
}
