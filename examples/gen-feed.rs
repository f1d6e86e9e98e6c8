//! Writes a deterministic synthetic CMG feed to stdout.
//!
//!     cargo run --release --example gen-feed -- 100000 [seed] > feed.json

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let plans: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let body = cmg_feed_proxy::catalog::synthetic::feed_json(plans, seed);
    std::io::stdout()
        .lock()
        .write_all(&body)
        .expect("stdout is writable");
}
