//! The sensor's configuration: a TOML file, with environment variables and
//! flags applied over it by the command (flags win, then environment, then
//! the file, then the defaults here).
//!
//! ```toml
//! sensor_id = "edge-1"
//!
//! [stream]
//! name = "opensoc"
//!
//! [spool]
//! dir = "/var/lib/opensoc-sensor/spool"
//! max_bytes = 1073741824
//! policy = "drop-oldest"      # or drop-newest, block
//!
//! [metrics]
//! listen = "127.0.0.1:9464"
//!
//! [[capture]]
//! interface = "eth0"
//! bpf = "not port 22"
//!
//! [syslog]
//! udp = "0.0.0.0:5514"
//! tcp = "0.0.0.0:5514"
//!
//! [[tail]]
//! path = "/var/log/suricata/eve.json"
//! ```
//!
//! Unknown keys are errors, so a typo does not pass silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::spool::{DropPolicy, SpoolConfig};

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("config {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error.
        source: Box<toml::de::Error>,
    },
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorConfig {
    /// Written to every row as `sensor_id`, and the spool's default name.
    pub sensor_id: Option<String>,
    /// `[stream]`.
    pub stream: StreamSection,
    /// `[batch]`.
    pub batch: BatchSection,
    /// `[spool]`.
    pub spool: SpoolSection,
    /// `[metrics]`.
    pub metrics: MetricsSection,
    /// `[[capture]]`: live interfaces.
    pub capture: Vec<CaptureSection>,
    /// `[syslog]`.
    pub syslog: SyslogSection,
    /// `[[tail]]`: JSON-lines files followed as they grow.
    pub tail: Vec<TailSection>,
    /// `[claim_check]`.
    pub claim_check: Option<ClaimCheckSection>,
}

/// `[stream]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSection {
    /// The stream's name.
    pub name: Option<String>,
    /// PutRecords attempts per record before it goes to the spool.
    pub max_attempts: u32,
    /// PutRecords calls in flight.
    pub in_flight: usize,
    /// Time limit of one PutRecords call (ms).
    pub call_timeout_ms: u64,
}

impl Default for StreamSection {
    fn default() -> Self {
        StreamSection { name: None, max_attempts: 6, in_flight: 4, call_timeout_ms: 10_000 }
    }
}

/// `[batch]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSection {
    /// Ship what is batched at least this often (ms).
    pub flush_ms: u64,
    /// zstd level of record payloads.
    pub zstd_level: i32,
    /// Ship packet data when this many bytes are batched.
    pub packet_bytes: usize,
}

impl Default for BatchSection {
    fn default() -> Self {
        BatchSection { flush_ms: 1000, zstd_level: 3, packet_bytes: 8 << 20 }
    }
}

/// `[spool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolSection {
    /// The directory (default: the state directory's `spool/SENSOR_ID`).
    pub dir: Option<PathBuf>,
    /// Most bytes on disk.
    pub max_bytes: u64,
    /// Segment file size.
    pub segment_bytes: u64,
    /// What to do when full.
    pub policy: DropPolicy,
    /// fsync every append.
    pub sync: bool,
}

impl Default for SpoolSection {
    fn default() -> Self {
        let d = SpoolConfig::default();
        SpoolSection {
            dir: None,
            max_bytes: d.max_bytes,
            segment_bytes: d.segment_bytes,
            policy: d.policy,
            sync: d.sync,
        }
    }
}

impl SpoolSection {
    /// The spool's settings.
    pub fn config(&self) -> SpoolConfig {
        SpoolConfig {
            max_bytes: self.max_bytes,
            segment_bytes: self.segment_bytes.clamp(1 << 16, self.max_bytes.max(1 << 16)),
            policy: self.policy,
            sync: self.sync,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serve Prometheus text on this address (`GET /metrics`).
    pub listen: Option<SocketAddr>,
}

/// `[[capture]]`: one live interface.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSection {
    /// The interface.
    pub interface: String,
    /// A BPF filter (tcpdump syntax).
    #[serde(default)]
    pub bpf: Option<String>,
    /// Bytes kept of each packet.
    #[serde(default = "default_snaplen")]
    pub snaplen: i32,
    /// Promiscuous mode.
    #[serde(default = "default_true")]
    pub promiscuous: bool,
    /// Kernel buffer (bytes).
    #[serde(default = "default_buffer")]
    pub buffer_bytes: i32,
}

fn default_snaplen() -> i32 {
    65535
}
fn default_true() -> bool {
    true
}
fn default_buffer() -> i32 {
    64 << 20
}

/// `[syslog]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogSection {
    /// UDP address to listen on.
    pub udp: Option<SocketAddr>,
    /// TCP address to listen on (octet counting or newline framing).
    pub tcp: Option<SocketAddr>,
    /// Longest message accepted; longer ones are cut and counted.
    pub max_message_bytes: usize,
}

impl Default for SyslogSection {
    fn default() -> Self {
        SyslogSection { udp: None, tcp: None, max_message_bytes: 64 << 10 }
    }
}

/// `[[tail]]`: one file followed as it grows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailSection {
    /// The file.
    pub path: PathBuf,
    /// Source type (default: detected from the first line).
    #[serde(default)]
    pub source_type: Option<String>,
}

/// `[claim_check]`: packet segments to S3, their keys on the stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCheckSection {
    /// The bucket.
    pub bucket: String,
    /// Key prefix.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Largest segment, in MiB (1 to 64; default 16). A flush ships what
    /// it has, so segments are smaller at low rates.
    #[serde(default = "default_segment_mib")]
    pub segment_mib: usize,
}

fn default_segment_mib() -> usize {
    16
}

impl ClaimCheckSection {
    /// The largest segment in bytes, within the envelope's limit.
    pub fn segment_bytes(&self) -> usize {
        (self.segment_mib.clamp(1, 64) << 20).min(opensoc_schemas::envelope::MAX_SEGMENT_BYTES - (64 << 10))
    }
}

fn default_prefix() -> String {
    "segments/".into()
}

impl SensorConfig {
    /// Load `path`, or the defaults when there is none.
    pub fn load(path: Option<&Path>) -> Result<SensorConfig, ConfigError> {
        let Some(path) = path else { return Ok(SensorConfig::default()) };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse { path: path.into(), source },
            other => other,
        })
    }

    /// Parse TOML text.
    pub fn parse(text: &str) -> Result<SensorConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: PathBuf::new(), source: Box::new(e) })
    }
}

/// Where the sensor keeps state (spool, tail positions): `$OPENSOC_SENSOR_STATE`,
/// else `$XDG_STATE_HOME/opensoc-sensor`, else `~/.local/state/opensoc-sensor`.
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OPENSOC_SENSOR_STATE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from).join(".local/state")
    });
    base.join("opensoc-sensor")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses_and_typos_are_refused() {
        let c = SensorConfig::parse(
            r#"
sensor_id = "edge-1"
[stream]
name = "s"
max_attempts = 3
[spool]
max_bytes = 1000000
policy = "block"
[metrics]
listen = "127.0.0.1:9464"
[[capture]]
interface = "eth0"
bpf = "tcp"
[syslog]
udp = "0.0.0.0:5514"
[[tail]]
path = "/var/log/eve.json"
source_type = "suricata-eve"
[claim_check]
bucket = "b"
"#,
        )
        .unwrap();
        assert_eq!(c.stream.name.as_deref(), Some("s"));
        assert_eq!(c.stream.max_attempts, 3);
        assert_eq!(c.stream.in_flight, 4, "defaults fill what the file leaves out");
        assert_eq!(c.spool.policy, DropPolicy::Block);
        assert_eq!(c.capture[0].snaplen, 65535);
        assert!(c.capture[0].promiscuous);
        assert_eq!(c.syslog.max_message_bytes, 64 << 10);
        assert_eq!(c.claim_check.unwrap().prefix, "segments/");
        let err = SensorConfig::parse("[stream]\nnmae = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("nmae"), "{err}");
    }
}
