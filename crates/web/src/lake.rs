//! The lake as the handlers share it: tables reloaded when a request comes
//! and the last reload is older than a few seconds, so new commits show up
//! without reloading on every request.

use std::time::{Duration, Instant};

use opensoc_lake::sql::{QueryLimits, SqlEngine};
use opensoc_lake::{Lake, LakeError};
use tokio::sync::Mutex;

/// How stale the table versions a request sees may be.
pub const REFRESH_AFTER: Duration = Duration::from_secs(2);

/// The lake behind the router.
pub struct SharedLake {
    lake: Lake,
    refreshed: Mutex<Instant>,
}

impl SharedLake {
    /// Share an open lake.
    pub fn new(lake: Lake) -> SharedLake {
        SharedLake { lake, refreshed: Mutex::new(Instant::now()) }
    }

    /// The lake, its tables reloaded when the last reload is older than
    /// [`REFRESH_AFTER`].
    pub async fn current(&self) -> Result<&Lake, LakeError> {
        let mut refreshed = self.refreshed.lock().await;
        if refreshed.elapsed() >= REFRESH_AFTER {
            self.lake.refresh().await?;
            *refreshed = Instant::now();
        }
        Ok(&self.lake)
    }

    /// A SQL engine over the current tables, within `limits`.
    pub async fn engine(&self, limits: QueryLimits) -> Result<SqlEngine, LakeError> {
        SqlEngine::with_limits(self.current().await?, limits).await
    }
}
