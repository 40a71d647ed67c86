//! Read-only SQL over the lake's tables with DataFusion.
//!
//! Every existing table is registered under its name. Statements that are
//! not queries — DDL (`CREATE [EXTERNAL] TABLE`, `DROP`), DML (`INSERT`,
//! `COPY`) and session statements (`SET`) — are refused before planning
//! finishes, so a query can read the lake and nothing else.

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::prelude::{SessionConfig, SessionContext};

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

/// A DataFusion session with the lake's tables registered.
pub struct SqlEngine {
    ctx: SessionContext,
}

impl SqlEngine {
    /// Register every table of `lake` (at its current version).
    pub async fn new(lake: &Lake) -> Result<Self, LakeError> {
        let config = SessionConfig::new().with_information_schema(true).with_target_partitions(2);
        let ctx = SessionContext::new_with_config(config);
        for (t, table) in lake.tables().await {
            table.update_datafusion_session(&ctx.state()).map_err(|e| LakeError::delta(t, "register", e))?;
            let provider = table.table_provider().await.map_err(|e| LakeError::Query(e.into()))?;
            ctx.register_table(t.name(), provider).map_err(|e| LakeError::Query(e.into()))?;
        }
        Ok(SqlEngine { ctx })
    }

    /// The DataFusion session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Run one read-only statement and collect its result.
    pub async fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = self.ctx.sql_with_options(sql, options).await.map_err(|e| match e {
            DataFusionError::Plan(ref m) if m.contains("not supported") => QueryError::Refused(m.clone()),
            other => other.into(),
        })?;
        let schema = df.schema().inner().clone();
        let batches = df.collect().await?;
        Ok((schema, batches))
    }
}
