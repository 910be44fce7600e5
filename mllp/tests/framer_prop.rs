//! Property tests: any split of any frame sequence gives back exactly those frames.

use ehrkit_mllp::{encode_to_vec, EndMode, Error, FrameBuffer, Framer, FramerConfig, OutsideData};
use proptest::prelude::*;

/// Payload bytes: anything but the two framing bytes, biased towards HL7-looking text.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(b"MSH|^~\\&PID0123456789ABCxyz\r\n ".to_vec()),
            1 => any::<u8>().prop_filter("no framing bytes", |b| *b != 0x0b && *b != 0x1c),
        ],
        0..300,
    )
}

fn noise() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![0u8, b'\t', b'\n', 0x0c, b'\r', b' ']),
        0..4,
    )
}

/// (frames, wire bytes). `lone_fs` ends some frames with 0x1C alone (lenient senders), after
/// a segment terminator as such senders write them.
fn stream(lone_fs: bool) -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>)> {
    prop::collection::vec((payload(), noise(), any::<bool>()), 0..12).prop_map(move |items| {
        let mut wire = Vec::new();
        let mut frames = Vec::new();
        for (p, n, lone) in items {
            wire.extend_from_slice(&n);
            let mut p = p;
            let lone = lone_fs && lone;
            if lone && !p.is_empty() && !p.ends_with(b"\r") && !p.ends_with(b"\n") {
                // Lenient ends a frame at a lone 0x1C after a complete segment.
                p.push(b'\r');
            }
            let mut f = encode_to_vec(&p).unwrap();
            if lone {
                f.pop(); // drop the 0x0D
            }
            wire.extend_from_slice(&f);
            frames.push(p);
        }
        (frames, wire)
    })
}

fn splits(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..20).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

fn decode_split(cfg: FramerConfig, wire: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, Error> {
    let mut fb = FrameBuffer::new(cfg);
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&wire.len())) {
        fb.push(&wire[prev..c]);
        prev = c;
        while let Some(f) = fb.next_frame()? {
            out.push(f.to_vec());
        }
    }
    if let Some(f) = fb.finish()? {
        out.push(f.to_vec());
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_back_the_frames((frames, wire) in stream(false), cuts in splits(4000)) {
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
        for cfg in [FramerConfig::default(), FramerConfig::default().end_mode(EndMode::Strict)] {
            let got = decode_split(cfg, &wire, &cuts).unwrap();
            prop_assert_eq!(&got, &frames);
        }
    }

    #[test]
    fn lenient_accepts_lone_fs_in_any_split((frames, wire) in stream(true), cuts in splits(4000)) {
        let cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
        let got = decode_split(FramerConfig::default(), &wire, &cuts).unwrap();
        prop_assert_eq!(got, frames);
    }

    /// The raw sans-IO API with a caller-owned buffer, appending random-sized chunks.
    #[test]
    fn raw_framer_with_caller_buffer((frames, wire) in stream(false), step in 1usize..64) {
        let mut framer = Framer::new(FramerConfig::default());
        let mut buf: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        for chunk in wire.chunks(step) {
            buf.extend_from_slice(chunk);
            loop {
                let d = framer.decode(&buf).unwrap();
                if let Some(r) = d.frame.clone() {
                    got.push(buf[r].to_vec());
                }
                buf.drain(..d.consumed);
                if d.frame.is_none() { break; }
            }
        }
        prop_assert!(framer.finish(&buf).unwrap().frame.is_none());
        prop_assert_eq!(got, frames);
        prop_assert_eq!(framer.stream_offset(), wire.len() as u64);
    }

    /// Arbitrary bytes: never a panic, and every frame returned is free of framing bytes and
    /// no larger than the limit, in every mode.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), step in 1usize..50,
                                   strict in any::<bool>(), resync in any::<bool>(), max in 0usize..200) {
        let cfg = FramerConfig::default()
            .max_frame_size(max)
            .end_mode(if strict { EndMode::Strict } else { EndMode::Lenient })
            .outside_data(if resync { OutsideData::Resync } else { OutsideData::Error });
        let mut fb = FrameBuffer::new(cfg);
        'outer: for chunk in data.chunks(step) {
            fb.push(chunk);
            loop {
                match fb.next_frame() {
                    Ok(Some(f)) => {
                        prop_assert!(f.len() <= max);
                        prop_assert!(!f.contains(&0x0b) && !f.contains(&0x1c));
                    }
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
    }
}
