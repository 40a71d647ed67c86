//! The lake's threat intelligence: the `intel` table read back into an
//! index, and intel hits derived as `findings` rows.

use std::collections::HashMap;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringArray, StringViewArray,
};
use deltalake::arrow::datatypes::{DataType, Int32Type, Int64Type};
use opensoc_enrich::intel::{Indicator, IndicatorKind, IntelIndex};

use std::path::PathBuf;

use opensoc_enrich::detect::{Detector, RuleSet, ScoreAggregation};

use opensoc_enrich::flows::GeoEnricher;
use opensoc_schemas::Table;

use crate::sql::SqlEngine;
use crate::{Lake, LakeError, LakeLocation};

/// A string column as DataFusion returns it (plain or view), read without
/// copying; other types are cast to text.
pub(crate) enum Strs {
    Plain(StringArray),
    View(StringViewArray),
}

impl Strs {
    pub(crate) fn of(col: &ArrayRef) -> Option<Strs> {
        match col.data_type() {
            DataType::Utf8View => col.as_string_view_opt().cloned().map(Strs::View),
            DataType::Utf8 => col.as_string_opt::<i32>().cloned().map(Strs::Plain),
            _ => deltalake::arrow::compute::cast(col, &DataType::Utf8)
                .ok()
                .and_then(|c| c.as_string_opt::<i32>().cloned())
                .map(Strs::Plain),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Strs::Plain(a) => a.len(),
            Strs::View(a) => a.len(),
        }
    }

    pub(crate) fn is_null(&self, i: usize) -> bool {
        match self {
            Strs::Plain(a) => a.is_null(i),
            Strs::View(a) => a.is_null(i),
        }
    }

    pub(crate) fn value(&self, i: usize) -> &str {
        match self {
            Strs::Plain(a) => a.value(i),
            Strs::View(a) => a.value(i),
        }
    }
}

/// The feed a row of the `intel` table came from: its `feed_file` without
/// the content digest `opensoc intel sync` appends (`URL#sha256=…`).
pub const FEED_OF_ROW: &str = "split_part(coalesce(feed_file, ''), '#sha256=', 1)";

/// `SELECT {columns}` over the `intel` rows (`i`) joined to the newest load
/// time of their feed (`f.newest`), keeping the rows whose load time is
/// `cmp` (`=`, `<`) to it.
fn loads_sql(columns: &str, cmp: &str) -> String {
    format!(
        "SELECT {columns} FROM intel i JOIN \
         (SELECT {FEED_OF_ROW} AS feed, max(loaded_at) AS newest FROM intel GROUP BY 1) f \
         ON {feed_i} = f.feed AND i.loaded_at {cmp} f.newest",
        feed_i = FEED_OF_ROW.replace("feed_file", "i.feed_file"),
    )
}

/// The rows of the newest load of each feed: a load is a snapshot of its
/// feed, so an indicator the feed dropped is no longer matched.
pub fn current_loads_sql(columns: &str) -> String {
    loads_sql(columns, "=")
}

/// The rows of loads a newer load of the same feed replaced (what
/// maintenance deletes).
pub fn superseded_loads_sql(columns: &str) -> String {
    loads_sql(columns, "<")
}

/// The indicators of the `intel` table: of the newest load of each feed,
/// the newest row of each kind, value and source (no sort: the newest is
/// kept while reading).
pub async fn read_indicators(lake: &Lake) -> Result<Vec<Indicator>, LakeError> {
    let engine = SqlEngine::new(lake).await?;
    let sql = current_loads_sql(
        "i.kind, i.value, i.source, i.confidence, \
         CAST(i.first_seen AS BIGINT) AS first_seen, CAST(i.last_seen AS BIGINT) AS last_seen, \
         CAST(i.expires AS BIGINT) AS expires, i.description, CAST(i.loaded_at AS BIGINT) AS loaded_at",
    );
    let (_, batches) = engine.query(&sql).await?;
    // DataFusion hands strings back as views or plain arrays: read either
    // without copying.
    let strings = |b: &RecordBatch, i: usize| Strs::of(b.column(i));
    let ints = |b: &RecordBatch, i: usize| b.column(i).as_primitive_opt::<Int64Type>().cloned();
    struct Cols {
        kind: Strs,
        value: Strs,
        source: Strs,
        desc: Strs,
        conf: Option<Int32Array>,
        first: Option<Int64Array>,
        last: Option<Int64Array>,
        expires: Option<Int64Array>,
        loaded: Option<Int64Array>,
    }
    let mut cols = Vec::with_capacity(batches.len());
    for b in &batches {
        let (Some(kind), Some(value), Some(source), Some(desc)) =
            (strings(b, 0), strings(b, 1), strings(b, 2), strings(b, 7))
        else {
            return Err(LakeError::Enrich("the intel table has unexpected column types".into()));
        };
        cols.push(Cols {
            kind,
            value,
            source,
            desc,
            conf: b.column(3).as_primitive_opt::<Int32Type>().cloned(),
            first: ints(b, 4),
            last: ints(b, 5),
            expires: ints(b, 6),
            loaded: ints(b, 8),
        });
    }
    // (kind, value, source) → the newest (loaded_at, batch, row), borrowing the strings.
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut newest: ahash::AHashMap<(&str, &str, &str), (i64, usize, usize)> = ahash::AHashMap::with_capacity(rows);
    for (bi, c) in cols.iter().enumerate() {
        for r in 0..c.kind.len() {
            let at = c.loaded.as_ref().map_or(0, |l| l.value(r));
            let key = (c.kind.value(r), c.value.value(r), c.source.value(r));
            let slot = newest.entry(key).or_insert((at, bi, r));
            if at > slot.0 {
                *slot = (at, bi, r);
            }
        }
    }
    let us_to_ns = |a: &Option<Int64Array>, r: usize| {
        a.as_ref().filter(|a| !a.is_null(r)).map(|a| a.value(r).saturating_mul(1000))
    };
    let mut sources: HashMap<&str, std::sync::Arc<str>> = HashMap::new();
    let mut out = Vec::with_capacity(newest.len());
    for ((k, v, src), (_, bi, r)) in newest {
        let Some(kind) = IndicatorKind::from_name(k) else { continue };
        let c = &cols[bi];
        let source = sources.entry(src).or_insert_with(|| std::sync::Arc::from(src)).clone();
        let mut ind = Indicator::new(kind, v, source);
        ind.confidence = c.conf.as_ref().filter(|a| !a.is_null(r)).map(|a| a.value(r).clamp(0, 100) as u8);
        ind.first_seen_ns = us_to_ns(&c.first, r);
        ind.last_seen_ns = us_to_ns(&c.last, r);
        ind.expires_ns = us_to_ns(&c.expires, r);
        ind.description = (!c.desc.is_null(r)).then(|| c.desc.value(r).to_string());
        out.push(ind);
    }
    Ok(out)
}

/// What the ingest pipeline enriches and detects with.
#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    /// MaxMind databases (GeoLite2/GeoIP2 City or Country, ASN, Anonymous
    /// IP): a folder, or `s3://bucket/prefix/` (mirrored locally).
    pub geoip: Option<PathBuf>,
    /// A folder of YAML rules, added to (or replacing) the built-in ones.
    pub rules: Option<PathBuf>,
    /// Leave the built-in rules out.
    pub no_builtin_rules: bool,
    /// How the scores of the rules that fired on one row combine.
    pub score_aggregation: ScoreAggregation,
    /// Do not score rows against the lake's behavioural model.
    pub no_scoring: bool,
}

impl PipelineOptions {
    /// The detector these options describe; every bad rule is named in the error.
    pub fn detector(&self) -> Result<Detector, LakeError> {
        let mut rules = if self.no_builtin_rules { RuleSet::empty() } else { RuleSet::builtin() };
        if let Some(dir) = &self.rules {
            let added = rules.load_dir(dir).map_err(|errors| {
                let list: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
                LakeError::Enrich(format!("{} bad rule(s) in {}:\n{}", errors.len(), dir.display(), list.join("\n")))
            })?;
            tracing::info!(rules = added, dir = %dir.display(), "rules loaded");
        }
        Ok(Detector::new(rules, self.score_aggregation))
    }
}

impl Lake {
    /// Match incoming rows against the `intel` table's indicators and add
    /// the hits to `findings`, when the table holds any. Returns the lake
    /// and the number of indicators in use.
    pub async fn with_intel_from_table(self) -> Result<(Lake, usize), LakeError> {
        // A table never loaded into has only its creation commit: no query.
        if self.table(Table::Intel).await?.version().unwrap_or(0) == 0 {
            return Ok((self, 0));
        }
        let started = std::time::Instant::now();
        let indicators = read_indicators(&self).await?;
        let read = started.elapsed();
        let n = indicators.len();
        if n == 0 {
            return Ok((self, 0));
        }
        let index = IntelIndex::build(indicators);
        tracing::info!(
            indicators = n,
            read_ms = read.as_millis() as u64,
            build_ms = (started.elapsed() - read).as_millis() as u64,
            "intel index built from the intel table"
        );
        Ok((self.with_intel(index), n))
    }

    /// Open (creating) the lake with the ingest pipeline's enrichment and
    /// detection: GeoIP and rules as `opts` say — loaded first, so a bad
    /// folder or rule fails before the lake is touched — and the `intel`
    /// table's indicators when it holds any. What `opensoc ingest`,
    /// `opensoc esm` and the ingest function all open.
    pub async fn open_enriched(location: LakeLocation, opts: &PipelineOptions) -> Result<Lake, LakeError> {
        let geoip = opts.geoip.as_ref().map(|p| p.to_string_lossy().into_owned());
        let sync = match geoip.as_deref() {
            Some(uri) if uri.starts_with("s3://") => Some(crate::geoip_sync::GeoSync::start(uri).await?),
            _ => None,
        };
        let dir = match &sync {
            Some(s) => Some(s.dir().to_path_buf()),
            None => opts.geoip.clone(),
        };
        let geo = match dir {
            Some(dir) => Some(GeoEnricher::open(dir).map_err(|e| LakeError::Enrich(format!("GeoIP databases: {e}")))?),
            None => None,
        };
        let detector = opts.detector()?;
        let mut lake = Lake::open(location).await?.with_detector(detector);
        if let Some(geo) = geo {
            tracing::info!(databases = %geo.describe(), "GeoIP enrichment on");
            lake = lake.with_geoip(geo);
        }
        if let Some(sync) = sync {
            lake = lake.with_geoip_sync(sync);
        }
        let (lake, indicators) = lake.with_intel_from_table().await?;
        if indicators > 0 {
            tracing::info!(indicators, "threat-intel matching on: hits go to the findings table");
        }
        if !opts.no_scoring {
            lake.enable_scoring(crate::model::MODEL_CHECK_INTERVAL).await;
        }
        Ok(lake)
    }
}
