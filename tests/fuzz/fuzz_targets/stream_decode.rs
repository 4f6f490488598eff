// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the decoding of an untrusted migration stream: see [`rvfio_fuzz::stream`] for how
//! the input bytes are read and what is checked.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rvfio_fuzz::stream::exercise_stream(data);
});
