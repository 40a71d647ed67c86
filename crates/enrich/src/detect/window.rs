//! Counts over time windows for aggregation rules: tumbling windows
//! aligned to the epoch, per rule and key, counting distinct values (or
//! distinct events). Distinct counting makes a redelivered record count
//! once, so the stream path and a local ingest agree. Memory is bounded:
//! windows older than the one before the newest are dropped, a window
//! stops remembering values once it fired, and a rule keeps at most
//! [`MAX_KEYS_PER_RULE`] open keys.

use std::collections::{HashMap, HashSet};

/// Most open (window, key) pairs one rule keeps.
pub const MAX_KEYS_PER_RULE: usize = 200_000;

#[derive(Debug, Default)]
struct Bucket {
    seen: HashSet<u64>,
    /// The earliest observation's time.
    first_ns: i64,
    fired: bool,
}

#[derive(Debug, Default)]
struct RuleWindows {
    buckets: HashMap<(i64, u64), Bucket>,
    newest: i64,
    refused: u64,
}

/// The open windows of every aggregation rule.
#[derive(Debug, Default)]
pub struct Windows {
    rules: HashMap<String, RuleWindows>,
}

/// What one observation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Counted; below the threshold (or the window already fired).
    Counted,
    /// This observation took the count over the threshold: the count and
    /// the time of the window's earliest observation.
    Crossed(u64, i64),
    /// The rule holds too many keys; not counted.
    Refused,
}

impl Windows {
    /// Count `value` for `key` at `t_ns` in `rule`'s window of `window_ns`;
    /// `over(count)` says whether the threshold is passed.
    pub fn observe(
        &mut self,
        rule: &str,
        window_ns: i64,
        t_ns: i64,
        key: u64,
        value: u64,
        over: impl Fn(u64) -> bool,
    ) -> Seen {
        let w = match self.rules.get_mut(rule) {
            Some(w) => w,
            None => self.rules.entry(rule.to_string()).or_default(),
        };
        let start = t_ns.div_euclid(window_ns) * window_ns;
        if start > w.newest {
            w.newest = start;
            let keep_from = start.saturating_sub(window_ns);
            w.buckets.retain(|(s, _), _| *s >= keep_from);
        }
        let len = w.buckets.len();
        let bucket = match w.buckets.get_mut(&(start, key)) {
            Some(b) => b,
            None if len >= MAX_KEYS_PER_RULE => {
                w.refused += 1;
                if w.refused == 1 || w.refused.is_power_of_two() {
                    tracing::warn!(
                        rule,
                        refused = w.refused,
                        "aggregation rule holds too many keys; new keys are not counted"
                    );
                }
                return Seen::Refused;
            }
            None => w.buckets.entry((start, key)).or_insert_with(|| Bucket { first_ns: t_ns, ..Default::default() }),
        };
        if bucket.fired {
            return Seen::Counted;
        }
        bucket.first_ns = bucket.first_ns.min(t_ns);
        bucket.seen.insert(value);
        let n = bucket.seen.len() as u64;
        if over(n) {
            bucket.fired = true;
            bucket.seen = HashSet::new();
            return Seen::Crossed(n, bucket.first_ns);
        }
        Seen::Counted
    }

    /// Open (window, key) pairs over all rules.
    pub fn open(&self) -> usize {
        self.rules.values().map(|w| w.buckets.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn crosses_once_per_window_and_counts_distinct_values() {
        let mut w = Windows::default();
        let over = |n| n > 2;
        assert_eq!(w.observe("r", 60 * S, 0, 1, 10, over), Seen::Counted);
        assert_eq!(w.observe("r", 60 * S, S, 1, 10, over), Seen::Counted, "the same value again");
        assert_eq!(w.observe("r", 60 * S, 2 * S, 1, 11, over), Seen::Counted);
        assert_eq!(w.observe("r", 60 * S, 3 * S, 2, 12, over), Seen::Counted, "another key");
        assert_eq!(w.observe("r", 60 * S, 4 * S, 1, 12, over), Seen::Crossed(3, 0), "since the first observation");
        assert_eq!(w.observe("r", 60 * S, 5 * S, 1, 13, over), Seen::Counted, "fired once");
        // The next window starts afresh.
        for v in 20..22 {
            assert_eq!(w.observe("r", 60 * S, 61 * S, 1, v, over), Seen::Counted);
        }
        assert_eq!(w.observe("r", 60 * S, 62 * S, 1, 22, over), Seen::Crossed(3, 61 * S));
        // Two windows on, the first is gone.
        w.observe("r", 60 * S, 125 * S, 1, 1, over);
        assert!(w.open() <= 3);
    }

    #[test]
    fn keys_are_capped() {
        let mut w = Windows::default();
        for k in 0..MAX_KEYS_PER_RULE as u64 {
            w.observe("r", S, 0, k, 0, |_| false);
        }
        assert_eq!(w.observe("r", S, 0, u64::MAX, 0, |_| false), Seen::Refused);
        assert_eq!(w.observe("other", S, 0, u64::MAX, 0, |_| false), Seen::Counted);
    }
}
