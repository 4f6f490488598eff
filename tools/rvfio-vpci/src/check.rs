// SPDX-License-Identifier: GPL-2.0

//! `check`: whether a device can present an instance type, and every reason it cannot.

use std::fmt;

use vpci_description::{cap_name, Description, ExtKind, Passed, Space, Synth};

use crate::feature::{
    Feature, ATS, ATS_PAGE_ALIGNED, LAYOUT_INCOMPLETE, PASID, PASID_EXEC, PASID_IOMMU, PASID_PRIV,
    PRI,
};
use crate::view::DeviceView;

/// Why a device cannot present an instance type: each class has its exit code, and `check`
/// exits with the lowest among its reasons (`Documentation/vpci.rst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Vendor, device, subsystem or class differ.
    Identity = 10,
    /// The device's revision is not among those the instance type accepts.
    Revision = 11,
    /// A passed-through capability is not in the device's chain.
    Missing = 12,
    /// A passed-through capability is elsewhere and the instance type does not let it move.
    Moved = 13,
    /// A passed-through capability says something else (version, abilities).
    Differs = 14,
    /// The device shows a capability the instance type neither passes through nor hides.
    Unlisted = 15,
    /// A synthesized capability needs an ability the device (or the IOMMU) lacks.
    Unsupported = 16,
    /// No free config space where a synthesized capability must go.
    NoRoom = 17,
}

impl Class {
    /// The word `check` prints for the class.
    pub fn word(self) -> &'static str {
        match self {
            Class::Identity => "identity",
            Class::Revision => "revision",
            Class::Missing => "missing",
            Class::Moved => "moved",
            Class::Differs => "differs",
            Class::Unlisted => "unlisted",
            Class::Unsupported => "unsupported",
            Class::NoRoom => "no-room",
        }
    }
}

/// One reason, with the description's line it is about (0: the device's, no line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub class: Class,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (exit {}): ", self.class.word(), self.class as u8)?;
        if self.line != 0 {
            write!(f, "line {}: ", self.line)?;
        }
        f.write_str(&self.message)
    }
}

/// What the layout fingerprints say of a migration between this device and the description's
/// source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The description records no fingerprint.
    Unrecorded {
        device: u64,
    },
    Same {
        fingerprint: u64,
    },
    Differs {
        device: u64,
        description: u64,
    },
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Layout::Unrecorded { device } => write!(
                f,
                "layout: the description records none (the device's is {device:#018x})"
            ),
            Layout::Same { fingerprint } => write!(
                f,
                "layout: same as the description's source ({fingerprint:#018x}): a migration \
                 stream from it resumes here"
            ),
            Layout::Differs {
                device,
                description,
            } => write!(
                f,
                "layout: differs ({device:#018x}, the description's source {description:#018x}): \
                 the driver refuses a migration stream between them (EXDEV)"
            ),
        }
    }
}

/// The answer of `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Empty: the device can present the instance type.
    pub reasons: Vec<Reason>,
    /// Passed-through capabilities the device has elsewhere, where relocatable allows it.
    pub relocated: Vec<String>,
    /// Other remarks (a broken chain).
    pub notes: Vec<String>,
    pub layout: Layout,
}

impl Verdict {
    /// 0 for yes, else the lowest class among the reasons.
    pub fn exit_code(&self) -> u8 {
        self.reasons
            .iter()
            .map(|reason| reason.class as u8)
            .min()
            .unwrap_or(0)
    }
}

fn name(space: Space, id: u16) -> String {
    match cap_name(space, id) {
        Some(name) => format!("{} {name}", space.keyword()),
        None => format!("{} {id:#x}", space.keyword()),
    }
}

fn words([a, b, c]: [u32; 3]) -> String {
    format!("{a:#x} {b:#x} {c:#x}")
}

/// The device's capabilities as (space, ID, offset, version, abilities), in chain order;
/// null extended capabilities (ID 0), which only link on, are left out.
fn device_caps(view: &DeviceView) -> Vec<(Space, u16, u16, u8, [u32; 3])> {
    let std = view
        .std
        .iter()
        .map(|cap| (Space::Std, cap.id.into(), cap.offset, 0, cap.abilities));
    let ext = view
        .ext
        .iter()
        .filter(|cap| cap.id != 0)
        .map(|cap| (Space::Ext, cap.id, cap.offset, cap.version, [0; 3]));
    std.chain(ext).collect()
}

fn check_identity(desc: &Description, view: &DeviceView, reasons: &mut Vec<Reason>) {
    let [device_line, subsystem_line, revision_line, class_line] = desc.identity_lines;
    let mut differs = |line: usize, what: &str, want: String, have: String| {
        if want != have {
            reasons.push(Reason {
                class: Class::Identity,
                line,
                message: format!("{what} {want} prescribed, the device is {have}"),
            });
        }
    };
    differs(
        device_line,
        "device",
        format!("{:04x}:{:04x}", desc.vendor, desc.device),
        format!("{:04x}:{:04x}", view.vendor, view.device),
    );
    // An identity statement the description leaves out accepts anything.
    if subsystem_line != 0 {
        differs(
            subsystem_line,
            "subsystem",
            format!(
                "{:04x}:{:04x}",
                desc.subsystem_vendor, desc.subsystem_device
            ),
            format!(
                "{:04x}:{:04x}",
                view.subsystem_vendor, view.subsystem_device
            ),
        );
    }
    if class_line != 0 {
        differs(
            class_line,
            "class",
            format!(
                "{:02x}{:02x}{:02x}",
                desc.class[0], desc.class[1], desc.class[2]
            ),
            format!(
                "{:02x}{:02x}{:02x}",
                view.class[0], view.class[1], view.class[2]
            ),
        );
    }
    let (low, high) = desc.accept_revisions;
    if revision_line != 0 && !(low..=high).contains(&view.revision) {
        reasons.push(Reason {
            class: Class::Revision,
            line: revision_line,
            message: format!(
                "the device's revision {} is not among those accepted ({low}-{high})",
                view.revision
            ),
        });
    }
}

/// Matches each passed-through capability with the device's of the same ID (the Nth of that
/// ID for the Nth statement), and returns which of the device's capabilities were matched.
fn check_passed(
    desc: &Description,
    caps: &[(Space, u16, u16, u8, [u32; 3])],
    verdict: &mut Verdict,
) -> Vec<bool> {
    let mut matched = vec![false; caps.len()];
    for (i, passed) in desc.passed.iter().enumerate() {
        let nth = desc.passed[..i]
            .iter()
            .filter(|p| (p.space, p.id) == (passed.space, passed.id))
            .count();
        let what = format!(
            "pass {} at {:#x}",
            name(passed.space, passed.id),
            passed.offset
        );
        let Some(index) = caps
            .iter()
            .enumerate()
            .filter(|(_, cap)| (cap.0, cap.1) == (passed.space, passed.id))
            .map(|(index, _)| index)
            .nth(nth)
        else {
            verdict.reasons.push(Reason {
                class: Class::Missing,
                line: passed.line,
                message: format!("{what}: the device does not show it"),
            });
            continue;
        };
        matched[index] = true;
        let (_, _, offset, version, abilities) = caps[index];
        check_one(passed, &what, offset, version, abilities, verdict);
    }
    matched
}

fn check_one(
    passed: &Passed,
    what: &str,
    offset: u16,
    version: u8,
    abilities: [u32; 3],
    verdict: &mut Verdict,
) {
    let mut reason = |class, message: String| {
        verdict.reasons.push(Reason {
            class,
            line: passed.line,
            message: format!("{what}: {message}"),
        })
    };
    if offset != passed.offset {
        if passed.relocatable {
            verdict.relocated.push(format!(
                "relocated: line {}: {what}: presented at {offset:#x}, where the device has it",
                passed.line
            ));
        } else {
            reason(
                Class::Moved,
                format!("the device has it at {offset:#x}, and it is not relocatable"),
            );
        }
    }
    if passed.space == Space::Ext && version != passed.version {
        reason(
            Class::Differs,
            format!(
                "version {} prescribed, the device's is {version}",
                passed.version
            ),
        );
    }
    if let Some(want) = passed.abilities {
        if want != abilities {
            reason(
                Class::Differs,
                format!(
                    "abilities {} prescribed, the device says {}",
                    words(want),
                    words(abilities)
                ),
            );
        }
    }
}

/// What a synthesized capability needs of the device, or why it cannot have it.
fn synth_unsupported(synth: &Synth, feature: &Feature) -> Vec<String> {
    let mut missing = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            missing.push(what.to_string());
        }
    };
    let exceeds = |what: &str, want: u32, have: u32| {
        (want > have).then(|| format!("{what} {want} prescribed, the device's is {have}"))
    };
    // The one size each capability states, checked when the device has the capability.
    let limit = match synth.kind {
        ExtKind::Pasid {
            width,
            exec,
            privileged,
        } => {
            need(feature.has(PASID), "the device has no PASID capability");
            need(
                !feature.has(PASID) || feature.has(PASID_IOMMU),
                "the IOMMU cannot attach PASIDs for it",
            );
            need(
                !exec || feature.has(PASID | PASID_EXEC),
                "exec prescribed, the device has no execute permission",
            );
            need(
                !privileged || feature.has(PASID | PASID_PRIV),
                "priv prescribed, the device has no privileged mode",
            );
            feature
                .has(PASID)
                .then(|| exceeds("width", width.into(), feature.pasid_width.into()))
        }
        ExtKind::Ats {
            queue,
            page_aligned,
        } => {
            need(feature.has(ATS), "the device has no ATS capability");
            need(
                !page_aligned || feature.has(ATS | ATS_PAGE_ALIGNED),
                "page-aligned prescribed, the device does not promise it",
            );
            feature.has(ATS).then(|| {
                exceeds(
                    "invalidate queue depth",
                    ExtKind::ats_queue_depth(queue).into(),
                    feature.ats_queue.into(),
                )
            })
        }
        ExtKind::Pri { requests } => {
            need(feature.has(PRI), "the device has no PRI capability");
            feature
                .has(PRI)
                .then(|| exceeds("outstanding requests", requests, feature.pri_requests))
        }
        ExtKind::Vsec { .. } => {
            need(
                false,
                "a VMM does not synthesize a vendor-specific capability",
            );
            None
        }
    };
    missing.extend(limit.flatten());
    missing
}

/// Whether the device bound to `rvfio-pci`, as `view` shows it, can present `desc`.
pub fn check(desc: &Description, view: &DeviceView) -> Verdict {
    let layout = match desc.layout {
        None => Layout::Unrecorded {
            device: view.fingerprint,
        },
        Some((fingerprint, _)) if fingerprint == view.fingerprint => Layout::Same { fingerprint },
        Some((description, _)) => Layout::Differs {
            device: view.fingerprint,
            description,
        },
    };
    let mut verdict = Verdict {
        reasons: Vec::new(),
        relocated: Vec::new(),
        notes: view.broken.clone(),
        layout,
    };
    check_identity(desc, view, &mut verdict.reasons);

    let caps = device_caps(view);
    let matched = check_passed(desc, &caps, &mut verdict);
    for (&(space, id, offset, _, _), _) in caps.iter().zip(&matched).filter(|(_, m)| !**m) {
        if !desc.hidden.iter().any(|h| (h.space, h.id) == (space, id)) {
            verdict.reasons.push(Reason {
                class: Class::Unlisted,
                line: 0,
                message: format!(
                    "the device shows {} at {offset:#x}, which the description neither passes \
                     through nor hides",
                    name(space, id)
                ),
            });
        }
    }

    let feature = &view.feature;
    for synth in &desc.synthesized {
        let what = format!(
            "synth {} at {:#x}",
            name(Space::Ext, synth.kind.id()),
            synth.offset
        );
        for message in synth_unsupported(synth, feature) {
            verdict.reasons.push(Reason {
                class: Class::Unsupported,
                line: synth.line,
                message: format!("{what}: {message}"),
            });
        }
        if !feature.is_free(synth.offset, synth.kind.size()) {
            let free: Vec<_> = feature
                .free
                .iter()
                .map(|(at, len)| format!("{at:#x}+{len:#x}"))
                .collect();
            verdict.reasons.push(Reason {
                class: Class::NoRoom,
                line: synth.line,
                message: format!(
                    "{what}: {:#x}..{:#x} is not free in the device's config space (free: {})",
                    synth.offset,
                    synth.offset + synth.kind.size(),
                    if free.is_empty() {
                        "none".to_string()
                    } else {
                        free.join(" ")
                    }
                ),
            });
        }
    }
    if feature.has(LAYOUT_INCOMPLETE) {
        verdict
            .notes
            .push("the driver found the extended chain broken: its free ranges stop there".into());
    }
    verdict
}
