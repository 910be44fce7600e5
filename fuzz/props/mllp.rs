//! The property behind the `mllp_framer` fuzz target, shared by path with
//! `mllp/tests/fuzz_seeds.rs` so the seeds run the exact same check without cargo-fuzz. Uses
//! `ehrkit-mllp` through its public API only. Panics when the property is violated; must
//! never panic otherwise.

use ehrkit_mllp::{encode_to_vec, EndMode, FrameBuffer, FramerConfig, OutsideData};

/// Frames of `data` pushed in chunks of `step` bytes, and whether the stream ended cleanly.
fn run(cfg: &FramerConfig, data: &[u8], step: usize) -> (Vec<Vec<u8>>, bool) {
    let mut fb = FrameBuffer::new(cfg.clone());
    let mut frames = Vec::new();
    // A frame whose following bytes already fail `check_boundary` must be followed by an error.
    let mut boundary_failed = false;
    for chunk in data.chunks(step.max(1)) {
        fb.push(chunk);
        loop {
            match fb.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.len() <= cfg.max_frame_size, "frame over the limit");
                    assert!(
                        !f.contains(&0x0b) && !f.contains(&0x1c),
                        "a frame holds a framing byte"
                    );
                    frames.push(f.to_vec());
                    boundary_failed |= fb.framer().check_boundary(fb.leftover()).is_err();
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
    assert!(
        !boundary_failed,
        "check_boundary failed after a frame, yet the stream ended cleanly"
    );
    (frames, true)
}

/// The first byte picks the framer configuration (limit, end mode, outside-data mode, split
/// size); the rest is the stream. In every mode the frames are the same however the stream is
/// split, and re-encoding them gives the same frames back. In lenient mode a frame never ends
/// at a lone `0x1C` that follows text and precedes more text (checked through the split
/// invariance: such an end would depend on where the stream was split). Returns (frames,
/// stream was clean).
pub fn check_framer(input: &[u8]) -> (usize, bool) {
    let Some((&c, data)) = input.split_first() else {
        return (0, true);
    };
    let cfg = FramerConfig::default()
        .max_frame_size(if c & 1 == 0 {
            1 << 20
        } else {
            (c as usize) * 4
        })
        .end_mode(if c & 2 == 0 {
            EndMode::Lenient
        } else {
            EndMode::Strict
        })
        .outside_data(if c & 4 == 0 {
            OutsideData::Error
        } else {
            OutsideData::Resync
        });
    let whole = run(&cfg, data, data.len());
    let split = run(&cfg, data, 1 + (c as usize >> 3));
    assert_eq!(whole, split, "splitting the stream changed the outcome");
    let mut wire = Vec::new();
    for f in &whole.0 {
        wire.extend(encode_to_vec(f).expect("decoded frames hold no framing bytes"));
    }
    let again = run(&cfg, &wire, 7);
    assert_eq!(again, (whole.0.clone(), true), "re-encoded frames differ");
    (whole.0.len(), whole.1)
}
