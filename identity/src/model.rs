//! Fellegi-Sunter model: comparison levels per field, m/u probabilities, unsupervised training
//! by expectation-maximisation, term-frequency adjustment, scoring, thresholds and explanations.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::blocking::{BlockKey, BlockingRule, CandidatePairs, KeyTransform};
use super::compare::{
    count_lower_bound, jaro_winkler, jaro_winkler_upper, levenshtein_bounded, osa_bounded,
};
use super::features::{Cell, FeatureStore, Field};
use super::rules::{first_firing, DeterministicRule, PairFacts, Verdict, NULL_LEVEL};

/// One comparison level test. Levels of a comparison are tried in order; the first that holds
/// is the pair's level; when none holds the pair falls in the implicit last level, "else".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Level {
    /// Normalized values equal.
    Exact,
    /// Given names in a common nickname group (`bob` / `robert`).
    Nickname,
    /// Double Metaphone keys (primary or alternate) equal.
    Phonetic,
    /// Jaro-Winkler similarity at least `min`.
    JaroWinkler {
        /// Lower bound, e.g. 0.92.
        min: f32,
    },
    /// Levenshtein distance at most `max`.
    Levenshtein {
        /// Upper bound.
        max: u8,
    },
    /// Optimal-string-alignment distance (Levenshtein + adjacent transposition) at most `max`.
    Damerau {
        /// Upper bound.
        max: u8,
    },
    /// Full dates with day and month swapped (same year).
    DateTransposed,
    /// Full dates at most `days` apart.
    DateWithinDays {
        /// Upper bound in days.
        days: u32,
    },
    /// One value is a single letter equal to the other's first letter (an initial).
    Initial,
}

impl Level {
    /// Label used in explanations.
    pub fn label(&self) -> String {
        match self {
            Level::Exact => "exact".into(),
            Level::Nickname => "nickname".into(),
            Level::Phonetic => "phonetic".into(),
            Level::JaroWinkler { min } => format!("jaro_winkler>={min}"),
            Level::Levenshtein { max } => format!("levenshtein<={max}"),
            Level::Damerau { max } => format!("damerau<={max}"),
            Level::DateTransposed => "day_month_transposed".into(),
            Level::DateWithinDays { days } => format!("within_{days}_days"),
            Level::Initial => "initial".into(),
        }
    }
}

/// Comparison of one field: its levels and whether exact agreement is term-frequency adjusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The field.
    pub field: Field,
    /// Levels tried in order (at most 14); "else" is implicit.
    pub levels: Vec<Level>,
    /// Adjust the exact-agreement weight by how common the value is.
    #[serde(default)]
    pub tf_adjust: bool,
}

impl Comparison {
    /// A comparison without term-frequency adjustment.
    pub fn new(field: Field, levels: Vec<Level>) -> Self {
        Self {
            field,
            levels,
            tf_adjust: false,
        }
    }

    /// Enables term-frequency adjustment.
    pub fn with_tf(mut self) -> Self {
        self.tf_adjust = true;
        self
    }

    /// Number of levels including "else".
    pub fn level_count(&self) -> usize {
        self.levels.len() + 1
    }

    /// Label of a level index (`"else"` for the last, `"null"` for missing).
    pub fn level_label(&self, l: u8) -> String {
        if l == NULL_LEVEL {
            "null".into()
        } else {
            self.levels
                .get(usize::from(l))
                .map_or_else(|| "else".into(), Level::label)
        }
    }

    /// Standard name comparison: exact, nickname (given names), JW ≥ 0.92, JW ≥ 0.88, phonetic.
    pub fn name(field: Field) -> Self {
        let mut levels = vec![Level::Exact];
        if field == Field::GivenName {
            levels.push(Level::Nickname);
        }
        levels.extend([
            Level::JaroWinkler { min: 0.92 },
            Level::JaroWinkler { min: 0.88 },
            Level::Phonetic,
        ]);
        Self::new(field, levels).with_tf()
    }

    /// Standard date comparison: exact, day/month transposed, one typo, two typos, within a year.
    pub fn date(field: Field) -> Self {
        Self::new(
            field,
            vec![
                Level::Exact,
                Level::DateTransposed,
                Level::Damerau { max: 1 },
                Level::Damerau { max: 2 },
                Level::DateWithinDays { days: 365 },
            ],
        )
    }

    /// Standard identifier-like comparison (SSN, phone, postcode): exact, one typo, two typos.
    pub fn code(field: Field) -> Self {
        Self::new(
            field,
            vec![
                Level::Exact,
                Level::Damerau { max: 1 },
                Level::Damerau { max: 2 },
            ],
        )
    }

    /// Exact-only comparison.
    pub fn exact(field: Field) -> Self {
        Self::new(field, vec![Level::Exact])
    }

    /// Free-text comparison (street, city): exact, JW ≥ 0.9, JW ≥ 0.75.
    pub fn text(field: Field) -> Self {
        Self::new(
            field,
            vec![
                Level::Exact,
                Level::JaroWinkler { min: 0.9 },
                Level::JaroWinkler { min: 0.75 },
            ],
        )
    }
}

/// Probability thresholds turning a score into a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above: MATCH (automatic link).
    pub match_probability: f64,
    /// At or above (and below the match threshold): POSSIBLE MATCH (human review).
    pub possible_probability: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            match_probability: 0.95,
            possible_probability: 0.5,
        }
    }
}

/// Training options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingOptions {
    /// Random pairs sampled to estimate the u probabilities.
    pub u_sample_pairs: usize,
    /// EM iteration cap per session.
    pub em_max_iterations: usize,
    /// EM stops when no m changes more than this.
    pub em_tolerance: f64,
    /// Seed of the deterministic pair sampler.
    pub seed: u64,
}

impl Default for TrainingOptions {
    fn default() -> Self {
        Self {
            u_sample_pairs: 200_000,
            em_max_iterations: 40,
            em_tolerance: 1e-5,
            seed: 0x5eed,
        }
    }
}

/// Everything that configures matching, serde-serializable (JSON, TOML, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchConfig {
    /// Field comparisons (at most 16).
    pub comparisons: Vec<Comparison>,
    /// Blocking rules, unioned (at most 32).
    pub blocking: Vec<BlockingRule>,
    /// Deterministic rules, evaluated first, in order.
    pub rules: Vec<DeterministicRule>,
    /// Verdict thresholds.
    pub thresholds: Thresholds,
    /// Training options.
    pub training: TrainingOptions,
}

impl Default for MatchConfig {
    /// General demographics: names, birth date, sex, SSN, address parts, phone, e-mail; blocking on
    /// names, birth date, SSN, postcode, phone and e-mail; the default deterministic rules.
    fn default() -> Self {
        use Field::*;
        let comparisons = vec![
            Comparison::name(GivenName),
            Comparison::name(FamilyName),
            Comparison::date(BirthDate),
            Comparison::code(Ssn),
            Comparison::exact(StreetNumber),
            Comparison::text(StreetName),
            Comparison::text(AddressLine2),
            Comparison::text(City).with_tf(),
            Comparison::code(Postcode),
            Comparison::exact(State),
            Comparison::exact(Sex),
            Comparison::code(Phone),
            Comparison::text(Email),
        ];
        let e = BlockKey::exact;
        let blocking = vec![
            BlockingRule::new("given+family", vec![e(GivenName), e(FamilyName)]),
            BlockingRule::new("birth_date", vec![e(BirthDate)]),
            BlockingRule::new("ssn", vec![e(Ssn)]),
            BlockingRule::new(
                "family_phonetic+birth_year",
                vec![
                    BlockKey::with(FamilyName, KeyTransform::Phonetic),
                    BlockKey::with(BirthDate, KeyTransform::Year),
                ],
            ),
            BlockingRule::new("postcode+street_number", vec![e(Postcode), e(StreetNumber)]),
            BlockingRule::new("given+postcode", vec![e(GivenName), e(Postcode)]),
            BlockingRule::new("family+city", vec![e(FamilyName), e(City)]),
            BlockingRule::new("given+city", vec![e(GivenName), e(City)]),
            BlockingRule::new(
                "given_phonetic+family_phonetic",
                vec![
                    BlockKey::with(GivenName, KeyTransform::Phonetic),
                    BlockKey::with(FamilyName, KeyTransform::Phonetic),
                ],
            ),
            BlockingRule::new(
                "given+birth_year",
                vec![e(GivenName), BlockKey::with(BirthDate, KeyTransform::Year)],
            ),
            BlockingRule::new("phone", vec![e(Phone)]),
            BlockingRule::new("email", vec![e(Email)]),
        ];
        Self {
            comparisons,
            blocking,
            rules: DeterministicRule::defaults(),
            thresholds: Thresholds::default(),
            training: TrainingOptions::default(),
        }
    }
}

impl MatchConfig {
    /// The fields a feature store needs: comparison fields then blocking-only fields.
    pub fn store_fields(&self) -> Vec<Field> {
        let mut v: Vec<Field> = self.comparisons.iter().map(|c| c.field).collect();
        for r in &self.blocking {
            for k in &r.keys {
                if !v.contains(&k.field) {
                    v.push(k.field);
                }
            }
        }
        v
    }

    /// Checks limits; returns a description of the first problem.
    pub fn validate(&self) -> Result<(), String> {
        if self.comparisons.is_empty() || self.comparisons.len() > 16 {
            return Err(format!(
                "1 to 16 comparisons required, got {}",
                self.comparisons.len()
            ));
        }
        if let Some(c) = self.comparisons.iter().find(|c| c.levels.len() > 14) {
            return Err(format!(
                "comparison {} has more than 14 levels",
                c.field.name()
            ));
        }
        let big_edit =
            self.comparisons.iter().flat_map(|c| &c.levels).any(
                |l| matches!(l, Level::Levenshtein { max } | Level::Damerau { max } if *max > 32),
            );
        if big_edit {
            return Err("edit-distance levels allow at most 32 edits".into());
        }
        if self.blocking.len() > 32 {
            return Err("at most 32 blocking rules".into());
        }
        let t = self.thresholds;
        if !(0.0..=1.0).contains(&t.possible_probability)
            || !(0.0..=1.0).contains(&t.match_probability)
            || t.possible_probability > t.match_probability
        {
            return Err("thresholds must satisfy 0 <= possible <= match <= 1".into());
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// Level computation (hot path)

const EDIT_UNKNOWN: u8 = u8::MAX;
const EDIT_FAR: u8 = u8::MAX - 1;

#[inline]
fn level_single(levels: &[Level], sa: &FeatureStore, a: &Cell, sb: &FeatureStore, b: &Cell) -> u8 {
    let ta = sa.text(a);
    let tb = sb.text(b);
    let mut jw: f64 = -1.0;
    let mut jw_ub: f64 = -1.0;
    let mut osa_d = EDIT_UNKNOWN;
    let mut lev_d = EDIT_UNKNOWN;
    for (i, lvl) in levels.iter().enumerate() {
        let hit = match *lvl {
            Level::Exact => a.hash == b.hash && ta == tb,
            Level::Nickname => {
                a.nick[0] != u16::MAX && a.nick.iter().any(|g| *g != u16::MAX && b.nick.contains(g))
            }
            Level::Phonetic => {
                a.ph1 != 0
                    && b.ph1 != 0
                    && (a.ph1 == b.ph1 || a.ph1 == b.ph2 || (a.ph2 != 0 && a.ph2 == b.ph1))
            }
            Level::JaroWinkler { min } => {
                let min = f64::from(min);
                if jw < 0.0 {
                    if jw_ub < 0.0 {
                        jw_ub = jaro_winkler_upper(ta, tb, a.mask, b.mask);
                    }
                    if jw_ub + 1e-9 < min {
                        false
                    } else {
                        jw = jaro_winkler(ta, tb);
                        jw + 1e-9 >= min
                    }
                } else {
                    jw + 1e-9 >= min
                }
            }
            Level::Levenshtein { max } | Level::Damerau { max } => {
                let osa = matches!(lvl, Level::Damerau { .. });
                let cache = if osa { &mut osa_d } else { &mut lev_d };
                if *cache == EDIT_UNKNOWN {
                    // One bounded computation serves every later level of the same kind.
                    let bound = levels[i..]
                        .iter()
                        .filter_map(|l| match (l, osa) {
                            (Level::Damerau { max }, true)
                            | (Level::Levenshtein { max }, false) => Some(usize::from(*max)),
                            _ => None,
                        })
                        .max()
                        .unwrap_or(0);
                    let only_a = (a.mask & !b.mask).count_ones() as usize;
                    let only_b = (b.mask & !a.mask).count_ones() as usize;
                    *cache = if only_a.max(only_b) > bound
                        || ta.len().abs_diff(tb.len()) > bound
                        || count_lower_bound(ta, tb) > bound
                    {
                        EDIT_FAR
                    } else {
                        let d = if osa {
                            osa_bounded(ta, tb, bound)
                        } else {
                            levenshtein_bounded(ta, tb, bound)
                        };
                        d.map_or(EDIT_FAR, |d| d as u8)
                    };
                }
                *cache <= max
            }
            Level::DateTransposed => {
                let (x, y) = (a.num, b.num);
                let (ya, ma, da) = (x / 10_000, (x / 100) % 100, x % 100);
                let (yb, mb, db) = (y / 10_000, (y / 100) % 100, y % 100);
                ya == yb && ma != da && ma == db && da == mb && ma != 0 && da != 0
            }
            Level::DateWithinDays { days } => {
                a.days != i32::MIN && b.days != i32::MIN && a.days.abs_diff(b.days) <= days
            }
            Level::Initial => {
                (ta.len() == 1 || tb.len() == 1)
                    && !ta.is_empty()
                    && !tb.is_empty()
                    && ta[0] == tb[0]
            }
        };
        if hit {
            return i as u8;
        }
    }
    levels.len() as u8
}

/// Level of a pair of cells, with alternates: the best (lowest) level over all combinations.
#[inline]
fn level_of(levels: &[Level], sa: &FeatureStore, a: &Cell, sb: &FeatureStore, b: &Cell) -> u8 {
    if a.null || b.null {
        return NULL_LEVEL;
    }
    let mut l = level_single(levels, sa, a, sb, b);
    if l != 0 && (a.alt_len != 0 || b.alt_len != 0) {
        let aa = std::iter::once(a).chain(sa.alts_of(a));
        for x in aa {
            for y in std::iter::once(b).chain(sb.alts_of(b)) {
                if std::ptr::eq(x, a) && std::ptr::eq(y, b) {
                    continue;
                }
                l = l.min(level_single(levels, sa, x, sb, y));
                if l == 0 {
                    return 0;
                }
            }
        }
    }
    l
}

// ------------------------------------------------------------------------------------------------
// Model

/// A trained (or default) Fellegi-Sunter model.
///
/// Serializes as its configuration and parameters; the weight tables are rebuilt on load. After
/// editing `m`, `u` or `prior` by hand call [`FsModel::compile`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "FsModelData", into = "FsModelData")]
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

/// Serialized form of [`FsModel`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FsModelData {
    config: MatchConfig,
    m: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
    prior: f64,
    #[serde(default)]
    term_frequencies: Vec<Option<HashMap<u64, f32>>>,
    #[serde(default)]
    training_report: Option<TrainingReport>,
}

impl From<FsModelData> for FsModel {
    fn from(d: FsModelData) -> Self {
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
        s
    }
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

/// The score of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Match weight: log2 posterior odds (prior + per-field weights).
    pub weight: f32,
    /// Match probability.
    pub probability: f32,
    /// Verdict (from a deterministic rule when one fired, else from the thresholds).
    pub verdict: Verdict,
    /// Index of the deterministic rule that decided, if any.
    pub rule: Option<u16>,
}

/// Contribution of one field to a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldContribution {
    /// The field.
    pub field: Field,
    /// Level label (`exact`, `jaro_winkler>=0.92`, `else`, `null`).
    pub level: String,
    /// m probability of that level.
    pub m: f64,
    /// u probability of that level.
    pub u: f64,
    /// log2(m/u) (0 for null).
    pub weight: f32,
    /// Term-frequency adjustment added to the weight (0 when none).
    pub tf_adjustment: f32,
}

/// Explanation of a score: prior, each field's weight, the rule that decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// log2 prior odds.
    pub prior_weight: f32,
    /// Per comparison.
    pub fields: Vec<FieldContribution>,
    /// Name of the deterministic rule that decided, if any.
    pub rule: Option<String>,
    /// The score.
    pub score: Score,
}

impl std::fmt::Display for Explanation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "prior {:+.2}", self.prior_weight)?;
        for c in &self.fields {
            writeln!(
                f,
                "{:<14} {:<22} {:+7.2}{}",
                c.field.name(),
                c.level,
                c.weight,
                if c.tf_adjustment != 0.0 {
                    format!(" (tf {:+.2})", c.tf_adjustment)
                } else {
                    String::new()
                }
            )?;
        }
        if let Some(r) = &self.rule {
            writeln!(f, "rule {r}")?;
        }
        write!(
            f,
            "total {:+.2} p={:.6} {:?}",
            self.score.weight, self.score.probability, self.score.verdict
        )
    }
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

fn default_mu(c: &Comparison) -> (Vec<f64>, Vec<f64>) {
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
    /// An untrained model with generic prior m/u values per level kind and field (a match agrees
    /// exactly on a field 85% of the time; u of an exact agreement ranges from 0.5 for sex to
    /// 1e-4 for SSN/phone/e-mail). Use [`FsModel::train`] (or [`crate::Linker`]) to fit
    /// it to real data.
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

    /// Per-field explanation of a pair's score.
    pub fn explain(
        &self,
        sa: &FeatureStore,
        ra: usize,
        sb: &FeatureStore,
        rb: usize,
    ) -> Explanation {
        let c = self.c();
        let mut lv = [NULL_LEVEL; 16];
        self.levels(sa, ra, sb, rb, &mut lv);
        let score = self.score(sa, ra, sb, rb);
        let fields = self
            .config
            .comparisons
            .iter()
            .enumerate()
            .map(|(k, cmp)| {
                let l = lv[k];
                let (m, u, w, tf) = if l == NULL_LEVEL {
                    (1.0, 1.0, 0.0, 0.0)
                } else {
                    let li = usize::from(l);
                    let tf = if l == 0 && c.tf[k] {
                        tf_adjust(c.u_exact[k], sa.cell(ra, c.cols[k]), sb.cell(rb, c.cols[k]))
                    } else {
                        0.0
                    };
                    (self.m[k][li], self.u[k][li], c.weights[k][li], tf)
                };
                FieldContribution {
                    field: cmp.field,
                    level: cmp.level_label(l),
                    m,
                    u,
                    weight: w,
                    tf_adjustment: tf,
                }
            })
            .collect();
        Explanation {
            prior_weight: c.prior_weight,
            fields,
            rule: score
                .rule
                .map(|i| self.config.rules[usize::from(i)].name.clone()),
            score,
        }
    }

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
