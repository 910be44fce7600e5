//! The workspace's MLLP examples (`mllp_server`, `mllp_send`) run as programs (the `pipeline`
//! example is tested by the root crate's `tests/example_pipeline.rs`):
//! built with cargo, spawned, fed over loopback, their files and output checked.
#![cfg(feature = "tokio")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use ehrkit_mllp::{AckCode, Client};

/// An example as a program (see `ehrkit_testkit::examples`: reused from the workspace's test
/// build, or built with only the `mllp-tokio` feature).
fn example(name: &str) -> Command {
    Command::new(ehrkit_testkit::examples::binary(name, &["mllp-tokio"]))
}

/// Kills the server when the test ends, whatever happens.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn msg(app: &str, fac: &str, id: &str, pid: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|{app}|{fac}|EHRKIT|FAC|20240101120000||ADT^A01|{id}|P|2.5.1\rPID|1||{pid}^^^MRN\r"
    )
    .into_bytes()
}

#[test]
fn every_example_answers_help() {
    for (name, flag) in [("mllp_server", "--listen"), ("mllp_send", "--to")] {
        let out = example(name).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name} --help failed");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Usage:") && text.contains(flag),
            "{name}: {text}"
        );
    }
    // A bad argument is a usage error (status 2), as before.
    let out = example("mllp_server").arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = example("mllp_send")
        .args(["--to", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "no FILE is a usage error");
}

/// Issue 10 item 3: two senders that differ only after the first component of MSH-3 (or
/// MSH-4), with the same control ID, get two files; a 90-character control ID is stored; a
/// retransmission overwrites its own file.
#[test]
fn mllp_server_keeps_every_acked_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = example("mllp_server")
        .args(["--listen", "127.0.0.1:0", "--out"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _server = Running(child);
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("listening on ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let long_id = "X".repeat(90);
    let sent = [
        msg("EPIC^1.2.840.1^ISO", "HOSP", "1001", "1"),
        msg("EPIC^1.2.840.2^ISO", "HOSP", "1001", "2"),
        msg("EPIC", "HOSP^1.2.3^ISO", "1001", "3"),
        msg("EPIC", "HOSP^1.2.4^ISO", "1001", "4"),
        msg("LAB", "HOSP", &long_id, "5"),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = Client::builder(addr.clone()).build();
        for m in &sent {
            assert_eq!(client.send(m).await.unwrap().code, AckCode::AA);
        }
        // A retransmission of the first message.
        assert_eq!(client.send(&sent[0]).await.unwrap().code, AckCode::AA);
        client.close().await;
    });
    // One output line per ACKed message: "<peer> <app> <type> <id> -> <path>".
    let mut paths = Vec::new();
    for _ in 0..sent.len() + 1 {
        let line = lines.next().unwrap().unwrap();
        let (head, path) = line.split_once(" -> ").expect("an arrow line");
        let parts: Vec<&str> = head.split(' ').collect();
        assert_eq!(parts.len(), 4, "{line}");
        assert_eq!(parts[2], "ADT^A01");
        paths.push(PathBuf::from(path));
    }
    assert_eq!(paths[0], paths[5], "a retransmission goes to its own file");
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        sent.len(),
        "one file per distinct message: {files:?}"
    );
    for (m, p) in sent.iter().zip(&paths) {
        assert_eq!(&std::fs::read(p).unwrap(), m, "{}", p.display());
        assert!(p.file_name().unwrap().len() < 200);
    }
}

#[test]
fn mllp_send_prints_one_line_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = example("mllp_server")
        .args(["--listen", "127.0.0.1:0", "--out"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _server = Running(child);
    let first = lines.next().unwrap().unwrap();
    let addr = first.split(' ').nth(2).unwrap().to_owned();
    let file = dir.path().join("in.txt");
    let mut body = msg("A", "B", "S1", "1");
    body.extend(msg("A", "B", "S2", "2"));
    std::fs::write(&file, body).unwrap();
    let out = example("mllp_send")
        .args(["--to", &addr])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "S1 AA\nS2 AA\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "2 sent, 2 accepted, 0 not accepted\n"
    );
}
