//! Unsupervised training: u from random pairs, m by expectation-maximisation on blocked pairs
//! (one session per blocking rule), the prior, and term frequencies.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::config::{Comparison, Level};
use super::FsModel;
use crate::blocking::CandidatePairs;
use crate::features::{FeatureStore, Field};
use crate::rules::NULL_LEVEL;

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Random pairs used for u.
    pub u_pairs: usize,
    /// Candidate pairs used for EM.
    pub em_pairs: usize,
    /// Distinct comparison vectors among them.
    pub distinct_patterns: usize,
    /// EM iterations per session (one session per blocking rule that produced pairs).
    pub em_iterations: Vec<usize>,
    /// Estimated fraction of candidate pairs that match.
    pub candidate_match_fraction: f64,
}

/// Generic prior m/u of one level for a field, used before training (and as EM start values).
fn prior_mu(field: Field, level: &Level) -> (f64, f64) {
    match level {
        Level::Exact => {
            let u = match field {
                Field::Sex => 0.5,
                Field::State => 0.2,
                Field::StreetNumber => 0.02,
                Field::City | Field::GivenName | Field::FamilyName => 0.005,
                Field::Postcode | Field::StreetName | Field::AddressLine2 => 0.002,
                Field::BirthDate => 3e-4,
                Field::MiddleName => 0.05,
                Field::Ssn | Field::Phone | Field::Email => 1e-4,
            };
            (0.85, u)
        }
        Level::Nickname => (0.03, 0.001),
        Level::Phonetic => (0.02, 0.005),
        Level::JaroWinkler { min } if *min >= 0.9 => (0.05, 0.001),
        Level::JaroWinkler { min } if *min >= 0.8 => (0.02, 0.003),
        Level::JaroWinkler { .. } => (0.02, 0.03),
        Level::Levenshtein { max } | Level::Damerau { max } => {
            if *max <= 1 {
                (
                    0.04,
                    if field == Field::BirthDate {
                        0.002
                    } else {
                        3e-4
                    },
                )
            } else {
                (0.01, 0.01)
            }
        }
        Level::DateTransposed => (0.01, 2e-5),
        Level::DateWithinDays { .. } => (0.01, 0.02),
        Level::Initial => (0.02, 0.02),
    }
}

pub(super) fn default_mu(c: &Comparison) -> (Vec<f64>, Vec<f64>) {
    let mut m: Vec<f64> = Vec::with_capacity(c.level_count());
    let mut u: Vec<f64> = Vec::with_capacity(c.level_count());
    for l in &c.levels {
        let (a, b) = prior_mu(c.field, l);
        m.push(a);
        u.push(b);
    }
    let (sm, su): (f64, f64) = (m.iter().sum(), u.iter().sum());
    let else_m = (1.0 - sm).max(0.03);
    let else_u = (1.0 - su).max(0.03);
    m.push(else_m);
    u.push(else_u);
    let (sm, su): (f64, f64) = (m.iter().sum(), u.iter().sum());
    (
        m.into_iter().map(|x| x / sm).collect(),
        u.into_iter().map(|x| x / su).collect(),
    )
}

/// Deterministic xorshift64* generator for pair sampling.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

impl FsModel {
    /// Trains the model without labels.
    ///
    /// * term frequencies: value frequencies in both stores, for comparisons with `tf_adjust`.
    /// * u: level frequencies over `u_sample_pairs` random pairs (almost all non-matches).
    /// * m: EM on the candidate pairs, one session per blocking rule over the pairs that rule
    ///   generated, with that rule's own fields left out (their agreement is forced by the
    ///   blocking), averaging each field's m over the sessions where it was free.
    /// * prior: EM of the match fraction among candidate pairs (m, u fixed) scaled to the
    ///   comparison space.
    pub fn train(
        &mut self,
        left: &mut FeatureStore,
        right: Option<&mut FeatureStore>,
        candidates: &CandidatePairs,
    ) {
        self.compile();
        let mut right = right;
        self.term_frequencies_from(left, right.as_deref());
        self.compile();
        self.apply_tf(left);
        if let Some(r) = right.as_deref_mut() {
            self.apply_tf(r);
        }
        let right_ref: &FeatureStore = right.as_deref().unwrap_or(left);
        let dedupe = std::ptr::eq(right_ref, left);

        let u_pairs = self.estimate_u(left, right_ref, dedupe);
        let patterns = self.patterns(left, right_ref, candidates);
        let em_iterations = self.estimate_m(&patterns.per_rule);
        let all: Vec<(u64, f64)> = patterns.all.into_iter().collect();
        let lambda = self.candidate_match_fraction(&all);

        let (nl, nr) = (left.len() as f64, right_ref.len() as f64);
        let space = if dedupe {
            nl * (nl - 1.0) / 2.0
        } else {
            nl * nr
        };
        let total: f64 = all.iter().map(|x| x.1).sum();
        self.prior = prior(lambda * total, space);
        self.training_report = Some(TrainingReport {
            u_pairs,
            em_pairs: candidates.pairs.len(),
            distinct_patterns: all.len(),
            em_iterations,
            candidate_match_fraction: lambda,
        });
        self.compile();
        tracing::debug!(
            prior = self.prior,
            patterns = all.len(),
            "trained Fellegi-Sunter model"
        );
    }

    /// Relative value frequencies (by value hash) over both stores, for each comparison with
    /// `tf_adjust`.
    fn term_frequencies_from(&mut self, left: &FeatureStore, right: Option<&FeatureStore>) {
        let cols = self.c().cols.clone();
        for (k, cmp) in self.config.comparisons.iter().enumerate() {
            if !cmp.tf_adjust {
                continue;
            }
            let mut counts: HashMap<u64, u32> = HashMap::new();
            let mut total = 0u32;
            for s in std::iter::once(left).chain(right) {
                for row in 0..s.len() {
                    let c = s.cell(row, cols[k]);
                    if !c.null {
                        *counts.entry(c.hash).or_insert(0) += 1;
                        total += 1;
                    }
                }
            }
            if total > 0 {
                let t: HashMap<u64, f32> = counts
                    .into_iter()
                    .map(|(h, n)| (h, n as f32 / total as f32))
                    .collect();
                self.term_frequencies[k] = Some(t);
            }
        }
    }

    /// u: level frequencies over random pairs (with additive smoothing so that unseen levels
    /// keep a small non-zero u). Returns the number of pairs sampled.
    fn estimate_u(&mut self, left: &FeatureStore, right: &FeatureStore, dedupe: bool) -> usize {
        let opts = self.config.training;
        let n_cmp = self.config.comparisons.len();
        let mut rng = XorShift(opts.seed | 1);
        let mut u_counts: Vec<Vec<f64>> = self
            .config
            .comparisons
            .iter()
            .map(|c| vec![0.0; c.level_count()])
            .collect();
        let (nl, nr) = (left.len(), right.len());
        let mut lv = [0u8; 16];
        let mut u_pairs = 0;
        if nl > 0 && nr > 0 && !(dedupe && nl < 2) {
            let space = if dedupe { nl * (nl - 1) / 2 } else { nl * nr };
            let n = opts.u_sample_pairs.min(space);
            while u_pairs < n {
                let a = rng.below(nl);
                let b = rng.below(nr);
                if dedupe && a == b {
                    continue;
                }
                self.levels(left, a, right, b, &mut lv);
                for k in 0..n_cmp {
                    if lv[k] != NULL_LEVEL {
                        u_counts[k][usize::from(lv[k])] += 1.0;
                    }
                }
                u_pairs += 1;
            }
        }
        for (k, counts) in u_counts.iter().enumerate() {
            if let Some(u) = smoothed(counts) {
                self.u[k] = u;
            }
        }
        u_pairs
    }

    /// Comparison vectors of the candidate pairs, counted per blocking rule and overall.
    fn patterns(
        &self,
        left: &FeatureStore,
        right: &FeatureStore,
        candidates: &CandidatePairs,
    ) -> Patterns {
        let n_cmp = self.config.comparisons.len();
        let n_rules = self.config.blocking.len();
        let mut per_rule: Vec<HashMap<u64, f64>> = vec![HashMap::new(); n_rules.max(1)];
        let mut all: HashMap<u64, f64> = HashMap::new();
        let mut lv = [0u8; 16];
        for (i, &(a, b)) in candidates.pairs.iter().enumerate() {
            self.levels(left, a as usize, right, b as usize, &mut lv);
            let key = pack(&lv[..n_cmp]);
            *all.entry(key).or_insert(0.0) += 1.0;
            let mask = candidates.rule_masks.get(i).copied().unwrap_or(1);
            for (r, p) in per_rule.iter_mut().enumerate() {
                if mask & (1 << r) != 0 {
                    *p.entry(key).or_insert(0.0) += 1.0;
                }
            }
        }
        Patterns { per_rule, all }
    }

    /// m: one EM session per blocking rule that produced pairs, each field's m averaged over the
    /// sessions where it was free. Returns the iterations of each session.
    fn estimate_m(&mut self, per_rule: &[HashMap<u64, f64>]) -> Vec<usize> {
        let n_cmp = self.config.comparisons.len();
        let mut m_sum: Vec<Vec<f64>> = self.m.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut m_sessions = vec![0usize; n_cmp];
        let mut iterations = Vec::new();
        for (r, pats) in per_rule.iter().enumerate() {
            if pats.is_empty() {
                continue;
            }
            let pats: Vec<(u64, f64)> = pats.iter().map(|(k, v)| (*k, *v)).collect();
            let free: Vec<bool> = self
                .config
                .comparisons
                .iter()
                .map(|c| {
                    self.config
                        .blocking
                        .get(r)
                        .is_none_or(|rule| !rule.uses(c.field))
                })
                .collect();
            let start: Vec<Vec<f64>> = self
                .config
                .comparisons
                .iter()
                .map(|c| default_mu(c).0)
                .collect();
            let (m, it) = em_session(
                &pats,
                &free,
                start,
                &self.u,
                self.config.training.em_max_iterations,
                self.config.training.em_tolerance,
            );
            iterations.push(it);
            for k in 0..n_cmp {
                if free[k] {
                    for (s, x) in m_sum[k].iter_mut().zip(&m[k]) {
                        *s += x;
                    }
                    m_sessions[k] += 1;
                }
            }
        }
        for k in 0..n_cmp {
            if m_sessions[k] > 0 {
                self.m[k] = m_sum[k].iter().map(|s| s / m_sessions[k] as f64).collect();
            } else {
                tracing::warn!(
                    field = self.config.comparisons[k].field.name(),
                    "no EM session left this field free; m keeps its default"
                );
            }
        }
        iterations
    }

    /// The fraction of candidate pairs that match, by EM with m and u fixed.
    fn candidate_match_fraction(&self, all: &[(u64, f64)]) -> f64 {
        let n_cmp = self.config.comparisons.len();
        let total: f64 = all.iter().map(|x| x.1).sum();
        let mut lambda = 0.1f64;
        if total <= 0.0 {
            return lambda;
        }
        for _ in 0..100 {
            let mut tot_m = 0.0;
            for &(key, count) in all {
                let mut bf = 0.0f64;
                for k in 0..n_cmp {
                    let l = unpack(key, k);
                    if l != NULL_LEVEL {
                        bf += (self.m[k][usize::from(l)].max(1e-12)
                            / self.u[k][usize::from(l)].max(1e-12))
                        .ln();
                    }
                }
                let lo = (lambda / (1.0 - lambda)).ln() + bf;
                tot_m += count / (1.0 + (-lo).exp());
            }
            let next = (tot_m / total).clamp(1e-9, 1.0 - 1e-9);
            if (next - lambda).abs() < 1e-7 {
                return next;
            }
            lambda = next;
        }
        lambda
    }
}

/// Candidate comparison vectors (packed by [`pack`]) with their counts.
struct Patterns {
    /// Per blocking rule: the vectors of the pairs that rule generated.
    per_rule: Vec<HashMap<u64, f64>>,
    /// All candidate pairs.
    all: HashMap<u64, f64>,
}

/// Packs comparison levels (4 bits each, at most 16) into one key.
fn pack(levels: &[u8]) -> u64 {
    levels
        .iter()
        .enumerate()
        .fold(0, |key, (k, l)| key | (u64::from(*l) << (4 * k)))
}

/// Level of comparison `k` in a packed key.
fn unpack(key: u64, k: usize) -> u8 {
    ((key >> (4 * k)) & 0xf) as u8
}

/// Level frequencies with additive smoothing (0.5 per level); `None` when nothing was counted.
fn smoothed(counts: &[f64]) -> Option<Vec<f64>> {
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let l = counts.len() as f64;
    Some(
        counts
            .iter()
            .map(|c| (c + 0.5) / (total + 0.5 * l))
            .collect(),
    )
}

/// One EM session over packed comparison vectors with their counts: the E step weighs each
/// vector by its match posterior under the current m, u and match fraction; the M step
/// re-estimates m of the `free` comparisons (u stays fixed). Returns m and the iterations run.
fn em_session(
    pats: &[(u64, f64)],
    free: &[bool],
    mut m: Vec<Vec<f64>>,
    u: &[Vec<f64>],
    max_iterations: usize,
    tolerance: f64,
) -> (Vec<Vec<f64>>, usize) {
    let n_cmp = m.len();
    let mut lambda = 0.3f64;
    let mut it = 0;
    while it < max_iterations {
        it += 1;
        let mut acc_m: Vec<Vec<f64>> = m.iter().map(|v| vec![0.0; v.len()]).collect();
        let (mut tot_m, mut tot) = (0.0, 0.0);
        for &(key, count) in pats {
            let (mut lm, mut lu) = (lambda.ln(), (1.0 - lambda).ln());
            for k in 0..n_cmp {
                let l = unpack(key, k);
                if l != NULL_LEVEL && free[k] {
                    lm += m[k][usize::from(l)].max(1e-12).ln();
                    lu += u[k][usize::from(l)].max(1e-12).ln();
                }
            }
            let post = 1.0 / (1.0 + (lu - lm).exp());
            let wm = post * count;
            tot_m += wm;
            tot += count;
            for (k, acc) in acc_m.iter_mut().enumerate() {
                let l = unpack(key, k);
                if l != NULL_LEVEL {
                    acc[usize::from(l)] += wm;
                }
            }
        }
        let mut delta = 0.0f64;
        for k in 0..n_cmp {
            let s: f64 = acc_m[k].iter().sum();
            if s <= 0.0 || !free[k] {
                continue;
            }
            let l = acc_m[k].len() as f64;
            for (x, a) in m[k].iter_mut().zip(&acc_m[k]) {
                let nv = (a + 1e-3) / (s + 1e-3 * l);
                delta = delta.max((nv - *x).abs());
                *x = nv;
            }
        }
        lambda = (tot_m / tot).clamp(1e-9, 1.0 - 1e-9);
        if delta < tolerance {
            break;
        }
    }
    (m, it)
}

/// The prior match probability of a random pair: expected matches over the comparison space.
fn prior(expected_matches: f64, space: f64) -> f64 {
    if space > 0.0 {
        (expected_matches / space).clamp(1e-12, 0.5)
    } else {
        1e-4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_is_deterministic_and_in_range() {
        let mut a = XorShift(0x5eed | 1);
        let mut b = XorShift(0x5eed | 1);
        for n in [1usize, 2, 7, 1000, usize::MAX] {
            for _ in 0..200 {
                let x = a.below(n);
                assert!(x < n);
                assert_eq!(x, b.below(n));
            }
        }
    }

    #[test]
    fn default_mu_is_normalized_with_an_else_level() {
        for c in crate::MatchConfig::default().comparisons {
            let (m, u) = default_mu(&c);
            assert_eq!(m.len(), c.level_count());
            assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!((u.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            // Exact agreement is strong evidence of a match for every field but sex.
            assert!(m[0] > u[0], "{:?}", c.field);
        }
    }

    #[test]
    fn packed_levels_round_trip() {
        let lv = [0u8, 3, 15, 14, 1];
        let key = pack(&lv);
        for (k, l) in lv.iter().enumerate() {
            assert_eq!(unpack(key, k), *l);
        }
    }

    #[test]
    fn smoothing_keeps_unseen_levels_above_zero() {
        let u = smoothed(&[98.0, 2.0, 0.0]).unwrap();
        assert!((u.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(u[2] > 0.0 && u[2] < u[1]);
        assert_eq!(smoothed(&[0.0, 0.0]), None);
    }

    #[test]
    fn em_recovers_m_from_a_mixture() {
        // Two comparisons with two levels (agree, else). Matches agree on both 90% of the time;
        // non-matches (u fixed) agree 5% of the time. 200 matches among 1200 pairs.
        let u = vec![vec![0.05, 0.95], vec![0.05, 0.95]];
        let pats: Vec<(u64, f64)> = vec![
            (pack(&[0, 0]), 200.0 * 0.81 + 1000.0 * 0.0025),
            (pack(&[0, 1]), 200.0 * 0.09 + 1000.0 * 0.0475),
            (pack(&[1, 0]), 200.0 * 0.09 + 1000.0 * 0.0475),
            (pack(&[1, 1]), 200.0 * 0.01 + 1000.0 * 0.9025),
        ];
        let start = vec![vec![0.5, 0.5], vec![0.5, 0.5]];
        let (m, it) = em_session(&pats, &[true, true], start, &u, 200, 1e-9);
        assert!(it > 1);
        for row in &m {
            assert!((row[0] - 0.9).abs() < 0.02, "{m:?}");
        }
        // A comparison that is not free keeps its start values.
        let start = vec![vec![0.5, 0.5], vec![0.7, 0.3]];
        let (m, _) = em_session(&pats, &[true, false], start, &u, 200, 1e-9);
        assert_eq!(m[1], vec![0.7, 0.3]);
    }

    #[test]
    fn prior_is_bounded() {
        assert_eq!(prior(10.0, 1000.0), 0.01);
        assert_eq!(prior(10.0, 0.0), 1e-4);
        assert_eq!(prior(900.0, 1000.0), 0.5);
        assert_eq!(prior(0.0, 1000.0), 1e-12);
    }
}
