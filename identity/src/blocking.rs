//! Blocking: which record pairs are compared at all. Several rules are unioned; each rule is a
//! conjunction of key parts (a field, optionally transformed). A pair is a candidate when its two
//! records share the key of at least one rule.

use serde::{Deserialize, Serialize};

use super::features::{hash_bytes, Cell, FeatureStore, Field};

/// How a field value becomes (part of) a blocking key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyTransform {
    /// The normalized value.
    #[default]
    Exact,
    /// The primary Double Metaphone key.
    Phonetic,
    /// The first `len` bytes of the normalized value.
    Prefix {
        /// Number of leading bytes.
        len: u8,
    },
    /// The year of a date (first four characters).
    Year,
}

/// One part of a blocking key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockKey {
    /// The field.
    pub field: Field,
    /// The transform (default exact).
    #[serde(default)]
    pub transform: KeyTransform,
}

impl BlockKey {
    /// Exact value of a field.
    pub fn exact(field: Field) -> Self {
        Self {
            field,
            transform: KeyTransform::Exact,
        }
    }
    /// Field with a transform.
    pub fn with(field: Field, transform: KeyTransform) -> Self {
        Self { field, transform }
    }
}

/// A blocking rule: records agree on every key part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockingRule {
    /// Name used in reports.
    pub name: String,
    /// Key parts, all of which must agree.
    pub keys: Vec<BlockKey>,
    /// Blocks with more records than this on either side are skipped (and counted in the report).
    #[serde(default = "default_max_block")]
    pub max_block_size: usize,
}

fn default_max_block() -> usize {
    5_000
}

impl BlockingRule {
    /// A rule over these key parts with the default maximum block size.
    pub fn new(name: &str, keys: Vec<BlockKey>) -> Self {
        Self {
            name: name.to_string(),
            keys,
            max_block_size: default_max_block(),
        }
    }

    /// Whether the rule uses this field.
    pub fn uses(&self, f: Field) -> bool {
        self.keys.iter().any(|k| k.field == f)
    }
}

/// Pair counts of one blocking rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// Rule name.
    pub name: String,
    /// Pairs the rule generates on its own (before the union).
    pub pairs: u64,
    /// Pairs the rule adds that no earlier rule generated.
    pub new_pairs: u64,
    /// Blocks skipped for exceeding `max_block_size`.
    pub skipped_blocks: u64,
}

/// Candidate-pair counts of a blocking run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockingReport {
    /// Per rule, in order.
    pub rules: Vec<RuleCount>,
    /// Unique candidate pairs after the union.
    pub candidate_pairs: u64,
    /// All possible pairs (n·m for a link, n·(n-1)/2 for a dedupe).
    pub comparison_space: u64,
}

impl BlockingReport {
    /// Fraction of the comparison space removed by blocking.
    pub fn reduction_ratio(&self) -> f64 {
        if self.comparison_space == 0 {
            return 0.0;
        }
        1.0 - self.candidate_pairs as f64 / self.comparison_space as f64
    }
}

/// Candidate pairs: `(row in left store, row in right store)`, sorted and unique, with the bit set
/// of the rules that generated each pair.
#[derive(Debug, Clone, Default)]
pub struct CandidatePairs {
    /// The pairs (for a dedupe, `left < right` rows of the one store).
    pub pairs: Vec<(u32, u32)>,
    /// Per pair: bit `r` set when rule `r` generated it.
    pub rule_masks: Vec<u32>,
}

fn part_hash(store: &FeatureStore, c: &Cell, t: KeyTransform) -> u64 {
    if c.null {
        return 0;
    }
    let text = store.text(c);
    match t {
        KeyTransform::Exact => c.hash,
        KeyTransform::Phonetic => u64::from(c.ph1),
        KeyTransform::Prefix { len } => hash_bytes(&text[..text.len().min(usize::from(len))]),
        KeyTransform::Year => hash_bytes(&text[..text.len().min(4)]),
    }
}

/// The blocking keys of one record under one rule (several when alternates exist; at most 8).
pub(crate) fn record_keys(
    store: &FeatureStore,
    row: usize,
    rule: &BlockingRule,
    out: &mut Vec<u64>,
) {
    out.clear();
    out.push(0x9e37_79b9_7f4a_7c15);
    for k in &rule.keys {
        let Some(col) = store.fields.iter().position(|f| *f == k.field) else {
            out.clear();
            return;
        };
        let c = store.cell(row, col);
        if c.null {
            out.clear();
            return;
        }
        let mut parts: Vec<u64> = vec![part_hash(store, c, k.transform)];
        for a in store.alts_of(c) {
            let h = part_hash(store, a, k.transform);
            if h != 0 && !parts.contains(&h) {
                parts.push(h);
            }
        }
        parts.retain(|h| *h != 0);
        if parts.is_empty() {
            out.clear();
            return;
        }
        let prev = std::mem::take(out);
        for p in prev {
            for h in &parts {
                if out.len() < 8 {
                    out.push((p ^ h).wrapping_mul(0x0100_0000_01b3).rotate_left(29) | 1);
                }
            }
        }
    }
}

fn keyed_rows(store: &FeatureStore, rule: &BlockingRule) -> Vec<(u64, u32)> {
    let mut v = Vec::with_capacity(store.len());
    let mut keys = Vec::new();
    for row in 0..store.len() {
        record_keys(store, row, rule, &mut keys);
        for k in &keys {
            v.push((*k, row as u32));
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Generates candidate pairs between two stores (`right = None` dedupes `left`).
pub fn block(
    rules: &[BlockingRule],
    left: &FeatureStore,
    right: Option<&FeatureStore>,
) -> (CandidatePairs, BlockingReport) {
    let mut tagged: Vec<(u64, u32)> = Vec::new(); // (pair, rule)
    let mut counts = Vec::new();
    for (ri, rule) in rules.iter().enumerate().take(32) {
        let mut generated = 0u64;
        let mut skipped = 0u64;
        let lk = keyed_rows(left, rule);
        match right {
            None => {
                for g in lk.chunk_by(|x, y| x.0 == y.0) {
                    if g.len() > rule.max_block_size {
                        skipped += 1;
                        continue;
                    }
                    for i in 0..g.len() {
                        for j in i + 1..g.len() {
                            let (a, b) = (g[i].1.min(g[j].1), g[i].1.max(g[j].1));
                            tagged.push(((u64::from(a) << 32) | u64::from(b), ri as u32));
                            generated += 1;
                        }
                    }
                }
            }
            Some(r) => {
                let rk = keyed_rows(r, rule);
                let (mut i, mut j) = (0, 0);
                while i < lk.len() && j < rk.len() {
                    match lk[i].0.cmp(&rk[j].0) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => {
                            let key = lk[i].0;
                            let ie = lk[i..].iter().take_while(|x| x.0 == key).count() + i;
                            let je = rk[j..].iter().take_while(|x| x.0 == key).count() + j;
                            if ie - i > rule.max_block_size || je - j > rule.max_block_size {
                                skipped += 1;
                            } else {
                                for a in &lk[i..ie] {
                                    for b in &rk[j..je] {
                                        tagged.push((
                                            (u64::from(a.1) << 32) | u64::from(b.1),
                                            ri as u32,
                                        ));
                                        generated += 1;
                                    }
                                }
                            }
                            i = ie;
                            j = je;
                        }
                    }
                }
            }
        }
        counts.push(RuleCount {
            name: rule.name.clone(),
            pairs: generated,
            new_pairs: 0,
            skipped_blocks: skipped,
        });
    }
    tagged.sort_unstable();
    let mut out = CandidatePairs::default();
    for g in tagged.chunk_by(|x, y| x.0 == y.0) {
        let p = g[0].0;
        let mut mask = 0u32;
        for (_, r) in g {
            mask |= 1 << r;
        }
        // Credit the first rule that generated the pair (duplicates within a rule come from
        // alternates and are collapsed here).
        counts[mask.trailing_zeros() as usize].new_pairs += 1;
        out.pairs.push(((p >> 32) as u32, p as u32));
        out.rule_masks.push(mask);
    }
    let n = left.len() as u64;
    let space = match right {
        None => n * n.saturating_sub(1) / 2,
        Some(r) => n * r.len() as u64,
    };
    let report = BlockingReport {
        rules: counts,
        candidate_pairs: out.pairs.len() as u64,
        comparison_space: space,
    };
    (out, report)
}
