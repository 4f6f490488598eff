// SPDX-License-Identifier: GPL-2.0

//! Byte-level helpers the pure encoders and decoders share. Plain loops rather than
//! `copy_from_slice`, whose length-mismatch panic path objtool does not know as noreturn.

/// Copies `bytes` into `out` at `at`, as far as `out` goes.
pub(crate) fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    let dest = out.iter_mut().skip(at);
    for (dest, byte) in dest.zip(bytes) {
        *dest = *byte;
    }
}

/// The little-endian `u16` at `at`.
pub(crate) fn le_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// The little-endian `u32` at `at`.
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The little-endian `u64` at `at`.
pub(crate) fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from(le_u32(bytes, at)) | u64::from(le_u32(bytes, at + 4)) << 32
}
