//! A model as rows of the `models` table and back. One training run is one
//! commit of: a header row (`entity_kind = model`: the format, settings and
//! counts), one row per host (its profile as JSON, whether it is scored
//! and, when not, why), one per periodic pair, and a `global` row with the
//! lake-wide sets (the domain Bloom filter in `sketch`). Profiles are JSON
//! so analysts can read them with SQL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use opensoc_schemas::{Table, event_date, ts_micros};
use serde::{Deserialize, Serialize};

use crate::columns::{int_at, ints, str_at, strings};
use crate::profile::{Global, HostProfile, Model, PeriodicPair, Settings, pair_key};
use crate::sketch::Bloom;

/// The row format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Why a stored model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The rows do not make a model.
    #[error("model {model} is corrupt: {reason}")]
    Corrupt {
        /// The model id (or `?`).
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// Arrow refused the rows.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    settings: Settings,
    hosts: usize,
    pairs: usize,
    rows_read: BTreeMap<String, u64>,
}

#[derive(Serialize, Deserialize)]
struct GlobalRow {
    domain_count: u64,
    country_hosts: BTreeMap<String, u32>,
    asn_hosts: BTreeMap<i64, u32>,
}

struct Row {
    kind: &'static str,
    entity: String,
    scored: Option<bool>,
    note: Option<String>,
    hours: Option<i64>,
    days: Option<i64>,
    profile: String,
    sketch: Option<Vec<u8>>,
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The rows of `model`, in the `models` table's schema.
pub fn to_batch(model: &Model) -> Result<RecordBatch, ArrowError> {
    let header = Header {
        format: FORMAT,
        settings: model.settings.clone(),
        hosts: model.hosts.len(),
        pairs: model.periodic.len(),
        rows_read: model.rows_read.clone(),
    };
    let g = &model.global;
    let mut rows = vec![
        Row {
            kind: "model",
            entity: model.id.clone(),
            scored: None,
            note: Some(format!(
                "{} hosts ({} scored), {} periodic pairs, {} domains",
                model.hosts.len(),
                model.scored_hosts(),
                model.periodic.len(),
                g.domain_count
            )),
            hours: None,
            days: None,
            profile: json(&header),
            sketch: None,
        },
        Row {
            kind: "global",
            entity: "lake".into(),
            scored: None,
            note: None,
            hours: None,
            days: None,
            profile: json(&GlobalRow {
                domain_count: g.domain_count,
                country_hosts: g.country_hosts.clone(),
                asn_hosts: g.asn_hosts.clone(),
            }),
            sketch: Some(g.domains.to_bytes()),
        },
    ];
    let mut hosts: Vec<(&String, &HostProfile)> = model.hosts.iter().collect();
    hosts.sort_by(|a, b| a.0.cmp(b.0));
    for (host, p) in hosts {
        let reason = p.unscored_reason(&model.settings);
        rows.push(Row {
            kind: "host",
            entity: host.clone(),
            scored: Some(reason.is_none()),
            note: reason,
            hours: Some(i64::from(p.active_hours)),
            days: Some(i64::from(p.active_days)),
            profile: json(p),
            sketch: None,
        });
    }
    for p in &model.periodic {
        rows.push(Row {
            kind: "pair",
            entity: format!("{} -> {}:{}/{}", p.src, p.dst, p.dst_port, p.proto),
            scored: Some(false),
            note: Some(format!("periodic in the baseline (every {:.0} s): not a beacon", p.interval_s)),
            hours: None,
            days: None,
            profile: json(p),
            sketch: None,
        });
    }
    let n = rows.len();
    let ts = |ns: i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(vec![ts_micros(ns); n]).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        ts(model.trained_at_ns),
        Arc::new(StringArray::from(vec![model.id.as_str(); n])),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.kind))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.entity.as_str()))),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.scored).collect::<Vec<_>>())),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.note.as_deref()))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.hours))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.days))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.profile.as_str()))),
        Arc::new(BinaryArray::from_iter(rows.iter().map(|r| r.sketch.as_deref()))),
        ts(model.window.0),
        ts(model.window.1),
        Arc::new(Int64Array::from(vec![model.trained_at_ns; n])),
        Arc::new(Date32Array::from(vec![event_date(model.trained_at_ns); n])),
    ];
    RecordBatch::try_new(Table::Models.schema(), columns)
}

/// The model in `batches` (the rows of one model id, in any order and
/// batching). Anything missing, unparseable or inconsistent is
/// [`ModelError::Corrupt`] saying what.
pub fn from_batches(batches: &[RecordBatch]) -> Result<Model, ModelError> {
    let mut id = None::<String>;
    let corrupt = |id: &Option<String>, reason: String| ModelError::Corrupt {
        model: id.clone().unwrap_or_else(|| "?".into()),
        reason,
    };
    let mut header = None::<(Header, i64)>;
    let mut window = (0, 0);
    let mut global = None::<Global>;
    let mut hosts = HashMap::new();
    let mut periodic = Vec::new();
    for b in batches {
        let col = |name: &str| strings(b, name).ok_or_else(|| corrupt(&id, format!("no column {name}")));
        let (ids, kinds, entities, profiles) = (col("model_id")?, col("entity_kind")?, col("entity")?, col("profile")?);
        let trained = ints(b, "trained_at_ns").ok_or_else(|| corrupt(&id, "no column trained_at_ns".into()))?;
        let micros = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).ok())
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
        };
        let (from, to) = (micros("window_from"), micros("window_to"));
        let sketches = b
            .column_by_name("sketch")
            .and_then(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Binary).ok())
            .and_then(|c| c.as_any().downcast_ref::<BinaryArray>().cloned());
        for row in 0..b.num_rows() {
            let row_id = str_at(&ids, row).unwrap_or("");
            match &id {
                None => id = Some(row_id.to_string()),
                Some(i) if i != row_id => return Err(corrupt(&id, format!("rows of two models ({i} and {row_id})"))),
                _ => {}
            }
            let entity = str_at(&entities, row).unwrap_or("");
            let profile = str_at(&profiles, row).unwrap_or("");
            let bad = |what: &str, e: serde_json::Error| corrupt(&id, format!("{what} {entity}: {e}"));
            match str_at(&kinds, row).unwrap_or("") {
                "model" => {
                    let h: Header = serde_json::from_str(profile).map_err(|e| bad("header", e))?;
                    if h.format != FORMAT {
                        return Err(corrupt(
                            &id,
                            format!("format {} (this build reads {FORMAT}); train again", h.format),
                        ));
                    }
                    h.settings.validate().map_err(|e| corrupt(&id, format!("settings: {e}")))?;
                    let ns = |a: &Option<Int64Array>| a.as_ref().and_then(|a| int_at(a, row)).map_or(0, |us| us * 1000);
                    window = (ns(&from), ns(&to));
                    header = Some((h, int_at(&trained, row).unwrap_or(0)));
                }
                "global" => {
                    let g: GlobalRow = serde_json::from_str(profile).map_err(|e| bad("global", e))?;
                    let bytes = sketches.as_ref().filter(|s| !s.is_null(row)).map(|s| s.value(row));
                    let domains = bytes
                        .and_then(Bloom::from_bytes)
                        .ok_or_else(|| corrupt(&id, "the domain filter is missing or damaged".into()))?;
                    global = Some(Global {
                        domains,
                        domain_count: g.domain_count,
                        country_hosts: g.country_hosts,
                        asn_hosts: g.asn_hosts,
                    });
                }
                "host" => {
                    let p: HostProfile = serde_json::from_str(profile).map_err(|e| bad("host", e))?;
                    if p.sent_bytes_by_hour.len() != 24 {
                        return Err(corrupt(
                            &id,
                            format!("host {entity}: {} hours of day", p.sent_bytes_by_hour.len()),
                        ));
                    }
                    hosts.insert(entity.to_string(), p);
                }
                "pair" => periodic.push(serde_json::from_str::<PeriodicPair>(profile).map_err(|e| bad("pair", e))?),
                other => return Err(corrupt(&id, format!("unknown entity kind {other:?}"))),
            }
        }
    }
    let (header, trained_at_ns) = header.ok_or_else(|| corrupt(&id, "no header row".into()))?;
    let global = global.ok_or_else(|| corrupt(&id, "no global row".into()))?;
    if hosts.len() != header.hosts || periodic.len() != header.pairs {
        return Err(corrupt(
            &id,
            format!(
                "{} host and {} pair rows where the header says {} and {}",
                hosts.len(),
                periodic.len(),
                header.hosts,
                header.pairs
            ),
        ));
    }
    let periodic_keys: HashSet<u64> = periodic.iter().map(|p| pair_key(&p.src, &p.dst, p.dst_port, p.proto)).collect();
    Ok(Model {
        id: id.unwrap_or_default(),
        trained_at_ns,
        window,
        settings: header.settings,
        hosts,
        periodic,
        periodic_keys,
        global,
        rows_read: header.rows_read,
    })
}
