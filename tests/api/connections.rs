//! Connection hygiene at the edge, on real sockets: slow headers, idle
//! keep-alive connections, the connection limit, shutdown with a client that
//! never finishes its request.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Reads until the peer closes; the time it took, or None if still open at `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

/// A keep-alive connection that has been answered once.
async fn kept_alive(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(host(app)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    stream
}

#[tokio::test]
async fn a_slow_header_connection_is_closed_while_others_are_served() {
    let app = spawn_ready(simple_feed(3), &["--client-header-timeout=1s"]).await;
    let mut slow = TcpStream::connect(host(&app)).await.unwrap();
    slow.write_all(b"GET /plans HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Another client is served meanwhile.
    let (status, _) = app.get_json("/plans").await;
    assert_eq!(status, 200);
    let closed = closed_within(&mut slow, Duration::from_secs(4)).await;
    let took = closed.expect("the slow client was not cut off");
    assert!(took >= Duration::from_millis(800), "{took:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_ready(
        simple_feed(3),
        &["--keepalive-timeout=1s", "--client-header-timeout=30s"],
    )
    .await;
    let mut stream = kept_alive(&app).await;
    let took = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the idle connection stayed open");
    assert!(took >= Duration::from_millis(800), "{took:?}");
    app.stop().await;
}

#[tokio::test]
async fn past_max_connections_new_ones_are_closed_and_service_recovers() {
    let app = spawn_ready(simple_feed(3), &["--max-connections=4"]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(host(&app)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(host(&app)).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    // Closed at once, unanswered: not merely left hanging.
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a connection past the limit must be closed unanswered: {read:?}"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "probes answer once a slot frees");
    app.stop().await;
}

#[tokio::test]
async fn h2c_is_served_through_the_same_stack() {
    let app = spawn_ready(simple_feed(3), &["--max-connections=8"]).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/plans?limit=2", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_the_header_timeout() {
    let app = spawn_ready(
        simple_feed(3),
        &["--client-header-timeout=1s", "--keepalive-timeout=10s"],
    )
    .await;
    let mut stream = TcpStream::connect(host(&app)).await.unwrap();
    let mut buf = [0u8; 4096];
    for round in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "round {round}"
        );
        // Idle longer than CLIENT_HEADER_TIMEOUT, well within KEEPALIVE_TIMEOUT.
        tokio::time::sleep(Duration::from_millis(1600)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_head_dripped_on_a_reused_connection_is_cut_at_the_header_timeout() {
    let app = spawn_ready(
        simple_feed(3),
        &["--client-header-timeout=1s", "--keepalive-timeout=30s"],
    )
    .await;
    let mut stream = kept_alive(&app).await;
    // The next request's head starts, then drips.
    stream.write_all(b"GET /plans HTTP/1.1\r\n").await.unwrap();
    let took = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the dripping head was not cut off");
    assert!(took < Duration::from_secs(3), "{took:?}");
    app.stop().await;
}
