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
    /// Capture files, or folders to search recursively for captures.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub geo: super::GeoArg,
    /// Report format: a table, or one JSON object per file and a totals object.
    #[arg(long, value_enum, default_value = "table")]
    pub format: IngestFormat,
    /// Value of every row's sensor_id.
    #[arg(long, env = "OPENSOC_SENSOR_ID")]
    pub sensor_id: Option<String>,
    /// Commit after this many MiB of packet data.
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

/// Files to read: named files as given; folders searched for files that
/// start like a capture (pcap, pcapng or gzip magic).
pub fn collect_inputs(paths: &[PathBuf]) -> anyhow::Result<(Vec<PathBuf>, usize)> {
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
                    files.push(f);
                } else {
                    skipped += 1;
                }
            }
        } else {
            files.push(p.clone());
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
    let lake = Arc::new(super::open_lake(location, &args.geo, config).await?);
    let (reports, totals, elapsed) = ingest_files(lake, cfg, &files, !args.no_progress).await?;
    match args.format {
        IngestFormat::Json => {
            for r in &reports {
                println!("{}", serde_json::to_string(r)?);
            }
            println!("{}", serde_json::json!({ "totals": totals, "seconds": elapsed.as_secs_f64() }));
        }
        IngestFormat::Table => print_table(&reports, &totals, elapsed),
    }
    Ok(if totals.files_with_errors > 0 || totals.quarantined > 0 { exit::PARTIAL } else { exit::OK })
}

/// Ingest files with a progress bar on stderr.
pub async fn ingest_files(
    lake: Arc<Lake>,
    cfg: opensoc_lake::ingest::IngestConfig,
    files: &[PathBuf],
    progress: bool,
) -> anyhow::Result<(Vec<FileReport>, Totals, Duration)> {
    let started = Instant::now();
    let total_bytes: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
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
            bar.set_message(f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        }
        let r = ingestor.ingest_file(f).await?;
        if let Some(e) = &r.error {
            tracing::warn!(file = %r.file, error = %e, "input damaged; complete packets kept, the rest quarantined");
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
    table.set_header(["file", "packets", "flows", "dns", "http", "tls", "quarantined", "error"]);
    for r in reports {
        table.add_row([
            r.file.clone(),
            r.packets.to_string(),
            r.flows.to_string(),
            r.dns.to_string(),
            r.http.to_string(),
            r.tls.to_string(),
            r.quarantined.to_string(),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    if reports.len() <= 50 {
        println!("{table}");
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "{} files ({} damaged), {} packets, {} flows, {} dns, {} http, {} tls, {} quarantined, {} commits in {:.2}s ({:.0} packets/s)",
        t.files,
        t.files_with_errors,
        t.packets,
        t.flows,
        t.dns,
        t.http,
        t.tls,
        t.quarantined,
        t.batches,
        secs,
        t.packets as f64 / secs
    );
}
