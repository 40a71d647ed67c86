//! Command-line interface: argument parsing and one module per command.

mod bench;
mod carve;
mod config;
mod demo;
mod esm;
mod export;
mod ingest;
mod intel;
mod maintain;
mod model;
mod query;
mod schema;
mod serve;
mod stack;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use opensoc_lake::output::OutputFormat;
use tracing_subscriber::EnvFilter;

pub use config::Config;

/// Exit codes that mean something.
pub mod exit {
    /// Everything worked.
    pub const OK: u8 = 0;
    /// A fatal error: nothing (more) could be done.
    pub const FAILURE: u8 = 1;
    /// Bad arguments (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// Done, but some input was damaged: see the quarantine table.
    pub const PARTIAL: u8 = 3;
    /// Nothing matched (carve).
    pub const NO_MATCH: u8 = 4;
}

/// OpenSOC: packets in, Delta Lake tables out, SQL and PCAP carving.
///
/// The lake is a folder (or s3://bucket/prefix) holding one Delta table per
/// kind of record: flows, packets, dns, http, tls, quarantine. Any engine that
/// reads Delta (DuckDB, Spark, Trino, Athena, Polars) reads it too.
#[derive(Debug, Parser)]
#[command(name = "opensoc", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML); see `docs/configuration.md`.
    #[arg(long, global = true, env = "OPENSOC_CONFIG")]
    pub config: Option<PathBuf>,
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log as JSON lines on stderr.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned text table.
    #[default]
    Table,
    /// JSON, one object per line.
    Json,
    /// CSV with a header.
    Csv,
}

impl From<Format> for OutputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => OutputFormat::Table,
            Format::Json => OutputFormat::Json,
            Format::Csv => OutputFormat::Csv,
        }
    }
}

/// Where the lake is.
#[derive(Debug, clap::Args)]
pub struct LakeArg {
    /// Lake location: a folder, or s3://bucket/prefix.
    #[arg(long, env = "OPENSOC_LAKE")]
    pub lake: Option<String>,
}

/// The ingest pipeline's enrichment and detection.
#[derive(Debug, clap::Args)]
pub struct PipelineArg {
    /// Folder of MaxMind databases (GeoIP2/GeoLite2 City or Country, ASN,
    /// Anonymous IP), or s3://BUCKET/PREFIX/ holding them: fills the src/dst
    /// country and ASN columns of flows, logs and findings. Reloaded when
    /// the files (or objects) change.
    #[arg(long, env = "OPENSOC_GEOIP")]
    pub geoip: Option<std::path::PathBuf>,
    /// Folder of detection rules (YAML, a Sigma subset; searched
    /// recursively), added to the built-in ones — a rule with a built-in
    /// rule's id replaces it.
    #[arg(long, env = "OPENSOC_RULES")]
    pub rules: Option<std::path::PathBuf>,
    /// Leave the built-in rules (port scans, DNS tunnels, generated
    /// domains, SSH password guessing) out.
    #[arg(long, env = "OPENSOC_NO_BUILTIN_RULES")]
    pub no_builtin_rules: bool,
    /// How the scores of the rules that fired on one row make the
    /// finding's score.
    #[arg(long, env = "OPENSOC_SCORE_AGGREGATION", value_parser = ["max", "sum", "mean"])]
    pub score_aggregation: Option<String>,
    /// Do not score rows against the lake's behavioural model (`opensoc
    /// model train`); without this, the newest model scores flows, DNS and
    /// TLS rows when one exists.
    #[arg(long, env = "OPENSOC_NO_SCORING")]
    pub no_scoring: bool,
}

impl PipelineArg {
    /// Flags and environment over the config file.
    pub fn options(&self, config: &Config) -> anyhow::Result<opensoc_lake::intel::PipelineOptions> {
        let score_aggregation = match &self.score_aggregation {
            Some(s) => s.parse().map_err(anyhow::Error::msg)?,
            None => config.detect.score_aggregation.unwrap_or_default(),
        };
        Ok(opensoc_lake::intel::PipelineOptions {
            geoip: self.geoip.clone().or_else(|| config.geoip.clone()),
            rules: self.rules.clone().or_else(|| config.detect.rules.clone()),
            no_builtin_rules: self.no_builtin_rules || config.detect.no_builtin_rules,
            score_aggregation,
            no_scoring: self.no_scoring,
        })
    }
}

/// Open (and create) the lake with the pipeline's enrichment and detection:
/// GeoIP and rules as given by flag, environment or the config file, and
/// the `intel` table's indicators.
pub async fn open_lake(
    location: opensoc_lake::LakeLocation,
    pipeline: &PipelineArg,
    config: &Config,
) -> anyhow::Result<opensoc_lake::Lake> {
    let opts = pipeline.options(config)?;
    opensoc_lake::Lake::open_enriched(location, &opts).await.context("opening the lake")
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read capture files and folders (pcap, pcapng, gzip) into the lake.
    ///
    /// Exit status: 0 all input read; 3 some input damaged (quarantined, the rest stored); 1 failure.
    Ingest(ingest::IngestArgs),
    /// Run a read-only SQL query over the lake's tables.
    ///
    /// Tables: flows, packets, dns, http, tls, logs, findings, intel,
    /// quarantine (`opensoc schema` lists their columns).
    Query(query::QueryArgs),
    /// Write the packets of a flow, host, network, port, protocol, sensor or
    /// time range (or a filter expression of them) to a pcap file.
    ///
    /// Exit status: 0 packets written; 4 nothing matched (an empty capture is written); 1 failure.
    Carve(carve::CarveArgs),
    /// Build a lake from the captures shipped with OpenSOC, summarise it and carve a flow.
    Demo(demo::DemoArgs),
    /// Measure the packet path's throughput (see docs/benchmarks.md).
    Bench(bench::BenchArgs),
    /// Run the local event-source runner: a Kinesis stream into the lake,
    /// through the ingest function's handler, exactly once per shard.
    ///
    /// Points at a local server with AWS_ENDPOINT_URL. Exit status: 0 drained
    /// (or stopped); 1 a batch kept failing or the stream is unreachable.
    Esm(esm::EsmArgs),
    /// Local stand-ins without Docker: the moto server (S3 + Kinesis) with
    /// the stream and bucket created.
    Stack(stack::StackArgs),
    /// Threat intelligence: load indicator feeds into the `intel` table.
    Intel(intel::IntelArgs),
    /// Keep the lake fast and within budget: retention, compaction (Z-order
    /// of flows and packets), checkpoints, vacuum; safe while ingest commits.
    ///
    /// Exit status: 0 done; 3 a table was skipped or a feed failed; 1 failure.
    Maintain(maintain::MaintainArgs),
    /// Serve the investigator's page and API: alert queue, alert context,
    /// search, SQL (POST /api/query) and PCAP (GET /api/carve).
    ///
    /// Exit status: 0 stopped (Ctrl-C); 1 the address or lake is unusable.
    Serve(serve::ServeArgs),
    /// Show the columns of the lake's tables, or write the Glue catalog
    /// document the Terraform module reads (`--format glue`).
    Schema(schema::SchemaArgs),
    /// Export the lake for other tools: `export ocsf` writes OCSF 1.3
    /// Parquet for Amazon Security Lake, incrementally.
    Export(export::ExportArgs),
    /// Behavioural models: `model train` learns per-host baselines from the
    /// lake into the `models` table (ingest then scores flows, DNS and TLS
    /// against the newest), `model show` prints one, `model eval` measures
    /// precision and recall on generated traffic with known anomalies.
    Model(model::ModelArgs),
}

/// Set up logging on stderr.
pub fn init_tracing(verbose: u8, json: bool) {
    // delta-kernel logs an error while probing a table that does not exist
    // yet, which is how every new table starts, and delta-rs warns on every
    // binary column it keeps no statistics for: neither is worth a user's attention.
    let default = match verbose {
        0 => "warn,buoyant_kernel::snapshot::builder=off,deltalake_core::writer::stats=error",
        1 => "info,buoyant_kernel::snapshot::builder=off,deltalake_core::writer::stats=error",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Run a parsed command; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Ingest(a) => ingest::run(a, &config).await,
        Command::Query(a) => query::run(a, &config).await,
        Command::Carve(a) => carve::run(a, &config).await,
        Command::Demo(a) => demo::run(a, &config).await,
        Command::Bench(a) => bench::run(a, &config).await,
        Command::Esm(a) => esm::run(a, &config).await,
        Command::Stack(a) => stack::run(a).await,
        Command::Intel(a) => intel::run(a, &config).await,
        Command::Maintain(a) => maintain::run(a, &config).await,
        Command::Serve(a) => serve::run(a, &config).await,
        Command::Schema(a) => schema::run(a),
        Command::Export(a) => export::run(a, &config).await,
        Command::Model(a) => model::run(a, &config).await,
    }
}
