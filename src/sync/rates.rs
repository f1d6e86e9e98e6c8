//! The exchange-rate refresher (SPEC section 12): rates are restored from
//! the database (or the file beside the snapshot) at start-up, fetched then
//! and every `RATES_INTERVAL`, and kept across failures: a failed fetch or a
//! document that is not the reference rates leaves the rates in force.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::snapshot;
use crate::history::History;
use crate::markets::{Rates, RatesStore};
use crate::upstream::UpstreamClient;

/// The largest rates document accepted (the ECB's is about 2 KiB).
pub const MAX_BYTES: u64 = 1 << 20;

/// The first retry after a failure; doubled up to the interval.
const FIRST_RETRY: Duration = Duration::from_secs(5);

pub struct RatesSync {
    pub client: UpstreamClient,
    pub store: Arc<RatesStore>,
    pub history: Arc<History>,
    /// Beside the snapshot, when `SNAPSHOT_PATH` is set.
    pub file: Option<PathBuf>,
    pub interval: Duration,
}

/// Where the rates are kept beside a snapshot at `snapshot`.
pub fn file_beside(snapshot: &std::path::Path) -> PathBuf {
    let mut name = snapshot.as_os_str().to_owned();
    name.push(".rates.json");
    PathBuf::from(name)
}

impl RatesSync {
    /// Restores the kept rates (waiting briefly for the database), then
    /// refreshes in the background until `stop`.
    pub async fn start(self, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        self.restore().await;
        tokio::spawn(async move {
            let mut retry = FIRST_RETRY;
            loop {
                let wait = match self.refresh().await {
                    Ok(()) => {
                        retry = FIRST_RETRY;
                        self.interval
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, retry_in = ?retry, "exchange rates not refreshed; keeping the rates in force");
                        let wait = retry;
                        retry = (retry * 2).min(self.interval);
                        wait.min(self.interval)
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    }

    async fn restore(&self) {
        let from_db = tokio::time::timeout(Duration::from_secs(2), self.history.load_rates()).await;
        if let Ok(Ok(Some(text))) = from_db {
            if let Ok(rates) = Rates::from_stored(&text) {
                tracing::info!(
                    date = rates.date(),
                    "exchange rates restored from the database"
                );
                self.store.publish(rates);
            }
        }
        if let Some(file) = &self.file {
            let leftovers = file.clone();
            let _ =
                tokio::task::spawn_blocking(move || snapshot::remove_leftovers(&leftovers)).await;
            if let Ok(text) = tokio::fs::read_to_string(file).await {
                if let Ok(rates) = Rates::from_stored(&text) {
                    self.store.publish(rates);
                }
            }
        }
    }

    async fn refresh(&self) -> Result<(), String> {
        let fetched = self.client.fetch().await.map_err(|e| e.to_string())?;
        let rates = Rates::parse_ecb(&fetched.body).map_err(|e| e.to_string())?;
        let stored = rates.to_stored();
        let date = rates.date().to_owned();
        if self.store.publish(rates) {
            tracing::info!(date = %date, "exchange rates refreshed");
        }
        if let Err(e) = self.history.store_rates(&date, &stored).await {
            tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot keep the exchange rates in the database");
        }
        if let Some(file) = &self.file {
            if let Err(e) = write_atomically(file, stored.as_bytes()).await {
                tracing::warn!(error = %e, "cannot keep the exchange rates beside the snapshot");
            }
        }
        Ok(())
    }
}

/// Keeps the rates beside the snapshot, durably (see
/// [`snapshot::write_durably`]), off the runtime's workers.
async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let (path, bytes) = (path.to_path_buf(), bytes.to_vec());
    tokio::task::spawn_blocking(move || snapshot::write_durably(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}
