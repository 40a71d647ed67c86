//! Committing an append to a table's log without rebuilding its file list.
//!
//! delta-rs's commit (`CommitBuilder`) ends by bringing the writer's
//! in-memory snapshot to the new version, and its snapshot always holds the
//! table's whole file list: every commit re-reads the statistics of every
//! file added since the last checkpoint, a cost per commit that grows with
//! the table (see docs/benchmarks.md, "Where the rest goes"). An append
//! needs none of that. It writes the next log entry with put-if-absent and,
//! when another writer got there first, reads the winning entries and tries
//! the next version unless one of them conflicts with it — the checks
//! delta-rs's conflict checker makes for a blind append:
//!
//! - a winner that carries one of this commit's application transactions
//!   (the same stream shard committed by someone else: exactly-once must
//!   re-read its checkpoint), and
//! - a winner that changes the table's metadata or protocol.
//!
//! Files other writers add or remove (another ingest, compaction) do not
//! conflict with an append, as in delta-rs. The file list is rebuilt when
//! the table is read ([`crate::Lake::table`]) and for a checkpoint, every
//! `delta.checkpointInterval` versions as delta-rs does.

use std::collections::HashMap;

use deltalake::kernel::transaction::{CommitConflictError, CommitData, PROTOCOL, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::logstore::{CommitOrBytes, LogStore};
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};

/// Attempts at the next free version before giving up (delta-rs's default).
const MAX_ATTEMPTS: usize = 16;

/// What a commit records besides its files.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    transactions: Vec<Transaction>,
    metadata: HashMap<String, serde_json::Value>,
}

impl CommitOptions {
    /// Application transactions (`txn` actions): the exactly-once
    /// checkpoints of stream ingest. A concurrent commit carrying one with
    /// the same application id fails this one.
    pub fn with_transactions(mut self, transactions: Vec<Transaction>) -> Self {
        self.transactions = transactions;
        self
    }

    /// Entries for the commit's `commitInfo`.
    pub fn with_metadata(mut self, metadata: impl IntoIterator<Item = (String, serde_json::Value)>) -> Self {
        self.metadata = metadata.into_iter().collect();
        self
    }
}

/// Commit `actions` as the version after `base` (or the first free one
/// after it that no conflicting commit precedes) and return that version.
/// `table` supplies the log store and the protocol to check against; its
/// snapshot may be older than `base`.
pub(crate) async fn commit(
    table: &DeltaTable,
    base: u64,
    actions: Vec<Action>,
    operation: DeltaOperation,
    options: CommitOptions,
) -> Result<u64, DeltaTableError> {
    PROTOCOL.can_commit(table.snapshot()?, &actions, &operation)?;
    let ours: Vec<String> = options.transactions.iter().map(|t| t.app_id.clone()).collect();
    let bytes = CommitData::new(actions, operation, options.metadata, options.transactions).get_bytes()?;
    let log_store = table.log_store();
    let entry = prepare_entry(log_store.as_ref(), bytes).await?;
    let operation_id = uuid::Uuid::new_v4();
    let mut version = base + 1;
    for _ in 0..MAX_ATTEMPTS {
        match log_store.write_commit_entry(version, entry.clone(), operation_id).await {
            Ok(()) => return Ok(version),
            Err(TransactionError::VersionAlreadyExists(_)) => {
                let latest = log_store.get_latest_version(version).await?;
                for winner in version..=latest {
                    check_winner(log_store.as_ref(), winner, &ours).await?;
                }
                tracing::debug!(table = %table.table_url(), lost = version, next = latest + 1, "version taken; retrying");
                version = latest + 1;
            }
            Err(e) => {
                log_store.abort_commit_entry(version, entry, operation_id).await?;
                return Err(e.into());
            }
        }
    }
    log_store.abort_commit_entry(version, entry, operation_id).await?;
    Err(TransactionError::MaxCommitAttempts(MAX_ATTEMPTS as i32).into())
}

/// The log entry as the store commits it: the bytes themselves where the
/// store has put-if-absent, else a temporary file it renames (as delta-rs
/// does for such stores).
async fn prepare_entry(log_store: &dyn LogStore, bytes: bytes::Bytes) -> Result<CommitOrBytes, DeltaTableError> {
    if ["DefaultLogStore", "LakeFSLogStore"].contains(&log_store.name().as_str()) {
        return Ok(CommitOrBytes::LogBytes(bytes));
    }
    let path =
        object_store::path::Path::from_iter(["_delta_log", &format!("_commit_{}.json.tmp", uuid::Uuid::new_v4())]);
    object_store::ObjectStoreExt::put(&log_store.object_store(None), &path, bytes.into()).await?;
    Ok(CommitOrBytes::TmpCommit(path))
}

/// Fail when the commit at `version` conflicts with an append carrying the
/// application transactions `ours`.
async fn check_winner(log_store: &dyn LogStore, version: u64, ours: &[String]) -> Result<(), DeltaTableError> {
    let Some(entry) = log_store.read_commit_entry(version).await? else {
        return Err(DeltaTableError::Generic(format!("commit {version} vanished while checking for conflicts")));
    };
    let conflict = |e: CommitConflictError| DeltaTableError::from(TransactionError::CommitConflict(e));
    for line in entry.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
        let action: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| DeltaTableError::Generic(format!("commit {version} has a line that is not JSON: {e}")))?;
        if let Some(app) = action.pointer("/txn/appId").and_then(|a| a.as_str())
            && ours.iter().any(|o| o == app)
        {
            return Err(conflict(CommitConflictError::ConcurrentTransaction));
        }
        if action.get("metaData").is_some() {
            return Err(conflict(CommitConflictError::MetadataChanged));
        }
        if action.get("protocol").is_some() {
            return Err(conflict(CommitConflictError::ProtocolChanged(format!("by commit {version}"))));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use deltalake::arrow::record_batch::RecordBatch;
    use deltalake::kernel::Transaction;
    use opensoc_rows::tables::QuarantineRows;
    use opensoc_schemas::Table;

    use crate::{CommitOptions, Lake, LakeLocation};

    fn rows(n: usize) -> RecordBatch {
        let mut q = QuarantineRows::default();
        for i in 0..n {
            q.refuse("test", i.to_string(), "record", "garbage".into(), b"\0\x01");
        }
        q.take_batch("s").unwrap().unwrap()
    }

    async fn open(dir: &std::path::Path) -> Lake {
        Lake::open(LakeLocation::parse(&dir.to_string_lossy()).unwrap()).await.unwrap()
    }

    async fn count(lake: &Lake) -> usize {
        let table = lake.table(Table::Quarantine).await.unwrap();
        let files = table.snapshot().unwrap().log_data();
        files.iter().map(|f| f.num_records().unwrap_or(0)).sum()
    }

    fn txn(app: &str, version: i64) -> Option<CommitOptions> {
        Some(CommitOptions::default().with_transactions(vec![Transaction::new(app, version)]))
    }

    #[tokio::test]
    async fn an_append_behind_another_writer_lands_after_its_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(dir.path()).await, open(dir.path()).await);
        let start = a.table(Table::Quarantine).await.unwrap().version().unwrap();
        a.append(Table::Quarantine, vec![rows(3)], txn("shard-a", 1)).await.unwrap();
        a.append(Table::Quarantine, vec![rows(4)], txn("shard-a", 2)).await.unwrap();
        // `b` has not seen either commit: it tries `start + 1`, finds it
        // (and the next) taken by commits that do not conflict, and goes on.
        let committed = b.append(Table::Quarantine, vec![rows(5)], txn("shard-b", 1)).await.unwrap();
        assert_eq!(committed.version, start + 3);
        b.reload(Table::Quarantine).await.unwrap();
        assert_eq!(count(&b).await, 12, "every writer's rows");
    }

    #[tokio::test]
    async fn a_concurrent_commit_of_the_same_application_transaction_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(dir.path()).await, open(dir.path()).await);
        let base = b.table(Table::Quarantine).await.unwrap();
        a.append(Table::Quarantine, vec![rows(3)], txn("shard-1", 7)).await.unwrap();
        let err = b.append_on(base, Table::Quarantine, vec![rows(3)], txn("shard-1", 7)).await.unwrap_err();
        assert!(err.is_commit_conflict(), "{err}");
        b.reload(Table::Quarantine).await.unwrap();
        assert_eq!(count(&b).await, 3, "the losing append committed nothing");
        assert_eq!(
            b.table(Table::Quarantine).await.unwrap().version(),
            a.table(Table::Quarantine).await.unwrap().version()
        );
    }

    #[tokio::test]
    async fn a_concurrent_metadata_change_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(dir.path()).await, open(dir.path()).await);
        let mut table = a.table(Table::Quarantine).await.unwrap();
        let props = std::collections::HashMap::from([(
            "delta.logRetentionDuration".to_string(),
            "interval 60 days".to_string(),
        )]);
        table = table.set_tbl_properties().with_properties(props).await.unwrap();
        let err = b.append(Table::Quarantine, vec![rows(1)], None).await.unwrap_err();
        assert!(err.is_commit_conflict(), "{err}");
        assert!(err.to_string().contains("Metadata changed"), "{err}");
        b.reload(Table::Quarantine).await.unwrap();
        assert_eq!(b.table(Table::Quarantine).await.unwrap().version(), table.version());
    }

    #[tokio::test]
    async fn appends_leave_the_snapshot_alone_until_it_is_read_and_checkpoint_on_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let lake = open(dir.path()).await;
        let start = lake.table(Table::Quarantine).await.unwrap().version().unwrap();
        let mut last = start;
        for _ in 0..(99 - start) {
            last = lake.append(Table::Quarantine, vec![rows(1)], None).await.unwrap().version;
        }
        assert_eq!(last, 99);
        let log = dir.path().join("quarantine/_delta_log");
        assert!(log.join("00000000000000000099.checkpoint.parquet").is_file(), "a checkpoint at version 99");
        let hint: serde_json::Value =
            serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
        assert_eq!(hint["version"], 99);
        assert!(!log.join("00000000000000000098.checkpoint.parquet").exists());
        // The stored snapshot was brought up for the checkpoint only; one more
        // append leaves it there, and reading the table brings it up.
        lake.append(Table::Quarantine, vec![rows(2)], None).await.unwrap();
        assert_eq!(lake.handle(Table::Quarantine).await.unwrap().table.version(), Some(99));
        assert_eq!(lake.table(Table::Quarantine).await.unwrap().version(), Some(100));
        assert_eq!(count(&lake).await, (99 - start as usize) + 2);
    }
}
