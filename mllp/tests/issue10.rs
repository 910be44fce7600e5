//! Regression tests for the defects of issue 10 that live in this crate, each reproduced over
//! loopback exactly as the probe sent it.
#![cfg(feature = "tokio")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{msa, oru};
use ehrkit_mllp::{AckCode, Client, ErrorCode, HandlerError, Incoming, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The message of the probe: the first OBX holds a lone 0x1C in the middle of its text.
const TRUNC1: &[u8] = b"\x0bMSH|^~\\&|LAB|HOSP|EHR|FAC|20240101120000||ORU^R01|TRUNC1|P|2.5.1\r\
PID|1||42^^^MRN||DOE^JANE\r\
OBX|1|TX|||first part\x1cSECOND PART OF RESULT\r\
OBX|2|NM|||7.2\r\x1c\r";

/// A server recording every payload its handler sees; control IDs starting with `ERR` get an
/// application error whose text holds framing bytes, `PANIC` makes the handler panic.
async fn server(
    builder: ehrkit_mllp::ServerBuilder,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
) -> ServerHandle {
    builder
        .build(move |m: Incoming| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(m.payload.to_vec());
                if m.control_id.starts_with("ERR") {
                    return Err(HandlerError::error(
                        ErrorCode::DataTypeError,
                        "value \x1c\x0b\rnot allowed",
                    )
                    .at("OBX^1^5\x1c"));
                }
                if m.control_id.starts_with("PANIC") {
                    panic!("handler bug for a test");
                }
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Everything the server writes until it closes the connection (at most 10 s).
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    got
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Issue 10 item 2: the exact reproduction, in one write and split right after the 0x1C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_fs_inside_a_payload_is_never_acked_or_handed_over() {
    let fs = TRUNC1.iter().position(|&b| b == 0x1c).unwrap();
    for split in [None, Some(fs + 1), Some(fs)] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let srv = server(Server::builder(), seen.clone()).await;
        let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
        match split {
            None => s.write_all(TRUNC1).await.unwrap(),
            Some(at) => {
                s.write_all(&TRUNC1[..at]).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
                // The server may already have closed; a failed write is fine.
                let _ = s.write_all(&TRUNC1[at..]).await;
            }
        }
        let got = read_to_close(&mut s).await;
        assert!(
            !contains(&got, b"MSA|AA"),
            "split {split:?}: an AA was sent: {got:?}"
        );
        assert!(
            seen.lock().unwrap().is_empty(),
            "split {split:?}: the handler saw {:?}",
            seen.lock().unwrap()
        );
        let stats = srv.stats_handle();
        wait_until("frame error counted", || stats.snapshot().frame_errors == 1).await;
        assert_eq!(srv.stats().accepted, 0);
        srv.shutdown().await;
    }
}

/// Issue 10 item 2, the same defect one step further: the bytes after a complete-looking end
/// (`0x0D 0x1C`, or `0x1C 0x0D`) are already in the server's buffer and are not the start of
/// another frame, so that end is not a frame boundary: no handler call, no ACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_followed_by_message_text_is_not_a_boundary() {
    let wires: [&[u8]; 2] = [
        b"\x0bMSH|^~\\&|LAB|HOSP|EHR|FAC|20240101120000||ORU^R01|TRUNC2|P|2.5.1\r\
OBX|1|TX|||first part\r\x1cSECOND PART\r\x1c\r",
        b"\x0bMSH|^~\\&|LAB|HOSP|EHR|FAC|20240101120000||ORU^R01|TRUNC3|P|2.5.1\r\
OBX|1|TX|||first part\x1c\rSECOND PART\r\x1c\r",
    ];
    for wire in wires {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let srv = server(Server::builder(), seen.clone()).await;
        let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
        s.write_all(wire).await.unwrap();
        let got = read_to_close(&mut s).await;
        assert!(!contains(&got, b"MSA|AA"), "an AA was sent: {got:?}");
        assert!(seen.lock().unwrap().is_empty(), "the handler was called");
        srv.shutdown().await;
    }
}

/// Issue 10 item 12: framing bytes in a handler's error text still give a NAK (AE), and the
/// connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_bytes_in_handler_error_text_still_give_a_nak() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(Server::builder(), seen.clone()).await;
    let mut client = Client::builder(srv.local_addr().to_string())
        .max_attempts(1)
        .ack_timeout(Duration::from_secs(10))
        .build();
    let ae = client.send(oru("ERR-FS")).await.unwrap();
    assert_eq!(ae.code, AckCode::AE);
    assert_eq!(ae.control_id, "ERR-FS");
    let text = ae.text.clone().unwrap();
    assert!(
        text.contains("value") && text.contains("not allowed"),
        "{text:?}"
    );
    assert!(!ae.raw.contains(&0x1c) && !ae.raw.contains(&0x0b));
    let ok = client.send(oru("OK-AFTER")).await.unwrap();
    assert_eq!(ok.code, AckCode::AA);
    assert_eq!(client.stats().connects, 1, "the connection stayed open");
    srv.shutdown().await;
}

/// Issue 10 item 12: a panicking handler gives AE, the connection stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_gives_ae() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(Server::builder(), seen.clone()).await;
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    s.write_all(&ehrkit_mllp::encode_to_vec(&oru("PANIC-1")).unwrap())
        .await
        .unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(10), common::read_frame(&mut s))
        .await
        .expect("an answer in time")
        .expect("a NAK, not a closed connection");
    assert_eq!(msa(&ack), ("AE".to_string(), "PANIC-1".to_string()));
    assert!(
        !contains(&ack, b"handler bug"),
        "the panic text stays out of the ACK"
    );
    s.write_all(&ehrkit_mllp::encode_to_vec(&oru("OK-2")).unwrap())
        .await
        .unwrap();
    let ack = common::read_frame(&mut s).await.unwrap();
    assert_eq!(msa(&ack).0, "AA");
    assert_eq!(srv.stats().naks, 1);
    srv.shutdown().await;
}

/// Issue 10 item 4: an escaped field separator in MSH-3/MSH-4 must not make two different
/// senders share a dedup key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_key_is_unambiguous_with_escaped_separators() {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let k2 = keys.clone();
    let srv = Server::builder()
        .build(move |m: Incoming| {
            let keys = k2.clone();
            async move {
                keys.lock().unwrap().push(m.dedup_key());
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = Client::builder(srv.local_addr().to_string()).build();
    let a = b"MSH|^~\\&|LAB\\F\\EAST|HOSP|EHR|FAC|20240101120000||ADT^A01|1001|P|2.5.1\rPID|1||1^^^MRN\r";
    let b = b"MSH|^~\\&|LAB|EAST\\F\\HOSP|EHR|FAC|20240101120000||ADT^A01|1001|P|2.5.1\rPID|1||2^^^MRN\r";
    assert!(client.send(&a[..]).await.unwrap().is_accepted());
    assert!(client.send(&b[..]).await.unwrap().is_accepted());
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert_ne!(
        keys[0], keys[1],
        "two senders share the dedup key {:?}",
        keys[0]
    );
    srv.shutdown().await;
}

/// Issue 10 item 6: noise between frames does not re-arm the idle timer; a peer sending one
/// noise byte before each idle timeout is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noise_does_not_keep_an_idle_connection_open() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(
        Server::builder().idle_timeout(Duration::from_millis(400)),
        seen,
    )
    .await;
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    let start = Instant::now();
    let mut closed = false;
    // Up to 10 s of one space every 100 ms (well inside each idle timeout).
    while start.elapsed() < Duration::from_secs(10) {
        if s.write_all(b" ").await.is_err() {
            closed = true;
            break;
        }
        let mut b = [0u8; 16];
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "the server kept a noise-only connection open");
    assert!(srv.stats().timeouts >= 1);
    srv.shutdown().await;
}
