//! What makes a run of connections a beacon: the same judgement for the
//! scorer (on the last connections of a pair) and for training (on every
//! such run in the baseline, to remember pairs that were already periodic).
//!
//! As in RITA's beacon analysis, both the timing and the size must be
//! regular: intervals whose median absolute deviation is small against
//! their median, and request sizes that barely vary. Ordinary traffic can
//! happen to have regular-looking intervals over a handful of
//! connections; it rarely also sends the same number of bytes each time.

use crate::profile::Settings;
use crate::stats::quantile_sorted;

/// A run of connections judged regular.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regularity {
    /// Median interval, seconds.
    pub interval_s: f64,
    /// Median absolute deviation of the intervals over the median.
    pub jitter: f64,
    /// Median bytes the originator sent per connection.
    pub size: f64,
    /// Median absolute deviation of those sizes over their median.
    pub size_jitter: f64,
}

fn median_and_spread(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let m = quantile_sorted(v, 0.5);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    (m, quantile_sorted(&dev, 0.5))
}

/// The regularity of `conns` — (start ns, originator bytes), sorted by
/// start — when it is a beacon by `s`: enough connections, a median
/// interval in range, low timing and size jitter.
pub fn judge(conns: &[(i64, i64)], s: &Settings) -> Option<Regularity> {
    if conns.len() < (s.beacon_min_connections as usize).max(3) {
        return None;
    }
    let mut gaps: Vec<f64> = conns.windows(2).map(|w| (w[1].0 - w[0].0) as f64 / 1e9).collect();
    let (interval_s, gap_mad) = median_and_spread(&mut gaps);
    if interval_s < s.beacon_min_interval_s || interval_s > s.beacon_max_interval_s {
        return None;
    }
    let jitter = gap_mad / interval_s;
    let mut sizes: Vec<f64> = conns.iter().map(|c| c.1 as f64).collect();
    let (size, size_mad) = median_and_spread(&mut sizes);
    let size_jitter = if size > 0.0 { size_mad / size } else { 0.0 };
    (jitter <= s.beacon_max_jitter && size_jitter <= s.beacon_max_size_jitter).then_some(Regularity {
        interval_s,
        jitter,
        size,
        size_jitter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn regular_timing_and_size_is_a_beacon_and_either_alone_is_not() {
        let s = Settings::default();
        let beacon: Vec<(i64, i64)> = (0..10).map(|i| (i * 60 * S + (i % 3 - 1) * S, 700 + i % 2)).collect();
        let r = judge(&beacon, &s).expect("a beacon");
        assert!((r.interval_s - 60.0).abs() <= 2.0 && r.size_jitter < 0.01, "{r:?}");
        // Same timing, sizes all over the place (ordinary browsing).
        let browsing: Vec<(i64, i64)> =
            beacon.iter().enumerate().map(|(i, c)| (c.0, [300, 2400, 900, 15000, 600][i % 5])).collect();
        assert!(judge(&browsing, &s).is_none());
        // Same sizes, irregular timing.
        let bursty: Vec<(i64, i64)> =
            [0, 5, 61, 300, 302, 900, 1500, 1501, 4000, 4001].iter().map(|t| (t * S, 700)).collect();
        assert!(judge(&bursty, &s).is_none());
        // Too few, or too fast.
        assert!(judge(&beacon[..5], &s).is_none());
        let fast: Vec<(i64, i64)> = (0..10).map(|i| (i * S, 700)).collect();
        assert!(judge(&fast, &s).is_none());
    }
}
