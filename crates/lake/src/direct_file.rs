//! Writing a new local file around the page cache (Linux `O_DIRECT`).
//!
//! The packets table's files are large, written once and read again only
//! when someone carves from them. A buffered write copies every byte into
//! page-cache pages that must first be allocated, then written back by the
//! kernel later, and it pushes out of the cache what is worth keeping there
//! (the capture being read, the small tables queries scan). On the
//! benchmark machine, `dd` of 700 MiB took 1.56 s of system time buffered
//! and 0.09 s with `oflag=direct`. Stenographer writes its packet files
//! the same way for the same reasons.
//!
//! `O_DIRECT` needs the buffer address, the file offset and the length to
//! be multiples of the device's logical block size. Bytes are staged in an
//! aligned buffer and written in whole [`ALIGN`]-byte blocks; the last,
//! partial block is written after `O_DIRECT` is turned off for the file.
//! Where the file system refuses `O_DIRECT` (the open, or a write, fails
//! with `EINVAL`), the file is written the ordinary way: nothing is lost
//! and nothing fails for it. `OPENSOC_DIRECT_IO=off` asks for the ordinary
//! way everywhere (say, to carve right after ingest from a warm cache).

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Block size writes are aligned to: a multiple of every common logical
/// block size (512 and 4096 bytes).
pub(crate) const ALIGN: usize = 4096;

/// Bytes staged before a direct write: large enough that each write
/// streams (1 MiB writes already run at the device's speed here).
const STAGE: usize = 2 << 20;

thread_local! {
    /// Staging memory, reused by every file written on this thread: a
    /// fresh buffer per file would be faulted in (and zeroed) each time.
    static STAGING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A new file written with `O_DIRECT` where the system allows it; call
/// [`DirectFile::finish`] at the end (or `flush`), else the last partial
/// block is not written.
pub(crate) struct DirectFile {
    file: File,
    /// `STAGE + ALIGN` bytes; the aligned window starts at `start`.
    stage: Vec<u8>,
    start: usize,
    /// Bytes staged in the window.
    len: usize,
    direct: bool,
    written: u64,
}

impl DirectFile {
    /// Create (or truncate) `path`.
    pub(crate) fn create(path: &Path) -> io::Result<DirectFile> {
        let (file, direct) = open(path)?;
        let mut stage = STAGING.with(|s| std::mem::take(&mut *s.borrow_mut()));
        if stage.len() < STAGE + ALIGN {
            stage = vec![0; STAGE + ALIGN];
        }
        let start = stage.as_ptr().align_offset(ALIGN);
        Ok(DirectFile { file, stage, start, len: 0, direct, written: 0 })
    }

    /// Write what is staged and return the file's length.
    pub(crate) fn finish(mut self) -> io::Result<u64> {
        self.flush()?;
        Ok(self.written)
    }

    /// Write the staged whole blocks (all staged bytes when `all`; the
    /// file is then no longer aligned, so direct writing ends).
    fn write_out(&mut self, all: bool) -> io::Result<()> {
        let blocks = self.len / ALIGN * ALIGN;
        let mut done = 0;
        while self.direct && done < blocks {
            match self.file.write(&self.stage[self.start + done..self.start + blocks]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Alignment refused after all, or a short write left the
                // offset unaligned: go on buffered from here.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.end_direct()?,
                Err(e) => return Err(e),
            }
        }
        self.consume(done);
        if (all || !self.direct) && self.len > 0 {
            if self.direct {
                self.end_direct()?;
            }
            self.file.write_all(&self.stage[self.start..self.start + self.len])?;
            self.consume(self.len);
        }
        Ok(())
    }

    /// Drop the first `n` staged bytes: they are in the file.
    fn consume(&mut self, n: usize) {
        self.stage.copy_within(self.start + n..self.start + self.len, self.start);
        self.len -= n;
        self.written += n as u64;
    }

    /// Turn `O_DIRECT` off for the rest of the file.
    fn end_direct(&mut self) -> io::Result<()> {
        self.direct = false;
        clear_direct(&self.file)
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.len == STAGE {
            self.write_out(false)?;
        }
        let n = data.len().min(STAGE - self.len);
        let at = self.start + self.len;
        self.stage[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        Ok(n)
    }

    /// Writes everything staged; later writes are buffered ones.
    fn flush(&mut self) -> io::Result<()> {
        self.write_out(true)
    }
}

impl Drop for DirectFile {
    fn drop(&mut self) {
        let stage = std::mem::take(&mut self.stage);
        STAGING.with(|s| *s.borrow_mut() = stage);
    }
}

/// False when `OPENSOC_DIRECT_IO` is `off`, `0` or `false`.
fn direct_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(|| {
        let v = std::env::var("OPENSOC_DIRECT_IO").unwrap_or_default();
        !matches!(v.to_ascii_lowercase().as_str(), "off" | "0" | "false")
    })
}

#[cfg(target_os = "linux")]
fn open(path: &Path) -> io::Result<(File, bool)> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if !direct_allowed() {
        return Ok((options.open(path)?, false));
    }
    match options.clone().custom_flags(libc::O_DIRECT).open(path) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok((options.open(path)?, false)),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open(path: &Path) -> io::Result<(File, bool)> {
    let _ = direct_allowed;
    Ok((File::create(path)?, false))
}

#[cfg(target_os = "linux")]
fn clear_direct(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this File owns; only status flags change.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn clear_direct(_: &File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes whose every position is distinguishable.
    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn files_of_every_shape_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        // Empty, under a block, exactly blocks, across the staging size,
        // written in odd pieces.
        for (n, piece) in [(0, 1), (100, 7), (ALIGN, ALIGN), (3 * ALIGN, 1000), (STAGE + 5 * ALIGN + 17, 65_521)] {
            let path = dir.path().join(format!("f{n}"));
            let data = pattern(n);
            let mut f = DirectFile::create(&path).unwrap();
            for chunk in data.chunks(piece) {
                f.write_all(chunk).unwrap();
            }
            assert_eq!(f.finish().unwrap(), n as u64, "{n} bytes");
            assert!(std::fs::read(&path).unwrap() == data, "{n} bytes read back differently");
        }
    }

    #[test]
    fn writing_after_a_flush_goes_on_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = pattern(3 * ALIGN + 10);
        let mut f = DirectFile::create(&path).unwrap();
        f.write_all(&data[..ALIGN + 3]).unwrap();
        f.flush().unwrap();
        f.write_all(&data[ALIGN + 3..]).unwrap();
        assert_eq!(f.finish().unwrap(), data.len() as u64);
        assert!(std::fs::read(&path).unwrap() == data);
    }

    #[test]
    fn an_existing_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, pattern(3 * STAGE)).unwrap();
        let mut f = DirectFile::create(&path).unwrap();
        f.write_all(b"short").unwrap();
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }
}
