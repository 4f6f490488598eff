// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the walks of an untrusted config space: see [`rvfio_fuzz::Cfg::from_fuzz_input`]
//! for how the input bytes are read and [`rvfio_fuzz::exercise`] for what is checked.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rvfio_fuzz::exercise(&rvfio_fuzz::Cfg::from_fuzz_input(data));
});
