//! Read-only SQL over the lake's tables with DataFusion.
//!
//! Every existing table is registered under its name. Statements that are
//! not queries — DDL (`CREATE [EXTERNAL] TABLE`, `DROP`), DML (`INSERT`,
//! `COPY`) and session statements (`SET`) — are refused before planning
//! finishes, so a query can read the lake and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::common::tree_node::TreeNodeRecursion;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::physical_plan::collect;
use deltalake::datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use crate::scan::ScanStats;
use crate::{Lake, LakeError};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement is not a read-only query.
    #[error("refused: {0} (queries are read-only: SELECT, WITH, EXPLAIN, SHOW, DESCRIBE)")]
    Refused(String),
    /// The SQL does not parse or names something that does not exist.
    #[error("invalid query: {0}")]
    Invalid(String),
    /// The query failed while running.
    #[error("query failed: {0}")]
    Execution(String),
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e {
            DataFusionError::SQL(..) | DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => {
                QueryError::Invalid(e.strip_backtrace().to_string())
            }
            DataFusionError::Context(_, ref inner) if matches!(**inner, DataFusionError::Plan(_)) => {
                QueryError::Invalid(e.strip_backtrace().to_string())
            }
            _ => QueryError::Execution(e.strip_backtrace().to_string()),
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

/// A DataFusion session with the lake's tables registered.
pub struct SqlEngine {
    ctx: SessionContext,
    /// Data files of each registered table at the version registered.
    files: BTreeMap<String, u64>,
}

impl SqlEngine {
    /// Register every table of `lake` (at its current version).
    pub async fn new(lake: &Lake) -> Result<Self, LakeError> {
        let config = SessionConfig::new().with_information_schema(true).with_target_partitions(2);
        let ctx = SessionContext::new_with_config(config);
        let mut files = BTreeMap::new();
        for (t, table) in lake.tables().await {
            let n = table.snapshot().map_err(|e| LakeError::delta(t, "snapshot", e))?.log_data().num_files();
            files.insert(t.name().to_string(), n as u64);
            table.update_datafusion_session(&ctx.state()).map_err(|e| LakeError::delta(t, "register", e))?;
            let provider = table.table_provider().await.map_err(|e| LakeError::Query(e.into()))?;
            ctx.register_table(t.name(), provider).map_err(|e| LakeError::Query(e.into()))?;
        }
        Ok(SqlEngine { ctx, files })
    }

    /// Data files of a registered table (0 when it does not exist).
    pub fn files_in(&self, table: &str) -> u64 {
        self.files.get(table).copied().unwrap_or(0)
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

    async fn plan(&self, sql: &str) -> Result<DataFrame, QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        self.ctx.sql_with_options(sql, options).await.map_err(|e| match e {
            DataFusionError::Plan(ref m) if m.contains("not supported") => QueryError::Refused(m.clone()),
            other => other.into(),
        })
    }
}
