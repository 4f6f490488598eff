// SPDX-License-Identifier: GPL-2.0

//! Capability names a description may use instead of IDs, and the sizes the format knows.

use crate::model::Space;

/// (space, ID, name): the capabilities a description names in words.
const NAMES: [(Space, u16, &str); 15] = [
    (Space::Std, 0x01, "pm"),
    (Space::Std, 0x05, "msi"),
    (Space::Std, 0x09, "vndr"),
    (Space::Std, 0x10, "pcie"),
    (Space::Std, 0x11, "msix"),
    (Space::Ext, 0x01, "aer"),
    (Space::Ext, 0x03, "dsn"),
    (Space::Ext, 0x0b, "vsec"),
    (Space::Ext, 0x0d, "acs"),
    (Space::Ext, 0x0e, "ari"),
    (Space::Ext, 0x0f, "ats"),
    (Space::Ext, 0x10, "sriov"),
    (Space::Ext, 0x13, "pri"),
    (Space::Ext, 0x18, "ltr"),
    (Space::Ext, 0x1b, "pasid"),
];

/// The name of capability `id` in `space`, if it has one.
pub fn cap_name(space: Space, id: u16) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(s, i, _)| *s == space && *i == id)
        .map(|(_, _, name)| *name)
}

/// The ID a name or number (`0x` hexadecimal or decimal) stands for in `space`.
pub(crate) fn cap_id(space: Space, word: &str) -> Option<u16> {
    if let Some((_, id, _)) = NAMES.iter().find(|(s, _, n)| *s == space && *n == word) {
        return Some(*id);
    }
    let max = match space {
        Space::Std => 0xfe,
        Space::Ext => 0xffff,
    };
    match word.strip_prefix("0x") {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => word.parse().ok(),
    }
    .filter(|&id| id <= max)
}

/// Bytes a standard capability spans, by its ID and, for MSI and PCI Express, what its
/// abilities say (64-bit addresses and per-vector masking; the capability's version); 4, its
/// header and the register after, for the others.
pub fn std_cap_size(id: u16, abilities: Option<[u32; 3]>) -> u16 {
    let control = abilities.map_or(0, |words| words[0]);
    match id {
        0x01 => 8,
        0x05 => 0x0c + 4 * u16::from(control & 0x80 != 0) + 8 * u16::from(control & 0x100 != 0),
        0x10 if control & 0xf == 1 => 0x24,
        0x10 => 0x3c,
        0x11 => 0x0c,
        _ => 4,
    }
}

/// Bytes an extended capability spans when its ID alone says so (the fixed sizes of the PCI
/// Express Base Specification), as `ext_cap_len()` in the driver's `pci_caps.rs` has them.
pub fn ext_cap_size(id: u16) -> Option<u16> {
    Some(match id {
        0x0000 => 4,
        0x0001 => 0x48,
        0x0003 | 0x0007 | 0x001f | 0x0025 => 0x0c,
        0x0004 | 0x0013 | 0x001e => 0x10,
        0x000e | 0x000f | 0x0018 | 0x001b => 8,
        0x0010 => 0x40,
        0x0012 => 0x30,
        _ => return None,
    })
}
