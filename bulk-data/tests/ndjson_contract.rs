//! The readers' error contract (issue 10 item 13): a bad line is never silent
//! loss of the records after it, and what the reader accepts the writer writes.

use ehrkit_bulk_data::ndjson::{NdjsonReader, NdjsonWriter, PushReader, RawRecord, ReaderOptions};
use ehrkit_bulk_data::{Error, NdjsonErrorKind};

/// 30,125 lines: valid Patients with a bad line every 1,000 lines (not JSON,
/// no resourceType, invalid UTF-8 in turn).
fn messy_file() -> (Vec<u8>, usize, usize) {
    let mut data = Vec::new();
    let (mut valid, mut bad) = (0, 0);
    for i in 0..30_125 {
        if i % 1000 == 500 {
            bad += 1;
            match i % 3 {
                0 => data.extend_from_slice(b"not json at all"),
                1 => data.extend_from_slice(b"{\"id\":\"no type\"}"),
                _ => data.extend_from_slice(b"{\"resourceType\":\"Patient\",\"x\":\"\xff\"}"),
            }
        } else {
            valid += 1;
            data.extend_from_slice(
                format!("{{\"resourceType\":\"Patient\",\"id\":\"p{i}\"}}").as_bytes(),
            );
        }
        data.push(b'\n');
    }
    (data, valid, bad)
}

/// A caller that keeps feeding after an error must either get every valid
/// record or keep getting errors: never `Ok` with records missing.
#[test]
fn push_reader_never_loses_records_silently() {
    let (data, valid, _bad) = messy_file();
    for chunk in [7usize, 4096, 65_536, 1_000_003, 1 << 22] {
        let mut p = PushReader::new(ReaderOptions::default());
        let mut delivered = 0usize;
        let mut first_err = None;
        let mut ok_after_error = 0usize;
        let mut delivered_at_first_err = None;
        for (i, c) in data.chunks(chunk).enumerate() {
            let mut cb = |_r: RawRecord<'_>| {
                delivered += 1;
                Ok(())
            };
            let res = p.feed(c, &mut cb);
            if res.is_err() && delivered_at_first_err.is_none() {
                delivered_at_first_err = Some(delivered);
            }
            match res {
                Ok(()) if first_err.is_some() => ok_after_error += 1,
                Ok(()) => {}
                Err(_) => {
                    first_err.get_or_insert(i);
                }
            }
        }
        let mut cb = |_r: RawRecord<'_>| {
            delivered += 1;
            Ok(())
        };
        let fin = p.finish(&mut cb);
        assert!(first_err.is_some(), "bad lines must be reported");
        let complete = delivered == valid;
        // Sticky: once an error is returned, no record is delivered and every call fails.
        let sticky =
            ok_after_error == 0 && fin.is_err() && delivered_at_first_err == Some(delivered);
        assert!(
            complete || sticky,
            "chunk {chunk}: {delivered} of {valid} valid records delivered, \
             {ok_after_error} feeds answered Ok after the error"
        );
    }
}

/// `feed_each` is the error-then-continue form: every line's outcome, in order.
#[test]
fn push_reader_feed_each_delivers_every_valid_record_and_every_error() {
    let (data, valid, bad) = messy_file();
    for chunk in [7usize, 4096, 1 << 20] {
        let mut p = PushReader::new(ReaderOptions::default().name("messy.ndjson"));
        let (mut ok, mut errs) = (0usize, Vec::new());
        let mut cb = |r: ehrkit_bulk_data::Result<RawRecord<'_>>| {
            match r {
                Ok(_) => ok += 1,
                Err(Error::Ndjson { location, .. }) => errs.push(location.line),
                Err(e) => panic!("{e}"),
            }
            Ok(())
        };
        for c in data.chunks(chunk) {
            p.feed_each(c, &mut cb).unwrap();
        }
        p.finish_each(&mut cb).unwrap();
        assert_eq!(ok, valid, "chunk {chunk}");
        assert_eq!(errs.len(), bad);
        assert_eq!(errs[0], 501);
    }
}

/// The pull reader continues after a bad line and delivers every valid record.
#[test]
fn pull_reader_continues_after_bad_lines() {
    let (data, valid, bad) = messy_file();
    let mut r = NdjsonReader::new(&data[..]);
    let (mut ok, mut errs) = (0, 0);
    while let Some(rec) = r.next_record() {
        match rec {
            Ok(_) => ok += 1,
            Err(_) => errs += 1,
        }
    }
    assert_eq!((ok, errs), (valid, bad));
}

/// A CR inside a record (JSON whitespace, but a line break to many tools) is
/// refused by the reader, as by the writer; CRs around the record are line-ending noise.
#[test]
fn cr_inside_a_record_is_refused_like_the_writer_does() {
    let line = "{\"resourceType\":\"Patient\",\r\"id\":\"1\"}";
    assert_eq!(line.len(), 36);
    let mut w = NdjsonWriter::new(Vec::new());
    assert!(w.write_raw(line).is_err(), "the writer refuses a CR");
    let data = format!("{line}\n{{\"resourceType\":\"Patient\",\"id\":\"2\"}}\r\r\n");
    let mut r = NdjsonReader::new(data.as_bytes());
    match r.next_record().unwrap() {
        Err(Error::Ndjson {
            location,
            kind: NdjsonErrorKind::CarriageReturn { at },
        }) => {
            assert_eq!(location.line, 1);
            assert_eq!(at, 26);
        }
        other => panic!("{other:?}"),
    }
    let rec = r.next_record().unwrap().unwrap();
    assert_eq!(rec.json(), "{\"resourceType\":\"Patient\",\"id\":\"2\"}");
    w.write_raw(rec.json()).unwrap();
    assert!(r.next_record().is_none());
}
