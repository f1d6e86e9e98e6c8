//! Liveness, readiness, cold starts, snapshots, demo mode and the admin route.

use crate::helpers::*;

#[tokio::test]
async fn cold_start_with_upstream_down_is_alive_but_not_ready_until_upstream_heals() {
    let app = spawn_app(Reply::Status(500, "down")).await;
    app.wait_for(|a| a.upstream.hits() >= 1).await;

    assert_eq!(app.get("/healthz").await.status(), 200);
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["planCount"].as_u64()),
        (Some("starting"), Some(0))
    );
    // Absent values are all written the same way: null, never left out.
    assert!(body.get("lastRefresh").is_some(), "{body}");
    for absent in ["version", "updatedAt", "stale"] {
        assert_eq!(
            body.get(absent),
            Some(&serde_json::Value::Null),
            "{absent}: {body}"
        );
    }
    assert_eq!(body["role"], "single");
    let metrics = app.metrics().await;
    for (role, value) in [("leader", 0), ("follower", 0), ("single", 1)] {
        assert!(
            metrics.contains(&format!("cmg_sync_role{{role=\"{role}\"}} {value}\n")),
            "{role}: {metrics}"
        );
    }
    assert_eq!(error_of(&body).0, "catalog_unavailable");
    let response = app.get("/plans?country=DE").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_of(&body).0, "catalog_unavailable");
    for path in ["/countries", "/plans/P0001", "/api/products/aggregator"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(
            (status, error_of(&body).0.as_str()),
            (503, "catalog_unavailable"),
            "{path}"
        );
    }

    app.upstream.set(Reply::Json(simple_feed(3)));
    app.wait_for(|a| a.store.catalog().is_some()).await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["planCount"], 3);
    assert_eq!(body["lastRefresh"]["outcome"], "ok");
    assert!(body["updatedAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn ready_after_the_first_sync_with_plans_in_spec_shape() {
    let app = spawn_ready(simple_feed(3), &[]).await;
    let (status, body) = app.get_json("/plans").await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 3);
    assert_eq!(body["limit"], 50);
    assert_eq!(body["offset"], 0);
    let catalog = &body["catalog"];
    assert!(humantime::parse_rfc3339(catalog["updatedAt"].as_str().unwrap()).is_ok());
    assert!(
        catalog.get("ageSeconds").is_none(),
        "nothing in a page follows the clock"
    );
    assert_eq!(catalog["stale"], false);
    assert_eq!(catalog["planCount"], 3);
    let plan = &body["plans"][0];
    for field in [
        "name",
        "packageCode",
        "productUrl",
        "dataAmount",
        "duration",
        "locationCodes",
        "locationNames",
        "operator",
        "speed",
        "retailPrice",
        "pricePerGb",
    ] {
        assert!(plan.get(field).is_some(), "{field} in {plan}");
    }
    assert_eq!(plan["pricePerGb"], 5.0);
}

#[tokio::test]
async fn a_snapshot_makes_a_restart_ready_before_upstream_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    let snapshot_arg = format!("--snapshot-path={}", path.display());

    let first = spawn_ready(simple_feed(7), &[&snapshot_arg]).await;
    first.wait_for(|_| path.exists()).await;
    first.stop().await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(KEY), "the snapshot never holds the key");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "no temp file left beside the snapshot: {names:?}"
    );

    // Restart with upstream down: ready from the snapshot, marked stale.
    let second = spawn_app_with(
        FakeUpstream::start(Reply::Status(500, "down")).await,
        &[&snapshot_arg],
    )
    .await;
    let (status, body) = second.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["planCount"], 7);
    assert!(body["lastRefresh"]["outcome"].is_string(), "{body}");
    let (_, body) = second.get_json("/plans").await;
    assert_eq!(body["total"], 7);
    assert_eq!(body["catalog"]["stale"], true);
}

#[tokio::test]
async fn a_corrupt_snapshot_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.json");
    std::fs::write(&path, br#"{"success":true,"plans":[{"packageCo"#).unwrap();
    std::fs::write(dir.path().join(".catalog.json.tmp-999"), b"half-written").unwrap();
    let snapshot_arg = format!("--snapshot-path={}", path.display());
    let app = spawn_app_with(
        FakeUpstream::start(Reply::Status(500, "down")).await,
        &[&snapshot_arg],
    )
    .await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert!(
        !dir.path().join(".catalog.json.tmp-999").exists(),
        "leftovers are cleaned"
    );
    app.upstream.set(Reply::Json(simple_feed(2)));
    app.wait_for(|a| a.store.catalog().is_some()).await;
    app.wait_for(|_| std::fs::read(&path).is_ok_and(|b| b.ends_with(b"]}")))
        .await;
}

#[tokio::test]
async fn demo_mode_is_ready_at_once_without_network() {
    let upstream = FakeUpstream::start(Reply::Status(500, "unused")).await;
    let app = spawn_app_with(upstream, &["--demo"]).await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert!(body["planCount"].as_u64().unwrap() >= 300);
    let (_, countries) = app.get_json("/countries").await;
    assert!(countries["countries"].as_array().unwrap().len() >= 40);
    assert_eq!(
        countries["catalog"]["version"], 2,
        "the envelope of the other catalog routes"
    );
    assert_eq!(app.upstream.hits(), 0, "demo mode never calls upstream");
}

#[tokio::test]
async fn admin_refresh_is_404_without_a_token_and_401_with_a_wrong_one() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let response = app.post("/admin/refresh", Some("anything")).await;
    assert_eq!(response.status(), 404);

    let app = spawn_ready(simple_feed(1), &[ADMIN_ARG]).await;
    for token in [None, Some("wrong"), Some("admin-token-012345678")] {
        let response = app.post("/admin/refresh", token).await;
        assert_eq!(response.status(), 401, "{token:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error_of(&body).0, "unauthorized");
    }
    let report = app.refresh().await;
    assert_eq!(report["outcome"], "ok");
    assert_eq!(report["planCount"], 1);
    // The token is checked before the parameters, and accept_shrink is the
    // boolean the OpenAPI document declares.
    let response = app.post("/admin/refresh?accept_shrink=maybe", None).await;
    assert_eq!(response.status(), 401);
    for query in ["accept_shrink=maybe", "accept_shrink=", "force=1"] {
        let response = app
            .post(&format!("/admin/refresh?{query}"), Some(ADMIN))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        let (_, parameter) = error_of(&body);
        assert!(parameter.is_some(), "{query}: {body}");
    }
    let (status, body) = app.get_json("/admin/refresh").await;
    assert_eq!(
        (status, error_of(&body).0.as_str()),
        (405, "method_not_allowed")
    );
}

#[tokio::test]
async fn metrics_expose_requests_syncs_and_catalog_figures() {
    let app = spawn_ready(simple_feed(4), &[]).await;
    app.get("/plans?country=DE").await;
    app.get("/plans/P0001").await;
    app.get("/no/such/route").await;
    let response = app.get("/metrics").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "http_requests_total{route=\"/plans\",method=\"GET\",status=\"200\"} 1",
        "http_requests_total{route=\"/plans/{packageCode}\",method=\"GET\",status=\"200\"} 1",
        "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "http_request_duration_seconds_bucket{route=\"/plans\"",
        "cmg_sync_total{outcome=\"ok\"} 1",
        "cmg_catalog_plans 4",
        "cmg_catalog_age_seconds",
        "cmg_catalog_last_success_timestamp_seconds",
        "cmg_upstream_fetch_bytes_total",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    assert!(!text.contains("no/such/route"), "raw URIs are never labels");
    assert!(!text.contains(KEY));
}

#[tokio::test]
async fn metrics_speak_openmetrics_to_scrapers_that_ask() {
    let app = spawn_ready(simple_feed(2), &[]).await;
    // What Prometheus sends.
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let response = app.get_with("/metrics", "accept", accept).await;
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE cmg_sync counter"));
    assert!(text.contains("cmg_sync_total{outcome=\"ok\"} 1"));
    // Everyone else gets the classic text format.
    let plain = app.metrics().await;
    assert!(!plain.contains("# EOF"));
    assert!(plain.contains("# TYPE cmg_sync_total counter"));
}

#[tokio::test]
async fn stopping_lets_requests_in_flight_finish() {
    let app = spawn_ready(simple_feed(3000), &[]).await;
    // Ten large bodies whose heads are in when the stop arrives: every one
    // must still arrive whole.
    let mut responses = Vec::new();
    for _ in 0..10 {
        responses.push(app.get("/api/products/aggregator").await);
    }
    let stopping = tokio::spawn(app.stop());
    for response in responses {
        let body = response.bytes().await.expect("the body is sent in full");
        let feed: serde_json::Value = serde_json::from_slice(&body).expect("a whole body");
        assert_eq!(feed["plans"].as_array().unwrap().len(), 3000);
    }
    stopping.await.unwrap();
}

#[tokio::test]
async fn successful_syncs_repeat_every_refresh_interval() {
    let app = spawn_ready(simple_feed(2), &["--refresh-interval=1s"]).await;
    let started = std::time::Instant::now();
    app.wait_for(|a| a.upstream.hits() >= 3).await;
    // Two more syncs at 1 s ± 5%: neither early retries nor a stalled loop.
    let elapsed = started.elapsed().as_secs_f64();
    assert!((1.7..4.0).contains(&elapsed), "{elapsed}");
    assert!(!app.store.status().stale);
}
