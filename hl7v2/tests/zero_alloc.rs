//! Proof that a warmed-up [`Parser`] parses and reads messages without any heap allocation.
//!
//! This test binary installs a counting global allocator. It is the only code of the crate with
//! `unsafe` (the `GlobalAlloc` impl, which only forwards to `System`): the crate manifest sets
//! `unsafe_code = "deny"` so that this file can allow it, and `src/lib.rs` keeps `#![forbid(unsafe_code)]`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ehrkit_hl7v2::{Parser, Path, Value};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged; the
// only extra work is incrementing a const-initialised thread-local counter, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

const ADT: &[u8] = include_bytes!("data/adt_a01_epic.hl7");
const ORU: &[u8] = include_bytes!("data/oru_r01_lab.hl7");
const LF: &[u8] = include_bytes!("data/lf_vendor_mix.hl7");

#[test]
fn warmed_up_parser_does_not_allocate() {
    let inputs: [&[u8]; 3] = [ADT, ORU, LF];
    let paths: Vec<Path> = [
        "MSH-9.1",
        "MSH-10",
        "PID-3(1).1",
        "PID-5.1",
        "PID-8",
        "OBX(2)-5",
        "NTE-3",
        "OBX(9)-5",
        "OBR-4.2",
        "ZZZ-1",
    ]
    .iter()
    .map(|p| p.parse().unwrap())
    .collect();
    let mut parser = Parser::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut work = |parser: &mut Parser| {
        let mut found = 0usize;
        for input in inputs {
            let msg = parser.parse(input).expect("parses");
            for p in &paths {
                // Escape-free values come back borrowed, and raw access never allocates.
                if let Value::Present(raw) = msg.value_path(p) {
                    found += raw.len();
                }
                // Decoding escapes (\.br\, \S\ in OBX(2)-5 of the LF message) into a reused buffer.
                if let Some(v) = msg.decode_into(p, &mut buf).expect("decodes") {
                    found += v.len();
                }
            }
            found += msg.segments().filter(|s| s.name().starts_with('O')).count();
        }
        found
    };
    // Warm-up: the index buffers grow to the largest message.
    let expected = work(&mut parser);
    assert!(expected > 100);
    // get() on escape-free values borrows from the input: no allocation either.
    let msg = parser.parse(ADT).unwrap();
    let before = allocs();
    assert_eq!(msg.get("PID-3(2).1").as_deref(), Some("1000472931"));
    assert_eq!(allocs(), before);
    let before = allocs();
    for _ in 0..200 {
        assert_eq!(work(&mut parser), expected);
    }
    let after = allocs();
    assert_eq!(after - before, 0, "heap allocations after warm-up");

    // The counter does count: a fresh Message::parse allocates its own index.
    let before = allocs();
    let m = ehrkit_hl7v2::Message::parse(ORU).unwrap();
    assert!(m.segment_count() > 5);
    assert!(allocs() > before);
}
