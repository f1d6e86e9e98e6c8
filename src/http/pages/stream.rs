//! Large catalog bodies made while they are sent (the whole-catalog mirror,
//! the exports): about 64 KiB at a time, rendered from the shared, immutable
//! catalog by a [`Source`], and compressed chunk by chunk when an encoding
//! was negotiated. A client that reads slowly holds one chunk and its
//! encoder's window, never a private copy of the catalog; one that reads
//! nothing is cut off by the server's send deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::encoding::{Encoder, Encoding};
use crate::catalog::{Catalog, Links};
use crate::referral::RefCode;

/// Rendered bytes per chunk, before compression.
pub(in crate::http) const CHUNK: usize = 64 * 1024;

/// What a streamed body renders.
pub(in crate::http) trait Source: Send + 'static {
    /// Appends the next piece (about [`CHUNK`] bytes) to `out`; true when
    /// it was the last.
    fn render(&mut self, out: &mut Vec<u8>) -> bool;
}

/// Chunks rendered at once, in all: about half the cores. Rendering and
/// compressing runs on the blocking pool under this limit, so a crowd of
/// mirror downloads never occupies the runtime's workers that every other
/// request needs, nor more than its share of the CPU.
static RENDER_SLOTS: std::sync::LazyLock<Arc<Semaphore>> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Arc::new(Semaphore::new((cores / 2).max(1)))
});

type Acquiring = Pin<Box<dyn Future<Output = OwnedSemaphorePermit> + Send>>;

/// Where the next chunk is.
enum Step {
    /// Ready to render the next chunk (or finished when the renderer is).
    Idle(Box<Renderer>),
    /// Waiting for a render slot.
    Waiting(Box<Renderer>, Acquiring),
    /// Being rendered on the blocking pool.
    Rendering(JoinHandle<(Box<Renderer>, Option<Bytes>)>),
    Done,
}

pub(in crate::http) struct StreamBody {
    step: Step,
}

impl StreamBody {
    pub(in crate::http) fn new(
        source: Box<dyn Source>,
        encoding: Encoding,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Self {
            step: Step::Idle(Box::new(Renderer::new(source, encoding, permit))),
        }
    }

    /// The upstream-shaped mirror with `ref_code` in every `productUrl`.
    pub(in crate::http) fn mirror(
        catalog: Arc<Catalog>,
        ref_code: Option<RefCode>,
        encoding: Encoding,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        let source = MirrorSource {
            catalog,
            ref_code,
            next: 0,
        };
        Self::new(Box::new(source), encoding, permit)
    }
}

/// The mirror, plan by plan.
struct MirrorSource {
    catalog: Arc<Catalog>,
    ref_code: Option<RefCode>,
    /// The next plan to render.
    next: u32,
}

impl Source for MirrorSource {
    fn render(&mut self, out: &mut Vec<u8>) -> bool {
        let start = self.next;
        if start == 0 {
            self.catalog.write_feed_head(out);
        }
        let total = self.catalog.len() as u32;
        let mut index = start;
        while index < total && out.len() < CHUNK {
            if index > 0 {
                out.push(b',');
            }
            let links = Links::new(self.ref_code.as_ref(), None);
            self.catalog
                .write_plan(out, index, links, crate::catalog::PlanForm::Upstream);
            index += 1;
        }
        self.next = index;
        let last = index >= total;
        if last {
            out.extend_from_slice(b"]}");
        }
        last
    }
}

/// Renders a source chunk by chunk (and compresses it).
struct Renderer {
    source: Box<dyn Source>,
    /// Whether the source gave its last piece.
    finished: bool,
    encoder: Option<Encoder>,
    /// A compression slot, held while compressing (see `respond::streamed`).
    _permit: Option<OwnedSemaphorePermit>,
}

impl Renderer {
    fn new(
        source: Box<dyn Source>,
        encoding: Encoding,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        // Sized for a few chunks: a small brotli window, little memory per
        // slow client.
        let encoder = Encoder::new(encoding, 4 * CHUNK);
        Self {
            source,
            finished: false,
            encoder: Some(encoder),
            _permit: permit,
        }
    }

    /// The source's next piece and whether it is the last, or `None` when
    /// done.
    fn render(&mut self) -> Option<(Vec<u8>, bool)> {
        if self.finished {
            return None;
        }
        let mut out = Vec::with_capacity(CHUNK + 1024);
        let last = self.source.render(&mut out);
        self.finished = last;
        Some((out, last))
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let (rendered, last) = self.render()?;
            let mut chunk = self.encoder.as_mut()?.write(rendered);
            if last {
                chunk.extend(self.encoder.take()?.finish());
            }
            // A compressor may hold a small piece back: render more then.
            if !chunk.is_empty() || last {
                return Some(Bytes::from(chunk));
            }
        }
    }

    fn is_done(&self) -> bool {
        self.finished && self.encoder.is_none()
    }
}

impl http_body::Body for StreamBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        loop {
            match std::mem::replace(&mut self.step, Step::Done) {
                Step::Done => return Poll::Ready(None),
                Step::Idle(renderer) if renderer.is_done() => return Poll::Ready(None),
                Step::Idle(renderer) => {
                    let slot = Box::pin(RENDER_SLOTS.clone().acquire_owned());
                    let acquiring: Acquiring =
                        Box::pin(async move { slot.await.expect("the semaphore is never closed") });
                    self.step = Step::Waiting(renderer, acquiring);
                }
                Step::Waiting(mut renderer, mut acquiring) => match acquiring.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.step = Step::Waiting(renderer, acquiring);
                        return Poll::Pending;
                    }
                    Poll::Ready(slot) => {
                        self.step = Step::Rendering(tokio::task::spawn_blocking(move || {
                            let chunk = renderer.next_chunk();
                            drop(slot);
                            (renderer, chunk)
                        }));
                    }
                },
                Step::Rendering(mut rendering) => match Pin::new(&mut rendering).poll(cx) {
                    Poll::Pending => {
                        self.step = Step::Rendering(rendering);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok((renderer, chunk))) => {
                        self.step = Step::Idle(renderer);
                        return Poll::Ready(chunk.map(|c| Ok(Frame::data(c))));
                    }
                    // The blocking pool is shutting down: end the body.
                    Poll::Ready(Err(_)) => return Poll::Ready(None),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.step {
            Step::Done => true,
            Step::Idle(renderer) => renderer.is_done(),
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn collect(body: StreamBody) -> Vec<u8> {
        let Step::Idle(mut body) = body.step else {
            unreachable!("a new body is idle")
        };
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
        let identity = collect(StreamBody::mirror(
            catalog.clone(),
            ref_code.clone(),
            Encoding::Identity,
            None,
        ));
        assert_eq!(identity, whole);
        let gzip = collect(StreamBody::mirror(
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
        let br = collect(StreamBody::mirror(
            catalog,
            ref_code,
            Encoding::Brotli,
            None,
        ));
        let mut decoded = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, whole);
    }
}
