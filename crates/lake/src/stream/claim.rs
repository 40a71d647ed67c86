//! Fetching the objects that claim-check records name.
//!
//! A claim that cannot be honoured for good — the object is gone, or it is
//! not what the claim says — is the record's problem: it becomes a
//! quarantine row, and the delivery goes on. Anything else (the network,
//! throttling, a 5xx, missing permissions) may pass, so the delivery
//! fails and is retried, which exactly-once ingest makes safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use object_store::path::Path;
use object_store::{GetOptions, ObjectStore};
use opensoc_schemas::envelope::{ClaimCheck, Envelope, MAX_SEGMENT_BYTES};

/// A claimed object could not be read, for now; retry the delivery.
#[derive(Debug, thiserror::Error)]
#[error("reading the claimed object {uri} failed (retrying the delivery is safe): {message}")]
pub struct ClaimFetchError {
    /// The object.
    pub uri: String,
    /// What the store said.
    pub message: String,
}

/// Reads claimed objects, one object store per bucket.
#[derive(Default)]
pub struct ClaimFetcher {
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// The claim in a record, when it is one (parse failures are left to the
/// decoder, which quarantines them with the reason).
pub fn claim_in(data: &[u8]) -> Option<ClaimCheck> {
    if !opensoc_schemas::envelope::is_claim(data) {
        return None;
    }
    Envelope::parse(data).ok()?.claim_check().ok()
}

impl ClaimFetcher {
    fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = stores.get(bucket) {
            return Ok(s.clone());
        }
        let store = crate::location::s3_store(bucket)?;
        stores.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    /// When `data` is a claim record, its object (as [`Self::fetch`]).
    pub async fn fetch_if_claim(&self, data: &[u8]) -> Result<Option<Result<Vec<u8>, String>>, ClaimFetchError> {
        match claim_in(data) {
            Some(c) => self.fetch(&c).await.map(Some),
            None => Ok(None),
        }
    }

    /// The object `claim` names: `Ok(Ok(bytes))`, `Ok(Err(why))` when it
    /// can never be read as claimed, `Err` when it may be later.
    pub async fn fetch(&self, claim: &ClaimCheck) -> Result<Result<Vec<u8>, String>, ClaimFetchError> {
        let (bucket, key) = claim.bucket_and_key();
        let store = match self.store(bucket) {
            Ok(s) => s,
            Err(why) => return Ok(Err(why)),
        };
        let path = match Path::parse(key) {
            Ok(p) => p,
            Err(e) => return Ok(Err(format!("bad key in {}: {e}", claim.uri))),
        };
        let transient = |e: object_store::Error| ClaimFetchError { uri: claim.uri.clone(), message: e.to_string() };
        let got = match store.get_opts(&path, GetOptions::default()).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Ok(Err(format!("claimed object {} does not exist (expired or never stored)", claim.uri)));
            }
            Err(e) => return Err(transient(e)),
        };
        if got.meta.size > MAX_SEGMENT_BYTES as u64 || got.meta.size != claim.bytes {
            return Ok(Err(format!("{} holds {} bytes, the claim says {}", claim.uri, got.meta.size, claim.bytes)));
        }
        let bytes = got.bytes().await.map_err(transient)?;
        Ok(Ok(bytes.to_vec()))
    }
}
