//! The maintain Lambda: scheduled lake maintenance and threat-intel sync.
//! Only adapts the event to `opensoc_lake::maintain` and
//! `opensoc_lake::intel_sync`; no logic here.
//!
//! The event (an EventBridge schedule's input, or any invocation) may name
//! the tasks: `{"tasks": ["intel-sync"]}` for a frequent feed refresh,
//! `{"tasks": ["maintain"], "tables": ["flows", "packets"]}` for the nightly
//! run, `{"tasks": ["ocsf-export"]}` for the hourly OCSF export,
//! `{"tasks": ["model-train"]}` for the daily behavioural model. Without
//! `tasks` (e.g. a bare `Scheduled Event`), all that are configured run
//! except `model-train`, which runs only when named.
//!
//! Environment:
//! - `OPENSOC_LAKE` (required): the lake root, e.g. `s3://bucket/lake`;
//! - `OPENSOC_INTEL_FEEDS`: the feeds to sync, a JSON list of
//!   `{"url": "https://…" | "s3://…", "source": "…", "csv": false}`;
//! - `OPENSOC_RETENTION`: days per table over the defaults, e.g.
//!   `packets=7,flows=365` (`0` keeps everything);
//! - `OPENSOC_VACUUM_HOURS` (default 168), `OPENSOC_TARGET_FILE_MIB` (128),
//!   `OPENSOC_ZORDER_MAX_MIB` (2048: larger flows/packets partitions are
//!   bin-packed, not Z-ordered, to fit the function's memory);
//! - `OPENSOC_OCSF_EXPORT`: where the OCSF export writes
//!   (`s3://BUCKET/ext/SOURCE/`; empty: no export), with `AWS_REGION` and
//!   `OPENSOC_ACCOUNT_ID` as its partitions;
//! - `OPENSOC_MODEL_WINDOW_DAYS` (default 14): the days `model-train`
//!   learns from; `OPENSOC_MODEL_SETTINGS`: the model's settings as JSON
//!   (`{"threshold": 60, "internal": ["10.0.0.0/8"], …}`, defaults for the rest);
//! - the AWS SDK's standard variables; `RUST_LOG`. Logs are JSON lines.

use std::sync::Arc;

use anyhow::Context;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use opensoc_lake::intel_sync::{Feed, FeedSync, sync};
use opensoc_lake::maintain::{MaintainOptions, TableReport, maintain};
use opensoc_lake::{Lake, Table};
use serde::{Deserialize, Serialize};

/// What an invocation asks for.
#[derive(Debug, Default, Deserialize)]
struct Request {
    /// `maintain`, `intel-sync`, `ocsf-export`, `model-train`; all
    /// configured but `model-train` when absent.
    tasks: Option<Vec<String>>,
    /// Tables to maintain (default: all).
    #[serde(default)]
    tables: Vec<String>,
}

/// What it did.
#[derive(Debug, Serialize)]
struct Response {
    intel: Vec<FeedSync>,
    tables: Vec<TableReport>,
    ocsf: Vec<opensoc_lake::ocsf::ClassReport>,
    model: Option<opensoc_lake::model::TrainReport>,
}

struct Settings {
    lake: Lake,
    feeds: Vec<Feed>,
    opts: MaintainOptions,
    ocsf: Option<opensoc_lake::ocsf::ExportOptions>,
    model: opensoc_lake::model::TrainOptions,
}

/// A failed invocation, with an error type that says which kind.
fn failure(error_type: &str, message: impl std::fmt::Display) -> Diagnostic {
    tracing::error!(error_type, error = %message, "invocation failed");
    Diagnostic { error_type: error_type.to_string(), error_message: message.to_string() }
}

async fn handler(settings: Arc<Settings>, event: LambdaEvent<serde_json::Value>) -> Result<Response, Diagnostic> {
    // A scheduled event's own fields are ignored; only ours are read.
    let request: Request = serde_json::from_value(event.payload).unwrap_or_default();
    let tasks = request.tasks.unwrap_or_else(|| {
        let mut all = vec!["intel-sync".to_string(), "maintain".to_string()];
        if settings.ocsf.is_some() {
            all.push("ocsf-export".into());
        }
        all
    });
    if let Some(bad) =
        tasks.iter().find(|t| !matches!(t.as_str(), "maintain" | "intel-sync" | "ocsf-export" | "model-train"))
    {
        return Err(failure(
            "BadRequest",
            format!("unknown task {bad:?}: the tasks are maintain, intel-sync, ocsf-export and model-train"),
        ));
    }
    let mut response = Response { intel: Vec::new(), tables: Vec::new(), ocsf: Vec::new(), model: None };
    if tasks.iter().any(|t| t == "intel-sync") {
        response.intel = sync(&settings.lake, &settings.feeds).await.map_err(|e| failure("LakeError", e))?;
        for f in &response.intel {
            tracing::info!(url = %f.url, status = f.status, indicators = f.indicators, bad_items = f.bad_items, "intel feed");
        }
    }
    if tasks.iter().any(|t| t == "maintain") {
        let mut opts = settings.opts.clone();
        opts.today = MaintainOptions::default().today;
        if !request.tables.is_empty() {
            opts.tables = request
                .tables
                .iter()
                .map(|n| Table::from_name(n).ok_or_else(|| failure("BadRequest", format!("no table {n:?}"))))
                .collect::<Result<_, _>>()?;
        }
        response.tables = maintain(&settings.lake, &opts).await;
        for r in &response.tables {
            tracing::info!(
                table = %r.table,
                files_before = r.files_before,
                files_after = r.files_after,
                retention_files_removed = r.retention_files_removed,
                compacted_files_removed = r.compacted_files_removed,
                vacuumed_files = r.vacuumed_files,
                retries = r.retries,
                skipped = ?r.skipped,
                "table maintained"
            );
        }
    }
    if tasks.iter().any(|t| t == "ocsf-export") {
        let Some(o) = &settings.ocsf else {
            return Err(failure("BadRequest", "ocsf-export: OPENSOC_OCSF_EXPORT is not set"));
        };
        response.ocsf = opensoc_lake::ocsf::export(&settings.lake, o).await.map_err(|e| failure("ExportError", e))?;
    }
    if tasks.iter().any(|t| t == "model-train") {
        // Learn from what was committed since the function started.
        for t in [Table::Flows, Table::Dns, Table::Tls, Table::Models] {
            if let Err(e) = settings.lake.reload(t).await {
                tracing::warn!(table = t.name(), error = %e, "table not reloaded before training");
            }
        }
        let report = opensoc_lake::model::train(&settings.lake, &settings.model).await.map_err(|e| match e {
            opensoc_lake::LakeError::Training(m) => failure("NothingToLearn", m),
            e => failure("LakeError", e),
        })?;
        tracing::info!(model = %report.model_id, hosts = report.hosts, scored_hosts = report.scored_hosts, seconds = report.seconds, "model trained");
        response.model = Some(report);
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    opensoc_lake::function::init_logs();
    // A damaged table is reported and skipped; the others are maintained.
    let lake = Lake::open_tolerant(opensoc_lake::function::lake_from_env()?).await.context("opening the lake")?;
    let feeds: Vec<Feed> = match std::env::var("OPENSOC_INTEL_FEEDS") {
        Ok(s) if !s.trim().is_empty() => {
            serde_json::from_str(&s).context("OPENSOC_INTEL_FEEDS is not a JSON list of feeds")?
        }
        _ => Vec::new(),
    };
    let mut opts = MaintainOptions::default();
    if let Ok(spec) = std::env::var("OPENSOC_RETENTION") {
        opts.set_retention_spec(&spec).map_err(anyhow::Error::msg).context("OPENSOC_RETENTION")?;
    }
    let number = |k: &str| -> anyhow::Result<Option<u64>> {
        match std::env::var(k) {
            Ok(v) => Ok(Some(v.trim().parse().with_context(|| format!("{k}={v:?} is not a number"))?)),
            Err(_) => Ok(None),
        }
    };
    if let Some(h) = number("OPENSOC_VACUUM_HOURS")? {
        opts.vacuum_retention = std::time::Duration::from_secs(h * 3600);
    }
    if let Some(m) = number("OPENSOC_TARGET_FILE_MIB")? {
        opts.target_file_bytes = m << 20;
    }
    if let Some(m) = number("OPENSOC_ZORDER_MAX_MIB")? {
        opts.zorder_max_partition_bytes = m << 20;
    }
    let ocsf = match std::env::var("OPENSOC_OCSF_EXPORT") {
        Ok(to) if !to.trim().is_empty() => Some(opensoc_lake::ocsf::ExportOptions {
            to: to.trim().to_string(),
            region: std::env::var("AWS_REGION").context("AWS_REGION (the OCSF export's region= partition)")?,
            account_id: std::env::var("OPENSOC_ACCOUNT_ID")
                .context("OPENSOC_ACCOUNT_ID (the OCSF export's accountId= partition)")?,
            classes: opensoc_lake::ocsf::CLASSES.to_vec(),
            full: false,
        }),
        _ => None,
    };
    let mut model = opensoc_lake::model::TrainOptions::default();
    if let Some(d) = number("OPENSOC_MODEL_WINDOW_DAYS")? {
        model.window_days = u32::try_from(d).context("OPENSOC_MODEL_WINDOW_DAYS is too large")?;
    }
    if let Ok(s) = std::env::var("OPENSOC_MODEL_SETTINGS")
        && !s.trim().is_empty()
    {
        model.settings = serde_json::from_str(&s).context("OPENSOC_MODEL_SETTINGS is not the model settings' JSON")?;
        model.settings.validate().map_err(anyhow::Error::msg).context("OPENSOC_MODEL_SETTINGS")?;
    }
    let settings = Arc::new(Settings { lake, feeds, opts, ocsf, model });
    lambda_runtime::run(service_fn(move |ev| handler(settings.clone(), ev))).await
}
