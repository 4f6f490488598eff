// SPDX-License-Identifier: GPL-2.0

//! What a device bound to `rvfio-pci` presents to its user: identity, both capability chains
//! as the VFIO config region shows them, the driver's layout fingerprint of them, and the
//! PASID/ATS feature. Read with the driver's own walkers, so the tool sees what the driver
//! sees.

use crate::config::pci_caps::{
    ext_cap_len, layout_fingerprint, std_cap_abilities, ConfigSpace, ExtCaps, StdCaps,
};
use crate::feature::Feature;

/// A standard capability: ID, offset and what it says the device can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdCapView {
    pub id: u8,
    pub offset: u16,
    pub abilities: [u32; 3],
}

/// An extended capability: ID, version, offset and its length when the driver can size it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtCapView {
    pub id: u16,
    pub version: u8,
    pub offset: u16,
    pub length: Option<u16>,
}

/// A device as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    pub vendor: u16,
    pub device: u16,
    pub subsystem_vendor: u16,
    pub subsystem_device: u16,
    pub revision: u8,
    pub class: [u8; 3],
    pub std: Vec<StdCapView>,
    pub ext: Vec<ExtCapView>,
    /// Why a chain stopped early, if one did.
    pub broken: Vec<String>,
    /// The driver's layout fingerprint of this config space: what a migration stream records
    /// and the resuming side compares (EXDEV when they differ).
    pub fingerprint: u64,
    pub feature: Feature,
}

impl DeviceView {
    /// Reads `cfg`, the user's view of config space, and takes `feature` as the driver said it.
    pub fn read<C: ConfigSpace + ?Sized>(cfg: &C, feature: Feature) -> Self {
        let dword = |at| cfg.read_dword(at).unwrap_or(u32::MAX);
        let [ids, class_rev, subsystem] = [dword(0), dword(8), dword(0x2c)];
        let mut broken = Vec::new();
        let mut std = Vec::new();
        for cap in StdCaps::new(cfg) {
            match cap {
                Ok(cap) => std.push(StdCapView {
                    id: cap.id,
                    offset: cap.offset,
                    abilities: std_cap_abilities(cfg, &cap),
                }),
                Err(err) => broken.push(format!("standard chain: {err}")),
            }
        }
        let mut ext = Vec::new();
        for cap in ExtCaps::new(cfg) {
            match cap {
                Ok(cap) => ext.push(ExtCapView {
                    id: cap.id,
                    version: cap.version,
                    offset: cap.offset,
                    length: ext_cap_len(cfg, cap),
                }),
                Err(err) => broken.push(format!("extended chain: {err}")),
            }
        }
        DeviceView {
            vendor: ids as u16,
            device: (ids >> 16) as u16,
            subsystem_vendor: subsystem as u16,
            subsystem_device: (subsystem >> 16) as u16,
            revision: class_rev as u8,
            class: [
                (class_rev >> 24) as u8,
                (class_rev >> 16) as u8,
                (class_rev >> 8) as u8,
            ],
            std,
            ext,
            broken,
            fingerprint: layout_fingerprint(cfg),
            feature,
        }
    }
}
