//! `opensoc bench`: throughput figures of the packet path, without the lake.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use opensoc_net::{CaptureReader, FlowMeter, decode};

use super::{Config, exit};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Read, decode and meter flows (with DNS/HTTP/TLS metadata): the sensor's
    /// per-packet work, without writing anything.
    Meter {
        /// Capture files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only read and decode; no flow metering.
        #[arg(long)]
        decode_only: bool,
    },
    /// Enrichment and detection cost per row, on the rows of an existing
    /// lake: GeoIP of both endpoints, then detection (intel from the
    /// lake's `intel` table, Suricata alerts, built-in and --rules rules).
    Detect {
        /// The lake whose rows are the input.
        #[arg(long)]
        lake: String,
        /// The tables to read (every row of each).
        #[arg(long, value_delimiter = ',', default_value = "flows,dns,http,tls,logs")]
        tables: Vec<String>,
        /// Rounds over the rows (the figure is the best round).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        #[command(flatten)]
        pipeline: super::PipelineArg,
    },
    /// Log parsing throughput: every line of each file parsed (as its
    /// first line suggests, or --log-type), nothing written.
    Logs {
        /// Log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Parse every file as this type.
        #[arg(long)]
        log_type: Option<String>,
    },
}

/// Peak resident memory of this process (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub async fn run(args: BenchArgs, config: &Config) -> anyhow::Result<u8> {
    match args.what {
        BenchWhat::Meter { files, decode_only } => {
            let flow_cfg = config.ingest().flow;
            let started = Instant::now();
            let (mut packets, mut bytes, mut flows, mut records) = (0u64, 0u64, 0u64, 0u64);
            for f in &files {
                let mut reader = CaptureReader::open(f).with_context(|| format!("opening {}", f.display()))?;
                let mut meter = FlowMeter::new(flow_cfg);
                while let Some(p) = reader.next_packet().with_context(|| format!("reading {}", f.display()))? {
                    packets += 1;
                    bytes += p.data.len() as u64;
                    let d = decode(p.linktype, p.data);
                    if !decode_only {
                        meter.process(&p, &d);
                        if packets % 65_536 == 0 {
                            flows += meter.drain_flows().len() as u64;
                            records += meter.drain_records().len() as u64;
                        }
                    } else {
                        std::hint::black_box(&d);
                    }
                }
                meter.flush();
                flows += meter.drain_flows().len() as u64;
                records += meter.drain_records().len() as u64;
            }
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let out = serde_json::json!({
                "mode": if decode_only { "decode" } else { "decode+meter" },
                "packets": packets,
                "captured_bytes": bytes,
                "flows": flows,
                "metadata_records": records,
                "seconds": secs,
                "packets_per_sec": packets as f64 / secs,
                "mbytes_per_sec": bytes as f64 / secs / 1e6,
                "peak_rss_bytes": peak_rss_bytes(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(exit::OK)
        }
        BenchWhat::Detect { lake, tables, rounds, pipeline } => {
            detect(&lake, &tables, rounds.max(1), &pipeline, config).await
        }
        BenchWhat::Logs { files, log_type } => logs(&files, log_type.as_deref()),
    }
}

/// A query result cast to the table's own schema (DataFusion may hand
/// strings back as views).
fn as_table(
    t: opensoc_lake::Table,
    b: &arrow::record_batch::RecordBatch,
) -> anyhow::Result<arrow::record_batch::RecordBatch> {
    let schema = t.schema();
    let cols = schema
        .fields()
        .iter()
        .map(|f| {
            let c = b.column_by_name(f.name()).with_context(|| format!("{} has no column {}", t.name(), f.name()))?;
            Ok(arrow::compute::cast(c, f.data_type())?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(arrow::record_batch::RecordBatch::try_new(schema, cols)?)
}

async fn detect(
    spec: &str,
    tables: &[String],
    rounds: u32,
    pipeline: &super::PipelineArg,
    config: &Config,
) -> anyhow::Result<u8> {
    let location = opensoc_lake::LakeLocation::parse(spec)?;
    let lake = opensoc_lake::Lake::open_existing(location).await?;
    let opts = pipeline.options(config)?;
    let geo = match &opts.geoip {
        Some(dir) => Some(opensoc_enrich::flows::GeoEnricher::open(dir)?),
        None => None,
    };
    let (lake, indicators) = lake.with_detector(opts.detector()?).with_intel_from_table().await?;
    // The lake's behavioural model, when it has one: scored inside detection, and alone.
    let model =
        if opts.no_scoring { None } else { opensoc_lake::model::load_newest(&lake).await?.map(std::sync::Arc::new) };
    let engine = opensoc_lake::sql::SqlEngine::new(&lake).await?;
    let mut out = Vec::new();
    for name in tables {
        let t = opensoc_lake::Table::from_name(name).with_context(|| format!("no table {name}"))?;
        let (_, batches) = engine.query(&format!("SELECT * FROM {name}")).await?;
        let batches = batches.iter().map(|b| as_table(t, b)).collect::<anyhow::Result<Vec<_>>>()?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            continue;
        }
        let (mut geo_best, mut detect_best, mut score_best, mut findings, mut anomalies) =
            (f64::MAX, f64::MAX, f64::MAX, 0, 0);
        for _ in 0..rounds {
            // A fresh detector each round: windows start empty, as in a new run.
            let detector = opts.detector()?;
            let detector = match lake.detector().intel_index() {
                Some(ix) => detector.with_intel(ix),
                None => detector,
            };
            detector.set_model(model.clone());
            let started = Instant::now();
            let enriched: Vec<_> = match (&geo, t) {
                (Some(g), opensoc_lake::Table::Flows | opensoc_lake::Table::Logs) => {
                    batches.iter().map(|b| g.enrich_flows(b)).collect::<Result<_, _>>()?
                }
                _ => batches.clone(),
            };
            geo_best = geo_best.min(started.elapsed().as_secs_f64());
            let started = Instant::now();
            findings = 0;
            for b in &enriched {
                findings += detector.findings(t, b)?.map_or(0, |f| f.num_rows());
            }
            detect_best = detect_best.min(started.elapsed().as_secs_f64());
            if let Some(m) = &model {
                let scorer = opensoc_model::Scorer::new(m.clone());
                let started = Instant::now();
                anomalies = enriched.iter().map(|b| scorer.score(t, b).len()).sum::<usize>();
                score_best = score_best.min(started.elapsed().as_secs_f64());
            }
        }
        out.push(serde_json::json!({
            "table": name,
            "rows": rows,
            "findings": findings,
            "geoip_ns_per_row": geo
                .as_ref()
                .filter(|_| matches!(t, opensoc_lake::Table::Flows | opensoc_lake::Table::Logs))
                .map(|_| geo_best * 1e9 / rows as f64),
            "detect_ns_per_row": detect_best * 1e9 / rows as f64,
            "score_ns_per_row": model.as_ref().map(|_| score_best * 1e9 / rows as f64),
            "anomalies": model.as_ref().map(|_| anomalies),
        }));
    }
    let report = serde_json::json!({
        "rules": lake.detector().rules().len(),
        "indicators": indicators,
        "model": model.as_ref().map(|m| m.id.clone()),
        "geoip": opts.geoip,
        "tables": out,
        "peak_rss_bytes": peak_rss_bytes(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(exit::OK)
}

fn logs(files: &[PathBuf], log_type: Option<&str>) -> anyhow::Result<u8> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let kind = log_type
            .map(str::to_string)
            .unwrap_or_else(|| lines.first().map_or("text", |l| opensoc_enrich::logs::detect(l)).to_string());
        let mut parser = opensoc_enrich::logs::LogParser::new();
        let origin = f.display().to_string();
        let started = Instant::now();
        let mut bad = 0u64;
        for l in &lines {
            if parser.parse(&kind, &origin, 0, l).is_err() {
                bad += 1;
            }
        }
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        out.push(serde_json::json!({
            "file": origin,
            "source_type": kind,
            "lines": lines.len(),
            "errors": bad,
            "lines_per_sec": lines.len() as f64 / secs,
            "mbytes_per_sec": text.len() as f64 / secs / 1e6,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(exit::OK)
}
