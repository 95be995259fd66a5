//! `MemStore`: a `RemoteStore` held in memory, for tests of the filesystem core without a network.
//! It counts every operation (so a test can prove that a cache saved a round trip) and can be told to
//! fail the next operations of a kind with a chosen `RemoteError` (so a test can prove the errno).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::{EntryKind, RemoteEntry, RemoteError, RemoteRead, RemoteResult, RemoteStore};

/// The operations a `MemStore` counts and can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    List,
    OpenRead,
    Check,
}

#[derive(Debug, Clone)]
enum Node {
    Dir {
        mtime: SystemTime,
    },
    File {
        data: Arc<Vec<u8>>,
        mtime: SystemTime,
    },
    Symlink {
        target: String,
    },
}

/// An in-memory server. Paths are absolute (`/a/b`).
#[derive(Default)]
pub struct MemStore {
    nodes: Mutex<BTreeMap<String, Node>>,
    counts: Mutex<HashMap<Op, u64>>,
    failures: Mutex<HashMap<Op, Vec<RemoteError>>>,
    bytes_read: Arc<AtomicU64>,
    /// The next download ends after this many bytes, as a misbehaving server's would.
    truncate_next: Mutex<Option<usize>>,
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
        s.nodes.lock().unwrap().insert(
            "/".into(),
            Node::Dir {
                mtime: SystemTime::UNIX_EPOCH,
            },
        );
        s
    }

    fn insert(&self, path: &str, node: Node) {
        let mut nodes = self.nodes.lock().unwrap();
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
            },
        );
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

    /// Removes a file or an empty directory (as another client of the server would).
    pub fn remove(&self, path: &str) {
        self.nodes.lock().unwrap().remove(path);
    }

    /// How many times `op` was called.
    pub fn count(&self, op: Op) -> u64 {
        self.counts.lock().unwrap().get(&op).copied().unwrap_or(0)
    }

    /// Bytes handed out by downloads.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// The next download ends early, after `at` bytes, with no error (a server that closes the data
    /// connection and says 226 anyway).
    pub fn truncate_next_read(&self, at: usize) {
        *self.truncate_next.lock().unwrap() = Some(at);
    }

    /// The next call of `op` fails with `err` (queue several to fail several calls).
    pub fn fail_next(&self, op: Op, err: RemoteError) {
        self.failures
            .lock()
            .unwrap()
            .entry(op)
            .or_default()
            .push(err);
    }

    fn enter(&self, op: Op) -> RemoteResult<()> {
        *self.counts.lock().unwrap().entry(op).or_default() += 1;
        let mut f = self.failures.lock().unwrap();
        match f.get_mut(&op) {
            Some(q) if !q.is_empty() => Err(q.remove(0)),
            _ => Ok(()),
        }
    }
}

impl RemoteStore for MemStore {
    fn list(&self, path: &str) -> RemoteResult<Vec<RemoteEntry>> {
        self.enter(Op::List)?;
        let nodes = self.nodes.lock().unwrap();
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
                    Node::File { data, mtime } => RemoteEntry {
                        name,
                        kind: EntryKind::File,
                        size: data.len() as u64,
                        mtime: *mtime,
                        perm: Some(0o644),
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
        match self.nodes.lock().unwrap().get(path) {
            Some(Node::File { data, .. }) => Ok(Box::new(MemRead {
                end: self
                    .truncate_next
                    .lock()
                    .unwrap()
                    .take()
                    .map_or(data.len(), |at| (offset as usize + at).min(data.len())),
                data: Arc::clone(data),
                pos: offset.min(data.len() as u64) as usize,
                bytes_read: Arc::clone(&self.bytes_read),
            })),
            _ => Err(RemoteError::NotFound(format!("550 {path}"))),
        }
    }

    fn check(&self) -> RemoteResult<()> {
        self.enter(Op::Check)
    }
}

/// A download from a `MemStore`.
struct MemRead {
    data: Arc<Vec<u8>>,
    pos: usize,
    end: usize,
    bytes_read: Arc<AtomicU64>,
}

impl Read for MemRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.end.saturating_sub(self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        self.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl RemoteRead for MemRead {
    fn finish(self: Box<Self>) {}
}
