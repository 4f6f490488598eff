// SPDX-License-Identifier: GPL-2.0

//! Fuzzes the software DMA dirty log: see [`rvfio_fuzz::dma_log`] for how the input bytes
//! are read and what is checked.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rvfio_fuzz::dma_log::exercise_dma_log(data);
});
