//! Inputs: where the sensor's data comes from.

pub mod capture;
pub mod events;
pub mod http;
pub mod live;
pub mod logfile;
pub mod syslog;
pub mod tail;
