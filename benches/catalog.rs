//! In-process benchmarks: feed parse + index, query evaluation, ref injection and
//! page rendering. `cargo bench --bench catalog` measures; `cargo test --benches`
//! (what CI runs) executes every benchmark once as a smoke test.

use std::sync::LazyLock;
use std::time::SystemTime;

use cmg_feed_proxy::catalog::{Catalog, synthetic};
use cmg_feed_proxy::query::PlanQuery;
use cmg_feed_proxy::referral::RefCode;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

static FEED_5K: LazyLock<Vec<u8>> = LazyLock::new(|| synthetic::feed_json(5_000, 42));
static FEED_100K: LazyLock<Vec<u8>> = LazyLock::new(|| synthetic::feed_json(100_000, 42));
static CATALOG_5K: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::from_feed(&FEED_5K, SystemTime::now()).unwrap());
static CATALOG_100K: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::from_feed(&FEED_100K, SystemTime::now()).unwrap());

fn catalog(plans: usize) -> &'static Catalog {
    if plans >= 100_000 {
        &CATALOG_100K
    } else {
        &CATALOG_5K
    }
}

#[divan::bench(args = [5_000, 100_000], sample_count = 5)]
fn parse_and_index(bencher: Bencher, plans: usize) {
    let feed: &[u8] = if plans >= 100_000 {
        &FEED_100K
    } else {
        &FEED_5K
    };
    bencher
        .counter(divan::counter::BytesCount::new(feed.len()))
        .bench(|| Catalog::from_feed(black_box(feed), SystemTime::now()).unwrap());
}

const QUERIES: &[&str] = &[
    "country=DE&min_gb=5&limit=50",
    "country=DE,FR&sort=-data",
    "q=europe%20unlimited",
    // A country by name: English, German, Japanese (ドイツ) are one code path.
    "q=germany",
    "q=deutschland",
    "q=%E3%83%89%E3%82%A4%E3%83%84",
    "scope=regional&region=europe",
    "unlimited=true&sort=price",
    "min_price=5&max_price=20&sort=price_per_gb&offset=100",
    "speed=5G&operator=voda&sort=name",
    "",
];

#[divan::bench(args = QUERIES, consts = [5_000, 100_000])]
fn query<const PLANS: usize>(bencher: Bencher, raw: &str) {
    let catalog = catalog(PLANS);
    let query = PlanQuery::parse(Some(raw)).unwrap();
    bencher.bench(|| black_box(&query).run(catalog));
}

#[divan::bench(args = [false, true])]
fn render_page_of_50(bencher: Bencher, with_ref: bool) {
    let catalog = catalog(5_000);
    let code = RefCode::parse("partner-01").unwrap();
    let ref_code = with_ref.then_some(&code);
    let page = PlanQuery::parse(Some("country=DE&limit=50"))
        .unwrap()
        .run(catalog)
        .page;
    bencher.bench(|| {
        let mut out = Vec::with_capacity(32 * 1024);
        for &i in &page {
            catalog.write_plan(
                &mut out,
                i,
                cmg_feed_proxy::catalog::Links::new(ref_code, None),
                cmg_feed_proxy::catalog::PlanForm::Served,
            );
        }
        out
    });
}

/// A page of 50 with display prices in euros (rust_decimal per plan) against
/// the same page in USD only.
#[divan::bench(args = [false, true])]
fn render_page_of_50_display(bencher: Bencher, in_eur: bool) {
    let catalog = catalog(5_000);
    let rates = cmg_feed_proxy::markets::Rates::builtin();
    let eur = rates.display("EUR").unwrap();
    let display = in_eur.then_some(&eur);
    let page = PlanQuery::parse(Some("country=DE&limit=50"))
        .unwrap()
        .run(catalog)
        .page;
    bencher.bench(|| {
        let mut out = Vec::with_capacity(32 * 1024);
        for &i in &page {
            let links = cmg_feed_proxy::catalog::Links::default().with_display(display);
            catalog.write_plan(
                &mut out,
                i,
                links,
                cmg_feed_proxy::catalog::PlanForm::Served,
            );
        }
        out
    });
}

#[divan::bench]
fn render_whole_mirror_5k(bencher: Bencher) {
    let catalog = catalog(5_000);
    let code = RefCode::parse("partner-01").unwrap();
    bencher.bench(|| {
        let mut out = Vec::with_capacity(catalog.len() * 420);
        catalog.write_feed(&mut out, Some(&code), &[]);
        out
    });
}

const TRIPS: &[&str] = &[
    "stops=FR:3,DE:4,IT:7&gb_per_day=0.5",
    "stops=FR:2,DE:2,IT:2,ES:2,PT:2,AT:2,CH:2,NL:2,BE:2,PL:2&gb_per_day=0.3&max_esims=3&limit=20",
    "stops=US:5,MX:5,JP:5,TH:5&max_esims=3",
];

/// An uncached trip quote: every leg's cheapest plan from posting lists,
/// every split into 1..=max_esims legs.
#[divan::bench(args = TRIPS, consts = [5_000, 100_000])]
fn trip_quote<const PLANS: usize>(bencher: Bencher, raw: &str) {
    let catalog = catalog(PLANS);
    let query = cmg_feed_proxy::trips::TripQuery::parse(Some(raw)).unwrap();
    bencher.bench(|| black_box(&query).run(catalog));
}

/// Compressing a cached 50-plan page once per encoding (the first request of
/// a query in that encoding pays this; every later one is sent the bytes).
#[divan::bench(args = ["gzip", "br"], sample_count = 20)]
fn compress_page_of_50(bencher: Bencher, encoding: &str) {
    use cmg_feed_proxy::http::pages::encoding::{Encoding, Page};
    let catalog = catalog(5_000);
    let page = PlanQuery::parse(Some("country=DE&limit=50"))
        .unwrap()
        .run(catalog)
        .page;
    let mut body = Vec::with_capacity(32 * 1024);
    for &i in &page {
        catalog.write_plan(
            &mut body,
            i,
            cmg_feed_proxy::catalog::Links::default(),
            cmg_feed_proxy::catalog::PlanForm::Served,
        );
        body.push(b',');
    }
    let body = bytes::Bytes::from(body);
    let encoding = if encoding == "gzip" {
        Encoding::Gzip
    } else {
        Encoding::Brotli
    };
    bencher.bench(|| {
        let page = Page::new(body.clone());
        page.get(encoding, || {})
    });
}
