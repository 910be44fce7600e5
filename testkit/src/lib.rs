//! Test helpers shared by the ehrkit crates (placeholder; not published).
