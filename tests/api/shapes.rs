//! Snapshot tests (insta) pinning every catalog route's body (and `/readyz`)
//! on a fixed feed, values and key order, so a change of any response shape
//! is a reviewed diff. Values that change with the clock (`updatedAt`,
//! `at`, `from`, `to`) are replaced before comparing (serde_json
//! keeps the key order: `preserve_order`).

use crate::helpers::*;

fn stable(text: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(text).expect("JSON");
    fn scrub(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if ["updatedAt", "at", "from", "to"].contains(&k.as_str()) && !v.is_null() {
                        *v = "[clock]".into();
                    } else {
                        scrub(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    scrub(&mut value);
    serde_json::to_string_pretty(&value).unwrap()
}

fn fixed_feed() -> Vec<u8> {
    feed(&[
        plan("FR-7", &["FR"], 5.0, 7, 4.0),
        plan("DE-7", &["DE"], 3.0, 7, 4.59),
        plan("EU-15", &["FR", "DE", "IT"], 10.0, 15, 12.0),
        plan("EU-UNL", &["FR", "DE"], 0.0, 30, 19.99),
    ])
}

#[tokio::test]
async fn every_catalog_route_keeps_its_shape() {
    let app = spawn_ready(fixed_feed(), &[ADMIN_ARG]).await;
    app.upstream.set(Reply::Json(feed(&[
        plan("FR-7", &["FR"], 5.0, 7, 3.5),
        plan("DE-7", &["DE"], 3.0, 7, 4.59),
        plan("EU-15", &["FR", "DE", "IT"], 10.0, 15, 12.0),
        plan("IT-10", &["IT"], 2.0, 10, 2.0),
    ])));
    app.refresh().await;
    for (name, path) in [
        ("plans", "/plans?country=FR&sort=price_per_gb&ref=acme-01"),
        ("plan", "/plans/FR-7"),
        ("countries", "/countries"),
        ("countries_de", "/countries?lang=de"),
        ("regions", "/regions?lang=fr"),
        ("trips", "/trips?stops=FR:3,DE:4&max_esims=2&ref=acme-01"),
        ("trips_uncovered", "/trips?stops=FR:3,XK:2"),
        ("changes", "/changes?since=0"),
        ("history", "/plans/FR-7/history"),
        ("mirror", "/api/products/aggregator"),
        ("error", "/plans?min_gb=-1"),
        ("readyz", "/readyz"),
    ] {
        let text = app.get(path).await.text().await.unwrap();
        insta::assert_snapshot!(name, stable(&text));
    }
    app.stop().await;
}
