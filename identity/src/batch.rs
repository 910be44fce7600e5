//! Batch modes: link two sources, or dedupe one. Blocking → unsupervised training → scoring.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::blocking::{block, BlockingReport};
use super::features::FeatureStore;
use super::model::{FsModel, MatchConfig};
use super::record::PatientRecord;
use super::rules::Verdict;
use crate::Error;

/// A scored candidate pair (rows index the input slices).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    /// Row in the left (or only) input.
    pub left: u32,
    /// Row in the right input (or a second row of the only input, `left < right`).
    pub right: u32,
    /// Match weight (log2 odds).
    pub weight: f32,
    /// Match probability.
    pub probability: f32,
    /// Verdict.
    pub verdict: Verdict,
}

/// Batch options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct BatchOptions {
    /// Link mode only: each record is linked to at most one record of the other source (greedy,
    /// best score first). Use when each source holds one record per patient.
    pub one_to_one: bool,
    /// Skip training and score with the model as given (see [`Linker::with_model`]).
    pub skip_training: bool,
}

/// Result of a batch run.
#[derive(Debug, Clone)]
pub struct BatchResult {
    /// The trained model (inspect m/u, explain pairs).
    pub model: FsModel,
    /// Candidate-pair counts.
    pub blocking: BlockingReport,
    /// Pairs at or above the POSSIBLE threshold (or decided MATCH/POSSIBLE by a rule), best first.
    pub pairs: Vec<ScoredPair>,
    /// Features of the left (or only) input, for [`FsModel::explain`].
    pub left_features: FeatureStore,
    /// Features of the right input (`None` for a dedupe).
    pub right_features: Option<FeatureStore>,
    /// Seconds spent in feature extraction, blocking, training and scoring.
    pub timings: Timings,
}

/// Stage durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Normalization and feature extraction.
    pub features: f64,
    /// Blocking.
    pub blocking: f64,
    /// u sampling and EM.
    pub training: f64,
    /// Scoring every candidate pair.
    pub scoring: f64,
}

impl BatchResult {
    /// Pairs whose verdict is MATCH.
    pub fn matches(&self) -> impl Iterator<Item = &ScoredPair> {
        self.pairs.iter().filter(|p| p.verdict == Verdict::Match)
    }

    /// Cluster label per record: connected components of the MATCH pairs (single-link
    /// transitive closure). For a link, labels cover left rows `0..n` then right rows `n..n+m`.
    pub fn clusters(&self) -> Vec<u32> {
        let n = self.left_features.len();
        let total = n + self.right_features.as_ref().map_or(0, FeatureStore::len);
        let offset = if self.right_features.is_some() { n } else { 0 };
        let mut parent: Vec<u32> = (0..total as u32).collect();
        fn find(p: &mut [u32], mut x: u32) -> u32 {
            while p[x as usize] != x {
                p[x as usize] = p[p[x as usize] as usize];
                x = p[x as usize];
            }
            x
        }
        for pair in self.matches() {
            let a = find(&mut parent, pair.left);
            let b = find(&mut parent, pair.right + offset as u32);
            if a != b {
                parent[a.max(b) as usize] = a.min(b);
            }
        }
        (0..total as u32).map(|x| find(&mut parent, x)).collect()
    }

    /// Explanation of a result pair.
    pub fn explain(&self, p: &ScoredPair) -> super::model::Explanation {
        let right = self.right_features.as_ref().unwrap_or(&self.left_features);
        self.model.explain(
            &self.left_features,
            p.left as usize,
            right,
            p.right as usize,
        )
    }
}

/// Runs batch link and dedupe jobs with one configuration.
#[derive(Debug, Clone)]
pub struct Linker {
    model: FsModel,
    options: BatchOptions,
}

impl Linker {
    /// A linker that trains a fresh model from the configuration on each run.
    ///
    /// Fails with the configuration's typed error when it is outside the limits
    /// ([`MatchConfig::validate`]).
    pub fn new(config: MatchConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            model: FsModel::untrained(config),
            options: BatchOptions::default(),
        })
    }

    /// A linker starting from an existing model (set `skip_training` to use it unchanged).
    ///
    /// Fails when the model's configuration is outside the limits or its m/u tables do not fit
    /// it ([`FsModel::validate`]).
    pub fn with_model(model: FsModel) -> Result<Self, Error> {
        model.validate()?;
        Ok(Self {
            model,
            options: BatchOptions::default(),
        })
    }

    /// Sets the options.
    pub fn options(mut self, o: BatchOptions) -> Self {
        self.options = o;
        self
    }

    /// Links `right` to `left`.
    pub fn link(&self, left: &[PatientRecord], right: &[PatientRecord]) -> BatchResult {
        self.run(left, Some(right))
    }

    /// Finds duplicates within `records`.
    pub fn dedupe(&self, records: &[PatientRecord]) -> BatchResult {
        self.run(records, None)
    }

    fn run(&self, left: &[PatientRecord], right: Option<&[PatientRecord]>) -> BatchResult {
        let mut model = self.model.clone();
        let t0 = Instant::now();
        let mut lf = model.features(left);
        let mut rf = right.map(|r| model.features(r));
        let t1 = Instant::now();
        let (cands, report) = block(&model.config.blocking, &lf, rf.as_ref());
        let t2 = Instant::now();
        if !self.options.skip_training {
            model.train(&mut lf, rf.as_mut(), &cands);
        }
        let t3 = Instant::now();
        let rref = rf.as_ref().unwrap_or(&lf);
        let possible = FsModel::weight_threshold(model.config.thresholds.possible_probability);
        let has_rules = !model.config.rules.is_empty();
        let mut pairs = Vec::new();
        for &(a, b) in &cands.pairs {
            let (a_us, b_us) = (a as usize, b as usize);
            if has_rules {
                let s = model.score(&lf, a_us, rref, b_us);
                if s.verdict != Verdict::NoMatch {
                    pairs.push(ScoredPair {
                        left: a,
                        right: b,
                        weight: s.weight,
                        probability: s.probability,
                        verdict: s.verdict,
                    });
                }
            } else {
                let w = model.weight(&lf, a_us, rref, b_us);
                if w >= possible {
                    let p = super::model::weight_to_probability(w);
                    pairs.push(ScoredPair {
                        left: a,
                        right: b,
                        weight: w,
                        probability: p,
                        verdict: model.verdict_for(p),
                    });
                }
            }
        }
        pairs.sort_by(|x, y| {
            y.weight
                .total_cmp(&x.weight)
                .then(x.left.cmp(&y.left))
                .then(x.right.cmp(&y.right))
        });
        if self.options.one_to_one && right.is_some() {
            let mut used_l = vec![false; left.len()];
            let mut used_r = vec![false; right.map_or(0, <[_]>::len)];
            pairs.retain(|p| {
                let (l, r) = (p.left as usize, p.right as usize);
                if used_l[l] || used_r[r] {
                    false
                } else {
                    used_l[l] = true;
                    used_r[r] = true;
                    true
                }
            });
        }
        let t4 = Instant::now();
        tracing::debug!(
            candidates = report.candidate_pairs,
            kept = pairs.len(),
            "batch run done"
        );
        BatchResult {
            model,
            blocking: report,
            pairs,
            left_features: lf,
            right_features: rf,
            timings: Timings {
                features: (t1 - t0).as_secs_f64(),
                blocking: (t2 - t1).as_secs_f64(),
                training: (t3 - t2).as_secs_f64(),
                scoring: (t4 - t3).as_secs_f64(),
            },
        }
    }
}
