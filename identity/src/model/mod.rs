//! Fellegi-Sunter model: comparison levels per field, m/u probabilities, unsupervised training
//! by expectation-maximisation, term-frequency adjustment, scoring, thresholds and explanations.
//!
//! * [`config`]: what to compare and how ([`MatchConfig`], [`Comparison`], [`Level`]).
//! * `levels`: the level of a pair of values (the hot path).
//! * `train`: u, m (EM), prior and term frequencies from unlabelled data.
//! * `explain`: [`Score`] and [`Explanation`].

mod config;
mod explain;
mod levels;
mod train;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use config::{Comparison, Level, MatchConfig, Thresholds, TrainingOptions};
pub use explain::{Explanation, FieldContribution, Score};
pub use train::TrainingReport;

use crate::features::{Cell, FeatureStore, Field};
use crate::rules::{first_firing, PairFacts, Verdict, NULL_LEVEL};
use levels::level_of;
use train::default_mu;

/// A trained (or default) Fellegi-Sunter model.
///
/// Serializes as its configuration and parameters; the weight tables are rebuilt on load, and
/// loading fails when the configuration is outside its limits ([`MatchConfig::validate`]) or
/// the m/u tables do not have one row per comparison with one value per level. After editing
/// `m`, `u` or `prior` by hand call [`FsModel::compile`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "FsModelData", into = "FsModelData")]
pub struct FsModel {
    /// The configuration.
    pub config: MatchConfig,
    /// m probabilities per comparison per level (P(level | match)).
    pub m: Vec<Vec<f64>>,
    /// u probabilities per comparison per level (P(level | non-match)).
    pub u: Vec<Vec<f64>>,
    /// Prior probability that two records drawn at random match.
    pub prior: f64,
    /// Term frequencies per comparison (value hash → relative frequency), where enabled.
    pub term_frequencies: Vec<Option<HashMap<u64, f32>>>,
    /// Training diagnostics.
    pub training_report: Option<TrainingReport>,
    compiled: Compiled,
}

/// Serialized form of [`FsModel`], read without checks (`FsModel::try_from` checks it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FsModelData {
    config: MatchConfig,
    m: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
    prior: f64,
    #[serde(default)]
    term_frequencies: Vec<Option<HashMap<u64, f32>>>,
    #[serde(default)]
    training_report: Option<TrainingReport>,
}

impl TryFrom<FsModelData> for FsModel {
    type Error = crate::Error;

    fn try_from(d: FsModelData) -> Result<Self, crate::Error> {
        check_parts(&d.config, &d.m, &d.u)?;
        let mut tf = d.term_frequencies;
        tf.resize(d.config.comparisons.len(), None);
        let mut s = Self {
            config: d.config,
            m: d.m,
            u: d.u,
            prior: d.prior,
            term_frequencies: tf,
            training_report: d.training_report,
            compiled: Compiled::default(),
        };
        s.compile();
        Ok(s)
    }
}

/// The configuration within its limits, and one m and u row per comparison with one value per
/// level: what scoring relies on.
fn check_parts(config: &MatchConfig, m: &[Vec<f64>], u: &[Vec<f64>]) -> Result<(), crate::Error> {
    config.validate()?;
    for (table, rows) in [("m", m), ("u", u)] {
        if rows.len() != config.comparisons.len() {
            return Err(crate::Error::ModelShape {
                table,
                index: rows.len().min(config.comparisons.len()),
            });
        }
        for (index, (row, c)) in rows.iter().zip(&config.comparisons).enumerate() {
            if row.len() != c.level_count() {
                return Err(crate::Error::ModelShape { table, index });
            }
        }
    }
    Ok(())
}

impl From<FsModel> for FsModelData {
    fn from(s: FsModel) -> Self {
        Self {
            config: s.config,
            m: s.m,
            u: s.u,
            prior: s.prior,
            term_frequencies: s.term_frequencies,
            training_report: s.training_report,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Compiled {
    /// Column in the feature store per comparison.
    cols: Vec<usize>,
    /// log2(m/u) per comparison per level; index `NULL_LEVEL` = 0.
    weights: Vec<[f32; 16]>,
    /// log2(m/u) of the exact level (for term-frequency adjustment), per comparison.
    u_exact: Vec<f32>,
    tf: Vec<bool>,
    prior_weight: f32,
    fields: Vec<(Field, u8)>,
}

impl FsModel {
    /// An untrained model with generic prior m/u values per level kind and field (a match agrees
    /// exactly on a field 85% of the time; u of an exact agreement ranges from 0.5 for sex to
    /// 1e-4 for SSN/phone/e-mail). Use [`FsModel::train`] (or [`crate::Linker`]) to fit
    /// it to real data.
    ///
    /// The configuration is not checked here: [`Linker`](crate::Linker) and
    /// [`PatientIndex`](crate::PatientIndex) check it when built; before scoring with the model
    /// directly, check it with [`FsModel::validate`].
    pub fn untrained(config: MatchConfig) -> Self {
        let (m, u) = config.comparisons.iter().map(default_mu).unzip();
        let tf = vec![None; config.comparisons.len()];
        let mut s = Self {
            config,
            m,
            u,
            prior: 1e-4,
            term_frequencies: tf,
            training_report: None,
            compiled: Compiled::default(),
        };
        s.compile();
        s
    }

    /// Checks what scoring relies on: the configuration within its limits
    /// ([`MatchConfig::validate`]) and one m and u row per comparison with one value per level
    /// ([`Error::ModelShape`](crate::Error::ModelShape)). [`Linker`](crate::Linker) and
    /// [`PatientIndex`](crate::PatientIndex) run it when they are built; run it yourself before
    /// scoring with a model whose fields you edited, as scoring does not check them again.
    pub fn validate(&self) -> Result<(), crate::Error> {
        check_parts(&self.config, &self.m, &self.u)
    }

    /// Recomputes the weight tables (after editing m/u/prior, or after deserializing).
    pub fn compile(&mut self) {
        let store_fields = self.config.store_fields();
        let cols = self
            .config
            .comparisons
            .iter()
            .map(|c| store_fields.iter().position(|f| *f == c.field).unwrap_or(0))
            .collect();
        let mut weights = Vec::new();
        let mut u_exact = Vec::new();
        for (k, c) in self.config.comparisons.iter().enumerate() {
            let mut w = [0f32; 16];
            for (l, wl) in w.iter_mut().enumerate().take(c.level_count().min(15)) {
                let m = self.m[k].get(l).copied().unwrap_or(1e-6).max(1e-9);
                let u = self.u[k].get(l).copied().unwrap_or(1e-6).max(1e-9);
                *wl = (m / u).log2() as f32;
            }
            weights.push(w);
            u_exact.push(self.u[k].first().copied().unwrap_or(1.0) as f32);
        }
        let p = self.prior.clamp(1e-12, 1.0 - 1e-12);
        self.compiled = Compiled {
            cols,
            weights,
            u_exact,
            tf: self
                .config
                .comparisons
                .iter()
                .zip(&self.term_frequencies)
                .map(|(c, t)| c.tf_adjust && t.is_some())
                .collect(),
            prior_weight: (p / (1.0 - p)).log2() as f32,
            fields: self
                .config
                .comparisons
                .iter()
                .map(|c| (c.field, c.levels.len() as u8))
                .collect(),
        };
    }

    #[inline]
    fn c(&self) -> &Compiled {
        &self.compiled
    }

    /// Builds a feature store with the columns this model needs.
    pub fn features(&self, records: &[super::record::PatientRecord]) -> FeatureStore {
        let mut s = FeatureStore::from_records(self.config.store_fields(), records);
        self.apply_tf(&mut s);
        s
    }

    /// Fills term frequencies into a store from the model's tables.
    pub fn apply_tf(&self, store: &mut FeatureStore) {
        self.apply_tf_from(store, 0);
    }

    /// Fills term frequencies into rows `first_row..` of a store.
    pub(crate) fn apply_tf_from(&self, store: &mut FeatureStore, first_row: usize) {
        let c = self.c();
        for (k, t) in self.term_frequencies.iter().enumerate() {
            if let Some(t) = t {
                let floor = t.values().copied().fold(f32::INFINITY, f32::min);
                let floor = if floor.is_finite() { floor } else { 1e-6 };
                store.apply_tf(c.cols[k], t, floor, first_row);
            }
        }
    }

    /// Computes the comparison level of every comparison for a pair into `out`.
    #[inline]
    pub fn levels(
        &self,
        sa: &FeatureStore,
        ra: usize,
        sb: &FeatureStore,
        rb: usize,
        out: &mut [u8; 16],
    ) {
        let c = self.c();
        let nfa = sa.fields.len();
        let nfb = sb.fields.len();
        let rowa = &sa.cells[ra * nfa..ra * nfa + nfa];
        let rowb = &sb.cells[rb * nfb..rb * nfb + nfb];
        for (k, cmp) in self.config.comparisons.iter().enumerate() {
            let col = c.cols[k];
            out[k] = level_of(&cmp.levels, sa, &rowa[col], sb, &rowb[col]);
        }
    }

    /// Match weight (log2 posterior odds) of a pair, without deterministic rules.
    ///
    /// Both stores must come from [`FsModel::features`] of a model with this configuration (the
    /// columns are looked up by position); other stores give meaningless results or panic.
    #[inline]
    pub fn weight(&self, sa: &FeatureStore, ra: usize, sb: &FeatureStore, rb: usize) -> f32 {
        let mut lv = [NULL_LEVEL; 16];
        self.weight_levels(sa, ra, sb, rb, &mut lv)
    }

    /// Weight of a pair, storing each comparison's level in `out`.
    #[inline]
    fn weight_levels(
        &self,
        sa: &FeatureStore,
        ra: usize,
        sb: &FeatureStore,
        rb: usize,
        out: &mut [u8; 16],
    ) -> f32 {
        let c = self.c();
        let nfa = sa.fields.len();
        let nfb = sb.fields.len();
        let rowa = &sa.cells[ra * nfa..ra * nfa + nfa];
        let rowb = &sb.cells[rb * nfb..rb * nfb + nfb];
        let mut w = c.prior_weight;
        for (k, cmp) in self.config.comparisons.iter().enumerate() {
            let col = c.cols[k];
            let (a, b) = (&rowa[col], &rowb[col]);
            let l = level_of(&cmp.levels, sa, a, sb, b);
            out[k] = l;
            if l != NULL_LEVEL {
                w += c.weights[k][usize::from(l)];
                if l == 0 && c.tf[k] {
                    w += tf_adjust(c.u_exact[k], a, b);
                }
            }
        }
        w
    }

    /// Full score of a pair: rules, weight, probability, verdict.
    #[inline]
    pub fn score(&self, sa: &FeatureStore, ra: usize, sb: &FeatureStore, rb: usize) -> Score {
        let mut lv = [NULL_LEVEL; 16];
        let w = self.weight_levels(sa, ra, sb, rb, &mut lv);
        let rule = if self.config.rules.is_empty() {
            None
        } else {
            let facts = PairFacts {
                ids_a: sa.ids_of(ra),
                ids_b: sb.ids_of(rb),
                levels: &lv,
                fields: &self.c().fields,
            };
            first_firing(&self.config.rules, &facts)
        };
        let probability = weight_to_probability(w);
        let verdict = match rule {
            Some(i) => self.config.rules[i].verdict,
            None => self.verdict_for(probability),
        };
        Score {
            weight: w,
            probability,
            verdict,
            rule: rule.map(|i| i as u16),
        }
    }

    /// Verdict of a probability under the configured thresholds.
    pub fn verdict_for(&self, probability: f32) -> Verdict {
        let t = self.config.thresholds;
        let p = f64::from(probability);
        if p >= t.match_probability {
            Verdict::Match
        } else if p >= t.possible_probability {
            Verdict::PossibleMatch
        } else {
            Verdict::NoMatch
        }
    }

    /// The weight at which a probability threshold is reached.
    pub fn weight_threshold(probability: f64) -> f32 {
        let p = probability.clamp(1e-12, 1.0 - 1e-12);
        (p / (1.0 - p)).log2() as f32
    }
}

#[inline]
fn tf_adjust(u_exact: f32, a: &Cell, b: &Cell) -> f32 {
    let tf = a.tf.max(b.tf);
    if tf <= 0.0 || u_exact <= 0.0 {
        return 0.0;
    }
    (u_exact / tf).log2().clamp(-10.0, 10.0)
}

/// Converts a match weight (log2 odds) to a probability.
#[inline]
pub fn weight_to_probability(w: f32) -> f32 {
    1.0 / (1.0 + (-w).exp2())
}
