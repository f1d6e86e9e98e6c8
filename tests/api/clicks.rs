//! `/go` links, click records and click reports (SPEC section 10), on real
//! sockets and real databases (SQLite files always; PostgreSQL when
//! `TEST_DATABASE_URL` names a server).

use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::*;

const ACME_TOKEN: &str = "acme-report-token-1";
const GLOBEX_TOKEN: &str = "globex-report-token-2";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn sha256_hex(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// acme and globex with report tokens (acme's in upper case), initech without.
fn partners_toml() -> String {
    format!(
        r#"
[[partner]]
id = "acme"
ref = "acme-01"
origins = ["https://shop.acme.example"]
token_sha256 = "{}"

[[partner]]
id = "globex"
ref = "globex"
token_sha256 = "{}"

[[partner]]
id = "initech"
ref = "initech"
"#,
        sha256_hex(ACME_TOKEN).to_uppercase(),
        sha256_hex(GLOBEX_TOKEN)
    )
}

/// A: Germany; B: Germany and France; C: Italy, with its own query string.
fn fixture() -> Vec<u8> {
    let mut plans = vec![
        plan("A", &["DE"], 1.0, 7, 1.0),
        plan("B", &["DE", "FR"], 2.0, 7, 2.0),
        plan("C", &["IT"], 3.0, 7, 3.0),
    ];
    plans[2]["productUrl"] =
        json!("https://www.connectmeguru.com/esim/c?utm_source=feed&ref=upstream#buy");
    feed(&plans)
}

struct Clicks {
    app: TestApp,
    dir: tempfile::TempDir,
}

impl Clicks {
    fn database(&self) -> std::path::PathBuf {
        self.dir.path().join("clicks.db")
    }
}

async fn start(database_url: Option<String>, extra: &[&str]) -> Clicks {
    let dir = tempfile::tempdir().unwrap();
    let partners = dir.path().join("partners.toml");
    std::fs::write(&partners, partners_toml()).unwrap();
    let url = database_url
        .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("clicks.db").display()));
    let mut args = vec![
        format!("--partners-file={}", partners.display()),
        format!("--database-url={url}"),
        ADMIN_ARG.to_owned(),
        "--trust-forwarded-for=true".to_owned(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_ready(fixture(), &args).await;
    Clicks { app, dir }
}

/// One click as a browser at `ip` with `agent` would make it.
async fn click(app: &TestApp, path: &str, ip: &str, agent: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .send()
        .await
        .unwrap()
}

async fn report(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the admin report's total (bots included) reaches `clicks`.
async fn wait_for_clicks(app: &TestApp, clicks: u64) {
    for _ in 0..200 {
        let (status, body) = report(app, ADMIN, "/admin/clicks?bots=true").await;
        if status == 200 && body["total"]["clicks"] == json!(clicks) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, body) = report(app, ADMIN, "/admin/clicks?bots=true").await;
    panic!("expected {clicks} clicks stored: {body}");
}

fn rows(body: &Value) -> Vec<(Option<String>, u64, u64)> {
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {body}"))
        .iter()
        .map(|r| {
            (
                r["key"].as_str().map(str::to_owned),
                r["clicks"].as_u64().unwrap(),
                r["visitors"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn row(key: Option<&str>, clicks: u64, visitors: u64) -> (Option<String>, u64, u64) {
    (key.map(str::to_owned), clicks, visitors)
}

fn today() -> String {
    humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_owned()
}

#[tokio::test]
async fn go_redirects_to_the_plans_own_product_url_with_the_ref() {
    let Clicks { app, dir: _dir } = start(None, &[]).await;
    for (path, location) in [
        (
            "/go/A?ref=acme-01",
            "https://www.connectmeguru.com/esim/a?ref=acme-01",
        ),
        ("/go/A", "https://www.connectmeguru.com/esim/a"),
        (
            "/go/C?ref=globex&gclid=abc&fbclid=x&msclkid=1&key=sk_guess&subid=home",
            "https://www.connectmeguru.com/esim/c?utm_source=feed&ref=globex#buy",
        ),
        // The upstream's own ref is removed when the click carries none.
        (
            "/go/C",
            "https://www.connectmeguru.com/esim/c?utm_source=feed#buy",
        ),
        // A URL in the query is never where it goes.
        (
            "/go/A?ref=acme-01&url=https://evil.example&redirect=https://evil.example",
            "https://www.connectmeguru.com/esim/a?ref=acme-01",
        ),
    ] {
        let response = click(&app, path, "203.0.113.1", BROWSER).await;
        assert_eq!(response.status(), 302, "{path}");
        assert_eq!(response.headers()["location"], location, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    // A partner's Origin is not a ref: navigations carry none.
    let response = app
        .get_with("/go/A", "origin", "https://shop.acme.example")
        .await;
    assert_eq!(
        response.headers()["location"],
        "https://www.connectmeguru.com/esim/a"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_sub_id_still_redirects_and_is_counted() {
    let Clicks { app, dir: _dir } = start(None, &[]).await;
    let response = click(
        &app,
        "/go/A?ref=acme-01&subid=ok&subid2=has%20space&utm_source=%3Cscript%3E&subid3=",
        "203.0.113.1",
        BROWSER,
    )
    .await;
    assert_eq!(response.status(), 302);
    let metrics = app.metrics().await;
    assert!(metrics.contains("cmg_clicks_invalid_total 3"), "{metrics}");
    wait_for_clicks(&app, 1).await;
    let (_, body) = report(&app, ADMIN, "/admin/clicks?group_by=subid2").await;
    assert_eq!(rows(&body), [row(None, 1, 1)]);
    let (_, body) = report(&app, ADMIN, "/admin/clicks?group_by=subid").await;
    assert_eq!(rows(&body), [row(Some("ok"), 1, 1)]);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_or_unknown_ref_is_a_400_and_an_unknown_plan_a_404() {
    let Clicks { app, dir: _dir } = start(None, &[]).await;
    for (path, code) in [
        ("/go/A?ref=-bad", "invalid_parameter"),
        ("/go/A?ref=a%20b", "invalid_parameter"),
        ("/go/A?ref=acme-01&ref=globex", "invalid_parameter"),
        ("/go/A?ref=nobody", "unknown_ref"),
    ] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 400, "{path}");
        let (error, parameter) = error_of(&body);
        assert_eq!(error, code, "{path}");
        if code == "invalid_parameter" {
            assert_eq!(parameter.as_deref(), Some("ref"));
        }
    }
    let (status, body) = app.get_json("/go/NOPE?ref=acme-01").await;
    assert_eq!((status, error_of(&body).0.as_str()), (404, "not_found"));
    let response = app
        .get_with(
            "/go/%3Cb%3ENOPE?ref=acme-01",
            "accept",
            "text/html,application/xhtml+xml,*/*;q=0.8",
        )
        .await;
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(
        page.contains("&lt;b&gt;NOPE") && !page.contains("<b>NOPE"),
        "{page}"
    );
    // None of these is a click.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (_, body) = report(&app, ADMIN, "/admin/clicks?bots=true").await;
    assert_eq!(body["total"]["clicks"], 0);
    app.stop().await;
}

/// Six visitor clicks, one bot click and one prefetch, across partners,
/// plans and sub-IDs.
async fn known_clicks(app: &TestApp) {
    for (path, ip, agent) in [
        ("/go/A?ref=acme-01&subid=home", "203.0.113.1", BROWSER),
        ("/go/A?ref=acme-01&subid=home", "203.0.113.1", BROWSER),
        (
            "/go/B?ref=acme-01&subid=sidebar&utm_source=news&utm_campaign=spring",
            "203.0.113.2",
            BROWSER,
        ),
        ("/go/B?ref=acme-01", "203.0.113.3", BROWSER),
        ("/go/C?ref=globex&subid=home", "203.0.113.1", BROWSER),
        ("/go/A", "203.0.113.4", BROWSER),
        (
            "/go/A?ref=acme-01&subid=home",
            "203.0.113.5",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        ),
    ] {
        assert_eq!(click(app, path, ip, agent).await.status(), 302);
    }
    let prefetch = app
        .client
        .get(format!("{}/go/A?ref=acme-01", app.address))
        .header("x-forwarded-for", "203.0.113.6")
        .header("user-agent", BROWSER)
        .header("sec-purpose", "prefetch;prerender")
        .send()
        .await
        .unwrap();
    assert_eq!(prefetch.status(), 302);
    wait_for_clicks(app, 8).await;
}

async fn reports_are_exact_on(app: &TestApp) {
    known_clicks(app).await;
    let day = today();
    let (status, body) = report(app, ADMIN, "/admin/clicks").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["groupBy"], "day");
    assert_eq!(body["to"], json!(day));
    assert_eq!(rows(&body), [row(Some(&day), 6, 4)]);
    assert_eq!(body["total"], json!({"clicks": 6, "visitors": 4}));

    let (_, body) = report(app, ADMIN, "/admin/clicks?bots=true").await;
    assert_eq!(body["total"], json!({"clicks": 8, "visitors": 6}));

    let (_, body) = report(app, ADMIN, "/admin/clicks?group_by=packageCode").await;
    assert_eq!(
        rows(&body),
        [
            row(Some("A"), 3, 2),
            row(Some("B"), 2, 2),
            row(Some("C"), 1, 1)
        ]
    );
    // B covers DE and FR: counted in each, once in the total.
    let (_, body) = report(app, ADMIN, "/admin/clicks?group_by=country").await;
    assert_eq!(
        rows(&body),
        [
            row(Some("DE"), 5, 4),
            row(Some("FR"), 2, 2),
            row(Some("IT"), 1, 1)
        ]
    );
    assert_eq!(body["total"]["clicks"], 6);
    let (_, body) = report(app, ADMIN, "/admin/clicks?group_by=subid").await;
    assert_eq!(
        rows(&body),
        [
            row(Some("home"), 3, 1),
            row(None, 2, 2),
            row(Some("sidebar"), 1, 1)
        ]
    );
    let (_, body) = report(app, ADMIN, "/admin/clicks?group_by=utm_campaign").await;
    assert_eq!(rows(&body), [row(None, 5, 3), row(Some("spring"), 1, 1)]);
    let (_, body) = report(app, ADMIN, "/admin/clicks?group_by=partner").await;
    assert_eq!(
        rows(&body),
        [
            row(Some("acme"), 4, 3),
            row(Some("globex"), 1, 1),
            row(None, 1, 1)
        ]
    );
    let (_, body) = report(
        app,
        ADMIN,
        "/admin/clicks?partner=globex&group_by=packageCode",
    )
    .await;
    assert_eq!(rows(&body), [row(Some("C"), 1, 1)]);

    // Date bounds are inclusive; other days have no rows.
    let (_, body) = report(app, ADMIN, &format!("/admin/clicks?from={day}&to={day}")).await;
    assert_eq!(body["total"]["clicks"], 6);
    let (_, body) = report(app, ADMIN, "/admin/clicks?from=2099-01-01&to=2099-01-31").await;
    assert_eq!(
        (rows(&body), &body["total"]),
        (vec![], &json!({"clicks": 0, "visitors": 0}))
    );

    // CSV holds the same rows as JSON.
    for group_by in ["day", "packageCode", "country", "subid", "partner"] {
        let path = format!("/admin/clicks?group_by={group_by}");
        let (_, json_body) = report(app, ADMIN, &path).await;
        let response = app
            .client
            .get(format!("{}{path}&format=csv", app.address))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap(), vec!["key", "clicks", "visitors"]);
        let from_csv: Vec<_> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (
                    Some(r[0].to_owned()).filter(|k| !k.is_empty()),
                    r[1].parse().unwrap(),
                    r[2].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(from_csv, rows(&json_body), "{group_by}");
    }
}

#[tokio::test]
async fn reports_are_exact_over_a_known_set_of_clicks_on_sqlite() {
    let clicks = start(None, &[]).await;
    reports_are_exact_on(&clicks.app).await;
    clicks.app.stop().await;
}

#[tokio::test]
async fn reports_are_exact_over_a_known_set_of_clicks_on_postgres() {
    let Some(url) = crate::history::postgres_url("clicks_report").await else {
        return;
    };
    let clicks = start(Some(url), &[]).await;
    reports_are_exact_on(&clicks.app).await;
    clicks.app.stop().await;
}

#[tokio::test]
async fn a_partner_sees_only_its_own_clicks_with_its_own_token() {
    let Clicks { app, dir: _dir } = start(None, &[]).await;
    known_clicks(&app).await;
    let (status, body) = report(&app, ACME_TOKEN, "/partner/clicks?group_by=packageCode").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rows(&body), [row(Some("A"), 2, 1), row(Some("B"), 2, 2)]);
    let (_, body) = report(&app, GLOBEX_TOKEN, "/partner/clicks?group_by=packageCode").await;
    assert_eq!(rows(&body), [row(Some("C"), 1, 1)]);
    // Wrong, missing or another party's tokens are 401; initech has none.
    for token in ["wrong-token", "", ADMIN, &sha256_hex(ACME_TOKEN)] {
        let (status, body) = report(&app, token, "/partner/clicks").await;
        assert_eq!(
            (status, error_of(&body).0.as_str()),
            (401, "unauthorized"),
            "{token:?}"
        );
    }
    let (status, _) = app.get_json("/partner/clicks").await;
    assert_eq!(status, 401);
    // A partner cannot widen its report to others.
    let (status, body) = report(&app, ACME_TOKEN, "/partner/clicks?partner=globex").await;
    assert_eq!(
        (status, error_of(&body).0.as_str()),
        (400, "unknown_parameter")
    );
    let (status, body) = report(&app, ACME_TOKEN, "/partner/clicks?group_by=partner").await;
    assert_eq!(
        (status, error_of(&body).1.as_deref()),
        (400, Some("group_by"))
    );
    // The admin report needs the admin token.
    let (status, _) = report(&app, ACME_TOKEN, "/admin/clicks").await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[tokio::test]
async fn report_parameters_are_checked() {
    let Clicks { app, dir: _dir } = start(None, &[]).await;
    for (query, parameter) in [
        ("from=2026-02-30", "from"),
        ("to=tomorrow", "to"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("from=2025-01-01&to=2026-12-01", "from"),
        ("group_by=utm_medium", "group_by"),
        ("bots=yes", "bots"),
        ("format=xml", "format"),
        ("partner=no%20such", "partner"),
    ] {
        let (status, body) = report(&app, ADMIN, &format!("/admin/clicks?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            error_of(&body),
            ("invalid_parameter".into(), Some(parameter.into())),
            "{query}"
        );
    }
    let (status, body) = report(&app, ADMIN, "/admin/clicks?limit=5").await;
    assert_eq!(
        (status, error_of(&body).0.as_str()),
        (400, "unknown_parameter")
    );
    app.stop().await;
}

#[tokio::test]
async fn no_address_or_user_agent_is_stored() {
    let clicks = start(None, &[]).await;
    let agent = "Mozilla/5.0 UniqueAgentMarker/9.9";
    let ip = "198.51.100.213";
    click(&clicks.app, "/go/A?ref=acme-01", ip, agent).await;
    wait_for_clicks(&clicks.app, 1).await;
    let path = clicks.database();
    clicks.app.stop().await;
    let mut stored = std::fs::read(&path).unwrap();
    for extra in ["-wal", "-shm"] {
        stored.extend(std::fs::read(format!("{}{extra}", path.display())).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&stored);
    assert!(text.contains("acme-01"), "the click is in the file");
    for secret in [ip, "UniqueAgentMarker", &ip.replace('.', "")] {
        assert!(!text.contains(secret), "{secret} is stored");
    }
    assert!(
        !stored.windows(4).any(|w| w == [198, 51, 100, 213]),
        "the address's bytes are stored"
    );
}

#[tokio::test]
async fn clicks_made_while_the_database_is_locked_are_written_once_it_is_free() {
    use sqlx::Connection;
    let clicks = start(None, &[]).await;
    let app = &clicks.app;
    // Another process holds the write lock: every write fails with
    // SQLITE_BUSY after the busy timeout, as with a database that is down.
    let mut holder =
        sqlx::SqliteConnection::connect(&format!("sqlite:{}", clicks.database().display()))
            .await
            .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    for i in 0..20 {
        let response = click(
            app,
            &format!("/go/A?ref=acme-01&subid=n{i}"),
            "203.0.113.1",
            BROWSER,
        )
        .await;
        assert_eq!(response.status(), 302);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the redirect waited on the database"
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let metrics = app.metrics().await;
    assert!(metrics.contains("cmg_click_buffer_depth 20"), "{metrics}");
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    drop(holder);
    wait_for_clicks(app, 20).await;
    assert!(app.metrics().await.contains("cmg_click_buffer_depth 0"));
    clicks.app.stop().await;
}

#[tokio::test]
async fn stopping_writes_every_buffered_click() {
    let clicks = start(None, &[]).await;
    let requests: Vec<_> = (0..300)
        .map(|i| {
            let request = clicks
                .app
                .client
                .get(format!("{}/go/B?ref=globex&subid=s{i}", clicks.app.address))
                .header("user-agent", BROWSER)
                .send();
            async move { request.await.unwrap() }
        })
        .collect();
    let responses = crate::sync::futures_join(requests).await;
    assert!(responses.iter().all(|r| r.status() == 302));
    let path = clicks.database();
    // Stop at once: the flusher has not run for most of them yet.
    clicks.app.stop().await;
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clicks")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 300);
    let (countries,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM click_countries")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(countries, 600, "B covers two countries");
}

#[tokio::test]
async fn two_replicas_on_one_postgres_count_into_one_report() {
    let Some(url) = crate::history::postgres_url("clicks_replicas").await else {
        return;
    };
    let one = start(Some(url.clone()), &[]).await;
    let two = start(Some(url), &[]).await;
    // The same visitor on both replicas: one visitor, two clicks.
    click(&one.app, "/go/A?ref=acme-01", "203.0.113.7", BROWSER).await;
    click(&two.app, "/go/B?ref=acme-01", "203.0.113.7", BROWSER).await;
    click(&two.app, "/go/C?ref=globex", "203.0.113.8", BROWSER).await;
    wait_for_clicks(&one.app, 3).await;
    for app in [&one.app, &two.app] {
        let (_, body) = report(app, ADMIN, "/admin/clicks").await;
        assert_eq!(body["total"], json!({"clicks": 3, "visitors": 2}));
        let (_, body) = report(app, ACME_TOKEN, "/partner/clicks").await;
        assert_eq!(body["total"], json!({"clicks": 2, "visitors": 1}));
    }
    one.app.stop().await;
    two.app.stop().await;
}

#[tokio::test]
async fn plans_carry_a_click_url_under_public_url() {
    let Clicks { app, dir: _dir } =
        start(None, &["--public-url=https://plans.acme.example/"]).await;
    let (_, body) = app.get_json("/plans?ref=acme-01&sort=name").await;
    assert_eq!(
        body["plans"][0]["clickUrl"],
        "https://plans.acme.example/go/A?ref=acme-01"
    );
    let (_, body) = app.get_json("/plans/C").await;
    assert_eq!(body["clickUrl"], "https://plans.acme.example/go/C");
    let (_, body) = app.get_json("/trips?stops=IT:3").await;
    assert_eq!(
        body["options"][0]["legs"][0]["plan"]["clickUrl"],
        "https://plans.acme.example/go/C"
    );
    // From a partner's Origin, the clickUrl carries that partner's ref...
    let response = app
        .get_with("/plans/A", "origin", "https://shop.acme.example")
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["clickUrl"],
        "https://plans.acme.example/go/A?ref=acme-01"
    );
    // ...and the mirror keeps the upstream shape.
    let (_, body) = app.get_json("/api/products/aggregator").await;
    assert!(body["plans"][0].get("clickUrl").is_none());
    app.stop().await;

    let Clicks { app, dir: _dir } = start(None, &[]).await;
    let (_, body) = app.get_json("/plans/A?ref=acme-01").await;
    assert!(
        body.get("clickUrl").is_none(),
        "no clickUrl without PUBLIC_URL"
    );
    app.stop().await;
}
