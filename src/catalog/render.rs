//! Plans pre-rendered to JSON once per catalog, split around the point in
//! `productUrl` where a referral code is spliced in. Serving a page is then a
//! handful of `memcpy`s per plan, whatever the partner.

use serde::Serialize;

use super::Plan;
use crate::markets::{Display, Scope};
use crate::referral::RefCode;

/// Byte ranges of one plan inside the arena.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    /// End of the part before the ref splice point.
    head_end: u32,
    /// End of the upstream fields (where `,"pricePerGb":..` starts).
    mirror_end: u32,
    /// End of the whole object without its closing brace.
    end: u32,
    separator: u8,
}

#[derive(Debug)]
pub(super) struct Rendered {
    arena: Vec<u8>,
    spans: Vec<Span>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    name: &'a str,
    package_code: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rest<'a> {
    data_amount: f64,
    duration: u32,
    location_codes: &'a [String],
    location_names: &'a [String],
    operator: &'a str,
    speed: &'a str,
    retail_price: f64,
}

impl Rendered {
    pub(super) fn with_capacity(plans: usize, json_bytes: usize) -> Self {
        Self {
            arena: Vec::with_capacity(json_bytes + plans * 24),
            spans: Vec::with_capacity(plans),
        }
    }

    /// Gives back spare capacity once every plan is in.
    pub(super) fn shrink(mut self) -> Self {
        self.arena.shrink_to_fit();
        self.spans.shrink_to_fit();
        self
    }

    pub(super) fn push(&mut self, plan: &Plan, scope: Scope) {
        let arena = &mut self.arena;
        let start = arena.len() as u32;
        write_json(
            arena,
            &Head {
                name: &plan.name,
                package_code: &plan.package_code,
            },
        );
        arena.pop(); // the closing brace
        arena.extend_from_slice(b",\"productUrl\":");
        write_json(arena, plan.product_url.head());
        arena.pop(); // the closing quote: the ref goes here
        let head_end = arena.len() as u32;
        write_json(arena, plan.product_url.tail());
        arena.remove(head_end as usize); // the tail's opening quote
        // `{"dataAmount":..}` continues the object: its `{` becomes a `,`.
        let rest = arena.len();
        write_json(
            arena,
            &Rest {
                data_amount: plan.data_amount,
                duration: plan.duration,
                location_codes: &plan.location_codes,
                location_names: &plan.location_names,
                operator: &plan.operator,
                speed: &plan.speed,
                retail_price: plan.retail_price,
            },
        );
        arena[rest] = b',';
        arena.pop(); // its closing brace
        let mirror_end = arena.len() as u32;
        arena.extend_from_slice(b",\"pricePerGb\":");
        write_json(arena, &plan.price_per_gb());
        arena.extend_from_slice(b",\"scope\":\"");
        arena.extend_from_slice(scope.as_str().as_bytes());
        arena.push(b'"');
        let end = arena.len() as u32;
        self.spans.push(Span {
            start,
            head_end,
            mirror_end,
            end,
            separator: plan.product_url.separator() as u8,
        });
    }

    /// Plan `index` as JSON; `code` is its packageCode (for the `clickUrl`),
    /// `money` its price and GB (for the `display` object).
    pub(super) fn write(
        &self,
        out: &mut Vec<u8>,
        index: usize,
        code: &str,
        money: (f64, f64),
        links: Links<'_>,
        form: PlanForm,
    ) {
        let mirror = form == PlanForm::Upstream;
        let ref_code = links.ref_code;
        let span = self.spans[index];
        let head = &self.arena[span.start as usize..span.head_end as usize];
        let end = if mirror { span.mirror_end } else { span.end };
        let tail = &self.arena[span.head_end as usize..end as usize];
        out.extend_from_slice(head);
        if let Some(code) = ref_code {
            out.push(span.separator);
            out.extend_from_slice(b"ref=");
            out.extend_from_slice(code.as_str().as_bytes());
        }
        out.extend_from_slice(tail);
        if let (Some(display), false) = (links.display, mirror) {
            display.write_plan(out, money.0, money.1);
        }
        if let (Some(base), false) = (links.click_base, mirror) {
            out.extend_from_slice(b",\"clickUrl\":");
            let mut url = String::with_capacity(base.len() + code.len() + 90);
            url.push_str(base);
            url.push_str("/go/");
            url.extend(percent_encoding::utf8_percent_encode(code, PATH_SEGMENT));
            if let Some(code) = ref_code {
                url.push_str("?ref=");
                url.push_str(code.as_str());
            }
            write_json(out, &url);
        }
        out.push(b'}');
    }
}

/// Which fields a rendered plan has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanForm {
    /// The upstream fields only: the mirror, the snapshot, history.
    Upstream,
    /// As `/plans` serves it: with `pricePerGb`, `scope`, and `display` and
    /// `clickUrl` when the links carry them.
    Served,
}

/// What a path segment must escape: everything but unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a rendered plan carries besides the feed's fields: the partner's
/// ref in `productUrl`, with `PUBLIC_URL` a `clickUrl` through `/go`, and
/// with `currency` its `display` prices.
#[derive(Clone, Copy, Debug, Default)]
pub struct Links<'a> {
    pub ref_code: Option<&'a RefCode>,
    /// `PUBLIC_URL` without its trailing slash.
    pub click_base: Option<&'a str>,
    pub display: Option<&'a Display>,
}

impl<'a> Links<'a> {
    pub fn new(ref_code: Option<&'a RefCode>, click_base: Option<&'a str>) -> Self {
        Self {
            ref_code,
            click_base,
            display: None,
        }
    }

    /// The same links, with prices also shown as `display`.
    pub fn with_display(self, display: Option<&'a Display>) -> Self {
        Self { display, ..self }
    }
}

impl Rendered {
    /// A stable hash of every plan as served (upstream fields and the
    /// productUrl without ref): xxh3 is fixed by its specification, unlike
    /// `DefaultHasher`, so builds and replicas agree.
    pub(super) fn content_hash(&self, aggregator: &str) -> u64 {
        let seed = xxhash_rust::xxh3::xxh3_64(aggregator.as_bytes());
        xxhash_rust::xxh3::xxh3_64_with_seed(&self.arena, seed)
    }
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("plain data always serialises");
}
