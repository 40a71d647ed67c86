//! `opensoc export ocsf`: the lake's flows, HTTP, DNS and findings as OCSF
//! 1.3 Parquet for Amazon Security Lake, incrementally.

use anyhow::Context;
use opensoc_lake::ocsf::{CLASSES, ExportOptions, OcsfClass};
use opensoc_lake::{Lake, LakeLocation};

use super::{Config, Format, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub action: ExportAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum ExportAction {
    /// Write OCSF 1.3 Parquet per class — Network Activity (4001, from
    /// flows), HTTP Activity (4002), DNS Activity (4003), Detection Finding
    /// (2004) — under TO/<class>/region=R/accountId=A/eventDay=YYYYMMDD/:
    /// zstd, time-sorted, times in ms, the Community ID in
    /// metadata.correlation_uid. Each run exports only what was committed
    /// since the last one (state in TO/_opensoc/ocsf-export.json).
    Ocsf(OcsfArgs),
}

#[derive(Debug, clap::Args)]
pub struct OcsfArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    /// Destination: s3://BUCKET/ext/SOURCE/ (Security Lake's custom-source
    /// location) or a local folder.
    #[arg(long)]
    pub to: String,
    /// The region= partition.
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
    /// The accountId= partition (the 12-digit account that owns the data).
    #[arg(long, env = "OPENSOC_ACCOUNT_ID")]
    pub account_id: String,
    /// Classes to export (default all): network, http, dns, finding, or
    /// their class uids.
    #[arg(long = "class", value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Export each table's whole current snapshot, whatever was exported
    /// before (after the Delta log entries since the last export expired).
    #[arg(long)]
    pub full: bool,
    /// Output: a line per class, or JSON.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn class_of(name: &str) -> anyhow::Result<OcsfClass> {
    let n = name.trim().to_ascii_lowercase();
    CLASSES
        .iter()
        .find(|c| {
            n == c.uid.to_string()
                || n == c.folder
                || n == c.table.name()
                || matches!((n.as_str(), c.uid), ("network", 4001) | ("finding", 2004))
        })
        .copied()
        .with_context(|| format!("unknown class {name:?}: network, http, dns or finding (or 4001, 4002, 4003, 2004)"))
}

pub async fn run(args: ExportArgs, config: &Config) -> anyhow::Result<u8> {
    let ExportAction::Ocsf(a) = args.action;
    let classes = if a.classes.is_empty() {
        CLASSES.to_vec()
    } else {
        a.classes.iter().map(|c| class_of(c)).collect::<anyhow::Result<_>>()?
    };
    let location = LakeLocation::parse_existing(&config.lake(a.lake.lake.as_deref())?)?;
    let lake = Lake::open_existing(location).await.context("opening the lake")?;
    let options = ExportOptions { to: a.to.clone(), region: a.region, account_id: a.account_id, classes, full: a.full };
    let reports = opensoc_lake::ocsf::export(&lake, &options).await?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&reports)?),
        _ => {
            for r in &reports {
                let versions = r.versions.map_or("nothing new".to_string(), |(f, t)| format!("versions {f}..{t}"));
                println!(
                    "{} ({}) from {}: {versions}, {} files read, {} rows in {} objects",
                    r.class_uid,
                    CLASSES.iter().find(|c| c.uid == r.class_uid).map_or("", |c| c.folder),
                    r.table,
                    r.files_read,
                    r.rows,
                    r.objects.len()
                );
            }
        }
    }
    Ok(exit::OK)
}
