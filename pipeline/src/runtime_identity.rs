//! [`Pipeline`] methods for identity changes made outside a message (a reviewer's decision on a
//! POSSIBLE MATCH), enterprise queries that follow merges, and reprocessing the messages of a
//! time range with a stored profile version (issue 15 items 5 and 10).

use ehrkit_mapping::Profile;

use super::*;
use crate::stages::IdentityOutcome;
use crate::store::{
    DeadLetter, EnterprisePatient, InboxState, PossibleMatch, ReviewId, ReviewStatus, TimestampMs,
};

/// What [`Pipeline::reprocess_range`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReprocessReport {
    /// The profile version applied (name and version as stored).
    pub profile: Option<ProfileRef>,
    /// Messages of the range applied again with that profile (dead-lettered ones included).
    pub reprocessed: Vec<MessageId>,
    /// Open dead letters of the range whose message now applied with that profile: marked
    /// reprocessed (they leave the open dead letters).
    pub dead_letters_closed: Vec<DeadLetterId>,
    /// Messages of the range left alone, each with the reason.
    pub skipped: Vec<(MessageId, SkipReason)>,
    /// Messages that failed (each is a dead letter now, or still one), with the failure.
    pub failed: Vec<(MessageId, StageError)>,
}

impl ReprocessReport {
    /// How many messages were skipped for `reason`.
    pub fn skipped_for(&self, reason: SkipReason) -> usize {
        self.skipped.iter().filter(|(_, r)| *r == reason).count()
    }
}

/// Why [`Pipeline::reprocess_range`] left a message of the range alone. Names a kind only,
/// never content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// Kept and not applied yet: the normal path (its lane, or recovery at the next start)
    /// applies it with the profile active then.
    Pending,
    /// Its route uses another profile name.
    OtherProfile,
    /// The normalizer does not use a profile for this payload (FHIR JSON with the default
    /// normalizer: validated and stored as sent), so a profile version changes nothing.
    ProfileNotUsed,
    /// Its header no longer parses, or its sender no longer has a route (a parser or routing
    /// change since it was kept).
    NotRouted,
}

impl SkipReason {
    /// A stable name for logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::OtherProfile => "other-profile",
            Self::ProfileNotUsed => "profile-not-used",
            Self::NotRouted => "not-routed",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The audit event of an A37 applied to the MPI (keys and ids only).
pub(super) fn unlink_audit(id: MessageId, source: &str, outcome: &IdentityOutcome) -> AuditEvent {
    let ids: Vec<String> = outcome.moved.iter().map(|(_, e)| e.to_string()).collect();
    AuditEvent::new(AuditEventKind::Linked, "pipeline")
        .source(source.to_owned())
        .message(id)
        .detail(format!(
            "unlink: {} records moved to {}",
            outcome.moved.len(),
            ids.join(", ")
        ))
}

pub(super) fn identity_error(e: ehrkit_identity::Error) -> Error {
    Error::Stage(StageError::new(
        Stage::Identity,
        ErrorKind::Identity,
        e.to_string(),
    ))
}

impl Pipeline {
    /// Everything about one enterprise patient across sources ([`Store::patient_everything`]),
    /// following merges: a retired (merged) enterprise id answers with the survivor's content,
    /// and the answer's `enterprise_id` is the survivor's, so a caller sees it was redirected.
    pub async fn patient_everything(
        &self,
        enterprise_id: EnterpriseId,
        actor: &str,
    ) -> Result<EnterprisePatient, Error> {
        let eid = match self.index() {
            Some(ix) => ix.resolve(enterprise_id).map_err(identity_error)?,
            None => enterprise_id,
        };
        self.inner
            .store
            .patient_everything(eid, actor)
            .await
            .map_err(Error::Store)
    }

    /// Applies a reviewer's decision on a POSSIBLE MATCH and records it.
    ///
    /// * [`ReviewStatus::Linked`]: the two enterprise ids are merged (the older id survives,
    ///   the other resolves to it from now on, as after an A40); the moved records and the MPI
    ///   state are persisted ([`Store::save_links`]) and audited under `actor`, and
    ///   [`Pipeline::patient_everything`] of either id gives both records.
    /// * [`ReviewStatus::Distinct`]: the MPI is left as is; the decision is recorded, and the
    ///   store does not queue the same pair (in either direction) again.
    ///
    /// An item already resolved, or [`ReviewStatus::Open`] as a decision, is refused
    /// ([`ErrorKind::Invalid`]) and changes nothing.
    pub async fn resolve_review(
        &self,
        id: ReviewId,
        decision: ReviewStatus,
        actor: &str,
    ) -> Result<PossibleMatch, Error> {
        let invalid = |reason: &str| {
            Error::Stage(StageError::new(
                Stage::Identity,
                ErrorKind::Invalid,
                reason.to_owned(),
            ))
        };
        if decision == ReviewStatus::Open {
            return Err(invalid("a review decision is Linked or Distinct"));
        }
        let store = &self.inner.store;
        let item = store
            .possible_matches(false)
            .await
            .map_err(Error::Store)?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| {
                Error::Store(StoreError::NotFound {
                    what: "possible match",
                    id: id.to_string(),
                })
            })?;
        if item.status != ReviewStatus::Open {
            return Err(invalid("review item already resolved"));
        }
        if decision == ReviewStatus::Linked {
            self.link_reviewed(&item, actor).await?;
        }
        store
            .resolve_possible_match(id, decision, actor)
            .await
            .map_err(Error::Store)
    }

    async fn link_reviewed(&self, item: &PossibleMatch, actor: &str) -> Result<(), Error> {
        let ix = self.index().cloned().ok_or_else(|| {
            Error::Stage(StageError::new(
                Stage::Identity,
                ErrorKind::UnsupportedType,
                "the identity stage has no MPI to link in",
            ))
        })?;
        let a = ix
            .enterprise_id(&item.pair.source_key)
            .map_err(identity_error)?;
        let b = ix
            .enterprise_id(&item.pair.candidate_key)
            .map_err(identity_error)?;
        if a == b {
            return Ok(()); // linked in the meantime (a later MATCH, an A40)
        }
        let (survivor, retired) = if a < b { (a, b) } else { (b, a) };
        let moved = ix.members(retired).map_err(identity_error)?;
        let merge_id = ix.merge(survivor, retired).map_err(identity_error)?;
        let mut links = Vec::with_capacity(moved.len());
        for key in &moved {
            links.push(PatientLink {
                record: ix.record(key).map_err(identity_error)?,
                enterprise_id: survivor,
                source: String::new(), // the store keeps the record's source
            });
        }
        let state = mpi_state(&self.inner, true, false);
        let audit = vec![AuditEvent::new(AuditEventKind::Linked, actor.to_owned())
            .entity(survivor.to_string())
            .detail(format!(
                "review {}: merge {retired} into {survivor}, {} records moved",
                item.id,
                moved.len()
            ))];
        if let Err(e) = self.inner.store.save_links(links, state, audit).await {
            // Not persisted: undo it in memory too, so the MPI and the store agree.
            let _ = ix.unmerge(merge_id);
            let _ = mpi_state(&self.inner, true, false);
            return Err(Error::Store(e));
        }
        self.inner.stats.mpi("merge");
        let _ = self.inner.events.send(PipelineEvent::Merged {
            message_id: None,
            review: Some(item.id),
            survivor,
            moved: moved.len(),
        });
        Ok(())
    }

    /// Applies again, with the **active** stored version of profile `profile`
    /// ([`Store::active_profile`]), every message received in `from <= t < to` whose route
    /// uses that profile name: applied ones, and dead-lettered ones too (their open dead letter
    /// is marked reprocessed when the message now applies; a `deliver` dead letter is also
    /// delivered again to the sinks that failed). Resources are upserted by id, so nothing is
    /// duplicated: a resource whose content changes gets a new version whose lineage names the
    /// profile version; others are left as they are. To compare and roll back:
    /// [`Store::rollback_profile`] (or [`Store::activate_profile`]) and call this again.
    ///
    /// Left alone, each with its [`SkipReason`] in the report: messages still pending (the
    /// normal path applies them), messages the normalizer makes without a profile
    /// ([`Normalizer::uses_profile`]: FHIR JSON by default), messages routed to another
    /// profile or no longer routed.
    ///
    /// The stored body is the profile's TOML (`Profile::to_toml`) or JSON; its name and
    /// version are the stored ones. Failures go to the dead letters as usual and are listed.
    pub async fn reprocess_range(
        &self,
        from: TimestampMs,
        to: TimestampMs,
        profile: &str,
        actor: &str,
    ) -> Result<ReprocessReport, Error> {
        let inner = &self.inner;
        let stored = inner
            .store
            .active_profile(profile)
            .await
            .map_err(Error::Store)?
            .ok_or_else(|| {
                Error::Store(StoreError::NotFound {
                    what: "profile",
                    id: profile.to_owned(),
                })
            })?;
        let parsed = Profile::from_toml(&stored.body)
            .or_else(|_| Profile::from_json(&stored.body))
            .map_err(|e| {
                Error::Stage(StageError::new(
                    Stage::Route,
                    ErrorKind::Invalid,
                    format!(
                        "stored profile {} v{} does not parse: {e}",
                        stored.profile.name, stored.profile.version
                    ),
                ))
            })?
            .named(&stored.profile.name)
            .version(&stored.profile.version);
        let mut report = ReprocessReport {
            profile: Some(stored.profile.clone()),
            ..ReprocessReport::default()
        };
        let ids = inner
            .store
            .messages_received(from, to, usize::MAX / 2)
            .await
            .map_err(Error::Store)?;
        // Open dead letters by message: closed once their message applies.
        let mut open: HashMap<MessageId, DeadLetter> = HashMap::new();
        for d in inner.store.dead_letters(true).await.map_err(Error::Store)? {
            if let Some(mid) = d.failure.message_id {
                open.insert(mid, d);
            }
        }
        let mut routes: HashMap<String, Route> = HashMap::new();
        let mut waiting = Vec::new();
        for id in ids {
            let m = inner.store.message(id).await.map_err(Error::Store)?;
            let skip = if m.state == InboxState::Pending {
                Some(SkipReason::Pending)
            } else if !inner.normalizer.uses_profile(m.kind) {
                Some(SkipReason::ProfileNotUsed)
            } else {
                match inner
                    .parser
                    .header(m.kind, &m.payload, &m.source)
                    .and_then(|h| inner.router.route(&h.sender))
                {
                    Ok(r) if r.profile.name == stored.profile.name => None,
                    Ok(_) => Some(SkipReason::OtherProfile),
                    Err(_) => Some(SkipReason::NotRouted),
                }
            };
            if let Some(reason) = skip {
                report.skipped.push((id, reason));
                continue;
            }
            let route = routes
                .entry(m.source.clone())
                .or_insert_with(|| Route::new(m.source.clone(), parsed.clone()))
                .clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let (order_key, mut job) = kept_job(inner, m, ApplyMode::Reprocess, Some(tx));
            job.route = Some(route);
            self.enqueue(&order_key, job)
                .await
                .map_err(|_| Error::Closed)?;
            waiting.push((id, rx));
        }
        for (id, rx) in waiting {
            let result = match rx.await {
                Ok(r) => r,
                Err(_) => return Err(Error::Closed),
            };
            if let Err(e) = result {
                report.failed.push((id, e));
                continue;
            }
            let Some(dl) = open.get(&id) else {
                report.reprocessed.push(id);
                continue;
            };
            let closed = if dl.failure.stage == DELIVER_STAGE {
                redeliver(inner, dl.id, dl.failure.location.as_deref(), id, actor).await
            } else {
                close_dead_letter(inner, dl.id, actor).await
            };
            match closed {
                Ok(()) => {
                    report.reprocessed.push(id);
                    report.dead_letters_closed.push(dl.id);
                }
                Err(Error::Stage(e)) => report.failed.push((id, e)),
                Err(e) => return Err(e),
            }
        }
        tracing::info!(
            profile = %stored.profile.name,
            version = %stored.profile.version,
            reprocessed = report.reprocessed.len(),
            dead_letters_closed = report.dead_letters_closed.len(),
            skipped_pending = report.skipped_for(SkipReason::Pending),
            skipped_other_profile = report.skipped_for(SkipReason::OtherProfile),
            skipped_profile_not_used = report.skipped_for(SkipReason::ProfileNotUsed),
            skipped_not_routed = report.skipped_for(SkipReason::NotRouted),
            failed = report.failed.len(),
            actor,
            "time range reprocessed"
        );
        Ok(report)
    }
}
