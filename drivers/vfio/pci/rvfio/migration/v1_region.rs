// SPDX-License-Identifier: GPL-2.0

//! The v1-layout migration region (`VFIO_REGION_TYPE_MIGRATION_DEPRECATED`): where its
//! fields are and which accesses are well formed. Pure code: the driver decides what an
//! access does (`migration/mod.rs`).
//!
//! ```text
//!      0  struct vfio_device_migration_info: device_state (u32), reserved (u32),
//!         pending_bytes (u64), data_offset (u64), data_size (u64)
//!   4096  data section, DATA_SIZE bytes
//! ```

/// Offset of the data section in the region, the value `data_offset` reads.
pub(crate) const DATA_OFFSET: u64 = 4096;

/// Size of the data section: the most one iteration of the v1 protocol moves.
pub(crate) const DATA_SIZE: usize = 4096;

/// Size of the region.
pub(crate) const REGION_SIZE: u64 = DATA_OFFSET + DATA_SIZE as u64;

/// A well-formed access to the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// `device_state`, 4 bytes.
    DeviceState,
    /// `pending_bytes`, 8 bytes, read only.
    PendingBytes,
    /// `data_offset`, 8 bytes, read only.
    DataOffset,
    /// `data_size`, 8 bytes: read while saving, written while resuming.
    DataSize,
    /// Bytes of the data section, from `at` bytes into it.
    Data { at: usize },
}

/// Whether an access reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// Classifies an access of `len` bytes at `offset` in the region: a header field is accessed
/// whole, at its own offset, and only in the directions it allows (`reserved` in none); the
/// data section in any piece that lies inside it. `None` for anything else.
pub(crate) fn classify(offset: u64, len: usize, direction: Direction) -> Option<Field> {
    use Direction::Read;
    let field = match (offset, len, direction) {
        (0, 4, _) => Field::DeviceState,
        (8, 8, Read) => Field::PendingBytes,
        (16, 8, Read) => Field::DataOffset,
        (24, 8, _) => Field::DataSize,
        _ => {
            let at = offset.checked_sub(DATA_OFFSET)?;
            let end = at.checked_add(u64::try_from(len).ok()?)?;
            if len == 0 || end > DATA_SIZE as u64 {
                return None;
            }
            Field::Data { at: at as usize }
        }
    };
    Some(field)
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_mig_region))]
mod tests {
    use super::Direction::{Read, Write};
    use super::*;

    #[test]
    fn header_fields_whole_and_in_their_directions() {
        for direction in [Read, Write] {
            assert_eq!(classify(0, 4, direction), Some(Field::DeviceState));
            assert_eq!(classify(24, 8, direction), Some(Field::DataSize));
        }
        assert_eq!(classify(8, 8, Read), Some(Field::PendingBytes));
        assert_eq!(classify(16, 8, Read), Some(Field::DataOffset));
        assert_eq!(classify(8, 8, Write), None);
        assert_eq!(classify(16, 8, Write), None);
    }

    #[test]
    fn partial_wide_and_reserved_header_accesses_are_refused() {
        for direction in [Read, Write] {
            // Reserved, pieces of fields, two fields at once, the gap before the data.
            for (offset, len) in [
                (4, 4),
                (0, 2),
                (2, 2),
                (0, 8),
                (8, 4),
                (12, 4),
                (16, 16),
                (24, 4),
                (28, 4),
                (32, 8),
                (4088, 8),
                (4095, 2),
            ] {
                assert_eq!(classify(offset, len, direction), None);
            }
        }
    }

    #[test]
    fn data_section_edges() {
        for direction in [Read, Write] {
            assert_eq!(
                classify(DATA_OFFSET, DATA_SIZE, direction),
                Some(Field::Data { at: 0 })
            );
            assert_eq!(
                classify(REGION_SIZE - 1, 1, direction),
                Some(Field::Data { at: DATA_SIZE - 1 })
            );
            assert_eq!(
                classify(DATA_OFFSET + 100, 3, direction),
                Some(Field::Data { at: 100 })
            );
            // Zero length, past the end, straddling the end.
            assert_eq!(classify(DATA_OFFSET, 0, direction), None);
            assert_eq!(classify(REGION_SIZE, 1, direction), None);
            assert_eq!(classify(REGION_SIZE - 1, 2, direction), None);
            assert_eq!(classify(DATA_OFFSET, DATA_SIZE + 1, direction), None);
        }
    }

    #[test]
    fn sums_that_would_overflow_are_refused() {
        for direction in [Read, Write] {
            assert_eq!(classify(u64::MAX, 1, direction), None);
            assert_eq!(classify(u64::MAX - 3, 8, direction), None);
            assert_eq!(classify(DATA_OFFSET, usize::MAX, direction), None);
            assert_eq!(classify(DATA_OFFSET + 1, usize::MAX, direction), None);
        }
    }
}
