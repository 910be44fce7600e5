//! A store wrapper that injects I/O failures, for the runtime's bad-input tests (a full disk
//! must become a NAK or a retried dead letter, never a panic or a lost message).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use ehrkit_identity::{EnterpriseId, IndexSnapshot};

use super::*;

/// Which operations fail, shared between a test and its [`FaultInjectingStore`]; change it
/// at any time.
#[derive(Debug, Default)]
pub struct FaultPlan {
    fail_accept: AtomicBool,
    fail_apply: AtomicBool,
    fail_writes: AtomicBool,
    fail_next_writes: AtomicU64,
    injected: AtomicU64,
}

impl FaultPlan {
    /// A plan that injects nothing.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Makes every [`Store::accept`] fail (or stop failing).
    pub fn fail_accept(&self, on: bool) {
        self.fail_accept.store(on, Ordering::SeqCst);
    }

    /// Makes every [`Store::apply`] fail (or stop failing).
    pub fn fail_apply(&self, on: bool) {
        self.fail_apply.store(on, Ordering::SeqCst);
    }

    /// Makes every write (accept, apply, dead letters, MPI, profiles, audit) fail: a full disk.
    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Makes the next `n` writes fail, then succeed again.
    pub fn fail_next_writes(&self, n: u64) {
        self.fail_next_writes.store(n, Ordering::SeqCst);
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    fn check(&self, op: &'static str, specific: &AtomicBool) -> StoreResult<()> {
        let countdown = self
            .fail_next_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if countdown || specific.load(Ordering::SeqCst) || self.fail_writes.load(Ordering::SeqCst) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Io {
                op,
                kind: std::io::ErrorKind::StorageFull,
                source: Arc::new(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "injected: no space left on device",
                )),
            });
        }
        Ok(())
    }

    fn write(&self, op: &'static str) -> StoreResult<()> {
        static NEVER: AtomicBool = AtomicBool::new(false);
        self.check(op, &NEVER)
    }
}

/// Wraps any [`Store`]; writes fail with [`StoreError::Io`] (`StorageFull`) as its
/// [`FaultPlan`] says, reads pass through. A failed write does not reach the inner store, so
/// nothing of it is kept, as with a real failed commit.
///
/// ```
/// use ehrkit_pipeline::store::{FaultInjectingStore, FaultPlan, SqliteStore, SqliteOptions};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let plan = FaultPlan::new();
/// let store = FaultInjectingStore::new(
///     SqliteStore::open(dir.path().join("store.db"), SqliteOptions::default())?,
///     plan.clone(),
/// );
/// plan.fail_writes(true); // the disk is full from now on
/// # drop(store);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FaultInjectingStore<S> {
    inner: S,
    plan: Arc<FaultPlan>,
}

impl<S: Store> FaultInjectingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, plan: Arc<FaultPlan>) -> Self {
        Self { inner, plan }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<FaultPlan> {
        &self.plan
    }
}

#[async_trait]
impl<S: Store> Store for FaultInjectingStore<S> {
    async fn accept(&self, msg: InboundMessage) -> StoreResult<Accepted> {
        self.plan.check("accept", &self.plan.fail_accept)?;
        self.inner.accept(msg).await
    }
    async fn pending(&self, limit: usize) -> StoreResult<Vec<InboxMessage>> {
        self.inner.pending(limit).await
    }
    async fn message(&self, id: MessageId) -> StoreResult<InboxMessage> {
        self.inner.message(id).await
    }
    async fn apply(&self, batch: ApplyBatch) -> StoreResult<Applied> {
        self.plan.check("apply", &self.plan.fail_apply)?;
        self.inner.apply(batch).await
    }
    async fn dead_letter(&self, failure: NewDeadLetter) -> StoreResult<DeadLetterId> {
        self.plan.write("dead_letter")?;
        self.inner.dead_letter(failure).await
    }
    async fn dead_letters(&self, open_only: bool) -> StoreResult<Vec<DeadLetter>> {
        self.inner.dead_letters(open_only).await
    }
    async fn dead_letter_by_id(&self, id: DeadLetterId) -> StoreResult<DeadLetter> {
        self.inner.dead_letter_by_id(id).await
    }
    async fn mark_reprocessed(&self, id: DeadLetterId, actor: &str) -> StoreResult<()> {
        self.plan.write("mark_reprocessed")?;
        self.inner.mark_reprocessed(id, actor).await
    }
    async fn load_mpi(&self) -> StoreResult<Option<IndexSnapshot>> {
        self.inner.load_mpi().await
    }
    async fn save_mpi(&self, snapshot: IndexSnapshot) -> StoreResult<()> {
        self.plan.write("save_mpi")?;
        self.inner.save_mpi(snapshot).await
    }
    async fn possible_matches(&self, open_only: bool) -> StoreResult<Vec<PossibleMatch>> {
        self.inner.possible_matches(open_only).await
    }
    async fn resolve_possible_match(
        &self,
        id: ReviewId,
        status: ReviewStatus,
        actor: &str,
    ) -> StoreResult<PossibleMatch> {
        self.plan.write("resolve_possible_match")?;
        self.inner.resolve_possible_match(id, status, actor).await
    }
    async fn save_links(
        &self,
        links: Vec<PatientLink>,
        state: Option<MpiState>,
        audit: Vec<AuditEvent>,
    ) -> StoreResult<()> {
        self.plan.write("save_links")?;
        self.inner.save_links(links, state, audit).await
    }
    async fn messages_received(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        limit: usize,
    ) -> StoreResult<Vec<MessageId>> {
        self.inner.messages_received(from, to, limit).await
    }
    async fn save_profile(&self, profile: ProfileRef, body: String) -> StoreResult<()> {
        self.plan.write("save_profile")?;
        self.inner.save_profile(profile, body).await
    }
    async fn profile_versions(&self, name: &str) -> StoreResult<Vec<StoredProfile>> {
        self.inner.profile_versions(name).await
    }
    async fn profile(&self, profile: &ProfileRef) -> StoreResult<StoredProfile> {
        self.inner.profile(profile).await
    }
    async fn active_profile(&self, name: &str) -> StoreResult<Option<StoredProfile>> {
        self.inner.active_profile(name).await
    }
    async fn activate_profile(&self, profile: &ProfileRef) -> StoreResult<()> {
        self.plan.write("activate_profile")?;
        self.inner.activate_profile(profile).await
    }
    async fn rollback_profile(&self, name: &str) -> StoreResult<StoredProfile> {
        self.plan.write("rollback_profile")?;
        self.inner.rollback_profile(name).await
    }
    async fn patient_everything(
        &self,
        enterprise_id: EnterpriseId,
        actor: &str,
    ) -> StoreResult<EnterprisePatient> {
        self.inner.patient_everything(enterprise_id, actor).await
    }
    async fn resources_by_type(
        &self,
        resource_type: &str,
        since: Option<TimestampMs>,
        limit: usize,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>> {
        self.inner
            .resources_by_type(resource_type, since, limit, actor)
            .await
    }
    async fn resource(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Option<StoredResource>> {
        self.inner.resource(resource_type, id, actor).await
    }
    async fn resource_history(
        &self,
        resource_type: &str,
        id: &str,
        actor: &str,
    ) -> StoreResult<Vec<StoredResource>> {
        self.inner.resource_history(resource_type, id, actor).await
    }
    async fn lineage(&self, message_id: MessageId) -> StoreResult<Vec<LineageEntry>> {
        self.inner.lineage(message_id).await
    }
    async fn source_patients(
        &self,
        enterprise_id: EnterpriseId,
    ) -> StoreResult<Vec<SourcePatient>> {
        self.inner.source_patients(enterprise_id).await
    }
    async fn append_audit(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        self.plan.write("append_audit")?;
        self.inner.append_audit(events).await
    }
    async fn audit_entries(&self, from_seq: i64, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        self.inner.audit_entries(from_seq, limit).await
    }
    async fn verify_audit(&self) -> StoreResult<AuditVerification> {
        self.inner.verify_audit().await
    }
    async fn summary(&self) -> StoreResult<Summary> {
        self.inner.summary().await
    }
}
