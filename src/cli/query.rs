//! `opensoc query`.

use anyhow::Context;
use opensoc_lake::sql::SqlEngine;
use opensoc_lake::{Lake, LakeLocation};

use super::{Config, Format, LakeArg, exit};

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The SQL (read-only: SELECT, WITH, EXPLAIN, SHOW, DESCRIBE).
    pub sql: String,
    #[command(flatten)]
    pub lake: LakeArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// After the result, print on stderr what the query read: files
    /// scanned of the files in the tables it names, bytes and row groups.
    #[arg(long)]
    pub stats: bool,
}

pub async fn run(args: QueryArgs, config: &Config) -> anyhow::Result<u8> {
    let location = LakeLocation::parse_existing(&config.lake(args.lake.lake.as_deref())?)?;
    let lake = Lake::open_existing(location).await.context("opening the lake")?;
    let engine = SqlEngine::new(&lake).await?;
    match engine.query_with_stats(&args.sql).await {
        Ok((schema, batches, stats)) => {
            let mut out = std::io::stdout().lock();
            opensoc_lake::output::write_batches(&mut out, args.format.into(), &schema, &batches)?;
            if args.stats {
                eprintln!("{}", serde_json::to_string(&stats)?);
            }
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(exit::USAGE)
        }
    }
}
