// SPDX-License-Identifier: GPL-2.0

//! Where QEMU's igb (`hw/net/igb_core.c`) may write guest memory, for the software DMA dirty
//! log. Every DMA write of the model is one of:
//! - a receive buffer of a descriptor it owns (`igb_write_payload_frag_to_rx_buffers`,
//!   `igb_write_hdr_frag_to_rx_buffers`): the packet buffer at `pkt_addr` (offset 0 of the
//!   16-byte descriptor, legacy or advanced) and, with a header-split descriptor type, the
//!   header buffer at `hdr_addr` (offset 8);
//! - the write-back of a receive descriptor into its ring slot (`igb_pci_dma_write_rx_desc`),
//!   or of a transmit descriptor into its ring slot (`igb_txdesc_writeback`);
//! - the 4-byte transmit head write-back at `TDWBA & !3` when bit 0 of `TDWBAL` is set.
//!
//! The device owns the receive descriptors from its head to its tail: it takes them one by
//! one from `RDH` while `RDH != RDT` and `RDT < RDLEN / 16`, and after a slot at or past the
//! end of the ring it goes on at slot 0 (`igb_ring_empty`, `igb_ring_advance`).
//!
//! The rings and write-back areas are read from the registers at every report. The buffers
//! are read from the descriptors, which the device overwrites when it is done with them (the
//! write-back format holds no address), so each must be read while the device still owns it
//! and has not started on it. Three moments cover every buffer:
//! - at each report, the buffers of the descriptors the device owns;
//! - at each trapped write to a receive queue's registers, a tail write above all, the
//!   buffers of the descriptors it handed the device (from the previous tail to the new one);
//! - between the two halves of a report, the buffers of the few descriptors at the head,
//!   remembered from the first half: the device may take them after the log was cleared and
//!   before the second half reads the ring, and by then their addresses are gone.
//!
//! A register read of QEMU's igb is served between two packets, never in the middle of one,
//! so a descriptor at or past the head read after its contents were read had not been
//! touched when they were read. When the device took a descriptor whose contents could not
//! be read in time, or a read failed, the device may have written anywhere.
//!
//! What cannot be covered: a driver that rewrites a descriptor the device already owns
//! (the device reads the new address, the tracker read the old one), and a packet buffer
//! size that `RCTL` chooses (`SRRCTL.BSIZEPACKET` zero), since `RCTL`'s page is not trapped:
//! such a queue is taken to have buffers of 16 KiB, the largest `RCTL` gives.

use super::reg::{self, rx, tx};
use super::QUEUES;
use crate::personality::{DmaFault, DmaMemory, DmaWrites, Registers};

/// Size of a descriptor, receive or transmit, legacy or advanced.
const DESCRIPTOR: u64 = 16;
/// `RXDCTL`: the queue takes packets.
const RXDCTL_ENABLE: u32 = 1 << 25;
/// `SRRCTL`: the descriptor type, and the two types with a header buffer.
const SRRCTL_DESCTYPE: u32 = 0x0e00_0000;
const SRRCTL_HDR_SPLIT: u32 = 0x0400_0000;
const SRRCTL_HDR_SPLIT_ALWAYS: u32 = 0x0a00_0000;
/// `SRRCTL`: the packet buffer size in KiB, zero for `RCTL`'s.
const SRRCTL_BSIZEPACKET: u32 = 0x7f;
/// `SRRCTL`: the header buffer size in 64-byte units, at bits 8 to 11 as QEMU reads it.
const SRRCTL_BSIZEHEADER: u32 = 0xf00;
/// The largest packet buffer `RCTL` can choose (`BSEX` with `SZ_16384`).
const RCTL_MAX_BUFFER: u64 = 16384;
/// `TDWBAL`: the head write-back is on.
const TDWBAL_ENABLE: u32 = 1;
/// Descriptors read from memory at a time.
const CHUNK: usize = 32;
/// Descriptors at the head of each receive queue remembered from the first half of a report
/// to the second.
const REMEMBERED: usize = 4;
/// Descriptors at the head whose buffers a report holds back until it has read the head
/// again: the ones the device took meanwhile are not reported (they were read too late), and
/// the rest seed the remembered ones.
const HELD_BACK: usize = 2 * REMEMBERED;

/// The 64-bit address in a pair of registers, low first.
fn address(regs: &mut impl Registers, low: u32) -> u64 {
    u64::from(regs.read32(low)) | u64::from(regs.read32(low + 4)) << 32
}

/// How the device reads the descriptors of a receive queue and how much it writes to their
/// buffers.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct Layout {
    /// The address of slot 0.
    base: u64,
    /// Number of slots (`RDLEN / 16`).
    slots: u32,
    /// Whether descriptors have a header buffer.
    split: bool,
    /// Size of a packet buffer.
    packet: u64,
    /// Size of a header buffer.
    header: u64,
}

impl Layout {
    /// The layout of receive queue `queue`, whether the queue takes packets, and its tail.
    fn read(regs: &mut impl Registers, queue: u32) -> (Self, bool, u32) {
        let srrctl = regs.read32(rx(queue, reg::SRRCTL));
        let kind = srrctl & SRRCTL_DESCTYPE;
        let packet = match srrctl & SRRCTL_BSIZEPACKET {
            0 => RCTL_MAX_BUFFER,
            kib => u64::from(kib) << 10,
        };
        let layout = Self {
            base: address(regs, rx(queue, reg::DBAL)),
            slots: regs.read32(rx(queue, reg::DLEN)) / DESCRIPTOR as u32,
            split: kind == SRRCTL_HDR_SPLIT || kind == SRRCTL_HDR_SPLIT_ALWAYS,
            packet,
            header: u64::from((srrctl & SRRCTL_BSIZEHEADER) >> 2),
        };
        let live = regs.read32(rx(queue, reg::DCTL)) & RXDCTL_ENABLE != 0 && layout.slots > 0;
        (layout, live, regs.read32(rx(queue, reg::DT)))
    }

    /// The address of `slot`, as the device computes it.
    fn slot(&self, slot: u32) -> u64 {
        self.base.wrapping_add(DESCRIPTOR * u64::from(slot))
    }

    /// Adds the buffers of a descriptor to `out`. The device skips a descriptor whose packet
    /// buffer address is zero and writes no header to a header buffer address of zero.
    fn buffers(&self, buffers: Buffers, out: &mut impl DmaWrites) {
        if buffers.packet != 0 {
            out.may_write(buffers.packet, self.packet);
        }
        if self.split && buffers.header != 0 {
            out.may_write(buffers.header, self.header);
        }
    }
}

/// The buffer addresses of a receive descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct Buffers {
    packet: u64,
    header: u64,
}

/// The slots the device takes from a head until it reaches a tail: at most two runs of
/// consecutive slots, as (first slot, count).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Walk {
    runs: [(u32, u32); 2],
    tail: u32,
}

impl Walk {
    /// The walk from `head` to `tail` in a ring of `slots` slots: none when the ring is
    /// empty (`igb_ring_empty`); a head at or past the end of the ring takes one slot and
    /// goes on at slot 0 (`igb_ring_advance`).
    fn new(head: u32, tail: u32, slots: u32) -> Self {
        let runs = if tail >= slots || head == tail {
            [(0, 0), (0, 0)]
        } else if head >= slots {
            [(head, 1), (0, tail)]
        } else if head < tail {
            [(head, tail - head), (0, 0)]
        } else {
            [(head, slots - head), (0, tail)]
        };
        Self { runs, tail }
    }

    /// Number of slots.
    fn len(&self) -> u32 {
        self.runs[0].1 + self.runs[1].1
    }

    /// How many slots of the walk a device at `head` has taken; `None` if the walk does not
    /// lead the device to `head`.
    fn taken(&self, head: u32) -> Option<u32> {
        if self.len() == 0 {
            return Some(0);
        }
        let mut before = 0;
        for &(first, count) in &self.runs {
            if head.wrapping_sub(first) < count {
                return Some(before + head - first);
            }
            before += count;
        }
        (head == self.tail).then_some(before)
    }

    /// Reads the descriptors of the walk and gives `visit` each one's index in the walk and
    /// buffers.
    fn read(
        &self,
        layout: &Layout,
        mem: &mut impl DmaMemory,
        mut visit: impl FnMut(u32, Buffers),
    ) -> Result<(), DmaFault> {
        let mut bytes = [0u8; CHUNK * DESCRIPTOR as usize];
        let mut index = 0;
        for &(first, count) in &self.runs {
            let mut done = 0;
            while done < count {
                let now = (count - done).min(CHUNK as u32);
                let chunk = &mut bytes[..now as usize * DESCRIPTOR as usize];
                mem.read(layout.slot(first + done), chunk)?;
                for descriptor in chunk.chunks_exact(DESCRIPTOR as usize) {
                    let word = |at: usize| {
                        let mut le = [0u8; 8];
                        le.copy_from_slice(&descriptor[at..at + 8]);
                        u64::from_le_bytes(le)
                    };
                    let header = if layout.split { word(8) } else { 0 };
                    visit(
                        index,
                        Buffers {
                            packet: word(0),
                            header,
                        },
                    );
                    index += 1;
                }
                done += now;
            }
        }
        Ok(())
    }
}

/// What the tracker knows of a receive queue, as of its last look at it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct RxQueue {
    layout: Layout,
    /// Whether the queue took packets.
    live: bool,
    /// Its tail.
    tail: u32,
    /// Where the device's head was: it has not gone back since. While the queue cannot take
    /// packets the head stays there.
    head: u32,
    /// The buffers of the first [`RxQueue::known`] descriptors from [`RxQueue::head`], read
    /// before the device took them.
    remembered: [Buffers; REMEMBERED],
    /// See [`RxQueue::remembered`].
    known: usize,
}

/// Which half of a report a look at the receive queues is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Half {
    /// Before the log is read and cleared (or when logging starts): what the device takes
    /// from now on was added to the log when it was handed over.
    Before,
    /// After: the descriptors the device took since the first half may have been written
    /// after the log was cleared.
    After,
}

/// What the igb's DMA logging keeps between its start and its end: what it knows of each
/// receive queue, and which half of a report comes next.
pub(crate) struct Tracker {
    rx: [RxQueue; QUEUES as usize],
    after_read: bool,
}

impl Tracker {
    /// Starts logging: see [`crate::personality::Personality::start_tracking`].
    pub(crate) fn start(
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
    ) -> Self {
        let mut tracker = Self {
            rx: [RxQueue::default(); QUEUES as usize],
            after_read: false,
        };
        for queue in 0..QUEUES {
            rings(regs, out, queue);
            let (layout, live, tail) = Layout::read(regs, queue);
            let state = &mut tracker.rx[queue as usize];
            (state.layout, state.live, state.tail) = (layout, live, tail);
            state.head = regs.read32(rx(queue, reg::DH));
            if live {
                owned(state, regs, mem, out, queue, Half::Before);
            }
        }
        tracker
    }

    /// Adds every range the device may write from now on: see
    /// [`crate::personality::Personality::may_write`]. The calls alternate between the first
    /// and the second half of a report.
    pub(crate) fn may_write(
        &mut self,
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
    ) {
        let half = if self.after_read {
            Half::After
        } else {
            Half::Before
        };
        self.after_read = !self.after_read;
        for queue in 0..QUEUES {
            rings(regs, out, queue);
            let (layout, live, tail) = Layout::read(regs, queue);
            let state = &mut self.rx[queue as usize];
            if (layout, live, tail) != (state.layout, state.live, state.tail) {
                // The queue changed without a trapped write: what the log holds is unknown.
                out.anywhere();
                (state.layout, state.live, state.tail) = (layout, live, tail);
                state.head = regs.read32(rx(queue, reg::DH));
                state.known = 0;
            }
            if !live {
                state.head = regs.read32(rx(queue, reg::DH));
                state.known = 0;
                continue;
            }
            owned(state, regs, mem, out, queue, half);
        }
    }

    /// A write of `len` bytes at `offset` of BAR 0 reached the device: see
    /// [`crate::personality::Personality::track_write`].
    pub(crate) fn track_write(
        &mut self,
        regs: &mut impl Registers,
        mem: &mut impl DmaMemory,
        out: &mut impl DmaWrites,
        offset: u64,
        len: u64,
    ) {
        let end = offset.saturating_add(len);
        let touches = |at: u32, size: u32| {
            let at = u64::from(at);
            len > 0 && offset < at + u64::from(size) && at < end
        };
        let block = reg::QUEUE_STRIDE;
        for queue in 0..QUEUES {
            let legacy = (queue < reg::LEGACY_QUEUES).then_some(queue * reg::LEGACY_STRIDE);
            let in_block = |base: u32, register: u32, size: u32| {
                touches(base + queue * block + register, size)
                    || legacy.is_some_and(|l| {
                        let legacy_base = if base == reg::RDBAL0 {
                            reg::LEGACY_RDBAL0
                        } else {
                            reg::LEGACY_TDBAL0
                        };
                        touches(legacy_base + l + register, size)
                    })
            };
            if in_block(reg::TDBAL0, 0, block) {
                rings(regs, out, queue);
            }
            if in_block(reg::RDBAL0, 0, block) {
                rings(regs, out, queue);
                let wrote_head = in_block(reg::RDBAL0, reg::DH, 4);
                handed(
                    &mut self.rx[queue as usize],
                    regs,
                    mem,
                    out,
                    queue,
                    wrote_head,
                );
            }
        }
    }
}

/// Adds the rings and write-back areas of queue `queue` to `out`: each ring whose length is
/// not zero, with the slot of a head at or past its end (the device takes that one slot
/// before slot 0), and the transmit head write-back.
fn rings(regs: &mut impl Registers, out: &mut impl DmaWrites, queue: u32) {
    for register in [rx(queue, 0), tx(queue, 0)] {
        let len = regs.read32(register + reg::DLEN);
        if len == 0 {
            continue;
        }
        let base = address(regs, register + reg::DBAL);
        out.may_write(base, u64::from(len));
        let head = u64::from(regs.read32(register + reg::DH));
        if head * DESCRIPTOR >= u64::from(len) {
            out.may_write(base.wrapping_add(head * DESCRIPTOR), DESCRIPTOR);
        }
    }
    let wb = address(regs, tx(queue, reg::TDWBAL));
    if wb & u64::from(TDWBAL_ENABLE) != 0 {
        out.may_write(wb & !3, 4);
    }
}

/// Adds to `out` the buffers of the descriptors the live receive queue `queue` owns, and
/// for the second half of a report those of the descriptors it took since the first; then
/// remembers the head and the first descriptors from it for the next half.
fn owned(
    state: &mut RxQueue,
    regs: &mut impl Registers,
    mem: &mut impl DmaMemory,
    out: &mut impl DmaWrites,
    queue: u32,
    half: Half,
) {
    let layout = state.layout;
    let head = regs.read32(rx(queue, reg::DH));
    let walk = Walk::new(head, state.tail, layout.slots);
    let mut held = [Buffers::default(); HELD_BACK];
    let read = walk.read(&layout, mem, |index, buffers| {
        match held.get_mut(index as usize) {
            Some(slot) => *slot = buffers,
            None => layout.buffers(buffers, out),
        }
    });
    let now = regs.read32(rx(queue, reg::DH));
    let since = Walk::new(state.head, state.tail, layout.slots).taken(now);
    let during = walk.taken(now);
    if half == Half::After {
        // Every descriptor taken since the first half, whose buffers were remembered then.
        match since {
            Some(taken) if taken as usize <= state.known => {
                for &buffers in &state.remembered[..taken as usize] {
                    layout.buffers(buffers, out);
                }
            }
            _ => out.anywhere(),
        }
    }
    let (Ok(()), Some(during)) = (read, during) else {
        out.anywhere();
        state.head = now;
        state.known = 0;
        return;
    };
    // The descriptors taken while the ring was read were read too late; the device wrote
    // their buffers before now, which the log holds for the first half, and the second
    // half took them from what the first remembered.
    // Descriptors past the held-back ones were reported as they were read: if the device
    // took some of those meanwhile, the second half finds more taken than it remembers.
    let during = during as usize;
    let held_back = (walk.len() as usize).min(HELD_BACK);
    let fresh = held.get(during..held_back).unwrap_or(&[]);
    for &buffers in fresh {
        layout.buffers(buffers, out);
    }
    state.known = fresh.len().min(REMEMBERED);
    // Element by element: `copy_from_slice` of this type leaves a call objtool does not know
    // cannot return.
    for (kept, &buffers) in state.remembered.iter_mut().zip(fresh) {
        *kept = buffers;
    }
    state.head = now;
}

/// Adds to `out` what a write to the registers of receive queue `queue` handed the device:
/// the buffers of the descriptors it may now take that were not handed over before, read
/// before it takes them. `wrote_head` says the write covered the head register, whose new
/// value hands over descriptors the tracker cannot tell.
fn handed(
    state: &mut RxQueue,
    regs: &mut impl Registers,
    mem: &mut impl DmaMemory,
    out: &mut impl DmaWrites,
    queue: u32,
    wrote_head: bool,
) {
    let (layout, live, tail) = Layout::read(regs, queue);
    // The device took nothing before the write from a queue that could not take packets or
    // whose ring was empty: its head is where it was. Otherwise it has taken what the log
    // holds, from the head to the old tail, and the new descriptors follow the old tail.
    let idle = !state.live || state.tail >= state.layout.slots;
    let changed = layout != state.layout;
    let from = if idle || changed {
        state.head
    } else {
        state.tail
    };
    (state.layout, state.live, state.tail) = (layout, live, tail);
    state.known = 0;
    if !live {
        state.head = regs.read32(rx(queue, reg::DH));
        return;
    }
    if wrote_head {
        out.anywhere();
        state.head = regs.read32(rx(queue, reg::DH));
        return;
    }
    let walk = Walk::new(from, tail, layout.slots);
    let read = walk.read(&layout, mem, |_, buffers| layout.buffers(buffers, out));
    let now = regs.read32(rx(queue, reg::DH));
    // The device took some of them before they were read (QEMU receives the packets it
    // queued for want of buffers during the tail write itself): their buffers are unknown.
    // From an idle or changed queue it took nothing that the log holds.
    let behind = Walk::new(now, tail, layout.slots).len() < walk.len();
    if read.is_err() || behind || ((idle || changed) && now != from) {
        out.anywhere();
    }
    state.head = now;
}

/// The tracker against models of the registers and memory it reads: what each report and
/// trapped write adds.
#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_igb_dma))]
mod tests {
    use super::*;
    use crate::migration::dirty::{DirtyRanges, Pages};

    /// Registers, by offset; those never written read 0.
    struct Regs {
        set: [(u32, u32); 48],
        count: usize,
    }

    impl Regs {
        fn new() -> Self {
            Self {
                set: [(0, 0); 48],
                count: 0,
            }
        }
    }

    impl Registers for Regs {
        fn read32(&mut self, offset: u32) -> u32 {
            let set = &self.set[..self.count];
            set.iter().find(|r| r.0 == offset).map_or(0, |r| r.1)
        }

        fn write32(&mut self, offset: u32, value: u32) {
            match self.set[..self.count].iter().position(|r| r.0 == offset) {
                Some(at) => self.set[at].1 = value,
                None => {
                    self.set[self.count] = (offset, value);
                    self.count += 1;
                }
            }
        }

        fn pause(&mut self) {}
    }

    /// Where the model's memory starts, and its size.
    const MEM: u64 = 0x10_0000;
    const MEM_SIZE: usize = 2048;
    /// Rings in it: receive queues 0 and 1, transmit queue 0. `NOWHERE` is not in it.
    const RX_RING: u64 = MEM;
    const RX1_RING: u64 = MEM + 0x200;
    const TX_RING: u64 = MEM + 0x400;
    const NOWHERE: u64 = 0x20_0000;
    /// Slots of each ring, and the ring's length in bytes.
    const SLOTS: u32 = 8;
    const RING: u64 = SLOTS as u64 * DESCRIPTOR;

    /// The device's memory: reads outside it fail.
    struct Memory {
        bytes: [u8; MEM_SIZE],
    }

    impl Memory {
        fn new() -> Self {
            Self {
                bytes: [0; MEM_SIZE],
            }
        }

        /// Writes a receive descriptor: its packet and header buffer addresses.
        fn post(&mut self, ring: u64, slot: u32, packet: u64, header: u64) {
            let at = (ring - MEM) as usize + slot as usize * DESCRIPTOR as usize;
            self.bytes[at..at + 8].copy_from_slice(&packet.to_le_bytes());
            self.bytes[at + 8..at + 16].copy_from_slice(&header.to_le_bytes());
        }

        /// Posts the buffers [`packet`] and [`header`] of slots `first..last` of `ring`.
        fn post_all(&mut self, ring: u64, first: u32, last: u32) {
            for slot in first..last {
                self.post(ring, slot, packet(slot), header(slot));
            }
        }
    }

    impl DmaMemory for Memory {
        fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
            let at = iova.checked_sub(MEM).ok_or(DmaFault)? as usize;
            let bytes = self.bytes.get(at..at + buf.len()).ok_or(DmaFault)?;
            buf.copy_from_slice(bytes);
            Ok(())
        }
    }

    /// The packet and header buffer addresses the tests post in `slot`.
    fn packet(slot: u32) -> u64 {
        0x4000_0000 + u64::from(slot) * 0x1_0000
    }

    fn header(slot: u32) -> u64 {
        0x5000_0000 + u64::from(slot) * 0x1000
    }

    /// What the tracker said, in order.
    struct Writes {
        ranges: [(u64, u64); 32],
        count: usize,
        anywhere: bool,
    }

    impl Writes {
        fn new() -> Self {
            Self {
                ranges: [(0, 0); 32],
                count: 0,
                anywhere: false,
            }
        }

        /// Whether the ranges said are `expected`, in any order, and nothing was said to be
        /// anywhere.
        fn exactly(&self, expected: &[(u64, u64)]) -> bool {
            let said = &self.ranges[..self.count];
            !self.anywhere
                && said.len() == expected.len()
                && expected.iter().all(|e| said.contains(e))
                && said.iter().all(|s| expected.contains(s))
        }

        /// Whether a range said holds the `len` bytes at `iova`.
        fn covers(&self, iova: u64, len: u64) -> bool {
            let said = &self.ranges[..self.count];
            said.iter()
                .any(|&(at, size)| at <= iova && iova + len <= at + size)
        }
    }

    impl DmaWrites for Writes {
        fn may_write(&mut self, iova: u64, len: u64) {
            // More than the tests expect: fails `exactly`.
            if self.count == self.ranges.len() {
                self.anywhere = true;
                return;
            }
            self.ranges[self.count] = (iova, len);
            self.count += 1;
        }

        fn anywhere(&mut self) {
            self.anywhere = true;
        }
    }

    /// `SRRCTL`'s descriptor types.
    const LEGACY: u32 = 0;
    const ADVANCED: u32 = 0x0200_0000;
    /// 2 KiB packet buffers.
    const KIB2: u32 = 2;
    /// Header buffers of 4 * 64 bytes, as `SRRCTL` holds their size.
    const HEADER: u64 = 256;
    const BSIZEHEADER: u32 = 4 << 8;

    /// Programs receive queue `queue` with `SLOTS` slots at `ring`, enabled.
    fn rx_queue(regs: &mut Regs, queue: u32, ring: u64, srrctl: u32, head: u32, tail: u32) {
        regs.write32(rx(queue, reg::DBAL), ring as u32);
        regs.write32(rx(queue, reg::DBAH), (ring >> 32) as u32);
        regs.write32(rx(queue, reg::DLEN), RING as u32);
        regs.write32(rx(queue, reg::SRRCTL), srrctl);
        regs.write32(rx(queue, reg::DH), head);
        regs.write32(rx(queue, reg::DT), tail);
        regs.write32(rx(queue, reg::DCTL), RXDCTL_ENABLE);
    }

    /// Programs transmit queue 0 with `SLOTS` slots at `TX_RING`, enabled.
    fn tx_queue(regs: &mut Regs) {
        regs.write32(tx(0, reg::DBAL), TX_RING as u32);
        regs.write32(tx(0, reg::DLEN), RING as u32);
        regs.write32(tx(0, reg::DCTL), 1 << 25);
    }

    /// Starts tracking, then makes a report's first half into a fresh recorder.
    fn report(regs: &mut Regs, mem: &mut Memory) -> Writes {
        let mut tracker = Tracker::start(regs, mem, &mut Writes::new());
        let mut out = Writes::new();
        tracker.may_write(regs, mem, &mut out);
        out
    }

    #[test]
    fn rings_of_enabled_rx_and_tx_queues_are_reported() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        rx_queue(&mut regs, 0, RX_RING, ADVANCED | KIB2, 3, 3);
        tx_queue(&mut regs);
        let out = report(&mut regs, &mut mem);
        assert!(out.exactly(&[(RX_RING, RING), (TX_RING, RING)]));
    }

    #[test]
    fn tx_head_write_back_is_reported_only_when_tdwbal_bit_0_is_set() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        tx_queue(&mut regs);
        regs.write32(tx(0, reg::TDWBAH), 0x1);
        regs.write32(tx(0, reg::TDWBAL), 0x8000_0040);
        let out = report(&mut regs, &mut mem);
        assert!(out.exactly(&[(TX_RING, RING)]));
        regs.write32(tx(0, reg::TDWBAL), 0x8000_0043);
        let out = report(&mut regs, &mut mem);
        assert!(out.exactly(&[(TX_RING, RING), (0x1_8000_0040, 4)]));
    }

    #[test]
    fn buffers_of_owned_rx_descriptors_run_from_head_to_tail() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        mem.post_all(RX_RING, 0, SLOTS);
        rx_queue(&mut regs, 0, RX_RING, ADVANCED | KIB2, 2, 5);
        let out = report(&mut regs, &mut mem);
        let kib2 = 2048;
        let expected = [
            (RX_RING, RING),
            (packet(2), kib2),
            (packet(3), kib2),
            (packet(4), kib2),
        ];
        assert!(out.exactly(&expected));
    }

    #[test]
    fn owned_rx_descriptors_wrap_around_the_ring() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        mem.post_all(RX_RING, 0, SLOTS);
        rx_queue(&mut regs, 0, RX_RING, ADVANCED | KIB2, 6, 2);
        let out = report(&mut regs, &mut mem);
        let kib2 = 2048;
        let expected = [
            (RX_RING, RING),
            (packet(6), kib2),
            (packet(7), kib2),
            (packet(0), kib2),
            (packet(1), kib2),
        ];
        assert!(out.exactly(&expected));
    }

    #[test]
    fn only_header_split_descriptors_report_a_header_buffer() {
        let split = [0x0400_0000, 0x0a00_0000];
        for kind in [LEGACY, ADVANCED, split[0], split[1]] {
            let (mut regs, mut mem) = (Regs::new(), Memory::new());
            // A legacy descriptor holds its length and status where `hdr_addr` would be.
            mem.post(RX_RING, 0, packet(0), header(0));
            rx_queue(&mut regs, 0, RX_RING, kind | BSIZEHEADER | KIB2, 0, 1);
            let out = report(&mut regs, &mut mem);
            let ring_and_packet = [(RX_RING, RING), (packet(0), 2048)];
            let with_header = [ring_and_packet[0], ring_and_packet[1], (header(0), HEADER)];
            if split.contains(&kind) {
                assert!(out.exactly(&with_header));
            } else {
                assert!(out.exactly(&ring_and_packet));
            }
        }
    }

    #[test]
    fn packet_buffer_size_is_srrctl_bsizepacket_or_the_largest() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        mem.post(RX_RING, 0, packet(0), 0);
        rx_queue(&mut regs, 0, RX_RING, ADVANCED | 5, 0, 1);
        let out = report(&mut regs, &mut mem);
        assert!(out.exactly(&[(RX_RING, RING), (packet(0), 5 * 1024)]));
        // Zero: `RCTL` chooses, at most 16 KiB.
        regs.write32(rx(0, reg::SRRCTL), ADVANCED);
        let out = report(&mut regs, &mut mem);
        assert!(out.covers(packet(0), 16384) && !out.anywhere);
    }

    #[test]
    fn a_disabled_rx_queue_has_its_descriptors_left_unread() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        // Its ring is outside memory: a read would fail.
        rx_queue(&mut regs, 0, NOWHERE, ADVANCED | KIB2, 0, 4);
        regs.write32(rx(0, reg::DCTL), 0);
        let out = report(&mut regs, &mut mem);
        assert!(out.exactly(&[(NOWHERE, RING)]));
    }

    #[test]
    fn a_failed_descriptor_read_is_anywhere() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        rx_queue(&mut regs, 0, NOWHERE, ADVANCED | KIB2, 0, 4);
        let out = report(&mut regs, &mut mem);
        assert!(out.anywhere);
        // And when a tail write hands over descriptors that cannot be read.
        rx_queue(&mut regs, 0, NOWHERE, ADVANCED | KIB2, 0, 0);
        let mut tracker = Tracker::start(&mut regs, &mut mem, &mut Writes::new());
        regs.write32(rx(0, reg::DT), 2);
        let mut out = Writes::new();
        tracker.track_write(&mut regs, &mut mem, &mut out, u64::from(rx(0, reg::DT)), 4);
        assert!(out.anywhere);
    }

    #[test]
    fn an_rdt_write_reports_the_buffers_it_posts() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        mem.post_all(RX_RING, 0, 2);
        rx_queue(&mut regs, 0, RX_RING, ADVANCED | KIB2, 0, 2);
        let mut tracker = Tracker::start(&mut regs, &mut mem, &mut Writes::new());
        mem.post_all(RX_RING, 2, 5);
        regs.write32(rx(0, reg::DT), 5);
        let mut out = Writes::new();
        tracker.track_write(&mut regs, &mut mem, &mut out, u64::from(rx(0, reg::DT)), 4);
        let kib2 = 2048;
        let expected = [
            (RX_RING, RING),
            (packet(2), kib2),
            (packet(3), kib2),
            (packet(4), kib2),
        ];
        assert!(out.exactly(&expected));
    }

    #[test]
    fn an_rdt_write_through_the_legacy_alias_reports_the_buffers_it_posts() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        // Queue 1: its legacy block is at 0x2900, its tail at 0x2918.
        rx_queue(&mut regs, 1, RX1_RING, ADVANCED | KIB2, 7, 7);
        let mut tracker = Tracker::start(&mut regs, &mut mem, &mut Writes::new());
        mem.post(RX1_RING, 7, packet(7), 0);
        mem.post(RX1_RING, 0, packet(0), 0);
        regs.write32(rx(1, reg::DT), 1);
        let mut out = Writes::new();
        tracker.track_write(&mut regs, &mut mem, &mut out, 0x2918, 4);
        let expected = [(RX1_RING, RING), (packet(7), 2048), (packet(0), 2048)];
        assert!(out.exactly(&expected));
        // Queue 0's alias does not touch queue 1.
        let mut out = Writes::new();
        tracker.track_write(&mut regs, &mut mem, &mut out, 0x2818, 4);
        assert!(out.exactly(&[]));
    }

    #[test]
    fn a_tail_moved_without_a_trapped_write_is_anywhere() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        mem.post_all(RX_RING, 0, 4);
        rx_queue(&mut regs, 0, RX_RING, ADVANCED | KIB2, 0, 2);
        let mut tracker = Tracker::start(&mut regs, &mut mem, &mut Writes::new());
        // The glue missed the write: the buffers it posted may be written already.
        regs.write32(rx(0, reg::DT), 4);
        let mut out = Writes::new();
        tracker.may_write(&mut regs, &mut mem, &mut out);
        assert!(out.anywhere);
    }

    #[test]
    fn a_report_keeps_a_buffer_taken_between_its_halves() {
        let (mut regs, mut mem) = (Regs::new(), Memory::new());
        mem.post_all(RX_RING, 0, 3);
        rx_queue(&mut regs, 0, RX_RING, ADVANCED | KIB2, 0, 3);
        let mut dirty = DirtyRanges::<[Pages; 16]>::new(4096).unwrap();
        let mut tracker = Tracker::start(&mut regs, &mut mem, &mut dirty);
        // A report, as the glue makes it: between the read and clear and the second half,
        // the device takes slot 0 and writes its descriptor back, address gone.
        tracker.may_write(&mut regs, &mut mem, &mut dirty);
        dirty.take(0, u64::MAX, |_, _| {});
        assert!(dirty.is_empty());
        mem.post(RX_RING, 0, 0x0123_4567, 0x89ab_cdef);
        regs.write32(rx(0, reg::DH), 1);
        tracker.may_write(&mut regs, &mut mem, &mut dirty);
        // The next report holds the buffer the device took, and the two it owns.
        for slot in 0..3 {
            assert!(dirty.contains(packet(slot)));
        }
        assert_eq!(dirty.pages(), 1 + 3);
        let mut reported = 0;
        tracker.may_write(&mut regs, &mut mem, &mut dirty);
        dirty.take(packet(0), 1, |_, len| reported += len);
        assert_eq!(reported, 4096);
    }
}
