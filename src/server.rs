//! The accept loop and connection hygiene for a public edge, on hyper's own
//! server (hyper-util's auto builder: HTTP/1.1 and h2c on one port):
//!
//! * `MAX_CONNECTIONS`: a connection past the limit is closed at once; the
//!   permit returns when a connection ends, so probes get through again as
//!   soon as load drops.
//! * `CLIENT_HEADER_TIMEOUT`: a connection whose request head has not
//!   arrived within this of its first byte (or of the accept, for a new
//!   connection) is closed, however slowly it drips. hyper's own header
//!   timeout is not used: it is armed whenever hyper waits for a head, so it
//!   would also cut idle keep-alive connections short.
//! * `MAX_CONNECTIONS_PER_IP`: one address holds at most this many; and the
//!   last few free slots are kept for addresses that hold none yet, so a
//!   flood from one address never locks out a probe from another.
//! * `KEEPALIVE_TIMEOUT`: a connection with no request in progress and no
//!   bytes in either direction for this long is closed (HTTP/1.1 and HTTP/2).
//! * Sending: a connection whose writes have waited `CLIENT_HEADER_TIMEOUT`
//!   for the client to read anything is closed, response and all, so a
//!   reader that never reads holds no body in memory for long.
//! * Requests in progress are counted by a guard dropped with the request's
//!   future, so an HTTP/2 stream reset mid-request cannot leak the count.
//! * Accept errors (EMFILE under a descriptor flood) pause the loop briefly
//!   instead of spinning.
//! * Shutdown: stop accepting, ask every connection to finish its in-flight
//!   requests, and close whatever is left after `SHUTDOWN_TIMEOUT`.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connection limits and timeouts.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub client_header_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Behind a trusted proxy (`TRUST_FORWARDED_FOR`) every connection comes
    /// from the proxy, so the per-address limit is the proxy's to enforce.
    pub per_ip_behind_proxy: bool,
    pub shutdown_timeout: Duration,
}

/// Descriptors kept for everything that is not a client connection
/// (listener, database, upstream, snapshot, logs).
const SPARE_DESCRIPTORS: u64 = 64;

/// Raises the soft open-file limit to the hard one (each connection holds a
/// descriptor), and warns in one line when `MAX_CONNECTIONS` still exceeds
/// what the limit allows.
pub fn raise_open_file_limit(max_connections: usize) {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return;
        }
        let before = limit.rlim_cur;
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit reads the struct we pass.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit.rlim_cur = limit.rlim_max;
                tracing::info!(
                    from = before,
                    to = limit.rlim_cur,
                    "raised the open-file limit"
                );
            }
        }
        let allowed = limit.rlim_cur.saturating_sub(SPARE_DESCRIPTORS);
        if (max_connections as u64) > allowed {
            tracing::warn!(
                max_connections,
                open_file_limit = limit.rlim_cur,
                "MAX_CONNECTIONS exceeds what the open-file limit allows ({allowed} connections); raise the limit (ulimit -n) or lower MAX_CONNECTIONS"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = max_connections;
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    let permits = Arc::new(Semaphore::new(settings.max_connections));
    let per_ip = Arc::new(PerAddress::new(
        if settings.per_ip_behind_proxy {
            usize::MAX
        } else {
            settings.max_connections_per_ip
        },
        reserve(settings.max_connections),
    ));
    let graceful = GracefulShutdown::new();
    let mut last_accept_error: Option<Instant> = None;
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE/ENFILE and friends: back off instead of spinning.
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(error.cause_chain = %e, "accept failed; pausing");
                        last_accept_error = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_ip.admit(peer.ip(), permits.available_permits()) else {
            // Over MAX_CONNECTIONS_PER_IP, or into the reserve: closed at once.
            drop(stream);
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over MAX_CONNECTIONS: closed at once (RST-free close).
            drop(stream);
            continue;
        };
        // Client addresses are never logged (clicks promise it, SPEC 10).
        tracing::trace!("connection accepted");
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let service = {
            let (router, activity) = (router.clone(), activity.clone());
            tower::service_fn(move |mut request: hyper::Request<Incoming>| {
                // Held by the request's future: dropped when it completes or
                // is cancelled (an HTTP/2 reset), never leaked.
                let handling = activity.request_started();
                request.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    let response = router.oneshot(request).await;
                    drop(handling);
                    response
                }
            })
        };
        let connection = builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        let (header_timeout, keepalive) =
            (settings.client_header_timeout, settings.keepalive_timeout);
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error.cause_chain = %e, "connection ended with an error");
                    }
                }
                reason = activity.expired(header_timeout, keepalive) => {
                    tracing::debug!(reason, "connection closed");
                }
            }
            drop((permit, slot));
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(settings.shutdown_timeout) => {
            tracing::warn!(timeout_secs = settings.shutdown_timeout.as_secs_f64(), "shutdown timeout: closing the remaining connections");
        }
    }
    Ok(())
}

/// How many of the last free connection slots are kept for addresses that
/// hold no connection yet: a 64th of the limit, 1 to 64.
fn reserve(max_connections: usize) -> usize {
    (max_connections / 64).clamp(1, 64)
}

/// Open connections per client address.
struct PerAddress {
    limit: usize,
    reserve: usize,
    open: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn new(limit: usize, reserve: usize) -> Self {
        Self {
            limit,
            reserve,
            open: Default::default(),
        }
    }

    /// A slot for one more connection from `ip`, or `None` when `ip` holds
    /// its limit already, or holds any connection while only the reserve of
    /// `free` slots is left.
    fn admit(self: &Arc<Self>, ip: IpAddr, free: usize) -> Option<AddressSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.get(&ip).copied().unwrap_or(0);
        if held >= self.limit || (held > 0 && free <= self.reserve) {
            return None;
        }
        open.insert(ip, held + 1);
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

/// One connection's place in [`PerAddress`], given back on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = open.get_mut(&self.ip) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a connection is doing, for its timeouts. Times are milliseconds
/// since the accept.
struct Activity {
    start: Instant,
    /// The last byte in either direction.
    last_ms: AtomicU64,
    /// Since when a write has been waiting for the client to read, plus
    /// one; 0 while writes go through.
    blocked_ms: AtomicU64,
    /// Requests handed to the service and not answered yet.
    handling: AtomicU64,
    /// When the pending request head began, plus one; 0 while none is
    /// pending. A new connection starts with a pending head at 0 ms.
    head_ms: AtomicU64,
    /// Wakes the watchdog when a request starts or ends, since that moves
    /// its deadline.
    changed: tokio::sync::Notify,
}

/// One request in progress on a connection; dropped with the request's
/// future, however that ends.
struct Handling {
    activity: Arc<Activity>,
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.activity.handling.fetch_sub(1, Ordering::Relaxed);
        // The idle clock starts now; a write still waiting for the client
        // (another stream's, or this response's) keeps its send deadline.
        self.activity
            .last_ms
            .store(self.activity.now_ms(), Ordering::Relaxed);
        self.activity.changed.notify_one();
    }
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            blocked_ms: AtomicU64::new(0),
            handling: AtomicU64::new(0),
            head_ms: AtomicU64::new(1),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_ms.store(now, Ordering::Relaxed);
        // The first byte of a request head while none is in progress.
        if self.handling.load(Ordering::Relaxed) == 0 {
            let started =
                self.head_ms
                    .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed);
            if started.is_ok() {
                self.changed.notify_one();
            }
        }
    }

    fn wrote(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
        self.blocked_ms.store(0, Ordering::Relaxed);
    }

    /// A write found the socket full: the client is not reading (yet).
    fn write_blocked(&self) {
        let now = self.now_ms();
        let blocked =
            self.blocked_ms
                .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed);
        if blocked.is_ok() {
            self.changed.notify_one();
        }
    }

    /// A request is being handled until the guard drops.
    fn request_started(self: &Arc<Self>) -> Handling {
        self.handling.fetch_add(1, Ordering::Relaxed);
        self.head_ms.store(0, Ordering::Relaxed);
        self.changed.notify_one();
        Handling {
            activity: self.clone(),
        }
    }

    /// Resolves when the connection should be closed, saying why: a request
    /// head not complete within `header` of its first byte, a response the
    /// client has read nothing of for `header`, or nothing in progress and no
    /// traffic for `idle`.
    async fn expired(&self, header: Duration, idle: Duration) -> &'static str {
        loop {
            let now = self.now_ms();
            let head = self.head_ms.load(Ordering::Relaxed);
            let handling = self.handling.load(Ordering::Relaxed) > 0;
            let blocked = self.blocked_ms.load(Ordering::Relaxed);
            let (deadline, reason) = if blocked != 0 {
                (
                    blocked - 1 + header.as_millis() as u64,
                    "client not reading",
                )
            } else if handling {
                // A handler is running (REQUEST_TIMEOUT bounds it): look again later.
                (now + idle.as_millis() as u64, "")
            } else if head != 0 {
                (
                    head - 1 + header.as_millis() as u64,
                    "request head too slow",
                )
            } else {
                let last = self.last_ms.load(Ordering::Relaxed);
                (last + idle.as_millis() as u64, "idle")
            };
            if now >= deadline && (blocked != 0 || !handling) {
                return reason;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(deadline.saturating_sub(now))) => {}
                () = self.changed.notified() => {}
            }
        }
    }
}

/// A socket that records its activity.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Tracked {
    fn note_write(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(n)) if *n > 0 => self.activity.wrote(),
            Poll::Pending => self.activity.write_blocked(),
            _ => {}
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
