//! Tracing events and counters: the events an operator needs are emitted, and none of them
//! carries message content (PHI).
#![cfg(feature = "tokio")]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{oru, read_frame};
use ehrkit_mllp::{Client, ErrorCode, FramerConfig, HandlerError, Incoming, Server};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_emitted_without_phi() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let server = Server::builder()
        .read_timeout(Duration::from_millis(200))
        .framer(FramerConfig::default().max_frame_size(4096))
        .build(|m: Incoming| async move {
            if m.control_id == "AE-1" {
                return Err(HandlerError::error(
                    ErrorCode::DataTypeError,
                    "invalid date in PID-7",
                ));
            }
            Ok(())
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut client = Client::builder(addr.to_string()).build();
    assert!(client.send(oru("OK-1")).await.unwrap().is_accepted());
    assert!(!client.send(oru("AE-1")).await.unwrap().is_accepted());
    client.close().await;

    // Unparseable payload holding PHI-like text; an oversized frame; a stalled frame.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"\x0bEVERYWOMAN^EVE DOB 19700101\x1c\x0d")
        .await
        .unwrap();
    read_frame(&mut s).await.unwrap();
    let mut big = oru("BIG-1");
    big.extend(std::iter::repeat_n(b'Z', 8192));
    let _ = s
        .write_all(&ehrkit_mllp::encode_to_vec(&big).unwrap())
        .await;
    assert_eq!(read_frame(&mut s).await, None);
    let mut stall = TcpStream::connect(addr).await.unwrap();
    stall
        .write_all(&ehrkit_mllp::encode_to_vec(&oru("STALL-1")).unwrap()[..60])
        .await
        .unwrap();
    assert_eq!(read_frame(&mut stall).await, None);

    let st = server.stats();
    server.shutdown().await;
    assert_eq!(
        (
            st.messages,
            st.accepted,
            st.naks,
            st.frame_errors,
            st.timeouts
        ),
        (3, 1, 2, 1, 1)
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for event in [
        "MLLP server listening",
        "MLLP connection opened",
        "MLLP frame received",
        "ACK sent",
        "NAK sent",
        "message does not parse",
        "MLLP framing error",
        "MLLP read timeout",
        "MLLP connection closed",
        "MLLP client connected",
        "MLLP server stopped",
    ] {
        assert!(text.contains(event), "missing event {event:?} in:\n{text}");
    }
    // Control IDs are logged (they are what operators search for) ...
    assert!(text.contains("AE-1"));
    // ... message content never is.
    for phi in ["EVERYWOMAN", "19700101", "GLUCOSE", "ZZZZ"] {
        assert!(
            !text.contains(phi),
            "log contains message content {phi:?}:\n{text}"
        );
    }
}
