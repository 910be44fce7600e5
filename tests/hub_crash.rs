//! Crash safety of the `hub` example (issue 15): a sender streams messages while the hub is
//! killed with SIGKILL at random points and restarted; the sender resends whatever was not
//! ACKed. At the end every ACKed message is stored exactly once, nothing is half-applied, and
//! the store holds exactly what one uninterrupted run produces.
#![cfg(all(feature = "pipeline", unix))]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ehrkit::mllp::Client;

fn hub() -> PathBuf {
    ehrkit_testkit::examples::binary("hub", &["pipeline"])
}

/// A hub on a free port: the child and its address.
fn start(store: &Path) -> (Child, String) {
    let mut child = Command::new(hub())
        .args(["--listen", "127.0.0.1:0", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the hub");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("hub: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, addr)
}

fn stop_gracefully(mut child: Child) {
    let pid = child.id().to_string();
    let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

fn summary(store: &Path) -> serde_json::Value {
    let out = Command::new(hub())
        .arg("--store")
        .arg(store)
        .arg("--summary")
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(String::from_utf8_lossy(&out.stdout).trim().as_bytes()).unwrap()
}

/// 30 patients × 10 events (A01, A08s, A03), interleaved.
fn messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for step in 0..10 {
        for p in 0..30 {
            let ev = match step {
                0 => "A01",
                9 => "A03",
                _ => "A08",
            };
            out.push(
                format!(
                    "MSH|^~\\&|EPIC|UCH|HUB|HUB|20240311081502-0600||ADT^{ev}^ADT_A01|K{p}-{step}|P|2.5.1\r\
                     EVN|{ev}|20240311081500-0600\r\
                     PID|1||K{p}^^^EPIC^MR||CRASH{p}^ANNA^{step}||19800101|F|||{step} MAIN ST^^MADISON^WI^53703\r\
                     PV1|1|I|4W^1^A^UCH||||||||||||||||VK{p}^^^EPIC^VN\r"
                )
                .into_bytes(),
            );
        }
    }
    out
}

/// xorshift: reproducible random kill points (the seed is printed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_points_loses_nothing_acked_and_applies_nothing_twice() {
    let msgs = messages();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Reference: one uninterrupted run.
    let reference = tempfile::tempdir().unwrap();
    let (child, addr) = start(reference.path());
    rt.block_on(async {
        let mut c = Client::builder(addr).build();
        for m in &msgs {
            assert!(c.send(m).await.unwrap().is_accepted());
        }
        c.close().await;
    });
    stop_gracefully(child);
    let want = summary(reference.path());

    let seed = std::env::var("HUB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            Instant::now().elapsed().as_nanos() as u64
                ^ 0x9e37_79b9_7f4a_7c15
                ^ std::process::id() as u64
        });
    println!("HUB_CRASH_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let mut acked = vec![false; msgs.len()];
    let mut kills = 0;
    let mut resends = 0;
    while kills < 24 || acked.iter().any(|a| !a) {
        let (mut child, addr) = start(dir.path());
        // Kill after a random number of ACKs (0..25) or a random delay, whichever first.
        let kill_after = (rng.next() % 25) as usize;
        let delay = Duration::from_micros(rng.next() % 40_000);
        let killing = kills < 24;
        let t0 = Instant::now();
        rt.block_on(async {
            let mut c = Client::builder(addr)
                .max_attempts(1)
                .ack_timeout(Duration::from_secs(5))
                .build();
            let mut n = 0;
            for (i, m) in msgs.iter().enumerate() {
                if acked[i] {
                    continue;
                }
                if killing && (n >= kill_after || t0.elapsed() >= delay) {
                    break;
                }
                match c.send(m).await {
                    Ok(a) if a.is_accepted() => {
                        acked[i] = true;
                        n += 1;
                    }
                    Ok(a) => panic!("message {i} refused: {:?}", a.code),
                    Err(_) => break,
                }
            }
            // A message may be on the wire when the kill comes: send one more without waiting.
            if killing {
                if let Some(i) = acked.iter().position(|a| !a) {
                    let _ = tokio::time::timeout(
                        Duration::from_micros(rng.next() % 3000),
                        c.send(&msgs[i]),
                    )
                    .await;
                    resends += 1;
                }
            }
        });
        if killing {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
        } else {
            stop_gracefully(child);
        }
    }
    // One more start: anything kept but not applied before the last kill is applied now.
    let (child, _) = start(dir.path());
    stop_gracefully(child);
    let got = summary(dir.path());
    println!("{kills} kills, {resends} in-flight sends at a kill; reference {want}; crashed {got}");
    assert!(kills >= 20);
    assert_eq!(
        got["received"],
        msgs.len(),
        "every message kept exactly once: {got}"
    );
    for k in [
        "dead_letter",
        "resources",
        "source_patients",
        "enterprise_patients",
        "possible_matches",
    ] {
        assert_eq!(
            got[k], want[k],
            "{k}: crashed {got} vs uninterrupted {want}"
        );
    }
    assert_eq!(got["dead_letter"], 0);
}
