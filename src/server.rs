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
//! * `KEEPALIVE_TIMEOUT`: a connection with no request in progress and no
//!   bytes in either direction for this long is closed (HTTP/1.1 and HTTP/2).
//! * Accept errors (EMFILE under a descriptor flood) pause the loop briefly
//!   instead of spinning.
//! * Shutdown: stop accepting, ask every connection to finish its in-flight
//!   requests, and close whatever is left after `SHUTDOWN_TIMEOUT`.

use std::future::Future;
use std::io;
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
    pub shutdown_timeout: Duration,
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over MAX_CONNECTIONS: closed at once (RST-free close).
            drop(stream);
            continue;
        };
        tracing::trace!(%peer, "connection accepted");
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            inner: stream,
            activity: activity.clone(),
        });
        let (started, finished) = (activity.clone(), activity.clone());
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                started.request_started();
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            })
            .map_response(move |response| {
                finished.request_finished();
                response
            });
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
                        tracing::debug!(error.cause_chain = %e, %peer, "connection ended with an error");
                    }
                }
                reason = activity.expired(header_timeout, keepalive) => {
                    tracing::debug!(%peer, reason, "connection closed");
                }
            }
            drop(permit);
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

/// What a connection is doing, for its two timeouts. Times are
/// milliseconds since the accept.
struct Activity {
    start: Instant,
    /// The last byte in either direction.
    last_ms: AtomicU64,
    /// Requests handed to the service and not answered yet.
    in_flight: AtomicU64,
    /// When the pending request head began, plus one; 0 while none is
    /// pending. A new connection starts with a pending head at 0 ms.
    head_ms: AtomicU64,
    /// Wakes the watchdog when a request starts or ends, since that moves
    /// its deadline.
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
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
        if self.in_flight.load(Ordering::Relaxed) == 0 {
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
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_ms.store(0, Ordering::Relaxed);
        self.changed.notify_one();
    }

    fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.wrote();
        self.changed.notify_one();
    }

    /// Resolves when the connection should be closed, saying why: a request
    /// head not complete within `header` of its first byte, or nothing in
    /// progress and no traffic for `idle`.
    async fn expired(&self, header: Duration, idle: Duration) -> &'static str {
        loop {
            let now = self.now_ms();
            let head = self.head_ms.load(Ordering::Relaxed);
            let busy = self.in_flight.load(Ordering::Relaxed) > 0;
            let (deadline, reason) = if busy {
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
            if now >= deadline && !busy {
                return reason;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(deadline - now)) => {}
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
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
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
