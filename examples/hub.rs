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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ehrkit::pipeline::monitor::HealthRules;
use ehrkit::pipeline::sink::NdjsonSink;
use ehrkit::pipeline::source::mllp;
use ehrkit::pipeline::store::{SqliteOptions, SqliteStore, Store};
use ehrkit::pipeline::{Pipeline, RoutingTable};

/// An MLLP integration hub over the ehrkit pipeline (commit-before-ACK, SQLite store).
#[derive(Parser)]
#[command(name = "hub")]
struct Args {
    /// Address to listen on for MLLP.
    #[arg(long, default_value = "127.0.0.1:2575")]
    listen: String,
    /// Store directory (the SQLite file is DIR/store.db).
    #[arg(long)]
    store: PathBuf,
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
    #[arg(long, default_value_t = 4096)]
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

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&args.store)?;
    let store = Arc::new(SqliteStore::open(
        args.store.join("store.db"),
        SqliteOptions::default(),
    )?);
    if args.summary {
        println!("{}", serde_json::to_string(&store.summary().await?)?);
        return Ok(());
    }
    if let Some(addr) = &args.metrics {
        ehrkit::pipeline::monitor::install_prometheus(addr)?;
        eprintln!("hub: metrics on http://{addr}/metrics");
    }
    let router = match &args.routing {
        Some(f) => RoutingTable::from_file(f)?,
        None => RoutingTable::accept_all(ehrkit::mapping::Profile::generic()),
    };
    let mut builder = Pipeline::builder(store.clone() as Arc<dyn Store>)
        .router(router)
        .lanes(args.lanes)
        .queue_capacity(args.queue)
        .health_rules(HealthRules::default());
    if let Some(dir) = &args.ndjson {
        builder = builder.sink(NdjsonSink::new(dir)?);
    }
    let pipeline = builder.start().await?;
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

    shutdown_signal().await;
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

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
