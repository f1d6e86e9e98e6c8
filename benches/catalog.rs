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
            catalog.write_plan(&mut out, i, ref_code, false);
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
