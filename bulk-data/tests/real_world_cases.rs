//! Edge cases seen from real Bulk Data servers and files (BOM, decoys, escapes, CRLF,
//! relative manifest URLs, odd `Retry-After` values).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ehrkit_bulk_data::{parse_retry_after, ExportJob, PollConfig, PollStep, RetryAfter};
use ehrkit_bulk_data::{Manifest, NdjsonReader};

fn types(data: &[u8]) -> Vec<String> {
    let mut r = NdjsonReader::new(data);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        let rec = rec.unwrap_or_else(|e| panic!("{e}"));
        // Every raw record must be valid JSON on its own.
        let v: serde_json::Value = rec.deserialize().unwrap();
        assert_eq!(v["resourceType"], rec.resource_type());
        out.push(rec.resource_type().to_owned());
    }
    out
}

#[test]
fn ndjson_utf8_bom_on_first_line_is_ignored() {
    let data = b"\xEF\xBB\xBF{\"resourceType\":\"Patient\",\"id\":\"1\"}\n{\"resourceType\":\"Observation\"}\n";
    assert_eq!(types(data), ["Patient", "Observation"]);
}

#[test]
fn ndjson_bom_only_at_stream_start() {
    // A BOM later in the file is not whitespace: that line is an error, not silently accepted.
    let data = b"{\"resourceType\":\"Patient\"}\n\xEF\xBB\xBF{\"resourceType\":\"Observation\"}\n";
    let mut r = NdjsonReader::new(&data[..]);
    assert!(r.next_record().unwrap().is_ok());
    assert!(r.next_record().unwrap().is_err());
}

#[test]
fn ndjson_nested_resource_type_before_top_level() {
    let data = br#"{"contained":[{"resourceType":"Medication","id":"m"}],"meta":{"resourceType":"X"},"resourceType":"MedicationRequest"}"#;
    assert_eq!(types(data), ["MedicationRequest"]);
}

#[test]
fn ndjson_escaped_key() {
    let data = br#"{"id":"1","resource\u0054ype":"Patient"}"#;
    assert_eq!(types(data), ["Patient"]);
}

#[test]
fn ndjson_crlf_trailing_whitespace_and_no_final_newline() {
    let data = b"{\"resourceType\":\"Patient\"}  \t\r\n\r\n{\"resourceType\":\"Observation\"} \r\n{\"resourceType\":\"Encounter\"}  ";
    assert_eq!(types(data), ["Patient", "Observation", "Encounter"]);
    let data = b"{\"resourceType\":\"Patient\"}";
    assert_eq!(types(data), ["Patient"]);
}

#[test]
fn ndjson_truncated_last_line_is_an_error() {
    let data = b"{\"resourceType\":\"Patient\"}\n{\"resourceType\":\"Observation\",\"code\":{\"text\":\"a}";
    let mut r = NdjsonReader::new(&data[..]);
    assert!(r.next_record().unwrap().is_ok());
    assert!(r.next_record().unwrap().is_err());
}

#[test]
fn manifest_tolerant_members() {
    let body =
        br#"{"transactionTime":"2024-01-01T00:00:00Z","request":"https://x.example/fhir/$export",
        "requiresAccessToken":false,
        "output":[{"type":"Patient","url":"https://x.example/files/p.ndjson","extension":{"a":1}}],
        "error":[],"extension":{"https://x.example/e":true}}"#;
    let m = Manifest::from_json(body).unwrap();
    assert_eq!(m.output[0].count, None);
    assert!(m.output[0].other.contains_key("extension"));
    assert!(m.error.is_empty());
    assert!(m.other.contains_key("extension"));
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn manifest_relative_urls_resolved_against_status_url() {
    let status: url::Url = "https://x.example/fhir/bulkstatus/42".parse().unwrap();
    let mut job = ExportJob::resume(status, PollConfig::default(), t0());
    let body = br#"{"transactionTime":"2024-01-01T00:00:00Z","request":"https://x.example/fhir/$export",
        "requiresAccessToken":true,
        "output":[{"type":"Patient","url":"/files/p.ndjson"},{"type":"Observation","url":"files/o.ndjson"}],
        "error":[{"type":"OperationOutcome","url":"https://other.example/e.ndjson"}],
        "link":[{"relation":"next","url":"/fhir/bulkstatus/42?page=2"}]}"#;
    let resp = http::Response::new(body.to_vec());
    let PollStep::Complete(m) = job.on_status_response(&resp, t0()).unwrap() else {
        panic!("not complete")
    };
    assert_eq!(m.output[0].url, "https://x.example/files/p.ndjson");
    assert_eq!(
        m.output[1].url,
        "https://x.example/fhir/bulkstatus/files/o.ndjson"
    );
    assert_eq!(m.error[0].url, "https://other.example/e.ndjson");
    assert_eq!(
        m.next_page(),
        Some("https://x.example/fhir/bulkstatus/42?page=2")
    );
}

#[test]
fn retry_after_edge_values() {
    let now = t0();
    // RFC 9110: a date in the past means "retry now" (the clamp then applies the minimum).
    let past = httpdate::fmt_http_date(now - Duration::from_secs(3600));
    assert_eq!(
        parse_retry_after(&past, now),
        RetryAfter::Delay(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after("0", now),
        RetryAfter::Delay(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("-1", now), RetryAfter::Garbage);
    assert_eq!(parse_retry_after("-1.5", now), RetryAfter::Garbage);
    assert_eq!(parse_retry_after("NaN", now), RetryAfter::Garbage);
    assert_eq!(parse_retry_after("inf", now), RetryAfter::Garbage);
    assert_eq!(
        parse_retry_after("1.5", now),
        RetryAfter::Delay(Duration::from_millis(1500))
    );
    // Obsolete HTTP-date forms are still HTTP-dates (RFC 9110 §5.6.7).
    assert_eq!(
        parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
        RetryAfter::Delay(Duration::ZERO)
    );
}

#[test]
fn polling_with_past_date_zero_and_negative_uses_bounds() {
    let status: url::Url = "https://x.example/status/1".parse().unwrap();
    let mut job = ExportJob::resume(status, PollConfig::default(), t0());
    let past = httpdate::fmt_http_date(t0() - Duration::from_secs(100));
    for v in [past.as_str(), "0", "-3", "1.5"] {
        let resp = http::Response::builder()
            .status(202)
            .header("Retry-After", v)
            .body(Vec::new())
            .unwrap();
        match job.on_status_response(&resp, t0()).unwrap() {
            PollStep::Wait(p) => {
                assert!(
                    p.next_poll_in >= Duration::from_secs(1),
                    "{v}: {:?}",
                    p.next_poll_in
                );
                assert!(p.next_poll_in <= Duration::from_secs(300), "{v}");
            }
            other => panic!("{v}: {other:?}"),
        }
    }
}

#[test]
fn inverted_wait_range_set_through_fields_does_not_panic() {
    let mut config = PollConfig::default();
    config.min_wait = Duration::from_secs(10);
    config.max_wait = Duration::from_secs(2);
    let status: url::Url = "https://x.example/status/1".parse().unwrap();
    let mut job = ExportJob::resume(status, config, t0());
    let resp = http::Response::builder()
        .status(202)
        .header("Retry-After", "5")
        .body(Vec::new())
        .unwrap();
    assert!(matches!(
        job.on_status_response(&resp, t0()).unwrap(),
        PollStep::Wait(_)
    ));
}

#[test]
fn manifest_null_arrays_are_empty() {
    let body = br#"{"transactionTime":"2024-01-01T00:00:00Z","request":"https://x.example/fhir/$export",
        "requiresAccessToken":true,"output":[{"type":"Patient","url":"https://x.example/p.ndjson","count":null}],
        "error":null,"deleted":null,"link":null}"#;
    let m = Manifest::from_json(body).unwrap();
    assert_eq!(m.output.len(), 1);
    assert_eq!(m.output[0].count, None);
    assert!(m.error.is_empty() && m.deleted.is_empty() && m.link.is_empty());
    // Serialising and reading back gives the same manifest.
    let again = Manifest::from_json(&serde_json::to_vec(&m).unwrap()).unwrap();
    assert_eq!(again, m);
}

/// Found by the `ndjson_reader` fuzz target: a line ending `}  \r \r\n` was accepted, but its
/// `json()` kept the trailing whitespace and stray CR, so our own writer refused to write it back.
#[test]
fn ndjson_trailing_whitespace_and_stray_cr_are_not_part_of_the_record() {
    use ehrkit_bulk_data::ndjson::NdjsonWriter;
    let input = b"{\"resourceType\":\"Patient\",\"id\":\"a\"}  \r \r\n{\"resourceType\":\"Observation\"}\t\n";
    let mut r = NdjsonReader::new(&input[..]);
    let mut w = NdjsonWriter::new(Vec::new());
    let mut seen = Vec::new();
    while let Some(rec) = r.next_record() {
        let rec = rec.expect("valid record");
        assert!(
            rec.json().ends_with('}'),
            "record is exactly the object: {:?}",
            rec.json()
        );
        seen.push(rec.resource_type().to_owned());
        w.write_raw(rec.json())
            .expect("a record we read can be written back");
    }
    assert_eq!(seen, ["Patient", "Observation"]);
    let out = w.finish().unwrap();
    assert_eq!(
        out,
        b"{\"resourceType\":\"Patient\",\"id\":\"a\"}\n{\"resourceType\":\"Observation\"}\n"
    );
}

/// Also from the fuzz target: leading spaces and a stray CR before the object.
#[test]
fn ndjson_leading_whitespace_and_stray_cr_are_not_part_of_the_record() {
    let input = b"   \r{\"resourceType\":\"Patient\",\"id\":\"1\"}\n";
    let mut r = NdjsonReader::new(&input[..]);
    let rec = r.next_record().expect("a record").expect("valid");
    assert_eq!(rec.json(), "{\"resourceType\":\"Patient\",\"id\":\"1\"}");
    let mut w = ehrkit_bulk_data::ndjson::NdjsonWriter::new(Vec::new());
    w.write_raw(rec.json()).expect("writable");
}

/// ASP.NET-hosted servers write JSON with `Encoding.UTF8`, which starts the body with a UTF-8
/// byte order mark; RFC 8259 §8.1 lets parsers ignore it. The completion manifest must read.
#[test]
fn manifest_with_a_utf8_bom_is_read() {
    let status: url::Url = "https://x.example/fhir/bulkstatus/7".parse().unwrap();
    let mut job = ExportJob::resume(status, PollConfig::default(), t0());
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(
        br#"{"transactionTime":"2024-03-01T00:00:00Z","request":"https://x.example/fhir/$export",
        "requiresAccessToken":true,
        "output":[{"type":"Patient","url":"https://x.example/files/p.ndjson","count":1}],"error":[]}"#,
    );
    let resp = http::Response::new(body);
    let PollStep::Complete(m) = job.on_status_response(&resp, t0()).unwrap() else {
        panic!("not complete")
    };
    assert_eq!(m.next_since(), "2024-03-01T00:00:00Z");
    assert_eq!(m.output[0].url, "https://x.example/files/p.ndjson");
}

/// An HTTP-date `Retry-After` is on the server's clock (RFC 9110 §10.2.3); the `Date` header
/// is that clock's "now". A status endpoint two minutes behind the client asking for 30 s must
/// be polled in 30 s, not at the 1 s floor; one five minutes ahead asking for 5 s, in 5 s,
/// not at the 5 min ceiling.
#[test]
fn an_http_date_retry_after_is_read_against_the_servers_date() {
    let poll = |server_now: SystemTime, ask: u64| {
        let status: url::Url = "https://x.example/fhir/bulkstatus/9".parse().unwrap();
        let mut job = ExportJob::resume(status, PollConfig::default(), t0());
        let resp = http::Response::builder()
            .status(202)
            .header("Date", httpdate::fmt_http_date(server_now))
            .header(
                "Retry-After",
                httpdate::fmt_http_date(server_now + Duration::from_secs(ask)),
            )
            .body(Vec::new())
            .unwrap();
        match job.on_status_response(&resp, t0()).unwrap() {
            PollStep::Wait(p) => p.next_poll_in,
            other => panic!("not a wait: {other:?}"),
        }
    };
    assert_eq!(
        poll(t0() - Duration::from_secs(120), 30),
        Duration::from_secs(30)
    );
    assert_eq!(
        poll(t0() + Duration::from_secs(300), 5),
        Duration::from_secs(5)
    );
    // Same clocks: as before.
    assert_eq!(poll(t0(), 20), Duration::from_secs(20));
}
