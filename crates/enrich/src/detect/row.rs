//! Reading rule fields from the rows of a batch: a table's columns by
//! name, the parsed `fields` of log rows by dotted path, and the derived
//! DNS features ([`super::features`]). Each field is resolved once per
//! batch; JSON is parsed at most once per row.

use std::borrow::Cow;
use std::cell::RefCell;

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray, StringArray, StringViewArray,
};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::features;

/// One field's value in one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// Absent or null.
    Null,
    /// Text.
    Str(Cow<'a, str>),
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
    /// True or false.
    Bool(bool),
    /// A list (DNS answers, TLS ALPN, JSON arrays).
    List(Vec<Val<'a>>),
}

impl Val<'_> {
    /// The value as text (numbers and booleans written out).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Null | Val::List(_) => None,
            Val::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Val::Int(i) => Some(Cow::Owned(i.to_string())),
            Val::Float(f) => Some(Cow::Owned(f.to_string())),
            Val::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        }
    }

    /// The value as a whole number, exactly (times in ns do not survive
    /// a trip through `f64`).
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Float(f) if f.is_finite() => Some(*f as i64),
            Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a number, when it is one (or text that parses as one).
    pub fn number(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
            Val::Null | Val::List(_) => None,
        }
    }

    fn from_json(v: &Value) -> Val<'static> {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n.as_i64().map_or_else(|| Val::Float(n.as_f64().unwrap_or(f64::NAN)), Val::Int),
            Value::String(s) => Val::Str(Cow::Owned(s.clone())),
            Value::Array(a) => Val::List(a.iter().map(Val::from_json).collect()),
            Value::Object(_) => Val::Str(Cow::Owned(v.to_string())),
        }
    }
}

enum Source<'b> {
    Str(&'b StringArray),
    View(&'b StringViewArray),
    I32(&'b Int32Array),
    I64(&'b Int64Array),
    F64(&'b Float64Array),
    Bool(&'b BooleanArray),
    List(&'b ListArray),
    /// A number computed from the DNS name another source holds.
    DnsFeature(&'static str, Box<Source<'b>>),
    RegisteredDomain(Box<Source<'b>>),
    Subdomain(Box<Source<'b>>),
    /// A path into the row's `fields` JSON.
    Json(String),
    Missing,
}

/// The rows of one batch, for reading rule fields.
pub struct BatchView<'b> {
    batch: &'b RecordBatch,
    sources: Vec<Source<'b>>,
    json_col: Option<&'b StringArray>,
    json: RefCell<Option<(usize, Option<Value>)>>,
}

fn column<'b>(batch: &'b RecordBatch, name: &str) -> Option<Source<'b>> {
    let c = batch.column_by_name(name)?;
    Some(match c.data_type() {
        DataType::Utf8 => Source::Str(c.as_string::<i32>()),
        DataType::Utf8View => Source::View(c.as_string_view()),
        DataType::Int32 => Source::I32(c.as_primitive::<Int32Type>()),
        DataType::Int64 => Source::I64(c.as_primitive::<Int64Type>()),
        DataType::Float64 => Source::F64(c.as_primitive::<Float64Type>()),
        DataType::Boolean => Source::Bool(c.as_boolean()),
        DataType::List(_) => Source::List(c.as_list::<i32>()),
        _ => return None,
    })
}

impl<'b> BatchView<'b> {
    /// Resolve `fields` (rule field names, in id order) against `batch`.
    /// Log rows' other fields come from their `fields` JSON.
    pub fn new(batch: &'b RecordBatch, fields: &[String]) -> Self {
        let json_col = batch
            .column_by_name("fields")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .filter(|_| batch.column_by_name("raw").is_some());
        let resolve = |name: &str| -> Source<'b> {
            if let Some(s) = column(batch, name) {
                return s;
            }
            if json_col.is_some() {
                return Source::Json(name.to_string());
            }
            Source::Missing
        };
        let sources = fields
            .iter()
            .map(|name| {
                let query = || Box::new(resolve("query"));
                if let Some(f) = features::DNS_FEATURES.iter().find(|f| **f == name)
                    && column(batch, name).is_none()
                {
                    return Source::DnsFeature(f, query());
                }
                match name.as_str() {
                    "registered_domain" if column(batch, name).is_none() => Source::RegisteredDomain(query()),
                    "subdomain" if column(batch, name).is_none() => Source::Subdomain(query()),
                    _ => resolve(name),
                }
            })
            .collect();
        BatchView { batch, sources, json_col, json: RefCell::new(None) }
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The value of field `id` in `row`.
    pub fn get(&self, id: usize, row: usize) -> Val<'b> {
        match self.sources.get(id) {
            Some(s) => self.read(s, row),
            None => Val::Null,
        }
    }

    fn read(&self, s: &Source<'b>, row: usize) -> Val<'b> {
        match s {
            Source::Str(a) if a.is_null(row) => Val::Null,
            Source::Str(a) => Val::Str(Cow::Borrowed(a.value(row))),
            Source::View(a) if a.is_null(row) => Val::Null,
            Source::View(a) => Val::Str(Cow::Borrowed(a.value(row))),
            Source::I32(a) if a.is_null(row) => Val::Null,
            Source::I32(a) => Val::Int(i64::from(a.value(row))),
            Source::I64(a) if a.is_null(row) => Val::Null,
            Source::I64(a) => Val::Int(a.value(row)),
            Source::F64(a) if a.is_null(row) => Val::Null,
            Source::F64(a) => Val::Float(a.value(row)),
            Source::Bool(a) if a.is_null(row) => Val::Null,
            Source::Bool(a) => Val::Bool(a.value(row)),
            Source::List(a) => {
                if a.is_null(row) {
                    return Val::Null;
                }
                let items = a.value(row);
                match items.as_string_opt::<i32>() {
                    Some(s) => Val::List(
                        (0..s.len())
                            .map(
                                |i| if s.is_null(i) { Val::Null } else { Val::Str(Cow::Owned(s.value(i).to_string())) },
                            )
                            .collect(),
                    ),
                    None => Val::Null,
                }
            }
            Source::DnsFeature(f, q) => match self.read(q, row).text() {
                Some(q) => features::dns_feature(f, &q).map_or(Val::Null, Val::Float),
                None => Val::Null,
            },
            Source::RegisteredDomain(q) => match self.read(q, row).text() {
                Some(q) => Val::Str(Cow::Owned(features::registered_domain(&q).to_ascii_lowercase())),
                None => Val::Null,
            },
            Source::Subdomain(q) => match self.read(q, row).text() {
                Some(q) => Val::Str(Cow::Owned(features::subdomain(&q).to_ascii_lowercase())),
                None => Val::Null,
            },
            Source::Json(path) => self.json_value(row, path),
            Source::Missing => Val::Null,
        }
    }

    fn json_value(&self, row: usize, path: &str) -> Val<'b> {
        let Some(col) = self.json_col else { return Val::Null };
        let mut cache = self.json.borrow_mut();
        if cache.as_ref().is_none_or(|(r, _)| *r != row) {
            let parsed = (!col.is_null(row)).then(|| serde_json::from_str::<Value>(col.value(row)).ok()).flatten();
            *cache = Some((row, parsed));
        }
        match cache.as_ref().and_then(|(_, v)| v.as_ref()).and_then(|v| crate::logs::lookup(v, path)) {
            Some(v) => Val::from_json(v),
            None => Val::Null,
        }
    }
}
