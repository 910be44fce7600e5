//! The real servers start, answer, survive a restart with their data, and go away.

use std::io::{Read, Write};
use std::net::TcpStream;

use ehrkit_testkit::service_or_skip;
use ehrkit_testkit::services::{Kafka, Postgres};

#[test]
fn postgres_starts_keeps_data_across_a_restart_and_is_removed() {
    let mut pg = service_or_skip!(Postgres::start());
    let url = pg.create_database("kit_check").unwrap();
    assert!(url.ends_with("/kit_check"));
    pg.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (41), (1)")
        .unwrap();
    pg.restart().unwrap();
    assert_eq!(pg.psql("SELECT sum(v) FROM t").unwrap(), "42");
    let port = pg.port();
    drop(pg);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped on drop"
    );
}

/// A Kafka ApiVersions request (v0) answered by the broker: it speaks the protocol.
#[test]
fn tansu_answers_the_kafka_protocol_and_restarts_on_its_port() {
    let mut k = service_or_skip!(Kafka::start());
    let api_versions = |k: &Kafka| {
        let mut s = TcpStream::connect(k.bootstrap()).unwrap();
        // length, api_key 18 (ApiVersions), version 0, correlation id 7, client id "kit".
        let mut req = vec![0, 18, 0, 0, 0, 0, 0, 7, 0, 3];
        req.extend_from_slice(b"kit");
        let mut framed = (req.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(&req);
        s.write_all(&framed).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        // correlation id echoed, error code 0.
        assert_eq!(&body[..4], &[0, 0, 0, 7]);
        assert_eq!(&body[4..6], &[0, 0]);
    };
    api_versions(&k);
    k.create_topic("kit-check", 3).unwrap();
    k.restart().unwrap();
    api_versions(&k);
}
