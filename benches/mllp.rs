//! MLLP benches: framer throughput on a stream of pipelined frames (ehrkit-mllp vs
//! hl7-mllp-codec on the same bytes), and send + ACK round trips over loopback with 1 and 8
//! connections.
//!
//! `cargo bench --bench mllp --features mllp-tokio`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ehrkit::mllp::{encode_to_vec, Client, Framer, FramerConfig, Incoming, MllpCodec, Server};
use tokio_util::codec::Decoder;

/// A realistic ~2 KB ORU^R01 with the given control ID.
fn message(id: usize) -> Vec<u8> {
    let mut m = format!(
        "MSH|^~\\&|LAB|GHH LAB|EHR|GHH|20240315090000||ORU^R01^ORU_R01|BENCH{id}|P|2.5.1\r\
         PID|1||555{id}^^^GHH^MR~887766^^^GHH^PI||EVERYWOMAN^EVE^E^^^^L||19700101|F\r\
         OBR|1|845439^GHH OE|1045813^GHH LAB|24331-1^LIPID PANEL^LN|||20240315073000\r"
    );
    for k in 0..20 {
        m.push_str(&format!(
            "OBX|{k}|NM|2093-3^CHOLESTEROL TOTAL^LN||{}|mg/dL|<200|N|||F|||20240315080000|GHH LAB^^^^^^^^^LABID\r",
            150 + k
        ));
    }
    m.into_bytes()
}

/// `n` pipelined frames back to back.
fn stream(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut wire = Vec::new();
    let mut frames = Vec::new();
    for i in 0..n {
        let f = encode_to_vec(&message(i)).unwrap();
        wire.extend_from_slice(&f);
        frames.push(f);
    }
    (wire, frames)
}

fn framer(c: &mut Criterion) {
    let (wire, frames) = stream(2000);
    let mut g = c.benchmark_group("mllp_framer_pipelined");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.sample_size(30);

    // Sans-IO framer over the whole stream, no copies.
    g.bench_function("ehrkit-mllp Framer (sans-IO)", |b| {
        b.iter(|| {
            let mut f = Framer::new(FramerConfig::default());
            let mut pos = 0;
            let mut n = 0;
            loop {
                let d = f.decode(&wire[pos..]).unwrap();
                pos += d.consumed;
                if d.frame.is_none() {
                    break;
                }
                n += 1;
            }
            assert_eq!(n, 2000);
            n
        })
    });

    // tokio-util codec on a BytesMut holding the whole stream (the copy into it is setup).
    g.bench_function("ehrkit-mllp MllpCodec (BytesMut)", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut codec = MllpCodec::default();
                let mut n = 0;
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    n += f.len().min(1);
                }
                assert_eq!(n, 2000);
                n
            },
            BatchSize::LargeInput,
        )
    });

    // hl7-mllp-codec on the same bytes. Its default (spec-compliant) build searches for the
    // footer from the end of the buffer, so a pipelined stream comes back as ONE merged frame:
    // it is measured as it behaves, and the frame count is printed below.
    g.bench_function("hl7-mllp-codec (whole stream)", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut codec = hl7_mllp_codec::MllpCodec::new();
                let mut n = 0;
                while let Some(_f) = codec.decode(&mut buf).unwrap() {
                    n += 1;
                }
                n
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // The same frames, one per buffer (the only way hl7-mllp-codec returns them correctly).
    let mut g = c.benchmark_group("mllp_framer_one_frame_per_read");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.sample_size(30);
    let per_frame = || {
        frames
            .iter()
            .map(|f| BytesMut::from(&f[..]))
            .collect::<Vec<_>>()
    };
    g.bench_function("ehrkit-mllp MllpCodec", |b| {
        b.iter_batched(
            per_frame,
            |bufs| {
                let mut codec = MllpCodec::default();
                let mut n = 0;
                for mut buf in bufs {
                    n += codec.decode(&mut buf).unwrap().is_some() as usize;
                }
                assert_eq!(n, 2000);
                n
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("hl7-mllp-codec", |b| {
        b.iter_batched(
            per_frame,
            |bufs| {
                let mut codec = hl7_mllp_codec::MllpCodec::new();
                let mut n = 0;
                for mut buf in bufs {
                    n += codec.decode(&mut buf).unwrap().is_some() as usize;
                }
                assert_eq!(n, 2000);
                n
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut buf = BytesMut::from(&wire[..]);
    let mut codec = hl7_mllp_codec::MllpCodec::new();
    let mut merged = 0;
    while codec.decode(&mut buf).unwrap().is_some() {
        merged += 1;
    }
    println!("note: on the 2000-frame pipelined stream hl7-mllp-codec returned {merged} frame(s); ehrkit-mllp returns 2000");
}

fn round_trips(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        Server::builder()
            .build(|_m: Incoming| async { Ok(()) })
            .bind("127.0.0.1:0")
            .await
            .unwrap()
    });
    let addr = server.local_addr().to_string();
    let msg = message(1);

    let mut g = c.benchmark_group("mllp_loopback_round_trips");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for conns in [1usize, 8] {
        let clients: Vec<Client> = rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..conns {
                let mut c = Client::builder(addr.clone()).build();
                c.connect().await.unwrap();
                v.push(c);
            }
            v
        });
        let clients = std::sync::Arc::new(tokio::sync::Mutex::new(clients));
        g.bench_function(format!("send+ACK, {conns} connection(s)"), |b| {
            b.iter_custom(|iters| {
                let clients = clients.clone();
                let msg = msg.clone();
                rt.block_on(async move {
                    let mut guard = clients.lock().await;
                    let all = std::mem::take(&mut *guard);
                    let iters = iters as usize;
                    let start = Instant::now();
                    let tasks: Vec<_> = all
                        .into_iter()
                        .enumerate()
                        .map(|(i, mut c)| {
                            let msg = msg.clone();
                            // Exactly `iters` round trips in all, spread over the connections.
                            let per = iters / conns + usize::from(i < iters % conns);
                            tokio::spawn(async move {
                                for _ in 0..per {
                                    c.send(&msg).await.unwrap();
                                }
                                c
                            })
                        })
                        .collect();
                    for t in tasks {
                        guard.push(t.await.unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
    rt.block_on(server.shutdown());
}

criterion_group!(benches, framer, round_trips);
criterion_main!(benches);
