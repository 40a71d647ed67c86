//! Parquet files for tables whose rows carry large binary values — the
//! `packets` table, where one column holds a flow chunk's pcap records and
//! is nearly all of the bytes.
//!
//! parquet-rs's Arrow writer handles such a column like any other: the
//! values are copied into a growing encoder buffer, again into a page
//! buffer, compressed into a third, buffered with the rest of the row group
//! and copied into the file buffer, which delta-rs then hands to the object
//! store as a whole — five passes over every packet byte, most of them over
//! memory long since out of cache. Here that one column is written page by
//! page in the DELTA_LENGTH_BYTE_ARRAY encoding — the values' lengths, then
//! their bytes back to back, which are a slice of the Arrow column — and
//! each page is compressed from where the bytes lie into a buffer taken
//! from a pool (see `PageBuffers::compress`); the row group writer then
//! copies the pages, headers between them, straight from those buffers
//! into the file. (PLAIN, a length before every value, would need the page
//! laid out in a buffer of its own first: one more pass over every byte.) Every
//! other column goes through parquet-rs's own Arrow column writers, so
//! statistics, bloom filters and the page index are what the table's
//! [`WriterProperties`]
//! ask for. The result is an ordinary Parquet file (the Arrow schema is
//! embedded as usual) that every reader opens.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use deltalake::arrow::array::{Array, ArrayRef, BinaryArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_writer::compute_leaves;
use deltalake::parquet::basic::{Compression, Encoding, PageType};
use deltalake::parquet::column::page::{CompressedPage, Page, PageWriter as _};
use deltalake::parquet::column::writer::ColumnCloseResult;
use deltalake::parquet::errors::ParquetError;
use deltalake::parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder, PageEncodingStats, ParquetMetaData};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::file::reader::{ChunkReader, Length};
use deltalake::parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use deltalake::parquet::schema::types::{ColumnDescPtr, ColumnPath};

/// Most bytes of binary values in one row group. Carving reads the binary
/// column of every row group whose statistics and bloom filter admit the
/// flow asked for: smaller groups mean less read for one flow.
const ROW_GROUP_BLOB_BYTES: usize = 16 << 20;

/// A column written page by page: which one, and how.
struct BlobColumn {
    index: usize,
    descr: ColumnDescPtr,
    compression: Compression,
    page_bytes: usize,
}

/// Buffers reused from page to page and row group to row group.
#[derive(Default)]
struct PageBuffers {
    /// The page's lengths (DELTA_BINARY_PACKED), scratch for them, and the
    /// tag of the Snappy literal they become.
    lengths: Vec<u8>,
    deltas: Vec<u64>,
    tag: Vec<u8>,
    snappy: Option<snap::raw::Encoder>,
    /// Compressed pages' buffers, back from the row group writer.
    pool: Pool,
    /// The row group's column chunk (page headers and pages), until the row
    /// group writer copies it into the file.
    chunk: Pieces,
}

/// Buffers that come back when the [`Bytes`] made of them are dropped.
type Pool = Arc<Mutex<Vec<Vec<u8>>>>;

/// A pooled buffer's first `len` bytes, as a [`Bytes`] owner.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
    pool: Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(buf);
        }
    }
}

/// A column chunk as the pieces the page writer wrote: each page's header
/// (copied) and its compressed values (the page's own [`Bytes`], not
/// copied). Lent to the row group writer, which reads them into the file.
#[derive(Default)]
struct Pieces {
    pieces: Vec<Bytes>,
    /// The page whose values are being written: a write of exactly these
    /// bytes keeps the `Bytes` instead of copying them. Shared with the
    /// code that hands pages to the page writer, which owns the sink.
    expected: Arc<Mutex<Option<Bytes>>>,
}

impl Write for Pieces {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut expected = self.expected.lock().map_err(|_| std::io::Error::other("page writer poisoned"))?;
        let piece = match expected.take() {
            Some(page) if page.as_ptr() == data.as_ptr() && page.len() == data.len() => page,
            other => {
                *expected = other;
                Bytes::copy_from_slice(data)
            }
        };
        drop(expected);
        self.pieces.push(piece);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads [`Pieces`] from an offset on.
struct PiecesRead<'a> {
    rest: &'a [Bytes],
    /// Where in `rest[0]` reading goes on.
    at: usize,
}

impl std::io::Read for PiecesRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some((first, later)) = self.rest.split_first() {
            if self.at < first.len() {
                let n = buf.len().min(first.len() - self.at);
                buf[..n].copy_from_slice(&first[self.at..self.at + n]);
                self.at += n;
                return Ok(n);
            }
            (self.rest, self.at) = (later, 0);
        }
        Ok(0)
    }
}

impl Pieces {
    /// Bytes in all pieces.
    fn len(&self) -> u64 {
        self.pieces.iter().map(|p| p.len() as u64).sum()
    }

    fn read_from(&self, start: u64) -> Result<PiecesRead<'_>, ParquetError> {
        let mut skip = start;
        for (i, p) in self.pieces.iter().enumerate() {
            if skip < p.len() as u64 {
                return Ok(PiecesRead { rest: &self.pieces[i..], at: skip as usize });
            }
            skip -= p.len() as u64;
        }
        match skip {
            0 => Ok(PiecesRead { rest: &[], at: 0 }),
            _ => Err(ParquetError::EOF(format!("offset {start} past the chunk"))),
        }
    }
}

/// The column chunk lent to the row group writer, which copies it into the
/// file.
struct LentPieces<'a>(&'a Pieces);

impl Length for LentPieces<'_> {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl<'a> ChunkReader for LentPieces<'a> {
    type T = PiecesRead<'a>;

    fn get_read(&self, start: u64) -> Result<PiecesRead<'a>, ParquetError> {
        self.0.read_from(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        let mut out = vec![0; length];
        std::io::Read::read_exact(&mut self.0.read_from(start)?, &mut out)
            .map_err(|e| ParquetError::EOF(format!("{length} bytes at {start}: {e}")))?;
        Ok(out.into())
    }
}

/// Write `batch` as one Parquet file to `sink`, the non-null `Binary`
/// column `blob` page by page (see the module docs), and return the
/// file's metadata. The column's compression and page size come from
/// `props`; Snappy and none are supported.
pub(crate) fn write<W: Write + Send>(
    sink: &mut W,
    batch: &RecordBatch,
    blob: &str,
    props: WriterProperties,
) -> Result<ParquetMetaData, ParquetError> {
    let schema = batch.schema();
    let index = schema.index_of(blob).map_err(|e| ParquetError::General(e.to_string()))?;
    if *schema.field(index).data_type() != DataType::Binary || schema.field(index).is_nullable() {
        return Err(ParquetError::General(format!("{blob} must be a non-null Binary column")));
    }
    let path = ColumnPath::from(blob);
    let compression = props.compression(&path);
    if !matches!(compression, Compression::SNAPPY | Compression::UNCOMPRESSED) {
        return Err(ParquetError::NYI(format!("{compression} for {blob}: Snappy or none")));
    }
    let page_bytes = props.column_data_page_size_limit(&path);
    let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);

    let (mut file, factory) = ArrowWriter::try_new(sink, schema.clone(), Some(props))?.into_serialized_writer()?;
    let descr = file.schema_descr().column(index);
    let column = BlobColumn { index, descr, compression, page_bytes };
    let values = binary(batch.column(index))?;
    let mut buffers = PageBuffers::default();
    for (group, (start, len)) in row_groups(values, max_rows, ROW_GROUP_BLOB_BYTES).into_iter().enumerate() {
        let rows = batch.slice(start, len);
        let mut writers = factory.create_column_writers(group)?;
        let mut row_group = file.next_row_group()?;
        // One leaf per column (the schema is flat), in schema order.
        for (i, mut writer) in writers.drain(..).enumerate() {
            if i == column.index {
                let close = buffers.column_chunk(&column, binary(rows.column(i))?)?;
                row_group.append_column(&LentPieces(&buffers.chunk), close)?;
                // The pages' buffers go back to the pool.
                buffers.chunk.pieces.clear();
                continue;
            }
            for leaf in compute_leaves(schema.field(i), rows.column(i))? {
                writer.write(&leaf)?;
            }
            writer.close()?.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    file.finish()
}

/// `array` as a `Binary` array.
pub(crate) fn binary(array: &ArrayRef) -> Result<&BinaryArray, ParquetError> {
    array.as_any().downcast_ref::<BinaryArray>().ok_or_else(|| ParquetError::General("not a Binary array".into()))
}

/// Row groups as (first row, rows): at most `max_rows` rows and, past the
/// first row, at most `max_bytes` of binary values each.
pub(crate) fn row_groups(values: &BinaryArray, max_rows: usize, max_bytes: usize) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for i in 0..values.len() {
        let len = values.value_length(i) as usize;
        if i > start && (i - start == max_rows || bytes + len > max_bytes) {
            groups.push((start, i - start));
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < values.len() {
        groups.push((start, values.len() - start));
    }
    groups
}

impl PageBuffers {
    /// One row group's chunk of the column, left in `self.chunk`: its
    /// pages (headers and compressed values); and what the row group
    /// writer needs to know.
    fn column_chunk(&mut self, column: &BlobColumn, values: &BinaryArray) -> Result<ColumnCloseResult, ParquetError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.pieces.clear();
        let expected = chunk.expected.clone();
        let mut sink = TrackedWrite::new(&mut chunk);
        let mut pages = SerializedPageWriter::new(&mut sink);
        let mut offsets = OffsetIndexBuilder::new();
        let (mut compressed_size, mut uncompressed_size, mut page_count) = (0i64, 0i64, 0);
        let offsets_of_values = values.value_offsets();
        let mut next = 0;
        while next < values.len() {
            let start = next;
            // Whole values only (sized as PLAIN would store them: a 4-byte
            // length each); a value larger than a page gets a page of its own.
            let mut planned = 0;
            while next < values.len() {
                let stored = 4 + values.value_length(next) as usize;
                if next > start && planned + stored > column.page_bytes {
                    break;
                }
                planned += stored;
                next += 1;
            }
            let bounds = &offsets_of_values[start..=next];
            self.lengths.clear();
            delta_binary_packed(&mut self.lengths, &mut self.deltas, bounds.windows(2).map(|w| w[1] - w[0]));
            let body = &values.value_data()[bounds[0] as usize..bounds[bounds.len() - 1] as usize];
            let raw_len = self.lengths.len() + body.len();
            let buf = self.compress(column.compression, body, raw_len)?;
            *expected.lock().map_err(|_| ParquetError::General("page writer poisoned".into()))? = Some(buf.clone());
            let page = Page::DataPage {
                buf,
                num_values: (next - start) as u32,
                encoding: Encoding::DELTA_LENGTH_BYTE_ARRAY,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            let spec = pages.write_page(CompressedPage::new(page, raw_len))?;
            offsets.append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
            offsets.append_row_count((next - start) as i64);
            compressed_size += spec.compressed_size as i64;
            uncompressed_size += spec.uncompressed_size as i64;
            page_count += 1;
        }
        pages.close()?;
        let metadata = ColumnChunkMetaData::builder(column.descr.clone())
            .set_compression(column.compression)
            .set_encodings(vec![Encoding::DELTA_LENGTH_BYTE_ARRAY])
            .set_page_encoding_stats(vec![PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding: Encoding::DELTA_LENGTH_BYTE_ARRAY,
                count: page_count,
            }])
            .set_total_compressed_size(compressed_size)
            .set_total_uncompressed_size(uncompressed_size)
            .set_num_values(values.len() as i64)
            .set_data_page_offset(0)
            .build()?;
        let close = ColumnCloseResult {
            bytes_written: compressed_size as u64,
            rows_written: values.len() as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(offsets.build()),
        };
        sink.into_inner()?;
        if let Ok(mut e) = expected.lock() {
            *e = None;
        }
        self.chunk = chunk;
        Ok(close)
    }

    /// The page — the values' lengths (`self.lengths`) and then `body`,
    /// their bytes one after the other: `raw_len` bytes — compressed into a
    /// pooled buffer.
    ///
    /// The body is a slice of the column, compressed where it lies: a
    /// Snappy stream is the uncompressed length and then elements, each a
    /// literal or a copy of earlier output. The lengths go in as one
    /// literal and the body as the elements of its own Snappy stream (whose
    /// copies reach back only within the body), so the stream decodes to
    /// the whole page.
    fn compress(&mut self, compression: Compression, body: &[u8], raw_len: usize) -> Result<Bytes, ParquetError> {
        let mut buf = self.pool.lock().ok().and_then(|mut p| p.pop()).unwrap_or_default();
        if compression == Compression::UNCOMPRESSED {
            buf.clear();
            buf.extend_from_slice(&self.lengths);
            buf.extend_from_slice(body);
            let len = buf.len();
            return Ok(Bytes::from_owner(Pooled { buf, len, pool: self.pool.clone() }));
        }
        let too_large = |what: usize| ParquetError::General(format!("a page of {what} bytes is too large for Snappy"));
        let raw_len = u32::try_from(raw_len).map_err(|_| too_large(raw_len))?;
        let body_len = u32::try_from(body.len()).map_err(|_| too_large(body.len()))?;
        let literal = snappy_literal_tag(&mut self.tag, self.lengths.len());
        let most = VARINT_MAX + literal + snap::raw::max_compress_len(body.len()).max(VARINT_MAX);
        // Never shrunk: no zeroing page after page. A buffer too small for
        // this page is replaced, not grown (growing copies the bytes of the
        // page it held), by one with room for slightly larger pages, so a
        // file's buffers settle after their first pages.
        if buf.len() < most {
            buf = vec![0; most + most / 8];
        }
        let at = put_varint(&mut buf, raw_len.into());
        // The body's own stream starts with its length as a varint; it is
        // written to end where the literal ends, then overwritten by it.
        let from = at + literal - varint_len(body_len);
        let written = self
            .snappy
            .get_or_insert_with(snap::raw::Encoder::new)
            .compress(body, &mut buf[from..])
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        buf[at..at + self.tag.len()].copy_from_slice(&self.tag);
        buf[at + self.tag.len()..at + literal].copy_from_slice(&self.lengths);
        Ok(Bytes::from_owner(Pooled { buf, len: from + written, pool: self.pool.clone() }))
    }
}

/// Most bytes of a varint of a `u32`.
const VARINT_MAX: usize = 5;

fn varint_len(mut n: u32) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Write `n` as a varint (ULEB128, as both Snappy and Parquet's
/// DELTA_BINARY_PACKED headers store integers) at the start of `out`; the
/// bytes written.
fn put_varint(out: &mut [u8], mut n: u64) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

/// The tag of a Snappy literal of `len` (at least 1) bytes into `tag`; the
/// literal's whole size (tag and bytes).
fn snappy_literal_tag(tag: &mut Vec<u8>, len: usize) -> usize {
    tag.clear();
    let n = len - 1;
    if n < 60 {
        tag.push((n as u8) << 2);
    } else {
        let bytes = (n.ilog2() / 8 + 1) as usize;
        tag.push(((59 + bytes) as u8) << 2);
        tag.extend_from_slice(&n.to_le_bytes()[..bytes]);
    }
    tag.len() + len
}

/// Values in a block of Parquet's DELTA_BINARY_PACKED encoding, and in one
/// of its miniblocks.
const DELTA_BLOCK: usize = 128;
const DELTA_MINIBLOCK: usize = 32;

/// Append `values` to `out` in Parquet's DELTA_BINARY_PACKED encoding (as
/// the lengths of DELTA_LENGTH_BYTE_ARRAY are): a header, then blocks of
/// 128 deltas, each its least delta and four miniblocks of 32 deltas above
/// it, bit-packed at the width the miniblock needs. `deltas` is scratch.
fn delta_binary_packed(out: &mut Vec<u8>, deltas: &mut Vec<u64>, values: impl ExactSizeIterator<Item = i32>) {
    uleb(out, DELTA_BLOCK as u64);
    uleb(out, (DELTA_BLOCK / DELTA_MINIBLOCK) as u64);
    uleb(out, values.len() as u64);
    let mut values = values.map(i64::from);
    let Some(first) = values.next() else {
        uleb(out, 0);
        return;
    };
    uleb(out, zigzag(first));
    let mut previous = first;
    let mut block = [0i64; DELTA_BLOCK];
    loop {
        let mut n = 0;
        for v in values.by_ref().take(DELTA_BLOCK) {
            block[n] = v - previous;
            previous = v;
            n += 1;
        }
        if n == 0 {
            return;
        }
        let min = block[..n].iter().copied().min().unwrap_or(0);
        uleb(out, zigzag(min));
        deltas.clear();
        deltas.extend(block[..n].iter().map(|d| (d - min) as u64));
        let widths_at = out.len();
        out.extend_from_slice(&[0; DELTA_BLOCK / DELTA_MINIBLOCK]);
        for (m, mini) in deltas.chunks(DELTA_MINIBLOCK).enumerate() {
            let width = 64 - mini.iter().fold(0, |a, &d| a | d).leading_zeros();
            out[widths_at + m] = width as u8;
            // Least significant bits first; the last miniblock padded with zeros.
            let (mut bits, mut held) = (0u128, 0u32);
            for i in 0..DELTA_MINIBLOCK {
                bits |= u128::from(mini.get(i).copied().unwrap_or(0)) << held;
                held += width;
                while held >= 8 {
                    out.push(bits as u8);
                    bits >>= 8;
                    held -= 8;
                }
            }
        }
        if n < DELTA_BLOCK {
            return;
        }
    }
}

fn uleb(out: &mut Vec<u8>, n: u64) {
    let mut bytes = [0; 10];
    let len = put_varint(&mut bytes, n);
    out.extend_from_slice(&bytes[..len]);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int32Array, StringArray};
    use deltalake::arrow::datatypes::{Field, Schema};
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use deltalake::parquet::file::properties::EnabledStatistics;
    use std::sync::Arc;

    fn batch(n: usize, value_len: impl Fn(usize) -> usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("data", DataType::Binary, false),
        ]));
        let ids = Int32Array::from_iter_values(0..n as i32);
        let names = StringArray::from_iter((0..n).map(|i| (i % 3 != 0).then(|| format!("n{i}"))));
        let values: Vec<Vec<u8>> = (0..n).map(|i| (0..value_len(i)).map(|j| (i * 7 + j / 5) as u8).collect()).collect();
        let data = BinaryArray::from_iter_values(values.iter());
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names), Arc::new(data)]).unwrap()
    }

    fn props(compression: Compression, page_bytes: usize, rows: usize) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(compression)
            .set_data_page_size_limit(page_bytes)
            .set_max_row_group_row_count(Some(rows))
            .set_column_dictionary_enabled(ColumnPath::from("data"), false)
            .set_column_statistics_enabled(ColumnPath::from("data"), EnabledStatistics::None)
            .build()
    }

    fn read_back(bytes: Vec<u8>) -> (RecordBatch, ParquetMetaData) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let meta = reader.metadata().as_ref().clone();
        let batches: Vec<_> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
        let schema = batches[0].schema();
        (deltalake::arrow::compute::concat_batches(&schema, &batches).unwrap(), meta)
    }

    #[test]
    fn a_file_reads_back_row_for_row_across_pages_and_row_groups() {
        for compression in [Compression::SNAPPY, Compression::UNCOMPRESSED] {
            // Values of 0 to 3000 bytes, pages of 4 KiB, row groups of 50 rows:
            // several values per page, values larger than a page, empty values.
            let b = batch(230, |i| (i * 37) % 3001);
            let mut bytes = Vec::new();
            let meta = write(&mut bytes, &b, "data", props(compression, 4096, 50)).unwrap();
            assert_eq!(meta.num_row_groups(), 5, "{compression}");
            let (back, read_meta) = read_back(bytes);
            assert_eq!(back, b, "{compression}");
            let data = read_meta.row_group(0).column(2);
            assert_eq!(data.compression(), compression);
            assert!(data.statistics().is_none(), "no statistics asked for the blob column");
            // The other columns keep what the properties ask for.
            assert!(read_meta.row_group(0).column(0).statistics().is_some());
        }
    }

    #[test]
    fn pages_of_many_values_read_back_across_delta_blocks_and_long_literals() {
        // Up to 5 000 values in a page: lengths in many blocks of 128 and
        // miniblocks of 32 (some all equal: width 0), and Snappy literals of
        // the lengths with one- to three-byte size fields.
        for (n, len) in [(3, 7), (33, 5), (129, 10), (5000, 3)] {
            let b = batch(n, |i| if i % 40 < 32 { len } else { (i * 13) % 50 });
            for compression in [Compression::SNAPPY, Compression::UNCOMPRESSED] {
                let mut bytes = Vec::new();
                write(&mut bytes, &b, "data", props(compression, 1 << 20, 10_000)).unwrap();
                let (back, meta) = read_back(bytes);
                assert_eq!(back, b, "{n} values, {compression}");
                let data = meta.row_group(0).column(2);
                assert_eq!(data.encodings().collect::<Vec<_>>(), vec![Encoding::DELTA_LENGTH_BYTE_ARRAY]);
            }
        }
    }

    #[test]
    fn snappy_literal_tags_carry_the_length_in_as_few_bytes_as_it_needs() {
        let mut tag = Vec::new();
        assert_eq!((snappy_literal_tag(&mut tag, 1), tag.clone()), (2, vec![0]));
        assert_eq!((snappy_literal_tag(&mut tag, 60), tag.clone()), (61, vec![59 << 2]));
        assert_eq!((snappy_literal_tag(&mut tag, 61), tag.clone()), (63, vec![60 << 2, 60]));
        assert_eq!((snappy_literal_tag(&mut tag, 257), tag.clone()), (260, vec![61 << 2, 0, 1]));
        assert_eq!((snappy_literal_tag(&mut tag, 1 << 20), tag.clone()), ((1 << 20) + 4, vec![62 << 2, 255, 255, 15]));
    }

    #[test]
    fn row_groups_end_at_the_byte_budget_or_the_row_cap() {
        let b = batch(10, |i| if i == 4 { 100 } else { 10 });
        let values = binary(b.column(2)).unwrap();
        assert_eq!(row_groups(values, 3, 1000), vec![(0, 3), (3, 3), (6, 3), (9, 1)]);
        assert_eq!(row_groups(values, 100, 45), vec![(0, 4), (4, 1), (5, 4), (9, 1)]);
        assert_eq!(row_groups(values, 100, 1), (0..10).map(|i| (i, 1)).collect::<Vec<_>>(), "one oversized value each");
    }

    #[test]
    fn the_page_index_of_the_blob_column_points_at_its_pages() {
        let b = batch(40, |_| 1000);
        let mut bytes = Vec::new();
        write(&mut bytes, &b, "data", props(Compression::SNAPPY, 4096, 1000)).unwrap();
        let options = deltalake::parquet::arrow::arrow_reader::ArrowReaderOptions::new()
            .with_page_index_policy(deltalake::parquet::file::metadata::PageIndexPolicy::Required);
        let reader =
            ParquetRecordBatchReaderBuilder::try_new_with_options(Bytes::from(bytes.clone()), options).unwrap();
        let offsets = reader.metadata().offset_index().expect("offset index");
        let pages = &offsets[0][2].page_locations;
        // 4 values of 1004 encoded bytes fit a 4 KiB page.
        assert_eq!(pages.len(), 10);
        assert_eq!(
            pages.iter().map(|p| p.first_row_index).collect::<Vec<_>>(),
            (0..40).step_by(4).collect::<Vec<i64>>()
        );
        for p in pages {
            // Every location starts a page header (a thrift struct: field 1, i32).
            assert_eq!(bytes[p.offset as usize], 0x15, "page at {}", p.offset);
        }
    }

    #[test]
    fn pages_reach_the_file_from_their_own_buffers_not_copies() {
        // Incompressible values, so that compressed pages stay large.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        let values: Vec<Vec<u8>> = (0..8).map(|_| noise(20_000)).collect();
        let data = BinaryArray::from_iter_values(values.iter());
        let page_bytes = 64 << 10;
        let schema = Arc::new(Schema::new(vec![Field::new("data", DataType::Binary, false)]));
        let props = props(Compression::SNAPPY, page_bytes, 100);
        let (file, _) =
            ArrowWriter::try_new(Vec::new(), schema, Some(props)).unwrap().into_serialized_writer().unwrap();
        let column =
            BlobColumn { index: 0, descr: file.schema_descr().column(0), compression: Compression::SNAPPY, page_bytes };
        let mut buffers = PageBuffers::default();
        let close = buffers.column_chunk(&column, &data).unwrap();
        // Three values of 20 004 encoded bytes to a page: three pages, each a
        // header piece and a values piece.
        assert_eq!(close.offset_index.as_ref().unwrap().page_locations().len(), 3);
        assert_eq!(buffers.chunk.pieces.len(), 6);
        assert_eq!(buffers.chunk.len(), close.metadata.compressed_size() as u64);
        // Each page still holds its pooled buffer: none came back for reuse,
        // as one would after being copied.
        assert_eq!(buffers.pool.lock().unwrap().len(), 0);
        buffers.chunk.pieces.clear();
        assert_eq!(buffers.pool.lock().unwrap().len(), 3);
    }

    #[test]
    fn a_nullable_or_non_binary_column_is_refused() {
        let b = batch(3, |_| 1);
        let err = write(&mut Vec::new(), &b, "name", props(Compression::SNAPPY, 4096, 10)).unwrap_err();
        assert!(err.to_string().contains("non-null Binary"), "{err}");
        let zstd = WriterProperties::builder().set_compression(Compression::ZSTD(Default::default())).build();
        let err = write(&mut Vec::new(), &b, "data", zstd).unwrap_err();
        assert!(err.to_string().contains("Snappy or none"), "{err}");
    }
}
