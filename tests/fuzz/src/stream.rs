// SPDX-License-Identifier: GPL-2.0

//! Fuzzing of the migration stream decoder (`migration/stream.rs`) and of the igb personality's
//! reading of records (`igb`), as a resuming device meets an untrusted stream.
//!
//! Input: byte 0 chooses the size of the pieces the stream is fed in (1 to 256 bytes); the
//! rest is the stream. [`exercise_stream`] checks that the decoder
//! - gives the same records and the same verdict whether the stream comes whole or in pieces,
//! - never holds more than one record of at most `MAX_RECORD_SIZE` bytes,
//! - keeps refusing once it refused,
//! - passes only records whose state the personality then reads back identically after
//!   encoding it again.

use crate::migration::stream::{
    encode, Buffer, Decoder, Identity, RecordKind, StreamError, MAX_RECORD_SIZE,
};
use crate::personality::igb::State;
use crate::personality::ConfigState;

/// The device the fuzzed streams resume into; `run.sh` makes its seeds for this identity.
const FUZZ_IDENTITY: Identity = Identity {
    personality: crate::personality::igb::PERSONALITY,
    vendor: crate::personality::igb::VENDOR_ID,
    device: crate::personality::igb::DEVICE_ID,
    subsystem_vendor: 0x8086,
    subsystem_device: 0x0000,
    revision: 1,
    layout: 0x0123_4567_89ab_cdef,
};

/// A growable buffer that fails the run if the decoder ever holds more than one record.
struct Bounded(Vec<u8>);

impl Buffer for Bounded {
    fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn append(&mut self, data: &[u8]) -> Result<(), StreamError> {
        self.0.extend_from_slice(data);
        assert!(
            self.0.len() <= MAX_RECORD_SIZE,
            "decoder holds {} bytes",
            self.0.len()
        );
        Ok(())
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// What one complete record gave: its kind and the personality's reading of it.
type Decoded = (RecordKind, Result<(State, ConfigState), StreamError>);

/// What decoding a stream gave: each complete record, then the verdict (`finish`).
#[derive(PartialEq, Debug)]
struct Outcome {
    records: Vec<Decoded>,
    verdict: Result<(), StreamError>,
}

/// Decodes `stream` in pieces of `piece` bytes, as writes of that size to a data fd would.
fn decode(stream: &[u8], piece: usize) -> Outcome {
    let mut decoder = Decoder::new(Bounded(Vec::new()), FUZZ_IDENTITY);
    let mut records = Vec::new();
    let mut refusal = None;
    'pieces: for mut part in stream.chunks(piece) {
        while !part.is_empty() {
            match decoder.push(part) {
                Ok((took, complete)) => {
                    assert!(took > 0 && took <= part.len());
                    part = &part[took..];
                    if complete {
                        let record = decoder.record().expect("a complete record reads back");
                        let state = State::from_record(&record)
                            .and_then(|state| Ok((state, ConfigState::from_record(&record)?)));
                        records.push((record.kind, state));
                    }
                }
                Err(err) => {
                    refusal = Some(err);
                    break 'pieces;
                }
            }
        }
    }
    if let Some(err) = refusal {
        // A refusal sticks, whatever comes next.
        assert_eq!(decoder.push(b"RVFIOMIG"), Err(err));
        assert_eq!(decoder.finish(), Err(err));
    }
    Outcome {
        records,
        verdict: decoder.finish(),
    }
}

/// Runs every check on one fuzz input (see the module documentation).
pub fn exercise_stream(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(stream, stream.len().max(1));
    let pieces = decode(stream, usize::from(seed) + 1);
    assert_eq!(whole, pieces);

    // A state the personality accepted encodes to a record that reads back the same.
    for (kind, decoded) in &whole.records {
        let Ok((state, config)) = decoded else {
            continue;
        };
        let config_bytes = config.encode();
        let mut again = Bounded(Vec::new());
        encode(
            &mut again,
            *kind,
            &FUZZ_IDENTITY,
            &state.sections(&config_bytes),
        )
        .expect("an accepted state encodes");
        let reread = decode(&again.0, again.0.len());
        assert_eq!(reread.records, [(*kind, Ok((state.clone(), *config)))]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::stream::Section;

    /// A record like the seeds `run.sh` writes: every section of the igb, zero-filled.
    fn zero_record(kind: RecordKind) -> Vec<u8> {
        let (config, regs, phy) = ([0u8; 8], [0u8; 579 * 4], [0u8; 7 * 4]);
        let sections = [
            Section {
                id: 0x001,
                payload: &config,
            },
            Section {
                id: 0x100,
                payload: &regs,
            },
            Section {
                id: 0x101,
                payload: &phy,
            },
        ];
        let mut out = Bounded(Vec::new());
        encode(&mut out, kind, &FUZZ_IDENTITY, &sections).unwrap();
        out.0
    }

    #[test]
    fn seed_like_streams_pass_and_their_truncations_are_refused() {
        let mut stream = zero_record(RecordKind::PreCopy);
        stream.extend(zero_record(RecordKind::Final));
        for piece in [1, 7, 48, 4096] {
            let outcome = decode(&stream, piece);
            assert_eq!(outcome.verdict, Ok(()));
            assert_eq!(outcome.records.len(), 2);
            assert!(outcome.records.iter().all(|(_, state)| state.is_ok()));
            assert_eq!(
                decode(&stream[..stream.len() - 1], piece).verdict,
                Err(StreamError::Truncated)
            );
        }
        for seed in [0, 15, 255] {
            let mut input = vec![seed];
            input.extend(&stream);
            exercise_stream(&input);
        }
    }
}
