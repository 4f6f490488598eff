// SPDX-License-Identifier: GPL-2.0

//! Live migration of a device with a personality: the one state machine behind both
//! front-ends (the v2 device features and the v1 migration region), its lock, and the saving
//! and resuming sessions behind the data fds.
//!
//! The decisions are pure code: [`state`] says which arcs to take and what each does,
//! [`stream`] frames and checks the stream, the mapping rule which mappings conflict, the
//! device's [`Personality`] which registers hold the state. This file sequences them under
//! the lock, and finds a bound device's personality ([`of`]).

pub(crate) mod dirty;
mod dma_log;
pub(crate) mod state;
pub(crate) mod stream;
pub(crate) mod v1_region;

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::{
    debugfs,
    device::Device,
    fmt, new_mutex, new_spinlock,
    page::PAGE_SIZE,
    prelude::*,
    str::CString,
    sync::{atomic::Atomic, Arc, Mutex, SpinLock},
};

use crate::bytes::put;
use crate::config::pci_caps::read_byte;
use crate::personality::{self, igb::Igb, ConfigState, Personality};
use crate::vfio::mmap_rules::{registers_written, TrappedPages};
use crate::vfio::{
    dev_warn_ratelimited, DataFd, DataSession, Direction, DirtyBitmap, MappingTracker, OpenDevice,
    PciConfig, RateLimit, RegionIo, Registers, VfioDeviceOps, BARS,
};
use dma_log::DmaLog;
use state::{Effects, Features, MigState};
use stream::{Buffer, Decoder, Identity, RecordKind, StreamError};
use v1_region::{Field, DATA_OFFSET, DATA_SIZE};

/// The features every personality offers: P2P and pre-copy besides the mandatory states.
pub(crate) const FEATURES: Features = Features::STOP_COPY
    .with(Features::P2P)
    .with(Features::PRE_COPY);

/// What the state machine needs of the variant driver whose devices it migrates.
pub(crate) trait Driver: VfioDeviceOps {
    /// The fingerprint of the config-space layout the user sees: what a stream records and a
    /// resuming device must match.
    fn layout_fingerprint(dev: &OpenDevice<'_, Self>) -> u64;
}

/// The migration side of a device of the driver `D`, whichever personality drives it: what
/// the driver's VFIO callbacks ask of it.
pub(crate) trait DeviceMigration<D: Driver>: Send + Sync {
    /// The current state.
    fn state(&self) -> MigState;
    /// Moves the device to `target` (`enum vfio_device_mig_state`) for the v2 front-end,
    /// returning the data fd the last arc opened, if it opened one.
    fn set_state(&self, dev: &OpenDevice<'_, D>, target: u32) -> Result<Option<DataFd>>;
    /// The size of the stream `STOP_COPY` would produce (`VFIO_DEVICE_FEATURE_MIG_DATA_SIZE`).
    fn data_size(&self) -> usize;
    /// Notes that the device was reset: back to `RUNNING`, sessions ended. Never waits.
    fn reset_done(&self);
    /// Ends every session as the device closes; the next user finds it `RUNNING`.
    fn close(&self);
    /// The tracker of the user's BAR mappings.
    fn mappings(&self) -> &MappingTracker;
    /// Counts the doorbells a write of `len` bytes at `offset` of BAR `bar` through the
    /// region's write path covered, and shows the write to the DMA log.
    fn bar_written(&self, dev: &OpenDevice<'_, D>, bar: usize, offset: u64, len: usize);
    /// Starts logging the device's DMA writes (`VFIO_DEVICE_FEATURE_DMA_LOGGING_START`).
    fn log_start(&self, dev: &OpenDevice<'_, D>, page_size: &mut u64) -> Result;
    /// Stops logging them.
    fn log_stop(&self);
    /// Reports and clears what the device may have written in `[iova, iova + length)`.
    fn log_read_and_clear(
        &self,
        dev: &OpenDevice<'_, D>,
        iova: u64,
        length: u64,
        dirty: &mut DirtyBitmap<'_>,
    ) -> Result;
    /// Serves an access to the v1 migration region.
    fn region_access(&self, dev: &OpenDevice<'_, D>, offset: u64, io: RegionIo<'_>) -> Result;
}

/// Builds the migration side of a device one personality drives, identified by `model`.
type Build<D> =
    fn(&PciConfig<'_>, Identity, Option<u16>) -> Result<Option<KBox<dyn DeviceMigration<D>>>>;

/// The personalities, by the vendor and device IDs of the devices they drive.
fn personalities<D: Driver>() -> [(u16, u16, Build<D>); 1] {
    [(Igb::VENDOR_ID, Igb::DEVICE_ID, build::<Igb, D>)]
}

/// The migration side of the device whose config space is `config`, with its PCI Express
/// capability at `pcie`, if a personality drives it.
pub(crate) fn of<D: Driver>(
    config: &PciConfig<'_>,
    pcie: Option<u16>,
) -> Result<Option<KBox<dyn DeviceMigration<D>>>> {
    let model = Identity {
        personality: 0,
        vendor: config.read_word(0x00),
        device: config.read_word(0x02),
        subsystem_vendor: config.read_word(0x2c),
        subsystem_device: config.read_word(0x2e),
        revision: read_byte(config, 0x08).unwrap_or(!0),
        layout: 0,
    };
    let found = personalities::<D>()
        .into_iter()
        .find(|&(vendor, device, _)| (vendor, device) == (model.vendor, model.device));
    match found {
        Some((_, _, build)) => build(config, model, pcie),
        None => Ok(None),
    }
}

/// The migration side of a device the personality `P` drives: `None` if its registers' BAR
/// does not fit `P`.
fn build<P: Personality, D: Driver>(
    config: &PciConfig<'_>,
    model: Identity,
    pcie: Option<u16>,
) -> Result<Option<KBox<dyn DeviceMigration<D>>>> {
    let model = Identity {
        personality: P::ID,
        ..model
    };
    let mut trapped = [TrappedPages::NONE; BARS];
    let regs_bar_len = config.bar_len(P::REGS_BAR);
    match TrappedPages::of(P::TRAPPED, regs_bar_len, PAGE_SIZE as u64) {
        Ok(pages) => trapped[P::REGS_BAR] = pages,
        Err(err) => {
            dev_warn!(
                config.device(),
                "migration: BAR {} does not fit {}: {:?}\n",
                P::REGS_BAR,
                P::NAME,
                err
            );
            return Ok(None);
        }
    }
    dev_info!(config.device(), "migration: {} personality\n", P::NAME);
    // /sys/kernel/debug/rvfio-pci-<device>/{doorbell_writes,arcs,dma_log_blind}
    // (Documentation/migration.rst).
    let name = CString::try_from_fmt(fmt!("{}-{}", D::NAME, config.device().name()))?;
    let dir = debugfs::Dir::new(&name);
    let doorbell_writes = dir.read_only_file(c"doorbell_writes", DoorbellWrites::new());
    let arcs = dir.read_only_file(c"arcs", ArcCounts::new());
    let dma_log_blind = dir.read_write_file(c"dma_log_blind", Atomic::new(false));
    let files = DebugFiles {
        doorbell_writes,
        arcs,
        dma_log_blind,
    };
    let migration = Migration::<P>::new((D::NAME, config.device()), model, pcie, trapped, files)?;
    let migration = KBox::pin_init(migration, GFP_KERNEL)?;
    Ok(Some(
        KBox::new(migration, GFP_KERNEL)? as KBox<dyn DeviceMigration<D>>
    ))
}

/// The debugfs files of a device's migration, to be made in its directory.
struct DebugFiles<W, A, B> {
    doorbell_writes: W,
    arcs: A,
    dma_log_blind: B,
}

/// Which front-end asks for a transition: the v2 device feature gets a data fd for a session
/// the transition opens; the v1 region serves the session itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FrontEnd {
    V2,
    V1,
}

/// The migration side of a device with a personality.
///
/// # Invariants
///
/// `core` is the one lock of the state machine; `reset_pending` is set by a reset that
/// found `core` taken, and is acted on before `core` is next released.
#[pin_data]
pub(crate) struct Migration<P: Personality> {
    /// The device's identity in a stream, but for the layout fingerprint, which is computed
    /// from the user's view of config space whenever a session opens.
    model: Identity,
    /// Offset of the PCI Express capability, found when the device was bound.
    pcie: Option<u16>,
    #[pin]
    core: Mutex<MigCore<P>>,
    #[pin]
    reset_pending: SpinLock<bool>,
    /// The user's BAR mappings, which may not cover the pages the personality traps while
    /// the device is saving.
    #[pin]
    mappings: MappingTracker,
    /// The doorbell writes that came through the region's write path, in debugfs.
    #[pin]
    doorbell_writes: debugfs::File<DoorbellWrites>,
    /// The arcs the state machine took, in debugfs.
    #[pin]
    arcs: debugfs::File<ArcCounts>,
    /// The log of the device's DMA writes, kept between the user's start and stop.
    #[pin]
    dma_log: DmaLog<P>,
    /// The rate limits of the two messages a user can trigger through the uAPI as often as
    /// it likes (`Documentation/messages.rst`). One per device and message, where C's
    /// `dev_warn_ratelimited()` has one per call site for all devices: a user flooding one
    /// device's log then hides no other device's refusals (another VM's failed migration),
    /// and a flood of one message hides no other; the log still gets at most the burst per
    /// interval for each device the user has open. The state lives and dies with the device,
    /// so it needs no static initialiser.
    #[pin]
    stream_refused: RateLimit,
    #[pin]
    load_failed: RateLimit,
}

/// The messages of [`Migration::load`], which start the names of their rate limits.
const STREAM_REFUSED: &str = "migration stream refused";
const LOAD_FAILED: &str = "loading the migrated state failed";

/// A count of doorbell writes, shown in debugfs as a decimal number.
struct DoorbellWrites(AtomicU64);

impl DoorbellWrites {
    /// No write yet.
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
}

impl fmt::Debug for DoorbellWrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.load(Ordering::Relaxed))
    }
}

/// How often the state machine took each arc since the device was bound, shown in debugfs as
/// one `FROM>TO COUNT` line per arc taken (uAPI state names): what shows which arcs a VMM
/// drives, such as QEMU's passage through `RUNNING_P2P` at every VM stop and start.
struct ArcCounts([AtomicU64; STATES * STATES]);

const STATES: usize = MigState::ALL.len();

impl ArcCounts {
    /// No arc taken yet.
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; STATES * STATES])
    }

    fn record(&self, from: MigState, to: MigState) {
        self.0[from as usize * STATES + to as usize].fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for ArcCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (i, count) in self.0.iter().enumerate() {
            let count = count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let (from, to) = (MigState::ALL[i / STATES], MigState::ALL[i % STATES]);
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{}>{} {}", from.name(), to.name(), count)?;
        }
        Ok(())
    }
}

/// The state under the lock.
struct MigCore<P: Personality> {
    state: MigState,
    /// What quiescing took from the device, to give back when it runs again.
    held: Option<P::Held>,
    save: Option<Arc<Session<P>>>,
    resume: Option<Arc<Session<P>>>,
}

impl<P: Personality> MigCore<P> {
    /// Back to `RUNNING` with no session: after a reset and when the device closes.
    fn reset(&mut self) {
        self.state = MigState::Running;
        self.held = None;
        for session in [self.save.take(), self.resume.take()].into_iter().flatten() {
            session.end();
        }
    }
}

/// The lock of the state machine, held.
struct Locked<'a, P: Personality> {
    mig: &'a Migration<P>,
    core: Option<kernel::sync::MutexGuard<'a, MigCore<P>>>,
}

impl<P: Personality> core::ops::Deref for Locked<'_, P> {
    type Target = MigCore<P>;
    fn deref(&self) -> &MigCore<P> {
        self.core.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl<P: Personality> core::ops::DerefMut for Locked<'_, P> {
    fn deref_mut(&mut self) -> &mut MigCore<P> {
        self.core.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl<P: Personality> Drop for Locked<'_, P> {
    /// Releases the lock, first acting on a reset that happened while it was held: the reset
    /// path cannot wait for the lock, since it runs with the core's `memory_lock` held, which
    /// transitions take after this lock.
    fn drop(&mut self) {
        loop {
            let mut pending = self.mig.reset_pending.lock();
            if !*pending {
                self.core = None;
                return;
            }
            *pending = false;
            drop(pending);
            let mig = self.mig;
            mig.reset(self);
        }
    }
}

impl<P: Personality> Migration<P> {
    /// The migration side of the device `dev` of the driver `driver`, whose personality is
    /// `P`, identified by `model`, with its PCI Express capability at `pcie`, trapping the
    /// pages `trapped` of its BARs while it saves or logs DMA, with its debugfs `files`.
    fn new<'a>(
        (driver, dev): (&'a CStr, &Device),
        model: Identity,
        pcie: Option<u16>,
        trapped: [TrappedPages; BARS],
        files: DebugFiles<
            impl PinInit<debugfs::File<DoorbellWrites>> + 'a,
            impl PinInit<debugfs::File<ArcCounts>> + 'a,
            impl PinInit<debugfs::File<Atomic<bool>>> + 'a,
        >,
    ) -> Result<impl PinInit<Self> + 'a> {
        // "rvfio-pci 0000:01:00.0: migration stream refused: 5 callbacks suppressed".
        let name =
            |message: &str| CString::try_from_fmt(fmt!("{} {}: {message}", driver, dev.name()));
        let (stream_refused, load_failed) = (name(STREAM_REFUSED)?, name(LOAD_FAILED)?);
        let DebugFiles {
            doorbell_writes,
            arcs,
            dma_log_blind,
        } = files;
        Ok(pin_init!(Self {
            model,
            pcie,
            core <- new_mutex!(MigCore {
                state: MigState::Running,
                held: None,
                save: None,
                resume: None,
            }),
            reset_pending <- new_spinlock!(false),
            mappings <- MappingTracker::new(trapped),
            doorbell_writes <- doorbell_writes,
            arcs <- arcs,
            dma_log <- DmaLog::new(dma_log_blind),
            stream_refused <- RateLimit::new(stream_refused),
            load_failed <- RateLimit::new(load_failed),
        }))
    }

    /// Counts the doorbells a write through BAR `bar`'s region path covered: the writes the
    /// driver sees because their pages are trapped while saving or logging; the DMA log sees
    /// those.
    fn bar_written<D: Driver>(&self, dev: &OpenDevice<'_, D>, bar: usize, offset: u64, len: usize) {
        // Most writes through the region miss every trapped page: one look at the pages
        // spares them the look at each doorbell.
        let trapped = self.mappings.trapped(bar);
        if bar != P::REGS_BAR || !trapped.is_some_and(|pages| pages.conflicts(offset, len as u64)) {
            return;
        }
        let doorbells = registers_written(P::TRAPPED, offset, len as u64);
        if doorbells > 0 {
            self.doorbell_writes
                .0
                .fetch_add(doorbells as u64, Ordering::Relaxed);
            self.dma_log
                .written(dev, &self.mappings, offset, len as u64);
        }
    }

    /// The tracker of the user's BAR mappings.
    fn mappings(&self) -> &MappingTracker {
        &self.mappings
    }

    fn lock(&self) -> Locked<'_, P> {
        Locked {
            mig: self,
            core: Some(self.core.lock()),
        }
    }

    /// The current state, as `enum vfio_device_mig_state` numbers it.
    fn state(&self) -> MigState {
        self.lock().state
    }

    /// Notes that the device was reset: back to `RUNNING`, sessions ended, the DMA log too.
    /// Never waits for a lock.
    fn reset_done(&self) {
        self.dma_log.reset(&self.mappings);
        *self.reset_pending.lock() = true;
        if let Some(core) = self.core.try_lock() {
            drop(Locked {
                mig: self,
                core: Some(core),
            });
        }
    }

    /// Ends every session and the DMA log as the device closes; the next user finds it
    /// `RUNNING`.
    fn close(&self) {
        self.dma_log.stop(&self.mappings);
        self.reset(&mut self.lock());
    }

    /// Back to `RUNNING` with no session, the mappings' rule with it: after a reset and when
    /// the device closes.
    fn reset(&self, core: &mut MigCore<P>) {
        core.reset();
        self.mappings.set_saving(false);
    }

    /// The size of the stream `STOP_COPY` would produce (`VFIO_DEVICE_FEATURE_MIG_DATA_SIZE`).
    fn data_size(&self) -> usize {
        P::FINAL_RECORD_SIZE
    }

    /// Moves the device to `target` (`enum vfio_device_mig_state`) for the v2 front-end.
    /// Returns the data fd the last arc opened, if it opened one.
    fn set_state<D: Driver>(&self, dev: &OpenDevice<'_, D>, target: u32) -> Result<Option<DataFd>> {
        let target = MigState::from_uapi(target).ok_or(EINVAL)?;
        self.transition(dev, target, FrontEnd::V2)
    }

    /// Moves the device to `target` along upstream's path, one arc at a time. On failure the
    /// device stays in the state of the last arc that completed, as upstream allows.
    fn transition<D: Driver>(
        &self,
        dev: &OpenDevice<'_, D>,
        target: MigState,
        front: FrontEnd,
    ) -> Result<Option<DataFd>> {
        let mut core = self.lock();
        state::next_step(core.state, target, FEATURES).map_err(|_| EINVAL)?;
        // The mmap rule is checked once, before the first arc, so that a refusal changes
        // nothing; from then on no conflicting mapping can be made.
        if target.is_saving() && !core.state.is_saving() {
            self.mappings.start_saving()?;
        }
        let mut fd = Ok(None);
        while core.state != target {
            let next = state::next_step(core.state, target, FEATURES).map_err(|_| EINVAL)?;
            fd = self.take_arc(dev, &mut core, next, front);
            if fd.is_err() {
                break;
            }
            self.arcs.record(core.state, next);
            core.state = next;
        }
        self.mappings.set_saving(core.state.is_saving());
        fd
    }

    /// Performs the one arc from `core.state` to `next`.
    fn take_arc<D: Driver>(
        &self,
        dev: &OpenDevice<'_, D>,
        core: &mut MigCore<P>,
        next: MigState,
        front: FrontEnd,
    ) -> Result<Option<DataFd>> {
        let effects = Effects::of_arc(core.state, next);
        if effects.load {
            self.load(dev, core)?;
        }
        if effects.quiesce {
            core.held = Some(dev.with_registers(P::REGS_BAR, |regs| P::quiesce(regs))?);
        }
        let mut fd = None;
        if effects.open_save {
            let session = Session::new_save()?;
            if front == FrontEnd::V2 {
                fd = Some(DataFd::open(
                    session.clone(),
                    Direction::Save,
                    dev.precopy_info_v2(),
                )?);
            }
            core.save = Some(session);
        }
        if effects.save_precopy || effects.save_final {
            let kind = if effects.save_final {
                RecordKind::Final
            } else {
                RecordKind::PreCopy
            };
            let identity = self.identity(dev);
            let held = core.held;
            let state = dev.with_registers(P::REGS_BAR, |regs| P::save(regs, held.as_ref()))?;
            let state = state.map_err(|_| EIO)?;
            let config = saved_config(dev, self.pcie);
            if let Some(session) = &core.save {
                session.append(kind, &identity, &state, &config)?;
            }
        }
        if effects.close_save {
            if let Some(session) = core.save.take() {
                session.end();
            }
        }
        if effects.open_resume {
            dev.with_registers(P::REGS_BAR, |regs| P::start_link(regs))?
                .map_err(|_| EIO)?;
            let session = Session::new_resume(self.identity(dev))?;
            if front == FrontEnd::V2 {
                fd = Some(DataFd::open(session.clone(), Direction::Resume, false)?);
            }
            core.resume = Some(session);
        }
        if effects.unquiesce {
            if let Some(held) = core.held {
                dev.with_registers(P::REGS_BAR, |regs| P::unquiesce(regs, &held))?;
            }
            core.held = None;
        }
        Ok(fd)
    }

    /// Checks the resuming session's stream and loads its final state into the device. A
    /// refused stream changes nothing; a device that fails to take the state keeps the
    /// session, so the user may retry or reset.
    fn load<D: Driver>(&self, dev: &OpenDevice<'_, D>, core: &mut MigCore<P>) -> Result {
        let session = core.resume.as_ref().ok_or(EINVAL)?;
        let saved = session.take_loadable().map_err(|err| {
            dev_warn_ratelimited!(
                self.stream_refused,
                dev.device(),
                "{STREAM_REFUSED}: {:?}\n",
                err
            );
            stream_errno(err)
        })?;
        let (state, config) = &*saved;
        let loaded = restore_config(dev, self.pcie, config)
            .and_then(|()| dev.with_registers(P::REGS_BAR, |regs| P::load(state, regs)));
        let held = match loaded {
            Ok(Ok(held)) => held,
            Ok(Err(err)) => {
                dev_warn_ratelimited!(self.load_failed, dev.device(), "{LOAD_FAILED}: {:?}\n", err);
                session.put_loadable(saved);
                return Err(EIO);
            }
            Err(err) => {
                session.put_loadable(saved);
                return Err(err);
            }
        };
        core.held = Some(held);
        if let Some(session) = core.resume.take() {
            session.end();
        }
        Ok(())
    }

    /// Serves an access to the v1 migration region (layout and well-formed accesses in
    /// [`v1_region`]; the rules in `Documentation/migration.rst`).
    fn region_access<D: Driver>(
        &self,
        dev: &OpenDevice<'_, D>,
        offset: u64,
        io: RegionIo<'_>,
    ) -> Result {
        let (len, direction) = match &io {
            RegionIo::Read(out) => (out.len(), v1_region::Direction::Read),
            RegionIo::Write(input) => (input.len(), v1_region::Direction::Write),
        };
        let field = v1_region::classify(offset, len, direction).ok_or(EINVAL)?;
        match io {
            RegionIo::Read(out) => self.region_read(field, out),
            RegionIo::Write(input) => self.region_write(dev, field, input),
        }
    }

    fn region_read(&self, field: Field, out: &mut [u8]) -> Result {
        let value = match field {
            Field::DeviceState => u64::from(state::to_v1(self.state())),
            Field::PendingBytes => self.session(Direction::Save)?.v1_pending()?,
            Field::DataOffset => {
                self.open_session()?.v1_data_offset()?;
                DATA_OFFSET
            }
            Field::DataSize => self.session(Direction::Save)?.v1_staged()?,
            Field::Data { at } => return self.session(Direction::Save)?.v1_window_read(at, out),
        };
        // The header's fields are `device_state`, 4 bytes, and the others, 8, in host order.
        if out.len() == 4 {
            put(out, 0, &(value as u32).to_ne_bytes());
        } else {
            put(out, 0, &value.to_ne_bytes());
        }
        Ok(())
    }

    fn region_write<D: Driver>(
        &self,
        dev: &OpenDevice<'_, D>,
        field: Field,
        input: &[u8],
    ) -> Result {
        match field {
            Field::DeviceState => {
                let bits = u32::from_ne_bytes(input.try_into().map_err(|_| EINVAL)?);
                let target = state::from_v1(bits).ok_or(EINVAL)?;
                self.transition(dev, target, FrontEnd::V1).map(drop)
            }
            Field::DataSize => {
                let size = u64::from_ne_bytes(input.try_into().map_err(|_| EINVAL)?);
                self.session(Direction::Resume)?.v1_commit(size)
            }
            Field::Data { at } => self.session(Direction::Resume)?.v1_window_write(at, input),
            // `classify` gives no read-only field for a write.
            Field::PendingBytes | Field::DataOffset => Err(EINVAL),
        }
    }

    /// The open session, saving or resuming (never both: a saving state and `RESUMING` are
    /// always a `STOP` apart); `EINVAL` in a state without one.
    fn open_session(&self) -> Result<Arc<Session<P>>> {
        let core = self.lock();
        core.save
            .clone()
            .or_else(|| core.resume.clone())
            .ok_or(EINVAL)
    }

    /// The open saving or resuming session; `EINVAL` in a state without one.
    fn session(&self, direction: Direction) -> Result<Arc<Session<P>>> {
        let core = self.lock();
        let session = match direction {
            Direction::Save => &core.save,
            Direction::Resume => &core.resume,
        };
        session.clone().ok_or(EINVAL)
    }

    /// The identity streams of this device carry: its model and its current layout.
    fn identity<D: Driver>(&self, dev: &OpenDevice<'_, D>) -> Identity {
        Identity {
            layout: D::layout_fingerprint(dev),
            ..self.model
        }
    }
}

/// The handle a device keeps: its pinned state machine, behind the personality-free trait.
impl<P: Personality, D: Driver> DeviceMigration<D> for Pin<KBox<Migration<P>>> {
    fn state(&self) -> MigState {
        Migration::state(self)
    }

    fn set_state(&self, dev: &OpenDevice<'_, D>, target: u32) -> Result<Option<DataFd>> {
        Migration::set_state(self, dev, target)
    }

    fn data_size(&self) -> usize {
        Migration::data_size(self)
    }

    fn reset_done(&self) {
        Migration::reset_done(self)
    }

    fn close(&self) {
        Migration::close(self)
    }

    fn mappings(&self) -> &MappingTracker {
        Migration::mappings(self)
    }

    fn bar_written(&self, dev: &OpenDevice<'_, D>, bar: usize, offset: u64, len: usize) {
        Migration::bar_written(self, dev, bar, offset, len)
    }

    fn log_start(&self, dev: &OpenDevice<'_, D>, page_size: &mut u64) -> Result {
        self.dma_log.start(dev, &self.mappings, page_size)
    }

    fn log_stop(&self) {
        self.dma_log.stop(&self.mappings)
    }

    fn log_read_and_clear(
        &self,
        dev: &OpenDevice<'_, D>,
        iova: u64,
        length: u64,
        dirty: &mut DirtyBitmap<'_>,
    ) -> Result {
        self.dma_log
            .read_and_clear(dev, &self.mappings, iova, length, dirty)
    }

    fn region_access(&self, dev: &OpenDevice<'_, D>, offset: u64, io: RegionIo<'_>) -> Result {
        Migration::region_access(self, dev, offset, io)
    }
}

/// The errno each refusal of a stream gives (`Documentation/migration.rst`).
fn stream_errno(err: StreamError) -> Error {
    match err {
        StreamError::Malformed => EINVAL,
        StreamError::Corrupted => EBADMSG,
        StreamError::UnknownVersion => EPROTONOSUPPORT,
        StreamError::OtherDevice => ENODEV,
        StreamError::OtherLayout => EXDEV,
        StreamError::TooLarge => EFBIG,
        StreamError::Truncated => ENODATA,
        StreamError::NoMemory => ENOMEM,
    }
}

/// A `KVec` as the stream codec's buffer.
struct StreamBuf(KVec<u8>);

impl Buffer for StreamBuf {
    fn bytes(&self) -> &[u8] {
        &self.0
    }

    fn append(&mut self, data: &[u8]) -> Result<(), StreamError> {
        self.0
            .extend_from_slice(data, GFP_KERNEL)
            .map_err(|_| StreamError::NoMemory)
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// A saving or resuming session: what a data fd reads or writes.
///
/// Its lock is the innermost: taken under the state lock and under the core's
/// `memory_lock` (a reset ends sessions), it takes nothing else and no user memory is
/// touched under it ([`DataSession`] works on kernel buffers).
#[pin_data]
pub(crate) struct Session<P: Personality> {
    #[pin]
    inner: Mutex<SessionInner<P>>,
}

struct SessionInner<P: Personality> {
    direction: SessionStream<P>,
    /// Set when the state left the session's states: every access then fails with `ENODEV`.
    ended: bool,
}

enum SessionStream<P: Personality> {
    Save(Saving),
    Resume(Resuming<P>),
}

/// The stream of a saving session, as far as the device has written it.
struct Saving {
    stream: StreamBuf,
    /// How much of `stream` the user has read.
    read: usize,
    /// Whether the final record is in: reads then end with end of stream, not `ENOMSG`.
    complete: bool,
    /// The bytes from `read` on that the v1 region's data section shows, until the user's
    /// next read of `pending_bytes` takes them as read (`read + staged` never passes the end).
    staged: usize,
}

/// What a resuming session took of its stream.
struct Resuming<P: Personality> {
    decoder: Decoder<StreamBuf>,
    /// The state of the final record, once it is in and checked.
    loadable: Option<KBox<(P::State, ConfigState)>>,
    /// A refusal of a record's content, which the decoder does not see.
    refused: Option<StreamError>,
    /// The v1 region's data section, which the user fills before writing `data_size`;
    /// allocated on first use.
    window: KVec<u8>,
}

impl Saving {
    /// The bytes the user has not read.
    fn unread(&self) -> usize {
        self.stream.bytes().len() - self.read
    }
}

impl<P: Personality> Resuming<P> {
    /// Takes the next bytes of the stream: records are checked as they complete, and the
    /// final one kept to load. A refusal sticks.
    fn take(&mut self, mut input: &[u8]) -> Result {
        if let Some(err) = self.refused {
            return Err(stream_errno(err));
        }
        while !input.is_empty() {
            let (took, complete) = self.decoder.push(input).map_err(stream_errno)?;
            input = &input[took..];
            if !complete {
                continue;
            }
            let record = self.decoder.record().map_err(stream_errno)?;
            let decoded = P::decode(&record)
                .and_then(|state| Ok((state, ConfigState::from_record(&record)?)));
            match decoded {
                Ok(state) if record.kind == RecordKind::Final => {
                    self.loadable = Some(KBox::new(state, GFP_KERNEL)?);
                }
                Ok(_) => {}
                Err(err) => {
                    self.refused = Some(err);
                    return Err(stream_errno(err));
                }
            }
        }
        Ok(())
    }

    /// The v1 data section, zero-filled when first used.
    fn window(&mut self) -> Result<&mut [u8]> {
        if self.window.is_empty() {
            self.window = KVec::from_elem(0u8, DATA_SIZE, GFP_KERNEL)?;
        }
        Ok(&mut self.window)
    }
}

impl<P: Personality> Session<P> {
    fn new(direction: SessionStream<P>) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(SessionInner {
                    direction,
                    ended: false,
                }),
            }),
            GFP_KERNEL,
        )
    }

    fn new_save() -> Result<Arc<Self>> {
        Self::new(SessionStream::Save(Saving {
            stream: StreamBuf(KVec::with_capacity(2 * P::FINAL_RECORD_SIZE, GFP_KERNEL)?),
            read: 0,
            complete: false,
            staged: 0,
        }))
    }

    fn new_resume(expected: Identity) -> Result<Arc<Self>> {
        let buf = StreamBuf(KVec::with_capacity(P::FINAL_RECORD_SIZE, GFP_KERNEL)?);
        Self::new(SessionStream::Resume(Resuming {
            decoder: Decoder::new(buf, expected),
            loadable: None,
            refused: None,
            window: KVec::new(),
        }))
    }

    /// Runs `f` on a saving session: `ENODEV` once it ended, `EINVAL` if it resumes.
    fn saving<R>(&self, f: impl FnOnce(&mut Saving) -> Result<R>) -> Result<R> {
        let mut inner = self.inner.lock();
        if inner.ended {
            return Err(ENODEV);
        }
        match &mut inner.direction {
            SessionStream::Save(saving) => f(saving),
            SessionStream::Resume(_) => Err(EINVAL),
        }
    }

    /// Runs `f` on a resuming session: `ENODEV` once it ended, `EINVAL` if it saves.
    fn resuming<R>(&self, f: impl FnOnce(&mut Resuming<P>) -> Result<R>) -> Result<R> {
        let mut inner = self.inner.lock();
        if inner.ended {
            return Err(ENODEV);
        }
        match &mut inner.direction {
            SessionStream::Resume(resuming) => f(resuming),
            SessionStream::Save(_) => Err(EINVAL),
        }
    }

    /// Appends a record of `state` to a saving session.
    fn append(
        &self,
        kind: RecordKind,
        identity: &Identity,
        state: &P::State,
        config: &ConfigState,
    ) -> Result {
        self.saving(|saving| {
            P::with_sections(state, &config.encode(), |sections| {
                stream::encode(&mut saving.stream, kind, identity, sections)
            })
            .map_err(stream_errno)?;
            saving.complete = kind == RecordKind::Final;
            Ok(())
        })
    }

    /// Takes the checked final state out of a resuming session, or says why there is none.
    fn take_loadable(&self) -> Result<KBox<(P::State, ConfigState)>, StreamError> {
        let mut inner = self.inner.lock();
        let SessionStream::Resume(resuming) = &mut inner.direction else {
            return Err(StreamError::Malformed);
        };
        if let Some(err) = resuming.refused {
            return Err(err);
        }
        resuming.decoder.finish()?;
        resuming.loadable.take().ok_or(StreamError::Truncated)
    }

    /// Gives back a state [`Session::take_loadable`] took, which the device did not take.
    fn put_loadable(&self, saved: KBox<(P::State, ConfigState)>) {
        if let SessionStream::Resume(resuming) = &mut self.inner.lock().direction {
            resuming.loadable = Some(saved);
        }
    }

    /// Ends the session: its fd and the v1 region fail with `ENODEV` from now on.
    fn end(&self) {
        self.inner.lock().ended = true;
    }
}

/// The v1 region's view of a session (`Documentation/migration.rst`, "The v1 region").
impl<P: Personality> Session<P> {
    /// `pending_bytes`: takes the staged chunk as read, then counts what is left.
    fn v1_pending(&self) -> Result<u64> {
        self.saving(|saving| {
            saving.read += saving.staged;
            saving.staged = 0;
            Ok(saving.unread() as u64)
        })
    }

    /// `data_offset`: while saving, stages the next chunk in the data section, unless one
    /// is; while resuming, nothing (the user writes the section).
    fn v1_data_offset(&self) -> Result {
        let mut inner = self.inner.lock();
        if inner.ended {
            return Err(ENODEV);
        }
        if let SessionStream::Save(saving) = &mut inner.direction {
            if saving.staged == 0 {
                saving.staged = saving.unread().min(DATA_SIZE);
            }
        }
        Ok(())
    }

    /// `data_size` while saving: the size of the staged chunk.
    fn v1_staged(&self) -> Result<u64> {
        self.saving(|saving| Ok(saving.staged as u64))
    }

    /// Reads the data section while saving: bytes of the staged chunk only.
    fn v1_window_read(&self, at: usize, out: &mut [u8]) -> Result {
        self.saving(|saving| {
            let end = at.checked_add(out.len()).ok_or(EINVAL)?;
            if end > saving.staged {
                return Err(EINVAL);
            }
            put(
                out,
                0,
                &saving.stream.bytes()[saving.read + at..saving.read + end],
            );
            Ok(())
        })
    }

    /// Writes the data section while resuming.
    fn v1_window_write(&self, at: usize, input: &[u8]) -> Result {
        self.resuming(|resuming| {
            put(resuming.window()?, at, input);
            Ok(())
        })
    }

    /// `data_size` written while resuming: the first `size` bytes of the data section (zero
    /// where never written) are the next part of the stream.
    fn v1_commit(&self, size: u64) -> Result {
        let size = usize::try_from(size)
            .ok()
            .filter(|&size| size <= DATA_SIZE)
            .ok_or(EINVAL)?;
        self.resuming(|resuming| {
            resuming.window()?;
            // Out of the session while the session takes from it, then back.
            let window = core::mem::take(&mut resuming.window);
            let taken = resuming.take(&window[..size]);
            resuming.window = window;
            taken
        })
    }
}

impl<P: Personality> DataSession for Session<P> {
    fn read(&self, out: &mut [u8]) -> Result<usize> {
        self.saving(|saving| {
            let available = &saving.stream.bytes()[saving.read..];
            if available.is_empty() {
                // Pre-copy has a temporary end of stream; STOP_COPY a permanent one.
                return if saving.complete { Ok(0) } else { Err(ENOMSG) };
            }
            let len = available.len().min(out.len());
            put(out, 0, &available[..len]);
            saving.read += len;
            // The stream moved on under the v1 window, which must stage again.
            saving.staged = 0;
            Ok(len)
        })
    }

    fn write(&self, input: &[u8]) -> Result {
        self.resuming(|resuming| resuming.take(input))
    }

    fn precopy_info(&self) -> Result<(u64, u64)> {
        // Only in the pre-copy states; an ended session is in none.
        self.saving(|saving| match saving.complete {
            false => Ok((saving.unread() as u64, 0)),
            true => Err(EINVAL),
        })
        .map_err(|_| EINVAL)
    }
}

/// The device registers, through which the personality saves and loads its state.
impl personality::Registers for Registers<'_> {
    fn read32(&mut self, offset: u32) -> u32 {
        Registers::read32(self, offset)
    }

    fn write32(&mut self, offset: u32, value: u32) {
        Registers::write32(self, offset, value)
    }

    fn pause(&mut self) {
        Registers::pause(self)
    }
}

/// Offsets of the PCI Express control registers in their capability.
const PCI_EXP_DEVCTL: u16 = 0x08;
const PCI_EXP_LNKCTL: u16 = 0x10;
const PCI_EXP_DEVCTL2: u16 = 0x28;

/// The config-space state of the device as the user programmed it.
fn saved_config<D: Driver>(dev: &OpenDevice<'_, D>, pcie: Option<u16>) -> ConfigState {
    let config = dev.physical_config();
    let mut state = ConfigState {
        command: config.read_word(COMMAND) & ConfigState::COMMAND_BITS,
        ..Default::default()
    };
    if let Some(at) = pcie {
        state.devctl = config.read_word(at + PCI_EXP_DEVCTL) & ConfigState::DEVCTL_BITS;
        state.lnkctl = config.read_word(at + PCI_EXP_LNKCTL) & ConfigState::LNKCTL_BITS;
        state.devctl2 = config.read_word(at + PCI_EXP_DEVCTL2);
    }
    state
}

/// Loads a saved config-space state: the command register's enables are turned on where the
/// saved device had them (never off: the user's mappings of a BAR whose decoding went off
/// would need revoking), the PCI Express control registers are written as saved.
fn restore_config<D: Driver>(
    dev: &OpenDevice<'_, D>,
    pcie: Option<u16>,
    state: &ConfigState,
) -> Result {
    dev.enable_command(state.command);
    let config = dev.physical_config();
    if let Some(at) = pcie {
        config.write_word(at + PCI_EXP_DEVCTL, state.devctl)?;
        config.write_word(at + PCI_EXP_LNKCTL, state.lnkctl)?;
        config.write_word(at + PCI_EXP_DEVCTL2, state.devctl2)?;
    }
    Ok(())
}

/// Offset of the command register.
const COMMAND: u16 = 0x04;

/// A KUnit cross-check of the pure state machine against the running kernel's own: the path
/// [`state::next_step`] takes must be the one `vfio_mig_get_next_state` gives, for every pair
/// of states and every set of migration features. The pure tests check `next_step` against
/// upstream's table as written; this checks it against the table the kernel was built with.
#[cfg(CONFIG_KUNIT)]
#[kernel::prelude::kunit_tests(rvfio_pci_mig_upstream)]
mod upstream_tests {
    use kernel::prelude::*;

    use super::state::{next_step, Features, MigState};
    use crate::vfio::{kernel_next_state, MigrationFlags};

    #[test]
    fn next_step_is_the_kernels_next_state() {
        let sets = [
            (Features::STOP_COPY, MigrationFlags::STOP_COPY),
            (
                Features::STOP_COPY.with(Features::P2P),
                MigrationFlags::STOP_COPY.with(MigrationFlags::P2P),
            ),
            (
                Features::STOP_COPY.with(Features::PRE_COPY),
                MigrationFlags::STOP_COPY.with(MigrationFlags::PRE_COPY),
            ),
            (
                Features::STOP_COPY
                    .with(Features::P2P)
                    .with(Features::PRE_COPY),
                MigrationFlags::STOP_COPY
                    .with(MigrationFlags::P2P)
                    .with(MigrationFlags::PRE_COPY),
            ),
        ];
        let mut checked = 0;
        for (features, flags) in sets {
            assert_eq!(features.bits(), flags.bits());
            // The kernel warns about a current state the device lacks, as it never should
            // be in one; those are not asked.
            for current in MigState::ALL.into_iter().filter(|s| features.has(*s)) {
                for target in MigState::ALL {
                    let kernel = kernel_next_state(flags, current as u32, target as u32);
                    match next_step(current, target, features) {
                        Ok(step) => assert_eq!(kernel, Ok(step as u32)),
                        Err(_) => assert_eq!(kernel, Err(EINVAL)),
                    }
                    checked += 1;
                }
            }
        }
        // 4 states without optional features, 5 with P2P, 5 with pre-copy, 7 with both,
        // each toward every one of the 8 states (ERROR included).
        assert_eq!(checked, (4 + 5 + 5 + 7) * 8);
    }
}
