//! Signed webhooks from the outbox (SPEC section 11), sent to a real local
//! receiver and verified with the official `standardwebhooks` crate.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::history::{v1, v2, v3};

const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkhIQ==";

/// One request the receiver got: headers, body and path.
type Received = (axum::http::HeaderMap, Vec<u8>, String);
/// A status to answer, with a `Retry-After`.
type Answer = (u16, Option<&'static str>);

/// What the receiver got: headers and body of each request.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in order; 200 once empty.
    answers: Arc<Mutex<VecDeque<Answer>>>,
    url: String,
}

impl Receiver {
    async fn start() -> Self {
        let receiver = Self::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/{path}",
            axum::routing::post(
                move |axum::extract::Path(path): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let state = state.clone();
                    async move {
                        state
                            .got
                            .lock()
                            .unwrap()
                            .push((headers, body.to_vec(), path));
                        let (status, retry_after) = state
                            .answers
                            .lock()
                            .unwrap()
                            .pop_front()
                            .unwrap_or((200, None));
                        let mut response = axum::http::Response::builder().status(status);
                        if let Some(after) = retry_after {
                            response = response.header("retry-after", after);
                        }
                        if status == 302 {
                            response = response.header("location", "/elsewhere");
                        }
                        response.body(axum::body::Body::from("ok")).unwrap()
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            ..receiver
        }
    }

    fn got(&self, path: &str) -> Vec<(axum::http::HeaderMap, Value)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, p)| p == path)
            .map(|(h, b, _)| (h.clone(), serde_json::from_slice(b).unwrap()))
            .collect()
    }

    /// Every request to `path` verifies with `secret`.
    fn verify(&self, path: &str, secret: &str) {
        let webhook = standardwebhooks::Webhook::new(secret).unwrap();
        for (headers, body, p) in self.got.lock().unwrap().iter() {
            if p == path {
                webhook
                    .verify(body, headers)
                    .unwrap_or_else(|e| panic!("signature of {path}: {e:?}"));
            }
        }
    }
}

async fn start(
    receiver: &Receiver,
    partners: String,
    extra: &[&str],
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.toml");
    std::fs::write(&path, partners).unwrap();
    let _ = receiver;
    let mut args = vec![
        format!("--partners-file={}", path.display()),
        format!(
            "--database-url=sqlite:{}",
            dir.path().join("h.db").display()
        ),
        ADMIN_ARG.to_owned(),
        "--public-url=https://plans.example".to_owned(),
        "--webhook-retry-schedule=300ms,300ms,300ms".to_owned(),
        "--webhook-timeout=2s".to_owned(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let app = spawn_ready(v1(), &args).await;
    app.wait_for(|a| a.store.catalog().is_some_and(|c| c.version() == 1))
        .await;
    (app, dir)
}

async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not reached in 10 s");
}

/// `/admin/webhooks` once `ready` holds (within 10 s).
async fn listed_when(app: &TestApp, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let listed = admin_webhooks(app).await;
        if ready(&listed) {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not listed in 10 s: {}", admin_webhooks(app).await);
}

async fn admin_webhooks(app: &TestApp) -> Value {
    app.client
        .get(format!("{}/admin/webhooks", app.address))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_version_sends_exactly_its_events_signed_by_the_standard() {
    let receiver = Receiver::start().await;
    let partners = format!(
        r#"
[[partner]]
id = "acme"
ref = "acme-01"
[[partner.webhook]]
url = "{url}/acme"
secret = "{SECRET_A}"
events = ["catalog.updated", "plan.added", "plan.price_dropped"]

[[partner]]
id = "globex"
ref = "globex"
[[partner.webhook]]
url = "{url}/globex"
secret = "{SECRET_B}"
events = ["plan.price_dropped", "catalog.updated"]
countries = ["FR"]
min_drop_percent = 30
[[partner.webhook]]
url = "{url}/globex-fr"
secret = "{SECRET_B}"
events = ["plan.price_dropped"]
countries = ["fr"]
min_drop_percent = 20
"#,
        url = receiver.url
    );
    let (app, _dir) = start(&receiver, partners, &["--webhook-allow-private"]).await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    app.upstream.set(Reply::Json(v3()));
    app.refresh().await;
    wait_until(|| receiver.got("acme").len() == 4).await;
    wait_until(|| receiver.got("globex-fr").len() == 1).await;
    wait_until(|| receiver.got("globex").len() == 2).await;
    tokio::time::sleep(Duration::from_millis(800)).await;

    let acme: Vec<Value> = receiver.got("acme").into_iter().map(|(_, b)| b).collect();
    let types: Vec<&str> = acme.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "catalog.updated").count(),
        2,
        "{acme:?}"
    );
    let updated: Vec<&Value> = acme
        .iter()
        .filter(|b| b["type"] == "catalog.updated")
        .map(|b| &b["data"])
        .collect();
    assert!(updated.contains(&&json!({"version": 2, "previous": 1, "added": 1, "removed": 1, "updated": 1, "changesUrl": "https://plans.example/changes?since=1"})), "{updated:?}");
    assert!(updated.contains(&&json!({"version": 3, "previous": 2, "added": 0, "removed": 0, "updated": 2, "changesUrl": "https://plans.example/changes?since=2"})), "{updated:?}");
    let added = acme.iter().find(|b| b["type"] == "plan.added").unwrap();
    assert_eq!(added["data"]["packageCode"], "D");
    assert_eq!(
        added["data"]["plan"]["productUrl"],
        "https://www.connectmeguru.com/esim/d?ref=acme-01"
    );
    assert_eq!(added["data"]["plan"]["pricePerGb"], 3.0);
    let dropped = acme
        .iter()
        .find(|b| b["type"] == "plan.price_dropped")
        .unwrap();
    assert_eq!(
        (
            &dropped["data"]["packageCode"],
            &dropped["data"]["before"],
            &dropped["data"]["after"],
            &dropped["data"]["lowestPrice30d"]
        ),
        (&json!("B"), &json!(6.0), &json!(4.5), &json!(4.5))
    );
    assert!(
        acme.iter()
            .all(|b| b["timestamp"].as_str().unwrap().ends_with('Z'))
    );

    // globex-fr: B's 25% drop passes 20%; globex: not 30%, and only the FR
    // counts in its catalog.updated messages.
    let fr = receiver.got("globex-fr");
    assert_eq!(
        fr[0].1["data"]["plan"]["productUrl"],
        "https://www.connectmeguru.com/esim/b?ref=globex"
    );
    let globex: Vec<Value> = receiver
        .got("globex")
        .into_iter()
        .map(|(_, b)| b["data"].clone())
        .collect();
    assert_eq!(
        globex,
        [
            json!({"version": 2, "previous": 1, "added": 0, "removed": 0, "updated": 1, "changesUrl": "https://plans.example/changes?since=1"}),
            json!({"version": 3, "previous": 2, "added": 0, "removed": 0, "updated": 1, "changesUrl": "https://plans.example/changes?since=2"}),
        ]
    );

    receiver.verify("acme", SECRET_A);
    receiver.verify("globex", SECRET_B);
    receiver.verify("globex-fr", SECRET_B);
    let ids: std::collections::HashSet<String> = receiver
        .got("acme")
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 4, "one id per message");

    let listed = listed_when(&app, |l| {
        l["endpoints"]
            .as_array()
            .is_some_and(|e| e.iter().all(|e| e["counts"]["pending"] == 0))
    })
    .await;
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(
        listed["endpoints"][0]["counts"],
        json!({"pending": 0, "delivered": 4, "failed": 0})
    );
    assert_eq!(
        listed["endpoints"][0]["url"],
        format!("{}/acme", receiver.url)
    );
    assert!(
        !listed.to_string().contains("whsec_"),
        "no secret in answers"
    );
    assert!(!app.metrics().await.contains("whsec_"));
    assert!(
        app.metrics()
            .await
            .contains("cmg_webhook_attempts_total{outcome=\"delivered\"} 7")
    );
    app.stop().await;
}

fn one_endpoint(receiver: &Receiver, path: &str) -> String {
    format!(
        r#"
[[partner]]
id = "acme"
ref = "acme-01"
[[partner.webhook]]
url = "{}/{path}"
secret = "{SECRET_A}"
events = ["catalog.updated"]
"#,
        receiver.url
    )
}

#[tokio::test]
async fn failures_are_retried_with_the_same_id_and_410_disables_the_endpoint() {
    let receiver = Receiver::start().await;
    receiver
        .answers
        .lock()
        .unwrap()
        .extend([(500, None), (429, Some("1")), (200, None)]);
    let (app, _dir) = start(
        &receiver,
        one_endpoint(&receiver, "hook"),
        &["--webhook-allow-private"],
    )
    .await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    wait_until(|| receiver.got("hook").len() == 3).await;
    let got = receiver.got("hook");
    let ids: Vec<&str> = got
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    receiver.verify("hook", SECRET_A);
    // The receiver has answered; the sender stores the outcome just after.
    let listed = listed_when(&app, |l| l["messages"][0]["status"] == "delivered").await;
    assert_eq!(listed["messages"][0]["attempts"], 3);
    assert_eq!(listed["messages"][0]["lastStatus"], 200);

    // 410 Gone: failed, the endpoint disabled, nothing more sent to it.
    receiver.answers.lock().unwrap().push_back((410, None));
    app.upstream.set(Reply::Json(v3()));
    app.refresh().await;
    wait_until(|| receiver.got("hook").len() == 4).await;
    let listed = listed_when(&app, |l| l["messages"][0]["status"] == "failed").await;
    assert_eq!(listed["endpoints"][0]["enabled"], false, "{listed}");
    assert_eq!(listed["messages"][0]["status"], "failed", "{listed}");
    assert_eq!(listed["endpoints"][0]["counts"]["failed"], 1);

    // The admin's retry sends it now and answers after the attempt.
    let id = listed["messages"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .post(&format!("/admin/webhooks/{id}/retry"), Some(ADMIN))
        .await;
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.unwrap();
    assert_eq!(
        (message["id"].as_str(), message["status"].as_str()),
        (Some(id.as_str()), Some("failed")),
        "{message}"
    );
    let response = app
        .post("/admin/webhooks/msg_nope/retry", Some(ADMIN))
        .await;
    assert_eq!(response.status(), 404);
    let response = app.post(&format!("/admin/webhooks/{id}/retry"), None).await;
    assert_eq!(response.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn private_addresses_are_refused_without_the_flag() {
    let receiver = Receiver::start().await;
    let port = receiver.url.rsplit(':').next().unwrap().to_owned();
    let partners = format!(
        r#"
[[partner]]
id = "acme"
ref = "acme-01"
[[partner.webhook]]
url = "https://localhost:{port}/hook"
secret = "{SECRET_A}"
events = ["catalog.updated"]
[[partner.webhook]]
url = "https://127.0.0.1:{port}/literal"
secret = "{SECRET_A}"
events = ["catalog.updated"]
"#
    );
    let (app, _dir) = start(&receiver, partners, &[]).await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    let mut refused = false;
    for _ in 0..200 {
        let metrics = app.metrics().await;
        if metrics.contains("cmg_webhook_attempts_total{outcome=\"refused\"} 0") {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        // Both endpoints were attempted and refused (retries may add more).
        refused = ["2", "3", "4", "5", "6"].iter().any(|n| {
            metrics.contains(&format!(
                "cmg_webhook_attempts_total{{outcome=\"refused\"}} {n}\n"
            ))
        });
        if refused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "{}", app.metrics().await);
    assert!(receiver.got("hook").is_empty() && receiver.got("literal").is_empty());
    let listed = admin_webhooks(&app).await;
    assert!(
        listed["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["lastStatus"].is_null())
    );
    app.stop().await;

    // http:// needs the flag too: a start-up error naming PARTNERS_FILE.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partners.toml");
    std::fs::write(&path, one_endpoint(&receiver, "hook")).unwrap();
    let error = cmg_feed_proxy::config::parse_from(vec![
        "cmg-feed-proxy".into(),
        "--demo".into(),
        format!("--partners-file={}", path.display()),
    ]);
    let message = match error {
        Err(cmg_feed_proxy::config::ParseError::Config(e)) => e.to_string(),
        Ok(cmg_feed_proxy::config::Invocation::Serve(cli)) => {
            cli.into_config().unwrap_err().to_string()
        }
        _ => panic!("unexpected"),
    };
    assert!(
        message.contains("PARTNERS_FILE") && message.contains("https://"),
        "{message}"
    );
}

#[test]
fn bad_webhook_tables_are_one_line_errors_naming_the_problem() {
    for (table, expected) in [
        (
            "url = \"ftp://x.example\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"plan.added\"]",
            "https",
        ),
        (
            "url = \"https://x.example\"\nsecret = \"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"plan.added\"]",
            "whsec_",
        ),
        (
            "url = \"https://x.example\"\nsecret = \"whsec_c2hvcnQ=\"\nevents = [\"plan.added\"]",
            "24",
        ),
        (
            "url = \"https://x.example\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"plan.removed\"]",
            "unknown event",
        ),
    ] {
        let text = format!("[[partner]]\nid = \"a\"\nref = \"a\"\n[[partner.webhook]]\n{table}\n");
        let error = cmg_feed_proxy::referral::PartnerRegistry::from_toml(&text)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(expected) && error.contains("webhook #1"),
            "{error}"
        );
        assert!(
            !error.contains('\n') && !error.contains("MfKQ9r8"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn two_replicas_on_one_postgres_send_each_message_once() {
    let Some(url) = crate::history::postgres_url("webhook_replicas").await else {
        return;
    };
    let receiver = Receiver::start().await;
    let partners = one_endpoint(&receiver, "hook").replace(
        "events = [\"catalog.updated\"]",
        "events = [\"catalog.updated\", \"plan.added\", \"plan.price_dropped\"]",
    );
    let db = format!("--database-url={url}");
    // Both replicas sync for themselves (SYNC_LEADER=always): the worst case
    // for duplicate messages.
    let flags = ["--webhook-allow-private", &db, "--sync-leader=always"];
    let (one, _d1) = start(&receiver, partners.clone(), &flags).await;
    let (two, _d2) = start(&receiver, partners, &flags).await;
    // Both replicas see v2 and v3; each version's messages are made once.
    for app in [&one, &two] {
        app.upstream.set(Reply::Json(v2()));
        app.refresh().await;
    }
    for app in [&one, &two] {
        app.upstream.set(Reply::Json(v3()));
        app.refresh().await;
    }
    // v2: catalog.updated, plan.added D, plan.price_dropped B; v3: catalog.updated.
    wait_until(|| receiver.got("hook").len() >= 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receiver.got("hook");
    let ids: std::collections::HashSet<String> = got
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!((got.len(), ids.len()), (4, 4), "each message sent once");
    receiver.verify("hook", SECRET_A);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_gets_the_same_message_again() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // First request: never answered. Second: 200. Both ids recorded.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = ids.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]).to_lowercase();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("webhook-id:"))
                .unwrap_or("")
                .trim()
                .to_owned();
            let first = {
                let mut ids = seen.lock().unwrap();
                ids.push(id);
                ids.len() == 1
            };
            if first {
                held.push(socket);
            } else {
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        }
    });
    let receiver = Receiver {
        url: format!("http://127.0.0.1:{port}"),
        ..Receiver::default()
    };
    let (app, _dir) = start(
        &receiver,
        one_endpoint(&receiver, "hook"),
        &["--webhook-allow-private", "--webhook-timeout=1s"],
    )
    .await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    wait_until(|| ids.lock().unwrap().len() >= 2).await;
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids[0], ids[1], "the same webhook-id after a timeout");
    let listed = listed_when(&app, |l| l["messages"][0]["status"] == "delivered").await;
    assert_eq!(listed["messages"][0]["attempts"], 2, "{listed}");
    app.stop().await;
}

#[tokio::test]
async fn redirects_are_not_followed_and_a_later_retry_after_is_honoured() {
    let receiver = Receiver::start().await;
    // 302 to another path (never followed), then 429 asking for 2 s, then 200.
    receiver
        .answers
        .lock()
        .unwrap()
        .extend([(302, None), (429, Some("2")), (200, None)]);
    let (app, _dir) = start(
        &receiver,
        one_endpoint(&receiver, "hook"),
        &["--webhook-allow-private"],
    )
    .await;
    app.upstream.set(Reply::Json(v2()));
    app.refresh().await;
    wait_until(|| receiver.got("hook").len() == 2).await;
    let second = std::time::Instant::now();
    wait_until(|| receiver.got("hook").len() == 3).await;
    let waited = second.elapsed();
    assert!(
        waited >= Duration::from_millis(1700),
        "Retry-After: 2 honoured over the 300 ms schedule: {waited:?}"
    );
    assert!(receiver.got("elsewhere").is_empty());
    listed_when(&app, |l| l["messages"][0]["status"] == "delivered").await;
    app.stop().await;
}

#[tokio::test]
async fn a_message_id_that_is_not_utf8_is_a_json_404() {
    let app = spawn_ready(simple_feed(1), &[ADMIN_ARG]).await;
    let response = app.post("/admin/webhooks/%FF%FE/retry", Some(ADMIN)).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_of(&body).0, "not_found");
    app.stop().await;
}
