//! The lake's threat intelligence: the `intel` table read back into an
//! index, and intel hits derived as `findings` rows.

use std::collections::HashMap;

use deltalake::arrow::array::{Array, AsArray, Int64Array};
use deltalake::arrow::datatypes::{Int32Type, Int64Type};
use opensoc_enrich::intel::{Indicator, IndicatorKind, IntelIndex};

use crate::sql::SqlEngine;
use crate::{Lake, LakeError};

fn kind(s: &str) -> Option<IndicatorKind> {
    Some(match s {
        "ip" => IndicatorKind::Ip,
        "domain" => IndicatorKind::Domain,
        "url" => IndicatorKind::Url,
        "hash" => IndicatorKind::Hash,
        _ => return None,
    })
}

/// The indicators of the `intel` table, the newest row of each kind, value
/// and source.
pub async fn read_indicators(lake: &Lake) -> Result<Vec<Indicator>, LakeError> {
    let engine = SqlEngine::new(lake).await?;
    let sql = "SELECT kind, value, source, confidence, \
               CAST(first_seen AS BIGINT) AS first_seen, CAST(last_seen AS BIGINT) AS last_seen, \
               CAST(expires AS BIGINT) AS expires, description \
               FROM intel ORDER BY loaded_at";
    let (_, batches) = engine.query(sql).await?;
    let mut newest: HashMap<(IndicatorKind, String, String), Indicator> = HashMap::new();
    for b in &batches {
        // DataFusion may hand strings back as views: cast to plain strings.
        let s = |i: usize| {
            deltalake::arrow::compute::cast(b.column(i), &deltalake::arrow::datatypes::DataType::Utf8)
                .ok()
                .and_then(|c| c.as_string_opt::<i32>().cloned())
        };
        let (Some(k), Some(v), Some(src), Some(desc)) = (s(0), s(1), s(2), s(7)) else {
            return Err(LakeError::Enrich("the intel table has unexpected column types".into()));
        };
        let conf = b.column(3).as_primitive_opt::<Int32Type>().cloned();
        // Timestamps (µs) cast to BIGINT keep their µs.
        let us = |i: usize| b.column(i).as_primitive_opt::<Int64Type>().cloned();
        let (first, last, exp) = (us(4), us(5), us(6));
        let at_ns = |a: &Option<Int64Array>, r: usize| {
            a.as_ref().filter(|a| !a.is_null(r)).map(|a| a.value(r).saturating_mul(1000))
        };
        for r in 0..b.num_rows() {
            let Some(kind) = kind(k.value(r)) else { continue };
            let mut ind = Indicator::new(kind, v.value(r), src.value(r));
            ind.confidence = conf.as_ref().filter(|c| !c.is_null(r)).map(|c| c.value(r).clamp(0, 100) as u8);
            ind.first_seen_ns = at_ns(&first, r);
            ind.last_seen_ns = at_ns(&last, r);
            ind.expires_ns = at_ns(&exp, r);
            ind.description = (!desc.is_null(r)).then(|| desc.value(r).to_string());
            newest.insert((kind, ind.value.clone(), ind.source.to_string()), ind);
        }
    }
    Ok(newest.into_values().collect())
}

impl Lake {
    /// Match incoming rows against the `intel` table's indicators and add
    /// the hits to `findings`, when the table holds any. Returns the lake
    /// and the number of indicators in use.
    pub async fn with_intel_from_table(self) -> Result<(Lake, usize), LakeError> {
        let indicators = read_indicators(&self).await?;
        let n = indicators.len();
        if n == 0 {
            return Ok((self, 0));
        }
        Ok((self.with_intel(IntelIndex::build(indicators)), n))
    }
}
