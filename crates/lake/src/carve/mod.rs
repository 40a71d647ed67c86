//! PCAP carving: the packets of a flow, host, network, port, protocol,
//! sensor or time range — or any `and`/`or`/`not` of them ([`filter`]) —
//! read back from the `packets` table in time order.
//!
//! The filter becomes predicates on the chunk columns (`community_id`,
//! `ip_lo`/`ip_hi`, `port_lo`/`port_hi`, `proto`, `sensor_id`,
//! `first_ts_ns`/`last_ts_ns` and the `event_date` partition), so Delta
//! partition values, file statistics and Parquet bloom filters skip what
//! cannot match; each chunk read is then checked exactly against the
//! expression, and its records against the time range. [`CarveLimits`] cap
//! what one carve may deliver; [`audit`] records every carve.

pub mod audit;
pub mod delivery;
pub mod prune;

pub use opensoc_net::filter;

use std::io::Write;
use std::net::IpAddr;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int32Type};
use deltalake::datafusion::physical_plan::execute_stream;
use deltalake::datafusion::prelude::{Expr, col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use futures::StreamExt;
use ipnet::IpNet;
use opensoc_net::LinkType;
use opensoc_net::pcap_write::{PcapngWriter, RECORD_HEADER_LEN, pcap_file_header, records};

use crate::scan::ScanStats;
use crate::sql::{QueryError, SqlEngine};
use opensoc_rows::tables::event_date;

pub use filter::{FilterError, FilterExpr};

/// Which packets to carve. Every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarveFilter {
    /// Community ID of the flow.
    pub community_id: Option<String>,
    /// Either endpoint's address.
    pub host: Option<IpAddr>,
    /// Either endpoint in this network.
    pub net: Option<IpNet>,
    /// Either endpoint's port.
    pub port: Option<u16>,
    /// IANA protocol number.
    pub proto: Option<u8>,
    /// The capturing sensor.
    pub sensor: Option<String>,
    /// A filter expression (`host … and (port … or …)`), combined with the
    /// fields above by `and`.
    pub expr: Option<FilterExpr>,
    /// Earliest packet time, ns since the epoch (inclusive).
    pub from_ns: Option<i64>,
    /// Latest packet time (inclusive).
    pub to_ns: Option<i64>,
}

/// What one carve may deliver and span. The command line carves without
/// limits; the page and the functions set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarveLimits {
    /// Most packets delivered.
    pub max_packets: u64,
    /// Most bytes of packet data delivered.
    pub max_bytes: u64,
    /// Longest time range, in ns; `Some` also makes both ends required.
    pub max_span_ns: Option<i64>,
}

impl CarveLimits {
    /// No limits.
    pub const NONE: CarveLimits = CarveLimits { max_packets: u64::MAX, max_bytes: u64::MAX, max_span_ns: None };
}

impl Default for CarveLimits {
    /// 1 M packets, 1 GiB, one day.
    fn default() -> Self {
        CarveLimits { max_packets: 1_000_000, max_bytes: 1 << 30, max_span_ns: Some(86_400 * 1_000_000_000) }
    }
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
    /// More matched than the limits allow.
    #[error("the carve matches more than {limit} {what} (the limit); narrow the filter or the time range")]
    TooLarge {
        /// "packets" or "bytes".
        what: &'static str,
        /// The limit passed.
        limit: u64,
    },
}

impl CarveFilter {
    /// The whole filter as one expression: the fields and [`CarveFilter::expr`]
    /// joined by `and` (`None` when only a time range is given).
    pub fn expression(&self) -> Result<Option<FilterExpr>, CarveError> {
        use filter::Term;
        let mut parts = Vec::new();
        if let Some(id) = &self.community_id {
            parts.push(FilterExpr::Term(Term::community_id(id).map_err(CarveError::InvalidFilter)?));
        }
        if let Some(h) = self.host {
            parts.push(FilterExpr::Term(Term::Host(h)));
        }
        if let Some(n) = self.net {
            parts.push(FilterExpr::Term(Term::Net(n.trunc())));
        }
        if let Some(p) = self.port {
            parts.push(FilterExpr::Term(Term::Port(p, p)));
        }
        if let Some(p) = self.proto {
            parts.push(FilterExpr::Term(Term::Proto(p)));
        }
        if let Some(s) = &self.sensor {
            parts.push(FilterExpr::Term(Term::sensor(s).map_err(CarveError::InvalidFilter)?));
        }
        if let Some(e) = &self.expr {
            parts.push(e.clone());
        }
        Ok(FilterExpr::all(parts))
    }

    /// The filter's canonical text (the expression; `all` when only a time
    /// range is given) — what the audit records.
    pub fn describe(&self) -> String {
        match self.expression() {
            Ok(Some(e)) => e.to_string(),
            Ok(None) => "all".into(),
            Err(e) => e.to_string(),
        }
    }

    /// Check the filter against the limits: a Community ID must look like
    /// one, the time range must not be inverted, at least one criterion
    /// must be set, and with a span limit both ends must be given and lie
    /// within it.
    pub fn validate(&self, limits: &CarveLimits) -> Result<(), CarveError> {
        let expression = self.expression()?;
        if let (Some(f), Some(t)) = (self.from_ns, self.to_ns)
            && f > t
        {
            return Err(CarveError::InvalidFilter("the time range ends before it starts".into()));
        }
        if expression.is_none() && self.from_ns.is_none() && self.to_ns.is_none() {
            return Err(CarveError::InvalidFilter(
                "give at least one of community id, host, net, port, proto, sensor, a filter, from, to".into(),
            ));
        }
        if let Some(max) = limits.max_span_ns {
            let (Some(f), Some(t)) = (self.from_ns, self.to_ns) else {
                return Err(CarveError::InvalidFilter(format!(
                    "give both ends of the time range (from and to); a carve spans at most {}",
                    span_text(max)
                )));
            };
            if t.saturating_sub(f) > max {
                return Err(CarveError::InvalidFilter(format!(
                    "the time range spans {}; a carve spans at most {}",
                    span_text(t.saturating_sub(f)),
                    span_text(max)
                )));
            }
        }
        Ok(())
    }

    fn predicate(&self, expression: Option<&FilterExpr>) -> Expr {
        let mut terms: Vec<Expr> = expression.and_then(prune::prune_expr).into_iter().collect();
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

/// A span in the largest whole unit that says it (`1 day`, `90 minutes`, `12.5 s`).
fn span_text(ns: i64) -> String {
    const S: i64 = 1_000_000_000;
    match ns {
        n if n % (86_400 * S) == 0 => format!("{} day(s)", n / (86_400 * S)),
        n if n % (3_600 * S) == 0 => format!("{} hour(s)", n / (3_600 * S)),
        n if n % (60 * S) == 0 => format!("{} minute(s)", n / (60 * S)),
        n => format!("{} s", n as f64 / S as f64),
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

/// The chunk columns a carve reads, in this order.
const COLUMNS: [&str; 9] =
    ["linktype", "data", "community_id", "ip_lo", "ip_hi", "port_lo", "port_hi", "proto", "sensor_id"];

/// Carve the matching packets into `out`, within `limits`.
pub async fn carve(
    engine: &SqlEngine,
    filter: &CarveFilter,
    format: CarveFormat,
    limits: &CarveLimits,
    out: &mut (dyn Write + Send),
) -> Result<CarveSummary, CarveError> {
    filter.validate(limits)?;
    let expression = filter.expression()?;
    let df = engine
        .context()
        .table("packets")
        .await
        .map_err(QueryError::from)?
        .filter(filter.predicate(expression.as_ref()))
        .map_err(QueryError::from)?
        .select_columns(&COLUMNS)
        .map_err(QueryError::from)?;
    let plan = df.create_physical_plan().await.map_err(QueryError::from)?;
    let mut stream = execute_stream(plan.clone(), engine.context().task_ctx()).map_err(QueryError::from)?;
    let mut batches = Vec::new();
    let mut found = Vec::new();
    let mut chunks = 0u64;
    let mut delivered_bytes = 0u64;
    while let Some(b) = stream.next().await {
        let b = b.map_err(QueryError::from)?;
        let columns = ChunkColumns::of(&b)?;
        for row in 0..b.num_rows() {
            if let Some(e) = &expression
                && !e.matches(&columns.key(row))
            {
                continue;
            }
            chunks += 1;
            let bytes = columns.data.value(row);
            for r in records(bytes) {
                let r = r.map_err(|e| CarveError::Damaged(e.to_string()))?;
                if filter.from_ns.is_some_and(|f| r.ts_ns < f) || filter.to_ns.is_some_and(|t| r.ts_ns > t) {
                    continue;
                }
                delivered_bytes += r.data.len() as u64;
                if found.len() as u64 >= limits.max_packets {
                    return Err(CarveError::TooLarge { what: "packets", limit: limits.max_packets });
                }
                if delivered_bytes > limits.max_bytes {
                    return Err(CarveError::TooLarge { what: "bytes", limit: limits.max_bytes });
                }
                let offset = r.offset;
                found.push(Found {
                    ts: r.ts_ns,
                    linktype: columns.linktype.value(row) as u32,
                    batch: batches.len(),
                    row,
                    offset,
                    len: RECORD_HEADER_LEN + r.data.len(),
                });
            }
        }
        batches.push(columns.data);
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

/// One batch of chunk rows, its columns as plain arrays.
struct ChunkColumns {
    linktype: deltalake::arrow::array::Int32Array,
    data: deltalake::arrow::array::BinaryArray,
    community_id: deltalake::arrow::array::StringArray,
    ip_lo: deltalake::arrow::array::StringArray,
    ip_hi: deltalake::arrow::array::StringArray,
    port_lo: deltalake::arrow::array::Int32Array,
    port_hi: deltalake::arrow::array::Int32Array,
    proto: deltalake::arrow::array::Int32Array,
    sensor_id: deltalake::arrow::array::StringArray,
}

impl ChunkColumns {
    /// DataFusion may hand back view or dictionary types; cast to plain arrays.
    fn of(b: &deltalake::arrow::record_batch::RecordBatch) -> Result<ChunkColumns, CarveError> {
        let as_type = |i: usize, t: &DataType| cast(b.column(i), t).map_err(|e| CarveError::Damaged(e.to_string()));
        let int = |i: usize| -> Result<_, CarveError> {
            Ok(as_type(i, &DataType::Int32)?.as_primitive::<Int32Type>().clone())
        };
        let text = |i: usize| -> Result<_, CarveError> { Ok(as_type(i, &DataType::Utf8)?.as_string::<i32>().clone()) };
        Ok(ChunkColumns {
            linktype: int(0)?,
            data: as_type(1, &DataType::Binary)?.as_binary::<i32>().clone(),
            community_id: text(2)?,
            ip_lo: text(3)?,
            ip_hi: text(4)?,
            port_lo: int(5)?,
            port_hi: int(6)?,
            proto: int(7)?,
            sensor_id: text(8)?,
        })
    }

    fn key(&self, row: usize) -> filter::ChunkKey<'_> {
        fn text(a: &deltalake::arrow::array::StringArray, row: usize) -> Option<&str> {
            a.is_valid(row).then(|| a.value(row))
        }
        let int = |a: &deltalake::arrow::array::Int32Array| a.is_valid(row).then(|| a.value(row));
        filter::ChunkKey {
            community_id: text(&self.community_id, row),
            ip_lo: text(&self.ip_lo, row).and_then(|s| s.parse().ok()),
            ip_hi: text(&self.ip_hi, row).and_then(|s| s.parse().ok()),
            port_lo: int(&self.port_lo),
            port_hi: int(&self.port_hi),
            proto: int(&self.proto),
            sensor_id: text(&self.sensor_id, row),
        }
    }
}
