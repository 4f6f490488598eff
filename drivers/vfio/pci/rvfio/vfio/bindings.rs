// SPDX-License-Identifier: GPL-2.0

//! Bindings for the VFIO items that `kernel::bindings` lacks.
//!
//! Generated at build time by `bindgen` from `bindings_helper.h` into the object directory
//! (`RVFIO_BINDINGS_RS`, set by the Makefile); every
//! non-VFIO type they mention resolves to `kernel::bindings`.

// `unnecessary_transmutes` is a lint of rustc 1.88 and later.
#![cfg_attr(not(CONFIG_RUSTC_HAS_UNNECESSARY_TRANSMUTES), allow(unknown_lints))]
#![allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unreachable_pub,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    unnecessary_transmutes,
    missing_docs,
    clippy::all,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::cast_lossless,
    clippy::undocumented_unsafe_blocks
)]

include!(env!("RVFIO_BINDINGS_RS"));
