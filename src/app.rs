//! Assembly: [`Application::build`] loads the snapshot and partners, starts the
//! sync task and binds the listener (so tests can bind port 0 and ask
//! [`Application::port`]); [`Application::run_until_stopped`] serves until the
//! shutdown future resolves, stops the sync task first, then drains requests.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use std::time::Duration;

use crate::catalog::Outcome;
use crate::catalog::{Catalog, CatalogStore, snapshot, synthetic};
use crate::clicks::{ClickLog, ClickSettings};
use crate::config::{Config, Source};
use crate::fleet::Fleet;
use crate::history::{History, PlanSet, Recorder};
use crate::http::{self, AppState, ResponseCache};
use crate::metrics::Metrics;
use crate::referral::PartnerRegistry;
use crate::sync::{SyncHandle, SyncMetrics, SyncSettings, Syncer};
use crate::upstream::UpstreamClient;
use crate::webhooks::deliver::{Endpoints, Sender, SenderSettings, WebhookMetrics};

/// Bytes of rendered responses kept in memory.
const RESPONSE_CACHE_BYTES: u64 = 32 << 20;

pub struct Application {
    listener: TcpListener,
    server: crate::server::ServerSettings,
    router: axum::Router,
    store: Arc<CatalogStore>,
    partners: Option<(PathBuf, Arc<ArcSwap<PartnerRegistry>>)>,
    webhooks: Webhooks,
    sync_task: Option<JoinHandle<()>>,
    stop_sync: watch::Sender<bool>,
    clicks: Arc<ClickLog>,
    click_task: JoinHandle<()>,
    /// The exchange-rate refresher, when rates are fetched.
    rates_task: Option<JoinHandle<()>>,
}

/// Why the application could not start; the cause is kept for the log.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on LISTEN_ADDR {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the upstream client")]
    Upstream(#[source] reqwest::Error),
    #[error("cannot open the history database (DATABASE_URL)")]
    History(#[source] crate::history::HistoryError),
    /// The database refused the login or does not exist: a configuration
    /// error (exit 2), unlike a database that is merely unreachable.
    #[error(transparent)]
    DatabaseRefused(crate::config::ConfigError),
}

impl Application {
    pub async fn build(mut config: Config) -> Result<Self, StartError> {
        let store = Arc::new(CatalogStore::new());
        let sync_metrics = SyncMetrics::default();
        let click_metrics = crate::clicks::ClickMetrics::default();
        let webhook_metrics = WebhookMetrics::default();
        let rates = Arc::new(crate::markets::RatesStore::new());
        let metrics = Arc::new(
            Metrics::new(store.clone(), &sync_metrics)
                .with_clicks(&click_metrics)
                .with_webhooks(&webhook_metrics)
                .with_rates(rates.clone()),
        );
        let (stop_sync, stop_rx) = watch::channel(false);

        // Moved out: the live registry is the swappable one (SIGHUP), so the
        // shared config must not keep a start-up copy that goes stale.
        let partners = config.partners.take().map(|(path, registry)| {
            tracing::info!(partners = registry.len(), "partner registry loaded");
            (path, Arc::new(ArcSwap::from_pointee(registry)))
        });

        let history = Arc::new(
            History::connect(config.database_url.expose(), config.history_retention)
                .map_err(StartError::History)?,
        );
        history.check_login().await.map_err(|reason| {
            StartError::DatabaseRefused(crate::config::ConfigError::new(
                "DATABASE_URL",
                format!("the database refused it: {reason}"),
            ))
        })?;
        let recorder = Recorder::new(history.clone(), store.clone());
        let clicks = Arc::new(ClickLog::new(
            history.clone(),
            ClickSettings {
                retention: config.click_retention,
                salt_file: config.click_salt_file.clone(),
                capacity: crate::clicks::BUFFER_CAPACITY,
            },
            click_metrics,
        ));
        // Replicas agree on the day's visitor salt before the first click
        // (a database that is down is waited on briefly, then retried by the
        // flusher while clicks use a salt of this replica's own).
        if let Err(e) = tokio::time::timeout(Duration::from_secs(2), clicks.agree_salts())
            .await
            .unwrap_or(Ok(()))
        {
            tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot agree on the visitor salt yet");
        }
        let click_task = clicks.spawn(stop_rx.clone());
        let endpoints: Endpoints = Arc::new(ArcSwap::from_pointee(
            partners
                .as_ref()
                .map_or_else(Vec::new, |(_, registry)| registry.load().endpoints()),
        ));
        history.send_webhooks_to(endpoints.clone(), config.public_url.clone());
        let sender = Arc::new(
            Sender::new(
                history.clone(),
                endpoints.clone(),
                SenderSettings {
                    timeout: config.webhook_timeout,
                    allow_private: config.webhook_allow_private,
                    schedule: config.webhook_retry_schedule.clone(),
                },
                webhook_metrics,
            )
            .map_err(StartError::Upstream)?,
        );
        sender.spawn(stop_rx.clone());
        let webhooks = Webhooks {
            endpoints,
            sender: sender.clone(),
            allow_private: config.webhook_allow_private,
        };

        // SPEC section 13: replicas on PostgreSQL elect one syncing leader.
        let fleet = match &config.source {
            Source::Upstream(upstream) if history.is_postgres() && config.elect_leader => {
                Some(Fleet::new(
                    config.database_url.expose(),
                    history.clone(),
                    store.clone(),
                    upstream.max_bytes,
                    config.refresh_interval,
                ))
            }
            _ => None,
        };
        let (reports_tx, reports_rx) = tokio::sync::mpsc::unbounded_channel();
        let (mut reports_tx, mut reports_rx) = (Some(reports_tx), Some(reports_rx));
        if fleet.is_none() {
            reports_tx = None;
            reports_rx = None;
        }
        let (sync, sync_task) = match &config.source {
            Source::Demo => {
                let catalog = Arc::new(synthetic::demo_catalog());
                seed_demo_history(&history, &catalog).await;
                store.publish(catalog, Outcome::Demo, SystemTime::now());
                tracing::info!("serving the built-in demo catalog");
                (None, None)
            }
            Source::Upstream(upstream) => {
                // A fleet's replica loads the newest stored catalog before
                // anything else: ready without upstream.
                if let Some(fleet) = &fleet {
                    let _ = tokio::time::timeout(Duration::from_secs(5), fleet.follow()).await;
                }
                // (A catalog already loaded from the fleet is newer.)
                if let (Some(path), None) = (&config.snapshot_path, store.catalog()) {
                    if let Some(catalog) = restore_snapshot(&store, path).await {
                        // Its number is shown until the database confirms
                        // it (or, when empty, records it under that number).
                        history.note_seen(catalog.version());
                        let recorder = recorder.clone();
                        tokio::spawn(async move {
                            recorder
                                .record(&catalog, None, std::time::Duration::ZERO)
                                .await;
                        });
                    }
                }
                let client = UpstreamClient::new(upstream.clone()).map_err(StartError::Upstream)?;
                let syncer = Syncer::new(
                    client,
                    recorder,
                    store.clone(),
                    sync_metrics,
                    SyncSettings {
                        interval: config.refresh_interval,
                        max_shrink: config.feed_max_shrink,
                        accept_shrink: config.accept_shrink,
                        snapshot_path: config.snapshot_path.clone(),
                        role: fleet.as_ref().map(|f| f.roles()),
                        reports: reports_tx.take(),
                    },
                );
                let (handle, task): (SyncHandle, _) = syncer.spawn(stop_rx.clone());
                if let (Some(fleet), Some(reports)) = (&fleet, reports_rx.take()) {
                    fleet.set_sync(handle.clone());
                    fleet.spawn(reports, stop_rx);
                }
                (Some(handle), Some(task))
            }
        };

        let rates_task = match (&config.source, &config.rates_url) {
            (Source::Demo, _) => {
                rates.publish(crate::markets::Rates::builtin());
                None
            }
            (Source::Upstream(upstream), Some(url)) => {
                let client = UpstreamClient::keyless(
                    url.clone(),
                    upstream.timeout,
                    crate::sync::rates::MAX_BYTES,
                    "application/xml, text/xml",
                )
                .map_err(StartError::Upstream)?;
                let refresher = crate::sync::rates::RatesSync {
                    client,
                    store: rates.clone(),
                    history: history.clone(),
                    file: config
                        .snapshot_path
                        .as_deref()
                        .map(crate::sync::rates::file_beside),
                    interval: config.rates_interval,
                };
                Some(refresher.start(stop_sync.subscribe()).await)
            }
            (Source::Upstream(_), None) => None,
        };

        let config = Arc::new(config);
        if let Some(fleet) = &fleet {
            metrics.follow_role(fleet.roles());
        }
        let state = AppState {
            fleet,
            rates,
            config: config.clone(),
            store: store.clone(),
            history,
            clicks: clicks.clone(),
            webhooks: sender,
            metrics,
            partners: partners.as_ref().map(|(_, p)| p.clone()),
            sync,
            responses: Arc::new(ResponseCache::new(RESPONSE_CACHE_BYTES)),
        };
        let bind = |source| StartError::Bind {
            addr: config.listen_addr,
            source,
        };
        let listener = TcpListener::bind(config.listen_addr).await.map_err(bind)?;
        tracing::info!(address = %listener.local_addr().map_err(bind)?, "listening");
        Ok(Self {
            listener,
            server: config.server.clone(),
            router: http::router(state),
            store,
            partners,
            webhooks,
            sync_task,
            stop_sync,
            clicks,
            click_task,
            rates_task,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn store(&self) -> Arc<CatalogStore> {
        self.store.clone()
    }

    /// Serves until `shutdown` resolves: then the sync task is cancelled first,
    /// in-flight requests drain, and this returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            server,
            router,
            partners,
            webhooks,
            sync_task,
            stop_sync,
            clicks,
            click_task,
            rates_task,
            ..
        } = self;
        let shutdown_timeout = server.shutdown_timeout;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel();
        // Always: SIGHUP's default action would kill the process.
        tokio::spawn(reload_on_sighup(partners, webhooks));
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: stopping sync, draining requests");
            let _ = stopping_tx.send(tokio::time::Instant::now());
            let _ = stop_sync.send(true);
        };
        crate::server::serve(listener, router, server, signal).await?;
        if let Some(task) = sync_task {
            let _ = task.await;
        }
        if let Some(task) = rates_task {
            task.abort();
        }
        // The clicks the drained requests made are written within what is
        // left of SHUTDOWN_TIMEOUT.
        let _ = click_task.await;
        let left = stopping_rx.await.map_or(shutdown_timeout, |began| {
            shutdown_timeout.saturating_sub(began.elapsed())
        });
        clicks.shutdown(left.max(Duration::from_millis(500))).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Demo mode ships two versions (SPEC section 8): the previous demo catalog,
/// two days old, and the one served, a day old, a few price changes and one
/// added and one removed plan apart, so `/changes?since=1` shows something.
/// They are recorded once per database (by content), however often the demo
/// restarts on it.
async fn seed_demo_history(history: &History, catalog: &Catalog) {
    let day = std::time::Duration::from_secs(86_400);
    let now = SystemTime::now();
    let previous = synthetic::demo_previous_catalog();
    let versions = [
        (Arc::new(PlanSet::of(&previous)), now - 2 * day),
        (Arc::new(PlanSet::of(catalog)), now - day),
    ];
    match history.seed(&versions).await {
        Ok(version) => catalog.set_version(version),
        Err(e) => {
            tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot record the demo history");
            catalog.set_provisional(0);
        }
    }
}

async fn restore_snapshot(store: &CatalogStore, path: &std::path::Path) -> Option<Arc<Catalog>> {
    let path = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || {
        snapshot::remove_leftovers(&path);
        snapshot::load(&path)
    })
    .await;
    match loaded {
        Ok(Ok(Some(catalog))) => {
            tracing::info!(plans = catalog.len(), "catalog restored from snapshot");
            let catalog = Arc::new(catalog);
            store.restore(catalog.clone());
            return Some(catalog);
        }
        Ok(Ok(None)) => tracing::info!("no snapshot to restore"),
        Ok(Err(e)) => tracing::warn!(
            error.cause_chain = %crate::telemetry::cause_chain(&e),
            "ignoring unusable snapshot"
        ),
        Err(e) => tracing::warn!(error.cause_chain = %e, "snapshot loading failed"),
    }
    None
}

/// Handles SIGHUP for the life of the process (its default action would
/// end it): reloads `PARTNERS_FILE` when one is configured, keeping the
/// current registry when the new file is bad, and otherwise says in one line
/// that there is nothing to reload.
/// What a registry reload updates besides the registry: the webhook
/// endpoints, and the sender's 410-disabled set.
struct Webhooks {
    endpoints: Endpoints,
    sender: Arc<Sender>,
    allow_private: bool,
}

async fn reload_on_sighup(
    partners: Option<(PathBuf, Arc<ArcSwap<PartnerRegistry>>)>,
    webhooks: Webhooks,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; partner reloads disabled");
            return;
        };
        while hangups.recv().await.is_some() {
            match &partners {
                Some((path, registry)) => {
                    if reload_partners(path, registry, webhooks.allow_private) {
                        webhooks
                            .endpoints
                            .store(Arc::new(registry.load().endpoints()));
                        webhooks.sender.registry_reloaded();
                    }
                }
                None => {
                    tracing::info!("SIGHUP received; nothing to reload (PARTNERS_FILE is unset)")
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (partners, webhooks);
    }
}

/// Swaps in a freshly read registry, or keeps the current one on error.
pub fn reload_partners(
    path: &std::path::Path,
    registry: &ArcSwap<PartnerRegistry>,
    allow_private_webhooks: bool,
) -> bool {
    match PartnerRegistry::load(path)
        .and_then(|r| r.check_webhooks(allow_private_webhooks).map(|()| r))
    {
        Ok(new) => {
            tracing::info!(partners = new.len(), "partner registry reloaded");
            registry.store(Arc::new(new));
            true
        }
        Err(e) => {
            tracing::error!(
                error.cause_chain = %crate::telemetry::cause_chain(&e),
                "partner registry reload failed; keeping the previous one"
            );
            false
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
