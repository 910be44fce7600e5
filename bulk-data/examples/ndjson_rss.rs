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
        _ => {
            eprintln!("usage: ndjson_rss gen PATH SIZE_MB LONGEST_LINE_MB [gz] | read PATH");
            std::process::exit(2);
        }
    };
    if let Err(e) = res {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
