// SPDX-License-Identifier: GPL-2.0

//! Host tests of derive, check and diff on the fixture's devices, seen as the driver shows
//! them: the fixture's config space, the driver's PASID hiding over it, the driver's feature
//! payload decoded as the tool decodes it from the kernel.

use rvfio_fixture::config::ConfigSpace as Image;
use vpci_description::{parse, Description};

use crate::check::{check, Class, Layout};
use crate::config::pasid_ats::{PhysicalCaps, Report, MAX_SIZE};
use crate::config::pci_caps::ConfigSpace;
use crate::config::view::{ExtLayout, PasidHiding, UserView};
use crate::derive::{derive, derived_text};
use crate::diff::{diff, differ};
use crate::feature::Feature;
use crate::is_bdf;
use crate::view::DeviceView;

/// A fixture device's config space, for the driver's walkers.
struct Dump(Image);

impl ConfigSpace for Dump {
    fn size(&self) -> u16 {
        rvfio_fixture::config::SIZE as u16
    }

    fn read_dword(&self, offset: u16) -> Option<u32> {
        let at = usize::from(offset);
        Some(u32::from_le_bytes(
            self.0.bytes[at..at + 4].try_into().unwrap(),
        ))
    }
}

fn model(name: &str) -> &'static str {
    match name {
        "pasid-first" => include_str!("../../../tests/fixture/devices/pasid-first.desc"),
        "pasid-middle" => include_str!("../../../tests/fixture/devices/pasid-middle.desc"),
        "pasid-last" => include_str!("../../../tests/fixture/devices/pasid-last.desc"),
        "no-pasid" => include_str!("../../../tests/fixture/devices/no-pasid.desc"),
        "pasid-first-fw2" => include_str!("../../../tests/fixture/devices/pasid-first-fw2.desc"),
        _ => panic!("no fixture device {name}"),
    }
}

/// The fixture device `name` as the tool sees it bound to `rvfio-pci`, with an IOMMU that
/// can attach PASIDs or not.
fn device(name: &str, iommu_pasid: bool) -> DeviceView {
    let model = rvfio_fixture::description::parse(model(name)).unwrap();
    let physical = Dump(Image::of(&model));
    let (caps, _) = PhysicalCaps::read(&physical);
    let hiding = caps
        .pasid
        .and_then(|found| PasidHiding::new(&physical, found.offset));
    let user = UserView::new(&physical, hiding);
    let layout = ExtLayout::of(&user);
    let mut payload = vec![0u8; MAX_SIZE];
    Report {
        caps: &caps,
        iommu_pasid,
        layout: &layout,
    }
    .encode(&mut payload);
    DeviceView::read(&user, Feature::decode(&payload).unwrap())
}

/// The file `derive` writes for the fixture device `name`, parsed back.
fn derived(name: &str) -> (String, Description) {
    let (desc, notes) = derive(&device(name, true));
    let text = derived_text("0000:05:00.0", &desc, &notes);
    let parsed = parse(&text).unwrap_or_else(|err| panic!("{name}: {err}\n{text}"));
    (text, parsed)
}

/// `text` with the statement starting with `start` replaced by `with` (removed if empty).
fn edited(text: &str, start: &str, with: &str) -> Description {
    assert!(text.lines().any(|line| line.starts_with(start)), "{start}");
    let edited: String = text
        .lines()
        .map(|line| if line.starts_with(start) { with } else { line })
        .map(|line| format!("{line}\n"))
        .collect();
    parse(&edited).unwrap()
}

fn exit_of(desc: &Description, view: &DeviceView) -> u8 {
    check(desc, view).exit_code()
}

const FIXTURES: [&str; 5] = [
    "pasid-first",
    "pasid-middle",
    "pasid-last",
    "no-pasid",
    "pasid-first-fw2",
];

#[test]
fn a_device_presents_what_it_derives() {
    for name in FIXTURES {
        let (_, desc) = derived(name);
        let verdict = check(&desc, &device(name, true));
        assert_eq!(verdict.reasons, [], "{name}");
        assert!(matches!(verdict.layout, Layout::Same { .. }), "{name}");
        assert_eq!(verdict.relocated, Vec::<String>::new(), "{name}");
    }
}

#[test]
fn derive_hides_the_physical_pasid_and_places_its_own_in_free_space() {
    // PASID first: the driver leaves a null header at 0x100, which is not listed; the first
    // free range of 8 bytes is after PRI.
    let (text, desc) = derived("pasid-first");
    assert!(text.contains("\nhide ext pasid\nsynth pasid at 0x120 width 20 exec priv\n"));
    assert!(!text.contains("ext 0x0 "), "{text}");
    assert_eq!(desc.passed.len(), 4);
    // PASID last, narrower and without modes: it goes where PASID's neighbours leave room.
    assert!(derived("pasid-last")
        .0
        .contains("\nsynth pasid at 0x108 width 16\n"));
    // No PASID: nothing hidden, nothing synthesized.
    let (text, desc) = derived("no-pasid");
    assert_eq!(
        (desc.hidden.len(), desc.synthesized.len()),
        (0, 0),
        "{text}"
    );
    // An IOMMU that cannot attach PASIDs: hidden, not synthesized, and said why.
    let (desc, notes) = derive(&device("pasid-middle", false));
    assert_eq!((desc.hidden.len(), desc.synthesized.len()), (1, 0));
    assert!(notes[0].contains("IOMMU cannot attach PASIDs"), "{notes:?}");
}

#[test]
fn each_reason_has_its_class_and_names_its_line() {
    let (text, _) = derived("pasid-middle");
    let view = device("pasid-middle", true);
    let cases: [(&str, &str, Class, &str); 9] = [
        (
            "device ",
            "device 1b36:00f1",
            Class::Identity,
            "device 1b36:00f1 prescribed",
        ),
        (
            "subsystem ",
            "subsystem 1b36:0001",
            Class::Identity,
            "subsystem",
        ),
        (
            "revision ",
            "revision 2 accept 2-3",
            Class::Revision,
            "revision 1 is not among",
        ),
        (
            "hide ",
            "pass ext aer version 1 at 0x200",
            Class::Missing,
            "does not show it",
        ),
        (
            "pass ext pri",
            "pass ext pri version 1 at 0x170",
            Class::Moved,
            "has it at 0x160",
        ),
        (
            "pass ext pri",
            "pass ext pri version 2 at 0x160",
            Class::Differs,
            "version 2",
        ),
        (
            "pass std pcie",
            "pass std pcie at 0x40 abilities 0x2 0x0 0x0",
            Class::Differs,
            "abilities 0x2 0x0 0x0 prescribed, the device says 0x2 0x10000000 0x0",
        ),
        (
            "pass std msix",
            "",
            Class::Unlisted,
            "shows std msix at 0x80",
        ),
        (
            "pass ext ats",
            "hide ext ats\nsynth ats at 0x100 queue 32",
            Class::NoRoom,
            "0x100..0x108 is not free",
        ),
    ];
    for (start, with, class, message) in cases {
        let desc = edited(&text, start, with);
        let verdict = check(&desc, &view);
        let reason = verdict
            .reasons
            .iter()
            .find(|reason| reason.class == class)
            .unwrap_or_else(|| panic!("{with}: {:?}", verdict.reasons));
        assert!(reason.message.contains(message), "{with}: {reason}");
        assert_eq!(
            verdict.exit_code(),
            class as u8,
            "{with}: {:?}",
            verdict.reasons
        );
        // An unlisted capability is the device's, not a line's; the others are the last line
        // of `with`'s.
        let line = text
            .lines()
            .position(|line| line.starts_with(start))
            .unwrap()
            + 1
            + with.matches('\n').count();
        let expected = if class == Class::Unlisted { 0 } else { line };
        assert_eq!(reason.line, expected, "{with}");
    }
}

#[test]
fn synthesized_capabilities_need_the_abilities() {
    let (text, desc) = derived("pasid-last");
    let view = device("pasid-last", true);
    let unsupported = |desc: &Description, view: &DeviceView| -> Vec<String> {
        check(desc, view)
            .reasons
            .into_iter()
            .filter(|reason| reason.class == Class::Unsupported)
            .map(|reason| reason.message)
            .collect()
    };
    assert_eq!(unsupported(&desc, &view), Vec::<String>::new());
    // pasid-last has width 16 and neither mode.
    let wider = edited(&text, "synth ", "synth pasid at 0x108 width 20 exec priv");
    let messages = unsupported(&wider, &view);
    assert_eq!(messages.len(), 3, "{messages:?}");
    for expected in ["width 20 prescribed, the device's is 16", "exec", "priv"] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{messages:?}"
        );
    }
    // Without the IOMMU's PASIDs.
    let messages = unsupported(&desc, &device("pasid-last", false));
    assert!(messages[0].contains("IOMMU cannot attach"), "{messages:?}");
    // ATS and PRI built by the VMM: pasid-last's ATS has depth 16, not page-aligned; PRI 512.
    let mut synth = edited(&text, "pass ext ats", "hide ext ats");
    synth = edited(
        &vpci_description::instance_statements(&synth)
            .iter()
            .map(|s| s.text.clone() + "\n")
            .collect::<String>(),
        "pass ext pri",
        "hide ext pri\nsynth ats at 0x100 queue 32 page-aligned\nsynth pri at 0x120 requests 1024",
    );
    let messages = unsupported(&synth, &view);
    assert_eq!(messages.len(), 3, "{messages:?}");
    for expected in [
        "invalidate queue depth 32 prescribed, the device's is 16",
        "page-aligned prescribed",
        "outstanding requests 1024 prescribed, the device's is 512",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{messages:?}"
        );
    }
    // Where the device has ATS and PRI, their space is not free: the VMM's own go elsewhere.
    assert_eq!(check(&synth, &view).exit_code(), Class::Unsupported as u8);
    // And without ATS or PRI at all.
    let messages = unsupported(&synth, &device("pasid-first", true));
    assert!(
        messages.iter().all(|m| !m.contains("no ATS")),
        "{messages:?}"
    );
}

/// The reference instance types (tools/rvfio-vpci/instance-types).
fn instance_type(name: &str) -> Description {
    let text = match name {
        "pasid-first" => include_str!("../instance-types/pasid-first.vpci"),
        "pasid-first-fleet" => include_str!("../instance-types/pasid-first-fleet.vpci"),
        "pasid-first-fleet-pasid-0x180" => {
            include_str!("../instance-types/pasid-first-fleet-pasid-0x180.vpci")
        }
        _ => panic!("no instance type {name}"),
    };
    parse(text).unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[test]
fn firmware_v2_is_accepted_or_refused_as_the_instance_type_says() {
    let (v1, v2) = (device("pasid-first", true), device("pasid-first-fw2", true));
    // The type derived from v1: revision 2 is not accepted, and everything moved.
    let verdict = check(&instance_type("pasid-first"), &v2);
    assert_eq!(verdict.exit_code(), Class::Revision as u8);
    assert_eq!(
        verdict
            .reasons
            .iter()
            .filter(|r| r.class == Class::Moved)
            .count(),
        4,
        "{:?}",
        verdict.reasons
    );
    assert!(matches!(verdict.layout, Layout::Differs { .. }));
    // The fleet's type lets every passed-through capability move and accepts revision 2:
    // v1 presents it as it is, v2 with its capabilities where it has them.
    let fleet = instance_type("pasid-first-fleet");
    let verdict = check(&fleet, &v1);
    assert_eq!((verdict.exit_code(), verdict.relocated.len()), (0, 0));
    assert!(matches!(verdict.layout, Layout::Same { .. }));
    let verdict = check(&fleet, &v2);
    assert_eq!(verdict.exit_code(), 0, "{:?}", verdict.reasons);
    assert_eq!(verdict.relocated.len(), 4, "{:?}", verdict.relocated);
    assert!(matches!(verdict.layout, Layout::Differs { .. }));
    // The same with the PASID at 0x180: free on v1, v2's PRI there.
    let pinned = instance_type("pasid-first-fleet-pasid-0x180");
    assert_eq!(exit_of(&pinned, &v1), 0);
    let verdict = check(&pinned, &v2);
    assert_eq!(
        verdict.exit_code(),
        Class::NoRoom as u8,
        "{:?}",
        verdict.reasons
    );
    assert_eq!(verdict.reasons.len(), 1);
}

#[test]
fn reference_instance_types_of_the_fixture_devices_are_what_derive_writes() {
    for name in FIXTURES {
        let reference = match name {
            "pasid-first" => include_str!("../instance-types/pasid-first.vpci"),
            "pasid-middle" => include_str!("../instance-types/pasid-middle.vpci"),
            "pasid-last" => include_str!("../instance-types/pasid-last.vpci"),
            "no-pasid" => include_str!("../instance-types/no-pasid.vpci"),
            _ => include_str!("../instance-types/pasid-first-fw2.vpci"),
        };
        let statements = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            statements(reference),
            statements(&derived(name).0),
            "{name}"
        );
    }
}

#[test]
fn the_igb_types_differ_only_where_flr_is_left_open() {
    let igb = parse(include_str!("../instance-types/igb.vpci")).unwrap();
    let any_flr = parse(include_str!("../instance-types/igb-any-flr.vpci")).unwrap();
    assert_eq!(
        diff(&igb, &any_flr),
        [
            "~ pass std pcie: pass std pcie at 0xa0 abilities 0x2 0x10008020 0x300000 | \
             pass std pcie at 0xa0",
            "layout: the same: a migration stream from one resumes on the other",
        ]
    );
}

#[test]
fn diff_says_what_changed_and_what_it_means_for_migration() {
    let (_, v1) = derived("pasid-first");
    let (_, v2) = derived("pasid-first-fw2");
    let lines = diff(&v1, &v2);
    assert!(differ(&lines));
    for expected in [
        "~ revision: revision 1 | revision 2",
        "~ pass std pcie: pass std pcie at 0x40 abilities 0x2 0x10000000 0x0 | pass std pcie at 0x50 abilities 0x2 0x10000000 0x0",
        "~ synth pasid: synth pasid at 0x120 width 20 exec priv | synth pasid at 0x108 width 20 exec priv",
        "layout: differs: the driver refuses a migration stream from one into the other (EXDEV)",
    ] {
        assert!(lines.iter().any(|line| line == expected), "{expected}: {lines:#?}");
    }
    let lines = diff(&v1, &derived("pasid-first").1);
    assert_eq!(
        lines,
        ["layout: the same: a migration stream from one resumes on the other"]
    );
    assert!(!differ(&lines));
    // What only one side says.
    let (_, none) = derived("no-pasid");
    let lines = diff(&derived("pasid-middle").1, &none);
    assert!(
        lines.contains(&"- hide ext pasid: hide ext pasid".to_string()),
        "{lines:#?}"
    );
    let lines = diff(&none, &derived("pasid-middle").1);
    assert!(
        lines.iter().any(|l| l.starts_with("+ synth pasid: ")),
        "{lines:#?}"
    );
}

#[test]
fn feature_payloads_decode_as_the_driver_encodes_them() {
    let view = device("pasid-middle", true);
    let feature = &view.feature;
    assert_eq!(
        (feature.pasid_offset, feature.ats_offset, feature.pri_offset),
        (0x140, 0x100, 0x160)
    );
    assert_eq!(
        (feature.pasid_width, feature.ats_queue, feature.pri_requests),
        (20, 32, 256)
    );
    assert_eq!(feature.free, [(0x108, 0x58), (0x170, 0xe90)]);
    assert!(feature.is_free(0x108, 8) && feature.is_free(0x158, 8));
    assert!(!feature.is_free(0x15c, 8) && !feature.is_free(0x100, 8));
    // Short payloads: the fixed part missing, or fewer ranges than announced.
    let mut payload = vec![0u8; crate::feature::FIXED_SIZE];
    payload[20] = 2;
    assert_eq!(Feature::decode(&payload[..20]), None);
    assert_eq!(Feature::decode(&payload), None);
    assert_eq!(Feature::announced_ranges(&payload), 2);
}

#[test]
fn bdfs_are_told_from_files() {
    for bdf in ["0000:01:00.0", "abcd:ef:1f.7"] {
        assert!(is_bdf(bdf), "{bdf}");
    }
    for word in [
        "0000:01:00.8",
        "01:00.0",
        "0000:01:00.0.vpci",
        "igb.vpci",
        "0000-01:00.0",
    ] {
        assert!(!is_bdf(word), "{word}");
    }
}
