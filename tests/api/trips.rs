//! `GET /trips` over HTTP: exact options on a small catalog, every error with
//! its parameter, ETag/304 and the ref in every leg.

use serde_json::Value;

use crate::helpers::{error_of, feed, plan, spawn_ready};

fn catalog() -> Vec<u8> {
    feed(&[
        plan("FR-7", &["FR"], 5.0, 7, 4.0),
        plan("DE-7", &["DE"], 5.0, 7, 4.5),
        plan("IT-10", &["IT"], 10.0, 10, 6.004),
        plan("EU-15", &["FR", "DE", "IT"], 10.0, 15, 12.0),
        plan("EU-30", &["FR", "DE", "IT"], 0.0, 30, 19.99),
    ])
}

fn codes(option: &Value) -> Vec<&str> {
    option["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["plan"]["packageCode"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_quote_lists_the_cheapest_options_with_their_legs() {
    let app = spawn_ready(catalog(), &[]).await;

    let (status, body) = app
        .get_json("/trips?stops=fr:3,DE:4,IT:7&gb_per_day=0.5&max_esims=3&limit=20")
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["days"], 14);
    assert_eq!(body["gbPerDay"], 0.5);
    assert_eq!(
        body["stops"][0],
        serde_json::json!({"country": "FR", "days": 3})
    );
    assert_eq!(body["uncovered"], serde_json::json!([]));
    let options = body["options"].as_array().unwrap();
    let summary: Vec<(f64, Vec<&str>)> = options
        .iter()
        .map(|o| (o["totalPrice"].as_f64().unwrap(), codes(o)))
        .collect();
    // FR-7 + DE-7 + IT-10 = 4 + 4.5 + 6 (6.004 rounds to the cent) = 14.5
    // is dearer than the one-eSIM EU-15 at 12, so only EU-15 is offered.
    assert_eq!(summary[0], (12.0, vec!["EU-15"]));
    assert_eq!(summary.len(), 1, "{summary:?}");
    let leg = &options[0]["legs"][0];
    assert_eq!(leg["countries"], serde_json::json!(["FR", "DE", "IT"]));
    assert_eq!(leg["days"], 14);
    assert_eq!(options[0]["esims"], 1);
    assert_eq!(body["catalog"]["planCount"], 5);
    assert!(body["catalog"]["version"].as_u64().is_some());

    // Without the regional plans' data cap mattering, two local plans beat them.
    let (_, body) = app.get_json("/trips?stops=FR:3,DE:4&limit=20").await;
    let summary: Vec<(f64, Vec<&str>)> = body["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["totalPrice"].as_f64().unwrap(), codes(o)))
        .collect();
    assert_eq!(
        summary,
        [(8.5, vec!["FR-7", "DE-7"]), (12.0, vec!["EU-15"])]
    );
    app.stop().await;
}

#[tokio::test]
async fn countries_no_plan_covers_are_uncovered() {
    let app = spawn_ready(catalog(), &[]).await;
    let (status, body) = app.get_json("/trips?stops=FR:2,XK:3,FR:1").await;
    assert_eq!(status, 200);
    assert_eq!(body["uncovered"], serde_json::json!(["XK"]));
    assert_eq!(body["options"], serde_json::json!([]));
    app.stop().await;
}

#[tokio::test]
async fn every_bad_parameter_is_named() {
    let app = spawn_ready(catalog(), &[]).await;
    for (query, parameter) in [
        ("", "stops"),
        ("stops=FR", "stops"),
        ("stops=FR:0", "stops"),
        ("stops=FR:366", "stops"),
        ("stops=FRA:2", "stops"),
        ("stops=FR:200,DE:200", "stops"),
        (
            "stops=FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1,FR:1",
            "stops",
        ),
        ("stops=FR:1&gb_per_day=-1", "gb_per_day"),
        ("stops=FR:1&max_esims=4", "max_esims"),
        ("stops=FR:1&limit=21", "limit"),
        ("stops=FR:1&speed=x%20y%20z%3C", "speed"),
        ("stops=FR:1&ref=%3Cscript%3E", "ref"),
        ("stops=FR:1&country=DE", "country"),
    ] {
        let (status, body) = app.get_json(&format!("/trips?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            error_of(&body).1.as_deref(),
            Some(parameter),
            "{query}: {body}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn quotes_carry_the_ref_in_every_leg_and_revalidate() {
    let app = spawn_ready(catalog(), &[]).await;
    let path = "/trips?stops=FR:3,DE:4&ref=acme-01&limit=20";
    let response = app.get(path).await;
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    let body: Value = response.json().await.unwrap();
    for option in body["options"].as_array().unwrap() {
        for leg in option["legs"].as_array().unwrap() {
            let url = leg["plan"]["productUrl"].as_str().unwrap();
            assert!(url.ends_with("?ref=acme-01"), "{url}");
        }
    }
    let again = app.get_with(path, "if-none-match", &etag).await;
    assert_eq!(again.status(), 304);
    let other = app
        .get_with("/trips?stops=FR:3,DE:4&limit=20", "if-none-match", &etag)
        .await;
    assert_eq!(other.status(), 200, "the ref is part of the tag");
    app.stop().await;
}
