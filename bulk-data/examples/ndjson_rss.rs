//! Test-only helper for the memory claim: generate an NDJSON file with one
//! very long line, then read it and report the longest line and the reader's
//! buffer. Measure the `read` step with `/usr/bin/time -v`:
//!
//! ```text
//! cargo run --release -p ehrkit-bulk-data --example ndjson_rss -- gen /tmp/x.ndjson 120 4
//! /usr/bin/time -v target/release/examples/ndjson_rss read /tmp/x.ndjson
//! ```
//!
//! `gen PATH SIZE_MB LONGEST_LINE_MB [gz]` writes SIZE_MB of ~1 KB records with
//! one record of LONGEST_LINE_MB in the middle (gzip-compressed with `gz`).
//! `read PATH` streams it (gzip detected) and prints counts.
//!
//! For the client's download path (a gzip bomb through `bulk_export`):
//!
//! ```text
//! ndjson_rss bomb /tmp/bomb.ndjson.gz 256 4     # 256 MiB of 4 MiB lines, about 260 KB on disk
//! ndjson_rss serve /tmp/bomb.ndjson.gz          # prints the FHIR base; serves it as a $export
//! /usr/bin/time -v target/release/examples/bulk_export --fhir-base URL --out /tmp/out
//! ```
//!
//! `serve` is a minimal loopback HTTP/1.1 server: kick-off `202`, a manifest
//! naming the file as `Binary` output (`requiresAccessToken: false`), and the
//! file itself with `Content-Encoding: gzip`.

use std::io::{BufWriter, Write};
use std::path::Path;

use ehrkit_bulk_data::ndjson::{open_file, ReaderOptions};

fn gen(path: &Path, size_mb: u64, longest_mb: u64, gz: bool) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut out: Box<dyn Write> = if gz {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(file)
    };
    let target = size_mb * 1024 * 1024;
    let filler = "x".repeat(900);
    let mut written = 0u64;
    let mut i = 0u64;
    let mut long_done = false;
    while written < target {
        let line = if !long_done && written >= target / 2 {
            long_done = true;
            let data = "A".repeat((longest_mb * 1024 * 1024) as usize);
            format!(
                r#"{{"resourceType":"Binary","id":"big","contentType":"text/plain","data":"{data}"}}"#
            )
        } else {
            format!(
                r#"{{"resourceType":"Observation","id":"o{i}","status":"final","note":[{{"text":"{filler}"}}]}}"#
            )
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        i += 1;
    }
    out.flush()?;
    drop(out);
    Ok(())
}

/// SIZE_MB of LINE_MB lines of one repeated letter: the worst compression ratio case.
fn bomb(path: &Path, size_mb: u64, line_mb: u64) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut out = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let data = "A".repeat((line_mb * 1024 * 1024) as usize);
    let line = format!("{{\"resourceType\":\"Binary\",\"data\":\"{data}\"}}\n");
    let lines = (size_mb / line_mb).max(1);
    for _ in 0..lines {
        out.write_all(line.as_bytes())?;
    }
    out.finish()?.flush()?;
    println!("lines={lines} line_bytes={}", line.len() - 1);
    Ok(())
}

/// Serves `path` (gzip) as the only output file of a `$export` on 127.0.0.1, on the workspace
/// test kit's loopback mock server, until the process is killed.
fn serve(path: &Path) -> std::io::Result<()> {
    use ehrkit_testkit::http::{MockServer, Response};
    let body = std::fs::read(path)?;
    let lines = {
        let mut n = 0u64;
        let mut r = open_file(path, ReaderOptions::default()).map_err(std::io::Error::other)?;
        while let Some(rec) = r.next_record() {
            rec.map_err(std::io::Error::other)?;
            n += 1;
        }
        n
    };
    let server = MockServer::start();
    let base = server.base().trim_end_matches('/').to_owned();
    let manifest = serde_json::json!({
        "transactionTime": "2026-01-01T00:00:00Z",
        "request": format!("{base}/fhir/$export"),
        "requiresAccessToken": false,
        "output": [{"type": "Binary", "url": format!("{base}/files/bomb.ndjson"), "count": lines}],
        "error": [],
    });
    server
        .respond(
            "GET",
            "/fhir/$export",
            Response::new(202).header("Content-Location", &format!("{base}/status")),
        )
        .respond("GET", "/status", Response::ok().json(&manifest))
        .respond(
            "GET",
            "/files/bomb.ndjson",
            Response::ok()
                .header("Content-Type", "application/fhir+ndjson")
                .header("Content-Encoding", "gzip")
                .body(body),
        );
    println!("{base}/fhir");
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}

fn read(path: &Path) -> ehrkit_bulk_data::Result<()> {
    let mut r = open_file(path, ReaderOptions::default())?;
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut longest = 0usize;
    while let Some(rec) = r.next_record() {
        let rec = rec?;
        n += 1;
        bytes += rec.json().len() as u64 + 1;
        longest = longest.max(rec.json().len());
    }
    println!(
        "records={n} decoded_bytes={bytes} longest_line={longest} buffer_capacity={}",
        r.buffer_capacity()
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let res = match args.get(1).map(String::as_str) {
        Some("gen") if args.len() >= 5 => gen(
            Path::new(&args[2]),
            args[3].parse().expect("SIZE_MB"),
            args[4].parse().expect("LONGEST_LINE_MB"),
            args.get(5).map(String::as_str) == Some("gz"),
        )
        .map_err(ehrkit_bulk_data::Error::from),
        Some("read") if args.len() >= 3 => read(Path::new(&args[2])),
        Some("bomb") if args.len() >= 5 => bomb(
            Path::new(&args[2]),
            args[3].parse().expect("SIZE_MB"),
            args[4].parse().expect("LINE_MB"),
        )
        .map_err(ehrkit_bulk_data::Error::from),
        Some("serve") if args.len() >= 3 => {
            serve(Path::new(&args[2])).map_err(ehrkit_bulk_data::Error::from)
        }
        _ => {
            eprintln!(
                "usage: ndjson_rss gen PATH SIZE_MB LONGEST_LINE_MB [gz] | read PATH \
                 | bomb PATH SIZE_MB LINE_MB | serve GZ_PATH"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = res {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
