//! Framer edge cases at every split position: what field senders actually put on the wire.

use ehrkit_mllp::{EndMode, Error, FrameBuffer, FramerConfig, FramerStats, OutsideData};

/// Feeds `chunks` and returns the frames, the counters, and the error if any.
fn run(cfg: &FramerConfig, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, FramerStats, Option<Error>) {
    let mut fb = FrameBuffer::new(cfg.clone());
    let mut out = Vec::new();
    for c in chunks {
        fb.push(c);
        loop {
            match fb.next_frame() {
                Ok(Some(f)) => out.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => return (out, fb.framer().stats(), Some(e)),
            }
        }
    }
    match fb.finish() {
        Ok(Some(f)) => out.push(f.to_vec()),
        Ok(None) => {}
        Err(e) => return (out, fb.framer().stats(), Some(e)),
    }
    (out, fb.framer().stats(), None)
}

/// Runs `wire` whole, then split at every pair of positions (every 2- and 3-way split, which
/// includes one byte at a time around every delimiter), and checks every run agrees.
fn all_splits_agree(cfg: &FramerConfig, wire: &[u8]) -> (Vec<Vec<u8>>, FramerStats, Option<Error>) {
    let whole = run(cfg, &[wire]);
    let key = |r: &(Vec<Vec<u8>>, FramerStats, Option<Error>)| {
        (r.0.clone(), r.1, r.2.as_ref().map(|e| e.to_string()))
    };
    for i in 0..=wire.len() {
        for j in i..=wire.len() {
            let r = run(cfg, &[&wire[..i], &wire[i..j], &wire[j..]]);
            assert_eq!(key(&r), key(&whole), "split at {i},{j} of {wire:?}");
        }
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(key(&run(cfg, &bytes)), key(&whole), "1-byte chunks");
    whole
}

fn lenient() -> FramerConfig {
    FramerConfig::default()
}
fn strict() -> FramerConfig {
    FramerConfig::default().end_mode(EndMode::Strict)
}

#[test]
fn fs_cr_lf_trailer_every_split() {
    // Some senders end frames with 0x1C 0x0D 0x0A; the LF is noise, not an error.
    let wire = b"\x0bMSH|A\r\x1c\x0d\x0a\x0bMSH|B\r\x1c\x0d\x0a\x0b\x1c\x0d";
    for cfg in [lenient(), strict()] {
        let (frames, st, err) = all_splits_agree(&cfg, wire);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            frames,
            vec![b"MSH|A\r".to_vec(), b"MSH|B\r".to_vec(), Vec::new()]
        );
        assert_eq!((st.frames, st.noise_bytes, st.payload_bytes), (3, 2, 12));
    }
}

#[test]
fn lone_fs_every_split() {
    let wire = b"\x0bA\x1c\x0bB\x1c\x0d\x0bC\x1c";
    let (frames, st, err) = all_splits_agree(&lenient(), wire);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames, vec![b"A".to_vec(), b"B".to_vec(), b"C".to_vec()]);
    assert_eq!(st.noise_bytes, 0);
    let (frames, _, err) = all_splits_agree(&strict(), wire);
    assert!(frames.is_empty());
    assert!(
        matches!(err, Some(Error::MissingCarriageReturn { offset: 3 })),
        "{err:?}"
    );
}

/// Issue 10 item 2: a lone 0x1C inside a payload (after text, not after a segment end, and
/// followed by more text) is not the end of the frame in any mode or split; in resync mode the
/// broken frame is dropped, never handed over cut.
#[test]
fn lone_fs_inside_payload_is_not_an_end_every_split() {
    let wire: &[u8] =
        b"\x0bMSH|A\rOBX|1|TX|||first part\x1cSECOND PART\rOBX|2\r\x1c\r\x0bMSH|B\r\x1c\r";
    let fs = wire.iter().position(|&b| b == 0x1c).unwrap();
    for cfg in [lenient(), strict()] {
        let (frames, _, err) = all_splits_agree(&cfg, wire);
        assert!(frames.is_empty(), "{frames:?}");
        assert!(err.is_some());
    }
    let (frames, _, err) = all_splits_agree(&lenient().outside_data(OutsideData::Resync), wire);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        frames,
        vec![b"MSH|B\r".to_vec()],
        "the cut frame is dropped"
    );
    let _ = fs;
}

#[test]
fn fs_as_last_byte_then_eof() {
    let (frames, _, err) = all_splits_agree(&lenient(), b"\x0bMSH|X\r\x1c");
    assert_eq!((frames, err.is_none()), (vec![b"MSH|X\r".to_vec()], true));
    let (frames, _, err) = all_splits_agree(&strict(), b"\x0bMSH|X\r\x1c");
    assert!(frames.is_empty());
    assert!(
        matches!(err, Some(Error::MissingCarriageReturn { offset: 8 })),
        "{err:?}"
    );
}

#[test]
fn nested_start_byte_every_split() {
    let wire = b"\x0bPART\x0bMSH|W\x1c\x0d";
    for cfg in [lenient(), strict()] {
        let (frames, _, err) = all_splits_agree(&cfg, wire);
        assert!(frames.is_empty());
        assert!(
            matches!(err, Some(Error::StartInsideFrame { offset: 5 })),
            "{err:?}"
        );
        let (frames, st, err) =
            all_splits_agree(&cfg.clone().outside_data(OutsideData::Resync), wire);
        assert!(err.is_none());
        assert_eq!(frames, vec![b"MSH|W".to_vec()]);
        assert_eq!(st.discarded_bytes, 5);
    }
}

#[test]
fn data_before_first_start_error_or_resync() {
    let wire = b"\r\nGARBAGE\x0bMSH|1\x1c\x0d\x0a";
    let (frames, _, err) = all_splits_agree(&lenient(), wire);
    assert!(frames.is_empty());
    assert!(
        matches!(err, Some(Error::DataOutsideFrame { offset: 2 })),
        "{err:?}"
    );
    let cfg = lenient().outside_data(OutsideData::Resync);
    let (frames, st, err) = all_splits_agree(&cfg, wire);
    assert!(err.is_none());
    assert_eq!(frames, vec![b"MSH|1".to_vec()]);
    assert_eq!((st.discarded_bytes, st.noise_bytes), (7, 3));
}

#[test]
fn max_size_exactly_at_limit_and_one_over_every_split() {
    for cfg in [lenient(), strict()] {
        let cfg = cfg.max_frame_size(6);
        let (frames, _, err) = all_splits_agree(&cfg, b"\x0b123456\x1c\x0d\x0b\x1c\x0d");
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames, vec![b"123456".to_vec(), Vec::new()]);
        let (frames, _, err) = all_splits_agree(&cfg, b"\x0bok\x1c\x0d\x0b1234567\x1c\x0d");
        assert_eq!(frames, vec![b"ok".to_vec()]);
        assert!(
            matches!(
                err,
                Some(Error::FrameTooLarge {
                    offset: 5,
                    limit: 6
                })
            ),
            "{err:?}"
        );
    }
    // Limit 0: only empty frames.
    let cfg = lenient().max_frame_size(0);
    let (frames, _, err) = all_splits_agree(&cfg, b"\x0b\x1c\x0d\x0bX\x1c\x0d");
    assert_eq!(frames, vec![Vec::new()]);
    assert!(
        matches!(
            err,
            Some(Error::FrameTooLarge {
                offset: 3,
                limit: 0
            })
        ),
        "{err:?}"
    );
}

#[test]
fn oversize_is_reported_without_waiting_for_the_end() {
    let mut fb = FrameBuffer::new(lenient().max_frame_size(1000));
    fb.push(b"\x0b");
    for _ in 0..1000 {
        fb.push(b"x");
        assert_eq!(fb.next_frame().unwrap(), None);
    }
    fb.push(b"x");
    assert!(matches!(fb.next_frame(), Err(Error::FrameTooLarge { .. })));
}

#[test]
fn noise_types_between_frames() {
    let wire = b"\0\t\n\x0c\r \x0bA\x1c\x0d\0\0\r\n\x0bB\x1c\x0d  ";
    let (frames, st, err) = all_splits_agree(&lenient(), wire);
    assert!(err.is_none());
    assert_eq!(frames, vec![b"A".to_vec(), b"B".to_vec()]);
    assert_eq!(st.noise_bytes, 12);
}

#[test]
fn eight_mib_one_byte_at_a_time_is_linear() {
    // 64 pipelined 64 KiB frames, then one 4 MiB frame (8 MiB in all), pushed one byte at a
    // time: the counters must come out exact (the elapsed time is printed, not asserted).
    let mut wire = Vec::new();
    let body: Vec<u8> = (0..64 * 1024).map(|i| b"MSH|^~\\&|PID\r"[i % 13]).collect();
    for _ in 0..64 {
        wire.extend(ehrkit_mllp::encode_to_vec(&body).unwrap());
    }
    let big: Vec<u8> = (0..4 << 20).map(|i| b"OBX|1|TX|||x\r"[i % 13]).collect();
    wire.extend(ehrkit_mllp::encode_to_vec(&big).unwrap());
    let start = std::time::Instant::now();
    let mut fb = FrameBuffer::new(lenient());
    let mut frames = 0u64;
    let mut payload = 0u64;
    for b in wire.chunks(1) {
        fb.push(b);
        while let Some(f) = fb.next_frame().unwrap() {
            frames += 1;
            payload += f.len() as u64;
        }
    }
    assert!(fb.finish().unwrap().is_none());
    eprintln!(
        "NOTE: {} bytes one byte at a time framed in {:?} (debug build)",
        wire.len(),
        start.elapsed()
    );
    let st = fb.framer().stats();
    assert_eq!((frames, st.frames), (65, 65));
    assert_eq!(payload, 64 * 64 * 1024 + (4 << 20));
    assert_eq!(st.payload_bytes, payload);
    assert_eq!(fb.framer().stream_offset(), wire.len() as u64);
    assert!(fb.leftover().is_empty());
}

mod split_invariance {
    use super::*;
    use proptest::prelude::*;

    /// Bytes rich in framing and noise bytes, so every state and transition is exercised.
    fn wire() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(vec![0x0b, 0x1c, 0x0d, 0x0a, 0x00, b' ', b'A', b'|', 0x0c]),
            0..80,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the bytes and the mode, splitting the stream differently never changes the
        /// frames, the error, or the counters.
        #[test]
        fn any_bytes_any_split_same_outcome(data in wire(), cuts in prop::collection::vec(0usize..80, 0..8),
                                            strict in any::<bool>(), resync in any::<bool>(), max in 0usize..12) {
            let cfg = FramerConfig::default()
                .max_frame_size(max)
                .end_mode(if strict { EndMode::Strict } else { EndMode::Lenient })
                .outside_data(if resync { OutsideData::Resync } else { OutsideData::Error });
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for c in cuts.into_iter().chain(std::iter::once(data.len())) {
                chunks.push(&data[prev..c]);
                prev = c;
            }
            let whole = run(&cfg, &[&data]);
            let split = run(&cfg, &chunks);
            prop_assert_eq!(&split.0, &whole.0);
            prop_assert_eq!(split.2.as_ref().map(|e| e.to_string()), whole.2.as_ref().map(|e| e.to_string()));
            if whole.2.is_none() {
                prop_assert_eq!(split.1, whole.1);
            }
        }
    }
}
