//! Streaming `Content-Encoding` decoding of downloads (RFC 9110 §8.4.1: gzip,
//! deflate), also for gzip files served without the header.
//!
//! Decoded bytes are written to a sink in pieces of at most flate2's internal
//! buffer (32 KiB) as compressed bytes come in, never a whole network chunk
//! inflated at once: memory does not depend on the compression ratio.

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use crate::error::{Error, Result};

/// What `Content-Encoding` announced.
#[derive(Clone, Copy, Debug)]
enum Declared {
    None,
    Gzip,
    Deflate,
}

enum State<W: Write> {
    /// Waiting for the first two bytes to pick a decoder.
    Sniff {
        declared: Declared,
        head: Vec<u8>,
        sink: W,
    },
    Identity(W),
    Gzip(MultiGzDecoder<W>),
    Zlib(ZlibDecoder<W>),
    Deflate(DeflateDecoder<W>),
    /// Only while switching states.
    Empty,
}

/// A push decoder writing decoded bytes to `W` in bounded pieces.
pub(crate) struct Decoder<W: Write> {
    state: State<W>,
}

impl<W: Write> Decoder<W> {
    /// A decoder for a response with this `Content-Encoding`.
    pub(crate) fn new(content_encoding: Option<&str>, sink: W) -> Result<Self> {
        let declared = match content_encoding.map(|s| s.trim().to_ascii_lowercase()) {
            None => Declared::None,
            Some(e) if e.is_empty() || e == "identity" => Declared::None,
            Some(e) if e == "gzip" || e == "x-gzip" => Declared::Gzip,
            Some(e) if e == "deflate" => Declared::Deflate,
            Some(_) => {
                return Err(Error::Protocol(
                    "unsupported Content-Encoding on a download".into(),
                ))
            }
        };
        Ok(Decoder {
            state: State::Sniff {
                declared,
                head: Vec::new(),
                sink,
            },
        })
    }

    fn pick(declared: Declared, head: &[u8], sink: W) -> State<W> {
        match declared {
            Declared::Gzip => State::Gzip(MultiGzDecoder::new(sink)),
            Declared::Deflate => {
                // "deflate" should be zlib-wrapped; some servers send raw deflate.
                let zlib = head.len() >= 2
                    && head[0] & 0x0f == 8
                    && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                if zlib {
                    State::Zlib(ZlibDecoder::new(sink))
                } else {
                    State::Deflate(DeflateDecoder::new(sink))
                }
            }
            Declared::None if head.starts_with(&[0x1f, 0x8b]) => {
                State::Gzip(MultiGzDecoder::new(sink))
            }
            Declared::None => State::Identity(sink),
        }
    }

    /// Leaves the sniffing state once `head` is known (or the stream ended).
    fn start(&mut self) -> io::Result<()> {
        if let State::Sniff { .. } = self.state {
            let State::Sniff {
                declared,
                head,
                sink,
            } = std::mem::replace(&mut self.state, State::Empty)
            else {
                unreachable!("checked above")
            };
            self.state = Self::pick(declared, &head, sink);
            self.write_decoded(&head)?;
        }
        Ok(())
    }

    fn write_decoded(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.state {
            State::Identity(w) => w.write_all(chunk),
            State::Gzip(d) => d.write_all(chunk),
            State::Zlib(d) => d.write_all(chunk),
            State::Deflate(d) => d.write_all(chunk),
            State::Sniff { .. } | State::Empty => Ok(()),
        }
    }

    /// Decodes one piece of the body.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> io::Result<()> {
        if let State::Sniff { head, .. } = &mut self.state {
            head.extend_from_slice(chunk);
            if head.len() < 2 {
                return Ok(());
            }
            return self.start();
        }
        self.write_decoded(chunk)
    }

    /// Ends the body (a truncated compressed stream is an error).
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if let State::Sniff { head, .. } = &self.state {
            if head.is_empty() {
                return Ok(());
            }
            self.start()?;
        }
        match &mut self.state {
            State::Gzip(d) => d.try_finish(),
            State::Zlib(d) => d.try_finish(),
            State::Deflate(d) => d.try_finish(),
            State::Sniff { .. } | State::Identity(_) | State::Empty => Ok(()),
        }
    }

    /// The sink (to take its state or its error).
    pub(crate) fn sink_mut(&mut self) -> Option<&mut W> {
        match &mut self.state {
            State::Sniff { sink, .. } | State::Identity(sink) => Some(sink),
            State::Gzip(d) => Some(d.get_mut()),
            State::Zlib(d) => Some(d.get_mut()),
            State::Deflate(d) => Some(d.get_mut()),
            State::Empty => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the pieces it is given.
    #[derive(Default)]
    struct Pieces {
        largest: usize,
        total: usize,
    }

    impl Write for Pieces {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.largest = self.largest.max(b.len());
            self.total += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn bomb(mib: usize) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let line = format!(
            "{{\"resourceType\":\"Binary\",\"data\":\"{}\"}}\n",
            "A".repeat(1 << 20)
        );
        for _ in 0..mib {
            e.write_all(line.as_bytes()).unwrap();
        }
        e.finish().unwrap()
    }

    /// Regression (issue 10 item 8): a whole network chunk used to be inflated into one Vec.
    #[test]
    fn inflation_is_streamed_in_bounded_pieces() {
        let gz = bomb(16);
        assert!(gz.len() < 64 * 1024, "a bomb: {} bytes", gz.len());
        for declared in [Some("gzip"), None] {
            let mut d = Decoder::new(declared, Pieces::default()).unwrap();
            d.push(&gz).unwrap();
            d.finish().unwrap();
            let p = d.sink_mut().unwrap();
            assert!(p.total > 16 << 20);
            assert!(p.largest <= 256 * 1024, "one piece of {} bytes", p.largest);
        }
    }

    #[test]
    fn one_byte_pieces_and_truncation() {
        let gz = bomb(1);
        let mut d = Decoder::new(None, Pieces::default()).unwrap();
        for b in gz.chunks(1) {
            d.push(b).unwrap();
        }
        d.finish().unwrap();
        assert_eq!(d.sink_mut().unwrap().total, (1 << 20) + 36);
        let mut d = Decoder::new(Some("gzip"), Pieces::default()).unwrap();
        d.push(&gz[..gz.len() - 9]).unwrap();
        assert!(d.finish().is_err(), "a truncated gzip stream is an error");
        assert!(Decoder::new(Some("br"), Pieces::default()).is_err());
    }
}
