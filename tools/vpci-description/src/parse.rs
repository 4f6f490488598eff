// SPDX-License-Identifier: GPL-2.0

//! Reads a description, statement by statement, and checks it as a whole: every mistake is
//! refused with the line it is on.

use crate::model::{
    Description, Error, ExtCap, ExtKind, Hidden, Hostile, Memory, Msix, Passed, Register, Space,
    Synth,
};
use crate::names::{cap_id, ext_cap_size, std_cap_size};

/// Size of the standard header: capabilities start after it.
const HEADER_END: u64 = 0x40;
/// Size of the PCI Express capability (version 2, endpoint).
const PCIE_LEN: u64 = 0x3c;
/// Size of the MSI-X capability.
const MSIX_LEN: u64 = 0x0c;
/// Where extended config space starts and ends.
const EXT_START: u64 = 0x100;
const EXT_END: u64 = 0x1000;

struct Parser<'a> {
    line: usize,
    words: std::iter::Peekable<std::str::SplitWhitespace<'a>>,
}

impl<'a> Parser<'a> {
    fn error(&self, message: impl Into<String>) -> Error {
        Error {
            line: self.line,
            message: message.into(),
        }
    }

    fn word(&mut self, what: &str) -> Result<&'a str, Error> {
        self.words
            .next()
            .ok_or_else(|| self.error(format!("{what} missing")))
    }

    fn keyword(&mut self, expected: &str) -> Result<(), Error> {
        match self.words.next() {
            Some(word) if word == expected => Ok(()),
            Some(word) => Err(self.error(format!("expected '{expected}', found '{word}'"))),
            None => Err(self.error(format!("expected '{expected}'"))),
        }
    }

    fn number(&mut self, what: &str, max: u64) -> Result<u64, Error> {
        let word = self.word(what)?;
        self.value(what, word, max)
    }

    fn value(&self, what: &str, word: &str, max: u64) -> Result<u64, Error> {
        let value = match word.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => word.parse(),
        }
        .map_err(|_| self.error(format!("{what}: '{word}' is not a number")))?;
        if value > max {
            return Err(self.error(format!("{what}: {word} is more than {max:#x}")));
        }
        Ok(value)
    }

    fn id_pair(&mut self, what: &str) -> Result<(u16, u16), Error> {
        let word = self.word(what)?;
        let (vendor, device) = word
            .split_once(':')
            .ok_or_else(|| self.error(format!("{what}: '{word}' is not VENDOR:DEVICE")))?;
        let parse = |part: &str| {
            (part.len() == 4)
                .then(|| u16::from_str_radix(part, 16).ok())
                .flatten()
                .ok_or_else(|| self.error(format!("{what}: '{word}' is not VENDOR:DEVICE in hex")))
        };
        Ok((parse(vendor)?, parse(device)?))
    }

    /// `at OFFSET`, dword aligned, inside `range`.
    fn at(&mut self, range: std::ops::Range<u64>) -> Result<u64, Error> {
        self.keyword("at")?;
        let offset = self.number("offset", u64::MAX)?;
        if !offset.is_multiple_of(4) {
            return Err(self.error(format!("offset {offset:#x} is not a multiple of 4")));
        }
        if !range.contains(&offset) {
            return Err(self.error(format!(
                "offset {offset:#x} is outside {:#x}..{:#x}",
                range.start, range.end
            )));
        }
        Ok(offset)
    }

    fn flag(&mut self, name: &str) -> bool {
        if self.words.peek() == Some(&name) {
            self.words.next();
            true
        } else {
            false
        }
    }

    /// `std|ext NAME|ID`: a capability of either chain.
    fn cap(&mut self) -> Result<(Space, u16), Error> {
        let space = match self.word("'std' or 'ext'")? {
            "std" => Space::Std,
            "ext" => Space::Ext,
            other => return Err(self.error(format!("expected 'std' or 'ext', found '{other}'"))),
        };
        let word = self.word("capability")?;
        let id = cap_id(space, word).ok_or_else(|| {
            self.error(format!(
                "'{word}' is no {} capability name or ID",
                space.keyword()
            ))
        })?;
        Ok((space, id))
    }

    /// `WHAT N`: a count from 1 to `max`.
    fn count(&mut self, what: &str, max: u64) -> Result<u64, Error> {
        self.keyword(what)?;
        match self.number(what, max)? {
            0 => Err(self.error(format!("{what}: at least 1"))),
            count => Ok(count),
        }
    }

    /// `abilities W0 W1 W2`, if next.
    fn abilities(&mut self) -> Result<Option<[u32; 3]>, Error> {
        if !self.flag("abilities") {
            return Ok(None);
        }
        let mut words = [0; 3];
        for word in &mut words {
            *word = self.number("abilities word", u32::MAX.into())? as u32;
        }
        Ok(Some(words))
    }

    fn end(&mut self) -> Result<(), Error> {
        match self.words.next() {
            None => Ok(()),
            Some(word) => Err(self.error(format!("unexpected '{word}'"))),
        }
    }
}

/// A capability's place, to find overlaps: (start, end, what, line).
type Placed = (u64, u64, String, usize);

fn check_overlaps(placed: &mut [Placed]) -> Result<(), Error> {
    placed.sort();
    for pair in placed.windows(2) {
        let (first, second) = (&pair[0], &pair[1]);
        if second.0 < first.1 {
            return Err(Error {
                line: second.3,
                message: format!(
                    "{} at {:#x} overlaps {} at {:#x}..{:#x} (line {})",
                    second.2, second.0, first.2, first.0, first.1, first.3
                ),
            });
        }
    }
    Ok(())
}

/// Each memory area lies inside the BAR and overlaps neither another one nor anything of
/// `others` (the registers, the MSI-X table and PBA, which may overlap each other as before).
fn check_memory(
    memory: &[Placed],
    others: &[Placed],
    bar_size: u32,
    bar_line: usize,
) -> Result<(), Error> {
    for (i, area) in memory.iter().enumerate() {
        let error = |message| Error {
            line: area.3,
            message,
        };
        if area.1 > u64::from(bar_size) {
            return Err(error(format!(
                "memory at {:#x} runs past the BAR ({bar_size:#x} bytes, line {bar_line})",
                area.0
            )));
        }
        if let Some(other) = memory[..i]
            .iter()
            .chain(others)
            .find(|other| area.0 < other.1 && other.0 < area.1)
        {
            return Err(error(format!(
                "memory at {:#x}..{:#x} overlaps {} at {:#x}..{:#x} (line {})",
                area.0, area.1, other.2, other.0, other.1, other.3
            )));
        }
    }
    Ok(())
}

/// Statements that may appear once; the others (`vsec`, `register`, `memory`, `pass`, `hide`,
/// `synth`) may be repeated, within their own rules.
const ONCE: [&str; 12] = [
    "device",
    "subsystem",
    "revision",
    "class",
    "pcie",
    "msix",
    "pasid",
    "ats",
    "pri",
    "bar",
    "hostile",
    "layout",
];

/// Parses and checks a description.
pub fn parse(text: &str) -> Result<Description, Error> {
    let mut ids = None;
    let mut desc = Description::default();
    let mut accept = None;
    let mut msix_line = 0;
    let mut seen: Vec<(&str, usize)> = Vec::new();
    let mut std_placed = Vec::new();
    let mut ext_placed = Vec::new();
    // The vPCI function's capabilities, passed through or synthesized, by chain.
    let mut vpci_std = Vec::new();
    let mut vpci_ext = Vec::new();
    let mut register_lines = Vec::new();
    // Memory areas, and what else lies in BAR 0 (registers, the MSI-X table and PBA): a
    // memory area may overlap none of them.
    let mut memory_placed = Vec::new();
    let mut bar_placed = Vec::new();

    for (index, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("");
        let mut p = Parser {
            line: index + 1,
            words: content.split_whitespace().peekable(),
        };
        let Some(keyword) = p.words.next() else {
            continue;
        };
        if ONCE.contains(&keyword) {
            if let Some((_, line)) = seen.iter().find(|(k, _)| *k == keyword) {
                return Err(p.error(format!("'{keyword}' again (first on line {line})")));
            }
            seen.push((keyword, p.line));
        }
        match keyword {
            "device" => {
                ids = Some(p.id_pair("device")?);
                desc.identity_lines[0] = p.line;
            }
            "subsystem" => {
                (desc.subsystem_vendor, desc.subsystem_device) = p.id_pair("subsystem")?;
                desc.identity_lines[1] = p.line;
            }
            "revision" => {
                desc.revision = p.number("revision", 0xff)? as u8;
                desc.identity_lines[2] = p.line;
                if p.flag("accept") {
                    let word = p.word("revisions")?;
                    let (low, high) = word.split_once('-').unwrap_or((word, word));
                    let (low, high) = (
                        p.value("revisions", low, 0xff)? as u8,
                        p.value("revisions", high, 0xff)? as u8,
                    );
                    if low > high {
                        return Err(p.error(format!("revisions {word}: {low} is above {high}")));
                    }
                    accept = Some((low, high));
                }
            }
            "class" => {
                for byte in &mut desc.class {
                    *byte = p.number("class byte", 0xff)? as u8;
                }
                desc.identity_lines[3] = p.line;
            }
            "pcie" => {
                let at = p.at(HEADER_END..0x100)?;
                std_placed.push((at, at + PCIE_LEN, "pcie".to_string(), p.line));
                desc.pcie = Some(at as u8);
            }
            "msix" => {
                let at = p.at(HEADER_END..0x100)?;
                let vectors = p.count("vectors", 2048)? as u16;
                p.keyword("table")?;
                let table = p.number("table offset", u32::MAX.into())? as u32;
                p.keyword("pba")?;
                let pba = p.number("pba offset", u32::MAX.into())? as u32;
                if !table.is_multiple_of(8) || !pba.is_multiple_of(8) {
                    return Err(p.error("table and pba offsets must be multiples of 8"));
                }
                std_placed.push((at, at + MSIX_LEN, "msix".to_string(), p.line));
                desc.msix = Some(Msix {
                    offset: at as u8,
                    vectors,
                    table,
                    pba,
                });
                desc.msix_first = desc.pcie.is_none();
                msix_line = p.line;
            }
            "pasid" | "ats" | "pri" | "vsec" => {
                let at = p.at(EXT_START..EXT_END)?;
                let kind = match keyword {
                    "pasid" => {
                        p.keyword("width")?;
                        let width = p.number("width", 20)? as u8;
                        let exec = p.flag("exec");
                        let privileged = p.flag("priv");
                        ExtKind::Pasid {
                            width,
                            exec,
                            privileged,
                        }
                    }
                    "ats" => {
                        p.keyword("queue")?;
                        let queue = p.number("queue", 32)?;
                        let page_aligned = p.flag("page-aligned");
                        // Depth 32 is encoded as 0.
                        ExtKind::Ats {
                            queue: (queue % 32) as u8,
                            page_aligned,
                        }
                    }
                    "pri" => {
                        p.keyword("requests")?;
                        ExtKind::Pri {
                            requests: p.number("requests", u32::MAX.into())? as u32,
                        }
                    }
                    _ => {
                        p.keyword("id")?;
                        let id = p.number("vsec id", 0xffff)? as u16;
                        p.keyword("length")?;
                        // The VSEC Length field has 12 bits.
                        let length = p.number("vsec length", 0xffc)? as u16;
                        if length < 8 || !length.is_multiple_of(4) {
                            return Err(p.error(format!(
                                "vsec length {length:#x} is not a multiple of 4 of at least 8"
                            )));
                        }
                        ExtKind::Vsec { id, length }
                    }
                };
                let end = at + u64::from(kind.size());
                if end > EXT_END {
                    return Err(p.error(format!("{} at {at:#x} runs past 0x1000", kind.name())));
                }
                ext_placed.push((at, end, kind.name().to_string(), p.line));
                desc.ext.push(ExtCap {
                    offset: at as u16,
                    kind,
                });
            }
            "bar" => {
                p.keyword("size")?;
                let size = p.number("bar size", 1 << 31)?;
                if size < 4096 || !size.is_power_of_two() {
                    return Err(p.error(format!(
                        "bar size {size:#x} is not a power of two of at least 4 KiB"
                    )));
                }
                desc.bar = Some((size as u32, p.line));
            }
            "register" => {
                let offset = p.number("register offset", u32::MAX.into())? as u32;
                let value = p.number("register value", u32::MAX.into())? as u32;
                let writable = p.flag("rw");
                if !offset.is_multiple_of(4) {
                    return Err(p.error(format!("register {offset:#x} is not a multiple of 4")));
                }
                if let Some(first) = desc.registers.iter().position(|r| r.offset == offset) {
                    return Err(p.error(format!(
                        "register {offset:#x} again (first on line {})",
                        register_lines[first]
                    )));
                }
                desc.registers.push(Register {
                    offset,
                    value,
                    writable,
                });
                register_lines.push(p.line);
            }
            "memory" => {
                let offset = p.number("memory offset", u32::MAX.into())? as u32;
                let size = p.number("memory size", u32::MAX.into())? as u32;
                if !offset.is_multiple_of(4) || !size.is_multiple_of(4) || size == 0 {
                    return Err(p.error(format!(
                        "memory {offset:#x} {size:#x}: offset and size must be multiples of 4, \
                         the size not 0"
                    )));
                }
                let end = u64::from(offset) + u64::from(size);
                memory_placed.push((u64::from(offset), end, "memory".to_string(), p.line));
                desc.memory.push(Memory { offset, size });
            }
            "hostile" => {
                desc.hostile = Some(Hostile {
                    line: p.line,
                    words: p.words.by_ref().map(str::to_string).collect(),
                });
            }
            "pass" => {
                let passed = pass(&mut p)?;
                let placed = (
                    u64::from(passed.offset),
                    u64::from(passed.offset) + u64::from(passed.length),
                    format!("pass {}", name_of(passed.space, passed.id)),
                    p.line,
                );
                if let Some(twin) = desc.passed.iter().find(|other| {
                    (other.space, other.id) == (passed.space, passed.id)
                        && !(passed.space == Space::Ext && passed.id == 0x0b)
                }) {
                    return Err(p.error(format!(
                        "{} passed through again (first on line {}); only vsec may repeat",
                        placed.2, twin.line
                    )));
                }
                match passed.space {
                    Space::Std => vpci_std.push(placed),
                    Space::Ext => vpci_ext.push(placed),
                }
                desc.passed.push(passed);
            }
            "hide" => {
                let (space, id) = p.cap()?;
                if let Some(twin) = desc.hidden.iter().find(|h| (h.space, h.id) == (space, id)) {
                    return Err(p.error(format!(
                        "{} hidden again (first on line {})",
                        name_of(space, id),
                        twin.line
                    )));
                }
                desc.hidden.push(Hidden {
                    space,
                    id,
                    line: p.line,
                });
            }
            "synth" => {
                let synth = synth(&mut p)?;
                if let Some(twin) = desc
                    .synthesized
                    .iter()
                    .find(|other| other.kind.id() == synth.kind.id())
                {
                    return Err(p.error(format!(
                        "{} synthesized again (first on line {})",
                        name_of(Space::Ext, synth.kind.id()),
                        twin.line
                    )));
                }
                vpci_ext.push((
                    u64::from(synth.offset),
                    u64::from(synth.offset) + u64::from(synth.kind.size()),
                    format!("synth {}", name_of(Space::Ext, synth.kind.id())),
                    p.line,
                ));
                desc.synthesized.push(synth);
            }
            "layout" => {
                desc.layout = Some((p.number("layout", u64::MAX)?, p.line));
            }
            other => return Err(p.error(format!("unknown statement '{other}'"))),
        }
        p.end()?;
    }

    let last = text.lines().count().max(1);
    (desc.vendor, desc.device) = ids.ok_or_else(|| Error {
        line: last,
        message: "no 'device' statement".to_string(),
    })?;
    desc.accept_revisions = accept.unwrap_or((desc.revision, desc.revision));
    // The extended chain starts at 0x100: the device model's first extended capability must
    // be there. A vPCI function whose first one is elsewhere starts with a null header at
    // 0x100, as the driver does when it hides a PASID capability that came first.
    if let (Some(first), Some(placed)) = (desc.ext.first(), ext_placed.first()) {
        if first.offset != 0x100 {
            return Err(Error {
                line: placed.3,
                message: format!(
                    "the first extended capability must be at 0x100, where the chain starts \
                     (this one is at {:#x})",
                    first.offset
                ),
            });
        }
    }
    check_overlaps(&mut std_placed)?;
    check_overlaps(&mut ext_placed)?;
    check_overlaps(&mut vpci_std)?;
    check_overlaps(&mut vpci_ext)?;
    check_hidden(&desc)?;
    check_bar(
        &mut desc,
        &register_lines,
        msix_line,
        &memory_placed,
        &mut bar_placed,
    )?;
    Ok(desc)
}

/// A capability is either passed through or hidden, and a synthesized one hides the device's
/// own: passing it through too would show two.
fn check_hidden(desc: &Description) -> Result<(), Error> {
    for hidden in &desc.hidden {
        if let Some(passed) = desc
            .passed
            .iter()
            .find(|p| (p.space, p.id) == (hidden.space, hidden.id))
        {
            return Err(Error {
                line: hidden.line,
                message: format!(
                    "{} is hidden and passed through (line {})",
                    name_of(hidden.space, hidden.id),
                    passed.line
                ),
            });
        }
    }
    for synth in &desc.synthesized {
        if let Some(passed) = desc
            .passed
            .iter()
            .find(|p| (p.space, p.id) == (Space::Ext, synth.kind.id()))
        {
            return Err(Error {
                line: synth.line,
                message: format!(
                    "{} is synthesized and passed through (line {}): hide the device's own",
                    name_of(Space::Ext, synth.kind.id()),
                    passed.line
                ),
            });
        }
    }
    Ok(())
}

/// BAR 0's registers, MSI-X table and PBA and memory areas lie inside it and do not overlap.
fn check_bar(
    desc: &mut Description,
    register_lines: &[usize],
    msix_line: usize,
    memory_placed: &[Placed],
    bar_placed: &mut Vec<Placed>,
) -> Result<(), Error> {
    let Some((bar_size, bar_line)) = desc.bar else {
        let needs_bar = register_lines
            .first()
            .or(memory_placed.first().map(|area| &area.3));
        return match needs_bar {
            Some(&line) => Err(Error {
                line,
                message: "no 'bar' statement for this content of BAR 0".to_string(),
            }),
            None => Ok(()),
        };
    };
    for (register, line) in desc.registers.iter().zip(register_lines) {
        if register.offset >= bar_size {
            return Err(Error {
                line: *line,
                message: format!(
                    "register {:#x} is outside the BAR ({bar_size:#x} bytes, line {bar_line})",
                    register.offset
                ),
            });
        }
        let at = u64::from(register.offset);
        bar_placed.push((at, at + 4, "register".to_string(), *line));
    }
    if let Some(msix) = desc.msix {
        let table_end = u64::from(msix.table) + 16 * u64::from(msix.vectors);
        let pba_end = u64::from(msix.pba) + 8 * u64::from(msix.vectors).div_ceil(64);
        if table_end > u64::from(bar_size) || pba_end > u64::from(bar_size) {
            return Err(Error {
                line: msix_line,
                message: format!("msix table or pba outside the BAR ({bar_size:#x} bytes)"),
            });
        }
        bar_placed.push((msix.table.into(), table_end, "msix table".into(), msix_line));
        bar_placed.push((msix.pba.into(), pba_end, "msix pba".into(), msix_line));
    }
    check_memory(memory_placed, bar_placed, bar_size, bar_line)
}

/// A capability's name, or its space and ID in hex.
fn name_of(space: Space, id: u16) -> String {
    match crate::names::cap_name(space, id) {
        Some(name) => format!("{} {name}", space.keyword()),
        None => format!("{} {id:#x}", space.keyword()),
    }
}

/// `pass std NAME|ID at OFFSET [abilities W0 W1 W2] [relocatable]`, or
/// `pass ext NAME|ID version V at OFFSET [length LEN] [relocatable]`.
fn pass(p: &mut Parser<'_>) -> Result<Passed, Error> {
    let (space, id) = p.cap()?;
    let (offset, version, abilities, length) = match space {
        Space::Std => {
            let at = p.at(HEADER_END..EXT_START)?;
            let abilities = p.abilities()?;
            (at, 0, abilities, std_cap_size(id, abilities))
        }
        Space::Ext => {
            p.keyword("version")?;
            let version = p.number("version", 0xf)? as u8;
            let at = p.at(EXT_START..EXT_END)?;
            let length = if p.flag("length") {
                let length = p.number("length", 0xffc)? as u16;
                if length < 4 || !length.is_multiple_of(4) {
                    return Err(p.error(format!(
                        "length {length:#x} is not a multiple of 4 of at least 4"
                    )));
                }
                length
            } else {
                ext_cap_size(id).ok_or_else(|| {
                    p.error(format!(
                        "{}: the format knows no size for it, give 'length LEN'",
                        name_of(space, id)
                    ))
                })?
            };
            (at, version, None, length)
        }
    };
    let end = offset + u64::from(length);
    let limit = match space {
        Space::Std => EXT_START,
        Space::Ext => EXT_END,
    };
    if end > limit {
        return Err(p.error(format!(
            "{} at {offset:#x} runs past {limit:#x}",
            name_of(space, id)
        )));
    }
    let relocatable = p.flag("relocatable");
    Ok(Passed {
        space,
        id,
        offset: offset as u16,
        version,
        length,
        abilities,
        relocatable,
        line: p.line,
    })
}

/// `synth pasid at OFFSET width W [exec] [priv]`, `synth ats at OFFSET queue N
/// [page-aligned]` or `synth pri at OFFSET requests N`.
fn synth(p: &mut Parser<'_>) -> Result<Synth, Error> {
    let what = p.word("'pasid', 'ats' or 'pri'")?;
    let at = p.at(EXT_START..EXT_END)?;
    let kind = match what {
        "pasid" => ExtKind::Pasid {
            width: p.count("width", 20)? as u8,
            exec: p.flag("exec"),
            privileged: p.flag("priv"),
        },
        "ats" => ExtKind::Ats {
            // Depth 32 is encoded as 0.
            queue: (p.count("queue", 32)? % 32) as u8,
            page_aligned: p.flag("page-aligned"),
        },
        "pri" => {
            p.keyword("requests")?;
            ExtKind::Pri {
                requests: p.number("requests", u32::MAX.into())? as u32,
            }
        }
        other => {
            return Err(p.error(format!(
                "a VMM synthesizes 'pasid', 'ats' or 'pri', not '{other}'"
            )))
        }
    };
    if at + u64::from(kind.size()) > EXT_END {
        return Err(p.error(format!("synth {what} at {at:#x} runs past 0x1000")));
    }
    Ok(Synth {
        offset: at as u16,
        kind,
        line: p.line,
    })
}
