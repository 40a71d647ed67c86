//! Inputs: where the sensor's data comes from.

pub mod capture;
pub mod logfile;
