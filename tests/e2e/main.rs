//! End-to-end tests of the `opensoc` command against independent oracles
//! (tshark, capinfos) on the shared capture corpus. One test binary; one
//! module per concern.

mod carve;
mod cli;
mod community_id;
mod corpus;
mod metadata;
mod support;
