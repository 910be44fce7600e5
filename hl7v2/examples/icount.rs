//! Instruction-count harness for the parser (machine-independent numbers on a loaded machine).
//!
//! `cargo build --release -p ehrkit-hl7v2 --example icount`, then e.g.
//! `valgrind --tool=callgrind target/release/examples/icount oru read-str 1001` and the same with
//! `1`: the difference divided by 1000 is the cost of one message. Modes: `index` (parse only),
//! `read-str` (parse + the bench's 10 reads with `&str` paths), `read-path` (parse + 10 reads with
//! pre-parsed [`Path`]s). Inputs: `adt`, `oru`, `obx50k` (the same as `benches/hl7v2_parse.rs`).

use std::hint::black_box;

use ehrkit_hl7v2::{Parser, Path};

const PATHS: [&str; 10] = [
    "MSH-3", "MSH-7", "MSH-9.1", "MSH-9.2", "MSH-10", "MSH-12", "PID-3.1", "PID-5.1", "PID-5.2",
    "PID-7",
];

fn small_adt() -> String {
    [
        "MSH|^~\\&|EPIC|UCH|LAB|UCH|20250314083015||ADT^A01^ADT_A01|8234119|P|2.5.1",
        "EVN|A01|20250314083000",
        "PID|1||E3826471^^^EPIC^MR~1000472931^^^MPI^PI||SANTOS^MARIA^J||19761102|F|||1420 Larimer St^^DENVER^CO^80202",
        "PV1|1|I|4WEST^412^B|E|||1234567890^WELBY^MARCUS",
    ]
    .join("\r")
        + "\r"
}

fn many_obx() -> String {
    let mut s = String::from(
        "MSH|^~\\&|MONITOR|ICU|EPIC|UCH|20250314101512||ORU^R01^ORU_R01|VIT-000417|P|2.5.1\r\
         PID|1||E3826471^^^EPIC^MR||SANTOS^MARIA^J||19761102|F\r\
         OBR|1|ORD1^EPIC|FIL1^MON|8716-3^Vital signs^LN|||20250314090000\r",
    );
    let mut i = 1;
    while s.len() < 50 * 1024 {
        if i % 10 == 0 {
            s.push_str(&format!(
                "OBX|{i}|TX|8251-1^Comment^LN||Reading {i} artefact\\.br\\lead \\T\\ probe checked||||||F|||20250314090000\r"
            ));
        } else {
            s.push_str(&format!(
                "OBX|{i}|NM|8867-4^Heart rate^LN|{i}|{}|/min^/min^UCUM|60-100|N|||F|||20250314090000|||||20250314090100\r",
                60 + i % 40
            ));
        }
        i += 1;
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (input, mode, n) = match args.as_slice() {
        [_, i, m, n] => (i.as_str(), m.as_str(), n.parse::<usize>().expect("count")),
        _ => {
            eprintln!("usage: icount adt|oru|obx50k index|read-str|read-path COUNT");
            std::process::exit(2);
        }
    };
    let text = match input {
        "adt" => small_adt(),
        "oru" => include_str!("../tests/data/oru_r01_lab.hl7").to_string(),
        "obx50k" => many_obx(),
        other => panic!("unknown input {other}"),
    };
    let bytes = text.as_bytes();
    let paths: Vec<Path> = PATHS.iter().map(|p| p.parse().expect("path")).collect();
    let mut parser = Parser::new();
    let mut total = 0usize;
    for _ in 0..n {
        let m = parser.parse(black_box(bytes)).expect("parses");
        total += match mode {
            "index" => m.segment_count(),
            "read-str" => PATHS
                .iter()
                .map(|p| m.get(black_box(p)).map_or(0, |v| v.len()))
                .sum(),
            "read-path" => paths
                .iter()
                .map(|p| m.get_path(black_box(p)).map_or(0, |v| v.len()))
                .sum(),
            other => panic!("unknown mode {other}"),
        };
    }
    println!("{} bytes x {n}: {total}", bytes.len());
}
