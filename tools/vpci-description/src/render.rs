// SPDX-License-Identifier: GPL-2.0

//! An instance type as statements again: what `rvfio-vpci derive` writes and what
//! `rvfio-vpci diff` compares, one statement at a time.

use crate::model::{Description, ExtKind, Passed, Space};
use crate::names::{cap_name, ext_cap_size};

/// One statement of an instance type, with what it is about: two descriptions say the same
/// of a thing when their statements of the same key are the same text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's first words, up to where it places or qualifies its subject
    /// (`revision`, `pass std pcie`, `synth pasid`), and `#N` for a repeated subject.
    pub key: String,
    pub text: String,
}

fn cap_word(space: Space, id: u16) -> String {
    cap_name(space, id).map_or_else(|| format!("{id:#x}"), str::to_string)
}

fn pass_text(passed: &Passed) -> String {
    let name = cap_word(passed.space, passed.id);
    let mut text = match passed.space {
        Space::Std => format!("pass std {name} at {:#x}", passed.offset),
        Space::Ext => format!(
            "pass ext {name} version {} at {:#x}",
            passed.version, passed.offset
        ),
    };
    if let Some([a, b, c]) = passed.abilities {
        text += &format!(" abilities {a:#x} {b:#x} {c:#x}");
    }
    if passed.space == Space::Ext && ext_cap_size(passed.id) != Some(passed.length) {
        text += &format!(" length {:#x}", passed.length);
    }
    if passed.relocatable {
        text += " relocatable";
    }
    text
}

fn flag(set: bool, word: &str) -> &str {
    if set {
        word
    } else {
        ""
    }
}

/// The identity and the instance-type statements of `desc`, in the order a file has them.
pub fn instance_statements(desc: &Description) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut add = |key: String, text: String| {
        let repeats = out
            .iter()
            .filter(|s: &&Statement| s.key == key || s.key.starts_with(&format!("{key} #")))
            .count();
        let key = if repeats == 0 {
            key
        } else {
            format!("{key} #{}", repeats + 1)
        };
        out.push(Statement { key, text });
    };
    add(
        "device".into(),
        format!("device {:04x}:{:04x}", desc.vendor, desc.device),
    );
    add(
        "subsystem".into(),
        format!(
            "subsystem {:04x}:{:04x}",
            desc.subsystem_vendor, desc.subsystem_device
        ),
    );
    let mut revision = format!("revision {}", desc.revision);
    let (low, high) = desc.accept_revisions;
    if (low, high) != (desc.revision, desc.revision) {
        revision += &format!(" accept {low}-{high}");
    }
    add("revision".into(), revision);
    let [base, sub, progif] = desc.class;
    add(
        "class".into(),
        format!("class {base:#04x} {sub:#04x} {progif:#04x}"),
    );
    for passed in &desc.passed {
        let key = format!(
            "pass {} {}",
            passed.space.keyword(),
            cap_word(passed.space, passed.id)
        );
        add(key, pass_text(passed));
    }
    for hidden in &desc.hidden {
        let text = format!(
            "hide {} {}",
            hidden.space.keyword(),
            cap_word(hidden.space, hidden.id)
        );
        add(text.clone(), text);
    }
    for synth in &desc.synthesized {
        let (what, rest) = match synth.kind {
            ExtKind::Pasid {
                width,
                exec,
                privileged,
            } => (
                "pasid",
                format!(
                    "width {width} {} {}",
                    flag(exec, "exec"),
                    flag(privileged, "priv")
                ),
            ),
            ExtKind::Ats {
                queue,
                page_aligned,
            } => (
                "ats",
                format!(
                    "queue {} {}",
                    ExtKind::ats_queue_depth(queue),
                    flag(page_aligned, "page-aligned")
                ),
            ),
            ExtKind::Pri { requests } => ("pri", format!("requests {requests}")),
            // Not a statement the format takes: shown as the device model writes it.
            ExtKind::Vsec { id, length } => ("vsec", format!("id {id:#x} length {length:#x}")),
        };
        let text = format!("synth {what} at {:#x} {rest}", synth.offset);
        add(
            format!("synth {what}"),
            text.split_whitespace().collect::<Vec<_>>().join(" "),
        );
    }
    if let Some((layout, _)) = desc.layout {
        add("layout".into(), format!("layout {layout:#018x}"));
    }
    out
}
