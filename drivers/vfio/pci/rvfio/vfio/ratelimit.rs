// SPDX-License-Identifier: GPL-2.0

//! Rate-limited messages: the kernel's `struct ratelimit_state` and `___ratelimit()`, which C's
//! `dev_warn_ratelimited()` is built on and which 7.3's Rust printing has no macro for.
//!
//! A message that a user can trigger through the uAPI as often as it likes goes through
//! [`dev_warn_ratelimited!`] with a [`RateLimit`] of its own: at most
//! `DEFAULT_RATELIMIT_BURST` (10) lines in each `DEFAULT_RATELIMIT_INTERVAL` (5 s), the
//! kernel's defaults. When a message gets through after an interval in which some were
//! suppressed, `___ratelimit` first prints `"<name>: N callbacks suppressed"` itself, as for
//! C's rate-limited messages. `Documentation/messages.rst` lists the driver's messages.

use kernel::{bindings, prelude::*, str::CString, sync::LockClassKey, types::Opaque};

/// A rate limit on one message, C's `struct ratelimit_state` with the kernel's default
/// interval and burst.
///
/// C's `dev_warn_ratelimited()` keeps one static state per call site; a [`RateLimit`] lives
/// where its owner puts it, for the driver one per device and message (see `Migration`).
///
/// # Invariants
///
/// `state` was initialised as C's `ratelimit_state_init()` does it, with
/// `DEFAULT_RATELIMIT_INTERVAL` and `DEFAULT_RATELIMIT_BURST`: all zero but an initialised
/// raw spinlock, the interval and the burst. It stays pinned until dropped, and is touched only
/// by `___ratelimit()`, which serialises on that lock (or atomics when the lock is contended).
#[pin_data]
pub(crate) struct RateLimit {
    #[pin]
    state: Opaque<bindings::ratelimit_state>,
    /// What `___ratelimit()` prints before "callbacks suppressed"; it keeps no pointer to it.
    name: CString,
}

// SAFETY: A `ratelimit_state` has no tie to the thread that made it; the name is plain data.
unsafe impl Send for RateLimit {}

// SAFETY: The only access through a shared reference is `___ratelimit()`, which any number of
// threads may call at once on one state: it takes the state's raw spinlock, or, when that is
// contended, uses only the state's atomics.
unsafe impl Sync for RateLimit {}

impl RateLimit {
    /// A rate limit whose "callbacks suppressed" line starts with `name`.
    pub(crate) fn new(name: CString) -> impl PinInit<Self> {
        Self::with_limits::<
            { bindings::DEFAULT_RATELIMIT_INTERVAL as i32 },
            { bindings::DEFAULT_RATELIMIT_BURST as i32 },
        >(name)
    }

    /// A rate limit of `BURST` messages in each `INTERVAL` jiffies; both must be positive.
    fn with_limits<const INTERVAL: i32, const BURST: i32>(name: CString) -> impl PinInit<Self> {
        // `___ratelimit()` takes a zero interval for "never limit", a burst of zero for
        // "always limit", and warns on a negative one: none of them is a rate limit. The
        // check is at build time, when the function is instantiated: a `debug_assert!` would
        // check nothing in the kernels the driver is built for (neither has
        // `CONFIG_RUST_DEBUG_ASSERTIONS`), and there is no `NonZero` of a positive `i32`,
        // which is what the C fields are. Every caller has its limits as constants.
        const {
            assert!(
                INTERVAL > 0 && BURST > 0,
                "a rate limit needs a positive interval and burst"
            )
        };
        // One lock class for every rate limit: the lock is a leaf, taken only inside
        // `___ratelimit()`, never with another rate limit's held.
        let key = kernel::static_lock_class!();
        pin_init!(Self {
            state <- Opaque::ffi_init(move |state: *mut bindings::ratelimit_state| {
                // SAFETY: `ffi_init` gives a pointer to the field, valid for writes and pinned;
                // a zeroed `ratelimit_state` is valid plain data (no flag set, no count).
                unsafe { state.write_bytes(0, 1) };
                // SAFETY: The lock lies in the zeroed, pinned state, which nothing uses yet.
                unsafe { init_raw_spinlock(&raw mut (*state).lock, key) };
                // SAFETY: As above; `___ratelimit()` reads these with `READ_ONCE` only later.
                unsafe {
                    (*state).interval = INTERVAL;
                    (*state).burst = BURST;
                }
            }),
            name,
        })
    }

    /// Whether a message may go out now: counts it against the limit, and when an interval
    /// with suppressed messages is over, prints how many were (C's `__ratelimit()`).
    pub(crate) fn allows(&self) -> bool {
        // SAFETY: By the type invariants `state` is initialised and pinned; `___ratelimit()`
        // does its own locking. The name is a NUL-terminated string that outlives the call.
        unsafe { bindings::___ratelimit(self.state.get(), self.name.as_char_ptr()) != 0 }
    }
}

/// Initialises a raw spinlock as C's `raw_spin_lock_init()` does, in the lock class `key`.
///
/// # Safety
///
/// `lock` must be valid for writes, all zero, not in use, and never move afterwards.
unsafe fn init_raw_spinlock(lock: *mut bindings::raw_spinlock_t, key: Pin<&'static LockClassKey>) {
    // With spinlock debugging (lockdep selects it), `raw_spin_lock_init()` is this call, with
    // the wait type of a raw spinlock (it never sleeps, even on PREEMPT_RT). Lockdep keeps the
    // name's pointer in the lock class, so the name is static.
    #[cfg(CONFIG_DEBUG_SPINLOCK)]
    // SAFETY: `lock` is valid and unused, as this function requires; the name is a static
    // NUL-terminated string and `key` a static lock class key.
    unsafe {
        bindings::__raw_spin_lock_init(
            lock,
            c"rvfio_pci::RateLimit".as_char_ptr(),
            key.as_ptr(),
            bindings::lockdep_wait_type_LD_WAIT_SPIN as kernel::ffi::c_short,
        )
    };
    // Without it, `raw_spin_lock_init()` stores `__RAW_SPIN_LOCK_UNLOCKED`, which then holds
    // only the architecture's unlocked value: all zero for the queued and ticket spinlocks of
    // every architecture Rust supports, and an empty struct on a uniprocessor kernel. `lock`
    // is all zero already.
    #[cfg(not(CONFIG_DEBUG_SPINLOCK))]
    let _ = (lock, key);
}

/// Prints a warning with `dev_warn!` if the [`RateLimit`] allows it: C's
/// `dev_warn_ratelimited()`, with the rate limit given.
///
/// ```ignore
/// dev_warn_ratelimited!(limit, dev, "migration stream refused: {:?}\n", err);
/// ```
macro_rules! dev_warn_ratelimited {
    ($limit:expr, $dev:expr, $($f:tt)*) => {
        if $limit.allows() {
            ::kernel::dev_warn!($dev, $($f)*);
        }
    };
}
pub(crate) use dev_warn_ratelimited;

#[kernel::prelude::kunit_tests(rvfio_pci_ratelimit)]
mod tests {
    use kernel::{bindings, prelude::*, str::CString};

    use super::RateLimit;

    /// An interval no test outlives (`i32::MAX` jiffies, 24 days at `HZ` = 1000): calls that
    /// are meant to fall in one interval do, however slowly they run.
    const HUGE: i32 = i32::MAX;

    /// The kernel's default burst.
    const BURST: i32 = bindings::DEFAULT_RATELIMIT_BURST as i32;

    /// The name every test's rate limit has.
    fn name() -> CString {
        CString::try_from_fmt(fmt!("rvfio_pci_ratelimit test")).unwrap()
    }

    fn pinned(init: impl PinInit<RateLimit>) -> Pin<KBox<RateLimit>> {
        KBox::pin_init(init, GFP_KERNEL).unwrap()
    }

    /// The interval and burst `limit` was initialised with.
    fn limits(limit: &RateLimit) -> (i32, i32) {
        // SAFETY: `state` is initialised (the type invariants); `___ratelimit()` never
        // writes `interval` or `burst`, so a plain read races with nothing.
        unsafe { ((*limit.state.get()).interval, (*limit.state.get()).burst) }
    }

    /// Makes the current interval of `limit` begin `jiffies` earlier, as if that much time
    /// had passed since it began; `limit` must have been asked once, which begins it.
    fn rewind(limit: &RateLimit, jiffies: usize) {
        let state = limit.state.get();
        // SAFETY: `state` is initialised and pinned (the type invariants). Only this test's
        // thread has `limit`, and it is not in `___ratelimit()`, the only other code that
        // touches `begin`, so nothing reads or writes it at the same time.
        unsafe { (*state).begin = (*state).begin.wrapping_sub(jiffies) };
    }

    /// The kernel's default, 10 messages in each 5 s, is what `new` sets.
    #[test]
    fn new_has_the_kernel_defaults() {
        let limit = pinned(RateLimit::new(name()));
        assert_eq!(
            limits(&limit),
            (bindings::DEFAULT_RATELIMIT_INTERVAL as i32, BURST)
        );
    }

    /// A burst, then nothing while the interval lasts.
    #[test]
    fn default_burst_then_nothing() {
        let limit = pinned(RateLimit::with_limits::<HUGE, BURST>(name()));
        assert_eq!((0..1000).filter(|_| limit.allows()).count(), BURST as usize);
    }

    /// A new interval gives a new burst, and only a new interval does.
    #[test]
    fn burst_again_after_the_interval() {
        let limit = pinned(RateLimit::with_limits::<HUGE, 2>(name()));
        assert_eq!((0..100).filter(|_| limit.allows()).count(), 2);
        // Half the interval later: still the same interval, nothing more.
        rewind(&limit, HUGE as usize / 2);
        assert_eq!((0..100).filter(|_| limit.allows()).count(), 0);
        // More than the interval since it began, `HUGE + 1` jiffies in all: `___ratelimit()`
        // starts a new interval once `jiffies` is after `begin + interval`.
        rewind(&limit, HUGE as usize / 2 + 2);
        assert_eq!((0..100).filter(|_| limit.allows()).count(), 2);
    }
}
