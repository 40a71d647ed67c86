//! Where the unit tests find their data, decided when they run.
//!
//! cargo and nextest set `CARGO_MANIFEST_DIR` for the test process; the
//! compile-time value is only the fallback, because a test binary reused from
//! a shared target folder may have been built in another checkout.

use std::path::PathBuf;

/// This crate's folder.
pub(crate) fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The shared test data (`../shared/data` beside the repository, or `OPENSOC_SHARED_DATA`).
pub(crate) fn shared_data() -> PathBuf {
    std::env::var_os("OPENSOC_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("../../../shared/data"))
}
