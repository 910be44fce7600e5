//! The whole flow on this machine: three EHR feeds over MLLP and one FHIR export, through the
//! ehrkit pipeline into one unified store.
//!
//! ```text
//! cargo run --example pipeline [-- --store DIR]
//! ```
//!
//! Bundled data (`examples/data/pipeline_*`): an Epic-style ADT feed, an Oracle Health
//! (Cerner)-style ORU feed and a Veradigm (TouchWorks)-style SIU feed, each replayed over its own
//! MLLP connection to an in-process listener, and an athenahealth-style FHIR NDJSON export read
//! as a file source. The same people appear in several systems under different identifiers,
//! with name, date-format and address variants; the Oracle feed holds one malformed message and
//! the Epic feed one resend of a message whose ACK was "lost". `pipeline_truth.csv` says who is
//! who.
//!
//! Output: what happened stage by stage (ingestion and ACKs, normalization, identity, store),
//! the unified patients (enterprise id → source identifiers per system), the dead letters and
//! duplicates, audit and metric totals, and as the LAST LINE one JSON object with the store's
//! totals: `{"received":N,"duplicates":N,"dead_letter":N,"resources":N,"source_patients":N,
//! "enterprise_patients":N,"possible_matches":N}`. `--store DIR` keeps the store in DIR
//! (default: a fresh temporary directory); running again on the same store applies nothing
//! twice: every message is recognized as a duplicate and `resources` is unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use ehrkit::mllp::Client;
use ehrkit::pipeline::routing::builtin_profile;
use ehrkit::pipeline::source::{files, mllp};
use ehrkit::pipeline::store::{Accepted, AuditVerification, SqliteOptions, SqliteStore, Store};
use ehrkit::pipeline::{Pipeline, PipelineEvent, RoutingTable};

/// The end-to-end pipeline on bundled data: v2 feeds over MLLP and a FHIR export → parse →
/// profile → convert → identity → unified store; prints each stage and, last, the store's
/// totals as one JSON line.
#[derive(Parser)]
#[command(name = "pipeline")]
struct Args {
    /// Keep the store in this directory (created when missing); default: a fresh temporary one.
    #[arg(long)]
    store: Option<PathBuf>,
}

/// The bundled v2 feeds: (file, the EHR it imitates).
const FEEDS: [(&str, &str); 3] = [
    ("pipeline_epic_adt.hl7", "Epic (ADT)"),
    ("pipeline_oracle_oru.hl7", "Oracle Health (ORU)"),
    ("pipeline_veradigm_siu.hl7", "Veradigm (SIU)"),
];

/// The FHIR export and the source name it is kept under.
const FHIR_EXPORT: (&str, &str) = ("pipeline_athena_export.ndjson", "athena-export");

fn routing() -> RoutingTable {
    RoutingTable::new()
        .sender("EPIC", None, "epic-adt", builtin_profile("epic"))
        .sender("HNAM", None, "oracle-oru", builtin_profile("oracle_health"))
        .sender(
            "TouchWorks",
            None,
            "veradigm-siu",
            builtin_profile("veradigm"),
        )
        .endpoint(FHIR_EXPORT.1, builtin_profile("athenahealth"))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("pipeline: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let _tmp;
    let dir = match args.store {
        Some(d) => d,
        None => {
            let t = tempfile::tempdir()?;
            let p = t.path().to_owned();
            _tmp = t;
            p
        }
    };
    std::fs::create_dir_all(&dir)?;
    let store = Arc::new(SqliteStore::open(
        dir.join("store.db"),
        SqliteOptions::default(),
    )?);
    let pipeline = Pipeline::builder(store.clone() as Arc<dyn Store>)
        .router(routing())
        .start()
        .await?;
    let mut events = pipeline.events();
    let collector = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Ok(e) = events.recv().await {
            all.push(e);
        }
        all
    });

    // 1. Ingestion: one MLLP connection per EHR feed, all at once; the FHIR export as files.
    let server = mllp::bind(pipeline.clone(), "127.0.0.1:0", "mllp").await?;
    let addr = server.local_addr().to_string();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let mut senders = Vec::new();
    for (file, ehr) in FEEDS {
        let bytes = std::fs::read(data.join(file))?;
        let addr = addr.clone();
        senders.push(tokio::spawn(async move {
            let mut client = Client::builder(addr).build();
            let mut acks = Vec::new();
            for raw in files::split_v2(&bytes) {
                let ack = client.send(&raw).await;
                acks.push(match ack {
                    Ok(a) => (
                        a.control_id.clone(),
                        a.code.as_str().to_owned(),
                        a.text.clone().unwrap_or_default(),
                    ),
                    Err(e) => (String::from("?"), "no ACK".into(), e.to_string()),
                });
            }
            client.close().await;
            (ehr, file, acks)
        }));
    }
    let mut acked = Vec::new();
    for s in senders {
        acked.push(s.await?);
    }
    let fhir = files::ingest_file(&pipeline, &data.join(FHIR_EXPORT.0), FHIR_EXPORT.1).await?;
    pipeline.drain().await;
    server.shutdown().await;
    let summary = pipeline.summary().await?;
    let stats = pipeline.stats();
    let index = pipeline.index().cloned();
    pipeline.shutdown().await;
    drop(pipeline);
    let events = collector.await?;

    println!("ehrkit pipeline: store {}", dir.join("store.db").display());
    println!("\n== 1. Ingestion: MLLP on {addr} (ACK only after the store kept the message) and a FHIR export");
    let received: BTreeMap<_, _> = events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::Received {
                message_id,
                source,
                message_type,
                ..
            } => Some((message_id.0, (source.clone(), message_type.clone()))),
            _ => None,
        })
        .collect();
    for (ehr, file, acks) in &acked {
        println!("{ehr} ({file}): {} messages", acks.len());
        for (id, code, text) in acks {
            let note = if text.is_empty() {
                String::new()
            } else {
                format!("  {text}")
            };
            println!("  {id:<24} ACK {code}{note}");
        }
    }
    println!(
        "athenahealth export ({}): {} resources kept, {} refused",
        FHIR_EXPORT.0,
        fhir.submitted.len(),
        fhir.refused.len()
    );
    for s in &fhir.submitted {
        println!("  {:<24} {}", s.message_type, describe(&s.accepted));
    }

    println!("\n== 2. Normalization (profile per sender, v2 → FHIR R4, FHIR validated)");
    for e in &events {
        if let PipelineEvent::Converted {
            message_id,
            profile,
            resources,
            unmapped,
        } = e
        {
            let (source, t) = received.get(&message_id.0).cloned().unwrap_or_default();
            println!("  {message_id:<6} {source:<14} {t:<10} profile {profile:<20} {resources} resources, {unmapped} report entries");
        }
    }

    println!(
        "\n== 3. Identity (MPI: every source patient upserted; MATCH linked, POSSIBLE queued)"
    );
    for e in &events {
        if let PipelineEvent::Linked {
            message_id,
            key,
            enterprise_id,
            outcome,
            possible,
        } = e
        {
            let p = if *possible > 0 {
                format!(", {possible} possible match(es) queued")
            } else {
                String::new()
            };
            println!(
                "  {message_id:<6} {key:<52} → enterprise {:<4} ({outcome}{p})",
                enterprise_id.0
            );
        }
    }

    println!("\n== 4. Store (one transaction per message: resources, links, lineage, audit)");
    for e in &events {
        if let PipelineEvent::Stored {
            message_id,
            written,
            unchanged,
            ..
        } = e
        {
            println!(
                "  {message_id:<6} {written} resource versions written, {unchanged} unchanged"
            );
        }
    }

    println!("\n== Unified patients (enterprise id → source identifiers per system)");
    if let Some(index) = &index {
        let snap = index.snapshot()?;
        let mut by_eid: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (rec, eid) in &snap.records {
            by_eid
                .entry(index.resolve(*eid)?.0)
                .or_default()
                .push(rec.key.clone());
        }
        for (eid, mut keys) in by_eid {
            keys.sort();
            let sources = store
                .source_patients(ehrkit::identity::EnterpriseId(eid))
                .await?;
            let shown: Vec<String> = keys
                .iter()
                .map(|k| {
                    let src = sources
                        .iter()
                        .find(|s| &s.key == k)
                        .map(|s| s.source.as_str())
                        .unwrap_or("?");
                    format!("{src}: {k}")
                })
                .collect();
            println!("  enterprise {eid:<4} {}", shown.join("  |  "));
        }
    }
    let review = store.possible_matches(true).await?;
    for r in &review {
        println!(
            "  possible match R{}: {} (enterprise {}) ~ {} (enterprise {}), weight {:.1}: queued for review",
            r.id.0, r.pair.source_key, r.pair.enterprise_id.0, r.pair.candidate_key, r.pair.candidate_enterprise_id.0, r.pair.weight
        );
    }

    println!("\n== Dead letters (stage, kind, location, attempts, reason; never message content)");
    let dead = store.dead_letters(true).await?;
    if dead.is_empty() {
        println!("  none");
    }
    for d in &dead {
        let f = &d.failure;
        let m = f.message_id.map(|m| m.to_string()).unwrap_or_default();
        let (source, t) = f
            .message_id
            .and_then(|m| received.get(&m.0).cloned())
            .unwrap_or_default();
        println!(
            "  DL{} {m} {source} {t}: stage {} kind {} at {} after {} attempt(s): {}",
            d.id.0,
            f.stage,
            f.error_kind,
            f.location.as_deref().unwrap_or("-"),
            f.attempts,
            f.reason
        );
    }

    println!("\n== Duplicates (resends recognized; nothing applied twice)");
    let mut dups = 0;
    for e in &events {
        if let PipelineEvent::Received {
            message_id,
            source,
            message_type,
            accepted: Accepted::Duplicate(_),
        } = e
        {
            dups += 1;
            if dups <= 10 {
                println!(
                    "  {source} {message_type}: resend of {message_id}, ACKed, not applied again"
                );
            }
        }
    }
    if dups > 10 {
        println!("  ... {} more", dups - 10);
    }
    if dups == 0 {
        println!("  none");
    }

    println!("\n== Audit trail (hash-chained)");
    let audit = store.audit_entries(0, usize::MAX / 2).await?;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &audit {
        *kinds.entry(a.event.kind.as_str()).or_default() += 1;
    }
    let verify = match store.verify_audit().await? {
        AuditVerification::Intact { rows, .. } => format!("intact ({rows} rows)"),
        other => format!("{other:?}"),
    };
    println!(
        "  {} events: {}; chain {verify}",
        audit.len(),
        kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    println!("\n== Metrics (this run)");
    println!(
        "  received {}, duplicates {}, ACK {}, NAK {}, applied {}, dead letters {}, resource versions written {}, MPI new {} / match {} / possible {}",
        stats.received,
        stats.duplicates,
        stats.acks,
        stats.naks,
        stats.processed,
        stats.dead_letters,
        stats.resources_written,
        stats.mpi_new,
        stats.mpi_match,
        stats.mpi_possible
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

fn describe(a: &Accepted) -> String {
    match a {
        Accepted::New(id) => format!("kept as {id}"),
        Accepted::Duplicate(id) => format!("duplicate of {id}"),
        Accepted::ControlIdReused { id, original } => {
            format!("kept as {id}, reuses the key of {original}")
        }
        _ => format!("{a:?}"),
    }
}
