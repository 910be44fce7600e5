//! Sans-IO MLLP framing: `0x0B` payload `0x1C 0x0D` (HL7 v2.5.1, Appendix C, "Minimal Lower
//! Layer Protocol"; <https://www.hl7.org/implement/standards/product_brief.cfm?product_id=185>).
//!
//! [`Framer`] is a state machine over a buffer the caller owns; [`FrameBuffer`] wraps it with
//! its own buffer for callers who just want to push bytes and pull frames.

use std::ops::Range;

use crate::Error;

/// Start-of-block byte (VT).
pub const START: u8 = 0x0B;
/// End-of-block byte (FS).
pub const END: u8 = 0x1C;
/// Carriage return that follows [`END`].
pub const CR: u8 = 0x0D;
/// Default maximum payload size: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// What to do with `0x1C` that is not followed by `0x0D`.
///
/// # Where a frame ends
///
/// A frame ends at `0x1C 0x0D` in both modes. In [`EndMode::Lenient`] (the default) a `0x1C`
/// *not* followed by `0x0D` also ends the frame, but only where that is consistent with a frame
/// boundary:
///
/// - the payload before it is empty or ends with a segment terminator (`0x0D` or `0x0A`), so
///   the `0x1C` follows a complete segment: the frame ends there, even when no further byte has
///   arrived yet (a sender that omits the `0x0D` waits for its ACK); or
/// - the byte after it is a start byte `0x0B` (the next frame follows at once); or
/// - the stream ends right after it ([`Framer::finish`]).
///
/// Any other `0x1C` inside a frame (typically one inside the text of a field, followed by more
/// text) is [`Error::AmbiguousEnd`]: the frame is never returned cut at that byte. With
/// [`OutsideData::Resync`] the broken frame is dropped (counted in
/// [`FramerStats::discarded_bytes`]) and framing resumes at the next start byte.
///
/// The decision never depends on how the stream was split into reads: the framer waits for the
/// byte after such a `0x1C` when it needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EndMode {
    /// Accept `0x1C` alone as the end of a frame where that is consistent with a frame boundary
    /// (after a segment terminator, before a start byte, or at the end of the stream; see
    /// [`EndMode`]); any other lone `0x1C` is [`Error::AmbiguousEnd`]. Many
    /// senders in the field omit the `0x0D`.
    #[default]
    Lenient,
    /// Require `0x1C 0x0D`; anything else is [`Error::MissingCarriageReturn`].
    Strict,
}

/// What to do with bytes between frames that are neither noise nor a start byte, and with a
/// start byte inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OutsideData {
    /// Fail with [`Error::DataOutsideFrame`] / [`Error::StartInsideFrame`].
    #[default]
    Error,
    /// Discard such bytes (counted in [`FramerStats::discarded_bytes`]) until the next start
    /// byte; a start byte inside a frame abandons the partial frame and starts a new one.
    Resync,
}

/// Framer settings. Build with [`FramerConfig::default`] and the setters named after the
/// fields.
///
/// ```
/// use ehrkit_mllp::{FramerConfig, OutsideData};
/// let cfg = FramerConfig::default()
///     .max_frame_size(1 << 20)
///     .strict(true)
///     .outside_data(OutsideData::Resync);
/// assert_eq!(cfg.max_frame_size, 1 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FramerConfig {
    /// Largest payload accepted, in bytes (default [`DEFAULT_MAX_FRAME_SIZE`]).
    pub max_frame_size: usize,
    /// Handling of `0x1C` without `0x0D` (default lenient).
    pub end_mode: EndMode,
    /// Handling of data outside frames (default error).
    pub outside_data: OutsideData,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            end_mode: EndMode::Lenient,
            outside_data: OutsideData::Error,
        }
    }
}

impl FramerConfig {
    /// Sets the maximum payload size in bytes.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }
    /// Sets the end-byte mode.
    pub fn end_mode(mut self, mode: EndMode) -> Self {
        self.end_mode = mode;
        self
    }
    /// `true`: [`EndMode::Strict`]; `false`: [`EndMode::Lenient`].
    pub fn strict(self, strict: bool) -> Self {
        self.end_mode(if strict {
            EndMode::Strict
        } else {
            EndMode::Lenient
        })
    }
    /// Sets the handling of data outside frames.
    pub fn outside_data(mut self, policy: OutsideData) -> Self {
        self.outside_data = policy;
        self
    }
}

/// Counters kept by a [`Framer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FramerStats {
    /// Complete frames returned.
    pub frames: u64,
    /// Payload bytes in those frames.
    pub payload_bytes: u64,
    /// NUL, whitespace and form-feed bytes skipped between frames.
    pub noise_bytes: u64,
    /// Bytes dropped by [`OutsideData::Resync`] (garbage between frames, abandoned partial
    /// frames, frames with an ambiguous end).
    pub discarded_bytes: u64,
}

/// The result of one [`Framer::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes at the front of the buffer the caller must now remove (noise, and the whole frame
    /// when one is returned).
    pub consumed: usize,
    /// The payload of a complete frame, as a range of the buffer given to `decode`.
    pub frame: Option<Range<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames.
    Idle,
    /// Inside a frame whose start byte is at buffer index 0; bytes before `scan` were examined.
    InFrame { scan: usize },
    /// Inside a frame whose start byte is at index 0; the end byte is at `end`, the last byte of
    /// the buffer, and the byte after it (needed to decide) has not arrived yet.
    EndSeen { end: usize },
}

/// Sans-IO MLLP frame decoder.
///
/// The caller owns the buffer. Each [`decode`](Framer::decode) call examines only bytes it
/// has not examined before, so framing is linear in the stream length however the stream is
/// split. Contract: after every call the caller removes exactly [`Decoded::consumed`] bytes
/// from the front of its buffer, and between calls it only appends bytes at the end.
///
/// After an error the stream cannot be trusted; drop the connection (or call
/// [`reset`](Framer::reset) and clear the buffer).
///
/// ```
/// use ehrkit_mllp::{Framer, FramerConfig};
/// let mut framer = Framer::new(FramerConfig::default());
/// let mut buf = b"\x0bMSH|^~\\&|A\r\x1c\x0d\n\x0bMSH|^~".to_vec();
/// let d = framer.decode(&buf).unwrap();
/// assert_eq!(&buf[d.frame.clone().unwrap()], b"MSH|^~\\&|A\r");
/// buf.drain(..d.consumed);
/// let d = framer.decode(&buf).unwrap();     // skips the '\n' noise, second frame incomplete
/// assert_eq!(d.frame, None);
/// buf.drain(..d.consumed);
/// assert_eq!(buf, b"\x0bMSH|^~");
/// ```
#[derive(Debug, Clone)]
pub struct Framer {
    config: FramerConfig,
    state: State,
    /// Stream offset of the caller's buffer front.
    pos: u64,
    stats: FramerStats,
    /// Lenient mode ended the last frame at a `0x1C` that was the last byte available: a `0x0D`
    /// arriving next belongs to that frame's trailer (not counted as noise).
    pending_cr: bool,
}

/// Bytes skipped silently between frames: NUL, tab, LF, FF, CR, space.
#[inline]
fn is_noise(b: u8) -> bool {
    matches!(b, 0x00 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

impl Framer {
    /// A framer with the given settings.
    pub fn new(config: FramerConfig) -> Self {
        Framer {
            config,
            state: State::Idle,
            pos: 0,
            stats: FramerStats::default(),
            pending_cr: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &FramerConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// True between frames (no partial frame pending).
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// Stream offset of the front of the caller's buffer (bytes consumed so far).
    pub fn stream_offset(&self) -> u64 {
        self.pos
    }

    /// Forgets any partial frame (counters are kept).
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.pending_cr = false;
    }

    /// Looks for the next complete frame in `buf`. See the type's contract.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded, Error> {
        let len = buf.len();
        let max = self.config.max_frame_size;
        // Index of the current frame's start byte (when inside a frame).
        let mut fs = 0usize;
        // Where the between-frames scan starts (after a frame dropped by resync).
        let mut from = 0usize;
        let mut state = self.state;
        // Defend against a caller that broke the contract (shrunk the buffer): never panic.
        match state {
            State::InFrame { scan } if scan > len || len == 0 || buf[0] != START => {
                state = State::InFrame { scan: 1.min(len) };
                if len == 0 || buf[0] != START {
                    state = State::Idle;
                }
            }
            State::EndSeen { end } if end >= len || buf[0] != START => {
                state = if len > 0 && buf[0] == START {
                    State::InFrame { scan: 1 }
                } else {
                    State::Idle
                };
            }
            _ => {}
        }
        loop {
            match state {
                State::Idle => {
                    let mut i = from;
                    if self.pending_cr && len > 0 && from == 0 {
                        self.pending_cr = false;
                        if buf[0] == CR {
                            i = 1;
                        }
                    }
                    while i < len {
                        let b = buf[i];
                        if b == START {
                            break;
                        } else if is_noise(b) {
                            self.stats.noise_bytes += 1;
                        } else if self.config.outside_data == OutsideData::Resync {
                            self.stats.discarded_bytes += 1;
                        } else {
                            self.state = State::Idle;
                            return Err(Error::DataOutsideFrame {
                                offset: self.pos + i as u64,
                            });
                        }
                        i += 1;
                    }
                    if i == len {
                        self.state = State::Idle;
                        self.pos += len as u64;
                        return Ok(Decoded {
                            consumed: len,
                            frame: None,
                        });
                    }
                    fs = i;
                    state = State::InFrame { scan: i + 1 };
                }
                State::InFrame { scan } => {
                    // The payload may hold at most `max` bytes, so the end byte can be at most
                    // at fs + 1 + max: never look further than that.
                    let window_end = len.min((fs + 2).saturating_add(max));
                    match memchr::memchr2(START, END, &buf[scan..window_end]) {
                        Some(k) => {
                            let j = scan + k;
                            if buf[j] == END {
                                state = State::EndSeen { end: j };
                            } else if self.config.outside_data == OutsideData::Resync {
                                self.stats.discarded_bytes += (j - fs) as u64;
                                fs = j;
                                state = State::InFrame { scan: j + 1 };
                            } else {
                                self.state = State::Idle;
                                return Err(Error::StartInsideFrame {
                                    offset: self.pos + j as u64,
                                });
                            }
                        }
                        None => {
                            if window_end - (fs + 1) > max {
                                self.state = State::Idle;
                                return Err(Error::FrameTooLarge {
                                    offset: self.pos + fs as u64,
                                    limit: max,
                                });
                            }
                            // Rebase so the start byte is at index 0 for the next call.
                            self.state = State::InFrame {
                                scan: window_end - fs,
                            };
                            self.pos += fs as u64;
                            return Ok(Decoded {
                                consumed: fs,
                                frame: None,
                            });
                        }
                    }
                }
                State::EndSeen { end } => {
                    let lenient = self.config.end_mode == EndMode::Lenient;
                    // A lone 0x1C right after a complete segment (or an empty payload) is a
                    // plausible end whatever follows; anywhere else it may be a byte inside a
                    // field, and only the next byte can tell.
                    let after_segment = end == fs + 1 || matches!(buf[end - 1], b'\r' | b'\n');
                    if end + 1 >= len {
                        if lenient && after_segment {
                            // Senders that end with a lone 0x1C wait for the ACK: complete now
                            // and take a 0x0D arriving later as this frame's trailer.
                            let d = self.complete(fs + 1..end, end + 1);
                            self.pending_cr = true;
                            return Ok(d);
                        }
                        self.state = State::EndSeen { end: end - fs };
                        self.pos += fs as u64;
                        return Ok(Decoded {
                            consumed: fs,
                            frame: None,
                        });
                    }
                    let next = buf[end + 1];
                    if next == CR {
                        return Ok(self.complete(fs + 1..end, end + 2));
                    }
                    if !lenient {
                        self.state = State::Idle;
                        return Err(Error::MissingCarriageReturn {
                            offset: self.pos + end as u64 + 1,
                        });
                    }
                    if after_segment || next == START {
                        return Ok(self.complete(fs + 1..end, end + 1));
                    }
                    if self.config.outside_data == OutsideData::Resync {
                        // Never hand over a frame cut at a byte that may be part of its text.
                        self.stats.discarded_bytes += (end + 1 - fs) as u64;
                        from = end + 1;
                        state = State::Idle;
                        continue;
                    }
                    self.state = State::Idle;
                    return Err(Error::AmbiguousEnd {
                        offset: self.pos + end as u64,
                    });
                }
            }
        }
    }

    fn complete(&mut self, payload: Range<usize>, consumed: usize) -> Decoded {
        self.stats.frames += 1;
        self.stats.payload_bytes += payload.len() as u64;
        self.state = State::Idle;
        self.pos += consumed as u64;
        Decoded {
            consumed,
            frame: Some(payload),
        }
    }

    /// Checks that `rest`, the bytes after a frame just returned by [`decode`](Framer::decode)
    /// (the caller's buffer once [`Decoded::consumed`] is removed), is consistent with that
    /// frame having ended: noise up to a start byte or to the end of `rest`. With
    /// [`OutsideData::Error`], anything else is [`Error::DataOutsideFrame`] at that byte, which
    /// the next `decode` would report anyway: a receiver that checks before acting on the frame
    /// never acts on a message cut at a `0x1C` that belonged to its text. Always `Ok` with
    /// [`OutsideData::Resync`].
    pub fn check_boundary(&self, rest: &[u8]) -> Result<(), Error> {
        if self.config.outside_data == OutsideData::Resync {
            return Ok(());
        }
        match rest.iter().position(|&b| !is_noise(b)) {
            Some(i) if rest[i] != START => Err(Error::DataOutsideFrame {
                offset: self.pos + i as u64,
            }),
            _ => Ok(()),
        }
    }

    /// Call at end of stream, after [`decode`](Framer::decode) returned no frame, with the
    /// same (unconsumed) buffer. Returns a last frame when the stream ended right after a
    /// lone `0x1C` in lenient mode; fails with [`Error::UnexpectedEof`] inside a frame.
    pub fn finish(&mut self, buf: &[u8]) -> Result<Decoded, Error> {
        match self.state {
            State::Idle => {
                // Anything left is noise or garbage: run it through decode for the checks.
                let d = self.decode(buf)?;
                if d.frame.is_some() {
                    return Ok(d);
                }
                if self.state == State::Idle {
                    return Ok(d);
                }
                Err(Error::UnexpectedEof {
                    offset: self.pos,
                    received: buf.len().saturating_sub(d.consumed + 1),
                })
            }
            State::EndSeen { end } if end < buf.len() && end + 1 == buf.len() => {
                if self.config.end_mode == EndMode::Lenient {
                    Ok(self.complete(1..end, end + 1))
                } else {
                    self.state = State::Idle;
                    Err(Error::MissingCarriageReturn {
                        offset: self.pos + end as u64 + 1,
                    })
                }
            }
            _ => {
                self.state = State::Idle;
                Err(Error::UnexpectedEof {
                    offset: self.pos,
                    received: buf.len().saturating_sub(1),
                })
            }
        }
    }
}

/// Writes `payload` as one MLLP frame (`0x0B` payload `0x1C 0x0D`) at the end of `out`.
///
/// Fails with [`Error::DelimiterInPayload`] when the payload contains `0x0B` or `0x1C`, which
/// no receiver could frame back correctly.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    if let Some(offset) = memchr::memchr2(START, END, payload) {
        return Err(Error::DelimiterInPayload {
            offset,
            byte: payload[offset],
        });
    }
    out.reserve(payload.len() + 3);
    out.push(START);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[END, CR]);
    Ok(())
}

/// [`encode`] into a new vector.
pub fn encode_to_vec(payload: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    encode(payload, &mut out)?;
    Ok(out)
}

/// A [`Framer`] with its own buffer: push bytes in any split, pull frames.
///
/// ```
/// use ehrkit_mllp::{FrameBuffer, FramerConfig};
/// let mut fb = FrameBuffer::new(FramerConfig::default());
/// fb.push(b"\x0bMSH|^~\\&|A\r");
/// assert_eq!(fb.next_frame().unwrap(), None);
/// fb.push(b"\x1c\x0d\x0bMSH|^~\\&|B\r\x1c\x0d\x0bMSH");
/// assert_eq!(fb.next_frame().unwrap(), Some(&b"MSH|^~\\&|A\r"[..]));
/// assert_eq!(fb.next_frame().unwrap(), Some(&b"MSH|^~\\&|B\r"[..]));
/// assert_eq!(fb.next_frame().unwrap(), None);
/// assert_eq!(fb.leftover(), b"\x0bMSH");
/// assert!(fb.finish().is_err()); // the stream ended inside a frame
/// ```
#[derive(Debug, Clone)]
pub struct FrameBuffer {
    framer: Framer,
    buf: Vec<u8>,
    head: usize,
}

impl FrameBuffer {
    /// An empty buffer with the given settings.
    pub fn new(config: FramerConfig) -> Self {
        FrameBuffer {
            framer: Framer::new(config),
            buf: Vec::new(),
            head: 0,
        }
    }

    /// Appends bytes received from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head > 0 && self.head >= self.buf.len() / 2 {
            // Moving the tail costs no more than the bytes already consumed: amortised linear.
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame's payload, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, Error> {
        let base = self.head;
        let d = self.framer.decode(&self.buf[base..])?;
        self.head += d.consumed;
        Ok(d.frame.map(|r| &self.buf[base + r.start..base + r.end]))
    }

    /// At end of stream: a last frame (lone `0x1C` at the very end in lenient mode), or
    /// [`Error::UnexpectedEof`] when the stream ended inside a frame.
    pub fn finish(&mut self) -> Result<Option<&[u8]>, Error> {
        let base = self.head;
        let d = self.framer.finish(&self.buf[base..])?;
        self.head += d.consumed;
        Ok(d.frame.map(|r| &self.buf[base + r.start..base + r.end]))
    }

    /// Bytes received but not yet returned as frames or skipped.
    pub fn leftover(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// The underlying framer (settings, counters, state).
    pub fn framer(&self) -> &Framer {
        &self.framer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames(cfg: FramerConfig, chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, Error> {
        let mut fb = FrameBuffer::new(cfg);
        let mut out = Vec::new();
        for c in chunks {
            fb.push(c);
            while let Some(f) = fb.next_frame()? {
                out.push(f.to_vec());
            }
        }
        if let Some(f) = fb.finish()? {
            out.push(f.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn single_frame_and_pipelined_frames() {
        let s = b"\x0bA|1\r\x1c\x0d\x0bB|2\r\x1c\x0d\x0bC\x1c\x0d";
        let f = all_frames(FramerConfig::default(), &[s]).unwrap();
        assert_eq!(f, vec![b"A|1\r".to_vec(), b"B|2\r".to_vec(), b"C".to_vec()]);
    }

    #[test]
    fn byte_by_byte_split() {
        let s = b"\x0bA|1\r\x1c\x0d\n\x0bB|2\r\x1c\x0d";
        let chunks: Vec<&[u8]> = s.chunks(1).collect();
        let f = all_frames(FramerConfig::default(), &chunks).unwrap();
        assert_eq!(f, vec![b"A|1\r".to_vec(), b"B|2\r".to_vec()]);
    }

    #[test]
    fn empty_frame_is_a_frame() {
        let f = all_frames(FramerConfig::default(), &[b"\x0b\x1c\x0d"]).unwrap();
        assert_eq!(f, vec![Vec::<u8>::new()]);
    }

    #[test]
    fn noise_between_frames_is_skipped_and_counted() {
        let mut fb = FrameBuffer::new(FramerConfig::default());
        fb.push(b"\0\r\n \t\x0c\x0bX\x1c\x0d\r\n\0");
        assert_eq!(fb.next_frame().unwrap(), Some(&b"X"[..]));
        assert_eq!(fb.next_frame().unwrap(), None);
        assert_eq!(fb.finish().unwrap(), None);
        assert_eq!(fb.framer().stats().noise_bytes, 9);
        assert_eq!(fb.framer().stats().frames, 1);
        assert!(fb.leftover().is_empty());
    }

    #[test]
    fn garbage_before_start_is_an_error_with_offset() {
        let err = all_frames(FramerConfig::default(), &[b"\r\nHELLO\x0bX\x1c\x0d"]).unwrap_err();
        assert!(
            matches!(err, Error::DataOutsideFrame { offset: 2 }),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_before_start_resyncs_by_option() {
        let cfg = FramerConfig::default().outside_data(OutsideData::Resync);
        let mut fb = FrameBuffer::new(cfg);
        fb.push(b"HELLO\x0bX\x1c\x0d");
        assert_eq!(fb.next_frame().unwrap(), Some(&b"X"[..]));
        assert_eq!(fb.framer().stats().discarded_bytes, 5);
    }

    #[test]
    fn start_inside_frame_error_or_resync() {
        let s = b"\x0bPARTIAL\x0bWHOLE\x1c\x0d";
        let err = all_frames(FramerConfig::default(), &[s]).unwrap_err();
        assert!(
            matches!(err, Error::StartInsideFrame { offset: 8 }),
            "{err:?}"
        );
        let cfg = FramerConfig::default().outside_data(OutsideData::Resync);
        let mut fb = FrameBuffer::new(cfg);
        fb.push(&s[..5]);
        assert_eq!(fb.next_frame().unwrap(), None);
        fb.push(&s[5..]);
        assert_eq!(fb.next_frame().unwrap(), Some(&b"WHOLE"[..]));
        assert_eq!(fb.framer().stats().discarded_bytes, 8);
    }

    #[test]
    fn lone_fs_lenient_vs_strict() {
        let s = b"\x0bA\x1c\x0bB\x1c\x0d";
        let f = all_frames(FramerConfig::default(), &[s]).unwrap();
        assert_eq!(f, vec![b"A".to_vec(), b"B".to_vec()]);
        let strict = FramerConfig::default().end_mode(EndMode::Strict);
        let err = all_frames(strict.clone(), &[s]).unwrap_err();
        assert!(
            matches!(err, Error::MissingCarriageReturn { offset: 3 }),
            "{err:?}"
        );
        // Lone FS at the very end of the stream.
        let f = all_frames(FramerConfig::default(), &[b"\x0bA\x1c"]).unwrap();
        assert_eq!(f, vec![b"A".to_vec()]);
        let err = all_frames(strict, &[b"\x0bA\x1c"]).unwrap_err();
        assert!(
            matches!(err, Error::MissingCarriageReturn { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn fs_split_from_cr_across_pushes() {
        for cfg in [
            FramerConfig::default(),
            FramerConfig::default().end_mode(EndMode::Strict),
        ] {
            let f = all_frames(cfg, &[b"\x0bAB\x1c", b"\x0d\x0bC\x1c", b"\x0d"]).unwrap();
            assert_eq!(f, vec![b"AB".to_vec(), b"C".to_vec()]);
        }
        // Lenient: after a segment terminator the frame is complete at the 0x1C (a lone-0x1C
        // sender waits for its ACK); the 0x0D arriving later is its trailer, not noise.
        let mut fb = FrameBuffer::new(FramerConfig::default());
        fb.push(b"\x0bAB\r\x1c");
        assert_eq!(fb.next_frame().unwrap(), Some(&b"AB\r"[..]));
        fb.push(b"\x0d");
        assert_eq!(fb.next_frame().unwrap(), None);
        assert_eq!(fb.framer().stats().noise_bytes, 0);
        // Lenient, 0x1C after text: waits for the byte after it to decide.
        let mut fb = FrameBuffer::new(FramerConfig::default());
        fb.push(b"\x0bAB\x1c");
        assert_eq!(fb.next_frame().unwrap(), None);
        fb.push(b"\x0d");
        assert_eq!(fb.next_frame().unwrap(), Some(&b"AB"[..]));
        let mut fb = FrameBuffer::new(FramerConfig::default());
        fb.push(b"\x0bAB\x1c");
        assert_eq!(fb.next_frame().unwrap(), None);
        fb.push(b"C\r\x1c\x0d");
        assert!(matches!(
            fb.next_frame(),
            Err(Error::AmbiguousEnd { offset: 3 })
        ));
        // Strict: waits for the byte after 0x1C.
        let mut fb = FrameBuffer::new(FramerConfig::default().end_mode(EndMode::Strict));
        fb.push(b"\x0bAB\x1c");
        assert_eq!(fb.next_frame().unwrap(), None);
        fb.push(b"\x0d");
        assert_eq!(fb.next_frame().unwrap(), Some(&b"AB"[..]));
    }

    #[test]
    fn eof_inside_frame_is_an_error() {
        let err =
            all_frames(FramerConfig::default(), &[b"\x0bX\x1c\x0d\x0bMSH|partial"]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnexpectedEof {
                    offset: 4,
                    received: 11
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn max_frame_size_exact_and_over() {
        let cfg = FramerConfig::default().max_frame_size(4);
        let f = all_frames(cfg.clone(), &[b"\x0b1234\x1c\x0d"]).unwrap();
        assert_eq!(f, vec![b"1234".to_vec()]);
        let err = all_frames(cfg.clone(), &[b"\x0b12345\x1c\x0d"]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::FrameTooLarge {
                    offset: 0,
                    limit: 4
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn max_frame_size_detected_before_end_arrives() {
        // The error comes as soon as max+1 payload bytes are seen, without waiting for 0x1C.
        let mut framer = Framer::new(FramerConfig::default().max_frame_size(8));
        let buf = b"\x0b123456789";
        let err = framer.decode(buf).unwrap_err();
        assert!(matches!(err, Error::FrameTooLarge { .. }));
        // Exactly max bytes without end yet: still waiting.
        let mut framer = Framer::new(FramerConfig::default().max_frame_size(8));
        assert_eq!(framer.decode(b"\x0b12345678").unwrap().frame, None);
    }

    #[test]
    fn scan_position_is_kept_across_calls() {
        // Feed a large frame in 1-byte appends; the framer must only look at new bytes.
        let mut framer = Framer::new(FramerConfig::default());
        let mut buf = vec![START];
        for _ in 0..10_000 {
            buf.push(b'x');
            let d = framer.decode(&buf).unwrap();
            assert_eq!(
                d,
                Decoded {
                    consumed: 0,
                    frame: None
                }
            );
            assert_eq!(framer.state, State::InFrame { scan: buf.len() });
        }
        buf.extend_from_slice(&[END, CR]);
        let d = framer.decode(&buf).unwrap();
        assert_eq!(d.frame, Some(1..10_001));
        assert_eq!(d.consumed, buf.len());
    }

    #[test]
    fn stream_offsets_count_consumed_bytes() {
        let mut fb = FrameBuffer::new(FramerConfig::default());
        fb.push(b"\x0bAB\x1c\x0d\r\n");
        fb.next_frame().unwrap();
        fb.next_frame().unwrap();
        fb.push(b"JUNK");
        let err = fb.next_frame().unwrap_err();
        assert!(
            matches!(err, Error::DataOutsideFrame { offset: 7 }),
            "{err:?}"
        );
    }

    #[test]
    fn encode_round_trip_and_rejects_delimiters() {
        let v = encode_to_vec(b"MSH|x\r").unwrap();
        assert_eq!(v, b"\x0bMSH|x\r\x1c\x0d");
        let err = encode_to_vec(b"MSH|\x1c").unwrap_err();
        assert!(matches!(
            err,
            Error::DelimiterInPayload {
                offset: 4,
                byte: 0x1c
            }
        ));
    }
}
