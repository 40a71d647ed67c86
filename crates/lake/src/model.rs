//! Behavioural models in the lake: training from a window of `flows`,
//! `dns` and `tls` into the `models` table ([`train`]), and loading the
//! newest model for scoring in the ingest pipeline ([`load_newest`],
//! [`Lake::enable_scoring`]), reloaded when a newer one is committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use futures::StreamExt;
use opensoc_model::columns::{int_at, ints, str_at, strings};
use opensoc_model::{FlowSample, Model, Settings, Trainer, store};
use opensoc_schemas::Table;
use serde::Serialize;

use crate::sql::SqlEngine;
use crate::time::date_literal;
use crate::{Lake, LakeError};

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// What to learn from.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Days of history, ending at `until`.
    pub window_days: u32,
    /// The window's end (ns, exclusive); the newest flow in the lake when `None`.
    pub until_ns: Option<i64>,
    /// Training and scoring settings, stored with the model.
    pub settings: Settings,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { window_days: 14, until_ns: None, settings: Settings::default() }
    }
}

/// What a training run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The new model's id.
    pub model_id: String,
    /// The window learned from (RFC 3339).
    pub window_from: String,
    /// See `window_from`.
    pub window_to: String,
    /// Rows read per table.
    pub rows_read: std::collections::BTreeMap<String, u64>,
    /// Hosts profiled.
    pub hosts: usize,
    /// Hosts with enough history to be scored.
    pub scored_hosts: usize,
    /// Pairs that were already periodic.
    pub periodic_pairs: usize,
    /// Distinct registrable domains seen.
    pub domains: u64,
    /// Rows committed to `models`.
    pub model_rows: usize,
    /// The `models` table version the commit created.
    pub version: u64,
    /// Seconds the run took.
    pub seconds: f64,
}

fn rfc3339(ns: i64) -> String {
    crate::time::format_time_ns(ns)
}

/// Learn a model from the window of the lake and commit it to `models` in
/// one commit. Every ingest that starts afterwards — and every running one
/// within a minute — scores against it.
pub async fn train(lake: &Lake, opts: &TrainOptions) -> Result<TrainReport, LakeError> {
    let started = Instant::now();
    opts.settings.validate().map_err(LakeError::Training)?;
    if opts.window_days == 0 {
        return Err(LakeError::Training("the window must be at least one day".into()));
    }
    let engine = SqlEngine::new(lake).await?;
    if !engine.has_table("flows") {
        return Err(LakeError::Training("the lake has no flows table to learn from".into()));
    }
    let until = match opts.until_ns {
        Some(u) => u,
        None => {
            newest_flow(&engine)
                .await?
                .ok_or_else(|| LakeError::Training("the flows table is empty: ingest traffic before training".into()))?
                + 1
        }
    };
    let from = until - i64::from(opts.window_days) * NS_PER_DAY;
    let (d_from, d_to) = (date_literal(from), date_literal(until));
    let window =
        |ts: &str| format!("event_date >= {d_from} AND event_date <= {d_to} AND {ts} >= {from} AND {ts} < {until}");
    let mut trainer = Trainer::new(opts.settings.clone());

    let sql = format!(
        "SELECT src_ip, dst_ip, dst_port, src_bytes, dst_bytes, first_ts_ns, src_country, dst_country, src_asn, dst_asn \
         FROM flows WHERE {}",
        window("first_ts_ns")
    );
    let mut stream = engine.stream(&sql).await?;
    while let Some(batch) = stream.next().await {
        let b = batch.map_err(|e| LakeError::Query(e.into()))?;
        add_flows(&mut trainer, &b);
    }
    for (table, column) in [("dns", "query"), ("tls", "sni")] {
        if !engine.has_table(table) {
            continue;
        }
        let sql =
            format!("SELECT src_ip, {column}, ts_ns FROM {table} WHERE {column} IS NOT NULL AND {}", window("ts_ns"));
        let mut stream = engine.stream(&sql).await?;
        while let Some(batch) = stream.next().await {
            let b = batch.map_err(|e| LakeError::Query(e.into()))?;
            let (Some(src), Some(names), Some(ts)) = (strings(&b, "src_ip"), strings(&b, column), ints(&b, "ts_ns"))
            else {
                continue;
            };
            for r in 0..b.num_rows() {
                if let (Some(h), Some(n), Some(t)) = (str_at(&src, r), str_at(&names, r), int_at(&ts, r)) {
                    trainer.add_name(table, h, n, t);
                }
            }
        }
    }
    // New connections only (a TCP SYN; UDP not split by a timeout or cap),
    // so a long connection cut into pieces does not look periodic.
    let sql = format!(
        "SELECT src_ip, dst_ip, dst_port, proto, array_agg(first_ts_ns ORDER BY first_ts_ns) AS times, \
         array_agg(src_bytes ORDER BY first_ts_ns) AS sizes FROM flows \
         WHERE {} AND ((proto = 6 AND (src_tcp_flags & 2) <> 0) OR (proto = 17 AND end_reason NOT IN ('active', 'packet-cap'))) \
         GROUP BY src_ip, dst_ip, dst_port, proto HAVING count(*) >= {}",
        window("first_ts_ns"),
        opts.settings.beacon_min_connections
    );
    let mut stream = engine.stream(&sql).await?;
    while let Some(batch) = stream.next().await {
        let b = batch.map_err(|e| LakeError::Query(e.into()))?;
        let (Some(src), Some(dst), Some(port), Some(proto)) =
            (strings(&b, "src_ip"), strings(&b, "dst_ip"), ints(&b, "dst_port"), ints(&b, "proto"))
        else {
            continue;
        };
        let (Some(times), Some(sizes)) = (b.column_by_name("times"), b.column_by_name("sizes")) else { continue };
        let (times, sizes) = (times.as_list::<i32>(), sizes.as_list::<i32>());
        for r in 0..b.num_rows() {
            let (Some(s), Some(d)) = (str_at(&src, r), str_at(&dst, r)) else { continue };
            let (t, z) = (times.value(r), sizes.value(r));
            let (t, z) = (t.as_primitive::<Int64Type>(), z.as_primitive::<Int64Type>());
            let mut conns: Vec<(i64, i64)> =
                t.iter().zip(z.iter()).filter_map(|(t, z)| Some((t?, z.unwrap_or(0)))).collect();
            trainer.add_pair_connections(
                s,
                d,
                int_at(&port, r).unwrap_or(0) as i32,
                int_at(&proto, r).unwrap_or(0) as i32,
                &mut conns,
            );
        }
    }

    let now = opensoc_rows::now_ns();
    let id = format!("m-{}-{}", crate::time::compact_utc(now), &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let model = trainer.finish(id, now, (from, until));
    if model.hosts.is_empty() {
        return Err(LakeError::Training(format!(
            "no flows between {} and {}: nothing to learn from (widen --window or ingest more)",
            rfc3339(from),
            rfc3339(until)
        )));
    }
    let batch = store::to_batch(&model).map_err(|e| LakeError::Training(format!("model rows: {e}")))?;
    let model_rows = batch.num_rows();
    lake.ensure_table(Table::Models).await?;
    let committed = lake.append(Table::Models, vec![batch], None).await?;
    tracing::info!(model = %model.id, hosts = model.hosts.len(), version = committed.version, "model committed");
    Ok(TrainReport {
        model_id: model.id.clone(),
        window_from: rfc3339(from),
        window_to: rfc3339(until),
        rows_read: model.rows_read.clone(),
        hosts: model.hosts.len(),
        scored_hosts: model.scored_hosts(),
        periodic_pairs: model.periodic.len(),
        domains: model.global.domain_count,
        model_rows,
        version: committed.version,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn newest_flow(engine: &SqlEngine) -> Result<Option<i64>, LakeError> {
    let (_, batches) = engine.query("SELECT max(first_ts_ns) AS newest FROM flows").await?;
    Ok(batches.first().filter(|b| b.num_rows() > 0).and_then(|b| {
        let c = b.column(0).as_primitive_opt::<Int64Type>()?;
        (!c.is_null(0)).then(|| c.value(0))
    }))
}

fn add_flows(trainer: &mut Trainer, b: &RecordBatch) {
    let (Some(src), Some(dst), Some(port), Some(sb), Some(db), Some(first)) = (
        strings(b, "src_ip"),
        strings(b, "dst_ip"),
        ints(b, "dst_port"),
        ints(b, "src_bytes"),
        ints(b, "dst_bytes"),
        ints(b, "first_ts_ns"),
    ) else {
        return;
    };
    let (sc, dc, sa, da) =
        (strings(b, "src_country"), strings(b, "dst_country"), ints(b, "src_asn"), ints(b, "dst_asn"));
    for r in 0..b.num_rows() {
        let (Some(s), Some(d), Some(ts)) = (str_at(&src, r), str_at(&dst, r), int_at(&first, r)) else { continue };
        trainer.add_flow(&FlowSample {
            src_ip: s,
            dst_ip: d,
            dst_port: int_at(&port, r).unwrap_or(0) as i32,
            src_bytes: int_at(&sb, r).unwrap_or(0),
            dst_bytes: int_at(&db, r).unwrap_or(0),
            first_ts_ns: ts,
            src_country: sc.as_ref().and_then(|c| str_at(c, r)),
            dst_country: dc.as_ref().and_then(|c| str_at(c, r)),
            src_asn: sa.as_ref().and_then(|c| int_at(c, r)),
            dst_asn: da.as_ref().and_then(|c| int_at(c, r)),
        });
    }
}

/// The newest model in the lake: `Ok(None)` when none was trained (or the
/// table does not exist); an error that says what is wrong when the rows
/// cannot be read or do not make a model.
pub async fn load_newest(lake: &Lake) -> Result<Option<Model>, LakeError> {
    let table = match lake.table(Table::Models).await {
        Ok(t) => t,
        Err(LakeError::MissingTable(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if table.version().unwrap_or(0) == 0 {
        return Ok(None);
    }
    let engine = SqlEngine::of_tables(lake, &[Table::Models]).await?;
    let (_, newest) = engine
        .query(
            "SELECT model_id, trained_at_ns FROM models WHERE entity_kind = 'model' \
             ORDER BY trained_at_ns DESC, model_id DESC LIMIT 1",
        )
        .await?;
    let Some(b) = newest.iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
    let (Some(ids), Some(ts)) = (strings(b, "model_id"), ints(b, "trained_at_ns")) else {
        return Err(LakeError::Training("the models table has unexpected columns".into()));
    };
    let id = str_at(&ids, 0).unwrap_or("").replace('\'', "''");
    let day = date_literal(int_at(&ts, 0).unwrap_or(0));
    let (_, rows) =
        engine.query(&format!("SELECT * FROM models WHERE event_date = {day} AND model_id = '{id}'")).await?;
    Ok(Some(store::from_batches(&rows)?))
}

/// Whether ingest scores, and against what.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoringStatus {
    /// Scoring with this model.
    Active {
        /// Its id.
        model_id: String,
        /// Hosts it profiles.
        hosts: usize,
        /// Of which scored.
        scored_hosts: usize,
    },
    /// No model was trained in this lake (`opensoc model train`).
    NoModel,
    /// Scoring was turned off by configuration.
    Off,
    /// The model cannot be used; ingest goes on without scoring.
    Unavailable(String),
}

impl std::fmt::Display for ScoringStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScoringStatus::Active { model_id, hosts, scored_hosts } => {
                write!(f, "anomaly scoring on: model {model_id} ({hosts} hosts, {scored_hosts} with enough history)")
            }
            ScoringStatus::NoModel => {
                write!(f, "anomaly scoring off: no model in this lake (build one with `opensoc model train`)")
            }
            ScoringStatus::Off => write!(f, "anomaly scoring off (turned off)"),
            ScoringStatus::Unavailable(why) => write!(f, "anomaly scoring off: {why}; ingest goes on without it"),
        }
    }
}

/// How often a running pipeline looks for a newer model.
pub const MODEL_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The reload bookkeeping of a lake that scores.
#[derive(Debug)]
pub(crate) struct ModelWatch {
    pub(crate) checked: Instant,
    pub(crate) version: Option<u64>,
    pub(crate) interval: Duration,
    pub(crate) status: ScoringStatus,
}

impl Lake {
    /// Load the newest model and score incoming rows against it; look for
    /// a newer one at most every `check` while ingesting. A missing model
    /// or one that cannot be used leaves scoring off and says why — ingest
    /// goes on either way.
    pub async fn enable_scoring(&self, check: Duration) -> ScoringStatus {
        let status = self.load_model_into_detector().await;
        let version = match self.table(Table::Models).await {
            Ok(t) => t.version(),
            Err(_) => None,
        };
        *self.model_watch() =
            Some(ModelWatch { checked: Instant::now(), version, interval: check, status: status.clone() });
        match &status {
            ScoringStatus::Unavailable(why) => tracing::error!(reason = %why, "anomaly scoring off"),
            s => tracing::info!(status = %s, "anomaly scoring"),
        }
        status
    }

    /// Whether ingest scores, and against what ([`ScoringStatus::Off`]
    /// until [`Lake::enable_scoring`]).
    pub fn scoring_status(&self) -> ScoringStatus {
        self.model_watch().as_ref().map_or(ScoringStatus::Off, |w| w.status.clone())
    }

    /// Rows scored so far, by outcome (zero while scoring is off).
    pub fn scoring_counts(&self) -> opensoc_model::ScoreCounts {
        self.detector().scorer().map(|s| s.counts()).unwrap_or_default()
    }

    async fn load_model_into_detector(&self) -> ScoringStatus {
        match load_newest(self).await {
            Ok(Some(model)) => {
                let status = ScoringStatus::Active {
                    model_id: model.id.clone(),
                    hosts: model.hosts.len(),
                    scored_hosts: model.scored_hosts(),
                };
                self.detector().set_model(Some(Arc::new(model)));
                status
            }
            Ok(None) => ScoringStatus::NoModel,
            Err(e) => ScoringStatus::Unavailable(format!("the newest model cannot be used: {e}")),
        }
    }

    /// When scoring is on and the check is due: reload the `models` table
    /// and switch to a newer model. A newer model that cannot be used is
    /// logged and the current one stays.
    pub(crate) async fn refresh_model_if_due(&self) {
        let due = {
            let mut watch = self.model_watch();
            match watch.as_mut() {
                Some(w) if w.checked.elapsed() >= w.interval => {
                    w.checked = Instant::now();
                    true
                }
                _ => false,
            }
        };
        if !due {
            return;
        }
        if self.ensure_table(Table::Models).await.is_err() || self.reload(Table::Models).await.is_err() {
            return;
        }
        let version = self.table(Table::Models).await.ok().and_then(|t| t.version());
        let changed = self.model_watch().as_ref().is_some_and(|w| w.version != version);
        if !changed {
            return;
        }
        match load_newest(self).await {
            Ok(Some(model)) => {
                let current = self.detector().scorer().map(|s| s.model().id.clone());
                if current.as_deref() != Some(model.id.as_str()) {
                    tracing::info!(model = %model.id, hosts = model.hosts.len(), "newer model loaded");
                    let status = ScoringStatus::Active {
                        model_id: model.id.clone(),
                        hosts: model.hosts.len(),
                        scored_hosts: model.scored_hosts(),
                    };
                    self.detector().set_model(Some(Arc::new(model)));
                    if let Some(w) = self.model_watch().as_mut() {
                        w.status = status;
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "a newer model was committed but cannot be used; scoring goes on with the current one")
            }
        }
        if let Some(w) = self.model_watch().as_mut() {
            w.version = version;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opensoc_model::FlowSample;

    fn model(id: &str, trained_at_ns: i64) -> Model {
        let mut t = Trainer::new(Settings::default());
        t.add_flow(&FlowSample {
            src_ip: "10.0.0.1",
            dst_ip: "81.2.69.160",
            dst_port: 443,
            src_bytes: 100,
            dst_bytes: 100,
            first_ts_ns: 0,
            src_country: None,
            dst_country: Some("GB"),
            src_asn: None,
            dst_asn: None,
        });
        t.finish(id.into(), trained_at_ns, (0, NS_PER_DAY))
    }

    #[tokio::test]
    async fn a_running_pipeline_switches_to_a_newer_model_and_keeps_a_good_one_over_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(crate::LakeLocation::parse(&dir.path().to_string_lossy()).unwrap()).await.unwrap();
        assert_eq!(lake.scoring_status(), ScoringStatus::Off);
        assert_eq!(lake.enable_scoring(Duration::ZERO).await, ScoringStatus::NoModel);
        let empty = RecordBatch::new_empty(Table::Flows.schema());

        lake.append(Table::Models, vec![store::to_batch(&model("m-1", 1)).unwrap()], None).await.unwrap();
        lake.prepare(Table::Flows, empty.clone()).await.unwrap();
        assert!(matches!(lake.scoring_status(), ScoringStatus::Active { ref model_id, .. } if model_id == "m-1"));
        assert_eq!(lake.detector().scorer().unwrap().model().id, "m-1");

        lake.append(Table::Models, vec![store::to_batch(&model("m-2", 2)).unwrap()], None).await.unwrap();
        lake.prepare(Table::Flows, empty.clone()).await.unwrap();
        assert_eq!(lake.detector().scorer().unwrap().model().id, "m-2");

        // A newer model whose rows are damaged (its global row lost): the good one stays.
        let bad = store::to_batch(&model("m-3", 3)).unwrap();
        let keep: Vec<u32> = (0..bad.num_rows() as u32).filter(|i| *i != 1).collect();
        let bad = deltalake::arrow::compute::take_record_batch(&bad, &deltalake::arrow::array::UInt32Array::from(keep))
            .unwrap();
        lake.append(Table::Models, vec![bad], None).await.unwrap();
        lake.prepare(Table::Flows, empty).await.unwrap();
        assert_eq!(lake.detector().scorer().unwrap().model().id, "m-2");
        let err = load_newest(&lake).await.unwrap_err().to_string();
        assert!(err.contains("model m-3 is corrupt") && err.contains("no global row"), "{err}");
    }
}
