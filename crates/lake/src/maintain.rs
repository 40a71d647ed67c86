//! Lake maintenance: retention, compaction, checkpoints and vacuum, table by
//! table — safe while ingest commits.
//!
//! - **Retention** deletes whole `event_date` partitions older than the
//!   table's limit (a metadata-only delete: no file is rewritten).
//! - **Compaction** rewrites the small files of every partition but today's
//!   and yesterday's (UTC), which ingest is writing, so it rarely races it;
//!   `flows` and `packets` are Z-ordered on `community_id` and start time,
//!   so a carve or a flow lookup reads few files.
//! - **Checkpoints** let readers start from one Parquet file instead of
//!   replaying every commit.
//! - **Vacuum** deletes files no version within the retention period (7
//!   days by default) refers to, so readers of recent versions are never
//!   cut off.
//!
//! Every step is a Delta commit (or only deletes unreferenced files):
//! readers see the table before or after it, never half of it. A step that
//! loses a commit race to ingest reloads and retries; a table that is
//! missing or cannot be read is reported and skipped, never deleted.

use std::collections::BTreeMap;

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use deltalake::arrow::array::{Array, AsArray};
use deltalake::operations::delete::DeleteMetrics;
use deltalake::operations::optimize::OptimizeType;
use deltalake::{DeltaTable, FilterOp, FilterValue};
use opensoc_schemas::{PARTITION_COLUMN, Table};
use serde::Serialize;

use crate::intel::Strs;
use crate::{Lake, LakeError};

/// What maintenance does.
#[derive(Debug, Clone)]
pub struct MaintainOptions {
    /// Days of data each table keeps (by `event_date`); a table not listed
    /// keeps everything.
    pub retention_days: BTreeMap<Table, u32>,
    /// Target size of compacted files.
    pub target_file_bytes: u64,
    /// Files unreferenced for longer than this are vacuumed.
    pub vacuum_retention: Duration,
    /// The tables to maintain.
    pub tables: Vec<Table>,
    /// Attempts per step when ingest keeps committing first.
    pub max_attempts: u32,
    /// Today (UTC, days since the epoch): partitions before it are closed.
    pub today: i32,
    /// Largest partition of flows or packets rewritten in Z-order; a larger
    /// one is bin-packed instead (a Z-order sorts the whole partition, and
    /// needs about twice its size in memory).
    pub zorder_max_partition_bytes: u64,
}

impl Default for MaintainOptions {
    fn default() -> Self {
        MaintainOptions {
            retention_days: default_retention(),
            target_file_bytes: 128 << 20,
            vacuum_retention: Duration::from_secs(7 * 86_400),
            tables: Table::ALL.to_vec(),
            max_attempts: 8,
            today: opensoc_schemas::event_date(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()),
            zorder_max_partition_bytes: 2 << 30,
        }
    }
}

impl MaintainOptions {
    /// Keep `days` of `table` (`0`: keep everything).
    pub fn set_retention(&mut self, table: &str, days: u32) -> Result<(), String> {
        let t = Table::from_name(table.trim()).ok_or_else(|| format!("retention: no table {table:?}"))?;
        if days == 0 {
            self.retention_days.remove(&t);
        } else {
            self.retention_days.insert(t, days);
        }
        Ok(())
    }

    /// Apply `packets=7,flows=365` (comma- or space-separated).
    pub fn set_retention_spec(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split([',', ' ']).filter(|s| !s.trim().is_empty()) {
            let (name, days) =
                item.split_once('=').ok_or_else(|| format!("retention {item:?}: expected TABLE=DAYS"))?;
            let days: u32 = days.trim().parse().map_err(|_| format!("retention {item:?}: DAYS is not a number"))?;
            self.set_retention(name, days)?;
        }
        Ok(())
    }
}

/// Packets a week, metadata a year, findings, their workflow events and the carve audit two,
/// quarantine a month; intel
/// is kept (its rows expire by their own dates).
pub fn default_retention() -> BTreeMap<Table, u32> {
    BTreeMap::from([
        (Table::Packets, 7),
        (Table::Flows, 365),
        (Table::Dns, 365),
        (Table::Http, 365),
        (Table::Tls, 365),
        (Table::Logs, 365),
        (Table::Quarantine, 30),
        (Table::Findings, 730),
        (Table::CarveAudit, 730),
        (Table::FindingEvents, 730),
    ])
}

/// What maintenance did to one table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    /// The table.
    pub table: String,
    /// Data files before and after.
    pub files_before: usize,
    /// Data files after.
    pub files_after: usize,
    /// Partitions deleted by retention (their files removed).
    pub retention_files_removed: usize,
    /// `intel` only: rows of feed loads a newer load of the same feed
    /// superseded (readers already ignore them; maintenance deletes them).
    pub superseded_intel_rows_removed: usize,
    /// Files rewritten by compaction, and the files written.
    pub compacted_files_removed: u64,
    /// Files written by compaction.
    pub compacted_files_added: u64,
    /// Partitions compacted (Z-ordered or bin-packed).
    pub partitions_compacted: u64,
    /// Of those, partitions rewritten in Z-order.
    pub partitions_zordered: u64,
    /// The version a checkpoint was written for.
    pub checkpoint_version: Option<u64>,
    /// Log entries older than the table's log retention (and older than a
    /// checkpoint) deleted. Commits leave this to maintenance.
    pub expired_log_files_removed: usize,
    /// Files vacuumed.
    pub vacuumed_files: usize,
    /// Commit races lost to ingest and retried.
    pub retries: u32,
    /// Why the table was skipped, if it was.
    pub skipped: Option<String>,
    /// Time taken.
    pub seconds: f64,
}

fn day_text(days: i32) -> String {
    crate::time::day_text(days).unwrap_or_else(|| "1970-01-01".into())
}

/// Maintain every table `opts` names, one after the other.
pub async fn maintain(lake: &Lake, opts: &MaintainOptions) -> Vec<TableReport> {
    let mut out = Vec::with_capacity(opts.tables.len());
    for &t in &opts.tables {
        let started = Instant::now();
        let mut report = TableReport { table: t.name().to_string(), ..Default::default() };
        if let Err(e) = maintain_table(lake, t, opts, &mut report).await {
            tracing::warn!(table = t.name(), error = %e, "maintenance skipped the table");
            report.skipped = Some(e.to_string());
        }
        report.seconds = started.elapsed().as_secs_f64();
        out.push(report);
    }
    out
}

async fn fresh(lake: &Lake, t: Table) -> Result<DeltaTable, LakeError> {
    lake.reload(t).await?;
    lake.table(t).await
}

fn file_count(t: Table, table: &DeltaTable) -> Result<usize, LakeError> {
    Ok(table.snapshot().map_err(|e| LakeError::delta(t, "snapshot", e))?.log_data().num_files())
}

/// Delete the rows of every intel feed load that a newer load of the same
/// feed replaced. Returns the rows deleted.
async fn retire_superseded_intel_loads(
    lake: &Lake,
    opts: &MaintainOptions,
    report: &mut TableReport,
) -> Result<usize, LakeError> {
    let t = Table::Intel;
    if fresh(lake, t).await?.version().unwrap_or(0) == 0 {
        return Ok(0);
    }
    let engine = crate::sql::SqlEngine::new(lake).await?;
    // (A feed that went back to earlier content has two loads with one
    // feed_file: the older is told apart by its load time.)
    let sql = crate::intel::superseded_loads_sql("DISTINCT i.feed_file, CAST(f.newest AS BIGINT) AS newest");
    let (_, batches) = engine.query(&sql).await?;
    let mut superseded = Vec::new();
    for b in &batches {
        let (Some(files), Some(newest)) =
            (Strs::of(b.column(0)), b.column(1).as_primitive_opt::<deltalake::arrow::datatypes::Int64Type>())
        else {
            continue;
        };
        for row in 0..files.len() {
            if files.is_null(row) || newest.is_null(row) {
                continue;
            }
            // (As µs: delta-rs cannot write a zoned timestamp literal into
            // the commit's record of the predicate.)
            superseded.push(format!(
                "(feed_file = '{}' AND CAST(loaded_at AS BIGINT) < {})",
                files.value(row).replace('\'', "''"),
                newest.value(row)
            ));
        }
    }
    if superseded.is_empty() {
        return Ok(0);
    }
    let loads = superseded.len();
    let metrics =
        delete_where(lake, t, opts, report, superseded.join(" OR "), "retiring superseded intel loads").await?;
    let removed = metrics.num_deleted_rows.unwrap_or(0);
    tracing::info!(loads, rows = removed, "superseded intel loads retired");
    Ok(removed)
}

/// Which closed partitions compaction rewrites, and how.
#[derive(Debug, Default, PartialEq, Eq)]
struct CompactionPlan {
    /// Days to rewrite in Z-order.
    zorder: Vec<String>,
    /// Days to bin-pack (small files merged, order kept).
    compact: Vec<String>,
}

/// A closed partition needs compaction when it holds two or more files
/// under half the target size: what ingest wrote since the last run (a
/// compacted partition has at most one, its tail). Partitions already
/// compacted are left alone, so a nightly run costs what arrived, not
/// what the table holds. Flows and packets are Z-ordered up to
/// `zorder_max_partition_bytes`, bin-packed above; other tables are
/// bin-packed.
fn plan_compaction(
    t: Table,
    table: &DeltaTable,
    opts: &MaintainOptions,
    open_days: &[&str],
) -> Result<CompactionPlan, LakeError> {
    let snapshot = table.snapshot().map_err(|e| LakeError::delta(t, "snapshot", e))?;
    let small = (opts.target_file_bytes / 2) as i64;
    // day → (files under half the target, bytes)
    let mut days: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for file in snapshot.log_data().iter() {
        let Some(Some(day)) = file.partition_values_map().remove(PARTITION_COLUMN) else { continue };
        if open_days.contains(&day.as_str()) {
            continue;
        }
        let entry = days.entry(day).or_default();
        entry.0 += usize::from(file.size() < small);
        entry.1 += file.size().max(0) as u64;
    }
    let zorder_table = matches!(t, Table::Flows | Table::Packets);
    let mut plan = CompactionPlan::default();
    for (day, (small_files, bytes)) in days {
        if small_files < 2 {
            continue;
        }
        if zorder_table && bytes <= opts.zorder_max_partition_bytes {
            plan.zorder.push(day);
        } else {
            plan.compact.push(day);
        }
    }
    Ok(plan)
}

/// Delete the rows matching `predicate` (SQL) in one commit, retried on a
/// fresh snapshot when ingest commits first.
async fn delete_where(
    lake: &Lake,
    t: Table,
    opts: &MaintainOptions,
    report: &mut TableReport,
    predicate: String,
    op: &'static str,
) -> Result<DeleteMetrics, LakeError> {
    with_retries(lake, t, opts, report, |base| {
        let predicate = predicate.clone();
        async move {
            let (table, metrics) =
                base.delete().with_predicate(predicate).await.map_err(|e| LakeError::delta(t, op, e))?;
            lake.keep(t, table).await;
            Ok(metrics)
        }
    })
    .await
}

/// Run `step` on a fresh snapshot until it commits or the attempts run out.
async fn with_retries<T, F, Fut>(
    lake: &Lake,
    t: Table,
    opts: &MaintainOptions,
    report: &mut TableReport,
    mut step: F,
) -> Result<T, LakeError>
where
    F: FnMut(DeltaTable) -> Fut,
    Fut: std::future::Future<Output = Result<T, LakeError>>,
{
    let mut attempt = 1;
    loop {
        let base = fresh(lake, t).await?;
        match step(base).await {
            Err(e) if e.is_commit_conflict() && attempt < opts.max_attempts => {
                tracing::info!(table = t.name(), attempt, "ingest committed first; retrying on the new version");
                report.retries += 1;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn maintain_table(
    lake: &Lake,
    t: Table,
    opts: &MaintainOptions,
    report: &mut TableReport,
) -> Result<(), LakeError> {
    let table = fresh(lake, t).await?;
    report.files_before = file_count(t, &table)?;

    // Retention: whole partitions before the cutoff.
    if let Some(days) = opts.retention_days.get(&t) {
        let cutoff = day_text(opts.today - *days as i32);
        let predicate = format!("{PARTITION_COLUMN} < '{cutoff}'");
        let metrics = delete_where(lake, t, opts, report, predicate, "retention delete").await?;
        report.retention_files_removed = metrics.num_removed_files;
    }

    if t == Table::Intel {
        report.superseded_intel_rows_removed = retire_superseded_intel_loads(lake, opts, report).await?;
    }

    // Compaction of the closed partitions (every day but today and
    // yesterday, which ingest is writing, late data included) that
    // received files since they were last compacted.
    let (yesterday, today) = (day_text(opts.today - 1), day_text(opts.today));
    let target = NonZeroU64::new(opts.target_file_bytes.max(1 << 20)).unwrap_or(NonZeroU64::MIN);
    let plan = plan_compaction(t, &fresh(lake, t).await?, opts, &[yesterday.as_str(), today.as_str()])?;
    report.partitions_zordered = plan.zorder.len() as u64;
    for (days, zorder) in [(&plan.zorder, true), (&plan.compact, false)] {
        if days.is_empty() {
            continue;
        }
        let metrics = with_retries(lake, t, opts, report, |base| {
            // Flows and packets: Z-order on the flow key and its start, so
            // statistics prune carves and flow lookups to few files.
            let optimize_type = if zorder {
                OptimizeType::ZOrder(vec!["community_id".into(), "first_ts_ns".into()])
            } else {
                OptimizeType::Compact
            };
            async move {
                let filters =
                    [(PARTITION_COLUMN, FilterOp::In, FilterValue::Set(days.iter().map(String::as_str).collect()))];
                let (table, metrics) = base
                    .optimize()
                    .with_type(optimize_type)
                    .with_filters(&filters)
                    .with_target_size(target)
                    // Long runs commit as they go: a function that runs out
                    // of time keeps what it compacted.
                    .with_min_commit_interval(Duration::from_secs(120))
                    .with_writer_properties(crate::lake::writer_properties(t))
                    .await
                    .map_err(|e| LakeError::delta(t, "compaction", e))?;
                lake.keep(t, table).await;
                Ok(metrics)
            }
        })
        .await?;
        report.compacted_files_removed += metrics.num_files_removed;
        report.compacted_files_added += metrics.num_files_added;
        report.partitions_compacted += metrics.partitions_optimized;
    }

    // Checkpoint of the version maintenance ends on.
    let table = fresh(lake, t).await?;
    deltalake::checkpoints::create_checkpoint(&table, None).await.map_err(|e| LakeError::delta(t, "checkpoint", e))?;
    report.checkpoint_version = table.version();
    report.expired_log_files_removed = deltalake::checkpoints::cleanup_metadata(&table, None)
        .await
        .map_err(|e| LakeError::delta(t, "log clean-up", e))?;

    // Vacuum: files unreferenced for longer than the retention period.
    let hours = (opts.vacuum_retention.as_secs() / 3600).max(1) as i64;
    let enforce = hours >= 168;
    let (table, vacuum) = table
        .vacuum()
        .with_retention_period(chrono::Duration::hours(hours))
        .with_enforce_retention_duration(enforce)
        .await
        .map_err(|e| LakeError::delta(t, "vacuum", e))?;
    report.vacuumed_files = vacuum.files_deleted.len();
    lake.keep(t, table).await;
    report.files_after = file_count(t, &fresh(lake, t).await?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_specs() {
        let mut o = MaintainOptions::default();
        o.set_retention_spec("packets=3, flows=0").unwrap();
        assert_eq!(o.retention_days.get(&Table::Packets), Some(&3));
        assert_eq!(o.retention_days.get(&Table::Flows), None);
        assert!(o.set_retention_spec("nope=3").unwrap_err().contains("no table"));
        assert!(o.set_retention_spec("packets").unwrap_err().contains("TABLE=DAYS"));
        assert!(o.set_retention_spec("packets=x").unwrap_err().contains("not a number"));
        assert_eq!(day_text(0), "1970-01-01");
        assert_eq!(day_text(19_675), "2023-11-14");
    }
}
