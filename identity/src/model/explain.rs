//! Scores and their per-field explanations.

use serde::{Deserialize, Serialize};

use super::{tf_adjust, FsModel};
use crate::features::{FeatureStore, Field};
use crate::rules::{Verdict, NULL_LEVEL};

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

impl FsModel {
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
}

#[cfg(test)]
mod tests {
    use crate::{FsModel, MatchConfig, PatientRecord, Verdict};

    #[test]
    fn explanation_lists_every_comparison_and_adds_up() {
        let model = FsModel::untrained(MatchConfig::default());
        let a = PatientRecord::builder("A")
            .name("Smith", "Robert")
            .birth_date_str("1970-03-14")
            .build();
        let b = PatientRecord::builder("B")
            .name("Smith", "Bob")
            .birth_date_str("1970-03-14")
            .build();
        let s = model.features(&[a, b]);
        let e = model.explain(&s, 0, &s, 1);
        assert_eq!(e.fields.len(), model.config.comparisons.len());
        let sum: f32 = e.prior_weight
            + e.fields
                .iter()
                .map(|f| f.weight + f.tf_adjustment)
                .sum::<f32>();
        assert!(
            (sum - e.score.weight).abs() < 1e-3,
            "{sum} vs {}",
            e.score.weight
        );
        assert_eq!(e.fields[0].level, "nickname");
        assert_eq!(e.fields[3].level, "null", "no SSN on either side");
        let text = e.to_string();
        assert!(text.starts_with("prior "));
        assert!(text.contains("given_name     nickname"), "{text}");
        assert!(text.ends_with(&format!("{:?}", e.score.verdict)));
        assert_ne!(e.score.verdict, Verdict::NoMatch);
    }
}
