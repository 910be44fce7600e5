//! A long-running integration hub built only from ehrkit's public API: MLLP in, the unified
//! store (SQLite) durable before every ACK, per-patient ordered processing, dead letters,
//! optional NDJSON output and Prometheus metrics.
//!
//! ```text
//! cargo run --release --example hub -- --listen 127.0.0.1:2575 --store DIR \
//!     [--routing FILE.toml] [--ndjson DIR] [--metrics 127.0.0.1:9100]
//! cargo run --release --example hub -- --store DIR --summary
//! ```
//!
//! Prints `hub: listening on ADDR` once it accepts connections. SIGINT or SIGTERM: stops
//! accepting, finishes (and ACKs) the messages in flight, applies what is queued, prints the
//! store's summary JSON and exits 0. Killed hard, nothing ACKed is lost: on the next start the
//! messages kept but not yet applied are applied. `--summary` prints the store's totals as one
//! JSON object (`{"received":N,"duplicates":N,"dead_letter":N,"resources":N,
//! "source_patients":N,"enterprise_patients":N,"possible_matches":N}`) and exits.
//!
//! ## As N processes on Kafka and PostgreSQL
//!
//! ```text
//! # receivers: MLLP in, append to <prefix>-Inbound (acks=all), ACK once the broker has it
//! hub --role receiver --listen 0.0.0.0:2575 --kafka kafka1:9092 [--topic-prefix ehr]
//! # processors: one consumer group; convert, resolve identity (shared MPI), store
//! hub --role processor --kafka kafka1:9092 --group ehrkit-hub --postgres postgres://ehrkit@db/ehrkit
//! hub --postgres postgres://ehrkit@db/ehrkit --summary
//! ```
//!
//! `--role all` (the default) runs both in one process: without `--kafka` that is the
//! single-process hub above (MLLP straight into the store), unchanged. `--postgres URL` puts the
//! store on PostgreSQL (`PgStore`) and the MPI too (`PgMpiResolver`, shared by every processor)
//! instead of `--store DIR`. A processor prints `hub: processing TOPIC in group GROUP` once it
//! consumes. `--kafka` needs the `kafka` feature and `--postgres` the `postgres` feature
//! (`cargo run --release --features kafka,postgres --example hub -- ...`); without them the
//! flags are refused with that advice. Topics (`<prefix>-Inbound`, `-Inbound-Retry`,
//! `-Inbound-Error`) are created by the operator, with at least as many partitions as
//! processors (see pipeline/README.md, "Deployment on Kafka and PostgreSQL").

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ehrkit::pipeline::monitor::HealthRules;
use ehrkit::pipeline::sink::NdjsonSink;
use ehrkit::pipeline::source::mllp;
use ehrkit::pipeline::store::{SqliteOptions, SqliteStore, Store};
use ehrkit::pipeline::{Pipeline, RoutingTable};

type BoxError = Box<dyn std::error::Error>;

/// What this process does.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
enum Role {
    /// MLLP in, append to the inbound topic, ACK once the broker has it (needs --kafka).
    Receiver,
    /// Consume the inbound topic in the consumer group and process into the store (needs
    /// --kafka).
    Processor,
    /// Both in one process (without --kafka: the single-process hub).
    All,
}

/// An MLLP integration hub over the ehrkit pipeline (commit-before-ACK, SQLite store).
#[derive(Parser)]
#[command(name = "hub")]
struct Args {
    /// Address to listen on for MLLP.
    #[arg(long, default_value = "127.0.0.1:2575")]
    listen: String,
    /// Store directory (the SQLite file is DIR/store.db); not with --postgres.
    #[arg(long)]
    store: Option<PathBuf>,
    /// What this process does.
    #[arg(long, value_enum, default_value_t = Role::All)]
    role: Role,
    /// Kafka bootstrap servers (`host:port,...`): receivers append, processors consume
    /// (feature `kafka`).
    #[arg(long, value_name = "BOOTSTRAP")]
    kafka: Option<String>,
    /// Topic prefix: `<prefix>-Inbound`, `-Inbound-Retry`, `-Inbound-Error`.
    #[arg(long, default_value = "ehr")]
    topic_prefix: String,
    /// Consumer group of the processors (one per deployment).
    #[arg(long, default_value = "ehrkit-hub")]
    group: String,
    /// PostgreSQL URL: the store (PgStore) and the shared MPI (PgMpiResolver) live there
    /// (feature `postgres`).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Routing table (TOML); default: every sender to the generic profile.
    #[arg(long)]
    routing: Option<PathBuf>,
    /// Also write every stored resource version to DIR/<Type>.ndjson.
    #[arg(long)]
    ndjson: Option<PathBuf>,
    /// Serve Prometheus metrics (GET /metrics) on this address.
    #[arg(long)]
    metrics: Option<String>,
    /// Print the store's summary JSON and exit.
    #[arg(long)]
    summary: bool,
    /// Ordered lanes (messages of one patient share a lane).
    #[arg(long, default_value_t = 16)]
    lanes: usize,
    /// Messages waiting per lane before ACKs wait.
    #[arg(long, default_value_t = ehrkit::pipeline::PipelineBuilder::DEFAULT_QUEUE_CAPACITY)]
    queue: usize,
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("hub: {e}");
        std::process::exit(1);
    }
}

fn needs_feature(flag: &str, feature: &str) -> BoxError {
    format!(
        "{flag} needs the `{feature}` feature: cargo run --release --features {feature} --example hub -- ..."
    )
    .into()
}

/// The store: PostgreSQL with --postgres, else SQLite in --store DIR.
async fn open_store(args: &Args) -> Result<Arc<dyn Store>, BoxError> {
    if let Some(url) = &args.postgres {
        #[cfg(feature = "postgres")]
        {
            use ehrkit::pipeline::store::{PgOptions, PgStore};
            if args.store.is_some() {
                return Err("--store and --postgres exclude each other".into());
            }
            return Ok(Arc::new(PgStore::connect(url, PgOptions::default()).await?));
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = url;
            return Err(needs_feature("--postgres", "postgres"));
        }
    }
    let dir = args
        .store
        .as_ref()
        .ok_or("--store DIR (or --postgres URL) is required")?;
    std::fs::create_dir_all(dir)?;
    Ok(Arc::new(SqliteStore::open(
        dir.join("store.db"),
        SqliteOptions::default(),
    )?))
}

/// The pipeline of a processing role, with the shared MPI when the store is PostgreSQL.
async fn pipeline(args: &Args, store: Arc<dyn Store>) -> Result<Pipeline, BoxError> {
    let router = match &args.routing {
        Some(f) => RoutingTable::from_file(f)?,
        None => RoutingTable::accept_all(ehrkit::mapping::Profile::generic()),
    };
    let mut builder = Pipeline::builder(store)
        .router(router)
        .lanes(args.lanes)
        .queue_capacity(args.queue)
        .health_rules(HealthRules::default());
    if let Some(dir) = &args.ndjson {
        builder = builder.sink(NdjsonSink::new(dir)?);
    }
    #[cfg(feature = "postgres")]
    if let Some(url) = &args.postgres {
        let mpi = ehrkit::pipeline::identity_pg::PgMpiResolver::connect(url).await?;
        // A database restart takes seconds: keep retrying a message (identity, apply) for
        // about a minute rather than dead-lettering it.
        builder = builder.identity(mpi).retry(ehrkit::pipeline::RetryPolicy {
            max_attempts: 40,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        });
    }
    Ok(builder.start().await?)
}

async fn run(args: Args) -> Result<(), BoxError> {
    let stop = shutdown_signal();
    if args.kafka.is_none() && args.role != Role::All {
        let role = args
            .role
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        return Err(format!("--role {role} needs --kafka BOOTSTRAP").into());
    }
    if args.kafka.is_some() && cfg!(not(feature = "kafka")) {
        return Err(needs_feature("--kafka", "kafka"));
    }
    if args.postgres.is_some() && cfg!(not(feature = "postgres")) {
        return Err(needs_feature("--postgres", "postgres"));
    }
    if args.summary {
        let store = open_store(&args).await?;
        println!("{}", serde_json::to_string(&store.summary().await?)?);
        return Ok(());
    }
    if let Some(addr) = &args.metrics {
        ehrkit::pipeline::monitor::install_prometheus(addr)?;
        eprintln!("hub: metrics on http://{addr}/metrics");
    }
    #[cfg(feature = "kafka")]
    if let Some(bootstrap) = args.kafka.clone() {
        return scaled::run(args, bootstrap, stop).await;
    }
    let store = open_store(&args).await?;
    let pipeline = pipeline(&args, store).await?;
    let server = mllp::bind(pipeline.clone(), &args.listen, "mllp").await?;
    println!("hub: listening on {}", server.local_addr());

    let health = {
        let pipeline = pipeline.clone();
        let stats = server.stats_handle();
        tokio::spawn(async move {
            let mut drops_seen = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let s = stats.snapshot();
                pipeline.set_connections_open(s.connections_open);
                let drops = s.timeouts + s.frame_errors + s.budget_closes;
                if drops > drops_seen {
                    pipeline
                        .counters()
                        .connection_drop("abnormal_close", drops - drops_seen);
                    drops_seen = drops;
                }
                pipeline.health();
            }
        })
    };

    stop.await;
    eprintln!("hub: shutting down (finishing messages in flight)");
    health.abort();
    server.shutdown().await;
    pipeline.shutdown().await;
    eprintln!(
        "hub: {}",
        serde_json::to_string(&pipeline.summary().await?)?
    );
    Ok(())
}

/// The roles on Kafka: receivers and processors joined by the inbound topic.
#[cfg(feature = "kafka")]
mod scaled {
    use super::*;
    use ehrkit::mllp::Server;
    use ehrkit::pipeline::eventlog::{
        receiver_handler, run_processor, EventLog, KafkaConfig, KafkaLog, ProcessorConfig,
        ProcessorStats, Topics,
    };
    use ehrkit::pipeline::stages::DefaultParser;

    /// Runs the processor until `stop`; a log error (broker unreachable) ends the group
    /// membership, which is joined again a second later: uncommitted records are redelivered
    /// and the store recognizes what it already kept.
    async fn process(
        log: Arc<dyn EventLog>,
        topics: Topics,
        pipeline: Pipeline,
        group: String,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<ProcessorStats, String> {
        let mut total = ProcessorStats::default();
        loop {
            let mut until = stop.clone();
            let r = run_processor(
                log.clone(),
                topics.clone(),
                pipeline.clone(),
                ProcessorConfig::new(group.clone()),
                async move {
                    let _ = until.wait_for(|s| *s).await;
                },
            )
            .await;
            match r {
                Ok(s) => {
                    total.kept += s.kept;
                    total.refused += s.refused;
                    total.store_pauses += s.store_pauses;
                    return Ok(total);
                }
                Err(e) => {
                    eprintln!("hub: event log error, joining the group again in 1 s: {e}");
                    if *stop.borrow() {
                        return Ok(total);
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    pub(super) async fn run(
        args: Args,
        bootstrap: String,
        stop: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), BoxError> {
        tokio::pin!(stop);
        let log: Arc<dyn EventLog> = Arc::new(KafkaLog::new(KafkaConfig::new(bootstrap))?);
        let topics = Topics::new(args.topic_prefix.clone());
        let receive = matches!(args.role, Role::Receiver | Role::All);
        let processes = matches!(args.role, Role::Processor | Role::All);

        let mut processing = None;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if processes {
            let store = open_store(&args).await?;
            let pipeline = pipeline(&args, store).await?;
            let task = tokio::spawn(process(
                log.clone(),
                topics.clone(),
                pipeline.clone(),
                args.group.clone(),
                stop_rx.clone(),
            ));
            println!(
                "hub: processing {} in group {}",
                topics.inbound(),
                args.group
            );
            processing = Some((pipeline, task));
        }
        let server = if receive {
            let server = Server::builder()
                .max_connections(4096)
                .build(receiver_handler(
                    log.clone(),
                    topics.clone(),
                    Arc::new(DefaultParser::default()),
                    "mllp",
                ))
                .bind(&args.listen)
                .await?;
            println!("hub: listening on {}", server.local_addr());
            Some(server)
        } else {
            None
        };

        // Until a signal, or until the processor stops on its own (the log failed for good).
        let failed = match processing.as_mut() {
            Some((_, task)) => tokio::select! {
                () = &mut stop => None,
                r = task => Some(r),
            },
            None => {
                stop.await;
                None
            }
        };
        eprintln!("hub: shutting down (finishing messages in flight)");
        if let Some(server) = server {
            server.shutdown().await;
        }
        let _ = stop_tx.send(true);
        if let Some((pipeline, task)) = processing {
            let stats = match failed {
                Some(r) => r,
                None => task.await,
            };
            pipeline.shutdown().await;
            eprintln!(
                "hub: {}",
                serde_json::to_string(&pipeline.summary().await?)?
            );
            match stats {
                Ok(Ok(s)) => eprintln!(
                    "hub: processor kept {} records, refused {}, paused {} times on store errors",
                    s.kept, s.refused, s.store_pauses
                ),
                Ok(Err(e)) => return Err(e.into()),
                Err(e) => return Err(format!("processor task: {e}").into()),
            }
        }
        Ok(())
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: call it before announcing `listening`, so that a signal sent
/// right after that line is a graceful shutdown, never the default (killed by the signal).
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
