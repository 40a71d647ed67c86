//! Triage: the detections on one row become one `findings` row, scored by
//! aggregating the scores of the rules that fired (Metron's threat triage:
//! max, sum or mean), with the row's endpoints, the intel sources, every
//! rule that fired, and the time window to carve.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int32Array, Int64Array, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use opensoc_schemas::{Table, event_date};

use super::Detection;
use super::row::BatchView;
use crate::intel::table::ts;

/// How the scores of the rules that fired on one row combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreAggregation {
    /// The highest score (Metron's default).
    #[default]
    Max,
    /// The sum, capped at 100: many weak signals add up.
    Sum,
    /// The mean.
    Mean,
}

impl std::str::FromStr for ScoreAggregation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "max" => Ok(ScoreAggregation::Max),
            "sum" => Ok(ScoreAggregation::Sum),
            "mean" | "avg" => Ok(ScoreAggregation::Mean),
            _ => Err(format!("score aggregation {s:?} is not max, sum or mean")),
        }
    }
}

impl ScoreAggregation {
    /// Combine `scores` (not empty) into one, 0–100.
    pub fn combine(self, scores: &[i32]) -> i32 {
        if scores.is_empty() {
            return 0;
        }
        let v = match self {
            ScoreAggregation::Max => scores.iter().copied().max().unwrap_or(0),
            ScoreAggregation::Sum => scores.iter().map(|s| i64::from(*s)).sum::<i64>().min(100) as i32,
            ScoreAggregation::Mean => {
                (scores.iter().map(|s| i64::from(*s)).sum::<i64>() as f64 / scores.len() as f64).round() as i32
            }
        };
        v.clamp(0, 100)
    }
}

/// Severity from a score (OCSF's names).
pub fn severity(score: i32) -> &'static str {
    match score {
        90.. => "Critical",
        70..=89 => "High",
        40..=69 => "Medium",
        _ => "Low",
    }
}

/// Fields triage reads from every row.
pub const TIME_FIELDS: [&str; 6] = ["ts_ns", "first_ts_ns", "last_ts_ns", "proto", "sensor_id", "community_id"];

/// The start and end time columns (ns) of a table's rows.
pub fn time_fields(table: Table) -> (&'static str, &'static str) {
    match table {
        Table::Flows => ("first_ts_ns", "last_ts_ns"),
        _ => ("ts_ns", "ts_ns"),
    }
}

/// One finding: a row and the detections on it, best first.
struct Finding {
    row: usize,
    detections: Vec<Detection>,
}

fn top(f: &Finding) -> &Detection {
    &f.detections[0]
}

/// The `findings` rows of `detections` on the rows of `view` (a batch of `table`).
pub fn findings(
    table: Table,
    view: &BatchView<'_>,
    id: &dyn Fn(&str) -> usize,
    detections: Vec<Detection>,
    aggregation: ScoreAggregation,
) -> Result<RecordBatch, ArrowError> {
    let mut by_row: BTreeMap<usize, Vec<Detection>> = BTreeMap::new();
    for d in detections {
        by_row.entry(d.row).or_default().push(d);
    }
    let found: Vec<Finding> = by_row
        .into_iter()
        .map(|(row, mut detections)| {
            detections.sort_by_key(|d| std::cmp::Reverse(d.score));
            Finding { row, detections }
        })
        .collect();
    let n = found.len();
    let (start_f, end_f) = time_fields(table);
    let (start_id, end_id) = (id(start_f), id(end_f));
    let num = |f: usize, row: usize| view.get(f, row).int();
    // A column of the findings from one field of their rows (its id resolved once).
    let texts = |name: &str| -> Vec<Option<String>> {
        let f = id(name);
        found.iter().map(|x| view.get(f, x.row).text().map(|s| s.into_owned())).collect()
    };
    let ints = |name: &str| -> ArrayRef {
        let f = id(name);
        Arc::new(Int32Array::from_iter(
            found.iter().map(|x| view.get(f, x.row).int().and_then(|v| i32::try_from(v).ok())),
        ))
    };
    let start: Vec<i64> = found.iter().map(|f| num(start_id, f.row).unwrap_or(0)).collect();
    let end: Vec<i64> = found.iter().zip(&start).map(|(f, s)| num(end_id, f.row).unwrap_or(*s)).collect();
    let scores: Vec<i32> =
        found.iter().map(|f| aggregation.combine(&f.detections.iter().map(|d| d.score).collect::<Vec<_>>())).collect();
    let carve: Vec<(i64, i64)> = found
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.detections.iter().filter_map(|d| d.window).fold((start[i], end[i]), |(a, b), (c, d)| (a.min(c), b.max(d)))
        })
        .collect();
    let list = |items: &mut dyn Iterator<Item = Vec<String>>| -> ArrayRef {
        let mut b =
            ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new("element", DataType::Utf8, true)));
        for v in items {
            for s in v {
                b.values().append_value(s);
            }
            b.append(true);
        }
        Arc::new(b.finish())
    };
    let strs = |v: Vec<Option<String>>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let sensor: Vec<String> = texts("sensor_id").into_iter().map(|s| s.unwrap_or_else(|| "unknown".into())).collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("time", ts(start.iter().map(|t| Some(*t)))),
        ("rule", Arc::new(StringArray::from_iter_values(found.iter().map(|f| top(f).rule.as_str())))),
        ("score", Arc::new(Int32Array::from(scores.clone()))),
        ("severity", Arc::new(StringArray::from_iter_values(scores.iter().map(|s| severity(*s))))),
        ("community_id", strs(texts("community_id"))),
        ("src_ip", strs(texts("src_ip"))),
        ("src_port", ints("src_port")),
        ("dst_ip", strs(texts("dst_ip"))),
        ("dst_port", ints("dst_port")),
        ("proto", ints("proto")),
        ("matched_field", Arc::new(StringArray::from_iter_values(found.iter().map(|f| top(f).matched_field.as_str())))),
        ("indicator", Arc::new(StringArray::from_iter_values(found.iter().map(|f| top(f).indicator.as_str())))),
        (
            "indicator_kind",
            Arc::new(StringArray::from_iter_values(found.iter().map(|f| top(f).indicator_kind.as_str()))),
        ),
        (
            "intel_sources",
            list(&mut found.iter().map(|f| {
                f.detections
                    .iter()
                    .flat_map(|d| d.sources.iter().cloned())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            })),
        ),
        (
            "rules",
            list(&mut found.iter().map(|f| {
                let mut seen = BTreeSet::new();
                f.detections.iter().filter(|d| seen.insert(d.rule.clone())).map(|d| d.rule.clone()).collect()
            })),
        ),
        (
            "description",
            strs(
                found
                    .iter()
                    .map(|f| {
                        let parts: Vec<&str> = f.detections.iter().filter_map(|d| d.description.as_deref()).collect();
                        (!parts.is_empty()).then(|| parts.join("; "))
                    })
                    .collect(),
            ),
        ),
        ("source_table", Arc::new(StringArray::from_iter_values(std::iter::repeat_n(table.name(), n)))),
        ("carve_from", ts(carve.iter().map(|c| Some(c.0)))),
        ("carve_to", ts(carve.iter().map(|c| Some(c.1)))),
        ("time_ns", Arc::new(Int64Array::from(start.clone()))),
        ("sensor_id", Arc::new(StringArray::from(sensor))),
        ("event_date", Arc::new(Date32Array::from_iter_values(start.iter().copied().map(event_date)))),
    ];
    let schema = Table::Findings.schema();
    let mut cols = cols;
    // GeoIP columns: filled when the findings are appended, like flows'.
    for (name, field) in opensoc_schemas::ENRICHMENT_COLUMNS.iter().zip(opensoc_schemas::enrichment()) {
        cols.push((name, arrow::array::new_null_array(field.data_type(), n)));
    }
    let mut ordered = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let at = cols
            .iter()
            .position(|(name, _)| name == f.name())
            .ok_or_else(|| ArrowError::SchemaError(format!("findings: no column {}", f.name())))?;
        ordered.push(cols.swap_remove(at).1);
    }
    RecordBatch::try_new(schema, ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregations_and_severities() {
        assert_eq!(ScoreAggregation::Max.combine(&[40, 75, 10]), 75);
        assert_eq!(ScoreAggregation::Sum.combine(&[40, 75, 10]), 100);
        assert_eq!(ScoreAggregation::Sum.combine(&[20, 30]), 50);
        assert_eq!(ScoreAggregation::Mean.combine(&[40, 75, 10]), 42);
        assert_eq!("SUM".parse::<ScoreAggregation>(), Ok(ScoreAggregation::Sum));
        assert!("median".parse::<ScoreAggregation>().is_err());
        assert_eq!(
            [severity(0), severity(39), severity(40), severity(69), severity(70), severity(89), severity(90)],
            ["Low", "Low", "Medium", "Medium", "High", "High", "Critical"]
        );
    }
}
