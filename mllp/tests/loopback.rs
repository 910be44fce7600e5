//! Server and client over loopback TCP, including the failures that lose or duplicate
//! messages in the field.
#![cfg(feature = "tokio")]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{msa, oru, read_frame, Seen};
use ehrkit_mllp::{
    AckCode, Client, Error, ErrorCode, FramerConfig, HandlerError, Incoming, Server, ServerHandle,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A server whose handler records each delivery's dedup key; control IDs starting with
/// `ERR` get AE, `REJ` get AR.
async fn recording_server(builder: ehrkit_mllp::ServerBuilder, seen: Seen) -> ServerHandle {
    let server = builder.build(move |m: Incoming| {
        let seen = seen.clone();
        async move {
            seen.record(m.dedup_key());
            if m.control_id.starts_with("ERR") {
                return Err(
                    HandlerError::error(ErrorCode::DataTypeError, "bad birth date").at("PID^1^7"),
                );
            }
            if m.control_id.starts_with("REJ") {
                return Err(HandlerError::reject(
                    ErrorCode::ApplicationInternalError,
                    "store unavailable",
                ));
            }
            Ok(())
        }
    });
    server.bind("127.0.0.1:0").await.unwrap()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_is_correlated_and_handler_gets_dedup_data() {
    let seen = Seen::default();
    let server = recording_server(Server::builder(), seen.clone()).await;
    let mut client = Client::builder(server.local_addr().to_string()).build();
    let ack = client.send(oru("MSG-1")).await.unwrap();
    assert_eq!(ack.code, AckCode::AA);
    assert_eq!(ack.control_id, "MSG-1");
    assert!(ack.is_accepted());
    // Sender and receiver are swapped in the ACK.
    let m = ehrkit_hl7v2::Message::parse(&ack.raw).unwrap();
    assert_eq!(m.get("MSH-3").as_deref(), Some("MLLPTEST"));
    assert_eq!(m.get("MSH-5").as_deref(), Some("LAB"));
    assert_eq!(seen.count("LAB|GHH LAB|MSG-1"), 1);
    let st = server.stats();
    assert_eq!((st.messages, st.accepted, st.naks), (1, 1, 0));
    assert!(st.bytes_received > 100 && st.bytes_sent > 30);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_mode_message_gets_ca() {
    let server = recording_server(Server::builder(), Seen::default()).await;
    let mut client = Client::builder(server.local_addr().to_string()).build();
    let ack = client.send(common::adt_enhanced("ENH-1")).await.unwrap();
    assert_eq!(ack.code, AckCode::CA);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_mid_frame_calls_no_handler_and_sends_no_ack() {
    let seen = Seen::default();
    let server = recording_server(Server::builder(), seen.clone()).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let whole = ehrkit_mllp::encode_to_vec(&oru("HALF-1")).unwrap();
    s.write_all(&whole[..whole.len() / 2]).await.unwrap();
    s.shutdown().await.unwrap(); // half-close: end of stream inside the frame
    assert_eq!(read_frame(&mut s).await, None, "no ACK for a partial frame");
    let stats = server.stats_handle();
    wait_until("frame error counted", || stats.snapshot().frame_errors == 1).await;
    assert_eq!(seen.total(), 0);
    let st = server.stats();
    assert_eq!((st.messages, st.accepted, st.naks), (0, 0, 0));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_gives_ae_or_ar_and_connection_stays_usable() {
    let seen = Seen::default();
    let server = recording_server(Server::builder(), seen.clone()).await;
    let mut client = Client::builder(server.local_addr().to_string()).build();
    let ok1 = client.send(oru("OK-1")).await.unwrap();
    let ae = client.send(oru("ERR-1")).await.unwrap();
    let ar = client.send(oru("REJ-1")).await.unwrap();
    let ok2 = client.send(oru("OK-2")).await.unwrap();
    assert_eq!(
        [ok1.code, ae.code, ar.code, ok2.code],
        [AckCode::AA, AckCode::AE, AckCode::AR, AckCode::AA]
    );
    assert_eq!(ae.control_id, "ERR-1");
    assert_eq!(ae.text.as_deref(), Some("bad birth date"));
    let m = ehrkit_hl7v2::Message::parse(&ae.raw).unwrap();
    assert!(
        m.segment("ERR", 1).is_some() || m.get("ERR-3").is_some(),
        "AE carries an ERR segment"
    );
    assert_eq!(ar.text.as_deref(), Some("store unavailable"));
    assert_eq!(client.stats().connects, 1, "one connection for all four");
    let st = server.stats();
    assert_eq!((st.messages, st.accepted, st.naks), (4, 2, 2));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_or_id_less_messages_get_ar_without_handler() {
    let seen = Seen::default();
    let server = recording_server(Server::builder(), seen.clone()).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(b"\x0bthis is not HL7\x1c\x0d").await.unwrap();
    let nak = read_frame(&mut s).await.expect("a NAK");
    assert_eq!(msa(&nak).0, "AR");
    // Parseable, but no MSH-10: AR, because no ACK could be correlated.
    let no_id = String::from_utf8(oru("X"))
        .unwrap()
        .replacen("|X|P|", "||P|", 1);
    s.write_all(&ehrkit_mllp::encode_to_vec(no_id.as_bytes()).unwrap())
        .await
        .unwrap();
    let nak = read_frame(&mut s).await.expect("a NAK");
    assert_eq!(msa(&nak), ("AR".to_owned(), String::new()));
    // Same connection still serves.
    s.write_all(&ehrkit_mllp::encode_to_vec(&oru("AFTER")).unwrap())
        .await
        .unwrap();
    assert_eq!(
        msa(&read_frame(&mut s).await.unwrap()),
        ("AA".to_owned(), "AFTER".to_owned())
    );
    assert_eq!(seen.total(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frame_closes_that_connection_only() {
    let seen = Seen::default();
    let builder = Server::builder().framer(FramerConfig::default().max_frame_size(1024));
    let server = recording_server(builder, seen.clone()).await;
    let addr = server.local_addr().to_string();
    let mut other = Client::builder(addr.clone()).build();
    other.connect().await.unwrap();

    let mut big = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut huge = oru("BIG-1");
    huge.extend(std::iter::repeat_n(b'x', 64 * 1024));
    // The server stops reading at the limit, so the write may fail: both are fine.
    let _ = big
        .write_all(&ehrkit_mllp::encode_to_vec(&huge).unwrap())
        .await;
    assert_eq!(
        read_frame(&mut big).await,
        None,
        "connection closed without an ACK"
    );
    let stats = server.stats_handle();
    wait_until("frame error counted", || stats.snapshot().frame_errors == 1).await;

    // The connection opened before, and a new one, are both served.
    assert_eq!(other.send(oru("SMALL-1")).await.unwrap().code, AckCode::AA);
    let mut fresh = Client::builder(addr).build();
    assert_eq!(fresh.send(oru("SMALL-2")).await.unwrap().code, AckCode::AA);
    assert_eq!(seen.count("LAB|GHH LAB|BIG-1"), 0);
    assert_eq!(seen.total(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sender_hits_idle_and_read_timeouts() {
    let seen = Seen::default();
    let builder = Server::builder()
        .idle_timeout(Duration::from_millis(300))
        .read_timeout(Duration::from_millis(200));
    let server = recording_server(builder, seen.clone()).await;

    // Idle: connects, sends nothing.
    let mut idle = TcpStream::connect(server.local_addr()).await.unwrap();
    let t = Instant::now();
    assert_eq!(read_frame(&mut idle).await, None);
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "closed only after the idle timeout"
    );

    // In a frame: sends half a message then stalls.
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    let whole = ehrkit_mllp::encode_to_vec(&oru("SLOW-1")).unwrap();
    slow.write_all(&whole[..40]).await.unwrap();
    assert_eq!(
        read_frame(&mut slow).await,
        None,
        "no ACK for the stalled frame"
    );
    let stats = server.stats_handle();
    wait_until("two timeouts", || stats.snapshot().timeouts == 2).await;
    assert_eq!(seen.total(), 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ack_timeout_reconnects_and_resends_at_least_once() {
    // The first delivery is slower than the client's ACK timeout; the resend is fast.
    let calls = Arc::new(AtomicU32::new(0));
    let keys = Seen::default();
    let (c, k) = (calls.clone(), keys.clone());
    let server = Server::builder()
        .build(move |m: Incoming| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            k.record(m.dedup_key());
            async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                }
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut client = Client::builder(server.local_addr().to_string())
        .ack_timeout(Duration::from_millis(200))
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build();
    let ack = client.send(oru("RETRY-1")).await.unwrap();
    assert_eq!(ack.code, AckCode::AA);
    assert_eq!(client.stats().retries, 1);
    assert_eq!(client.stats().connects, 2);
    // Delivered twice with the same dedup key: at-least-once, deduplicable.
    assert_eq!(keys.count("LAB|GHH LAB|RETRY-1"), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gives_up_after_max_attempts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A peer that accepts and never answers.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(listener.accept().await.unwrap().0);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let mut client = Client::builder(addr.to_string())
        .ack_timeout(Duration::from_millis(100))
        .max_attempts(2)
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build();
    let err = client.send(oru("LOST-1")).await.unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 2, last } if matches!(**last, Error::Timeout(_))),
        "{err:?}"
    );
    silent.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_client_matches_acks_in_order() {
    let seen = Seen::default();
    let server = recording_server(Server::builder(), seen.clone()).await;
    let mut client = Client::builder(server.local_addr().to_string())
        .pipeline(8)
        .build();
    let msgs: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            if i % 10 == 3 {
                oru(&format!("ERR-P{i}"))
            } else {
                oru(&format!("P{i}"))
            }
        })
        .collect();
    let acks = client.send_all(&msgs).await.unwrap();
    assert_eq!(acks.len(), 50);
    for (i, a) in acks.iter().enumerate() {
        let want = if i % 10 == 3 {
            format!("ERR-P{i}")
        } else {
            format!("P{i}")
        };
        assert_eq!(a.control_id, want);
        assert_eq!(
            a.code,
            if i % 10 == 3 {
                AckCode::AE
            } else {
                AckCode::AA
            }
        );
    }
    assert_eq!(seen.total(), 50);
    assert_eq!(client.stats().frames_sent, 50);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noise_and_lone_fs_from_the_field_are_tolerated() {
    let seen = Seen::default();
    let server = recording_server(Server::builder(), seen.clone()).await;
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut wire = b"\r\n\0".to_vec();
    wire.push(0x0b);
    wire.extend(oru("LONE-1"));
    wire.push(0x1c); // no 0x0D
    s.write_all(&wire).await.unwrap();
    assert_eq!(
        msa(&read_frame(&mut s).await.unwrap()),
        ("AA".to_owned(), "LONE-1".to_owned())
    );
    let st = server.stats();
    assert_eq!(st.noise_bytes, 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_extra_connections() {
    let server = recording_server(Server::builder().max_connections(2), Seen::default()).await;
    let addr = server.local_addr().to_string();
    let mut a = Client::builder(addr.clone()).build();
    let mut b = Client::builder(addr.clone()).build();
    a.send(oru("L-1")).await.unwrap();
    b.send(oru("L-2")).await.unwrap();
    assert_eq!(server.stats().connections_open, 2);
    let mut c = TcpStream::connect(server.local_addr()).await.unwrap();
    assert_eq!(
        read_frame(&mut c).await,
        None,
        "third connection closed at once"
    );
    assert_eq!(server.stats().connections_refused, 1);
    a.close().await;
    let stats = server.stats_handle();
    wait_until("slot freed", || stats.snapshot().connections_open == 1).await;
    let mut d = Client::builder(addr).build();
    assert_eq!(d.send(oru("L-3")).await.unwrap().code, AckCode::AA);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_message() {
    let started = Arc::new(tokio::sync::Notify::new());
    let s2 = started.clone();
    let server = Server::builder()
        .build(move |_m: Incoming| {
            let s2 = s2.clone();
            async move {
                s2.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let stats = server.stats_handle();
    let mut client = Client::builder(addr.to_string()).max_attempts(1).build();
    let send = tokio::spawn(async move { client.send(oru("INFLIGHT-1")).await });
    started.notified().await;
    server.shutdown().await; // returns only after the in-flight message was ACKed
    let ack = send
        .await
        .unwrap()
        .expect("in-flight message still acknowledged");
    assert_eq!(ack.code, AckCode::AA);
    let st = stats.snapshot();
    assert_eq!((st.accepted, st.connections_open), (1, 0));
    // No longer listening.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panic_gives_ae_and_server_keeps_serving() {
    let server = Server::builder()
        .build(|m: Incoming| async move {
            assert!(
                m.control_id != "PANIC-1",
                "handler failure (expected by the test)"
            );
            Ok(())
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
    s.write_all(&ehrkit_mllp::encode_to_vec(&oru("PANIC-1")).unwrap())
        .await
        .unwrap();
    // Never accepted: an AE (the sender does not resend it for ever), counted as a panic.
    let nak = read_frame(&mut s).await.expect("a NAK");
    assert_eq!(msa(&nak), ("AE".to_string(), "PANIC-1".to_string()));
    let mut client = Client::builder(server.local_addr().to_string()).build();
    assert_eq!(
        client.send(oru("AFTER-PANIC")).await.unwrap().code,
        AckCode::AA
    );
    let stats = server.stats_handle();
    wait_until("the AA counted", || stats.snapshot().accepted == 1).await;
    assert_eq!(stats.snapshot().handler_panics, 1);
    assert_eq!(stats.snapshot().naks, 1);
    server.shutdown().await;
}

/// 200 connections × 100 messages: each delivered exactly once (no retries needed) and ACKed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_connections_times_one_hundred_messages() {
    const CONNS: usize = 200;
    const MSGS: usize = 100;
    let seen = Seen::default();
    let server = recording_server(Server::builder(), seen.clone()).await;
    let addr = server.local_addr().to_string();
    let mut tasks = Vec::new();
    for c in 0..CONNS {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::builder(addr)
                .ack_timeout(Duration::from_secs(60))
                .build();
            let mut acked = 0;
            for m in 0..MSGS {
                let id = format!("C{c}-M{m}");
                let ack = client.send(oru(&id)).await.unwrap();
                assert_eq!(ack.control_id, id);
                assert_eq!(ack.code, AckCode::AA);
                acked += 1;
            }
            assert_eq!(client.stats().retries, 0);
            client.close().await;
            acked
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, CONNS * MSGS);
    assert_eq!(seen.keys(), CONNS * MSGS, "every message handled");
    assert_eq!(seen.total() as usize, CONNS * MSGS, "and exactly once");
    // The server counts an ACK once its write returned, which may be just after the client
    // read it.
    let stats = server.stats_handle();
    wait_until("every ACK counted", || {
        stats.snapshot().accepted as usize == CONNS * MSGS
    })
    .await;
    let st = server.stats();
    assert_eq!(st.connections_accepted as usize, CONNS);
    server.shutdown().await;
}
