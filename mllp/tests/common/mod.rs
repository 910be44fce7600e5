//! Helpers shared by the loopback tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A sample message (tests/data) with its control ID replaced, so each send is distinct.
pub fn sample(file: &str, control_id: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("sample message");
    let mut fields: Vec<String> = text
        .split('\r')
        .next()
        .unwrap()
        .split('|')
        .map(str::to_owned)
        .collect();
    fields[9] = control_id.to_owned();
    let msh = fields.join("|");
    let rest: Vec<&str> = text.split('\r').skip(1).collect();
    format!("{msh}\r{}", rest.join("\r")).into_bytes()
}

/// ORU^R01 sample (original acknowledgment mode) with the given control ID.
pub fn oru(control_id: &str) -> Vec<u8> {
    sample("oru_r01_sample.hl7", control_id)
}

/// ADT^A04 sample asking for enhanced acknowledgment (MSH-15 AL, MSH-16 NE).
pub fn adt_enhanced(control_id: &str) -> Vec<u8> {
    sample("adt_a04_sample.hl7", control_id)
}

/// Counts deliveries per dedup key.
#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<HashMap<String, u32>>>);

impl Seen {
    pub fn record(&self, key: String) {
        *self.0.lock().unwrap().entry(key).or_default() += 1;
    }
    pub fn count(&self, key: &str) -> u32 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }
    pub fn keys(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Reads one MLLP frame from a raw socket (None when the peer closes first).
pub async fn read_frame(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut fb = ehrkit_mllp::FrameBuffer::new(Default::default());
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(f) = fb.next_frame().ok()? {
            return Some(f.to_vec());
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        fb.push(&chunk[..n]);
    }
}

/// MSA-1 and MSA-2 of an ACK.
pub fn msa(ack: &[u8]) -> (String, String) {
    let m = ehrkit_hl7v2::Message::parse(ack).expect("ACK parses");
    (
        m.get("MSA-1").unwrap_or_default().into_owned(),
        m.get("MSA-2").unwrap_or_default().into_owned(),
    )
}
