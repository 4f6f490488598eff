// SPDX-License-Identifier: GPL-2.0

//! `diff`: what two instance types (each a file, or derived from a device) say differently,
//! statement by statement.

use vpci_description::{instance_statements, Description};

/// The differences of `a` and `b`, one line each: `- KEY: A's statement` for what only A says,
/// `+ KEY: B's statement` for what only B says, `~ KEY: A's | B's` where both say something
/// else; then what the layouts mean for a migration between them, when both record one.
pub fn diff(a: &Description, b: &Description) -> Vec<String> {
    let (a_says, b_says) = (instance_statements(a), instance_statements(b));
    let mut lines = Vec::new();
    for statement in &a_says {
        match b_says.iter().find(|other| other.key == statement.key) {
            None => lines.push(format!("- {}: {}", statement.key, statement.text)),
            Some(other) if other.text != statement.text => lines.push(format!(
                "~ {}: {} | {}",
                statement.key, statement.text, other.text
            )),
            Some(_) => {}
        }
    }
    for statement in &b_says {
        if !a_says.iter().any(|other| other.key == statement.key) {
            lines.push(format!("+ {}: {}", statement.key, statement.text));
        }
    }
    if let (Some((a_layout, _)), Some((b_layout, _))) = (a.layout, b.layout) {
        lines.push(if a_layout == b_layout {
            "layout: the same: a migration stream from one resumes on the other".to_string()
        } else {
            "layout: differs: the driver refuses a migration stream from one into the other \
             (EXDEV)"
                .to_string()
        });
    }
    lines
}

/// Whether `diff` found a difference (a layout line alone is not one).
pub fn differ(lines: &[String]) -> bool {
    lines.iter().any(|line| !line.starts_with("layout: "))
}
