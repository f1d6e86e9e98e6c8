//! Catalog versions, `/changes` and `/plans/{code}/history` against real
//! databases: SQLite in memory and in a file always, PostgreSQL when
//! `TEST_DATABASE_URL` names a server (CI starts a throwaway one; locally the
//! PostgreSQL cases print SKIPPED with the reason).

use serde_json::Value;

use crate::helpers::*;

pub(crate) fn v1() -> Vec<u8> {
    feed(&[
        plan("A", &["DE"], 1.0, 7, 5.0),
        plan("B", &["FR"], 2.0, 7, 6.0),
        plan("C", &["IT"], 3.0, 7, 7.0),
    ])
}

/// B's price cut, C removed, D added.
pub(crate) fn v2() -> Vec<u8> {
    feed(&[
        plan("A", &["DE"], 1.0, 7, 5.0),
        plan("B", &["FR"], 2.0, 7, 4.5),
        plan("D", &["ES"], 1.0, 7, 3.0),
    ])
}

/// A renamed and its duration changed; B's price up again.
pub(crate) fn v3() -> Vec<u8> {
    let mut a = plan("A", &["DE"], 1.0, 10, 5.0);
    a["name"] = "A renamed".into();
    feed(&[
        a,
        plan("B", &["FR"], 2.0, 7, 5.5),
        plan("D", &["ES"], 1.0, 7, 3.0),
    ])
}

/// A fresh PostgreSQL database per test, or None (SKIPPED) without a server.
pub(crate) async fn postgres_url(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        // Written to the process's stderr, not through `eprintln!`, which
        // the test harness captures and shows only for failing tests: a
        // skipped backend is said in the default output of `cargo test`.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED {test} on PostgreSQL: TEST_DATABASE_URL is not set (scripts/with-postgres.sh starts a server)"
        );
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("TEST_DATABASE_URL is set but the server does not answer");
    let name = format!("t_{}_{}", test, fastrand::u32(..));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// Every backend to run a test on: (label, DATABASE_URL).
async fn backends(test: &str, dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("sqlite-memory", "sqlite::memory:".to_owned()),
        (
            "sqlite-file",
            format!("sqlite:{}", dir.path().join("history.db").display()),
        ),
    ];
    if let Some(url) = postgres_url(test).await {
        out.push(("postgres", url));
    }
    out
}

async fn changes(app: &TestApp, query: &str) -> (u16, Value) {
    app.get_json(&format!("/changes?{query}")).await
}

fn summary(body: &Value) -> Vec<(u64, String, String, Vec<String>)> {
    body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["version"].as_u64().unwrap(),
                c["packageCode"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
                c["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

#[tokio::test]
async fn a_feed_sequence_gives_exact_versions_changes_and_prices() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, url) in backends("sequence", &dir).await {
        let db = format!("--database-url={url}");
        let app = spawn_ready(v1(), &[ADMIN_ARG, &db]).await;
        app.wait_for(|a| a.store.catalog().is_some_and(|c| c.version() == 1))
            .await;
        let (_, ready) = app.get_json("/readyz").await;
        assert_eq!(ready["version"], 1, "{backend}");

        // An identical sync makes no version.
        app.refresh().await;
        let (_, plans) = app.get_json("/plans").await;
        assert_eq!(plans["catalog"]["version"], 1, "{backend}");

        app.upstream.set(Reply::Json(v2()));
        app.refresh().await;
        app.upstream.set(Reply::Json(v3()));
        app.refresh().await;
        let (_, plans) = app.get_json("/plans").await;
        assert_eq!(plans["catalog"]["version"], 3, "{backend}");

        let (status, body) = changes(&app, "since=0").await;
        assert_eq!(status, 200, "{backend}: {body}");
        assert_eq!(
            (body["since"].as_u64(), body["version"].as_u64()),
            (Some(0), Some(3))
        );
        assert_eq!(
            summary(&body),
            [
                (2, "B".into(), "updated".into(), s(&["retailPrice"])),
                (2, "C".into(), "removed".into(), s(&[])),
                (2, "D".into(), "added".into(), s(&[])),
                (3, "A".into(), "updated".into(), s(&["name", "duration"])),
                (3, "B".into(), "updated".into(), s(&["retailPrice"])),
            ],
            "{backend}"
        );
        let b = &body["changes"][0];
        assert_eq!(b["before"]["retailPrice"], 6.0);
        assert_eq!(b["after"]["retailPrice"], 4.5);
        assert!(
            b["after"].get("pricePerGb").is_none(),
            "upstream fields only"
        );
        assert_eq!(body["changes"][1]["after"], Value::Null);
        assert_eq!(body["changes"][2]["before"], Value::Null);
        assert_eq!(body["next"], Value::Null);

        let (_, since2) = changes(&app, "since=2").await;
        assert_eq!(summary(&since2).len(), 2, "{backend}");
        let (_, none) = changes(&app, "since=3").await;
        assert_eq!(summary(&none).len(), 0, "{backend}");
        let (status, body) = changes(&app, "since=4").await;
        assert_eq!((status, error_of(&body).1.as_deref()), (400, Some("since")));

        let (status, history) = app.get_json("/plans/B/history").await;
        assert_eq!(status, 200, "{backend}");
        let prices: Vec<f64> = history["prices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["price"].as_f64().unwrap())
            .collect();
        assert_eq!(prices, [6.0, 4.5, 5.5], "{backend}");
        assert_eq!(history["prices"][2]["to"], Value::Null);
        assert_eq!(history["prices"][0]["to"], history["prices"][1]["from"]);
        assert_eq!(history["lowestPrice30d"], 4.5, "{backend}");
        // A removed plan keeps its history, closed when it was removed.
        let (status, removed) = app.get_json("/plans/C/history").await;
        assert_eq!(status, 200);
        assert!(removed["prices"][0]["to"].is_string(), "{removed}");
        let (status, body) = app.get_json("/plans/NEVER/history").await;
        assert_eq!((status, error_of(&body).0.as_str()), (404, "not_found"));
        app.stop().await;
    }
}

#[tokio::test]
async fn paging_with_the_cursor_returns_every_change_once() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, url) in backends("paging", &dir).await {
        let db = format!("--database-url={url}");
        let app = spawn_ready(simple_feed(7), &[ADMIN_ARG, &db]).await;
        let mut changed = serde_json::from_slice::<Value>(&simple_feed(7)).unwrap();
        for plan in changed["plans"].as_array_mut().unwrap() {
            plan["retailPrice"] = (plan["retailPrice"].as_f64().unwrap() + 1.0).into();
        }
        app.upstream
            .set(Reply::Json(serde_json::to_vec(&changed).unwrap()));
        app.refresh().await;
        app.upstream.set(Reply::Json(simple_feed(9)));
        app.refresh().await;

        let (_, all) = changes(&app, "since=0").await;
        let expected = summary(&all);
        assert_eq!(expected.len(), 7 + 9, "{backend}");
        let mut seen = Vec::new();
        let (status, mut page) = changes(&app, "since=0&limit=3").await;
        assert_eq!(status, 200);
        loop {
            seen.extend(summary(&page));
            let Some(next) = page["next"].as_str() else {
                break;
            };
            let (status, body) = changes(&app, &format!("cursor={next}&limit=3")).await;
            assert_eq!(status, 200, "{body}");
            page = body;
        }
        assert_eq!(seen, expected, "{backend}");
        let (status, body) = changes(&app, "cursor=not-a-cursor").await;
        assert_eq!(
            (status, error_of(&body).1.as_deref()),
            (400, Some("cursor"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn versions_and_history_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!(
        "sqlite:{}",
        dir.path().join("restart.db").display()
    )];
    urls.extend(postgres_url("restart").await);
    for url in urls {
        let db = format!("--database-url={url}");
        let app = spawn_ready(v1(), &[ADMIN_ARG, &db]).await;
        app.upstream.set(Reply::Json(v2()));
        app.refresh().await;
        app.stop().await;

        let app = spawn_ready(v2(), &[ADMIN_ARG, &db]).await;
        app.wait_for(|a| a.store.catalog().is_some_and(|c| c.version() == 2))
            .await;
        let (_, body) = changes(&app, "since=1").await;
        assert_eq!(summary(&body).len(), 3);
        app.upstream.set(Reply::Json(v3()));
        app.refresh().await;
        let (_, ready) = app.get_json("/readyz").await;
        assert_eq!(ready["version"], 3);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_restart_from_the_snapshot_answers_changes_once_the_same_feed_is_synced() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "--database-url=sqlite:{}",
        dir.path().join("h.db").display()
    );
    let snapshot = dir.path().join("snap.json");
    let snap = format!("--snapshot-path={}", snapshot.display());
    let app = spawn_ready(v1(), &[ADMIN_ARG, &db, &snap]).await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    app.wait_for(|_| std::fs::read_to_string(&snapshot).is_ok_and(|s| s.contains("\"version\":2")))
        .await;
    app.stop().await;

    // The snapshot's catalog is being recorded (confirmed) while the first
    // sync brings the same content: the catalog in use gets its number too.
    for _ in 0..5 {
        let app = spawn_ready(v2(), &[ADMIN_ARG, &db, &snap]).await;
        app.wait_for(|a| a.upstream.hits() >= 1).await;
        app.wait_for(|a| a.store.catalog().is_some_and(|c| c.is_recorded()))
            .await;
        let (status, body) = changes(&app, "since=1").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["version"], 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_sqlite_file_deleted_while_idle_is_reopened_and_its_lost_history_said() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.db");
    let db = format!("--database-url=sqlite:{}", path.display());
    let app = spawn_ready(v1(), &[ADMIN_ARG, &db]).await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    assert_eq!(changes(&app, "since=1").await.0, 200);
    std::fs::remove_file(&path).unwrap();
    // No write comes: the read itself notices and reopens the file, whose
    // history is empty, so the changes after 1 are no longer kept.
    let (status, body) = changes(&app, "since=1").await;
    assert_eq!(status, 410, "{body}");
    assert!(path.exists(), "the file was created again");
    app.stop().await;
}

#[tokio::test]
async fn changes_beyond_the_retention_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "--database-url=sqlite:{}",
        dir.path().join("retention.db").display()
    );
    let app = spawn_ready(v1(), &[ADMIN_ARG, &db, "--history-retention=1s"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.upstream.set(Reply::Json(v3()));
    app.refresh().await;
    let (status, body) = changes(&app, "since=0").await;
    assert_eq!(
        (status, error_of(&body).0.as_str()),
        (410, "history_expired"),
        "{body}"
    );
    let (status, _) = changes(&app, "since=2").await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_postgres_agree_on_versions() {
    let Some(url) = postgres_url("replicas").await else {
        return;
    };
    let db = format!("--database-url={url}");
    // Replicas that each sync for themselves (SYNC_LEADER=always, the
    // behaviour before leader election; tests/api/fleet.rs has the fleet).
    let one = spawn_ready(v1(), &[ADMIN_ARG, &db, "--sync-leader=always"]).await;
    let two = spawn_ready(v1(), &[ADMIN_ARG, &db, "--sync-leader=always"]).await;
    // Both sync the same feeds at the same time.
    for body in [v2(), v3()] {
        one.upstream.set(Reply::Json(body.clone()));
        two.upstream.set(Reply::Json(body));
        tokio::join!(one.refresh(), two.refresh());
        let (_, a) = one.get_json("/readyz").await;
        let (_, b) = two.get_json("/readyz").await;
        assert_eq!(a["version"], b["version"]);
    }
    let (_, a) = one.get_json("/readyz").await;
    assert_eq!(a["version"], 3);
    // One syncs a newer feed first; the other adopts its number.
    let mut v4 = serde_json::from_slice::<Value>(&v3()).unwrap();
    v4["plans"][0]["retailPrice"] = 1.0.into();
    let v4 = serde_json::to_vec(&v4).unwrap();
    one.upstream.set(Reply::Json(v4.clone()));
    one.refresh().await;
    two.upstream.set(Reply::Json(v4));
    two.refresh().await;
    let (_, a) = one.get_json("/readyz").await;
    let (_, b) = two.get_json("/readyz").await;
    assert_eq!(
        (a["version"].as_u64(), b["version"].as_u64()),
        (Some(4), Some(4))
    );
    let (_, from_two) = two.get_json("/changes?since=3").await;
    assert_eq!(summary(&from_two).len(), 1);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_database_that_is_down_never_stops_syncs_or_leaks_its_password() {
    let db = "--database-url=postgres://cmg:db-pass-5ecret@127.0.0.1:1/cmg";
    let app = spawn_ready(v1(), &[ADMIN_ARG, db]).await;
    let (status, plans) = app.get_json("/plans").await;
    assert_eq!(status, 200);
    // No fleet to follow: it syncs for itself until the database answers.
    let (_, ready) = app.get_json("/readyz").await;
    assert_eq!(ready["role"], "single", "{ready}");
    // Nothing is recorded: no number is promised that a restart could take back.
    assert_eq!(plans["catalog"]["version"], 0, "no version recorded yet");
    app.upstream.set(Reply::Json(v2()));
    let report = app.refresh().await;
    assert_eq!(report["outcome"], "ok", "the new catalog is swapped in");
    let (_, plans) = app.get_json("/plans").await;
    assert_eq!(plans["total"], 3);
    assert_eq!(plans["catalog"]["version"], 0);
    for path in ["/changes?since=0", "/plans/B/history"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 503, "{path}");
        assert!(response.headers().contains_key("retry-after"), "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_of(&body).0, "history_unavailable", "{path}");
    }
    let response = app.get("/changes?since=0").await;
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("db-pass-5ecret") && !text.contains("127.0.0.1:1"),
        "{text}"
    );
    let metrics = app.metrics().await;
    assert!(!metrics.contains("db-pass-5ecret"));
    app.stop().await;
}

#[tokio::test]
async fn the_demo_ships_two_versions_with_changes_and_history() {
    let app = spawn_app_with(
        FakeUpstream::start(Reply::Status(500, "unused")).await,
        &["--demo"],
    )
    .await;
    let (_, ready) = app.get_json("/readyz").await;
    assert_eq!(ready["version"], 2);
    let (status, body) = changes(&app, "since=1").await;
    assert_eq!(status, 200);
    let kinds: Vec<String> = summary(&body).into_iter().map(|c| c.2).collect();
    for kind in ["added", "removed", "updated"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let updated = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "updated")
        .unwrap();
    let code = updated["packageCode"].as_str().unwrap();
    let (_, history) = app.get_json(&format!("/plans/{code}/history")).await;
    assert_eq!(history["prices"].as_array().unwrap().len(), 2, "{history}");
    assert_eq!(app.upstream.hits(), 0, "the demo never asks upstream");
    app.stop().await;
}

#[tokio::test]
async fn the_demo_records_its_versions_once_however_often_it_restarts() {
    let dir = tempfile::tempdir().unwrap();
    for (label, url) in backends("demo_restarts", &dir).await {
        if label == "sqlite-memory" {
            continue;
        }
        let db = format!("--database-url={url}");
        let mut seen = Vec::new();
        for _ in 0..3 {
            let app = spawn_app_with(
                FakeUpstream::start(Reply::Status(500, "unused")).await,
                &["--demo", &db],
            )
            .await;
            let (_, ready) = app.get_json("/readyz").await;
            let (status, body) = changes(&app, "since=0").await;
            assert_eq!(status, 200, "{label}");
            seen.push((ready["version"].clone(), summary(&body).len()));
            app.stop().await;
        }
        assert_eq!(seen[0].0, 2, "{label}");
        assert!(seen.iter().all(|s| *s == seen[0]), "{label}: {seen:?}");
    }
}

#[tokio::test]
async fn a_deleted_sqlite_file_is_reopened_and_no_incomplete_change_list_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let db = format!("--database-url=sqlite:{}", path.display());
    let app = spawn_ready(v1(), &[ADMIN_ARG, &db]).await;
    assert_eq!(app.get_json("/readyz").await.1["version"], 1);
    std::fs::remove_file(&path).unwrap();
    app.upstream.set(Reply::Json(v2()));
    assert_eq!(app.refresh().await["outcome"], "ok");
    // Whatever the timing, /changes?since=1 is never a complete-looking
    // answer that leaves version 2's changes out.
    let mut answers = Vec::new();
    for _ in 0..50 {
        let (status, body) = changes(&app, "since=1").await;
        if status == 200 {
            assert!(!summary(&body).is_empty(), "an incomplete answer: {body}");
        }
        answers.push(status);
        if status == 410 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The history before the file was lost is gone: a consumer is told so
    // (410) once the new file holds the catalog, with a number above 1.
    assert_eq!(answers.last(), Some(&410), "{answers:?}");
    assert!(path.exists(), "the file was created again");
    let (_, ready) = app.get_json("/readyz").await;
    assert!(ready["version"].as_u64().unwrap() >= 2, "{ready}");
    app.stop().await;
}

/// The Atom feed's entries as (id, title, updated, link href, content).
fn atom_entries(xml: &str) -> Vec<(String, String, String, String, String)> {
    let feed: atom_syndication::Feed = xml.parse().unwrap_or_else(|e| panic!("{e}: {xml}"));
    feed.entries()
        .iter()
        .map(|e| {
            (
                e.id().to_owned(),
                e.title().as_str().to_owned(),
                e.updated().to_rfc3339(),
                e.links()[0].href().to_owned(),
                e.content()
                    .and_then(|c| c.value())
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_atom_feed_has_one_entry_per_version_newest_first_filtered_by_country() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, url) in backends("atom", &dir).await {
        let db = format!("--database-url={url}");
        let app = spawn_ready(
            v1(),
            &[ADMIN_ARG, &db, "--public-url=https://plans.example"],
        )
        .await;
        app.wait_for(|a| a.store.catalog().is_some_and(|c| c.version() == 1))
            .await;
        app.upstream.set(Reply::Json(v2()));
        app.refresh().await;
        app.upstream.set(Reply::Json(v3()));
        app.refresh().await;

        let response = app.get("/changes.atom?ref=acme-01").await;
        assert_eq!(response.status(), 200, "{backend}");
        assert_eq!(
            response.headers()["content-type"],
            "application/atom+xml",
            "{backend}"
        );
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with("W/\""), "{etag}");
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("stale-while-revalidate=60")
        );
        let entries = atom_entries(&response.text().await.unwrap());
        let titles: Vec<&str> = entries.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Catalog version 3: 0 added, 0 removed, 2 updated",
                "Catalog version 2: 1 added, 1 removed, 1 updated",
                "Catalog version 1: 0 added, 0 removed, 0 updated",
            ],
            "{backend}"
        );
        assert_eq!(entries[0].0, "urn:cmg-feed-proxy:version:3");
        assert_eq!(entries[0].3, "https://plans.example/changes?since=2");
        assert_eq!(entries[2].3, "https://plans.example/changes?since=0");
        // Plan links carry the ref; a removed plan has no link.
        assert!(
            entries[1]
                .4
                .contains("https://www.connectmeguru.com/esim/d?ref=acme-01"),
            "{}",
            entries[1].4
        );
        assert!(!entries[1].4.contains("esim/c"), "{}", entries[1].4);

        // Only versions that changed a plan covering Spain, counting those.
        let (_, body) = (
            200,
            app.get("/changes.atom?country=es")
                .await
                .text()
                .await
                .unwrap(),
        );
        let titles: Vec<String> = atom_entries(&body).into_iter().map(|e| e.1).collect();
        assert_eq!(
            titles,
            ["Catalog version 2: 1 added, 0 removed, 0 updated"],
            "{backend}"
        );
        let body = app
            .get("/changes.atom?country=DE,ES")
            .await
            .text()
            .await
            .unwrap();
        assert!(atom_entries(&body).is_empty(), "no plan covers both");

        // The same feed again is a 304.
        let response = app
            .get_with("/changes.atom?ref=acme-01", "if-none-match", &etag)
            .await;
        assert_eq!(response.status(), 304, "{backend}");
        let (status, body) = app.get_json("/changes.atom?since=1").await;
        assert_eq!(
            (status, error_of(&body).0.as_str()),
            (400, "unknown_parameter")
        );
        let (status, body) = app.get_json("/changes.atom?country=Germany").await;
        assert_eq!(
            (status, error_of(&body).1.as_deref()),
            (400, Some("country"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_atom_entry_counts_every_change_and_lists_the_first_hundred() {
    let repriced = |bump: f64| {
        let plans: Vec<Value> = (0..150)
            .map(|i| plan(&format!("P{i:04}"), &["DE"], 1.0, 30, 5.0 + i as f64 + bump))
            .collect();
        feed(&plans)
    };
    let app = spawn_ready(repriced(0.0), &[ADMIN_ARG]).await;
    app.wait_for(|a| a.store.catalog().is_some_and(|c| c.version() == 1))
        .await;
    app.upstream.set(Reply::Json(repriced(1.0)));
    app.refresh().await;
    let body = app.get("/changes.atom").await.text().await.unwrap();
    let entries = atom_entries(&body);
    assert_eq!(
        entries[0].1,
        "Catalog version 2: 0 added, 0 removed, 150 updated"
    );
    assert_eq!(entries[0].4.matches("<li>").count(), 100);
    assert!(entries[0].4.contains("and 50 more"), "{}", entries[0].4);
    app.stop().await;
}
