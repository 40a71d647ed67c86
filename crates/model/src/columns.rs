//! Reading the columns scoring needs from a batch, whatever string or
//! integer width the batch came with (builders write `Utf8`, DataFusion
//! may hand back views).

use arrow::array::{Array, AsArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;

/// A string column as `Utf8`, cast when needed; `None` when absent.
pub fn strings(batch: &RecordBatch, name: &str) -> Option<StringArray> {
    let col = batch.column_by_name(name)?;
    match col.data_type() {
        DataType::Utf8 => Some(col.as_string::<i32>().clone()),
        _ => arrow::compute::cast(col, &DataType::Utf8).ok().map(|c| c.as_string::<i32>().clone()),
    }
}

/// An integer column as `Int64`, cast when needed; `None` when absent.
pub fn ints(batch: &RecordBatch, name: &str) -> Option<Int64Array> {
    let col = batch.column_by_name(name)?;
    match col.data_type() {
        DataType::Int64 => Some(col.as_primitive::<Int64Type>().clone()),
        _ => arrow::compute::cast(col, &DataType::Int64).ok().map(|c| c.as_primitive::<Int64Type>().clone()),
    }
}

/// The value at `row`, `None` when null.
pub fn str_at(a: &StringArray, row: usize) -> Option<&str> {
    (!a.is_null(row)).then(|| a.value(row))
}

/// The value at `row`, `None` when null.
pub fn int_at(a: &Int64Array, row: usize) -> Option<i64> {
    (!a.is_null(row)).then(|| a.value(row))
}
