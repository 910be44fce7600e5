//! Cases a production hospital interface meets: odd but common message shapes on the server
//! side, misbehaving peers on the client side.
#![cfg(feature = "tokio")]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{msa, read_frame};
use ehrkit_hl7v2::Message;
use ehrkit_mllp::{
    encode_to_vec, AckCode, Client, ErrorCode, HandlerError, Incoming, Server, ServerHandle,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server recording the control ID of each message its handler sees; control IDs starting
/// with `ERR` get an application error.
async fn server(seen: Arc<Mutex<Vec<String>>>) -> ServerHandle {
    Server::builder()
        .build(move |m: Incoming| {
            let seen = seen.clone();
            async move {
                // The handler can always read the message it was given.
                let parsed = m.message().expect("Incoming::message parses");
                assert_eq!(parsed.get("MSH-10").as_deref(), Some(m.control_id.as_str()));
                seen.lock().unwrap().push(m.control_id.clone());
                if m.control_id.starts_with("ERR") {
                    return Err(HandlerError::error(ErrorCode::DataTypeError, "bad"));
                }
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

/// Sends `payload` framed on a fresh connection and returns the ACK payload.
async fn round_trip(addr: std::net::SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&encode_to_vec(payload).unwrap()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), read_frame(&mut s))
        .await
        .expect("ACK in time")
}

/// Reads successive frames from one socket, keeping bytes that arrived after a frame.
struct Reader {
    s: TcpStream,
    fb: ehrkit_mllp::FrameBuffer,
}

impl Reader {
    fn new(s: TcpStream) -> Self {
        Reader {
            s,
            fb: ehrkit_mllp::FrameBuffer::new(Default::default()),
        }
    }
    async fn frame(&mut self) -> Option<Vec<u8>> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(f) = self.fb.next_frame().ok()? {
                return Some(f.to_vec());
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut chunk))
                .await
                .expect("a frame in time")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.fb.push(&chunk[..n]);
        }
    }
}

/// Checks the ACK names the inbound sender as its receiver and vice versa.
fn assert_swapped(ack: &[u8], snd: &str, sfac: &str, rcv: &str, rfac: &str) {
    let a = Message::parse(ack).expect("ACK parses");
    assert_eq!(a.get("MSH-3").as_deref(), Some(rcv), "ACK MSH-3");
    assert_eq!(a.get("MSH-4").as_deref(), Some(rfac), "ACK MSH-4");
    assert_eq!(a.get("MSH-5").as_deref(), Some(snd), "ACK MSH-5");
    assert_eq!(a.get("MSH-6").as_deref(), Some(sfac), "ACK MSH-6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lf_terminated_segments_get_a_correct_aa() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    for msg in [
        &b"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|LF-1|P|2.5.1\nPID|1||42^^^MRN\n"[..],
        b"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|LF-1|P|2.5.1\r\nPID|1||42^^^MRN\r\n",
    ] {
        let ack = round_trip(srv.local_addr(), msg).await.expect("an ACK");
        assert_eq!(msa(&ack), ("AA".into(), "LF-1".into()));
        assert_swapped(&ack, "SND", "SFAC", "RCV", "RFAC");
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_bom_before_msh_is_accepted() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    let msg =
        b"\xEF\xBB\xBFMSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|BOM-1|P|2.5.1\rPID|1\r";
    let ack = round_trip(srv.local_addr(), msg).await.expect("an ACK");
    assert_eq!(msa(&ack), ("AA".into(), "BOM-1".into()));
    assert_swapped(&ack, "SND", "SFAC", "RCV", "RFAC");
    assert!(ack.starts_with(b"MSH|"), "no BOM echoed into the ACK");
    assert_eq!(*seen.lock().unwrap(), vec!["BOM-1".to_owned()]);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_encoding_characters_are_kept_in_the_ack() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    let msg = b"MSH|^~\\&#|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01^ADT_A01|V27-1|P|2.7\rPID|1\r";
    let ack = round_trip(srv.local_addr(), msg).await.expect("an ACK");
    assert!(
        ack.starts_with(b"MSH|^~\\&#|RCV|RFAC|SND|SFAC|"),
        "{:?}",
        String::from_utf8_lossy(&ack)
    );
    assert_eq!(msa(&ack), ("AA".into(), "V27-1".into()));
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iso_8859_1_payload_is_acked_with_exact_ids() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    // Latin-1 bytes (0xD4, 0xFC, 0xF6) in the sending facility and the patient name.
    // Declared in MSH-18, and (very common in the field) not declared at all.
    for msg in [
        &b"MSH|^~\\&|SND|H\xD4PITAL|RCV|RFAC|20240101120000||ADT^A01|L1-\xE91|P|2.3||||||8859/1\rPID|1||42^^^MRN||M\xFCller^J\xF6rg\r"[..],
        b"MSH|^~\\&|SND|H\xD4PITAL|RCV|RFAC|20240101120000||ADT^A01|L1-\xE91|P|2.3\rPID|1||42^^^MRN||M\xFCller^J\xF6rg\r",
    ] {
    let ack = round_trip(srv.local_addr(), msg).await.expect("an ACK");
    // MSH-10 and the sender are echoed byte for byte (the sender compares bytes).
    assert!(
        ack.windows(b"|SND|H\xD4PITAL|".len())
            .any(|w| w == b"|SND|H\xD4PITAL|"),
        "sender swapped into MSH-5/6 unchanged: {:?}",
        String::from_utf8_lossy(&ack)
    );
    assert!(
        ack.windows(b"MSA|AA|L1-\xE91\r".len())
            .any(|w| w == b"MSA|AA|L1-\xE91\r"),
        "MSA-2 is the inbound MSH-10 byte for byte: {:?}",
        String::from_utf8_lossy(&ack)
    );
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_msh18_charset_is_still_handled_and_acked() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    // A vendor spelling of a character set that no table lists.
    let msg = b"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|CS-1|P|2.5.1||||||WINDOWS-1252-ISH\rPID|1||42^^^MRN||Smith^Jo\r";
    let ack = round_trip(srv.local_addr(), msg).await.expect("an ACK");
    let text = String::from_utf8_lossy(&ack).into_owned();
    assert!(
        text.contains("MSA|AA|CS-1\r"),
        "accepted with the inbound control id: {text:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "the handler saw the message");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enhanced_mode_msh15_decides_whether_an_ack_is_sent() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    let m = |id: &str, msh15: &str| {
        format!("MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|{id}|P|2.5.1|||{msh15}|AL\rPID|1\r")
            .into_bytes()
    };
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    // Pipelined on one connection: NE (no ACK), SU ok (CA), ER ok (no ACK), ER error (CE),
    // SU error (no ACK), AL (CA), empty MSH-15 with MSH-16 AL (CA).
    let batch = [
        m("NE-1", "NE"),
        m("SU-1", "SU"),
        m("ER-1", "ER"),
        m("ERR-2", "ER"),
        m("ERR-3", "SU"),
        m("AL-1", "AL"),
        m("E-1", ""),
    ];
    let mut wire = Vec::new();
    for b in &batch {
        wire.extend(encode_to_vec(b).unwrap());
    }
    s.write_all(&wire).await.unwrap();
    let mut r = Reader::new(s);
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(msa(&r.frame().await.expect("an ACK")));
    }
    let want: Vec<(String, String)> = [
        ("CA", "SU-1"),
        ("CE", "ERR-2"),
        ("CA", "AL-1"),
        ("CA", "E-1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(seen.lock().unwrap().len(), 7, "every message handled once");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_or_whitespace_control_id_gets_ar_without_handler() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    for msg in [
        &b"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01||P|2.5.1\rPID|1\r"[..],
        b"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|\"\"|P|2.5.1\rPID|1\r",
    ] {
        let ack = round_trip(srv.local_addr(), msg).await.expect("a NAK");
        let a = Message::parse(&ack).unwrap();
        assert_eq!(a.get("MSA-1").as_deref(), Some("AR"));
        assert_eq!(a.get("ERR-3.1").as_deref(), Some("101"));
        assert_swapped(&ack, "SND", "SFAC", "RCV", "RFAC");
    }
    assert!(seen.lock().unwrap().is_empty(), "handler not called");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_message_gets_ar_with_err_and_no_handler_call() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    for msg in [&b"EVN|A01|20240101\rPID|1\r"[..], b"", b"MSH"] {
        let ack = round_trip(srv.local_addr(), msg).await.expect("a NAK");
        let a = Message::parse(&ack).unwrap();
        assert_eq!(a.get("MSA-1").as_deref(), Some("AR"));
        assert!(a.get("ERR-3.1").is_some(), "ERR segment present");
    }
    assert!(seen.lock().unwrap().is_empty());
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_handler_does_not_block_other_connections_and_gets_no_ack() {
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let srv = Server::builder()
        .build(move |m: Incoming| {
            let c2 = c2.clone();
            async move {
                c2.fetch_add(1, Ordering::SeqCst);
                if m.control_id == "STUCK" {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = srv.local_addr();
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(&encode_to_vec(&common::oru("STUCK")).unwrap())
        .await
        .unwrap();
    let mut client = Client::builder(addr.to_string()).build();
    for i in 0..5 {
        let ack = client
            .send(common::oru(&format!("FREE-{i}")))
            .await
            .unwrap();
        assert_eq!(ack.code, AckCode::AA);
    }
    let mut b = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_millis(200), stuck.read(&mut b)).await;
    assert!(
        r.is_err(),
        "no ACK for a message the handler did not finish"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    drop(srv); // do not wait for the stuck handler
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_messages_in_one_write_are_acked_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    let mut wire = Vec::new();
    for i in 0..50 {
        wire.extend(encode_to_vec(&common::oru(&format!("P-{i}"))).unwrap());
        wire.extend_from_slice(b"\r\n");
    }
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    s.write_all(&wire).await.unwrap();
    let mut r = Reader::new(s);
    for i in 0..50 {
        let ack = r.frame().await.expect("an ACK");
        assert_eq!(msa(&ack), ("AA".into(), format!("P-{i}")));
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_acks_everything_handled() {
    let handled = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let h2 = handled.clone();
    let srv = Server::builder()
        .build(move |m: Incoming| {
            let h2 = h2.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                h2.lock().unwrap().insert(m.control_id.clone());
                Ok(())
            }
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = srv.local_addr();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for c in 0..8 {
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::builder(addr.to_string())
                .max_attempts(1)
                .ack_timeout(Duration::from_secs(5))
                .build();
            for i in 0..1000 {
                match client.send(common::oru(&format!("C{c}-{i}"))).await {
                    Ok(a) => {
                        assert_eq!(a.code, AckCode::AA);
                        acked.lock().unwrap().push(a.control_id);
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    srv.shutdown().await;
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .unwrap()
            .unwrap();
    }
    let acked = acked.lock().unwrap();
    let handled = handled.lock().unwrap();
    assert!(!acked.is_empty());
    for id in acked.iter() {
        assert!(handled.contains(id), "ACKed but never handled: {id}");
    }
    // Every handled message was ACKed: shutdown waited for in-flight handlers and their ACKs.
    assert_eq!(handled.len(), acked.len());
}

/// A fake receiver: for each connection in turn, reads one frame and answers with what
/// `answer(connection, control_id)` returns (raw bytes, written as is), then keeps the
/// connection open until the peer closes it.
async fn fake_receiver(
    answer: impl Fn(usize, &str) -> Vec<u8> + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<AtomicU32>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicU32::new(0));
    let c2 = conns.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        for n in 0..10usize {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            c2.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let Some(f) = read_frame(&mut s).await else {
                    return;
                };
                let m = Message::parse(&f).unwrap();
                let id = m.get("MSH-10").unwrap().into_owned();
                let bytes = answer(n, &id);
                if bytes.is_empty() {
                    return; // close at once
                }
                let _ = s.write_all(&bytes).await;
                let mut sink = [0u8; 1024];
                while let Ok(k) = s.read(&mut sink).await {
                    if k == 0 {
                        break;
                    }
                }
            });
        }
    });
    (addr, conns)
}

fn ack_for(id: &str, code: &str) -> Vec<u8> {
    encode_to_vec(
        format!(
            "MSH|^~\\&|RCV|RFAC|SND|SFAC|20240101120001||ACK^R01|A{id}|P|2.5.1\rMSA|{code}|{id}\r"
        )
        .as_bytes(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_does_not_take_an_ack_for_another_control_id() {
    // First connection: an AA for some other message. Second: the right ACK.
    let (addr, conns) = fake_receiver(|n, id| {
        if n == 0 {
            ack_for("SOMETHING-ELSE", "AA")
        } else {
            ack_for(id, "AA")
        }
    })
    .await;
    let mut client = Client::builder(addr.to_string())
        .ack_timeout(Duration::from_millis(300))
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build();
    let ack = client.send(common::oru("MINE-1")).await.unwrap();
    assert_eq!(ack.control_id, "MINE-1");
    assert_eq!(msa(&ack.raw), ("AA".into(), "MINE-1".into()));
    let st = client.stats();
    assert_eq!((st.stale_acks, st.retries, st.frames_sent), (1, 1, 2));
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_does_not_take_an_aa_with_empty_msa2() {
    // An AA that names no message cannot be matched: it must not count as delivery.
    let (addr, _conns) = fake_receiver(|n, id| {
        if n == 0 {
            ack_for("", "AA")
        } else {
            ack_for(id, "AA")
        }
    })
    .await;
    let mut client = Client::builder(addr.to_string())
        .ack_timeout(Duration::from_millis(300))
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build();
    let ack = client.send(common::oru("MINE-2")).await.unwrap();
    assert_eq!(msa(&ack.raw), ("AA".into(), "MINE-2".into()));
    assert_eq!(client.stats().frames_sent, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_resends_when_the_server_closes_mid_ack() {
    let (addr, conns) = fake_receiver(|n, id| {
        let full = ack_for(id, "AA");
        match n {
            0 => full[..full.len() / 2].to_vec(), // then hangs: ACK timeout
            _ => full,
        }
    })
    .await;
    let mut client = Client::builder(addr.to_string())
        .ack_timeout(Duration::from_millis(300))
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build();
    let ack = client.send(common::oru("HALF-1")).await.unwrap();
    assert_eq!(ack.code, AckCode::AA);
    assert_eq!(conns.load(Ordering::SeqCst), 2);

    // Half an ACK, then the server closes the socket.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        for n in 0..3 {
            let (mut s, _) = l.accept().await.unwrap();
            let f = read_frame(&mut s).await.unwrap();
            let id = Message::parse(&f)
                .unwrap()
                .get("MSH-10")
                .unwrap()
                .into_owned();
            let full = ack_for(&id, "AA");
            if n == 0 {
                s.write_all(&full[..full.len() - 5]).await.unwrap();
                drop(s);
            } else {
                s.write_all(&full).await.unwrap();
                let _ = s.read(&mut [0u8; 64]).await;
            }
        }
    });
    let mut client = Client::builder(addr.to_string())
        .ack_timeout(Duration::from_secs(5))
        .backoff(Duration::from_millis(10), Duration::from_millis(10))
        .build();
    let ack = client.send(common::oru("HALF-2")).await.unwrap();
    assert_eq!(msa(&ack.raw), ("AA".into(), "HALF-2".into()));
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_sends_latin1_messages_and_matches_their_acks() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    let mut client = Client::builder(srv.local_addr().to_string())
        .max_attempts(1)
        .build();
    let msg = b"MSH|^~\\&|SND|H\xD4PITAL|RCV|RFAC|20240101120000||ADT^A01|L1-\xE92|P|2.3\rPID|1||42^^^MRN||M\xFCller^J\xF6rg\r";
    let ack = client
        .send(&msg[..])
        .await
        .expect("AA for a Latin-1 message");
    assert_eq!(ack.code, AckCode::AA);
    assert_eq!(seen.lock().unwrap().len(), 1);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_stuck_handler_ends_after_the_grace_period_without_ack() {
    let srv = Server::builder()
        .shutdown_grace(Duration::from_millis(300))
        .build(|m: Incoming| async move {
            if m.control_id == "STUCK" {
                std::future::pending::<()>().await;
            }
            Ok(())
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let stats = srv.stats_handle();
    let mut stuck = TcpStream::connect(srv.local_addr()).await.unwrap();
    stuck
        .write_all(&encode_to_vec(&common::oru("STUCK")).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(10), srv.shutdown())
        .await
        .expect("shutdown returns after the grace period");
    assert_eq!(read_frame(&mut stuck).await, None, "closed without an ACK");
    let st = stats.snapshot();
    assert_eq!((st.accepted, st.connections_open), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_messages_that_ask_for_no_accept_ack() {
    // A receiver honouring MSH-15 NE sends nothing back: a client awaiting an ACK would time out
    // and resend the message again and again (each one delivered).
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    let mut client = Client::builder(srv.local_addr().to_string())
        .ack_timeout(Duration::from_millis(200))
        .backoff(Duration::from_millis(5), Duration::from_millis(5))
        .max_attempts(3)
        .build();
    for msh15 in ["NE", "ER", "SU"] {
        let msg = format!(
            "MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|Q-{msh15}|P|2.5.1|||{msh15}|AL\rPID|1\r"
        );
        let err = client.send(msg.as_bytes()).await.unwrap_err();
        assert!(
            matches!(err, ehrkit_mllp::Error::AckNotRequested { index: 0 }),
            "{err:?}"
        );
    }
    let al = b"MSH|^~\\&|SND|SFAC|RCV|RFAC|20240101120000||ADT^A01|Q-AL|P|2.5.1|||AL|NE\rPID|1\r";
    assert_eq!(client.send(&al[..]).await.unwrap().code, AckCode::CA);
    assert_eq!(*seen.lock().unwrap(), vec!["Q-AL".to_owned()]);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_foreign_acks_does_not_defeat_the_ack_timeout() {
    // A misconfigured receiver keeps sending ACKs that name other messages, faster than the
    // ACK timeout: the timeout covers the wait for *our* ACK, not for any frame.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = read_frame(&mut s).await;
                for i in 0..200 {
                    if s.write_all(&ack_for(&format!("OTHER-{i}"), "AA"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });
    let mut client = Client::builder(addr.to_string())
        .ack_timeout(Duration::from_millis(200))
        .backoff(Duration::from_millis(5), Duration::from_millis(5))
        .max_attempts(2)
        .build();
    let r = tokio::time::timeout(Duration::from_secs(3), client.send(common::oru("MINE-3")))
        .await
        .expect("the ACK timeout fires despite the foreign ACKs");
    assert!(
        matches!(
            r,
            Err(ehrkit_mllp::Error::RetriesExhausted { attempts: 2, .. })
        ),
        "{r:?}"
    );
    assert!(client.stats().stale_acks >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_that_half_closes_after_its_message_still_gets_the_ack() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let srv = server(seen.clone()).await;
    let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
    let mut wire = encode_to_vec(&common::oru("HC-1")).unwrap();
    wire.extend(encode_to_vec(&common::oru("HC-2")).unwrap());
    wire.pop(); // the last frame ends with a lone 0x1C, then the write side closes
    s.write_all(&wire).await.unwrap();
    s.shutdown().await.unwrap();
    let mut r = Reader::new(s);
    assert_eq!(msa(&r.frame().await.unwrap()), ("AA".into(), "HC-1".into()));
    assert_eq!(msa(&r.frame().await.unwrap()), ("AA".into(), "HC-2".into()));
    assert_eq!(r.frame().await, None);
    srv.shutdown().await;
}
