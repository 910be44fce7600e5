//! Runs every seed of the `mllp_framer` fuzz target through the target's property check, so
//! the seeds are exercised without cargo-fuzz.

use ehrkit_mllp::{encode_to_vec, EndMode, FrameBuffer, FramerConfig, OutsideData};

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

/// The fuzz target's property; returns (frames, stream was clean).
fn check(input: &[u8]) -> (usize, bool) {
    if input.is_empty() {
        return (0, true);
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
    assert_eq!(whole, split);
    let mut wire = Vec::new();
    for f in &whole.0 {
        wire.extend(encode_to_vec(f).unwrap());
    }
    let again = run(&cfg, &wire, 7);
    assert_eq!(again, (whole.0.clone(), true));
    (whole.0.len(), whole.1)
}

#[test]
fn every_seed_passes_the_fuzz_property() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds/mllp_framer");
    let Ok(entries) = std::fs::read_dir(dir) else {
        println!("NOTICE: {dir} absent, skipping the fuzz seed replay");
        return;
    };
    let mut results = std::collections::BTreeMap::new();
    for e in entries {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        results.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            check(&data),
        );
    }
    // What each seed is about, checked.
    let want = [
        ("pipelined", (2, true)),
        ("noise_between", (2, true)),
        ("lone_fs_lenient", (2, true)),
        ("lone_fs_strict", (0, false)),
        ("garbage_resync", (1, true)),
        ("oversized", (0, false)),
        ("eof_in_frame", (1, false)),
    ];
    for (name, expect) in want {
        assert_eq!(results.get(name), Some(&expect), "seed {name}");
    }
}
