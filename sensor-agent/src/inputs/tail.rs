//! Following JSON-lines files as they grow (Zeek JSON, Suricata EVE), the
//! way `tail -F` does: through rotation (rename and create, or copy and
//! truncate) and across restarts.
//!
//! The position is saved in the state directory as the file's device,
//! inode and offset — but only the offset up to which lines are *safe*
//! (acknowledged by the stream or in the spool), so a sensor killed at any
//! moment re-reads rather than loses. A file replaced while the sensor was
//! down (a different inode) is read from its start. A line without its
//! newline yet waits for the rest; a line longer than the limit is cut and
//! counted.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::inputs::events::LogEvent;
use crate::inputs::logfile::detect_source_type;
use crate::metrics::SensorMetrics;
use crate::ship::{MAX_LINE_BYTES, now_ns};

/// Tail settings.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// How often to look for new data.
    pub poll: Duration,
    /// Where positions are saved.
    pub state_dir: PathBuf,
}

/// The saved position of one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPosition {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub inode: u64,
    /// Bytes safely shipped.
    pub offset: u64,
}

/// Where the position of `path` is saved.
pub fn position_file(state_dir: &Path, path: &Path) -> PathBuf {
    let name: String = path
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
        .collect();
    state_dir.join("tail").join(format!("{name}.pos"))
}

fn load(file: &Path) -> Option<SavedPosition> {
    serde_json::from_slice(&std::fs::read(file).ok()?).ok()
}

fn save(file: &Path, pos: SavedPosition) {
    let tmp = file.with_extension("pos.tmp");
    let res = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))
        .and_then(|_| std::fs::write(&tmp, serde_json::to_vec(&pos).unwrap_or_default()))
        .and_then(|_| std::fs::rename(&tmp, file));
    if let Err(e) = res {
        tracing::warn!(file = %file.display(), error = %e, "tail position not saved");
    }
}

/// One open instance of the followed file.
struct Open {
    file: File,
    dev: u64,
    inode: u64,
    /// Next byte to read.
    at: u64,
    /// Offset up to which lines are safe.
    safe: Arc<AtomicU64>,
}

impl Open {
    fn saved(&self) -> SavedPosition {
        SavedPosition { dev: self.dev, inode: self.inode, offset: self.safe.load(Ordering::SeqCst) }
    }
}

/// Where a stopped tail got to. Its last lines become safe only once the
/// pipeline behind it has shipped or spooled them — after [`follow`]
/// returns — so the agent calls [`TailEnd::save`] when the pipeline is
/// done; else a restart would read them again.
pub struct TailEnd {
    pos_file: PathBuf,
    open: Open,
}

impl TailEnd {
    /// Save the position up to which lines are safe now.
    pub fn save(&self) {
        save(&self.pos_file, self.open.saved());
    }
}

fn open_at(path: &Path, saved: Option<SavedPosition>) -> std::io::Result<Open> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let at = match saved {
        Some(s) if s.dev == meta.dev() && s.inode == meta.ino() && s.offset <= meta.len() => s.offset,
        Some(s) if s.dev == meta.dev() && s.inode == meta.ino() => {
            tracing::warn!(file = %path.display(), "file is shorter than the saved position (truncated): reading from the start");
            0
        }
        Some(_) => {
            tracing::warn!(file = %path.display(), "file was replaced while the sensor was stopped: reading the new one from the start");
            0
        }
        None => 0,
    };
    file.seek(SeekFrom::Start(at))?;
    Ok(Open { file, dev: meta.dev(), inode: meta.ino(), at, safe: Arc::new(AtomicU64::new(at)) })
}

/// Follow `path` until `stop` turns true, sending its lines to `events`.
/// Runs on its own thread (blocking file I/O). Returns where it got to
/// (`None` if the file was never opened), to be saved once the lines sent
/// are safe.
pub fn follow(
    path: PathBuf,
    source_type: Option<String>,
    opts: TailOptions,
    events: mpsc::Sender<LogEvent>,
    metrics: Arc<SensorMetrics>,
    stop: watch::Receiver<bool>,
) -> Option<TailEnd> {
    let pos_file = position_file(&opts.state_dir, &path);
    let origin: Arc<str> = path.display().to_string().into();
    let mut source: Option<Arc<str>> = source_type.map(Into::into);
    let mut saved = load(&pos_file);
    let mut open: Option<Open> = None;
    let mut partial: Vec<u8> = Vec::new();
    let mut cutting = false;
    let mut buf = vec![0u8; 256 << 10];
    let mut last_saved: Option<SavedPosition> = saved;
    // A rotation seen: read the old file once more (a writer may have added
    // to it after our last read), then switch.
    let mut rotation_seen = false;
    loop {
        let stopping = *stop.borrow();
        if open.is_none() {
            match open_at(&path, saved.take()) {
                Ok(o) => {
                    tracing::info!(file = %path.display(), at = o.at, "following");
                    open = Some(o);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(file = %path.display(), error = %e, "cannot open"),
            }
        }
        if let Some(o) = open.as_mut() {
            // Read what is there.
            loop {
                let n = match o.file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "read failed");
                        break;
                    }
                };
                let mut chunk = &buf[..n];
                while !chunk.is_empty() {
                    let (piece, ended) = match memchr::memchr(b'\n', chunk) {
                        Some(i) => (&chunk[..i], Some(i + 1)),
                        None => (chunk, None),
                    };
                    o.at += ended.unwrap_or(chunk.len()) as u64;
                    if !cutting {
                        let room = MAX_LINE_BYTES.saturating_sub(partial.len());
                        partial.extend_from_slice(&piece[..piece.len().min(room)]);
                        if piece.len() > room {
                            cutting = true;
                            metrics.lines_truncated.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(file = %path.display(), "line longer than {MAX_LINE_BYTES} bytes cut");
                        }
                    }
                    chunk = &chunk[ended.unwrap_or(chunk.len())..];
                    if ended.is_some() {
                        let line = std::mem::take(&mut partial);
                        cutting = false;
                        if !emit(line, &mut source, &origin, Some((o.safe.clone(), o.at)), &events, &metrics) {
                            return None;
                        }
                    }
                }
            }
            // At the end: rotated or truncated?
            match std::fs::metadata(&path) {
                Ok(m) if (m.dev() != o.dev || m.ino() != o.inode) && !rotation_seen => {
                    rotation_seen = true;
                    continue;
                }
                Ok(m) if m.dev() != o.dev || m.ino() != o.inode => {
                    // Rotated: the old file is read to its end; its unfinished line ends with it.
                    rotation_seen = false;
                    if !partial.is_empty() {
                        let line = std::mem::take(&mut partial);
                        if !emit(line, &mut source, &origin, Some((o.safe.clone(), o.at)), &events, &metrics) {
                            return None;
                        }
                    }
                    tracing::info!(file = %path.display(), "rotated: following the new file");
                    open = None;
                    continue;
                }
                Ok(m) if m.len() < o.at => {
                    tracing::info!(file = %path.display(), "truncated: reading from the start");
                    partial.clear();
                    let _ = o.file.seek(SeekFrom::Start(0));
                    o.at = 0;
                    o.safe.store(0, Ordering::SeqCst);
                }
                _ => {}
            }
            let now = o.saved();
            if last_saved != Some(now) {
                save(&pos_file, now);
                last_saved = Some(now);
            }
        }
        if stopping {
            return open.map(|open| TailEnd { pos_file, open });
        }
        std::thread::sleep(opts.poll);
    }
}

fn emit(
    line: Vec<u8>,
    source: &mut Option<Arc<str>>,
    origin: &Arc<str>,
    mark: Option<(Arc<AtomicU64>, u64)>,
    events: &mpsc::Sender<LogEvent>,
    metrics: &SensorMetrics,
) -> bool {
    let mut line = line;
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.trim_ascii().is_empty() {
        // Nothing to ship, but the position moves past it.
        if let Some((pos, at)) = mark {
            pos.fetch_max(at, Ordering::SeqCst);
        }
        return true;
    }
    let source_type = source.get_or_insert_with(|| detect_source_type(&line).into()).clone();
    metrics.log_lines.fetch_add(1, Ordering::Relaxed);
    let ev = LogEvent { source_type, origin: origin.clone(), received_ns: now_ns(), line, mark };
    events.blocking_send(ev).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Harness {
        rx: mpsc::Receiver<LogEvent>,
        stop: watch::Sender<bool>,
        thread: std::thread::JoinHandle<Option<TailEnd>>,
    }

    fn start(path: &Path, state: &Path) -> Harness {
        let (tx, rx) = mpsc::channel(10_000);
        let (stop, stop_rx) = watch::channel(false);
        let opts = TailOptions { poll: Duration::from_millis(20), state_dir: state.to_path_buf() };
        let p = path.to_path_buf();
        let thread = std::thread::spawn(move || follow(p, None, opts, tx, Arc::default(), stop_rx));
        Harness { rx, stop, thread }
    }

    /// The next `n` lines sent, not yet marked safe (within 10 s).
    fn receive(h: &mut Harness, n: usize) -> Vec<LogEvent> {
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.len() < n {
            assert!(std::time::Instant::now() < deadline, "only {} of {n} lines", out.len());
            match h.rx.try_recv() {
                Ok(ev) => out.push(ev),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        out
    }

    /// Mark the lines of `events` safe, as the pipeline does once it stored them.
    fn mark_safe(events: &[LogEvent]) {
        for ev in events {
            if let Some((pos, at)) = &ev.mark {
                pos.fetch_max(*at, Ordering::SeqCst);
            }
        }
    }

    /// The next `n` lines, safe at once (no sender in between).
    fn take(h: &mut Harness, n: usize) -> Vec<String> {
        let events = receive(h, n);
        mark_safe(&events);
        events.into_iter().map(|ev| String::from_utf8(ev.line).unwrap()).collect()
    }

    /// Stop the tail and, as the agent does once its pipeline is done,
    /// save where it got to.
    fn stop(h: Harness) -> mpsc::Receiver<LogEvent> {
        h.stop.send(true).unwrap();
        if let Some(end) = h.thread.join().unwrap() {
            end.save();
        }
        h.rx
    }

    #[test]
    fn follows_growth_rotation_and_truncation_and_resumes_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eve.json");
        let state = dir.path().join("state");
        let mut f = File::create(&path).unwrap();
        writeln!(f, "{{\"event_type\":\"a\",\"n\":1}}").unwrap();
        write!(f, "{{\"event_type\":\"a\",\"n\":2").unwrap();
        let mut h = start(&path, &state);
        assert_eq!(take(&mut h, 1), vec![r#"{"event_type":"a","n":1}"#]);
        writeln!(f, "}}").unwrap();
        assert_eq!(take(&mut h, 1), vec![r#"{"event_type":"a","n":2}"#], "a partial line waits for its end");
        // Rename-and-create rotation, with a last line in the old file.
        writeln!(f, "{{\"n\":3}}").unwrap();
        std::fs::rename(&path, dir.path().join("eve.json.1")).unwrap();
        writeln!(f, "{{\"n\":4}}").unwrap();
        let mut g = File::create(&path).unwrap();
        writeln!(g, "{{\"n\":5}}").unwrap();
        assert_eq!(take(&mut h, 3), vec![r#"{"n":3}"#, r#"{"n":4}"#, r#"{"n":5}"#]);
        let rx = stop(h);
        drop(rx);
        // Restart: only what came after.
        writeln!(g, "{{\"n\":6}}").unwrap();
        let mut h = start(&path, &state);
        assert_eq!(take(&mut h, 1), vec![r#"{"n":6}"#]);
        // Copy-truncate rotation.
        g.set_len(0).unwrap();
        let mut g = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writeln!(g, "{{\"n\":7}}").unwrap();
        assert_eq!(take(&mut h, 1), vec![r#"{"n":7}"#]);
        let mut rx = stop(h);
        assert!(rx.try_recv().is_err(), "nothing twice");
    }

    #[test]
    fn lines_made_safe_after_the_tail_stopped_are_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eve.json");
        let state = dir.path().join("state");
        std::fs::write(&path, "{\"n\":1}\n{\"n\":2}\n").unwrap();
        let mut h = start(&path, &state);
        let received = receive(&mut h, 2);
        assert!(received.iter().all(|ev| ev.mark.is_some()), "tailed lines carry their position");
        // Stopped before the pipeline stored them (its last flush comes
        // after the inputs end)…
        h.stop.send(true).unwrap();
        let end = h.thread.join().unwrap().expect("the file was open");
        // …then stored, and the position saved.
        mark_safe(&received);
        end.save();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"n\":3}\n").unwrap();
        let mut h = start(&path, &state);
        assert_eq!(take(&mut h, 1), vec![r#"{"n":3}"#]);
        let mut rx = stop(h);
        assert!(rx.try_recv().is_err(), "nothing twice");
    }

    #[test]
    fn a_line_not_yet_safe_is_read_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zeek.json");
        let state = dir.path().join("state");
        std::fs::write(&path, "{\"uid\":\"a\"}\n{\"uid\":\"b\"}\n").unwrap();
        let mut h = start(&path, &state);
        // Receive without marking safe: a crash before the records were stored.
        assert_eq!(receive(&mut h, 2).len(), 2);
        drop(stop(h));
        let mut h = start(&path, &state);
        assert_eq!(take(&mut h, 2), vec![r#"{"uid":"a"}"#, r#"{"uid":"b"}"#]);
        drop(stop(h));
    }
}
