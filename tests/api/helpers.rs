//! Test harness: a fake CMG upstream on a real socket, and the real application
//! on `127.0.0.1:0` pointed at it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use clap::Parser;
use cmg_feed_proxy::app::Application;
use cmg_feed_proxy::catalog::CatalogStore;
use cmg_feed_proxy::config::Cli;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const KEY: &str = "sk_live_TOPSECRET_4242";

/// How the fake upstream answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this JSON body.
    Json(Vec<u8>),
    /// Any status with a body.
    Status(u16, &'static str),
    /// Waits before sending headers.
    Slow(Duration, Vec<u8>),
    /// Sends the body in `chunk`-byte pieces, pausing between them.
    Drip {
        body: Vec<u8>,
        chunk: usize,
        pause: Duration,
    },
    /// Announces the full length but closes after `sent` bytes.
    Truncated { body: Vec<u8>, sent: usize },
    /// 200 without Content-Length (connection-close delimited).
    NoLength(Vec<u8>),
    /// 200 with `Content-Encoding: gzip`.
    Gzip(Vec<u8>),
    /// 302 to another location.
    Redirect(String),
}

/// A fake CMG feed server that records what it is asked.
#[derive(Clone)]
pub struct FakeUpstream {
    pub url: String,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeUpstream {
    pub async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/api/products/aggregator",
            listener.local_addr().unwrap()
        );
        let fake = Self {
            url,
            reply: Arc::new(Mutex::new(reply)),
            hits: Arc::new(AtomicUsize::new(0)),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move { server.answer(stream).await });
            }
        });
        fake
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Request heads received so far (request line and headers).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    async fn answer(&self, mut stream: TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        self.hits.fetch_add(1, Ordering::SeqCst);
        self.requests
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let reply = self.reply.lock().unwrap().clone();
        let _ = respond(&mut stream, reply).await;
        let _ = stream.shutdown().await;
    }
}

fn head(status: u16, extra: &str, length: Option<usize>) -> Vec<u8> {
    let mut h = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}"
    );
    if let Some(len) = length {
        h.push_str(&format!("Content-Length: {len}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

async fn respond(stream: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Json(body) => {
            stream.write_all(&head(200, "", Some(body.len()))).await?;
            stream.write_all(&body).await
        }
        Reply::Status(status, body) => {
            stream
                .write_all(&head(status, "", Some(body.len())))
                .await?;
            stream.write_all(body.as_bytes()).await
        }
        Reply::Slow(delay, body) => {
            tokio::time::sleep(delay).await;
            stream.write_all(&head(200, "", Some(body.len()))).await?;
            stream.write_all(&body).await
        }
        Reply::Drip { body, chunk, pause } => {
            stream.write_all(&head(200, "", Some(body.len()))).await?;
            for piece in body.chunks(chunk) {
                stream.write_all(piece).await?;
                stream.flush().await?;
                tokio::time::sleep(pause).await;
            }
            Ok(())
        }
        Reply::Truncated { body, sent } => {
            stream.write_all(&head(200, "", Some(body.len()))).await?;
            stream.write_all(&body[..sent]).await
        }
        Reply::NoLength(body) => {
            stream.write_all(&head(200, "", None)).await?;
            stream.write_all(&body).await
        }
        Reply::Gzip(body) => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&body).unwrap();
            let gz = enc.finish().unwrap();
            stream
                .write_all(&head(200, "Content-Encoding: gzip\r\n", Some(gz.len())))
                .await?;
            stream.write_all(&gz).await
        }
        Reply::Redirect(location) => {
            stream
                .write_all(&head(302, &format!("Location: {location}\r\n"), Some(0)))
                .await
        }
    }
}

// ---------------------------------------------------------------- feeds

/// One plan in the upstream shape.
pub fn plan(code: &str, countries: &[&str], gb: f64, days: u32, price: f64) -> Value {
    serde_json::json!({
        "name": format!("Plan {code}"),
        "packageCode": code,
        "productUrl": format!("https://www.connectmeguru.com/esim/{}", code.to_lowercase()),
        "dataAmount": gb,
        "duration": days,
        "locationCodes": countries,
        "locationNames": countries.iter().map(|c| format!("Land {c}")).collect::<Vec<_>>(),
        "operator": "Orange, Movistar",
        "speed": "4G/5G",
        "retailPrice": price,
    })
}

pub fn feed(plans: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "success": true, "aggregator": "CMG", "plans": plans
    }))
    .unwrap()
}

/// A small, valid feed of `n` plans.
pub fn simple_feed(n: usize) -> Vec<u8> {
    let plans: Vec<Value> = (0..n)
        .map(|i| {
            plan(
                &format!("P{i:04}"),
                &["DE"],
                1.0 + i as f64,
                30,
                5.0 + i as f64,
            )
        })
        .collect();
    feed(&plans)
}

// ---------------------------------------------------------------- the app

pub struct TestApp {
    pub address: String,
    pub upstream: FakeUpstream,
    pub store: Arc<CatalogStore>,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

static TRACING: Once = Once::new();

fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            cmg_feed_proxy::telemetry::init(cmg_feed_proxy::telemetry::LogFormat::Pretty, vec![]);
        }
    });
}

/// Starts the app against `upstream` with extra command-line `args`.
pub async fn spawn_app_with(upstream: FakeUpstream, args: &[&str]) -> TestApp {
    init_tracing();
    let mut argv = vec![
        "cmg-feed-proxy".to_owned(),
        "--listen-addr=127.0.0.1:0".to_owned(),
        format!("--feed-url={}", upstream.url),
        format!("--api-key={KEY}"),
        "--refresh-interval=1h".to_owned(),
        "--upstream-timeout=2s".to_owned(),
    ];
    // No test reaches the ECB: a test that wants rates names its own source.
    if !args.iter().any(|a| a.starts_with("--rates-url")) {
        argv.push("--rates-url=none".to_owned());
    }
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let config = Cli::try_parse_from(argv).unwrap().into_config().unwrap();
    let app = Application::build(config).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        upstream,
        store,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        stop: Some(stop),
        server: Some(server),
    }
}

/// Starts the app against a fake upstream serving `reply`.
pub async fn spawn_app(reply: Reply) -> TestApp {
    spawn_app_with(FakeUpstream::start(reply).await, &[]).await
}

/// Starts the app on a ready catalog of `body`.
pub async fn spawn_ready(body: Vec<u8>, args: &[&str]) -> TestApp {
    let app = spawn_app_with(FakeUpstream::start(Reply::Json(body)).await, args).await;
    app.wait_for(|a| a.store.catalog().is_some()).await;
    app
}

impl TestApp {
    pub fn get(
        &self,
        path: &str,
    ) -> impl std::future::Future<Output = reqwest::Response> + Send + 'static {
        let request = self.client.get(format!("{}{path}", self.address));
        async move { request.send().await.expect("request sent") }
    }

    /// GET with one extra request header.
    pub async fn get_with(&self, path: &str, name: &str, value: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(name, value)
            .send()
            .await
            .expect("request sent")
    }

    /// The /metrics text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .text()
            .await
            .expect("metrics text")
    }

    /// Status and JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        let body = response.json().await.expect("a JSON body");
        (status, body)
    }

    pub fn post(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> impl std::future::Future<Output = reqwest::Response> + Send + 'static {
        let mut request = self.client.post(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("request sent") }
    }

    /// Waits (up to 10 s) until `condition` holds.
    pub async fn wait_for(&self, condition: impl Fn(&Self) -> bool) {
        for _ in 0..1000 {
            if condition(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached within 10 s");
    }

    /// Asks for a sync now through the admin route (needs `--admin-token`).
    pub async fn refresh(&self) -> Value {
        let response = self.post("/admin/refresh", Some(ADMIN)).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

pub const ADMIN: &str = "admin-token-0123456789";
pub const ADMIN_ARG: &str = "--admin-token=admin-token-0123456789";

/// Asserts the SPEC error shape and returns (code, parameter).
pub fn error_of(body: &Value) -> (String, Option<String>) {
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("no error object in {body}"));
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (
        error["code"].as_str().unwrap().to_owned(),
        error
            .get("parameter")
            .and_then(|p| p.as_str())
            .map(str::to_owned),
    )
}

/// A client that leaves decoding to the test.
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap()
}

/// `body` as sent with `Content-Encoding: encoding` (`gzip`, `br` or none).
pub fn decompress(encoding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out),
        _ => return body.to_vec(),
    }
    .unwrap();
    out
}
