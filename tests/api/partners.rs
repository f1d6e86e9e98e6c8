//! Referral injection and the partner registry (SPEC section 5).

use serde_json::{Value, json};

use crate::helpers::*;

const PARTNERS: &str = r#"
[[partner]]
id = "acme"
ref = "acme-01"
origins = ["https://shop.acme.example", "https://acme.example"]

[[partner]]
id = "globex"
ref = "globex"
origins = ["https://globex.example"]
"#;

fn fixture() -> Vec<u8> {
    let mut plans = vec![
        plan("A", &["DE"], 1.0, 7, 1.0),
        plan("B", &["DE"], 1.0, 7, 2.0),
        plan("C", &["DE"], 1.0, 7, 3.0),
    ];
    plans[1]["productUrl"] =
        json!("https://www.connectmeguru.com/esim/b?utm_source=feed&ref=upstream&x=%2F#buy");
    plans[2]["productUrl"] = json!("https://www.connectmeguru.com/esim/c?ref=upstream");
    feed(&plans)
}

fn urls(body: &Value) -> Vec<String> {
    body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["productUrl"].as_str().unwrap().to_owned())
        .collect()
}

async fn with_partners() -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.toml");
    std::fs::write(&path, PARTNERS).unwrap();
    let app = spawn_ready(
        fixture(),
        &[
            &format!("--partners-file={}", path.display()),
            "--cors-allow-origins=https://www.cmg-partner-hub.example",
        ],
    )
    .await;
    (app, dir)
}

#[tokio::test]
async fn without_a_ref_product_urls_carry_none() {
    let app = spawn_ready(fixture(), &[]).await;
    let (_, body) = app.get_json("/plans").await;
    assert_eq!(
        urls(&body),
        [
            "https://www.connectmeguru.com/esim/a",
            "https://www.connectmeguru.com/esim/b?utm_source=feed&x=%2F#buy",
            "https://www.connectmeguru.com/esim/c",
        ]
    );
}

#[tokio::test]
async fn a_ref_replaces_existing_ones_and_keeps_other_parameters_and_fragment() {
    let app = spawn_ready(fixture(), &[]).await;
    let (_, body) = app.get_json("/plans?ref=Shop_42").await;
    assert_eq!(
        urls(&body),
        [
            "https://www.connectmeguru.com/esim/a?ref=Shop_42",
            "https://www.connectmeguru.com/esim/b?utm_source=feed&x=%2F&ref=Shop_42#buy",
            "https://www.connectmeguru.com/esim/c?ref=Shop_42",
        ]
    );
    let (_, one) = app.get_json("/plans/B?ref=Shop_42").await;
    assert_eq!(
        one["productUrl"],
        "https://www.connectmeguru.com/esim/b?utm_source=feed&x=%2F&ref=Shop_42#buy"
    );
    let (_, mirror) = app.get_json("/api/products/aggregator?ref=Shop_42").await;
    assert_eq!(urls(&mirror)[1], one["productUrl"].as_str().unwrap());
}

#[tokio::test]
async fn with_a_registry_only_partner_refs_are_accepted() {
    let (app, _dir) = with_partners().await;
    let (status, body) = app.get_json("/plans?ref=acme-01").await;
    assert_eq!(status, 200);
    assert!(urls(&body).iter().all(|u| u.contains("ref=acme-01")));
    for path in [
        "/plans?ref=stranger",
        "/plans/A?ref=stranger",
        "/api/products/aggregator?ref=stranger",
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(
            error_of(&body),
            ("unknown_ref".into(), Some("ref".into())),
            "{path}"
        );
    }
    let (status, body) = app.get_json("/plans?ref=-bad").await;
    assert_eq!(
        (status, error_of(&body).0.as_str()),
        (400, "invalid_parameter")
    );
}

#[tokio::test]
async fn a_partner_origin_supplies_its_ref_unless_one_is_given() {
    let (app, _dir) = with_partners().await;
    let get = |origin: &'static str, path: &'static str| {
        let request = app
            .client
            .get(format!("{}{path}", app.address))
            .header("Origin", origin);
        async move { request.send().await.unwrap() }
    };
    for (origin, expected) in [
        ("https://shop.acme.example", "ref=acme-01"),
        ("https://acme.example", "ref=acme-01"),
        ("https://globex.example", "ref=globex"),
    ] {
        let response = get(origin, "/plans").await;
        assert_eq!(response.headers()["access-control-allow-origin"], origin);
        let body: Value = response.json().await.unwrap();
        assert!(urls(&body).iter().all(|u| u.contains(expected)), "{origin}");
    }
    let body: Value = get("https://acme.example", "/plans?ref=globex")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        urls(&body).iter().all(|u| u.contains("ref=globex")),
        "an explicit ref wins"
    );
    let response = get("https://evil.example", "/plans").await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        urls(&body).iter().all(|u| !u.contains("ref=")),
        "strangers get no ref"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("cmg_partner_requests_total{partner=\"acme\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn partner_origins_and_configured_origins_pass_cors_preflight_strangers_do_not() {
    let (app, _dir) = with_partners().await;
    for (origin, allowed) in [
        ("https://shop.acme.example", true),
        ("https://www.cmg-partner-hub.example", true),
        ("https://evil.example", false),
    ] {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/plans", app.address))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{origin}");
        let allow = response.headers().get("access-control-allow-origin");
        assert_eq!(allow.is_some(), allowed, "{origin}");
        if allowed {
            assert_eq!(allow.unwrap(), origin);
            assert!(
                response
                    .headers()
                    .get("access-control-allow-credentials")
                    .is_none()
            );
        }
        let vary = response
            .headers()
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",");
        assert!(vary.to_lowercase().contains("origin"), "{vary}");
    }
}

#[tokio::test]
async fn reloading_the_registry_swaps_it_and_a_bad_file_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.toml");
    std::fs::write(&path, PARTNERS).unwrap();
    let registry = arc_swap::ArcSwap::from_pointee(
        cmg_feed_proxy::referral::PartnerRegistry::load(&path).unwrap(),
    );
    std::fs::write(&path, "[[partner]]\nid='new'\nref='new-1'\n").unwrap();
    assert!(cmg_feed_proxy::app::reload_partners(
        &path, &registry, false
    ));
    assert_eq!(registry.load().partners()[0].id, "new");
    std::fs::write(&path, "[[partner]]\nid='broken'\nref='-no'\n").unwrap();
    assert!(!cmg_feed_proxy::app::reload_partners(
        &path, &registry, false
    ));
    assert_eq!(registry.load().partners()[0].id, "new");
}

#[tokio::test]
async fn mcp_tools_put_the_ref_of_the_callers_partner_origin_and_refuse_unknown_refs() {
    let (app, _dir) = with_partners().await;
    let call = |origin: Option<&'static str>, path: &'static str| {
        let mut request = app
            .client
            .post(format!("{}{path}", app.address))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "get_plan", "arguments": {"packageCode": "C"}}}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        async move { request.send().await.unwrap() }
    };
    let body: Value = call(Some("https://globex.example"), "/mcp")
        .await
        .json()
        .await
        .unwrap();
    let url = body["result"]["structuredContent"]["productUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.ends_with("?ref=globex"), "{url}");
    let response = call(None, "/mcp?ref=nobody-owns-this").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        error_of(&body),
        ("unknown_ref".to_owned(), Some("ref".to_owned()))
    );
    app.stop().await;
}
