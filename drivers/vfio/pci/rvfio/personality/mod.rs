// SPDX-License-Identifier: GPL-2.0

//! The devices whose state the driver saves and restores, in pure code: the [`Personality`]
//! trait that the state machine and the sessions (`migration/`) are generic over, the
//! register access it is given ([`Registers`]), the config-space state every personality's
//! stream carries ([`ConfigState`]), and one module per device (for now QEMU's igb, an Intel
//! 82576). `migration/` finds a bound device's personality by its vendor and device IDs.

pub(crate) mod igb;

use core::fmt::Debug;

use crate::bytes;
use crate::migration::stream::{Record, Section, StreamError};
use crate::vfio::mmap_rules::Span;

/// The 32-bit registers of the BAR a personality works through.
pub(crate) trait Registers {
    /// Reads the register at `offset`.
    fn read32(&mut self, offset: u32) -> u32;
    /// Writes the register at `offset`.
    fn write32(&mut self, offset: u32, value: u32);
    /// Sleeps about 10 ms, while the device's link comes up.
    fn pause(&mut self);
}

/// What the driver must know of a device to migrate it.
pub(crate) trait Personality: Send + Sync + 'static {
    /// The name the log gives it.
    const NAME: &'static str;
    /// Its number in a stream's identity.
    const ID: u32;
    /// The device it drives.
    const VENDOR_ID: u16;
    /// See [`Personality::VENDOR_ID`].
    const DEVICE_ID: u16;
    /// The BAR that holds its registers.
    const REGS_BAR: usize;
    /// The registers of that BAR whose writes the driver must see while the device saves
    /// (doorbells), sorted: their pages stay out of the user's mappings then.
    const TRAPPED: &'static [Span];
    /// The size of a final record, for `MIG_DATA_SIZE`.
    const FINAL_RECORD_SIZE: usize;

    /// What quiescing takes from the device, given back when it runs again.
    type Held: Copy + Send + Sync + Unpin;
    /// The device's saved state.
    type State: Send + Sync;
    /// Why the device's link could not be read or brought up.
    type LinkError: Debug;
    /// Why a saved state could not be loaded.
    type LoadError: Debug;

    /// Stops the device from starting DMA or raising interrupts, keeping posted work.
    fn quiesce(regs: &mut impl Registers) -> Self::Held;
    /// Lets a quiesced device run again as [`Personality::quiesce`] found it.
    fn unquiesce(regs: &mut impl Registers, held: &Self::Held);
    /// Saves the device's state; `held` is what quiescing took, if the device is quiesced.
    fn save(
        regs: &mut impl Registers,
        held: Option<&Self::Held>,
    ) -> Result<Self::State, Self::LinkError>;
    /// Starts bringing up the link of a device about to take a saved state.
    fn start_link(regs: &mut impl Registers) -> Result<(), Self::LinkError>;
    /// Loads a saved state into the device, leaving it quiesced.
    fn load(state: &Self::State, regs: &mut impl Registers) -> Result<Self::Held, Self::LoadError>;
    /// Runs `f` on the record sections of `state`, `config` (an encoded [`ConfigState`])
    /// among them.
    fn with_sections<R>(
        state: &Self::State,
        config: &[u8; CONFIG_SIZE],
        f: impl FnOnce(&[Section<'_>]) -> R,
    ) -> R;
    /// The state a record holds, checked.
    fn decode(record: &Record<'_>) -> Result<Self::State, StreamError>;

    /// What the driver keeps between the start and the end of DMA logging.
    type Tracker: Send + Sync + Unpin;

    /// Starts logging the device's DMA writes: adds to `out` every range the device may write
    /// from now on, and returns what [`Personality::track_write`] needs. The BAR's trapped
    /// pages are trapped from now on, so every write to them reaches `track_write`.
    fn start_tracking(
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
    ) -> Self::Tracker;
    /// A write of `len` bytes at `offset` of the registers BAR went through the trapped path
    /// to the device: adds to `out` what it handed the device to write (the buffers of the
    /// receive descriptors it posted).
    ///
    /// The glue must call it for every write that went through the trapped path while the
    /// log is kept, after the write reached the device and before the next report's first
    /// [`Personality::may_write`]: the tracker reads what a write handed over only here, and
    /// a report that finds a queue changed without it takes the device to have written
    /// anywhere.
    fn track_write(
        tracker: &mut Self::Tracker,
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
        offset: u64,
        len: u64,
    );
    /// Adds to `out` every range the device may write from now on: its rings, its write-back
    /// areas and the buffers of the descriptors it owns.
    ///
    /// A report makes two calls, and the tracker counts on their order: `may_write`, then the
    /// read and clear of the log, then `may_write` again, with no other call to the tracker
    /// ([`Personality::track_write`] included) in between. The first call makes the log hold
    /// what the device may have written until the read; the second puts back what it may
    /// write after the clear, the buffers of the descriptors it took between the two calls
    /// among them (their addresses, overwritten by the device, are what the first call read).
    /// Each report makes both calls, whatever window it reads: the tracker takes the calls
    /// as halves of reports in turn.
    fn may_write(
        tracker: &mut Self::Tracker,
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
    );
}

/// The device's view of memory: reads at I/O virtual addresses through an interface that
/// keeps the pages alive against a concurrent unmap (`vfio_dma_rw` in the kernel).
pub(crate) trait DmaMemory {
    /// Reads `buf.len()` bytes at `iova`.
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault>;
}

/// A read of the device's memory failed: the IOVA is not mapped, or the mapping's owner is
/// gone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct DmaFault;

/// Where a personality says its device may write.
pub(crate) trait DmaWrites {
    /// The device may write the `len` bytes at `iova`.
    fn may_write(&mut self, iova: u64, len: u64);
    /// The device may write anywhere: what it was handed could not be read.
    fn anywhere(&mut self);
}

/// The section that holds the [`ConfigState`] in every personality's records.
pub(crate) const CONFIG_SECTION: u16 = 0x001;

/// Size of [`ConfigState`] in a stream.
pub(crate) const CONFIG_SIZE: usize = 8;

/// The config-space state a driver programs: the command register's enables and the PCI
/// Express control registers.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct ConfigState {
    /// Command register: memory space, bus master, SERR# and parity enables.
    pub(crate) command: u16,
    /// PCI Express Device Control, without Initiate FLR.
    pub(crate) devctl: u16,
    /// PCI Express Device Control 2.
    pub(crate) devctl2: u16,
    /// PCI Express Link Control, without Retrain Link.
    pub(crate) lnkctl: u16,
}

impl ConfigState {
    /// The command bits carried.
    pub(crate) const COMMAND_BITS: u16 = 0x0002 | 0x0004 | 0x0040 | 0x0100;
    /// Device Control bits carried: all but Initiate Function Level Reset.
    pub(crate) const DEVCTL_BITS: u16 = 0x7fff;
    /// Link Control bits carried: all but Retrain Link.
    pub(crate) const LNKCTL_BITS: u16 = !0x0020;

    /// The state as a stream section.
    pub(crate) fn encode(&self) -> [u8; CONFIG_SIZE] {
        let mut out = [0u8; CONFIG_SIZE];
        let words = [self.command, self.devctl, self.devctl2, self.lnkctl];
        for (i, word) in words.into_iter().enumerate() {
            bytes::put(&mut out, 2 * i, &word.to_le_bytes());
        }
        out
    }

    /// The config state of a record.
    pub(crate) fn from_record(record: &Record<'_>) -> Result<Self, StreamError> {
        let payload = record
            .section(CONFIG_SECTION)
            .ok_or(StreamError::Malformed)?;
        if payload.len() != CONFIG_SIZE {
            return Err(StreamError::Malformed);
        }
        let word = |i: usize| bytes::le_u16(payload, 2 * i);
        let state = Self {
            command: word(0),
            devctl: word(1),
            devctl2: word(2),
            lnkctl: word(3),
        };
        if state.command & !Self::COMMAND_BITS != 0
            || state.devctl & !Self::DEVCTL_BITS != 0
            || state.lnkctl & !Self::LNKCTL_BITS != 0
        {
            return Err(StreamError::Malformed);
        }
        Ok(state)
    }
}
