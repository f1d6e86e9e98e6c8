//! Regression tests from the attack run: secrets in admin answers, plans that
//! carry the key, request ids, long URIs, integer days, rounded numbers.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn an_upstream_echoing_the_key_never_reaches_the_admin_answer() {
    let app = spawn_ready(simple_feed(2), &[ADMIN_ARG]).await;
    for body in [
        format!(r#"{{"success": "echo key={KEY}", "plans": []}}"#),
        format!(r#"{{"success": true, "plans": [{{"name": 5}}], "x": "{KEY}"#),
        format!(r#"<html>{KEY}</html>"#),
    ] {
        app.upstream.set(Reply::Json(body.into_bytes()));
        let report = app.refresh().await;
        let text = report.to_string();
        assert!(!text.contains(KEY), "{text}");
        assert!(
            !text.contains("echo"),
            "no upstream content verbatim: {text}"
        );
        assert!(report["message"].as_str().unwrap().len() <= 320);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_plan_carrying_the_key_is_dropped_counted_and_never_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snap.json");
    let mut leaky = plan("LEAK", &["DE"], 1.0, 7, 5.0);
    leaky["productUrl"] = format!("https://www.connectmeguru.com/esim/x?key={KEY}").into();
    let mut named = plan("LEAK2", &["DE"], 1.0, 7, 5.0);
    named["name"] = format!("promo {KEY}").into();
    let body = feed(&[plan("OK", &["DE"], 1.0, 7, 5.0), leaky, named]);
    let app = spawn_ready(body, &[&format!("--snapshot-path={}", snapshot.display())]).await;
    let (_, plans) = app.get_json("/plans").await;
    assert_eq!(plans["total"], 1);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("reason=\"carries_secret\"} 2"),
        "{metrics}"
    );
    app.wait_for(|_| snapshot.exists()).await;
    let written = std::fs::read_to_string(&snapshot).unwrap();
    assert!(!written.contains(KEY));
    app.stop().await;
}

#[tokio::test]
async fn the_key_in_the_envelope_or_in_upper_case_is_never_served_or_snapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snap.json");
    let mut shouting = plan("LOUD", &["DE"], 1.0, 7, 5.0);
    shouting["operator"] = format!("Op {}", KEY.to_uppercase()).into();
    let mut lower = plan("QUIET", &["DE"], 1.0, 7, 5.0);
    lower["name"] = format!("promo {}", KEY.to_lowercase()).into();
    let body = serde_json::to_vec(&serde_json::json!({
        "success": true,
        "aggregator": format!("CMG {KEY}"),
        "plans": [plan("OK", &["DE"], 1.0, 7, 5.0), shouting, lower],
    }))
    .unwrap();
    let app = spawn_ready(body, &[&format!("--snapshot-path={}", snapshot.display())]).await;
    let mirror = app
        .get("/api/products/aggregator?ref=r1")
        .await
        .text()
        .await
        .unwrap();
    let upper = KEY.to_uppercase();
    for served in [&mirror, &app.get("/plans").await.text().await.unwrap()] {
        assert!(
            !served.to_uppercase().contains(&upper),
            "key served: {served}"
        );
    }
    let mirrored: Value = serde_json::from_str(&mirror).unwrap();
    assert_eq!(mirrored["plans"].as_array().unwrap().len(), 1);
    assert_eq!(mirrored["aggregator"], "ConnectMeGuru");
    app.wait_for(|_| snapshot.exists()).await;
    let written = std::fs::read_to_string(&snapshot).unwrap();
    assert!(!written.to_uppercase().contains(&upper), "{written}");
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_only_when_short_and_plain() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let kept = app
        .get_with("/healthz", "x-request-id", "trace-42.a_b")
        .await;
    assert_eq!(id(&kept), "trace-42.a_b");
    for bad in [
        "x".repeat(60_000),
        "x}: status=200 FORGED".to_owned(),
        "a b".to_owned(),
    ] {
        let response = app.get_with("/healthz", "x-request-id", &bad).await;
        let fresh = id(&response);
        assert_ne!(fresh, bad);
        assert!(fresh.len() >= 16 && fresh.len() <= 64, "{fresh}");
    }
    let a = id(&app.get("/healthz").await);
    let b = id(&app.get("/healthz").await);
    assert_ne!(a, b);
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    assert!(common < 8, "ids are not sequential: {a} {b}");
    app.stop().await;
}

#[tokio::test]
async fn a_huge_uri_gets_a_json_414_with_a_request_id() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let response = app.get(&format!("/plans?q={}", "a".repeat(20_000))).await;
    assert_eq!(response.status(), 414);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_of(&body).0, "invalid_parameter");
    app.stop().await;
}

#[tokio::test]
async fn days_are_integers_and_prices_per_gb_are_rounded() {
    let body = feed(&[
        plan("A", &["DE"], 5.0, 7, 9.19),
        plan("B", &["DE"], 3.0, 7, 2.0),
    ]);
    let app = spawn_ready(body, &[]).await;
    for query in ["min_days=1.5", "max_days=7.0", "min_days=-1", "max_days=x"] {
        let (status, body) = app.get_json(&format!("/plans?{query}")).await;
        let parameter = query.split('=').next().unwrap();
        assert_eq!(
            (status, error_of(&body).1.as_deref()),
            (400, Some(parameter)),
            "{query}"
        );
    }
    let (_, plans) = app.get_json("/plans?sort=price_per_gb").await;
    let raw = serde_json::to_string(&plans).unwrap();
    assert!(raw.contains("\"pricePerGb\":1.838"), "{raw}");
    assert!(raw.contains("\"pricePerGb\":0.6667"), "{raw}");
    app.stop().await;
}
