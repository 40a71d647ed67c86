//! `opensoc intel`: threat-intelligence feeds into the lake's `intel` table.

use std::path::PathBuf;

use anyhow::Context;
use opensoc_enrich::intel::{intel_batch, load_file};
use opensoc_lake::{Lake, LakeLocation};
use opensoc_schemas::Table;

use super::{Config, Format, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct IntelArgs {
    #[command(subcommand)]
    pub action: IntelAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum IntelAction {
    /// Load indicator feeds: plain lists and CSV (abuse.ch, Spamhaus DROP),
    /// STIX 2.1 bundles, MISP event JSON. Bad items are reported one by one
    /// and the rest loads (exit status 3 when any was bad).
    Load(LoadArgs),
    /// Fetch feeds — files, http(s)://, s3:// — and load each one whose
    /// content changed since its last load (exit status 3 when a feed
    /// failed or had bad items; the others still load).
    Sync(SyncArgs),
}

/// `opensoc intel sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Feeds to fetch, besides the config file's `[[intel.feeds]]`.
    pub urls: Vec<String>,
    #[command(flatten)]
    pub lake: LakeArg,
    /// Source name for the feeds given here (default: each file's name).
    #[arg(long)]
    pub source: Option<String>,
    /// Read the feeds given here as CSV.
    #[arg(long)]
    pub csv: bool,
    /// Output: a line per feed, or JSON lines.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Feed files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub lake: LakeArg,
    /// The feed's name on every indicator [default: the file name without extension].
    #[arg(long)]
    pub source: Option<String>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Most bad items printed per file (all are counted).
    #[arg(long, default_value_t = 20)]
    pub show_errors: usize,
}

pub async fn run(args: IntelArgs, config: &Config) -> anyhow::Result<u8> {
    match args.action {
        IntelAction::Load(a) => load(a, config).await,
        IntelAction::Sync(a) => sync(a, config).await,
    }
}

async fn sync(a: SyncArgs, config: &Config) -> anyhow::Result<u8> {
    let mut feeds = config.intel.feeds.clone();
    feeds.extend(a.urls.iter().map(|u| opensoc_lake::intel_sync::Feed {
        url: u.clone(),
        source: a.source.clone(),
        csv: a.csv,
    }));
    if feeds.is_empty() {
        anyhow::bail!("no feeds: name them (opensoc intel sync URL...) or list [[intel.feeds]] in the config file");
    }
    let location = LakeLocation::parse(&config.lake(a.lake.lake.as_deref())?)?;
    let lake = Lake::open(location).await.context("opening the lake")?;
    let reports = opensoc_lake::intel_sync::sync(&lake, &feeds).await?;
    for r in &reports {
        match a.format {
            Format::Json => println!("{}", serde_json::to_string(r)?),
            _ => {
                println!(
                    "{}: {} ({} indicators, {} bad items) as source {}",
                    r.url, r.status, r.indicators, r.bad_items, r.source
                );
                for e in &r.errors {
                    println!("  {e}");
                }
            }
        }
    }
    let trouble = reports.iter().any(|r| r.status == "failed" || r.bad_items > 0);
    Ok(if trouble { exit::PARTIAL } else { exit::OK })
}

async fn load(a: LoadArgs, config: &Config) -> anyhow::Result<u8> {
    let location = LakeLocation::parse(&config.lake(a.lake.lake.as_deref())?)?;
    let lake = Lake::open(location).await.context("opening the lake")?;
    let loaded_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let mut batches = Vec::new();
    let mut any_bad = false;
    let mut reports = Vec::new();
    for file in &a.files {
        let source = a.source.clone().unwrap_or_else(|| {
            file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "feed".into())
        });
        let report = load_file(file, &source)?;
        any_bad |= !report.errors.is_empty();
        let by_kind = |k: &str| report.indicators.iter().filter(|i| i.kind.as_str() == k).count();
        let counts = serde_json::json!({
            "file": file.display().to_string(),
            "source": source,
            "indicators": report.indicators.len(),
            "ip": by_kind("ip"), "domain": by_kind("domain"), "url": by_kind("url"), "hash": by_kind("hash"),
            "errors": report.errors.len(),
            "first_errors": report.errors.iter().take(a.show_errors).collect::<Vec<_>>(),
        });
        if !report.indicators.is_empty() {
            batches.push(intel_batch(&report.indicators, &file.display().to_string(), loaded_ns)?);
        }
        reports.push(counts);
    }
    let committed = lake.append(Table::Intel, batches, None).await?;
    match a.format {
        Format::Json => {
            for r in &reports {
                println!("{r}");
            }
        }
        Format::Csv => {
            println!("file,source,indicators,ip,domain,url,hash,errors");
            for r in &reports {
                println!(
                    "{},{},{},{},{},{},{},{}",
                    r["file"].as_str().unwrap_or_default(),
                    r["source"].as_str().unwrap_or_default(),
                    r["indicators"],
                    r["ip"],
                    r["domain"],
                    r["url"],
                    r["hash"],
                    r["errors"]
                );
            }
        }
        Format::Table => {
            for r in &reports {
                println!(
                    "{}: {} indicators ({} ip, {} domain, {} url, {} hash) from source {}, {} bad items",
                    r["file"].as_str().unwrap_or_default(),
                    r["indicators"],
                    r["ip"],
                    r["domain"],
                    r["url"],
                    r["hash"],
                    r["source"].as_str().unwrap_or_default(),
                    r["errors"]
                );
                for e in r["first_errors"].as_array().into_iter().flatten() {
                    println!("  {}", e.as_str().unwrap_or_default());
                }
            }
            println!("{} rows committed to intel (version {})", committed.rows, committed.version);
        }
    }
    Ok(if any_bad { exit::PARTIAL } else { exit::OK })
}
