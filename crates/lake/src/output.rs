//! Writing query results as a table, JSON lines or CSV.

use std::io::Write;

use deltalake::arrow::csv::WriterBuilder;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::json::LineDelimitedWriter;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::pretty::pretty_format_batches;

/// Output formats for result sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// One JSON object per row.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Write batches in the given format.
pub fn write_batches(
    out: &mut dyn Write,
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), ArrowError> {
    match format {
        OutputFormat::Table => {
            if batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(out, "(no rows; columns: {})", names.join(", "))?;
            } else {
                writeln!(out, "{}", pretty_format_batches(batches)?)?;
            }
        }
        OutputFormat::Json => {
            let mut w = LineDelimitedWriter::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutputFormat::Csv => {
            let mut w = WriterBuilder::new().with_header(true).build(&mut *out);
            if batches.is_empty() {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(w.into_inner(), "{}", names.join(","))?;
                return Ok(());
            }
            for b in batches {
                w.write(b)?;
            }
        }
    }
    Ok(())
}
