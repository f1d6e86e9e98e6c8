//! The real binary: start-up errors, `--help`, `healthcheck`, SIGTERM, and the
//! key never reaching a log line at trace level across every failure mode.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_cmg-feed-proxy");

fn command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

fn healthcheck(addr: &str) -> bool {
    run(command().arg("healthcheck").env("LISTEN_ADDR", addr))
        .status
        .success()
}

fn wait_healthy(addr: &str, child: &mut Child) {
    let started = Instant::now();
    while !healthcheck(addr) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited early"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not ready in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a signal (`TERM`, `INT`, `HUP`) to the child.
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn terminate(child: &Child) {
    signal(child, "TERM");
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits, off the async runtime, until the child is ready.
async fn ready(mut child: Child, addr: &str) -> Child {
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || {
        wait_healthy(&addr, &mut child);
        child
    })
    .await
    .unwrap()
}

/// Waits, off the async runtime, until the child exits.
async fn exit_code(mut child: Child) -> Option<i32> {
    tokio::task::spawn_blocking(move || wait_exit(&mut child).code())
        .await
        .unwrap()
}

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "CMG_API_KEY"),
        (
            &[("CMG_API_KEY", "k"), ("REFRESH_INTERVAL", "often")],
            "REFRESH_INTERVAL",
        ),
        (
            &[("CMG_API_KEY", "k"), ("UPSTREAM_TIMEOUT", "-1")],
            "UPSTREAM_TIMEOUT",
        ),
        (
            &[("CMG_API_KEY", "k"), ("UPSTREAM_MAX_BYTES", "big")],
            "UPSTREAM_MAX_BYTES",
        ),
        (
            &[("CMG_API_KEY", "k"), ("LISTEN_ADDR", "here")],
            "LISTEN_ADDR",
        ),
        (
            &[("CMG_API_KEY_FILE", "/nonexistent/key")],
            "CMG_API_KEY_FILE",
        ),
        (
            &[
                ("CMG_API_KEY", "k"),
                ("PARTNERS_FILE", "/nonexistent/p.toml"),
            ],
            "PARTNERS_FILE",
        ),
        (
            &[
                ("CMG_API_KEY", "k"),
                ("SNAPSHOT_PATH", "/nonexistent/dir/s.json"),
            ],
            "SNAPSHOT_PATH",
        ),
        (
            &[("CMG_API_KEY", "k"), ("CMG_FEED_URL", "not a url")],
            "CMG_FEED_URL",
        ),
        (&[("DEMO", "maybe")], "DEMO"),
        (
            &[("DEMO", "1"), ("MAX_CONNECTIONS", "lots")],
            "MAX_CONNECTIONS",
        ),
        (&[("DEMO", "1"), ("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (
            &[
                ("DEMO", "1"),
                ("DATABASE_URL", "mysql://u:db-pw-in-error@x/y"),
            ],
            "DATABASE_URL",
        ),
        (
            &[
                ("DEMO", "1"),
                ("DATABASE_URL", "sqlite:/nonexistent/dir/h.db"),
            ],
            "DATABASE_URL",
        ),
    ];
    for (env, variable) in cases {
        let output = run(command().envs(env.iter().copied()));
        assert!(!output.status.success(), "{variable}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("db-pw-in-error"), "{stderr}");
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: invalid {variable} (--")),
            "{stderr}"
        );
    }
}

#[test]
fn a_busy_listen_address_names_the_variable_and_the_cause() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(command().env("DEMO", "1").env("LISTEN_ADDR", &addr));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let everything = format!("{stderr}{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(
        everything.matches("cannot listen on LISTEN_ADDR").count(),
        1,
        "said once: {everything}"
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or("");
    assert!(
        line.contains(&format!("cannot listen on LISTEN_ADDR {addr}: ")),
        "the cause follows the context: {stderr}"
    );
}

#[test]
fn a_missing_key_never_falls_back_to_demo_data() {
    let output = run(command().env("LISTEN_ADDR", free_addr()));
    assert!(!output.status.success());
}

#[test]
fn help_lists_every_variable_and_never_prints_secret_values() {
    let output = run(command()
        .arg("--help")
        .env("CMG_API_KEY", KEY)
        .env("ADMIN_TOKEN", "admin-secret-value")
        .env(
            "CMG_FEED_URL",
            "https://mirror.example/feed?x=feed-url-value",
        )
        .env("DATABASE_URL", "postgres://cmg:db-help-pass@db.example/cmg"));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(!help.contains("db-help-pass"));
    assert!(
        help.contains("shows in `ps`"),
        "--help warns about secrets on the command line"
    );
    for variable in [
        "CMG_API_KEY",
        "CMG_API_KEY_FILE",
        "CMG_FEED_URL",
        "LISTEN_ADDR",
        "REFRESH_INTERVAL",
        "UPSTREAM_TIMEOUT",
        "UPSTREAM_MAX_BYTES",
        "SNAPSHOT_PATH",
        "PARTNERS_FILE",
        "CORS_ALLOW_ORIGINS",
        "ADMIN_TOKEN",
        "DEMO",
        "CLIENT_HEADER_TIMEOUT",
        "KEEPALIVE_TIMEOUT",
        "MAX_CONNECTIONS",
        "MAX_CONNECTIONS_PER_IP",
        "CLIENT_BODY_TIMEOUT",
        "SHUTDOWN_TIMEOUT",
        "DATABASE_URL",
        "HISTORY_RETENTION",
        "PUBLIC_URL",
        "CLICK_RETENTION",
        "CLICK_SALT_FILE",
        "WEBHOOK_TIMEOUT",
        "WEBHOOK_ALLOW_PRIVATE",
        "healthcheck",
    ] {
        assert!(help.contains(variable), "{variable} in --help");
    }
    assert!(!help.contains(KEY));
    assert!(!help.contains("admin-secret-value"));
    assert!(!help.contains("feed-url-value"));
}

/// A ready demo instance on a free port, and its address.
fn ready_demo() -> (String, Child) {
    let addr = free_addr();
    let mut child = command()
        .env("DEMO", "1")
        .env("LISTEN_ADDR", &addr)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&addr, &mut child);
    (addr, child)
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let output = run(command().arg("healthcheck").env("LISTEN_ADDR", free_addr()));
    assert!(!output.status.success());
}

#[test]
fn demo_instance_is_healthy_and_sigterm_exits_zero() {
    let (addr, mut child) = ready_demo();
    // Healthcheck reads only LISTEN_ADDR: garbage elsewhere does not matter.
    assert!(
        run(command()
            .arg("healthcheck")
            .env("LISTEN_ADDR", addr.replace("127.0.0.1", "0.0.0.0"))
            .env("REFRESH_INTERVAL", "garbage"))
        .status
        .success()
    );
    terminate(&child);
    assert_eq!(wait_exit(&mut child).code(), Some(0));
}

#[test]
fn ctrl_c_exits_zero_too() {
    let (_, mut child) = ready_demo();
    signal(&child, "INT");
    assert_eq!(wait_exit(&mut child).code(), Some(0));
}

#[test]
fn healthcheck_fails_while_the_instance_has_no_catalog() {
    // Upstream is a closed port: the instance serves, but is not ready.
    let addr = free_addr();
    let mut child = command()
        .env("CMG_API_KEY", KEY)
        .env("CMG_FEED_URL", format!("http://{}/feed", free_addr()))
        .env("LISTEN_ADDR", &addr)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://{addr}/healthz");
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{url} never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!healthcheck(&addr), "not ready without a catalog");
    terminate(&child);
    assert_eq!(wait_exit(&mut child).code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_requests() {
    let upstream = FakeUpstream::start(Reply::Json(simple_feed(2000))).await;
    let addr = free_addr();
    let child = command()
        .env("CMG_API_KEY", KEY)
        .env("CMG_FEED_URL", &upstream.url)
        .env("LISTEN_ADDR", &addr)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = ready(child, &addr).await;
    let client = reqwest::Client::new();
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let request = client.get(format!("http://{addr}/api/products/aggregator"));
            tokio::spawn(async move { request.send().await?.bytes().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    terminate(&child);
    let mut completed = 0;
    for request in requests {
        // Requests that made it in are answered in full; later ones are refused.
        if let Ok(body) = request.await.unwrap() {
            let doc: serde_json::Value = serde_json::from_slice(&body).expect("a whole body");
            assert_eq!(doc["plans"].as_array().unwrap().len(), 2000);
            completed += 1;
        }
    }
    assert_eq!(exit_code(child).await, Some(0));
    assert!(completed > 0, "in-flight requests completed");
}

#[tokio::test]
async fn sigterm_exits_within_shutdown_timeout_despite_a_dripping_client() {
    use tokio::io::AsyncWriteExt;
    let addr = free_addr();
    let child = command()
        .env("DEMO", "1")
        .env("LISTEN_ADDR", &addr)
        .env("SHUTDOWN_TIMEOUT", "2s")
        .env("CLIENT_HEADER_TIMEOUT", "60s")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = ready(child, &addr).await;
    let mut drip = tokio::net::TcpStream::connect(&addr).await.unwrap();
    drip.write_all(b"GET /plans HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let dripping = tokio::spawn(async move {
        for _ in 0..200 {
            if drip.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    terminate(&child);
    assert_eq!(exit_code(child).await, Some(0));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "exit took {took:?}");
    dripping.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_never_appears_in_logs_at_trace_level_across_failure_modes() {
    let upstream = FakeUpstream::start(Reply::Json(simple_feed(5))).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let mut child = command()
        .env("CMG_API_KEY", KEY)
        .env("CMG_FEED_URL", &upstream.url)
        .env("LISTEN_ADDR", &addr)
        .env("ADMIN_TOKEN", ADMIN)
        .env("UPSTREAM_TIMEOUT", "1s")
        .env("UPSTREAM_MAX_BYTES", "50KB")
        .env("SNAPSHOT_PATH", dir.path().join("snap.json"))
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "json")
        .env(
            "DATABASE_URL",
            "postgres://cmg:db-trace-pass@127.0.0.1:1/cmg",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the pipes while the child runs, so trace output never blocks it.
    let stdout = std::thread::spawn({
        let pipe = child.stdout.take().unwrap();
        move || read_all(pipe)
    });
    let stderr = std::thread::spawn({
        let pipe = child.stderr.take().unwrap();
        move || read_all(pipe)
    });
    let child = ready(child, &addr).await;
    let client = reqwest::Client::new();
    let replies = [
        Reply::Status(401, "bad key"),
        Reply::Status(500, "oops"),
        Reply::Slow(Duration::from_secs(2), simple_feed(1)),
        Reply::Json(b"{not json".to_vec()),
        Reply::Json(simple_feed(400)),
        Reply::Redirect(format!("{}?key={KEY}&again=1", upstream.url)),
        Reply::Redirect("http://127.0.0.1:1/elsewhere".into()),
        Reply::Json(simple_feed(5)),
    ];
    let mut bodies = String::new();
    for reply in replies {
        upstream.set(reply);
        let response = client
            .post(format!("http://{addr}/admin/refresh"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        bodies.push_str(&response.text().await.unwrap());
    }
    // Upstream down entirely (connection refused) is covered by the redirect to port 1.
    for path in [
        "/plans?key=CLIENT_SENT_KEY_77",
        "/api/products/aggregator?key=CLIENT_SENT_KEY_77",
        "/readyz",
        "/metrics",
    ] {
        let response = client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        bodies.push_str(&format!("{:?}", response.headers()));
        bodies.push_str(&response.text().await.unwrap());
    }
    terminate(&child);
    assert_eq!(exit_code(child).await, Some(0));
    let logs = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        logs.contains("upstream rejected the API key"),
        "401 is logged distinctly"
    );
    assert!(
        logs.contains("TRACE") || logs.contains("\"level\":\"TRACE\""),
        "trace level was on"
    );
    let snapshot = std::fs::read_to_string(dir.path().join("snap.json")).unwrap();
    for (name, text) in [
        ("logs", &logs),
        ("responses", &bodies),
        ("snapshot", &snapshot),
    ] {
        assert!(!text.contains(KEY), "the key leaked into {name}");
        assert!(
            !text.contains("db-trace-pass"),
            "the database password leaked into {name}"
        );
        assert!(
            !text.contains("CLIENT_SENT_KEY_77"),
            "a client key leaked into {name}"
        );
    }
    assert!(
        !bodies.contains(&upstream.url),
        "the upstream URL never reaches a client"
    );
}

fn read_all(mut pipe: impl Read) -> String {
    let mut text = String::new();
    pipe.read_to_string(&mut text).unwrap();
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_partner_registry_and_keeps_it_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let partners = dir.path().join("partners.toml");
    std::fs::write(&partners, "[[partner]]\nid='a'\nref='first'\n").unwrap();
    let addr = free_addr();
    let child = command()
        .env("DEMO", "1")
        .env("LISTEN_ADDR", &addr)
        .env("PARTNERS_FILE", &partners)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = ready(child, &addr).await;
    let status = |r: &str| {
        let url = format!("http://{addr}/plans?limit=1&ref={r}");
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!((status("first").await, status("second").await), (200, 400));

    std::fs::write(&partners, "[[partner]]\nid='a'\nref='second'\n").unwrap();
    signal(&child, "HUP");
    let mut swapped = false;
    for _ in 0..100 {
        if status("second").await == 200 {
            swapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(swapped, "SIGHUP reloads the registry");
    assert_eq!(status("first").await, 400);

    std::fs::write(&partners, "this is not toml [").unwrap();
    signal(&child, "HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status("second").await,
        200,
        "a bad file keeps the old registry"
    );
    terminate(&child);
    assert_eq!(exit_code(child).await, Some(0));
}

#[test]
fn the_open_file_limit_is_raised_and_a_limit_too_low_for_max_connections_is_said() {
    // Soft limit low, hard limit higher: raised to the hard one, said once.
    let addr = free_addr();
    let script = format!(
        "ulimit -Sn 256 && ulimit -Hn 2048 && DEMO=1 LISTEN_ADDR={addr} MAX_CONNECTIONS=1000 exec {BIN}"
    );
    let mut child = shell(&script);
    wait_healthy(&addr, &mut child);
    terminate(&child);
    wait_exit(&mut child);
    let logs = read_all(child.stdout.take().unwrap());
    assert!(logs.contains("raised the open-file limit"), "{logs}");
    assert!(
        !logs.contains("exceeds what the open-file limit allows"),
        "{logs}"
    );

    // Hard limit below MAX_CONNECTIONS: one warning line naming it.
    let addr = free_addr();
    let script = format!("ulimit -n 512 && DEMO=1 LISTEN_ADDR={addr} exec {BIN}");
    let mut child = shell(&script);
    wait_healthy(&addr, &mut child);
    terminate(&child);
    wait_exit(&mut child);
    let logs = read_all(child.stdout.take().unwrap());
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("MAX_CONNECTIONS exceeds"))
        .collect();
    assert_eq!(warnings.len(), 1, "{logs}");
}

/// A shell running `script` with the same clean environment as [`command`].
fn shell(script: &str) -> Child {
    Command::new("sh")
        .args(["-c", script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_that_refuses_the_login_stops_start_up_with_exit_2() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED a_database_that_refuses_the_login_stops_start_up_with_exit_2: TEST_DATABASE_URL is not set"
        );
        return;
    };
    let url = url::Url::parse(&admin).unwrap();
    let mut wrong_password = url.clone();
    wrong_password
        .set_password(Some("not-the-pass-w0rd"))
        .unwrap();
    let mut no_database = url.clone();
    no_database.set_path("/no_such_database_here");
    for (database, expect) in [
        (wrong_password.to_string(), "password"),
        (no_database.to_string(), "does not exist"),
    ] {
        let output = tokio::task::spawn_blocking(move || {
            run(command()
                .env("DEMO", "1")
                .env("LISTEN_ADDR", free_addr())
                .env("DATABASE_URL", &database))
        })
        .await
        .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].starts_with("error: invalid DATABASE_URL"),
            "{stderr}"
        );
        assert!(lines[0].contains(expect), "{stderr}");
        assert!(!stderr.contains("not-the-pass-w0rd"), "{stderr}");
    }
}

#[test]
fn sighup_without_a_partners_file_is_logged_and_never_stops_the_process() {
    let addr = free_addr();
    let mut child = command()
        .env("DEMO", "1")
        .env("LISTEN_ADDR", &addr)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_healthy(&addr, &mut child);
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP killed it");
    assert!(healthcheck(&addr));
    terminate(&child);
    assert_eq!(
        wait_exit(&mut child).code(),
        Some(0),
        "drained and exited 0"
    );
    let logs = read_all(child.stdout.take().unwrap());
    assert!(
        logs.lines()
            .any(|l| l.contains("SIGHUP") && l.contains("nothing to reload")),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_snapshot_writes_never_leaves_a_broken_snapshot() {
    let big = simple_feed(20_000);
    let upstream = FakeUpstream::start(Reply::Json(big)).await;
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("catalog.json");
    for round in 0..4u64 {
        let addr = free_addr();
        let child = command()
            .env("CMG_API_KEY", KEY)
            .env("CMG_FEED_URL", &upstream.url)
            .env("LISTEN_ADDR", &addr)
            .env("ADMIN_TOKEN", ADMIN)
            .env("SNAPSHOT_PATH", &snapshot)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = ready(child, &addr).await;
        // The first snapshot is written just after the catalog is served;
        // the point is what a kill does to an existing one.
        for _ in 0..200 {
            if snapshot.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Keep it syncing (and writing snapshots), then kill it mid-flight.
        let client = reqwest::Client::new();
        let url = format!("http://{addr}/admin/refresh");
        let hammer = tokio::spawn(async move {
            loop {
                let _ = client.post(&url).bearer_auth(ADMIN).send().await;
            }
        });
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        hammer.abort();
        // Whatever moment it died at, the snapshot on disk is whole.
        let catalog = cmg_feed_proxy::catalog::snapshot::load(&snapshot)
            .expect("never a broken snapshot")
            .expect("a snapshot exists");
        assert_eq!(catalog.len(), 20_000, "round {round}");
    }
}

#[tokio::test]
async fn every_variable_left_empty_counts_as_unset() {
    use clap::CommandFactory;
    let addr = free_addr();
    let mut cmd = command();
    for arg in cmg_feed_proxy::config::Cli::command().get_arguments() {
        if let Some(name) = arg.get_env() {
            cmd.env(name, "");
        }
    }
    let child = cmd
        .env("DEMO", "1")
        .env("LISTEN_ADDR", &addr)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = ready(child, &addr).await;
    terminate(&child);
    assert_eq!(exit_code(child).await, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_writes_every_click_and_no_log_line_names_the_visitor() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("clicks.db");
    let addr = free_addr();
    let mut child = command()
        .env("DEMO", "1")
        .env("LISTEN_ADDR", &addr)
        .env("DATABASE_URL", format!("sqlite:{}", database.display()))
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::thread::spawn({
        let pipe = child.stdout.take().unwrap();
        move || read_all(pipe)
    });
    let stderr = std::thread::spawn({
        let pipe = child.stderr.take().unwrap();
        move || read_all(pipe)
    });
    let child = ready(child, &addr).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let plans: serde_json::Value = client
        .get(format!("http://{addr}/plans?limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = plans["plans"][0]["packageCode"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..50 {
        let response = client
            .get(format!("http://{addr}/go/{code}?ref=r1&subid=s{i}"))
            .header("user-agent", "Mozilla/5.0 UniqueAgentMarker/42")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
    }
    // At once: most clicks are still in the buffer.
    terminate(&child);
    assert_eq!(exit_code(child).await, Some(0));
    let logs = format!("{}{}", stdout.join().unwrap(), stderr.join().unwrap());
    assert!(logs.contains("TRACE"), "trace level was on");
    assert!(
        !logs.contains("UniqueAgentMarker"),
        "a user agent was logged"
    );
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", database.display()))
        .await
        .unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clicks")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 50, "SIGTERM wrote every buffered click");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_in_flight_when_the_process_is_killed_is_sent_after_restart() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The receiver holds the first request unanswered, then answers 200.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (ids_tx, mut ids) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut held = Vec::new();
        let mut first = true;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 65536];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&request[..n]).to_lowercase();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("webhook-id:"))
                .unwrap_or("")
                .trim()
                .to_owned();
            let _ = ids_tx.send(id);
            if first {
                first = false;
                held.push(socket);
            } else {
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let partners = dir.path().join("partners.toml");
    std::fs::write(
        &partners,
        format!(
            "[[partner]]\nid = \"acme\"\nref = \"acme-01\"\n[[partner.webhook]]\n\
             url = \"http://127.0.0.1:{port}/hook\"\n\
             secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"catalog.updated\"]\n"
        ),
    )
    .unwrap();
    let upstream = FakeUpstream::start(Reply::Json(simple_feed(3))).await;
    let addr = free_addr();
    let start = || {
        command()
            .env("CMG_API_KEY", KEY)
            .env("CMG_FEED_URL", &upstream.url)
            .env("LISTEN_ADDR", &addr)
            .env("ADMIN_TOKEN", ADMIN)
            .env("PARTNERS_FILE", &partners)
            .env("WEBHOOK_ALLOW_PRIVATE", "1")
            .env("WEBHOOK_TIMEOUT", "2s")
            .env(
                "DATABASE_URL",
                format!("sqlite:{}", dir.path().join("h.db").display()),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let child = ready(start(), &addr).await;
    upstream.set(Reply::Json(simple_feed(4)));
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/admin/refresh"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), ids.recv())
        .await
        .expect("the first attempt arrives")
        .unwrap();
    assert!(first.starts_with("msg_"), "{first}");
    // Killed mid-attempt: no answer was ever stored.
    signal(&child, "KILL");
    let _ = exit_code(child).await;
    let child = ready(start(), &addr).await;
    let again = tokio::time::timeout(Duration::from_secs(15), ids.recv())
        .await
        .expect("sent again after the lease ends")
        .unwrap();
    assert_eq!(again, first, "the same message, the same webhook-id");
    terminate(&child);
    assert_eq!(exit_code(child).await, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_rotates_a_webhook_secret_and_the_next_messages_are_signed_with_it() {
    const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NEW: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkhIQ==";
    type Got = Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;
    use std::sync::Arc;
    let got: Got = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push((headers, body));
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let partners = dir.path().join("partners.toml");
    let registry = |secret: &str| {
        format!(
            "[[partner]]\nid = \"acme\"\nref = \"acme-01\"\n[[partner.webhook]]\n\
             url = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{secret}\"\nevents = [\"catalog.updated\"]\n"
        )
    };
    std::fs::write(&partners, registry(OLD)).unwrap();
    let upstream = FakeUpstream::start(Reply::Json(simple_feed(3))).await;
    let addr = free_addr();
    let child = command()
        .env("CMG_API_KEY", KEY)
        .env("CMG_FEED_URL", &upstream.url)
        .env("LISTEN_ADDR", &addr)
        .env("ADMIN_TOKEN", ADMIN)
        .env("PARTNERS_FILE", &partners)
        .env("WEBHOOK_ALLOW_PRIVATE", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = ready(child, &addr).await;
    let client = reqwest::Client::new();
    let refresh = || {
        client
            .post(format!("http://{addr}/admin/refresh"))
            .bearer_auth(ADMIN)
            .send()
    };
    let wait_for = |n: usize| {
        let got = got.clone();
        async move {
            for _ in 0..200 {
                if got.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("{n} messages not received");
        }
    };
    upstream.set(Reply::Json(simple_feed(4)));
    assert_eq!(refresh().await.unwrap().status(), 200);
    wait_for(1).await;
    std::fs::write(&partners, registry(NEW)).unwrap();
    signal(&child, "HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    upstream.set(Reply::Json(simple_feed(5)));
    assert_eq!(refresh().await.unwrap().status(), 200);
    wait_for(2).await;
    let got = got.lock().unwrap().clone();
    let old = standardwebhooks::Webhook::new(OLD).unwrap();
    let new = standardwebhooks::Webhook::new(NEW).unwrap();
    assert!(old.verify(&got[0].1, &got[0].0).is_ok());
    assert!(
        new.verify(&got[1].1, &got[1].0).is_ok(),
        "signed with the rotated secret"
    );
    assert!(old.verify(&got[1].1, &got[1].0).is_err());
    terminate(&child);
    assert_eq!(exit_code(child).await, Some(0));
}
