// SPDX-License-Identifier: GPL-2.0

//! The migration state machine both front-ends drive: upstream's v2 states and arcs
//! (`enum vfio_device_mig_state` in `linux/vfio.h`), the rule that turns a requested state
//! into a path of single arcs, what the device does on each arc, and the mapping of the v1
//! migration region's `device_state` bits onto the same states.
//!
//! Pure code: the driver asks [`next_step`] for one arc at a time, performs its [`Effects`],
//! and records the new state, under one lock.

/// A device's migration state, numbered as `enum vfio_device_mig_state`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum MigState {
    /// A transition failed and the device could not be put back; only a reset leaves it.
    Error = 0,
    /// No DMA, no interrupts, internal state frozen; config space and MMIO still answer.
    Stop = 1,
    /// Fully operational.
    Running = 2,
    /// [`MigState::Stop`], with the data fd streaming the device state.
    StopCopy = 3,
    /// The data fd takes a stream to load into the device.
    Resuming = 4,
    /// Answers MMIO but starts no DMA and raises no interrupt (P2P quiescent).
    RunningP2p = 5,
    /// [`MigState::Running`], with the data fd streaming a first copy of the state.
    PreCopy = 6,
    /// [`MigState::RunningP2p`], with the data fd still open from [`MigState::PreCopy`].
    PreCopyP2p = 7,
}

impl MigState {
    /// Every state, in uAPI order.
    pub(crate) const ALL: [Self; 8] = [
        Self::Error,
        Self::Stop,
        Self::Running,
        Self::StopCopy,
        Self::Resuming,
        Self::RunningP2p,
        Self::PreCopy,
        Self::PreCopyP2p,
    ];

    /// The state's name in the uAPI, without its `VFIO_DEVICE_STATE_` prefix.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Stop => "STOP",
            Self::Running => "RUNNING",
            Self::StopCopy => "STOP_COPY",
            Self::Resuming => "RESUMING",
            Self::RunningP2p => "RUNNING_P2P",
            Self::PreCopy => "PRE_COPY",
            Self::PreCopyP2p => "PRE_COPY_P2P",
        }
    }

    /// The state numbered `value` in the uAPI, if any.
    pub(crate) fn from_uapi(value: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(value).ok()?).copied()
    }

    /// Whether the state belongs to the saving group, which shares one data session.
    pub(crate) fn is_saving(self) -> bool {
        matches!(self, Self::PreCopy | Self::PreCopyP2p | Self::StopCopy)
    }

    /// Whether the device may start DMA and raise interrupts in this state.
    pub(crate) fn runs(self) -> bool {
        matches!(self, Self::Running | Self::PreCopy)
    }

    /// The migration features a device needs to have this state (`state_flags_table`).
    fn needs(self) -> Features {
        match self {
            Self::Error => Features::ALL_BITS,
            Self::Stop | Self::Running | Self::StopCopy | Self::Resuming => Features::STOP_COPY,
            Self::RunningP2p => Features::STOP_COPY.with(Features::P2P),
            Self::PreCopy => Features::STOP_COPY.with(Features::PRE_COPY),
            Self::PreCopyP2p => Features::STOP_COPY
                .with(Features::P2P)
                .with(Features::PRE_COPY),
        }
    }

    /// Where a device in `self` goes first on its way to `target`, with every feature
    /// (`vfio_from_fsm_table`): the shortest path, with no saving-group state inside it.
    fn toward(self, target: Self) -> Self {
        use MigState::*;
        match (self, target) {
            (from, to) if from == to => to,
            (Error, _) | (_, Error) => Error,
            (Stop, StopCopy | Resuming) => target,
            (Stop, _) => RunningP2p,
            (Running, PreCopy | RunningP2p) => target,
            (Running, _) => RunningP2p,
            (PreCopy, PreCopyP2p) => target,
            (PreCopy, StopCopy) => PreCopyP2p,
            (PreCopy, _) => Running,
            (PreCopyP2p, PreCopy | StopCopy) => target,
            (PreCopyP2p, _) => RunningP2p,
            (StopCopy, PreCopy | PreCopyP2p) => Error,
            (StopCopy, _) => Stop,
            (Resuming, _) => Stop,
            (RunningP2p, Stop | Running | PreCopyP2p) => target,
            (RunningP2p, PreCopy) => Running,
            (RunningP2p, _) => Stop,
        }
    }
}

/// The migration features a device offers (`VFIO_MIGRATION_*` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Features(u32);

impl Features {
    /// `VFIO_MIGRATION_STOP_COPY`: the mandatory states.
    pub(crate) const STOP_COPY: Self = Self(1 << 0);
    /// `VFIO_MIGRATION_P2P`: the P2P quiescent states.
    pub(crate) const P2P: Self = Self(1 << 1);
    /// `VFIO_MIGRATION_PRE_COPY`: the pre-copy states.
    pub(crate) const PRE_COPY: Self = Self(1 << 2);
    /// Every bit: what [`MigState::Error`] needs, so that no device can be asked for it.
    const ALL_BITS: Self = Self(!0);

    /// These features and `other`.
    pub(crate) const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The `VFIO_MIGRATION_*` flags.
    // Only a `const _` check uses it, which rustc 1.85 does not count as a use.
    #[allow(dead_code)]
    pub(crate) const fn bits(self) -> u32 {
        self.0
    }

    fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether a device with these features has `state` (never [`MigState::Error`]).
    pub(crate) fn has(self, state: MigState) -> bool {
        self.contains(state.needs())
    }
}

/// Why a requested state cannot be reached; every refusal is `EINVAL` to the user.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Refusal {
    /// The requested state is not a state, is `ERROR`, or needs a feature the device lacks.
    Unsupported,
    /// No path leads there (`STOP_COPY` to a pre-copy state).
    Blocked,
}

/// The first arc on the way from `current` to `target` for a device with `features`, as
/// `vfio_mig_get_next_state` chooses it: arcs through states the device lacks are skipped.
pub(crate) fn next_step(
    current: MigState,
    target: MigState,
    features: Features,
) -> Result<MigState, Refusal> {
    if !features.has(target) {
        return Err(Refusal::Unsupported);
    }
    let mut next = current.toward(target);
    while next != MigState::Error && !features.has(next) {
        next = next.toward(target);
    }
    if next == MigState::Error {
        return Err(Refusal::Blocked);
    }
    Ok(next)
}

/// What the device does on one arc, in the order the fields are listed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Effects {
    /// Stop starting DMA and raising interrupts, keeping posted work for later.
    pub(crate) quiesce: bool,
    /// Open a saving session (the arc returns its data fd).
    pub(crate) open_save: bool,
    /// Append a first copy of the device state to the saving session.
    pub(crate) save_precopy: bool,
    /// Append the final device state; the session then ends after it.
    pub(crate) save_final: bool,
    /// End the saving session: its fd reads end of stream.
    pub(crate) close_save: bool,
    /// Open a resuming session (the arc returns its data fd).
    pub(crate) open_resume: bool,
    /// Check the resuming session's stream and load it into the device; failure keeps the
    /// device in `RESUMING`.
    pub(crate) load: bool,
    /// Start DMA and interrupts again, including work posted while quiesced.
    pub(crate) unquiesce: bool,
}

impl Effects {
    /// The effects of the single arc `from` -> `to` (a step [`next_step`] returned).
    pub(crate) fn of_arc(from: MigState, to: MigState) -> Self {
        let mut effects = Self {
            quiesce: from.runs() && !to.runs(),
            unquiesce: !from.runs() && to.runs(),
            ..Self::default()
        };
        match (from.is_saving(), to.is_saving()) {
            (false, true) => {
                effects.open_save = true;
                effects.save_precopy = to != MigState::StopCopy;
                effects.save_final = to == MigState::StopCopy;
            }
            (true, true) => effects.save_final = to == MigState::StopCopy,
            (true, false) => effects.close_save = true,
            (false, false) => {}
        }
        effects.open_resume = to == MigState::Resuming && from != MigState::Resuming;
        effects.load = from == MigState::Resuming && to != MigState::Resuming;
        effects
    }
}

/// `device_state` bits of the v1 migration region (`VFIO_DEVICE_STATE_V1_*`), and ours.
pub(crate) mod v1 {
    /// `VFIO_DEVICE_STATE_V1_RUNNING`.
    pub(crate) const RUNNING: u32 = 1 << 0;
    /// `VFIO_DEVICE_STATE_V1_SAVING`.
    pub(crate) const SAVING: u32 = 1 << 1;
    /// `VFIO_DEVICE_STATE_V1_RESUMING`.
    pub(crate) const RESUMING: u32 = 1 << 2;
    /// `RVFIO_DEVICE_STATE_V1_P2P`: qualifies `RUNNING` as P2P quiescent; ignored without it.
    pub(crate) const P2P: u32 = 1 << 3;
    /// Every bit with a meaning; the others must be zero.
    pub(crate) const KNOWN: u32 = RUNNING | SAVING | RESUMING | P2P;
}

/// The state a v1 `device_state` value asks for; `None` for the combinations v1 calls
/// invalid, the error state, and unknown bits.
pub(crate) fn from_v1(bits: u32) -> Option<MigState> {
    if bits & !v1::KNOWN != 0 {
        return None;
    }
    let running = bits & v1::RUNNING != 0;
    let saving = bits & v1::SAVING != 0;
    let p2p = running && bits & v1::P2P != 0;
    if bits & v1::RESUMING != 0 {
        return (!running && !saving).then_some(MigState::Resuming);
    }
    Some(match (running, p2p, saving) {
        (false, _, false) => MigState::Stop,
        (false, _, true) => MigState::StopCopy,
        (true, false, false) => MigState::Running,
        (true, true, false) => MigState::RunningP2p,
        (true, false, true) => MigState::PreCopy,
        (true, true, true) => MigState::PreCopyP2p,
    })
}

/// The v1 `device_state` value of `state`; the error state reads as `_SAVING | _RESUMING`.
pub(crate) fn to_v1(state: MigState) -> u32 {
    match state {
        MigState::Error => v1::SAVING | v1::RESUMING,
        MigState::Stop => 0,
        MigState::Running => v1::RUNNING,
        MigState::StopCopy => v1::SAVING,
        MigState::Resuming => v1::RESUMING,
        MigState::RunningP2p => v1::RUNNING | v1::P2P,
        MigState::PreCopy => v1::RUNNING | v1::SAVING,
        MigState::PreCopyP2p => v1::RUNNING | v1::P2P | v1::SAVING,
    }
}

#[cfg(any(test, CONFIG_KUNIT))]
#[cfg_attr(not(test), kernel::prelude::kunit_tests(rvfio_pci_mig_state))]
mod tests {
    use super::MigState::*;
    use super::*;

    const FULL: Features = Features::STOP_COPY
        .with(Features::P2P)
        .with(Features::PRE_COPY);

    /// Every combination of optional features, with `STOP_COPY`.
    const FEATURE_SETS: [Features; 4] = [
        Features::STOP_COPY,
        Features::STOP_COPY.with(Features::P2P),
        Features::STOP_COPY.with(Features::PRE_COPY),
        FULL,
    ];

    /// The path `next_step` takes from `from` to `to`, at most 8 arcs, with its length.
    fn path(
        from: MigState,
        to: MigState,
        features: Features,
    ) -> Result<([MigState; 8], usize), Refusal> {
        let mut steps = [Error; 8];
        let mut len = 0;
        let mut at = from;
        while at != to {
            at = next_step(at, to, features)?;
            assert!(len < steps.len());
            steps[len] = at;
            len += 1;
        }
        Ok((steps, len))
    }

    /// The upstream table (`vfio_from_fsm_table`) as written in `drivers/vfio/vfio_main.c`,
    /// row by row in uAPI order of the target.
    const UPSTREAM: [[MigState; 8]; 8] = [
        [Error, Error, Error, Error, Error, Error, Error, Error],
        [
            Error, Stop, RunningP2p, StopCopy, Resuming, RunningP2p, RunningP2p, RunningP2p,
        ],
        [
            Error, RunningP2p, Running, RunningP2p, RunningP2p, RunningP2p, PreCopy, RunningP2p,
        ],
        [Error, Stop, Stop, StopCopy, Stop, Stop, Error, Error],
        [Error, Stop, Stop, Stop, Resuming, Stop, Stop, Stop],
        [
            Error, Stop, Running, Stop, Stop, RunningP2p, Running, PreCopyP2p,
        ],
        [
            Error, Running, Running, PreCopyP2p, Running, Running, PreCopy, PreCopyP2p,
        ],
        [
            Error, RunningP2p, RunningP2p, StopCopy, RunningP2p, RunningP2p, PreCopy, PreCopyP2p,
        ],
    ];

    #[test]
    fn names_are_the_uapi_names() {
        let names: [&str; 8] = MigState::ALL.map(MigState::name);
        assert_eq!(
            names,
            [
                "ERROR",
                "STOP",
                "RUNNING",
                "STOP_COPY",
                "RESUMING",
                "RUNNING_P2P",
                "PRE_COPY",
                "PRE_COPY_P2P"
            ]
        );
    }

    #[test]
    fn every_pair_matches_the_upstream_table_with_all_features() {
        for from in MigState::ALL {
            for to in MigState::ALL {
                assert_eq!(from.toward(to), UPSTREAM[from as usize][to as usize]);
            }
        }
    }

    #[test]
    fn error_is_never_a_target_and_never_left() {
        for features in FEATURE_SETS {
            for from in MigState::ALL {
                assert_eq!(next_step(from, Error, features), Err(Refusal::Unsupported));
            }
            for to in MigState::ALL
                .into_iter()
                .filter(|s| features.contains(s.needs()))
            {
                assert_eq!(next_step(Error, to, features), Err(Refusal::Blocked));
            }
        }
    }

    #[test]
    fn every_pair_reaches_its_target_or_is_refused_as_upstream_says() {
        for features in FEATURE_SETS {
            for from in MigState::ALL
                .into_iter()
                .filter(|s| features.contains(s.needs()))
            {
                for to in MigState::ALL.into_iter().skip(1) {
                    let result = path(from, to, features);
                    let supported = features.contains(to.needs());
                    let blocked = from == StopCopy && matches!(to, PreCopy | PreCopyP2p);
                    match result {
                        Ok((steps, len)) => {
                            assert!(supported && !blocked);
                            // Every step is a state the device has.
                            for step in &steps[..len] {
                                assert!(features.contains(step.needs()));
                            }
                            // A saving-group state inside the path only continues the
                            // session the device started in (upstream's rule).
                            let mut in_session = from.is_saving();
                            for step in &steps[..len.saturating_sub(1)] {
                                in_session &= step.is_saving();
                                assert!(!step.is_saving() || in_session);
                            }
                        }
                        Err(Refusal::Unsupported) => assert!(!supported),
                        Err(Refusal::Blocked) => assert!(blocked),
                    }
                }
            }
        }
    }

    #[test]
    fn combination_arcs_take_upstreams_documented_paths() {
        let cases: [(MigState, MigState, &[MigState]); 8] = [
            (Running, Stop, &[RunningP2p, Stop]),
            (Running, Resuming, &[RunningP2p, Stop, Resuming]),
            (Running, StopCopy, &[RunningP2p, Stop, StopCopy]),
            (Stop, PreCopyP2p, &[RunningP2p, PreCopyP2p]),
            (Stop, PreCopy, &[RunningP2p, Running, PreCopy]),
            (StopCopy, Running, &[Stop, RunningP2p, Running]),
            (PreCopy, StopCopy, &[PreCopyP2p, StopCopy]),
            (Resuming, Running, &[Stop, RunningP2p, Running]),
        ];
        for (from, to, expected) in cases {
            let (steps, len) = path(from, to, FULL).unwrap();
            assert_eq!(&steps[..len], expected);
        }
        // Without P2P the P2P states are skipped over.
        let (steps, len) = path(Running, StopCopy, Features::STOP_COPY).unwrap();
        assert_eq!(&steps[..len], &[Stop, StopCopy]);
    }

    #[test]
    fn only_the_last_arc_of_a_path_opens_a_session() {
        for from in MigState::ALL.into_iter().skip(1) {
            for to in MigState::ALL.into_iter().skip(1) {
                let Ok((steps, len)) = path(from, to, FULL) else {
                    continue;
                };
                let mut at = from;
                for (i, &step) in steps[..len].iter().enumerate() {
                    let effects = Effects::of_arc(at, step);
                    if effects.open_save || effects.open_resume {
                        assert_eq!(i + 1, len);
                    }
                    at = step;
                }
            }
        }
    }

    #[test]
    fn arcs_have_the_documented_effects() {
        let none = Effects::default();
        let arc = Effects::of_arc;
        assert_eq!(
            arc(Running, RunningP2p),
            Effects {
                quiesce: true,
                ..none
            }
        );
        assert_eq!(
            arc(RunningP2p, Running),
            Effects {
                unquiesce: true,
                ..none
            }
        );
        assert_eq!(arc(RunningP2p, Stop), none);
        assert_eq!(arc(Stop, RunningP2p), none);
        assert_eq!(
            arc(Running, PreCopy),
            Effects {
                open_save: true,
                save_precopy: true,
                ..none
            }
        );
        assert_eq!(
            arc(RunningP2p, PreCopyP2p),
            Effects {
                open_save: true,
                save_precopy: true,
                ..none
            }
        );
        assert_eq!(
            arc(PreCopy, PreCopyP2p),
            Effects {
                quiesce: true,
                ..none
            }
        );
        assert_eq!(
            arc(PreCopyP2p, PreCopy),
            Effects {
                unquiesce: true,
                ..none
            }
        );
        assert_eq!(
            arc(PreCopyP2p, StopCopy),
            Effects {
                save_final: true,
                ..none
            }
        );
        assert_eq!(
            arc(Stop, StopCopy),
            Effects {
                open_save: true,
                save_final: true,
                ..none
            }
        );
        assert_eq!(
            arc(StopCopy, Stop),
            Effects {
                close_save: true,
                ..none
            }
        );
        assert_eq!(
            arc(PreCopy, Running),
            Effects {
                close_save: true,
                ..none
            }
        );
        assert_eq!(
            arc(PreCopyP2p, RunningP2p),
            Effects {
                close_save: true,
                ..none
            }
        );
        assert_eq!(
            arc(Stop, Resuming),
            Effects {
                open_resume: true,
                ..none
            }
        );
        assert_eq!(arc(Resuming, Stop), Effects { load: true, ..none });
    }

    #[test]
    fn v1_values_round_trip_through_the_state_machine() {
        for state in MigState::ALL.into_iter().skip(1) {
            assert_eq!(from_v1(to_v1(state)), Some(state));
        }
        assert_eq!(to_v1(Error), v1::SAVING | v1::RESUMING);
    }

    #[test]
    fn v1_invalid_combinations_are_refused() {
        let mut valid = 0;
        for bits in 0..32 {
            let Some(state) = from_v1(bits) else {
                continue;
            };
            valid += 1;
            assert_ne!(state, Error);
            assert_eq!(bits & 0x10, 0);
            if bits & v1::RESUMING != 0 {
                assert_eq!(bits & (v1::RUNNING | v1::SAVING), 0);
            }
        }
        // Of the 16 values of the known bits, the 8 without RESUMING and the 2 with RESUMING
        // alone (with or without P2P, which qualifies only RUNNING).
        assert_eq!(valid, 10);
        assert_eq!(from_v1(v1::SAVING | v1::RESUMING), None);
        assert_eq!(from_v1(v1::RUNNING | v1::RESUMING), None);
        assert_eq!(from_v1(1 << 31), None);
        // P2P qualifies RUNNING only: a read-modify-write that keeps it stays valid.
        assert_eq!(from_v1(v1::P2P), Some(Stop));
        assert_eq!(from_v1(v1::P2P | v1::SAVING), Some(StopCopy));
    }

    #[test]
    fn uapi_numbers_are_upstreams() {
        for (i, state) in MigState::ALL.into_iter().enumerate() {
            assert_eq!(state as usize, i);
            assert_eq!(MigState::from_uapi(i as u32), Some(state));
        }
        assert_eq!(MigState::from_uapi(8), None);
        assert_eq!(MigState::from_uapi(u32::MAX), None);
    }
}
