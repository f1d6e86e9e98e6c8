//! A fleet behaves as one (SPEC section 13), with real processes on a real
//! PostgreSQL (scripts/with-postgres.sh) and a fake upstream that counts its
//! requests: one leader, one upstream request per sync, followers serving
//! the same version and bytes within a second, a new leader after `kill -9`
//! and after every database session is terminated, a replica started while
//! upstream is down ready from the database, admin refresh on a follower,
//! and `SYNC_LEADER=always` as before.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use crate::history::postgres_url;

const BIN: &str = env!("CARGO_BIN_EXE_cmg-feed-proxy");

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn start(upstream: &FakeUpstream, database: &str, extra: &[(&str, &str)]) -> Replica {
    let addr = free_addr();
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LISTEN_ADDR", &addr)
        .env("CMG_API_KEY", KEY)
        .env("CMG_FEED_URL", &upstream.url)
        .env("DATABASE_URL", database)
        .env("RATES_URL", "none")
        .env("REFRESH_INTERVAL", "1h")
        .env("ADMIN_TOKEN", ADMIN)
        .env(
            "RUST_LOG",
            std::env::var("FLEET_LOG").unwrap_or("warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(if std::env::var_os("FLEET_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(if std::env::var_os("FLEET_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Replica {
        child: cmd.spawn().expect("the binary starts"),
        base: format!("http://{addr}"),
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Option<(u16, Value, String)> {
    let response = client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.json().await.ok()?;
    Some((status, body, etag))
}

async fn readyz(client: &reqwest::Client, r: &Replica) -> Option<Value> {
    get(client, &format!("{}/readyz", r.base))
        .await
        .filter(|(s, ..)| *s == 200)
        .map(|(_, b, _)| b)
}

/// Waits (up to `within`) until `check` holds, polling every 50 ms.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every replica is ready (starting processes: up to 20 s).
async fn all_ready(client: &reqwest::Client, replicas: &[&Replica]) {
    eventually(Duration::from_secs(20), "all ready", || async {
        for r in replicas {
            if readyz(client, r).await.is_none() {
                return false;
            }
        }
        true
    })
    .await;
}

async fn roles(client: &reqwest::Client, replicas: &[&Replica]) -> Vec<String> {
    let mut out = Vec::new();
    for r in replicas {
        let role = readyz(client, r).await.map_or("down".to_owned(), |b| {
            b["role"].as_str().unwrap_or("").to_owned()
        });
        out.push(role);
    }
    out
}

/// The leader among `replicas`, once exactly one leads and the rest follow.
async fn one_leader(client: &reqwest::Client, replicas: &[&Replica], within: Duration) -> usize {
    let started = Instant::now();
    loop {
        let now = roles(client, replicas).await;
        let leaders: Vec<usize> = (0..now.len()).filter(|&i| now[i] == "leader").collect();
        if leaders.len() == 1 && now.iter().filter(|r| *r == "follower").count() == now.len() - 1 {
            return leaders[0];
        }
        assert!(started.elapsed() < within, "no single leader: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every replica's `/plans` version and ETag.
async fn served(client: &reqwest::Client, replicas: &[&Replica]) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for r in replicas {
        let (_, body, etag) = get(client, &format!("{}/plans?limit=500", r.base))
            .await
            .unwrap_or((0, Value::Null, String::new()));
        out.push((body["catalog"]["version"].as_u64().unwrap_or(0), etag));
    }
    out
}

async fn in_step(client: &reqwest::Client, replicas: &[&Replica], version: u64, within: Duration) {
    let started = Instant::now();
    loop {
        let now = served(client, replicas).await;
        if now.iter().all(|(v, e)| *v == version && *e == now[0].1) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "replicas not in step on version {version} within {within:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn refresh(client: &reqwest::Client, r: &Replica) -> (u16, Value) {
    let response = client
        .post(format!("{}/admin/refresh", r.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn feed_priced(price: f64) -> Vec<u8> {
    feed(&[
        plan("DE-1", &["DE"], 1.0, 7, price),
        plan("FR-1", &["FR"], 2.0, 7, 4.0),
        plan("EU-1", &["DE", "FR"], 5.0, 30, 12.0),
    ])
}

#[tokio::test]
async fn three_replicas_act_as_one() {
    let Some(database) = postgres_url("fleet_one").await else {
        return;
    };
    let client = reqwest::Client::new();
    let upstream = FakeUpstream::start(Reply::Json(feed_priced(3.0))).await;
    let a = start(&upstream, &database, &[]);
    let b = start(&upstream, &database, &[]);
    let c = start(&upstream, &database, &[]);
    let all = [&a, &b, &c];
    all_ready(&client, &all).await;
    let leader = one_leader(&client, &all, Duration::from_secs(10)).await;
    in_step(&client, &all, 1, Duration::from_secs(5)).await;
    // Leadership is stable: the leader keeps leading through its heartbeats.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            one_leader(&client, &all, Duration::from_secs(1)).await,
            leader
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        upstream.hits(),
        1,
        "one upstream request for three replicas"
    );
    let metrics = client
        .get(format!("{}/metrics", all[leader].base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("cmg_sync_role{role=\"leader\"} 1"),
        "{metrics}"
    );

    // A new feed, asked for on a follower: the leader syncs once, and every
    // replica serves the new version, with equal ETags, within a second of
    // the answer.
    upstream.set(Reply::Json(feed_priced(2.5)));
    let follower = (leader + 1) % 3;
    let (status, report) = refresh(&client, all[follower]).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["outcome"], "ok");
    in_step(&client, &all, 2, Duration::from_secs(1)).await;
    assert_eq!(upstream.hits(), 2);
    // Followers expect the leader's next sync an interval after its last
    // good one: their pages may be cached like the leader's (max-age is
    // capped at 300 s, REFRESH_INTERVAL is an hour).
    for r in &all {
        let response = client
            .get(format!("{}/plans", r.base))
            .send()
            .await
            .unwrap();
        let cache_control = response.headers()["cache-control"].to_str().unwrap();
        let max_age: u64 = cache_control
            .strip_prefix("public, max-age=")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!((290..=300).contains(&max_age), "{cache_control}");
    }
    // An identical feed makes no new version and no swap.
    let (status, _) = refresh(&client, all[leader]).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    in_step(&client, &all, 2, Duration::from_secs(1)).await;
    assert_eq!(upstream.hits(), 3);

    // kill -9 of the leader: another replica leads within 5 s, and the next
    // sync is still one request.
    let mut replicas: Vec<Replica> = vec![a, b, c];
    let dead = replicas.remove(leader);
    let mut dead = dead;
    dead.child.kill().unwrap();
    let _ = dead.child.wait();
    let rest: Vec<&Replica> = replicas.iter().collect();
    let hits = upstream.hits();
    let new_leader = one_leader(&client, &rest, Duration::from_secs(8)).await;
    // The new leader syncs at once (the feed is unchanged: no new version).
    eventually(Duration::from_secs(5), "the new leader syncs", || async {
        upstream.hits() == hits + 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream.hits(), hits + 1, "one request for the takeover");
    in_step(&client, &rest, 2, Duration::from_secs(1)).await;
    upstream.set(Reply::Json(feed_priced(2.0)));
    let hits = upstream.hits();
    let (status, _) = refresh(&client, rest[new_leader]).await;
    assert_eq!(status, 200);
    in_step(&client, &rest, 3, Duration::from_secs(1)).await;
    assert_eq!(upstream.hits(), hits + 1);

    // A replica started while upstream is down is ready from the database.
    upstream.set(Reply::Status(503, "down"));
    let late = start(&upstream, &database, &[]);
    eventually(
        Duration::from_secs(10),
        "the late replica ready",
        || async { readyz(&client, &late).await.is_some() },
    )
    .await;
    let mut with_late = rest.clone();
    with_late.push(&late);
    in_step(&client, &with_late, 3, Duration::from_secs(2)).await;

    // Every database session dropped (as in a restart): followers keep
    // serving, a leader is elected again, and no version is made twice.
    terminate_sessions(&database).await;
    for r in &with_late {
        assert!(readyz(&client, r).await.is_some(), "still serving");
    }
    let leader = one_leader(&client, &with_late, Duration::from_secs(10)).await;
    upstream.set(Reply::Json(feed_priced(1.5)));
    let (status, _) = refresh(&client, with_late[(leader + 1) % 3]).await;
    assert_eq!(status, 200);
    in_step(&client, &with_late, 4, Duration::from_secs(2)).await;
    let (versions, contents) = version_counts(&database).await;
    assert_eq!(versions, 4, "no version made twice");
    assert_eq!(contents, 4);

    // The change feed is the same on every replica: versions 2, 3 and 4
    // each changed DE-1's price.
    let mut feeds = Vec::new();
    for r in &with_late {
        let (status, body, _) = get(&client, &format!("{}/changes?since=1", r.base))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        feeds.push(body);
    }
    assert!(feeds.iter().all(|f| *f == feeds[0]), "{feeds:?}");
    let changed: Vec<(u64, &str)> = feeds[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["version"].as_u64().unwrap(),
                c["packageCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(changed, [(2, "DE-1"), (3, "DE-1"), (4, "DE-1")]);
}

async fn terminate_sessions(database: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn version_counts(database: &str) -> (i64, i64) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database).await.unwrap();
    sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM catalog_versions")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn sync_leader_always_keeps_every_replica_syncing() {
    let Some(database) = postgres_url("fleet_always").await else {
        return;
    };
    let client = reqwest::Client::new();
    let upstream = FakeUpstream::start(Reply::Json(feed_priced(3.0))).await;
    let a = start(&upstream, &database, &[("SYNC_LEADER", "always")]);
    let b = start(&upstream, &database, &[("SYNC_LEADER", "always")]);
    all_ready(&client, &[&a, &b]).await;
    assert_eq!(roles(&client, &[&a, &b]).await, ["single", "single"]);
    eventually(Duration::from_secs(5), "both fetched", || async {
        upstream.hits() == 2
    })
    .await;
}

/// A refresh asked of a follower waits for the leader's sync up to
/// `REQUEST_TIMEOUT`, then answers 503 `overloaded` with `Retry-After`; the
/// sync still lands, and the follower serves it.
#[tokio::test]
async fn a_follower_refresh_gives_up_after_the_request_timeout() {
    let Some(database) = postgres_url("fleet_timeout").await else {
        return;
    };
    let client = reqwest::Client::new();
    let upstream = FakeUpstream::start(Reply::Json(feed_priced(3.0))).await;
    let timeout = [("REQUEST_TIMEOUT", "1s")];
    let a = start(&upstream, &database, &timeout);
    let b = start(&upstream, &database, &timeout);
    let both = [&a, &b];
    all_ready(&client, &both).await;
    let leader = one_leader(&client, &both, Duration::from_secs(10)).await;
    in_step(&client, &both, 1, Duration::from_secs(5)).await;

    upstream.set(Reply::Slow(Duration::from_secs(3), feed_priced(2.0)));
    let started = Instant::now();
    let response = client
        .post(format!("{}/admin/refresh", both[1 - leader].base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "answered after {waited:?}"
    );
    in_step(&client, &both, 2, Duration::from_secs(6)).await;
}
