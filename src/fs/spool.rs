//! `Spool`: the local copy of a file that is being changed in a way FTP cannot stream (writes at
//! random offsets, `O_RDWR`, truncation to a non-zero size). It lives in the cache directory as an
//! unnamed-until-kept temporary file; the whole of it is uploaded when the file is closed or synced.
//! If the data can never be uploaded, `keep` moves it to a name that says which remote file it is,
//! so that nothing a program wrote is ever deleted by ftpfs. A stream's local copy (`StreamCopy`)
//! becomes one once it outgrows memory, written behind the upload by a thread of its own, its whole
//! blocks past the page cache (`Appender`).

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
        /// (Boxed: a file's write state holds it, and is mostly small.)
        writer: Box<WriterThread<Appender>>,
        /// Bytes handed to the writer, written or on their way.
        held: u64,
    },
}

/// The most a stream's copy keeps in memory: one upload chunk.
const IN_MEMORY: usize = 1 << 20;

/// A spool written at its end: what a stream copy's thread writes to. Whole blocks go to the
/// disk directly (`O_DIRECT`), past the page cache. The copy is read only if the upload breaks, so
/// caching it would only push out what the machine's programs cache, and page-cache writes to
/// memory this VM had not touched lately cost as much CPU as the upload itself (direct: 0.1 CPU-s
/// per GiB at 1.6-2.2 GB/s on this disk). The cost: a cache disk slower than the link holds the
/// upload to the disk's pace (a buffered copy is held to it too, once the kernel's dirty limit is
/// reached). The bytes behind the last whole block wait in the staging buffer; a flush writes them
/// the ordinary way, so that reads see every byte. Where the file system takes no `O_DIRECT`
/// (tmpfs), every write is an ordinary one.
pub struct Appender {
    spool: Spool,
    direct: Option<File>,
    /// `STAGE + BLOCK` bytes, of which `STAGE` from `lead` on are block-aligned in memory.
    buf: Vec<u8>,
    lead: usize,
    /// Bytes staged: the content from `at` (a multiple of `BLOCK`) on.
    staged: usize,
    at: u64,
}

/// The alignment and unit of direct writes (a multiple of every disk's logical block size).
const BLOCK: usize = 4096;
/// What is gathered before a direct write.
const STAGE: usize = 1 << 20;

impl Appender {
    fn new(spool: Spool) -> io::Result<Appender> {
        use std::os::unix::fs::OpenOptionsExt;
        let direct = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(spool.path())
            .ok();
        let buf = vec![0u8; STAGE + BLOCK];
        let lead = (BLOCK - buf.as_ptr() as usize % BLOCK) % BLOCK;
        let at = spool.len() / BLOCK as u64 * BLOCK as u64;
        let head = spool.read_at(at, BLOCK as u32)?;
        let mut a = Appender {
            spool,
            direct,
            buf,
            lead,
            staged: 0,
            at,
        };
        a.stage_mut()[..head.len()].copy_from_slice(&head);
        a.staged = head.len();
        Ok(a)
    }

    fn stage_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.lead..self.lead + STAGE]
    }

    /// Writes the staged whole blocks directly.
    fn write_blocks(&mut self) -> io::Result<()> {
        let n = self.staged / BLOCK * BLOCK;
        if n == 0 {
            return Ok(());
        }
        let Some(direct) = &self.direct else {
            unreachable!("staging only with a direct handle")
        };
        let block = &self.buf[self.lead..self.lead + n];
        match direct.write_all_at(block, self.at) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // No direct writes here after all: the rest goes the ordinary way.
                self.direct = None;
                let staged = &self.buf[self.lead..self.lead + self.staged];
                return self.spool.write_at(self.at, staged);
            }
            Err(e) => return Err(e),
        }
        self.at += n as u64;
        let (lead, staged) = (self.lead, self.staged);
        self.buf.copy_within(lead + n..lead + staged, lead);
        self.staged -= n;
        Ok(())
    }
}

impl io::Write for Appender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.direct.is_none() {
            self.spool.write_at(self.spool.len(), buf)?;
            return Ok(buf.len());
        }
        let mut rest = buf;
        while !rest.is_empty() {
            let staged = self.staged;
            let n = rest.len().min(STAGE - staged);
            self.stage_mut()[staged..staged + n].copy_from_slice(&rest[..n]);
            self.staged += n;
            rest = &rest[n..];
            if self.staged == STAGE {
                self.write_blocks()?;
                if self.direct.is_none() {
                    self.spool.write_at(self.spool.len(), rest)?;
                    return Ok(buf.len());
                }
            }
        }
        self.spool.len = self.spool.len.max(self.at + self.staged as u64);
        Ok(buf.len())
    }

    /// Makes every byte readable: the staged ones are written the ordinary way (and again
    /// directly, as part of their block, once it is whole).
    fn flush(&mut self) -> io::Result<()> {
        if self.direct.is_some() && self.staged > 0 {
            let tail = &self.buf[self.lead..self.lead + self.staged];
            self.spool.write_at(self.at, tail)?;
        }
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
                    writer: Box::new(WriterThread::new(Appender::new(spool)?, "ftpfs-copy")),
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
            StreamCopy::File { writer, .. } => writer.settle()?.spool.read_at(offset, size),
        }
    }

    /// Lets the copy go without waiting for its writes (`Spool::discard`).
    pub fn discard(self) {
        if let StreamCopy::File { writer, .. } = self {
            crate::later::later(Box::new(move || writer.finish().0.spool.discard()));
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
                let (appender, result) = writer.finish();
                result.map(|()| appender.spool)
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
    fn an_appender_keeps_every_byte_across_odd_writes_and_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::new(dir.path()).unwrap();
        let start: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        spool.write_at(0, &start).unwrap();
        let mut a = Appender::new(spool).unwrap();
        let mut model = start;
        let mut x = 12345u64;
        for round in 0..40 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (x >> 33) as usize % (300 << 10) + 1;
            let piece: Vec<u8> = (0..n).map(|i| (i as u64 ^ x) as u8).collect();
            a.write_all(&piece).unwrap();
            model.extend_from_slice(&piece);
            if round % 7 == 0 {
                a.flush().unwrap();
                assert_eq!(a.spool.len(), model.len() as u64);
                let at = model.len() as u64 / 3;
                let want = &model[at as usize..];
                assert_eq!(
                    a.spool.read_at(at, 9000).unwrap(),
                    want[..want.len().min(9000)]
                );
            }
        }
        a.flush().unwrap();
        let mut all = Vec::new();
        a.spool.reader().unwrap().read_to_end(&mut all).unwrap();
        assert!(all == model, "{} bytes against {}", all.len(), model.len());
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
