//! Runs every seed of the `mllp_framer` fuzz target through the target's property check, so
//! the seeds are exercised without cargo-fuzz.

#[path = "../../fuzz/props/mllp.rs"]
mod props;

use props::check_framer as check;

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
        // Issue 10 item 2: a lone 0x1C inside an OBX text is not an end (lenient, error mode)...
        ("lone_fs_in_text", (0, false)),
        // ... and in resync mode the cut frame is dropped, the next one kept.
        ("lone_fs_in_text_resync", (1, true)),
    ];
    for (name, expect) in want {
        assert_eq!(results.get(name), Some(&expect), "seed {name}");
    }
}
