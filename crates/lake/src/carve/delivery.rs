//! Handing a carve's file to someone who cannot take it inline: written to
//! S3 (e.g. `s3://bucket/carve/`) and reached through a presigned URL that
//! expires.

use std::time::Duration;

use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStoreExt, PutPayload};

/// Where large carves go.
#[derive(Debug)]
pub struct S3Delivery {
    store: AmazonS3,
    bucket: String,
    prefix: String,
    expires: Duration,
}

/// A delivered carve.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivered {
    /// The object, `s3://bucket/prefix/name`.
    pub s3_uri: String,
    /// A GET URL for it, valid for `expires_in_seconds`.
    pub url: String,
    /// How long the URL works.
    pub expires_in_seconds: u64,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The output location is not an `s3://bucket/prefix/` URI.
    #[error("carve output {0:?} is not an s3://bucket/prefix/ URI")]
    BadLocation(String),
    /// The store could not be set up.
    #[error("carve output: {0}")]
    Store(String),
    /// Writing or signing failed.
    #[error("writing the carve to {uri}: {source}")]
    Write {
        /// The object.
        uri: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
}

impl S3Delivery {
    /// Deliveries to `uri` (`s3://bucket/prefix/`), URLs valid for `expires`
    /// (at most 7 days, what SigV4 allows).
    pub fn new(uri: &str, expires: Duration) -> Result<S3Delivery, DeliveryError> {
        let (bucket, prefix) =
            crate::location::split_s3_uri(uri).ok_or_else(|| DeliveryError::BadLocation(uri.into()))?;
        if bucket.is_empty() {
            return Err(DeliveryError::BadLocation(uri.into()));
        }
        let store = crate::location::s3_bucket(bucket).map_err(DeliveryError::Store)?;
        Ok(S3Delivery {
            store,
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            expires: expires.min(Duration::from_secs(7 * 86_400)),
        })
    }

    /// Write `bytes` as `name` under the prefix and presign a GET for it.
    pub async fn deliver(&self, name: &str, bytes: Vec<u8>) -> Result<Delivered, DeliveryError> {
        let key = if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) };
        let path = Path::from(key.as_str());
        let uri = format!("s3://{}/{key}", self.bucket);
        let err = |source| DeliveryError::Write { uri: uri.clone(), source };
        self.store.put(&path, PutPayload::from(bytes)).await.map_err(err)?;
        let url = self.store.signed_url(reqwest::Method::GET, &path, self.expires).await.map_err(err)?;
        Ok(Delivered { s3_uri: uri.clone(), url: url.to_string(), expires_in_seconds: self.expires.as_secs() })
    }
}
