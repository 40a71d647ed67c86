//! `opensoc ingest`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use opensoc_lake::ingest::{FileReport, Ingestor, Totals};
use opensoc_lake::{Lake, LakeLocation};

use super::{Config, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Capture files (pcap, pcapng, gzip) and log files, or folders to
    /// search recursively for captures and logs (*.log, *.json, *.ndjson,
    /// *.eve, *.cef, *.syslog and their .gz).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// How to parse the log files: syslog, zeek, suricata-eve, cef, json or
    /// text. By default each file's first line tells.
    #[arg(long, value_parser = ["syslog", "zeek", "suricata-eve", "cef", "json", "text"])]
    pub log_type: Option<String>,
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub pipeline: super::PipelineArg,
    /// Report format: a table, or one JSON object per file and a totals object.
    #[arg(long, value_enum, default_value = "table")]
    pub format: IngestFormat,
    /// Value of every row's sensor_id.
    #[arg(long, env = "OPENSOC_SENSOR_ID")]
    pub sensor_id: Option<String>,
    /// Commit after this many MiB of packet data [default: 96]. Larger
    /// batches cost less CPU per packet and more memory (two batches are
    /// held at once).
    #[arg(long)]
    pub batch_mib: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestFormat {
    /// A table per file and totals.
    Table,
    /// JSON lines.
    Json,
}

/// One file to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A capture (pcap or pcapng, maybe gzipped).
    Capture(PathBuf),
    /// A log file (maybe gzipped).
    Log(PathBuf),
}

impl Input {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            Input::Capture(p) | Input::Log(p) => p,
        }
    }

    /// What `path` holds: a capture when it is named like one (so that a
    /// damaged capture gets the capture reader's precise error) or starts
    /// like one (after gunzip for .gz files), else a log file.
    pub fn of(path: PathBuf) -> Input {
        if named_like(&path, &CAPTURE_EXTENSIONS) || looks_like_capture(&path) {
            Input::Capture(path)
        } else {
            Input::Log(path)
        }
    }
}

const CAPTURE_EXTENSIONS: [&str; 5] = ["pcap", "pcapng", "cap", "dmp", "trace"];
const LOG_EXTENSIONS: [&str; 6] = ["log", "json", "ndjson", "eve", "cef", "syslog"];

/// Whether the file's name ends in one of `extensions`, or one of them and `.gz`.
fn named_like(path: &Path, extensions: &[&str]) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    extensions.iter().any(|e| name.ends_with(&format!(".{e}")))
}

/// Files to read: named files as given (a capture by name or content, else
/// a log); folders searched for files that start like a capture and for
/// files named like logs.
pub fn collect_inputs(paths: &[PathBuf]) -> anyhow::Result<(Vec<Input>, usize)> {
    let mut files = Vec::new();
    let mut skipped = 0;
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(p)
                .follow_links(false)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .collect();
            found.sort();
            for f in found {
                if looks_like_capture(&f) {
                    files.push(Input::Capture(f));
                } else if named_like(&f, &LOG_EXTENSIONS) {
                    files.push(Input::Log(f));
                } else {
                    skipped += 1;
                }
            }
        } else {
            files.push(Input::of(p.clone()));
        }
    }
    Ok((files, skipped))
}

fn looks_like_capture(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let Ok(mut f) = std::fs::File::open(path) else { return false };
    if f.read_exact(&mut magic).is_err() {
        return false;
    }
    if magic[..2] == opensoc_net::capture::GZIP_MAGIC[..2] {
        // A gzipped capture or a gzipped log: look inside.
        let Ok(f) = std::fs::File::open(path) else { return false };
        let mut inner = [0u8; 4];
        return flate2::read::MultiGzDecoder::new(f).read_exact(&mut inner).is_ok()
            && opensoc_net::capture::looks_like_capture(&inner);
    }
    opensoc_net::capture::looks_like_capture(&magic)
}

pub async fn run(args: IngestArgs, config: &Config) -> anyhow::Result<u8> {
    let location = LakeLocation::parse(&config.lake(args.lake.lake.as_deref())?)?;
    let (files, skipped) = collect_inputs(&args.paths)?;
    if skipped > 0 {
        tracing::info!(skipped, "files in the given folders that are not captures were skipped");
    }
    let mut cfg = config.ingest();
    if let Some(s) = args.sensor_id {
        cfg.sensor_id = s;
    }
    if let Some(m) = args.batch_mib {
        cfg.batch_bytes = m.max(1) << 20;
    }
    let lake = Arc::new(super::open_lake(location, &args.pipeline, config).await?);
    let status = lake.scoring_status();
    if let opensoc_lake::model::ScoringStatus::Unavailable(_) = &status {
        eprintln!("warning: {status}");
    }
    let (reports, totals, elapsed) =
        ingest_files(lake.clone(), cfg, &files, args.log_type.as_deref(), !args.no_progress).await?;
    let counts = lake.scoring_counts();
    match args.format {
        IngestFormat::Json => {
            for r in &reports {
                println!("{}", serde_json::to_string(r)?);
            }
            let scoring = serde_json::json!({ "status": status.to_string(), "rows": counts });
            println!(
                "{}",
                serde_json::json!({ "totals": totals, "seconds": elapsed.as_secs_f64(), "scoring": scoring })
            );
        }
        IngestFormat::Table => {
            print_table(&reports, &totals, elapsed);
            match status {
                opensoc_lake::model::ScoringStatus::Active { .. } => println!(
                    "{status}: {} rows scored, {} of hosts without a profile and {} of hosts with too little history not scored, {} anomalies",
                    counts.scored, counts.unscored_new_host, counts.unscored_thin_history, counts.anomalies
                ),
                _ => println!("{status}"),
            }
        }
    }
    Ok(if totals.files_with_errors > 0 || totals.quarantined > 0 { exit::PARTIAL } else { exit::OK })
}

/// Ingest files with a progress bar on stderr.
pub async fn ingest_files(
    lake: Arc<Lake>,
    cfg: opensoc_lake::ingest::IngestConfig,
    files: &[Input],
    log_type: Option<&str>,
    progress: bool,
) -> anyhow::Result<(Vec<FileReport>, Totals, Duration)> {
    let started = Instant::now();
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f.path()).ok()).map(|m| m.len()).sum();
    let mut ingestor = Ingestor::new(lake, cfg);
    let bar = if progress && !files.is_empty() {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let ticker = bar.clone().map(|bar| {
        let counter = ingestor.progress_counter();
        tokio::spawn(async move {
            loop {
                bar.set_position(counter.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let mut reports = Vec::with_capacity(files.len());
    for f in files {
        if let Some(bar) = &bar {
            bar.set_message(f.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
        let r = match f {
            Input::Capture(p) => ingestor.ingest_file(p).await?,
            Input::Log(p) => ingestor.ingest_log_file(p, log_type).await?,
        };
        if let Some(e) = &r.error {
            tracing::warn!(file = %r.file, error = %e, "input damaged; what was complete is kept, the rest quarantined");
        }
        reports.push(r);
    }
    let totals = ingestor.finish().await?;
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok((reports, totals, started.elapsed()))
}

fn print_table(reports: &[FileReport], t: &Totals, elapsed: Duration) {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["file", "packets", "flows", "dns", "http", "tls", "logs", "quarantined", "error"]);
    for r in reports {
        table.add_row([
            r.file.clone(),
            r.packets.to_string(),
            r.flows.to_string(),
            r.dns.to_string(),
            r.http.to_string(),
            r.tls.to_string(),
            r.logs.to_string(),
            r.quarantined.to_string(),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    if reports.len() <= 50 {
        println!("{table}");
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} files ({} damaged), {} packets, {} flows, {} dns, {} http, {} tls, {} logs, {} quarantined, {} commits in {:.2}s ({:.0} packets/s)",
        t.files,
        t.files_with_errors,
        t.packets,
        t.flows,
        t.dns,
        t.http,
        t.tls,
        t.logs,
        t.quarantined,
        t.batches,
        secs,
        t.packets as f64 / secs
    );
}
