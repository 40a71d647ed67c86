//! Robust statistics of a sample: median, MAD and the 95th percentile,
//! which a few outliers in the baseline cannot drag the way a mean and
//! standard deviation would.

use serde::{Deserialize, Serialize};

/// The summary of a sample kept in a profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Values summarised.
    pub n: u32,
    /// The median.
    pub median: f64,
    /// The median absolute deviation from the median.
    pub mad: f64,
    /// The 95th percentile (linear interpolation).
    pub p95: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// Summarise `values` (reordered in place); all zero when empty.
    pub fn of(values: &mut [f64]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        values.sort_by(f64::total_cmp);
        let median = quantile_sorted(values, 0.5);
        let p95 = quantile_sorted(values, 0.95);
        let max = values[values.len() - 1];
        let mut dev: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Summary { n: values.len() as u32, median, mad: quantile_sorted(&dev, 0.5), p95, max }
    }
}

/// The `q` quantile of sorted `values` (not empty), interpolated linearly
/// between the closest ranks.
pub fn quantile_sorted(values: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outlier_moves_the_median_and_mad_little() {
        let mut v = vec![10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 1000.0];
        let s = Summary::of(&mut v);
        assert_eq!(s.median, 10.0);
        assert_eq!(s.mad, 1.0);
        assert_eq!(s.max, 1000.0);
        assert_eq!(s.n, 7);
        // Rank 0.95 × 6 = 5.7: between 12 and 1000.
        assert!((s.p95 - (12.0 + 0.7 * 988.0)).abs() < 1e-9, "{}", s.p95);
    }

    #[test]
    fn empty_and_single_samples() {
        assert_eq!(Summary::of(&mut []), Summary::default());
        let s = Summary::of(&mut [5.0]);
        assert_eq!((s.median, s.mad, s.p95, s.max), (5.0, 0.0, 5.0, 5.0));
    }
}
