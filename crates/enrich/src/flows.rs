//! GeoIP columns of the `flows` table, filled from both endpoints' addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;

use crate::geo::{Geo, GeoDatabases, GeoError};

/// Why a batch could not be enriched.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The batch is not shaped like the `flows` table.
    #[error("not a flows batch: {0}")]
    Shape(String),
    /// A database failed.
    #[error(transparent)]
    Geo(#[from] GeoError),
    /// Arrow refused the new batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// GeoIP databases shared by concurrent commits, reloaded when their files
/// change (checked at most once a minute).
pub struct GeoEnricher {
    dbs: std::sync::RwLock<GeoDatabases>,
    checked: std::sync::Mutex<std::time::Instant>,
}

/// How often the database folder is looked at for new releases.
const RELOAD_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

impl GeoEnricher {
    /// Load the databases of `dir` (an error names what is wrong).
    pub fn open(dir: impl AsRef<std::path::Path>) -> Result<GeoEnricher, GeoError> {
        Ok(GeoEnricher {
            dbs: std::sync::RwLock::new(GeoDatabases::open_dir(dir)?),
            checked: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    /// The files in use, for logs and reports.
    pub fn describe(&self) -> String {
        let dbs = self.dbs.read().unwrap_or_else(|p| p.into_inner());
        dbs.loaded().iter().map(|(p, k)| format!("{k:?}: {}", p.display())).collect::<Vec<_>>().join(", ")
    }

    /// Fill the GeoIP columns of a `flows` batch, first reloading the
    /// databases if a minute has passed and their files changed (a broken
    /// new release is logged and the databases in use stay).
    pub fn enrich_flows(&self, batch: &RecordBatch) -> Result<RecordBatch, EnrichError> {
        let due = {
            let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
            let due = checked.elapsed() >= RELOAD_CHECK;
            if due {
                *checked = std::time::Instant::now();
            }
            due
        };
        if due {
            let mut dbs = self.dbs.write().unwrap_or_else(|p| p.into_inner());
            match dbs.reload_if_changed() {
                Ok(true) => tracing::info!(dir = %dbs.dir().display(), "GeoIP databases reloaded"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "GeoIP databases changed but cannot be loaded; keeping the old ones")
                }
            }
        }
        let dbs = self.dbs.read().unwrap_or_else(|p| p.into_inner());
        enrich_flows(batch, &dbs)
    }
}

fn strings<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b StringArray, EnrichError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| EnrichError::Shape(format!("no string column {name}")))
}

/// Fill the GeoIP columns of a `flows` batch. Each distinct address is
/// looked up once per batch; an address that does not parse (there should
/// be none) gets nulls.
pub fn enrich_flows(batch: &RecordBatch, geo: &GeoDatabases) -> Result<RecordBatch, EnrichError> {
    let src = strings(batch, "src_ip")?;
    let dst = strings(batch, "dst_ip")?;
    let mut cache = HashMap::new();
    let s = resolve(src, geo, &mut cache)?;
    let d = resolve(dst, geo, &mut cache)?;
    let country = |v: &[Geo]| -> ArrayRef { Arc::new(StringArray::from_iter(v.iter().map(|g| g.country))) };
    let asn = |v: &[Geo]| -> ArrayRef { Arc::new(Int64Array::from_iter(v.iter().map(|g| g.asn.map(i64::from)))) };
    let org = |v: &[Geo]| -> ArrayRef { Arc::new(StringArray::from_iter(v.iter().map(|g| g.as_org))) };
    let city = |v: &[Geo]| -> ArrayRef { Arc::new(StringArray::from_iter(v.iter().map(|g| g.city))) };
    let lat = |v: &[Geo]| -> ArrayRef { Arc::new(Float64Array::from_iter(v.iter().map(|g| g.latitude))) };
    let lon = |v: &[Geo]| -> ArrayRef { Arc::new(Float64Array::from_iter(v.iter().map(|g| g.longitude))) };
    let anon = |v: &[Geo]| -> ArrayRef { Arc::new(StringArray::from_iter(v.iter().map(|g| g.anonymous.names()))) };
    // In the order of ENRICHMENT_COLUMNS.
    let new: [ArrayRef; 14] = [
        country(&s),
        country(&d),
        asn(&s),
        asn(&d),
        org(&s),
        org(&d),
        city(&s),
        city(&d),
        lat(&s),
        lat(&d),
        lon(&s),
        lon(&d),
        anon(&s),
        anon(&d),
    ];
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    for (name, col) in opensoc_schemas::ENRICHMENT_COLUMNS.iter().zip(new) {
        let at = schema.index_of(name).map_err(|_| EnrichError::Shape(format!("no column {name}")))?;
        columns[at] = col;
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Each address's GeoIP facts, looked up once per batch.
fn resolve<'b, 'g>(
    arr: &'b StringArray,
    geo: &'g GeoDatabases,
    cache: &mut HashMap<&'b str, Geo<'g>>,
) -> Result<Vec<Geo<'g>>, EnrichError> {
    let mut out = Vec::with_capacity(arr.len());
    for i in 0..arr.len() {
        if arr.is_null(i) {
            out.push(Geo::default());
            continue;
        }
        let s = arr.value(i);
        let g = match cache.get(s) {
            Some(g) => *g,
            None => {
                let g = match s.parse::<IpAddr>() {
                    Ok(ip) => geo.lookup(ip)?,
                    Err(_) => Geo::default(),
                };
                cache.insert(s, g);
                g
            }
        };
        out.push(g);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::new_null_array;
    use arrow::datatypes::{Field, Schema};
    use opensoc_schemas::Table;

    fn geo() -> GeoDatabases {
        let shared = crate::test_paths::shared_data();
        GeoDatabases::open_dir(shared.join("geoip")).expect("the shared MaxMind test databases (../shared/data/geoip)")
    }

    /// A flows-shaped batch (every column nullable, all null) with these endpoints.
    fn flows(pairs: &[(Option<&str>, Option<&str>)]) -> RecordBatch {
        let schema = Table::Flows.schema();
        let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        let schema = Arc::new(Schema::new(fields));
        let columns = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "src_ip" => Arc::new(StringArray::from_iter(pairs.iter().map(|p| p.0))) as ArrayRef,
                "dst_ip" => Arc::new(StringArray::from_iter(pairs.iter().map(|p| p.1))) as ArrayRef,
                _ => new_null_array(f.data_type(), pairs.len()),
            })
            .collect();
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn both_endpoints_get_country_and_asn_and_unknowns_stay_null() {
        let geo = geo();
        let batch = flows(&[
            (Some("10.0.0.1"), Some("81.2.69.160")),
            (Some("1.128.0.1"), Some("2001:218::1")),
            (Some("not an address"), None),
            (Some("10.0.0.1"), Some("81.2.69.160")),
        ]);
        let out = enrich_flows(&batch, &geo).unwrap();
        let s = |name: &str| -> Vec<Option<String>> {
            let a = out.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i).to_string())).collect()
        };
        let n = |name: &str| -> Vec<Option<i64>> {
            let a = out.column_by_name(name).unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
            (0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect()
        };
        // Expected values from the databases' source JSON.
        let gb = Some("GB".to_string());
        assert_eq!(s("dst_country"), vec![gb.clone(), Some("JP".into()), None, gb]);
        // 1.128.0.0/11 is in the ASN database only.
        assert_eq!(s("src_country"), vec![None, None, None, None]);
        assert_eq!(n("src_asn"), vec![None, Some(1221), None, None]);
        assert_eq!(s("src_as_org"), vec![None, Some("Telstra Pty Ltd".into()), None, None]);
        // Everything else is untouched.
        assert_eq!(out.column_by_name("src_ip").unwrap().as_ref(), batch.column_by_name("src_ip").unwrap().as_ref());
        assert_eq!(out.num_rows(), 4);
    }

    #[test]
    fn a_batch_of_another_table_is_refused() {
        let other = RecordBatch::new_empty(Table::Dns.schema());
        assert!(matches!(enrich_flows(&other, &geo()), Err(EnrichError::Shape(_))));
    }
}
