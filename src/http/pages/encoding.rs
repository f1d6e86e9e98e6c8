//! Content negotiation and compressed variants of cached pages.
//!
//! A catalog response is a cached page plus a small per-request tail (the
//! `catalog` block, whose `ageSeconds` changes every second). Each page is
//! compressed once per encoding, on the first request that asks for it, and
//! the compressed stream is left open (flushed, not finished) so that every
//! request only appends its tail uncompressed and closes the stream:
//!
//! * gzip: the page's deflate stream ends with a sync flush (byte aligned);
//!   the tail goes into a final *stored* block, then the CRC-32 (continued
//!   from the page's) and length trailer.
//! * br: the page's brotli stream is flushed (byte aligned); the tail goes
//!   into an *uncompressed meta-block* (RFC 7932 section 9.2), then the empty
//!   last meta-block.
//!
//! Both are plain, single-stream encodings any decoder reads; a request
//! costs a few memcpys and a CRC over the tail, whatever the page size.

use std::io::Write;
use std::sync::OnceLock;

use axum::http::{HeaderMap, header};
use bytes::{BufMut, Bytes, BytesMut};

/// Bodies smaller than this are sent as they are: compression would not pay.
pub const MIN_COMPRESS: usize = 1024;

/// gzip level and brotli quality: fast (pages are compressed once, but the
/// first request of a never-repeating query pays for it inside the request
/// limit) while still shrinking JSON several times.
const GZIP_LEVEL: u32 = 1;
const BROTLI_QUALITY: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Brotli => Some("br"),
        }
    }

    /// The best encoding `Accept-Encoding` allows (the highest q-value among
    /// br and gzip, br on a tie, identity when neither is acceptable), and
    /// whether gzip is acceptable at all.
    pub fn acceptable(headers: &HeaderMap) -> (Self, bool) {
        let mut br: Option<f32> = None;
        let mut gzip: Option<f32> = None;
        let mut star: Option<f32> = None;
        for value in headers.get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let mut q = 1.0f32;
                for param in parts {
                    if let Some((k, v)) = param.split_once('=') {
                        if k.trim().eq_ignore_ascii_case("q") {
                            q = v.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
                        }
                    }
                }
                let slot = match name.as_str() {
                    "br" => &mut br,
                    "gzip" | "x-gzip" => &mut gzip,
                    "*" => &mut star,
                    _ => continue,
                };
                *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
            }
        }
        let br = br.or(star).unwrap_or(0.0);
        let gzip = gzip.or(star).unwrap_or(0.0);
        let best = if br <= 0.0 && gzip <= 0.0 {
            Self::Identity
        } else if br >= gzip {
            Self::Brotli
        } else {
            Self::Gzip
        };
        (best, gzip > 0.0)
    }
}

impl Page {
    /// The encoding to send this page in: the client's best, except that a
    /// page's first compressed answer is gzip when the client takes it. Most
    /// pages of never-repeating queries are asked for once, and gzip level 1
    /// costs half of brotli; a page asked for again earns its brotli form.
    pub fn choose(&self, headers: &HeaderMap) -> Encoding {
        let (best, gzip_ok) = Encoding::acceptable(headers);
        let first = !self.seen.swap(true, std::sync::atomic::Ordering::Relaxed);
        if best == Encoding::Brotli && gzip_ok && first && !self.has(Encoding::Brotli) {
            Encoding::Gzip
        } else {
            best
        }
    }
}

/// A rendered page and its compressed forms, made on first use.
pub struct Page {
    identity: Bytes,
    gzip: OnceLock<GzipPrefix>,
    br: OnceLock<Bytes>,
    /// Whether a compressed answer was already sent (see [`Page::choose`]).
    seen: std::sync::atomic::AtomicBool,
}

struct GzipPrefix {
    bytes: Bytes,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Page {
    pub fn new(identity: Bytes) -> Self {
        Self {
            identity,
            gzip: OnceLock::new(),
            br: OnceLock::new(),
            seen: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn identity(&self) -> &Bytes {
        &self.identity
    }

    /// Whether this page was already compressed in `encoding`.
    pub fn has(&self, encoding: Encoding) -> bool {
        match encoding {
            Encoding::Identity => true,
            Encoding::Gzip => self.gzip.get().is_some(),
            Encoding::Brotli => self.br.get().is_some(),
        }
    }

    /// The body in `encoding` with `tail` appended: (page part, closing part).
    /// `on_compress` runs when this call compresses the page (once per
    /// encoding; a metric counts it).
    pub fn encode(
        &self,
        encoding: Encoding,
        tail: &[u8],
        on_compress: impl FnOnce(),
    ) -> [Bytes; 2] {
        match encoding {
            Encoding::Identity => [self.identity.clone(), Bytes::copy_from_slice(tail)],
            Encoding::Gzip => {
                let prefix = self.gzip.get_or_init(|| {
                    on_compress();
                    gzip_prefix(&self.identity)
                });
                let mut crc = prefix.crc.clone();
                crc.update(tail);
                let len = prefix.len + tail.len() as u64;
                let mut out =
                    BytesMut::with_capacity(tail.len() + 5 * (tail.len() / 65535 + 1) + 8);
                stored_blocks(&mut out, tail);
                out.put_u32_le(crc.finalize());
                out.put_u32_le(len as u32);
                [prefix.bytes.clone(), out.freeze()]
            }
            Encoding::Brotli => {
                let prefix = self.br.get_or_init(|| {
                    on_compress();
                    brotli_prefix(&self.identity)
                });
                let mut out =
                    BytesMut::with_capacity(tail.len() + 4 * (tail.len() / 65536 + 1) + 1);
                for chunk in tail.chunks(65536) {
                    // ISLAST=0, MNIBBLES=4 (code 0), MLEN-1 in 16 bits,
                    // ISUNCOMPRESSED=1; 20 bits padded to 3 bytes.
                    let header = ((chunk.len() as u32 - 1) << 3) | (1 << 19);
                    out.put_slice(&header.to_le_bytes()[..3]);
                    out.put_slice(chunk);
                }
                // ISLAST=1, ISLASTEMPTY=1.
                out.put_u8(0x03);
                [prefix.clone(), out.freeze()]
            }
        }
    }
}

fn gzip_prefix(page: &[u8]) -> GzipPrefix {
    use flate2::{Compress, Compression, FlushCompress};
    let mut out = Vec::with_capacity(page.len() / 4 + 64);
    // Header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut deflate = Compress::new(Compression::new(GZIP_LEVEL), false);
    let mut input = page;
    loop {
        out.reserve(page.len() / 4 + 1024);
        let before_in = deflate.total_in();
        deflate
            .compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("deflate into a Vec cannot fail");
        input = &input[(deflate.total_in() - before_in) as usize..];
        // Done when all input is in and the flush fit in the spare capacity.
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(page);
    GzipPrefix {
        bytes: Bytes::from(out),
        crc,
        len: page.len() as u64,
    }
}

/// The tail as final stored deflate blocks (BFINAL on the last).
fn stored_blocks(out: &mut BytesMut, data: &[u8]) {
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65535).collect()
    };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.into_iter().enumerate() {
        out.put_u8(u8::from(i == last));
        let len = chunk.len() as u16;
        out.put_u16_le(len);
        out.put_u16_le(!len);
        out.put_slice(chunk);
    }
}

fn brotli_prefix(page: &[u8]) -> Bytes {
    let mut writer = brotli::CompressorWriter::new(
        Vec::with_capacity(page.len() / 5 + 64),
        64 * 1024,
        BROTLI_QUALITY,
        22,
    );
    writer
        .write_all(page)
        .expect("brotli into a Vec cannot fail");
    writer.flush().expect("brotli into a Vec cannot fail");
    // Taken before the writer is dropped: dropping finishes the stream, and
    // the tail still has to go in.
    let flushed = Bytes::copy_from_slice(writer.get_ref());
    drop(writer);
    flushed
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use axum::http::HeaderValue;

    use super::*;

    fn accept(value: &str) -> Encoding {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        Encoding::acceptable(&headers).0
    }

    #[test]
    fn q_values_choose_the_encoding() {
        assert_eq!(accept("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(accept("gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0, gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0.5, gzip;q=0.8"), Encoding::Gzip);
        assert_eq!(accept("gzip;q=0, br;q=0"), Encoding::Identity);
        assert_eq!(accept("identity"), Encoding::Identity);
        assert_eq!(accept("*"), Encoding::Brotli);
        assert_eq!(accept("*;q=0, gzip"), Encoding::Gzip);
        assert_eq!(accept("deflate, zstd"), Encoding::Identity);
        assert_eq!(
            Encoding::acceptable(&HeaderMap::new()).0,
            Encoding::Identity
        );
    }

    fn decode(encoding: Encoding, parts: [Bytes; 2]) -> Vec<u8> {
        let body: Vec<u8> = parts.concat();
        let mut out = Vec::new();
        match encoding {
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Brotli => {
                brotli::Decompressor::new(&body[..], 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Identity => out = body,
        }
        out
    }

    #[test]
    fn every_variant_decodes_to_page_and_tail() {
        let page: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{{\"plan\":{i},\"name\":\"Plan {}\"}},", i % 37).into_bytes())
            .collect();
        let page = Page::new(Bytes::from(page));
        for tail in [
            &b""[..],
            b"\"catalog\":{\"ageSeconds\":5}}",
            &vec![b'x'; 70_000],
        ] {
            for encoding in [Encoding::Identity, Encoding::Gzip, Encoding::Brotli] {
                let decoded = decode(encoding, page.encode(encoding, tail, || {}));
                assert_eq!(
                    decoded.len(),
                    page.identity().len() + tail.len(),
                    "{encoding:?}"
                );
                assert!(
                    decoded.starts_with(page.identity()) && decoded.ends_with(tail),
                    "{encoding:?}"
                );
            }
        }
        assert!(page.has(Encoding::Gzip) && page.has(Encoding::Brotli));
        let [gz, _] = page.encode(Encoding::Gzip, b"", || panic!("compressed twice"));
        assert!(
            gz.len() * 3 < page.identity().len(),
            "compresses: {}",
            gz.len()
        );
    }
}
