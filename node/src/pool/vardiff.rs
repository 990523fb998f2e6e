//! Per-connection share difficulty ("vardiff"), steering each miner towards one share
//! every `share_interval` (T) with ckpool-style hysteresis.
//!
//! A difficulty `d` is the expected number of hashes per share: the share target is
//! [`to_target`]`(d)`, whose work is exactly `d`, so a share at difficulty `d` is
//! credited `d` work in the PPLNS log.
//!
//! The rule (`docs/STRATUM.md` §5). A connection evaluates a retarget after
//! `retarget_shares` shares or `retarget_time` (default 24 × T) since its last
//! evaluation (or connect), whichever comes first:
//!
//! ```text
//! ideal = floor(work × T / elapsed)      work, elapsed: measured since the last change
//!                                        (no work: the current difficulty, an upper bound)
//! if d/2 ≤ ideal ≤ 2d: keep d            hysteresis
//! else first evaluation since connect: d' = ideal
//!      otherwise:                      d' = min(max(ideal, d/4), 4d)
//! d' = min(max(d', min_difficulty), max_difficulty)
//! ```
//!
//! The measurement restarts when the difficulty changes. While it does not, the
//! measurement keeps going (as ckpool keeps a decaying average rather than starting
//! over), so the estimate sharpens instead of re-rolling ~24 shares of noise at every
//! evaluation; once it is older than 4 × `retarget_time` an evaluation that changes
//! nothing halves it (its start moves half-way to now, its work halves), so a real
//! change of hash rate shows within a few evaluations.
//!
//! Time is passed in, so the rule is deterministic under test.

use std::time::{Duration, Instant};

use cairn_core::Target;
use thiserror::Error;

/// The default time between shares, T.
pub const DEFAULT_SHARE_INTERVAL: Duration = Duration::from_secs(10);
/// The default number of shares after which a connection retargets.
pub const DEFAULT_RETARGET_SHARES: u32 = 72;
/// The default `retarget_time`, in share intervals (240 s for T = 10 s).
pub const RETARGET_TIME_INTERVALS: u32 = 24;
/// The default lowest difficulty.
pub const DEFAULT_MIN_DIFFICULTY: u64 = 1 << 16;
/// The default difficulty of a new connection.
pub const DEFAULT_START_DIFFICULTY: u64 = 1 << 24;
/// The largest factor one retarget may move the difficulty by (but the first).
pub const MAX_STEP: u64 = 4;
/// The difficulty is kept while the ideal is within this factor of it.
pub const HYSTERESIS: u64 = 2;
/// A measurement older than this many retarget times is halved at an evaluation that
/// changes nothing.
pub const MEASUREMENT_HORIZON: u32 = 4;

/// The share target of a difficulty: `floor(2^256 / d) − 1`, the largest target whose
/// work ([`Target::work`]) is exactly `d`. Difficulty 0 is taken as 1.
///
/// (The more usual `floor((2^256 − 1) / d)` is one more whenever `d` is not a power of
/// two, and its work is then `d − 1`: for `d = 3` a share would be credited 2.)
pub fn to_target(difficulty: u64) -> Target {
    cairn_stratum::messages::share_target(difficulty)
}

/// The vardiff settings of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VardiffConfig {
    /// T: the time between shares aimed at.
    pub share_interval: Duration,
    /// Retarget after this many shares...
    pub retarget_shares: u32,
    /// ...or after this long, whichever comes first.
    pub retarget_time: Duration,
    /// The lowest difficulty given.
    pub min_difficulty: u64,
    /// The highest difficulty given (the pool also keeps it at most the block's work).
    pub max_difficulty: u64,
    /// The difficulty of a new connection.
    pub start_difficulty: u64,
}

/// Why a vardiff configuration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VardiffConfigError {
    /// The share interval or the retarget time is zero.
    #[error("vardiff share interval and retarget time must be positive")]
    ZeroTime,
    /// `retarget_shares` is zero.
    #[error("vardiff retarget_shares must be positive")]
    ZeroShares,
    /// The difficulty bounds are out of order, or the minimum is zero.
    #[error("vardiff needs 1 ≤ min ({min}) ≤ start ({start}) ≤ max ({max}) difficulty")]
    Bounds {
        /// `min_difficulty`.
        min: u64,
        /// `start_difficulty`.
        start: u64,
        /// `max_difficulty`.
        max: u64,
    },
}

impl VardiffConfig {
    /// The default settings for a share interval of `share_interval`: retarget after
    /// 72 shares or 24 intervals.
    pub fn for_interval(share_interval: Duration) -> VardiffConfig {
        VardiffConfig {
            share_interval,
            retarget_shares: DEFAULT_RETARGET_SHARES,
            retarget_time: share_interval.saturating_mul(RETARGET_TIME_INTERVALS),
            min_difficulty: DEFAULT_MIN_DIFFICULTY,
            max_difficulty: u64::MAX,
            start_difficulty: DEFAULT_START_DIFFICULTY,
        }
    }

    /// Refuses settings the rule cannot work with.
    pub fn validate(&self) -> Result<(), VardiffConfigError> {
        if self.share_interval.is_zero() || self.retarget_time.is_zero() {
            return Err(VardiffConfigError::ZeroTime);
        }
        if self.retarget_shares == 0 {
            return Err(VardiffConfigError::ZeroShares);
        }
        let (min, start, max) = (
            self.min_difficulty,
            self.start_difficulty,
            self.max_difficulty,
        );
        if min == 0 || min > start || start > max {
            return Err(VardiffConfigError::Bounds { min, start, max });
        }
        Ok(())
    }

    /// `[min, max]`, made usable even for settings `validate` refuses.
    fn bounds(&self) -> (u64, u64) {
        let min = self.min_difficulty.max(1);
        (min, self.max_difficulty.max(min))
    }
}

impl Default for VardiffConfig {
    fn default() -> Self {
        VardiffConfig::for_interval(DEFAULT_SHARE_INTERVAL)
    }
}

/// The share difficulty of one connection.
#[derive(Debug, Clone)]
pub struct Vardiff {
    config: VardiffConfig,
    difficulty: u64,
    /// The last evaluation (or connect)...
    evaluated_at: Instant,
    /// ...and the shares since.
    shares_since_evaluation: u32,
    /// Where the measurement starts: the last change (or connect), moved on by ageing.
    measured_from: Instant,
    /// The work of the shares since `measured_from` (Σ of their difficulties).
    measured_work: u128,
    /// Evaluations so far (0 until the first).
    retargets: u32,
}

impl Vardiff {
    /// A connection opened at `now`, at the start difficulty (within the bounds).
    pub fn new(config: VardiffConfig, now: Instant) -> Vardiff {
        let (min, max) = config.bounds();
        Vardiff {
            config,
            difficulty: config.start_difficulty.max(min).min(max),
            evaluated_at: now,
            shares_since_evaluation: 0,
            measured_from: now,
            measured_work: 0,
            retargets: 0,
        }
    }

    /// The current difficulty.
    pub fn difficulty(&self) -> u64 {
        self.difficulty
    }

    /// The current share target.
    pub fn target(&self) -> Target {
        to_target(self.difficulty)
    }

    /// Retargets evaluated since connect (whether or not they changed anything).
    pub fn retargets(&self) -> u32 {
        self.retargets
    }

    /// Counts an accepted share of `difficulty` (the difficulty of the job it was
    /// found on, which may be an earlier one) at `now`, and evaluates a retarget if
    /// one is due: the new difficulty, if it changed.
    pub fn on_share(&mut self, now: Instant, difficulty: u64) -> Option<u64> {
        self.shares_since_evaluation = self.shares_since_evaluation.saturating_add(1);
        self.measured_work = self.measured_work.saturating_add(u128::from(difficulty));
        self.poll(now)
    }

    /// Evaluates a retarget if one is due at `now`: the new difficulty, if it
    /// changed. The pool calls this on a timer as well as with every share, so that
    /// a miner that finds no share at all still comes down.
    pub fn poll(&mut self, now: Instant) -> Option<u64> {
        let since_evaluation = now.saturating_duration_since(self.evaluated_at);
        if self.shares_since_evaluation < self.config.retarget_shares
            && since_evaluation < self.config.retarget_time
        {
            return None;
        }
        self.evaluated_at = now;
        self.shares_since_evaluation = 0;
        let first = self.retargets == 0;
        self.retargets = self.retargets.saturating_add(1);

        let elapsed = now.saturating_duration_since(self.measured_from);
        // No work measured: the rate is below one share in `elapsed`, so one share
        // at the current difficulty is an upper bound on what was done.
        let work = if self.measured_work == 0 {
            u128::from(self.difficulty)
        } else {
            self.measured_work
        };
        let ideal = ideal_difficulty(work, elapsed, self.config.share_interval);
        let next = self.next_difficulty(ideal, first);
        if next == self.difficulty {
            let horizon = self
                .config
                .retarget_time
                .saturating_mul(MEASUREMENT_HORIZON);
            if elapsed > horizon {
                let half = elapsed / 2;
                self.measured_from = self.measured_from.checked_add(half).unwrap_or(now);
                self.measured_work /= 2;
            }
            return None;
        }
        self.difficulty = next;
        self.measured_from = now;
        self.measured_work = 0;
        Some(next)
    }

    fn next_difficulty(&self, ideal: u64, first: bool) -> u64 {
        let d = self.difficulty;
        let (wide_d, wide_ideal) = (u128::from(d), u128::from(ideal));
        let hysteresis = u128::from(HYSTERESIS);
        if wide_ideal * hysteresis >= wide_d && wide_ideal <= wide_d * hysteresis {
            return d;
        }
        let stepped = if first {
            ideal
        } else {
            ideal
                .max((d / MAX_STEP).max(1))
                .min(d.saturating_mul(MAX_STEP))
        };
        let (min, max) = self.config.bounds();
        stepped.max(min).min(max)
    }
}

/// `floor(work × interval / elapsed)`, at least 1 and at most `u64::MAX`: the
/// difficulty at which the measured hash rate finds one share per interval.
fn ideal_difficulty(work: u128, elapsed: Duration, interval: Duration) -> u64 {
    let elapsed = elapsed.as_nanos().max(1);
    let ideal = work.saturating_mul(interval.as_nanos()) / elapsed;
    u64::try_from(ideal).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use ruint::aliases::U256;

    use super::*;

    const T: Duration = DEFAULT_SHARE_INTERVAL;
    const D0: u64 = DEFAULT_START_DIFFICULTY;

    /// xorshift64*: a small deterministic generator for simulated miners.
    struct XorShift(u64);

    impl XorShift {
        fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform in (0, 1).
        fn unit(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        /// An exponential interarrival time of mean `mean_ns`, in whole nanoseconds.
        fn exponential_ns(&mut self, mean_ns: f64) -> u64 {
            (-self.unit().ln() * mean_ns) as u64
        }
    }

    /// A miner of `rate` hashes per nanosecond, simulated share by share.
    struct Sim {
        vardiff: Vardiff,
        start: Instant,
        now_ns: u64,
        rate: f64,
        rng: XorShift,
    }

    impl Sim {
        fn new(config: VardiffConfig, rate: f64, seed: u64) -> Sim {
            let start = Instant::now();
            Sim {
                vardiff: Vardiff::new(config, start),
                start,
                now_ns: 0,
                rate,
                rng: XorShift(seed),
            }
        }

        fn at(&self, ns: u64) -> Instant {
            self.start + Duration::from_nanos(ns)
        }

        /// Mines until one share is found, the pool polling every T meanwhile. When a
        /// poll changes the difficulty the miner switches to it, and (shares being a
        /// Poisson process) the wait starts afresh.
        fn share(&mut self) {
            let step = T.as_nanos() as u64;
            'search: loop {
                let d = self.vardiff.difficulty();
                let found = self.now_ns + self.rng.exponential_ns(d as f64 / self.rate);
                let mut tick = (self.now_ns / step + 1) * step;
                while tick < found {
                    if self.vardiff.poll(self.at(tick)).is_some() {
                        self.now_ns = tick;
                        continue 'search;
                    }
                    tick += step;
                }
                self.now_ns = found;
                self.vardiff.on_share(self.at(found), d);
                return;
            }
        }
    }

    /// Shares `interval_ns` apart, each at the difficulty current when it starts.
    fn regular(
        vardiff: &mut Vardiff,
        start: Instant,
        now_ns: &mut u64,
        interval_ns: impl Fn(u64) -> u64,
    ) {
        let d = vardiff.difficulty();
        *now_ns += interval_ns(d);
        vardiff.on_share(start + Duration::from_nanos(*now_ns), d);
    }

    #[test]
    fn a_share_at_difficulty_d_is_worth_d() {
        assert_eq!(to_target(1), Target(U256::MAX));
        assert_eq!(to_target(0), Target(U256::MAX));
        assert_eq!(to_target(2), Target(U256::MAX >> 1));
        for d in [
            1,
            2,
            3,
            7,
            10,
            1_000,
            1 << 32,
            (1 << 32) + 1,
            (1 << 63) + 1,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let t = to_target(d);
            assert_eq!(t.work().0, U256::from(d), "difficulty {d}");
            // And it is the largest such target.
            if let Some(next) = t.0.checked_add(U256::from(1u8)) {
                assert!(Target(next).work().0 < U256::from(d), "difficulty {d}");
            }
        }
    }

    #[test]
    fn config_validation() {
        assert_eq!(VardiffConfig::default().validate(), Ok(()));
        assert_eq!(
            VardiffConfig::default().retarget_time,
            Duration::from_secs(240)
        );
        let bad = VardiffConfig {
            min_difficulty: 10,
            start_difficulty: 5,
            ..VardiffConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(VardiffConfigError::Bounds { .. })
        ));
        let bad = VardiffConfig {
            retarget_shares: 0,
            ..VardiffConfig::default()
        };
        assert_eq!(bad.validate(), Err(VardiffConfigError::ZeroShares));
        let bad = VardiffConfig::for_interval(Duration::ZERO);
        assert_eq!(bad.validate(), Err(VardiffConfigError::ZeroTime));
        // Refused settings still give a usable difficulty.
        let odd = VardiffConfig {
            min_difficulty: 0,
            max_difficulty: 0,
            start_difficulty: 0,
            ..VardiffConfig::default()
        };
        assert_eq!(Vardiff::new(odd, Instant::now()).difficulty(), 1);
    }

    #[test]
    fn hysteresis_holds_from_half_to_twice_the_ideal() {
        // Shares exactly x·T apart: the ideal is d / x. At the very edges of [d/2, 2d]
        // for four evaluations (before any ageing of the measurement rounds it)...
        for (num, den, shares) in [(1, 2, 4 * 48), (2, 1, 4 * 12)] {
            let start = Instant::now();
            let mut v = Vardiff::new(VardiffConfig::default(), start);
            let mut now = 0;
            for _ in 0..shares {
                regular(&mut v, start, &mut now, |_| T.as_nanos() as u64 * num / den);
            }
            assert_eq!(
                (v.difficulty(), v.retargets()),
                (D0, 4),
                "interval {num}/{den} T"
            );
        }
        // ...and just inside them for long.
        for (num, den) in [(51, 100), (1, 1), (199, 100)] {
            let start = Instant::now();
            let mut v = Vardiff::new(VardiffConfig::default(), start);
            let mut now = 0;
            for _ in 0..500 {
                regular(&mut v, start, &mut now, |_| T.as_nanos() as u64 * num / den);
            }
            assert_eq!(v.difficulty(), D0, "interval {num}/{den} T");
            assert!(v.retargets() >= 10);
        }
    }

    #[test]
    fn the_first_retarget_jumps_straight_to_the_estimate() {
        // 1000 times the start difficulty's rate: 72 shares in 0.72 s.
        let start = Instant::now();
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        let mut now = 0;
        let fast = |d: u64| d * (T.as_nanos() as u64 / 1_000) / D0;
        for _ in 0..72 {
            regular(&mut v, start, &mut now, fast);
        }
        assert_eq!((v.retargets(), v.difficulty()), (1, 1_000 * D0));
        for _ in 0..200 {
            regular(&mut v, start, &mut now, fast);
        }
        assert_eq!(v.difficulty(), 1_000 * D0);
    }

    #[test]
    fn later_retargets_move_at_most_four_times() {
        let start = Instant::now();
        let mut v = Vardiff::new(VardiffConfig::default(), start);
        let mut now = 0;
        // At the ideal until the first retarget has been spent...
        while v.retargets() == 0 {
            regular(&mut v, start, &mut now, |_| T.as_nanos() as u64);
        }
        assert_eq!(v.difficulty(), D0);
        // ...then 100 times faster. The measurement still holds the 240 s at the old
        // rate, so the first step is 3.88×; then ×4, ×4, and 62·D0 is within 2× of
        // the ideal 100·D0.
        let fast = |d: u64| d * (T.as_nanos() as u64 / 100) / D0;
        let mut seen = vec![v.difficulty()];
        for _ in 0..2_000 {
            regular(&mut v, start, &mut now, fast);
            if seen.last() != Some(&v.difficulty()) {
                seen.push(v.difficulty());
            }
        }
        assert_eq!(seen, vec![D0, 65_154_236, 260_616_944, 1_042_467_776]);
        assert!(seen.windows(2).all(|w| w[1] <= w[0] * MAX_STEP));
    }

    #[test]
    fn a_silent_miner_comes_down() {
        let config = VardiffConfig {
            min_difficulty: 1,
            ..VardiffConfig::default()
        };
        let start = Instant::now();
        let mut v = Vardiff::new(config, start);
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(v.poll(at(239)), None);
        // No share in 240 s: at most D0 / 24, and the first retarget takes it.
        assert_eq!(v.poll(at(240)), Some(D0 / 24));
        // Then at most ÷4 a retarget.
        assert_eq!(v.poll(at(480)), Some(D0 / 24 / 4));
        assert_eq!(v.poll(at(720)), Some(D0 / 24 / 16));
        assert_eq!(v.retargets(), 3);
    }

    #[test]
    fn difficulty_stays_within_its_bounds() {
        let config = VardiffConfig {
            min_difficulty: D0 / 2,
            max_difficulty: 8 * D0,
            ..VardiffConfig::default()
        };
        let start = Instant::now();
        let mut v = Vardiff::new(config, start);
        let mut now = 0;
        let fast = |d: u64| d * (T.as_nanos() as u64 / 1_000) / D0;
        for _ in 0..1_000 {
            regular(&mut v, start, &mut now, fast);
        }
        assert_eq!(v.difficulty(), 8 * D0);
        let mut v = Vardiff::new(config, start);
        for s in 1..100 {
            v.poll(start + Duration::from_secs(240 * s));
        }
        assert_eq!(v.difficulty(), D0 / 2);
    }

    #[test]
    fn a_fast_miner_settles_near_the_share_interval() {
        // 1000 times the start difficulty's rate, Poisson shares.
        let rate = 1_000.0 * D0 as f64 / T.as_nanos() as f64;
        let mut sim = Sim::new(VardiffConfig::default(), rate, 0x9e37_79b9_7f4a_7c15);
        while sim.vardiff.retargets() < 50 {
            sim.share();
        }
        let ideal = 1_000.0 * D0 as f64;
        let ratio = sim.vardiff.difficulty() as f64 / ideal;
        assert!((0.7..=1.3).contains(&ratio), "difficulty / ideal = {ratio}");
        let from = sim.now_ns;
        for _ in 0..200 {
            sim.share();
        }
        let mean = (sim.now_ns - from) as f64 / 200.0 / T.as_nanos() as f64;
        assert!((0.7..=1.3).contains(&mean), "mean interval {mean} T");
    }

    #[test]
    fn a_miner_that_speeds_up_is_followed() {
        let config = VardiffConfig {
            start_difficulty: 1_000 * D0,
            ..VardiffConfig::default()
        };
        let rate = 1_000.0 * D0 as f64 / T.as_nanos() as f64;
        let mut sim = Sim::new(config, rate, 0x1234_5678_9abc_def1);
        while sim.vardiff.retargets() < 100 {
            sim.share();
        }
        // Settled where it started, with a long measurement behind it...
        assert_eq!(sim.vardiff.difficulty(), 1_000 * D0);
        let before = sim.vardiff.retargets();
        sim.rate *= 3.0;
        while sim.vardiff.difficulty() == 1_000 * D0 {
            sim.share();
        }
        // ...yet a tripled hash rate is followed within a few evaluations.
        assert!(sim.vardiff.retargets() - before <= 4);
        let ratio = sim.vardiff.difficulty() as f64 / (3_000.0 * D0 as f64);
        assert!((0.5..=2.0).contains(&ratio), "difficulty / ideal = {ratio}");
    }

    #[test]
    fn a_slow_miner_settles_lower() {
        // A hundredth of the start difficulty's rate: one share in 1000 s at first.
        let rate = D0 as f64 / 100.0 / T.as_nanos() as f64;
        let mut sim = Sim::new(VardiffConfig::default(), rate, 0x2545_f491_4f6c_dd1d);
        while sim.vardiff.retargets() < 50 {
            sim.share();
        }
        let ratio = sim.vardiff.difficulty() as f64 / (D0 as f64 / 100.0);
        assert!((0.5..=2.0).contains(&ratio), "difficulty / ideal = {ratio}");
    }
}
