//! The catalog sync against a misbehaving upstream: every failure keeps the
//! last good catalog (marked stale), and recovery swaps the new one in.

use std::time::Duration;

use crate::helpers::*;

/// Starts an app on a 10-plan catalog, then switches upstream to `reply`.
async fn ready_then(reply: Reply, args: &[&str]) -> TestApp {
    let mut all = vec![ADMIN_ARG];
    all.extend_from_slice(args);
    let app = spawn_ready(simple_feed(10), &all).await;
    app.upstream.set(reply);
    app
}

async fn assert_still_serving_stale(app: &TestApp, outcome: &str) {
    let report = app.refresh().await;
    assert_eq!(report["outcome"], outcome, "{report}");
    assert_eq!(report["planCount"], 10);
    let (status, body) = app.get_json("/plans?limit=500").await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 10);
    assert_eq!(body["catalog"]["stale"], true);
    let (ready, readyz) = app.get_json("/readyz").await;
    assert_eq!(ready, 200, "readiness never depends on upstream");
    assert_eq!(readyz["lastRefresh"]["outcome"], outcome);
    assert_eq!(readyz["planCount"], 10);
}

#[tokio::test]
async fn stale_catalog_is_served_when_upstream_returns_500() {
    let app = ready_then(Reply::Status(500, "oops"), &[]).await;
    assert_still_serving_stale(&app, "http_error").await;
}

#[tokio::test]
async fn unauthorized_upstream_keeps_the_catalog_and_is_reported_as_such() {
    let app = ready_then(Reply::Status(401, r#"{"error":"invalid key"}"#), &[]).await;
    assert_still_serving_stale(&app, "unauthorized").await;
}

#[tokio::test]
async fn a_slow_upstream_times_out_and_keeps_the_catalog() {
    let app = ready_then(Reply::Slow(Duration::from_secs(5), simple_feed(3)), &[]).await;
    let started = std::time::Instant::now();
    assert_still_serving_stale(&app, "timeout").await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "UPSTREAM_TIMEOUT=2s is enforced"
    );
}

#[tokio::test]
async fn a_body_dripping_past_the_timeout_is_abandoned() {
    let reply = Reply::Drip {
        body: simple_feed(20),
        chunk: 64,
        pause: Duration::from_millis(100),
    };
    let app = ready_then(reply, &[]).await;
    assert_still_serving_stale(&app, "timeout").await;
}

#[tokio::test]
async fn malformed_json_keeps_the_catalog() {
    let app = ready_then(Reply::Json(b"<html>maintenance</html>".to_vec()), &[]).await;
    assert_still_serving_stale(&app, "malformed").await;
}

#[tokio::test]
async fn a_truncated_body_keeps_the_catalog() {
    let body = simple_feed(30);
    let sent = body.len() / 2;
    let app = ready_then(Reply::Truncated { body, sent }, &[]).await;
    let report = app.refresh().await;
    assert_ne!(report["outcome"], "ok", "{report}");
    assert_eq!(report["planCount"], 10);
}

#[tokio::test]
async fn a_truncated_body_without_content_length_is_malformed() {
    let body = simple_feed(30);
    let half = body[..body.len() / 2].to_vec();
    let app = ready_then(Reply::NoLength(half), &[]).await;
    assert_still_serving_stale(&app, "malformed").await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_and_without_content_length() {
    let big = simple_feed(200);
    assert!(big.len() > 20_000);
    let app = ready_then(Reply::Json(big.clone()), &["--upstream-max-bytes=20KB"]).await;
    assert_still_serving_stale(&app, "too_large").await;
    app.upstream.set(Reply::NoLength(big));
    assert_still_serving_stale(&app, "too_large").await;
}

#[tokio::test]
async fn success_false_keeps_the_catalog() {
    let app = ready_then(
        Reply::Json(br#"{"success":false,"plans":[]}"#.to_vec()),
        &[],
    )
    .await;
    assert_still_serving_stale(&app, "http_error").await;
}

#[tokio::test]
async fn an_empty_feed_never_replaces_a_catalog() {
    let app = ready_then(Reply::Json(feed(&[])), &[]).await;
    assert_still_serving_stale(&app, "rejected_empty").await;
}

#[tokio::test]
async fn a_feed_that_lost_most_plans_is_rejected_by_default_unless_accepted() {
    // No FEED_MAX_SHRINK given: the guard is on at 0.5 (SPEC section 2).
    let app = ready_then(Reply::Json(simple_feed(2)), &[]).await;
    assert_still_serving_stale(&app, "rejected_shrink").await;
    let response = app
        .post("/admin/refresh?accept_shrink=true", Some(ADMIN))
        .await;
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["outcome"], "ok");
    assert_eq!(report["planCount"], 2);
}

#[tokio::test]
async fn a_smaller_feed_is_taken_when_the_shrink_guard_is_off() {
    let app = ready_then(Reply::Json(simple_feed(2)), &["--feed-max-shrink=1"]).await;
    let report = app.refresh().await;
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(report["planCount"], 2);
}

#[tokio::test]
async fn a_gzip_body_is_decoded() {
    let app = ready_then(Reply::Gzip(simple_feed(12)), &[]).await;
    let report = app.refresh().await;
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(report["planCount"], 12);
}

#[tokio::test]
async fn a_redirect_off_the_origin_is_not_followed() {
    let app = ready_then(Reply::Redirect("http://127.0.0.2:9/steal".into()), &[]).await;
    assert_still_serving_stale(&app, "http_error").await;
}

#[tokio::test]
async fn recovery_swaps_in_the_new_feed_and_clears_stale() {
    let app = ready_then(Reply::Status(503, "down"), &[]).await;
    assert_still_serving_stale(&app, "http_error").await;
    app.upstream.set(Reply::Json(simple_feed(11)));
    let report = app.refresh().await;
    assert_eq!(report["outcome"], "ok");
    let (_, body) = app.get_json("/plans").await;
    assert_eq!(body["total"], 11);
    assert_eq!(body["catalog"]["stale"], false);
    assert_eq!(body["catalog"]["planCount"], 11);
}

#[tokio::test]
async fn bad_plans_are_dropped_and_counted() {
    let mut plans = vec![
        plan("GOOD", &["de"], 1.0, 7, 3.0),
        plan("GOOD", &["FR"], 2.0, 7, 4.0),
        plan("NEG", &["DE"], -1.0, 7, 3.0),
        plan("REL", &["DE"], 1.0, 7, 3.0),
        serde_json::json!({"name": "no code", "dataAmount": 1, "duration": 1, "retailPrice": 1,
                           "productUrl": "https://x.example/a"}),
        serde_json::json!("not an object"),
    ];
    plans[3]["productUrl"] = "/relative/url".into();
    let app = spawn_ready(feed(&plans), &[]).await;
    let (_, body) = app.get_json("/plans").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["plans"][0]["locationCodes"], serde_json::json!(["DE"]));
    let (_, body) = app.get_json("/plans?country=fr").await;
    assert_eq!(body["total"], 0, "the first duplicate wins");
    let metrics = app.metrics().await;
    for line in [
        "cmg_plans_dropped_total{reason=\"duplicate_package_code\"} 1",
        "cmg_plans_dropped_total{reason=\"invalid_number\"} 1",
        "cmg_plans_dropped_total{reason=\"invalid_product_url\"} 1",
        "cmg_plans_dropped_total{reason=\"missing_package_code\"} 1",
        "cmg_plans_dropped_total{reason=\"malformed\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn many_concurrent_clients_cause_one_upstream_request() {
    let upstream =
        FakeUpstream::start(Reply::Slow(Duration::from_millis(300), simple_feed(5))).await;
    let app = spawn_app_with(upstream, &[]).await;
    // During the first sync: everyone gets 503, nobody triggers a fetch.
    let during: Vec<_> = (0..50).map(|_| app.get("/plans")).collect();
    for response in futures_join(during).await {
        assert!([200, 503].contains(&response.status().as_u16()));
    }
    app.wait_for(|a| a.store.catalog().is_some()).await;
    let after: Vec<_> = (0..100).map(|_| app.get("/plans?country=DE")).collect();
    for response in futures_join(after).await {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.upstream.hits(), 1);
}

#[tokio::test]
async fn concurrent_admin_refreshes_share_one_upstream_request() {
    let app = ready_then(
        Reply::Slow(Duration::from_millis(400), simple_feed(10)),
        &[],
    )
    .await;
    let before = app.upstream.hits();
    let calls: Vec<_> = (0..8)
        .map(|_| app.post("/admin/refresh", Some(ADMIN)))
        .collect();
    for response in futures_join(calls).await {
        assert_eq!(response.status(), 200);
        let report: serde_json::Value = response.json().await.unwrap();
        assert_eq!(report["outcome"], "ok");
    }
    assert_eq!(app.upstream.hits() - before, 1);
}

#[tokio::test]
async fn the_key_and_accept_header_are_sent_upstream() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let request = &app.upstream.requests()[0];
    assert!(
        request.starts_with(&format!("GET /api/products/aggregator?key={KEY} ")),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("accept: application/json"),
        "{request}"
    );
}

#[tokio::test]
async fn failures_are_retried_with_backoff_without_waiting_for_the_interval() {
    let upstream = FakeUpstream::start(Reply::Status(500, "down")).await;
    let app = spawn_app_with(upstream, &[]).await;
    app.wait_for(|a| a.upstream.hits() >= 1).await;
    app.upstream.set(Reply::Json(simple_feed(4)));
    // REFRESH_INTERVAL is 1h; the first retry comes after about a second.
    app.wait_for(|a| a.store.catalog().is_some()).await;
    assert_eq!(app.store.catalog().unwrap().len(), 4);
    assert!(!app.store.status().stale);
}

/// Sends all requests at once and collects the responses.
pub async fn futures_join<F>(futures: Vec<F>) -> Vec<reqwest::Response>
where
    F: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn connection_refused_keeps_the_catalog() {
    let app = spawn_ready(simple_feed(10), &[ADMIN_ARG]).await;
    // Point a second app at a port nobody listens on: never ready, never panics.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut dead = FakeUpstream::start(Reply::Status(500, "")).await;
    dead.url = format!("http://{addr}/api/products/aggregator");
    let cold = spawn_app_with(dead, &[ADMIN_ARG]).await;
    let report = cold.refresh().await;
    assert_eq!(report["outcome"], "connection_error", "{report}");
    assert_eq!(cold.get("/readyz").await.status(), 503);
    // And the warm one keeps serving through the same failure.
    app.upstream.set(Reply::Status(500, "down"));
    assert_eq!(app.refresh().await["planCount"], 10);
}

#[tokio::test]
async fn a_shrink_override_during_a_sync_gets_a_sync_of_its_own() {
    let app = ready_then(
        Reply::Slow(Duration::from_millis(400), simple_feed(2)),
        &["--feed-max-shrink=0.5"],
    )
    .await;
    let before = app.upstream.hits();
    let plain = tokio::spawn(app.post("/admin/refresh", Some(ADMIN)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let forced = app
        .post("/admin/refresh?accept_shrink=true", Some(ADMIN))
        .await;
    let forced: serde_json::Value = forced.json().await.unwrap();
    let plain: serde_json::Value = plain.await.unwrap().json().await.unwrap();
    assert_eq!(plain["outcome"], "rejected_shrink", "{plain}");
    assert_eq!(
        (forced["outcome"].as_str(), forced["planCount"].as_u64()),
        (Some("ok"), Some(2))
    );
    assert_eq!(app.upstream.hits() - before, 2);
}

#[tokio::test]
async fn a_refresh_after_the_fetch_finished_gets_a_fresh_fetch() {
    let app = ready_then(
        Reply::Slow(Duration::from_millis(200), simple_feed(20_000)),
        &[],
    )
    .await;
    let before = app.upstream.hits();
    let first = tokio::spawn(app.post("/admin/refresh", Some(ADMIN)));
    // The body is in and being parsed: a request now must not reuse it.
    tokio::time::sleep(Duration::from_millis(350)).await;
    app.upstream.set(Reply::Status(401, "revoked"));
    let second: serde_json::Value = app
        .post("/admin/refresh", Some(ADMIN))
        .await
        .json()
        .await
        .unwrap();
    let first: serde_json::Value = first.await.unwrap().json().await.unwrap();
    assert_eq!(first["outcome"], "ok", "{first}");
    assert_eq!(second["outcome"], "unauthorized", "{second}");
    assert_eq!(app.upstream.hits() - before, 2);
}
