//! End-to-end tests of the `opensoc` command against independent oracles
//! (tshark, capinfos) on the shared capture corpus, and of the cloud path
//! against a moto server. One test binary; one
//! module per concern.

mod browser;
mod carve;
mod cli;
mod cloud;
mod community_id;
#[cfg(feature = "docker")]
mod containers;
mod corpus;
mod detect;
mod enrich;
mod faults;
mod infra;
mod infra_variables;
mod interop;
mod lambda;
mod maintain;
mod metadata;
mod model;
mod ocsf;
mod sensor;
mod support;
mod web;
mod webhook;
mod workflow;
