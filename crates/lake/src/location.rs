//! Where a lake lives: a local folder or an object-store prefix.

use std::collections::HashMap;
use std::path::PathBuf;

use url::Url;

use crate::LakeError;

/// The root of a lake; each table is a folder under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeLocation {
    root: Url,
}

impl LakeLocation {
    /// Parse the location of a lake that must already exist (for reading):
    /// a missing local folder is an error rather than created.
    pub fn parse_existing(spec: &str) -> Result<Self, LakeError> {
        if !spec.contains("://") && !std::path::Path::new(spec).is_dir() {
            return Err(LakeError::InvalidLocation {
                spec: spec.to_string(),
                reason: "no such folder (ingest something first: opensoc ingest --lake DIR CAPTURE)".into(),
            });
        }
        Self::parse(spec)
    }

    /// Parse `DIR`, `file:///DIR` or `s3://bucket/prefix`. Local folders are
    /// created when missing.
    pub fn parse(spec: &str) -> Result<Self, LakeError> {
        let invalid = |reason: String| LakeError::InvalidLocation { spec: spec.to_string(), reason };
        let mut root = if spec.contains("://") {
            Url::parse(spec).map_err(|e| invalid(e.to_string()))?
        } else {
            let path = PathBuf::from(spec);
            std::fs::create_dir_all(&path).map_err(|e| invalid(format!("cannot create the folder: {e}")))?;
            let abs = path.canonicalize().map_err(|e| invalid(e.to_string()))?;
            Url::from_directory_path(&abs).map_err(|_| invalid("not an absolute path".into()))?
        };
        match root.scheme() {
            "file" | "s3" | "s3a" | "memory" => {}
            other => return Err(invalid(format!("unsupported scheme {other:?} (use a folder or s3://)"))),
        }
        if !root.path().ends_with('/') {
            let p = format!("{}/", root.path());
            root.set_path(&p);
        }
        Ok(LakeLocation { root })
    }

    /// The lake root.
    pub fn root(&self) -> &Url {
        &self.root
    }

    /// True for a local folder.
    pub fn is_local(&self) -> bool {
        self.root.scheme() == "file"
    }

    /// A local lake's folder.
    pub fn local_path(&self) -> Option<PathBuf> {
        self.is_local().then(|| self.root.to_file_path().ok()).flatten()
    }

    /// The URL of one table.
    pub fn table_url(&self, name: &str) -> Url {
        // `name` is one of our table names: a plain path segment.
        self.root.join(&format!("{name}/")).unwrap_or_else(|_| self.root.clone())
    }

    /// Storage options for delta-rs: the AWS SDK's standard environment is
    /// read by delta-rs itself; plain-HTTP endpoints (local servers) need
    /// `allow_http`.
    pub fn storage_options(&self) -> HashMap<String, String> {
        if self.root.scheme().starts_with("s3") { s3_options_from_env() } else { HashMap::new() }
    }
}

/// `s3://bucket/prefix` as `(bucket, prefix)` (the prefix may be empty);
/// `None` when it is not an `s3://` address.
pub fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// An object store for `bucket`, with credentials, region and endpoint from
/// the AWS_* environment (as in Lambda, or pointing at a local server).
pub fn s3_store(bucket: &str) -> Result<std::sync::Arc<dyn object_store::ObjectStore>, String> {
    Ok(std::sync::Arc::new(s3_bucket(bucket)?))
}

/// [`s3_store`] as its concrete type, which can also presign URLs.
pub fn s3_bucket(bucket: &str) -> Result<object_store::aws::AmazonS3, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    if bucket.is_empty() || bucket.len() > 63 || bucket.contains(['/', ' ']) {
        return Err(format!("bad bucket name {bucket:?}"));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (k, v) in s3_options_from_env() {
        if let Ok(key) = k.parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, v);
        }
    }
    builder.build().map_err(|e| format!("no object store for s3://{bucket}: {e}"))
}

/// Object-store options for S3 from the AWS SDK's standard environment: an
/// endpoint override (`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`) means a
/// local server — path-style requests, and plain HTTP when it says so.
/// Region and credentials are read from the environment by the store itself.
pub fn s3_options_from_env() -> HashMap<String, String> {
    let mut opts = HashMap::new();
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").or_else(|_| std::env::var("AWS_ENDPOINT_URL")).ok();
    if let Some(ep) = endpoint {
        if ep.starts_with("http://") {
            opts.insert("allow_http".into(), "true".into());
        }
        opts.insert("aws_endpoint".into(), ep);
        opts.insert("aws_virtual_hosted_style_request".into(), "false".into());
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_folders_become_file_urls_with_table_subfolders() {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let loc = LakeLocation::parse(lake.to_str().unwrap()).unwrap();
        assert!(loc.is_local());
        assert!(lake.is_dir());
        assert!(loc.table_url("flows").as_str().ends_with("/lake/flows/"));
    }

    #[test]
    fn s3_uris_split_into_bucket_and_prefix() {
        assert_eq!(split_s3_uri("s3://b/ext/src/"), Some(("b", "ext/src/")));
        assert_eq!(split_s3_uri("s3://b"), Some(("b", "")));
        assert_eq!(split_s3_uri("/tmp/x"), None);
    }

    #[test]
    fn s3_prefixes_keep_their_path() {
        let loc = LakeLocation::parse("s3://bucket/some/prefix").unwrap();
        assert_eq!(loc.table_url("dns").as_str(), "s3://bucket/some/prefix/dns/");
    }

    #[test]
    fn reading_a_missing_local_lake_is_an_error_not_a_new_folder() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(LakeLocation::parse_existing(missing.to_str().unwrap()).is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(LakeLocation::parse("ftp://x/y").is_err());
    }
}
