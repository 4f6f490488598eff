// SPDX-License-Identifier: GPL-2.0

//! Live migration of a device with a personality: the one state machine behind both
//! front-ends (the v2 device features and the v1 migration region), its lock, and the saving
//! and resuming sessions behind the data fds.
//!
//! The decisions are pure code: [`mig_state`] says which arcs to take and what each does,
//! [`mig_stream`] frames and checks the stream, the personality ([`igb`]) says which
//! registers hold the state. This file sequences them under the lock.

use kernel::{
    new_mutex, new_spinlock,
    prelude::*,
    sync::{Arc, Mutex, SpinLock},
};

use crate::bytes::put;
use crate::igb;
use crate::mig_region::{self, Field, DATA_OFFSET, DATA_SIZE};
use crate::mig_state::{self, Effects, Features, MigState};
use crate::mig_stream::{self, Buffer, Decoder, Identity, RecordKind, StreamError};
use crate::vfio::{DataFd, DataSession, Direction, OpenDevice, RegionIo, Registers};
use crate::RvfioPci;

/// The features every personality offers: P2P and pre-copy besides the mandatory states.
pub(crate) const FEATURES: Features = Features::STOP_COPY
    .with(Features::P2P)
    .with(Features::PRE_COPY);

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
pub(crate) struct Migration {
    /// The device's identity in a stream, but for the layout fingerprint, which is computed
    /// from the user's view of config space whenever a session opens.
    model: Identity,
    /// Offset of the PCI Express capability, found when the device was bound.
    pcie: Option<u16>,
    #[pin]
    core: Mutex<MigCore>,
    #[pin]
    reset_pending: SpinLock<bool>,
}

/// The state under the lock.
struct MigCore {
    state: MigState,
    /// What quiescing took from the device, to give back when it runs again.
    held: Option<igb::Held>,
    save: Option<Arc<Session>>,
    resume: Option<Arc<Session>>,
}

impl MigCore {
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
struct Locked<'a> {
    mig: &'a Migration,
    core: Option<kernel::sync::MutexGuard<'a, MigCore>>,
}

impl core::ops::Deref for Locked<'_> {
    type Target = MigCore;
    fn deref(&self) -> &MigCore {
        self.core.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl core::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut MigCore {
        self.core.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Locked<'_> {
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
            self.reset();
        }
    }
}

impl Migration {
    /// The migration side of a device whose personality is `igb`, identified by `model`, with
    /// its PCI Express capability at `pcie`.
    pub(crate) fn new(model: Identity, pcie: Option<u16>) -> impl PinInit<Self> {
        pin_init!(Self {
            model,
            pcie,
            core <- new_mutex!(MigCore {
                state: MigState::Running,
                held: None,
                save: None,
                resume: None,
            }),
            reset_pending <- new_spinlock!(false),
        })
    }

    fn lock(&self) -> Locked<'_> {
        Locked {
            mig: self,
            core: Some(self.core.lock()),
        }
    }

    /// The current state, as `enum vfio_device_mig_state` numbers it.
    pub(crate) fn state(&self) -> MigState {
        self.lock().state
    }

    /// Notes that the device was reset: back to `RUNNING`, sessions ended. Never waits for
    /// the lock.
    pub(crate) fn reset_done(&self) {
        *self.reset_pending.lock() = true;
        if let Some(core) = self.core.try_lock() {
            drop(Locked {
                mig: self,
                core: Some(core),
            });
        }
    }

    /// Ends every session as the device closes; the next user finds it `RUNNING`.
    pub(crate) fn close(&self) {
        self.lock().reset();
    }

    /// The size of the stream `STOP_COPY` would produce (`VFIO_DEVICE_FEATURE_MIG_DATA_SIZE`).
    pub(crate) fn data_size(&self) -> usize {
        igb::FINAL_RECORD_SIZE
    }

    /// Moves the device to `target` (`enum vfio_device_mig_state`) for the v2 front-end.
    /// Returns the data fd the last arc opened, if it opened one.
    pub(crate) fn set_state(
        &self,
        dev: &OpenDevice<'_, RvfioPci>,
        target: u32,
    ) -> Result<Option<DataFd>> {
        let target = MigState::from_uapi(target).ok_or(EINVAL)?;
        self.transition(dev, target, FrontEnd::V2)
    }

    /// Moves the device to `target` along upstream's path, one arc at a time. On failure the
    /// device stays in the state of the last arc that completed, as upstream allows.
    fn transition(
        &self,
        dev: &OpenDevice<'_, RvfioPci>,
        target: MigState,
        front: FrontEnd,
    ) -> Result<Option<DataFd>> {
        let mut core = self.lock();
        let mut fd = None;
        while core.state != target {
            let next = mig_state::next_step(core.state, target, FEATURES).map_err(|_| EINVAL)?;
            fd = self.take_arc(dev, &mut core, next, front)?;
            core.state = next;
        }
        Ok(fd)
    }

    /// Performs the one arc from `core.state` to `next`.
    fn take_arc(
        &self,
        dev: &OpenDevice<'_, RvfioPci>,
        core: &mut MigCore,
        next: MigState,
        front: FrontEnd,
    ) -> Result<Option<DataFd>> {
        let effects = Effects::of_arc(core.state, next);
        if effects.load {
            self.load(dev, core)?;
        }
        if effects.quiesce {
            core.held = Some(dev.with_registers(0, |regs| igb::quiesce(regs))?);
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
            let state = dev.with_registers(0, |regs| igb::State::save(regs, held.as_ref()))?;
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
            dev.with_registers(0, |regs| igb::State::start_link(regs))?
                .map_err(|_| EIO)?;
            let session = Session::new_resume(self.identity(dev))?;
            if front == FrontEnd::V2 {
                fd = Some(DataFd::open(session.clone(), Direction::Resume, false)?);
            }
            core.resume = Some(session);
        }
        if effects.unquiesce {
            if let Some(held) = core.held {
                dev.with_registers(0, |regs| igb::unquiesce(regs, &held))?;
            }
            core.held = None;
        }
        Ok(fd)
    }

    /// Checks the resuming session's stream and loads its final state into the device. A
    /// refused stream changes nothing; a device that fails to take the state keeps the
    /// session, so the user may retry or reset.
    fn load(&self, dev: &OpenDevice<'_, RvfioPci>, core: &mut MigCore) -> Result {
        let session = core.resume.as_ref().ok_or(EINVAL)?;
        let saved = session.take_loadable().map_err(|err| {
            dev_warn!(dev.device(), "migration stream refused: {:?}\n", err);
            stream_errno(err)
        })?;
        let (state, config) = &*saved;
        let loaded = restore_config(dev, self.pcie, config)
            .and_then(|()| dev.with_registers(0, |regs| state.load(regs)));
        let held = match loaded {
            Ok(Ok(held)) => held,
            Ok(Err(err)) => {
                dev_warn!(
                    dev.device(),
                    "loading the migrated state failed: {:?}\n",
                    err
                );
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
    /// [`mig_region`]; the rules in `Documentation/migration.rst`).
    pub(crate) fn region_access(
        &self,
        dev: &OpenDevice<'_, RvfioPci>,
        offset: u64,
        io: RegionIo<'_>,
    ) -> Result {
        let (len, direction) = match &io {
            RegionIo::Read(out) => (out.len(), mig_region::Direction::Read),
            RegionIo::Write(input) => (input.len(), mig_region::Direction::Write),
        };
        let field = mig_region::classify(offset, len, direction).ok_or(EINVAL)?;
        match (field, io) {
            (Field::DeviceState, RegionIo::Read(out)) => {
                put(out, 0, &mig_state::to_v1(self.state()).to_ne_bytes());
                Ok(())
            }
            (Field::DeviceState, RegionIo::Write(input)) => {
                let bits = u32::from_ne_bytes(input.try_into().map_err(|_| EINVAL)?);
                let target = mig_state::from_v1(bits).ok_or(EINVAL)?;
                self.transition(dev, target, FrontEnd::V1).map(drop)
            }
            (Field::PendingBytes, RegionIo::Read(out)) => {
                put(
                    out,
                    0,
                    &self.session(Direction::Save)?.v1_pending()?.to_ne_bytes(),
                );
                Ok(())
            }
            (Field::DataOffset, RegionIo::Read(out)) => {
                if let Ok(session) = self.session(Direction::Save) {
                    session.v1_stage()?;
                } else {
                    self.session(Direction::Resume)?;
                }
                put(out, 0, &DATA_OFFSET.to_ne_bytes());
                Ok(())
            }
            (Field::DataSize, RegionIo::Read(out)) => {
                put(
                    out,
                    0,
                    &self.session(Direction::Save)?.v1_staged()?.to_ne_bytes(),
                );
                Ok(())
            }
            (Field::DataSize, RegionIo::Write(input)) => {
                let size = u64::from_ne_bytes(input.try_into().map_err(|_| EINVAL)?);
                self.session(Direction::Resume)?.v1_commit(size)
            }
            (Field::Data { at }, RegionIo::Read(out)) => {
                self.session(Direction::Save)?.v1_window_read(at, out)
            }
            (Field::Data { at }, RegionIo::Write(input)) => {
                self.session(Direction::Resume)?.v1_window_write(at, input)
            }
            // `classify` gives no read-only field for a write.
            _ => Err(EINVAL),
        }
    }

    /// The open saving or resuming session; `EINVAL` in a state without one.
    fn session(&self, direction: Direction) -> Result<Arc<Session>> {
        let core = self.lock();
        let session = match direction {
            Direction::Save => &core.save,
            Direction::Resume => &core.resume,
        };
        session.clone().ok_or(EINVAL)
    }

    /// The identity streams of this device carry: its model and its current layout.
    fn identity(&self, dev: &OpenDevice<'_, RvfioPci>) -> Identity {
        Identity {
            layout: crate::user_layout_fingerprint(dev),
            ..self.model
        }
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
pub(crate) struct Session {
    #[pin]
    inner: Mutex<SessionInner>,
}

enum SessionInner {
    Save {
        stream: StreamBuf,
        /// How much of `stream` the user has read.
        read: usize,
        /// Whether the final record is in: reads then end with end of stream, not `ENOMSG`.
        complete: bool,
        /// The bytes from `read` on that the v1 region's data section shows, until the
        /// user's next read of `pending_bytes` takes them as read.
        staged: usize,
        ended: bool,
    },
    Resume {
        decoder: Decoder<StreamBuf>,
        /// The state of the final record, once it is in and checked.
        loadable: Option<KBox<(igb::State, igb::ConfigState)>>,
        /// A refusal of a record's content, which the decoder does not see.
        refused: Option<StreamError>,
        /// The v1 region's data section, which the user fills before writing `data_size`;
        /// allocated on first use.
        window: KVec<u8>,
        ended: bool,
    },
}

impl Session {
    fn new_save() -> Result<Arc<Self>> {
        let stream = StreamBuf(KVec::with_capacity(2 * igb::FINAL_RECORD_SIZE, GFP_KERNEL)?);
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(SessionInner::Save {
                    stream,
                    read: 0,
                    complete: false,
                    staged: 0,
                    ended: false,
                }),
            }),
            GFP_KERNEL,
        )
    }

    fn new_resume(expected: Identity) -> Result<Arc<Self>> {
        let buf = StreamBuf(KVec::with_capacity(igb::FINAL_RECORD_SIZE, GFP_KERNEL)?);
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(SessionInner::Resume {
                    decoder: Decoder::new(buf, expected),
                    loadable: None,
                    refused: None,
                    window: KVec::new(),
                    ended: false,
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// Appends a record of `state` to a saving session.
    fn append(
        &self,
        kind: RecordKind,
        identity: &Identity,
        state: &igb::State,
        config: &igb::ConfigState,
    ) -> Result {
        let mut inner = self.inner.lock();
        let SessionInner::Save {
            stream, complete, ..
        } = &mut *inner
        else {
            return Err(EINVAL);
        };
        let config_bytes = config.encode();
        let sections = state.sections(&config_bytes);
        mig_stream::encode(stream, kind, identity, &sections).map_err(stream_errno)?;
        *complete = kind == RecordKind::Final;
        Ok(())
    }

    /// Takes the checked final state out of a resuming session, or says why there is none.
    fn take_loadable(&self) -> Result<KBox<(igb::State, igb::ConfigState)>, StreamError> {
        let mut inner = self.inner.lock();
        let SessionInner::Resume {
            decoder,
            loadable,
            refused,
            ..
        } = &mut *inner
        else {
            return Err(StreamError::Malformed);
        };
        if let Some(err) = refused {
            return Err(*err);
        }
        decoder.finish()?;
        loadable.take().ok_or(StreamError::Truncated)
    }

    /// Gives back a state [`Session::take_loadable`] took, which the device did not take.
    fn put_loadable(&self, saved: KBox<(igb::State, igb::ConfigState)>) {
        if let SessionInner::Resume { loadable, .. } = &mut *self.inner.lock() {
            *loadable = Some(saved);
        }
    }

    /// Ends the session: its fd and the v1 region fail with `ENODEV` from now on.
    fn end(&self) {
        match &mut *self.inner.lock() {
            SessionInner::Save { ended, .. } | SessionInner::Resume { ended, .. } => *ended = true,
        }
    }
}

/// The v1 region's view of a session (`Documentation/migration.rst`, "The v1 region").
impl Session {
    /// `pending_bytes`: takes the staged chunk as read, then counts what is left.
    fn v1_pending(&self) -> Result<u64> {
        match &mut *self.inner.lock() {
            SessionInner::Save { ended: true, .. } => Err(ENODEV),
            SessionInner::Save {
                stream,
                read,
                staged,
                ..
            } => {
                *read += *staged;
                *staged = 0;
                Ok((stream.bytes().len() - *read) as u64)
            }
            SessionInner::Resume { .. } => Err(EINVAL),
        }
    }

    /// `data_offset` while saving: stages the next chunk in the data section, unless one is.
    fn v1_stage(&self) -> Result {
        match &mut *self.inner.lock() {
            SessionInner::Save { ended: true, .. } => Err(ENODEV),
            SessionInner::Save {
                stream,
                read,
                staged,
                ..
            } => {
                if *staged == 0 {
                    *staged = (stream.bytes().len() - *read).min(DATA_SIZE);
                }
                Ok(())
            }
            SessionInner::Resume { .. } => Err(EINVAL),
        }
    }

    /// `data_size` while saving: the size of the staged chunk.
    fn v1_staged(&self) -> Result<u64> {
        match &*self.inner.lock() {
            SessionInner::Save { ended: true, .. } => Err(ENODEV),
            SessionInner::Save { staged, .. } => Ok(*staged as u64),
            SessionInner::Resume { .. } => Err(EINVAL),
        }
    }

    /// Reads the data section while saving: bytes of the staged chunk only.
    fn v1_window_read(&self, at: usize, out: &mut [u8]) -> Result {
        match &*self.inner.lock() {
            SessionInner::Save { ended: true, .. } => Err(ENODEV),
            SessionInner::Save {
                stream,
                read,
                staged,
                ..
            } => {
                let end = at.checked_add(out.len()).ok_or(EINVAL)?;
                if end > *staged {
                    return Err(EINVAL);
                }
                put(out, 0, &stream.bytes()[*read + at..*read + end]);
                Ok(())
            }
            SessionInner::Resume { .. } => Err(EINVAL),
        }
    }

    /// Writes the data section while resuming.
    fn v1_window_write(&self, at: usize, input: &[u8]) -> Result {
        match &mut *self.inner.lock() {
            SessionInner::Resume { ended: true, .. } => Err(ENODEV),
            SessionInner::Resume { window, .. } => {
                if window.is_empty() {
                    *window = KVec::from_elem(0u8, DATA_SIZE, GFP_KERNEL)?;
                }
                put(window, at, input);
                Ok(())
            }
            SessionInner::Save { .. } => Err(EINVAL),
        }
    }

    /// `data_size` written while resuming: the first `size` bytes of the data section are
    /// the next part of the stream.
    fn v1_commit(&self, size: u64) -> Result {
        let size = usize::try_from(size)
            .ok()
            .filter(|&size| size <= DATA_SIZE)
            .ok_or(EINVAL)?;
        match &mut *self.inner.lock() {
            SessionInner::Resume { ended: true, .. } => Err(ENODEV),
            SessionInner::Resume {
                decoder,
                loadable,
                refused,
                window,
                ..
            } => {
                // A part never written reads as zeroes, as the data section does.
                if window.len() < size {
                    *window = KVec::from_elem(0u8, DATA_SIZE, GFP_KERNEL)?;
                }
                take_stream(decoder, loadable, refused, &window[..size])
            }
            SessionInner::Save { .. } => Err(EINVAL),
        }
    }
}

/// Takes the next bytes of a stream into a resuming session: records are checked as they
/// complete, and the final one kept to load. A refusal sticks.
fn take_stream(
    decoder: &mut Decoder<StreamBuf>,
    loadable: &mut Option<KBox<(igb::State, igb::ConfigState)>>,
    refused: &mut Option<StreamError>,
    mut input: &[u8],
) -> Result {
    if let Some(err) = refused {
        return Err(stream_errno(*err));
    }
    while !input.is_empty() {
        let (took, complete) = decoder.push(input).map_err(stream_errno)?;
        input = &input[took..];
        if !complete {
            continue;
        }
        let record = decoder.record().map_err(stream_errno)?;
        let decoded = igb::State::from_record(&record)
            .and_then(|state| Ok((state, igb::ConfigState::from_record(&record)?)));
        match decoded {
            Ok(state) if record.kind == RecordKind::Final => {
                *loadable = Some(KBox::new(state, GFP_KERNEL)?);
            }
            Ok(_) => {}
            Err(err) => {
                *refused = Some(err);
                return Err(stream_errno(err));
            }
        }
    }
    Ok(())
}

impl DataSession for Session {
    fn read(&self, out: &mut [u8]) -> Result<usize> {
        let mut inner = self.inner.lock();
        let SessionInner::Save {
            stream,
            read,
            complete,
            staged,
            ended,
        } = &mut *inner
        else {
            return Err(EINVAL);
        };
        if *ended {
            return Err(ENODEV);
        }
        let available = &stream.bytes()[*read..];
        if available.is_empty() {
            // Pre-copy has a temporary end of stream; STOP_COPY a permanent one.
            return if *complete { Ok(0) } else { Err(ENOMSG) };
        }
        let len = available.len().min(out.len());
        put(out, 0, &available[..len]);
        *read += len;
        // The stream moved on under the v1 window, which must stage again.
        *staged = 0;
        Ok(len)
    }

    fn write(&self, input: &[u8]) -> Result {
        match &mut *self.inner.lock() {
            SessionInner::Resume { ended: true, .. } => Err(ENODEV),
            SessionInner::Resume {
                decoder,
                loadable,
                refused,
                ..
            } => take_stream(decoder, loadable, refused, input),
            SessionInner::Save { .. } => Err(EINVAL),
        }
    }

    fn precopy_info(&self) -> Result<(u64, u64)> {
        match &*self.inner.lock() {
            SessionInner::Save {
                stream,
                read,
                complete: false,
                ended: false,
                ..
            } => Ok(((stream.bytes().len() - read) as u64, 0)),
            _ => Err(EINVAL),
        }
    }
}

/// The device registers, through which the personality saves and loads its state.
impl igb::Registers for Registers<'_> {
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
fn saved_config(dev: &OpenDevice<'_, RvfioPci>, pcie: Option<u16>) -> igb::ConfigState {
    let config = dev.physical_config();
    let mut state = igb::ConfigState {
        command: config.read_word(COMMAND) & igb::ConfigState::COMMAND_BITS,
        ..Default::default()
    };
    if let Some(at) = pcie {
        state.devctl = config.read_word(at + PCI_EXP_DEVCTL) & igb::ConfigState::DEVCTL_BITS;
        state.lnkctl = config.read_word(at + PCI_EXP_LNKCTL) & igb::ConfigState::LNKCTL_BITS;
        state.devctl2 = config.read_word(at + PCI_EXP_DEVCTL2);
    }
    state
}

/// Loads a saved config-space state: the command register's enables are turned on where the
/// saved device had them (never off: the user's mappings of a BAR whose decoding went off
/// would need revoking), the PCI Express control registers are written as saved.
fn restore_config(
    dev: &OpenDevice<'_, RvfioPci>,
    pcie: Option<u16>,
    state: &igb::ConfigState,
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
