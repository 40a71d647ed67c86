//! The configuration file: defaults that flags and environment override.

use std::path::{Path, PathBuf};

use anyhow::Context;
use opensoc_lake::ingest::IngestConfig;
use opensoc_net::FlowConfig;
use serde::Deserialize;

/// `opensoc.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default lake location.
    pub lake: Option<String>,
    /// Folder of MaxMind databases for GeoIP enrichment.
    pub geoip: Option<std::path::PathBuf>,
    /// Ingest settings.
    #[serde(default)]
    pub ingest: IngestSection,
    /// Detection settings.
    #[serde(default)]
    pub detect: DetectSection,
    /// Threat-intelligence settings.
    #[serde(default)]
    pub intel: IntelSection,
    /// Maintenance settings.
    #[serde(default)]
    pub maintain: MaintainSection,
    /// Behavioural model settings.
    #[serde(default)]
    pub model: ModelSection,
}

/// `[model]`: the training window and the scoring settings stored with
/// each model (`internal`, `min_active_hours`, `min_active_days`,
/// `threshold`, `volume_ratio`, `volume_floor_bytes`, `beacon_*`,
/// `domain_burst*`; see `opensoc_model::Settings`).
#[derive(Debug, Default)]
pub struct ModelSection {
    /// Days of history `opensoc model train` learns from (default 14).
    pub window_days: Option<u32>,
    /// The scoring settings (unknown keys are errors).
    pub settings: opensoc_model::Settings,
}

impl<'de> Deserialize<'de> for ModelSection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // `window_days` is ours; the rest must be the model's settings
        // (serde's flatten would let a misspelt setting through).
        let mut table = toml::Table::deserialize(d)?;
        let window_days = match table.remove("window_days") {
            Some(v) => Some(v.try_into().map_err(|e| D::Error::custom(format!("window_days: {e}")))?),
            None => None,
        };
        let settings = toml::Value::Table(table).try_into().map_err(D::Error::custom)?;
        Ok(ModelSection { window_days, settings })
    }
}

/// `[maintain]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintainSection {
    /// `[maintain.retention]`: days per table (`0` keeps everything).
    #[serde(default)]
    pub retention: std::collections::BTreeMap<String, u32>,
    /// Vacuum files unreferenced for longer than this many hours.
    pub vacuum_hours: Option<u64>,
    /// Target size of compacted files, MiB.
    pub target_file_mib: Option<u64>,
    /// Largest flows/packets partition rewritten in Z-order, MiB.
    pub zorder_max_mib: Option<u64>,
}

/// `[intel]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelSection {
    /// `[[intel.feeds]]`: what `opensoc intel sync` keeps current.
    #[serde(default)]
    pub feeds: Vec<opensoc_lake::intel_sync::Feed>,
}

/// `[detect]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSection {
    /// Folder of YAML rules (added to the built-in ones).
    pub rules: Option<std::path::PathBuf>,
    /// Leave the built-in rules out.
    #[serde(default)]
    pub no_builtin_rules: bool,
    /// `max`, `sum` or `mean`.
    pub score_aggregation: Option<opensoc_enrich::detect::ScoreAggregation>,
}

/// `[ingest]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSection {
    /// Value of every row's `sensor_id`.
    pub sensor_id: Option<String>,
    /// Commit after this many MiB of packet data.
    pub batch_mib: Option<usize>,
    /// Community ID seed.
    pub community_id_seed: Option<u16>,
    /// Idle timeouts in seconds.
    pub tcp_timeout_secs: Option<u32>,
    /// UDP idle timeout.
    pub udp_timeout_secs: Option<u32>,
    /// ICMP idle timeout.
    pub icmp_timeout_secs: Option<u32>,
    /// Active timeout.
    pub active_timeout_secs: Option<u32>,
    /// Packet cap per flow record.
    pub max_flow_packets: Option<u64>,
}

impl Config {
    /// Load the file if one is named; a missing named file is an error.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
    }

    /// The lake location from flags/env, else the file.
    pub fn lake(&self, flag: Option<&str>) -> anyhow::Result<String> {
        flag.map(str::to_string)
            .or_else(|| self.lake.clone())
            .context("no lake given: pass --lake DIR, set OPENSOC_LAKE, or put `lake = \"DIR\"` in the config file")
    }

    /// Ingest settings with the file's values applied.
    pub fn ingest(&self) -> IngestConfig {
        let mut c = IngestConfig::default();
        let i = &self.ingest;
        if let Some(s) = &i.sensor_id {
            c.sensor_id = s.clone();
        }
        if let Some(m) = i.batch_mib {
            c.batch_bytes = m.max(1) << 20;
        }
        let sec = |s: u32| s as i64 * 1_000_000_000;
        let f: &mut FlowConfig = &mut c.flow;
        if let Some(v) = i.community_id_seed {
            f.community_id_seed = v;
        }
        if let Some(v) = i.tcp_timeout_secs {
            f.tcp_idle_ns = sec(v);
        }
        if let Some(v) = i.udp_timeout_secs {
            f.udp_idle_ns = sec(v);
        }
        if let Some(v) = i.icmp_timeout_secs {
            f.icmp_idle_ns = sec(v);
        }
        if let Some(v) = i.active_timeout_secs {
            f.active_timeout_ns = sec(v);
        }
        if let Some(v) = i.max_flow_packets {
            f.max_packets = v.max(1);
        }
        c
    }
}

/// OpenSOC's folder for state the commands keep between runs (event-source
/// checkpoints, the local stack's pid file): `$XDG_STATE_HOME/opensoc`, else
/// `~/.local/state/opensoc`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("opensoc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_reach_the_ingest_config() {
        let c: Config =
            toml::from_str("lake = \"/tmp/x\"\n[ingest]\nsensor_id = \"edge-1\"\nudp_timeout_secs = 5\n").unwrap();
        assert_eq!(c.lake(None).unwrap(), "/tmp/x");
        assert_eq!(c.lake(Some("/y")).unwrap(), "/y");
        let i = c.ingest();
        assert_eq!(i.sensor_id, "edge-1");
        assert_eq!(i.flow.udp_idle_ns, 5_000_000_000);
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("lakes = 1").is_err());
        assert!(toml::from_str::<Config>("[model]\nthreshhold = 60\n").is_err());
    }

    #[test]
    fn model_settings_come_from_the_model_section() {
        let c: Config =
            toml::from_str("[model]\nwindow_days = 7\nthreshold = 60\ninternal = [\"10.0.0.0/8\"]\n").unwrap();
        assert_eq!(c.model.window_days, Some(7));
        assert_eq!(c.model.settings.threshold, 60);
        assert_eq!(c.model.settings.internal.0.len(), 1);
        assert_eq!(c.model.settings.min_active_days, opensoc_model::Settings::default().min_active_days);
    }
}
