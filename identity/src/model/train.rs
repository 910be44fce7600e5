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
    /// * u: level frequencies over `u_sample_pairs` random pairs (almost all non-matches).
    /// * m: EM on the candidate pairs, one session per blocking rule over the pairs that rule
    ///   generated, with that rule's own fields left out (their agreement is forced by the
    ///   blocking), averaging each field's m over the sessions where it was free.
    /// * prior: EM of the match fraction among candidate pairs (m, u fixed) scaled to the
    ///   comparison space.
    /// * term frequencies: value frequencies in both stores, for comparisons with `tf_adjust`.
    pub fn train(
        &mut self,
        left: &mut FeatureStore,
        right: Option<&mut FeatureStore>,
        candidates: &CandidatePairs,
    ) {
        self.compile();
        let opts = self.config.training;
        let n_cmp = self.config.comparisons.len();
        let cols = self.c().cols.clone();
        // Term frequencies.
        let mut right = right;
        for (k, cmp) in self.config.comparisons.iter().enumerate() {
            if !cmp.tf_adjust {
                continue;
            }
            let mut counts: HashMap<u64, u32> = HashMap::new();
            let mut total = 0u32;
            let mut count_store = |s: &FeatureStore| {
                for row in 0..s.len() {
                    let c = s.cell(row, cols[k]);
                    if !c.null {
                        *counts.entry(c.hash).or_insert(0) += 1;
                        total += 1;
                    }
                }
            };
            count_store(left);
            if let Some(r) = right.as_deref() {
                count_store(r);
            }
            if total > 0 {
                let t: HashMap<u64, f32> = counts
                    .into_iter()
                    .map(|(h, n)| (h, n as f32 / total as f32))
                    .collect();
                self.term_frequencies[k] = Some(t);
            }
        }
        self.compile();
        self.apply_tf(left);
        if let Some(r) = right.as_deref_mut() {
            self.apply_tf(r);
        }
        let right_ref: &FeatureStore = right.as_deref().unwrap_or(left);
        let dedupe = std::ptr::eq(right_ref, left);

        // u from random pairs.
        let mut rng = XorShift(opts.seed | 1);
        let mut u_counts: Vec<Vec<f64>> = self
            .config
            .comparisons
            .iter()
            .map(|c| vec![0.0; c.level_count()])
            .collect();
        let (nl, nr) = (left.len(), right_ref.len());
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
                self.levels(left, a, right_ref, b, &mut lv);
                for k in 0..n_cmp {
                    if lv[k] != NULL_LEVEL {
                        u_counts[k][usize::from(lv[k])] += 1.0;
                    }
                }
                u_pairs += 1;
            }
        }
        for (k, counts) in u_counts.iter().enumerate() {
            let total: f64 = counts.iter().sum();
            if total > 0.0 {
                let l = counts.len() as f64;
                // Additive smoothing so that unseen levels keep a small non-zero u.
                self.u[k] = counts
                    .iter()
                    .map(|c| (c + 0.5) / (total + 0.5 * l))
                    .collect();
            }
        }

        // Comparison vectors of candidate pairs, grouped into patterns per blocking rule.
        let n_rules = self.config.blocking.len();
        let mut patterns: Vec<HashMap<u64, f64>> = vec![HashMap::new(); n_rules.max(1)];
        let mut all_patterns: HashMap<u64, f64> = HashMap::new();
        for (i, &(a, b)) in candidates.pairs.iter().enumerate() {
            self.levels(left, a as usize, right_ref, b as usize, &mut lv);
            let mut key = 0u64;
            for (k, l) in lv.iter().enumerate().take(n_cmp) {
                key |= u64::from(*l) << (4 * k);
            }
            *all_patterns.entry(key).or_insert(0.0) += 1.0;
            let mask = candidates.rule_masks.get(i).copied().unwrap_or(1);
            for (r, p) in patterns.iter_mut().enumerate() {
                if mask & (1 << r) != 0 {
                    *p.entry(key).or_insert(0.0) += 1.0;
                }
            }
        }
        let unpack = |key: u64, k: usize| ((key >> (4 * k)) & 0xf) as u8;

        // EM sessions.
        let mut m_sum: Vec<Vec<f64>> = self.m.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut m_sessions = vec![0usize; n_cmp];
        let mut iterations = Vec::new();
        for (r, pats) in patterns.iter().enumerate() {
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
            let mut m: Vec<Vec<f64>> = self
                .config
                .comparisons
                .iter()
                .map(|c| default_mu(c).0)
                .collect();
            let mut lambda = 0.3f64;
            let mut it = 0;
            while it < opts.em_max_iterations {
                it += 1;
                let mut acc_m: Vec<Vec<f64>> = m.iter().map(|v| vec![0.0; v.len()]).collect();
                let (mut tot_m, mut tot) = (0.0, 0.0);
                for &(key, count) in &pats {
                    let (mut lm, mut lu) = (lambda.ln(), (1.0 - lambda).ln());
                    for k in 0..n_cmp {
                        let l = unpack(key, k);
                        if l != NULL_LEVEL && free[k] {
                            lm += m[k][usize::from(l)].max(1e-12).ln();
                            lu += self.u[k][usize::from(l)].max(1e-12).ln();
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
                if delta < opts.em_tolerance {
                    break;
                }
            }
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

        // Match fraction among candidates (m, u fixed), scaled to the comparison space.
        let all: Vec<(u64, f64)> = all_patterns.into_iter().collect();
        let total: f64 = all.iter().map(|x| x.1).sum();
        let mut lambda = 0.1f64;
        if total > 0.0 {
            for _ in 0..100 {
                let mut tot_m = 0.0;
                for &(key, count) in &all {
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
                let nl_ = (tot_m / total).clamp(1e-9, 1.0 - 1e-9);
                if (nl_ - lambda).abs() < 1e-7 {
                    lambda = nl_;
                    break;
                }
                lambda = nl_;
            }
        }
        let space = if dedupe {
            (nl as f64) * (nl as f64 - 1.0) / 2.0
        } else {
            nl as f64 * nr as f64
        };
        let expected_matches = lambda * total;
        self.prior = if space > 0.0 {
            (expected_matches / space).clamp(1e-12, 0.5)
        } else {
            1e-4
        };
        self.training_report = Some(TrainingReport {
            u_pairs,
            em_pairs: candidates.pairs.len(),
            distinct_patterns: all.len(),
            em_iterations: iterations,
            candidate_match_fraction: lambda,
        });
        self.compile();
        tracing::debug!(
            prior = self.prior,
            patterns = all.len(),
            "trained Fellegi-Sunter model"
        );
    }
}
