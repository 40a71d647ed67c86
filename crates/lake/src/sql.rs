//! Read-only SQL over the lake's tables with DataFusion.
//!
//! Every existing table is registered under its name. Statements that are
//! not queries — DDL (`CREATE [EXTERNAL] TABLE`, `DROP`), DML (`INSERT`,
//! `COPY`) and session statements (`SET`) — are refused before planning
//! finishes, and a plan may scan only the lake's tables and the
//! information schema (no URL tables, no file-reading table functions), so
//! a query can read the lake and nothing else. [`QueryLimits`] bound its
//! run time, memory (no spilling to disk) and the rows it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::common::tree_node::TreeNodeRecursion;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::physical_plan::{collect, execute_stream};
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use crate::scan::ScanStats;
use crate::{Lake, LakeError, Table};

/// Why a query failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// The statement is not a read-only query.
    #[error("refused: {0}")]
    Refused(String),
    /// The SQL does not parse or names something that does not exist.
    #[error("invalid query: {0}")]
    Invalid(String),
    /// The query failed while running.
    #[error("query failed: {0}")]
    Execution(String),
    /// The query went past a limit (run time, memory).
    #[error("query stopped: {0}")]
    Limit(String),
}

/// What one query may use. [`QueryLimits::NONE`] for the command line;
/// the page and the query function use [`QueryLimits::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Longest run, planning included.
    pub timeout: Option<Duration>,
    /// Memory for joins, sorts and aggregates; nothing spills to disk.
    pub memory_bytes: Option<usize>,
    /// Most rows returned; past it the result is cut and says so.
    pub max_rows: usize,
}

impl QueryLimits {
    /// No limits.
    pub const NONE: QueryLimits = QueryLimits { timeout: None, memory_bytes: None, max_rows: usize::MAX };
}

impl Default for QueryLimits {
    /// 30 s, 512 MiB, 10 000 rows.
    fn default() -> Self {
        QueryLimits { timeout: Some(Duration::from_secs(30)), memory_bytes: Some(512 << 20), max_rows: 10_000 }
    }
}

/// A query's result within its limits.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Columns.
    pub schema: SchemaRef,
    /// Rows, at most the row limit.
    pub batches: Vec<RecordBatch>,
    /// More rows existed than the limit let through.
    pub truncated: bool,
    /// What the query read.
    pub stats: ScanStats,
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        // Classify by the innermost error: planning errors come wrapped in
        // context and diagnostics.
        let text = e.strip_backtrace().to_string();
        match e.find_root() {
            DataFusionError::SQL(..) | DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
                QueryError::Invalid(text)
            }
            DataFusionError::ResourcesExhausted(m) => {
                QueryError::Limit(format!("it needs more memory than the limit allows ({m})"))
            }
            _ => QueryError::Execution(text),
        }
    }
}

/// The tables a logical plan scans (subqueries included).
fn scanned_tables(plan: &LogicalPlan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            out.insert(scan.table_name.table().to_string());
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// What a plan may scan besides the lake's tables.
const INFORMATION_SCHEMA: [&str; 7] =
    ["tables", "views", "columns", "df_settings", "schemata", "routines", "parameters"];

/// A DataFusion session with the lake's tables registered.
pub struct SqlEngine {
    ctx: SessionContext,
    /// Data files of each registered table at the version registered.
    files: BTreeMap<String, u64>,
    limits: QueryLimits,
}

impl SqlEngine {
    /// Register every table of `lake` (at its current version), without limits.
    pub async fn new(lake: &Lake) -> Result<Self, LakeError> {
        SqlEngine::with_limits(lake, QueryLimits::NONE).await
    }

    /// Register every table of `lake` (at its current version); queries run
    /// within `limits`.
    pub async fn with_limits(lake: &Lake, limits: QueryLimits) -> Result<Self, LakeError> {
        SqlEngine::build(lake, limits, None).await
    }

    /// Register only `tables` of `lake` (those that exist), without limits:
    /// for internal reads of one table (each registration costs a log
    /// replay on an object store).
    pub async fn of_tables(lake: &Lake, tables: &[Table]) -> Result<Self, LakeError> {
        SqlEngine::build(lake, QueryLimits::NONE, Some(tables)).await
    }

    async fn build(lake: &Lake, limits: QueryLimits, only: Option<&[Table]>) -> Result<Self, LakeError> {
        let config = SessionConfig::new().with_information_schema(true).with_target_partitions(2);
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(bytes) = limits.memory_bytes {
            runtime = runtime
                .with_memory_limit(bytes, 1.0)
                .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled));
        }
        let runtime = runtime.build_arc().map_err(|e| LakeError::Query(e.into()))?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let mut files = BTreeMap::new();
        for (t, table) in lake.tables().await {
            if only.is_some_and(|only| !only.contains(&t)) {
                continue;
            }
            let n = table.snapshot().map_err(|e| LakeError::delta(t, "snapshot", e))?.log_data().num_files();
            files.insert(t.name().to_string(), n as u64);
            table.update_datafusion_session(&ctx.state()).map_err(|e| LakeError::delta(t, "register", e))?;
            let provider = table.table_provider().await.map_err(|e| LakeError::Query(e.into()))?;
            ctx.register_table(t.name(), provider).map_err(|e| LakeError::Query(e.into()))?;
        }
        Ok(SqlEngine { ctx, files, limits })
    }

    /// The limits queries run within.
    pub fn limits(&self) -> QueryLimits {
        self.limits
    }

    /// Data files of a registered table (0 when it does not exist).
    pub fn files_in(&self, table: &str) -> u64 {
        self.files.get(table).copied().unwrap_or(0)
    }

    /// Whether a table is registered (it exists in the lake).
    pub fn has_table(&self, table: &str) -> bool {
        self.files.contains_key(table)
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Run one read-only statement and collect its result.
    pub async fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let df = self.plan(sql).await?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await?;
        Ok((schema, batches))
    }

    /// Run one read-only statement and stream its result batch by batch
    /// (for work that must not hold the whole result: model training).
    pub async fn stream(
        &self,
        sql: &str,
    ) -> Result<deltalake::datafusion::physical_plan::SendableRecordBatchStream, QueryError> {
        let df = self.plan(sql).await?;
        let plan = df.create_physical_plan().await?;
        Ok(execute_stream(plan, self.ctx.task_ctx())?)
    }

    /// [`SqlEngine::query`], and what it read: files and bytes scanned
    /// against the files of the tables it names.
    pub async fn query_with_stats(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>, ScanStats), QueryError> {
        let df = self.plan(sql).await?;
        let tables = scanned_tables(df.logical_plan());
        let schema = df.schema().inner().clone();
        let plan = df.create_physical_plan().await?;
        let batches = collect(plan.clone(), self.ctx.task_ctx()).await?;
        let mut stats = ScanStats::from_plan(&plan);
        stats.files_total = tables.iter().map(|t| self.files_in(t)).sum();
        Ok((schema, batches, stats))
    }

    /// Run one read-only statement within the engine's limits: stopped
    /// past the time or memory limit, cut at the row limit.
    pub async fn query_limited(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let limits = self.limits;
        let run = async {
            let df = self.plan(sql).await?;
            let tables = scanned_tables(df.logical_plan());
            let schema = df.schema().inner().clone();
            let plan = df.create_physical_plan().await?;
            let mut stream = execute_stream(plan.clone(), self.ctx.task_ctx())?;
            let (mut batches, mut rows, mut truncated) = (Vec::new(), 0usize, false);
            while let Some(batch) = futures::StreamExt::next(&mut stream).await {
                let batch = batch?;
                let room = limits.max_rows - rows;
                if batch.num_rows() > room {
                    batches.push(batch.slice(0, room));
                    truncated = true;
                    break;
                }
                rows += batch.num_rows();
                batches.push(batch);
            }
            drop(stream);
            let mut stats = ScanStats::from_plan(&plan);
            stats.files_total = tables.iter().map(|t| self.files_in(t)).sum();
            Ok(QueryResult { schema, batches, truncated, stats })
        };
        match limits.timeout {
            Some(t) => tokio::time::timeout(t, run).await.unwrap_or_else(|_| {
                Err(QueryError::Limit(format!("it ran longer than the limit of {} s", t.as_secs_f64())))
            }),
            None => run.await,
        }
    }

    async fn plan(&self, sql: &str) -> Result<DataFrame, QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = self.ctx.sql_with_options(sql, options).await.map_err(|e| match e {
            DataFusionError::Plan(ref m) if m.contains("not supported") => {
                QueryError::Refused(format!("{m} (queries are read-only: SELECT, WITH, EXPLAIN, SHOW, DESCRIBE)"))
            }
            other => other.into(),
        })?;
        self.check_sources(df.logical_plan())?;
        Ok(df)
    }

    /// Refuse a plan that scans anything but the lake's tables and the
    /// information schema (a table function that reads files, a URL table).
    fn check_sources(&self, plan: &LogicalPlan) -> Result<(), QueryError> {
        let mut refused = None;
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                let name = &scan.table_name;
                let ok = match name.schema() {
                    Some("information_schema") => INFORMATION_SCHEMA.contains(&name.table()),
                    None | Some("public") => self.files.contains_key(name.table()),
                    Some(_) => false,
                };
                if !ok {
                    refused = Some(name.to_string());
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
        match refused {
            Some(name) => Err(QueryError::Refused(format!(
                "{name} is not a table of the lake (queries read the lake's tables and information_schema only)"
            ))),
            None => Ok(()),
        }
    }
}
