// SPDX-License-Identifier: GPL-2.0

//! What a description says, once parsed and checked.

use std::fmt;

/// A mistake in a description, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for Error {}

/// Which extended capability of a device model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtKind {
    /// PASID: maximum width, execute and privileged modes supported.
    Pasid {
        width: u8,
        exec: bool,
        privileged: bool,
    },
    /// ATS: invalidate queue depth (0 means 32), page-aligned requests.
    Ats { queue: u8, page_aligned: bool },
    /// PRI: outstanding page requests the function can issue.
    Pri { requests: u32 },
    /// Vendor-Specific: the VSEC ID and the length in bytes, both headers included.
    Vsec { id: u16, length: u16 },
}

impl ExtKind {
    /// The capability ID.
    pub fn id(&self) -> u16 {
        match self {
            ExtKind::Pasid { .. } => 0x1b,
            ExtKind::Ats { .. } => 0x0f,
            ExtKind::Pri { .. } => 0x13,
            ExtKind::Vsec { .. } => 0x0b,
        }
    }

    /// Bytes the capability occupies.
    pub fn size(&self) -> u16 {
        match self {
            ExtKind::Pasid { .. } => 8,
            ExtKind::Ats { .. } => 8,
            ExtKind::Pri { .. } => 0x10,
            ExtKind::Vsec { length, .. } => *length,
        }
    }

    /// ATS's invalidate queue depth, 1 to 32 (`queue` encodes 32 as 0).
    pub fn ats_queue_depth(queue: u8) -> u8 {
        if queue == 0 {
            32
        } else {
            queue
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            ExtKind::Pasid { .. } => "pasid",
            ExtKind::Ats { .. } => "ats",
            ExtKind::Pri { .. } => "pri",
            ExtKind::Vsec { .. } => "vsec",
        }
    }
}

/// An extended capability of a device model, where the file put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtCap {
    pub offset: u16,
    pub kind: ExtKind,
}

/// The MSI-X capability of a device model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msix {
    pub offset: u8,
    pub vectors: u16,
    /// Offsets of the table and the PBA in BAR 0.
    pub table: u32,
    pub pba: u32,
}

/// A register of BAR 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Register {
    pub offset: u32,
    pub value: u32,
    pub writable: bool,
}

/// An area of BAR 0 that holds what the guest writes, like memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub offset: u32,
    pub size: u32,
}

/// The words of a `hostile` statement, which only the fixture reads (`tests/fixture`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostile {
    pub line: usize,
    pub words: Vec<String>,
}

/// Which capability chain: the standard one (0x40..0x100) or the extended one (0x100..0x1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    Std,
    Ext,
}

impl Space {
    /// The keyword of the space in a statement.
    pub fn keyword(self) -> &'static str {
        match self {
            Space::Std => "std",
            Space::Ext => "ext",
        }
    }
}

/// A capability of the device that the vPCI function shows as the device has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passed {
    pub space: Space,
    pub id: u16,
    /// Where the vPCI function has it.
    pub offset: u16,
    /// Capability version (extended capabilities; 0 for standard ones).
    pub version: u8,
    /// Bytes it spans from its header.
    pub length: u16,
    /// What a standard capability says the device can do, as the driver's layout fingerprint
    /// reads it (`std_cap_abilities()` in `drivers/vfio/pci/rvfio/config/pci_caps.rs`), if
    /// the instance type prescribes it.
    pub abilities: Option<[u32; 3]>,
    /// The guest finds it by walking the chain, so a device that has it elsewhere still
    /// presents the instance type (there, with that offset).
    pub relocatable: bool,
    pub line: usize,
}

/// A capability the device may have that the vPCI function does not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hidden {
    pub space: Space,
    pub id: u16,
    pub line: usize,
}

/// A capability the VMM builds itself (PASID, ATS or PRI) and where the vPCI function has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synth {
    pub offset: u16,
    pub kind: ExtKind,
    pub line: usize,
}

/// A parsed and checked description. The default is what a description says of what it
/// leaves out: identity zero, no device model, no instance statements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description {
    pub vendor: u16,
    pub device: u16,
    pub subsystem_vendor: u16,
    pub subsystem_device: u16,
    pub revision: u8,
    /// The device revisions that present this description (`revision N accept LO-HI`; by
    /// default `revision` alone).
    pub accept_revisions: (u8, u8),
    pub class: [u8; 3],
    /// The line of each identity statement (`device`, `subsystem`, `revision`, `class`), 0
    /// where the description leaves it at its default.
    pub identity_lines: [usize; 4],

    // The device model (the fixture's).
    /// The PCI Express capability's offset, if the description has one.
    pub pcie: Option<u8>,
    pub msix: Option<Msix>,
    /// Whether MSI-X comes before PCI Express in the standard chain (the file's order).
    pub msix_first: bool,
    /// In chain order.
    pub ext: Vec<ExtCap>,
    /// BAR 0's size and the line that gave it, if the description has a BAR.
    pub bar: Option<(u32, usize)>,
    pub registers: Vec<Register>,
    pub memory: Vec<Memory>,
    pub hostile: Option<Hostile>,

    // The instance type.
    /// Passed-through capabilities, in the file's order (each chain's order).
    pub passed: Vec<Passed>,
    pub hidden: Vec<Hidden>,
    pub synthesized: Vec<Synth>,
    /// The driver's layout fingerprint of the device this description was derived from.
    pub layout: Option<(u64, usize)>,
}

impl Description {
    /// Whether the description says anything of an instance type.
    pub fn is_instance_type(&self) -> bool {
        !(self.passed.is_empty() && self.hidden.is_empty() && self.synthesized.is_empty())
            || self.layout.is_some()
    }
}
