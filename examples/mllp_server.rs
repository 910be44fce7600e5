//! An MLLP listener that stores every message before acknowledging it.
//!
//! ```text
//! cargo run --example mllp_server --features mllp-tokio -- --listen 127.0.0.1:2575 --out DIR
//! ```
//!
//! Each accepted message is written to
//! `DIR/<sending app>_<sending facility>_<control ID>_<key hash>.hl7`, where the readable parts
//! are the first components of MSH-3 and MSH-4 and MSH-10 (bytes other than ASCII letters,
//! digits, `-` and `.` percent-encoded, each part shortened to a bounded length) and
//! `<key hash>` is the SHA-256 (first 128 bits, hex) of `Incoming::dedup_key`: the *whole*
//! sending application, facility and control ID. So distinct senders never share a file (even
//! when they differ only after the first component, `EPIC^1.2.840.1^ISO` and
//! `EPIC^1.2.840.2^ISO`), and the name stays short whatever the lengths of the fields (a
//! 90-character control ID is stored like any other). The file is written to a unique
//! temporary name, synced to disk, then renamed, and only then ACKed with AA/CA; a failed
//! write is answered with AR so the sender retries. A retransmitted message overwrites its own
//! file, so storage is idempotent under MLLP's at-least-once delivery. Ctrl-C shuts down
//! gracefully.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Parser;
use ehrkit::mllp::{ErrorCode, HandlerError, Incoming, Server};
use sha2::{Digest, Sha256};

/// An MLLP listener that stores every message in DIR before acknowledging it.
#[derive(Parser)]
#[command(name = "mllp_server")]
struct Args {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2575")]
    listen: String,
    /// Directory the messages are stored in (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Makes a name part file-system safe: ASCII letters, digits, `-` and `.` stay, every other
/// byte becomes `%XX` (so `_`, the separator, and `/` never appear). A leading `.` is encoded
/// too (no hidden files, no `..`). At most `max` bytes are kept (the hash in the name keeps
/// shortened parts distinct).
fn clean(s: &str, max: usize) -> String {
    if s.is_empty() {
        return "%".into();
    }
    let mut c = String::with_capacity(s.len().min(max));
    for (i, b) in s.bytes().enumerate() {
        let piece = if b.is_ascii_alphanumeric() || b == b'-' || (b == b'.' && i > 0) {
            (b as char).to_string()
        } else {
            format!("%{b:02X}")
        };
        if c.len() + piece.len() > max {
            break;
        }
        c.push_str(&piece);
    }
    c
}

/// The file name of a message: readable parts, then a hash of the whole dedup key.
fn file_name(m: &Incoming) -> String {
    let app = m.sending_application.split('^').next().unwrap_or("");
    let fac = m.sending_facility.split('^').next().unwrap_or("");
    let digest = Sha256::digest(m.dedup_key().as_bytes());
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}_{}_{}_{hash}.hl7",
        clean(app, 32),
        clean(fac, 32),
        clean(&m.control_id, 64)
    )
}

fn store(dir: &Path, m: &Incoming) -> std::io::Result<PathBuf> {
    let path = dir.join(file_name(m));
    // A unique temporary name: a retransmission may arrive on another connection while the
    // first copy is still being written.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "hl7.{}.{}.part",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&m.payload)?;
    f.sync_all()?; // on disk before the ACK says the sender may forget it
    drop(f);
    std::fs::rename(&tmp, &path)?;
    // Make the rename itself durable (directories can be synced on Unix; elsewhere skip).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

#[tokio::main]
async fn main() {
    let Args { listen, out } = Args::parse();
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("cannot create {}: {e}", out.display());
        std::process::exit(1);
    }
    let out = Arc::new(out);
    let server = Server::builder().build(move |m: Incoming| {
        let out = out.clone();
        async move {
            let msg = m.clone();
            let stored = tokio::task::spawn_blocking(move || store(&out, &msg)).await;
            match stored {
                Ok(Ok(path)) => {
                    println!(
                        "{} {} {} {} -> {}",
                        m.peer,
                        m.sending_application,
                        m.message_type,
                        m.control_id,
                        path.display()
                    );
                    Ok(())
                }
                _ => {
                    eprintln!("{} could not be stored; answering AR", m.control_id);
                    Err(HandlerError::reject(
                        ErrorCode::ApplicationInternalError,
                        "message could not be stored",
                    ))
                }
            }
        }
    });
    let handle = match server.bind(&listen).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {} (Ctrl-C to stop)", handle.local_addr());
    let _ = tokio::signal::ctrl_c().await;
    let stats = handle.stats_handle();
    handle.shutdown().await;
    let s = stats.snapshot();
    println!(
        "stopped: {} messages, {} accepted, {} NAKs, {} connections",
        s.messages, s.accepted, s.naks, s.connections_accepted
    );
}
