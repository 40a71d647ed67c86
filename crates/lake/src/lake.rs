//! The lake handle: create, open and append to the tables.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use opensoc_schemas::{PARTITION_COLUMN, Table};
use tokio::sync::Mutex;

use crate::{CommitOptions, LakeError, LakeLocation};

/// An open lake: its location and a handle per table.
pub struct Lake {
    location: LakeLocation,
    tables: Mutex<BTreeMap<Table, Handle>>,
    geo: Option<std::sync::Arc<opensoc_enrich::flows::GeoEnricher>>,
    /// When the databases come from S3: the mirror to refresh.
    geo_sync: Option<std::sync::Arc<crate::geoip_sync::GeoSync>>,
    /// Intel matching, Suricata alerts and rules: findings from every batch.
    detector: opensoc_enrich::detect::Detector,
    /// Log parsing state kept between deliveries (Zeek TSV headers per origin).
    log_parser: std::sync::Mutex<opensoc_enrich::logs::LogParser>,
    /// Tables [`Lake::open_tolerant`] could not open, with the reason.
    unreadable: BTreeMap<Table, String>,
    /// When scoring is on: when the `models` table was last looked at.
    model_watch: std::sync::Mutex<Option<crate::model::ModelWatch>>,
}

/// A table as this lake knows it: a loaded snapshot, and the newest
/// version this lake committed, which may be ahead of the snapshot (an
/// append does not rebuild the file list: see [`crate::commit`]).
#[derive(Clone)]
pub(crate) struct Handle {
    pub(crate) table: DeltaTable,
    pub(crate) head: Option<u64>,
}

impl Handle {
    fn new(table: DeltaTable) -> Self {
        Handle { head: table.version(), table }
    }
}

/// What one append committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The table.
    pub table: Table,
    /// Rows appended.
    pub rows: usize,
    /// The table version the commit created.
    pub version: u64,
}

impl Lake {
    /// A handle with no table loaded and the default pipeline (built-in
    /// rules, no GeoIP, no intel).
    fn unopened(location: LakeLocation) -> Lake {
        Lake {
            location,
            tables: Mutex::new(BTreeMap::new()),
            geo: None,
            geo_sync: None,
            detector: Default::default(),
            log_parser: Default::default(),
            unreadable: BTreeMap::new(),
            model_watch: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn model_watch(&self) -> std::sync::MutexGuard<'_, Option<crate::model::ModelWatch>> {
        self.model_watch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open a lake as [`Lake::open`] does, except that a table that exists
    /// but cannot be read (a damaged log, say) is left alone and remembered:
    /// asking for it later is [`LakeError::Unreadable`] with the reason, and
    /// the other tables work. For maintenance, which must skip such a table
    /// and never write to it. Fails only when no table can be opened (the
    /// lake itself is unreachable).
    pub async fn open_tolerant(location: LakeLocation) -> Result<Self, LakeError> {
        let mut lake = Lake::unopened(location);
        let mut first_error = None;
        for t in Table::ALL {
            if let Err(e) = lake.ensure(t).await {
                tracing::warn!(table = t.name(), error = %e, "table cannot be read; left alone");
                lake.unreadable.insert(t, e.to_string());
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) if lake.unreadable.len() == Table::ALL.len() => Err(e),
            _ => Ok(lake),
        }
    }

    /// Open a lake, creating any table that does not exist yet.
    pub async fn open(location: LakeLocation) -> Result<Self, LakeError> {
        let lake = Lake::unopened(location);
        for t in Table::ALL {
            lake.ensure(t).await?;
        }
        Ok(lake)
    }

    /// Open an existing lake for reading; tables that do not exist are skipped.
    pub async fn open_existing(location: LakeLocation) -> Result<Self, LakeError> {
        Lake::open_existing_tables(location, &Table::ALL).await
    }

    /// Open only `tables` of an existing lake (the others are not read:
    /// on an object store each table costs a log listing and reads), all at
    /// once; tables that do not exist are skipped.
    pub async fn open_existing_tables(location: LakeLocation, tables: &[Table]) -> Result<Self, LakeError> {
        let lake = Lake::unopened(location);
        let wanted: Vec<Table> = tables
            .iter()
            .copied()
            .filter(|t| lake.local_table_dir(*t).is_none_or(|dir| dir.join("_delta_log").is_dir()))
            .collect();
        let loaded = futures::future::join_all(wanted.iter().map(|t| lake.load(*t))).await;
        for (t, table) in wanted.into_iter().zip(loaded) {
            let table = table?;
            if table.version().is_some() {
                lake.tables.lock().await.insert(t, Handle::new(table));
            }
        }
        Ok(lake)
    }

    /// The log parser shared by the deliveries this lake takes in (a Zeek
    /// file's header and its lines may arrive in different deliveries).
    pub fn log_parser(&self) -> std::sync::MutexGuard<'_, opensoc_enrich::logs::LogParser> {
        self.log_parser.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fill the GeoIP columns (countries, ASNs) of `flows`, `logs` and
    /// `findings` rows on every append from these databases.
    pub fn with_geoip(mut self, geo: opensoc_enrich::flows::GeoEnricher) -> Self {
        self.geo = Some(std::sync::Arc::new(geo));
        self
    }

    /// Refresh the GeoIP databases from this S3 mirror (at most once a
    /// minute, before enriching).
    pub fn with_geoip_sync(mut self, sync: crate::geoip_sync::GeoSync) -> Self {
        self.geo_sync = Some(std::sync::Arc::new(sync));
        self
    }

    /// Detect with these rules and this score aggregation (the built-in
    /// rules, scored by max, until this is called); keeps the indicators.
    pub fn with_detector(mut self, detector: opensoc_enrich::detect::Detector) -> Self {
        self.detector.pass_scorer_to(&detector);
        let intel = self.detector.intel_index();
        self.detector = match intel {
            Some(ix) => detector.with_intel(ix),
            None => detector,
        };
        self
    }

    /// Match incoming rows against these indicators; hits become
    /// `findings` rows (see [`Lake::findings_for`]).
    pub fn with_intel(mut self, index: opensoc_enrich::intel::IntelIndex) -> Self {
        self.detector = std::mem::take(&mut self.detector).with_intel(std::sync::Arc::new(index));
        self
    }

    /// The detector in use.
    pub fn detector(&self) -> &opensoc_enrich::detect::Detector {
        &self.detector
    }

    /// The findings of a batch of `t`: intel hits, Suricata alerts, rules
    /// and model anomalies, triaged. See [`Lake::prepare`].
    pub fn findings_for(&self, t: Table, batch: &RecordBatch) -> Result<Option<RecordBatch>, LakeError> {
        self.detector.findings(t, batch).map_err(|e| LakeError::Enrich(format!("findings from {}: {e}", t.name())))
    }

    /// Ready a batch of `t` for its commit: GeoIP columns filled (flows and
    /// logs; detection and scoring read them), then its findings. Pipelines
    /// call it where a batch is still tied to its input, so findings are
    /// committed exactly like the rows they come from. Appends do not
    /// enrich flows or logs again.
    pub async fn prepare(&self, t: Table, batch: RecordBatch) -> Result<(RecordBatch, Option<RecordBatch>), LakeError> {
        self.refresh_model_if_due().await;
        let batch = match t {
            Table::Flows | Table::Logs => {
                self.enrich(vec![batch]).await?.pop().unwrap_or_else(|| RecordBatch::new_empty(t.schema()))
            }
            _ => batch,
        };
        let findings = self.findings_for(t, &batch)?;
        Ok((batch, findings))
    }

    /// Fill the GeoIP columns of flows, logs or findings batches (as they are without databases).
    async fn enrich(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, LakeError> {
        let Some(geo) = &self.geo else { return Ok(batches) };
        if let Some(sync) = &self.geo_sync {
            sync.sync_if_due().await;
        }
        let geo = geo.clone();
        // Lookups are CPU work: off the async threads.
        tokio::task::spawn_blocking(move || batches.iter().map(|b| geo.enrich_flows(b)).collect::<Result<Vec<_>, _>>())
            .await
            .map_err(|e| LakeError::Enrich(e.to_string()))?
            .map_err(|e| LakeError::Enrich(e.to_string()))
    }

    /// Where the lake is.
    pub fn location(&self) -> &LakeLocation {
        &self.location
    }

    async fn load(&self, t: Table) -> Result<DeltaTable, LakeError> {
        let url = self.location.table_url(t.name());
        DeltaTable::try_from_url_with_storage_options(url, self.location.storage_options())
            .await
            .map_err(|e| LakeError::delta(t, "open", e))
    }

    fn local_table_dir(&self, t: Table) -> Option<std::path::PathBuf> {
        self.location.local_path().map(|p| p.join(t.name()))
    }

    async fn ensure(&self, t: Table) -> Result<(), LakeError> {
        if let Some(dir) = self.local_table_dir(t) {
            std::fs::create_dir_all(&dir)
                .map_err(|source| LakeError::Io { context: format!("creating {}", dir.display()), source })?;
        }
        let mut table = self.load(t).await?;
        if table.version().is_none() {
            let schema: StructType =
                t.schema().as_ref().try_into_kernel().map_err(|e| LakeError::delta(t, "create", e.into()))?;
            let created = table
                .create()
                .with_table_name(t.name())
                .with_columns(schema.fields().cloned())
                .with_partition_columns([PARTITION_COLUMN])
                .with_save_mode(SaveMode::Ignore)
                .await;
            table = match created {
                Ok(t) => t,
                // Another writer created it first.
                Err(_) => {
                    let mut again = self.load(t).await?;
                    again.load().await.map_err(|e| LakeError::delta(t, "create", e))?;
                    again
                }
            };
        }
        self.tables.lock().await.insert(t, Handle::new(table));
        Ok(())
    }

    /// Create table `t` when it does not exist yet (a lake opened with
    /// [`Lake::open_existing`] skips missing tables), and load it.
    pub async fn ensure_table(&self, t: Table) -> Result<(), LakeError> {
        if self.tables.lock().await.contains_key(&t) {
            return Ok(());
        }
        self.ensure(t).await
    }

    /// The current handle of a table (a cheap clone of its latest loaded
    /// state), first brought up to the newest version this lake committed.
    pub async fn table(&self, t: Table) -> Result<DeltaTable, LakeError> {
        let handle = self.handle(t).await?;
        let Some(head) = handle.head.filter(|&h| handle.table.version() < Some(h)) else {
            return Ok(handle.table);
        };
        let mut table = handle.table;
        table.update_incremental(Some(head)).await.map_err(|e| LakeError::delta(t, "reload", e))?;
        self.keep_newest(t, table.clone()).await;
        Ok(table)
    }

    /// The handle as stored, possibly behind the newest commit.
    pub(crate) async fn handle(&self, t: Table) -> Result<Handle, LakeError> {
        if let Some(handle) = self.tables.lock().await.get(&t) {
            return Ok(handle.clone());
        }
        if let Some(reason) = self.unreadable.get(&t) {
            return Err(LakeError::Unreadable { table: t.name().to_string(), reason: reason.clone() });
        }
        Err(LakeError::MissingTable(t.name().to_string()))
    }

    /// The tables that exist, each at the newest version this lake knows.
    pub async fn tables(&self) -> Vec<(Table, DeltaTable)> {
        let names: Vec<Table> = self.tables.lock().await.keys().copied().collect();
        let mut out = Vec::with_capacity(names.len());
        for t in names {
            match self.table(t).await {
                Ok(table) => out.push((t, table)),
                // Unreadable now: the stored snapshot is what there is.
                Err(e) => {
                    tracing::warn!(table = t.name(), error = %e, "table could not be brought up to date");
                    if let Ok(h) = self.handle(t).await {
                        out.push((t, h.table));
                    }
                }
            }
        }
        out
    }

    /// Append batches to a table in one commit, after the newest version
    /// this lake knows of (a concurrent writer's commits are checked for
    /// conflicts and the append goes after them).
    pub async fn append(
        &self,
        t: Table,
        batches: Vec<RecordBatch>,
        commit: Option<CommitOptions>,
    ) -> Result<Committed, LakeError> {
        let Handle { table, head } = self.handle(t).await?;
        self.append_after(table, head, t, batches, commit).await
    }

    /// Append batches to a table in one commit based on the snapshot
    /// `base` (which must be this lake's table `t`): a concurrent commit
    /// since `base` that conflicts — e.g. one with the same application
    /// transaction — fails this one (see [`LakeError::is_commit_conflict`]).
    pub async fn append_on(
        &self,
        base: DeltaTable,
        t: Table,
        batches: Vec<RecordBatch>,
        commit: Option<CommitOptions>,
    ) -> Result<Committed, LakeError> {
        let version = base.version();
        self.append_after(base, version, t, batches, commit).await
    }

    async fn append_after(
        &self,
        table: DeltaTable,
        base: Option<u64>,
        t: Table,
        batches: Vec<RecordBatch>,
        commit: Option<CommitOptions>,
    ) -> Result<Committed, LakeError> {
        let rows = batches.iter().map(|b| b.num_rows()).sum();
        // Flows and logs were enriched by `prepare`; findings are here.
        let batches = if t == Table::Findings { self.enrich(batches).await? } else { batches };
        // Packet records are nearly all of the packets table's bytes.
        let blob = (t == Table::Packets).then_some("data");
        let options = commit.unwrap_or_default();
        // Tables are created (version 0) when the lake opens them.
        let base = base.ok_or_else(|| LakeError::delta(t, "append", DeltaTableError::NotInitialized))?;
        let (version, checkpointed) =
            crate::append::append_partitioned(&table, base, batches, writer_properties(t), options, blob)
                .await
                .map_err(|e| LakeError::delta(t, "append", e))?;
        let mut tables = self.tables.lock().await;
        let handle = tables.entry(t).or_insert_with(|| Handle::new(table));
        handle.head = handle.head.max(Some(version));
        if let Some(table) = checkpointed
            && handle.table.version() < table.version()
        {
            handle.table = table;
        }
        Ok(Committed { table: t, rows, version })
    }

    /// Store `table` as the handle of `t` unless the stored one is newer:
    /// concurrent appends and reloads finish in any order.
    async fn keep_newest(&self, t: Table, table: DeltaTable) {
        let mut tables = self.tables.lock().await;
        match tables.get_mut(&t) {
            Some(handle) => {
                handle.head = handle.head.max(table.version());
                if handle.table.version() <= table.version() {
                    handle.table = table;
                }
            }
            None => {
                tables.insert(t, Handle::new(table));
            }
        }
    }

    /// Store a table handle another operation produced (maintenance).
    pub(crate) async fn keep(&self, t: Table, table: DeltaTable) {
        self.keep_newest(t, table).await;
    }

    /// Reload one table to its latest version.
    pub async fn reload(&self, t: Table) -> Result<(), LakeError> {
        let mut table = self.handle(t).await?.table;
        table.load().await.map_err(|e| LakeError::delta(t, "reload", e))?;
        self.keep_newest(t, table).await;
        Ok(())
    }

    /// Reload every table to its latest version.
    pub async fn refresh(&self) -> Result<(), LakeError> {
        let mut tables = self.tables.lock().await;
        for (t, handle) in tables.iter_mut() {
            handle.table.load().await.map_err(|e| LakeError::delta(*t, "refresh", e))?;
            handle.head = handle.head.max(handle.table.version());
        }
        Ok(())
    }
}

/// Parquet settings per table: zstd, statistics, and bloom filters on the
/// columns investigators look up by value.
pub(crate) fn writer_properties(t: Table) -> WriterProperties {
    let rows_per_group = match t {
        Table::Packets => 4096,
        _ => 65_536,
    };
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(rows_per_group));
    for col in ["community_id", "src_ip", "dst_ip", "ip_lo", "ip_hi"] {
        if t.schema().index_of(col).is_ok() {
            // Size the filter for a row group's worth of distinct values: the
            // default (one million) allocates a megabyte per column per file.
            let path = ColumnPath::from(col);
            b = b
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_max_ndv(path.clone(), rows_per_group as u64)
                .set_column_bloom_filter_fpp(path, 0.01);
        }
    }
    // Packet bytes: no dictionary (values never repeat) and no min/max
    // statistics (never filtered on) — both cost time for nothing.
    for col in ["data", "raw"] {
        if t.schema().index_of(col).is_ok() {
            let path = ColumnPath::from(col);
            b = b
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    b.build()
}

impl LakeError {
    /// A commit lost to a concurrent writer in a way that retrying (after
    /// re-reading the table) can fix.
    pub fn is_commit_conflict(&self) -> bool {
        use deltalake::kernel::transaction::TransactionError;
        match self {
            LakeError::Delta { source, .. } => matches!(
                source.as_ref(),
                DeltaTableError::VersionAlreadyExists(_)
                    | DeltaTableError::Transaction {
                        source: TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_)
                    }
            ),
            _ => false,
        }
    }

    pub(crate) fn delta(t: Table, op: &'static str, e: DeltaTableError) -> Self {
        LakeError::Delta { table: t.name().to_string(), op, source: Box::new(e) }
    }
}

/// Shared lake handle.
pub type LakeRef = Arc<Lake>;
