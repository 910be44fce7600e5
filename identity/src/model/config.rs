//! Matching configuration: comparison levels per field, thresholds, training options, and the
//! default general-demographics setup.

use serde::{Deserialize, Serialize};

use crate::blocking::{BlockKey, BlockingRule, KeyTransform};
use crate::error::{MAX_BLOCKING_RULES, MAX_COMPARISONS, MAX_EDITS, MAX_LEVELS};
use crate::features::Field;
use crate::rules::{DeterministicRule, NULL_LEVEL};
use crate::Error;

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

    /// Sets whether exact agreement is term-frequency adjusted (a common value such as
    /// `smith` then weighs less than a rare one).
    pub fn tf_adjust(mut self, on: bool) -> Self {
        self.tf_adjust = on;
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
        Self::new(field, levels).tf_adjust(true)
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
            Comparison::text(City).tf_adjust(true),
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

    /// Checks the limits the model relies on and returns the first problem found.
    ///
    /// [`FsModel`](crate::FsModel) deserialization and
    /// [`PatientIndex::from_json`](crate::PatientIndex::from_json) run this check, so a loaded
    /// configuration outside the limits is an error rather than a panic while scoring.
    pub fn validate(&self) -> Result<(), Error> {
        let count = self.comparisons.len();
        if count == 0 || count > MAX_COMPARISONS {
            return Err(Error::ComparisonCount { count });
        }
        for (index, c) in self.comparisons.iter().enumerate() {
            if c.levels.len() > MAX_LEVELS {
                return Err(Error::LevelCount {
                    index,
                    field: c.field,
                    levels: c.levels.len(),
                });
            }
            for l in &c.levels {
                if let Level::Levenshtein { max } | Level::Damerau { max } = *l {
                    if max > MAX_EDITS {
                        return Err(Error::EditDistance {
                            index,
                            field: c.field,
                            max,
                        });
                    }
                }
            }
        }
        if self.blocking.len() > MAX_BLOCKING_RULES {
            return Err(Error::BlockingRuleCount {
                count: self.blocking.len(),
            });
        }
        let t = self.thresholds;
        if !(0.0..=1.0).contains(&t.possible_probability)
            || !(0.0..=1.0).contains(&t.match_probability)
            || t.possible_probability > t.match_probability
        {
            return Err(Error::Thresholds {
                possible_probability: t.possible_probability,
                match_probability: t.match_probability,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        MatchConfig::default().validate().unwrap();
    }

    #[test]
    fn validate_names_each_limit() {
        let ok = MatchConfig::default();
        let mut c = ok.clone();
        c.comparisons.clear();
        assert!(matches!(
            c.validate(),
            Err(Error::ComparisonCount { count: 0 })
        ));
        let mut c = ok.clone();
        c.comparisons[2].levels = vec![Level::Exact; 15];
        assert!(matches!(
            c.validate(),
            Err(Error::LevelCount {
                index: 2,
                field: Field::BirthDate,
                levels: 15
            })
        ));
        let mut c = ok.clone();
        c.comparisons[3].levels.push(Level::Levenshtein { max: 33 });
        assert!(matches!(
            c.validate(),
            Err(Error::EditDistance {
                index: 3,
                max: 33,
                ..
            })
        ));
        let mut c = ok.clone();
        c.blocking = vec![c.blocking[0].clone(); 33];
        assert!(matches!(
            c.validate(),
            Err(Error::BlockingRuleCount { count: 33 })
        ));
        let mut c = ok;
        c.thresholds.possible_probability = 0.99;
        assert!(matches!(c.validate(), Err(Error::Thresholds { .. })));
    }

    #[test]
    fn level_labels_and_store_fields() {
        let c = Comparison::name(Field::GivenName);
        assert_eq!(c.level_count(), 6);
        assert_eq!(c.level_label(0), "exact");
        assert_eq!(c.level_label(1), "nickname");
        assert_eq!(c.level_label(2), "jaro_winkler>=0.92");
        assert_eq!(c.level_label(5), "else");
        assert_eq!(c.level_label(NULL_LEVEL), "null");
        assert!(!Comparison::name(Field::FamilyName)
            .levels
            .contains(&Level::Nickname));
        assert!(
            !Comparison::exact(Field::Sex)
                .tf_adjust(true)
                .tf_adjust(false)
                .tf_adjust
        );
        // Comparison fields first, then fields used only for blocking, each once.
        let cfg = MatchConfig {
            comparisons: vec![Comparison::exact(Field::Ssn)],
            blocking: vec![
                BlockingRule::new("a", vec![BlockKey::exact(Field::Postcode)]),
                BlockingRule::new(
                    "b",
                    vec![
                        BlockKey::exact(Field::Ssn),
                        BlockKey::exact(Field::Postcode),
                    ],
                ),
            ],
            ..MatchConfig::default()
        };
        assert_eq!(cfg.store_fields(), vec![Field::Ssn, Field::Postcode]);
    }
}
