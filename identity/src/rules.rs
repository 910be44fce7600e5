//! Deterministic match rules, configurable as data (in the spirit of HAPI FHIR MDM rules).
//!
//! Rules are evaluated in order before the probabilistic score is used; the first rule whose
//! condition holds decides the verdict. The default list puts the safety rule first: two records
//! holding *different* identifiers from the same assigning authority are never the same patient,
//! whatever the demographics; then the same identifier value in the same authority is a match.

use serde::{Deserialize, Serialize};

use super::features::{hash_bytes, Field, IdKey};
use super::normalize;

/// Outcome classes of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not the same patient.
    NoMatch,
    /// Needs human review.
    PossibleMatch,
    /// Same patient; may be linked automatically.
    Match,
}

/// A condition over a pair of records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Condition {
    /// Both records hold an identifier with the same authority, type and value. `authority` /
    /// `id_type` restrict which identifiers count (`None` = any).
    SameIdentifier {
        /// Assigning authority to consider, or any.
        #[serde(default)]
        authority: Option<String>,
        /// Identifier type to consider, or any.
        #[serde(default)]
        id_type: Option<String>,
    },
    /// For some authority (and type) both records hold identifiers, but none in common.
    ConflictingIdentifier {
        /// Assigning authority to consider, or any.
        #[serde(default)]
        authority: Option<String>,
        /// Identifier type to consider, or any.
        #[serde(default)]
        id_type: Option<String>,
    },
    /// Every listed field is present on both sides and agrees exactly (first comparison level).
    FieldsExact {
        /// The fields.
        fields: Vec<Field>,
    },
    /// Every listed field is present on both sides and falls in the last ("else") level.
    FieldsDisagree {
        /// The fields.
        fields: Vec<Field>,
    },
    /// All sub-conditions hold.
    All {
        /// Sub-conditions.
        of: Vec<Condition>,
    },
    /// At least one sub-condition holds.
    Any {
        /// Sub-conditions.
        of: Vec<Condition>,
    },
    /// The sub-condition does not hold.
    Not {
        /// Sub-condition.
        of: Box<Condition>,
    },
}

/// A named rule: when the condition holds, the verdict is final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeterministicRule {
    /// Name shown in explanations.
    pub name: String,
    /// Condition.
    pub when: Condition,
    /// Verdict when it holds.
    pub verdict: Verdict,
}

impl DeterministicRule {
    /// The default rule list, in order:
    ///
    /// 1. `identifier-conflict`: different identifiers within one authority (and type) → NO MATCH;
    /// 2. `same-identifier`: the same identifier within one authority → MATCH;
    /// 3. `twin-guard`: same family name and birth date, given names unrelated (not even
    ///    nickname/phonetic/similar) and SSNs unrelated (beyond two edits), both present
    ///    → NO MATCH (twins, triplets); see [`DeterministicRule::twin_review`] for a stricter
    ///    rule when SSNs are missing or near-equal (twins often hold consecutive numbers);
    /// 4. `generation-guard`: birth dates unrelated (beyond typo, transposition or a year) and
    ///    SSNs unrelated, both present → NO MATCH (Jr/Sr at the same address).
    pub fn defaults() -> Vec<Self> {
        use Condition::{All, FieldsDisagree, FieldsExact};
        vec![
            Self {
                name: "identifier-conflict".into(),
                when: Condition::ConflictingIdentifier {
                    authority: None,
                    id_type: None,
                },
                verdict: Verdict::NoMatch,
            },
            Self {
                name: "same-identifier".into(),
                when: Condition::SameIdentifier {
                    authority: None,
                    id_type: None,
                },
                verdict: Verdict::Match,
            },
            Self {
                name: "twin-guard".into(),
                when: All {
                    of: vec![
                        FieldsDisagree {
                            fields: vec![Field::GivenName, Field::Ssn],
                        },
                        FieldsExact {
                            fields: vec![Field::FamilyName, Field::BirthDate],
                        },
                    ],
                },
                verdict: Verdict::NoMatch,
            },
            Self {
                name: "generation-guard".into(),
                when: FieldsDisagree {
                    fields: vec![Field::BirthDate, Field::Ssn],
                },
                verdict: Verdict::NoMatch,
            },
        ]
    }

    /// Optional stricter twin rule (not in the defaults): same family name and birth date with
    /// unrelated given names and an SSN that is not exactly equal (or missing) → POSSIBLE MATCH,
    /// so a human reviews it. Put it after [`DeterministicRule::defaults`]. On FEBRL4 it sends
    /// about 0.5% of the true links to review, because FEBRL's synthetic errors replace whole
    /// given names.
    pub fn twin_review() -> Self {
        use Condition::{All, FieldsDisagree, FieldsExact, Not};
        Self {
            name: "twin-review".into(),
            when: All {
                of: vec![
                    FieldsDisagree {
                        fields: vec![Field::GivenName],
                    },
                    FieldsExact {
                        fields: vec![Field::FamilyName, Field::BirthDate],
                    },
                    Not {
                        of: Box::new(FieldsExact {
                            fields: vec![Field::Ssn],
                        }),
                    },
                ],
            },
            verdict: Verdict::PossibleMatch,
        }
    }

    /// Whether the rule needs identifiers (and can be skipped when a side has none).
    pub(crate) fn needs_ids(&self) -> bool {
        self.when.needs_ids()
    }
}

impl Condition {
    fn needs_ids(&self) -> bool {
        match self {
            Condition::SameIdentifier { .. } | Condition::ConflictingIdentifier { .. } => true,
            Condition::All { of } => of.iter().any(Condition::needs_ids),
            _ => false,
        }
    }
}

/// Rule evaluation context for one pair.
pub(crate) struct PairFacts<'a> {
    pub ids_a: &'a [IdKey],
    pub ids_b: &'a [IdKey],
    /// Comparison level per comparison column (`NULL_LEVEL` when missing).
    pub levels: &'a [u8],
    /// Field of each comparison and its "else" level index.
    pub fields: &'a [(Field, u8)],
}

/// Level code for "value missing on a side".
pub(crate) const NULL_LEVEL: u8 = 15;

fn filter_hash(s: &Option<String>) -> Option<u64> {
    s.as_ref()
        .map(|v| hash_bytes(normalize::fold(v).as_bytes()))
}

impl Condition {
    pub(crate) fn eval(&self, f: &PairFacts<'_>) -> bool {
        match self {
            Condition::SameIdentifier { authority, id_type } => {
                let (fa, ft) = (filter_hash(authority), filter_hash(id_type));
                let ok = |k: &IdKey| fa.is_none_or(|h| h == k.0) && ft.is_none_or(|h| h == k.1);
                f.ids_a
                    .iter()
                    .filter(|k| ok(k))
                    .any(|k| f.ids_b.contains(k))
            }
            Condition::ConflictingIdentifier { authority, id_type } => {
                let (fa, ft) = (filter_hash(authority), filter_hash(id_type));
                let ok = |k: &IdKey| fa.is_none_or(|h| h == k.0) && ft.is_none_or(|h| h == k.1);
                // For each (authority, type) present on both sides: conflict when no value shared.
                f.ids_a.iter().filter(|k| ok(k)).any(|ka| {
                    let same_ns: Vec<&IdKey> = f
                        .ids_b
                        .iter()
                        .filter(|kb| kb.0 == ka.0 && kb.1 == ka.1)
                        .collect();
                    !same_ns.is_empty()
                        && !f
                            .ids_a
                            .iter()
                            .filter(|x| x.0 == ka.0 && x.1 == ka.1)
                            .any(|x| same_ns.iter().any(|y| y.2 == x.2))
                })
            }
            Condition::FieldsExact { fields } => fields.iter().all(|fl| {
                f.fields
                    .iter()
                    .position(|(x, _)| x == fl)
                    .is_some_and(|i| f.levels[i] == 0)
            }),
            Condition::FieldsDisagree { fields } => fields.iter().all(|fl| {
                f.fields
                    .iter()
                    .position(|(x, _)| x == fl)
                    .is_some_and(|i| f.levels[i] == f.fields[i].1)
            }),
            Condition::All { of } => of.iter().all(|c| c.eval(f)),
            Condition::Any { of } => of.iter().any(|c| c.eval(f)),
            Condition::Not { of } => !of.eval(f),
        }
    }
}

/// Evaluates rules in order; returns the index of the first that fires.
pub(crate) fn first_firing(rules: &[DeterministicRule], f: &PairFacts<'_>) -> Option<usize> {
    let have_ids = !f.ids_a.is_empty() && !f.ids_b.is_empty();
    rules
        .iter()
        .position(|r| (have_ids || !r.needs_ids()) && r.when.eval(f))
}
