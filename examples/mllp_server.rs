//! An MLLP listener that stores every message before acknowledging it.
//!
//! ```text
//! cargo run --example mllp_server --features mllp-tokio -- --listen 127.0.0.1:2575 --out DIR
//! ```
//!
//! Each accepted message is written to `DIR/<sending app>_<sending facility>_<control ID>.hl7`
//! (bytes other than ASCII letters, digits, `-` and `.` percent-encoded, so distinct senders and
//! IDs never share a file; written to a unique temporary name, synced to disk, then renamed) and
//! only then ACKed with AA/CA; a failed write
//! is answered with AR so the sender retries. A retransmitted message overwrites its own file,
//! so storage is idempotent under MLLP's at-least-once delivery. Ctrl-C shuts down gracefully.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ehrkit::mllp::{ErrorCode, HandlerError, Incoming, Server};

fn usage() -> ! {
    eprintln!("usage: mllp_server [--listen ADDR] --out DIR   (ADDR defaults to 127.0.0.1:2575)");
    std::process::exit(2)
}

/// Makes a name part file-system safe and keeps distinct inputs distinct: ASCII letters,
/// digits, `-` and `.` stay, every other byte becomes `%XX` (so `_`, the separator, and `/`
/// never appear). A leading `.` is encoded too (no hidden files, no `..`).
fn clean(s: &str) -> String {
    if s.is_empty() {
        return "%".into();
    }
    let mut c = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'-' || (b == b'.' && i > 0) {
            c.push(b as char);
        } else {
            c.push_str(&format!("%{b:02X}"));
        }
    }
    c
}

fn store(dir: &Path, m: &Incoming) -> std::io::Result<PathBuf> {
    let app = m.sending_application.split('^').next().unwrap_or("");
    let fac = m.sending_facility.split('^').next().unwrap_or("");
    let name = format!("{}_{}_{}.hl7", clean(app), clean(fac), clean(&m.control_id));
    let path = dir.join(name);
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
    let mut listen = "127.0.0.1:2575".to_string();
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().unwrap_or_else(|| usage()),
            "--out" => out = Some(args.next().unwrap_or_else(|| usage()).into()),
            _ => usage(),
        }
    }
    let Some(out) = out else { usage() };
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
