//! Issue 10 item 6: the server's memory is bounded over all connections together, and a frame
//! has an absolute deadline from its first byte.
#![cfg(feature = "tokio")]

mod common;

use std::time::{Duration, Instant};

use ehrkit_mllp::{AckCode, Client, Incoming, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// True when the server closed `s` within 10 s.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut sink))
        .await
        .is_ok()
}

const HEAD: &[u8] =
    b"\x0bMSH|^~\\&|LAB|HOSP|EHR|FAC|20240101120000||ORU^R01|BIG1|P|2.5.1\rOBX|1|TX|||";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_budget_closes_the_connection_that_would_exceed_it() {
    let srv = Server::builder()
        .max_buffered_bytes(1 << 20)
        .build(|_m: Incoming| async { Ok(()) })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let stats = srv.stats_handle();
    // A: 700 KiB of a frame, held by the server.
    let mut a = TcpStream::connect(srv.local_addr()).await.unwrap();
    a.write_all(HEAD).await.unwrap();
    a.write_all(&vec![b'x'; 700 * 1024]).await.unwrap();
    wait_until("A's bytes received", || {
        stats.snapshot().bytes_received >= 700 * 1024
    })
    .await;
    // B: another 700 KiB would take the total over 1 MiB: B is closed, A is kept.
    let mut b = TcpStream::connect(srv.local_addr()).await.unwrap();
    let writer = tokio::spawn(async move {
        let _ = b.write_all(HEAD).await;
        let _ = b.write_all(&vec![b'y'; 700 * 1024]).await;
        b
    });
    wait_until("B closed for the budget", || {
        stats.snapshot().budget_closes == 1
    })
    .await;
    let mut b = writer.await.unwrap();
    assert!(closed_by_server(&mut b).await);
    // A completes its frame and gets its AA.
    a.write_all(b"\r\x1c\r").await.unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(10), common::read_frame(&mut a))
        .await
        .unwrap()
        .expect("A's ACK");
    assert_eq!(common::msa(&ack), ("AA".into(), "BIG1".into()));
    // B's share was given back: a new sender is served.
    let mut c = Client::builder(srv.local_addr().to_string()).build();
    assert_eq!(
        c.send(common::oru("AFTER")).await.unwrap().code,
        AckCode::AA
    );
    let st = srv.stats();
    assert_eq!((st.budget_closes, st.accepted), (1, 2));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_frame_is_closed_at_the_frame_timeout() {
    let srv = Server::builder()
        .read_timeout(Duration::from_secs(30))
        .frame_timeout(Duration::from_millis(500))
        .build(|_m: Incoming| async { Ok(()) })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    s.write_all(HEAD).await.unwrap();
    let start = Instant::now();
    let mut closed = false;
    // One byte every 100 ms: each read comes long before the read timeout.
    while start.elapsed() < Duration::from_secs(10) {
        if s.write_all(b"x").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "a frame trickled in for 10 s was kept open");
    assert_eq!(srv.stats().timeouts, 1);
    assert_eq!(srv.stats().messages, 0);
    srv.shutdown().await;
}
