//! The remote side of the filesystem: the `RemoteStore` trait that the core talks to, the plain types
//! it exchanges (listing entries, read streams, errors), and its implementations — `FtpStore` over a
//! pool of FTP or FTPS control connections (`ftp`), and `MemStore`, an in-memory store
//! with operation counters and failure injection, compiled for tests only (`cfg(test)` or the
//! `test-support` feature). Nothing here knows about inodes, caches or the kernel.

pub mod ftp;
pub mod listing;
#[cfg(any(test, feature = "test-support"))]
pub mod mem;
pub mod pool;
pub mod watchdog;

use std::fmt;
use std::time::SystemTime;

use crate::stats::StoreStats;

/// What kind of object a listing line describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// One entry of a remote directory listing, as the server described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// A single path component: never empty, never `.`/`..`, never containing `/`, NUL, CR or LF.
    pub name: String,
    pub kind: EntryKind,
    /// Size in bytes (0 for directories when the server gives none).
    pub size: u64,
    /// Modification time (MLSD: UTC to the second; LIST: minute resolution, year-only for old files).
    pub mtime: SystemTime,
    /// Permission bits (`0o755`), when the listing carries them.
    pub perm: Option<u16>,
    /// Symlink target, when the server lists one (`name -> target`).
    pub link_target: Option<String>,
}

/// What went wrong talking to the server. The core decides what it means for a file (`FsError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// 550 and friends on a path: no such file or directory (or not accessible; the core may check).
    NotFound(String),
    /// 530/532/550-permission: the server refused access.
    PermissionDenied(String),
    /// 452/552: the server has no room.
    NoSpace(String),
    /// A name the protocol cannot carry (CR/LF), refused before anything was sent.
    InvalidName(String),
    /// A name the server's encoding (`-o encoding=`) cannot write, refused before anything was sent.
    Unencodable(String),
    /// Login refused (530 at login).
    LoginFailed(String),
    /// The link failed: timeout, reset, refused connection, unexpected close, out-of-sync reply.
    Connection(String),
    /// The server answered with an error we have no better word for.
    Protocol(String),
    /// The operation was interrupted (the caller gave up).
    Interrupted,
    /// The server does not offer this (no MFMT, SITE CHMOD refused, no SIZE).
    Unsupported(String),
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::NotFound(m) => write!(f, "not found: {m}"),
            RemoteError::PermissionDenied(m) => write!(f, "permission denied: {m}"),
            RemoteError::NoSpace(m) => write!(f, "no space on server: {m}"),
            RemoteError::InvalidName(m) => write!(f, "invalid name: {m}"),
            RemoteError::Unencodable(m) => write!(f, "name not in the server's encoding: {m}"),
            RemoteError::LoginFailed(m) => write!(f, "login failed: {m}"),
            RemoteError::Connection(m) => write!(f, "connection failed: {m}"),
            RemoteError::Protocol(m) => write!(f, "server error: {m}"),
            RemoteError::Interrupted => write!(f, "interrupted"),
            RemoteError::Unsupported(m) => write!(f, "not supported by the server: {m}"),
        }
    }
}

impl std::error::Error for RemoteError {}

pub type RemoteResult<T> = Result<T, RemoteError>;

/// A download in progress: bytes from `offset` to the end of the file.
pub trait RemoteRead: Send {
    /// Reads the next bytes into `buf`. `Ok(0)` only at the end of the file, once the server
    /// confirmed it (its 226): a link that dropped half-way is an error, never an early end.
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize>;
    /// Ends the transfer, at its end or early. What an early end waits for (the server's answer,
    /// and whatever readies the connection for its next transfer) happens off the caller's
    /// thread; its errors are logged, never fatal to the data already read.
    fn finish(self: Box<Self>);
    /// A handle that makes a `read` of this download, blocked now or later, return at once:
    /// a thread reading ahead for a reader that went away must not wait on a slow server.
    fn canceller(&self) -> Option<Cancel> {
        None
    }
}

/// Stops a download from another thread (see `RemoteRead::canceller`).
pub struct Cancel(Box<dyn Fn() + Send + Sync>);

impl Cancel {
    pub fn new(stop: impl Fn() + Send + Sync + 'static) -> Cancel {
        Cancel(Box::new(stop))
    }

    pub fn cancel(&self) {
        (self.0)()
    }
}

impl fmt::Debug for Cancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cancel")
    }
}

impl dyn RemoteRead + '_ {
    /// Reads to the end of the file, appending to `out`; returns how many bytes came.
    pub fn read_to_end(&mut self, out: &mut Vec<u8>) -> RemoteResult<usize> {
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        loop {
            match self.read(&mut buf)? {
                0 => return Ok(total),
                n => {
                    out.extend_from_slice(&buf[..n]);
                    total += n;
                }
            }
        }
    }

    /// Fills `buf` as far as the file goes; returns how many bytes that is (less than
    /// `buf.len()` only at the end of the file).
    pub fn read_full(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }

    /// Fills `buf` exactly; an end of the file before that is an error.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> RemoteResult<()> {
        let n = self.read_full(buf)?;
        if n < buf.len() {
            return Err(RemoteError::Protocol(format!(
                "the file ended after {n} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }
}

/// What the server confirmed at the end of an upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    /// The size the server holds under the upload's name, when the store learned it on the way
    /// (in the same round trip as something it does anyway); `None`: ask with `size`.
    pub size: Option<u64>,
}

/// An upload in progress (`STOR` or `APPE`). Bytes written go to the server's data connection;
/// `finish` closes it and waits for the server's verdict, which is the only proof the data arrived.
pub trait RemoteWrite: Send {
    /// Sends all of `data` (or fails: the upload is then broken).
    fn write(&mut self, data: &[u8]) -> RemoteResult<()>;
    /// Ends the upload and returns the server's answer: `Ok` only after its 226.
    fn finish(self: Box<Self>) -> RemoteResult<Stored>;
}

/// The operations the filesystem core needs from a server. Paths are absolute (`/a/b`), `/`-separated,
/// relative to the mounted root, and already validated (no CR/LF). Implementations are thread-safe and
/// bound every wait.
pub trait RemoteStore: Send + Sync + 'static {
    /// All entries of directory `path` (without `.`/`..`).
    fn list(&self, path: &str) -> RemoteResult<Vec<RemoteEntry>>;
    /// Starts a download of `path` from byte `offset`.
    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn RemoteRead>>;
    /// Starts a download of `path` from `offset` of which only `len` bytes will be read (a random
    /// read); the store may prepare the transfer for that. Reading past `len` is allowed.
    fn open_read_range(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> RemoteResult<Box<dyn RemoteRead>> {
        let _ = len;
        self.open_read(path, offset)
    }
    /// Checks that the server is reachable and the login works (called once before mounting).
    fn check(&self) -> RemoteResult<()>;
    /// Starts an upload to `path`: replacing it (`STOR`), or appending to it (`APPE`).
    fn open_write(&self, path: &str, append: bool) -> RemoteResult<Box<dyn RemoteWrite>>;
    /// Starts an upload into `path` at byte `offset`, keeping the bytes before it (`REST` +
    /// `STOR`): a broken upload resuming. A refusal (anything but `Connection` or `NoSpace`)
    /// means the server cannot resume this way.
    fn open_write_from(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn RemoteWrite>> {
        let _ = (path, offset);
        Err(RemoteError::Unsupported("REST before STOR".into()))
    }
    /// Creates directory `path` (`MKD`).
    fn mkdir(&self, path: &str) -> RemoteResult<()>;
    /// Removes the empty directory `path` (`RMD`).
    fn rmdir(&self, path: &str) -> RemoteResult<()>;
    /// Deletes the file `path` (`DELE`).
    fn remove(&self, path: &str) -> RemoteResult<()>;
    /// Renames `from` to `to` (`RNFR` + `RNTO`); what happens to an existing `to` is the server's
    /// choice (most replace a file).
    fn rename(&self, from: &str, to: &str) -> RemoteResult<()>;
    /// The size of file `path` (`SIZE`): the check that an upload landed whole.
    fn size(&self, path: &str) -> RemoteResult<u64>;
    /// Sets the modification time of `path` (`MFMT`, or vsftpd's `MDTM time path`);
    /// `Unsupported` when the server has no way to.
    fn set_mtime(&self, path: &str, mtime: SystemTime) -> RemoteResult<()>;
    /// Sets the permission bits of `path` (`SITE CHMOD`); `Unsupported` when the server refuses.
    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()>;
    /// What the store sent and received so far, and its connections.
    fn stats(&self) -> StoreStats;
}

/// What every path inside directory `dir` starts with: `dir` and a slash (the root's is `/`).
/// With paths kept in order, a directory's subtree is the range of those starting with it.
pub fn below(dir: &str) -> String {
    format!("{}/", dir.trim_end_matches('/'))
}

/// Joins a directory path and a name into an absolute remote path.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_inside_a_directory_start_with_below() {
        assert_eq!(below("/"), "/");
        assert_eq!(below("/d"), "/d/");
        assert_eq!(below("/d/"), "/d/");
        assert!(join("/d", "f").starts_with(&below("/d")));
        assert!(join("/", "f").starts_with(&below("/")));
        assert!(
            !"/dx".starts_with(&below("/d")),
            "a sibling sharing the prefix"
        );
    }
}
