//! The incremental Master Patient Index: add or update records, query ranked candidates, stable
//! enterprise IDs, merge/unmerge (HL7 v2 A40 semantics), serde persistence, shared across threads.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use super::blocking::{block, record_keys};
use super::features::FeatureStore;
use super::model::{FsModel, FsModelData, Score};
use super::record::PatientRecord;
use super::rules::Verdict;
use crate::Error;

/// An enterprise (person-level) identifier assigned by the index. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EnterpriseId(pub u64);

impl std::fmt::Display for EnterpriseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "E{:010}", self.0)
    }
}

/// A ranked candidate for a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchCandidate {
    /// Key of the candidate record.
    pub key: String,
    /// Its enterprise id.
    pub enterprise_id: EnterpriseId,
    /// The pair score.
    pub score: Score,
}

/// What happened when a record was added or updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Enterprise id of the record now.
    pub enterprise_id: EnterpriseId,
    /// True when a new enterprise id was created.
    pub created: bool,
    /// True when an existing record (same key) was updated; its enterprise id is kept.
    pub updated: bool,
    /// Candidates at POSSIBLE level that need human review (other enterprise ids).
    pub review: Vec<MatchCandidate>,
}

/// One merge, kept so it can be undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeEvent {
    /// Merge id.
    pub id: u64,
    /// Surviving enterprise id.
    pub survivor: EnterpriseId,
    /// Retired enterprise id.
    pub retired: EnterpriseId,
    /// Keys of the records moved from retired to survivor.
    pub moved: Vec<String>,
    /// True once undone.
    pub undone: bool,
}

/// Serializable state of an index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexSnapshot {
    /// The model.
    pub model: FsModel,
    /// Records with their enterprise ids.
    pub records: Vec<(PatientRecord, EnterpriseId)>,
    /// Next enterprise id number.
    pub next_eid: u64,
    /// Retired id → id it was merged into.
    pub retired: HashMap<EnterpriseId, EnterpriseId>,
    /// Merge history.
    pub merges: Vec<MergeEvent>,
}

/// [`IndexSnapshot`] as read by [`PatientIndex::from_json`]: the same JSON, with the model
/// read unchecked so that its checks give the crate's typed error rather than a serde message.
#[derive(Deserialize)]
struct SnapshotData {
    model: FsModelData,
    records: Vec<(PatientRecord, EnterpriseId)>,
    next_eid: u64,
    retired: HashMap<EnterpriseId, EnterpriseId>,
    merges: Vec<MergeEvent>,
}

#[derive(Debug)]
struct Inner {
    model: FsModel,
    /// Slot → current record.
    records: Vec<PatientRecord>,
    /// Slot → enterprise id.
    eids: Vec<EnterpriseId>,
    /// Slot → row in `features`.
    rows: Vec<u32>,
    features: FeatureStore,
    by_key: HashMap<String, u32>,
    /// (rule, key) → slots.
    blocks: HashMap<u64, Vec<u32>>,
    next_eid: u64,
    retired: HashMap<EnterpriseId, EnterpriseId>,
    merges: Vec<MergeEvent>,
}

/// The incremental MPI. All methods take `&self`; an internal `RwLock` makes it `Send + Sync`
/// (queries run in parallel, writes are exclusive). Share it with `Arc<PatientIndex>`.
#[derive(Debug)]
pub struct PatientIndex {
    inner: RwLock<Inner>,
}

fn block_slot_key(rule: usize, key: u64) -> u64 {
    key ^ (rule as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Inner {
    fn new(model: FsModel) -> Self {
        let fields = model.config.store_fields();
        Self {
            model,
            records: Vec::new(),
            eids: Vec::new(),
            rows: Vec::new(),
            features: FeatureStore::new(fields),
            by_key: HashMap::new(),
            blocks: HashMap::new(),
            next_eid: 1,
            retired: HashMap::new(),
            merges: Vec::new(),
        }
    }

    fn keys_of(&self, store: &FeatureStore, row: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut tmp = Vec::new();
        for (ri, rule) in self.model.config.blocking.iter().enumerate() {
            record_keys(store, row, rule, &mut tmp);
            out.extend(tmp.iter().map(|k| block_slot_key(ri, *k)));
        }
        out
    }

    fn query_store(&self, rec: &PatientRecord) -> FeatureStore {
        self.model.features(std::slice::from_ref(rec))
    }

    fn candidates(&self, q: &FeatureStore, exclude: Option<u32>) -> Vec<(u32, Score)> {
        let mut seen: HashSet<u32> = HashSet::new();
        let mut out = Vec::new();
        let keys = self.keys_of(q, 0);
        let max_block = self
            .model
            .config
            .blocking
            .iter()
            .map(|r| r.max_block_size)
            .max()
            .unwrap_or(5000);
        for k in keys {
            if let Some(slots) = self.blocks.get(&k) {
                if slots.len() > max_block {
                    continue;
                }
                for &s in slots {
                    if Some(s) == exclude || !seen.insert(s) {
                        continue;
                    }
                    let row = self.rows[s as usize] as usize;
                    let score = self.model.score(q, 0, &self.features, row);
                    out.push((s, score));
                }
            }
        }
        out.sort_by(|a, b| {
            b.1.verdict
                .cmp(&a.1.verdict)
                .then(b.1.weight.total_cmp(&a.1.weight))
        });
        out
    }

    fn insert_features(&mut self, slot: u32) {
        let row = self.features.push(&self.records[slot as usize]);
        self.model.apply_tf_from(&mut self.features, row);
        self.rows[slot as usize] = row as u32;
        for k in self.keys_of(&self.features, row) {
            let v = self.blocks.entry(k).or_default();
            if !v.contains(&slot) {
                v.push(slot);
            }
        }
    }

    fn remove_block_entries(&mut self, slot: u32) {
        let row = self.rows[slot as usize] as usize;
        for k in self.keys_of(&self.features, row) {
            if let Some(v) = self.blocks.get_mut(&k) {
                v.retain(|s| *s != slot);
            }
        }
    }

    fn resolve(&self, mut e: EnterpriseId) -> EnterpriseId {
        for _ in 0..1024 {
            match self.retired.get(&e) {
                Some(n) => e = *n,
                None => break,
            }
        }
        e
    }

    fn to_candidates(&self, c: Vec<(u32, Score)>, limit: usize) -> Vec<MatchCandidate> {
        c.into_iter()
            .take(limit)
            .map(|(s, score)| MatchCandidate {
                key: self.records[s as usize].key.clone(),
                enterprise_id: self.eids[s as usize],
                score,
            })
            .collect()
    }
}

impl PatientIndex {
    /// An empty index scoring with `model` (train one with [`crate::Linker`] on a
    /// sample, or call [`PatientIndex::retrain`] once records are loaded).
    ///
    /// Fails when the model's configuration is outside the limits or its m/u tables do not fit
    /// it ([`FsModel::validate`]), with the typed error.
    pub fn new(model: FsModel) -> Result<Self, Error> {
        model.validate()?;
        Ok(Self {
            inner: RwLock::new(Inner::new(model)),
        })
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>, Error> {
        self.inner.read().map_err(|_| Error::Poisoned)
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Inner>, Error> {
        self.inner.write().map_err(|_| Error::Poisoned)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.read().map_or(0, |i| i.records.len())
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a record, or updates the record with the same key (its enterprise id is kept).
    ///
    /// A new record joins the enterprise id of its best MATCH candidate, unless a deterministic
    /// rule says NO MATCH against any record of that id; otherwise it gets a new id. POSSIBLE
    /// candidates under other ids are returned for review.
    pub fn upsert(&self, rec: PatientRecord) -> Result<Assignment, Error> {
        if rec.key.is_empty() {
            return Err(Error::EmptyKey);
        }
        let mut g = self.write()?;
        let inner = &mut *g;
        if let Some(&slot) = inner.by_key.get(&rec.key) {
            let q = inner.query_store(&rec);
            inner.remove_block_entries(slot);
            inner.records[slot as usize] = rec;
            inner.insert_features(slot);
            let cands = inner.candidates(&q, Some(slot));
            let eid = inner.eids[slot as usize];
            let review = review_list(inner, cands, eid);
            return Ok(Assignment {
                enterprise_id: eid,
                created: false,
                updated: true,
                review,
            });
        }
        let q = inner.query_store(&rec);
        let cands = inner.candidates(&q, None);
        // Best eligible enterprise id.
        let mut vetoed: HashSet<EnterpriseId> = HashSet::new();
        for (s, sc) in &cands {
            if sc.rule.is_some() && sc.verdict == Verdict::NoMatch {
                vetoed.insert(inner.eids[*s as usize]);
            }
        }
        let chosen = cands
            .iter()
            .find(|(s, sc)| {
                sc.verdict == Verdict::Match && !vetoed.contains(&inner.eids[*s as usize])
            })
            .map(|(s, _)| inner.eids[*s as usize]);
        let (eid, created) = match chosen {
            Some(e) => (e, false),
            None => {
                let e = EnterpriseId(inner.next_eid);
                inner.next_eid += 1;
                (e, true)
            }
        };
        let slot = inner.records.len() as u32;
        inner.by_key.insert(rec.key.clone(), slot);
        inner.records.push(rec);
        inner.eids.push(eid);
        inner.rows.push(0);
        inner.insert_features(slot);
        let review = review_list(inner, cands, eid);
        tracing::debug!(%eid, created, "record indexed");
        Ok(Assignment {
            enterprise_id: eid,
            created,
            updated: false,
            review,
        })
    }

    /// Ranked candidates for a record (best first), at most `limit`, without changing the index.
    pub fn query(&self, rec: &PatientRecord, limit: usize) -> Result<Vec<MatchCandidate>, Error> {
        let g = self.read()?;
        let q = g.query_store(rec);
        let c = g.candidates(&q, None);
        Ok(g.to_candidates(c, limit))
    }

    /// Explanation of the score between a record and an indexed record.
    pub fn explain(
        &self,
        rec: &PatientRecord,
        key: &str,
    ) -> Result<super::model::Explanation, Error> {
        let g = self.read()?;
        let slot = *g
            .by_key
            .get(key)
            .ok_or_else(|| Error::UnknownKey(key.to_string()))?;
        let q = g.query_store(rec);
        Ok(g.model
            .explain(&q, 0, &g.features, g.rows[slot as usize] as usize))
    }

    /// Current enterprise id of a record (following merges).
    pub fn enterprise_id(&self, key: &str) -> Result<EnterpriseId, Error> {
        let g = self.read()?;
        let slot = *g
            .by_key
            .get(key)
            .ok_or_else(|| Error::UnknownKey(key.to_string()))?;
        Ok(g.eids[slot as usize])
    }

    /// Resolves a possibly retired enterprise id to the surviving one.
    pub fn resolve(&self, eid: EnterpriseId) -> Result<EnterpriseId, Error> {
        Ok(self.read()?.resolve(eid))
    }

    /// Keys of the records under an enterprise id (a retired id resolves to its survivor).
    pub fn members(&self, eid: EnterpriseId) -> Result<Vec<String>, Error> {
        let g = self.read()?;
        let e = g.resolve(eid);
        Ok(g.eids
            .iter()
            .enumerate()
            .filter(|(_, x)| **x == e)
            .map(|(s, _)| g.records[s].key.clone())
            .collect())
    }

    /// A copy of the record with this key.
    pub fn record(&self, key: &str) -> Result<PatientRecord, Error> {
        let g = self.read()?;
        let slot = *g
            .by_key
            .get(key)
            .ok_or_else(|| Error::UnknownKey(key.to_string()))?;
        Ok(g.records[slot as usize].clone())
    }

    /// Merges `retired` into `survivor` (HL7 v2 A40 "merge patient"): every record of `retired`
    /// moves to `survivor`, and `retired` resolves to `survivor` from now on. Returns the merge id
    /// for [`PatientIndex::unmerge`].
    pub fn merge(&self, survivor: EnterpriseId, retired: EnterpriseId) -> Result<u64, Error> {
        let mut g = self.write()?;
        if survivor == retired {
            return Err(Error::SelfMerge(survivor));
        }
        for e in [survivor, retired] {
            if g.retired.contains_key(&e) || !g.eids.contains(&e) {
                return Err(Error::UnknownEnterpriseId(e));
            }
        }
        let mut moved = Vec::new();
        for s in 0..g.eids.len() {
            if g.eids[s] == retired {
                g.eids[s] = survivor;
                moved.push(g.records[s].key.clone());
            }
        }
        g.retired.insert(retired, survivor);
        let id = g.merges.len() as u64 + 1;
        g.merges.push(MergeEvent {
            id,
            survivor,
            retired,
            moved,
            undone: false,
        });
        tracing::info!(%survivor, %retired, merge = id, "enterprise ids merged");
        Ok(id)
    }

    /// Undoes a merge: the records it moved that are still under the survivor go back to the
    /// retired id, which becomes active again.
    pub fn unmerge(&self, merge_id: u64) -> Result<(), Error> {
        let mut g = self.write()?;
        let Some(ev) = g
            .merges
            .iter()
            .find(|m| m.id == merge_id && !m.undone)
            .cloned()
        else {
            return Err(Error::UnknownMerge(merge_id));
        };
        let current = g.resolve(ev.survivor);
        for key in &ev.moved {
            if let Some(&s) = g.by_key.get(key) {
                if g.eids[s as usize] == current {
                    g.eids[s as usize] = ev.retired;
                }
            }
        }
        g.retired.remove(&ev.retired);
        if let Some(m) = g.merges.iter_mut().find(|m| m.id == merge_id) {
            m.undone = true;
        }
        tracing::info!(merge = merge_id, "merge undone");
        Ok(())
    }

    /// Moves one record to another enterprise id (link correction).
    pub fn move_record(&self, key: &str, to: EnterpriseId) -> Result<(), Error> {
        let mut g = self.write()?;
        let slot = *g
            .by_key
            .get(key)
            .ok_or_else(|| Error::UnknownKey(key.to_string()))?;
        let to = g.resolve(to);
        if !g.eids.contains(&to) {
            return Err(Error::UnknownEnterpriseId(to));
        }
        g.eids[slot as usize] = to;
        Ok(())
    }

    /// Gives a record a new enterprise id of its own (split); returns it.
    pub fn split_record(&self, key: &str) -> Result<EnterpriseId, Error> {
        let mut g = self.write()?;
        let slot = *g
            .by_key
            .get(key)
            .ok_or_else(|| Error::UnknownKey(key.to_string()))?;
        let e = EnterpriseId(g.next_eid);
        g.next_eid += 1;
        g.eids[slot as usize] = e;
        Ok(e)
    }

    /// Retrains the model on the indexed records (dedupe blocking + EM) and rebuilds features.
    /// Enterprise ids are not changed.
    pub fn retrain(&self) -> Result<(), Error> {
        let mut g = self.write()?;
        let inner = &mut *g;
        let mut store =
            FeatureStore::from_records(inner.model.config.store_fields(), &inner.records);
        let (cands, _) = block(&inner.model.config.blocking, &store, None);
        inner.model.train(&mut store, None, &cands);
        inner.features = store;
        inner.rows = (0..inner.records.len() as u32).collect();
        Ok(())
    }

    /// The current model.
    pub fn model(&self) -> Result<FsModel, Error> {
        Ok(self.read()?.model.clone())
    }

    /// A serializable snapshot (persist it with any serde format).
    pub fn snapshot(&self) -> Result<IndexSnapshot, Error> {
        let g = self.read()?;
        Ok(IndexSnapshot {
            model: g.model.clone(),
            records: g
                .records
                .iter()
                .cloned()
                .zip(g.eids.iter().copied())
                .collect(),
            next_eid: g.next_eid,
            retired: g.retired.clone(),
            merges: g.merges.clone(),
        })
    }

    /// Rebuilds an index from a snapshot (features and blocks are recomputed).
    pub fn from_snapshot(s: IndexSnapshot) -> Result<Self, Error> {
        s.model.validate()?;
        let mut inner = Inner::new(s.model);
        for (rec, eid) in s.records {
            if rec.key.is_empty() {
                return Err(Error::EmptyKey);
            }
            if eid.0 >= s.next_eid {
                return Err(Error::SnapshotEnterpriseId(eid));
            }
            let slot = inner.records.len() as u32;
            if inner.by_key.insert(rec.key.clone(), slot).is_some() {
                return Err(Error::SnapshotDuplicateKey(rec.key));
            }
            inner.records.push(rec);
            inner.eids.push(eid);
            inner.rows.push(0);
            inner.insert_features(slot);
        }
        inner.next_eid = s.next_eid;
        inner.retired = s.retired;
        inner.merges = s.merges;
        Ok(Self {
            inner: RwLock::new(inner),
        })
    }

    /// Serializes the index to JSON.
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(&self.snapshot()?).map_err(|e| Error::snapshot_json(&e))
    }

    /// Loads an index from [`PatientIndex::to_json`] output.
    ///
    /// Malformed JSON is [`Error::SnapshotJson`] (with its position); a model outside the
    /// configuration limits, or whose m/u tables do not fit its configuration, is the typed
    /// error of that check ([`Error::ComparisonCount`], [`Error::ModelShape`], …), as from
    /// [`PatientIndex::from_snapshot`].
    pub fn from_json(s: &str) -> Result<Self, Error> {
        let d: SnapshotData = serde_json::from_str(s).map_err(|e| Error::snapshot_json(&e))?;
        Self::from_snapshot(IndexSnapshot {
            model: FsModel::try_from(d.model)?,
            records: d.records,
            next_eid: d.next_eid,
            retired: d.retired,
            merges: d.merges,
        })
    }
}

fn review_list(inner: &Inner, cands: Vec<(u32, Score)>, eid: EnterpriseId) -> Vec<MatchCandidate> {
    let keep: Vec<(u32, Score)> = cands
        .into_iter()
        .filter(|(s, sc)| inner.eids[*s as usize] != eid && sc.verdict != Verdict::NoMatch)
        .collect();
    inner.to_candidates(keep, 20)
}
