//! PCAP carving: the packets of a flow, host, port, protocol or time range,
//! read back from the `packets` table in time order.
//!
//! The filter becomes predicates on the chunk columns (`community_id`,
//! `ip_lo`/`ip_hi`, `port_lo`/`port_hi`, `proto`, `first_ts_ns`/`last_ts_ns`
//! and the `event_date` partition), so Delta partition values, file
//! statistics and Parquet bloom filters skip what cannot match; records
//! inside matching chunks are then checked against the time range.

use std::io::Write;
use std::net::IpAddr;

use deltalake::arrow::array::AsArray;
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int32Type};
use deltalake::datafusion::physical_plan::execute_stream;
use deltalake::datafusion::prelude::{Expr, col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use futures::StreamExt;
use opensoc_net::LinkType;
use opensoc_net::pcap_write::{PcapngWriter, RECORD_HEADER_LEN, pcap_file_header, records};

use crate::scan::ScanStats;
use crate::sql::{QueryError, SqlEngine};
use opensoc_rows::tables::event_date;

/// Which packets to carve. Every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarveFilter {
    /// Community ID of the flow.
    pub community_id: Option<String>,
    /// Either endpoint's address.
    pub host: Option<IpAddr>,
    /// Either endpoint's port.
    pub port: Option<u16>,
    /// IANA protocol number.
    pub proto: Option<u8>,
    /// Earliest packet time, ns since the epoch (inclusive).
    pub from_ns: Option<i64>,
    /// Latest packet time (inclusive).
    pub to_ns: Option<i64>,
}

/// Output file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CarveFormat {
    /// pcap when one link type, else pcapng.
    #[default]
    Auto,
    /// Classic pcap (one link type only).
    Pcap,
    /// pcapng, one interface per link type.
    Pcapng,
}

/// What a carve wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CarveSummary {
    /// Packets written.
    pub packets: u64,
    /// Bytes of packet data written (captured lengths).
    pub bytes: u64,
    /// Chunks read.
    pub chunks: u64,
    /// "pcap" or "pcapng".
    pub format: &'static str,
    /// Link types of the packets.
    pub linktypes: Vec<u32>,
    /// What the carve read of the packets table.
    pub scan: ScanStats,
}

/// Why a carve failed.
#[derive(Debug, thiserror::Error)]
pub enum CarveError {
    /// The filter is not usable.
    #[error("invalid carve filter: {0}")]
    InvalidFilter(String),
    /// Reading the packets table failed.
    #[error("reading packets: {0}")]
    Query(#[from] QueryError),
    /// Stored chunk data is damaged.
    #[error("packet chunk data is damaged: {0}")]
    Damaged(String),
    /// pcap needs a single link type.
    #[error("the matching packets have {0} link types; classic pcap holds one (use pcapng)")]
    MixedLinkTypes(usize),
    /// Writing the output failed.
    #[error("writing the capture: {0}")]
    Io(#[from] std::io::Error),
}

impl CarveFilter {
    /// Check the filter: a Community ID must look like one, and the time
    /// range must not be inverted; at least one criterion must be set.
    pub fn validate(&self) -> Result<(), CarveError> {
        if let Some(id) = &self.community_id {
            let ok = id.len() == 30
                && id.starts_with("1:")
                && id[2..].bytes().all(|c| c.is_ascii_alphanumeric() || b"+/=".contains(&c));
            if !ok {
                return Err(CarveError::InvalidFilter(format!(
                    "{id:?} is not a Community ID v1 (\"1:\" and 28 base64 characters)"
                )));
            }
        }
        if let (Some(f), Some(t)) = (self.from_ns, self.to_ns)
            && f > t
        {
            return Err(CarveError::InvalidFilter("the time range ends before it starts".into()));
        }
        if self == &CarveFilter::default() {
            return Err(CarveError::InvalidFilter(
                "give at least one of community id, host, port, proto, from, to".into(),
            ));
        }
        Ok(())
    }

    fn predicate(&self) -> Expr {
        let mut terms: Vec<Expr> = Vec::new();
        if let Some(id) = &self.community_id {
            terms.push(col("community_id").eq(lit(id.as_str())));
        }
        if let Some(h) = self.host {
            let h = h.to_string();
            terms.push(col("ip_lo").eq(lit(h.clone())).or(col("ip_hi").eq(lit(h))));
        }
        if let Some(p) = self.port {
            terms.push(col("port_lo").eq(lit(p as i32)).or(col("port_hi").eq(lit(p as i32))));
        }
        if let Some(p) = self.proto {
            terms.push(col("proto").eq(lit(p as i32)));
        }
        if let Some(f) = self.from_ns {
            terms.push(col("last_ts_ns").gt_eq(lit(f)));
            terms.push(col("event_date").gt_eq(lit(ScalarValue::Date32(Some(event_date(f))))));
        }
        if let Some(t) = self.to_ns {
            terms.push(col("first_ts_ns").lt_eq(lit(t)));
            terms.push(col("event_date").lt_eq(lit(ScalarValue::Date32(Some(event_date(t))))));
        }
        terms.into_iter().reduce(Expr::and).unwrap_or(lit(true))
    }
}

struct Found {
    ts: i64,
    linktype: u32,
    batch: usize,
    row: usize,
    offset: usize,
    len: usize,
}

/// Carve the matching packets into `out`.
pub async fn carve(
    engine: &SqlEngine,
    filter: &CarveFilter,
    format: CarveFormat,
    out: &mut dyn Write,
) -> Result<CarveSummary, CarveError> {
    filter.validate()?;
    let df = engine
        .context()
        .table("packets")
        .await
        .map_err(QueryError::from)?
        .filter(filter.predicate())
        .map_err(QueryError::from)?
        .select_columns(&["linktype", "data"])
        .map_err(QueryError::from)?;
    let plan = df.create_physical_plan().await.map_err(QueryError::from)?;
    let mut stream = execute_stream(plan.clone(), engine.context().task_ctx()).map_err(QueryError::from)?;
    let mut batches = Vec::new();
    let mut found = Vec::new();
    let mut chunks = 0u64;
    while let Some(b) = stream.next().await {
        let b = b.map_err(QueryError::from)?;
        // DataFusion may hand back view types; normalise to plain arrays.
        let lts = cast(b.column(0), &DataType::Int32).map_err(|e| CarveError::Damaged(e.to_string()))?;
        let data = cast(b.column(1), &DataType::Binary).map_err(|e| CarveError::Damaged(e.to_string()))?;
        let (Some(lts), Some(data)) = (lts.as_primitive_opt::<Int32Type>(), data.as_binary_opt::<i32>()) else {
            return Err(CarveError::Damaged("packets table columns have unexpected types".into()));
        };
        for row in 0..b.num_rows() {
            chunks += 1;
            let bytes = data.value(row);
            for r in records(bytes) {
                let r = r.map_err(|e| CarveError::Damaged(e.to_string()))?;
                if filter.from_ns.is_some_and(|f| r.ts_ns < f) || filter.to_ns.is_some_and(|t| r.ts_ns > t) {
                    continue;
                }
                let offset = r.offset;
                found.push(Found {
                    ts: r.ts_ns,
                    linktype: lts.value(row) as u32,
                    batch: batches.len(),
                    row,
                    offset,
                    len: RECORD_HEADER_LEN + r.data.len(),
                });
            }
        }
        batches.push(data.clone());
    }
    let mut scan = ScanStats::from_plan(&plan);
    scan.files_total = engine.files_in("packets");
    // Stable: packets with equal times keep their stored order.
    found.sort_by_key(|f| f.ts);
    let mut linktypes: Vec<u32> = found.iter().map(|f| f.linktype).collect();
    linktypes.sort_unstable();
    linktypes.dedup();
    let use_pcapng = match format {
        CarveFormat::Pcapng => true,
        CarveFormat::Pcap if linktypes.len() > 1 => return Err(CarveError::MixedLinkTypes(linktypes.len())),
        CarveFormat::Pcap => false,
        CarveFormat::Auto => linktypes.len() > 1,
    };
    let record = |f: &Found| -> &[u8] { &batches[f.batch].value(f.row)[f.offset..f.offset + f.len] };
    let mut bytes = 0u64;
    if use_pcapng {
        let mut w = PcapngWriter::new(&mut *out)?;
        for f in &found {
            let rec = record(f);
            let origlen = u32::from_le_bytes([rec[12], rec[13], rec[14], rec[15]]);
            let data = &rec[RECORD_HEADER_LEN..];
            bytes += data.len() as u64;
            w.write_packet(LinkType(f.linktype), f.ts, origlen, data)?;
        }
        w.finish()?;
    } else {
        let lt = linktypes.first().copied().unwrap_or(LinkType::ETHERNET.0);
        out.write_all(&pcap_file_header(LinkType(lt)))?;
        for f in &found {
            let rec = record(f);
            bytes += (rec.len() - RECORD_HEADER_LEN) as u64;
            out.write_all(rec)?;
        }
        out.flush()?;
    }
    Ok(CarveSummary {
        packets: found.len() as u64,
        bytes,
        chunks,
        format: if use_pcapng { "pcapng" } else { "pcap" },
        linktypes,
        scan,
    })
}
