//! NDJSON write → read round-trips (proptest) over the pull, push and async
//! readers, with random chunk boundaries, CRLF/LF endings and blank lines.

use std::io::Read;

use ehrkit_bulk_data::ndjson::{NdjsonReader, NdjsonWriter, PushReader, ReaderOptions};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A reader that hands out the data in the given chunk sizes (cycled).
struct Chunked<'a> {
    data: &'a [u8],
    pos: usize,
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes[self.i % self.sizes.len()].max(1);
        self.i += 1;
        let n = want.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "\\PC*".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z\"\\\\{}]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn resource() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["Patient", "Observation", "Bundle", "OperationOutcome"]),
        any::<String>(),
        value(),
        any::<bool>(),
    )
        .prop_map(|(rt, id, extra, decoy)| {
            // serde_json's default map sorts keys, so "contained", "extension"
            // and "id" come before "resourceType": the scanner must skip them.
            let mut o = json!({"resourceType": rt, "id": id, "extension": extra});
            if decoy {
                o["contained"] = json!([{"resourceType": "Decoy", "x": "\"resourceType\":\"No\""}]);
            }
            o
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read(
        records in prop::collection::vec(resource(), 0..20),
        crlf in prop::collection::vec(any::<bool>(), 20),
        blanks in prop::collection::vec(0usize..3, 20),
        final_newline in any::<bool>(),
        sizes in prop::collection::vec(1usize..300, 1..8),
    ) {
        let mut w = NdjsonWriter::new(Vec::new());
        for r in &records {
            w.write(r).unwrap();
        }
        prop_assert_eq!(w.records_written(), records.len() as u64);
        let written = String::from_utf8(w.finish().unwrap()).unwrap();
        // Re-shape line endings and add blank lines, as real files do.
        let mut data = String::new();
        for (i, line) in written.lines().enumerate() {
            for _ in 0..blanks[i % 20] {
                data.push_str(if crlf[i % 20] { "\r\n" } else { "\n" });
            }
            data.push_str(line);
            let last = i + 1 == records.len();
            if !last || final_newline {
                data.push_str(if crlf[i % 20] { "\r\n" } else { "\n" });
            }
        }

        // Pull reader with odd chunk sizes.
        let mut r = NdjsonReader::new(Chunked { data: data.as_bytes(), pos: 0, sizes: sizes.clone(), i: 0 });
        let mut got = Vec::new();
        while let Some(rec) = r.next_record() {
            let rec = rec.unwrap();
            let v: Value = rec.deserialize().unwrap();
            prop_assert_eq!(rec.resource_type(), v["resourceType"].as_str().unwrap());
            got.push(v);
        }
        prop_assert_eq!(&got, &records);

        // Push reader with the same chunking.
        let mut p = PushReader::new(ReaderOptions::default());
        let mut got2 = Vec::new();
        let mut cb = |rec: ehrkit_bulk_data::RawRecord<'_>| {
            got2.push(rec.deserialize::<Value>()?);
            Ok(())
        };
        let mut rest = data.as_bytes();
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            p.feed(&rest[..n], &mut cb).unwrap();
            rest = &rest[n..];
            i += 1;
        }
        p.finish(&mut cb).unwrap();
        prop_assert_eq!(&got2, &records);

        // Cutting the stream inside the last record is detected.
        if let Some(last) = records.last() {
            if !final_newline {
                let len = serde_json::to_string(last).unwrap().len();
                let cut = &data.as_bytes()[..data.len() - len / 2 - 1];
                let mut r = NdjsonReader::new(cut);
                let mut err = None;
                while let Some(rec) = r.next_record() {
                    if let Err(e) = rec {
                        err = Some(e);
                    }
                }
                prop_assert!(err.is_some(), "truncation not detected");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400), max in 1usize..64) {
        let mut r = NdjsonReader::with_options(&data[..], ReaderOptions::default().max_line_len(max));
        let mut n = 0;
        while let Some(rec) = r.next_record() {
            if let Ok(rec) = rec {
                prop_assert!(rec.json().len() <= max);
            }
            n += 1;
            prop_assert!(n <= data.len() + 1);
        }
    }
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn async_reader_matches_sync() {
    use ehrkit_bulk_data::ndjson::AsyncNdjsonReader;
    let data = b"{\"resourceType\":\"Patient\",\"id\":\"a\"}\r\n\n{\"meta\":{\"resourceType\":\"X\"},\"resourceType\":\"Observation\"}\n{\"resourceType\":\"Bundle\"";
    let mut r = AsyncNdjsonReader::new(&data[..]);
    let a = r.next_record().await.unwrap().unwrap();
    assert_eq!((a.resource_type(), a.line()), ("Patient", 1));
    let b = r.next_record().await.unwrap().unwrap();
    assert_eq!((b.resource_type(), b.line()), ("Observation", 3));
    assert!(matches!(
        r.next_record().await,
        Some(Err(ehrkit_bulk_data::Error::Ndjson {
            kind: ehrkit_bulk_data::NdjsonErrorKind::Truncated,
            ..
        }))
    ));
    assert!(r.next_record().await.is_none());
    assert_eq!(r.records_read(), 3);
}
