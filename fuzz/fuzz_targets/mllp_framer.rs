#![no_main]
//! MLLP framer: arbitrary bytes in arbitrary splits never panic; in every mode the frames
//! are the same however the stream is split, and re-encoding them gives frames back.
use ehrkit_mllp::{encode_to_vec, EndMode, FrameBuffer, FramerConfig, OutsideData};
use libfuzzer_sys::fuzz_target;

/// Frames (or the error position) for `data` pushed in chunks of `step` bytes.
fn run(cfg: &FramerConfig, data: &[u8], step: usize) -> (Vec<Vec<u8>>, bool) {
    let mut fb = FrameBuffer::new(cfg.clone());
    let mut frames = Vec::new();
    for chunk in data.chunks(step.max(1)) {
        fb.push(chunk);
        loop {
            match fb.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.len() <= cfg.max_frame_size);
                    frames.push(f.to_vec());
                }
                Ok(None) => break,
                Err(_) => return (frames, false),
            }
        }
    }
    match fb.finish() {
        Ok(Some(f)) => frames.push(f.to_vec()),
        Ok(None) => {}
        Err(_) => return (frames, false),
    }
    (frames, true)
}

fuzz_target!(|input: &[u8]| {
    if input.is_empty() {
        return;
    }
    let (ctl, data) = input.split_at(1);
    let c = ctl[0];
    let cfg = FramerConfig::default()
        .with_max_frame_size(if c & 1 == 0 {
            1 << 20
        } else {
            (c as usize) * 4
        })
        .with_end_mode(if c & 2 == 0 {
            EndMode::Lenient
        } else {
            EndMode::Strict
        })
        .with_outside_data(if c & 4 == 0 {
            OutsideData::Error
        } else {
            OutsideData::Resync
        });
    let whole = run(&cfg, data, data.len());
    let split = run(&cfg, data, 1 + (c as usize >> 3));
    // Splitting never changes the outcome.
    assert_eq!(whole, split);
    // Every frame re-encodes and decodes back to itself.
    let mut wire = Vec::new();
    for f in &whole.0 {
        wire.extend(encode_to_vec(f).expect("decoded frames hold no framing bytes"));
    }
    let again = run(&cfg, &wire, 7);
    assert_eq!(again, (whole.0, true));
});
