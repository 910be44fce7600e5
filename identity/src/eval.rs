//! Pairwise quality metrics against known truth (for benchmarks and conformance tests).

use std::collections::{HashMap, HashSet};

/// Entity of a FEBRL record id: `"rec-1496-dup-3"` → `"rec-1496"` (the text before the second `-`).
pub fn febrl_entity(rec_id: &str) -> &str {
    let t = rec_id.trim();
    match t.match_indices('-').nth(1) {
        Some((i, _)) => &t[..i],
        None => t,
    }
}

/// Pairwise precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairMetrics {
    /// Predicted pairs that are true.
    pub true_positives: u64,
    /// Predicted pairs.
    pub predicted: u64,
    /// True pairs.
    pub actual: u64,
}

impl PairMetrics {
    /// Precision (1 when nothing was predicted).
    pub fn precision(&self) -> f64 {
        if self.predicted == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.predicted as f64
        }
    }
    /// Recall (1 when there is nothing to find).
    pub fn recall(&self) -> f64 {
        if self.actual == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.actual as f64
        }
    }
    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Metrics of predicted pairs (row indices) given an entity label per row. `right_labels =
    /// None` means a dedupe of `left_labels` (pairs unordered, self-pairs ignored).
    pub fn from_labels<L: Eq + std::hash::Hash>(
        predicted: impl IntoIterator<Item = (usize, usize)>,
        left_labels: &[L],
        right_labels: Option<&[L]>,
    ) -> Self {
        let mut seen = HashSet::new();
        let mut tp = 0;
        let mut n = 0;
        for (a, b) in predicted {
            let key = if right_labels.is_none() {
                (a.min(b), a.max(b))
            } else {
                (a, b)
            };
            if (right_labels.is_none() && a == b) || !seen.insert(key) {
                continue;
            }
            n += 1;
            let rl = right_labels.unwrap_or(left_labels);
            if left_labels[a] == rl[b] {
                tp += 1;
            }
        }
        let mut cl: HashMap<&L, u64> = HashMap::new();
        for l in left_labels {
            *cl.entry(l).or_default() += 1;
        }
        let actual = match right_labels {
            None => cl.values().map(|c| c * (c - 1) / 2).sum(),
            Some(r) => {
                let mut cr: HashMap<&L, u64> = HashMap::new();
                for l in r {
                    *cr.entry(l).or_default() += 1;
                }
                cl.iter()
                    .map(|(k, c)| c * cr.get(k).copied().unwrap_or(0))
                    .sum()
            }
        };
        Self {
            true_positives: tp,
            predicted: n,
            actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_prefix() {
        assert_eq!(febrl_entity("rec-1496-org"), "rec-1496");
        assert_eq!(febrl_entity(" rec-552-dup-3"), "rec-552");
        assert_eq!(febrl_entity("x"), "x");
    }

    #[test]
    fn metrics_count_pairs() {
        let labels = ["a", "a", "a", "b"];
        // 3 true pairs in a dedupe; predict (0,1) right, (2,3) wrong, (1,0) duplicate.
        let m = PairMetrics::from_labels([(0, 1), (2, 3), (1, 0)], &labels, None);
        assert_eq!((m.true_positives, m.predicted, m.actual), (1, 2, 3));
        assert!((m.precision() - 0.5).abs() < 1e-12);
        assert!((m.recall() - 1.0 / 3.0).abs() < 1e-12);
        let r = ["a", "b", "c"];
        let m = PairMetrics::from_labels([(0, 0), (3, 1)], &labels, Some(&r));
        assert_eq!((m.true_positives, m.predicted, m.actual), (2, 2, 4));
    }
}
