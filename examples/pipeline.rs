//! The end-to-end pipeline: three EHR feeds → MLLP → ehrkit-hl7v2, on this machine.
//!
//! ```text
//! cargo run --example pipeline --features mllp-tokio
//! ```
//!
//! Starts an MLLP server in-process on a free loopback port, replays the bundled sample feeds
//! (`examples/data/feed_*.hl7`: an Epic-style ADT feed, an Oracle Health/Cerner-style ORU feed
//! and a Veradigm/Allscripts-style SIU feed), parses every message with `ehrkit-hl7v2` in the
//! server's handler, and prints one line per message (source system, message type, control ID,
//! patient identifiers with their assigning authorities, ACK code) and a final count.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use clap::Parser;
use ehrkit::hl7v2::Message;
use ehrkit::mllp::{Client, ErrorCode, HandlerError, Incoming, Server};

/// The end-to-end pipeline on this machine: replays three bundled EHR feeds
/// (examples/data/feed_*.hl7) over MLLP to an in-process server that parses every message with
/// ehrkit-hl7v2, and prints one line per message and a final count. Exit status 1 when a
/// message was refused.
#[derive(Parser)]
#[command(name = "pipeline")]
struct Args {}

/// The bundled feeds: (file, the EHR it imitates).
const FEEDS: [(&str, &str); 3] = [
    ("feed_epic_adt.hl7", "Epic (ADT)"),
    ("feed_cerner_oru.hl7", "Oracle Health/Cerner (ORU)"),
    ("feed_veradigm_siu.hl7", "Veradigm/Allscripts (SIU)"),
];

/// The messages in a feed file: segment endings normalised to `\r`, split at each MSH.
fn split_messages(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seg in bytes.split(|b| *b == b'\r' || *b == b'\n') {
        if seg.iter().all(|b| b.is_ascii_whitespace()) {
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

/// What the server's handler extracted from one parsed message.
struct Summary {
    source: String,
    message_type: String,
    identifiers: Vec<String>,
    z_segments: Vec<String>,
}

/// `id (type @ authority)` for one CX value at `path` (e.g. `PID-3(2)`).
fn cx(m: &Message<'_>, path: &str) -> Option<String> {
    let id = m.get(&format!("{path}.1")).filter(|s| !s.is_empty())?;
    let authority = m.get(&format!("{path}.4")).unwrap_or_default();
    let authority = authority.split('&').next().unwrap_or("").to_owned();
    let kind = m.get(&format!("{path}.5")).unwrap_or_default().into_owned();
    let qualifier = match (kind.is_empty(), authority.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" ({kind})"),
        (true, false) => format!(" (@ {authority})"),
        (false, false) => format!(" ({kind} @ {authority})"),
    };
    Some(format!("{id}{qualifier}"))
}

fn summarize(m: &Message<'_>) -> Summary {
    let source = format!(
        "{}/{}",
        m.get("MSH-3").unwrap_or_default(),
        m.get("MSH-4").unwrap_or_default()
    );
    let (code, event) = m.message_type();
    let message_type = format!("{}^{}", code.unwrap_or_default(), event.unwrap_or_default());
    let mut identifiers = Vec::new();
    // PID-2 (external ID, still sent by some EHRs), every PID-3 repetition, PID-18 (account /
    // FIN / HAR number).
    identifiers.extend(cx(m, "PID-2").map(|s| format!("PID-2 {s}")));
    for r in 1..=m.repetitions("PID-3") {
        identifiers.extend(cx(m, &format!("PID-3({r})")).map(|s| format!("PID-3 {s}")));
    }
    identifiers.extend(cx(m, "PID-18").map(|s| format!("PID-18 {s}")));
    identifiers.extend(cx(m, "PV1-19").map(|s| format!("PV1-19 {s}")));
    let z_segments = m
        .segments()
        .map(|s| s.name().to_owned())
        .filter(|n| n.starts_with('Z'))
        .collect();
    Summary {
        source,
        message_type,
        identifiers,
        z_segments,
    }
}

#[tokio::main]
async fn main() {
    let Args {} = Args::parse();
    // Server side: parse with ehrkit-hl7v2, keep a summary, accept (AA/CA) or refuse (AE).
    let summaries: Arc<Mutex<HashMap<String, Summary>>> = Arc::default();
    let store = summaries.clone();
    let server = Server::builder()
        .build(move |incoming: Incoming| {
            let store = store.clone();
            async move {
                let msg = incoming.message().map_err(|e| {
                    HandlerError::error(ErrorCode::SegmentSequenceError, e.to_string())
                })?;
                if msg.segment("PID", 1).is_none() {
                    return Err(HandlerError::error(
                        ErrorCode::RequiredFieldMissing,
                        "no PID segment",
                    )
                    .at("PID"));
                }
                let summary = summarize(&msg);
                // One message is in flight at a time: its control ID finds it again.
                store
                    .lock()
                    .expect("not poisoned")
                    .insert(incoming.control_id.clone(), summary);
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = server.local_addr();
    println!("MLLP server listening on {addr}");

    // Sender side: replay each feed on its own connection, as each EHR interface would.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let (mut total, mut accepted) = (0usize, 0usize);
    for (file, ehr) in FEEDS {
        let bytes = std::fs::read(data.join(file)).expect("bundled feed");
        let mut client = Client::builder(addr.to_string()).build();
        println!("\n== {ehr}: {file}");
        for raw in split_messages(&bytes) {
            let sent = Message::parse(&raw).expect("bundled feeds parse");
            let key = sent.control_id().unwrap_or_default().into_owned();
            let ack = client.send(&raw).await.expect("server reachable");
            total += 1;
            accepted += usize::from(ack.is_accepted());
            let seen = summaries.lock().expect("not poisoned").remove(&key);
            match seen {
                Some(s) => println!(
                    "{:<22} {:<8} {:<20} ack={}  ids: {}{}",
                    s.source,
                    s.message_type,
                    ack.control_id,
                    ack.code.as_str(),
                    s.identifiers.join(", "),
                    if s.z_segments.is_empty() {
                        String::new()
                    } else {
                        format!("  z: {}", s.z_segments.join(","))
                    }
                ),
                None => println!(
                    "{:<22} {:<8} {:<20} ack={}  ({})",
                    "-",
                    "-",
                    ack.control_id,
                    ack.code.as_str(),
                    ack.text.as_deref().unwrap_or("refused")
                ),
            }
        }
        client.close().await;
    }
    let stats = server.stats();
    server.shutdown().await;
    println!(
        "\n{total} messages from {} feeds: {accepted} accepted, {} refused; server counted {} messages, {} NAKs, {} bytes in",
        FEEDS.len(),
        total - accepted,
        stats.messages,
        stats.naks,
        stats.bytes_received
    );
    if accepted != total {
        std::process::exit(1);
    }
}
