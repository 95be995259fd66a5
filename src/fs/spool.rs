//! `Spool`: the local copy of a file that is being changed in a way FTP cannot stream (writes at
//! random offsets, `O_RDWR`, truncation to a non-zero size). It lives in the cache directory as an
//! unnamed-until-kept temporary file; the whole of it is uploaded when the file is closed or synced.
//! If the data can never be uploaded, `keep` moves it to a name that says which remote file it is,
//! so that nothing a program wrote is ever deleted by ftpfs.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::FsError;
use crate::writer_thread::WriterThread;

/// Spools smaller than this are removed where they are let go (`Spool::discard`).
const DISCARD_HERE: u64 = 64 << 20;

/// A spool file and the size of the content it holds.
pub struct Spool {
    file: NamedTempFile,
    len: u64,
}

impl Spool {
    /// A new, empty spool in `dir` (created if missing, readable by the owner only).
    pub fn new(dir: &Path) -> io::Result<Spool> {
        // Private: spools hold other people's file contents when the mount has allow_other.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let file = tempfile::Builder::new().prefix("spool-").tempfile_in(dir)?;
        Ok(Spool { file, len: 0 })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Where the spool file is (the writeback journal links it).
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lets the spool go without waiting for it: the kernel takes ~70 ms a GiB to give back a
    /// big file's pages, which the close or fsync that just uploaded it need not wait for
    /// (`crate::later`). A small one goes at once.
    pub fn discard(self) {
        if self.len >= DISCARD_HERE {
            crate::later::later(Box::new(move || drop(self)));
        }
    }

    /// Writes `data` at `offset`; a gap before it reads as zeros.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file.as_file().write_all_at(data, offset)?;
        self.len = self.len.max(offset + data.len() as u64);
        Ok(())
    }

    /// Up to `size` bytes from `offset` (fewer at the end of the content).
    pub fn read_at(&self, offset: u64, size: u32) -> io::Result<Vec<u8>> {
        let end = self.len.min(offset.saturating_add(u64::from(size)));
        let mut buf = vec![0; end.saturating_sub(offset) as usize];
        self.file.as_file().read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// A new spool in `dir` with the same content (`copy_file_range` where the file system has
    /// it): what a background upload sends while the file may change.
    pub fn duplicate(&self, dir: &Path) -> io::Result<Spool> {
        let mut copy = Spool::new(dir)?;
        let mut src = self.reader()?;
        let n = io::copy(&mut src, &mut copy.file.as_file())?;
        copy.len = n;
        Ok(copy)
    }

    /// Makes the content survive a crash of this machine (`-o writeback`'s promise at close).
    pub fn sync(&self) -> io::Result<()> {
        self.file.as_file().sync_data()
    }

    /// Shrinks or extends (with zeros) the content to `len` bytes.
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.as_file().set_len(len)?;
        self.len = len;
        Ok(())
    }

    /// The whole content from the start, for an upload.
    pub fn reader(&self) -> io::Result<impl Read + '_> {
        self.reader_from(0)
    }

    /// The content from byte `offset` on, for an upload that resumes there.
    pub fn reader_from(&self, offset: u64) -> io::Result<impl Read + '_> {
        let mut f: &File = self.file.as_file();
        f.seek(SeekFrom::Start(offset))?;
        Ok(f.take(self.len.saturating_sub(offset)))
    }

    /// Keeps the spool on disk under a name derived from `remote_path` and returns that name: the
    /// last resort for data that could not be uploaded.
    pub fn keep(self, remote_path: &str) -> io::Result<PathBuf> {
        let dir = self
            .file
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let flat: String = remote_path
            .trim_start_matches('/')
            .chars()
            .map(|c| if c == '/' { '%' } else { c })
            .collect();
        let name = dir.join(format!("unsaved-{stamp}-{flat}"));
        self.file.persist_noclobber(&name).map_err(|e| e.error)?;
        Ok(name)
    }
}

/// What a stream sent, kept locally (see `fs::write`): in memory while it is small, as most
/// files written are (a spool file each would cost file system work per file created), in a spool
/// file beyond `IN_MEMORY`, written by a thread of its own (`WriterThread`): on a machine that gives
/// freed memory back to its host, a big copy's first writes cost about as much CPU as the upload,
/// and the FUSE thread that takes the program's next write need not wait for them.
pub enum StreamCopy {
    Memory(Vec<u8>),
    File {
        writer: WriterThread<Appender>,
        /// Bytes handed to the writer, written or on their way.
        held: u64,
    },
}

/// The most a stream's copy keeps in memory: one upload chunk.
const IN_MEMORY: usize = 1 << 20;

/// A spool written at its end: what a stream copy's thread writes to.
pub struct Appender(Spool);

impl io::Write for Appender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_at(self.0.len(), buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl StreamCopy {
    pub fn new() -> StreamCopy {
        StreamCopy::Memory(Vec::new())
    }

    /// Bytes held (some may still be on their way to the spool file: `settle`).
    pub fn held(&self) -> u64 {
        match self {
            StreamCopy::Memory(kept) => kept.len() as u64,
            StreamCopy::File { held, .. } => *held,
        }
    }

    /// Appends `data`, just sent after what the copy holds; the copy moves to a spool file in
    /// `dir` when it outgrows memory. A failure to write the file may show only at a later
    /// call: the copy is then incomplete, and its owner drops it.
    pub fn append(&mut self, data: &[u8], dir: &Path) -> io::Result<()> {
        match self {
            StreamCopy::Memory(kept) if kept.len() + data.len() <= IN_MEMORY => {
                kept.extend_from_slice(data);
                Ok(())
            }
            StreamCopy::Memory(kept) => {
                let mut spool = Spool::new(dir)?;
                spool.write_at(0, kept)?;
                let held = kept.len() as u64;
                *self = StreamCopy::File {
                    writer: WriterThread::new(Appender(spool), "ftpfs-copy"),
                    held,
                };
                self.append(data, dir)
            }
            StreamCopy::File { writer, held } => {
                writer.write_all(data)?;
                *held += data.len() as u64;
                Ok(())
            }
        }
    }

    /// Waits until every byte handed over is in the spool file; an error means the copy is not
    /// whole.
    pub fn settle(&mut self) -> io::Result<()> {
        match self {
            StreamCopy::Memory(_) => Ok(()),
            StreamCopy::File { writer, .. } => writer.settle().map(|_| ()),
        }
    }

    /// Up to `size` bytes from `offset` (fewer at the end), once what was handed over is written.
    pub fn read_at(&mut self, offset: u64, size: u32) -> io::Result<Vec<u8>> {
        match self {
            StreamCopy::Memory(kept) => {
                let start = (offset as usize).min(kept.len());
                let end = kept.len().min(start.saturating_add(size as usize));
                Ok(kept[start..end].to_vec())
            }
            StreamCopy::File { writer, .. } => writer.settle()?.0.read_at(offset, size),
        }
    }

    /// Lets the copy go without waiting for its writes (`Spool::discard`).
    pub fn discard(self) {
        if let StreamCopy::File { writer, .. } = self {
            crate::later::later(Box::new(move || writer.finish().0 .0.discard()));
        }
    }

    /// The copy as a spool in `dir`, to go on from, once every byte handed over is written.
    pub fn into_spool(self, dir: &Path) -> io::Result<Spool> {
        match self {
            StreamCopy::Memory(kept) => {
                let mut spool = Spool::new(dir)?;
                spool.write_at(0, &kept)?;
                Ok(spool)
            }
            StreamCopy::File { writer, .. } => {
                let (Appender(spool), result) = writer.finish();
                result.map(|()| spool)
            }
        }
    }
}

impl Default for StreamCopy {
    fn default() -> Self {
        StreamCopy::new()
    }
}

/// A local I/O error on the spool: a full cache disk is ENOSPC, anything else EIO.
pub fn local(e: std::io::Error) -> FsError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        FsError::NoSpace
    } else {
        FsError::Io(format!("spool: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reads_holes_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(&dir.path().join("sub")).unwrap();
        assert!(s.is_empty());
        s.write_at(4, b"abc").unwrap();
        assert_eq!(s.len(), 7);
        assert_eq!(s.read_at(0, 100).unwrap(), b"\0\0\0\0abc");
        assert_eq!(s.read_at(5, 1).unwrap(), b"b");
        assert!(s.read_at(9, 10).unwrap().is_empty());
        s.set_len(5).unwrap();
        assert_eq!(s.read_at(0, 100).unwrap(), b"\0\0\0\0a");
        s.set_len(6).unwrap();
        let mut all = Vec::new();
        s.reader().unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all, b"\0\0\0\0a\0");
    }

    #[test]
    fn keep_leaves_the_data_under_a_telling_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::new(dir.path()).unwrap();
        s.write_at(0, b"precious").unwrap();
        let kept = s.keep("/a/b.txt").unwrap();
        assert!(kept
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("a%b.txt"));
        assert_eq!(std::fs::read(kept).unwrap(), b"precious");
    }

    #[test]
    fn a_stream_copy_moves_to_a_file_when_it_outgrows_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = StreamCopy::new();
        c.append(b"hello ", dir.path()).unwrap();
        c.append(b"world", dir.path()).unwrap();
        assert!(matches!(c, StreamCopy::Memory(_)));
        assert_eq!(c.read_at(6, 100).unwrap(), b"world");
        // No file yet: small copies cost the cache disk nothing.
        assert!(!dir.path().exists() || std::fs::read_dir(dir.path()).unwrap().count() == 0);
        let big = vec![7u8; IN_MEMORY];
        c.append(&big, dir.path()).unwrap();
        assert!(matches!(c, StreamCopy::File { .. }));
        assert_eq!(c.read_at(0, 11).unwrap(), b"hello world");
        assert_eq!(c.read_at(11, 3).unwrap(), [7, 7, 7]);
        let spool = c.into_spool(dir.path()).unwrap();
        assert_eq!(spool.len(), 11 + IN_MEMORY as u64);
        // Beyond memory the file is written by a thread; reads and the spool see every byte.
        let more = (0..5 * IN_MEMORY + 333)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>();
        let mut c = StreamCopy::new();
        for piece in more.chunks(100_000) {
            c.append(piece, dir.path()).unwrap();
        }
        assert_eq!(c.held(), more.len() as u64);
        assert_eq!(
            c.read_at(3 * IN_MEMORY as u64, 5).unwrap(),
            more[3 * IN_MEMORY..][..5]
        );
        c.append(b"end", dir.path()).unwrap();
        let mut all = Vec::new();
        let spool = c.into_spool(dir.path()).unwrap();
        spool.reader().unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), more.len() + 3);
        assert!(all.starts_with(&more) && all.ends_with(b"end"));
        let small = StreamCopy::Memory(b"abc".to_vec())
            .into_spool(dir.path())
            .unwrap();
        assert_eq!(small.read_at(0, 10).unwrap(), b"abc");
    }
}
