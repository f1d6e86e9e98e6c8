//! The edge against hostile clients (hardening round three): slow and
//! oversized request bodies, probes while clients fill every request slot,
//! one address holding many connections, readers that never read, HTTP/2
//! streams reset mid-request and a forwarded-for header split over lines.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes, or what came by `limit`
/// with `closed` false.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// A connection from a chosen loopback address (127.0.0.0/8 is all local).
async fn connect_from(app: &TestApp, local: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(host(app).parse().unwrap()).await.unwrap()
}

/// Whether a fresh request on `stream` gets an answer.
async fn answered(stream: &mut TcpStream) -> bool {
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await,
        Ok(Ok(n)) if n > 0
    )
}

fn status_and_json(response: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(response);
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_a_json_408_and_the_connection_closes() {
    let app = spawn_ready(simple_feed(2), &["--client-body-timeout=1s"]).await;
    let mut stream = TcpStream::connect(host(&app)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"js")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the connection stayed open");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let (status, body) = status_and_json(&response);
    assert_eq!(status, 408, "{}", String::from_utf8_lossy(&response));
    assert_eq!(error_of(&body).0, "request_timeout");
    app.stop().await;
}

#[tokio::test]
async fn an_announced_body_over_the_limit_is_refused_at_once_with_413() {
    let app = spawn_ready(simple_feed(2), &["--client-body-timeout=30s"]).await;
    let mut stream = TcpStream::connect(host(&app)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the connection stayed open");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited for the body"
    );
    let (status, body) = status_and_json(&response);
    assert_eq!(status, 413);
    assert_eq!(error_of(&body).0, "invalid_parameter");
    app.stop().await;
}

#[tokio::test]
async fn each_route_group_has_its_own_body_limit() {
    let app = spawn_ready(simple_feed(2), &[]).await;
    // A route that reads no body reads and ignores a small stray one...
    let mut small = TcpStream::connect(host(&app)).await.unwrap();
    small
        .write_all(b"GET /plans?limit=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut small, Duration::from_secs(5)).await;
    assert_eq!(status_and_json(&response).0, 200);
    // ...and refuses at once what only an MCP message may be.
    let mut large = TcpStream::connect(host(&app)).await.unwrap();
    large
        .write_all(b"GET /plans HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut large, Duration::from_secs(5)).await;
    assert!(closed);
    assert_eq!(status_and_json(&response).0, 413);
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_per_address_limit_is_the_proxys() {
    let app = spawn_ready(
        simple_feed(2),
        &["--max-connections-per-ip=2", "--trust-forwarded-for"],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from(&app, "127.0.0.1").await;
        assert!(
            answered(&mut stream).await,
            "the proxy's connection was refused"
        );
        held.push(stream);
    }
    app.stop().await;
}

#[tokio::test]
async fn slow_bodies_never_take_request_slots_and_probes_answer_when_slots_are_full() {
    let app = spawn_app_with(
        FakeUpstream::start(Reply::Json(simple_feed(3))).await,
        &[
            "--max-concurrent-requests=2",
            "--client-body-timeout=20s",
            ADMIN_ARG,
        ],
    )
    .await;
    app.wait_for(|a| a.store.catalog().is_some()).await;
    // Slow bodies: more than the request slots, each sends a byte at a time.
    let mut dripping = Vec::new();
    for _ in 0..6 {
        let mut stream = TcpStream::connect(host(&app)).await.unwrap();
        stream
            .write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            .await
            .unwrap();
        dripping.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.get("/plans").await.status(),
        200,
        "a slow body took a slot"
    );

    // Now fill both slots for real: admin refreshes waiting on a slow upstream.
    app.upstream
        .set(Reply::Slow(Duration::from_secs(3), simple_feed(3)));
    let _held = [
        app.post("/admin/refresh", Some(ADMIN)),
        app.post("/admin/refresh", Some(ADMIN)),
    ]
    .map(tokio::spawn);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shed = app.get("/plans").await;
    assert_eq!(shed.status(), 503, "both slots are taken");
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(probe).await.status(), 200, "{probe} was shed");
    }
    drop(dripping);
    app.stop().await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections_and_others_still_connect() {
    let app = spawn_ready(
        simple_feed(2),
        &["--max-connections-per-ip=3", "--max-connections=100"],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from(&app, "127.0.0.1").await;
        assert!(answered(&mut stream).await);
        held.push(stream);
    }
    let mut fourth = connect_from(&app, "127.0.0.1").await;
    assert!(!answered(&mut fourth).await, "a 4th connection was served");
    let mut other = connect_from(&app, "127.0.0.2").await;
    assert!(answered(&mut other).await, "another address was refused");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from(&app, "127.0.0.1").await;
    assert!(
        answered(&mut again).await,
        "slots come back when connections close"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_last_free_connections_are_kept_for_new_addresses() {
    // MAX_CONNECTIONS 8 keeps 1 in reserve: one address gets 7, not 8.
    let app = spawn_ready(
        simple_feed(2),
        &["--max-connections=8", "--max-connections-per-ip=100"],
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..7 {
        let mut stream = connect_from(&app, "127.0.0.1").await;
        assert!(answered(&mut stream).await);
        held.push(stream);
    }
    let mut greedy = connect_from(&app, "127.0.0.1").await;
    assert!(
        !answered(&mut greedy).await,
        "the reserve went to a held address"
    );
    let mut probe = connect_from(&app, "127.0.0.3").await;
    assert!(answered(&mut probe).await, "a new address found no slot");
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_a_large_body_is_cut_off_at_the_header_timeout() {
    let plans: Vec<Value> = (0..40_000)
        .map(|i| plan(&format!("P{i:05}"), &["DE", "FR"], 1.0, 7, 5.0))
        .collect();
    let app = spawn_ready(
        feed(&plans),
        &["--client-header-timeout=1s", "--keepalive-timeout=60s"],
    )
    .await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(host(&app).parse().unwrap()).await.unwrap();
    stream
        .write_all(b"GET /api/products/aggregator?ref=slow-1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Reads nothing for 3 s, then everything it can.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "the connection was kept");
    let whole = app
        .get("/api/products/aggregator?ref=slow-1")
        .await
        .bytes()
        .await
        .unwrap()
        .len();
    assert!(
        received.len() < whole,
        "the whole body ({whole} bytes) was sent to a client that did not read"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_http2_stream_reset_mid_request_does_not_keep_the_connection_busy() {
    let app = spawn_ready(
        simple_feed(2),
        &[ADMIN_ARG, "--keepalive-timeout=1s", "--max-connections=1"],
    )
    .await;
    app.upstream
        .set(Reply::Slow(Duration::from_secs(4), simple_feed(2)));
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    // The request is cancelled (RST_STREAM) while its handler waits.
    let pending = h2
        .post(format!("{}/admin/refresh", app.address))
        .bearer_auth(ADMIN)
        .send();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), pending)
            .await
            .is_err()
    );
    // The only connection slot frees once that connection idles out.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fresh = reqwest::Client::new();
    let status = fresh
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(
        status.ok(),
        Some(200),
        "the reset connection was never closed"
    );
    drop(h2);
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_over_several_lines_keys_on_the_last_entry_of_the_last_line() {
    let app = spawn_ready(
        simple_feed(1),
        &["--rate-limit-per-minute=2", "--trust-forwarded-for"],
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        // The client writes its own line (a new address each time); the
        // proxy appends a line of its own with the address it saw.
        let response = app
            .client
            .get(format!("{}/plans", app.address))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .header("X-Forwarded-For", "192.0.2.7")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429], "the client chose its own key");
    app.stop().await;
}

#[tokio::test]
async fn a_large_mirror_is_streamed_whole_in_every_encoding_with_validators() {
    let plans: Vec<Value> = (0..3_000)
        .map(|i| plan(&format!("P{i:05}"), &["DE"], 1.0, 7, 5.0))
        .collect();
    let app = spawn_ready(feed(&plans), &[]).await;
    let path = "/api/products/aggregator?ref=big-1";
    let identity = app.get_with(path, "accept-encoding", "identity").await;
    let etag = identity.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/"), "{etag}");
    let identity: Value = identity.json().await.unwrap();
    let listed = identity["plans"].as_array().unwrap();
    assert_eq!(listed.len(), 3_000);
    assert!(
        listed
            .iter()
            .all(|p| p["productUrl"].as_str().unwrap().ends_with("?ref=big-1"))
    );
    let raw_client = raw_client();
    for encoding in ["gzip", "br"] {
        let response = raw_client
            .get(format!("{}{path}", app.address))
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], encoding);
        let decoded = decompress(encoding, &response.bytes().await.unwrap());
        let decoded: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(decoded, identity, "{encoding}");
    }
    let again = app.get_with(path, "if-none-match", &etag).await;
    assert_eq!(again.status(), 304);
    app.stop().await;
}
