//! The disk spool: records the stream could not take, kept on disk in
//! order until it takes them.
//!
//! A spool is a directory of numbered segment files. Each segment starts
//! with the magic `OSPL` and a version byte, then holds frames:
//!
//! ```text
//! u32 LE  body length
//! u32 LE  CRC-32 of the body
//! body:   u16 LE partition-key length, partition key, record bytes
//! ```
//!
//! Records are appended to the newest segment and read from the oldest, at a
//! cursor kept in the `cursor` file (segment number and offset, replaced
//! atomically by rename). A segment is deleted once the cursor has passed
//! it. Writes go to the page cache, so a process killed with `kill -9` loses
//! nothing; with `sync` set every append is also fsynced (power loss). On
//! open, a frame torn by a crash at the end of the newest segment is cut
//! off; a bad frame anywhere else stops reading that segment, and what
//! follows it is counted as lost.
//!
//! The spool is bounded: when an append would pass `max_bytes`, the
//! [`DropPolicy`] decides: drop the oldest segments, refuse the new
//! records, or tell the caller to wait. Every dropped record is counted.
//! A `lock` file held with `flock` keeps two sensors off one spool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use opensoc_kinesis::OutRecord;

const MAGIC: &[u8; 5] = b"OSPL\x01";
const FRAME_HEADER: u64 = 8;
const SEGMENT_SUFFIX: &str = ".seg";

/// What to do when the spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropPolicy {
    /// Delete the oldest segments to make room (newest data wins).
    DropOldest,
    /// Refuse the new records (oldest data wins).
    DropNewest,
    /// Refuse nothing: the caller waits until the spool drains (inputs
    /// slow down; a live capture then loses packets in the kernel).
    Block,
}

/// Spool settings.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// Most bytes on disk.
    pub max_bytes: u64,
    /// Segment size at which a new segment starts.
    pub segment_bytes: u64,
    /// When full.
    pub policy: DropPolicy,
    /// fsync every append.
    pub sync: bool,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig { max_bytes: 1 << 30, segment_bytes: 32 << 20, policy: DropPolicy::DropOldest, sync: false }
    }
}

/// A spool failure.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Disk I/O.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Another process holds the spool.
    #[error("spool {0} is in use by another sensor")]
    Locked(PathBuf),
    /// A record too large for a frame.
    #[error("record with a {0}-byte partition key cannot be spooled")]
    KeyTooLong(usize),
}

/// How an append went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Records written.
    pub stored: u64,
    /// Records dropped to respect the limit (old ones for drop-oldest, the
    /// new ones for drop-newest).
    pub dropped: u64,
    /// The spool was full and the policy is [`DropPolicy::Block`]: nothing
    /// was written; try again after a drain.
    pub full: bool,
}

/// A place in the spool: segment number and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    segment: u64,
    offset: u64,
}

/// Records read from the head, to acknowledge with [`Spool::ack`] once sent.
#[derive(Debug)]
pub struct Peeked {
    /// The records, oldest first.
    pub records: Vec<OutRecord>,
    end: Position,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    records: u64,
}

#[derive(Debug)]
struct State {
    /// Oldest first; the last one is written to.
    segments: Vec<Segment>,
    writer: Option<File>,
    cursor: Position,
    /// Records before the cursor in the first segment.
    consumed_in_head: u64,
    lost_on_open: u64,
}

/// A bounded, crash-safe, in-order record spool.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    config: SpoolConfig,
    state: Mutex<State>,
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_path_buf(), source }
}

impl Spool {
    /// Open (or create) the spool in `dir`, recovering from a crash.
    pub fn open(dir: &Path, config: SpoolConfig) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("lock");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(SpoolError::Locked(dir.to_path_buf()));
        }
        let mut ids: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(SEGMENT_SUFFIX)?.parse().ok())
            .collect();
        ids.sort_unstable();
        let cursor = read_cursor(dir);
        let mut segments = Vec::new();
        let mut lost_on_open = 0;
        let last = ids.last().copied();
        for id in ids {
            let path = segment_path(dir, id);
            if id < cursor.segment {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            let scan = scan_segment(&path).map_err(io_err(&path))?;
            if scan.valid_end < scan.file_len {
                if Some(id) == last {
                    tracing::warn!(segment = %path.display(), at = scan.valid_end, "cutting a torn frame off the spool");
                    let f = OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
                    f.set_len(scan.valid_end).map_err(io_err(&path))?;
                } else {
                    tracing::error!(segment = %path.display(), at = scan.valid_end, "damaged spool segment: the rest of it is lost");
                    lost_on_open += 1;
                }
            }
            segments.push(Segment { id, bytes: scan.valid_end, records: scan.records });
        }
        let mut state = State { segments, writer: None, cursor, consumed_in_head: 0, lost_on_open };
        match state.segments.first() {
            Some(head) if head.id == cursor.segment => {
                state.consumed_in_head =
                    count_records_before(&segment_path(dir, head.id), cursor.offset).map_err(io_err(dir))?;
            }
            Some(head) => state.cursor = Position { segment: head.id, offset: MAGIC.len() as u64 },
            None => {}
        }
        let spool = Spool { dir: dir.to_path_buf(), config, state: Mutex::new(state), _lock: lock };
        Ok(spool)
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Segments found damaged when the spool was opened.
    pub fn damaged_segments(&self) -> u64 {
        self.lock().lost_on_open
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records and bytes waiting.
    pub fn depth(&self) -> (u64, u64) {
        let s = self.lock();
        let records = s.segments.iter().map(|g| g.records).sum::<u64>() - s.consumed_in_head;
        let bytes = s.segments.iter().map(|g| g.bytes).sum::<u64>()
            - s.segments.first().map_or(0, |_| s.cursor.offset.saturating_sub(MAGIC.len() as u64));
        (records, bytes)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.depth().0 == 0
    }

    /// Append records at the tail, within the limit.
    pub fn append(&self, records: &[OutRecord]) -> Result<Appended, SpoolError> {
        if let Some(r) = records.iter().find(|r| r.partition_key.len() > u16::MAX as usize) {
            return Err(SpoolError::KeyTooLong(r.partition_key.len()));
        }
        let incoming: u64 = records.iter().map(frame_len).sum();
        let mut s = self.lock();
        let mut out = Appended::default();
        let on_disk = |s: &State| s.segments.iter().map(|g| g.bytes).sum::<u64>();
        if on_disk(&s) + incoming > self.config.max_bytes {
            match self.config.policy {
                DropPolicy::Block => {
                    out.full = true;
                    return Ok(out);
                }
                DropPolicy::DropNewest => {
                    out.dropped = records.len() as u64;
                    return Ok(out);
                }
                DropPolicy::DropOldest => {
                    while on_disk(&s) + incoming > self.config.max_bytes && !s.segments.is_empty() {
                        out.dropped += self.drop_head(&mut s)?;
                    }
                    if incoming > self.config.max_bytes {
                        out.dropped += records.len() as u64;
                        return Ok(out);
                    }
                }
            }
        }
        let mut buf = Vec::with_capacity(incoming as usize);
        for r in records {
            if s.writer.is_none() || s.segments.last().is_some_and(|g| g.bytes >= self.config.segment_bytes) {
                self.write_buffered(&mut s, &mut buf)?;
                self.start_segment(&mut s)?;
            }
            let start = buf.len();
            encode_frame(&mut buf, r);
            let seg = s.segments.last_mut().expect("a segment was started");
            seg.bytes += (buf.len() - start) as u64;
            seg.records += 1;
            out.stored += 1;
        }
        self.write_buffered(&mut s, &mut buf)?;
        Ok(out)
    }

    fn write_buffered(&self, s: &mut State, buf: &mut Vec<u8>) -> Result<(), SpoolError> {
        if buf.is_empty() {
            return Ok(());
        }
        let id = s.segments.last().map_or(0, |g| g.id);
        let path = segment_path(&self.dir, id);
        let w = s.writer.as_mut().expect("an open segment");
        w.write_all(buf).map_err(io_err(&path))?;
        if self.config.sync {
            w.sync_data().map_err(io_err(&path))?;
        }
        buf.clear();
        Ok(())
    }

    fn start_segment(&self, s: &mut State) -> Result<(), SpoolError> {
        let id = s.segments.last().map_or(s.cursor.segment.max(1), |g| g.id + 1);
        let path = segment_path(&self.dir, id);
        let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(io_err(&path))?;
        f.write_all(MAGIC).map_err(io_err(&path))?;
        if s.segments.is_empty() {
            s.cursor = Position { segment: id, offset: MAGIC.len() as u64 };
            s.consumed_in_head = 0;
        }
        s.segments.push(Segment { id, bytes: MAGIC.len() as u64, records: 0 });
        s.writer = Some(f);
        Ok(())
    }

    /// Delete the oldest segment; returns the unread records it held.
    fn drop_head(&self, s: &mut State) -> Result<u64, SpoolError> {
        let head = s.segments.remove(0);
        let dropped = head.records - s.consumed_in_head;
        if s.segments.is_empty() {
            s.writer = None;
        }
        let path = segment_path(&self.dir, head.id);
        fs::remove_file(&path).map_err(io_err(&path))?;
        s.consumed_in_head = 0;
        s.cursor = Position { segment: s.segments.first().map_or(head.id + 1, |g| g.id), offset: MAGIC.len() as u64 };
        write_cursor(&self.dir, s.cursor)?;
        tracing::warn!(segment = head.id, records = dropped, "spool full: oldest segment dropped");
        Ok(dropped)
    }

    /// Read up to `max_records` / `max_bytes` of records from the head
    /// without consuming them.
    pub fn peek(&self, max_records: usize, max_bytes: usize) -> Result<Peeked, SpoolError> {
        let s = self.lock();
        let mut records = Vec::new();
        let mut end = s.cursor;
        let mut bytes = 0;
        for seg in s.segments.iter().filter(|g| g.id >= s.cursor.segment) {
            let path = segment_path(&self.dir, seg.id);
            let start = if seg.id == s.cursor.segment { s.cursor.offset } else { MAGIC.len() as u64 };
            if start >= seg.bytes {
                end = Position { segment: seg.id, offset: seg.bytes };
                continue;
            }
            let mut f = File::open(&path).map_err(io_err(&path))?;
            f.seek(SeekFrom::Start(start)).map_err(io_err(&path))?;
            let mut r = BufReader::with_capacity(1 << 20, f.take(seg.bytes - start));
            let mut offset = start;
            while offset < seg.bytes {
                let Some(rec) = read_frame(&mut r).map_err(io_err(&path))? else {
                    // Damaged: skip the rest of this segment.
                    offset = seg.bytes;
                    break;
                };
                if !records.is_empty() && (records.len() >= max_records || bytes + rec.data.len() > max_bytes) {
                    return Ok(Peeked { records, end });
                }
                offset += frame_len(&rec);
                bytes += rec.data.len();
                records.push(rec);
                end = Position { segment: seg.id, offset };
            }
            end = Position { segment: seg.id, offset };
        }
        Ok(Peeked { records, end })
    }

    /// Consume what `peeked` read: the cursor moves past it and finished
    /// segments are deleted.
    pub fn ack(&self, peeked: &Peeked) -> Result<(), SpoolError> {
        let mut s = self.lock();
        if peeked.end <= s.cursor {
            return Ok(());
        }
        let mut n = peeked.records.len() as u64;
        while let Some(head) = s.segments.first() {
            let writing = s.segments.len() == 1 && s.writer.is_some();
            let finished = head.id < peeked.end.segment
                || (head.id == peeked.end.segment && !writing && peeked.end.offset >= head.bytes);
            if !finished {
                break;
            }
            n -= head.records - s.consumed_in_head;
            let head = s.segments.remove(0);
            let path = segment_path(&self.dir, head.id);
            fs::remove_file(&path).map_err(io_err(&path))?;
            s.consumed_in_head = 0;
            if s.segments.is_empty() {
                s.writer = None;
            }
        }
        if s.segments.first().is_some_and(|g| g.id == peeked.end.segment) {
            s.cursor = peeked.end;
            s.consumed_in_head += n;
        } else {
            s.cursor = Position {
                segment: s.segments.first().map_or(peeked.end.segment + 1, |g| g.id),
                offset: MAGIC.len() as u64,
            };
        }
        write_cursor(&self.dir, s.cursor)
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

fn frame_len(r: &OutRecord) -> u64 {
    FRAME_HEADER + 2 + r.partition_key.len() as u64 + r.data.len() as u64
}

fn encode_frame(buf: &mut Vec<u8>, r: &OutRecord) {
    let body_len = 2 + r.partition_key.len() + r.data.len();
    let at = buf.len();
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&(r.partition_key.len() as u16).to_le_bytes());
    buf.extend_from_slice(r.partition_key.as_bytes());
    buf.extend_from_slice(&r.data);
    let crc = crc32fast::hash(&buf[at + 8..]);
    buf[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Most bytes of one frame body: a 1 MiB record and its key, with room.
const MAX_BODY: usize = opensoc_schemas::envelope::MAX_SEGMENT_BYTES + (1 << 16) + 2;

/// The next frame, or `None` at a damaged or torn one (or the end).
fn read_frame(r: &mut impl Read) -> io::Result<Option<OutRecord>> {
    let mut head = [0u8; 8];
    if let Err(e) = r.read_exact(&mut head) {
        return if e.kind() == io::ErrorKind::UnexpectedEof { Ok(None) } else { Err(e) };
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if !(2..=MAX_BODY).contains(&len) {
        return Ok(None);
    }
    let mut body = vec![0u8; len];
    if let Err(e) = r.read_exact(&mut body) {
        return if e.kind() == io::ErrorKind::UnexpectedEof { Ok(None) } else { Err(e) };
    }
    if crc32fast::hash(&body) != crc {
        return Ok(None);
    }
    let key_len = u16::from_le_bytes([body[0], body[1]]) as usize;
    if 2 + key_len > len {
        return Ok(None);
    }
    let Ok(partition_key) = std::str::from_utf8(&body[2..2 + key_len]).map(str::to_string) else {
        return Ok(None);
    };
    body.drain(..2 + key_len);
    Ok(Some(OutRecord { partition_key, data: body }))
}

struct Scan {
    file_len: u64,
    valid_end: u64,
    records: u64,
}

/// Walk a segment's frames: where the valid ones end, and how many.
fn scan_segment(path: &Path) -> io::Result<Scan> {
    let f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut magic = [0u8; MAGIC.len()];
    if r.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Ok(Scan { file_len, valid_end: 0, records: 0 });
    }
    let mut valid_end = MAGIC.len() as u64;
    let mut records = 0;
    while let Some(rec) = read_frame(&mut r)? {
        valid_end += frame_len(&rec);
        records += 1;
    }
    Ok(Scan { file_len, valid_end, records })
}

fn count_records_before(path: &Path, offset: u64) -> io::Result<u64> {
    let mut r = BufReader::new(File::open(path)?);
    r.seek(SeekFrom::Start(MAGIC.len() as u64))?;
    let mut at = MAGIC.len() as u64;
    let mut n = 0;
    while at < offset {
        let Some(rec) = read_frame(&mut r)? else { break };
        at += frame_len(&rec);
        n += 1;
    }
    Ok(n)
}

fn read_cursor(dir: &Path) -> Position {
    let text = fs::read_to_string(dir.join("cursor")).unwrap_or_default();
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next()) {
        (Some(Ok(segment)), Some(Ok(offset))) => Position { segment, offset },
        _ => Position { segment: 0, offset: MAGIC.len() as u64 },
    }
}

fn write_cursor(dir: &Path, p: Position) -> Result<(), SpoolError> {
    let tmp = dir.join("cursor.tmp");
    fs::write(&tmp, format!("{} {}\n", p.segment, p.offset)).map_err(io_err(&tmp))?;
    let path = dir.join("cursor");
    fs::rename(&tmp, &path).map_err(io_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize, len: usize) -> OutRecord {
        OutRecord { partition_key: format!("k{i}"), data: vec![(i % 251) as u8; len] }
    }

    fn cfg(max: u64, seg: u64, policy: DropPolicy) -> SpoolConfig {
        SpoolConfig { max_bytes: max, segment_bytes: seg, policy, sync: false }
    }

    fn drain(spool: &Spool, per_peek: usize) -> Vec<OutRecord> {
        let mut all = Vec::new();
        loop {
            let p = spool.peek(per_peek, 1 << 30).unwrap();
            if p.records.is_empty() {
                return all;
            }
            spool.ack(&p).unwrap();
            all.extend(p.records);
        }
    }

    #[test]
    fn records_come_back_in_order_across_segments_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let want: Vec<OutRecord> = (0..300).map(|i| rec(i, 100 + i)).collect();
        {
            let spool = Spool::open(dir.path(), cfg(1 << 30, 4096, DropPolicy::Block)).unwrap();
            for chunk in want.chunks(7) {
                assert_eq!(spool.append(chunk).unwrap().stored, chunk.len() as u64);
            }
            assert_eq!(spool.depth().0, 300);
            let first = spool.peek(50, 1 << 30).unwrap();
            spool.ack(&first).unwrap();
            assert_eq!(first.records, want[..50]);
            assert_eq!(spool.depth().0, 250);
        }
        let spool = Spool::open(dir.path(), cfg(1 << 30, 4096, DropPolicy::Block)).unwrap();
        assert_eq!(spool.depth().0, 250, "the cursor survived the reopen");
        spool.append(&[rec(999, 10)]).unwrap();
        let rest = drain(&spool, 33);
        assert_eq!(rest.len(), 251);
        assert_eq!(rest[..250], want[50..]);
        assert_eq!(rest[250], rec(999, 10));
        assert!(spool.is_empty());
        let segs = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg"))
            .count();
        assert!(segs <= 1, "drained segments are deleted ({segs} left)");
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_rest_survives() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
            spool.append(&(0..10).map(|i| rec(i, 1000)).collect::<Vec<_>>()).unwrap();
        }
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "seg"))
            .unwrap();
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 300).unwrap();
        let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
        assert_eq!(spool.depth().0, 9);
        spool.append(&[rec(42, 5)]).unwrap();
        let got = drain(&spool, 100);
        assert_eq!(got.len(), 10);
        assert_eq!(got[9], rec(42, 5), "appends continue after the cut");
    }

    #[test]
    fn limits_follow_the_policy_and_count_what_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let one = frame_len(&rec(0, 1000));
        // Room for 20 records, segments of about 5.
        let spool = Spool::open(dir.path(), cfg(20 * one + 64, 5 * one, DropPolicy::DropOldest)).unwrap();
        let mut dropped = 0;
        for i in 0..40 {
            dropped += spool.append(&[rec(i, 1000)]).unwrap().dropped;
        }
        let (n, bytes) = spool.depth();
        assert_eq!(n + dropped, 40, "every record is kept or counted");
        assert!(bytes <= 20 * one + 64);
        let got = drain(&spool, 1000);
        assert_eq!(got.last(), Some(&rec(39, 1000)), "drop-oldest keeps the newest");
        let ids: Vec<u32> = got.iter().map(|r| r.partition_key[1..].parse().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");

        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), cfg(20 * one + 64, 5 * one, DropPolicy::DropNewest)).unwrap();
        let outcomes: Vec<Appended> = (0..30).map(|i| spool.append(&[rec(i, 1000)]).unwrap()).collect();
        assert_eq!(outcomes.iter().map(|o| o.dropped).sum::<u64>(), 10);
        assert_eq!(drain(&spool, 1000).first(), Some(&rec(0, 1000)), "drop-newest keeps the oldest");

        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), cfg(3 * one + 64, one, DropPolicy::Block)).unwrap();
        let outcomes: Vec<Appended> = (0..4).map(|i| spool.append(&[rec(i, 1000)]).unwrap()).collect();
        assert!(outcomes[3].full && outcomes[3].stored == 0 && outcomes[3].dropped == 0);
        let p = spool.peek(1, 1 << 30).unwrap();
        spool.ack(&p).unwrap();
        assert_eq!(spool.append(&[rec(3, 1000)]).unwrap().stored, 1, "room again after a drain");
    }

    #[test]
    fn one_sensor_per_spool() {
        let dir = tempfile::tempdir().unwrap();
        let _a = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
        assert!(matches!(Spool::open(dir.path(), SpoolConfig::default()), Err(SpoolError::Locked(_))));
    }
}
