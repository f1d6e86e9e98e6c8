//! Content negotiation, the compressors every body goes through, and cached
//! pages with their compressed forms.
//!
//! A catalog page is the same bytes for as long as it is cached (SPEC
//! section 3: nothing in a catalog body changes with the clock), so a page
//! is compressed at most once per encoding, by the first request that asks
//! for it, and every later request is sent the stored bytes.

use std::io::Write;
use std::sync::OnceLock;

use axum::http::{HeaderMap, header};
use bytes::Bytes;

/// Bodies smaller than this are sent as they are: compression would not pay.
pub const MIN_COMPRESS: usize = 1024;

/// gzip level and brotli quality: fast (a never-repeating query pays for its
/// page's compression inside its request) while still shrinking JSON
/// several times.
const LEVEL: u32 = 1;

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

    /// The best encoding `Accept-Encoding` allows: the highest q-value among
    /// br and gzip, br on a tie, identity when neither is acceptable.
    pub fn acceptable(headers: &HeaderMap) -> Self {
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
        if br <= 0.0 && gzip <= 0.0 {
            Self::Identity
        } else if br >= gzip {
            Self::Brotli
        } else {
            Self::Gzip
        }
    }
}

/// A compressor in one encoding, fed a piece at a time.
pub(in crate::http) enum Encoder {
    Identity,
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
}

impl Encoder {
    /// An encoder for a body of about `size` bytes (for a streamed body, the
    /// span worth matching across): brotli's window is no larger than that,
    /// between 64 KiB and 4 MiB, so a streamed body holds little memory per
    /// client.
    pub(in crate::http) fn new(encoding: Encoding, size: usize) -> Self {
        let capacity = size / 4 + 64;
        match encoding {
            Encoding::Identity => Self::Identity,
            Encoding::Gzip => Self::Gzip(flate2::write::GzEncoder::new(
                Vec::with_capacity(capacity),
                flate2::Compression::new(LEVEL),
            )),
            Encoding::Brotli => {
                let window = size
                    .max(1)
                    .next_power_of_two()
                    .trailing_zeros()
                    .clamp(16, 22);
                Self::Brotli(Box::new(brotli::CompressorWriter::new(
                    Vec::with_capacity(capacity),
                    4096,
                    LEVEL,
                    window,
                )))
            }
        }
    }

    /// Takes `piece` and gives back what is ready to send (possibly nothing:
    /// a compressor may hold a piece back).
    pub(in crate::http) fn write(&mut self, piece: Vec<u8>) -> Vec<u8> {
        match self {
            Self::Identity => piece,
            Self::Gzip(gzip) => {
                gzip.write_all(&piece).expect("writing to a Vec");
                std::mem::take(gzip.get_mut())
            }
            Self::Brotli(brotli) => {
                brotli.write_all(&piece).expect("writing to a Vec");
                std::mem::take(brotli.get_mut())
            }
        }
    }

    /// Ends the stream: what is left to send.
    pub(in crate::http) fn finish(self) -> Vec<u8> {
        match self {
            Self::Identity => Vec::new(),
            Self::Gzip(gzip) => gzip.finish().expect("writing to a Vec"),
            Self::Brotli(brotli) => brotli.into_inner(),
        }
    }
}

/// `body` whole in `encoding`, read in place (a page is not copied to be
/// compressed).
fn compress(encoding: Encoding, body: &[u8]) -> Bytes {
    let mut encoder = Encoder::new(encoding, body.len());
    match &mut encoder {
        Encoder::Identity => return Bytes::copy_from_slice(body),
        Encoder::Gzip(gzip) => gzip.write_all(body),
        Encoder::Brotli(brotli) => brotli.write_all(body),
    }
    .expect("writing to a Vec");
    Bytes::from(encoder.finish())
}

/// A rendered page and its compressed forms, each made on first use.
pub struct Page {
    identity: Bytes,
    gzip: OnceLock<Bytes>,
    br: OnceLock<Bytes>,
}

impl Page {
    pub fn new(identity: Bytes) -> Self {
        Self {
            identity,
            gzip: OnceLock::new(),
            br: OnceLock::new(),
        }
    }

    pub fn identity(&self) -> &Bytes {
        &self.identity
    }

    /// The encoding to send this page in for a client that accepts `best`:
    /// identity below [`MIN_COMPRESS`].
    pub fn encoding_for(&self, best: Encoding) -> Encoding {
        if self.identity.len() < MIN_COMPRESS {
            Encoding::Identity
        } else {
            best
        }
    }

    /// The page in `encoding`. `on_compress` runs when this call compresses
    /// it (once per page and encoding; a metric counts it).
    pub fn get(&self, encoding: Encoding, on_compress: impl FnOnce()) -> Bytes {
        let slot = match encoding {
            Encoding::Identity => return self.identity.clone(),
            Encoding::Gzip => &self.gzip,
            Encoding::Brotli => &self.br,
        };
        slot.get_or_init(|| {
            on_compress();
            compress(encoding, &self.identity)
        })
        .clone()
    }
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
        Encoding::acceptable(&headers)
    }

    #[test]
    fn q_values_choose_the_encoding() {
        assert_eq!(accept("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(accept("gzip"), Encoding::Gzip);
        assert_eq!(accept("x-gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0, gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0.5, gzip;q=0.8"), Encoding::Gzip);
        assert_eq!(accept("BR;Q=0.9, gzip;q=0.8"), Encoding::Brotli);
        assert_eq!(accept("gzip;q=0, br;q=0"), Encoding::Identity);
        assert_eq!(accept("br;q=nonsense"), Encoding::Identity);
        assert_eq!(accept("identity"), Encoding::Identity);
        assert_eq!(accept("*"), Encoding::Brotli);
        assert_eq!(accept("*;q=0, gzip"), Encoding::Gzip);
        assert_eq!(accept("deflate, zstd"), Encoding::Identity);
        assert_eq!(Encoding::acceptable(&HeaderMap::new()), Encoding::Identity);
    }

    fn decode(encoding: Encoding, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(body)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Brotli => {
                brotli::Decompressor::new(body, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Identity => out = body.to_vec(),
        }
        out
    }

    #[test]
    fn every_form_decodes_to_the_page_and_is_made_once() {
        for size in [0, 1, 1500, 70_000, 3 << 20] {
            let page: Vec<u8> = (0..)
                .flat_map(|i| {
                    format!("{{\"plan\":{i},\"name\":\"Plan {}\"}},", i % 37).into_bytes()
                })
                .take(size)
                .collect();
            let page = Page::new(Bytes::from(page));
            for encoding in [Encoding::Identity, Encoding::Gzip, Encoding::Brotli] {
                let mut made = 0;
                let first = page.get(encoding, || made += 1);
                let again = page.get(encoding, || made += 1);
                assert_eq!(first, again, "{encoding:?}, {size}");
                assert_eq!(
                    decode(encoding, &first),
                    &page.identity()[..],
                    "{encoding:?}"
                );
                assert_eq!(made, u32::from(encoding != Encoding::Identity));
                if size > 1000 && encoding != Encoding::Identity {
                    assert!(
                        first.len() * 3 < size,
                        "{encoding:?} {size}: {}",
                        first.len()
                    );
                }
            }
        }
    }

    #[test]
    fn small_pages_are_sent_as_they_are() {
        let small = Page::new(Bytes::from(vec![b'a'; MIN_COMPRESS - 1]));
        assert_eq!(small.encoding_for(Encoding::Brotli), Encoding::Identity);
        let large = Page::new(Bytes::from(vec![b'a'; MIN_COMPRESS]));
        assert_eq!(large.encoding_for(Encoding::Brotli), Encoding::Brotli);
        assert_eq!(large.encoding_for(Encoding::Gzip), Encoding::Gzip);
    }
}
