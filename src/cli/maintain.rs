//! `opensoc maintain`: retention, compaction, checkpoints and vacuum of
//! every table, and optionally the intel feeds' sync — safe while ingest
//! commits.

use std::time::Duration;

use anyhow::Context;
use comfy_table::Table as TextTable;
use opensoc_lake::maintain::{MaintainOptions, maintain};
use opensoc_lake::{Lake, LakeLocation, Table};

use super::{Config, Format, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct MaintainArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Tables to maintain (default: all).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Days a table keeps, e.g. `packets=7` (repeatable; over the config
    /// file's `[maintain.retention]` and the defaults: packets 7, flows,
    /// dns, http, tls and logs 365, quarantine 30, findings 730; `0` keeps
    /// everything).
    #[arg(long = "retention", value_name = "TABLE=DAYS")]
    pub retention: Vec<String>,
    /// Vacuum files unreferenced for longer than this many hours (at least
    /// 1; below 168, readers of older versions may lose files).
    #[arg(long)]
    pub vacuum_hours: Option<u64>,
    /// Target size of compacted files, MiB.
    #[arg(long)]
    pub target_file_mib: Option<u64>,
    /// Largest flows/packets partition rewritten in Z-order, MiB (default
    /// 2048; a Z-order needs about twice the partition in memory); larger
    /// partitions are bin-packed.
    #[arg(long)]
    pub zorder_max_mib: Option<u64>,
    /// Also fetch the `[[intel.feeds]]` and load those that changed.
    #[arg(long)]
    pub intel_sync: bool,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub async fn run(args: MaintainArgs, config: &Config) -> anyhow::Result<u8> {
    let location = LakeLocation::parse(&config.lake(args.lake.lake.as_deref())?)?;
    // A damaged table is reported and skipped; the others are maintained.
    let lake = Lake::open_tolerant(location).await.context("opening the lake")?;
    let mut opts = MaintainOptions::default();
    for (name, days) in &config.maintain.retention {
        opts.set_retention(name, *days).map_err(anyhow::Error::msg)?;
    }
    for spec in &args.retention {
        opts.set_retention_spec(spec).map_err(anyhow::Error::msg)?;
    }
    if let Some(h) = args.vacuum_hours.or(config.maintain.vacuum_hours) {
        opts.vacuum_retention = Duration::from_secs(h * 3600);
    }
    if let Some(m) = args.target_file_mib.or(config.maintain.target_file_mib) {
        opts.target_file_bytes = m << 20;
    }
    if let Some(m) = args.zorder_max_mib.or(config.maintain.zorder_max_mib) {
        opts.zorder_max_partition_bytes = m << 20;
    }
    if !args.tables.is_empty() {
        opts.tables = args
            .tables
            .iter()
            .map(|n| Table::from_name(n).with_context(|| format!("no table {n:?}")))
            .collect::<anyhow::Result<_>>()?;
    }
    let mut trouble = false;
    if args.intel_sync {
        let reports = opensoc_lake::intel_sync::sync(&lake, &config.intel.feeds).await?;
        for r in &reports {
            trouble |= r.status == "failed" || r.bad_items > 0;
            eprintln!("intel {}: {} ({} indicators)", r.url, r.status, r.indicators);
        }
    }
    let reports = maintain(&lake, &opts).await;
    trouble |= reports.iter().any(|r| r.skipped.is_some());
    match args.format {
        Format::Json => {
            for r in &reports {
                println!("{}", serde_json::to_string(r)?);
            }
        }
        _ => {
            let mut t = TextTable::new();
            t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header([
                "table",
                "files before",
                "after",
                "retention removed",
                "compacted (in → out)",
                "checkpoint",
                "vacuumed",
                "retries",
                "seconds",
                "skipped",
            ]);
            for r in &reports {
                t.add_row([
                    r.table.clone(),
                    r.files_before.to_string(),
                    r.files_after.to_string(),
                    r.retention_files_removed.to_string(),
                    format!("{} → {}", r.compacted_files_removed, r.compacted_files_added),
                    r.checkpoint_version.map(|v| format!("v{v}")).unwrap_or_default(),
                    r.vacuumed_files.to_string(),
                    r.retries.to_string(),
                    format!("{:.2}", r.seconds),
                    r.skipped.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(if trouble { exit::PARTIAL } else { exit::OK })
}
