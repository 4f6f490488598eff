// SPDX-License-Identifier: GPL-2.0

//! The `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS` device feature: what the device can do with
//! PASID, ATS and PRI, where those capabilities physically are, and which extended config
//! space the user's view leaves free.
//!
//! The payload layout and its rules are those of `include/uapi/linux/rvfio.h` and
//! `Documentation/uapi.rst`. Pure code: reading the capabilities, checking a request and
//! encoding the answer make no kernel calls.

use super::pci_caps::{read_dword_in, ConfigSpace, TranslationCaps, WalkError};
use super::view::{ExtLayout, MAX_FREE_RANGES};
use crate::bytes::put;

/// The feature's index, `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS`: the first of the top 4096
/// indices of the 16-bit space, which upstream VFIO does not allocate.
pub(crate) const FEATURE_INDEX: u16 = 0xf000;

/// `VFIO_DEVICE_FEATURE_GET`, `_SET` and `_PROBE` (`linux/vfio.h`).
pub(crate) const FEATURE_GET: u32 = 1 << 16;
/// See [`FEATURE_GET`].
pub(crate) const FEATURE_SET: u32 = 1 << 17;
/// See [`FEATURE_GET`].
pub(crate) const FEATURE_PROBE: u32 = 1 << 18;

/// Bits of the `abilities` field (`RVFIO_PCI_ABILITY_*`).
pub(crate) mod ability {
    /// The device has a PASID capability whose registers read.
    pub(crate) const PASID: u32 = 1 << 0;
    /// PASID Execute Permission Supported.
    pub(crate) const PASID_EXEC: u32 = 1 << 1;
    /// PASID Privileged Mode Supported.
    pub(crate) const PASID_PRIV: u32 = 1 << 2;
    /// The platform IOMMU can attach PASIDs for this device.
    pub(crate) const PASID_IOMMU: u32 = 1 << 3;
    /// The device has an ATS capability whose registers read.
    pub(crate) const ATS: u32 = 1 << 8;
    /// ATS Page Aligned Request.
    pub(crate) const ATS_PAGE_ALIGNED: u32 = 1 << 9;
    /// The device has a PRI capability whose registers read.
    pub(crate) const PRI: u32 = 1 << 16;
    /// PRG Response PASID Required.
    pub(crate) const PRI_PRG_RESPONSE_PASID: u32 = 1 << 17;
    /// The user-visible extended capability chain is broken: the free ranges account only for
    /// the capabilities before the break.
    pub(crate) const LAYOUT_INCOMPLETE: u32 = 1 << 31;
}

/// Size of the fixed part of the payload, `struct rvfio_device_feature_pci_pasid_ats`.
pub(crate) const FIXED_SIZE: usize = 24;

/// Size of one free range, `struct rvfio_pci_config_range`.
const RANGE_SIZE: usize = 4;

/// The largest payload the feature ever writes: the fixed part and every free range there
/// can be. Bytes of the user's buffer past it are left alone.
pub(crate) const MAX_SIZE: usize = FIXED_SIZE + MAX_FREE_RANGES * RANGE_SIZE;

/// Offsets of the payload's fields.
mod field {
    pub(super) const FLAGS: usize = 0;
    pub(super) const ABILITIES: usize = 4;
    pub(super) const PASID_OFFSET: usize = 8;
    pub(super) const ATS_OFFSET: usize = 10;
    pub(super) const PRI_OFFSET: usize = 12;
    pub(super) const PASID_MAX_WIDTH: usize = 14;
    pub(super) const ATS_INVALIDATE_QUEUE_DEPTH: usize = 15;
    pub(super) const PRI_MAX_REQUESTS: usize = 16;
    pub(super) const NR_FREE_RANGES: usize = 20;
    pub(super) const RESERVED: usize = 22;
}

/// A capability found in the chain, with the registers this feature reads from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found<R> {
    /// Offset of the capability's header.
    pub(crate) offset: u16,
    /// Its registers; `None` if they lie past the end of config space or do not read.
    pub(crate) regs: Option<R>,
}

/// The registers of a PRI capability this feature reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PriRegs {
    /// Page Request Status register.
    pub(crate) status: u16,
    /// Outstanding Page Request Capacity register.
    pub(crate) capacity: u32,
}

/// The physical PASID, ATS and PRI capabilities of a device.
///
/// Read once, when the driver binds: the fields reported are read-only capability registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PhysicalCaps {
    /// The PASID capability, with its PASID Capability register.
    pub(crate) pasid: Option<Found<u16>>,
    /// The ATS capability, with its ATS Capability register.
    pub(crate) ats: Option<Found<u16>>,
    /// The PRI capability.
    pub(crate) pri: Option<Found<PriRegs>>,
}

impl PhysicalCaps {
    /// Finds the capabilities in the physical config space `cfg` and reads their registers.
    ///
    /// Returns what was found before the chain broke, and the break if it did.
    pub(crate) fn read<C: ConfigSpace + ?Sized>(cfg: &C) -> (Self, Option<WalkError>) {
        let (offsets, err) = TranslationCaps::find(cfg);
        let high_half = |offset: u16| Some((dword(cfg, offset.checked_add(4)?)? >> 16) as u16);
        let low_half = |offset: u16| Some(dword(cfg, offset.checked_add(4)?)? as u16);
        let caps = Self {
            pasid: offsets.pasid.map(|offset| Found {
                offset,
                regs: low_half(offset),
            }),
            ats: offsets.ats.map(|offset| Found {
                offset,
                regs: low_half(offset),
            }),
            pri: offsets.pri.map(|offset| Found {
                offset,
                regs: (|| {
                    Some(PriRegs {
                        status: high_half(offset)?,
                        capacity: dword(cfg, offset.checked_add(8)?)?,
                    })
                })(),
            }),
        };
        (caps, err)
    }
}

/// Reads the aligned dword at `offset` if it lies in `cfg` and reads as something other than
/// all ones.
fn dword<C: ConfigSpace + ?Sized>(cfg: &C, offset: u16) -> Option<u32> {
    read_dword_in(cfg, offset).filter(|&value| value != u32::MAX)
}

/// What a `VFIO_DEVICE_FEATURE` call for this feature asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// `VFIO_DEVICE_FEATURE_PROBE`: is the feature supported (and GET with it)?
    Probe,
    /// `VFIO_DEVICE_FEATURE_GET`, writing `out_len` bytes of payload.
    Get {
        /// Bytes to write: the user's size, at most [`MAX_SIZE`].
        out_len: usize,
    },
}

/// Why a call for this feature is refused. Every refusal is `EINVAL`, as
/// `vfio_check_feature` gives for the same mistakes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `VFIO_DEVICE_FEATURE_SET`, with or without PROBE: the feature is read-only.
    Set,
    /// Neither GET nor PROBE.
    NoOperation,
    /// GET with a payload shorter than the fixed part.
    Short,
    /// GET with the `flags` or `reserved` input fields not zero.
    InputNotZero,
}

/// Checks a call's flags and payload size (`argsz` minus the `vfio_device_feature` header).
pub(crate) fn check_request(flags: u32, payload_size: usize) -> Result<Request, Refusal> {
    if flags & FEATURE_SET != 0 {
        return Err(Refusal::Set);
    }
    if flags & FEATURE_PROBE != 0 {
        return Ok(Request::Probe);
    }
    if flags & FEATURE_GET == 0 {
        return Err(Refusal::NoOperation);
    }
    if payload_size < FIXED_SIZE {
        return Err(Refusal::Short);
    }
    Ok(Request::Get {
        out_len: payload_size.min(MAX_SIZE),
    })
}

/// Checks the input fields of a GET payload: `flags` and `reserved` must be zero.
pub(crate) fn check_input(fixed: &[u8; FIXED_SIZE]) -> Result<(), Refusal> {
    let flags = &fixed[field::FLAGS..field::FLAGS + 4];
    let reserved = &fixed[field::RESERVED..field::RESERVED + 2];
    if flags.iter().chain(reserved).any(|&byte| byte != 0) {
        return Err(Refusal::InputNotZero);
    }
    Ok(())
}

/// The answer to a GET.
pub(crate) struct Report<'a> {
    /// The device's physical capabilities.
    pub(crate) caps: &'a PhysicalCaps,
    /// Whether the platform IOMMU can attach PASIDs for the device.
    pub(crate) iommu_pasid: bool,
    /// The layout of the config space the user sees.
    pub(crate) layout: &'a ExtLayout,
}

impl Report<'_> {
    /// The `abilities` bits.
    pub(crate) fn abilities(&self) -> u32 {
        let mut bits = 0;
        if let Some(cap) = self.caps.pasid.and_then(|found| found.regs) {
            bits |= ability::PASID;
            bits |= flag_if(cap & (1 << 1) != 0, ability::PASID_EXEC);
            bits |= flag_if(cap & (1 << 2) != 0, ability::PASID_PRIV);
        }
        bits |= flag_if(self.iommu_pasid, ability::PASID_IOMMU);
        if let Some(cap) = self.caps.ats.and_then(|found| found.regs) {
            bits |= ability::ATS;
            bits |= flag_if(cap & (1 << 5) != 0, ability::ATS_PAGE_ALIGNED);
        }
        if let Some(regs) = self.caps.pri.and_then(|found| found.regs) {
            bits |= ability::PRI;
            bits |= flag_if(
                regs.status & (1 << 15) != 0,
                ability::PRI_PRG_RESPONSE_PASID,
            );
        }
        bits | flag_if(self.layout.broken().is_some(), ability::LAYOUT_INCOMPLETE)
    }

    /// Writes the payload into `out`, whose length is the `out_len` of [`Request::Get`]: the
    /// fixed part, as many free ranges as fit, and zeros after the last one written. A buffer
    /// shorter than the fixed part, which [`check_request`] never asks for, is left alone.
    pub(crate) fn encode(&self, out: &mut [u8]) {
        if out.len() < FIXED_SIZE {
            return;
        }
        out.fill(0);
        let pasid = self.caps.pasid.and_then(|found| found.regs);
        let ats = self.caps.ats.and_then(|found| found.regs);
        let pri = self.caps.pri.and_then(|found| found.regs);
        let offset = |found: Option<u16>| found.unwrap_or(0).to_ne_bytes();

        put(out, field::ABILITIES, &self.abilities().to_ne_bytes());
        put(
            out,
            field::PASID_OFFSET,
            &offset(self.caps.pasid.map(|f| f.offset)),
        );
        put(
            out,
            field::ATS_OFFSET,
            &offset(self.caps.ats.map(|f| f.offset)),
        );
        put(
            out,
            field::PRI_OFFSET,
            &offset(self.caps.pri.map(|f| f.offset)),
        );
        let width = pasid.map_or(0, |cap| ((cap >> 8) & 0x1f) as u8);
        put(out, field::PASID_MAX_WIDTH, &[width]);
        // An Invalidate Queue Depth of 0 means 32.
        let depth = ats.map_or(0, |cap| match (cap & 0x1f) as u8 {
            0 => 32,
            depth => depth,
        });
        put(out, field::ATS_INVALIDATE_QUEUE_DEPTH, &[depth]);
        let requests = pri.map_or(0, |regs| regs.capacity);
        put(out, field::PRI_MAX_REQUESTS, &requests.to_ne_bytes());

        let mut count: u16 = 0;
        let mut entries = out[FIXED_SIZE..].chunks_exact_mut(RANGE_SIZE);
        for range in self.layout.free_ranges() {
            if let Some(entry) = entries.next() {
                put(entry, 0, &range.start.to_ne_bytes());
                put(entry, 2, &range.len().to_ne_bytes());
            }
            count += 1;
        }
        put(out, field::NR_FREE_RANGES, &count.to_ne_bytes());
    }
}

fn flag_if(condition: bool, flag: u32) -> u32 {
    if condition {
        flag
    } else {
        0
    }
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_pasid_ats))]
mod tests {
    use super::super::pci_caps::testing::{ext, Sparse};
    use super::super::pci_caps::{EXT_CAP_ID_ATS, EXT_CAP_ID_PASID, EXT_CAP_ID_PRI};
    use super::*;

    /// The abilities of the device `cfg`, with its payload encoded into `out`.
    fn answer<C: ConfigSpace>(cfg: &C, iommu_pasid: bool, out: &mut [u8]) -> u32 {
        let (caps, _) = PhysicalCaps::read(cfg);
        let layout = ExtLayout::of(cfg);
        let report = Report {
            caps: &caps,
            iommu_pasid,
            layout: &layout,
        };
        report.encode(out);
        report.abilities()
    }

    fn u16_at(out: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes([out[at], out[at + 1]])
    }

    fn u32_at(out: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]])
    }

    #[test]
    fn requests_follow_vfio_check_feature() {
        use Refusal::*;
        let get = |size| check_request(u32::from(FEATURE_INDEX) | FEATURE_GET, size);
        assert_eq!(check_request(FEATURE_SET, 100), Err(Set));
        assert_eq!(check_request(FEATURE_SET | FEATURE_PROBE, 0), Err(Set));
        assert_eq!(
            check_request(FEATURE_GET | FEATURE_SET | FEATURE_PROBE, 0),
            Err(Set)
        );
        assert_eq!(check_request(FEATURE_PROBE, 0), Ok(Request::Probe));
        assert_eq!(
            check_request(FEATURE_PROBE | FEATURE_GET, 0),
            Ok(Request::Probe)
        );
        assert_eq!(check_request(0, 100), Err(NoOperation));
        assert_eq!(get(0), Err(Short));
        assert_eq!(get(FIXED_SIZE - 1), Err(Short));
        assert_eq!(
            get(FIXED_SIZE),
            Ok(Request::Get {
                out_len: FIXED_SIZE
            })
        );
        assert_eq!(
            get(FIXED_SIZE + 6),
            Ok(Request::Get {
                out_len: FIXED_SIZE + 6
            })
        );
        assert_eq!(get(usize::MAX), Ok(Request::Get { out_len: MAX_SIZE }));
    }

    #[test]
    fn input_fields_must_be_zero() {
        let mut fixed = [0xffu8; FIXED_SIZE];
        fixed[..4].fill(0);
        fixed[22..].fill(0);
        assert_eq!(check_input(&fixed), Ok(()));
        fixed[3] = 1;
        assert_eq!(check_input(&fixed), Err(Refusal::InputNotZero));
        fixed[3] = 0;
        fixed[23] = 0x80;
        assert_eq!(check_input(&fixed), Err(Refusal::InputNotZero));
    }

    #[test]
    fn physical_registers_become_abilities() {
        // PASID (width 20, exec, priv) at 0x100, ATS (depth 0 = 32, page aligned) at 0x108,
        // PRI (PASID required, 512 requests) at 0x110.
        let cfg = Sparse::new([
            (0x100, ext(EXT_CAP_ID_PASID, 1, 0x108)),
            (0x104, 0x0000_1406),
            (0x108, ext(EXT_CAP_ID_ATS, 1, 0x110)),
            (0x10c, 0x0000_0020),
            (0x110, ext(EXT_CAP_ID_PRI, 1, 0)),
            (0x114, 0x8000_0000),
            (0x118, 512),
        ]);
        let (caps, err) = PhysicalCaps::read(&cfg);
        assert_eq!(err, None);
        let layout = ExtLayout::of(&cfg);
        let report = Report {
            caps: &caps,
            iommu_pasid: true,
            layout: &layout,
        };
        use ability::*;
        assert_eq!(
            report.abilities(),
            PASID
                | PASID_EXEC
                | PASID_PRIV
                | PASID_IOMMU
                | ATS
                | ATS_PAGE_ALIGNED
                | PRI
                | PRI_PRG_RESPONSE_PASID
        );
        let mut out = [0xee; FIXED_SIZE + 8];
        report.encode(&mut out);
        assert_eq!(u32_at(&out, 0), 0);
        assert_eq!(
            (u16_at(&out, 8), u16_at(&out, 10), u16_at(&out, 12)),
            (0x100, 0x108, 0x110)
        );
        assert_eq!((out[14], out[15], u32_at(&out, 16)), (20, 32, 512));
        // Free: 0x120..0x1000 only (PASID 8 + ATS 8 + PRI 16 bytes from 0x100).
        assert_eq!((u16_at(&out, 20), u16_at(&out, 22)), (1, 0));
        assert_eq!(
            (u16_at(&out, 24), u16_at(&out, 26)),
            (0x120, 0x1000 - 0x120)
        );
        assert_eq!(&out[28..], &[0; 4]);
    }

    #[test]
    fn ats_only_device() {
        // virtio-net-pci with ats=on: ATS at 0x100, depth 0 (= 32), not page aligned.
        let cfg = Sparse::new([(0x100, ext(EXT_CAP_ID_ATS, 1, 0))]);
        let mut out = [0; FIXED_SIZE];
        assert_eq!(answer(&cfg, false, &mut out), ability::ATS);
        assert_eq!(
            (u16_at(&out, 8), u16_at(&out, 10), out[14], out[15]),
            (0, 0x100, 0, 32)
        );
        assert_eq!(u16_at(&out, 20), 1);
    }

    #[test]
    fn short_buffers_get_the_count_and_no_more() {
        let cfg = Sparse::new([
            (0x100, ext(0x0001, 2, 0x150)),
            (0x150, ext(0x000e, 1, 0x160)),
            (0x160, ext(0x0010, 1, 0)),
        ]);
        let caps = PhysicalCaps::default();
        let layout = ExtLayout::of(&cfg);
        let report = Report {
            caps: &caps,
            iommu_pasid: false,
            layout: &layout,
        };
        // Room for one and a half entries: one written, the half left zero.
        let mut out = [0xee; FIXED_SIZE + 6];
        report.encode(&mut out);
        assert_eq!(u16_at(&out, 20), 3);
        assert_eq!((u16_at(&out, 24), u16_at(&out, 26)), (0x148, 8));
        assert_eq!(&out[28..], &[0, 0]);
        // Shorter than the fixed part: untouched.
        let mut tiny = [0xee; FIXED_SIZE - 1];
        report.encode(&mut tiny);
        assert!(tiny.iter().all(|&b| b == 0xee));
    }

    #[test]
    fn truncated_capabilities_keep_their_offset_but_no_abilities() {
        // PASID header in the last dword: its capability register is past the end.
        let cfg = Sparse::new([
            (0x100, ext(0x0001, 2, 0xffc)),
            (0xffc, ext(EXT_CAP_ID_PASID, 1, 0)),
        ]);
        let (caps, err) = PhysicalCaps::read(&cfg);
        assert_eq!(err, None);
        assert_eq!(
            caps.pasid,
            Some(Found {
                offset: 0xffc,
                regs: None
            })
        );
        let layout = ExtLayout::of(&cfg);
        let report = Report {
            caps: &caps,
            iommu_pasid: false,
            layout: &layout,
        };
        assert_eq!(report.abilities(), 0);
        // Unreadable PRI registers: PRI is not reported either.
        let cfg = Sparse {
            size: 0x1000,
            dwords: [(0x100, ext(EXT_CAP_ID_PRI, 1, 0))],
            unreadable: &[0x108],
        };
        let (caps, _) = PhysicalCaps::read(&cfg);
        assert_eq!(
            caps.pri,
            Some(Found {
                offset: 0x100,
                regs: None
            })
        );
    }

    #[test]
    fn broken_layout_is_flagged() {
        let cfg = Sparse::new([(0x100, ext(EXT_CAP_ID_ATS, 1, 0x100))]);
        let mut out = [0; FIXED_SIZE];
        assert_eq!(
            answer(&cfg, false, &mut out),
            ability::ATS | ability::LAYOUT_INCOMPLETE
        );
    }

    #[test]
    fn real_dumps_report_their_capabilities() {
        for (_, text) in super::super::pci_caps::testing::DUMPS {
            let dump = super::super::pci_caps::testing::Dump(text);
            let (caps, err) = PhysicalCaps::read(&dump);
            assert_eq!(err, None);
            let offset_of = |found: Option<Found<_>>| found.map(|f: Found<_>| f.offset);
            assert_eq!(offset_of(caps.pasid), dump.expected_offset("expect-pasid:"));
            assert_eq!(
                caps.ats.map(|f| f.offset),
                dump.expected_offset("expect-ats:")
            );
            assert_eq!(
                caps.pri.map(|f| f.offset),
                dump.expected_offset("expect-pri:")
            );
            assert!(caps.pasid.is_none_or(|f| f.regs.is_some()));
            assert!(caps.ats.is_none_or(|f| f.regs.is_some()));
            assert!(caps.pri.is_none_or(|f| f.regs.is_some()));
        }
    }
}
