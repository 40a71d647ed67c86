//! Behavioural models for OpenSOC: baselines learned from a window of the
//! lake, and anomaly scoring of incoming rows against them.
//!
//! - [`train::Trainer`] turns flows, DNS queries and TLS server names into
//!   per-host [`profile::HostProfile`]s (bytes, connections, distinct peers
//!   and ports per hour; peer countries and ASNs; domains per day and the
//!   most looked-up ones), the host pairs that were already periodic, and
//!   lake-wide sets of domains, countries and ASNs. Distinct counts use
//!   HyperLogLog, heavy hitters Space-Saving, the domain set a Bloom
//!   filter, distributions the median, MAD and 95th percentile
//!   ([`sketch`], [`stats`]).
//! - [`store`] writes a model as rows of the `models` table and reads it
//!   back, refusing anything damaged with a reason.
//! - [`score::Scorer`] scores flows, DNS and TLS rows: a new country or ASN
//!   for the host, bytes far above its norm for the hour, regular
//!   connections with low jitter (beacons), and bursts of domains nobody
//!   looked up before. Hosts with too little history are not scored.
//!
//! The crate reads Arrow batches and knows nothing of Delta or SQL: the
//! lake crate feeds it and stores its output.

pub mod beacon;
pub mod columns;
pub mod domain;
pub mod hash;
pub mod network;
pub mod profile;
pub mod score;
pub mod sketch;
pub mod stats;
pub mod store;
pub mod synth;
pub mod train;

pub use profile::{HostProfile, Model, Settings};
pub use score::{Anomaly, ScoreCounts, Scorer};
pub use store::ModelError;
pub use train::{FlowSample, Trainer};

#[cfg(test)]
mod tests;
