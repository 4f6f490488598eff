// SPDX-License-Identifier: GPL-2.0

//! The instance-type statements; the fixture's tests (`tests/fixture`) cover the device model.

use crate::{instance_statements, parse, ExtKind, Passed, Space};

const FLEET: &str = "\
# An instance type: the pasid-first device and its firmware v2.
device 1b36:00f0
subsystem 1b36:0000
revision 1 accept 1-2
class 0x08 0x80 0x00
pass std pcie at 0x40 abilities 0x2 0x10008000 0x0 relocatable
pass std msix at 0x80 abilities 0x3 0x2000 0x3000 relocatable
pass ext ats version 1 at 0x108 relocatable
pass ext pri version 1 at 0x110 relocatable
hide ext pasid
synth pasid at 0x120 width 20 exec priv
layout 0x0123456789abcdef
";

#[test]
fn an_instance_type_parses() {
    let desc = parse(FLEET).unwrap();
    assert!(desc.is_instance_type());
    assert_eq!(desc.accept_revisions, (1, 2));
    assert_eq!(desc.identity_lines, [2, 3, 4, 5]);
    assert_eq!(
        desc.passed[0],
        Passed {
            space: Space::Std,
            id: 0x10,
            offset: 0x40,
            version: 0,
            length: 0x3c,
            abilities: Some([2, 0x1000_8000, 0]),
            relocatable: true,
            line: 6,
        }
    );
    assert_eq!(desc.passed[2].length, 8);
    assert_eq!(desc.passed[3].length, 0x10);
    assert_eq!(desc.hidden[0].id, 0x1b);
    assert_eq!(
        desc.synthesized[0].kind,
        ExtKind::Pasid {
            width: 20,
            exec: true,
            privileged: true
        }
    );
    assert_eq!(desc.layout, Some((0x0123_4567_89ab_cdef, 12)));
    // No device model: no BAR, no PCI Express statement of the fixture's.
    assert_eq!((desc.bar, desc.pcie), (None, None));
}

#[test]
fn statements_read_back_the_same() {
    let desc = parse(FLEET).unwrap();
    let text: String = instance_statements(&desc)
        .iter()
        .map(|s| s.text.clone() + "\n")
        .collect();
    let again = parse(&text).unwrap();
    assert_eq!(instance_statements(&again), instance_statements(&desc));
    assert_eq!(again.passed.len(), 4);
    assert_eq!(again.synthesized[0].kind, desc.synthesized[0].kind);
    assert_eq!(again.layout.map(|l| l.0), Some(0x0123_4567_89ab_cdef));
    let keys: Vec<_> = instance_statements(&desc)
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(
        keys,
        [
            "device",
            "subsystem",
            "revision",
            "class",
            "pass std pcie",
            "pass std msix",
            "pass ext ats",
            "pass ext pri",
            "hide ext pasid",
            "synth pasid",
            "layout"
        ]
    );
}

#[test]
fn repeated_vendor_capabilities_get_keys_of_their_own() {
    let text = "device 8086:10c9\n\
                pass ext vsec version 0 at 0x100 length 0x10\n\
                pass ext 0x0b version 0 at 0x110 length 0x8\n";
    let keys: Vec<_> = instance_statements(&parse(text).unwrap())
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys[4..], ["pass ext vsec", "pass ext vsec #2"]);
}

/// FLEET with `line` (1-based) replaced.
fn with_line(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = FLEET.lines().collect();
    lines[line - 1] = text;
    lines.join("\n")
}

#[test]
fn mistakes_in_an_instance_type_name_their_line() {
    let cases: [(usize, &str, &str); 15] = [
        (4, "revision 2 accept 3-1", "3 is above 1"),
        (6, "pass std pcie at 0x100", "outside 0x40..0x100"),
        (6, "pass std 0x1ff at 0x40", "no std capability name or ID"),
        (6, "pass both pcie at 0x40", "expected 'std' or 'ext'"),
        (
            6,
            "pass std pcie at 0x40 abilities 1 2",
            "abilities word missing",
        ),
        (7, "pass std msix at 0x60", "overlaps pass std pcie"),
        (
            7,
            "pass std pcie at 0x80",
            "passed through again (first on line 6)",
        ),
        (8, "pass ext ats at 0x108", "expected 'version'"),
        (8, "pass ext 0x2a version 1 at 0x108", "give 'length LEN'"),
        (
            8,
            "pass ext 0x2a version 1 at 0x108 length 6",
            "not a multiple of 4",
        ),
        (8, "pass ext aer version 1 at 0xfc0", "runs past 0x1000"),
        (9, "hide ext ats", "hidden and passed through (line 8)"),
        (11, "synth pasid at 0x10c width 20", "overlaps pass ext ats"),
        (11, "synth sriov at 0x200 width 20", "not 'sriov'"),
        (11, "synth pasid at 0x120 width 0", "at least 1"),
    ];
    for (line, text, message) in cases {
        let err = parse(&with_line(line, text)).expect_err(text);
        assert_eq!(err.line, line, "{text}: {err}");
        assert!(err.message.contains(message), "{text}: {err}");
    }
    // A synthesized capability replaces the device's own, which must then be hidden.
    let err = parse(&with_line(10, "pass ext pasid version 1 at 0x200")).unwrap_err();
    assert_eq!(err.line, 11);
    assert!(
        err.message.contains("synthesized and passed through"),
        "{err}"
    );
    let err = parse(&format!("{FLEET}layout 0x1\n")).unwrap_err();
    assert_eq!(
        (err.line, err.message.contains("first on line 12")),
        (13, true)
    );
}

#[test]
fn bar_contents_need_a_bar() {
    let err = parse("device 1b36:00f0\nregister 0x0 1\n").unwrap_err();
    assert_eq!(
        (err.line, err.message.contains("no 'bar' statement for")),
        (2, true)
    );
    let err = parse("revision 1\n").unwrap_err();
    assert_eq!(
        (err.line, err.message.as_str()),
        (1, "no 'device' statement")
    );
}
