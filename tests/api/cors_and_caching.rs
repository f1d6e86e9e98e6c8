//! HTTP behaviour: ETag/304, Cache-Control, compression, CORS, request ids,
//! rate limiting and the OpenAPI document.

use serde_json::Value;
use std::collections::BTreeSet;

use crate::helpers::*;

#[tokio::test]
async fn etags_answer_304_and_change_with_the_query_ref_and_catalog() {
    let app = spawn_ready(simple_feed(5), &[ADMIN_ARG]).await;
    let first = app.get("/plans?country=DE&min_gb=2").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with("W/\"") && etag.ends_with('"'),
        "weak ETag {etag}"
    );

    let again = app
        .get_with("/plans?min_gb=2.0&country=de", "If-None-Match", &etag)
        .await;
    assert_eq!(again.status(), 304, "an equivalent query has the same ETag");
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    let with_ref = app.get("/plans?country=DE&min_gb=2&ref=p1").await;
    assert_ne!(with_ref.headers()["etag"], etag.as_str());
    for path in ["/plans/P0001", "/countries", "/api/products/aggregator"] {
        let response = app.get(path).await;
        let tag = response.headers()["etag"].to_str().unwrap().to_owned();
        let cached = app
            .get_with(path, "If-None-Match", &format!("\"other\", {tag}"))
            .await;
        assert_eq!(cached.status(), 304, "{path}");
    }

    app.upstream.set(Reply::Json(simple_feed(6)));
    app.refresh().await;
    let changed = app
        .get_with("/plans?country=DE&min_gb=2", "If-None-Match", &etag)
        .await;
    assert_eq!(changed.status(), 200, "a new catalog has new ETags");
}

#[tokio::test]
async fn cache_control_never_outlives_the_next_sync() {
    let app = spawn_ready(simple_feed(2), &["--refresh-interval=20s"]).await;
    app.wait_for(|a| a.store.status().next_sync_at.is_some())
        .await;
    let response = app.get("/plans").await;
    let value = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    let max_age: u64 = value
        .strip_prefix("public, max-age=")
        .and_then(|v| v.strip_suffix(", stale-while-revalidate=60, stale-if-error=86400"))
        .unwrap_or_else(|| panic!("{value}"))
        .parse()
        .unwrap();
    assert!(max_age <= 21, "{value}");
    let error = app.get("/plans?limit=0").await;
    assert_eq!(error.headers()["cache-control"], "no-store");
}

fn compressions(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("cmg_page_compressions_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn decode(encoding: &str, raw: &[u8]) -> Value {
    serde_json::from_slice(&decompress(encoding, raw)).unwrap()
}

#[tokio::test]
async fn compressed_pages_decode_to_the_same_json_and_are_made_once() {
    let app = spawn_ready(simple_feed(40), &[]).await;
    let plain: Value = app.get_json("/plans").await.1;
    let raw_client = raw_client();
    let get = |accept: &'static str| {
        let request = raw_client
            .get(format!("{}/plans", app.address))
            .header("Accept-Encoding", accept);
        async move { request.send().await.unwrap() }
    };
    for (accept, encoding) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0.4, br;q=0.9", "br"),
        ("br;q=0, gzip;q=0", "identity"),
    ] {
        for _ in 0..3 {
            let response = get(accept).await;
            assert_eq!(response.status(), 200);
            let shown = response
                .headers()
                .get("content-encoding")
                .map_or("identity", |v| v.to_str().unwrap())
                .to_owned();
            assert_eq!(shown, encoding, "{accept}");
            assert!(
                response.headers()["vary"]
                    .to_str()
                    .unwrap()
                    .contains("accept-encoding"),
                "{accept}"
            );
            let body = decode(encoding, &response.bytes().await.unwrap());
            assert_eq!(body["plans"], plain["plans"], "{accept}");
            assert_eq!(body["total"], plain["total"]);
        }
    }
    // Many compressed answers, one compression per encoding.
    assert_eq!(compressions(&app.metrics().await), 2);

    // A 304 varies too.
    let etag = get("gzip").await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let not_modified = raw_client
        .get(format!("{}/plans", app.address))
        .header("Accept-Encoding", "gzip")
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["vary"], "accept-encoding");
    // Tiny bodies go out as they are.
    let tiny = raw_client
        .get(format!("{}/plans?limit=1", app.address))
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert!(tiny.headers().get("content-encoding").is_none());
    app.stop().await;
}

/// Pages are immutable and cached whole, `catalog` block included: the same
/// bytes while nothing changes, and a new block (stale, then fresh again on
/// the same content) in every encoding as soon as it changes.
#[tokio::test]
async fn cached_pages_show_the_catalog_block_of_the_moment_in_every_encoding() {
    let app = spawn_ready(simple_feed(40), &[ADMIN_ARG]).await;
    let raw_client = raw_client();
    let fetch = |accept: &'static str| {
        let request = raw_client
            .get(format!("{}/plans?limit=30", app.address))
            .header("Accept-Encoding", accept);
        async move {
            let response = request.send().await.unwrap();
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            let encoding = response
                .headers()
                .get("content-encoding")
                .map_or("identity", |v| v.to_str().unwrap())
                .to_owned();
            (encoding, etag, response.bytes().await.unwrap())
        }
    };
    let forms = ["identity", "gzip", "br"];
    let mut first = Vec::new();
    for accept in forms {
        let (encoding, etag, bytes) = fetch(accept).await;
        assert_eq!(encoding, accept);
        let (_, _, again) = fetch(accept).await;
        assert_eq!(
            bytes, again,
            "{accept}: the same bytes while nothing changes"
        );
        let body = decode(accept, &bytes);
        assert_eq!(body["catalog"]["stale"], false);
        first.push((etag, body));
    }
    assert_eq!(compressions(&app.metrics().await), 2);

    // The same content, now stale: every form shows it, under a new tag.
    app.upstream.set(Reply::Status(500, "down"));
    assert_eq!(app.refresh().await["outcome"], "http_error");
    for (accept, (old_etag, old_body)) in forms.iter().zip(&first) {
        let (_, etag, bytes) = fetch(accept).await;
        let body = decode(accept, &bytes);
        assert_eq!(body["catalog"]["stale"], true, "{accept}");
        assert_eq!(body["plans"], old_body["plans"]);
        assert_ne!(&etag, old_etag, "{accept}");
    }
    assert_eq!(compressions(&app.metrics().await), 4);

    // Recovered on the same feed: fresh again, the first bodies again.
    app.upstream.set(Reply::Json(simple_feed(40)));
    assert_eq!(app.refresh().await["outcome"], "ok");
    for (accept, (old_etag, old_body)) in forms.iter().zip(&first) {
        let (_, etag, bytes) = fetch(accept).await;
        assert_eq!(&decode(accept, &bytes), old_body, "{accept}");
        assert_eq!(&etag, old_etag, "{accept}");
    }
    app.stop().await;
}

/// The change feed, the Atom feed and price histories are read from the
/// database on every request, but a body served again is not compressed
/// again (SPEC section 3).
#[tokio::test]
async fn history_bodies_served_again_are_not_compressed_again() {
    let app = spawn_app_with(
        FakeUpstream::start(Reply::Status(500, "unused")).await,
        &["--demo"],
    )
    .await;
    let raw_client = raw_client();
    let mut sizes = Vec::new();
    for path in ["/changes?since=1", "/changes.atom"] {
        let plain = app.get(path).await.bytes().await.unwrap();
        sizes.push(plain.len());
        let before = compressions(&app.metrics().await);
        for _ in 0..3 {
            let response = raw_client
                .get(format!("{}{path}", app.address))
                .header("Accept-Encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["content-encoding"], "gzip", "{path}");
            let body = response.bytes().await.unwrap();
            assert_eq!(decompress("gzip", &body), plain, "{path}");
        }
        assert_eq!(
            compressions(&app.metrics().await),
            before + 1,
            "{path}: compressed once"
        );
    }
    assert!(sizes.iter().all(|&s| s > 1024), "{sizes:?}");
    app.stop().await;
}

#[tokio::test]
async fn every_response_has_a_request_id_and_a_given_one_is_kept() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let mut seen = std::collections::HashSet::new();
    for path in ["/plans", "/nope", "/healthz", "/plans?limit=0"] {
        let response = app.get(path).await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!id.is_empty());
        assert!(seen.insert(id), "ids are unique");
    }
    let response = app.get_with("/plans", "x-request-id", "abc-123").await;
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn cors_allows_any_origin_by_default_without_credentials() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/plans", app.address))
        .header("Origin", "https://anything.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let methods = response.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("GET"), "{methods}");
}

#[tokio::test]
async fn rate_limits_apply_per_client_and_forwarded_for_only_when_trusted() {
    let app = spawn_ready(simple_feed(1), &["--rate-limit-per-minute=3"]).await;
    assert_eq!(
        statuses(&app, "/plans", None, 5).await,
        [200, 200, 200, 429, 429]
    );
    let response = app.get("/plans").await;
    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_of(&body).0, "rate_limited");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "probes are never limited"
    );
    // Untrusted X-Forwarded-For is ignored: still the same client.
    assert_eq!(statuses(&app, "/plans", Some("10.9.9.9"), 1).await, [429]);

    let trusted = spawn_ready(
        simple_feed(1),
        &["--rate-limit-per-minute=2", "--trust-forwarded-for"],
    )
    .await;
    assert_eq!(
        statuses(&trusted, "/plans", Some("192.0.2.1"), 3).await,
        [200, 200, 429]
    );
    assert_eq!(
        statuses(&trusted, "/plans", Some("192.0.2.2"), 1).await,
        [200]
    );
}

/// Statuses of `n` sequential requests, optionally with X-Forwarded-For.
/// Like nginx's `$proxy_add_x_forwarded_for`: whatever the client wrote
/// (a fresh spoofed address each time), then the address the proxy saw.
async fn statuses(app: &TestApp, path: &str, forwarded: Option<&str>, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut request = app.client.get(format!("{}{path}", app.address));
        if let Some(ip) = forwarded {
            request = request.header("X-Forwarded-For", format!("203.0.113.{i}, {ip}"));
        }
        out.push(request.send().await.unwrap().status().as_u16());
    }
    out
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_ready(simple_feed(1), &[ADMIN_ARG]).await;
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // Without ADMIN_TOKEN the route answers 404, so it is not promised.
    let plain = spawn_ready(simple_feed(1), &[]).await;
    let (_, without) = plain.get_json("/openapi.json").await;
    assert!(without["paths"].get("/admin/refresh").is_none());
    assert!(without["paths"].get("/plans").is_some());
    // Exactly what the router is built from, both ways: a route added
    // without documentation, or documented without a route, fails here.
    let documented = |doc: &serde_json::Value| -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((method.clone(), path.clone()));
            }
        }
        out
    };
    let served: BTreeSet<(String, String)> = cmg_feed_proxy::http::served_routes()
        .into_iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented(&doc), served);
    let mut public = served.clone();
    public.remove(&("post".to_owned(), "/admin/refresh".to_owned()));
    for (method, path) in [
        ("get", "/admin/clicks"),
        ("get", "/admin/webhooks"),
        ("post", "/admin/webhooks/{id}/retry"),
    ] {
        public.remove(&(method.to_owned(), path.to_owned()));
    }
    assert_eq!(documented(&without), public);
    for (method, path) in &served {
        if path.contains("{id}") {
            // An unknown webhook message is a 404 by contract.
            continue;
        }
        // And the route really exists (anything but a 404 from the router).
        let url = format!("{}{}", app.address, path.replace("{packageCode}", "P0000"));
        let response = app
            .client
            .request(method.to_uppercase().parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        assert_ne!(response.status(), 405, "{method} {path}");
        assert_ne!(response.status(), 404, "{method} {path}");
    }
    let params: Vec<&str> = doc["paths"]["/plans"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, cmg_feed_proxy::query::PLAN_PARAMETERS);
}

#[tokio::test]
async fn the_page_and_widget_are_served() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    let page = app.get("/").await;
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("widget.js"));
    let js = app.get("/widget.js").await;
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(js.text().await.unwrap().contains("/plans"));

    // Static bodies: validated, and compressed once whoever asks.
    let raw_client = raw_client();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/widget.js", "javascript"),
        ("/openapi.json", "application/json"),
    ] {
        let plain = app.get(path).await;
        let etag = plain.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with("W/\""), "{path}: {etag}");
        let plain = plain.bytes().await.unwrap();
        let before = compressions(&app.metrics().await);
        for _ in 0..3 {
            let response = raw_client
                .get(format!("{}{path}", app.address))
                .header("Accept-Encoding", "gzip, deflate, br, zstd")
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["content-encoding"], "br", "{path}");
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .contains(content_type)
            );
            assert_eq!(decompress("br", &response.bytes().await.unwrap()), plain);
        }
        // At most once: the bodies are made once per process, so another
        // test's app may have compressed them already.
        assert!(compressions(&app.metrics().await) <= before + 1, "{path}");
        let again = app.get_with(path, "If-None-Match", &etag).await;
        assert_eq!(again.status(), 304, "{path}");
    }
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_are_shed_with_503() {
    let app = spawn_ready(simple_feed(2), &[ADMIN_ARG, "--max-concurrent-requests=1"]).await;
    app.upstream.set(Reply::Slow(
        std::time::Duration::from_millis(800),
        simple_feed(2),
    ));
    // The admin refresh waits on the slow upstream and holds the only slot.
    let slow = tokio::spawn(app.post("/admin/refresh", Some(ADMIN)));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let response = app.get("/plans").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_of(&body).0, "overloaded");
    assert_eq!(slow.await.unwrap().status(), 200);
    assert_eq!(app.get("/plans").await.status(), 200, "capacity is back");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("cmg_overloaded_total{reason=\"shed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_admin_refresh_waits_for_its_sync_past_the_request_timeout() {
    let app = spawn_ready(simple_feed(2), &[ADMIN_ARG, "--request-timeout=300ms"]).await;
    app.upstream.set(Reply::Slow(
        std::time::Duration::from_millis(1000),
        simple_feed(3),
    ));
    let response = app.post("/admin/refresh", Some(ADMIN)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["outcome"], "ok");
    assert_eq!(body["planCount"], 3);
    app.stop().await;
}

#[tokio::test]
async fn responses_carry_nosniff_and_the_page_a_content_security_policy() {
    let app = spawn_ready(simple_feed(1), &[]).await;
    for path in ["/plans", "/nope", "/widget.js", "/metrics"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    let page = app.get("/").await;
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
}

#[tokio::test]
async fn replicas_on_the_same_feed_answer_the_same_weak_etags() {
    let one = spawn_ready(simple_feed(5), &[]).await;
    let two = spawn_ready(simple_feed(5), &[]).await;
    for path in [
        "/plans?country=DE&min_gb=2",
        "/countries",
        "/trips?stops=DE:3",
    ] {
        let a = one.get(path).await.headers()["etag"].clone();
        let b = two.get(path).await.headers()["etag"].clone();
        assert_eq!(a, b, "{path}");
        assert!(a.to_str().unwrap().starts_with("W/\""));
    }
    one.stop().await;
    two.stop().await;
}
