//! OpenSOC enrichment inside the ingest pipeline: GeoIP and ASN of the
//! endpoints, threat-intelligence indicators and their matching (log
//! parsing and detection follow).

pub mod detect;
pub mod flows;
pub mod geo;
pub mod intel;
pub mod logs;
#[cfg(any(test, feature = "source-json"))]
pub mod source_json;
#[cfg(test)]
mod test_paths;
