// SPDX-License-Identifier: GPL-2.0

//! `rvfio-vpci`: the vPCI function a device bound to `rvfio-pci` can present, as an instance
//! type (`Documentation/vpci.rst`).
//!
//! ```text
//! rvfio-vpci derive BDF              # the description of what the device can present
//! rvfio-vpci check DESCRIPTION BDF   # yes or no, with the reasons; exit code per reason
//! rvfio-vpci diff A B                # A and B: a BDF (a device) or a description file
//! ```
//!
//! Decisions live in pure modules ([`derive`], [`check`], [`diff`]) over a [`view::DeviceView`]
//! read with the driver's own walkers; [`device`] is the only I/O.

mod check;
mod derive;
mod device;
mod diff;
mod feature;
mod view;

// The driver's capability walkers and layout fingerprint: the tool reads a device as the
// driver does, and fingerprints it as a migration stream records it. The tests also take the
// driver's PASID hiding and feature encoding, to make the device views a driver would.
#[path = "../../../drivers/vfio/pci/rvfio/config"]
#[allow(dead_code, clippy::manual_is_multiple_of)]
mod config {
    #[cfg(test)]
    pub mod pasid_ats;
    pub mod pci_caps;
    #[cfg(test)]
    pub mod view;
}
#[cfg(test)]
#[path = "../../../drivers/vfio/pci/rvfio/bytes.rs"]
#[allow(dead_code)]
mod bytes;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use vpci_description::{parse, Description};

/// Exit codes besides `check`'s reasons (`check::Class`): 0 yes or the same, 1 `diff` found
/// differences, and these.
const EXIT_USAGE: u8 = 2;
const EXIT_DESCRIPTION: u8 = 3;
const EXIT_DEVICE: u8 = 4;

const USAGE: &str = "usage: rvfio-vpci derive BDF
       rvfio-vpci check DESCRIPTION BDF
       rvfio-vpci diff A B          (A, B: a BDF or a description file)";

/// Whether `word` names a PCI function, `DDDD:BB:DD.F` in hexadecimal.
fn is_bdf(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() == 12
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b':',
            10 => b == b'.',
            11 => (b'0'..=b'7').contains(&b),
            _ => b.is_ascii_hexdigit(),
        })
}

/// A failure, with the exit code that says which kind.
struct Failure {
    code: u8,
    message: String,
}

/// What the device at `bdf` presents.
fn read_device(bdf: &str) -> Result<view::DeviceView, Failure> {
    let failure = |err: device::Error| Failure {
        code: EXIT_DEVICE,
        message: format!("{bdf}: {}", err.message),
    };
    let dev = device::VfioDevice::open(bdf).map_err(failure)?;
    let feature = dev.feature().map_err(failure)?;
    let config = dev.config().map_err(failure)?;
    Ok(view::DeviceView::read(&config, feature))
}

fn read_description(path: &str) -> Result<Description, Failure> {
    let failure = |message| Failure {
        code: EXIT_DESCRIPTION,
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|err| failure(format!("{path}: {err}")))?;
    parse(&text).map_err(|err| failure(format!("{path}: {err}")))
}

/// A description from a file, or derived from a device when `what` is a BDF.
fn load(what: &str) -> Result<Description, Failure> {
    if is_bdf(what) {
        Ok(derive::derive(&read_device(what)?).0)
    } else {
        read_description(what)
    }
}

fn run(args: &[String]) -> Result<u8, Failure> {
    let usage = || Failure {
        code: EXIT_USAGE,
        message: USAGE.to_string(),
    };
    match args {
        [command, bdf] if command == "derive" => {
            if !is_bdf(bdf) {
                return Err(Failure {
                    code: EXIT_USAGE,
                    message: format!("'{bdf}' is not a BDF (DDDD:BB:DD.F)"),
                });
            }
            let (desc, notes) = derive::derive(&read_device(bdf)?);
            print!("{}", derive::derived_text(bdf, &desc, &notes));
            Ok(0)
        }
        [command, path, bdf] if command == "check" => {
            let desc = read_description(path)?;
            if !is_bdf(bdf) {
                return Err(Failure {
                    code: EXIT_USAGE,
                    message: format!("'{bdf}' is not a BDF (DDDD:BB:DD.F)"),
                });
            }
            let verdict = check::check(&desc, &read_device(bdf)?);
            let answer = if verdict.reasons.is_empty() {
                "yes, it can present"
            } else {
                "no, it cannot present"
            };
            println!("{bdf}: {answer} {path}");
            for line in verdict.reasons.iter().map(ToString::to_string) {
                println!("  {line}");
            }
            for line in verdict.relocated.iter().chain(&verdict.notes) {
                println!("  {line}");
            }
            println!("  {}", verdict.layout);
            Ok(verdict.exit_code())
        }
        [command, a, b] if command == "diff" => {
            let lines = diff::diff(&load(a)?, &load(b)?);
            for line in &lines {
                println!("{line}");
            }
            Ok(u8::from(diff::differ(&lines)))
        }
        _ => Err(usage()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("rvfio-vpci: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
