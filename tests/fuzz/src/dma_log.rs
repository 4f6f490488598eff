// SPDX-License-Identifier: GPL-2.0

//! Fuzzing of the software DMA dirty log: the igb's tracker (`personality/igb/dma.rs`) over a
//! brute-force model of QEMU's igb (`hw/net/igb_core.c`), and the page set
//! (`migration/dirty.rs`) against a bitmap.
//!
//! Input: byte 0 picks the check (even: the igb, odd: the page set); the rest of the first
//! half drives a guest driver, the second half says when the device acts while the tracker
//! looks at it (between any two of its register or memory reads, and during a tail write).
//!
//! The igb check asserts that every byte the model device writes after logging started lies
//! in a page reported by the first report after the write whose window covers it. The page
//! set check asserts the same of written pages, and that the set stays sorted, disjoint and
//! page aligned.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use crate::migration::dirty::{DirtyRanges, Pages};
use crate::personality::igb::{Igb, DOORBELLS};
use crate::personality::{DmaFault, DmaMemory, DmaWrites, Personality, Registers};
use crate::vfio::mmap_rules::TrappedPages;

const PAGE: u64 = 4096;
const RDBAL0: u32 = 0xc000;
const TDBAL0: u32 = 0xe000;
const STRIDE: u32 = 0x40;
const DBAL: u32 = 0x00;
const DBAH: u32 = 0x04;
const DLEN: u32 = 0x08;
const SRRCTL: u32 = 0x0c;
const DH: u32 = 0x10;
const DT: u32 = 0x18;
const DCTL: u32 = 0x28;
const TDWBAL: u32 = 0x38;
const TDWBAH: u32 = 0x3c;
const RCTL: u32 = 0x0100;
const ENABLE: u32 = 1 << 25;

/// Bytes read one at a time; zero once used up.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let byte = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, _| v << 8 | u64::from(self.u8()))
    }

    /// An address where a ring (`ring`) or a buffer is: rings and buffers have regions of
    /// their own, low memory and just below the top of the space, so that they seldom
    /// overlap, and buffers are spread over pages, so that a buffer left out of a report is
    /// seldom covered by another; or anywhere.
    fn address(&mut self, ring: bool) -> u64 {
        let offset = u64::from(self.u8()) << 6 | u64::from(self.u8() & 0x3f);
        match (self.u8() % 8, ring) {
            (0, _) => 0,
            (1, true) => u64::MAX - 0x2_ffff + (offset << 2),
            (1, false) => u64::MAX - 0x7fff + offset,
            (2, _) => self.u64(),
            (region, true) => u64::from(region % 2 + 3) << 20 | offset << 2,
            (region, false) => u64::from(region % 3 + 5) << 32 | offset << 12 | offset & 0xff0,
        }
    }
}

/// The model igb and its guest memory.
struct Device<'a> {
    mac: HashMap<u32, u32>,
    memory: HashMap<u64, Box<[u8; PAGE as usize]>>,
    /// Pages written since logging started and not yet reported.
    pending: BTreeSet<u64>,
    logging: bool,
    /// Pages whose reads fail.
    unreadable: Option<u64>,
    /// Something rewrote descriptors of a receive ring other than by the device's write-back
    /// of the one it took: outside what the tracker can cover, so reports are not checked.
    rewritten: bool,
    /// When the device acts on its own: pairs of (tracker reads to wait, packet).
    chaos: Bytes<'a>,
    /// Tracker reads until the device next acts.
    wait: u8,
    /// Packets the next receive tail write makes arrive at once.
    queued: u8,
}

/// The primary offset of a queue register or its legacy alias.
fn primary(offset: u32) -> u32 {
    match offset {
        0x2800..=0x2bff if offset & 0xff < STRIDE => {
            RDBAL0 + (offset - 0x2800) / 0x100 * STRIDE + (offset & 0x3f)
        }
        0x3800..=0x3bff if offset & 0xff < STRIDE => {
            TDBAL0 + (offset - 0x3800) / 0x100 * STRIDE + (offset & 0x3f)
        }
        _ => offset,
    }
}

impl Device<'_> {
    fn get(&self, offset: u32) -> u32 {
        self.mac.get(&primary(offset)).copied().unwrap_or(0)
    }

    fn ring(&self, base: u32) -> (u64, u32, u32, u32) {
        let address = u64::from(self.get(base + DBAH)) << 32 | u64::from(self.get(base + DBAL));
        (
            address,
            self.get(base + DLEN) / 16,
            self.get(base + DH),
            self.get(base + DT),
        )
    }

    fn write_memory(&mut self, iova: u64, bytes: &[u8]) {
        for (i, &byte) in bytes.iter().enumerate() {
            let at = iova.wrapping_add(i as u64);
            let page = self
                .memory
                .entry(at / PAGE)
                .or_insert_with(|| Box::new([0; PAGE as usize]));
            page[(at % PAGE) as usize] = byte;
        }
    }

    /// Whether `len` bytes at `iova` overlap the receive ring of a queue other than `except`.
    fn in_rx_ring(&self, iova: u64, len: u64, except: Option<u32>) -> bool {
        (0..16).filter(|&q| Some(q) != except).any(|q| {
            let (base, slots, head, _) = self.ring(RDBAL0 + q * STRIDE);
            let size = 16 * u64::from(slots.max(head + 1));
            slots > 0
                && len > 0
                && (iova.wrapping_sub(base) < size || base.wrapping_sub(iova) < len)
        })
    }

    /// A DMA write of `len` bytes of `fill`.
    fn dma(&mut self, iova: u64, len: u64, fill: u8) {
        if self.in_rx_ring(iova, len, None) {
            self.rewritten = true;
        }
        let mut done = 0;
        while done < len {
            let at = iova.wrapping_add(done);
            let now = (PAGE - at % PAGE).min(len - done);
            if self.logging {
                self.pending.insert(at / PAGE);
            }
            let page = self
                .memory
                .entry(at / PAGE)
                .or_insert_with(|| Box::new([0; PAGE as usize]));
            page[(at % PAGE) as usize..(at % PAGE + now) as usize].fill(fill);
            done += now;
        }
    }

    fn read_memory(&self, iova: u64, buf: &mut [u8]) {
        for (i, byte) in buf.iter_mut().enumerate() {
            let at = iova.wrapping_add(i as u64);
            *byte = self
                .memory
                .get(&(at / PAGE))
                .map_or(0, |page| page[(at % PAGE) as usize]);
        }
    }

    /// QEMU's `igb_write_packet_to_guest` for a packet of `size` bytes on queue `queue`;
    /// `split` says whether a header-split descriptor splits it (`igb_do_ps`).
    fn receive(&mut self, queue: u32, size: u64, split: bool) {
        let block = RDBAL0 + queue * STRIDE;
        if self.get(block + DCTL) & ENABLE == 0 {
            return;
        }
        let srrctl = self.get(block + SRRCTL);
        let kind = srrctl & 0x0e00_0000;
        let ps = (kind == 0x0400_0000 || kind == 0x0a00_0000) && split;
        let packet = match srrctl & 0x7f {
            0 => rctl_buffer(self.get(RCTL)),
            kib => u64::from(kib) << 10,
        };
        let header = u64::from((srrctl & 0xf00) >> 2);
        let mut left = size;
        let mut first = true;
        loop {
            let (base, slots, head, tail) = self.ring(block);
            if slots == 0 || head == tail || tail >= slots {
                return;
            }
            let slot = base.wrapping_add(16 * u64::from(head));
            let mut desc = [0u8; 16];
            self.read_memory(slot, &mut desc);
            let pkt = u64::from_le_bytes(desc[..8].try_into().unwrap());
            let hdr = u64::from_le_bytes(desc[8..].try_into().unwrap());
            let skip = pkt == 0 || (ps && hdr == 0);
            if ps && first && !skip {
                let len = header.min(left);
                self.dma(hdr, len, 0xee);
                left -= len;
            }
            let len = packet.min(left);
            if !skip {
                self.dma(pkt, len, 0xdd);
            }
            left -= len;
            // The write-back: no address left in the slot, DD set.
            let mut wb = [0x5au8; 16];
            wb[8] = 1;
            if self.in_rx_ring(slot, 16, Some(queue)) {
                self.rewritten = true;
            }
            self.write_memory(slot, &wb);
            if self.logging {
                for at in [slot, slot.wrapping_add(15)] {
                    self.pending.insert(at / PAGE);
                }
            }
            let next = if (head + 1) >= slots { 0 } else { head + 1 };
            self.mac.insert(block + DH, next);
            first = false;
            if left == 0 {
                return;
            }
        }
    }

    /// QEMU's `igb_start_xmit` and `igb_txdesc_writeback` for queue `queue`.
    fn transmit(&mut self, queue: u32) {
        let block = TDBAL0 + queue * STRIDE;
        if self.get(block + DCTL) & ENABLE == 0 {
            return;
        }
        loop {
            let (base, slots, head, tail) = self.ring(block);
            if slots == 0 || head == tail || tail >= slots {
                return;
            }
            let wb =
                u64::from(self.get(block + TDWBAH)) << 32 | u64::from(self.get(block + TDWBAL));
            if wb & 1 != 0 {
                self.dma(wb & !3, 4, 0xcc);
            } else {
                self.dma(base.wrapping_add(16 * u64::from(head) + 8), 8, 0xbb);
            }
            let next = if (head + 1) >= slots { 0 } else { head + 1 };
            self.mac.insert(block + DH, next);
        }
    }

    /// Called at each read of the tracker: the device receives a packet when the chaos bytes
    /// say so.
    fn maybe_act(&mut self) {
        if self.wait > 0 || self.chaos.done() {
            self.wait = self.wait.saturating_sub(1);
            return;
        }
        let byte = self.chaos.u8();
        let size = u64::from(self.chaos.u8()) * 97 + 1;
        self.receive(u32::from(byte & 0x3), size, byte & 0x10 != 0);
        self.wait = self.chaos.u8() % 32;
    }

    fn write32(&mut self, offset: u32, value: u32) {
        let offset = primary(offset);
        let in_queue = |base: u32| (base..base + 16 * STRIDE).contains(&offset);
        let register = offset % STRIDE;
        let value = match register {
            DLEN if in_queue(RDBAL0) || in_queue(TDBAL0) => value & 0xffff0,
            DBAL if in_queue(RDBAL0) || in_queue(TDBAL0) => value & !0xf,
            DH | DT if in_queue(RDBAL0) || in_queue(TDBAL0) => value & 0xffff,
            _ => value,
        };
        self.mac.insert(offset, value);
        if in_queue(RDBAL0) && register == DT {
            // `igb_start_recv`: packets queued for want of buffers arrive now.
            for _ in 0..core::mem::take(&mut self.queued) {
                self.receive((offset - RDBAL0) / STRIDE, 1500, true);
            }
        }
        if in_queue(TDBAL0) && register == DT {
            self.transmit((offset - TDBAL0) / STRIDE);
        }
    }
}

/// `e1000x_rxbufsize`.
fn rctl_buffer(rctl: u32) -> u64 {
    match rctl & 0x0203_0000 {
        0x0201_0000 => 16384,
        0x0202_0000 => 8192,
        0x0203_0000 => 4096,
        0x0001_0000 => 1024,
        0x0002_0000 => 512,
        0x0003_0000 => 256,
        _ => 2048,
    }
}

/// BAR 0 as the tracker sees it.
struct Regs<'d, 'a>(&'d RefCell<Device<'a>>);

impl Registers for Regs<'_, '_> {
    fn read32(&mut self, offset: u32) -> u32 {
        let mut device = self.0.borrow_mut();
        device.maybe_act();
        device.get(offset)
    }

    fn write32(&mut self, _offset: u32, _value: u32) {
        panic!("the tracker writes no register");
    }

    fn pause(&mut self) {}
}

/// Guest memory as the tracker reads it.
struct Mem<'d, 'a>(&'d RefCell<Device<'a>>);

impl DmaMemory for Mem<'_, '_> {
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let mut device = self.0.borrow_mut();
        device.maybe_act();
        let last = iova.checked_add(buf.len() as u64 - 1).ok_or(DmaFault)?;
        if device
            .unreadable
            .is_some_and(|page| iova / PAGE <= page && page <= last / PAGE)
        {
            return Err(DmaFault);
        }
        device.read_memory(iova, buf);
        Ok(())
    }
}

/// The log and the check of its reports.
struct Log {
    set: DirtyRanges,
}

impl Log {
    /// A report: the second half of the protocol, `may_write`, read and clear, `may_write`.
    fn report(
        &mut self,
        tracker: &mut <Igb as Personality>::Tracker,
        device: &RefCell<Device<'_>>,
        window: (u64, u64),
    ) {
        Igb::may_write(tracker, &mut Regs(device), &mut Mem(device), &mut self.set);
        let mut reported = Vec::new();
        self.set
            .take(window.0, window.1, |iova, len| reported.push((iova, len)));
        let first = window.0 / PAGE;
        let last = window.0.saturating_add(window.1 - 1) / PAGE;
        let mut device_ref = device.borrow_mut();
        if device_ref.rewritten {
            device_ref.pending.clear();
        }
        let due: Vec<u64> = device_ref.pending.range(first..=last).copied().collect();
        for page in due {
            let at = page * PAGE;
            assert!(
                reported
                    .iter()
                    .any(|&(iova, len)| iova <= at && at - iova < len),
                "page {at:#x} written, not reported in {reported:x?}"
            );
            device_ref.pending.remove(&page);
        }
        drop(device_ref);
        Igb::may_write(tracker, &mut Regs(device), &mut Mem(device), &mut self.set);
    }
}

/// A guest driver's write to a register: to the device, then to the tracker if trapped.
fn guest_write(
    tracker: &mut <Igb as Personality>::Tracker,
    log: &mut Log,
    device: &RefCell<Device<'_>>,
    offset: u32,
    value: u32,
) {
    device.borrow_mut().write32(offset, value);
    let trapped = TrappedPages::of(&DOORBELLS, 0x20000, PAGE).unwrap();
    if trapped.conflicts(u64::from(offset) & !(PAGE - 1), PAGE) {
        Igb::track_write(
            tracker,
            &mut Regs(device),
            &mut Mem(device),
            &mut log.set,
            u64::from(offset),
            4,
        );
    }
}

/// The offset of `register` of a queue, through its legacy alias when `alias` and it has one.
fn queue_register(base: u32, queue: u32, register: u32, alias: bool) -> u32 {
    if alias && queue < 4 {
        let legacy = if base == RDBAL0 { 0x2800 } else { 0x3800 };
        legacy + queue * 0x100 + register
    } else {
        base + queue * STRIDE + register
    }
}

/// Runs the igb check on `data`.
pub fn exercise_igb(data: &[u8]) {
    let half = data.len() / 2;
    let mut ops = Bytes {
        data: &data[..half],
        at: 0,
    };
    let device = RefCell::new(Device {
        mac: HashMap::new(),
        memory: HashMap::new(),
        pending: BTreeSet::new(),
        logging: false,
        unreadable: None,
        rewritten: false,
        wait: data.get(half).copied().unwrap_or(0) % 32,
        queued: 0,
        chaos: Bytes {
            data: &data[half..],
            at: 0,
        },
    });
    let mut log = Log {
        set: DirtyRanges::new(PAGE).unwrap(),
    };
    // The tracker starts after the first few operations, as logging starts on a running
    // device; until then its writes do not count.
    let mut tracker: Option<<Igb as Personality>::Tracker> = None;
    let start_after = ops.u8() % 8;
    let mut step = 0;
    while !ops.done() {
        if tracker.is_none() && step >= start_after {
            tracker = Some(Igb::start_tracking(
                &mut Regs(&device),
                &mut Mem(&device),
                &mut log.set,
            ));
            device.borrow_mut().logging = true;
        }
        step += 1;
        // Before logging starts, a throwaway tracker takes the trapped writes.
        let mut scratch;
        let t = match tracker.as_mut() {
            Some(t) => t,
            None => {
                scratch = Igb::start_tracking(
                    &mut Regs(&device),
                    &mut Mem(&device),
                    &mut DirtyRanges::<[Pages; 1]>::new(PAGE).unwrap(),
                );
                &mut scratch
            }
        };
        let op = ops.u8();
        let queue = u32::from(ops.u8() % 4);
        let alias = op & 0x80 != 0;
        let rx = |register| queue_register(RDBAL0, queue, register, alias);
        let tx = |register| queue_register(TDBAL0, queue, register, alias);
        match op % 12 {
            0 => {
                // Sets up a receive queue, disabling it first or not.
                let base = ops.address(true);
                let slots = u32::from(ops.u8() % 17);
                let srrctl = u32::from(ops.u8() & 7) << 25
                    | u32::from(ops.u8() % 4)
                    | u32::from(ops.u8() & 0xf) << 8;
                let flags = ops.u8();
                if flags & 1 != 0 {
                    guest_write(t, &mut log, &device, rx(DCTL), 0);
                }
                guest_write(t, &mut log, &device, rx(DBAL), base as u32);
                guest_write(t, &mut log, &device, rx(DBAH), (base >> 32) as u32);
                guest_write(t, &mut log, &device, rx(DLEN), slots * 16);
                guest_write(t, &mut log, &device, rx(DH), u32::from(flags >> 4));
                guest_write(t, &mut log, &device, rx(DT), u32::from(flags >> 4));
                guest_write(t, &mut log, &device, rx(SRRCTL), srrctl);
                let enable = if flags & 2 != 0 { ENABLE } else { 0 };
                guest_write(t, &mut log, &device, rx(DCTL), enable);
            }
            1 | 2 => {
                // Posts receive descriptors the device does not own, then the tail.
                let (base, slots, head, tail) = device.borrow().ring(RDBAL0 + queue * STRIDE);
                if slots == 0 || tail >= slots || head >= slots {
                    continue;
                }
                let owned = (tail + slots - head) % slots;
                let free = slots - 1 - owned;
                let count = u32::from(ops.u8()) % (free + 1);
                for i in 0..count {
                    let slot = (tail + i) % slots;
                    let mut desc = [0u8; 16];
                    desc[..8].copy_from_slice(&ops.address(false).to_le_bytes());
                    desc[8..].copy_from_slice(&(ops.address(false) & !1).to_le_bytes());
                    let at = base.wrapping_add(16 * u64::from(slot));
                    let mut d = device.borrow_mut();
                    if d.in_rx_ring(at, 16, Some(queue)) {
                        d.rewritten = true;
                    }
                    d.write_memory(at, &desc);
                }
                device.borrow_mut().queued = ops.u8() % 4;
                guest_write(t, &mut log, &device, rx(DT), (tail + count) % slots);
            }
            3 => {
                // Sets up a transmit queue.
                let base = ops.address(true);
                let slots = u32::from(ops.u8() % 17);
                let wb = ops.address(false) | u64::from(ops.u8() & 1);
                guest_write(t, &mut log, &device, tx(DBAL), base as u32);
                guest_write(t, &mut log, &device, tx(DBAH), (base >> 32) as u32);
                guest_write(t, &mut log, &device, tx(DLEN), slots * 16);
                guest_write(t, &mut log, &device, tx(TDWBAL), wb as u32);
                guest_write(t, &mut log, &device, tx(TDWBAH), (wb >> 32) as u32);
                guest_write(t, &mut log, &device, tx(DCTL), ENABLE);
            }
            4 => {
                let value = u32::from(ops.u8()) % 20;
                guest_write(t, &mut log, &device, tx(DT), value);
            }
            5 => {
                let size = u64::from(ops.u8()) * 131 + 1;
                let split = ops.u8() & 1 != 0;
                device.borrow_mut().receive(queue, size, split);
            }
            6 => {
                // Any register of a queue, any value: a head, a tail, an enable.
                let register = u32::from(ops.u8() % 16) * 4;
                let value = u32::from(ops.u8()) << (ops.u8() % 32);
                let value = if register == DH || register == DT {
                    value % 20
                } else {
                    value
                };
                guest_write(t, &mut log, &device, rx(register), value);
            }
            7 => {
                // RCTL's buffer size: its page is not trapped.
                device.borrow_mut().write32(RCTL, u32::from(ops.u8()) << 16);
            }
            8 => {
                let page = ops.address(true) / PAGE;
                let mut d = device.borrow_mut();
                d.unreadable = if d.unreadable.is_some() {
                    None
                } else {
                    Some(page)
                };
            }
            _ => {
                let Some(t) = tracker.as_mut() else {
                    continue;
                };
                let window = if op & 0x40 != 0 {
                    (0, u64::MAX)
                } else {
                    let start = ops.address(false) & !(PAGE - 1);
                    (start, u64::from(ops.u8()) * 0x3000 + 1)
                };
                log.report(t, &device, window);
            }
        }
    }
    if let Some(t) = tracker.as_mut() {
        log.report(t, &device, (0, u64::MAX));
        log.report(t, &device, (0, u64::MAX));
    }
}

/// Runs the page set check on `data`: writes, anywheres and takes in a space of 64 pages at
/// a base chosen by the input (the top of the space among them), against a bitmap.
pub fn exercise_ranges(data: &[u8]) {
    let mut ops = Bytes { data, at: 0 };
    let base = match ops.u8() % 3 {
        0 => 0,
        1 => u64::MAX - 64 * PAGE + 1,
        _ => 1 << 40,
    };
    let mut set = DirtyRanges::<[Pages; 4]>::new(PAGE).unwrap();
    let mut written = [false; 64];
    while !ops.done() {
        let op = ops.u8();
        let page = u64::from(ops.u8() % 64);
        let offset = base + page * PAGE + u64::from(ops.u8()) * 16;
        let len = u64::from(ops.u8()) * 97;
        match op % 8 {
            0 => {
                set.anywhere();
                written = [true; 64];
            }
            1..=4 => {
                set.may_write(offset, len);
                let mut at = 0;
                while at < len {
                    let byte = offset.wrapping_add(at);
                    if let Some(p) = byte.checked_sub(base).map(|d| d / PAGE) {
                        if p < 64 {
                            written[p as usize] = true;
                        }
                    }
                    at += (PAGE - byte % PAGE).min(len - at);
                }
            }
            _ => {
                let before = set.pages();
                let mut reported = Vec::new();
                set.take(offset, len, |iova, len| reported.push((iova, len)));
                let first = offset & !(PAGE - 1);
                let last = offset.saturating_add(len.max(1) - 1) | (PAGE - 1);
                let mut total = 0u128;
                for &(iova, l) in &reported {
                    assert!(iova % PAGE == 0 && l % PAGE == 0 && l > 0);
                    assert!(len > 0 && first <= iova && iova + (l - 1) <= last);
                    total += u128::from(l / PAGE);
                }
                for (p, was) in written.iter_mut().enumerate() {
                    let at = base + p as u64 * PAGE;
                    if len > 0 && first <= at && at <= last {
                        if *was {
                            assert!(
                                reported.iter().any(|&(i, l)| i <= at && at - i < l),
                                "page {at:#x} written, not reported"
                            );
                        }
                        *was = false;
                    }
                }
                assert!(u128::from(set.pages()) + total >= u128::from(before));
            }
        }
        // Sorted, disjoint, not adjacent, page aligned; every written page held.
        let ranges: Vec<(u64, u64)> = set.iter().collect();
        for &(first, last) in &ranges {
            assert!(first % PAGE == 0 && last % PAGE == PAGE - 1 && first <= last);
        }
        for pair in ranges.windows(2) {
            assert!(pair[0].1 < pair[1].0 && pair[0].1 + 1 < pair[1].0);
        }
        for (p, &was) in written.iter().enumerate() {
            assert!(!was || set.contains(base + p as u64 * PAGE));
        }
    }
}

/// Runs the check byte 0 of `data` picks.
pub fn exercise_dma_log(data: &[u8]) {
    match data.split_first() {
        Some((pick, rest)) if pick % 2 == 0 => exercise_igb(rest),
        Some((_, rest)) => exercise_ranges(rest),
        None => {}
    }
}
