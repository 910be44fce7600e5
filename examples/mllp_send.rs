//! Sends every HL7 v2 message in the given files over MLLP and prints each ACK.
//!
//! ```text
//! cargo run --example mllp_send --features mllp-tokio -- --to 127.0.0.1:2575 FILE...
//! ```
//!
//! Files may hold several messages, with `\r`, `\n` or `\r\n` segment endings. One line is
//! printed per message: its control ID and the ACK code. The exit status is 1 when any
//! message was not acknowledged with AA/CA, 2 on a transport failure.

use ehrkit::mllp::Client;

fn usage() -> ! {
    eprintln!("usage: mllp_send --to HOST:PORT FILE...");
    std::process::exit(2)
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
    let mut to: Option<String> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--to" => to = Some(args.next().unwrap_or_else(|| usage())),
            _ if a.starts_with("--") => usage(),
            _ => files.push(a),
        }
    }
    let Some(to) = to else { usage() };
    if files.is_empty() {
        usage();
    }
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
