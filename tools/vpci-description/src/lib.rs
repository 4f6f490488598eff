// SPDX-License-Identifier: GPL-2.0

//! The plain-text description of a PCIe function, as an operator writes it by hand.
//!
//! One format serves two readers. A *device model* prescribes a whole function, config space
//! and BAR 0, which the vfio-user fixture (`tests/fixture`) serves. An *instance type*
//! prescribes the config space a VMM presents to its guest (the vPCI function): which of the
//! device's capabilities are passed through and where, which the VMM synthesizes, which it
//! hides; `rvfio-vpci` (`tools/rvfio-vpci`) derives one from a device and checks a device
//! against one. `Documentation/vpci.rst` has the grammar; [`parse`] checks a text and names
//! the line of every mistake.

mod model;
mod names;
mod parse;
mod render;

pub use model::{
    Description, Error, ExtCap, ExtKind, Hidden, Hostile, Memory, Msix, Passed, Register, Space,
    Synth,
};
pub use names::{cap_name, ext_cap_size, std_cap_size};
pub use parse::parse;
pub use render::{instance_statements, Statement};

#[cfg(test)]
mod tests;
