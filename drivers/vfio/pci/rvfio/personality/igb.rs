// SPDX-License-Identifier: GPL-2.0

//! The migration personality of the Intel 82576 (`igb`, 8086:10c9) as QEMU models it: which
//! registers hold the state a driver programs, how to stop the device from starting DMA and
//! raising interrupts without losing posted work, and the order that loads a saved state into
//! a freshly reset twin. `Documentation/migration.rst` lists what is not carried.
//!
//! Pure code over [`Registers`]: the driver gives it BAR 0.

mod dma;

use super::{DmaMemory, DmaWrites, Personality, Registers, CONFIG_SECTION, CONFIG_SIZE};
use crate::bytes;
use crate::migration::stream::{
    Record, Section, StreamError, CHECKSUM_SIZE, HEADER_SIZE, SECTION_HEADER_SIZE,
};
use crate::vfio::mmap_rules::Span;

/// The igb personality.
pub(crate) struct Igb;

impl Personality for Igb {
    const NAME: &'static str = "igb";
    const ID: u32 = PERSONALITY;
    const VENDOR_ID: u16 = VENDOR_ID;
    const DEVICE_ID: u16 = DEVICE_ID;
    const REGS_BAR: usize = REGS_BAR;
    const TRAPPED: &'static [Span] = &DOORBELLS;
    const FINAL_RECORD_SIZE: usize = FINAL_RECORD_SIZE;

    type Held = Held;
    type State = State;
    type LinkError = PhyError;
    type LoadError = LoadError;

    fn quiesce(regs: &mut impl Registers) -> Held {
        quiesce(regs)
    }

    fn unquiesce(regs: &mut impl Registers, held: &Held) {
        unquiesce(regs, held)
    }

    fn save(regs: &mut impl Registers, held: Option<&Held>) -> Result<State, PhyError> {
        State::save(regs, held)
    }

    fn start_link(regs: &mut impl Registers) -> Result<(), PhyError> {
        State::start_link(regs)
    }

    fn load(state: &State, regs: &mut impl Registers) -> Result<Held, LoadError> {
        state.load(regs)
    }

    fn with_sections<R>(
        state: &State,
        config: &[u8; CONFIG_SIZE],
        f: impl FnOnce(&[Section<'_>]) -> R,
    ) -> R {
        f(&state.sections(config))
    }

    fn decode(record: &Record<'_>) -> Result<State, StreamError> {
        State::from_record(record)
    }

    type Tracker = dma::Tracker;

    fn start_tracking(
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
    ) -> dma::Tracker {
        dma::Tracker::start(regs, mem, out)
    }

    fn track_write(
        tracker: &mut dma::Tracker,
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
        offset: u64,
        len: u64,
    ) {
        tracker.track_write(regs, mem, out, offset, len)
    }

    fn may_write(
        tracker: &mut dma::Tracker,
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
    ) {
        tracker.may_write(regs, mem, out)
    }
}

/// The personality's number in a stream header.
pub(crate) const PERSONALITY: u32 = 1;
/// The device the personality drives.
pub(crate) const VENDOR_ID: u16 = 0x8086;
/// See [`VENDOR_ID`].
pub(crate) const DEVICE_ID: u16 = 0x10c9;

/// Register offsets (82576 datasheet, section 8).
mod reg {
    pub(super) const CTRL: u32 = 0x0000;
    pub(super) const STATUS: u32 = 0x0008;
    pub(super) const CTRL_EXT: u32 = 0x0018;
    pub(super) const MDIC: u32 = 0x0020;
    pub(super) const VET: u32 = 0x0038;
    pub(super) const ICR: u32 = 0x00c0;
    pub(super) const IMS: u32 = 0x00d0;
    pub(super) const IMC: u32 = 0x00d8;
    pub(super) const RCTL: u32 = 0x0100;
    pub(super) const TCTL: u32 = 0x0400;
    pub(super) const TIPG: u32 = 0x0410;
    pub(super) const GPIE: u32 = 0x1514;
    pub(super) const EICS: u32 = 0x1520;
    pub(super) const EIMS: u32 = 0x1524;
    pub(super) const EIMC: u32 = 0x1528;
    pub(super) const EIAC: u32 = 0x152c;
    pub(super) const EIAM: u32 = 0x1530;
    pub(super) const EICR: u32 = 0x1580;
    pub(super) const EITR0: u32 = 0x1680;
    pub(super) const IVAR0: u32 = 0x1700;
    pub(super) const IVAR_MISC: u32 = 0x1740;
    pub(super) const RXCSUM: u32 = 0x5000;
    pub(super) const RLPML: u32 = 0x5004;
    pub(super) const MTA: u32 = 0x5200;
    pub(super) const RA: u32 = 0x5400;
    pub(super) const VFTA: u32 = 0x5600;
    pub(super) const MRQC: u32 = 0x5818;
    pub(super) const GCR: u32 = 0x5b00;
    pub(super) const RDBAL0: u32 = 0xc000;
    pub(super) const TDBAL0: u32 = 0xe000;
    /// Distance between the registers of two queues.
    pub(super) const QUEUE_STRIDE: u32 = 0x40;
    /// Offsets inside a queue's block.
    pub(super) const DBAL: u32 = 0x00;
    pub(super) const DBAH: u32 = 0x04;
    pub(super) const DLEN: u32 = 0x08;
    pub(super) const SRRCTL: u32 = 0x0c;
    pub(super) const DH: u32 = 0x10;
    pub(super) const DT: u32 = 0x18;
    pub(super) const DCTL: u32 = 0x28;
    pub(super) const TDWBAL: u32 = 0x38;
    pub(super) const TDWBAH: u32 = 0x3c;
    /// The legacy aliases of queues 0 to 3 (`E1000_RDBAL(n)`, `E1000_TDBAL(n)` for n < 4).
    pub(super) const LEGACY_RDBAL0: u32 = 0x2800;
    pub(super) const LEGACY_TDBAL0: u32 = 0x3800;
    pub(super) const LEGACY_QUEUES: u32 = 4;
    pub(super) const LEGACY_STRIDE: u32 = 0x100;

    /// The offset of `register` (an offset inside a queue's block) of receive queue `queue`.
    pub(super) const fn rx(queue: u32, register: u32) -> u32 {
        RDBAL0 + queue * QUEUE_STRIDE + register
    }

    /// The offset of `register` of transmit queue `queue`.
    pub(super) const fn tx(queue: u32, register: u32) -> u32 {
        TDBAL0 + queue * QUEUE_STRIDE + register
    }
}

/// The BAR that holds the device's registers, the doorbells among them.
pub(crate) const REGS_BAR: usize = 0;

/// Number of queue doorbells (tail registers), legacy aliases included.
const DOORBELL_COUNT: usize = 2 * (reg::LEGACY_QUEUES + QUEUES) as usize;

/// The queue doorbells of BAR 0, sorted: every receive and transmit tail register, legacy
/// aliases included. While the device is saving the driver must see each write to them, so
/// their pages stay out of the user's mappings (`mmap_rules`).
pub(crate) const DOORBELLS: [Span; DOORBELL_COUNT] = {
    let mut doorbells = [Span { start: 0, len: 0 }; DOORBELL_COUNT];
    let blocks = [
        (reg::LEGACY_RDBAL0, reg::LEGACY_QUEUES, reg::LEGACY_STRIDE),
        (reg::LEGACY_TDBAL0, reg::LEGACY_QUEUES, reg::LEGACY_STRIDE),
        (reg::RDBAL0, QUEUES, reg::QUEUE_STRIDE),
        (reg::TDBAL0, QUEUES, reg::QUEUE_STRIDE),
    ];
    let (mut block, mut at) = (0, 0);
    while block < blocks.len() {
        let (base, queues, stride) = blocks[block];
        let mut queue = 0;
        while queue < queues {
            doorbells[at] = Span {
                start: (base + queue * stride + reg::DT) as u64,
                len: 4,
            };
            at += 1;
            queue += 1;
        }
        block += 1;
    }
    doorbells
};

const CTRL_RST: u32 = 1 << 26;
const CTRL_PHY_RST: u32 = 1 << 31;
const STATUS_LU: u32 = 1 << 1;
const RCTL_EN: u32 = 1 << 1;
const TCTL_EN: u32 = 1 << 1;
const GPIE_MSIX_MODE: u32 = 1 << 4;
const MDIC_READY: u32 = 1 << 28;
const MDIC_ERROR: u32 = 1 << 30;
const MDIC_OP_WRITE: u32 = 1 << 26;
const MDIC_OP_READ: u32 = 2 << 26;
const MDIC_PHY_ADDR: u32 = 1 << 21;
const BMCR_AUTOEN: u16 = 1 << 12;
const BMCR_ANRESTART: u16 = 1 << 9;
/// Interrupt causes the extended registers take in MSI-X mode, and otherwise.
const EXT_CAUSES_MSIX: u32 = 0x01ff_ffff;
const EXT_CAUSES_LEGACY: u32 = 0x4000_ffff;

/// Number of receive and of transmit queues.
const QUEUES: u32 = 16;
/// Number of interrupt throttling registers.
const EITRS: u32 = 25;
/// Number of IVAR registers.
const IVARS: u32 = 8;
/// Number of receive address registers (pairs of dwords) in the first bank.
const RAS: u32 = 16;
/// Number of dwords of the multicast and VLAN filter tables.
const TABLE_DWORDS: u32 = 128;

/// Plain registers, saved and written back as they read, in load order. The interrupt and
/// run control registers are handled apart: see [`State::load`].
const PLAIN: &[(u32, u32)] = &[
    // (first offset, count); registers 4 bytes apart.
    (reg::CTRL_EXT, 1),
    (reg::GCR, 1),
    (reg::VET, 1),
    (reg::TIPG, 1),
    (reg::RXCSUM, 1),
    (reg::RLPML, 1),
    (reg::MRQC, 1),
    (reg::RA, 2 * RAS),
    (reg::MTA, TABLE_DWORDS),
    (reg::VFTA, TABLE_DWORDS),
];

/// Per-queue registers, for each receive queue then each transmit queue; the tail is written
/// in the queue's order while the queue cannot run, so it only stores.
const RX_QUEUE: &[u32] = &[
    reg::DBAL,
    reg::DBAH,
    reg::DLEN,
    reg::SRRCTL,
    reg::DH,
    reg::DT,
    reg::DCTL,
];
const TX_QUEUE: &[u32] = &[
    reg::DBAL,
    reg::DBAH,
    reg::DLEN,
    reg::TDWBAL,
    reg::TDWBAH,
    reg::DH,
    reg::DT,
    reg::DCTL,
];

/// The PHY registers a driver can write (QEMU's `PHY_RW`), by MII number; BMCR first.
const PHY: &[u32] = &[0x00, 0x04, 0x07, 0x09, 0x10, 0x12, 0x19];

const fn plain_count() -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < PLAIN.len() {
        count += PLAIN[i].1 as usize;
        i += 1;
    }
    count
}

/// Where the interrupt and run control block starts in the register section: after the
/// plain registers and the queues.
const CONTROL_AT: usize = plain_count() + QUEUES as usize * (RX_QUEUE.len() + TX_QUEUE.len());
/// Number of registers of [`Control`], which the EITRs and then the IVARs follow.
const CONTROL_FIELDS: usize = 11;
/// Where the EITRs start in the register section.
const EITR_AT: usize = CONTROL_AT + CONTROL_FIELDS;
/// Number of dwords of the register section.
const REG_COUNT: usize = EITR_AT + EITRS as usize + IVARS as usize;

/// Section ids of an igb record.
mod section {
    /// The device registers, little-endian dwords in [`super::State::save`] order.
    pub(super) const REGS: u16 = 0x100;
    /// The writable PHY registers, one little-endian dword each (16 significant bits).
    pub(super) const PHY: u16 = 0x101;
    /// The config-space state, [`super::ConfigState`].
    pub(super) const CONFIG: u16 = super::CONFIG_SECTION;
}

/// The size of a final record of this personality, for `MIG_DATA_SIZE`.
pub(crate) const FINAL_RECORD_SIZE: usize = HEADER_SIZE
    + 3 * SECTION_HEADER_SIZE
    + 4 * REG_COUNT
    + 4 * PHY.len()
    + CONFIG_SIZE
    + CHECKSUM_SIZE;

/// What quiescing took from the device, given back when it runs again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Held {
    rctl: u32,
    tctl: u32,
    eims: u32,
    ims: u32,
}

/// Stops the device from starting DMA or raising interrupts, keeping posted work: with the
/// transmitter off a tail write only stores (QEMU starts transmit on tail writes only), with
/// the receiver off nothing is received, and with the interrupt masks clear causes stay
/// pending in EICR and ICR. The transmitter goes first, so no loopback frame is in flight.
pub(crate) fn quiesce(regs: &mut impl Registers) -> Held {
    let held = Held::read(regs);
    stop(regs, &held);
    held
}

impl Held {
    /// The run control and mask registers as the device has them.
    fn read(regs: &mut impl Registers) -> Self {
        Self {
            tctl: regs.read32(reg::TCTL),
            rctl: regs.read32(reg::RCTL),
            eims: regs.read32(reg::EIMS),
            ims: regs.read32(reg::IMS),
        }
    }
}

/// Turns off the transmitter, then the receiver, of `held`, and clears every interrupt mask.
fn stop(regs: &mut impl Registers, held: &Held) {
    regs.write32(reg::TCTL, held.tctl & !TCTL_EN);
    regs.write32(reg::RCTL, held.rctl & !RCTL_EN);
    regs.write32(reg::EIMC, !0);
    regs.write32(reg::IMC, !0);
}

/// Lets the device run again as [`quiesce`] found it: masks first, so causes raised while it
/// was stopped are delivered, then receive, then transmit, and a rewrite of every transmit
/// tail starts the work posted meanwhile.
pub(crate) fn unquiesce(regs: &mut impl Registers, held: &Held) {
    regs.write32(reg::IMS, held.ims);
    regs.write32(reg::EIMS, held.eims);
    regs.write32(reg::RCTL, held.rctl);
    regs.write32(reg::TCTL, held.tctl);
    for queue in 0..QUEUES {
        let tail = reg::tx(queue, reg::DT);
        let value = regs.read32(tail);
        regs.write32(tail, value);
    }
}

/// The saved state of an igb: its registers as little-endian bytes, ready to be a section.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct State {
    regs: [u8; 4 * REG_COUNT],
    phy: [u8; 4 * PHY.len()],
}

/// The interrupt and run control registers, as [`State`] keeps them after the others.
struct Control {
    ctrl: u32,
    status: u32,
    rctl: u32,
    tctl: u32,
    gpie: u32,
    eiac: u32,
    eiam: u32,
    eims: u32,
    ims: u32,
    eicr: u32,
    ivar_misc: u32,
}

/// Why the PHY could not be read or written over MDIO.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PhyError {
    /// MDIC never said ready.
    Timeout,
    /// MDIC reported an error.
    Refused,
}

/// Why a state could not be loaded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LoadError {
    /// A PHY access failed.
    Phy(PhyError),
    /// The link did not come up again within a second.
    NoLink,
}

/// Runs one MDIC transaction on PHY 1 and returns the MDIC register after it.
fn mdic(regs: &mut impl Registers, command: u32) -> Result<u32, PhyError> {
    regs.write32(reg::MDIC, command | MDIC_PHY_ADDR);
    for _ in 0..100 {
        let value = regs.read32(reg::MDIC);
        if value & MDIC_ERROR != 0 {
            return Err(PhyError::Refused);
        }
        if value & MDIC_READY != 0 {
            return Ok(value);
        }
        regs.pause();
    }
    Err(PhyError::Timeout)
}

fn read_phy(regs: &mut impl Registers, mii: u32) -> Result<u16, PhyError> {
    Ok(mdic(regs, MDIC_OP_READ | (mii << 16))? as u16)
}

fn write_phy(regs: &mut impl Registers, mii: u32, value: u16) -> Result<(), PhyError> {
    mdic(regs, MDIC_OP_WRITE | (mii << 16) | u32::from(value)).map(|_| ())
}

/// Every register of the plain and queue groups, in save and load order.
fn plain_and_queue_offsets() -> impl Iterator<Item = u32> {
    let plain = PLAIN
        .iter()
        .flat_map(|&(first, count)| (0..count).map(move |i| first + 4 * i));
    let rx = (0..QUEUES).flat_map(|q| RX_QUEUE.iter().map(move |&r| reg::rx(q, r)));
    let tx = (0..QUEUES).flat_map(|q| TX_QUEUE.iter().map(move |&r| reg::tx(q, r)));
    plain.chain(rx).chain(tx)
}

/// Stores `value` as the `index`th little-endian dword of `bytes`.
fn put(bytes: &mut [u8], index: usize, value: u32) {
    bytes::put(bytes, 4 * index, &value.to_le_bytes());
}

/// The `index`th little-endian dword of `bytes`.
fn get(bytes: &[u8], index: usize) -> u32 {
    bytes::le_u32(bytes, 4 * index)
}

impl State {
    /// Reads the state of the device. `held` is what [`quiesce`] took when the device is
    /// quiesced, in which case the pending interrupt causes are read too (EICR clears on read,
    /// so they are raised again at once, masked); a running device's causes are not read.
    pub(crate) fn save(regs: &mut impl Registers, held: Option<&Held>) -> Result<Self, PhyError> {
        let mut state = Self {
            regs: [0; 4 * REG_COUNT],
            phy: [0; 4 * PHY.len()],
        };
        let mut index = 0;
        for offset in plain_and_queue_offsets() {
            put(&mut state.regs, index, regs.read32(offset));
            index += 1;
        }
        let run = held.copied().unwrap_or_else(|| Held::read(regs));
        let eicr = if held.is_some() {
            let eicr = regs.read32(reg::EICR);
            regs.write32(reg::EICS, eicr);
            eicr
        } else {
            0
        };
        let control: [u32; CONTROL_FIELDS] = [
            regs.read32(reg::CTRL),
            regs.read32(reg::STATUS),
            run.rctl,
            run.tctl,
            regs.read32(reg::GPIE),
            regs.read32(reg::EIAC),
            regs.read32(reg::EIAM),
            run.eims,
            run.ims,
            eicr,
            regs.read32(reg::IVAR_MISC),
        ];
        for value in control {
            put(&mut state.regs, index, value);
            index += 1;
        }
        for i in 0..EITRS {
            put(&mut state.regs, index, regs.read32(reg::EITR0 + 4 * i));
            index += 1;
        }
        for i in 0..IVARS {
            put(&mut state.regs, index, regs.read32(reg::IVAR0 + 4 * i));
            index += 1;
        }
        for (i, &mii) in PHY.iter().enumerate() {
            put(&mut state.phy, i, u32::from(read_phy(regs, mii)?));
        }
        Ok(state)
    }

    fn control(&self) -> Control {
        let c = |i: usize| get(&self.regs, CONTROL_AT + i);
        Control {
            ctrl: c(0),
            status: c(1),
            rctl: c(2),
            tctl: c(3),
            gpie: c(4),
            eiac: c(5),
            eiam: c(6),
            eims: c(7),
            ims: c(8),
            eicr: c(9),
            ivar_misc: c(10),
        }
    }

    /// Starts bringing the link up, which in QEMU only autonegotiation does, 500 ms after it
    /// starts: done as soon as a resuming session opens, so that the wait overlaps the
    /// stream's transfer.
    pub(crate) fn start_link(regs: &mut impl Registers) -> Result<(), PhyError> {
        write_phy(regs, 0, BMCR_AUTOEN | BMCR_ANRESTART)
    }

    /// Loads the state into a device that [`State::start_link`] prepared, leaving it
    /// quiesced; returns what [`unquiesce`] gives back to make it run. Order: plain registers
    /// and queues (tails only store: the transmitter is off), link and PHY, CTRL (after the
    /// link, whose autonegotiation touches it), then the interrupt block with the masks clear
    /// and the saved causes raised again, pending.
    pub(crate) fn load(&self, regs: &mut impl Registers) -> Result<Held, LoadError> {
        let control = self.control();
        let held = Held {
            rctl: control.rctl,
            tctl: control.tctl,
            eims: control.eims,
            ims: control.ims,
        };
        stop(regs, &held);
        for (index, offset) in plain_and_queue_offsets().enumerate() {
            regs.write32(offset, get(&self.regs, index));
        }
        if control.status & STATUS_LU != 0 {
            let mut waited = 0;
            while regs.read32(reg::STATUS) & STATUS_LU == 0 {
                if waited == 100 {
                    return Err(LoadError::NoLink);
                }
                regs.pause();
                waited += 1;
            }
        }
        for (i, &mii) in PHY.iter().enumerate() {
            let value = get(&self.phy, i) as u16 & !BMCR_ANRESTART;
            write_phy(regs, mii, value).map_err(LoadError::Phy)?;
        }
        regs.write32(reg::CTRL, control.ctrl);
        regs.write32(reg::ICR, !0);
        regs.write32(reg::EICR, !0);
        regs.write32(reg::GPIE, control.gpie);
        for i in 0..EITRS {
            regs.write32(reg::EITR0 + 4 * i, get(&self.regs, EITR_AT + i as usize));
        }
        for i in 0..IVARS {
            let value = get(&self.regs, EITR_AT + (EITRS + i) as usize);
            regs.write32(reg::IVAR0 + 4 * i, value);
        }
        regs.write32(reg::IVAR_MISC, control.ivar_misc);
        regs.write32(reg::EIAC, control.eiac);
        if control.eiam != 0 {
            // QEMU's EIAM write sets the complement of what is written, within the causes.
            let causes = if control.gpie & GPIE_MSIX_MODE != 0 {
                EXT_CAUSES_MSIX
            } else {
                EXT_CAUSES_LEGACY
            };
            regs.write32(reg::EIAM, !control.eiam & causes);
        }
        regs.write32(reg::EICS, control.eicr);
        Ok(held)
    }

    /// The record sections of the state, with `config` the encoded [`super::ConfigState`].
    pub(crate) fn sections<'a>(&'a self, config: &'a [u8; CONFIG_SIZE]) -> [Section<'a>; 3] {
        [
            Section {
                id: section::CONFIG,
                payload: config,
            },
            Section {
                id: section::REGS,
                payload: &self.regs,
            },
            Section {
                id: section::PHY,
                payload: &self.phy,
            },
        ]
    }

    /// The state a record holds, checked: exactly the three sections of the right sizes, no
    /// reset bits in CTRL, PHY values of 16 bits.
    pub(crate) fn from_record(record: &Record<'_>) -> Result<Self, StreamError> {
        if record.section_ids().count() != 3 {
            return Err(StreamError::Malformed);
        }
        let regs = record
            .section(section::REGS)
            .ok_or(StreamError::Malformed)?;
        let phy = record.section(section::PHY).ok_or(StreamError::Malformed)?;
        if regs.len() != 4 * REG_COUNT || phy.len() != 4 * PHY.len() {
            return Err(StreamError::Malformed);
        }
        let mut state = Self {
            regs: [0; 4 * REG_COUNT],
            phy: [0; 4 * PHY.len()],
        };
        for (to, from) in state.regs.iter_mut().zip(regs) {
            *to = *from;
        }
        for (to, from) in state.phy.iter_mut().zip(phy) {
            *to = *from;
        }
        if state.control().ctrl & (CTRL_RST | CTRL_PHY_RST) != 0
            || (0..PHY.len()).any(|i| get(&state.phy, i) > 0xffff)
        {
            return Err(StreamError::Malformed);
        }
        Ok(state)
    }
}

/// Which pages of BAR 0 the igb traps and which writes count as doorbells: the mmap rule's
/// pure code applied to this device's registers.
#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_igb_doorbells))]
mod doorbell_tests {
    use super::*;
    use crate::vfio::mmap_rules::{registers_written, TrappedPages};

    const PAGE: u64 = 4096;

    fn span(start: u64, len: u64) -> Span {
        Span { start, len }
    }

    #[test]
    fn igb_traps_the_four_doorbell_pages_of_bar_0() {
        let pages = TrappedPages::of(&DOORBELLS, 0x20000, PAGE).unwrap();
        assert_eq!(
            pages.spans(),
            &[
                span(0x2000, 0x2000),
                span(0xc000, 0x1000),
                span(0xe000, 0x1000)
            ]
        );
        // The registers the upstream selftests' igb driver maps besides its doorbells.
        for register in [0x0000, 0x0008, 0x00d8, 0x0100, 0x1524, 0x1580, 0x5b00] {
            assert!(!pages.conflicts(register & !(PAGE - 1), PAGE));
        }
    }

    #[test]
    fn writes_count_the_registers_they_cover() {
        let doorbells = &DOORBELLS;
        // TDT(0), alone, with the dword before, in halves; RDT(0) to RDT(3) in one write.
        assert_eq!(registers_written(doorbells, 0xe018, 4), 1);
        assert_eq!(registers_written(doorbells, 0xe014, 8), 1);
        assert_eq!(registers_written(doorbells, 0xe018, 2), 0);
        assert_eq!(registers_written(doorbells, 0xe01a, 2), 0);
        assert_eq!(registers_written(doorbells, 0xc000, 0x100), 4);
        // TDH(0), beside it; nothing; a length that would wrap.
        assert_eq!(registers_written(doorbells, 0xe010, 4), 0);
        assert_eq!(registers_written(doorbells, 0xe018, 0), 0);
        assert_eq!(registers_written(doorbells, 0xe018, u64::MAX), 16);
    }
}

/// Tests against a model of QEMU's igb, too large for a kernel stack: host only.
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The parts of QEMU's igb model (`hw/net/igb_core.c`) the personality relies on.
    #[derive(Default)]
    struct Model {
        mac: BTreeMap<u32, u32>,
        phy: [u16; 32],
        /// Transmit descriptors processed ("DMA"), per queue.
        sent: [u32; QUEUES as usize],
        /// MSI-X messages sent, as EICR bits.
        interrupts: Vec<u32>,
        /// Pauses left until autonegotiation completes, once started.
        autoneg: Option<u32>,
    }

    impl Model {
        fn get(&self, offset: u32) -> u32 {
            self.mac.get(&offset).copied().unwrap_or(0)
        }

        fn raise(&mut self, causes: u32) {
            let old = self.get(reg::EICR) & self.get(reg::EIMS);
            let eicr = self.get(reg::EICR) | causes;
            self.mac.insert(reg::EICR, eicr);
            let raised = eicr & self.get(reg::EIMS) & !old;
            if raised != 0 {
                self.interrupts.push(raised);
                let cleared = self.get(reg::EICR) & !(self.get(reg::EIAC) & raised);
                self.mac.insert(reg::EICR, cleared);
            }
        }
    }

    impl Registers for Model {
        fn read32(&mut self, offset: u32) -> u32 {
            match offset {
                reg::EICR => self.mac.insert(reg::EICR, 0).unwrap_or(0),
                reg::EICS | reg::EIMC | reg::IMC => 0,
                _ => self.get(offset),
            }
        }

        fn write32(&mut self, offset: u32, value: u32) {
            let queue = |base: u32| (offset.wrapping_sub(base) / reg::QUEUE_STRIDE) as usize;
            match offset {
                reg::EICS => self.raise(value & EXT_CAUSES_MSIX),
                reg::EIMS => {
                    // As `igb_raise_interrupts`: causes this write unmasks are sent.
                    let old = self.get(reg::EICR) & self.get(reg::EIMS);
                    let eims = self.get(reg::EIMS) | value;
                    self.mac.insert(reg::EIMS, eims);
                    let raised = self.get(reg::EICR) & eims & !old;
                    if raised != 0 {
                        self.interrupts.push(raised);
                        let cleared = self.get(reg::EICR) & !(self.get(reg::EIAC) & raised);
                        self.mac.insert(reg::EICR, cleared);
                    }
                }
                reg::EIMC => {
                    let eims = self.get(reg::EIMS) & !value;
                    self.mac.insert(reg::EIMS, eims);
                }
                reg::IMC => {
                    let ims = self.get(reg::IMS) & !value;
                    self.mac.insert(reg::IMS, ims);
                }
                reg::IMS => {
                    let ims = self.get(reg::IMS) | value;
                    self.mac.insert(reg::IMS, ims);
                }
                reg::EICR | reg::ICR => {
                    let left = self.get(offset) & !value;
                    self.mac.insert(offset, left);
                }
                reg::EIAC => {
                    if self.get(reg::GPIE) & GPIE_MSIX_MODE != 0 {
                        let eiac = self.get(reg::EIAC) | (value & EXT_CAUSES_MSIX);
                        self.mac.insert(reg::EIAC, eiac);
                    }
                }
                reg::EIAM => {
                    let eiam = self.get(reg::EIAM) | !(value & EXT_CAUSES_MSIX);
                    self.mac.insert(reg::EIAM, eiam);
                }
                reg::STATUS => {}
                reg::MDIC => {
                    let mii = ((value >> 16) & 0x1f) as usize;
                    let mut out = value | MDIC_READY;
                    if value & MDIC_OP_READ != 0 {
                        out = (out & !0xffff) | u32::from(self.phy[mii]);
                    } else {
                        let data = value as u16;
                        self.phy[mii] = data & !BMCR_ANRESTART;
                        if mii == 0 && data & BMCR_ANRESTART != 0 && data & BMCR_AUTOEN != 0 {
                            let status = self.get(reg::STATUS) & !STATUS_LU;
                            self.mac.insert(reg::STATUS, status);
                            self.autoneg = Some(50);
                        }
                    }
                    self.mac.insert(reg::MDIC, out);
                }
                _ if offset >= reg::TDBAL0
                    && offset < reg::TDBAL0 + QUEUES * reg::QUEUE_STRIDE
                    && offset % reg::QUEUE_STRIDE == reg::DT =>
                {
                    self.mac.insert(offset, value & 0xffff);
                    let base = offset - reg::DT;
                    let enabled = self.get(reg::TCTL) & TCTL_EN != 0
                        && self.get(base + reg::DCTL) & (1 << 25) != 0;
                    if enabled {
                        let head = self.get(base + reg::DH);
                        self.sent[queue(reg::TDBAL0)] +=
                            (value & 0xffff).wrapping_sub(head) & 0xfff;
                        self.mac.insert(base + reg::DH, value & 0xffff);
                        self.raise(1);
                    }
                }
                _ => {
                    self.mac.insert(offset, value);
                }
            }
        }

        fn pause(&mut self) {
            if let Some(left) = self.autoneg {
                if left == 0 {
                    let status = self.get(reg::STATUS) | STATUS_LU;
                    self.mac.insert(reg::STATUS, status);
                    self.autoneg = None;
                } else {
                    self.autoneg = Some(left - 1);
                }
            }
        }
    }

    const TDT0: u32 = reg::TDBAL0 + reg::DT;

    /// A device just reset: STATUS as QEMU's reads it, link down.
    fn fresh() -> Model {
        let mut m = Model::default();
        m.mac.insert(reg::STATUS, 0x8008_0481);
        m
    }

    /// A device programmed as the selftests' igb driver programs it, link up.
    fn programmed() -> Model {
        let mut m = fresh();
        m.mac.insert(reg::STATUS, 0x8008_0481 | STATUS_LU);
        m.phy[0] = 0x4140;
        for (offset, value) in [
            (reg::CTRL_EXT, 0x1000_0000),
            (reg::CTRL, 0x0010_1a49),
            (reg::TDBAL0, 0x1000),
            (reg::TDBAL0 + reg::DLEN, 0x10000),
            (reg::TDBAL0 + reg::DCTL, 1 << 25),
            (reg::RDBAL0, 0x20000),
            (reg::RDBAL0 + reg::DLEN, 0x10000),
            (reg::RDBAL0 + reg::SRRCTL, 0x0200_0000),
            (reg::RDBAL0 + reg::DCTL, 1 << 25),
            (reg::RCTL, 0x0400_803e),
            (reg::TCTL, 0x0000_0008 | TCTL_EN),
            (reg::GPIE, GPIE_MSIX_MODE | (1 << 30)),
            (reg::EIAC, 1),
            (reg::EIAM, 1),
            (reg::IVAR0, 0x80),
            (reg::EIMS, 1),
        ] {
            m.write32(offset, value);
        }
        m
    }

    #[test]
    fn a_quiesced_device_starts_no_dma_and_raises_no_interrupt_until_unquiesced() {
        let mut m = programmed();
        m.write32(TDT0, 3);
        assert_eq!((m.sent[0], m.interrupts.len()), (3, 1));
        let held = quiesce(&mut m);
        m.write32(TDT0, 5);
        m.write32(reg::EICS, 1);
        assert_eq!((m.sent[0], m.interrupts.len()), (3, 1));
        unquiesce(&mut m, &held);
        // The cause raised while stopped, then the completion of the work posted meanwhile.
        assert_eq!(m.sent[0], 5);
        assert_eq!(m.interrupts.len(), 3);
        assert_eq!(m.get(reg::TCTL), 0x0000_0008 | TCTL_EN);
    }

    #[test]
    fn a_saved_state_loads_into_a_fresh_twin_and_saves_back_the_same() {
        let mut a = programmed();
        a.write32(TDT0, 7);
        let held = quiesce(&mut a);
        // Work posted and a cause raised while stopped travel with the state.
        a.write32(TDT0, 9);
        a.write32(reg::EICS, 1);
        let saved = State::save(&mut a, Some(&held)).unwrap();
        // Saving gave the source its pending cause back.
        assert_eq!(a.get(reg::EICR), 1);

        let mut b = fresh();
        State::start_link(&mut b).unwrap();
        let b_held = saved.load(&mut b).unwrap();
        assert_eq!(b_held, held);
        assert_eq!(b.sent[0], 0);
        assert!(b.interrupts.is_empty());
        assert_eq!(State::save(&mut b, Some(&b_held)).unwrap(), saved);
        assert_eq!(b.get(reg::EIAM), a.get(reg::EIAM));

        unquiesce(&mut b, &b_held);
        assert_eq!(b.get(reg::TDBAL0 + reg::DH), 9);
        assert_eq!(b.sent[0], 2);
        assert_eq!(b.interrupts, [1, 1]);
    }

    #[test]
    fn loading_without_a_link_fails() {
        let saved = State::save(&mut programmed(), None).unwrap();
        let mut b = fresh();
        assert_eq!(saved.load(&mut b), Err(LoadError::NoLink));
    }

    #[test]
    fn records_round_trip_and_reset_bits_are_refused() {
        use super::super::ConfigState;
        use crate::migration::stream::testing::Fixed;
        use crate::migration::stream::{encode, Buffer, Decoder, Identity, RecordKind};
        let state = State::save(&mut programmed(), None).unwrap();
        let config = ConfigState {
            command: 0x0006,
            devctl: 0x2810,
            devctl2: 0,
            lnkctl: 0x40,
        };
        let encoded = config.encode();
        let identity = Identity {
            personality: PERSONALITY,
            vendor: VENDOR_ID,
            device: DEVICE_ID,
            ..Identity::default()
        };
        let mut out = Fixed::<4096>::new();
        let size = encode(
            &mut out,
            RecordKind::Final,
            &identity,
            &state.sections(&encoded),
        )
        .unwrap();
        assert_eq!(size, FINAL_RECORD_SIZE);
        let mut decoder = Decoder::new(Fixed::<4096>::new(), identity);
        assert_eq!(decoder.push(out.bytes()).unwrap().1, false);
        let (_, complete) = decoder.push(&out.bytes()[HEADER_SIZE..]).unwrap();
        assert!(complete);
        let record = decoder.record().unwrap();
        assert_eq!(State::from_record(&record).unwrap(), state);
        assert_eq!(ConfigState::from_record(&record).unwrap(), config);

        let mut bad = state.clone();
        put(&mut bad.regs, CONTROL_AT, CTRL_RST);
        let mut out = Fixed::<4096>::new();
        encode(
            &mut out,
            RecordKind::Final,
            &identity,
            &bad.sections(&encoded),
        )
        .unwrap();
        let mut decoder = Decoder::new(Fixed::<4096>::new(), identity);
        decoder.push(out.bytes()).unwrap();
        decoder.push(&out.bytes()[HEADER_SIZE..]).unwrap();
        assert_eq!(
            State::from_record(&decoder.record().unwrap()),
            Err(StreamError::Malformed)
        );
    }
}
