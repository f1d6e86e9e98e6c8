//! `GET /plans` and friends over HTTP: every filter and boundary, every sort
//! with ties, paging, and every error code with its `parameter`.

use serde_json::{Value, json};

use crate::helpers::*;

fn fixture() -> Vec<u8> {
    let mut plans = vec![
        // code, countries, GB, days, price
        plan("DE-1", &["DE"], 1.0, 7, 3.0),
        plan("DE-5", &["DE"], 5.0, 30, 9.0),
        plan("DE-10", &["de"], 10.0, 30, 9.0),
        plan("EU-5", &["DE", "FR", "IT"], 5.0, 15, 12.5),
        plan("EU-UNL", &["DE", "FR"], 0.0, 7, 20.0),
        plan("FR-3", &["FR"], 3.0, 15, 6.0),
        plan("TR-2", &["TR"], 2.0, 10, 4.5),
        plan("US-20", &["US"], 20.0, 30, 25.0),
    ];
    plans[6]["locationNames"] = json!(["Türkiye"]);
    plans[6]["operator"] = json!("Turkcell");
    plans[6]["speed"] = json!("4G");
    plans[7]["speed"] = json!("5G");
    plans[7]["operator"] = json!("T-Mobile, AT&T");
    plans[0]["productUrl"] =
        json!("https://www.connectmeguru.com/esim/de-1?utm=feed&ref=upstream#details");
    feed(&plans)
}

fn codes(body: &Value) -> Vec<String> {
    body["plans"]
        .as_array()
        .unwrap_or_else(|| panic!("no plans in {body}"))
        .iter()
        .map(|p| p["packageCode"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn filters_and_sorts_match_the_spec() {
    let app = spawn_ready(fixture(), &[]).await;
    let cases: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "DE-1", "TR-2", "FR-3", "DE-10", "DE-5", "EU-5", "EU-UNL", "US-20",
            ],
        ),
        ("country=de", &["DE-1", "DE-10", "DE-5", "EU-5", "EU-UNL"]),
        ("country=DE,fr", &["EU-5", "EU-UNL"]),
        ("country=de,FR,it", &["EU-5"]),
        ("country=JP", &[]),
        ("min_gb=5&max_gb=10", &["DE-10", "DE-5", "EU-5"]),
        ("max_gb=0", &["EU-UNL"]),
        ("min_days=15&max_days=15", &["FR-3", "EU-5"]),
        ("min_price=9&max_price=9", &["DE-10", "DE-5"]),
        ("min_price=4.5&max_price=6", &["TR-2", "FR-3"]),
        (
            "speed=5G",
            &["DE-1", "FR-3", "DE-10", "DE-5", "EU-5", "EU-UNL", "US-20"],
        ),
        ("speed=5g&country=US", &["US-20"]),
        ("speed=4G&country=TR", &["TR-2"]),
        ("speed=3G", &[]),
        ("operator=turkCELL", &["TR-2"]),
        ("operator=at%26t", &["US-20"]),
        ("q=t%C3%BCrkiye", &["TR-2"]),
        ("q=T%C3%9CRKIYE", &["TR-2"]),
        ("q=land%20fr", &["FR-3", "EU-5", "EU-UNL"]),
        ("q=plan%20eu-unl", &["EU-UNL"]),
        (
            "sort=-price",
            &[
                "US-20", "EU-UNL", "EU-5", "DE-10", "DE-5", "FR-3", "TR-2", "DE-1",
            ],
        ),
        (
            "sort=price_per_gb",
            &[
                "DE-10", "US-20", "DE-5", "FR-3", "TR-2", "EU-5", "DE-1", "EU-UNL",
            ],
        ),
        (
            "sort=data",
            &[
                "EU-UNL", "DE-1", "TR-2", "FR-3", "DE-5", "EU-5", "DE-10", "US-20",
            ],
        ),
        (
            "sort=-data",
            &[
                "US-20", "DE-10", "DE-5", "EU-5", "FR-3", "TR-2", "DE-1", "EU-UNL",
            ],
        ),
        (
            "sort=duration",
            &[
                "DE-1", "EU-UNL", "TR-2", "EU-5", "FR-3", "DE-10", "DE-5", "US-20",
            ],
        ),
        (
            "sort=-duration",
            &[
                "DE-10", "DE-5", "US-20", "EU-5", "FR-3", "TR-2", "DE-1", "EU-UNL",
            ],
        ),
        (
            "sort=name",
            &[
                "DE-1", "DE-10", "DE-5", "EU-5", "EU-UNL", "FR-3", "TR-2", "US-20",
            ],
        ),
        ("limit=2", &["DE-1", "TR-2"]),
        ("limit=2&offset=2", &["FR-3", "DE-10"]),
        ("offset=100", &[]),
        (
            "key=client-sent-key",
            &[
                "DE-1", "TR-2", "FR-3", "DE-10", "DE-5", "EU-5", "EU-UNL", "US-20",
            ],
        ),
    ];
    for (query, expected) in cases {
        let (status, body) = app.get_json(&format!("/plans?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(codes(&body), *expected, "{query}");
    }
}

#[tokio::test]
async fn total_counts_all_matches_and_pages_join_to_the_full_list() {
    let app = spawn_ready(fixture(), &[]).await;
    let (_, full) = app.get_json("/plans?sort=-price&limit=500").await;
    let full = codes(&full);
    let mut joined = Vec::new();
    for offset in (0..10).step_by(3) {
        let (_, page) = app
            .get_json(&format!("/plans?sort=-price&limit=3&offset={offset}"))
            .await;
        assert_eq!(page["total"], 8);
        assert_eq!(page["limit"], 3);
        assert_eq!(page["offset"], offset);
        joined.extend(codes(&page));
    }
    assert_eq!(joined, full);
    let (_, past) = app.get_json("/plans?offset=8").await;
    assert_eq!(
        (
            past["plans"].as_array().unwrap().len(),
            past["total"].as_u64()
        ),
        (0, Some(8))
    );
}

#[tokio::test]
async fn price_per_gb_is_null_for_unlimited_plans() {
    let app = spawn_ready(fixture(), &[]).await;
    let (_, plan) = app.get_json("/plans/EU-UNL").await;
    assert_eq!(plan["pricePerGb"], Value::Null);
    assert_eq!(plan["dataAmount"], 0.0);
    let (_, plan) = app.get_json("/plans/EU-5").await;
    assert_eq!(plan["pricePerGb"], 2.5);
}

#[tokio::test]
async fn invalid_parameters_answer_400_naming_the_parameter() {
    let app = spawn_ready(fixture(), &[]).await;
    let cases = [
        ("/plans?min_gb=abc", "invalid_parameter", "min_gb"),
        ("/plans?max_gb=-1", "invalid_parameter", "max_gb"),
        ("/plans?min_days=NaN", "invalid_parameter", "min_days"),
        ("/plans?max_days=inf", "invalid_parameter", "max_days"),
        (
            "/plans?min_price=5&max_price=1",
            "invalid_parameter",
            "min_price",
        ),
        ("/plans?min_gb=5&max_gb=4.99", "invalid_parameter", "min_gb"),
        ("/plans?limit=0", "invalid_parameter", "limit"),
        ("/plans?limit=501", "invalid_parameter", "limit"),
        ("/plans?offset=-3", "invalid_parameter", "offset"),
        ("/plans?country=Germany", "invalid_parameter", "country"),
        ("/plans?country=DE,,FR", "invalid_parameter", "country"),
        ("/plans?sort=cheap", "invalid_parameter", "sort"),
        ("/plans?ref=bad%20ref", "invalid_parameter", "ref"),
        ("/plans?ref=_x", "invalid_parameter", "ref"),
        ("/plans?colour=red", "unknown_parameter", "colour"),
        ("/plans/DE-1?ref=a.b", "invalid_parameter", "ref"),
        ("/plans/DE-1?country=DE", "unknown_parameter", "country"),
        ("/countries?x=1", "unknown_parameter", "x"),
        // Numbers are plain digits (SPEC section 3, Numbers); text is UTF-8.
        ("/plans?q=%ff", "invalid_parameter", "q"),
        ("/plans?operator=%c3%28", "invalid_parameter", "operator"),
        ("/plans?min_gb=%2B1", "invalid_parameter", "min_gb"),
        ("/plans?min_gb=1e3", "invalid_parameter", "min_gb"),
        ("/plans?min_gb=%201", "invalid_parameter", "min_gb"),
        ("/plans?max_price=0x10", "invalid_parameter", "max_price"),
        ("/plans?min_days=%2B1", "invalid_parameter", "min_days"),
        ("/plans?limit=%2B5", "invalid_parameter", "limit"),
        ("/plans?offset=%2B1", "invalid_parameter", "offset"),
        ("/plans?min_gb=1.2.3", "invalid_parameter", "min_gb"),
        ("/changes?since=%2B1", "invalid_parameter", "since"),
        ("/changes?since=1&limit=%2B5", "invalid_parameter", "limit"),
        (
            "/trips?stops=FR:3&max_esims=%2B2",
            "invalid_parameter",
            "max_esims",
        ),
        (
            "/api/products/aggregator?ref=%3Cscript%3E",
            "invalid_parameter",
            "ref",
        ),
    ];
    for (path, code, parameter) in cases {
        let response = app.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            error_of(&body),
            (code.to_owned(), Some(parameter.to_owned())),
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_routes_and_plans_are_404_and_wrong_methods_405_in_json() {
    let app = spawn_ready(fixture(), &[]).await;
    for path in ["/nope", "/plans/NOPE", "/plans/DE-1/extra", "/api/products"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(
            (status, error_of(&body).0.as_str()),
            (404, "not_found"),
            "{path}"
        );
    }
    for path in ["/plans", "/countries", "/plans/DE-1", "/healthz"] {
        let response = app
            .client
            .delete(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_of(&body).0, "method_not_allowed");
    }
    // Without ADMIN_TOKEN the admin route does not exist for any method.
    let (status, body) = app.get_json("/admin/refresh").await;
    assert_eq!((status, error_of(&body).0.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn countries_are_listed_by_name_with_counts_and_minimum_prices() {
    let app = spawn_ready(fixture(), &[]).await;
    let (status, body) = app.get_json("/countries").await;
    assert_eq!(status, 200);
    assert_eq!(body["catalog"]["planCount"], 8, "{body}");
    assert_eq!(
        body["countries"],
        json!([
            {"code": "DE", "name": "Land DE", "planCount": 5, "minPrice": 3.0},
            {"code": "FR", "name": "Land FR", "planCount": 3, "minPrice": 6.0},
            {"code": "IT", "name": "Land IT", "planCount": 1, "minPrice": 12.5},
            {"code": "US", "name": "Land US", "planCount": 1, "minPrice": 25.0},
            {"code": "TR", "name": "Türkiye", "planCount": 1, "minPrice": 4.5},
        ])
    );
}

#[tokio::test]
async fn the_mirror_has_the_upstream_shape_and_never_forwards_a_key() {
    let app = spawn_ready(fixture(), &[]).await;
    let (status, body) = app
        .get_json("/api/products/aggregator?key=client-key&ref=shop1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    assert_eq!(body["aggregator"], "CMG");
    let plans = body["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 8);
    assert!(plans[0].get("pricePerGb").is_none(), "upstream fields only");
    assert!(
        plans
            .iter()
            .all(|p| p["productUrl"].as_str().unwrap().contains("ref=shop1"))
    );
    assert_eq!(app.upstream.hits(), 1);
    assert!(
        app.upstream
            .requests()
            .iter()
            .all(|r| !r.contains("client-key"))
    );
}

#[tokio::test]
async fn head_requests_get_headers_only() {
    let app = spawn_ready(fixture(), &[]).await;
    let response = app
        .client
        .head(format!("{}/plans", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    assert!(response.bytes().await.unwrap().is_empty());
}
