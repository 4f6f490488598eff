// SPDX-License-Identifier: GPL-2.0

//! `derive`: the instance type a device can present as it is, written as a description.
//!
//! Every capability the user sees is passed through where it is, the standard ones with what
//! they say the device can do (as the driver's layout fingerprint reads it). A physical PASID
//! capability, which the driver always hides, is hidden, and when the device and the IOMMU
//! can use PASIDs a synthesized one goes in the first free range of the feature that holds
//! it, with the device's width and modes. The layout fingerprint is recorded, so `check` can
//! say whether a migration stream from this device would resume on another.

use vpci_description::{
    ext_cap_size, instance_statements, std_cap_size, Description, ExtKind, Hidden, Passed, Space,
    Synth,
};

use crate::feature::{PASID, PASID_EXEC, PASID_IOMMU, PASID_PRIV};
use crate::view::DeviceView;

/// Bytes of a synthesized PASID capability.
const PASID_SIZE: u16 = 8;

/// The standard capabilities whose abilities the layout fingerprint covers: Power
/// Management, MSI, PCI Express, MSI-X.
const STD_WITH_ABILITIES: [u8; 4] = [0x01, 0x05, 0x10, 0x11];

/// The instance type `view` presents, and remarks for the file's comments.
pub fn derive(view: &DeviceView) -> (Description, Vec<String>) {
    let mut notes = Vec::new();
    let mut passed = Vec::new();
    for cap in &view.std {
        let abilities = STD_WITH_ABILITIES
            .contains(&cap.id)
            .then_some(cap.abilities);
        passed.push(Passed {
            space: Space::Std,
            id: cap.id.into(),
            offset: cap.offset,
            version: 0,
            length: std_cap_size(cap.id.into(), abilities),
            abilities,
            relocatable: false,
            line: 0,
        });
    }
    // A null capability (ID 0) only links on: the driver's placeholder for a PASID that was
    // first, which a VMM presents the same way.
    for cap in view.ext.iter().filter(|cap| cap.id != 0) {
        let length = cap.length.or(ext_cap_size(cap.id)).unwrap_or_else(|| {
            notes.push(format!(
                "ext {:#x} at {:#x}: its size is unknown, only its header is counted",
                cap.id, cap.offset
            ));
            4
        });
        passed.push(Passed {
            space: Space::Ext,
            id: cap.id,
            offset: cap.offset,
            version: cap.version,
            length,
            abilities: None,
            relocatable: false,
            line: 0,
        });
    }
    for broken in &view.broken {
        notes.push(format!(
            "{broken}: the capabilities after it are not listed"
        ));
    }

    let feature = &view.feature;
    let mut hidden = Vec::new();
    let mut synthesized = Vec::new();
    if feature.has(PASID) {
        hidden.push(Hidden {
            space: Space::Ext,
            id: 0x1b,
            line: 0,
        });
        let place = feature
            .free
            .iter()
            .find(|&&(_, length)| length >= PASID_SIZE)
            .map(|&(offset, _)| offset);
        match (feature.has(PASID_IOMMU), place) {
            (true, Some(offset)) => synthesized.push(Synth {
                offset,
                kind: ExtKind::Pasid {
                    width: feature.pasid_width,
                    exec: feature.has(PASID_EXEC),
                    privileged: feature.has(PASID_PRIV),
                },
                line: 0,
            }),
            (false, _) => notes.push(
                "the IOMMU cannot attach PASIDs for this device: no PASID to synthesize".into(),
            ),
            (true, None) => {
                notes.push("no free range holds a PASID capability: none synthesized".into())
            }
        }
    }

    let desc = Description {
        vendor: view.vendor,
        device: view.device,
        subsystem_vendor: view.subsystem_vendor,
        subsystem_device: view.subsystem_device,
        revision: view.revision,
        accept_revisions: (view.revision, view.revision),
        class: view.class,
        passed,
        hidden,
        synthesized,
        layout: Some((view.fingerprint, 0)),
        ..Description::default()
    };
    (desc, notes)
}

/// The file `derive` writes: a comment naming the source, the notes, the statements.
pub fn derived_text(source: &str, desc: &Description, notes: &[String]) -> String {
    let mut text = format!("# The vPCI function {source} can present (rvfio-vpci derive).\n");
    for note in notes {
        text += &format!("# {note}\n");
    }
    for statement in instance_statements(desc) {
        text += &statement.text;
        text.push('\n');
    }
    text
}
