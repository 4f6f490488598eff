// SPDX-License-Identifier: GPL-2.0

//! The devices whose state the driver knows how to save and restore: one module per device
//! (for now QEMU's igb, an Intel 82576), each saying which registers hold the state, which
//! writes must be seen while saving, and how to quiesce and restart the device.

pub(crate) mod igb;
