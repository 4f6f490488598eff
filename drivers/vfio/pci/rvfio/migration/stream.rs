// SPDX-License-Identifier: GPL-2.0

//! The migration data stream: what a saving session's fd reads and a resuming session's fd
//! takes. Documented in `Documentation/migration.rst`.
//!
//! A stream is a sequence of records: any number of pre-copy records, then one final record,
//! then nothing. Every record is
//!
//! ```text
//! header (48 bytes, little-endian):
//!    0 magic "RVFIOMIG"          8 version (u16)          10 header size (u16) = 48
//!   12 kind (u16): 1 pre-copy, 2 final                    14 section count (u16)
//!   16 personality (u32)        20 vendor, device (u16 each)
//!   24 subsystem vendor, subsystem device (u16 each)      28 revision (u8), 3 zero bytes
//!   32 layout fingerprint (u64) 40 record size (u32)      44 zero (u32)
//! sections, each: id (u16), zero (u16), payload size (u32), payload
//! checksum: CRC-32 (IEEE 802.3) of every byte before it (u32)
//! ```
//!
//! The [`Decoder`] takes the stream in pieces of any size, holds at most one record
//! ([`MAX_RECORD_SIZE`]) and refuses a record as soon as it can tell what is wrong with it.
//! Pure code: the buffers are the caller's, through [`Buffer`].

use crate::bytes::{le_u16, le_u32, le_u64, put};

/// The first bytes of every record.
pub(crate) const MAGIC: [u8; 8] = *b"RVFIOMIG";
/// The version this driver writes and reads.
pub(crate) const VERSION: u16 = 1;
/// Size of a record header.
pub(crate) const HEADER_SIZE: usize = 48;
/// Size of a section header.
pub(crate) const SECTION_HEADER_SIZE: usize = 8;
/// Size of the checksum that ends a record.
pub(crate) const CHECKSUM_SIZE: usize = 4;
/// The largest record the decoder takes: what bounds the memory a resuming session holds.
pub(crate) const MAX_RECORD_SIZE: usize = 16384;
/// The most sections a record may have.
pub(crate) const MAX_SECTIONS: usize = 16;

/// What a record holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum RecordKind {
    /// A copy of the state taken while the device ran (pre-copy); a later record supersedes it.
    PreCopy = 1,
    /// The state of the stopped device; the stream ends after it.
    Final = 2,
}

/// Which device a stream belongs to: a stream loads only into a device with the same one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Identity {
    /// The personality that saved the state (its `id`).
    pub(crate) personality: u32,
    /// PCI vendor ID.
    pub(crate) vendor: u16,
    /// PCI device ID.
    pub(crate) device: u16,
    /// PCI subsystem vendor ID.
    pub(crate) subsystem_vendor: u16,
    /// PCI subsystem ID.
    pub(crate) subsystem_device: u16,
    /// PCI revision ID.
    pub(crate) revision: u8,
    /// Fingerprint of the config-space layout the user sees (`pci_caps::layout_fingerprint`).
    pub(crate) layout: u64,
}

/// Why a stream is refused; each has its own errno (`Documentation/migration.rst`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum StreamError {
    /// Not a stream of this driver, or its framing or content is wrong: `EINVAL`.
    Malformed,
    /// The checksum does not match: `EBADMSG`.
    Corrupted,
    /// Written by a version this driver does not read: `EPROTONOSUPPORT`.
    UnknownVersion,
    /// Saved from another kind of device or by another personality: `ENODEV`.
    OtherDevice,
    /// Saved from a device whose config-space layout differs: `EXDEV`.
    OtherLayout,
    /// A record larger than [`MAX_RECORD_SIZE`]: `EFBIG`.
    TooLarge,
    /// The stream ended before its final record: `ENODATA`.
    Truncated,
    /// The buffer could not grow: `ENOMEM`.
    NoMemory,
}

/// A byte buffer the codec appends to: `KVec<u8>` in the kernel, `Vec<u8>` on the host.
pub(crate) trait Buffer {
    /// The bytes held.
    fn bytes(&self) -> &[u8];
    /// Appends `data`.
    fn append(&mut self, data: &[u8]) -> Result<(), StreamError>;
    /// Drops every byte, keeping the allocation.
    fn clear(&mut self);
}

/// CRC-32 as IEEE 802.3 and zlib compute it (reflected, polynomial 0xedb88320).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, &byte| {
        TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8)
    })
}

/// One section of a record to encode: its id and payload.
pub(crate) struct Section<'a> {
    /// The personality's id of the section.
    pub(crate) id: u16,
    /// The payload.
    pub(crate) payload: &'a [u8],
}

/// Appends one record to `out` and returns its size. Fails with [`StreamError::TooLarge`],
/// before appending anything, if it would exceed [`MAX_RECORD_SIZE`] or have more than
/// [`MAX_SECTIONS`] sections; after [`StreamError::NoMemory`] `out` ends with part of a record.
pub(crate) fn encode(
    out: &mut impl Buffer,
    kind: RecordKind,
    identity: &Identity,
    sections: &[Section<'_>],
) -> Result<usize, StreamError> {
    let size = sections
        .iter()
        .fold(HEADER_SIZE + CHECKSUM_SIZE, |size, s| {
            size.saturating_add(SECTION_HEADER_SIZE + s.payload.len())
        });
    if size > MAX_RECORD_SIZE || sections.len() > MAX_SECTIONS {
        return Err(StreamError::TooLarge);
    }
    let start = out.bytes().len();
    let mut header = [0u8; HEADER_SIZE];
    let fields: [(usize, &[u8]); 12] = [
        (0, &MAGIC),
        (8, &VERSION.to_le_bytes()),
        (10, &(HEADER_SIZE as u16).to_le_bytes()),
        (12, &(kind as u16).to_le_bytes()),
        (14, &(sections.len() as u16).to_le_bytes()),
        (16, &identity.personality.to_le_bytes()),
        (20, &identity.vendor.to_le_bytes()),
        (22, &identity.device.to_le_bytes()),
        (24, &identity.subsystem_vendor.to_le_bytes()),
        (26, &identity.subsystem_device.to_le_bytes()),
        (28, &[identity.revision]),
        (32, &identity.layout.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        put(&mut header, at, bytes);
    }
    put(&mut header, 40, &(size as u32).to_le_bytes());
    out.append(&header)?;
    for section in sections {
        out.append(&section.id.to_le_bytes())?;
        out.append(&[0, 0])?;
        out.append(&(section.payload.len() as u32).to_le_bytes())?;
        out.append(section.payload)?;
    }
    let crc = crc32(&out.bytes()[start..]);
    out.append(&crc.to_le_bytes())?;
    Ok(size)
}

/// A complete record that passed every check, viewed in the decoder's buffer.
pub(crate) struct Record<'a> {
    /// Pre-copy or final.
    pub(crate) kind: RecordKind,
    bytes: &'a [u8],
    /// `(id, offset, size)` of each section's payload in `bytes`.
    sections: [(u16, usize, usize); MAX_SECTIONS],
    count: usize,
}

impl<'a> Record<'a> {
    /// The payload of the section `id`; `None` if the record has none.
    pub(crate) fn section(&self, id: u16) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        self.sections[..self.count]
            .iter()
            .find(|(sid, _, _)| *sid == id)
            .map(|&(_, at, size)| &bytes[at..at + size])
    }

    /// The ids of the record's sections, in stream order.
    pub(crate) fn section_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.sections[..self.count].iter().map(|(id, _, _)| *id)
    }
}

/// Takes a stream in pieces and checks each record as it completes.
///
/// # Invariants
///
/// `buf` holds the bytes of the record being received and never more than
/// [`MAX_RECORD_SIZE`]; once `refused` is set every call fails with it.
pub(crate) struct Decoder<B: Buffer> {
    buf: B,
    expected: Identity,
    /// The size of the record being received, once its header is in.
    record_size: Option<usize>,
    final_seen: bool,
    refused: Option<StreamError>,
}

impl<B: Buffer> Decoder<B> {
    /// A decoder taking streams saved from a device with the identity `expected`, collecting
    /// records in `buf`.
    pub(crate) fn new(mut buf: B, expected: Identity) -> Self {
        buf.clear();
        Self {
            buf,
            expected,
            record_size: None,
            final_seen: false,
            refused: None,
        }
    }

    /// Takes bytes from `data` up to the end of the current record. Returns how many it took
    /// and whether a record is now complete, to be read with [`Decoder::record`] before the
    /// next call.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<(usize, bool), StreamError> {
        let result = self.push_checked(data);
        if let Err(err) = result {
            self.refused = Some(err);
        }
        result
    }

    fn push_checked(&mut self, data: &[u8]) -> Result<(usize, bool), StreamError> {
        if let Some(err) = self.refused {
            return Err(err);
        }
        if data.is_empty() {
            return Ok((0, false));
        }
        if self.final_seen {
            return Err(StreamError::Malformed);
        }
        if self.buf.bytes().len() == self.record_size.unwrap_or(usize::MAX) {
            // The previous record was complete: this is the start of the next one.
            self.buf.clear();
            self.record_size = None;
        }
        let want = self.record_size.unwrap_or(HEADER_SIZE) - self.buf.bytes().len();
        let take = want.min(data.len());
        self.buf.append(&data[..take])?;
        if self.record_size.is_none() && self.buf.bytes().len() == HEADER_SIZE {
            self.record_size = Some(check_header(self.buf.bytes())?);
            return Ok((take, false));
        }
        let complete = Some(self.buf.bytes().len()) == self.record_size;
        if complete {
            let record = self.check_record()?;
            if record.kind == RecordKind::Final {
                self.final_seen = true;
            }
        }
        Ok((take, complete))
    }

    /// The record just completed by [`Decoder::push`].
    pub(crate) fn record(&self) -> Result<Record<'_>, StreamError> {
        self.check_record()
    }

    /// Checks the complete record in the buffer: checksum, framing, then identity.
    fn check_record(&self) -> Result<Record<'_>, StreamError> {
        let bytes = self.buf.bytes();
        if Some(bytes.len()) != self.record_size {
            return Err(StreamError::Truncated);
        }
        let body = bytes.len() - CHECKSUM_SIZE;
        if crc32(&bytes[..body]) != le_u32(bytes, body) {
            return Err(StreamError::Corrupted);
        }
        let kind = match le_u16(bytes, 12) {
            1 => RecordKind::PreCopy,
            2 => RecordKind::Final,
            _ => return Err(StreamError::Malformed),
        };
        if bytes[29..32] != [0, 0, 0] || le_u32(bytes, 44) != 0 {
            return Err(StreamError::Malformed);
        }
        let count = usize::from(le_u16(bytes, 14));
        if count > MAX_SECTIONS {
            return Err(StreamError::Malformed);
        }
        let mut record = Record {
            kind,
            bytes,
            sections: [(0, 0, 0); MAX_SECTIONS],
            count,
        };
        let mut at = HEADER_SIZE;
        for i in 0..count {
            if body - at < SECTION_HEADER_SIZE || le_u16(bytes, at + 2) != 0 {
                return Err(StreamError::Malformed);
            }
            let id = le_u16(bytes, at);
            let size = le_u32(bytes, at + 4) as usize;
            at += SECTION_HEADER_SIZE;
            if body - at < size || record.section_ids().take(i).any(|seen| seen == id) {
                return Err(StreamError::Malformed);
            }
            record.sections[i] = (id, at, size);
            at += size;
        }
        if at != body {
            return Err(StreamError::Malformed);
        }
        let found = Identity {
            personality: le_u32(bytes, 16),
            vendor: le_u16(bytes, 20),
            device: le_u16(bytes, 22),
            subsystem_vendor: le_u16(bytes, 24),
            subsystem_device: le_u16(bytes, 26),
            revision: bytes[28],
            layout: le_u64(bytes, 32),
        };
        let model = |identity: Identity| Identity {
            layout: 0,
            ..identity
        };
        if model(found) != model(self.expected) {
            return Err(StreamError::OtherDevice);
        }
        if found.layout != self.expected.layout {
            return Err(StreamError::OtherLayout);
        }
        Ok(record)
    }

    /// Checks that the stream is complete: its final record has been taken and nothing of a
    /// further record; otherwise the refusal, or [`StreamError::Truncated`].
    pub(crate) fn finish(&self) -> Result<(), StreamError> {
        if let Some(err) = self.refused {
            return Err(err);
        }
        if self.final_seen {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }
}

/// Checks a record header before the rest of the record is taken, and returns the record's
/// size: what must be known before buffering it.
fn check_header(header: &[u8]) -> Result<usize, StreamError> {
    if header[..8] != MAGIC {
        return Err(StreamError::Malformed);
    }
    if le_u16(header, 8) != VERSION {
        return Err(StreamError::UnknownVersion);
    }
    if usize::from(le_u16(header, 10)) != HEADER_SIZE {
        return Err(StreamError::Malformed);
    }
    let size = le_u32(header, 40) as usize;
    if size < HEADER_SIZE + CHECKSUM_SIZE {
        return Err(StreamError::Malformed);
    }
    if size > MAX_RECORD_SIZE {
        return Err(StreamError::TooLarge);
    }
    Ok(size)
}

#[cfg(any(test, CONFIG_KUNIT))]
pub(crate) mod testing {
    //! A fixed-capacity [`Buffer`] for tests in either build.

    use super::{Buffer, StreamError};

    /// A buffer of up to `N` bytes, held inline.
    pub(crate) struct Fixed<const N: usize> {
        bytes: [u8; N],
        len: usize,
    }

    impl<const N: usize> Fixed<N> {
        /// An empty buffer.
        pub(crate) fn new() -> Self {
            Self {
                bytes: [0; N],
                len: 0,
            }
        }

        /// The bytes, for a test to change.
        pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
            &mut self.bytes[..self.len]
        }
    }

    impl<const N: usize> Buffer for Fixed<N> {
        fn bytes(&self) -> &[u8] {
            &self.bytes[..self.len]
        }

        fn append(&mut self, data: &[u8]) -> Result<(), StreamError> {
            if N - self.len < data.len() {
                return Err(StreamError::NoMemory);
            }
            for (i, &b) in data.iter().enumerate() {
                self.bytes[self.len + i] = b;
            }
            self.len += data.len();
            Ok(())
        }

        fn clear(&mut self) {
            self.len = 0;
        }
    }
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_mig_stream))]
mod tests {
    use super::testing::Fixed;
    use super::*;
    use crate::bytes::put;

    const IGB: Identity = Identity {
        personality: 1,
        vendor: 0x8086,
        device: 0x10c9,
        subsystem_vendor: 0x8086,
        subsystem_device: 0,
        revision: 1,
        layout: 0x0123_4567_89ab_cdef,
    };

    /// A stream of one pre-copy and one final record, with a few sections.
    fn stream() -> Fixed<512> {
        let mut out = Fixed::new();
        let regs = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let phy = [9u8; 12];
        let sections = [
            Section {
                id: 1,
                payload: &regs,
            },
            Section {
                id: 2,
                payload: &phy,
            },
        ];
        encode(&mut out, RecordKind::PreCopy, &IGB, &sections[..1]).unwrap();
        encode(&mut out, RecordKind::Final, &IGB, &sections).unwrap();
        out
    }

    /// Feeds `bytes` to a decoder in pieces of `piece` bytes; returns the kinds of the
    /// records completed, or the first refusal.
    fn decode(
        bytes: &[u8],
        piece: usize,
        expected: Identity,
    ) -> Result<[Option<RecordKind>; 4], StreamError> {
        let mut decoder = Decoder::new(Fixed::<512>::new(), expected);
        let mut kinds = [None; 4];
        let mut found = 0;
        for chunk in bytes.chunks(piece) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let (took, complete) = decoder.push(rest)?;
                rest = &rest[took..];
                if complete {
                    kinds[found] = Some(decoder.record()?.kind);
                    found += 1;
                }
            }
        }
        decoder.finish()?;
        Ok(kinds)
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_stream_round_trips_in_pieces_of_every_size() {
        let out = stream();
        for piece in 1..=out.bytes().len() {
            let kinds = decode(out.bytes(), piece, IGB).unwrap();
            assert_eq!(
                kinds[..2],
                [Some(RecordKind::PreCopy), Some(RecordKind::Final)]
            );
            assert_eq!(kinds[2], None);
        }
    }

    #[test]
    fn sections_read_back_as_written() {
        let mut out = Fixed::<256>::new();
        let regs = [1u8, 2, 3, 4];
        let sections = [
            Section {
                id: 7,
                payload: &regs,
            },
            Section {
                id: 3,
                payload: &[],
            },
        ];
        let size = encode(&mut out, RecordKind::Final, &IGB, &sections).unwrap();
        assert_eq!(size, out.bytes().len());
        assert_eq!(
            size,
            HEADER_SIZE + 2 * SECTION_HEADER_SIZE + 4 + CHECKSUM_SIZE
        );
        let mut decoder = Decoder::new(Fixed::<256>::new(), IGB);
        let (took, complete) = decoder.push(&out.bytes()[..HEADER_SIZE]).unwrap();
        assert_eq!((took, complete), (HEADER_SIZE, false));
        let (took, complete) = decoder.push(&out.bytes()[HEADER_SIZE..]).unwrap();
        assert_eq!((took, complete), (size - HEADER_SIZE, true));
        let record = decoder.record().unwrap();
        assert_eq!(record.kind, RecordKind::Final);
        assert_eq!(record.section(7), Some(&regs[..]));
        assert_eq!(record.section(3), Some(&[][..]));
        assert_eq!(record.section(1), None);
        assert!(record.section_ids().eq([7, 3]));
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let good = stream();
        let len = good.bytes().len();
        for byte in 0..len {
            for bit in 0..8 {
                let mut bad = stream();
                bad.bytes_mut()[byte] ^= 1 << bit;
                let result = decode(bad.bytes(), len, IGB);
                assert!(result.is_err());
            }
        }
        // A flip the checksum covers, in a field checked only after it, is a corruption.
        let mut bad = stream();
        bad.bytes_mut()[22] ^= 1;
        assert_eq!(decode(bad.bytes(), len, IGB), Err(StreamError::Corrupted));
    }

    #[test]
    fn each_refusal_has_its_own_reason() {
        let good = stream();
        let len = good.bytes().len();
        let refused = |change: &dyn Fn(&mut [u8])| {
            let mut bad = stream();
            change(bad.bytes_mut());
            decode(bad.bytes(), len, IGB).unwrap_err()
        };
        assert_eq!(refused(&|b| b[0] = b'X'), StreamError::Malformed);
        assert_eq!(refused(&|b| b[8] = 2), StreamError::UnknownVersion);
        assert_eq!(refused(&|b| b[10] = 40), StreamError::Malformed);
        assert_eq!(
            refused(&|b| put(b, 40, &[0, 0, 1, 0])),
            StreamError::TooLarge
        );
        assert_eq!(
            refused(&|b| put(b, 40, &[10, 0, 0, 0])),
            StreamError::Malformed
        );
        assert_eq!(refused(&|b| b[100] ^= 0xff), StreamError::Corrupted);
        let other = Identity {
            device: 0x10d3,
            ..IGB
        };
        assert_eq!(
            decode(good.bytes(), len, other),
            Err(StreamError::OtherDevice)
        );
        let other = Identity {
            personality: 2,
            ..IGB
        };
        assert_eq!(
            decode(good.bytes(), len, other),
            Err(StreamError::OtherDevice)
        );
        let other = Identity { layout: 1, ..IGB };
        assert_eq!(
            decode(good.bytes(), len, other),
            Err(StreamError::OtherLayout)
        );
    }

    /// Re-encodes a record with a changed header field or framing, with a good checksum.
    fn resealed(change: impl Fn(&mut Fixed<512>)) -> Result<[Option<RecordKind>; 4], StreamError> {
        let mut out = Fixed::<512>::new();
        encode(
            &mut out,
            RecordKind::Final,
            &IGB,
            &[Section {
                id: 1,
                payload: &[1, 2, 3, 4],
            }],
        )
        .unwrap();
        change(&mut out);
        let body = out.bytes().len() - CHECKSUM_SIZE;
        let crc = crc32(&out.bytes()[..body]).to_le_bytes();
        put(out.bytes_mut(), body, &crc);
        decode(out.bytes(), 512, IGB)
    }

    #[test]
    fn framing_errors_behind_a_good_checksum_are_malformed() {
        assert!(resealed(|_| {}).is_ok());
        let malformed = Err(StreamError::Malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[12] = 3), malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[29] = 1), malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[44] = 1), malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[14] = 2), malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[14] = 0), malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[14] = 17), malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[HEADER_SIZE + 2] = 1), malformed);
        assert_eq!(resealed(|o| o.bytes_mut()[HEADER_SIZE + 4] = 5), malformed);
    }

    #[test]
    fn truncated_streams_are_refused_at_the_end() {
        let good = stream();
        let len = good.bytes().len();
        let first = HEADER_SIZE + SECTION_HEADER_SIZE + 8 + CHECKSUM_SIZE;
        for cut in 0..len {
            let result = decode(&good.bytes()[..cut], len, IGB);
            assert_eq!(result, Err(StreamError::Truncated));
        }
        // A pre-copy record alone is a stream that has not ended.
        assert_eq!(
            decode(&good.bytes()[..first], len, IGB),
            Err(StreamError::Truncated)
        );
    }

    #[test]
    fn nothing_may_follow_the_final_record() {
        let mut out = stream();
        out.append(&[0]).unwrap();
        let len = out.bytes().len();
        assert_eq!(decode(out.bytes(), len, IGB), Err(StreamError::Malformed));
    }

    #[test]
    fn a_refusal_sticks() {
        let mut decoder = Decoder::new(Fixed::<256>::new(), IGB);
        assert_eq!(decoder.push(&[0; HEADER_SIZE]), Err(StreamError::Malformed));
        assert_eq!(
            decoder.push(&stream().bytes()[..10]),
            Err(StreamError::Malformed)
        );
        assert_eq!(decoder.finish(), Err(StreamError::Malformed));
    }

    #[test]
    fn memory_stays_bounded() {
        // A header announcing more than the bound is refused before its body is taken.
        let mut out = Fixed::<512>::new();
        encode(&mut out, RecordKind::Final, &IGB, &[]).unwrap();
        put(
            out.bytes_mut(),
            40,
            &(MAX_RECORD_SIZE as u32 + 1).to_le_bytes(),
        );
        let mut decoder = Decoder::new(Fixed::<HEADER_SIZE>::new(), IGB);
        assert_eq!(decoder.push(out.bytes()), Err(StreamError::TooLarge));
        // The encoder refuses what the decoder would: 16 sections of 1 KiB and their headers.
        static KIB: [u8; 1024] = [0; 1024];
        let mut sink = Fixed::<16>::new();
        let sections = [(); MAX_SECTIONS].map(|()| Section {
            id: 1,
            payload: &KIB,
        });
        assert_eq!(
            encode(&mut sink, RecordKind::Final, &IGB, &sections),
            Err(StreamError::TooLarge)
        );
        let sections = [(); MAX_SECTIONS + 1].map(|()| Section {
            id: 1,
            payload: &[],
        });
        assert_eq!(
            encode(&mut sink, RecordKind::Final, &IGB, &sections),
            Err(StreamError::TooLarge)
        );
        assert!(sink.bytes().is_empty());
    }
}
