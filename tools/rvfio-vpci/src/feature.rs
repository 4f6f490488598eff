// SPDX-License-Identifier: GPL-2.0

//! The payload of `RVFIO_DEVICE_FEATURE_PCI_PASID_ATS` (`include/uapi/linux/rvfio.h`), decoded.

/// `RVFIO_PCI_ABILITY_*`.
pub const PASID: u32 = 1 << 0;
pub const PASID_EXEC: u32 = 1 << 1;
pub const PASID_PRIV: u32 = 1 << 2;
pub const PASID_IOMMU: u32 = 1 << 3;
pub const ATS: u32 = 1 << 8;
pub const ATS_PAGE_ALIGNED: u32 = 1 << 9;
pub const PRI: u32 = 1 << 16;
pub const LAYOUT_INCOMPLETE: u32 = 1 << 31;

/// `sizeof(struct rvfio_device_feature_pci_pasid_ats)`, without its free ranges.
pub const FIXED_SIZE: usize = 24;
/// `sizeof(struct rvfio_pci_config_range)`.
pub const RANGE_SIZE: usize = 4;

/// What the driver says of the device's PASID, ATS and PRI and of free extended config space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Feature {
    pub abilities: u32,
    /// Physical offsets, 0 where the device has no such capability.
    pub pasid_offset: u16,
    pub ats_offset: u16,
    pub pri_offset: u16,
    pub pasid_width: u8,
    /// Invalidate queue depth, 1 to 32; 0 without ATS.
    pub ats_queue: u8,
    pub pri_requests: u32,
    /// The free ranges of the user's view, (offset, length).
    pub free: Vec<(u16, u16)>,
}

impl Feature {
    /// Whether every bit of `bits` is among the abilities.
    pub fn has(&self, bits: u32) -> bool {
        self.abilities & bits == bits
    }

    /// Whether `start..start + len` lies inside one free range.
    pub fn is_free(&self, start: u16, len: u16) -> bool {
        let end = u32::from(start) + u32::from(len);
        self.free
            .iter()
            .any(|&(at, size)| at <= start && end <= u32::from(at) + u32::from(size))
    }

    /// Decodes a payload; `None` if it is shorter than the ranges it announces (the caller
    /// asks again with room for them).
    pub fn decode(payload: &[u8]) -> Option<Feature> {
        let u16_at = |at: usize| u16::from_le_bytes([payload[at], payload[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(payload[at..at + 4].try_into().unwrap());
        if payload.len() < FIXED_SIZE {
            return None;
        }
        let ranges = usize::from(u16_at(20));
        if payload.len() < FIXED_SIZE + ranges * RANGE_SIZE {
            return None;
        }
        let free = (0..ranges)
            .map(|i| {
                let at = FIXED_SIZE + i * RANGE_SIZE;
                (u16_at(at), u16_at(at + 2))
            })
            .collect();
        Some(Feature {
            abilities: u32_at(4),
            pasid_offset: u16_at(8),
            ats_offset: u16_at(10),
            pri_offset: u16_at(12),
            pasid_width: payload[14],
            ats_queue: payload[15],
            pri_requests: u32_at(16),
            free,
        })
    }

    /// How many free ranges a payload announces.
    pub fn announced_ranges(payload: &[u8]) -> usize {
        payload
            .get(20..22)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    }
}
