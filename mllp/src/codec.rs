//! `tokio_util::codec` adapter over [`Framer`].

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::{framer, Error, Framer, FramerConfig};

/// MLLP codec for [`tokio_util::codec::Framed`]: decodes payloads as [`Bytes`] (zero-copy
/// slices of the read buffer), encodes any `AsRef<[u8]>` payload as a frame.
///
/// Pipelined frames come out one by one, noise is skipped, and the size limit is checked on
/// every read, so the buffer never holds much more than one frame's limit plus one read.
#[derive(Debug, Clone)]
pub struct MllpCodec {
    framer: Framer,
}

impl MllpCodec {
    /// A codec with the given framer settings.
    pub fn new(config: FramerConfig) -> Self {
        MllpCodec {
            framer: Framer::new(config),
        }
    }

    /// The framer (settings, counters, state).
    pub fn framer(&self) -> &Framer {
        &self.framer
    }
}

impl Default for MllpCodec {
    fn default() -> Self {
        MllpCodec::new(FramerConfig::default())
    }
}

fn take(src: &mut BytesMut, d: crate::Decoded) -> Option<Bytes> {
    match d.frame {
        Some(r) => {
            let frame = src.split_to(d.consumed).freeze();
            Some(frame.slice(r))
        }
        None => {
            src.advance(d.consumed);
            None
        }
    }
}

impl Decoder for MllpCodec {
    type Item = Bytes;
    type Error = Error;

    /// The next frame. A frame is returned only when the bytes already received after it are
    /// consistent with its end ([`Framer::check_boundary`]); otherwise this is the error the
    /// next call would give, and the frame (possibly a message cut at a `0x1C` of its text) is
    /// not returned.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        let d = self.framer.decode(src)?;
        if d.frame.is_some() {
            self.framer.check_boundary(&src[d.consumed..])?;
        }
        Ok(take(src, d))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        if let Some(f) = self.decode(src)? {
            return Ok(Some(f));
        }
        let d = self.framer.finish(src)?;
        Ok(take(src, d))
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for MllpCodec {
    type Error = Error;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), Error> {
        let payload = item.as_ref();
        if let Some(offset) = memchr::memchr2(framer::START, framer::END, payload) {
            return Err(Error::DelimiterInPayload {
                offset,
                byte: payload[offset],
            });
        }
        dst.reserve(payload.len() + 3);
        dst.extend_from_slice(&[framer::START]);
        dst.extend_from_slice(payload);
        dst.extend_from_slice(&[framer::END, framer::CR]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_util::codec::{FramedRead, FramedWrite};

    #[tokio::test]
    async fn framed_round_trip_over_a_duplex_pipe() {
        let (a, b) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            let mut w = FramedWrite::new(a, MllpCodec::default());
            for i in 0..50 {
                w.send(format!("MSH|^~\\&|{i}\r")).await.unwrap();
            }
        });
        let mut r = FramedRead::new(b, MllpCodec::default());
        let mut n = 0;
        while let Some(f) = r.next().await {
            assert_eq!(f.unwrap(), Bytes::from(format!("MSH|^~\\&|{n}\r")));
            n += 1;
        }
        writer.await.unwrap();
        assert_eq!(n, 50);
    }

    #[test]
    fn a_frame_followed_by_message_text_is_not_returned() {
        let mut codec = MllpCodec::default();
        let mut src = BytesMut::from(&b"\x0bMSH|A\rOBX|1|TX|||first\r\x1cSECOND\r\x1c\r"[..]);
        assert!(matches!(
            codec.decode(&mut src),
            Err(Error::DataOutsideFrame { .. })
        ));
        // Pipelined frames and noise between them are fine.
        let mut codec = MllpCodec::default();
        let mut src = BytesMut::from(&b"\x0bA\r\x1c\r\n\x0bB\r\x1c\r"[..]);
        assert_eq!(codec.decode(&mut src).unwrap().unwrap(), Bytes::from("A\r"));
        assert_eq!(codec.decode(&mut src).unwrap().unwrap(), Bytes::from("B\r"));
    }

    #[tokio::test]
    async fn eof_inside_frame_is_an_error() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"\x0bMSH|half")
            .await
            .unwrap();
        drop(a);
        let mut r = FramedRead::new(b, MllpCodec::default());
        assert!(matches!(
            r.next().await,
            Some(Err(Error::UnexpectedEof { .. }))
        ));
    }
}
