//! Exactly-once bookkeeping: how far each table has committed each shard.
//!
//! Every commit of stream data carries, as Delta application transactions
//! (`txn` actions, part of the same atomic commit as the data), the last
//! Kinesis sequence number it covers. Sequence numbers are decimal numbers
//! of up to 128 digits and do not fit a `txn` version (an i64), so one is
//! stored as its digit count (app id `opensoc:STREAM/SHARD`) plus 18-digit
//! pieces (app ids `…#0`, `…#1`, …). Reading it back costs a few snapshot
//! lookups and no scan of the table's history.
//!
//! Two writers handling the same shard at once write the same app ids, so
//! Delta's conflict checker fails the later commit with a concurrent
//! transaction error; it re-reads the checkpoint and keeps only what is
//! still new.

use std::cmp::Ordering;
use std::fmt;

use deltalake::kernel::Transaction;
use deltalake::{DeltaTable, DeltaTableError};

/// Digits per `txn` piece (10^18 < 2^63).
const PIECE_DIGITS: usize = 18;

/// A Kinesis sequence number: a decimal number, compared by value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceNumber(String);

/// Not a sequence number.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("not a Kinesis sequence number: {0:?}")]
pub struct BadSequenceNumber(pub String);

impl SequenceNumber {
    /// Parse a decimal sequence number (at most 128 digits).
    pub fn parse(s: &str) -> Result<Self, BadSequenceNumber> {
        if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadSequenceNumber(s.to_string()));
        }
        let trimmed = s.trim_start_matches('0');
        Ok(SequenceNumber(if trimmed.is_empty() { "0".into() } else { trimmed.into() }))
    }

    /// The digits, without leading zeros.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The application id of a shard of a stream.
pub fn app_id(stream: &str, shard: &str) -> String {
    format!("opensoc:{stream}/{shard}")
}

fn piece_id(app: &str, i: usize) -> String {
    format!("{app}#{i}")
}

/// The `txn` actions that record `seq` as the shard's checkpoint.
pub fn transactions(app: &str, seq: &SequenceNumber) -> Vec<Transaction> {
    let digits = seq.as_str();
    let mut out = vec![Transaction::new(app, digits.len() as i64)];
    for (i, piece) in digits.as_bytes().chunks(PIECE_DIGITS).enumerate() {
        // Pieces are ASCII digits, at most 18 of them: always a valid i64.
        let v = std::str::from_utf8(piece).ok().and_then(|p| p.parse::<i64>().ok()).unwrap_or_default();
        out.push(Transaction::new(piece_id(app, i), v));
    }
    out
}

/// The checkpoint of a shard in the table's current snapshot.
pub async fn committed(table: &DeltaTable, app: &str) -> Result<Option<SequenceNumber>, DeltaTableError> {
    let snapshot = table.snapshot()?;
    let log = table.log_store();
    let Some(len) = snapshot.transaction_version(log.as_ref(), app).await? else { return Ok(None) };
    let len = usize::try_from(len).map_err(|_| corrupt(app))?;
    let mut digits = String::with_capacity(len);
    for i in 0..len.div_ceil(PIECE_DIGITS) {
        let width = PIECE_DIGITS.min(len - i * PIECE_DIGITS);
        let v = snapshot.transaction_version(log.as_ref(), piece_id(app, i)).await?.ok_or_else(|| corrupt(app))?;
        digits.push_str(&format!("{v:0width$}"));
    }
    SequenceNumber::parse(&digits).map(Some).map_err(|_| corrupt(app))
}

fn corrupt(app: &str) -> DeltaTableError {
    DeltaTableError::Generic(format!("the checkpoint of {app} is damaged (txn pieces missing or out of range)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_by_value_not_text() {
        let a = SequenceNumber::parse("49590338271490256608559692538361571095921575989136588898").unwrap();
        let b = SequenceNumber::parse("49590338271490256608559692540925702759324208523137515618").unwrap();
        assert!(a < b);
        assert!(SequenceNumber::parse("9").unwrap() < SequenceNumber::parse("10").unwrap());
        assert_eq!(SequenceNumber::parse("007").unwrap(), SequenceNumber::parse("7").unwrap());
        assert!(SequenceNumber::parse("12a").is_err());
        assert!(SequenceNumber::parse("").is_err());
    }

    #[test]
    fn a_sequence_number_splits_into_txn_pieces_that_fit_i64() {
        let s = SequenceNumber::parse("49590338271490256608559692538361571095921575989136588898").unwrap();
        let t = transactions("opensoc:s/shard-0", &s);
        assert_eq!(t[0].version, 56);
        assert_eq!(t.len(), 1 + 4);
        assert_eq!(t[1].app_id, "opensoc:s/shard-0#0");
        assert_eq!(t[1].version, 495903382714902566);
        assert_eq!(t[4].version, 98); // the last two digits
    }
}
