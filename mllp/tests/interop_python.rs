//! Interoperability with a third-party MLLP implementation: python-hl7 (PyPI `hl7`).
//!
//! The package is installed in a virtualenv under the cargo target directory on first use.
//! Without python3, venv/pip, or network access to PyPI, the tests print a notice and skip.
#![cfg(feature = "tokio")]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{oru, Seen};
use ehrkit_mllp::{AckCode, Client, Incoming, Server};

const PY_HL7: &str = "hl7==0.4.5";

/// The virtualenv's bin directory, or None (with a printed notice) when it cannot be made.
fn venv_bin() -> Option<&'static Path> {
    static VENV: OnceLock<Option<PathBuf>> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-hl7-venv");
        let bin = dir.join("bin");
        if bin.join("mllp_send").exists() {
            return Some(bin);
        }
        let ok = |c: &mut Command| c.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        if !ok(Command::new("python3").arg("--version")) {
            println!("NOTICE: python3 not found, skipping the python-hl7 interop test");
            return None;
        }
        if !ok(Command::new("python3").arg("-m").arg("venv").arg(&dir)) {
            println!("NOTICE: python3 -m venv failed, skipping the python-hl7 interop test");
            return None;
        }
        let pip = bin.join("pip");
        let installed = ok(Command::new(&pip).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--timeout",
            "20",
            "--retries",
            "1",
            PY_HL7,
        ]));
        if !installed || !bin.join("mllp_send").exists() {
            println!("NOTICE: pip install {PY_HL7} failed (no network?), skipping the python-hl7 interop test");
            return None;
        }
        Some(bin)
    })
    .as_deref()
}

/// Our server receives from python-hl7's `mllp_send` command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_receives_from_python_mllp_send() {
    let Some(bin) = venv_bin() else { return };
    let seen = Seen::default();
    let s2 = seen.clone();
    let server = Server::builder()
        .build(move |m: Incoming| {
            let s2 = s2.clone();
            async move {
                s2.record(m.dedup_key());
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let port = server.local_addr().port();

    // Three messages, one per "line" group, as mllp_send --loose reads them.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch.hl7");
    let mut text = Vec::new();
    for id in ["PY-1", "PY-2", "PY-3"] {
        text.extend(oru(id));
        text.push(b'\n');
    }
    std::fs::write(&file, &text).unwrap();

    let mllp_send = bin.join("mllp_send");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(mllp_send)
            .args(["--loose", "-f"])
            .arg(&file)
            .args(["-p", &port.to_string(), "127.0.0.1"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mllp_send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for id in ["PY-1", "PY-2", "PY-3"] {
        assert!(
            stdout.contains(&format!("MSA|AA|{id}")),
            "ACK for {id} in: {stdout:?}"
        );
        assert_eq!(seen.count(&format!("LAB|GHH LAB|{id}")), 1);
    }
    assert_eq!(server.stats().accepted, 3);
    server.shutdown().await;
}

const PY_SERVER: &str = r#"
import asyncio, sys
from hl7.mllp import start_hl7_server

expected = int(sys.argv[1])
received = []

async def process(reader, writer):
    try:
        while True:
            msg = await reader.readmessage()
            received.append(str(msg.segment("MSH")(10)))
            writer.writemessage(msg.create_ack())
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()

async def main():
    server = await start_hl7_server(process, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    async with server:
        while len(received) < expected and loop.time() < deadline:
            await asyncio.sleep(0.02)
    print("RECEIVED " + " ".join(received), flush=True)

asyncio.run(main())
"#;

/// Our client sends to python-hl7's asyncio MLLP server and correlates its ACKs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_sends_to_python_hl7_server() {
    let Some(bin) = venv_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("server.py");
    std::fs::write(&script, PY_SERVER).unwrap();
    let mut child = Command::new(bin.join("python"))
        .arg(&script)
        .arg("6")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let port = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        (line.trim().parse::<u16>(), stdout)
    })
    .await
    .unwrap();
    let (port, mut stdout) = (port.0.expect("python server printed its port"), port.1);

    let mut client = Client::builder(format!("127.0.0.1:{port}"))
        .ack_timeout(Duration::from_secs(10))
        .build();
    let ids = ["TO-PY-1", "TO-PY-2", "TO-PY-3"];
    for id in ids {
        let ack = client.send(oru(id)).await.unwrap();
        assert_eq!(ack.code, AckCode::AA);
        assert_eq!(ack.control_id, id);
    }
    // Pipelined as well: python-hl7 answers in order.
    let mut pipelined = Client::builder(format!("127.0.0.1:{port}"))
        .pipeline(4)
        .build();
    let batch = [oru("TO-PY-4"), oru("TO-PY-5"), oru("TO-PY-6")];
    let acks = pipelined.send_all(&batch).await.unwrap();
    let got: Vec<(&str, AckCode)> = acks
        .iter()
        .map(|a| (a.control_id.as_str(), a.code))
        .collect();
    assert_eq!(
        got,
        [
            ("TO-PY-4", AckCode::AA),
            ("TO-PY-5", AckCode::AA),
            ("TO-PY-6", AckCode::AA)
        ]
    );
    assert_eq!(pipelined.stats().connects, 1);
    client.close().await;
    pipelined.close().await;

    let rest = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        loop {
            if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        rest
    })
    .await
    .unwrap();
    assert!(
        rest.contains("RECEIVED TO-PY-1 TO-PY-2 TO-PY-3 TO-PY-4 TO-PY-5 TO-PY-6"),
        "python server saw: {rest:?}"
    );
}
