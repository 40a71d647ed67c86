//! OCSF export for Amazon Security Lake (and anyone who reads OCSF).
//!
//! `export` writes plain Parquet per OCSF 1.3 class ([`classes`]) under
//! `TO/<class folder>/region=R/accountId=A/eventDay=YYYYMMDD/`, zstd, rows
//! sorted by time, row groups of at most [`ROW_GROUP_ROWS`] rows (well under
//! Security Lake's 256 MB).
//!
//! It is incremental: the export keeps, in `TO/_opensoc/ocsf-export.json`,
//! the last Delta version of each table it has exported, and the next run
//! reads only the files that later commits *added as new data*
//! (`dataChange: true` in the Delta log) — compaction rewrites
//! (`dataChange: false`) are skipped, so maintenance never exports a row
//! twice. Output names are derived from the version range and a chunk
//! number, so a run that dies before saving its state is redone, on the
//! next run, into the same objects. When the log entries since the last
//! export have been cleaned up (log retention), the run says so and
//! `full` re-exports the current snapshot.

pub mod classes;

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListBuilder, StringArray, StructBuilder};
use deltalake::arrow::array::{Int64Builder, StringBuilder};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Fields, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::WriterProperties;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

pub use classes::{CLASSES, OCSF_VERSION, OcsfClass};

use crate::{Lake, LakeError};

/// Rows per row group (OCSF rows are well under 1 KB each: far below 256 MB).
pub const ROW_GROUP_ROWS: usize = 100_000;
/// Rows mapped and written at once (bounds memory).
const CHUNK_ROWS: usize = 500_000;
/// Where the export keeps its state, under the export root.
pub const STATE_PATH: &str = "_opensoc/ocsf-export.json";

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The destination is not a folder or `s3://bucket/prefix/`.
    #[error("export destination {0:?}: {1}")]
    Destination(String, String),
    /// `region` or `account_id` is not what Security Lake's partitions take.
    #[error("{0}")]
    Invalid(String),
    /// The log entries since the last export are gone.
    #[error(
        "table {table}: the Delta log entry of version {version} is gone (log retention), so what changed since the \
         last export (version {since}) cannot be told; run with --full to export the current snapshot"
    )]
    LogGone {
        /// The table.
        table: String,
        /// The missing version.
        version: u64,
        /// The last exported version.
        since: u64,
    },
    /// Reading or writing an object failed.
    #[error("{context}: {source}")]
    Store {
        /// What was done.
        context: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// A lake operation failed.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Mapping rows to OCSF failed.
    #[error("mapping {table} to OCSF: {reason}")]
    Map {
        /// The table.
        table: String,
        /// Why.
        reason: String,
    },
}

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// `s3://bucket/prefix/` or a local folder.
    pub to: String,
    /// The `region=` partition (e.g. `us-east-1`).
    pub region: String,
    /// The `accountId=` partition (12 digits).
    pub account_id: String,
    /// The classes to export.
    pub classes: Vec<OcsfClass>,
    /// Export each table's current snapshot, ignoring the saved state.
    pub full: bool,
}

/// What an export did, per class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassReport {
    /// `class_uid`.
    pub class_uid: i32,
    /// The source table.
    pub table: String,
    /// Versions exported (`from..=to`), none when nothing was new.
    pub versions: Option<(u64, u64)>,
    /// Data files read.
    pub files_read: usize,
    /// Rows written.
    pub rows: u64,
    /// Objects written.
    pub objects: Vec<String>,
}

/// The export's memory of what it has done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExportState {
    /// Table name → the last Delta version exported.
    pub tables: BTreeMap<String, u64>,
}

/// Where the files go.
struct Destination {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    display: String,
}

impl Destination {
    fn parse(to: &str) -> Result<Destination, ExportError> {
        let bad = |why: &str| ExportError::Destination(to.to_string(), why.to_string());
        if let Some((bucket, prefix)) = crate::location::split_s3_uri(to) {
            if bucket.is_empty() {
                return Err(bad("no bucket"));
            }
            let store = crate::location::s3_store(bucket).map_err(|e| bad(&e))?;
            return Ok(Destination {
                store,
                prefix: prefix.trim_matches('/').to_string(),
                display: format!("s3://{bucket}"),
            });
        }
        if to.contains("://") {
            return Err(bad("only s3:// and local folders are supported"));
        }
        std::fs::create_dir_all(to).map_err(|e| bad(&e.to_string()))?;
        let root = std::fs::canonicalize(to).map_err(|e| bad(&e.to_string()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root).map_err(|e| bad(&e.to_string()))?;
        Ok(Destination { store: Arc::new(store), prefix: String::new(), display: root.display().to_string() })
    }

    fn path(&self, rel: &str) -> Path {
        if self.prefix.is_empty() { Path::from(rel) } else { Path::from(format!("{}/{rel}", self.prefix)) }
    }

    fn uri(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            format!("{}/{rel}", self.display)
        } else {
            format!("{}/{}/{rel}", self.display, self.prefix)
        }
    }

    async fn read_state(&self) -> Result<ExportState, ExportError> {
        match self.store.get(&self.path(STATE_PATH)).await {
            Ok(r) => {
                let bytes = r
                    .bytes()
                    .await
                    .map_err(|source| ExportError::Store { context: "reading the export state".into(), source })?;
                serde_json::from_slice(&bytes).map_err(|e| {
                    ExportError::Invalid(format!("the export state {} is damaged: {e}", self.uri(STATE_PATH)))
                })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(ExportState::default()),
            Err(source) => Err(ExportError::Store { context: "reading the export state".into(), source }),
        }
    }

    async fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), ExportError> {
        self.store
            .put(&self.path(rel), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|source| ExportError::Store { context: format!("writing {}", self.uri(rel)), source })
    }
}

fn check_partitions(o: &ExportOptions) -> Result<(), ExportError> {
    if o.account_id.len() != 12 || !o.account_id.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ExportError::Invalid(format!("account id {:?}: 12 digits", o.account_id)));
    }
    let region_ok = !o.region.is_empty()
        && o.region.len() <= 32
        && o.region.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !region_ok {
        return Err(ExportError::Invalid(format!("region {:?}: e.g. us-east-1", o.region)));
    }
    Ok(())
}

/// The files that commits `from..=to` added as new data (relative paths).
async fn added_files(
    table: &deltalake::DeltaTable,
    name: &str,
    from: u64,
    to: u64,
    since: u64,
) -> Result<Vec<String>, ExportError> {
    let log = table.log_store();
    let mut out = Vec::new();
    for v in from..=to {
        let entry = log.read_commit_entry(v).await.map_err(|e| ExportError::Map {
            table: name.into(),
            reason: format!("reading the log entry of version {v}: {e}"),
        })?;
        let Some(bytes) = entry else {
            return Err(ExportError::LogGone { table: name.into(), version: v, since });
        };
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(action) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
            if let Some(add) = action.get("add")
                && add["dataChange"].as_bool() == Some(true)
                && let Some(p) = add["path"].as_str()
            {
                out.push(p.to_string());
            }
        }
    }
    Ok(out)
}

async fn read_file(store: &Arc<dyn ObjectStore>, rel: &str, table: &str) -> Result<Vec<RecordBatch>, ExportError> {
    let path = Path::from_url_path(rel).map_err(|e| ExportError::Map {
        table: table.into(),
        reason: format!("the log names a file {rel:?} that is not a path: {e}"),
    })?;
    let bytes = store
        .get(&path)
        .await
        .map_err(|source| ExportError::Store { context: format!("reading {table}/{rel}"), source })?
        .bytes()
        .await
        .map_err(|source| ExportError::Store { context: format!("reading {table}/{rel}"), source })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.with_batch_size(65_536).build())
        .map_err(|e| ExportError::Map { table: table.into(), reason: format!("{rel}: {e}") })?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ExportError::Map { table: table.into(), reason: format!("{rel}: {e}") })
}

/// DNS answers as OCSF `dns_answer` objects (`rdata`, `ttl`) instead of
/// the two parallel lists the mapping SQL passes through.
fn dns_answers(batch: RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let (Ok(ai), Ok(ti)) = (schema.index_of("answers"), schema.index_of("answer_ttls")) else {
        return Ok(batch);
    };
    let answers = batch.column(ai).as_list::<i32>();
    let ttls = batch.column(ti).as_list::<i32>();
    let fields =
        Fields::from(vec![Field::new("rdata", DataType::Utf8, true), Field::new("ttl", DataType::Int64, true)]);
    let mut b = ListBuilder::new(StructBuilder::new(
        fields.clone(),
        vec![Box::new(StringBuilder::new()), Box::new(Int64Builder::new())],
    ));
    for row in 0..batch.num_rows() {
        if answers.is_null(row) {
            b.append(false);
            continue;
        }
        // Files rewritten by compaction may hold string views: cast first.
        let values = cast(&answers.value(row), &DataType::Utf8).map_err(|e| e.to_string())?;
        let values = values.as_any().downcast_ref::<StringArray>().ok_or("answers are not text")?;
        let row_ttls = match (!ttls.is_null(row)).then(|| ttls.value(row)) {
            Some(t) => Some(cast(&t, &DataType::Int64).map_err(|e| e.to_string())?),
            None => None,
        };
        let row_ttls = row_ttls.as_ref().and_then(|t| t.as_any().downcast_ref::<Int64Array>().cloned());
        for i in 0..values.len() {
            let s = b.values();
            s.field_builder::<StringBuilder>(0)
                .ok_or("rdata builder")?
                .append_option(values.is_valid(i).then(|| values.value(i)));
            let ttl = row_ttls.as_ref().and_then(|t| (i < t.len() && t.is_valid(i)).then(|| t.value(i)));
            s.field_builder::<Int64Builder>(1).ok_or("ttl builder")?.append_option(ttl);
            s.append(true);
        }
        b.append(true);
    }
    let mut new_fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if i == ti {
            continue;
        }
        if i == ai {
            let list = b.finish();
            new_fields.push(Field::new("answers", list.data_type().clone(), true));
            columns.push(Arc::new(list));
        } else {
            new_fields.push(f.as_ref().clone());
            columns.push(batch.column(i).clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(new_fields)), columns).map_err(|e| e.to_string())
}

/// `t` with every `Utf8View` (what DataFusion's string functions return)
/// as `Utf8`, nested types included: Athena, Glue and Spark read Parquet
/// strings either way, but the Arrow schema stored in the file should say
/// plain strings.
fn without_views(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::Struct(fields) => DataType::Struct(
            fields.iter().map(|f| f.as_ref().clone().with_data_type(without_views(f.data_type()))).collect(),
        ),
        DataType::List(f) => DataType::List(Arc::new(f.as_ref().clone().with_data_type(without_views(f.data_type())))),
        other => other.clone(),
    }
}

fn plain_strings(batch: RecordBatch) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        let t = without_views(f.data_type());
        let c = if &t == f.data_type() { c.clone() } else { cast(c, &t).map_err(|e| format!("{}: {e}", f.name()))? };
        fields.push(f.as_ref().clone().with_data_type(t));
        columns.push(c);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// `batch` in `target`'s schema: columns by name, cast where the type is
/// spelled differently, nulls for a column an older file lacks.
fn conform(batch: &RecordBatch, target: &Arc<Schema>) -> Result<RecordBatch, String> {
    let mut columns = Vec::with_capacity(target.fields().len());
    for f in target.fields() {
        let c = match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            Some(c) => cast(c, f.data_type()).map_err(|e| format!("{}: {e}", f.name()))?,
            None => deltalake::arrow::array::new_null_array(f.data_type(), batch.num_rows()),
        };
        columns.push(c);
    }
    RecordBatch::try_new(target.clone(), columns).map_err(|e| e.to_string())
}

/// Map `rows` of `class.table` to the class, sorted by day then time.
async fn map(class: &OcsfClass, rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, ExportError> {
    let table = class.table.name();
    let err = |e: &dyn std::fmt::Display| ExportError::Map { table: table.into(), reason: e.to_string() };
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Files of one table may differ in how they spell a type (compaction
    // writes string views, older files plain strings): one schema, the
    // table's own, for all of them.
    let schema = class.table.schema();
    // Every column nullable: a required column's nulls would have failed
    // the table's own write; what matters here is one schema.
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| f.name() != opensoc_schemas::PARTITION_COLUMN)
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let target = Arc::new(Schema::new(fields));
    let rows =
        rows.into_iter().map(|b| conform(&b, &target)).collect::<Result<Vec<_>, String>>().map_err(|e| err(&e))?;
    let ctx = SessionContext::new();
    let mem = MemTable::try_new(target, vec![rows]).map_err(|e| err(&e))?;
    ctx.register_table("src", Arc::new(mem)).map_err(|e| err(&e))?;
    let sql = format!("SELECT * FROM ({}) ORDER BY event_day, time", classes::sql(class));
    let batches = ctx.sql(&sql).await.map_err(|e| err(&e))?.collect().await.map_err(|e| err(&e))?;
    batches
        .into_iter()
        .map(|b| {
            let b = if class.uid == 4003 { dns_answers(b)? } else { b };
            plain_strings(b)
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| err(&e))
}

/// Split sorted batches by `event_day`, dropping the column.
fn by_day(batches: Vec<RecordBatch>) -> Result<BTreeMap<String, Vec<RecordBatch>>, String> {
    let mut out: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    for b in batches {
        let idx = b.schema().index_of("event_day").map_err(|e| e.to_string())?;
        let days = b.column(idx).as_string_opt::<i32>().ok_or("event_day is not text")?.clone();
        let keep: Vec<usize> = (0..b.num_columns()).filter(|i| *i != idx).collect();
        let b = b.project(&keep).map_err(|e| e.to_string())?;
        let mut start = 0;
        while start < b.num_rows() {
            let day = days.value(start).to_string();
            let mut end = start + 1;
            while end < b.num_rows() && days.value(end) == day {
                end += 1;
            }
            out.entry(day).or_default().push(b.slice(start, end - start));
            start = end;
        }
    }
    Ok(out)
}

fn parquet(batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| e.to_string())?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut buf = Vec::new();
    let schema = batches.first().ok_or("nothing to write")?.schema();
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.close().map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Map and write one chunk of rows; returns (rows, objects).
async fn write_chunk(
    dest: &Destination,
    o: &ExportOptions,
    class: &OcsfClass,
    rows: Vec<RecordBatch>,
    name: &str,
) -> Result<(u64, Vec<String>), ExportError> {
    let table = class.table.name();
    let mapped = map(class, rows).await?;
    let days = by_day(mapped).map_err(|reason| ExportError::Map { table: table.into(), reason })?;
    let mut objects = Vec::new();
    let mut n = 0;
    for (day, batches) in days {
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            continue;
        }
        let bytes = parquet(&batches).map_err(|reason| ExportError::Map { table: table.into(), reason })?;
        let rel = format!(
            "{}/region={}/accountId={}/eventDay={day}/{name}.zstd.parquet",
            class.folder, o.region, o.account_id
        );
        dest.put(&rel, bytes).await?;
        objects.push(dest.uri(&rel));
        n += rows as u64;
    }
    Ok((n, objects))
}

/// Export what is new in the lake since the last export to `o.to`.
pub async fn export(lake: &Lake, o: &ExportOptions) -> Result<Vec<ClassReport>, ExportError> {
    check_partitions(o)?;
    let dest = Destination::parse(&o.to)?;
    let mut state = if o.full { ExportState::default() } else { dest.read_state().await? };
    let mut reports = Vec::new();
    for class in &o.classes {
        let name = class.table.name();
        let mut report = ClassReport { class_uid: class.uid, table: name.into(), ..Default::default() };
        let table = match lake.table(class.table).await {
            Ok(t) => t,
            Err(LakeError::MissingTable(_)) => {
                reports.push(report);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let Some(current) = table.version() else {
            reports.push(report);
            continue;
        };
        let done = state.tables.get(name).copied();
        let files = match done {
            Some(v) if v >= current => Vec::new(),
            Some(v) => added_files(&table, name, v + 1, current, v).await?,
            None => {
                // Never exported (or --full): the current snapshot.
                let snapshot =
                    table.snapshot().map_err(|e| ExportError::Lake(LakeError::delta(class.table, "list files", e)))?;
                snapshot.log_data().iter().map(|f| f.path().to_string()).collect()
            }
        };
        let from = done.map_or(0, |v| v + 1);
        if !files.is_empty() {
            report.versions = Some((from, current));
        }
        let store = table.object_store();
        let mut chunk = Vec::new();
        let mut chunk_rows = 0;
        let mut chunk_no = 0;
        for (i, rel) in files.iter().enumerate() {
            let batches = read_file(&store, rel, name).await?;
            report.files_read += 1;
            chunk_rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
            chunk.extend(batches);
            if chunk_rows >= CHUNK_ROWS || i + 1 == files.len() {
                let obj = format!("{name}-v{from}-v{current}-{chunk_no:04}");
                let (n, objects) = write_chunk(&dest, o, class, std::mem::take(&mut chunk), &obj).await?;
                report.rows += n;
                report.objects.extend(objects);
                chunk_rows = 0;
                chunk_no += 1;
            }
        }
        state.tables.insert(name.to_string(), current);
        tracing::info!(table = name, class = class.uid, rows = report.rows, files = report.files_read, "exported");
        reports.push(report);
    }
    let json = serde_json::to_vec_pretty(&state).map_err(|e| ExportError::Invalid(e.to_string()))?;
    dest.put(STATE_PATH, json).await?;
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_spell_types_differently_conform_to_one_schema() {
        use deltalake::arrow::array::StringViewArray;
        let target =
            Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Int64, true)]));
        // A compacted file: a string view, and no column b.
        let view = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8View, false)])),
            vec![Arc::new(StringViewArray::from(vec!["x", "y"]))],
        )
        .unwrap();
        let c = conform(&view, &target).unwrap();
        assert_eq!(c.schema(), target);
        assert_eq!(c.column(0).as_string::<i32>().value(1), "y");
        assert_eq!(c.column(1).null_count(), 2);
    }

    #[test]
    fn partitions_are_checked() {
        let o = |region: &str, account: &str| ExportOptions {
            to: "x".into(),
            region: region.into(),
            account_id: account.into(),
            classes: CLASSES.to_vec(),
            full: false,
        };
        assert!(check_partitions(&o("us-east-1", "123456789012")).is_ok());
        assert!(check_partitions(&o("us-east-1", "1234")).is_err());
        assert!(check_partitions(&o("../x", "123456789012")).is_err());
        assert!(check_partitions(&o("", "123456789012")).is_err());
    }
}
