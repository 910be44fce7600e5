//! Sends every HL7 v2 message in the given files over MLLP and prints each ACK.
//!
//! ```text
//! cargo run --example mllp_send --features mllp-tokio -- --to 127.0.0.1:2575 FILE...
//! ```
//!
//! Files may hold several messages, with `\r`, `\n` or `\r\n` segment endings. One line is
//! printed per message: its control ID and the ACK code. The exit status is 1 when any
//! message was not acknowledged with AA/CA, 2 on a transport failure.

use clap::Parser;
use ehrkit::mllp::Client;

/// Sends every HL7 v2 message in the given files over MLLP and prints each ACK.
///
/// One line per message on stdout: its control ID and the ACK code (with the error text of a
/// negative ACK). Exit status 1 when any message was not acknowledged with AA/CA, 2 on a
/// transport failure.
#[derive(Parser)]
#[command(name = "mllp_send")]
struct Args {
    /// Receiver address.
    #[arg(long, value_name = "HOST:PORT")]
    to: String,
    /// Files of HL7 v2 messages (`\r`, `\n` or `\r\n` segment endings; several messages
    /// each).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<String>,
}

/// The messages in a file: segment endings normalised to `\r`, split at each MSH, batch
/// envelope segments (FHS/BHS/BTS/FTS) and blank lines dropped.
fn split_messages(bytes: &[u8]) -> Vec<Vec<u8>> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seg in text.split(|b| *b == b'\r' || *b == b'\n') {
        if seg.iter().all(|b| b.is_ascii_whitespace())
            || [&b"FHS"[..], b"BHS", b"BTS", b"FTS"].contains(&&seg[..seg.len().min(3)])
        {
            continue;
        }
        if seg.starts_with(b"MSH") || out.is_empty() {
            out.push(Vec::new());
        }
        let m = out.last_mut().expect("pushed above");
        m.extend_from_slice(seg);
        m.push(b'\r');
    }
    out
}

#[tokio::main]
async fn main() {
    let Args { to, files } = Args::parse();
    let mut client = Client::builder(to).build();
    let mut failed = 0usize;
    let mut sent = 0usize;
    for f in &files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{f}: {e}");
                std::process::exit(2);
            }
        };
        for m in split_messages(&bytes) {
            match client.send(&m).await {
                Ok(ack) => {
                    sent += 1;
                    let text = ack
                        .text
                        .as_deref()
                        .map(|t| format!(" ({t})"))
                        .unwrap_or_default();
                    println!("{} {}{}", ack.control_id, ack.code.as_str(), text);
                    if !ack.is_accepted() {
                        failed += 1;
                    }
                }
                Err(e) => {
                    eprintln!("{f}: {e}");
                    std::process::exit(2);
                }
            }
        }
    }
    eprintln!(
        "{sent} sent, {} accepted, {failed} not accepted",
        sent - failed
    );
    client.close().await;
    if failed > 0 {
        std::process::exit(1);
    }
}
