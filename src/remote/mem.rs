//! `MemStore`: a `RemoteStore` held in memory, for tests of the filesystem core without a network.
//! It counts every operation (so a test can prove that a cache saved a round trip) and can be told to
//! fail the next operations of a kind with a chosen `RemoteError` (so a test can prove the errno).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::stats::StoreStats;

use super::{
    EntryKind, RemoteEntry, RemoteError, RemoteRead, RemoteResult, RemoteStore, RemoteWrite, Stored,
};

/// The operations a `MemStore` counts and can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    List,
    OpenRead,
    Check,
    OpenWrite,
    /// An upload resuming at an offset (`REST` + `STOR`).
    OpenWriteFrom,
    /// The end of an upload (its 226, or the error the server gives instead).
    FinishWrite,
    Mkdir,
    Rmdir,
    Remove,
    Rename,
    /// One `write` on an upload's data connection.
    WriteData,
    Size,
    SetMtime,
    Chmod,
}

#[derive(Debug, Clone)]
enum Node {
    Dir {
        mtime: SystemTime,
    },
    File {
        data: Arc<Vec<u8>>,
        mtime: SystemTime,
        perm: u16,
    },
    Symlink {
        target: String,
    },
}

/// An in-memory server. Paths are absolute (`/a/b`).
#[derive(Default)]
pub struct MemStore {
    inner: Arc<MemShared>,
}

/// The server's state, shared with uploads in progress.
#[derive(Default)]
struct MemShared {
    nodes: Mutex<BTreeMap<String, Node>>,
    counts: Mutex<HashMap<Op, u64>>,
    /// Per operation, what its next calls do: `Some`: fail so; `None`: succeed.
    failures: Mutex<HashMap<Op, Vec<Option<RemoteError>>>>,
    /// How long the next call of an operation takes (a server slow to answer), by operation.
    stalls: Mutex<HashMap<Op, std::time::Duration>>,
    bytes_read: Arc<AtomicU64>,
    bytes_written: AtomicU64,
    /// The next download ends after this many bytes, as a misbehaving server's would.
    truncate_next: Mutex<Option<usize>>,
    /// What the server lacks: `MFMT` (times cannot be set) and `SITE CHMOD`.
    no_mtime: std::sync::atomic::AtomicBool,
    no_chmod: std::sync::atomic::AtomicBool,
}

impl MemShared {
    fn enter(&self, op: Op) -> RemoteResult<()> {
        *self.counts.lock().unwrap().entry(op).or_default() += 1;
        let stall = self.stalls.lock().unwrap().remove(&op);
        if let Some(d) = stall {
            std::thread::sleep(d);
        }
        let mut f = self.failures.lock().unwrap();
        match f.get_mut(&op) {
            Some(q) if !q.is_empty() => q.remove(0).map_or(Ok(()), Err),
            _ => Ok(()),
        }
    }

    /// Stores what an upload delivered. Like a real server, the bytes that arrived stay under the
    /// name even when the upload then fails (`STOR` truncates first and writes as data comes).
    fn land(&self, path: &str, at: At, data: &[u8]) {
        let mut nodes = self.nodes.lock().unwrap();
        let (old, perm) = match nodes.get(path) {
            Some(Node::File { data, perm, .. }) => (data.as_slice(), *perm),
            _ => (&[][..], 0o644),
        };
        let keep = match at {
            At::Start => 0,
            At::End => old.len(),
            At::Offset(n) => n as usize,
        };
        // Like a server's seek past the end before writing: a hole reads as zeros.
        let mut head = old[..keep.min(old.len())].to_vec();
        head.resize(keep, 0);
        let data = [head.as_slice(), data].concat();
        nodes.insert(
            path.to_string(),
            Node::File {
                data: Arc::new(data),
                mtime: SystemTime::now(),
                perm,
            },
        );
    }

    fn finish_write(&self, path: &str, at: At, data: Vec<u8>) -> RemoteResult<()> {
        let result = self.enter(Op::FinishWrite);
        self.land(path, at, &data);
        result
    }
}

/// Where an upload's bytes go in the file.
#[derive(Debug, Clone, Copy)]
enum At {
    /// `STOR`: the file is replaced.
    Start,
    /// `APPE`.
    End,
    /// `REST n` + `STOR`: the first n bytes stay.
    Offset(u64),
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

impl MemStore {
    /// An empty store with just the root directory.
    pub fn new() -> MemStore {
        let s = MemStore::default();
        s.inner.nodes.lock().unwrap().insert(
            "/".into(),
            Node::Dir {
                mtime: SystemTime::UNIX_EPOCH,
            },
        );
        s
    }

    fn insert(&self, path: &str, node: Node) {
        let mut nodes = self.inner.nodes.lock().unwrap();
        // Create missing parents, like `mkdir -p`.
        let mut p = parent_of(path);
        let mut missing = Vec::new();
        while !nodes.contains_key(p) {
            missing.push(p.to_string());
            p = parent_of(p);
        }
        for d in missing {
            nodes.insert(
                d,
                Node::Dir {
                    mtime: SystemTime::now(),
                },
            );
        }
        nodes.insert(path.to_string(), node);
    }

    /// Adds (or replaces) a file, creating parent directories.
    pub fn add_file(&self, path: &str, data: impl Into<Vec<u8>>) {
        self.add_file_with_mtime(path, data, SystemTime::now());
    }

    /// Adds (or replaces) a file with a given modification time.
    pub fn add_file_with_mtime(&self, path: &str, data: impl Into<Vec<u8>>, mtime: SystemTime) {
        self.insert(
            path,
            Node::File {
                data: Arc::new(data.into()),
                mtime,
                perm: 0o644,
            },
        );
    }

    /// The content of file `path` on the "server", if there is one.
    pub fn content(&self, path: &str) -> Option<Vec<u8>> {
        match self.inner.nodes.lock().unwrap().get(path) {
            Some(Node::File { data, .. }) => Some(data.to_vec()),
            _ => None,
        }
    }

    /// Every path on the "server", sorted (temporary upload names included).
    pub fn paths(&self) -> Vec<String> {
        self.inner.nodes.lock().unwrap().keys().cloned().collect()
    }

    /// Makes the store behave like a server without `MFMT` (times cannot be set) and without
    /// `SITE CHMOD`, as libunftp is.
    pub fn without_mtime_and_chmod(&self) {
        self.inner.no_mtime.store(true, Ordering::Relaxed);
        self.inner.no_chmod.store(true, Ordering::Relaxed);
    }

    /// Adds a directory, creating parents.
    pub fn add_dir(&self, path: &str) {
        self.insert(
            path,
            Node::Dir {
                mtime: SystemTime::now(),
            },
        );
    }

    /// Adds a symlink.
    pub fn add_symlink(&self, path: &str, target: &str) {
        self.insert(
            path,
            Node::Symlink {
                target: target.into(),
            },
        );
    }

    /// Removes a file or an empty directory behind the filesystem's back, as another client would.
    pub fn remove_externally(&self, path: &str) {
        self.inner.nodes.lock().unwrap().remove(path);
    }

    /// How many times `op` was called.
    pub fn count(&self, op: Op) -> u64 {
        self.inner
            .counts
            .lock()
            .unwrap()
            .get(&op)
            .copied()
            .unwrap_or(0)
    }

    /// Bytes handed out by downloads.
    pub fn bytes_read(&self) -> u64 {
        self.inner.bytes_read.load(Ordering::Relaxed)
    }

    /// The next download ends early, after `at` bytes, with no error (a server that closes the data
    /// connection and says 226 anyway).
    pub fn truncate_next_read(&self, at: usize) {
        *self.inner.truncate_next.lock().unwrap() = Some(at);
    }

    /// The next call of `op` fails with `err` (queue several to fail several calls).
    pub fn fail_next(&self, op: Op, err: RemoteError) {
        self.queue(op, Some(err));
    }

    /// The next call of `op` takes `d` before it is carried out (a server slow to answer).
    pub fn stall_next(&self, op: Op, d: std::time::Duration) {
        self.inner.stalls.lock().unwrap().insert(op, d);
    }

    /// The next call of `op` succeeds: queued before a `fail_next`, it fails a later call.
    pub fn pass_next(&self, op: Op) {
        self.queue(op, None);
    }

    fn queue(&self, op: Op, what: Option<RemoteError>) {
        self.inner
            .failures
            .lock()
            .unwrap()
            .entry(op)
            .or_default()
            .push(what);
    }

    /// An upload into `path` that lands at `at`.
    fn upload(&self, path: &str, at: At) -> RemoteResult<Box<dyn RemoteWrite>> {
        let nodes = self.inner.nodes.lock().unwrap();
        if !matches!(nodes.get(parent_of(path)), Some(Node::Dir { .. })) {
            return Err(RemoteError::NotFound(format!(
                "553 {path}: no such directory"
            )));
        }
        if matches!(nodes.get(path), Some(Node::Dir { .. })) {
            return Err(RemoteError::NotFound(format!("553 {path}: is a directory")));
        }
        Ok(Box::new(MemWrite {
            store: self.handle(),
            path: path.to_string(),
            at,
            data: Vec::new(),
        }))
    }

    fn enter(&self, op: Op) -> RemoteResult<()> {
        self.inner.enter(op)
    }

    fn handle(&self) -> Arc<MemShared> {
        Arc::clone(&self.inner)
    }
}

impl RemoteStore for MemStore {
    fn list(&self, path: &str) -> RemoteResult<Vec<RemoteEntry>> {
        self.enter(Op::List)?;
        let nodes = self.inner.nodes.lock().unwrap();
        match nodes.get(path) {
            Some(Node::Dir { .. }) => {}
            Some(_) => {
                return Err(RemoteError::NotFound(format!(
                    "550 {path}: not a directory"
                )))
            }
            None => {
                return Err(RemoteError::NotFound(format!(
                    "550 {path}: no such directory"
                )))
            }
        }
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        Ok(nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, n)| {
                let name = p[prefix.len()..].to_string();
                match n {
                    Node::Dir { mtime } => RemoteEntry {
                        name,
                        kind: EntryKind::Dir,
                        size: 0,
                        mtime: *mtime,
                        perm: Some(0o755),
                        link_target: None,
                    },
                    Node::File { data, mtime, perm } => RemoteEntry {
                        name,
                        kind: EntryKind::File,
                        size: data.len() as u64,
                        mtime: *mtime,
                        perm: Some(*perm),
                        link_target: None,
                    },
                    Node::Symlink { target } => RemoteEntry {
                        name,
                        kind: EntryKind::Symlink,
                        size: target.len() as u64,
                        mtime: SystemTime::UNIX_EPOCH,
                        perm: Some(0o777),
                        link_target: Some(target.clone()),
                    },
                }
            })
            .collect())
    }

    fn open_read(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn RemoteRead>> {
        self.enter(Op::OpenRead)?;
        match self.inner.nodes.lock().unwrap().get(path) {
            Some(Node::File { data, .. }) => Ok(Box::new(MemRead {
                end: self
                    .inner
                    .truncate_next
                    .lock()
                    .unwrap()
                    .take()
                    .map_or(data.len(), |at| (offset as usize + at).min(data.len())),
                data: Arc::clone(data),
                pos: offset.min(data.len() as u64) as usize,
                bytes_read: Arc::clone(&self.inner.bytes_read),
            })),
            _ => Err(RemoteError::NotFound(format!("550 {path}"))),
        }
    }

    fn check(&self) -> RemoteResult<()> {
        self.enter(Op::Check)
    }

    fn open_write(&self, path: &str, append: bool) -> RemoteResult<Box<dyn RemoteWrite>> {
        self.enter(Op::OpenWrite)?;
        self.upload(path, if append { At::End } else { At::Start })
    }

    fn open_write_from(&self, path: &str, offset: u64) -> RemoteResult<Box<dyn RemoteWrite>> {
        self.enter(Op::OpenWriteFrom)?;
        self.upload(path, At::Offset(offset))
    }

    fn mkdir(&self, path: &str) -> RemoteResult<()> {
        self.enter(Op::Mkdir)?;
        let mut nodes = self.inner.nodes.lock().unwrap();
        if nodes.contains_key(path) || !matches!(nodes.get(parent_of(path)), Some(Node::Dir { .. }))
        {
            return Err(RemoteError::NotFound(format!("550 {path}: cannot create")));
        }
        nodes.insert(
            path.to_string(),
            Node::Dir {
                mtime: SystemTime::now(),
            },
        );
        Ok(())
    }

    fn rmdir(&self, path: &str) -> RemoteResult<()> {
        self.enter(Op::Rmdir)?;
        let mut nodes = self.inner.nodes.lock().unwrap();
        let prefix = format!("{path}/");
        let has_children = nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix));
        match nodes.get(path) {
            Some(Node::Dir { .. }) if !has_children && path != "/" => {
                nodes.remove(path);
                Ok(())
            }
            _ => Err(RemoteError::NotFound(format!("550 {path}: cannot remove"))),
        }
    }

    fn remove(&self, path: &str) -> RemoteResult<()> {
        self.enter(Op::Remove)?;
        let mut nodes = self.inner.nodes.lock().unwrap();
        match nodes.get(path) {
            Some(Node::File { .. }) | Some(Node::Symlink { .. }) => {
                nodes.remove(path);
                Ok(())
            }
            _ => Err(RemoteError::NotFound(format!("550 {path}: cannot delete"))),
        }
    }

    fn rename(&self, from: &str, to: &str) -> RemoteResult<()> {
        self.enter(Op::Rename)?;
        let mut nodes = self.inner.nodes.lock().unwrap();
        let target_ok = matches!(nodes.get(parent_of(to)), Some(Node::Dir { .. }))
            && !matches!(nodes.get(to), Some(Node::Dir { .. }));
        if !nodes.contains_key(from) || !target_ok || to.starts_with(&format!("{from}/")) {
            return Err(RemoteError::NotFound(format!(
                "550 {from} -> {to}: cannot rename"
            )));
        }
        // Move the node and, for a directory, everything below it.
        let prefix = format!("{from}/");
        let moved: Vec<String> = nodes
            .keys()
            .filter(|p| p.as_str() == from || p.starts_with(&prefix))
            .cloned()
            .collect();
        for old in moved {
            let node = nodes.remove(&old).expect("listed above");
            nodes.insert(format!("{to}{}", &old[from.len()..]), node);
        }
        Ok(())
    }

    fn size(&self, path: &str) -> RemoteResult<u64> {
        self.enter(Op::Size)?;
        match self.inner.nodes.lock().unwrap().get(path) {
            Some(Node::File { data, .. }) => Ok(data.len() as u64),
            _ => Err(RemoteError::NotFound(format!("550 {path}"))),
        }
    }

    fn set_mtime(&self, path: &str, t: SystemTime) -> RemoteResult<()> {
        self.enter(Op::SetMtime)?;
        if self.inner.no_mtime.load(Ordering::Relaxed) {
            return Err(RemoteError::Unsupported("500 MFMT".into()));
        }
        match self.inner.nodes.lock().unwrap().get_mut(path) {
            Some(Node::File { mtime, .. }) | Some(Node::Dir { mtime }) => {
                *mtime = t;
                Ok(())
            }
            _ => Err(RemoteError::NotFound(format!("550 {path}"))),
        }
    }

    fn chmod(&self, path: &str, mode: u32) -> RemoteResult<()> {
        self.enter(Op::Chmod)?;
        if self.inner.no_chmod.load(Ordering::Relaxed) {
            return Err(RemoteError::Unsupported("502 SITE CHMOD".into()));
        }
        match self.inner.nodes.lock().unwrap().get_mut(path) {
            Some(Node::File { perm, .. }) => {
                *perm = (mode & 0o7777) as u16;
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(RemoteError::NotFound(format!("550 {path}"))),
        }
    }

    /// The counts under the FTP commands a real server would have seen.
    fn stats(&self) -> StoreStats {
        let names = [
            (Op::Check, "LOGIN"),
            (Op::List, "LIST"),
            (Op::OpenRead, "RETR"),
            (Op::OpenWrite, "STOR"),
            (Op::Mkdir, "MKD"),
            (Op::Rmdir, "RMD"),
            (Op::Remove, "DELE"),
            (Op::Rename, "RNFR/RNTO"),
            (Op::Size, "SIZE"),
            (Op::SetMtime, "MFMT"),
            (Op::Chmod, "SITE CHMOD"),
        ];
        StoreStats {
            commands: names.iter().map(|&(op, n)| (n, self.count(op))).collect(),
            bytes_read: self.bytes_read(),
            bytes_written: self.inner.bytes_written.load(Ordering::Relaxed),
            connections: 1,
            connection_limit: 1,
            max_conns: 1,
            ..StoreStats::default()
        }
    }
}

/// An upload to a `MemStore`: the bytes land when the upload finishes or breaks; only a finish
/// without an error is the server's 226.
struct MemWrite {
    store: Arc<MemShared>,
    path: String,
    at: At,
    data: Vec<u8>,
}

impl RemoteWrite for MemWrite {
    fn write(&mut self, data: &[u8]) -> RemoteResult<()> {
        if let Err(e) = self.store.enter(Op::WriteData) {
            // The link broke: what arrived so far stays on the server, as it would on a real one.
            self.store.land(&self.path, self.at, &self.data);
            return Err(e);
        }
        self.data.extend_from_slice(data);
        self.store
            .bytes_written
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn finish(self: Box<Self>) -> RemoteResult<Stored> {
        self.store
            .finish_write(&self.path, self.at, self.data)
            .map(|()| Stored::default())
    }
}

/// A download from a `MemStore`.
struct MemRead {
    data: Arc<Vec<u8>>,
    pos: usize,
    end: usize,
    bytes_read: Arc<AtomicU64>,
}

impl RemoteRead for MemRead {
    fn read(&mut self, buf: &mut [u8]) -> RemoteResult<usize> {
        let n = self.end.saturating_sub(self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        self.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn finish(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &MemStore, dir: &str) -> Vec<String> {
        s.list(dir).unwrap().into_iter().map(|e| e.name).collect()
    }

    #[test]
    fn uploads_land_only_when_finished() {
        let s = MemStore::new();
        let mut w = s.open_write("/f", false).unwrap();
        w.write(b"abc").unwrap();
        assert!(names(&s, "/").is_empty(), "nothing before the 226");
        w.finish().unwrap();
        let mut w = s.open_write("/f", true).unwrap();
        w.write(b"def").unwrap();
        w.finish().unwrap();
        let mut out = Vec::new();
        s.open_read("/f", 0).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcdef");
    }

    #[test]
    fn a_failed_upload_leaves_what_arrived_like_a_real_server() {
        let s = MemStore::new();
        s.add_file("/f", "old");
        s.fail_next(Op::FinishWrite, RemoteError::NoSpace("552".into()));
        let mut w = s.open_write("/f", false).unwrap();
        w.write(b"ne").unwrap();
        assert_eq!(w.finish(), Err(RemoteError::NoSpace("552".into())));
        assert_eq!(s.content("/f").unwrap(), b"ne");
        let mut w = s.open_write("/g", false).unwrap();
        w.write(b"ab").unwrap();
        s.fail_next(Op::WriteData, RemoteError::Connection("reset".into()));
        assert!(w.write(b"cd").is_err());
        assert_eq!(s.content("/g").unwrap(), b"ab");
    }

    #[test]
    fn size_times_and_modes() {
        let s = MemStore::new();
        s.add_file("/f", "abc");
        assert_eq!(s.size("/f"), Ok(3));
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        s.set_mtime("/f", t).unwrap();
        s.chmod("/f", 0o600).unwrap();
        let e = &s.list("/").unwrap()[0];
        assert_eq!((e.mtime, e.perm), (t, Some(0o600)));
        s.without_mtime_and_chmod();
        assert!(matches!(
            s.set_mtime("/f", t),
            Err(RemoteError::Unsupported(_))
        ));
        assert!(matches!(
            s.chmod("/f", 0o644),
            Err(RemoteError::Unsupported(_))
        ));
    }

    #[test]
    fn namespace_operations_follow_ftp_servers() {
        let s = MemStore::new();
        s.mkdir("/d").unwrap();
        assert!(s.mkdir("/d").is_err());
        assert!(s.mkdir("/no/parent").is_err());
        s.add_file("/d/f", "x");
        assert!(s.rmdir("/d").is_err(), "not empty");
        s.rename("/d", "/e").unwrap();
        assert_eq!(names(&s, "/e"), ["f"]);
        s.add_file("/g", "y");
        s.rename("/g", "/e/f").unwrap();
        assert_eq!(names(&s, "/"), ["e"]);
        s.remove("/e/f").unwrap();
        assert!(s.remove("/e/f").is_err());
        s.rmdir("/e").unwrap();
        assert!(names(&s, "/").is_empty());
        assert_eq!(s.count(Op::Rename), 2);
    }
}
