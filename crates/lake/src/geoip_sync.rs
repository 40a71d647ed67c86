//! MaxMind databases kept in S3 (`--geoip s3://bucket/prefix/`): copied to
//! a local folder at start, and copied again when an object changes
//! (checked at most once a minute), so that [`GeoEnricher`]'s own reload
//! picks the new release up. A sync that fails keeps the copies in use.
//!
//! [`GeoEnricher`]: opensoc_enrich::flows::GeoEnricher

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::LakeError;

/// How often S3 is asked whether a database changed.
const SYNC_EVERY: Duration = Duration::from_secs(60);

/// Databases under an S3 prefix, mirrored into a local folder.
pub struct GeoSync {
    uri: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    dir: PathBuf,
    etags: tokio::sync::Mutex<HashMap<String, String>>,
    checked: Mutex<Instant>,
}

fn err(uri: &str, reason: impl std::fmt::Display) -> LakeError {
    LakeError::Enrich(format!("GeoIP databases at {uri}: {reason}"))
}

impl GeoSync {
    /// Mirror the `*.mmdb` objects under `uri` (`s3://bucket/prefix`) into
    /// a folder of the local cache (`OPENSOC_CACHE_DIR`, else the temp
    /// folder); an error when there are none.
    pub async fn start(uri: &str) -> Result<GeoSync, LakeError> {
        let (bucket, prefix) = crate::location::split_s3_uri(uri).ok_or_else(|| err(uri, "not an s3:// address"))?;
        let store = crate::location::s3_store(bucket).map_err(|e| err(uri, e))?;
        let cache = std::env::var_os("OPENSOC_CACHE_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let safe: String =
            uri["s3://".len()..].chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let dir = cache.join("opensoc-geoip").join(safe);
        std::fs::create_dir_all(&dir).map_err(|e| err(uri, format!("cannot create {}: {e}", dir.display())))?;
        let sync = GeoSync {
            uri: uri.to_string(),
            store,
            prefix: ObjectPath::from(prefix.trim_end_matches('/')),
            dir,
            etags: tokio::sync::Mutex::new(HashMap::new()),
            checked: Mutex::new(Instant::now()),
        };
        let copied = sync.sync().await?;
        if copied == 0 {
            return Err(err(uri, "no .mmdb objects under this prefix"));
        }
        tracing::info!(uri, dir = %sync.dir.display(), databases = copied, "GeoIP databases copied from S3");
        Ok(sync)
    }

    /// The local folder the databases are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Copy every `.mmdb` object that is new or changed since the last
    /// sync (by ETag); returns how many were copied.
    pub async fn sync(&self) -> Result<usize, LakeError> {
        let mut etags = self.etags.lock().await;
        let objects: Vec<_> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| err(&self.uri, format!("listing: {e}")))?;
        let mut copied = 0;
        for o in objects {
            let key = o.location.to_string();
            let Some(name) = o.location.filename().filter(|n| n.ends_with(".mmdb")) else { continue };
            let tag = o.e_tag.clone().unwrap_or_else(|| format!("{}-{}", o.size, o.last_modified));
            if etags.get(&key) == Some(&tag) {
                continue;
            }
            let bytes = self
                .store
                .get_opts(&o.location, object_store::GetOptions::default())
                .await
                .map_err(|e| err(&self.uri, format!("reading {key}: {e}")))?
                .bytes()
                .await
                .map_err(|e| err(&self.uri, format!("reading {key}: {e}")))?;
            // Written beside and renamed: a reader never sees half a file.
            let tmp = self.dir.join(format!(".{name}.partial"));
            let dest = self.dir.join(name);
            std::fs::write(&tmp, &bytes)
                .and_then(|_| std::fs::rename(&tmp, &dest))
                .map_err(|e| err(&self.uri, format!("writing {}: {e}", dest.display())))?;
            etags.insert(key, tag);
            copied += 1;
        }
        Ok(copied)
    }

    /// [`Self::sync`] when a minute has passed since the last check; a
    /// failure is logged and the copies in use stay.
    pub async fn sync_if_due(&self) {
        {
            let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            if checked.elapsed() < SYNC_EVERY {
                return;
            }
            *checked = Instant::now();
        }
        match self.sync().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uri = %self.uri, databases = n, "new GeoIP databases copied from S3"),
            Err(e) => tracing::error!(error = %e, "GeoIP databases could not be checked; keeping the ones in use"),
        }
    }
}
