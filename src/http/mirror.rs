//! The whole-catalog mirror of a large catalog as a body made while it is
//! sent: about 64 KiB at a time, rendered from the shared, immutable catalog
//! with the partner's ref spliced into each plan, and compressed chunk by
//! chunk when an encoding was negotiated. A client that reads slowly holds
//! one chunk and its encoder's window, never a private copy of the catalog;
//! one that reads nothing is cut off by the server's send deadline.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;

use super::encoding::Encoding;
use crate::catalog::{Catalog, Links};
use crate::referral::RefCode;

/// Rendered bytes per chunk, before compression.
const CHUNK: usize = 64 * 1024;

enum Encoder {
    Identity,
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

pub(super) struct MirrorBody {
    catalog: Arc<Catalog>,
    ref_code: Option<RefCode>,
    /// The next plan to render; `None` once the closing bytes are out.
    next: Option<u32>,
    encoder: Option<Encoder>,
    /// A compression slot, held while compressing (see `respond::streamed`).
    _permit: Option<OwnedSemaphorePermit>,
}

impl MirrorBody {
    pub(super) fn new(
        catalog: Arc<Catalog>,
        ref_code: Option<RefCode>,
        encoding: Encoding,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        let encoder = match encoding {
            Encoding::Identity => Encoder::Identity,
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::with_capacity(CHUNK),
                flate2::Compression::new(1),
            )),
            // Quality 1, a 256 KiB window: fast, and little memory per client.
            Encoding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::with_capacity(CHUNK),
                4096,
                1,
                18,
            ))),
        };
        Self {
            catalog,
            ref_code,
            next: Some(0),
            encoder: Some(encoder),
            _permit: permit,
        }
    }

    /// The next rendered piece (the head with the first plans, then plans,
    /// the last ending with the closing brackets), or `None` when done.
    fn render(&mut self) -> Option<(Vec<u8>, bool)> {
        let start = self.next?;
        let mut out = Vec::with_capacity(CHUNK + 1024);
        if start == 0 {
            self.catalog.write_feed_head(&mut out);
        }
        let total = self.catalog.len() as u32;
        let mut index = start;
        while index < total && out.len() < CHUNK {
            if index > 0 {
                out.push(b',');
            }
            self.catalog.write_plan(
                &mut out,
                index,
                Links::new(self.ref_code.as_ref(), None),
                true,
            );
            index += 1;
        }
        let last = index >= total;
        if last {
            out.extend_from_slice(b"]}");
            self.next = None;
        } else {
            self.next = Some(index);
        }
        Some((out, last))
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let (rendered, last) = self.render()?;
            let chunk = match self.encoder.as_mut()? {
                Encoder::Identity => rendered,
                Encoder::Gzip(gzip) => {
                    gzip.write_all(&rendered).expect("writing to a Vec");
                    std::mem::take(gzip.get_mut())
                }
                Encoder::Brotli(brotli) => {
                    brotli.write_all(&rendered).expect("writing to a Vec");
                    std::mem::take(brotli.get_mut())
                }
            };
            let chunk = if last {
                let tail = match self.encoder.take()? {
                    Encoder::Identity => Vec::new(),
                    Encoder::Gzip(gzip) => gzip.finish().expect("writing to a Vec"),
                    Encoder::Brotli(brotli) => brotli.into_inner(),
                };
                [chunk, tail].concat()
            } else {
                chunk
            };
            // A compressor may hold a small piece back: render more then.
            if !chunk.is_empty() || last {
                return Some(Bytes::from(chunk));
            }
        }
    }
}

impl http_body::Body for MirrorBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.next_chunk().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.next.is_none() && self.encoder.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn collect(mut body: MirrorBody) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = body.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[test]
    fn every_encoding_streams_exactly_the_whole_mirror() {
        let catalog = Arc::new(Catalog::from_plans(
            "CMG",
            crate::catalog::synthetic::plans(3_000, 7),
            std::time::SystemTime::UNIX_EPOCH,
        ));
        let ref_code = RefCode::parse("shop-1").ok();
        let mut whole = Vec::new();
        catalog.write_feed(&mut whole, ref_code.as_ref(), &[]);
        let identity = collect(MirrorBody::new(
            catalog.clone(),
            ref_code.clone(),
            Encoding::Identity,
            None,
        ));
        assert_eq!(identity, whole);
        let gzip = collect(MirrorBody::new(
            catalog.clone(),
            ref_code.clone(),
            Encoding::Gzip,
            None,
        ));
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, whole);
        let br = collect(MirrorBody::new(catalog, ref_code, Encoding::Brotli, None));
        let mut decoded = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, whole);
    }
}
