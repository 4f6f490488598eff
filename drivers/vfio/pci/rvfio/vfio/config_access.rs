// SPDX-License-Identifier: GPL-2.0

//! Reads and writes of the config region through a driver's [`ConfigFilter`].
//!
//! Every access still goes through `vfio_pci_core`, so its checks, errors and virtualization
//! apply as in `vfio-pci`; the hiding then changes the few bytes it owns. A read is done by the
//! core into the user's buffer and the patched spans (eight bytes at most each) are fetched
//! back, rewritten and stored again. A write is cut around the hidden capability, whose bytes
//! never reach the core.

use kernel::{
    bindings,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

use super::{bindings as vfio, region_at, OFFSET_MASK};
use super::{ConfigFilter, PciConfig};

/// Where an access of `count` bytes at file position `pos` lands in config space, if it is an
/// access to the config region that lies entirely inside it. Anything else goes to the core
/// untouched, which serves it or refuses it as for `vfio-pci`.
pub(super) fn config_offset(config: &PciConfig<'_>, pos: i64, count: usize) -> Option<u32> {
    let (index, offset) = region_at(pos)?;
    if index != vfio::VFIO_PCI_CONFIG_REGION_INDEX {
        return None;
    }
    let offset = u32::try_from(offset).ok()?;
    let end = offset.checked_add(u32::try_from(count).ok()?)?;
    (end <= u32::from(config.size())).then_some(offset)
}

/// Reads `count` bytes of config space at `offset` into `buf`, as the user sees them.
///
/// # Safety
///
/// The arguments must be those of a VFIO `read` on the open device `vdev`, whose position
/// `*ppos` is `offset` in the config region.
pub(super) unsafe fn read(
    hiding: &impl ConfigFilter,
    offset: u32,
    vdev: *mut vfio::vfio_device,
    buf: *mut u8,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: The arguments are VFIO's, as this function requires.
    let done = unsafe { vfio::vfio_pci_core_read(vdev, buf, count, ppos) };
    let Ok(read) = u32::try_from(done) else {
        return done;
    };
    let end = offset.saturating_add(read);
    for span in hiding.patched_spans() {
        // The bytes of the span the read returned.
        let (start, stop) = (
            u32::from(span.start).max(offset),
            u32::from(span.end).min(end),
        );
        if start >= stop {
            continue;
        }
        let skip = (start - offset) as usize;
        let user = UserPtr::from_addr(buf as usize).wrapping_byte_add(skip);
        // `start` lies in config space, so it fits in a u16.
        if patch(hiding, start as u16, user, (stop - start) as usize).is_err() {
            return EFAULT.to_errno() as isize;
        }
    }
    done
}

/// Rewrites the `len` bytes (at most 8) the user's buffer holds for config offset `at`.
fn patch(hiding: &impl ConfigFilter, at: u16, user: UserPtr, len: usize) -> Result {
    let mut bytes = [0u8; 8];
    let bytes = bytes.get_mut(..len).ok_or(EINVAL)?;
    let (mut reader, mut writer) = UserSlice::new(user, len).reader_writer();
    reader.read_slice(bytes)?;
    hiding.patch_read(at, bytes);
    writer.write_slice(bytes)
}

/// Writes `count` bytes at `offset` of config space from `buf`, dropping those aimed at the
/// hidden capability. Succeeds with `count`, as the core does for bytes it does not let
/// through.
///
/// # Safety
///
/// The arguments must be those of a VFIO `write` on the open device `vdev`, whose position
/// `*ppos` is `offset` in the config region.
pub(super) unsafe fn write(
    hiding: &impl ConfigFilter,
    offset: u32,
    vdev: *mut vfio::vfio_device,
    buf: *const u8,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: `ppos` is VFIO's valid file position.
    let region = unsafe { *ppos } & !OFFSET_MASK;
    // `count` fits in u32: `config_offset` checked the access lies inside config space.
    for part in hiding.write_parts(offset, count as u32) {
        let skip = (u32::from(part.start) - offset) as usize;
        let len = usize::from(part.end - part.start);
        let mut pos = region | i64::from(part.start);
        // SAFETY: `buf + skip .. + len` lies within the user's `count` bytes, and `pos` is a
        // position in the same region; the core checks both as for any write.
        let done =
            unsafe { vfio::vfio_pci_core_write(vdev, buf.wrapping_add(skip), len, &mut pos) };
        if done < 0 {
            return done;
        }
        if done as usize != len {
            // A short write: report the bytes consumed up to where it stopped.
            let consumed = skip + done as usize;
            // SAFETY: `ppos` is VFIO's valid file position.
            unsafe { *ppos += consumed as i64 };
            return consumed as isize;
        }
    }
    // SAFETY: `ppos` is VFIO's valid file position.
    unsafe { *ppos += count as i64 };
    count as isize
}
