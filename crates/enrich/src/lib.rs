//! OpenSOC enrichment inside the ingest pipeline: GeoIP and ASN of the
//! endpoints (threat intelligence, log parsing and detection follow).

pub mod flows;
pub mod geo;
#[cfg(any(test, feature = "source-json"))]
pub mod source_json;
