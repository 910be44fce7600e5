//! The offset index is sized to the delimiters a message holds, not to its length (issue 10 item 5:
//! a 16 MiB message used to allocate about 320 MiB of index, 20 bytes per input byte, whatever its
//! content).
//!
//! This test binary installs a counting global allocator that tracks the bytes live on the current
//! thread and their peak, so each test measures the peak heap use of one parse. It is the only `unsafe`
//! here (the `GlobalAlloc` impl forwards to `System`), allowed by the crate manifest's `deny` level as in
//! `tests/zero_alloc.rs`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ehrkit_hl7v2::{Message, Parser};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged; the
// only extra work is updating const-initialised thread-local counters, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the worst case of a moving realloc: both blocks live at once.
        add(new_size as isize);
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        add(-(layout.size() as isize));
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak bytes allocated (above what was live before) while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(|p| p.get());
    ((peak - base).max(0) as usize, out)
}

const MIB: usize = 1 << 20;

/// A message of about `total` bytes: MSH, PID, then OBX segments whose OBX-5 is `body_len` bytes of
/// `unit` repeated (cut to length).
fn message(total: usize, body_len: usize, unit: &str) -> Vec<u8> {
    let mut m = b"MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101||ORU^R01|BIG1|P|2.5.1\rPID|1||42^^^HOSP^MR||DOE^JANE\r"
        .to_vec();
    let mut i = 1;
    while m.len() < total {
        let head = format!("OBX|{i}|TX|||");
        let room = total.saturating_sub(m.len() + head.len() + 1).min(body_len);
        if room == 0 {
            break;
        }
        m.extend_from_slice(head.as_bytes());
        m.extend(unit.bytes().cycle().take(room));
        m.push(b'\r');
        i += 1;
    }
    m
}

/// Number of delimiter bytes (field, component, repetition, subcomponent separators) and segments.
fn census(m: &[u8]) -> (usize, usize) {
    let delims = m
        .iter()
        .filter(|&&b| matches!(b, b'|' | b'^' | b'~' | b'&'))
        .count();
    let segs = m.iter().filter(|&&b| b == b'\r').count();
    (delims, segs)
}

/// The bound the README states: at most 48 bytes per delimiter plus 96 per segment, plus 64 KiB, of
/// index (20 bytes per delimiter at worst, times 2 for amortized growth, rounded up).
fn bound(m: &[u8]) -> usize {
    let (d, s) = census(m);
    48 * d + 96 * s + 64 * 1024
}

#[test]
fn sixteen_mib_with_few_delimiters_allocates_little_index() {
    // One 16 MiB − 64 KiB OBX-5 of plain text (under the 16 MiB field limit): before the fix the index
    // levels were sized to the segment length, about 320 MiB.
    let m = message(
        16 * MIB,
        16 * MIB - 64 * 1024,
        "lorem ipsum dolor sit amet ",
    );
    let (peak, parsed) = peak_during(|| Message::parse(&m).map(|msg| msg.segment_count()));
    assert_eq!(parsed.unwrap(), 4);
    eprintln!(
        "few delimiters: input {} B, census {:?}, peak index {} B ({:.4} B/B)",
        m.len(),
        census(&m),
        peak,
        peak as f64 / m.len() as f64
    );
    assert!(
        peak <= bound(&m),
        "index of {peak} B for a {} B message with {:?} delimiters/segments exceeds {}",
        m.len(),
        census(&m),
        bound(&m)
    );
    assert!(peak < MIB, "peak {peak} B");
}

#[test]
fn sixteen_mib_with_many_delimiters_stays_within_the_per_delimiter_bound() {
    // Dense: a component separator every other byte in long OBX-5 values, plus many segments.
    let m = message(16 * MIB, 64 * 1024, "a^");
    let (peak, parsed) = peak_during(|| Message::parse(&m).map(|msg| msg.segment_count()));
    assert!(parsed.unwrap() > 200);
    eprintln!(
        "many delimiters: input {} B, census {:?}, peak index {} B ({:.2} B/B)",
        m.len(),
        census(&m),
        peak,
        peak as f64 / m.len() as f64
    );
    assert!(peak <= bound(&m), "peak {peak} B > bound {}", bound(&m));
}

#[test]
fn typical_segments_cost_what_their_delimiters_cost() {
    // Realistic density (about one delimiter per 6 bytes), many short segments, through a reused
    // Parser: the warmed-up buffers hold the same bound.
    let m = message(16 * MIB, 600, "12.5^mg/dL^UCUM|");
    let mut parser = Parser::new();
    let (peak, n) = peak_during(|| parser.parse(&m).map(|msg| msg.segment_count()));
    assert!(n.unwrap() > 20_000);
    eprintln!(
        "typical: input {} B, census {:?}, peak index {} B ({:.2} B/B)",
        m.len(),
        census(&m),
        peak,
        peak as f64 / m.len() as f64
    );
    assert!(peak <= bound(&m), "peak {peak} B > bound {}", bound(&m));
}
