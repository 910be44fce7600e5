//! An MLLP listener that stores every message before acknowledging it.
//!
//! ```text
//! cargo run --example mllp_server --features mllp-tokio -- --listen 127.0.0.1:2575 --out DIR
//! ```
//!
//! Each accepted message is written to `DIR/<sending app>_<sending facility>_<control ID>.hl7`
//! (written to a temporary name, then renamed) and only then ACKed with AA/CA; a failed write
//! is answered with AR so the sender retries. A retransmitted message overwrites its own file,
//! so storage is idempotent under MLLP's at-least-once delivery. Ctrl-C shuts down gracefully.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ehrkit::mllp::{ErrorCode, HandlerError, Incoming, Server};

fn usage() -> ! {
    eprintln!("usage: mllp_server [--listen ADDR] --out DIR   (ADDR defaults to 127.0.0.1:2575)");
    std::process::exit(2)
}

/// Keeps a name part file-system safe.
fn clean(s: &str) -> String {
    let c: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if c.is_empty() {
        "unknown".into()
    } else {
        c
    }
}

fn store(dir: &Path, m: &Incoming) -> std::io::Result<PathBuf> {
    let app = m.sending_application.split('^').next().unwrap_or("");
    let fac = m.sending_facility.split('^').next().unwrap_or("");
    let name = format!("{}_{}_{}.hl7", clean(app), clean(fac), clean(&m.control_id));
    let path = dir.join(name);
    let tmp = path.with_extension("hl7.part");
    std::fs::write(&tmp, &m.payload)?;
    std::fs::rename(&tmp, &path)?;
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
